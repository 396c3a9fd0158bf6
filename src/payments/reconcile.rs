//! The payments side of reconciliation (`tonggan reconcile`, `GET /admin/reconciliation`):
//! fen-exact identities between the ledger, the order lines it records, and the money that
//! actually arrived and went back; and producers' refund ratios for the anomaly report. These are the only queries of this area that read the
//! orders area's tables directly: a reconciliation must compare whole tables in one pass, which
//! no per-row public function could do at a million rows.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgExecutor;
use utoipa::ToSchema;
use uuid::Uuid;

/// A paid order line whose ledger rows do not add up to what was paid minus completed refunds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineDifference {
    pub order_id: Uuid,
    pub order_line_id: Uuid,
    /// Line total minus completed refunds of the line.
    pub expected_amount_fen: Option<i64>,
    pub ledger_amount_fen: Option<i64>,
    pub expected_qty: Option<i64>,
    pub ledger_qty: Option<i64>,
}

/// A paid order whose recorded money does not match: the succeeded payment's received amount
/// must equal the order total, and the order's ledger must equal received minus refunded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MoneyDifference {
    pub order_id: Uuid,
    pub order_total_fen: Option<i64>,
    /// Stripe's amount received, or the confirmed transfer, of the succeeded payment(s).
    pub received_fen: Option<i64>,
    pub succeeded_payments: i64,
    /// Completed refunds of that money.
    pub refunded_fen: i64,
    pub ledger_net_fen: Option<i64>,
}

/// (2) The ledger equals paid order lines minus completed refunds, line by line, for orders
/// paid between two Shanghai days (inclusive).
#[tracing::instrument(level = "debug", skip(db))]
pub async fn line_differences(
    db: impl PgExecutor<'_>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    limit: i64,
) -> sqlx::Result<Vec<LineDifference>> {
    sqlx::query_as!(
        LineDifference,
        r#"
        with paid as (
            select l.id as line_id, l.order_id, l.line_total_fen, l.qty
            from orders o join order_lines l on l.order_id = o.id
            where o.paid_at is not null
        ),
        refunded as (
            select rl.order_line_id, sum(rl.amount_fen)::bigint as amount, sum(rl.qty)::bigint as qty
            from refund_lines rl join refunds r on r.id = rl.refund_id
            where r.status = 'succeeded'
            group by rl.order_line_id
        ),
        expected as (
            select p.line_id, p.order_id, p.line_total_fen - coalesce(r.amount, 0) as amount,
                   p.qty - coalesce(r.qty, 0) as qty
            from paid p left join refunded r on r.order_line_id = p.line_id
        ),
        ledger as (
            select order_line_id, min(order_id::text)::uuid as order_id, sum(amount_fen)::bigint as amount,
                   sum(qty)::bigint as qty
            from assistance_ledger group by order_line_id
        ),
        days as (
            select id, (paid_at at time zone 'Asia/Shanghai')::date as day from orders where paid_at is not null
        )
        select coalesce(e.order_id, g.order_id) as "order_id!", coalesce(e.line_id, g.order_line_id) as "order_line_id!",
               e.amount as "expected_amount_fen?", g.amount as "ledger_amount_fen?",
               e.qty as "expected_qty?", g.qty as "ledger_qty?"
        from expected e
        full join ledger g on g.order_line_id = e.line_id
        left join days d on d.id = coalesce(e.order_id, g.order_id)
        where (e.amount, e.qty) is distinct from (g.amount, g.qty)
          and ($1::date is null or d.day is null or d.day >= $1)
          and ($2::date is null or d.day is null or d.day <= $2)
        order by 1, 2
        limit $3
        "#,
        from,
        to,
        limit,
    )
    .fetch_all(db)
    .await
}

/// (3) Paid orders equal the money recorded for them (Stripe's amounts received, confirmed
/// transfers) minus completed refunds, order by order, for orders paid between two Shanghai
/// days; also money recorded as paying an order that is not paid.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn money_differences(
    db: impl PgExecutor<'_>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    limit: i64,
) -> sqlx::Result<Vec<MoneyDifference>> {
    sqlx::query_as!(
        MoneyDifference,
        r#"
        with paid as (
            select id, total_fen, (paid_at at time zone 'Asia/Shanghai')::date as day
            from orders where paid_at is not null
        ),
        received as (
            select order_id, sum(received_fen)::bigint as fen, count(*) as n, array_agg(id) as ids
            from payments where status = 'succeeded'
            group by order_id
        ),
        refunded as (
            select r.order_id, sum(r.amount_fen)::bigint as fen
            from refunds r join payments p on p.id = r.payment_id
            where r.status = 'succeeded' and p.status = 'succeeded'
            group by r.order_id
        ),
        ledger as (
            select order_id, sum(amount_fen)::bigint as fen from assistance_ledger group by order_id
        )
        select coalesce(p.id, m.order_id) as "order_id!", p.total_fen as "order_total_fen?",
               m.fen as "received_fen?", coalesce(m.n, 0) as "succeeded_payments!",
               coalesce(r.fen, 0) as "refunded_fen!", g.fen as "ledger_net_fen?"
        from paid p
        full join received m on m.order_id = p.id
        left join refunded r on r.order_id = coalesce(p.id, m.order_id)
        left join ledger g on g.order_id = coalesce(p.id, m.order_id)
        where (p.id is null or m.order_id is null or m.n <> 1 or m.fen <> p.total_fen
               or coalesce(g.fen, 0) <> m.fen - coalesce(r.fen, 0))
          and ($1::date is null or p.day is null or p.day >= $1)
          and ($2::date is null or p.day is null or p.day <= $2)
        order by 1
        limit $3
        "#,
        from,
        to,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Producers whose completed refunds reach `min_ratio_bp` of what they sold, once they sold at
/// least `min_sold_fen`, highest ratio first: (producer, sold, refunded).
#[tracing::instrument(level = "debug", skip(db))]
pub async fn refund_ratios(
    db: impl PgExecutor<'_>,
    min_sold_fen: i64,
    min_ratio_bp: i64,
    limit: i64,
) -> sqlx::Result<Vec<(Uuid, i64, i64)>> {
    let rows = sqlx::query!(
        r#"
        select producer_id, sum(amount_fen)::bigint as "sold!", sum(refunded_fen)::bigint as "refunded!"
        from paid_lines
        group by producer_id
        having sum(amount_fen) >= $1::bigint and sum(refunded_fen) * 10000 >= sum(amount_fen) * $2::bigint
        order by sum(refunded_fen)::numeric / sum(amount_fen) desc, producer_id
        limit $3
        "#,
        min_sold_fen,
        min_ratio_bp,
        limit,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.producer_id, r.sold, r.refunded)).collect())
}
