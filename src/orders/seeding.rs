//! Bulk loading of paid order history for benchmarks (`tonggan seed --ledger`): whole orders,
//! their producer groups and lines, thousands per statement. Only the seeder calls this; the
//! running service never writes orders except through checkout.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// Paid orders, already settled: one entry per order, group and line, in parallel arrays.
/// Lines refer to their group and order by id; the caller keeps the totals consistent
/// (`total_fen` = the groups' subtotals = the lines' totals), which the tables' checks and
/// reconciliation verify.
#[derive(Debug, Default)]
pub struct PaidOrders {
    pub ids: Vec<Uuid>,
    pub buyer_ids: Vec<Uuid>,
    pub organization_ids: Vec<Option<Uuid>>,
    /// `paid` or `completed`.
    pub statuses: Vec<String>,
    pub totals: Vec<i64>,
    pub refunded: Vec<i64>,
    /// `stripe` or `bank_transfer`.
    pub methods: Vec<String>,
    pub payment_refs: Vec<String>,
    pub created_at: Vec<DateTime<Utc>>,
    pub paid_at: Vec<DateTime<Utc>>,
    pub groups: PaidGroups,
    pub lines: PaidOrderLines,
}

#[derive(Debug, Default)]
pub struct PaidGroups {
    pub ids: Vec<Uuid>,
    pub order_ids: Vec<Uuid>,
    pub producer_ids: Vec<Uuid>,
    /// `paid` or `completed`.
    pub statuses: Vec<String>,
    pub subtotals: Vec<i64>,
    /// When a completed group was received; None for a group still `paid`.
    pub completed_at: Vec<Option<DateTime<Utc>>>,
}

#[derive(Debug, Default)]
pub struct PaidOrderLines {
    pub ids: Vec<Uuid>,
    pub order_ids: Vec<Uuid>,
    pub group_ids: Vec<Uuid>,
    pub product_ids: Vec<Uuid>,
    pub titles: Vec<String>,
    pub qtys: Vec<i32>,
    pub unit_prices: Vec<i64>,
}

/// Writes the orders, groups and lines of a batch, three statements in the caller's transaction.
#[tracing::instrument(level = "debug", skip_all, fields(orders = b.ids.len(), lines = b.lines.ids.len()))]
pub async fn insert_paid_orders(tx: &mut Transaction<'_, Postgres>, b: &PaidOrders) -> sqlx::Result<()> {
    // The nullable columns' arrays are `Vec<Option<_>>`, which the macros' parameter check
    // (expecting `Vec<_>` for an array) does not accept: `as _` binds them unchecked.
    sqlx::query!(
        r#"
        insert into orders (id, buyer_id, organization_id, status, total_fen, shipping_address, expires_at, paid_at,
                            payment_ref, payment_method, paid_fen, refunded_fen, created_at, updated_at)
        select id, buyer, org, status, total,
               '{"recipient": "李明", "phone": "13800000000", "adcode": 120101, "detail": "天津市和平区南京路1号"}',
               created + interval '30 minutes', paid, payment_ref, method, total, refunded, created, paid
        from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::bigint[], $7::text[],
                    $8::text[], $9::timestamptz[], $10::timestamptz[])
            as t(id, buyer, org, status, total, refunded, method, payment_ref, created, paid)
        "#,
        &b.ids,
        &b.buyer_ids,
        &b.organization_ids as _,
        &b.statuses,
        &b.totals,
        &b.refunded,
        &b.methods,
        &b.payment_refs,
        &b.created_at,
        &b.paid_at,
    )
    .execute(&mut **tx)
    .await?;
    let g = &b.groups;
    sqlx::query!(
        r#"
        insert into order_groups (id, order_id, producer_id, status, subtotal_fen, shipped_at, completed_at)
        select id, order_id, producer_id, status, subtotal, completed - interval '3 days', completed
        from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::timestamptz[])
            as t(id, order_id, producer_id, status, subtotal, completed)
        "#,
        &g.ids,
        &g.order_ids,
        &g.producer_ids,
        &g.statuses,
        &g.subtotals,
        &g.completed_at as _,
    )
    .execute(&mut **tx)
    .await?;
    let l = &b.lines;
    sqlx::query!(
        r#"
        insert into order_lines (id, order_id, group_id, product_id, title, qty, unit_price_fen, line_total_fen)
        select id, order_id, group_id, product_id, title, qty, price, qty * price
        from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::int[], $7::bigint[])
            as t(id, order_id, group_id, product_id, title, qty, price)
        "#,
        &l.ids,
        &l.order_ids,
        &l.group_ids,
        &l.product_ids,
        &l.titles,
        &l.qtys,
        &l.unit_prices,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
