//! Tallies, the summary and reconciliation: exact against a brute-force fold of the ledger.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use tonggan::accounts::model::AccountRole;

use crate::helpers::*;
use crate::payments::{Shop, shop};

const DIMENSIONS: [&str; 11] = [
    "buyer",
    "enterprise",
    "district",
    "buyer_kind",
    "producer",
    "county",
    "prefecture",
    "category",
    "day",
    "month",
    "year",
];

/// One ledger row, as the brute force needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct LedgerRow {
    order_line_id: Uuid,
    order_id: Uuid,
    refund_id: Option<Uuid>,
    buyer_id: Uuid,
    buyer_kind: String,
    enterprise_id: Option<Uuid>,
    district_adcode: Option<i32>,
    producer_id: Uuid,
    product_id: Uuid,
    origin_adcode: i32,
    prefecture_adcode: i32,
    category_id: i32,
    amount_fen: i64,
    qty: i32,
    paid_at: DateTime<Utc>,
}

/// Which ledger rows a filtered tally counts (the row, its payment's Shanghai day).
type Keep<'a> = Box<dyn Fn(&LedgerRow, NaiveDate) -> bool + 'a>;

/// (amount, qty, orders, buyers) by key.
type Totals = BTreeMap<String, (i64, i64, i64, i64)>;

async fn ledger(app: &TestApp) -> Vec<LedgerRow> {
    sqlx::query_as(
        "select order_line_id, order_id, refund_id, buyer_id, buyer_kind, enterprise_id, district_adcode, producer_id,
                product_id, origin_adcode, prefecture_adcode, category_id, amount_fen, qty, paid_at
         from assistance_ledger",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// The Shanghai (UTC+8) calendar day of an instant.
fn shanghai_day(at: DateTime<Utc>) -> NaiveDate {
    (at + chrono::Duration::hours(8)).date_naive()
}

/// The tally a brute force computes straight from ledger rows: refunds count on their
/// payment's day; per group, orders and buyers count those with a positive net amount.
fn brute_force(rows: &[LedgerRow], by: &str, keep: impl Fn(&LedgerRow, NaiveDate) -> bool) -> Totals {
    let paid_day: HashMap<Uuid, NaiveDate> =
        rows.iter().filter(|r| r.refund_id.is_none()).map(|r| (r.order_line_id, shanghai_day(r.paid_at))).collect();
    // key -> order -> (buyer, amount, qty)
    let mut groups: BTreeMap<String, HashMap<Uuid, (Uuid, i64, i64)>> = BTreeMap::new();
    for r in rows {
        let day = paid_day[&r.order_line_id];
        if !keep(r, day) {
            continue;
        }
        let key = match by {
            "buyer" => Some(r.buyer_id.to_string()),
            "enterprise" => r.enterprise_id.map(|e| e.to_string()),
            "district" => r.district_adcode.map(|d| d.to_string()),
            "buyer_kind" => Some(r.buyer_kind.clone()),
            "producer" => Some(r.producer_id.to_string()),
            "county" => Some(r.origin_adcode.to_string()),
            "prefecture" => Some(r.prefecture_adcode.to_string()),
            "category" => Some(r.category_id.to_string()),
            "day" => Some(day.format("%Y-%m-%d").to_string()),
            "month" => Some(day.format("%Y-%m").to_string()),
            "year" => Some(day.format("%Y").to_string()),
            other => panic!("no dimension {other}"),
        };
        let Some(key) = key else { continue };
        let entry = groups.entry(key).or_default().entry(r.order_id).or_insert((r.buyer_id, 0, 0));
        entry.1 += r.amount_fen;
        entry.2 += i64::from(r.qty);
    }
    let mut totals = Totals::new();
    for (key, orders) in groups {
        let mut per_buyer: HashMap<Uuid, i64> = HashMap::new();
        let (mut amount, mut qty, mut positive_orders) = (0, 0, 0);
        for (buyer, a, q) in orders.values() {
            amount += a;
            qty += q;
            positive_orders += i64::from(*a > 0);
            *per_buyer.entry(*buyer).or_default() += a;
        }
        let buyers = per_buyer.values().filter(|a| **a > 0).count() as i64;
        if amount != 0 || qty != 0 {
            totals.insert(key, (amount, qty, positive_orders, buyers));
        }
    }
    totals
}

async fn tally(caller: &Caller, query: &str) -> Totals {
    let reply: Value = parse(caller.get(&format!("/api/v1/admin/tallies?limit=500&{query}")).await).await;
    reply["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let n = |f: &str| r[f].as_i64().unwrap();
            (r["key"].as_str().unwrap().to_string(), (n("amount_fen"), n("qty"), n("orders"), n("buyers")))
        })
        .collect()
}

/// Every dimension, unfiltered, as the API answers it.
async fn all_tallies(caller: &Caller) -> BTreeMap<&'static str, Totals> {
    let mut all = BTreeMap::new();
    for by in DIMENSIONS {
        all.insert(by, tally(caller, &format!("group_by={by}")).await);
    }
    all
}

