//! Image variants on file URLs: imgix parameters rendered, cached in the object store and served.
//!
//! A variant's storage key and ETag come from the source's SHA-256 and the normalised parameters with the chosen
//! format, so the order of the query and `%2C` for commas make no new variant. An empty cached object records that
//! `auto=compress` could not make the file smaller, so the stored bytes are served instead. SVG is served as
//! stored unless `fm` requests a raster format.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::db::AssetRecord;
use crate::domain::now_millis;
use crate::error::{ApiError, ApiResult};
use crate::imaging::negotiate::output_format;
use crate::imaging::params::{Format, ImageParams};
use crate::imaging::render::RenderError;
use crate::imaging::service::ImagingError;
use crate::imaging::single_flight::Role;
use crate::state::AppState;
use crate::storage::{content_hash, StorageError};

/// Lifetime of a variant in caches: its URL always renders the same bytes.
const VARIANT_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// Variants evicted per pass when the cache is over its budget.
const EVICTION_BATCH: u32 = 50;

/// Response to an image request with parameters.
pub enum VariantResponse {
    /// A rendered variant, or a 304 for one.
    Rendered(Response),
    /// The stored bytes; `vary_accept` when `auto=format` took part in the choice.
    Original { vary_accept: bool },
}

/// Works out the response for an image asset requested with the query `query`.
pub async fn respond(
    state: &AppState,
    asset: &AssetRecord,
    query: &str,
    headers: &HeaderMap,
    method: &Method,
) -> ApiResult<VariantResponse> {
    let params = ImageParams::parse(query);
    // A vector image scales itself, so only an explicit raster `fm` rasterises it, whatever `Accept` lists.
    if asset.content_type.starts_with("image/svg") && params.format.is_none() {
        return Ok(VariantResponse::Original { vary_accept: false });
    }
    let source_format = source_format(&asset.content_type);
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    let chosen = output_format(&params, source_format, accept);
    let vary_accept = chosen.varies_by_accept;

    let same_format = source_format == Some(chosen.format);
    let nothing_to_do = !params.changes_pixels()
        && (same_format || source_format.is_none() && params.format.is_none());
    if nothing_to_do && (!params.auto_compress || source_format.is_none()) {
        return Ok(VariantResponse::Original { vary_accept });
    }

    let source_digest = content_hash::digest_hex(&asset.content_hash);
    let fingerprint = variant_fingerprint(source_digest, &params, chosen.format);
    let key = format!("variants/{source_digest}/{fingerprint}");
    let etag = format!("\"v{fingerprint}\"");
    let response_headers = variant_headers(chosen.format, &etag, vary_accept);
    if super::files::if_none_match(headers, &etag) == Some(true) {
        return Ok(VariantResponse::Rendered(
            (StatusCode::NOT_MODIFIED, response_headers).into_response(),
        ));
    }

    let bytes = match state.store.read(&key).await {
        Ok(cached) => {
            touch(state, &key, &asset.content_hash, cached.len());
            cached
        }
        Err(StorageError::NotFound(_)) => {
            match render_once(state, asset, &params, chosen.format, &key, nothing_to_do).await? {
                Some(bytes) => bytes,
                None => return Ok(VariantResponse::Original { vary_accept }),
            }
        }
        Err(error) => return Err(error.into()),
    };
    if bytes.is_empty() {
        return Ok(VariantResponse::Original { vary_accept });
    }

    metrics::counter!("medialib_variant_responses_total").increment(1);
    let mut response_headers = response_headers;
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let body = if *method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(bytes)
    };
    Ok(VariantResponse::Rendered(
        (StatusCode::OK, response_headers, body).into_response(),
    ))
}

