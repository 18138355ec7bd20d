use super::build::*;
use super::{assert_probe, probe_file};
use crate::probe::{probe, Kind};

#[test]
fn png_size() {
    assert_probe(
        "png",
        &png(24, 16),
        "png",
        Kind::Image,
        "image/png",
        Some((24, 16)),
    );
}

#[test]
fn jpeg_size() {
    assert_probe(
        "jpeg",
        &jpeg(32, 20),
        "jpg",
        Kind::Image,
        "image/jpeg",
        Some((32, 20)),
    );
}

#[test]
fn jpeg_exif_orientations() {
    let base = jpeg(32, 20);
    for little_endian in [true, false] {
        for orientation in 1..=8u16 {
            let file = jpeg_with_exif(&base, &exif_block(orientation, little_endian));
            let expected = if orientation >= 5 { (20, 32) } else { (32, 20) };
            let name = format!("orientation {orientation}, little endian {little_endian}");
            assert_probe(
                &name,
                &file,
                "jpg",
                Kind::Image,
                "image/jpeg",
                Some(expected),
            );
        }
    }
}

#[test]
fn exif_fixture_matches_kamadak_exif() {
    // The hand-built EXIF block must be valid EXIF, or the orientation tests above prove nothing.
    for little_endian in [true, false] {
        let block = exif_block(6, little_endian);
        let parsed = ::exif::Reader::new()
            .read_raw(block)
            .expect("kamadak-exif parses the block");
        let field = parsed
            .get_field(::exif::Tag::Orientation, ::exif::In::PRIMARY)
            .expect("orientation field");
        assert_eq!(field.value.get_uint(0), Some(6));
    }
}

#[test]
fn jpeg_exif_invalid_orientation_ignored() {
    let base = jpeg(32, 20);
    for orientation in [0u16, 9, 0xFFFF] {
        let file = jpeg_with_exif(&base, &exif_block(orientation, true));
        assert_probe(
            &format!("orientation {orientation}"),
            &file,
            "jpg",
            Kind::Image,
            "image/jpeg",
            Some((32, 20)),
        );
    }
}

#[test]
fn jpeg_exif_wrong_type_ignored() {
    let mut block = exif_block(6, true);
    // The Orientation entry starts at 8 + 2 + 12; make its type LONG instead of SHORT.
    block[22 + 2] = 4;
    let file = jpeg_with_exif(&jpeg(32, 20), &block);
    assert_probe(
        "LONG orientation",
        &file,
        "jpg",
        Kind::Image,
        "image/jpeg",
        Some((32, 20)),
    );
}

#[test]
fn jpeg_exif_after_jfif() {
    let base = jpeg(32, 20);
    let app0 = [
        0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
    ];
    let exif = jpeg_with_exif(&[0xFF, 0xD8], &exif_block(8, false));
    // SOI, APP0, then the APP1 segment of `exif` and the rest of the image.
    let file = [&base[..2], &app0[..], &exif[2..], &base[2..]].concat();
    assert_probe(
        "jfif then exif",
        &file,
        "jpg",
        Kind::Image,
        "image/jpeg",
        Some((20, 32)),
    );
}

#[test]
fn jpeg_xmp_app1_is_not_exif() {
    let mut segment = vec![0xFF, 0xE1];
    let payload = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>";
    segment.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(payload);
    let base = jpeg(32, 20);
    let with_exif = jpeg_with_exif(&base, &exif_block(6, true));
    let file = [&base[..2], &segment[..], &with_exif[2..]].concat();
    assert_probe(
        "xmp then exif",
        &file,
        "jpg",
        Kind::Image,
        "image/jpeg",
        Some((20, 32)),
    );
}

#[test]
fn jpeg_truncated_exif_segment() {
    // The APP1 length promises more bytes than the file has: no size, and no panic.
    let file = [&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF][..], b"Exif\0\0II*\0"].concat();
    let found = probe_file(&file, "jpg");
    assert_eq!(found.kind, Kind::Image);
    assert_eq!(found.width, None);
    assert_eq!(found.height, None);
}

