//! `tonggan seed --ledger M`: M paid order lines of history on a demo database, for the tally,
//! reconciliation and export benchmarks. Orders are spread over the last three years (more of
//! them recently), over products with a heavy-tailed popularity (some counties and products sell
//! far more than others), over consumers and enterprises (a quarter of the orders, the larger
//! ones, paid by bank transfer more often than not); about 3% of orders later had one unit
//! refunded. Everything is written as the live path would leave it — orders, groups, lines,
//! succeeded payments, paid lines, completed refunds, and the ledger, which the tallies' trigger
//! folds — so `tonggan reconcile` must pass afterwards. Seeded history has no audit-log entries:
//! it stands for money that moved before the log existed.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use uuid::Uuid;

use super::demo::{self, DEMO_ADMIN, DEMO_PASSWORD};
use super::integrity;
use crate::accounts::{self, seeding::EnterpriseBuyer};
use crate::catalog::seeding::SeedProduct;
use crate::orders::seeding::{self as orders_seeding, PaidOrders};
use crate::password::PasswordHasher;
use crate::payments::seeding::{self as payments_seeding, SettledPayments};
use crate::regions::{self, model::TIANJIN};

/// Lines per transaction: large enough that statements dominate round trips, small enough that
/// a batch's arrays stay a few megabytes.
const BATCH_LINES: usize = 20_000;
/// Batches written at once, each on its own connection (the machine this is tuned for has two
/// cores; Postgres does each statement on one).
const WRITERS: usize = 2;
/// The tables the batches write; their foreign keys are verified at the end when the batches
/// were loaded without row-by-row checks (see `integrity`).
const SEEDED_TABLES: &[&str] = &[
    "orders",
    "order_groups",
    "order_lines",
    "payments",
    "paid_lines",
    "refunds",
    "refund_lines",
    "assistance_ledger",
];
/// History spans the last three years.
const SPAN_DAYS: f64 = 3.0 * 365.0;

/// What a ledger seed added.
#[derive(Debug)]
pub struct LedgerSeeded {
    pub lines: usize,
    pub orders: usize,
    pub refunds: usize,
    pub consumers_added: usize,
    pub enterprises_added: usize,
}

/// Who and what the orders are drawn from, with the weights they are drawn by.
struct Market {
    products: Vec<SeedProduct>,
    prefectures: std::collections::HashMap<i32, i32>,
    product_weights: WeightedIndex<f64>,
    consumers: Vec<Uuid>,
    consumer_weights: WeightedIndex<f64>,
    enterprises: Vec<EnterpriseBuyer>,
    enterprise_weights: Option<WeightedIndex<f64>>,
    admin: Uuid,
    now: DateTime<Utc>,
}

