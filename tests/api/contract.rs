//! The OpenAPI document as a contract (issue 11): every `$ref` resolves, operations declare
//! what they answer, request schemas carry the rules the server enforces, and links lead from
//! created objects to the operations that use their ids. `make fuzz` checks all of it against
//! the running server; these catch regressions without the fuzzer.

use serde_json::{Value, json};

use crate::helpers::{self, TestApp, assert_problem, parse};

async fn document() -> Value {
    let app = TestApp::spawn().await;
    app.get("/api/v1/openapi.json").await.json().await.unwrap()
}

/// Every `"$ref": "#/..."` in `value`, with where it was found.
fn refs<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(target)) => out.push((at.clone(), target)),
                    _ => refs(v, format!("{at}/{key}"), out),
                }
            }
        }
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| refs(v, format!("{at}/{i}"), out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_reference_of_the_document_resolves() {
    let doc = document().await;
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    assert!(found.len() > 100, "only {} references", found.len());
    let unresolved: Vec<String> = found
        .iter()
        .filter(|(_, target)| target.strip_prefix('#').and_then(|pointer| doc.pointer(pointer)).is_none())
        .map(|(at, target)| format!("{at} → {target}"))
        .collect();
    assert!(unresolved.is_empty(), "unresolvable references:\n{}", unresolved.join("\n"));
}

/// The declared statuses of an operation, references to shared responses included.
fn statuses(doc: &Value, method: &str, path: &str) -> Vec<String> {
    let responses = doc["paths"][path][method]["responses"].as_object();
    responses.unwrap_or_else(|| panic!("{method} {path} is not documented")).keys().cloned().collect()
}

#[tokio::test]
async fn operations_declare_what_they_answer_with_shared_problem_responses() {
    let doc = document().await;
    for (method, path, wanted) in [
        ("get", "/api/v1/orders", &["200", "401", "403", "422"][..]),
        ("put", "/api/v1/cart/items/{product_id}", &["200", "400", "401", "403", "404", "413", "415", "422"]),
        ("post", "/api/v1/orders", &["201", "400", "401", "403", "409", "413", "415", "422", "429"]),
        ("get", "/api/v1/producer/products/{id}", &["200", "401", "403", "404"]),
        ("get", "/api/v1/regions", &["200", "422"]),
        ("post", "/api/v1/auth/register/consumer", &["201", "400", "409", "413", "415", "422", "429"]),
    ] {
        let declared = statuses(&doc, method, path);
        let missing: Vec<&&str> = wanted.iter().filter(|s| !declared.iter().any(|d| d == *s)).collect();
        assert!(missing.is_empty(), "{method} {path} does not declare {missing:?} (declares {declared:?})");
    }
    let shared = &doc["components"]["responses"];
    assert_eq!(
        doc["paths"]["/api/v1/orders"]["get"]["responses"]["401"]["$ref"],
        "#/components/responses/Unauthenticated"
    );
    assert_eq!(
        shared["ValidationFailed"]["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    let errors = &doc["components"]["schemas"]["Problem"]["properties"]["errors"];
    assert!(errors.to_string().contains("\"array\""), "the 422 `errors` map is typed: {errors}");
    // Public operations need no session, private ones say which cookie.
    assert!(doc["paths"]["/api/v1/products"]["get"]["responses"].get("401").is_none());
    assert_eq!(doc["paths"]["/api/v1/cart"]["get"]["security"][0]["session"], serde_json::json!([]));
}

#[tokio::test]
async fn request_schemas_carry_the_rules_the_server_enforces() {
    let doc = document().await;
    let schemas = &doc["components"]["schemas"];
    let account = &schemas["AccountRequest"];
    assert_eq!(account["additionalProperties"], false);
    assert_eq!(account["properties"]["email"]["format"], "email");
    assert_eq!(account["properties"]["password"]["minLength"], 10);
    assert_eq!(account["properties"]["display_name"]["minLength"], 1);
    assert_eq!(schemas["CartQty"]["properties"]["qty"]["minimum"], 1);
    let params = doc["paths"]["/api/v1/orders"]["get"]["parameters"].as_array().unwrap();
    let param = |name: &str| params.iter().find(|p| p["name"] == name).unwrap().clone();
    assert_eq!(param("limit")["schema"]["maximum"], 100);
    assert!(param("cursor")["description"].as_str().unwrap().contains("Opaque"));
    let level = doc["paths"]["/api/v1/regions"]["get"]["parameters"][0].clone();
    assert_eq!(level["name"], "level");
    assert!(level["schema"].to_string().contains("prefecture"), "level is inline: {level}");

    // Products, prices and stock: lengths, ranges, the list of units, image URLs.
    let product = &schemas["ProductInput"]["properties"];
    assert_eq!(product["title"]["maxLength"], 120);
    assert_eq!(product["stock"]["maximum"], 1_000_000);
    assert_eq!(product["unit"]["enum"][0], "斤");
    assert_eq!(product["images"]["maxItems"], 10);
    assert!(product["images"]["items"]["pattern"].as_str().unwrap().contains("://"));
    assert_eq!(product["tiers"]["maxItems"], 10);
    assert_eq!(schemas["ProductPatch"]["properties"]["spec"]["maxLength"], 200);
    assert_eq!(schemas["Tier"]["properties"]["unit_price_fen"]["maximum"], 10_000_000);
    assert_eq!(schemas["StockInput"]["properties"]["stock"]["minimum"], 0);
    assert_eq!(schemas["CertificationInput"]["properties"]["number"]["maxLength"], 64);
    // Reasons, notes and shipping.
    for (schema, field, max) in [
        ("RejectInput", "reason", 500),
        ("ReasonRequest", "reason", 500),
        ("RefundRequest", "reason", 500),
        ("NoteInput", "note", 500),
        ("ResolveInput", "note", 500),
        ("ShipInput", "carrier", 50),
        ("ShipInput", "tracking_no", 64),
        ("BankRefundCompletion", "bank_reference", 64),
    ] {
        let property = &schemas[schema]["properties"][field];
        assert_eq!(property["maxLength"], max, "{schema}.{field}: {property}");
        assert!(property["pattern"].is_string(), "{schema}.{field}: {property}");
    }
    assert_eq!(schemas["ShipInput"]["properties"]["carrier"]["minLength"], 1);
    // A target is an amount or a percentage of a budget, never both.
    let shapes = schemas["TargetBody"]["oneOf"].as_array().unwrap();
    assert_eq!(shapes.len(), 2);
    assert_eq!(shapes[1]["properties"]["percent"]["maximum"], 100);
    // Days of exports are required dates; a bulk order's purchase-order number is bounded.
    let params = doc["paths"]["/api/v1/admin/exports/ledger.csv"]["get"]["parameters"].as_array().unwrap();
    let from = params.iter().find(|p| p["name"] == "from").unwrap();
    assert_eq!(from["required"], true);
    assert_eq!(from["schema"]["format"], "date");
    let params = doc["paths"]["/api/v1/orders/bulk"]["post"]["parameters"].as_array().unwrap();
    let po = params.iter().find(|p| p["name"] == "po_number").unwrap();
    assert_eq!(po["schema"]["maxLength"], 64);
    // Pages take 1 to 100; the operations that state other bounds keep them.
    let params = doc["paths"]["/api/v1/admin/targets"]["get"]["parameters"].as_array().unwrap();
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(limit["schema"]["maximum"], 500);
}

/// serde's derived structs would read `[]` as a body with every field left out; the document
/// says every body is an object, and the fuzzer sent `[]` to `PUT /enterprise/settings`, which
/// cleared the approval threshold.
#[tokio::test]
async fn a_json_array_where_the_body_object_belongs_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let enterprise = app.verified_enterprise().await;
    let owner = app.as_(&enterprise);
    assert_eq!(owner.set_approval_threshold(50_000).await.status(), 200);
    for body in [json!([]), json!([null])] {
        let problem =
            assert_problem(owner.put("/api/v1/enterprise/settings", &body).await, 422, "validation_failed").await;
        assert!(problem.errors.contains_key("body"), "{problem:?}");
    }
    let threshold: Option<i64> =
        sqlx::query_scalar("select approval_threshold_fen from enterprise_settings where organization_id = $1")
            .bind(enterprise.org)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(threshold, Some(50_000));
    let buyer = app.as_(&app.consumer().await);
    assert_problem(buyer.order_keyed("k-array", &json!([])).await, 422, "validation_failed").await;
    assert_eq!(app.count("orders").await, 0);
}

/// The same holds inside a body: an object nested in it (an address, an invoice, an order
/// line, a price tier, a registration's organization) written as an array of its fields is
/// refused at its own path, and nothing is created.
#[tokio::test]
async fn an_array_where_a_nested_object_belongs_is_refused_at_its_path_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let product = app.stocked_product(&producer, 5, 1000).await;
    let buyer = app.as_(&app.consumer().await);
    let orders = app.count("orders").await;
    let address = json!(["李明", "13800000000", 120101, "天津市和平区南京路1号"]);
    let line = json!({"product_id": product, "qty": 1});
    for (i, (body, field)) in [
        (json!({"lines": [line], "shipping_address": address}), "shipping_address"),
        (json!({"lines": [line], "shipping_address": helpers::address(), "invoice": []}), "invoice"),
        (json!({"lines": [line, [product, 1]], "shipping_address": helpers::address()}), "lines[1]"),
    ]
    .into_iter()
    .enumerate()
    {
        let problem =
            assert_problem(buyer.order_keyed(&format!("k-nested-{i}"), &body).await, 422, "validation_failed").await;
        assert!(problem.errors.contains_key(field), "{field}: {problem:?}");
    }
    assert_eq!(app.count("orders").await, orders);

    let products = app.count("products").await;
    let mut body = helpers::product_body("静宁苹果", 1000);
    body["tiers"] = json!([[1, 1000]]);
    let problem =
        assert_problem(app.as_(&producer).post("/api/v1/producer/products", &body).await, 422, "validation_failed")
            .await;
    assert!(problem.errors.contains_key("tiers[0]"), "{problem:?}");
    assert_eq!(app.count("products").await, products);

    let organizations = app.count("organizations").await;
    let email = helpers::unique_email("nested");
    let mut body = helpers::enterprise_body(&email, &helpers::valid_uscc());
    body["organization"] = json!(body["organization"].as_object().unwrap().values().cloned().collect::<Vec<_>>());
    let problem =
        assert_problem(app.post("/api/v1/auth/register/enterprise", &body).await, 422, "validation_failed").await;
    assert!(problem.errors.contains_key("organization"), "{problem:?}");
    assert_eq!(app.count("organizations").await, organizations);
}

/// A unit enum derived by serde also reads a one-entry object naming its variant; the document
/// says a role is a string, so `{"purchaser": null}` is refused like any other wrong type.
#[tokio::test]
async fn an_object_where_a_name_belongs_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let enterprise = app.verified_enterprise().await;
    let accounts = app.count("accounts").await;
    let (_, mut body) = helpers::member_body("purchaser");
    body["role"] = json!({"purchaser": null});
    let problem =
        assert_problem(app.as_(&enterprise).post_member(enterprise.org, &body).await, 422, "validation_failed").await;
    assert!(problem.errors.contains_key("role"), "{problem:?}");
    assert_eq!(app.count("accounts").await, accounts);
    body["role"] = json!("purchaser");
    assert_eq!(app.as_(&enterprise).post_member(enterprise.org, &body).await.status(), 201);
}

