//! Placing an order: price every line from the current ladder, split by producer, reserve
//! all stock in one transaction — or report every bad line and reserve nothing.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use serde::Deserialize;
use utoipa::ToSchema;

use super::bulk;
use super::buyer::Buyer;
use super::db::{self, NewOrder};
use super::limits::{admit_creation, hold_within_limits};
use super::model::{
    Change, GroupRow, GroupStatus, Invoice, MAX_JSON_LINES, MAX_LINE_QTY, Order, OrderLine, OrderRow, OrderStatus,
    ShippingAddress, StatusChange,
};
use crate::accounts::{self, model::Phone, model::Uscc};
use crate::catalog::{self, Orderable, model::Ladder};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::extract::parse_json;
use crate::idempotency;
use crate::regions::{self, model::Adcode};
use crate::state::AppState;
use crate::text::{self, Text, limits};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    product_id: Uuid,
    #[schema(minimum = 1, maximum = 100_000)]
    #[serde(deserialize_with = "crate::http::whole::int")]
    qty: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    /// Either `lines` (1 to 200) or `from_cart: true`.
    #[schema(min_items = 1, max_items = 200)]
    lines: Option<Vec<LineInput>>,
    #[serde(default)]
    from_cart: bool,
    shipping_address: ShippingAddress,
    /// Enterprise orders only: the buyer's purchase-order number.
    #[schema(max_length = 64, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    po_number: Option<String>,
    /// Enterprise orders only; `tax_id` defaults to the enterprise's USCC.
    invoice: Option<Invoice>,
}

/// Checks a shipping address, recording problems under `shipping_address.`.
async fn check_shipping(state: &AppState, a: &ShippingAddress, errors: &mut FieldErrors) -> Result<()> {
    errors.check("shipping_address.recipient", Text::parse(&a.recipient, limits::NAME));
    errors.check("shipping_address.phone", Phone::parse(&a.phone));
    errors.check("shipping_address.detail", Text::parse(&a.detail, limits::ADDRESS));
    let known = match Adcode::parse(a.adcode) {
        Ok(code) => regions::describe(&state.db, code.get()).await?.is_some(),
        Err(_) => false,
    };
    if !known {
        errors.add("shipping_address.adcode", msg!("adcode-unknown"));
    }
    Ok(())
}

/// The invoice with its tax id defaulted to the enterprise's USCC. A tax id that is given must
/// be a valid USCC (stored normalized, upper-case): it goes on a fapiao (发票), and an invalid
/// one makes the invoice unusable for the enterprise.
async fn invoice_for(
    state: &AppState,
    buyer: &Buyer,
    invoice: Option<Invoice>,
    errors: &mut FieldErrors,
) -> Result<Option<Invoice>> {
    let Some(mut invoice) = invoice else { return Ok(None) };
    let Some(org) = buyer.organization_id() else {
        errors.add("invoice", msg!("invoice-enterprise-only"));
        return Ok(None);
    };
    errors.check("invoice.title", Text::parse(&invoice.title, limits::ADDRESS));
    match invoice.tax_id.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(raw) => invoice.tax_id = errors.check("invoice.tax_id", Uscc::parse(raw)).map(|u| u.as_str().to_string()),
        None => invoice.tax_id = accounts::find_organization(&state.db, org).await?.map(|o| o.uscc),
    }
    Ok(Some(invoice))
}