/// Adds `lines` paid order lines (and, in proportion, new consumers and enterprises to buy
/// them) to a database that holds the demo data.
pub async fn ledger(pool: &PgPool, hasher: &PasswordHasher, lines: usize) -> anyhow::Result<LedgerSeeded> {
    anyhow::ensure!(
        accounts::email_registered(pool, DEMO_ADMIN).await?,
        "the ledger is seeded on the demo data: run `tonggan seed --demo` first (or add --demo)"
    );
    let started = Instant::now();
    // The run's tag keeps new accounts' emails and enterprises' names apart from earlier runs'.
    // Each run draws from its own seed: dates are relative to now anyway, and a second run must
    // not repeat the first one's ids and references.
    let nonce = Uuid::now_v7();
    let run = nonce.simple().to_string()[24..].to_string();
    let mut rng = StdRng::seed_from_u64(nonce.as_u64_pair().1);
    let (consumers_added, enterprises_added) = shoppers(pool, hasher, &mut rng, &run, lines).await?;
    let market = Arc::new(market(pool, &mut rng).await?);
    let base: u64 = rng.random();
    let unchecked = integrity::can_load_unchecked(pool).await?;
    if !unchecked {
        tracing::warn!("this role may not set session_replication_role: loading with row-by-row foreign-key checks");
    }
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ledger seed: buyers ready");

    let batches = lines.div_ceil(BATCH_LINES);
    let mut writers = Vec::with_capacity(WRITERS);
    for w in 0..WRITERS {
        let (pool, market, base) = (pool.clone(), market.clone(), base);
        writers.push(tokio::spawn(async move {
            let (mut orders, mut refunds) = (0, 0);
            for b in (w..batches).step_by(WRITERS) {
                let n = BATCH_LINES.min(lines - b * BATCH_LINES);
                let mut rng = StdRng::seed_from_u64(base.wrapping_add(b as u64));
                let (paid, settled) = batch(&market, &mut rng, n);
                orders += paid.ids.len();
                refunds += settled.refunds.ids.len();
                let mut tx = pool.begin().await?;
                if unchecked {
                    integrity::load_unchecked(&mut tx).await?;
                }
                orders_seeding::insert_paid_orders(&mut tx, &paid).await.context("inserting seeded orders")?;
                payments_seeding::insert_settled(&mut tx, &settled).await.context("inserting seeded payments")?;
                tx.commit().await?;
            }
            anyhow::Ok((orders, refunds))
        }));
    }
    let (mut orders, mut refunds) = (0, 0);
    for writer in writers {
        let (o, r) = writer.await??;
        orders += o;
        refunds += r;
    }
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ledger seed: rows written");
    if unchecked {
        integrity::verify_foreign_keys(pool, SEEDED_TABLES).await?;
        tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ledger seed: foreign keys verified");
    }
    // Statistics for the planner (sampled, so quick at any size), and for the tallies the
    // visibility map that lets their scans skip the heap. Runtime queries on purpose: maintenance
    // with no parameters or result for the macros to check.
    sqlx::query("vacuum analyze tally_facts").execute(pool).await?;
    sqlx::query(
        "analyze assistance_ledger, orders, order_groups, order_lines, payments, paid_lines, refunds, accounts",
    )
    .execute(pool)
    .await?;
    Ok(LedgerSeeded { lines, orders, refunds, consumers_added, enterprises_added })
}

/// New consumers (one per 20 lines, at most 300,000, the real platform's count) and enterprises
/// (one per 2,000 lines, at most 4,500), so that buyer counts and per-enterprise figures have a
/// realistic spread. They sign in with the demo password.
async fn shoppers(
    pool: &PgPool,
    hasher: &PasswordHasher,
    rng: &mut StdRng,
    run: &str,
    lines: usize,
) -> anyhow::Result<(usize, usize)> {
    let consumers = (lines / 20).min(300_000);
    let enterprises = (lines / 2000).min(4500);
    let hash = hasher.hash(DEMO_PASSWORD).await?;
    let districts = regions::counties_in_province(pool, TIANJIN).await?;
    let mut tx = pool.begin().await?;
    for chunk in (0..consumers).collect::<Vec<_>>().chunks(10_000) {
        let emails: Vec<String> = chunk.iter().map(|i| format!("shopper{i}.{run}@ledger.demo.tonggan.cn")).collect();
        let names: Vec<String> = chunk.iter().map(|i| format!("天津市民{run}-{i}")).collect();
        accounts::seeding::bulk_insert_consumers(&mut *tx, &emails, &names, &hash).await?;
    }
    for i in 0..enterprises {
        let email = format!("enterprise{i}.{run}@ledger.demo.tonggan.cn");
        demo::enterprise(&mut tx, rng, &hash, &districts, i, run, &email).await?;
    }
    tx.commit().await?;
    Ok((consumers, enterprises))
}

/// A heavy-tailed weight (Pareto-like): most draws near 1, a few far larger.
fn popularity(rng: &mut StdRng, tail: f64) -> f64 {
    rng.random_range(0.01f64..=1.0).powf(-tail)
}

