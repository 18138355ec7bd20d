//! Renders decoded and checked against sizes and colors worked out by hand.

use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

use super::params::{Format, ImageParams};
use super::render::{render, source_dimensions, RenderError, RenderLimits};
use crate::probe::tests::build::{exif_block, jpeg_with_exif};

const LIMITS: RenderLimits = RenderLimits { max_source_pixels: 100_000_000, max_output_dimension: 8192 };

/// Encodes a `width` x `height` image, red in its top-left `width / 4` x `height / 4` corner and blue elsewhere.
fn marked(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        if x < width / 4 && y < height / 4 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode test image");
    out.into_inner()
}

fn decoded(bytes: &[u8]) -> RgbaImage {
    image::load_from_memory(bytes).expect("the output decodes").to_rgba8()
}

fn render_query(source: &[u8], query: &str, format: Format) -> RgbaImage {
    let rendered = render(source, &ImageParams::parse(query), format, LIMITS).expect("render succeeds");
    let image = decoded(&rendered.bytes);
    assert_eq!((image.width(), image.height()), (rendered.width, rendered.height), "{query}");
    image
}

fn is_red(pixel: Rgba<u8>) -> bool {
    pixel.0[0] > 180 && pixel.0[2] < 80
}

#[test]
fn fit_modes_give_hand_computed_sizes() {
    let source = marked(400, 200, ImageFormat::Png);
    let cases = [
        ("w=100", (100, 50)),
        ("w=100&h=100", (100, 50)),
        ("w=800&fit=max", (400, 200)),
        ("w=100&h=100&fit=crop", (100, 100)),
        ("w=800&h=800&fit=min", (200, 200)),
        ("w=100&h=100&fit=scale", (100, 100)),
        ("w=100&h=100&fit=fill", (100, 100)),
        ("w=800&h=800&fit=fillmax", (800, 800)),
        ("w=100&h=100&fit=clamp", (100, 100)),
        ("w=100&dpr=2", (200, 100)),
        ("rect=0,0,100,50&w=50", (50, 25)),
        ("w=100&ar=2:1&fit=crop", (100, 50)),
    ];
    for (query, expected) in cases {
        let image = render_query(&source, query, Format::Png);
        assert_eq!((image.width(), image.height()), expected, "{query}");
    }
}

#[test]
fn rect_keeps_the_requested_region() {
    let source = marked(400, 200, ImageFormat::Png);
    let red_corner = render_query(&source, "rect=0,0,100,50", Format::Png);
    assert!(red_corner.pixels().all(|pixel| is_red(*pixel)));
    let blue_part = render_query(&source, "rect=200,100,100,50", Format::Png);
    assert!(blue_part.pixels().all(|pixel| !is_red(*pixel)));
}

#[test]
fn fill_pads_with_background() {
    let source = marked(400, 200, ImageFormat::Png);
    let image = render_query(&source, "w=100&h=100&fit=fill&bg=00ff00", Format::Png);
    assert_eq!(image.get_pixel(50, 5).0, [0, 255, 0, 255]);
    assert_eq!(image.get_pixel(50, 95).0, [0, 255, 0, 255]);
}

#[test]
fn exif_orientation_applied_before_geometry() {
    // Where the stored top-left corner lands once displayed, for orientations 1 to 8.
    let corners = [(false, false), (true, false), (true, true), (false, true), (false, false), (true, false), (true, true), (false, true)];
    let stored = marked(80, 40, ImageFormat::Jpeg);
    for (index, (right, bottom)) in corners.iter().enumerate() {
        let orientation = index as u16 + 1;
        let source = jpeg_with_exif(&stored, &exif_block(orientation, false));
        let image = render_query(&source, "w=40", Format::Png);

        let swapped = orientation >= 5;
        let expected = if swapped { (40, 80) } else { (40, 20) };
        assert_eq!((image.width(), image.height()), expected, "orientation {orientation}");
        let x = if *right { image.width() - 2 } else { 1 };
        let y = if *bottom { image.height() - 2 } else { 1 };
        assert!(is_red(*image.get_pixel(x, y)), "orientation {orientation}: marker at ({x}, {y})");
    }
}

