//! Assembles the router from the areas' routers and serves it with graceful shutdown. The
//! state it serves lives in `state.rs`, below every area.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::csrf::CsrfLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Settings;
use crate::http::{health, middleware, openapi};
use crate::state::AppState;
use crate::{accounts, audit, catalog, i18n, jobs, orders, payments, regions, tallies, workflows};

/// The whole HTTP application. Tests call this with their own state.
pub fn app(state: AppState) -> Router {
    let api = OpenApiRouter::new()
        .merge(regions::router())
        .merge(accounts::router())
        .merge(catalog::router())
        .merge(orders::router(&state.settings.orders))
        .merge(payments::router())
        .merge(tallies::router())
        .merge(audit::router())
        .merge(workflows::router());
    let (router, api_doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::livez))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .nest("/api/v1", api)
        .split_for_parts();
    let settings = state.settings.clone();
    let api_doc = Arc::new(openapi::finish(api_doc, &settings.session.cookie_name, catalog::model::UNITS));

    let router = router
        .route("/api/v1/openapi.json", get(move || async move { axum::Json(api_doc.as_ref().clone()) }))
        .route("/docs", get(openapi::docs_page))
        .route("/docs/swagger-ui-bundle.js", get(openapi::docs_js))
        .route("/docs/swagger-ui.css", get(openapi::docs_css))
        .route("/docs/init.js", get(openapi::docs_init))
        .fallback(middleware::not_found)
        .route_layer(axum::middleware::from_fn(middleware::track_metrics))
        .layer(DefaultBodyLimit::max(settings.server.body_limit_bytes));
    with_layers(router, &settings)
        .layer(axum::middleware::from_fn_with_state(settings.server.default_language, i18n::negotiate))
        .with_state(state)
}

/// What every request passes through, outermost first: sensitive headers hidden from logs, a
/// request id, the request span, panics turned into 500 problems, problem documents for bare
/// errors, the timeout and CSRF.
fn with_layers(router: Router<AppState>, settings: &Settings) -> Router<AppState> {
    let mut csrf = CsrfLayer::new();
    for origin in &settings.server.trusted_origins {
        csrf = csrf.add_trusted_origin(origin).expect("trusted origins are checked at start-up");
    }
    let csrf = csrf.with_rejection_response(middleware::csrf_rejection);
    let timeout = Duration::from_secs(settings.server.request_timeout_secs);
    router.layer(
        ServiceBuilder::new()
            .layer(SetSensitiveHeadersLayer::new([
                axum::http::header::COOKIE,
                axum::http::header::SET_COOKIE,
                axum::http::header::AUTHORIZATION,
            ]))
            .layer(SetRequestIdLayer::new(middleware::REQUEST_ID.clone(), MakeRequestUuid))
            .layer(axum::middleware::from_fn(middleware::access_log))
            .layer(PropagateRequestIdLayer::new(middleware::REQUEST_ID.clone()))
            .layer(middleware::catch_panic())
            .layer(axum::middleware::from_fn(middleware::problem_for_bare_errors))
            .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
            .layer(csrf),
    )
}

/// Serves until ctrl-c or SIGTERM, letting in-flight requests finish.
pub async fn serve(listener: TcpListener, state: AppState) -> anyhow::Result<()> {
    jobs::spawn(state.clone());
    let redis = redis::Client::open(state.settings.redis.url.expose_secret()).context("invalid Redis URL")?;
    tokio::spawn(state.catalog_cache.clone().follow(redis.clone()));
    tokio::spawn(state.ledger_cache.clone().follow(redis));
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