async fn market(pool: &PgPool, rng: &mut StdRng) -> anyhow::Result<Market> {
    let products = crate::catalog::seeding::seed_products(pool).await?;
    anyhow::ensure!(!products.is_empty(), "no listed products to sell; seed the demo with --products");
    let consumers = accounts::seeding::consumer_ids(pool).await?;
    anyhow::ensure!(!consumers.is_empty(), "no consumers to buy");
    let enterprises = accounts::seeding::enterprise_buyers(pool).await?;
    let admin = accounts::seeding::first_admin(pool).await?.context("no admin account")?;
    let mut origins: Vec<i32> = products.iter().map(|p| p.origin_adcode).collect();
    origins.sort_unstable();
    origins.dedup();
    let prefectures = regions::prefectures_of(pool, &origins).await?.into_iter().collect();
    // Counties differ in how much they sell, and products within a county differ again.
    let county_weight: std::collections::HashMap<i32, f64> =
        origins.iter().map(|o| (*o, popularity(rng, 0.7))).collect();
    let product_weights =
        WeightedIndex::new(products.iter().map(|p| county_weight[&p.origin_adcode] * popularity(rng, 0.8)))?;
    let consumer_weights = WeightedIndex::new(consumers.iter().map(|_| popularity(rng, 0.5)))?;
    let enterprise_weights = if enterprises.is_empty() {
        None
    } else {
        Some(WeightedIndex::new(enterprises.iter().map(|_| popularity(rng, 0.9)))?)
    };
    Ok(Market {
        products,
        prefectures,
        product_weights,
        consumers,
        consumer_weights,
        enterprises,
        enterprise_weights,
        admin,
        now: Utc::now(),
    })
}

/// A UUIDv7 at `at` whose random part comes from the seed's RNG.
fn id_at(rng: &mut StdRng, at: DateTime<Utc>) -> Uuid {
    let bytes: [u8; 10] = rng.random();
    uuid::Builder::from_unix_timestamp_millis(at.timestamp_millis() as u64, &bytes).into_uuid()
}

