//! Orders placed together (`orders::place_together`, the group commit behind `POST /orders`):
//! each order of a batch gets its own answer, and a refused or failing order costs the others
//! nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tonggan::config::Environment;
use tonggan::orders::model::ShippingAddress;
use tonggan::orders::{Buyer, Placement, PlacementKey, Wanted, place_together};
use uuid::Uuid;

use crate::helpers::*;

fn placement(buyer: Uuid, lines: &[(Uuid, i32)]) -> Placement {
    Placement {
        buyer: Buyer::Consumer { account_id: buyer },
        wanted: lines.iter().map(|&(product_id, qty)| Wanted { product_id, qty }).collect(),
        shipping: ShippingAddress {
            recipient: "李明".into(),
            phone: "13800000000".into(),
            adcode: 120101,
            detail: "天津市和平区南京路1号".into(),
        },
        po_number: None,
        invoice: None,
        from_cart: false,
        approval_threshold_fen: None,
        idempotency_key: None,
    }
}

/// Each order's answer: 201, or its refusal's status and code.
fn answers(results: &[tonggan::error::Result<tonggan::orders::model::Order>]) -> Vec<(u16, &'static str)> {
    results
        .iter()
        .map(|r| match r {
            Ok(_) => (201, "placed"),
            Err(e) => (e.status().as_u16(), e.code()),
        })
        .collect()
}

#[tokio::test]
async fn a_batch_with_refused_orders_places_the_others_and_answers_each_on_its_own() {
    let app = TestApp::spawn_with(|s| {
        s.orders.jobs_enabled = false;
        s.orders.max_open_orders_per_consumer = 1;
    })
    .await;
    let producer = app.verified_producer().await;
    let apples = app.stocked_product(&producer, 10, 1000).await;
    let buyers = app.buyers(4).await;
    let batch = [
        placement(buyers[0].id, &[(apples, 6)]),
        // Only 4 are left after the first order of the batch.
        placement(buyers[1].id, &[(apples, 5)]),
        placement(buyers[2].id, &[(Uuid::now_v7(), 1)]),
        // The first order of the batch already holds this buyer's one open order.
        placement(buyers[0].id, &[(apples, 1)]),
        placement(buyers[3].id, &[(apples, 4)]),
    ];
    let results = place_together(&app.state, &batch).await;
    assert_eq!(
        answers(&results),
        vec![
            (201, "placed"),
            (409, "insufficient_stock"),
            (422, "invalid_lines"),
            (409, "too_many_open_orders"),
            (201, "placed")
        ]
    );
    if let Err(e) = &results[1] {
        let problem = serde_json::to_value(e.problem()).unwrap();
        assert_eq!(problem["lines"][0]["available"], 4, "{problem}");
    }
    assert_eq!(app.stock_of(apples).await, 0);
    assert_eq!(app.count("orders").await, 2);
    assert_eq!(app.count("order_lines").await, 2);
    assert_eq!(app.count("order_status_history").await, 2);
    // Each placed order is what its buyer then reads.
    for (i, buyer) in [(0, &buyers[0]), (4, &buyers[3])] {
        let placed = serde_json::to_value(results[i].as_ref().unwrap()).unwrap();
        let read: Value = parse(app.as_(buyer).get_order(placed["id"].as_str().unwrap().parse().unwrap()).await).await;
        assert_eq!(placed, read);
    }
}

fn keyed(buyer: Uuid, lines: &[(Uuid, i32)], key: &str, claimed: bool) -> Placement {
    let key = PlacementKey { key: key.into(), request_hash: format!("hash-of-{key}"), claimed };
    Placement { idempotency_key: Some(key), ..placement(buyer, lines) }
}

/// (state, status) of each of the account's idempotency keys.
async fn keys_of(app: &TestApp, account: Uuid) -> BTreeMap<String, (String, Option<i32>)> {
    let rows: Vec<(String, String, Option<i32>)> =
        sqlx::query_as("select key, state, response_status from idempotency_keys where account_id = $1")
            .bind(account)
            .fetch_all(&app.db)
            .await
            .unwrap();
    rows.into_iter().map(|(k, s, st)| (k, (s, st))).collect()
}

