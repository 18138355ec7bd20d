//! Animated GIF and WebP sources rendered to an animated GIF or WebP.
//!
//! Every frame goes through the same transforms as a still image. Other output formats, and animations over the
//! frame budget, get the first frame as a still image from the caller.

use std::io::Cursor;

use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::webp::WebPDecoder;
use image::metadata::LoopCount;
use image::{AnimationDecoder, Delay, DynamicImage, Frame, ImageDecoder, ImageFormat, RgbaImage};

use super::params::{Format, ImageParams};
use super::render::{
    check_source_size, decoder_limits, transform, RenderError, RenderLimits, Rendered,
    DEFAULT_QUALITY, GIF_SPEED,
};

/// Browsers show GIF frames with a delay of 10 ms or less for 100 ms. WebP viewers honour short delays as they are,
/// so a GIF converted to WebP gets the browsers' delay written out.
const SHORT_GIF_DELAY_MS: u32 = 10;
const BROWSER_GIF_DELAY_MS: u32 = 100;

/// One transformed frame and how long it shows, in milliseconds.
struct OutputFrame {
    image: RgbaImage,
    delay_ms: u32,
}

/// Renders every frame of an animated GIF or WebP `source` into an animated `format`.
///
/// Returns `None` when the source is not an animation, when `format` cannot animate, or when the frames exceed the
/// frame budget, and the caller then renders the first frame as a still image. Under the budget, the decoded pixels
/// of all frames, and separately the output pixels of all frames, stay within the source pixel limit.
pub fn render(
    source: &[u8],
    params: &ImageParams,
    format: Format,
    limits: RenderLimits,
) -> Result<Option<Rendered>, RenderError> {
    if !matches!(format, Format::Gif | Format::Webp) {
        return Ok(None);
    }
    let source_format = image::guess_format(source).ok();
    let frames = match source_format {
        Some(ImageFormat::Gif) => read_frames(
            GifDecoder::new(Cursor::new(source))?,
            source_format,
            params,
            format,
            limits,
        )?,
        Some(ImageFormat::WebP) => {
            let decoder = WebPDecoder::new(Cursor::new(source))?;
            if !decoder.has_animation() {
                return Ok(None);
            }
            read_frames(decoder, source_format, params, format, limits)?
        }
        _ => return Ok(None),
    };
    let Some((frames, loop_count)) = frames else {
        return Ok(None);
    };

    let (width, height) = frames[0].image.dimensions();
    let bytes = match format {
        Format::Gif => encode_gif(frames, loop_count)?,
        _ => encode_webp(
            &frames,
            loop_count,
            params.quality.unwrap_or(DEFAULT_QUALITY),
        )?,
    };
    Ok(Some(Rendered {
        bytes,
        format,
        width,
        height,
    }))
}

/// Decodes and transforms every frame, or returns `None` for a single frame or a budget overrun.
fn read_frames<'a, D>(
    mut decoder: D,
    source_format: Option<ImageFormat>,
    params: &ImageParams,
    format: Format,
    limits: RenderLimits,
) -> Result<Option<(Vec<OutputFrame>, LoopCount)>, RenderError>
where
    D: ImageDecoder + AnimationDecoder<'a>,
{
    let (width, height) = decoder.dimensions();
    check_source_size(width, height, limits)?;
    let frame_pixels = u64::from(width) * u64::from(height);
    decoder.set_limits(decoder_limits(width, height, limits))?;
    let loop_count = decoder.loop_count();
    let from_gif_to_webp = source_format == Some(ImageFormat::Gif) && format == Format::Webp;

    let mut frames = Vec::new();
    let mut decoded_pixels = 0u64;
    let mut output_pixels = 0u64;
    for frame in decoder.into_frames() {
        let frame: Frame = frame?;
        decoded_pixels += frame_pixels;
        if decoded_pixels > limits.max_source_pixels {
            return Ok(None);
        }

        let delay_ms = milliseconds(frame.delay());
        let delay_ms = if from_gif_to_webp && delay_ms <= SHORT_GIF_DELAY_MS {
            BROWSER_GIF_DELAY_MS
        } else {
            delay_ms
        };
        let image = transform(
            DynamicImage::ImageRgba8(frame.into_buffer()),
            params,
            format,
            limits,
        )?;
        output_pixels += u64::from(image.width()) * u64::from(image.height());
        if output_pixels > limits.max_source_pixels {
            return Ok(None);
        }
        frames.push(OutputFrame { image, delay_ms });
    }

    if frames.len() < 2 {
        return Ok(None);
    }
    Ok(Some((frames, loop_count)))
}

