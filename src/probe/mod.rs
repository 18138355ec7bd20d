//! Detection of an upload's kind, media type and display dimensions from its first bytes.
//!
//! The bytes decide first: `sniff` recognises containers, images, audio, video, markup and text by their
//! signatures. Only when the bytes are not recognised does the filename extension choose the media type, and then only
//! among types that a browser cannot execute (`extension`). Dimensions are read for images only (`raster` and
//! `svg`).
//!
//! Every parser here works on the in-memory head and checks each length field against the bytes present before
//! following it. Allocations are bounded by the head's length, so a malformed or truncated upload cannot make the
//! probe panic, hang, or use memory in proportion to a length field.

mod bytes;
mod content_type;
mod ebml;
mod exif;
mod extension;
mod isobmff;
mod markup;
mod ogg;
mod raster;
mod sniff;
mod svg;

#[cfg(test)]
pub(crate) mod tests;

pub use content_type::{disposition_is_attachment, is_script_capable};

use sniff::{Detection, ImageFormat};

/// Number of leading bytes of an upload that the probe reads.
pub const HEAD_LEN: usize = 1024 * 1024;

/// Media type of bytes that nothing identifies.
pub const UNKNOWN_CONTENT_TYPE: &str = "application/octet-stream";

/// Media class of an asset, as the Asset API reports it in `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Audio,
    Video,
    Document,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Audio => "audio",
            Kind::Video => "video",
            Kind::Document => "document",
        }
    }
}

/// Result of probing an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub kind: Kind,
    /// Media type to serve the bytes with.
    pub content_type: String,
    /// Display width in pixels after EXIF orientation, for images only. `None` when unknown.
    pub width: Option<u32>,
    /// Display height in pixels after EXIF orientation, for images only. `None` when unknown.
    pub height: Option<u32>,
}

/// Inspects the first bytes of an upload.
///
/// `head` contains the first `min(size, HEAD_LEN)` bytes, `complete` is true when it is the whole file, and
/// `extension` is the lower-case extension of the filename without the dot ("" when there is none).
pub fn probe(head: &[u8], complete: bool, extension: &str) -> Probe {
    if head.is_empty() {
        // An empty file is a document whatever its name, but a harmless type from the extension still helps the
        // browser (an empty `.txt` opens as text).
        let content_type =
            extension::lookup(extension).map_or(UNKNOWN_CONTENT_TYPE, |found| found.content_type);
        return Probe {
            kind: Kind::Document,
            content_type: content_type.to_owned(),
            width: None,
            height: None,
        };
    }

    let detection = sniff::detect(head, complete, extension)
        .or_else(|| extension::lookup(extension))
        .unwrap_or(Detection::document(UNKNOWN_CONTENT_TYPE));

    let size = match detection.image {
        Some(ImageFormat::Svg) => svg::display_size(head),
        Some(format) => raster::display_size(format, head, complete),
        None => None,
    };

    Probe {
        kind: detection.kind,
        content_type: detection.content_type.to_owned(),
        width: size.map(|(width, _)| width),
        height: size.map(|(_, height)| height),
    }
}
