//! The assistance ledger: who bought what from where, written when the money moves and never
//! changed. A payment appends one row per order line; a completed refund appends a negative
//! row per refunded line with the payment row's snapshot.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt, TryStreamExt};
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::mpsc;
use tracing::Instrument;
use uuid::Uuid;

use super::db::{self, LedgerBatch, LedgerBuyer};
use super::model::{LedgerQuery, LedgerRow, LedgerSort, NamedLedgerRow, PaymentRow, RefundLine};
use crate::error::{AppError, Result};
use crate::http::pagination::{ListParams, Page};
use crate::orders::{PaidLine, model::OrderRow};
use crate::state::AppState;
use crate::{accounts, catalog, orders, regions};

/// Appends the rows of a payment that just paid `order`, and records what each line was paid
/// (the ceiling of its refunds). Runs in the payment's transaction.
#[tracing::instrument(level = "debug", skip_all, fields(order = %order.id, payment = %payment.id))]
pub async fn record_payment(
    tx: &mut Transaction<'_, Postgres>,
    payment: &PaymentRow,
    order: &OrderRow,
    lines: &[PaidLine],
) -> Result<()> {
    let product_ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    let facts: HashMap<Uuid, (i32, i32)> =
        catalog::ledger_facts(&mut **tx, &product_ids).await?.into_iter().map(|(id, o, c)| (id, (o, c))).collect();
    let origins: Vec<i32> = facts.values().map(|(origin, _)| *origin).collect();
    let prefectures: HashMap<i32, i32> = regions::prefectures_of(&mut **tx, &origins).await?.into_iter().collect();
    let (buyer_kind, district_adcode) = match order.organization_id {
        Some(org) => {
            let enterprise = accounts::find_organization(&mut **tx, org).await?.ok_or(AppError::NotFound)?;
            ("enterprise", Some(enterprise.region_adcode))
        }
        None => ("consumer", None),
    };
    let mut batch = LedgerBatch::default();
    for line in lines {
        let (origin, category) = *facts
            .get(&line.product_id)
            .ok_or_else(|| anyhow::anyhow!("product {} of a paid line is gone", line.product_id))?;
        let prefecture = *prefectures
            .get(&origin)
            .ok_or_else(|| anyhow::anyhow!("origin {origin} of product {} is not a known county", line.product_id))?;
        batch.order_line_ids.push(line.line_id);
        batch.amounts.push(line.amount_fen);
        batch.qtys.push(line.qty);
        batch.producer_ids.push(line.producer_id);
        batch.product_ids.push(line.product_id);
        batch.origin_adcodes.push(origin);
        batch.prefecture_adcodes.push(prefecture);
        batch.category_ids.push(category);
    }
    let who = LedgerBuyer {
        order_id: order.id,
        payment_id: payment.id,
        buyer_id: order.buyer_id,
        buyer_kind,
        enterprise_id: order.organization_id,
        district_adcode,
    };
    db::insert_ledger_rows(tx, &who, &batch).await?;
    let group_ids: Vec<Uuid> = lines.iter().map(|l| l.group_id).collect();
    db::insert_paid_lines(tx, payment.id, order.id, &group_ids, &batch).await?;
    Ok(())
}

/// Appends a completed refund's negative rows, one per refunded line.
#[tracing::instrument(level = "debug", skip(tx, lines))]
pub async fn record_refund(tx: &mut Transaction<'_, Postgres>, refund_id: Uuid, lines: &[RefundLine]) -> Result<()> {
    let line_ids: Vec<Uuid> = lines.iter().map(|l| l.line_id).collect();
    let ids: Vec<Uuid> = lines.iter().map(|_| Uuid::now_v7()).collect();
    let written = db::insert_refund_ledger_rows(tx, refund_id, &ids, &line_ids).await?;
    if written != lines.len() as u64 {
        // Every refunded line was paid, so it has its payment row: anything else is a bug, and
        // the transaction must not commit a refund the ledger does not show.
        return Err(anyhow::anyhow!("refund {refund_id}: {written} ledger rows for {} lines", lines.len()).into());
    }
    Ok(())
}

/// Ledger rows, oldest first, by order, producer and time (admins and auditors).
#[tracing::instrument(level = "debug", skip(state))]
pub async fn list(state: &AppState, q: &LedgerQuery, page: &ListParams) -> Result<Page<LedgerRow>> {
    let rows = db::list_ledger(&state.db, q.order, q.producer, q.from, q.to, page.after(), page.fetch()).await?;
    Ok(page.by_id(rows, |r| r.id))
}

/// How many rows a reader of the whole ledger takes at a time and names together.
const BATCH: usize = 1000;

