//! HTTP routes. Every route of the server is listed in [`router`].

pub mod assets;
pub mod files;
pub mod json;
pub mod model;
pub mod openapi;
pub mod operations;
pub mod session;
pub mod tags;
pub mod uploaders;
pub mod variants;
pub mod web;

use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

/// Builds the router of every route, without middleware.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(web::page))
        .route("/web/{file}", get(web::file))
        .route(
            "/assets",
            get(assets::list::list_assets).post(assets::upload::upload_asset),
        )
        .route(
            "/assets/bulk-delete",
            post(assets::delete::bulk_delete_assets),
        )
        .route(
            "/assets/{id}",
            patch(assets::update::update_asset).delete(assets::delete::delete_asset),
        )
        .route(
            "/tags",
            get(tags::crud::list_tags).post(tags::crud::create_tag),
        )
        .route(
            "/tags/{id}",
            patch(tags::crud::rename_tag).delete(tags::crud::delete_tag),
        )
        .route(
            "/tags/{id}/assets",
            post(tags::assignment::assign_tag).delete(tags::assignment::unassign_tag),
        )
        .route("/uploaders", get(uploaders::list_uploaders))
        .route("/login", post(session::login))
        .route("/validate", get(session::validate))
        .route("/refreshtoken", get(session::refresh_token))
        .route("/files/{repository}/{file}", get(files::serve_file))
        .route("/health", get(operations::health))
        .route("/metrics", get(operations::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found(
        "not_found",
        "No route matches this path; see /openapi.json for the API.",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This route does not accept this method; see /openapi.json for the API.",
    )
}
