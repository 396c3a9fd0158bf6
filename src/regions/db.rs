use sqlx::PgExecutor;

use super::model::Region;

#[tracing::instrument(level = "debug", skip(db))]
pub async fn list(db: impl PgExecutor<'_>, level: Option<&str>, parent: Option<i32>) -> sqlx::Result<Vec<Region>> {
    sqlx::query_as!(
        Region,
        r#"
        select adcode, name, level, parent_adcode, longitude, latitude
        from regions
        where ($1::text is null or level = $1) and ($2::int is null or parent_adcode = $2)
        order by adcode
        "#,
        level,
        parent,
    )
    .fetch_all(db)
    .await
}

/// The level and province of a division, or None when no such code is known.
#[tracing::instrument(level = "debug", skip(db))]
pub async fn find_level(db: impl PgExecutor<'_>, adcode: i32) -> sqlx::Result<Option<(String, i32)>> {
    // A prefecture-level city with no counties below it (嘉峪关市) counts as a county.
    let row = sqlx::query!(
        r#"
        select case when r.level = 'prefecture'
                     and not exists (select 1 from regions c where c.parent_adcode = r.adcode)
                    then 'county' else r.level end as "level!",
               r.province_adcode
        from regions r where r.adcode = $1
        "#,
        adcode,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.level, r.province_adcode)))
}

/// A division's name with its parent's code and name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Named {
    pub name: String,
    pub parent_adcode: Option<i32>,
    pub parent_name: Option<String>,
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn describe(db: impl PgExecutor<'_>, adcode: i32) -> sqlx::Result<Option<Named>> {
    sqlx::query_as!(
        Named,
        r#"
        select r.name, r.parent_adcode, p.name as "parent_name?"
        from regions r left join regions p on p.adcode = r.parent_adcode
        where r.adcode = $1
        "#,
        adcode,
    )
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn children(db: impl PgExecutor<'_>, parent: i32) -> sqlx::Result<Vec<i32>> {
    sqlx::query_scalar!(r#"select adcode from regions where parent_adcode = $1 order by adcode"#, parent)
        .fetch_all(db)
        .await
}

#[tracing::instrument(level = "debug", skip(db))]
pub async fn counties_in_province(db: impl PgExecutor<'_>, province: i32) -> sqlx::Result<Vec<(i32, String)>> {
    let rows = sqlx::query!(
        r#"select adcode, name from regions where level = 'county' and province_adcode = $1 order by adcode"#,
        province,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.adcode, r.name)).collect())
}

/// Each county's prefecture: its parent, or itself for a prefecture-level city without counties
/// (嘉峪关市), which is both.
#[tracing::instrument(level = "debug", skip_all, fields(n = adcodes.len()))]
pub async fn prefectures_of(db: impl PgExecutor<'_>, adcodes: &[i32]) -> sqlx::Result<Vec<(i32, i32)>> {
    let rows = sqlx::query!(
        r#"
        select r.adcode, case when r.level = 'county' then r.parent_adcode else r.adcode end as "prefecture!"
        from regions r where r.adcode = any($1)
        "#,
        adcodes,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.adcode, r.prefecture)).collect())
}

pub async fn names_of(db: impl PgExecutor<'_>, adcodes: &[i32]) -> sqlx::Result<Vec<(i32, String)>> {
    let rows =
        sqlx::query!(r#"select adcode, name from regions where adcode = any($1)"#, adcodes).fetch_all(db).await?;
    Ok(rows.into_iter().map(|r| (r.adcode, r.name)).collect())
}
