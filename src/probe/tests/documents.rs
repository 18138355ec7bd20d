use super::build::*;
use super::{assert_probe, probe_file};
use crate::probe::{disposition_is_attachment, is_script_capable, probe, Kind};

#[test]
fn empty_file_is_document() {
    let found = probe(&[], true, "");
    assert_eq!(found.kind, Kind::Document);
    assert_eq!(found.content_type, "application/octet-stream");
    assert_eq!(found.width, None);
    assert_eq!(found.height, None);
}

#[test]
fn empty_file_type_from_extension() {
    let text = probe(&[], true, "txt");
    assert_eq!(text.kind, Kind::Document);
    assert_eq!(text.content_type, "text/plain");
    let image = probe(&[], true, "png");
    assert_eq!(image.kind, Kind::Document);
    assert_eq!(image.content_type, "image/png");
    let html = probe(&[], true, "html");
    assert_eq!(html.content_type, "application/octet-stream");
}

#[test]
fn pdf_document() {
    let file = pdf();
    assert_probe("pdf", &file, "pdf", Kind::Document, "application/pdf", None);
    assert_probe(
        "pdf without extension",
        &file,
        "",
        Kind::Document,
        "application/pdf",
        None,
    );
}

#[test]
fn zip_document() {
    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00a.txt";
    assert_probe("zip", zip, "zip", Kind::Document, "application/zip", None);
}

#[test]
fn plain_text() {
    let text = "Caf\u{e9} notes\nline two\r\n\ttabbed".as_bytes();
    assert_probe(
        "txt",
        text,
        "txt",
        Kind::Document,
        "text/plain; charset=utf-8",
        None,
    );
    assert_probe(
        "text without extension",
        text,
        "",
        Kind::Document,
        "text/plain; charset=utf-8",
        None,
    );
    assert_probe(
        "bom text",
        b"\xEF\xBB\xBFhello",
        "txt",
        Kind::Document,
        "text/plain; charset=utf-8",
        None,
    );
}

#[test]
fn text_formats_from_extension() {
    assert_probe(
        "csv",
        b"a,b\n1,2\n",
        "csv",
        Kind::Document,
        "text/csv; charset=utf-8",
        None,
    );
    assert_probe(
        "json",
        b"{\"a\": 1}",
        "json",
        Kind::Document,
        "application/json",
        None,
    );
    assert_probe(
        "vtt",
        b"WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n",
        "vtt",
        Kind::Document,
        "text/vtt; charset=utf-8",
        None,
    );
    assert_probe(
        "markdown",
        b"# Title\n",
        "md",
        Kind::Document,
        "text/markdown; charset=utf-8",
        None,
    );
}

#[test]
fn script_text_stays_plain() {
    // JavaScript and CSS are text, never their executable types.
    let script = b"alert(document.cookie);\n";
    assert_probe(
        "js",
        script,
        "js",
        Kind::Document,
        "text/plain; charset=utf-8",
        None,
    );
    assert_probe(
        "css",
        b"body { color: red }",
        "css",
        Kind::Document,
        "text/plain; charset=utf-8",
        None,
    );
    assert_probe(
        "shebang",
        b"#!/bin/sh\necho hi\n",
        "sh",
        Kind::Document,
        "text/plain; charset=utf-8",
        None,
    );
}

#[test]
fn html_documents() {
    let cases: [&[u8]; 8] = [
        b"<!DOCTYPE html><html><body>hi</body></html>",
        b"<!doctype HTML>\n<title>x</title>",
        b"  \n<html lang=\"en\">",
        b"\xEF\xBB\xBF<html>",
        b"<p>paragraph",
        b"<script>alert(1)</script>",
        b"<!-- comment --><div>",
        b"<HTML\n  lang=\"en\"><body>",
    ];
    for (index, document) in cases.iter().enumerate() {
        assert_probe(
            &format!("html case {index}"),
            document,
            "txt",
            Kind::Document,
            "text/html",
            None,
        );
    }
}

#[test]
fn html_named_as_image_is_html() {
    let file = b"<!DOCTYPE html><html><img src=x onerror=alert(1)></html>";
    assert_probe(
        "html named jpg",
        file,
        "jpg",
        Kind::Document,
        "text/html",
        None,
    );
    assert_probe(
        "html named svg",
        file,
        "svg",
        Kind::Document,
        "text/html",
        None,
    );
}

#[test]
fn html_with_inline_svg_is_html() {
    let file = b"<!DOCTYPE html><html><body><svg width=\"10\" height=\"10\"></svg></body></html>";
    assert_probe(
        "inline svg",
        file,
        "html",
        Kind::Document,
        "text/html",
        None,
    );
}

