//! Orders: placement without oversell, idempotency, approvals, cancellation and expiry,
//! fulfilment, carts and bulk orders.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use uuid::Uuid;

use tonggan::accounts::model::AccountRole;

use crate::helpers::*;

struct Market {
    app: TestApp,
    admin: reqwest::Client,
    producer: reqwest::Client,
}

async fn market() -> Market {
    let app = TestApp::spawn_with(|s| s.orders.jobs_enabled = false).await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (producer, _, _) = app.verified_producer(&admin).await;
    Market { app, admin, producer }
}

async fn json_of(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

#[tokio::test]
async fn an_order_is_priced_from_the_ladder_split_by_producer_and_reserves_stock() {
    let m = market().await;
    let (second_producer, _, _) = m.app.verified_producer(&m.admin).await;
    let apples = m.app.stocked_product(&m.producer, &m.admin, 100, 1000).await;
    let pears = m.app.stocked_product(&second_producer, &m.admin, 50, 2000).await;
    let (buyer, _) = m.app.consumer().await;
    let r = m.app.order(&buyer, &[(apples, 12), (pears, 1)]).await;
    assert_eq!(r.status(), 201);
    let order = json_of(r).await;
    assert_eq!(order["status"], "pending_payment");
    // 12 apples reach the 10-unit tier (900); 1 pear at retail.
    assert_eq!(order["total_fen"], 12 * 900 + 2000);
    let groups = order["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    let apple_line = groups
        .iter()
        .flat_map(|g| g["lines"].as_array().unwrap())
        .find(|l| l["product_id"] == apples.to_string())
        .unwrap();
    assert_eq!(
        (apple_line["unit_price_fen"].as_i64(), apple_line["line_total_fen"].as_i64()),
        (Some(900), Some(10800))
    );
    assert!(order["expires_at"].is_string());
    assert_eq!(m.app.stock_of(apples).await, 88);
    assert_eq!(m.app.stock_of(pears).await, 49);
    assert_eq!(order["history"][0]["to_status"], "pending_payment");
}

#[tokio::test]
async fn bad_lines_are_named_and_nothing_is_reserved() {
    let m = market().await;
    let apples = m.app.stocked_product(&m.producer, &m.admin, 5, 1000).await;
    let draft = m.app.create_product(&m.producer, &product_body("草稿", 1000)).await;
    let (buyer, _) = m.app.consumer().await;
    let r = m.app.order(&buyer, &[(apples, 6)]).await;
    let problem = assert_problem(r, 409, "insufficient_stock").await;
    assert_eq!(problem["lines"][0]["available"], 5);
    assert_eq!(problem["lines"][0]["requested"], 6);
    let unknown = Uuid::now_v7();
    let r = m.app.order(&buyer, &[(apples, 1), (draft, 1), (unknown, 1)]).await;
    let problem = assert_problem(r, 422, "invalid_lines").await;
    let kinds: Vec<&str> =
        problem["lines"].as_array().unwrap().iter().map(|l| l["problem"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["not_listed", "unknown_product"]);
    for lines in [vec![(apples, 0)], vec![(apples, -1)], vec![(apples, 1), (apples, 2)], vec![(apples, 100_001)]] {
        assert_problem(m.app.order(&buyer, &lines).await, 422, "invalid_lines").await;
    }
    let too_many: Vec<(Uuid, i64)> = (0..201).map(|_| (Uuid::now_v7(), 1)).collect();
    let problem = assert_problem(m.app.order(&buyer, &too_many).await, 422, "validation_failed").await;
    field_errors(&problem, "lines");
    assert_eq!(m.app.stock_of(apples).await, 5);
    assert_eq!(m.app.count("orders").await, 0);
}

#[tokio::test]
async fn below_the_minimum_order_quantity_is_refused() {
    let m = market().await;
    let mut body = product_body("整箱苹果", 1000);
    body["min_order_qty"] = json!(5);
    let id = m.app.listed_product(&m.producer, &m.admin, &body).await;
    let (buyer, _) = m.app.consumer().await;
    let problem = assert_problem(m.app.order(&buyer, &[(id, 4)]).await, 422, "invalid_lines").await;
    assert_eq!(problem["lines"][0]["problem"], "below_min_order_qty");
    assert_eq!(problem["lines"][0]["min_order_qty"], 5);
    assert_eq!(m.app.order(&buyer, &[(id, 5)]).await.status(), 201);
}

#[tokio::test]
async fn the_idempotency_key_replays_rejects_other_bodies_and_is_required() {
    let m = market().await;
    let apples = m.app.stocked_product(&m.producer, &m.admin, 100, 1000).await;
    let (buyer, _) = m.app.consumer().await;
    let body = json!({"lines": [{"product_id": apples, "qty": 2}], "shipping_address": address()});
    let send = |key: &str, body: &Value| {
        buyer.post(m.app.url("/api/v1/orders")).header("idempotency-key", key).json(body).send()
    };
    let first = send("k-1", &body).await.unwrap();
    assert_eq!(first.status(), 201);
    let first = json_of(first).await;
    let again = send("k-1", &body).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(json_of(again).await, first);
    // A restart keeps it: a second server on the same database replays too.
    let other = m.app.second_instance().await;
    let replay =
        buyer.post(other.url("/api/v1/orders")).header("idempotency-key", "k-1").json(&body).send().await.unwrap();
    assert_eq!(json_of(replay).await["id"], first["id"]);
    let mut changed = body.clone();
    changed["lines"][0]["qty"] = json!(3);
    assert_problem(send("k-1", &changed).await.unwrap(), 422, "idempotency_key_reused").await;
    let r = buyer.post(m.app.url("/api/v1/orders")).json(&body).send().await.unwrap();
    assert_problem(r, 400, "idempotency_key_required").await;
    assert_eq!(m.app.count("orders").await, 1);
    assert_eq!(m.app.stock_of(apples).await, 98);
    // Keys are per account: another buyer's same key is a new order.
    let (other_buyer, _) = m.app.consumer().await;
    let r = other_buyer
        .post(m.app.url("/api/v1/orders"))
        .header("idempotency-key", "k-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Past the retention window the key may place a new order.
    sqlx::query("update idempotency_keys set created_at = now() - interval '25 hours'")
        .execute(&m.app.db)
        .await
        .unwrap();
    let r = send("k-1", &changed).await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(m.app.count("orders").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_key_sent_50_times_at_once_places_one_order() {
    let m = market().await;
    let apples = m.app.stocked_product(&m.producer, &m.admin, 1000, 1000).await;
    let (buyer, _) = m.app.consumer().await;
    let body = json!({"lines": [{"product_id": apples, "qty": 1}], "shipping_address": address()});
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (client, url, body) = (buyer.clone(), m.app.url("/api/v1/orders"), body.clone());
            tokio::spawn(async move {
                let r = client.post(url).header("idempotency-key", "same-key").json(&body).send().await.unwrap();
                let status = r.status().as_u16();
                let v: Value = r.json().await.unwrap();
                (status, v)
            })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, v) = t.await.unwrap();
        match status {
            201 => {
                ids.insert(v["id"].as_str().unwrap().to_string());
            }
            409 => assert_eq!(v["code"], "idempotency_key_in_use"),
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(m.app.count("orders").await, 1);
    assert_eq!(m.app.stock_of(apples).await, 999);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_buyers_on_two_instances_never_oversell() {
    let m = market().await;
    let other = m.app.second_instance().await;
    let product = m.app.stocked_product(&m.producer, &m.admin, 100, 500).await;
    let mut buyers = Vec::new();
    for _ in 0..10 {
        buyers.push(m.app.consumer().await.0);
    }
    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let client = buyers[i % buyers.len()].clone();
            let base = if i % 2 == 0 { m.app.address.clone() } else { other.address.clone() };
            tokio::spawn(async move {
                let r = client
                    .post(format!("{base}/api/v1/orders"))
                    .header("idempotency-key", Uuid::now_v7().to_string())
                    .json(&json!({"lines": [{"product_id": product, "qty": 1}], "shipping_address": address()}))
                    .send()
                    .await
                    .unwrap();
                r.status().as_u16()
            })
        })
        .collect();
    let mut by_status = BTreeMap::new();
    for t in tasks {
        *by_status.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(by_status.get(&201), Some(&100), "{by_status:?}");
    assert_eq!(by_status.get(&409), Some(&400), "{by_status:?}");
    assert_eq!(m.app.stock_of(product).await, 0);
    let sold: i64 = sqlx::query_scalar("select coalesce(sum(qty), 0)::bigint from order_lines where product_id = $1")
        .bind(product)
        .fetch_one(&m.app.db)
        .await
        .unwrap();
    assert_eq!(sold, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn baskets_in_opposite_orders_never_deadlock() {
    let m = market().await;
    let a = m.app.stocked_product(&m.producer, &m.admin, 100_000, 300).await;
    let b = m.app.stocked_product(&m.producer, &m.admin, 100_000, 400).await;
    let mut buyers = Vec::new();
    for _ in 0..10 {
        buyers.push(m.app.consumer().await.0);
    }
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let client = buyers[i % buyers.len()].clone();
            let url = m.app.url("/api/v1/orders");
            let lines = if i % 2 == 0 {
                json!([{"product_id": a, "qty": 1}, {"product_id": b, "qty": 1}])
            } else {
                json!([{"product_id": b, "qty": 1}, {"product_id": a, "qty": 1}])
            };
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .header("idempotency-key", Uuid::now_v7().to_string())
                    .json(&json!({"lines": lines, "shipping_address": address()}))
                    .send()
                    .await
                    .unwrap();
                r.status().as_u16()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    assert_eq!(m.app.stock_of(a).await, 100_000 - 200);
    assert_eq!(m.app.stock_of(b).await, 100_000 - 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expiry_and_cancellation_racing_return_stock_once() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, &m.admin, 1000, 500).await;
    let (buyer, _) = m.app.consumer().await;
    let mut orders = Vec::new();
    for _ in 0..20 {
        let r = m.app.order(&buyer, &[(product, 3)]).await;
        orders.push(json_of(r).await["id"].as_str().unwrap().parse::<Uuid>().unwrap());
    }
    assert_eq!(m.app.stock_of(product).await, 1000 - 60);
    sqlx::query("update orders set expires_at = now() - interval '1 second'").execute(&m.app.db).await.unwrap();
    let state = m.app.state.clone();
    let expiry = tokio::spawn(async move { tonggan::orders::expire_due(&state).await.unwrap() });
    let cancels: Vec<_> = orders
        .iter()
        .map(|id| {
            let (client, url) = (buyer.clone(), m.app.url(&format!("/api/v1/orders/{id}/cancel")));
            tokio::spawn(async move { client.post(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut cancelled = 0;
    for c in cancels {
        match c.await.unwrap() {
            200 => cancelled += 1,
            409 => {}
            other => panic!("cancel answered {other}"),
        }
    }
    let expired = expiry.await.unwrap();
    assert_eq!(cancelled + expired, 20, "each order closed exactly once");
    assert_eq!(m.app.stock_of(product).await, 1000, "stock returned exactly once per order");
}

#[tokio::test]
async fn an_order_is_never_both_expired_and_paid() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, &m.admin, 10, 500).await;
    let (buyer, _) = m.app.consumer().await;
    let late: Uuid = json_of(m.app.order(&buyer, &[(product, 1)]).await).await["id"].as_str().unwrap().parse().unwrap();
    let paid: Uuid = json_of(m.app.order(&buyer, &[(product, 1)]).await).await["id"].as_str().unwrap().parse().unwrap();
    tonggan::orders::mark_paid(&m.app.state, paid, "pay-1").await.unwrap();
    sqlx::query("update orders set expires_at = now() - interval '1 second'").execute(&m.app.db).await.unwrap();
    assert_eq!(tonggan::orders::expire_due(&m.app.state).await.unwrap(), 1);
    let err = tonggan::orders::mark_paid(&m.app.state, late, "pay-2").await.unwrap_err();
    assert_eq!(err.code(), "order_not_payable");
    let statuses: Vec<(String,)> =
        sqlx::query_as("select status from orders order by id").fetch_all(&m.app.db).await.unwrap();
    assert_eq!(statuses, vec![("expired".to_string(),), ("paid".to_string(),)]);
    // Paying twice changes nothing.
    tonggan::orders::mark_paid(&m.app.state, paid, "pay-1").await.unwrap();
    let sales: i64 = sqlx::query_scalar("select sales_count from products where id = $1")
        .bind(product)
        .fetch_one(&m.app.db)
        .await
        .unwrap();
    assert_eq!(sales, 1);
    assert_eq!(m.app.stock_of(product).await, 9);
}

#[tokio::test]
async fn cancelling_returns_stock_and_a_paid_order_cannot_be_cancelled() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, &m.admin, 10, 500).await;
    let (buyer, _) = m.app.consumer().await;
    let id = json_of(m.app.order(&buyer, &[(product, 4)]).await).await["id"].as_str().unwrap().to_string();
    assert_eq!(m.app.stock_of(product).await, 6);
    let r = buyer.post(m.app.url(&format!("/api/v1/orders/{id}/cancel"))).send().await.unwrap();
    assert_eq!(json_of(r).await["status"], "cancelled");
    assert_eq!(m.app.stock_of(product).await, 10);
    let r = buyer.post(m.app.url(&format!("/api/v1/orders/{id}/cancel"))).send().await.unwrap();
    assert_problem(r, 409, "invalid_transition").await;
    let paid =
        json_of(m.app.order(&buyer, &[(product, 1)]).await).await["id"].as_str().unwrap().parse::<Uuid>().unwrap();
    tonggan::orders::mark_paid(&m.app.state, paid, "p").await.unwrap();
    let r = buyer.post(m.app.url(&format!("/api/v1/orders/{paid}/cancel"))).send().await.unwrap();
    assert_problem(r, 409, "invalid_transition").await;
    assert_eq!(m.app.stock_of(product).await, 9);
}

#[tokio::test]
async fn someone_elses_order_is_not_found() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, &m.admin, 10, 500).await;
    let (buyer, _) = m.app.consumer().await;
    let (stranger, _) = m.app.consumer().await;
    let id = json_of(m.app.order(&buyer, &[(product, 1)]).await).await["id"].as_str().unwrap().to_string();
    assert_problem(stranger.get(m.app.url(&format!("/api/v1/orders/{id}"))).send().await.unwrap(), 404, "not_found")
        .await;
    assert_problem(
        stranger.post(m.app.url(&format!("/api/v1/orders/{id}/cancel"))).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    let list = json_of(stranger.get(m.app.url("/api/v1/orders")).send().await.unwrap()).await;
    assert_eq!(list["items"], json!([]));
    let mine = json_of(buyer.get(m.app.url("/api/v1/orders")).send().await.unwrap()).await;
    assert_eq!(mine["items"][0]["id"], id);
    assert_eq!(m.app.stock_of(product).await, 9);
}

#[tokio::test]
async fn purchasers_above_the_threshold_wait_for_an_approver() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, &m.admin, 100, 1000).await;
    let (owner, org) = m.app.verified_enterprise(&m.admin).await;
    let purchaser = m.app.enterprise_member(&owner, org, "purchaser").await;
    let approver = m.app.enterprise_member(&owner, org, "approver").await;
    let r = purchaser
        .put(m.app.url("/api/v1/enterprise/settings"))
        .json(&json!({"approval_threshold_fen": 5000}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
    let r = owner
        .put(m.app.url("/api/v1/enterprise/settings"))
        .json(&json!({"approval_threshold_fen": 5000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Below: straight to payment. At the threshold: waits.
    let small = json_of(m.app.order(&purchaser, &[(product, 4)]).await).await;
    assert_eq!(small["status"], "pending_payment");
    let big = json_of(m.app.order(&purchaser, &[(product, 5)]).await).await;
    assert_eq!(big["status"], "awaiting_approval");
    assert_eq!(big["invoice"], Value::Null);
    let id = big["id"].as_str().unwrap();
    assert_problem(
        purchaser.post(m.app.url(&format!("/api/v1/orders/{id}/approve"))).json(&json!({})).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    // Approvers see all of the enterprise's orders; the purchaser only their own.
    let all = json_of(approver.get(m.app.url("/api/v1/orders")).send().await.unwrap()).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let r = approver
        .post(m.app.url(&format!("/api/v1/orders/{id}/approve")))
        .json(&json!({"note": "同意采购"}))
        .send()
        .await
        .unwrap();
    let approved = json_of(r).await;
    assert_eq!(approved["status"], "pending_payment");
    assert_eq!(approved["history"][1]["note"], "同意采购");
    let again =
        approver.post(m.app.url(&format!("/api/v1/orders/{id}/approve"))).json(&json!({})).send().await.unwrap();
    assert_problem(again, 409, "invalid_transition").await;
    // A rejection cancels and returns the stock.
    let other = json_of(m.app.order(&purchaser, &[(product, 6)]).await).await;
    let other_id = other["id"].as_str().unwrap();
    assert_eq!(m.app.stock_of(product).await, 100 - 4 - 5 - 6);
    let r = owner
        .post(m.app.url(&format!("/api/v1/orders/{other_id}/reject")))
        .json(&json!({"note": "预算不足"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await["status"], "cancelled");
    assert_eq!(m.app.stock_of(product).await, 100 - 4 - 5);
}

#[tokio::test]
async fn an_enterprise_that_is_not_verified_places_no_orders() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, &m.admin, 100, 1000).await;
    let (pending, _, _) = m.app.organization("enterprise").await;
    assert_problem(m.app.order(&pending, &[(product, 1)]).await, 403, "enterprise_not_verified").await;
    assert_problem(m.app.order(&m.producer, &[(product, 1)]).await, 403, "forbidden").await;
    assert_eq!(m.app.count("orders").await, 0);
}

#[tokio::test]
async fn enterprise_invoices_default_to_the_uscc() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, &m.admin, 100, 1000).await;
    let (owner, org) = m.app.verified_enterprise(&m.admin).await;
    let body = json!({"lines": [{"product_id": product, "qty": 1}], "shipping_address": address(), "po_number": "PO-2026-001", "invoice": {"title": "天津市和平区食堂管理有限公司"}});
    let r = owner.post(m.app.url("/api/v1/orders")).header("idempotency-key", "inv").json(&body).send().await.unwrap();
    let order = json_of(r).await;
    let uscc: String = sqlx::query_scalar("select uscc from organizations where id = $1")
        .bind(org)
        .fetch_one(&m.app.db)
        .await
        .unwrap();
    assert_eq!(order["invoice"]["tax_id"], uscc);
    assert_eq!(order["po_number"], "PO-2026-001");
    // Consumers carry neither.
    let (consumer, _) = m.app.consumer().await;
    let r =
        consumer.post(m.app.url("/api/v1/orders")).header("idempotency-key", "inv").json(&body).send().await.unwrap();
    let problem = assert_problem(r, 422, "validation_failed").await;
    field_errors(&problem, "po_number");
    field_errors(&problem, "invoice");
}

#[tokio::test]
async fn producers_ship_their_groups_and_buyers_confirm_receipt() {
    let m = market().await;
    let (second, _, _) = m.app.verified_producer(&m.admin).await;
    let a = m.app.stocked_product(&m.producer, &m.admin, 10, 1000).await;
    let b = m.app.stocked_product(&second, &m.admin, 10, 1000).await;
    let (buyer, _) = m.app.consumer().await;
    let order = json_of(m.app.order(&buyer, &[(a, 1), (b, 1)]).await).await;
    let id: Uuid = order["id"].as_str().unwrap().parse().unwrap();
    let my_group = json_of(m.producer.get(m.app.url("/api/v1/producer/order-groups")).send().await.unwrap()).await;
    assert_eq!(my_group["items"], json!([]), "unpaid groups are not the producer's business yet");
    let unpaid_group = order["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["lines"][0]["product_id"] == a.to_string())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = m
        .producer
        .post(m.app.url(&format!("/api/v1/producer/order-groups/{unpaid_group}/ship")))
        .json(&json!({"carrier": "顺丰", "tracking_no": "SF1"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, "invalid_transition").await;
    tonggan::orders::mark_paid(&m.app.state, id, "pay").await.unwrap();
    let groups = json_of(m.producer.get(m.app.url("/api/v1/producer/order-groups")).send().await.unwrap()).await;
    let items = groups["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only its own group");
    assert_eq!(items[0]["lines"].as_array().unwrap().len(), 1);
    assert_eq!(items[0]["lines"][0]["product_id"], a.to_string());
    assert_eq!(items[0]["shipping_address"]["recipient"], "李明");
    let group_id = items[0]["id"].as_str().unwrap().to_string();
    // Receipt before shipping, and another producer shipping it, are refused.
    let r =
        buyer.post(m.app.url(&format!("/api/v1/orders/{id}/groups/{group_id}/confirm-receipt"))).send().await.unwrap();
    assert_problem(r, 409, "invalid_transition").await;
    let ship = json!({"carrier": "顺丰", "tracking_no": "SF1234567890"});
    let r = second
        .post(m.app.url(&format!("/api/v1/producer/order-groups/{group_id}/ship")))
        .json(&ship)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not_found").await;
    let r = m
        .producer
        .post(m.app.url(&format!("/api/v1/producer/order-groups/{group_id}/ship")))
        .json(&ship)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await["status"], "shipped");
    let r = m
        .producer
        .post(m.app.url(&format!("/api/v1/producer/order-groups/{group_id}/ship")))
        .json(&ship)
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, "invalid_transition").await;
    let r =
        buyer.post(m.app.url(&format!("/api/v1/orders/{id}/groups/{group_id}/confirm-receipt"))).send().await.unwrap();
    let after = json_of(r).await;
    assert_eq!(after["status"], "paid", "one group still open");
    // The other group ships and completes on its own after the configured days.
    let other_groups = json_of(second.get(m.app.url("/api/v1/producer/order-groups")).send().await.unwrap()).await;
    let other_id = other_groups["items"][0]["id"].as_str().unwrap().to_string();
    second.post(m.app.url(&format!("/api/v1/producer/order-groups/{other_id}/ship"))).json(&ship).send().await.unwrap();
    sqlx::query("update order_groups set shipped_at = now() - interval '11 days' where id = $1")
        .bind(other_id.parse::<Uuid>().unwrap())
        .execute(&m.app.db)
        .await
        .unwrap();
    assert_eq!(tonggan::orders::complete_due(&m.app.state).await.unwrap(), 1);
    let done = json_of(buyer.get(m.app.url(&format!("/api/v1/orders/{id}"))).send().await.unwrap()).await;
    assert_eq!(done["status"], "completed");
    let path: Vec<&str> =
        done["history"].as_array().unwrap().iter().map(|h| h["to_status"].as_str().unwrap()).collect();
    assert_eq!(path, vec!["pending_payment", "paid", "shipped", "completed", "shipped", "completed", "completed"]);
}

#[tokio::test]
async fn the_cart_is_priced_live_and_orders_from_the_cart_empty_it() {
    let m = market().await;
    let apples = m.app.stocked_product(&m.producer, &m.admin, 20, 1000).await;
    let pears = m.app.stocked_product(&m.producer, &m.admin, 3, 2000).await;
    let (buyer, _) = m.app.consumer().await;
    let put =
        |p: Uuid, qty: i64| buyer.put(m.app.url(&format!("/api/v1/cart/items/{p}"))).json(&json!({"qty": qty})).send();
    put(apples, 10).await.unwrap();
    let cart = json_of(put(pears, 5).await.unwrap()).await;
    let line = |cart: &Value, p: Uuid| {
        cart["items"].as_array().unwrap().iter().find(|l| l["product_id"] == p.to_string()).unwrap().clone()
    };
    assert_eq!(line(&cart, apples)["unit_price_fen"], 900);
    assert_eq!(line(&cart, pears)["short_of_stock"], true);
    assert_eq!(cart["orderable"], false);
    assert_eq!(cart["total_fen"], 9000);
    assert_problem(put(apples, 0).await.unwrap(), 422, "validation_failed").await;
    assert_problem(put(Uuid::now_v7(), 1).await.unwrap(), 404, "not_found").await;
    let cart = json_of(buyer.delete(m.app.url(&format!("/api/v1/cart/items/{pears}"))).send().await.unwrap()).await;
    assert_eq!(cart["orderable"], true);
    // The producer delists: the cart says so.
    m.producer.post(m.app.url(&format!("/api/v1/producer/products/{apples}/delist"))).send().await.unwrap();
    let cart = json_of(buyer.get(m.app.url("/api/v1/cart")).send().await.unwrap()).await;
    assert_eq!(line(&cart, apples)["unavailable"], true);
    m.producer.post(m.app.url(&format!("/api/v1/producer/products/{apples}/submit"))).send().await.unwrap();
    m.admin.post(m.app.url(&format!("/api/v1/admin/products/{apples}/approve"))).send().await.unwrap();
    let r = buyer
        .post(m.app.url("/api/v1/orders"))
        .header("idempotency-key", "cart-1")
        .json(&json!({"from_cart": true, "shipping_address": address()}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await["total_fen"], 9000);
    let cart = json_of(buyer.get(m.app.url("/api/v1/cart")).send().await.unwrap()).await;
    assert_eq!(cart["items"], json!([]));
}

#[tokio::test]
async fn a_bulk_csv_order_is_all_or_nothing_with_a_per_line_report() {
    let m = market().await;
    let a = m.app.stocked_product(&m.producer, &m.admin, 100, 1000).await;
    let b = m.app.stocked_product(&m.producer, &m.admin, 2, 1000).await;
    let (owner, _) = m.app.verified_enterprise(&m.admin).await;
    let send = |csv: String, key: &str| {
        owner
            .post(m.app.url("/api/v1/orders/bulk?po_number=PO-7"))
            .header("idempotency-key", key)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
    };
    let bad = format!("product_id,qty\n{a},10\nnot-a-uuid,1\n{b},x\n");
    let problem = assert_problem(send(bad, "b1").await.unwrap(), 422, "invalid_lines").await;
    let rows: Vec<(i64, &str)> = problem["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["row"].as_i64().unwrap(), l["problem"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, vec![(3, "bad_product_id"), (4, "bad_number")]);
    let short = format!("{a},10\n{b},3\n");
    let problem = assert_problem(send(short, "b2").await.unwrap(), 409, "insufficient_stock").await;
    assert_eq!(problem["lines"][0]["product_id"], b.to_string());
    assert_eq!(m.app.stock_of(a).await, 100);
    let good = format!("{a},10\n{b},2\n");
    let r = send(good, "b3").await.unwrap();
    let order = json_of(r).await;
    assert_eq!(order["po_number"], "PO-7");
    assert_eq!(order["total_fen"], 10 * 900 + 2 * 1000);
    assert_eq!(m.app.stock_of(b).await, 0);
    let (consumer, _) = m.app.consumer().await;
    let r = consumer
        .post(m.app.url("/api/v1/orders/bulk"))
        .header("idempotency-key", "c")
        .header("content-type", "text/csv")
        .body(format!("{a},1\n"))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "forbidden").await;
}

#[tokio::test]
async fn admins_list_orders_by_status_and_time() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, &m.admin, 100, 1000).await;
    let (buyer, _) = m.app.consumer().await;
    let first = json_of(m.app.order(&buyer, &[(product, 1)]).await).await;
    m.app.order(&buyer, &[(product, 1)]).await;
    tonggan::orders::mark_paid(&m.app.state, first["id"].as_str().unwrap().parse().unwrap(), "p").await.unwrap();
    let paid = json_of(m.admin.get(m.app.url("/api/v1/admin/orders?status=paid")).send().await.unwrap()).await;
    assert_eq!(paid["items"].as_array().unwrap().len(), 1);
    let all =
        json_of(m.admin.get(m.app.url("/api/v1/admin/orders?from=2020-01-01T00:00:00Z")).send().await.unwrap()).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let none =
        json_of(m.admin.get(m.app.url("/api/v1/admin/orders?to=2020-01-01T00:00:00Z")).send().await.unwrap()).await;
    assert_eq!(none["items"], json!([]));
    assert_problem(
        m.admin.get(m.app.url("/api/v1/admin/orders?from=yesterday")).send().await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_problem(buyer.get(m.app.url("/api/v1/admin/orders")).send().await.unwrap(), 403, "forbidden").await;
}
