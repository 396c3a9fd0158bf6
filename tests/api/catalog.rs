//! The catalog: listings and review, public reads and their cache, price history and price
//! alerts (the price board has its own module, `price_board`).

use serde_json::{Value, json};
use uuid::Uuid;

use tonggan::accounts::model::AccountRole;

use crate::helpers::*;

async fn public_ids(app: &TestApp, query: &str) -> Vec<String> {
    let page: Page<Value> = app.anonymous().get_json(&format!("/api/v1/products?{query}")).await;
    page.items.iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
}

/// A product's lowest price of the last 30 days, as the public sees it.
async fn lowest_30d(app: &TestApp, id: Uuid) -> i64 {
    let p: Value = parse(app.anonymous().product(id).await).await;
    p["lowest_price_30d_fen"].as_i64().unwrap()
}

/// The open price alerts.
async fn open_alerts(admin: &Caller) -> Vec<Value> {
    let page: Page<Value> = admin.get_json("/api/v1/admin/price-alerts").await;
    page.items
}

#[tokio::test]
async fn the_public_list_shows_only_approved_products_of_active_producers() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    let producer = app.verified_producer().await;
    let listed = app.listed_product(&producer, &product_body("静宁苹果 listed", 5000)).await;
    let draft = app.create_product(&producer, &product_body("静宁苹果 draft", 5000)).await;
    let rejected = app.create_product(&producer, &product_body("静宁苹果 rejected", 5000)).await;
    app.as_(&producer).submit(rejected).await;
    assert_eq!(admin.reject_product(rejected, "图片不清").await.status(), 200);
    let delisted = app.listed_product(&producer, &product_body("静宁苹果 delisted", 5000)).await;
    app.as_(&producer).delist(delisted).await;

    let ids = public_ids(&app, "").await;
    assert_eq!(ids, vec![listed.to_string()]);
    for hidden in [draft, rejected, delisted] {
        assert_problem(app.anonymous().product(hidden).await, 404, "not_found").await;
    }
    // Suspending the producer hides its products at once; reinstating shows them again.
    admin.suspend(producer.org, "核查").await;
    assert!(public_ids(&app, "").await.is_empty());
    assert_problem(app.anonymous().product(listed).await, 404, "not_found").await;
    admin.verify(producer.org).await;
    assert_eq!(public_ids(&app, "").await, vec![listed.to_string()]);
}

#[tokio::test]
async fn a_price_change_is_visible_on_the_next_read_and_in_the_history() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let id = app.listed_product(&producer, &product_body("花牛苹果", 5000)).await;
    let reader = app.anonymous();
    // Warm the cache.
    for _ in 0..2 {
        let p: Value = parse(reader.product(id).await).await;
        assert_eq!(p["retail_price_fen"], 5000);
    }
    reader.get("/api/v1/products").await;
    assert_eq!(app.as_(&producer).set_price_because(id, &[(1, 4500)], "丰收降价").await.status(), 200);
    let p: Value = parse(reader.product(id).await).await;
    assert_eq!(p["retail_price_fen"], 4500);
    assert_eq!(p["tiers"], json!([{"min_qty": 1, "unit_price_fen": 4500}]));
    let list: Value = reader.get_json("/api/v1/products").await;
    assert_eq!(list["items"][0]["retail_price_fen"], 4500);
    let history: Page<Value> = reader.get_json(&format!("/api/v1/products/{id}/price-history")).await;
    let items = &history.items;
    assert_eq!(items.len(), 2, "the creation ladder and the change");
    assert_eq!(items[0]["retail_price_fen"], 4500);
    assert_eq!(items[0]["old_retail_fen"], 5000);
    assert_eq!(items[0]["reason"], "丰收降价");
    assert!(items[0]["changed_at"].is_string());
    assert_eq!(items[1]["tiers"][0]["unit_price_fen"], 5000);
    // History is append-only, even for the database's owner.
    let tampered = sqlx::query("update price_changes set new_retail_fen = 1").execute(&app.db).await;
    assert!(tampered.is_err());
}