#[test]
fn xml_documents() {
    let declared = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<note><to>x</to></note>";
    assert_probe(
        "declared xml",
        declared,
        "xml",
        Kind::Document,
        "application/xml",
        None,
    );
    let rss = b"<rss version=\"2.0\"><channel/></rss>";
    assert_probe("rss", rss, "xml", Kind::Document, "application/xml", None);
    let xhtml = b"<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"><script>1</script></html>";
    assert_probe(
        "xhtml",
        xhtml,
        "xhtml",
        Kind::Document,
        "application/xml",
        None,
    );
    let foreign_svg = b"<svg xmlns=\"urn:example:not-svg\" width=\"10\" height=\"10\"/>";
    assert_probe(
        "svg in another namespace",
        foreign_svg,
        "svg",
        Kind::Document,
        "application/xml",
        None,
    );
}

#[test]
fn detected_markup_types_are_sandboxed() {
    for (document, extension) in [
        (&b"<html>"[..], "html"),
        (b"<?xml version=\"1.0\"?><a/>", "xml"),
        (b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", "svg"),
    ] {
        let found = probe_file(document, extension);
        assert!(
            is_script_capable(&found.content_type),
            "{} should be sandboxed",
            found.content_type
        );
    }
    let svg = probe_file(b"<svg/>", "svg");
    assert!(!disposition_is_attachment(&svg.content_type));
    let html = probe_file(b"<html>", "html");
    assert!(disposition_is_attachment(&html.content_type));
}

#[test]
fn unknown_binary() {
    let binary = [0x00, 0x01, 0x02, 0x03, 0xFE, 0xFD, 0xFC, 0x00, 0x10];
    assert_probe(
        "bin",
        &binary,
        "bin",
        Kind::Document,
        "application/octet-stream",
        None,
    );
    assert_probe(
        "no extension",
        &binary,
        "",
        Kind::Document,
        "application/octet-stream",
        None,
    );
}

#[test]
fn active_extension_never_sets_type() {
    let binary = [0x00, 0x01, 0x02, 0x03, 0xFE, 0xFD, 0xFC, 0x00, 0x10];
    for extension in [
        "html", "htm", "svg", "xml", "xhtml", "js", "mjs", "css", "swf",
    ] {
        assert_probe(
            extension,
            &binary,
            extension,
            Kind::Document,
            "application/octet-stream",
            None,
        );
    }
}

#[test]
fn binary_extension_for_unknown_bytes() {
    let binary = [0x00, 0x01, 0x02, 0x03, 0xFE, 0xFD, 0xFC, 0x00, 0x10];
    assert_probe(
        "docx",
        &binary,
        "docx",
        Kind::Document,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        None,
    );
    assert_probe(
        "pdf name",
        &binary,
        "pdf",
        Kind::Document,
        "application/pdf",
        None,
    );
    assert_probe(
        "txt name",
        &binary,
        "txt",
        Kind::Document,
        "text/plain",
        None,
    );
}

#[test]
fn latin1_text_is_not_utf8() {
    let latin1 = b"caf\xE9 cr\xE8me";
    assert_probe(
        "latin-1 txt",
        latin1,
        "txt",
        Kind::Document,
        "text/plain",
        None,
    );
    assert_probe(
        "latin-1 unnamed",
        latin1,
        "",
        Kind::Document,
        "application/octet-stream",
        None,
    );
}

#[test]
fn wav_bytes_named_txt() {
    assert_probe(
        "wav named txt",
        &wav(8),
        "txt",
        Kind::Audio,
        "audio/wav",
        None,
    );
}

#[test]
fn compound_file_type_from_extension() {
    let mut ole2 = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    ole2.resize(1536, 0);
    assert_probe(
        "doc",
        &ole2,
        "doc",
        Kind::Document,
        "application/msword",
        None,
    );
    assert_probe(
        "xls",
        &ole2,
        "xls",
        Kind::Document,
        "application/vnd.ms-excel",
        None,
    );
    assert_probe(
        "unnamed",
        &ole2,
        "",
        Kind::Document,
        "application/x-ole-storage",
        None,
    );
    assert_probe(
        "named html",
        &ole2,
        "html",
        Kind::Document,
        "application/x-ole-storage",
        None,
    );
}

#[test]
fn text_beats_short_ascii_signatures() {
    for text in [
        &b"MAC addresses of the office printers"[..],
        b"DSD notes",
        b"ID3 tags to fix",
        b"OTTO was here",
    ] {
        let found = probe_file(text, "txt");
        assert_eq!(
            found.kind,
            Kind::Document,
            "{}",
            String::from_utf8_lossy(text)
        );
        assert_eq!(
            found.content_type,
            "text/plain; charset=utf-8",
            "{}",
            String::from_utf8_lossy(text)
        );
    }
}

#[test]
fn text_with_sync_bytes_is_not_transport_stream() {
    let mut text = vec![b'a'; 400];
    text[0] = b'G';
    text[188] = b'G';
    text[376] = b'G';
    assert_probe(
        "text with G",
        &text,
        "txt",
        Kind::Document,
        "text/plain; charset=utf-8",
        None,
    );
}
