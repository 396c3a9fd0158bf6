//! Public catalog replies through the Redis read cache (`crate::cache`), with entity tags: a
//! client that already holds the current version gets 304 and no body.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::cache::Cached;
use crate::error::Result;
use crate::state::AppState;

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

/// The scopes of the catalog's cache (`crate::cache`): each read depends on one, and a write
/// retires the scopes of what it changed, so that the other cached reads stay.
pub mod scope {
    use uuid::Uuid;

    /// A product's page and price history.
    pub fn product(id: Uuid) -> String {
        format!("product:{id}")
    }

    /// A category's lists and price boards.
    pub fn category(id: i64) -> String {
        format!("category:{id}")
    }

    /// Every read that spans categories: unfiltered and keyword lists, the categories and the
    /// producers' profiles.
    pub fn lists() -> String {
        "lists".to_string()
    }

    /// What a change to a product retires: its pages, its category's lists and boards (both
    /// categories', when it moved) and every read that spans categories.
    pub fn of_product(id: Uuid, categories: &[i32]) -> Vec<String> {
        let mut scopes = vec![product(id), lists()];
        scopes.extend(categories.iter().map(|&c| category(i64::from(c))));
        scopes.sort();
        scopes.dedup();
        scopes
    }
}

/// The reply for `what`, which depends on `scope`, from the cache, or `load`'s, rendered once
/// and stored for the next reader. Only successful loads are cached, so errors are always
/// computed afresh.
pub async fn cached<T, F, Fut>(
    state: &AppState,
    headers: &HeaderMap,
    what: &str,
    scope: String,
    load: F,
) -> Result<CachedJson>
where
    T: Serialize,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let cached = state
        .catalog_cache
        .get_or_load(what, std::slice::from_ref(&scope), || async {
            Ok(serde_json::to_vec(&load().await?).map_err(anyhow::Error::from)?)
        })
        .await?;
    Ok(CachedJson { cached, if_none_match: headers.get(header::IF_NONE_MATCH).cloned() })
}
