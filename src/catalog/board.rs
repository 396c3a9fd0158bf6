//! The price board: per unit of a category (斤 is not compared with 箱), the count, min,
//! median and max retail price over every public product, and the cheapest offers a page at a
//! time, so suppliers of the same goods compare at a glance (公开产品价格、鼓励市场竞争).
//!
//! The reply is bounded whatever the category's size: the units are a fixed list
//! (`model::UNITS`), and each carries at most `limit` (≤ 100) offers.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::db::{self, BoardOfferRow};
use super::model::Category;
use super::query::BoardRequest;
use crate::accounts;
use crate::error::Result;
use crate::http::pagination::{Cursor, Page};
use crate::regions;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct PriceBoard {
    pub category: Category,
    /// By unit; only units with at least one public product (only `unit` when it is given).
    pub units: Vec<UnitBoard>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitBoard {
    pub unit: String,
    /// Public products of the category sold by this unit. The statistics cover all of them,
    /// whatever page of `cheapest` this is.
    pub count: i64,
    /// Retail prices (the first tier's unit price, for one unit), in fen.
    pub min_fen: i64,
    /// For an even count, the mean of the two middle prices, rounded down to the fen.
    pub median_fen: i64,
    pub max_fen: i64,
    /// The cheapest offers, by retail price then product id: at most `limit`. To page on,
    /// pass `next_cursor` as `cursor` together with this `unit`.
    pub cheapest: Page<BoardOffer>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BoardOffer {
    pub product_id: Uuid,
    pub title: String,
    pub spec: String,
    pub retail_price_fen: i64,
    pub producer_id: Uuid,
    pub producer_name: String,
    pub origin_adcode: i32,
    pub origin_county: String,
}

/// The median of prices sorted ascending; None for none. (The board computes the same in SQL,
/// `db::board_stats`; the price alerts compare against this one.)
pub fn median(sorted: &[i64]) -> Option<i64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]).div_euclid(2)),
    }
}

/// Where a first page starts: before every (price, id), since prices are positive.
const START: (i64, Uuid) = (0, Uuid::nil());

/// The board for a checked request: the statistics in one statement, the cheapest offers of
/// every unit in another, then the producers' and counties' names (by primary key, through
/// their areas).
#[tracing::instrument(level = "debug", skip(state))]
pub async fn load(state: &AppState, request: BoardRequest) -> Result<PriceBoard> {
    let stats = db::board_stats(&state.db, request.category.id, request.unit.as_deref()).await?;
    let units: Vec<String> = stats.iter().map(|s| s.unit.clone()).collect();
    let after = request.after.unwrap_or(START);
    let rows = db::board_cheapest(&state.db, request.category.id, &units, after, request.limit + 1).await?;

    let mut producers: Vec<Uuid> = rows.iter().map(|r| r.producer_id).collect();
    producers.sort_unstable();
    producers.dedup();
    let mut counties: Vec<i32> = rows.iter().map(|r| r.origin_adcode).collect();
    counties.sort_unstable();
    counties.dedup();
    let producer_names: HashMap<Uuid, String> =
        accounts::legal_names(&state.db, &producers).await?.into_iter().collect();
    let county_names: HashMap<i32, String> = regions::names_of(&state.db, &counties).await?.into_iter().collect();

    let mut by_unit: HashMap<String, Vec<BoardOfferRow>> = HashMap::new();
    for row in rows {
        by_unit.entry(row.unit.clone()).or_default().push(row);
    }
    let units =
        stats
            .into_iter()
            .map(|s| {
                let rows = by_unit.remove(&s.unit).unwrap_or_default();
                let cheapest = Page::from_rows(rows, request.limit, |r| Cursor::encode(&(r.retail_price_fen, r.id)))
                    .map(|r| BoardOffer {
                        producer_name: producer_names.get(&r.producer_id).cloned().unwrap_or_default(),
                        origin_county: county_names.get(&r.origin_adcode).cloned().unwrap_or_default(),
                        product_id: r.id,
                        title: r.title,
                        spec: r.spec,
                        retail_price_fen: r.retail_price_fen,
                        producer_id: r.producer_id,
                        origin_adcode: r.origin_adcode,
                    });
                UnitBoard {
                    unit: s.unit,
                    count: s.count,
                    min_fen: s.min_fen,
                    median_fen: s.median_fen,
                    max_fen: s.max_fen,
                    cheapest,
                }
            })
            .collect();
    Ok(PriceBoard { category: request.category, units })
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5]), Some(5));
        assert_eq!(median(&[1, 2, 9]), Some(2));
        assert_eq!(median(&[1, 2, 4, 9]), Some(3));
        assert_eq!(median(&[1, 2, 5, 9]), Some(3));
    }
}
