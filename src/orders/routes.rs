//! Handlers for carts, orders, approvals, fulfilment and the admin order list. Each parses,
//! authorizes, calls the area's logic and shapes the reply.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::approval::{self, EnterpriseSettings, EnterpriseSettingsInput, NoteInput, approver_of};
use super::bulk::BulkQuery;
use super::buyer::buyer_of;
use super::cart::{self, Cart, CartQty};
use super::checkout::{self, OrderInput};
use super::db::OrderFilter;
use super::lifecycle;
use super::model::{GroupStatus, Order, OrderStatus};
use super::placing::{PlacementKey, Placements};
use super::read::{self, ProducerGroup};
use crate::accounts::ProducerMember;
use crate::error::FieldErrors;
use crate::error::{PROBLEM_JSON as PROBLEM, Problem, Result};
use crate::http::auth::{CurrentUser, Staff};
use crate::http::extract::{ClientIp, Json, Path, Query, is_json};
use crate::http::pagination::{ListParams, Page};
use crate::idempotency;
use crate::state::AppState;
use crate::text::{Text, limits};

// ---- cart ---------------------------------------------------------------------------------

/// The cart, priced live.
#[utoipa::path(get, path = "/cart", tag = "orders", responses((status = 200, body = Cart), (status = 401, body = Problem, content_type = PROBLEM), (status = 403, body = Problem, content_type = PROBLEM)))]
pub async fn get_cart(State(state): State<AppState>, user: CurrentUser) -> Result<axum::Json<Cart>> {
    let buyer = buyer_of(&state, &user).await?;
    Ok(axum::Json(cart::priced(&state, buyer.account_id()).await?))
}

/// Puts a product in the cart with this quantity (replacing any earlier quantity).
#[utoipa::path(
    put, path = "/cart/items/{product_id}", tag = "orders", params(("product_id" = Uuid, Path)), request_body = CartQty,
    responses((status = 200, body = Cart), (status = 404, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM))
)]
pub async fn put_cart_item(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(product_id): Path<Uuid>,
    Json(body): Json<CartQty>,
) -> Result<axum::Json<Cart>> {
    let buyer = buyer_of(&state, &user).await?;
    Ok(axum::Json(cart::put(&state, buyer.account_id(), product_id, body).await?))
}

/// Takes a product out of the cart.
#[utoipa::path(
    delete, path = "/cart/items/{product_id}", tag = "orders", params(("product_id" = Uuid, Path)),
    responses((status = 200, body = Cart), (status = 404, body = Problem, content_type = PROBLEM))
)]
pub async fn delete_cart_item(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(product_id): Path<Uuid>,
) -> Result<axum::Json<Cart>> {
    let buyer = buyer_of(&state, &user).await?;
    Ok(axum::Json(cart::remove(&state, buyer.account_id(), product_id).await?))
}

/// Places an order from explicit lines or from the cart. Requires `Idempotency-Key`. Limited
/// against stock hoarding: open unpaid orders and units per buyer (409), order creations per
/// account and client address (429); see docs/orders.md.
#[utoipa::path(
    post, path = "/orders", tag = "orders", request_body = OrderInput,
    params(("Idempotency-Key" = String, Header, description = "unique per order attempt; replays return the saved reply")),
    responses(
        (status = 201, body = Order),
        (status = 400, description = "idempotency_key_required | idempotency_key_invalid | malformed_json | unreadable_body", body = Problem, content_type = PROBLEM),
        (status = 403, description = "enterprise_not_verified", body = Problem, content_type = PROBLEM),
        (status = 409, description = "insufficient_stock | too_many_open_orders (`limit` says which) | idempotency_key_in_use", body = Problem, content_type = PROBLEM),
        (status = 422, description = "validation_failed | invalid_lines | idempotency_key_reused", body = Problem, content_type = PROBLEM),
        (status = 429, description = "too_many_orders", body = Problem, content_type = PROBLEM,
            headers(("Retry-After" = u64, description = "seconds until the window that refused ends"))),
    )
)]
pub async fn create_order(
    State(state): State<AppState>,
    Extension(placements): Extension<Placements>,
    user: CurrentUser,
    ClientIp(client): ClientIp,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let buyer = buyer_of(&state, &user).await?;
    let key = idempotency::key_from(&headers)?;
    let hash = idempotency::request_hash(uri.path(), &body);
    let json = is_json(&headers);
    let outcome = idempotency::run_claiming(&state, buyer.account_id(), &key, &hash, |claimed| {
        let key = PlacementKey { key: key.clone(), request_hash: hash.clone(), claimed };
        checkout::place_json(&state, &placements, &buyer, client, key, json, &body)
    })
    .await?;
    Ok(idempotency::reply(outcome, StatusCode::CREATED))
}

