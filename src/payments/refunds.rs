//! Refunds: an admin refunds an order, a group or units of lines; a producer units of its own
//! group (when config allows); the service refunds money that could not pay its order.
//!
//! A refund reserves its units on `paid_lines` when it is opened, under the order's lock; the
//! table's check (`paid_lines_refund_within_paid`) refuses more than was paid, whatever the
//! caller computed. Stripe refunds are sent after the commit with the refund's id as the
//! idempotency key, and complete from Stripe's reply or its events; bank-transfer refunds
//! complete when an admin records the outgoing transfer. Completing appends the ledger's
//! negative rows and tells the order (stock of unshipped units back, sales down, groups
//! `refunded`) in one transaction; failing gives the units back to refund again. Requesting,
//! completing and failing are audit-logged (`refund.request`, `refund.complete`, `refund.fail`)
//! in the transaction that does them.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::http::StatusCode;
use serde_json::json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::db::{self, NewRefund, PaidLineRow};
use super::ledger;
use super::model::{
    Method, PaymentRow, Refund, RefundLine, RefundLineInput, RefundQuery, RefundRequest, RefundStatus, STRIPE,
};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::pagination::{ListParams, Page};
use crate::identity::{AccountRole, CurrentUser};
use crate::orders::{self, PaidLine, model::OrderStatus};
use crate::state::AppState;
use crate::text::{Text, limits};
use crate::trail::{self, Actor, Entry};

/// Who asks for a refund, and of what.
#[derive(Debug, Clone, Copy)]
pub enum Requester {
    /// A platform admin: any part of any paid order.
    Admin { account_id: Uuid },
    /// A member of the producer: units of its own group only.
    Producer { account_id: Uuid, group_id: Uuid },
}

impl Requester {
    fn account_id(self) -> Uuid {
        match self {
            Requester::Admin { account_id } | Requester::Producer { account_id, .. } => account_id,
        }
    }

    /// Who the audit trail says asked.
    fn actor(self) -> Actor {
        match self {
            Requester::Admin { account_id } => Actor::Account { id: account_id, role: AccountRole::Admin },
            Requester::Producer { account_id, .. } => Actor::Account { id: account_id, role: AccountRole::Producer },
        }
    }
}

/// The units a refund takes back from each line.
struct Units {
    /// line → (qty, amount)
    lines: BTreeMap<Uuid, (i32, i64)>,
}

impl Units {
    fn total(&self) -> i64 {
        self.lines.values().map(|(_, amount)| amount).sum()
    }

    /// The units as the audit trail records them.
    fn detail(&self) -> serde_json::Value {
        let lines: Vec<serde_json::Value> = self
            .lines
            .iter()
            .map(|(line_id, (qty, amount))| json!({"line_id": line_id, "qty": qty, "amount_fen": amount}))
            .collect();
        lines.into()
    }

    fn columns(&self) -> (Vec<Uuid>, Vec<i32>, Vec<i64>) {
        let ids = self.lines.keys().copied().collect();
        let qtys = self.lines.values().map(|(q, _)| *q).collect();
        let amounts = self.lines.values().map(|(_, a)| *a).collect();
        (ids, qtys, amounts)
    }
}

