//! Catalog handlers: public reads (cached, with ETags), producers' own products, and admin
//! review of listings, certifications and price alerts.

use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::board::{self, PriceBoard};
use super::cache::Cached;
use super::db::{self, BoardRow, PriceAlert, PriceChange, ProductFields, PublicQuery, Sort};
use super::listing::Writer;
use super::model::{
    Category, Certification, CertificationInput, CertificationView, DESCRIPTION_MAX, Ladder, Product, ProductRow,
    ProductStatus, SPEC_MAX, TITLE_MAX, Tier, parse_images, parse_min_order_qty, parse_stock, parse_unit,
};
use super::search;
use crate::accounts::model::{MemberRole, OrgStatus};
use crate::error::{AppError, FieldErrors, Problem, Result};
use crate::http::auth::{Admin, CurrentUser, Staff};
use crate::http::extract::{Json, Path, Query};
use crate::http::pagination::{self, Cursor, Page};
use crate::regions::model::Adcode;
use crate::startup::AppState;
use crate::{accounts, regions};

const PROBLEM: &str = "application/problem+json";

// ---- cached public replies ----------------------------------------------------------------

/// A cached JSON reply: 304 when the client already holds this version.
pub struct CachedJson {
    cached: Cached,
    if_none_match: Option<HeaderValue>,
}

