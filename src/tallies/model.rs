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
    /// The product sold (beyond the issue's list: producers' sales group by it).
    Product,
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
            Dimension::Product => "product",
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
            errors.add("limit", msg!("range", min = 1, max = MAX_LIMIT));
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
        errors.add("to", msg!("not-before", other = "from"));
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

/// `PUT /enterprise/assistance/target`: an amount, or a percentage of a declared annual
/// procurement budget. `year` defaults to the current Shanghai year.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetBody {
    #[schema(minimum = 2000, maximum = 2200)]
    #[serde(default, deserialize_with = "crate::http::whole::opt")]
    pub year: Option<i32>,
    /// The target in fen; or give `percent` and `budget_fen`.
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "crate::http::whole::opt")]
    pub amount_fen: Option<i64>,
    /// Percent of the budget, up to two decimals, more than 0 and at most 100.
    pub percent: Option<f64>,
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "crate::http::whole::opt")]
    pub budget_fen: Option<i64>,
}

/// An enterprise's annual target, as set.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Target {
    pub year: i32,
    pub amount_fen: i64,
    /// The declared percentage and budget, when the target was set that way.
    pub percent: Option<f64>,
    pub budget_fen: Option<i64>,
    pub set_at: chrono::DateTime<chrono::Utc>,
}

/// Progress against a target: what was bought, what pro-rata progress would be by now (the
/// share of the year's days elapsed in Shanghai; the whole target for past years), and whether
/// purchasing is behind it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    pub target_fen: i64,
    pub amount_fen: i64,
    pub expected_by_now_fen: i64,
    /// amount / target, in basis points (10000 = the target met).
    pub progress_bp: i64,
    pub behind: bool,
}

/// An issued certificate as its enterprise lists it (the code is shown only at issue).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IssuedCertificate {
    pub year: i32,
    pub amount_fen: i64,
    pub issued_at: chrono::DateTime<chrono::Utc>,
}

/// An enterprise's own assistance figures for a year.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnterpriseAssistance {
    pub enterprise_id: Uuid,
    pub legal_name: String,
    pub year: i32,
    /// Totals per year, all years.
    pub by_year: Vec<TallyRow>,
    /// Totals per month, per origin county and per category within `year`.
    pub by_month: Vec<TallyRow>,
    pub by_county: Vec<TallyRow>,
    pub by_category: Vec<TallyRow>,
    pub target: Option<Target>,
    pub progress: Option<Progress>,
    pub certificates: Vec<IssuedCertificate>,
}

/// `GET /enterprise/assistance?year=`: the year shown (default: the current Shanghai year).
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct YearQuery {
    #[param(minimum = 2000, maximum = 2200)]
    pub year: Option<i32>,
}

/// `POST /enterprise/assistance/certificates`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateRequest {
    #[schema(minimum = 2000, maximum = 2200)]
    #[serde(default, deserialize_with = "crate::http::whole::opt")]
    pub year: Option<i32>,
}

/// A certificate just issued: the verification code is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CertificateIssued {
    /// 32 hex characters (128 random bits); only its SHA-256 is stored.
    pub code: String,
    pub year: i32,
    pub amount_fen: i64,
    pub issued_at: chrono::DateTime<chrono::Utc>,
}

/// A county's certified (or current) amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CountyAmount {
    pub county: i32,
    pub name: String,
    pub amount_fen: i64,
}

/// What a certificate certifies, frozen at issue, and whether later refunds changed it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Certificate {
    pub code: String,
    pub legal_name: String,
    pub uscc: String,
    pub year: i32,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub amount_fen: i64,
    pub qty: i64,
    pub by_county: Vec<CountyAmount>,
    pub issued_at: chrono::DateTime<chrono::Utc>,
    /// True when the enterprise's figures for the certified period no longer equal the
    /// certified ones (a refund since issue).
    pub changed_since_issue: bool,
    /// The figures for the certified period as they stand now.
    pub current_amount_fen: i64,
}

/// `GET /admin/targets?behind=&year=`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TargetsQuery {
    /// Only enterprises behind the pro-rata progress of their target.
    pub behind: Option<bool>,
    #[param(minimum = 2000, maximum = 2200)]
    pub year: Option<i32>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// An enterprise's target and its progress, for admins.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TargetStatus {
    pub enterprise_id: Uuid,
    pub legal_name: String,
    pub year: i32,
    #[serde(flatten)]
    pub progress: Progress,
}

/// `GET /producer/sales?from=&to=`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SalesQuery {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// A producer's own sales, net of refunds: by month, by product and by buyer kind.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProducerSales {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub by_month: Vec<TallyRow>,
    pub by_product: Vec<TallyRow>,
    pub by_buyer_kind: Vec<TallyRow>,
}

/// A buyer and a producer it bought from that share a contact phone, an address or a legal
/// name: possibly the same people on both sides of a sale that counts as assistance.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SharedContact {
    pub buyer_id: Uuid,
    pub buyer_kind: BuyerKind,
    /// The buying enterprise, for enterprise purchases.
    pub enterprise_id: Option<Uuid>,
    pub buyer_name: String,
    pub producer_id: Uuid,
    pub producer_name: String,
    /// What they share: `phone`, `address`, `legal_name`.
    pub shared: Vec<String>,
    /// What the buyer bought from the producer, net of refunds.
    pub amount_fen: i64,
}

/// A paid order far above its buyer's usual size.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LargeOrder {
    pub order_id: Uuid,
    pub buyer_id: Uuid,
    pub amount_fen: i64,
    /// The buyer's median paid order, net of refunds.
    pub median_fen: i64,
    pub paid_on: NaiveDate,
}

/// A producer whose refunds are a large share of its sales.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefundRatio {
    pub producer_id: Uuid,
    pub producer_name: String,
    pub sold_fen: i64,
    pub refunded_fen: i64,
    /// refunded / sold in basis points.
    pub ratio_bp: i64,
}

/// What admins look into: each list at most 100 entries, the most suspicious first.
/// Thresholds come from config (`[tallies]` in config/default.toml).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Anomalies {
    pub shared_contacts: Vec<SharedContact>,
    pub large_orders: Vec<LargeOrder>,
    pub refund_ratios: Vec<RefundRatio>,
}
