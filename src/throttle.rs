//! Attempt counters in Redis, shared by every instance of the service: failed logins (per
//! email for unknown clients, per device for clients that signed in before, per client
//! address) and sign-ups per client address.
//!
//! Every attempt is counted *before* the expensive work (the password hash), by
//! `rate_limit::hit`, which first checks every counter and refuses without counting when any is
//! at its limit, and otherwise increments them all, starting each window at its first attempt
//! (`PEXPIRE NX`). So parallel guesses cannot all slip past a check-then-count, and a client that keeps
//! knocking while refused neither grows its counter nor extends its window. A successful
//! login takes its attempt back, so the login counters hold failures.
//!
//! Keys are bounded whatever the request holds: the email part is the SHA-256 of the validated,
//! normalized address, and a device is the id inside a device cookie whose signature checked
//! (see `accounts::device`).

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::config::{LoginThrottleSettings, SignupThrottleSettings};
use crate::digest::sha256_hex;
use crate::error::{AppError, Result};
use crate::rate_limit::{self, Counter, Verdict};

/// Takes back one attempt from each counter that still exists (a counter whose window ended
/// meanwhile is not recreated without an expiry).
const TAKE_BACK: &str = r"
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
end
return 0
";

static TAKE_BACK_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(TAKE_BACK));

/// Fixed-window counters under one key prefix.
#[derive(Clone)]
struct Counters {
    redis: ConnectionManager,
    prefix: String,
}

impl Counters {
    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Counts one attempt on every counter unless one of them is at its limit
    /// (`rate_limit::hit`); then 429 `too_many_attempts` with the honest number of seconds until
    /// it may try again.
    async fn count(&self, counters: &[Counter], window_secs: u64) -> Result<()> {
        match rate_limit::hit(&self.redis, Duration::from_secs(window_secs), counters).await? {
            Verdict::Admitted => Ok(()),
            Verdict::Refused { retry_after_secs, .. } => Err(AppError::TooManyAttempts { retry_after_secs }),
        }
    }

    async fn take_back(&self, keys: &[String]) -> Result<()> {
        let mut invocation = TAKE_BACK_SCRIPT.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        invocation.invoke_async::<()>(&mut self.redis.clone()).await?;
        Ok(())
    }

    async fn clear(&self, key: &str) -> Result<()> {
        redis::cmd("DEL").arg(key).exec_async(&mut self.redis.clone()).await?;
        Ok(())
    }
}

/// Who is trying to sign in, as far as the login throttle can tell.
#[derive(Debug, Clone, Copy)]
pub enum LoginAttempt<'a> {
    /// A client with a valid device cookie for this email (it signed in as this account
    /// before): it spends only its own allowance, so strangers cannot lock it out.
    KnownDevice { device: &'a str },
    /// Any other client: the email's allowance shared by all unknown clients, and the
    /// address's. A malformed email (no account can have it) counts against the address only.
    Unknown { email: Option<&'a str>, client: IpAddr },
}

#[derive(Clone)]
pub struct LoginThrottle {
    counters: Counters,
    settings: LoginThrottleSettings,
}

impl LoginThrottle {
    pub fn new(redis: ConnectionManager, prefix: &str, settings: &LoginThrottleSettings) -> Self {
        Self { counters: Counters { redis, prefix: prefix.to_string() }, settings: settings.clone() }
    }

    /// The counter of failures from unknown clients against one (normalized, valid) email;
    /// public so that operators and tests can find it.
    pub fn email_key(&self, email: &str) -> String {
        self.counters.key(&format!("login_fail:email:{}", sha256_hex(&[email.as_bytes()], 32)))
    }

    fn device_key(&self, device: &str) -> String {
        self.counters.key(&format!("login_fail:device:{device}"))
    }

    fn client_key(&self, client: IpAddr) -> String {
        self.counters.key(&format!("login_fail:client:{client}"))
    }

    fn counters_of(&self, attempt: LoginAttempt<'_>) -> Vec<Counter> {
        let s = &self.settings;
        match attempt {
            LoginAttempt::KnownDevice { device } => {
                vec![Counter { key: self.device_key(device), max: s.max_failures_per_device }]
            }
            LoginAttempt::Unknown { email, client } => {
                let mut counters = vec![Counter { key: self.client_key(client), max: s.max_failures_per_client }];
                if let Some(email) = email {
                    counters.push(Counter { key: self.email_key(email), max: s.max_failures_per_email });
                }
                counters
            }
        }
    }

    /// Counts an attempt; 429 with the seconds until the window ends (rounded up) when any of
    /// its counters is at its limit, without counting it.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn attempt(&self, attempt: LoginAttempt<'_>) -> Result<()> {
        self.counters.count(&self.counters_of(attempt), self.settings.window_secs).await
    }

    /// A successful login clears the failures of its device, or of its email from unknown
    /// clients, and takes back its attempt from the address's counter (one address may be
    /// trying many accounts, so the address's other failures stay).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn record_success(&self, attempt: LoginAttempt<'_>) -> Result<()> {
        match attempt {
            LoginAttempt::KnownDevice { device } => self.counters.clear(&self.device_key(device)).await,
            LoginAttempt::Unknown { email, client } => {
                if let Some(email) = email {
                    self.counters.clear(&self.email_key(email)).await?;
                }
                self.counters.take_back(&[self.client_key(client)]).await
            }
        }
    }
}

/// Sign-ups per client address: each one costs a password hash and creates an account.
#[derive(Clone)]
pub struct SignupThrottle {
    counters: Counters,
    settings: SignupThrottleSettings,
}

impl SignupThrottle {
    pub fn new(redis: ConnectionManager, prefix: &str, settings: &SignupThrottleSettings) -> Self {
        Self { counters: Counters { redis, prefix: prefix.to_string() }, settings: settings.clone() }
    }

    /// Counts a sign-up attempt from `client`; 429 `too_many_attempts` once the address has
    /// made `max_per_client` within the window (refused attempts are not counted).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn attempt(&self, client: IpAddr) -> Result<()> {
        let key = self.counters.key(&format!("signup:client:{client}"));
        self.counters.count(&[Counter { key, max: self.settings.max_per_client }], self.settings.window_secs).await
    }
}
