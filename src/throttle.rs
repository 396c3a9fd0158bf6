//! Login attempt counters in Redis, per email and per client address, so that guessing is
//! throttled across every instance of the service.
//!
//! Every attempt is counted *before* the password is checked (INCR, then `EXPIRE NX` so the
//! window starts at the first attempt and is not extended): parallel guesses cannot all slip
//! past a check-then-count. A successful login takes its attempt back, so the counters hold
//! failures.

use std::net::IpAddr;

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
        Self { redis, prefix: prefix.to_string(), settings: settings.clone() }
    }

    fn email_key(&self, email: &str) -> String {
        format!("{}login_fail:email:{email}", self.prefix)
    }

    fn client_key(&self, client: IpAddr) -> String {
        format!("{}login_fail:client:{client}", self.prefix)
    }

    /// Counts an attempt; 429 with the honest number of seconds until the window ends (rounded
    /// up) when either counter is past its limit.
    #[tracing::instrument(skip(self))]
    pub async fn attempt(&self, email: &str, client: IpAddr) -> Result<()> {
        let window_ms = self.settings.window_secs * 1000;
        let (email_key, client_key) = (self.email_key(email), self.client_key(client));
        let mut conn = self.redis.clone();
        let (by_email, by_client, email_ttl, client_ttl): (u64, u64, i64, i64) = redis::pipe()
            .atomic()
            .incr(&email_key, 1)
            .cmd("PEXPIRE")
            .arg(&email_key)
            .arg(window_ms)
            .arg("NX")
            .ignore()
            .incr(&client_key, 1)
            .cmd("PEXPIRE")
            .arg(&client_key)
            .arg(window_ms)
            .arg("NX")
            .ignore()
            .pttl(&email_key)
            .pttl(&client_key)
            .query_async(&mut conn)
            .await?;
        let mut wait_ms = 0;
        if by_email > self.settings.max_failures_per_email {
            wait_ms = wait_ms.max(email_ttl);
        }
        if by_client > self.settings.max_failures_per_client {
            wait_ms = wait_ms.max(client_ttl);
        }
        if wait_ms > 0 {
            let retry_after_secs = (wait_ms as u64).div_ceil(1000);
            return Err(AppError::TooManyAttempts { retry_after_secs });
        }
        Ok(())
    }

    /// A successful login clears the email's counter and takes back its attempt from the
    /// client's (one address may be trying many accounts, so its failures stay).
    #[tracing::instrument(skip(self))]
    pub async fn record_success(&self, email: &str, client: IpAddr) -> Result<()> {
        let mut conn = self.redis.clone();
        redis::pipe()
            .del(self.email_key(email))
            .ignore()
            .decr(self.client_key(client), 1)
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }
}
