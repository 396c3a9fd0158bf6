//! Orders: placement without oversell, idempotency, approvals, cancellation and expiry,
//! fulfilment, carts and bulk orders.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

struct Market {
    app: TestApp,
    producer: Owner,
}

/// A server without background jobs, its admin and a verified producer.
async fn market() -> Market {
    let app = TestApp::spawn_with(|s| s.orders.jobs_enabled = false).await;
    let producer = app.verified_producer().await;
    Market { app, producer }
}

#[tokio::test]
async fn an_order_is_priced_from_the_ladder_split_by_producer_and_reserves_stock() {
    let m = market().await;
    let second_producer = m.app.verified_producer().await;
    let apples = m.app.stocked_product(&m.producer, 100, 1000).await;
    let pears = m.app.stocked_product(&second_producer, 50, 2000).await;
    let buyer = m.app.consumer().await;
    let order = m.app.as_(&buyer).place_order(&[(apples, 12), (pears, 1)]).await;
    assert_eq!(order.status, "pending_payment");
    // 12 apples reach the 10-unit tier (900); 1 pear at retail.
    assert_eq!(order.total_fen, 12 * 900 + 2000);
    assert_eq!(order.groups.len(), 2);
    let apple_line = order.line(apples);
    assert_eq!((apple_line.unit_price_fen, apple_line.line_total_fen), (900, 10800));
    assert!(order.expires_at.is_some());
    assert_eq!(m.app.stock_of(apples).await, 88);
    assert_eq!(m.app.stock_of(pears).await, 49);
    assert_eq!(order.history[0].to_status, "pending_payment");
}

