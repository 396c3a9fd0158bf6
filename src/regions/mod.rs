//! Administrative divisions of Gansu and Tianjin: reference data every other area points at.

mod db;
pub mod model;
mod routes;

use sqlx::PgExecutor;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::startup::AppState;
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
    Ok(
        matches!(db::find_level(db, adcode.get()).await?, Some((level, TIANJIN)) if level == "county"),
    )
}
