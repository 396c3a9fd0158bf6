//! Who is buying: a consumer for themselves, or a member of a verified enterprise for it.

use uuid::Uuid;

use super::model::OrderRow;
use crate::accounts;
use crate::accounts::model::{AccountRole, MemberRole, OrgStatus};
use crate::error::{AppError, Result};
use crate::identity::CurrentUser;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub enum Buyer {
    Consumer { account_id: Uuid },
    Enterprise { account_id: Uuid, organization_id: Uuid, role: MemberRole },
}

impl Buyer {
    pub fn account_id(&self) -> Uuid {
        match self {
            Buyer::Consumer { account_id } | Buyer::Enterprise { account_id, .. } => *account_id,
        }
    }

    pub fn organization_id(&self) -> Option<Uuid> {
        match self {
            Buyer::Consumer { .. } => None,
            Buyer::Enterprise { organization_id, .. } => Some(*organization_id),
        }
    }

    /// Approvers and owners see and decide on all of their enterprise's orders.
    pub fn sees_all_of_enterprise(&self) -> bool {
        matches!(self, Buyer::Enterprise { role: MemberRole::Owner | MemberRole::Approver, .. })
    }

    /// Purchasers' orders may need an approver's sign-off.
    pub fn needs_approval_over_threshold(&self) -> bool {
        matches!(self, Buyer::Enterprise { role: MemberRole::Purchaser, .. })
    }

    /// Whether this buyer may see `order`: their own, or any of their enterprise's for
    /// approvers and owners.
    pub fn may_see(&self, order: &OrderRow) -> bool {
        order.buyer_id == self.account_id() || (self.sees_all_of_enterprise() && self.same_enterprise(order))
    }

    /// Whether `order` was placed for this buyer's enterprise.
    pub fn same_enterprise(&self, order: &OrderRow) -> bool {
        order.organization_id.is_some() && order.organization_id == self.organization_id()
    }
}

/// The buyer behind a session: 403 for producers and staff, and for members of an enterprise
/// that is not verified (or is suspended).
#[tracing::instrument(level = "debug", skip(state, user), fields(account = %user.account_id))]
pub async fn buyer_of(state: &AppState, user: &CurrentUser) -> Result<Buyer> {
    match user.role {
        AccountRole::Consumer => Ok(Buyer::Consumer { account_id: user.account_id }),
        AccountRole::Enterprise => {
            let membership = accounts::enterprise_membership(&state.db, user.account_id)
                .await?
                .ok_or_else(|| AppError::forbidden("forbidden", msg!("no-enterprise")))?;
            if membership.organization_status != OrgStatus::Verified {
                return Err(AppError::forbidden("enterprise_not_verified", msg!("enterprise_not_verified")));
            }
            Ok(Buyer::Enterprise {
                account_id: user.account_id,
                organization_id: membership.organization_id,
                role: membership.role,
            })
        }
        _ => Err(AppError::forbidden("forbidden", msg!("buyers-only"))),
    }
}
