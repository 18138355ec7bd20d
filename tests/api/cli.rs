//! The `repository`, `token` and `user` subcommands: exit codes, one-line errors, `--json` output, the
//! environment and use beside a running server.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{json_rows, run_binary, run_cli, run_cli_with, send, TestServer, REPOSITORY};

fn names_of(rows: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = rows
        .iter()
        .map(|row| {
            row["name"]
                .as_str()
                .unwrap_or_else(|| panic!("row without name: {row}"))
                .into()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn cli_repository_commands() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let longest = format!("a{}9", "-".repeat(61));

    for name in ["acme", longest.as_str(), "my-repo-2", "0abc"] {
        run_cli(path, &["repository", "create", name]).success();
    }
    let rows = json_rows(&run_cli(path, &["repository", "list", "--json"]).json());
    let mut expected = vec![
        "acme".to_string(),
        longest.clone(),
        "my-repo-2".to_string(),
        "0abc".to_string(),
    ];
    expected.sort();
    assert_eq!(names_of(&rows), expected);

    run_cli(path, &["repository", "create", "acme"]).assert_failure();
    let too_long = "a".repeat(64);
    for invalid in [
        "abc",
        too_long.as_str(),
        "Acme",
        "acme-",
        "ac_me",
        "acme repo",
        "acmé",
        "",
    ] {
        run_cli(path, &["repository", "create", invalid]).assert_failure();
    }
    // A leading hyphen needs `--` to reach the command as a name rather than an option.
    let path_text = path.display().to_string();
    let args: Vec<String> = [
        "repository",
        "create",
        "--data-dir",
        &path_text,
        "--",
        "-acme",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    run_binary(&args, None, &[]).assert_failure();

    let table = run_cli(path, &["repository", "list"]);
    let table = table.success();
    assert!(
        table.contains("my-repo-2"),
        "the table lists repositories: {table}"
    );

    run_cli(path, &["repository", "delete", "my-repo-2"]).success();
    run_cli(path, &["repository", "delete", "my-repo-2"]).assert_failure();
    run_cli(path, &["repository", "delete", "never-existed"]).assert_failure();
    let rows = json_rows(&run_cli(path, &["repository", "list", "--json"]).json());
    assert!(
        !names_of(&rows).contains(&"my-repo-2".to_string()),
        "deleted repository still listed: {rows:?}"
    );
    assert_eq!(rows.len(), 3);
}

#[test]
fn cli_token_commands() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    run_cli(path, &["repository", "create", REPOSITORY]).success();

    let write = run_cli(path, &["token", "create", "--repository", REPOSITORY]);
    let write = write.success().to_string();
    assert!(
        !write.is_empty() && !write.contains(char::is_whitespace),
        "the token alone on stdout: {write:?}"
    );
    let read_only = run_cli(
        path,
        &["token", "create", "--repository", REPOSITORY, "--read-only"],
    )
    .success()
    .to_string();
    let labelled = run_cli(
        path,
        &[
            "token",
            "create",
            "--repository",
            REPOSITORY,
            "--label",
            "CI uploads",
        ],
    )
    .success()
    .to_string();
    assert_ne!(write, read_only, "every token is new");
    assert_ne!(write, labelled);

    run_cli(path, &["token", "create", "--repository", "no-such-repo"]).assert_failure();

    let listing = run_cli(path, &["token", "list", "--json"]);
    let rows = json_rows(&listing.json());
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows.iter().all(|row| !row["id"].is_null()),
        "every token has an id: {rows:?}"
    );
    assert!(
        rows.iter().any(|row| row["label"] == "CI uploads"),
        "the label is listed: {rows:?}"
    );
    let table = run_cli(path, &["token", "list"]);
    for token in [&write, &read_only, &labelled] {
        assert!(
            !listing.stdout.contains(token.as_str()),
            "`token list --json` must not print a token"
        );
        assert!(
            !table.success().contains(token.as_str()),
            "`token list` must not print a token"
        );
    }

    let row = rows
        .iter()
        .find(|row| row["label"] == "CI uploads")
        .unwrap();
    let id = match &row["id"] {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    };
    run_cli(path, &["token", "revoke", &id]).success();
    run_cli(path, &["token", "revoke", "999999999"]).assert_failure();
    run_cli(path, &["token", "revoke", "no-such-token-id"]).assert_failure();
}

#[test]
fn cli_user_commands() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    run_cli(path, &["repository", "create", REPOSITORY]).success();
    run_cli(path, &["repository", "create", "second-repo"]).success();

    run_cli(
        path,
        &[
            "user",
            "create",
            "--email",
            "ada@example.com",
            "--repository",
            REPOSITORY,
        ],
    )
    .success();
    run_cli(
        path,
        &[
            "user",
            "create",
            "--email",
            "ada@example.com",
            "--repository",
            "second-repo",
        ],
    )
    .success();
    run_cli(
        path,
        &[
            "user",
            "create",
            "--email",
            "bob@example.com",
            "--repository",
            "no-such-repo",
        ],
    )
    .assert_failure();

    let secret = "a password nobody prints";
    let set = run_cli_with(
        path,
        &["user", "set-password", "--email", "ada@example.com"],
        Some(&format!("{secret}\n")),
        &[],
    );
    set.success();
    assert!(
        !set.stdout.contains(secret) && !set.stderr.contains(secret),
        "the password is never printed"
    );
    run_cli_with(
        path,
        &["user", "set-password", "--email", "nobody@example.com"],
        Some("x\n"),
        &[],
    )
    .assert_failure();

    let listing = run_cli(path, &["user", "list", "--json"]);
    let rows = json_rows(&listing.json());
    assert_eq!(
        rows.len(),
        1,
        "adding a repository to a user does not create a second user: {rows:?}"
    );
    assert_eq!(rows[0]["email"], "ada@example.com");
    assert!(!rows[0]["id"].is_null(), "users have an id: {rows:?}");
    assert!(
        !listing.stdout.contains(secret),
        "user list never prints a password"
    );
    let table = run_cli(path, &["user", "list"]);
    assert!(
        table.success().contains("ada@example.com"),
        "the table lists users"
    );
}

