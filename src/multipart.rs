//! Helpers around `multer` for upload bodies: strict boundary parsing, an idle timeout on the body, filenames from
//! `filename*`, and the mapping of parse failures to 400 responses.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{header, HeaderMap, StatusCode};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use percent_encoding::percent_decode_str;

use crate::error::{ApiError, ApiResult};

/// Failure while reading the request body.
#[derive(Debug, thiserror::Error)]
pub enum BodyReadError {
    #[error("the client sent nothing for {0:?}")]
    TimedOut(Duration),
    #[error("reading the body failed: {0}")]
    Read(#[from] axum::Error),
}

/// Returns the boundary of a `multipart/form-data` content type; exactly one `boundary` parameter is accepted.
pub fn boundary(headers: &HeaderMap) -> ApiResult<String> {
    let invalid = |detail: &str| {
        ApiError::bad_request(
            "invalid_multipart",
            format!("{detail}; send the body as multipart/form-data with one boundary parameter."),
        )
    };
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return Err(invalid("The Content-Type header is missing"));
    };

    let mut pieces = content_type.split(';');
    let essence = pieces.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return Err(invalid(&format!("The Content-Type is {essence:?}")));
    }
    let boundaries: Vec<&str> = pieces
        .filter_map(|parameter| parameter.split_once('='))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim().trim_matches('"'))
        .collect();
    match boundaries.as_slice() {
        [boundary] if (1..=200).contains(&boundary.len()) => Ok((*boundary).to_owned()),
        [] => Err(invalid("The Content-Type has no boundary parameter")),
        [_] => Err(invalid("The boundary parameter is empty or too long")),
        _ => Err(invalid(
            "The Content-Type has more than one boundary parameter",
        )),
    }
}

/// Starts reading an upload body as the upload route does: the boundary from `headers` and an idle timeout of
/// `read_timeout` on the body. multer keeps its default constraints and sets no size limit, because the route limits
/// each part while it streams.
pub fn form_reader(
    headers: &HeaderMap,
    body: axum::body::Body,
    read_timeout: Duration,
) -> ApiResult<multer::Multipart<'static>> {
    Ok(upload_body(headers, body, read_timeout)?.0)
}

/// Like [`form_reader`], and also returns the body itself, to read what follows the closing delimiter.
pub fn upload_body(
    headers: &HeaderMap,
    body: axum::body::Body,
    read_timeout: Duration,
) -> ApiResult<(multer::Multipart<'static>, BodyTail)> {
    let boundary = boundary(headers)?;
    // Fused: multer may poll again after the end, and so does `BodyTail::finish`.
    let stream = with_idle_timeout(body.into_data_stream(), read_timeout).fuse();
    let shared = BodyTail(Arc::new(Mutex::new(Box::pin(stream))));
    Ok((multer::Multipart::new(shared.clone(), boundary), shared))
}

/// The request body, shared with multer. multer stops reading at the closing delimiter; [`BodyTail::finish`] then
/// reads the rest, so that a body that ends before its announced length fails the upload instead of storing it.
#[derive(Clone)]
pub struct BodyTail(Arc<Mutex<BodyStream>>);

type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, BodyReadError>> + Send>>;

impl Stream for BodyTail {
    type Item = Result<Bytes, BodyReadError>;

    fn poll_next(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut stream = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        stream.as_mut().poll_next(context)
    }
}

