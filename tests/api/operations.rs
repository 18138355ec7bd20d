//! Operations: health, metrics, the OpenAPI document, the web page, the request log, CORS, the first start on an
//! empty database, graceful shutdown and unknown routes.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fixtures;
use crate::helpers::{json_rows, send, string_field, Reply, TestServer, REPOSITORY};

#[tokio::test]
async fn health_metrics_and_page_need_no_headers() {
    let server = TestServer::start();
    send(server.bare(Method::GET, "/health"))
        .await
        .expect(200, "GET /health once listening");

    server.list_ok(&[]).await;
    let metrics = send(server.bare(Method::GET, "/metrics")).await;
    metrics.expect(200, "GET /metrics");
    let text = metrics.text();
    assert!(text.contains("# TYPE"), "Prometheus text format: {text}");
    assert!(
        text.contains("/assets"),
        "requests are counted by route: {text}"
    );

    let page = send(server.bare(Method::GET, "/")).await;
    page.expect(200, "GET / (the web page)");
    let content_type = page.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/html"),
        "the page is HTML, got {content_type:?}"
    );
}

#[tokio::test]
async fn metrics_start_at_zero() {
    let server = TestServer::start();
    let metrics = send(server.bare(Method::GET, "/metrics")).await;
    metrics.expect(200, "GET /metrics of a fresh server");
    let text = metrics.text();
    for series in [
        "medialib_uploads_in_flight 0",
        "medialib_uploaded_bytes_total 0",
        "medialib_renders_total 0",
    ] {
        assert!(
            text.lines().any(|line| line == series),
            "a fresh server's metrics lack `{series}`: {text}"
        );
    }
}

#[tokio::test]
async fn openapi_document_lists_every_endpoint() {
    let server = TestServer::start();
    let reply = send(server.bare(Method::GET, "/openapi.json")).await;
    let document = reply.ok_json(200, "GET /openapi.json");
    let version = document["openapi"].as_str().unwrap_or_default();
    assert!(
        version.starts_with("3.1"),
        "an OpenAPI 3.1 document, got version {version:?}"
    );

    let paths = document["paths"].as_object().expect("paths object");
    let expected: [(&str, &[&str]); 9] = [
        ("/assets", &["get", "post"]),
        ("/assets/{id}", &["patch", "delete"]),
        ("/assets/bulk-delete", &["post"]),
        ("/tags", &["get", "post"]),
        ("/tags/{id}", &["patch", "delete"]),
        ("/tags/{id}/assets", &["post", "delete"]),
        ("/uploaders", &["get"]),
        ("/login", &["post"]),
        ("/validate", &["get"]),
    ];
    for (path, methods) in expected {
        let operations = paths
            .get(path)
            .unwrap_or_else(|| panic!("the document should describe {path}"));
        for method in methods {
            assert!(
                operations.get(*method).is_some(),
                "the document should describe {method} {path}"
            );
        }
    }
    assert!(
        paths.contains_key("/refreshtoken"),
        "the document should describe /refreshtoken"
    );

    let listing_responses = &paths["/assets"]["get"]["responses"];
    assert!(
        listing_responses.get("429").is_some(),
        "GET /assets documents its 429: {listing_responses}"
    );
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().expect("path item object") {
            assert!(
                operation["responses"].get("431").is_some(),
                "{method} {path} documents the 431 of too many or too large headers"
            );
        }
    }

    let file = &paths["/files/{repository}/{file}"]["get"];
    for status in ["200", "206", "304", "404", "416", "422", "503"] {
        assert!(
            file["responses"].get(status).is_some(),
            "GET of a file documents its {status}: {}",
            file["responses"]
        );
    }
    let parameters: Vec<&str> = file["parameters"]
        .as_array()
        .expect("parameters of the file route")
        .iter()
        .filter_map(|parameter| parameter["name"].as_str())
        .collect();
    for name in ["w", "h", "fit", "rect", "dpr", "q", "fm", "auto"] {
        assert!(
            parameters.contains(&name),
            "GET of a file documents the image parameter {name:?}: {parameters:?}"
        );
    }
}

