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

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::startup::AppState;

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
