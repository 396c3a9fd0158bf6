//! The public catalog: products at public prices, their price history, the price board, and
//! the listing review that decides what is public.

mod alerts;
pub mod board;
pub mod cache;
pub mod db;
pub mod listing;
pub mod model;
mod routes;
pub mod search;

use sqlx::PgExecutor;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::startup::AppState;

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
/// through `CatalogCache::commit` so that public reads see the change at once.
pub async fn set_producer_active(db: impl PgExecutor<'_>, producer_id: Uuid, active: bool) -> sqlx::Result<u64> {
    db::set_producer_active(db, producer_id, active).await
}
