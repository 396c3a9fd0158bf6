//! Read caches in Redis: the public catalog's (`catalog`) and the tallies' (`ledger`, retired
//! only when money moves: a payment or a completed refund, which retire both). A separate cache
//! keeps the tallies cached through the many catalog writes between two payments.
//!
//! Each read is kept under `{prefix}{name}:entry:{what}` as the generations it was filed
//! under, its etag and the rendered body. A read depends on the cache's generation
//! (`{prefix}{name}:gen`) and on the generations of its **scopes** (`{prefix}{name}:gen:{scope}`,
//! e.g. one product, or one category's lists): a write bumps (`INCR`) the generations of what it
//! changed — a scope each, or the whole cache — before and after its transaction commits, and
//! an entry filed under any other generations than the current ones is a miss. So a price change
//! of one product retires that product's pages and its category's lists, and the other
//! products' pages stay cached. A reader fetches the generations and the entry in one `MGET`
//! (one round trip, no script), and on a miss reads the generations *before* it reads Postgres
//! and files its entry under them. So an entry filled from data older than a commit always
//! carries a generation that the commit's bump has retired: once a write has been
//! acknowledged, no reader can be served its old data.
//!
//! A miss takes a short lock (`SET NX PX`) so that a stampede on one key reaches Postgres once;
//! the others poll the lock (a few bytes, not the entry) and read the entry once, when the
//! winner has stored it and dropped the lock. With Redis unreachable, reads go to Postgres.
//!
//! In front of Redis, each instance keeps the replies it served lately in memory (`local`),
//! with the generations they were filed under. Every bump is published on the cache's channel
//! (`INCR`s and `PUBLISH` in one script, with a sequence number that counts every bump), and
//! [`ReadCache::follow`] keeps each instance's idea of the current generations from those
//! messages; a scope's generation that no message has told yet is learned from the `MGET` of a
//! read (made while the subscription was live, so any later bump is told). While that
//! subscription is live, a read whose memory entry carries the current generations is answered
//! with no round trip at all. The instance that bumps knows the new generations at once; every
//! other instance within the time Redis takes to deliver the message (milliseconds on one
//! network). An instance that loses its subscription, or finds a message missing, reads
//! through Redis, exactly as without the memory tier, until it has subscribed again, read the
//! generation afresh and dropped what it held.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
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

/// One cache: its entries, the generation that retires them all at once, and the scopes'
/// generations that retire part of them.
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

/// Replies this instance served, by Redis key, with the generations each was filed under; and
/// the generations current as far as the subscription to bumps has told.
struct Local {
    entries: moka::sync::Cache<String, (Vec<u64>, Cached)>,
    /// Replaced by a new, empty one whenever the subscription starts again, so that a read that
    /// learned a generation before the break cannot file it where the new subscription's
    /// readers look.
    generations: RwLock<Arc<Generations>>,
    /// Whether the subscription is live and the generation was read after it started: only
    /// then can memory answer without asking Redis.
    live: AtomicBool,
}

/// The current generations, as told by the bumps' messages and learned from reads.
struct Generations {
    whole: AtomicU64,
    /// Scope → generation. Unbounded: one number per scope read or bumped, so per product and
    /// category at most; nothing is evicted, because a forgotten scope learned again from an
    /// old read could go back in time.
    scopes: moka::sync::Cache<String, Arc<AtomicU64>>,
    /// The sequence number of the latest bump told.
    seq: AtomicU64,
}

impl Generations {
    fn new() -> Self {
        Self { whole: AtomicU64::new(0), scopes: moka::sync::Cache::builder().build(), seq: AtomicU64::new(0) }
    }

    fn scope(&self, scope: &str) -> Arc<AtomicU64> {
        self.scopes.get_with_by_ref(scope, || Arc::new(AtomicU64::new(0)))
    }

    /// Records that `scope` is at `generation` or later.
    fn advance(&self, scope: &str, generation: u64) {
        self.scope(scope).fetch_max(generation, Ordering::AcqRel);
    }

    /// The current generations of the whole cache and these scopes; None when a scope's is
    /// not known yet.
    fn current(&self, scopes: &[String]) -> Option<Vec<u64>> {
        let mut generations = Vec::with_capacity(1 + scopes.len());
        generations.push(self.whole.load(Ordering::Acquire));
        for scope in scopes {
            generations.push(self.scopes.get(scope.as_str())?.load(Ordering::Acquire));
        }
        Some(generations)
    }