#[tokio::test]
async fn bad_lines_are_named_and_nothing_is_reserved() {
    let m = market().await;
    let apples = m.app.stocked_product(&m.producer, 5, 1000).await;
    let draft = m.app.create_product(&m.producer, &product_body("草稿", 1000)).await;
    let buyer = m.app.as_(&m.app.consumer().await);
    let problem = assert_problem(buyer.order(&[(apples, 6)]).await, 409, "insufficient_stock").await;
    assert_eq!(problem.lines[0]["available"], 5);
    assert_eq!(problem.lines[0]["requested"], 6);
    let unknown = Uuid::now_v7();
    let r = buyer.order(&[(apples, 1), (draft, 1), (unknown, 1)]).await;
    let problem = assert_problem(r, 422, "invalid_lines").await;
    let kinds: Vec<&str> = problem.lines.as_array().unwrap().iter().map(|l| l["problem"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["not_listed", "unknown_product"]);
    for lines in [vec![(apples, 0)], vec![(apples, -1)], vec![(apples, 1), (apples, 2)], vec![(apples, 100_001)]] {
        assert_problem(buyer.order(&lines).await, 422, "invalid_lines").await;
    }
    let too_many: Vec<(Uuid, i64)> = (0..201).map(|_| (Uuid::now_v7(), 1)).collect();
    let problem = assert_problem(buyer.order(&too_many).await, 422, "validation_failed").await;
    field_errors(&problem, "lines");
    assert_eq!(m.app.stock_of(apples).await, 5);
    assert_eq!(m.app.count("orders").await, 0);
}

#[tokio::test]
async fn below_the_minimum_order_quantity_is_refused() {
    let m = market().await;
    let mut body = product_body("整箱苹果", 1000);
    body["min_order_qty"] = json!(5);
    let id = m.app.listed_product(&m.producer, &body).await;
    let buyer = m.app.as_(&m.app.consumer().await);
    let problem = assert_problem(buyer.order(&[(id, 4)]).await, 422, "invalid_lines").await;
    assert_eq!(problem.lines[0]["problem"], "below_min_order_qty");
    assert_eq!(problem.lines[0]["min_order_qty"], 5);
    assert_eq!(buyer.order(&[(id, 5)]).await.status(), 201);
}

#[tokio::test]
async fn the_idempotency_key_replays_rejects_other_bodies_and_is_required() {
    let m = market().await;
    let apples = m.app.stocked_product(&m.producer, 100, 1000).await;
    let buyer = m.app.consumer().await;
    let at_first = m.app.as_(&buyer);
    let body = order_body(&[(apples, 2)]);
    let first = at_first.order_keyed("k-1", &body).await;
    assert_eq!(first.status(), 201);
    let first: Value = parse(first).await;
    let again = at_first.order_keyed("k-1", &body).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(parse::<Value>(again).await, first);
    // A restart keeps it: a second server on the same database replays too.
    let other = m.app.second_instance().await;
    let replay: Value = parse(other.as_(&buyer).order_keyed("k-1", &body).await).await;
    assert_eq!(replay["id"], first["id"]);
    let mut changed = body.clone();
    changed["lines"][0]["qty"] = json!(3);
    assert_problem(at_first.order_keyed("k-1", &changed).await, 422, "idempotency_key_reused").await;
    assert_problem(at_first.post("/api/v1/orders", &body).await, 400, "idempotency_key_required").await;
    assert_eq!(m.app.count("orders").await, 1);
    assert_eq!(m.app.stock_of(apples).await, 98);
    // Keys are per account: another buyer's same key is a new order.
    let other_buyer = m.app.consumer().await;
    assert_eq!(m.app.as_(&other_buyer).order_keyed("k-1", &body).await.status(), 201);
    // Past the retention window the key may place a new order.
    sqlx::query("update idempotency_keys set created_at = now() - interval '25 hours'")
        .execute(&m.app.db)
        .await
        .unwrap();
    assert_eq!(at_first.order_keyed("k-1", &changed).await.status(), 201);
    assert_eq!(m.app.count("orders").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_key_sent_50_times_at_once_places_one_order() {
    let m = market().await;
    let apples = m.app.stocked_product(&m.producer, 1000, 1000).await;
    let buyer = m.app.as_(&m.app.consumer().await);
    let body = order_body(&[(apples, 1)]);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (buyer, body) = (buyer.clone(), body.clone());
            tokio::spawn(async move {
                let r = buyer.order_keyed("same-key", &body).await;
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
    let product = m.app.stocked_product(&m.producer, 100, 500).await;
    let buyers = m.app.buyers(10).await;
    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let buyer = &buyers[i % buyers.len()];
            let buyer = if i % 2 == 0 { m.app.as_(buyer) } else { other.as_(buyer) };
            tokio::spawn(async move { buyer.order(&[(product, 1)]).await.status().as_u16() })
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
    let a = m.app.stocked_product(&m.producer, 100_000, 300).await;
    let b = m.app.stocked_product(&m.producer, 100_000, 400).await;
    let buyers = m.app.buyers(10).await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let buyer = m.app.as_(&buyers[i % buyers.len()]);
            let lines = if i % 2 == 0 { [(a, 1), (b, 1)] } else { [(b, 1), (a, 1)] };
            tokio::spawn(async move { buyer.order(&lines).await.status().as_u16() })
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
    let product = m.app.stocked_product(&m.producer, 1000, 500).await;
    let buyer = m.app.as_(&m.app.consumer().await);
    let mut orders = Vec::new();
    for _ in 0..20 {
        orders.push(buyer.place_order(&[(product, 3)]).await.id);
    }
    assert_eq!(m.app.stock_of(product).await, 1000 - 60);
    sqlx::query("update orders set expires_at = now() - interval '1 second'").execute(&m.app.db).await.unwrap();
    let state = m.app.state.clone();
    let expiry = tokio::spawn(async move { tonggan::orders::expire_due(&state).await.unwrap() });
    let cancels: Vec<_> = orders
        .iter()
        .map(|&id| {
            let buyer = buyer.clone();
            tokio::spawn(async move { buyer.cancel(id).await.status().as_u16() })
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
    let product = m.app.stocked_product(&m.producer, 10, 500).await;
    let buyer = m.app.as_(&m.app.consumer().await);
    let late = buyer.place_order(&[(product, 1)]).await.id;
    let paid = buyer.place_order(&[(product, 1)]).await.id;
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
    let product = m.app.stocked_product(&m.producer, 10, 500).await;
    let buyer = m.app.as_(&m.app.consumer().await);
    let id = buyer.place_order(&[(product, 4)]).await.id;
    assert_eq!(m.app.stock_of(product).await, 6);
    let cancelled: Order = parse(buyer.cancel(id).await).await;
    assert_eq!(cancelled.status, "cancelled");
    assert_eq!(m.app.stock_of(product).await, 10);
    assert_problem(buyer.cancel(id).await, 409, "invalid_transition").await;
    let paid = buyer.place_order(&[(product, 1)]).await.id;
    tonggan::orders::mark_paid(&m.app.state, paid, "p").await.unwrap();
    assert_problem(buyer.cancel(paid).await, 409, "invalid_transition").await;
    assert_eq!(m.app.stock_of(product).await, 9);
}

#[tokio::test]
async fn someone_elses_order_is_not_found() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, 10, 500).await;
    let buyer = m.app.as_(&m.app.consumer().await);
    let stranger = m.app.as_(&m.app.consumer().await);
    let id = buyer.place_order(&[(product, 1)]).await.id;
    assert_problem(stranger.get_order(id).await, 404, "not_found").await;
    assert_problem(stranger.cancel(id).await, 404, "not_found").await;
    assert!(stranger.orders().await.items.is_empty());
    assert_eq!(buyer.orders().await.items[0].id, id);
    assert_eq!(m.app.stock_of(product).await, 9);
}

#[tokio::test]
async fn purchasers_above_the_threshold_wait_for_an_approver() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, 100, 1000).await;
    let enterprise = m.app.verified_enterprise().await;
    let owner = m.app.as_(&enterprise);
    let purchaser = m.app.as_(&owner.add_member(enterprise.org, "purchaser").await);
    let approver = m.app.as_(&owner.add_member(enterprise.org, "approver").await);
    assert_problem(purchaser.set_approval_threshold(5000).await, 403, "forbidden").await;
    assert_eq!(owner.set_approval_threshold(5000).await.status(), 200);
    // Below: straight to payment. At the threshold: waits.
    let small = purchaser.place_order(&[(product, 4)]).await;
    assert_eq!(small.status, "pending_payment");
    let big = purchaser.place_order(&[(product, 5)]).await;
    assert_eq!(big.status, "awaiting_approval");
    assert!(big.invoice.is_none());
    assert_problem(purchaser.approve_order(big.id, None).await, 403, "forbidden").await;
    // Approvers see all of the enterprise's orders; the purchaser only their own.
    assert_eq!(approver.orders().await.items.len(), 2);
    let approved: Order = parse(approver.approve_order(big.id, Some("同意采购")).await).await;
    assert_eq!(approved.status, "pending_payment");
    assert_eq!(approved.history[1].note.as_deref(), Some("同意采购"));
    assert_problem(approver.approve_order(big.id, None).await, 409, "invalid_transition").await;
    // A rejection cancels and returns the stock.
    let other = purchaser.place_order(&[(product, 6)]).await;
    assert_eq!(m.app.stock_of(product).await, 100 - 4 - 5 - 6);
    let rejected: Order = parse(owner.reject_order(other.id, Some("预算不足")).await).await;
    assert_eq!(rejected.status, "cancelled");
    assert_eq!(m.app.stock_of(product).await, 100 - 4 - 5);
}

#[tokio::test]
async fn an_enterprise_that_is_not_verified_places_no_orders() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, 100, 1000).await;
    let pending = m.app.organization("enterprise").await;
    assert_problem(m.app.as_(&pending).order(&[(product, 1)]).await, 403, "enterprise_not_verified").await;
    assert_problem(m.app.as_(&m.producer).order(&[(product, 1)]).await, 403, "forbidden").await;
    assert_eq!(m.app.count("orders").await, 0);
}

#[tokio::test]
async fn enterprise_invoices_default_to_the_uscc() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, 100, 1000).await;
    let owner = m.app.verified_enterprise().await;
    let body = json!({"lines": [{"product_id": product, "qty": 1}], "shipping_address": address(), "po_number": "PO-2026-001", "invoice": {"title": "天津市和平区食堂管理有限公司"}});
    let order: Order = parse(m.app.as_(&owner).order_keyed("inv", &body).await).await;
    let uscc: String = sqlx::query_scalar("select uscc from organizations where id = $1")
        .bind(owner.org)
        .fetch_one(&m.app.db)
        .await
        .unwrap();
    assert_eq!(order.invoice.unwrap().tax_id, Some(uscc));
    assert_eq!(order.po_number.as_deref(), Some("PO-2026-001"));
    // Consumers carry neither.
    let consumer = m.app.consumer().await;
    let problem = assert_problem(m.app.as_(&consumer).order_keyed("inv", &body).await, 422, "validation_failed").await;
    field_errors(&problem, "po_number");
    field_errors(&problem, "invoice");
}

