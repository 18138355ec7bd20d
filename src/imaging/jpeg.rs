//! JPEG decoding at a reduced size, and JPEG encoding, both with mozjpeg.
//!
//! A JPEG stores 8x8 blocks of DCT coefficients, so libjpeg can produce the image at 1/2, 1/4 or 1/8 of its size by
//! running a smaller inverse DCT per block, without computing the full-size pixels first. For a 4000x3000 source
//! rendered at 400 pixels wide this skips most of the decoding work, the 48 MB RGBA buffer and most of the resize.
//! libvips, and so sharp, does the same ("shrink-on-load").

use std::panic::{catch_unwind, AssertUnwindSafe};

use image::{DynamicImage, GrayImage, RgbImage};
use mozjpeg::{qtable, ColorSpace, Compress, Decompress};

use super::render::RenderError;

/// Returns the largest factor of 2, 4 and 8 that a source region of `region` pixels can be reduced by while it stays
/// at least `scaled` pixels on both sides, or `None` when it cannot be reduced by 2.
pub fn reduction(region: (u32, u32), scaled: (u32, u32)) -> Option<u32> {
    let ratio = |source: u32, target: u32| f64::from(source) / f64::from(target.max(1));
    let ratio = ratio(region.0, scaled.0).min(ratio(region.1, scaled.1));
    [8, 4, 2]
        .into_iter()
        .find(|&factor| ratio >= f64::from(factor))
}

/// Decodes a JPEG at 1/`factor` of its size (libjpeg rounds each side up), without applying the EXIF orientation.
///
/// Returns `None` when libjpeg rejects the file (a corrupt header, arithmetic coding), and when its color space is
/// CMYK or YCCK, which libjpeg does not convert to RGB. The caller then decodes it at full size with the image crate,
/// which reports its own error if it fails too. `factor` is 2, 4 or 8.
pub fn decode_reduced(source: &[u8], factor: u32) -> Option<DynamicImage> {
    debug_assert!(
        matches!(factor, 2 | 4 | 8),
        "unsupported reduction {factor}"
    );
    // libjpeg reports fatal errors by unwinding out of its error handler (the `unwinding` feature of mozjpeg-sys).
    // Nothing outlives the closure, so a half-finished decoder is simply dropped.
    let decoded = catch_unwind(AssertUnwindSafe(
        || -> std::io::Result<Option<DynamicImage>> {
            let mut decompress = Decompress::new_mem(source)?;
            let gray = match decompress.color_space() {
                ColorSpace::JCS_GRAYSCALE => true,
                ColorSpace::JCS_YCbCr | ColorSpace::JCS_RGB => false,
                _ => return Ok(None),
            };
            decompress.scale((8 / factor) as u8);

            let mut started = if gray {
                decompress.grayscale()?
            } else {
                decompress.rgb()?
            };
            let (width, height) = (started.width() as u32, started.height() as u32);
            let pixels: Vec<u8> = started.read_scanlines()?;
            started.finish()?;
            let image = if gray {
                GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
            } else {
                RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
            };
            Ok(image)
        },
    ));
    match decoded {
        Ok(Ok(image)) => image,
        Ok(Err(error)) => {
            tracing::debug!(error = %error, "reduced JPEG decoding failed; decoding at full size");
            None
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map_or("unknown error", String::as_str);
            tracing::debug!(error = %message, "reduced JPEG decoding failed; decoding at full size");
            None
        }
    }
}

