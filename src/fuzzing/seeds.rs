//! Writer of the seed corpora in `fuzz/seeds/`, from the probe tests' file builders, the test fixtures and inputs
//! written out here. Regenerate the seeds with
//! `cargo test --lib fuzzing::seeds -- --ignored`; the files are checked in, so the replay tests and the fuzzer
//! need no build step of their own.

use std::io::Cursor as IoCursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, Luma, Rgb, RgbImage, Rgba, RgbaImage};

use super::PROBE_EXTENSIONS;
use crate::domain::cursor::{filter_digest, Cursor};
use crate::probe::tests::build;

/// Largest seed file written, so that the corpora stay small enough to check in.
const MAX_SEED_BYTES: usize = 4096;

#[test]
#[ignore = "rewrites fuzz/seeds; run by hand after changing a builder"]
fn write_seed_corpora() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    write_target(&root, "multipart", multipart_seeds());
    write_target(&root, "probe", probe_seeds());
    write_target(&root, "filename", filename_seeds());
    write_target(&root, "cursor", cursor_seeds());
    write_target(&root, "image_params", image_params_seeds());
    write_target(&root, "render", render_seeds());
}

/// Replaces the files of `root/target` with `seeds`, each named after its case.
fn write_target(root: &Path, target: &str, seeds: Vec<(&str, Vec<u8>)>) {
    let directory: PathBuf = root.join(target);
    if directory.exists() {
        std::fs::remove_dir_all(&directory).expect("remove the old seeds");
    }
    std::fs::create_dir_all(&directory).expect("create the seed directory");
    for (name, bytes) in seeds {
        assert!(
            bytes.len() <= MAX_SEED_BYTES,
            "{target}/{name} has {} bytes",
            bytes.len()
        );
        let path = directory.join(name);
        assert!(!path.exists(), "{target}/{name} is written twice");
        std::fs::write(&path, bytes).expect("write a seed");
    }
}

fn text(value: &str) -> Vec<u8> {
    value.as_bytes().to_vec()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// Builds a multipart seed: the Content-Type line, then the body with CRLF line ends.
fn multipart_seed(content_type: &str, body: &str) -> Vec<u8> {
    format!("{content_type}\n{}", body.replace('\n', "\r\n")).into_bytes()
}

fn multipart_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let form = "multipart/form-data; boundary=XyZ";
    let file_part =
        "--XyZ\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\n\
        Content-Type: image/jpeg\n\n\u{FF}\u{D8}\u{FF}\u{E0}bytes\n";
    vec![
        ("file-only", multipart_seed(form, &format!("{file_part}--XyZ--\n"))),
        (
            "fields-around-file",
            multipart_seed(
                form,
                &format!(
                    "--XyZ\nContent-Disposition: form-data; name=\"notes\"\n\nA note\n{file_part}\
                     --XyZ\nContent-Disposition: form-data; name=\"alt\"\n\nThe alt text\n\
                     --XyZ\nContent-Disposition: form-data; name=\"credits\"\n\n\n--XyZ--\n"
                ),
            ),
        ),
        (
            "extended-filename",
            multipart_seed(
                form,
                "--XyZ\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"; \
                 filename*=UTF-8''caf%C3%A9%20%E2%80%AE.png\n\n\u{89}PNG\n--XyZ--\n",
            ),
        ),
        (
            "filename-with-path",
            multipart_seed(
                form,
                "--XyZ\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\\\dir\\\\a/b.txt\"\n\nhi\n--XyZ--\n",
            ),
        ),
        (
            "no-filename",
            multipart_seed(form, "--XyZ\nContent-Disposition: form-data; name=\"file\"\n\ndata\n--XyZ--\n"),
        ),
        (
            "unknown-field",
            multipart_seed(
                form,
                &format!("--XyZ\nContent-Disposition: form-data; name=\"other\"\n\nignored\n{file_part}--XyZ--\n"),
            ),
        ),
        (
            "two-files",
            multipart_seed(form, &format!("{file_part}{file_part}--XyZ--\n")),
        ),
        (
            "quoted-boundary",
            multipart_seed(
                "Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\"",
                "--a b:c\nContent-Disposition: form-data; name=\"file\"; filename=\"s.svg\"\n\n<svg/>\n--a b:c--\n",
            ),
        ),
        (
            "preamble-and-epilogue",
            multipart_seed(form, &format!("This is the preamble.\n{file_part}--XyZ--\nThis is the epilogue.\n")),
        ),
        ("missing-close", multipart_seed(form, file_part)),
        ("truncated-headers", multipart_seed(form, "--XyZ\nContent-Disposition: form-da")),
        ("no-disposition", multipart_seed(form, "--XyZ\nContent-Type: text/plain\n\nx\n--XyZ--\n")),
        ("empty-body", multipart_seed(form, "")),
        ("close-only", multipart_seed(form, "--XyZ--\n")),
        ("two-boundaries", multipart_seed("multipart/form-data; boundary=a; boundary=b", "--a--\n")),
        ("json-type", multipart_seed("application/json", "{}")),
        ("no-content-type", multipart_seed("", &format!("{file_part}--XyZ--\n"))),
        (
            "unicode-names",
            multipart_seed(
                form,
                "--XyZ\nContent-Disposition: form-data; name=\"file\"; filename=\"日本語 ファイル.png\"\n\nx\n--XyZ--\n",
            ),
        ),
        (
            "bare-lf",
            format!("{form}\n--XyZ\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\n\nx\n--XyZ--\n")
                .into_bytes(),
        ),
        (
            "many-headers",
            multipart_seed(
                form,
                &format!(
                    "--XyZ\n{}Content-Disposition: form-data; name=\"file\"; filename=\"h.bin\"\n\nx\n--XyZ--\n",
                    "X-Header: value\n".repeat(40)
                ),
            ),
        ),
    ]
}

