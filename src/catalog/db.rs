//! The catalog's SQL: categories, products, price changes, price alerts.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgExecutor, Postgres, QueryBuilder, Transaction};
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{AlertKind, Category, CertStatus, ProductRow, ProductStatus, Tier};

/// `sqlx::query_as!` into [`ProductRow`]: the SQL before and after the column list, then the
/// arguments. One place lists the columns (with the type overrides the macros need).
macro_rules! query_product {
    ($before:literal, $after:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            ProductRow,
            $before
                + r#"id, producer_id, category_id, title, description, origin_adcode, unit, spec, stock,
                     images, min_order_qty, tiers as "tiers: Json<Vec<Tier>>", retail_price_fen,
                     status as "status: ProductStatus", review_reason, cert_number, cert_issuer,
                     cert_valid_from, cert_valid_until, cert_status as "cert_status: CertStatus", sales_count,
                     created_at, updated_at"#
                + $after
            $(, $arg)*
        )
    };
}

/// The same columns for [`public_list`], whose SQL is built at run time (decoded through
/// `ProductRow`'s `FromRow`); keep the two lists alike.
const PRODUCT_COLUMNS: &str = "id, producer_id, category_id, title, description, origin_adcode, unit, spec, stock, \
     images, min_order_qty, tiers, retail_price_fen, status, review_reason, cert_number, cert_issuer, \
     cert_valid_from, cert_valid_until, cert_status, sales_count, created_at, updated_at";

