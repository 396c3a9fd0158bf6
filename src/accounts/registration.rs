//! Sign-up of consumers and of organizations with their owner, each in one transaction so
//! that a failure halfway leaves no organization without an owner and no orphan account.
//!
//! Sign-ups are counted per client address (`signup_throttle`), and everything cheap — the
//! form, the region, whether the email or USCC is taken — is checked before the password is
//! hashed, so a refused sign-up costs no hash. The unique constraints still stand behind the
//! early checks for sign-ups that race.

use std::net::IpAddr;

use sqlx::PgExecutor;

use super::db::{self, NewAccount, NewOrganization};
use super::forms::{AccountForm, OrganizationForm};
use super::model::{Account, AccountRole, Email, MemberRole, OrgKind, Organization, Password, Phone, Text};
use crate::error::{AppError, FieldErrors, Result};
use crate::password::PasswordHasher;
use crate::regions;
use crate::state::AppState;

/// Counts a sign-up attempt from `client` (before its form is even read); 429 beyond the
/// address's allowance.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn admit(state: &AppState, client: IpAddr) -> Result<()> {
    state.signup_throttle.attempt(client).await
}

/// 409 `email_taken` / `uscc_taken` before any hashing, when the constraints would refuse.
pub(super) async fn refuse_taken(db: impl PgExecutor<'_>, email: &Email, uscc: Option<&str>) -> Result<()> {
    let (email_taken, uscc_taken) = db::taken(db, email.as_str(), uscc).await?;
    let constraint = match (email_taken, uscc_taken) {
        (_, true) => "organizations_uscc_key",
        (true, false) => "accounts_email_key",
        (false, false) => return Ok(()),
    };
    Err(AppError::unique_conflict(constraint).expect("a constraint the error table names"))
}

#[tracing::instrument(level = "debug", skip_all, fields(email = form.email.as_str()))]
pub async fn register_consumer(state: &AppState, form: AccountForm) -> Result<Account> {
    refuse_taken(&state.db, &form.email, None).await?;
    let hash = state.hasher.hash(form.password.expose()).await?;
    let account = db::insert_account(&state.db, &new_account(&form, &hash, AccountRole::Consumer)).await?;
    Ok(account)
}

#[tracing::instrument(level = "debug", skip_all, fields(email = owner.email.as_str(), kind = org.kind.as_str()))]
pub async fn register_organization(
    state: &AppState,
    org: OrganizationForm,
    owner: AccountForm,
) -> Result<(Account, Organization)> {
    let db = &state.db;
    let region_ok = match org.kind {
        OrgKind::Enterprise => regions::is_tianjin_district(db, org.region).await?,
        OrgKind::Producer => regions::is_gansu_county(db, org.region).await?,
    };
    if !region_ok {
        let message = match org.kind {
            OrgKind::Enterprise => msg!("tianjin-district"),
            OrgKind::Producer => msg!("gansu-county"),
        };
        let mut errors = FieldErrors::new();
        errors.add(format!("organization.{}", org.region_field), message);
        errors.into_result()?;
    }
    refuse_taken(db, &owner.email, Some(org.uscc.as_str())).await?;
    let hash = state.hasher.hash(owner.password.expose()).await?;
    let role = match org.kind {
        OrgKind::Enterprise => AccountRole::Enterprise,
        OrgKind::Producer => AccountRole::Producer,
    };
    let mut tx = db.begin().await?;
    let organization = db::insert_organization(
        &mut *tx,
        &NewOrganization {
            kind: org.kind,
            legal_name: org.legal_name.as_str(),
            uscc: org.uscc.as_str(),
            region_adcode: org.region.get(),
            contact_name: org.contact_name.as_str(),
            contact_phone: org.contact_phone.as_str(),
            address: org.address.as_str(),
            farmer_linkage: org.farmer_linkage.as_ref().map(Text::as_str),
            households: org.households,
        },
    )
    .await?;
    let account = db::insert_account(&mut *tx, &new_account(&owner, &hash, role)).await?;
    db::insert_membership(&mut *tx, organization.id, account.id, MemberRole::Owner).await?;
    tx.commit().await?;
    Ok((account, organization))
}

/// A platform admin or auditor, created from the command line (never through the API). Takes
/// any executor so that the command can create the account and its audit entry in one
/// transaction.
#[tracing::instrument(level = "debug", skip(db, hasher, password))]
pub async fn create_staff(
    db: impl PgExecutor<'_>,
    hasher: &PasswordHasher,
    email: &Email,
    password: &Password,
    display_name: &str,
    role: AccountRole,
) -> Result<Account> {
    let hash = hasher.hash(password.expose()).await?;
    let new = NewAccount { email: email.as_str(), password_hash: &hash, display_name, phone: None, role };
    Ok(db::insert_account(db, &new).await?)
}

pub(super) fn new_account<'a>(form: &'a AccountForm, hash: &'a str, role: AccountRole) -> NewAccount<'a> {
    NewAccount {
        email: form.email.as_str(),
        password_hash: hash,
        display_name: form.display_name.as_str(),
        phone: form.phone.as_ref().map(Phone::as_str),
        role,
    }
}