/// Places an order from a JSON body (explicit lines or the cart), every field checked first.
/// Counts as an order creation of the account and of the `client` address (429 past the rate).
#[tracing::instrument(skip_all, fields(buyer = %buyer.account_id()))]
pub async fn place_json(
    state: &AppState,
    buyer: &Buyer,
    client: IpAddr,
    key: &str,
    is_json: bool,
    body: &[u8],
) -> Result<Order> {
    admit_creation(state, buyer.account_id(), client).await?;
    let input: OrderInput = parse_json(is_json, body)?;
    let mut errors = FieldErrors::new();
    check_shipping(state, &input.shipping_address, &mut errors).await?;
    let raw: Vec<(Uuid, i64)> = match (&input.lines, input.from_cart) {
        (Some(lines), false) => lines.iter().map(|l| (l.product_id, l.qty)).collect(),
        (None, true) => {
            db::cart_items(&state.db, buyer.account_id()).await?.into_iter().map(|(p, q)| (p, q as i64)).collect()
        }
        _ => {
            errors.add("lines", msg!("lines-or-cart"));
            Vec::new()
        }
    };
    if raw.is_empty() && errors.is_empty() {
        errors.add(if input.from_cart { "from_cart" } else { "lines" }, msg!("order-no-lines"));
    }
    if raw.len() > MAX_JSON_LINES {
        errors.add("lines", msg!("order-too-many-lines", max = MAX_JSON_LINES));
    }
    let po_number = errors.check("po_number", text::optional(input.po_number.as_deref(), limits::PO_NUMBER));
    if po_number.as_ref().is_some_and(Option::is_some) && buyer.organization_id().is_none() {
        errors.add("po_number", msg!("po-number-enterprise-only"));
    }
    let invoice = invoice_for(state, buyer, input.invoice.clone(), &mut errors).await?;
    let Some(po_number) = po_number.filter(|_| errors.is_empty()) else {
        return Err(errors.into_error());
    };
    let wanted = check_lines(&raw)?;
    let placement = Placement {
        buyer,
        wanted,
        shipping: &input.shipping_address,
        po_number: po_number.as_deref(),
        invoice,
        from_cart: input.from_cart,
        approval_threshold_fen: approval_threshold(state, buyer).await?,
        idempotency_key: Some(key),
    };
    place(state, placement).await
}

/// Places an enterprise's bulk order from CSV, shipped to its registered address with an
/// invoice made out to it. Counts as an order creation, as `place_json` does.
#[tracing::instrument(skip_all, fields(buyer = %buyer.account_id()))]
pub async fn place_bulk(
    state: &AppState,
    buyer: &Buyer,
    client: IpAddr,
    key: &str,
    csv: &[u8],
    po_number: Option<&str>,
) -> Result<Order> {
    let Some(org_id) = buyer.organization_id() else {
        return Err(AppError::forbidden("forbidden", msg!("bulk-for-enterprises")));
    };
    admit_creation(state, buyer.account_id(), client).await?;
    let (lines, mut problems) = bulk::parse_csv(csv)?;
    let wanted = bulk_lines(state, &lines, &mut problems).await?;
    if !problems.is_empty() {
        return Err(bulk::refusal(problems));
    }
    let org = accounts::find_organization(&state.db, org_id).await?.ok_or(AppError::NotFound)?;
    let shipping = ShippingAddress {
        recipient: org.contact_name.clone(),
        phone: org.contact_phone.clone(),
        adcode: org.region_adcode as i64,
        detail: org.address.clone(),
    };
    let po_number = text::optional(po_number, limits::PO_NUMBER).map_err(|m| FieldErrors::single("po_number", m))?;
    let placement = Placement {
        buyer,
        wanted,
        shipping: &shipping,
        po_number: po_number.as_deref(),
        invoice: Some(Invoice { title: org.legal_name.clone(), tax_id: Some(org.uscc.clone()) }),
        from_cart: false,
        approval_threshold_fen: approval_threshold(state, buyer).await?,
        idempotency_key: Some(key),
    };
    place(state, placement).await
}

/// The enterprise's approval threshold, if the buyer is an enterprise member.
async fn approval_threshold(state: &AppState, buyer: &Buyer) -> Result<Option<i64>> {
    Ok(match buyer.organization_id() {
        Some(org) => db::approval_threshold(&state.db, org).await?,
        None => None,
    })
}

/// The unit price a buyer of `qty` pays for `product`: the tier that quantity reaches. The
/// cart prices through this too, so that what it shows is what checkout charges.
pub fn unit_price(product: &Orderable, qty: i32) -> Result<i64> {
    let ladder =
        Ladder::parse(product.tiers.0.clone()).map_err(|e| anyhow::anyhow!("stored ladder is invalid: {e}"))?;
    Ok(ladder.unit_price_for(qty as i64))
}