#[tokio::test]
async fn a_batch_claims_its_orders_keys_and_keeps_a_key_only_with_its_order() {
    let app = TestApp::spawn_with(|s| s.orders.jobs_enabled = false).await;
    let producer = app.verified_producer().await;
    let apples = app.stocked_product(&producer, 5, 1000).await;
    let b = app.buyers(4).await;
    // k-c already has a reply (an earlier request's); k-d was claimed by its own request, as
    // `idempotency::run` does for a key it has seen before.
    for (account, key, state) in [(b[2].id, "k-c", "done"), (b[3].id, "k-d", "in_flight")] {
        sqlx::query("insert into idempotency_keys (account_id, key, request_hash, state) values ($1, $2, 'h', $3)")
            .bind(account)
            .bind(key)
            .bind(state)
            .execute(&app.db)
            .await
            .unwrap();
    }
    let before_c = keys_of(&app, b[2].id).await;
    let batch = [
        keyed(b[0].id, &[(apples, 2)], "k-a", false),
        // Short: refused, and its key keeps nothing.
        keyed(b[1].id, &[(apples, 9)], "k-b", false),
        // The same account and key again in the same batch: the first holds it.
        keyed(b[0].id, &[(apples, 1)], "k-a", false),
        keyed(b[2].id, &[(apples, 1)], "k-c", false),
        keyed(b[3].id, &[(apples, 1)], "k-d", true),
    ];
    assert_eq!(
        answers(&place_together(&app.state, &batch).await),
        vec![
            (201, "placed"),
            (409, "insufficient_stock"),
            (409, "idempotency_key_in_use"),
            (409, "idempotency_key_in_use"),
            (201, "placed")
        ]
    );
    assert_eq!(app.stock_of(apples).await, 2);
    assert_eq!(app.count("orders").await, 2);
    let done = |status| ("done".to_string(), Some(status));
    assert_eq!(keys_of(&app, b[0].id).await, BTreeMap::from([("k-a".to_string(), done(201))]));
    assert_eq!(keys_of(&app, b[1].id).await, BTreeMap::new());
    assert_eq!(keys_of(&app, b[2].id).await, before_c);
    assert_eq!(keys_of(&app, b[3].id).await, BTreeMap::from([("k-d".to_string(), done(201))]));
}

#[tokio::test]
async fn a_batch_that_fails_in_the_database_places_its_other_orders_one_by_one() {
    let app = TestApp::spawn_with(|s| s.orders.jobs_enabled = false).await;
    let producer = app.verified_producer().await;
    let apples = app.stocked_product(&producer, 10, 1000).await;
    let buyers = app.buyers(2).await;
    // A buyer whose account does not exist passes every check of the batch and fails only when
    // its order is written (foreign key), failing that first attempt for everyone.
    let batch = [
        placement(buyers[0].id, &[(apples, 2)]),
        placement(Uuid::now_v7(), &[(apples, 3)]),
        placement(buyers[1].id, &[(apples, 4)]),
    ];
    let statuses: Vec<u16> = place_together(&app.state, &batch)
        .await
        .iter()
        .map(|r| r.as_ref().map_or_else(|e| e.status().as_u16(), |_| 201))
        .collect();
    assert_eq!(statuses, vec![201, 500, 201]);
    assert_eq!(app.stock_of(apples).await, 4);
    assert_eq!(app.count("orders").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_queued_behind_a_locked_product_are_placed_together_and_each_answered() {
    let app = TestApp::spawn_with(|s| s.orders.jobs_enabled = false).await;
    let producer = app.verified_producer().await;
    let apples = app.stocked_product(&producer, 7, 1000).await;
    let buyers = app.buyers(10).await;
    // Hold the product's row so that the first order's batch waits on it and the other nine
    // queue up behind it.
    let mut blocker = app.db.begin().await.unwrap();
    sqlx::query("select 1 from products where id = $1 for update").bind(apples).execute(&mut *blocker).await.unwrap();
    let first = {
        let buyer = app.as_(&buyers[0]);
        tokio::spawn(async move { buyer.order(&[(apples, 1)]).await.status().as_u16() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rest: Vec<_> = buyers[1..]
        .iter()
        .map(|b| {
            let buyer = app.as_(b);
            tokio::spawn(async move { buyer.order(&[(apples, 1)]).await.status().as_u16() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.count("orders").await, 0, "nothing is placed while the product is held");
    blocker.commit().await.unwrap();
    let mut by_status = BTreeMap::new();
    for t in std::iter::once(first).chain(rest) {
        *by_status.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(by_status, BTreeMap::from([(201, 7), (409, 3)]));
    assert_eq!(app.stock_of(apples).await, 0);
    assert_eq!(app.count("orders").await, 7);
}

/// Each batch being placed holds a connection until it commits: none at all, or as many as the
/// pool has, is refused at start-up rather than starving every other query.
#[test]
fn placement_batches_must_leave_connections_for_everything_else() {
    let mut s = base_settings();
    // config/test.toml runs the suite with two batches at once.
    assert_eq!(s.orders.placement_batches, 2);
    assert!(s.check(Environment::Test).is_ok());
    for refused in [0, s.database.max_connections as usize] {
        s.orders.placement_batches = refused;
        let error = s.check(Environment::Test).unwrap_err().to_string();
        assert!(error.contains("orders.placement_batches must be at least 1"), "{refused}: {error}");
    }
}
