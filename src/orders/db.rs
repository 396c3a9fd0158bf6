//! The orders area's SQL: orders, groups, lines, history, carts, enterprise settings and
//! idempotency keys.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use super::model::{
    Change, GroupRow, GroupStatus, Invoice, OrderLine, OrderRow, OrderStatus, PaidLine, ShippingAddress, StatusChange,
};

/// `sqlx::query_as!` into [`OrderRow`]: the SQL before and after the column list, then the
/// arguments. One place lists the columns (with the type overrides the macros need).
macro_rules! query_order {
    ($before:literal, $after:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            OrderRow,
            $before
                + r#"id, buyer_id, organization_id, status as "status: OrderStatus", total_fen,
                     shipping_address as "shipping_address: Json<ShippingAddress>", po_number,
                     invoice as "invoice: Json<Invoice>", expires_at, paid_at, payment_method, payment_ref,
                     paid_fen, refunded_fen, created_at, updated_at"#
                + $after
            $(, $arg)*
        )
    };
}

/// `sqlx::query_as!` into [`GroupRow`], like `query_order!`.
macro_rules! query_group {
    ($before:literal, $after:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            GroupRow,
            $before
                + r#"id, order_id, producer_id, status as "status: GroupStatus", subtotal_fen, carrier,
                     tracking_no, shipped_at, completed_at"#
                + $after
            $(, $arg)*
        )
    };
}

/// New orders in columns, one entry per order: what a placement batch writes at once.
#[derive(Debug, Default)]
pub struct NewOrders {
    pub ids: Vec<Uuid>,
    pub buyer_ids: Vec<Uuid>,
    pub organization_ids: Vec<Option<Uuid>>,
    pub statuses: Vec<&'static str>,
    pub totals: Vec<i64>,
    pub shipping_addresses: Vec<serde_json::Value>,
    pub po_numbers: Vec<Option<String>>,
    pub invoices: Vec<Option<serde_json::Value>>,
    pub expires_at: Vec<DateTime<Utc>>,
    /// Units over all lines: what the order holds against its buyer's limits.
    pub units: Vec<i64>,
}

/// New fulfilment groups in columns (all pending).
#[derive(Debug, Default)]
pub struct NewGroups {
    pub ids: Vec<Uuid>,
    pub order_ids: Vec<Uuid>,
    pub producer_ids: Vec<Uuid>,
    pub subtotals: Vec<i64>,
}

/// Writes a placement batch's orders, groups, lines and first history entries in one
/// statement however many orders (one `unnest` per table, the child tables as CTEs: their
/// foreign keys are checked when the statement ends, after the orders are in), and returns the
/// orders as written, in no particular order. One round trip instead of five (four inserts and
/// a read-back of the stamped `created_at`) matters because a batch holds its products' row
/// locks until it commits.
#[tracing::instrument(level = "debug", skip_all, fields(orders = o.ids.len(), lines = lines.len()))]
pub async fn insert_placed(
    tx: &mut Transaction<'_, Postgres>,
    o: &NewOrders,
    g: &NewGroups,
    lines: &[(Uuid, &OrderLine)],
) -> sqlx::Result<Vec<OrderRow>> {
    let ids: Vec<Uuid> = lines.iter().map(|(_, l)| l.id).collect();
    let order_ids: Vec<Uuid> = lines.iter().map(|(o, _)| *o).collect();
    let groups: Vec<Uuid> = lines.iter().map(|(_, l)| l.group_id).collect();
    let products: Vec<Uuid> = lines.iter().map(|(_, l)| l.product_id).collect();
    let titles: Vec<&str> = lines.iter().map(|(_, l)| l.title.as_str()).collect();
    let qtys: Vec<i32> = lines.iter().map(|(_, l)| l.qty).collect();
    let prices: Vec<i64> = lines.iter().map(|(_, l)| l.unit_price_fen).collect();
    let totals: Vec<i64> = lines.iter().map(|(_, l)| l.line_total_fen).collect();
    let history_ids: Vec<Uuid> = o.ids.iter().map(|_| Uuid::now_v7()).collect();
    // The nullable columns' arrays are `Vec<Option<_>>`, which the macros' parameter check
    // (expecting `Vec<_>` for an array) does not accept: `as _` binds them unchecked. A cast
    // also turns it off for `&[&str]`, where it wants a `Vec<String>` for text[].
    query_order!(
        r#"
        with new_groups as (
            insert into order_groups (id, order_id, producer_id, status, subtotal_fen)
            select id, order_id, producer_id, 'pending', subtotal
            from unnest($11::uuid[], $12::uuid[], $13::uuid[], $14::bigint[]) as t(id, order_id, producer_id, subtotal)
        ),
        new_lines as (
            insert into order_lines (id, order_id, group_id, product_id, title, qty, unit_price_fen, line_total_fen)
            select * from unnest($15::uuid[], $16::uuid[], $17::uuid[], $18::uuid[], $19::text[], $20::int[],
                                 $21::bigint[], $22::bigint[])
        ),
        new_history as (
            insert into order_status_history (id, order_id, actor_id, to_status)
            select * from unnest($23::uuid[], $1::uuid[], $2::uuid[], $4::text[])
        )
        insert into orders (id, buyer_id, organization_id, status, total_fen, shipping_address, po_number, invoice,
                            expires_at, units)
        select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::jsonb[], $7::text[],
                             $8::jsonb[], $9::timestamptz[], $10::bigint[])
        returning "#,
        "",
        &o.ids,
        &o.buyer_ids,
        &o.organization_ids as _,
        &o.statuses as &[&str],
        &o.totals,
        &o.shipping_addresses,
        &o.po_numbers as _,
        &o.invoices as _,
        &o.expires_at,
        &o.units,
        &g.ids,
        &g.order_ids,
        &g.producer_ids,
        &g.subtotals,
        &ids,
        &order_ids,
        &groups,
        &products,
        &titles as &[&str],
        &qtys,
        &prices,
        &totals,
        &history_ids,
    )
    .fetch_all(&mut **tx)
    .await
}