async fn set_origin(app: &TestApp, product: Uuid, county: i32, category: i32) {
    sqlx::query("update products set origin_adcode = $2, category_id = $3 where id = $1")
        .bind(product)
        .bind(county)
        .bind(category)
        .execute(&app.db)
        .await
        .unwrap();
}

async fn refund(s: &Shop, order: Uuid, body: Value) -> u16 {
    let admin = s.app.admin().await;
    let r = s.refund(admin, &format!("/api/v1/admin/orders/{order}/refunds"), &body).await;
    r.status().as_u16()
}

/// Checks every dimension, and a few filtered tallies, against the brute force.
async fn assert_tallies_match_the_ledger(s: &Shop) {
    let staff = s.app.as_(s.app.admin().await);
    let rows = ledger(&s.app).await;
    assert!(!rows.is_empty());
    for by in DIMENSIONS {
        let expected = brute_force(&rows, by, |_, _| true);
        assert_eq!(tally(&staff, &format!("group_by={by}")).await, expected, "group_by={by}");
    }
    let some = &rows[0];
    let today = shanghai_day(Utc::now());
    let filtered: Vec<(String, Keep<'_>)> = vec![
        ("buyer_kind=enterprise".into(), Box::new(|r: &LedgerRow, _| r.buyer_kind == "enterprise")),
        (
            format!("county={}", some.origin_adcode),
            Box::new(move |r: &LedgerRow, _| r.origin_adcode == some.origin_adcode),
        ),
        (format!("producer={}", some.producer_id), Box::new(move |r: &LedgerRow, _| r.producer_id == some.producer_id)),
        (
            format!("from={today}&to={today}&category={}", some.category_id),
            Box::new(move |r: &LedgerRow, d| d == today && r.category_id == some.category_id),
        ),
        ("from=2001-01-01&to=2001-12-31".into(), Box::new(|_: &LedgerRow, d| d.format("%Y").to_string() == "2001")),
    ];
    for (query, keep) in &filtered {
        for by in ["county", "buyer", "enterprise", "category", "day"] {
            let expected = brute_force(&rows, by, keep);
            assert_eq!(tally(&staff, &format!("group_by={by}&{query}")).await, expected, "group_by={by}&{query}");
        }
    }
}

/// A market with three producers whose products come from different counties (one of them
/// 嘉峪关, a prefecture with no counties) and categories, three consumers and two enterprises in
/// different districts.
struct Market {
    s: Shop,
    products: Vec<Uuid>,
    consumers: Vec<User>,
    second_enterprise: Owner,
}

async fn market() -> Market {
    let s = shop().await;
    let counties: Vec<i32> = sqlx::query_scalar(
        "select adcode from regions where level = 'county' and province_adcode = 620000 order by adcode limit 3",
    )
    .fetch_all(&s.app.db)
    .await
    .unwrap();
    let second = s.app.verified_producer().await;
    let third = s.app.verified_producer().await;
    let melons = s.app.stocked_product(&second, 1000, 1200).await;
    let potatoes = s.app.stocked_product(&second, 1000, 300).await;
    let beef = s.app.stocked_product(&third, 1000, 8800).await;
    set_origin(&s.app, s.pears, counties[0], 2).await;
    set_origin(&s.app, melons, counties[1], 3).await;
    set_origin(&s.app, potatoes, counties[2], 3).await;
    set_origin(&s.app, beef, 620200, 4).await;
    let second_enterprise = s.app.verified_enterprise().await;
    sqlx::query("update organizations set region_adcode = 120104 where id = $1")
        .bind(second_enterprise.org)
        .execute(&s.app.db)
        .await
        .unwrap();
    let consumers = s.app.buyers(3).await;
    let products = vec![s.apples, s.pears, melons, potatoes, beef];
    Market { s, products, consumers, second_enterprise }
}

impl Market {
    /// Places an order for buyer `n` (0..3 consumers, 3 and 4 the enterprises) and pays it by card.
    async fn buy(&self, n: usize, lines: &[(Uuid, i64)]) -> Order {
        let order = match n {
            0..3 => self.s.order(&self.consumers[n], lines).await,
            3 => self.s.order(&self.s.enterprise, lines).await,
            _ => self.s.order(&self.second_enterprise, lines).await,
        };
        match n {
            0..3 => self.s.pay_by_card(&self.consumers[n], order.id, order.total_fen).await,
            3 => self.s.pay_by_card(&self.s.enterprise, order.id, order.total_fen).await,
            _ => self.s.pay_by_card(&self.second_enterprise, order.id, order.total_fen).await,
        };
        order
    }
}

