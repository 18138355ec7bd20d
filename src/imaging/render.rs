//! Rendering of one image variant: decode under limits, orient, crop, resize, adjust, pad and encode.
//!
//! Runs on a blocking thread; the caller bounds concurrency and time. Decoded pixels never carry metadata, so the
//! output has no EXIF orientation, location or camera data. SVG sources are rasterised by `svg`, and animated GIF
//! and WebP sources keep their frames through `animation` when the output format can animate.

use std::io::Cursor;

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, Rgba, RgbaImage};

use super::geometry::{plan, Padding, Plan};
use super::params::{Color, Format, ImageParams};
use super::{animation, jpeg, svg};

/// Quality used when the request sets none, as on imgix.
pub const DEFAULT_QUALITY: u8 = 75;
/// Speed of the GIF color quantizer, from 1 (best palette, slowest) to 30; 10 is the `gif` crate's suggested
/// compromise and is several times faster than 1.
pub(super) const GIF_SPEED: i32 = 10;

/// Limits that bound the cost of one render.
#[derive(Debug, Clone, Copy)]
pub struct RenderLimits {
    /// Largest source, in pixels (width times height), that is decoded.
    pub max_source_pixels: u64,
    /// Largest output side, in pixels.
    pub max_output_dimension: u32,
}

