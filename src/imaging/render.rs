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
use super::{animation, svg};

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

    let image = decode(source, limits)?;
    let output = transform(image, params, format, limits)?;
    encode_rendered(&output, params, format)
}

/// Applies `rot`, `flip`, the planned crop and resize, `sat`, `blur` and the padding to an upright image.
pub(super) fn transform(
    mut image: DynamicImage,
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

    let plan = plan(image.width(), image.height(), params, limits.max_output_dimension);
    let scaled = resize(&image, &plan)?;
    Ok(finish(scaled, &plan, params, format))
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
/// EXIF orientation.
fn decode(source: &[u8], limits: RenderLimits) -> Result<DynamicImage, RenderError> {
    let reader = ImageReader::new(Cursor::new(source)).with_guessed_format().map_err(image::ImageError::IoError)?;
    let mut decoder = reader.into_decoder()?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > limits.max_source_pixels {
        return Err(RenderError::SourceTooLarge { width, height, limit: limits.max_source_pixels });
    }

    decoder.set_limits(decoder_limits(width, height, limits))?;

    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    Ok(image)
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

/// Crops the planned source region and scales it to the planned size, in 8-bit RGBA.
fn resize(image: &DynamicImage, plan: &Plan) -> Result<RgbaImage, RenderError> {
    let rgba = DynamicImage::ImageRgba8(image.to_rgba8());
    let source = plan.source;
    let whole = source.x == 0 && source.y == 0 && source.width == image.width() && source.height == image.height();
    if whole && plan.scaled == (image.width(), image.height()) {
        return Ok(rgba.into_rgba8());
    }

    let mut target = DynamicImage::ImageRgba8(RgbaImage::new(plan.scaled.0, plan.scaled.1));
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(f64::from(source.x), f64::from(source.y), f64::from(source.width), f64::from(source.height));
    Resizer::new()
        .resize(&rgba, &mut target, &options)
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
        // NOTE: `pjpg` is encoded as a baseline JPEG: the image crate has no progressive encoder.
        Format::Jpeg | Format::ProgressiveJpeg => {
            let flat = flatten(image, background.unwrap_or(Color([255, 255, 255, 255])));
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality.max(1))
                .encode_image(&flat)
                .map_err(encode_error)?;
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
        Format::Avif => {
            let encoder = image::codecs::avif::AvifEncoder::new_with_speed_quality(&mut bytes, 8, quality.max(1));
            DynamicImage::ImageRgba8(image.clone()).write_with_encoder(encoder).map_err(encode_error)?;
        }
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
    image::RgbImage::from_fn(image.width(), image.height(), |x, y| {
        let Rgba([r, g, b, a]) = *image.get_pixel(x, y);
        let alpha = u32::from(a);
        let mix = |over: u8, under: u8| ((u32::from(over) * alpha + u32::from(under) * (255 - alpha) + 127) / 255) as u8;
        image::Rgb([mix(r, red), mix(g, green), mix(b, blue)])
    })
}
