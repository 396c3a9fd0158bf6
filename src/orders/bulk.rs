//! Bulk orders from CSV: an enterprise purchaser uploads `product_id,qty` lines. Every problem
//! of every row — unreadable cells, duplicates, bad quantities, unknown or unlisted products,
//! quantities below the minimum or above the stock — is reported in one reply (row number,
//! column, problem), so that a 500-line file needs one round of fixes.

use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::model::MAX_CSV_LINES;
use crate::error::{AppError, FieldErrors, Result};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BulkQuery {
    #[param(max_length = 64, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub po_number: Option<String>,
}

/// A readable line of the file: its row number (1-based, the header counted) and what it asks.
#[derive(Debug, Clone, Copy)]
pub struct CsvLine {
    pub row: usize,
    pub product_id: Uuid,
    pub qty: i64,
}

/// A problem of one row, in the reply's `lines`: `column` is `product_id`, `qty` or absent for
/// the whole row.
pub fn problem(row: usize, column: Option<&str>, problem: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut p = serde_json::json!({"row": row, "problem": problem});
    if let Some(column) = column {
        p["column"] = column.into();
    }
    if let (Some(p), serde_json::Value::Object(extra)) = (p.as_object_mut(), extra) {
        p.extend(extra);
    }
    p
}

/// Parses `product_id,qty` lines (header optional): the readable lines, and a problem for each
/// unreadable cell or row. Refuses only a file with too many lines or none.
pub fn parse_csv(body: &[u8]) -> Result<(Vec<CsvLine>, Vec<serde_json::Value>)> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(body);
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(problem(row, None, "unreadable", serde_json::json!({"detail": e.to_string()})));
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        if row == 1 && record.get(0).is_some_and(|c| c.eq_ignore_ascii_case("product_id")) {
            continue;
        }
        if record.len() != 2 {
            problems.push(problem(row, None, "bad_row", serde_json::json!({"detail": "expected product_id,qty"})));
            continue;
        }
        let product_id = record[0].parse::<Uuid>();
        let qty = record[1].parse::<i64>();
        if product_id.is_err() {
            problems.push(problem(row, Some("product_id"), "bad_product_id", serde_json::json!({"value": &record[0]})));
        }
        if qty.is_err() {
            problems.push(problem(row, Some("qty"), "bad_number", serde_json::json!({"value": &record[1]})));
        }
        if let (Ok(product_id), Ok(qty)) = (product_id, qty) {
            lines.push(CsvLine { row, product_id, qty });
        }
    }
    if lines.len() + problems.len() > MAX_CSV_LINES {
        return Err(FieldErrors::single("body", msg!("csv-too-many-lines", max = MAX_CSV_LINES)));
    }
    if lines.is_empty() && problems.is_empty() {
        return Err(FieldErrors::single("body", msg!("csv-no-lines")));
    }
    Ok((lines, problems))
}

/// The reply for a file with problems: 409 `insufficient_stock` when stock is all that is
/// wrong (the file may be sent again as it is later), else 422 `invalid_lines`; rows in order.
pub fn refusal(mut problems: Vec<serde_json::Value>) -> AppError {
    problems.sort_by_key(|p| p["row"].as_u64().unwrap_or(0));
    let only_stock = problems.iter().all(|p| p["problem"] == "insufficient_stock");
    let (status, code, detail) = if only_stock {
        (StatusCode::CONFLICT, "insufficient_stock", msg!("csv-rows-short"))
    } else {
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_lines", msg!("csv-rows-invalid"))
    };
    AppError::Lines { status, code, detail, lines: problems.into() }
}
