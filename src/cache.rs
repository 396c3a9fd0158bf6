//! Read caches in Redis, each with its own generation: the public catalog's (`catalog`, retired by
//! every catalog write, an order taking stock included) and the tallies' (`ledger`, retired only
//! when money moves: a payment or a completed refund, which retire both). A separate generation
//! keeps the tallies cached through the many catalog writes between two payments.
//!
//! Each read is kept under `{prefix}{name}:entry:{what}` as `generation`, `etag` and the
//! rendered body. Every write that changes what a read returns bumps the generation
//! (`INCR {prefix}{name}:gen`) before and after its transaction commits; an entry filed under
//! any other generation than the current one is a miss. A reader fetches the generation and
//! the entry in one `MGET` (one round trip, no script), and on a miss reads the generation
//! *before* it reads Postgres and files its entry under it. So an entry filled from data older
//! than a commit always carries a generation that the commit's bump has retired: once a write
//! has been acknowledged, no reader can be served its old data.
//!
//! A miss takes a short lock (`SET NX PX`) so that a stampede on one key reaches Postgres once;
//! the others wait for the winner's entry. With Redis unreachable, reads go to Postgres.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::error::Result;
use crate::trail;

/// A rendered public reply and its entity tag.
#[derive(Debug, Clone)]
pub struct Cached {
    pub etag: String,
    pub body: Bytes,
}

impl Cached {
    pub fn new(body: Vec<u8>) -> Self {
        let hex = crate::digest::sha256_hex(&[&body], 16);
        Self { etag: format!("\"{hex}\""), body: Bytes::from(body) }
    }
}

/// One cache: its entries, and the generation that retires them all at once.
#[derive(Clone)]
pub struct ReadCache {
    redis: ConnectionManager,
    /// The Redis key prefix and the cache's name, e.g. `tonggan:catalog:`.
    prefix: String,
    ttl_secs: u64,
    enabled: bool,
    /// How many times a read went to Postgres through the cache: lets tests see a stampede
    /// collapse into one load.
    loads: Arc<AtomicU64>,
}

const LOCK_MS: u64 = 3000;

/// An entry is its generation, a newline, its etag, a newline, and the body.
fn encode(generation: u64, cached: &Cached) -> Vec<u8> {
    let mut value = Vec::with_capacity(24 + cached.etag.len() + cached.body.len());
    value.extend_from_slice(format!("{generation}\n{}\n", cached.etag).as_bytes());
    value.extend_from_slice(&cached.body);
    value
}

/// The entry, if it was filed under `generation`.
fn decode(raw: &[u8], generation: u64) -> Option<Cached> {
    let first = raw.iter().position(|&b| b == b'\n')?;
    if std::str::from_utf8(&raw[..first]).ok()?.parse::<u64>().ok()? != generation {
        return None;
    }
    let rest = &raw[first + 1..];
    let second = rest.iter().position(|&b| b == b'\n')?;
    let etag = String::from_utf8(rest[..second].to_vec()).ok()?;
    Some(Cached { etag, body: Bytes::copy_from_slice(&rest[second + 1..]) })
}

const WAIT_STEP: Duration = Duration::from_millis(5);
const WAIT_STEPS: usize = 400;

impl ReadCache {
    pub fn new(redis: ConnectionManager, prefix: &str, name: &str, ttl_secs: u64, enabled: bool) -> Self {
        Self { redis, prefix: format!("{prefix}{name}:"), ttl_secs, enabled, loads: Arc::default() }
    }

    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    fn generation_key(&self) -> String {
        format!("{}gen", self.prefix)
    }

    /// Retires every cached public read. Called by every catalog write after its commit (and
    /// before, so that a write fails cleanly while Redis is unreachable).
    #[tracing::instrument(skip(self))]
    pub async fn invalidate(&self) -> Result<()> {
        let mut conn = self.redis.clone();
        let _: u64 = conn.incr(self.generation_key(), 1).await?;
        Ok(())
    }

