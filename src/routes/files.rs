//! `GET /files/{repository}/{id}_{name}`: deliver an asset's stored bytes.
//!
//! Anyone with the URL can read the file, as on Prismic's CDN; `repository` and `authorization` headers are ignored.
//! The name must be the name the file was uploaded with. Single byte ranges are served as 206; a request for several
//! ranges gets the whole file with 200.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::db::AssetRecord;
use crate::error::{ApiError, ApiResult};
use crate::probe;
use crate::routes::variants::{self, VariantResponse};
use crate::state::AppState;
use crate::storage::{content_hash, StorageError};

/// Lifetime of a file in shared caches; short enough that a deleted asset stops being served within a day.
const CACHE_CONTROL: &str = "public, max-age=86400";
const SANDBOX_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// Characters percent-encoded in an RFC 5987 `filename*` value (everything but `attr-char`).
const NOT_ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// Serves a file.
#[utoipa::path(
    get,
    path = "/files/{repository}/{file}",
    tag = "files",
    params(
        ("repository" = String, Path, description = "Repository name"),
        ("file" = String, Path, description = "`{id}_{filename as uploaded}`"),
        ("w" = Option<String>, Query, description = "Image output width in pixels; under 1, a fraction of the source width. Alias `width`"),
        ("h" = Option<String>, Query, description = "Image output height, as `w`. Alias `height`"),
        ("fit" = Option<String>, Query, description = "`clip` (default), `max`, `min`, `crop`, `fill`, `fillmax`, `scale`, `clamp`, `facearea`"),
        ("crop" = Option<String>, Query, description = "Kept part for `fit=crop` and `fit=min`: `top`, `bottom`, `left`, `right`, `center`, pairs such as `top,left`, or `focalpoint`"),
        ("fp-x" = Option<String>, Query, description = "Focal point for `crop=focalpoint`, 0 to 1"),
        ("fp-y" = Option<String>, Query, description = "Focal point for `crop=focalpoint`, 0 to 1"),
        ("rect" = Option<String>, Query, description = "Source region `x,y,w,h` in pixels, kept before resizing"),
        ("ar" = Option<String>, Query, description = "Aspect ratio `W:H` for `fit=crop`, `min`, `fill` and `fillmax`"),
        ("dpr" = Option<String>, Query, description = "Device pixel ratio, 1 to 5; multiplies `w` and `h`"),
        ("q" = Option<String>, Query, description = "Encoder quality, 0 to 100"),
        ("fm" = Option<String>, Query, description = "Output format: `jpg`, `jpeg`, `pjpg`, `png`, `webp`, `avif`, `gif`"),
        ("auto" = Option<String>, Query, description = "`format` (AVIF or WebP from `Accept`), `compress`, or both, comma-separated"),
        ("bg" = Option<String>, Query, description = "Padding and background color: `RGB`, `ARGB`, `RRGGBB` or `AARRGGBB`, with or without `#`"),
        ("blur" = Option<String>, Query, description = "Gaussian blur, 1 to 2000"),
        ("sat" = Option<String>, Query, description = "Saturation change in percent, -100 to 100"),
        ("flip" = Option<String>, Query, description = "`h`, `v` or `hv`"),
        ("rot" = Option<String>, Query, description = "Clockwise rotation, a multiple of 90 degrees"),
        ("orient" = Option<String>, Query, description = "EXIF orientation `1`, `3`, `6`, `8`, or `90`, `180`, `270`"),
        ("max-w" = Option<String>, Query, description = "Upper bound of the output width in pixels"),
        ("max-h" = Option<String>, Query, description = "Upper bound of the output height in pixels"),
    ),
    responses(
        (status = 200, description = "The stored bytes, with the media type found when they were uploaded, or the image rendered with the query's parameters. Invalid or unknown parameter values are ignored", content_type = "*/*"),
        (status = 206, description = "A byte range of the stored bytes"),
        (status = 304, description = "Not modified"),
        (status = 404, description = "Unknown file", body = crate::error::ErrorBody),
        (status = 416, description = "The range is outside the file", body = crate::error::ErrorBody),
        (status = 422, description = "`source_too_large`: the image has more pixels than `--max-source-pixels`, or an SVG would need too large buffers at the requested size", body = crate::error::ErrorBody),
        (status = 503, description = "`render_busy`: the render queue is full or the render timed out, or the file store is unavailable; see `retry-after`", body = crate::error::ErrorBody),
    ),
)]
pub async fn serve_file(
    State(state): State<AppState>,
    method: Method,
    Path((repository, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Some((id, name)) = file.split_once('_') else {
        return Err(file_not_found());
    };
    let Some(asset) = state.db.find_asset(&repository, id).await? else {
        return Err(file_not_found());
    };
    if asset.uploaded_filename != name {
        return Err(file_not_found());
    }

    let mut vary_accept = false;
    if let Some(query) = query.filter(|query| !query.is_empty() && asset.kind == "image") {
        match variants::respond(&state, &asset, &query, &headers, &method).await? {
            VariantResponse::Rendered(response) => return Ok(response),
            VariantResponse::Original { vary_accept: vary } => vary_accept = vary,
        }
    }

    let digest = content_hash::digest_hex(&asset.content_hash);
    let etag = format!("\"{}\"", &digest[..32.min(digest.len())]);
    let last_modified = httpdate::fmt_http_date(millis_to_system_time(asset.created_at));
    let size = asset.size as u64;
    let mut response_headers = file_headers(&asset, &etag, &last_modified);
    if vary_accept {
        response_headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    }

    if is_not_modified(&headers, &etag, asset.created_at) {
        return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
    }

    let range = if if_range_matches(&headers, &etag, &last_modified) {
        parse_range(headers.get(header::RANGE), size)
    } else {
        RangeRequest::Whole
    };
    let (status, byte_range) = match range {
        RangeRequest::Whole => (StatusCode::OK, None),
        RangeRequest::Single(start, end) => {
            let content_range = format!("bytes {start}-{}/{size}", end - 1);
            response_headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&content_range).expect("ASCII"),
            );
            (StatusCode::PARTIAL_CONTENT, Some(start..end))
        }
        RangeRequest::Unsatisfiable => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("The requested range is outside the file of {size} bytes."),
            )
            .into_response();
            let content_range = HeaderValue::from_str(&format!("bytes */{size}")).expect("ASCII");
            response
                .headers_mut()
                .insert(header::CONTENT_RANGE, content_range);
            return Ok(response);
        }
    };
    let length = byte_range
        .as_ref()
        .map_or(size, |range| range.end - range.start);
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));

    if method == Method::HEAD || length == 0 {
        return Ok((status, response_headers).into_response());
    }
    let stream = match state.store.get(&asset.storage_key, byte_range).await {
        Ok(stream) => stream,
        Err(StorageError::NotFound(_)) => return Err(file_not_found()),
        Err(error) => return Err(error.into()),
    };
    Ok((status, response_headers, Body::from_stream(stream)).into_response())
}

