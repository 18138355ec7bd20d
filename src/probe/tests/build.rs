//! Builders of small test files: images encoded with the `image` crate, and containers assembled byte by byte.

use std::io::Cursor;

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

fn encode(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x * 40) as u8, (y * 40) as u8, 128])
    });
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode test image");
    out.into_inner()
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    encode(width, height, ImageFormat::Png)
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encode(width, height, ImageFormat::Jpeg)
}

/// Encodes a lossless WebP (`VP8L`), the only kind the `image` crate writes.
pub fn webp_lossless(width: u32, height: u32) -> Vec<u8> {
    encode(width, height, ImageFormat::WebP)
}

/// Builds an animated GIF whose frames all cover the whole `width` x `height` canvas.
pub fn animated_gif(width: u32, height: u32, frames: u8) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut out);
        encoder
            .set_repeat(Repeat::Infinite)
            .expect("set GIF repeat");
        for index in 0..frames {
            let buffer =
                RgbaImage::from_pixel(width, height, Rgba([index.wrapping_mul(80), 40, 200, 255]));
            let frame = Frame::from_parts(buffer, 0, 0, Delay::from_numer_denom_ms(100, 1));
            encoder.encode_frame(frame).expect("encode GIF frame");
        }
    }
    out
}

/// Builds a GIF whose logical screen is `width` x `height` with a single 1x1 frame at (5, 5).
pub fn gif_with_small_frame(width: u16, height: u16) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    // Global color table of 2 entries, background color 0, no aspect ratio, then the two colors.
    out.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
    // Image descriptor: left 5, top 5, 1x1, no local color table.
    out.extend_from_slice(&[0x2C, 5, 0, 5, 0, 1, 0, 1, 0, 0]);
    // LZW minimum code size 2, one data sub-block, block terminator, then the trailer.
    out.extend_from_slice(&[0x02, 0x02, 0x44, 0x01, 0x00, 0x3B]);
    out
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub fn png_chunk(chunk_type: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(chunk_type);
    out.extend_from_slice(data);
    let mut checked = chunk_type.to_vec();
    checked.extend_from_slice(data);
    out.extend_from_slice(&crc32(&checked).to_be_bytes());
    out
}

/// Offset just after the `IHDR` chunk: 8-byte signature, then 8 + 13 + 4 bytes.
const AFTER_IHDR: usize = 33;

pub fn insert_after_ihdr(png: &[u8], chunks: &[u8]) -> Vec<u8> {
    [&png[..AFTER_IHDR], chunks, &png[AFTER_IHDR..]].concat()
}

/// Inserts chunks just before `IEND`, the last 12 bytes.
pub fn insert_before_iend(png: &[u8], chunks: &[u8]) -> Vec<u8> {
    let iend = png.len() - 12;
    [&png[..iend], chunks, &png[iend..]].concat()
}

/// Builds an APNG with a `width` x `height` canvas and one 2x2 animation frame at (1, 1), after the default image.
pub fn apng(width: u32, height: u32) -> Vec<u8> {
    let base = png(width, height);
    let mut actl = 1u32.to_be_bytes().to_vec(); // One frame...
    actl.extend_from_slice(&0u32.to_be_bytes()); // ...played forever.
    let mut fctl = Vec::new();
    for value in [0u32, 2, 2, 1, 1] {
        // Sequence number, frame width and height, x and y offsets.
        fctl.extend_from_slice(&value.to_be_bytes());
    }
    fctl.extend_from_slice(&[0, 1, 0, 10, 0, 0]); // Delay 1/10 s, no disposal, source blending.
    let mut fdat = 1u32.to_be_bytes().to_vec();
    fdat.extend_from_slice(&[0x78, 0x9C, 0x63, 0, 0, 0, 1, 0, 1]);

    let with_actl = insert_after_ihdr(&base, &png_chunk(b"acTL", &actl));
    insert_before_iend(
        &with_actl,
        &[png_chunk(b"fcTL", &fctl), png_chunk(b"fdAT", &fdat)].concat(),
    )
}

