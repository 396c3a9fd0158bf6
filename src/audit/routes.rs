//! Handlers for the audit log: the list and the chain's verification (admins and auditors).

use axum::extract::State;

use super::model::{AuditEntry, AuditQuery, Verification};
use crate::error::{PROBLEM_JSON as PROBLEM, Problem, Result};
use crate::http::auth::Staff;
use crate::http::extract::Query;
use crate::http::pagination::{ListParams, Page};
use crate::state::AppState;

/// Audit entries, newest first, by actor, action, target and time (admins and auditors).
#[utoipa::path(
    get, path = "/admin/audit-log", tag = "admin", params(AuditQuery),
    responses(
        (status = 200, body = Page<AuditEntry>),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
        (status = 422, description = "validation_failed (limit, cursor, from, to, actor, target_id without target_kind)", body = Problem, content_type = PROBLEM),
    )
)]
pub async fn audit_log(
    State(state): State<AppState>,
    _staff: Staff,
    Query(q): Query<AuditQuery>,
) -> Result<axum::Json<Page<AuditEntry>>> {
    let page = ListParams::new(q.limit, q.cursor.as_deref())?;
    Ok(axum::Json(super::list(&state, &q, &page).await?))
}

/// Walks the whole chain, oldest first, recomputing every content hash and link:
/// `{"ok": true, "entries", "last_seq", "last_hash"}`, or `{"ok": false, "entries_checked",
/// "first_bad": {"seq", "problem"}}` naming the first entry that does not match (still 200:
/// the check ran).
#[utoipa::path(
    get, path = "/admin/audit-log/verify", tag = "admin",
    responses(
        (status = 200, body = Verification),
        (status = 401, body = Problem, content_type = PROBLEM),
        (status = 403, body = Problem, content_type = PROBLEM),
    )
)]
pub async fn verify_chain(State(state): State<AppState>, _staff: Staff) -> Result<axum::Json<Verification>> {
    Ok(axum::Json(super::verify(&state).await?))
}