/// A checked request line.
/// A bulk file's readable lines checked as a JSON order's would be — shape (duplicates,
/// quantities), then against the products as they are now, unlocked — with each problem added
/// to `problems` under its row and column. Placement checks the products again under lock.
async fn bulk_lines(
    state: &AppState,
    lines: &[bulk::CsvLine],
    problems: &mut Vec<serde_json::Value>,
) -> Result<Vec<Wanted>> {
    let mut seen = HashSet::new();
    let mut shaped = Vec::new();
    for line in lines {
        if !seen.insert(line.product_id) {
            problems.push(bulk::problem(
                line.row,
                Some("product_id"),
                "duplicate_product",
                json!({"product_id": line.product_id}),
            ));
        } else if line.qty <= 0 || line.qty > MAX_LINE_QTY {
            problems.push(bulk::problem(line.row, Some("qty"), "bad_quantity", json!({"max_qty": MAX_LINE_QTY})));
        } else {
            shaped.push((line.row, Wanted { product_id: line.product_id, qty: line.qty as i32 }));
        }
    }
    let ids: Vec<Uuid> = shaped.iter().map(|(_, w)| w.product_id).collect();
    let products: BTreeMap<Uuid, Orderable> =
        catalog::orderable(&state.db, &ids).await?.into_iter().map(|p| (p.id, p)).collect();
    for (row, w) in &shaped {
        let found = json!({"product_id": w.product_id});
        match products.get(&w.product_id) {
            None => problems.push(bulk::problem(*row, Some("product_id"), "unknown_product", found)),
            Some(p) if !p.public => problems.push(bulk::problem(*row, Some("product_id"), "not_listed", found)),
            Some(p) if w.qty < p.min_order_qty => problems.push(bulk::problem(
                *row,
                Some("qty"),
                "below_min_order_qty",
                json!({"product_id": w.product_id, "min_order_qty": p.min_order_qty}),
            )),
            Some(p) if w.qty > p.stock => problems.push(bulk::problem(
                *row,
                Some("qty"),
                "insufficient_stock",
                json!({"product_id": w.product_id, "requested": w.qty, "available": p.stock}),
            )),
            Some(_) => {}
        }
    }
    Ok(shaped.into_iter().map(|(_, w)| w).collect())
}

#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub product_id: Uuid,
    pub qty: i32,
}

/// Checks the shape of the lines (quantities, duplicates); the products are checked under lock.
pub fn check_lines(lines: &[(Uuid, i64)]) -> Result<Vec<Wanted>> {
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    let mut wanted = Vec::new();
    for (i, (product_id, qty)) in lines.iter().enumerate() {
        if !seen.insert(*product_id) {
            problems.push(json!({"line": i, "product_id": product_id, "problem": "duplicate_product"}));
        } else if *qty <= 0 || *qty > MAX_LINE_QTY {
            problems
                .push(json!({"line": i, "product_id": product_id, "problem": "bad_quantity", "max_qty": MAX_LINE_QTY}));
        } else {
            wanted.push(Wanted { product_id: *product_id, qty: *qty as i32 });
        }
    }
    if problems.is_empty() {
        Ok(wanted)
    } else {
        Err(AppError::Lines {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_lines",
            detail: msg!("order-lines-invalid"),
            lines: problems.into(),
        })
    }
}

pub struct Placement<'a> {
    pub buyer: &'a Buyer,
    pub wanted: Vec<Wanted>,
    pub shipping: &'a ShippingAddress,
    pub po_number: Option<&'a str>,
    pub invoice: Option<Invoice>,
    pub from_cart: bool,
    /// Whether orders of this buyer at or above this total wait for approval.
    pub approval_threshold_fen: Option<i64>,
    /// The idempotency key to complete in the same transaction as the order.
    pub idempotency_key: Option<&'a str>,
}

/// Places the order.
///
/// Fast path: check and price the lines against a snapshot of the products, write the order,
/// and only then take the stock, product by product in id order, with an update that succeeds
/// only if the product still is as it was checked (listed, same ladder, enough stock). The
/// product rows are therefore locked only for the last statements and the commit, so orders
/// for the same popular products queue for a short time.
///
/// If any product changed or ran short meanwhile, everything is rolled back and the order is
/// placed again on the locked path, which locks the products first (in id order) and reports
/// every offending line.
///
/// Both paths open their transaction with `begin`, which refuses an order past the buyer's
/// open-order limits before anything is taken.
#[tracing::instrument(skip_all, fields(buyer = %p.buyer.account_id(), lines = p.wanted.len()))]
pub async fn place(state: &AppState, p: Placement<'_>) -> Result<Order> {
    let mut ids: Vec<Uuid> = p.wanted.iter().map(|w| w.product_id).collect();
    ids.sort();
    let snapshot: BTreeMap<Uuid, Orderable> =
        catalog::orderable(&state.db, &ids).await?.into_iter().map(|p| (p.id, p)).collect();
    check_against(&snapshot, &p.wanted)?;
    let priced = price(&snapshot, &p.wanted)?;
    let mut tx = begin(state, &p).await?;
    let order = write(state, &mut tx, &p, priced).await?;
    let mut public_changed = false;
    for line in sorted_lines(&order) {
        let product = &snapshot[&line.product_id];
        match catalog::take_stock_if_unchanged(&mut tx, product, line.qty).await? {
            Some(changed) => public_changed |= changed,
            None => {
                drop(tx); // rolls back: nothing of this attempt remains
                return place_locked(state, p).await;
            }
        }
    }
    commit(state, tx, public_changed).await?;
    Ok(order)
}

