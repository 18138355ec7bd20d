//! Authentication and access on API routes: token first (401), then the `repository` header (400), then access
//! (403); read-only tokens; repeated slashes in paths.

use reqwest::Method;
use serde_json::{json, Value};

use crate::fixtures;
use crate::helpers::{
    json_rows, revoked_token, send, string_field, Multipart, Reply, TestServer, REPOSITORY,
};

/// Lists every API route, with a body where it needs one. Ids are unknown on purpose because the auth checks come first.
fn api_routes() -> Vec<(Method, String, Option<Value>)> {
    let tag = "0b5c1a0e-6b1f-4c4e-9a57-2f6f0f6f0f6f";
    let asset_ids = json!({ "assetIds": ["doesnotexist0000"] });
    vec![
        (Method::GET, "/assets".into(), None),
        (Method::POST, "/assets".into(), None),
        (
            Method::PATCH,
            "/assets/doesnotexist0000".into(),
            Some(json!({ "notes": "x" })),
        ),
        (Method::DELETE, "/assets/doesnotexist0000".into(), None),
        (
            Method::POST,
            "/assets/bulk-delete".into(),
            Some(json!({ "ids": ["doesnotexist0000"] })),
        ),
        (Method::GET, "/tags".into(), None),
        (Method::POST, "/tags".into(), Some(json!({ "name": "new" }))),
        (
            Method::PATCH,
            format!("/tags/{tag}"),
            Some(json!({ "name": "x" })),
        ),
        (Method::DELETE, format!("/tags/{tag}"), None),
        (
            Method::POST,
            format!("/tags/{tag}/assets"),
            Some(asset_ids.clone()),
        ),
        (
            Method::DELETE,
            format!("/tags/{tag}/assets"),
            Some(asset_ids),
        ),
        (Method::GET, "/uploaders".into(), None),
    ]
}

/// Sends a request to an API route with the given token and repository header; `POST /assets` gets a valid
/// multipart body.
async fn call(
    server: &TestServer,
    method: &Method,
    path: &str,
    body: &Option<Value>,
    token: Option<&str>,
    repository: Option<&str>,
) -> Reply {
    let mut request = server.request_as(method.clone(), path, token, repository);
    if *method == Method::POST && path == "/assets" {
        let form = Multipart::new().file("auth.png", &fixtures::png(2, 2));
        request = request
            .header("content-type", form.content_type())
            .body(form.body());
    } else if let Some(body) = body {
        request = request.json(body);
    }
    send(request).await
}

#[tokio::test]
async fn auth_order_on_every_route() {
    let server = TestServer::start();
    server.create_repository("other-repo");
    let revoked = revoked_token(&server, "to-revoke");
    let token = server.token.clone();

    let cases: Vec<(&str, Option<&str>, Option<&str>, u16)> = vec![
        ("no token, no repository", None, None, 401),
        ("no token", None, Some(REPOSITORY), 401),
        (
            "unknown token",
            Some("not-a-real-token"),
            Some(REPOSITORY),
            401,
        ),
        (
            "unknown token, no repository",
            Some("not-a-real-token"),
            None,
            401,
        ),
        ("revoked token", Some(&revoked), Some(REPOSITORY), 401),
        ("revoked token, no repository", Some(&revoked), None, 401),
        ("valid token, no repository", Some(&token), None, 400),
        (
            "token of another repository",
            Some(&token),
            Some("other-repo"),
            403,
        ),
        (
            "unknown repository",
            Some(&token),
            Some("no-such-repo"),
            403,
        ),
    ];
    for (method, path, body) in api_routes() {
        for (label, token, repository, status) in &cases {
            let reply = call(&server, &method, &path, &body, *token, *repository).await;
            reply.expect_error(*status, None, &format!("{method} {path} with {label}"));
        }
    }
    assert_eq!(
        server.list_ok(&[]).await["total"],
        0,
        "no rejected upload was stored"
    );
}

#[tokio::test]
async fn auth_malformed_authorization_is_401() {
    let server = TestServer::start();
    for value in [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Token abc",
        server.token.as_str(),
    ] {
        let request = server
            .bare(Method::GET, "/assets")
            .header("authorization", value)
            .header("repository", REPOSITORY);
        send(request)
            .await
            .expect_error(401, None, &format!("authorization: {value:?}"));
    }
}

#[tokio::test]
async fn auth_other_repository_not_revealed() {
    let server = TestServer::start();
    server.create_repository("other-repo");

    let existing = call(
        &server,
        &Method::GET,
        "/assets",
        &None,
        Some(&server.token),
        Some("other-repo"),
    )
    .await;
    let unknown = call(
        &server,
        &Method::GET,
        "/assets",
        &None,
        Some(&server.token),
        Some("none-such"),
    )
    .await;
    existing.expect_error(403, None, "another existing repository");
    unknown.expect_error(403, None, "an unknown repository");
    let (existing, unknown) = (existing.json(), unknown.json());
    assert_eq!(
        existing["error"], unknown["error"],
        "the same code whether or not the repository exists"
    );
    assert_eq!(
        existing["message"]
            .as_str()
            .unwrap()
            .replace("other-repo", "NAME"),
        unknown["message"]
            .as_str()
            .unwrap()
            .replace("none-such", "NAME"),
        "the same message whether or not the repository exists"
    );

    let invalid_name = call(
        &server,
        &Method::GET,
        "/assets",
        &None,
        Some(&server.token),
        Some("AB"),
    )
    .await;
    invalid_name.expect_error(403, None, "a repository name that cannot exist");

    // The other repository's token cannot reach this one either.
    let their_token = server.create_token("other-repo", &[]);
    let reply = call(
        &server,
        &Method::GET,
        "/assets",
        &None,
        Some(&their_token),
        Some(REPOSITORY),
    )
    .await;
    reply.expect_error(403, None, "token of other-repo on acme-test");
    let reply = call(
        &server,
        &Method::GET,
        "/assets",
        &None,
        Some(&their_token),
        Some("other-repo"),
    )
    .await;
    reply.expect(200, "token of other-repo on other-repo");
}

