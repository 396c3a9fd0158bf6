//! Payments: PaymentIntents, refunds, Stripe webhook events and the assistance ledger.
//!
//! For now only the Stripe edge exists: [`stripe`] is the service's client for Stripe's API
//! (typed errors, the service's own minimal reply types) and the webhook signature check. The
//! area's logic, routes and SQL are built on top of it.

pub mod stripe;