/// Opens a refund (and, for a bank-transfer order whose admin gives the outgoing reference,
/// completes it); Stripe refunds are sent after the commit. Returns the refund as it stands.
/// A refused request appends nothing to the audit trail; a replayed `Idempotency-Key` never
/// gets here.
#[tracing::instrument(level = "debug", skip(state, body))]
pub async fn request(state: &AppState, who: Requester, order_id: Uuid, body: RefundRequest) -> Result<Refund> {
    let reason = Text::parse(&body.reason, limits::REASON).map_err(|m| FieldErrors::single("reason", m))?;
    let bank_reference = match (&body.bank_reference, who) {
        (None, _) => None,
        (Some(r), Requester::Admin { .. }) => {
            Some(Text::parse(r, limits::PO_NUMBER).map_err(|m| FieldErrors::single("bank_reference", m))?)
        }
        (Some(_), Requester::Producer { .. }) => {
            return Err(FieldErrors::single("bank_reference", msg!("bank-reference-admin-only")));
        }
    };
    let mut tx = state.db.begin().await?;
    let order = orders::lock(&mut tx, order_id).await?;
    if !matches!(order.status, OrderStatus::Paid | OrderStatus::Completed | OrderStatus::Refunded) {
        return Err(AppError::conflict("order_not_paid", msg!("order-is", status = order.status.as_str())));
    }
    let payment = db::lock_succeeded_payment(&mut tx, order_id)
        .await?
        .ok_or_else(|| AppError::conflict("order_not_paid", msg!("order-no-payment")))?;
    let paid = db::lock_paid_lines(&mut tx, order_id).await?;
    let units = units_of(&body, who, &paid)?;
    let refund_id = Uuid::now_v7();
    db::insert_refund(
        &mut tx,
        &NewRefund {
            id: refund_id,
            order_id,
            payment_id: payment.id,
            amount_fen: units.total(),
            reason: reason.as_str(),
            requested_by: Some(who.account_id()),
            automatic: false,
        },
    )
    .await?;
    let (ids, qtys, amounts) = units.columns();
    db::insert_refund_lines(&mut tx, refund_id, &ids, &qtys, &amounts).await?;
    db::add_refunded(&mut tx, &ids, &qtys, &amounts).await.map_err(over_refund)?;
    let mut audit = vec![Entry::new(who.actor(), "refund.request", "order", order_id).detail(json!({
        "refund_id": refund_id,
        "payment_id": payment.id,
        "amount_fen": units.total(),
        "reason": reason.as_str(),
        "automatic": false,
        "group_id": body.group_id.or(match who {
            Requester::Producer { group_id, .. } => Some(group_id),
            Requester::Admin { .. } => None,
        }),
        "lines": units.detail(),
    }))];
    let completes_now = payment.method == Method::BankTransfer && bank_reference.is_some();
    if completes_now {
        audit.extend(complete_in(&mut tx, refund_id, bank_reference.as_ref().map(Text::as_str), who.actor()).await?);
    }
    trail::append_all(&mut tx, audit).await?;
    tx.commit().await?;
    if completes_now {
        state.catalog_cache.bump_after_commit().await;
        state.ledger_cache.bump_after_commit().await;
    }
    if payment.method == Method::Stripe
        && let Err(e) = send_to_stripe(state, refund_id).await
    {
        // The refund is committed and its units reserved: the refund job sends it again with
        // the same key. The caller sees it pending.
        tracing::warn!(error = ?e, %refund_id, "refund not sent to Stripe yet; the refund job will retry");
    }
    view(state, refund_id).await
}

/// A 422 `refund_exceeds_paid` for the database's refusal of more refunded than paid.
fn over_refund(e: sqlx::Error) -> AppError {
    if let sqlx::Error::Database(db) = &e
        && db.constraint() == Some("paid_lines_refund_within_paid")
    {
        return AppError::Unprocessable { code: "refund_exceeds_paid", detail: msg!("refund_exceeds_paid") };
    }
    e.into()
}

/// The units the request takes back, checked against what is left to refund of each line.
fn units_of(body: &RefundRequest, who: Requester, paid: &[PaidLineRow]) -> Result<Units> {
    let own_group = match who {
        Requester::Producer { group_id, .. } => Some(group_id),
        Requester::Admin { .. } => None,
    };
    let scope = match (own_group, body.group_id) {
        (Some(_), Some(_)) => return Err(FieldErrors::single("group_id", msg!("group-implied"))),
        (Some(g), None) | (None, Some(g)) => Some(g),
        (None, None) => None,
    };
    if scope.is_some_and(|g| !paid.iter().any(|l| l.group_id == g)) {
        return Err(FieldErrors::single("group_id", msg!("group-not-paid")));
    }
    let in_scope: Vec<&PaidLineRow> = paid.iter().filter(|l| scope.is_none_or(|g| l.group_id == g)).collect();
    match (&body.lines, body.full) {
        (None, Some(true)) => everything_left(&in_scope),
        (Some(requested), None | Some(false)) if !requested.is_empty() && body.group_id.is_none() => {
            requested_units(requested, &in_scope)
        }
        _ => Err(FieldErrors::single("lines", msg!("refund-lines-or-full"))),
    }
}

