//! Display size of raster images: the size stored in the header (mostly read by `imagesize`), turned by the EXIF
//! orientation where browsers apply it.

use std::io::Cursor;

use super::bytes::{fourcc, i32_le, u16_le, u32_be, u32_le};
use super::exif::{self, CutOff};
use super::isobmff::{self, find_box};
use super::sniff::ImageFormat;

/// Returns the width and height of an image as displayed, or `None` when the head does not hold them or either is
/// zero. `complete` is true when the head is the whole file. When it is not and the head ends before the orientation
/// is known, the size is unknown rather than possibly turned the wrong way.
///
/// Animated GIF, PNG and WebP report their canvas (the GIF logical screen, the PNG `IHDR`, the WebP `VP8X` canvas),
/// never the frames. EXIF orientations 5 to 8 (a quarter turn) swap width and height for JPEG, for PNG when the
/// `eXIf` chunk precedes the image data, and for TIFF. HEIF, AVIF and JPEG XL carry the rotation in their own
/// headers, which `imagesize` applies.
pub(super) fn display_size(format: ImageFormat, head: &[u8], complete: bool) -> Option<(u32, u32)> {
    let (width, height) = stored_size(format, head)?;

    // NOTE: WebP EXIF is ignored, because the WebP container puts its EXIF chunk after the image data, where CSS
    // Images 3 lets browsers ignore orientation metadata. A browser that applies it anyway shows such an image turned
    // relative to the reported size.
    let orientation = match format {
        ImageFormat::Jpeg => {
            exif::jpeg_exif(head).map(|block| block.and_then(exif::block_orientation))
        }
        ImageFormat::Png => {
            exif::png_exif(head).map(|block| block.and_then(exif::block_orientation))
        }
        ImageFormat::Tiff => exif::orientation(head),
        _ => Ok(None),
    };
    let orientation = match orientation {
        Ok(orientation) => orientation,
        // A complete file that ends early is malformed, and its orientation is ignored.
        Err(CutOff) if complete => None,
        Err(CutOff) => return None,
    };

    match orientation {
        Some(5..=8) => Some((height, width)),
        _ => Some((width, height)),
    }
}

/// Returns the width and height stored in the image header, before any orientation.
fn stored_size(format: ImageFormat, head: &[u8]) -> Option<(u32, u32)> {
    match format {
        ImageFormat::Bmp => bmp_size(head),
        ImageFormat::Jp2 => jp2_size(head),
        ImageFormat::Png => {
            // imagesize reads the IHDR fields without checking that the first chunk is IHDR.
            if fourcc(head, 12)? != *b"IHDR" {
                return None;
            }
            imagesize_size(head)
        }
        ImageFormat::WebP if fourcc(head, 12)? == *b"VP8 " => vp8_size(head),
        ImageFormat::Heif => {
            // imagesize stops quietly at the end of the bytes, so a `meta` box cut short could yield a thumbnail's
            // size or miss the rotation.
            if !isobmff::find(head, b"meta")?.complete {
                return None;
            }
            // imagesize takes any `ftyp` file for HEIF, so the image type is set here from the brand check done
            // during sniffing. It reports the largest `ispe` of the file, rotated by `irot`, and ignores any
            // clean-aperture crop (`clap`).
            let heif = imagesize::ImageType::Heif(imagesize::Compression::Unknown);
            let size = heif.reader_size(&mut Cursor::new(head)).ok()?;
            nonzero(size.width, size.height)
        }
        ImageFormat::Ico => {
            // imagesize returns the largest entry it could read, so the whole directory (16 bytes per image after
            // the 6-byte header) must be present.
            let count = usize::from(u16_le(head, 4)?);
            if head.len() < 6 + 16 * count {
                return None;
            }
            imagesize_size(head)
        }
        ImageFormat::Jpeg
        | ImageFormat::Gif
        | ImageFormat::WebP
        | ImageFormat::Tiff
        | ImageFormat::Psd
        | ImageFormat::Jxl => imagesize_size(head),
        ImageFormat::Svg => None,
    }
}

fn imagesize_size(head: &[u8]) -> Option<(u32, u32)> {
    let size = imagesize::blob_size(head).ok()?;
    nonzero(size.width, size.height)
}

fn nonzero<T: TryInto<u32>>(width: T, height: T) -> Option<(u32, u32)> {
    let width = width.try_into().ok().filter(|&value| value != 0)?;
    let height = height.try_into().ok().filter(|&value| value != 0)?;
    Some((width, height))
}

/// Reads a lossy WebP (`VP8 ` chunk first). imagesize 0.14 returns the two 16-bit fields whole, but their top two
/// bits are an upscaling hint, not part of the size.
fn vp8_size(head: &[u8]) -> Option<(u32, u32)> {
    // Chunk header (8 bytes at offset 12), then a 3-byte frame tag and the key frame start code.
    if head.get(23..26)? != [0x9D, 0x01, 0x2A] {
        return None;
    }
    let width = u16_le(head, 26)? & 0x3FFF;
    let height = u16_le(head, 28)? & 0x3FFF;
    nonzero(width, height)
}

/// Reads a BMP's DIB header. imagesize 0.14 reads the height as unsigned, but a negative height only marks a
/// top-down bitmap, and the OS/2 1.x header stores 16-bit fields.
fn bmp_size(head: &[u8]) -> Option<(u32, u32)> {
    let header_size = u32_le(head, 14)?;
    if header_size == 12 {
        return nonzero(u16_le(head, 18)?, u16_le(head, 20)?);
    }
    if header_size < 16 {
        return None;
    }
    let width = i32_le(head, 18)?;
    let height = i32_le(head, 22)?;
    if width <= 0 {
        return None;
    }
    nonzero(width.unsigned_abs(), height.unsigned_abs())
}

/// Reads the image header box (`jp2h/ihdr`) of a JPEG 2000 file, which stores the height before the width.
fn jp2_size(head: &[u8]) -> Option<(u32, u32)> {
    let ihdr = find_box(head, b"jp2h").and_then(|jp2h| find_box(jp2h, b"ihdr"))?;
    nonzero(u32_be(ihdr, 4)?, u32_be(ihdr, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonzero_rejects_zero_and_overflow() {
        assert_eq!(nonzero(3usize, 4usize), Some((3, 4)));
        assert_eq!(nonzero(0usize, 4usize), None);
        assert_eq!(nonzero(3usize, 0usize), None);
        assert_eq!(nonzero(u64::MAX, 4), None);
    }
}
