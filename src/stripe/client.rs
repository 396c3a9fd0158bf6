//! The calls the service makes to Stripe.

use std::collections::HashMap;
use std::time::Duration;

use ::stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeRequest};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use stripe_core::payment_intent::{CreatePaymentIntent, RetrievePaymentIntent};
use stripe_core::refund::CreateRefund;
use stripe_types::Currency;
use uuid::Uuid;

use super::error::StripeError;
use super::objects::{PaymentIntent, Refund};
use crate::config::StripeSettings;

/// The service's Stripe client. Cheap to clone (one shared connection pool); every call has
/// the `stripe.timeout_secs` budget and is made once (no automatic retries).
#[derive(Debug, Clone)]
pub struct StripeClient {
    client: Client,
}

impl StripeClient {
    /// A client for `settings.api_base` (a missing trailing `/` is added) with the secret key.
    pub fn new(settings: &StripeSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(settings.timeout_secs > 0, "stripe.timeout_secs must be positive");
        let mut base = settings.api_base.trim().to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        let client = ClientBuilder::new(settings.secret_key.expose_secret())
            .url(base)
            // async-stripe has no default timeout: without this a stalled Stripe would hold
            // the request until the server's own request timeout.
            .timeout(Duration::from_secs(settings.timeout_secs))
            .request_strategy(RequestStrategy::Once)
            .app_info("tonggan", Some(env!("CARGO_PKG_VERSION").to_owned()), None)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the Stripe client: {e}"))?;
        Ok(Self { client })
    }

    /// Creates a CNY PaymentIntent of `amount_fen` with metadata `order_id`, sent with
    /// `Idempotency-Key: idempotency_key` (the same key and parameters return the same
    /// PaymentIntent; the same key with other parameters is a [`StripeError::Conflict`]).
    /// No payment method types are set: the account's defaults apply.
    pub async fn create_payment_intent(
        &self,
        amount_fen: i64,
        order_id: Uuid,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        positive(amount_fen)?;
        let key = idempotency(idempotency_key)?;
        let request = CreatePaymentIntent::new(amount_fen, Currency::CNY)
            .metadata(HashMap::from([("order_id".to_owned(), order_id.to_string())]));
        self.send("create_payment_intent", &request, RequestStrategy::Idempotent(key)).await
    }

    /// Reads a PaymentIntent by id.
    pub async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        stripe_id(id, "pi_")?;
        self.send("retrieve_payment_intent", &RetrievePaymentIntent::new(id), RequestStrategy::Once).await
    }

    /// Refunds `amount_fen` of the PaymentIntent's charge, with metadata `refund_id` and
    /// `reason` (Stripe's own `reason` field takes only its three enum values, so ours goes in
    /// metadata), sent with `Idempotency-Key: idempotency_key`.
    pub async fn create_refund(
        &self,
        payment_intent_id: &str,
        amount_fen: i64,
        refund_id: Uuid,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<Refund, StripeError> {
        stripe_id(payment_intent_id, "pi_")?;
        positive(amount_fen)?;
        let key = idempotency(idempotency_key)?;
        let metadata =
            HashMap::from([("refund_id".to_owned(), refund_id.to_string()), ("reason".to_owned(), reason.to_owned())]);
        let request = CreateRefund::new().payment_intent(payment_intent_id).amount(amount_fen).metadata(metadata);
        self.send("create_refund", &request, RequestStrategy::Idempotent(key)).await
    }

    /// Sends `request` and decodes the reply into `T`.
    ///
    /// The reply is first read as any JSON (`miniserde::json::Value`, which async-stripe's
    /// `customize` requires to be a miniserde type), then into `T` with serde: a reply that is
    /// not the object we asked for then fails with serde's message (which field, where) and is
    /// logged, instead of async-stripe's bare "error deserializing request data".
    async fn send<T: DeserializeOwned>(
        &self,
        call: &'static str,
        request: &impl StripeRequest,
        strategy: RequestStrategy,
    ) -> Result<T, StripeError> {
        let reply: miniserde::json::Value = request
            .build()
            .customize()
            .request_strategy(strategy)
            .send(&self.client)
            .await
            .map_err(|e| StripeError::from_client(e, call))?;
        let json = miniserde::json::to_string(&reply);
        serde_json::from_str(&json).map_err(|e| {
            tracing::warn!(call, error = %e, reply = %redacted(&json), "Stripe's reply is not the expected object");
            StripeError::Decode(e.to_string())
        })
    }
}

fn idempotency(key: &str) -> Result<IdempotencyKey, StripeError> {
    IdempotencyKey::new(key).map_err(|e| StripeError::Invalid { message: e.to_string() })
}

fn positive(amount_fen: i64) -> Result<(), StripeError> {
    if amount_fen > 0 {
        Ok(())
    } else {
        Err(StripeError::Invalid { message: format!("amount must be positive, not {amount_fen}") })
    }
}

/// Stripe ids are `prefix` + letters, digits and `_`; anything else would change the URL path.
fn stripe_id(id: &str, prefix: &str) -> Result<(), StripeError> {
    let rest = id.strip_prefix(prefix).unwrap_or_default();
    if !rest.is_empty() && rest.len() <= 255 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(())
    } else {
        Err(StripeError::Invalid { message: format!("{id:?} is not a Stripe id starting with {prefix}") })
    }
}

/// The reply for the log: `client_secret` (which lets a browser confirm the payment) masked,
/// and cut to 4 KiB.
fn redacted(json: &str) -> String {
    let text = match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(mut map)) => {
            if let Some(secret) = map.get_mut("client_secret").filter(|s| s.is_string()) {
                *secret = serde_json::Value::String("[redacted]".into());
            }
            serde_json::Value::Object(map).to_string()
        }
        _ => json.to_owned(),
    };
    match text.char_indices().nth(4096) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text,
    }
}