/// Builds a probe seed: the options byte (`complete` and the extension's index in `PROBE_EXTENSIONS`), then the head.
fn probe_seed(extension: &str, complete: bool, head: &[u8]) -> Vec<u8> {
    let index = PROBE_EXTENSIONS
        .iter()
        .position(|known| *known == extension)
        .expect("a known extension");
    let mut seed = vec![(index as u8) << 1 | u8::from(complete)];
    seed.extend_from_slice(head);
    seed
}

fn probe_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let jpeg = build::jpeg(16, 8);
    let orientation_6 = fixture("orientation-6.jpg");
    vec![
        ("jpeg", probe_seed("jpg", true, &jpeg)),
        ("jpeg-truncated", probe_seed("jpg", false, &jpeg[..jpeg.len() / 2])),
        ("jpeg-exif-orientation-6", probe_seed("jpg", true, &orientation_6)),
        (
            "jpeg-exif-big-endian",
            probe_seed("jpg", true, &build::jpeg_with_exif(&jpeg, &build::exif_block(8, false))),
        ),
        ("png", probe_seed("png", true, &build::png(5, 3))),
        ("png-fixture", probe_seed("", true, &fixture("image.png"))),
        ("apng", probe_seed("png", true, &build::apng(6, 4))),
        ("gif-animated", probe_seed("gif", true, &build::animated_gif(4, 3, 2))),
        ("gif-small-frame", probe_seed("gif", true, &build::gif_with_small_frame(300, 200))),
        ("webp-lossless", probe_seed("webp", true, &build::webp_lossless(4, 4))),
        ("webp-lossy", probe_seed("webp", true, &build::webp_lossy(640, 480, 1))),
        ("webp-animated", probe_seed("webp", true, &build::webp_animated(10, 10))),
        ("avif", probe_seed("avif", true, &build::heif(b"avif", &[b"avif", b"mif1"], 64, 48, Some(1)))),
        ("heic", probe_seed("heic", true, &build::heif(b"heic", &[b"heic", b"mif1"], 40, 30, None))),
        ("bmp", probe_seed("bmp", true, &build::bmp(16, -8))),
        ("bmp-os2", probe_seed("bmp", true, &build::bmp_os2(7, 9))),
        ("ico", probe_seed("ico", true, &build::ico(&[(16, 16), (0, 0)]))),
        ("tiff-little-endian", probe_seed("tif", true, &build::tiff(20, 10, Some(6), true))),
        ("tiff-big-endian", probe_seed("tif", false, &build::tiff(20, 10, None, false))),
        ("psd", probe_seed("", true, &build::psd(30, 20))),
        ("jxl", probe_seed("", true, &build::jxl_64_by_32())),
        ("jp2", probe_seed("", true, &build::jp2(12, 8))),
        ("svg-millimetres", probe_seed("svg", true, &fixture("millimetres.svg"))),
        (
            "svg-view-box",
            probe_seed(
                "svg",
                false,
                b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!DOCTYPE svg>\n<svg:svg xmlns:svg=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1e2 5.5e1\"/>",
            ),
        ),
        ("svg-em-units", probe_seed("", true, b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"2em\" height=\"3in\"/>")),
        ("mp4", probe_seed("mp4", true, &build::mp4(b"isom", &[b"vide", b"soun"], true))),
        ("mp4-moov-last", probe_seed("mp4", false, &build::mp4(b"mp42", &[b"soun"], false))),
        ("webm", probe_seed("webm", true, &build::matroska("webm", &[1, 2], false))),
        ("matroska-live", probe_seed("", false, &build::matroska("matroska", &[2], true))),
        ("ogg", probe_seed("", true, &build::ogg(&[b"\x01vorbis"]))),
        ("wav", probe_seed("", true, &build::wav(64))),
        ("mp3-with-id3", probe_seed("", true, &[build::id3_tag(16), build::mp3_frame()].concat())),
        ("pdf", probe_seed("", true, &build::pdf())),
        ("html", probe_seed("html", true, b"<!DOCTYPE html><html><script>alert(1)</script></html>")),
        ("csv", probe_seed("csv", true, b"a,b\n1,2\n")),
        ("ole2", probe_seed("doc", true, &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0, 0, 0])),
        ("empty", probe_seed("png", true, b"")),
    ]
}

