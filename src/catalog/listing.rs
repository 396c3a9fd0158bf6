//! A product's life: create, edit, submit, review, delist, and its prices and stock. Each
//! change runs in one transaction with the product locked; public reads are invalidated
//! before the commit (a Redis failure aborts the change) and again after it.

use serde::Deserialize;
use serde_json::json;
use sqlx::{Postgres, Transaction};
use utoipa::ToSchema;
use uuid::Uuid;

use super::alerts;
use super::cache::scope;
use super::db::{self, ProductChanges, ProductFields};
use super::model::{
    CertStatus, Certification, CertificationInput, DESCRIPTION_MAX, Ladder, ProductRow, ProductStatus, SPEC_MAX,
    TITLE_MAX, Tier, parse_images, parse_min_order_qty, parse_stock, parse_unit,
};
use super::search;
use crate::accounts::{self, model::OrgStatus};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::pagination::{ListParams, Page};
use crate::i18n::Msg;
use crate::identity::CurrentUser;
use crate::regions::{self, model::Adcode};
use crate::state::AppState;
use crate::text;
use crate::trail::Entry;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    #[serde(deserialize_with = "crate::http::whole::int")]
    #[schema(minimum = 1, maximum = 2147483647)]
    category_id: i64,
    #[schema(
        min_length = 1,
        max_length = 120,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    title: String,
    #[serde(default)]
    #[schema(max_length = 5000, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    description: String,
    /// A Gansu county adcode.
    #[serde(deserialize_with = "crate::http::whole::int")]
    #[schema(minimum = 100000, maximum = 999999)]
    origin_adcode: i64,
    /// 斤, kg, g, 箱, 袋, 瓶, 盒, 罐, 桶, 包, 只, 个, 件, 份, 提, 条, 束
    unit: String,
    #[serde(default)]
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    spec: String,
    #[serde(deserialize_with = "crate::http::whole::int")]
    #[schema(minimum = 0, maximum = 1000000)]
    stock: i64,
    #[serde(default)]
    #[schema(max_items = 10)]
    images: Vec<String>,
    #[serde(default = "one", deserialize_with = "crate::http::whole::int")]
    #[schema(minimum = 1, maximum = 1000000)]
    min_order_qty: i64,
    #[schema(min_items = 1, max_items = 10)]
    #[serde(deserialize_with = "crate::http::shape::objects")]
    tiers: Vec<Tier>,
    #[serde(default, deserialize_with = "crate::http::shape::opt_object")]
    certification: Option<CertificationInput>,
}

fn one() -> i64 {
    1
}

/// Any subset of a product's fields; what is absent stays as it is.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[serde(default, deserialize_with = "crate::http::whole::opt")]
    #[schema(minimum = 1, maximum = 2147483647)]
    category_id: Option<i64>,
    #[schema(
        min_length = 1,
        max_length = 120,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    title: Option<String>,
    #[schema(max_length = 5000, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    description: Option<String>,
    #[serde(default, deserialize_with = "crate::http::whole::opt")]
    #[schema(minimum = 100000, maximum = 999999)]
    origin_adcode: Option<i64>,
    unit: Option<String>,
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    spec: Option<String>,
    #[serde(default, deserialize_with = "crate::http::whole::opt")]
    #[schema(minimum = 0, maximum = 1000000)]
    stock: Option<i64>,
    #[schema(max_items = 10)]
    images: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::http::whole::opt")]
    #[schema(minimum = 1, maximum = 1000000)]
    min_order_qty: Option<i64>,
    #[schema(min_items = 1, max_items = 10)]
    #[serde(default, deserialize_with = "crate::http::shape::opt_objects")]
    tiers: Option<Vec<Tier>>,
    /// Replaces the certification; its verification starts over.
    #[serde(default, deserialize_with = "crate::http::shape::opt_object")]
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

/// A patch's fields, each checked; `None` where the patch leaves the field as it is.
#[derive(Default)]
struct Checked {
    category_id: Option<i32>,
    title: Option<String>,
    description: Option<String>,
    origin_adcode: Option<i32>,
    unit: Option<String>,
    spec: Option<String>,
    stock: Option<i32>,
    images: Option<Vec<String>>,
    min_order_qty: Option<i32>,
    tiers: Option<Ladder>,
    certification: Option<Certification>,
}

