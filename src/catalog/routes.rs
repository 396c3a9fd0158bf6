//! Catalog handlers: public reads (cached, with ETags), producers' own products, and admin
//! review of listings, certifications and price alerts.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::alerts;
use super::board::{self, PriceBoard};
use super::cache::{CachedJson, cached, scope};
use super::db::{PriceAlert, PriceChange};
use super::listing::{self, PriceChangeInput, ProductInput, ProductPatch};
use super::model::{Category, Product, ProductStatus, parse_stock};
use super::public::{self, ProducerProfile, PublicItem, PublicProduct};
use super::query::{BoardQuery, CatalogQuery, PageParams};
use crate::accounts::ProducerMember;
use crate::error::{FieldErrors, PROBLEM_JSON as PROBLEM, Problem, Result};
use crate::http::auth::{Admin, Staff};
use crate::http::extract::{Json, Path, Query};
use crate::http::pagination::{ListParams, Page};
use crate::state::AppState;
use crate::text::{self, Text, limits};

// ---- public handlers ----------------------------------------------------------------------

/// The product categories.
#[utoipa::path(get, path = "/categories", tag = "catalog", responses((status = 200, body = Vec<Category>)))]
pub async fn list_categories(State(state): State<AppState>, headers: HeaderMap) -> Result<CachedJson> {
    cached(&state, &headers, "categories", scope::lists(), || public::categories(&state)).await
}

/// The public catalog: listed products of verified producers, filtered, sorted, a page at a time.
#[utoipa::path(
    get, path = "/products", tag = "catalog", params(CatalogQuery),
    responses((status = 200, body = Page<PublicItem>), (status = 304), (status = 422, body = Problem, content_type = PROBLEM))
)]
pub async fn list_products(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CatalogQuery>,
) -> Result<CachedJson> {
    let (key, scope) = (query.cache_key(), query.cache_scope());
    cached(&state, &headers, &key, scope, || async { public::list(&state, query.parse(&state).await?).await }).await
}

/// A listed product with its tiers, origin, producer, certification and 30-day low.
#[utoipa::path(
    get, path = "/products/{id}", tag = "catalog", params(("id" = Uuid, Path)),
    responses((status = 200, body = PublicProduct), (status = 304), (status = 404, body = Problem, content_type = PROBLEM))
)]
pub async fn get_product(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<CachedJson> {
    cached(&state, &headers, &format!("product:{id}"), scope::product(id), || public::product(&state, id)).await
}

/// Every price change of a listed product, newest first. Never edited, never deleted.
#[utoipa::path(
    get, path = "/products/{id}/price-history", tag = "catalog", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<PriceChange>), (status = 304), (status = 404, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM))
)]
pub async fn price_history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Query(page): Query<PageParams>,
) -> Result<CachedJson> {
    let params = ListParams::new(page.limit, page.cursor.as_deref())?;
    let key = format!("history:{id}:{}:{}", params.limit, page.cursor.as_deref().unwrap_or(""));
    cached(&state, &headers, &key, scope::product(id), || public::price_history(&state, id, &params)).await
}

/// A category's price board: per unit, the count, min, median and max retail price over every
/// public product, and the cheapest offers (paged per unit with `unit` and `cursor`).
#[utoipa::path(
    get, path = "/price-board", tag = "catalog", params(BoardQuery),
    responses(
        (status = 200, body = PriceBoard), (status = 304),
        (status = 422, description = "validation_failed: `category`, `unit`, `limit` or `cursor`", body = Problem, content_type = PROBLEM)
    )
)]
pub async fn price_board(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<BoardQuery>,
) -> Result<CachedJson> {
    let (key, scope) = (query.cache_key(), query.cache_scope());
    cached(&state, &headers, &key, scope, || async { board::load(&state, query.parse(&state).await?).await }).await
}

/// A verified producer's public profile.
#[utoipa::path(
    get, path = "/producers/{id}", tag = "catalog", params(("id" = Uuid, Path)),
    responses((status = 200, body = ProducerProfile), (status = 304), (status = 404, body = Problem, content_type = PROBLEM))
)]
pub async fn get_producer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<CachedJson> {
    cached(&state, &headers, &format!("producer:{id}"), scope::lists(), || public::producer(&state, id)).await
}

// ---- producers ----------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProducerListQuery {
    #[param(inline)]
    status: Option<ProductStatus>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The producer's own products, in every status.
