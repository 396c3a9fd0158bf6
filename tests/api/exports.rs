//! Exports of tallies and ledger rows: who may export, which ranges, what the files hold,
//! formula-looking names, the audit entry of every export, and memory that stays flat while
//! 200,000 ledger rows stream out.

use std::collections::BTreeMap;
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use tonggan::accounts::model::AccountRole;
use uuid::Uuid;

use crate::helpers::*;

const LEDGER_PATHS: [&str; 2] = ["/api/v1/admin/exports/ledger.csv", "/api/v1/admin/exports/ledger.xlsx"];
const TALLY_PATHS: [&str; 2] = ["/api/v1/admin/exports/tallies.csv", "/api/v1/admin/exports/tallies.xlsx"];

/// The producer legal name a spreadsheet would turn into a link.
const FORMULA_PRODUCER: &str = "=HYPERLINK(\"http://x\")";

/// Today in Asia/Shanghai.
fn today() -> NaiveDate {
    (Utc::now() + Duration::hours(8)).date_naive()
}

/// `?from=&to=` around today.
fn around_today() -> String {
    format!("from={}&to={}", today() - Duration::days(1), today() + Duration::days(1))
}

/// A market whose ledger has rows: an enterprise paid an order by bank transfer for goods of two
/// producers (one named like a formula, with products named `+1` and `@SUM(1)`), then got one
/// unit back; a second order from the plain producer came later.
struct Market {
    app: TestApp,
    enterprise: Owner,
    plain: Owner,
    formula: Owner,
    first: Order,
    second: Order,
}

impl Market {
    async fn new() -> Market {
        let app = TestApp::spawn_with(|s| s.orders.jobs_enabled = false).await;
        let plain = app.verified_producer().await;
        let formula = producer_named(&app, FORMULA_PRODUCER).await;
        let apples = app.stocked_product(&plain, 100, 1000).await;
        let plus = app.listed_product(&formula, &product_body("+1", 2500)).await;
        let sum = app.listed_product(&formula, &product_body("@SUM(1)", 700)).await;
        let enterprise = app.verified_enterprise().await;
        let first = app.as_(&enterprise).place_order(&[(apples, 3), (plus, 2), (sum, 1)]).await;
        pay_by_transfer(&app, &enterprise, &first).await;
        let refund = json!({"lines": [{"line_id": first.line(plus).id, "qty": 1}], "reason": "一箱破损", "bank_reference": "OUT-1"});
        let r = keyed_post(&app.as_(app.admin().await), &format!("/api/v1/admin/orders/{}/refunds", first.id), &refund)
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let second = app.as_(&enterprise).place_order(&[(apples, 1)]).await;
        pay_by_transfer(&app, &enterprise, &second).await;
        Market { app, enterprise, plain, formula, first, second }
    }

    async fn export(&self, who: &impl Actor, path: &str, query: &str) -> reqwest::Response {
        self.app.as_(who).get(&format!("{path}?{query}")).await
    }

    /// Every ledger row, as the JSON list shows them.
    async fn ledger(&self) -> Vec<Value> {
        let page: Value = self.app.as_(self.app.admin().await).get_json("/api/v1/admin/ledger?limit=100").await;
        page["items"].as_array().unwrap().clone()
    }
}

