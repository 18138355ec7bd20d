//! `GET /uploaders`: the distinct uploader ids of the repository's assets.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::ReadAccess;
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Uploader {
    /// `ghost` for permanent-token uploads, else a user id.
    pub id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploaderList {
    pub items: Vec<Uploader>,
}

/// Lists who uploaded the repository's assets.
#[utoipa::path(
    get,
    path = "/uploaders",
    tag = "uploaders",
    responses((status = 200, description = "Distinct uploader ids", body = UploaderList)),
    security(("bearer" = [])),
)]
pub async fn list_uploaders(
    State(state): State<AppState>,
    ReadAccess(caller): ReadAccess,
) -> ApiResult<Json<UploaderList>> {
    let ids = state.db.list_uploaders(caller.repository.id).await?;

    Ok(Json(UploaderList {
        items: ids.into_iter().map(|id| Uploader { id }).collect(),
    }))
}
