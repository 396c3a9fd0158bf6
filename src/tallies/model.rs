//! What tallies group by and filter on, and the rows they answer with.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{FieldErrors, Result};

/// The most rows one tally answers with.
pub const MAX_LIMIT: i64 = 500;
/// Rows when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 100;

/// What a tally groups by. Periods are Asia/Shanghai calendar days, months and years of the
/// payment (a refund counts against the period of the payment it returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Buyer,
    Enterprise,
    /// The buying enterprise's Tianjin district.
    District,
    BuyerKind,
    Producer,
    /// The product's origin county, as the ledger snapshotted it.
    County,
    /// The origin county's prefecture (嘉峪关 620200, with no counties, is both).
    Prefecture,
    Category,
    Day,
    Month,
    Year,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Buyer => "buyer",
            Dimension::Enterprise => "enterprise",
            Dimension::District => "district",
            Dimension::BuyerKind => "buyer_kind",
            Dimension::Producer => "producer",
            Dimension::County => "county",
            Dimension::Prefecture => "prefecture",
            Dimension::Category => "category",
            Dimension::Day => "day",
            Dimension::Month => "month",
            Dimension::Year => "year",
        }
    }
}

/// Consumer or enterprise purchasing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BuyerKind {
    Consumer,
    Enterprise,
}

impl BuyerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BuyerKind::Consumer => "consumer",
            BuyerKind::Enterprise => "enterprise",
        }
    }
}

/// Which facts count: a range of Shanghai days (inclusive) and any dimension's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TallyFilter {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub buyer: Option<Uuid>,
    pub enterprise: Option<Uuid>,
    pub district: Option<i32>,
    pub buyer_kind: Option<BuyerKind>,
    pub producer: Option<Uuid>,
    pub product: Option<Uuid>,
    pub county: Option<i32>,
    pub prefecture: Option<i32>,
    pub category: Option<i32>,
}

impl TallyFilter {
    /// The whole of one Shanghai calendar year.
    pub fn year(year: i32) -> Self {
        TallyFilter {
            from: NaiveDate::from_ymd_opt(year, 1, 1),
            to: NaiveDate::from_ymd_opt(year, 12, 31),
            ..Default::default()
        }
    }
}

/// One group's totals, net of refunds. `orders` and `buyers` count the orders and the distinct
/// buyers whose net amount in the group is positive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TallyRow {
    /// The group's value: an id, an adcode, `consumer`/`enterprise`, or `YYYY-MM-DD`, `YYYY-MM`,
    /// `YYYY` for periods.
    pub key: String,
    /// Display name, legal name, region name or category name; the key itself for periods.
    pub name: String,
    pub amount_fen: i64,
    pub qty: i64,
    pub orders: i64,
    pub buyers: i64,
}

/// `GET /admin/tallies`: a dimension to group by, a range, filters and a top-N.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TallyQuery {
    pub group_by: Dimension,
    /// First Shanghai calendar day counted (`YYYY-MM-DD`).
    pub from: Option<NaiveDate>,
    /// Last Shanghai calendar day counted (`YYYY-MM-DD`, inclusive).
    pub to: Option<NaiveDate>,
    /// Rows to answer with, largest amount first: 1..=500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub buyer: Option<Uuid>,
    pub enterprise: Option<Uuid>,
    /// A Tianjin district's adcode.
    pub district: Option<i32>,
    pub buyer_kind: Option<BuyerKind>,
    pub producer: Option<Uuid>,
    pub product: Option<Uuid>,
    /// An origin county's adcode.
    pub county: Option<i32>,
    /// An origin prefecture's adcode.
    pub prefecture: Option<i32>,
    pub category: Option<i32>,
}

impl TallyQuery {
    /// The filter and limit, or 422 naming `to` (before `from`) or `limit` (out of range).
    pub fn checked(&self) -> Result<(TallyFilter, i64)> {
        let mut errors = FieldErrors::new();
        check_range(&mut errors, self.from, self.to);
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.add("limit", format!("must be between 1 and {MAX_LIMIT}"));
        }
        errors.into_result()?;
        let filter = TallyFilter {
            from: self.from,
            to: self.to,
            buyer: self.buyer,
            enterprise: self.enterprise,
            district: self.district,
            buyer_kind: self.buyer_kind,
            producer: self.producer,
            product: self.product,
            county: self.county,
            prefecture: self.prefecture,
            category: self.category,
        };
        Ok((filter, limit))
    }
}

/// `to` must not come before `from`.
pub fn check_range(errors: &mut FieldErrors, from: Option<NaiveDate>, to: Option<NaiveDate>) {
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        errors.add("to", "must not be before from");
    }
}

/// Amount, orders and buyers over one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PeriodTotals {
    pub amount_fen: i64,
    pub orders: i64,
    pub buyers: i64,
}

/// The platform at a glance, for admins and auditors. Periods are Asia/Shanghai's current
/// calendar year, month and day.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    pub all_time: PeriodTotals,
    pub year: PeriodTotals,
    pub month: PeriodTotals,
    pub today: PeriodTotals,
    /// Enterprises, producers and origin counties with a positive net amount, all time.
    pub enterprises_reached: i64,
    pub producers_reached: i64,
    pub counties_reached: i64,
    /// The Shanghai day the periods were computed for.
    pub as_of: NaiveDate,
}

/// A materialized fact (one order line's tally row) that differs from the fold of its ledger
/// rows, or exists on one side only.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TallyDifference {
    pub order_id: Uuid,
    pub product_id: Uuid,
    pub tally_amount_fen: Option<i64>,
    pub ledger_amount_fen: Option<i64>,
    pub tally_qty: Option<i64>,
    pub ledger_qty: Option<i64>,
    pub tally_day: Option<NaiveDate>,
    pub ledger_day: Option<NaiveDate>,
}

/// `GET /admin/reconciliation`: a range of Shanghai days of payment (inclusive).
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReconciliationQuery {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// The three fen-exact identities and every difference found, by its keys.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reconciliation {
    /// True when all three identities hold.
    pub ok: bool,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// (1) Materialized tallies that differ from the sum of their ledger rows.
    pub tallies: Vec<TallyDifference>,
    /// (2) Paid order lines whose ledger rows differ from what was paid minus completed refunds.
    pub ledger: Vec<crate::payments::reconcile::LineDifference>,
    /// (3) Paid orders whose recorded money differs (received, refunded, ledger).
    pub payments: Vec<crate::payments::reconcile::MoneyDifference>,
    /// True when a list was cut at `MAX_DIFFERENCES`: there are more differences than shown.
    pub truncated: bool,
}

impl ReconciliationQuery {
    /// 422 naming `to` when it comes before `from`.
    pub fn checked(&self) -> Result<()> {
        let mut errors = FieldErrors::new();
        check_range(&mut errors, self.from, self.to);
        errors.into_result()
    }
}

/// A tally: what it grouped by, over which days, and its rows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TallyReply {
    pub group_by: Dimension,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub items: Vec<TallyRow>,
}
