//! `GET /`: a short page that names the server and links to the API description.

use axum::response::Html;

// NOTE: the media library web page (browse, upload, edit) is not built yet; this page only links to the API docs.
const HOME_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>medialib</title></head>
<body>
<h1>medialib</h1>
<p>A media library server compatible with the Prismic Asset API.</p>
<ul>
<li><a href="/openapi.json">OpenAPI document</a> of every route</li>
<li><a href="/health">Health</a> and <a href="/metrics">metrics</a></li>
</ul>
</body>
</html>
"#;

/// Serves the home page.
#[utoipa::path(
    get,
    path = "/",
    tag = "operations",
    responses((status = 200, description = "The home page", body = String, content_type = "text/html")),
)]
pub async fn home() -> Html<&'static str> {
    Html(HOME_PAGE)
}
