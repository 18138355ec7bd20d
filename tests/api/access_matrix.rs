//! The access matrix: every API route against every kind of credential, with the exact status expected, on real
//! assets and tags so that a success is a real success. Every response body is also searched for the assets, tags
//! and uploaders of another repository on the same server, which must never appear.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::fixtures;
use crate::helpers::{
    encode_unreserved, revoked_token, send, Multipart, Reply, TestServer, REPOSITORY,
};

const OTHER_REPOSITORY: &str = "other-secrets";
const EMAIL: &str = "matrix@example.com";
const OTHER_EMAIL: &str = "other@example.com";
const PASSWORD: &str = "correct horse battery";

/// An API route and the request that succeeds on it with a write token.
#[derive(Clone, Copy)]
enum Route {
    ListAssets,
    Upload,
    PatchAsset,
    DeleteAsset,
    BulkDelete,
    ListTags,
    CreateTag,
    RenameTag,
    DeleteTag,
    AssignTag,
    UnassignTag,
    ListUploaders,
}

const ROUTES: [Route; 12] = [
    Route::ListAssets,
    Route::Upload,
    Route::PatchAsset,
    Route::DeleteAsset,
    Route::BulkDelete,
    Route::ListTags,
    Route::CreateTag,
    Route::RenameTag,
    Route::DeleteTag,
    Route::AssignTag,
    Route::UnassignTag,
    Route::ListUploaders,
];

impl Route {
    fn is_write(self) -> bool {
        !matches!(
            self,
            Route::ListAssets | Route::ListTags | Route::ListUploaders
        )
    }

    fn success(self) -> u16 {
        match self {
            Route::ListAssets
            | Route::Upload
            | Route::PatchAsset
            | Route::RenameTag
            | Route::ListTags => 200,
            Route::ListUploaders => 200,
            Route::CreateTag => 201,
            Route::DeleteAsset
            | Route::BulkDelete
            | Route::DeleteTag
            | Route::AssignTag
            | Route::UnassignTag => 204,
        }
    }
}

/// The credential columns of the matrix.
#[derive(Clone, Copy, Debug)]
enum Credential {
    NoToken,
    MalformedHeader,
    UnknownToken,
    RevokedToken,
    ExpiredSession,
    OtherRepositoryToken,
    ReadOnlyToken,
    ValidToken,
    ValidSession,
}

const CREDENTIALS: [Credential; 9] = [
    Credential::NoToken,
    Credential::MalformedHeader,
    Credential::UnknownToken,
    Credential::RevokedToken,
    Credential::ExpiredSession,
    Credential::OtherRepositoryToken,
    Credential::ReadOnlyToken,
    Credential::ValidToken,
    Credential::ValidSession,
];

impl Credential {
    fn expected(self, route: Route) -> u16 {
        match self {
            Credential::NoToken
            | Credential::MalformedHeader
            | Credential::UnknownToken
            | Credential::RevokedToken
            | Credential::ExpiredSession => 401,
            Credential::OtherRepositoryToken => 403,
            Credential::ReadOnlyToken if route.is_write() => 403,
            Credential::ReadOnlyToken | Credential::ValidToken | Credential::ValidSession => {
                route.success()
            }
        }
    }
}

/// Tokens of every column, for the repository `REPOSITORY` unless the name says otherwise.
struct Tokens {
    write: String,
    read_only: String,
    revoked: String,
    expired_session: String,
    session: String,
    other_repository: String,
}

impl Tokens {
    /// Returns the `authorization` header of a column, `None` for no header at all.
    fn header(&self, credential: Credential) -> Option<String> {
        let bearer = |token: &str| Some(format!("Bearer {token}"));
        match credential {
            Credential::NoToken => None,
            Credential::MalformedHeader => Some(format!("Token {}", self.write)),
            Credential::UnknownToken => bearer("mlt_unknown0000000000000000000000000000"),
            Credential::RevokedToken => bearer(&self.revoked),
            Credential::ExpiredSession => bearer(&self.expired_session),
            Credential::OtherRepositoryToken => bearer(&self.other_repository),
            Credential::ReadOnlyToken => bearer(&self.read_only),
            Credential::ValidToken => bearer(&self.write),
            Credential::ValidSession => bearer(&self.session),
        }
    }
}

/// Names and ids of the other repository's content, none of which may appear in a response about `REPOSITORY`.
struct Secrets(Vec<String>);

impl Secrets {
    fn assert_absent(&self, reply: &Reply, context: &str) {
        let body = reply.text();
        for secret in &self.0 {
            assert!(
                !body.contains(secret.as_str()),
                "{context}: the response reveals {secret:?} of another repository: {body}"
            );
        }
    }
}