#[tokio::test]
async fn after_a_random_mix_of_orders_payments_and_refunds_every_tally_equals_the_ledger() {
    use rand::{Rng, SeedableRng};
    let m = market().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut paid = Vec::new();
    for _ in 0..14 {
        let mut picked = m.products.clone();
        let n_lines = rng.random_range(1..=3);
        let lines: Vec<(Uuid, i64)> =
            (0..n_lines).map(|_| (picked.remove(rng.random_range(0..picked.len())), rng.random_range(1..=6))).collect();
        paid.push(m.buy(rng.random_range(0..5), &lines).await);
    }
    for _ in 0..10 {
        let order = &paid[rng.random_range(0..paid.len())];
        let body = if rng.random_range(0..4) == 0 {
            json!({"full": true, "reason": "全退"})
        } else {
            let lines: Vec<_> = order.groups.iter().flat_map(|g| g.lines.iter()).collect();
            let line = lines[rng.random_range(0..lines.len())];
            json!({"lines": [{"line_id": line.id, "qty": rng.random_range(1..=3)}], "reason": "部分退"})
        };
        let status = refund(&m.s, order.id, body).await;
        assert!([201, 409, 422].contains(&status), "{status}");
    }
    assert_tallies_match_the_ledger(&m.s).await;
    let report: Value = parse(m.s.app.as_(m.s.app.admin().await).get("/api/v1/admin/reconciliation").await).await;
    assert_eq!(report["ok"], true, "{report}");
}

#[tokio::test]
async fn the_refund_of_one_line_changes_exactly_the_tallies_that_line_belongs_to() {
    let m = market().await;
    let order = m.buy(3, &[(m.products[0], 4), (m.products[4], 2)]).await;
    m.buy(0, &[(m.products[0], 1), (m.products[2], 3)]).await;
    let staff = m.s.app.as_(m.s.app.admin().await);
    let before = all_tallies(&staff).await;

    let beef = order.line(m.products[4]);
    let status = refund(&m.s, order.id, json!({"lines": [{"line_id": beef.id, "qty": 1}], "reason": "破损"})).await;
    assert_eq!(status, 201);

    let after = all_tallies(&staff).await;
    let rows = ledger(&m.s.app).await;
    let refund_row = rows.iter().find(|r| r.refund_id.is_some()).unwrap();
    let today = shanghai_day(Utc::now());
    for by in DIMENSIONS {
        let key = match by {
            "buyer" => refund_row.buyer_id.to_string(),
            "enterprise" => refund_row.enterprise_id.unwrap().to_string(),
            "district" => refund_row.district_adcode.unwrap().to_string(),
            "buyer_kind" => "enterprise".to_string(),
            "producer" => refund_row.producer_id.to_string(),
            "county" | "prefecture" => "620200".to_string(),
            "category" => "4".to_string(),
            "day" => today.format("%Y-%m-%d").to_string(),
            "month" => today.format("%Y-%m").to_string(),
            _ => today.format("%Y").to_string(),
        };
        for (k, was) in &before[by] {
            let now = after[by][k];
            if *k == key {
                let expected = (was.0 - beef.unit_price_fen, was.1 - 1, was.2, was.3);
                assert_eq!(now, expected, "{by}={k}");
            } else {
                assert_eq!(now, *was, "{by}={k} must not change");
            }
        }
        assert_eq!(before[by].len(), after[by].len(), "{by}");
    }
    assert_eq!(refund_row.product_id, m.products[4]);
}

#[tokio::test]
async fn orders_and_buyers_stay_exact_when_a_refund_zeroes_an_order() {
    let m = market().await;
    let first = m.buy(1, &[(m.products[0], 2)]).await;
    let second = m.buy(1, &[(m.products[0], 1), (m.products[2], 1)]).await;
    m.buy(2, &[(m.products[0], 3)]).await;
    let staff = m.s.app.as_(m.s.app.admin().await);
    let county = |t: &Totals| t.get("620826").copied();
    let apples_county = tally(&staff, "group_by=county").await;
    assert_eq!(county(&apples_county).map(|t| (t.2, t.3)), Some((3, 2)));

    assert_eq!(refund(&m.s, first.id, json!({"full": true, "reason": "全退"})).await, 201);
    let by_county = tally(&staff, "group_by=county").await;
    // The first order no longer counts; its buyer still does, through the second order.
    assert_eq!(county(&by_county).map(|t| (t.2, t.3)), Some((2, 2)));
    let apples_line = second.line(m.products[0]);
    let r = refund(&m.s, second.id, json!({"lines": [{"line_id": apples_line.id, "qty": 1}], "reason": "退"})).await;
    assert_eq!(r, 201);
    let by_county = tally(&staff, "group_by=county").await;
    // Buyer 1 has nothing left from this county, but still has melons from another.
    assert_eq!(county(&by_county).map(|t| (t.2, t.3)), Some((1, 1)));
    let by_buyer = tally(&staff, "group_by=buyer").await;
    assert_eq!(by_buyer[&m.consumers[1].id.to_string()].2, 1);
    assert_tallies_match_the_ledger(&m.s).await;
}

