//! `POST /assets`: the asset object, kind and dimensions from the bytes, file names, text fields, the size limit
//! and malformed multipart bodies.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::fixtures;
use crate::helpers::{int_field, raw_http, string_field, Multipart, TestServer, REPOSITORY};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

#[tokio::test]
async fn upload_returns_every_field() {
    let server = TestServer::start();
    let bytes = fixtures::png(3, 2);
    let before = now_ms();

    let asset = server.upload_ok("photo.png", &bytes).await;

    let after = now_ms();
    let id = string_field(&asset, "id");
    assert!(!id.is_empty(), "id should not be empty: {asset}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "id should be URL-safe: {id:?}"
    );
    assert_eq!(
        string_field(&asset, "url"),
        format!(
            "{}/files/{REPOSITORY}/{id}_photo.png?auto=format,compress",
            server.base_url
        )
    );
    assert_eq!(asset["filename"], "photo.png");
    assert_eq!(asset["extension"], "png");
    assert_eq!(int_field(&asset, "size"), bytes.len() as i64);
    assert_eq!(asset["kind"], "image");
    assert_eq!(asset["width"], 3);
    assert_eq!(asset["height"], 2);
    assert_eq!(asset["tags"], serde_json::json!([]));
    assert_eq!(asset["uploader_id"], "ghost");
    for absent in ["notes", "credits", "alt"] {
        assert!(
            asset.get(absent).is_none(),
            "`{absent}` should be absent until set: {asset}"
        );
    }

    // Times are Unix epoch milliseconds.
    let created_at = int_field(&asset, "created_at");
    let last_modified = int_field(&asset, "last_modified");
    assert!(
        created_at >= before - 1000 && created_at <= after + 1000,
        "created_at {created_at} should be epoch milliseconds between {before} and {after}"
    );
    assert!(
        last_modified >= created_at,
        "last_modified {last_modified} before created_at {created_at}"
    );

    let listed = server.asset(id).await;
    assert_eq!(
        listed, asset,
        "the listing should return the asset exactly as the upload did"
    );
}

#[tokio::test]
async fn upload_url_percent_encodes_name() {
    let server = TestServer::start();

    let image = server
        .upload_ok("Été à Paris (1)+~.PNG", &fixtures::png(2, 2))
        .await;
    let id = string_field(&image, "id");
    assert_eq!(
        string_field(&image, "url"),
        format!(
            "{}/files/{REPOSITORY}/{id}_%C3%89t%C3%A9%20%C3%A0%20Paris%20%281%29%2B~.PNG?auto=format,compress",
            server.base_url
        )
    );
    assert_eq!(image["extension"], "png");

    // Only images get the imgix parameters.
    let document = server
        .upload_ok("notes (final)&co=1.pdf", &fixtures::pdf())
        .await;
    let id = string_field(&document, "id");
    assert_eq!(
        string_field(&document, "url"),
        format!(
            "{}/files/{REPOSITORY}/{id}_notes%20%28final%29%26co%3D1.pdf",
            server.base_url
        )
    );

    // The URL serves the file.
    let file = server.fetch(string_field(&document, "url"), &[]).await;
    file.expect(200, "GET of the document's url");
    assert_eq!(file.body, fixtures::pdf());
}

