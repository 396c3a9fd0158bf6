//! Tallies: groups of the materialized facts, named for people to read, and the platform summary.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, Utc};
use futures_util::{Stream, StreamExt, TryStreamExt};
use tokio::sync::mpsc;
use tracing::Instrument;
use uuid::Uuid;

use super::db::{self, Group};
use super::model::{Dimension, PeriodTotals, Summary, TallyFilter, TallyRow};
use crate::error::Result;
use crate::state::AppState;
use crate::{accounts, catalog, regions};

/// Asia/Shanghai is UTC+8 all year (no daylight saving), whatever the server's zone.
const SHANGHAI_OFFSET_SECS: i32 = 8 * 3600;

/// Today's date in Asia/Shanghai.
pub fn shanghai_today() -> NaiveDate {
    let offset = chrono::FixedOffset::east_opt(SHANGHAI_OFFSET_SECS).expect("UTC+8 is a valid offset");
    Utc::now().with_timezone(&offset).date_naive()
}

/// Totals grouped by `by` over the facts `filter` selects, largest amount first, at most
/// `limit` groups, each with its display name.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn tally(state: &AppState, by: Dimension, filter: &TallyFilter, limit: i64) -> Result<Vec<TallyRow>> {
    let groups = db::tally(&state.db, by, filter, limit).await?;
    named(state, by, groups).await
}

/// How many groups an export takes from Postgres at a time and names together.
const BATCH: usize = 1000;

/// Every group `filter` selects, largest amount first, named, in batches of up to [`BATCH`]
/// (exports, which have no top-N). A task reads the groups with one query and names each batch
/// with one lookup; it stays at most two batches ahead of the reader, so memory does not grow
/// with the number of groups (a year's buyers are hundreds of thousands), and it stops when the
/// reader goes away. An error ends the stream with that error.
#[tracing::instrument(level = "debug", skip(state))]
pub fn rows(
    state: &AppState,
    by: Dimension,
    filter: TallyFilter,
) -> impl Stream<Item = Result<Vec<TallyRow>>> + Send + 'static {
    let (tx, rx) = mpsc::channel(2);
    let state = state.clone();
    tokio::spawn(
        async move {
            if let Err(error) = feed(&state, by, &filter, &tx).await {
                let _ = tx.send(Err(error)).await;
            }
        }
        .instrument(tracing::Span::current()),
    );
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|batch| (batch, rx)) })
}

/// Reads, names and sends batches until the groups end or the reader goes away.
async fn feed(
    state: &AppState,
    by: Dimension,
    filter: &TallyFilter,
    tx: &mpsc::Sender<Result<Vec<TallyRow>>>,
) -> Result<()> {
    let mut batches = db::stream_tally(&state.db, by, filter).try_chunks(BATCH);
    while let Some(batch) = batches.next().await {
        let rows = named(state, by, batch.map_err(|e| e.1)?).await?;
        if tx.send(Ok(rows)).await.is_err() {
            tracing::debug!("the reader of the tally went away");
            break;
        }
    }
    Ok(())
}

/// The groups as rows, each with its display name.
async fn named(state: &AppState, by: Dimension, groups: Vec<Group>) -> Result<Vec<TallyRow>> {
    let names = names(state, by, &groups).await?;
    Ok(groups
        .into_iter()
        .map(|g| TallyRow {
            name: names.get(&g.key).cloned().unwrap_or_else(|| g.key.clone()),
            key: g.key,
            amount_fen: g.amount_fen,
            qty: g.qty,
            orders: g.orders,
            buyers: g.buyers,
        })
        .collect())
}

