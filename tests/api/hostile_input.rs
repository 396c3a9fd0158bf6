//! Hostile text in every string field of every JSON request: the service answers each with a
//! reply, never a dropped connection (a panic) or a 5xx (text the database refuses).

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

/// One JSON request type as one operation takes it: a body every field of which is valid, so
/// that a hostile value in one field is judged by that field's own check.
struct Case {
    method: &'static str,
    /// The path as the OpenAPI document names it.
    template: &'static str,
    path: String,
    who: Caller,
    /// Builds a fresh valid body (new emails, new USCCs) for each request.
    body: Box<dyn Fn() -> Value>,
}

/// A hostile value and whether every field must refuse it.
struct Hostile {
    name: &'static str,
    value: String,
    /// Password fields accept any character (they are only hashed); every other field must
    /// refuse the value with a 4xx. When false, only a 5xx or a dropped connection fails.
    refused_by_all_but_passwords: bool,
    refused_by_passwords: bool,
}

fn hostile_values() -> Vec<Hostile> {
    vec![
        // 16 ASCII characters and one two-byte character: 18 bytes, 17 characters (the USCC
        // panic). Valid text for names and notes, so not refused everywhere.
        Hostile {
            name: "non-ASCII",
            value: "91350100M000100Yé".into(),
            refused_by_all_but_passwords: false,
            refused_by_passwords: false,
        },
        Hostile {
            name: "very long",
            value: "长".repeat(100_000),
            refused_by_all_but_passwords: true,
            refused_by_passwords: true,
        },
        Hostile {
            name: "control characters",
            value: "ab\u{1}\u{7}\u{1b}[2J\u{7f}cdef".into(),
            refused_by_all_but_passwords: true,
            refused_by_passwords: false,
        },
        Hostile {
            name: "NUL",
            value: "gansu\u{0}apples-2026".into(),
            refused_by_all_but_passwords: true,
            refused_by_passwords: false,
        },
    ]
}

