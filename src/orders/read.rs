//! Reading orders whole: an order with its groups, lines and history, and a producer's groups
//! with their lines and shipping addresses. A page loads in a constant number of queries
//! (orders: 4; producer groups: 3), however many rows it shows.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::buyer::Buyer;
use super::db::{self, OrderFilter};
use super::model::{GroupRow, GroupStatus, Order, OrderLine, OrderRow, OrderStatus, ShippingAddress, StatusChange};
use crate::error::{AppError, Result};
use crate::http::pagination::{ListParams, Page};
use crate::state::AppState;

/// What a producer sees of an order: its own group, its lines, and where to ship.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProducerGroup {
    #[serde(flatten)]
    group: GroupRow,
    lines: Vec<OrderLine>,
    shipping_address: ShippingAddress,
}

/// Orders with their groups, lines and history: three queries for any number of orders.
async fn assemble(state: &AppState, rows: Vec<OrderRow>) -> Result<Vec<Order>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut groups: HashMap<Uuid, Vec<GroupRow>> = HashMap::new();
    for g in db::groups_of_orders(&state.db, &ids).await? {
        groups.entry(g.order_id).or_default().push(g);
    }
    let mut lines: HashMap<Uuid, Vec<OrderLine>> = HashMap::new();
    for l in db::lines_of_orders(&state.db, &ids).await? {
        lines.entry(l.group_id).or_default().push(l);
    }
    let mut history: HashMap<Uuid, Vec<StatusChange>> = HashMap::new();
    for h in db::history_of_orders(&state.db, &ids).await? {
        history.entry(h.order_id).or_default().push(h.change);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let order_groups = groups.remove(&row.id).unwrap_or_default();
            let order_lines = order_groups.iter().flat_map(|g| lines.remove(&g.id).unwrap_or_default()).collect();
            let order_history = history.remove(&row.id).unwrap_or_default();
            Order::assemble(row, order_groups, order_lines, order_history)
        })
        .collect())
}

/// One order whole.
pub async fn full_order(state: &AppState, row: OrderRow) -> Result<Order> {
    Ok(assemble(state, vec![row]).await?.pop().expect("one row in, one order out"))
}

/// The order as it is now, for the reply to an action on it.
pub async fn current(state: &AppState, id: Uuid) -> Result<Order> {
    let row = db::find_order(&state.db, id).await?.ok_or(AppError::NotFound)?;
    full_order(state, row).await
}

/// The order, if `buyer` may see it: their own, or any of their enterprise's for approvers and
/// owners. Everyone else gets 404.
pub async fn visible_order(state: &AppState, buyer: &Buyer, order_id: Uuid) -> Result<OrderRow> {
    let order = db::find_order(&state.db, order_id).await?.ok_or(AppError::NotFound)?;
    if buyer.may_see(&order) { Ok(order) } else { Err(AppError::NotFound) }
}

/// A page of full orders for `filter`, newest first.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn orders_page(state: &AppState, filter: &OrderFilter, page: &ListParams) -> Result<Page<Order>> {
    let rows = db::list_orders(&state.db, filter, page.after(), page.fetch()).await?;
    let rows = page.by_id(rows, |r| r.id);
    Ok(Page { items: assemble(state, rows.items).await?, next_cursor: rows.next_cursor })
}

/// The buyer's orders (approvers and owners: all of their enterprise's).
pub async fn buyer_orders(
    state: &AppState,
    buyer: &Buyer,
    status: Option<OrderStatus>,
    page: &ListParams,
) -> Result<Page<Order>> {
    let filter = if buyer.sees_all_of_enterprise() {
        OrderFilter { organization_id: buyer.organization_id(), status, ..Default::default() }
    } else {
        OrderFilter { buyer_id: Some(buyer.account_id()), status, ..Default::default() }
    };
    orders_page(state, &filter, page).await
}

/// Producer groups with their lines and shipping addresses: two queries for any number.
pub async fn producer_groups(state: &AppState, groups: Vec<GroupRow>) -> Result<Vec<ProducerGroup>> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let group_ids: Vec<Uuid> = groups.iter().map(|g| g.id).collect();
    let order_ids: Vec<Uuid> = groups.iter().map(|g| g.order_id).collect();
    let mut lines: HashMap<Uuid, Vec<OrderLine>> = HashMap::new();
    for l in db::lines_of_groups(&state.db, &group_ids).await? {
        lines.entry(l.group_id).or_default().push(l);
    }
    let addresses: HashMap<Uuid, ShippingAddress> =
        db::shipping_addresses(&state.db, &order_ids).await?.into_iter().collect();
    groups
        .into_iter()
        .map(|group| {
            let shipping_address = addresses.get(&group.order_id).cloned().ok_or(AppError::NotFound)?;
            Ok(ProducerGroup { lines: lines.remove(&group.id).unwrap_or_default(), shipping_address, group })
        })
        .collect()
}

/// A page of the producer's paid (and later) groups, newest first.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn producer_groups_page(
    state: &AppState,
    producer_id: Uuid,
    status: Option<GroupStatus>,
    page: &ListParams,
) -> Result<Page<ProducerGroup>> {
    let rows = db::list_groups_for_producer(&state.db, producer_id, status, page.after(), page.fetch()).await?;
    let rows = page.by_id(rows, |g| g.id);
    Ok(Page { items: producer_groups(state, rows.items).await?, next_cursor: rows.next_cursor })
}
