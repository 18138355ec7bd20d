//! Harness for the black-box tests. `TestServer` runs `medialib serve` as a child process on a temporary data
//! directory and a port picked by the system, and offers one method per endpoint. `run_cli` runs the same binary's
//! subcommands.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Repository that `TestServer::start` creates before the server starts.
pub const REPOSITORY: &str = "acme-test";

/// Guard against a server that never logs its address.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Guard against a CLI command that never exits.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// Guard against a request that never gets a response (generous: CI has 2 cores).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Characters outside RFC 3986's unreserved set, which asset URLs percent-encode.
pub const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes every character outside RFC 3986's unreserved set, as UTF-8.
pub fn encode_unreserved(text: &str) -> String {
    utf8_percent_encode(text, NOT_UNRESERVED).to_string()
}

// ---------------------------------------------------------------------------------------------------------------
// Command line

/// Exit code and output of one CLI command.
#[derive(Debug)]
pub struct CliOutput {
    pub command: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Asserts exit code 0 and returns the trimmed standard output.
    #[track_caller]
    pub fn success(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "`{}` failed\nstdout: {}\nstderr: {}",
            self.command,
            self.stdout,
            self.stderr
        );
        self.stdout.trim()
    }

    /// Asserts exit code 1 with a one-line message on standard error.
    #[track_caller]
    pub fn assert_failure(&self) {
        assert_eq!(
            self.code,
            Some(1),
            "`{}` should exit with 1\nstdout: {}\nstderr: {}",
            self.command,
            self.stdout,
            self.stderr
        );
        let message = self.stderr.trim();
        assert!(
            !message.is_empty(),
            "`{}` exited with 1 but printed no message on stderr",
            self.command
        );
        assert_eq!(
            message.lines().count(),
            1,
            "`{}` should print a one-line message on stderr, printed: {message:?}",
            self.command
        );
    }

    /// Asserts success and parses standard output as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        let stdout = self.success();
        serde_json::from_str(stdout).unwrap_or_else(|error| {
            panic!(
                "`{}` printed invalid JSON ({error}): {stdout}",
                self.command
            )
        })
    }
}

/// Returns the rows of a `list --json` output: a top-level array, or the `items` array of an object.
#[track_caller]
pub fn json_rows(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(rows) => rows.clone(),
        Value::Object(object) => match object.get("items") {
            Some(Value::Array(rows)) => rows.clone(),
            _ => panic!("expected a JSON array or an object with `items`, got {value}"),
        },
        _ => panic!("expected a JSON array or an object with `items`, got {value}"),
    }
}

/// Runs `medialib ARGS --data-dir DIR`.
pub fn run_cli(data_dir: &Path, args: &[&str]) -> CliOutput {
    run_cli_with(data_dir, args, None, &[])
}

/// Runs `medialib ARGS --data-dir DIR` with optional standard input and extra environment variables.
pub fn run_cli_with(
    data_dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
    envs: &[(&str, &str)],
) -> CliOutput {
    let mut all_args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    all_args.push("--data-dir".to_string());
    all_args.push(data_dir.display().to_string());
    let storage_url = test_storage_url(data_dir);
    let mut all_envs: Vec<(&str, &str)> = storage_url
        .iter()
        .map(|url| ("MEDIALIB_STORAGE_URL", url.as_str()))
        .collect();
    all_envs.extend_from_slice(envs);
    run_binary(&all_args, stdin, &all_envs)
}

/// Returns the storage URL of a test data directory when `MEDIALIB_TEST_STORAGE_URL` is set, such as
/// `s3://bucket?endpoint=http://127.0.0.1:9000` from `scripts/s3.sh`. Each data directory gets its own key prefix in
/// that bucket (or directory), named after the directory, so tests do not see each other's objects and a restarted
/// server finds its own. Without the variable, files stay inside the data directory.
pub fn test_storage_url(data_dir: &Path) -> Option<String> {
    let base = std::env::var("MEDIALIB_TEST_STORAGE_URL")
        .ok()
        .filter(|url| !url.is_empty())?;
    let name: String = data_dir
        .file_name()?
        .to_string_lossy()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let (location, query) = match base.split_once('?') {
        Some((location, query)) => (location, format!("?{query}")),
        None => (base.as_str(), String::new()),
    };
    Some(format!("{}/{name}{query}", location.trim_end_matches('/')))
}

