//! Payments, refunds and ledger rows as stored and as shown; the request bodies of the area.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::config::ReceivingAccount;
use crate::orders::PaymentMethod;
use crate::trail::Actor;

/// Who moves money on Stripe's word (its webhook's events, its replies to our refunds), as the
/// audit trail names it: `system:stripe`.
pub const STRIPE: Actor = Actor::System("stripe");

/// How a buyer pays: through Stripe (card, Alipay, WeChat Pay, as the Stripe account allows) or
/// by bank transfer (对公转账, enterprises only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Method {
    Stripe,
    BankTransfer,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        self.for_orders().as_str()
    }

    pub fn for_orders(self) -> PaymentMethod {
        match self {
            Method::Stripe => PaymentMethod::Stripe,
            Method::BankTransfer => PaymentMethod::BankTransfer,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Waiting for the money.
    Open,
    /// The money paid the order.
    Succeeded,
    /// The buyer chose another method; money that still arrives is applied or refunded.
    Superseded,
    /// Money arrived that could not pay the order (closed, already paid, wrong amount); it was
    /// refunded automatically.
    Unapplied,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Open => "open",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Superseded => "superseded",
            PaymentStatus::Unapplied => "unapplied",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum RefundStatus {
    /// Asked of Stripe, or waiting for an admin's outgoing bank transfer.
    Pending,
    /// The money went back; the ledger has its negative rows.
    Succeeded,
    /// Nothing went back; the units can be refunded again.
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }
}

/// A payment row. The client secret and Stripe idempotency key never leave the service except
/// in the reply to the buyer who started the payment.
#[derive(Debug, Clone)]
pub struct PaymentRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub method: Method,
    pub status: PaymentStatus,
    pub amount_fen: i64,
    pub currency: String,
    pub started_by: Uuid,
    pub stripe_idempotency_key: Option<String>,
    pub payment_intent_id: Option<String>,
    pub client_secret: Option<String>,
    pub remittance_reference: Option<String>,
    pub bank_reference: Option<String>,
    pub received_on: Option<NaiveDate>,
    pub confirmed_by: Option<Uuid>,
    pub received_fen: Option<i64>,
    pub received_currency: Option<String>,
    pub succeeded_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A payment as admins and auditors see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Payment {
    pub id: Uuid,
    pub order_id: Uuid,
    pub method: Method,
    pub status: PaymentStatus,
    pub amount_fen: i64,
    pub currency: String,
    pub started_by: Uuid,
    pub payment_intent_id: Option<String>,
    pub remittance_reference: Option<String>,
    pub bank_reference: Option<String>,
    pub received_on: Option<NaiveDate>,
    pub confirmed_by: Option<Uuid>,
    pub received_fen: Option<i64>,
    pub succeeded_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<PaymentRow> for Payment {
    fn from(p: PaymentRow) -> Self {
        Payment {
            id: p.id,
            order_id: p.order_id,
            method: p.method,
            status: p.status,
            amount_fen: p.amount_fen,
            currency: p.currency,
            started_by: p.started_by,
            payment_intent_id: p.payment_intent_id,
            remittance_reference: p.remittance_reference,
            bank_reference: p.bank_reference,
            received_on: p.received_on,
            confirmed_by: p.confirmed_by,
            received_fen: p.received_fen,
            succeeded_at: p.succeeded_at,
            created_at: p.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartPayment {
    #[serde(deserialize_with = "crate::http::shape::name")]
    pub method: Method,
}

/// What a buyer needs to pay: a Stripe client secret, or where to send the transfer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PaymentStarted {
    Stripe {
        method: Method,
        payment_intent_id: String,
        /// For Stripe.js / the mobile SDKs to confirm the payment on the buyer's device.
        client_secret: String,
    },
    BankTransfer {
        method: Method,
        /// Write this on the transfer (附言), so that the platform can match it to the order.
        reference: String,
        account: ReceivingAccount,
        /// The order waits for the transfer until then; after that its stock goes back.
        expires_at: DateTime<Utc>,
    },
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankConfirmation {
    /// What arrived, in fen; must be the order's total.
    #[serde(deserialize_with = "crate::http::whole::int")]
    #[schema(minimum = 1)]
    pub amount_fen: i64,
    /// The bank's reference of the incoming transfer; one reference confirms one order only.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub bank_reference: String,
    /// The day the money arrived, `YYYY-MM-DD` (Asia/Shanghai), not in the future.
    #[schema(format = Date)]
    pub received_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundLineInput {
    pub line_id: Uuid,
    #[serde(deserialize_with = "crate::http::whole::int")]
    pub qty: i64,
}

/// `{"lines": [...], "reason"}` or `{"full": true, "reason"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    #[serde(default, deserialize_with = "crate::http::shape::opt_objects")]
    pub lines: Option<Vec<RefundLineInput>>,
    pub full: Option<bool>,
    /// Admins only, with `full`: refund one group (one producer's part) of the order in full.
    pub group_id: Option<Uuid>,
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub reason: String,
    /// Admins only, for an order paid by bank transfer: the reference of the outgoing transfer
    /// that returned the money (the refund completes at once). Without it the refund waits.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub bank_reference: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankRefundCompletion {
    /// The reference of the outgoing transfer that returned the money.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub bank_reference: String,
}

#[derive(Debug, Clone)]
pub struct RefundRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub payment_id: Uuid,
    pub status: RefundStatus,
    pub amount_fen: i64,
    pub reason: String,
    pub requested_by: Option<Uuid>,
    pub automatic: bool,
    pub stripe_refund_id: Option<String>,
    pub bank_reference: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundLine {
    pub line_id: Uuid,
    pub qty: i32,
    pub amount_fen: i64,
}

/// A refund with its lines (none for the automatic refund of unapplied money).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Refund {
    pub id: Uuid,
    pub order_id: Uuid,
    pub payment_id: Uuid,
    pub status: RefundStatus,
    pub amount_fen: i64,
    pub reason: String,
    pub requested_by: Option<Uuid>,
    pub automatic: bool,
    pub stripe_refund_id: Option<String>,
    pub bank_reference: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub lines: Vec<RefundLine>,
}

impl Refund {
    pub fn of(r: RefundRow, lines: Vec<RefundLine>) -> Self {
        Refund {
            id: r.id,
            order_id: r.order_id,
            payment_id: r.payment_id,
            status: r.status,
            amount_fen: r.amount_fen,
            reason: r.reason,
            requested_by: r.requested_by,
            automatic: r.automatic,
            stripe_refund_id: r.stripe_refund_id,
            bank_reference: r.bank_reference,
            failure_reason: r.failure_reason,
            created_at: r.created_at,
            completed_at: r.completed_at,
            lines,
        }
    }
}

/// One row of the assistance ledger: money for one order line, positive when paid, negative
/// when refunded, with where it went as it was when the money moved.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LedgerRow {
    pub id: Uuid,
    pub order_line_id: Uuid,
    pub order_id: Uuid,
    pub payment_id: Uuid,
    pub refund_id: Option<Uuid>,
    pub amount_fen: i64,
    pub qty: i32,
    pub buyer_id: Uuid,
    /// consumer | enterprise
    pub buyer_kind: String,
    pub enterprise_id: Option<Uuid>,
    /// The enterprise's Tianjin district.
    pub district_adcode: Option<i32>,
    pub producer_id: Uuid,
    pub product_id: Uuid,
    pub origin_adcode: i32,
    pub prefecture_adcode: i32,
    pub category_id: i32,
    pub paid_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// The order in which a reader of the whole ledger gets its rows: by when the money moved, or
/// with the rows of one buyer (enterprise, district, kind of buyer, producer, product, county,
/// prefecture, category) together, groups in the order of their ids or codes and rows by time
/// within each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerSort {
    Time,
    Buyer,
    Enterprise,
    District,
    BuyerKind,
    Producer,
    Product,
    County,
    Prefecture,
    Category,
}

impl LedgerSort {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerSort::Time => "time",
            LedgerSort::Buyer => "buyer",
            LedgerSort::Enterprise => "enterprise",
            LedgerSort::District => "district",
            LedgerSort::BuyerKind => "buyer_kind",
            LedgerSort::Producer => "producer",
            LedgerSort::Product => "product",
            LedgerSort::County => "county",
            LedgerSort::Prefecture => "prefecture",
            LedgerSort::Category => "category",
        }
    }
}

/// A ledger row with the names its ids and codes stand for, for people reading an export. The
/// row keeps where the money went when it moved; the names are read when the export runs, except
/// the product's, which is the title the line was bought under.
#[derive(Debug, Clone)]
pub struct NamedLedgerRow {
    pub row: LedgerRow,
    pub product_title: String,
    pub producer_name: String,
    pub enterprise_name: Option<String>,
    pub district_name: Option<String>,
    pub county_name: String,
    pub prefecture_name: String,
    pub category_name: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PaymentQuery {
    pub order: Option<Uuid>,
    /// Payments of orders with lines of this producer.
    pub producer: Option<Uuid>,
    #[param(inline)]
    pub method: Option<Method>,
    #[param(inline)]
    pub status: Option<PaymentStatus>,
    /// Created at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RefundQuery {
    pub order: Option<Uuid>,
    /// Refunds that return lines of this producer.
    pub producer: Option<Uuid>,
    #[param(inline)]
    pub status: Option<RefundStatus>,
    /// Created at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    pub order: Option<Uuid>,
    pub producer: Option<Uuid>,
    /// Money moved at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Money moved before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}