fn filename_seeds() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("plain", text("photo.jpg")),
        ("unix-path", text("a/b/c.png")),
        ("windows-path", text("C:\\Users\\me\\d.png")),
        ("trailing-slash", text("dir/")),
        ("empty", text("")),
        ("decomposed", text("cafe\u{301}.JPG")),
        ("right-to-left-override", text("invoice\u{202E}gpj.exe")),
        ("line-feed", text("a\nb.png")),
        ("nul", text("a\0.png")),
        ("c1-control", text("a\u{85}b.txt")),
        ("max-length", "é".repeat(500).into_bytes()),
        ("over-max-length", "é".repeat(501).into_bytes()),
        ("double-extension", text("résumé.tar.GZ")),
        ("greek-sigma", text("ΣΑΣ.ΣΣ")),
        ("dot-dot", text("..")),
        ("hidden", text(".hidden")),
        ("trailing-dot", text("name.")),
        ("emoji", text("👩‍👩‍👧 family.heic")),
        ("canonical-singleton", text("what\u{37E}.txt")),
        ("compatibility-ligature", text("\u{FB01}le.png")),
        ("hangul-jamo", text("\u{1100}\u{1161}\u{11A8}.png")),
        (
            "invalid-utf8",
            vec![b'a', 0xFF, 0xFE, b'.', b'p', b'n', b'g'],
        ),
        ("spaces", text("   .  ")),
    ]
}

/// Builds a cursor seed: the expected filter digest, a line feed, then the cursor text.
fn cursor_seed(filters: &str, cursor: &str) -> Vec<u8> {
    format!("{filters}\n{cursor}").into_bytes()
}