#[tokio::test]
async fn the_30_day_low_counts_the_price_in_effect_when_the_window_opened() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let id = app.listed_product(&producer, &product_body("当归", 1000)).await;
    // Rewrite the past: 40 days ago 500 (out of the window), 35 days ago 900 (in effect when
    // the window opened), 20 days ago 800.
    sqlx::query("alter table price_changes disable trigger price_changes_append_only").execute(&app.db).await.unwrap();
    sqlx::query("delete from price_changes where product_id = $1").bind(id).execute(&app.db).await.unwrap();
    sqlx::query("alter table price_changes enable trigger price_changes_append_only").execute(&app.db).await.unwrap();
    for (days, price) in [(40, 500), (35, 900), (20, 800), (1, 1000)] {
        sqlx::query(
            "insert into price_changes (id, product_id, changed_by, changed_at, new_tiers, new_retail_fen)
             values ($1, $2, $3, now() - make_interval(days => $4), $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(producer.id)
        .bind(days)
        .bind(json!([{"min_qty": 1, "unit_price_fen": price}]))
        .bind(price as i64)
        .execute(&app.db)
        .await
        .unwrap();
    }
    // The cache was filled before the rewrite; a price change invalidates it.
    let producer = app.as_(&producer);
    assert_eq!(producer.set_price(id, &[(1, 1100)]).await.status(), 200);
    assert_eq!(lowest_30d(&app, id).await, 800);
    assert_eq!(producer.set_price(id, &[(1, 700)]).await.status(), 200);
    assert_eq!(lowest_30d(&app, id).await, 700);
    assert_eq!(producer.set_price(id, &[(1, 1200)]).await.status(), 200);
    assert_eq!(lowest_30d(&app, id).await, 700, "a later rise does not lift the low");
}

#[tokio::test]
async fn alerts_fire_above_the_thresholds_and_not_at_them() {
    // Defaults: 50% above the category-unit median, 30% above the 30-day low.
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    let producer = app.verified_producer().await;
    for price in [1000, 1000, 1000] {
        app.listed_product(&producer, &product_body("苹果", price)).await;
    }
    assert!(open_alerts(&admin).await.is_empty());
    // Exactly 50% above the median: no alert. One fen more: an alert.
    app.create_product(&producer, &product_body("苹果 at", 1500)).await;
    assert!(open_alerts(&admin).await.is_empty());
    let over = app.create_product(&producer, &product_body("苹果 over", 1501)).await;
    let open = open_alerts(&admin).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["kind"], "above_median");
    assert_eq!(open[0]["product_id"], over.to_string());
    assert_eq!(open[0]["reference_fen"], 1000);

    // A rise of exactly 30% over the 30-day low: none; above it: above_30d_low.
    let id = app.listed_product(&producer, &product_body("苹果 rise", 1000)).await;
    let producer = app.as_(&producer);
    assert_eq!(producer.set_price(id, &[(1, 1300)]).await.status(), 200);
    assert_eq!(open_alerts(&admin).await.len(), 1);
    assert_eq!(producer.set_price(id, &[(1, 1000)]).await.status(), 200);
    assert_eq!(producer.set_price(id, &[(1, 1301)]).await.status(), 200);
    let open = open_alerts(&admin).await;
    assert_eq!(open.len(), 2);
    let rise = open.iter().find(|a| a["kind"] == "above_30d_low").unwrap();
    assert_eq!(rise["reference_fen"], 1000);
    // Admins resolve alerts; twice is a conflict.
    let alert_id = rise["id"].as_str().unwrap();
    let resolve = format!("/api/v1/admin/price-alerts/{alert_id}/resolve");
    assert_eq!(admin.post(&resolve, &json!({"note": "已核实，节前调价"})).await.status(), 200);
    assert_problem(admin.post(&resolve, &json!({})).await, 409, "invalid_transition").await;
    assert_eq!(open_alerts(&admin).await.len(), 1);
}

