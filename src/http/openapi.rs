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

// ---- completing the collected document ----------------------------------------------------
//
// utoipa collects each handler's own annotations. What holds for whole classes of operations
// (every private route may answer 401, every JSON body may be malformed, every id in a path may
// name nothing) is declared here once, as shared `components.responses`, instead of on each of
// the eighty-odd handlers; `tests/api/contract.rs` checks the outcome against the authorization
// matrix. The OpenAPI links for stateful clients and fuzzers live here too.

/// Operations that need no session. Every other `/api/v1` operation answers 401
/// `unauthenticated` without one.
const PUBLIC: &[(&str, &str)] = &[
    ("get", "/api/v1/regions"),
    ("get", "/api/v1/categories"),
    ("get", "/api/v1/products"),
    ("get", "/api/v1/products/{id}"),
    ("get", "/api/v1/products/{id}/price-history"),
    ("get", "/api/v1/price-board"),
    ("get", "/api/v1/producers/{id}"),
    ("get", "/api/v1/certificates/{code}"),
    ("get", "/api/v1/certificates/{code}/print"),
    ("post", "/api/v1/auth/register/consumer"),
    ("post", "/api/v1/auth/register/enterprise"),
    ("post", "/api/v1/auth/register/producer"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/payments/stripe/webhook"),
];

/// Private operations that any signed-in account may call, so they never answer 403 (a member
/// list answers 404 to non-members). Every other private operation is limited to some roles.
const ANY_ACCOUNT: &[(&str, &str)] = &[
    ("get", "/api/v1/me"),
    ("post", "/api/v1/me/password"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/logout-all"),
    ("get", "/api/v1/organizations/{id}/members"),
];

/// (operation id, status, link name, target operation id, [(parameter, runtime expression)]).
type Link = (&'static str, &'static str, &'static str, &'static str, &'static [(&'static str, &'static str)]);

/// Links from the operations that create or list things to the operations that take their ids.
const LINKS: &[Link] = &[
    ("create_order", "201", "GetOrder", "get_order", &[("id", "$response.body#/id")]),
    ("create_order", "201", "CancelOrder", "cancel_order", &[("id", "$response.body#/id")]),
    ("create_order", "201", "PayOrder", "start_payment", &[("id", "$response.body#/id")]),
    ("create_order", "201", "OrderRefunds", "order_refunds", &[("id", "$response.body#/id")]),
    (
        "create_order",
        "201",
        "ConfirmReceipt",
        "confirm_receipt",
        &[("id", "$response.body#/id"), ("group_id", "$response.body#/groups/0/id")],
    ),
    ("create_bulk_order", "201", "GetOrder", "get_order", &[("id", "$response.body#/id")]),
    ("create_bulk_order", "201", "CancelOrder", "cancel_order", &[("id", "$response.body#/id")]),
    ("create_bulk_order", "201", "PayOrder", "start_payment", &[("id", "$response.body#/id")]),
    ("create_bulk_order", "201", "ApproveOrder", "approve_order", &[("id", "$response.body#/id")]),
    ("list_orders", "200", "GetOrder", "get_order", &[("id", "$response.body#/items/0/id")]),
    ("list_orders", "200", "NextPage", "list_orders", &[("cursor", "$response.body#/next_cursor")]),
    ("list_products", "200", "GetProduct", "get_product", &[("id", "$response.body#/items/0/id")]),
    ("list_products", "200", "PriceHistory", "price_history", &[("id", "$response.body#/items/0/id")]),
    ("list_products", "200", "PutInCart", "put_cart_item", &[("product_id", "$response.body#/items/0/id")]),
    ("list_products", "200", "NextPage", "list_products", &[("cursor", "$response.body#/next_cursor")]),
    ("get_product", "200", "PriceHistory", "price_history", &[("id", "$response.body#/id")]),
    ("get_product", "200", "PutInCart", "put_cart_item", &[("product_id", "$response.body#/id")]),
    ("get_product", "200", "Producer", "get_producer", &[("id", "$response.body#/producer_id")]),
    ("create_product", "201", "OwnProduct", "producer_product", &[("id", "$response.body#/id")]),
    ("create_product", "201", "PatchProduct", "patch_product", &[("id", "$response.body#/id")]),
    ("create_product", "201", "SetPrices", "set_prices", &[("id", "$response.body#/id")]),
    ("create_product", "201", "SetStock", "set_stock", &[("id", "$response.body#/id")]),
    ("create_product", "201", "Submit", "submit_product", &[("id", "$response.body#/id")]),
    ("producer_products", "200", "OwnProduct", "producer_product", &[("id", "$response.body#/items/0/id")]),
    ("me", "200", "Members", "list_members", &[("id", "$response.body#/memberships/0/organization_id")]),
    ("me", "200", "AddMember", "add_member", &[("id", "$response.body#/memberships/0/organization_id")]),
    (
        "list_members",
        "200",
        "ChangeRole",
        "change_member_role",
        &[("id", "$request.path.id"), ("account_id", "$response.body#/0/account_id")],
    ),
    (
        "add_member",
        "201",
        "ChangeRole",
        "change_member_role",
        &[("id", "$request.path.id"), ("account_id", "$response.body#/account_id")],
    ),
    (
        "add_member",
        "201",
        "RemoveMember",
        "remove_member",
        &[("id", "$request.path.id"), ("account_id", "$response.body#/account_id")],
    ),
    ("list_organizations", "200", "Verify", "verify_organization", &[("id", "$response.body#/items/0/id")]),
    ("admin_orders", "200", "Refund", "admin_refund", &[("id", "$response.body#/items/0/id")]),
];

/// The shared error responses: (status, component name, description).
const SHARED: &[(&str, &str, &str)] = &[
    ("400", "BadRequest", "`malformed_json` or `unreadable_body`: the body could not be read as JSON"),
    ("401", "Unauthenticated", "`unauthenticated`: sign in first (no session, or it ended)"),
    (
        "403",
        "Forbidden",
        "`forbidden` (this kind of account or role may not do this) or the organization's own refusal (`enterprise_not_verified`, `producer_not_verified`, `organization_inactive`, ...)",
    ),
    (
        "404",
        "NotFound",
        "`not_found`: no such object, or not one the caller may see (an id that is not a UUID included)",
    ),
    ("413", "PayloadTooLarge", "`payload_too_large`: the body is larger than `server.body_limit_bytes`"),
    ("415", "UnsupportedMediaType", "`unsupported_media_type`: the body must be `application/json`"),
    (
        "422",
        "ValidationFailed",
        "`validation_failed`: `errors` names each bad field (body, query or header) with its messages",
    ),
];

/// The served document: the collected one, completed as described above.
pub fn finish(doc: utoipa::openapi::OpenApi, session_cookie: &str, units: &[&str]) -> serde_json::Value {
    use serde_json::{Value, json};
    let mut doc = serde_json::to_value(doc).expect("the OpenAPI document serializes");
    let problem = json!({ "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } });
    let components = doc["components"].as_object_mut().expect("components");
    let responses = components.entry("responses").or_insert_with(|| json!({}));
    for (_, name, description) in SHARED {
        responses[*name] = json!({ "description": description, "content": problem.clone() });
    }
    components.insert(
        "securitySchemes".into(),
        json!({ "session": { "type": "apiKey", "in": "cookie", "name": session_cookie,
            "description": "the session cookie `POST /api/v1/auth/login` sets" } }),
    );

    body_schemas(&mut doc["components"]["schemas"], units);

    let Some(paths) = doc["paths"].as_object_mut() else { return doc };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, op) in item.iter_mut() {
            let key = (method.as_str(), path.as_str());
            let api = path.starts_with("/api/v1/");
            let private = api && !PUBLIC.contains(&key);
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let has = |place: &str| params.iter().any(|p| p["in"] == place);
            let json_body = op["requestBody"]["content"].get("application/json").is_some();
            let mut wanted = Vec::new();
            if private {
                wanted.push("401");
                if !ANY_ACCOUNT.contains(&key) {
                    wanted.push("403");
                }
                op["security"] = json!([{ "session": [] }]);
            }
            if has("path") {
                wanted.push("404");
            }
            if json_body {
                wanted.extend(["400", "413", "415", "422"]);
            }
            if api && (has("query") || has("header")) {
                wanted.push("422");
            }
            let declared = op["responses"].as_object_mut().expect("responses");
            for (status, name, _) in SHARED {
                let generic = declared.get(*status).is_some_and(|r| r["description"].as_str().unwrap_or("").is_empty());
                if wanted.contains(status) && (generic || !declared.contains_key(*status)) {
                    declared.insert(status.to_string(), json!({ "$ref": format!("#/components/responses/{name}") }));
                }
            }
            // Query, path and header parameters are absent or a value, never `null`.
            if let Some(params) = op.get_mut("parameters").and_then(|p| p.as_array_mut()) {
                for param in params {
                    if let Some(schema) = param.get_mut("schema") {
                        not_null(schema);
                    }
                    // A page's `limit` is 1 to 100 unless its operation states other bounds
                    // (tallies and targets take up to 500).
                    if param["in"] == "query" && param["name"] == "limit" && param["schema"].get("maximum").is_none() {
                        param["schema"]["minimum"] = json!(1);
                        param["schema"]["maximum"] = json!(crate::http::pagination::MAX_LIMIT);
                    }
                    if param["in"] == "query" && param["name"] == "cursor" {
                        param["description"] = Value::from(
                            "Opaque: the `next_cursor` of the previous page, passed back unchanged. Any other \
                             value is 422 `validation_failed` naming `cursor`.",
                        );
                        param["schema"]["pattern"] = json!("^[A-Za-z0-9_-]+$");
                    }
                    if param["in"] == "header" && param["name"] == "Idempotency-Key" {
                        // Anything else is 400 `idempotency_key_invalid`.
                        param["schema"]["pattern"] = json!("^[!-~]{1,255}$");
                    }
                }
            }
        }
    }

    for (from, status, name, to, parameters) in LINKS {
        let parameters: serde_json::Map<String, Value> =
            parameters.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect();
        let response = paths
            .values_mut()
            .flat_map(|item| item.as_object_mut().into_iter().flat_map(|ops| ops.values_mut()))
            .find(|op| op["operationId"] == *from)
            .and_then(|op| op["responses"].get_mut(*status));
        let response = response.unwrap_or_else(|| panic!("link {name} from {from} {status}: no such response"));
        response["links"][*name] = json!({ "operationId": to, "parameters": parameters });
    }
    doc
}

/// `{"type": ["string", "null"]}` → `{"type": "string"}`; `{"oneOf": [X, {"type": "null"}]}` → X.
/// (Reads with `get`: indexing a JSON object mutably would insert the keys it looks for.)
fn not_null(schema: &mut serde_json::Value) {
    if let Some(types) = schema.get_mut("type").and_then(|t| t.as_array_mut()) {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            schema["type"] = types[0].clone();
        }
    }
    if let Some(one_of) = schema.get("oneOf").and_then(|o| o.as_array()) {
        let rest: Vec<_> = one_of.iter().filter(|s| s.get("type").is_none_or(|t| t != "null")).cloned().collect();
        if rest.len() == 1 {
            *schema = rest[0].clone();
        }
    }
}

/// What the request bodies' attributes cannot say: the list of units (`units`, the catalog's, passed in
/// by startup since this module sits below the areas), the form of image URLs,
/// and the two shapes of an assistance target.
fn body_schemas(schemas: &mut serde_json::Value, units: &[&str]) {
    use serde_json::json;
    let units = json!(units);
    // An absolute http(s) URL with a host, at most 2,000 bytes (the check counts bytes, so the
    // length is stated for ASCII; other characters are refused past 2,000 bytes).
    let image =
        json!({ "type": "string", "maxLength": 2000, "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@]+(?:[/?#]\S*)?$" });
    for name in ["ProductInput", "ProductPatch"] {
        let Some(properties) = schemas.get_mut(name).and_then(|s| s.get_mut("properties")) else { continue };
        if let Some(unit) = properties.get_mut("unit") {
            unit["enum"] = units.clone();
        }
        if let Some(images) = properties.get_mut("images") {
            images["items"] = image.clone();
        }
    }
    // `{"year", "amount_fen"}` or `{"year", "percent", "budget_fen"}`; a field of the other
    // shape may be given as `null`.
    if let Some(target) = schemas.get_mut("TargetBody") {
        let year = target["properties"]["year"].clone();
        let description = target.get("description").cloned().unwrap_or(json!(""));
        let none = json!({ "type": "null" });
        let positive = json!({ "type": "integer", "format": "int64", "minimum": 1 });
        *target = json!({
            "description": description,
            "oneOf": [
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["amount_fen"],
                    "properties": {
                        "year": year.clone(),
                        "amount_fen": positive.clone(),
                        "percent": none.clone(),
                        "budget_fen": none.clone(),
                    },
                },
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["percent", "budget_fen"],
                    "properties": {
                        "year": year,
                        "amount_fen": none,
                        "percent": {
                            "type": "number",
                            "description": "Percent of the budget: more than 0, at most 100, at most two decimals.",
                            "exclusiveMinimum": 0,
                            "maximum": 100,
                            "multipleOf": 0.01,
                        },
                        "budget_fen": positive,
                    },
                },
            ],
        });
    }
}
