//! Who may see and manage an organization's members, and the changes themselves.

use sqlx::PgPool;
use uuid::Uuid;

use super::db;
use super::model::{AccountRole, Member, MemberRole, OrgStatus, Organization};
use super::password::PasswordHasher;
use super::registration::{AccountForm, new_account};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::auth::CurrentUser;
use crate::session::SessionStore;

/// The organization, if `user` may read its members: any member, or platform staff.
/// Everyone else gets 404, so that organization ids cannot be probed.
#[tracing::instrument(skip(db, user), fields(account = %user.account_id))]
pub async fn readable_by(db: &PgPool, user: &CurrentUser, organization_id: Uuid) -> Result<Organization> {
    let organization = db::find_organization(db, organization_id).await?.ok_or(AppError::NotFound)?;
    if matches!(user.role, AccountRole::Admin | AccountRole::Auditor) {
        return Ok(organization);
    }
    db::membership_role(db, organization_id, user.account_id).await?.ok_or(AppError::NotFound)?;
    Ok(organization)
}

/// The organization, if `user` is its owner and it is not rejected or suspended.
#[tracing::instrument(skip(db, user), fields(account = %user.account_id))]
pub async fn managed_by(db: &PgPool, user: &CurrentUser, organization_id: Uuid) -> Result<Organization> {
    let organization = db::find_organization(db, organization_id).await?.ok_or(AppError::NotFound)?;
    match db::membership_role(db, organization_id, user.account_id).await? {
        None => Err(AppError::NotFound),
        Some(MemberRole::Owner) => match organization.status {
            OrgStatus::Pending | OrgStatus::Verified => Ok(organization),
            status => Err(AppError::forbidden(
                "organization_inactive",
                format!("the organization is {}; its members cannot be changed", status.as_str()),
            )),
        },
        Some(_) => Err(AppError::forbidden("forbidden", "only the organization's owner may manage members")),
    }
}

pub fn check_grantable(organization: &Organization, role: MemberRole) -> Result<()> {
    if role.grantable_in(organization.kind) {
        return Ok(());
    }
    let allowed = match organization.kind {
        super::model::OrgKind::Enterprise => "must be purchaser or approver",
        super::model::OrgKind::Producer => "must be staff",
    };
    Err(FieldErrors::single("role", allowed))
}

#[tracing::instrument(skip_all, fields(organization = %organization.id))]
pub async fn add(
    db: &PgPool,
    hasher: &PasswordHasher,
    organization: &Organization,
    form: AccountForm,
    role: MemberRole,
) -> Result<Member> {
    check_grantable(organization, role)?;
    let hash = hasher.hash(form.password.expose()).await?;
    let account_role = match organization.kind {
        super::model::OrgKind::Enterprise => AccountRole::Enterprise,
        super::model::OrgKind::Producer => AccountRole::Producer,
    };
    let mut tx = db.begin().await?;
    let account = db::insert_account(&mut *tx, &new_account(&form, &hash, account_role)).await?;
    db::insert_membership(&mut *tx, organization.id, account.id, role).await?;
    let member = db::find_member(&mut *tx, organization.id, account.id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(member)
}

/// The member to change, refusing the owner: ownership is not handed out or taken here.
async fn changeable_member(db: &PgPool, organization_id: Uuid, account_id: Uuid) -> Result<Member> {
    let member = db::find_member(db, organization_id, account_id).await?.ok_or(AppError::NotFound)?;
    if member.role == MemberRole::Owner {
        return Err(AppError::conflict("owner_immutable", "the owner's membership cannot be changed or removed"));
    }
    Ok(member)
}

#[tracing::instrument(skip(db, organization), fields(organization = %organization.id))]
pub async fn change_role(
    db: &PgPool,
    organization: &Organization,
    account_id: Uuid,
    role: MemberRole,
) -> Result<Member> {
    changeable_member(db, organization.id, account_id).await?;
    check_grantable(organization, role)?;
    db::update_member_role(db, organization.id, account_id, role).await?;
    db::find_member(db, organization.id, account_id).await?.ok_or(AppError::NotFound)
}

/// Removes a member: the membership goes, the account is disabled and its sessions end.
/// Sessions are ended before the commit, so a Redis failure leaves the member in place
/// rather than removed-but-signed-in.
#[tracing::instrument(skip(db, sessions, organization), fields(organization = %organization.id))]
pub async fn remove(db: &PgPool, sessions: &SessionStore, organization: &Organization, account_id: Uuid) -> Result<()> {
    changeable_member(db, organization.id, account_id).await?;
    let mut tx = db.begin().await?;
    db::delete_membership(&mut *tx, organization.id, account_id).await?;
    db::disable_account(&mut *tx, account_id).await?;
    sessions.revoke_all(account_id).await?;
    tx.commit().await?;
    sessions.revoke_all(account_id).await?;
    Ok(())
}