#[tokio::test]
async fn a_matching_etag_gets_304() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let id = app.listed_product(&producer, &product_body("百合", 3000)).await;
    for path in [
        format!("/api/v1/products/{id}"),
        "/api/v1/products".to_string(),
        "/api/v1/price-board?category=2".to_string(),
        "/api/v1/categories".to_string(),
    ] {
        let first = app.anonymous().get(&path).await;
        let etag = first.headers()["etag"].to_str().unwrap().to_string();
        let again = app.anonymous().get_if_none_match(&path, &etag).await;
        assert_eq!(again.status(), 304, "{path}");
        let other = app.anonymous().get_if_none_match(&path, "\"stale\"").await;
        assert_eq!(other.status(), 200);
    }
    // After a price change the old tag no longer matches.
    let first = app.anonymous().product(id).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    app.as_(&producer).set_price(id, &[(1, 2900)]).await;
    let r = app.anonymous().get_if_none_match(&format!("/api/v1/products/{id}"), &etag).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn public_reads_answer_from_postgres_when_redis_is_unreachable() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let id = app.listed_product(&producer, &product_body("牦牛肉", 8800)).await;
    let offline = app.sibling_with(|s| s.redis.url = "redis://127.0.0.1:9".to_string().into()).await;
    for path in [
        format!("/api/v1/products/{id}"),
        "/api/v1/products?q=牦牛".into(),
        format!("/api/v1/products/{id}/price-history"),
        "/api/v1/price-board?category=2".into(),
        format!("/api/v1/producers/{}", producer.org),
        "/api/v1/categories".into(),
    ] {
        let r = offline.anonymous().get(&path).await;
        assert_eq!(r.status(), 200, "{path}");
    }
    let list: Value = offline.anonymous().get_json("/api/v1/products").await;
    assert_eq!(list["items"][0]["id"], id.to_string());
    assert_eq!(offline.get("/readyz").await.status(), 503);
}

#[tokio::test]
async fn a_stampede_of_misses_on_one_key_loads_from_postgres_once() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let id = app.listed_product(&producer, &product_body("枸杞", 6600)).await;
    let before = app.catalog_loads();
    let requests = (0..50).map(|_| {
        let reader = app.anonymous();
        tokio::spawn(async move { reader.product(id).await.status() })
    });
    for r in futures_join(requests).await {
        assert_eq!(r, 200);
    }
    assert_eq!(app.catalog_loads() - before, 1);
}

#[tokio::test]
async fn a_write_to_one_product_retires_its_own_reads_and_keeps_the_others_cached() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let apples = app.listed_product(&producer, &product_body("静宁苹果", 1000)).await;
    let mut beef = product_body("临夏牛肉干", 4800);
    beef["category_id"] = json!(1);
    let beef = app.listed_product(&producer, &beef).await;
    let reader = app.anonymous();
    let paths = [
        format!("/api/v1/products/{apples}"),
        format!("/api/v1/products/{beef}"),
        "/api/v1/products?category=2".to_string(),
        "/api/v1/products?category=1".to_string(),
        "/api/v1/price-board?category=1".to_string(),
        "/api/v1/products".to_string(),
    ];
    let read_all = async || {
        for path in &paths {
            assert_eq!(reader.get(path).await.status(), 200, "{path}");
        }
    };
    read_all().await;
    let filled = app.catalog_loads();
    read_all().await;
    assert_eq!(app.catalog_loads(), filled, "every read is cached");
    // A new price for the apples (category 2) retires the apples' page, category 2's list and
    // the unfiltered list; the beef's page and category 1's list and board stay.
    assert_eq!(app.as_(&producer).set_price(apples, &[(1, 1200)]).await.status(), 200);
    for path in [&paths[1], &paths[3], &paths[4]] {
        assert_eq!(reader.get(path).await.status(), 200, "{path}");
    }
    assert_eq!(app.catalog_loads(), filled, "the other category's reads and the other product's page stay cached");
    assert_eq!(retail_price(&app, apples).await, 1200);
    assert_eq!(app.catalog_loads(), filled + 1);
    let list: Value = reader.get_json("/api/v1/products?category=2").await;
    assert_eq!(list["items"][0]["retail_price_fen"], 1200);
    let all: Value = reader.get_json("/api/v1/products").await;
    assert!(all["items"].as_array().unwrap().iter().any(|p| p["retail_price_fen"] == 1200));
    assert_eq!(app.catalog_loads(), filled + 3);
    // Moving the beef to category 2 retires both categories' reads.
    let moved =
        app.as_(&producer).patch(&format!("/api/v1/producer/products/{beef}"), &json!({"category_id": 2})).await;
    assert_eq!(moved.status(), 200);
    let before = app.catalog_loads();
    reader.get("/api/v1/products?category=1").await;
    reader.get("/api/v1/products?category=2").await;
    assert_eq!(app.catalog_loads(), before + 2);
}

