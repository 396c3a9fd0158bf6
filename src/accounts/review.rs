//! Admin decisions on organizations: verify, reject, suspend.

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::db;
use super::model::{OrgKind, OrgStatus, Organization};
use crate::error::{AppError, Result};
use crate::http::pagination::{ListParams, Page};
use crate::state::AppState;

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

/// One page of organizations by kind and status, oldest first (admins and auditors).
#[tracing::instrument(level = "debug", skip(state))]
pub async fn list(
    state: &AppState,
    kind: Option<OrgKind>,
    status: Option<OrgStatus>,
    page: &ListParams,
) -> Result<Page<Organization>> {
    let rows = db::list_organizations(&state.db, kind, status, page.after(), page.fetch()).await?;
    Ok(page.by_id(rows, |o| o.id))
}

/// What a decision did: the organization as it is now, and the members whose sessions must
/// end (everyone, when it was suspended).
#[derive(Debug)]
pub struct Decided {
    pub organization: Organization,
    /// The status it had before (for the audit trail).
    pub previous: OrgStatus,
    pub members_to_sign_out: Vec<Uuid>,
}

/// Applies the decision inside `tx` and records who took it. The caller commits, ending the
/// members' sessions before and after the commit (see `workflows::organization_review`).
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    admin_id: Uuid,
    organization_id: Uuid,
    decision: Decision,
    reason: Option<&str>,
) -> Result<Decided> {
    let current = db::lock_organization(tx, organization_id).await?.ok_or(AppError::NotFound)?;
    let Some(next) = decision.transition(current.status) else {
        return Err(AppError::conflict(
            "invalid_transition",
            msg!("organization-transition", from = current.status.as_str(), to = decision.past_tense()),
        ));
    };
    let organization = db::set_organization_status(tx, organization_id, next, reason).await?;
    db::insert_review(tx, organization_id, admin_id, current.status, next, reason).await?;
    let members_to_sign_out = if next == OrgStatus::Suspended {
        db::member_account_ids(&mut **tx, organization_id).await?
    } else {
        Vec::new()
    };
    Ok(Decided { organization, previous: current.status, members_to_sign_out })
}