fn cursor_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let digest = filter_digest(&[("keyword", "cat".into()), ("type", "image".into())]);
    let search = Cursor {
        score: Some(3),
        created_at: 1_700_000_000_000,
        id: "AbCdEf".into(),
        filters: digest.clone(),
    };
    let plain = Cursor {
        score: None,
        created_at: -1,
        id: "Z".into(),
        filters: digest.clone(),
    };
    let unicode = Cursor {
        score: Some(i64::MIN),
        created_at: i64::MAX,
        id: "日本\u{0}\"".into(),
        filters: digest.clone(),
    };
    vec![
        ("search", cursor_seed(&digest, &search.encode())),
        ("plain", cursor_seed(&digest, &plain.encode())),
        ("unicode-id", cursor_seed(&digest, &unicode.encode())),
        (
            "padded",
            cursor_seed(&digest, &format!("{}==", plain.encode())),
        ),
        (
            "other-filters",
            cursor_seed("0000000000000000", &search.encode()),
        ),
        ("empty", cursor_seed(&digest, "")),
        ("not-base64", cursor_seed(&digest, "!!!***")),
        (
            "standard-alphabet",
            cursor_seed(&digest, "eyJjIjoxLCJpIjoiYSIsImYiOiIifQ+/"),
        ),
        ("not-json", cursor_seed(&digest, "bm90IGpzb24")),
        (
            "wrong-types",
            cursor_seed("", "eyJjIjoiMSIsImkiOjIsImYiOm51bGx9"),
        ),
        (
            "extra-fields",
            cursor_seed("", "eyJjIjoxLCJpIjoiYSIsImYiOiIiLCJ4IjpbMSwyXX0"),
        ),
        ("too-long", cursor_seed(&digest, &"A".repeat(1025))),
        (
            "binary",
            vec![
                0x01, 0, 0, 0, 0, 0, 0, 0, 1, 7, 0, 0, 0, 0, 0, 0, 0, b'i', b'd', b'\n', b'f',
            ],
        ),
    ]
}

fn image_params_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let queries = [
        ("resize", "w=640&h=480"),
        ("aliases", "width=300&height=200&dpr=2"),
        ("fraction", "w=0.5&fit=max"),
        ("crop-anchor", "w=100&h=100&fit=crop&crop=top,left"),
        ("crop-encoded", "w=100&h=100&fit=crop&crop=bottom%2Cright"),
        (
            "focal-point",
            "fit=crop&crop=focalpoint&fp-x=0.2&fp-y=0.9&w=50&h=80",
        ),
        ("rect", "rect=10,20,300,200&w=150"),
        ("rect-encoded", "rect=10%2C20%2C300%2C200"),
        ("aspect-ratio", "ar=16:9&fit=crop&w=800"),
        ("fill", "w=200&h=200&fit=fill&bg=ff0000"),
        ("fillmax", "w=2000&h=100&fit=fillmax&bg=%2380ff0000"),
        ("clamp", "w=300&h=50&fit=clamp"),
        ("scale", "w=10&h=500&fit=scale"),
        ("min", "w=5000&h=10&fit=min"),
        ("format-quality", "fm=webp&q=60"),
        ("auto", "auto=format,compress"),
        ("auto-encoded", "auto=format%2Ccompress&fm=pjpg"),
        ("blur-sat", "blur=50&sat=-100"),
        ("flip-rotate", "flip=hv&rot=270"),
        ("orient", "orient=6&w=90"),
        ("max-sizes", "max-w=100&max-h=50&w=1000"),
        ("clamped", "dpr=9&q=150&blur=5000&sat=-300&fp-x=-3"),
        (
            "invalid",
            "w=abc&h=-5&fit=nonsense&fm=bmp&rect=1,2,3&q=x&bg=zzz",
        ),
        (
            "huge-numbers",
            "w=1e308&h=1e-308&rect=0,0,99999999999,4294967296&ar=1e300:1e-300",
        ),
        (
            "repeated",
            "w=10&w=x&width=20&fit=crop&fit=&rot=90&orient=3",
        ),
        ("plus-and-spaces", "w=+100+&fit=%20crop%20&fm=png+"),
        ("negative-zero", "crop=focalpoint&fp-x=-0&fp-y=-0.0"),
        ("empty", ""),
        ("no-values", "w&h=&=&&fit"),
        ("bad-escapes", "w=%zz&h=%&fm=%C3%28"),
        (
            "real-imgix",
            "auto=compress,format&fit=crop&crop=faces,edges&w=1200&h=630&q=75&dpr=1.5",
        ),
    ];
    queries
        .into_iter()
        .map(|(name, query)| (name, text(query)))
        .collect()
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = IoCursor::new(Vec::new());
    image
        .write_to(&mut out, format)
        .expect("encode a seed image");
    out.into_inner()
}

