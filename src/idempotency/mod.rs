//! Idempotency keys for requests that create orders, payments and refunds, as Stripe does them:
//! a key is stored per account with a hash of the request and, once known, the reply. The same
//! key and request get the saved reply (also after a restart); the same key with another
//! request is 422 `idempotency_key_reused`; a duplicate while the first is still running is 409
//! `idempotency_key_in_use`; a 5xx or a 429 frees the key. Below every area: orders and payments use it,
//! and an order and its saved reply commit together (`finish_in`).
//!
//! Claiming a key is a commit of its own (a WAL flush), so work that has a transaction anyway
//! can claim the key in it instead (`run_claiming`, `claim_all_in`): orders are placed that way,
//! and a new key then costs one read and no commit.

mod db;

use std::future::Future;

use axum::http::{HeaderMap, StatusCode};
use uuid::Uuid;

use serde::Serialize;
use sqlx::PgExecutor;

use crate::config::OrdersSettings;
use crate::error::{AppError, Result};
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";

/// The most a stored reply may hold (bytes of JSON). A client error can echo what was sent
/// (serde's "invalid type: string \"…\""), and a key's row outlives the request by the
/// retention: without a cap, anyone could park a megabyte per request in Postgres.
pub const MAX_STORED_REPLY: usize = 16 * 1024;
/// Longest text kept of any string in a stored client error.
const MAX_STORED_TEXT: usize = 256;
/// Keys deleted per statement by `purge_expired`.
const PURGE_BATCH: i64 = 5_000;

/// What to do with a request.
#[derive(Debug)]
pub enum Claim {
    /// This request holds the key: run it.
    Run,
    /// The key already has a reply: send it again.
    Replay(StatusCode, serde_json::Value),
}

/// The key from the request headers: required, 1 to 255 visible ASCII characters.
pub fn key_from(headers: &HeaderMap) -> Result<String> {
    let Some(value) = headers.get(HEADER) else {
        return Err(AppError::bad_request("idempotency_key_required", msg!("idempotency_key_required")));
    };
    match value.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => Ok(k.to_string()),
        _ => Err(AppError::bad_request("idempotency_key_invalid", msg!("idempotency_key_invalid"))),
    }
}

/// The fingerprint of a request: which endpoint and exactly which body.
pub fn request_hash(path: &str, body: &[u8]) -> String {
    crate::digest::sha256_hex(&[path.as_bytes(), &[0], body], 32)
}

#[tracing::instrument(level = "debug", skip(state))]
pub async fn claim(state: &AppState, account_id: Uuid, key: &str, hash: &str) -> Result<Claim> {
    let settings: &OrdersSettings = &state.settings.orders;
    for _ in 0..2 {
        if db::claim_key(&state.db, account_id, key, hash).await? {
            return Ok(Claim::Run);
        }
        let Some(record) = db::find_key(&state.db, account_id, key).await? else {
            continue; // released between the two statements: try to claim again
        };
        let retention = settings.idempotency_retention_hours as i32;
        let in_flight = settings.idempotency_in_flight_secs as i32;
        let expired = record.created_at < chrono::Utc::now() - chrono::Duration::hours(retention as i64);
        if expired {
            if db::reclaim_key(&state.db, account_id, key, hash, retention, in_flight).await? {
                return Ok(Claim::Run);
            }
            continue;
        }
        if record.request_hash != hash {
            return Err(AppError::Unprocessable {
                code: "idempotency_key_reused",
                detail: msg!("idempotency_key_reused"),
            });
        }
        if record.state == "in_flight" {
            if db::reclaim_key(&state.db, account_id, key, hash, retention, in_flight).await? {
                return Ok(Claim::Run);
            }
            return Err(in_use());
        }
        let status = record.response_status.and_then(|s| StatusCode::from_u16(s as u16).ok()).unwrap_or(StatusCode::OK);
        return Ok(Claim::Replay(status, record.response_body.unwrap_or(serde_json::Value::Null)));
    }
    Err(in_use())
}

/// Runs a request whose work can claim the key in its own transaction and save its reply
/// there, so that a new key costs no commit of its own: `work(false)` must claim the key with
/// `claim_all_in` and answer 409 `idempotency_key_in_use` when it finds it taken, keeping
/// nothing under the key unless it succeeds; `work(true)` runs with the key already claimed and
/// saves its reply with `finish_in`.
///
/// A key that has a row already (a retry, a reuse, a request still running, an expired key)
/// goes through `run` as before. So does a key that another request claimed between that look
/// and the work. A client error of the work is saved as the key's reply, as `run` does, unless
/// another request's reply got there first (then that one is sent); a server error or a 429
/// leaves the key free.
pub async fn run_claiming<T: Serialize, Fut: Future<Output = Result<T>>>(
    state: &AppState,
    account_id: Uuid,
    key: &str,
    hash: &str,
    work: impl Fn(bool) -> Fut,
) -> Result<Outcome<T>> {
    if db::find_key(&state.db, account_id, key).await?.is_none() {
        match work(false).await {
            Ok(reply) => return Ok(Outcome::Done(Box::new(reply))),
            Err(e) if e.code() == IN_USE => {}
            Err(e) if kept_as_reply(&e) => {
                return match claim(state, account_id, key, hash).await? {
                    Claim::Replay(status, body) => Ok(Outcome::Replay(status, body)),
                    Claim::Run => {
                        settle_error(state, account_id, key, &e).await?;
                        Err(e)
                    }
                };
            }
            Err(e) => return Err(e),
        }
    }
    run(state, account_id, key, hash, Save::ByTheWork, || work(true)).await
}

