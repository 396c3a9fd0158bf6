//! Nested values of JSON bodies, read only in the shape the OpenAPI document gives them.
//!
//! serde's derived types are lenient about shape in two ways a client's bug could hide behind:
//! - a struct also reads a sequence of its fields in declaration order, so
//!   `"shipping_address": ["李明", "13800138000", 120101, "…"]` would be an address and
//!   `"invoice": []` an invoice with every field left out;
//! - a unit enum also reads a one-entry object, so `"method": {"card": null}` would be `card`.
//!
//! The document says each of these is an object or a string. `parse_json` refuses an array
//! for the whole body; the nested values read through these functions:
//!
//! ```ignore
//! #[serde(deserialize_with = "crate::http::shape::object")]
//! shipping_address: ShippingAddress,
//! #[serde(default, deserialize_with = "crate::http::shape::opt_object")]
//! invoice: Option<Invoice>,
//! #[serde(deserialize_with = "crate::http::shape::objects")]
//! tiers: Vec<Tier>,
//! #[serde(default, deserialize_with = "crate::http::shape::opt_objects")]
//! lines: Option<Vec<LineInput>>,
//! #[serde(deserialize_with = "crate::http::shape::name")]
//! method: Method,
//! ```
//!
//! The wrong shape is refused with serde's words for any wrong type (`invalid type: sequence,
//! expected a JSON object`), at the value's path, so the 422 names it as for a number sent
//! there.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, IntoDeserializer, MapAccess, Visitor};

/// A nested object.
pub fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Object::deserialize(deserializer).map(|o| o.0)
}

/// An optional nested object (absent or `null` is `None`); pair it with `#[serde(default)]`.
pub fn opt_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<Object<T>>::deserialize(deserializer).map(|o| o.map(|o| o.0))
}

/// An array of nested objects.
pub fn objects<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Vec::<Object<T>>::deserialize(deserializer).map(|v| v.into_iter().map(|o| o.0).collect())
}

/// An optional array of nested objects; pair it with `#[serde(default)]`.
pub fn opt_objects<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<Vec<Object<T>>>::deserialize(deserializer).map(|o| o.map(|v| v.into_iter().map(|o| o.0).collect()))
}

/// A unit-variant enum, written as its name.
pub fn name<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_str(NameVisitor(PhantomData))
}

struct NameVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for NameVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    /// `T` reads the name as it would have from the body, so an unknown one is refused with
    /// the list of known names as before.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::deserialize(v.into_deserializer())
    }
}

/// A `T` that was written as a JSON object.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    /// Hands the object's entries to `T`'s own deserializer, so unknown and missing fields
    /// are refused as before, and each entry is read through the same (path-tracking) access.
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        a: i64,
        b: Option<String>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(deserialize_with = "object")]
        inner: Inner,
        #[serde(default, deserialize_with = "opt_object")]
        maybe: Option<Inner>,
        #[serde(deserialize_with = "objects")]
        list: Vec<Inner>,
        #[serde(default, deserialize_with = "opt_objects")]
        maybe_list: Option<Vec<Inner>>,
        #[serde(default = "Kind::default_", deserialize_with = "name")]
        kind: Kind,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Card,
        Bank,
    }

    impl Kind {
        fn default_() -> Self {
            Kind::Card
        }
    }

    fn path_and_error(json: &str) -> (String, String) {
        let de = &mut serde_json::Deserializer::from_str(json);
        let err = serde_path_to_error::deserialize::<_, Outer>(de).unwrap_err();
        (err.path().to_string(), err.inner().to_string())
    }

    #[test]
    fn nested_objects_read_as_before() {
        let outer: Outer = serde_json::from_str(
            r#"{"inner":{"a":1},"maybe":{"a":2,"b":"x"},"list":[{"a":3}],"maybe_list":[{"a":4},{"a":5,"b":null}]}"#,
        )
        .unwrap();
        assert_eq!(outer.inner, Inner { a: 1, b: None });
        assert_eq!(outer.maybe, Some(Inner { a: 2, b: Some("x".into()) }));
        assert_eq!(outer.list, vec![Inner { a: 3, b: None }]);
        assert_eq!(outer.maybe_list.map(|l| l.len()), Some(2));
        assert_eq!(outer.kind, Kind::Card);

        let bare: Outer = serde_json::from_str(r#"{"inner":{"a":1},"maybe":null,"list":[],"kind":"bank"}"#).unwrap();
        assert_eq!((bare.maybe, bare.maybe_list, bare.kind), (None, None, Kind::Bank));
    }

    #[test]
    fn an_array_where_an_object_belongs_is_refused_at_its_path() {
        for (json, path) in [
            (r#"{"inner":[1,null],"list":[]}"#, "inner"),
            (r#"{"inner":{"a":1},"maybe":[],"list":[]}"#, "maybe"),
            (r#"{"inner":{"a":1},"list":[[3]]}"#, "list[0]"),
            (r#"{"inner":{"a":1},"list":[],"maybe_list":[{"a":1},[2]]}"#, "maybe_list[1]"),
        ] {
            let (at, error) = path_and_error(json);
            assert_eq!(at, path, "{json}");
            assert!(error.starts_with("invalid type: sequence, expected a JSON object"), "{json}: {error}");
        }
    }

    #[test]
    fn a_one_entry_object_where_a_name_belongs_is_refused_and_unknown_names_as_before() {
        let (at, error) = path_and_error(r#"{"inner":{"a":1},"list":[],"kind":{"bank":null}}"#);
        assert_eq!(at, "kind");
        assert!(error.starts_with("invalid type: map, expected a string"), "{error}");

        let (at, error) = path_and_error(r#"{"inner":{"a":1},"list":[],"kind":"cash"}"#);
        assert_eq!(at, "kind");
        assert!(error.starts_with("unknown variant `cash`, expected `card` or `bank`"), "{error}");
    }

    #[test]
    fn unknown_and_missing_fields_of_a_nested_object_are_still_refused_at_its_path() {
        let (at, error) = path_and_error(r#"{"inner":{"a":1,"c":2},"list":[]}"#);
        assert_eq!(at, "inner.c");
        assert!(error.starts_with("unknown field `c`"), "{error}");

        let (at, error) = path_and_error(r#"{"inner":{"a":1},"list":[{"b":"x"}]}"#);
        assert_eq!(at, "list[0]");
        assert!(error.starts_with("missing field `a`"), "{error}");
    }
}
