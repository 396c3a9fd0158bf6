//! Everything that moves an order or a group after it is placed. Every step locks the order
//! (or group) row first, so that expiry, cancellation, approval and payment serialize: an order
//! is never both expired and paid, and stock goes back exactly once.

use chrono::{Duration, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::db;
use super::model::{Change, GroupRow, GroupStatus, OrderRow, OrderStatus};
use crate::catalog;
use crate::error::{AppError, Result};
use crate::state::AppState;

fn invalid(from: &str, to: &str) -> AppError {
    AppError::conflict("invalid_transition", msg!("order-transition", from = from, to = to))
}

/// Returns an unpaid order's reserved stock and closes it as `to` (cancelled or expired).
async fn close_unpaid(
    state: &AppState,
    mut tx: Transaction<'_, Postgres>,
    order: &OrderRow,
    to: OrderStatus,
    actor: Option<Uuid>,
    note: Option<&str>,
) -> Result<()> {
    let group_to = if to == OrderStatus::Expired { GroupStatus::Expired } else { GroupStatus::Cancelled };
    let mut retired = std::collections::BTreeSet::new();
    // lines_of is ordered by product id: the same lock order as checkout.
    for line in db::lines_of(&mut *tx, order.id).await? {
        retired.extend(catalog::return_stock(&mut tx, line.product_id, line.qty).await?);
    }
    db::set_order_status(&mut tx, order.id, to, None).await?;
    db::set_groups_status(&mut tx, order.id, GroupStatus::Pending, group_to).await?;
    db::insert_history(&mut tx, order.id, actor, Change::Order { from: Some(order.status), to }, note).await?;
    if retired.is_empty() {
        Ok(tx.commit().await?)
    } else {
        state.catalog_cache.commit_scoped(tx, &retired.into_iter().collect::<Vec<_>>()).await
    }
}

/// The buyer cancels an order that is not paid yet; its stock comes back.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn cancel(state: &AppState, order_id: Uuid, actor: Uuid) -> Result<()> {
    let mut tx = state.db.begin().await?;
    let order = db::lock_order(&mut tx, order_id).await?.ok_or(AppError::NotFound)?;
    if !order.status.is_unpaid() {
        return Err(invalid(order.status.as_str(), "cancelled"));
    }
    close_unpaid(state, tx, &order, OrderStatus::Cancelled, Some(actor), None).await
}

/// Expires one order if it is still unpaid and past its deadline; false when there was
/// nothing to do (paid, cancelled or expired meanwhile).
#[tracing::instrument(level = "debug", skip(state))]
pub async fn expire(state: &AppState, order_id: Uuid) -> Result<bool> {
    let mut tx = state.db.begin().await?;
    let Some(order) = db::lock_order(&mut tx, order_id).await? else { return Ok(false) };
    if !order.status.is_unpaid() || order.expires_at > Utc::now() {
        return Ok(false);
    }
    close_unpaid(state, tx, &order, OrderStatus::Expired, None, None).await?;
    Ok(true)
}

/// How many due orders one query picks.
const EXPIRY_BATCH: i64 = 100;

/// Expires every due order, a batch at a time. Safe on several instances at once, because
/// `expire` locks each order and rechecks it: an order that another instance (or a payment or
/// a cancellation) closed meanwhile is left alone. The batch query's `skip locked` only keeps
/// it from waiting on rows locked at that instant; its transaction commits before the work, so
/// two instances can pick the same ids and one of them then finds nothing to do.
///
/// One order that cannot be expired (its transaction fails) must not stall expiry for
/// everyone: its failure is logged and the run moves on, and each run walks the due orders
/// once in `(expires_at, id)` order, so the failing order is tried once per run, not first in
/// every batch. Only a failure to list due orders ends the run with an error.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn expire_due(state: &AppState) -> Result<usize> {
    let mut done = 0;
    let mut failed = 0;
    let mut after = None;
    loop {
        let mut tx = state.db.begin().await?;
        let due = db::lock_due_for_expiry(&mut tx, after, EXPIRY_BATCH).await?;
        tx.commit().await?;
        for &(_, id) in &due {
            match expire(state, id).await {
                Ok(true) => done += 1,
                Ok(false) => {}
                Err(error) => {
                    failed += 1;
                    tracing::error!(order = %id, error = ?error, "could not expire an order; moving on");
                }
            }
        }
        match due.last() {
            Some(&last) if due.len() as i64 == EXPIRY_BATCH => after = Some(last),
            _ => break,
        }
    }
    if failed > 0 {
        tracing::warn!(failed, expired = done, "some due orders could not be expired; the next run tries them again");
    }
    Ok(done)
}

