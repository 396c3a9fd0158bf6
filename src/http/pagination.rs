//! Keyset pagination: `?limit=&cursor=`, replies `{items, next_cursor}`. Cursors are opaque
//! (base64url JSON of the last row's sort key), so the key can change without breaking clients.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{FieldErrors, Result};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// Checks `limit` (1..=100, default 20) and decodes `cursor` into the sort key it carries.
pub fn parse<K: DeserializeOwned>(limit: Option<i64>, cursor: Option<&str>) -> Result<(i64, Option<K>)> {
    let mut errors = FieldErrors::new();
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        errors.add("limit", msg!("range", min = 1, max = MAX_LIMIT));
    }
    let key = match cursor {
        None => None,
        Some(raw) => errors.check("cursor", Cursor::decode(raw)),
    };
    errors.into_result()?;
    Ok((limit, key))
}

/// A list request's `limit` and `cursor`, checked: how many rows to show and the sort key to
/// continue after. Every list handler goes `ListParams::new` → a db query for `fetch()` rows
/// after `after()` → `page(..)`.
#[derive(Debug, Clone)]
pub struct ListParams<K = Uuid> {
    pub limit: i64,
    after: Option<K>,
}

impl<K: DeserializeOwned + Clone> ListParams<K> {
    /// 422 naming `limit` or `cursor` when either is bad.
    pub fn new(limit: Option<i64>, cursor: Option<&str>) -> Result<Self> {
        let (limit, after) = parse(limit, cursor)?;
        Ok(Self { limit, after })
    }

    /// The sort key of the last row of the previous page.
    pub fn after(&self) -> Option<K> {
        self.after.clone()
    }

    /// How many rows to ask the database for: one more than shown, to know whether there is more.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// The page of up to `fetch()` rows, with a cursor made of the last row's sort key.
    pub fn page<T, C: Serialize>(&self, rows: Vec<T>, key: impl Fn(&T) -> C) -> Page<T> {
        Page::from_rows(rows, self.limit, |row| Cursor::encode(&key(row)))
    }
}

impl ListParams<Uuid> {
    /// A page of rows in id order (UUIDv7: creation order).
    pub fn by_id<T>(&self, rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> Page<T> {
        self.page(rows, id)
    }
}

pub struct Cursor;

impl Cursor {
    pub fn encode<K: Serialize>(key: &K) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).expect("cursor keys serialize"))
    }

    pub fn decode<K: DeserializeOwned>(raw: &str) -> Result<K, crate::i18n::Msg> {
        URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| msg!("cursor-unknown"))
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }

    /// Builds a page from up to `limit + 1` rows: the extra row only says there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more { rows.last().map(key) } else { None };
        Page { items: rows, next_cursor }
    }
}
