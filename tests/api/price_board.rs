//! The price board: per unit, count / min / median / max over every public product of a
//! category, and the cheapest offers a page at a time.

use std::collections::HashSet;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

/// The board's entry for `unit`; panics when the unit is missing.
fn unit_of(board: &Value, unit: &str) -> Value {
    board["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit"] == unit)
        .unwrap_or_else(|| panic!("no {unit} on {board}"))
        .clone()
}

/// (count, min, median, max) of a unit's entry.
fn stats(unit: &Value) -> (i64, i64, i64, i64) {
    let n = |k: &str| unit[k].as_i64().unwrap_or_else(|| panic!("{k} in {unit}"));
    (n("count"), n("min_fen"), n("median_fen"), n("max_fen"))
}

/// The prices of a unit's page of cheapest offers, in order.
fn prices(unit: &Value) -> Vec<i64> {
    unit["cheapest"]["items"].as_array().unwrap().iter().map(|o| o["retail_price_fen"].as_i64().unwrap()).collect()
}

fn product_ids(unit: &Value) -> Vec<String> {
    unit["cheapest"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["product_id"].as_str().unwrap().to_string())
        .collect()
}

/// A product body by the 斤.
fn by_jin(title: &str, price: i64) -> Value {
    let mut body = product_body(title, price);
    body["unit"] = json!("斤");
    body
}

/// `n` listed copies of `product`, the i-th (1..=n) priced `base + step * (i % modulus)`, made
/// in SQL (the API would take a while). Nothing has read the board yet, so no cache entry needs
/// retiring.
async fn copies(app: &TestApp, product: Uuid, n: i32, base: i64, step: i64, modulus: i32) -> Vec<Uuid> {
    sqlx::query_scalar(
        "insert into products
         select (jsonb_populate_record(null::products, to_jsonb(p)
                 || jsonb_build_object('id', gen_random_uuid(), 'retail_price_fen', $3 + $4 * (i % $5)))).*
         from products p, generate_series(1, $2) as i where p.id = $1
         returning id",
    )
    .bind(product)
    .bind(n)
    .bind(base)
    .bind(step)
    .bind(modulus)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_price_board_gives_count_min_median_and_max_per_unit_for_odd_and_even_counts() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let mut boxes = Vec::new();
    for price in [3000, 1000, 2000] {
        boxes.push(app.listed_product(&producer, &product_body("苹果", price)).await);
    }
    for price in [100, 400, 200, 301] {
        app.listed_product(&producer, &by_jin("土豆", price)).await;
    }
    let board: Value = app.anonymous().get_json("/api/v1/price-board?category=2").await;
    assert_eq!(board["category"]["id"], 2);
    assert_eq!(board["units"].as_array().unwrap().len(), 2);
    let by_box = unit_of(&board, "箱");
    assert_eq!(stats(&by_box), (3, 1000, 2000, 3000), "odd count: the middle price");
    assert_eq!(prices(&by_box), vec![1000, 2000, 3000], "cheapest first");
    assert_eq!(by_box["cheapest"]["next_cursor"], Value::Null);
    let cheapest = &by_box["cheapest"]["items"][0];
    assert_eq!(cheapest["product_id"], boxes[1].to_string());
    assert_eq!(cheapest["title"], "苹果");
    assert_eq!(cheapest["spec"], "5kg/箱");
    assert_eq!(cheapest["producer_id"], producer.org.to_string());
    assert_eq!(cheapest["producer_name"], "静宁县苹果专业合作社");
    assert_eq!(cheapest["origin_adcode"], 620826);
    assert_eq!(cheapest["origin_county"], "静宁县");
    // Even count: the mean of 200 and 301, rounded down.
    let jin = unit_of(&board, "斤");
    assert_eq!(stats(&jin), (4, 100, 250, 400));
    assert_eq!(prices(&jin), vec![100, 200, 301, 400]);
}

