//! Accounts, organizations and their members: who can sign in, and on whose behalf.

pub mod db;
pub mod members;
pub mod model;
pub mod password;
pub mod registration;
pub mod review;
mod routes;
pub mod signin;
pub mod throttle;

use sqlx::PgExecutor;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::startup::AppState;
use model::{Membership, OrgKind, OrgStatus, Organization};

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
        .routes(routes!(routes::verify_organization))
        .routes(routes!(routes::reject_organization))
        .routes(routes!(routes::suspend_organization))
}

/// The producer organization `account_id` belongs to, with its status and the member's role.
pub async fn producer_membership(db: impl PgExecutor<'_>, account_id: Uuid) -> sqlx::Result<Option<Membership>> {
    Ok(db::memberships_of(db, account_id).await?.into_iter().find(|m| m.kind == OrgKind::Producer))
}

/// A producer's public profile: only verified producers have one.
pub async fn public_producer(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Organization>> {
    Ok(db::find_organization(db, id).await?.filter(|o| o.kind == OrgKind::Producer && o.status == OrgStatus::Verified))
}
