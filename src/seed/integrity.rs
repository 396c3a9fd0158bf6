//! Bulk loading without row-by-row foreign-key checks, and the set-wise check that replaces
//! them.
//!
//! A million seeded lines make about twenty million foreign-key checks, each an index probe that
//! also locks the referenced row: most of the seed's time. Postgres's own advice for populating
//! a database is to load first and check the constraints after; `pg_restore` does the same. So
//! the seeder's transactions run with `session_replication_role = replica` (internal
//! foreign-key triggers do not fire; the tallies' fold is `enable always` and still does), and
//! once everything is written, [`verify_foreign_keys`] checks every foreign key of the tables
//! written with one anti-join each, taken from the catalog so that no constraint is forgotten.
//! Replica mode needs a superuser (or, from Postgres 15, a role granted SET on the parameter);
//! without it the seeder loads with the checks on, only slower.

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::{PgPool, Postgres, Transaction};

/// Whether this connection's role may skip foreign-key triggers.
#[tracing::instrument(level = "debug", skip(pool))]
pub async fn can_load_unchecked(pool: &PgPool) -> anyhow::Result<bool> {
    let mut tx = pool.begin().await?;
    let allowed = sqlx::query("set local session_replication_role = replica").execute(&mut *tx).await.is_ok();
    tx.rollback().await?;
    Ok(allowed)
}

/// Turns off row-by-row foreign-key checks until the transaction ends.
pub async fn load_unchecked(tx: &mut Transaction<'_, Postgres>) -> anyhow::Result<()> {
    sqlx::query("set local session_replication_role = replica").execute(&mut **tx).await?;
    Ok(())
}

/// One foreign key, as the catalog describes it.
#[derive(Debug, sqlx::FromRow)]
struct ForeignKey {
    name: String,
    /// The referencing table and columns, quoted for SQL.
    child: String,
    child_columns: Vec<String>,
    parent: String,
    parent_columns: Vec<String>,
}

/// Checks every foreign key of `tables` over all their rows; an error names each violated
/// constraint and how many rows break it. Hash anti-joins: seconds for millions of rows.
#[tracing::instrument(level = "debug", skip(pool))]
pub async fn verify_foreign_keys(pool: &PgPool, tables: &[&str]) -> anyhow::Result<()> {
    // A catalog query whose shape the macros cannot check usefully; names are quoted by
    // Postgres itself (quote_ident, regclass output), so the statements built below are safe.
    let keys: Vec<ForeignKey> = sqlx::query_as(
        r#"
        select c.conname::text as name,
               c.conrelid::regclass::text as child,
               array_agg(quote_ident(a.attname) order by k.n) as child_columns,
               c.confrelid::regclass::text as parent,
               array_agg(quote_ident(p.attname) order by k.n) as parent_columns
        from pg_constraint c
        cross join lateral unnest(c.conkey, c.confkey) with ordinality as k(child_col, parent_col, n)
        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.child_col
        join pg_attribute p on p.attrelid = c.confrelid and p.attnum = k.parent_col
        where c.contype = 'f' and c.conrelid = any($1::text[]::regclass[])
        group by c.oid, c.conname, c.conrelid, c.confrelid
        order by c.conname
        "#,
    )
    .bind(tables)
    .fetch_all(pool)
    .await
    .context("reading foreign keys from the catalog")?;
    anyhow::ensure!(!keys.is_empty(), "no foreign keys found on {tables:?}");
    let checks = keys.iter().map(|key| async move {
        let orphans = orphans_of(pool, key).await?;
        anyhow::Ok((orphans > 0).then(|| format!("{} ({orphans} rows)", key.name)))
    });
    // Two at a time: one per core of the machine this is tuned for.
    let broken: Vec<String> = futures_util::stream::iter(checks)
        .buffer_unordered(2)
        .try_filter_map(|b| async move { Ok(b) })
        .try_collect()
        .await?;
    anyhow::ensure!(broken.is_empty(), "seeded rows break foreign keys: {}", broken.join(", "));
    tracing::info!(checked = keys.len(), "every foreign key of the seeded tables holds");
    Ok(())
}

/// How many rows of the key's table refer to no row of the table it references.
async fn orphans_of(pool: &PgPool, key: &ForeignKey) -> anyhow::Result<i64> {
    {
        let not_null: Vec<String> = key.child_columns.iter().map(|c| format!("c.{c} is not null")).collect();
        let matches: Vec<String> =
            key.child_columns.iter().zip(&key.parent_columns).map(|(c, p)| format!("r.{p} = c.{c}")).collect();
        let sql = format!(
            "select count(*) from only {} c where {} and not exists (select 1 from only {} r where {})",
            key.child,
            not_null.join(" and "),
            key.parent,
            matches.join(" and ")
        );
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?)
    }
}