#[test]
fn reduced_jpeg_decode_keeps_geometry() {
    // 800x400 to 50 pixels wide is a reduction of 16, so libjpeg decodes at 1/8 and every region is mapped to it.
    let corners = [(false, false), (true, false), (true, true), (false, true), (false, false), (true, false), (true, true), (false, true)];
    let stored = marked(800, 400, ImageFormat::Jpeg);
    for (index, (right, bottom)) in corners.iter().enumerate() {
        let orientation = index as u16 + 1;
        let source = jpeg_with_exif(&stored, &exif_block(orientation, false));
        let image = render_query(&source, "w=50", Format::Png);

        let expected = if orientation >= 5 { (50, 100) } else { (50, 25) };
        assert_eq!((image.width(), image.height()), expected, "orientation {orientation}");
        let x = if *right { image.width() - 3 } else { 2 };
        let y = if *bottom { image.height() - 3 } else { 2 };
        assert!(is_red(*image.get_pixel(x, y)), "orientation {orientation}: marker at ({x}, {y})");
        let (center_x, center_y) = (image.width() / 2, image.height() / 2);
        assert!(!is_red(*image.get_pixel(center_x, center_y)), "orientation {orientation}: the centre is blue");
    }

    // `rect` is in pixels of the full-size image: the red quarter, then a blue region of the same size.
    let red = render_query(&stored, "rect=0,0,200,100&w=40", Format::Png);
    assert_eq!((red.width(), red.height()), (40, 20));
    assert!(is_red(*red.get_pixel(20, 10)), "centre of the red quarter");
    assert!(is_red(*red.get_pixel(2, 2)), "corner of the red quarter");
    let blue = render_query(&stored, "rect=400,200,200,100&w=40", Format::Png);
    assert!(blue.pixels().all(|pixel| !is_red(*pixel)), "a region without red");

    // A crop from the middle with `fit=crop` keeps the requested aspect ratio.
    let cropped = render_query(&stored, "w=40&h=40&fit=crop", Format::Jpeg);
    assert_eq!((cropped.width(), cropped.height()), (40, 40));
}

#[test]
fn output_has_no_exif() {
    let source = jpeg_with_exif(&marked(80, 40, ImageFormat::Jpeg), &exif_block(6, false));
    let rendered = render(&source, &ImageParams::parse("w=20"), Format::Jpeg, LIMITS).unwrap();
    assert!(!rendered.bytes.windows(6).any(|window| window == b"Exif\0\0"));
}

#[test]
fn every_format_encodes_and_decodes() {
    let source = marked(64, 32, ImageFormat::Png);
    for (format, image_format) in [
        (Format::Jpeg, ImageFormat::Jpeg),
        (Format::Png, ImageFormat::Png),
        (Format::Webp, ImageFormat::WebP),
        (Format::Avif, ImageFormat::Avif),
        (Format::Gif, ImageFormat::Gif),
    ] {
        let rendered = render(&source, &ImageParams::parse("w=32"), format, LIMITS).unwrap();
        assert_eq!(image::guess_format(&rendered.bytes).unwrap(), image_format, "{format:?}");
        assert_eq!((rendered.width, rendered.height), (32, 16), "{format:?}");
    }
}

#[test]
fn source_over_pixel_limit_is_refused() {
    let source = marked(200, 100, ImageFormat::Png);
    let limits = RenderLimits { max_source_pixels: 19_999, max_output_dimension: 8192 };
    let error = render(&source, &ImageParams::parse("w=10"), Format::Png, limits).unwrap_err();
    assert!(matches!(error, RenderError::SourceTooLarge { width: 200, height: 100, .. }), "{error}");
    assert_eq!(source_dimensions(&source).unwrap(), (200, 100));
}

#[test]
fn saturation_minus_100_is_grey() {
    let source = marked(40, 40, ImageFormat::Png);
    let image = render_query(&source, "sat=-100", Format::Png);
    assert!(image.pixels().all(|Rgba([r, g, _, _])| r == g), "red equals green");
    assert!(image.pixels().all(|Rgba([_, g, b, _])| g == b), "green equals blue");
}