/// The code of the 409 for a key that another request holds.
const IN_USE: &str = "idempotency_key_in_use";

/// The 409 for a key that another request holds.
pub fn in_use() -> AppError {
    AppError::conflict(IN_USE, msg!("idempotency_key_in_use"))
}

/// Whether an error is saved as the key's reply: client errors are, except a 429 (an answer
/// about when, not about the request).
fn kept_as_reply(error: &AppError) -> bool {
    error.status().is_client_error() && error.status() != StatusCode::TOO_MANY_REQUESTS
}

/// A key to claim in a transaction: (account, key, request hash).
pub type KeyClaim<'a> = (Uuid, &'a str, &'a str);

/// Claims keys inside the caller's transaction (for `run_claiming`'s work): which of them this
/// transaction now holds, by position. A key given twice is claimed for its first position
/// only. Keys are taken in (account, key) order, so that two transactions claiming overlapping
/// keys cannot deadlock; a key that another transaction claimed and has not committed waits for
/// it. Claim before taking any other lock.
pub async fn claim_all_in(db: impl PgExecutor<'_>, claims: &[KeyClaim<'_>]) -> Result<Vec<bool>> {
    let mut order: Vec<usize> = (0..claims.len()).collect();
    order.sort_by_key(|&i| (claims[i].0, claims[i].1, i));
    order.dedup_by_key(|&mut i| (claims[i].0, claims[i].1));
    let accounts: Vec<Uuid> = order.iter().map(|&i| claims[i].0).collect();
    let keys: Vec<&str> = order.iter().map(|&i| claims[i].1).collect();
    let hashes: Vec<&str> = order.iter().map(|&i| claims[i].2).collect();
    let claimed: std::collections::HashSet<(Uuid, String)> =
        db::claim_keys(db, &accounts, &keys, &hashes).await?.into_iter().collect();
    let mut held = vec![false; claims.len()];
    for i in order {
        held[i] = claimed.contains(&(claims[i].0, claims[i].1.to_string()));
    }
    Ok(held)
}

/// Frees keys claimed in the caller's transaction whose work was refused: nothing stays under
/// them when it commits (`run_claiming` saves the refusal).
pub async fn release_all_in(db: impl PgExecutor<'_>, keys: &[(Uuid, &str)]) -> Result<()> {
    let accounts: Vec<Uuid> = keys.iter().map(|(a, _)| *a).collect();
    let keys: Vec<&str> = keys.iter().map(|(_, k)| *k).collect();
    db::release_keys(db, &accounts, &keys).await?;
    Ok(())
}

/// What a request under a key came to.
#[derive(Debug)]
pub enum Outcome<T> {
    /// This request ran; its reply is saved under the key (by `run`, or by the work itself
    /// through `finish_in` when the reply must commit with it).
    Done(Box<T>),
    /// An earlier request with the key already has a reply: send it again.
    Replay(StatusCode, serde_json::Value),
}

/// How a successful reply is saved under the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Save {
    /// The work saves it in its own transaction (`finish_in`), so reply and effect commit together.
    ByTheWork,
    /// `run` saves it after the work, with this status.
    After(StatusCode),
}

/// Runs a request under its idempotency key: claims the key, runs `work` when this request
/// holds it, and saves its reply (see `Save`); a client error is saved as the reply, a server
/// error or a 429 frees the key so that the client can retry.
pub async fn run<T: Serialize>(
    state: &AppState,
    account_id: Uuid,
    key: &str,
    hash: &str,
    save: Save,
    work: impl AsyncFnOnce() -> Result<T>,
) -> Result<Outcome<T>> {
    match claim(state, account_id, key, hash).await? {
        Claim::Replay(status, body) => Ok(Outcome::Replay(status, body)),
        Claim::Run => match work().await {
            Ok(reply) => {
                if let Save::After(status) = save {
                    let body = serde_json::to_value(&reply).map_err(anyhow::Error::from)?;
                    db::finish_key(&state.db, account_id, key, status.as_u16() as i32, &body).await?;
                }
                Ok(Outcome::Done(Box::new(reply)))
            }
            Err(e) => {
                settle_error(state, account_id, key, &e).await?;
                Err(e)
            }
        },
    }
}