#[utoipa::path(
    get, path = "/producer/products", tag = "producer", params(ProducerListQuery),
    responses((status = 200, body = Page<Product>), (status = 401, body = Problem, content_type = PROBLEM), (status = 403, body = Problem, content_type = PROBLEM))
)]
pub async fn producer_products(
    State(state): State<AppState>,
    me: ProducerMember,
    Query(query): Query<ProducerListQuery>,
) -> Result<axum::Json<Page<Product>>> {
    let page = ListParams::new(query.limit, query.cursor.as_deref())?;
    Ok(axum::Json(listing::for_producer(&state, me.producer_id, query.status, &page).await?.map(Product::from)))
}

/// Creates a draft product; its first ladder is the start of its price history.
///
/// Rules beyond the schema (422 `validation_failed` naming the field): `category_id` must name an
/// existing category and `origin_adcode` a Gansu county in the region table; the tiers' `min_qty`
/// start at 1 and rise, their `unit_price_fen` never rise; a certification's `valid_until` is not
/// before its `valid_from`; an image URL is at most 2,000 bytes.
#[utoipa::path(
    post, path = "/producer/products", tag = "producer", request_body = ProductInput,
    responses((status = 201, body = Product), (status = 403, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM))
)]
pub async fn create_product(
    State(state): State<AppState>,
    me: ProducerMember,
    Json(input): Json<ProductInput>,
) -> Result<(StatusCode, axum::Json<Product>)> {
    let row = listing::create_from(&state, me.producer_id, me.account_id, input).await?;
    Ok((StatusCode::CREATED, axum::Json(row.into())))
}

/// One of the producer's own products.
#[utoipa::path(
    get, path = "/producer/products/{id}", tag = "producer", params(("id" = Uuid, Path)),
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = PROBLEM))
)]
pub async fn producer_product(
    State(state): State<AppState>,
    me: ProducerMember,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Product>> {
    Ok(axum::Json(listing::own_product(&state, me.producer_id, id).await?.into()))
}

/// Edits a product. Changing title, description, category or origin of a listed product sends
/// it back to review; prices (recorded in the history) and stock do not.
///
/// Rules beyond the schema (422 `validation_failed` naming the field): `category_id` must name an
/// existing category and `origin_adcode` a Gansu county in the region table; the tiers' `min_qty`
/// start at 1 and rise, their `unit_price_fen` never rise; a certification's `valid_until` is not
/// before its `valid_from`; an image URL is at most 2,000 bytes.
#[utoipa::path(
    patch, path = "/producer/products/{id}", tag = "producer", params(("id" = Uuid, Path)), request_body = ProductPatch,
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM))
)]
pub async fn patch_product(
    State(state): State<AppState>,
    me: ProducerMember,
    Path(id): Path<Uuid>,
    Json(patch): Json<ProductPatch>,
) -> Result<axum::Json<Product>> {
    let row = listing::patch(&state, me.producer_id, me.account_id, id, patch).await?;
    Ok(axum::Json(row.into()))
}

/// Sends a draft, rejected or delisted product to review.
#[utoipa::path(
    post, path = "/producer/products/{id}/submit", tag = "producer", params(("id" = Uuid, Path)),
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, description = "invalid_transition", body = Problem, content_type = PROBLEM))
)]
pub async fn submit_product(
    State(state): State<AppState>,
    me: ProducerMember,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Product>> {
    Ok(axum::Json(listing::submit(&state, me.producer_id, id).await?.into()))
}

/// Takes a product off the public catalog.
#[utoipa::path(
    post, path = "/producer/products/{id}/delist", tag = "producer", params(("id" = Uuid, Path)),
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, description = "invalid_transition", body = Problem, content_type = PROBLEM))
)]
pub async fn delist_product(
    State(state): State<AppState>,
    me: ProducerMember,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Product>> {
    Ok(axum::Json(listing::delist(&state, me.producer_id, id).await?.into()))
}

/// Replaces the price ladder. The change is public at once and appended to the history; a
/// price far above its peers or its own 30-day low raises an alert for admins.
///
/// Rule beyond the schema (422 `validation_failed` naming `tiers`): the tiers' `min_qty` start
/// at 1 and rise, their `unit_price_fen` never rise.
#[utoipa::path(
    put, path = "/producer/products/{id}/prices", tag = "producer", params(("id" = Uuid, Path)), request_body = PriceChangeInput,
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM))
)]
pub async fn set_prices(
    State(state): State<AppState>,
    me: ProducerMember,
    Path(id): Path<Uuid>,
    Json(input): Json<PriceChangeInput>,
) -> Result<axum::Json<Product>> {
    let row = listing::change_prices(&state, me.producer_id, me.account_id, id, input).await?;
    Ok(axum::Json(row.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockInput {
    #[serde(deserialize_with = "crate::http::whole::int")]
    #[schema(minimum = 0, maximum = 1000000)]
    stock: i64,
}

/// Sets the stock on hand.
#[utoipa::path(
    put, path = "/producer/products/{id}/stock", tag = "producer", params(("id" = Uuid, Path)), request_body = StockInput,
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM))
)]
pub async fn set_stock(
    State(state): State<AppState>,
    me: ProducerMember,
    Path(id): Path<Uuid>,
    Json(input): Json<StockInput>,
) -> Result<axum::Json<Product>> {
    let stock = parse_stock(input.stock).map_err(|m| FieldErrors::single("stock", m))?;
    Ok(axum::Json(listing::set_stock(&state, me.producer_id, id, stock).await?.into()))
}

