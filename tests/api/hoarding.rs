//! Limits against stock hoarding: open unpaid orders and reserved units per consumer and per
//! enterprise (409 `too_many_open_orders`), and the rate of order creation per account and per
//! client address (429 `too_many_orders` with `Retry-After`). Each refusal changes nothing.

use redis::AsyncCommands;
use reqwest::Response;
use serde_json::json;
use uuid::Uuid;

use tonggan::config::{Environment, Settings};

use crate::helpers::*;

struct Shop {
    app: TestApp,
    /// A verified producer's product with plenty of stock.
    apples: Uuid,
}

/// A server without background jobs, with `adjust`ed settings, and one product of 10,000 units.
async fn shop(adjust: impl FnOnce(&mut Settings)) -> Shop {
    let app = TestApp::spawn_with(|s| {
        s.orders.jobs_enabled = false;
        adjust(s);
    })
    .await;
    let producer = app.verified_producer().await;
    let apples = app.stocked_product(&producer, 10_000, 1000).await;
    Shop { app, apples }
}

/// What an order placement writes or takes: orders, lines, history entries, the stock of one
/// product. A refused order must leave all of it as it was.
#[derive(Debug, PartialEq, Eq)]
struct Footprint {
    orders: i64,
    lines: i64,
    history: i64,
    stock: i64,
}

async fn footprint(app: &TestApp, product: Uuid) -> Footprint {
    Footprint {
        orders: app.count("orders").await,
        lines: app.count("order_lines").await,
        history: app.count("order_status_history").await,
        stock: app.stock_of(product).await,
    }
}

/// The stored reply of an idempotency key: (state, status), or None when the key is free.
async fn stored_reply(app: &TestApp, account: Uuid, key: &str) -> Option<(String, Option<i32>)> {
    sqlx::query_as("select state, response_status from idempotency_keys where account_id = $1 and key = $2")
        .bind(account)
        .bind(key)
        .fetch_optional(&app.db)
        .await
        .unwrap()
}

async fn redis_counter(app: &TestApp, key: &str) -> Option<u64> {
    let mut conn = app.redis.clone();
    conn.get(key).await.unwrap()
}

async fn redis_pttl(app: &TestApp, key: &str) -> i64 {
    let mut conn = app.redis.clone();
    conn.pttl(key).await.unwrap()
}

fn retry_after(response: &Response) -> u64 {
    response.headers().get("retry-after").expect("a Retry-After header").to_str().unwrap().parse().unwrap()
}

fn account_counter(app: &TestApp, account: Uuid) -> String {
    tonggan::orders::creations_by_account_key(&app.settings.redis.key_prefix, account)
}

fn client_counter(app: &TestApp) -> String {
    tonggan::orders::creations_by_client_key(&app.settings.redis.key_prefix, "127.0.0.1".parse().unwrap())
}

#[test]
fn the_limits_default_as_documented_and_a_zero_limit_is_refused() {
    let mut s = base_settings();
    // config/test.toml raises only the open orders per consumer and the creation rates.
    assert_eq!(s.orders.max_reserved_units_per_consumer, 1000);
    assert_eq!(s.orders.max_open_orders_per_enterprise, 50);
    assert_eq!(s.orders.max_reserved_units_per_enterprise, 200_000);
    assert_eq!(s.orders.create_window_secs, 600);
    assert!(s.check(Environment::Test).is_ok());
    s.orders.max_open_orders_per_consumer = 0;
    let error = s.check(Environment::Test).unwrap_err().to_string();
    assert!(error.contains("orders.max_open_orders_per_consumer must be positive"), "{error}");
}