/// Waits until `app`'s memory tier follows the generation bumps (the subscription starts with
/// the server).
async fn following(app: &TestApp) {
    for _ in 0..500 {
        if app.state.catalog_cache.is_following() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the catalog cache never subscribed to its generation bumps");
}

async fn retail_price(app: &TestApp, id: Uuid) -> i64 {
    let p: Value = parse(app.anonymous().product(id).await).await;
    p["retail_price_fen"].as_i64().unwrap()
}

/// Reads through `app` until the price is `price`; panics after two seconds (the documented
/// bound is milliseconds by pub/sub, at most `cache::POLL` when a message is lost).
async fn seen_within_two_seconds(app: &TestApp, id: Uuid, price: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while retail_price(app, id).await != price {
        assert!(std::time::Instant::now() < deadline, "the new price did not reach the other instance");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_price_set_through_one_instance_is_seen_through_another_within_the_bound() {
    let app = TestApp::spawn().await;
    let other = app.second_instance().await;
    following(&app).await;
    following(&other).await;
    let producer = app.verified_producer().await;
    let id = app.listed_product(&producer, &product_body("静宁苹果", 1000)).await;
    // Both instances hold the reply in memory, and the second read asks Redis nothing.
    for instance in [&app, &other] {
        assert_eq!(retail_price(instance, id).await, 1000);
        let hits = instance.state.catalog_cache.memory_hits();
        assert_eq!(retail_price(instance, id).await, 1000);
        assert_eq!(instance.state.catalog_cache.memory_hits(), hits + 1, "served from memory");
    }
    assert_eq!(app.as_(&producer).set_price(id, &[(1, 1200)]).await.status(), 200);
    // The writing instance never serves the old reply once the write is answered...
    assert_eq!(retail_price(&app, id).await, 1200);
    // ...and the other one sees the bump as soon as Redis delivers it.
    seen_within_two_seconds(&other, id, 1200).await;
    // A write through the other instance reaches the first the same way.
    assert_eq!(other.as_(&producer).set_price(id, &[(1, 1100)]).await.status(), 200);
    assert_eq!(retail_price(&other, id).await, 1100);
    seen_within_two_seconds(&app, id, 1100).await;
}

#[tokio::test]
async fn an_instance_whose_subscription_breaks_subscribes_again_and_keeps_up() {
    let app = TestApp::spawn().await;
    let other = app.second_instance().await;
    following(&other).await;
    let producer = app.verified_producer().await;
    let id = app.listed_product(&producer, &product_body("岷县当归", 3000)).await;
    assert_eq!(retail_price(&other, id).await, 3000);
    // Every subscriber connection is cut (other tests' too: they read through Redis until
    // they have subscribed again, which is what this checks).
    let mut redis = app.redis.clone();
    let _: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").query_async(&mut redis).await.unwrap();
    assert_eq!(app.as_(&producer).set_price(id, &[(1, 3300)]).await.status(), 200);
    seen_within_two_seconds(&other, id, 3300).await;
    following(&other).await;
    assert_eq!(app.as_(&producer).set_price(id, &[(1, 3500)]).await.status(), 200);
    seen_within_two_seconds(&other, id, 3500).await;
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn keyword_search_finds_two_character_chinese_words_in_titles_and_descriptions() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let beef = app
        .listed_product(
            &producer,
            &json!({
                "category_id": 1, "title": "临夏清真牛肉干", "description": "手工风干", "origin_adcode": 622901,
                "unit": "袋", "spec": "250g", "stock": 10, "tiers": [{"min_qty": 1, "unit_price_fen": 4800}]
            }),
        )
        .await;
    let apple = app.listed_product(&producer, &product_body("花牛", 5000)).await;
    let mut yak = product_body("甘南高原特产", 9000);
    yak["description"] = json!("牦牛肉，草原放养");
    yak["category_id"] = json!(1);
    let yak = app.listed_product(&producer, &yak).await;
    let mut found = public_ids(&app, "q=牛肉").await;
    found.sort();
    let mut expected = vec![beef.to_string(), yak.to_string()];
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(public_ids(&app, "q=苹果").await, vec![apple.to_string()]);
    assert_eq!(public_ids(&app, "q=牛肉 临夏").await, vec![beef.to_string()]);
    // A control character (a NUL, which Postgres refuses in text; the fuzzer sent one) separates
    // terms as a space does.
    assert_eq!(public_ids(&app, "q=牛肉%00临夏").await, vec![beef.to_string()]);
    assert!(public_ids(&app, "q=羊肉").await.is_empty());
    // The search uses the n-gram index (seq scans disabled to show the plan can use it at any size).
    let mut tx = app.db.begin().await.unwrap();
    sqlx::query("set local enable_seqscan = off").execute(&mut *tx).await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar("explain select id from products where search_grams @> array['牛肉']")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert!(plan.iter().any(|l| l.contains("products_search_idx")), "{plan:?}");
}

#[tokio::test]
async fn filters_sorts_and_keyset_pages_walk_the_catalog() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    let producer = app.verified_producer().await;
    let mut ids = Vec::new();
    for price in [500, 300, 900, 100, 700] {
        ids.push((price, app.listed_product(&producer, &product_body("苹果", price)).await));
    }
    let mut beef = product_body("牛肉", 2000);
    beef["category_id"] = json!(1);
    beef["origin_adcode"] = json!(622901);
    beef["stock"] = json!(0);
    let beef = app.listed_product(&producer, &beef).await;
    // price_asc over pages of two.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("category=2&sort=price_asc&limit=2&cursor={c}"),
            None => "category=2&sort=price_asc&limit=2".into(),
        };
        let page: Page<Value> = app.anonymous().get_json(&format!("/api/v1/products?{q}")).await;
        seen.extend(page.items.iter().map(|i| i["retail_price_fen"].as_i64().unwrap()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, vec![100, 300, 500, 700, 900]);
    let desc: Value = app.anonymous().get_json("/api/v1/products?sort=price_desc&limit=2").await;
    assert_eq!(desc["items"][0]["retail_price_fen"], 2000);
    assert_eq!(public_ids(&app, "min_price_fen=300&max_price_fen=700&sort=price_asc").await.len(), 3);
    assert_eq!(public_ids(&app, "prefecture=622900").await, vec![beef.to_string()]);
    assert_eq!(public_ids(&app, "county=620826").await.len(), 5);
    assert_eq!(public_ids(&app, "in_stock=true").await.len(), 5);
    assert_eq!(public_ids(&app, &format!("producer={}", producer.org)).await.len(), 6);
    assert_eq!(public_ids(&app, "sort=newest&limit=1").await, vec![beef.to_string()]);
    assert!(public_ids(&app, "certified=true").await.is_empty());
    // Certification: verified and valid today makes it certified; revoked does not.
    let (_, cheapest) = ids[3];
    app.as_(&producer)
        .edit_product(cheapest, &json!({"certification": {"number": "GS-2026-001", "issuer": "甘肃省农业农村厅", "valid_from": "2026-01-01", "valid_until": "2030-12-31"}}))
        .await;
    admin.post_empty(&format!("/api/v1/admin/products/{cheapest}/certification/verify")).await;
    assert_eq!(public_ids(&app, "certified=true").await, vec![cheapest.to_string()]);
    let p: Value = parse(app.anonymous().product(cheapest).await).await;
    assert_eq!(p["certification"]["status"], "verified");
    assert_eq!(p["origin"]["county"], "静宁县");
    assert_eq!(p["origin"]["prefecture"], "平凉市");
    admin.post_empty(&format!("/api/v1/admin/products/{cheapest}/certification/revoke")).await;
    assert!(public_ids(&app, "certified=true").await.is_empty());
}

#[tokio::test]
async fn editing_what_buyers_judge_sends_a_listing_back_to_review_but_price_and_stock_do_not() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    let producer = app.verified_producer().await;
    let id = app.listed_product(&producer, &product_body("苹果", 1000)).await;
    let producer = app.as_(&producer);
    let r: Value = parse(producer.set_stock(id, 7).await).await;
    assert_eq!((r["status"].as_str(), r["stock"].as_i64()), (Some("listed"), Some(7)));
    let changes = json!({"tiers": [{"min_qty": 1, "unit_price_fen": 990}], "spec": "5kg/箱"});
    let r: Value = parse(producer.edit_product(id, &changes).await).await;
    assert_eq!(r["status"], "listed");
    let r: Value = parse(producer.edit_product(id, &json!({"title": "静宁苹果 新包装"})).await).await;
    assert_eq!(r["status"], "pending_review");
    assert!(public_ids(&app, "").await.is_empty());
    let queue: Value = admin.get_json("/api/v1/admin/listings?status=pending_review").await;
    assert_eq!(queue["items"][0]["id"], id.to_string());
}

#[tokio::test]
async fn bad_product_input_is_refused_field_by_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("tiers", json!([{"min_qty": 1, "unit_price_fen": 100}, {"min_qty": 10, "unit_price_fen": 200}]), "tiers"),
        ("tiers", json!([{"min_qty": 2, "unit_price_fen": 100}]), "tiers"),
        ("tiers", json!([{"min_qty": 1, "unit_price_fen": 0}]), "tiers"),
        ("tiers", json!([{"min_qty": 1, "unit_price_fen": -5}]), "tiers"),
        ("tiers", json!([{"min_qty": 1, "unit_price_fen": 10_000_001}]), "tiers"),
        ("stock", json!(-1), "stock"),
        ("category_id", json!(99), "category_id"),
        ("origin_adcode", json!(999999), "origin_adcode"),
        ("origin_adcode", json!(120101), "origin_adcode"),
        ("images", json!(["ftp://x.cn/a.jpg"]), "images"),
        ("title", json!("长".repeat(121)), "title"),
        ("unit", json!("吨吨"), "unit"),
        (
            "certification",
            json!({"number": "A1", "issuer": "省农业厅", "valid_from": "2026-05-01", "valid_until": "2026-04-01"}),
            "certification.valid_until",
        ),
    ];
    for (field, value, error_field) in cases {
        let mut body = product_body("苹果", 1000);
        body[field] = value;
        let r = app.as_(&producer).post("/api/v1/producer/products", &body).await;
        let problem = assert_problem(r, 422, "validation_failed").await;
        field_errors(&problem, error_field);
    }
    assert_eq!(app.count("products").await, 0);
    assert_eq!(app.count("price_changes").await, 0);
    // Bad prices on an existing product change nothing either.
    let id = app.create_product(&producer, &product_body("苹果", 1000)).await;
    assert_problem(app.as_(&producer).set_price(id, &[]).await, 422, "validation_failed").await;
    assert_problem(app.as_(&producer).set_stock(id, -3).await, 422, "validation_failed").await;
    assert_eq!(app.count("price_changes").await, 1);
}

