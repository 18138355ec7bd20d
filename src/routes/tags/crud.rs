//! `GET /tags`, `POST /tags`, `PATCH /tags/{id}` and `DELETE /tags/{id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{ReadAccess, WriteAccess};
use crate::db::DbError;
use crate::domain::{now_millis, tag_name};
use crate::error::{ApiError, ApiResult};
use crate::routes::json::{required_string, JsonObject};
use crate::routes::model::{Tag, TagWithCountBody};
use crate::state::AppState;

/// Tags of the repository, ordered by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagList {
    pub items: Vec<TagWithCountBody>,
}

/// Name of a new or renamed tag.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TagName {
    /// 1 to 20 characters, stored exactly as sent; unique case-sensitively.
    #[schema(min_length = 1, max_length = 20)]
    name: String,
}

/// Lists the repository's tags with the number of assets carrying each.
#[utoipa::path(
    get,
    path = "/tags",
    tag = "tags",
    responses((status = 200, description = "Tags ordered by name", body = TagList)),
    security(("bearer" = [])),
)]
pub async fn list_tags(
    State(state): State<AppState>,
    ReadAccess(caller): ReadAccess,
) -> ApiResult<Json<TagList>> {
    let tags = state.db.list_tags(caller.repository.id).await?;

    Ok(Json(TagList {
        items: tags.into_iter().map(TagWithCountBody::from).collect(),
    }))
}

/// Creates a tag.
#[utoipa::path(
    post,
    path = "/tags",
    tag = "tags",
    request_body(content = TagName, content_type = "application/json"),
    responses(
        (status = 201, description = "The new tag", body = Tag),
        (status = 400, description = "Invalid or duplicate name", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn create_tag(
    State(state): State<AppState>,
    WriteAccess(caller): WriteAccess,
    JsonObject(body): JsonObject,
) -> ApiResult<(StatusCode, Json<Tag>)> {
    let name = parse_name(&body)?;

    let tag = match state
        .db
        .create_tag(caller.repository.id, &name, now_millis())
        .await
    {
        Ok(tag) => tag,
        Err(DbError::Conflict) => return Err(duplicate(&name)),
        Err(error) => return Err(error.into()),
    };

    Ok((StatusCode::CREATED, Json(Tag::from(tag))))
}

/// Renames a tag; assets carrying it are not modified.
#[utoipa::path(
    patch,
    path = "/tags/{id}",
    tag = "tags",
    params(("id" = String, Path, description = "Tag id")),
    request_body(content = TagName, content_type = "application/json"),
    responses(
        (status = 200, description = "The renamed tag", body = Tag),
        (status = 400, description = "Invalid name, or the name of another tag", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown tag", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn rename_tag(
    State(state): State<AppState>,
    WriteAccess(caller): WriteAccess,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Tag>> {
    let name = parse_name(&body)?;

    let tag = match state
        .db
        .rename_tag(caller.repository.id, &id, &name, now_millis())
        .await
    {
        Ok(tag) => tag,
        Err(DbError::NotFound) => return Err(ApiError::tag_not_found(&id)),
        Err(DbError::Conflict) => return Err(duplicate(&name)),
        Err(error) => return Err(error.into()),
    };

    Ok(Json(Tag::from(tag)))
}

/// Deletes a tag; the assets that carried it remain.
#[utoipa::path(
    delete,
    path = "/tags/{id}",
    tag = "tags",
    params(("id" = String, Path, description = "Tag id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown tag", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn delete_tag(
    State(state): State<AppState>,
    WriteAccess(caller): WriteAccess,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    match state.db.delete_tag(caller.repository.id, &id).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(DbError::NotFound) => Err(ApiError::tag_not_found(&id)),
        Err(error) => Err(error.into()),
    }
}

fn parse_name(body: &serde_json::Map<String, serde_json::Value>) -> ApiResult<String> {
    let name = required_string(body, "name")?;
    tag_name::check(&name).map_err(|message| {
        ApiError::bad_request("invalid_tag_name", format!("Invalid tag name: {message}."))
    })?;
    Ok(name)
}

fn duplicate(name: &str) -> ApiError {
    ApiError::bad_request(
        "duplicate_tag_name",
        format!("A tag named {name:?} already exists; use its id or choose another name."),
    )
}