#[tokio::test]
async fn a_consumer_at_the_open_order_limit_is_refused_until_one_is_paid_or_cancelled() {
    let s = shop(|s| s.orders.max_open_orders_per_consumer = 3).await;
    let consumer = s.app.consumer().await;
    let buyer = s.app.as_(&consumer);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(buyer.place_order(&[(s.apples, 1)]).await.id);
    }
    let before = footprint(&s.app, s.apples).await;
    let body = order_body(&[(s.apples, 2)]);
    let problem = assert_problem(buyer.order_keyed("fourth", &body).await, 409, "too_many_open_orders").await;
    assert_eq!(problem.limit["name"], "max_open_orders_per_consumer");
    assert_eq!(problem.limit["scope"], "consumer");
    assert_eq!((problem.limit["max"].as_i64(), problem.limit["open_orders"].as_i64()), (Some(3), Some(3)));
    assert_eq!((problem.limit["reserved_units"].as_i64(), problem.limit["order_units"].as_i64()), (Some(3), Some(2)));
    assert!(problem.detail.contains("3 unpaid orders"), "{}", problem.detail);
    assert_eq!(footprint(&s.app, s.apples).await, before, "a refused order reserves and writes nothing");
    // The refusal is the key's reply, as every 4xx is: the same request gets it again.
    assert_eq!(stored_reply(&s.app, consumer.id, "fourth").await, Some(("done".into(), Some(409))));
    let replay = buyer.order_keyed("fourth", &body).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_problem(replay, 409, "too_many_open_orders").await;
    // The cart path is held to the same limit.
    assert_eq!(buyer.put_in_cart(s.apples, 1).await.status(), 200);
    let from_cart = json!({"from_cart": true, "shipping_address": address()});
    assert_problem(buyer.order_keyed("cart", &from_cart).await, 409, "too_many_open_orders").await;
    assert_eq!(buyer.cart().await["items"].as_array().unwrap().len(), 1, "the cart is kept");
    assert_eq!(footprint(&s.app, s.apples).await, before);
    // Another consumer is not held back by this one's orders.
    s.app.as_(&s.app.consumer().await).place_order(&[(s.apples, 1)]).await;
    // Cancelling one makes room for one.
    assert_eq!(buyer.cancel(open[0]).await.status(), 200);
    buyer.place_order(&[(s.apples, 1)]).await;
    assert_problem(buyer.order(&[(s.apples, 1)]).await, 409, "too_many_open_orders").await;
    // So does paying for one.
    tonggan::orders::mark_paid(&s.app.state, open[1], "pay-1").await.unwrap();
    buyer.place_order(&[(s.apples, 1)]).await;
    assert_problem(buyer.order(&[(s.apples, 1)]).await, 409, "too_many_open_orders").await;
}

#[tokio::test]
async fn the_reserved_units_limit_refuses_an_order_that_would_pass_it_and_accepts_one_that_reaches_it() {
    let s = shop(|s| s.orders.max_reserved_units_per_consumer = 10).await;
    let buyer = s.app.as_(&s.app.consumer().await);
    buyer.place_order(&[(s.apples, 4)]).await;
    let before = footprint(&s.app, s.apples).await;
    let problem = assert_problem(buyer.order(&[(s.apples, 7)]).await, 409, "too_many_open_orders").await;
    assert_eq!(problem.limit["name"], "max_reserved_units_per_consumer");
    assert_eq!(problem.limit["max"], 10);
    assert_eq!((problem.limit["reserved_units"].as_i64(), problem.limit["order_units"].as_i64()), (Some(4), Some(7)));
    assert_eq!(footprint(&s.app, s.apples).await, before);
    // Units of every line count: 3 + 3 more is also over.
    let second = s.app.stocked_product(&s.app.verified_producer().await, 100, 500).await;
    assert_problem(buyer.order(&[(s.apples, 4), (second, 3)]).await, 409, "too_many_open_orders").await;
    assert_eq!(footprint(&s.app, s.apples).await, before);
    assert_eq!(s.app.stock_of(second).await, 100);
    // Exactly at the limit is allowed; one more unit is not.
    let at_limit = buyer.place_order(&[(s.apples, 3), (second, 3)]).await;
    assert_eq!(s.app.stock_of(s.apples).await, 10_000 - 7);
    assert_problem(buyer.order(&[(second, 1)]).await, 409, "too_many_open_orders").await;
    // One order alone above the limit is refused too.
    let fresh = s.app.as_(&s.app.consumer().await);
    let problem = assert_problem(fresh.order(&[(s.apples, 11)]).await, 409, "too_many_open_orders").await;
    assert_eq!((problem.limit["open_orders"].as_i64(), problem.limit["reserved_units"].as_i64()), (Some(0), Some(0)));
    // Cancelled units are free again.
    assert_eq!(buyer.cancel(at_limit.id).await.status(), 200);
    buyer.place_order(&[(second, 6)]).await;
}

