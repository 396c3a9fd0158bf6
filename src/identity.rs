//! Who is acting: the identity that sessions store and HTTP extracts. It lives below every area
//! so that `http/` and `session/` need no area, and logic can take a `CurrentUser` without
//! depending on HTTP.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// What an account is on the platform; fixed at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum AccountRole {
    Consumer,
    Enterprise,
    Producer,
    Admin,
    Auditor,
}

/// A signed-in account, as the session says. `http::auth` extracts it from the session cookie
/// (401 when there is no live session).
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub account_id: Uuid,
    pub role: AccountRole,
    /// The session id from the cookie, so that logout can end exactly this session.
    pub session_id: String,
}

impl CurrentUser {
    /// Platform admins and auditors.
    pub fn is_staff(&self) -> bool {
        matches!(self.role, AccountRole::Admin | AccountRole::Auditor)
    }
}
