//! Handlers for sign-up, sign-in, `/me`, organization members and the admin list of
//! organizations. Each parses, authorizes, calls the area's logic and shapes the reply.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::device::DEVICE_COOKIE;
use super::forms::{
    AccountForm, AccountRequest, EnterpriseRegistration, LoginRequest, MemberRoleChange, NewMember, OrganizationQuery,
    PasswordChange, ProducerRegistration,
};
use super::model::{Account, Member, Membership, Organization};
use super::{members, registration, review, signin};
use crate::config::Settings;
use crate::error::{AppError, PROBLEM_JSON, Problem, Result};
use crate::http::auth::{CurrentUser, Staff, removal_cookie, session_cookie};
use crate::http::extract::{ClientIp, Json, Path, Query};
use crate::http::pagination::{ListParams, Page};
use crate::state::AppState;

// ---- reply shapes ---------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountReply {
    account: Account,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationRegistered {
    account: Account,
    organization: Organization,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    account: Account,
    memberships: Vec<Membership>,
}

/// The device cookie (see `device`): HTTP-only, sent only to the API and only same-site,
/// kept `login_throttle.device_cookie_max_age_days`.
fn device_cookie_of(settings: &Settings, value: String) -> Cookie<'static> {
    Cookie::build((DEVICE_COOKIE, value))
        .http_only(true)
        .secure(settings.session.cookie_secure)
        .same_site(SameSite::Strict)
        .path("/api/v1")
        .max_age(cookie::time::Duration::days(settings.login_throttle.device_cookie_max_age_days as i64))
        .build()
}

// ---- handlers -------------------------------------------------------------------------