/// JSON Schema's `integer` is any number whose fractional part is zero: `7.0` is the integer 7,
/// and the body fields the document calls integers take it. `7.5` is still refused.
#[tokio::test]
async fn integers_written_as_whole_floats_are_integers() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let product = app.stocked_product(&producer, 5, 1000).await;
    let caller = app.as_(&producer);
    let path = format!("/api/v1/producer/products/{product}/stock");
    let reply: Value = parse(caller.put(&path, &json!({ "stock": 7.0 })).await).await;
    assert_eq!(reply["stock"], 7);
    let problem = assert_problem(caller.put(&path, &json!({ "stock": 7.5 })).await, 422, "validation_failed").await;
    assert!(problem.errors.contains_key("stock"), "{problem:?}");
    let buyer = app.as_(&app.consumer().await);
    let cart = format!("/api/v1/cart/items/{product}");
    let reply: Value = parse(buyer.put(&cart, &json!({ "qty": 2.0 })).await).await;
    assert_eq!(reply["items"][0]["qty"], 2);
}

#[tokio::test]
async fn links_lead_from_created_objects_to_the_operations_on_them() {
    let doc = document().await;
    let links = &doc["paths"]["/api/v1/orders"]["post"]["responses"]["201"]["links"];
    for (name, target) in [("GetOrder", "get_order"), ("CancelOrder", "cancel_order"), ("PayOrder", "start_payment")] {
        assert_eq!(links[name]["operationId"], target, "{name}");
        assert_eq!(links[name]["parameters"]["id"], "$response.body#/id");
    }
    let links = &doc["paths"]["/api/v1/products"]["get"]["responses"]["200"]["links"];
    assert_eq!(links["PutInCart"]["operationId"], "put_cart_item");
    // Every link names an operation the document has.
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values().filter_map(|op| op["operationId"].as_str()))
        .collect();
    let mut found = Vec::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for response in op["responses"].as_object().unwrap().values() {
                for link in response["links"].as_object().into_iter().flat_map(|l| l.values()) {
                    found.push(link["operationId"].as_str().unwrap().to_string());
                }
            }
        }
    }
    assert!(found.len() >= 20, "{} links", found.len());
    let dangling: Vec<&String> = found.iter().filter(|t| !ids.contains(&t.as_str())).collect();
    assert!(dangling.is_empty(), "links to unknown operations: {dangling:?}");
}
