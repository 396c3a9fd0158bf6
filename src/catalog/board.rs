//! The price board: every listed product of a category with its retail price, grouped by
//! unit, with each unit's min, median and max, so suppliers of the same goods compare at a
//! glance (公开产品价格、鼓励市场竞争).

use serde::Serialize;
use utoipa::ToSchema;

use super::db::BoardRow;
use super::model::Category;

#[derive(Debug, Serialize, ToSchema)]
pub struct PriceBoard {
    pub category: Category,
    pub units: Vec<UnitBoard>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitBoard {
    pub unit: String,
    pub count: usize,
    pub min_fen: i64,
    /// For an even count, the mean of the two middle prices, rounded down to the fen.
    pub median_fen: i64,
    pub max_fen: i64,
    /// Cheapest first.
    pub products: Vec<BoardRow>,
}

/// The median of prices sorted ascending; None for none.
pub fn median(sorted: &[i64]) -> Option<i64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]).div_euclid(2)),
    }
}

/// Groups rows (ordered by unit, then price) into per-unit boards.
pub fn build(category: Category, rows: Vec<BoardRow>) -> PriceBoard {
    let mut units: Vec<UnitBoard> = Vec::new();
    for row in rows {
        match units.last_mut() {
            Some(board) if board.unit == row.unit => board.products.push(row),
            _ => units.push(UnitBoard {
                unit: row.unit.clone(),
                count: 0,
                min_fen: 0,
                median_fen: 0,
                max_fen: 0,
                products: vec![row],
            }),
        }
    }
    for board in &mut units {
        let prices: Vec<i64> = board.products.iter().map(|p| p.retail_price_fen).collect();
        board.count = prices.len();
        board.min_fen = prices[0];
        board.max_fen = prices[prices.len() - 1];
        board.median_fen = median(&prices).expect("a unit board has products");
    }
    PriceBoard { category, units }
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
