//! Rate limiting: 429 with a numeric `retry-after` of at least 1 s, per token, after the auth checks, and never
//! on file URLs, health, metrics, the OpenAPI document or CORS preflights.

use std::time::Duration;

use crate::fixtures;
use crate::helpers::{send, string_field, Reply, TestServer, REPOSITORY};
use reqwest::Method;

async fn get_assets(server: &TestServer, token: &str) -> Reply {
    send(server.request_as(Method::GET, "/assets", Some(token), Some(REPOSITORY))).await
}

/// Asserts a 429 with a JSON error and a whole-second `retry-after` of at least 1, and returns that value.
#[track_caller]
fn assert_rate_limited(reply: &Reply, context: &str) -> u64 {
    reply.expect_error(429, None, context);
    let retry_after = reply.header("retry-after").unwrap_or_else(|| {
        panic!("{context}: a 429 needs a retry-after header, or clients retry in a tight loop")
    });
    let seconds: u64 = retry_after.trim().parse().unwrap_or_else(|_| {
        panic!("{context}: retry-after should be whole seconds, got {retry_after:?}")
    });
    assert!(
        seconds >= 1,
        "{context}: retry-after should never be below 1, got {seconds}"
    );
    seconds
}

#[tokio::test]
async fn rate_limit_returns_429_with_retry_after() {
    let server = TestServer::builder().arg("--rate-limit", "1").start();
    get_assets(&server, &server.token)
        .await
        .expect(200, "first request");
    let reply = get_assets(&server, &server.token).await;
    let seconds = assert_rate_limited(&reply, "second request within the same second");
    assert!(
        seconds <= 2,
        "at 1 request per second the wait is about a second, got {seconds}"
    );

    tokio::time::sleep(Duration::from_secs(seconds) + Duration::from_millis(100)).await;
    get_assets(&server, &server.token)
        .await
        .expect(200, "after waiting retry-after");
}

#[tokio::test]
async fn rate_limit_rejected_write_has_no_effect() {
    let server = TestServer::builder().arg("--rate-limit", "1").start();
    server.create_tag("first").await.expect(201, "first write");
    let reply = server.create_tag("second").await;
    assert_rate_limited(&reply, "second write within the same second");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let names: Vec<String> = server
        .tags_ok()
        .await
        .iter()
        .map(|tag| string_field(tag, "name").to_string())
        .collect();
    assert_eq!(
        names,
        vec!["first"],
        "the rate-limited POST /tags created nothing"
    );
}

#[tokio::test]
async fn rate_limit_is_per_token() {
    let server = TestServer::builder().arg("--rate-limit", "1").start();
    let second_token = server.create_token(REPOSITORY, &[]);
    get_assets(&server, &server.token)
        .await
        .expect(200, "first token");
    assert_rate_limited(
        &get_assets(&server, &server.token).await,
        "first token again",
    );
    get_assets(&server, &second_token)
        .await
        .expect(200, "another token has its own budget");
}

#[tokio::test]
async fn rate_limit_burst() {
    let server = TestServer::builder()
        .arg("--rate-limit", "1")
        .arg("--rate-limit-burst", "3")
        .start();
    for attempt in 1..=3 {
        get_assets(&server, &server.token)
            .await
            .expect(200, &format!("request {attempt} of a burst of 3"));
    }
    assert_rate_limited(
        &get_assets(&server, &server.token).await,
        "fourth request of a burst of 3",
    );
}

#[tokio::test]
async fn rate_limit_from_environment_and_default() {
    let from_env = TestServer::builder()
        .without_rate_limit_flag()
        .env("MEDIALIB_RATE_LIMIT", "1")
        .start();
    get_assets(&from_env, &from_env.token)
        .await
        .expect(200, "first request, MEDIALIB_RATE_LIMIT=1");
    assert_rate_limited(
        &get_assets(&from_env, &from_env.token).await,
        "second request, MEDIALIB_RATE_LIMIT=1",
    );

    let off = TestServer::builder()
        .without_rate_limit_flag()
        .env("MEDIALIB_RATE_LIMIT", "0")
        .start();
    for attempt in 1..=5 {
        get_assets(&off, &off.token)
            .await
            .expect(200, &format!("request {attempt}, MEDIALIB_RATE_LIMIT=0"));
    }

    let default = TestServer::builder().without_rate_limit_flag().start();
    get_assets(&default, &default.token)
        .await
        .expect(200, "first request, default limit");
    assert_rate_limited(
        &get_assets(&default, &default.token).await,
        "second request, default of 1 per second",
    );
}