/// Builds a TIFF-structured EXIF block whose IFD 0 contains a Make string (stored after the IFD) and the given
/// Orientation.
pub fn exif_block(orientation: u16, little_endian: bool) -> Vec<u8> {
    let u16_bytes = |value: u16| {
        if little_endian {
            value.to_le_bytes()
        } else {
            value.to_be_bytes()
        }
    };
    let u32_bytes = |value: u32| {
        if little_endian {
            value.to_le_bytes()
        } else {
            value.to_be_bytes()
        }
    };

    let mut out = if little_endian {
        b"II*\0".to_vec()
    } else {
        b"MM\0*".to_vec()
    };
    out.extend_from_slice(&u32_bytes(8));
    out.extend_from_slice(&u16_bytes(2));
    // Make: ASCII, 6 bytes, stored at offset 8 + 2 + 2 * 12 + 4 = 38.
    out.extend_from_slice(&u16_bytes(0x010F));
    out.extend_from_slice(&u16_bytes(2));
    out.extend_from_slice(&u32_bytes(6));
    out.extend_from_slice(&u32_bytes(38));
    // Orientation: SHORT, one value, left-aligned in the 4-byte value field.
    out.extend_from_slice(&u16_bytes(0x0112));
    out.extend_from_slice(&u16_bytes(3));
    out.extend_from_slice(&u32_bytes(1));
    out.extend_from_slice(&u16_bytes(orientation));
    out.extend_from_slice(&[0, 0]);
    // No next IFD, then the Make string.
    out.extend_from_slice(&u32_bytes(0));
    out.extend_from_slice(b"Maker\0");
    out
}

/// Inserts an APP1 segment holding `tiff` as EXIF right after the SOI marker of a JPEG.
pub fn jpeg_with_exif(jpeg: &[u8], tiff: &[u8]) -> Vec<u8> {
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    segment.extend_from_slice(b"Exif\0\0");
    segment.extend_from_slice(tiff);
    [&jpeg[..2], &segment, &jpeg[2..]].concat()
}

/// Builds a RIFF file of the given form type.
pub fn riff(form: &[u8; 4], chunks: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = chunks.concat();
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&((4 + body.len()) as u32).to_le_bytes());
    out.extend_from_slice(form);
    out.extend_from_slice(&body);
    out
}

pub fn riff_chunk(chunk_type: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = chunk_type.to_vec();
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
    out
}

fn u24_le(value: u32) -> [u8; 3] {
    let bytes = value.to_le_bytes();
    [bytes[0], bytes[1], bytes[2]]
}

/// Builds a lossy WebP header (`VP8 ` key frame) whose 14-bit sizes carry the 2-bit upscaling hint `scale`.
pub fn webp_lossy(width: u16, height: u16, scale: u16) -> Vec<u8> {
    let mut data = vec![0x50, 0x02, 0x00, 0x9D, 0x01, 0x2A];
    data.extend_from_slice(&(width | (scale << 14)).to_le_bytes());
    data.extend_from_slice(&(height | (scale << 14)).to_le_bytes());
    data.extend_from_slice(&[0; 20]);
    riff(b"WEBP", &[riff_chunk(b"VP8 ", &data)])
}

/// Builds an animated WebP (`VP8X` with the animation flag) with a `width` x `height` canvas and two 4x4 frames.
pub fn webp_animated(width: u32, height: u32) -> Vec<u8> {
    let mut vp8x = vec![0x02, 0, 0, 0];
    vp8x.extend_from_slice(&u24_le(width - 1));
    vp8x.extend_from_slice(&u24_le(height - 1));
    let anim = [0, 0, 0, 0, 0, 0];
    // The frame image: the VP8L chunk of a 4x4 lossless WebP.
    let frame_image = webp_lossless(4, 4)[12..].to_vec();
    let mut frames = Vec::new();
    for offset in [0u32, 2] {
        let mut anmf = Vec::new();
        anmf.extend_from_slice(&u24_le(offset));
        anmf.extend_from_slice(&u24_le(offset));
        anmf.extend_from_slice(&u24_le(3));
        anmf.extend_from_slice(&u24_le(3));
        anmf.extend_from_slice(&u24_le(100));
        anmf.push(0);
        anmf.extend_from_slice(&frame_image);
        frames.push(riff_chunk(b"ANMF", &anmf));
    }
    let mut chunks = vec![riff_chunk(b"VP8X", &vp8x), riff_chunk(b"ANIM", &anim)];
    chunks.extend(frames);
    riff(b"WEBP", &chunks)
}

