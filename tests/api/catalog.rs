//! The catalog: listings and review, public reads and their cache, price history, the price
//! board and price alerts.

use serde_json::{Value, json};
use uuid::Uuid;

use tonggan::accounts::model::AccountRole;

use crate::helpers::*;

async fn public_ids(app: &TestApp, query: &str) -> Vec<String> {
    let page: Value =
        new_client().get(app.url(&format!("/api/v1/products?{query}"))).send().await.unwrap().json().await.unwrap();
    page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_public_list_shows_only_approved_products_of_active_producers() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (producer, org, _) = app.verified_producer(&admin).await;
    let listed = app.listed_product(&producer, &admin, &product_body("静宁苹果 listed", 5000)).await;
    let draft = app.create_product(&producer, &product_body("静宁苹果 draft", 5000)).await;
    let rejected = app.create_product(&producer, &product_body("静宁苹果 rejected", 5000)).await;
    producer.post(app.url(&format!("/api/v1/producer/products/{rejected}/submit"))).send().await.unwrap();
    let r = admin
        .post(app.url(&format!("/api/v1/admin/products/{rejected}/reject")))
        .json(&json!({"reason": "图片不清"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let delisted = app.listed_product(&producer, &admin, &product_body("静宁苹果 delisted", 5000)).await;
    producer.post(app.url(&format!("/api/v1/producer/products/{delisted}/delist"))).send().await.unwrap();

    let ids = public_ids(&app, "").await;
    assert_eq!(ids, vec![listed.to_string()]);
    for hidden in [draft, rejected, delisted] {
        assert_problem(
            new_client().get(app.url(&format!("/api/v1/products/{hidden}"))).send().await.unwrap(),
            404,
            "not_found",
        )
        .await;
    }
    // Suspending the producer hides its products at once; reinstating shows them again.
    admin
        .post(app.url(&format!("/api/v1/admin/organizations/{org}/suspend")))
        .json(&json!({"reason": "核查"}))
        .send()
        .await
        .unwrap();
    assert!(public_ids(&app, "").await.is_empty());
    assert_problem(
        new_client().get(app.url(&format!("/api/v1/products/{listed}"))).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    admin.post(app.url(&format!("/api/v1/admin/organizations/{org}/verify"))).send().await.unwrap();
    assert_eq!(public_ids(&app, "").await, vec![listed.to_string()]);
}

#[tokio::test]
async fn a_price_change_is_visible_on_the_next_read_and_in_the_history() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (producer, _, owner) = app.verified_producer(&admin).await;
    let id = app.listed_product(&producer, &admin, &product_body("花牛苹果", 5000)).await;
    let reader = new_client();
    // Warm the cache.
    for _ in 0..2 {
        let p: Value =
            reader.get(app.url(&format!("/api/v1/products/{id}"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(p["retail_price_fen"], 5000);
    }
    reader.get(app.url("/api/v1/products")).send().await.unwrap();
    let r = producer
        .put(app.url(&format!("/api/v1/producer/products/{id}/prices")))
        .json(&json!({"tiers": [{"min_qty": 1, "unit_price_fen": 4500}], "reason": "丰收降价"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let p: Value = reader.get(app.url(&format!("/api/v1/products/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(p["retail_price_fen"], 4500);
    assert_eq!(p["tiers"], json!([{"min_qty": 1, "unit_price_fen": 4500}]));
    let list: Value = reader.get(app.url("/api/v1/products")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"][0]["retail_price_fen"], 4500);
    let history: Value = reader
        .get(app.url(&format!("/api/v1/products/{id}/price-history")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "the creation ladder and the change");
    assert_eq!(items[0]["retail_price_fen"], 4500);
    assert_eq!(items[0]["old_retail_fen"], 5000);
    assert_eq!(items[0]["reason"], "丰收降价");
    assert_eq!(items[0]["changed_by"], owner.to_string());
    assert!(items[0]["changed_at"].is_string());
    assert_eq!(items[1]["tiers"][0]["unit_price_fen"], 5000);
    // History is append-only, even for the database's owner.
    let tampered = sqlx::query("update price_changes set new_retail_fen = 1").execute(&app.db).await;
    assert!(tampered.is_err());
}

#[tokio::test]
async fn the_30_day_low_counts_the_price_in_effect_when_the_window_opened() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (producer, _, owner) = app.verified_producer(&admin).await;
    let id = app.listed_product(&producer, &admin, &product_body("当归", 1000)).await;
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
        .bind(owner)
        .bind(days)
        .bind(json!([{"min_qty": 1, "unit_price_fen": price}]))
        .bind(price as i64)
        .execute(&app.db)
        .await
        .unwrap();
    }
    let low = |app: &TestApp| {
        let url = app.url(&format!("/api/v1/products/{id}"));
        async move {
            let p: Value = new_client().get(url).send().await.unwrap().json().await.unwrap();
            p["lowest_price_30d_fen"].as_i64().unwrap()
        }
    };
    // The cache was filled before the rewrite; a price change invalidates it.
    let set = |price: i64| {
        producer
            .put(app.url(&format!("/api/v1/producer/products/{id}/prices")))
            .json(&json!({"tiers": [{"min_qty": 1, "unit_price_fen": price}]}))
            .send()
    };
    assert_eq!(set(1100).await.unwrap().status(), 200);
    assert_eq!(low(&app).await, 800);
    assert_eq!(set(700).await.unwrap().status(), 200);
    assert_eq!(low(&app).await, 700);
    assert_eq!(set(1200).await.unwrap().status(), 200);
    assert_eq!(low(&app).await, 700, "a later rise does not lift the low");
}

#[tokio::test]
async fn the_price_board_gives_min_median_and_max_per_unit() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (producer, _, _) = app.verified_producer(&admin).await;
    for price in [3000, 1000, 2000] {
        app.listed_product(&producer, &admin, &product_body("苹果", price)).await;
    }
    for price in [100, 400, 200, 301] {
        let mut body = product_body("土豆", price);
        body["unit"] = json!("斤");
        app.listed_product(&producer, &admin, &body).await;
    }
    // A draft does not count.
    app.create_product(&producer, &product_body("苹果", 10)).await;
    let board: Value =
        new_client().get(app.url("/api/v1/price-board?category=2")).send().await.unwrap().json().await.unwrap();
    let unit = |name: &str| board["units"].as_array().unwrap().iter().find(|u| u["unit"] == name).unwrap().clone();
    let boxes = unit("箱");
    assert_eq!(
        (boxes["count"].as_i64(), boxes["min_fen"].as_i64(), boxes["median_fen"].as_i64(), boxes["max_fen"].as_i64()),
        (Some(3), Some(1000), Some(2000), Some(3000))
    );
    assert_eq!(boxes["products"][0]["retail_price_fen"], 1000);
    let jin = unit("斤");
    // Even count: the mean of 200 and 301, rounded down.
    assert_eq!(
        (jin["count"].as_i64(), jin["min_fen"].as_i64(), jin["median_fen"].as_i64(), jin["max_fen"].as_i64()),
        (Some(4), Some(100), Some(250), Some(400))
    );
    let problem = assert_problem(
        new_client().get(app.url("/api/v1/price-board?category=99")).send().await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    field_errors(&problem, "category");
}

#[tokio::test]
async fn alerts_fire_above_the_thresholds_and_not_at_them() {
    // Defaults: 50% above the category-unit median, 30% above the 30-day low.
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (producer, _, _) = app.verified_producer(&admin).await;
    for price in [1000, 1000, 1000] {
        app.listed_product(&producer, &admin, &product_body("苹果", price)).await;
    }
    let alerts = |admin: &reqwest::Client| {
        let url = app.url("/api/v1/admin/price-alerts");
        let admin = admin.clone();
        async move {
            let page: Value = admin.get(url).send().await.unwrap().json().await.unwrap();
            page["items"].as_array().unwrap().clone()
        }
    };
    assert!(alerts(&admin).await.is_empty());
    // Exactly 50% above the median: no alert. One fen more: an alert.
    app.create_product(&producer, &product_body("苹果 at", 1500)).await;
    assert!(alerts(&admin).await.is_empty());
    let over = app.create_product(&producer, &product_body("苹果 over", 1501)).await;
    let open = alerts(&admin).await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["kind"], "above_median");
    assert_eq!(open[0]["product_id"], over.to_string());
    assert_eq!(open[0]["reference_fen"], 1000);

    // A rise of exactly 30% over the 30-day low: none; above it: above_30d_low.
    let id = app.listed_product(&producer, &admin, &product_body("苹果 rise", 1000)).await;
    let set = |price: i64| {
        producer
            .put(app.url(&format!("/api/v1/producer/products/{id}/prices")))
            .json(&json!({"tiers": [{"min_qty": 1, "unit_price_fen": price}]}))
            .send()
    };
    assert_eq!(set(1300).await.unwrap().status(), 200);
    assert_eq!(alerts(&admin).await.len(), 1);
    assert_eq!(set(1000).await.unwrap().status(), 200);
    assert_eq!(set(1301).await.unwrap().status(), 200);
    let open = alerts(&admin).await;
    assert_eq!(open.len(), 2);
    let rise = open.iter().find(|a| a["kind"] == "above_30d_low").unwrap();
    assert_eq!(rise["reference_fen"], 1000);
    // Admins resolve alerts; twice is a conflict.
    let alert_id = rise["id"].as_str().unwrap();
    let url = app.url(&format!("/api/v1/admin/price-alerts/{alert_id}/resolve"));
    assert_eq!(admin.post(&url).json(&json!({"note": "已核实，节前调价"})).send().await.unwrap().status(), 200);
    assert_problem(admin.post(&url).json(&json!({})).send().await.unwrap(), 409, "invalid_transition").await;
    assert_eq!(alerts(&admin).await.len(), 1);
}

#[tokio::test]
async fn a_matching_etag_gets_304() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (producer, _, _) = app.verified_producer(&admin).await;
    let id = app.listed_product(&producer, &admin, &product_body("百合", 3000)).await;
    for path in [
        format!("/api/v1/products/{id}"),
        "/api/v1/products".to_string(),
        "/api/v1/price-board?category=2".to_string(),
        "/api/v1/categories".to_string(),
    ] {
        let first = new_client().get(app.url(&path)).send().await.unwrap();
        let etag = first.headers()["etag"].to_str().unwrap().to_string();
        let again = new_client().get(app.url(&path)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{path}");
        let other = new_client().get(app.url(&path)).header("if-none-match", "\"stale\"").send().await.unwrap();
        assert_eq!(other.status(), 200);
    }
    // After a price change the old tag no longer matches.
    let etag =
        new_client().get(app.url(&format!("/api/v1/products/{id}"))).send().await.unwrap().headers()["etag"].clone();
    producer
        .put(app.url(&format!("/api/v1/producer/products/{id}/prices")))
        .json(&json!({"tiers": [{"min_qty": 1, "unit_price_fen": 2900}]}))
        .send()
        .await
        .unwrap();
    let r = new_client()
        .get(app.url(&format!("/api/v1/products/{id}")))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn public_reads_answer_from_postgres_when_redis_is_unreachable() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (producer, org, _) = app.verified_producer(&admin).await;
    let id = app.listed_product(&producer, &admin, &product_body("牦牛肉", 8800)).await;
    let offline = app.sibling_with(|s| s.redis.url = "redis://127.0.0.1:9".to_string().into()).await;
    for path in [
        format!("/api/v1/products/{id}"),
        "/api/v1/products?q=牦牛".into(),
        format!("/api/v1/products/{id}/price-history"),
        "/api/v1/price-board?category=2".into(),
        format!("/api/v1/producers/{org}"),
        "/api/v1/categories".into(),
    ] {
        let r = new_client().get(offline.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let list: Value = new_client().get(offline.url("/api/v1/products")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"][0]["id"], id.to_string());
    assert_eq!(offline.get("/readyz").await.status(), 503);
}

#[tokio::test]
async fn a_stampede_of_misses_on_one_key_loads_from_postgres_once() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (producer, _, _) = app.verified_producer(&admin).await;
    let id = app.listed_product(&producer, &admin, &product_body("枸杞", 6600)).await;
    let before = app.catalog_loads();
    let url = app.url(&format!("/api/v1/products/{id}"));
    let requests = (0..50).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { new_client().get(url).send().await.unwrap().status() })
    });
    for r in futures_join(requests).await {
        assert_eq!(r, 200);
    }
    assert_eq!(app.catalog_loads() - before, 1);
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
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (producer, _, _) = app.verified_producer(&admin).await;
    let beef = app
        .listed_product(
            &producer,
            &admin,
            &json!({
                "category_id": 1, "title": "临夏清真牛肉干", "description": "手工风干", "origin_adcode": 622901,
                "unit": "袋", "spec": "250g", "stock": 10, "tiers": [{"min_qty": 1, "unit_price_fen": 4800}]
            }),
        )
        .await;
    let apple = app.listed_product(&producer, &admin, &product_body("花牛", 5000)).await;
    let mut yak = product_body("甘南高原特产", 9000);
    yak["description"] = json!("牦牛肉，草原放养");
    yak["category_id"] = json!(1);
    let yak = app.listed_product(&producer, &admin, &yak).await;
    let mut found = public_ids(&app, "q=牛肉").await;
    found.sort();
    let mut expected = vec![beef.to_string(), yak.to_string()];
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(public_ids(&app, "q=苹果").await, vec![apple.to_string()]);
    assert_eq!(public_ids(&app, "q=牛肉 临夏").await, vec![beef.to_string()]);
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
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (producer, org, _) = app.verified_producer(&admin).await;
    let mut ids = Vec::new();
    for price in [500, 300, 900, 100, 700] {
        ids.push((price, app.listed_product(&producer, &admin, &product_body("苹果", price)).await));
    }
    let mut beef = product_body("牛肉", 2000);
    beef["category_id"] = json!(1);
    beef["origin_adcode"] = json!(622901);
    beef["stock"] = json!(0);
    let beef = app.listed_product(&producer, &admin, &beef).await;
    // price_asc over pages of two.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("category=2&sort=price_asc&limit=2&cursor={c}"),
            None => "category=2&sort=price_asc&limit=2".into(),
        };
        let page: Value =
            new_client().get(app.url(&format!("/api/v1/products?{q}"))).send().await.unwrap().json().await.unwrap();
        seen.extend(page["items"].as_array().unwrap().iter().map(|i| i["retail_price_fen"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, vec![100, 300, 500, 700, 900]);
    let desc: Value = new_client()
        .get(app.url("/api/v1/products?sort=price_desc&limit=2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(desc["items"][0]["retail_price_fen"], 2000);
    assert_eq!(public_ids(&app, "min_price_fen=300&max_price_fen=700&sort=price_asc").await.len(), 3);
    assert_eq!(public_ids(&app, "prefecture=622900").await, vec![beef.to_string()]);
    assert_eq!(public_ids(&app, "county=620826").await.len(), 5);
    assert_eq!(public_ids(&app, "in_stock=true").await.len(), 5);
    assert_eq!(public_ids(&app, &format!("producer={org}")).await.len(), 6);
    assert_eq!(public_ids(&app, "sort=newest&limit=1").await, vec![beef.to_string()]);
    assert!(public_ids(&app, "certified=true").await.is_empty());
    // Certification: verified and valid today makes it certified; revoked does not.
    let (_, cheapest) = ids[3];
    producer
        .patch(app.url(&format!("/api/v1/producer/products/{cheapest}")))
        .json(&json!({"certification": {"number": "GS-2026-001", "issuer": "甘肃省农业农村厅", "valid_from": "2026-01-01", "valid_until": "2030-12-31"}}))
        .send().await.unwrap();
    admin.post(app.url(&format!("/api/v1/admin/products/{cheapest}/certification/verify"))).send().await.unwrap();
    assert_eq!(public_ids(&app, "certified=true").await, vec![cheapest.to_string()]);
    let p: Value =
        new_client().get(app.url(&format!("/api/v1/products/{cheapest}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(p["certification"]["status"], "verified");
    assert_eq!(p["origin"]["county"], "静宁县");
    assert_eq!(p["origin"]["prefecture"], "平凉市");
    admin.post(app.url(&format!("/api/v1/admin/products/{cheapest}/certification/revoke"))).send().await.unwrap();
    assert!(public_ids(&app, "certified=true").await.is_empty());
}

#[tokio::test]
async fn editing_what_buyers_judge_sends_a_listing_back_to_review_but_price_and_stock_do_not() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (producer, _, _) = app.verified_producer(&admin).await;
    let id = app.listed_product(&producer, &admin, &product_body("苹果", 1000)).await;
    let url = app.url(&format!("/api/v1/producer/products/{id}"));
    let r: Value =
        producer.put(format!("{url}/stock")).json(&json!({"stock": 7})).send().await.unwrap().json().await.unwrap();
    assert_eq!((r["status"].as_str(), r["stock"].as_i64()), (Some("listed"), Some(7)));
    let r: Value = producer
        .patch(&url)
        .json(&json!({"tiers": [{"min_qty": 1, "unit_price_fen": 990}], "spec": "4.5kg/箱"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "listed");
    let r: Value =
        producer.patch(&url).json(&json!({"title": "静宁苹果 新包装"})).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["status"], "pending_review");
    assert!(public_ids(&app, "").await.is_empty());
    let queue: Value =
        admin.get(app.url("/api/v1/admin/listings?status=pending_review")).send().await.unwrap().json().await.unwrap();
    assert_eq!(queue["items"][0]["id"], id.to_string());
}

#[tokio::test]
async fn bad_product_input_is_refused_field_by_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (producer, _, _) = app.verified_producer(&admin).await;
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
        let r = producer.post(app.url("/api/v1/producer/products")).json(&body).send().await.unwrap();
        let problem = assert_problem(r, 422, "validation_failed").await;
        field_errors(&problem, error_field);
    }
    assert_eq!(app.count("products").await, 0);
    assert_eq!(app.count("price_changes").await, 0);
    // Bad prices on an existing product change nothing either.
    let id = app.create_product(&producer, &product_body("苹果", 1000)).await;
    let r = producer
        .put(app.url(&format!("/api/v1/producer/products/{id}/prices")))
        .json(&json!({"tiers": []}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "validation_failed").await;
    let r = producer
        .put(app.url(&format!("/api/v1/producer/products/{id}/stock")))
        .json(&json!({"stock": -3}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "validation_failed").await;
    assert_eq!(app.count("price_changes").await, 1);
}

#[tokio::test]
async fn producers_touch_only_their_own_products_and_only_once_verified() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (owner, org, _) = app.verified_producer(&admin).await;
    let (other, _, _) = app.verified_producer(&admin).await;
    let id = app.create_product(&owner, &product_body("苹果", 1000)).await;
    let url = app.url(&format!("/api/v1/producer/products/{id}"));
    assert_problem(other.get(&url).send().await.unwrap(), 404, "not_found").await;
    assert_problem(other.patch(&url).json(&json!({"title": "x"})).send().await.unwrap(), 404, "not_found").await;
    assert_problem(
        other.put(format!("{url}/stock")).json(&json!({"stock": 1})).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_problem(other.post(format!("{url}/submit")).send().await.unwrap(), 404, "not_found").await;
    let (pending, _, _) = app.organization("producer").await;
    let r = pending.post(app.url("/api/v1/producer/products")).json(&product_body("苹果", 1000)).send().await.unwrap();
    assert_problem(r, 403, "producer_not_verified").await;
    let (consumer, _) = app.consumer().await;
    assert_problem(consumer.get(app.url("/api/v1/producer/products")).send().await.unwrap(), 403, "forbidden").await;
    admin
        .post(app.url(&format!("/api/v1/admin/organizations/{org}/suspend")))
        .json(&json!({"reason": "核查"}))
        .send()
        .await
        .unwrap();
    let owner_again = new_client();
    let email: String = sqlx::query_scalar(
        "select a.email from accounts a join memberships m on m.account_id = a.id where m.organization_id = $1",
    )
    .bind(org)
    .fetch_one(&app.db)
    .await
    .unwrap();
    login(&app, &owner_again, &email, PASSWORD).await;
    assert_problem(
        owner_again.get(app.url("/api/v1/producer/products")).send().await.unwrap(),
        403,
        "producer_suspended",
    )
    .await;
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
        let r = new_client().get(app.url(&format!("/api/v1/products?{query}"))).send().await.unwrap();
        let problem = assert_problem(r, 422, "validation_failed").await;
        field_errors(&problem, field);
    }
    let r = new_client()
        .get(app.url(&format!("/api/v1/products/{}/price-history?cursor=nope", Uuid::now_v7())))
        .send()
        .await
        .unwrap();
    assert_problem(r, 422, "validation_failed").await;
}

#[tokio::test]
async fn listing_review_transitions_are_checked() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.staff(AccountRole::Admin).await;
    let (auditor, _) = app.staff(AccountRole::Auditor).await;
    let (producer, org, _) = app.verified_producer(&admin).await;
    let id = app.create_product(&producer, &product_body("苹果", 1000)).await;
    // A draft cannot be approved; an auditor cannot approve at all.
    assert_problem(
        admin.post(app.url(&format!("/api/v1/admin/products/{id}/approve"))).send().await.unwrap(),
        409,
        "invalid_transition",
    )
    .await;
    producer.post(app.url(&format!("/api/v1/producer/products/{id}/submit"))).send().await.unwrap();
    assert_problem(
        auditor.post(app.url(&format!("/api/v1/admin/products/{id}/approve"))).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    let problem = assert_problem(
        admin
            .post(app.url(&format!("/api/v1/admin/products/{id}/reject")))
            .json(&json!({"reason": ""}))
            .send()
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    field_errors(&problem, "reason");
    assert_problem(
        admin.post(app.url(&format!("/api/v1/admin/products/{id}/certification/verify"))).send().await.unwrap(),
        409,
        "no_certification",
    )
    .await;
    let status: String =
        sqlx::query_scalar("select status from products where id = $1").bind(id).fetch_one(&app.db).await.unwrap();
    assert_eq!(status, "pending_review");
    assert_eq!(
        admin.post(app.url(&format!("/api/v1/admin/products/{id}/approve"))).send().await.unwrap().status(),
        200
    );
    let profile: Value =
        new_client().get(app.url(&format!("/api/v1/producers/{org}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(profile["listed_products"], 1);
    assert_eq!(profile["county"], "静宁县");
}

#[tokio::test]
async fn a_failed_load_releases_its_fill_lock() {
    let app = TestApp::spawn().await;
    // Otherwise the next reader of the same key would wait for a fill that never comes.
    let r = new_client().get(app.url("/api/v1/price-board?category=77")).send().await.unwrap();
    assert_problem(r, 422, "validation_failed").await;
    let r = new_client().get(app.url(&format!("/api/v1/products/{}", Uuid::now_v7()))).send().await.unwrap();
    assert_problem(r, 404, "not_found").await;
    let mut conn = app.redis.clone();
    let pattern = format!("{}catalog:*", app.settings.redis.key_prefix);
    let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(&mut conn).await.unwrap();
    assert!(keys.is_empty(), "nothing is cached or locked after failed loads: {keys:?}");
}
