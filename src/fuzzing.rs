//! Bodies of the fuzz targets in `fuzz/`: one function per parser of untrusted input.
//!
//! Each function feeds the fuzzer's bytes to one parser the way the server does, and panics when the parser panics or
//! breaks one of its documented invariants. The `cargo fuzz` targets are one call each, and the tests at the end of
//! this file replay the checked-in seed corpora (`fuzz/seeds/<target>/`) and crash inputs (`fuzz/regressions/<target>/`)
//! on stable Rust, as part of `cargo test`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use bytes::Bytes;
use unicode_normalization::is_nfc;

use crate::domain::cursor::Cursor;
use crate::domain::filename::{extension_of, Filename, FilenameError, MAX_FILENAME_CHARS};
use crate::error::ApiError;
use crate::imaging::geometry::{plan, Padding};
use crate::imaging::params::{ImageParams, Rect};
use crate::imaging::render::{self, RenderError, RenderLimits};
use crate::imaging::{params::Format, svg};
use crate::multipart;
use crate::probe::{is_script_capable, Kind};

/// Reads an upload body with the upload route's multipart reader: every part to its end, then the epilogue.
///
/// The input is the Content-Type header value, a line feed, then the body. The body arrives in chunks of 1, 7 or 64
/// bytes, or in one chunk, chosen by the input length, so that boundaries and part headers also fall across chunks.
pub fn multipart(data: &[u8]) {
    let (content_type, body) = match data.iter().position(|&byte| byte == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (data, &data[data.len()..]),
    };
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }

    let chunk_len = match data.len() % 4 {
        0 => body.len().max(1),
        1 => 1,
        2 => 7,
        _ => 64,
    };
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(chunk_len)
        .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
        .collect();
    let body_stream = Body::from_stream(futures::stream::iter(chunks));

    RUNTIME.with(|runtime| runtime.block_on(read_every_part(&headers, body_stream, body.len())));
}

thread_local! {
    /// Runtime with a timer, which the idle timeout of the body stream needs. It is built once per thread, because
    /// building one per input would dominate the cost of small inputs.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds");
}

async fn read_every_part(headers: &HeaderMap, body: Body, body_len: usize) {
    // The body is already in memory, so the idle timeout never expires.
    let (mut form, tail) = match multipart::upload_body(headers, body, Duration::from_secs(3600)) {
        Ok(reader) => reader,
        Err(error) => return assert_invalid_multipart(&error),
    };

    let mut part_bytes = 0;
    loop {
        let mut part = match form.next_field().await {
            Ok(Some(part)) => part,
            Ok(None) => break,
            Err(error) => return assert_invalid_multipart(&multipart::to_api_error(error)),
        };
        if let Some(filename) = multipart::part_filename(&part) {
            check_filename(&filename);
        }
        loop {
            match part.chunk().await {
                Ok(Some(chunk)) => part_bytes += chunk.len(),
                Ok(None) => break,
                Err(error) => return assert_invalid_multipart(&multipart::to_api_error(error)),
            }
        }
        assert!(
            part_bytes <= body_len,
            "the parts contain {part_bytes} bytes, more than the {body_len} bytes of the body"
        );
    }

    // The route then reads what follows the closing delimiter.
    drop(form);
    if let Err(error) = tail.finish().await {
        assert_invalid_multipart(&error);
    }
}

/// Checks that a malformed body gets the 400 response of the upload route. No other status can arise from bytes
/// that are all present, because a 408 needs a silent client.
#[track_caller]
fn assert_invalid_multipart(error: &ApiError) {
    assert_eq!(error.status, StatusCode::BAD_REQUEST, "{}", error.message);
    assert_eq!(error.code, "invalid_multipart", "{}", error.message);
}

/// Filename extensions that the probe target passes with the head, indexed by bits 1 to 4 of the first input byte.
const PROBE_EXTENSIONS: [&str; 16] = [
    "", "jpg", "png", "gif", "webp", "avif", "svg", "bmp", "ico", "tif", "heic", "mp4", "webm",
    "csv", "html", "doc",
];