/// Failure of a render.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the source has {width}x{height} pixels, more than the limit of {limit}")]
    SourceTooLarge { width: u32, height: u32, limit: u64 },
    #[error("the source's header states {width}x{height} pixels, an image without pixels")]
    NoPixels { width: u32, height: u32 },
    #[error("the source cannot be decoded: {0}")]
    Decode(#[from] image::ImageError),
    #[error("the SVG document cannot be parsed: {0}")]
    InvalidSvg(String),
    /// Rasterising an SVG would need pixel buffers (canvas, layers, masks, pattern tiles) larger than the limit.
    #[error("rasterising the SVG needs about {pixels} pixels of buffers, more than the limit of {limit}")]
    SvgBuffersTooLarge { pixels: u64, limit: u64 },
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// An encoded variant.
#[derive(Debug)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

/// Returns the width and height stated by the source's header, without decoding pixels.
pub fn source_dimensions(source: &[u8]) -> Result<(u32, u32), RenderError> {
    let decoder = ImageReader::new(Cursor::new(source)).with_guessed_format().map_err(image::ImageError::IoError)?.into_decoder()?;
    Ok(decoder.dimensions())
}

/// Renders `source` with `params` into `format`.
pub fn render(source: &[u8], params: &ImageParams, format: Format, limits: RenderLimits) -> Result<Rendered, RenderError> {
    if svg::is_svg(source) {
        let (scaled, plan) = svg::rasterise(source, params, limits)?;
        return encode_rendered(&finish(scaled, &plan, params, format), params, format);
    }
    if let Some(rendered) = animation::render(source, params, format, limits)? {
        return Ok(rendered);
    }

    let (image, full_size) = decode(source, params, limits)?;
    let output = transform_reduced(image, full_size, params, format, limits)?;
    encode_rendered(&output, params, format)
}

/// Applies `rot`, `flip`, the planned crop and resize, `sat`, `blur` and the padding to an upright image.
pub(super) fn transform(
    image: DynamicImage,
    params: &ImageParams,
    format: Format,
    limits: RenderLimits,
) -> Result<RgbaImage, RenderError> {
    let full_size = (image.width(), image.height());
    transform_reduced(image, full_size, params, format, limits)
}

/// Transforms as `transform` does an upright image that may have been decoded at a reduced size: `full_size` is
/// its size at full scale, which every geometry parameter refers to.
fn transform_reduced(
    mut image: DynamicImage,
    full_size: (u32, u32),
    params: &ImageParams,
    format: Format,
    limits: RenderLimits,
) -> Result<RgbaImage, RenderError> {
    image = match params.rotation {
        90 => image.rotate90(),
        180 => image.rotate180(),
        270 => image.rotate270(),
        _ => image,
    };
    if params.flip_horizontal {
        image = image.fliph();
    }
    if params.flip_vertical {
        image = image.flipv();
    }

    let (full_width, full_height) = rotated_size(full_size, params);
    let plan = plan(full_width, full_height, params, limits.max_output_dimension);
    let scaled = resize(image, (full_width, full_height), &plan)?;
    Ok(finish(scaled, &plan, params, format))
}

/// Returns the size of a `size` image after `rot`.
fn rotated_size((width, height): (u32, u32), params: &ImageParams) -> (u32, u32) {
    if matches!(params.rotation, 90 | 270) {
        (height, width)
    } else {
        (width, height)
    }
}

/// Applies `sat` and `blur` to the scaled image and places it on the planned canvas.
pub(super) fn finish(mut scaled: RgbaImage, plan: &Plan, params: &ImageParams, format: Format) -> RgbaImage {
    if let Some(amount) = params.saturation {
        saturate(&mut scaled, amount);
    }
    if let Some(radius) = params.blur {
        scaled = image::imageops::fast_blur(&scaled, blur_sigma(radius));
    }
    pad(scaled, plan, params.background, format)
}

fn encode_rendered(output: &RgbaImage, params: &ImageParams, format: Format) -> Result<Rendered, RenderError> {
    let quality = params.quality.unwrap_or(DEFAULT_QUALITY);
    let bytes = encode(output, format, quality, params.background)?;
    Ok(Rendered { bytes, format, width: output.width(), height: output.height() })
}

/// Decodes under the pixel limit, which is checked from the header before any pixel buffer exists, and applies the
/// EXIF orientation. Returns the image and its upright size at full scale.
///
/// A JPEG whose planned output is at most half the size of the region it comes from is decoded at 1/2, 1/4 or 1/8
/// of its size by libjpeg (see `jpeg`), still at least as large as the output. Other sources, and JPEGs that
/// libjpeg rejects, are decoded at full size by the image crate.
fn decode(source: &[u8], params: &ImageParams, limits: RenderLimits) -> Result<(DynamicImage, (u32, u32)), RenderError> {
    let reader = ImageReader::new(Cursor::new(source)).with_guessed_format().map_err(image::ImageError::IoError)?;
    let is_jpeg = reader.format() == Some(image::ImageFormat::Jpeg);
    let mut decoder = reader.into_decoder()?;
    let (width, height) = decoder.dimensions();
    check_source_size(width, height, limits)?;

    decoder.set_limits(decoder_limits(width, height, limits))?;

    let orientation = decoder.orientation()?;
    let upright_size = if orientation_swaps_sides(orientation) { (height, width) } else { (width, height) };
    let reduced = if is_jpeg { jpeg_reduction(upright_size, params, limits) } else { None };
    if let Some(mut image) = reduced.and_then(|factor| jpeg::decode_reduced(source, factor)) {
        image.apply_orientation(orientation);
        return Ok((image, upright_size));
    }

    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    Ok((image, upright_size))
}

fn orientation_swaps_sides(orientation: image::metadata::Orientation) -> bool {
    use image::metadata::Orientation::{Rotate270, Rotate270FlipH, Rotate90, Rotate90FlipH};
    matches!(orientation, Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH)
}

/// Returns the factor (2, 4 or 8) a JPEG of `upright_size` can be reduced by while decoding, from the plan of the
/// request, or `None` when the output needs the full resolution.
fn jpeg_reduction(upright_size: (u32, u32), params: &ImageParams, limits: RenderLimits) -> Option<u32> {
    let (width, height) = rotated_size(upright_size, params);
    let plan = plan(width, height, params, limits.max_output_dimension);
    jpeg::reduction((plan.source.width, plan.source.height), plan.scaled)
}

/// Checks the size that a source's header states, before any pixel buffer exists: a side of zero pixels (which the
/// resizer cannot take) or more pixels than the limit is an error.
pub(super) fn check_source_size(width: u32, height: u32, limits: RenderLimits) -> Result<(), RenderError> {
    if width == 0 || height == 0 {
        return Err(RenderError::NoPixels { width, height });
    }
    if u64::from(width) * u64::from(height) > limits.max_source_pixels {
        return Err(RenderError::SourceTooLarge { width, height, limit: limits.max_source_pixels });
    }
    Ok(())
}

/// Returns decoder limits that allow the stated `width` x `height` and nothing larger.
pub(super) fn decoder_limits(width: u32, height: u32, limits: RenderLimits) -> Limits {
    let mut decoder_limits = Limits::default();
    decoder_limits.max_image_width = Some(width);
    decoder_limits.max_image_height = Some(height);
    // Eight bytes per pixel covers 16-bit RGBA; the decoder refuses to allocate more.
    decoder_limits.max_alloc = Some(limits.max_source_pixels.saturating_mul(8));
    decoder_limits
}

/// Crops the planned source region and scales it to the planned size, in 8-bit RGBA. The plan is in pixels of the
/// image at `full_size`; `image` may be smaller (a reduced JPEG decode), and the region is scaled to match.
///
/// Opaque images are resized as RGB and converted to RGBA afterwards, which is cheaper than converting the larger
/// source first.
fn resize(image: DynamicImage, full_size: (u32, u32), plan: &Plan) -> Result<RgbaImage, RenderError> {
    let image = if image.color().has_alpha() {
        DynamicImage::ImageRgba8(image.into_rgba8())
    } else {
        DynamicImage::ImageRgb8(image.into_rgb8())
    };
    let (width, height) = (image.width(), image.height());
    let scale_x = f64::from(width) / f64::from(full_size.0);
    let scale_y = f64::from(height) / f64::from(full_size.1);
    let source = plan.source;
    let whole = source.x == 0 && source.y == 0 && source.width == full_size.0 && source.height == full_size.1;
    if whole && plan.scaled == (width, height) {
        return Ok(image.into_rgba8());
    }

    let mut target = match image {
        DynamicImage::ImageRgba8(_) => DynamicImage::ImageRgba8(RgbaImage::new(plan.scaled.0, plan.scaled.1)),
        _ => DynamicImage::ImageRgb8(image::RgbImage::new(plan.scaled.0, plan.scaled.1)),
    };
    // The products can pass the image's edge by a rounding error when the image is a reduced decode, which the
    // resizer rejects, so the box is clamped to the image.
    let left = (f64::from(source.x) * scale_x).min(f64::from(width));
    let top = (f64::from(source.y) * scale_y).min(f64::from(height));
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3)).crop(
        left,
        top,
        (f64::from(source.width) * scale_x).min(f64::from(width) - left),
        (f64::from(source.height) * scale_y).min(f64::from(height) - top),
    );
    Resizer::new()
        .resize(&image, &mut target, &options)
        .map_err(|error| RenderError::Encode(format!("resizing failed: {error}")))?;
    Ok(target.into_rgba8())
}