/// Checks every field a patch (or a new product's input) gives, every bad field reported at
/// once. What it checks does not depend on the product's current fields, so it runs before
/// the product is locked.
async fn check(state: &AppState, p: ProductPatch) -> Result<Checked> {
    let mut errors = FieldErrors::new();
    let mut checked = check_values(&p, &mut errors);
    checked.category_id = check_category(state, p.category_id, &mut errors).await?;
    checked.origin_adcode = check_origin(state, p.origin_adcode, &mut errors).await?;
    errors.into_result()?;
    Ok(checked)
}

/// The checks that need no database.
fn check_values(p: &ProductPatch, errors: &mut FieldErrors) -> Checked {
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
    Checked {
        title: p.title.as_deref().and_then(|t| errors.check("title", required_text(t, TITLE_MAX))),
        description: p
            .description
            .as_deref()
            .and_then(|d| errors.check("description", text::trimmed(d, DESCRIPTION_MAX))),
        spec: p.spec.as_deref().and_then(|s| errors.check("spec", text::trimmed(s, SPEC_MAX))),
        unit: p.unit.as_deref().and_then(|u| errors.check("unit", parse_unit(u))),
        stock: p.stock.and_then(|s| errors.check("stock", parse_stock(s))),
        min_order_qty: p.min_order_qty.and_then(|m| errors.check("min_order_qty", parse_min_order_qty(m))),
        images: p.images.as_deref().and_then(|i| errors.check("images", parse_images(i))),
        tiers: p.tiers.clone().and_then(|t| errors.check("tiers", Ladder::parse(t))),
        certification,
        ..Checked::default()
    }
}

/// A known category, or an error under `category_id`.
async fn check_category(state: &AppState, raw: Option<i64>, errors: &mut FieldErrors) -> Result<Option<i32>> {
    let Some(raw) = raw else { return Ok(None) };
    match i32::try_from(raw).ok() {
        Some(c) if db::find_category(&state.db, c).await?.is_some() => Ok(Some(c)),
        _ => {
            errors.add("category_id", msg!("no-such-category"));
            Ok(None)
        }
    }
}

/// A Gansu county, or an error under `origin_adcode`.
async fn check_origin(state: &AppState, raw: Option<i64>, errors: &mut FieldErrors) -> Result<Option<i32>> {
    let Some(raw) = raw else { return Ok(None) };
    match Adcode::parse(raw) {
        Ok(a) if regions::is_gansu_county(&state.db, a).await? => Ok(Some(a.get())),
        _ => {
            errors.add("origin_adcode", msg!("gansu-county"));
            Ok(None)
        }
    }
}

/// The product's certification as stored.
fn stored_certification(row: &ProductRow) -> Option<Certification> {
    row.cert_number.as_ref().map(|number| Certification {
        number: number.clone(),
        issuer: row.cert_issuer.clone().unwrap_or_default(),
        valid_from: row.cert_valid_from.unwrap_or_default(),
        valid_until: row.cert_valid_until.unwrap_or_default(),
    })
}

/// A new product's fields: every required one came from `ProductInput`.
fn new_fields(c: Checked) -> ProductFields {
    let title = c.title.unwrap_or_default();
    let description = c.description.unwrap_or_default();
    let search_grams = search::grams(&format!("{title} {description}"));
    ProductFields {
        category_id: c.category_id.unwrap_or_default(),
        title,
        description,
        origin_adcode: c.origin_adcode.unwrap_or_default(),
        unit: c.unit.unwrap_or_default(),
        spec: c.spec.unwrap_or_default(),
        stock: c.stock.unwrap_or_default(),
        images: c.images.unwrap_or_default(),
        min_order_qty: c.min_order_qty.unwrap_or(1),
        tiers: c.tiers.map(|l| l.tiers().to_vec()).unwrap_or_default(),
        cert_status: c.certification.as_ref().map(|_| CertStatus::Unverified),
        certification: c.certification,
        search_grams,
    }
}

/// What a patch changes, judged against the product as locked: only fields the request gives
/// and that differ are written, so that a concurrent order's stock, an admin's certification
/// decision or another edit is never written back from an older read. A replaced
/// certification is checked again by an admin.
fn changes(c: Checked, current: &ProductRow) -> ProductChanges {
    fn differing<T: PartialEq>(new: Option<T>, old: &T) -> Option<T> {
        new.filter(|n| n != old)
    }
    let stored = stored_certification(current);
    let title = differing(c.title, &current.title);
    let description = differing(c.description, &current.description);
    let search_grams = (title.is_some() || description.is_some()).then(|| {
        let title = title.as_ref().unwrap_or(&current.title);
        let description = description.as_ref().unwrap_or(&current.description);
        search::grams(&format!("{title} {description}"))
    });
    // The same certification sent again is no change: it keeps its status, revoked included.
    let certification = c.certification.filter(|cert| Some(cert) != stored.as_ref());
    ProductChanges {
        category_id: differing(c.category_id, &current.category_id),
        title,
        description,
        origin_adcode: differing(c.origin_adcode, &current.origin_adcode),
        unit: differing(c.unit, &current.unit),
        spec: differing(c.spec, &current.spec),
        stock: differing(c.stock, &current.stock),
        images: differing(c.images, &current.images),
        min_order_qty: differing(c.min_order_qty, &current.min_order_qty),
        tiers: differing(c.tiers.map(|l| l.tiers().to_vec()), &current.tiers.0),
        certification,
        search_grams,
    }
}