/// Probes an upload head. Bit 0 of the first input byte is `complete`, bits 1 to 4 pick the extension from
/// [`PROBE_EXTENSIONS`], and the rest of the input is the head.
pub fn probe(data: &[u8]) {
    let Some((&options, head)) = data.split_first() else {
        return;
    };
    let complete = options & 1 == 1;
    let extension = PROBE_EXTENSIONS[usize::from(options >> 1) & 15];
    let found = crate::probe::probe(head, complete, extension);

    assert!(
        !found.content_type.is_empty(),
        "empty content type: {found:?}"
    );
    assert_eq!(
        found.width.is_some(),
        found.height.is_some(),
        "a size needs both sides: {found:?}"
    );
    if let (Some(width), Some(height)) = (found.width, found.height) {
        assert_eq!(
            found.kind,
            Kind::Image,
            "only images have a size: {found:?}"
        );
        assert!(width > 0, "a known width is never zero: {found:?}");
        assert!(height > 0, "a known height is never zero: {found:?}");
    }
    if found.kind == Kind::Image {
        assert!(
            found.content_type.starts_with("image/"),
            "an image has an image type: {found:?}"
        );
    }
    if head.is_empty() {
        assert_eq!(
            found.kind,
            Kind::Document,
            "an empty file is a document: {found:?}"
        );
    }
    if !extension.is_empty() && is_script_capable(&found.content_type) {
        // The extension only chooses among types that a browser cannot execute.
        let from_bytes = crate::probe::probe(head, complete, "");
        assert!(
            is_script_capable(&from_bytes.content_type),
            "the extension {extension:?} made {:?} into {:?}",
            from_bytes.content_type,
            found.content_type
        );
    }
}

/// Parses a filename as an upload sends it. Invalid UTF-8 is replaced, because the filename arrives as text.
pub fn filename(data: &[u8]) {
    check_filename(&String::from_utf8_lossy(data));
}

fn check_filename(raw: &str) {
    let name = match Filename::parse(raw) {
        Ok(name) => name,
        Err(error) => return check_filename_error(raw, &error),
    };
    let text = name.as_str();

    assert!(!text.is_empty(), "{raw:?} became an empty name");
    assert!(
        text.chars().count() <= MAX_FILENAME_CHARS,
        "{raw:?} became a name longer than the maximum"
    );
    assert!(
        !text.contains(['/', '\\']),
        "{raw:?} became {text:?}, which has a path separator"
    );
    assert!(
        !text.chars().any(char::is_control),
        "{raw:?} became {text:?}, which has a control character"
    );
    assert!(is_nfc(text), "{raw:?} became {text:?}, which is not in NFC");
    assert_eq!(
        Filename::parse(text).as_ref(),
        Ok(&name),
        "parsing {text:?} again changes it"
    );

    let extension = name.extension();
    assert!(
        !extension.contains('.'),
        "the extension {extension:?} of {text:?} has a dot"
    );
    assert_eq!(extension, extension_of(text));
}

fn check_filename_error(raw: &str, error: &FilenameError) {
    assert!(!error.to_string().is_empty());
    match *error {
        FilenameError::Empty => {}
        FilenameError::TooLong(length) => {
            assert!(
                length > MAX_FILENAME_CHARS,
                "{raw:?} rejected as too long at {length} characters"
            )
        }
        FilenameError::ControlCharacter(code) | FilenameError::BidiControl(code) => {
            let character = char::from_u32(code).expect("the error names a character");
            assert!(
                raw.contains(character),
                "{raw:?} rejected for U+{code:04X}, which it does not contain"
            );
        }
    }
}