/// Display names for the groups' keys: one query for the whole page, none for periods.
async fn names(state: &AppState, by: Dimension, groups: &[Group]) -> Result<HashMap<String, String>> {
    let uuids = || groups.iter().filter_map(|g| g.key.parse::<Uuid>().ok()).collect::<Vec<_>>();
    let ints = || groups.iter().filter_map(|g| g.key.parse::<i32>().ok()).collect::<Vec<_>>();
    let named: Vec<(String, String)> = match by {
        Dimension::Buyer => stringify(accounts::display_names(&state.db, &uuids()).await?),
        Dimension::Enterprise | Dimension::Producer => stringify(accounts::legal_names(&state.db, &uuids()).await?),
        Dimension::District | Dimension::County | Dimension::Prefecture => {
            stringify(regions::names_of(&state.db, &ints()).await?)
        }
        Dimension::Category => stringify(catalog::category_names(&state.db, &ints()).await?),
        Dimension::Product => stringify(catalog::product_titles(&state.db, &uuids()).await?),
        Dimension::BuyerKind => vec![
            ("consumer".to_owned(), "消费者 (consumers)".to_owned()),
            ("enterprise".to_owned(), "企业 (enterprises)".to_owned()),
        ],
        Dimension::Day | Dimension::Month | Dimension::Year => Vec::new(),
    };
    Ok(named.into_iter().collect())
}

fn stringify<K: ToString>(pairs: Vec<(K, String)>) -> Vec<(String, String)> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// All-time, this year's, this month's and today's totals, and how far purchasing reached.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn summary(state: &AppState) -> Result<Summary> {
    let today = shanghai_today();
    let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("January 1st exists");
    let month_start = today.with_day(1).expect("the 1st exists");
    let totals = |(amount_fen, orders, buyers)| PeriodTotals { amount_fen, orders, buyers };
    let (all_time, year, month, day, reached) = tokio::try_join!(
        db::period_totals(&state.db, None, None),
        db::period_totals(&state.db, Some(year_start), Some(today)),
        db::period_totals(&state.db, Some(month_start), Some(today)),
        db::period_totals(&state.db, Some(today), Some(today)),
        db::reached(&state.db),
    )?;
    Ok(Summary {
        all_time: totals(all_time),
        year: totals(year),
        month: totals(month),
        today: totals(day),
        enterprises_reached: reached.0,
        producers_reached: reached.1,
        counties_reached: reached.2,
        as_of: today,
    })
}

/// A producer's own sales over a range: by month, by product and by buyer kind.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn producer_sales(
    state: &AppState,
    producer: Uuid,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<super::model::ProducerSales> {
    let filter = TallyFilter { producer: Some(producer), from, to, ..Default::default() };
    let (mut by_month, by_product, by_buyer_kind) = tokio::try_join!(
        tally(state, Dimension::Month, &filter, 500),
        tally(state, Dimension::Product, &filter, 500),
        tally(state, Dimension::BuyerKind, &filter, 2),
    )?;
    by_month.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(super::model::ProducerSales { from, to, by_month, by_product, by_buyer_kind })
}

/// A tally rendered as JSON, through the read cache. Tallies change only when the ledger does,
/// and every commit that appends ledger rows (a payment, a completed refund) changes products'
/// sales counts and so bumps the catalog cache's generation after it commits: that generation
/// is therefore a sound validity token for tallies too, with the same guarantees (no reader is
/// served figures older than an acknowledged payment; entries die with their TTL if Redis
/// missed a bump). A stampede on one key reaches Postgres once.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn tally_cached(
    state: &AppState,
    by: Dimension,
    filter: &TallyFilter,
    limit: i64,
) -> Result<crate::cache::Cached> {
    let what = format!("tallies:v1:{by:?}:{filter:?}:{limit}");
    state
        .ledger_cache
        .get_or_load(&what, &[], || async {
            let items = tally(state, by, filter, limit).await?;
            let reply = super::model::TallyReply { group_by: by, from: filter.from, to: filter.to, items };
            Ok(serde_json::to_vec(&reply).map_err(anyhow::Error::from)?)
        })
        .await
}

/// The summary rendered as JSON, through the read cache (see [`tally_cached`]); keyed by the
/// Shanghai day, so "today" moves on at midnight without a payment.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn summary_cached(state: &AppState) -> Result<crate::cache::Cached> {
    let what = format!("tallies:v1:summary:{}", shanghai_today());
    state
        .ledger_cache
        .get_or_load(&what, &[], || async {
            Ok(serde_json::to_vec(&summary(state).await?).map_err(anyhow::Error::from)?)
        })
        .await
}
