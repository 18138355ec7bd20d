//! `POST /tags/{id}/assets` and `DELETE /tags/{id}/assets`: add a tag to assets or remove it from them.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::auth::WriteAccess;
use crate::db::DbError;
use crate::domain::now_millis;
use crate::error::{ApiError, ApiResult};
use crate::routes::json::{required_id_list, JsonObject};
use crate::state::AppState;

/// Maximum number of asset ids in one assignment.
pub const MAX_ASSIGN_IDS: usize = 1000;

/// Assets to tag or untag.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AssetIds {
    /// 1 to 1000 asset ids; every one must exist.
    #[serde(rename = "assetIds")]
    #[schema(min_items = 1, max_items = 1000)]
    asset_ids: Vec<String>,
}

/// Adds a tag to assets.
#[utoipa::path(
    post,
    path = "/tags/{id}/assets",
    tag = "tags",
    params(("id" = String, Path, description = "Tag id")),
    request_body(content = AssetIds, content_type = "application/json"),
    responses(
        (status = 204, description = "The assets carry the tag"),
        (status = 400, description = "Empty or invalid list", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown tag or asset", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn assign_tag(
    State(state): State<AppState>,
    WriteAccess(caller): WriteAccess,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<StatusCode> {
    let asset_ids = required_id_list(&body, "assetIds", MAX_ASSIGN_IDS)?;

    set_tag(&state, caller.repository.id, &id, &asset_ids, true).await
}

/// Removes a tag from assets.
#[utoipa::path(
    delete,
    path = "/tags/{id}/assets",
    tag = "tags",
    params(("id" = String, Path, description = "Tag id")),
    request_body(content = AssetIds, content_type = "application/json"),
    responses(
        (status = 204, description = "The assets no longer carry the tag"),
        (status = 400, description = "Empty or invalid list", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown tag or asset", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn unassign_tag(
    State(state): State<AppState>,
    WriteAccess(caller): WriteAccess,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<StatusCode> {
    let asset_ids = required_id_list(&body, "assetIds", MAX_ASSIGN_IDS)?;

    set_tag(&state, caller.repository.id, &id, &asset_ids, false).await
}

async fn set_tag(
    state: &AppState,
    repository_id: i64,
    tag_id: &str,
    asset_ids: &[String],
    assign: bool,
) -> ApiResult<StatusCode> {
    match state
        .db
        .set_tag_on_assets(repository_id, tag_id, asset_ids, assign, now_millis())
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(DbError::NotFound) => Err(ApiError::tag_not_found(tag_id)),
        Err(DbError::UnknownReference(asset_id)) => Err(ApiError::asset_not_found(&asset_id)),
        Err(error) => Err(error.into()),
    }
}