/// With the S3 server of `scripts/s3.sh`, which keeps each object as a file under `$S3_ROOT/$S3_BUCKET/{key}`, links
/// `{data dir}/files` to the data directory's key prefix there, so tests that look at stored files find them in
/// either configuration.
fn link_s3_prefix(data_dir: &Path) {
    let (Some(url), Ok(root), Ok(bucket)) = (
        test_storage_url(data_dir),
        std::env::var("S3_ROOT"),
        std::env::var("S3_BUCKET"),
    ) else {
        return;
    };
    let files = data_dir.join("files");
    let Some(prefix) = url
        .split_once('?')
        .map_or(url.as_str(), |(location, _)| location)
        .strip_prefix(&format!("s3://{bucket}/"))
    else {
        return;
    };
    if files.symlink_metadata().is_err() {
        std::os::unix::fs::symlink(Path::new(&root).join(&bucket).join(prefix), &files)
            .expect("link the files directory to the S3 key prefix");
    }
}

/// Runs `medialib ARGS` exactly as given, except that with `MEDIALIB_TEST_DATABASE_URL` set, the data directory's
/// PostgreSQL database is added (see [`test_database_url`]).
pub fn run_binary(args: &[String], stdin: Option<&str>, envs: &[(&str, &str)]) -> CliOutput {
    let mut args = args.to_vec();
    let mut database_env = None;
    if !args.iter().any(|arg| arg == "--database-url") {
        let data_dir_arg = args.iter().position(|arg| arg == "--data-dir");
        let data_dir_env = envs.iter().find(|(name, _)| *name == "MEDIALIB_DATA_DIR");
        if let Some(index) = data_dir_arg.filter(|index| index + 1 < args.len()) {
            if let Some(url) = test_database_url(Path::new(&args[index + 1])) {
                // Right after the data directory, so that it stays before a `--`.
                args.splice(index + 2..index + 2, ["--database-url".to_string(), url]);
            }
        } else if let Some((_, dir)) = data_dir_env {
            database_env = test_database_url(Path::new(dir));
        }
    }
    let description = format!("medialib {}", args.join(" "));
    let mut command = Command::new(env!("CARGO_BIN_EXE_medialib"));
    if let Some(url) = database_env {
        command.env("MEDIALIB_DATABASE_URL", url);
    }
    command
        .args(&args)
        .envs(envs.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot spawn `{description}`: {error}"));

    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        // The command may exit without reading; a broken pipe is then expected.
        let _ = pipe.write_all(input.as_bytes());
    }
    let stdout = read_all_in_thread(child.stdout.take().expect("stdout is piped"));
    let stderr = read_all_in_thread(child.stderr.take().expect("stderr is piped"));

    let status = wait_with_timeout(&mut child, CLI_TIMEOUT)
        .unwrap_or_else(|| panic!("`{description}` did not exit within {CLI_TIMEOUT:?}"));
    CliOutput {
        command: description,
        code: status.code(),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn read_all_in_thread<R: Read + Send + 'static>(mut pipe: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for the child to exit, killing it after `timeout`.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Returns the URL of the PostgreSQL database that stands for `data_dir`'s embedded database when the environment
/// variable `MEDIALIB_TEST_DATABASE_URL` names a PostgreSQL server (for example the one of scripts/postgres.sh);
/// `None` runs the tests on SQLite. The database is named after the directory and created on first use, so a
/// server restarted on the same directory finds its data. The databases are not dropped: use a throwaway server.
pub fn test_database_url(data_dir: &Path) -> Option<String> {
    use std::collections::hash_map::DefaultHasher;
    use std::collections::HashSet;
    use std::hash::{Hash, Hasher};
    use std::sync::OnceLock;

    let server_url = std::env::var("MEDIALIB_TEST_DATABASE_URL").ok().filter(|url| !url.is_empty())?;
    // The run's own salt keeps a directory name that an earlier run used from reaching that run's database.
    static RUN_SALT: OnceLock<u128> = OnceLock::new();
    let salt = RUN_SALT.get_or_init(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.as_nanos() ^ u128::from(std::process::id())
    });
    let mut hasher = DefaultHasher::new();
    (salt, data_dir).hash(&mut hasher);
    let name = format!("test_{:016x}", hasher.finish());

    static CREATED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut created = CREATED.get_or_init(Default::default).lock().unwrap();
    if !created.contains(&name) {
        create_test_database(&server_url, &name);
        created.insert(name.clone());
    }
    Some(replace_database_name(&server_url, &name))
}

/// Runs `CREATE DATABASE` on the server.
fn create_test_database(server_url: &str, name: &str) {
    let server_url = server_url.to_owned();
    let statement = format!("CREATE DATABASE \"{name}\"");
    // On its own thread, because the caller may run inside a Tokio runtime.
    let result = thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build a runtime");
        runtime.block_on(async {
            use sqlx::Connection;
            let mut connection = sqlx::PgConnection::connect(&server_url).await?;
            sqlx::query(&statement).execute(&mut connection).await
        })
    })
    .join()
    .expect("the database thread panicked");
    if let Err(error) = result {
        panic!("cannot create the test database {name} on MEDIALIB_TEST_DATABASE_URL: {error}");
    }
}

