//! Orders: carts, checkout without oversell, idempotent placement, enterprise approvals,
//! per-producer fulfilment, expiry.

mod approval;
mod bulk;
mod buyer;
mod cart;
mod checkout;
mod db;
mod lifecycle;
mod limits;
pub mod model;
mod payment;
mod placing;
mod read;
mod routes;
pub mod seeding;

use sqlx::PgExecutor;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::config::OrdersSettings;
use crate::state::AppState;

pub use buyer::{Buyer, buyer_of};
pub use lifecycle::{complete_due, expire_due};
pub use limits::{creations_by_account_key, creations_by_client_key};
pub use model::PaidLine;
pub use payment::{
    PayOutcome, PaymentMethod, extend_deadline, lock, mark_paid, order_of_own_group, paid_lines, pay_in, record_refund,
};
pub use placing::{Placement, PlacementKey, Wanted, place_together};
pub use read::visible_order;

/// The area's routes. Each call makes its own queue of orders to place (`placing`): one per
/// router, so one per instance.
pub fn router(settings: &OrdersSettings) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::get_cart))
        .routes(routes!(routes::put_cart_item, routes::delete_cart_item))
        .routes(routes!(routes::create_order, routes::list_orders))
        .routes(routes!(routes::create_bulk_order))
        .routes(routes!(routes::get_order))
        .routes(routes!(routes::cancel_order))
        .routes(routes!(routes::approve_order))
        .routes(routes!(routes::reject_order))
        .routes(routes!(routes::confirm_receipt))
        .routes(routes!(routes::put_enterprise_settings))
        .routes(routes!(routes::producer_groups))
        .routes(routes!(routes::ship_group))
        .routes(routes!(routes::admin_orders))
        .layer(axum::Extension(placing::Placements::new(settings.placement_batches)))
}

/// The titles order lines were bought under (what the receipt shows, whatever the product is
/// called now), as (line id, title) pairs.
pub async fn line_titles(db: impl PgExecutor<'_>, line_ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, String)>> {
    db::line_titles(db, line_ids).await
}
