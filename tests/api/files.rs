//! File delivery under `/files/{repository}/{id}_{name}`: bytes, content type, caching headers, ranges, HEAD,
//! Content-Disposition and the security headers.

use serde_json::{json, Value};

use crate::fixtures;
use crate::helpers::{string_field, Multipart, Reply, TestServer, REPOSITORY};

const SANDBOX_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// Returns the asset's file URL without the imgix query.
fn file_url(asset: &Value) -> String {
    string_field(asset, "url")
        .split('?')
        .next()
        .unwrap()
        .to_string()
}

#[track_caller]
fn header(reply: &Reply, name: &str) -> String {
    reply.header(name).unwrap_or_else(|| {
        panic!(
            "{} should carry `{name}`; headers: {:?}",
            reply.request, reply.headers
        )
    })
}

/// Returns the `filename*` value of a Content-Disposition header, with the charset lower-cased.
fn extended_filename(disposition: &str) -> Option<String> {
    disposition.split(';').map(str::trim).find_map(|parameter| {
        let value = parameter.strip_prefix("filename*=")?;
        let (charset, rest) = value.split_once("''")?;
        Some(format!("{}''{rest}", charset.to_ascii_lowercase()))
    })
}

#[tokio::test]
async fn file_delivery_headers() {
    let server = TestServer::start();
    let bytes = fixtures::png(3, 2);
    let asset = server.upload_ok("photo.png", &bytes).await;

    let reply = server.fetch(&file_url(&asset), &[]).await;
    reply.expect(200, "GET of the file");
    assert_eq!(reply.body, bytes, "the stored bytes");
    assert_eq!(header(&reply, "content-type"), "image/png");
    assert_eq!(header(&reply, "content-length"), bytes.len().to_string());
    assert!(!header(&reply, "etag").is_empty());
    let last_modified = header(&reply, "last-modified");
    assert!(
        httpdate::parse_http_date(&last_modified).is_ok(),
        "Last-Modified should be an HTTP date: {last_modified}"
    );
    assert_eq!(header(&reply, "accept-ranges"), "bytes");
    assert!(!header(&reply, "cache-control").is_empty());
    assert_eq!(header(&reply, "x-content-type-options"), "nosniff");
    let disposition = header(&reply, "content-disposition");
    assert!(
        disposition.starts_with("inline"),
        "an image is shown inline: {disposition}"
    );
    assert_eq!(
        extended_filename(&disposition).as_deref(),
        Some("utf-8''photo.png"),
        "{disposition}"
    );

    // The same ETag on a second request, and a conditional request gets 304.
    let etag = header(&reply, "etag");
    let again = server.fetch(&file_url(&asset), &[]).await;
    assert_eq!(header(&again, "etag"), etag, "the ETag is stable");
    let conditional = server
        .fetch(&file_url(&asset), &[("if-none-match", &etag)])
        .await;
    conditional.expect(304, "If-None-Match with the current ETag");
    assert!(conditional.body.is_empty());
}

/// One stored file and the headers it must be served with.
struct DeliveryCase {
    filename: &'static str,
    bytes: Vec<u8>,
    content_type: &'static str,
    disposition: &'static str,
    sandboxed: bool,
}

fn delivery(
    filename: &'static str,
    bytes: Vec<u8>,
    content_type: &'static str,
    disposition: &'static str,
    sandboxed: bool,
) -> DeliveryCase {
    DeliveryCase {
        filename,
        bytes,
        content_type,
        disposition,
        sandboxed,
    }
}

