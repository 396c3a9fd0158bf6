//! Orders as buyers, producers and admins see them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Most units of one product in one order line.
pub const MAX_LINE_QTY: i64 = 100_000;
/// Most lines in a JSON order; a CSV bulk order may have up to `MAX_CSV_LINES`.
pub const MAX_JSON_LINES: usize = 200;
/// Products a cart may hold: as many as one order may have lines, so a full cart is one order,
/// and pricing a cart stays bounded work.
pub const MAX_CART_ITEMS: usize = MAX_JSON_LINES;
pub const MAX_CSV_LINES: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum OrderStatus {
    AwaitingApproval,
    PendingPayment,
    Paid,
    Completed,
    Cancelled,
    Expired,
    /// Every paid unit was refunded.
    Refunded,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::AwaitingApproval => "awaiting_approval",
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Expired => "expired",
            OrderStatus::Refunded => "refunded",
        }
    }

    /// Stock is held for the order and may still go back.
    pub fn is_unpaid(self) -> bool {
        matches!(self, OrderStatus::AwaitingApproval | OrderStatus::PendingPayment)
    }
}

/// One step in an order's status history: the order's own, or one of its groups'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Order { from: Option<OrderStatus>, to: OrderStatus },
    Group { group_id: Uuid, from: GroupStatus, to: GroupStatus },
}

impl Change {
    pub fn group_id(self) -> Option<Uuid> {
        match self {
            Change::Order { .. } => None,
            Change::Group { group_id, .. } => Some(group_id),
        }
    }

    /// The statuses as stored in the history (`from` is none for a new order).
    pub fn statuses(self) -> (Option<&'static str>, &'static str) {
        match self {
            Change::Order { from, to } => (from.map(OrderStatus::as_str), to.as_str()),
            Change::Group { from, to, .. } => (Some(from.as_str()), to.as_str()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum GroupStatus {
    Pending,
    Paid,
    Shipped,
    Completed,
    Cancelled,
    Expired,
    /// Every paid unit of the group was refunded; it can no longer be shipped.
    Refunded,
}

impl GroupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Pending => "pending",
            GroupStatus::Paid => "paid",
            GroupStatus::Shipped => "shipped",
            GroupStatus::Completed => "completed",
            GroupStatus::Cancelled => "cancelled",
            GroupStatus::Expired => "expired",
            GroupStatus::Refunded => "refunded",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingAddress {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub recipient: String,
    #[schema(pattern = r"^\+?[0-9](?:[ -]*[0-9]){6,14}[ -]*$")]
    pub phone: String,
    /// The county or district the goods go to (any division code in the table).
    #[schema(minimum = 100000, maximum = 999999)]
    #[serde(deserialize_with = "crate::http::whole::int")]
    pub adcode: i64,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invoice {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub title: String,
    /// A USCC (统一社会信用代码); defaults to the enterprise's own.
    pub tax_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct OrderLine {
    pub id: Uuid,
    #[serde(skip)]
    pub group_id: Uuid,
    pub product_id: Uuid,
    pub title: String,
    pub qty: i32,
    pub unit_price_fen: i64,
    pub line_total_fen: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct GroupRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub producer_id: Uuid,
    pub status: GroupStatus,
    pub subtotal_fen: i64,
    pub carrier: Option<String>,
    pub tracking_no: Option<String>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Group {
    #[serde(flatten)]
    pub group: GroupRow,
    pub lines: Vec<OrderLine>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub id: Uuid,
    pub buyer_id: Uuid,
    pub organization_id: Option<Uuid>,
    pub status: OrderStatus,
    pub total_fen: i64,
    pub shipping_address: sqlx::types::Json<ShippingAddress>,
    pub po_number: Option<String>,
    pub invoice: Option<sqlx::types::Json<Invoice>>,
    pub expires_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub payment_method: Option<String>,
    pub payment_ref: Option<String>,
    pub paid_fen: i64,
    pub refunded_fen: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct StatusChange {
    pub group_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub from_status: Option<String>,
    pub to_status: String,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// How an order was paid, and how much of it went back.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentSummary {
    /// stripe | bank_transfer
    pub method: String,
    /// paid | partially_refunded | refunded
    pub status: &'static str,
    /// The PaymentIntent id, or the bank's reference of the transfer.
    pub reference: Option<String>,
    pub paid_fen: i64,
    pub refunded_fen: i64,
}

impl PaymentSummary {
    fn of(row: &OrderRow) -> Option<Self> {
        let method = row.payment_method.clone()?;
        let status = match row.refunded_fen {
            0 => "paid",
            r if r < row.paid_fen => "partially_refunded",
            _ => "refunded",
        };
        Some(PaymentSummary {
            method,
            status,
            reference: row.payment_ref.clone(),
            paid_fen: row.paid_fen,
            refunded_fen: row.refunded_fen,
        })
    }
}

/// An order with its fulfilment groups and lines.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Order {
    pub id: Uuid,
    pub buyer_id: Uuid,
    pub organization_id: Option<Uuid>,
    pub status: OrderStatus,
    pub total_fen: i64,
    pub shipping_address: ShippingAddress,
    pub po_number: Option<String>,
    pub invoice: Option<Invoice>,
    /// Unpaid (or unapproved) orders expire at this time and their stock goes back.
    pub expires_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    /// Null until the order is paid.
    pub payment: Option<PaymentSummary>,
    pub created_at: DateTime<Utc>,
    pub groups: Vec<Group>,
    pub history: Vec<StatusChange>,
}

impl Order {
    pub fn assemble(row: OrderRow, groups: Vec<GroupRow>, lines: Vec<OrderLine>, history: Vec<StatusChange>) -> Self {
        let groups = groups
            .into_iter()
            .map(|g| {
                let lines = lines.iter().filter(|l| l.group_id == g.id).cloned().collect();
                Group { group: g, lines }
            })
            .collect();
        let payment = PaymentSummary::of(&row);
        Order {
            id: row.id,
            buyer_id: row.buyer_id,
            organization_id: row.organization_id,
            status: row.status,
            total_fen: row.total_fen,
            shipping_address: row.shipping_address.0,
            po_number: row.po_number,
            invoice: row.invoice.map(|i| i.0),
            expires_at: row.expires_at,
            paid_at: row.paid_at,
            payment,
            created_at: row.created_at,
            groups,
            history,
        }
    }
}

/// A paid line, as the ledger and refunds need it.
#[derive(Debug, Clone)]
pub struct PaidLine {
    pub line_id: Uuid,
    pub group_id: Uuid,
    pub product_id: Uuid,
    pub producer_id: Uuid,
    pub qty: i32,
    pub unit_price_fen: i64,
    pub amount_fen: i64,
    pub group_status: GroupStatus,
}
