//! Handlers for the exports of tallies and ledger rows (admins and auditors).

use axum::extract::State;

use super::exports::{self, Download, Format, LedgerExport, LedgerExportQuery};
use crate::error::{PROBLEM_JSON as PROBLEM, Problem, Result};
use crate::http::auth::Staff;
use crate::http::extract::Query;
use crate::state::AppState;

/// The assistance ledger rows whose money moved in a range of days, as CSV (UTF-8 with a byte
/// order mark, CRLF lines), streamed as it is read. Audit-logged as `export.ledger_csv`.
#[utoipa::path(
    get, path = "/admin/exports/ledger.csv", tag = "admin", params(LedgerExportQuery),
    responses(
        (status = 200, description = "attachment `ledger_<from>_<to>.csv`: one row per ledger row, refunds negative; formula-looking text starts with `'`",
         content_type = "text/csv; charset=utf-8", body = String),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 422, description = "validation_failed: `from` or `to` missing or not a date, `to` before `from` or more than 366 days on, or an unknown `group_by`", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn export_ledger_csv(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<LedgerExportQuery>,
) -> Result<Download> {
    let export = LedgerExport::parse(&q)?;
    exports::ledger(&state, &staff.0, &export, Format::Csv).await
}

/// The same rows as an XLSX workbook (amounts and quantities as numbers), written in constant
/// memory and then streamed. Audit-logged as `export.ledger_xlsx`.
#[utoipa::path(
    get, path = "/admin/exports/ledger.xlsx", tag = "admin", params(LedgerExportQuery),
    responses(
        (status = 200, description = "attachment `ledger_<from>_<to>.xlsx`: worksheet `ledger` (then `ledger 2`, ... past 1,048,575 rows)",
         content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = [u8]),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 422, description = "validation_failed, as for ledger.csv", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn export_ledger_xlsx(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<LedgerExportQuery>,
) -> Result<Download> {
    let export = LedgerExport::parse(&q)?;
    exports::ledger(&state, &staff.0, &export, Format::Xlsx).await
}
