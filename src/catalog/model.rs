//! Catalog values that can only hold valid contents: a ladder of tiers that starts at one and
//! never gets dearer, a known unit, http(s) images, a certification whose dates are in order.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::i18n::Msg;

/// Highest unit price accepted: 100,000 yuan. Anything above is a typo in fen vs yuan.
pub const MAX_UNIT_PRICE_FEN: i64 = 10_000_000;
/// Largest quantity a tier may start at, and largest stock.
pub const MAX_QTY: i64 = 1_000_000;
pub const MAX_TIERS: usize = 10;
pub const TITLE_MAX: usize = 120;
pub const DESCRIPTION_MAX: usize = 5000;
pub const SPEC_MAX: usize = 200;
pub const MAX_IMAGES: usize = 10;

/// The units goods are sold by; a fixed list so that the price board compares like with like.
pub const UNITS: &[&str] =
    &["斤", "kg", "g", "箱", "袋", "瓶", "盒", "罐", "桶", "包", "只", "个", "件", "份", "提", "条", "束"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tier {
    /// The quantity from which this unit price applies.
    #[serde(deserialize_with = "crate::http::whole::int")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub min_qty: i64,
    #[serde(deserialize_with = "crate::http::whole::int")]
    #[schema(minimum = 1, maximum = 10000000)]
    pub unit_price_fen: i64,
}

/// A price ladder: tiers by ascending `min_qty`, the first at 1 (the public retail price), unit
/// prices never rising as quantity rises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct Ladder(Vec<Tier>);

impl Ladder {
    pub fn parse(tiers: Vec<Tier>) -> Result<Self, Msg> {
        if tiers.is_empty() {
            return Err(msg!("ladder-empty"));
        }
        if tiers.len() > MAX_TIERS {
            return Err(msg!("ladder-too-many-tiers", max = MAX_TIERS));
        }
        if tiers[0].min_qty != 1 {
            return Err(msg!("ladder-first-tier"));
        }
        for (i, tier) in tiers.iter().enumerate() {
            if tier.unit_price_fen <= 0 {
                return Err(msg!("ladder-price-not-positive", tier = i));
            }
            if tier.unit_price_fen > MAX_UNIT_PRICE_FEN {
                return Err(msg!("ladder-price-too-high", tier = i, max = MAX_UNIT_PRICE_FEN));
            }
            if tier.min_qty > MAX_QTY {
                return Err(msg!("ladder-qty-too-high", tier = i, max = MAX_QTY));
            }
            if i > 0 {
                let prev = tiers[i - 1];
                if tier.min_qty <= prev.min_qty {
                    return Err(msg!("ladder-qty-not-rising", tier = i));
                }
                if tier.unit_price_fen > prev.unit_price_fen {
                    return Err(msg!("ladder-price-rising", tier = i));
                }
            }
        }
        Ok(Self(tiers))
    }

    /// The public retail price: the first tier's.
    pub fn retail_price_fen(&self) -> i64 {
        self.0[0].unit_price_fen
    }

    /// The unit price a buyer of `qty` pays: the last tier whose `min_qty` it reaches.
    pub fn unit_price_for(&self, qty: i64) -> i64 {
        self.0.iter().rev().find(|t| qty >= t.min_qty).unwrap_or(&self.0[0]).unit_price_fen
    }

    pub fn tiers(&self) -> &[Tier] {
        &self.0
    }
}

pub fn parse_unit(raw: &str) -> Result<String, Msg> {
    let unit = raw.trim();
    if UNITS.contains(&unit) { Ok(unit.to_string()) } else { Err(msg!("one-of", allowed = UNITS.join(", "))) }
}

pub fn parse_images(raw: &[String]) -> Result<Vec<String>, Msg> {
    if raw.len() > MAX_IMAGES {
        return Err(msg!("images-too-many", max = MAX_IMAGES));
    }
    raw.iter()
        .enumerate()
        .map(|(i, s)| match url::Url::parse(s.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() && s.len() <= 2000 => {
                Ok(u.to_string())
            }
            _ => Err(msg!("image-not-url", index = i)),
        })
        .collect()
}

pub fn parse_stock(raw: i64) -> Result<i32, Msg> {
    if (0..=MAX_QTY).contains(&raw) { Ok(raw as i32) } else { Err(msg!("range", min = 0, max = MAX_QTY)) }
}

pub fn parse_min_order_qty(raw: i64) -> Result<i32, Msg> {
    if (1..=MAX_QTY).contains(&raw) { Ok(raw as i32) } else { Err(msg!("range", min = 1, max = MAX_QTY)) }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificationInput {
    /// The 认定 certificate number.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub number: String,
    /// The issuing authority.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub issuer: String,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
}

/// An assistance-product certification (认定) as the producer states it; admins verify it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certification {
    pub number: String,
    pub issuer: String,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
}

impl Certification {
    pub fn parse(input: &CertificationInput) -> Result<Self, Vec<(&'static str, Msg)>> {
        let mut errors = Vec::new();
        let number = input.number.trim();
        let issuer = input.issuer.trim();
        if number.is_empty() || number.chars().count() > 64 {
            errors.push(("certification.number", msg!("length-between", min = 1, max = 64)));
        }
        if issuer.is_empty() || issuer.chars().count() > 100 {
            errors.push(("certification.issuer", msg!("length-between", min = 1, max = 100)));
        }
        for (field, value) in [("certification.number", number), ("certification.issuer", issuer)] {
            if value.chars().any(char::is_control) {
                errors.push((field, msg!("text-control-characters")));
            }
        }
        if input.valid_until < input.valid_from {
            errors.push(("certification.valid_until", msg!("not-before", other = "valid_from")));
        }
        if errors.is_empty() {
            Ok(Self {
                number: number.to_string(),
                issuer: issuer.to_string(),
                valid_from: input.valid_from,
                valid_until: input.valid_until,
            })
        } else {
            Err(errors)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ProductStatus {
    Draft,
    PendingReview,
    Listed,
    Rejected,
    Delisted,
}

/// Where a product's assistance-product certification (认定) stands with the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CertStatus {
    /// New or replaced: not yet checked by an admin.
    Unverified,
    Verified,
    Revoked,
}

impl CertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CertStatus::Unverified => "unverified",
            CertStatus::Verified => "verified",
            CertStatus::Revoked => "revoked",
        }
    }
}

