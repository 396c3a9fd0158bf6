//! The Stripe objects the service reads, with only the fields it uses.
//!
//! Every type checks Stripe's `object` tag, so a Refund can never be read as a PaymentIntent,
//! and ignores fields it does not name. Expandable references (`latest_charge`, `charge`,
//! `payment_intent`) are read as ids whether Stripe sends the id or the whole object
//! (localstripe sends `latest_charge` expanded), and a `null` metadata reads as empty.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer};

/// A PaymentIntent: one attempt to collect `amount` from a buyer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "wire::PaymentIntent")]
pub struct PaymentIntent {
    /// `pi_...`
    pub id: String,
    /// In the currency's minor unit (fen for CNY).
    pub amount: i64,
    /// Lower-case ISO code, `cny`.
    pub currency: String,
    /// `requires_payment_method`, `requires_confirmation`, `requires_action`, `processing`,
    /// `requires_capture`, `canceled` or `succeeded`.
    pub status: String,
    /// Handed to the buyer's browser to confirm the payment with Stripe.js.
    pub client_secret: Option<String>,
    pub metadata: HashMap<String, String>,
    /// The id of the latest Charge, once the PaymentIntent was confirmed.
    pub latest_charge: Option<String>,
}

/// A Refund of part or all of a Charge.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "wire::Refund")]
pub struct Refund {
    /// `re_...`
    pub id: String,
    pub amount: i64,
    pub currency: String,
    /// `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    pub status: String,
    pub payment_intent: Option<String>,
    pub charge: Option<String>,
    pub metadata: HashMap<String, String>,
}

/// A Charge: the money movement behind a confirmed PaymentIntent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "wire::Charge")]
pub struct Charge {
    /// `ch_...`
    pub id: String,
    pub amount: i64,
    pub amount_refunded: i64,
    pub payment_intent: Option<String>,
    /// Whether the whole amount has been refunded.
    pub refunded: bool,
}

/// A webhook event (`evt_...`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "wire::Event")]
pub struct Event {
    pub id: String,
    /// Stripe's `type`, e.g. `payment_intent.succeeded`, `charge.refunded`.
    pub kind: String,
    /// Unix seconds.
    pub created: i64,
    pub object: EventObject,
}

/// The object an event is about (`data.object`), for the object types the service reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventObject {
    PaymentIntent(PaymentIntent),
    Charge(Charge),
    Refund(Refund),
    /// Any other object type (customers, invoices, plans, ...).
    Other,
}

/// Decodes a webhook body (already checked with [`super::verify_signature`]) into an [`Event`].
///
/// An event about a PaymentIntent, Charge or Refund whose object does not parse is an error,
/// not [`EventObject::Other`].
pub fn parse_event(body: &[u8]) -> Result<Event, serde_json::Error> {
    serde_json::from_slice(body)
}

/// The JSON as Stripe sends it; converted into the public types after the `object` check.
mod wire {
    use super::*;

    #[derive(Deserialize)]
    pub struct PaymentIntent {
        object: String,
        id: String,
        amount: i64,
        currency: String,
        status: String,
        #[serde(default)]
        client_secret: Option<String>,
        #[serde(default, deserialize_with = "metadata")]
        metadata: HashMap<String, String>,
        #[serde(default, deserialize_with = "expandable")]
        latest_charge: Option<String>,
    }

    impl TryFrom<PaymentIntent> for super::PaymentIntent {
        type Error = String;

        fn try_from(w: PaymentIntent) -> Result<Self, String> {
            tag(&w.object, "payment_intent")?;
            Ok(Self {
                id: w.id,
                amount: w.amount,
                currency: w.currency,
                status: w.status,
                client_secret: w.client_secret,
                metadata: w.metadata,
                latest_charge: w.latest_charge,
            })
        }
    }

    #[derive(Deserialize)]
    pub struct Refund {
        object: String,
        id: String,
        amount: i64,
        currency: String,
        // Nullable in Stripe's description; a refund without one is still pending.
        #[serde(default)]
        status: Option<String>,
        #[serde(default, deserialize_with = "expandable")]
        payment_intent: Option<String>,
        #[serde(default, deserialize_with = "expandable")]
        charge: Option<String>,
        #[serde(default, deserialize_with = "metadata")]
        metadata: HashMap<String, String>,
    }

    impl TryFrom<Refund> for super::Refund {
        type Error = String;

        fn try_from(w: Refund) -> Result<Self, String> {
            tag(&w.object, "refund")?;
            Ok(Self {
                id: w.id,
                amount: w.amount,
                currency: w.currency,
                status: w.status.unwrap_or_else(|| "pending".into()),
                payment_intent: w.payment_intent,
                charge: w.charge,
                metadata: w.metadata,
            })
        }
    }

    #[derive(Deserialize)]
    pub struct Charge {
        object: String,
        id: String,
        amount: i64,
        amount_refunded: i64,
        #[serde(default, deserialize_with = "expandable")]
        payment_intent: Option<String>,
        refunded: bool,
    }

    impl TryFrom<Charge> for super::Charge {
        type Error = String;

        fn try_from(w: Charge) -> Result<Self, String> {
            tag(&w.object, "charge")?;
            Ok(Self {
                id: w.id,
                amount: w.amount,
                amount_refunded: w.amount_refunded,
                payment_intent: w.payment_intent,
                refunded: w.refunded,
            })
        }
    }

    #[derive(Deserialize)]
    pub struct Event {
        object: String,
        id: String,
        #[serde(rename = "type")]
        kind: String,
        created: i64,
        data: EventData,
    }

    #[derive(Deserialize)]
    struct EventData {
        object: serde_json::Value,
    }

    impl TryFrom<Event> for super::Event {
        type Error = String;

        fn try_from(w: Event) -> Result<Self, String> {
            tag(&w.object, "event")?;
            let object = w.data.object;
            let kind = object.get("object").and_then(|o| o.as_str()).unwrap_or_default().to_owned();
            let decoded = match kind.as_str() {
                "payment_intent" => serde_json::from_value(object).map(EventObject::PaymentIntent),
                "charge" => serde_json::from_value(object).map(EventObject::Charge),
                "refund" => serde_json::from_value(object).map(EventObject::Refund),
                _ => Ok(EventObject::Other),
            };
            let object = decoded.map_err(|e| format!("event {}: data.object ({kind}): {e}", w.id))?;
            Ok(Self { id: w.id, kind: w.kind, created: w.created, object })
        }
    }

    fn tag(found: &str, expected: &str) -> Result<(), String> {
        if found == expected { Ok(()) } else { Err(format!("expected a Stripe {expected} object, got {found:?}")) }
    }

    /// `null` metadata reads as empty.
    fn metadata<'de, D: Deserializer<'de>>(d: D) -> Result<HashMap<String, String>, D::Error> {
        Ok(Option::<HashMap<String, String>>::deserialize(d)?.unwrap_or_default())
    }

    /// An expandable reference: `null`, an id, or the expanded object (its `id`).
    fn expandable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Reference {
            Id(String),
            Object { id: String },
        }
        Ok(Option::<Reference>::deserialize(d)?.map(|r| match r {
            Reference::Id(id) | Reference::Object { id } => id,
        }))
    }
}