impl IntoResponse for CachedJson {
    fn into_response(self) -> Response {
        let etag = HeaderValue::from_str(&self.cached.etag).expect("etags are hex");
        let matches =
            self.if_none_match.as_ref().and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v == "*" || v.split(',').any(|t| t.trim().trim_start_matches("W/") == self.cached.etag)
            });
        let headers = [(header::ETAG, etag), (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))];
        if matches {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        let mut response = (headers, self.cached.body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

async fn cached<T, F, Fut>(state: &AppState, headers: &HeaderMap, what: &str, load: F) -> Result<CachedJson>
where
    T: Serialize,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let cached = state
        .catalog_cache
        .get_or_load(what, || async { Ok(serde_json::to_vec(&load().await?).map_err(anyhow::Error::from)?) })
        .await?;
    Ok(CachedJson { cached, if_none_match: headers.get(header::IF_NONE_MATCH).cloned() })
}

// ---- public shapes ------------------------------------------------------------------------

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

// ---- public handlers ----------------------------------------------------------------------

/// The product categories.
#[utoipa::path(get, path = "/categories", tag = "catalog", responses((status = 200, body = Vec<Category>)))]
pub async fn list_categories(State(state): State<AppState>, headers: HeaderMap) -> Result<CachedJson> {
    cached(&state, &headers, "categories", || async { Ok(db::list_categories(&state.db).await?) }).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CatalogQuery {
    /// Keywords; every one must appear in the title or description (works for Chinese).
    q: Option<String>,
    category: Option<i64>,
    /// A Gansu county adcode.
    county: Option<i64>,
    /// A Gansu prefecture adcode.
    prefecture: Option<i64>,
    producer: Option<Uuid>,
    min_price_fen: Option<i64>,
    max_price_fen: Option<i64>,
    /// Only products with a verified certification valid today.
    certified: Option<bool>,
    /// Only products with at least their minimum order in stock.
    in_stock: Option<bool>,
    #[param(inline)]
    sort: Option<Sort>,
    limit: Option<i64>,
    cursor: Option<String>,
}

impl CatalogQuery {
    async fn parse(self, state: &AppState) -> Result<PublicQuery> {
        let mut errors = FieldErrors::new();
        let (limit, after) = match pagination::parse::<(Option<i64>, Uuid)>(self.limit, self.cursor.as_deref()) {
            Ok(v) => v,
            Err(AppError::Validation(e)) => {
                errors.merge(e);
                (0, None)
            }
            Err(e) => return Err(e),
        };
        let mut terms = Vec::new();
        if let Some(q) = &self.q {
            if q.chars().count() > 50 {
                errors.add("q", "must be at most 50 characters");
            }
            terms = q.split_whitespace().filter_map(search::term_grams).take(5).collect();
        }
        let category = match self.category {
            Some(c) => match i32::try_from(c).ok() {
                Some(c) if db::find_category(&state.db, c).await?.is_some() => Some(c),
                _ => {
                    errors.add("category", "no such category");
                    None
                }
            },
            None => None,
        };
        let mut counties = None;
        if let Some(c) = self.county {
            match Adcode::parse(c) {
                Ok(a) if regions::is_gansu_county(&state.db, a).await? => counties = Some(vec![a.get()]),
                _ => errors.add("county", "must be the code of a Gansu county"),
            }
        }
        if let Some(p) = self.prefecture {
            match Adcode::parse(p) {
                Ok(a) if regions::is_gansu_prefecture(&state.db, a).await? => {
                    let in_prefecture = regions::counties_of(&state.db, a).await?;
                    counties = Some(match counties {
                        Some(c) => c.into_iter().filter(|x| in_prefecture.contains(x)).collect(),
                        None => in_prefecture,
                    });
                }
                _ => errors.add("prefecture", "must be the code of a Gansu prefecture"),
            }
        }
        for (field, value) in [("min_price_fen", self.min_price_fen), ("max_price_fen", self.max_price_fen)] {
            if value.is_some_and(|v| v < 0) {
                errors.add(field, "must not be negative");
            }
        }
        if let (Some(min), Some(max)) = (self.min_price_fen, self.max_price_fen)
            && min > max
        {
            errors.add("max_price_fen", "must not be below min_price_fen");
        }
        errors.into_result()?;
        Ok(PublicQuery {
            terms,
            category,
            counties,
            producer: self.producer,
            min_price_fen: self.min_price_fen,
            max_price_fen: self.max_price_fen,
            certified: self.certified.unwrap_or(false),
            in_stock: self.in_stock.unwrap_or(false),
            sort: self.sort.unwrap_or_default(),
            after,
            limit,
        })
    }
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
    // Keyed by the query as sent: only a valid query is ever filled, so a hit needs no checks
    // (which would cost a database round trip each).
    let key = format!("list:{}", hex_digest(&format!("{query:?}")));
    cached(&state, &headers, &key, || async {
        let query = query.parse(&state).await?;
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
    })
    .await
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
    cached(&state, &headers, &format!("product:{id}"), || async {
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
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    limit: Option<i64>,
    cursor: Option<String>,
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
    let (limit, before) = pagination::parse::<Uuid>(page.limit, page.cursor.as_deref())?;
    let key = format!("history:{id}:{limit}:{}", page.cursor.as_deref().unwrap_or(""));
    cached(&state, &headers, &key, || async {
        db::public_product(&state.db, id).await?.ok_or(AppError::NotFound)?;
        let rows = db::price_history(&state.db, id, before, limit + 1).await?;
        Ok(Page::from_rows(rows, limit, |c| Cursor::encode(&c.id)))
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BoardQuery {
    category: i64,
}

/// A category's price board: per unit, every listed product's retail price and the
/// min / median / max.
#[utoipa::path(
    get, path = "/price-board", tag = "catalog", params(BoardQuery),
    responses((status = 200, body = PriceBoard), (status = 304), (status = 422, body = Problem, content_type = PROBLEM))
)]
pub async fn price_board(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<BoardQuery>,
) -> Result<CachedJson> {
    cached(&state, &headers, &format!("board:{}", query.category), || async {
        let category = match i32::try_from(query.category).ok() {
            Some(c) => db::find_category(&state.db, c).await?,
            None => None,
        }
        .ok_or_else(|| FieldErrors::single("category", "no such category"))?;
        let rows: Vec<BoardRow> = db::board_rows(&state.db, category.id).await?;
        Ok(board::build(category, rows))
    })
    .await
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
    cached(&state, &headers, &format!("producer:{id}"), || async {
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
    })
    .await
}

fn hex_digest(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
}

// ---- producers ----------------------------------------------------------------------------

/// A member (owner or staff) of a verified, unsuspended producer.
#[derive(Debug, Clone)]
pub struct ProducerMember {
    pub account_id: Uuid,
    pub producer_id: Uuid,
}

impl<S> FromRequestParts<S> for ProducerMember
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> std::result::Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        let app = AppState::from_ref(state);
        let membership = accounts::producer_membership(&app.db, user.account_id)
            .await?
            .filter(|m| matches!(m.role, MemberRole::Owner | MemberRole::Staff))
            .ok_or_else(|| AppError::forbidden("forbidden", "only producers manage products"))?;
        match membership.organization_status {
            OrgStatus::Verified => {
                Ok(ProducerMember { account_id: user.account_id, producer_id: membership.organization_id })
            }
            OrgStatus::Suspended => Err(AppError::forbidden("producer_suspended", "the producer is suspended")),
            _ => Err(AppError::forbidden("producer_not_verified", "the producer has not been verified yet")),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    category_id: i64,
    title: String,
    #[serde(default)]
    description: String,
    /// A Gansu county adcode.
    origin_adcode: i64,
    /// 斤, kg, g, 箱, 袋, 瓶, 盒, 罐, 桶, 包, 只, 个, 件, 份, 提, 条, 束
    unit: String,
    #[serde(default)]
    spec: String,
    stock: i64,
    #[serde(default)]
    images: Vec<String>,
    #[serde(default = "one")]
    min_order_qty: i64,
    tiers: Vec<Tier>,
    certification: Option<CertificationInput>,
}

fn one() -> i64 {
    1
}

/// Any subset of a product's fields; what is absent stays as it is.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    category_id: Option<i64>,
    title: Option<String>,
    description: Option<String>,
    origin_adcode: Option<i64>,
    unit: Option<String>,
    spec: Option<String>,
    stock: Option<i64>,
    images: Option<Vec<String>>,
    min_order_qty: Option<i64>,
    tiers: Option<Vec<Tier>>,
    /// Replaces the certification; its verification starts over.
    certification: Option<CertificationInput>,
}

impl From<ProductInput> for ProductPatch {
    fn from(i: ProductInput) -> Self {
        ProductPatch {
            category_id: Some(i.category_id),
            title: Some(i.title),
            description: Some(i.description),
            origin_adcode: Some(i.origin_adcode),
            unit: Some(i.unit),
            spec: Some(i.spec),
            stock: Some(i.stock),
            images: Some(i.images),
            min_order_qty: Some(i.min_order_qty),
            tiers: Some(i.tiers),
            certification: i.certification,
        }
    }
}

/// Checks a patch against the current fields (or none, for a new product) and returns the
/// complete new set, every bad field reported at once.
async fn apply_patch(state: &AppState, current: Option<&ProductRow>, p: ProductPatch) -> Result<ProductFields> {
    let mut errors = FieldErrors::new();
    let text = |errors: &mut FieldErrors, field: &str, value: &str, max: usize, required: bool| -> String {
        let v = value.trim();
        if required && v.is_empty() {
            errors.add(field, "must not be empty");
        }
        if v.chars().count() > max {
            errors.add(field, format!("is too long (at most {max} characters)"));
        }
        v.to_string()
    };
    let title = p.title.as_deref().map(|t| text(&mut errors, "title", t, TITLE_MAX, true));
    let description = p.description.as_deref().map(|d| text(&mut errors, "description", d, DESCRIPTION_MAX, false));
    let spec = p.spec.as_deref().map(|s| text(&mut errors, "spec", s, SPEC_MAX, false));
    let unit = p.unit.as_deref().and_then(|u| errors.check("unit", parse_unit(u)));
    let stock = p.stock.and_then(|s| errors.check("stock", parse_stock(s)));
    let min_order_qty = p.min_order_qty.and_then(|m| errors.check("min_order_qty", parse_min_order_qty(m)));
    let images = p.images.as_deref().and_then(|i| errors.check("images", parse_images(i)));
    let tiers = p.tiers.and_then(|t| errors.check("tiers", Ladder::parse(t)));
    let certification = match &p.certification {
        Some(input) => match Certification::parse(input) {
            Ok(c) => Some(c),
            Err(list) => {
                for (field, message) in list {
                    errors.add(field, message);
                }
                None
            }
        },
        None => None,
    };
    let category_id = match p.category_id {
        Some(c) => match i32::try_from(c).ok() {
            Some(c) if db::find_category(&state.db, c).await?.is_some() => Some(c),
            _ => {
                errors.add("category_id", "no such category");
                None
            }
        },
        None => None,
    };
    let origin_adcode = match p.origin_adcode {
        Some(o) => match Adcode::parse(o) {
            Ok(a) if regions::is_gansu_county(&state.db, a).await? => Some(a.get()),
            _ => {
                errors.add("origin_adcode", "must be the code of a Gansu county");
                None
            }
        },
        None => None,
    };
    errors.into_result()?;
    let cert_changed = p.certification.is_some();
    let (cert, cert_status) = match (certification, current) {
        (Some(c), _) => (Some(c), Some("unverified".to_string())),
        (None, Some(row)) => (
            row.cert_number.as_ref().map(|number| Certification {
                number: number.clone(),
                issuer: row.cert_issuer.clone().unwrap_or_default(),
                valid_from: row.cert_valid_from.unwrap_or_default(),
                valid_until: row.cert_valid_until.unwrap_or_default(),
            }),
            row.cert_status.clone(),
        ),
        (None, None) => (None, None),
    };
    debug_assert!(cert_changed || current.is_some() || cert.is_none());
    // For a new product every required field came from ProductInput, so `current` is needed
    // only for fields the patch leaves out.
    let pick = |new: Option<String>, old: Option<&String>| new.or_else(|| old.cloned()).unwrap_or_default();
    let title = pick(title, current.map(|r| &r.title));
    let description = pick(description, current.map(|r| &r.description));
    let search_grams = search::grams(&format!("{title} {description}"));
    Ok(ProductFields {
        category_id: category_id.or(current.map(|r| r.category_id)).unwrap_or_default(),
        title,
        description,
        origin_adcode: origin_adcode.or(current.map(|r| r.origin_adcode)).unwrap_or_default(),
        unit: pick(unit, current.map(|r| &r.unit)),
        spec: pick(spec, current.map(|r| &r.spec)),
        stock: stock.or(current.map(|r| r.stock)).unwrap_or_default(),
        images: images.or(current.map(|r| r.images.clone())).unwrap_or_default(),
        min_order_qty: min_order_qty.or(current.map(|r| r.min_order_qty)).unwrap_or(1),
        tiers: tiers.map(|l| l.tiers().to_vec()).or(current.map(|r| r.tiers.0.clone())).unwrap_or_default(),
        certification: cert,
        cert_status,
        search_grams,
    })
}

fn writer(state: &AppState) -> Writer<'_> {
    Writer { db: &state.db, cache: &state.catalog_cache, settings: &state.settings.catalog }
}

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
    let (limit, after) = pagination::parse::<Uuid>(query.limit, query.cursor.as_deref())?;
    let rows = db::list_for_producer(&state.db, me.producer_id, query.status, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(rows, limit, |r| Cursor::encode(&r.id)).map(Product::from)))
}

/// Creates a draft product; its first ladder is the start of its price history.
#[utoipa::path(
    post, path = "/producer/products", tag = "producer", request_body = ProductInput,
    responses((status = 201, body = Product), (status = 403, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM))
)]
pub async fn create_product(
    State(state): State<AppState>,
    me: ProducerMember,
    Json(input): Json<ProductInput>,
) -> Result<(StatusCode, axum::Json<Product>)> {
    let fields = apply_patch(&state, None, input.into()).await?;
    let row = writer(&state).create(me.producer_id, me.account_id, fields).await?;
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
    match db::find_product(&state.db, id).await? {
        Some(row) if row.producer_id == me.producer_id => Ok(axum::Json(row.into())),
        _ => Err(AppError::NotFound),
    }
}