/// Whatever is left to refund of these lines.
fn everything_left(lines: &[&PaidLineRow]) -> Result<Units> {
    let units: BTreeMap<Uuid, (i32, i64)> = lines
        .iter()
        .map(|l| (l.order_line_id, (l.qty - l.refunded_qty, l.amount_fen - l.refunded_fen)))
        .filter(|(_, (qty, amount))| *qty > 0 && *amount > 0)
        .collect();
    if units.is_empty() {
        return Err(AppError::conflict("nothing_to_refund", msg!("nothing_to_refund")));
    }
    Ok(Units { lines: units })
}

/// The requested units of these lines, every bad request line reported.
fn requested_units(requested: &[RefundLineInput], lines: &[&PaidLineRow]) -> Result<Units> {
    let by_id: HashMap<Uuid, &PaidLineRow> = lines.iter().map(|l| (l.order_line_id, *l)).collect();
    let mut units = BTreeMap::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for (i, r) in requested.iter().enumerate() {
        let line = by_id.get(&r.line_id);
        let left = line.map(|l| l.qty - l.refunded_qty).unwrap_or(0);
        match line {
            None => problems.push(json!({"line": i, "line_id": r.line_id, "problem": "unknown_line"})),
            Some(_) if !seen.insert(r.line_id) => {
                problems.push(json!({"line": i, "line_id": r.line_id, "problem": "duplicate_line"}))
            }
            Some(_) if r.qty <= 0 => problems.push(json!({"line": i, "line_id": r.line_id, "problem": "bad_quantity"})),
            Some(_) if r.qty > i64::from(left) => problems.push(json!({
                "line": i, "line_id": r.line_id, "problem": "refund_exceeds_paid", "requested": r.qty, "refundable": left
            })),
            Some(l) => {
                let qty = r.qty as i32;
                // The last units take whatever money is left, so that a line refunded in parts
                // adds up to exactly what was paid.
                let amount =
                    if qty == left { l.amount_fen - l.refunded_fen } else { l.amount_fen / i64::from(l.qty) * i64::from(qty) };
                units.insert(l.order_line_id, (qty, amount));
            }
        }
    }
    if problems.is_empty() {
        return Ok(Units { lines: units });
    }
    let exceeds = problems.iter().any(|p| p["problem"] == "refund_exceeds_paid");
    let (code, detail) = if exceeds {
        ("refund_exceeds_paid", msg!("refund_exceeds_paid"))
    } else {
        ("invalid_lines", msg!("refund-lines-invalid"))
    };
    Err(AppError::Lines { status: StatusCode::UNPROCESSABLE_ENTITY, code, detail, lines: problems.into() })
}

/// Opens the full refund of money that could not pay its order (no lines, no ledger rows: the
/// money never counted as assistance purchasing).
pub async fn open_automatic(
    tx: &mut Transaction<'_, Postgres>,
    payment: &PaymentRow,
    amount_fen: i64,
    reason: &str,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    let new = NewRefund {
        id,
        order_id: payment.order_id,
        payment_id: payment.id,
        amount_fen,
        reason,
        requested_by: None,
        automatic: true,
    };
    db::insert_refund(tx, &new).await?;
    Ok(id)
}

/// Completes a pending refund inside `tx`: the ledger's negative rows, and the order's side
/// (refunded amount, stock of unshipped units, sales, refunded groups). Does nothing when the
/// refund is no longer pending, so repeated events and replies complete it once. Returns the
/// completion's audit entry (done by `actor`), for the caller to append before it commits;
/// None when nothing changed.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn complete_in(
    tx: &mut Transaction<'_, Postgres>,
    refund_id: Uuid,
    bank_reference: Option<&str>,
    actor: Actor,
) -> Result<Option<Entry>> {
    let Some(refund) = db::complete_refund(tx, refund_id, bank_reference).await? else {
        return Ok(None);
    };
    let entry = Entry::new(actor, "refund.complete", "order", refund.order_id).detail(json!({
        "refund_id": refund.id,
        "payment_id": refund.payment_id,
        "amount_fen": refund.amount_fen,
        "automatic": refund.automatic,
        "stripe_refund_id": refund.stripe_refund_id,
        "bank_reference": refund.bank_reference,
    }));
    if refund.automatic {
        return Ok(Some(entry));
    }
    let lines = db::refund_lines(&mut **tx, refund_id).await?;
    ledger::record_refund(tx, refund_id, &lines).await?;
    let order_lines: HashMap<Uuid, PaidLine> =
        orders::paid_lines(tx, refund.order_id).await?.into_iter().map(|l| (l.line_id, l)).collect();
    let units: Vec<(PaidLine, i32)> =
        lines.iter().filter_map(|l| order_lines.get(&l.line_id).map(|line| (line.clone(), l.qty))).collect();
    let refunded_groups = db::fully_refunded_groups(tx, refund.order_id).await?;
    let note = format!("refund {}: {}", refund.id, refund.reason);
    orders::record_refund(tx, refund.order_id, refund.amount_fen, &units, &refunded_groups, &note).await?;
    Ok(Some(entry))
}

