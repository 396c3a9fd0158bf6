//! Bulk loading of settled payments for benchmarks (`tonggan seed --ledger`): the payments of
//! seeded orders, their paid lines, completed refunds, and the ledger rows both append (which
//! the tallies' trigger folds as for any other append). Only the seeder calls this.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// Succeeded payments, one per order; the Stripe fields or the bank fields are set by method.
#[derive(Debug, Default)]
pub struct SettledPayments {
    pub ids: Vec<Uuid>,
    pub order_ids: Vec<Uuid>,
    /// `stripe` or `bank_transfer`.
    pub methods: Vec<String>,
    pub amounts: Vec<i64>,
    pub started_by: Vec<Uuid>,
    /// The PaymentIntent (Stripe) or the bank's reference (transfer): the order's `payment_ref`.
    pub references: Vec<String>,
    pub succeeded_at: Vec<DateTime<Utc>>,
    /// The admin who confirmed the transfers.
    pub confirmed_by: Uuid,
    pub paid_lines: SettledLines,
    pub refunds: CompletedRefunds,
    pub ledger: LedgerRows,
}

/// What each line was paid.
#[derive(Debug, Default)]
pub struct SettledLines {
    pub line_ids: Vec<Uuid>,
    pub order_ids: Vec<Uuid>,
    pub group_ids: Vec<Uuid>,
    pub producer_ids: Vec<Uuid>,
    pub payment_ids: Vec<Uuid>,
    pub qtys: Vec<i32>,
    pub amounts: Vec<i64>,
    pub refunded_qtys: Vec<i32>,
    pub refunded_fen: Vec<i64>,
}

/// Completed refunds of one line each.
#[derive(Debug, Default)]
pub struct CompletedRefunds {
    pub ids: Vec<Uuid>,
    pub order_ids: Vec<Uuid>,
    pub payment_ids: Vec<Uuid>,
    pub methods: Vec<String>,
    pub line_ids: Vec<Uuid>,
    pub qtys: Vec<i32>,
    pub amounts: Vec<i64>,
    pub completed_at: Vec<DateTime<Utc>>,
}

/// Ledger rows: positive per paid line, negative per refunded line (with its refund id), each
/// with the snapshot the live path takes when the money moves.
#[derive(Debug, Default)]
pub struct LedgerRows {
    pub ids: Vec<Uuid>,
    pub line_ids: Vec<Uuid>,
    pub order_ids: Vec<Uuid>,
    pub payment_ids: Vec<Uuid>,
    pub refund_ids: Vec<Option<Uuid>>,
    pub amounts: Vec<i64>,
    pub qtys: Vec<i32>,
    pub buyer_ids: Vec<Uuid>,
    pub buyer_kinds: Vec<String>,
    pub enterprise_ids: Vec<Option<Uuid>>,
    pub district_adcodes: Vec<Option<i32>>,
    pub producer_ids: Vec<Uuid>,
    pub product_ids: Vec<Uuid>,
    pub origin_adcodes: Vec<i32>,
    pub prefecture_adcodes: Vec<i32>,
    pub category_ids: Vec<i32>,
    pub paid_at: Vec<DateTime<Utc>>,
}

/// Writes a batch in the caller's transaction, after the orders it pays: payments, paid lines,
/// refunds with their lines, then the ledger in one statement (so the tallies fold it once).
#[tracing::instrument(level = "debug", skip_all, fields(payments = b.ids.len(), ledger = b.ledger.ids.len()))]
pub async fn insert_settled(tx: &mut Transaction<'_, Postgres>, b: &SettledPayments) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into payments (id, order_id, method, status, amount_fen, started_by, stripe_idempotency_key,
                              payment_intent_id, client_secret, remittance_reference, bank_reference, received_on,
                              confirmed_by, received_fen, received_currency, succeeded_at, created_at, updated_at)
        select id, order_id, method, 'succeeded', amount, started_by,
               case when method = 'stripe' then 'seed-' || id end,
               case when method = 'stripe' then reference end,
               case when method = 'stripe' then reference || '_secret' end,
               case when method = 'bank_transfer' then 'TG' || right(replace(id::text, '-', ''), 12) end,
               case when method = 'bank_transfer' then reference end,
               case when method = 'bank_transfer' then (succeeded at time zone 'Asia/Shanghai')::date end,
               case when method = 'bank_transfer' then $8::uuid end,
               amount, 'cny', succeeded, succeeded - interval '30 seconds', succeeded
        from unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[], $5::uuid[], $6::text[], $7::timestamptz[])
            as t(id, order_id, method, amount, started_by, reference, succeeded)
        "#,
        &b.ids,
        &b.order_ids,
        &b.methods,
        &b.amounts,
        &b.started_by,
        &b.references,
        &b.succeeded_at,
        b.confirmed_by,
    )
    .execute(&mut **tx)
    .await?;
    let p = &b.paid_lines;
    sqlx::query!(
        r#"
        insert into paid_lines (order_line_id, order_id, group_id, producer_id, payment_id, qty, amount_fen,
                                refunded_qty, refunded_fen)
        select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::int[], $7::bigint[],
                             $8::int[], $9::bigint[])
        "#,
        &p.line_ids,
        &p.order_ids,
        &p.group_ids,
        &p.producer_ids,
        &p.payment_ids,
        &p.qtys,
        &p.amounts,
        &p.refunded_qtys,
        &p.refunded_fen,
    )
    .execute(&mut **tx)
    .await?;
    let r = &b.refunds;
    sqlx::query!(
        r#"
        insert into refunds (id, order_id, payment_id, status, amount_fen, reason, requested_by, stripe_refund_id,
                             bank_reference, created_at, completed_at)
        select id, order_id, payment_id, 'succeeded', amount, '部分商品质量问题，退一件', $7::uuid,
               case when method = 'stripe' then 're_seed_' || replace(id::text, '-', '') end,
               case when method = 'bank_transfer' then 'RF' || replace(id::text, '-', '') end,
               completed - interval '1 day', completed
        from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::timestamptz[])
            as t(id, order_id, payment_id, method, amount, completed)
        "#,
        &r.ids,
        &r.order_ids,
        &r.payment_ids,
        &r.methods,
        &r.amounts,
        &r.completed_at,
        b.confirmed_by,
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        r#"
        insert into refund_lines (refund_id, order_line_id, qty, amount_fen)
        select * from unnest($1::uuid[], $2::uuid[], $3::int[], $4::bigint[])
        "#,
        &r.ids,
        &r.line_ids,
        &r.qtys,
        &r.amounts,
    )
    .execute(&mut **tx)
    .await?;
    let l = &b.ledger;
    sqlx::query!(
        r#"
        insert into assistance_ledger (id, order_line_id, order_id, payment_id, refund_id, amount_fen, qty, buyer_id,
            buyer_kind, enterprise_id, district_adcode, producer_id, product_id, origin_adcode, prefecture_adcode,
            category_id, paid_at)
        select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::bigint[], $7::int[],
                             $8::uuid[], $9::text[], $10::uuid[], $11::int[], $12::uuid[], $13::uuid[], $14::int[],
                             $15::int[], $16::int[], $17::timestamptz[])
        "#,
        &l.ids,
        &l.line_ids,
        &l.order_ids,
        &l.payment_ids,
        &l.refund_ids as _,
        &l.amounts,
        &l.qtys,
        &l.buyer_ids,
        &l.buyer_kinds,
        &l.enterprise_ids as _,
        &l.district_adcodes as _,
        &l.producer_ids,
        &l.product_ids,
        &l.origin_adcodes,
        &l.prefecture_adcodes,
        &l.category_ids,
        &l.paid_at,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