/// Registers a producer with this legal name; [`TestApp::admin`] verifies it.
async fn producer_named(app: &TestApp, legal_name: &str) -> Owner {
    let email = unique_email("producer");
    let mut body = producer_body(&email, &valid_uscc());
    body["organization"]["legal_name"] = json!(legal_name);
    let r = app.post("/api/v1/auth/register/producer", &body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let reply: Value = r.json().await.unwrap();
    let user = app.sign_in(&email).await;
    let owner = Owner { client: user.client, org: id_at(&reply, "/organization/id"), id: user.id, email };
    assert_eq!(app.as_(app.admin().await).verify(owner.org).await.status(), 200);
    owner
}

/// A POST with a fresh `Idempotency-Key`.
async fn keyed_post(caller: &Caller, path: &str, body: &Value) -> reqwest::Response {
    caller
        .client
        .post(caller.url(path))
        .header("idempotency-key", Uuid::now_v7().to_string())
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The enterprise chooses a bank transfer and the admin confirms that the money arrived.
async fn pay_by_transfer(app: &TestApp, enterprise: &Owner, order: &Order) {
    let r = keyed_post(
        &app.as_(enterprise),
        &format!("/api/v1/orders/{}/payments", order.id),
        &json!({"method": "bank_transfer"}),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let confirm = json!({"amount_fen": order.total_fen, "bank_reference": format!("IN-{}", order.id), "received_at": today().to_string()});
    let r =
        app.as_(app.admin().await).post(&format!("/api/v1/admin/bank-transfers/{}/confirm", order.id), &confirm).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// A CSV reply's records, after its byte order mark, as maps from the header.
async fn csv_records(response: reqwest::Response) -> Vec<BTreeMap<String, String>> {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let bytes = response.bytes().await.unwrap();
    let text = std::str::from_utf8(&bytes).unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a UTF-8 byte order mark first");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| header.iter().map(str::to_string).zip(r.unwrap().iter().map(str::to_string)).collect())
        .collect()
}

/// An XLSX reply's first worksheet: its name and its cells, row by row.
async fn xlsx_rows(response: reqwest::Response) -> (String, Vec<Vec<Data>>) {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    let bytes = response.bytes().await.unwrap();
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec())).expect("an XLSX file");
    let name = workbook.sheet_names()[0].clone();
    let range = workbook.worksheet_range(&name).unwrap();
    (name, range.rows().map(<[Data]>::to_vec).collect())
}

/// The audit log's export entries, oldest first (setup appends others: verifications, payments).
async fn audit_entries(app: &TestApp) -> Vec<(String, String, String, Option<Uuid>, Value)> {
    sqlx::query_as(
        "select action, target_kind, target_id, actor_id, detail from audit_log where action like 'export.%' order by seq",
    )
        .fetch_all(&app.db)
        .await
        .unwrap()
}

// ---- who may export ---------------------------------------------------------------------------

#[tokio::test]
async fn admins_and_auditors_export_tallies_and_the_ledger_and_everyone_else_is_refused() {
    let app = TestApp::spawn().await;
    let auditor = app.staff(AccountRole::Auditor).await;
    let consumer = app.consumer().await;
    let producer = app.verified_producer().await;
    let enterprise = app.verified_enterprise().await;
    for path in TALLY_PATHS.iter().chain(&LEDGER_PATHS) {
        let path = format!("{path}?group_by=county&{}", around_today());
        assert_eq!(app.as_(app.admin().await).get(&path).await.status(), 200, "{path}");
        assert_eq!(app.as_(&auditor).get(&path).await.status(), 200, "{path}");
        assert_problem(app.as_(&consumer).get(&path).await, 403, "forbidden").await;
        assert_problem(app.as_(&producer).get(&path).await, 403, "forbidden").await;
        assert_problem(app.as_(&enterprise).get(&path).await, 403, "forbidden").await;
        assert_problem(app.anonymous().get(&path).await, 401, "unauthenticated").await;
    }
    let actions: Vec<String> = audit_entries(&app).await.into_iter().map(|e| e.0).collect();
    assert_eq!(
        actions,
        [
            "export.tallies_csv",
            "export.tallies_csv",
            "export.tallies_xlsx",
            "export.tallies_xlsx",
            "export.ledger_csv",
            "export.ledger_csv",
            "export.ledger_xlsx",
            "export.ledger_xlsx"
        ]
    );
}

#[tokio::test]
async fn a_missing_reversed_or_longer_than_a_year_range_or_a_bad_group_by_exports_and_logs_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    // Tallies need a group_by: the range cases give them one.
    let range = [
        ("to=2026-01-31", "from", "is required"),
        ("from=2026-01-01", "to", "is required"),
        ("from=2026-1-1x&to=2026-01-31", "from", "must be a date"),
        ("from=2026-02-01&to=2026-01-31", "to", "must not be before from"),
        ("from=2025-01-01&to=2026-01-02", "to", "at most 366 days"),
    ];
    let bad_group_by = [("from=2026-01-01&to=2026-01-31&group_by=weekday", "group_by", "unknown variant")];
    let tallies_only = [
        ("from=2026-01-01&to=2026-01-31", "group_by", "is required"),
        ("from=2026-01-01&to=2026-01-31&group_by=county&county=abc", "county", "invalid digit"),
        ("from=2026-01-01&to=2026-01-31&group_by=county&limit=10", "limit", "not a known field"),
    ];
    let ledger_only = [("from=2026-01-01&to=2026-01-31&county=620826", "county", "not a known field")];
    let mut cases = Vec::new();
    for path in TALLY_PATHS {
        cases.extend(range.iter().map(|(q, f, m)| (path, format!("group_by=county&{q}"), *f, *m)));
        cases.extend(bad_group_by.iter().chain(&tallies_only).map(|(q, f, m)| (path, q.to_string(), *f, *m)));
    }
    for path in LEDGER_PATHS {
        cases.extend(
            range.iter().chain(&bad_group_by).chain(&ledger_only).map(|(q, f, m)| (path, q.to_string(), *f, *m)),
        );
    }
    for (path, query, field, message) in cases {
        let r = app.as_(admin).get(&format!("{path}?{query}")).await;
        assert_eq!(r.status(), 422, "{path}?{query}");
        let problem = assert_problem(r, 422, "validation_failed").await;
        let messages = field_errors(&problem, field);
        assert!(messages.iter().any(|m| m.contains(message)), "{path}?{query}: {messages:?}");
    }
    for path in TALLY_PATHS.iter().chain(&LEDGER_PATHS) {
        let leap_year = app.as_(admin).get(&format!("{path}?group_by=day&from=2024-01-01&to=2024-12-31")).await;
        assert_eq!(leap_year.status(), 200, "366 days of a leap year are one export");
    }
    let actions: Vec<String> = audit_entries(&app).await.into_iter().map(|e| e.0).collect();
    assert_eq!(
        actions,
        ["export.tallies_csv", "export.tallies_xlsx", "export.ledger_csv", "export.ledger_xlsx"],
        "only the exports that ran are logged"
    );
}

// ---- what the files hold ----------------------------------------------------------------------

#[tokio::test]
async fn the_ledger_csv_holds_every_ledger_row_of_the_range_with_refunds_negative() {
    let m = Market::new().await;
    let admin = m.app.admin().await;
    let r = m.export(admin, LEDGER_PATHS[0], &around_today()).await;
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert_eq!(
        disposition,
        format!("attachment; filename=\"ledger_{}_{}.csv\"", today() - Duration::days(1), today() + Duration::days(1))
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let rows = csv_records(r).await;

    let ledger = m.ledger().await;
    assert_eq!(rows.len(), 5, "four paid lines and one refund");
    assert_eq!(rows.len(), ledger.len());
    let by_id: BTreeMap<&str, &BTreeMap<String, String>> = rows.iter().map(|r| (r["id"].as_str(), r)).collect();
    for entry in &ledger {
        let row = by_id[entry["id"].as_str().unwrap()];
        for field in [
            "order_id",
            "order_line_id",
            "payment_id",
            "buyer_id",
            "buyer_kind",
            "producer_id",
            "product_id",
            "paid_at",
        ] {
            assert_eq!(row[field], entry[field].as_str().unwrap(), "{field}");
        }
        for field in ["amount_fen", "qty", "origin_adcode", "prefecture_adcode", "category_id", "district_adcode"] {
            assert_eq!(row[field], entry[field].to_string(), "{field}");
        }
        assert_eq!(row["refund_id"], entry["refund_id"].as_str().unwrap_or(""));
        assert_eq!(row["enterprise_id"], m.enterprise.org.to_string());
    }
    let times: Vec<&str> = rows.iter().map(|r| r["paid_at"].as_str()).collect();
    assert!(times.is_sorted(), "rows come in time order: {times:?}");

    let refund = rows.iter().find(|r| r["kind"] == "refund").expect("the refund's row");
    assert_eq!(refund["amount_fen"], "-2500", "a refund is a negative number, not escaped");
    assert_eq!(refund["qty"], "-1");
    assert_eq!(refund["product_title"], "'+1");
    let apples =
        rows.iter().find(|r| r["product_title"] == "静宁苹果" && r["order_id"] == m.first.id.to_string()).unwrap();
    assert_eq!(apples["kind"], "payment");
    assert_eq!(apples["amount_fen"], (3 * 1000).to_string());
    assert_eq!(apples["producer_name"], "静宁县苹果专业合作社");
    assert_eq!(apples["county_name"], "静宁县");
    assert_eq!(apples["prefecture_name"], "平凉市");
    assert_eq!(apples["enterprise_name"], "天津市和平区食堂管理有限公司");
    assert_eq!(apples["district_name"], "和平区");
    assert_eq!(apples["buyer_kind"], "enterprise");
    assert_eq!(apples["day"], today().to_string());
    let total: i64 = rows.iter().map(|r| r["amount_fen"].parse::<i64>().unwrap()).sum();
    assert_eq!(total, m.first.total_fen - 2500 + m.second.total_fen);

    let elsewhere = csv_records(m.export(admin, LEDGER_PATHS[0], "from=2020-01-01&to=2020-12-31").await).await;
    assert!(elsewhere.is_empty(), "a range without money gives the header alone");
}

/// Text as the exports write it: with a `'` in front when a spreadsheet would evaluate it.
fn escaped(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_string() }
}

#[tokio::test]
async fn the_tallies_csv_has_every_group_of_the_tally_with_the_same_figures() {
    let m = Market::new().await;
    let admin = m.app.admin().await;
    for group_by in ["producer", "product", "county", "enterprise", "buyer_kind", "day"] {
        let query = format!("group_by={group_by}&{}", around_today());
        let api: Value = m.app.as_(admin).get_json(&format!("/api/v1/admin/tallies?{query}&limit=500")).await;
        let r = m.export(admin, TALLY_PATHS[0], &query).await;
        let disposition = r.headers()["content-disposition"].to_str().unwrap().to_string();
        assert!(disposition.contains(&format!("tallies_{group_by}_")), "{disposition}");
        let rows = csv_records(r).await;
        let items = api["items"].as_array().unwrap();
        assert_eq!(rows.len(), items.len(), "{group_by}");
        assert!(!rows.is_empty());
        for (row, item) in rows.iter().zip(items) {
            assert_eq!(row["key"], item["key"].as_str().unwrap(), "{group_by}: the same groups in the same order");
            assert_eq!(row["name"], escaped(item["name"].as_str().unwrap()));
            for field in ["amount_fen", "qty", "orders", "buyers"] {
                assert_eq!(row[field], item[field].to_string(), "{group_by}: {field}");
            }
        }
    }
    let by_product = csv_records(
        m.export(admin, TALLY_PATHS[0], &format!("group_by=product&producer={}&{}", m.formula.org, around_today()))
            .await,
    )
    .await;
    let figures: Vec<(&str, &str, &str)> =
        by_product.iter().map(|r| (r["name"].as_str(), r["amount_fen"].as_str(), r["qty"].as_str())).collect();
    assert_eq!(figures, [("'+1", "2500", "1"), ("'@SUM(1)", "700", "1")], "filtered, net of the refund");

    let (sheet, rows) =
        xlsx_rows(m.export(admin, TALLY_PATHS[1], &format!("group_by=producer&{}", around_today())).await).await;
    assert_eq!(sheet, "tallies");
    assert_eq!(rows[0], ["key", "name", "amount_fen", "qty", "orders", "buyers"].map(|h| Data::String(h.into())));
    assert_eq!(rows[1][0], Data::String(m.plain.org.to_string()), "the larger amount first");
    assert_eq!(rows[1][2..], [4000.0, 4.0, 2.0, 1.0].map(Data::Float), "numbers as numbers");
}

#[tokio::test]
async fn a_ledger_export_grouped_by_producer_puts_each_producers_rows_together() {
    let m = Market::new().await;
    let rows = csv_records(
        m.export(m.app.admin().await, LEDGER_PATHS[0], &format!("{}&group_by=producer", around_today())).await,
    )
    .await;
    let producers: Vec<&str> = rows.iter().map(|r| r["producer_id"].as_str()).collect();
    let mut groups = producers.clone();
    groups.dedup();
    assert_eq!(groups.len(), 2, "one run of rows per producer: {producers:?}");
    assert!(groups.is_sorted());
    for producer in [m.plain.org, m.formula.org] {
        let times: Vec<&str> =
            rows.iter().filter(|r| r["producer_id"] == producer.to_string()).map(|r| r["paid_at"].as_str()).collect();
        assert!(times.is_sorted(), "by time within a producer");
    }
}

#[tokio::test]
async fn the_ledger_xlsx_holds_the_same_rows_with_amounts_and_codes_as_numbers() {
    let m = Market::new().await;
    let admin = m.app.admin().await;
    let csv = csv_records(m.export(admin, LEDGER_PATHS[0], &around_today()).await).await;
    let r = m.export(admin, LEDGER_PATHS[1], &around_today()).await;
    assert!(r.headers()["content-disposition"].to_str().unwrap().ends_with(".xlsx\""));
    let (sheet, rows) = xlsx_rows(r).await;
    assert_eq!(sheet, "ledger");
    let header: Vec<String> = rows[0].iter().map(|c| c.to_string()).collect();
    assert_eq!(rows.len(), csv.len() + 1);
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    for (row, csv_row) in rows[1..].iter().zip(&csv) {
        assert_eq!(row[column("id")], Data::String(csv_row["id"].clone()), "the same rows in the same order");
        for field in ["amount_fen", "qty", "origin_adcode", "category_id"] {
            assert_eq!(row[column(field)], Data::Float(csv_row[field].parse().unwrap()), "{field} is a number");
        }
        assert_eq!(row[column("refund_id")] == Data::Empty, csv_row["refund_id"].is_empty());
    }
    let refund = rows.iter().find(|r| r[column("kind")] == Data::String("refund".into())).unwrap();
    assert_eq!(refund[column("amount_fen")], Data::Float(-2500.0));
}

#[tokio::test]
async fn formula_looking_names_come_out_escaped_in_csv_and_xlsx() {
    let m = Market::new().await;
    let admin = m.app.admin().await;
    let csv = csv_records(m.export(admin, LEDGER_PATHS[0], &around_today()).await).await;
    let from_formula: Vec<_> = csv.iter().filter(|r| r["producer_id"] == m.formula.org.to_string()).collect();
    assert_eq!(from_formula.len(), 3, "two paid lines and a refund");
    for row in &from_formula {
        assert_eq!(row["producer_name"], format!("'{FORMULA_PRODUCER}"));
    }
    let titles: Vec<&str> = from_formula.iter().map(|r| r["product_title"].as_str()).collect();
    assert!(titles.contains(&"'+1") && titles.contains(&"'@SUM(1)"), "{titles:?}");

    let (_, rows) = xlsx_rows(m.export(admin, LEDGER_PATHS[1], &around_today()).await).await;
    let cells: Vec<&Data> = rows.iter().flatten().collect();
    for text in [format!("'{FORMULA_PRODUCER}"), "'+1".to_string(), "'@SUM(1)".to_string()] {
        assert!(cells.contains(&&Data::String(text.clone())), "{text} is a plain string cell");
    }
    assert!(!cells.iter().any(|c| matches!(c, Data::String(s) if s.starts_with(['=', '+', '@']))));

    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(
        m.export(admin, LEDGER_PATHS[1], &around_today()).await.bytes().await.unwrap().to_vec(),
    ))
    .unwrap();
    let formulas = workbook.worksheet_formula("ledger").unwrap();
    assert!(formulas.used_cells().next().is_none(), "no cell holds a formula");

    for (group_by, names) in [
        ("producer", vec![format!("'{FORMULA_PRODUCER}"), "静宁县苹果专业合作社".to_string()]),
        ("product", vec!["'+1".to_string(), "'@SUM(1)".to_string(), "静宁苹果".to_string()]),
    ] {
        let query = format!("group_by={group_by}&{}", around_today());
        let csv = csv_records(m.export(admin, TALLY_PATHS[0], &query).await).await;
        let mut shown: Vec<String> = csv.iter().map(|r| r["name"].clone()).collect();
        shown.sort();
        let mut expected = names.clone();
        expected.sort();
        assert_eq!(shown, expected, "{group_by} in CSV");
        let (_, rows) = xlsx_rows(m.export(admin, TALLY_PATHS[1], &query).await).await;
        let mut shown: Vec<String> = rows[1..].iter().map(|r| r[1].to_string()).collect();
        shown.sort();
        assert_eq!(shown, expected, "{group_by} in XLSX");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_the_four_exports() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    for path in TALLY_PATHS.iter().chain(&LEDGER_PATHS) {
        let get = &doc["paths"][*path]["get"];
        assert!(get.is_object(), "{path} is not documented");
        let params: Vec<(&str, &str)> = get["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap()))
            .collect();
        for name in ["from", "to", "group_by"] {
            assert!(params.contains(&(name, "query")), "{path}: {params:?}");
        }
        assert_eq!(params.contains(&("county", "query")), path.contains("tallies"), "{path}: {params:?}");
        let media = if path.ends_with(".csv") {
            "text/csv; charset=utf-8"
        } else {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        };
        assert!(get["responses"]["200"]["content"][media].is_object(), "{path}: {}", get["responses"]["200"]);
        for status in ["401", "403", "422"] {
            assert!(get["responses"][status].is_object(), "{path} {status}");
        }
    }
}

// ---- the audit log ----------------------------------------------------------------------------

#[tokio::test]
async fn every_export_appends_an_audit_entry_naming_who_exported_what() {
    let app = TestApp::spawn().await;
    let auditor = app.staff(AccountRole::Auditor).await;
    let query = "from=2026-01-01&to=2026-03-31&group_by=county";
    let filters = "&county=620826&buyer_kind=enterprise";
    for path in LEDGER_PATHS {
        let r = app.as_(&auditor).get(&format!("{path}?{query}")).await;
        assert_eq!(r.status(), 200);
    }
    for path in TALLY_PATHS {
        let r = app.as_(&auditor).get(&format!("{path}?{query}{filters}")).await;
        assert_eq!(r.status(), 200);
    }
    let entries = audit_entries(&app).await;
    assert_eq!(entries.len(), 4);
    let range = json!({"from": "2026-01-01", "to": "2026-03-31", "group_by": "county"});
    let with = |filters: Value| {
        let mut detail = range.clone();
        detail["filters"] = filters;
        detail
    };
    for ((action, kind, target, actor, detail), (expected, file, expected_detail)) in entries.iter().zip([
        ("export.ledger_csv", "ledger_2026-01-01_2026-03-31.csv", with(json!({}))),
        ("export.ledger_xlsx", "ledger_2026-01-01_2026-03-31.xlsx", with(json!({}))),
        (
            "export.tallies_csv",
            "tallies_county_2026-01-01_2026-03-31.csv",
            with(json!({"county": 620826, "buyer_kind": "enterprise"})),
        ),
        (
            "export.tallies_xlsx",
            "tallies_county_2026-01-01_2026-03-31.xlsx",
            with(json!({"county": 620826, "buyer_kind": "enterprise"})),
        ),
    ]) {
        assert_eq!(action, expected);
        assert_eq!(kind, "export");
        assert_eq!(target, file);
        assert_eq!(*actor, Some(auditor.id));
        assert_eq!(detail, &expected_detail, "{action}");
    }
    let roles: Vec<String> = sqlx::query_scalar("select actor_role from audit_log where action like 'export.%'")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(roles.iter().all(|r| r == "auditor"), "{roles:?}");
}

// ---- memory -----------------------------------------------------------------------------------

/// The environment variable that tells [`memory_probe_200000_ledger_rows`] it runs in a process
/// of its own, and which formats to measure: `csv` (what the suite runs), or `csv,xlsx`.
const PROBE: &str = "TONGGAN_EXPORT_MEMORY_PROBE";

/// The server runs inside the test binary, so the test process's resident memory is the
/// server's. Other tests running alongside would move it, so the measurement runs in a process
/// of its own: this binary again, with only the probe below.
#[tokio::test]
async fn a_csv_export_of_200000_ledger_rows_streams_with_flat_memory() {
    let exe = std::env::current_exe().unwrap();
    let out = tokio::process::Command::new(exe)
        .args(["exports::memory_probe_200000_ledger_rows", "--exact", "--include-ignored", "--nocapture"])
        .env(PROBE, "csv")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the probe failed:\n{stdout}\n{stderr}");
    let figures = stdout.lines().find(|l| l.starts_with("memory:")).unwrap_or_else(|| panic!("no figures:\n{stdout}"));
    println!("{figures}");
}

/// Resident memory now and at its peak since the last reset, in KiB (Linux).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Builds 200,000 ledger rows with set-based SQL (20,000 orders of 10 lines, each with its group,
/// payment, paid lines and ledger rows, paid over the last 300 days; the ledger's trigger folds
/// the tallies in the same statement), then reads the CSV export in chunks, asserting that
/// resident memory grows by less than a quarter of the body's size. The XLSX export of the same
/// rows doubles the probe's time in a test build (7 to 17 s on the 2-core machine), so the suite
/// leaves it out; measure it with
///
/// ```text
/// TONGGAN_EXPORT_MEMORY_PROBE=csv,xlsx cargo test --test api exports::memory_probe -- --include-ignored --nocapture
/// ```
///
/// (its bound is a quarter of the CSV body: the same rows as text; the zipped file is smaller).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a process of its own by a_csv_export_of_200000_ledger_rows_streams_with_flat_memory"]
async fn memory_probe_200000_ledger_rows() {
    let Ok(formats) = std::env::var(PROBE) else {
        eprintln!("skipping: the probe measures only in a process of its own");
        return;
    };
    const ORDERS: i64 = 20_000;
    let app = TestApp::spawn_with(|s| s.orders.jobs_enabled = false).await;
    let producer = app.verified_producer().await;
    for i in 0..10 {
        app.listed_product(&producer, &product_body(&format!("静宁苹果 {i}号"), 1000)).await;
    }
    let enterprise = app.verified_enterprise().await;
    let started = std::time::Instant::now();
    ledger_fixture(&app, &enterprise, producer.org, ORDERS).await;
    let built = started.elapsed();
    let admin = app.admin().await;
    let from = today() - Duration::days(320);
    let query = format!("from={from}&to={}", today());
    let expected: i64 = sqlx::query_scalar("select count(*) from assistance_ledger").fetch_one(&app.db).await.unwrap();
    assert_eq!(expected, ORDERS * 10);

    let mut csv_body = None;
    for format in formats.split(',') {
        let path = format!("/api/v1/admin/exports/ledger.{format}");
        // Once over a few rows, so that connections, statements and lazy statics exist before measuring.
        app.as_(admin).get(&format!("{path}?from={from}&to={from}")).await.bytes().await.unwrap();
        let m = measure(app.as_(admin), &format!("{path}?{query}")).await;
        if format == "csv" {
            assert_eq!(m.lines, expected + 1, "the header and every row");
            csv_body = Some(m.body);
        }
        let growth = m.peak.saturating_sub(m.before);
        println!(
            "memory: {expected} ledger rows as {format}, body {:.1} MiB; resident {:.1} MiB before, peak {:.1} MiB, \
             growth {:.1} MiB ({:.1}% of the body; peak from {}); export {:.1} s (fixture {:.1} s)",
            m.body as f64 / 1048576.0,
            m.before as f64 / 1024.0,
            m.peak as f64 / 1024.0,
            growth as f64 / 1024.0,
            growth as f64 * 1024.0 * 100.0 / m.body as f64,
            m.peak_from,
            m.took.as_secs_f64(),
            built.as_secs_f64(),
        );
        let bound = csv_body.expect("csv is measured first") / 4;
        assert!(growth * 1024 < bound, "{format}: resident memory grew by {growth} KiB; the bound is {bound} bytes");
    }
}

/// What reading one export in chunks did to resident memory.
struct Measured {
    /// KiB before the request and at the peak while it ran.
    before: u64,
    peak: u64,
    peak_from: &'static str,
    /// Bytes and lines of the body.
    body: u64,
    lines: i64,
    took: std::time::Duration,
}

/// GETs `path` and reads the body in chunks, keeping none, while watching resident memory.
async fn measure(caller: Caller, path: &str) -> Measured {
    let (before, _) = rss_kib();
    // Writing 5 resets VmHWM to the current RSS (Linux ≥ 4.0), so the peak is this request's.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let started = std::time::Instant::now();
    let mut response = caller.get(path).await;
    assert_eq!(response.status(), 200);
    let (mut body, mut lines, mut sampled) = (0, 0, before);
    while let Some(chunk) = response.chunk().await.unwrap() {
        body += chunk.len() as u64;
        lines += memchr::memchr_iter(b'\n', &chunk).count() as i64;
        sampled = sampled.max(rss_kib().0);
    }
    let took = started.elapsed();
    let (_, hwm) = rss_kib();
    let (peak, peak_from) = if reset { (hwm.max(sampled), "VmHWM") } else { (sampled, "samples") };
    Measured { before, peak, peak_from, body, lines, took }
}

/// `orders` paid orders of ten lines each (the producer's ten products), made in a few
/// statements: what payments write, without the requests. The values are this test's own ids
/// and numbers, written into the SQL (`create table as` takes no parameters).
async fn ledger_fixture(app: &TestApp, enterprise: &Owner, producer: Uuid, orders: i64) {
    let (buyer, org) = (enterprise.id, enterprise.org);
    let mut tx = app.db.begin().await.unwrap();
    for statement in [
        // Foreign-key checks are most of the time of inserts this size (an index probe per key per
        // row). These rows hold by construction, so replica mode skips the checks; the ledger's
        // fold is set to fire always, so the tallies are folded as a payment folds them.
        "set local session_replication_role = replica".to_string(),
        "alter table assistance_ledger enable always trigger assistance_ledger_fold_tallies".to_string(),
        // Ids in insertion order, as UUIDv7s are: each index grows at one end.
        "create function pg_temp.fx_id(kind int, n bigint) returns uuid language sql immutable
         as $$ select (lpad(to_hex(kind), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid $$"
            .to_string(),
        format!(
            "create temp table fx_orders on commit drop as
             select g, pg_temp.fx_id(1, g) as id, pg_temp.fx_id(2, g) as group_id, pg_temp.fx_id(3, g) as payment_id,
                    now() - make_interval(secs => ({orders} - g) * 1296) as paid_at
             from generate_series(1, {orders}) g"
        ),
        format!(
            "create temp table fx_lines on commit drop as
             select o.*, p.id as product_id, p.title, p.origin_adcode, p.category_id,
                    pg_temp.fx_id(4, o.g * 16 + p.n) as line_id, pg_temp.fx_id(5, o.g * 16 + p.n) as ledger_id
             from fx_orders o
             cross join (select id, title, origin_adcode, category_id, row_number() over (order by id) as n
                         from products where producer_id = '{producer}') p
             order by o.g, p.n"
        ),
        format!(
            "insert into orders (id, buyer_id, organization_id, status, total_fen, shipping_address, expires_at, paid_at,
                                 payment_method, paid_fen, created_at)
             select id, '{buyer}', '{org}', 'paid', 10000, '{{}}'::jsonb, paid_at, paid_at, 'bank_transfer', 10000, paid_at
             from fx_orders"
        ),
        format!(
            "insert into order_groups (id, order_id, producer_id, status, subtotal_fen)
             select group_id, id, '{producer}', 'paid', 10000 from fx_orders"
        ),
        "insert into order_lines (id, order_id, group_id, product_id, title, qty, unit_price_fen, line_total_fen)
         select line_id, id, group_id, product_id, title, 1, 1000, 1000 from fx_lines"
            .to_string(),
        format!(
            "insert into payments (id, order_id, method, status, amount_fen, started_by, remittance_reference,
                                   bank_reference, received_on, confirmed_by, received_fen, received_currency,
                                   succeeded_at, created_at)
             select payment_id, id, 'bank_transfer', 'succeeded', 10000, '{buyer}', 'FX' || g, 'FXIN' || g,
                    paid_at::date, '{buyer}', 10000, 'cny', paid_at, paid_at
             from fx_orders"
        ),
        format!(
            "insert into paid_lines (order_line_id, order_id, group_id, producer_id, payment_id, qty, amount_fen)
             select line_id, id, group_id, '{producer}', payment_id, 1, 1000 from fx_lines"
        ),
        format!(
            "insert into assistance_ledger (id, order_line_id, order_id, payment_id, amount_fen, qty, buyer_id,
                 buyer_kind, enterprise_id, district_adcode, producer_id, product_id, origin_adcode, prefecture_adcode,
                 category_id, paid_at)
             select ledger_id, line_id, id, payment_id, 1000, 1, '{buyer}', 'enterprise', '{org}', 120101,
                    '{producer}', product_id, origin_adcode, origin_adcode / 100 * 100, category_id, paid_at
             from fx_lines"
        ),
        "alter table assistance_ledger enable trigger assistance_ledger_fold_tallies".to_string(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}
