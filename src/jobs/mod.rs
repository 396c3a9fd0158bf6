//! Background work, safe to run on every instance at once: each job reads what the database
//! says is due (so it catches up after a restart), then locks every row it changes and
//! rechecks it under that lock, so two instances working on the same row change it once. The
//! due-list query's `skip locked` is only a courtesy: its transaction ends before the work.

use std::time::Duration;

use crate::state::AppState;
use crate::{idempotency, orders, payments};

/// Runs the order jobs every `orders.jobs_interval_secs` until the process ends.
pub fn spawn(state: AppState) {
    if !state.settings.orders.jobs_enabled {
        return;
    }
    let every = Duration::from_secs(state.settings.orders.jobs_interval_secs.max(1));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match orders::expire_due(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "expired unpaid orders"),
                Err(e) => tracing::error!(error = ?e, "order expiry failed"),
            }
            match payments::retry_unsent_refunds(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sent = n, "sent refunds to Stripe again"),
                Err(e) => tracing::error!(error = ?e, "refund retry failed"),
            }
            match orders::complete_due(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(completed = n, "completed unconfirmed groups"),
                Err(e) => tracing::error!(error = ?e, "automatic completion failed"),
            }
            match idempotency::purge_expired(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "purged idempotency keys past their retention"),
                Err(e) => tracing::error!(error = ?e, "idempotency key purge failed"),
            }
        }
    });
}