#[tokio::test]
async fn producers_ship_their_groups_and_buyers_confirm_receipt() {
    let m = market().await;
    let second = m.app.verified_producer().await;
    let a = m.app.stocked_product(&m.producer, 10, 1000).await;
    let b = m.app.stocked_product(&second, 10, 1000).await;
    let (producer, second) = (m.app.as_(&m.producer), m.app.as_(&second));
    let buyer = m.app.as_(&m.app.consumer().await);
    let order = buyer.place_order(&[(a, 1), (b, 1)]).await;
    let id = order.id;
    assert!(producer.producer_groups().await.items.is_empty(), "unpaid groups are not the producer's business yet");
    let unpaid_group = order.group_of(a).id;
    assert_problem(producer.ship(unpaid_group, "顺丰", "SF1").await, 409, "invalid_transition").await;
    tonggan::orders::mark_paid(&m.app.state, id, "pay").await.unwrap();
    let groups = producer.producer_groups().await;
    let items = &groups.items;
    assert_eq!(items.len(), 1, "only its own group");
    assert_eq!(items[0].lines.len(), 1);
    assert_eq!(items[0].lines[0].product_id, a);
    assert_eq!(items[0].shipping_address["recipient"], "李明");
    let group_id = items[0].id;
    // Receipt before shipping, and another producer shipping it, are refused.
    assert_problem(buyer.confirm_receipt(id, group_id).await, 409, "invalid_transition").await;
    assert_problem(second.ship(group_id, "顺丰", "SF1234567890").await, 404, "not_found").await;
    let shipped: ProducerGroup = parse(producer.ship(group_id, "顺丰", "SF1234567890").await).await;
    assert_eq!(shipped.status, "shipped");
    assert_problem(producer.ship(group_id, "顺丰", "SF1234567890").await, 409, "invalid_transition").await;
    let after: Order = parse(buyer.confirm_receipt(id, group_id).await).await;
    assert_eq!(after.status, "paid", "one group still open");
    // The other group ships and completes on its own after the configured days.
    let other_id = second.producer_groups().await.items[0].id;
    second.ship(other_id, "顺丰", "SF1234567890").await;
    sqlx::query("update order_groups set shipped_at = now() - interval '11 days' where id = $1")
        .bind(other_id)
        .execute(&m.app.db)
        .await
        .unwrap();
    assert_eq!(tonggan::orders::complete_due(&m.app.state).await.unwrap(), 1);
    let done: Order = parse(buyer.get_order(id).await).await;
    assert_eq!(done.status, "completed");
    let path: Vec<&str> = done.history.iter().map(|h| h.to_status.as_str()).collect();
    assert_eq!(path, vec!["pending_payment", "paid", "shipped", "completed", "shipped", "completed", "completed"]);
}

