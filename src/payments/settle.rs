//! Money that arrived: a Stripe PaymentIntent that succeeded, or a bank transfer an admin saw.
//! Money that can pay its order pays it, in one transaction with the payment's record, the
//! ledger rows and the paid lines. Money that cannot (the order expired, was cancelled, awaits
//! approval, is already paid, or the amount or currency is wrong) is recorded and refunded in
//! full automatically; the order is never revived. Either way the audit trail records what
//! became of the money, in the same transaction.

use chrono::NaiveDate;
use serde_json::json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::db;
use super::ledger;
use super::model::{BankConfirmation, Method, Payment, PaymentRow, PaymentStatus, STRIPE};
use super::refunds;
use crate::error::{AppError, FieldErrors, Result};
use crate::identity::CurrentUser;
use crate::orders::{self, PayOutcome, model::OrderStatus};
use crate::state::AppState;
use crate::stripe::PaymentIntent;
use crate::text::{Text, limits};
use crate::trail::{self, Actor, Entry};

/// What a transaction's work leaves to do around its commit: the audit entries of what it did,
/// appended just before the commit (after every row lock it took), and the follow-ups after it.
#[derive(Debug, Default)]
pub struct AfterCommit {
    /// Audit entries to append, in order, just before the commit.
    pub audit: Vec<Entry>,
    /// What changed in the public catalog (sales counts, maybe stock).
    pub public: PublicChange,
    /// An automatic refund to send to Stripe.
    pub refund: Option<Uuid>,
}

/// What a payment's transaction changed in the public catalog, for its cache.
#[derive(Debug, Default)]
pub enum PublicChange {
    #[default]
    Nothing,
    /// These products' sales counts: their reads are retired (`catalog::retire_after_commit`).
    Products(Vec<Uuid>),
    /// Anything: every cached catalog read is retired (refunds, which may also return stock).
    Everything,
}

impl PublicChange {
    fn of_lines(lines: &[orders::PaidLine]) -> Self {
        PublicChange::Products(lines.iter().map(|l| l.product_id).collect())
    }

    /// Everything, if `changed`.
    pub fn everything_if(changed: bool) -> Self {
        if changed { PublicChange::Everything } else { PublicChange::Nothing }
    }
}

impl AfterCommit {
    /// Appends the audit entries in `tx` and commits it, then runs the follow-ups.
    pub async fn commit(mut self, state: &AppState, mut tx: Transaction<'_, Postgres>) -> Result<()> {
        trail::append_all(&mut tx, self.audit.drain(..)).await?;
        tx.commit().await?;
        self.run(state).await;
        Ok(())
    }

    /// Runs the follow-ups; Redis and Stripe failures here never undo the committed money
    /// (the cache entries expire; the refund job sends the refund again).
    async fn run(self, state: &AppState) {
        match self.public {
            PublicChange::Nothing => {}
            PublicChange::Products(ids) => {
                crate::catalog::retire_after_commit(state, &ids).await;
                state.ledger_cache.bump_after_commit().await;
            }
            PublicChange::Everything => {
                state.catalog_cache.bump_after_commit().await;
                state.ledger_cache.bump_after_commit().await;
            }
        }
        if let Some(refund_id) = self.refund
            && let Err(e) = refunds::send_to_stripe(state, refund_id).await
        {
            tracing::warn!(error = ?e, %refund_id, "automatic refund not sent yet; the refund job will retry");
        }
    }
}

/// A PaymentIntent succeeded (from a verified webhook event, inside its transaction).
#[tracing::instrument(level = "debug", skip_all, fields(payment_intent = %pi.id))]
pub async fn intent_succeeded(tx: &mut Transaction<'_, Postgres>, pi: &PaymentIntent) -> Result<AfterCommit> {
    let Some(payment) = db::lock_payment_by_intent(tx, &pi.id).await? else {
        tracing::warn!(payment_intent = %pi.id, amount = pi.amount, "succeeded PaymentIntent of no payment of ours; acknowledged");
        return Ok(AfterCommit::default());
    };
    if matches!(payment.status, PaymentStatus::Succeeded | PaymentStatus::Unapplied) {
        return Ok(AfterCommit::default()); // this money was handled before
    }
    let amount = pi.amount;
    if pi.currency != "cny" {
        let reason = format!("{amount} {} received for an order paid in cny", pi.currency);
        return unapplied(tx, &payment, amount, &pi.currency, &reason).await;
    }
    match orders::pay_in(tx, payment.order_id, Method::Stripe.for_orders(), &pi.id, amount).await? {
        PayOutcome::NewlyPaid(order, lines) => {
            db::supersede_others(tx, order.id, payment.id).await?;
            db::settle_payment(tx, payment.id, PaymentStatus::Succeeded, amount, &pi.currency).await?;
            ledger::record_payment(tx, &payment, &order, &lines).await?;
            let paid = succeeded(STRIPE, &payment, amount, &pi.currency, &pi.id);
            Ok(AfterCommit { audit: vec![paid], public: PublicChange::of_lines(&lines), refund: None })
        }
        PayOutcome::AlreadyPaid { payment_ref } => {
            let reason = format!("the order was already paid ({})", payment_ref.unwrap_or_default());
            unapplied(tx, &payment, amount, &pi.currency, &reason).await
        }
        PayOutcome::NotPayable { reason, .. } => unapplied(tx, &payment, amount, &pi.currency, &reason).await,
    }
}

/// The audit entry of money that paid its order.
fn succeeded(actor: Actor, payment: &PaymentRow, amount_fen: i64, currency: &str, reference: &str) -> Entry {
    Entry::new(actor, "payment.succeeded", "order", payment.order_id).detail(json!({
        "payment_id": payment.id,
        "method": payment.method.as_str(),
        "amount_fen": amount_fen,
        "currency": currency,
        "reference": reference,
    }))
}

