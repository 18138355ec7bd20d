//! imgix-compatible image parameters, parsed from a file URL's query string.
//!
//! As imgix does, an invalid or unknown value is ignored and a number out of range is clamped, so a URL never fails
//! because of its parameters. Commas may arrive percent-encoded (`%2C`).

use std::fmt::Write as _;

/// Largest accepted `blur` radius, as on imgix.
const MAX_BLUR: u32 = 2000;

/// Mode of fitting the image to the requested width and height (imgix `fit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fit {
    /// Fit inside, keeping the aspect ratio; may enlarge.
    #[default]
    Clip,
    /// Like `Clip`, but never enlarges.
    Max,
    /// Like `Crop`, but never enlarges.
    Min,
    /// Fill the box, keeping the aspect ratio, and crop the overflow.
    Crop,
    /// Fit inside and pad to the box with the background color.
    Fill,
    /// Like `Fill`, but never enlarges the image itself.
    FillMax,
    /// Stretch to the box, ignoring the aspect ratio.
    Scale,
    /// Fit inside and pad to the box by repeating the edge pixels.
    Clamp,
}

impl Fit {
    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "clip" | "facearea" => Fit::Clip,
            "max" => Fit::Max,
            "min" => Fit::Min,
            "crop" => Fit::Crop,
            "fill" => Fit::Fill,
            "fillmax" => Fit::FillMax,
            "scale" => Fit::Scale,
            "clamp" => Fit::Clamp,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Fit::Clip => "clip",
            Fit::Max => "max",
            Fit::Min => "min",
            Fit::Crop => "crop",
            Fit::Fill => "fill",
            Fit::FillMax => "fillmax",
            Fit::Scale => "scale",
            Fit::Clamp => "clamp",
        }
    }
}

/// Anchor of a crop: a position on each axis from 0 (left or top) to 1 (right or bottom).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropAnchor {
    pub x: f64,
    pub y: f64,
}

impl Default for CropAnchor {
    fn default() -> Self {
        Self { x: 0.5, y: 0.5 }
    }
}

/// Output format requested with `fm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    ProgressiveJpeg,
    Png,
    Webp,
    Avif,
    Gif,
}

impl Format {
    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "jpg" | "jpeg" => Format::Jpeg,
            "pjpg" => Format::ProgressiveJpeg,
            "png" => Format::Png,
            "webp" => Format::Webp,
            "avif" => Format::Avif,
            "gif" => Format::Gif,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::ProgressiveJpeg => "pjpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Avif => "avif",
            Format::Gif => "gif",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg | Format::ProgressiveJpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Avif => "image/avif",
            Format::Gif => "image/gif",
        }
    }
}

/// A color as red, green, blue and alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color(pub [u8; 4]);

impl Color {
    /// Parses imgix's hexadecimal colors: `RGB`, `ARGB`, `RRGGBB` or `AARRGGBB`, with or without `#`.
    fn parse(value: &str) -> Option<Self> {
        let hex = value.trim_start_matches('#');
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let digit = |index: usize| u8::from_str_radix(&hex[index..index + 1], 16).ok().map(|d| d * 17);
        let pair = |index: usize| u8::from_str_radix(&hex[index..index + 2], 16).ok();
        let [a, r, g, b] = match hex.len() {
            3 => [255, digit(0)?, digit(1)?, digit(2)?],
            4 => [digit(0)?, digit(1)?, digit(2)?, digit(3)?],
            6 => [255, pair(0)?, pair(2)?, pair(4)?],
            8 => [pair(0)?, pair(2)?, pair(4)?, pair(6)?],
            _ => return None,
        };
        Some(Color([r, g, b, a]))
    }
}

/// A rectangle of the source image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// The parameters of one image URL, normalised: the same rendering always has the same value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageParams {
    /// Requested width; a value in (0, 1) is a fraction of the source width.
    pub width: Option<f64>,
    pub height: Option<f64>,
    pub fit: Fit,
    pub crop: CropAnchor,
    pub rect: Option<Rect>,
    /// Aspect ratio as width / height, used with `fit=crop`, `min` and `fill`.
    pub aspect_ratio: Option<f64>,
    /// Device pixel ratio, 1 to 5; it multiplies `width` and `height`.
    pub dpr: f64,
    /// Encoder quality, 0 to 100.
    pub quality: Option<u8>,
    pub format: Option<Format>,
    pub auto_format: bool,
    pub auto_compress: bool,
    pub background: Option<Color>,
    /// Gaussian blur radius, 1 to 2000.
    pub blur: Option<u32>,
    /// Saturation change, -100 (grey) to 100.
    pub saturation: Option<i32>,
    pub flip_horizontal: bool,
    pub flip_vertical: bool,
    /// Clockwise rotation in degrees: 90, 180 or 270.
    pub rotation: u16,
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
}

