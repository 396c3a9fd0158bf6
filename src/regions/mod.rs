//! Administrative divisions of Gansu and Tianjin: reference data every other area points at.

mod db;
pub mod model;
mod routes;

use sqlx::PgExecutor;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;
use model::{Adcode, GANSU, TIANJIN};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(routes::list_regions))
}

/// Whether `adcode` is a county of Gansu, where producers must be registered.
pub async fn is_gansu_county(db: impl PgExecutor<'_>, adcode: Adcode) -> sqlx::Result<bool> {
    Ok(matches!(db::find_level(db, adcode.get()).await?, Some((level, GANSU)) if level == "county"))
}

/// Whether `adcode` is a district of Tianjin, where enterprises must be registered.
pub async fn is_tianjin_district(db: impl PgExecutor<'_>, adcode: Adcode) -> sqlx::Result<bool> {
    Ok(matches!(db::find_level(db, adcode.get()).await?, Some((level, TIANJIN)) if level == "county"))
}

/// Whether `adcode` is a prefecture of Gansu (a filter for the catalog).
pub async fn is_gansu_prefecture(db: impl PgExecutor<'_>, adcode: Adcode) -> sqlx::Result<bool> {
    // A city without counties (嘉峪关市) reads as a county but is a prefecture too.
    Ok(matches!(db::find_level(db, adcode.get()).await?,
        Some((level, GANSU)) if level == "prefecture" || (level == "county" && adcode.get() % 100 == 0)))
}

/// The counties of a prefecture (a city without counties is its own).
pub async fn counties_of(db: impl PgExecutor<'_>, prefecture: Adcode) -> sqlx::Result<Vec<i32>> {
    let children = db::children(db, prefecture.get()).await?;
    Ok(if children.is_empty() { vec![prefecture.get()] } else { children })
}

/// Codes known to exist, remembered for the life of the process. Divisions are reference data
/// that migrations load and nothing deletes, so a code seen once stays valid; unknown codes are
/// not remembered (they are asked each time, and may be added by a later migration). Saves
/// every order's shipping check a query.
static KNOWN: std::sync::LazyLock<std::sync::RwLock<std::collections::HashSet<i32>>> =
    std::sync::LazyLock::new(Default::default);

/// Whether `adcode` is a known division (of any level).
#[tracing::instrument(level = "debug", skip(db))]
pub async fn exists(db: impl PgExecutor<'_>, adcode: Adcode) -> sqlx::Result<bool> {
    let code = adcode.get();
    if KNOWN.read().expect("the known-codes set is never poisoned").contains(&code) {
        return Ok(true);
    }
    let found = db::find_level(db, code).await?.is_some();
    if found {
        KNOWN.write().expect("the known-codes set is never poisoned").insert(code);
    }
    Ok(found)
}

pub use db::Named;

/// A division's name and its parent's, for display (county and prefecture of a product).
pub async fn describe(db: impl PgExecutor<'_>, adcode: i32) -> sqlx::Result<Option<Named>> {
    db::describe(db, adcode).await
}

/// Every county of a province, with its name (demo data spreads producers over them).
pub async fn counties_in_province(db: impl PgExecutor<'_>, province: i32) -> sqlx::Result<Vec<(i32, String)>> {
    db::counties_in_province(db, province).await
}

/// Divisions' names by adcode, for reports grouped by county, prefecture or district.
pub async fn names_of(db: impl PgExecutor<'_>, adcodes: &[i32]) -> sqlx::Result<Vec<(i32, String)>> {
    db::names_of(db, adcodes).await
}

/// Each county's prefecture, as (county, prefecture) pairs; a prefecture-level city without
/// counties (嘉峪关市) is its own. Codes that are not known are left out.
pub async fn prefectures_of(db: impl PgExecutor<'_>, adcodes: &[i32]) -> sqlx::Result<Vec<(i32, i32)>> {
    db::prefectures_of(db, adcodes).await
}