    /// Retires every cached public read after a commit that must not depend on Redis (money
    /// moved): a failure is logged, and stale entries live at most until their TTL.
    pub async fn bump_after_commit(&self) {
        if let Err(e) = self.invalidate().await {
            tracing::warn!(error = ?e, "catalog cache could not be invalidated after a commit");
        }
    }

    /// Commits a transaction that changed public catalog data: invalidates before the commit
    /// (so that a Redis failure aborts the change) and after it (retiring any entry filled
    /// from data read while the transaction was in flight).
    pub async fn commit(&self, tx: sqlx::Transaction<'_, sqlx::Postgres>) -> Result<()> {
        self.commit_audited(tx, Vec::new()).await
    }

    /// `commit` for a write that is also audited: the entries are appended after the first
    /// invalidation, so that the audit chain's lock (held until the commit, and awaited by every
    /// audited writer, payments included) is never held across a Redis round trip.
    pub async fn commit_audited(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        entries: Vec<trail::Entry>,
    ) -> Result<()> {
        self.invalidate().await?;
        trail::append_all(&mut tx, entries).await?;
        tx.commit().await?;
        if let Err(e) = self.invalidate().await {
            // Only an entry filled between the two bumps can survive this, until its TTL.
            tracing::error!(error = ?e, "catalog cache could not be invalidated after a commit");
        }
        Ok(())
    }

    /// The cached reply for `what`, or `load`'s, stored for the next reader.
    pub async fn get_or_load<F, Fut>(&self, what: &str, load: F) -> Result<Cached>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>>>,
    {
        if !self.enabled {
            return Ok(Cached::new(load().await?));
        }
        let key = format!("{}entry:{what}", self.prefix);
        let (generation, hit) = match self.read(&key).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "catalog cache unavailable; reading Postgres");
                return Ok(Cached::new(load().await?));
            }
        };
        if let Some(hit) = hit {
            return Ok(hit);
        }
        let mut conn = self.redis.clone();
        let lock = format!("{key}:lock:{generation}");
        let won: bool = redis::cmd("SET")
            .arg(&lock)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(LOCK_MS)
            .query_async::<Option<String>>(&mut conn)
            .await
            .map(|r| r.is_some())
            .unwrap_or(true);
        if !won && let Some(hit) = self.wait_for_fill(&key, generation).await {
            return Ok(hit);
        }
        self.loads.fetch_add(1, Ordering::Relaxed);
        let fresh = match load().await {
            Ok(body) => Cached::new(body),
            Err(e) => {
                // Not found, invalid, or failed: nothing to cache; let waiters load themselves.
                let _: redis::RedisResult<()> = conn.del(&lock).await;
                return Err(e);
            }
        };
        let stored: redis::RedisResult<()> = redis::pipe()
            .set_ex(&key, encode(generation, &fresh), self.ttl_secs)
            .ignore()
            .del(&lock)
            .ignore()
            .query_async(&mut conn)
            .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, "could not fill the catalog cache");
        }
        Ok(fresh)
    }

    /// Waits for the reader that holds the fill lock to store its entry; None when it does not
    /// come in time, or the generation moves on (the winner's entry would be stale anyway).
    async fn wait_for_fill(&self, key: &str, generation: u64) -> Option<Cached> {
        for _ in 0..WAIT_STEPS {
            tokio::time::sleep(WAIT_STEP).await;
            match self.read(key).await {
                Ok((_, Some(hit))) => return Some(hit),
                Ok((now, None)) if now != generation => return None,
                _ => {}
            }
        }
        None
    }

    /// The current generation and the entry, if it is of that generation: one round trip.
    async fn read(&self, key: &str) -> redis::RedisResult<(u64, Option<Cached>)> {
        let mut conn = self.redis.clone();
        let (generation, raw): (Option<u64>, Option<Vec<u8>>) =
            redis::cmd("MGET").arg(self.generation_key()).arg(key).query_async(&mut conn).await?;
        let generation = generation.unwrap_or(0);
        Ok((generation, raw.as_deref().and_then(|r| decode(r, generation))))
    }
}
