use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, new_client};

#[tokio::test]
async fn livez_answers_without_touching_anything() {
    let app = TestApp::spawn().await;
    let response = app.get("/livez").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn readyz_is_ok_when_postgres_and_redis_answer() {
    let app = TestApp::spawn().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["postgres"], "ok");
    assert_eq!(body["redis"], "ok");
}

#[tokio::test]
async fn readyz_names_redis_when_it_is_unreachable_while_livez_stays_up() {
    let app = TestApp::spawn_with(|s| {
        // Port 9 (discard) is closed on this machine: nothing answers there.
        s.redis.url = "redis://127.0.0.1:9".to_string().into();
    })
    .await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["postgres"], "ok");
    // Which dependency, not the driver's words (which can name hosts, ports and users).
    assert_eq!(body["redis"], "unavailable", "{body}");
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
    assert_eq!(app.get("/livez").await.status(), 200);
}

#[tokio::test]
async fn readyz_names_postgres_when_it_is_unreachable() {
    let app = TestApp::spawn_with(|s| {
        s.database.url = "postgres://postgres@127.0.0.1:9/nothing".to_string().into();
        s.database.acquire_timeout_secs = 1;
    })
    .await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert!(["unavailable", "timed_out"].contains(&body["postgres"].as_str().unwrap()), "{body}");
    assert!(!body.to_string().contains("postgres://") && !body.to_string().contains("127.0.0.1"), "{body}");
    assert_eq!(body["redis"], "ok");
}

#[tokio::test]
async fn metrics_report_requests_by_route_and_status_and_pool_gauges() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/regions?level=prefecture").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains(r#"route="/api/v1/regions""#), "{text}");
    assert!(text.contains(r#"status="200""#));
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(text.contains("db_pool_connections"));
}

#[tokio::test]
async fn with_a_metrics_token_set_metrics_are_only_for_its_bearer() {
    let token = "a-metrics-token-of-forty-characters-0001";
    let app = TestApp::spawn_with(|s| s.telemetry.metrics_token = Some(token.to_string().into())).await;
    let client = new_client();
    for authorization in [None, Some("Bearer wrong".to_string()), Some(token.to_string())] {
        let mut request = client.get(app.url("/metrics"));
        if let Some(a) = &authorization {
            request = request.header("authorization", a);
        }
        assert_problem(request.send().await.unwrap(), 401, "unauthenticated").await;
    }
    let response = client.get(app.url("/metrics")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("http_requests_total"));
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/livez",
        "/readyz",
        "/metrics",
        "/api/v1/regions",
        "/api/v1/auth/register/consumer",
        "/api/v1/auth/register/enterprise",
        "/api/v1/auth/register/producer",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/auth/logout-all",
        "/api/v1/me",
        "/api/v1/me/password",
        "/api/v1/organizations/{id}/members",
        "/api/v1/organizations/{id}/members/{account_id}",
        "/api/v1/admin/organizations",
        "/api/v1/admin/organizations/{id}/verify",
        "/api/v1/admin/organizations/{id}/reject",
        "/api/v1/admin/organizations/{id}/suspend",
        "/api/v1/orders/{id}/payments",
        "/api/v1/payments/stripe/webhook",
        "/api/v1/admin/bank-transfers/{order_id}/confirm",
        "/api/v1/admin/orders/{id}/refunds",
        "/api/v1/producer/order-groups/{id}/refunds",
        "/api/v1/orders/{id}/refunds",
        "/api/v1/admin/refunds/{id}/complete",
        "/api/v1/admin/payments",
        "/api/v1/admin/refunds",
        "/api/v1/admin/ledger",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
}

#[tokio::test]
async fn the_docs_page_and_its_assets_are_served_locally() {
    let app = TestApp::spawn().await;
    let page = app.get("/docs").await.text().await.unwrap();
    assert!(page.contains("/docs/swagger-ui-bundle.js"));
    assert!(!page.contains("https://"), "the page must not load anything from the internet");
    let js = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(js.status(), 200);
    assert!(js.bytes().await.unwrap().len() > 100_000);
    assert_eq!(app.get("/docs/swagger-ui.css").await.status(), 200);
}

#[tokio::test]
async fn an_unknown_route_is_a_problem_document() {
    let app = TestApp::spawn().await;
    crate::helpers::assert_problem(app.get("/api/v1/nothing-here").await, 404, "not_found").await;
}