pub fn iso_box(box_type: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(box_type);
    out.extend_from_slice(body);
    out
}

pub fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
    let mut body = major.to_vec();
    body.extend_from_slice(&[0, 0, 0, 0]);
    for brand in compatible {
        body.extend_from_slice(*brand);
    }
    iso_box(b"ftyp", &body)
}

fn hdlr(handler: &[u8; 4]) -> Vec<u8> {
    let mut body = vec![0; 8];
    body.extend_from_slice(handler);
    body.extend_from_slice(&[0; 12]);
    body.extend_from_slice(b"handler\0");
    iso_box(b"hdlr", &body)
}

/// Builds a HEIF-family image: `ftyp`, then `meta` with a thumbnail-sized `ispe`, a full-sized `ispe` and an
/// optional `irot`.
pub fn heif(
    major: &[u8; 4],
    compatible: &[&[u8; 4]],
    width: u32,
    height: u32,
    rotation: Option<u8>,
) -> Vec<u8> {
    let ispe = |width: u32, height: u32| {
        let mut body = vec![0; 4];
        body.extend_from_slice(&width.to_be_bytes());
        body.extend_from_slice(&height.to_be_bytes());
        iso_box(b"ispe", &body)
    };
    let mut properties = ispe(width / 4, height / 4);
    properties.extend(ispe(width, height));
    if let Some(rotation) = rotation {
        properties.extend(iso_box(b"irot", &[rotation]));
    }
    let iprp = iso_box(b"iprp", &iso_box(b"ipco", &properties));
    let meta = iso_box(b"meta", &[vec![0; 4], hdlr(b"pict"), iprp].concat());
    [ftyp(major, compatible), meta, iso_box(b"mdat", &[0; 32])].concat()
}

/// Builds an MP4-family file with one track per handler type (`vide`, `soun`, ...). `moov` comes before `mdat` when
/// `moov_first` is true, else after it.
pub fn mp4(major: &[u8; 4], handlers: &[&[u8; 4]], moov_first: bool) -> Vec<u8> {
    let mut traks = Vec::new();
    for handler in handlers {
        let mdia = iso_box(
            b"mdia",
            &[iso_box(b"mdhd", &[0; 24]), hdlr(handler)].concat(),
        );
        traks.extend(iso_box(
            b"trak",
            &[iso_box(b"tkhd", &[0; 84]), mdia].concat(),
        ));
    }
    let moov = iso_box(b"moov", &[iso_box(b"mvhd", &[0; 100]), traks].concat());
    let mdat = iso_box(b"mdat", &[0x11; 64]);
    let ftyp = ftyp(major, &[major, b"isom"]);
    if moov_first {
        [ftyp, moov, mdat].concat()
    } else {
        [ftyp, mdat, moov].concat()
    }
}

fn ebml_element(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = id
        .to_be_bytes()
        .into_iter()
        .skip_while(|&byte| byte == 0)
        .collect();
    // Size as an 8-byte variable-length integer.
    out.push(0x01);
    out.extend_from_slice(&(body.len() as u64).to_be_bytes()[1..]);
    out.extend_from_slice(body);
    out
}

/// Builds a Matroska or WebM file with one track per `TrackType` value (1 video, 2 audio). The segment has an unknown
/// size when `live` is true.
pub fn matroska(doc_type: &str, track_types: &[u8], live: bool) -> Vec<u8> {
    let header = ebml_element(
        0x1A45_DFA3,
        &[
            ebml_element(0x4286, &[1]),
            ebml_element(0x4282, doc_type.as_bytes()),
        ]
        .concat(),
    );
    let entries: Vec<u8> = track_types
        .iter()
        .enumerate()
        .flat_map(|(index, &track_type)| {
            ebml_element(
                0xAE,
                &[
                    ebml_element(0xD7, &[index as u8 + 1]),
                    ebml_element(0x83, &[track_type]),
                ]
                .concat(),
            )
        })
        .collect();
    let info = ebml_element(0x1549_A966, &ebml_element(0x2A_D7B1, &[0x0F, 0x42, 0x40]));
    let tracks = ebml_element(0x1654_AE6B, &entries);
    let cluster = ebml_element(0x1F43_B675, &ebml_element(0xE7, &[0]));
    let body = [info, tracks, cluster].concat();
    let segment = if live {
        [
            vec![
                0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            ],
            body,
        ]
        .concat()
    } else {
        ebml_element(0x1853_8067, &body)
    };
    [header, segment].concat()
}