/// Decodes a listing cursor, and round-trips a cursor built from the input.
///
/// For decoding, the text before the first line feed is the expected filter digest and the rest is the cursor. For
/// the round trip, the first 8 bytes are the creation time, the next 9 an optional score, and the rest the id and
/// the filter digest, separated by the first line feed.
pub fn cursor(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (filters, encoded) = text.split_once('\n').unwrap_or(("", text.as_ref()));
    if let Some(decoded) = Cursor::decode(encoded, filters) {
        assert_eq!(
            decoded.filters, filters,
            "a cursor of other filters was accepted"
        );
        let again = decoded.encode();
        if again.len() <= MAX_CURSOR_LEN {
            assert_eq!(
                Cursor::decode(&again, filters).as_ref(),
                Some(&decoded),
                "re-encoding {encoded:?} changes it"
            );
        }
    }

    let built = cursor_from_bytes(data);
    let encoded = built.encode();
    let decoded = Cursor::decode(&encoded, &built.filters);
    if encoded.len() <= MAX_CURSOR_LEN {
        assert_eq!(
            decoded.as_ref(),
            Some(&built),
            "{encoded:?} does not decode to the cursor it encodes"
        );
    } else {
        assert_eq!(
            decoded,
            None,
            "a cursor of {} bytes was accepted",
            encoded.len()
        );
    }
}

/// Maximum length, in bytes, of a cursor text that `Cursor::decode` accepts.
const MAX_CURSOR_LEN: usize = 1024;

fn cursor_from_bytes(data: &[u8]) -> Cursor {
    let byte = |index: usize| data.get(index).copied().unwrap_or_default();
    let created_at = i64::from_le_bytes(std::array::from_fn(byte));
    let score = i64::from_le_bytes(std::array::from_fn(|index| byte(9 + index)));
    let rest = String::from_utf8_lossy(data.get(17..).unwrap_or_default());
    let (id, filters) = rest.split_once('\n').unwrap_or((rest.as_ref(), ""));
    Cursor {
        score: (byte(8) & 1 == 1).then_some(score),
        created_at,
        id: id.to_owned(),
        filters: filters.to_owned(),
    }
}

/// Largest output side used for the output geometry checks, the server's default.
const MAX_OUTPUT_DIMENSION: u32 = 8192;

/// Source sizes for which the output geometry of the parsed parameters is checked.
const PLAN_SOURCE_SIZES: [(u32, u32); 6] = [
    (1, 1),
    (2, 3),
    (640, 480),
    (4000, 3000),
    (1, 100_000),
    (100_000, 7),
];

/// Parses image parameters from a query string, checks the normalised values and the output geometry they give.
///
/// `canonical()` is a cache key, not a query string: it writes `name=value;` pairs and resolved values (the crop
/// anchor as numbers, flags as `true,false`, the background as RRGGBBAA), so parsing it again is not the identity
/// and is not checked. Three properties are true by design and checked. Commas count the same percent-encoded
/// (`%2C`). With one pair per parameter, the order of the pairs makes no difference. Equal parameters have equal
/// canonical texts.
pub fn image_params(data: &[u8]) {
    let query = String::from_utf8_lossy(data);
    let params = ImageParams::parse(&query);
    check_param_ranges(&params);
    let canonical = params.canonical();

    let encoded_commas = query.replace(',', "%2C");
    assert_same_params(
        &params,
        &ImageParams::parse(&encoded_commas),
        &query,
        &encoded_commas,
    );

    let pairs = last_pair_per_parameter(&query);
    let forward = serialize_query(pairs.iter());
    let backward = serialize_query(pairs.iter().rev());
    assert_same_params(
        &ImageParams::parse(&forward),
        &ImageParams::parse(&backward),
        &forward,
        &backward,
    );

    assert!(!canonical.is_empty());
    for (width, height) in PLAN_SOURCE_SIZES {
        check_plan(width, height, &params, MAX_OUTPUT_DIMENSION);
        check_plan(width, height, &params, RENDER_LIMITS.max_output_dimension);
    }
}

#[track_caller]
fn assert_same_params(
    first: &ImageParams,
    second: &ImageParams,
    first_query: &str,
    second_query: &str,
) {
    assert_eq!(
        first, second,
        "{first_query:?} and {second_query:?} parse differently"
    );
    assert_eq!(
        first.canonical(),
        second.canonical(),
        "{first_query:?} and {second_query:?} have different canonical texts"
    );
}

