//! Limits against stock hoarding (docs/orders.md, "Limits against stock hoarding").
//!
//! An unpaid order holds its stock for its payment window (48 h while it awaits an approver, 7
//! days once a bank transfer is chosen), and consumer sign-up is free. Without limits one
//! script could order the whole catalog, let it lapse or cancel it, and order it again. So:
//! - a buyer scope — a consumer, or an enterprise with all its members, since they all buy for
//!   it — may hold only so many unpaid orders and units at once (409 `too_many_open_orders`),
//!   counted inside the order's own transaction under a lock per scope, so that parallel orders
//!   cannot all see room for one more;
//! - one account and one client address may create only so many orders per window (429
//!   `too_many_orders` with `Retry-After`), counted in Redis across every instance.
//!
//! A refusal reserves and writes nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use super::buyer::Buyer;
use super::db::{self, Held};
use crate::config::OrdersSettings;
use crate::error::{AppError, Result};
use crate::rate_limit::{self, Counter, Verdict};
use crate::state::AppState;

/// Whose unpaid orders count together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Scope {
    /// A consumer's own orders.
    Consumer(Uuid),
    /// Every order placed for the enterprise, by any of its members.
    Enterprise(Uuid),
}

impl Scope {
    pub(super) fn of(buyer: &Buyer) -> Self {
        match buyer.organization_id() {
            Some(org) => Scope::Enterprise(org),
            None => Scope::Consumer(buyer.account_id()),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scope::Consumer(_) => "consumer",
            Scope::Enterprise(_) => "enterprise",
        }
    }

    fn id(self) -> Uuid {
        match self {
            Scope::Consumer(id) | Scope::Enterprise(id) => id,
        }
    }

    /// (most open orders, most reserved units) for this scope.
    fn limits(self, settings: &OrdersSettings) -> (i64, i64) {
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        match self {
            Scope::Consumer(_) => {
                (to_i64(settings.max_open_orders_per_consumer), to_i64(settings.max_reserved_units_per_consumer))
            }
            Scope::Enterprise(_) => {
                (to_i64(settings.max_open_orders_per_enterprise), to_i64(settings.max_reserved_units_per_enterprise))
            }
        }
    }
}

/// Takes the placement locks of these buyer scopes and says what each holds now. Runs first
/// in every transaction that places orders, before any product row is locked, so the lock
/// order is always scopes (in key order), then products (in id order); the locks are held
/// until the orders commit or roll back, so that parallel placements count each other.
#[tracing::instrument(level = "debug", skip_all, fields(scopes = scopes.len()))]
pub(super) async fn lock_and_count(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    scopes: &[Scope],
) -> Result<HashMap<Scope, Held>> {
    let mut distinct = scopes.to_vec();
    distinct.sort();
    distinct.dedup();
    let names: Vec<&str> = distinct.iter().map(|s| s.name()).collect();
    let ids: Vec<Uuid> = distinct.iter().map(|s| s.id()).collect();
    db::lock_open_orders(tx, &names, &ids).await?;
    let mut held: HashMap<Scope, Held> =
        distinct.iter().map(|s| (*s, Held { open_orders: 0, reserved_units: 0 })).collect();
    let consumers: Vec<Uuid> = distinct.iter().filter(|s| matches!(s, Scope::Consumer(_))).map(|s| s.id()).collect();
    if !consumers.is_empty() {
        for (id, h) in db::open_orders_of_consumers(&mut **tx, &consumers).await? {
            held.insert(Scope::Consumer(id), h);
        }
    }
    let enterprises: Vec<Uuid> =
        distinct.iter().filter(|s| matches!(s, Scope::Enterprise(_))).map(|s| s.id()).collect();
    if !enterprises.is_empty() {
        for (id, h) in db::open_orders_of_enterprises(&mut **tx, &enterprises).await? {
            held.insert(Scope::Enterprise(id), h);
        }
    }
    Ok(held)
}

/// Refuses an order (409 `too_many_open_orders`) that would take its scope past either limit:
/// one more open order than allowed, or more units reserved than allowed, `order_units`
/// counted, given what the scope `held` under its lock.
pub(super) fn within_limits(settings: &OrdersSettings, scope: Scope, held: Held, order_units: i64) -> Result<()> {
    let (max_orders, max_units) = scope.limits(settings);
    let (name, max, detail) = if held.open_orders >= max_orders {
        (
            format!("max_open_orders_per_{}", scope.name()),
            max_orders,
            msg!("open-orders-limit", scope = scope.name(), open_orders = held.open_orders),
        )
    } else if held.reserved_units.saturating_add(order_units) > max_units {
        (
            format!("max_reserved_units_per_{}", scope.name()),
            max_units,
            msg!(
                "reserved-units-limit",
                scope = scope.name(),
                order_units = order_units,
                reserved_units = held.reserved_units,
                max = max_units
            ),
        )
    } else {
        return Ok(());
    };
    Err(AppError::Limited {
        status: StatusCode::CONFLICT,
        code: "too_many_open_orders",
        detail,
        limit: json!({
            "name": name,
            "scope": scope.name(),
            "max": max,
            "open_orders": held.open_orders,
            "reserved_units": held.reserved_units,
            "order_units": order_units,
        }),
        retry_after_secs: None,
    })
}

/// Counts an order creation against the account's and the client address's windows, or
/// refuses it (429 `too_many_orders`, `Retry-After` until the window that refused ends) and
/// counts nothing. Called for every creation that runs, that is after the idempotency key was
/// claimed: a replayed key is not a new creation.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn admit_creation(state: &AppState, account_id: Uuid, client: IpAddr) -> Result<()> {
    let settings = &state.settings.orders;
    let prefix = &state.settings.redis.key_prefix;
    let counters = [
        Counter { key: creations_by_account_key(prefix, account_id), max: settings.max_creates_per_account },
        Counter { key: creations_by_client_key(prefix, client), max: settings.max_creates_per_client },
    ];
    let window = Duration::from_secs(settings.create_window_secs);
    match rate_limit::hit(&state.redis, window, &counters).await? {
        Verdict::Admitted => Ok(()),
        Verdict::Refused { counter, retry_after_secs } => {
            let (name, max, whose) = match counter {
                0 => ("max_creates_per_account", settings.max_creates_per_account, "account"),
                _ => ("max_creates_per_client", settings.max_creates_per_client, "address"),
            };
            Err(AppError::Limited {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "too_many_orders",
                detail: msg!(
                    "order-rate-limit",
                    whose = whose,
                    max = max,
                    window_secs = settings.create_window_secs,
                    retry_after_secs = retry_after_secs
                ),
                limit: json!({
                    "name": name,
                    "max": max,
                    "window_secs": settings.create_window_secs,
                    "retry_after_secs": retry_after_secs,
                }),
                retry_after_secs: Some(retry_after_secs),
            })
        }
    }
}

/// The Redis counter of an account's order creations (public so that tests can read it).
pub fn creations_by_account_key(prefix: &str, account_id: Uuid) -> String {
    format!("{prefix}order_creations:account:{account_id}")
}

/// The Redis counter of a client address's order creations.
pub fn creations_by_client_key(prefix: &str, client: IpAddr) -> String {
    format!("{prefix}order_creations:client:{client}")
}
