//! The assistance ledger: who bought what from where, written when the money moves and never
//! changed. A payment appends one row per order line; a completed refund appends a negative
//! row per refunded line with the payment row's snapshot.

use std::collections::HashMap;

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::db::{self, LedgerBatch, LedgerBuyer};
use super::model::{LedgerQuery, LedgerRow, PaymentRow, RefundLine};
use crate::error::{AppError, Result};
use crate::http::pagination::{ListParams, Page};
use crate::orders::{PaidLine, model::OrderRow};
use crate::state::AppState;
use crate::{accounts, catalog, regions};

/// Appends the rows of a payment that just paid `order`, and records what each line was paid
/// (the ceiling of its refunds). Runs in the payment's transaction.
#[tracing::instrument(skip_all, fields(order = %order.id, payment = %payment.id))]
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
#[tracing::instrument(skip(tx, lines))]
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
#[tracing::instrument(skip(state))]
pub async fn list(state: &AppState, q: &LedgerQuery, page: &ListParams) -> Result<Page<LedgerRow>> {
    let rows = db::list_ledger(&state.db, q.order, q.producer, q.from, q.to, page.after(), page.fetch()).await?;
    Ok(page.by_id(rows, |r| r.id))
}
