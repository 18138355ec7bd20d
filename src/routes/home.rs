//! `GET /`: a short page that tells a visitor what runs here and where the API is described.

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
pub async fn home() -> Html<&'static str> {
    Html(HOME_PAGE)
}
