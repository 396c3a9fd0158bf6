//! The tallies' tables: `tally_facts` (folded from the ledger by the trigger in migration
//! 20261127000006), targets and certificates.

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::stream::BoxStream;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::model::{CountyAmount, Dimension, IssuedCertificate, LargeOrder, TallyDifference, TallyFilter};

/// A group's totals before it is named.
#[derive(Debug, Clone)]
pub struct Group {
    pub key: String,
    pub amount_fen: i64,
    pub qty: i64,
    pub orders: i64,
    pub buyers: i64,
}

/// `sqlx::query_as!` into [`Group`], one query for [`tally`] (a page) and [`stream_tally`]
/// (every group): the facts matching `$f` grouped by `$by`, largest amount first, at most
/// `$limit` groups (`None`: all). Per group, each order's and then
/// each buyer's net amount is summed first, so that `orders` and `buyers` count only those with
/// a positive net amount in the group. Facts without a value for `by` (a consumer's enterprise)
/// belong to no group; groups refunded to nothing (no amount, no units) are left out.
macro_rules! query_tally {
    ($by:expr, $f:expr, $limit:expr) => {
        sqlx::query_as!(
            Group,
            r#"
            with grouped as (
                select case $1::text
                           when 'buyer' then buyer_id::text
                           when 'enterprise' then enterprise_id::text
                           when 'district' then district_adcode::text
                           when 'buyer_kind' then buyer_kind
                           when 'producer' then producer_id::text
                           when 'county' then origin_adcode::text
                           when 'prefecture' then prefecture_adcode::text
                           when 'category' then category_id::text
                           when 'product' then product_id::text
                           when 'day' then to_char(day, 'YYYY-MM-DD')
                           when 'month' then to_char(day, 'YYYY-MM')
                           when 'year' then to_char(day, 'YYYY')
                       end as key,
                       order_id, buyer_id, amount_fen, qty
                from tally_facts
                where ($2::date is null or day >= $2)
                  and ($3::date is null or day <= $3)
                  and ($4::uuid is null or buyer_id = $4)
                  and ($5::uuid is null or enterprise_id = $5)
                  and ($6::int is null or district_adcode = $6)
                  and ($7::text is null or buyer_kind = $7)
                  and ($8::uuid is null or producer_id = $8)
                  and ($9::uuid is null or product_id = $9)
                  and ($10::int is null or origin_adcode = $10)
                  and ($11::int is null or prefecture_adcode = $11)
                  and ($12::int is null or category_id = $12)
            ),
            per_order as (
                select key, buyer_id, sum(amount_fen) as amount, sum(qty) as qty
                from grouped where key is not null
                group by key, order_id, buyer_id
            ),
            per_buyer as (
                select key, sum(amount) as amount, sum(qty) as qty, count(*) filter (where amount > 0) as orders
                from per_order
                group by key, buyer_id
            )
            select key as "key!", sum(amount)::bigint as "amount_fen!", sum(qty)::bigint as "qty!",
                   sum(orders)::bigint as "orders!", count(*) filter (where amount > 0) as "buyers!"
            from per_buyer
            group by key
            having sum(amount) <> 0 or sum(qty) <> 0
            order by 2 desc, key
            limit $13
            "#,
            $by.as_str(),
            $f.from,
            $f.to,
            $f.buyer,
            $f.enterprise,
            $f.district,
            $f.buyer_kind.map(|k| k.as_str()),
            $f.producer,
            $f.product,
            $f.county,
            $f.prefecture,
            $f.category,
            $limit,
        )
    };
}

/// A page of groups: at most `limit`.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn tally(db: impl PgExecutor<'_>, by: Dimension, f: &TallyFilter, limit: i64) -> sqlx::Result<Vec<Group>> {
    query_tally!(by, f, Some(limit)).fetch_all(db).await
}

/// Every group, as Postgres sends them (exports): a reader that keeps none holds none.
pub fn stream_tally<'e>(
    db: impl PgExecutor<'e> + 'e,
    by: Dimension,
    f: &TallyFilter,
) -> BoxStream<'e, sqlx::Result<Group>> {
    query_tally!(by, f, None::<i64>).fetch(db)
}