#[tokio::test]
async fn upload_url_uses_public_url_options() {
    let public = TestServer::builder()
        .arg("--public-url", "http://media.localhost:8080")
        .start();
    let asset = public.upload_ok("photo.png", &fixtures::png(2, 2)).await;
    let id = string_field(&asset, "id");
    assert_eq!(
        string_field(&asset, "url"),
        format!(
            "http://media.localhost:8080/files/{REPOSITORY}/{id}_photo.png?auto=format,compress"
        )
    );

    let from_env = TestServer::builder()
        .env("MEDIALIB_PUBLIC_URL", "http://env.localhost:8081")
        .start();
    let asset = from_env.upload_ok("photo.png", &fixtures::png(2, 2)).await;
    let id = string_field(&asset, "id");
    assert_eq!(
        string_field(&asset, "url"),
        format!("http://env.localhost:8081/files/{REPOSITORY}/{id}_photo.png?auto=format,compress")
    );

    // Where the files base maps onto `/files` is the server's choice; the URL starts with it and ends with the
    // repository and the `{id}_{name}` segment.
    let cdn = TestServer::builder()
        .arg("--files-public-url", "http://cdn.localhost:9090")
        .start();
    let asset = cdn.upload_ok("photo.png", &fixtures::png(2, 2)).await;
    let id = string_field(&asset, "id");
    let url = string_field(&asset, "url");
    assert!(
        url.starts_with("http://cdn.localhost:9090/"),
        "url should start with --files-public-url: {url}"
    );
    assert!(
        url.ends_with(&format!(
            "/{REPOSITORY}/{id}_photo.png?auto=format,compress"
        )),
        "url should end with the repository and file segment: {url}"
    );
}

/// One upload whose kind, extension and dimensions are checked.
struct KindCase {
    filename: &'static str,
    part_content_type: &'static str,
    bytes: Vec<u8>,
    kind: &'static str,
    extension: &'static str,
    dimensions: Option<(u64, u64)>,
}

fn kind_case(
    filename: &'static str,
    part_content_type: &'static str,
    bytes: Vec<u8>,
    kind: &'static str,
    extension: &'static str,
    dimensions: Option<(u64, u64)>,
) -> KindCase {
    KindCase {
        filename,
        part_content_type,
        bytes,
        kind,
        extension,
        dimensions,
    }
}

#[tokio::test]
async fn upload_kind_from_bytes() {
    let server = TestServer::start();
    let octet = "application/octet-stream";
    let cases = vec![
        kind_case(
            "photo.png",
            octet,
            fixtures::png(3, 2),
            "image",
            "png",
            Some((3, 2)),
        ),
        kind_case(
            "photo.jpg",
            octet,
            fixtures::jpeg(4, 3),
            "image",
            "jpg",
            Some((4, 3)),
        ),
        kind_case(
            "UPPER.JPG",
            "image/jpeg",
            fixtures::jpeg(4, 3),
            "image",
            "jpg",
            Some((4, 3)),
        ),
        kind_case(
            "picture.webp",
            octet,
            fixtures::webp(5, 4),
            "image",
            "webp",
            Some((5, 4)),
        ),
        kind_case("song.mp3", octet, fixtures::mp3(), "audio", "mp3", None),
        kind_case("sound.wav", octet, fixtures::wav(), "audio", "wav", None),
        kind_case("clip.mp4", octet, fixtures::mp4(), "video", "mp4", None),
        kind_case("clip.webm", octet, fixtures::webm(), "video", "webm", None),
        kind_case("paper.pdf", octet, fixtures::pdf(), "document", "pdf", None),
        kind_case(
            "notes.txt",
            "text/plain",
            fixtures::text(),
            "document",
            "txt",
            None,
        ),
        kind_case(
            "page.html",
            "text/html",
            fixtures::html(),
            "document",
            "html",
            None,
        ),
        kind_case(
            "data.xml",
            "application/xml",
            fixtures::xml(),
            "document",
            "xml",
            None,
        ),
        kind_case(
            "blob.bin",
            octet,
            fixtures::unknown_binary(),
            "document",
            "bin",
            None,
        ),
        // The part's Content-Type and the extension never override the bytes.
        kind_case(
            "image.mp3",
            "audio/mpeg",
            fixtures::png(3, 2),
            "image",
            "mp3",
            Some((3, 2)),
        ),
        kind_case(
            "scan.png",
            "image/png",
            fixtures::pdf(),
            "document",
            "png",
            None,
        ),
        kind_case(
            "evil.svg",
            "image/svg+xml",
            fixtures::html(),
            "document",
            "svg",
            None,
        ),
        kind_case(
            "feed.svg",
            "image/svg+xml",
            fixtures::xml(),
            "document",
            "svg",
            None,
        ),
        kind_case(
            "empty.png",
            "image/png",
            Vec::new(),
            "document",
            "png",
            None,
        ),
        // Bytes that match no signature and are not text fall back to the extension.
        kind_case(
            "song-without-header.mp3",
            octet,
            fixtures::unknown_binary(),
            "audio",
            "mp3",
            None,
        ),
        kind_case(
            "movie-without-header.mp4",
            octet,
            fixtures::unknown_binary(),
            "video",
            "mp4",
            None,
        ),
        // Extension rules.
        kind_case("README", octet, fixtures::text(), "document", "", None),
        kind_case(
            "archive.tar.gz",
            octet,
            fixtures::unknown_binary(),
            "document",
            "gz",
            None,
        ),
        kind_case(
            "trailing-dot.",
            octet,
            fixtures::text(),
            "document",
            "",
            None,
        ),
    ];

    for case in cases {
        let form = Multipart::new().file_typed(case.filename, case.part_content_type, &case.bytes);
        let reply = server.upload_multipart(form).await;
        let asset = reply.ok_json(200, case.filename);
        assert_eq!(
            asset["kind"], case.kind,
            "kind of {:?}: {asset}",
            case.filename
        );
        assert_eq!(
            asset["extension"], case.extension,
            "extension of {:?}: {asset}",
            case.filename
        );
        assert_eq!(
            int_field(&asset, "size"),
            case.bytes.len() as i64,
            "size of {:?}",
            case.filename
        );
        match case.dimensions {
            Some((width, height)) => {
                assert_eq!(
                    asset["width"], width,
                    "width of {:?}: {asset}",
                    case.filename
                );
                assert_eq!(
                    asset["height"], height,
                    "height of {:?}: {asset}",
                    case.filename
                );
            }
            None => {
                assert!(
                    asset.get("width").is_none(),
                    "{:?} should have no width: {asset}",
                    case.filename
                );
                assert!(
                    asset.get("height").is_none(),
                    "{:?} should have no height: {asset}",
                    case.filename
                );
            }
        }
    }
}

