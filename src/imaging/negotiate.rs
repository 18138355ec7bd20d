//! Choice of the output format: `fm` first, then `auto=format` against the `Accept` header, then the source format.

use super::params::{Format, ImageParams};

/// Chosen output format and whether the choice depended on `Accept` (then the response carries `Vary: Accept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub format: Format,
    pub varies_by_accept: bool,
}

/// Picks the output format for a source whose own format is `source` (`None` when it cannot be encoded again, such
/// as TIFF or BMP, which become PNG). `auto=format` prefers AVIF, then WebP, when the client accepts them, except
/// that GIF and WebP sources never become AVIF: they may be animated, and AVIF output is a still image, while an
/// animated WebP keeps the frames.
pub fn output_format(params: &ImageParams, source: Option<Format>, accept: Option<&str>) -> Negotiated {
    let varies_by_accept = params.auto_format && params.format.is_none();
    if let Some(format) = params.format {
        return Negotiated { format, varies_by_accept };
    }
    if params.auto_format {
        let accept = accept.unwrap_or_default();
        let may_be_animated = matches!(source, Some(Format::Gif | Format::Webp));
        if accepts(accept, "image/avif") && !may_be_animated {
            return Negotiated { format: Format::Avif, varies_by_accept };
        }
        if accepts(accept, "image/webp") {
            return Negotiated { format: Format::Webp, varies_by_accept };
        }
    }
    Negotiated { format: source.unwrap_or(Format::Png), varies_by_accept }
}

/// Tells whether an `Accept` header lists `media_type` explicitly with a non-zero quality. Wildcards do not count,
/// because browsers send `*/*` without supporting every format.
fn accepts(accept: &str, media_type: &str) -> bool {
    accept.split(',').any(|entry| {
        let mut parts = entry.split(';').map(str::trim);
        let matches = parts.next().is_some_and(|name| name.eq_ignore_ascii_case(media_type));
        let quality = parts
            .filter_map(|parameter| parameter.strip_prefix("q="))
            .find_map(|value| value.parse::<f64>().ok())
            .unwrap_or(1.0);
        matches && quality > 0.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
    const OLD_SAFARI: &str = "image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5";
    const CURL: &str = "*/*";

    fn pick(query: &str, accept: &str) -> Negotiated {
        output_format(&ImageParams::parse(query), Some(Format::Jpeg), Some(accept))
    }

    #[test]
    fn auto_format_follows_accept() {
        assert_eq!(pick("auto=format", CHROME).format, Format::Avif);
        assert_eq!(pick("auto=format", OLD_SAFARI).format, Format::Webp);
        assert_eq!(pick("auto=format", CURL).format, Format::Jpeg);
        assert!(pick("auto=format", CURL).varies_by_accept);
    }

    #[test]
    fn fm_wins_over_auto_format() {
        let chosen = pick("auto=format&fm=png", CHROME);
        assert_eq!(chosen.format, Format::Png);
        assert!(!chosen.varies_by_accept);
    }

    #[test]
    fn zero_quality_refuses_a_type() {
        assert_eq!(pick("auto=format", "image/avif;q=0,image/webp").format, Format::Webp);
    }

    #[test]
    fn gif_and_webp_never_become_avif() {
        let gif = output_format(&ImageParams::parse("auto=format"), Some(Format::Gif), Some(CHROME));
        assert_eq!(gif.format, Format::Webp);
        let webp = output_format(&ImageParams::parse("auto=format"), Some(Format::Webp), Some(CHROME));
        assert_eq!(webp.format, Format::Webp);
        let gif_for_curl = output_format(&ImageParams::parse("auto=format"), Some(Format::Gif), Some(CURL));
        assert_eq!(gif_for_curl.format, Format::Gif);
    }

    #[test]
    fn without_auto_format_keeps_source() {
        let chosen = pick("w=10", CHROME);
        assert_eq!(chosen.format, Format::Jpeg);
        assert!(!chosen.varies_by_accept);
    }
}
