//! What went wrong talking to Stripe, classified for the API.

use ::stripe::{ApiErrors, ApiErrorsType};

/// A failed Stripe call. Suggested replies: `CardDeclined` → 402 `card_declined`; `Invalid`
/// → a bug or bad configuration on our side (500, logged); `Conflict` → 409;
/// `RateLimited`, `Unavailable`, `Timeout`, `Transport` → 502/503/504
/// `payment_provider_unavailable`; `Decode` → 502.
///
/// Every variant except `CardDeclined` and `Invalid` may be retried with the same idempotency
/// key: Stripe then either repeats the first reply or performs the request once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// A `card_error` (HTTP 402): declined, expired, wrong CVC, insufficient funds, ...
    /// `message` is Stripe's, written to be shown to the buyer.
    #[error("card declined: {message}")]
    CardDeclined { message: String },
    /// Any other 4xx answer (400, 401, 403, 404, ...), or a request we refused to send
    /// (empty idempotency key, non-positive amount, malformed id).
    #[error("Stripe refused the request: {message}")]
    Invalid { message: String },
    /// 409, or an `idempotency_error`: the idempotency key is in use by a concurrent request,
    /// or was used before with different parameters.
    #[error("Stripe reports a conflicting request for this idempotency key")]
    Conflict,
    /// 429: too many requests (or a lock timeout on the object).
    #[error("Stripe is rate limiting the service")]
    RateLimited,
    /// 5xx (or 424, a failure of something Stripe depends on). `status` is `None` when Stripe (or a proxy in front of it) answered an error
    /// status with a body that is not a Stripe error: async-stripe drops the status then.
    #[error("Stripe is unavailable (status {})", status.map_or("unknown".to_string(), |s| s.to_string()))]
    Unavailable { status: Option<u16> },
    /// No complete reply within `stripe.timeout_secs`.
    #[error("Stripe did not answer in time")]
    Timeout,
    /// The request could not be sent or the reply not received (DNS, connect, TLS, reset).
    #[error("could not reach Stripe: {0}")]
    Transport(String),
    /// A 2xx reply that is not the object we asked for.
    #[error("could not read Stripe's reply: {0}")]
    Decode(String),
}

/// What async-stripe 1.0.0-rc.10 puts in `JSONDeserialize` when a non-2xx reply's body is not
/// a Stripe error (src/hyper/client.rs, `send_inner`); the status is not kept.
const UNREADABLE_ERROR_REPLY: &str = "error deserializing Stripe error";

impl StripeError {
    /// Classifies async-stripe's error and logs what the classification drops.
    pub(super) fn from_client(err: ::stripe::StripeError, call: &str) -> Self {
        match err {
            ::stripe::StripeError::Stripe(api, status) => Self::from_api(&api, status, call),
            ::stripe::StripeError::Timeout => {
                tracing::warn!(call, "Stripe did not answer in time");
                Self::Timeout
            }
            ::stripe::StripeError::JSONDeserialize(msg) if msg == UNREADABLE_ERROR_REPLY => {
                tracing::warn!(call, "Stripe answered an error status with a body that is not a Stripe error");
                Self::Unavailable { status: None }
            }
            ::stripe::StripeError::JSONDeserialize(msg) => {
                tracing::warn!(call, error = %msg, "Stripe's reply could not be read");
                Self::Decode(msg)
            }
            ::stripe::StripeError::ClientError(msg) | ::stripe::StripeError::ConfigError(msg) => {
                tracing::warn!(call, error = %msg, "could not reach Stripe");
                Self::Transport(msg)
            }
        }
    }

    fn from_api(api: &ApiErrors, status: u16, call: &str) -> Self {
        let code = api.code.as_ref().map(|c| c.as_str());
        tracing::warn!(
            call,
            status,
            r#type = api.type_.as_str(),
            code,
            decline_code = api.decline_code.as_deref(),
            param = api.param.as_deref(),
            message = api.message.as_deref(),
            request_log_url = api.request_log_url.as_deref(),
            "Stripe answered an error"
        );
        let message = || {
            api.message.clone().unwrap_or_else(|| {
                format!(
                    "Stripe answered {status} ({}{})",
                    api.type_.as_str(),
                    code.map(|c| format!(", {c}")).unwrap_or_default()
                )
            })
        };
        match (status, &api.type_) {
            (402, _) | (_, ApiErrorsType::CardError) => Self::CardDeclined { message: message() },
            (409, _) | (_, ApiErrorsType::IdempotencyError) => Self::Conflict,
            (429, _) => Self::RateLimited,
            (424 | 500..=599, _) => Self::Unavailable { status: Some(status) },
            _ => Self::Invalid { message: message() },
        }
    }
}