/// Replaces the database name (the URL path) of a PostgreSQL URL, keeping its query string.
fn replace_database_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let host_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |index| authority_start + index);
    let mut replaced = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        replaced.push('?');
        replaced.push_str(query);
    }
    replaced
}

/// Creates a token labelled `label` and revokes it through the CLI, returning the revoked token.
pub fn revoked_token(server: &TestServer, label: &str) -> String {
    let token = server.create_token(REPOSITORY, &["--label", label]);
    let tokens = json_rows(&server.cli(&["token", "list", "--json"]).json());
    let row = tokens
        .iter()
        .find(|row| row["label"] == label)
        .unwrap_or_else(|| panic!("`token list --json` has no token labelled {label}: {tokens:?}"));
    let id = match &row["id"] {
        Value::String(id) => id.clone(),
        Value::Number(id) => id.to_string(),
        other => panic!("token id should be a string or a number, got {other}"),
    };
    server.cli(&["token", "revoke", &id]).success();
    token
}

// ---------------------------------------------------------------------------------------------------------------
// Server

/// Options for one `medialib serve` process.
pub struct ServerBuilder {
    args: Vec<String>,
    envs: Vec<(String, String)>,
    rate_limit_flag: bool,
    prepare_repository: bool,
    data_dir: Option<TempDir>,
}

impl ServerBuilder {
    /// Adds `--NAME VALUE` to the serve command.
    pub fn arg(mut self, name: &str, value: &str) -> Self {
        self.args.push(name.to_string());
        self.args.push(value.to_string());
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.envs.push((name.to_string(), value.to_string()));
        self
    }

    /// Leaves out the default `--rate-limit 0`, so the limit comes from the environment or the server's default.
    pub fn without_rate_limit_flag(mut self) -> Self {
        self.rate_limit_flag = false;
        self
    }

    /// Starts on a database without the test repository and token (the first-start path).
    pub fn empty_database(mut self) -> Self {
        self.prepare_repository = false;
        self
    }

    /// Starts on an existing data directory, such as one returned by `TestServer::stop`.
    pub fn data_dir(mut self, dir: TempDir) -> Self {
        self.data_dir = Some(dir);
        self
    }

    pub fn start(self) -> TestServer {
        let data_dir = match self.data_dir {
            Some(dir) => dir,
            None => tempfile::tempdir().expect("create a temporary data directory"),
        };
        let token = if self.prepare_repository {
            run_cli(data_dir.path(), &["repository", "create", REPOSITORY]).success();
            run_cli(
                data_dir.path(),
                &["token", "create", "--repository", REPOSITORY],
            )
            .success()
            .to_string()
        } else {
            String::new()
        };

        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            data_dir.path().display().to_string(),
        ];
        // A test that names its own database (`arg("--database-url", …)`) gets no test database in addition.
        let database_given = self.args.iter().any(|arg| arg == "--database-url");
        if let Some(url) = test_database_url(data_dir.path()).filter(|_| !database_given) {
            args.push("--database-url".into());
            args.push(url);
        }
        if !self.args.iter().any(|arg| arg == "--log-format") {
            args.push("--log-format".into());
            args.push("text".into());
        }
        let has_rate_limit_arg = self.args.iter().any(|arg| arg == "--rate-limit");
        if self.rate_limit_flag && !has_rate_limit_arg {
            args.push("--rate-limit".into());
            args.push("0".into());
        }
        args.extend(self.args);

        link_s3_prefix(data_dir.path());
        let mut child = Command::new(env!("CARGO_BIN_EXE_medialib"))
            .args(&args)
            .envs(
                test_storage_url(data_dir.path())
                    .map(|url| ("MEDIALIB_STORAGE_URL".to_string(), url)),
            )
            .envs(
                self.envs
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_str())),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn medialib serve");

        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let stdout_lines = Arc::new(Mutex::new(Vec::new()));
        let (address_sender, address_receiver) = mpsc::channel();
        drain_stderr(
            child.stderr.take().expect("stderr is piped"),
            stderr_lines.clone(),
            address_sender,
        );
        drain_stdout(
            child.stdout.take().expect("stdout is piped"),
            stdout_lines.clone(),
        );

        let addr = match address_receiver.recv_timeout(STARTUP_TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                // Let the reader threads collect the last lines.
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "`medialib {}` logged no `listening on ADDR` line within {STARTUP_TIMEOUT:?}; stderr:\n{}",
                    args.join(" "),
                    stderr_lines.lock().unwrap().join("\n")
                );
            }
        };

        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .build()
            .expect("build the HTTP client");
        TestServer {
            addr,
            base_url: format!("http://{addr}"),
            token,
            http,
            child: Some(child),
            data_dir: Some(data_dir),
            stderr_lines,
            stdout_lines,
        }
    }
}

