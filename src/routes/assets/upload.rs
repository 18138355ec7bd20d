//! `POST /assets`: upload a file as a new asset.
//!
//! The body streams to the object store while the first megabyte is kept for the probe, so memory stays flat
//! whatever the file size. The store hashes (BLAKE3) and writes the bytes on another thread while this task parses
//! the body.
//! Write order: a pending-object row, then the bytes (flushed to disk), then in one
//! transaction the asset row and the removal of the pending row. A process killed at any point leaves either a
//! complete asset or bytes that the sweeper deletes after the grace period. An upload that lasts longer than the grace
//! period pushes its row's deadline back while it streams, so the sweeper never takes the bytes of a live upload.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use bytes::Bytes;
use tokio::time::Instant;

use crate::auth::{Caller, WriteAccess};
use crate::db::{DbError, NewAsset};
use crate::domain::filename::Filename;
use crate::domain::ids::new_asset_id;
use crate::domain::now_millis;
use crate::domain::text_field;
use crate::error::{ApiError, ApiResult};
use crate::multipart;
use crate::probe::{self, HEAD_LEN};
use crate::routes::model::Asset;
use crate::state::AppState;
use crate::storage::content_hash::HashAlgorithm;
use crate::storage::{asset_key, Upload, UploadRecorder};

/// Largest text part accepted before its length is counted in characters: 500 code points of up to 4 bytes.
const MAX_TEXT_PART_BYTES: usize = text_field::MAX_TEXT_CHARS * 4;
/// Largest ignored part (an unknown field) that is read and discarded.
const MAX_IGNORED_PART_BYTES: usize = 64 * 1024;

/// Multipart body of an upload, as documented in the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file, with a filename.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// At most 500 characters.
    #[schema(nullable = false, max_length = 500)]
    notes: Option<String>,
    /// At most 500 characters.
    #[schema(nullable = false, max_length = 500)]
    credits: Option<String>,
    /// At most 500 characters.
    #[schema(nullable = false, max_length = 500)]
    alt: Option<String>,
}

/// Uploads a file and returns the new asset.
#[utoipa::path(
    post,
    path = "/assets",
    tag = "assets",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The new asset", body = Asset),
        (status = 400, description = "Invalid multipart body, missing file or invalid field", body = crate::error::ErrorBody),
        (status = 408, description = "The client stopped sending the body", body = crate::error::ErrorBody),
        (status = 413, description = "The file is larger than the configured limit", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn upload_asset(
    State(state): State<AppState>,
    WriteAccess(caller): WriteAccess,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Asset>> {
    let (mut parts, tail) = multipart::upload_body(&headers, body, state.config.read_timeout)?;

    let mut form = FormFields::default();
    let mut file: Option<StoredFile> = None;
    let mut outcome = read_form(&state, &caller, &mut parts, &mut form, &mut file).await;
    if outcome.is_ok() {
        outcome = tail.finish().await;
    }
    let file = match (outcome, file) {
        (Ok(()), Some(file)) if file.filename.is_some() => file,
        (outcome, file) => {
            if let Some(file) = file {
                file.discard(&state).await;
            }
            return Err(outcome.err().unwrap_or_else(|| {
                ApiError::bad_request(
                    "no_file",
                    "The request has no file; send it as a multipart part named `file` with a filename.",
                )
            }));
        }
    };

    let record = file.commit(&state, &caller, form).await?;

    metrics::counter!("medialib_uploaded_bytes_total").increment(record.size as u64);
    Ok(Json(Asset::from_record(
        record,
        &caller.repository.name,
        &state.config.files_base_url,
    )))
}

/// Text parts of an upload; an empty part counts as not sent.
#[derive(Debug, Default)]
struct FormFields {
    notes: Option<String>,
    credits: Option<String>,
    alt: Option<String>,
}

/// Reads every part; the file part streams to the storage prepared in `file`.
///
/// The storage (pending row and writing thread) is prepared while the first part's headers arrive. A client that
/// sends `Expect: 100-continue`, as curl does for bodies over 1 MiB, sends nothing before the body is first read, so
/// preparing first would add the preparation's time to every such upload.
async fn read_form(
    state: &AppState,
    caller: &Caller,
    parts: &mut multer::Multipart<'static>,
    form: &mut FormFields,
    file: &mut Option<StoredFile>,
) -> ApiResult<()> {
    let (prepared, first) = tokio::join!(StoredFile::start(state, caller), parts.next_field());
    let prepared = prepared.map(|prepared| file.insert(prepared));
    let mut next = first.map_err(multipart::to_api_error)?;
    let stored = prepared?;

    while let Some(mut part) = next {
        let name = part.name().unwrap_or_default().to_owned();
        let filename = multipart::part_filename(&part);

        if name == "file" || filename.is_some() {
            if stored.filename.is_some() {
                return Err(ApiError::bad_request(
                    "too_many_files",
                    "The request has more than one file part; send exactly one part named `file`.",
                ));
            }
            if name != "file" {
                return Err(ApiError::bad_request(
                    "no_file",
                    format!("The file part is named {name:?}; name it `file`."),
                ));
            }
            let Some(raw_filename) = filename else {
                return Err(ApiError::bad_request(
                    "missing_filename",
                    "The `file` part has no filename; send one in its Content-Disposition header.",
                ));
            };
            let filename = Filename::parse(&raw_filename).map_err(|error| {
                ApiError::bad_request("invalid_filename", format!("Invalid filename: {error}."))
            })?;
            stored.filename = Some(filename);
            stored
                .receive(&mut part, state.config.max_upload_size)
                .await?;
            // multer reads the next part only once this one is dropped.
            drop(part);
            next = parts.next_field().await.map_err(multipart::to_api_error)?;
            continue;
        }

        match name.as_str() {
            "notes" | "credits" | "alt" => {
                let text = read_text_part(&mut part, &name).await?;
                let value = (!text.is_empty()).then_some(text);
                match name.as_str() {
                    "notes" => form.notes = value,
                    "credits" => form.credits = value,
                    _ => form.alt = value,
                }
            }
            _ => skip_part(&mut part, &name).await?,
        }
        drop(part);
        next = parts.next_field().await.map_err(multipart::to_api_error)?;
    }
    Ok(())
}

async fn read_text_part(part: &mut multer::Field<'static>, name: &str) -> ApiResult<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = part.chunk().await.map_err(multipart::to_api_error)? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_TEXT_PART_BYTES {
            return Err(too_long(name, "more than 500"));
        }
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        ApiError::bad_request(
            "invalid_field",
            format!("The `{name}` part is not valid UTF-8."),
        )
    })?;
    if text.chars().count() > text_field::MAX_TEXT_CHARS {
        return Err(too_long(name, &text.chars().count().to_string()));
    }
    Ok(text)
}

