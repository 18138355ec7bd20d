//! Markup and text: SVG, HTML, XML and plain UTF-8 text.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::sniff::{Detection, ImageFormat};

const SVG_NAMESPACE: &[u8] = b"http://www.w3.org/2000/svg";

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Leading markup that makes the WHATWG MIME Sniffing Standard take bytes for HTML, compared ignoring ASCII case.
const HTML_SIGNATURES: &[&[u8]] = &[
    b"<!DOCTYPE HTML",
    b"<HTML",
    b"<HEAD",
    b"<SCRIPT",
    b"<IFRAME",
    b"<H1",
    b"<DIV",
    b"<FONT",
    b"<TABLE",
    b"<A",
    b"<STYLE",
    b"<TITLE",
    b"<B",
    b"<BODY",
    b"<BR",
    b"<P",
    b"<!--",
];

fn strip_bom(head: &[u8]) -> &[u8] {
    head.strip_prefix(UTF8_BOM).unwrap_or(head)
}

/// Returns the start tag of the document's root element.
///
/// A UTF-8 byte order mark, the XML declaration, processing instructions, comments, a document type declaration and
/// whitespace may come first. Anything else first, malformed markup, or a head that ends inside the root start tag
/// gives `None`. Entities declared in the document type are never expanded or fetched: only the raw start tag is
/// returned.
pub(super) fn root_element(head: &[u8]) -> Option<BytesStart<'_>> {
    let mut reader = Reader::from_reader(strip_bom(head));
    loop {
        match reader.read_event() {
            Ok(Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_)) => continue,
            Ok(Event::Text(text)) if text.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(Event::Start(root) | Event::Empty(root)) => return Some(root),
            _ => return None,
        }
    }
}

/// Tells whether a root element is SVG: local name `svg`, in the SVG namespace or with no namespace declared.
///
/// Hand-written SVG often omits `xmlns`, and such a file is still SVG to its author, so it counts. An `svg` element
/// bound to another namespace does not.
pub(super) fn is_svg_root(root: &BytesStart<'_>) -> bool {
    let name = root.name();
    if name.local_name().as_ref() != b"svg" {
        return false;
    }

    let declaration_key = match name.prefix() {
        Some(prefix) => [b"xmlns:", prefix.as_ref()].concat(),
        None => b"xmlns".to_vec(),
    };
    let mut attributes = root.attributes();
    attributes.with_checks(false);
    let declared = attributes
        .map_while(Result::ok)
        .find(|attribute| attribute.key.as_ref() == declaration_key.as_slice());
    match declared {
        Some(attribute) => attribute.value.as_ref() == SVG_NAMESPACE,
        None => name.prefix().is_none(),
    }
}

/// Recognises SVG, HTML and XML documents.
///
/// Only a head that starts with `<` (after a byte order mark and whitespace) is markup. An SVG root element makes an
/// SVG image, whatever precedes it. Otherwise an XML declaration makes XML; then an `html` root or an HTML
/// signature makes HTML; then any other well-formed root start tag makes XML.
pub(super) fn detect_markup(head: &[u8]) -> Option<Detection> {
    let text = strip_bom(head).trim_ascii_start();
    if !text.starts_with(b"<") {
        return None;
    }

    let root = root_element(text);
    if root.as_ref().is_some_and(is_svg_root) {
        return Some(Detection::image(ImageFormat::Svg, "image/svg+xml"));
    }
    if starts_with_ignore_case(text, b"<?xml") {
        return Some(Detection::document("application/xml"));
    }
    let html_root = root
        .as_ref()
        .is_some_and(|root| root.local_name().as_ref().eq_ignore_ascii_case(b"html"));
    if html_root || has_html_signature(text) {
        return Some(Detection::document("text/html"));
    }
    root.map(|_| Detection::document("application/xml"))
}