/// Encodes opaque RGB pixels as a baseline JPEG, or a progressive one when `progressive` is set, with 4:2:0 chroma
/// subsampling, optimised Huffman tables and the standard (Annex K) quantisation tables scaled by `quality` as libjpeg
/// scales them: the settings of libjpeg-turbo's `cjpeg -optimize` and of sharp. The encoder is mozjpeg, which also
/// chooses each block's quantised coefficients by trellis search (rate against distortion), so the file is smaller
/// than libjpeg-turbo's at the same quality setting.
pub fn encode(image: &RgbImage, quality: u8, progressive: bool) -> Result<Vec<u8>, RenderError> {
    if image.width() > 65_535 || image.height() > 65_535 {
        return Err(RenderError::Encode(format!(
            "{}x{} is larger than JPEG's limit of 65535 pixels a side",
            image.width(),
            image.height()
        )));
    }
    let quality = f32::from(quality.clamp(1, 100));

    // libjpeg reports fatal errors by unwinding out of its error handler, as in `decode_reduced`.
    let encoded = catch_unwind(AssertUnwindSafe(|| -> std::io::Result<Vec<u8>> {
        let mut compress = Compress::new(ColorSpace::JCS_RGB);
        compress.set_size(image.width() as usize, image.height() as usize);
        compress.set_luma_qtable(&qtable::AnnexK_Luma.scaled(quality, quality));
        compress.set_chroma_qtable(&qtable::AnnexK_Chroma.scaled(quality, quality));
        compress.set_chroma_sampling_pixel_sizes((2, 2), (2, 2));
        compress.set_optimize_coding(true);
        if progressive {
            compress.set_progressive_mode();
        } else {
            compress.set_optimize_scans(false);
        }
        let mut started = compress.start_compress(Vec::new())?;
        started.write_scanlines(image.as_raw())?;
        started.finish()
    }));
    match encoded {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => Err(RenderError::Encode(error.to_string())),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map_or("unknown error", String::as_str);
            Err(RenderError::Encode(message.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduction_keeps_output_resolution() {
        assert_eq!(reduction((4000, 3000), (400, 300)), Some(8));
        assert_eq!(reduction((4000, 3000), (499, 374)), Some(8));
        assert_eq!(reduction((4000, 3000), (501, 376)), Some(4));
        assert_eq!(reduction((4000, 3000), (1000, 750)), Some(4));
        assert_eq!(reduction((4000, 3000), (2000, 1500)), Some(2));
        assert_eq!(reduction((4000, 3000), (2001, 1501)), None);
        assert_eq!(reduction((4000, 3000), (4000, 3000)), None);
        // The side that is reduced least decides: a 4000x3000 region stretched to 400x3000.
        assert_eq!(reduction((4000, 3000), (400, 3000)), None);
    }

    #[test]
    fn decode_reduced_rounds_sides_up() {
        let source = RgbImage::from_fn(203, 101, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let bytes = encode(&source, 90, false).expect("encode");
        for (factor, expected) in [(2, (102, 51)), (4, (51, 26)), (8, (26, 13))] {
            let image = decode_reduced(&bytes, factor).expect("a reduced decode");
            assert_eq!((image.width(), image.height()), expected, "1/{factor}");
        }
    }

    #[test]
    fn decode_reduced_returns_none_for_broken_data() {
        let source = RgbImage::from_pixel(64, 64, image::Rgb([10, 200, 30]));
        let bytes = encode(&source, 90, false).expect("encode");
        assert!(
            decode_reduced(&bytes[..20], 2).is_none(),
            "a truncated header"
        );
        assert!(decode_reduced(b"not a jpeg", 2).is_none(), "no JPEG at all");
    }

    #[test]
    fn decode_reduced_fills_missing_data_grey() {
        // A grey gradient, so that the colour scans, which `encode` writes after the luma scan, do not matter.
        let source = RgbImage::from_fn(256, 256, |x, _| image::Rgb([x as u8, x as u8, x as u8]));
        let bytes = encode(&source, 90, false).expect("encode");
        let cut = &bytes[..bytes.len() / 2];
        let image = decode_reduced(cut, 2)
            .expect("libjpeg decodes the blocks that are there")
            .to_rgb8();
        assert_eq!((image.width(), image.height()), (128, 128));
        let top = image.get_pixel(120, 2).0;
        assert!(
            top.iter().all(|channel| (232..=248).contains(channel)),
            "the top rows keep their pixels, got {top:?}"
        );
        let bottom = image.get_pixel(120, 126).0;
        assert!(
            bottom.iter().all(|channel| (118..=138).contains(channel)),
            "the last rows are grey, got {bottom:?}"
        );
    }

    #[test]
    fn encode_writes_subsampled_baseline_and_progressive() {
        let source = RgbImage::from_fn(33, 17, |x, _| image::Rgb([(x * 7) as u8, 90, 200]));
        // A start-of-frame segment lists each component's sampling factors: 0x22 for luma means 4:2:0. SOF0 starts a
        // baseline frame and SOF2 a progressive one.
        for (progressive, marker) in [(false, 0xC0), (true, 0xC2)] {
            let bytes = encode(&source, 75, progressive).expect("encode");
            let decoded = image::load_from_memory(&bytes).expect("the output decodes");
            assert_eq!((decoded.width(), decoded.height()), (33, 17));
            let sof = bytes.windows(2).position(|pair| pair == [0xFF, marker]);
            let sof = sof.unwrap_or_else(|| {
                panic!("no SOF marker 0x{marker:X} with progressive = {progressive}")
            });
            assert_eq!(
                bytes[sof + 11],
                0x22,
                "luma sampling factors with progressive = {progressive}"
            );
        }
    }
}