/// Reads stderr line by line until the pipe closes, so the server never blocks on a full pipe, and sends the
/// address of the `listening on ADDR` line.
fn drain_stderr(
    pipe: ChildStderr,
    lines: Arc<Mutex<Vec<String>>>,
    address_sender: mpsc::Sender<SocketAddr>,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buffer = Vec::new();
        let mut address_sent = false;
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = strip_ansi(String::from_utf8_lossy(&buffer).trim_end());
            if !address_sent {
                if let Some(addr) = parse_listening_line(&line) {
                    address_sent = address_sender.send(addr).is_ok();
                }
            }
            lines.lock().unwrap().push(line);
        }
    });
}

fn drain_stdout(pipe: ChildStdout, lines: Arc<Mutex<Vec<String>>>) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            lines
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buffer).trim_end().to_string());
        }
    });
}

/// Returns the address that follows `listening on ` in a log line, in text or JSON log format.
fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let start = line.find("listening on ")? + "listening on ".len();
    let address: String = line[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    address.trim_end_matches(['.', ':']).parse().ok()
}

/// Removes ANSI colour sequences (`ESC [ ... m`) in case the logger colours its output.
fn strip_ansi(line: &str) -> String {
    let mut output = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            output.push(c);
        }
    }
    output
}

/// A running `medialib serve` on its own data directory; the process is killed on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub base_url: String,
    /// Write token of `REPOSITORY`; empty when the server started on an empty database.
    pub token: String,
    pub http: reqwest::Client,
    child: Option<Child>,
    data_dir: Option<TempDir>,
    stderr_lines: Arc<Mutex<Vec<String>>>,
    stdout_lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl TestServer {
    /// Starts a server with the test repository, a write token and the rate limit off.
    pub fn start() -> TestServer {
        TestServer::builder().start()
    }

    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            args: Vec::new(),
            envs: Vec::new(),
            rate_limit_flag: true,
            prepare_repository: true,
            data_dir: None,
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.as_ref().expect("data directory").path()
    }

    /// Kills the server and returns its data directory for a restart.
    pub fn stop(mut self) -> TempDir {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.data_dir.take().expect("data directory")
    }

    /// Process id of the server, to send it signals.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running child").id()
    }

    /// Waits up to `timeout` for the server to exit by itself.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().expect("running child");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr_lines.lock().unwrap().clone()
    }

    pub fn stdout_text(&self) -> String {
        self.stdout_lines.lock().unwrap().join("\n")
    }

    // --- command line on this server's data directory -----------------------------------------------------

    pub fn cli(&self, args: &[&str]) -> CliOutput {
        run_cli(self.data_dir(), args)
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> CliOutput {
        run_cli_with(self.data_dir(), args, Some(stdin), &[])
    }

    /// Creates a token for `repository` with extra flags such as `--read-only`, and returns it.
    pub fn create_token(&self, repository: &str, flags: &[&str]) -> String {
        let mut args = vec!["token", "create", "--repository", repository];
        args.extend_from_slice(flags);
        self.cli(&args).success().to_string()
    }

    pub fn create_repository(&self, name: &str) {
        self.cli(&["repository", "create", name]).success();
    }

    /// Creates a user with access to every listed repository, sets the password, and returns the user's id.
    pub fn create_user(&self, email: &str, password: &str, repositories: &[&str]) -> String {
        for repository in repositories {
            self.cli(&[
                "user",
                "create",
                "--email",
                email,
                "--repository",
                repository,
            ])
            .success();
        }
        self.cli_with_stdin(
            &["user", "set-password", "--email", email],
            &format!("{password}\n"),
        )
        .success();
        self.user_id(email)
    }

    /// Returns the `id` of the user with `email` in `user list --json`.
    #[track_caller]
    pub fn user_id(&self, email: &str) -> String {
        let users = json_rows(&self.cli(&["user", "list", "--json"]).json());
        let user = users
            .iter()
            .find(|user| user["email"] == email)
            .unwrap_or_else(|| panic!("`user list --json` has no user {email}: {users:?}"));
        match &user["id"] {
            Value::String(id) => id.clone(),
            Value::Number(id) => id.to_string(),
            other => panic!("user id should be a string or a number, got {other}"),
        }
    }

    // --- requests ------------------------------------------------------------------------------------------

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Builds a request with this server's token and repository headers.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_as(method, path, Some(&self.token), Some(REPOSITORY))
    }

    /// Builds a request with the given token and `repository` header, each left out when `None`.
    pub fn request_as(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        repository: Option<&str>,
    ) -> RequestBuilder {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(repository) = repository {
            request = request.header("repository", repository);
        }
        request
    }

    /// Builds a request without any header of ours.
    pub fn bare(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    pub async fn upload(&self, filename: &str, bytes: &[u8]) -> Reply {
        self.upload_multipart(Multipart::new().file(filename, bytes))
            .await
    }

    /// Uploads one file and returns the asset, asserting status 200.
    pub async fn upload_ok(&self, filename: &str, bytes: &[u8]) -> Value {
        self.upload(filename, bytes)
            .await
            .ok_json(200, &format!("upload {filename:?}"))
    }

    pub async fn upload_multipart(&self, form: Multipart) -> Reply {
        send(
            self.request(Method::POST, "/assets")
                .header("content-type", form.content_type())
                .body(form.body()),
        )
        .await
    }

    pub async fn upload_as(&self, token: &str, filename: &str, bytes: &[u8]) -> Reply {
        let form = Multipart::new().file(filename, bytes);
        let request = self
            .request_as(Method::POST, "/assets", Some(token), Some(REPOSITORY))
            .header("content-type", form.content_type())
            .body(form.body());
        send(request).await
    }

    pub async fn list_assets(&self, query: &[(&str, &str)]) -> Reply {
        send(self.request(Method::GET, "/assets").query(query)).await
    }

    /// Lists assets, asserting status 200.
    pub async fn list_ok(&self, query: &[(&str, &str)]) -> Value {
        self.list_assets(query)
            .await
            .ok_json(200, &format!("GET /assets {query:?}"))
    }

    /// Looks one asset up with `GET /assets?ids=ID`, as clients do.
    pub async fn asset(&self, id: &str) -> Value {
        let page = self.list_ok(&[("ids", id)]).await;
        let items = page["items"].as_array().expect("items array");
        assert_eq!(
            items.len(),
            1,
            "GET /assets?ids={id} should return the asset: {page}"
        );
        items[0].clone()
    }

    pub async fn patch_asset(&self, id: &str, body: &Value) -> Reply {
        send(
            self.request(Method::PATCH, &format!("/assets/{}", encode_unreserved(id)))
                .json(body),
        )
        .await
    }

    pub async fn patch_asset_raw(&self, id: &str, body: &str) -> Reply {
        let request = self
            .request(Method::PATCH, &format!("/assets/{}", encode_unreserved(id)))
            .header("content-type", "application/json")
            .body(body.to_string());
        send(request).await
    }

    pub async fn delete_asset(&self, id: &str) -> Reply {
        send(self.request(
            Method::DELETE,
            &format!("/assets/{}", encode_unreserved(id)),
        ))
        .await
    }

    pub async fn bulk_delete(&self, body: &Value) -> Reply {
        send(self.request(Method::POST, "/assets/bulk-delete").json(body)).await
    }

    pub async fn list_tags(&self) -> Reply {
        send(self.request(Method::GET, "/tags")).await
    }

    /// Returns the `items` of `GET /tags`, asserting status 200.
    pub async fn tags_ok(&self) -> Vec<Value> {
        let body = self.list_tags().await.ok_json(200, "GET /tags");
        body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("GET /tags should return items: {body}"))
            .clone()
    }

    pub async fn create_tag(&self, name: &str) -> Reply {
        send(
            self.request(Method::POST, "/tags")
                .json(&json!({ "name": name })),
        )
        .await
    }

    /// Creates a tag, asserting status 201, and returns it.
    pub async fn create_tag_ok(&self, name: &str) -> Value {
        self.create_tag(name)
            .await
            .ok_json(201, &format!("POST /tags {name:?}"))
    }

    pub async fn rename_tag(&self, id: &str, name: &str) -> Reply {
        send(
            self.request(Method::PATCH, &format!("/tags/{}", encode_unreserved(id)))
                .json(&json!({ "name": name })),
        )
        .await
    }

    pub async fn delete_tag(&self, id: &str) -> Reply {
        send(self.request(Method::DELETE, &format!("/tags/{}", encode_unreserved(id)))).await
    }

    /// `POST /tags/{id}/assets` with a JSON body such as `{"assetIds": [...]}`.
    pub async fn assign_tag(&self, tag_id: &str, body: &Value) -> Reply {
        send(
            self.request(
                Method::POST,
                &format!("/tags/{}/assets", encode_unreserved(tag_id)),
            )
            .json(body),
        )
        .await
    }

    /// `DELETE /tags/{id}/assets` with a JSON body such as `{"assetIds": [...]}`.
    pub async fn unassign_tag(&self, tag_id: &str, body: &Value) -> Reply {
        send(
            self.request(
                Method::DELETE,
                &format!("/tags/{}/assets", encode_unreserved(tag_id)),
            )
            .json(body),
        )
        .await
    }

    pub async fn uploaders(&self) -> Reply {
        send(self.request(Method::GET, "/uploaders")).await
    }

    /// Returns the sorted uploader ids of `GET /uploaders`, asserting status 200.
    pub async fn uploader_ids(&self) -> Vec<String> {
        let body = self.uploaders().await.ok_json(200, "GET /uploaders");
        let items = body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("GET /uploaders should return items: {body}"));
        let mut ids: Vec<String> = items
            .iter()
            .map(|item| {
                item["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("uploader without a string id: {item}"))
                    .into()
            })
            .collect();
        ids.sort();
        ids
    }

    /// GET of an absolute URL (a file URL) with the given extra headers and none of ours.
    pub async fn fetch(&self, url: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.http.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send(request).await
    }

    pub async fn head(&self, url: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.http.head(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send(request).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        send(
            self.bare(Method::POST, "/login")
                .json(&json!({ "email": email, "password": password })),
        )
        .await
    }

    /// Logs in, asserting status 200, and returns the session token.
    pub async fn login_ok(&self, email: &str, password: &str) -> String {
        let reply = self.login(email, password).await;
        reply.expect(200, &format!("POST /login as {email}"));
        reply.text().trim().to_string()
    }

    pub async fn validate(&self, token: &str) -> Reply {
        send(
            self.bare(Method::GET, "/validate")
                .query(&[("token", token)]),
        )
        .await
    }

    pub async fn refresh_token(&self, token: &str) -> Reply {
        send(
            self.bare(Method::GET, "/refreshtoken")
                .query(&[("token", token)]),
        )
        .await
    }

    /// Walks every page of `GET /assets` with `query` and `limit`, asserting the cursor rules on the way: a
    /// non-empty page has a cursor, and the walk ends on an empty page without one.
    pub async fn walk_assets(&self, query: &[(&str, &str)], limit: usize) -> Walk {
        let limit_text = limit.to_string();
        let mut cursor: Option<String> = None;
        let mut walk = Walk {
            pages: Vec::new(),
            ids: Vec::new(),
        };
        for _ in 0..10_000 {
            let mut page_query: Vec<(&str, &str)> = query.to_vec();
            page_query.push(("limit", &limit_text));
            if let Some(cursor) = &cursor {
                page_query.push(("cursor", cursor));
            }
            let page = self.list_ok(&page_query).await;
            let items = page["items"]
                .as_array()
                .unwrap_or_else(|| panic!("page without items: {page}"))
                .clone();
            assert!(
                items.len() <= limit,
                "a page holds {} items, over limit {limit}",
                items.len()
            );
            walk.pages.push(page.clone());
            if items.is_empty() {
                assert!(
                    page.get("cursor").is_none(),
                    "the page after the last should have no cursor: {page}"
                );
                return walk;
            }
            for item in &items {
                walk.ids
                    .push(item["id"].as_str().expect("asset id").to_string());
            }
            cursor = Some(
                page["cursor"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a non-empty page should carry a cursor: {page}"))
                    .to_string(),
            );
        }
        panic!("the cursor walk did not end after 10000 pages");
    }
}

/// Pages and asset ids of a cursor walk, in the order received.
pub struct Walk {
    pub pages: Vec<Value>,
    pub ids: Vec<String>,
}

// ---------------------------------------------------------------------------------------------------------------
// A second instance on the same database and file store

/// Starts another `medialib serve` on the database and file store of `first`, as a second instance of one service
/// behind a load balancer: the same `--data-dir` path, `--database-url` and storage URL, and a port of its own.
/// `args` are extra `serve` arguments such as `["--rate-limit", "1"]`; without `--rate-limit` the limit is off, as
/// for `TestServer::start`. The returned server carries `first`'s token. It owns no data directory, so run CLI
/// commands through `first`; it is killed on drop.
pub fn start_instance_of(first: &TestServer, args: &[&str]) -> TestServer {
    let data_dir = first.data_dir();
    let mut all_args: Vec<String> = vec![
        "serve".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--log-format".into(),
        "text".into(),
    ];
    if let Some(url) = test_database_url(data_dir) {
        all_args.push("--database-url".into());
        all_args.push(url);
    }
    if !args.contains(&"--rate-limit") {
        all_args.push("--rate-limit".into());
        all_args.push("0".into());
    }
    all_args.extend(args.iter().map(|arg| arg.to_string()));

    let mut child = Command::new(env!("CARGO_BIN_EXE_medialib"))
        .args(&all_args)
        .envs(test_storage_url(data_dir).map(|url| ("MEDIALIB_STORAGE_URL".to_string(), url)))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a second medialib serve");
    let stderr_lines = Arc::new(Mutex::new(Vec::new()));
    let stdout_lines = Arc::new(Mutex::new(Vec::new()));
    let (address_sender, address_receiver) = mpsc::channel();
    drain_stderr(
        child.stderr.take().expect("stderr is piped"),
        stderr_lines.clone(),
        address_sender,
    );
    drain_stdout(
        child.stdout.take().expect("stdout is piped"),
        stdout_lines.clone(),
    );
    let Ok(addr) = address_receiver.recv_timeout(STARTUP_TIMEOUT) else {
        let _ = child.kill();
        let _ = child.wait();
        thread::sleep(Duration::from_millis(100));
        panic!(
            "`medialib {}` logged no `listening on ADDR` line within {STARTUP_TIMEOUT:?}; stderr:\n{}",
            all_args.join(" "),
            stderr_lines.lock().unwrap().join("\n")
        );
    };

    TestServer {
        addr,
        base_url: format!("http://{addr}"),
        token: first.token.clone(),
        http: first.http.clone(),
        child: Some(child),
        data_dir: None,
        stderr_lines,
        stdout_lines,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Responses

/// Status, headers and body of one response, with the request line for failure messages.
pub struct Reply {
    pub request: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Sends a request and reads the whole response; a transport error or timeout fails the test.
pub async fn send(request: RequestBuilder) -> Reply {
    match try_send(request).await {
        Ok(reply) => reply,
        Err(error) => panic!("{error}"),
    }
}

/// Sends a request and reads the whole response, or describes the transport error or timeout that prevented it.
pub async fn try_send(request: RequestBuilder) -> Result<Reply, String> {
    let (client, request) = request.build_split();
    let request = request.expect("valid request");
    let description = format!("{} {}", request.method(), request.url());
    let response = client
        .execute(request)
        .await
        .map_err(|error| format!("{description} failed without a response: {error}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|error| format!("{description}: cannot read the body: {error}"))?
        .to_vec();
    Ok(Reply {
        request: description,
        status,
        headers,
        body,
    })
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Parses the body as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "{} returned {} with a body that is not JSON ({error}): {}",
                self.request,
                self.status,
                self.text()
            )
        })
    }

    /// Returns a header's value, when present and valid text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    }

    /// Asserts the status, showing the request and body on failure.
    #[track_caller]
    pub fn expect(&self, status: u16, context: &str) -> &Reply {
        assert_eq!(
            self.status,
            status,
            "{context}: {} returned {} instead of {status}; body: {}",
            self.request,
            self.status,
            self.text()
        );
        self
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn ok_json(&self, status: u16, context: &str) -> Value {
        self.expect(status, context);
        self.json()
    }

    /// Asserts an error response: the status, a JSON body whose `error` is a snake_case code (equal to `code`
    /// when given) and whose `message` is a non-empty string.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: Option<&str>, context: &str) {
        self.expect(status, context);
        let body = self.json();
        let error = body["error"].as_str().unwrap_or_else(|| {
            panic!("{context}: error body should have a string `error`: {body}")
        });
        assert!(
            !error.is_empty()
                && error
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{context}: `error` should be a snake_case code, got {error:?}"
        );
        let message = body["message"].as_str().unwrap_or_else(|| {
            panic!("{context}: error body should have a string `message`: {body}")
        });
        assert!(
            !message.trim().is_empty(),
            "{context}: `message` should not be empty: {body}"
        );
        if let Some(code) = code {
            assert_eq!(
                error, code,
                "{context}: unexpected error code; body: {body}"
            );
        }
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "{context}: error responses should be application/json, got {content_type:?}"
        );
    }
}

/// Returns `items` of a listing page.
#[track_caller]
pub fn items(page: &Value) -> Vec<Value> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("expected `items` array in {page}"))
        .clone()
}