fn milliseconds(delay: Delay) -> u32 {
    let (numerator, denominator) = delay.numer_denom_ms();
    numerator / denominator.max(1)
}

fn encode_gif(frames: Vec<OutputFrame>, loop_count: LoopCount) -> Result<Vec<u8>, RenderError> {
    let encode_error = |error: image::ImageError| RenderError::Encode(error.to_string());
    let repeat = match loop_count {
        LoopCount::Infinite => Repeat::Infinite,
        LoopCount::Finite(count) => Repeat::Finite(u16::try_from(count.get()).unwrap_or(u16::MAX)),
    };
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut bytes, GIF_SPEED);
        encoder.set_repeat(repeat).map_err(encode_error)?;
        for frame in frames {
            let delay = Delay::from_numer_denom_ms(frame.delay_ms, 1);
            encoder
                .encode_frame(Frame::from_parts(frame.image, 0, 0, delay))
                .map_err(encode_error)?;
        }
    }
    Ok(bytes)
}

fn encode_webp(
    frames: &[OutputFrame],
    loop_count: LoopCount,
    quality: u8,
) -> Result<Vec<u8>, RenderError> {
    let (width, height) = frames[0].image.dimensions();
    let mut config = webp::WebPConfig::new()
        .map_err(|()| RenderError::Encode("libwebp rejected its default configuration".into()))?;
    config.lossless = 0;
    config.quality = f32::from(quality);

    let mut encoder = webp::AnimEncoder::new(width, height, &config);
    encoder.set_loop_count(match loop_count {
        LoopCount::Infinite => 0,
        LoopCount::Finite(count) => i32::try_from(count.get()).unwrap_or(i32::MAX),
    });
    // NOTE: the `webp` crate ends the animation with a timestamp of 0, which libwebp rejects, so the last frame
    // shows for the average delay of the others instead of its own.
    let mut timestamp_ms = 0i32;
    for frame in frames {
        encoder.add_frame(webp::AnimFrame::from_rgba(
            frame.image.as_raw(),
            width,
            height,
            timestamp_ms,
        ));
        timestamp_ms =
            timestamp_ms.saturating_add(i32::try_from(frame.delay_ms).unwrap_or(i32::MAX));
    }
    let encoded = encoder
        .try_encode()
        .map_err(|error| RenderError::Encode(format!("animated WebP: {error:?}")))?;
    Ok(encoded.to_vec())
}

#[cfg(test)]
mod tests {
    use image::codecs::gif::{GifEncoder, Repeat};
    use image::{Delay, Frame, Rgba, RgbaImage};

    use super::*;

    const LIMITS: RenderLimits = RenderLimits {
        max_source_pixels: 100_000_000,
        max_output_dimension: 8192,
    };

    /// Encodes a looping GIF of `frames` frames on a `width` x `height` canvas: frame `i` is a solid color whose
    /// red channel is `i * 60`, shown for `(i + 1) * 100` ms.
    fn animated_gif(width: u32, height: u32, frames: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        {
            let mut encoder = GifEncoder::new(&mut bytes);
            encoder.set_repeat(Repeat::Infinite).unwrap();
            for index in 0..frames {
                let image =
                    RgbaImage::from_pixel(width, height, Rgba([(index * 60) as u8, 0, 200, 255]));
                let delay = Delay::from_numer_denom_ms((index + 1) * 100, 1);
                encoder
                    .encode_frame(Frame::from_parts(image, 0, 0, delay))
                    .unwrap();
            }
        }
        bytes
    }

