//! Request metrics and the layers every request passes through.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::{AppError, simple_problem};

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Counts requests and times them by route template (not raw path, so ids do not explode
/// the label space) and status.
pub async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    response
}

/// Unknown routes answer with a problem document like everything else.
pub async fn not_found() -> AppError {
    AppError::NotFound
}

/// The CSRF layer's refusal, as a problem document.
pub fn csrf_rejection(_: tower_http::csrf::ProtectionError) -> Response {
    simple_problem(
        StatusCode::FORBIDDEN,
        "csrf_rejected",
        "cross-site state-changing requests are refused; send the request from the site itself",
    )
}

/// Errors that layers or the router produce on their own (405, 408, ...) come without a body;
/// give them the same problem document as every other error.
pub async fn problem_for_bare_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(axum::http::header::CONTENT_TYPE)
    {
        return response;
    }
    let (code, detail) = match status {
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this method is not allowed on this resource"),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is larger than allowed"),
        _ => ("http_error", status.canonical_reason().unwrap_or("error")),
    };
    let mut problem = simple_problem(status, code, detail);
    for name in [axum::http::header::ALLOW, axum::http::header::RETRY_AFTER] {
        if let Some(v) = response.headers().get(&name) {
            problem.headers_mut().insert(name, v.clone());
        }
    }
    problem
}