/// An approver (or owner) of the buyer's enterprise lets an order through to payment, with a
/// fresh payment window. An order whose approval hold has run out is refused even if the
/// expiry job has not reached it yet: approving would bring it back to life with a new
/// deadline, holding stock past the hold the buyer was promised and the job would have ended.
#[tracing::instrument(level = "debug", skip(state, note))]
pub async fn approve(state: &AppState, order_id: Uuid, actor: Uuid, note: Option<&str>) -> Result<()> {
    let mut tx = state.db.begin().await?;
    let order = db::lock_order(&mut tx, order_id).await?.ok_or(AppError::NotFound)?;
    if order.status != OrderStatus::AwaitingApproval {
        return Err(invalid(order.status.as_str(), "pending_payment"));
    }
    if order.expires_at <= Utc::now() {
        return Err(AppError::conflict("order_expired", msg!("order_expired")));
    }
    let deadline = Utc::now() + Duration::seconds(state.settings.orders.payment_window_secs as i64);
    db::set_order_status(&mut tx, order_id, OrderStatus::PendingPayment, Some(deadline)).await?;
    let change = Change::Order { from: Some(order.status), to: OrderStatus::PendingPayment };
    db::insert_history(&mut tx, order_id, Some(actor), change, note).await?;
    tx.commit().await?;
    Ok(())
}

/// An approver turns an order down: it is cancelled and its stock comes back.
#[tracing::instrument(level = "debug", skip(state, note))]
pub async fn reject(state: &AppState, order_id: Uuid, actor: Uuid, note: Option<&str>) -> Result<()> {
    let mut tx = state.db.begin().await?;
    let order = db::lock_order(&mut tx, order_id).await?.ok_or(AppError::NotFound)?;
    if order.status != OrderStatus::AwaitingApproval {
        return Err(invalid(order.status.as_str(), "cancelled"));
    }
    close_unpaid(state, tx, &order, OrderStatus::Cancelled, Some(actor), note).await
}

/// A producer ships one of its paid groups.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn ship(
    state: &AppState,
    producer_id: Uuid,
    group_id: Uuid,
    actor: Uuid,
    carrier: &str,
    tracking_no: &str,
) -> Result<GroupRow> {
    let mut tx = state.db.begin().await?;
    let group = match db::lock_group(&mut tx, group_id).await? {
        Some(g) if g.producer_id == producer_id => g,
        _ => return Err(AppError::NotFound),
    };
    if group.status != GroupStatus::Paid {
        return Err(AppError::conflict(
            "invalid_transition",
            msg!("group-cannot-ship", status = group.status.as_str()),
        ));
    }
    let shipped = db::ship_group(&mut tx, group_id, carrier, tracking_no).await?;
    let note = format!("{carrier} {tracking_no}");
    let change = Change::Group { group_id, from: GroupStatus::Paid, to: GroupStatus::Shipped };
    db::insert_history(&mut tx, group.order_id, Some(actor), change, Some(&note)).await?;
    tx.commit().await?;
    Ok(shipped)
}

/// Completes a shipped group (the buyer confirms, or the deadline passes), and the order with
/// its last group.
async fn complete(tx: &mut Transaction<'_, Postgres>, group: &GroupRow, actor: Option<Uuid>) -> Result<()> {
    db::complete_group(tx, group.id).await?;
    let change = Change::Group { group_id: group.id, from: GroupStatus::Shipped, to: GroupStatus::Completed };
    db::insert_history(tx, group.order_id, actor, change, None).await?;
    if db::all_groups_completed(tx, group.order_id).await? {
        let order = db::lock_order(tx, group.order_id).await?.ok_or(AppError::NotFound)?;
        db::set_order_status(tx, group.order_id, OrderStatus::Completed, None).await?;
        let change = Change::Order { from: Some(order.status), to: OrderStatus::Completed };
        db::insert_history(tx, group.order_id, actor, change, None).await?;
    }
    Ok(())
}

/// The buyer confirms receipt of one group.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn confirm_receipt(state: &AppState, order_id: Uuid, group_id: Uuid, actor: Uuid) -> Result<()> {
    let mut tx = state.db.begin().await?;
    // Order first, then group: the same lock order as payment and automatic completion.
    db::lock_order(&mut tx, order_id).await?.ok_or(AppError::NotFound)?;
    let group = match db::lock_group(&mut tx, group_id).await? {
        Some(g) if g.order_id == order_id => g,
        _ => return Err(AppError::NotFound),
    };
    if group.status != GroupStatus::Shipped {
        return Err(AppError::conflict(
            "invalid_transition",
            msg!("group-cannot-receive", status = group.status.as_str()),
        ));
    }
    complete(&mut tx, &group, Some(actor)).await?;
    tx.commit().await?;
    Ok(())
}

/// Completes groups shipped longer ago than the configured number of days. As with expiry, each
/// group is locked and rechecked before it changes; the batch query's locks end when it commits.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn complete_due(state: &AppState) -> Result<usize> {
    let days = state.settings.orders.auto_complete_days as i32;
    let mut tx = state.db.begin().await?;
    let due = db::lock_due_for_completion(&mut tx, days, 100).await?;
    tx.commit().await?;
    let mut done = 0;
    for group_id in due {
        let mut tx = state.db.begin().await?;
        let Some(group) = db::find_group(&mut *tx, group_id).await? else { continue };
        db::lock_order(&mut tx, group.order_id).await?;
        let Some(group) = db::lock_group(&mut tx, group_id).await? else { continue };
        if group.status != GroupStatus::Shipped {
            continue;
        }
        complete(&mut tx, &group, None).await?;
        tx.commit().await?;
        done += 1;
    }
    Ok(done)
}
