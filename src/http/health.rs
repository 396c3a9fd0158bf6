//! Liveness, readiness and metrics: what load balancers and Prometheus ask.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use secrecy::ExposeSecret;

use crate::error::{AppError, PROBLEM_JSON as PROBLEM, Problem, Result};
use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// ok | degraded (Redis down: public reads work, sign-in does not) | unavailable
    status: &'static str,
    /// Per dependency: `ok`, `unavailable` (it answered with an error, or not at all) or
    /// `timed_out`. The error itself is logged, never returned: it can name hosts and users.
    postgres: &'static str,
    redis: &'static str,
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
            Ok(Ok(_)) => "ok",
            Ok(Err(e)) => {
                tracing::error!(error = %e, "readiness: Postgres does not answer");
                "unavailable"
            }
            Err(_) => {
                tracing::error!("readiness: Postgres did not answer within {CHECK_TIMEOUT:?}");
                "timed_out"
            }
        }
    };
    let redis = async {
        let mut conn = state.redis.clone();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(CHECK_TIMEOUT, ping.query_async::<String>(&mut conn)).await {
            Ok(Ok(_)) => "ok",
            Ok(Err(e)) => {
                tracing::error!(error = %e, "readiness: Redis does not answer");
                "unavailable"
            }
            Err(_) => {
                tracing::error!("readiness: Redis did not answer within {CHECK_TIMEOUT:?}");
                "timed_out"
            }
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

/// Prometheus text: request counts and latencies by route and status, pool gauges. With
/// `telemetry.metrics_token` set (required in production), only for `Authorization: Bearer
/// <token>`: route names and traffic are not for the public.
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, content_type = "text/plain"),
    (status = 401, description = "`telemetry.metrics_token` is set and the request does not carry it",
     body = Problem, content_type = PROBLEM),
))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<impl IntoResponse> {
    if let Some(token) = &state.settings.telemetry.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let expected = token.expose_secret().as_bytes();
        // Compare digests, so the time taken says nothing about how much of the token matched.
        if crate::digest::sha256_hex(&[given.as_bytes()], 32) != crate::digest::sha256_hex(&[expected], 32) {
            return Err(AppError::Unauthenticated);
        }
    }
    metrics::gauge!("db_pool_connections").set(state.db.size() as f64);
    metrics::gauge!("db_pool_idle_connections").set(state.db.num_idle() as f64);
    metrics::gauge!("db_pool_max_connections").set(state.settings.database.max_connections as f64);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()))
}