    /// Takes a bump's message: `seq`, then `scope generation` per line (`*` for the whole).
    fn tell(&self, message: &str) {
        let mut lines = message.lines();
        if let Some(seq) = lines.next().and_then(|s| s.parse::<u64>().ok()) {
            self.seq.fetch_max(seq, Ordering::AcqRel);
        }
        for line in lines {
            let Some((scope, generation)) = line.rsplit_once(' ') else { continue };
            let Ok(generation) = generation.parse::<u64>() else { continue };
            if scope == WHOLE {
                self.whole.fetch_max(generation, Ordering::AcqRel);
            } else {
                self.advance(scope, generation);
            }
        }
    }
}

impl Local {
    fn generations(&self) -> Arc<Generations> {
        self.generations.read().expect("the generations lock is never poisoned").clone()
    }

    /// The entry for `key`, if the subscription is live and it is of the current generations.
    fn get(&self, key: &str, scopes: &[String]) -> Option<Cached> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let current = self.generations.read().expect("the generations lock is never poisoned").current(scopes)?;
        self.entries.get(key).filter(|(filed, _)| *filed == current).map(|(_, cached)| cached)
    }
}

/// The name of the whole cache's generation in bump messages.
const WHOLE: &str = "*";

/// Bumps generations and tells every instance, in one round trip; returns the message. KEYS:
/// the channel (also the whole cache's generation), the bump sequence, then the generations to
/// bump; ARGV: their names in the message.
static BUMP: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
local told = {tostring(redis.call('INCR', KEYS[2]))}
for i = 3, #KEYS do
  told[#told + 1] = ARGV[i - 2] .. ' ' .. redis.call('INCR', KEYS[i])
end
local message = table.concat(told, '\n')
redis.call('PUBLISH', KEYS[1], message)
return message
",
    )
});

const LOCK_MS: u64 = 3000;

/// How often an instance reads the bump sequence besides listening for bumps. A bump that was
/// made before one read and still not told at the next is taken as a lost message: memory stops
/// answering and starts again from nothing. So a lost message can keep memory answering with a
/// retired entry for at most two of these (plus one Redis timeout).
pub const POLL: Duration = Duration::from_secs(1);

/// An entry is its generations (comma-separated), a newline, its etag, a newline, and the body.
fn encode(generations: &[u64], cached: &Cached) -> Vec<u8> {
    let filed: Vec<String> = generations.iter().map(u64::to_string).collect();
    let mut value = Vec::with_capacity(24 * generations.len() + cached.etag.len() + cached.body.len());
    value.extend_from_slice(format!("{}\n{}\n", filed.join(","), cached.etag).as_bytes());
    value.extend_from_slice(&cached.body);
    value
}

