//! The payments area's SQL: payments, paid lines, refunds, processed Stripe events and the
//! assistance ledger.

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::stream::BoxStream;
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use super::model::{LedgerRow, LedgerSort, Method, PaymentRow, PaymentStatus, RefundLine, RefundRow, RefundStatus};

/// `sqlx::query_as!` into [`PaymentRow`]: the SQL before and after the column list, then the
/// arguments.
macro_rules! query_payment {
    ($before:literal, $after:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            PaymentRow,
            $before
                + r#"id, order_id, method as "method: Method", status as "status: PaymentStatus", amount_fen,
                     currency, started_by, stripe_idempotency_key, payment_intent_id, client_secret,
                     remittance_reference, bank_reference, received_on, confirmed_by, received_fen,
                     received_currency, succeeded_at, created_at, updated_at"#
                + $after
            $(, $arg)*
        )
    };
}

/// `sqlx::query_as!` into [`RefundRow`], like `query_payment!`.
macro_rules! query_refund {
    ($before:literal, $after:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            RefundRow,
            $before
                + r#"id, order_id, payment_id, status as "status: RefundStatus", amount_fen, reason, requested_by,
                     automatic, stripe_refund_id, bank_reference, failure_reason, created_at, completed_at"#
                + $after
            $(, $arg)*
        )
    };
}

/// `sqlx::query_as!` into [`LedgerRow`], like `query_payment!`.
macro_rules! query_ledger {
    ($before:literal, $after:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            LedgerRow,
            $before
                + r#"id, order_line_id, order_id, payment_id, refund_id, amount_fen, qty, buyer_id, buyer_kind,
                     enterprise_id, district_adcode, producer_id, product_id, origin_adcode, prefecture_adcode,
                     category_id, paid_at, recorded_at"#
                + $after
            $(, $arg)*
        )
    };
}

pub struct NewPayment<'a> {
    pub id: Uuid,
    pub order_id: Uuid,
    pub method: Method,
    pub amount_fen: i64,
    pub started_by: Uuid,
    pub stripe_idempotency_key: Option<&'a str>,
    pub remittance_reference: Option<&'a str>,
}

/// Inserts an open payment unless the order already has one (then None).
#[tracing::instrument(level = "debug", skip_all, fields(order = %p.order_id))]
pub async fn insert_open_payment(
    tx: &mut Transaction<'_, Postgres>,
    p: &NewPayment<'_>,
) -> sqlx::Result<Option<PaymentRow>> {
    query_payment!(
        r#"
        insert into payments (id, order_id, method, status, amount_fen, started_by, stripe_idempotency_key,
                              remittance_reference)
        values ($1, $2, $3, 'open', $4, $5, $6, $7)
        on conflict (order_id) where status = 'open' do nothing
        returning "#,
        "",
        p.id,
        p.order_id,
        p.method.as_str(),
        p.amount_fen,
        p.started_by,
        p.stripe_idempotency_key,
        p.remittance_reference,
    )
    .fetch_optional(&mut **tx)
    .await
}

/// The order's open payment, locked.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn lock_open_payment(tx: &mut Transaction<'_, Postgres>, order_id: Uuid) -> sqlx::Result<Option<PaymentRow>> {
    query_payment!("select ", " from payments where order_id = $1 and status = 'open' for update", order_id)
        .fetch_optional(&mut **tx)
        .await
}