/// Waits until a stderr line satisfies `predicate`, up to 5 s, and returns it.
async fn wait_for_log_line(
    server: &TestServer,
    predicate: impl Fn(&str) -> bool,
) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(line) = server
            .stderr_lines()
            .into_iter()
            .find(|line| predicate(line))
        {
            return Some(line);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn has_request_id(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    ["request_id", "request-id", "requestid", "request.id"]
        .iter()
        .any(|key| lower.contains(key))
}

#[tokio::test]
async fn request_log_line_without_secrets() {
    let server = TestServer::start();
    let marker = "FILE-CONTENT-MARKER-5b1d";
    let asset = server.upload_ok("logged.txt", marker.as_bytes()).await;
    let id = string_field(&asset, "id");
    server
        .list_ok(&[("keyword", "secret-keyword-91f3"), ("limit", "5")])
        .await;
    server
        .patch_asset(id, &json!({ "notes": "x" }))
        .await
        .expect(200, "PATCH");

    let listing = wait_for_log_line(&server, |line| {
        line.contains("GET") && line.contains("/assets")
    })
    .await;
    let listing = listing.unwrap_or_else(|| {
        panic!(
            "no request log line for GET /assets:\n{:#?}",
            server.stderr_lines()
        )
    });
    assert!(
        listing.contains("200"),
        "the log line has the status: {listing}"
    );
    assert!(
        has_request_id(&listing),
        "the log line has a request id: {listing}"
    );

    let patch = wait_for_log_line(&server, |line| line.contains("PATCH")).await;
    let patch = patch.unwrap_or_else(|| {
        panic!(
            "no request log line for PATCH:\n{:#?}",
            server.stderr_lines()
        )
    });
    assert!(
        patch.contains("/assets/{id}"),
        "the log names the matched route, not the path: {patch}"
    );

    for line in server.stderr_lines() {
        assert!(
            !line.contains(&server.token),
            "a log line contains the token: {line}"
        );
        assert!(
            !line.contains("secret-keyword-91f3"),
            "a log line contains the query string: {line}"
        );
        assert!(
            !line.contains(marker),
            "a log line contains file contents: {line}"
        );
    }
}

#[tokio::test]
async fn json_log_format() {
    let server = TestServer::builder().arg("--log-format", "json").start();
    server.list_ok(&[]).await;
    let line = wait_for_log_line(&server, |line| line.contains("/assets")).await;
    let line = line.unwrap_or_else(|| panic!("no request log line:\n{:#?}", server.stderr_lines()));
    let parsed: Result<Value, _> = serde_json::from_str(&line);
    assert!(
        parsed.is_ok(),
        "with --log-format json the request line is JSON: {line}"
    );
}

/// Sends a CORS preflight for a PATCH with the client's headers.
async fn preflight(server: &TestServer, origin: &str) -> Reply {
    send(
        server
            .bare(Method::OPTIONS, "/assets/some-id")
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header(
                "access-control-request-headers",
                "authorization, repository, content-type",
            ),
    )
    .await
}

#[tokio::test]
async fn cors_allows_any_origin_by_default() {
    let server = TestServer::start();
    let origin = "http://app.localhost:5173";

    let reply = preflight(&server, origin).await;
    assert!(
        (200..300).contains(&reply.status),
        "preflight status {}",
        reply.status
    );
    let allowed = reply
        .header("access-control-allow-origin")
        .unwrap_or_default();
    assert!(
        allowed == "*" || allowed == origin,
        "preflight allow-origin {allowed:?}"
    );
    let methods = reply
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(
        methods.contains("PATCH") || methods == "*",
        "PATCH is allowed: {methods:?}"
    );
    // A `*` in Access-Control-Allow-Headers does not cover `authorization`, so it must be listed.
    let headers = reply
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization"),
        "authorization is allowed by name: {headers:?}"
    );
    assert!(
        headers.contains("repository") || headers == "*",
        "repository is allowed: {headers:?}"
    );

    let listing = send(
        server
            .request(Method::GET, "/assets")
            .header("origin", origin),
    )
    .await;
    listing.expect(200, "GET /assets with an origin");
    let allowed = listing
        .header("access-control-allow-origin")
        .unwrap_or_default();
    assert!(
        allowed == "*" || allowed == origin,
        "responses carry the allowed origin, got {allowed:?}"
    );

    let unauthorized = send(server.bare(Method::GET, "/assets").header("origin", origin)).await;
    unauthorized.expect_error(401, None, "no token, with an origin");
    assert!(
        unauthorized.header("access-control-allow-origin").is_some(),
        "error responses carry the allowed origin too, so browsers can read them"
    );
}

#[tokio::test]
async fn cors_configured_origins() {
    let server = TestServer::builder()
        .arg(
            "--cors-origins",
            "http://allowed.localhost:3000,http://second.localhost:4000",
        )
        .start();
    for origin in [
        "http://allowed.localhost:3000",
        "http://second.localhost:4000",
    ] {
        let reply = preflight(&server, origin).await;
        assert!(
            (200..300).contains(&reply.status),
            "preflight from {origin}: status {}",
            reply.status
        );
        assert_eq!(
            reply.header("access-control-allow-origin").as_deref(),
            Some(origin),
            "preflight from {origin}"
        );
    }
    let reply = preflight(&server, "http://evil.localhost:6666").await;
    let allowed = reply.header("access-control-allow-origin");
    assert!(
        allowed.is_none() || allowed.as_deref() == Some("http://allowed.localhost:3000"),
        "a foreign origin is not allowed, got {allowed:?}"
    );
    assert_ne!(allowed.as_deref(), Some("*"));
}

