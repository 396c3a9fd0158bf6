//! A product's life: create, edit, submit, review, delist, and its prices and stock. Each
//! change runs in one transaction with the product locked; public reads are invalidated
//! before the commit (a Redis failure aborts the change) and again after it.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::db::{self, ProductFields};
use super::model::{Ladder, ProductRow, ProductStatus};
use super::{alerts, cache::CatalogCache};
use crate::config::CatalogSettings;
use crate::error::{AppError, Result};

/// The catalog's collaborators for a write.
pub struct Writer<'a> {
    pub db: &'a PgPool,
    pub cache: &'a CatalogCache,
    pub settings: &'a CatalogSettings,
}

impl Writer<'_> {
    async fn commit(&self, tx: Transaction<'_, Postgres>) -> Result<()> {
        self.cache.commit(tx).await
    }

    #[tracing::instrument(skip(self, fields))]
    pub async fn create(&self, producer_id: Uuid, actor: Uuid, fields: ProductFields) -> Result<ProductRow> {
        let mut tx = self.db.begin().await?;
        // Only verified producers get here (routes check), so the producer is active.
        let row = db::insert_product(&mut tx, producer_id, true, &fields).await?;
        db::insert_price_change(&mut tx, row.id, actor, None, &fields.tiers, None).await?;
        alerts::check(&mut tx, self.settings, &row, None).await?;
        self.commit(tx).await?;
        Ok(row)
    }

    async fn before(&self, tx: &mut Transaction<'_, Postgres>, current: &ProductRow) -> Result<alerts::Before> {
        let low = db::lowest_price_30d(&mut **tx, current.id).await?.unwrap_or(current.retail_price_fen);
        Ok(alerts::Before { retail_fen: current.retail_price_fen, low_30d_fen: low })
    }

    /// The producer's own product, locked; 404 for anyone else's.
    async fn own(&self, tx: &mut Transaction<'_, Postgres>, producer_id: Uuid, id: Uuid) -> Result<ProductRow> {
        match db::lock_product(tx, id).await? {
            Some(row) if row.producer_id == producer_id => Ok(row),
            _ => Err(AppError::NotFound),
        }
    }

    /// Applies an edit. Changing what buyers judge a listing by (title, description, category,
    /// origin) sends a listed product back to review; prices and stock do not.
    #[tracing::instrument(skip(self, edit))]
    pub async fn edit(
        &self,
        producer_id: Uuid,
        actor: Uuid,
        id: Uuid,
        edit: impl FnOnce(&ProductRow) -> Result<ProductFields>,
    ) -> Result<ProductRow> {
        let mut tx = self.db.begin().await?;
        let current = self.own(&mut tx, producer_id, id).await?;
        let fields = edit(&current)?;
        let needs_review = fields.title != current.title
            || fields.description != current.description
            || fields.category_id != current.category_id
            || fields.origin_adcode != current.origin_adcode;
        let status = match current.status {
            ProductStatus::Listed if needs_review => ProductStatus::PendingReview,
            status => status,
        };
        let price_changed = fields.tiers != current.tiers.0;
        let before = self.before(&mut tx, &current).await?;
        let updated = db::update_product(&mut tx, id, &fields, status).await?;
        if price_changed {
            db::insert_price_change(&mut tx, id, actor, Some(&current.tiers.0), &fields.tiers, None).await?;
            alerts::check(&mut tx, self.settings, &updated, Some(before)).await?;
        }
        self.commit(tx).await?;
        Ok(updated)
    }

    #[tracing::instrument(skip(self, ladder))]
    pub async fn set_prices(
        &self,
        producer_id: Uuid,
        actor: Uuid,
        id: Uuid,
        ladder: Ladder,
        reason: Option<&str>,
    ) -> Result<ProductRow> {
        let mut tx = self.db.begin().await?;
        let current = self.own(&mut tx, producer_id, id).await?;
        if current.tiers.0 == ladder.tiers() {
            return Ok(current);
        }
        let before = self.before(&mut tx, &current).await?;
        let updated = db::set_tiers(&mut tx, id, ladder.tiers()).await?;
        db::insert_price_change(&mut tx, id, actor, Some(&current.tiers.0), ladder.tiers(), reason).await?;
        alerts::check(&mut tx, self.settings, &updated, Some(before)).await?;
        self.commit(tx).await?;
        Ok(updated)
    }

    #[tracing::instrument(skip(self))]
    pub async fn set_stock(&self, producer_id: Uuid, id: Uuid, stock: i32) -> Result<ProductRow> {
        let mut tx = self.db.begin().await?;
        self.own(&mut tx, producer_id, id).await?;
        let updated = db::set_stock(&mut *tx, id, stock).await?;
        self.commit(tx).await?;
        Ok(updated)
    }

    /// Moves a product between statuses when `allowed` says the move is legal from where it is.
    async fn transition(
        &self,
        producer_id: Option<Uuid>,
        id: Uuid,
        allowed: &[ProductStatus],
        to: ProductStatus,
        reason: Option<&str>,
    ) -> Result<ProductRow> {
        let mut tx = self.db.begin().await?;
        let current = match producer_id {
            Some(p) => self.own(&mut tx, p, id).await?,
            None => db::lock_product(&mut tx, id).await?.ok_or(AppError::NotFound)?,
        };
        if !allowed.contains(&current.status) {
            return Err(AppError::conflict(
                "invalid_transition",
                format!("a product that is {:?} cannot become {:?}", current.status, to).to_lowercase(),
            ));
        }
        let updated = db::set_status(&mut tx, id, to, reason).await?;
        self.commit(tx).await?;
        Ok(updated)
    }

    pub async fn submit(&self, producer_id: Uuid, id: Uuid) -> Result<ProductRow> {
        use ProductStatus::*;
        self.transition(Some(producer_id), id, &[Draft, Rejected, Delisted], PendingReview, None).await
    }

    pub async fn delist(&self, producer_id: Uuid, id: Uuid) -> Result<ProductRow> {
        use ProductStatus::*;
        self.transition(Some(producer_id), id, &[Listed, PendingReview], Delisted, None).await
    }

    pub async fn approve(&self, id: Uuid) -> Result<ProductRow> {
        self.transition(None, id, &[ProductStatus::PendingReview], ProductStatus::Listed, None).await
    }

    pub async fn reject(&self, id: Uuid, reason: &str) -> Result<ProductRow> {
        self.transition(None, id, &[ProductStatus::PendingReview], ProductStatus::Rejected, Some(reason)).await
    }

    /// Marks the product's certification verified or revoked.
    #[tracing::instrument(skip(self))]
    pub async fn decide_certification(&self, id: Uuid, verify: bool) -> Result<ProductRow> {
        let mut tx = self.db.begin().await?;
        let current = db::lock_product(&mut tx, id).await?.ok_or(AppError::NotFound)?;
        let Some(status) = current.cert_status.as_deref() else {
            return Err(AppError::conflict("no_certification", "the product has no certification to decide on"));
        };
        let (allowed, to): (&[&str], &str) =
            if verify { (&["unverified", "revoked"], "verified") } else { (&["unverified", "verified"], "revoked") };
        if !allowed.contains(&status) {
            return Err(AppError::conflict("invalid_transition", format!("the certification is already {status}")));
        }
        let updated = db::set_cert_status(&mut tx, id, to).await?;
        self.commit(tx).await?;
        Ok(updated)
    }
}
