//! `DELETE /assets/{id}` and `POST /assets/bulk-delete`.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::auth::WriteAccess;
use crate::error::{ApiError, ApiResult};
use crate::routes::json::{required_id_list, JsonObject};
use crate::state::AppState;

/// Maximum number of ids in one bulk delete.
pub const MAX_BULK_IDS: usize = 100;

/// Ids to delete at once.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct BulkDelete {
    /// 1 to 100 asset ids; unknown ids are ignored when at least one exists.
    #[schema(min_items = 1, max_items = 100)]
    ids: Vec<String>,
}

/// Deletes an asset; its file URL stops working.
#[utoipa::path(
    delete,
    path = "/assets/{id}",
    tag = "assets",
    params(("id" = String, Path, description = "Asset id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown asset", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn delete_asset(
    State(state): State<AppState>,
    WriteAccess(caller): WriteAccess,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let deleted = delete_and_remove_bytes(&state, caller.repository.id, &[id.clone()]).await?;
    if deleted == 0 {
        return Err(ApiError::asset_not_found(&id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes several assets.
#[utoipa::path(
    post,
    path = "/assets/bulk-delete",
    tag = "assets",
    request_body(content = BulkDelete, content_type = "application/json"),
    responses(
        (status = 204, description = "At least one asset was deleted"),
        (status = 400, description = "Empty list or more than 100 ids", body = crate::error::ErrorBody),
        (status = 404, description = "None of the ids exists", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn bulk_delete_assets(
    State(state): State<AppState>,
    WriteAccess(caller): WriteAccess,
    JsonObject(body): JsonObject,
) -> ApiResult<StatusCode> {
    let ids = required_id_list(&body, "ids", MAX_BULK_IDS)?;

    let deleted = delete_and_remove_bytes(&state, caller.repository.id, &ids).await?;
    if deleted == 0 {
        return Err(ApiError::not_found(
            "asset_not_found",
            "None of the ids is an asset of this repository.",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes asset rows, then their bytes; bytes that fail to delete stay recorded for the sweeper.
async fn delete_and_remove_bytes(
    state: &AppState,
    repository_id: i64,
    ids: &[String],
) -> ApiResult<usize> {
    let deleted = state
        .db
        .delete_assets(repository_id, ids, crate::domain::now_millis())
        .await?;
    for key in deleted.iter().map(|asset| &asset.storage_key) {
        match state.store.delete(key).await {
            Ok(()) => {
                if let Err(error) = state.db.remove_pending_object(key).await {
                    tracing::warn!(key = %key, error = %error, "failed to forget deleted bytes; the sweeper retries");
                }
            }
            Err(error) => {
                tracing::warn!(key = %key, error = %error, "failed to delete bytes; the sweeper retries")
            }
        }
    }
    remove_orphaned_variants(state, &deleted).await;
    Ok(deleted.len())
}

/// Deletes the cached variants of bytes that no asset has any more.
async fn remove_orphaned_variants(state: &AppState, deleted: &[crate::db::DeletedAsset]) {
    for asset in deleted {
        match state.db.orphaned_variants(&asset.content_hash).await {
            Ok(keys) => {
                for key in keys {
                    crate::routes::variants::remove_variant(state, &key).await;
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "failed to list the variants of a deleted asset")
            }
        }
    }
}
