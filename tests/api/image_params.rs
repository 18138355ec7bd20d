//! imgix-compatible parameters on image file URLs: resizing, `fit`, `dpr`, `rect`, ignored and clamped values,
//! `auto=format` and `auto=compress`, metadata stripping and the source pixel limit.

use image::GenericImageView;

use crate::fixtures;
use crate::helpers::{string_field, Reply, TestServer};

/// Returns the asset's file URL without any query.
fn base_url(asset: &serde_json::Value) -> String {
    string_field(asset, "url")
        .split('?')
        .next()
        .unwrap()
        .to_string()
}

#[track_caller]
fn decoded_size(reply: &Reply, context: &str) -> (u32, u32) {
    let image = image::load_from_memory(&reply.body).unwrap_or_else(|error| {
        panic!("{context}: the response is not a decodable image ({error})")
    });
    image.dimensions()
}

#[tokio::test]
async fn image_params_resize_and_crop() {
    let server = TestServer::start();
    let stored = fixtures::png(40, 20);
    let asset = server.upload_ok("wide.png", &stored).await;
    let url = base_url(&asset);
    let accept_png = [("accept", "image/png")];

    let cases: Vec<(&str, (u32, u32))> = vec![
        ("w=10", (10, 5)),
        ("width=10", (10, 5)),
        ("h=10", (20, 10)),
        ("w=80", (80, 40)),
        ("w=80&fit=max", (40, 20)),
        ("w=10&h=10", (10, 5)),
        ("w=10&h=10&fit=clip", (10, 5)),
        ("w=10&h=10&fit=crop", (10, 10)),
        ("w=10&h=10&fit=scale", (10, 10)),
        ("w=10&fit=facearea", (10, 5)),
        ("w=10&dpr=2", (20, 10)),
        ("w=2&dpr=9", (10, 5)),
        ("w=10&q=500", (10, 5)),
        ("rect=0,0,20,20", (20, 20)),
        ("rect=0%2C0%2C20%2C20", (20, 20)),
        ("rect=10,0,20,20&w=10", (10, 10)),
    ];
    for (query, expected) in cases {
        let reply = server.fetch(&format!("{url}?{query}"), &accept_png).await;
        reply.expect(200, query);
        assert_eq!(
            decoded_size(&reply, query),
            expected,
            "output size for ?{query}"
        );
    }

    // Parameters that change nothing return the stored bytes.
    for query in ["dpr=2", "w=abc", "foo=bar", "fit=max", "w=-5"] {
        let reply = server.fetch(&format!("{url}?{query}"), &accept_png).await;
        reply.expect(200, query);
        assert_eq!(
            reply.body, stored,
            "?{query} should return the stored bytes"
        );
    }
}

#[tokio::test]
async fn image_params_output_clamped_to_max_dimension() {
    let server = TestServer::start();
    let asset = server.upload_ok("strip.png", &fixtures::png(16, 1)).await;
    let reply = server
        .fetch(
            &format!("{}?w=10000", base_url(&asset)),
            &[("accept", "image/png")],
        )
        .await;
    reply.expect(200, "w=10000");
    assert_eq!(
        decoded_size(&reply, "w=10000"),
        (8192, 512),
        "clamped to 8192 px per side, aspect kept"
    );
}

#[tokio::test]
async fn image_params_auto_format_by_accept() {
    let server = TestServer::start();
    let stored = fixtures::png(40, 20);
    let asset = server.upload_ok("photo.png", &stored).await;
    let url = format!("{}?auto=format", base_url(&asset));

    let avif = server
        .fetch(
            &url,
            &[("accept", "image/avif,image/webp,image/*,*/*;q=0.8")],
        )
        .await;
    avif.expect(200, "auto=format accepting AVIF");
    assert_eq!(avif.header("content-type").as_deref(), Some("image/avif"));
    assert_eq!(
        &avif.body[4..8],
        b"ftyp",
        "an AVIF file starts with an ftyp box"
    );

    let webp = server.fetch(&url, &[("accept", "image/webp,*/*")]).await;
    webp.expect(200, "auto=format accepting WebP");
    assert_eq!(webp.header("content-type").as_deref(), Some("image/webp"));
    assert_eq!(decoded_size(&webp, "WebP output"), (40, 20));

    let fallback = server.fetch(&url, &[("accept", "image/png")]).await;
    fallback.expect(200, "auto=format accepting neither");
    assert_eq!(
        fallback.header("content-type").as_deref(),
        Some("image/png")
    );
    assert_eq!(
        fallback.body, stored,
        "the fallback with nothing to change is the stored file"
    );

    for reply in [&avif, &webp, &fallback] {
        let vary = reply
            .header("vary")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(
            vary.contains("accept"),
            "auto=format responses carry Vary: Accept, got {vary:?}"
        );
    }
}

#[tokio::test]
async fn image_params_strip_orientation_and_metadata() {
    let server = TestServer::start();
    let stored = fixtures::jpeg_with_orientation(40, 20, 6);
    let asset = server.upload_ok("rotated.jpg", &stored).await;
    assert_eq!(
        (asset["width"].as_u64(), asset["height"].as_u64()),
        (Some(20), Some(40))
    );
    let url = base_url(&asset);

    let resized = server
        .fetch(&format!("{url}?w=10"), &[("accept", "image/jpeg")])
        .await;
    resized.expect(200, "w=10 on a rotated JPEG");
    assert_eq!(
        decoded_size(&resized, "rotated"),
        (10, 20),
        "the output is upright, at the displayed size"
    );
    assert!(
        !resized.body.windows(6).any(|window| window == b"Exif\0\0"),
        "the output carries no EXIF block, so no orientation tag"
    );

    let compressed = server
        .fetch(&format!("{url}?auto=compress"), &[("accept", "image/jpeg")])
        .await;
    compressed.expect(200, "auto=compress");
    assert!(
        compressed.body.len() <= stored.len(),
        "auto=compress never returns a bigger file"
    );
    if compressed.body != stored {
        assert!(
            !compressed
                .body
                .windows(6)
                .any(|window| window == b"Exif\0\0"),
            "re-encoded output strips metadata"
        );
    }
}

#[tokio::test]
async fn image_params_source_over_pixel_limit() {
    let server = TestServer::start();
    let stored = fixtures::png_header_only(20_000, 20_000);
    let asset = server.upload_ok("huge.png", &stored).await;
    assert_eq!(asset["width"], 20_000);
    assert_eq!(asset["height"], 20_000);
    let url = base_url(&asset);

    let reply = server
        .fetch(&format!("{url}?w=10"), &[("accept", "image/png")])
        .await;
    reply.expect_error(
        422,
        Some("source_too_large"),
        "resizing a 400-megapixel source",
    );

    let plain = server.fetch(&url, &[]).await;
    plain.expect(200, "the stored bytes without parameters");
    assert_eq!(plain.body, stored);
}