#[tokio::test]
async fn a_payment_at_23_30_utc_counts_for_the_next_shanghai_day() {
    let m = market().await;
    let paid = m.buy(0, &[(m.products[0], 1)]).await;
    let unpaid = m.s.order(&m.consumers[1], &[(m.products[2], 2)]).await;
    let line = unpaid.line(m.products[2]);
    // A ledger row written as if the payment had succeeded at 23:30 UTC on 1 March.
    sqlx::query(
        "insert into assistance_ledger (id, order_line_id, order_id, payment_id, amount_fen, qty, buyer_id, buyer_kind,
                                        producer_id, product_id, origin_adcode, prefecture_adcode, category_id, paid_at)
         select $1, $2, $3, (select id from payments where order_id = $4), $5, 2, $6, 'consumer',
                p.producer_id, p.id, p.origin_adcode, 620000 + 0, p.category_id, '2026-03-01T23:30:00Z'
         from products p where p.id = $7",
    )
    .bind(Uuid::now_v7())
    .bind(line.id)
    .bind(unpaid.id)
    .bind(paid.id)
    .bind(line.line_total_fen)
    .bind(m.consumers[1].id)
    .bind(m.products[2])
    .execute(&m.s.app.db)
    .await
    .unwrap();
    let staff = m.s.app.as_(m.s.app.admin().await);
    assert!(tally(&staff, "group_by=day&from=2026-03-01&to=2026-03-01").await.is_empty());
    let next = tally(&staff, "group_by=day&from=2026-03-02&to=2026-03-02").await;
    assert_eq!(next.get("2026-03-02"), Some(&(line.line_total_fen, 2, 1, 1)));
    let month = tally(&staff, "group_by=month&from=2026-03-01&to=2026-03-31").await;
    assert_eq!(month.keys().collect::<Vec<_>>(), vec!["2026-03"]);
}

#[tokio::test]
async fn the_summary_counts_all_time_this_year_this_month_and_today() {
    let m = market().await;
    let a = m.buy(0, &[(m.products[0], 2)]).await;
    let b = m.buy(3, &[(m.products[4], 1), (m.products[2], 1)]).await;
    let staff = m.s.app.as_(m.s.app.admin().await);
    let summary: Value = parse(staff.get("/api/v1/admin/tallies/summary").await).await;
    let total = a.total_fen + b.total_fen;
    for period in ["all_time", "year", "month", "today"] {
        assert_eq!(summary[period], json!({"amount_fen": total, "orders": 2, "buyers": 2}), "{period}");
    }
    assert_eq!(summary["enterprises_reached"], 1);
    assert_eq!(summary["producers_reached"], 3);
    assert_eq!(summary["counties_reached"], 3);
    assert_eq!(summary["as_of"], shanghai_day(Utc::now()).to_string());

    // Read again: served from the cache, not Postgres, also after a catalog write (a producer's
    // stock change retires catalog reads, not the tallies); a payment retires it.
    let loads = m.s.app.ledger_loads();
    assert!(loads > 0, "the summary is read through the ledger's cache");
    let again: Value = parse(staff.get("/api/v1/admin/tallies/summary").await).await;
    assert_eq!(again, summary);
    assert_eq!(m.s.app.ledger_loads(), loads);
    let catalog_loads = m.s.app.catalog_loads();
    m.s.app.as_(&m.s.producer).set_stock(m.s.apples, 777).await.error_for_status().unwrap();
    let again: Value = parse(staff.get("/api/v1/admin/tallies/summary").await).await;
    assert_eq!(again, summary);
    assert_eq!(m.s.app.ledger_loads(), loads);
    parse::<Value>(m.s.app.anonymous().get(&format!("/api/v1/products/{}", m.products[0])).await).await;
    assert_eq!(m.s.app.catalog_loads(), catalog_loads + 1, "the stock change retired the catalog's reads");
    let c = m.buy(1, &[(m.products[3], 1)]).await;
    let after: Value = parse(staff.get("/api/v1/admin/tallies/summary").await).await;
    assert_eq!(after["today"]["amount_fen"], total + c.total_fen);
    assert_eq!(after["today"]["buyers"], 3);
}

#[tokio::test]
async fn tallies_are_for_admins_and_auditors_only_and_bad_queries_are_refused() {
    let m = market().await;
    m.buy(0, &[(m.products[0], 1)]).await;
    let app = &m.s.app;
    for path in
        ["/api/v1/admin/tallies?group_by=county", "/api/v1/admin/tallies/summary", "/api/v1/admin/reconciliation"]
    {
        assert_problem(app.anonymous().get(path).await, 401, "unauthenticated").await;
        assert_problem(app.as_(&m.consumers[0]).get(path).await, 403, "forbidden").await;
        assert_problem(app.as_(&m.s.enterprise).get(path).await, 403, "forbidden").await;
        assert_problem(app.as_(&m.s.producer).get(path).await, 403, "forbidden").await;
        let auditor = app.staff(AccountRole::Auditor).await;
        assert_eq!(app.as_(&auditor).get(path).await.status(), 200, "{path}");
    }
    let staff = app.as_(app.admin().await);
    let bad = [
        ("group_by=galaxy", "group_by"),
        ("from=2026-01-01", "group_by"),
        ("group_by=county&from=2026-13-01", "from"),
        ("group_by=county&from=2026-02-01&to=2026-01-31", "to"),
        ("group_by=county&limit=0", "limit"),
        ("group_by=county&limit=501", "limit"),
        ("group_by=county&county=abc", "county"),
        ("group_by=county&colour=red", "colour"),
    ];
    for (query, field) in bad {
        let problem =
            assert_problem(staff.get(&format!("/api/v1/admin/tallies?{query}")).await, 422, "validation_failed").await;
        assert!(problem.errors.contains_key(field), "{query}: {:?}", problem.errors);
    }
    let problem = assert_problem(
        staff.get("/api/v1/admin/reconciliation?from=2026-02-01&to=2026-01-01").await,
        422,
        "validation_failed",
    )
    .await;
    assert!(problem.errors.contains_key("to"));
}

