//! Argon2id hashing, off the async threads and bounded: a hash costs tens of milliseconds of
//! CPU and `argon2_memory_kib` of memory, so at most `password.max_concurrent_hashes` run at
//! once per instance. A request that waits longer than `password.hash_queue_timeout_ms` for a
//! slot is answered 503 `server_busy` with `Retry-After` instead of queueing without end.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::PasswordSettings;
use crate::error::{AppError, Result};

#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Arc<Argon2<'static>>,
    /// A hash of a random password, verified against when the email is unknown so that a
    /// wrong email costs as long as a wrong password.
    dummy_hash: Arc<String>,
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
}

impl PasswordHasher {
    pub fn new(settings: &PasswordSettings) -> anyhow::Result<Self> {
        let params =
            Params::new(settings.argon2_memory_kib, settings.argon2_iterations, settings.argon2_parallelism, None)
                .map_err(|e| anyhow::anyhow!("invalid Argon2 settings: {e}"))?;
        let argon2 = Arc::new(Argon2::new(Algorithm::Argon2id, Version::V0x13, params));
        let dummy = argon2
            .hash_password(uuid::Uuid::now_v7().to_string().as_bytes(), &salt())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?
            .to_string();
        Ok(Self {
            argon2,
            dummy_hash: Arc::new(dummy),
            slots: Arc::new(Semaphore::new(settings.max_concurrent_hashes)),
            queue_timeout: Duration::from_millis(settings.hash_queue_timeout_ms),
        })
    }

    /// A hashing slot, waited for at most the queue timeout; 503 `server_busy` after it.
    /// Held by the blocking task itself, so a request that goes away mid-hash does not free
    /// its slot before the hash is done.
    pub async fn slot(&self) -> Result<OwnedSemaphorePermit> {
        match tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned()).await {
            Ok(permit) => Ok(permit.context("the hashing semaphore is never closed")?),
            Err(_) => Err(AppError::Busy { retry_after_secs: 1 }),
        }
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn hash(&self, password: &str) -> Result<String> {
        let slot = self.slot().await?;
        let argon2 = self.argon2.clone();
        let password = password.to_string();
        let hash = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            argon2
                .hash_password(password.as_bytes(), &salt())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
        })
        .await
        .context("hashing task failed")??;
        Ok(hash)
    }

    /// Whether `password` matches `hash`; with no hash (unknown account) it still does the
    /// work and answers false.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or(&self.dummy_hash).to_string();
        let slot = self.slot().await?;
        let argon2 = self.argon2.clone();
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash is malformed: {e}"))?;
            Ok::<_, anyhow::Error>(argon2.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .context("verification task failed")??;
        Ok(known && matches)
    }
}

/// A fresh 16-byte random salt, as the PHC string format recommends.
fn salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    salt
}
