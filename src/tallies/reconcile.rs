//! Reconciliation: (1) every materialized tally equals the sum of its ledger rows, (2) the
//! ledger equals paid order lines minus completed refunds, (3) paid orders equal the money
//! recorded for them minus refunds. Fen-exact; every difference is listed with its keys.

use chrono::NaiveDate;
use sqlx::PgPool;

use super::db;
use super::model::Reconciliation;
use crate::error::Result;
use crate::payments::reconcile as money;

/// The most differences listed per identity; beyond it the reply says `truncated`.
pub const MAX_DIFFERENCES: i64 = 1000;

/// Checks the three identities for orders paid between two Shanghai days (inclusive; open
/// ends mean all time). Runs the three comparisons concurrently, each one pass over its tables.
#[tracing::instrument(level = "debug", skip(pool))]
pub async fn run(pool: &PgPool, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<Reconciliation> {
    let fetch = MAX_DIFFERENCES + 1;
    let (mut tallies, mut ledger, mut payments) = tokio::try_join!(
        db::fact_differences(pool, from, to, fetch),
        money::line_differences(pool, from, to, fetch),
        money::money_differences(pool, from, to, fetch),
    )?;
    let max = MAX_DIFFERENCES as usize;
    let truncated = tallies.len() > max || ledger.len() > max || payments.len() > max;
    tallies.truncate(max);
    ledger.truncate(max);
    payments.truncate(max);
    let ok = tallies.is_empty() && ledger.is_empty() && payments.is_empty();
    Ok(Reconciliation { ok, from, to, tallies, ledger, payments, truncated })
}

/// Rebuilds the materialized tallies from the ledger (`tonggan reconcile --rebuild`), in one
/// transaction: readers see the old facts until it commits; payments wait for it.
#[tracing::instrument(level = "debug", skip(pool))]
pub async fn rebuild(pool: &PgPool) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let rows = db::rebuild_facts(&mut tx).await?;
    tx.commit().await?;
    Ok(rows)
}
