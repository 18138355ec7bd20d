//! `medialib copy`: a whole installation copied into another database and file store, an interrupted copy resumed
//! by running the command again, and targets that the copy must reject.
//!
//! Each round trip fills an embedded installation (SQLite and local files) through the API and the command line.
//! It copies that installation to a middle one, killing the first copy with SIGKILL and resuming it, and then copies
//! the middle to a final embedded installation. Servers on the middle and the final installation must list the same assets,
//! tags and accounts with the same ids and timestamps, serve the same bytes, and accept the same tokens and
//! passwords. The middle is PostgreSQL and S3 when `MEDIALIB_TEST_DATABASE_URL` and `MEDIALIB_TEST_STORAGE_URL` are
//! set (as `scripts/postgres.sh scripts/s3.sh` do), and another embedded installation in the test that runs
//! without them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use sha2::Digest;
use tempfile::TempDir;

use crate::fixtures;
use crate::helpers::*;

/// Size of the largest asset: several local read chunks and more than one bandwidth-limited second.
const LARGE_ASSET_BYTES: usize = 3 * 1024 * 1024 + 12_345;
/// Rate of the copy that the test interrupts, so it lasts a few seconds.
const SLOW_COPY_BYTES_PER_SECOND: &str = "1000000";
/// Guard against a copy that never reaches the target or never ends.
const COPY_TIMEOUT: Duration = Duration::from_secs(60);

/// One installation: a database URL and a storage URL, with a temporary directory that contains what is local.
struct Installation {
    dir: TempDir,
    database_url: String,
    storage_url: String,
}

impl Installation {
    /// Creates an embedded installation: `medialib.sqlite` and `files/` in a new temporary directory, the layout
    /// that `--data-dir` implies.
    fn embedded() -> Installation {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        // A real directory, so the S3 test harness never links `files` to a bucket prefix.
        std::fs::create_dir_all(dir.path().join("files")).expect("create the files directory");
        let database_url = format!("sqlite://{}", dir.path().join("medialib.sqlite").display());
        let storage_url = format!("file://{}", dir.path().join("files").display());
        Installation {
            dir,
            database_url,
            storage_url,
        }
    }

    /// Creates an installation on a PostgreSQL database and an S3 key prefix of its own, or returns `None` when the
    /// test servers are not set up.
    fn postgres_s3() -> Option<Installation> {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let database_url = test_database_url(dir.path())?;
        let storage_url = test_storage_url(dir.path())?;
        Some(Installation {
            dir,
            database_url,
            storage_url,
        })
    }

    fn files_dir(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    /// Runs `medialib ARGS` on this installation.
    fn cli(&self, args: &[&str]) -> CliOutput {
        self.cli_with_stdin(args, None)
    }

    fn cli_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        let mut all_args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        all_args.extend([
            "--database-url".to_string(),
            self.database_url.clone(),
            "--storage-url".to_string(),
            self.storage_url.clone(),
        ]);
        run_binary(&all_args, stdin, &[])
    }

    /// Starts `medialib serve` on this installation.
    fn serve(&self) -> TestServer {
        TestServer::builder()
            .empty_database()
            .arg("--database-url", &self.database_url)
            .arg("--storage-url", &self.storage_url)
            .start()
    }

    /// Sum of the assets of all repositories, from `repository list --json`.
    fn asset_count(&self) -> i64 {
        let repositories = json_rows(&self.cli(&["repository", "list", "--json"]).json());
        repositories
            .iter()
            .map(|repository| int_field(repository, "assets"))
            .sum()
    }
}

