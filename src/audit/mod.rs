//! The audit log's reading side: the hash-chained entries that every admin decision and every
//! money movement appends through `crate::trail` (in its own transaction), listed for admins
//! and auditors, and the walk that verifies the whole chain (`GET /admin/audit-log/verify`,
//! `tonggan audit-verify`). Nothing here writes: the table refuses UPDATE, DELETE and TRUNCATE,
//! and appends belong to the areas that act. Format and actions: docs/audit.md.

mod chain;
mod db;
pub mod model;
mod routes;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::{FieldErrors, Result};
use crate::http::pagination::{ListParams, Page};
use crate::state::AppState;
use model::{AuditEntry, AuditQuery};

pub use chain::verify;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(routes::audit_log)).routes(routes!(routes::verify_chain))
}

/// Entries, newest first, by actor, action, target and time. `target_id` only means something
/// with its kind (ids of different kinds may look alike), so it needs `target_kind` (422).
#[tracing::instrument(level = "debug", skip(state))]
async fn list(state: &AppState, q: &AuditQuery, page: &ListParams<i64>) -> Result<Page<AuditEntry>> {
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let filter = db::Filter {
        actor: q.actor,
        action: given(&q.action),
        target_kind: given(&q.target_kind),
        target_id: given(&q.target_id),
        from: q.from,
        to: q.to,
    };
    if filter.target_id.is_some() && filter.target_kind.is_none() {
        return Err(FieldErrors::single("target_id", msg!("required-with", other = "target_kind")));
    }
    let rows = db::list(&state.db, &filter, page.after(), page.fetch()).await?;
    Ok(page.page(rows, |row| row.seq).map(AuditEntry::from))
}
