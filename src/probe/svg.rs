//! Display size of an SVG image from the root element's `width`, `height` and `viewBox` attributes.

use super::markup::root_element;

/// CSS pixels per inch: CSS fixes 1in = 96px, so absolute units convert at 96 dpi.
const PIXELS_PER_INCH: f64 = 96.0;

/// Returns the width and height of an SVG image in CSS pixels, rounded to the nearest integer.
///
/// `width` and `height` count when they are absolute lengths: a number alone or in `px`, `in`, `cm`, `mm`, `Q`,
/// `pt` or `pc`. A missing, relative (`%`, `em`, `ex`, ...), invalid or negative value counts as absent, and then:
/// - both absent: the `viewBox` width and height;
/// - one absent: derived from the present one and the `viewBox` aspect ratio, as a browser sizes such an image;
/// - no usable `viewBox` either: `None`, since the image has no intrinsic size or aspect ratio to report.
///
/// A size that rounds to zero or does not fit in `u32` is unknown (`None`).
pub(super) fn display_size(head: &[u8]) -> Option<(u32, u32)> {
    let root = root_element(head)?;

    let mut width = None;
    let mut height = None;
    let mut view_box = None;
    let mut attributes = root.attributes();
    attributes.with_checks(false);
    for attribute in attributes.map_while(Result::ok) {
        // A value with an unknown entity (or any other escaping error) counts as absent.
        let Ok(value) = attribute.unescape_value() else {
            continue;
        };
        match attribute.key.as_ref() {
            b"width" => width = absolute_length(&value),
            b"height" => height = absolute_length(&value),
            b"viewBox" => view_box = parse_view_box(&value),
            _ => {}
        }
    }

    let (width, height) = match (width, height, view_box) {
        (Some(width), Some(height), _) => (width, height),
        (Some(width), None, Some((box_width, box_height))) => {
            (width, width * box_height / box_width)
        }
        (None, Some(height), Some((box_width, box_height))) => {
            (height * box_width / box_height, height)
        }
        (None, None, Some(view_box)) => view_box,
        _ => return None,
    };
    Some((round_pixels(width)?, round_pixels(height)?))
}

fn round_pixels(value: f64) -> Option<u32> {
    let rounded = value.round();
    (rounded >= 1.0 && rounded <= f64::from(u32::MAX)).then_some(rounded as u32)
}

/// Splits a leading CSS number off `text` and returns it with the rest. An `e` counts as an exponent only when a
/// digit follows it (with an optional sign), so `2em` and `3ex` keep their units.
fn split_number(text: &str) -> Option<(f64, &str)> {
    let bytes = text.as_bytes();
    let mut end = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        end += 1;
    }
    let digits_start = end;
    while bytes.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
    }
    if bytes.get(end) == Some(&b'.') {
        end += 1;
        while bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
    }
    if !bytes[digits_start..end].iter().any(u8::is_ascii_digit) {
        return None;
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let mut exponent_end = end + 1;
        if matches!(bytes.get(exponent_end), Some(b'+' | b'-')) {
            exponent_end += 1;
        }
        if bytes.get(exponent_end).is_some_and(u8::is_ascii_digit) {
            while bytes.get(exponent_end).is_some_and(u8::is_ascii_digit) {
                exponent_end += 1;
            }
            end = exponent_end;
        }
    }
    let number = text[..end].parse().ok()?;
    Some((number, &text[end..]))
}

/// Returns an absolute length in CSS pixels, or `None` for a relative, invalid, non-finite or negative length. Zero
/// stays: the image then has no visible size, which `round_pixels` turns into an unknown size.
fn absolute_length(value: &str) -> Option<f64> {
    let (number, unit) = split_number(value.trim_ascii())?;
    let pixels_per_unit = match unit.to_ascii_lowercase().as_str() {
        "" | "px" => 1.0,
        "in" => PIXELS_PER_INCH,
        "cm" => PIXELS_PER_INCH / 2.54,
        "mm" => PIXELS_PER_INCH / 25.4,
        "q" => PIXELS_PER_INCH / 101.6,
        "pt" => PIXELS_PER_INCH / 72.0,
        "pc" => PIXELS_PER_INCH / 6.0,
        _ => return None,
    };
    let pixels = number * pixels_per_unit;
    (pixels.is_finite() && pixels >= 0.0).then_some(pixels)
}

