//! Builds the application state and the router, and serves it with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{Request, StatusCode};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::csrf::CsrfLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::password::PasswordHasher;
use crate::accounts::throttle::LoginThrottle;
use crate::catalog::cache::CatalogCache;
use crate::config::Settings;
use crate::http::{health, middleware, openapi};
use crate::session::SessionStore;
use crate::{accounts, catalog, jobs, orders, regions, telemetry};

/// Everything a handler may need. Cheap to clone: pools and handles are shared.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub sessions: SessionStore,
    pub login_throttle: LoginThrottle,
    pub catalog_cache: CatalogCache,
    pub hasher: PasswordHasher,
    pub settings: Arc<Settings>,
    pub metrics: PrometheusHandle,
}

impl FromRef<AppState> for () {
    fn from_ref(_: &AppState) -> Self {}
}

/// A Postgres pool that connects on first use, so the service starts (and `/readyz` can say
/// what is wrong) while the database is still coming up.
pub fn db_pool(settings: &Settings) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
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
        Ok(Self {
            sessions: SessionStore::new(redis.clone(), &prefix, &settings.session),
            login_throttle: LoginThrottle::new(redis.clone(), &prefix, &settings.login_throttle),
            catalog_cache: CatalogCache::new(
                redis.clone(),
                &prefix,
                settings.catalog.cache_ttl_secs,
                settings.catalog.cache_enabled,
            ),
            hasher: PasswordHasher::new(&settings.password)?,
            metrics: telemetry::metrics_handle(),
            db,
            redis,
            settings: Arc::new(settings),
        })
    }
}

/// The whole HTTP application. Tests call this with their own state.
pub fn app(state: AppState) -> Router {
    let api = OpenApiRouter::new()
        .merge(regions::router())
        .merge(accounts::router())
        .merge(catalog::router())
        .merge(orders::router());
    let (router, api_doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::livez))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .nest("/api/v1", api)
        .split_for_parts();
    let api_doc = Arc::new(api_doc);

    let mut csrf = CsrfLayer::new();
    for origin in &state.settings.server.trusted_origins {
        csrf = csrf.add_trusted_origin(origin).expect("trusted origins are checked at start-up");
    }
    let csrf = csrf.with_rejection_response(middleware::csrf_rejection);

    let timeout = Duration::from_secs(state.settings.server.request_timeout_secs);
    let body_limit = state.settings.server.body_limit_bytes;

    router
        .route("/api/v1/openapi.json", get(move || async move { axum::Json(api_doc.as_ref().clone()) }))
        .route("/docs", get(openapi::docs_page))
        .route("/docs/swagger-ui-bundle.js", get(openapi::docs_js))
        .route("/docs/swagger-ui.css", get(openapi::docs_css))
        .route("/docs/init.js", get(openapi::docs_init))
        .fallback(middleware::not_found)
        .route_layer(axum::middleware::from_fn(middleware::track_metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveHeadersLayer::new([
                    axum::http::header::COOKIE,
                    axum::http::header::SET_COOKIE,
                    axum::http::header::AUTHORIZATION,
                ]))
                .layer(SetRequestIdLayer::new(middleware::REQUEST_ID.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<_>| {
                            let request_id = req
                                .headers()
                                .get(&middleware::REQUEST_ID)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default();
                            tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id)
                        })
                        .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(middleware::REQUEST_ID.clone()))
                .layer(axum::middleware::from_fn(middleware::problem_for_bare_errors))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
                .layer(csrf),
        )
        .with_state(state)
}

/// Serves until ctrl-c or SIGTERM, letting in-flight requests finish.
pub async fn serve(listener: TcpListener, state: AppState) -> anyhow::Result<()> {
    jobs::spawn(state.clone());
    let app = app(state);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server failed")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            sig.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
