//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Components, OpenApi as OpenApiDocument};
use utoipa::{Modify, OpenApi};

use super::{assets, files, operations, session, tags, uploaders, web};
use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "medialib",
        description = "A self-hosted media library server compatible with the Prismic Asset API. API routes need \
                       `authorization: Bearer <token>` and `repository: <name>`; they are rate-limited per token.",
    ),
    paths(
        assets::list::list_assets,
        assets::upload::upload_asset,
        assets::update::update_asset,
        assets::delete::delete_asset,
        assets::delete::bulk_delete_assets,
        tags::crud::list_tags,
        tags::crud::create_tag,
        tags::crud::rename_tag,
        tags::crud::delete_tag,
        tags::assignment::assign_tag,
        tags::assignment::unassign_tag,
        uploaders::list_uploaders,
        session::login,
        session::validate,
        session::refresh_token,
        files::serve_file,
        operations::health,
        operations::metrics,
        web::page,
        web::file,
        openapi_json,
    ),
    components(schemas(ErrorBody, assets::list::AssetTypeFilter)),
    modifiers(&ApiRules),
)]
struct ApiDoc;

/// Adds what routes share: the 431 response of every route, and on API routes the bearer scheme, the `repository`
/// header and the 401/403/429/503 responses.
struct ApiRules;

impl Modify for ApiRules {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ObjectBuilder, Ref, RefOr, Required, ResponseBuilder, Type};

        let components = openapi.components.get_or_insert_with(Components::new);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );

        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::content::ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        let repository: Parameter = ParameterBuilder::new()
            .name("repository")
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some("Repository name"))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build();

        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                operation.responses.responses.insert(
                    "431".into(),
                    RefOr::T(error(
                        "`headers_too_large`: more than 100 header fields or 64 KiB of headers",
                    )),
                );
                if operation.security.is_none() {
                    continue;
                }
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .push(repository.clone());
                let responses = &mut operation.responses.responses;
                responses.entry("400".into()).or_insert_with(|| {
                    RefOr::T(error("Invalid request or missing `repository` header"))
                });
                responses.insert(
                    "401".into(),
                    RefOr::T(error("Missing, unknown, expired or revoked token")),
                );
                responses.insert(
                    "403".into(),
                    RefOr::T(error(
                        "The token has no access to this repository or is read-only",
                    )),
                );
                responses.insert(
                    "429".into(),
                    RefOr::T(error("Rate limit exceeded; see the `retry-after` header")),
                );
                responses.entry("503".into()).or_insert_with(|| {
                    RefOr::T(error(
                        "The database or the file store is unavailable; see the `retry-after` header",
                    ))
                });
            }
        }
    }
}

/// Returns the OpenAPI document.
pub fn document() -> OpenApiDocument {
    ApiDoc::openapi()
}

/// Serves the OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This OpenAPI document", content_type = "application/json")),
)]
pub async fn openapi_json() -> Json<OpenApiDocument> {
    Json(document())
}
