//! Handlers for sign-up, sign-in, `/me`, organization members and admin review of
//! organizations. Each parses, authorizes, calls the area's logic and shapes the reply.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{
    Account, Email, Member, MemberRole, Membership, OrgKind, OrgStatus, Organization, Password, Phone, Text, Uscc,
};
use super::registration::{self, AccountForm, OrganizationForm};
use super::review::Decision;
use super::{db, members, review, signin};
use crate::error::{AppError, FieldErrors, Problem, Result};
use crate::http::auth::{Admin, CurrentUser, Staff, removal_cookie, session_cookie};
use crate::http::extract::{Json, Path, Query};
use crate::http::pagination::{self, Cursor, Page};
use crate::regions::model::Adcode;
use crate::startup::AppState;

const NAME_MAX: usize = 100;
const ADDRESS_MAX: usize = 200;
const LINKAGE_MAX: usize = 2000;
const REASON_MAX: usize = 500;

// ---- request shapes -------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRequest {
    email: String,
    password: String,
    display_name: String,
    phone: Option<String>,
}

impl AccountRequest {
    /// Checks every field, recording problems under `prefix` (`owner.` for organizations).
    fn parse(&self, prefix: &str, errors: &mut FieldErrors) -> Option<AccountForm> {
        let email = errors.check(&format!("{prefix}email"), Email::parse(&self.email));
        let password = errors.check(&format!("{prefix}password"), Password::parse(&self.password));
        let display_name = errors.check(&format!("{prefix}display_name"), Text::parse(&self.display_name, NAME_MAX));
        let phone = match &self.phone {
            Some(p) => Some(errors.check(&format!("{prefix}phone"), Phone::parse(p))?),
            None => None,
        };
        Some(AccountForm { email: email?, password: password?, display_name: display_name?, phone })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseOrgRequest {
    legal_name: String,
    uscc: String,
    district_adcode: i64,
    contact_name: String,
    contact_phone: String,
    address: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProducerOrgRequest {
    legal_name: String,
    uscc: String,
    county_adcode: i64,
    contact_name: String,
    contact_phone: String,
    address: String,
    /// How the producer brings local farmers income (联农带农).
    farmer_linkage: String,
    /// How many farming households it works with.
    households: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseRegistration {
    organization: EnterpriseOrgRequest,
    owner: AccountRequest,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProducerRegistration {
    organization: ProducerOrgRequest,
    owner: AccountRequest,
}

/// The fields every organization has, checked under `organization.`.
struct CommonOrg<'a> {
    legal_name: &'a str,
    uscc: &'a str,
    contact_name: &'a str,
    contact_phone: &'a str,
    address: &'a str,
}

/// What only producers tell: how they bring farmers income, and how many households.
struct FarmerLinkage<'a> {
    statement: &'a str,
    households: i64,
}

/// Checks an organization registration in full, reporting every bad field at once.
fn parse_registration(
    kind: OrgKind,
    common: CommonOrg<'_>,
    (region_field, region): (&'static str, i64),
    linkage: Option<FarmerLinkage<'_>>,
    owner: &AccountRequest,
) -> Result<(OrganizationForm, AccountForm)> {
    let mut errors = FieldErrors::new();
    let legal_name = errors.check("organization.legal_name", Text::parse(common.legal_name, ADDRESS_MAX));
    let uscc = errors.check("organization.uscc", Uscc::parse(common.uscc));
    let contact_name = errors.check("organization.contact_name", Text::parse(common.contact_name, NAME_MAX));
    let contact_phone = errors.check("organization.contact_phone", Phone::parse(common.contact_phone));
    let address = errors.check("organization.address", Text::parse(common.address, ADDRESS_MAX));
    let region = errors.check(&format!("organization.{region_field}"), Adcode::parse(region));
    let (farmer_linkage, households) = match linkage {
        None => (None, None),
        Some(l) => (
            errors.check("organization.farmer_linkage", Text::parse(l.statement, LINKAGE_MAX)),
            errors.check(
                "organization.households",
                i32::try_from(l.households)
                    .ok()
                    .filter(|h| (0..=10_000_000).contains(h))
                    .ok_or("must be a number of households from 0 to 10,000,000"),
            ),
        ),
    };
    let owner = owner.parse("owner.", &mut errors);
    errors.into_result()?;
    let org = OrganizationForm {
        kind,
        legal_name: legal_name.expect("checked"),
        uscc: uscc.expect("checked"),
        region: region.expect("checked"),
        region_field,
        contact_name: contact_name.expect("checked"),
        contact_phone: contact_phone.expect("checked"),
        address: address.expect("checked"),
        farmer_linkage,
        households,
    };
    Ok((org, owner.expect("checked")))
}

async fn register_organization(
    state: &AppState,
    (org, owner): (OrganizationForm, AccountForm),
) -> Result<(StatusCode, axum::Json<OrganizationRegistered>)> {
    let (account, organization) = registration::register_organization(&state.db, &state.hasher, org, owner).await?;
    Ok((StatusCode::CREATED, axum::Json(OrganizationRegistered { account, organization })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    email: String,
    password: String,
    display_name: String,
    phone: Option<String>,
    /// enterprise: purchaser | approver; producer: staff.
    role: MemberRole,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRoleChange {
    role: MemberRole,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrganizationQuery {
    kind: Option<OrgKind>,
    status: Option<OrgStatus>,
    /// Page size, 1 to 100 (default 20).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

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

// ---- handlers -------------------------------------------------------------------------

/// Registers a consumer account.
#[utoipa::path(
    post, path = "/auth/register/consumer", tag = "auth", request_body = AccountRequest,
    responses(
        (status = 201, body = AccountReply),
        (status = 409, description = "email_taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register_consumer(
    State(state): State<AppState>,
    Json(body): Json<AccountRequest>,
) -> Result<(StatusCode, axum::Json<AccountReply>)> {
    let mut errors = FieldErrors::new();
    let form = body.parse("", &mut errors);
    errors.into_result()?;
    let account = registration::register_consumer(&state.db, &state.hasher, form.expect("no errors")).await?;
    Ok((StatusCode::CREATED, axum::Json(AccountReply { account })))
}

/// Registers an enterprise (a Tianjin company or unit) with its owner account; it starts
/// `pending` until an admin verifies it.
#[utoipa::path(
    post, path = "/auth/register/enterprise", tag = "auth", request_body = EnterpriseRegistration,
    responses(
        (status = 201, body = OrganizationRegistered),
        (status = 409, description = "email_taken | uscc_taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register_enterprise(
    State(state): State<AppState>,
    Json(body): Json<EnterpriseRegistration>,
) -> Result<(StatusCode, axum::Json<OrganizationRegistered>)> {
    let o = &body.organization;
    let common = CommonOrg {
        legal_name: &o.legal_name,
        uscc: &o.uscc,
        contact_name: &o.contact_name,
        contact_phone: &o.contact_phone,
        address: &o.address,
    };
    let forms =
        parse_registration(OrgKind::Enterprise, common, ("district_adcode", o.district_adcode), None, &body.owner)?;
    register_organization(&state, forms).await
}

/// Registers a producer (a Gansu company or cooperative) with its owner account; it starts
/// `pending` until an admin verifies it.
#[utoipa::path(
    post, path = "/auth/register/producer", tag = "auth", request_body = ProducerRegistration,
    responses(
        (status = 201, body = OrganizationRegistered),
        (status = 409, description = "email_taken | uscc_taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register_producer(
    State(state): State<AppState>,
    Json(body): Json<ProducerRegistration>,
) -> Result<(StatusCode, axum::Json<OrganizationRegistered>)> {
    let o = &body.organization;
    let common = CommonOrg {
        legal_name: &o.legal_name,
        uscc: &o.uscc,
        contact_name: &o.contact_name,
        contact_phone: &o.contact_phone,
        address: &o.address,
    };
    let linkage = FarmerLinkage { statement: &o.farmer_linkage, households: o.households };
    let forms =
        parse_registration(OrgKind::Producer, common, ("county_adcode", o.county_adcode), Some(linkage), &body.owner)?;
    register_organization(&state, forms).await
}

/// Signs in and sets the session cookie (always a new session id).
#[utoipa::path(
    post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = Me, description = "Signed in; the session cookie is set"),
        (status = 401, description = "invalid_credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "account_disabled", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "too_many_attempts, with Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    Json(body): Json<LoginRequest>,
) -> Result<impl IntoResponse> {
    let session_id = signin::login(&state, &body.email, &body.password, client.ip()).await?;
    // Drop the session the browser came with, if any: one browser, one session.
    if let Some(old) = jar.get(&state.settings.session.cookie_name)
        && let Some(data) = state.sessions.load(old.value()).await?
    {
        state.sessions.destroy(old.value(), data.account_id).await?;
    }
    let session = state.sessions.load(&session_id).await?.ok_or(AppError::Unauthenticated)?;
    let me = me_of(&state, session.account_id).await?;
    let jar = jar.add(session_cookie(&state.settings.session, session_id));
    Ok((jar, axum::Json(me)))
}

/// Ends this session.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn logout(State(state): State<AppState>, user: CurrentUser, jar: CookieJar) -> Result<impl IntoResponse> {
    state.sessions.destroy(&user.session_id, user.account_id).await?;
    Ok((jar.add(removal_cookie(&state.settings.session)), StatusCode::NO_CONTENT))
}

/// Ends every session of the signed-in account, on every device.
#[utoipa::path(post, path = "/auth/logout-all", tag = "auth", responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn logout_all(State(state): State<AppState>, user: CurrentUser, jar: CookieJar) -> Result<impl IntoResponse> {
    state.sessions.revoke_all(user.account_id).await?;
    Ok((jar.add(removal_cookie(&state.settings.session)), StatusCode::NO_CONTENT))
}

/// The signed-in account, its role and its memberships.
#[utoipa::path(get, path = "/me", tag = "auth", responses((status = 200, body = Me), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn me(State(state): State<AppState>, user: CurrentUser) -> Result<axum::Json<Me>> {
    Ok(axum::Json(me_of(&state, user.account_id).await?))
}

async fn me_of(state: &AppState, account_id: Uuid) -> Result<Me> {
    let account = db::find_account(&state.db, account_id).await?.ok_or(AppError::Unauthenticated)?;
    let memberships = db::memberships_of(&state.db, account_id).await?;
    Ok(Me { account, memberships })
}

/// Changes the password; every session of the account ends and this client gets a new one.
#[utoipa::path(
    post, path = "/me/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"))
)]
pub async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    Json(body): Json<PasswordChange>,
) -> Result<impl IntoResponse> {
    let session_id =
        signin::change_password(&state, user.account_id, client.ip(), &body.current_password, &body.new_password)
            .await?;
    Ok((jar.add(session_cookie(&state.settings.session, session_id)), StatusCode::NO_CONTENT))
}

/// The organization's members. Members and platform staff may read; others get 404.
#[utoipa::path(
    get, path = "/organizations/{id}/members", tag = "organizations",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<Member>), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
pub async fn list_members(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Vec<Member>>> {
    let organization = members::readable_by(&state.db, &user, id).await?;
    Ok(axum::Json(db::list_members(&state.db, organization.id).await?))
}

/// Adds a member account (owner only).
#[utoipa::path(
    post, path = "/organizations/{id}/members", tag = "organizations", request_body = NewMember,
    params(("id" = Uuid, Path)),
    responses(
        (status = 201, body = Member),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "email_taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn add_member(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<NewMember>,
) -> Result<(StatusCode, axum::Json<Member>)> {
    let organization = members::managed_by(&state.db, &user, id).await?;
    let mut errors = FieldErrors::new();
    let request = AccountRequest {
        email: body.email,
        password: body.password,
        display_name: body.display_name,
        phone: body.phone,
    };
    let form = request.parse("", &mut errors);
    if let Err(AppError::Validation(role_errors)) = members::check_grantable(&organization, body.role) {
        errors.merge(role_errors);
    }
    errors.into_result()?;
    let member = members::add(&state.db, &state.hasher, &organization, form.expect("no errors"), body.role).await?;
    Ok((StatusCode::CREATED, axum::Json(member)))
}

/// Changes a member's role (owner only; the owner's own membership cannot change).
#[utoipa::path(
    patch, path = "/organizations/{id}/members/{account_id}", tag = "organizations", request_body = MemberRoleChange,
    params(("id" = Uuid, Path), ("account_id" = Uuid, Path)),
    responses(
        (status = 200, body = Member),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "owner_immutable", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change_member_role(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, account_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<MemberRoleChange>,
) -> Result<axum::Json<Member>> {
    let organization = members::managed_by(&state.db, &user, id).await?;
    Ok(axum::Json(members::change_role(&state.db, &organization, account_id, body.role).await?))
}

/// Removes a member: the account is disabled and its sessions end (owner only).
#[utoipa::path(
    delete, path = "/organizations/{id}/members/{account_id}", tag = "organizations",
    params(("id" = Uuid, Path), ("account_id" = Uuid, Path)),
    responses(
        (status = 204),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "owner_immutable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn remove_member(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, account_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode> {
    let organization = members::managed_by(&state.db, &user, id).await?;
    members::remove(&state.db, &state.sessions, &organization, account_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Organizations by kind and status, oldest first (admins and auditors).
#[utoipa::path(
    get, path = "/admin/organizations", tag = "admin", params(OrganizationQuery),
    responses((status = 200, body = Page<Organization>), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"))
)]
pub async fn list_organizations(
    State(state): State<AppState>,
    _staff: Staff,
    Query(query): Query<OrganizationQuery>,
) -> Result<axum::Json<Page<Organization>>> {
    let (limit, after) = pagination::parse::<Uuid>(query.limit, query.cursor.as_deref())?;
    let rows = db::list_organizations(&state.db, query.kind, query.status, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(rows, limit, |o| Cursor::encode(&o.id))))
}

async fn decide(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
    decision: Decision,
    reason: Option<&str>,
) -> Result<axum::Json<Organization>> {
    let reason = match reason {
        Some(r) => Some(Text::parse(r, REASON_MAX).map_err(|m| FieldErrors::single("reason", m))?),
        None => None,
    };
    let organization = review::decide(
        &state.db,
        &state.sessions,
        &state.catalog_cache,
        admin.0.account_id,
        id,
        decision,
        reason.as_ref().map(Text::as_str),
    )
    .await?;
    Ok(axum::Json(organization))
}

/// Verifies an organization (also reinstates a suspended or reconsiders a rejected one).
#[utoipa::path(
    post, path = "/admin/organizations/{id}/verify", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = Organization), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, description = "invalid_transition", body = Problem, content_type = "application/problem+json"))
)]
pub async fn verify_organization(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Organization>> {
    decide(&state, &admin, id, Decision::Verify, None).await
}

/// Rejects a pending organization, with a reason the applicant will see.
#[utoipa::path(
    post, path = "/admin/organizations/{id}/reject", tag = "admin", params(("id" = Uuid, Path)), request_body = ReasonRequest,
    responses((status = 200, body = Organization), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, description = "invalid_transition", body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"))
)]
pub async fn reject_organization(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    Json(body): Json<ReasonRequest>,
) -> Result<axum::Json<Organization>> {
    decide(&state, &admin, id, Decision::Reject, Some(&body.reason)).await
}

/// Suspends an organization, with a reason; every member's sessions end at once.
#[utoipa::path(
    post, path = "/admin/organizations/{id}/suspend", tag = "admin", params(("id" = Uuid, Path)), request_body = ReasonRequest,
    responses((status = 200, body = Organization), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, description = "invalid_transition", body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"))
)]
pub async fn suspend_organization(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    Json(body): Json<ReasonRequest>,
) -> Result<axum::Json<Organization>> {
    decide(&state, &admin, id, Decision::Suspend, Some(&body.reason)).await
}
