//! Price alerts: a retail price far above what the same goods sell for, or raised far above
//! its own recent low, is flagged for admins. The change itself is never blocked.

use serde_json::json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::board::median;
use super::db::{self, PriceAlert};
use super::model::{AlertKind, ProductRow};
use crate::config::CatalogSettings;
use crate::error::{AppError, Result};
use crate::http::pagination::{ListParams, Page};
use crate::identity::CurrentUser;
use crate::state::AppState;
use crate::trail::{self, Entry};

/// The retail price before a change, and the lowest it was in the 30 days before the change.
#[derive(Debug, Clone, Copy)]
pub struct Before {
    pub retail_fen: i64,
    pub low_30d_fen: i64,
}

/// Raises the alerts that `row`'s current retail price deserves; `before` is None at creation.
#[tracing::instrument(level = "debug", skip_all, fields(product = %row.id))]
pub async fn check(
    tx: &mut Transaction<'_, Postgres>,
    settings: &CatalogSettings,
    row: &ProductRow,
    before: Option<Before>,
) -> Result<()> {
    let price = row.retail_price_fen;
    let peers = db::peer_prices(&mut **tx, row.category_id, &row.unit, row.id).await?;
    if let Some(m) = median(&peers)
        && exceeds(price, m, settings.alert_above_median_pct)
    {
        db::insert_alert(tx, row.id, AlertKind::AboveMedian, price, m, settings.alert_above_median_pct as i32).await?;
    }
    if let Some(before) = before
        && price > before.retail_fen
        && exceeds(price, before.low_30d_fen, settings.alert_above_low_pct)
    {
        let pct = settings.alert_above_low_pct as i32;
        db::insert_alert(tx, row.id, AlertKind::Above30dLow, price, before.low_30d_fen, pct).await?;
    }
    Ok(())
}

/// Whether `price` is more than `pct` percent above `reference`, in exact integer arithmetic.
pub fn exceeds(price: i64, reference: i64, pct: u32) -> bool {
    (price as i128) * 100 > (reference as i128) * (100 + pct as i128)
}

/// A page of open (or resolved) alerts, oldest first.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn list(state: &AppState, resolved: bool, page: &ListParams) -> Result<Page<PriceAlert>> {
    let rows = db::list_alerts(&state.db, resolved, page.after(), page.fetch()).await?;
    Ok(page.by_id(rows, |a| a.id))
}

/// Resolves an open alert; 409 when it is already resolved. Audit-logged as
/// `price_alert.resolve` in the same transaction.
#[tracing::instrument(level = "debug", skip(state, admin), fields(admin = %admin.account_id))]
pub async fn resolve(state: &AppState, admin: &CurrentUser, id: Uuid, note: Option<&str>) -> Result<PriceAlert> {
    let mut tx = state.db.begin().await?;
    let Some(alert) = db::resolve_alert(&mut *tx, id, admin.account_id, note).await? else {
        if db::alert_exists(&mut *tx, id).await? {
            return Err(AppError::conflict("invalid_transition", msg!("alert-already-resolved")));
        }
        return Err(AppError::NotFound);
    };
    let entry = Entry::new(admin, "price_alert.resolve", "price_alert", id).detail(json!({
        "product_id": alert.product_id,
        "kind": alert.kind.as_str(),
        "retail_price_fen": alert.retail_price_fen,
        "reference_fen": alert.reference_fen,
        "note": note,
    }));
    trail::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(alert)
}

#[cfg(test)]
mod tests {
    use super::exceeds;

    #[test]
    fn exactly_at_the_threshold_is_not_above_it() {
        assert!(!exceeds(130, 100, 30));
        assert!(exceeds(131, 100, 30));
    }
}