/// The careful path: lock the products in id order, check every line, reserve, write.
async fn place_locked(state: &AppState, p: Placement<'_>) -> Result<Order> {
    let mut ids: Vec<Uuid> = p.wanted.iter().map(|w| w.product_id).collect();
    ids.sort();
    let mut tx = begin(state, &p).await?;
    let products: BTreeMap<Uuid, Orderable> =
        catalog::lock_for_order(&mut tx, &ids).await?.into_iter().map(|p| (p.id, p)).collect();
    check_against(&products, &p.wanted)?;
    let mut public_changed = false;
    let mut wanted = p.wanted.clone();
    wanted.sort_by_key(|w| w.product_id);
    for w in &wanted {
        match catalog::take_stock(&mut tx, &products[&w.product_id], w.qty).await? {
            Some(changed) => public_changed |= changed,
            None => return Err(AppError::Internal(anyhow::anyhow!("stock moved under a lock"))),
        }
    }
    let priced = price(&products, &p.wanted)?;
    let order = write(state, &mut tx, &p, priced).await?;
    commit(state, tx, public_changed).await?;
    Ok(order)
}

/// The placement's transaction, opened with the buyer's open-order limits checked under the
/// buyer scope's lock (`limits::hold_within_limits`). Taken before any product row, on both
/// paths: one lock order (scope, then products) means two placements cannot deadlock, and
/// the lock holds until the order commits, so parallel orders of one buyer count each other.
async fn begin(state: &AppState, p: &Placement<'_>) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = state.db.begin().await?;
    let units: i64 = p.wanted.iter().map(|w| i64::from(w.qty)).sum();
    hold_within_limits(&state.settings.orders, &mut tx, p.buyer, units).await?;
    Ok(tx)
}

async fn commit(state: &AppState, tx: sqlx::Transaction<'_, sqlx::Postgres>, public_changed: bool) -> Result<()> {
    if public_changed { state.catalog_cache.commit(tx).await } else { Ok(tx.commit().await?) }
}

fn sorted_lines(order: &Order) -> Vec<&OrderLine> {
    let mut lines: Vec<&OrderLine> = order.groups.iter().flat_map(|g| g.lines.iter()).collect();
    lines.sort_by_key(|l| l.product_id);
    lines
}

/// Every line against the products: 422 `invalid_lines` for unknown, unlisted and below-MOQ
/// lines (with any short ones), else 409 `insufficient_stock` for short ones.
fn check_against(products: &BTreeMap<Uuid, Orderable>, wanted: &[Wanted]) -> Result<()> {
    let mut invalid = Vec::new();
    let mut short = Vec::new();
    for (i, w) in wanted.iter().enumerate() {
        match products.get(&w.product_id) {
            None => invalid.push(json!({"line": i, "product_id": w.product_id, "problem": "unknown_product"})),
            Some(prod) if !prod.public => {
                invalid.push(json!({"line": i, "product_id": w.product_id, "problem": "not_listed"}))
            }
            Some(prod) if w.qty < prod.min_order_qty => invalid.push(json!({
                "line": i, "product_id": w.product_id, "problem": "below_min_order_qty", "min_order_qty": prod.min_order_qty
            })),
            Some(prod) if w.qty > prod.stock => short.push(json!({
                "line": i, "product_id": w.product_id, "problem": "insufficient_stock", "requested": w.qty, "available": prod.stock
            })),
            Some(_) => {}
        }
    }
    if !invalid.is_empty() {
        invalid.extend(short);
        return Err(AppError::Lines {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_lines",
            detail: msg!("order-lines-not-buyable"),
            lines: invalid.into(),
        });
    }
    if !short.is_empty() {
        return Err(AppError::Lines {
            status: StatusCode::CONFLICT,
            code: "insufficient_stock",
            detail: msg!("order-lines-short"),
            lines: short.into(),
        });
    }
    Ok(())
}