#[tokio::test]
async fn producers_touch_only_their_own_products_and_only_once_verified() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    let owner = app.verified_producer().await;
    let other = app.as_(&app.verified_producer().await);
    let id = app.create_product(&owner, &product_body("苹果", 1000)).await;
    assert_problem(other.get(&format!("/api/v1/producer/products/{id}")).await, 404, "not_found").await;
    assert_problem(other.edit_product(id, &json!({"title": "x"})).await, 404, "not_found").await;
    assert_problem(other.set_stock(id, 1).await, 404, "not_found").await;
    assert_problem(other.submit(id).await, 404, "not_found").await;
    let pending = app.organization("producer").await;
    let r = app.as_(&pending).post("/api/v1/producer/products", &product_body("苹果", 1000)).await;
    assert_problem(r, 403, "producer_not_verified").await;
    let consumer = app.consumer().await;
    assert_problem(app.as_(&consumer).get("/api/v1/producer/products").await, 403, "forbidden").await;
    admin.suspend(owner.org, "核查").await;
    let owner_again = app.sign_in(&owner.email).await;
    assert_problem(app.as_(&owner_again).get("/api/v1/producer/products").await, 403, "producer_suspended").await;
    let title: String =
        sqlx::query_scalar("select title from products where id = $1").bind(id).fetch_one(&app.db).await.unwrap();
    assert_eq!(title, "苹果");
}

