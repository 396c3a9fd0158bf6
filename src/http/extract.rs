//! Extractors that turn every malformed request into a problem+json reply naming the field,
//! instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{AppError, FieldErrors};

/// A JSON body. Syntax errors are 400 `malformed_json`; a body of the wrong shape (unknown
/// field, missing field, wrong type) is 422 with the offending field's path.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = is_json(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(body_rejection)?;
        parse_json(is_json, &bytes).map(Json)
    }
}

/// Whether the request says its body is JSON.
pub fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
        .unwrap_or(false)
}

/// Parses a JSON body the way the `Json` extractor does, for handlers that need the raw bytes
/// too (idempotency keys hash the exact request).
pub fn parse_json<T: DeserializeOwned>(is_json: bool, bytes: &[u8]) -> Result<T, AppError> {
    if !is_json {
        return Err(AppError::UnsupportedMediaType);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(de) {
        Ok(value) => Ok(value),
        Err(err) => {
            let inner = err.inner();
            if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                return Err(AppError::bad_request("malformed_json", format!("the body is not valid JSON: {inner}")));
            }
            let (field, message) = field_and_message(&err.path().to_string(), &strip_position(&inner.to_string()));
            Err(FieldErrors::single(field, message))
        }
    }
}

pub fn body_rejection(rejection: BytesRejection) -> AppError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge
    } else {
        AppError::bad_request("unreadable_body", rejection.body_text())
    }
}

/// serde_json appends " at line L column C", which says nothing to an API client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// serde reports unknown and missing fields at the parent's path with the name in the
/// message; name the field itself so clients can highlight it.
fn field_and_message(path: &str, message: &str) -> (String, String) {
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let parent = if path == "." { "" } else { path };
    let field = match named {
        Some(name) if parent.rsplit('.').next() == Some(name) => parent.to_string(),
        Some(name) if parent.is_empty() => name.to_string(),
        Some(name) => format!("{parent}.{name}"),
        None if parent.is_empty() => "body".to_string(),
        None => parent.to_string(),
    };
    let message =
        if message.starts_with("unknown field `") { "is not a known field".to_string() } else { message.to_string() };
    (printable(&field), printable(&message))
}

/// serde's messages quote the submitted value (`unknown variant `…``), and field names come
/// from the client's keys: control characters in them are written as escapes, so that the
/// problem document (which idempotent requests store in Postgres, where NUL is refused) holds
/// only printable text.
fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// A query string; a bad or unknown parameter is 422 naming it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|err| {
            let (field, message) = field_and_message(&err.path().to_string(), &err.inner().to_string());
            let field = if field == "body" { "query".to_string() } else { field };
            FieldErrors::single(field, message)
        })
    }
}

/// Path parameters; a malformed id is 404, since no resource can have it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|_| AppError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::field_and_message;

    #[test]
    fn unknown_nested_fields_are_named_with_their_path() {
        assert_eq!(field_and_message("organization", "unknown field `x`, expected one of `a`").0, "organization.x");
        assert_eq!(field_and_message(".", "missing field `email`").0, "email");
        assert_eq!(field_and_message("owner.email", "invalid type: integer `1`, expected a string").0, "owner.email");
        assert_eq!(field_and_message("method", "unknown variant `a\0b`").1, "unknown variant `a\\u{0}b`");
    }
}
