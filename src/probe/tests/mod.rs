//! Tests of `probe` as the upload handler calls it, on files built in code.

pub(crate) mod build;
mod documents;
mod fixture_files;
mod images;
mod media;
mod robustness;
mod svg;

use super::{probe, Kind, Probe, HEAD_LEN};

/// Probes a whole file the way the upload handler does: the first `HEAD_LEN` bytes, complete when that is all.
fn probe_file(bytes: &[u8], extension: &str) -> Probe {
    let head = &bytes[..bytes.len().min(HEAD_LEN)];
    probe(head, bytes.len() <= HEAD_LEN, extension)
}

/// Checks the kind, media type and size found for a whole file. `name` identifies the case in failure messages.
#[track_caller]
fn assert_probe(
    name: &str,
    bytes: &[u8],
    extension: &str,
    kind: Kind,
    content_type: &str,
    size: Option<(u32, u32)>,
) {
    let found = probe_file(bytes, extension);
    assert_eq!(found.kind, kind, "{name}: kind");
    assert_eq!(found.content_type, content_type, "{name}: content type");
    assert_eq!(found.width, size.map(|(width, _)| width), "{name}: width");
    assert_eq!(
        found.height,
        size.map(|(_, height)| height),
        "{name}: height"
    );
}