/// An enterprise purchaser's bulk order as CSV (`product_id,qty` per line, header optional, up
/// to 500 lines), shipped to the enterprise's registered address. Either the order, or a
/// per-line report and nothing reserved. Requires `Idempotency-Key`. The same limits against
/// stock hoarding as `POST /orders`.
#[utoipa::path(
    post, path = "/orders/bulk", tag = "orders", params(BulkQuery, ("Idempotency-Key" = String, Header)),
    request_body(content = String, content_type = "text/csv", description = "`product_id,qty` per line, UTF-8, header optional, up to 500 lines"),
    responses(
        (status = 201, body = Order),
        (status = 400, description = "idempotency_key_required | idempotency_key_invalid | unreadable_body", body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 409, description = "insufficient_stock | too_many_open_orders (`limit` says which) | idempotency_key_in_use", body = Problem, content_type = PROBLEM),
        (status = 422, description = "invalid_lines (per-line report)", body = Problem, content_type = PROBLEM),
        (status = 429, description = "too_many_orders", body = Problem, content_type = PROBLEM,
            headers(("Retry-After" = u64, description = "seconds until the window that refused ends"))),
    )
)]
// An axum handler's arguments are its extractors: one each is the clearest way to list them.
#[allow(clippy::too_many_arguments)]
pub async fn create_bulk_order(
    State(state): State<AppState>,
    Extension(placements): Extension<Placements>,
    user: CurrentUser,
    ClientIp(client): ClientIp,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<BulkQuery>,
    body: Bytes,
) -> Result<Response> {
    let buyer = buyer_of(&state, &user).await?;
    if buyer.organization_id().is_none() {
        return Err(crate::error::AppError::forbidden("forbidden", msg!("bulk-for-enterprises")));
    }
    let key = idempotency::key_from(&headers)?;
    let mut fingerprint = uri.path().as_bytes().to_vec();
    fingerprint.extend_from_slice(uri.query().unwrap_or("").as_bytes());
    let hash = idempotency::request_hash(&String::from_utf8_lossy(&fingerprint), &body);
    let po = query.po_number.as_deref();
    let outcome = idempotency::run_claiming(&state, buyer.account_id(), &key, &hash, |claimed| {
        let key = PlacementKey { key: key.clone(), request_hash: hash.clone(), claimed };
        checkout::place_bulk(&state, &placements, &buyer, client, key, &body, po)
    })
    .await?;
    Ok(idempotency::reply(outcome, StatusCode::CREATED))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrderListQuery {
    #[param(inline)]
    status: Option<OrderStatus>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The buyer's orders, newest first (approvers and owners: all of their enterprise's).
#[utoipa::path(get, path = "/orders", tag = "orders", params(OrderListQuery), responses((status = 200, body = Page<Order>), (status = 401, body = Problem, content_type = PROBLEM)))]
pub async fn list_orders(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<OrderListQuery>,
) -> Result<axum::Json<Page<Order>>> {
    let buyer = buyer_of(&state, &user).await?;
    let page = ListParams::new(q.limit, q.cursor.as_deref())?;
    Ok(axum::Json(read::buyer_orders(&state, &buyer, q.status, &page).await?))
}

/// One order with its groups, lines and status history.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", params(("id" = Uuid, Path)), responses((status = 200, body = Order), (status = 404, body = Problem, content_type = PROBLEM)))]
pub async fn get_order(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Order>> {
    let buyer = buyer_of(&state, &user).await?;
    let row = read::visible_order(&state, &buyer, id).await?;
    Ok(axum::Json(read::full_order(&state, row).await?))
}

/// Cancels an unpaid order; its stock comes back.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", params(("id" = Uuid, Path)), responses((status = 200, body = Order), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, description = "invalid_transition", body = Problem, content_type = PROBLEM)))]
pub async fn cancel_order(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Order>> {
    let buyer = buyer_of(&state, &user).await?;
    read::visible_order(&state, &buyer, id).await?;
    lifecycle::cancel(&state, id, buyer.account_id()).await?;
    Ok(axum::Json(read::current(&state, id).await?))
}

/// Approves an order awaiting approval: it goes on to payment with a fresh deadline.
#[utoipa::path(post, path = "/orders/{id}/approve", tag = "orders", params(("id" = Uuid, Path)), request_body = NoteInput, responses((status = 200, body = Order), (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM)))]
pub async fn approve_order(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(input): Json<NoteInput>,
) -> Result<axum::Json<Order>> {
    let approver = approver_of(&state, &user, id).await?;
    lifecycle::approve(&state, id, approver.account_id(), input.note()?.as_deref()).await?;
    Ok(axum::Json(read::current(&state, id).await?))
}

/// Rejects an order awaiting approval: it is cancelled and its stock comes back.
#[utoipa::path(post, path = "/orders/{id}/reject", tag = "orders", params(("id" = Uuid, Path)), request_body = NoteInput, responses((status = 200, body = Order), (status = 403, body = Problem, content_type = PROBLEM), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM)))]
pub async fn reject_order(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(input): Json<NoteInput>,
) -> Result<axum::Json<Order>> {
    let approver = approver_of(&state, &user, id).await?;
    lifecycle::reject(&state, id, approver.account_id(), input.note()?.as_deref()).await?;
    Ok(axum::Json(read::current(&state, id).await?))
}

/// The buyer confirms that one producer's goods arrived.
#[utoipa::path(post, path = "/orders/{id}/groups/{group_id}/confirm-receipt", tag = "orders", params(("id" = Uuid, Path), ("group_id" = Uuid, Path)), responses((status = 200, body = Order), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM)))]
pub async fn confirm_receipt(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, group_id)): Path<(Uuid, Uuid)>,
) -> Result<axum::Json<Order>> {
    let buyer = buyer_of(&state, &user).await?;
    read::visible_order(&state, &buyer, id).await?;
    lifecycle::confirm_receipt(&state, id, group_id, buyer.account_id()).await?;
    Ok(axum::Json(read::current(&state, id).await?))
}

/// Sets the enterprise's approval threshold (owner only).
#[utoipa::path(put, path = "/enterprise/settings", tag = "orders", request_body = EnterpriseSettingsInput, responses((status = 200, body = EnterpriseSettings), (status = 403, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM)))]
pub async fn put_enterprise_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(input): Json<EnterpriseSettingsInput>,
) -> Result<axum::Json<EnterpriseSettings>> {
    Ok(axum::Json(approval::set_threshold(&state, &user, input).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GroupListQuery {
    #[param(inline)]
    status: Option<GroupStatus>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The producer's paid (and later) fulfilment groups, newest first.
#[utoipa::path(get, path = "/producer/order-groups", tag = "producer", params(GroupListQuery), responses((status = 200, body = Page<ProducerGroup>), (status = 403, body = Problem, content_type = PROBLEM)))]
pub async fn producer_groups(
    State(state): State<AppState>,
    me: ProducerMember,
    Query(q): Query<GroupListQuery>,
) -> Result<axum::Json<Page<ProducerGroup>>> {
    let page = ListParams::new(q.limit, q.cursor.as_deref())?;
    Ok(axum::Json(read::producer_groups_page(&state, me.producer_id, q.status, &page).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipInput {
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    carrier: String,
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    tracking_no: String,
}

/// Marks one of the producer's paid groups shipped.
#[utoipa::path(post, path = "/producer/order-groups/{id}/ship", tag = "producer", params(("id" = Uuid, Path)), request_body = ShipInput, responses((status = 200, body = ProducerGroup), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM)))]
pub async fn ship_group(
    State(state): State<AppState>,
    me: ProducerMember,
    Path(id): Path<Uuid>,
    Json(input): Json<ShipInput>,
) -> Result<axum::Json<ProducerGroup>> {
    let mut errors = FieldErrors::new();
    let carrier = errors.check("carrier", Text::parse(&input.carrier, limits::CARRIER));
    let tracking = errors.check("tracking_no", Text::parse(&input.tracking_no, limits::TRACKING_NO));
    let (Some(carrier), Some(tracking)) = (carrier, tracking) else {
        return Err(errors.into_error());
    };
    let group = lifecycle::ship(&state, me.producer_id, id, me.account_id, carrier.as_str(), tracking.as_str()).await?;
    Ok(axum::Json(read::producer_groups(&state, vec![group]).await?.remove(0)))
}

// ---- admin --------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AdminOrderQuery {
    #[param(inline)]
    status: Option<OrderStatus>,
    /// Placed at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Placed before (RFC 3339).
    to: Option<DateTime<Utc>>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Every order, newest first, by status and time (admins and auditors).
#[utoipa::path(get, path = "/admin/orders", tag = "admin", params(AdminOrderQuery), responses((status = 200, body = Page<Order>), (status = 403, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM)))]
pub async fn admin_orders(
    State(state): State<AppState>,
    _staff: Staff,
    Query(q): Query<AdminOrderQuery>,
) -> Result<axum::Json<Page<Order>>> {
    let page = ListParams::new(q.limit, q.cursor.as_deref())?;
    let filter = OrderFilter { status: q.status, from: q.from, to: q.to, ..Default::default() };
    Ok(axum::Json(read::orders_page(&state, &filter, &page).await?))
}