#[tokio::test]
async fn every_route_every_credential() {
    // Sessions of this server last two seconds, so that one can expire during the test.
    let server = TestServer::builder().arg("--session-ttl", "2").start();
    server.create_repository(OTHER_REPOSITORY);
    server.create_user(EMAIL, PASSWORD, &[REPOSITORY]);
    let expired_session = server.login_ok(EMAIL, PASSWORD).await;
    let secrets = fill_other_repository(&server).await;
    let mut tokens = Tokens {
        write: server.token.clone(),
        read_only: server.create_token(REPOSITORY, &["--read-only"]),
        revoked: revoked_token(&server, "matrix-revoked"),
        expired_session,
        session: String::new(),
        other_repository: server.create_token(OTHER_REPOSITORY, &[]),
    };
    tokio::time::sleep(Duration::from_millis(2100)).await;
    server.validate(&tokens.expired_session).await.expect_error(
        401,
        None,
        "precondition: the first session has expired",
    );

    let mut sequence = 0;
    for route in ROUTES {
        for credential in CREDENTIALS {
            sequence += 1;
            let target = Target::create(&server, sequence).await;
            if matches!(credential, Credential::ValidSession) {
                // A new session for each use, since sessions expire quickly here, by a user of its own, since
                // sign-ins are limited per email address.
                let email = format!("route-{sequence}@example.com");
                server.create_user(&email, PASSWORD, &[REPOSITORY]);
                tokens.session = server.login_ok(&email, PASSWORD).await;
            }
            let context = format!("{} with {credential:?}", route_label(route, &target));
            let reply =
                send_route(&server, route, &target, tokens.header(credential), sequence).await;

            let expected = credential.expected(route);
            if expected >= 400 {
                reply.expect_error(expected, None, &context);
            } else {
                reply.expect(expected, &context);
            }
            secrets.assert_absent(&reply, &context);
        }
    }

    let listing = server.walk_assets(&[], 1000).await;
    for page in &listing.pages {
        secrets.assert_absent_in_value(page, "the full listing at the end");
    }
    let tags = server.list_tags().await;
    secrets.assert_absent(&tags, "GET /tags at the end");
    let uploaders = server.uploaders().await;
    secrets.assert_absent(&uploaders, "GET /uploaders at the end");
}

#[tokio::test]
async fn other_repository_ids_unknown() {
    let server = TestServer::start();
    server.create_repository(OTHER_REPOSITORY);
    let secrets = fill_other_repository(&server).await;
    let other = server.create_token(OTHER_REPOSITORY, &[]);
    let form = Multipart::new().file("other-asset.png", &fixtures::png(2, 2));
    let request = server
        .request_as(
            Method::POST,
            "/assets",
            Some(&other),
            Some(OTHER_REPOSITORY),
        )
        .header("content-type", form.content_type())
        .body(form.body());
    let asset_id = send(request)
        .await
        .ok_json(200, "upload to the other repository")["id"]
        .as_str()
        .expect("asset id")
        .to_string();
    let request = server
        .request_as(Method::POST, "/tags", Some(&other), Some(OTHER_REPOSITORY))
        .json(&json!({ "name": "other-tag" }));
    let tag_id = send(request)
        .await
        .ok_json(201, "tag in the other repository")["id"]
        .as_str()
        .expect("tag id")
        .to_string();
    let own = server.upload_ok("own.png", &fixtures::png(2, 2)).await;
    let own_id = own["id"].as_str().expect("asset id");

    let asset_path = format!("/assets/{}", encode_unreserved(&asset_id));
    let tag_path = format!("/tags/{}", encode_unreserved(&tag_id));
    let cases: Vec<(Method, String, Option<Value>, u16)> = vec![
        (
            Method::PATCH,
            asset_path.clone(),
            Some(json!({ "notes": "x" })),
            404,
        ),
        (Method::DELETE, asset_path, None, 404),
        (
            Method::POST,
            "/assets/bulk-delete".into(),
            Some(json!({ "ids": [asset_id] })),
            404,
        ),
        (
            Method::PATCH,
            tag_path.clone(),
            Some(json!({ "name": "renamed" })),
            404,
        ),
        (Method::DELETE, tag_path.clone(), None, 404),
        (
            Method::POST,
            format!("{tag_path}/assets"),
            Some(json!({ "assetIds": [own_id] })),
            404,
        ),
        (
            Method::PATCH,
            format!("/assets/{own_id}"),
            Some(json!({ "tags": [tag_id] })),
            400,
        ),
    ];
    for (method, path, body, status) in cases {
        let mut request = server.request(method.clone(), &path);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let reply = send(request).await;
        let context = format!("{method} {path} {body:?} with a token of {REPOSITORY}");
        reply.expect_error(status, None, &context);
        secrets.assert_absent(&reply, &context);
    }

    let page = server.list_ok(&[("ids", &asset_id)]).await;
    assert_eq!(
        page["items"],
        json!([]),
        "another repository's asset is not listed by id: {page}"
    );
    assert_eq!(
        page["missing_ids"],
        json!([asset_id]),
        "it is reported missing: {page}"
    );
    let page = server.list_ok(&[("tags", &tag_id)]).await;
    assert_eq!(
        page["items"],
        json!([]),
        "another repository's tag matches nothing here: {page}"
    );
    let reply =
        send(server.request_as(Method::GET, "/assets", Some(&other), Some(OTHER_REPOSITORY))).await;
    assert!(
        !reply.text().contains(own_id),
        "the other repository's listing shows an asset of {REPOSITORY}: {}",
        reply.text()
    );
}