/// One batch of `lines` order lines: whole orders (the last one cut to fit), their payments,
/// refunds and ledger rows.
fn batch(m: &Market, rng: &mut StdRng, lines: usize) -> (PaidOrders, SettledPayments) {
    let mut o = PaidOrders::default();
    let mut p = SettledPayments { confirmed_by: m.admin, ..Default::default() };
    let mut written = 0;
    while written < lines {
        // More orders recently: the age's density falls linearly from today to three years ago.
        let x: f64 = rng.random_range(0.0..1.0f64).powf(0.6);
        let age = Duration::seconds((SPAN_DAYS * 86_400.0 * (1.0 - x)) as i64 + 60);
        let paid_at = m.now - age;
        let created_at = paid_at - Duration::minutes(rng.random_range(1..30));
        let enterprise = match &m.enterprise_weights {
            Some(w) if rng.random_range(0..4) == 0 => Some(&m.enterprises[w.sample(rng)]),
            _ => None,
        };
        let wanted = match enterprise {
            Some(_) => rng.random_range(2..=8),
            None => [1, 1, 1, 1, 1, 1, 2, 2, 2, 3][rng.random_range(0..10)],
        };
        let wanted = wanted.min(lines - written).min(m.products.len());
        let mut picked: Vec<&SeedProduct> = Vec::with_capacity(wanted);
        for _ in 0..wanted * 4 {
            let product = &m.products[m.product_weights.sample(rng)];
            if !picked.iter().any(|q| q.id == product.id) {
                picked.push(product);
            }
            if picked.len() == wanted {
                break;
            }
        }
        // Lines of one producer together, as checkout groups them.
        picked.sort_by_key(|q| (q.producer_id, q.id));

        let order_id = id_at(rng, created_at);
        let payment_id = id_at(rng, paid_at);
        let (buyer, method) = match enterprise {
            Some(e) => (e.owner_id, if rng.random_range(0..10) < 6 { "bank_transfer" } else { "stripe" }),
            None => (m.consumers[m.consumer_weights.sample(rng)], "stripe"),
        };
        let reference = match method {
            "stripe" => format!("pi_seed_{}", payment_id.simple()),
            _ => format!("BK{}", payment_id.simple()),
        };
        let completed = age > Duration::days(14);
        let status = if completed { "completed" } else { "paid" };
        let refund_line = if rng.random_range(0..100) < 3 { Some(rng.random_range(0..picked.len())) } else { None };
        let mut total = 0;
        let mut refunded = 0;
        let mut group: Option<(Uuid, Uuid)> = None; // (producer, group id)
        for (k, product) in picked.iter().enumerate() {
            let qty: i32 = match enterprise {
                Some(_) => rng.random_range(10..=120),
                None => [1, 1, 1, 1, 2, 2, 3, 5][rng.random_range(0..8)],
            };
            let amount = qty as i64 * product.retail_price_fen;
            let group_id = match group {
                Some((producer, id)) if producer == product.producer_id => id,
                _ => {
                    let id = id_at(rng, created_at);
                    group = Some((product.producer_id, id));
                    o.groups.ids.push(id);
                    o.groups.order_ids.push(order_id);
                    o.groups.producer_ids.push(product.producer_id);
                    o.groups.statuses.push(status.to_string());
                    o.groups.subtotals.push(0);
                    o.groups.completed_at.push(completed.then(|| paid_at + Duration::days(7)));
                    id
                }
            };
            *o.groups.subtotals.last_mut().expect("the line's group was just pushed") += amount;
            total += amount;
            let line_id = id_at(rng, created_at);
            o.lines.ids.push(line_id);
            o.lines.order_ids.push(order_id);
            o.lines.group_ids.push(group_id);
            o.lines.product_ids.push(product.id);
            o.lines.titles.push(product.title.clone());
            o.lines.qtys.push(qty);
            o.lines.unit_prices.push(product.retail_price_fen);

            // One unit of one line back, when the line has more than one.
            let refund = (refund_line == Some(k) && qty > 1).then(|| {
                let at = (paid_at + Duration::days(rng.random_range(1..10))).min(m.now - Duration::seconds(30));
                (id_at(rng, at), at)
            });
            let (refunded_qty, refunded_fen) = if refund.is_some() { (1, product.retail_price_fen) } else { (0, 0) };
            refunded += refunded_fen;
            let pl = &mut p.paid_lines;
            pl.line_ids.push(line_id);
            pl.order_ids.push(order_id);
            pl.group_ids.push(group_id);
            pl.producer_ids.push(product.producer_id);
            pl.payment_ids.push(payment_id);
            pl.qtys.push(qty);
            pl.amounts.push(amount);
            pl.refunded_qtys.push(refunded_qty);
            pl.refunded_fen.push(refunded_fen);

            let mut ledger_row = |rng: &mut StdRng, refund_id: Option<Uuid>, amount: i64, qty: i32, at| {
                let l = &mut p.ledger;
                l.ids.push(id_at(rng, at));
                l.line_ids.push(line_id);
                l.order_ids.push(order_id);
                l.payment_ids.push(payment_id);
                l.refund_ids.push(refund_id);
                l.amounts.push(amount);
                l.qtys.push(qty);
                l.buyer_ids.push(buyer);
                l.buyer_kinds.push(if enterprise.is_some() { "enterprise" } else { "consumer" }.to_string());
                l.enterprise_ids.push(enterprise.map(|e| e.organization_id));
                l.district_adcodes.push(enterprise.map(|e| e.district_adcode));
                l.producer_ids.push(product.producer_id);
                l.product_ids.push(product.id);
                l.origin_adcodes.push(product.origin_adcode);
                l.prefecture_adcodes
                    .push(m.prefectures.get(&product.origin_adcode).copied().unwrap_or(product.origin_adcode));
                l.category_ids.push(product.category_id);
                l.paid_at.push(at);
            };
            ledger_row(rng, None, amount, qty, paid_at);
            if let Some((refund_id, at)) = refund {
                ledger_row(rng, Some(refund_id), -refunded_fen, -refunded_qty, at);
                let r = &mut p.refunds;
                r.ids.push(refund_id);
                r.order_ids.push(order_id);
                r.payment_ids.push(payment_id);
                r.methods.push(method.to_string());
                r.line_ids.push(line_id);
                r.qtys.push(refunded_qty);
                r.amounts.push(refunded_fen);
                r.completed_at.push(at);
            }
        }
        written += picked.len();

        o.ids.push(order_id);
        o.buyer_ids.push(buyer);
        o.organization_ids.push(enterprise.map(|e| e.organization_id));
        o.statuses.push(status.to_string());
        o.totals.push(total);
        o.refunded.push(refunded);
        o.methods.push(method.to_string());
        o.payment_refs.push(reference.clone());
        o.created_at.push(created_at);
        o.paid_at.push(paid_at);

        p.ids.push(payment_id);
        p.order_ids.push(order_id);
        p.methods.push(method.to_string());
        p.amounts.push(total);
        p.started_by.push(buyer);
        p.references.push(reference);
        p.succeeded_at.push(paid_at);
    }
    (o, p)
}