#[test]
fn png_exif_before_image_data() {
    let base = png(24, 16);
    let file = insert_after_ihdr(&base, &png_chunk(b"eXIf", &exif_block(6, false)));
    assert_probe(
        "eXIf before IDAT",
        &file,
        "png",
        Kind::Image,
        "image/png",
        Some((16, 24)),
    );
}

#[test]
fn png_exif_with_app1_prefix() {
    let base = png(24, 16);
    let data = [&b"Exif\0\0"[..], &exif_block(7, true)].concat();
    let file = insert_after_ihdr(&base, &png_chunk(b"eXIf", &data));
    assert_probe(
        "eXIf with prefix",
        &file,
        "png",
        Kind::Image,
        "image/png",
        Some((16, 24)),
    );
}

#[test]
fn png_exif_after_image_data_ignored() {
    let base = png(24, 16);
    let file = insert_before_iend(&base, &png_chunk(b"eXIf", &exif_block(6, false)));
    assert_probe(
        "eXIf after IDAT",
        &file,
        "png",
        Kind::Image,
        "image/png",
        Some((24, 16)),
    );
}

#[test]
fn png_without_ihdr_has_no_size() {
    let mut file = png(24, 16);
    file[12..16].copy_from_slice(b"IHDX");
    let found = probe_file(&file, "png");
    assert_eq!(found.kind, Kind::Image);
    assert_eq!(found.width, None);
}

#[test]
fn apng_reports_canvas() {
    assert_probe(
        "apng",
        &apng(30, 20),
        "png",
        Kind::Image,
        "image/png",
        Some((30, 20)),
    );
}

#[test]
fn animated_gif_reports_canvas() {
    let file = animated_gif(40, 30, 3);
    assert_probe(
        "animated gif",
        &file,
        "gif",
        Kind::Image,
        "image/gif",
        Some((40, 30)),
    );
}

#[test]
fn gif_logical_screen_not_frame() {
    let file = gif_with_small_frame(50, 40);
    assert_probe(
        "gif screen",
        &file,
        "gif",
        Kind::Image,
        "image/gif",
        Some((50, 40)),
    );
}

#[test]
fn gif_zero_screen_unknown() {
    let file = gif_with_small_frame(0, 40);
    assert_probe(
        "gif zero width",
        &file,
        "gif",
        Kind::Image,
        "image/gif",
        None,
    );
}

#[test]
fn webp_lossless_size() {
    assert_probe(
        "webp lossless",
        &webp_lossless(21, 13),
        "webp",
        Kind::Image,
        "image/webp",
        Some((21, 13)),
    );
}

#[test]
fn webp_lossy_ignores_scale_bits() {
    for scale in 0..4 {
        let file = webp_lossy(300, 200, scale);
        assert_probe(
            &format!("scale {scale}"),
            &file,
            "webp",
            Kind::Image,
            "image/webp",
            Some((300, 200)),
        );
    }
}

#[test]
fn webp_animated_reports_canvas() {
    assert_probe(
        "animated webp",
        &webp_animated(64, 48),
        "webp",
        Kind::Image,
        "image/webp",
        Some((64, 48)),
    );
}

#[test]
fn avif_size_and_rotation() {
    let plain = heif(b"avif", &[b"mif1", b"miaf"], 400, 300, None);
    assert_probe(
        "avif",
        &plain,
        "avif",
        Kind::Image,
        "image/avif",
        Some((400, 300)),
    );
    let quarter = heif(b"avif", &[b"mif1"], 400, 300, Some(1));
    assert_probe(
        "avif irot 1",
        &quarter,
        "avif",
        Kind::Image,
        "image/avif",
        Some((300, 400)),
    );
    let half = heif(b"avif", &[b"mif1"], 400, 300, Some(2));
    assert_probe(
        "avif irot 2",
        &half,
        "avif",
        Kind::Image,
        "image/avif",
        Some((400, 300)),
    );
}

#[test]
fn heif_brands() {
    type Brands = &'static [&'static [u8; 4]];
    let cases: [(&[u8; 4], Brands, &str); 5] = [
        (b"heic", &[b"mif1", b"heic"], "image/heic"),
        (b"heix", &[b"mif1"], "image/heic"),
        (b"mif1", &[b"mif1", b"heic"], "image/heic"),
        (b"mif1", &[b"mif1", b"avif"], "image/avif"),
        (b"mif1", &[b"mif1"], "image/heif"),
    ];
    for (major, compatible, content_type) in cases {
        let file = heif(major, compatible, 120, 80, Some(3));
        let name = String::from_utf8_lossy(major);
        assert_probe(
            &name,
            &file,
            "heic",
            Kind::Image,
            content_type,
            Some((80, 120)),
        );
    }
}