#[tokio::test]
async fn the_enterprise_limit_counts_every_members_orders_together() {
    let s = shop(|s| {
        s.orders.max_open_orders_per_enterprise = 3;
        // An enterprise's members are not held to the consumer limit.
        s.orders.max_open_orders_per_consumer = 1;
    })
    .await;
    let owner = s.app.verified_enterprise().await;
    let owner_caller = s.app.as_(&owner);
    // Every purchaser's order waits for approval, and holds its stock meanwhile.
    assert_eq!(owner_caller.set_approval_threshold(1).await.status(), 200);
    let first = s.app.as_(&owner_caller.add_member(owner.org, "purchaser").await);
    let second = s.app.as_(&owner_caller.add_member(owner.org, "purchaser").await);
    let a = first.place_order(&[(s.apples, 10)]).await;
    assert_eq!(a.status, "awaiting_approval");
    first.place_order(&[(s.apples, 10)]).await;
    second.place_order(&[(s.apples, 10)]).await;
    let before = footprint(&s.app, s.apples).await;
    let problem = assert_problem(second.order(&[(s.apples, 10)]).await, 409, "too_many_open_orders").await;
    assert_eq!(problem.limit["name"], "max_open_orders_per_enterprise");
    assert_eq!(problem.limit["scope"], "enterprise");
    assert_eq!(problem.limit["open_orders"], 3);
    assert_eq!(problem.limit["reserved_units"], 30);
    assert_problem(owner_caller.order(&[(s.apples, 1)]).await, 409, "too_many_open_orders").await;
    // A bulk order of the enterprise is held to the same limit.
    let csv = format!("product_id,qty\n{},10\n", s.apples);
    let bulk = assert_problem(first.bulk_order("", "bulk-1", csv.clone()).await, 409, "too_many_open_orders").await;
    assert_eq!(bulk.limit["name"], "max_open_orders_per_enterprise");
    assert_eq!(footprint(&s.app, s.apples).await, before);
    // An approver's rejection frees the room, for any member.
    assert_eq!(owner_caller.reject_order(a.id, Some("预算不足")).await.status(), 200);
    assert_eq!(second.bulk_order("", "bulk-2", csv).await.status(), 201);
    assert_problem(first.order(&[(s.apples, 1)]).await, 409, "too_many_open_orders").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_orders_at_once_from_one_consumer_never_pass_the_open_order_limit() {
    let s = shop(|s| s.orders.max_open_orders_per_consumer = 3).await;
    let buyer = s.app.as_(&s.app.consumer().await);
    let apples = s.apples;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let buyer = buyer.clone();
            tokio::spawn(async move {
                let response = buyer.order(&[(apples, 2)]).await;
                let status = response.status().as_u16();
                let problem: serde_json::Value = response.json().await.unwrap();
                (status, problem["code"].as_str().map(str::to_string))
            })
        })
        .collect();
    let mut placed = 0;
    for task in tasks {
        match task.await.unwrap() {
            (201, _) => placed += 1,
            (409, Some(code)) => assert_eq!(code, "too_many_open_orders"),
            other => panic!("unexpected reply {other:?}"),
        }
    }
    assert_eq!(placed, 3);
    assert_eq!(s.app.count("orders").await, 3);
    assert_eq!(s.app.stock_of(apples).await, 10_000 - 6);
}

