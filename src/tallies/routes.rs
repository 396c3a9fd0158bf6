//! Handlers for tallies, the platform summary, reconciliation and exports (admins and auditors),
//! an enterprise's own figures, targets and certificates, and producers' sales.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::exports::{self, Download, Format, LedgerExport, LedgerExportQuery, TalliesExport, TalliesExportQuery};
use super::model::{
    Anomalies, Certificate, CertificateIssued, CertificateRequest, EnterpriseAssistance, ProducerSales, Reconciliation,
    ReconciliationQuery, SalesQuery, Summary, TallyQuery, TallyReply, Target, TargetBody, TargetStatus, TargetsQuery,
    YearQuery, check_range,
};
use super::{anomalies, certificates, engine, enterprise, reconcile};
use crate::accounts::{EnterpriseMember, ProducerMember};
use crate::cache::Cached;
use crate::error::{FieldErrors, PROBLEM_JSON as PROBLEM, Problem, Result};
use crate::http::auth::Staff;
use crate::http::extract::{Json, Path, Query};
use crate::state::AppState;

/// Purchase totals grouped by one dimension, net of refunds, largest amount first.
///
/// Rule beyond the schema (422 `validation_failed` naming `to`): `to` is not before `from`.
#[utoipa::path(
    get, path = "/admin/tallies", tag = "tallies", params(TallyQuery),
    responses(
        (status = 200, body = TallyReply),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 422, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn tallies(State(state): State<AppState>, _staff: Staff, Query(q): Query<TallyQuery>) -> Result<Response> {
    let (filter, limit) = q.checked()?;
    Ok(json_reply(engine::tally_cached(&state, q.group_by, &filter, limit).await?))
}

/// A cached JSON body as the reply, with its entity tag.
fn json_reply(cached: Cached) -> Response {
    let headers = [(header::CONTENT_TYPE, "application/json".to_string()), (header::ETAG, cached.etag)];
    (headers, cached.body).into_response()
}

/// All-time, this year's, this month's and today's totals (Asia/Shanghai), and the number of
/// enterprises, producers and counties reached.
#[utoipa::path(
    get, path = "/admin/tallies/summary", tag = "tallies",
    responses(
        (status = 200, body = Summary),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn summary(State(state): State<AppState>, _staff: Staff) -> Result<Response> {
    Ok(json_reply(engine::summary_cached(&state).await?))
}

/// Fen-exact reconciliation of tallies, ledger, order lines and money, for orders paid in a
/// range of Shanghai days; `ok` is false and every difference is listed when anything differs.
///
/// Rule beyond the schema (422 `validation_failed` naming `to`): `to` is not before `from`.
#[utoipa::path(
    get, path = "/admin/reconciliation", tag = "tallies", params(ReconciliationQuery),
    responses(
        (status = 200, body = Reconciliation),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 422, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn reconciliation(
    State(state): State<AppState>,
    _staff: Staff,
    Query(q): Query<ReconciliationQuery>,
) -> Result<axum::Json<Reconciliation>> {
    q.checked()?;
    Ok(axum::Json(reconcile::run(&state.db, q.from, q.to).await?))
}

/// The signed-in member's enterprise: totals by year, and by month, origin county and category
/// within `year`; the year's target and progress; certificates issued.
#[utoipa::path(
    get, path = "/enterprise/assistance", tag = "tallies", params(YearQuery),
    responses(
        (status = 200, body = EnterpriseAssistance),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 422, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn enterprise_assistance(
    State(state): State<AppState>,
    member: EnterpriseMember,
    Query(q): Query<YearQuery>,
) -> Result<axum::Json<EnterpriseAssistance>> {
    let year = enterprise::year_or_current(q.year)?;
    Ok(axum::Json(enterprise::assistance(&state, &member, year).await?))
}

/// Sets the enterprise's annual assistance target (预留份额): `{"year", "amount_fen"}` or
/// `{"year", "percent", "budget_fen"}`. The owner only; purchasers and approvers read it.
///
/// Rule beyond the schema (422 `validation_failed` naming `budget_fen`): `percent` of
/// `budget_fen` must come to at least one fen.
#[utoipa::path(
    put, path = "/enterprise/assistance/target", tag = "tallies", request_body = TargetBody,
    responses(
        (status = 200, body = Target),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 422, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn set_target(
    State(state): State<AppState>,
    member: EnterpriseMember,
    Json(body): Json<TargetBody>,
) -> Result<axum::Json<Target>> {
    Ok(axum::Json(enterprise::set_target(&state, &member, &body).await?))
}

/// Issues an assistance-purchase certificate for a year (owner and approvers); the code is
/// shown only in this reply.
///
/// Rules beyond the schema: `year` must not be after the current year (Asia/Shanghai), 422
/// `validation_failed` naming `year`; the enterprise must have bought in that year, else 422
/// `nothing_to_certify`.
#[utoipa::path(
    post, path = "/enterprise/assistance/certificates", tag = "tallies", request_body = CertificateRequest,
    responses(
        (status = 201, body = CertificateIssued),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 422, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn issue_certificate(
    State(state): State<AppState>,
    member: EnterpriseMember,
    Json(body): Json<CertificateRequest>,
) -> Result<(StatusCode, axum::Json<CertificateIssued>)> {
    Ok((StatusCode::CREATED, axum::Json(certificates::issue(&state, &member, body.year).await?)))
}

/// Anyone checks a certificate code: the certified figures and whether a later refund has
/// changed them.
#[utoipa::path(
    get, path = "/certificates/{code}", tag = "tallies", params(("code" = String, Path, description = "32 hex characters")),
    responses((status = 200, body = Certificate), (status = 404, body = Problem, content_type = PROBLEM))
)]
pub async fn certificate(State(state): State<AppState>, Path(code): Path<String>) -> Result<axum::Json<Certificate>> {
    Ok(axum::Json(certificates::verify(&state, &code).await?))
}

/// The certificate as a page that prints on one A4 sheet.
#[utoipa::path(
    get, path = "/certificates/{code}/print", tag = "tallies", params(("code" = String, Path, description = "32 hex characters")),
    responses((status = 200, body = String, content_type = "text/html"), (status = 404, body = Problem, content_type = PROBLEM))
)]
pub async fn print_certificate(State(state): State<AppState>, Path(code): Path<String>) -> Result<Html<String>> {
    Ok(Html(certificates::printable(&certificates::verify(&state, &code).await?)))
}

/// Enterprises with a target for the year and their pro-rata progress, furthest behind first;
/// `behind=true` keeps only those behind it (admins and auditors).
#[utoipa::path(
    get, path = "/admin/targets", tag = "tallies", params(TargetsQuery),
    responses(
        (status = 200, body = Vec<TargetStatus>),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 422, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn targets(
    State(state): State<AppState>,
    _staff: Staff,
    Query(q): Query<TargetsQuery>,
) -> Result<axum::Json<Vec<TargetStatus>>> {
    Ok(axum::Json(enterprise::targets(&state, &q).await?))
}

/// The signed-in producer's own sales, net of refunds, by month, product and buyer kind.
///
/// Rule beyond the schema (422 `validation_failed` naming `to`): `to` is not before `from`.
#[utoipa::path(
    get, path = "/producer/sales", tag = "producer", params(SalesQuery),
    responses(
        (status = 200, body = ProducerSales),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 422, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn producer_sales(
    State(state): State<AppState>,
    producer: ProducerMember,
    Query(q): Query<SalesQuery>,
) -> Result<axum::Json<ProducerSales>> {
    let mut errors = FieldErrors::new();
    check_range(&mut errors, q.from, q.to);
    errors.into_result()?;
    Ok(axum::Json(engine::producer_sales(&state, producer.producer_id, q.from, q.to).await?))
}

/// Buyers sharing a phone, address or legal name with a producer they bought from; orders far
/// above their buyer's usual size; producers with a high refund ratio (admins and auditors).
#[utoipa::path(
    get, path = "/admin/anomalies", tag = "tallies",
    responses(
        (status = 200, body = Anomalies),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn anomalies(State(state): State<AppState>, _staff: Staff) -> Result<axum::Json<Anomalies>> {
    Ok(axum::Json(anomalies::report(&state).await?))
}

/// Every group of a tally (`GET /admin/tallies` without a top-N) over a range of days and the
/// same filters, largest amount first, as CSV (UTF-8 with a byte order mark, CRLF lines),
/// streamed as it is read. Audit-logged as `export.tallies_csv`.
///
/// Rule beyond the schema (422 `validation_failed` naming `to`): `to` is not before `from`, and
/// the range is at most 366 days, counting both.
#[utoipa::path(
    get, path = "/admin/exports/tallies.csv", tag = "tallies", params(TalliesExportQuery),
    responses(
        (status = 200, description = "attachment `tallies_<group_by>_<from>_<to>.csv`: key, name, amount_fen, qty, orders, buyers; formula-looking text starts with `'`",
         content_type = "text/csv; charset=utf-8", body = String),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 422, description = "validation_failed: `group_by` missing or unknown, `from` or `to` missing or not a date, `to` before `from` or more than 366 days on, a malformed filter", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn export_tallies_csv(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<TalliesExportQuery>,
) -> Result<Download> {
    let export = TalliesExport::parse(&q)?;
    exports::tallies(&state, &staff.0, &export, Format::Csv).await
}

/// The same groups as an XLSX workbook (amounts and counts as numbers). Audit-logged as
/// `export.tallies_xlsx`.
///
/// Rule beyond the schema (422 `validation_failed` naming `to`): `to` is not before `from`, and
/// the range is at most 366 days, counting both.
#[utoipa::path(
    get, path = "/admin/exports/tallies.xlsx", tag = "tallies", params(TalliesExportQuery),
    responses(
        (status = 200, description = "attachment `tallies_<group_by>_<from>_<to>.xlsx`: worksheet `tallies`",
         content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = [u8]),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 422, description = "validation_failed, as for tallies.csv", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn export_tallies_xlsx(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<TalliesExportQuery>,
) -> Result<Download> {
    let export = TalliesExport::parse(&q)?;
    exports::tallies(&state, &staff.0, &export, Format::Xlsx).await
}

/// The assistance ledger rows whose money moved in a range of days, as CSV (UTF-8 with a byte
/// order mark, CRLF lines), streamed as it is read. Audit-logged as `export.ledger_csv`.
///
/// Rule beyond the schema (422 `validation_failed` naming `to`): `to` is not before `from`, and
/// the range is at most 366 days, counting both.
#[utoipa::path(
    get, path = "/admin/exports/ledger.csv", tag = "tallies", params(LedgerExportQuery),
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
///
/// Rule beyond the schema (422 `validation_failed` naming `to`): `to` is not before `from`, and
/// the range is at most 366 days, counting both.
#[utoipa::path(
    get, path = "/admin/exports/ledger.xlsx", tag = "tallies", params(LedgerExportQuery),
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
