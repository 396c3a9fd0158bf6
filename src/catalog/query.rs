//! The public catalog's query string, checked: keywords, category, county or prefecture,
//! producer, price range, flags, sort and page. Checking needs the database (is the category
//! known, is the county in Gansu), so it runs only when the cache misses.

use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::db::{self, PublicQuery, Sort};
use super::model::{Category, parse_unit};
use super::search;
use crate::error::{AppError, FieldErrors, Result};
use crate::http::pagination;
use crate::regions::{self, model::Adcode};
use crate::state::AppState;

/// Longest keyword string accepted, in characters.
const Q_MAX: usize = 50;
/// Keywords beyond this many are ignored.
const MAX_TERMS: usize = 5;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CatalogQuery {
    /// Keywords; every one must appear in the title or description (works for Chinese).
    q: Option<String>,
    category: Option<i64>,
    /// A Gansu county adcode.
    county: Option<i64>,
    /// A Gansu prefecture adcode.
    prefecture: Option<i64>,
    producer: Option<Uuid>,
    #[param(minimum = 0)]
    min_price_fen: Option<i64>,
    /// Not below `min_price_fen`.
    #[param(minimum = 0)]
    max_price_fen: Option<i64>,
    /// Only products with a verified certification valid today.
    certified: Option<bool>,
    /// Only products with at least their minimum order in stock.
    in_stock: Option<bool>,
    #[param(inline)]
    sort: Option<Sort>,
    limit: Option<i64>,
    cursor: Option<String>,
}

impl CatalogQuery {
    /// The cache scope of the list: its category's when it is filtered to one (every product
    /// it can hold is of that category), else the scope of reads across categories.
    pub fn cache_scope(&self) -> String {
        match self.category {
            Some(category) => super::cache::scope::category(category),
            None => super::cache::scope::lists(),
        }
    }

    /// The cache key of this query as sent: only a valid query is ever filled, so a hit needs
    /// no checks (which would cost a database round trip each).
    pub fn cache_key(&self) -> String {
        format!("list:{}", crate::digest::sha256_hex(&[format!("{self:?}").as_bytes()], 16))
    }

    /// Checks every parameter, reporting all bad ones at once.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn parse(self, state: &AppState) -> Result<PublicQuery> {
        let mut errors = FieldErrors::new();
        let (limit, after) = match pagination::parse::<(Option<i64>, Uuid)>(self.limit, self.cursor.as_deref()) {
            Ok(v) => v,
            Err(AppError::Validation(e)) => {
                errors.merge(e);
                (0, None)
            }
            Err(e) => return Err(e),
        };
        let mut terms = Vec::new();
        if let Some(q) = &self.q {
            if q.chars().count() > Q_MAX {
                errors.add("q", msg!("text-too-long", max = Q_MAX));
            }
            // Control characters (a NUL, which Postgres refuses in text) separate terms as
            // spaces do: they cannot be part of a title or description anyway.
            terms = q
                .split(|c: char| c.is_whitespace() || c.is_control())
                .filter(|t| !t.is_empty())
                .filter_map(search::term_grams)
                .take(MAX_TERMS)
                .collect();
        }
        let category = match self.category {
            Some(c) => match i32::try_from(c).ok() {
                Some(c) if db::find_category(&state.db, c).await?.is_some() => Some(c),
                _ => {
                    errors.add("category", msg!("no-such-category"));
                    None
                }
            },
            None => None,
        };
        let counties = counties(state, self.county, self.prefecture, &mut errors).await?;
        check_price_range(self.min_price_fen, self.max_price_fen, &mut errors);
        errors.into_result()?;
        Ok(PublicQuery {
            terms,
            category,
            counties,
            producer: self.producer,
            min_price_fen: self.min_price_fen,
            max_price_fen: self.max_price_fen,
            certified: self.certified.unwrap_or(false),
            in_stock: self.in_stock.unwrap_or(false),
            sort: self.sort.unwrap_or_default(),
            after,
            limit,
        })
    }
}

/// The origin counties a query narrows to: a county, a prefecture's counties, or both
/// intersected; `None` for no narrowing.
async fn counties(
    state: &AppState,
    county: Option<i64>,
    prefecture: Option<i64>,
    errors: &mut FieldErrors,
) -> Result<Option<Vec<i32>>> {
    let mut counties = None;
    if let Some(c) = county {
        match Adcode::parse(c) {
            Ok(a) if regions::is_gansu_county(&state.db, a).await? => counties = Some(vec![a.get()]),
            _ => errors.add("county", msg!("gansu-county")),
        }
    }
    if let Some(p) = prefecture {
        match Adcode::parse(p) {
            Ok(a) if regions::is_gansu_prefecture(&state.db, a).await? => {
                let in_prefecture = regions::counties_of(&state.db, a).await?;
                counties = Some(match counties {
                    Some(c) => c.into_iter().filter(|x| in_prefecture.contains(x)).collect(),
                    None => in_prefecture,
                });
            }
            _ => errors.add("prefecture", msg!("gansu-prefecture")),
        }
    }
    Ok(counties)
}

/// Prices are not negative, and the range is not upside down.
fn check_price_range(min: Option<i64>, max: Option<i64>, errors: &mut FieldErrors) {
    for (field, value) in [("min_price_fen", min), ("max_price_fen", max)] {
        if value.is_some_and(|v| v < 0) {
            errors.add(field, msg!("not-negative"));
        }
    }
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        errors.add("max_price_fen", msg!("not-below", other = "min_price_fen"));
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BoardQuery {
    /// A category id (`GET /categories`).
    category: i64,
    /// Only this unit: one of 斤, kg, g, 箱, 袋, 瓶, 盒, 罐, 桶, 包, 只, 个, 件, 份, 提, 条, 束.
    unit: Option<String>,
    /// How many of the cheapest offers per unit (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// A unit's `cheapest.next_cursor`, to page on through that unit's offers; needs `unit`.
    cursor: Option<String>,
}

/// A price-board request, checked.
#[derive(Debug, Clone)]
pub struct BoardRequest {
    pub category: Category,
    pub unit: Option<String>,
    pub limit: i64,
    /// The (retail price, product id) of the last offer of the previous page.
    pub after: Option<(i64, Uuid)>,
}

impl BoardQuery {
    /// The cache scope of the board: its category's.
    pub fn cache_scope(&self) -> String {
        super::cache::scope::category(self.category)
    }

    /// The cache key of this query as sent (only valid queries are ever filled).
    pub fn cache_key(&self) -> String {
        format!("board:{}", crate::digest::sha256_hex(&[format!("{self:?}").as_bytes()], 16))
    }

    /// Checks every parameter, reporting all bad ones at once.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn parse(self, state: &AppState) -> Result<BoardRequest> {
        let mut errors = FieldErrors::new();
        let (limit, after) = match pagination::parse::<(i64, Uuid)>(self.limit, self.cursor.as_deref()) {
            Ok(v) => v,
            Err(AppError::Validation(e)) => {
                errors.merge(e);
                (0, None)
            }
            Err(e) => return Err(e),
        };
        if self.cursor.is_some() && self.unit.is_none() {
            errors.add("cursor", msg!("board-cursor-needs-unit"));
        }
        let unit = self.unit.as_deref().and_then(|u| errors.check("unit", parse_unit(u)));
        let category = match i32::try_from(self.category).ok() {
            Some(c) => db::find_category(&state.db, c).await?,
            None => None,
        };
        if category.is_none() {
            errors.add("category", msg!("no-such-category"));
        }
        errors.into_result()?;
        Ok(BoardRequest { category: category.expect("checked above"), unit, limit, after })
    }
}
