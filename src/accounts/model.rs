//! Types that can only hold valid values: once a request has been parsed into them, the rest
//! of the area never re-checks an email, a password rule or a USCC.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::ValidateEmail;

use crate::i18n::Msg;

/// A lower-cased, trimmed email address, so that `A@x.cn` and `a@x.cn` are one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Msg> {
        let email = raw.trim().to_lowercase();
        if email.len() > 254 || !email.validate_email() {
            return Err(msg!("email-invalid"));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Passwords too common to accept whatever their length (a short built-in list; the length
/// rule does most of the work).
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "12345678910",
    "0123456789",
    "0987654321",
    "1111111111",
    "0000000000",
    "1234512345",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "qwertyuiop",
    "qwerty1234",
    "qwerty12345",
    "asdfghjkl;",
    "asdfghjkl1",
    "zxcvbnm123",
    "password12",
    "password123",
    "password1234",
    "passw0rd123",
    "p@ssw0rd123",
    "iloveyou12",
    "iloveyou123",
    "abcdefghij",
    "abcd123456",
    "abc1234567",
    "a123456789",
    "aa12345678",
    "qq12345678",
    "woaini1314",
    "woaini520",
    "woaini123456",
    "5201314520",
    "1314520520",
    "letmein123",
    "welcome123",
    "admin12345",
    "administrator",
    "changeme123",
    "football123",
    "baseball123",
    "monkey1234",
    "dragon1234",
    "sunshine123",
    "princess123",
    "superman123",
    "trustno1234",
    "starwars123",
    "1234567890a",
    "987654321a",
    "qwertyuiop123",
    "123456789a",
    "123456789q",
    "88888888888",
    "6666666666",
    "1234567890q",
    "tonggan123",
    "tonggan2026",
    "zaq12wsxcde",
    "q1w2e3r4t5",
    "asdf123456",
];

/// A password that meets the rules: 10 to 128 characters and not a well-known one.
pub struct Password(secrecy::SecretString);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    pub fn parse(raw: &str) -> Result<Self, Msg> {
        let chars = raw.chars().count();
        if chars < 10 {
            return Err(msg!("password-too-short", min = 10));
        }
        if chars > 128 {
            return Err(msg!("password-too-long", max = 128));
        }
        if COMMON_PASSWORDS.iter().any(|p| p.eq_ignore_ascii_case(raw)) {
            return Err(msg!("password-too-common"));
        }
        Ok(Self(raw.to_string().into()))
    }

    pub fn expose(&self) -> &str {
        use secrecy::ExposeSecret;
        self.0.expose_secret()
    }
}

/// A phone number as people write them in China: digits with an optional leading `+` and
/// `-` or spaces between groups (mobile 138 0000 0000, landline 022-2345 6789).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, Msg> {
        let phone = raw.trim();
        let body = phone.strip_prefix('+').unwrap_or(phone);
        let digits = body.chars().filter(char::is_ascii_digit).count();
        let shape_ok = body.chars().all(|c| c.is_ascii_digit() || c == '-' || c == ' ')
            && body.starts_with(|c: char| c.is_ascii_digit());
        if !shape_ok || !(7..=15).contains(&digits) {
            return Err(msg!("phone-invalid"));
        }
        Ok(Self(phone.to_string()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters from a
/// 31-character alphabet, the last a check character over the first 17.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uscc(String);

const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

impl Uscc {
    pub fn parse(raw: &str) -> Result<Self, Msg> {
        let code = raw.trim().to_ascii_uppercase();
        // Characters, not bytes: a byte count lets 16 ASCII characters and one two-byte
        // character through, and the slicing below would then cut that character in half.
        if code.chars().count() != 18 {
            return Err(msg!("uscc-length"));
        }
        if !code.is_ascii() {
            return Err(msg!("uscc-alphabet"));
        }
        let Some(expected) = Self::check_char(&code[..17]) else {
            return Err(msg!("uscc-alphabet"));
        };
        if code.as_bytes()[17] != expected as u8 {
            return Err(msg!("uscc-check-character"));
        }
        Ok(Self(code))
    }

    /// The check character for a 17-character body, or None if the body is not of the
    /// alphabet. Public so that tools and tests can make valid codes.
    pub fn check_char(body: &str) -> Option<char> {
        if body.len() != 17 {
            return None;
        }
        let mut sum = 0u32;
        let mut weight = 1u32;
        for b in body.bytes() {
            let value = USCC_ALPHABET.iter().position(|&a| a == b)? as u32;
            sum += value * weight;
            weight = weight * 3 % 31;
        }
        Some(USCC_ALPHABET[((31 - sum % 31) % 31) as usize] as char)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub use crate::identity::AccountRole;
pub use crate::text::Text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum OrgKind {
    Enterprise,
    Producer,
}

impl OrgKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Enterprise => "enterprise",
            OrgKind::Producer => "producer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum OrgStatus {
    Pending,
    Verified,
    Rejected,
    Suspended,
}

impl OrgStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgStatus::Pending => "pending",
            OrgStatus::Verified => "verified",
            OrgStatus::Rejected => "rejected",
            OrgStatus::Suspended => "suspended",
        }
    }
}

