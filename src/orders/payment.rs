//! What paying and refunding do to an order. The payments area calls these inside its own
//! transactions, so that the order's change, the payment's record and the ledger rows commit
//! together; nothing here touches Redis (the caller refreshes public reads after its commit).

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::db;
use super::model::{Change, GroupStatus, OrderRow, OrderStatus, PaidLine};
use crate::catalog;
use crate::error::{AppError, Result};
use crate::state::AppState;

/// How an order takes a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentMethod {
    Stripe,
    BankTransfer,
}

impl PaymentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Stripe => "stripe",
            PaymentMethod::BankTransfer => "bank_transfer",
        }
    }
}

/// What `pay_in` found.
#[derive(Debug)]
pub enum PayOutcome {
    /// The order was pending payment and is now paid by this payment; with its lines, as the
    /// ledger records them.
    NewlyPaid(Box<OrderRow>, Vec<PaidLine>),
    /// The order was already paid, by the payment with this reference.
    AlreadyPaid { payment_ref: Option<String> },
    /// The order cannot take this money (expired, cancelled, awaiting approval, or the amount
    /// is not the order's total); the money must go back.
    NotPayable { status: OrderStatus, reason: String },
}

/// Pays the order inside `tx` if it is pending payment and `amount_fen` is exactly its total:
/// the order and its groups become paid, sales counts grow, the history says by what. The
/// order row is locked, so payment, expiry and cancellation serialize: an order is never both
/// expired and paid, and never paid twice.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn pay_in(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
    method: PaymentMethod,
    payment_ref: &str,
    amount_fen: i64,
) -> Result<PayOutcome> {
    let order = db::lock_order(tx, order_id).await?.ok_or(AppError::NotFound)?;
    match order.status {
        OrderStatus::PendingPayment if order.total_fen == amount_fen => {}
        OrderStatus::PendingPayment => {
            let reason = format!("{amount_fen} fen received for an order of {} fen", order.total_fen);
            return Ok(PayOutcome::NotPayable { status: order.status, reason });
        }
        OrderStatus::Paid | OrderStatus::Completed | OrderStatus::Refunded => {
            return Ok(PayOutcome::AlreadyPaid { payment_ref: order.payment_ref });
        }
        status => {
            let reason = format!("the order is {}", status.as_str());
            return Ok(PayOutcome::NotPayable { status, reason });
        }
    }
    db::set_order_status(tx, order_id, OrderStatus::Paid, None).await?;
    db::set_payment(tx, order_id, method.as_str(), payment_ref, amount_fen).await?;
    db::set_groups_status(tx, order_id, GroupStatus::Pending, GroupStatus::Paid).await?;
    let lines = db::lines_with_groups(&mut **tx, order_id).await?;
    for line in &lines {
        catalog::add_sales(tx, line.product_id, line.qty).await?;
    }
    let change = Change::Order { from: Some(OrderStatus::PendingPayment), to: OrderStatus::Paid };
    db::insert_history(tx, order_id, None, change, Some(payment_ref)).await?;
    let paid = db::find_order(&mut **tx, order_id).await?.ok_or(AppError::NotFound)?;
    Ok(PayOutcome::NewlyPaid(Box::new(paid), lines))
}