#[tokio::test]
async fn upload_dimensions_follow_exif_orientation() {
    let server = TestServer::start();
    for orientation in 1..=8u16 {
        let bytes = fixtures::jpeg_with_orientation(4, 2, orientation);
        let asset = server
            .upload_ok(&format!("orientation-{orientation}.jpg"), &bytes)
            .await;
        let expected = if orientation >= 5 { (2, 4) } else { (4, 2) };
        assert_eq!(asset["kind"], "image", "orientation {orientation}: {asset}");
        assert_eq!(
            (asset["width"].as_u64(), asset["height"].as_u64()),
            (Some(expected.0), Some(expected.1)),
            "displayed size of a 4x2 JPEG with EXIF orientation {orientation}"
        );
    }
}

#[tokio::test]
async fn upload_svg_dimensions() {
    let server = TestServer::start();
    let cases: Vec<(&str, Option<(u64, u64)>)> = vec![
        (r#"width="120" height="80""#, Some((120, 80))),
        (r#"width="120px" height="80px""#, Some((120, 80))),
        (r#"width="2in" height="1in""#, Some((192, 96))),
        (r#"width="2.54cm" height="25.4mm""#, Some((96, 96))),
        (r#"width="72pt" height="6pc""#, Some((96, 96))),
        (r#"width="10mm" height="5mm""#, Some((38, 19))),
        (r#"viewBox="0 0 300 150""#, Some((300, 150))),
        (r#"viewBox="0,0,64,32""#, Some((64, 32))),
        (
            r#"width="100%" height="50%" viewBox="0 0 300 150""#,
            Some((300, 150)),
        ),
        (
            r#"width="10em" height="5em" viewBox="0 0 40 20""#,
            Some((40, 20)),
        ),
        (
            r#"width="3ex" height="2ex" viewBox="0 0 30 20""#,
            Some((30, 20)),
        ),
        (
            r#"width="64" height="48" viewBox="0 0 300 150""#,
            Some((64, 48)),
        ),
        ("", None),
    ];
    for (attributes, expected) in cases {
        let asset = server
            .upload_ok("drawing.svg", &fixtures::svg(attributes))
            .await;
        assert_eq!(
            asset["kind"], "image",
            "an SVG is an image ({attributes}): {asset}"
        );
        match expected {
            Some((width, height)) => {
                assert_eq!(
                    asset["width"], width,
                    "width for <svg {attributes}>: {asset}"
                );
                assert_eq!(
                    asset["height"], height,
                    "height for <svg {attributes}>: {asset}"
                );
            }
            None => {
                assert!(
                    asset.get("width").is_none(),
                    "no width for <svg {attributes}>: {asset}"
                );
                assert!(
                    asset.get("height").is_none(),
                    "no height for <svg {attributes}>: {asset}"
                );
            }
        }
    }

    // An XML declaration in front of the root element keeps it an SVG image.
    let mut declared = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".to_vec();
    declared.extend_from_slice(&fixtures::svg(r#"width="20" height="10""#));
    let asset = server.upload_ok("declared.svg", &declared).await;
    assert_eq!(asset["kind"], "image", "{asset}");
    assert_eq!(asset["width"], 20);
    assert_eq!(asset["height"], 10);
}

#[tokio::test]
async fn upload_animated_gif_reports_canvas() {
    let server = TestServer::start();
    let asset = server
        .upload_ok("animation.gif", &fixtures::animated_gif(6, 5))
        .await;
    assert_eq!(asset["kind"], "image");
    assert_eq!(asset["width"], 6, "{asset}");
    assert_eq!(asset["height"], 5, "{asset}");
}

#[tokio::test]
async fn upload_truncated_header_omits_dimensions() {
    let server = TestServer::start();
    let bytes = fixtures::truncated_png();
    let asset = server.upload_ok("cut.png", &bytes).await;
    assert_eq!(
        asset["kind"], "image",
        "the PNG signature is intact: {asset}"
    );
    assert_eq!(int_field(&asset, "size"), bytes.len() as i64);
    assert!(asset.get("width").is_none(), "{asset}");
    assert!(asset.get("height").is_none(), "{asset}");

    // Broken headers of other formats are stored too, never a crash.
    for (name, bytes) in [
        ("cut.jpg", fixtures::jpeg(8, 8)[..30].to_vec()),
        ("cut.gif", fixtures::animated_gif(6, 5)[..8].to_vec()),
        ("cut.webp", fixtures::webp(5, 4)[..16].to_vec()),
        (
            "cut.svg",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10".to_vec(),
        ),
    ] {
        let asset = server.upload_ok(name, &bytes).await;
        assert_eq!(
            int_field(&asset, "size"),
            bytes.len() as i64,
            "{name}: {asset}"
        );
    }
}

#[tokio::test]
async fn upload_filename_reduced_to_base_name() {
    let server = TestServer::start();
    let cases = [
        ("folder/sub/photo.png", "photo.png"),
        ("C:\\Users\\me\\photo.png", "photo.png"),
        ("mixed/dir\\name.png", "name.png"),
        ("Cafe\u{301}.png", "Caf\u{e9}.png"),
        ("dir/Cafe\u{301}.png", "Caf\u{e9}.png"),
        ("plain name with spaces.png", "plain name with spaces.png"),
    ];
    for (sent, expected) in cases {
        let asset = server.upload_ok(sent, &fixtures::png(2, 2)).await;
        assert_eq!(
            asset["filename"], expected,
            "filename for {sent:?}: {asset}"
        );
        let file = server
            .fetch(string_field(&asset, "url").split('?').next().unwrap(), &[])
            .await;
        file.expect(200, &format!("file URL of {sent:?}"));
    }

    let asset = server
        .upload_ok("folder/report.pdf", &fixtures::pdf())
        .await;
    let id = string_field(&asset, "id");
    assert_eq!(
        string_field(&asset, "url"),
        format!("{}/files/{REPOSITORY}/{id}_report.pdf", server.base_url)
    );
}

#[tokio::test]
async fn upload_rejects_invalid_filenames() {
    let server = TestServer::start();
    let too_long = format!("{}.png", "é".repeat(497));
    let cases: Vec<(&str, String)> = vec![
        ("empty name", String::new()),
        ("empty base name", "folder/".to_string()),
        ("NUL", "a\u{0}b.png".to_string()),
        ("tab", "a\tb.png".to_string()),
        ("C0 SOH", "a\u{1}b.png".to_string()),
        ("C0 ESC", "a\u{1b}b.png".to_string()),
        ("line feed", "a\nb.png".to_string()),
        ("carriage return", "a\rb.png".to_string()),
        ("C1 NEL", "a\u{85}b.png".to_string()),
        ("C1 CSI", "a\u{9b}b.png".to_string()),
        ("LRM", "a\u{200e}b.png".to_string()),
        ("RLM", "a\u{200f}b.png".to_string()),
        ("LRE", "a\u{202a}b.png".to_string()),
        ("RLO", "gnp\u{202e}.exe".to_string()),
        ("LRI", "a\u{2066}b.png".to_string()),
        ("PDI", "a\u{2069}b.png".to_string()),
        ("501 code points", too_long),
    ];
    for (label, filename) in &cases {
        let reply = server.upload(filename, &fixtures::png(2, 2)).await;
        reply.expect_error(400, None, &format!("filename with {label} ({filename:?})"));
    }
    let page = server.list_ok(&[]).await;
    assert_eq!(
        page["total"], 0,
        "rejected uploads should store nothing: {page}"
    );
}

#[tokio::test]
async fn upload_filename_length_limit() {
    let server = TestServer::start();

    // 500 code points (996 bytes of UTF-8) is the maximum.
    let longest = format!("{}.png", "é".repeat(496));
    let asset = server.upload_ok(&longest, &fixtures::png(2, 2)).await;
    assert_eq!(asset["filename"], longest.as_str());

    let ascii = format!("{}.txt", "x".repeat(496));
    let asset = server.upload_ok(&ascii, &fixtures::text()).await;
    assert_eq!(asset["filename"], ascii.as_str());

    // The limit applies to the base name.
    let with_directory = format!("directory/{}.txt", "y".repeat(496));
    let asset = server.upload_ok(&with_directory, &fixtures::text()).await;
    assert_eq!(asset["filename"], format!("{}.txt", "y".repeat(496)));

    let over = format!("{}.png", "é".repeat(497));
    server
        .upload(&over, &fixtures::png(2, 2))
        .await
        .expect_error(400, None, "filename of 501 code points");
}

#[tokio::test]
async fn upload_text_fields_before_and_after_file() {
    let server = TestServer::start();
    let form = Multipart::new()
        .text("notes", "written before the file")
        .file("photo.png", &fixtures::png(2, 2))
        .text("credits", "Ada Lovelace")
        .text("alt", "a small square");
    let asset = server
        .upload_multipart(form)
        .await
        .ok_json(200, "fields around the file");
    assert_eq!(asset["notes"], "written before the file");
    assert_eq!(asset["credits"], "Ada Lovelace");
    assert_eq!(asset["alt"], "a small square");

    let listed = server.asset(string_field(&asset, "id")).await;
    assert_eq!(listed["notes"], "written before the file");
    assert_eq!(listed["credits"], "Ada Lovelace");
    assert_eq!(listed["alt"], "a small square");

    let form = Multipart::new()
        .text("alt", "Ünïcödé ✓")
        .text("credits", "first")
        .file("photo.png", &fixtures::png(2, 2));
    let asset = server
        .upload_multipart(form)
        .await
        .ok_json(200, "all fields before the file");
    assert_eq!(asset["alt"], "Ünïcödé ✓");
    assert_eq!(asset["credits"], "first");
    assert!(asset.get("notes").is_none(), "{asset}");
}

#[tokio::test]
async fn upload_empty_text_part_is_not_sent() {
    let server = TestServer::start();
    let form = Multipart::new()
        .text("notes", "")
        .file("photo.png", &fixtures::png(2, 2))
        .text("alt", "")
        .text("credits", "kept");
    let asset = server
        .upload_multipart(form)
        .await
        .ok_json(200, "empty text parts");
    assert!(
        asset.get("notes").is_none(),
        "an empty notes part counts as not sent: {asset}"
    );
    assert!(
        asset.get("alt").is_none(),
        "an empty alt part counts as not sent: {asset}"
    );
    assert_eq!(asset["credits"], "kept");
}

#[tokio::test]
async fn upload_text_field_length_limits() {
    let server = TestServer::start();
    let longest = "ü".repeat(500);
    let over = "ü".repeat(501);
    for field in ["notes", "credits", "alt"] {
        let form = Multipart::new()
            .file("photo.png", &fixtures::png(2, 2))
            .text(field, &longest);
        let asset = server
            .upload_multipart(form)
            .await
            .ok_json(200, &format!("{field} of 500 code points"));
        assert_eq!(asset[field], longest.as_str());

        let form = Multipart::new()
            .file("photo.png", &fixtures::png(2, 2))
            .text(field, &over);
        server.upload_multipart(form).await.expect_error(
            400,
            None,
            &format!("{field} of 501 code points"),
        );
    }
    let page = server.list_ok(&[]).await;
    assert_eq!(
        page["total"], 3,
        "only the three valid uploads are stored: {page}"
    );
}

#[tokio::test]
async fn upload_part_count_errors() {
    let server = TestServer::start();

    let only_text = Multipart::new().text("notes", "no file here");
    server
        .upload_multipart(only_text)
        .await
        .expect_error(400, Some("no_file"), "no file part");

    let nothing = Multipart::new();
    server
        .upload_multipart(nothing)
        .await
        .expect_error(400, Some("no_file"), "no part at all");

    let two_files = Multipart::new()
        .file("a.png", &fixtures::png(2, 2))
        .file("b.png", &fixtures::png(2, 2));
    server
        .upload_multipart(two_files)
        .await
        .expect_error(400, None, "two file parts");

    let without_filename = Multipart::new().raw_part(
        "Content-Disposition: form-data; name=\"file\"\r\nContent-Type: image/png",
        &fixtures::png(2, 2),
    );
    server
        .upload_multipart(without_filename)
        .await
        .expect_error(400, None, "file part without a filename");

    let page = server.list_ok(&[]).await;
    assert_eq!(
        page["total"], 0,
        "rejected uploads should store nothing: {page}"
    );
}

#[tokio::test]
async fn upload_size_limit_is_inclusive() {
    let server = TestServer::builder()
        .arg("--max-upload-size", "1000")
        .start();

    let at_limit = vec![b'a'; 1000];
    let asset = server.upload_ok("at-limit.txt", &at_limit).await;
    assert_eq!(asset["size"], 1000);

    // The limit is on the file, not the whole body.
    let form = Multipart::new()
        .text("notes", &"n".repeat(400))
        .file("with-notes.txt", &at_limit);
    server
        .upload_multipart(form)
        .await
        .expect(200, "a file at the limit with notes beside it");

    let over = vec![b'a'; 1001];
    server.upload("over-limit.txt", &over).await.expect_error(
        413,
        Some("file_too_large"),
        "limit + 1 bytes",
    );

    let far_over = vec![b'a'; 50_000];
    server.upload("far-over.txt", &far_over).await.expect_error(
        413,
        Some("file_too_large"),
        "50 times the limit",
    );

    let page = server.list_ok(&[]).await;
    assert_eq!(
        page["total"], 2,
        "files over the limit are not stored: {page}"
    );
}

#[tokio::test]
async fn upload_size_limit_from_environment() {
    let server = TestServer::builder()
        .env("MEDIALIB_MAX_UPLOAD_SIZE", "10")
        .start();
    server.upload_ok("ten.txt", b"0123456789").await;
    server
        .upload("eleven.txt", b"0123456789A")
        .await
        .expect_error(413, Some("file_too_large"), "11 bytes over 10");
}

#[tokio::test]
async fn upload_over_limit_refused_while_streaming() {
    let server = TestServer::builder()
        .arg("--max-upload-size", "1000")
        .start();

    // Announce a 10 MB body, send 5,000 bytes of file and keep the connection open. The server must return
    // 413 from what it has read, without waiting for the rest.
    let boundary = Multipart::BOUNDARY;
    let mut partial = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    partial.extend_from_slice(&vec![b'z'; 5_000]);
    let mut request = format!(
        "POST /assets HTTP/1.1\r\nHost: {}\r\nrepository: {REPOSITORY}\r\nauthorization: Bearer {}\r\n\
         content-type: multipart/form-data; boundary={boundary}\r\ncontent-length: 10000000\r\n\r\n",
        server.addr, server.token
    )
    .into_bytes();
    request.extend_from_slice(&partial);

    let started = Instant::now();
    let response = raw_http(server.addr, &request, true, Duration::from_secs(10))
        .await
        .expect(
            "the server should answer 413 while the body is still streaming, not wait for the rest",
        );
    assert_eq!(response.status, 413, "{response:?}");
    assert_eq!(response.json()["error"], "file_too_large");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Sends a raw `POST /assets` with the given content type and body, and asserts a prompt 400 with a JSON error.
async fn assert_prompt_400(
    server: &TestServer,
    label: &str,
    content_type: Option<&str>,
    body: &[u8],
) {
    let content_type_line = content_type
        .map(|value| format!("content-type: {value}\r\n"))
        .unwrap_or_default();
    let mut request = format!(
        "POST /assets HTTP/1.1\r\nHost: {}\r\nrepository: {REPOSITORY}\r\nauthorization: Bearer {}\r\n\
         {content_type_line}content-length: {}\r\nconnection: close\r\n\r\n",
        server.addr,
        server.token,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);

    let response = raw_http(server.addr, &request, true, Duration::from_secs(10))
        .await
        .unwrap_or_else(|| {
            panic!("{label}: no response within 10 s (the server hangs on a malformed body)")
        });
    assert_eq!(response.status, 400, "{label}: {response:?}");
    let body: Value = response.json();
    assert!(
        body["error"].as_str().is_some_and(|code| !code.is_empty()),
        "{label}: {body}"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "{label}: {body}"
    );
}

#[tokio::test]
async fn upload_malformed_multipart_is_prompt_400() {
    let server = TestServer::start();
    let form = Multipart::new().file("photo.png", &fixtures::png(2, 2));
    let boundary = Multipart::BOUNDARY;

    assert_prompt_400(
        &server,
        "missing boundary parameter",
        Some("multipart/form-data"),
        &form.body(),
    )
    .await;
    assert_prompt_400(
        &server,
        "two boundary parameters",
        Some(&format!(
            "multipart/form-data; boundary={boundary}; boundary=other-boundary"
        )),
        &form.body(),
    )
    .await;
    assert_prompt_400(
        &server,
        "missing closing delimiter",
        Some(&form.content_type()),
        &form.body_without_closing(),
    )
    .await;
    assert_prompt_400(
        &server,
        "no delimiter at all",
        Some(&form.content_type()),
        b"this is not a multipart body",
    )
    .await;
    assert_prompt_400(
        &server,
        "body with another boundary",
        Some("multipart/form-data; boundary=not-the-one-used"),
        &form.body(),
    )
    .await;
    assert_prompt_400(
        &server,
        "JSON instead of multipart",
        Some("application/json"),
        b"{}",
    )
    .await;
    assert_prompt_400(&server, "no content type", None, &form.body()).await;

    let mut truncated_headers =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"").into_bytes();
    truncated_headers.extend_from_slice(b"; filename=\"a.png\"\r\nContent-Type: image/png");
    assert_prompt_400(
        &server,
        "part headers never ended",
        Some(&form.content_type()),
        &truncated_headers,
    )
    .await;

    let page = server.list_ok(&[]).await;
    assert_eq!(
        page["total"], 0,
        "malformed uploads should store nothing: {page}"
    );
}

#[tokio::test]
async fn upload_chunked_body() {
    let server = TestServer::start();
    let bytes = fixtures::png(7, 5);
    let form = Multipart::new()
        .text("notes", "sent in chunks")
        .file("chunked.png", &bytes)
        .text("alt", "after");
    let body = form.body();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(37).map(|chunk| Ok(chunk.to_vec())).collect();
    let stream = futures::stream::iter(chunks);

    let request = server
        .request(reqwest::Method::POST, "/assets")
        .header("content-type", form.content_type())
        .body(reqwest::Body::wrap_stream(stream));
    let asset = crate::helpers::send(request)
        .await
        .ok_json(200, "chunked upload");
    assert_eq!(int_field(&asset, "size"), bytes.len() as i64);
    assert_eq!(asset["width"], 7);
    assert_eq!(asset["height"], 5);
    assert_eq!(asset["notes"], "sent in chunks");
    assert_eq!(asset["alt"], "after");

    let file = server
        .fetch(string_field(&asset, "url").split('?').next().unwrap(), &[])
        .await;
    file.expect(200, "file of the chunked upload");
    assert_eq!(
        file.body, bytes,
        "the stored bytes should equal the uploaded bytes"
    );
}

#[tokio::test]
async fn upload_stalled_client_cut_off_by_read_timeout() {
    let server = TestServer::builder().arg("--read-timeout", "1").start();
    let form = Multipart::new().file("slow.txt", &[b's'; 100]);
    let body = form.body();
    let mut request = format!(
        "POST /assets HTTP/1.1\r\nHost: {}\r\nrepository: {REPOSITORY}\r\nauthorization: Bearer {}\r\n\
         content-type: {}\r\ncontent-length: {}\r\n\r\n",
        server.addr,
        server.token,
        form.content_type(),
        body.len() + 1000
    )
    .into_bytes();
    request.extend_from_slice(&body[..body.len() / 2]);

    // Half the body, then silence: the server gives up after about a second instead of holding the upload open.
    let response = raw_http(server.addr, &request, true, Duration::from_secs(10))
        .await
        .expect("a client that stops sending should be cut off by the read timeout");
    assert_eq!(response.status, 408, "{response:?}");
    let body: Value = response.json();
    assert!(
        body["error"].as_str().is_some_and(|code| !code.is_empty()),
        "{body}"
    );
    assert_eq!(
        server.list_ok(&[]).await["total"],
        0,
        "the cut-off upload stored nothing"
    );
}

/// File name in tests/fixtures, kind, served Content-Type and displayed size.
type FixtureCase = (&'static str, &'static str, &'static str, Option<(u64, u64)>);

#[tokio::test]
async fn upload_checked_in_fixture_files() {
    let server = TestServer::start();
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    // Expected kind, served Content-Type and displayed size of each file in tests/fixtures (see its README).
    let cases: [FixtureCase; 7] = [
        ("image.png", "image", "image/png", Some((24, 16))),
        ("orientation-6.jpg", "image", "image/jpeg", Some((20, 32))),
        ("animated.gif", "image", "image/gif", Some((40, 30))),
        ("millimetres.svg", "image", "image/svg+xml", Some((189, 94))),
        ("document.pdf", "document", "application/pdf", None),
        ("tone.wav", "audio", "audio/wav", None),
        ("clip.mp4", "video", "video/mp4", None),
    ];
    for (name, kind, content_type, dimensions) in cases {
        let bytes = std::fs::read(directory.join(name))
            .unwrap_or_else(|error| panic!("read fixture {name}: {error}"));
        let asset = server.upload_ok(name, &bytes).await;
        assert_eq!(asset["kind"], kind, "{name}: {asset}");
        match dimensions {
            Some((width, height)) => {
                assert_eq!(asset["width"], width, "{name}: {asset}");
                assert_eq!(asset["height"], height, "{name}: {asset}");
            }
            None => {
                assert!(asset.get("width").is_none(), "{name}: {asset}");
                assert!(asset.get("height").is_none(), "{name}: {asset}");
            }
        }

        let file = server
            .fetch(string_field(&asset, "url").split('?').next().unwrap(), &[])
            .await;
        file.expect(200, name);
        assert_eq!(file.body, bytes, "{name}: the stored bytes");
        assert_eq!(
            file.header("content-type").as_deref(),
            Some(content_type),
            "{name}: served Content-Type"
        );
    }
}