#[tokio::test]
async fn order_creations_past_the_account_rate_get_429_with_retry_after_and_refusals_count_nothing() {
    let s = shop(|s| s.orders.max_creates_per_account = 3).await;
    let consumer = s.app.consumer().await;
    let buyer = s.app.as_(&consumer);
    let counter = account_counter(&s.app, consumer.id);
    let body = order_body(&[(s.apples, 1)]);
    for key in ["k-1", "k-2"] {
        assert_eq!(buyer.order_keyed(key, &body).await.status(), 201);
    }
    // A refused attempt counts as a creation too: it ran.
    assert_problem(buyer.order(&[(Uuid::now_v7(), 1)]).await, 422, "invalid_lines").await;
    assert_eq!(redis_counter(&s.app, &counter).await, Some(3));
    let before = footprint(&s.app, s.apples).await;

    let refused = buyer.order_keyed("k-4", &body).await;
    let wait = retry_after(&refused);
    let problem = assert_problem(refused, 429, "too_many_orders").await;
    let ttl = redis_pttl(&s.app, &counter).await;
    assert!((1..=600).contains(&wait), "Retry-After {wait}");
    // The rest of the window, rounded up (the counter's TTL was read a moment later).
    assert!(wait * 1000 >= ttl as u64 && wait * 1000 < ttl as u64 + 2000, "Retry-After {wait} s, TTL {ttl} ms");
    assert_eq!(problem.limit["name"], "max_creates_per_account");
    assert_eq!((problem.limit["max"].as_u64(), problem.limit["window_secs"].as_u64()), (Some(3), Some(600)));
    assert_eq!(problem.limit["retry_after_secs"].as_u64(), Some(wait));
    // Nothing changed: no order, no stock taken, the key left free for a retry after the wait.
    assert_eq!(footprint(&s.app, s.apples).await, before);
    assert_eq!(stored_reply(&s.app, consumer.id, "k-4").await, None);
    // Asking again while refused neither grows the counter nor pushes the window out.
    for _ in 0..5 {
        assert_problem(buyer.order(&[(s.apples, 1)]).await, 429, "too_many_orders").await;
    }
    assert_eq!(redis_counter(&s.app, &counter).await, Some(3));
    assert!(redis_pttl(&s.app, &counter).await <= ttl, "the window was extended");
    // A replay is not a creation: it gets its saved reply, refused or not.
    let replay = buyer.order_keyed("k-1", &body).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(redis_counter(&s.app, &counter).await, Some(3));
    // Other accounts at the same address have their own count.
    s.app.as_(&s.app.consumer().await).place_order(&[(s.apples, 1)]).await;
    // When the window ends, the refused request goes through with its own key.
    let mut conn = s.app.redis.clone();
    let _: bool = conn.pexpire(&counter, 1).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(buyer.order_keyed("k-4", &body).await.status(), 201);
    assert_eq!(redis_counter(&s.app, &counter).await, Some(1));
}

#[tokio::test]
async fn the_address_rate_counts_order_creations_across_accounts() {
    let s = shop(|s| s.orders.max_creates_per_client = 4).await;
    for _ in 0..2 {
        let buyer = s.app.as_(&s.app.consumer().await);
        buyer.place_order(&[(s.apples, 1)]).await;
        buyer.place_order(&[(s.apples, 1)]).await;
    }
    assert_eq!(redis_counter(&s.app, &client_counter(&s.app)).await, Some(4));
    let before = footprint(&s.app, s.apples).await;
    let third = s.app.consumer().await;
    let refused = s.app.as_(&third).order(&[(s.apples, 1)]).await;
    assert!((1..=600).contains(&retry_after(&refused)));
    let problem = assert_problem(refused, 429, "too_many_orders").await;
    assert_eq!(problem.limit["name"], "max_creates_per_client");
    assert_eq!(problem.limit["max"], 4);
    // Bulk orders come from the same address and count the same way.
    let owner = s.app.verified_enterprise().await;
    let csv = format!("{},1\n", s.apples);
    assert_problem(s.app.as_(&owner).bulk_order("", "bulk", csv).await, 429, "too_many_orders").await;
    assert_eq!(footprint(&s.app, s.apples).await, before);
    // The refusals counted nowhere: neither on the address nor on the refused accounts.
    assert_eq!(redis_counter(&s.app, &client_counter(&s.app)).await, Some(4));
    assert_eq!(redis_counter(&s.app, &account_counter(&s.app, third.id)).await, None);
    assert_eq!(redis_counter(&s.app, &account_counter(&s.app, owner.id)).await, None);
}

#[tokio::test]
async fn the_openapi_document_declares_both_refusals_of_order_creation() {
    let app = TestApp::spawn().await;
    let doc: serde_json::Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    for path in ["/api/v1/orders", "/api/v1/orders/bulk"] {
        let responses = &doc["paths"][path]["post"]["responses"];
        let conflict = responses["409"]["description"].as_str().unwrap_or_default();
        assert!(conflict.contains("too_many_open_orders"), "{path}: 409 is {conflict:?}");
        assert!(responses["429"]["description"].as_str().unwrap_or_default().contains("too_many_orders"), "{path}");
        assert!(responses["429"]["headers"]["Retry-After"].is_object(), "{path}: {}", responses["429"]);
    }
}
