//! Extractors that turn every malformed request into a problem+json reply naming the field,
//! instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};

use crate::error::{AppError, FieldErrors};
use crate::i18n::Msg;
use crate::state::AppState;

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
    // serde's derived structs also read a JSON array of their fields in order, so `[]` would be
    // a body whose fields are all left out. Every body of this API is an object (the document
    // says so): an array is refused as a wrong type, as a number or a string already is.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let detail = "invalid type: sequence, expected a JSON object";
        return Err(FieldErrors::single("body", msg!("field-invalid-type", detail = detail)));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(de) {
        Ok(value) => Ok(value),
        Err(err) => {
            let inner = err.inner();
            if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                return Err(AppError::bad_request(
                    "malformed_json",
                    msg!("malformed_json", detail = inner.to_string()),
                ));
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
        AppError::bad_request("unreadable_body", msg!("unreadable_body", detail = rejection.body_text()))
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
/// message; name the field itself so clients can highlight it. serde's own words (which quote
/// the value and the expected type) stay in the message as its `detail`, after words of the
/// reader's language saying what kind of mistake it is.
fn field_and_message(path: &str, message: &str) -> (String, Msg) {
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
    let detail = printable(message);
    let message = if message.starts_with("unknown field `") {
        msg!("field-unknown")
    } else if message.starts_with("missing field `") {
        msg!("field-missing")
    } else if message.starts_with("invalid type: ") {
        msg!("field-invalid-type", detail = detail)
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        let expected = rest.split_once("expected ").map(|(_, e)| e.trim_start_matches("one of ")).unwrap_or("");
        msg!("field-unknown-variant", detail = detail.clone(), expected = printable(expected))
    } else {
        msg!("field-invalid", detail = detail)
    };
    (printable(&field), message)
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

/// The client's address: the TCP peer, or, when the peer is one of `server.trusted_proxies`,
/// the nearest `X-Forwarded-For` hop that is not itself trusted. Throttles key on it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .ok_or_else(|| anyhow::anyhow!("the server runs without connect info"))?
            .0
            .ip();
        Ok(ClientIp(client_ip(peer, &parts.headers, &state.settings.server.trusted_proxies)))
    }
}

/// Walks `X-Forwarded-For` (every header, in order; each a comma-separated list) from the
/// right, starting at a trusted peer: each hop a trusted proxy appended is believed, up to the
/// first one that is not a trusted proxy, which is the client. Anything unreadable stops the walk
/// at the last address believed, so a forged or garbled header can only make the client look
/// like one of our proxies, never like someone else.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<Option<&str>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| match value.to_str() {
            Ok(list) => list.split(',').map(|hop| Some(hop.trim())).collect::<Vec<_>>(),
            Err(_) => vec![None],
        })
        .collect();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        let Some(ip) = hop.and_then(|h| h.parse::<IpAddr>().ok()) else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::field_and_message;

    #[test]
    fn the_client_is_the_nearest_untrusted_hop_behind_trusted_proxies() {
        use super::client_ip;
        use axum::http::HeaderMap;
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let xff = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append("x-forwarded-for", v.parse().unwrap());
            }
            h
        };
        // An untrusted peer is the client, whatever it claims.
        assert_eq!(client_ip(ip("203.0.113.9"), &xff(&["198.51.100.1"]), &trusted), ip("203.0.113.9"));
        // Behind two trusted proxies: the first untrusted hop from the right.
        let h = xff(&["6.6.6.6, 198.51.100.7, 10.0.0.5"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("198.51.100.7"));
        // Several headers count as one list, in order.
        let h = xff(&["6.6.6.6", "198.51.100.7", "10.0.0.5"]);
        assert_eq!(client_ip(ip("10.1.1.1"), &h, &trusted), ip("198.51.100.7"));
        // Garbage stops the walk at the last believed hop (a proxy), never further left.
        let h = xff(&["6.6.6.6, not-an-ip, 10.0.0.5"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("10.0.0.5"));
        // A trusted peer without the header is the client.
        assert_eq!(client_ip(ip("10.0.0.2"), &HeaderMap::new(), &trusted), ip("10.0.0.2"));
        // No trusted proxies configured: the header is never read.
        assert_eq!(client_ip(ip("127.0.0.1"), &xff(&["198.51.100.7"]), &[]), ip("127.0.0.1"));
    }

    #[test]
    fn unknown_nested_fields_are_named_with_their_path() {
        assert_eq!(field_and_message("organization", "unknown field `x`, expected one of `a`").0, "organization.x");
        assert_eq!(field_and_message(".", "missing field `email`").0, "email");
        assert_eq!(field_and_message("owner.email", "invalid type: integer `1`, expected a string").0, "owner.email");
        let (_, message) = field_and_message("method", "unknown variant `a\0b`, expected `card`");
        assert_eq!(message.render(crate::i18n::Lang::En), "unknown variant `a\\u{0}b`, expected `card`");
        assert_eq!(field_and_message(".", "missing field `email`").1.render(crate::i18n::Lang::En), "is required");
    }
}
