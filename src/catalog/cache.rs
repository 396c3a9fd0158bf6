//! The public catalog cache in Redis.
//!
//! Keys are `{prefix}catalog:{generation}:{what}`. Every write that changes what a public read
//! returns bumps the generation (`INCR {prefix}catalog:gen`) after its transaction commits, so
//! all older entries become unreachable at once and expire on their TTL. A reader reads the
//! generation *before* it reads Postgres, so an entry filled from data older than a commit is
//! always filed under a generation that the commit's bump has already retired: once a write has
//! been acknowledged, no reader can be served its old data.
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
use sha2::{Digest, Sha256};

use crate::error::Result;

/// A rendered public reply and its entity tag.
#[derive(Debug, Clone)]
pub struct Cached {
    pub etag: String,
    pub body: Bytes,
}

impl Cached {
    pub fn new(body: Vec<u8>) -> Self {
        let digest = Sha256::digest(&body);
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        Self { etag: format!("\"{hex}\""), body: Bytes::from(body) }
    }
}

#[derive(Clone)]
pub struct CatalogCache {
    redis: ConnectionManager,
    prefix: String,
    ttl_secs: u64,
    enabled: bool,
    /// How many times a read went to Postgres through the cache: lets tests see a stampede
    /// collapse into one load.
    loads: Arc<AtomicU64>,
}

const LOCK_MS: u64 = 3000;

/// Reads the generation and the entry filed under it in one round trip. The entry's key is
/// built inside the script, which a single Redis (not a cluster) allows.
const READ: &str = r#"
local g = redis.call('GET', KEYS[1]) or '0'
return {g, redis.call('GET', ARGV[1] .. g .. ARGV[2])}
"#;

/// An entry is its etag, a newline, and the body.
fn parse(raw: &[u8]) -> Option<Cached> {
    let split = raw.iter().position(|&b| b == b'\n')?;
    let etag = String::from_utf8(raw[..split].to_vec()).ok()?;
    Some(Cached { etag, body: Bytes::copy_from_slice(&raw[split + 1..]) })
}
const WAIT_STEP: Duration = Duration::from_millis(5);
const WAIT_STEPS: usize = 400;

impl CatalogCache {
    pub fn new(redis: ConnectionManager, prefix: &str, ttl_secs: u64, enabled: bool) -> Self {
        Self { redis, prefix: prefix.to_string(), ttl_secs, enabled, loads: Arc::default() }
    }

    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    fn generation_key(&self) -> String {
        format!("{}catalog:gen", self.prefix)
    }

    /// Retires every cached public read. Called by every catalog write after its commit (and
    /// before, so that a write fails cleanly while Redis is unreachable).
    #[tracing::instrument(skip(self))]
    pub async fn invalidate(&self) -> Result<()> {
        let mut conn = self.redis.clone();
        let _: u64 = conn.incr(self.generation_key(), 1).await?;
        Ok(())
    }

    /// Commits a transaction that changed public catalog data: invalidates before the commit
    /// (so that a Redis failure aborts the change) and after it (retiring any entry filled
    /// from data read while the transaction was in flight).
    pub async fn commit(&self, tx: sqlx::Transaction<'_, sqlx::Postgres>) -> Result<()> {
        self.invalidate().await?;
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
        let mut conn = self.redis.clone();
        // One round trip: the generation and the entry under it.
        let read: redis::RedisResult<(String, Option<Vec<u8>>)> = redis::Script::new(READ)
            .key(self.generation_key())
            .arg(format!("{}catalog:", self.prefix))
            .arg(format!(":{what}"))
            .invoke_async(&mut conn)
            .await;
        let generation = match read {
            Ok((_, Some(raw))) if let Some(hit) = parse(&raw) => return Ok(hit),
            Ok((generation, _)) => generation,
            Err(e) => {
                tracing::warn!(error = %e, "catalog cache unavailable; reading Postgres");
                return Ok(Cached::new(load().await?));
            }
        };
        let key = format!("{}catalog:{generation}:{what}", self.prefix);
        let lock = format!("{key}:lock");
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
        if !won {
            for _ in 0..WAIT_STEPS {
                tokio::time::sleep(WAIT_STEP).await;
                if let Ok(Some(hit)) = self.read(&key).await {
                    return Ok(hit);
                }
            }
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
        let mut value = Vec::with_capacity(fresh.etag.len() + 1 + fresh.body.len());
        value.extend_from_slice(fresh.etag.as_bytes());
        value.push(b'\n');
        value.extend_from_slice(&fresh.body);
        let stored: redis::RedisResult<()> =
            redis::pipe().set_ex(&key, value, self.ttl_secs).ignore().del(&lock).ignore().query_async(&mut conn).await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, "could not fill the catalog cache");
        }
        Ok(fresh)
    }

    async fn read(&self, key: &str) -> redis::RedisResult<Option<Cached>> {
        let mut conn = self.redis.clone();
        let raw: Option<Vec<u8>> = conn.get(key).await?;
        Ok(raw.as_deref().and_then(parse))
    }
}