/// Edits a product. Changing title, description, category or origin of a listed product sends
/// it back to review; prices (recorded in the history) and stock do not.
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
    // Check the patch against the product as it is now; the writer re-reads it under lock and
    // applies the same checked fields.
    let current = match db::find_product(&state.db, id).await? {
        Some(row) if row.producer_id == me.producer_id => row,
        _ => return Err(AppError::NotFound),
    };
    let fields = apply_patch(&state, Some(&current), patch).await?;
    let row = writer(&state).edit(me.producer_id, me.account_id, id, |_| Ok(fields)).await?;
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
    Ok(axum::Json(writer(&state).submit(me.producer_id, id).await?.into()))
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
    Ok(axum::Json(writer(&state).delist(me.producer_id, id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceChangeInput {
    tiers: Vec<Tier>,
    reason: Option<String>,
}

/// Replaces the price ladder. The change is public at once and appended to the history; a
/// price far above its peers or its own 30-day low raises an alert for admins.
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
    let mut errors = FieldErrors::new();
    let ladder = errors.check("tiers", Ladder::parse(input.tiers));
    let reason = input.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > 500) {
        errors.add("reason", "is too long (at most 500 characters)");
    }
    errors.into_result()?;
    let row = writer(&state).set_prices(me.producer_id, me.account_id, id, ladder.expect("checked"), reason).await?;
    Ok(axum::Json(row.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockInput {
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
    Ok(axum::Json(writer(&state).set_stock(me.producer_id, id, stock).await?.into()))
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
    let (limit, after) = pagination::parse::<Uuid>(query.limit, query.cursor.as_deref())?;
    let status = query.status.unwrap_or(ProductStatus::PendingReview);
    let rows = db::list_by_status(&state.db, status, after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(rows, limit, |r| Cursor::encode(&r.id)).map(Product::from)))
}

/// Approves a listing under review: it becomes public.
#[utoipa::path(
    post, path = "/admin/products/{id}/approve", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM))
)]
pub async fn approve(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Product>> {
    Ok(axum::Json(writer(&state).approve(id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectInput {
    reason: String,
}

/// Rejects a listing under review, with the reason the producer will see.
#[utoipa::path(
    post, path = "/admin/products/{id}/reject", tag = "admin", params(("id" = Uuid, Path)), request_body = RejectInput,
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM), (status = 422, body = Problem, content_type = PROBLEM))
)]
pub async fn reject(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<Uuid>,
    Json(input): Json<RejectInput>,
) -> Result<axum::Json<Product>> {
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(FieldErrors::single("reason", "must be 1 to 500 characters"));
    }
    Ok(axum::Json(writer(&state).reject(id, reason).await?.into()))
}