/// Builds an Ogg page that contains one packet.
pub fn ogg_page(flags: u8, serial: u32, packet: &[u8]) -> Vec<u8> {
    let mut out = b"OggS\0".to_vec();
    out.push(flags);
    out.extend_from_slice(&[0; 8]); // Granule position.
    out.extend_from_slice(&serial.to_le_bytes());
    out.extend_from_slice(&[0; 8]); // Page sequence number and CRC.
    let mut lacing = vec![255u8; packet.len() / 255];
    lacing.push((packet.len() % 255) as u8);
    out.push(lacing.len() as u8);
    out.extend_from_slice(&lacing);
    out.extend_from_slice(packet);
    out
}

/// Builds an Ogg file with one logical stream per identification packet, then a page of data.
pub fn ogg(identification_packets: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (serial, packet) in identification_packets.iter().enumerate() {
        let mut packet = packet.to_vec();
        packet.resize(packet.len().max(30), 0);
        out.extend(ogg_page(0x02, serial as u32, &packet));
    }
    out.extend(ogg_page(0x00, 0, &[0x03; 40]));
    out
}

/// Builds a mono 16-bit PCM WAV file at 8 kHz with `samples` samples of a square wave.
pub fn wav(samples: u16) -> Vec<u8> {
    let mut format = Vec::new();
    format.extend_from_slice(&1u16.to_le_bytes()); // PCM
    format.extend_from_slice(&1u16.to_le_bytes()); // Channels
    format.extend_from_slice(&8000u32.to_le_bytes()); // Sample rate
    format.extend_from_slice(&16000u32.to_le_bytes()); // Byte rate
    format.extend_from_slice(&2u16.to_le_bytes()); // Block align
    format.extend_from_slice(&16u16.to_le_bytes()); // Bits per sample
    let data: Vec<u8> = (0..samples)
        .flat_map(|index| if index % 16 < 8 { 4000i16 } else { -4000i16 }.to_le_bytes())
        .collect();
    riff(
        b"WAVE",
        &[riff_chunk(b"fmt ", &format), riff_chunk(b"data", &data)],
    )
}

/// Builds an MPEG-1 Layer III frame header (128 kbit/s, 44.1 kHz) followed by zeros.
pub fn mp3_frame() -> Vec<u8> {
    let mut out = vec![0xFF, 0xFB, 0x90, 0x64];
    out.resize(417, 0);
    out
}

/// Builds an ID3v2.4 tag of `size` bytes of padding.
pub fn id3_tag(size: u32) -> Vec<u8> {
    let mut out = b"ID3\x04\x00\x00".to_vec();
    out.extend_from_slice(&[
        (size >> 21) as u8 & 0x7F,
        (size >> 14) as u8 & 0x7F,
        (size >> 7) as u8 & 0x7F,
        size as u8 & 0x7F,
    ]);
    out.resize(10 + size as usize, 0);
    out
}

/// Builds a minimal PDF 1.4 document with one empty 72x72 pt page and a correct cross-reference table.
pub fn pdf() -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>",
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", index + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// Builds a BMP with a BITMAPINFOHEADER. A negative `height` marks a top-down bitmap.
pub fn bmp(width: i32, height: i32) -> Vec<u8> {
    let mut out = b"BM".to_vec();
    out.extend_from_slice(&70u32.to_le_bytes()); // File size
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&54u32.to_le_bytes()); // Pixel data offset
    out.extend_from_slice(&40u32.to_le_bytes()); // Header size
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // Planes
    out.extend_from_slice(&24u16.to_le_bytes()); // Bits per pixel
    out.extend_from_slice(&[0; 24]);
    out.extend_from_slice(&[0; 16]);
    out
}