    fn decoded_frames(bytes: &[u8]) -> Vec<Frame> {
        match image::guess_format(bytes).unwrap() {
            ImageFormat::Gif => GifDecoder::new(Cursor::new(bytes))
                .unwrap()
                .into_frames()
                .collect_frames()
                .unwrap(),
            ImageFormat::WebP => WebPDecoder::new(Cursor::new(bytes))
                .unwrap()
                .into_frames()
                .collect_frames()
                .unwrap(),
            other => panic!("not an animation format: {other:?}"),
        }
    }

    fn render_query(
        source: &[u8],
        query: &str,
        format: Format,
        limits: RenderLimits,
    ) -> Option<Rendered> {
        render(source, &ImageParams::parse(query), format, limits).expect("render succeeds")
    }

    #[test]
    fn resize_keeps_every_gif_frame() {
        let source = animated_gif(40, 20, 3);
        let rendered = render_query(&source, "w=20", Format::Gif, LIMITS).expect("an animation");
        assert_eq!((rendered.width, rendered.height), (20, 10));
        let frames = decoded_frames(&rendered.bytes);
        assert_eq!(frames.len(), 3);
        for (index, frame) in frames.iter().enumerate() {
            assert_eq!(frame.buffer().dimensions(), (20, 10), "frame {index}");
            assert_eq!(
                milliseconds(frame.delay()),
                (index as u32 + 1) * 100,
                "frame {index}"
            );
            let red = frame.buffer().get_pixel(10, 5).0[0];
            assert!(
                red.abs_diff((index * 60) as u8) < 12,
                "frame {index} has red {red}"
            );
        }
    }

    #[test]
    fn gif_becomes_animated_webp() {
        let source = animated_gif(40, 20, 3);
        let rendered = render_query(&source, "w=10&h=10&fit=crop&rot=90", Format::Webp, LIMITS)
            .expect("an animation");
        assert_eq!(
            image::guess_format(&rendered.bytes).unwrap(),
            ImageFormat::WebP
        );
        let frames = decoded_frames(&rendered.bytes);
        assert_eq!(frames.len(), 3);
        assert!(frames
            .iter()
            .all(|frame| frame.buffer().dimensions() == (10, 10)));
        assert_eq!(milliseconds(frames[0].delay()), 100);
        assert_eq!(milliseconds(frames[1].delay()), 200);
        assert_eq!(
            milliseconds(frames[2].delay()),
            150,
            "the last frame shows for the average of the others"
        );
    }

    #[test]
    fn animated_webp_stays_animated() {
        let gif = animated_gif(30, 30, 2);
        let webp = render_query(&gif, "w=30", Format::Webp, LIMITS).expect("an animation");
        let again = render_query(&webp.bytes, "w=15", Format::Webp, LIMITS).expect("an animation");
        assert_eq!((again.width, again.height), (15, 15));
        assert_eq!(decoded_frames(&again.bytes).len(), 2);
    }

    #[test]
    fn stills_left_to_caller() {
        let source = animated_gif(40, 20, 3);
        for format in [Format::Png, Format::Jpeg, Format::Avif] {
            assert!(
                render_query(&source, "w=20", format, LIMITS).is_none(),
                "{format:?}"
            );
        }
        let still = animated_gif(40, 20, 1);
        assert!(render_query(&still, "w=20", Format::Gif, LIMITS).is_none());
    }

    #[test]
    fn over_budget_left_to_caller() {
        let source = animated_gif(40, 20, 3);
        // Two frames of 800 pixels fit in 2000; the third does not.
        let limits = RenderLimits {
            max_source_pixels: 2000,
            max_output_dimension: 8192,
        };
        assert!(render_query(&source, "w=40", Format::Gif, limits).is_none());
        let limits = RenderLimits {
            max_source_pixels: 2400,
            max_output_dimension: 8192,
        };
        assert!(render_query(&source, "w=40", Format::Gif, limits).is_some());
    }
}
