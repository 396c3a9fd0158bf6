//! Tallies: purchase-volume totals by buyer, enterprise, district, buyer kind, producer, origin
//! county and prefecture, category and period, net of refunds; the platform summary; and
//! reconciliation of tallies, ledger and money; an enterprise's own figures, annual target and
//! certificates; producers' own sales; exports of tallies and ledger rows as CSV and XLSX.
//! Built on payments' assistance ledger, which a
//! trigger of this area folds into `tally_facts` in the same statement that appends ledger
//! rows. Design and rules: docs/tallies.md.

mod anomalies;
mod certificates;
mod db;
mod engine;
mod enterprise;
mod exports;
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
        .routes(routes!(routes::enterprise_assistance))
        .routes(routes!(routes::set_target))
        .routes(routes!(routes::issue_certificate))
        .routes(routes!(routes::certificate))
        .routes(routes!(routes::print_certificate))
        .routes(routes!(routes::targets))
        .routes(routes!(routes::producer_sales))
        .routes(routes!(routes::anomalies))
        .routes(routes!(routes::export_tallies_csv))
        .routes(routes!(routes::export_tallies_xlsx))
        .routes(routes!(routes::export_ledger_csv))
        .routes(routes!(routes::export_ledger_xlsx))
}
