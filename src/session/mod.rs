//! Sessions in Redis over our own redis-rs connection.
//!
//! The browser holds an opaque 256-bit random id; Redis holds the session under
//! `{prefix}session:{sha256(id)}`, so that a dump of Redis yields no usable cookie. Each key
//! expires after the idle timeout (renewed on use) and never outlives the absolute lifetime.
//! `{prefix}account_session_list:{account_id}` lists an account's session keys (a sorted set by
//! creation time) so that logout-all, suspension and member removal can end them all. It is
//! capped (`session.max_per_account`): a login beyond the cap ends the account's oldest
//! sessions, and sessions that ended on their own are dropped from it at each login, so the
//! list, and what logout-all deletes in one script, stays small.
//!
//! Deleting keys alone loses a race: a login that checked the old password (or the account's
//! old status) just before a change commits would create its session just after the deletion.
//! So revocation also records when it happened (`{prefix}account_revoked:{account_id}`, in
//! Redis server time), every session records when its login *began* checking credentials, and a
//! session that began before the account's last revocation is refused. Callers revoke before
//! their transaction commits (a Redis failure aborts the change) and again after it.

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::SessionSettings;
use crate::identity::AccountRole;

/// What a session knows about its account. The role never changes for an account, so it is
/// safe to keep here; anything that can change (memberships, statuses) is read from Postgres.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionData {
    pub account_id: Uuid,
    pub role: AccountRole,
    /// Redis server time (µs) when the login that made this session began checking credentials.
    pub issued_at_us: i64,
    /// Unix milliseconds after which the session is over, however active it is.
    pub absolute_expiry_ms: i64,
}

/// Marks the account revoked now (server time) and deletes every session in its index, in one
/// atomic step so that no session can slip between reading the index and deleting it.
const REVOKE_ALL: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('SET', KEYS[2], string.format('%d', now), 'PX', ARGV[1])
local keys = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, k in ipairs(keys) do redis.call('DEL', k) end
redis.call('DEL', KEYS[1])
return 1
"#;

/// Stores a new session (KEYS[1]) and lists it in its account's index (KEYS[2]), dropping
/// entries whose sessions ended on their own, then ending the oldest beyond the cap (ARGV[4]).
/// Returns how many live sessions the cap ended.
const CREATE: &str = r#"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], now_ms, KEYS[1])
for _, k in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', k) == 0 then redis.call('ZREM', KEYS[2], k) end
end
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if excess > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], excess)
  for i = 1, #oldest, 2 do redis.call('DEL', oldest[i]) end
else
  excess = 0
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return excess
"#;

/// Renews a session's idle expiry and reads its account's revocation time, in one round trip
/// (every authenticated request makes it): the session (KEYS[1]) with `GETEX`, then the
/// marker named by ARGV[2] and the session's account id. The marker's name comes from the
/// session itself, so it cannot be declared in KEYS; that is fine on a single Redis (which is
/// what we run: sessions, counters and caches share one instance), not on a Redis Cluster.
/// Returns nil for no session, else `{session json, revoked_at or nil}`.
const LOAD: &str = r#"
local raw = redis.call('GETEX', KEYS[1], 'EX', ARGV[1])
if not raw then return nil end
local ok, data = pcall(cjson.decode, raw)
if not ok or type(data) ~= 'table' or type(data.account_id) ~= 'string' then return {raw, false} end
return {raw, redis.call('GET', ARGV[2] .. data.account_id)}
"#;

static LOAD_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(LOAD));

#[derive(Clone)]
pub struct SessionStore {
    redis: ConnectionManager,
    prefix: String,
    idle_secs: u64,
    absolute_secs: u64,
    max_per_account: u64,
}

impl SessionStore {
    pub fn new(redis: ConnectionManager, prefix: &str, settings: &SessionSettings) -> Self {
        Self {
            redis,
            prefix: prefix.to_string(),
            idle_secs: settings.idle_timeout_secs,
            absolute_secs: settings.absolute_timeout_secs,
            max_per_account: settings.max_per_account,
        }
    }