fn file_headers(asset: &AssetRecord, etag: &str, last_modified: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let content_type = HeaderValue::from_str(&asset.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static(probe::UNKNOWN_CONTENT_TYPE));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(etag).expect("hex digest"),
    );
    headers.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_str(last_modified).expect("HTTP date"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );

    let disposition = content_disposition(
        &asset.filename,
        probe::disposition_is_attachment(&asset.content_type),
    );
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    if probe::is_script_capable(&asset.content_type) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SANDBOX_POLICY),
        );
    }
    headers
}

/// Builds `inline` or `attachment` with an ASCII `filename` fallback and the exact name in `filename*`.
fn content_disposition(filename: &str, attachment: bool) -> HeaderValue {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(filename, NOT_ATTR_CHAR);
    let kind = if attachment { "attachment" } else { "inline" };
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
    .expect("the value is ASCII")
}

fn millis_to_system_time(millis: i64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis.max(0) as u64)
}

/// Tells whether `If-None-Match` lists `etag` (weak comparison) or `*`; `None` when the header is absent.
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> Option<bool> {
    let value = headers.get(header::IF_NONE_MATCH)?.to_str().ok()?;
    Some(
        value
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag),
    )
}

/// Applies `If-None-Match`, or `If-Modified-Since` when there is no `If-None-Match`.
fn is_not_modified(headers: &HeaderMap, etag: &str, created_at: i64) -> bool {
    if let Some(matches) = if_none_match(headers, etag) {
        return matches;
    }
    if let Some(since) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| httpdate::parse_http_date(value).ok())
    {
        let modified_seconds = created_at / 1000;
        let since_seconds = since
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        return modified_seconds <= since_seconds;
    }
    false
}