/// Amount, orders and buyers with a positive net amount between two days (inclusive).
#[tracing::instrument(level = "debug", skip(db))]
pub async fn period_totals(
    db: impl PgExecutor<'_>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> sqlx::Result<(i64, i64, i64)> {
    let row = sqlx::query!(
        r#"
        with per_order as (
            select buyer_id, sum(amount_fen) as amount
            from tally_facts
            where ($1::date is null or day >= $1) and ($2::date is null or day <= $2)
            group by order_id, buyer_id
        ),
        per_buyer as (
            select sum(amount) as amount, count(*) filter (where amount > 0) as orders
            from per_order group by buyer_id
        )
        select coalesce(sum(amount), 0)::bigint as "amount!", coalesce(sum(orders), 0)::bigint as "orders!",
               count(*) filter (where amount > 0) as "buyers!"
        from per_buyer
        "#,
        from,
        to,
    )
    .fetch_one(db)
    .await?;
    Ok((row.amount, row.orders, row.buyers))
}

/// Enterprises, producers and origin counties with a positive net amount, all time.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn reached(db: impl PgExecutor<'_>) -> sqlx::Result<(i64, i64, i64)> {
    let row = sqlx::query!(
        r#"
        select (select count(*) from (select enterprise_id from tally_facts where enterprise_id is not null
                                      group by enterprise_id having sum(amount_fen) > 0) e) as "enterprises!",
               (select count(*) from (select producer_id from tally_facts
                                      group by producer_id having sum(amount_fen) > 0) p) as "producers!",
               (select count(*) from (select origin_adcode from tally_facts
                                      group by origin_adcode having sum(amount_fen) > 0) c) as "counties!"
        "#,
    )
    .fetch_one(db)
    .await?;
    Ok((row.enterprises, row.producers, row.counties))
}

/// Facts whose amount, quantity, day or any dimension differs from the fold of their ledger
/// rows, or that exist on one side only, for orders paid between two days. One pass over each
/// table (a full outer join of the grouped ledger with the facts).
#[tracing::instrument(level = "debug", skip(db))]
pub async fn fact_differences(
    db: impl PgExecutor<'_>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    limit: i64,
) -> sqlx::Result<Vec<TallyDifference>> {
    sqlx::query_as!(
        TallyDifference,
        r#"
        select coalesce(f.order_id, l.order_id) as "order_id!", coalesce(f.product_id, l.product_id) as "product_id!",
               f.amount_fen as "tally_amount_fen?", l.amount_fen as "ledger_amount_fen?",
               f.qty as "tally_qty?", l.qty as "ledger_qty?",
               f.day as "tally_day?", l.day as "ledger_day?"
        from tally_facts f
        full join ledger_folded l on l.order_id = f.order_id and l.product_id = f.product_id
        where (f.order_id is null or l.order_id is null
               or (f.amount_fen, f.qty, f.day, f.producer_id, f.origin_adcode, f.category_id, f.prefecture_adcode,
                   f.buyer_id, f.buyer_kind)
                  is distinct from
                  (l.amount_fen, l.qty, l.day, l.producer_id, l.origin_adcode, l.category_id, l.prefecture_adcode,
                   l.buyer_id, l.buyer_kind)
               or f.enterprise_id is distinct from l.enterprise_id
               or f.district_adcode is distinct from l.district_adcode)
          and ($1::date is null or coalesce(f.day, l.day) >= $1)
          and ($2::date is null or coalesce(f.day, l.day) <= $2)
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

/// Empties the facts and folds the whole ledger again, in the caller's transaction (which
/// locks the facts against writes: payments wait, readers see the old facts until it commits).
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn rebuild_facts(tx: &mut sqlx::PgConnection) -> sqlx::Result<u64> {
    sqlx::query!("lock table tally_facts in exclusive mode").execute(&mut *tx).await?;
    sqlx::query!("delete from tally_facts").execute(&mut *tx).await?;
    let done = sqlx::query!(
        r#"
        insert into tally_facts (
            order_id, product_id, producer_id, origin_adcode, category_id, prefecture_adcode, buyer_id,
            buyer_kind, enterprise_id, district_adcode, day, amount_fen, qty
        )
        select order_id, product_id, producer_id, origin_adcode, category_id, prefecture_adcode, buyer_id,
               buyer_kind, enterprise_id, district_adcode, day, amount_fen, qty
        from ledger_folded
        "#,
    )
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}

/// A target as stored.
#[derive(Debug, Clone)]
pub struct TargetRow {
    pub enterprise_id: Uuid,
    pub year: i32,
    pub amount_fen: i64,
    pub percent_bp: Option<i32>,
    pub budget_fen: Option<i64>,
    pub set_at: DateTime<Utc>,
}

/// Sets (or replaces) an enterprise's target for a year.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn upsert_target(tx: &mut PgConnection, t: &TargetRow, set_by: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into assistance_targets (enterprise_id, year, amount_fen, percent_bp, budget_fen, set_by, set_at)
        values ($1, $2, $3, $4, $5, $6, $7)
        on conflict (enterprise_id, year) do update
            set amount_fen = excluded.amount_fen, percent_bp = excluded.percent_bp, budget_fen = excluded.budget_fen,
                set_by = excluded.set_by, set_at = excluded.set_at
        "#,
        t.enterprise_id,
        t.year,
        t.amount_fen,
        t.percent_bp,
        t.budget_fen,
        set_by,
        t.set_at,
    )
    .execute(tx)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_target(db: impl PgExecutor<'_>, enterprise: Uuid, year: i32) -> sqlx::Result<Option<TargetRow>> {
    sqlx::query_as!(
        TargetRow,
        r#"select enterprise_id, year, amount_fen, percent_bp, budget_fen, set_at
           from assistance_targets where enterprise_id = $1 and year = $2"#,
        enterprise,
        year,
    )
    .fetch_optional(db)
    .await
}

/// Every enterprise's target for a year.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn targets_of_year(db: impl PgExecutor<'_>, year: i32) -> sqlx::Result<Vec<TargetRow>> {
    sqlx::query_as!(
        TargetRow,
        r#"select enterprise_id, year, amount_fen, percent_bp, budget_fen, set_at
           from assistance_targets where year = $1"#,
        year,
    )
    .fetch_all(db)
    .await
}