/// Empties the carts of these accounts (orders placed from the cart).
#[tracing::instrument(level = "debug", skip_all, fields(n = account_ids.len()))]
pub async fn clear_carts(tx: &mut Transaction<'_, Postgres>, account_ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query!(r#"delete from cart_items where account_id = any($1)"#, account_ids).execute(&mut **tx).await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip(tx, note))]
pub async fn insert_history(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
    actor_id: Option<Uuid>,
    change: Change,
    note: Option<&str>,
) -> sqlx::Result<()> {
    let (from, to) = change.statuses();
    let group_id = change.group_id();
    sqlx::query!(
        r#"
        insert into order_status_history (id, order_id, group_id, actor_id, from_status, to_status, note)
        values ($1, $2, $3, $4, $5, $6, $7)
        "#,
        Uuid::now_v7(),
        order_id,
        group_id,
        actor_id,
        from,
        to,
        note,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_order(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<OrderRow>> {
    query_order!("select ", " from orders where id = $1", id).fetch_optional(db).await
}

/// The order, locked: every status change of an order goes through this lock, so expiry,
/// cancellation and payment serialize and each sees the other's result.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn lock_order(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<OrderRow>> {
    query_order!("select ", " from orders where id = $1 for update", id).fetch_optional(&mut **tx).await
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn set_order_status(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: OrderStatus,
    expires_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        update orders set status = $2, expires_at = coalesce($3, expires_at), updated_at = now(),
            paid_at = case when $2 = 'paid' then now() else paid_at end
        where id = $1
        "#,
        id,
        status.as_str(),
        expires_at,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How the order was paid: method, reference and amount.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn set_payment(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    method: &str,
    payment_ref: &str,
    paid_fen: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update orders set payment_method = $2, payment_ref = $3, paid_fen = $4, updated_at = now() where id = $1"#,
        id,
        method,
        payment_ref,
        paid_fen,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds a completed refund to the order's refunded amount (the table's check keeps it within
/// what was paid).
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn add_refunded(tx: &mut Transaction<'_, Postgres>, id: Uuid, amount_fen: i64) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update orders set refunded_fen = refunded_fen + $2, updated_at = now() where id = $1"#,
        id,
        amount_fen
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves an unpaid order's deadline (a bank transfer's longer window).
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn extend_unpaid_deadline(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    until: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        update orders set expires_at = greatest(expires_at, $2), updated_at = now()
        where id = $1 and status = 'pending_payment'
        "#,
        id,
        until,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn set_group_status(tx: &mut Transaction<'_, Postgres>, id: Uuid, status: GroupStatus) -> sqlx::Result<()> {
    sqlx::query!(r#"update order_groups set status = $2 where id = $1"#, id, status.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn all_groups_refunded(tx: &mut Transaction<'_, Postgres>, order_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"select bool_and(status = 'refunded') from order_groups where order_id = $1"#, order_id)
        .fetch_one(&mut **tx)
        .await
        .map(|v: Option<bool>| v.unwrap_or(false))
}

/// The order's lines with their groups' producers and statuses, in product order.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn lines_with_groups(db: impl PgExecutor<'_>, order_id: Uuid) -> sqlx::Result<Vec<PaidLine>> {
    let rows = sqlx::query!(
        r#"
        select l.id, l.group_id, l.product_id, g.producer_id, l.qty, l.unit_price_fen, l.line_total_fen,
               g.status as "group_status: GroupStatus"
        from order_lines l join order_groups g on g.id = l.group_id
        where l.order_id = $1 order by l.product_id
        "#,
        order_id,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PaidLine {
            line_id: r.id,
            group_id: r.group_id,
            product_id: r.product_id,
            producer_id: r.producer_id,
            qty: r.qty,
            unit_price_fen: r.unit_price_fen,
            amount_fen: r.line_total_fen,
            group_status: r.group_status,
        })
        .collect())
}

/// Moves every group of the order that is in `from` to `to`.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn set_groups_status(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
    from: GroupStatus,
    to: GroupStatus,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update order_groups set status = $3 where order_id = $1 and status = $2"#,
        order_id,
        from.as_str(),
        to.as_str(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn lines_of(db: impl PgExecutor<'_>, order_id: Uuid) -> sqlx::Result<Vec<OrderLine>> {
    sqlx::query_as!(
        OrderLine,
        r#"
        select id, group_id, product_id, title, qty, unit_price_fen, line_total_fen
        from order_lines where order_id = $1 order by product_id
        "#,
        order_id,
    )
    .fetch_all(db)
    .await
}

/// Which orders a list shows.
#[derive(Debug, Default)]
pub struct OrderFilter {
    pub buyer_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub status: Option<OrderStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A page of orders, newest first: a buyer's own, an enterprise's, or (admins) any.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn list_orders(
    db: impl PgExecutor<'_>,
    f: &OrderFilter,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<OrderRow>> {
    query_order!(
        "select ",
        r#"
        from orders
        where ($1::uuid is null or buyer_id = $1)
          and ($2::uuid is null or organization_id = $2)
          and ($3::text is null or status = $3)
          and ($4::timestamptz is null or created_at >= $4)
          and ($5::timestamptz is null or created_at < $5)
          and ($6::uuid is null or id < $6)
        order by id desc limit $7
        "#,
        f.buyer_id,
        f.organization_id,
        f.status.map(OrderStatus::as_str),
        f.from,
        f.to,
        before,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Unpaid orders past their deadline, locked, skipping any another instance holds, as
/// `(expires_at, id)` in that order from just after `after`: the expiry job walks the due
/// orders once per run, so an order it cannot expire is passed over instead of coming first
/// in every batch.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn lock_due_for_expiry(
    tx: &mut Transaction<'_, Postgres>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<(DateTime<Utc>, Uuid)>> {
    let rows = sqlx::query!(
        r#"
        select expires_at, id from orders
        where status in ('awaiting_approval', 'pending_payment') and expires_at <= now()
          and ($1::timestamptz is null or (expires_at, id) > ($1, $2))
        order by expires_at, id limit $3
        for update skip locked
        "#,
        after.map(|(at, _)| at),
        after.map(|(_, id)| id),
        limit,
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.expires_at, r.id)).collect())
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_group(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<GroupRow>> {
    query_group!("select ", " from order_groups where id = $1", id).fetch_optional(db).await
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn lock_group(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<GroupRow>> {
    query_group!("select ", " from order_groups where id = $1 for update", id).fetch_optional(&mut **tx).await
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn ship_group(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    carrier: &str,
    tracking_no: &str,
) -> sqlx::Result<GroupRow> {
    query_group!(
        r#"
        update order_groups set status = 'shipped', carrier = $2, tracking_no = $3, shipped_at = now()
        where id = $1 returning "#,
        "",
        id,
        carrier,
        tracking_no,
    )
    .fetch_one(&mut **tx)
    .await
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn complete_group(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<GroupRow> {
    query_group!("update order_groups set status = 'completed', completed_at = now() where id = $1 returning ", "", id)
        .fetch_one(&mut **tx)
        .await
}

/// Whether every group of the order is completed.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn all_groups_completed(tx: &mut Transaction<'_, Postgres>, order_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"select bool_and(status = 'completed') from order_groups where order_id = $1"#, order_id)
        .fetch_one(&mut **tx)
        .await
        .map(|v: Option<bool>| v.unwrap_or(false))
}

/// Shipped groups whose buyer has not confirmed within `days`, locked, skipping held ones.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn lock_due_for_completion(
    tx: &mut Transaction<'_, Postgres>,
    days: i32,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"
        select id from order_groups
        where status = 'shipped' and shipped_at <= now() - make_interval(days => $1)
        order by shipped_at limit $2
        for update skip locked
        "#,
        days,
        limit,
    )
    .fetch_all(&mut **tx)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn list_groups_for_producer(
    db: impl PgExecutor<'_>,
    producer_id: Uuid,
    status: Option<GroupStatus>,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<GroupRow>> {
    query_group!(
        "select ",
        r#"
        from order_groups
        where producer_id = $1 and ($2::text is null or status = $2) and ($3::uuid is null or id < $3)
          and status in ('paid', 'shipped', 'completed')
        order by id desc limit $4
        "#,
        producer_id,
        status.map(GroupStatus::as_str),
        before,
        limit,
    )
    .fetch_all(db)
    .await
}

// ---- carts --------------------------------------------------------------------------------

#[tracing::instrument(level = "debug", skip(db))]
pub async fn cart_items(db: impl PgExecutor<'_>, account_id: Uuid) -> sqlx::Result<Vec<(Uuid, i32)>> {
    let rows = sqlx::query!(
        r#"select product_id, qty from cart_items where account_id = $1 order by added_at, product_id"#,
        account_id,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.product_id, r.qty)).collect())
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn put_cart_item(
    tx: &mut Transaction<'_, Postgres>,
    account_id: Uuid,
    product_id: Uuid,
    qty: i32,
    max_items: i64,
) -> sqlx::Result<bool> {
    // One cart writer per account at a time, so two puts cannot both see room for one more.
    sqlx::query!(r#"select pg_advisory_xact_lock(hashtextextended('cart:' || $1::uuid::text, 0))"#, account_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query!(
        r#"
        insert into cart_items (account_id, product_id, qty)
        select $1, $2, $3
        where exists (select 1 from cart_items where account_id = $1 and product_id = $2)
           or (select count(*) from cart_items where account_id = $1) < $4
        on conflict (account_id, product_id) do update set qty = excluded.qty
        "#,
        account_id,
        product_id,
        qty,
        max_items,
    )
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected() == 1)
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn delete_cart_item(db: impl PgExecutor<'_>, account_id: Uuid, product_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query!(r#"delete from cart_items where account_id = $1 and product_id = $2"#, account_id, product_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

// ---- enterprise settings ------------------------------------------------------------------

#[tracing::instrument(level = "debug", skip(db))]
pub async fn approval_threshold(db: impl PgExecutor<'_>, organization_id: Uuid) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"select approval_threshold_fen from enterprise_settings where organization_id = $1"#,
        organization_id,
    )
    .fetch_optional(db)
    .await
    .map(Option::flatten)
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn set_approval_threshold(
    db: impl PgExecutor<'_>,
    organization_id: Uuid,
    threshold: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into enterprise_settings (organization_id, approval_threshold_fen) values ($1, $2)
        on conflict (organization_id) do update set approval_threshold_fen = excluded.approval_threshold_fen, updated_at = now()
        "#,
        organization_id,
        threshold,
    )
    .execute(db)
    .await?;
    Ok(())
}

// ---- batched reads for list pages (a constant number of queries per page) -------------------

/// A status change with the order it belongs to.
#[derive(Debug)]
pub struct HistoryRow {
    pub order_id: Uuid,
    pub change: StatusChange,
}

#[tracing::instrument(level = "debug", skip_all, fields(orders = order_ids.len()))]
pub async fn groups_of_orders(db: impl PgExecutor<'_>, order_ids: &[Uuid]) -> sqlx::Result<Vec<GroupRow>> {
    query_group!("select ", " from order_groups where order_id = any($1) order by order_id, producer_id", order_ids)
        .fetch_all(db)
        .await
}

#[tracing::instrument(level = "debug", skip_all, fields(orders = order_ids.len()))]
pub async fn lines_of_orders(db: impl PgExecutor<'_>, order_ids: &[Uuid]) -> sqlx::Result<Vec<OrderLine>> {
    sqlx::query_as!(
        OrderLine,
        r#"
        select id, group_id, product_id, title, qty, unit_price_fen, line_total_fen
        from order_lines where order_id = any($1) order by order_id, product_id
        "#,
        order_ids,
    )
    .fetch_all(db)
    .await
}

/// The titles order lines were bought under, as (line id, title) pairs.
#[tracing::instrument(level = "debug", skip_all, fields(lines = line_ids.len()))]
pub async fn line_titles(db: impl PgExecutor<'_>, line_ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!(r#"select id, title from order_lines where id = any($1)"#, line_ids).fetch_all(db).await?;
    Ok(rows.into_iter().map(|r| (r.id, r.title)).collect())
}

#[tracing::instrument(level = "debug", skip_all, fields(groups = group_ids.len()))]
pub async fn lines_of_groups(db: impl PgExecutor<'_>, group_ids: &[Uuid]) -> sqlx::Result<Vec<OrderLine>> {
    sqlx::query_as!(
        OrderLine,
        r#"
        select id, group_id, product_id, title, qty, unit_price_fen, line_total_fen
        from order_lines where group_id = any($1) order by group_id, product_id
        "#,
        group_ids,
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(level = "debug", skip_all, fields(orders = order_ids.len()))]
pub async fn history_of_orders(db: impl PgExecutor<'_>, order_ids: &[Uuid]) -> sqlx::Result<Vec<HistoryRow>> {
    let rows = sqlx::query!(
        r#"
        select order_id, group_id, actor_id, from_status, to_status, note, created_at
        from order_status_history where order_id = any($1) order by order_id, created_at, id
        "#,
        order_ids,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| HistoryRow {
            order_id: r.order_id,
            change: StatusChange {
                group_id: r.group_id,
                actor_id: r.actor_id,
                from_status: r.from_status,
                to_status: r.to_status,
                note: r.note,
                created_at: r.created_at,
            },
        })
        .collect())
}

/// The shipping address of each order.
#[tracing::instrument(level = "debug", skip_all, fields(orders = order_ids.len()))]
pub async fn shipping_addresses(
    db: impl PgExecutor<'_>,
    order_ids: &[Uuid],
) -> sqlx::Result<Vec<(Uuid, ShippingAddress)>> {
    let rows = sqlx::query!(
        r#"select id, shipping_address as "shipping_address: Json<ShippingAddress>" from orders where id = any($1)"#,
        order_ids,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.shipping_address.0)).collect())
}

// ---- open orders (limits against hoarding) ------------------------------------------------

/// What a buyer scope's unpaid orders hold: how many orders, and how many units in them.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    pub open_orders: i64,
    pub reserved_units: i64,
}

/// Serializes the placements of these buyer scopes (each `consumer` or `enterprise` with its
/// id) until the transaction ends, so that two orders cannot both count the same room under a
/// limit. The locks are taken in key order, one after another, so that two batches with
/// overlapping scopes queue instead of deadlocking.
#[tracing::instrument(level = "debug", skip_all, fields(n = ids.len()))]
pub async fn lock_open_orders(tx: &mut Transaction<'_, Postgres>, scopes: &[&str], ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        select pg_advisory_xact_lock(k) from (
            select distinct hashtextextended('open_orders:' || scope || ':' || id::text, 0) as k
            from unnest($1::text[], $2::uuid[]) as t(scope, id)
            order by k
        ) as keys
        "#,
        scopes as &[&str],
        ids as &[Uuid],
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What each of these consumers' own unpaid orders hold (through `orders_open_consumer_idx`,
/// one row per open order); a consumer without any is left out.
#[tracing::instrument(level = "debug", skip_all, fields(n = account_ids.len()))]
pub async fn open_orders_of_consumers(
    db: impl PgExecutor<'_>,
    account_ids: &[Uuid],
) -> sqlx::Result<Vec<(Uuid, Held)>> {
    let rows = sqlx::query!(
        r#"
        select buyer_id, count(*) as "open_orders!", coalesce(sum(units), 0)::bigint as "reserved_units!"
        from orders
        where buyer_id = any($1) and organization_id is null and status in ('awaiting_approval', 'pending_payment')
        group by buyer_id
        "#,
        account_ids,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.buyer_id, Held { open_orders: r.open_orders, reserved_units: r.reserved_units }))
        .collect())
}

/// What each of these enterprises' unpaid orders hold, all members' together (through
/// `orders_open_organization_idx`); an enterprise without any is left out.
#[tracing::instrument(level = "debug", skip_all, fields(n = organization_ids.len()))]
pub async fn open_orders_of_enterprises(
    db: impl PgExecutor<'_>,
    organization_ids: &[Uuid],
) -> sqlx::Result<Vec<(Uuid, Held)>> {
    let rows = sqlx::query!(
        r#"
        select organization_id as "organization_id!", count(*) as "open_orders!",
               coalesce(sum(units), 0)::bigint as "reserved_units!"
        from orders
        where organization_id = any($1) and status in ('awaiting_approval', 'pending_payment')
        group by organization_id
        "#,
        organization_ids,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.organization_id, Held { open_orders: r.open_orders, reserved_units: r.reserved_units }))
        .collect())
}