#[tokio::test]
async fn file_content_type_and_disposition() {
    let server = TestServer::start();
    let cases = vec![
        delivery(
            "photo.png",
            fixtures::png(2, 2),
            "image/png",
            "inline",
            false,
        ),
        delivery(
            "photo.jpg",
            fixtures::jpeg(2, 2),
            "image/jpeg",
            "inline",
            false,
        ),
        delivery(
            "drawing.svg",
            fixtures::svg(r#"width="4" height="4""#),
            "image/svg+xml",
            "inline",
            true,
        ),
        delivery(
            "page.html",
            fixtures::html(),
            "text/html",
            "attachment",
            true,
        ),
        // Sniffing wins over the extension: HTML bytes named .png are HTML.
        delivery(
            "disguised.png",
            fixtures::html(),
            "text/html",
            "attachment",
            true,
        ),
        delivery("data.xml", fixtures::xml(), "xml", "attachment", false),
        delivery(
            "paper.pdf",
            fixtures::pdf(),
            "application/pdf",
            "inline",
            false,
        ),
        delivery("notes.txt", fixtures::text(), "text/plain", "inline", false),
        delivery(
            "blob.bin",
            fixtures::unknown_binary(),
            "application/octet-stream",
            "attachment",
            false,
        ),
        delivery("song.mp3", fixtures::mp3(), "audio/mpeg", "inline", false),
        delivery("clip.mp4", fixtures::mp4(), "video/mp4", "inline", false),
    ];
    for case in cases {
        let asset = server.upload_ok(case.filename, &case.bytes).await;
        let reply = server.fetch(&file_url(&asset), &[]).await;
        reply.expect(200, case.filename);
        assert_eq!(
            reply.body, case.bytes,
            "{}: the stored bytes",
            case.filename
        );
        let content_type = header(&reply, "content-type");
        if case.content_type == "xml" {
            assert!(
                content_type.starts_with("application/xml") || content_type.starts_with("text/xml"),
                "{}: Content-Type {content_type}",
                case.filename
            );
        } else {
            assert!(
                content_type.starts_with(case.content_type),
                "{}: Content-Type {content_type}, expected {}",
                case.filename,
                case.content_type
            );
        }
        let disposition = header(&reply, "content-disposition");
        assert!(
            disposition.starts_with(case.disposition),
            "{}: Content-Disposition {disposition}, expected {}",
            case.filename,
            case.disposition
        );
        assert_eq!(
            header(&reply, "x-content-type-options"),
            "nosniff",
            "{}",
            case.filename
        );
        if case.sandboxed {
            assert_eq!(
                header(&reply, "content-security-policy"),
                SANDBOX_CSP,
                "{}",
                case.filename
            );
        }
    }

    // Text named like an executable type never gets that type from its extension.
    for (filename, forbidden) in [("fake.html", "text/html"), ("fake.svg", "image/svg+xml")] {
        let asset = server.upload_ok(filename, &fixtures::text()).await;
        let reply = server.fetch(&file_url(&asset), &[]).await;
        reply.expect(200, filename);
        let content_type = header(&reply, "content-type");
        assert!(
            !content_type.starts_with(forbidden),
            "{filename}: plain text served as {content_type}"
        );
    }

    let empty = server.upload_ok("empty.txt", b"").await;
    let reply = server.fetch(&file_url(&empty), &[]).await;
    reply.expect(200, "an empty file");
    assert!(reply.body.is_empty());
}

#[tokio::test]
async fn file_disposition_follows_current_name() {
    let server = TestServer::start();
    let asset = server.upload_ok("Été 2024.png", &fixtures::png(2, 2)).await;
    let id = string_field(&asset, "id");
    let url = file_url(&asset);
    assert!(url.ends_with("_%C3%89t%C3%A9%202024.png"), "{url}");

    let reply = server.fetch(&url, &[]).await;
    reply.expect(200, "file with a non-ASCII name");
    let disposition = header(&reply, "content-disposition");
    assert_eq!(
        extended_filename(&disposition).as_deref(),
        Some("utf-8''%C3%89t%C3%A9%202024.png"),
        "{disposition}"
    );

    server
        .patch_asset(id, &json!({ "filename": "Nouveau nom.png" }))
        .await
        .expect(200, "rename");
    let reply = server.fetch(&url, &[]).await;
    reply.expect(200, "the uploaded URL still serves the file after a rename");
    let disposition = header(&reply, "content-disposition");
    assert_eq!(
        extended_filename(&disposition).as_deref(),
        Some("utf-8''Nouveau%20nom.png"),
        "{disposition}"
    );

    let renamed_url = format!(
        "{}/files/{REPOSITORY}/{id}_Nouveau%20nom.png",
        server.base_url
    );
    server.fetch(&renamed_url, &[]).await.expect_error(
        404,
        None,
        "the URL name must be the uploaded name",
    );
}

#[tokio::test]
async fn file_ranges_and_conditionals() {
    let server = TestServer::start();
    let bytes = fixtures::unknown_binary();
    let length = bytes.len();
    let asset = server.upload_ok("ranged.bin", &bytes).await;
    let url = file_url(&asset);
    let full = server.fetch(&url, &[]).await;
    full.expect(200, "full GET");
    let etag = header(&full, "etag");
    let last_modified = header(&full, "last-modified");

    let cases: Vec<(String, usize, usize)> = vec![
        ("bytes=0-3".to_string(), 0, 3),
        ("bytes=10-".to_string(), 10, length - 1),
        ("bytes=-5".to_string(), length - 5, length - 1),
        (
            format!("bytes={}-99999", length - 10),
            length - 10,
            length - 1,
        ),
    ];
    for (range, first, last) in cases {
        let range = range.as_str();
        let reply = server.fetch(&url, &[("range", range)]).await;
        reply.expect(206, range);
        assert_eq!(reply.body, bytes[first..=last].to_vec(), "{range}: body");
        assert_eq!(
            header(&reply, "content-range"),
            format!("bytes {first}-{last}/{length}"),
            "{range}"
        );
        assert_eq!(
            header(&reply, "content-length"),
            (last - first + 1).to_string(),
            "{range}"
        );
    }

    let beyond = server
        .fetch(&url, &[("range", &format!("bytes={length}-"))])
        .await;
    beyond.expect(416, "a range starting at the end");
    assert_eq!(
        header(&beyond, "content-range"),
        format!("bytes */{length}")
    );

    let multi = server.fetch(&url, &[("range", "bytes=0-1,4-5")]).await;
    multi.expect(200, "a multi-range request gets the whole file");
    assert_eq!(multi.body, bytes);

    let if_range = server
        .fetch(&url, &[("range", "bytes=0-3"), ("if-range", &etag)])
        .await;
    if_range.expect(206, "If-Range with the current ETag");
    assert_eq!(if_range.body, bytes[0..4].to_vec());
    let stale = server
        .fetch(
            &url,
            &[("range", "bytes=0-3"), ("if-range", "\"stale-etag\"")],
        )
        .await;
    stale.expect(200, "If-Range with a stale ETag gets the whole file");
    assert_eq!(stale.body, bytes);
    let by_date = server
        .fetch(
            &url,
            &[("range", "bytes=0-3"), ("if-range", &last_modified)],
        )
        .await;
    by_date.expect(206, "If-Range with the current Last-Modified");
    let old_date = server
        .fetch(
            &url,
            &[
                ("range", "bytes=0-3"),
                ("if-range", "Mon, 01 Jan 2001 00:00:00 GMT"),
            ],
        )
        .await;
    old_date.expect(200, "If-Range with an older date gets the whole file");

    let head = server.head(&url, &[]).await;
    head.expect(200, "HEAD");
    assert!(head.body.is_empty(), "HEAD has no body");
    assert_eq!(header(&head, "content-length"), length.to_string());
    assert_eq!(header(&head, "etag"), etag);
    assert_eq!(header(&head, "accept-ranges"), "bytes");
    assert_eq!(header(&head, "content-type"), header(&full, "content-type"));
}

#[tokio::test]
async fn file_not_found_cases() {
    let server = TestServer::start();
    let asset = server.upload_ok("photo.png", &fixtures::png(2, 2)).await;
    let id = string_field(&asset, "id");
    server.create_repository("other-repo");

    let paths = [
        format!("/files/{REPOSITORY}/{id}_other.png"),
        format!("/files/{REPOSITORY}/{id}_photo.PNG"),
        format!("/files/{REPOSITORY}/{id}_"),
        format!("/files/{REPOSITORY}/{id}"),
        format!("/files/{REPOSITORY}/doesnotexist0000_photo.png"),
        format!("/files/other-repo/{id}_photo.png"),
        format!("/files/no-such-repo/{id}_photo.png"),
        format!("/files/{REPOSITORY}/"),
        format!("/files/{REPOSITORY}/..%2F..%2Fmedialib.db"),
    ];
    for path in &paths {
        server
            .fetch(&server.url(path), &[])
            .await
            .expect_error(404, None, &format!("GET {path}"));
    }
    server
        .fetch(&file_url(&asset), &[])
        .await
        .expect(200, "the right URL");
}

#[tokio::test]
async fn file_ignores_api_headers() {
    let server = TestServer::start();
    let asset = server.upload_ok("photo.png", &fixtures::png(2, 2)).await;
    server.create_repository("other-repo");
    let header_sets: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("authorization", "Bearer not-a-real-token"),
            ("repository", REPOSITORY),
        ],
        vec![
            ("authorization", "Bearer not-a-real-token"),
            ("repository", "other-repo"),
        ],
        vec![("repository", "no-such-repo")],
        vec![("authorization", "Basic garbage")],
    ];
    for headers in header_sets {
        let reply = server.fetch(&file_url(&asset), &headers).await;
        reply.expect(200, &format!("file URL with {headers:?}"));
    }
}

#[tokio::test]
async fn file_of_other_repository_not_under_this_one() {
    let server = TestServer::start();
    server.create_repository("other-repo");
    let token = server.create_token("other-repo", &[]);
    let form = Multipart::new().file("theirs.png", &fixtures::png(2, 2));
    let request = server
        .request_as(
            reqwest::Method::POST,
            "/assets",
            Some(&token),
            Some("other-repo"),
        )
        .header("content-type", form.content_type())
        .body(form.body());
    let theirs = crate::helpers::send(request)
        .await
        .ok_json(200, "upload to other-repo");
    let id = string_field(&theirs, "id");

    server
        .fetch(&file_url(&theirs), &[])
        .await
        .expect(200, "their URL");
    let wrong = server.url(&format!("/files/{REPOSITORY}/{id}_theirs.png"));
    server
        .fetch(&wrong, &[])
        .await
        .expect_error(404, None, "their asset under our repository");
}