/// A member's role inside its organization. `owner` is the registering account and cannot be
/// granted or taken away through the members API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum MemberRole {
    Owner,
    Purchaser,
    Approver,
    Staff,
}

impl MemberRole {
    /// The roles an owner may hand out in an organization of `kind`.
    pub fn grantable_in(self, kind: OrgKind) -> bool {
        matches!(
            (kind, self),
            (OrgKind::Enterprise, MemberRole::Purchaser | MemberRole::Approver)
                | (OrgKind::Producer, MemberRole::Staff)
        )
    }
}

/// An account as stored, without its password hash.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub phone: Option<String>,
    pub role: AccountRole,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Organization {
    pub id: Uuid,
    pub kind: OrgKind,
    pub legal_name: String,
    pub uscc: String,
    /// Tianjin district (enterprise) or Gansu county (producer).
    pub region_adcode: i32,
    pub contact_name: String,
    pub contact_phone: String,
    pub address: String,
    pub farmer_linkage: Option<String>,
    pub households: Option<i32>,
    pub status: OrgStatus,
    /// Why the organization was last rejected or suspended.
    pub status_reason: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Membership {
    pub organization_id: Uuid,
    pub kind: OrgKind,
    pub role: MemberRole,
    pub organization_status: OrgStatus,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Member {
    pub account_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: MemberRole,
    pub joined_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_design_examples_of_uscc_are_judged_right() {
        assert!(Uscc::parse("91350100M000100Y43").is_ok());
        assert_eq!(Uscc::parse("91350100M000100Y4A"), Err(msg!("uscc-check-character")));
        assert!(Uscc::parse("91350100M000100Y4").is_err());
        assert!(Uscc::parse("9135010OM000100Y43").is_err());
        // 18 bytes, 17 characters: once a panic (slicing inside the last character).
        assert_eq!(Uscc::parse("91350100M000100Yé"), Err(msg!("uscc-length")));
        assert!(Uscc::parse("91350100M000100Y4é").is_err());
    }

    #[test]
    fn passwords_are_held_to_length_and_commonness() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("Password123").is_err());
        assert!(Password::parse("correct horse battery").is_ok());
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(Email::parse("  A@Example.CN ").unwrap().as_str(), "a@example.cn");
        assert!(Email::parse("not-an-email").is_err());
    }

    #[test]
    fn phones_accept_common_shapes() {
        assert!(Phone::parse("138 0000 0000").is_ok());
        assert!(Phone::parse("022-23456789").is_ok());
        assert!(Phone::parse("+86 13800000000").is_ok());
        assert!(Phone::parse("call me").is_err());
    }
}
