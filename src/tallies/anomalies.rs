//! The anomaly report: sales where buyer and producer may be the same people, orders far above
//! their buyer's usual size, and producers with a high refund ratio. Thresholds are settings
//! (`[tallies]`); the report only points admins at what to look into.

use std::collections::HashMap;

use super::db;
use super::model::{Anomalies, BuyerKind, RefundRatio, SharedContact};
use crate::error::Result;
use crate::state::AppState;
use crate::{accounts, payments};

/// Entries per list.
const LIMIT: i64 = 100;

#[tracing::instrument(level = "debug", skip(state))]
pub async fn report(state: &AppState) -> Result<Anomalies> {
    let t = &state.settings.tallies;
    let (shared, large_orders, ratios) = tokio::try_join!(
        db::shared_contacts(&state.db, LIMIT),
        db::large_orders(&state.db, t.anomaly_large_order_factor, t.anomaly_min_orders, LIMIT),
        payments::reconcile::refund_ratios(&state.db, t.anomaly_min_sales_fen, t.anomaly_refund_ratio_bp, LIMIT),
    )?;
    let shared_contacts = shared
        .into_iter()
        .map(|r| SharedContact {
            buyer_id: r.buyer_id,
            buyer_kind: if r.buyer_kind == "enterprise" { BuyerKind::Enterprise } else { BuyerKind::Consumer },
            enterprise_id: r.enterprise_id,
            buyer_name: r.buyer_name,
            producer_id: r.producer_id,
            producer_name: r.producer_name,
            shared: [(r.phone, "phone"), (r.address, "address"), (r.legal_name, "legal_name")]
                .into_iter()
                .filter(|(hit, _)| *hit)
                .map(|(_, what)| what.to_owned())
                .collect(),
            amount_fen: r.amount_fen,
        })
        .collect();
    let ids: Vec<_> = ratios.iter().map(|(id, _, _)| *id).collect();
    let names: HashMap<_, _> = accounts::legal_names(&state.db, &ids).await?.into_iter().collect();
    let refund_ratios = ratios
        .into_iter()
        .map(|(producer_id, sold, refunded)| RefundRatio {
            producer_id,
            producer_name: names.get(&producer_id).cloned().unwrap_or_default(),
            sold_fen: sold,
            refunded_fen: refunded,
            ratio_bp: (i128::from(refunded) * 10_000 / i128::from(sold.max(1))) as i64,
        })
        .collect();
    Ok(Anomalies { shared_contacts, large_orders, refund_ratios })
}
