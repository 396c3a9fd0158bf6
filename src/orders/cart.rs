//! The cart: a buyer's list of products and quantities, priced live through placement's own
//! pricing, with what would stop each line from being ordered.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::db;
use super::model::{MAX_CART_ITEMS, MAX_LINE_QTY};
use super::placing;
use crate::catalog::{self, Orderable};
use crate::error::{AppError, FieldErrors, Result};
use crate::state::AppState;

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

/// The cart, each line priced from the tier its quantity reaches, as checkout would price it.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn priced(state: &AppState, account_id: Uuid) -> Result<Cart> {
    let items = db::cart_items(&state.db, account_id).await?;
    let ids: Vec<Uuid> = items.iter().map(|(id, _)| *id).collect();
    let products: HashMap<Uuid, Orderable> =
        catalog::orderable(&state.db, &ids).await?.into_iter().map(|p| (p.id, p)).collect();
    let mut total = 0;
    let mut lines = Vec::new();
    for (product_id, qty) in items {
        let product = products.get(&product_id);
        let unavailable = !product.is_some_and(|p| p.public);
        let price = product.and_then(|p| placing::unit_price(p, qty).ok());
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CartQty {
    #[schema(minimum = 1, maximum = 100_000)]
    #[serde(deserialize_with = "crate::http::whole::int")]
    qty: i64,
}

/// Puts a public product in the cart with this quantity (replacing any earlier quantity); 422
/// `cart_full` for a new product when the cart already holds `MAX_CART_ITEMS`.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn put(state: &AppState, account_id: Uuid, product_id: Uuid, body: CartQty) -> Result<Cart> {
    if body.qty <= 0 || body.qty > MAX_LINE_QTY {
        return Err(FieldErrors::single("qty", msg!("range", min = 1, max = MAX_LINE_QTY)));
    }
    if !catalog::orderable(&state.db, &[product_id]).await?.iter().any(|p| p.public) {
        return Err(AppError::NotFound);
    }
    let mut tx = state.db.begin().await?;
    if !db::put_cart_item(&mut tx, account_id, product_id, body.qty as i32, MAX_CART_ITEMS as i64).await? {
        return Err(AppError::Unprocessable { code: "cart_full", detail: msg!("cart_full", max = MAX_CART_ITEMS) });
    }
    tx.commit().await?;
    priced(state, account_id).await
}

/// Takes a product out of the cart; 404 when it was not in it.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn remove(state: &AppState, account_id: Uuid, product_id: Uuid) -> Result<Cart> {
    if !db::delete_cart_item(&state.db, account_id, product_id).await? {
        return Err(AppError::NotFound);
    }
    priced(state, account_id).await
}