fn starts_with_ignore_case(text: &[u8], prefix: &[u8]) -> bool {
    text.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// Tells whether `text` starts with an HTML signature followed by a byte that ends a tag name. The WHATWG standard
/// accepts only a space or `>` there. Other whitespace and `/` are accepted too, and `<!--` needs nothing after it,
/// because taking more bytes for HTML only makes serving them stricter.
fn has_html_signature(text: &[u8]) -> bool {
    HTML_SIGNATURES.iter().any(|signature| {
        if !starts_with_ignore_case(text, signature) {
            return false;
        }
        if *signature == b"<!--" {
            return true;
        }
        matches!(
            text.get(signature.len()),
            Some(b' ' | b'>' | b'/' | b'\t' | b'\n' | b'\r' | b'\x0C')
        )
    })
}

/// Tells whether a byte is a "binary data byte" of the WHATWG MIME Sniffing Standard: a control character that
/// text does not contain.
fn is_binary_byte(byte: u8) -> bool {
    matches!(byte, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F)
}

/// Tells whether the head is UTF-8 text without binary data bytes. When the head is not the whole file, it may end in
/// the middle of a character.
fn is_plain_text(head: &[u8], complete: bool) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(_) => head,
        Err(error) if !complete && error.error_len().is_none() => &head[..error.valid_up_to()],
        Err(_) => return false,
    };
    !text.iter().copied().any(is_binary_byte)
}

/// Recognises plain UTF-8 text. A few text formats that browsers treat as data take their type from the extension:
/// CSV, TSV, Markdown, JSON, and WebVTT (which `<track>` requires). All other text is `text/plain`.
pub(super) fn detect_text(head: &[u8], complete: bool, extension: &str) -> Option<Detection> {
    if !is_plain_text(head, complete) {
        return None;
    }
    let content_type = match extension {
        "csv" => "text/csv; charset=utf-8",
        "tsv" => "text/tab-separated-values; charset=utf-8",
        "md" | "markdown" => "text/markdown; charset=utf-8",
        "json" => "application/json",
        "vtt" => "text/vtt; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };
    Some(Detection::document(content_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_skips_prolog() {
        let document = b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- made by hand -->\n<?xml-stylesheet href=\"a.css\"?>\n\
            <!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n\
            <svg width=\"1\"><g/></svg>";
        let root = root_element(document).expect("root element");
        assert_eq!(root.name().as_ref(), b"svg");
    }

    #[test]
    fn root_after_internal_subset() {
        let document = b"<!DOCTYPE svg [ <!ENTITY w \"10\"> <!ENTITY ext SYSTEM \"file:///etc/passwd\"> ]><svg width=\"&w;\"/>";
        let root = root_element(document).expect("root element");
        assert_eq!(root.name().as_ref(), b"svg");
    }

    #[test]
    fn root_rejects_text_first() {
        assert!(root_element(b"hello <svg/>").is_none());
        assert!(root_element(b"<svg width=\"1").is_none());
        assert!(root_element(b"<!-- never closed").is_none());
    }

    #[test]
    fn svg_root_namespaces() {
        let cases: [(&[u8], bool); 6] = [
            (b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", true),
            (b"<svg/>", true),
            (b"<s:svg xmlns:s=\"http://www.w3.org/2000/svg\"/>", true),
            (b"<s:svg/>", false),
            (b"<svg xmlns=\"urn:other\"/>", false),
            (b"<svgx xmlns=\"http://www.w3.org/2000/svg\"/>", false),
        ];
        for (document, expected) in cases {
            let root = root_element(document).expect("root element");
            assert_eq!(
                is_svg_root(&root),
                expected,
                "{}",
                String::from_utf8_lossy(document)
            );
        }
    }

    #[test]
    fn html_signatures() {
        assert!(has_html_signature(b"<!DOCTYPE html>"));
        assert!(has_html_signature(b"<html lang=\"en\">"));
        assert!(has_html_signature(b"<HTML\n>"));
        assert!(has_html_signature(b"<p>text"));
        assert!(has_html_signature(b"<!--x-->"));
        assert!(has_html_signature(b"<br/>"));
        assert!(!has_html_signature(b"<pre>"));
        assert!(!has_html_signature(b"<abbr>"));
        assert!(!has_html_signature(b"<html"));
    }

    #[test]
    fn plain_text_rules() {
        assert!(is_plain_text(b"hello\tworld\r\n\x0C\x1B", true));
        assert!(is_plain_text("caf\u{e9}".as_bytes(), true));
        assert!(!is_plain_text(b"nul\0byte", true));
        assert!(!is_plain_text(b"\x01\x02", true));
        assert!(!is_plain_text(b"\xFF\xFE", true));
        // The head may end inside a multi-byte character only when the file goes on.
        let cut = &"caf\u{e9}".as_bytes()[..4];
        assert!(is_plain_text(cut, false));
        assert!(!is_plain_text(cut, true));
    }
}
