//! The OpenAPI document (collected from the handlers by utoipa) and a Swagger UI page whose
//! assets are compiled into the binary, so `/docs` works without internet access.

use axum::http::header;
use axum::response::{Html, IntoResponse};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tonggan (同甘) API",
        description = "Consumption-assistance marketplace: Gansu producers, Tianjin buyers, public prices.",
        license(name = "MIT")
    ),
    tags(
        (name = "health", description = "Liveness, readiness, metrics"),
        (name = "regions", description = "Gansu and Tianjin administrative divisions"),
        (name = "auth", description = "Registration, sessions, the signed-in account"),
        (name = "organizations", description = "Organization members"),
        (name = "catalog", description = "Public catalog, price history, price board"),
        (name = "producer", description = "A producer's own products and order groups"),
        (name = "orders", description = "Cart, orders, approvals, receipt"),
        (name = "payments", description = "Paying orders, Stripe webhooks, refunds"),
        (name = "tallies", description = "Assistance-purchase tallies, summary, reconciliation, exports"),
        (name = "admin", description = "Platform administration"),
    ),
    components(schemas(crate::error::Problem))
)]
pub struct ApiDoc;

const SWAGGER_JS: &[u8] = include_bytes!("../../static/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../../static/swagger-ui/swagger-ui.css");

const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>tonggan API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"#;

const DOCS_INIT: &str = r##"window.ui = SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#swagger-ui" });"##;

pub async fn docs_page() -> Html<&'static str> {
    Html(DOCS_HTML)
}

pub async fn docs_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript"), (header::CACHE_CONTROL, "public, max-age=86400")], SWAGGER_JS)
}

pub async fn docs_init() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript")], DOCS_INIT)
}

pub async fn docs_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css"), (header::CACHE_CONTROL, "public, max-age=86400")], SWAGGER_CSS)
}