// ---- admin --------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListingsQuery {
    /// Default pending_review: the review queue, oldest first.
    #[param(inline)]
    status: Option<ProductStatus>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Products by status; by default the review queue.
#[utoipa::path(
    get, path = "/admin/listings", tag = "admin", params(ListingsQuery),
    responses((status = 200, body = Page<Product>), (status = 403, body = Problem, content_type = PROBLEM))
)]
pub async fn listings(
    State(state): State<AppState>,
    _staff: Staff,
    Query(query): Query<ListingsQuery>,
) -> Result<axum::Json<Page<Product>>> {
    let page = ListParams::new(query.limit, query.cursor.as_deref())?;
    let status = query.status.unwrap_or(ProductStatus::PendingReview);
    Ok(axum::Json(listing::by_status(&state, status, &page).await?.map(Product::from)))
}

/// Approves a listing under review: it becomes public.
#[utoipa::path(
    post, path = "/admin/products/{id}/approve", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM))
)]
pub async fn approve(State(state): State<AppState>, admin: Admin, Path(id): Path<Uuid>) -> Result<axum::Json<Product>> {
    Ok(axum::Json(listing::approve(&state, &admin.0, id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectInput {
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$"
    )]
    reason: String,
}

/// Rejects a listing under review, with the reason the producer will see.
#[utoipa::path(
    post, path = "/admin/products/{id}/reject", tag = "admin", params(("id" = Uuid, Path)), request_body = RejectInput,
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM))
)]
pub async fn reject(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    Json(input): Json<RejectInput>,
) -> Result<axum::Json<Product>> {
    let reason = Text::parse(&input.reason, limits::REASON).map_err(|m| FieldErrors::single("reason", m))?;
    Ok(axum::Json(listing::reject(&state, &admin.0, id, reason.as_str()).await?.into()))
}

/// Marks a product's certification verified.
#[utoipa::path(
    post, path = "/admin/products/{id}/certification/verify", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM))
)]
pub async fn verify_certification(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Product>> {
    Ok(axum::Json(listing::decide_certification(&state, &admin.0, id, true).await?.into()))
}

/// Marks a product's certification revoked.
#[utoipa::path(
    post, path = "/admin/products/{id}/certification/revoke", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM))
)]
pub async fn revoke_certification(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Product>> {
    Ok(axum::Json(listing::decide_certification(&state, &admin.0, id, false).await?.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// false (default): open alerts; true: resolved ones.
    resolved: Option<bool>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Price alerts, oldest first.
#[utoipa::path(
    get, path = "/admin/price-alerts", tag = "admin", params(AlertQuery),
    responses((status = 200, body = Page<PriceAlert>), (status = 403, body = Problem, content_type = PROBLEM))
)]
pub async fn price_alerts(
    State(state): State<AppState>,
    _staff: Staff,
    Query(query): Query<AlertQuery>,
) -> Result<axum::Json<Page<PriceAlert>>> {
    let page = ListParams::new(query.limit, query.cursor.as_deref())?;
    Ok(axum::Json(alerts::list(&state, query.resolved.unwrap_or(false), &page).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveInput {
    #[schema(max_length = 500, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    note: Option<String>,
}

/// Resolves an open price alert.
#[utoipa::path(
    post, path = "/admin/price-alerts/{id}/resolve", tag = "admin", params(("id" = Uuid, Path)), request_body = ResolveInput,
    responses((status = 200, body = PriceAlert), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, description = "invalid_transition", body = Problem, content_type = PROBLEM))
)]
pub async fn resolve_alert(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    Json(input): Json<ResolveInput>,
) -> Result<axum::Json<PriceAlert>> {
    let note = text::optional(input.note.as_deref(), limits::NOTE).map_err(|m| FieldErrors::single("note", m))?;
    Ok(axum::Json(alerts::resolve(&state, &admin.0, id, note.as_deref()).await?))
}
