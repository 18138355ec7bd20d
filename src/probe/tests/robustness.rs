//! Malformed, truncated and hostile input: the probe must return, without panicking, and never report a wrong size.

use super::build::*;
use crate::probe::{probe, Kind, HEAD_LEN};

/// Sample files of every parsed format, with their extension.
fn samples() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        ("png", png(6, 4), "png"),
        ("png with exif", insert_after_ihdr(&png(6, 4), &png_chunk(b"eXIf", &exif_block(6, true))), "png"),
        ("apng", apng(6, 4), "png"),
        ("jpeg with exif", jpeg_with_exif(&jpeg(6, 4), &exif_block(6, false)), "jpg"),
        ("animated gif", animated_gif(6, 4, 2), "gif"),
        ("gif", gif_with_small_frame(9, 7), "gif"),
        ("webp lossless", webp_lossless(6, 4), "webp"),
        ("webp lossy", webp_lossy(6, 4, 1), "webp"),
        ("webp animated", webp_animated(9, 7), "webp"),
        ("avif", heif(b"avif", &[b"mif1"], 60, 40, Some(1)), "avif"),
        ("heic", heif(b"mif1", &[b"heic"], 60, 40, None), "heic"),
        ("bmp", bmp(6, -4), "bmp"),
        ("ico", ico(&[(16, 16), (48, 48), (32, 32)]), "ico"),
        ("tiff", tiff(6, 4, Some(8), true), "tif"),
        ("psd", psd(6, 4), "psd"),
        ("jxl", jxl_64_by_32(), "jxl"),
        ("jp2", jp2(6, 4), "jp2"),
        (
            "svg",
            b"\xEF\xBB\xBF<?xml version=\"1.0\"?><!DOCTYPE svg><svg xmlns=\"http://www.w3.org/2000/svg\" \
              width=\"20mm\" viewBox=\"0 0 4 2\"><g/></svg>"
                .to_vec(),
            "svg",
        ),
        ("mp4", mp4(b"isom", &[b"vide", b"soun"], true), "mp4"),
        ("m4a", mp4(b"M4A ", &[b"soun"], false), "m4a"),
        ("webm", matroska("webm", &[1, 2], false), "webm"),
        ("live mkv", matroska("matroska", &[2], true), "mkv"),
        ("ogg", ogg(&[b"fishead\0", b"\x80theora", b"\x01vorbis"]), "ogg"),
        ("wav", wav(16), "wav"),
        ("mp3", [id3_tag(20), mp3_frame()].concat(), "mp3"),
        ("pdf", pdf(), "pdf"),
        ("html", b"<!DOCTYPE html><html><body><p>x</p></body></html>".to_vec(), "html"),
        ("text", "plain caf\u{e9} text".as_bytes().to_vec(), "txt"),
    ]
}

#[test]
fn every_prefix_is_safe() {
    for (name, file, extension) in samples() {
        let whole = probe(&file, true, extension);
        for length in 0..file.len() {
            let prefix = &file[..length];
            // As a head of a longer file: any size reported must be the whole file's size.
            let partial = probe(prefix, false, extension);
            if partial.width.is_some() || partial.height.is_some() {
                assert_eq!(
                    (partial.width, partial.height),
                    (whole.width, whole.height),
                    "{name}: head of {length} bytes reported a different size"
                );
            }
            // As a whole (truncated) file: anything goes, as long as it returns.
            let truncated = probe(prefix, true, extension);
            if truncated.kind != Kind::Image {
                assert_eq!(
                    truncated.width, None,
                    "{name}: {length} bytes: size on a non-image"
                );
            }
        }
    }
}

#[test]
fn samples_have_expected_kinds() {
    // The prefix test is only meaningful if the whole samples are recognised.
    for (name, file, extension) in samples() {
        let found = probe(&file, true, extension);
        let expected = match name {
            "mp4" | "webm" | "ogg" => Kind::Video,
            "m4a" | "live mkv" | "wav" | "mp3" => Kind::Audio,
            "pdf" | "html" | "text" => Kind::Document,
            _ => Kind::Image,
        };
        assert_eq!(found.kind, expected, "{name}: kind");
        if expected == Kind::Image {
            assert!(
                found.width.is_some() && found.height.is_some(),
                "{name}: size missing"
            );
        }
    }
}

/// A small deterministic pseudo-random generator (xorshift64), so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

#[test]
fn mutated_samples_are_safe() {
    let mut random = XorShift(0x9E37_79B9_7F4A_7C15);
    let interesting = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF];
    for (name, file, extension) in samples() {
        for round in 0..300 {
            let mut mutated = file.clone();
            for _ in 0..1 + random.below(4) {
                let position = random.below(mutated.len());
                mutated[position] = if random.below(2) == 0 {
                    interesting[random.below(interesting.len())]
                } else {
                    random.next() as u8
                };
            }
            let complete = random.below(2) == 0;
            let found = probe(&mutated, complete, extension);
            if found.kind != Kind::Image {
                assert_eq!(
                    found.width, None,
                    "{name} round {round}: size on a non-image"
                );
            }
            assert_ne!(found.width, Some(0), "{name} round {round}: zero width");
            assert_ne!(found.height, Some(0), "{name} round {round}: zero height");
        }
    }
}

