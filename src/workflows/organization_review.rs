//! An admin's decision on an organization, with what it means beyond accounts: a producer's
//! products are public only while it is verified. The decision is audit-logged in the same
//! transaction.

use serde_json::json;
use uuid::Uuid;

use crate::accounts::{self, Decision, model::OrgKind, model::OrgStatus, model::Organization};
use crate::catalog;
use crate::error::Result;
use crate::identity::CurrentUser;
use crate::state::AppState;
use crate::trail::{self, Entry};

/// Applies the decision, shows or hides the producer's products in the same transaction, and
/// ends suspended members' sessions before the commit (a Redis failure changes nothing and the
/// admin sees the error) and again after it (a login that began meanwhile cannot survive).
/// The audit entry is appended last, so a refused decision leaves none.
#[tracing::instrument(level = "debug", skip(state, admin), fields(admin = %admin.account_id))]
pub async fn decide(
    state: &AppState,
    admin: &CurrentUser,
    organization_id: Uuid,
    decision: Decision,
    reason: Option<&str>,
) -> Result<Organization> {
    let mut tx = state.db.begin().await?;
    let decided = accounts::decide_organization(&mut tx, admin.account_id, organization_id, decision, reason).await?;
    accounts::revoke_sessions(&state.sessions, &decided.members_to_sign_out).await?;
    let organization = decided.organization;
    let entry = Entry::new(admin, action_of(decision), "organization", organization_id).detail(json!({
        "kind": organization.kind.as_str(),
        "from": decided.previous.as_str(),
        "to": organization.status.as_str(),
        "reason": reason,
    }));
    if organization.kind == OrgKind::Producer {
        let active = organization.status == OrgStatus::Verified;
        catalog::set_producer_active(&mut *tx, organization_id, active).await?;
        state.catalog_cache.commit_audited(tx, vec![entry]).await?;
    } else {
        trail::append(&mut tx, entry).await?;
        tx.commit().await?;
    }
    accounts::revoke_sessions(&state.sessions, &decided.members_to_sign_out).await?;
    Ok(organization)
}

/// The audit action of a decision (docs/audit.md).
fn action_of(decision: Decision) -> &'static str {
    match decision {
        Decision::Verify => "organization.verify",
        Decision::Reject => "organization.reject",
        Decision::Suspend => "organization.suspend",
    }
}