impl ImageParams {
    /// Parses a raw query string; unknown keys and invalid values are ignored.
    pub fn parse(query: &str) -> Self {
        let mut params = ImageParams { dpr: 1.0, ..Default::default() };
        let mut crop_words: Vec<String> = Vec::new();
        let mut focal_x = None;
        let mut focal_y = None;

        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.trim();
            match key.as_ref() {
                "w" | "width" => params.width = positive_number(value).or(params.width),
                "h" | "height" => params.height = positive_number(value).or(params.height),
                "fit" => params.fit = Fit::parse(value).unwrap_or(params.fit),
                "crop" => crop_words = value.split(',').map(|word| word.trim().to_owned()).collect(),
                "fp-x" => focal_x = number(value).map(unit_interval),
                "fp-y" => focal_y = number(value).map(unit_interval),
                "rect" => params.rect = parse_rect(value).or(params.rect),
                "ar" => params.aspect_ratio = parse_aspect_ratio(value).or(params.aspect_ratio),
                "dpr" => params.dpr = number(value).map_or(params.dpr, |dpr| dpr.clamp(1.0, 5.0)),
                "q" => params.quality = number(value).map(|q| q.clamp(0.0, 100.0).round() as u8).or(params.quality),
                "fm" => params.format = Format::parse(value).or(params.format),
                "auto" => {
                    for word in value.split(',').map(str::trim) {
                        match word {
                            "format" => params.auto_format = true,
                            "compress" => params.auto_compress = true,
                            _ => {}
                        }
                    }
                }
                "bg" => params.background = Color::parse(value).or(params.background),
                "blur" => {
                    params.blur = number(value)
                        .map(|radius| radius.round().clamp(0.0, MAX_BLUR as f64) as u32)
                        .filter(|radius| *radius > 0)
                        .or(params.blur)
                }
                "sat" => {
                    params.saturation = number(value)
                        .map(|sat| sat.round().clamp(-100.0, 100.0) as i32)
                        .filter(|sat| *sat != 0)
                        .or(params.saturation)
                }
                "flip" => match value {
                    "h" => (params.flip_horizontal, params.flip_vertical) = (true, false),
                    "v" => (params.flip_horizontal, params.flip_vertical) = (false, true),
                    "hv" | "vh" => (params.flip_horizontal, params.flip_vertical) = (true, true),
                    _ => {}
                },
                "rot" | "orient" => {
                    if let Some(degrees) = parse_rotation(key.as_ref(), value) {
                        params.rotation = degrees;
                    }
                }
                "max-w" => params.max_width = positive_number(value).map(|w| w.round().max(1.0) as u32),
                "max-h" => params.max_height = positive_number(value).map(|h| h.round().max(1.0) as u32),
                _ => {}
            }
        }

        params.crop = crop_anchor(&crop_words, focal_x, focal_y);

