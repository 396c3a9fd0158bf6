//! Integer fields of JSON bodies that also take a whole number written as a float.
//!
//! The OpenAPI document is JSON Schema 2020-12, where `type: integer` means "a number whose
//! fractional part is zero": `2.0` is that integer as much as `2` is, and a client that writes
//! every number as a float (JavaScript's `JSON.stringify` of a computed value, spreadsheets,
//! schemathesis) sends valid input. serde's integer types refuse it, so the body fields the
//! document calls integers read through these functions:
//!
//! ```ignore
//! #[serde(deserialize_with = "crate::http::whole::int")]
//! stock: i64,
//! #[serde(default, deserialize_with = "crate::http::whole::opt")]
//! year: Option<i32>,
//! ```
//!
//! A float with a fractional part, or one outside the field's type, is refused with serde's
//! own words (`invalid type: floating point `0.5`, expected i64`, `invalid value: ...`), so
//! the 422 reads as it did before.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Unexpected, Visitor};

/// The largest magnitude a float spells exactly: past it `2^53 + 1` and `2^53` are one float.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// An integer field of type `T`: a JSON integer, or a float whose fractional part is zero.
pub fn int<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    deserializer.deserialize_any(WholeVisitor(PhantomData))
}

/// An optional integer field (absent or `null` is `None`); pair it with `#[serde(default)]`.
pub fn opt<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    deserializer.deserialize_option(OptVisitor(PhantomData))
}

struct WholeVisitor<T>(PhantomData<T>);

impl<T> WholeVisitor<T> {
    fn name() -> &'static str {
        std::any::type_name::<T>()
    }
}

impl<'de, T> Visitor<'de> for WholeVisitor<T>
where
    T: TryFrom<i64> + TryFrom<u64>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(Self::name())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        if v.fract() != 0.0 || !v.is_finite() {
            return Err(E::invalid_type(Unexpected::Float(v), &self));
        }
        if v.abs() > EXACT {
            return Err(E::invalid_value(Unexpected::Float(v), &self));
        }
        // Exact: |v| ≤ 2^53 and whole.
        let as_int = v as i64;
        T::try_from(as_int).map_err(|_| E::invalid_value(Unexpected::Float(v), &self))
    }
}

struct OptVisitor<T>(PhantomData<T>);

impl<'de, T> Visitor<'de> for OptVisitor<T>
where
    T: TryFrom<i64> + TryFrom<u64>,
{
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(WholeVisitor::<T>::name())
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        int(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::int")]
        n: i32,
        #[serde(default, deserialize_with = "super::opt")]
        m: Option<i64>,
    }

    fn parse(json: &str) -> Result<Body, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_floats_are_integers_and_fractions_are_not() {
        let b = parse(r#"{"n": 2.0, "m": -0.0}"#).unwrap();
        assert_eq!((b.n, b.m), (2, Some(0)));
        let b = parse(r#"{"n": 7}"#).unwrap();
        assert_eq!((b.n, b.m), (7, None));
        assert_eq!(parse(r#"{"n": 1, "m": null}"#).unwrap().m, None);
        assert_eq!(parse(r#"{"n": 1, "m": 1e3}"#).unwrap().m, Some(1000));
        let err = parse(r#"{"n": 0.5}"#).unwrap_err();
        assert!(err.starts_with("invalid type: floating point `0.5`, expected i32"), "{err}");
        let err = parse(r#"{"n": 3000000000}"#).unwrap_err();
        assert!(err.starts_with("invalid value: integer `3000000000`, expected i32"), "{err}");
        assert!(parse(r#"{"n": 3000000000.0}"#).unwrap_err().starts_with("invalid value: floating point"));
        assert!(parse(r#"{"n": 1e300}"#).unwrap_err().starts_with("invalid value: floating point"));
        assert!(parse(r#"{"n": "1"}"#).unwrap_err().starts_with("invalid type: string \"1\", expected i32"));
    }
}