/// Records money that cannot pay its order and opens its full automatic refund (audit-logged
/// as `payment.unapplied` and the refund's `refund.request`).
async fn unapplied(
    tx: &mut Transaction<'_, Postgres>,
    payment: &PaymentRow,
    amount_fen: i64,
    currency: &str,
    why: &str,
) -> Result<AfterCommit> {
    tracing::warn!(payment = %payment.id, order = %payment.order_id, why, "payment cannot pay its order; refunding it");
    db::settle_payment(tx, payment.id, PaymentStatus::Unapplied, amount_fen, currency).await?;
    let reason = format!("automatic: {why}");
    let refund_id = refunds::open_automatic(tx, payment, amount_fen, &reason).await?;
    let audit = vec![
        Entry::new(STRIPE, "payment.unapplied", "order", payment.order_id).detail(json!({
            "payment_id": payment.id,
            "method": payment.method.as_str(),
            "amount_fen": amount_fen,
            "currency": currency,
            "why": why,
            "refund_id": refund_id,
        })),
        Entry::new(STRIPE, "refund.request", "order", payment.order_id).detail(json!({
            "refund_id": refund_id,
            "payment_id": payment.id,
            "amount_fen": amount_fen,
            "reason": reason,
            "automatic": true,
        })),
    ];
    Ok(AfterCommit { audit, public: PublicChange::Nothing, refund: Some(refund_id) })
}

/// An admin confirms that an enterprise's bank transfer arrived: the amount must be the order's
/// total (422 `amount_mismatch`), the bank reference must not have confirmed another payment
/// (409 `bank_reference_used`), and the order must still await this transfer (409
/// `order_already_paid`, `order_not_payable`, `bank_transfer_not_started`). Audit-logged as the
/// admin's `bank_transfer.confirm` and the money's `payment.succeeded`.
#[tracing::instrument(level = "debug", skip(state, admin, body), fields(admin = %admin.account_id))]
pub async fn confirm_bank_transfer(
    state: &AppState,
    admin: &CurrentUser,
    order_id: Uuid,
    body: BankConfirmation,
) -> Result<Payment> {
    let (amount, reference, received_on) = check_confirmation(&body)?;
    let mut tx = state.db.begin().await?;
    let order = orders::lock(&mut tx, order_id).await?;
    match order.status {
        OrderStatus::PendingPayment => {}
        OrderStatus::Paid | OrderStatus::Completed | OrderStatus::Refunded => {
            return Err(AppError::conflict("order_already_paid", msg!("order_already_paid")));
        }
        OrderStatus::AwaitingApproval => {
            return Err(AppError::conflict("invalid_transition", msg!("order-awaiting-approver")));
        }
        status => {
            return Err(AppError::conflict(
                "order_not_payable",
                msg!("order-not-payable-transfer", status = status.as_str()),
            ));
        }
    }
    let payment = db::lock_open_payment(&mut tx, order_id)
        .await?
        .filter(|p| p.method == Method::BankTransfer)
        .ok_or_else(|| AppError::conflict("bank_transfer_not_started", msg!("bank_transfer_not_started")))?;
    if amount != order.total_fen {
        return Err(AppError::Unprocessable {
            code: "amount_mismatch",
            detail: msg!("amount_mismatch", amount = amount, total = order.total_fen),
        });
    }
    db::confirm_transfer(&mut tx, payment.id, reference.as_str(), received_on, admin.account_id).await?;
    let PayOutcome::NewlyPaid(order, lines) =
        orders::pay_in(&mut tx, order_id, Method::BankTransfer.for_orders(), reference.as_str(), amount).await?
    else {
        return Err(anyhow::anyhow!("order {order_id} changed under its lock").into());
    };
    db::settle_payment(&mut tx, payment.id, PaymentStatus::Succeeded, amount, "cny").await?;
    ledger::record_payment(&mut tx, &payment, &order, &lines).await?;
    let confirmed = Entry::new(admin, "bank_transfer.confirm", "order", order_id).detail(json!({
        "payment_id": payment.id,
        "amount_fen": amount,
        "bank_reference": reference.as_str(),
        "received_on": received_on.to_string(),
    }));
    let paid = succeeded(admin.into(), &payment, amount, "cny", reference.as_str());
    let public = PublicChange::of_lines(&lines);
    AfterCommit { audit: vec![confirmed, paid], public, refund: None }.commit(state, tx).await?;
    Ok(db::find_payment(&state.db, payment.id).await?.ok_or(AppError::NotFound)?.into())
}

/// The confirmation's fields, every bad one reported: a positive amount, a reference, and a
/// `YYYY-MM-DD` day that is not in the future (Asia/Shanghai).
fn check_confirmation(body: &BankConfirmation) -> Result<(i64, Text, NaiveDate)> {
    let mut errors = FieldErrors::new();
    if body.amount_fen <= 0 {
        errors.add("amount_fen", msg!("positive-fen"));
    }
    let reference = errors.check("bank_reference", Text::parse(&body.bank_reference, limits::PO_NUMBER));
    let received_on = errors.check(
        "received_at",
        NaiveDate::parse_from_str(body.received_at.trim(), "%Y-%m-%d").map_err(|_| msg!("date-format")).and_then(|d| {
            let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
            if d > today { Err(msg!("date-in-future")) } else { Ok(d) }
        }),
    );
    match (reference, received_on) {
        (Some(reference), Some(day)) if errors.is_empty() => Ok((body.amount_fen, reference, day)),
        _ => Err(errors.into_error()),
    }
}
