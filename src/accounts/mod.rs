//! Accounts, organizations and their members: who can sign in, and on whose behalf.
//!
//! The area's public API is this file: the router, the model types, and the functions other
//! areas call (`producer_membership`, `enterprise_membership`, `find_organization`, ...).
//! Its SQL (`db`) is private.

mod db;
mod device;
mod forms;
mod guards;
mod members;
pub mod model;
mod registration;
mod review;
mod routes;
mod signin;

use sqlx::PgExecutor;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::error::Result;
use crate::session::SessionStore;
use crate::state::AppState;
use model::{Membership, OrgKind, OrgStatus, Organization};

pub use db::{NewAccount, NewOrganization};
pub use forms::ReasonRequest;
pub use guards::{EnterpriseMember, ProducerMember};
pub use registration::create_staff;
/// Applies an admin's decision on an organization inside the caller's transaction, which also
/// carries what the decision means to higher areas (`workflows::organization_review`).
pub use review::apply as decide_organization;
pub use review::{Decided, Decision};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::register_consumer))
        .routes(routes!(routes::register_enterprise))
        .routes(routes!(routes::register_producer))
        .routes(routes!(routes::login))
        .routes(routes!(routes::logout))
        .routes(routes!(routes::logout_all))
        .routes(routes!(routes::me))
        .routes(routes!(routes::change_password))
        .routes(routes!(routes::list_members, routes::add_member))
        .routes(routes!(routes::change_member_role, routes::remove_member))
        .routes(routes!(routes::list_organizations))
}

/// The producer organization `account_id` belongs to, with its status and the member's role.
pub async fn producer_membership(db: impl PgExecutor<'_>, account_id: Uuid) -> sqlx::Result<Option<Membership>> {
    Ok(db::memberships_of(db, account_id).await?.into_iter().find(|m| m.kind == OrgKind::Producer))
}

/// The enterprise organization `account_id` belongs to, with its status and the member's role.
pub async fn enterprise_membership(db: impl PgExecutor<'_>, account_id: Uuid) -> sqlx::Result<Option<Membership>> {
    Ok(db::memberships_of(db, account_id).await?.into_iter().find(|m| m.kind == OrgKind::Enterprise))
}

/// A producer's public profile: only verified producers have one.
pub async fn public_producer(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Organization>> {
    Ok(db::find_organization(db, id).await?.filter(|o| o.kind == OrgKind::Producer && o.status == OrgStatus::Verified))
}

/// Any organization, whatever its status (an enterprise's registered address and USCC for its
/// orders and invoices).
pub async fn find_organization(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Organization>> {
    db::find_organization(db, id).await
}

/// The organization's status, read under a share lock held until `tx` ends, so that writes
/// that depend on the status (a producer's new product is public only while the producer is
/// verified) serialize with an admin's decision instead of racing it.
pub async fn share_lock_status(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    organization_id: Uuid,
) -> sqlx::Result<Option<OrgStatus>> {
    db::share_lock_status(tx, organization_id).await
}

/// Accounts' display names by id, for reports that name buyers (unknown ids are left out).
pub async fn display_names(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, String)>> {
    db::display_names(db, ids).await
}

/// Organizations' legal names by id, for reports that name enterprises and producers.
pub async fn legal_names(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, String)>> {
    db::legal_names(db, ids).await
}

/// Ends every session of these accounts (suspended members).
pub async fn revoke_sessions(sessions: &SessionStore, account_ids: &[Uuid]) -> Result<()> {
    for account_id in account_ids {
        sessions.revoke_all(*account_id).await?;
    }
    Ok(())
}

/// Whether an account with this email exists (the demo seed runs only once).
pub async fn email_registered(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<bool> {
    Ok(db::find_credentials_by_email(db, email).await?.is_some())
}

/// Direct writes (and the buyers they make) for the demo and ledger seeds, which build verified
/// organizations without the forms.
pub mod seeding {
    pub use super::db::{
        EnterpriseBuyer, bulk_insert_consumers, consumer_ids, enterprise_buyers, first_admin, insert_account,
        insert_membership, insert_organization, set_organization_status,
    };
}