/// Returns the token of the curl example printed on stdout, waiting up to 5 s for it.
async fn wait_for_curl_example(server: &TestServer) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stdout = server.stdout_text();
        if stdout.contains("curl") {
            if let Some(start) = stdout.find("Bearer ") {
                let token: String = stdout[start + "Bearer ".len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '\\'))
                    .collect();
                return Some(token);
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn first_start_creates_demo_repository() {
    let server = TestServer::builder().empty_database().start();
    let token = wait_for_curl_example(&server).await.unwrap_or_else(|| {
        panic!(
            "no curl example with a Bearer token on stdout: {:?}",
            server.stdout_text()
        )
    });
    let stdout = server.stdout_text();
    assert!(
        stdout.contains("/assets"),
        "the curl example uploads to /assets: {stdout}"
    );
    assert!(
        stdout.contains("repository: demo"),
        "the curl example sends the demo repository: {stdout}"
    );

    let rows = json_rows(&server.cli(&["repository", "list", "--json"]).json());
    let names: Vec<&str> = rows.iter().filter_map(|row| row["name"].as_str()).collect();
    assert_eq!(names, vec!["demo"]);

    let form = crate::helpers::Multipart::new().file("first.png", &fixtures::png(2, 2));
    let request = server
        .request_as(Method::POST, "/assets", Some(&token), Some("demo"))
        .header("content-type", form.content_type())
        .body(form.body());
    send(request)
        .await
        .expect(200, "upload with the printed token");

    // A second start on the same database creates and prints nothing.
    let data_dir = server.stop();
    let again = TestServer::builder()
        .empty_database()
        .data_dir(data_dir)
        .start();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !again.stdout_text().contains("curl"),
        "the example is printed once: {}",
        again.stdout_text()
    );
    let rows = json_rows(&again.cli(&["repository", "list", "--json"]).json());
    assert_eq!(rows.len(), 1, "demo is created once: {rows:?}");
}

#[tokio::test]
async fn first_start_not_when_repository_exists() {
    let server = TestServer::start();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !server.stdout_text().contains("curl"),
        "a database with a repository gets no demo"
    );
    let rows = json_rows(&server.cli(&["repository", "list", "--json"]).json());
    let names: Vec<&str> = rows.iter().filter_map(|row| row["name"].as_str()).collect();
    assert_eq!(names, vec![REPOSITORY]);
}

#[tokio::test]
async fn graceful_shutdown_on_sigterm() {
    let mut server = TestServer::start();
    server
        .upload_ok("before-stop.txt", b"written before SIGTERM")
        .await;
    server.list_ok(&[]).await;
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed");
    let exit = server
        .wait_for_exit(Duration::from_secs(15))
        .expect("the server should exit after SIGTERM");
    assert!(
        exit.success(),
        "a graceful shutdown exits with 0, got {exit}"
    );

    // On SQLite, closing the last connection copies the log into the database file and deletes the log.
    if std::env::var_os("MEDIALIB_TEST_DATABASE_URL").is_none() {
        let log = server.data_dir().join("medialib.sqlite-wal");
        let log_size = std::fs::metadata(&log).map_or(0, |metadata| metadata.len());
        assert_eq!(
            log_size, 0,
            "the server left a write-ahead log of {log_size} bytes"
        );
    }
}

#[tokio::test]
async fn unknown_route_is_json_404() {
    let server = TestServer::start();
    let reply = send(server.request(Method::GET, "/no-such-route")).await;
    reply.expect_error(404, None, "an unknown route");
    let reply = send(server.request(Method::PUT, "/assets")).await;
    reply.expect_error(405, None, "an unsupported method on a known route");
}

/// Returns whether any file under `dir` starts with `prefix` (stored objects hold the file's bytes from the start).
fn data_dir_has_file_starting_with(dir: &std::path::Path, prefix: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if data_dir_has_file_starting_with(&path, prefix) {
                return true;
            }
        } else if let Ok(mut file) = std::fs::File::open(&path) {
            let mut head = vec![0u8; prefix.len()];
            if std::io::Read::read_exact(&mut file, &mut head).is_ok() && head == prefix {
                return true;
            }
        }
    }
    false
}

#[tokio::test]
async fn acknowledged_upload_survives_kill() {
    let server = TestServer::start();
    let bytes = fixtures::png(3, 3);
    let asset = server.upload_ok("durable.png", &bytes).await;
    let token = server.token.clone();

    // SIGKILL right after the acknowledgement, then a new server on the same directory.
    let data_dir = server.stop();
    let mut again = TestServer::builder()
        .empty_database()
        .data_dir(data_dir)
        .start();
    again.token = token;
    let stored = again.asset(string_field(&asset, "id")).await;
    assert_eq!(stored["filename"], "durable.png");
    let path = string_field(&asset, "url")
        .split_once("/files/")
        .map(|(_, path)| format!("/files/{path}"))
        .unwrap();
    let file = again
        .fetch(&again.url(path.split('?').next().unwrap()), &[])
        .await;
    file.expect(200, "the file of an acknowledged upload after a kill");
    assert_eq!(file.body, bytes);
}

