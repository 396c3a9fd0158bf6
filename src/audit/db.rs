//! The audit area's SQL: reading `audit_log` (appends are `crate::trail`'s).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::trail::Content;

/// An entry as stored.
#[derive(Debug, Clone)]
pub struct EntryRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_role: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub detail: serde_json::Value,
    pub content_sha256: Vec<u8>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl EntryRow {
    /// The fields its content hash covers, as stored.
    pub fn content(&self) -> Content<'_> {
        Content {
            at: self.at,
            actor_id: self.actor_id,
            actor_role: &self.actor_role,
            action: &self.action,
            target_kind: &self.target_kind,
            target_id: &self.target_id,
            detail: &self.detail,
        }
    }
}

/// The list's filters, already checked.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<Uuid>,
    pub action: Option<String>,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Entries matching `f`, newest first, before `before` (a seq).
#[tracing::instrument(level = "debug", skip(db))]
pub async fn list(db: impl PgExecutor<'_>, f: &Filter, before: Option<i64>, limit: i64) -> sqlx::Result<Vec<EntryRow>> {
    sqlx::query_as!(
        EntryRow,
        r#"
        select seq, at, actor_id, actor_role, action, target_kind, target_id, detail, content_sha256,
               prev_hash, hash
        from audit_log
        where ($1::uuid is null or actor_id = $1) and ($2::text is null or action = $2)
          and ($3::text is null or target_kind = $3) and ($4::text is null or target_id = $4)
          and ($5::timestamptz is null or at >= $5) and ($6::timestamptz is null or at < $6)
          and ($7::bigint is null or seq < $7)
        order by seq desc limit $8
        "#,
        f.actor,
        f.action,
        f.target_kind,
        f.target_id,
        f.from,
        f.to,
        before,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Up to `limit` entries after `after` (a seq), oldest first: one page of the chain's walk.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn chain_after(db: impl PgExecutor<'_>, after: i64, limit: i64) -> sqlx::Result<Vec<EntryRow>> {
    sqlx::query_as!(
        EntryRow,
        r#"
        select seq, at, actor_id, actor_role, action, target_kind, target_id, detail, content_sha256,
               prev_hash, hash
        from audit_log where seq > $1 order by seq limit $2
        "#,
        after,
        limit,
    )
    .fetch_all(db)
    .await
}