#[tokio::test]
async fn a_ledger_row_changed_behind_the_guard_is_named_by_reconciliation() {
    let m = market().await;
    let order = m.buy(0, &[(m.products[0], 2), (m.products[2], 1)]).await;
    m.buy(3, &[(m.products[1], 1)]).await;
    let staff = m.s.app.as_(m.s.app.admin().await);
    let report: Value = parse(staff.get("/api/v1/admin/reconciliation").await).await;
    assert_eq!(report["ok"], true, "{report}");

    let line = order.line(m.products[2]);
    let db = &m.s.app.db;
    sqlx::query("alter table assistance_ledger disable trigger assistance_ledger_no_update_delete")
        .execute(db)
        .await
        .unwrap();
    sqlx::query("update assistance_ledger set amount_fen = amount_fen + 1 where order_line_id = $1")
        .bind(line.id)
        .execute(db)
        .await
        .unwrap();
    sqlx::query("alter table assistance_ledger enable trigger assistance_ledger_no_update_delete")
        .execute(db)
        .await
        .unwrap();

    let report: Value = parse(staff.get("/api/v1/admin/reconciliation").await).await;
    assert_eq!(report["ok"], false);
    let tallies = report["tallies"].as_array().unwrap();
    assert_eq!(tallies.len(), 1, "{report}");
    assert_eq!(tallies[0]["order_id"], order.id.to_string());
    assert_eq!(tallies[0]["product_id"], m.products[2].to_string());
    assert_eq!(tallies[0]["ledger_amount_fen"].as_i64().unwrap() - tallies[0]["tally_amount_fen"].as_i64().unwrap(), 1);
    let lines = report["ledger"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{report}");
    assert_eq!(lines[0]["order_line_id"], line.id.to_string());
    let payments = report["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 1, "{report}");
    assert_eq!(payments[0]["order_id"], order.id.to_string());
    // Outside the range of the tampered order's payment day, nothing differs.
    let report: Value = parse(staff.get("/api/v1/admin/reconciliation?from=2001-01-01&to=2001-12-31").await).await;
    assert_eq!(report["ok"], true, "{report}");
}

#[tokio::test]
async fn a_tally_row_changed_directly_is_named_and_rebuilding_from_the_ledger_restores_it() {
    let m = market().await;
    let order = m.buy(1, &[(m.products[3], 5)]).await;
    let db = &m.s.app.db;
    sqlx::query("update tally_facts set qty = qty + 10 where order_id = $1").bind(order.id).execute(db).await.unwrap();
    let staff = m.s.app.as_(m.s.app.admin().await);
    let report: Value = parse(staff.get("/api/v1/admin/reconciliation").await).await;
    assert_eq!(report["ok"], false);
    assert_eq!(report["tallies"][0]["tally_qty"], 15);
    assert_eq!(report["tallies"][0]["ledger_qty"], 5);
    assert!(report["ledger"].as_array().unwrap().is_empty());

    // The command line says the same and exits non-zero; --rebuild refolds and then passes.
    let output = reconcile_command(&m.s.app).output().unwrap();
    assert!(!output.status.success());
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["tallies"][0]["order_id"], order.id.to_string());
    let output = reconcile_command(&m.s.app).arg("--rebuild").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("rebuilt 1 tally rows"));
    let report: Value = parse(staff.get("/api/v1/admin/reconciliation").await).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_tallies_match_the_ledger(&m.s).await;
}

#[tokio::test]
async fn tally_rows_are_named_for_people() {
    let m = market().await;
    m.buy(4, &[(m.products[4], 1)]).await;
    let staff = m.s.app.as_(m.s.app.admin().await);
    let name_of = |reply: &Value| reply["items"][0]["name"].as_str().unwrap().to_string();
    let county: Value = parse(staff.get("/api/v1/admin/tallies?group_by=county").await).await;
    assert_eq!(name_of(&county), "嘉峪关市");
    let district: Value = parse(staff.get("/api/v1/admin/tallies?group_by=district").await).await;
    assert_eq!(district["items"][0]["key"], "120104");
    assert_eq!(name_of(&district), "南开区");
    let enterprise: Value = parse(staff.get("/api/v1/admin/tallies?group_by=enterprise").await).await;
    assert_eq!(name_of(&enterprise), "天津市和平区食堂管理有限公司");
    let year: Value = parse(staff.get("/api/v1/admin/tallies?group_by=year").await).await;
    assert_eq!(name_of(&year), year["items"][0]["key"].as_str().unwrap());
}