/// Returns the width and height of a `viewBox` ("min-x min-y width height", separated by whitespace and/or commas)
/// when both are positive.
fn parse_view_box(value: &str) -> Option<(f64, f64)> {
    let mut numbers = value
        .split(|c: char| c.is_ascii_whitespace() || c == ',')
        .filter(|part| !part.is_empty())
        .map(|part| {
            split_number(part)
                .filter(|(_, rest)| rest.is_empty())
                .map(|(number, _)| number)
        });
    let _min_x = numbers.next()??;
    let _min_y = numbers.next()??;
    let width = numbers.next()??;
    let height = numbers.next()??;
    if numbers.next().is_some() {
        return None;
    }
    let positive = |number: f64| number.is_finite() && number > 0.0;
    (positive(width) && positive(height)).then_some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_em_and_ex() {
        assert_eq!(split_number("2em"), Some((2.0, "em")));
        assert_eq!(split_number("3ex"), Some((3.0, "ex")));
        assert_eq!(split_number("1e2px"), Some((100.0, "px")));
        assert_eq!(split_number("1.5E-1"), Some((0.15, "")));
        assert_eq!(split_number("-.5mm"), Some((-0.5, "mm")));
        assert_eq!(split_number("7."), Some((7.0, "")));
        assert_eq!(split_number("."), None);
        assert_eq!(split_number("px"), None);
        assert_eq!(split_number("inf"), None);
        assert_eq!(split_number("+"), None);
    }

    #[test]
    fn absolute_units() {
        let cases = [
            ("0", 0.0),
            ("10", 10.0),
            (" 10px ", 10.0),
            ("1in", 96.0),
            ("2.54cm", 96.0),
            ("25.4mm", 96.0),
            ("101.6Q", 96.0),
            ("72pt", 96.0),
            ("6pc", 96.0),
            ("10PX", 10.0),
        ];
        for (value, expected) in cases {
            let pixels =
                absolute_length(value).unwrap_or_else(|| panic!("{value} should be absolute"));
            assert!(
                (pixels - expected).abs() < 1e-9,
                "{value} gave {pixels}, expected {expected}"
            );
        }
    }

    #[test]
    fn relative_and_invalid_lengths() {
        for value in [
            "100%", "2em", "3ex", "1rem", "10vw", "auto", "", "-5", "10 px", "1e999", "abc",
        ] {
            assert_eq!(
                absolute_length(value),
                None,
                "{value:?} should not be absolute"
            );
        }
    }

    #[test]
    fn view_box_forms() {
        assert_eq!(parse_view_box("0 0 100 50"), Some((100.0, 50.0)));
        assert_eq!(parse_view_box(" -10,-10 , 20.5\t30 "), Some((20.5, 30.0)));
        assert_eq!(parse_view_box("0 0 100"), None);
        assert_eq!(parse_view_box("0 0 100 50 1"), None);
        assert_eq!(parse_view_box("0 0 0 50"), None);
        assert_eq!(parse_view_box("0 0 -1 50"), None);
        assert_eq!(parse_view_box("0 0 10px 50"), None);
    }

    #[test]
    fn rounding_bounds() {
        assert_eq!(round_pixels(0.4), None);
        assert_eq!(round_pixels(0.5), Some(1));
        assert_eq!(round_pixels(94.488), Some(94));
        assert_eq!(round_pixels(188.976), Some(189));
        assert_eq!(round_pixels(5e9), None);
    }
}
