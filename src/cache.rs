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
//!
//! In front of Redis, each instance keeps the replies it served lately in memory (`local`),
//! with the generation they were filed under. Every bump is published on the generation key's
//! channel (`INCR` and `PUBLISH` in one script), and [`ReadCache::follow`] keeps each instance's
//! idea of the current generation from those messages. While that subscription is live, a read
//! whose memory entry carries the current generation is answered with no round trip at all. The
//! instance that bumps knows the new generation at once; every other instance within the time
//! Redis takes to deliver the message (milliseconds on one network). An instance that loses its
//! subscription reads through Redis, exactly as without the memory tier, until it has
//! subscribed again, read the generation afresh and dropped what it held.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// The memory tier; None when `local_max_bytes` is 0.
    local: Option<Arc<Local>>,
    /// The Redis key prefix and the cache's name, e.g. `tonggan:catalog:`.
    prefix: String,
    ttl_secs: u64,
    enabled: bool,
    /// How many times a read went to Postgres through the cache: lets tests see a stampede
    /// collapse into one load.
    loads: Arc<AtomicU64>,
    /// How many reads memory answered without asking Redis.
    memory_hits: Arc<AtomicU64>,
}

/// Replies this instance served, by Redis key, with the generation each was filed under; and the
/// generation current as far as the subscription to bumps has told.
struct Local {
    entries: moka::sync::Cache<String, (u64, Cached)>,
    generation: AtomicU64,
    /// Whether the subscription is live and `generation` was read after it started: only then
    /// can memory answer without asking Redis.
    live: AtomicBool,
}

impl Local {
    /// The entry for `key`, if the subscription is live and it is of the current generation.
    fn get(&self, key: &str) -> Option<Cached> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let generation = self.generation.load(Ordering::Acquire);
        self.entries.get(key).filter(|(filed, _)| *filed == generation).map(|(_, cached)| cached)
    }
}

/// Bumps the generation and tells every instance, in one round trip.
const BUMP: &str = "local g = redis.call('INCR', KEYS[1]) redis.call('PUBLISH', KEYS[1], g) return g";

const LOCK_MS: u64 = 3000;

/// How often an instance reads the generation besides listening for bumps: the longest a lost
/// pub/sub message can keep memory answering with a retired entry (plus one Redis timeout).
pub const POLL: Duration = Duration::from_secs(1);

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
    /// A cache named `name`; `local_max_bytes` bounds the memory tier (0: none).
    pub fn new(
        redis: ConnectionManager,
        prefix: &str,
        name: &str,
        ttl_secs: u64,
        enabled: bool,
        local_max_bytes: u64,
    ) -> Self {
        let local = (enabled && local_max_bytes > 0).then(|| {
            Arc::new(Local {
                entries: moka::sync::Cache::builder()
                    .max_capacity(local_max_bytes)
                    .weigher(|key: &String, (_, cached): &(u64, Cached)| {
                        u32::try_from(key.len() + cached.etag.len() + cached.body.len()).unwrap_or(u32::MAX)
                    })
                    .time_to_live(Duration::from_secs(ttl_secs))
                    .build(),
                generation: AtomicU64::new(0),
                live: AtomicBool::new(false),
            })
        });
        Self {
            redis,
            local,
            prefix: format!("{prefix}{name}:"),
            ttl_secs,
            enabled,
            loads: Arc::default(),
            memory_hits: Arc::default(),
        }
    }

    /// Keeps the memory tier's generation current from the bumps published on the generation
    /// key's channel, for as long as the server runs: subscribes, reads the generation (after
    /// subscribing, so that no bump falls in between), and from then on takes every published
    /// one. When the subscription breaks, memory stops answering until all of that is done again
    /// (once a second), and what it held is dropped: Redis may have restarted with its
    /// generations back at zero.
    pub async fn follow(self, client: redis::Client) {
        let Some(local) = self.local.clone() else { return };
        let channel = self.generation_key();
        loop {
            if let Err(e) = self.follow_once(&client, &local, &channel).await {
                tracing::warn!(error = %e, channel, "cache generation subscription failed; reading through Redis");
            }
            local.live.store(false, Ordering::Release);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn follow_once(&self, client: &redis::Client, local: &Local, channel: &str) -> redis::RedisResult<()> {
        use futures_util::StreamExt;
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        let mut conn = self.redis.clone();
        let generation: Option<u64> = conn.get(channel).await?;
        local.entries.invalidate_all();
        local.generation.store(generation.unwrap_or(0), Ordering::Release);
        local.live.store(true, Ordering::Release);
        let mut messages = pubsub.into_on_message();
        // A subscription can die without its connection saying so (a network partition without
        // a reset): the generation is also read every POLL, which bounds how long a lost
        // message can leave memory answering with a retired entry, and a failed read stops it.
        let mut poll = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(message) => {
                        if let Ok(generation) = message.get_payload::<u64>() {
                            local.generation.fetch_max(generation, Ordering::AcqRel);
                        }
                    }
                    None => return Ok(()),
                },
                _ = poll.tick() => {
                    let generation: Option<u64> = conn.get(channel).await?;
                    let generation = generation.unwrap_or(0);
                    if generation < local.generation.load(Ordering::Acquire) {
                        // Redis lost its data (a restart): start over from what it has now.
                        return Ok(());
                    }
                    local.generation.fetch_max(generation, Ordering::AcqRel);
                }
            }
        }
    }

    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    pub fn memory_hits(&self) -> u64 {
        self.memory_hits.load(Ordering::Relaxed)
    }

    /// Whether memory may answer: the subscription to bumps is live.
    pub fn is_following(&self) -> bool {
        self.local.as_ref().is_some_and(|local| local.live.load(Ordering::Acquire))
    }

    fn generation_key(&self) -> String {
        format!("{}gen", self.prefix)
    }

    /// Retires every cached public read. Called by every catalog write after its commit (and
    /// before, so that a write fails cleanly while Redis is unreachable).
    #[tracing::instrument(skip(self))]
    pub async fn invalidate(&self) -> Result<()> {
        let mut conn = self.redis.clone();
        let generation: u64 = redis::Script::new(BUMP).key(self.generation_key()).invoke_async(&mut conn).await?;
        if let Some(local) = &self.local {
            local.generation.fetch_max(generation, Ordering::AcqRel);
        }
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
        if let Some(hit) = self.local.as_ref().and_then(|local| local.get(&key)) {
            self.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        self.get_or_load_shared(&key, load).await
    }

    /// Files a reply read or made under `generation` in the memory tier.
    fn remember(&self, key: &str, generation: u64, cached: &Cached) {
        if let Some(local) = &self.local {
            local.entries.insert(key.to_string(), (generation, cached.clone()));
        }
    }

    /// The reply from Redis, or `load`'s stored there; remembered in memory either way.
    async fn get_or_load_shared<F, Fut>(&self, key: &str, load: F) -> Result<Cached>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>>>,
    {
        let (generation, hit) = match self.read(key).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "catalog cache unavailable; reading Postgres");
                return Ok(Cached::new(load().await?));
            }
        };
        if let Some(hit) = hit {
            self.remember(key, generation, &hit);
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
        if !won && let Some(hit) = self.wait_for_fill(key, generation).await {
            self.remember(key, generation, &hit);
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
            .set_ex(key, encode(generation, &fresh), self.ttl_secs)
            .ignore()
            .del(&lock)
            .ignore()
            .query_async(&mut conn)
            .await;
        match stored {
            Ok(()) => self.remember(key, generation, &fresh),
            Err(e) => tracing::warn!(error = %e, "could not fill the catalog cache"),
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