/// Returns the `id`s of a listing page's items, in order.
#[track_caller]
pub fn item_ids(page: &Value) -> Vec<String> {
    items(page)
        .iter()
        .map(|item| item["id"].as_str().expect("string id").to_string())
        .collect()
}

/// Returns the string field `key` of a JSON object.
#[track_caller]
pub fn string_field<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("expected string field `{key}` in {value}"))
}

/// Returns the integer field `key` of a JSON object.
#[track_caller]
pub fn int_field(value: &Value, key: &str) -> i64 {
    value[key]
        .as_i64()
        .unwrap_or_else(|| panic!("expected integer field `{key}` in {value}"))
}

/// Sleeps long enough for the millisecond clock to move on, so consecutive writes get distinct times.
pub async fn next_millisecond() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

// ---------------------------------------------------------------------------------------------------------------
// Multipart bodies, built by hand to control every byte

/// A `multipart/form-data` body with a fixed boundary. File names go into `filename="..."` as raw UTF-8, as
/// browsers, curl and undici send them.
pub struct Multipart {
    body: Vec<u8>,
}

impl Multipart {
    pub const BOUNDARY: &'static str = "medialib-test-boundary-7MA4YWxkTrZu0gW";

    pub fn new() -> Multipart {
        Multipart { body: Vec::new() }
    }

