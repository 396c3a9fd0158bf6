//! Sessions in Redis over our own redis-rs connection.
//!
//! The browser holds an opaque 256-bit random id; Redis holds the session under
//! `{prefix}session:{sha256(id)}`, so that a dump of Redis yields no usable cookie. Each key
//! expires after the idle timeout (renewed on use) and never outlives the absolute lifetime.
//! `{prefix}account_sessions:{account_id}` lists an account's session keys so that
//! logout-all, suspension and member removal can end them all.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::accounts::model::AccountRole;
use crate::config::SessionSettings;

/// What a session knows about its account. The role never changes for an account, so it is
/// safe to keep here; anything that can change (memberships, statuses) is read from Postgres.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionData {
    pub account_id: Uuid,
    pub role: AccountRole,
    /// Unix seconds after which the session is over, however active it is.
    pub absolute_expiry: i64,
}

#[derive(Clone)]
pub struct SessionStore {
    redis: ConnectionManager,
    prefix: String,
    idle_secs: u64,
    absolute_secs: u64,
}

impl SessionStore {
    pub fn new(redis: ConnectionManager, prefix: &str, settings: &SessionSettings) -> Self {
        Self {
            redis,
            prefix: prefix.to_string(),
            idle_secs: settings.idle_timeout_secs,
            absolute_secs: settings.absolute_timeout_secs,
        }
    }

    /// The Redis key a session id is stored under.
    pub fn key_for(prefix: &str, session_id: &str) -> String {
        format!("{prefix}session:{}", hash_id(session_id))
    }

    pub fn index_key_for(prefix: &str, account_id: Uuid) -> String {
        format!("{prefix}account_sessions:{account_id}")
    }

    /// Starts a session and returns its id, which only the cookie carries.
    #[tracing::instrument(skip(self))]
    pub async fn create(&self, account_id: Uuid, role: AccountRole) -> redis::RedisResult<String> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let data = SessionData {
            account_id,
            role,
            absolute_expiry: now() + self.absolute_secs as i64,
        };
        let key = Self::key_for(&self.prefix, &id);
        let index = Self::index_key_for(&self.prefix, account_id);
        let json = serde_json::to_string(&data).expect("session data serializes");
        let mut conn = self.redis.clone();
        redis::pipe()
            .atomic()
            .set_ex(&key, json, self.idle_secs)
            .ignore()
            .sadd(&index, &key)
            .ignore()
            .expire(&index, self.absolute_secs as i64)
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        Ok(id)
    }

    /// The live session for `session_id`, renewing its idle timeout; None when it is unknown,
    /// idle too long or past its absolute lifetime.
    #[tracing::instrument(skip_all)]
    pub async fn load(&self, session_id: &str) -> redis::RedisResult<Option<SessionData>> {
        let key = Self::key_for(&self.prefix, session_id);
        let mut conn = self.redis.clone();
        let raw: Option<String> = conn.get_ex(&key, redis::Expiry::EX(self.idle_secs)).await?;
        let Some(data) = raw.and_then(|r| serde_json::from_str::<SessionData>(&r).ok()) else {
            return Ok(None);
        };
        let remaining = data.absolute_expiry - now();
        if remaining <= 0 {
            let _: () = conn.del(&key).await?;
            return Ok(None);
        }
        if remaining < self.idle_secs as i64 {
            let _: () = conn.expire_at(&key, data.absolute_expiry).await?;
        }
        Ok(Some(data))
    }

    /// Ends one session.
    #[tracing::instrument(skip_all)]
    pub async fn destroy(&self, session_id: &str, account_id: Uuid) -> redis::RedisResult<()> {
        let key = Self::key_for(&self.prefix, session_id);
        let index = Self::index_key_for(&self.prefix, account_id);
        let mut conn = self.redis.clone();
        redis::pipe()
            .atomic()
            .del(&key)
            .ignore()
            .srem(&index, &key)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
    }

    /// Ends every session of an account.
    #[tracing::instrument(skip(self))]
    pub async fn destroy_all(&self, account_id: Uuid) -> redis::RedisResult<()> {
        let index = Self::index_key_for(&self.prefix, account_id);
        let mut conn = self.redis.clone();
        let keys: Vec<String> = conn.smembers(&index).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in &keys {
            pipe.del(key).ignore();
        }
        pipe.del(&index).ignore();
        pipe.query_async::<()>(&mut conn).await
    }
}

fn hash_id(session_id: &str) -> String {
    let digest = Sha256::digest(session_id.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
