//! Placing checked orders, several to a transaction (group commit).
//!
//! Every order for a popular product locks that product's row until its commit is on disk
//! (about 3.5 ms of WAL flush here), so orders for the same products form one queue however
//! fast each is. So the orders waiting in an instance are placed together: one transaction
//! takes the buyers' limit locks and the products' rows once, allocates stock to the orders in
//! the order they arrived, writes all of them with one statement per table and commits once.
//! Each order still gets its own answer — 201, or the 409/422 it alone earned — and an order
//! that is refused takes and writes nothing.
//!
//! There is no timer: an order waits only while the previous batch of its instance commits,
//! and the orders that arrived meanwhile form the next batch. Alone, an order is a batch of
//! one. Durability is unchanged: a 201 is sent only after its batch committed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use serde_json::json;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::buyer::Buyer;
use super::db::{self, NewGroups, NewOrders};
use super::limits::{self, Scope};
use super::model::{
    GroupRow, GroupStatus, Invoice, Order, OrderLine, OrderRow, OrderStatus, ShippingAddress, StatusChange,
};
use crate::catalog::{self, Orderable, model::Ladder};
use crate::error::{AppError, Result};
use crate::idempotency;
use crate::state::AppState;

/// The most orders one transaction places; more wait for the next.
const MAX_BATCH: usize = 64;

/// A line of a checked order: a product, once, and a quantity within the line limits.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    pub product_id: Uuid,
    pub qty: i32,
}

/// An order checked for everything that does not depend on the products' rows or the
/// buyer's other orders, waiting to be placed.
#[derive(Debug)]
pub struct Placement {
    pub buyer: Buyer,
    pub wanted: Vec<Wanted>,
    pub shipping: ShippingAddress,
    pub po_number: Option<String>,
    pub invoice: Option<Invoice>,
    pub from_cart: bool,
    /// Whether orders of this buyer at or above this total wait for approval.
    pub approval_threshold_fen: Option<i64>,
    /// The idempotency key whose reply commits with the order.
    pub idempotency_key: Option<PlacementKey>,
}

/// The idempotency key an order is placed under.
#[derive(Debug, Clone)]
pub struct PlacementKey {
    pub key: String,
    pub request_hash: String,
    /// Whether the request claimed the key already (`idempotency::run`). If not, the batch
    /// claims it in its own transaction, and answers 409 `idempotency_key_in_use` without
    /// placing the order when another request holds it; a refused order keeps nothing under
    /// its key (see `idempotency::run_claiming`).
    pub claimed: bool,
}

/// The unit price a buyer of `qty` pays for `product`: the tier that quantity reaches. The
/// cart prices through this too, so that what it shows is what checkout charges.
pub fn unit_price(product: &Orderable, qty: i32) -> Result<i64> {
    let ladder =
        Ladder::parse(product.tiers.0.clone()).map_err(|e| anyhow::anyhow!("stored ladder is invalid: {e}"))?;
    Ok(ladder.unit_price_for(qty as i64))
}

/// An instance's queue of orders waiting to be placed. One per router (so one per instance),
/// cheap to clone.
#[derive(Clone)]
pub struct Placements {
    inner: Arc<Queue>,
}

struct Queue {
    waiting: Mutex<Vec<Job>>,
    /// One permit per batch being placed. A request holding one places a batch; the others wait
    /// for a permit or for their answer.
    placing: tokio::sync::Semaphore,
}

struct Job {
    placement: Placement,
    answer: oneshot::Sender<Result<Order>>,
}

impl Placements {
    /// A queue that places up to `batches` batches at once, each in its own transaction on its
    /// own connection. Batches on different products run side by side; batches on the same
    /// products queue on the rows' locks, but the later one has claimed its keys and locked its
    /// buyers' limits by the time the earlier one commits. Every batch takes its locks in the
    /// same order (`place_batch`), so batches cannot deadlock.
    pub fn new(batches: usize) -> Self {
        let queue = Queue { waiting: Mutex::default(), placing: tokio::sync::Semaphore::new(batches.max(1)) };
        Placements { inner: Arc::new(queue) }
    }