/// Every string leaf of a body, as `a.b` paths (`a[]` for an array's first element).
fn string_paths(value: &Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        Value::String(_) => out.push(prefix.to_string()),
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                string_paths(v, &path, out);
            }
        }
        Value::Array(items) => {
            if let Some(first) = items.first() {
                string_paths(first, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// The body with the string at `path` replaced by `new`.
fn replaced(body: &Value, path: &str, new: &str) -> Value {
    let mut body = body.clone();
    let mut at = &mut body;
    for part in path.split('.') {
        at = match part.strip_suffix("[]") {
            Some(name) => &mut at[name][0],
            None => &mut at[part],
        };
    }
    *at = Value::String(new.to_string());
    body
}

/// The text fields (same notation) that an OpenAPI schema declares, following `$ref`s.
fn schema_string_paths(doc: &Value, schema: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap();
        return schema_string_paths(doc, &doc["components"]["schemas"][name], prefix, out);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for alternative in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
            schema_string_paths(doc, alternative, prefix, out);
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    // Ids are not text: serde parses them as UUIDs, so a base body need not carry every one.
    let id = schema["format"] == "uuid";
    if types.contains(&"string") && !id && !out.iter().any(|p| p == prefix) {
        out.push(prefix.to_string());
    }
    if types.contains(&"array") {
        schema_string_paths(doc, &schema["items"], &format!("{prefix}[]"), out);
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in properties {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            schema_string_paths(doc, v, &path, out);
        }
    }
}

/// A registration body whose owner also gives the optional phone.
fn with_owner_phone(mut body: Value) -> Value {
    body["owner"]["phone"] = json!("13800000000");
    body
}

#[tokio::test]
async fn hostile_text_in_any_string_field_of_any_request_is_refused_without_a_5xx_or_a_dropped_connection() {
    let app = TestApp::spawn_with(|s| s.orders.jobs_enabled = false).await;
    let admin = app.as_(app.admin().await);
    let producer_owner = app.verified_producer().await;
    let producer = app.as_(&producer_owner);
    let product = app.stocked_product(&producer_owner, 1000, 1000).await;
    let draft = app.create_product(&producer_owner, &product_body("草稿", 1000)).await;
    let reviewed = app.create_product(&producer_owner, &product_body("待审", 1000)).await;
    assert_eq!(producer.submit(reviewed).await.status(), 200);
    let enterprise_owner = app.verified_enterprise().await;
    let enterprise = app.as_(&enterprise_owner);
    let order = enterprise.place_order(&[(product, 1)]).await;
    let group = order.groups[0].id;
    let line = order.groups[0].lines[0].id;
    let pending = app.organization("producer").await.org;
    let password_changer = app.as_(&app.consumer().await);
    let consumer = app.as_(&app.consumer().await);
    let (order_id, org) = (order.id, enterprise_owner.org);
    let other = Uuid::now_v7();

    let certification = json!({"number": "GS-RD-2026-001", "issuer": "甘肃省农业农村厅", "valid_from": "2026-01-01", "valid_until": "2027-12-31"});
    let full_product = move || {
        let mut body = product_body("静宁苹果", 1000);
        body["certification"] = certification.clone();
        body
    };
    let case = |method, template, path: String, who: &Caller, body: Box<dyn Fn() -> Value>| Case {
        method,
        template,
        path,
        who: who.clone(),
        body,
    };
    let anonymous = app.anonymous();
    let cases = vec![
        case(
            "post",
            "/api/v1/auth/register/consumer",
            "/api/v1/auth/register/consumer".into(),
            &anonymous,
            Box::new(|| consumer_body(&unique_email("fuzz"))),
        ),
        case(
            "post",
            "/api/v1/auth/register/enterprise",
            "/api/v1/auth/register/enterprise".into(),
            &anonymous,
            Box::new(|| with_owner_phone(enterprise_body(&unique_email("fuzz"), &valid_uscc()))),
        ),
        case(
            "post",
            "/api/v1/auth/register/producer",
            "/api/v1/auth/register/producer".into(),
            &anonymous,
            Box::new(|| with_owner_phone(producer_body(&unique_email("fuzz"), &valid_uscc()))),
        ),
        case(
            "post",
            "/api/v1/auth/login",
            "/api/v1/auth/login".into(),
            &anonymous,
            Box::new(|| json!({"email": unique_email("nobody"), "password": PASSWORD})),
        ),
        case(
            "post",
            "/api/v1/me/password",
            "/api/v1/me/password".into(),
            &password_changer,
            Box::new(|| json!({"current_password": PASSWORD, "new_password": "another-long-pass-2026"})),
        ),
        case(
            "post",
            "/api/v1/organizations/{id}/members",
            format!("/api/v1/organizations/{org}/members"),
            &enterprise,
            Box::new(|| {
                let mut body = member_body("purchaser").1;
                body["phone"] = json!("13800000000");
                body
            }),
        ),
        case(
            "patch",
            "/api/v1/organizations/{id}/members/{account_id}",
            format!("/api/v1/organizations/{org}/members/{other}"),
            &enterprise,
            Box::new(|| json!({"role": "approver"})),
        ),
        case(
            "post",
            "/api/v1/admin/organizations/{id}/reject",
            format!("/api/v1/admin/organizations/{pending}/reject"),
            &admin,
            Box::new(|| json!({"reason": "资料不全"})),
        ),
        case(
            "post",
            "/api/v1/admin/organizations/{id}/suspend",
            format!("/api/v1/admin/organizations/{other}/suspend"),
            &admin,
            Box::new(|| json!({"reason": "违规"})),
        ),
        case(
            "post",
            "/api/v1/producer/products",
            "/api/v1/producer/products".into(),
            &producer,
            Box::new(full_product.clone()),
        ),
        case(
            "patch",
            "/api/v1/producer/products/{id}",
            format!("/api/v1/producer/products/{draft}"),
            &producer,
            Box::new(full_product),
        ),
        case(
            "put",
            "/api/v1/producer/products/{id}/prices",
            format!("/api/v1/producer/products/{draft}/prices"),
            &producer,
            Box::new(|| json!({"tiers": [{"min_qty": 1, "unit_price_fen": 900}], "reason": "降价促销"})),
        ),
        case(
            "put",
            "/api/v1/producer/products/{id}/stock",
            format!("/api/v1/producer/products/{draft}/stock"),
            &producer,
            Box::new(|| json!({"stock": 10})),
        ),
        case(
            "post",
            "/api/v1/admin/products/{id}/reject",
            format!("/api/v1/admin/products/{reviewed}/reject"),
            &admin,
            Box::new(|| json!({"reason": "图片不符"})),
        ),
        case(
            "post",
            "/api/v1/admin/price-alerts/{id}/resolve",
            format!("/api/v1/admin/price-alerts/{other}/resolve"),
            &admin,
            Box::new(|| json!({"note": "已核实"})),
        ),
        case(
            "put",
            "/api/v1/cart/items/{product_id}",
            format!("/api/v1/cart/items/{product}"),
            &consumer,
            Box::new(|| json!({"qty": 1})),
        ),
        case(
            "post",
            "/api/v1/orders",
            "/api/v1/orders".into(),
            &enterprise,
            Box::new(move || {
                json!({
                    "lines": [{"product_id": product, "qty": 1}], "shipping_address": address(),
                    "po_number": "PO-2026-001", "invoice": {"title": "天津市和平区食堂管理有限公司", "tax_id": valid_uscc()}
                })
            }),
        ),
        case(
            "post",
            "/api/v1/orders/{id}/approve",
            format!("/api/v1/orders/{order_id}/approve"),
            &enterprise,
            Box::new(|| json!({"note": "同意"})),
        ),
        case(
            "post",
            "/api/v1/orders/{id}/reject",
            format!("/api/v1/orders/{order_id}/reject"),
            &enterprise,
            Box::new(|| json!({"note": "预算不足"})),
        ),
        case(
            "put",
            "/api/v1/enterprise/settings",
            "/api/v1/enterprise/settings".into(),
            &enterprise,
            Box::new(|| json!({"approval_threshold_fen": 100_000})),
        ),
        case(
            "post",
            "/api/v1/producer/order-groups/{id}/ship",
            format!("/api/v1/producer/order-groups/{group}/ship"),
            &producer,
            Box::new(|| json!({"carrier": "顺丰速运", "tracking_no": "SF1234567890"})),
        ),
        case(
            "post",
            "/api/v1/orders/{id}/payments",
            format!("/api/v1/orders/{order_id}/payments"),
            &enterprise,
            Box::new(|| json!({"method": "bank_transfer"})),
        ),
        case(
            "post",
            "/api/v1/admin/bank-transfers/{order_id}/confirm",
            format!("/api/v1/admin/bank-transfers/{other}/confirm"),
            &admin,
            Box::new(|| json!({"amount_fen": 1000, "bank_reference": "BR-20261127-1", "received_at": "2026-11-27"})),
        ),
        case(
            "post",
            "/api/v1/admin/orders/{id}/refunds",
            format!("/api/v1/admin/orders/{order_id}/refunds"),
            &admin,
            Box::new(
                move || json!({"full": true, "group_id": group, "reason": "质量问题", "bank_reference": "BR-R-1"}),
            ),
        ),
        case(
            "post",
            "/api/v1/producer/order-groups/{id}/refunds",
            format!("/api/v1/producer/order-groups/{group}/refunds"),
            &producer,
            Box::new(
                move || json!({"lines": [{"line_id": line, "qty": 1}], "reason": "缺货", "bank_reference": "BR-R-3"}),
            ),
        ),
        case(
            "post",
            "/api/v1/admin/refunds/{id}/complete",
            format!("/api/v1/admin/refunds/{other}/complete"),
            &admin,
            Box::new(|| json!({"bank_reference": "BR-R-2"})),
        ),
        case(
            "put",
            "/api/v1/enterprise/assistance/target",
            "/api/v1/enterprise/assistance/target".into(),
            &enterprise,
            Box::new(|| json!({"amount_fen": 100_000})),
        ),
        case(
            "post",
            "/api/v1/enterprise/assistance/certificates",
            "/api/v1/enterprise/assistance/certificates".into(),
            &enterprise,
            Box::new(|| json!({})),
        ),
    ];

    // The table covers every JSON request type the API documents, and each base body every
    // string field of its type (the Stripe webhook's body is Stripe's, checked by signature).
    let doc: Value = app.anonymous().get_json("/api/v1/openapi.json").await;
    let mut documented = 0;
    let mut uncovered = Vec::new();
    for (template, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let Some(schema) = operation.pointer("/requestBody/content/application~1json/schema") else { continue };
            if schema.get("$ref").is_none() {
                assert_eq!(template, "/api/v1/payments/stripe/webhook", "{method} {template} takes a JSON body");
                continue;
            }
            documented += 1;
            let case = cases
                .iter()
                .find(|c| c.method == method && c.template == template)
                .unwrap_or_else(|| panic!("no case for {method} {template}"));
            let mut declared = Vec::new();
            schema_string_paths(&doc, schema, "", &mut declared);
            let mut covered = Vec::new();
            string_paths(&(case.body)(), "", &mut covered);
            for field in declared {
                if !covered.contains(&field) {
                    uncovered.push(format!("{method} {template}: {field}"));
                }
            }
        }
    }
    assert!(uncovered.is_empty(), "base bodies lack these string fields:\n{}", uncovered.join("\n"));
    assert_eq!(documented, cases.len(), "one case per documented JSON request type");

    let mut failures = Vec::new();
    let mut sent = 0;
    for case in &cases {
        let base = (case.body)();
        let mut fields = Vec::new();
        string_paths(&base, "", &mut fields);
        for field in &fields {
            let password = field.ends_with("password");
            for hostile in hostile_values() {
                let body = replaced(&base, field, &hostile.value);
                let request = match case.method {
                    "post" => case.who.client.post(case.who.url(&case.path)),
                    "put" => case.who.client.put(case.who.url(&case.path)),
                    "patch" => case.who.client.patch(case.who.url(&case.path)),
                    other => panic!("no {other} in the table"),
                };
                let request = request.header("idempotency-key", Uuid::now_v7().to_string()).json(&body);
                sent += 1;
                let what = format!("{} {} {field} = {}", case.method, case.template, hostile.name);
                let status = match request.send().await {
                    Ok(response) => response.status(),
                    Err(e) => {
                        failures.push(format!("{what}: no reply ({e})"));
                        continue;
                    }
                };
                let must_refuse =
                    if password { hostile.refused_by_passwords } else { hostile.refused_by_all_but_passwords };
                if status.is_server_error() || (must_refuse && !status.is_client_error()) {
                    failures.push(format!("{what}: {status}"));
                }
            }
        }
    }
    assert!(sent > 150, "only {sent} requests");
    assert!(failures.is_empty(), "{} of {sent} requests failed:\n{}", failures.len(), failures.join("\n"));
}
