//! The public catalog: products at public prices, their price history, the price board, and
//! the listing review that decides what is public.

mod alerts;
mod board;
mod cache;
mod db;
mod listing;
pub mod model;
mod public;
mod query;
mod routes;
pub mod search;

use sqlx::PgExecutor;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::list_categories))
        .routes(routes!(routes::list_products))
        .routes(routes!(routes::get_product))
        .routes(routes!(routes::price_history))
        .routes(routes!(routes::price_board))
        .routes(routes!(routes::get_producer))
        .routes(routes!(routes::producer_products, routes::create_product))
        .routes(routes!(routes::producer_product, routes::patch_product))
        .routes(routes!(routes::submit_product))
        .routes(routes!(routes::delist_product))
        .routes(routes!(routes::set_prices))
        .routes(routes!(routes::set_stock))
        .routes(routes!(routes::listings))
        .routes(routes!(routes::approve))
        .routes(routes!(routes::reject))
        .routes(routes!(routes::verify_certification))
        .routes(routes!(routes::revoke_certification))
        .routes(routes!(routes::price_alerts))
        .routes(routes!(routes::resolve_alert))
}

/// Shows or hides every product of a producer, as its organization is verified or suspended.
/// Called by the accounts area inside its status-change transaction; the caller commits
/// through `ReadCache::commit` so that public reads see the change at once.
pub async fn set_producer_active(db: impl PgExecutor<'_>, producer_id: Uuid, active: bool) -> sqlx::Result<u64> {
    db::set_producer_active(db, producer_id, active).await
}

pub use db::Orderable;

/// Bulk loaders for the demo seed: thousands of products and their price history per statement;
/// and what the ledger seed sells.
pub mod seeding {
    pub use super::db::{
        PriceChangeBatch, ProductBatch, SeedProduct, bulk_insert_price_changes, bulk_insert_products, seed_products,
    };
}

/// Products for a basket, locked in id order until the transaction ends.
pub async fn lock_for_order(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ids: &[Uuid],
) -> sqlx::Result<Vec<Orderable>> {
    db::lock_orderable(tx, ids).await
}

/// Products for pricing a cart (no lock).
pub async fn orderable(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<Orderable>> {
    db::orderable(db, ids).await
}

/// Whether a stock change flips what the public catalog shows (in stock or not).
fn flips(before: i32, after: i32, min_order_qty: i32) -> bool {
    (before >= min_order_qty) != (after >= min_order_qty)
}

/// Reserves `qty` units; None when short. Returns whether public reads must be invalidated
/// (the product went out of stock), as `Some(changed)`.
pub async fn take_stock(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    product: &Orderable,
    qty: i32,
) -> sqlx::Result<Option<bool>> {
    Ok(db::take_stock(tx, product.id, qty).await?.map(|after| flips(after + qty, after, product.min_order_qty)))
}

/// Reserves `qty` units if the product is still as `product` describes it (listed, same
/// ladder and minimum order) and has enough; None otherwise. `Some(changed)` says whether
/// public reads must be invalidated.
pub async fn take_stock_if_unchanged(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    product: &Orderable,
    qty: i32,
) -> sqlx::Result<Option<bool>> {
    let after = db::take_stock_if_unchanged(tx, product.id, qty, &product.tiers, product.min_order_qty).await?;
    Ok(after.map(|after| flips(after + qty, after, product.min_order_qty)))
}

/// Reserves what a batch of orders takes, `taken` being (product as locked, units) with each
/// product once. Fails unless every product had enough, since the caller locked them and
/// counted. Returns the catalog cache's scopes that the change retires (`cache::scope`): those
/// of the products that went out of stock; none when every product is still in stock.
pub async fn take_stocks(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    taken: &[(&Orderable, i32)],
) -> crate::error::Result<Vec<String>> {
    let ids: Vec<Uuid> = taken.iter().map(|(p, _)| p.id).collect();
    let qtys: Vec<i32> = taken.iter().map(|(_, q)| *q).collect();
    let after = db::take_stocks(tx, &ids, &qtys).await?;
    if after.len() != taken.len() {
        let moved = anyhow::anyhow!("stock moved under a lock: {} of {} products taken", after.len(), taken.len());
        return Err(crate::error::AppError::Internal(moved));
    }
    Ok(taken
        .iter()
        .filter(|(p, q)| flips(p.stock, p.stock - q, p.min_order_qty))
        .flat_map(|(p, _)| cache::scope::of_product(p.id, &[p.category_id]))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect())
}

/// Returns reserved units. Returns the catalog cache's scopes that the change retires: the
/// product's, if it came back into stock; else none.
pub async fn return_stock(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    product_id: Uuid,
    qty: i32,
) -> sqlx::Result<Vec<String>> {
    let after = db::return_stock(tx, product_id, qty).await?;
    Ok(if flips(after.stock - qty, after.stock, after.min_order_qty) {
        cache::scope::of_product(product_id, &[after.category_id])
    } else {
        Vec::new()
    })
}

/// Each product's origin county and category, as (product, origin adcode, category id): what
/// the assistance ledger records about a sold product when the money moves.
pub async fn ledger_facts(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, i32, i32)>> {
    db::ledger_facts(db, ids).await
}

/// Categories' names by id, for reports grouped by category.
pub async fn category_names(db: impl PgExecutor<'_>, ids: &[i32]) -> sqlx::Result<Vec<(i32, String)>> {
    db::category_names(db, ids).await
}

/// Products' titles by id, for producers' sales reports.
pub async fn product_titles(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, String)>> {
    db::product_titles(db, ids).await
}

/// Retires the cached public reads of these products (their pages, their categories' lists
/// and boards, the lists across categories) after a commit that changed them and must not
/// depend on Redis (money moved): a failure is logged, and stale entries live at most until
/// their TTL.
pub async fn retire_after_commit(state: &AppState, ids: &[Uuid]) {
    let scopes: std::collections::BTreeSet<String> = match db::ledger_facts(&state.db, ids).await {
        Ok(facts) => {
            facts.into_iter().flat_map(|(id, _, category)| cache::scope::of_product(id, &[category])).collect()
        }
        Err(e) => {
            tracing::warn!(error = ?e, "could not read the paid products' categories; retiring every cached read");
            return state.catalog_cache.bump_after_commit().await;
        }
    };
    let scopes: Vec<String> = scopes.into_iter().collect();
    if let Err(e) = state.catalog_cache.invalidate_scopes(&scopes).await {
        tracing::warn!(error = ?e, "catalog cache could not be invalidated after a commit");
    }
}

/// Takes refunded units out of the sales count.
pub async fn remove_sales(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    product_id: Uuid,
    qty: i32,
) -> sqlx::Result<()> {
    db::remove_sales(tx, product_id, qty).await
}

/// Counts units sold (the `sales` sort and figure).
pub async fn add_sales(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, product_id: Uuid, qty: i32) -> sqlx::Result<()> {
    db::add_sales(tx, product_id, qty).await
}