/// `tonggan reconcile` against the app's database.
fn reconcile_command(app: &TestApp) -> std::process::Command {
    use secrecy::ExposeSecret;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tonggan"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("APP_ENVIRONMENT", "test")
        .env("APP__DATABASE__URL", app.settings.database.url.expose_secret())
        .arg("reconcile");
    command
}

// ---- an enterprise's own figures, targets and certificates ----------------------------------

async fn audit_actions(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("select count(*) from audit_log where action = $1")
        .bind(action)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_enterprise_sees_its_own_totals_by_year_month_county_and_category_only() {
    let m = market().await;
    let mine = m.buy(3, &[(m.products[0], 2), (m.products[4], 1)]).await;
    m.buy(4, &[(m.products[2], 5)]).await;
    m.buy(0, &[(m.products[3], 5)]).await;
    let app = &m.s.app;
    let purchaser = app.as_(&m.s.enterprise).add_member(m.s.enterprise.org, "purchaser").await;
    let view: Value = parse(app.as_(&purchaser).get("/api/v1/enterprise/assistance").await).await;
    let year = shanghai_day(Utc::now()).format("%Y").to_string();
    assert_eq!(view["enterprise_id"], m.s.enterprise.org.to_string());
    assert_eq!(
        view["by_year"],
        json!([{"key": year, "name": year, "amount_fen": mine.total_fen, "qty": 3, "orders": 1, "buyers": 1}])
    );
    assert_eq!(view["by_month"].as_array().unwrap().len(), 1);
    let counties: Vec<&str> =
        view["by_county"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(counties.len(), 2);
    assert!(counties.contains(&"620200") && counties.contains(&"620826"));
    assert_eq!(view["by_category"].as_array().unwrap().len(), 2);
    assert_eq!(view["target"], Value::Null);
    assert_eq!(view["progress"], Value::Null);

    assert_problem(app.as_(&m.consumers[0]).get("/api/v1/enterprise/assistance").await, 403, "forbidden").await;
    assert_problem(app.as_(&m.s.producer).get("/api/v1/enterprise/assistance").await, 403, "forbidden").await;
    assert_problem(app.anonymous().get("/api/v1/enterprise/assistance").await, 401, "unauthenticated").await;
    let problem = assert_problem(
        app.as_(&purchaser).get("/api/v1/enterprise/assistance?year=1999").await,
        422,
        "validation_failed",
    )
    .await;
    assert!(problem.errors.contains_key("year"));
}

#[tokio::test]
async fn only_the_owner_sets_the_target_and_members_read_its_progress() {
    let m = market().await;
    let order = m.buy(3, &[(m.products[0], 2)]).await;
    let app = &m.s.app;
    let owner = app.as_(&m.s.enterprise);
    let approver = owner.add_member(m.s.enterprise.org, "approver").await;
    let purchaser = owner.add_member(m.s.enterprise.org, "purchaser").await;
    let year: i32 = shanghai_day(Utc::now()).format("%Y").to_string().parse().unwrap();

    for who in [&approver, &purchaser] {
        let r = app.as_(who).put("/api/v1/enterprise/assistance/target", &json!({"amount_fen": 100})).await;
        assert_problem(r, 403, "forbidden").await;
    }
    let auditor = app.staff(AccountRole::Auditor).await;
    assert_problem(
        app.as_(&auditor).put("/api/v1/enterprise/assistance/target", &json!({"amount_fen": 100})).await,
        403,
        "forbidden",
    )
    .await;
    let bad = [
        (json!({"amount_fen": 0}), "amount_fen"),
        (json!({"amount_fen": 100, "percent": 5, "budget_fen": 100}), "amount_fen"),
        (json!({"percent": 5}), "budget_fen"),
        (json!({"percent": 0, "budget_fen": 100}), "percent"),
        (json!({"percent": 12.345, "budget_fen": 100}), "percent"),
        // Over 100, though it rounds to 100.00 (found by the fuzzer).
        (json!({"percent": 100.00000000000001, "budget_fen": 100}), "percent"),
        (json!({"percent": 5, "budget_fen": -1}), "budget_fen"),
        (json!({"year": 1999, "amount_fen": 100}), "year"),
        (json!({"amount_fen": 100, "colour": "red"}), "colour"),
    ];
    for (body, field) in bad {
        let problem =
            assert_problem(owner.put("/api/v1/enterprise/assistance/target", &body).await, 422, "validation_failed")
                .await;
        assert!(problem.errors.contains_key(field), "{body}: {:?}", problem.errors);
    }
    assert_eq!(app.count("assistance_targets").await, 0);
    assert_eq!(audit_actions(app, "target.set").await, 0);

    let target: Value = parse(
        owner.put("/api/v1/enterprise/assistance/target", &json!({"percent": 2.5, "budget_fen": 40_000_000})).await,
    )
    .await;
    assert_eq!(target["year"], year);
    assert_eq!(target["amount_fen"], 1_000_000);
    assert_eq!(target["percent"], 2.5);
    assert_eq!(audit_actions(app, "target.set").await, 1);
    let target: Value = parse(
        owner
            .put("/api/v1/enterprise/assistance/target", &json!({"year": year, "amount_fen": order.total_fen * 4}))
            .await,
    )
    .await;
    assert_eq!(target["budget_fen"], Value::Null);
    assert_eq!(app.count("assistance_targets").await, 1);

    let view: Value = parse(app.as_(&purchaser).get("/api/v1/enterprise/assistance").await).await;
    assert_eq!(view["target"]["amount_fen"], order.total_fen * 4);
    assert_eq!(view["progress"]["amount_fen"], order.total_fen);
    assert_eq!(view["progress"]["progress_bp"], 2500);

    // Admins see it among the targets; behind=true keeps it only if pro-rata progress is ahead of 25%.
    let staff = app.as_(app.admin().await);
    let all: Vec<Value> = parse(staff.get("/api/v1/admin/targets").await).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["enterprise_id"], m.s.enterprise.org.to_string());
    let behind: Vec<Value> = parse(staff.get("/api/v1/admin/targets?behind=true").await).await;
    assert_eq!(behind.len(), usize::from(all[0]["behind"] == true));
    assert_problem(app.as_(&m.s.enterprise).get("/api/v1/admin/targets").await, 403, "forbidden").await;
    let past: Vec<Value> =
        parse(staff.get(&format!("/api/v1/admin/targets?behind=true&year={}", year - 1)).await).await;
    assert!(past.is_empty());
}

#[tokio::test]
async fn a_certificate_freezes_the_figures_and_says_when_a_later_refund_changed_them() {
    let m = market().await;
    let order = m.buy(3, &[(m.products[0], 2), (m.products[4], 1)]).await;
    let app = &m.s.app;
    let owner = app.as_(&m.s.enterprise);
    let purchaser = owner.add_member(m.s.enterprise.org, "purchaser").await;
    let approver = owner.add_member(m.s.enterprise.org, "approver").await;
    assert_problem(
        app.as_(&purchaser).post("/api/v1/enterprise/assistance/certificates", &json!({})).await,
        403,
        "forbidden",
    )
    .await;
    let problem = assert_problem(
        owner.post("/api/v1/enterprise/assistance/certificates", &json!({"year": 2101})).await,
        422,
        "validation_failed",
    )
    .await;
    assert!(problem.errors.contains_key("year"));
    assert_problem(
        owner.post("/api/v1/enterprise/assistance/certificates", &json!({"year": 2020})).await,
        422,
        "nothing_to_certify",
    )
    .await;
    assert_eq!(app.count("assistance_certificates").await, 0);

    let r = app.as_(&approver).post("/api/v1/enterprise/assistance/certificates", &json!({})).await;
    assert_eq!(r.status(), 201);
    let issued: Value = r.json().await.unwrap();
    let code = issued["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 32);
    assert_eq!(issued["amount_fen"], order.total_fen);
    let again: Value = parse(owner.post("/api/v1/enterprise/assistance/certificates", &json!({})).await).await;
    assert_ne!(again["code"], issued["code"]);
    assert_eq!(audit_actions(app, "certificate.issue").await, 2);
    let stored: i64 =
        sqlx::query_scalar("select count(*) from assistance_certificates where code_sha256 = $1 or code_sha256 = $2")
            .bind(&code)
            .bind(again["code"].as_str().unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, 0, "codes are stored only as their SHA-256");

    let public: Value = parse(app.anonymous().get(&format!("/api/v1/certificates/{code}")).await).await;
    assert_eq!(public["amount_fen"], order.total_fen);
    assert_eq!(public["changed_since_issue"], false);
    assert_eq!(public["legal_name"], "天津市和平区食堂管理有限公司");
    assert_eq!(public["by_county"].as_array().unwrap().len(), 2);
    let page = app.anonymous().get(&format!("/api/v1/certificates/{code}/print")).await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("size: A4") && html.contains(&code) && html.contains("消费帮扶采购证明"));

    let beef = order.line(m.products[4]);
    assert_eq!(refund(&m.s, order.id, json!({"lines": [{"line_id": beef.id, "qty": 1}], "reason": "退"})).await, 201);
    let public: Value = parse(app.anonymous().get(&format!("/api/v1/certificates/{code}")).await).await;
    assert_eq!(public["amount_fen"], order.total_fen, "the certified figures stay as issued");
    assert_eq!(public["changed_since_issue"], true);
    assert_eq!(public["current_amount_fen"], order.total_fen - beef.line_total_fen);
    assert!(
        app.anonymous().get(&format!("/api/v1/certificates/{code}/print")).await.text().await.unwrap().contains("注意")
    );

    for unknown in ["0123456789abcdef0123456789abcdef", "nope", &code[..31]] {
        assert_problem(app.anonymous().get(&format!("/api/v1/certificates/{unknown}")).await, 404, "not_found").await;
    }
}

#[tokio::test]
async fn producers_see_their_own_sales_by_month_product_and_buyer_kind() {
    let m = market().await;
    let a = m.buy(0, &[(m.products[0], 2), (m.products[2], 1)]).await;
    let b = m.buy(3, &[(m.products[1], 1)]).await;
    let app = &m.s.app;
    let sales: Value = parse(app.as_(&m.s.producer).get("/api/v1/producer/sales").await).await;
    let apples = a.line(m.products[0]).line_total_fen;
    let pears = b.line(m.products[1]).line_total_fen;
    let products: BTreeMap<String, i64> = sales["by_product"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_string(), r["amount_fen"].as_i64().unwrap()))
        .collect();
    assert_eq!(products, BTreeMap::from([(m.products[0].to_string(), apples), (m.products[1].to_string(), pears)]));
    let kinds: BTreeMap<String, i64> = sales["by_buyer_kind"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_string(), r["amount_fen"].as_i64().unwrap()))
        .collect();
    assert_eq!(kinds, BTreeMap::from([("consumer".to_string(), apples), ("enterprise".to_string(), pears)]));
    assert_eq!(sales["by_month"][0]["amount_fen"], apples + pears);
    assert_eq!(sales["by_product"][0]["name"], "静宁苹果");
    assert_problem(app.as_(&m.consumers[0]).get("/api/v1/producer/sales").await, 403, "forbidden").await;
    let problem = assert_problem(
        app.as_(&m.s.producer).get("/api/v1/producer/sales?from=2026-02-01&to=2026-01-01").await,
        422,
        "validation_failed",
    )
    .await;
    assert!(problem.errors.contains_key("to"));
}