#[tokio::test]
async fn products_that_are_not_public_count_nowhere_on_the_board() {
    let app = TestApp::spawn().await;
    let admin = app.as_(app.admin().await);
    let producer = app.verified_producer().await;
    let public = app.listed_product(&producer, &product_body("苹果", 2000)).await;
    // Cheaper, but not public: a draft, one under review, a rejected and a delisted one.
    app.create_product(&producer, &product_body("苹果 draft", 10)).await;
    let pending = app.create_product(&producer, &product_body("苹果 pending", 20)).await;
    app.as_(&producer).submit(pending).await;
    let rejected = app.create_product(&producer, &product_body("苹果 rejected", 30)).await;
    app.as_(&producer).submit(rejected).await;
    assert_eq!(admin.reject_product(rejected, "图片不清").await.status(), 200);
    let delisted = app.listed_product(&producer, &product_body("苹果 delisted", 40)).await;
    assert_eq!(app.as_(&producer).delist(delisted).await.status(), 200);
    // A suspended producer's listed products are hidden too.
    let suspended = app.verified_producer().await;
    app.listed_product(&suspended, &product_body("苹果 suspended", 50)).await;
    app.listed_product(&suspended, &by_jin("土豆 suspended", 50)).await;
    assert_eq!(admin.suspend(suspended.org, "核查").await.status(), 200);

    let board: Value = app.anonymous().get_json("/api/v1/price-board?category=2").await;
    assert_eq!(board["units"].as_array().unwrap().len(), 1, "no 斤 left: {board}");
    let by_box = unit_of(&board, "箱");
    assert_eq!(stats(&by_box), (1, 2000, 2000, 2000));
    assert_eq!(product_ids(&by_box), vec![public.to_string()]);

    // Reinstated, the producer's products count again.
    assert_eq!(admin.verify(suspended.org).await.status(), 200);
    let board: Value = app.anonymous().get_json("/api/v1/price-board?category=2").await;
    assert_eq!(stats(&unit_of(&board, "箱")), (2, 50, 1025, 2000));
    assert_eq!(stats(&unit_of(&board, "斤")), (1, 50, 50, 50));
}

#[tokio::test]
async fn the_unit_filter_narrows_the_board_to_one_unit() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    app.listed_product(&producer, &product_body("苹果", 3000)).await;
    for price in [100, 200] {
        app.listed_product(&producer, &by_jin("土豆", price)).await;
    }
    let board: Value = app.anonymous().get_json("/api/v1/price-board?category=2&unit=斤").await;
    let units = board["units"].as_array().unwrap();
    assert_eq!(units.len(), 1);
    assert_eq!(stats(&units[0]), (2, 100, 150, 200));
    // A known unit nobody sells in this category: an empty board, not an error.
    let board: Value = app.anonymous().get_json("/api/v1/price-board?category=2&unit=kg").await;
    assert_eq!(board["units"], json!([]));
    // Another category has none of these.
    let board: Value = app.anonymous().get_json("/api/v1/price-board?category=3").await;
    assert_eq!(board["units"], json!([]));
}