/// The order's payment that paid it, if any.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn lock_succeeded_payment(
    tx: &mut Transaction<'_, Postgres>,
    order_id: Uuid,
) -> sqlx::Result<Option<PaymentRow>> {
    query_payment!("select ", " from payments where order_id = $1 and status = 'succeeded' for update", order_id)
        .fetch_optional(&mut **tx)
        .await
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn lock_payment_by_intent(
    tx: &mut Transaction<'_, Postgres>,
    payment_intent_id: &str,
) -> sqlx::Result<Option<PaymentRow>> {
    query_payment!("select ", " from payments where payment_intent_id = $1 for update", payment_intent_id)
        .fetch_optional(&mut **tx)
        .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_payment(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<PaymentRow>> {
    query_payment!("select ", " from payments where id = $1", id).fetch_optional(db).await
}

/// Another method was chosen: the open payment stops being the order's open one.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn supersede(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update payments set status = 'superseded', updated_at = now() where id = $1 and status = 'open'"#,
        id
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Once an order is paid, its other open payment (the method the buyer did not use) is over.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn supersede_others(tx: &mut Transaction<'_, Postgres>, order_id: Uuid, paid_by: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update payments set status = 'superseded', updated_at = now() where order_id = $1 and id <> $2 and status = 'open'"#,
        order_id,
        paid_by,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Stores the PaymentIntent Stripe made for the payment; a payment keeps the first one it got.
/// Returns the payment as stored.
#[tracing::instrument(level = "debug", skip(db, client_secret))]
pub async fn set_intent(
    db: impl PgExecutor<'_>,
    id: Uuid,
    payment_intent_id: &str,
    client_secret: &str,
) -> sqlx::Result<PaymentRow> {
    query_payment!(
        r#"
        update payments
        set payment_intent_id = coalesce(payment_intent_id, $2), client_secret = coalesce(client_secret, $3),
            updated_at = now()
        where id = $1
        returning "#,
        "",
        id,
        payment_intent_id,
        client_secret,
    )
    .fetch_one(db)
    .await
}

/// Records the money that arrived and what became of it: `succeeded` (it paid the order) or
/// `unapplied` (it could not, and goes back).
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn settle_payment(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: PaymentStatus,
    received_fen: i64,
    received_currency: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        update payments set status = $2, received_fen = $3, received_currency = $4, updated_at = now(),
            succeeded_at = case when $2 = 'succeeded' then now() end
        where id = $1
        "#,
        id,
        status.as_str(),
        received_fen,
        received_currency,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The admin's record of a bank transfer that arrived. The unique index on `bank_reference`
/// refuses a reference that already confirmed another payment.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn confirm_transfer(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    bank_reference: &str,
    received_on: NaiveDate,
    confirmed_by: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        update payments set bank_reference = $2, received_on = $3, confirmed_by = $4, updated_at = now()
        where id = $1
        "#,
        id,
        bank_reference,
        received_on,
        confirmed_by,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A paid line and how much of it has been refunded (or is being refunded).
#[derive(Debug, Clone)]
pub struct PaidLineRow {
    pub order_line_id: Uuid,
    pub group_id: Uuid,
    pub qty: i32,
    pub amount_fen: i64,
    pub refunded_qty: i32,
    pub refunded_fen: i64,
}

/// Records what each line of a newly paid order was paid (the lines of its ledger batch, with
/// their groups).
#[tracing::instrument(level = "debug", skip_all, fields(payment = %payment_id, lines = b.order_line_ids.len()))]
pub async fn insert_paid_lines(
    tx: &mut Transaction<'_, Postgres>,
    payment_id: Uuid,
    order_id: Uuid,
    group_ids: &[Uuid],
    b: &LedgerBatch,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into paid_lines (order_line_id, order_id, group_id, producer_id, payment_id, qty, amount_fen)
        select line_id, $2, group_id, producer_id, $1, qty, amount
        from unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::int[], $7::bigint[])
            as t(line_id, group_id, producer_id, qty, amount)
        "#,
        payment_id,
        order_id,
        &b.order_line_ids,
        group_ids,
        &b.producer_ids,
        &b.qtys,
        &b.amounts,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The order's paid lines, locked (refunds of one order serialize on them).
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn lock_paid_lines(tx: &mut Transaction<'_, Postgres>, order_id: Uuid) -> sqlx::Result<Vec<PaidLineRow>> {
    sqlx::query_as!(
        PaidLineRow,
        r#"
        select order_line_id, group_id, qty, amount_fen, refunded_qty, refunded_fen
        from paid_lines where order_id = $1 order by order_line_id for update
        "#,
        order_id,
    )
    .fetch_all(&mut **tx)
    .await
}

/// Adds (or, with negative numbers, takes back) refunded units and money on paid lines. The
/// table's check refuses more than was paid: `paid_lines_refund_within_paid`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn add_refunded(
    tx: &mut Transaction<'_, Postgres>,
    line_ids: &[Uuid],
    qtys: &[i32],
    amounts: &[i64],
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        update paid_lines p set refunded_qty = p.refunded_qty + t.qty, refunded_fen = p.refunded_fen + t.amount
        from unnest($1::uuid[], $2::int[], $3::bigint[]) as t(line_id, qty, amount)
        where p.order_line_id = t.line_id
        "#,
        line_ids,
        qtys,
        amounts,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The order's groups whose every paid unit went back through completed refunds.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn fully_refunded_groups(tx: &mut Transaction<'_, Postgres>, order_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"
        select p.group_id
        from paid_lines p
        left join (
            select rl.order_line_id, sum(rl.qty) as qty
            from refund_lines rl join refunds r on r.id = rl.refund_id
            where r.order_id = $1 and r.status = 'succeeded'
            group by rl.order_line_id
        ) s on s.order_line_id = p.order_line_id
        where p.order_id = $1
        group by p.group_id
        having bool_and(coalesce(s.qty, 0) = p.qty)
        "#,
        order_id,
    )
    .fetch_all(&mut **tx)
    .await
}

pub struct NewRefund<'a> {
    pub id: Uuid,
    pub order_id: Uuid,
    pub payment_id: Uuid,
    pub amount_fen: i64,
    pub reason: &'a str,
    pub requested_by: Option<Uuid>,
    pub automatic: bool,
}

#[tracing::instrument(level = "debug", skip_all, fields(refund = %r.id))]
pub async fn insert_refund(tx: &mut Transaction<'_, Postgres>, r: &NewRefund<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into refunds (id, order_id, payment_id, status, amount_fen, reason, requested_by, automatic)
        values ($1, $2, $3, 'pending', $4, $5, $6, $7)
        "#,
        r.id,
        r.order_id,
        r.payment_id,
        r.amount_fen,
        r.reason,
        r.requested_by,
        r.automatic,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all, fields(refund = %refund_id))]
pub async fn insert_refund_lines(
    tx: &mut Transaction<'_, Postgres>,
    refund_id: Uuid,
    line_ids: &[Uuid],
    qtys: &[i32],
    amounts: &[i64],
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into refund_lines (refund_id, order_line_id, qty, amount_fen)
        select $1, line_id, qty, amount from unnest($2::uuid[], $3::int[], $4::bigint[]) as t(line_id, qty, amount)
        "#,
        refund_id,
        line_ids,
        qtys,
        amounts,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn refund_lines(db: impl PgExecutor<'_>, refund_id: Uuid) -> sqlx::Result<Vec<RefundLine>> {
    sqlx::query_as!(
        RefundLine,
        r#"select order_line_id as line_id, qty, amount_fen from refund_lines where refund_id = $1 order by order_line_id"#,
        refund_id,
    )
    .fetch_all(db)
    .await
}

/// The lines of several refunds, as (refund, line) pairs.
#[tracing::instrument(level = "debug", skip_all, fields(n = refund_ids.len()))]
pub async fn lines_of_refunds(db: impl PgExecutor<'_>, refund_ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, RefundLine)>> {
    let rows = sqlx::query!(
        r#"
        select refund_id, order_line_id, qty, amount_fen from refund_lines
        where refund_id = any($1) order by refund_id, order_line_id
        "#,
        refund_ids,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.refund_id, RefundLine { line_id: r.order_line_id, qty: r.qty, amount_fen: r.amount_fen }))
        .collect())
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_refund(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<RefundRow>> {
    query_refund!("select ", " from refunds where id = $1", id).fetch_optional(db).await
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn lock_refund(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<RefundRow>> {
    query_refund!("select ", " from refunds where id = $1 for update", id).fetch_optional(&mut **tx).await
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn lock_refund_by_stripe_id(
    tx: &mut Transaction<'_, Postgres>,
    stripe_refund_id: &str,
) -> sqlx::Result<Option<RefundRow>> {
    query_refund!("select ", " from refunds where stripe_refund_id = $1 for update", stripe_refund_id)
        .fetch_optional(&mut **tx)
        .await
}

/// The payment's pending refunds already sent to Stripe, oldest first, locked.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn lock_pending_stripe_refunds(
    tx: &mut Transaction<'_, Postgres>,
    payment_id: Uuid,
) -> sqlx::Result<Vec<RefundRow>> {
    query_refund!(
        "select ",
        r#" from refunds where payment_id = $1 and status = 'pending' and stripe_refund_id is not null
            order by created_at, id for update"#,
        payment_id,
    )
    .fetch_all(&mut **tx)
    .await
}

/// What Stripe already gave back for the payment (completed refunds).
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn refunded_through_stripe(tx: &mut Transaction<'_, Postgres>, payment_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select coalesce(sum(amount_fen), 0)::bigint as "sum!" from refunds where payment_id = $1 and status = 'succeeded'"#,
        payment_id,
    )
    .fetch_one(&mut **tx)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn set_stripe_refund_id(db: impl PgExecutor<'_>, id: Uuid, stripe_refund_id: &str) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update refunds set stripe_refund_id = coalesce(stripe_refund_id, $2) where id = $1"#,
        id,
        stripe_refund_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Completes a pending refund; None when it was not pending (done already, or failed).
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn complete_refund(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    bank_reference: Option<&str>,
) -> sqlx::Result<Option<RefundRow>> {
    query_refund!(
        r#"
        update refunds set status = 'succeeded', completed_at = now(), bank_reference = coalesce($2, bank_reference)
        where id = $1 and status = 'pending'
        returning "#,
        "",
        id,
        bank_reference,
    )
    .fetch_optional(&mut **tx)
    .await
}

/// Fails a pending refund; None when it was not pending.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn fail_refund(tx: &mut Transaction<'_, Postgres>, id: Uuid, why: &str) -> sqlx::Result<Option<RefundRow>> {
    query_refund!(
        r#"
        update refunds set status = 'failed', completed_at = now(), failure_reason = $2
        where id = $1 and status = 'pending'
        returning "#,
        "",
        id,
        why,
    )
    .fetch_optional(&mut **tx)
    .await
}

/// Pending Stripe refunds that never reached Stripe (the call failed or the process died),
/// created more than `older_than_secs` ago: the retry job sends them again with the same key.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn unsent_stripe_refunds(
    db: impl PgExecutor<'_>,
    older_than_secs: f64,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"
        select r.id from refunds r join payments p on p.id = r.payment_id
        where r.status = 'pending' and r.stripe_refund_id is null and p.method = 'stripe'
          and r.created_at < now() - make_interval(secs => $1)
        order by r.created_at limit $2
        "#,
        older_than_secs,
        limit,
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn refunds_of_order(db: impl PgExecutor<'_>, order_id: Uuid) -> sqlx::Result<Vec<RefundRow>> {
    query_refund!("select ", " from refunds where order_id = $1 order by id", order_id).fetch_all(db).await
}

/// Records a Stripe event as processed; false when it was processed before. Concurrent
/// deliveries of one event wait here for the first one's transaction and then find its row.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn record_event(tx: &mut Transaction<'_, Postgres>, id: &str, kind: &str) -> sqlx::Result<bool> {
    sqlx::query!(r#"insert into stripe_events (id, kind) values ($1, $2) on conflict (id) do nothing"#, id, kind)
        .execute(&mut **tx)
        .await
        .map(|r| r.rows_affected() == 1)
}

/// Ledger rows of a payment, one per line, all with the same snapshot of where the money went.
#[derive(Debug, Default)]
pub struct LedgerBatch {
    pub order_line_ids: Vec<Uuid>,
    pub amounts: Vec<i64>,
    pub qtys: Vec<i32>,
    pub producer_ids: Vec<Uuid>,
    pub product_ids: Vec<Uuid>,
    pub origin_adcodes: Vec<i32>,
    pub prefecture_adcodes: Vec<i32>,
    pub category_ids: Vec<i32>,
}

/// Who paid, for every row of one payment.
pub struct LedgerBuyer<'a> {
    pub order_id: Uuid,
    pub payment_id: Uuid,
    pub buyer_id: Uuid,
    pub buyer_kind: &'a str,
    pub enterprise_id: Option<Uuid>,
    pub district_adcode: Option<i32>,
}

#[tracing::instrument(level = "debug", skip_all, fields(order = %who.order_id, rows = b.order_line_ids.len()))]
pub async fn insert_ledger_rows(
    tx: &mut Transaction<'_, Postgres>,
    who: &LedgerBuyer<'_>,
    b: &LedgerBatch,
) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = b.order_line_ids.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query!(
        r#"
        insert into assistance_ledger (id, order_line_id, order_id, payment_id, amount_fen, qty, buyer_id, buyer_kind,
            enterprise_id, district_adcode, producer_id, product_id, origin_adcode, prefecture_adcode, category_id,
            paid_at)
        select id, line_id, $2, $3, amount, qty, $4, $5, $6, $7, producer_id, product_id, origin, prefecture,
               category, now()
        from unnest($1::uuid[], $8::uuid[], $9::bigint[], $10::int[], $11::uuid[], $12::uuid[], $13::int[],
                    $14::int[], $15::int[])
            as t(id, line_id, amount, qty, producer_id, product_id, origin, prefecture, category)
        "#,
        &ids,
        who.order_id,
        who.payment_id,
        who.buyer_id,
        who.buyer_kind,
        who.enterprise_id,
        who.district_adcode,
        &b.order_line_ids,
        &b.amounts,
        &b.qtys,
        &b.producer_ids,
        &b.product_ids,
        &b.origin_adcodes,
        &b.prefecture_adcodes,
        &b.category_ids,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A completed refund's negative rows, one per refunded line (`line_ids`, with the new rows'
/// `ids`): each copies the snapshot of its line's payment row, so that a refund is counted
/// against the same buyer, producer, county and category as the payment.
#[tracing::instrument(level = "debug", skip(tx, ids, line_ids))]
pub async fn insert_refund_ledger_rows(
    tx: &mut Transaction<'_, Postgres>,
    refund_id: Uuid,
    ids: &[Uuid],
    line_ids: &[Uuid],
) -> sqlx::Result<u64> {
    sqlx::query!(
        r#"
        insert into assistance_ledger (id, order_line_id, order_id, payment_id, refund_id, amount_fen, qty, buyer_id,
            buyer_kind, enterprise_id, district_adcode, producer_id, product_id, origin_adcode, prefecture_adcode,
            category_id, paid_at)
        select t.id, l.order_line_id, l.order_id, l.payment_id, rl.refund_id, -rl.amount_fen, -rl.qty,
               l.buyer_id, l.buyer_kind, l.enterprise_id, l.district_adcode, l.producer_id, l.product_id,
               l.origin_adcode, l.prefecture_adcode, l.category_id, now()
        from unnest($2::uuid[], $3::uuid[]) as t(id, line_id)
        join refund_lines rl on rl.refund_id = $1 and rl.order_line_id = t.line_id
        join refunds r on r.id = rl.refund_id
        join assistance_ledger l on l.order_line_id = rl.order_line_id and l.payment_id = r.payment_id
                                and l.refund_id is null
        "#,
        refund_id,
        ids,
        line_ids,
    )
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected())
}

/// Which payments or refunds a list shows.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub order: Option<Uuid>,
    /// Payments (or refunds) that paid (or returned) lines of this producer.
    pub producer: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn list_payments(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
    method: Option<Method>,
    status: Option<PaymentStatus>,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<PaymentRow>> {
    query_payment!(
        "select ",
        r#" from payments
            where ($1::uuid is null or order_id = $1) and ($2::text is null or method = $2)
              and ($3::text is null or status = $3) and ($4::timestamptz is null or created_at >= $4)
              and ($5::timestamptz is null or created_at < $5) and ($6::uuid is null or id > $6)
              and ($8::uuid is null or exists (
                  select 1 from paid_lines p where p.payment_id = payments.id and p.producer_id = $8))
            order by id limit $7"#,
        f.order,
        method.map(Method::as_str),
        status.map(PaymentStatus::as_str),
        f.from,
        f.to,
        after,
        limit,
        f.producer,
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn list_refunds(
    db: impl PgExecutor<'_>,
    f: &ListFilter,
    status: Option<RefundStatus>,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<RefundRow>> {
    query_refund!(
        "select ",
        r#" from refunds
            where ($1::uuid is null or order_id = $1) and ($2::text is null or status = $2)
              and ($3::timestamptz is null or created_at >= $3) and ($4::timestamptz is null or created_at < $4)
              and ($5::uuid is null or id > $5)
              and ($7::uuid is null or exists (
                  select 1 from refund_lines rl join paid_lines p on p.order_line_id = rl.order_line_id
                  where rl.refund_id = refunds.id and p.producer_id = $7))
            order by id limit $6"#,
        f.order,
        status.map(RefundStatus::as_str),
        f.from,
        f.to,
        after,
        limit,
        f.producer,
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn list_ledger(
    db: impl PgExecutor<'_>,
    order: Option<Uuid>,
    producer: Option<Uuid>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<LedgerRow>> {
    query_ledger!(
        "select ",
        r#" from assistance_ledger
            where ($1::uuid is null or order_id = $1) and ($2::uuid is null or producer_id = $2)
              and ($3::timestamptz is null or paid_at >= $3) and ($4::timestamptz is null or paid_at < $4)
              and ($5::uuid is null or id > $5)
            order by id limit $6"#,
        order,
        producer,
        from,
        to,
        after,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Every ledger row whose money moved in `[from, to)`, in `sort` order, as Postgres sends them
/// (one query, one snapshot; rows are decoded as the stream is read, so a reader that keeps
/// none of them holds none). The sort keys are `case` expressions on the `sort` parameter: for
/// `time` they fold to constants, which the planner drops, leaving the `(paid_at, id)` index.
pub fn stream_ledger<'e>(
    db: impl PgExecutor<'e> + 'e,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    sort: LedgerSort,
) -> BoxStream<'e, sqlx::Result<LedgerRow>> {
    query_ledger!(
        "select ",
        r#" from assistance_ledger
            where paid_at >= $1 and paid_at < $2
            order by case $3::text when 'buyer' then buyer_id::text when 'enterprise' then enterprise_id::text
                                   when 'producer' then producer_id::text when 'product' then product_id::text
                                   when 'buyer_kind' then buyer_kind end,
                     case $3::text when 'district' then district_adcode when 'county' then origin_adcode
                                   when 'prefecture' then prefecture_adcode when 'category' then category_id end,
                     paid_at, id"#,
        from,
        to,
        sort.as_str(),
    )
    .fetch(db)
}