    /// Places the order with whatever else is waiting, and answers when its batch committed.
    ///
    /// A waiting request that gets a permit takes everything queued (up to `MAX_BATCH`) and
    /// places it in a spawned task (so that the batch finishes even if that request is
    /// cancelled); the others wait for their answer, or for a permit if their order is still
    /// queued when one is given back.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn place(&self, state: &AppState, placement: Placement) -> Result<Order> {
        let (answer, mut answered) = oneshot::channel();
        self.inner.waiting.lock().expect("the placement queue is never poisoned").push(Job { placement, answer });
        loop {
            tokio::select! {
                biased;
                result = &mut answered => return result.unwrap_or_else(|_| Err(unanswered())),
                _permit = self.inner.placing.acquire() => {
                    let jobs: Vec<Job> = {
                        let mut waiting = self.inner.waiting.lock().expect("the placement queue is never poisoned");
                        let n = waiting.len().min(MAX_BATCH);
                        waiting.drain(..n).collect()
                    };
                    if jobs.is_empty() {
                        // Ours is in a batch that a cancelled request started; it will answer.
                        return answered.await.unwrap_or_else(|_| Err(unanswered()));
                    }
                    let state = state.clone();
                    // A panic ends the task and drops its answers: those requests get a 500.
                    let _ = tokio::spawn(async move { place_jobs(&state, jobs).await }).await;
                }
            }
        }
    }
}

fn unanswered() -> AppError {
    AppError::Internal(anyhow::anyhow!("the order's placement batch ended without answering it"))
}

/// Places a batch from the queue and answers each order.
#[tracing::instrument(level = "debug", skip_all, fields(orders = jobs.len()))]
async fn place_jobs(state: &AppState, jobs: Vec<Job>) {
    metrics::histogram!("order_placement_batch_size").record(jobs.len() as f64);
    let (placements, answers): (Vec<Placement>, Vec<_>) = jobs.into_iter().map(|j| (j.placement, j.answer)).unzip();
    for (answer, result) in answers.into_iter().zip(place_together(state, &placements).await) {
        let _ = answer.send(result);
    }
}

/// Places the orders in one transaction (`place_batch`), each answered on its own. When the
/// transaction fails as a whole (a database error), each order is placed again alone, so that
/// whatever failed fails only its own order.
///
/// The queue runs this; it is public so that tests can place a batch they composed.
pub async fn place_together(state: &AppState, placements: &[Placement]) -> Vec<Result<Order>> {
    match place_batch(state, placements).await {
        Ok(results) => results,
        Err(e) if placements.len() == 1 => vec![Err(e)],
        Err(e) => {
            tracing::warn!(error = ?e, orders = placements.len(), "placement batch failed; placing its orders one by one");
            let mut results = Vec::with_capacity(placements.len());
            for placement in placements {
                results.push(match place_batch(state, std::slice::from_ref(placement)).await {
                    Ok(mut one) => one.pop().unwrap_or_else(|| Err(unanswered())),
                    Err(e) => Err(e),
                });
            }
            results
        }
    }
}

/// An order that passed every check, ready to be written.
struct Accepted<'a> {
    placement: &'a Placement,
    order_id: Uuid,
    status: OrderStatus,
    expires_at: chrono::DateTime<Utc>,
    priced: Priced,
}