#[tokio::test]
async fn bad_list_parameters_are_422_never_500() {
    let app = TestApp::spawn().await;
    for (query, field) in [
        ("limit=101", "limit"),
        ("cursor=garbage", "cursor"),
        ("cursor=WzEsMl0", "cursor"),
        ("sort=cheapest", "sort"),
        ("category=abc", "category"),
        ("county=620800", "county"),
        ("prefecture=120100", "prefecture"),
        ("min_price_fen=500&max_price_fen=100", "max_price_fen"),
    ] {
        let r = app.anonymous().get(&format!("/api/v1/products?{query}")).await;
        let problem = assert_problem(r, 422, "validation_failed").await;
        field_errors(&problem, field);
    }
    let r = app.anonymous().get(&format!("/api/v1/products/{}/price-history?cursor=nope", Uuid::now_v7())).await;
    assert_problem(r, 422, "validation_failed").await;
}

#[tokio::test]
async fn listing_review_transitions_are_checked() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    let auditor = app.as_(&app.staff(AccountRole::Auditor).await);
    let producer = app.verified_producer().await;
    let id = app.create_product(&producer, &product_body("苹果", 1000)).await;
    // A draft cannot be approved; an auditor cannot approve at all.
    assert_problem(admin.approve_product(id).await, 409, "invalid_transition").await;
    app.as_(&producer).submit(id).await;
    assert_problem(auditor.approve_product(id).await, 403, "forbidden").await;
    let problem = assert_problem(admin.reject_product(id, "").await, 422, "validation_failed").await;
    field_errors(&problem, "reason");
    let r = admin.post_empty(&format!("/api/v1/admin/products/{id}/certification/verify")).await;
    assert_problem(r, 409, "no_certification").await;
    let status: String =
        sqlx::query_scalar("select status from products where id = $1").bind(id).fetch_one(&app.db).await.unwrap();
    assert_eq!(status, "pending_review");
    assert_eq!(admin.approve_product(id).await.status(), 200);
    let profile: Value = app.anonymous().get_json(&format!("/api/v1/producers/{}", producer.org)).await;
    assert_eq!(profile["listed_products"], 1);
    assert_eq!(profile["county"], "静宁县");
}

