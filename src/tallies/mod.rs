//! Tallies: purchase-volume totals of the assistance ledger, and exports of tallies and ledger
//! rows (CSV, XLSX) for admins and auditors. Design and rules: docs/tallies.md.
//!
//! The tally engine is being written on main; until it lands, this file holds only what the
//! ledger exports need (the dimensions a `group_by` may name).

mod exports;
mod routes;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(routes::export_ledger_csv)).routes(routes!(routes::export_ledger_xlsx))
}

/// What a tally groups by. Days, months and years are calendar periods in Asia/Shanghai.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Buyer,
    Enterprise,
    District,
    BuyerKind,
    Producer,
    County,
    Prefecture,
    Category,
    Day,
    Month,
    Year,
}
