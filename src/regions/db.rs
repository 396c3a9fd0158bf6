use sqlx::PgExecutor;

use super::model::Region;

#[tracing::instrument(skip(db))]
pub async fn list(
    db: impl PgExecutor<'_>,
    level: Option<&str>,
    parent: Option<i32>,
) -> sqlx::Result<Vec<Region>> {
    sqlx::query_as(
        r#"
        select adcode, name, level, parent_adcode, longitude, latitude
        from regions
        where ($1::text is null or level = $1) and ($2::int is null or parent_adcode = $2)
        order by adcode
        "#,
    )
    .bind(level)
    .bind(parent)
    .fetch_all(db)
    .await
}

/// The level and province of a division, or None when no such code is known.
#[tracing::instrument(skip(db))]
pub async fn find_level(
    db: impl PgExecutor<'_>,
    adcode: i32,
) -> sqlx::Result<Option<(String, i32)>> {
    sqlx::query_as(r#"select level, province_adcode from regions where adcode = $1"#)
        .bind(adcode)
        .fetch_optional(db)
        .await
}