#[tokio::test]
async fn a_failed_load_releases_its_fill_lock() {
    let app = TestApp::spawn().await;
    // Otherwise the next reader of the same key would wait for a fill that never comes.
    let r = app.anonymous().get("/api/v1/price-board?category=77").await;
    assert_problem(r, 422, "validation_failed").await;
    assert_problem(app.anonymous().product(Uuid::now_v7()).await, 404, "not_found").await;
    let mut conn = app.redis.clone();
    let pattern = format!("{}catalog:*", app.settings.redis.key_prefix);
    let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(&mut conn).await.unwrap();
    assert!(keys.is_empty(), "nothing is cached or locked after failed loads: {keys:?}");
}

/// A PATCH body that changes nothing buyers judge, but whose category and origin checks give
/// a concurrent writer time between the request's start and its write.
fn slow_patch(extra: Value) -> Value {
    let mut body = json!({"category_id": 2, "origin_adcode": 620826});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn product_edits_racing_orders_never_write_back_stock_the_orders_took() {
    let app = TestApp::spawn_with(|s| s.orders.jobs_enabled = false).await;
    let producer = app.verified_producer().await;
    let product = app.stocked_product(&producer, 10_000, 1000).await;
    let buyer = app.as_(&app.consumer().await);
    let producer = app.as_(&producer);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (orders, edits) = (buyer.clone(), producer.clone());
        tasks.push(tokio::spawn(async move {
            let order = orders.order(&[(product, 1 + i % 3)]).await;
            let sold = if order.status() == 201 { 1 + i % 3 } else { 0 };
            let cert = json!({"number": format!("GS-2026-{i:03}"), "issuer": "甘肃省农业农村厅", "valid_from": "2026-01-01", "valid_until": "2030-12-31"});
            let edit = edits.edit_product(product, &slow_patch(json!({"certification": cert}))).await;
            assert_eq!(edit.status(), 200);
            sold
        }));
        let edits = producer.clone();
        tasks.push(tokio::spawn(async move {
            let edit = edits.edit_product(product, &slow_patch(json!({"spec": "5kg/箱"}))).await;
            assert_eq!(edit.status(), 200);
            0
        }));
    }
    let mut sold = 0;
    for task in tasks {
        sold += task.await.unwrap();
    }
    assert!(sold > 0);
    assert_eq!(app.stock_of(product).await, 10_000 - sold, "stock = initial − sold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_producer_edit_racing_a_certification_revoke_keeps_it_revoked() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    let owner = app.verified_producer().await;
    let producer = app.as_(&owner);
    let mut body = product_body("苹果", 1000);
    body["certification"] = json!({"number": "GS-2026-001", "issuer": "甘肃省农业农村厅", "valid_from": "2026-01-01", "valid_until": "2030-12-31"});
    let id = app.listed_product(&owner, &body).await;
    let status = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, String>("select cert_status from products where id = $1")
                .bind(id)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    for _ in 0..15 {
        let r = admin.post_empty(&format!("/api/v1/admin/products/{id}/certification/verify")).await;
        assert_eq!(r.status(), 200);
        let edits: Vec<_> = (0..4)
            .map(|_| {
                let producer = producer.clone();
                tokio::spawn(async move {
                    let same = json!({"tiers": [{"min_qty": 1, "unit_price_fen": 1000}, {"min_qty": 10, "unit_price_fen": 900}]});
                    producer.edit_product(id, &slow_patch(same)).await.status()
                })
            })
            .collect();
        let r = admin.post_empty(&format!("/api/v1/admin/products/{id}/certification/revoke")).await;
        assert_eq!(r.status(), 200);
        for edit in edits {
            assert_eq!(edit.await.unwrap(), 200);
        }
        assert_eq!(status(&app).await, "revoked", "an edit that did not touch the certification undid the revoke");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_product_created_as_its_producer_is_suspended_never_comes_out_active() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    for _ in 0..4 {
        let owner = app.verified_producer().await;
        let producer = app.as_(&owner);
        let creates: Vec<_> = (0..24u64)
            .map(|i| {
                let producer = producer.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(i * 3)).await;
                    producer.post("/api/v1/producer/products", &product_body("苹果", 1000)).await.status().as_u16()
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(admin.suspend(owner.org, "核查").await.status(), 200);
        for create in creates {
            let status = create.await.unwrap();
            // Created, refused as suspended, or signed out by the suspension.
            assert!(matches!(status, 201 | 403 | 401), "{status}");
        }
        let active: i64 =
            sqlx::query_scalar("select count(*) from products where producer_id = $1 and producer_active")
                .bind(owner.org)
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert_eq!(active, 0, "a product of a suspended producer is active");
    }
}

#[tokio::test]
async fn the_public_price_history_does_not_name_who_changed_the_price() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let id = app.listed_product(&producer, &product_body("花牛苹果", 5000)).await;
    assert_eq!(app.as_(&producer).set_price(id, &[(1, 4500)]).await.status(), 200);
    let history: Page<Value> = app.anonymous().get_json(&format!("/api/v1/products/{id}/price-history")).await;
    assert_eq!(history.items.len(), 2);
    for item in &history.items {
        assert!(item.get("changed_by").is_none(), "{item}");
        assert!(!item.to_string().contains(&producer.id.to_string()), "{item}");
    }
    // The table still records who, for audits.
    let by: Uuid = sqlx::query_scalar("select changed_by from price_changes where product_id = $1 limit 1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(by, producer.id);
}

#[tokio::test]
async fn editing_the_images_unit_spec_or_minimum_order_of_a_listing_sends_it_back_to_review() {
    let app = TestApp::spawn().await;
    let owner = app.verified_producer().await;
    let producer = app.as_(&owner);
    let edits = [
        json!({"images": ["https://img.example.cn/other.jpg"]}),
        json!({"unit": "斤"}),
        json!({"spec": "500g/箱"}),
        json!({"min_order_qty": 5}),
    ];
    for edit in edits {
        let id = app.listed_product(&owner, &product_body("苹果", 1000)).await;
        let r: Value = parse(producer.edit_product(id, &edit).await).await;
        assert_eq!(r["status"], "pending_review", "{edit}");
        assert_problem(app.anonymous().product(id).await, 404, "not_found").await;
    }
    // The same values again are no change: the listing stays.
    let id = app.listed_product(&owner, &product_body("苹果", 1000)).await;
    let same =
        json!({"images": ["https://img.example.cn/apple.jpg"], "unit": "箱", "spec": "5kg/箱", "min_order_qty": 1});
    let r: Value = parse(producer.edit_product(id, &same).await).await;
    assert_eq!(r["status"], "listed");
}