/// Why a price alert was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum AlertKind {
    /// Far above the median of the same category and unit.
    AboveMedian,
    /// Raised far above the product's own lowest price of the last 30 days.
    #[serde(rename = "above_30d_low")]
    #[sqlx(rename = "above_30d_low")]
    Above30dLow,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::AboveMedian => "above_median",
            AlertKind::Above30dLow => "above_30d_low",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Category {
    pub id: i32,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CertificationView {
    pub number: String,
    pub issuer: String,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub status: CertStatus,
    /// Verified and within its dates today.
    pub valid_today: bool,
}

/// A product row as stored (the producer's and admins' view).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProductRow {
    pub id: Uuid,
    pub producer_id: Uuid,
    pub category_id: i32,
    pub title: String,
    pub description: String,
    pub origin_adcode: i32,
    pub unit: String,
    pub spec: String,
    pub stock: i32,
    pub images: Vec<String>,
    pub min_order_qty: i32,
    pub tiers: sqlx::types::Json<Vec<Tier>>,
    pub retail_price_fen: i64,
    pub status: ProductStatus,
    pub review_reason: Option<String>,
    pub cert_number: Option<String>,
    pub cert_issuer: Option<String>,
    pub cert_valid_from: Option<NaiveDate>,
    pub cert_valid_until: Option<NaiveDate>,
    pub cert_status: Option<CertStatus>,
    pub sales_count: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl ProductRow {
    pub fn certification(&self) -> Option<CertificationView> {
        let today = chrono::Utc::now().date_naive();
        Some(CertificationView {
            number: self.cert_number.clone()?,
            issuer: self.cert_issuer.clone()?,
            valid_from: self.cert_valid_from?,
            valid_until: self.cert_valid_until?,
            status: self.cert_status?,
            valid_today: self.cert_status == Some(CertStatus::Verified)
                && self.cert_valid_from? <= today
                && today <= self.cert_valid_until?,
        })
    }
}

/// The producer's and admin's view of a product.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Product {
    pub id: Uuid,
    pub producer_id: Uuid,
    pub category_id: i32,
    pub title: String,
    pub description: String,
    pub origin_adcode: i32,
    pub unit: String,
    pub spec: String,
    pub stock: i32,
    pub images: Vec<String>,
    pub min_order_qty: i32,
    pub tiers: Vec<Tier>,
    pub retail_price_fen: i64,
    pub status: ProductStatus,
    pub review_reason: Option<String>,
    pub certification: Option<CertificationView>,
    pub sales_count: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<ProductRow> for Product {
    fn from(row: ProductRow) -> Self {
        let certification = row.certification();
        Product {
            id: row.id,
            producer_id: row.producer_id,
            category_id: row.category_id,
            title: row.title,
            description: row.description,
            origin_adcode: row.origin_adcode,
            unit: row.unit,
            spec: row.spec,
            stock: row.stock,
            images: row.images,
            min_order_qty: row.min_order_qty,
            tiers: row.tiers.0,
            retail_price_fen: row.retail_price_fen,
            status: row.status,
            review_reason: row.review_reason,
            certification,
            sales_count: row.sales_count,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min_qty: i64, unit_price_fen: i64) -> Tier {
        Tier { min_qty, unit_price_fen }
    }

    #[test]
    fn ladders_start_at_one_and_never_get_dearer() {
        assert!(Ladder::parse(vec![t(1, 1000), t(10, 900), t(100, 900)]).is_ok());
        assert!(Ladder::parse(vec![t(2, 1000)]).is_err());
        assert!(Ladder::parse(vec![t(1, 1000), t(10, 1100)]).is_err());
        assert!(Ladder::parse(vec![t(1, 1000), t(1, 900)]).is_err());
        assert!(Ladder::parse(vec![t(1, 0)]).is_err());
        assert!(Ladder::parse(vec![t(1, MAX_UNIT_PRICE_FEN + 1)]).is_err());
        assert!(Ladder::parse(vec![]).is_err());
    }

    #[test]
    fn the_unit_price_is_the_last_tier_reached() {
        let ladder = Ladder::parse(vec![t(1, 1000), t(10, 900), t(100, 800)]).unwrap();
        assert_eq!(ladder.unit_price_for(1), 1000);
        assert_eq!(ladder.unit_price_for(9), 1000);
        assert_eq!(ladder.unit_price_for(10), 900);
        assert_eq!(ladder.unit_price_for(1000), 800);
    }
}
