//! Request parameters gathered from the query string, multipart text
//! fields and a JSON body, deserialised into the handler's typed struct.
//!
//! Text values (query, form) are typed by the field they fill, not guessed:
//! `key=12345` is the string "12345" for a `String` field and the number
//! 12345 for an integer field; a list or object field parses its text as
//! JSON. JSON body values keep their JSON types.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde_json::Value;

/// One parameter's value and where it came from.
#[derive(Debug)]
pub struct Param {
    value: Value,
    /// From a query string or form field: untyped text.
    text: bool,
}

impl Param {
    /// Untyped text from the query string or a form field.
    pub fn text(text: &str) -> Self {
        Self {
            value: Value::String(text.to_string()),
            text: true,
        }
    }

    /// A typed value from a JSON body.
    pub fn json(value: Value) -> Self {
        Self { value, text: false }
    }
}

/// Deserialises `params` (name → value) into `P`.
pub fn deserialize<P: DeserializeOwned>(
    params: Vec<(String, Param)>,
) -> Result<P, serde_json::Error> {
    P::deserialize(Params(params))
}

struct Params(Vec<(String, Param)>);

impl<'de> de::Deserializer<'de> for Params {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(Fields {
            items: self.0.into_iter(),
            next: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct Fields {
    items: std::vec::IntoIter<(String, Param)>,
    next: Option<Param>,
}

impl<'de> MapAccess<'de> for Fields {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.items.next() {
            Some((name, param)) => {
                self.next = Some(param);
                seed.deserialize(name.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let param = self
            .next
            .take()
            .ok_or_else(|| de::Error::custom("a value without a name"))?;
        if param.text {
            seed.deserialize(Text(param.value))
        } else {
            seed.deserialize(param.value)
        }
    }
}

/// A text value that becomes what the field asks for.
struct Text(Value);

impl Text {
    /// The text read as JSON (a number, a boolean, a list…), or the text
    /// itself when it is not JSON.
    fn parsed(self) -> Value {
        match &self.0 {
            Value::String(s) => serde_json::from_str(s).unwrap_or(self.0),
            _ => self.0,
        }
    }
}

macro_rules! typed_from_text {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.parsed().$method(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Text {
    type Error = serde_json::Error;

    /// A field that takes any JSON (metadata): the text as JSON when it is.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.parsed().deserialize_any(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_str(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_string(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    /// `true`/`false` in any case: form encoders of some languages write
    /// Python's `True`.
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match &self.0 {
            Value::String(s) if s.eq_ignore_ascii_case("true") => visitor.visit_bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => visitor.visit_bool(false),
            _ => self.parsed().deserialize_bool(visitor),
        }
    }

    typed_from_text! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_seq deserialize_map
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.parsed().deserialize_struct(name, fields, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.parsed().deserialize_tuple(len, visitor)
    }

    serde::forward_to_deserialize_any! {
        char bytes byte_buf unit unit_struct newtype_struct tuple_struct
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Example {
        key: String,
        top_k: Option<usize>,
        threshold: f32,
        all_faces: bool,
        embedding: Option<Vec<f32>>,
        metadata: Option<Value>,
    }

    #[test]
    fn text_takes_the_type_of_its_field() {
        let params = vec![
            ("key".to_string(), Param::text("12345")),
            ("top_k".to_string(), Param::text("3")),
            ("threshold".to_string(), Param::text("0.5")),
            ("all_faces".to_string(), Param::text("True")),
            ("embedding".to_string(), Param::text("[1, 2.5]")),
            ("metadata".to_string(), Param::text(r#"{"team": "ops"}"#)),
        ];
        let e: Example = deserialize(params).unwrap();
        assert_eq!(e.key, "12345");
        assert_eq!(e.top_k, Some(3));
        assert_eq!((e.threshold, e.all_faces), (0.5, true));
        assert_eq!(e.embedding, Some(vec![1.0, 2.5]));
        assert_eq!(e.metadata, Some(serde_json::json!({"team": "ops"})));
    }

    #[test]
    fn json_values_keep_their_types_and_bad_text_is_an_error() {
        let params = vec![
            ("key".to_string(), Param::json(serde_json::json!(12345))),
            ("threshold".to_string(), Param::text("0.5")),
            ("all_faces".to_string(), Param::text("false")),
        ];
        // A JSON number is not a string key.
        assert!(deserialize::<Example>(params).is_err());
        let params = vec![
            ("key".to_string(), Param::text("a")),
            ("threshold".to_string(), Param::text("half")),
            ("all_faces".to_string(), Param::text("false")),
        ];
        let err = deserialize::<Example>(params).unwrap_err().to_string();
        assert!(err.contains("half"), "{err}");
    }
}