// ---- anomalies ---------------------------------------------------------------------------------

#[tokio::test]
async fn anomalies_name_shared_contacts_outsized_orders_and_high_refund_ratios() {
    let m = market().await;
    let db = &m.s.app.db;
    // Consumer 0 has the first producer's phone (spelled differently); the second enterprise
    // has its legal name.
    let (phone, legal): (String, String) =
        sqlx::query_as("select contact_phone, legal_name from organizations where id = $1")
            .bind(m.s.producer.org)
            .fetch_one(db)
            .await
            .unwrap();
    let spaced = format!("{} {}", &phone[..3], &phone[3..]);
    sqlx::query("update accounts set phone = $2 where id = $1")
        .bind(m.consumers[0].id)
        .bind(spaced)
        .execute(db)
        .await
        .unwrap();
    sqlx::query("update organizations set legal_name = $2 where id = $1")
        .bind(m.second_enterprise.org)
        .bind(&legal)
        .execute(db)
        .await
        .unwrap();
    m.buy(0, &[(m.products[0], 1)]).await;
    m.buy(4, &[(m.products[1], 1)]).await;
    m.buy(1, &[(m.products[0], 1)]).await;
    // Consumer 2: five small orders and one twenty times their size.
    for _ in 0..5 {
        m.buy(2, &[(m.products[2], 1)]).await;
    }
    let big = m.buy(2, &[(m.products[2], 20)]).await;
    // The third producer refunds 4 of the 15 units it sold (over the 1,000-yuan minimum).
    let beef = m.buy(3, &[(m.products[4], 15)]).await;
    let line = beef.line(m.products[4]);
    assert_eq!(refund(&m.s, beef.id, json!({"lines": [{"line_id": line.id, "qty": 4}], "reason": "变质"})).await, 201);

    let app = &m.s.app;
    assert_problem(app.as_(&m.consumers[0]).get("/api/v1/admin/anomalies").await, 403, "forbidden").await;
    let report: Value = parse(app.as_(app.admin().await).get("/api/v1/admin/anomalies").await).await;
    let shared = report["shared_contacts"].as_array().unwrap();
    assert_eq!(shared.len(), 2, "{report}");
    let by_buyer: BTreeMap<String, &Value> =
        shared.iter().map(|s| (s["buyer_id"].as_str().unwrap().to_string(), s)).collect();
    let consumer = by_buyer[&m.consumers[0].id.to_string()];
    assert_eq!(consumer["shared"], json!(["phone"]));
    assert_eq!(consumer["producer_id"], m.s.producer.org.to_string());
    let enterprise = shared.iter().find(|s| s["buyer_kind"] == "enterprise").unwrap();
    assert_eq!(enterprise["enterprise_id"], m.second_enterprise.org.to_string());
    assert_eq!(enterprise["shared"], json!(["legal_name"]));

    let large = report["large_orders"].as_array().unwrap();
    assert_eq!(large.len(), 1, "{report}");
    assert_eq!(large[0]["order_id"], big.id.to_string());
    assert_eq!(large[0]["median_fen"], 1200);

    let ratios = report["refund_ratios"].as_array().unwrap();
    assert_eq!(ratios.len(), 1, "{report}");
    assert_eq!(ratios[0]["sold_fen"], line.line_total_fen);
    assert_eq!(ratios[0]["refunded_fen"], line.unit_price_fen * 4);
    assert_eq!(ratios[0]["ratio_bp"], 2666);
}
