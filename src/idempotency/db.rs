//! The idempotency keys table: one row per (account, key) with the request's hash and, once
//! known, the reply.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    pub state: String,
    pub response_status: Option<i32>,
    pub response_body: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// Claims the key for this request; false when a row for it already exists.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn claim_key(db: impl PgExecutor<'_>, account_id: Uuid, key: &str, request_hash: &str) -> sqlx::Result<bool> {
    sqlx::query!(
        r#"
        insert into idempotency_keys (account_id, key, request_hash, state) values ($1, $2, $3, 'in_flight')
        on conflict (account_id, key) do nothing
        "#,
        account_id,
        key,
        request_hash,
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// `claim_key` for many keys in one statement: the (account, key) pairs this claimed; a pair
/// left out already has a row. The pairs are inserted in the order given, so callers that sort
/// them take keys in one order and two batches cannot wait on each other's keys.
#[tracing::instrument(level = "debug", skip_all, fields(n = keys.len()))]
pub async fn claim_keys(
    db: impl PgExecutor<'_>,
    account_ids: &[Uuid],
    keys: &[&str],
    request_hashes: &[&str],
) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!(
        r#"
        insert into idempotency_keys (account_id, key, request_hash, state)
        select t.account_id, t.key, t.request_hash, 'in_flight'
        from unnest($1::uuid[], $2::text[], $3::text[]) with ordinality as t(account_id, key, request_hash, n)
        order by t.n
        on conflict (account_id, key) do nothing
        returning account_id, key
        "#,
        account_ids as &[Uuid],
        keys as &[&str],
        request_hashes as &[&str],
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.account_id, r.key)).collect())
}

/// `release_key` for many keys in one statement.
#[tracing::instrument(level = "debug", skip_all, fields(n = keys.len()))]
pub async fn release_keys(db: impl PgExecutor<'_>, account_ids: &[Uuid], keys: &[&str]) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        delete from idempotency_keys k using unnest($1::uuid[], $2::text[]) as t(account_id, key)
        where k.account_id = t.account_id and k.key = t.key and k.state = 'in_flight'
        "#,
        account_ids as &[Uuid],
        keys as &[&str],
    )
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_key(db: impl PgExecutor<'_>, account_id: Uuid, key: &str) -> sqlx::Result<Option<IdempotencyRecord>> {
    sqlx::query_as!(
        IdempotencyRecord,
        r#"select request_hash, state, response_status, response_body, created_at from idempotency_keys where account_id = $1 and key = $2"#,
        account_id,
        key,
    )
    .fetch_optional(db)
    .await
}

/// Takes over a key whose row is past its life (or a crashed in-flight request's): true when
/// this request now holds it.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn reclaim_key(
    db: impl PgExecutor<'_>,
    account_id: Uuid,
    key: &str,
    request_hash: &str,
    retention_hours: i32,
    in_flight_secs: i32,
) -> sqlx::Result<bool> {
    sqlx::query!(
        r#"
        update idempotency_keys set request_hash = $3, state = 'in_flight', response_status = null,
            response_body = null, created_at = now()
        where account_id = $1 and key = $2
          and (created_at < now() - make_interval(hours => $4)
               or (state = 'in_flight' and created_at < now() - make_interval(secs => $5)))
        "#,
        account_id,
        key,
        request_hash,
        retention_hours,
        f64::from(in_flight_secs),
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

#[tracing::instrument(level = "debug", skip(db, body))]
pub async fn finish_key(
    db: impl PgExecutor<'_>,
    account_id: Uuid,
    key: &str,
    status: i32,
    body: &serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update idempotency_keys set state = 'done', response_status = $3, response_body = $4 where account_id = $1 and key = $2"#,
        account_id,
        key,
        status,
        body,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// `finish_key` for many keys at once: `keys[i]` of `account_ids[i]` gets `bodies[i]`.
#[tracing::instrument(level = "debug", skip_all, fields(n = keys.len()))]
pub async fn finish_keys(
    db: impl PgExecutor<'_>,
    account_ids: &[Uuid],
    keys: &[&str],
    status: i32,
    bodies: &[serde_json::Value],
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        update idempotency_keys k set state = 'done', response_status = $3, response_body = t.body
        from unnest($1::uuid[], $2::text[], $4::jsonb[]) as t(account_id, key, body)
        where k.account_id = t.account_id and k.key = t.key
        "#,
        account_ids as &[Uuid],
        keys as &[&str],
        status,
        bodies as &[serde_json::Value],
    )
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn release_key(db: impl PgExecutor<'_>, account_id: Uuid, key: &str) -> sqlx::Result<()> {
    sqlx::query!(
        r#"delete from idempotency_keys where account_id = $1 and key = $2 and state = 'in_flight'"#,
        account_id,
        key,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes up to `batch` keys created before the retention (their replies can no longer be
/// asked for: an expired key is reclaimed, not replayed). Oldest first, by the created index.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn purge_expired(db: impl PgExecutor<'_>, retention_hours: i32, batch: i64) -> sqlx::Result<u64> {
    sqlx::query!(
        r#"
        delete from idempotency_keys
        where (account_id, key) in (
            select account_id, key from idempotency_keys
            where created_at < now() - make_interval(hours => $1)
            order by created_at
            limit $2
            for update skip locked
        )
        "#,
        retention_hours,
        batch,
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}