/// Arguments of `medialib copy` from one installation to another.
fn copy_args(from: &Installation, to: &Installation) -> Vec<String> {
    [
        "copy",
        "--from-database-url",
        &from.database_url,
        "--from-storage-url",
        &from.storage_url,
        "--to-database-url",
        &to.database_url,
        "--to-storage-url",
        &to.storage_url,
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect()
}

/// Runs `medialib copy` to the end.
fn run_copy(from: &Installation, to: &Installation, extra: &[&str]) -> CliOutput {
    let mut args = copy_args(from, to);
    args.extend(extra.iter().map(|arg| arg.to_string()));
    run_binary(&args, None, &[])
}

/// Starts a copy limited to [`SLOW_COPY_BYTES_PER_SECOND`], kills it with SIGKILL as soon as the target has at least
/// one asset, and returns the number of assets the target then has.
fn interrupted_copy(from: &Installation, to: &Installation) -> i64 {
    let mut args = copy_args(from, to);
    args.extend(
        [
            "--bandwidth-limit",
            SLOW_COPY_BYTES_PER_SECOND,
            "--concurrency",
            "2",
        ]
        .iter()
        .map(|arg| arg.to_string()),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_medialib"))
        .args(&args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn medialib copy");
    let deadline = Instant::now() + COPY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("the throttled copy ended ({status}) before the test saw a copied asset");
        }
        assert!(
            Instant::now() < deadline,
            "the throttled copy wrote no asset within {COPY_TIMEOUT:?}"
        );
        if to.asset_count() > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // std's Child::kill sends SIGKILL, so the copy gets no chance to clean up.
    child.kill().expect("kill the copy");
    let status = child.wait().expect("wait for the killed copy");
    assert!(
        status.code().is_none(),
        "the copy should have been killed, it exited with {status}"
    );
    to.asset_count()
}

/// What a client sees of an installation, with ids and timestamps, for comparing copies.
#[derive(Debug, PartialEq)]
struct Snapshot {
    repositories: Value,
    tokens: Value,
    users: Value,
    /// Per repository: every asset page item of a cursor walk, the tags, and the results of a few filters.
    repository_views: BTreeMap<String, Value>,
    /// Per asset id: the bytes served at its URL.
    files: BTreeMap<String, Vec<u8>>,
}

/// Accounts of the source that the checks on the copies use.
struct Accounts {
    /// Write token per repository.
    write_tokens: BTreeMap<String, String>,
    read_only_token: String,
    revoked_token: String,
    session_token: String,
}

const ALPHA: &str = "copy-alpha";
const BETA: &str = "copy-beta";
const GAMMA: &str = "copy-gamma";

/// Uploads a file to `repository` with `token` and optional text parts, asserting status 200.
async fn upload(
    server: &TestServer,
    token: &str,
    repository: &str,
    filename: &str,
    bytes: &[u8],
    texts: &[(&str, &str)],
) -> Value {
    let mut form = Multipart::new().file(filename, bytes);
    for (name, value) in texts {
        form = form.text(name, value);
    }
    send(
        server
            .request_as(Method::POST, "/assets", Some(token), Some(repository))
            .header("content-type", form.content_type())
            .body(form.body()),
    )
    .await
    .ok_json(200, &format!("upload {filename:?} to {repository}"))
}

/// Sends a JSON request to `repository` with `token` and returns the reply.
async fn call(
    server: &TestServer,
    token: &str,
    repository: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let mut request = server.request_as(method, path, Some(token), Some(repository));
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await
}

/// Fills the source through the command line and the API. It gets three repositories besides the first start's demo
/// repository, and users with and without passwords. It gets write, read-only, revoked and session tokens, and tags
/// with assignments. Its assets are of several kinds, with notes (one with U+0000), credits, alt, a rename and a
/// delete.
async fn fill_source(source: &Installation) -> Accounts {
    // On an empty database the first start creates the demo repository and records it.
    let server = source.serve();
    for name in [ALPHA, BETA, GAMMA] {
        source.cli(&["repository", "create", name]).success();
    }
    let mut write_tokens = BTreeMap::new();
    for name in ["demo", ALPHA, BETA, GAMMA] {
        let token = source
            .cli(&["token", "create", "--repository", name, "--label", "writer"])
            .success()
            .to_string();
        write_tokens.insert(name.to_string(), token);
    }
    let read_only_token = source
        .cli(&["token", "create", "--repository", ALPHA, "--read-only"])
        .success()
        .to_string();
    let revoked_token = source
        .cli(&[
            "token",
            "create",
            "--repository",
            BETA,
            "--label",
            "revoked",
        ])
        .success()
        .to_string();
    let tokens = json_rows(&source.cli(&["token", "list", "--json"]).json());
    let revoked_id = tokens
        .iter()
        .find(|token| token["label"] == "revoked")
        .and_then(|token| token["id"].as_str())
        .expect("the revoked token is listed")
        .to_string();
    source.cli(&["token", "revoke", &revoked_id]).success();

    for (email, repository) in [
        ("alice@example.com", ALPHA),
        ("alice@example.com", BETA),
        ("bob@example.com", ALPHA),
        ("carol@example.com", GAMMA),
    ] {
        source
            .cli(&[
                "user",
                "create",
                "--email",
                email,
                "--repository",
                repository,
            ])
            .success();
    }
    for (email, password) in [
        ("alice@example.com", "alice-password-1"),
        ("bob@example.com", "bob-password-22"),
    ] {
        source
            .cli_with_stdin(
                &["user", "set-password", "--email", email],
                Some(&format!("{password}\n")),
            )
            .success();
    }
    let session_token = server
        .login_ok("alice@example.com", "alice-password-1")
        .await;

    let alpha = write_tokens[ALPHA].clone();
    let beta = write_tokens[BETA].clone();
    let photo = upload(
        &server,
        &alpha,
        ALPHA,
        "photo.png",
        &fixtures::png(64, 48),
        &[("alt", "A red kite")],
    )
    .await;
    let paris = upload(
        &server,
        &alpha,
        ALPHA,
        "Été à Paris.jpg",
        &fixtures::jpeg(40, 30),
        &[("notes", "line one\u{0}line two"), ("credits", "Ada")],
    )
    .await;
    let drawing = upload(
        &server,
        &alpha,
        ALPHA,
        "drawing.svg",
        &fixtures::svg("width=\"4\" height=\"4\""),
        &[],
    )
    .await;
    upload(&server, &alpha, ALPHA, "report.pdf", &fixtures::pdf(), &[]).await;
    upload(&server, &alpha, ALPHA, "song.mp3", &fixtures::mp3(), &[]).await;
    let large: Vec<u8> = (0..LARGE_ASSET_BYTES)
        .map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    upload(
        &server,
        &alpha,
        ALPHA,
        "archive.bin",
        &large,
        &[("notes", "large")],
    )
    .await;
    let doomed = upload(&server, &alpha, ALPHA, "doomed.txt", &fixtures::text(), &[]).await;
    // An asset uploaded with the session token has the user as its uploader.
    upload(
        &server,
        &session_token,
        BETA,
        "clip.mp4",
        &fixtures::mp4(),
        &[],
    )
    .await;
    upload(&server, &beta, BETA, "page.html", &fixtures::html(), &[]).await;

    let red = call(
        &server,
        &alpha,
        ALPHA,
        Method::POST,
        "/tags",
        Some(json!({ "name": "red" })),
    )
    .await
    .ok_json(201, "create tag red");
    let blue = call(
        &server,
        &alpha,
        ALPHA,
        Method::POST,
        "/tags",
        Some(json!({ "name": "blue" })),
    )
    .await
    .ok_json(201, "create tag blue");
    let summer = call(
        &server,
        &alpha,
        ALPHA,
        Method::POST,
        "/tags",
        Some(json!({ "name": "été" })),
    )
    .await
    .ok_json(201, "create tag été");
    call(
        &server,
        &beta,
        BETA,
        Method::POST,
        "/tags",
        Some(json!({ "name": "unused" })),
    )
    .await
    .expect(201, "create tag unused");
    call(
        &server,
        &alpha,
        ALPHA,
        Method::POST,
        &format!("/tags/{}/assets", string_field(&red, "id")),
        Some(json!({ "assetIds": [photo["id"], drawing["id"]] })),
    )
    .await
    .expect(204, "assign red");
    let patched = call(
        &server,
        &alpha,
        ALPHA,
        Method::PATCH,
        &format!("/assets/{}", string_field(&photo, "id")),
        Some(json!({ "tags": [red["id"], blue["id"]], "notes": "edited", "filename": "kite.png" })),
    )
    .await
    .ok_json(200, "patch the photo");
    assert_eq!(patched["filename"], "kite.png");
    call(
        &server,
        &alpha,
        ALPHA,
        Method::PATCH,
        &format!("/assets/{}", string_field(&paris, "id")),
        Some(json!({ "tags": [summer["id"]], "alt": "Quai\u{0}de Seine" })),
    )
    .await
    .expect(200, "patch the Paris photo");
    call(
        &server,
        &alpha,
        ALPHA,
        Method::DELETE,
        &format!("/assets/{}", string_field(&doomed, "id")),
        None,
    )
    .await
    .expect(204, "delete an asset");
    drop(server);

    Accounts {
        write_tokens,
        read_only_token,
        revoked_token,
        session_token,
    }
}

/// Records what a server on `installation` shows, with URLs made relative to the server.
async fn snapshot(installation: &Installation, accounts: &Accounts) -> Snapshot {
    let server = installation.serve();
    let mut repository_views = BTreeMap::new();
    let mut files = BTreeMap::new();
    for (repository, token) in &accounts.write_tokens {
        let get = |path: String| {
            let server = &server;
            async move {
                call(server, token, repository, Method::GET, &path, None)
                    .await
                    .ok_json(200, &format!("GET {path} on {repository}"))
            }
        };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = "/assets?limit=3".to_string();
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={}", encode_unreserved(cursor)));
            }
            let page = get(path).await;
            let page_items = crate::helpers::items(&page);
            if page_items.is_empty() {
                break;
            }
            items.extend(page_items);
            cursor = Some(string_field(&page, "cursor").to_string());
        }
        for item in &mut items {
            let url = string_field(item, "url").to_string();
            let bytes = server
                .fetch(&url, &[])
                .await
                .expect(200, "GET a file")
                .body
                .clone();
            files.insert(string_field(item, "id").to_string(), bytes);
            item["url"] = json!(url
                .strip_prefix(&server.base_url)
                .expect("the URL is on the server"));
        }
        let tags = get("/tags".to_string()).await;
        let tag_ids: Vec<String> = tags["items"]
            .as_array()
            .expect("tag items")
            .iter()
            .map(|tag| string_field(tag, "id").to_string())
            .collect();
        let mut filtered = Vec::new();
        for keyword in ["kite", "paris", "line two", "a"] {
            let page = get(format!("/assets?keyword={}", encode_unreserved(keyword))).await;
            filtered.push(
                json!({ "keyword": keyword, "ids": item_ids(&page), "total": page["total"] }),
            );
        }
        for tag_id in &tag_ids {
            let page = get(format!("/assets?tags={}", encode_unreserved(tag_id))).await;
            filtered.push(json!({ "tag": tag_id, "ids": item_ids(&page), "total": page["total"] }));
        }
        let uploaders = get("/uploaders".to_string()).await;
        repository_views.insert(
            repository.clone(),
            json!({ "items": items, "tags": tags, "filtered": filtered, "uploaders": uploaders }),
        );
    }
    drop(server);
    Snapshot {
        repositories: installation.cli(&["repository", "list", "--json"]).json(),
        tokens: installation.cli(&["token", "list", "--json"]).json(),
        users: installation.cli(&["user", "list", "--json"]).json(),
        repository_views,
        files,
    }
}

