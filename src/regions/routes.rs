use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::db;
use super::model::{Level, Region};
use crate::error::{FieldErrors, Result};
use crate::http::extract::Query;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RegionQuery {
    /// Only divisions of this level.
    #[param(inline)]
    level: Option<Level>,
    /// Only the direct children of this division.
    #[param(minimum = 100000, maximum = 999999)]
    parent: Option<i64>,
}

/// Gansu's prefectures and counties and Tianjin's districts, ordered by code.
#[utoipa::path(
    get, path = "/regions", tag = "regions", params(RegionQuery),
    responses(
        (status = 200, body = Vec<Region>),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_regions(
    State(state): State<AppState>,
    Query(query): Query<RegionQuery>,
) -> Result<Json<Vec<Region>>> {
    let mut errors = FieldErrors::new();
    let parent = query.parent.and_then(|p| errors.check("parent", super::model::Adcode::parse(p)));
    errors.into_result()?;
    let regions = db::list(&state.db, query.level.map(Level::as_str), parent.map(|a| a.get())).await?;
    Ok(Json(regions))
}
