//! Role guards that need the accounts area's data: a member of a verified producer. Catalog
//! and orders use it for the producer's own pages.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use uuid::Uuid;

use super::model::{MemberRole, OrgStatus};
use crate::error::AppError;
use crate::http::auth::CurrentUser;
use crate::state::AppState;

/// A member (owner or staff) of a verified, unsuspended producer.
#[derive(Debug, Clone)]
pub struct ProducerMember {
    pub account_id: Uuid,
    pub producer_id: Uuid,
}

impl<S> FromRequestParts<S> for ProducerMember
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        let app = AppState::from_ref(state);
        let membership = super::producer_membership(&app.db, user.account_id)
            .await?
            .filter(|m| matches!(m.role, MemberRole::Owner | MemberRole::Staff))
            .ok_or_else(|| AppError::forbidden("forbidden", msg!("producers-only")))?;
        match membership.organization_status {
            OrgStatus::Verified => {
                Ok(ProducerMember { account_id: user.account_id, producer_id: membership.organization_id })
            }
            OrgStatus::Suspended => Err(AppError::forbidden("producer_suspended", msg!("producer_suspended"))),
            _ => Err(AppError::forbidden("producer_not_verified", msg!("producer_not_verified"))),
        }
    }
}

/// A member of an enterprise (any role), with the role, for the enterprise's own pages. The
/// enterprise's status does not matter: a suspended enterprise still reads its history.
#[derive(Debug, Clone)]
pub struct EnterpriseMember {
    pub account_id: Uuid,
    pub enterprise_id: Uuid,
    pub role: MemberRole,
}

impl<S> FromRequestParts<S> for EnterpriseMember
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        let app = AppState::from_ref(state);
        let membership = super::enterprise_membership(&app.db, user.account_id)
            .await?
            .ok_or_else(|| AppError::forbidden("forbidden", msg!("enterprise-members-only")))?;
        Ok(EnterpriseMember {
            account_id: user.account_id,
            enterprise_id: membership.organization_id,
            role: membership.role,
        })
    }
}
