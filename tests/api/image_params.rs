//! imgix-compatible parameters on image file URLs: resizing, every `fit` mode, `dpr`, `rect`, EXIF orientation,
//! ignored and clamped values, output formats, `auto=format` and `auto=compress`, metadata stripping, the source
//! pixel limit, SVG rasterising, animated GIF and WebP, and non-image assets. Expected sizes are worked out by hand
//! in the tables, and every rendered output is decoded.

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::codecs::webp::WebPDecoder;
use image::{AnimationDecoder, DynamicImage, GenericImageView, ImageFormat, Rgb, RgbImage};

use crate::fixtures;
use crate::helpers::{string_field, Reply, TestServer};

/// `Accept` of a browser that takes AVIF and WebP.
pub const ACCEPT_AVIF: &str = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
/// `Accept` of a browser that takes WebP but not AVIF.
pub const ACCEPT_WEBP: &str = "image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5";
/// `Accept` of a client that names no image type.
pub const ACCEPT_ANY: &str = "*/*";

/// Returns the asset's file URL without any query.
pub fn base_url(asset: &serde_json::Value) -> String {
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

// ---------------------------------------------------------------------------------------------------------------
// Helpers shared with the cache tests

/// Encodes a `width` x `height` image, red in its top-left quarter (`x < width / 2`, `y < height / 2`) and blue
/// elsewhere, so that crops, flips and rotations give distinguishable results.
pub fn marked(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        if x < width / 2 && y < height / 2 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, format)
        .expect("encode the marked image");
    bytes.into_inner()
}

/// Decodes a response body, failing with the request line when it is not an image.
#[track_caller]
pub fn decoded(reply: &Reply, context: &str) -> DynamicImage {
    image::load_from_memory(&reply.body).unwrap_or_else(|error| {
        panic!(
            "{context}: {} returned a body that is not a decodable image ({error})",
            reply.request
        )
    })
}

/// Returns the format found in the body's signature.
#[track_caller]
pub fn body_format(reply: &Reply, context: &str) -> ImageFormat {
    image::guess_format(&reply.body).unwrap_or_else(|error| {
        panic!("{context}: the body has no known image signature ({error})")
    })
}

/// Reads width and height from the `ispe` property of an AVIF file, since the test build decodes no AVIF.
#[track_caller]
pub fn avif_size(bytes: &[u8]) -> (u32, u32) {
    let at = bytes
        .windows(4)
        .position(|window| window == b"ispe")
        .expect("an AVIF file has an ispe property");
    // The box type is followed by a version and flags (4 bytes), then width and height as 32-bit big-endian.
    let number = |offset: usize| u32::from_be_bytes(bytes[offset..offset + 4].try_into().unwrap());
    (number(at + 8), number(at + 12))
}

/// Decodes every frame of an animated GIF or WebP body.
#[track_caller]
pub fn animation_frames(reply: &Reply, context: &str) -> Vec<image::Frame> {
    let frames = match body_format(reply, context) {
        ImageFormat::Gif => GifDecoder::new(Cursor::new(&reply.body))
            .and_then(|decoder| decoder.into_frames().collect_frames()),
        ImageFormat::WebP => WebPDecoder::new(Cursor::new(&reply.body))
            .and_then(|decoder| decoder.into_frames().collect_frames()),
        other => panic!("{context}: {other:?} is not an animation format"),
    };
    frames.unwrap_or_else(|error| panic!("{context}: the frames do not decode ({error})"))
}

/// Colors of the frames of `animated_gif`.
pub const FRAME_COLORS: [[u8; 3]; 3] = [[255, 0, 0], [0, 255, 0], [0, 0, 255]];

/// Encodes a looping GIF of three full `width` x `height` frames, red, green and blue, shown for 100, 200 and
/// 300 ms. (The `image` crate's GIF encoder writes every frame at the canvas origin, so partial frames at an offset
/// cannot be built with it.)
pub fn animated_gif(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut bytes);
        encoder
            .set_repeat(image::codecs::gif::Repeat::Infinite)
            .expect("set the GIF loop");
        for (index, [r, g, b]) in FRAME_COLORS.into_iter().enumerate() {
            let frame = image::RgbaImage::from_pixel(width, height, image::Rgba([r, g, b, 255]));
            let delay = image::Delay::from_numer_denom_ms(100 * (index as u32 + 1), 1);
            encoder
                .encode_frame(image::Frame::from_parts(frame, 0, 0, delay))
                .expect("encode a GIF frame");
        }
    }
    bytes
}