fn render_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let rgb = DynamicImage::ImageRgb8(RgbImage::from_fn(12, 9, |x, y| {
        Rgb([(x * 20) as u8, (y * 28) as u8, 90])
    }));
    let rgba = DynamicImage::ImageRgba8(RgbaImage::from_fn(10, 6, |x, y| {
        Rgba([200, (x * 25) as u8, 40, (y * 40) as u8])
    }));
    let gray16 = DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(5, 7, |x, y| {
        Luma([(x * 9000 + y * 700) as u16])
    }));
    let ico = DynamicImage::ImageRgba8(RgbaImage::from_pixel(16, 16, Rgba([10, 20, 30, 255])));
    vec![
        ("png-rgb", encode(&rgb, ImageFormat::Png)),
        ("png-rgba", encode(&rgba, ImageFormat::Png)),
        ("png-gray16", encode(&gray16, ImageFormat::Png)),
        ("png-fixture", fixture("image.png")),
        ("apng", build::apng(6, 4)),
        ("jpeg", build::jpeg(32, 24)),
        ("jpeg-exif-orientation-6", fixture("orientation-6.jpg")),
        ("gif-animated", build::animated_gif(8, 6, 3)),
        ("gif-animated-fixture", fixture("animated.gif")),
        ("gif-still", encode(&rgb, ImageFormat::Gif)),
        ("webp-lossless", build::webp_lossless(8, 8)),
        ("webp-animated", build::webp_animated(10, 10)),
        ("bmp", encode(&rgb, ImageFormat::Bmp)),
        ("bmp-header-only", build::bmp(16, -8)),
        ("tiff", encode(&rgb, ImageFormat::Tiff)),
        ("tiff-header-only", build::tiff(20, 10, Some(6), true)),
        ("ico", encode(&ico, ImageFormat::Ico)),
        (
            "avif-header-only",
            build::heif(b"avif", &[b"avif", b"mif1"], 64, 48, Some(1)),
        ),
        ("svg-millimetres", fixture("millimetres.svg")),
        (
            "svg-shapes",
            text(
                r##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30" viewBox="0 0 40 30">
<defs><linearGradient id="g"><stop offset="0" stop-color="#f00"/><stop offset="1" stop-color="#00f"/></linearGradient>
<clipPath id="c"><circle cx="20" cy="15" r="12"/></clipPath></defs>
<rect width="40" height="30" fill="url(#g)" clip-path="url(#c)"/><path d="M0 0 L40 30 Q20 0 0 30 Z" stroke="#000" fill="none"/>
</svg>"##,
            ),
        ),
        (
            "svg-filter-pattern-mask",
            text(
                r##"<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20">
<filter id="f"><feGaussianBlur stdDeviation="2"/><feOffset dx="1" dy="1"/></filter>
<pattern id="p" width="4" height="4" patternUnits="userSpaceOnUse"><rect width="2" height="2" fill="#0a0"/></pattern>
<mask id="m"><rect width="20" height="10" fill="#fff"/></mask>
<g filter="url(#f)" mask="url(#m)" opacity="0.5"><rect width="20" height="20" fill="url(#p)"/></g>
<text x="2" y="10">dropped</text><image href="data:image/png;base64,AAAA" width="5" height="5"/>
</svg>"##,
            ),
        ),
        (
            "svg-huge-view-box",
            text(
                r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200000 200000"><rect width="1" height="1"/></svg>"#,
            ),
        ),
    ]
}