fn check_param_ranges(params: &ImageParams) {
    for (name, side) in [("w", params.width), ("h", params.height)] {
        if let Some(side) = side {
            assert!(side.is_finite(), "{name} is {side}");
            assert!(side > 0.0, "{name} is {side}");
        }
    }
    assert!((1.0..=5.0).contains(&params.dpr), "dpr is {}", params.dpr);
    // A negative zero would give a second cache key to the same rendering.
    for (axis, anchor) in [("x", params.crop.x), ("y", params.crop.y)] {
        assert!(
            (0.0..=1.0).contains(&anchor) && anchor.is_sign_positive(),
            "the crop anchor's {axis} is {anchor}"
        );
    }
    if let Some(rect) = params.rect {
        assert!(rect.width > 0, "rect is {rect:?}");
        assert!(rect.height > 0, "rect is {rect:?}");
    }
    if let Some(ratio) = params.aspect_ratio {
        assert!(ratio.is_finite(), "ar is {ratio}");
        assert!(ratio > 0.0, "ar is {ratio}");
    }
    assert!(
        params.quality.is_none_or(|quality| quality <= 100),
        "q is {:?}",
        params.quality
    );
    assert!(
        params.blur.is_none_or(|blur| (1..=2000).contains(&blur)),
        "blur is {:?}",
        params.blur
    );
    assert!(
        params
            .saturation
            .is_none_or(|saturation| saturation != 0 && (-100..=100).contains(&saturation)),
        "sat is {:?}",
        params.saturation
    );
    assert!(
        matches!(params.rotation, 0 | 90 | 180 | 270),
        "rot is {}",
        params.rotation
    );
    assert!(params.max_width.is_none_or(|width| width >= 1));
    assert!(params.max_height.is_none_or(|height| height >= 1));
}

/// Returns the decoded pairs of `query`, keeping only the last pair of each parameter (aliases such as `w` and
/// `width` count as one) and the first position of each.
fn last_pair_per_parameter(query: &str) -> Vec<(String, String)> {
    fn parameter(key: &str) -> &str {
        match key {
            "width" => "w",
            "height" => "h",
            "orient" => "rot",
            other => other,
        }
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = parameter(key.as_ref());
        match pairs
            .iter_mut()
            .find(|(existing, _)| parameter(existing.as_str()) == slot)
        {
            Some(pair) => *pair = (key.into_owned(), value.into_owned()),
            None => pairs.push((key.into_owned(), value.into_owned())),
        }
    }
    pairs
}

fn serialize_query<'a>(pairs: impl Iterator<Item = &'a (String, String)>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        serializer.append_pair(key, value);
    }
    serializer.finish()
}

/// Checks the output geometry of `params` for a `width` x `height` source: the kept region lies inside the source,
/// no side is zero, no output side exceeds the limits, and the scaled image fits its canvas.
fn check_plan(width: u32, height: u32, params: &ImageParams, max_dimension: u32) {
    let planned = plan(width, height, params, max_dimension);
    let context = format!("{width}x{height} source, limit {max_dimension}: {planned:?}");

    let Rect {
        x,
        y,
        width: kept_width,
        height: kept_height,
    } = planned.source;
    assert!(kept_width > 0, "source region without width; {context}");
    assert!(kept_height > 0, "source region without height; {context}");
    assert!(
        u64::from(x) + u64::from(kept_width) <= u64::from(width),
        "source region past the right edge; {context}"
    );
    assert!(
        u64::from(y) + u64::from(kept_height) <= u64::from(height),
        "source region past the bottom edge; {context}"
    );

    let (canvas_width, canvas_height) = planned.canvas;
    let (scaled_width, scaled_height) = planned.scaled;
    assert!(scaled_width > 0, "scaled image without width; {context}");
    assert!(scaled_height > 0, "scaled image without height; {context}");
    let limit_width = params.max_width.unwrap_or(u32::MAX).min(max_dimension);
    let limit_height = params.max_height.unwrap_or(u32::MAX).min(max_dimension);
    assert!(
        canvas_width <= limit_width,
        "canvas wider than the limit; {context}"
    );
    assert!(
        canvas_height <= limit_height,
        "canvas taller than the limit; {context}"
    );
    assert!(
        u64::from(planned.offset.0) + u64::from(scaled_width) <= u64::from(canvas_width)
            && u64::from(planned.offset.1) + u64::from(scaled_height) <= u64::from(canvas_height),
        "scaled image outside its canvas; {context}"
    );
    if planned.padding == Padding::None {
        assert_eq!(
            planned.scaled, planned.canvas,
            "unpadded image smaller than its canvas; {context}"
        );
    }
}

