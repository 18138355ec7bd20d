//! Small files of every kind, built in code so that each test states the exact bytes it sends.

use std::io::Cursor;

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, DynamicImage, Frame, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// Builds a colour pattern, so that encoders cannot reduce the image to a single colour.
fn pattern(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 37 % 256) as u8,
            (y * 91 % 256) as u8,
            ((x + y) * 13 % 256) as u8,
        ])
    })
}

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, format)
        .expect("encode fixture image");
    bytes.into_inner()
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    encode(
        DynamicImage::ImageRgb8(pattern(width, height)),
        ImageFormat::Png,
    )
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encode(
        DynamicImage::ImageRgb8(pattern(width, height)),
        ImageFormat::Jpeg,
    )
}

/// Encodes a lossless WebP.
pub fn webp(width: u32, height: u32) -> Vec<u8> {
    encode(
        DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(pattern(width, height)).to_rgba8()),
        ImageFormat::WebP,
    )
}

/// Builds a JPEG whose pixels are `width` x `height` and whose EXIF block carries `orientation` (1 to 8).
pub fn jpeg_with_orientation(width: u32, height: u32, orientation: u16) -> Vec<u8> {
    let jpeg = jpeg(width, height);

    // TIFF header (big-endian), one IFD with one entry: Orientation (0x0112), SHORT, count 1.
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(b"MM\0\x2a");
    exif.extend_from_slice(&8u32.to_be_bytes());
    exif.extend_from_slice(&1u16.to_be_bytes());
    exif.extend_from_slice(&0x0112u16.to_be_bytes());
    exif.extend_from_slice(&3u16.to_be_bytes());
    exif.extend_from_slice(&1u32.to_be_bytes());
    exif.extend_from_slice(&orientation.to_be_bytes());
    exif.extend_from_slice(&[0, 0]);
    exif.extend_from_slice(&0u32.to_be_bytes());

    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(&exif);

    // Insert the APP1 segment after SOI and, when present, after the JFIF APP0 segment.
    let mut insert_at = 2;
    if jpeg[2..4] == [0xFF, 0xE0] {
        let length = u16::from_be_bytes([jpeg[4], jpeg[5]]) as usize;
        insert_at = 4 + length;
    }
    let mut output = jpeg[..insert_at].to_vec();
    output.extend_from_slice(&segment);
    output.extend_from_slice(&jpeg[insert_at..]);
    output
}

/// Encodes an animated GIF on a `width` x `height` canvas: a full first frame, then two 2x2 frames at offsets.
pub fn animated_gif(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        encoder
            .set_repeat(Repeat::Infinite)
            .expect("set GIF repeat");
        let delay = Delay::from_numer_denom_ms(100, 1);
        let full = RgbaImage::from_fn(width, height, |x, y| {
            Rgba([(x * 40) as u8, (y * 40) as u8, 200, 255])
        });
        let small = RgbaImage::from_pixel(2, 2, Rgba([255, 0, 0, 255]));
        encoder
            .encode_frame(Frame::from_parts(full, 0, 0, delay))
            .expect("encode GIF frame");
        encoder
            .encode_frame(Frame::from_parts(small.clone(), 1, 1, delay))
            .expect("encode GIF frame");
        encoder
            .encode_frame(Frame::from_parts(small, width - 2, height - 2, delay))
            .expect("encode GIF frame");
    }
    bytes
}

/// Builds an SVG document whose root element carries `attributes`.
pub fn svg(attributes: &str) -> Vec<u8> {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" {attributes}><rect x=\"0\" y=\"0\" width=\"4\" height=\"4\" \
         fill=\"red\"/></svg>\n"
    )
    .into_bytes()
}

/// CRC-32 (IEEE) as PNG chunks need it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    chunk.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    chunk
}

/// Builds a PNG whose valid IHDR claims `width` x `height` but which contains no pixel data, so no decoder may run on it.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    bytes.extend_from_slice(&png_chunk(b"IHDR", &header));
    bytes.extend_from_slice(&png_chunk(b"IEND", &[]));
    bytes
}

/// Returns the first 20 bytes of a PNG: the signature and an IHDR cut off inside the width field.
pub fn truncated_png() -> Vec<u8> {
    png(30, 20)[..20].to_vec()
}

/// Builds an MP3: an empty ID3v2.3 tag followed by MPEG-1 Layer III frames of silence.
pub fn mp3() -> Vec<u8> {
    let mut bytes = b"ID3\x03\x00\x00\x00\x00\x00\x00".to_vec();
    for _ in 0..4 {
        bytes.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        bytes.extend_from_slice(&[0u8; 413]);
    }
    bytes
}

/// Builds a WAV: RIFF/WAVE with a PCM `fmt ` chunk and 100 bytes of silence.
pub fn wav() -> Vec<u8> {
    let data = [0u8; 100];
    let mut bytes = b"RIFF".to_vec();
    bytes.extend_from_slice(&((36 + data.len()) as u32).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&8000u32.to_le_bytes());
    bytes.extend_from_slice(&16000u32.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&data);
    bytes
}

/// Builds an MP4: an `ftyp` box with brand `isom`, then empty `free` and `mdat` boxes.
pub fn mp4() -> Vec<u8> {
    let mut bytes = 32u32.to_be_bytes().to_vec();
    bytes.extend_from_slice(b"ftypisom");
    bytes.extend_from_slice(&0x200u32.to_be_bytes());
    bytes.extend_from_slice(b"isomiso2avc1mp41");
    bytes.extend_from_slice(&8u32.to_be_bytes());
    bytes.extend_from_slice(b"free");
    bytes.extend_from_slice(&8u32.to_be_bytes());
    bytes.extend_from_slice(b"mdat");
    bytes
}

/// Builds a WebM: an EBML header with DocType `webm`.
pub fn webm() -> Vec<u8> {
    let mut bytes = vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F];
    bytes.extend_from_slice(&[0x42, 0x86, 0x81, 0x01]);
    bytes.extend_from_slice(&[0x42, 0xF7, 0x81, 0x01]);
    bytes.extend_from_slice(&[0x42, 0xF2, 0x81, 0x04]);
    bytes.extend_from_slice(&[0x42, 0xF3, 0x81, 0x08]);
    bytes.extend_from_slice(&[0x42, 0x82, 0x84]);
    bytes.extend_from_slice(b"webm");
    bytes.extend_from_slice(&[0x42, 0x87, 0x81, 0x02]);
    bytes.extend_from_slice(&[0x42, 0x85, 0x81, 0x02]);
    bytes
}

pub fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n".to_vec()
}

pub fn html() -> Vec<u8> {
    b"<!DOCTYPE html>\n<html><head><title>t</title></head><body><script>alert(1)</script></body></html>\n".to_vec()
}

/// Returns an XML document that is not SVG.
pub fn xml() -> Vec<u8> {
    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<note><to>someone</to></note>\n".to_vec()
}

pub fn text() -> Vec<u8> {
    b"plain text, nothing to sniff\n".to_vec()
}

/// Returns bytes that match no known format and are not text.
pub fn unknown_binary() -> Vec<u8> {
    b"\x13\x37 medialib test bytes \x01\x02\x03 that match no signature \x04\x05\x06\n".repeat(8)
}