impl Secrets {
    fn assert_absent_in_value(&self, value: &Value, context: &str) {
        let body = value.to_string();
        for secret in &self.0 {
            assert!(
                !body.contains(secret.as_str()),
                "{context} reveals {secret:?} of another repository: {body}"
            );
        }
    }
}

/// Uploads an asset with notes, a tag and a user's upload into the other repository, and returns what identifies
/// them.
async fn fill_other_repository(server: &TestServer) -> Secrets {
    let user_id = server.create_user(OTHER_EMAIL, PASSWORD, &[OTHER_REPOSITORY]);
    let session = server.login_ok(OTHER_EMAIL, PASSWORD).await;
    let form = Multipart::new()
        .file("confidential-plan.png", &fixtures::png(3, 3))
        .text("notes", "confidential-notes");
    let request = server
        .request_as(
            Method::POST,
            "/assets",
            Some(&session),
            Some(OTHER_REPOSITORY),
        )
        .header("content-type", form.content_type())
        .body(form.body());
    let asset = send(request)
        .await
        .ok_json(200, "upload to the other repository");
    let request = server
        .request_as(
            Method::POST,
            "/tags",
            Some(&session),
            Some(OTHER_REPOSITORY),
        )
        .json(&json!({ "name": "confidential-tag" }));
    let tag = send(request)
        .await
        .ok_json(201, "tag in the other repository");
    let text = |value: &Value, key: &str| value[key].as_str().expect(key).to_string();
    Secrets(vec![
        text(&asset, "id"),
        "confidential-plan".into(),
        "confidential-notes".into(),
        text(&tag, "id"),
        "confidential-tag".into(),
        user_id,
    ])
}

/// An asset and a tag of `REPOSITORY` made for one cell of the matrix, since successful writes use them up.
struct Target {
    asset: String,
    tag: String,
}

impl Target {
    async fn create(server: &TestServer, sequence: usize) -> Target {
        let asset = server
            .upload_ok(&format!("cell-{sequence}.png"), &fixtures::png(2, 2))
            .await;
        let tag = server.create_tag_ok(&format!("cell-{sequence}")).await;
        let id = |value: &Value| value["id"].as_str().expect("id").to_string();
        Target {
            asset: id(&asset),
            tag: id(&tag),
        }
    }
}

fn route_request(
    route: Route,
    target: &Target,
    sequence: usize,
) -> (Method, String, Option<Value>) {
    let asset = encode_unreserved(&target.asset);
    let tag = encode_unreserved(&target.tag);
    let asset_ids = json!({ "assetIds": [target.asset] });
    match route {
        Route::ListAssets => (Method::GET, "/assets".into(), None),
        Route::Upload => (Method::POST, "/assets".into(), None),
        Route::PatchAsset => (
            Method::PATCH,
            format!("/assets/{asset}"),
            Some(json!({ "notes": "changed" })),
        ),
        Route::DeleteAsset => (Method::DELETE, format!("/assets/{asset}"), None),
        Route::BulkDelete => (
            Method::POST,
            "/assets/bulk-delete".into(),
            Some(json!({ "ids": [target.asset] })),
        ),
        Route::ListTags => (Method::GET, "/tags".into(), None),
        Route::CreateTag => (
            Method::POST,
            "/tags".into(),
            Some(json!({ "name": format!("new-{sequence}") })),
        ),
        Route::RenameTag => (
            Method::PATCH,
            format!("/tags/{tag}"),
            Some(json!({ "name": format!("renamed-{sequence}") })),
        ),
        Route::DeleteTag => (Method::DELETE, format!("/tags/{tag}"), None),
        Route::AssignTag => (Method::POST, format!("/tags/{tag}/assets"), Some(asset_ids)),
        Route::UnassignTag => (
            Method::DELETE,
            format!("/tags/{tag}/assets"),
            Some(asset_ids),
        ),
        Route::ListUploaders => (Method::GET, "/uploaders".into(), None),
    }
}

fn route_label(route: Route, target: &Target) -> String {
    let (method, path, _) = route_request(route, target, 0);
    format!("{method} {path}")
}

async fn send_route(
    server: &TestServer,
    route: Route,
    target: &Target,
    authorization: Option<String>,
    sequence: usize,
) -> Reply {
    let (method, path, body) = route_request(route, target, sequence);
    let mut request = server.bare(method, &path).header("repository", REPOSITORY);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    if matches!(route, Route::Upload) {
        let form = Multipart::new().file(&format!("upload-{sequence}.png"), &fixtures::png(2, 2));
        request = request
            .header("content-type", form.content_type())
            .body(form.body());
    } else if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await
}
