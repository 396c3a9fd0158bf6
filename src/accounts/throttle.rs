//! Failed-login counters in Redis, per email and per client address, so that guessing is
//! throttled across every instance of the service.

use std::net::IpAddr;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::config::LoginThrottleSettings;
use crate::error::{AppError, Result};

#[derive(Clone)]
pub struct LoginThrottle {
    redis: ConnectionManager,
    prefix: String,
    settings: LoginThrottleSettings,
}

impl LoginThrottle {
    pub fn new(redis: ConnectionManager, prefix: &str, settings: &LoginThrottleSettings) -> Self {
        Self {
            redis,
            prefix: prefix.to_string(),
            settings: settings.clone(),
        }
    }

    fn keys(&self, email: &str, client: IpAddr) -> [(String, u64); 2] {
        [
            (
                format!("{}login_fail:email:{email}", self.prefix),
                self.settings.max_failures_per_email,
            ),
            (
                format!("{}login_fail:client:{client}", self.prefix),
                self.settings.max_failures_per_client,
            ),
        ]
    }

    /// 429 with the honest number of seconds until the window ends, when either counter is
    /// at its limit.
    #[tracing::instrument(skip(self))]
    pub async fn check(&self, email: &str, client: IpAddr) -> Result<()> {
        let mut conn = self.redis.clone();
        for (key, limit) in self.keys(email, client) {
            let count: Option<u64> = conn.get(&key).await?;
            if count.unwrap_or(0) >= limit {
                let ttl: i64 = conn.ttl(&key).await?;
                // -1 (no expiry) cannot happen as keys are written with one; be safe anyway.
                let retry_after_secs = if ttl > 0 {
                    ttl as u64
                } else {
                    self.settings.window_secs
                };
                return Err(AppError::TooManyAttempts { retry_after_secs });
            }
        }
        Ok(())
    }

    /// Counts a failure; the window starts at the first failure and is not extended by later ones.
    #[tracing::instrument(skip(self))]
    pub async fn record_failure(&self, email: &str, client: IpAddr) -> Result<()> {
        let mut conn = self.redis.clone();
        let mut pipe = redis::pipe();
        for (key, _) in self.keys(email, client) {
            pipe.incr(&key, 1).ignore();
            pipe.cmd("EXPIRE")
                .arg(&key)
                .arg(self.settings.window_secs)
                .arg("NX")
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// A successful login clears the email's counter (not the client's: one address may be
    /// trying many accounts).
    #[tracing::instrument(skip(self))]
    pub async fn record_success(&self, email: &str, client: IpAddr) -> Result<()> {
        let mut conn = self.redis.clone();
        let [(email_key, _), _] = self.keys(email, client);
        let _: () = conn.del(email_key).await?;
        Ok(())
    }
}