/// Asserts that `frames` are the three frames of `animated_gif`, at `size`.
#[track_caller]
fn assert_gif_frames(frames: &[image::Frame], size: (u32, u32), context: &str) {
    assert_eq!(
        frames.len(),
        FRAME_COLORS.len(),
        "{context}: every frame is kept"
    );
    for (index, (frame, color)) in frames.iter().zip(FRAME_COLORS).enumerate() {
        assert_eq!(
            frame.buffer().dimensions(),
            size,
            "{context}: frame {index}"
        );
        let [r, g, b, _] = frame.buffer().get_pixel(size.0 / 2, size.1 / 2).0;
        let close = [r, g, b]
            .iter()
            .zip(color)
            .all(|(channel, expected)| channel.abs_diff(expected) < 40);
        assert!(
            close,
            "{context}: frame {index} should be {color:?}, got {:?}",
            [r, g, b]
        );
    }
}

fn milliseconds(frame: &image::Frame) -> u32 {
    let (numerator, denominator) = frame.delay().numer_denom_ms();
    numerator / denominator
}

/// Returns the lower-case names listed in every `Vary` header of a reply.
pub fn vary_names(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .get_all("vary")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect()
}

fn varies_by_accept(reply: &Reply) -> bool {
    vary_names(reply).iter().any(|name| name == "accept")
}

fn is_red(image: &DynamicImage, x: u32, y: u32) -> bool {
    let [r, g, b, a] = image.get_pixel(x, y).0;
    r > 180 && g < 80 && b < 80 && a > 200
}

/// Tells whether an output contains an EXIF block.
fn has_exif(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|window| window == b"Exif\0\0")
        || bytes.windows(4).any(|window| window == b"eXIf")
}

/// Inserts an EXIF APP1 segment with `orientation` right after the SOI marker of `jpeg`.
fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    // TIFF header (little-endian) and one IFD entry: Orientation (0x0112), SHORT, count 1, value.
    let mut exif = b"Exif\0\0II\x2a\0".to_vec();
    exif.extend_from_slice(&8u32.to_le_bytes());
    exif.extend_from_slice(&1u16.to_le_bytes());
    exif.extend_from_slice(&0x0112u16.to_le_bytes());
    exif.extend_from_slice(&3u16.to_le_bytes());
    exif.extend_from_slice(&1u32.to_le_bytes());
    exif.extend_from_slice(&orientation.to_le_bytes());
    exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]);

    let mut output = jpeg[..2].to_vec();
    output.extend_from_slice(&[0xFF, 0xE1]);
    output.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    output.extend_from_slice(&exif);
    output.extend_from_slice(&jpeg[2..]);
    output
}

// ---------------------------------------------------------------------------------------------------------------
// Geometry

#[tokio::test]
async fn image_params_every_fit_mode() {
    let server = TestServer::start();
    let asset = server.upload_ok("wide.png", &fixtures::png(400, 200)).await;
    let url = base_url(&asset);

    // Source 400x200 (aspect 2:1).
    let cases: [(&str, (u32, u32)); 20] = [
        ("w=100&h=100", (100, 50)), // clip, the default: fit inside
        ("w=100&h=100&fit=clip", (100, 50)),
        ("w=800&h=800&fit=clip", (800, 400)), // clip enlarges
        ("w=100&h=100&fit=max", (100, 50)),
        ("w=800&h=800&fit=max", (400, 200)), // max never enlarges
        ("w=100&h=100&fit=crop", (100, 100)), // fills the box, crops the overflow
        ("w=100&h=25&fit=crop", (100, 25)),
        ("w=100&h=100&fit=min", (100, 100)),
        ("w=800&h=800&fit=min", (200, 200)), // largest 1:1 box inside 400x200, not enlarged
        ("w=100&h=100&fit=fill", (100, 100)), // 100x50 padded to the box
        ("w=100&h=100&fit=fillmax", (100, 100)),
        ("w=800&h=800&fit=fillmax", (800, 800)), // 400x200 centred, not enlarged
        ("w=100&h=100&fit=scale", (100, 100)),   // stretched
        ("w=100&h=100&fit=clamp", (100, 100)),   // 100x50 padded with edge pixels
        ("w=100&h=100&fit=facearea", (100, 50)), // treated as clip
        ("w=100&ar=1:1&fit=crop", (100, 100)),
        ("h=50&ar=4:1&fit=crop", (200, 50)),
        ("ar=1:1&fit=crop", (200, 200)), // largest 1:1 region of the source
        ("w=300&max-w=150", (150, 75)),
        ("w=0.5", (200, 100)), // a width under 1 is a fraction of the source
    ];
    for (query, expected) in cases {
        let reply = server.fetch(&format!("{url}?{query}"), &[]).await;
        reply.expect(200, query);
        assert_eq!(
            reply.header("content-type").as_deref(),
            Some("image/png"),
            "?{query}"
        );
        assert_eq!(body_format(&reply, query), ImageFormat::Png, "?{query}");
        assert_eq!(
            decoded(&reply, query).dimensions(),
            expected,
            "output size for ?{query}"
        );
    }
}

