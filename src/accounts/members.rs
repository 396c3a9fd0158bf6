//! Who may see and manage an organization's members, and the changes themselves.

use uuid::Uuid;

use super::db;
use super::forms::{AccountForm, NewMember};
use super::model::{AccountRole, Member, MemberRole, OrgKind, OrgStatus, Organization};
use super::registration::new_account;
use crate::error::{AppError, FieldErrors, Result};
use crate::identity::CurrentUser;
use crate::state::AppState;

/// The organization, if `user` may read its members: any member, or platform staff.
/// Everyone else gets 404, so that organization ids cannot be probed.
#[tracing::instrument(level = "debug", skip(state, user), fields(account = %user.account_id))]
pub async fn readable_by(state: &AppState, user: &CurrentUser, organization_id: Uuid) -> Result<Organization> {
    let organization = db::find_organization(&state.db, organization_id).await?.ok_or(AppError::NotFound)?;
    if user.is_staff() {
        return Ok(organization);
    }
    db::membership_role(&state.db, organization_id, user.account_id).await?.ok_or(AppError::NotFound)?;
    Ok(organization)
}

/// The members of an organization `user` may read.
pub async fn list(state: &AppState, user: &CurrentUser, organization_id: Uuid) -> Result<Vec<Member>> {
    let organization = readable_by(state, user, organization_id).await?;
    Ok(db::list_members(&state.db, organization.id).await?)
}

/// The organization, if `user` is its owner and it is not rejected or suspended.
#[tracing::instrument(level = "debug", skip(state, user), fields(account = %user.account_id))]
pub async fn managed_by(state: &AppState, user: &CurrentUser, organization_id: Uuid) -> Result<Organization> {
    let organization = db::find_organization(&state.db, organization_id).await?.ok_or(AppError::NotFound)?;
    match db::membership_role(&state.db, organization_id, user.account_id).await? {
        None => Err(AppError::NotFound),
        Some(MemberRole::Owner) => match organization.status {
            OrgStatus::Pending | OrgStatus::Verified => Ok(organization),
            status => Err(AppError::forbidden(
                "organization_inactive",
                msg!("organization_inactive", status = status.as_str()),
            )),
        },
        Some(_) => Err(AppError::forbidden("forbidden", msg!("owner-manages-members"))),
    }
}

fn check_grantable(organization: &Organization, role: MemberRole) -> Result<()> {
    if role.grantable_in(organization.kind) {
        return Ok(());
    }
    let allowed = match organization.kind {
        OrgKind::Enterprise => msg!("one-of", allowed = "purchaser, approver"),
        OrgKind::Producer => msg!("one-of", allowed = "staff"),
    };
    Err(FieldErrors::single("role", allowed))
}

/// Adds a member account with a role the organization's kind allows; every bad field of the
/// request (account details and role) is reported at once.
#[tracing::instrument(level = "debug", skip_all, fields(organization = %organization.id))]
pub async fn add(state: &AppState, organization: &Organization, request: &NewMember) -> Result<Member> {
    let role = request.role;
    let form = match (AccountForm::try_from(request), check_grantable(organization, role)) {
        (Ok(form), Ok(())) => form,
        (Err(AppError::Validation(mut errors)), Err(AppError::Validation(more))) => {
            errors.merge(more);
            return Err(errors.into_error());
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    super::registration::refuse_taken(&state.db, &form.email, None).await?;
    let hash = state.hasher.hash(form.password.expose()).await?;
    let account_role = match organization.kind {
        OrgKind::Enterprise => AccountRole::Enterprise,
        OrgKind::Producer => AccountRole::Producer,
    };
    let mut tx = state.db.begin().await?;
    let account = db::insert_account(&mut *tx, &new_account(&form, &hash, account_role)).await?;
    db::insert_membership(&mut *tx, organization.id, account.id, role).await?;
    let member = db::find_member(&mut *tx, organization.id, account.id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(member)
}

/// The member to change, refusing the owner: ownership is not handed out or taken here.
async fn changeable_member(db: &sqlx::PgPool, organization_id: Uuid, account_id: Uuid) -> Result<Member> {
    let member = db::find_member(db, organization_id, account_id).await?.ok_or(AppError::NotFound)?;
    if member.role == MemberRole::Owner {
        return Err(AppError::conflict("owner_immutable", msg!("owner_immutable")));
    }
    Ok(member)
}

#[tracing::instrument(level = "debug", skip(state, organization), fields(organization = %organization.id))]
pub async fn change_role(
    state: &AppState,
    organization: &Organization,
    account_id: Uuid,
    role: MemberRole,
) -> Result<Member> {
    let db = &state.db;
    changeable_member(db, organization.id, account_id).await?;
    check_grantable(organization, role)?;
    db::update_member_role(db, organization.id, account_id, role).await?;
    db::find_member(db, organization.id, account_id).await?.ok_or(AppError::NotFound)
}

/// Removes a member: the membership goes, the account is disabled and its sessions end.
/// Sessions are ended before the commit, so a Redis failure leaves the member in place
/// rather than removed-but-signed-in.
#[tracing::instrument(level = "debug", skip(state, organization), fields(organization = %organization.id))]
pub async fn remove(state: &AppState, organization: &Organization, account_id: Uuid) -> Result<()> {
    let (db, sessions) = (&state.db, &state.sessions);
    changeable_member(db, organization.id, account_id).await?;
    let mut tx = db.begin().await?;
    db::delete_membership(&mut *tx, organization.id, account_id).await?;
    db::disable_account(&mut *tx, account_id).await?;
    sessions.revoke_all(account_id).await?;
    tx.commit().await?;
    sessions.revoke_all(account_id).await?;
    Ok(())
}