/// Fails a pending refund inside `tx`: its units can be refunded again. Only Stripe fails
/// refunds; returns the `refund.fail` audit entry, None when the refund was not pending.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn fail_in(tx: &mut Transaction<'_, Postgres>, refund_id: Uuid, why: &str) -> Result<Option<Entry>> {
    let Some(refund) = db::fail_refund(tx, refund_id, why).await? else {
        return Ok(None);
    };
    let entry = Entry::new(STRIPE, "refund.fail", "order", refund.order_id).detail(json!({
        "refund_id": refund.id,
        "payment_id": refund.payment_id,
        "amount_fen": refund.amount_fen,
        "automatic": refund.automatic,
        "why": why,
    }));
    tracing::warn!(refund = %refund.id, why, "refund failed");
    if !refund.automatic {
        let lines = db::refund_lines(&mut **tx, refund_id).await?;
        let ids: Vec<Uuid> = lines.iter().map(|l| l.line_id).collect();
        let qtys: Vec<i32> = lines.iter().map(|l| -l.qty).collect();
        let amounts: Vec<i64> = lines.iter().map(|l| -l.amount_fen).collect();
        db::add_refunded(tx, &ids, &qtys, &amounts).await?;
    }
    Ok(Some(entry))
}

/// Asks Stripe for a pending refund (the refund's id is the idempotency key, so a repeat is
/// safe) and applies Stripe's answer: succeeded completes it, failed or canceled fails it,
/// anything else waits for Stripe's event.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn send_to_stripe(state: &AppState, refund_id: Uuid) -> Result<()> {
    let refund = db::find_refund(&state.db, refund_id).await?.ok_or(AppError::NotFound)?;
    if refund.status != RefundStatus::Pending {
        return Ok(());
    }
    let payment = db::find_payment(&state.db, refund.payment_id).await?.ok_or(AppError::NotFound)?;
    let intent = payment
        .payment_intent_id
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("refund {refund_id} of a payment without a PaymentIntent"))?;
    let key = format!("refund-{refund_id}");
    let reply = state
        .stripe
        .create_refund(intent, refund.amount_fen, refund_id, &refund.reason, &key)
        .await
        .map_err(|e| anyhow::anyhow!("Stripe refused or did not answer the refund: {e:?}"))?;
    db::set_stripe_refund_id(&state.db, refund_id, &reply.id).await?;
    apply_stripe_status(state, refund_id, &reply.status).await
}

/// Applies a refund status Stripe reported for one of our refunds.
async fn apply_stripe_status(state: &AppState, refund_id: Uuid, status: &str) -> Result<()> {
    let mut tx = state.db.begin().await?;
    let entry = match status {
        "succeeded" => complete_in(&mut tx, refund_id, None, STRIPE).await?,
        "failed" | "canceled" => fail_in(&mut tx, refund_id, &format!("Stripe: {status}")).await?,
        _ => None,
    };
    let changed = entry.is_some();
    trail::append_all(&mut tx, entry).await?;
    tx.commit().await?;
    if changed && status == "succeeded" {
        state.catalog_cache.bump_after_commit().await;
        state.ledger_cache.bump_after_commit().await;
    }
    Ok(())
}

