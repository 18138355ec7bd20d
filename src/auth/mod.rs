//! Authentication and access control of API routes.
//!
//! Checks run in this order: the bearer token (missing, unknown, expired or revoked: 401), the `repository` header
//! (missing: 400), access (another or an unknown repository, or a read-only token on a write: 403, the same answer
//! either way so a token cannot probe for repositories), then the rate limit (429).

pub mod password;
pub mod rate_limit;
pub mod shared_rate_limit;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use crate::db::{RepositoryRecord, TokenRecord};
use crate::domain::ids::hash_token;
use crate::domain::now_millis;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Uploader id of assets uploaded with a permanent token.
pub const GHOST_UPLOADER: &str = "ghost";

/// Caller of an API route: its repository, token and uploader id.
#[derive(Debug, Clone)]
pub struct Caller {
    pub repository: RepositoryRecord,
    pub token_id: String,
    /// `ghost` for permanent tokens, the user's id for session tokens.
    pub uploader_id: String,
}

/// Extractor for API routes that only read.
pub struct ReadAccess(pub Caller);

/// Extractor for API routes that change the repository; read-only tokens get 403.
pub struct WriteAccess(pub Caller);

impl FromRequestParts<AppState> for ReadAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        authorize(&parts.headers, state, false)
            .await
            .map(ReadAccess)
    }
}

impl FromRequestParts<AppState> for WriteAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        authorize(&parts.headers, state, true)
            .await
            .map(WriteAccess)
    }
}

/// Returns the bearer token of an `authorization` header, if it has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Looks up a token secret; returns it only while it is neither revoked nor expired.
pub async fn find_live_token(state: &AppState, secret: &str) -> ApiResult<Option<TokenRecord>> {
    let token = state.db.find_token(&hash_token(secret)).await?;
    Ok(token.filter(is_live))
}

fn is_live(token: &TokenRecord) -> bool {
    let expired = token
        .expires_at
        .is_some_and(|expires_at| expires_at <= now_millis());
    token.revoked_at.is_none() && !expired
}

async fn authorize(headers: &HeaderMap, state: &AppState, write: bool) -> ApiResult<Caller> {
    let Some(secret) = bearer_token(headers) else {
        return Err(ApiError::unauthorized(
            "Missing bearer token; send the header `authorization: Bearer <token>`.",
        ));
    };
    let repository_name = headers
        .get("repository")
        .and_then(|value| value.to_str().ok())
        .map(str::trim);

    // One query reads the token, the named repository and the token's access to it.
    let access = state
        .db
        .find_token_access(&hash_token(secret), repository_name.unwrap_or_default())
        .await?;
    let Some(access) = access.filter(|access| is_live(&access.token)) else {
        return Err(ApiError::unauthorized(
            "The token is unknown, expired or revoked; create a new one.",
        ));
    };

    let Some(repository_name) = repository_name else {
        return Err(ApiError::bad_request(
            "missing_repository",
            "Missing `repository` header; send the name of the repository, such as `repository: demo`.",
        ));
    };
    if repository_name.is_empty() {
        return Err(ApiError::bad_request(
            "missing_repository",
            "The `repository` header is empty; send the name of the repository.",
        ));
    }

    let token = access.token;
    let repository = match access.repository {
        Some(repository) if access.allowed => repository,
        _ => {
            return Err(ApiError::forbidden(format!(
                "This token has no access to repository {repository_name:?}."
            )))
        }
    };
    if write && token.read_only {
        return Err(ApiError::forbidden(
            "This token is read-only; use a write token to change the repository.",
        ));
    }

    if let Some(limit) = &state.rate_limit {
        limit.check(&token.id).await?;
    }

    let uploader_id = token
        .user_id
        .clone()
        .unwrap_or_else(|| GHOST_UPLOADER.to_owned());
    Ok(Caller {
        repository,
        token_id: token.id,
        uploader_id,
    })
}
