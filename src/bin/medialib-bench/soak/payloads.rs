//! Generated upload bodies for `soak`: PNG and JPEG images the server can render, and larger documents.
//!
//! The templates are encoded once at start. Every image upload gets a unique marker (a PNG `tEXt` chunk or a JPEG
//! comment segment), so its SHA-256 differs from every earlier upload. The server keys its variant cache by that
//! digest, so resized requests of a new upload render instead of hitting a variant of an earlier copy.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{ImageFormat, Rgb, RgbImage};
use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// Encoding of a template.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    Pdf,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpg",
            Format::Pdf => "pdf",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::Pdf => "application/pdf",
        }
    }

    pub fn is_image(self) -> bool {
        self != Format::Pdf
    }
}

/// One encoded file that uploads copy, with its weight among the templates of its group.
pub struct Template {
    pub format: Format,
    pub bytes: Vec<u8>,
    weight: u32,
}

/// The templates, in two groups: images and documents.
pub struct Templates {
    pub images: Vec<Template>,
    pub documents: Vec<Template>,
    image_weights: WeightedIndex<u32>,
    document_weights: WeightedIndex<u32>,
}

/// Image templates: format, width, height, weight. Most are small. The largest files, the 800x600 PNG and the
/// 2048x1536 JPEG, are about 1.3 MiB.
const IMAGE_SHAPES: &[(Format, u32, u32, u32)] = &[
    (Format::Png, 64, 64, 25),
    (Format::Png, 320, 240, 15),
    (Format::Png, 800, 600, 5),
    (Format::Jpeg, 320, 240, 25),
    (Format::Jpeg, 1024, 768, 15),
    (Format::Jpeg, 2048, 1536, 5),
];

/// Document templates: size in bytes and weight.
const DOCUMENT_SIZES: &[(usize, u32)] = &[(64 << 10, 10), (1 << 20, 6), (3 << 20, 4)];

impl Templates {
    /// Encodes every template; the pixels and bytes depend only on `seed`.
    pub fn generate(seed: u64) -> anyhow::Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut images = Vec::new();
        for &(format, width, height, weight) in IMAGE_SHAPES {
            let picture = draw_picture(&mut rng, width, height);
            let mut bytes = Vec::new();
            match format {
                Format::Png => picture.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)?,
                Format::Jpeg => {
                    JpegEncoder::new_with_quality(&mut bytes, 90).encode_image(&picture)?
                }
                Format::Pdf => unreachable!("no image template is a PDF"),
            }
            images.push(Template {
                format,
                bytes,
                weight,
            });
        }

        let mut documents = Vec::new();
        for &(size, weight) in DOCUMENT_SIZES {
            // A PDF header, so that the server's sniffing detects a document, followed by random bytes.
            let mut bytes = b"%PDF-1.4\n".to_vec();
            let header = bytes.len();
            bytes.resize(size, 0);
            rng.fill_bytes(&mut bytes[header..]);
            documents.push(Template {
                format: Format::Pdf,
                bytes,
                weight,
            });
        }

        Ok(Self {
            image_weights: WeightedIndex::new(images.iter().map(|template| template.weight))?,
            document_weights: WeightedIndex::new(documents.iter().map(|template| template.weight))?,
            images,
            documents,
        })
    }

    pub fn pick_image(&self, rng: &mut impl Rng) -> &Template {
        &self.images[self.image_weights.sample(rng)]
    }

    pub fn pick_document(&self, rng: &mut impl Rng) -> &Template {
        &self.documents[self.document_weights.sample(rng)]
    }
}

