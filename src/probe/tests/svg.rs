use super::{assert_probe, probe_file};
use crate::probe::{probe, Kind, HEAD_LEN};

const SVG_TYPE: &str = "image/svg+xml";

fn svg(attributes: &str) -> Vec<u8> {
    format!("<svg xmlns=\"http://www.w3.org/2000/svg\" {attributes}><rect width=\"1\" height=\"1\"/></svg>").into_bytes()
}

#[test]
fn absolute_units() {
    let cases = [
        ("width=\"50mm\" height=\"25mm\"", (189, 94)),
        ("width=\"1in\" height=\"2cm\"", (96, 76)),
        ("width=\"72pt\" height=\"6pc\"", (96, 96)),
        ("width=\"100\" height=\"50\"", (100, 50)),
        ("width=\"100.4px\" height=\"99.5\"", (100, 100)),
        ("width=\" 12.5e1 \" height=\"4Q\"", (125, 4)),
        ("width=\"10PX\" height=\"1IN\"", (10, 96)),
    ];
    for (attributes, size) in cases {
        assert_probe(
            attributes,
            &svg(attributes),
            "svg",
            Kind::Image,
            SVG_TYPE,
            Some(size),
        );
    }
}

#[test]
fn view_box_fallback() {
    let cases = [
        ("viewBox=\"0 0 300 150\"", (300, 150)),
        ("viewBox=\"-5,-5,120.6,60.4\"", (121, 60)),
        (
            "width=\"100%\" height=\"100%\" viewBox=\"0 0 640 480\"",
            (640, 480),
        ),
        (
            "width=\"2em\" height=\"3ex\" viewBox=\"0 0 20 30\"",
            (20, 30),
        ),
        ("width=\"auto\" viewBox=\"0 0 20 30\"", (20, 30)),
        (
            "width=\"bogus\" height=\"-4\" viewBox=\"0 0 20 30\"",
            (20, 30),
        ),
    ];
    for (attributes, size) in cases {
        assert_probe(
            attributes,
            &svg(attributes),
            "svg",
            Kind::Image,
            SVG_TYPE,
            Some(size),
        );
    }
}

#[test]
fn one_absolute_length_keeps_view_box_ratio() {
    let cases = [
        ("width=\"200\" viewBox=\"0 0 100 50\"", (200, 100)),
        (
            "width=\"200\" height=\"50%\" viewBox=\"0 0 100 50\"",
            (200, 100),
        ),
        ("height=\"30mm\" viewBox=\"0 0 4 3\"", (151, 113)),
        ("height=\"30\" width=\"1em\" viewBox=\"0 0 1 3\"", (10, 30)),
    ];
    for (attributes, size) in cases {
        assert_probe(
            attributes,
            &svg(attributes),
            "svg",
            Kind::Image,
            SVG_TYPE,
            Some(size),
        );
    }
}

#[test]
fn size_unknown_without_view_box() {
    for attributes in [
        "",
        "width=\"200\"",
        "height=\"10mm\"",
        "width=\"100%\" height=\"100%\"",
        "viewBox=\"0 0 0 10\"",
        "viewBox=\"0 0 10\"",
    ] {
        assert_probe(
            attributes,
            &svg(attributes),
            "svg",
            Kind::Image,
            SVG_TYPE,
            None,
        );
    }
}

#[test]
fn zero_size_unknown() {
    for attributes in [
        "width=\"0\" height=\"10\"",
        "width=\"0\" viewBox=\"0 0 10 10\"",
        "width=\"0.4\" height=\"10\"",
        "viewBox=\"0 0 0.2 10\"",
    ] {
        assert_probe(
            attributes,
            &svg(attributes),
            "svg",
            Kind::Image,
            SVG_TYPE,
            None,
        );
    }
}

#[test]
fn oversized_length_unknown() {
    let attributes = "width=\"1e12\" height=\"10\"";
    assert_probe(
        attributes,
        &svg(attributes),
        "svg",
        Kind::Image,
        SVG_TYPE,
        None,
    );
}

#[test]
fn prolog_before_root() {
    let document = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n\
        <!-- Generator: a vector editor -->\n\
        <!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n\
        <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"64px\" height=\"32px\"></svg>\n";
    assert_probe(
        "prolog",
        document.as_bytes(),
        "svg",
        Kind::Image,
        SVG_TYPE,
        Some((64, 32)),
    );
}

#[test]
fn namespace_prefix() {
    let document = b"<svg:svg xmlns:svg=\"http://www.w3.org/2000/svg\" width=\"8\" height=\"4\"><svg:g/></svg:svg>";
    assert_probe(
        "prefixed",
        document,
        "svg",
        Kind::Image,
        SVG_TYPE,
        Some((8, 4)),
    );
}

#[test]
fn missing_namespace_still_svg() {
    assert_probe(
        "no xmlns",
        b"<svg width=\"8\" height=\"4\"/>",
        "svg",
        Kind::Image,
        SVG_TYPE,
        Some((8, 4)),
    );
}

#[test]
fn svg_named_otherwise() {
    assert_probe(
        "svg named png",
        &svg("width=\"8\" height=\"4\""),
        "png",
        Kind::Image,
        SVG_TYPE,
        Some((8, 4)),
    );
    assert_probe(
        "svg unnamed",
        &svg("width=\"8\" height=\"4\""),
        "",
        Kind::Image,
        SVG_TYPE,
        Some((8, 4)),
    );
}

#[test]
fn entities_are_not_expanded() {
    let document = b"<!DOCTYPE svg [<!ENTITY w \"500\"><!ENTITY ext SYSTEM \"file:///etc/passwd\">]>\
        <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"&w;\" height=\"&ext;\" viewBox=\"0 0 8 4\"/>";
    assert_probe(
        "entities",
        document,
        "svg",
        Kind::Image,
        SVG_TYPE,
        Some((8, 4)),
    );
}

#[test]
fn predefined_entities_in_values() {
    // `&#49;&#48;` is "10"; character references are part of XML itself.
    let document = b"<svg width=\"&#49;&#48;\" height=\"5\"/>";
    assert_probe(
        "character references",
        document,
        "svg",
        Kind::Image,
        SVG_TYPE,
        Some((10, 5)),
    );
}

#[test]
fn root_only_in_head_of_large_file() {
    let mut document = svg("width=\"30\" height=\"20\"");
    document.truncate(document.len() - "</svg>".len());
    document.extend_from_slice(b"<path d=\"");
    while document.len() < HEAD_LEN + 4096 {
        document.extend_from_slice(b"M0 0L10 10 ");
    }
    document.extend_from_slice(b"\"/></svg>");
    assert!(document.len() > HEAD_LEN);
    assert_probe(
        "large svg",
        &document,
        "svg",
        Kind::Image,
        SVG_TYPE,
        Some((30, 20)),
    );
}

#[test]
fn root_cut_off_by_head() {
    let document = svg("width=\"30\" height=\"20\"");
    let cut = &document[..20];
    let found = probe(cut, false, "svg");
    assert_eq!(found.kind, Kind::Document);
    assert_eq!(found.content_type, "text/plain; charset=utf-8");
    assert_eq!(found.width, None);
}

#[test]
fn comment_longer_than_head() {
    let mut document = b"<!--".to_vec();
    document.resize(HEAD_LEN + 10, b'x');
    document.extend_from_slice(b"--><svg width=\"3\" height=\"3\"/>");
    let found = probe_file(&document, "svg");
    assert_eq!(found.kind, Kind::Document);
    assert_eq!(found.content_type, "text/html");
    assert_eq!(found.width, None);
}
