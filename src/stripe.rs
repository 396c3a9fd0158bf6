//! The service's Stripe edge (infrastructure, like the Redis and Postgres connections: the
//! payments area drives it): a small client for the three calls the payments area makes, the
//! Stripe objects it reads (only the fields it uses), webhook signature checking and event
//! parsing.
//!
//! - [`StripeClient`] wraps async-stripe's client with an explicit per-call timeout
//!   (`stripe.timeout_secs`) and sends every write with the caller's `Idempotency-Key`. It never
//!   retries on its own: async-stripe's `RequestStrategy::Idempotent` makes one attempt, so a
//!   caller that wants another try repeats the call with the same key.
//! - Replies are decoded into the service's own types ([`PaymentIntent`], [`Refund`],
//!   [`Charge`]) rather than async-stripe's generated ones, which insist on fields that
//!   Stripe-compatible test servers (localstripe) leave out. The same types parse the real
//!   Stripe objects in `tests/fixtures/stripe/`.
//! - Failures come back as a [`StripeError`] already classified for the API (card declined,
//!   invalid, conflict, rate limited, unavailable, timeout, transport, decode).
//! - Webhooks: [`verify_signature`] checks the `Stripe-Signature` header against the raw body,
//!   then [`parse_event`] decodes the body into an [`Event`].

mod client;
mod error;
mod objects;
mod signature;

pub use client::StripeClient;
pub use error::StripeError;
pub use objects::{Charge, Event, EventObject, PaymentIntent, Refund, parse_event};
pub use signature::{SIGNATURE_TOLERANCE_SECS, SignatureError, verify_signature};