/// A certificate as stored (under the SHA-256 of its code).
#[derive(Debug, Clone)]
pub struct CertificateRow {
    pub enterprise_id: Uuid,
    pub year: i32,
    pub legal_name: String,
    pub uscc: String,
    pub amount_fen: i64,
    pub qty: i64,
    pub by_county: Json<Vec<CountyAmount>>,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub issued_at: DateTime<Utc>,
}

#[tracing::instrument(level = "debug", skip(tx, c))]
pub async fn insert_certificate(
    tx: &mut PgConnection,
    code_sha256: &str,
    c: &CertificateRow,
    issued_by: Uuid,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into assistance_certificates (code_sha256, enterprise_id, year, legal_name, uscc, amount_fen, qty,
                                             by_county, period_from, period_to, issued_at, issued_by)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        "#,
        code_sha256,
        c.enterprise_id,
        c.year,
        c.legal_name,
        c.uscc,
        c.amount_fen,
        c.qty,
        &c.by_county as _,
        c.period_from,
        c.period_to,
        c.issued_at,
        issued_by,
    )
    .execute(tx)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn find_certificate(db: impl PgExecutor<'_>, code_sha256: &str) -> sqlx::Result<Option<CertificateRow>> {
    sqlx::query_as!(
        CertificateRow,
        r#"select enterprise_id, year, legal_name, uscc, amount_fen, qty,
                  by_county as "by_county: Json<Vec<CountyAmount>>", period_from, period_to, issued_at
           from assistance_certificates where code_sha256 = $1"#,
        code_sha256,
    )
    .fetch_optional(db)
    .await
}

/// An enterprise's certificates, newest first.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn certificates_of(db: impl PgExecutor<'_>, enterprise: Uuid) -> sqlx::Result<Vec<IssuedCertificate>> {
    sqlx::query_as!(
        IssuedCertificate,
        r#"select year, amount_fen, issued_at from assistance_certificates
           where enterprise_id = $1 order by issued_at desc limit 100"#,
        enterprise,
    )
    .fetch_all(db)
    .await
}

/// A buyer–producer pair and what they share, before typing.
#[derive(Debug, Clone)]
pub struct SharedRow {
    pub buyer_id: Uuid,
    pub buyer_kind: String,
    pub enterprise_id: Option<Uuid>,
    pub buyer_name: String,
    pub producer_id: Uuid,
    pub producer_name: String,
    pub phone: bool,
    pub address: bool,
    pub legal_name: bool,
    pub amount_fen: i64,
}

