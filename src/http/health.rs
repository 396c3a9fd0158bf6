//! Liveness, readiness and metrics: what load balancers and Prometheus ask.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// ok | degraded (Redis down: public reads work, sign-in does not) | unavailable
    status: &'static str,
    /// Per dependency: "ok" or what went wrong.
    postgres: String,
    redis: String,
}

/// The process is up. Does no I/O, so a slow database never gets the process restarted.
#[utoipa::path(get, path = "/livez", tag = "health", responses((status = 200, description = "alive")))]
pub async fn livez() -> &'static str {
    "ok"
}

/// Postgres and Redis both answer; 503 naming the one that does not.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let pg = async {
        let ping = sqlx::query_scalar!(r#"select 1 as "one!""#).fetch_one(&state.db);
        match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
            Ok(Ok(_)) => "ok".to_string(),
            Ok(Err(e)) => format!("error: {e}"),
            Err(_) => "error: timed out".to_string(),
        }
    };
    let redis = async {
        let mut conn = state.redis.clone();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(CHECK_TIMEOUT, ping.query_async::<String>(&mut conn)).await {
            Ok(Ok(_)) => "ok".to_string(),
            Ok(Err(e)) => format!("error: {e}"),
            Err(_) => "error: timed out".to_string(),
        }
    };
    let (postgres, redis) = tokio::join!(pg, redis);
    // Without Redis, public catalog reads still answer from Postgres but nobody can sign in:
    // "degraded", and still 503 so that a load balancer prefers healthy instances.
    let (code, status) = match (postgres == "ok", redis == "ok") {
        (true, true) => (StatusCode::OK, "ok"),
        (true, false) => (StatusCode::SERVICE_UNAVAILABLE, "degraded"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    (code, Json(Readiness { status, postgres, redis }))
}

/// Prometheus text: request counts and latencies by route and status, pool gauges.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("db_pool_connections").set(state.db.size() as f64);
    metrics::gauge!("db_pool_idle_connections").set(state.db.num_idle() as f64);
    metrics::gauge!("db_pool_max_connections").set(state.settings.database.max_connections as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