/// Marks a product's certification verified.
#[utoipa::path(
    post, path = "/admin/products/{id}/certification/verify", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM))
)]
pub async fn verify_certification(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Product>> {
    Ok(axum::Json(writer(&state).decide_certification(id, true).await?.into()))
}

/// Marks a product's certification revoked.
#[utoipa::path(
    post, path = "/admin/products/{id}/certification/revoke", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = PROBLEM), (status = 409, body = Problem, content_type = PROBLEM))
)]
pub async fn revoke_certification(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Product>> {
    Ok(axum::Json(writer(&state).decide_certification(id, false).await?.into()))
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
    let (limit, after) = pagination::parse::<Uuid>(query.limit, query.cursor.as_deref())?;
    let rows = db::list_alerts(&state.db, query.resolved.unwrap_or(false), after, limit + 1).await?;
    Ok(axum::Json(Page::from_rows(rows, limit, |a| Cursor::encode(&a.id))))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveInput {
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
    let note = input.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 500) {
        return Err(FieldErrors::single("note", "is too long (at most 500 characters)"));
    }
    match db::resolve_alert(&state.db, id, admin.0.account_id, note).await? {
        Some(alert) => Ok(axum::Json(alert)),
        None if db::alert_exists(&state.db, id).await? => {
            Err(AppError::conflict("invalid_transition", "the alert is already resolved"))
        }
        None => Err(AppError::NotFound),
    }
}