/// Changes saturation by `amount` percent: -100 turns the image grey.
fn saturate(image: &mut RgbaImage, amount: i32) {
    let factor = 1.0 + f32::from(amount as i16) / 100.0;
    for pixel in image.pixels_mut() {
        let [r, g, b, _] = pixel.0;
        let luma = 0.2126 * f32::from(r) + 0.7152 * f32::from(g) + 0.0722 * f32::from(b);
        let adjust = |channel: u8| (luma + (f32::from(channel) - luma) * factor).round().clamp(0.0, 255.0) as u8;
        pixel.0 = [adjust(r), adjust(g), adjust(b), pixel.0[3]];
    }
}

/// Converts imgix's `blur` value (0 to 2000) to a Gaussian sigma in pixels.
// NOTE: imgix does not document its blur scale; sigma = blur / 10 is an approximation chosen to look similar.
fn blur_sigma(radius: u32) -> f32 {
    radius as f32 / 10.0
}

/// Places the scaled image on its canvas, filling the rest with the background color or the edge pixels.
fn pad(scaled: RgbaImage, plan: &Plan, background: Option<Color>, format: Format) -> RgbaImage {
    if plan.padding == Padding::None || (scaled.width(), scaled.height()) == plan.canvas {
        return scaled;
    }
    let fill = background.map(|Color(rgba)| Rgba(rgba)).unwrap_or(if supports_alpha(format) {
        Rgba([0, 0, 0, 0])
    } else {
        Rgba([255, 255, 255, 255])
    });
    let (canvas_width, canvas_height) = plan.canvas;
    let (offset_x, offset_y) = plan.offset;
    let (width, height) = (scaled.width(), scaled.height());

    RgbaImage::from_fn(canvas_width, canvas_height, |x, y| {
        let inside_x = x >= offset_x && x < offset_x + width;
        let inside_y = y >= offset_y && y < offset_y + height;
        if inside_x && inside_y {
            return *scaled.get_pixel(x - offset_x, y - offset_y);
        }
        match plan.padding {
            Padding::Edge => {
                let source_x = x.clamp(offset_x, offset_x + width - 1) - offset_x;
                let source_y = y.clamp(offset_y, offset_y + height - 1) - offset_y;
                *scaled.get_pixel(source_x, source_y)
            }
            _ => fill,
        }
    })
}

