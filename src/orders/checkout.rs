//! Checking an order before it is placed: the body or CSV, the shipping address, the invoice,
//! the lines' shape (and, for a bulk file, the products as they are now), with every problem
//! reported at once. What is left — limits, stock, prices — is checked under lock when the
//! order is placed (`placing`).

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use serde::Deserialize;
use utoipa::ToSchema;

use super::bulk;
use super::buyer::Buyer;
use super::db;
use super::limits::admit_creation;
use super::model::{Invoice, MAX_JSON_LINES, MAX_LINE_QTY, Order, ShippingAddress};
use super::placing::{Placement, PlacementKey, Placements, Wanted};
use crate::accounts::{self, model::Phone, model::Uscc};
use crate::catalog::{self, Orderable};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::extract::parse_json;
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
    #[serde(default, deserialize_with = "crate::http::shape::opt_objects")]
    lines: Option<Vec<LineInput>>,
    #[serde(default)]
    from_cart: bool,
    #[serde(deserialize_with = "crate::http::shape::object")]
    shipping_address: ShippingAddress,
    /// Enterprise orders only: the buyer's purchase-order number.
    #[schema(max_length = 64, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    po_number: Option<String>,
    /// Enterprise orders only; `tax_id` defaults to the enterprise's USCC.
    #[serde(default, deserialize_with = "crate::http::shape::opt_object")]
    invoice: Option<Invoice>,
}

/// Checks a shipping address, recording problems under `shipping_address.`.
async fn check_shipping(state: &AppState, a: &ShippingAddress, errors: &mut FieldErrors) -> Result<()> {
    errors.check("shipping_address.recipient", Text::parse(&a.recipient, limits::NAME));
    errors.check("shipping_address.phone", Phone::parse(&a.phone));
    errors.check("shipping_address.detail", Text::parse(&a.detail, limits::ADDRESS));
    let known = match Adcode::parse(a.adcode) {
        Ok(code) => regions::exists(&state.db, code).await?,
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
#[tracing::instrument(level = "debug", skip_all, fields(buyer = %buyer.account_id()))]
pub async fn place_json(
    state: &AppState,
    placements: &Placements,
    buyer: &Buyer,
    client: IpAddr,
    key: PlacementKey,
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
        buyer: buyer.clone(),
        wanted,
        shipping: input.shipping_address,
        po_number,
        invoice,
        from_cart: input.from_cart,
        approval_threshold_fen: approval_threshold(state, buyer).await?,
        idempotency_key: Some(key),
    };
    placements.place(state, placement).await
}

/// Places an enterprise's bulk order from CSV, shipped to its registered address with an
/// invoice made out to it. Counts as an order creation, as `place_json` does.
#[tracing::instrument(level = "debug", skip_all, fields(buyer = %buyer.account_id()))]
pub async fn place_bulk(
    state: &AppState,
    placements: &Placements,
    buyer: &Buyer,
    client: IpAddr,
    key: PlacementKey,
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
        buyer: buyer.clone(),
        wanted,
        shipping,
        po_number,
        invoice: Some(Invoice { title: org.legal_name.clone(), tax_id: Some(org.uscc.clone()) }),
        from_cart: false,
        approval_threshold_fen: approval_threshold(state, buyer).await?,
        idempotency_key: Some(key),
    };
    placements.place(state, placement).await
}

/// The enterprise's approval threshold, if the buyer is an enterprise member.
async fn approval_threshold(state: &AppState, buyer: &Buyer) -> Result<Option<i64>> {
    Ok(match buyer.organization_id() {
        Some(org) => db::approval_threshold(&state.db, org).await?,
        None => None,
    })
}

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