#[test]
fn huge_length_fields() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "png chunk",
            [
                &b"\x89PNG\r\n\x1a\n"[..],
                b"\0\0\0\x0dIHDR\0\0\0\x10\0\0\0\x10\x08\x02\0\0\0\0\0\0\0\xFF\xFF\xFF\xFFeXIf",
            ]
            .concat(),
            "png",
        ),
        (
            "jpeg segment",
            vec![
                0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, b'E', b'x', b'i', b'f', 0, 0,
            ],
            "jpg",
        ),
        (
            "mp4 largesize",
            [
                &ftyp(b"isom", &[])[..],
                b"\0\0\0\x01moov\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF",
            ]
            .concat(),
            "mp4",
        ),
        (
            "mp4 box",
            [
                &ftyp(b"isom", &[])[..],
                b"\xFF\xFF\xFF\xFFmoov\0\0\0\x08trak",
            ]
            .concat(),
            "mp4",
        ),
        (
            "heif meta",
            [&ftyp(b"avif", &[])[..], b"\xFF\xFF\xFF\xF0meta\0\0\0\0"].concat(),
            "avif",
        ),
        (
            "ebml size",
            vec![
                0x1A, 0x45, 0xDF, 0xA3, 0x01, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0x42, 0x82,
            ],
            "webm",
        ),
        (
            "id3 size",
            b"ID3\x04\x00\x00\x7F\x7F\x7F\x7F".to_vec(),
            "mp3",
        ),
        (
            "ogg segments",
            [&b"OggS\0\x02"[..], &[0; 20], &[0xFF], &[0xFF; 10]].concat(),
            "ogg",
        ),
        (
            "ico count",
            vec![0, 0, 1, 0, 0xFF, 0xFF, 16, 16, 0, 0],
            "ico",
        ),
        (
            "tiff ifd offset",
            b"II*\0\xFF\xFF\xFF\xFF\0\0\0\0".to_vec(),
            "tif",
        ),
        (
            "tiff ifd count",
            b"MM\0*\0\0\0\x08\xFF\xFF\x01\x00\0\x03\0\0\0\x01\0\x10\0\0".to_vec(),
            "tif",
        ),
        (
            "bmp header size",
            b"BM\0\0\0\0\0\0\0\0\0\0\0\0\xFF\xFF\xFF\xFF\x10\0\0\0\x10\0\0\0".to_vec(),
            "bmp",
        ),
        (
            "jp2 box",
            [
                &b"\0\0\0\x0cjP  \r\n\x87\n"[..],
                b"\xFF\xFF\xFF\xFFjp2h\0\0\0\x16ihdr\0\0",
            ]
            .concat(),
            "jp2",
        ),
    ];
    for (name, file, extension) in cases {
        let found = probe(&file, true, extension);
        assert_ne!(found.width, Some(0), "{name}: zero width");
        let found = probe(&file, false, extension);
        assert_ne!(found.height, Some(0), "{name}: zero height");
    }
}

#[test]
fn full_head_of_padding() {
    // A head of HEAD_LEN bytes of each single byte value walks every parser to the end of the head.
    for byte in [0x00, 0x20, 0x3C, 0x47, 0xFF] {
        let head = vec![byte; HEAD_LEN];
        let found = probe(&head, false, "bin");
        assert_eq!(found.width, None, "byte {byte:#04x}");
    }
}

#[test]
fn many_tiny_boxes_and_pages() {
    // Long chains of minimal structures must be walked in linear time.
    let mut boxes = ftyp(b"isom", &[]);
    let mut moov = Vec::new();
    while moov.len() < HEAD_LEN / 2 {
        moov.extend_from_slice(b"\0\0\0\x08trak");
    }
    boxes.extend(iso_box(b"moov", &moov));
    assert_eq!(probe(&boxes, true, "mp4").kind, Kind::Video);

    let mut pages = Vec::new();
    while pages.len() < HEAD_LEN / 2 {
        pages.extend(ogg_page(0x02, 1, &[]));
    }
    assert_eq!(probe(&pages, true, "").kind, Kind::Audio);

    let mut jpeg = vec![0xFF, 0xD8];
    while jpeg.len() < HEAD_LEN / 2 {
        jpeg.extend_from_slice(&[0xFF, 0xE2, 0x00, 0x02]);
    }
    assert_eq!(probe(&jpeg, false, "jpg").width, None);
}