/// Registers a consumer account.
#[utoipa::path(
    post, path = "/auth/register/consumer", tag = "auth", request_body = AccountRequest,
    responses(
        (status = 201, body = AccountReply),
        (status = 409, description = "email_taken", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, body = Problem, content_type = PROBLEM_JSON),
        (status = 429, description = "too_many_attempts: too many sign-ups from this address, with Retry-After", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "server_busy: no password-hashing slot came free, with Retry-After", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub async fn register_consumer(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Json(body): Json<AccountRequest>,
) -> Result<(StatusCode, axum::Json<AccountReply>)> {
    registration::admit(&state, client).await?;
    let form = AccountForm::try_from(&body)?;
    let account = registration::register_consumer(&state, form).await?;
    Ok((StatusCode::CREATED, axum::Json(AccountReply { account })))
}

/// Registers an enterprise (a Tianjin company or unit) with its owner account; it starts
/// `pending` until an admin verifies it.
#[utoipa::path(
    post, path = "/auth/register/enterprise", tag = "auth", request_body = EnterpriseRegistration,
    responses(
        (status = 201, body = OrganizationRegistered),
        (status = 409, description = "email_taken | uscc_taken", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, body = Problem, content_type = PROBLEM_JSON),
        (status = 429, description = "too_many_attempts: too many sign-ups from this address, with Retry-After", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "server_busy: no password-hashing slot came free, with Retry-After", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub async fn register_enterprise(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Json(body): Json<EnterpriseRegistration>,
) -> Result<(StatusCode, axum::Json<OrganizationRegistered>)> {
    registration::admit(&state, client).await?;
    let (org, owner) = (&body).try_into()?;
    let (account, organization) = registration::register_organization(&state, org, owner).await?;
    Ok((StatusCode::CREATED, axum::Json(OrganizationRegistered { account, organization })))
}

/// Registers a producer (a Gansu company or cooperative) with its owner account; it starts
/// `pending` until an admin verifies it.
#[utoipa::path(
    post, path = "/auth/register/producer", tag = "auth", request_body = ProducerRegistration,
    responses(
        (status = 201, body = OrganizationRegistered),
        (status = 409, description = "email_taken | uscc_taken", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, body = Problem, content_type = PROBLEM_JSON),
        (status = 429, description = "too_many_attempts: too many sign-ups from this address, with Retry-After", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "server_busy: no password-hashing slot came free, with Retry-After", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub async fn register_producer(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Json(body): Json<ProducerRegistration>,
) -> Result<(StatusCode, axum::Json<OrganizationRegistered>)> {
    registration::admit(&state, client).await?;
    let (org, owner) = (&body).try_into()?;
    let (account, organization) = registration::register_organization(&state, org, owner).await?;
    Ok((StatusCode::CREATED, axum::Json(OrganizationRegistered { account, organization })))
}

/// Signs in and sets the session cookie (always a new session id).
#[utoipa::path(
    post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = Me, description = "Signed in; the session cookie is set"),
        (status = 401, description = "invalid_credentials", body = Problem, content_type = PROBLEM_JSON),
        (status = 403, description = "account_disabled", body = Problem, content_type = PROBLEM_JSON),
        (status = 429, description = "too_many_attempts, with Retry-After", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "server_busy: no password-hashing slot came free, with Retry-After", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    jar: CookieJar,
    Json(body): Json<LoginRequest>,
) -> Result<impl IntoResponse> {
    let device_cookie = jar.get(DEVICE_COOKIE).map(|c| c.value().to_string());
    let signed_in = signin::login(&state, &body.email, &body.password, device_cookie.as_deref(), client).await?;
    let session_id = signed_in.session_id;
    // Drop the session the browser came with, if any: one browser, one session.
    if let Some(old) = jar.get(&state.settings.session.cookie_name)
        && let Some(data) = state.sessions.load(old.value()).await?
    {
        state.sessions.destroy(old.value(), data.account_id).await?;
    }
    let session = state.sessions.load(&session_id).await?.ok_or(AppError::Unauthenticated)?;
    let me = me_of(&state, session.account_id).await?;
    let jar = jar
        .add(session_cookie(&state.settings.session, session_id))
        .add(device_cookie_of(&state.settings, signed_in.device_cookie));
    Ok((jar, axum::Json(me)))
}

/// Ends this session.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 204), (status = 401, body = Problem, content_type = PROBLEM_JSON)))]
pub async fn logout(State(state): State<AppState>, user: CurrentUser, jar: CookieJar) -> Result<impl IntoResponse> {
    state.sessions.destroy(&user.session_id, user.account_id).await?;
    Ok((jar.add(removal_cookie(&state.settings.session)), StatusCode::NO_CONTENT))
}

/// Ends every session of the signed-in account, on every device.
#[utoipa::path(post, path = "/auth/logout-all", tag = "auth", responses((status = 204), (status = 401, body = Problem, content_type = PROBLEM_JSON)))]
pub async fn logout_all(State(state): State<AppState>, user: CurrentUser, jar: CookieJar) -> Result<impl IntoResponse> {
    state.sessions.revoke_all(user.account_id).await?;
    Ok((jar.add(removal_cookie(&state.settings.session)), StatusCode::NO_CONTENT))
}

/// The signed-in account, its role and its memberships.
#[utoipa::path(get, path = "/me", tag = "auth", responses((status = 200, body = Me), (status = 401, body = Problem, content_type = PROBLEM_JSON)))]
pub async fn me(State(state): State<AppState>, user: CurrentUser) -> Result<axum::Json<Me>> {
    Ok(axum::Json(me_of(&state, user.account_id).await?))
}

async fn me_of(state: &AppState, account_id: Uuid) -> Result<Me> {
    let (account, memberships) = signin::profile(state, account_id).await?;
    Ok(Me { account, memberships })
}

/// Changes the password; every session of the account ends and this client gets a new one.
#[utoipa::path(
    post, path = "/me/password", tag = "auth", request_body = PasswordChange,
    responses(
        (status = 204),
        (status = 401, body = Problem, content_type = PROBLEM_JSON),
        (status = 422, body = Problem, content_type = PROBLEM_JSON),
        (status = 429, description = "too_many_attempts: too many wrong current passwords, with Retry-After", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "server_busy: no password-hashing slot came free, with Retry-After", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(client): ClientIp,
    jar: CookieJar,
    Json(body): Json<PasswordChange>,
) -> Result<impl IntoResponse> {
    let device_cookie = jar.get(DEVICE_COOKIE).map(|c| c.value().to_string());
    let session_id = signin::change_password(
        &state,
        user.account_id,
        client,
        device_cookie.as_deref(),
        &body.current_password,
        &body.new_password,
    )
    .await?;
    Ok((jar.add(session_cookie(&state.settings.session, session_id)), StatusCode::NO_CONTENT))
}

/// The organization's members. Members and platform staff may read; others get 404.
#[utoipa::path(
    get, path = "/organizations/{id}/members", tag = "organizations",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<Member>), (status = 401, body = Problem, content_type = PROBLEM_JSON), (status = 404, body = Problem, content_type = PROBLEM_JSON))
)]
pub async fn list_members(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Vec<Member>>> {
    Ok(axum::Json(members::list(&state, &user, id).await?))
}

/// Adds a member account (owner only).
///
/// Rules beyond the schema (422 `validation_failed` naming the field): `role` must be one an
/// organization of this kind gives (an enterprise: `purchaser` or `approver`; a producer:
/// `staff`), and `password` not one of the most common passwords.
#[utoipa::path(
    post, path = "/organizations/{id}/members", tag = "organizations", request_body = NewMember,
    params(("id" = Uuid, Path)),
    responses(
        (status = 201, body = Member),
        (status = 403, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "email_taken", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "server_busy: no password-hashing slot came free, with Retry-After", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub async fn add_member(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<NewMember>,
) -> Result<(StatusCode, axum::Json<Member>)> {
    let organization = members::managed_by(&state, &user, id).await?;
    let member = members::add(&state, &organization, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(member)))
}

/// Changes a member's role (owner only; the owner's own membership cannot change).
///
/// Rule beyond the schema (422 `validation_failed` naming `role`): `role` must be one an
/// organization of this kind gives (an enterprise: `purchaser` or `approver`; a producer: `staff`).
#[utoipa::path(
    patch, path = "/organizations/{id}/members/{account_id}", tag = "organizations", request_body = MemberRoleChange,
    params(("id" = Uuid, Path), ("account_id" = Uuid, Path)),
    responses(
        (status = 200, body = Member),
        (status = 403, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "owner_immutable", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub async fn change_member_role(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, account_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<MemberRoleChange>,
) -> Result<axum::Json<Member>> {
    let organization = members::managed_by(&state, &user, id).await?;
    Ok(axum::Json(members::change_role(&state, &organization, account_id, body.role).await?))
}

/// Removes a member: the account is disabled and its sessions end (owner only).
#[utoipa::path(
    delete, path = "/organizations/{id}/members/{account_id}", tag = "organizations",
    params(("id" = Uuid, Path), ("account_id" = Uuid, Path)),
    responses(
        (status = 204),
        (status = 403, body = Problem, content_type = PROBLEM_JSON),
        (status = 404, body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "owner_immutable", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub async fn remove_member(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, account_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode> {
    let organization = members::managed_by(&state, &user, id).await?;
    members::remove(&state, &organization, account_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Organizations by kind and status, oldest first (admins and auditors).
#[utoipa::path(
    get, path = "/admin/organizations", tag = "admin", params(OrganizationQuery),
    responses((status = 200, body = Page<Organization>), (status = 403, body = Problem, content_type = PROBLEM_JSON), (status = 422, body = Problem, content_type = PROBLEM_JSON))
)]
pub async fn list_organizations(
    State(state): State<AppState>,
    _staff: Staff,
    Query(query): Query<OrganizationQuery>,
) -> Result<axum::Json<Page<Organization>>> {
    let page = ListParams::new(query.limit, query.cursor.as_deref())?;
    Ok(axum::Json(review::list(&state, query.kind, query.status, &page).await?))
}