/// Draws a gradient with a few discs and per-pixel noise, so that compressed sizes are those of a photo more than
/// those of a flat colour.
fn draw_picture(rng: &mut StdRng, width: u32, height: u32) -> RgbImage {
    let discs: Vec<(f32, f32, f32, [u8; 3])> = (0..6)
        .map(|_| {
            (
                rng.gen_range(0.0..width as f32),
                rng.gen_range(0.0..height as f32),
                rng.gen_range(4.0..(width.min(height) as f32 / 3.0).max(5.0)),
                [rng.gen(), rng.gen(), rng.gen()],
            )
        })
        .collect();
    let mut picture = RgbImage::from_fn(width, height, |x, y| {
        let red = (x * 255 / width) as u8;
        let blue = (y * 255 / height) as u8;
        Rgb([red, 128, blue])
    });
    for (x, y, pixel) in picture.enumerate_pixels_mut() {
        for &(center_x, center_y, radius, colour) in &discs {
            let (dx, dy) = (x as f32 - center_x, y as f32 - center_y);
            if dx * dx + dy * dy < radius * radius {
                *pixel = Rgb(colour);
            }
        }
        let noise: i16 = rng.gen_range(-24..=24);
        for channel in pixel.0.iter_mut() {
            *channel = (*channel as i16 + noise).clamp(0, 255) as u8;
        }
    }
    picture
}

/// Returns a copy of `template` that carries `marker`, so that its bytes differ from every other copy. The image
/// still decodes to the same pixels; a document is returned unchanged, because nothing keys on its digest.
pub fn unique_copy(template: &Template, marker: &str) -> Vec<u8> {
    match template.format {
        Format::Jpeg => {
            // A comment segment (COM, 0xFFFE) right after the start-of-image marker. Its length counts itself.
            let mut bytes = Vec::with_capacity(template.bytes.len() + marker.len() + 4);
            bytes.extend_from_slice(&template.bytes[..2]);
            bytes.extend_from_slice(&[0xFF, 0xFE]);
            bytes.extend_from_slice(&(marker.len() as u16 + 2).to_be_bytes());
            bytes.extend_from_slice(marker.as_bytes());
            bytes.extend_from_slice(&template.bytes[2..]);
            bytes
        }
        Format::Png => {
            // A tEXt chunk right after IHDR, which ends at byte 33: signature (8), then length, type, 13 bytes of
            // data and CRC (25).
            const IHDR_END: usize = 33;
            let mut data = b"Comment\0".to_vec();
            data.extend_from_slice(marker.as_bytes());
            let mut typed = b"tEXt".to_vec();
            typed.extend_from_slice(&data);

            let mut bytes = Vec::with_capacity(template.bytes.len() + typed.len() + 8);
            bytes.extend_from_slice(&template.bytes[..IHDR_END]);
            bytes.extend_from_slice(&(data.len() as u32).to_be_bytes());
            bytes.extend_from_slice(&typed);
            bytes.extend_from_slice(&crc32(&typed).to_be_bytes());
            bytes.extend_from_slice(&template.bytes[IHDR_END..]);
            bytes
        }
        Format::Pdf => template.bytes.clone(),
    }
}

/// CRC-32 (ISO-HDLC, the one PNG chunks use), bit by bit: chunks here are a few dozen bytes.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= byte as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// A `multipart/form-data` body with one file part and optional text parts.
pub struct Multipart {
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Builds an upload body: the `file` part named `filename`, then the text parts (such as `notes` and `alt`).
pub fn multipart(
    rng: &mut impl Rng,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
    texts: &[(&str, &str)],
) -> Multipart {
    let boundary = format!("medialib-soak-{:016x}", rng.gen::<u64>());
    let mut body = Vec::with_capacity(bytes.len() + 512);
    for (name, value) in texts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
             content-type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Multipart {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_of_check_string() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn unique_copies_still_decode() {
        let templates = Templates::generate(1).unwrap();
        for template in &templates.images {
            let copy = unique_copy(template, "soak 1");
            assert_ne!(copy, template.bytes);
            let decoded = image::load_from_memory(&copy).unwrap();
            let original = image::load_from_memory(&template.bytes).unwrap();
            assert_eq!(decoded.to_rgb8(), original.to_rgb8());
        }
    }
}
