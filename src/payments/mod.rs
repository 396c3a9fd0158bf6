//! Payments: paying orders through Stripe (card, Alipay, WeChat Pay) or by bank transfer,
//! Stripe's signed webhook, refunds, and the append-only assistance ledger that says where the
//! money went. Built on orders (an order is paid, refunded, never revived) and on the Stripe
//! edge in `crate::stripe`. Design and rules: docs/payments.md.

mod db;
mod ledger;
pub mod model;
pub mod reconcile;
mod refunds;
mod routes;
pub mod seeding;
mod settle;
mod start;
mod webhook;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::Result;
use crate::http::pagination::{ListParams, Page};
use crate::state::AppState;
use model::{Payment, PaymentQuery};

pub use ledger::rows as ledger_rows;
pub use refunds::retry_unsent as retry_unsent_refunds;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::start_payment))
        .routes(routes!(routes::stripe_webhook))
        .routes(routes!(routes::confirm_bank_transfer))
        .routes(routes!(routes::admin_refund))
        .routes(routes!(routes::producer_refund))
        .routes(routes!(routes::order_refunds))
        .routes(routes!(routes::complete_bank_refund))
        .routes(routes!(routes::list_payments))
        .routes(routes!(routes::list_refunds))
        .routes(routes!(routes::list_ledger))
}

/// Payments, oldest first, by order, method, status and time.
async fn list_payments(state: &AppState, q: &PaymentQuery, page: &ListParams) -> Result<Page<Payment>> {
    let filter = db::ListFilter { order: q.order, producer: q.producer, from: q.from, to: q.to };
    let rows = db::list_payments(&state.db, &filter, q.method, q.status, page.after(), page.fetch()).await?;
    Ok(page.by_id(rows, |p| p.id).map(Payment::from))
}
