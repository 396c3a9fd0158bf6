//! An admin's decision on an organization, with what it means beyond accounts: a producer's
//! products are public only while it is verified.

use uuid::Uuid;

use crate::accounts::{self, Decision, model::OrgKind, model::OrgStatus, model::Organization};
use crate::catalog;
use crate::error::Result;
use crate::state::AppState;

/// Applies the decision, shows or hides the producer's products in the same transaction, and
/// ends suspended members' sessions before the commit (a Redis failure changes nothing and the
/// admin sees the error) and again after it (a login that began meanwhile cannot survive).
#[tracing::instrument(skip(state))]
pub async fn decide(
    state: &AppState,
    admin_id: Uuid,
    organization_id: Uuid,
    decision: Decision,
    reason: Option<&str>,
) -> Result<Organization> {
    let mut tx = state.db.begin().await?;
    let decided = accounts::decide_organization(&mut tx, admin_id, organization_id, decision, reason).await?;
    accounts::revoke_sessions(&state.sessions, &decided.members_to_sign_out).await?;
    let organization = decided.organization;
    if organization.kind == OrgKind::Producer {
        let active = organization.status == OrgStatus::Verified;
        catalog::set_producer_active(&mut *tx, organization_id, active).await?;
        state.catalog_cache.commit(tx).await?;
    } else {
        tx.commit().await?;
    }
    accounts::revoke_sessions(&state.sessions, &decided.members_to_sign_out).await?;
    Ok(organization)
}