/// The entry, if it was filed under `generations`.
fn decode(raw: &[u8], generations: &[u64]) -> Option<Cached> {
    let first = raw.iter().position(|&b| b == b'\n')?;
    let filed = std::str::from_utf8(&raw[..first]).ok()?;
    let filed: Vec<u64> = filed.split(',').map(str::parse).collect::<std::result::Result<_, _>>().ok()?;
    if filed != generations {
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
                    .weigher(|key: &String, (_, cached): &(Vec<u64>, Cached)| {
                        u32::try_from(key.len() + cached.etag.len() + cached.body.len()).unwrap_or(u32::MAX)
                    })
                    .time_to_live(Duration::from_secs(ttl_secs))
                    .build(),
                generations: RwLock::new(Arc::new(Generations::new())),
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

    /// Keeps the memory tier's generations current from the bumps published on the cache's
    /// channel, for as long as the server runs: subscribes, reads the generation and the bump
    /// sequence (after subscribing, so that no bump falls in between), and from then on takes
    /// every published bump. When the subscription breaks, or a bump's message is found
    /// missing, memory stops answering until all of that is done again (once a second), and
    /// what it held is dropped: Redis may have restarted with its generations back at zero.
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
        let seq_key = self.sequence_key();
        let (generation, seq): (Option<u64>, Option<u64>) =
            redis::cmd("MGET").arg(channel).arg(&seq_key).query_async(&mut conn).await?;
        let generations = Arc::new(Generations::new());
        generations.whole.store(generation.unwrap_or(0), Ordering::Release);
        generations.seq.store(seq.unwrap_or(0), Ordering::Release);
        *local.generations.write().expect("the generations lock is never poisoned") = generations.clone();
        local.entries.invalidate_all();
        local.live.store(true, Ordering::Release);
        let mut messages = pubsub.into_on_message();
        // A subscription can die without its connection saying so (a network partition without
        // a reset), and a message can be lost: the bump sequence is also read every POLL, and a
        // bump made before one read and not told by the next ends this subscription.
        let mut poll = tokio::time::interval(POLL);
        let mut made_before_last_poll = seq.unwrap_or(0);
        loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(message) => {
                        if let Ok(text) = message.get_payload::<String>() {
                            generations.tell(&text);
                        }
                    }
                    None => return Ok(()),
                },
                _ = poll.tick() => {
                    let seq: Option<u64> = conn.get(&seq_key).await?;
                    let seq = seq.unwrap_or(0);
                    let told = generations.seq.load(Ordering::Acquire);
                    if seq < told {
                        // Redis lost its data (a restart): start over from what it has now.
                        return Ok(());
                    }
                    if told < made_before_last_poll {
                        tracing::warn!(channel, told, made_before_last_poll, "a cache bump was never told; subscribing again");
                        return Ok(());
                    }
                    made_before_last_poll = seq;
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

    fn sequence_key(&self) -> String {
        format!("{}gen-seq", self.prefix)
    }

    fn scope_key(&self, scope: &str) -> String {
        format!("{}gen:{scope}", self.prefix)
    }

    /// Retires every cached read. Called by every write that does not say what it changed,
    /// after its commit (and before, so that a write fails cleanly while Redis is unreachable).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn invalidate(&self) -> Result<()> {
        self.bump(None).await
    }

    /// Retires the cached reads of these scopes (and only those).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn invalidate_scopes(&self, scopes: &[String]) -> Result<()> {
        self.bump(Some(scopes)).await
    }

    /// Bumps the whole cache's generation (None) or the scopes', and tells every instance.
    async fn bump(&self, scopes: Option<&[String]>) -> Result<()> {
        let mut script = BUMP.prepare_invoke();
        script.key(self.generation_key()).key(self.sequence_key());
        match scopes {
            None => {
                script.key(self.generation_key()).arg(WHOLE);
            }
            Some(scopes) => {
                for scope in scopes {
                    script.key(self.scope_key(scope)).arg(scope);
                }
            }
        }
        let mut conn = self.redis.clone();
        let told: String = script.invoke_async(&mut conn).await?;
        // This instance knows at once: it never serves what it retired after answering the write.
        if let Some(local) = &self.local {
            local.generations().tell(&told);
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
        tx: sqlx::Transaction<'_, sqlx::Postgres>,
        entries: Vec<trail::Entry>,
    ) -> Result<()> {
        self.commit_bumping(tx, entries, None).await
    }

    /// `commit` for a write that changed only what these scopes cover.
    pub async fn commit_scoped(&self, tx: sqlx::Transaction<'_, sqlx::Postgres>, scopes: &[String]) -> Result<()> {
        self.commit_bumping(tx, Vec::new(), Some(scopes)).await
    }

    /// `commit_audited` for a write that changed only what these scopes cover.
    pub async fn commit_audited_scoped(
        &self,
        tx: sqlx::Transaction<'_, sqlx::Postgres>,
        entries: Vec<trail::Entry>,
        scopes: &[String],
    ) -> Result<()> {
        self.commit_bumping(tx, entries, Some(scopes)).await
    }

    async fn commit_bumping(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        entries: Vec<trail::Entry>,
        scopes: Option<&[String]>,
    ) -> Result<()> {
        self.bump(scopes).await?;
        trail::append_all(&mut tx, entries).await?;
        tx.commit().await?;
        if let Err(e) = self.bump(scopes).await {
            // Only an entry filled between the two bumps can survive this, until its TTL.
            tracing::error!(error = ?e, "catalog cache could not be invalidated after a commit");
        }
        Ok(())
    }

    /// The cached reply for `what`, which depends on these `scopes` (and on the whole cache),
    /// or `load`'s, stored for the next reader.
    pub async fn get_or_load<F, Fut>(&self, what: &str, scopes: &[String], load: F) -> Result<Cached>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>>>,
    {
        if !self.enabled {
            return Ok(Cached::new(load().await?));
        }
        let key = format!("{}entry:{what}", self.prefix);
        if let Some(hit) = self.local.as_ref().and_then(|local| local.get(&key, scopes)) {
            self.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        self.get_or_load_shared(&key, scopes, load).await
    }

    /// Files a reply read or made under `generations` in the memory tier, and learns the
    /// scopes' generations (`learned_by`: the generations as they were before the read, so
    /// that what a read made before a new subscription learned is not kept).
    fn remember(
        &self,
        key: &str,
        scopes: &[String],
        generations: &[u64],
        cached: &Cached,
        learned_by: Option<&Generations>,
    ) {
        if let (Some(local), Some(learned_by)) = (&self.local, learned_by) {
            for (scope, generation) in scopes.iter().zip(&generations[1..]) {
                learned_by.advance(scope, *generation);
            }
            local.entries.insert(key.to_string(), (generations.to_vec(), cached.clone()));
        }
    }

    /// The reply from Redis, or `load`'s stored there; remembered in memory either way.
    async fn get_or_load_shared<F, Fut>(&self, key: &str, scopes: &[String], load: F) -> Result<Cached>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>>>,
    {
        // Taken before the read: what the read learns goes to the subscription it was made under.
        let learned_by =
            self.local.as_ref().filter(|local| local.live.load(Ordering::Acquire)).map(|local| local.generations());
        let learned_by = learned_by.as_deref();
        let (generations, hit) = match self.read(key, scopes).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "catalog cache unavailable; reading Postgres");
                return Ok(Cached::new(load().await?));
            }
        };
        if let Some(hit) = hit {
            self.remember(key, scopes, &generations, &hit, learned_by);
            return Ok(hit);
        }
        let mut conn = self.redis.clone();
        let filed: Vec<String> = generations.iter().map(u64::to_string).collect();
        let lock = format!("{key}:lock:{}", filed.join(","));
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
        if !won && let Some(hit) = self.wait_for_fill(key, scopes, &lock).await {
            self.remember(key, scopes, &generations, &hit, learned_by);
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
            .set_ex(key, encode(&generations, &fresh), self.ttl_secs)
            .ignore()
            .del(&lock)
            .ignore()
            .query_async(&mut conn)
            .await;
        match stored {
            Ok(()) => self.remember(key, scopes, &generations, &fresh, learned_by),
            Err(e) => tracing::warn!(error = %e, "could not fill the catalog cache"),
        }
        Ok(fresh)
    }

    /// Waits for the reader that holds the fill `lock` to store its entry, polling the lock (a
    /// few bytes) rather than the entry, and reading the entry once the lock is gone: the winner
    /// stores the entry and then deletes the lock in one pipeline, and a winner that failed or
    /// died leaves no entry (the lock expires). None when no current entry comes in time, or
    /// the generations moved on meanwhile (the winner's entry was filed under retired ones).
    async fn wait_for_fill(&self, key: &str, scopes: &[String], lock: &str) -> Option<Cached> {
        let mut conn = self.redis.clone();
        for _ in 0..WAIT_STEPS {
            tokio::time::sleep(WAIT_STEP).await;
            match conn.exists::<_, bool>(lock).await {
                Ok(true) => {}
                Ok(false) => return self.read(key, scopes).await.ok().and_then(|(_, hit)| hit),
                Err(_) => return None,
            }
        }
        None
    }

    /// The current generations (the whole cache's, then each scope's) and the entry, if it is
    /// of those generations: one round trip.
    async fn read(&self, key: &str, scopes: &[String]) -> redis::RedisResult<(Vec<u64>, Option<Cached>)> {
        let mut conn = self.redis.clone();
        let mut mget = redis::cmd("MGET");
        mget.arg(self.generation_key());
        for scope in scopes {
            mget.arg(self.scope_key(scope));
        }
        mget.arg(key);
        let mut values: Vec<Option<Vec<u8>>> = mget.query_async(&mut conn).await?;
        let raw = values.pop().flatten();
        let generations: Vec<u64> = values
            .iter()
            .map(|v| v.as_deref().and_then(|v| std::str::from_utf8(v).ok()?.parse().ok()).unwrap_or(0))
            .collect();
        let hit = raw.as_deref().and_then(|r| decode(r, &generations));
        Ok((generations, hit))
    }
}
