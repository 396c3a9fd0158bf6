//! Handlers for carts, orders, approvals, fulfilment and the admin order list.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::buyer::{Buyer, buyer_of};
use super::checkout::{self, Placement};
use super::idempotency::{self, Claim};
use super::model::{
    GroupRow, GroupStatus, Invoice, MAX_CSV_LINES, MAX_JSON_LINES, Order, OrderLine, OrderStatus, ShippingAddress,
};
use super::{db, lifecycle};
use crate::accounts::model::{MemberRole, Phone, Text};
use crate::catalog::{self, ProducerMember, model::Ladder};
use crate::error::{AppError, FieldErrors, Problem, Result};
use crate::http::auth::{CurrentUser, Staff};
use crate::http::extract::{Json, Path, Query, is_json, parse_json};
use crate::http::pagination::{self, Cursor, Page};
use crate::regions::model::Adcode;
use crate::startup::AppState;
use crate::{accounts, regions};

const PROBLEM: &str = "application/problem+json";

// ---- cart ---------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct CartLine {
    product_id: Uuid,
    title: Option<String>,
    qty: i32,
    /// The unit price of the tier this quantity reaches.
    unit_price_fen: Option<i64>,
    line_total_fen: Option<i64>,
    /// Not (or no longer) publicly listed.
    unavailable: bool,
    short_of_stock: bool,
    available: Option<i32>,
    below_min_order_qty: bool,
    min_order_qty: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Cart {
    items: Vec<CartLine>,
    /// The total of the lines that can be ordered as they are.
    total_fen: i64,
    /// Whether every line can be ordered as it is.
    orderable: bool,
}

async fn priced_cart(state: &AppState, account_id: Uuid) -> Result<Cart> {
    let items = db::cart_items(&state.db, account_id).await?;
    let ids: Vec<Uuid> = items.iter().map(|(id, _)| *id).collect();
    let products = catalog::orderable(&state.db, &ids).await?;
    let mut total = 0;
    let mut lines = Vec::new();
    for (product_id, qty) in items {
        let product = products.iter().find(|p| p.id == product_id);
        let unavailable = !product.is_some_and(|p| p.public);
        let price = product.and_then(|p| Ladder::parse(p.tiers.0.clone()).ok()).map(|l| l.unit_price_for(qty as i64));
        let short = product.is_some_and(|p| p.stock < qty);
        let below = product.is_some_and(|p| qty < p.min_order_qty);
        let line_total = price.map(|p| p * qty as i64);
        if !unavailable && !short && !below {
            total += line_total.unwrap_or(0);
        }
        lines.push(CartLine {
            product_id,
            title: product.map(|p| p.title.clone()),
            qty,
            unit_price_fen: price,
            line_total_fen: line_total,
            unavailable,
            short_of_stock: short,
            available: product.map(|p| p.stock),
            below_min_order_qty: below,
            min_order_qty: product.map(|p| p.min_order_qty),
        });
    }
    let orderable =
        !lines.is_empty() && lines.iter().all(|l| !l.unavailable && !l.short_of_stock && !l.below_min_order_qty);
    Ok(Cart { items: lines, total_fen: total, orderable })
}