impl BodyTail {
    /// Reads the body to its end after the closing delimiter; up to `MAX_EPILOGUE_BYTES` may follow it, as
    /// RFC 2046 allows an epilogue.
    pub async fn finish(mut self) -> ApiResult<()> {
        let mut seen = 0;
        while let Some(chunk) = self.next().await {
            seen += chunk.map_err(|error| read_error(&error))?.len();
            if seen > MAX_EPILOGUE_BYTES {
                return Err(ApiError::bad_request(
                    "invalid_multipart",
                    format!(
                        "More than {MAX_EPILOGUE_BYTES} bytes follow the closing delimiter; end the body after it."
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Most bytes accepted after the closing delimiter of an upload body.
const MAX_EPILOGUE_BYTES: usize = 64 * 1024;

/// Ends the body stream with [`BodyReadError::TimedOut`] when the client sends nothing for `timeout`.
pub fn with_idle_timeout<S>(
    stream: S,
    timeout: Duration,
) -> impl Stream<Item = Result<Bytes, BodyReadError>> + Send
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Send + 'static,
{
    futures::stream::unfold(Some(Box::pin(stream)), move |state| async move {
        let mut stream = state?;
        match tokio::time::timeout(timeout, stream.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(stream))),
            Ok(Some(Err(error))) => Some((Err(BodyReadError::Read(error)), None)),
            Ok(None) => None,
            Err(_) => Some((Err(BodyReadError::TimedOut(timeout)), None)),
        }
    })
}

/// Returns the filename of a part, preferring an RFC 5987 `filename*` over `filename`.
pub fn part_filename(part: &multer::Field<'_>) -> Option<String> {
    let extended = part
        .headers()
        .get(header::CONTENT_DISPOSITION)
        .and_then(|value| value.to_str().ok())
        .and_then(extended_filename);
    extended.or_else(|| part.file_name().map(str::to_owned))
}

/// Parses `filename*=UTF-8''percent-encoded` from a Content-Disposition value.
fn extended_filename(disposition: &str) -> Option<String> {
    let value = disposition.split(';').find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("filename*")
            .then_some(value.trim())
    })?;
    let (charset, rest) = value.split_once('\'')?;
    let (_language, encoded) = rest.split_once('\'')?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    percent_decode_str(encoded)
        .decode_utf8()
        .ok()
        .map(|name| name.into_owned())
}

/// Maps a multipart parse failure to a response: 408 when the client went silent, else 400.
pub fn to_api_error(error: multer::Error) -> ApiError {
    if let multer::Error::StreamReadFailed(source) = &error {
        if let Some(error @ BodyReadError::TimedOut(_)) = source.downcast_ref::<BodyReadError>() {
            return read_error(error);
        }
    }
    ApiError::bad_request(
        "invalid_multipart",
        format!("The multipart body is malformed: {error}."),
    )
}

/// Maps a failure to read the body: 408 when the client went silent, else 400.
fn read_error(error: &BodyReadError) -> ApiError {
    match error {
        BodyReadError::TimedOut(timeout) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "The client sent no data for {} s; send the body without pauses.",
                timeout.as_secs()
            ),
        ),
        BodyReadError::Read(error) => ApiError::bad_request(
            "invalid_body",
            format!(
                "The request body ended early or could not be read ({error}); send the whole body."
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        headers
    }

    #[test]
    fn boundary_accepts_one_parameter() {
        assert_eq!(
            boundary(&headers("multipart/form-data; boundary=abc")).unwrap(),
            "abc"
        );
        assert_eq!(
            boundary(&headers(
                "Multipart/Form-Data; charset=utf-8; boundary=\"a b\""
            ))
            .unwrap(),
            "a b"
        );
    }

    #[test]
    fn boundary_rejects_missing_or_repeated_parameter() {
        for value in [
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "multipart/form-data; boundary=a; boundary=b",
            "application/json",
        ] {
            assert_eq!(
                boundary(&headers(value)).unwrap_err().status,
                StatusCode::BAD_REQUEST,
                "{value}"
            );
        }
        assert_eq!(
            boundary(&HeaderMap::new()).unwrap_err().code,
            "invalid_multipart"
        );
    }

    #[test]
    fn extended_filename_decodes_utf8() {
        let value = "form-data; name=\"file\"; filename=\"x.png\"; filename*=UTF-8''caf%C3%A9.png";
        assert_eq!(extended_filename(value).as_deref(), Some("café.png"));
        assert_eq!(
            extended_filename("form-data; name=\"file\"; filename=\"x.png\""),
            None
        );
    }
}
