//! One error type for the whole service, answered as RFC 9457 `application/problem+json`
//! with a stable machine `code` that clients can branch on.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::i18n::{self, Msg};

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// The media type of every error reply (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Per-field messages for a 422, keyed by the field's path in the request (`owner.email`);
/// written in the request's language.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FieldErrors(BTreeMap<String, Vec<Msg>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, message: Msg) {
        self.0.entry(field.into()).or_default().push(message);
    }

    pub fn merge(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses `value`, recording the message under `field` when it fails, so that one request
    /// reports every bad field at once instead of the first.
    pub fn check<T>(&mut self, field: &str, value: Result<T, Msg>) -> Option<T> {
        match value {
            Ok(v) => Some(v),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    /// `Ok(())` when nothing was recorded, else the 422.
    pub fn into_result(self) -> Result<()> {
        if self.is_empty() { Ok(()) } else { Err(AppError::Validation(self)) }
    }

    /// The 422 for what was recorded. Parsers that collect every problem end with
    /// `match (a, b, ..) { (Some(a), Some(b), ..) if errors.is_empty() => Ok(..), _ => Err(errors.into_error()) }`,
    /// so that a checked value is never unwrapped on a promise.
    pub fn into_error(self) -> AppError {
        AppError::Validation(self)
    }

    pub fn single(field: impl Into<String>, message: Msg) -> AppError {
        let mut errors = Self::new();
        errors.add(field, message);
        AppError::Validation(errors)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the request has invalid fields")]
    Validation(FieldErrors),
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: Msg },
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: Msg },
    #[error("sign in first")]
    Unauthenticated,
    #[error("email or password is wrong")]
    InvalidCredentials,
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: Msg },
    #[error("no such resource")]
    NotFound,
    #[error("{detail}")]
    Conflict { code: &'static str, detail: Msg },
    #[error("the request body is larger than allowed")]
    PayloadTooLarge,
    #[error("expected a JSON body (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("too many attempts; try again later")]
    TooManyAttempts { retry_after_secs: u64 },
    /// Every password-hashing slot stayed taken for the queue timeout: 503 `server_busy`.
    #[error("the server is busy; try again shortly")]
    Busy { retry_after_secs: u64 },
    /// Another status with its own code: 402 `card_declined`, 502/503/504
    /// `payment_provider_unavailable`.
    #[error("{detail}")]
    Status { status: StatusCode, code: &'static str, detail: Msg },
    /// Problems with particular lines of an order, each named with its product.
    #[error("{detail}")]
    Lines { status: StatusCode, code: &'static str, detail: Msg, lines: serde_json::Value },
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("redis error")]
    Redis(#[from] redis::RedisError),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
    /// A limit on how much one buyer may hold or do (409 `too_many_open_orders`, 429
    /// `too_many_orders`): `limit` names the limit and where the buyer stands against it, so a
    /// client can tell the user what to do; a 429 also says when to try again.
    #[error("{detail}")]
    Limited {
        status: StatusCode,
        code: &'static str,
        detail: Msg,
        limit: serde_json::Value,
        retry_after_secs: Option<u64>,
    },
}

impl AppError {
    pub fn forbidden(code: &'static str, detail: Msg) -> Self {
        Self::Forbidden { code, detail }
    }

    pub fn conflict(code: &'static str, detail: Msg) -> Self {
        Self::Conflict { code, detail }
    }

    pub fn bad_request(code: &'static str, detail: Msg) -> Self {
        Self::BadRequest { code, detail }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Validation(_) | AppError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthenticated | AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Lines { status, .. } | AppError::Status { status, .. } => *status,
            AppError::Limited { status, .. } => *status,
            AppError::Database(_) | AppError::Redis(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine code; documented in docs/errors.md.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Validation(_) => "validation_failed",
            AppError::BadRequest { code, .. }
            | AppError::Forbidden { code, .. }
            | AppError::Conflict { code, .. }
            | AppError::Lines { code, .. }
            | AppError::Status { code, .. }
            | AppError::Unprocessable { code, .. } => code,
            AppError::Limited { code, .. } => code,
            AppError::Unauthenticated => "unauthenticated",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::NotFound => "not_found",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::TooManyAttempts { .. } => "too_many_attempts",
            AppError::Busy { .. } => "server_busy",
            AppError::Database(_) | AppError::Redis(_) | AppError::Internal(_) => "internal_error",
        }
    }
}

/// Unique constraints whose violation is the client's doing, answered 409 with a code (whose
/// catalog message is the detail). Every other database error is ours and becomes a logged 500.
const UNIQUE_CONFLICTS: &[(&str, &str)] = &[
    ("accounts_email_key", "email_taken"),
    ("organizations_uscc_key", "uscc_taken"),
    ("payments_bank_reference_key", "bank_reference_used"),
];

impl AppError {
    /// The 409 that a violation of the named unique constraint stands for, if it is one of
    /// those; also used to refuse early what the constraint would refuse later.
    pub fn unique_conflict(constraint: &str) -> Option<AppError> {
        let (_, code) = UNIQUE_CONFLICTS.iter().find(|(c, ..)| *c == constraint)?;
        Some(AppError::conflict(code, Msg::new(code)))
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error
            && db.is_unique_violation()
            && let Some(conflict) = db.constraint().and_then(AppError::unique_conflict)
        {
            return conflict;
        }
        AppError::Database(error)
    }
}

/// The problem document of RFC 9457, plus `code` and, for 422, `errors`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A relative URI naming the problem kind: `/docs/errors#{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, the same for every occurrence of the code; in the request's language.
    pub title: String,
    pub status: u16,
    /// What happened this time; in the request's language.
    pub detail: String,
    pub code: String,
    /// For `validation_failed`: each bad field (`owner.email`, `lines[2].qty`, `cursor`) with
    /// its messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::BTreeMap<String, Vec<String>>>)]
    pub errors: Option<FieldErrors>,
    /// For order problems: each offending line, with its product and what is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub lines: Option<serde_json::Value>,
    /// For `too_many_open_orders` and `too_many_orders`: which limit (`name`, `max`) and where
    /// the buyer stands (`open_orders`, `reserved_units`, `order_units`; `window_secs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub limit: Option<serde_json::Value>,
}

impl AppError {
    /// What to tell the reader: the call site's message, or the code's own for errors that
    /// always say the same (`unauthenticated`, `internal_error`, ...).
    pub fn detail(&self) -> Msg {
        match self {
            AppError::BadRequest { detail, .. }
            | AppError::Unprocessable { detail, .. }
            | AppError::Forbidden { detail, .. }
            | AppError::Conflict { detail, .. }
            | AppError::Status { detail, .. }
            | AppError::Lines { detail, .. }
            | AppError::Limited { detail, .. } => detail.clone(),
            other => Msg::new(other.code()),
        }
    }

    /// The problem document for this error (also what idempotent replays store), in the
    /// request's language.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let code = self.code();
        let lang = i18n::current();
        Problem {
            kind: format!("/docs/errors#{code}"),
            title: title(code),
            status: status.as_u16(),
            detail: self.detail().render(lang),
            code: code.to_string(),
            errors: match self {
                AppError::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
            lines: match self {
                AppError::Lines { lines, .. } => Some(lines.clone()),
                _ => None,
            },
            limit: match self {
                AppError::Limited { limit, .. } => Some(limit.clone()),
                _ => None,
            },
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let AppError::Busy { .. } = self {
            tracing::warn!("no password-hashing slot came free in time; answered 503");
        } else if status.is_server_error() {
            // Runs inside the request span, so the log line carries the request id.
            tracing::error!(error = ?self, "request failed");
        }
        let retry_after = match &self {
            AppError::TooManyAttempts { retry_after_secs } | AppError::Busy { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            AppError::Limited { retry_after_secs, .. } => *retry_after_secs,
            _ => None,
        };
        problem_response(status, &self.problem(), retry_after)
    }
}

/// Renders a problem document; also used by layers (CSRF, timeouts) that answer on their own.
pub fn problem_response(status: StatusCode, problem: &Problem, retry_after: Option<u64>) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(i18n::current().tag()));
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// A code's title in the request's language (`title-{code}` in the catalogs).
pub fn title(code: &str) -> String {
    i18n::render(i18n::current(), &format!("title-{code}"), &[])
}

/// A problem for a status and code outside `AppError` (layer rejections).
pub fn simple_problem(status: StatusCode, code: &str, detail: Msg) -> Response {
    let problem = Problem {
        kind: format!("/docs/errors#{code}"),
        title: title(code),
        status: status.as_u16(),
        detail: detail.render(i18n::current()),
        code: code.to_string(),
        errors: None,
        lines: None,
        limit: None,
    };
    problem_response(status, &problem, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn errors_that_always_say_the_same_have_words_and_a_title_in_both_languages() {
        let fixed = [
            AppError::Validation(FieldErrors::new()),
            AppError::Unauthenticated,
            AppError::InvalidCredentials,
            AppError::NotFound,
            AppError::PayloadTooLarge,
            AppError::UnsupportedMediaType,
            AppError::TooManyAttempts { retry_after_secs: 1 },
            AppError::Busy { retry_after_secs: 1 },
            AppError::Internal(anyhow::anyhow!("a cause the reader never sees")),
        ];
        let unique = UNIQUE_CONFLICTS.iter().map(|(constraint, _)| AppError::unique_conflict(constraint).unwrap());
        for error in fixed.into_iter().chain(unique) {
            for lang in Lang::ALL {
                assert!(i18n::has(lang, error.detail().id()), "{} has no words in {}", error.code(), lang.tag());
                assert!(i18n::has(lang, &format!("title-{}", error.code())), "{} has no title", error.code());
            }
        }
        let internal = AppError::Internal(anyhow::anyhow!("secret")).problem();
        assert!(!internal.detail.contains("secret"));
    }
}
