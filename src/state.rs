//! The application state and the connection builders: below every area, so that any area can
//! take `&AppState` without the state depending on areas (see docs/architecture.md).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::FromRef;
use metrics_exporter_prometheus::PrometheusHandle;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::cache::ReadCache;
use crate::config::Settings;
use crate::password::PasswordHasher;
use crate::session::SessionStore;
use crate::stripe::StripeClient;
use crate::telemetry;
use crate::throttle::{LoginThrottle, SignupThrottle};

/// Everything a handler may need, behind one `Arc`: axum clones the state for every request
/// (every handler call and every layer with state), and cloning this is one atomic increment,
/// where cloning the fields one by one was some twenty — measurable on `/livez` (issue 12).
/// Fields are read through `Deref` (`state.db`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What an [`AppState`] shares.
pub struct Shared {
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub sessions: SessionStore,
    pub login_throttle: LoginThrottle,
    pub signup_throttle: SignupThrottle,
    /// Public catalog reads.
    pub catalog_cache: ReadCache,
    /// Reads derived from the assistance ledger (tallies, the summary), retired by whoever
    /// appends to the ledger, after the commit.
    pub ledger_cache: ReadCache,
    pub hasher: PasswordHasher,
    pub stripe: StripeClient,
    pub settings: Arc<Settings>,
    pub metrics: PrometheusHandle,
}

impl FromRef<AppState> for () {
    fn from_ref(_: &AppState) -> Self {}
}

/// A Postgres pool that connects on first use, so the service starts (and `/readyz` can say
/// what is wrong) while the database is still coming up.
///
/// No ping before each checkout (sqlx's `test_before_acquire`): it is a round trip on every
/// query's critical path, and it only narrows, never closes, the window in which a connection
/// that just died fails one request — which then answers 500 and the connection is dropped.
pub fn db_pool(settings: &Settings) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .test_before_acquire(false)
        .max_connections(settings.database.max_connections)
        .acquire_timeout(Duration::from_secs(settings.database.acquire_timeout_secs))
        .connect_lazy(settings.database.url.expose_secret())
        .context("invalid database URL")
}

/// A Redis connection that also connects lazily and reconnects on its own.
pub fn redis_manager(settings: &Settings) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(settings.redis.url.expose_secret()).context("invalid Redis URL")?;
    let timeout = Duration::from_millis(settings.redis.response_timeout_ms);
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    ConnectionManager::new_lazy_with_config(client, config).context("invalid Redis settings")
}

impl AppState {
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = db_pool(&settings)?;
        let redis = redis_manager(&settings)?;
        let prefix = settings.redis.key_prefix.clone();
        Ok(Self(Arc::new(Shared {
            sessions: SessionStore::new(redis.clone(), &prefix, &settings.session),
            login_throttle: LoginThrottle::new(redis.clone(), &prefix, &settings.login_throttle),
            signup_throttle: SignupThrottle::new(redis.clone(), &prefix, &settings.signup_throttle),
            catalog_cache: ReadCache::new(
                redis.clone(),
                &prefix,
                "catalog",
                settings.catalog.cache_ttl_secs,
                settings.catalog.cache_enabled,
                settings.catalog.local_cache_max_bytes,
            ),
            ledger_cache: ReadCache::new(
                redis.clone(),
                &prefix,
                "ledger",
                settings.catalog.cache_ttl_secs,
                settings.catalog.cache_enabled,
                settings.catalog.local_cache_max_bytes,
            ),
            hasher: PasswordHasher::new(&settings.password)?,
            stripe: StripeClient::new(&settings.stripe)?,
            metrics: telemetry::metrics_handle(),
            db,
            redis,
            settings: Arc::new(settings),
        })))
    }
}