#[test]
fn cli_data_dir_from_environment() {
    let dir = tempfile::tempdir().unwrap();
    let dir_text = dir.path().display().to_string();
    let envs = [("MEDIALIB_DATA_DIR", dir_text.as_str())];
    let args: Vec<String> = ["repository", "create", "from-env"]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
    run_binary(&args, None, &envs).success();

    let rows = json_rows(&run_cli(dir.path(), &["repository", "list", "--json"]).json());
    assert_eq!(
        names_of(&rows),
        vec!["from-env"],
        "MEDIALIB_DATA_DIR chose the data directory"
    );
}

#[tokio::test]
async fn cli_works_beside_running_server() {
    let server = TestServer::start();
    server.cli(&["repository", "create", "late-repo"]).success();
    let token = server.create_token("late-repo", &[]);

    let reply =
        send(server.request_as(Method::GET, "/assets", Some(&token), Some("late-repo"))).await;
    reply.expect(200, "a repository and token created while the server runs");
    let rows = json_rows(&server.cli(&["repository", "list", "--json"]).json());
    assert_eq!(
        names_of(&rows),
        vec![REPOSITORY.to_string(), "late-repo".to_string()]
    );
}

#[tokio::test]
async fn cli_rejects_database_of_newer_version() {
    let dir = tempfile::tempdir().unwrap();
    // SQLite even when the suite runs on PostgreSQL: the test edits the database file.
    let path = dir.path().join("medialib.sqlite");
    let database_url = format!("sqlite://{}", path.display());
    let list = ["repository", "list", "--database-url", &database_url];
    run_cli(dir.path(), &list).success();
    {
        use sqlx::Connection;
        let mut connection = sqlx::SqliteConnection::connect(&database_url)
            .await
            .expect("open the database");
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9999, 'from a newer version', 1, x'00', 0)",
        )
        .execute(&mut connection)
        .await
        .expect("record a migration of a newer version");
    }

    let output = run_cli(dir.path(), &list);
    output.assert_failure();
    assert!(
        output.stderr.contains("migration 9999") && output.stderr.contains("newer version"),
        "the message should name the migration and the cause: {}",
        output.stderr
    );
}

#[test]
fn cli_names_missing_argument() {
    let dir = tempfile::tempdir().unwrap();
    for (args, missing) in [
        (&["token", "create"][..], "--repository"),
        (&["repository", "create"][..], "<NAME>"),
    ] {
        let output = run_cli(dir.path(), args);
        output.assert_failure();
        assert_eq!(
            output.stderr.trim().lines().count(),
            1,
            "one line: {}",
            output.stderr
        );
        assert!(
            output.stderr.contains(missing),
            "`medialib {}` should name {missing}: {}",
            args.join(" "),
            output.stderr
        );
    }
}