/// Asserts that two snapshots are equal, part by part, so a failure names the part.
#[track_caller]
fn assert_same_snapshot(expected: &Snapshot, actual: &Snapshot, context: &str) {
    assert_eq!(
        expected.repositories, actual.repositories,
        "{context}: repository list"
    );
    assert_eq!(expected.tokens, actual.tokens, "{context}: token list");
    assert_eq!(expected.users, actual.users, "{context}: user list");
    for (repository, view) in &expected.repository_views {
        assert_eq!(
            Some(view),
            actual.repository_views.get(repository),
            "{context}: assets, tags, filters and uploaders of {repository}"
        );
    }
    assert_eq!(
        expected.files.keys().collect::<Vec<_>>(),
        actual.files.keys().collect::<Vec<_>>(),
        "{context}: asset ids with files"
    );
    for (id, bytes) in &expected.files {
        assert!(
            actual.files[id] == *bytes,
            "{context}: the bytes of asset {id} differ"
        );
    }
}

/// Checks that the tokens and passwords of the source work on a server of a copy, as they did on the source.
async fn check_accounts(installation: &Installation, accounts: &Accounts) {
    let server = installation.serve();
    for (repository, token) in &accounts.write_tokens {
        call(&server, token, repository, Method::GET, "/assets", None)
            .await
            .expect(200, &format!("the write token of {repository}"));
    }

    call(
        &server,
        &accounts.read_only_token,
        ALPHA,
        Method::GET,
        "/tags",
        None,
    )
    .await
    .expect(200, "the read-only token reads");
    call(
        &server,
        &accounts.read_only_token,
        ALPHA,
        Method::POST,
        "/tags",
        Some(json!({ "name": "read-only" })),
    )
    .await
    .expect_error(403, None, "the read-only token writes");

    call(
        &server,
        &accounts.revoked_token,
        BETA,
        Method::GET,
        "/assets",
        None,
    )
    .await
    .expect_error(401, None, "the revoked token");
    call(
        &server,
        &accounts.session_token,
        BETA,
        Method::GET,
        "/assets",
        None,
    )
    .await
    .expect(200, "the session token from the source");
    server
        .validate(&accounts.session_token)
        .await
        .expect(200, "validate the session token from the source");

    server
        .login_ok("alice@example.com", "alice-password-1")
        .await;
    server.login_ok("bob@example.com", "bob-password-22").await;
    server
        .login("bob@example.com", "wrong-password")
        .await
        .expect_error(401, None, "a wrong password");
}