/// Sends again the Stripe refunds that never reached Stripe (a failed call, a crash); run by
/// the background jobs on every instance (the idempotency key makes a double send harmless).
#[tracing::instrument(level = "debug", skip(state))]
pub async fn retry_unsent(state: &AppState) -> Result<usize> {
    let ids = db::unsent_stripe_refunds(&state.db, 30.0, 50).await?;
    let mut sent = 0;
    for id in ids {
        match send_to_stripe(state, id).await {
            Ok(()) => sent += 1,
            Err(e) => tracing::warn!(error = ?e, refund = %id, "refund still not sent to Stripe"),
        }
    }
    Ok(sent)
}

/// An admin records the outgoing transfer of a pending bank-transfer refund (audit-logged as
/// the admin's `refund.complete`).
#[tracing::instrument(level = "debug", skip(state, admin), fields(admin = %admin.account_id))]
pub async fn complete_bank_refund(
    state: &AppState,
    admin: &CurrentUser,
    refund_id: Uuid,
    bank_reference: &str,
) -> Result<Refund> {
    let reference =
        Text::parse(bank_reference, limits::PO_NUMBER).map_err(|m| FieldErrors::single("bank_reference", m))?;
    let mut tx = state.db.begin().await?;
    let refund = db::lock_refund(&mut tx, refund_id).await?.ok_or(AppError::NotFound)?;
    let payment = db::find_payment(&mut *tx, refund.payment_id).await?.ok_or(AppError::NotFound)?;
    if payment.method != Method::BankTransfer {
        return Err(AppError::conflict("invalid_transition", msg!("card-refunds-by-stripe")));
    }
    if refund.status != RefundStatus::Pending {
        return Err(AppError::conflict("invalid_transition", msg!("refund-is", status = refund.status.as_str())));
    }
    let entry = complete_in(&mut tx, refund_id, Some(reference.as_str()), admin.into()).await.map_err(|e| match e {
        AppError::Database(sqlx::Error::Database(d)) if d.constraint() == Some("refunds_bank_reference_key") => {
            AppError::conflict("bank_reference_used", msg!("bank-reference-used-refund"))
        }
        other => other,
    })?;
    trail::append_all(&mut tx, entry).await?;
    tx.commit().await?;
    state.catalog_cache.bump_after_commit().await;
    state.ledger_cache.bump_after_commit().await;
    view(state, refund_id).await
}

/// A refund with its lines.
pub async fn view(state: &AppState, refund_id: Uuid) -> Result<Refund> {
    let refund = db::find_refund(&state.db, refund_id).await?.ok_or(AppError::NotFound)?;
    let lines = db::refund_lines(&state.db, refund_id).await?;
    Ok(Refund::of(refund, lines))
}

/// Refunds with their lines, in two queries.
async fn with_lines(state: &AppState, rows: Vec<super::model::RefundRow>) -> Result<Vec<Refund>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut lines: HashMap<Uuid, Vec<RefundLine>> = HashMap::new();
    for (refund_id, line) in db::lines_of_refunds(&state.db, &ids).await? {
        lines.entry(refund_id).or_default().push(line);
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let l = lines.remove(&r.id).unwrap_or_default();
            Refund::of(r, l)
        })
        .collect())
}

/// The refunds of an order its buyer may see (the same rule as the order itself).
#[tracing::instrument(level = "debug", skip(state, user), fields(account = %user.account_id))]
pub async fn of_order(state: &AppState, user: &CurrentUser, order_id: Uuid) -> Result<Vec<Refund>> {
    let buyer = orders::buyer_of(state, user).await?;
    orders::visible_order(state, &buyer, order_id).await?;
    let rows = db::refunds_of_order(&state.db, order_id).await?;
    with_lines(state, rows).await
}

/// Refunds, oldest first, by order, status and time (admins and auditors).
#[tracing::instrument(level = "debug", skip(state))]
pub async fn list(state: &AppState, q: &RefundQuery, page: &ListParams) -> Result<Page<Refund>> {
    let filter = db::ListFilter { order: q.order, producer: q.producer, from: q.from, to: q.to };
    let rows = db::list_refunds(&state.db, &filter, q.status, page.after(), page.fetch()).await?;
    let rows = page.by_id(rows, |r| r.id);
    Ok(Page { items: with_lines(state, rows.items).await?, next_cursor: rows.next_cursor })
}
