//! The audit trail's writer: appends hash-chained entries to `audit_log` inside the caller's
//! transaction, so an admin decision or a money movement and its entry commit together or not at
//! all. It sits below every area because every area has audited actions (catalog reviews,
//! payments, targets); the `audit` area reads, verifies and exports the chain.
//!
//! Chain: `content_sha256 = SHA-256(canonical content)`, `hash = SHA-256(prev_hash ||
//! content_sha256)`, the first entry's `prev_hash` is 32 zero bytes. Appends take one
//! transaction-scoped advisory lock, so entries are numbered and chained in commit order; callers
//! append last, just before committing, to hold it as briefly as possible, and never wait for a
//! row lock after it (another writer holding that row and waiting for the chain would deadlock).
//! Work that produces several entries gathers them and appends them together (`append_all`).
//! The format, for auditors who re-verify the chain themselves: docs/audit.md.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::Result;
use crate::identity::{AccountRole, CurrentUser};

/// The advisory lock that orders appends (an arbitrary constant, "audit" in ASCII).
const CHAIN_LOCK: i64 = 0x0061_7564_6974;

/// The prev_hash of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// Who acted: a signed-in account, or the system on someone's behalf (Stripe's webhook, a
/// background job, the command line).
#[derive(Debug, Clone)]
pub enum Actor {
    Account { id: Uuid, role: AccountRole },
    System(&'static str),
}

impl Actor {
    pub fn id(&self) -> Option<Uuid> {
        match self {
            Actor::Account { id, .. } => Some(*id),
            Actor::System(_) => None,
        }
    }

    /// `admin`, `auditor`, `enterprise`, … for accounts; `system:<what>` otherwise.
    pub fn role(&self) -> String {
        match self {
            Actor::Account { role, .. } => {
                serde_json::to_value(role).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
            }
            Actor::System(what) => format!("system:{what}"),
        }
    }
}

impl From<&CurrentUser> for Actor {
    fn from(user: &CurrentUser) -> Self {
        Actor::Account { id: user.account_id, role: user.role }
    }
}

/// One thing that happened, to be appended.
#[derive(Debug, Clone)]
pub struct Entry {
    pub actor: Actor,
    /// A stable dotted name: `organization.verify`, `payment.succeeded`, `export.ledger_csv`, ….
    pub action: &'static str,
    pub target_kind: &'static str,
    pub target_id: String,
    /// What was decided or moved (amounts in fen, reasons, ids). Integers and strings only:
    /// floats would not survive the jsonb round trip bit for bit.
    pub detail: Value,
}

impl Entry {
    pub fn new(
        actor: impl Into<Actor>,
        action: &'static str,
        target_kind: &'static str,
        target_id: impl ToString,
    ) -> Self {
        Entry {
            actor: actor.into(),
            action,
            target_kind,
            target_id: target_id.to_string(),
            detail: Value::Object(Default::default()),
        }
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

impl From<&'static str> for Actor {
    fn from(what: &'static str) -> Self {
        Actor::System(what)
    }
}

/// The fields of an entry that its content hash covers, as stored.
#[derive(Debug, Clone)]
pub struct Content<'a> {
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_role: &'a str,
    pub action: &'a str,
    pub target_kind: &'a str,
    pub target_id: &'a str,
    pub detail: &'a Value,
}

impl Content<'_> {
    /// SHA-256 of the canonical JSON: keys sorted at every level, no whitespace, the time in
    /// RFC 3339 UTC with microseconds (what Postgres keeps).
    pub fn sha256(&self) -> [u8; 32] {
        let value = serde_json::json!({
            "at": self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "actor_id": self.actor_id,
            "actor_role": self.actor_role,
            "action": self.action,
            "target_kind": self.target_kind,
            "target_id": self.target_id,
            "detail": self.detail,
        });
        let mut text = String::new();
        canonical(&value, &mut text);
        Sha256::digest(text.as_bytes()).into()
    }
}

/// The chain link: SHA-256(prev_hash || content_sha256).
pub fn link(prev_hash: &[u8], content_sha256: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(content_sha256);
    hasher.finalize().into()
}

/// Writes `value` as JSON with object keys sorted, whatever order the map kept them in (jsonb
/// reorders keys, and serde_json may preserve insertion order).
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Appends `entry` at the end of the chain, in the caller's transaction; returns its number.
///
/// The entry's time is the database's clock read after the chain's lock is taken, so entries
/// in `seq` order are also in time order (whichever instance wrote them), and a time range is
/// a range of the chain.
#[tracing::instrument(level = "debug", skip_all, fields(action = entry.action, target = %entry.target_id))]
pub async fn append(conn: &mut PgConnection, entry: Entry) -> Result<i64> {
    let at = sqlx::query_scalar!(r#"select clock_timestamp() as "at!" from pg_advisory_xact_lock($1)"#, CHAIN_LOCK)
        .fetch_one(&mut *conn)
        .await?
        .trunc_subsecs(6);
    let role = entry.actor.role();
    let content = Content {
        at,
        actor_id: entry.actor.id(),
        actor_role: &role,
        action: entry.action,
        target_kind: entry.target_kind,
        target_id: &entry.target_id,
        detail: &entry.detail,
    }
    .sha256();
    let seq = sqlx::query_scalar!(
        r#"
        insert into audit_log (seq, at, actor_id, actor_role, action, target_kind, target_id, detail,
                               content_sha256, prev_hash, hash)
        select coalesce(last.seq, 0) + 1, $1, $2, $3, $4, $5, $6, $7, $8,
               coalesce(last.hash, $9), sha256(coalesce(last.hash, $9) || $8)
        from (select 1) as one
        left join lateral (select seq, hash from audit_log order by seq desc limit 1) as last on true
        returning seq
        "#,
        at,
        entry.actor.id(),
        role,
        entry.action,
        entry.target_kind,
        entry.target_id,
        entry.detail,
        &content[..],
        &GENESIS[..],
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(seq)
}

/// Appends `entries` in order (nothing, and no lock, when there are none): the entries a piece
/// of work gathered while it held its row locks, appended after them, just before the commit.
pub async fn append_all(conn: &mut PgConnection, entries: impl IntoIterator<Item = Entry>) -> Result<()> {
    for entry in entries {
        append(conn, entry).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": "x"}], "c": null}});
        let mut text = String::new();
        canonical(&a, &mut text);
        assert_eq!(text, r#"{"a":{"c":null,"d":[1,{"y":"x","z":0}]},"b":1}"#);
    }

    #[test]
    fn the_link_covers_both_hashes() {
        let content = [7u8; 32];
        assert_ne!(link(&GENESIS, &content), link(&[1u8; 32], &content));
        assert_ne!(link(&GENESIS, &content), link(&GENESIS, &[8u8; 32]));
    }
}