/// Builds a BMP with the 12-byte OS/2 1.x header.
pub fn bmp_os2(width: u16, height: u16) -> Vec<u8> {
    let mut out = b"BM".to_vec();
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&26u32.to_le_bytes());
    out.extend_from_slice(&12u32.to_le_bytes());
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out
}

/// Builds an ICO directory with one entry per (width, height) byte pair, where 0 stands for 256.
pub fn ico(sizes: &[(u8, u8)]) -> Vec<u8> {
    let mut out = vec![0, 0, 1, 0];
    out.extend_from_slice(&(sizes.len() as u16).to_le_bytes());
    for &(width, height) in sizes {
        out.extend_from_slice(&[width, height, 0, 0, 1, 0, 32, 0]);
        out.extend_from_slice(&40u32.to_le_bytes());
        out.extend_from_slice(&22u32.to_le_bytes());
    }
    out.extend_from_slice(&[0; 40]);
    out
}

/// Builds a TIFF whose IFD 0 contains ImageWidth, ImageLength and, when given, Orientation.
pub fn tiff(width: u16, height: u16, orientation: Option<u16>, little_endian: bool) -> Vec<u8> {
    let u16_bytes = |value: u16| {
        if little_endian {
            value.to_le_bytes()
        } else {
            value.to_be_bytes()
        }
    };
    let u32_bytes = |value: u32| {
        if little_endian {
            value.to_le_bytes()
        } else {
            value.to_be_bytes()
        }
    };
    let mut entries = vec![(0x0100, width), (0x0101, height)];
    if let Some(orientation) = orientation {
        entries.push((0x0112, orientation));
    }

    let mut out = if little_endian {
        b"II*\0".to_vec()
    } else {
        b"MM\0*".to_vec()
    };
    out.extend_from_slice(&u32_bytes(8));
    out.extend_from_slice(&u16_bytes(entries.len() as u16));
    for (tag, value) in entries {
        out.extend_from_slice(&u16_bytes(tag));
        out.extend_from_slice(&u16_bytes(3));
        out.extend_from_slice(&u32_bytes(1));
        out.extend_from_slice(&u16_bytes(value));
        out.extend_from_slice(&[0, 0]);
    }
    out.extend_from_slice(&u32_bytes(0));
    out.extend_from_slice(&[0; 16]);
    out
}

pub fn psd(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"8BPS\x00\x01".to_vec();
    out.extend_from_slice(&[0; 6]);
    out.extend_from_slice(&3u16.to_be_bytes());
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&8u16.to_be_bytes());
    out.extend_from_slice(&3u16.to_be_bytes());
    out.extend_from_slice(&[0; 16]);
    out
}

/// Builds a JPEG XL codestream header for a 64x32 image, in the small size encoding (multiples of 8 pixels).
pub fn jxl_64_by_32() -> Vec<u8> {
    // Bits from the least significant: small = 1, (32 / 8 - 1) = 3 in 5 bits, ratio 0 in 3 bits, (64 / 8 - 1) = 7 in
    // 5 bits, then all_default = 1.
    let bits: u16 = 1 | (3 << 1) | (7 << 9) | (1 << 14);
    let mut out = vec![0xFF, 0x0A];
    out.extend_from_slice(&bits.to_le_bytes());
    out.resize(24, 0);
    out
}

pub fn jp2(width: u32, height: u32) -> Vec<u8> {
    let signature = iso_box(b"jP  ", &[0x0D, 0x0A, 0x87, 0x0A]);
    let mut ihdr = height.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&[0, 3, 7, 7, 0, 0]);
    let jp2h = iso_box(b"jp2h", &iso_box(b"ihdr", &ihdr));
    [
        signature,
        ftyp(b"jp2 ", &[b"jp2 "]),
        jp2h,
        iso_box(b"jp2c", &[0xFF, 0x4F, 0xFF, 0x51]),
    ]
    .concat()
}
