//! Bulk orders from CSV: an enterprise purchaser uploads `product_id,qty` lines; unreadable
//! rows are reported first, then the lines go through the same checks as a JSON order.

use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::model::MAX_CSV_LINES;
use crate::error::{AppError, FieldErrors, Result};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BulkQuery {
    pub po_number: Option<String>,
}

/// Parses `product_id,qty` lines (header optional); every bad line is reported.
pub fn parse_csv(body: &[u8]) -> Result<Vec<(Uuid, i64)>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(body);
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(serde_json::json!({"row": row, "problem": "unreadable", "detail": e.to_string()}));
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
            problems.push(serde_json::json!({"row": row, "problem": "bad_row", "detail": "expected product_id,qty"}));
            continue;
        }
        match (record[0].parse::<Uuid>(), record[1].parse::<i64>()) {
            (Ok(id), Ok(qty)) => lines.push((id, qty)),
            (Err(_), _) => {
                problems.push(serde_json::json!({"row": row, "problem": "bad_product_id", "value": &record[0]}))
            }
            (_, Err(_)) => problems.push(serde_json::json!({"row": row, "problem": "bad_number", "value": &record[1]})),
        }
    }
    if lines.len() + problems.len() > MAX_CSV_LINES {
        return Err(FieldErrors::single("body", format!("at most {MAX_CSV_LINES} lines")));
    }
    if !problems.is_empty() {
        return Err(AppError::Lines {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_lines",
            detail: "some rows of the file cannot be read".into(),
            lines: problems.into(),
        });
    }
    if lines.is_empty() {
        return Err(FieldErrors::single("body", "the file has no lines"));
    }
    Ok(lines)
}