/// Marks an order paid in a transaction of its own (tests and tools; payments use `pay_in`).
/// Paying a paid order again changes nothing; an order that expired or was cancelled first
/// cannot be paid (409 `order_not_payable`: the payment must be refunded).
#[tracing::instrument(level = "debug", skip(state))]
pub async fn mark_paid(state: &AppState, order_id: Uuid, payment_ref: &str) -> Result<OrderRow> {
    let mut tx = state.db.begin().await?;
    let total = db::find_order(&mut *tx, order_id).await?.ok_or(AppError::NotFound)?.total_fen;
    match pay_in(&mut tx, order_id, PaymentMethod::BankTransfer, payment_ref, total).await? {
        PayOutcome::NewlyPaid(order, _) => {
            tx.commit().await?;
            state.catalog_cache.bump_after_commit().await;
            Ok(*order)
        }
        PayOutcome::AlreadyPaid { .. } => db::find_order(&state.db, order_id).await?.ok_or(AppError::NotFound),
        PayOutcome::NotPayable { status: OrderStatus::AwaitingApproval, .. } => Err(AppError::conflict(
            "invalid_transition",
            msg!("order-transition", from = "awaiting_approval", to = "paid"),
        )),
        PayOutcome::NotPayable { status, .. } => {
            Err(AppError::conflict("order_not_payable", msg!("order-not-payable-refund", status = status.as_str())))
        }
    }
}

/// The order, locked until the transaction ends (payments start and confirm under it).
pub async fn lock(tx: &mut Transaction<'_, Postgres>, order_id: Uuid) -> Result<OrderRow> {
    db::lock_order(tx, order_id).await?.ok_or(AppError::NotFound)
}

/// Gives an unpaid order more time to be paid (a bank transfer takes days), under its lock.
pub async fn extend_deadline(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    db::extend_unpaid_deadline(tx, order_id, until).await?;
    Ok(())
}

/// The order's lines with their groups' producers and statuses, in product order.
pub async fn paid_lines(tx: &mut Transaction<'_, Postgres>, order_id: Uuid) -> Result<Vec<PaidLine>> {
    Ok(db::lines_with_groups(&mut **tx, order_id).await?)
}

/// Records a completed refund on the order: its refunded amount grows; refunded units of
/// groups not shipped yet go back to stock; sales counts shrink; a group whose every unit is
/// refunded becomes `refunded` (it can no longer be shipped), and the order too when all its
/// groups are. `units` are (line, qty) pairs; `fully_refunded_groups` the groups now refunded
/// in full.
#[tracing::instrument(level = "debug", skip(tx, units))]
pub async fn record_refund(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
    amount_fen: i64,
    units: &[(PaidLine, i32)],
    fully_refunded_groups: &[Uuid],
    note: &str,
) -> Result<()> {
    db::add_refunded(tx, order_id, amount_fen).await?;
    let mut units: Vec<&(PaidLine, i32)> = units.iter().collect();
    units.sort_by_key(|(line, _)| line.product_id); // the lock order of checkout
    for (line, qty) in units {
        if line.group_status == GroupStatus::Paid {
            catalog::return_stock(tx, line.product_id, *qty).await?;
        }
        catalog::remove_sales(tx, line.product_id, *qty).await?;
    }
    for group_id in fully_refunded_groups {
        let Some(group) = db::lock_group(tx, *group_id).await? else { continue };
        if group.status == GroupStatus::Refunded {
            continue;
        }
        db::set_group_status(tx, *group_id, GroupStatus::Refunded).await?;
        let change = Change::Group { group_id: *group_id, from: group.status, to: GroupStatus::Refunded };
        db::insert_history(tx, order_id, None, change, Some(note)).await?;
    }
    if db::all_groups_refunded(tx, order_id).await? {
        let order = db::lock_order(tx, order_id).await?.ok_or(AppError::NotFound)?;
        if order.status != OrderStatus::Refunded {
            db::set_order_status(tx, order_id, OrderStatus::Refunded, None).await?;
            let change = Change::Order { from: Some(order.status), to: OrderStatus::Refunded };
            db::insert_history(tx, order_id, None, change, Some(note)).await?;
        }
    }
    Ok(())
}

/// The order of one of the producer's own groups; 404 for anyone else's.
pub async fn order_of_own_group(state: &AppState, producer_id: Uuid, group_id: Uuid) -> Result<Uuid> {
    match db::find_group(&state.db, group_id).await? {
        Some(group) if group.producer_id == producer_id => Ok(group.order_id),
        _ => Err(AppError::NotFound),
    }
}