/// The HTTP reply: `status` with the reply, or the saved reply of an earlier request with the
/// same key, marked `Idempotent-Replayed: true` (a saved client error keeps its problem type).
pub fn reply<T: Serialize>(outcome: Outcome<T>, status: StatusCode) -> axum::response::Response {
    use axum::http::HeaderValue;
    use axum::response::IntoResponse;
    match outcome {
        Outcome::Done(reply) => (status, axum::Json(reply)).into_response(),
        Outcome::Replay(status, body) => {
            let mut response = (status, axum::Json(body)).into_response();
            if status.is_client_error() {
                let problem = HeaderValue::from_static(crate::error::PROBLEM_JSON);
                response.headers_mut().insert(axum::http::header::CONTENT_TYPE, problem);
            }
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            response
        }
    }
}

/// Saves a successful reply under the key inside the caller's transaction.
pub async fn finish_in(
    db: impl PgExecutor<'_>,
    account_id: Uuid,
    key: &str,
    status: StatusCode,
    reply: &impl Serialize,
) -> Result<()> {
    let body = serde_json::to_value(reply).map_err(anyhow::Error::from)?;
    db::finish_key(db, account_id, key, status.as_u16() as i32, &body).await?;
    Ok(())
}

/// `finish_in` for many requests' replies at once: `(account, key, reply)` each.
pub async fn finish_all_in<T: Serialize>(
    db: impl PgExecutor<'_>,
    status: StatusCode,
    replies: &[(Uuid, &str, &T)],
) -> Result<()> {
    let accounts: Vec<Uuid> = replies.iter().map(|(a, _, _)| *a).collect();
    let keys: Vec<&str> = replies.iter().map(|(_, k, _)| *k).collect();
    let bodies = replies
        .iter()
        .map(|(_, _, r)| serde_json::to_value(r))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(anyhow::Error::from)?;
    db::finish_keys(db, &accounts, &keys, status.as_u16() as i32, &bodies).await?;
    Ok(())
}

/// Stores a client error as the key's reply; on a server error the key is released so that the
/// client can retry. So is it on a 429: "too many, try again after `Retry-After`" is an answer
/// about when, not about the request, and a retry with the same key after the wait must run
/// rather than replay the refusal for the key's whole retention.
#[tracing::instrument(level = "debug", skip(state, error))]
pub async fn settle_error(state: &AppState, account_id: Uuid, key: &str, error: &AppError) -> Result<()> {
    if error.status().is_server_error() || error.status() == StatusCode::TOO_MANY_REQUESTS {
        db::release_key(&state.db, account_id, key).await?;
    } else {
        let body = bounded(serde_json::to_value(error.problem()).map_err(anyhow::Error::from)?);
        db::finish_key(&state.db, account_id, key, error.status().as_u16() as i32, &body).await?;
    }
    Ok(())
}

/// A client error as it is stored (and replayed): every string cut to `MAX_STORED_TEXT`
/// characters; if that is still over `MAX_STORED_REPLY`, the per-field `errors` are dropped
/// (status, code and detail remain).
fn bounded(mut problem: serde_json::Value) -> serde_json::Value {
    fn cut(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) if s.chars().count() > MAX_STORED_TEXT => {
                *s = s.chars().take(MAX_STORED_TEXT).chain(['…']).collect();
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(cut),
            serde_json::Value::Object(map) => map.values_mut().for_each(cut),
            _ => {}
        }
    }
    cut(&mut problem);
    if problem.to_string().len() > MAX_STORED_REPLY
        && let Some(map) = problem.as_object_mut()
    {
        map.remove("errors");
    }
    problem
}

/// Deletes keys past `orders.idempotency_retention_hours` (run by the jobs loop on every
/// instance; `skip locked` keeps instances off each other's rows). Returns how many went.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn purge_expired(state: &AppState) -> Result<u64> {
    let retention = state.settings.orders.idempotency_retention_hours as i32;
    let mut purged = 0;
    loop {
        let n = db::purge_expired(&state.db, retention, PURGE_BATCH).await?;
        purged += n;
        if n < PURGE_BATCH as u64 {
            return Ok(purged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_client_error_keeps_its_code_and_at_most_the_cap() {
        let echo = "A".repeat(1_000_000);
        let problem = serde_json::json!({
            "status": 422, "code": "validation_failed", "detail": "the request has invalid fields",
            "errors": {"lines": [format!("invalid type: string \"{echo}\", expected a sequence")]},
        });
        let stored = bounded(problem.clone());
        assert!(stored.to_string().len() <= MAX_STORED_REPLY);
        assert_eq!(stored["code"], "validation_failed");
        assert!(stored["errors"]["lines"][0].as_str().unwrap().starts_with("invalid type: string \"AAA"));
        // Many long fields: still capped, by dropping the per-field messages.
        let many: serde_json::Map<String, serde_json::Value> =
            (0..200).map(|i| (format!("f{i}"), serde_json::json!([echo.clone()]))).collect();
        let stored = bounded(serde_json::json!({"status": 422, "code": "validation_failed", "errors": many}));
        assert!(stored.to_string().len() <= MAX_STORED_REPLY);
        assert_eq!(stored["code"], "validation_failed");
        assert!(stored.get("errors").is_none());
    }
}