    /// Adds the `file` part with `Content-Type: application/octet-stream`, as `@prismicio/client` sends a buffer.
    pub fn file(self, filename: &str, bytes: &[u8]) -> Multipart {
        self.file_typed(filename, "application/octet-stream", bytes)
    }

    pub fn file_typed(self, filename: &str, content_type: &str, bytes: &[u8]) -> Multipart {
        let headers = format!(
            "Content-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}"
        );
        self.raw_part(&headers, bytes)
    }

    /// Adds a text part without a Content-Type, as undici sends it.
    pub fn text(self, name: &str, value: &str) -> Multipart {
        self.raw_part(
            &format!("Content-Disposition: form-data; name=\"{name}\""),
            value.as_bytes(),
        )
    }

    /// Adds a part with the given header lines (separated by CRLF, without the blank line).
    pub fn raw_part(mut self, headers: &str, bytes: &[u8]) -> Multipart {
        self.body
            .extend_from_slice(format!("--{}\r\n{headers}\r\n\r\n", Self::BOUNDARY).as_bytes());
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", Self::BOUNDARY)
    }

    /// Returns the complete body, closing delimiter included.
    pub fn body(&self) -> Vec<u8> {
        let mut body = self.body.clone();
        body.extend_from_slice(format!("--{}--\r\n", Self::BOUNDARY).as_bytes());
        body
    }

