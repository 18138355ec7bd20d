//! `PATCH /assets/{id}`: change notes, credits, alt, filename or tags.

use axum::extract::{Path, State};
use axum::Json;

use crate::auth::WriteAccess;
use crate::db::{AssetPatch, DbError, Rename};
use crate::domain::filename::Filename;
use crate::domain::now_millis;
use crate::domain::text_field;
use crate::error::{ApiError, ApiResult};
use crate::routes::json::{optional_string, optional_string_list, JsonObject};
use crate::routes::model::Asset;
use crate::state::AppState;

/// Fields a PATCH may change; keys left out stay as they are.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AssetUpdate {
    /// At most 500 characters; "" clears.
    #[schema(nullable = false, max_length = 500)]
    notes: Option<String>,
    /// At most 500 characters; "" clears.
    #[schema(nullable = false, max_length = 500)]
    credits: Option<String>,
    /// At most 500 characters; "" clears.
    #[schema(nullable = false, max_length = 500)]
    alt: Option<String>,
    /// New filename, 1 to 500 characters without control characters; the URL keeps the uploaded name.
    #[schema(nullable = false, min_length = 1, max_length = 500)]
    filename: Option<String>,
    /// The whole new set of tag ids; [] clears.
    #[schema(nullable = false)]
    tags: Option<Vec<String>>,
}

/// Updates an asset.
#[utoipa::path(
    patch,
    path = "/assets/{id}",
    tag = "assets",
    params(("id" = String, Path, description = "Asset id")),
    request_body(content = AssetUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated asset", body = Asset),
        (status = 400, description = "Invalid field or unknown tag id", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown asset", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn update_asset(
    State(state): State<AppState>,
    WriteAccess(caller): WriteAccess,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Asset>> {
    let mut patch = AssetPatch::default();
    for (key, slot) in [
        ("notes", &mut patch.notes),
        ("credits", &mut patch.credits),
        ("alt", &mut patch.alt),
    ] {
        *slot = optional_string(&body, key)?;
        if let Some(text) = slot {
            text_field::check_length(key, text)
                .map_err(|message| ApiError::bad_request("field_too_long", message))?;
        }
    }
    if let Some(raw) = optional_string(&body, "filename")? {
        let filename = Filename::parse(&raw).map_err(|error| {
            ApiError::bad_request("invalid_filename", format!("Invalid filename: {error}."))
        })?;
        patch.filename = Some(Rename {
            extension: filename.extension(),
            filename: filename.into_string(),
        });
    }
    patch.tags = optional_string_list(&body, "tags")?;

    let record = match state
        .db
        .update_asset(caller.repository.id, &id, patch, now_millis())
        .await
    {
        Ok(record) => record,
        Err(DbError::NotFound) => return Err(ApiError::asset_not_found(&id)),
        Err(DbError::UnknownReference(tag_id)) => {
            return Err(ApiError::bad_request(
                "unknown_tag",
                format!(
                    "No tag with id {tag_id:?} exists; create it with POST /tags and send its id."
                ),
            ))
        }
        Err(error) => return Err(error.into()),
    };

    Ok(Json(Asset::from_record(
        record,
        &caller.repository.name,
        &state.config.files_base_url,
    )))
}
