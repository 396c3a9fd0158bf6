//! Workflows that span areas: where a decision in a lower area must change a higher one, the
//! workflow drives both in one transaction, so that no area calls up the stack.
//!
//! - `organization_review`: verifying or suspending a producer (accounts) changes which of its
//!   products are public (catalog).

mod organization_review;
mod routes;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::verify_organization))
        .routes(routes!(routes::reject_organization))
        .routes(routes!(routes::suspend_organization))
}