/// Limits of the render target: small enough that each input renders in milliseconds.
const RENDER_LIMITS: RenderLimits = RenderLimits {
    max_source_pixels: 1 << 20,
    max_output_dimension: 64,
};

/// Requests that the render target makes of each input: a resize to an animatable format, a crop with a rotation,
/// and a region padded onto a canvas with a background and a quality.
const RENDER_REQUESTS: [(&str, Format); 3] = [
    ("w=24", Format::Webp),
    (
        "w=16&h=16&fit=crop&crop=top,left&rot=90&flip=h",
        Format::Png,
    ),
    (
        "rect=1,1,40,30&w=20&h=12&fit=fill&bg=8f00&q=40&sat=-50",
        Format::Jpeg,
    ),
];

/// Renders the input as an image source: it reads the header size, then makes each of [`RENDER_REQUESTS`] under
/// [`RENDER_LIMITS`], through the raster decoders, the SVG rasteriser or the animation path as the bytes decide.
pub fn render(data: &[u8]) {
    let dimensions = render::source_dimensions(data);
    for (query, format) in RENDER_REQUESTS {
        let params = ImageParams::parse(query);
        let rendered = match render::render(data, &params, format, RENDER_LIMITS) {
            Ok(rendered) => rendered,
            Err(RenderError::Encode(message)) => {
                panic!("{query} to {format:?}: encoding failed: {message}")
            }
            Err(_) => continue,
        };
        let context = format!(
            "{query} to {format:?}: {}x{}",
            rendered.width, rendered.height
        );

        if !svg::is_svg(data) {
            assert!(
                dimensions.is_ok(),
                "the header size is unreadable, yet the source renders; {context}"
            );
        }
        assert_eq!(rendered.format, format, "{context}");
        let limit = RENDER_LIMITS.max_output_dimension;
        assert!(
            (1..=limit).contains(&rendered.width) && (1..=limit).contains(&rendered.height),
            "output size outside 1 to {limit}; {context}"
        );
        assert_eq!(
            render::source_dimensions(&rendered.bytes).ok(),
            Some((rendered.width, rendered.height)),
            "the encoded output has another size; {context}"
        );
    }
}

#[cfg(test)]
mod seeds;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// Runs every file of `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/` through `body`, and fails with the
    /// name of each file whose run panics.
    fn replay(target: &str, body: fn(&[u8])) {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let seeds = files_in(&fuzz.join("seeds").join(target));
        assert!(!seeds.is_empty(), "fuzz/seeds/{target} has no files");
        let regressions = files_in(&fuzz.join("regressions").join(target));

        let mut failures = Vec::new();
        for path in seeds.iter().chain(&regressions) {
            let data = std::fs::read(path)
                .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
            if std::panic::catch_unwind(|| body(&data)).is_err() {
                failures.push(path.display().to_string());
            }
        }
        assert!(
            failures.is_empty(),
            "{target} panicked on: {}",
            failures.join(", ")
        );
    }

    /// Returns the files of `directory`, sorted, or none when it does not exist.
    fn files_in(directory: &Path) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(directory) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .map(|entry| entry.expect("a readable directory entry").path())
            .filter(|path| {
                path.is_file() && path.file_name().is_some_and(|name| name != ".gitkeep")
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn multipart_inputs_replay() {
        replay("multipart", multipart);
    }

    #[test]
    fn probe_inputs_replay() {
        replay("probe", probe);
    }

    #[test]
    fn filename_inputs_replay() {
        replay("filename", filename);
    }

    #[test]
    fn cursor_inputs_replay() {
        replay("cursor", cursor);
    }

    #[test]
    fn image_params_inputs_replay() {
        replay("image_params", image_params);
    }

    #[test]
    fn render_inputs_replay() {
        replay("render", render);
    }
}