/// Returns every file under `root` with its bytes, by path relative to `root`.
fn files_under(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut directories = vec![root.to_path_buf()];
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(&directory).expect("read a directory") {
            let entry = entry.expect("a directory entry");
            let path = entry.path();
            if entry.file_type().expect("a file type").is_dir() {
                directories.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("a path under the root");
                files.insert(
                    relative.display().to_string(),
                    std::fs::read(&path).expect("read a file"),
                );
            }
        }
    }
    files
}

/// Copies `source` to `middle` (first interrupted, then resumed), then `middle` to a new embedded installation,
/// and checks each copy and that the source did not change.
async fn round_trip(source: Installation, middle: Installation) {
    let accounts = fill_source(&source).await;
    let expected = snapshot(&source, &accounts).await;
    let source_assets = source.asset_count();
    assert_eq!(source_assets, 8, "assets in the source");
    assert_eq!(expected.files.len(), 8, "files in the source snapshot");
    let alpha_items = expected.repository_views[ALPHA]["items"]
        .as_array()
        .map(Vec::len);
    assert_eq!(
        alpha_items,
        Some(6),
        "assets of {ALPHA} in the source snapshot"
    );
    let source_files = files_under(&source.files_dir());
    let source_database = std::fs::read(source.dir.path().join("medialib.sqlite"))
        .expect("read the source database file");

    let copied_before_kill = interrupted_copy(&source, &middle);
    assert!(
        (1..source_assets).contains(&copied_before_kill),
        "the interrupted copy should have copied some assets but not all, copied {copied_before_kill} of {source_assets}"
    );
    let resumed = run_copy(&source, &middle, &[]);
    let summary = resumed.success();
    assert!(
        summary.contains("rows were already in the target") && summary.contains("verified"),
        "the resumed copy should report rows already there and a verification: {summary}"
    );
    if middle.storage_url.starts_with("file://") {
        let staging: Vec<String> = files_under(&middle.files_dir())
            .into_keys()
            .filter(|name| name.contains('#'))
            .collect();
        assert!(
            staging.is_empty(),
            "the resumed copy left staging files: {staging:?}"
        );
    }
    // Before any server has written to the middle (a sign-in adds a session token), a rerun finds nothing to do.
    let rerun = run_copy(&source, &middle, &[]);
    assert!(
        rerun.success().contains("assets 0"),
        "a rerun of a finished copy copies nothing: {}",
        rerun.stdout
    );

    let middle_snapshot = snapshot(&middle, &accounts).await;
    assert_same_snapshot(&expected, &middle_snapshot, "middle copy");
    // Copied before the account checks sign in on the middle, which adds session tokens.
    let last = Installation::embedded();
    run_copy(&middle, &last, &[]).success();
    check_accounts(&middle, &accounts).await;

    let last_snapshot = snapshot(&last, &accounts).await;
    assert_same_snapshot(&expected, &last_snapshot, "copy of the copy");
    check_accounts(&last, &accounts).await;
    let last_files = files_under(&last.files_dir());
    assert_eq!(
        source_files.keys().collect::<Vec<_>>(),
        last_files.keys().collect::<Vec<_>>(),
        "stored file names after the round trip"
    );
    for (name, bytes) in &source_files {
        assert!(
            last_files[name] == *bytes,
            "the stored file {name} differs after the round trip"
        );
    }

    // The middle's repository ids continue after the copied ones.
    middle
        .cli(&["repository", "create", "after-copy"])
        .success();
    let repositories = json_rows(&middle.cli(&["repository", "list", "--json"]).json());
    assert_eq!(
        repositories.len(),
        5,
        "repositories of the middle: {repositories:?}"
    );

    // The copies only read the source.
    assert!(
        std::fs::read(source.dir.path().join("medialib.sqlite"))
            .expect("read the source database file")
            == source_database,
        "the source database file changed"
    );
    assert_eq!(
        source_files,
        files_under(&source.files_dir()),
        "the source files changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_round_trip_embedded() {
    round_trip(Installation::embedded(), Installation::embedded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_round_trip_postgres_s3() {
    let Some(middle) = Installation::postgres_s3() else {
        println!(
            "skipped: set MEDIALIB_TEST_DATABASE_URL and MEDIALIB_TEST_STORAGE_URL (scripts/postgres.sh scripts/s3.sh) \
             to copy through PostgreSQL and S3"
        );
        return;
    };
    round_trip(Installation::embedded(), middle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_rejects_foreign_target() {
    let source = Installation::embedded();
    source
        .cli(&["repository", "create", "source-repo"])
        .success();
    let token = source
        .cli(&["token", "create", "--repository", "source-repo"])
        .success()
        .to_string();
    let server = source.serve();
    upload(
        &server,
        &token,
        "source-repo",
        "a.txt",
        &fixtures::text(),
        &[],
    )
    .await;
    drop(server);

    // A database with a repository of its own.
    let other = Installation::embedded();
    other.cli(&["repository", "create", "other-repo"]).success();
    let output = run_copy(&source, &other, &[]);
    output.assert_failure();
    assert!(
        output.stderr.contains("not from this source"),
        "the message should say why: {}",
        output.stderr
    );
    let repositories = json_rows(&other.cli(&["repository", "list", "--json"]).json());
    assert_eq!(
        repositories.len(),
        1,
        "the rejected target is unchanged: {repositories:?}"
    );
    assert_eq!(repositories[0]["name"], "other-repo");
    assert!(
        files_under(&other.files_dir()).is_empty(),
        "no file reached the rejected target"
    );

    // An empty database with a file store that contains another installation's object.
    let with_object = Installation::embedded();
    std::fs::create_dir_all(with_object.files_dir().join("assets/1")).unwrap();
    std::fs::write(
        with_object.files_dir().join("assets/1/someoneelse"),
        b"not ours",
    )
    .unwrap();
    let output = run_copy(&source, &with_object, &[]);
    output.assert_failure();
    assert!(
        output.stderr.contains("assets/1/someoneelse"),
        "the message should name the object: {}",
        output.stderr
    );
    assert_eq!(
        with_object.asset_count(),
        0,
        "no asset row reached the rejected target"
    );

    // The source itself.
    let output = run_copy(&source, &source, &[]);
    output.assert_failure();
    assert!(output.stderr.contains("same database"), "{}", output.stderr);

    // A missing source is reported, and nothing is created in its place.
    let missing = Installation::embedded();
    let missing_database = missing.dir.path().join("medialib.sqlite");
    let target = Installation::embedded();
    let output = run_copy(&missing, &target, &[]);
    output.assert_failure();
    assert!(
        output.stderr.contains("does not exist"),
        "{}",
        output.stderr
    );
    assert!(
        !missing_database.exists(),
        "the copy created the missing source database"
    );
}

/// Assets stored before migration 0006 were hashed with SHA-256. The migration marks their hashes as such, the server
/// gives them the same ETag as before, and `copy` checks their bytes with SHA-256, while new uploads are hashed with
/// BLAKE3.
#[tokio::test]
async fn sha256_assets_survive_migration_and_copy() {
    let source = Installation::embedded();
    let good = b"bytes stored before BLAKE3".to_vec();
    let good_sha256 = hex::encode(sha2::Sha256::digest(&good));
    let wrong_sha256 = "0".repeat(64);
    let database = source.dir.path().join("medialib.sqlite");
    {
        let mut connection = open_sqlite(&database).await;
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        let before: Vec<_> = migrator
            .iter()
            .filter(|m| m.version <= 5)
            .cloned()
            .collect();
        migrator.migrations = before.into();
        migrator
            .run(&mut connection)
            .await
            .expect("apply migrations 1 to 5");
        for statement in [
            "INSERT INTO repositories (id, name, created_at) VALUES (1, 'legacy', 1000)"
                .to_string(),
            legacy_asset_row("legacygood", "good.txt", good.len(), &good_sha256),
            legacy_asset_row("legacybad", "bad.txt", good.len(), &wrong_sha256),
            format!(
                "INSERT INTO variants (storage_key, source_sha256, size, created_at, last_used)
                 VALUES ('variants/{good_sha256}/x', '{good_sha256}', 1, 1000, 1000)"
            ),
        ] {
            sqlx::query(&statement)
                .execute(&mut connection)
                .await
                .expect(&statement);
        }
    }
    std::fs::create_dir_all(source.files_dir().join("assets/1")).unwrap();
    for id in ["legacygood", "legacybad"] {
        std::fs::write(source.files_dir().join("assets/1").join(id), &good).unwrap();
    }

    // Any command applies migration 0006.
    let token = source
        .cli(&["token", "create", "--repository", "legacy"])
        .success()
        .to_string();
    {
        let mut connection = open_sqlite(&database).await;
        let hash: String =
            sqlx::query_scalar("SELECT content_hash FROM assets WHERE id = 'legacygood'")
                .fetch_one(&mut connection)
                .await
                .unwrap();
        assert_eq!(hash, format!("sha256:{good_sha256}"));
        let source_hash: String = sqlx::query_scalar("SELECT source_hash FROM variants")
            .fetch_one(&mut connection)
            .await
            .unwrap();
        assert_eq!(source_hash, format!("sha256:{good_sha256}"));
    }

    // The ETag of the SHA-256 asset comes from its SHA-256 as before; a new upload's comes from its BLAKE3.
    let server = source.serve();
    let legacy = server
        .fetch(&server.url("/files/legacy/legacygood_good.txt"), &[])
        .await;
    assert_eq!(legacy.status, 200);
    assert_eq!(legacy.body, good);
    assert_eq!(
        legacy.header("etag").as_deref(),
        Some(format!("\"{}\"", &good_sha256[..32]).as_str())
    );
    let uploaded = upload(&server, &token, "legacy", "abc.txt", b"abc", &[]).await;
    let fresh = server.fetch(string_field(&uploaded, "url"), &[]).await;
    // BLAKE3 of "abc", from the BLAKE3 reference implementation.
    assert_eq!(
        fresh.header("etag").as_deref(),
        Some("\"6437b3ac38465133ffb63b75273a8db5\"")
    );
    drop(server);

    // The copy checks each asset with the algorithm of its row: the SHA-256 asset and the BLAKE3 one are copied,
    // and the asset whose bytes do not match its SHA-256 is reported.
    let target = Installation::embedded();
    let output = run_copy(&source, &target, &[]);
    output.assert_failure();
    assert!(
        output.stdout.contains("legacybad") && output.stdout.contains("hash"),
        "the copy should name the asset whose hash differs: {}",
        output.stdout
    );
    assert!(
        !output.stdout.contains("legacygood"),
        "the matching SHA-256 asset should not be reported: {}",
        output.stdout
    );
    let server = target.serve();
    let copied = server
        .fetch(&server.url("/files/legacy/legacygood_good.txt"), &[])
        .await;
    assert_eq!(copied.body, good);
    assert_eq!(copied.header("etag"), legacy.header("etag"));
    let copied_fresh = server
        .fetch(
            &server.url(&format!(
                "/files/legacy/{}_abc.txt",
                string_field(&uploaded, "id")
            )),
            &[],
        )
        .await;
    assert_eq!(copied_fresh.header("etag"), fresh.header("etag"));
}

async fn open_sqlite(path: &Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("open the SQLite database")
}

/// Returns the INSERT statement of an asset row of repository 1 as migration 5 defines it, with its SHA-256 in the
/// `sha256` column.
fn legacy_asset_row(id: &str, filename: &str, size: usize, sha256: &str) -> String {
    format!(
        "INSERT INTO assets (id, repository_id, filename, uploaded_filename, extension, size, kind, content_type,
             uploader_id, sha256, storage_key, created_at, last_modified, search_filename)
         VALUES ('{id}', 1, '{filename}', '{filename}', 'txt', {size}, 'document', 'text/plain', 'ghost', '{sha256}',
             'assets/1/{id}', 1000, 1000, '{filename}')"
    )
}
