//! The legacy Authentication API: `POST /login`, `GET /validate`, `GET /refreshtoken`, and what session tokens
//! can do.

use reqwest::Method;

use crate::fixtures;
use crate::helpers::{item_ids, send, string_field, Multipart, Reply, TestServer, REPOSITORY};

const EMAIL: &str = "editor@example.com";
const PASSWORD: &str = "correct horse battery staple";

async fn get_assets_as(server: &TestServer, token: &str, repository: &str) -> Reply {
    send(server.request_as(Method::GET, "/assets", Some(token), Some(repository))).await
}

#[tokio::test]
async fn login_returns_plain_text_token() {
    let server = TestServer::start();
    server.create_user(EMAIL, PASSWORD, &[REPOSITORY]);

    let reply = server.login(EMAIL, PASSWORD).await;
    reply.expect(200, "login");
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain"),
        "the token is plain text, got Content-Type {content_type:?}"
    );
    let token = reply.text();
    assert!(!token.trim().is_empty(), "login returned an empty body");
    assert!(
        !token.trim().starts_with('{') && !token.trim().starts_with('"'),
        "the token is not JSON: {token}"
    );
    assert!(
        !token.trim().contains(char::is_whitespace),
        "the token is a single word: {token:?}"
    );

    get_assets_as(&server, token.trim(), REPOSITORY)
        .await
        .expect(200, "the session token authorises API calls");
}

#[tokio::test]
async fn login_wrong_credentials_are_401_json() {
    let server = TestServer::start();
    server.create_user(EMAIL, PASSWORD, &[REPOSITORY]);
    server
        .cli(&[
            "user",
            "create",
            "--email",
            "nopassword@example.com",
            "--repository",
            REPOSITORY,
        ])
        .success();

    let wrong_password = server.login(EMAIL, "wrong").await;
    wrong_password.expect_error(401, None, "wrong password");
    let unknown_email = server.login("nobody@example.com", PASSWORD).await;
    unknown_email.expect_error(401, None, "unknown email");
    assert_eq!(
        wrong_password.json()["error"],
        unknown_email.json()["error"],
        "a wrong password and an unknown email look the same"
    );
    let case_changed = server.login(EMAIL, &PASSWORD.to_uppercase()).await;
    case_changed.expect_error(401, None, "password in another case");
    let empty = server.login(EMAIL, "").await;
    empty.expect_error(401, None, "empty password");
    let no_password = server.login("nopassword@example.com", "").await;
    no_password.expect_error(401, None, "a user whose password was never set");
}

#[tokio::test]
async fn validate_and_refresh_token() {
    let server = TestServer::start();
    server.create_user(EMAIL, PASSWORD, &[REPOSITORY]);
    let session = server.login_ok(EMAIL, PASSWORD).await;

    server
        .validate(&session)
        .await
        .expect(200, "validate a fresh session");
    server
        .validate("not-a-session")
        .await
        .expect_error(401, None, "validate an unknown token");
    send(server.bare(Method::GET, "/validate"))
        .await
        .expect_error(401, None, "validate without a token");

    let refreshed = server.refresh_token(&session).await;
    refreshed.expect(200, "refreshtoken");
    let content_type = refreshed.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain"),
        "the new token is plain text, got {content_type:?}"
    );
    let new_token = refreshed.text().trim().to_string();
    assert!(!new_token.is_empty());
    assert_ne!(new_token, session, "refreshtoken returns a new token");

    server
        .validate(&new_token)
        .await
        .expect(200, "the new token is valid");
    server
        .validate(&session)
        .await
        .expect(200, "the old token stays valid until it expires");
    get_assets_as(&server, &new_token, REPOSITORY)
        .await
        .expect(200, "the new token authorises API calls");
    server
        .refresh_token("not-a-session")
        .await
        .expect_error(401, None, "refresh an unknown token");
}