fn too_long(name: &str, count: &str) -> ApiError {
    ApiError::bad_request(
        "field_too_long",
        format!(
            "`{name}` has {count} characters; send at most {}.",
            text_field::MAX_TEXT_CHARS
        ),
    )
}

async fn skip_part(part: &mut multer::Field<'static>, name: &str) -> ApiResult<()> {
    let mut seen = 0;
    while let Some(chunk) = part.chunk().await.map_err(multipart::to_api_error)? {
        seen += chunk.len();
        if seen > MAX_IGNORED_PART_BYTES {
            return Err(ApiError::bad_request(
                "invalid_multipart",
                format!("The unknown part {name:?} is too large; send only `file`, `notes`, `credits` and `alt`."),
            ));
        }
    }
    Ok(())
}

/// A file being stored under a new asset id.
struct StoredFile {
    state: AppState,
    /// Whether the asset row is inserted or the bytes are removed. Dropping an unsettled value (the client went away)
    /// removes the bytes in the background.
    settled: bool,
    id: String,
    key: String,
    /// Set when the file part starts.
    filename: Option<Filename>,
    upload: Option<Upload>,
    size: u64,
    head: Vec<u8>,
    /// When the grace period of the pending-object row is next pushed back, so that a slow upload keeps its bytes.
    renew_at: Instant,
}

impl StoredFile {
    async fn start(state: &AppState, caller: &Caller) -> ApiResult<Self> {
        let id = new_asset_id();
        let key = asset_key(caller.repository.id, &id);

        state
            .db
            .add_pending_object(&key, now_millis() + state.config.upload_grace_period_ms)
            .await?;
        let recorder: UploadRecorder = {
            let (db, key) = (state.db.clone(), key.clone());
            Box::new(move |upload_id| {
                Box::pin(async move { Ok(db.set_pending_upload_id(&key, &upload_id).await?) })
            })
        };
        let upload = match state
            .store
            .start_upload(&key, HashAlgorithm::FOR_UPLOADS, recorder)
            .await
        {
            Ok(upload) => upload,
            Err(error) => {
                let _ = state.db.remove_pending_object(&key).await;
                return Err(error.into());
            }
        };
        metrics::gauge!("medialib_uploads_in_flight").increment(1.0);

        Ok(Self {
            state: state.clone(),
            settled: false,
            id,
            key,
            filename: None,
            upload: Some(upload),
            size: 0,
            head: Vec::new(),
            renew_at: Instant::now() + renewal_interval(state),
        })
    }

