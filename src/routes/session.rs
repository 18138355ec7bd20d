//! The legacy Authentication API: `POST /login`, `GET /validate` and `GET /refreshtoken`.
//!
//! Session tokens are returned as plain text, as Prismic's service does. A session reaches every repository of its
//! user and lasts `--session-ttl` seconds; a new login leaves other sessions alone, and a password change ends them.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::db::NewToken;
use crate::domain::ids::{hash_token, new_token_id, new_token_secret};
use crate::domain::now_millis;
use crate::error::{ApiError, ApiResult};
use crate::routes::json::{required_string, JsonObject};
use crate::state::AppState;

/// Credentials of a user.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Credentials {
    email: String,
    password: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TokenQuery {
    /// A session token.
    token: Option<String>,
}

/// Signs a user in and returns a session token as plain text.
#[utoipa::path(
    post,
    path = "/login",
    tag = "authentication",
    request_body(content = Credentials, content_type = "application/json"),
    responses(
        (status = 200, description = "A session token", body = String, content_type = "text/plain"),
        (status = 400, description = "Missing email or password", body = crate::error::ErrorBody),
        (status = 401, description = "Wrong email or password", body = crate::error::ErrorBody),
        (status = 429, description = "Too many failed sign-ins for this email", body = crate::error::ErrorBody),
    ),
)]
pub async fn login(
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> ApiResult<String> {
    // Emails are stored in lower case, so a sign-in matches whatever case the user types.
    let email = required_string(&body, "email")?.to_lowercase();
    let password = required_string(&body, "password")?;
    if let Some(limit) = &state.login_limit {
        limit.check_login(&email).await?;
    }

    let user = state.db.find_user_by_email(&email).await?;
    let phc = user.as_ref().and_then(|user| user.password_hash.clone());
    let matches = match phc {
        Some(phc) => {
            tokio::task::spawn_blocking(move || crate::auth::password::verify(&password, &phc))
                .await
                .map_err(ApiError::internal)?
        }
        None => false,
    };
    let (Some(user), true) = (user, matches) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "Wrong email or password.",
        ));
    };

    create_session(&state, user.id).await
}

/// Returns 200 when a session token is valid, 401 when not.
#[utoipa::path(
    get,
    path = "/validate",
    tag = "authentication",
    params(TokenQuery),
    responses(
        (status = 200, description = "The token is valid"),
        (status = 401, description = "The token is unknown, expired or revoked", body = crate::error::ErrorBody),
    ),
)]
pub async fn validate(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
) -> ApiResult<StatusCode> {
    live_session(&state, query.token.as_deref()).await?;

    Ok(StatusCode::OK)
}

/// Returns a new session token for a valid one; the old token stays valid until it expires.
#[utoipa::path(
    get,
    path = "/refreshtoken",
    tag = "authentication",
    params(TokenQuery),
    responses(
        (status = 200, description = "A new session token", body = String, content_type = "text/plain"),
        (status = 401, description = "The token is unknown, expired or revoked", body = crate::error::ErrorBody),
    ),
)]
pub async fn refresh_token(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
) -> ApiResult<String> {
    let user_id = live_session(&state, query.token.as_deref()).await?;

    create_session(&state, user_id).await
}

/// Returns the user id of a live session token.
async fn live_session(state: &AppState, token: Option<&str>) -> ApiResult<String> {
    let invalid = || {
        ApiError::unauthorized(
            "The session token is missing, unknown, expired or revoked; sign in again.",
        )
    };
    let Some(secret) = token.filter(|token| !token.is_empty()) else {
        return Err(invalid());
    };
    match crate::auth::find_live_token(state, secret).await? {
        Some(record) => record.user_id.ok_or_else(invalid),
        None => Err(invalid()),
    }
}

async fn create_session(state: &AppState, user_id: String) -> ApiResult<String> {
    let secret = new_token_secret("mls");
    let now = now_millis();
    let token = NewToken {
        id: new_token_id(),
        secret_hash: hash_token(&secret),
        repository_id: None,
        user_id: Some(user_id),
        read_only: false,
        label: Some("session".to_owned()),
        created_at: now,
        expires_at: Some(now + state.config.session_ttl_ms),
    };
    state.db.create_token(token).await?;
    Ok(secret)
}