/// The cart, priced live.
#[utoipa::path(get, path = "/cart", tag = "orders", responses((status = 200, body = Cart), (status = 401, body = Problem, content_type = PROBLEM), (status = 403, body = Problem, content_type = PROBLEM)))]
pub async fn get_cart(State(state): State<AppState>, user: CurrentUser) -> Result<axum::Json<Cart>> {
    let buyer = buyer_of(&state.db, &user).await?;
    Ok(axum::Json(priced_cart(&state, buyer.account_id()).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CartQty {
    qty: i64,
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
    let buyer = buyer_of(&state.db, &user).await?;
    if body.qty <= 0 || body.qty > super::model::MAX_LINE_QTY {
        return Err(FieldErrors::single("qty", format!("must be from 1 to {}", super::model::MAX_LINE_QTY)));
    }
    if !catalog::orderable(&state.db, &[product_id]).await?.iter().any(|p| p.public) {
        return Err(AppError::NotFound);
    }
    db::put_cart_item(&state.db, buyer.account_id(), product_id, body.qty as i32).await?;
    Ok(axum::Json(priced_cart(&state, buyer.account_id()).await?))
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
    let buyer = buyer_of(&state.db, &user).await?;
    if !db::delete_cart_item(&state.db, buyer.account_id(), product_id).await? {
        return Err(AppError::NotFound);
    }
    Ok(axum::Json(priced_cart(&state, buyer.account_id()).await?))
}

// ---- placing orders -----------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    product_id: Uuid,
    qty: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    /// Either `lines` or `from_cart: true`.
    lines: Option<Vec<LineInput>>,
    #[serde(default)]
    from_cart: bool,
    shipping_address: ShippingAddress,
    /// Enterprise orders only: the buyer's purchase-order number.
    po_number: Option<String>,
    /// Enterprise orders only; `tax_id` defaults to the enterprise's USCC.
    invoice: Option<Invoice>,
}

async fn check_shipping(state: &AppState, a: &ShippingAddress, errors: &mut FieldErrors) -> Result<()> {
    errors.check("shipping_address.recipient", Text::parse(&a.recipient, 100));
    errors.check("shipping_address.phone", Phone::parse(&a.phone));
    errors.check("shipping_address.detail", Text::parse(&a.detail, 200));
    let known = match Adcode::parse(a.adcode) {
        Ok(code) => regions::describe(&state.db, code.get()).await?.is_some(),
        Err(_) => false,
    };
    if !known {
        errors.add("shipping_address.adcode", "must be a division code from /api/v1/regions");
    }
    Ok(())
}

/// The invoice with its tax id defaulted to the enterprise's USCC.
async fn invoice_for(
    state: &AppState,
    buyer: &Buyer,
    invoice: Option<Invoice>,
    errors: &mut FieldErrors,
) -> Result<Option<Invoice>> {
    let Some(mut invoice) = invoice else { return Ok(None) };
    let Some(org) = buyer.organization_id() else {
        errors.add("invoice", "only enterprise orders carry invoice details");
        return Ok(None);
    };
    errors.check("invoice.title", Text::parse(&invoice.title, 200));
    if invoice.tax_id.as_deref().is_none_or(|t| t.trim().is_empty()) {
        invoice.tax_id = accounts::db::find_organization(&state.db, org).await?.map(|o| o.uscc);
    }
    Ok(Some(invoice))
}

/// Runs an order placement under its idempotency key and shapes the reply.
async fn idempotent(
    state: &AppState,
    buyer: &Buyer,
    key: &str,
    hash: &str,
    run: impl AsyncFnOnce() -> Result<Order>,
) -> Result<Response> {
    match idempotency::claim(state, buyer.account_id(), key, hash).await? {
        Claim::Replay(status, body) => {
            let mut response = (status, axum::Json(body)).into_response();
            if status.is_client_error() {
                response.headers_mut().insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM));
            }
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
        Claim::Run => match run().await {
            Ok(order) => Ok((StatusCode::CREATED, axum::Json(order)).into_response()),
            Err(e) => {
                idempotency::settle_error(state, buyer.account_id(), key, &e).await?;
                Err(e)
            }
        },
    }
}

/// Places an order from explicit lines or from the cart. Requires `Idempotency-Key`.
#[utoipa::path(
    post, path = "/orders", tag = "orders", request_body = OrderInput,
    params(("Idempotency-Key" = String, Header, description = "unique per order attempt; replays return the saved reply")),
    responses(
        (status = 201, body = Order),
        (status = 400, description = "idempotency_key_required", body = Problem, content_type = PROBLEM),
        (status = 403, description = "enterprise_not_verified", body = Problem, content_type = PROBLEM),
        (status = 409, description = "insufficient_stock | idempotency_key_in_use", body = Problem, content_type = PROBLEM),
        (status = 422, description = "validation_failed | invalid_lines | idempotency_key_reused", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn create_order(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let buyer = buyer_of(&state.db, &user).await?;
    let key = idempotency::key_from(&headers)?;
    let hash = idempotency::request_hash(uri.path(), &body);
    let json = is_json(&headers);
    idempotent(&state, &buyer, &key, &hash, async || {
        let input: OrderInput = parse_json(json, &body)?;
        let mut errors = FieldErrors::new();
        check_shipping(&state, &input.shipping_address, &mut errors).await?;
        let raw: Vec<(Uuid, i64)> = match (&input.lines, input.from_cart) {
            (Some(lines), false) => lines.iter().map(|l| (l.product_id, l.qty)).collect(),
            (None, true) => {
                db::cart_items(&state.db, buyer.account_id()).await?.into_iter().map(|(p, q)| (p, q as i64)).collect()
            }
            _ => {
                errors.add("lines", "give either lines or from_cart: true");
                Vec::new()
            }
        };
        if raw.is_empty() && errors.is_empty() {
            errors.add(if input.from_cart { "from_cart" } else { "lines" }, "the order has no lines");
        }
        if raw.len() > MAX_JSON_LINES {
            errors.add("lines", format!("at most {MAX_JSON_LINES} lines; use /orders/bulk for more"));
        }
        let po_number = input.po_number.as_deref().map(str::trim).filter(|p| !p.is_empty());
        if po_number.is_some_and(|p| p.chars().count() > 64) {
            errors.add("po_number", "is too long (at most 64 characters)");
        }
        if po_number.is_some() && buyer.organization_id().is_none() {
            errors.add("po_number", "only enterprise orders carry a purchase-order number");
        }
        let invoice = invoice_for(&state, &buyer, input.invoice.clone(), &mut errors).await?;
        errors.into_result()?;
        let wanted = checkout::check_lines(&raw)?;
        place(&state, &buyer, wanted, &input.shipping_address, po_number, invoice, input.from_cart, &key).await
    })
    .await
}

#[allow(clippy::too_many_arguments)]
async fn place(
    state: &AppState,
    buyer: &Buyer,
    wanted: Vec<checkout::Wanted>,
    shipping: &ShippingAddress,
    po_number: Option<&str>,
    invoice: Option<Invoice>,
    from_cart: bool,
    key: &str,
) -> Result<Order> {
    let approval_threshold_fen = match buyer.organization_id() {
        Some(org) => db::approval_threshold(&state.db, org).await?,
        None => None,
    };
    checkout::place(
        state,
        Placement {
            buyer,
            wanted,
            shipping,
            po_number,
            invoice,
            from_cart,
            approval_threshold_fen,
            idempotency_key: Some(key),
        },
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BulkQuery {
    po_number: Option<String>,
}

/// Parses `product_id,qty` lines (header optional); every bad line is reported.
fn parse_csv(body: &[u8]) -> Result<Vec<(Uuid, i64)>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(body);
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(serde_json::json!({"row": row, "problem": "unreadable", "detail": e.to_string()}));
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        if row == 1 && record.get(0).is_some_and(|c| c.eq_ignore_ascii_case("product_id")) {
            continue;
        }
        if record.len() != 2 {
            problems.push(serde_json::json!({"row": row, "problem": "bad_row", "detail": "expected product_id,qty"}));
            continue;
        }
        match (record[0].parse::<Uuid>(), record[1].parse::<i64>()) {
            (Ok(id), Ok(qty)) => lines.push((id, qty)),
            (Err(_), _) => {
                problems.push(serde_json::json!({"row": row, "problem": "bad_product_id", "value": &record[0]}))
            }
            (_, Err(_)) => problems.push(serde_json::json!({"row": row, "problem": "bad_number", "value": &record[1]})),
        }
    }
    if lines.len() + problems.len() > MAX_CSV_LINES {
        return Err(FieldErrors::single("body", format!("at most {MAX_CSV_LINES} lines")));
    }
    if !problems.is_empty() {
        return Err(AppError::Lines {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_lines",
            detail: "some rows of the file cannot be read".into(),
            lines: problems.into(),
        });
    }
    if lines.is_empty() {
        return Err(FieldErrors::single("body", "the file has no lines"));
    }
    Ok(lines)
}

/// An enterprise purchaser's bulk order as CSV (`product_id,qty` per line, header optional, up
/// to 500 lines), shipped to the enterprise's registered address. Either the order, or a
/// per-line report and nothing reserved. Requires `Idempotency-Key`.
#[utoipa::path(
    post, path = "/orders/bulk", tag = "orders", params(BulkQuery, ("Idempotency-Key" = String, Header)),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 201, body = Order),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 409, description = "insufficient_stock", body = Problem, content_type = PROBLEM),
        (status = 422, description = "invalid_lines (per-line report)", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn create_bulk_order(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<BulkQuery>,
    body: Bytes,
) -> Result<Response> {
    let buyer = buyer_of(&state.db, &user).await?;
    let Some(org_id) = buyer.organization_id() else {
        return Err(AppError::forbidden("forbidden", "bulk orders are for enterprises"));
    };
    let key = idempotency::key_from(&headers)?;
    let mut fingerprint = uri.path().as_bytes().to_vec();
    fingerprint.extend_from_slice(uri.query().unwrap_or("").as_bytes());
    let hash = idempotency::request_hash(&String::from_utf8_lossy(&fingerprint), &body);
    idempotent(&state, &buyer, &key, &hash, async || {
        let raw = parse_csv(&body)?;
        let wanted = checkout::check_lines(&raw)?;
        let org = accounts::db::find_organization(&state.db, org_id).await?.ok_or(AppError::NotFound)?;
        let shipping = ShippingAddress {
            recipient: org.contact_name.clone(),
            phone: org.contact_phone.clone(),
            adcode: org.region_adcode as i64,
            detail: org.address.clone(),
        };
        let po_number = query.po_number.as_deref().map(str::trim).filter(|p| !p.is_empty());
        if po_number.is_some_and(|p| p.chars().count() > 64) {
            return Err(FieldErrors::single("po_number", "is too long (at most 64 characters)"));
        }
        let invoice = Some(Invoice { title: org.legal_name.clone(), tax_id: Some(org.uscc.clone()) });
        place(&state, &buyer, wanted, &shipping, po_number, invoice, false, &key).await
    })
    .await
}

// ---- reading and acting on orders ---------------------------------------------------------

/// The order, if `buyer` may see it: their own, or any of their enterprise's for approvers and
/// owners. Everyone else gets 404.
async fn visible_order(state: &AppState, buyer: &Buyer, order_id: Uuid) -> Result<super::model::OrderRow> {
    let order = db::find_order(&state.db, order_id).await?.ok_or(AppError::NotFound)?;
    let own = order.buyer_id == buyer.account_id();
    let enterprise = buyer.sees_all_of_enterprise()
        && order.organization_id.is_some()
        && order.organization_id == buyer.organization_id();
    if own || enterprise { Ok(order) } else { Err(AppError::NotFound) }
}

/// A page of full orders from up to `limit + 1` rows.
async fn orders_page(state: &AppState, rows: Vec<super::model::OrderRow>, limit: i64) -> Result<Page<Order>> {
    let page = Page::from_rows(rows, limit, |r| Cursor::encode(&r.id));
    let mut items = Vec::with_capacity(page.items.len());
    for row in page.items {
        items.push(full_order(state, row).await?);
    }
    Ok(Page { items, next_cursor: page.next_cursor })
}

/// The order as it is now, for the reply to an action on it.
async fn reply(state: &AppState, id: Uuid) -> Result<axum::Json<Order>> {
    let row = db::find_order(&state.db, id).await?.ok_or(AppError::NotFound)?;
    Ok(axum::Json(full_order(state, row).await?))
}

async fn full_order(state: &AppState, row: super::model::OrderRow) -> Result<Order> {
    let groups = db::groups_of(&state.db, row.id).await?;
    let lines = db::lines_of(&state.db, row.id).await?;
    let history = db::history_of(&state.db, row.id).await?;
    Ok(Order::assemble(row, groups, lines, history))
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
    let buyer = buyer_of(&state.db, &user).await?;
    let (limit, before) = pagination::parse::<Uuid>(q.limit, q.cursor.as_deref())?;
    let filter = if buyer.sees_all_of_enterprise() {
        db::OrderFilter { organization_id: buyer.organization_id(), status: q.status, ..Default::default() }
    } else {
        db::OrderFilter { buyer_id: Some(buyer.account_id()), status: q.status, ..Default::default() }
    };
    let rows = db::list_orders(&state.db, &filter, before, limit + 1).await?;
    Ok(axum::Json(orders_page(&state, rows, limit).await?))
}

/// One order with its groups, lines and status history.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", params(("id" = Uuid, Path)), responses((status = 200, body = Order), (status = 404, body = Problem, content_type = PROBLEM)))]
pub async fn get_order(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Order>> {
    let buyer = buyer_of(&state.db, &user).await?;
    let row = visible_order(&state, &buyer, id).await?;
    Ok(axum::Json(full_order(&state, row).await?))
}

/// Cancels an unpaid order; its stock comes back.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", params(("id" = Uuid, Path)), responses((status = 200, body = Order), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, description = "invalid_transition", body = Problem, content_type = PROBLEM)))]
pub async fn cancel_order(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Order>> {
    let buyer = buyer_of(&state.db, &user).await?;
    visible_order(&state, &buyer, id).await?;
    lifecycle::cancel(&state, id, buyer.account_id()).await?;
    reply(&state, id).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    note: Option<String>,
}

fn note_of(input: &NoteInput) -> Result<Option<String>> {
    let note = input.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 500) {
        return Err(FieldErrors::single("note", "is too long (at most 500 characters)"));
    }
    Ok(note.map(str::to_string))
}

/// The approver (or owner) acting on an enterprise order awaiting approval.
async fn approver_of(state: &AppState, user: &CurrentUser, id: Uuid) -> Result<Buyer> {
    let buyer = buyer_of(&state.db, user).await?;
    let order = db::find_order(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let same_enterprise = order.organization_id.is_some() && order.organization_id == buyer.organization_id();
    if !same_enterprise {
        return Err(AppError::NotFound);
    }
    if !buyer.sees_all_of_enterprise() {
        if order.buyer_id == buyer.account_id() {
            return Err(AppError::forbidden("forbidden", "only approvers and owners decide on orders"));
        }
        return Err(AppError::NotFound);
    }
    Ok(buyer)
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
    lifecycle::approve(&state, id, approver.account_id(), note_of(&input)?.as_deref()).await?;
    reply(&state, id).await
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
    lifecycle::reject(&state, id, approver.account_id(), note_of(&input)?.as_deref()).await?;
    reply(&state, id).await
}

/// The buyer confirms that one producer's goods arrived.
#[utoipa::path(post, path = "/orders/{id}/groups/{group_id}/confirm-receipt", tag = "orders", params(("id" = Uuid, Path), ("group_id" = Uuid, Path)), responses((status = 200, body = Order), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM)))]
pub async fn confirm_receipt(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, group_id)): Path<(Uuid, Uuid)>,
) -> Result<axum::Json<Order>> {
    let buyer = buyer_of(&state.db, &user).await?;
    visible_order(&state, &buyer, id).await?;
    lifecycle::confirm_receipt(&state, id, group_id, buyer.account_id()).await?;
    reply(&state, id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseSettingsInput {
    /// Orders by purchasers at or above this total wait for an approver; null turns it off.
    approval_threshold_fen: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnterpriseSettings {
    organization_id: Uuid,
    approval_threshold_fen: Option<i64>,
}

/// Sets the enterprise's approval threshold (owner only).
#[utoipa::path(put, path = "/enterprise/settings", tag = "orders", request_body = EnterpriseSettingsInput, responses((status = 200, body = EnterpriseSettings), (status = 403, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM)))]
pub async fn put_enterprise_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(input): Json<EnterpriseSettingsInput>,
) -> Result<axum::Json<EnterpriseSettings>> {
    let buyer = buyer_of(&state.db, &user).await?;
    let Buyer::Enterprise { organization_id, role: MemberRole::Owner, .. } = buyer else {
        return Err(AppError::forbidden("forbidden", "only the enterprise's owner sets its ordering policy"));
    };
    if input.approval_threshold_fen.is_some_and(|t| !(0..=10_000_000_000).contains(&t)) {
        return Err(FieldErrors::single("approval_threshold_fen", "must be from 0 to 10,000,000,000"));
    }
    db::set_approval_threshold(&state.db, organization_id, input.approval_threshold_fen).await?;
    Ok(axum::Json(EnterpriseSettings { organization_id, approval_threshold_fen: input.approval_threshold_fen }))
}

// ---- producers ----------------------------------------------------------------------------

/// What a producer sees of an order: its own group, its lines, and where to ship.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProducerGroup {
    #[serde(flatten)]
    group: GroupRow,
    lines: Vec<OrderLine>,
    shipping_address: ShippingAddress,
}

async fn producer_group(state: &AppState, group: GroupRow) -> Result<ProducerGroup> {
    let lines = db::lines_of_group(&state.db, group.id).await?;
    let order = db::find_order(&state.db, group.order_id).await?.ok_or(AppError::NotFound)?;
    Ok(ProducerGroup { group, lines, shipping_address: order.shipping_address.0 })
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
    let (limit, before) = pagination::parse::<Uuid>(q.limit, q.cursor.as_deref())?;
    let rows = db::list_groups_for_producer(&state.db, me.producer_id, q.status, before, limit + 1).await?;
    let page = Page::from_rows(rows, limit, |g| Cursor::encode(&g.id));
    let mut items = Vec::new();
    for g in page.items {
        items.push(producer_group(&state, g).await?);
    }
    Ok(axum::Json(Page { items, next_cursor: page.next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipInput {
    carrier: String,
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
    let carrier = errors.check("carrier", Text::parse(&input.carrier, 50));
    let tracking = errors.check("tracking_no", Text::parse(&input.tracking_no, 64));
    errors.into_result()?;
    let (carrier, tracking) = (carrier.expect("checked"), tracking.expect("checked"));
    let group = lifecycle::ship(&state, me.producer_id, id, me.account_id, carrier.as_str(), tracking.as_str()).await?;
    Ok(axum::Json(producer_group(&state, group).await?))
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
    let (limit, before) = pagination::parse::<Uuid>(q.limit, q.cursor.as_deref())?;
    let filter = db::OrderFilter { status: q.status, from: q.from, to: q.to, ..Default::default() };
    let rows = db::list_orders(&state.db, &filter, before, limit + 1).await?;
    Ok(axum::Json(orders_page(&state, rows, limit).await?))
}