/// Renders and caches a variant once for every request that misses it at the same time. The first request starts
/// the render on its own task and the others wait for its outcome, so they take no place in the render queue.
async fn render_once(
    state: &AppState,
    asset: &AssetRecord,
    params: &ImageParams,
    format: Format,
    key: &str,
    only_compress: bool,
) -> ApiResult<Option<Bytes>> {
    let work = {
        let (state, asset, params, key) =
            (state.clone(), asset.clone(), params.clone(), key.to_owned());
        move || async move {
            render_and_store(&state, &asset, &params, format, &key, only_compress)
                .await
                .map_err(Arc::new)
        }
    };
    let (outcome, role) = state.imaging.variants_in_flight.run(key, work).await;
    if role == Role::Follower {
        metrics::counter!("medialib_render_waits_total").increment(1);
    }
    match outcome {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => Err(copy_error(&error)),
        Err(task_failed) => Err(ApiError::internal(task_failed)),
    }
}

/// Copies an error that several requests share, with its internal cause as text.
fn copy_error(error: &ApiError) -> ApiError {
    let mut copy = ApiError::new(error.status, error.code, error.message.clone());
    copy.retry_after = error.retry_after;
    copy.internal = error
        .internal
        .as_ref()
        .map(|cause| anyhow::anyhow!("{cause:#}"));
    copy
}

/// Renders a variant and caches it; returns `None` when the stored bytes should be served instead.
async fn render_and_store(
    state: &AppState,
    asset: &AssetRecord,
    params: &ImageParams,
    format: Format,
    key: &str,
    only_compress: bool,
) -> ApiResult<Option<Bytes>> {
    let limit = state.imaging.config.limits.max_source_pixels;
    if let (Some(width), Some(height)) = (asset.width, asset.height) {
        if (width as u64).saturating_mul(height as u64) > limit {
            return Err(source_too_large(width as u32, height as u32, limit));
        }
    }
    // A request that missed the cache just before the previous render of this variant stored it finds it here.
    match state.store.read(key).await {
        Ok(cached) => return Ok(Some(cached)),
        Err(StorageError::NotFound(_)) => {}
        Err(error) => return Err(error.into()),
    }
    let source = match state.store.read(&asset.storage_key).await {
        Ok(source) => source,
        // The asset was deleted after its row was read. The original's route returns the same 404.
        Err(StorageError::NotFound(_)) => return Err(super::files::file_not_found()),
        Err(error) => return Err(error.into()),
    };

    let rendered = match state.imaging.render(source, params.clone(), format).await {
        Ok(rendered) => rendered,
        Err(ImagingError::Render(RenderError::SourceTooLarge { width, height, limit })) => {
            return Err(source_too_large(width, height, limit))
        }
        Err(ImagingError::Render(RenderError::SvgBuffersTooLarge { pixels, limit })) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "source_too_large",
                format!(
                    "Rasterising this SVG at the requested size needs about {pixels} pixels of buffers, more than \
                     the limit of {limit}; request a smaller size or the SVG itself without `fm`."
                ),
            ))
        }
        Err(ImagingError::Render(error)) => {
            tracing::warn!(asset_id = %asset.id, error = %error, "rendering failed; serving the stored bytes");
            return Ok(None);
        }
        Err(error @ (ImagingError::Busy | ImagingError::TimedOut(_))) => {
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "render_busy",
                format!("The image could not be rendered now ({error}); retry shortly."),
            );
            response.retry_after = Some(2);
            return Err(response);
        }
    };
    metrics::counter!("medialib_renders_total").increment(1);

    // With `auto=compress` alone, a re-encoding that is not smaller is not worth serving.
    let bytes = if only_compress && rendered.bytes.len() as i64 >= asset.size {
        Bytes::new()
    } else {
        Bytes::from(rendered.bytes)
    };
    state.store.put(key, bytes.clone()).await?;
    state
        .db
        .record_variant(key, &asset.content_hash, bytes.len() as i64, now_millis())
        .await?;
    enforce_budget(state);
    Ok(Some(bytes))
}

