//! Audit entries as shown, the list's query, and what verifying the chain found.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::db::EntryRow;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries by this account.
    pub actor: Option<Uuid>,
    /// One action, such as `refund.complete` (docs/audit.md lists them).
    pub action: Option<String>,
    /// Entries about one kind of thing: `organization`, `product`, `price_alert`, `order`,
    /// `account`.
    pub target_kind: Option<String>,
    /// With `target_kind`: entries about this one (its id).
    pub target_id: Option<String>,
    /// At or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// One entry of the chain, with its hashes in lower-case hex, so that anyone can re-verify it
/// (docs/audit.md says how).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    /// 1, 2, 3, ... without gaps, in commit order.
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// The account that acted; null when the system did (Stripe's webhook, the command line).
    pub actor_id: Option<Uuid>,
    /// `admin`, `auditor`, `producer`, ... for accounts; `system:stripe`, `system:cli`.
    pub actor_role: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    /// What was decided or moved: amounts in fen, reasons, ids.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// SHA-256 of the entry's canonical content.
    pub content_sha256: String,
    /// The previous entry's `hash` (64 zeros for the first entry).
    pub prev_hash: String,
    /// SHA-256(prev_hash || content_sha256), over the raw 32-byte values.
    pub hash: String,
}

impl From<EntryRow> for AuditEntry {
    fn from(r: EntryRow) -> Self {
        AuditEntry {
            seq: r.seq,
            at: r.at,
            actor_id: r.actor_id,
            actor_role: r.actor_role,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            detail: r.detail,
            content_sha256: hex(&r.content_sha256),
            prev_hash: hex(&r.prev_hash),
            hash: hex(&r.hash),
        }
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What is wrong with the first entry that does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum ChainProblem {
    /// Its `seq` is not the previous entry's plus one (the first must be 1): an entry is missing.
    #[serde(rename = "sequence gap")]
    SequenceGap,
    /// Its content (time, actor, action, target, detail) is not what `content_sha256` covers.
    #[serde(rename = "content hash does not match")]
    ContentHash,
    /// Its `prev_hash` is not the previous entry's `hash` (zeros for the first).
    #[serde(rename = "prev_hash does not match the previous entry's hash")]
    PrevHash,
    /// Its `hash` is not SHA-256(prev_hash || content_sha256).
    #[serde(rename = "hash does not match")]
    Hash,
}

impl ChainProblem {
    pub fn as_str(self) -> &'static str {
        match self {
            ChainProblem::SequenceGap => "sequence gap",
            ChainProblem::ContentHash => "content hash does not match",
            ChainProblem::PrevHash => "prev_hash does not match the previous entry's hash",
            ChainProblem::Hash => "hash does not match",
        }
    }
}

/// The first entry that does not verify.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FirstBad {
    pub seq: i64,
    pub problem: ChainProblem,
}

/// What walking the chain found.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Verification {
    /// Every entry verifies. `last_seq` and `last_hash` are null for an empty log; keep
    /// `last_hash` somewhere else to notice later if entries were cut off the end.
    Intact {
        /// Always true.
        ok: bool,
        entries: i64,
        last_seq: Option<i64>,
        last_hash: Option<String>,
    },
    /// The walk stopped at the first entry that does not verify.
    Broken {
        /// Always false.
        ok: bool,
        /// Entries read, the bad one included.
        entries_checked: i64,
        first_bad: FirstBad,
    },
}

impl Verification {
    pub fn intact(entries: i64, last: Option<(i64, &[u8])>) -> Self {
        Verification::Intact {
            ok: true,
            entries,
            last_seq: last.map(|(seq, _)| seq),
            last_hash: last.map(|(_, hash)| hex(hash)),
        }
    }

    pub fn broken(entries_checked: i64, seq: i64, problem: ChainProblem) -> Self {
        Verification::Broken { ok: false, entries_checked, first_bad: FirstBad { seq, problem } }
    }
}
