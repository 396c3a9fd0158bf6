//! Stripe's webhook: a verified event is processed at most once, in the same transaction as
//! its effect, so repeated, concurrent and out-of-order deliveries change nothing twice. Event
//! types the service does not use are acknowledged; an error answers 5xx and Stripe retries.
//! What an event did is audit-logged in its transaction, as done by `system:stripe`; an event
//! processed before appends nothing.

use sqlx::{Postgres, Transaction};

use super::db;
use super::model::STRIPE;
use super::refunds;
use super::settle::{self, AfterCommit, PublicChange};
use crate::error::{AppError, Result};
use crate::state::AppState;
use crate::stripe::{Charge, EventObject, Refund, SignatureError, parse_event, verify_signature};

/// Checks the signature against the raw body (400 `invalid_signature`, nothing changes), then
/// processes the event once.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn receive(state: &AppState, signature: Option<&str>, body: &[u8]) -> Result<()> {
    use secrecy::ExposeSecret;
    let now = chrono::Utc::now().timestamp();
    verify_signature(signature, body, state.settings.stripe.webhook_secret.expose_secret(), now).map_err(|e| {
        let why = match e {
            SignatureError::Missing => "missing",
            SignatureError::Malformed => "malformed",
            SignatureError::Mismatch => "mismatch",
            SignatureError::Stale => "stale",
        };
        AppError::bad_request("invalid_signature", msg!("invalid_signature", why = why))
    })?;
    let event = parse_event(body).map_err(|e| {
        tracing::error!(error = %e, body = %String::from_utf8_lossy(body), "signed Stripe event that does not parse");
        AppError::bad_request("malformed_event", msg!("malformed_event", detail = e.to_string()))
    })?;
    tracing::info!(event = %event.id, kind = %event.kind, "Stripe event");
    let mut tx = state.db.begin().await?;
    if !db::record_event(&mut tx, &event.id, &event.kind).await? {
        return Ok(()); // processed before
    }
    let after = match (event.kind.as_str(), &event.object) {
        ("payment_intent.succeeded", EventObject::PaymentIntent(pi)) => settle::intent_succeeded(&mut tx, pi).await?,
        ("charge.refunded", EventObject::Charge(charge)) => charge_refunded(&mut tx, charge).await?,
        (kind, EventObject::Refund(refund)) if kind.starts_with("refund.") || kind.starts_with("charge.refund.") => {
            refund_changed(&mut tx, refund).await?
        }
        _ => AfterCommit::default(),
    };
    after.commit(state, tx).await
}

/// A refund object Stripe reports on: completes or fails our refund of that id.
async fn refund_changed(tx: &mut Transaction<'_, Postgres>, refund: &Refund) -> Result<AfterCommit> {
    let Some(ours) = db::lock_refund_by_stripe_id(tx, &refund.id).await? else {
        tracing::warn!(refund = %refund.id, "Stripe refund of no refund of ours; acknowledged");
        return Ok(AfterCommit::default());
    };
    let (entry, completed) = match refund.status.as_str() {
        "succeeded" => {
            let entry = refunds::complete_in(tx, ours.id, None, STRIPE).await?;
            let completed = entry.is_some();
            (entry, completed)
        }
        "failed" | "canceled" => (refunds::fail_in(tx, ours.id, &format!("Stripe: {}", refund.status)).await?, false),
        _ => (None, false),
    };
    Ok(AfterCommit { audit: entry.into_iter().collect(), public: PublicChange::everything_if(completed), refund: None })
}

/// A charge's refunded total grew: completes our pending refunds of that payment, oldest first,
/// as far as the total covers them (Stripe's total is cumulative).
async fn charge_refunded(tx: &mut Transaction<'_, Postgres>, charge: &Charge) -> Result<AfterCommit> {
    let Some(intent) = charge.payment_intent.as_deref() else { return Ok(AfterCommit::default()) };
    let Some(payment) = db::lock_payment_by_intent(tx, intent).await? else {
        tracing::warn!(charge = %charge.id, "refunded charge of no payment of ours; acknowledged");
        return Ok(AfterCommit::default());
    };
    let mut covered = db::refunded_through_stripe(tx, payment.id).await?;
    let mut audit = Vec::new();
    for refund in db::lock_pending_stripe_refunds(tx, payment.id).await? {
        if covered + refund.amount_fen > charge.amount_refunded {
            break;
        }
        covered += refund.amount_fen;
        audit.extend(refunds::complete_in(tx, refund.id, None, STRIPE).await?);
    }
    Ok(AfterCommit { public: PublicChange::everything_if(!audit.is_empty()), audit, refund: None })
}
