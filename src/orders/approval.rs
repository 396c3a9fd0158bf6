//! Enterprise approvals: who may decide on an order awaiting approval, and the owner's
//! threshold above which purchasers' orders wait for a decision.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::buyer::{Buyer, buyer_of};
use super::db;
use crate::accounts::model::MemberRole;
use crate::error::{AppError, FieldErrors, Result};
use crate::identity::CurrentUser;
use crate::state::AppState;
use crate::text;

/// The highest approval threshold an owner may set: 100 million yuan.
const MAX_THRESHOLD_FEN: i64 = 10_000_000_000;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    #[schema(max_length = 500, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    note: Option<String>,
}

impl NoteInput {
    /// The note, trimmed; 422 naming `note` when it is too long.
    pub fn note(&self) -> Result<Option<String>> {
        text::optional(self.note.as_deref(), text::limits::NOTE).map_err(|m| FieldErrors::single("note", m))
    }
}

/// The approver (or owner) acting on an enterprise order awaiting approval. Other members of
/// the enterprise get 403 for their own orders and 404 for the rest; everyone else 404.
#[tracing::instrument(level = "debug", skip(state, user), fields(account = %user.account_id))]
pub async fn approver_of(state: &AppState, user: &CurrentUser, id: Uuid) -> Result<Buyer> {
    let buyer = buyer_of(state, user).await?;
    let order = db::find_order(&state.db, id).await?.ok_or(AppError::NotFound)?;
    if !buyer.same_enterprise(&order) {
        return Err(AppError::NotFound);
    }
    if !buyer.sees_all_of_enterprise() {
        if order.buyer_id == buyer.account_id() {
            return Err(AppError::forbidden("forbidden", msg!("approvers-only")));
        }
        return Err(AppError::NotFound);
    }
    Ok(buyer)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseSettingsInput {
    /// Orders by purchasers at or above this total wait for an approver; null turns it off.
    #[schema(minimum = 0, maximum = 10_000_000_000i64)]
    #[serde(default, deserialize_with = "crate::http::whole::opt")]
    approval_threshold_fen: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnterpriseSettings {
    organization_id: Uuid,
    approval_threshold_fen: Option<i64>,
}

/// Sets the enterprise's approval threshold (owner only).
#[tracing::instrument(level = "debug", skip(state, user), fields(account = %user.account_id))]
pub async fn set_threshold(
    state: &AppState,
    user: &CurrentUser,
    input: EnterpriseSettingsInput,
) -> Result<EnterpriseSettings> {
    let buyer = buyer_of(state, user).await?;
    let Buyer::Enterprise { organization_id, role: MemberRole::Owner, .. } = buyer else {
        return Err(AppError::forbidden("forbidden", msg!("owner-sets-policy")));
    };
    let threshold = input.approval_threshold_fen;
    if threshold.is_some_and(|t| !(0..=MAX_THRESHOLD_FEN).contains(&t)) {
        return Err(FieldErrors::single("approval_threshold_fen", msg!("range", min = 0, max = MAX_THRESHOLD_FEN)));
    }
    db::set_approval_threshold(&state.db, organization_id, threshold).await?;
    Ok(EnterpriseSettings { organization_id, approval_threshold_fen: threshold })
}
