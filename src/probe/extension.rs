//! Kind and media type from the filename extension, for bytes that sniffing does not recognise.
//!
//! The table lists only types that a browser cannot execute: HTML, XHTML, XML, SVG, JavaScript, CSS and Flash are
//! absent on purpose, so a name alone can never make the file route serve active content.

use super::sniff::Detection;
use super::Kind;

/// Extension (lower case, without the dot), kind and media type.
const SAFE_TYPES: &[(&str, Kind, &str)] = &[
    // Images
    ("jpg", Kind::Image, "image/jpeg"),
    ("jpeg", Kind::Image, "image/jpeg"),
    ("jpe", Kind::Image, "image/jpeg"),
    ("jfif", Kind::Image, "image/jpeg"),
    ("png", Kind::Image, "image/png"),
    ("apng", Kind::Image, "image/apng"),
    ("gif", Kind::Image, "image/gif"),
    ("webp", Kind::Image, "image/webp"),
    ("avif", Kind::Image, "image/avif"),
    ("heic", Kind::Image, "image/heic"),
    ("heif", Kind::Image, "image/heif"),
    ("bmp", Kind::Image, "image/bmp"),
    ("ico", Kind::Image, "image/vnd.microsoft.icon"),
    ("tif", Kind::Image, "image/tiff"),
    ("tiff", Kind::Image, "image/tiff"),
    ("psd", Kind::Image, "image/vnd.adobe.photoshop"),
    ("jxl", Kind::Image, "image/jxl"),
    ("jp2", Kind::Image, "image/jp2"),
    // Audio
    ("mp3", Kind::Audio, "audio/mpeg"),
    ("wav", Kind::Audio, "audio/wav"),
    ("ogg", Kind::Audio, "audio/ogg"),
    ("oga", Kind::Audio, "audio/ogg"),
    ("opus", Kind::Audio, "audio/ogg"),
    ("flac", Kind::Audio, "audio/flac"),
    ("m4a", Kind::Audio, "audio/mp4"),
    ("aac", Kind::Audio, "audio/aac"),
    ("aif", Kind::Audio, "audio/aiff"),
    ("aiff", Kind::Audio, "audio/aiff"),
    ("mid", Kind::Audio, "audio/midi"),
    ("midi", Kind::Audio, "audio/midi"),
    ("weba", Kind::Audio, "audio/webm"),
    ("mka", Kind::Audio, "audio/x-matroska"),
    ("amr", Kind::Audio, "audio/amr"),
    ("wma", Kind::Audio, "audio/x-ms-wma"),
    ("caf", Kind::Audio, "audio/x-caf"),
    // Video
    ("mp4", Kind::Video, "video/mp4"),
    ("m4v", Kind::Video, "video/mp4"),
    ("mov", Kind::Video, "video/quicktime"),
    ("webm", Kind::Video, "video/webm"),
    ("mkv", Kind::Video, "video/x-matroska"),
    ("avi", Kind::Video, "video/x-msvideo"),
    ("ogv", Kind::Video, "video/ogg"),
    ("mpg", Kind::Video, "video/mpeg"),
    ("mpeg", Kind::Video, "video/mpeg"),
    ("m2ts", Kind::Video, "video/mp2t"),
    ("3gp", Kind::Video, "video/3gpp"),
    ("3g2", Kind::Video, "video/3gpp2"),
    ("wmv", Kind::Video, "video/x-ms-wmv"),
    ("flv", Kind::Video, "video/x-flv"),
    // Documents
    ("pdf", Kind::Document, "application/pdf"),
    ("txt", Kind::Document, "text/plain"),
    ("csv", Kind::Document, "text/csv"),
    ("tsv", Kind::Document, "text/tab-separated-values"),
    ("md", Kind::Document, "text/markdown"),
    ("json", Kind::Document, "application/json"),
    ("vtt", Kind::Document, "text/vtt"),
    ("rtf", Kind::Document, "application/rtf"),
    ("zip", Kind::Document, "application/zip"),
    ("gz", Kind::Document, "application/gzip"),
    ("tar", Kind::Document, "application/x-tar"),
    ("7z", Kind::Document, "application/x-7z-compressed"),
    ("rar", Kind::Document, "application/vnd.rar"),
    ("doc", Kind::Document, "application/msword"),
    (
        "docx",
        Kind::Document,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xls", Kind::Document, "application/vnd.ms-excel"),
    (
        "xlsx",
        Kind::Document,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("ppt", Kind::Document, "application/vnd.ms-powerpoint"),
    (
        "pptx",
        Kind::Document,
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    (
        "odt",
        Kind::Document,
        "application/vnd.oasis.opendocument.text",
    ),
    (
        "ods",
        Kind::Document,
        "application/vnd.oasis.opendocument.spreadsheet",
    ),
    (
        "odp",
        Kind::Document,
        "application/vnd.oasis.opendocument.presentation",
    ),
    ("epub", Kind::Document, "application/epub+zip"),
    ("woff", Kind::Document, "font/woff"),
    ("woff2", Kind::Document, "font/woff2"),
    ("ttf", Kind::Document, "font/ttf"),
    ("otf", Kind::Document, "font/otf"),
];

/// Returns the kind and media type that `extension` (lower case, without the dot) stands for, when that type is
/// safe to serve to a browser.
pub(super) fn lookup(extension: &str) -> Option<Detection> {
    SAFE_TYPES
        .iter()
        .find(|(listed, _, _)| *listed == extension)
        .map(|&(_, kind, content_type)| Detection::new(kind, content_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_no_active_types() {
        for &(extension, _, content_type) in SAFE_TYPES {
            assert!(
                !crate::probe::is_script_capable(content_type),
                "{extension} maps to the script-capable type {content_type}"
            );
        }
    }

    #[test]
    fn active_extensions_are_absent() {
        for extension in [
            "html", "htm", "xhtml", "xml", "svg", "svgz", "js", "mjs", "css", "xsl", "swf", "",
        ] {
            assert_eq!(
                lookup(extension),
                None,
                "{extension:?} must not give a type"
            );
        }
    }

    #[test]
    fn lookup_finds_kind() {
        assert_eq!(
            lookup("m4a"),
            Some(Detection::new(Kind::Audio, "audio/mp4"))
        );
        assert_eq!(lookup("heic").map(|found| found.kind), Some(Kind::Image));
        assert_eq!(lookup("mkv").map(|found| found.kind), Some(Kind::Video));
        assert_eq!(lookup("JPG"), None);
    }
}