/// Lines priced from the ladder tier each quantity reaches, grouped by producer.
struct Priced {
    lines: Vec<OrderLine>,
    /// producer → (group id, subtotal)
    groups: BTreeMap<Uuid, (Uuid, i64)>,
}

fn price(products: &BTreeMap<Uuid, Orderable>, wanted: &[Wanted]) -> Result<Priced> {
    let mut wanted = wanted.to_vec();
    wanted.sort_by_key(|w| w.product_id);
    let mut groups: BTreeMap<Uuid, (Uuid, i64)> = BTreeMap::new();
    let mut lines = Vec::with_capacity(wanted.len());
    for w in &wanted {
        let prod = &products[&w.product_id];
        let unit_price_fen = unit_price(prod, w.qty)?;
        let line_total_fen = unit_price_fen * w.qty as i64;
        let group = groups.entry(prod.producer_id).or_insert((Uuid::now_v7(), 0));
        group.1 += line_total_fen;
        lines.push(OrderLine {
            id: Uuid::now_v7(),
            group_id: group.0,
            product_id: w.product_id,
            title: prod.title.clone(),
            qty: w.qty,
            unit_price_fen,
            line_total_fen,
        });
    }
    Ok(Priced { lines, groups })
}

/// Where a new order starts, and until when it holds its stock: awaiting approval when a
/// purchaser's order reaches the enterprise's threshold, else pending payment.
fn first_status(state: &AppState, p: &Placement<'_>, total_fen: i64) -> (OrderStatus, chrono::DateTime<Utc>) {
    let needs_approval =
        p.buyer.needs_approval_over_threshold() && p.approval_threshold_fen.is_some_and(|t| total_fen >= t);
    let settings = &state.settings.orders;
    let (status, hold) = if needs_approval {
        (OrderStatus::AwaitingApproval, settings.approval_hold_secs)
    } else {
        (OrderStatus::PendingPayment, settings.payment_window_secs)
    };
    (status, Utc::now() + Duration::seconds(hold as i64))
}

/// One pending fulfilment group per producer.
fn new_groups(order_id: Uuid, groups: &BTreeMap<Uuid, (Uuid, i64)>) -> Vec<GroupRow> {
    groups
        .iter()
        .map(|(producer_id, (group_id, subtotal))| GroupRow {
            id: *group_id,
            order_id,
            producer_id: *producer_id,
            status: GroupStatus::Pending,
            subtotal_fen: *subtotal,
            carrier: None,
            tracking_no: None,
            shipped_at: None,
            completed_at: None,
        })
        .collect()
}

/// Writes the order, its groups, lines and first history entry (and empties the cart, and
/// stores the reply under the idempotency key) inside `tx`.
async fn write(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    p: &Placement<'_>,
    priced: Priced,
) -> Result<Order> {
    let Priced { lines, groups } = priced;
    let order_id = Uuid::now_v7();
    let total_fen: i64 = groups.values().map(|g| g.1).sum();
    let (status, expires_at) = first_status(state, p, total_fen);
    db::insert_order(
        tx,
        &NewOrder {
            id: order_id,
            buyer_id: p.buyer.account_id(),
            organization_id: p.buyer.organization_id(),
            status,
            total_fen,
            shipping_address: p.shipping,
            po_number: p.po_number,
            invoice: p.invoice.as_ref(),
            expires_at,
        },
    )
    .await?;
    let group_rows = new_groups(order_id, &groups);
    for g in &group_rows {
        db::insert_group(tx, g.id, order_id, g.producer_id, g.subtotal_fen).await?;
    }
    db::insert_lines(tx, order_id, &lines).await?;
    let actor = p.buyer.account_id();
    db::insert_history(tx, order_id, Some(actor), Change::Order { from: None, to: status }, None).await?;
    if p.from_cart {
        db::clear_cart(tx, actor).await?;
    }
    // The database stamps created_at; read it back so the reply (and its replay) is exact.
    let row: OrderRow = db::find_order(&mut **tx, order_id).await?.ok_or(AppError::NotFound)?;
    let history = vec![StatusChange {
        group_id: None,
        actor_id: Some(actor),
        from_status: None,
        to_status: status.as_str().into(),
        note: None,
        created_at: row.created_at,
    }];
    let order = Order::assemble(row, group_rows, lines, history);
    if let Some(key) = p.idempotency_key {
        idempotency::finish_in(&mut **tx, actor, key, StatusCode::CREATED, &order).await?;
    }
    Ok(order)
}