#[tokio::test]
async fn the_cart_is_priced_live_and_orders_from_the_cart_empty_it() {
    let m = market().await;
    let apples = m.app.stocked_product(&m.producer, 20, 1000).await;
    let pears = m.app.stocked_product(&m.producer, 3, 2000).await;
    let buyer = m.app.as_(&m.app.consumer().await);
    buyer.put_in_cart(apples, 10).await;
    let cart: Value = parse(buyer.put_in_cart(pears, 5).await).await;
    let line = |cart: &Value, p: Uuid| {
        cart["items"].as_array().unwrap().iter().find(|l| l["product_id"] == p.to_string()).unwrap().clone()
    };
    assert_eq!(line(&cart, apples)["unit_price_fen"], 900);
    assert_eq!(line(&cart, pears)["short_of_stock"], true);
    assert_eq!(cart["orderable"], false);
    assert_eq!(cart["total_fen"], 9000);
    assert_problem(buyer.put_in_cart(apples, 0).await, 422, "validation_failed").await;
    assert_problem(buyer.put_in_cart(Uuid::now_v7(), 1).await, 404, "not_found").await;
    let cart: Value = parse(buyer.remove_from_cart(pears).await).await;
    assert_eq!(cart["orderable"], true);
    // The producer delists: the cart says so.
    let producer = m.app.as_(&m.producer);
    producer.delist(apples).await;
    assert_eq!(line(&buyer.cart().await, apples)["unavailable"], true);
    producer.submit(apples).await;
    m.app.as_(m.app.admin().await).approve_product(apples).await;
    let from_cart = json!({"from_cart": true, "shipping_address": address()});
    let order: Order = parse(buyer.order_keyed("cart-1", &from_cart).await).await;
    assert_eq!(order.total_fen, 9000);
    assert_eq!(buyer.cart().await["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cart_holds_at_most_200_products_even_when_filled_at_once() {
    let m = market().await;
    let apples = m.app.stocked_product(&m.producer, 100, 1000).await;
    // 210 more listed products like it, made in SQL (the API would take a while).
    let copies: Vec<Uuid> = sqlx::query_scalar(
        "insert into products
         select (jsonb_populate_record(null::products, to_jsonb(p) || jsonb_build_object('id', gen_random_uuid()))).*
         from products p, generate_series(1, 210) where p.id = $1
         returning id",
    )
    .bind(apples)
    .fetch_all(&m.app.db)
    .await
    .unwrap();
    let buyer = m.app.as_(&m.app.consumer().await);
    // 210 puts at once: exactly 200 get in, the others are told the cart is full.
    let puts: Vec<_> = copies
        .iter()
        .map(|&id| {
            let buyer = buyer.clone();
            tokio::spawn(async move { buyer.put_in_cart(id, 1).await.status().as_u16() })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for put in puts {
        *statuses.entry(put.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(statuses, std::collections::BTreeMap::from([(200, 200), (422, 10)]));
    assert_eq!(buyer.cart().await["items"].as_array().unwrap().len(), 200);
    let problem = assert_problem(buyer.put_in_cart(apples, 1).await, 422, "cart_full").await;
    assert!(problem.detail.contains("200"));
    // A product already in it can change quantity; after a removal there is room again.
    let inside: Uuid =
        sqlx::query_scalar("select product_id from cart_items limit 1").fetch_one(&m.app.db).await.unwrap();
    assert_eq!(buyer.put_in_cart(inside, 3).await.status(), 200);
    assert_eq!(buyer.remove_from_cart(inside).await.status(), 200);
    assert_eq!(buyer.put_in_cart(apples, 1).await.status(), 200);
    assert_eq!(m.app.count("cart_items").await, 200);
}

#[tokio::test]
async fn a_bulk_csv_order_is_all_or_nothing_with_a_per_line_report() {
    let m = market().await;
    let a = m.app.stocked_product(&m.producer, 100, 1000).await;
    let b = m.app.stocked_product(&m.producer, 2, 1000).await;
    let owner = m.app.as_(&m.app.verified_enterprise().await);
    let bad = format!("product_id,qty\n{a},10\nnot-a-uuid,1\n{b},x\n");
    let problem = assert_problem(owner.bulk_order("?po_number=PO-7", "b1", bad).await, 422, "invalid_lines").await;
    let rows: Vec<(i64, &str)> = problem
        .lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["row"].as_i64().unwrap(), l["problem"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, vec![(3, "bad_product_id"), (4, "bad_number")]);
    let short = format!("{a},10\n{b},3\n");
    let problem =
        assert_problem(owner.bulk_order("?po_number=PO-7", "b2", short).await, 409, "insufficient_stock").await;
    assert_eq!(problem.lines[0]["product_id"], b.to_string());
    assert_eq!(m.app.stock_of(a).await, 100);
    let good = format!("{a},10\n{b},2\n");
    let order: Order = parse(owner.bulk_order("?po_number=PO-7", "b3", good).await).await;
    assert_eq!(order.po_number.as_deref(), Some("PO-7"));
    assert_eq!(order.total_fen, 10 * 900 + 2 * 1000);
    assert_eq!(m.app.stock_of(b).await, 0);
    let consumer = m.app.as_(&m.app.consumer().await);
    assert_problem(consumer.bulk_order("", "c", format!("{a},1\n")).await, 403, "forbidden").await;
}

#[tokio::test]
async fn every_problem_of_every_row_of_a_bulk_file_comes_back_in_one_reply() {
    let m = market().await;
    let plenty = m.app.stocked_product(&m.producer, 100, 1000).await;
    let few = m.app.stocked_product(&m.producer, 2, 1000).await;
    let by_the_case = m.app.stocked_product(&m.producer, 100, 1000).await;
    let delisted = m.app.stocked_product(&m.producer, 100, 1000).await;
    sqlx::query("update products set min_order_qty = 5 where id = $1")
        .bind(by_the_case)
        .execute(&m.app.db)
        .await
        .unwrap();
    m.app.as_(&m.producer).delist(delisted).await;
    let unknown = Uuid::now_v7();
    let owner = m.app.as_(&m.app.verified_enterprise().await);
    let file = [
        "product_id,qty".to_string(),
        format!("{plenty},10"),     // 2: fine
        "not-a-uuid,x".to_string(), // 3: both cells unreadable
        format!("{few},3"),         // 4: more than the stock
        format!("{by_the_case},2"), // 5: below the minimum
        format!("{delisted},1"),    // 6: not listed
        format!("{unknown},1"),     // 7: no such product
        format!("{plenty},1"),      // 8: the same product again
        format!("{few},0"),         // 9: bad quantity (and a duplicate too: the first wins)
        "a,b,c".to_string(),        // 10: not two cells
    ]
    .join("\n");
    let problem = assert_problem(owner.bulk_order("", "all-at-once", file).await, 422, "invalid_lines").await;
    let got: Vec<(i64, Option<&str>, &str)> = problem
        .lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["row"].as_i64().unwrap(), l["column"].as_str(), l["problem"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (3, Some("product_id"), "bad_product_id"),
            (3, Some("qty"), "bad_number"),
            (4, Some("qty"), "insufficient_stock"),
            (5, Some("qty"), "below_min_order_qty"),
            (6, Some("product_id"), "not_listed"),
            (7, Some("product_id"), "unknown_product"),
            (8, Some("product_id"), "duplicate_product"),
            (9, Some("product_id"), "duplicate_product"),
            (10, None, "bad_row"),
        ]
    );
    assert_eq!(m.app.count("orders").await, 0);
    assert_eq!(m.app.stock_of(plenty).await, 100);
    // Only stock wrong: 409, the file may be sent again later as it is.
    let short = format!("{plenty},10\n{few},3\n");
    let problem = assert_problem(owner.bulk_order("", "short", short).await, 409, "insufficient_stock").await;
    assert_eq!(problem.lines[0]["row"], 2);
    // Everything fixed in one round: placed.
    let fixed = format!("{plenty},10\n{few},2\n{by_the_case},5\n");
    assert_eq!(owner.bulk_order("", "fixed", fixed).await.status(), 201);
    assert_eq!(m.app.stock_of(few).await, 0);
}

#[tokio::test]
async fn admins_list_orders_by_status_and_time() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, 100, 1000).await;
    let buyer = m.app.as_(&m.app.consumer().await);
    let first = buyer.place_order(&[(product, 1)]).await;
    buyer.order(&[(product, 1)]).await;
    tonggan::orders::mark_paid(&m.app.state, first.id, "p").await.unwrap();
    let admin = m.app.as_(m.app.admin().await);
    let paid: Page<Order> = admin.get_json("/api/v1/admin/orders?status=paid").await;
    assert_eq!(paid.items.len(), 1);
    let all: Page<Order> = admin.get_json("/api/v1/admin/orders?from=2020-01-01T00:00:00Z").await;
    assert_eq!(all.items.len(), 2);
    let none: Page<Order> = admin.get_json("/api/v1/admin/orders?to=2020-01-01T00:00:00Z").await;
    assert!(none.items.is_empty());
    assert_problem(admin.get("/api/v1/admin/orders?from=yesterday").await, 422, "validation_failed").await;
    assert_problem(buyer.get("/api/v1/admin/orders").await, 403, "forbidden").await;
}

#[tokio::test]
async fn an_order_past_its_approval_hold_cannot_be_approved_back_to_life() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, 100, 1000).await;
    let enterprise = m.app.verified_enterprise().await;
    let owner = m.app.as_(&enterprise);
    let purchaser = m.app.as_(&owner.add_member(enterprise.org, "purchaser").await);
    assert_eq!(owner.set_approval_threshold(1000).await.status(), 200);
    let order = purchaser.place_order(&[(product, 3)]).await;
    assert_eq!(order.status, "awaiting_approval");
    // Overdue, and the expiry job has not run yet.
    sqlx::query("update orders set expires_at = now() - interval '1 second' where id = $1")
        .bind(order.id)
        .execute(&m.app.db)
        .await
        .unwrap();
    let before: (String, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("select status, expires_at from orders where id = $1")
            .bind(order.id)
            .fetch_one(&m.app.db)
            .await
            .unwrap();
    assert_problem(owner.approve_order(order.id, Some("同意")).await, 409, "order_expired").await;
    let after: (String, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("select status, expires_at from orders where id = $1")
            .bind(order.id)
            .fetch_one(&m.app.db)
            .await
            .unwrap();
    assert_eq!(after, before, "nothing changed");
    let unchanged: Order = parse(owner.get_order(order.id).await).await;
    assert_eq!(unchanged.history.len(), 1);
    assert_eq!(m.app.stock_of(product).await, 97);
    // The job then expires it and the stock comes back.
    assert_eq!(tonggan::orders::expire_due(&m.app.state).await.unwrap(), 1);
    assert_eq!(m.app.stock_of(product).await, 100);
}

#[tokio::test]
async fn an_order_that_cannot_expire_does_not_hold_up_the_others() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, 100, 500).await;
    let buyer = m.app.as_(&m.app.consumer().await);
    let stuck = buyer.place_order(&[(product, 1)]).await.id;
    let others = [buyer.place_order(&[(product, 2)]).await.id, buyer.place_order(&[(product, 3)]).await.id];
    // The stuck order is the most overdue, so it comes first in every batch.
    sqlx::query("update orders set expires_at = now() - interval '1 minute' where id = $1")
        .bind(stuck)
        .execute(&m.app.db)
        .await
        .unwrap();
    sqlx::query("update orders set expires_at = now() - interval '1 second' where id <> $1")
        .bind(stuck)
        .execute(&m.app.db)
        .await
        .unwrap();
    // Its expiry fails inside the database, whatever the cause.
    sqlx::query("create function refuse_expiry() returns trigger language plpgsql as $$ begin raise exception 'injected'; end $$")
        .execute(&m.app.db)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "create trigger refuse_expiry before update on orders for each row when (old.id = '{stuck}'::uuid) execute function refuse_expiry()"
    )))
    .execute(&m.app.db)
    .await
    .unwrap();
    for run in 0..2 {
        let expired = tonggan::orders::expire_due(&m.app.state).await.expect("a failing order does not end the run");
        assert_eq!(expired, if run == 0 { 2 } else { 0 });
    }
    for id in others {
        assert_eq!(parse::<Order>(buyer.get_order(id).await).await.status, "expired");
    }
    assert_eq!(parse::<Order>(buyer.get_order(stuck).await).await.status, "pending_payment");
    assert_eq!(m.app.stock_of(product).await, 99);
}