#[tracing::instrument(level = "debug", skip(db))]
pub async fn list_categories(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Category>> {
    sqlx::query_as!(Category, r#"select id, slug, name from categories order by sort_order, id"#).fetch_all(db).await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_category(db: impl PgExecutor<'_>, id: i32) -> sqlx::Result<Option<Category>> {
    sqlx::query_as!(Category, r#"select id, slug, name from categories where id = $1"#, id).fetch_optional(db).await
}

/// Everything a product row holds that its producer chooses.
#[derive(Debug, Clone)]
pub struct ProductFields {
    pub category_id: i32,
    pub title: String,
    pub description: String,
    pub origin_adcode: i32,
    pub unit: String,
    pub spec: String,
    pub stock: i32,
    pub images: Vec<String>,
    pub min_order_qty: i32,
    pub tiers: Vec<Tier>,
    pub certification: Option<super::model::Certification>,
    /// unverified | verified | revoked; None without a certification.
    pub cert_status: Option<CertStatus>,
    pub search_grams: Vec<String>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert_product(
    tx: &mut Transaction<'_, Postgres>,
    producer_id: Uuid,
    producer_active: bool,
    f: &ProductFields,
) -> sqlx::Result<ProductRow> {
    let cert = f.certification.as_ref();
    query_product!(
        r#"
        insert into products (id, producer_id, producer_active, category_id, title, description,
            origin_adcode, unit, spec, stock, images, min_order_qty, tiers, retail_price_fen,
            cert_number, cert_issuer, cert_valid_from, cert_valid_until, cert_status, search_grams)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
        returning "#,
        "",
        Uuid::now_v7(),
        producer_id,
        producer_active,
        f.category_id,
        f.title,
        f.description,
        f.origin_adcode,
        f.unit,
        f.spec,
        f.stock,
        &f.images,
        f.min_order_qty,
        Json(&f.tiers) as _,
        f.tiers[0].unit_price_fen,
        cert.map(|c| c.number.as_str()),
        cert.map(|c| c.issuer.as_str()),
        cert.map(|c| c.valid_from),
        cert.map(|c| c.valid_until),
        f.cert_status.map(CertStatus::as_str),
        &f.search_grams,
    )
    .fetch_one(&mut **tx)
    .await
}

/// What an edit changes; `None` leaves a column as it is.
#[derive(Debug, Clone, Default)]
pub struct ProductChanges {
    pub category_id: Option<i32>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub origin_adcode: Option<i32>,
    pub unit: Option<String>,
    pub spec: Option<String>,
    pub stock: Option<i32>,
    pub images: Option<Vec<String>>,
    pub min_order_qty: Option<i32>,
    pub tiers: Option<Vec<Tier>>,
    /// A new certification, which starts over as `unverified`.
    pub certification: Option<super::model::Certification>,
    pub search_grams: Option<Vec<String>>,
}

/// Writes only the columns an edit changes (each `coalesce`s to the stored value), and the
/// status: a column the request did not touch keeps whatever concurrent writers put there.
#[tracing::instrument(level = "debug", skip_all, fields(product = %id))]
pub async fn update_product(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    c: &ProductChanges,
    status: ProductStatus,
) -> sqlx::Result<ProductRow> {
    let cert = c.certification.as_ref();
    query_product!(
        r#"
        update products set category_id = coalesce($2, category_id), title = coalesce($3, title),
            description = coalesce($4, description), origin_adcode = coalesce($5, origin_adcode),
            unit = coalesce($6, unit), spec = coalesce($7, spec), stock = coalesce($8, stock),
            images = coalesce($9, images), min_order_qty = coalesce($10, min_order_qty),
            tiers = coalesce($11, tiers), retail_price_fen = coalesce($12, retail_price_fen),
            cert_number = coalesce($13, cert_number), cert_issuer = coalesce($14, cert_issuer),
            cert_valid_from = coalesce($15, cert_valid_from), cert_valid_until = coalesce($16, cert_valid_until),
            cert_status = case when $13::text is null then cert_status else 'unverified' end,
            search_grams = coalesce($17, search_grams), status = $18, updated_at = now()
        where id = $1
        returning "#,
        "",
        id,
        c.category_id,
        c.title.as_deref(),
        c.description.as_deref(),
        c.origin_adcode,
        c.unit.as_deref(),
        c.spec.as_deref(),
        c.stock,
        c.images.as_deref(),
        c.min_order_qty,
        c.tiers.as_ref().map(Json) as _,
        c.tiers.as_ref().map(|t| t[0].unit_price_fen),
        cert.map(|c| c.number.as_str()),
        cert.map(|c| c.issuer.as_str()),
        cert.map(|c| c.valid_from),
        cert.map(|c| c.valid_until),
        c.search_grams.as_deref(),
        status as _,
    )
    .fetch_one(&mut **tx)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_product(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<ProductRow>> {
    query_product!("select ", " from products where id = $1", id).fetch_optional(db).await
}

/// The product, locked until the transaction ends, so that edits, reviews and price changes
/// of one product serialize.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn lock_product(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<Option<ProductRow>> {
    query_product!("select ", " from products where id = $1 for update", id).fetch_optional(&mut **tx).await
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn set_status(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: ProductStatus,
    reason: Option<&str>,
) -> sqlx::Result<ProductRow> {
    query_product!(
        "update products set status = $2, review_reason = $3, updated_at = now() where id = $1 returning ",
        "",
        id,
        status as _,
        reason,
    )
    .fetch_one(&mut **tx)
    .await
}

#[tracing::instrument(level = "debug", skip(tx, tiers))]
pub async fn set_tiers(tx: &mut Transaction<'_, Postgres>, id: Uuid, tiers: &[Tier]) -> sqlx::Result<ProductRow> {
    query_product!(
        "update products set tiers = $2, retail_price_fen = $3, updated_at = now() where id = $1 returning ",
        "",
        id,
        Json(tiers) as _,
        tiers[0].unit_price_fen,
    )
    .fetch_one(&mut **tx)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn set_stock(db: impl PgExecutor<'_>, id: Uuid, stock: i32) -> sqlx::Result<ProductRow> {
    query_product!("update products set stock = $2, updated_at = now() where id = $1 returning ", "", id, stock)
        .fetch_one(db)
        .await
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn set_cert_status(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: CertStatus,
) -> sqlx::Result<ProductRow> {
    query_product!(
        "update products set cert_status = $2, updated_at = now() where id = $1 returning ",
        "",
        id,
        status.as_str()
    )
    .fetch_one(&mut **tx)
    .await
}

/// Shows or hides all of a producer's products when its organization is verified, suspended...
#[tracing::instrument(level = "debug", skip(db))]
pub async fn set_producer_active(db: impl PgExecutor<'_>, producer_id: Uuid, active: bool) -> sqlx::Result<u64> {
    sqlx::query!(
        r#"update products set producer_active = $2 where producer_id = $1 and producer_active <> $2"#,
        producer_id,
        active,
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn list_for_producer(
    db: impl PgExecutor<'_>,
    producer_id: Uuid,
    status: Option<ProductStatus>,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<ProductRow>> {
    query_product!(
        "select ",
        r#"
        from products
        where producer_id = $1 and ($2::text is null or status = $2) and ($3::uuid is null or id > $3)
        order by id limit $4
        "#,
        producer_id,
        status as _,
        after,
        limit,
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn list_by_status(
    db: impl PgExecutor<'_>,
    status: ProductStatus,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<ProductRow>> {
    query_product!(
        "select ",
        r#"
        from products
        where status = $1 and ($2::uuid is null or id > $2)
        order by id limit $3
        "#,
        status as _,
        after,
        limit,
    )
    .fetch_all(db)
    .await
}

/// A price change as the public sees it. Who made it (a producer's staff account, kept in
/// `price_changes.changed_by`) is left out: account ids of a producer's staff are nobody
/// else's business. No admin view of the history exists yet; one would select it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct PriceChange {
    pub id: Uuid,
    pub changed_at: DateTime<Utc>,
    #[schema(value_type = Option<Vec<Tier>>)]
    pub old_tiers: Option<Json<Vec<Tier>>>,
    /// The ladder from this change on.
    #[schema(value_type = Vec<Tier>)]
    pub tiers: Json<Vec<Tier>>,
    pub old_retail_fen: Option<i64>,
    pub retail_price_fen: i64,
    pub reason: Option<String>,
}

#[tracing::instrument(level = "debug", skip(tx, old, new))]
pub async fn insert_price_change(
    tx: &mut Transaction<'_, Postgres>,
    product_id: Uuid,
    changed_by: Uuid,
    old: Option<&[Tier]>,
    new: &[Tier],
    reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into price_changes (id, product_id, changed_by, old_tiers, new_tiers, old_retail_fen, new_retail_fen, reason)
        values ($1, $2, $3, $4, $5, $6, $7, $8)
        "#,
        Uuid::now_v7(),
        product_id,
        changed_by,
        old.map(Json) as _,
        Json(new) as _,
        old.map(|t| t[0].unit_price_fen),
        new[0].unit_price_fen,
        reason,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A page of a product's price history, newest first.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn price_history(
    db: impl PgExecutor<'_>,
    product_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<PriceChange>> {
    sqlx::query_as!(
        PriceChange,
        r#"
        select id, changed_at, old_tiers as "old_tiers: Json<Vec<Tier>>",
               new_tiers as "tiers: Json<Vec<Tier>>", old_retail_fen,
               new_retail_fen as retail_price_fen, reason
        from price_changes
        where product_id = $1 and ($2::uuid is null or id < $2)
        order by id desc limit $3
        "#,
        product_id,
        before,
        limit,
    )
    .fetch_all(db)
    .await
}

/// The lowest retail price in effect at any moment of the last 30 days: the current price,
/// every price set within the window, and the one in effect when the window opened.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn lowest_price_30d(db: impl PgExecutor<'_>, product_id: Uuid) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"
        select least(
            (select retail_price_fen from products where id = $1),
            (select min(new_retail_fen) from price_changes
              where product_id = $1 and changed_at >= now() - interval '30 days'),
            (select new_retail_fen from price_changes
              where product_id = $1 and changed_at < now() - interval '30 days'
              order by changed_at desc, id desc limit 1)
        )
        "#,
        product_id,
    )
    .fetch_one(db)
    .await
}

/// Retail prices of the publicly listed products of a category and unit, except one.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn peer_prices(
    db: impl PgExecutor<'_>,
    category_id: i32,
    unit: &str,
    except: Uuid,
) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        r#"
        select retail_price_fen from products
        where category_id = $1 and unit = $2 and id <> $3 and status = 'listed' and producer_active
        order by retail_price_fen
        "#,
        category_id,
        unit,
        except,
    )
    .fetch_all(db)
    .await
}

/// One unit's statistics on the price board, over every public product of the category.
#[derive(Debug, Clone)]
pub struct UnitStats {
    pub unit: String,
    pub count: i64,
    pub min_fen: i64,
    /// The mean of the two middle prices for an even count, rounded down.
    pub median_fen: i64,
    pub max_fen: i64,
}

/// Count, min, median and max of the retail price per unit of a category's public products
/// (one unit when `unit` is given), by unit. An index-only scan of
/// `products_public_board_idx`: the whole category's index entries, no table rows.
///
/// `percentile_cont` interpolates in double precision, exact for prices below 2^52 fen (the
/// ladder caps prices at `MAX_UNIT_PRICE_FEN`), so `floor` gives the mean of the two middle
/// prices rounded down, as `board::median` does for the price alerts.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn board_stats(
    db: impl PgExecutor<'_>,
    category_id: i32,
    unit: Option<&str>,
) -> sqlx::Result<Vec<UnitStats>> {
    sqlx::query_as!(
        UnitStats,
        r#"
        select unit, count(*) as "count!", min(retail_price_fen) as "min_fen!", max(retail_price_fen) as "max_fen!",
               floor(percentile_cont(0.5) within group (order by retail_price_fen))::bigint as "median_fen!"
        from products
        where category_id = $1 and status = 'listed' and producer_active and ($2::text is null or unit = $2)
        group by unit
        order by unit
        "#,
        category_id,
        unit,
    )
    .fetch_all(db)
    .await
}

/// A public product on the price board, as its own table holds it (names come from the
/// accounts and regions areas).
#[derive(Debug, Clone)]
pub struct BoardOfferRow {
    pub unit: String,
    pub id: Uuid,
    pub title: String,
    pub spec: String,
    pub producer_id: Uuid,
    pub origin_adcode: i32,
    pub retail_price_fen: i64,
}

/// For each of `units`, up to `limit` public products of the category that come after
/// `after` (retail price, id) in (retail price, id) order: the cheapest offers, a page at a
/// time. One index range scan of `products_public_board_idx` per unit, stopped at `limit`.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn board_cheapest(
    db: impl PgExecutor<'_>,
    category_id: i32,
    units: &[String],
    after: (i64, Uuid),
    limit: i64,
) -> sqlx::Result<Vec<BoardOfferRow>> {
    sqlx::query_as!(
        BoardOfferRow,
        r#"
        select u.unit as "unit!", p.id, p.title, p.spec, p.producer_id, p.origin_adcode, p.retail_price_fen
        from unnest($2::text[]) as u (unit)
        cross join lateral (
            select id, title, spec, producer_id, origin_adcode, retail_price_fen from products
            where category_id = $1 and unit = u.unit and status = 'listed' and producer_active
              and (retail_price_fen, id) > ($3, $4)
            order by retail_price_fen, id
            limit $5
        ) p
        order by u.unit, p.retail_price_fen, p.id
        "#,
        category_id,
        units,
        after.0,
        after.1,
        limit,
    )
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct PriceAlert {
    pub id: Uuid,
    pub product_id: Uuid,
    pub kind: AlertKind,
    pub retail_price_fen: i64,
    pub reference_fen: i64,
    pub threshold_pct: i32,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<Uuid>,
    pub resolution_note: Option<String>,
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn insert_alert(
    tx: &mut Transaction<'_, Postgres>,
    product_id: Uuid,
    kind: AlertKind,
    retail_price_fen: i64,
    reference_fen: i64,
    threshold_pct: i32,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into price_alerts (id, product_id, kind, retail_price_fen, reference_fen, threshold_pct)
        values ($1, $2, $3, $4, $5, $6)
        "#,
        Uuid::now_v7(),
        product_id,
        kind.as_str(),
        retail_price_fen,
        reference_fen,
        threshold_pct,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn list_alerts(
    db: impl PgExecutor<'_>,
    resolved: bool,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<PriceAlert>> {
    sqlx::query_as!(
        PriceAlert,
        r#"
        select id, product_id, kind as "kind: AlertKind", retail_price_fen, reference_fen, threshold_pct,
               created_at, resolved_at, resolved_by, resolution_note
        from price_alerts
        where (resolved_at is not null) = $1 and ($2::uuid is null or id > $2)
        order by id limit $3
        "#,
        resolved,
        after,
        limit,
    )
    .fetch_all(db)
    .await
}

/// Resolves an open alert; None when there is no such alert or it is already resolved.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn resolve_alert(
    db: impl PgExecutor<'_>,
    id: Uuid,
    by: Uuid,
    note: Option<&str>,
) -> sqlx::Result<Option<PriceAlert>> {
    sqlx::query_as!(
        PriceAlert,
        r#"
        update price_alerts set resolved_at = now(), resolved_by = $2, resolution_note = $3
        where id = $1 and resolved_at is null
        returning id, product_id, kind as "kind: AlertKind", retail_price_fen, reference_fen, threshold_pct,
                  created_at, resolved_at, resolved_by, resolution_note
        "#,
        id,
        by,
        note,
    )
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn alert_exists(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"select exists (select 1 from price_alerts where id = $1) as "exists!""#, id)
        .fetch_one(db)
        .await
}

/// The public catalog's filters and order, already checked.
#[derive(Debug, Clone, Default)]
pub struct PublicQuery {
    pub terms: Vec<(Vec<String>, String)>,
    pub category: Option<i32>,
    pub counties: Option<Vec<i32>>,
    pub producer: Option<Uuid>,
    pub min_price_fen: Option<i64>,
    pub max_price_fen: Option<i64>,
    pub certified: bool,
    pub in_stock: bool,
    pub sort: Sort,
    /// The last row of the previous page: its sort value and id.
    pub after: Option<(Option<i64>, Uuid)>,
    pub limit: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    PriceAsc,
    PriceDesc,
    #[default]
    Newest,
    Sales,
}

/// One page of the public catalog. Filters are added only when given, so each query plan fits
/// what was asked.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn public_list(db: impl PgExecutor<'_>, q: &PublicQuery) -> sqlx::Result<Vec<ProductRow>> {
    // Runtime SQL on purpose: the filters and the sort column are chosen per request.
    let mut b: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "select {PRODUCT_COLUMNS} from products where status = 'listed' and producer_active"
    ));
    for (grams, term) in &q.terms {
        b.push(" and search_grams @> ").push_bind(grams.clone());
        b.push(" and strpos(lower(title || ' ' || description), ").push_bind(term.clone()).push(") > 0");
    }
    if let Some(c) = q.category {
        b.push(" and category_id = ").push_bind(c);
    }
    if let Some(counties) = &q.counties {
        b.push(" and origin_adcode = any(").push_bind(counties.clone()).push(")");
    }
    if let Some(p) = q.producer {
        b.push(" and producer_id = ").push_bind(p);
    }
    if let Some(min) = q.min_price_fen {
        b.push(" and retail_price_fen >= ").push_bind(min);
    }
    if let Some(max) = q.max_price_fen {
        b.push(" and retail_price_fen <= ").push_bind(max);
    }
    if q.certified {
        b.push(
            " and cert_status = 'verified' and cert_valid_from <= current_date and cert_valid_until >= current_date",
        );
    }
    if q.in_stock {
        b.push(" and stock >= min_order_qty");
    }
    let (column, direction) = match q.sort {
        Sort::PriceAsc => (Some("retail_price_fen"), "asc"),
        Sort::PriceDesc => (Some("retail_price_fen"), "desc"),
        Sort::Sales => (Some("sales_count"), "desc"),
        Sort::Newest => (None, "desc"),
    };
    let cmp = if direction == "asc" { ">" } else { "<" };
    if let Some((value, id)) = q.after {
        match (column, value) {
            (Some(col), Some(v)) => {
                b.push(format!(" and ({col}, id) {cmp} ("));
                b.push_bind(v).push(", ").push_bind(id).push(")");
            }
            _ => {
                b.push(format!(" and id {cmp} ")).push_bind(id);
            }
        }
    }
    match column {
        Some(col) => b.push(format!(" order by {col} {direction}, id {direction}")),
        None => b.push(format!(" order by id {direction}")),
    };
    b.push(" limit ").push_bind(q.limit);
    b.build_query_as().fetch_all(db).await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn public_product(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<ProductRow>> {
    query_product!("select ", " from products where id = $1 and status = 'listed' and producer_active", id)
        .fetch_optional(db)
        .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn count_public_for_producer(db: impl PgExecutor<'_>, producer_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from products where producer_id = $1 and status = 'listed' and producer_active"#,
        producer_id,
    )
    .fetch_one(db)
    .await
}

/// Products for bulk loading (the demo seed): one row per product.
#[derive(Debug, Default)]
pub struct ProductBatch {
    pub ids: Vec<Uuid>,
    pub producer_ids: Vec<Uuid>,
    pub category_ids: Vec<i32>,
    pub titles: Vec<String>,
    pub descriptions: Vec<String>,
    pub origins: Vec<i32>,
    pub units: Vec<String>,
    pub specs: Vec<String>,
    pub stocks: Vec<i32>,
    pub images: Vec<String>,
    pub tiers_json: Vec<String>,
    pub retail_prices: Vec<i64>,
    pub statuses: Vec<String>,
    /// The certification, all five None for an uncertified product.
    pub cert_numbers: Vec<Option<String>>,
    pub cert_issuers: Vec<Option<String>>,
    pub cert_valid_from: Vec<Option<NaiveDate>>,
    pub cert_valid_until: Vec<Option<NaiveDate>>,
    /// unverified | verified | revoked
    pub cert_statuses: Vec<Option<String>>,
    pub sales: Vec<i64>,
    /// Space-separated grams (grams never contain spaces).
    pub grams: Vec<String>,
    pub created_at: Vec<DateTime<Utc>>,
}

/// Inserts a batch in one statement.
#[tracing::instrument(level = "debug", skip_all, fields(rows = b.ids.len()))]
pub async fn bulk_insert_products(db: impl PgExecutor<'_>, b: &ProductBatch) -> sqlx::Result<u64> {
    // The nullable columns' arrays are `Vec<Option<_>>`, which the macros' parameter check
    // (expecting `Vec<_>` for an array) does not accept: `as _` binds them unchecked.
    sqlx::query!(
        r#"
        insert into products (id, producer_id, producer_active, category_id, title, description,
            origin_adcode, unit, spec, stock, images, min_order_qty, tiers, retail_price_fen, status,
            cert_number, cert_issuer, cert_valid_from, cert_valid_until, cert_status, sales_count,
            search_grams, created_at, updated_at)
        select id, producer_id, true, category_id, title, description, origin, unit, spec, stock,
            array[image], 1, tiers::jsonb, retail, status,
            cert, cert_issuer, cert_valid_from, cert_valid_until, cert_status,
            sales, string_to_array(grams, ' '), created, created
        from unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::text[], $6::int[], $7::text[],
                    $8::text[], $9::int[], $10::text[], $11::text[], $12::bigint[], $13::text[],
                    $14::text[], $15::text[], $16::date[], $17::date[], $18::text[],
                    $19::bigint[], $20::text[], $21::timestamptz[])
            as t(id, producer_id, category_id, title, description, origin, unit, spec, stock, image,
                 tiers, retail, status, cert, cert_issuer, cert_valid_from, cert_valid_until,
                 cert_status, sales, grams, created)
        "#,
        &b.ids,
        &b.producer_ids,
        &b.category_ids,
        &b.titles,
        &b.descriptions,
        &b.origins,
        &b.units,
        &b.specs,
        &b.stocks,
        &b.images,
        &b.tiers_json,
        &b.retail_prices,
        &b.statuses,
        &b.cert_numbers as _,
        &b.cert_issuers as _,
        &b.cert_valid_from as _,
        &b.cert_valid_until as _,
        &b.cert_statuses as _,
        &b.sales,
        &b.grams,
        &b.created_at,
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}

/// Price history rows for bulk loading.
#[derive(Debug, Default)]
pub struct PriceChangeBatch {
    pub product_ids: Vec<Uuid>,
    pub changed_by: Vec<Uuid>,
    pub changed_at: Vec<DateTime<Utc>>,
    pub old_tiers_json: Vec<Option<String>>,
    pub new_tiers_json: Vec<String>,
    pub old_retail: Vec<Option<i64>>,
    pub new_retail: Vec<i64>,
}

#[tracing::instrument(level = "debug", skip_all, fields(rows = b.product_ids.len()))]
pub async fn bulk_insert_price_changes(db: impl PgExecutor<'_>, b: &PriceChangeBatch) -> sqlx::Result<u64> {
    let ids: Vec<Uuid> = b.changed_at.iter().map(|_| Uuid::now_v7()).collect();
    // `as _`: arrays of `Option<_>`, see bulk_insert_products.
    sqlx::query!(
        r#"
        insert into price_changes (id, product_id, changed_by, changed_at, old_tiers, new_tiers,
            old_retail_fen, new_retail_fen)
        select id, product_id, changed_by, changed_at, old_tiers::jsonb, new_tiers::jsonb, old_retail, new_retail
        from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::text[], $6::text[],
                    $7::bigint[], $8::bigint[])
            as t(id, product_id, changed_by, changed_at, old_tiers, new_tiers, old_retail, new_retail)
        "#,
        &ids,
        &b.product_ids,
        &b.changed_by,
        &b.changed_at,
        &b.old_tiers_json as _,
        &b.new_tiers_json,
        &b.old_retail as _,
        &b.new_retail,
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}

/// What checkout needs to know about a product.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Orderable {
    pub id: Uuid,
    pub producer_id: Uuid,
    pub category_id: i32,
    pub title: String,
    pub stock: i32,
    pub min_order_qty: i32,
    pub tiers: Json<Vec<Tier>>,
    pub public: bool,
}

/// The products, locked in id order (so that two baskets with the same products in opposite
/// order queue up instead of deadlocking), with their stock as of the lock.
#[tracing::instrument(level = "debug", skip(tx, ids))]
pub async fn lock_orderable(tx: &mut Transaction<'_, Postgres>, ids: &[Uuid]) -> sqlx::Result<Vec<Orderable>> {
    sqlx::query_as!(
        Orderable,
        r#"
        select id, producer_id, category_id, title, stock, min_order_qty, tiers as "tiers: Json<Vec<Tier>>",
               (status = 'listed' and producer_active) as "public!"
        from products where id = any($1) order by id for update
        "#,
        // A cast turns off the macros' parameter check, which wants a `Vec<Uuid>` for uuid[].
        ids as &[Uuid],
    )
    .fetch_all(&mut **tx)
    .await
}

#[tracing::instrument(level = "debug", skip(db, ids))]
pub async fn orderable(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<Orderable>> {
    sqlx::query_as!(
        Orderable,
        r#"
        select id, producer_id, category_id, title, stock, min_order_qty, tiers as "tiers: Json<Vec<Tier>>",
               (status = 'listed' and producer_active) as "public!"
        from products where id = any($1) order by id
        "#,
        // A cast turns off the macros' parameter check, which wants a `Vec<Uuid>` for uuid[].
        ids as &[Uuid],
    )
    .fetch_all(db)
    .await
}

/// Takes `qty` from stock if there is that much; the stock after, or None when short.
/// `stock >= qty` here and `check (stock >= 0)` on the table both stand against overselling.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn take_stock(tx: &mut Transaction<'_, Postgres>, id: Uuid, qty: i32) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(
        r#"update products set stock = stock - $2 where id = $1 and stock >= $2 returning stock"#,
        id,
        qty
    )
    .fetch_optional(&mut **tx)
    .await
}

/// Takes `qtys[i]` from the stock of `ids[i]` (ids distinct) where there is that much; the
/// products taken from, with their stock after. A product missing from the answer was short.
#[tracing::instrument(level = "debug", skip_all, fields(n = ids.len()))]
pub async fn take_stocks(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[Uuid],
    qtys: &[i32],
) -> sqlx::Result<Vec<(Uuid, i32)>> {
    let rows = sqlx::query!(
        r#"
        update products p set stock = p.stock - t.qty
        from unnest($1::uuid[], $2::int[]) as t(id, qty)
        where p.id = t.id and p.stock >= t.qty
        returning p.id, p.stock
        "#,
        ids as &[Uuid],
        qtys as &[i32],
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.stock)).collect())
}

/// A product's stock after units came back, with what says whether it is in stock and where
/// it is listed.
pub struct Returned {
    pub stock: i32,
    pub min_order_qty: i32,
    pub category_id: i32,
}

/// Puts reserved units back; the stock after. The sum saturates at the column's limit
/// (2,147,483,647) instead of failing: the producer may have raised the stock while the units
/// were out, and an integer overflow here would make the order impossible to expire, cancel or
/// refund. Units beyond that limit are not real stock anyway.
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn return_stock(tx: &mut Transaction<'_, Postgres>, id: Uuid, qty: i32) -> sqlx::Result<Returned> {
    sqlx::query_as!(
        Returned,
        r#"
        update products set stock = least(stock::bigint + $2, 2147483647)::integer where id = $1
        returning stock, min_order_qty, category_id
        "#,
        id,
        i64::from(qty)
    )
    .fetch_one(&mut **tx)
    .await
}

#[tracing::instrument(level = "debug", skip(tx))]
pub async fn add_sales(tx: &mut Transaction<'_, Postgres>, id: Uuid, qty: i32) -> sqlx::Result<()> {
    sqlx::query!(r#"update products set sales_count = sales_count + $2 where id = $1"#, id, i64::from(qty))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Takes refunded units out of the sales count (never below zero).
#[tracing::instrument(level = "debug", skip(tx))]
pub async fn remove_sales(tx: &mut Transaction<'_, Postgres>, id: Uuid, qty: i32) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update products set sales_count = greatest(sales_count - $2, 0) where id = $1"#,
        id,
        i64::from(qty)
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Takes stock only if the product is still listed, with the same ladder and minimum order it
/// was priced with, and has enough: the stock after, or None when anything changed.
#[tracing::instrument(level = "debug", skip(tx, tiers))]
pub async fn take_stock_if_unchanged(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    qty: i32,
    tiers: &Json<Vec<Tier>>,
    min_order_qty: i32,
) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(
        r#"
        update products set stock = stock - $2
        where id = $1 and stock >= $2 and status = 'listed' and producer_active
          and tiers = $3 and min_order_qty = $4
        returning stock
        "#,
        id,
        qty,
        tiers as _,
        min_order_qty,
    )
    .fetch_optional(&mut **tx)
    .await
}

/// Where each product comes from and what it is, as the ledger snapshots it.
#[tracing::instrument(level = "debug", skip_all, fields(n = ids.len()))]
pub async fn ledger_facts(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, i32, i32)>> {
    let rows = sqlx::query!(r#"select id, origin_adcode, category_id from products where id = any($1)"#, ids)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.origin_adcode, r.category_id)).collect())
}

pub async fn category_names(db: impl PgExecutor<'_>, ids: &[i32]) -> sqlx::Result<Vec<(i32, String)>> {
    let rows = sqlx::query!(r#"select id, name from categories where id = any($1)"#, ids).fetch_all(db).await?;
    Ok(rows.into_iter().map(|r| (r.id, r.name)).collect())
}

pub async fn product_titles(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!(r#"select id, title from products where id = any($1)"#, ids).fetch_all(db).await?;
    Ok(rows.into_iter().map(|r| (r.id, r.title)).collect())
}

/// A listed product as the ledger seed sells it: at its retail price, from its producer.
#[derive(Debug, Clone)]
pub struct SeedProduct {
    pub id: Uuid,
    pub producer_id: Uuid,
    pub title: String,
    pub retail_price_fen: i64,
    pub origin_adcode: i32,
    pub category_id: i32,
}

/// Every listed product of an active producer, in id order.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn seed_products(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<SeedProduct>> {
    sqlx::query_as!(
        SeedProduct,
        r#"
        select id, producer_id, title, retail_price_fen, origin_adcode, category_id
        from products where status = 'listed' and producer_active order by id
        "#
    )
    .fetch_all(db)
    .await
}