    /// The Redis key a session id is stored under.
    pub fn key_for(prefix: &str, session_id: &str) -> String {
        format!("{prefix}session:{}", hash_id(session_id))
    }

    pub fn index_key_for(prefix: &str, account_id: Uuid) -> String {
        format!("{prefix}account_session_list:{account_id}")
    }

    fn revoked_key(&self, account_id: Uuid) -> String {
        format!("{}account_revoked:{account_id}", self.prefix)
    }

    /// Redis server time in µs: taken when a login begins, before it reads any credentials.
    pub async fn now_us(&self) -> redis::RedisResult<i64> {
        let mut conn = self.redis.clone();
        let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut conn).await?;
        Ok(secs * 1_000_000 + micros)
    }

    /// Starts a session and returns its id, which only the cookie carries. Beyond
    /// `session.max_per_account` live sessions, the account's oldest end.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn create(&self, account_id: Uuid, role: AccountRole, issued_at_us: i64) -> redis::RedisResult<String> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let data = SessionData {
            account_id,
            role,
            issued_at_us,
            absolute_expiry_ms: now_ms() + self.absolute_secs as i64 * 1000,
        };
        let key = Self::key_for(&self.prefix, &id);
        let index = Self::index_key_for(&self.prefix, account_id);
        let json = serde_json::to_string(&data).expect("session data serializes");
        let mut conn = self.redis.clone();
        let ended: u64 = redis::Script::new(CREATE)
            .key(&key)
            .key(&index)
            .arg(json)
            .arg(self.idle_secs)
            .arg(self.absolute_secs)
            .arg(self.max_per_account)
            .invoke_async(&mut conn)
            .await?;
        if ended > 0 {
            tracing::info!(%account_id, ended, "a new login ended the account's oldest sessions");
        }
        Ok(id)
    }

    /// The live session for `session_id`, renewing its idle timeout; None when it is unknown,
    /// idle too long or past its absolute lifetime.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn load(&self, session_id: &str) -> redis::RedisResult<Option<SessionData>> {
        let key = Self::key_for(&self.prefix, session_id);
        let mut conn = self.redis.clone();
        let found: Option<(String, Option<i64>)> = LOAD_SCRIPT
            .key(&key)
            .arg(self.idle_secs)
            .arg(format!("{}account_revoked:", self.prefix))
            .invoke_async(&mut conn)
            .await?;
        let Some((raw, revoked_at)) = found else {
            return Ok(None);
        };
        let Ok(data) = serde_json::from_str::<SessionData>(&raw) else {
            return Ok(None);
        };
        let remaining_ms = data.absolute_expiry_ms - now_ms();
        if remaining_ms <= 0 || revoked_at.is_some_and(|r| r >= data.issued_at_us) {
            let _: () = conn.del(&key).await?;
            return Ok(None);
        }
        if remaining_ms < self.idle_secs as i64 * 1000 {
            let _: () = conn.pexpire_at(&key, data.absolute_expiry_ms).await?;
        }
        Ok(Some(data))
    }

    /// Ends one session.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn destroy(&self, session_id: &str, account_id: Uuid) -> redis::RedisResult<()> {
        let key = Self::key_for(&self.prefix, session_id);
        let index = Self::index_key_for(&self.prefix, account_id);
        let mut conn = self.redis.clone();
        redis::pipe().atomic().del(&key).ignore().zrem(&index, &key).ignore().query_async::<()>(&mut conn).await
    }

    /// Ends every session of an account, including any whose login is still in flight.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn revoke_all(&self, account_id: Uuid) -> redis::RedisResult<()> {
        let mut conn = self.redis.clone();
        redis::Script::new(REVOKE_ALL)
            .key(Self::index_key_for(&self.prefix, account_id))
            .key(self.revoked_key(account_id))
            .arg(self.absolute_secs * 1000)
            .invoke_async::<()>(&mut conn)
            .await
    }
}

fn hash_id(session_id: &str) -> String {
    crate::digest::sha256_hex(&[session_id.as_bytes()], 32)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
