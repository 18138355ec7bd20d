//! Delivery rules that follow from a stored media type: which types need a sandbox and which download.

/// JavaScript MIME type essences, as listed by the WHATWG MIME Sniffing Standard.
const JAVASCRIPT_TYPES: &[&str] = &[
    "application/ecmascript",
    "application/javascript",
    "application/x-ecmascript",
    "application/x-javascript",
    "text/ecmascript",
    "text/javascript",
    "text/javascript1.0",
    "text/javascript1.1",
    "text/javascript1.2",
    "text/javascript1.3",
    "text/javascript1.4",
    "text/javascript1.5",
    "text/jscript",
    "text/livescript",
    "text/x-ecmascript",
    "text/x-javascript",
];

/// Types other than JavaScript and XML in which a browser may run scripts or active content.
const ACTIVE_TYPES: &[&str] = &[
    "text/html",
    "application/xml",
    "text/xml",
    "text/xsl",
    "application/x-shockwave-flash",
];

/// Returns the lower-case `type/subtype` of a media type, or `None` when it does not parse.
fn essence(content_type: &str) -> Option<String> {
    let parsed: mime::Mime = content_type.trim().parse().ok()?;
    Some(parsed.essence_str().to_ascii_lowercase())
}

/// Tells whether a browser might run scripts in a document of this media type (HTML, XHTML, XML, SVG, JavaScript,
/// Flash), so that serving it needs a `Content-Security-Policy` sandbox. A value that does not parse as a media type
/// counts as script-capable.
pub fn is_script_capable(content_type: &str) -> bool {
    let Some(essence) = essence(content_type) else {
        return true;
    };

    // Every `+xml` type (SVG, XHTML, RSS, MathML...) is XML, and XML may contain XHTML elements with scripts.
    essence.ends_with("+xml")
        || ACTIVE_TYPES.contains(&essence.as_str())
        || JAVASCRIPT_TYPES.contains(&essence.as_str())
}

/// Tells whether a file of this media type is served with `Content-Disposition: attachment` rather than `inline`:
/// HTML, XML and other script-capable types except SVG, and `application/octet-stream` (unknown bytes). Images
/// (SVG included), audio, video, PDF and plain text are inline.
pub fn disposition_is_attachment(content_type: &str) -> bool {
    let Some(essence) = essence(content_type) else {
        return true;
    };

    if essence == "image/svg+xml" {
        return false;
    }
    essence == super::UNKNOWN_CONTENT_TYPE || is_script_capable(&essence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_capable_types() {
        for content_type in [
            "text/html",
            "text/html; charset=utf-8",
            "TEXT/HTML",
            "application/xhtml+xml",
            "application/xml",
            "text/xml",
            "image/svg+xml",
            "application/rss+xml",
            "text/javascript",
            "application/javascript",
            "text/xsl",
            "application/x-shockwave-flash",
            "not a media type",
        ] {
            assert!(
                is_script_capable(content_type),
                "{content_type} should be script-capable"
            );
        }
    }

    #[test]
    fn passive_types() {
        for content_type in [
            "image/png",
            "image/jpeg",
            "audio/mpeg",
            "video/mp4",
            "application/pdf",
            "text/plain; charset=utf-8",
            "text/csv",
            "application/json",
            "application/octet-stream",
            "application/zip",
        ] {
            assert!(
                !is_script_capable(content_type),
                "{content_type} should not be script-capable"
            );
        }
    }

    #[test]
    fn attachment_types() {
        for content_type in [
            "text/html",
            "application/xhtml+xml",
            "application/xml",
            "text/xml; charset=utf-8",
            "application/atom+xml",
            "application/octet-stream",
            "text/javascript",
            "",
        ] {
            assert!(
                disposition_is_attachment(content_type),
                "{content_type:?} should be an attachment"
            );
        }
    }

    #[test]
    fn inline_types() {
        for content_type in [
            "image/svg+xml",
            "image/png",
            "image/gif",
            "audio/ogg",
            "video/webm",
            "application/pdf",
            "text/plain; charset=utf-8",
            "application/zip",
        ] {
            assert!(
                !disposition_is_attachment(content_type),
                "{content_type} should be inline"
            );
        }
    }
}
