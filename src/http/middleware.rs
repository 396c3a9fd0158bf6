//! Request metrics and the layers every request passes through.

use std::any::Any;
use std::collections::HashSet;
use std::sync::{LazyLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::error::{AppError, simple_problem};

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Counts requests and times them by route template (not raw path, so ids do not explode
/// the label space) and status.
///
/// The labels are `&'static str`s — routes and statuses interned once each, methods other than
/// the standard ones counted as `other` — so a request allocates no label text.
pub async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| interned(p.as_str()));
    let method = method_label(req.method());
    let response = next.run(req).await;
    let status = interned(response.status().as_str());
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    response
}

/// A standard method's name; `other` for the rest (a client can invent any number of them).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The text as a `&'static str`, kept once per distinct value. Only for bounded sets: route
/// templates and status codes.
fn interned(text: &str) -> &'static str {
    static SEEN: LazyLock<RwLock<HashSet<&'static str>>> = LazyLock::new(Default::default);
    if let Some(seen) = SEEN.read().expect("the label set is never poisoned").get(text) {
        return seen;
    }
    let mut seen = SEEN.write().expect("the label set is never poisoned");
    match seen.get(text) {
        Some(kept) => kept,
        None => {
            let kept: &'static str = Box::leak(text.to_owned().into_boxed_str());
            seen.insert(kept);
            kept
        }
    }
}

/// The access log: one line per request at info once its reply is ready (method, URI, status,
/// microseconds taken), inside a `request` span holding the request id, so that whatever the
/// request logs on the way carries the id too.
///
/// Kept lean rather than taken from tower-http's `TraceLayer`, whose span recorded method and
/// URI as well (formatted twice per request), whose id was quoted and escaped character by
/// character, and whose response body was wrapped to enter the span on every poll. Logging was
/// about a tenth of `/livez`'s samples in `perf` (issue 12); most of what is left is
/// formatting the line itself.
pub async fn access_log(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let request_id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let span = tracing::info_span!("request", request_id = %request_id);
    let response = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            target: "access",
            %method,
            %uri,
            status = response.status().as_u16(),
            micros = start.elapsed().as_micros() as u64,
        )
    });
    response
}

/// Unknown routes answer with a problem document like everything else.
pub async fn not_found() -> AppError {
    AppError::NotFound
}

/// The CSRF layer's refusal, as a problem document.
pub fn csrf_rejection(_: tower_http::csrf::ProtectionError) -> Response {
    simple_problem(StatusCode::FORBIDDEN, "csrf_rejected", msg!("csrf_rejected"))
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
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", msg!("method_not_allowed")),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", msg!("request_timeout")),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", msg!("payload_too_large")),
        _ => ("http_error", msg!("http_error", status = status.as_u16() as i64)),
    };
    let mut problem = simple_problem(status, code, detail);
    for name in [axum::http::header::ALLOW, axum::http::header::RETRY_AFTER] {
        if let Some(v) = response.headers().get(&name) {
            problem.headers_mut().insert(name, v.clone());
        }
    }
    problem
}

/// What a panic becomes: without this layer a panicking handler drops the connection with no
/// reply and no log line that names the request.
pub type PanicResponder = fn(Box<dyn Any + Send + 'static>) -> Response;

/// Turns a panic anywhere inside it into an internal error: a 500 problem document that says
/// nothing of the cause, and an error log line (in the request span, so with its request id)
/// that does.
pub fn catch_panic() -> CatchPanicLayer<PanicResponder> {
    CatchPanicLayer::custom(panic_response as PanicResponder)
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    AppError::Internal(anyhow::anyhow!("the handler panicked: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn panicking() -> &'static str {
        panic!("secret detail")
    }

    #[tokio::test]
    async fn a_panic_becomes_a_500_problem_that_hides_its_cause() {
        let app = Router::new().route("/", get(panicking)).layer(catch_panic());
        let response = app.oneshot(Request::builder().uri("/").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let content_type = response.headers().get(axum::http::header::CONTENT_TYPE).unwrap().clone();
        assert_eq!(content_type, crate::error::PROBLEM_JSON);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["code"], "internal_error");
        assert!(!String::from_utf8_lossy(&body).contains("secret detail"));
    }

    /// Log lines gathered in memory.
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_request_logs_one_access_line_and_what_it_logs_carries_its_request_id() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let handler = || async {
            tracing::warn!("inside the handler");
            (StatusCode::ACCEPTED, "ok")
        };
        let app = Router::new().route("/x", get(handler)).layer(axum::middleware::from_fn(access_log));
        let request = Request::builder().uri("/x?q=1").header(&REQUEST_ID, "rid-7").body(Body::empty()).unwrap();
        assert_eq!(app.oneshot(request).await.unwrap().status(), StatusCode::ACCEPTED);

        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let access: Vec<&str> = text.lines().filter(|l| l.contains(" access: ")).collect();
        assert_eq!(access.len(), 1, "{text}");
        for field in ["INFO", "method=GET", "uri=/x?q=1", "status=202", "micros=", "request_id=rid-7"] {
            assert!(access[0].contains(field), "{field} missing from {}", access[0]);
        }
        let inside = text.lines().find(|l| l.contains("inside the handler")).expect("the handler's line");
        assert!(inside.contains("request_id=rid-7"), "{inside}");
    }
}
