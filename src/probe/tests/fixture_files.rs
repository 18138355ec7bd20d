//! The checked-in files under `tests/fixtures/`, which the integration tests upload, probe as their README lists.

use std::path::PathBuf;

use super::probe_file;
use crate::probe::Kind;

/// File name, extension, kind, media type and display size, as listed in `tests/fixtures/README.md`.
type Fixture = (
    &'static str,
    &'static str,
    Kind,
    &'static str,
    Option<(u32, u32)>,
);

const FIXTURES: &[Fixture] = &[
    ("image.png", "png", Kind::Image, "image/png", Some((24, 16))),
    (
        "orientation-6.jpg",
        "jpg",
        Kind::Image,
        "image/jpeg",
        Some((20, 32)),
    ),
    (
        "animated.gif",
        "gif",
        Kind::Image,
        "image/gif",
        Some((40, 30)),
    ),
    (
        "millimetres.svg",
        "svg",
        Kind::Image,
        "image/svg+xml",
        Some((189, 94)),
    ),
    (
        "document.pdf",
        "pdf",
        Kind::Document,
        "application/pdf",
        None,
    ),
    ("tone.wav", "wav", Kind::Audio, "audio/wav", None),
    ("clip.mp4", "mp4", Kind::Video, "video/mp4", None),
];

const MAX_FIXTURE_BYTES: usize = 20 * 1024;

#[test]
fn fixture_files_probe_as_documented() {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for &(name, extension, kind, content_type, size) in FIXTURES {
        let bytes = std::fs::read(directory.join(name))
            .unwrap_or_else(|error| panic!("read {name}: {error}"));
        assert!(
            bytes.len() <= MAX_FIXTURE_BYTES,
            "{name} is {} bytes",
            bytes.len()
        );
        let found = probe_file(&bytes, extension);
        assert_eq!(found.kind, kind, "{name}: kind");
        assert_eq!(found.content_type, content_type, "{name}: content type");
        assert_eq!(found.width, size.map(|(width, _)| width), "{name}: width");
        assert_eq!(
            found.height,
            size.map(|(_, height)| height),
            "{name}: height"
        );
    }
}

#[test]
fn readme_lists_every_fixture() {
    let readme = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/README.md"),
    )
    .expect("read tests/fixtures/README.md");
    for &(name, _, kind, content_type, size) in FIXTURES {
        let line = readme
            .lines()
            .find(|line| line.contains(&format!("`{name}`")))
            .unwrap_or_else(|| {
                panic!("README.md does not list {name}");
            });
        assert!(
            line.contains(kind.as_str()),
            "README line of {name} lacks its kind"
        );
        assert!(
            line.contains(content_type),
            "README line of {name} lacks {content_type}"
        );
        if let Some((width, height)) = size {
            assert!(
                line.contains(&format!("{width} × {height}")),
                "README line of {name} lacks its size"
            );
        }
    }
}