/// Every ledger row whose money moved in `[from, to)`, in `sort` order and with names, in
/// batches of up to [`BATCH`] rows (exports). A task reads the rows with one query (one
/// snapshot, so rows appended meanwhile are not half in) and names each batch; it stays at most
/// two batches ahead of the reader, so memory does not grow with the number of rows, and it
/// stops when the reader goes away. An error ends the stream with that error.
///
/// The task holds one pooled connection while it reads and borrows another for each batch's
/// names.
#[tracing::instrument(level = "debug", skip(state))]
pub fn rows(
    state: &AppState,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    sort: LedgerSort,
) -> impl Stream<Item = Result<Vec<NamedLedgerRow>>> + Send + 'static {
    let (tx, rx) = mpsc::channel(2);
    let db = state.db.clone();
    tokio::spawn(
        async move {
            if let Err(error) = feed(&db, from, to, sort, &tx).await {
                let _ = tx.send(Err(error)).await;
            }
        }
        .instrument(tracing::Span::current()),
    );
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|batch| (batch, rx)) })
}

/// Reads, names and sends batches until the rows end or the reader goes away.
async fn feed(
    db: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    sort: LedgerSort,
    tx: &mpsc::Sender<Result<Vec<NamedLedgerRow>>>,
) -> Result<()> {
    let mut names = Names::default();
    let mut batches = db::stream_ledger(db, from, to, sort).try_chunks(BATCH);
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(|e| e.1)?;
        let named = names.name(db, batch).await?;
        if tx.send(Ok(named)).await.is_err() {
            tracing::debug!("the reader of the ledger went away");
            break;
        }
    }
    Ok(())
}

/// What the ids and codes of ledger rows are called. Each id or code is looked up the first
/// time a batch has it, with one query per kind for the batch, and kept: there are thousands of
/// organizations and a few hundred regions and categories, not millions. Line titles are read
/// per batch.
#[derive(Default)]
struct Names {
    regions: Known<i32>,
    categories: Known<i32>,
    organizations: Known<Uuid>,
}

impl Names {
    async fn name(&mut self, db: &PgPool, rows: Vec<LedgerRow>) -> sqlx::Result<Vec<NamedLedgerRow>> {
        let codes = rows.iter().flat_map(|r| [Some(r.origin_adcode), Some(r.prefecture_adcode), r.district_adcode]);
        let unseen = self.regions.unseen(codes.flatten());
        if !unseen.is_empty() {
            self.regions.learn(regions::names_of(db, &unseen).await?, &unseen);
        }
        let unseen = self.categories.unseen(rows.iter().map(|r| r.category_id));
        if !unseen.is_empty() {
            self.categories.learn(catalog::category_names(db, &unseen).await?, &unseen);
        }
        let unseen =
            self.organizations.unseen(rows.iter().flat_map(|r| [Some(r.producer_id), r.enterprise_id]).flatten());
        if !unseen.is_empty() {
            self.organizations.learn(accounts::legal_names(db, &unseen).await?, &unseen);
        }
        let line_ids: Vec<Uuid> = rows.iter().map(|r| r.order_line_id).collect();
        let titles: HashMap<Uuid, String> = orders::line_titles(db, &line_ids).await?.into_iter().collect();
        Ok(rows
            .into_iter()
            .map(|row| NamedLedgerRow {
                product_title: titles.get(&row.order_line_id).cloned().unwrap_or_default(),
                producer_name: self.organizations.name(row.producer_id),
                enterprise_name: row.enterprise_id.map(|id| self.organizations.name(id)),
                district_name: row.district_adcode.map(|code| self.regions.name(code)),
                county_name: self.regions.name(row.origin_adcode),
                prefecture_name: self.regions.name(row.prefecture_adcode),
                category_name: self.categories.name(row.category_id),
                row,
            })
            .collect())
    }
}

/// Names by id, for ids looked up once.
struct Known<K>(HashMap<K, String>);

impl<K> Default for Known<K> {
    fn default() -> Self {
        Known(HashMap::new())
    }
}

impl<K: Copy + Eq + Hash> Known<K> {
    /// The ids not looked up yet, each once.
    fn unseen(&self, ids: impl Iterator<Item = K>) -> Vec<K> {
        let unseen: HashSet<K> = ids.filter(|id| !self.0.contains_key(id)).collect();
        unseen.into_iter().collect()
    }

    /// Keeps what a lookup of `asked` found; an id it did not find is named "" (and not asked
    /// again).
    fn learn(&mut self, found: Vec<(K, String)>, asked: &[K]) {
        for id in asked {
            self.0.insert(*id, String::new());
        }
        self.0.extend(found);
    }

    fn name(&self, id: K) -> String {
        self.0.get(&id).cloned().unwrap_or_default()
    }
}