    /// Returns the body without its closing delimiter.
    pub fn body_without_closing(&self) -> Vec<u8> {
        self.body.clone()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Raw HTTP over TCP, for requests that reqwest cannot send (stalled bodies, exact framing)

/// Status line, header block and body of a response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// Returns a header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }

    /// Parses the body as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Writes `request` on a new connection and reads one response. With `keep_sending` the write side stays open,
/// like a client that has more body to send. Returns `None` when no complete response arrives within `timeout`.
pub async fn raw_http(
    addr: SocketAddr,
    request: &[u8],
    keep_sending: bool,
    timeout: Duration,
) -> Option<RawResponse> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to the server");
        // The server may respond and close before the whole request is written, and the response still counts.
        let _ = stream.write_all(request).await;
        if !keep_sending {
            let _ = stream.shutdown().await;
        }
        let mut received = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(response) = parse_raw_response(&received, false) {
                return Some(response);
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return parse_raw_response(&received, true),
                Ok(read) => received.extend_from_slice(&chunk[..read]),
            }
        }
    };
    tokio::time::timeout(timeout, exchange).await.ok().flatten()
}

/// Parses a complete response from `received`; `closed` means no more bytes will come.
fn parse_raw_response(received: &[u8], closed: bool) -> Option<RawResponse> {
    let head_end = received
        .windows(4)
        .position(|window| window == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = &received[head_end + 4..];
    let response = RawResponse {
        status,
        head,
        body: Vec::new(),
    };
    if let Some(length) = response.header("content-length") {
        let length: usize = length.parse().ok()?;
        if body.len() >= length {
            return Some(RawResponse {
                body: body[..length].to_vec(),
                ..response
            });
        }
        return None;
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|value| value.eq_ignore_ascii_case("chunked"));
    if chunked && body.ends_with(b"0\r\n\r\n") {
        return Some(RawResponse {
            body: decode_chunked(body),
            ..response
        });
    }
    if closed {
        return Some(RawResponse {
            body: body.to_vec(),
            ..response
        });
    }
    None
}

fn decode_chunked(mut body: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::new();
    while let Some(line_end) = body.windows(2).position(|window| window == b"\r\n") {
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        decoded.extend_from_slice(&body[start..(start + size).min(body.len())]);
        body = &body[(start + size + 2).min(body.len())..];
    }
    decoded
}