/// Places the orders in one transaction: for each, in order, either its own refusal or the
/// order as written. Fails as a whole only on a database error, and then nothing is placed.
///
/// Locks, in the one order every placement uses (so two batches cannot deadlock): the orders'
/// unclaimed idempotency keys in key order, the buyer scopes' limit locks in key order, then
/// the products in id order. Then each order, in
/// arrival order, is checked against its scope's limits and the products as earlier orders of
/// the batch left them, and the accepted ones are written and their stock taken together.
#[tracing::instrument(level = "debug", skip_all, fields(orders = batch.len()))]
async fn place_batch(state: &AppState, batch: &[Placement]) -> Result<Vec<Result<Order>>> {
    let mut tx = state.db.begin().await?;
    let key_taken = claim_keys(&mut tx, batch).await?;
    let scopes: Vec<Scope> = batch.iter().map(|p| Scope::of(&p.buyer)).collect();
    let mut held = limits::lock_and_count(&mut tx, &scopes).await?;
    let mut ids: Vec<Uuid> = batch.iter().flat_map(|p| p.wanted.iter().map(|w| w.product_id)).collect();
    ids.sort();
    ids.dedup();
    let locked: BTreeMap<Uuid, Orderable> =
        catalog::lock_for_order(&mut tx, &ids).await?.into_iter().map(|p| (p.id, p)).collect();
    let mut left = locked.clone();

    let mut refusals: Vec<Option<AppError>> = Vec::with_capacity(batch.len());
    let mut accepted: Vec<Accepted> = Vec::new();
    for ((p, scope), taken) in batch.iter().zip(&scopes).zip(&key_taken) {
        if *taken {
            refusals.push(Some(idempotency::in_use()));
            continue;
        }
        let units: i64 = p.wanted.iter().map(|w| i64::from(w.qty)).sum();
        let scope_held = held.get_mut(scope).expect("every scope of the batch was counted");
        let checked = limits::within_limits(&state.settings.orders, *scope, *scope_held, units)
            .and_then(|()| check_against(&left, &p.wanted))
            .and_then(|()| price(&left, &p.wanted));
        match checked {
            Ok(priced) => {
                for w in &p.wanted {
                    left.get_mut(&w.product_id).expect("checked against these products").stock -= w.qty;
                }
                scope_held.open_orders += 1;
                scope_held.reserved_units += units;
                let (status, expires_at) = first_status(state, p, priced.total_fen());
                accepted.push(Accepted { placement: p, order_id: Uuid::now_v7(), status, expires_at, priced });
                refusals.push(None);
            }
            Err(refusal) => refusals.push(Some(refusal)),
        }
    }
    if accepted.is_empty() {
        return Ok(refusals.into_iter().map(|r| Err(r.expect("nothing was accepted"))).collect());
    }

    // Keys claimed here for refused orders keep nothing (`idempotency::run_claiming`).
    let refused_keys: Vec<(Uuid, &str)> = batch
        .iter()
        .zip(&refusals)
        .zip(&key_taken)
        .filter(|((_, refusal), taken)| refusal.is_some() && !**taken)
        .filter_map(|((p, _), _)| {
            p.idempotency_key.as_ref().filter(|k| !k.claimed).map(|k| (p.buyer.account_id(), k.key.as_str()))
        })
        .collect();
    if !refused_keys.is_empty() {
        idempotency::release_all_in(&mut *tx, &refused_keys).await?;
    }
    let orders = write(&mut tx, &accepted).await?;
    let taken: Vec<(&Orderable, i32)> = locked
        .values()
        .filter_map(|p| {
            let qty = p.stock - left[&p.id].stock;
            (qty > 0).then_some((p, qty))
        })
        .collect();
    let retired = catalog::take_stocks(&mut tx, &taken).await?;
    let replies: Vec<(Uuid, &str, &Order)> = accepted
        .iter()
        .zip(&orders)
        .filter_map(|(a, order)| {
            a.placement.idempotency_key.as_ref().map(|k| (a.placement.buyer.account_id(), k.key.as_str(), order))
        })
        .collect();
    if !replies.is_empty() {
        idempotency::finish_all_in(&mut *tx, StatusCode::CREATED, &replies).await?;
    }
    if !retired.is_empty() {
        state.catalog_cache.commit_scoped(tx, &retired).await?;
    } else {
        tx.commit().await?;
    }

    let mut orders = orders.into_iter();
    Ok(refusals
        .into_iter()
        .map(|refusal| match refusal {
            Some(refusal) => Err(refusal),
            None => Ok(orders.next().expect("one order per acceptance")),
        })
        .collect())
}