#[tokio::test]
async fn paging_through_a_units_cheapest_offers_repeats_none_and_misses_none() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let first = app.listed_product(&producer, &product_body("苹果", 500)).await;
    // 44 more with many equal prices (100..700 fen), so pages break inside runs of ties.
    copies(&app, first, 44, 100, 100, 7).await;
    app.listed_product(&producer, &by_jin("土豆", 100)).await;

    // Without `unit`, each unit's first page, and a cursor for each.
    let board: Value = app.anonymous().get_json("/api/v1/price-board?category=2&limit=10").await;
    assert_eq!(unit_of(&board, "箱")["cheapest"]["items"].as_array().unwrap().len(), 10);
    assert_eq!(unit_of(&board, "斤")["cheapest"]["next_cursor"], Value::Null);

    let mut seen: Vec<(i64, String)> = Vec::new();
    let mut cursor = unit_of(&board, "箱")["cheapest"]["next_cursor"].as_str().unwrap().to_string();
    seen.extend(
        unit_of(&board, "箱")["cheapest"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["retail_price_fen"].as_i64().unwrap(), o["product_id"].as_str().unwrap().to_string())),
    );
    let mut pages = 1;
    loop {
        let page: Value =
            app.anonymous().get_json(&format!("/api/v1/price-board?category=2&unit=箱&limit=10&cursor={cursor}")).await;
        let units = page["units"].as_array().unwrap();
        assert_eq!(units.len(), 1);
        // The statistics are the whole unit's on every page.
        assert_eq!(stats(&units[0]).0, 45);
        seen.extend(
            units[0]["cheapest"]["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| (o["retail_price_fen"].as_i64().unwrap(), o["product_id"].as_str().unwrap().to_string())),
        );
        pages += 1;
        match units[0]["cheapest"]["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), 45);
    assert_eq!(seen.iter().map(|(_, id)| id).collect::<HashSet<_>>().len(), 45, "no offer twice");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "by price, then id, across pages");
    let all: Vec<(i64, String)> = sqlx::query_as(
        "select retail_price_fen, id::text from products where category_id = 2 and unit = '箱' order by retail_price_fen, id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(seen, all, "every offer once");
}

#[tokio::test]
async fn bad_board_parameters_are_422_naming_each_field() {
    let app = TestApp::spawn().await;
    let reader = app.anonymous();
    for (query, field) in [
        ("category=99", "category"),
        ("category=99999999999", "category"),
        ("category=2&unit=吨", "unit"),
        ("category=2&unit=箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱箱", "unit"),
        ("category=2&limit=0", "limit"),
        ("category=2&limit=101", "limit"),
        ("category=2&limit=many", "limit"),
        ("category=2&unit=箱&cursor=not-a-cursor", "cursor"),
        ("category=2&cursor=WzEwMCwiMDE5YjAwMDAtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAwIl0", "cursor"),
        ("", "category"),
        ("category=2&sort=price", "sort"),
    ] {
        let r = reader.get(&format!("/api/v1/price-board?{query}")).await;
        let problem = assert_problem(r, 422, "validation_failed").await;
        field_errors(&problem, field);
    }
    // Every bad parameter at once.
    let r = reader.get("/api/v1/price-board?category=99&unit=吨&limit=500&cursor=x").await;
    let problem = assert_problem(r, 422, "validation_failed").await;
    for field in ["category", "unit", "limit", "cursor"] {
        field_errors(&problem, field);
    }
}

#[tokio::test]
async fn the_board_stays_small_however_many_products_the_category_has() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let first = app.listed_product(&producer, &product_body("苹果", 100_000)).await;
    copies(&app, first, 299, 1000, 1, 1000).await;
    let r = app.anonymous().get("/api/v1/price-board?category=2").await;
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    let board: Value = serde_json::from_slice(&body).unwrap();
    let by_box = unit_of(&board, "箱");
    // 1001..=1299 and 100000: the median is the mean of 1150 and 1151, rounded down.
    assert_eq!(stats(&by_box), (300, 1001, 1150, 100_000));
    assert_eq!(prices(&by_box), (1001..=1020).collect::<Vec<_>>(), "the default limit: 20");
    assert!(by_box["cheapest"]["next_cursor"].is_string());
    assert!(body.len() < 12_000, "{} bytes", body.len());

    let board: Value = app.anonymous().get_json("/api/v1/price-board?category=2&limit=100").await;
    assert_eq!(prices(&unit_of(&board, "箱")).len(), 100);
}

#[tokio::test]
async fn a_price_change_or_delisting_shows_on_the_board_at_the_next_read() {
    let app = TestApp::spawn().await;
    let producer = app.verified_producer().await;
    let dear = app.listed_product(&producer, &product_body("苹果", 3000)).await;
    app.listed_product(&producer, &product_body("苹果", 2000)).await;
    let reader = app.anonymous();
    // Warm the cache, and check that the second read is served from it.
    let before = app.catalog_loads();
    for _ in 0..2 {
        let board: Value = reader.get_json("/api/v1/price-board?category=2").await;
        assert_eq!(stats(&unit_of(&board, "箱")), (2, 2000, 2500, 3000));
    }
    assert_eq!(app.catalog_loads() - before, 1, "one load, then a cache hit");

    assert_eq!(app.as_(&producer).set_price(dear, &[(1, 1500)]).await.status(), 200);
    let board: Value = reader.get_json("/api/v1/price-board?category=2").await;
    let by_box = unit_of(&board, "箱");
    assert_eq!(stats(&by_box), (2, 1500, 1750, 2000));
    assert_eq!(by_box["cheapest"]["items"][0]["product_id"], dear.to_string());

    assert_eq!(app.as_(&producer).delist(dear).await.status(), 200);
    let board: Value = reader.get_json("/api/v1/price-board?category=2").await;
    assert_eq!(stats(&unit_of(&board, "箱")), (1, 2000, 2000, 2000));
}

#[tokio::test]
async fn the_openapi_document_describes_the_boards_parameters_reply_and_422() {
    let app = TestApp::spawn().await;
    let doc: Value = app.anonymous().get_json("/api/v1/openapi.json").await;
    let op = &doc["paths"]["/api/v1/price-board"]["get"];
    let param = |name: &str| {
        op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    };
    assert_eq!(param("category")["required"], true);
    assert_eq!(
        (param("limit")["schema"]["minimum"].as_i64(), param("limit")["schema"]["maximum"].as_i64()),
        (Some(1), Some(100))
    );
    for optional in ["unit", "limit", "cursor"] {
        assert_eq!(param(optional)["required"], false, "{optional}");
    }
    assert_eq!(
        op["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    let schemas = &doc["components"]["schemas"];
    let unit = &schemas["UnitBoard"]["properties"];
    for field in ["unit", "count", "min_fen", "median_fen", "max_fen", "cheapest"] {
        assert!(unit[field].is_object(), "UnitBoard.{field}");
    }
    // The cheapest offers are a page: {items, next_cursor}, each item naming the producer and county.
    let page = unit["cheapest"]["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
    let items = &schemas[page]["properties"]["items"]["items"];
    let offer = match items["$ref"].as_str() {
        Some(r) => &schemas[r.rsplit('/').next().unwrap()],
        None => items,
    };
    for field in ["product_id", "title", "retail_price_fen", "producer_id", "producer_name", "origin_county"] {
        assert!(offer["properties"][field].is_object(), "offer.{field}: {offer}");
    }
    assert!(schemas[page]["properties"]["next_cursor"].is_object());
}
