//! Bounded text from requests, with the limits named once. Names, addresses and reasons are
//! `Text` (required, no control characters); notes and other optional free text go through
//! `optional`, where an empty or blank value means "none". Free text may span lines (`\n`,
//! `\r`, `\t`) but holds no other control character: NUL in particular, which Postgres
//! refuses in `text` and `jsonb` (it was a 500 before).

use crate::i18n::Msg;

/// The length limits of free-text fields, in characters.
pub mod limits {
    /// A person's or contact's name, a shipping recipient.
    pub const NAME: usize = 100;
    /// A legal name, a postal address, a shipping address line, an invoice title.
    pub const ADDRESS: usize = 200;
    /// A producer's farmer-linkage statement (联农带农).
    pub const LINKAGE: usize = 2000;
    /// Why an admin rejected or suspended something; a price change's reason.
    pub const REASON: usize = 500;
    /// A note on an approval, rejection or alert resolution.
    pub const NOTE: usize = 500;
    /// An enterprise's purchase-order number.
    pub const PO_NUMBER: usize = 64;
    /// A carrier's name.
    pub const CARRIER: usize = 50;
    /// A carrier's tracking number.
    pub const TRACKING_NO: usize = 64;
}

/// Trimmed text of bounded length that must not be empty: names, addresses, reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(String);

impl Text {
    pub fn parse(raw: &str, max_chars: usize) -> Result<Self, Msg> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(msg!("text-empty"));
        }
        if text.chars().count() > max_chars {
            return Err(too_long(max_chars));
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(msg!("text-control-characters"));
        }
        Ok(Self(text.to_string()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Trimmed text of at most `max_chars` characters, which may be empty.
pub fn trimmed(raw: &str, max_chars: usize) -> Result<String, Msg> {
    let text = raw.trim();
    if text.chars().count() > max_chars {
        return Err(too_long(max_chars));
    }
    free_text(text).map(str::to_string)
}

/// Optional free text: trimmed, `None` when absent or blank, at most `max_chars` characters.
pub fn optional(raw: Option<&str>, max_chars: usize) -> Result<Option<String>, Msg> {
    match raw.map(str::trim).filter(|t| !t.is_empty()) {
        Some(text) if text.chars().count() > max_chars => Err(too_long(max_chars)),
        Some(text) => free_text(text).map(|t| Some(t.to_string())),
        None => Ok(None),
    }
}

/// Multi-line text: line breaks and tabs pass, other control characters (NUL among them) do not.
fn free_text(text: &str) -> Result<&str, Msg> {
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(msg!("text-control-characters"));
    }
    Ok(text)
}

fn too_long(max_chars: usize) -> Msg {
    msg!("text-too-long", max = max_chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_optional_text_is_none_and_long_text_is_refused() {
        assert_eq!(optional(Some("  "), 5), Ok(None));
        assert_eq!(optional(Some(" ab "), 5), Ok(Some("ab".into())));
        assert!(optional(Some("abcdef"), 5).is_err());
        assert!(Text::parse(" ", 5).is_err());
        assert!(Text::parse("a\u{7}b", 5).is_err());
        assert_eq!(trimmed("  ", 5), Ok(String::new()));
        assert!(trimmed("a\0b", 5).is_err());
        assert!(optional(Some("a\u{1b}b"), 5).is_err());
        assert_eq!(optional(Some("a\nb"), 5), Ok(Some("a\nb".into())));
    }
}