#[tokio::test]
async fn auth_read_only_token() {
    let server = TestServer::start();
    let asset = server.upload_ok("photo.png", &fixtures::png(2, 2)).await;
    let tag = server.create_tag_ok("existing").await;
    let read_only = server.create_token(REPOSITORY, &["--read-only"]);

    for path in ["/assets", "/tags", "/uploaders"] {
        let reply = call(
            &server,
            &Method::GET,
            path,
            &None,
            Some(&read_only),
            Some(REPOSITORY),
        )
        .await;
        reply.expect(200, &format!("read-only token on GET {path}"));
    }

    let asset_path = format!("/assets/{}", string_field(&asset, "id"));
    let tag_path = format!("/tags/{}", string_field(&tag, "id"));
    let tag_assets_path = format!("{tag_path}/assets");
    let asset_ids = json!({ "assetIds": [asset["id"]] });
    let writes: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::POST, "/assets", None),
        (Method::PATCH, &asset_path, Some(json!({ "notes": "x" }))),
        (Method::DELETE, &asset_path, None),
        (
            Method::POST,
            "/assets/bulk-delete",
            Some(json!({ "ids": [asset["id"]] })),
        ),
        (Method::POST, "/tags", Some(json!({ "name": "new" }))),
        (Method::PATCH, &tag_path, Some(json!({ "name": "renamed" }))),
        (Method::DELETE, &tag_path, None),
        (Method::POST, &tag_assets_path, Some(asset_ids.clone())),
        (Method::DELETE, &tag_assets_path, Some(asset_ids)),
    ];
    for (method, path, body) in &writes {
        let reply = call(
            &server,
            method,
            path,
            body,
            Some(&read_only),
            Some(REPOSITORY),
        )
        .await;
        reply.expect_error(403, None, &format!("read-only token on {method} {path}"));
    }

    // Nothing changed.
    let stored = server.asset(string_field(&asset, "id")).await;
    assert_eq!(stored, asset);
    assert_eq!(server.tags_ok().await.len(), 1);
    assert_eq!(server.tags_ok().await[0]["name"], "existing");
}

#[tokio::test]
async fn auth_revocation_applies_at_once() {
    let server = TestServer::start();
    let token = server.create_token(REPOSITORY, &["--label", "short-lived"]);
    let reply = call(
        &server,
        &Method::GET,
        "/assets",
        &None,
        Some(&token),
        Some(REPOSITORY),
    )
    .await;
    reply.expect(200, "before revocation");

    let tokens = json_rows(&server.cli(&["token", "list", "--json"]).json());
    let row = tokens
        .iter()
        .find(|row| row["label"] == "short-lived")
        .expect("token row");
    let id = match &row["id"] {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    };
    server.cli(&["token", "revoke", &id]).success();

    let reply = call(
        &server,
        &Method::GET,
        "/assets",
        &None,
        Some(&token),
        Some(REPOSITORY),
    )
    .await;
    reply.expect_error(
        401,
        None,
        "right after `token revoke` on the running server",
    );
    let reply = call(
        &server,
        &Method::GET,
        "/assets",
        &None,
        Some(&server.token),
        Some(REPOSITORY),
    )
    .await;
    reply.expect(200, "other tokens keep working");
}

#[tokio::test]
async fn repeated_slashes_are_one() {
    let server = TestServer::start();

    let form = Multipart::new().file("slashes.png", &fixtures::png(2, 2));
    let request = server
        .request(Method::POST, "//assets")
        .header("content-type", form.content_type())
        .body(form.body());
    let asset = send(request).await.ok_json(200, "POST //assets");
    let id = string_field(&asset, "id");

    let page = send(server.request(Method::GET, "//assets"))
        .await
        .ok_json(200, "GET //assets");
    assert_eq!(page["total"], 1);
    let page = send(
        server
            .request(Method::GET, "///assets")
            .query(&[("ids", id)]),
    )
    .await
    .ok_json(200, "GET ///assets");
    assert_eq!(page["items"][0]["id"], id);

    let tag = send(
        server
            .request(Method::POST, "//tags")
            .json(&json!({ "name": "slashed" })),
    )
    .await;
    let tag = tag.ok_json(201, "POST //tags");
    let tags = send(server.request(Method::GET, "//tags"))
        .await
        .ok_json(200, "GET //tags");
    assert_eq!(tags["items"][0]["name"], "slashed");

    let patched = send(
        server
            .request(Method::PATCH, &format!("//assets/{id}"))
            .json(&json!({ "tags": [tag["id"]] })),
    )
    .await
    .ok_json(200, "PATCH //assets/{id}");
    assert_eq!(patched["tags"][0]["name"], "slashed");
    let patched = send(
        server
            .request(Method::PATCH, &format!("//assets//{id}"))
            .json(&json!({ "alt": "x" })),
    )
    .await
    .ok_json(200, "PATCH //assets//{id}");
    assert_eq!(patched["alt"], "x");

    send(server.request(Method::GET, "//uploaders"))
        .await
        .expect(200, "GET //uploaders");
    send(server.request(Method::DELETE, &format!("//assets/{id}")))
        .await
        .expect(204, "DELETE //assets/{id}");
}