/// Tells whether a `Range` header may be honoured: there is no `If-Range`, or it names the current version.
fn if_range_matches(headers: &HeaderMap, etag: &str, last_modified: &str) -> bool {
    match headers
        .get(header::IF_RANGE)
        .and_then(|value| value.to_str().ok())
    {
        None => true,
        Some(value) => value.trim() == etag || value.trim() == last_modified,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    Whole,
    /// Start and exclusive end.
    Single(u64, u64),
    Unsatisfiable,
}

/// Parses a `Range` header; a malformed header or one with several ranges is ignored, as RFC 9110 allows.
fn parse_range(value: Option<&HeaderValue>, size: u64) -> RangeRequest {
    let Some(text) = value.and_then(|value| value.to_str().ok()) else {
        return RangeRequest::Whole;
    };
    let Some(spec) = text.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |text: &str| text.parse::<u64>().ok();

    match (first.is_empty(), last.is_empty()) {
        (true, true) => RangeRequest::Whole,
        (true, false) => match parse(last) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(suffix) => RangeRequest::Single(size.saturating_sub(suffix), size),
            None => RangeRequest::Whole,
        },
        (false, _) => {
            let Some(start) = parse(first) else {
                return RangeRequest::Whole;
            };
            let end = if last.is_empty() {
                size
            } else {
                match parse(last) {
                    Some(last) if last >= start => last.saturating_add(1).min(size),
                    _ => return RangeRequest::Whole,
                }
            };
            if start >= size {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Single(start, end)
            }
        }
    }
}

/// Returns the 404 of a file URL that names no asset, or whose asset's bytes are gone.
pub(crate) fn file_not_found() -> ApiError {
    ApiError::not_found("file_not_found", "No file exists at this URL.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str, size: u64) -> RangeRequest {
        parse_range(Some(&HeaderValue::from_str(text).unwrap()), size)
    }

    #[test]
    fn parses_single_ranges() {
        assert_eq!(range("bytes=0-9", 100), RangeRequest::Single(0, 10));
        assert_eq!(range("bytes=90-", 100), RangeRequest::Single(90, 100));
        assert_eq!(range("bytes=-10", 100), RangeRequest::Single(90, 100));
        assert_eq!(range("bytes=-500", 100), RangeRequest::Single(0, 100));
        assert_eq!(range("bytes=95-200", 100), RangeRequest::Single(95, 100));
    }

    #[test]
    fn rejects_ranges_outside_the_file() {
        assert_eq!(range("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(range("bytes=-0", 100), RangeRequest::Unsatisfiable);
        assert_eq!(range("bytes=0-0", 0), RangeRequest::Unsatisfiable);
    }

    #[test]
    fn ignores_multiple_or_malformed_ranges() {
        assert_eq!(range("bytes=0-1,5-6", 100), RangeRequest::Whole);
        assert_eq!(range("items=0-1", 100), RangeRequest::Whole);
        assert_eq!(range("bytes=5-1", 100), RangeRequest::Whole);
        assert_eq!(range("bytes=x-1", 100), RangeRequest::Whole);
    }

    #[test]
    fn disposition_has_ascii_fallback_and_utf8_name() {
        let value = content_disposition("café \"x\".png", false);
        assert_eq!(
            value.to_str().unwrap(),
            "inline; filename=\"caf_ _x_.png\"; filename*=UTF-8''caf%C3%A9%20%22x%22.png"
        );
    }
}
