//! Idempotency keys over time: purged past their retention, and stored replies kept small.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn keys_past_the_retention_are_purged_and_younger_ones_kept() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let apples = app.stocked_product(&producer, 100, 1000).await;
    let buyer = app.as_(&app.consumer().await);
    let body = json!({"lines": [{"product_id": apples, "qty": 1}],
        "shipping_address": {"recipient": "李明", "phone": "13800000000", "adcode": 120101, "detail": "南京路1号"}});
    for key in ["old-1", "old-2", "young"] {
        assert_eq!(buyer.order_keyed(key, &body).await.status(), 201);
    }
    sqlx::query("update idempotency_keys set created_at = now() - interval '25 hours' where key like 'old-%'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(tonggan::idempotency::purge_expired(&app.state).await.unwrap(), 2);
    let left: Vec<String> = sqlx::query_scalar("select key from idempotency_keys").fetch_all(&app.db).await.unwrap();
    assert_eq!(left, vec!["young".to_string()]);
    // The orders themselves are untouched, and the young key still replays.
    assert_eq!(app.count("orders").await, 3);
    let again = buyer.order_keyed("young", &body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(tonggan::idempotency::purge_expired(&app.state).await.unwrap(), 0);
}

#[tokio::test]
async fn a_client_error_that_echoes_a_huge_value_is_stored_cut_to_size() {
    let app = TestApp::spawn().await;
    let buyer = app.as_(&app.consumer().await);
    // A string where a list belongs: serde's message quotes the string.
    let body = json!({"lines": "A".repeat(500_000),
        "shipping_address": {"recipient": "李明", "phone": "13800000000", "adcode": 120101, "detail": "南京路1号"}});
    let first = buyer.order_keyed("huge", &body).await;
    assert_eq!(first.status(), 422);
    let stored: Value = sqlx::query_scalar("select response_body from idempotency_keys where key = 'huge'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(stored.to_string().len() <= tonggan::idempotency::MAX_STORED_REPLY, "{} bytes", stored.to_string().len());
    assert_eq!(stored["code"], "validation_failed");
    // The replay is the stored reply: same status and code.
    let again = buyer.order_keyed("huge", &body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let problem = assert_problem(again, 422, "validation_failed").await;
    assert!(problem.errors.values().flatten().all(|m| m.chars().count() <= 257), "{:?}", problem.errors.keys());
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn a_stored_order_reply_is_compressed_with_lz4_and_replays_unchanged() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let mut lines = Vec::new();
    for _ in 0..10 {
        lines.push(json!({"product_id": app.stocked_product(&producer, 100, 1000).await, "qty": 1}));
    }
    let buyer = app.as_(&app.consumer().await);
    let body = json!({"lines": lines,
        "shipping_address": {"recipient": "李明", "phone": "13800000000", "adcode": 120101, "detail": "南京路1号"}});
    let first = buyer.order_keyed("big", &body).await;
    assert_eq!(first.status(), 201);
    let placed: Value = first.json().await.unwrap();
    // Ten lines make a reply past Postgres's compression threshold (about 2 KB), so it is stored
    // compressed, and with lz4 (migration 20261128000400) rather than the default pglz.
    let (method, size): (Option<String>, i32) = sqlx::query_as(
        "select pg_column_compression(response_body), length(response_body::text) from idempotency_keys where key = 'big'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(size > 2048, "the reply is {size} bytes: too small to be compressed");
    assert_eq!(method.as_deref(), Some("lz4"));
    let again = buyer.order_keyed("big", &body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), placed);
    assert_eq!(app.count("orders").await, 1);
}