/// Buyers and the producers they bought from (net positive) sharing a phone (digits only), an
/// address (case and spaces ignored) or a legal name. Reads the accounts' and orders' contact
/// columns directly: this report joins every pair that traded, which no per-row function could.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn shared_contacts(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<SharedRow>> {
    sqlx::query_as!(
        SharedRow,
        r#"
        with pairs as (
            select buyer_id, min(buyer_kind) as buyer_kind, enterprise_id, producer_id, sum(amount_fen)::bigint as amount
            from tally_facts
            group by buyer_id, enterprise_id, producer_id
            having sum(amount_fen) > 0
        ),
        checked as (
            select p.buyer_id, p.buyer_kind, p.enterprise_id, p.producer_id, p.amount,
                   coalesce(e.legal_name, a.display_name) as buyer_name, pr.legal_name as producer_name,
                   regexp_replace(pr.contact_phone, '\D', '', 'g') as producer_phone,
                   regexp_replace(lower(pr.address), '\s', '', 'g') as producer_address,
                   regexp_replace(lower(pr.legal_name), '\s', '', 'g') as producer_legal,
                   array_remove(array[regexp_replace(a.phone, '\D', '', 'g'),
                                      regexp_replace(e.contact_phone, '\D', '', 'g')], null) as phones,
                   regexp_replace(lower(e.address), '\s', '', 'g') as org_address,
                   regexp_replace(lower(coalesce(e.legal_name, a.display_name)), '\s', '', 'g') as buyer_legal
            from pairs p
            join accounts a on a.id = p.buyer_id
            left join organizations e on e.id = p.enterprise_id
            join organizations pr on pr.id = p.producer_id
        ),
        flagged as (
            select c.*,
                   (c.producer_phone = any(c.phones)
                    or exists (select 1 from orders o where o.buyer_id = c.buyer_id and o.paid_at is not null
                               and regexp_replace(o.shipping_address->>'phone', '\D', '', 'g') = c.producer_phone)) as phone,
                   (c.org_address = c.producer_address
                    or exists (select 1 from orders o where o.buyer_id = c.buyer_id and o.paid_at is not null
                               and regexp_replace(lower(o.shipping_address->>'detail'), '\s', '', 'g') = c.producer_address)) as address,
                   (c.buyer_legal = c.producer_legal) as legal_name
            from checked c
        )
        select buyer_id as "buyer_id!", buyer_kind as "buyer_kind!", enterprise_id, buyer_name as "buyer_name!",
               producer_id as "producer_id!", producer_name as "producer_name!", coalesce(phone, false) as "phone!",
               coalesce(address, false) as "address!", coalesce(legal_name, false) as "legal_name!",
               amount as "amount_fen!"
        from flagged
        where phone or address or legal_name
        order by amount desc, buyer_id, producer_id
        limit $1
        "#,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Paid orders (net positive) at least `factor` times their buyer's median paid order, among
/// buyers with at least `min_orders` of them; the largest multiples first.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn large_orders(
    db: impl PgExecutor<'_>,
    factor: i64,
    min_orders: i64,
    limit: i64,
) -> sqlx::Result<Vec<LargeOrder>> {
    sqlx::query_as!(
        LargeOrder,
        r#"
        with per_order as (
            select order_id, buyer_id, sum(amount_fen)::bigint as amount, min(day) as day
            from tally_facts group by order_id, buyer_id having sum(amount_fen) > 0
        ),
        usual as (
            select buyer_id, percentile_disc(0.5) within group (order by amount) as median, count(*) as n
            from per_order group by buyer_id
        )
        select o.order_id as "order_id!", o.buyer_id as "buyer_id!", o.amount as "amount_fen!",
               u.median as "median_fen!", o.day as "paid_on!"
        from per_order o join usual u on u.buyer_id = o.buyer_id
        where u.n >= $2 and o.amount >= u.median * $1
        order by o.amount::numeric / u.median desc, o.order_id
        limit $3
        "#,
        factor,
        min_orders,
        limit,
    )
    .fetch_all(db)
    .await
}