#[test]
fn bmp_sizes() {
    assert_probe(
        "bottom-up bmp",
        &bmp(17, 9),
        "bmp",
        Kind::Image,
        "image/bmp",
        Some((17, 9)),
    );
    assert_probe(
        "top-down bmp",
        &bmp(17, -9),
        "bmp",
        Kind::Image,
        "image/bmp",
        Some((17, 9)),
    );
    assert_probe(
        "os/2 bmp",
        &bmp_os2(17, 9),
        "bmp",
        Kind::Image,
        "image/bmp",
        Some((17, 9)),
    );
    assert_probe(
        "negative width",
        &bmp(-17, 9),
        "bmp",
        Kind::Image,
        "image/bmp",
        None,
    );
}

#[test]
fn ico_largest_entry() {
    let file = ico(&[(16, 16), (0, 0), (32, 32)]);
    assert_probe(
        "ico",
        &file,
        "ico",
        Kind::Image,
        "image/vnd.microsoft.icon",
        Some((256, 256)),
    );
}

#[test]
fn ico_cut_directory_unknown() {
    let file = ico(&[(16, 16), (0, 0)]);
    // The head ends inside the second directory entry, which may hold a larger icon.
    let found = probe(&file[..6 + 16 + 4], false, "ico");
    assert_eq!(found.kind, Kind::Image);
    assert_eq!(found.width, None);
}

#[test]
fn tiff_orientation() {
    for little_endian in [true, false] {
        let upright = tiff(64, 48, Some(1), little_endian);
        assert_probe(
            "tiff 1",
            &upright,
            "tif",
            Kind::Image,
            "image/tiff",
            Some((64, 48)),
        );
        let turned = tiff(64, 48, Some(6), little_endian);
        assert_probe(
            "tiff 6",
            &turned,
            "tif",
            Kind::Image,
            "image/tiff",
            Some((48, 64)),
        );
        let unset = tiff(64, 48, None, little_endian);
        assert_probe(
            "tiff without orientation",
            &unset,
            "tif",
            Kind::Image,
            "image/tiff",
            Some((64, 48)),
        );
    }
}

#[test]
fn psd_size() {
    assert_probe(
        "psd",
        &psd(640, 480),
        "psd",
        Kind::Image,
        "image/vnd.adobe.photoshop",
        Some((640, 480)),
    );
}

#[test]
fn jxl_size() {
    assert_probe(
        "jxl",
        &jxl_64_by_32(),
        "jxl",
        Kind::Image,
        "image/jxl",
        Some((64, 32)),
    );
}

#[test]
fn jp2_size() {
    assert_probe(
        "jp2",
        &jp2(320, 240),
        "jp2",
        Kind::Image,
        "image/jp2",
        Some((320, 240)),
    );
}

#[test]
fn image_bytes_beat_extension() {
    assert_probe(
        "png named txt",
        &png(5, 4),
        "txt",
        Kind::Image,
        "image/png",
        Some((5, 4)),
    );
    assert_probe(
        "jpeg named gif",
        &jpeg(5, 4),
        "gif",
        Kind::Image,
        "image/jpeg",
        Some((5, 4)),
    );
    assert_probe(
        "gif named html",
        &animated_gif(5, 4, 1),
        "html",
        Kind::Image,
        "image/gif",
        Some((5, 4)),
    );
}

#[test]
fn image_extension_without_image_bytes() {
    let unknown = [0x00, 0x9A, 0x13, 0x77, 0xFE, 0x01, 0x02, 0x03];
    assert_probe(
        "unknown jpg",
        &unknown,
        "jpg",
        Kind::Image,
        "image/jpeg",
        None,
    );
    assert_probe(
        "unknown heic",
        &unknown,
        "heic",
        Kind::Image,
        "image/heic",
        None,
    );
}
