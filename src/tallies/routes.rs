//! Handlers for tallies, the platform summary and reconciliation (admins and auditors).

use axum::extract::State;

use super::model::{Reconciliation, ReconciliationQuery, Summary, TallyQuery, TallyReply};
use super::{engine, reconcile};
use crate::error::{PROBLEM_JSON as PROBLEM, Problem, Result};
use crate::http::auth::Staff;
use crate::http::extract::Query;
use crate::state::AppState;

/// Purchase totals grouped by one dimension, net of refunds, largest amount first.
#[utoipa::path(
    get, path = "/admin/tallies", tag = "tallies", params(TallyQuery),
    responses(
        (status = 200, body = TallyReply),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 422, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn tallies(
    State(state): State<AppState>,
    _staff: Staff,
    Query(q): Query<TallyQuery>,
) -> Result<axum::Json<TallyReply>> {
    let (filter, limit) = q.checked()?;
    let items = engine::tally(&state, q.group_by, &filter, limit).await?;
    Ok(axum::Json(TallyReply { group_by: q.group_by, from: filter.from, to: filter.to, items }))
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
pub async fn summary(State(state): State<AppState>, _staff: Staff) -> Result<axum::Json<Summary>> {
    Ok(axum::Json(engine::summary(&state).await?))
}

/// Fen-exact reconciliation of tallies, ledger, order lines and money, for orders paid in a
/// range of Shanghai days; `ok` is false and every difference is listed when anything differs.
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
