//! Handlers for paying orders, Stripe's webhook, bank-transfer confirmation, refunds and the
//! admin lists of payments, refunds and ledger rows.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use uuid::Uuid;

use super::model::{
    BankConfirmation, BankRefundCompletion, LedgerQuery, LedgerRow, Payment, PaymentQuery, PaymentStarted, Refund,
    RefundQuery, RefundRequest, StartPayment,
};
use super::refunds::{self, Requester};
use super::{ledger, settle, start, webhook};
use crate::accounts::ProducerMember;
use crate::error::{AppError, PROBLEM_JSON as PROBLEM, Problem, Result};
use crate::http::auth::{Admin, CurrentUser, Staff};
use crate::http::extract::{Json, Path, Query, is_json, parse_json};
use crate::http::pagination::{ListParams, Page};
use crate::idempotency::{self, Save};
use crate::orders;
use crate::state::AppState;

/// Starts paying an order: a Stripe PaymentIntent (its client secret for the buyer's device)
/// or a bank transfer (the account and the reference to write on it). Requires `Idempotency-Key`.
#[utoipa::path(
    post, path = "/orders/{id}/payments", tag = "payments", request_body = StartPayment,
    params(("id" = Uuid, Path), ("Idempotency-Key" = String, Header, description = "unique per attempt; replays return the saved reply")),
    responses(
        (status = 201, body = PaymentStarted),
        (status = 400, description = "idempotency_key_required", body = Problem, content_type = PROBLEM),
        (status = 402, description = "card_declined", body = Problem, content_type = PROBLEM),
        (status = 403, description = "forbidden (a consumer asking for a bank transfer)", body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM),
        (status = 409, description = "order_not_payable | invalid_transition | order_already_paid", body = Problem, content_type = PROBLEM),
        (status = 422, body = Problem, content_type = PROBLEM),
        (status = 502, description = "payment_provider_unavailable", body = Problem, content_type = PROBLEM),
        (status = 503, description = "payment_provider_unavailable", body = Problem, content_type = PROBLEM),
        (status = 504, description = "payment_provider_unavailable", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn start_payment(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let key = idempotency::key_from(&headers)?;
    let hash = idempotency::request_hash(uri.path(), &body);
    let json = is_json(&headers);
    let outcome =
        idempotency::run(&state, user.account_id, &key, &hash, Save::After(StatusCode::CREATED), async || {
            let input: StartPayment = parse_json(json, &body)?;
            start::start(&state, &user, id, input.method).await
        })
        .await?;
    Ok(idempotency::reply(outcome, StatusCode::CREATED))
}

/// Stripe's events, signed with the endpoint's secret (`Stripe-Signature`).
#[utoipa::path(
    post, path = "/payments/stripe/webhook", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "a Stripe event, as Stripe signed it"),
    params(("Stripe-Signature" = String, Header)),
    responses(
        (status = 200, description = "processed, or already processed, or not an event the service uses"),
        (status = 400, description = "invalid_signature | malformed_event", body = Problem, content_type = PROBLEM),
        (status = 500, description = "not processed; Stripe retries", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn stripe_webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<StatusCode> {
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    webhook::receive(&state, signature, &body).await?;
    Ok(StatusCode::OK)
}

/// An admin confirms that an enterprise's bank transfer arrived; the order is paid.
///
/// Rules beyond the schema: `received_at` must not be in the future (Asia/Shanghai), 422
/// `validation_failed` naming it; `amount_fen` must be the order's total, else 422 `amount_mismatch`.
#[utoipa::path(
    post, path = "/admin/bank-transfers/{order_id}/confirm", tag = "admin", request_body = BankConfirmation,
    params(("order_id" = Uuid, Path)),
    responses(
        (status = 200, body = Payment),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM),
        (status = 409, description = "order_already_paid | order_not_payable | bank_reference_used | bank_transfer_not_started", body = Problem, content_type = PROBLEM),
        (status = 422, description = "validation_failed | amount_mismatch", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn confirm_bank_transfer(
    State(state): State<AppState>,
    admin: Admin,
    Path(order_id): Path<Uuid>,
    Json(body): Json<BankConfirmation>,
) -> Result<axum::Json<Payment>> {
    Ok(axum::Json(settle::confirm_bank_transfer(&state, &admin.0, order_id, body).await?))
}

/// Runs a refund request under its idempotency key.
async fn refund_request(
    state: &AppState,
    who: Requester,
    account_id: Uuid,
    order_id: Uuid,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response> {
    let key = idempotency::key_from(headers)?;
    let hash = idempotency::request_hash(uri.path(), body);
    let json = is_json(headers);
    let outcome = idempotency::run(state, account_id, &key, &hash, Save::After(StatusCode::CREATED), async || {
        let input: RefundRequest = parse_json(json, body)?;
        refunds::request(state, who, order_id, input).await
    })
    .await?;
    Ok(idempotency::reply(outcome, StatusCode::CREATED))
}

/// An admin refunds an order in full, one group in full (`group_id`), or units of lines, with a
/// reason. Requires `Idempotency-Key`.
#[utoipa::path(
    post, path = "/admin/orders/{id}/refunds", tag = "admin", request_body = RefundRequest,
    params(("id" = Uuid, Path), ("Idempotency-Key" = String, Header)),
    responses(
        (status = 201, body = Refund),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM),
        (status = 409, description = "order_not_paid | nothing_to_refund", body = Problem, content_type = PROBLEM),
        (status = 422, description = "validation_failed | invalid_lines | refund_exceeds_paid", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn admin_refund(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let account_id = admin.0.account_id;
    refund_request(&state, Requester::Admin { account_id }, account_id, id, &uri, &headers, &body).await
}

/// A producer refunds units of its own group (when the platform allows producer refunds).
/// Requires `Idempotency-Key`.
#[utoipa::path(
    post, path = "/producer/order-groups/{id}/refunds", tag = "producer", request_body = RefundRequest,
    params(("id" = Uuid, Path), ("Idempotency-Key" = String, Header)),
    responses(
        (status = 201, body = Refund),
        (status = 403, description = "forbidden | producer_refunds_disabled", body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM),
        (status = 409, description = "order_not_paid | nothing_to_refund", body = Problem, content_type = PROBLEM),
        (status = 422, description = "validation_failed | invalid_lines | refund_exceeds_paid", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn producer_refund(
    State(state): State<AppState>,
    me: ProducerMember,
    Path(group_id): Path<Uuid>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    if !state.settings.payments.producer_refunds_enabled {
        return Err(AppError::forbidden("producer_refunds_disabled", msg!("producer_refunds_disabled")));
    }
    let order_id = orders::order_of_own_group(&state, me.producer_id, group_id).await?;
    let who = Requester::Producer { account_id: me.account_id, group_id };
    refund_request(&state, who, me.account_id, order_id, &uri, &headers, &body).await
}

/// The order's refunds, for whoever may see the order.
#[utoipa::path(
    get, path = "/orders/{id}/refunds", tag = "payments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<Refund>), (status = 401, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM))
)]
pub async fn order_refunds(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Vec<Refund>>> {
    Ok(axum::Json(refunds::of_order(&state, &user, id).await?))
}

/// An admin records the outgoing transfer that returned a bank-transfer refund's money.
#[utoipa::path(
    post, path = "/admin/refunds/{id}/complete", tag = "admin", request_body = BankRefundCompletion,
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Refund),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 404, body = Problem, content_type = PROBLEM),
        (status = 409, description = "invalid_transition | bank_reference_used", body = Problem, content_type = PROBLEM),
        (status = 422, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn complete_bank_refund(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    Json(body): Json<BankRefundCompletion>,
) -> Result<axum::Json<Refund>> {
    Ok(axum::Json(refunds::complete_bank_refund(&state, &admin.0, id, &body.bank_reference).await?))
}

/// Payments by order, method, status and time, oldest first (admins and auditors).
#[utoipa::path(
    get, path = "/admin/payments", tag = "admin", params(PaymentQuery),
    responses((status = 200, body = Page<Payment>), (status = 403, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM))
)]
pub async fn list_payments(
    State(state): State<AppState>,
    _staff: Staff,
    Query(q): Query<PaymentQuery>,
) -> Result<axum::Json<Page<Payment>>> {
    let page = ListParams::new(q.limit, q.cursor.as_deref())?;
    Ok(axum::Json(super::list_payments(&state, &q, &page).await?))
}

/// Refunds by order, status and time, oldest first (admins and auditors).
#[utoipa::path(
    get, path = "/admin/refunds", tag = "admin", params(RefundQuery),
    responses((status = 200, body = Page<Refund>), (status = 403, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM))
)]
pub async fn list_refunds(
    State(state): State<AppState>,
    _staff: Staff,
    Query(q): Query<RefundQuery>,
) -> Result<axum::Json<Page<Refund>>> {
    let page = ListParams::new(q.limit, q.cursor.as_deref())?;
    Ok(axum::Json(refunds::list(&state, &q, &page).await?))
}

/// Assistance ledger rows by order, producer and time, oldest first (admins and auditors).
#[utoipa::path(
    get, path = "/admin/ledger", tag = "admin", params(LedgerQuery),
    responses((status = 200, body = Page<LedgerRow>), (status = 403, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM))
)]
pub async fn list_ledger(
    State(state): State<AppState>,
    _staff: Staff,
    Query(q): Query<LedgerQuery>,
) -> Result<axum::Json<Page<LedgerRow>>> {
    let page = ListParams::new(q.limit, q.cursor.as_deref())?;
    Ok(axum::Json(ledger::list(&state, &q, &page).await?))
}
