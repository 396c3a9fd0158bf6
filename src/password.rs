//! Argon2id hashing, off the async threads: a hash costs tens of milliseconds of CPU.

use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::PasswordSettings;

#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Arc<Argon2<'static>>,
    /// A hash of a random password, verified against when the email is unknown so that a
    /// wrong email costs as long as a wrong password.
    dummy_hash: Arc<String>,
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
        Ok(Self { argon2, dummy_hash: Arc::new(dummy) })
    }

    #[tracing::instrument(skip_all)]
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let argon2 = self.argon2.clone();
        let password = password.to_string();
        tokio::task::spawn_blocking(move || {
            argon2
                .hash_password(password.as_bytes(), &salt())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
        })
        .await
        .context("hashing task failed")?
    }

    /// Whether `password` matches `hash`; with no hash (unknown account) it still does the
    /// work and answers false.
    #[tracing::instrument(skip_all)]
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> anyhow::Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or(&self.dummy_hash).to_string();
        let argon2 = self.argon2.clone();
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || {
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