/// Claims the batch's unclaimed idempotency keys: for each order, whether its key is held by
/// another request (or by an earlier order of the batch with the same key).
async fn claim_keys(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, batch: &[Placement]) -> Result<Vec<bool>> {
    let unclaimed: Vec<(usize, idempotency::KeyClaim)> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let k = p.idempotency_key.as_ref().filter(|k| !k.claimed)?;
            Some((i, (p.buyer.account_id(), k.key.as_str(), k.request_hash.as_str())))
        })
        .collect();
    let mut taken = vec![false; batch.len()];
    if unclaimed.is_empty() {
        return Ok(taken);
    }
    let claims: Vec<idempotency::KeyClaim> = unclaimed.iter().map(|(_, c)| *c).collect();
    let held = idempotency::claim_all_in(&mut **tx, &claims).await?;
    for ((i, _), held) in unclaimed.iter().zip(held) {
        taken[*i] = !held;
    }
    Ok(taken)
}

/// Writes the accepted orders with their groups, lines and first history entries, and empties
/// the carts they were placed from; the orders as the database now holds them.
async fn write(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, accepted: &[Accepted<'_>]) -> Result<Vec<Order>> {
    let mut orders = NewOrders::default();
    let mut groups = NewGroups::default();
    let mut lines: Vec<(Uuid, &OrderLine)> = Vec::new();
    let mut carts: Vec<Uuid> = Vec::new();
    for a in accepted {
        let p = a.placement;
        orders.ids.push(a.order_id);
        orders.buyer_ids.push(p.buyer.account_id());
        orders.organization_ids.push(p.buyer.organization_id());
        orders.statuses.push(a.status.as_str());
        orders.totals.push(a.priced.total_fen());
        orders.shipping_addresses.push(serde_json::to_value(&p.shipping).map_err(anyhow::Error::from)?);
        orders.po_numbers.push(p.po_number.clone());
        orders.invoices.push(p.invoice.as_ref().map(serde_json::to_value).transpose().map_err(anyhow::Error::from)?);
        orders.expires_at.push(a.expires_at);
        orders.units.push(p.wanted.iter().map(|w| i64::from(w.qty)).sum());
        for (producer_id, (group_id, subtotal)) in &a.priced.groups {
            groups.ids.push(*group_id);
            groups.order_ids.push(a.order_id);
            groups.producer_ids.push(*producer_id);
            groups.subtotals.push(*subtotal);
        }
        lines.extend(a.priced.lines.iter().map(|l| (a.order_id, l)));
        if p.from_cart {
            carts.push(p.buyer.account_id());
        }
    }
    // The database stamps created_at; the orders as written make the reply (and its replay).
    let mut rows: HashMap<Uuid, OrderRow> =
        db::insert_placed(tx, &orders, &groups, &lines).await?.into_iter().map(|r| (r.id, r)).collect();
    if !carts.is_empty() {
        db::clear_carts(tx, &carts).await?;
    }
    accepted
        .iter()
        .map(|a| {
            let row = rows.remove(&a.order_id).ok_or_else(|| anyhow::anyhow!("a placed order was not read back"))?;
            let history = vec![StatusChange {
                group_id: None,
                actor_id: Some(a.placement.buyer.account_id()),
                from_status: None,
                to_status: a.status.as_str().into(),
                note: None,
                created_at: row.created_at,
            }];
            let group_rows = new_groups(a.order_id, &a.priced.groups);
            Ok(Order::assemble(row, group_rows, a.priced.lines.clone(), history))
        })
        .collect()
}

/// Every line against the products: 422 `invalid_lines` for unknown, unlisted and below-MOQ
/// lines (with any short ones), else 409 `insufficient_stock` for short ones.
pub fn check_against(products: &BTreeMap<Uuid, Orderable>, wanted: &[Wanted]) -> Result<()> {
    let mut invalid = Vec::new();
    let mut short = Vec::new();
    for (i, w) in wanted.iter().enumerate() {
        match products.get(&w.product_id) {
            None => invalid.push(json!({"line": i, "product_id": w.product_id, "problem": "unknown_product"})),
            Some(prod) if !prod.public => {
                invalid.push(json!({"line": i, "product_id": w.product_id, "problem": "not_listed"}))
            }
            Some(prod) if w.qty < prod.min_order_qty => invalid.push(json!({
                "line": i, "product_id": w.product_id, "problem": "below_min_order_qty", "min_order_qty": prod.min_order_qty
            })),
            Some(prod) if w.qty > prod.stock => short.push(json!({
                "line": i, "product_id": w.product_id, "problem": "insufficient_stock", "requested": w.qty, "available": prod.stock
            })),
            Some(_) => {}
        }
    }
    if !invalid.is_empty() {
        invalid.extend(short);
        return Err(AppError::Lines {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_lines",
            detail: msg!("order-lines-not-buyable"),
            lines: invalid.into(),
        });
    }
    if !short.is_empty() {
        return Err(AppError::Lines {
            status: StatusCode::CONFLICT,
            code: "insufficient_stock",
            detail: msg!("order-lines-short"),
            lines: short.into(),
        });
    }
    Ok(())
}

/// Lines priced from the ladder tier each quantity reaches, grouped by producer.
struct Priced {
    lines: Vec<OrderLine>,
    /// producer → (group id, subtotal)
    groups: BTreeMap<Uuid, (Uuid, i64)>,
}

impl Priced {
    fn total_fen(&self) -> i64 {
        self.groups.values().map(|g| g.1).sum()
    }
}

fn price(products: &BTreeMap<Uuid, Orderable>, wanted: &[Wanted]) -> Result<Priced> {
    let mut wanted = wanted.to_vec();
    wanted.sort_by_key(|w| w.product_id);
    let mut groups: BTreeMap<Uuid, (Uuid, i64)> = BTreeMap::new();
    let mut lines = Vec::with_capacity(wanted.len());
    for w in &wanted {
        let prod = &products[&w.product_id];
        let unit_price_fen = unit_price(prod, w.qty)?;
        let line_total_fen = unit_price_fen * w.qty as i64;
        let group = groups.entry(prod.producer_id).or_insert((Uuid::now_v7(), 0));
        group.1 += line_total_fen;
        lines.push(OrderLine {
            id: Uuid::now_v7(),
            group_id: group.0,
            product_id: w.product_id,
            title: prod.title.clone(),
            qty: w.qty,
            unit_price_fen,
            line_total_fen,
        });
    }
    Ok(Priced { lines, groups })
}

/// Where a new order starts, and until when it holds its stock: awaiting approval when a
/// purchaser's order reaches the enterprise's threshold, else pending payment.
fn first_status(state: &AppState, p: &Placement, total_fen: i64) -> (OrderStatus, chrono::DateTime<Utc>) {
    let needs_approval =
        p.buyer.needs_approval_over_threshold() && p.approval_threshold_fen.is_some_and(|t| total_fen >= t);
    let settings = &state.settings.orders;
    let (status, hold) = if needs_approval {
        (OrderStatus::AwaitingApproval, settings.approval_hold_secs)
    } else {
        (OrderStatus::PendingPayment, settings.payment_window_secs)
    };
    (status, Utc::now() + Duration::seconds(hold as i64))
}

/// One pending fulfilment group per producer.
fn new_groups(order_id: Uuid, groups: &BTreeMap<Uuid, (Uuid, i64)>) -> Vec<GroupRow> {
    groups
        .iter()
        .map(|(producer_id, (group_id, subtotal))| GroupRow {
            id: *group_id,
            order_id,
            producer_id: *producer_id,
            status: GroupStatus::Pending,
            subtotal_fen: *subtotal,
            carrier: None,
            tracking_no: None,
            shipped_at: None,
            completed_at: None,
        })
        .collect()
}