#[tokio::test]
async fn image_params_crop_anchor_and_padding() {
    let server = TestServer::start();
    // Red top-left quarter: x < 200, y < 100.
    let asset = server
        .upload_ok("marked.png", &marked(400, 200, ImageFormat::Png))
        .await;
    let url = base_url(&asset);

    // fit=crop to 100x100 keeps a 200x200 region of the 400x200 source, scaled by 1/2.
    let left = decoded(
        &server
            .fetch(&format!("{url}?w=100&h=100&fit=crop&crop=left"), &[])
            .await,
        "crop=left",
    );
    assert!(
        is_red(&left, 10, 10),
        "crop=left keeps x 0..200, red in its top half"
    );
    assert!(
        is_red(&left, 90, 10),
        "crop=left: x 180 of the source is red"
    );
    let right = decoded(
        &server
            .fetch(&format!("{url}?w=100&h=100&fit=crop&crop=right"), &[])
            .await,
        "crop=right",
    );
    assert!(
        !is_red(&right, 10, 10),
        "crop=right keeps x 200..400, all blue"
    );
    let focal = decoded(
        &server
            .fetch(
                &format!("{url}?w=100&h=100&fit=crop&crop=focalpoint&fp-x=0.75"),
                &[],
            )
            .await,
        "focal point",
    );
    // The kept region is centred on x = 300: 200..400, all blue.
    assert!(!is_red(&focal, 10, 10), "fp-x=0.75 keeps the right half");
    for word in ["entropy", "edges", "faces"] {
        let image = decoded(
            &server
                .fetch(&format!("{url}?w=100&h=100&fit=crop&crop={word}"), &[])
                .await,
            word,
        );
        // Centred region 100..300: its left half (source x 100..200) is red at the top.
        assert!(is_red(&image, 10, 10), "crop={word} is treated as center");
        assert!(!is_red(&image, 90, 10), "crop={word} is treated as center");
    }

    // fit=fill: 100x50 centred on a 100x100 canvas, 25 rows of padding above and below.
    let filled = decoded(
        &server
            .fetch(&format!("{url}?w=100&h=100&fit=fill&bg=00ff00"), &[])
            .await,
        "fill",
    );
    assert_eq!(
        filled.get_pixel(50, 5).0,
        [0, 255, 0, 255],
        "bg fills the padding"
    );
    assert_eq!(
        filled.get_pixel(50, 95).0,
        [0, 255, 0, 255],
        "bg fills the padding"
    );
    assert!(is_red(&filled, 10, 30), "the image starts at row 25");
    let transparent = decoded(
        &server
            .fetch(&format!("{url}?w=100&h=100&fit=fill"), &[])
            .await,
        "fill without bg",
    );
    assert_eq!(
        transparent.get_pixel(50, 5).0[3],
        0,
        "PNG padding without bg is transparent"
    );
    let clamped = decoded(
        &server
            .fetch(&format!("{url}?w=100&h=100&fit=clamp"), &[])
            .await,
        "clamp",
    );
    assert!(
        is_red(&clamped, 10, 2),
        "clamp repeats the red top edge into the padding"
    );
    assert!(
        !is_red(&clamped, 10, 97),
        "clamp repeats the blue bottom edge into the padding"
    );
}