/// Trimmed, non-empty text of at most `max` characters.
fn required_text(raw: &str, max: usize) -> Result<String, Msg> {
    let value = text::trimmed(raw, max)?;
    if value.is_empty() { Err(msg!("text-empty")) } else { Ok(value) }
}

/// Commits a write to one product: its public reads (`scope::of_product`: its pages, its
/// categories' lists and boards, the lists across categories) are retired before and after the
/// commit; other products' pages stay cached.
async fn commit(state: &AppState, tx: Transaction<'_, Postgres>, id: Uuid, categories: &[i32]) -> Result<()> {
    state.catalog_cache.commit_scoped(tx, &scope::of_product(id, categories)).await
}

/// Inserts a new product. The route let only a verified producer in, but an admin may suspend
/// it before the insert commits, and the suspension hides only the products it can see: so the
/// producer's status is read again here under a share lock, which makes the suspension wait
/// for this insert (and then hide the new product too) or this insert wait for the suspension
/// (and then refuse).
#[tracing::instrument(level = "debug", skip(state, fields))]
pub async fn create(state: &AppState, producer_id: Uuid, actor: Uuid, fields: ProductFields) -> Result<ProductRow> {
    let mut tx = state.db.begin().await?;
    match accounts::share_lock_status(&mut tx, producer_id).await? {
        Some(OrgStatus::Verified) => {}
        Some(OrgStatus::Suspended) => {
            return Err(AppError::forbidden("producer_suspended", msg!("producer_suspended")));
        }
        _ => return Err(AppError::forbidden("producer_not_verified", msg!("producer_not_verified"))),
    }
    let row = db::insert_product(&mut tx, producer_id, true, &fields).await?;
    db::insert_price_change(&mut tx, row.id, actor, None, &fields.tiers, None).await?;
    alerts::check(&mut tx, &state.settings.catalog, &row, None).await?;
    commit(state, tx, row.id, &[row.category_id]).await?;
    Ok(row)
}

async fn before(tx: &mut Transaction<'_, Postgres>, current: &ProductRow) -> Result<alerts::Before> {
    let low = db::lowest_price_30d(&mut **tx, current.id).await?.unwrap_or(current.retail_price_fen);
    Ok(alerts::Before { retail_fen: current.retail_price_fen, low_30d_fen: low })
}

/// The producer's own product, locked; 404 for anyone else's.
async fn own(tx: &mut Transaction<'_, Postgres>, producer_id: Uuid, id: Uuid) -> Result<ProductRow> {
    match db::lock_product(tx, id).await? {
        Some(row) if row.producer_id == producer_id => Ok(row),
        _ => Err(AppError::NotFound),
    }
}

/// Applies a checked patch to the product as locked. Changing what buyers judge a listing by
/// (title, description, category, origin, and what they get for the price: images, unit, spec,
/// minimum order) sends a listed product back to review, so that an approved listing cannot
/// be swapped for another behind its approval; prices and stock do not.
#[tracing::instrument(level = "debug", skip(state, checked))]
async fn edit(state: &AppState, producer_id: Uuid, actor: Uuid, id: Uuid, checked: Checked) -> Result<ProductRow> {
    let mut tx = state.db.begin().await?;
    let current = own(&mut tx, producer_id, id).await?;
    let changes = changes(checked, &current);
    let needs_review = changes.title.is_some()
        || changes.description.is_some()
        || changes.category_id.is_some()
        || changes.origin_adcode.is_some()
        || changes.images.is_some()
        || changes.unit.is_some()
        || changes.spec.is_some()
        || changes.min_order_qty.is_some();
    let status = match current.status {
        ProductStatus::Listed if needs_review => ProductStatus::PendingReview,
        status => status,
    };
    let before = before(&mut tx, &current).await?;
    let updated = db::update_product(&mut tx, id, &changes, status).await?;
    if let Some(tiers) = &changes.tiers {
        db::insert_price_change(&mut tx, id, actor, Some(&current.tiers.0), tiers, None).await?;
        alerts::check(&mut tx, &state.settings.catalog, &updated, Some(before)).await?;
    }
    commit(state, tx, id, &[current.category_id, updated.category_id]).await?;
    Ok(updated)
}

