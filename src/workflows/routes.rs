//! Admin review of organizations: verify, reject, suspend.

use axum::extract::State;
use uuid::Uuid;

use super::organization_review;
use crate::accounts::{Decision, ReasonRequest, model::Organization};
use crate::error::{FieldErrors, PROBLEM_JSON, Problem, Result};
use crate::http::auth::Admin;
use crate::http::extract::{Json, Path};
use crate::state::AppState;
use crate::text::{Text, limits};

/// A decision that must say why (the applicant or organization sees the reason).
async fn decide_with_reason(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
    decision: Decision,
    body: &ReasonRequest,
) -> Result<axum::Json<Organization>> {
    let reason = Text::parse(&body.reason, limits::REASON).map_err(|m| FieldErrors::single("reason", m))?;
    let organization = organization_review::decide(state, &admin.0, id, decision, Some(reason.as_str())).await?;
    Ok(axum::Json(organization))
}

/// Verifies an organization (also reinstates a suspended or reconsiders a rejected one).
#[utoipa::path(
    post, path = "/admin/organizations/{id}/verify", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = Organization), (status = 403, body = Problem, content_type = PROBLEM_JSON), (status = 404, body = Problem, content_type = PROBLEM_JSON), (status = 409, description = "invalid_transition", body = Problem, content_type = PROBLEM_JSON))
)]
pub async fn verify_organization(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Organization>> {
    let organization = organization_review::decide(&state, &admin.0, id, Decision::Verify, None).await?;
    Ok(axum::Json(organization))
}

/// Rejects a pending organization, with a reason the applicant will see.
#[utoipa::path(
    post, path = "/admin/organizations/{id}/reject", tag = "admin", params(("id" = Uuid, Path)), request_body = ReasonRequest,
    responses((status = 200, body = Organization), (status = 403, body = Problem, content_type = PROBLEM_JSON), (status = 404, body = Problem, content_type = PROBLEM_JSON), (status = 409, description = "invalid_transition", body = Problem, content_type = PROBLEM_JSON), (status = 422, body = Problem, content_type = PROBLEM_JSON))
)]
pub async fn reject_organization(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    Json(body): Json<ReasonRequest>,
) -> Result<axum::Json<Organization>> {
    decide_with_reason(&state, &admin, id, Decision::Reject, &body).await
}

/// Suspends an organization, with a reason; every member's sessions end at once.
#[utoipa::path(
    post, path = "/admin/organizations/{id}/suspend", tag = "admin", params(("id" = Uuid, Path)), request_body = ReasonRequest,
    responses((status = 200, body = Organization), (status = 403, body = Problem, content_type = PROBLEM_JSON), (status = 404, body = Problem, content_type = PROBLEM_JSON), (status = 409, description = "invalid_transition", body = Problem, content_type = PROBLEM_JSON), (status = 422, body = Problem, content_type = PROBLEM_JSON))
)]
pub async fn suspend_organization(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    Json(body): Json<ReasonRequest>,
) -> Result<axum::Json<Organization>> {
    decide_with_reason(&state, &admin, id, Decision::Suspend, &body).await
}