#[tokio::test]
async fn image_params_rect_then_resize() {
    let server = TestServer::start();
    let asset = server
        .upload_ok("marked.png", &marked(400, 200, ImageFormat::Png))
        .await;
    let url = base_url(&asset);

    let red = decoded(
        &server
            .fetch(&format!("{url}?rect=0,0,200,100&w=50"), &[])
            .await,
        "red rect",
    );
    assert_eq!(red.dimensions(), (50, 25));
    assert!(
        (0..50).all(|x| (0..25).all(|y| is_red(&red, x, y))),
        "the top-left quarter is all red"
    );

    let blue = decoded(
        &server
            .fetch(&format!("{url}?rect=200,100,200,100&w=50"), &[])
            .await,
        "blue rect",
    );
    assert_eq!(blue.dimensions(), (50, 25));
    assert!(
        (0..50).all(|x| (0..25).all(|y| !is_red(&blue, x, y))),
        "the bottom-right quarter has no red"
    );

    // The centre 200x100 region, halved: red in its top-left quarter only.
    let centre = decoded(
        &server
            .fetch(&format!("{url}?rect=100%2C50%2C200%2C100&w=100"), &[])
            .await,
        "centre rect",
    );
    assert_eq!(centre.dimensions(), (100, 50));
    assert!(is_red(&centre, 20, 10));
    assert!(!is_red(&centre, 80, 10));
    assert!(!is_red(&centre, 20, 40));

    // rect, then fit=crop to a square, then dpr.
    let square = decoded(
        &server
            .fetch(
                &format!("{url}?rect=0,0,200,200&w=40&h=40&fit=crop&dpr=2"),
                &[],
            )
            .await,
        "square",
    );
    assert_eq!(
        square.dimensions(),
        (80, 80),
        "the 200x200 region at 40x40, times dpr 2"
    );
}

#[tokio::test]
async fn image_params_dpr_multiplies_sizes() {
    let server = TestServer::start();
    let stored = fixtures::png(400, 200);
    let asset = server.upload_ok("wide.png", &stored).await;
    let url = base_url(&asset);

    let cases = [
        ("w=100&dpr=1", (100, 50)),
        ("w=100&dpr=2", (200, 100)),
        ("w=100&dpr=3", (300, 150)),
        ("w=100&dpr=1.5", (150, 75)),
        ("w=50&h=50&fit=crop&dpr=3", (150, 150)),
        ("h=20&dpr=2", (80, 40)),
        ("w=50&dpr=9", (250, 125)), // dpr is clamped to 5
    ];
    for (query, expected) in cases {
        let reply = server.fetch(&format!("{url}?{query}"), &[]).await;
        reply.expect(200, query);
        assert_eq!(
            decoded(&reply, query).dimensions(),
            expected,
            "output size for ?{query}"
        );
    }
    let alone = server.fetch(&format!("{url}?dpr=2"), &[]).await;
    alone.expect(200, "dpr alone");
    assert_eq!(
        alone.body, stored,
        "dpr without w or h changes nothing, so the stored bytes are served"
    );
}