        // `dpr` only multiplies the requested sizes, so it is folded into absolute ones: `w=100&dpr=2` and `w=200`
        // are one rendering with one cache entry. A size given as a fraction of the source keeps its `dpr`.
        let absolute = |size: Option<f64>| size.is_none_or(|size| size >= 1.0);
        if absolute(params.width) && absolute(params.height) {
            params.width = params.width.map(|width| width * params.dpr);
            params.height = params.height.map(|height| height * params.dpr);
            params.dpr = 1.0;
        }
        params
    }

    /// Tells whether the parameters change the pixels. When they do not, and `fm` names no other format than the
    /// source's, the stored bytes are served.
    pub fn changes_pixels(&self) -> bool {
        self.width.is_some()
            || self.height.is_some()
            || self.rect.is_some()
            || self.aspect_ratio.is_some() && matches!(self.fit, Fit::Crop | Fit::Min | Fit::Fill | Fit::FillMax)
            || self.background.is_some() && matches!(self.fit, Fit::Fill | Fit::FillMax)
            || self.blur.is_some()
            || self.saturation.is_some()
            || self.flip_horizontal
            || self.flip_vertical
            || self.rotation != 0
            || self.max_width.is_some()
            || self.max_height.is_some()
    }

    /// Returns a canonical text of the parameters that affect the output, for cache keys: the order of the query
    /// and the encoding of commas make no difference.
    pub fn canonical(&self) -> String {
        let mut text = String::new();
        let mut field = |name: &str, value: &dyn std::fmt::Display| {
            let _ = write!(text, "{name}={value};");
        };
        if let Some(width) = self.width {
            field("w", &width);
        }
        if let Some(height) = self.height {
            field("h", &height);
        }
        field("fit", &self.fit.as_str());
        field("crop", &format!("{},{}", self.crop.x, self.crop.y));
        if let Some(rect) = self.rect {
            field("rect", &format!("{},{},{},{}", rect.x, rect.y, rect.width, rect.height));
        }
        if let Some(ratio) = self.aspect_ratio {
            field("ar", &ratio);
        }
        field("dpr", &self.dpr);
        if let Some(quality) = self.quality {
            field("q", &quality);
        }
        if let Some(format) = self.format {
            field("fm", &format.as_str());
        }
        field("auto", &format!("{},{}", self.auto_format, self.auto_compress));
        if let Some(Color([r, g, b, a])) = self.background {
            field("bg", &format!("{r:02x}{g:02x}{b:02x}{a:02x}"));
        }
        if let Some(blur) = self.blur {
            field("blur", &blur);
        }
        if let Some(saturation) = self.saturation {
            field("sat", &saturation);
        }
        field("flip", &format!("{},{}", self.flip_horizontal, self.flip_vertical));
        field("rot", &self.rotation);
        if let Some(width) = self.max_width {
            field("max-w", &width);
        }
        if let Some(height) = self.max_height {
            field("max-h", &height);
        }
        text
    }
}

fn number(value: &str) -> Option<f64> {
    value.parse::<f64>().ok().filter(|number| number.is_finite())
}

/// Clamps a focal point coordinate to 0 to 1. Adding 0 turns `-0` into `0`, so that `fp-x=-0` and `fp-x=0` have one
/// canonical text and so one cached variant.
fn unit_interval(value: f64) -> f64 {
    value.clamp(0.0, 1.0) + 0.0
}

fn positive_number(value: &str) -> Option<f64> {
    number(value).filter(|number| *number > 0.0)
}

/// Parses `x,y,w,h` in whole pixels; a rectangle without area is ignored.
fn parse_rect(value: &str) -> Option<Rect> {
    let numbers: Vec<u32> = value
        .split(',')
        .map(|part| number(part.trim()).filter(|n| *n >= 0.0).map(|n| n.round().min(u32::MAX as f64) as u32))
        .collect::<Option<_>>()?;
    match numbers.as_slice() {
        [x, y, width, height] if *width > 0 && *height > 0 => {
            Some(Rect { x: *x, y: *y, width: *width, height: *height })
        }
        _ => None,
    }
}

/// Parses an aspect ratio written `W:H`.
fn parse_aspect_ratio(value: &str) -> Option<f64> {
    let (width, height) = value.split_once(':')?;
    let ratio = positive_number(width.trim())? / positive_number(height.trim())?;
    (ratio.is_finite() && ratio > 0.0).then_some(ratio)
}

/// Parses `rot` (degrees, multiples of 90 only) or `orient` (90, 180, 270 or EXIF-style 1, 3, 6, 8).
fn parse_rotation(key: &str, value: &str) -> Option<u16> {
    let degrees = number(value)?;
    if key == "orient" {
        return match degrees as i64 {
            1 => Some(0),
            3 | 180 => Some(180),
            6 | 90 => Some(90),
            8 | 270 => Some(270),
            _ => None,
        };
    }
    let whole = degrees.round() as i64;
    (whole % 90 == 0).then_some(whole.rem_euclid(360) as u16)
}