fn source_too_large(width: u32, height: u32, limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "source_too_large",
        format!(
            "The image has {width}x{height} pixels, more than the {limit} that can be transformed; \
             request it without parameters."
        ),
    )
}

/// Marks a cached variant as used, in the background.
fn touch(state: &AppState, key: &str, source_hash: &str, size: usize) {
    let (state, key, source_hash) = (state.clone(), key.to_owned(), source_hash.to_owned());
    tokio::spawn(async move {
        if let Err(error) = state
            .db
            .record_variant(&key, &source_hash, size as i64, now_millis())
            .await
        {
            tracing::debug!(key = %key, error = %error, "failed to mark a variant as used");
        }
    });
}

/// Evicts the least recently used variants, in the background, until the cache is within its budget. One eviction
/// runs at a time per server, so concurrent renders do not evict the same bytes twice over. A render that finds an
/// eviction running leaves its variant to it: the running eviction measures the cache again after each batch and
/// once more after it ends, which is after that render recorded its variant.
fn enforce_budget(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        let budget = state.imaging.config.cache_budget as i64;
        loop {
            let Ok(running) = state.imaging.eviction.try_lock() else {
                return;
            };
            if !evict_batches(&state, budget).await {
                return;
            }
            drop(running);
            match state.db.variants_size().await {
                Ok(used) if used > budget => continue,
                Ok(_) => return,
                Err(error) => {
                    tracing::warn!(error = %error, "failed to measure the variant cache");
                    return;
                }
            }
        }
    });
}

/// Evicts batches of least recently used variants until the measured size is within `budget`. Returns false when
/// the database failed or the oldest variant survived its eviction, because the store failed to delete it.
async fn evict_batches(state: &AppState, budget: i64) -> bool {
    let mut previous_oldest: Option<String> = None;
    loop {
        let mut used = match state.db.variants_size().await {
            Ok(used) => used,
            Err(error) => {
                tracing::warn!(error = %error, "failed to measure the variant cache");
                return false;
            }
        };
        if used <= budget {
            return true;
        }
        let Ok(oldest) = state.db.least_used_variants(EVICTION_BATCH).await else {
            return false;
        };
        let Some((first, _)) = oldest.first() else {
            return true;
        };
        if previous_oldest.as_ref() == Some(first) {
            return false;
        }
        previous_oldest = Some(first.clone());
        for (key, size) in oldest {
            if used <= budget {
                break;
            }
            remove_variant(state, &key).await;
            used -= size;
        }
    }
}

/// Deletes a variant's bytes and its record.
pub async fn remove_variant(state: &AppState, key: &str) {
    if let Err(error) = state.store.delete(key).await {
        tracing::warn!(key = %key, error = %error, "failed to delete a variant");
        return;
    }
    if let Err(error) = state.db.remove_variant(key).await {
        tracing::warn!(key = %key, error = %error, "failed to forget a variant");
    }
}

fn variant_headers(format: Format, etag: &str, vary_accept: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(etag).expect("hex digest"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(VARIANT_CACHE_CONTROL),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if vary_accept {
        headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    }
    headers
}

/// Returns a digest of the source's hash, the normalised parameters and the output format, so that the ETag of a
/// variant differs between sources as well as between parameters. The hash enters as its hex digest only, so a
/// variant of an asset stored before migration 0006 keeps its key.
fn variant_fingerprint(source_digest: &str, params: &ImageParams, format: Format) -> String {
    let text = format!(
        "{source_digest};{}fm={}",
        params.canonical(),
        format.as_str()
    );
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// Returns the format a source can be encoded back to, from its stored media type.
fn source_format(content_type: &str) -> Option<Format> {
    Some(match content_type {
        "image/jpeg" => Format::Jpeg,
        "image/png" => Format::Png,
        "image/gif" => Format::Gif,
        "image/webp" => Format::Webp,
        "image/avif" => Format::Avif,
        _ => return None,
    })
}