#[tokio::test]
async fn image_params_every_exif_orientation() {
    let server = TestServer::start();
    // Where the stored top-left corner is shown, as (right, bottom), for orientations 1 to 8.
    let corners = [
        (false, false),
        (true, false),
        (true, true),
        (false, true),
        (false, false),
        (true, false),
        (true, true),
        (false, true),
    ];
    let stored = marked(80, 40, ImageFormat::Jpeg);
    for (index, (right, bottom)) in corners.into_iter().enumerate() {
        let orientation = index as u16 + 1;
        let context = format!("orientation {orientation}");
        let asset = server
            .upload_ok(
                &format!("orientation-{orientation}.jpg"),
                &with_orientation(&stored, orientation),
            )
            .await;
        let turned = orientation >= 5;
        let shown: (u32, u32) = if turned { (40, 80) } else { (80, 40) };
        assert_eq!(
            (asset["width"].as_u64(), asset["height"].as_u64()),
            (Some(u64::from(shown.0)), Some(u64::from(shown.1))),
            "{context}: the asset reports the displayed size"
        );

        let reply = server
            .fetch(&format!("{}?w=20&fm=png", base_url(&asset)), &[])
            .await;
        reply.expect(200, &context);
        let image = decoded(&reply, &context);
        let expected = if turned { (20, 40) } else { (20, 10) };
        assert_eq!(
            image.dimensions(),
            expected,
            "{context}: upright output size"
        );
        let (width, height) = image.dimensions();
        let (x, y) = (
            if right { width * 3 / 4 } else { width / 4 },
            if bottom { height * 3 / 4 } else { height / 4 },
        );
        assert!(
            is_red(&image, x, y),
            "{context}: the red corner should be shown at ({x}, {y})"
        );
        let (x, y) = (width - 1 - x, height - 1 - y);
        assert!(
            !is_red(&image, x, y),
            "{context}: the opposite corner ({x}, {y}) should be blue"
        );
        assert!(
            !has_exif(&reply.body),
            "{context}: the output has no EXIF block"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Formats

#[tokio::test]
async fn image_params_every_output_format() {
    let server = TestServer::start();
    let asset = server
        .upload_ok("photo.jpg", &fixtures::jpeg_with_orientation(200, 100, 1))
        .await;
    let url = base_url(&asset);

    let cases = [
        ("jpg", "image/jpeg", ImageFormat::Jpeg),
        ("pjpg", "image/jpeg", ImageFormat::Jpeg),
        ("png", "image/png", ImageFormat::Png),
        ("webp", "image/webp", ImageFormat::WebP),
        ("avif", "image/avif", ImageFormat::Avif),
        ("gif", "image/gif", ImageFormat::Gif),
    ];
    for (fm, content_type, format) in cases {
        let query = format!("w=50&fm={fm}");
        let reply = server
            .fetch(&format!("{url}?{query}"), &[("accept", ACCEPT_AVIF)])
            .await;
        reply.expect(200, &query);
        assert_eq!(
            reply.header("content-type").as_deref(),
            Some(content_type),
            "?{query}"
        );
        assert_eq!(body_format(&reply, &query), format, "?{query}");
        // Only markers contain 0xFF followed by 0xC0 (start of a baseline frame) or 0xC2 (a progressive frame):
        // entropy-coded data stuffs every 0xFF with 0x00.
        let has_marker = |marker: u8| reply.body.windows(2).any(|pair| pair == [0xFF, marker]);
        if fm == "jpg" {
            assert!(has_marker(0xC0), "?{query}: a baseline JPEG");
        }
        if fm == "pjpg" {
            assert!(has_marker(0xC2), "?{query}: a progressive JPEG");
        }
        let size = if format == ImageFormat::Avif {
            avif_size(&reply.body)
        } else {
            decoded(&reply, &query).dimensions()
        };
        assert_eq!(size, (50, 25), "?{query}");
        assert!(
            !varies_by_accept(&reply),
            "?{query}: fm does not depend on Accept"
        );
        assert!(
            !has_exif(&reply.body),
            "?{query}: the output has no EXIF block"
        );
    }

    // A baseline JPEG source asked as `pjpg` alone is encoded again, progressively.
    let progressive = server.fetch(&format!("{url}?fm=pjpg"), &[]).await;
    progressive.expect(200, "fm=pjpg alone");
    assert!(
        progressive.body.windows(2).any(|pair| pair == [0xFF, 0xC2]),
        "fm=pjpg alone gives a progressive JPEG"
    );
    assert_eq!(
        decoded(&progressive, "fm=pjpg alone").dimensions(),
        (200, 100)
    );
}

#[tokio::test]
async fn image_params_negotiation_by_accept() {
    let server = TestServer::start();
    let stored = fixtures::jpeg(200, 100);
    let asset = server.upload_ok("photo.jpg", &stored).await;
    let url = base_url(&asset);

    let cases = [
        (ACCEPT_AVIF, "image/avif", ImageFormat::Avif),
        (ACCEPT_WEBP, "image/webp", ImageFormat::WebP),
        (ACCEPT_ANY, "image/jpeg", ImageFormat::Jpeg),
    ];
    for (accept, content_type, format) in cases {
        let reply = server
            .fetch(&format!("{url}?auto=format&w=50"), &[("accept", accept)])
            .await;
        reply.expect(200, accept);
        assert_eq!(
            reply.header("content-type").as_deref(),
            Some(content_type),
            "Accept: {accept}"
        );
        assert_eq!(body_format(&reply, accept), format, "Accept: {accept}");
        let size = if format == ImageFormat::Avif {
            avif_size(&reply.body)
        } else {
            decoded(&reply, accept).dimensions()
        };
        assert_eq!(size, (50, 25), "Accept: {accept}");
        assert!(
            varies_by_accept(&reply),
            "Accept: {accept}: Vary lists Accept"
        );
    }

    // The fallback that changes nothing is the stored file, still with Vary: Accept.
    let fallback = server
        .fetch(&format!("{url}?auto=format"), &[("accept", ACCEPT_ANY)])
        .await;
    fallback.expect(200, "auto=format fallback");
    assert_eq!(fallback.body, stored);
    assert!(
        varies_by_accept(&fallback),
        "the fallback has Vary: Accept too"
    );

    // A GIF never becomes AVIF, since it may be animated: WebP takes its place.
    let gif = server
        .upload_ok("still.gif", &marked(40, 20, ImageFormat::Gif))
        .await;
    let reply = server
        .fetch(
            &format!("{}?auto=format", base_url(&gif)),
            &[("accept", ACCEPT_AVIF)],
        )
        .await;
    reply.expect(200, "auto=format on a GIF");
    assert_eq!(reply.header("content-type").as_deref(), Some("image/webp"));
    assert_eq!(decoded(&reply, "GIF as WebP").dimensions(), (40, 20));
}

// ---------------------------------------------------------------------------------------------------------------
// SVG, animations and other files

#[tokio::test]
async fn image_params_svg_kept_unless_raster_fm() {
    let server = TestServer::start();
    let stored = br##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20" viewBox="0 0 4 2"><rect width="4" height="2" fill="#0000ff"/><rect width="2" height="1" fill="#ff0000"/></svg>"##.to_vec();
    let asset = server.upload_ok("logo.svg", &stored).await;
    assert_eq!(
        (asset["width"].as_u64(), asset["height"].as_u64()),
        (Some(40), Some(20))
    );
    let url = base_url(&asset);

    for query in [
        "",
        "?w=100",
        "?auto=format,compress",
        "?w=10&h=10&fit=crop&auto=format",
    ] {
        let reply = server
            .fetch(&format!("{url}{query}"), &[("accept", ACCEPT_AVIF)])
            .await;
        reply.expect(200, query);
        assert_eq!(reply.body, stored, "{query:?} returns the SVG as stored");
        assert_eq!(
            reply.header("content-type").as_deref(),
            Some("image/svg+xml"),
            "{query:?}"
        );
        let policy = reply.header("content-security-policy").unwrap_or_default();
        assert!(
            policy.contains("sandbox"),
            "{query:?}: the SVG keeps its sandbox policy, got {policy:?}"
        );
        assert!(
            !varies_by_accept(&reply),
            "{query:?}: the answer does not depend on Accept"
        );
    }

    let cases = [
        ("fm=png", ImageFormat::Png, (40, 20)),
        ("fm=png&w=400", ImageFormat::Png, (400, 200)),
        ("fm=webp&w=10&h=10&fit=crop", ImageFormat::WebP, (10, 10)),
        ("fm=jpg&h=10", ImageFormat::Jpeg, (20, 10)),
        ("fm=gif&w=20&rot=90", ImageFormat::Gif, (20, 40)),
        ("fm=png&rect=0,0,20,10&w=100", ImageFormat::Png, (100, 50)),
    ];
    for (query, format, size) in cases {
        let reply = server
            .fetch(&format!("{url}?{query}"), &[("accept", ACCEPT_AVIF)])
            .await;
        reply.expect(200, query);
        assert_eq!(body_format(&reply, query), format, "?{query}");
        let image = decoded(&reply, query);
        assert_eq!(image.dimensions(), size, "?{query}");
        assert!(
            reply.header("content-security-policy").is_none(),
            "?{query}: a raster output needs no sandbox"
        );
    }
    // Drawn at the output scale: the red top-left quarter has sharp edges at 400x200.
    let sharp = decoded(
        &server.fetch(&format!("{url}?fm=png&w=400"), &[]).await,
        "sharp",
    );
    assert!(is_red(&sharp, 198, 98));
    assert!(!is_red(&sharp, 202, 102));
    // The rectangle of the drawing alone is red.
    let corner = decoded(
        &server
            .fetch(&format!("{url}?fm=png&rect=0,0,20,10&w=100"), &[])
            .await,
        "corner",
    );
    assert!((0..100)
        .step_by(9)
        .all(|x| (0..50).step_by(7).all(|y| is_red(&corner, x, y))));
}

#[tokio::test]
async fn image_params_svg_limits() {
    let server = TestServer::start();

    let huge = br#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200000 200000"><rect width="10" height="10"/></svg>"#;
    let asset = server.upload_ok("huge.svg", huge).await;
    let url = base_url(&asset);
    server
        .fetch(&format!("{url}?fm=png&w=100"), &[])
        .await
        .expect_error(422, Some("source_too_large"), "a 200000x200000 viewBox");
    let plain = server.fetch(&url, &[]).await;
    plain.expect(200, "the SVG itself");
    assert_eq!(plain.body, huge.to_vec());

    // A 10x10 drawing whose pattern tile would be 100000x100000 pixels.
    let tile = br#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><pattern id="p" width="100000" height="100000" patternUnits="userSpaceOnUse"><rect width="5" height="5"/></pattern><rect width="10" height="10" fill="url(#p)"/></svg>"#;
    let asset = server.upload_ok("tile.svg", tile).await;
    server
        .fetch(&format!("{}?fm=png", base_url(&asset)), &[])
        .await
        .expect_error(422, Some("source_too_large"), "a huge pattern tile");

    // The output clamp applies to SVG too.
    let small = br#"<svg xmlns="http://www.w3.org/2000/svg" width="16" height="1"><rect width="16" height="1"/></svg>"#;
    let asset = server.upload_ok("strip.svg", small).await;
    let reply = server
        .fetch(&format!("{}?fm=png&w=10000", base_url(&asset)), &[])
        .await;
    reply.expect(200, "w=10000 on an SVG");
    assert_eq!(decoded(&reply, "clamped SVG").dimensions(), (8192, 512));
}

#[tokio::test]
async fn image_params_animated_gif() {
    let server = TestServer::start();
    let stored = animated_gif(8, 6);
    let asset = server.upload_ok("moving.gif", &stored).await;
    let url = base_url(&asset);

    // Resizing keeps every frame and its delay.
    let resized = server
        .fetch(&format!("{url}?w=16"), &[("accept", ACCEPT_ANY)])
        .await;
    resized.expect(200, "w=16 on an animated GIF");
    assert_eq!(resized.header("content-type").as_deref(), Some("image/gif"));
    let frames = animation_frames(&resized, "resized GIF");
    assert_gif_frames(&frames, (16, 12), "resized GIF");
    assert_eq!(
        frames.iter().map(milliseconds).collect::<Vec<_>>(),
        [100, 200, 300]
    );

    // auto=format turns it into an animated WebP, not a still AVIF.
    let negotiated = server
        .fetch(
            &format!("{url}?auto=format,compress"),
            &[("accept", ACCEPT_AVIF)],
        )
        .await;
    negotiated.expect(200, "auto=format on an animated GIF");
    assert_eq!(
        negotiated.header("content-type").as_deref(),
        Some("image/webp")
    );
    assert!(varies_by_accept(&negotiated));
    let frames = animation_frames(&negotiated, "GIF as WebP");
    assert_gif_frames(&frames, (8, 6), "GIF as WebP");
    assert_eq!(milliseconds(&frames[0]), 100);
    assert_eq!(milliseconds(&frames[1]), 200);

    // Transforms apply to every frame.
    let cropped = server
        .fetch(
            &format!("{url}?w=4&h=4&fit=crop&rot=90&flip=h&sat=-100"),
            &[],
        )
        .await;
    cropped.expect(200, "crop, rotate and desaturate an animated GIF");
    let frames = animation_frames(&cropped, "cropped GIF");
    assert_eq!(frames.len(), 3);
    for (index, frame) in frames.iter().enumerate() {
        assert_eq!(frame.buffer().dimensions(), (4, 4), "frame {index}");
        let [r, g, b, _] = frame.buffer().get_pixel(2, 2).0;
        assert!(
            r.abs_diff(g) < 8,
            "frame {index} is grey, got {:?}",
            [r, g, b]
        );
        assert!(
            g.abs_diff(b) < 8,
            "frame {index} is grey, got {:?}",
            [r, g, b]
        );
    }

    // A still output format gets the first frame.
    let still = server.fetch(&format!("{url}?fm=png&w=16"), &[]).await;
    still.expect(200, "fm=png on an animated GIF");
    assert_eq!(body_format(&still, "still"), ImageFormat::Png);
    let image = decoded(&still, "still");
    assert_eq!(image.dimensions(), (16, 12));
    assert!(is_red(&image, 8, 6), "the first frame is red");

    // The stored animation is served when nothing changes.
    let plain = server
        .fetch(&format!("{url}?auto=format"), &[("accept", ACCEPT_ANY)])
        .await;
    plain.expect(200, "auto=format without WebP");
    assert_eq!(plain.body, stored);
}

#[tokio::test]
async fn image_params_animated_gif_over_frame_budget() {
    // Three 40x40 frames are 4800 pixels; a limit of 4000 lets the first frame through, not all three.
    let server = TestServer::builder()
        .arg("--max-source-pixels", "4000")
        .start();
    let asset = server.upload_ok("moving.gif", &animated_gif(40, 40)).await;
    let reply = server
        .fetch(&format!("{}?w=20", base_url(&asset)), &[])
        .await;
    reply.expect(200, "w=20 on an animation over the frame budget");
    assert_eq!(body_format(&reply, "over budget"), ImageFormat::Gif);
    let frames = animation_frames(&reply, "over budget");
    assert_eq!(frames.len(), 1, "only the first frame is rendered");
    assert_eq!(frames[0].buffer().dimensions(), (20, 20));
}

#[tokio::test]
async fn image_params_animated_webp() {
    let server = TestServer::start();
    // An animated WebP made by medialib itself from an animated GIF.
    let gif = server.upload_ok("moving.gif", &animated_gif(8, 6)).await;
    let converted = server
        .fetch(&format!("{}?fm=webp&q=100", base_url(&gif)), &[])
        .await;
    converted.expect(200, "the GIF as an animated WebP");
    assert_gif_frames(
        &animation_frames(&converted, "converted"),
        (8, 6),
        "converted",
    );

    let asset = server.upload_ok("moving.webp", &converted.body).await;
    let url = base_url(&asset);
    let cases = [
        ("w=4", ImageFormat::WebP, (4, 3)),
        ("w=16&fm=gif", ImageFormat::Gif, (16, 12)),
    ];
    for (query, format, size) in cases {
        let reply = server
            .fetch(&format!("{url}?{query}"), &[("accept", ACCEPT_AVIF)])
            .await;
        reply.expect(200, query);
        assert_eq!(body_format(&reply, query), format, "?{query}");
        assert_gif_frames(&animation_frames(&reply, query), size, query);
    }

    // auto=format keeps a WebP source as WebP even where AVIF is accepted.
    let negotiated = server
        .fetch(
            &format!("{url}?auto=format&w=4"),
            &[("accept", ACCEPT_AVIF)],
        )
        .await;
    negotiated.expect(200, "auto=format on an animated WebP");
    assert_eq!(
        negotiated.header("content-type").as_deref(),
        Some("image/webp")
    );
    assert_eq!(animation_frames(&negotiated, "negotiated").len(), 3);

    let still = server.fetch(&format!("{url}?fm=jpg"), &[]).await;
    still.expect(200, "fm=jpg on an animated WebP");
    assert_eq!(body_format(&still, "still"), ImageFormat::Jpeg);
    assert_eq!(decoded(&still, "still").dimensions(), (8, 6));
}

#[tokio::test]
async fn image_params_ignored_by_other_files() {
    let server = TestServer::start();
    let cases = [
        ("manual.pdf", fixtures::pdf(), "application/pdf"),
        ("clip.mp4", fixtures::mp4(), "video/mp4"),
        ("notes.txt", fixtures::text(), "text/plain"),
    ];
    for (filename, stored, content_type) in cases {
        let asset = server.upload_ok(filename, &stored).await;
        let reply = server
            .fetch(
                &format!("{}?w=10&fm=png&auto=format,compress", base_url(&asset)),
                &[("accept", ACCEPT_AVIF)],
            )
            .await;
        reply.expect(200, filename);
        assert_eq!(reply.body, stored, "{filename}: the stored bytes");
        let served_type = reply.header("content-type").unwrap_or_default();
        assert!(
            served_type.starts_with(content_type),
            "{filename}: served as {served_type:?}"
        );
        assert!(
            !varies_by_accept(&reply),
            "{filename}: no negotiation happened"
        );
    }
}

#[tokio::test]
async fn image_params_without_effect_return_stored_bytes() {
    let server = TestServer::start();
    let stored = fixtures::jpeg_with_orientation(40, 20, 1);
    let asset = server.upload_ok("photo.jpg", &stored).await;
    let url = base_url(&asset);

    for query in [
        "",
        "?",
        "?fit=crop",
        "?crop=left",
        "?ar=1:1",
        "?q=50",
        "?bg=ff0000",
        "?fp-x=0.2",
        "?fm=jpeg",
        "?unknown=1",
    ] {
        let reply = server
            .fetch(&format!("{url}{query}"), &[("accept", ACCEPT_AVIF)])
            .await;
        reply.expect(200, query);
        assert_eq!(reply.body, stored, "{query:?} changes nothing");
        assert_eq!(
            reply.header("content-type").as_deref(),
            Some("image/jpeg"),
            "{query:?}"
        );
    }
}
