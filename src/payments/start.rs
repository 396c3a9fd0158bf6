//! Starting a payment: the buyer (or an approver or owner of the same enterprise) of an order
//! pending payment chooses Stripe or a bank transfer. An order has at most one open payment
//! (a unique index); starting again with the same method returns the same PaymentIntent or
//! remittance reference, and choosing the other method supersedes the open one.
//!
//! The Stripe call happens after the payment row (with its Stripe idempotency key) has
//! committed, outside any lock: a retry after a timeout or a 5xx sends the same key, so Stripe
//! answers with the PaymentIntent it already made instead of a second one.

use chrono::{Duration, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::db::{self, NewPayment};
use super::model::{Method, PaymentRow, PaymentStarted};
use crate::error::{AppError, Result};
use crate::identity::CurrentUser;
use crate::orders::{self, Buyer, model::OrderRow, model::OrderStatus};
use crate::state::AppState;
use crate::stripe::StripeError;

#[tracing::instrument(level = "debug", skip(state, user), fields(account = %user.account_id))]
pub async fn start(state: &AppState, user: &CurrentUser, order_id: Uuid, method: Method) -> Result<PaymentStarted> {
    let buyer = orders::buyer_of(state, user).await?;
    orders::visible_order(state, &buyer, order_id).await?;
    if method == Method::BankTransfer && matches!(buyer, Buyer::Consumer { .. }) {
        return Err(AppError::forbidden("forbidden", msg!("transfer-enterprise-only")));
    }
    let mut tx = state.db.begin().await?;
    let order = orders::lock(&mut tx, order_id).await?;
    payable(&order)?;
    match method {
        Method::Stripe => start_stripe(state, tx, &order, user.account_id).await,
        Method::BankTransfer => start_transfer(state, tx, &order, user.account_id).await,
    }
}

/// 409 with the documented code unless the order waits for payment.
fn payable(order: &OrderRow) -> Result<()> {
    match order.status {
        OrderStatus::PendingPayment => Ok(()),
        OrderStatus::AwaitingApproval => Err(AppError::conflict("invalid_transition", msg!("order-awaiting-approver"))),
        OrderStatus::Paid | OrderStatus::Completed | OrderStatus::Refunded => {
            Err(AppError::conflict("order_already_paid", msg!("order_already_paid")))
        }
        OrderStatus::Expired | OrderStatus::Cancelled => Err(AppError::conflict(
            "order_not_payable",
            msg!("order-not-payable-again", status = order.status.as_str()),
        )),
    }
}

/// The order's open payment of `method`, superseding an open one of the other method, or a new one.
async fn open_payment(
    tx: &mut Transaction<'_, Postgres>,
    order: &OrderRow,
    method: Method,
    started_by: Uuid,
) -> Result<PaymentRow> {
    if let Some(open) = db::lock_open_payment(tx, order.id).await? {
        if open.method == method {
            return Ok(open);
        }
        db::supersede(tx, open.id).await?;
    }
    let id = Uuid::now_v7();
    let stripe_key = format!("payment-{id}");
    let reference = remittance_reference(id);
    let new = NewPayment {
        id,
        order_id: order.id,
        method,
        amount_fen: order.total_fen,
        started_by,
        stripe_idempotency_key: (method == Method::Stripe).then_some(stripe_key.as_str()),
        remittance_reference: (method == Method::BankTransfer).then_some(reference.as_str()),
    };
    // The order is locked, so no other start can insert meanwhile; the unique index is the
    // backstop.
    db::insert_open_payment(tx, &new)
        .await?
        .ok_or_else(|| AppError::conflict("payment_in_progress", msg!("payment_in_progress")))
}

/// `TG` and 12 characters of the payment id's random part: short enough to type into a bank's
/// remittance note (附言), unique by the table's index.
fn remittance_reference(id: Uuid) -> String {
    let hex = id.simple().to_string().to_uppercase();
    format!("TG{}", &hex[hex.len() - 12..])
}

async fn start_stripe(
    state: &AppState,
    mut tx: Transaction<'_, Postgres>,
    order: &OrderRow,
    started_by: Uuid,
) -> Result<PaymentStarted> {
    let payment = open_payment(&mut tx, order, Method::Stripe, started_by).await?;
    tx.commit().await?;
    if let (Some(intent), Some(secret)) = (&payment.payment_intent_id, &payment.client_secret) {
        return Ok(stripe_reply(intent, secret));
    }
    let key = payment.stripe_idempotency_key.as_deref().ok_or_else(|| anyhow::anyhow!("stripe payment without key"))?;
    let intent = state.stripe.create_payment_intent(payment.amount_fen, order.id, key).await.map_err(provider_error)?;
    if intent.amount != payment.amount_fen || intent.currency != "cny" {
        return Err(anyhow::anyhow!(
            "Stripe made PaymentIntent {} for {} {}, not {} cny",
            intent.id,
            intent.amount,
            intent.currency,
            payment.amount_fen
        )
        .into());
    }
    let secret =
        intent.client_secret.as_deref().ok_or_else(|| anyhow::anyhow!("PaymentIntent without a client secret"))?;
    let stored = db::set_intent(&state.db, payment.id, &intent.id, secret).await?;
    let (intent, secret) = (stored.payment_intent_id.unwrap_or(intent.id), stored.client_secret.unwrap_or_default());
    Ok(stripe_reply(&intent, &secret))
}

fn stripe_reply(intent: &str, secret: &str) -> PaymentStarted {
    PaymentStarted::Stripe {
        method: Method::Stripe,
        payment_intent_id: intent.to_string(),
        client_secret: secret.to_string(),
    }
}

async fn start_transfer(
    state: &AppState,
    mut tx: Transaction<'_, Postgres>,
    order: &OrderRow,
    started_by: Uuid,
) -> Result<PaymentStarted> {
    let payment = open_payment(&mut tx, order, Method::BankTransfer, started_by).await?;
    let until = Utc::now() + Duration::seconds(state.settings.payments.bank_transfer_window_secs as i64);
    orders::extend_deadline(&mut tx, order.id, until).await?;
    tx.commit().await?;
    Ok(PaymentStarted::BankTransfer {
        method: Method::BankTransfer,
        reference: payment.remittance_reference.unwrap_or_default(),
        account: state.settings.payments.receiving_account.clone(),
        expires_at: order.expires_at.max(until),
    })
}

/// Stripe's failures as the API documents them; the order stays payable and a retry reuses
/// the stored idempotency key.
fn provider_error(e: StripeError) -> AppError {
    use axum::http::StatusCode;
    let unavailable = |status: StatusCode, why: &'static str| AppError::Status {
        status,
        code: "payment_provider_unavailable",
        detail: msg!("payment_provider_unavailable", why = why),
    };
    match e {
        StripeError::CardDeclined { message } => AppError::Status {
            status: StatusCode::PAYMENT_REQUIRED,
            code: "card_declined",
            detail: msg!("card_declined", detail = message),
        },
        StripeError::RateLimited => unavailable(StatusCode::SERVICE_UNAVAILABLE, "busy"),
        StripeError::Conflict => unavailable(StatusCode::SERVICE_UNAVAILABLE, "conflict"),
        StripeError::Timeout => unavailable(StatusCode::GATEWAY_TIMEOUT, "timeout"),
        StripeError::Unavailable { status } => {
            tracing::warn!(?status, "payment provider failed");
            unavailable(StatusCode::BAD_GATEWAY, "failed")
        }
        StripeError::Transport(why) | StripeError::Decode(why) => {
            tracing::error!(why, "payment provider call failed");
            unavailable(StatusCode::BAD_GATEWAY, "unreachable")
        }
        StripeError::Invalid { message } => {
            AppError::Internal(anyhow::anyhow!("Stripe refused our request: {message}"))
        }
    }
}
