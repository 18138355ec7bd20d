//! The media library page: `GET /` and its scripts, style sheet and icon under `GET /web/{file}`.
//!
//! The files under `web/` are compiled into the binary, so `cargo run` is the only build step. Each file is served
//! with a strong ETag (from the SHA-256 of the bytes) and `Cache-Control: no-cache`, so a browser revalidates it and
//! gets a 304 while the binary is unchanged. The page calls only the public API of the same server.

use std::sync::LazyLock;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::routes::files::if_none_match;
use crate::state::AppState;

/// One embedded file of the page.
struct WebFile {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const INDEX: WebFile = WebFile {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    bytes: include_bytes!("../../web/index.html"),
};

/// Files served under `/web/`; the page's modules import each other by these names.
const FILES: &[WebFile] = &[
    javascript("app.js", include_bytes!("../../web/app.js")),
    javascript("api.js", include_bytes!("../../web/api.js")),
    javascript("queue.js", include_bytes!("../../web/queue.js")),
    javascript("state.js", include_bytes!("../../web/state.js")),
    javascript("signin.js", include_bytes!("../../web/signin.js")),
    javascript("filters.js", include_bytes!("../../web/filters.js")),
    javascript("grid.js", include_bytes!("../../web/grid.js")),
    javascript("upload.js", include_bytes!("../../web/upload.js")),
    javascript("detail.js", include_bytes!("../../web/detail.js")),
    javascript("selection.js", include_bytes!("../../web/selection.js")),
    javascript("tags.js", include_bytes!("../../web/tags.js")),
    javascript("dialog.js", include_bytes!("../../web/dialog.js")),
    javascript("dom.js", include_bytes!("../../web/dom.js")),
    javascript("format.js", include_bytes!("../../web/format.js")),
    javascript("icons.js", include_bytes!("../../web/icons.js")),
    WebFile {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../web/style.css"),
    },
    WebFile {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../web/icon.svg"),
    },
];

const fn javascript(name: &'static str, bytes: &'static [u8]) -> WebFile {
    WebFile {
        name,
        content_type: "text/javascript; charset=utf-8",
        bytes,
    }
}

/// Strong ETags of [`INDEX`] and then of each entry of [`FILES`], in that order.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    std::iter::once(&INDEX)
        .chain(FILES)
        .map(|file| format!("\"{}\"", &hex::encode(Sha256::digest(file.bytes))[..32]))
        .collect()
});

/// Serves the media library page.
#[utoipa::path(
    get,
    path = "/",
    tag = "operations",
    responses(
        (status = 200, description = "The media library page", body = String, content_type = "text/html"),
        (status = 304, description = "Not modified"),
    ),
)]
pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    respond(&INDEX, &ETAGS[0], &headers, &state)
}

/// Serves a script, the style sheet or the icon of the media library page.
#[utoipa::path(
    get,
    path = "/web/{file}",
    tag = "operations",
    params(("file" = String, Path, description = "File name, such as `app.js`")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/javascript"),
            (String = "text/css"),
            (String = "image/svg+xml"),
        )),
        (status = 304, description = "Not modified"),
        (status = 404, description = "Unknown file", body = crate::error::ErrorBody),
    ),
)]
pub async fn file(
    State(state): State<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    // A name that is not valid percent-encoded UTF-8 names no file either, so it gets the same 404.
    let name = name.map(|Path(name)| name).unwrap_or_default();
    let Some(index) = FILES.iter().position(|file| file.name == name) else {
        return ApiError::not_found(
            "not_found",
            format!("The media library page has no file {name:?}; open / to load the page."),
        )
        .into_response();
    };
    respond(&FILES[index], &ETAGS[index + 1], &headers, &state)
}

fn respond(file: &WebFile, etag: &str, request_headers: &HeaderMap, state: &AppState) -> Response {
    let not_modified = if_none_match(request_headers, etag).unwrap_or(false);
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(file.content_type),
            )],
            file.bytes,
        )
            .into_response()
    };

    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(policy) =
        HeaderValue::from_str(&content_security_policy(&state.config.files_base_url))
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// Builds the page's policy: everything from this origin only, plus images and media from the origin of file URLs,
/// which `--files-public-url` or `--public-url` may set to another host than the one the browser used.
fn content_security_policy(files_base_url: &str) -> String {
    let files_origin = files_base_url
        .parse::<axum::http::Uri>()
        .ok()
        .and_then(|uri| Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?)))
        .unwrap_or_default();
    format!(
        "default-src 'self'; img-src 'self' {files_origin}; media-src 'self' {files_origin}; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_allows_files_origin() {
        let policy = content_security_policy("https://cdn.example.com/media");
        assert!(
            policy.contains("img-src 'self' https://cdn.example.com;"),
            "{policy}"
        );
        assert!(
            policy.contains("media-src 'self' https://cdn.example.com;"),
            "{policy}"
        );
        assert!(policy.starts_with("default-src 'self';"), "{policy}");
    }

    #[test]
    fn file_names_are_unique() {
        let mut names: Vec<&str> = FILES.iter().map(|file| file.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FILES.len());
    }
}
