//! Admin decisions on organizations: verify, reject, suspend.

use sqlx::PgPool;
use uuid::Uuid;

use super::db;
use super::model::{OrgKind, OrgStatus, Organization};
use crate::catalog::{self, cache::CatalogCache};
use crate::error::{AppError, Result};
use crate::session::SessionStore;

/// What an admin can decide about an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Verify,
    Reject,
    Suspend,
}

impl Decision {
    pub fn past_tense(self) -> &'static str {
        match self {
            Decision::Verify => "verified",
            Decision::Reject => "rejected",
            Decision::Suspend => "suspended",
        }
    }

    /// The status the decision leads to, if it may be taken from `from`. Verifying also
    /// reinstates a suspended organization and reconsiders a rejected one; only a pending
    /// application can be rejected; verified and pending organizations can be suspended.
    pub fn transition(self, from: OrgStatus) -> Option<OrgStatus> {
        use OrgStatus::*;
        match (self, from) {
            (Decision::Verify, Pending | Rejected | Suspended) => Some(Verified),
            (Decision::Reject, Pending) => Some(Rejected),
            (Decision::Suspend, Pending | Verified) => Some(Suspended),
            _ => None,
        }
    }
}

/// Applies the decision and records who took it. A suspension ends every member's sessions
/// before the commit: if Redis fails, nothing changes and the admin sees the error.
#[tracing::instrument(skip(db, sessions, catalog_cache))]
pub async fn decide(
    db: &PgPool,
    sessions: &SessionStore,
    catalog_cache: &CatalogCache,
    admin_id: Uuid,
    organization_id: Uuid,
    decision: Decision,
    reason: Option<&str>,
) -> Result<Organization> {
    let mut tx = db.begin().await?;
    let current = db::lock_organization(&mut tx, organization_id).await?.ok_or(AppError::NotFound)?;
    let Some(next) = decision.transition(current.status) else {
        return Err(AppError::conflict(
            "invalid_transition",
            format!("a {} organization cannot be {}", current.status.as_str(), decision.past_tense()),
        ));
    };
    let updated = db::set_organization_status(&mut tx, organization_id, next, reason).await?;
    db::insert_review(&mut tx, organization_id, admin_id, current.status, next, reason).await?;
    let members = if next == OrgStatus::Suspended {
        db::member_account_ids(&mut *tx, organization_id).await?
    } else {
        Vec::new()
    };
    for account_id in &members {
        sessions.revoke_all(*account_id).await?;
    }
    if updated.kind == OrgKind::Producer {
        // A producer's products are public only while it is verified.
        catalog::set_producer_active(&mut *tx, organization_id, next == OrgStatus::Verified).await?;
        catalog_cache.commit(tx).await?;
    } else {
        tx.commit().await?;
    }
    for account_id in &members {
        sessions.revoke_all(*account_id).await?;
    }
    Ok(updated)
}