#[tokio::test]
async fn interrupted_upload_leaves_nothing_behind() {
    let server = TestServer::builder()
        .arg("--upload-grace-period", "2")
        .start();
    let token = server.token.clone();
    let prefix = b"INTERRUPTED-UPLOAD-MARKER-7c4e;";
    // Large enough that a streaming server has written bytes to storage before the body ends.
    let content = prefix.repeat(300_000);
    let form = crate::helpers::Multipart::new().file("interrupted.bin", &content);
    let body = form.body();
    let mut request = format!(
        "POST /assets HTTP/1.1\r\nHost: {}\r\nrepository: {REPOSITORY}\r\nauthorization: Bearer {token}\r\n\
         content-type: {}\r\ncontent-length: {}\r\n\r\n",
        server.addr,
        form.content_type(),
        body.len() + 10
    )
    .into_bytes();
    request.extend_from_slice(&body[..body.len() - 200]);

    // The body stalls before its end, and the server is killed while it waits for the rest. The kill waits until the
    // first part of the upload is on disk, which a loaded machine may take seconds to reach.
    let address = server.addr;
    let client = tokio::spawn(async move {
        crate::helpers::raw_http(address, &request, true, Duration::from_secs(60)).await
    });
    // With MEDIALIB_TEST_STORAGE_URL the bytes go to the S3 test server, whose root directory (S3_ROOT, from
    // scripts/s3.sh) contains objects and the parts of multipart uploads as files.
    let s3_root = std::env::var_os("MEDIALIB_TEST_STORAGE_URL")
        .and(std::env::var_os("S3_ROOT"))
        .map(std::path::PathBuf::from);
    let stored = |data_dir: &std::path::Path| match &s3_root {
        Some(root) => data_dir_has_file_starting_with(root, prefix),
        None => data_dir_has_file_starting_with(data_dir, prefix),
    };
    let written_by = Instant::now() + Duration::from_secs(30);
    while !stored(server.data_dir()) && Instant::now() < written_by {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let data_dir = server.stop();
    client.abort();
    assert!(
        stored(data_dir.path()),
        "precondition: the upload streamed its first bytes to storage before the kill"
    );

    let mut again = TestServer::builder()
        .arg("--upload-grace-period", "2")
        .empty_database()
        .data_dir(data_dir)
        .start();
    again.token = token;
    let page = again.list_ok(&[]).await;
    assert_eq!(
        page["total"], 0,
        "an interrupted upload has no asset row: {page}"
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    while stored(again.data_dir()) {
        assert!(
            Instant::now() < deadline,
            "the bytes of the interrupted upload were not swept after the grace period: {}",
            list_files(s3_root.as_deref().unwrap_or(again.data_dir()))
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Lists the files under `dir` with their sizes, for failure messages.
fn list_files(dir: &std::path::Path) -> String {
    let mut listing = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return listing;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            listing.push_str(&list_files(&path));
        } else {
            let size = entry.metadata().map(|metadata| metadata.len()).unwrap_or(0);
            listing.push_str(&format!("\n  {} ({size} bytes)", path.display()));
        }
    }
    listing
}

#[tokio::test]
async fn upload_slower_than_grace_period_keeps_its_bytes() {
    let server = TestServer::builder()
        .arg("--upload-grace-period", "1")
        .start();
    let content = b"slow but steady;".repeat(4096);
    let form = crate::helpers::Multipart::new().file("steady.bin", &content);
    let body = form.body();
    let head = format!(
        "POST /assets HTTP/1.1\r\nHost: {}\r\nrepository: {REPOSITORY}\r\nauthorization: Bearer {}\r\n\
         content-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        server.addr,
        server.token,
        form.content_type(),
        body.len()
    );

    // The body takes about three grace periods, in pieces 300 ms apart; the sweeper runs every second meanwhile.
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send the headers");
    for piece in body.chunks(body.len() / 10 + 1) {
        stream
            .write_all(piece)
            .await
            .expect("send a piece of the body");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response))
        .await
        .expect("a response within the guard")
        .expect("read the response");
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "an upload longer than the grace period succeeds: {response}"
    );

    // The bytes stay after more sweeps.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let asset = server.list_ok(&[]).await["items"][0].clone();
    let file = server
        .fetch(string_field(&asset, "url").split('?').next().unwrap(), &[])
        .await;
    file.expect(200, "the file of the slow upload after further sweeps");
    assert_eq!(file.body, content);
}