#[tokio::test]
async fn password_change_ends_sessions() {
    let server = TestServer::start();
    server.create_user(EMAIL, PASSWORD, &[REPOSITORY]);
    let first = server.login_ok(EMAIL, PASSWORD).await;
    let second = server.login_ok(EMAIL, PASSWORD).await;
    server
        .validate(&first)
        .await
        .expect(200, "a new login does not end other sessions");
    server.validate(&second).await.expect(200, "second session");

    server
        .cli_with_stdin(
            &["user", "set-password", "--email", EMAIL],
            "a new password\n",
        )
        .success();

    for session in [&first, &second] {
        server.validate(session).await.expect_error(
            401,
            None,
            "a session after the password change",
        );
        get_assets_as(&server, session, REPOSITORY)
            .await
            .expect_error(401, None, "API call with an ended session");
    }
    server
        .login(EMAIL, PASSWORD)
        .await
        .expect_error(401, None, "the old password");
    let fresh = server.login_ok(EMAIL, "a new password").await;
    get_assets_as(&server, &fresh, REPOSITORY)
        .await
        .expect(200, "a session with the new password");
}

#[tokio::test]
async fn session_uploads_carry_user_id() {
    let server = TestServer::start();
    let user_id = server.create_user(EMAIL, PASSWORD, &[REPOSITORY]);
    assert_ne!(user_id, "ghost");
    let session = server.login_ok(EMAIL, PASSWORD).await;

    let mine = server
        .upload_as(&session, "mine.png", &fixtures::png(2, 2))
        .await
        .ok_json(200, "session upload");
    assert_eq!(
        mine["uploader_id"],
        user_id.as_str(),
        "a user's uploads carry the user's id"
    );
    let ghost = server.upload_ok("ghost.png", &fixtures::png(2, 2)).await;
    assert_eq!(ghost["uploader_id"], "ghost");

    let mut expected = vec!["ghost".to_string(), user_id.clone()];
    expected.sort();
    assert_eq!(server.uploader_ids().await, expected);

    let page = server.list_ok(&[("uploaderId", &user_id)]).await;
    assert_eq!(item_ids(&page), vec![string_field(&mine, "id").to_string()]);
    let page = server.list_ok(&[("uploaderId", "ghost")]).await;
    assert_eq!(
        item_ids(&page),
        vec![string_field(&ghost, "id").to_string()]
    );
}

#[tokio::test]
async fn session_covers_each_repository_of_user() {
    let server = TestServer::start();
    server.create_repository("second-repo");
    server.create_repository("third-repo");
    server.create_user(EMAIL, PASSWORD, &[REPOSITORY, "second-repo"]);
    let session = server.login_ok(EMAIL, PASSWORD).await;

    get_assets_as(&server, &session, REPOSITORY)
        .await
        .expect(200, "first repository of the user");
    get_assets_as(&server, &session, "second-repo")
        .await
        .expect(200, "second repository of the user");
    get_assets_as(&server, &session, "third-repo")
        .await
        .expect_error(403, None, "a repository of no concern");

    let form = Multipart::new().file("second.txt", b"x");
    let request = server
        .request_as(Method::POST, "/assets", Some(&session), Some("second-repo"))
        .header("content-type", form.content_type())
        .body(form.body());
    send(request)
        .await
        .expect(200, "upload to the second repository with the session");
}

#[tokio::test]
async fn session_expires_after_ttl() {
    let server = TestServer::builder().arg("--session-ttl", "1").start();
    server.create_user(EMAIL, PASSWORD, &[REPOSITORY]);
    let session = server.login_ok(EMAIL, PASSWORD).await;
    let refreshed = server.refresh_token(&session).await;
    let refreshed = refreshed.text().trim().to_string();
    server
        .validate(&session)
        .await
        .expect(200, "a fresh session");

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    for token in [&session, &refreshed] {
        server
            .validate(token)
            .await
            .expect_error(401, None, "a session past its lifetime");
        get_assets_as(&server, token, REPOSITORY)
            .await
            .expect_error(401, None, "API call with an expired session");
    }
}
