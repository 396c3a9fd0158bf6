//! `tonggan seed`: the demo, the ledger history on top of it, and the refusals.

use std::process::{Command, Output};

use secrecy::ExposeSecret;
use serde_json::Value;

use crate::helpers::*;

/// `tonggan seed ARGS` against the app's database.
fn seed(app: &TestApp, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tonggan"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("APP_ENVIRONMENT", "test")
        .env("APP__DATABASE__URL", app.settings.database.url.expose_secret())
        .arg("seed")
        .args(args)
        .output()
        .unwrap()
}

fn reconciles(app: &TestApp) -> bool {
    let output = Command::new(env!("CARGO_BIN_EXE_tonggan"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("APP_ENVIRONMENT", "test")
        .env("APP__DATABASE__URL", app.settings.database.url.expose_secret())
        .arg("reconcile")
        .output()
        .unwrap();
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stdout));
    }
    output.status.success()
}

async fn scalar(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn a_seeded_ledger_is_spread_like_real_purchases_and_reconciles_fen_exactly() {
    let app = TestApp::spawn().await;
    let output = seed(&app, &["--demo", "--products", "400", "--ledger", "3000"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // Exactly the lines asked for, each paid once; a few with one unit refunded.
    let paid = scalar(&app, "select count(*) from assistance_ledger where refund_id is null").await;
    assert_eq!(paid, 3000);
    assert_eq!(scalar(&app, "select count(*) from paid_lines").await, 3000);
    assert_eq!(scalar(&app, "select count(*) from order_lines").await, 3000);
    let refunds = scalar(&app, "select count(*) from refunds where status = 'succeeded'").await;
    assert!((1..=150).contains(&refunds), "{refunds} refunds");
    // Spread over counties, both kinds of buyer, many buyers, and the last three years.
    assert!(scalar(&app, "select count(distinct origin_adcode) from tally_facts").await >= 20);
    assert_eq!(scalar(&app, "select count(distinct buyer_kind) from tally_facts").await, 2);
    assert!(scalar(&app, "select count(distinct buyer_id) from tally_facts").await >= 50);
    assert!(scalar(&app, "select count(distinct enterprise_id) from tally_facts").await >= 10);
    let span_days = scalar(&app, "select (max(day) - min(day))::bigint from tally_facts").await;
    assert!((700..=1096).contains(&span_days), "{span_days} days");
    assert_eq!(scalar(&app, "select count(distinct method) from payments").await, 2);

    // Every identity holds, and the API's summary says what the ledger says.
    assert!(reconciles(&app));
    let admin = app.anonymous().sign_in("admin@demo.tonggan.cn", "tonggan-demo-2026").await;
    let summary: Value = parse(app.as_(&admin).get("/api/v1/admin/tallies/summary").await).await;
    let net = scalar(&app, "select sum(amount_fen)::bigint from assistance_ledger").await;
    assert_eq!(summary["all_time"]["amount_fen"].as_i64(), Some(net));
    let orders = scalar(&app, "select count(*) from orders where paid_at is not null").await;
    assert_eq!(summary["all_time"]["orders"].as_i64(), Some(orders));

    // Adding more to a seeded database: new buyers (no clash with the first run's), still exact.
    let output = seed(&app, &["--ledger", "1000"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(scalar(&app, "select count(*) from assistance_ledger where refund_id is null").await, 4000);
    assert!(reconciles(&app));
}

#[tokio::test]
async fn a_ledger_without_the_demo_under_it_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let accounts = app.count("accounts").await;
    let output = seed(&app, &["--ledger", "100"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("seed --demo"));
    assert_eq!(app.count("accounts").await, accounts);
    assert_eq!(app.count("orders").await, 0);
    // Neither --demo nor --ledger: nothing to do, said by the argument parser.
    let output = seed(&app, &[]);
    assert!(!output.status.success());
    assert_eq!(app.count("accounts").await, accounts);
}

#[tokio::test]
async fn seeding_is_refused_in_production() {
    let app = TestApp::spawn().await;
    let accounts = app.count("accounts").await;
    let output = Command::new(env!("CARGO_BIN_EXE_tonggan"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("APP_ENVIRONMENT", "production")
        .env("APP__DATABASE__URL", app.settings.database.url.expose_secret())
        .args(["seed", "--demo", "--products", "10"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("refused in production"), "{output:?}");
    assert_eq!(app.count("accounts").await, accounts);
}

#[tokio::test]
async fn the_set_wise_check_after_an_unchecked_load_finds_a_row_that_breaks_a_foreign_key() {
    use tonggan::seed::integrity;
    let app = TestApp::spawn().await;
    assert!(integrity::can_load_unchecked(&app.db).await.unwrap(), "the test role is a superuser");
    let tables = &["order_status_history"];
    integrity::verify_foreign_keys(&app.db, tables).await.expect("an empty table breaks nothing");
    let mut tx = app.db.begin().await.unwrap();
    integrity::load_unchecked(&mut tx).await.unwrap();
    sqlx::query("insert into order_status_history (id, order_id, to_status) values ($1, $2, 'paid')")
        .bind(uuid::Uuid::now_v7())
        .bind(uuid::Uuid::now_v7())
        .execute(&mut *tx)
        .await
        .expect("replica mode skips the foreign-key trigger");
    tx.commit().await.unwrap();
    let error = integrity::verify_foreign_keys(&app.db, tables).await.unwrap_err().to_string();
    assert!(error.contains("order_status_history_order_id_fkey (1 rows)"), "{error}");
}