#[tokio::test]
async fn rate_limit_comes_after_auth_checks() {
    let server = TestServer::builder().arg("--rate-limit", "1").start();
    server.create_repository("other-repo");
    get_assets(&server, &server.token)
        .await
        .expect(200, "use up the token's budget");

    let missing_repository =
        send(server.request_as(Method::GET, "/assets", Some(&server.token), None)).await;
    missing_repository.expect_error(
        400,
        None,
        "missing repository header with an exhausted token",
    );
    let other = send(server.request_as(
        Method::GET,
        "/assets",
        Some(&server.token),
        Some("other-repo"),
    ))
    .await;
    other.expect_error(403, None, "another repository with an exhausted token");
    for _ in 0..3 {
        let unauthenticated =
            send(server.request_as(Method::GET, "/assets", None, Some(REPOSITORY))).await;
        unauthenticated.expect_error(401, None, "no token: not counted, never 429");
    }
}

#[tokio::test]
async fn rate_limit_skips_unmetered_routes() {
    let server = TestServer::builder().arg("--rate-limit", "1").start();
    let asset = server.upload_ok("photo.png", &fixtures::png(2, 2)).await;
    let file_url = string_field(&asset, "url")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    for attempt in 0..3 {
        server
            .fetch(&file_url, &[])
            .await
            .expect(200, &format!("file URL, attempt {attempt}"));
        let file_with_headers = server
            .fetch(
                &file_url,
                &[
                    ("authorization", &format!("Bearer {}", server.token)),
                    ("repository", REPOSITORY),
                ],
            )
            .await;
        file_with_headers.expect(
            200,
            &format!("file URL with the client's headers, attempt {attempt}"),
        );
        send(server.bare(Method::GET, "/health"))
            .await
            .expect(200, "GET /health");
        send(server.bare(Method::GET, "/metrics"))
            .await
            .expect(200, "GET /metrics");
        send(server.bare(Method::GET, "/openapi.json"))
            .await
            .expect(200, "GET /openapi.json");
        let preflight = send(
            server
                .bare(Method::OPTIONS, "/assets")
                .header("origin", "http://app.localhost:5173")
                .header("access-control-request-method", "GET")
                .header(
                    "access-control-request-headers",
                    "authorization, repository",
                ),
        )
        .await;
        assert!(
            (200..300).contains(&preflight.status),
            "CORS preflight, attempt {attempt}: status {}",
            preflight.status
        );
    }

    // None of the above used the token's budget.
    get_assets(&server, &server.token)
        .await
        .expect(200, "first API request after the unmetered ones");
}

#[tokio::test]
async fn rate_limit_failed_logins_per_email() {
    let server = TestServer::builder().arg("--rate-limit", "1").start();
    server.create_user("limited@example.com", "right password", &[REPOSITORY]);
    server.create_user("other@example.com", "right password", &[REPOSITORY]);

    let mut statuses = Vec::new();
    for _ in 0..10 {
        let reply = server.login("limited@example.com", "wrong password").await;
        if reply.status == 429 {
            assert_rate_limited(&reply, "repeated failed logins");
        } else {
            reply.expect_error(401, None, "failed login");
        }
        statuses.push(reply.status);
    }
    assert!(
        statuses.contains(&429),
        "10 failed logins in a row for one email should hit the limit: {statuses:?}"
    );

    let other = server.login("other@example.com", "wrong password").await;
    other.expect_error(
        401,
        None,
        "failed logins are limited per email, another email is not limited",
    );
}