#[tracing::instrument(level = "debug", skip(state, ladder))]
pub async fn set_prices(
    state: &AppState,
    producer_id: Uuid,
    actor: Uuid,
    id: Uuid,
    ladder: Ladder,
    reason: Option<&str>,
) -> Result<ProductRow> {
    let mut tx = state.db.begin().await?;
    let current = own(&mut tx, producer_id, id).await?;
    if current.tiers.0 == ladder.tiers() {
        return Ok(current);
    }
    let before = before(&mut tx, &current).await?;
    let updated = db::set_tiers(&mut tx, id, ladder.tiers()).await?;
    db::insert_price_change(&mut tx, id, actor, Some(&current.tiers.0), ladder.tiers(), reason).await?;
    alerts::check(&mut tx, &state.settings.catalog, &updated, Some(before)).await?;
    commit(state, tx, id, &[current.category_id]).await?;
    Ok(updated)
}

#[tracing::instrument(level = "debug", skip(state))]
pub async fn set_stock(state: &AppState, producer_id: Uuid, id: Uuid, stock: i32) -> Result<ProductRow> {
    let mut tx = state.db.begin().await?;
    let current = own(&mut tx, producer_id, id).await?;
    let updated = db::set_stock(&mut *tx, id, stock).await?;
    commit(state, tx, id, &[current.category_id]).await?;
    Ok(updated)
}

/// Who moves a product between statuses: its producer (its own products only), or an admin
/// reviewing the listing, whose decision is audit-logged as `action`.
enum By<'a> {
    Producer(Uuid),
    Reviewer { admin: &'a CurrentUser, action: &'static str },
}

/// Moves a product between statuses when `allowed` says the move is legal from where it is.
async fn transition(
    state: &AppState,
    by: By<'_>,
    id: Uuid,
    allowed: &[ProductStatus],
    to: ProductStatus,
    reason: Option<&str>,
) -> Result<ProductRow> {
    let mut tx = state.db.begin().await?;
    let current = match by {
        By::Producer(p) => own(&mut tx, p, id).await?,
        By::Reviewer { .. } => db::lock_product(&mut tx, id).await?.ok_or(AppError::NotFound)?,
    };
    if !allowed.contains(&current.status) {
        return Err(AppError::conflict(
            "invalid_transition",
            msg!(
                "product-transition",
                from = format!("{:?}", current.status).to_lowercase(),
                to = format!("{to:?}").to_lowercase()
            ),
        ));
    }
    let updated = db::set_status(&mut tx, id, to, reason).await?;
    let entries = match by {
        By::Producer(_) => Vec::new(),
        By::Reviewer { admin, action } => vec![Entry::new(admin, action, "product", id).detail(json!({
            "producer_id": current.producer_id,
            "title": current.title,
            "from": current.status,
            "to": to,
            "reason": reason,
        }))],
    };
    state.catalog_cache.commit_audited_scoped(tx, entries, &scope::of_product(id, &[current.category_id])).await?;
    Ok(updated)
}

pub async fn submit(state: &AppState, producer_id: Uuid, id: Uuid) -> Result<ProductRow> {
    use ProductStatus::*;
    transition(state, By::Producer(producer_id), id, &[Draft, Rejected, Delisted], PendingReview, None).await
}

pub async fn delist(state: &AppState, producer_id: Uuid, id: Uuid) -> Result<ProductRow> {
    use ProductStatus::*;
    transition(state, By::Producer(producer_id), id, &[Listed, PendingReview], Delisted, None).await
}

/// An admin approves a listing under review (audit-logged as `listing.approve`).
pub async fn approve(state: &AppState, admin: &CurrentUser, id: Uuid) -> Result<ProductRow> {
    let by = By::Reviewer { admin, action: "listing.approve" };
    transition(state, by, id, &[ProductStatus::PendingReview], ProductStatus::Listed, None).await
}

/// An admin rejects a listing under review, with a reason (audit-logged as `listing.reject`).
pub async fn reject(state: &AppState, admin: &CurrentUser, id: Uuid, reason: &str) -> Result<ProductRow> {
    let by = By::Reviewer { admin, action: "listing.reject" };
    transition(state, by, id, &[ProductStatus::PendingReview], ProductStatus::Rejected, Some(reason)).await
}

