//! `GET /assets`: list and search assets.

use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::ReadAccess;
use crate::db::{ListPosition, ListQuery};
use crate::domain::cursor::{filter_digest, Cursor};
use crate::domain::search::fold;
use crate::error::{ApiError, ApiResult};
use crate::routes::model::Asset;
use crate::state::AppState;

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;
pub const MAX_IDS: usize = 100;
const ASSET_TYPES: [&str; 5] = ["all", "image", "audio", "video", "document"];

/// Values of the `assetType` parameter.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum AssetTypeFilter {
    All,
    Image,
    Audio,
    Video,
    Document,
}

/// A page of assets.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetList {
    pub items: Vec<Asset>,
    /// Number of assets matching the query, across all pages.
    pub total: i64,
    /// Opaque position to pass as `cursor` for the next page; absent on the page after the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Requested `ids` that do not exist in the repository; absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_ids: Option<Vec<String>>,
}

/// Lists assets, newest first, or best match first with `keyword`.
#[utoipa::path(
    get,
    path = "/assets",
    tag = "assets",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000 (default 100)", minimum = 1, maximum = 1000),
        ("cursor" = Option<String>, Query, description = "Cursor of the previous page"),
        ("assetType" = Option<AssetTypeFilter>, Query, description = "Kind of assets to list"),
        ("keyword" = Option<String>, Query, description = "Text searched in filename, notes, credits and alt"),
        ("tags" = Option<Vec<String>>, Query, description = "Tag ids an asset must all carry (repeat the key)"),
        ("ids" = Option<Vec<String>>, Query, description = "Asset ids (repeat the key, at most 100)"),
        ("uploaderId" = Option<String>, Query, description = "Uploader id; `ghost` for permanent-token uploads"),
    ),
    responses(
        (status = 200, description = "A page of assets", body = AssetList),
        (status = 400, description = "Invalid parameter", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_assets(
    State(state): State<AppState>,
    ReadAccess(caller): ReadAccess,
    RawQuery(raw_query): RawQuery,
) -> ApiResult<Json<AssetList>> {
    let params = ListParams::parse(raw_query.as_deref().unwrap_or(""))?;
    let query = params.into_query(caller.repository.id)?;

    let page = state.listing.list(&state.db, &query).await?;

    let cursor = page.items.last().map(|last| {
        Cursor {
            score: last.position.score,
            created_at: last.position.created_at,
            id: last.position.id.clone(),
            filters: digest_of(&query),
        }
        .encode()
    });
    let missing_ids = (!page.missing_ids.is_empty()).then_some(page.missing_ids);
    let items = page
        .items
        .into_iter()
        .map(|item| {
            Asset::from_record(
                item.asset,
                &caller.repository.name,
                &state.config.files_base_url,
            )
        })
        .collect();
    Ok(Json(AssetList {
        items,
        total: page.total,
        cursor,
        missing_ids,
    }))
}

/// Raw listing parameters; repeated keys collect into lists.
#[derive(Debug, Default)]
struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
    asset_type: Option<String>,
    keyword: Option<String>,
    tags: Vec<String>,
    ids: Vec<String>,
    uploader_id: Option<String>,
}

impl ListParams {
    fn parse(raw: &str) -> ApiResult<Self> {
        let mut params = Self::default();
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "limit" => params.limit = Some(value),
                "cursor" => params.cursor = Some(value),
                "assetType" => params.asset_type = Some(value),
                "keyword" => params.keyword = Some(value),
                "tags" | "tags[]" => params.tags.push(value),
                "ids" | "ids[]" => params.ids.push(value),
                "uploaderId" => params.uploader_id = Some(value),
                _ => {}
            }
        }
        Ok(params)
    }

    fn into_query(self, repository_id: i64) -> ApiResult<ListQuery> {
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<u32>() {
                Ok(limit @ 1..=MAX_LIMIT) => limit,
                _ => {
                    return Err(ApiError::bad_request(
                        "invalid_limit",
                        format!(
                            "Invalid limit {text:?}; send a whole number from 1 to {MAX_LIMIT}."
                        ),
                    ))
                }
            },
        };

        let kind = match self.asset_type.as_deref() {
            None | Some("all") => None,
            Some(kind) if ASSET_TYPES.contains(&kind) => Some(kind.to_owned()),
            Some(other) => {
                return Err(ApiError::bad_request(
                    "invalid_asset_type",
                    format!(
                        "Invalid assetType {other:?}; use all, image, audio, video or document."
                    ),
                ))
            }
        };

        let keyword = self
            .keyword
            .map(|keyword| fold(&keyword))
            .filter(|keyword| !keyword.is_empty());
        let tags = distinct(
            self.tags
                .into_iter()
                .filter(|tag| !tag.is_empty())
                .collect(),
        );
        let ids = distinct(self.ids.into_iter().filter(|id| !id.is_empty()).collect());
        if ids.len() > MAX_IDS {
            return Err(ApiError::bad_request(
                "too_many_ids",
                format!(
                    "{} ids were sent; send at most {MAX_IDS} per request.",
                    ids.len()
                ),
            ));
        }
        let uploader_id = self.uploader_id.filter(|uploader| !uploader.is_empty());

        let mut query = ListQuery {
            repository_id,
            limit,
            after: None,
            kind,
            keyword,
            tags,
            ids,
            uploader_id,
        };
        if let Some(text) = self.cursor.filter(|text| !text.is_empty()) {
            let Some(cursor) = Cursor::decode(&text, &digest_of(&query)) else {
                return Err(ApiError::bad_request(
                    "invalid_cursor",
                    "Invalid cursor; pass the cursor of the previous page unchanged, with the same filters.",
                ));
            };
            if cursor.score.is_some() != query.keyword.is_some() {
                return Err(ApiError::bad_request(
                    "invalid_cursor",
                    "Invalid cursor for this query.",
                ));
            }
            query.after = Some(ListPosition {
                score: cursor.score,
                created_at: cursor.created_at,
                id: cursor.id,
            });
        }
        Ok(query)
    }
}

/// Returns the values without repeats, in first-seen order.
fn distinct(values: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    values
        .into_iter()
        .filter(|value| seen.insert(value.clone()))
        .collect()
}

/// Returns the digest of the filters of a query, which a cursor must match.
fn digest_of(query: &ListQuery) -> String {
    let mut tags = query.tags.clone();
    tags.sort();
    let mut ids = query.ids.clone();
    ids.sort();
    filter_digest(&[
        ("assetType", query.kind.clone().unwrap_or_default()),
        ("keyword", query.keyword.clone().unwrap_or_default()),
        ("tags", tags.join("\n")),
        ("ids", ids.join("\n")),
        ("uploaderId", query.uploader_id.clone().unwrap_or_default()),
    ])
}
