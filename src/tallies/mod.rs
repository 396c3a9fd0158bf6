//! Tallies: purchase-volume totals by buyer, enterprise, district, buyer kind, producer, origin
//! county and prefecture, category and period, net of refunds; the platform summary; and
//! reconciliation of tallies, ledger and money. Built on payments' assistance ledger, which a
//! trigger of this area folds into `tally_facts` in the same statement that appends ledger
//! rows. Design and rules: docs/tallies.md.

mod db;
mod engine;
pub mod model;
pub mod reconcile;
mod routes;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub use engine::{shanghai_today, summary, tally};
pub use model::{Dimension, TallyFilter, TallyRow};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::tallies))
        .routes(routes!(routes::summary))
        .routes(routes!(routes::reconciliation))
}