fn supports_alpha(format: Format) -> bool {
    !matches!(format, Format::Jpeg | Format::ProgressiveJpeg)
}

/// Encodes RGBA pixels; formats without alpha get the pixels composited over `background` (white by default).
fn encode(image: &RgbaImage, format: Format, quality: u8, background: Option<Color>) -> Result<Vec<u8>, RenderError> {
    let mut bytes = Vec::new();
    let encode_error = |error: image::ImageError| RenderError::Encode(error.to_string());
    match format {
        Format::Jpeg | Format::ProgressiveJpeg => {
            let flat = flatten(image, background.unwrap_or(Color([255, 255, 255, 255])));
            bytes = jpeg::encode(&flat, quality, format == Format::ProgressiveJpeg)?;
        }
        Format::Png => {
            let encoder = image::codecs::png::PngEncoder::new_with_quality(
                &mut bytes,
                image::codecs::png::CompressionType::Best,
                image::codecs::png::FilterType::Adaptive,
            );
            DynamicImage::ImageRgba8(image.clone()).write_with_encoder(encoder).map_err(encode_error)?;
        }
        Format::Webp => {
            let encoder = webp::Encoder::from_rgba(image.as_raw(), image.width(), image.height());
            let encoded = encoder.encode_simple(false, f32::from(quality)).map_err(|error| RenderError::Encode(format!("{error:?}")))?;
            bytes.extend_from_slice(&encoded);
        }
        #[cfg(feature = "avif")]
        Format::Avif => {
            let encoder = image::codecs::avif::AvifEncoder::new_with_speed_quality(&mut bytes, 8, quality.max(1));
            DynamicImage::ImageRgba8(image.clone()).write_with_encoder(encoder).map_err(encode_error)?;
        }
        #[cfg(not(feature = "avif"))]
        Format::Avif => return Err(RenderError::Encode("this build has no AVIF encoder".to_owned())),
        Format::Gif => {
            let mut encoder = image::codecs::gif::GifEncoder::new_with_speed(&mut bytes, GIF_SPEED);
            encoder.encode_frame(image::Frame::new(image.clone())).map_err(encode_error)?;
        }
    }
    Ok(bytes)
}

/// Composites RGBA pixels over an opaque color.
fn flatten(image: &RgbaImage, background: Color) -> image::RgbImage {
    let Color([red, green, blue, _]) = background;
    let mut pixels = Vec::with_capacity(image.as_raw().len() / 4 * 3);
    for pixel in image.as_raw().chunks_exact(4) {
        let [r, g, b, a] = [pixel[0], pixel[1], pixel[2], pixel[3]];
        if a == 255 {
            pixels.extend_from_slice(&[r, g, b]);
            continue;
        }
        let alpha = u32::from(a);
        let mix = |over: u8, under: u8| ((u32::from(over) * alpha + u32::from(under) * (255 - alpha) + 127) / 255) as u8;
        pixels.extend_from_slice(&[mix(r, red), mix(g, green), mix(b, blue)]);
    }
    image::RgbImage::from_raw(image.width(), image.height(), pixels).expect("three bytes for each RGBA pixel")
}