/// Marks the product's certification verified or revoked; audit-logged as
/// `certification.verify` / `certification.revoke` with the certificate's number and issuer.
#[tracing::instrument(level = "debug", skip(state, admin), fields(admin = %admin.account_id))]
pub async fn decide_certification(state: &AppState, admin: &CurrentUser, id: Uuid, verify: bool) -> Result<ProductRow> {
    let mut tx = state.db.begin().await?;
    let current = db::lock_product(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    let Some(status) = current.cert_status else {
        return Err(AppError::conflict("no_certification", msg!("no_certification")));
    };
    let to = if verify { CertStatus::Verified } else { CertStatus::Revoked };
    if status == to {
        return Err(AppError::conflict("invalid_transition", msg!("certification-already", status = status.as_str())));
    }
    let updated = db::set_cert_status(&mut tx, id, to).await?;
    let action = if verify { "certification.verify" } else { "certification.revoke" };
    let entry = Entry::new(admin, action, "product", id).detail(json!({
        "producer_id": current.producer_id,
        "number": current.cert_number,
        "issuer": current.cert_issuer,
        "from": status.as_str(),
        "to": to.as_str(),
    }));
    state.catalog_cache.commit_audited_scoped(tx, vec![entry], &scope::of_product(id, &[current.category_id])).await?;
    Ok(updated)
}

/// Creates a draft product from a full input; its first ladder starts its price history.
pub async fn create_from(state: &AppState, producer_id: Uuid, actor: Uuid, input: ProductInput) -> Result<ProductRow> {
    let fields = new_fields(check(state, input.into()).await?);
    create(state, producer_id, actor, fields).await
}

/// One of the producer's own products; 404 for anyone else's.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn own_product(state: &AppState, producer_id: Uuid, id: Uuid) -> Result<ProductRow> {
    match db::find_product(&state.db, id).await? {
        Some(row) if row.producer_id == producer_id => Ok(row),
        _ => Err(AppError::NotFound),
    }
}

/// Checks a patch's fields, then applies them to the product as it is once locked (never to
/// an earlier read: orders take stock and admins revoke certifications meanwhile).
pub async fn patch(
    state: &AppState,
    producer_id: Uuid,
    actor: Uuid,
    id: Uuid,
    patch: ProductPatch,
) -> Result<ProductRow> {
    // Someone else's product is 404 before its fields are judged.
    own_product(state, producer_id, id).await?;
    let checked = check(state, patch).await?;
    edit(state, producer_id, actor, id, checked).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceChangeInput {
    #[schema(min_items = 1, max_items = 10)]
    #[serde(deserialize_with = "crate::http::shape::objects")]
    tiers: Vec<Tier>,
    #[schema(max_length = 500, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    reason: Option<String>,
}

/// Checks and applies a new price ladder with its optional reason.
pub async fn change_prices(
    state: &AppState,
    producer_id: Uuid,
    actor: Uuid,
    id: Uuid,
    input: PriceChangeInput,
) -> Result<ProductRow> {
    let mut errors = FieldErrors::new();
    let ladder = errors.check("tiers", Ladder::parse(input.tiers));
    let reason = errors.check("reason", text::optional(input.reason.as_deref(), text::limits::REASON));
    match (ladder, reason) {
        (Some(ladder), Some(reason)) if errors.is_empty() => {
            set_prices(state, producer_id, actor, id, ladder, reason.as_deref()).await
        }
        _ => Err(errors.into_error()),
    }
}

/// A page of the producer's own products, in every status (or one).
#[tracing::instrument(level = "debug", skip(state))]
pub async fn for_producer(
    state: &AppState,
    producer_id: Uuid,
    status: Option<ProductStatus>,
    page: &ListParams,
) -> Result<Page<ProductRow>> {
    let rows = db::list_for_producer(&state.db, producer_id, status, page.after(), page.fetch()).await?;
    Ok(page.by_id(rows, |r| r.id))
}

/// A page of products in one status (the admin review queue), oldest first.
#[tracing::instrument(level = "debug", skip(state))]
pub async fn by_status(state: &AppState, status: ProductStatus, page: &ListParams) -> Result<Page<ProductRow>> {
    let rows = db::list_by_status(&state.db, status, page.after(), page.fetch()).await?;
    Ok(page.by_id(rows, |r| r.id))
}