#[tokio::test]
async fn returning_stock_saturates_instead_of_overflowing() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, 100, 500).await;
    let buyer = m.app.as_(&m.app.consumer().await);
    let order = buyer.place_order(&[(product, 5)]).await.id;
    // Set past what the API allows, as a bulk import or a tool might.
    sqlx::query("update products set stock = 2147483645 where id = $1").bind(product).execute(&m.app.db).await.unwrap();
    sqlx::query("update orders set expires_at = now() - interval '1 second'").execute(&m.app.db).await.unwrap();
    assert_eq!(tonggan::orders::expire_due(&m.app.state).await.unwrap(), 1);
    assert_eq!(parse::<Order>(buyer.get_order(order).await).await.status, "expired");
    assert_eq!(m.app.stock_of(product).await, i32::MAX as i64);
}

#[tokio::test]
async fn an_invoice_tax_id_must_be_a_valid_uscc() {
    let m = market().await;
    let product = m.app.stocked_product(&m.producer, 100, 1000).await;
    let owner = m.app.as_(&m.app.verified_enterprise().await);
    let body = |tax_id: &str| {
        json!({"lines": [{"product_id": product, "qty": 1}], "shipping_address": address(),
               "invoice": {"title": "天津市和平区食堂管理有限公司", "tax_id": tax_id}})
    };
    for bad in ["91350100M000100Y4A", "123", "91350100M000100Yé", "9135010OM000100Y43"] {
        let problem =
            assert_problem(owner.order_keyed(&Uuid::now_v7().to_string(), &body(bad)).await, 422, "validation_failed")
                .await;
        assert_eq!(problem.errors.keys().collect::<Vec<_>>(), vec!["invoice.tax_id"], "{bad}");
    }
    assert_eq!(m.app.count("orders").await, 0);
    assert_eq!(m.app.stock_of(product).await, 100);
    let order: Order = parse(owner.order_keyed("good", &body(" 91350100m000100y43 ")).await).await;
    assert_eq!(order.invoice.unwrap().tax_id.as_deref(), Some("91350100M000100Y43"));
}
