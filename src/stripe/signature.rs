//! Stripe's webhook signatures.
//!
//! Stripe signs each delivery with the endpoint's secret and sends
//! `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=<hex>]`, where a `v1` is
//! HMAC-SHA256(secret, "<t>.<raw body>") in lower-case hex. There can be several `v1` (while a
//! secret is being rolled, one per secret); `v0` and unknown schemes are ignored.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far (either way) the signed timestamp may be from now: Stripe's own default, 5 minutes.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// Why a webhook delivery was refused; every one should be answered 400 and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("the Stripe-Signature header has no timestamp or no v1 signature")]
    Malformed,
    #[error("no v1 signature matches the body and the webhook secret")]
    Mismatch,
    #[error("the signature's timestamp is more than {SIGNATURE_TOLERANCE_SECS} s from now")]
    Stale,
}

/// Checks a `Stripe-Signature` header against the raw request body (before any JSON parsing)
/// and the endpoint's secret, at `now_unix`.
///
/// The signature is checked first and the timestamp second, so `Stale` means a genuine but
/// old (or future) delivery, which points at a replay or a wrong clock. The comparison is in
/// constant time.
pub fn verify_signature(header: Option<&str>, body: &[u8], secret: &str, now_unix: i64) -> Result<(), SignatureError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for item in header.split(',') {
        // Like Stripe's own libraries, skip items that are not `key=value`.
        let Some((key, value)) = item.split_once('=') else { continue };
        match key.trim() {
            "t" if timestamp.is_none() => {
                timestamp = Some(value.trim().parse::<i64>().map_err(|_| SignatureError::Malformed)?);
            }
            "t" => return Err(SignatureError::Malformed),
            "v1" => candidates.push(value.trim()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }

    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    // Every candidate is checked, so the time taken does not tell which one matched.
    let matched = candidates
        .iter()
        .filter_map(|hex| decode_hex(hex))
        .fold(false, |found, signature| mac.clone().verify_slice(&signature).is_ok() | found);
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if now_unix.abs_diff(timestamp) > SIGNATURE_TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    fn nibble(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes().chunks(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}
