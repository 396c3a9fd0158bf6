//! What the public catalog shows: the shapes of its replies and how each is loaded. Handlers
//! serve these through the read cache (`super::cache::cached`).

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::db::{self, PriceChange, PublicQuery, Sort};
use super::model::{Category, CertificationView, ProductRow, ProductStatus, Tier};
use crate::accounts;
use crate::error::{AppError, Result};
use crate::http::pagination::{Cursor, ListParams, Page};
use crate::regions;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicItem {
    id: Uuid,
    title: String,
    retail_price_fen: i64,
    status: ProductStatus,
    tiers: Vec<Tier>,
    origin_adcode: i32,
    category_id: i32,
    producer_id: Uuid,
    unit: String,
    spec: String,
    image: Option<String>,
    /// A verified certification valid today.
    certified: bool,
    in_stock: bool,
    sales_count: i64,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<ProductRow> for PublicItem {
    fn from(row: ProductRow) -> Self {
        let certified = row.certification().is_some_and(|c| c.valid_today);
        PublicItem {
            in_stock: row.stock >= row.min_order_qty,
            image: row.images.first().cloned(),
            id: row.id,
            title: row.title,
            retail_price_fen: row.retail_price_fen,
            status: row.status,
            tiers: row.tiers.0,
            origin_adcode: row.origin_adcode,
            category_id: row.category_id,
            producer_id: row.producer_id,
            unit: row.unit,
            spec: row.spec,
            certified,
            sales_count: row.sales_count,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Origin {
    adcode: i32,
    county: String,
    prefecture_adcode: Option<i32>,
    prefecture: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProducerSummary {
    id: Uuid,
    legal_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicProduct {
    id: Uuid,
    title: String,
    description: String,
    category_id: i32,
    unit: String,
    spec: String,
    images: Vec<String>,
    min_order_qty: i32,
    tiers: Vec<Tier>,
    retail_price_fen: i64,
    /// The lowest retail price in effect at any time in the last 30 days.
    lowest_price_30d_fen: i64,
    status: ProductStatus,
    origin_adcode: i32,
    origin: Origin,
    producer: ProducerSummary,
    certification: Option<CertificationView>,
    /// At least the minimum order is in stock. (Exact stock is not public: it changes with
    /// every order, and would make every order retire the public cache.)
    in_stock: bool,
    sales_count: i64,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProducerProfile {
    id: Uuid,
    legal_name: String,
    county_adcode: i32,
    county: Option<String>,
    prefecture: Option<String>,
    farmer_linkage: Option<String>,
    households: Option<i32>,
    listed_products: i64,
    since: chrono::DateTime<chrono::Utc>,
}

#[tracing::instrument(level = "debug", skip(state))]
pub async fn categories(state: &AppState) -> Result<Vec<Category>> {
    Ok(db::list_categories(&state.db).await?)
}

/// One page of the public catalog for a checked query.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn list(state: &AppState, query: PublicQuery) -> Result<Page<PublicItem>> {
    let mut q = query.clone();
    q.limit += 1;
    let rows = db::public_list(&state.db, &q).await?;
    let sort = query.sort;
    Ok(Page::from_rows(rows, query.limit, |r| {
        let value = match sort {
            Sort::PriceAsc | Sort::PriceDesc => Some(r.retail_price_fen),
            Sort::Sales => Some(r.sales_count),
            Sort::Newest => None,
        };
        Cursor::encode(&(value, r.id))
    })
    .map(PublicItem::from))
}

/// A listed product in full; 404 unless it is public.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn product(state: &AppState, id: Uuid) -> Result<PublicProduct> {
    let row = db::public_product(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let low = db::lowest_price_30d(&state.db, id).await?.unwrap_or(row.retail_price_fen);
    let origin = regions::describe(&state.db, row.origin_adcode).await?;
    let producer = accounts::public_producer(&state.db, row.producer_id).await?.ok_or(AppError::NotFound)?;
    let certification = row.certification();
    Ok(PublicProduct {
        id: row.id,
        lowest_price_30d_fen: low,
        origin: Origin {
            adcode: row.origin_adcode,
            county: origin.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
            prefecture_adcode: origin.as_ref().and_then(|o| o.parent_adcode),
            prefecture: origin.and_then(|o| o.parent_name),
        },
        producer: ProducerSummary { id: producer.id, legal_name: producer.legal_name },
        certification,
        in_stock: row.stock >= row.min_order_qty,
        title: row.title,
        description: row.description,
        category_id: row.category_id,
        unit: row.unit,
        spec: row.spec,
        images: row.images,
        min_order_qty: row.min_order_qty,
        tiers: row.tiers.0,
        retail_price_fen: row.retail_price_fen,
        status: row.status,
        origin_adcode: row.origin_adcode,
        sales_count: row.sales_count,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A page of a public product's price history, newest first; 404 unless it is public.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn price_history(state: &AppState, id: Uuid, page: &ListParams) -> Result<Page<PriceChange>> {
    db::public_product(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let rows = db::price_history(&state.db, id, page.after(), page.fetch()).await?;
    Ok(page.by_id(rows, |c| c.id))
}

/// A verified producer's public profile; 404 for any other organization.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn producer(state: &AppState, id: Uuid) -> Result<ProducerProfile> {
    let producer = accounts::public_producer(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let place = regions::describe(&state.db, producer.region_adcode).await?;
    Ok(ProducerProfile {
        id: producer.id,
        legal_name: producer.legal_name,
        county_adcode: producer.region_adcode,
        county: place.as_ref().map(|p| p.name.clone()),
        prefecture: place.and_then(|p| p.parent_name),
        farmer_linkage: producer.farmer_linkage,
        households: producer.households,
        listed_products: db::count_public_for_producer(&state.db, id).await?,
        since: producer.created_at,
    })
}