    /// Streams the part's bytes to storage, enforcing the size limit as they arrive.
    async fn receive(&mut self, part: &mut multer::Field<'static>, max_size: u64) -> ApiResult<()> {
        while let Some(chunk) = part.chunk().await.map_err(multipart::to_api_error)? {
            self.size += chunk.len() as u64;
            if self.size > max_size {
                return Err(ApiError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "file_too_large",
                    format!("The file is larger than the limit of {max_size} bytes; send a smaller file."),
                ));
            }
            if self.head.len() < HEAD_LEN {
                let take = (HEAD_LEN - self.head.len()).min(chunk.len());
                self.head.extend_from_slice(&chunk[..take]);
            }
            self.write(chunk).await?;
            if Instant::now() >= self.renew_at {
                self.renew_grace_period().await?;
            }
        }
        Ok(())
    }

    /// Pushes the sweeper's deadline for these bytes a whole grace period past now.
    async fn renew_grace_period(&mut self) -> ApiResult<()> {
        let state = &self.state;
        let not_before = now_millis() + state.config.upload_grace_period_ms;
        if !state
            .db
            .extend_pending_object(&self.key, not_before)
            .await?
        {
            return Err(ApiError::unavailable(anyhow::anyhow!(
                "the pending row of {} was swept during the upload",
                self.key
            )));
        }
        self.renew_at = Instant::now() + renewal_interval(state);
        Ok(())
    }

    async fn write(&mut self, chunk: Bytes) -> ApiResult<()> {
        let upload = self
            .upload
            .as_mut()
            .expect("the upload is open until commit or discard");
        upload.write(chunk).await.map_err(ApiError::from)
    }

    /// Makes the bytes durable, probes them and inserts the asset row.
    async fn commit(
        mut self,
        state: &AppState,
        caller: &Caller,
        form: FormFields,
    ) -> ApiResult<crate::db::AssetRecord> {
        let upload = self
            .upload
            .take()
            .expect("the upload is open until commit or discard");
        let stored = match upload.finish().await {
            Ok(stored) => stored,
            Err(error) => {
                self.discard(state).await;
                return Err(error.into());
            }
        };

        let filename = self
            .filename
            .take()
            .expect("a file is committed once its part has started");
        let extension = filename.extension();
        let probe = probe::probe(&self.head, self.size as usize <= HEAD_LEN, &extension);
        let asset = NewAsset {
            id: self.id.clone(),
            repository_id: caller.repository.id,
            filename: filename.as_str().to_owned(),
            extension,
            size: self.size as i64,
            kind: probe.kind.as_str().to_owned(),
            content_type: probe.content_type,
            width: probe.width.map(i64::from),
            height: probe.height.map(i64::from),
            notes: form.notes,
            credits: form.credits,
            alt: form.alt,
            uploader_id: caller.uploader_id.clone(),
            content_hash: stored.content_hash,
            storage_key: self.key.clone(),
            created_at: now_millis(),
        };

        match state.db.insert_asset(asset).await {
            Ok(record) => {
                self.settled = true;
                metrics::gauge!("medialib_uploads_in_flight").decrement(1.0);
                Ok(record)
            }
            Err(DbError::NotFound) => {
                let cause = anyhow::anyhow!(
                    "the pending row of {} was swept during the upload",
                    self.key
                );
                self.discard(state).await;
                Err(ApiError::unavailable(cause))
            }
            Err(error) => {
                self.discard(state).await;
                Err(error.into())
            }
        }
    }

    /// Removes what was written; the sweeper retries if this fails.
    async fn discard(mut self, state: &AppState) {
        self.settled = true;
        metrics::gauge!("medialib_uploads_in_flight").decrement(1.0);
        remove_bytes(state, &self.key, self.upload.take()).await;
    }
}

impl Drop for StoredFile {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        metrics::gauge!("medialib_uploads_in_flight").decrement(1.0);
        let (state, key, upload) = (self.state.clone(), self.key.clone(), self.upload.take());
        tokio::spawn(async move { remove_bytes(&state, &key, upload).await });
    }
}

/// Returns how often a running upload renews its grace period: three times per period, so that a stalled
/// database call or a slow chunk does not let the deadline pass.
fn renewal_interval(state: &AppState) -> Duration {
    Duration::from_millis((state.config.upload_grace_period_ms / 3).max(100) as u64)
}

/// Aborts an unfinished upload and deletes its bytes and pending row.
async fn remove_bytes(state: &AppState, key: &str, upload: Option<Upload>) {
    if let Some(upload) = upload {
        upload.abort().await;
    }
    if let Err(error) = state.store.delete(key).await {
        tracing::warn!(key = %key, error = %error, "failed to delete the bytes of a failed upload");
        return;
    }
    if let Err(error) = state.db.remove_pending_object(key).await {
        tracing::warn!(key = %key, error = %error, "failed to forget the bytes of a failed upload");
    }
}