/// Turns the `crop` words and the focal point into an anchor. `focalpoint` uses `fp-x`/`fp-y`; `entropy`, `edges`
/// and `faces` are treated as `center`.
fn crop_anchor(words: &[String], focal_x: Option<f64>, focal_y: Option<f64>) -> CropAnchor {
    let mut anchor = CropAnchor::default();
    if words.iter().any(|word| word == "focalpoint") {
        anchor.x = focal_x.unwrap_or(0.5);
        anchor.y = focal_y.unwrap_or(0.5);
        return anchor;
    }
    for word in words {
        match word.as_str() {
            "left" => anchor.x = 0.0,
            "right" => anchor.x = 1.0,
            "top" => anchor.y = 0.0,
            "bottom" => anchor.y = 1.0,
            _ => {}
        }
    }
    anchor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_and_aliases() {
        let params = ImageParams::parse("width=640&h=480");
        assert_eq!(params.width, Some(640.0));
        assert_eq!(params.height, Some(480.0));
        assert_eq!(params.dpr, 1.0);
    }

    #[test]
    fn dpr_folds_into_absolute_sizes() {
        assert_eq!(ImageParams::parse("w=100&dpr=2"), ImageParams::parse("w=200"));
        assert_eq!(ImageParams::parse("w=100&h=50&dpr=1.5"), ImageParams::parse("w=150&h=75"));
        assert_eq!(ImageParams::parse("dpr=3&fm=png"), ImageParams::parse("fm=png"));
        assert_eq!(ImageParams::parse("w=100&dpr=2").canonical(), ImageParams::parse("w=200").canonical());

        let fraction = ImageParams::parse("w=0.5&h=100&dpr=2");
        assert_eq!(fraction.width, Some(0.5), "a fraction of the source width is not a pixel size");
        assert_eq!(fraction.height, Some(100.0));
        assert_eq!(fraction.dpr, 2.0);
    }

    #[test]
    fn ignores_invalid_values() {
        let params = ImageParams::parse("w=abc&h=-5&fit=nonsense&fm=bmp&rect=1,2,3&q=x&bg=zzz");
        assert_eq!(params, ImageParams::parse(""));
    }

    #[test]
    fn clamps_numbers() {
        let params = ImageParams::parse("w=10&dpr=9&q=150&blur=5000&sat=-300");
        assert_eq!(params.width, Some(50.0), "dpr is clamped to 5");
        assert_eq!(params.quality, Some(100));
        assert_eq!(params.blur, Some(2000));
        assert_eq!(params.saturation, Some(-100));
        assert_eq!(ImageParams::parse("w=10&dpr=0.2").width, Some(10.0), "dpr is clamped to 1");
    }

    #[test]
    fn decodes_encoded_commas() {
        let params = ImageParams::parse("rect=10%2C20%2C30%2C40&auto=format%2Ccompress");
        assert_eq!(params.rect, Some(Rect { x: 10, y: 20, width: 30, height: 40 }));
        assert!(params.auto_format);
        assert!(params.auto_compress);
    }

    #[test]
    fn canonical_ignores_order() {
        let first = ImageParams::parse("w=100&fit=crop&auto=format,compress");
        let second = ImageParams::parse("auto=format%2Ccompress&fit=crop&w=100");
        assert_eq!(first.canonical(), second.canonical());
        assert_ne!(first.canonical(), ImageParams::parse("w=101&fit=crop&auto=format,compress").canonical());
    }

    #[test]
    fn parses_colors() {
        assert_eq!(Color::parse("f00"), Some(Color([255, 0, 0, 255])));
        assert_eq!(Color::parse("#80ff0000"), Some(Color([255, 0, 0, 128])));
        assert_eq!(Color::parse("00ff00"), Some(Color([0, 255, 0, 255])));
        assert_eq!(Color::parse("12345"), None);
    }

    #[test]
    fn crop_words_set_the_anchor() {
        assert_eq!(ImageParams::parse("crop=top,left").crop, CropAnchor { x: 0.0, y: 0.0 });
        assert_eq!(ImageParams::parse("crop=bottom").crop, CropAnchor { x: 0.5, y: 1.0 });
        assert_eq!(ImageParams::parse("crop=entropy").crop, CropAnchor::default());
        let focal = ImageParams::parse("crop=focalpoint&fp-x=0.2&fp-y=0.9");
        assert_eq!(focal.crop, CropAnchor { x: 0.2, y: 0.9 });
    }

    #[test]
    fn rotation_accepts_right_angles() {
        assert_eq!(ImageParams::parse("rot=90").rotation, 90);
        assert_eq!(ImageParams::parse("rot=-90").rotation, 270);
        assert_eq!(ImageParams::parse("rot=45").rotation, 0);
        assert_eq!(ImageParams::parse("orient=6").rotation, 90);
    }

    #[test]
    fn auto_alone_changes_no_pixels() {
        assert!(!ImageParams::parse("auto=format,compress").changes_pixels());
        assert!(ImageParams::parse("w=10").changes_pixels());
        assert!(!ImageParams::parse("fm=png&q=20").changes_pixels(), "a format alone re-encodes the same pixels");
        assert!(ImageParams::parse("ar=1:1&fit=crop").changes_pixels(), "ar crops with fit=crop");
        assert!(!ImageParams::parse("ar=1:1").changes_pixels(), "ar is ignored with fit=clip");
    }
}
