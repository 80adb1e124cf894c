//! Small serde helpers for venue JSON: fields whose type varies by message or by venue version,
//! read in one pass without building a `serde_json::Value`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// A JSON value of a field that different messages use with different types
/// (Backpack's `a`/`b`: level arrays in depth, price strings in bookTicker; `m`: bool or string ...).
#[derive(Debug)]
pub enum Flex<'a> {
    Null,
    Bool(bool),
    UInt(u64),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// An array of `[price, size]` string pairs.
    Levels(Vec<(&'a str, &'a str)>),
    /// An object or another array shape (not used by the decoders).
    Other,
}

impl<'a> Flex<'a> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Flex::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An unsigned integer given as a JSON number or a decimal string.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Flex::UInt(v) => Some(*v),
            Flex::Int(v) if *v >= 0 => Some(*v as u64),
            Flex::Str(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Flex::Null => "null",
            Flex::Bool(_) => "bool",
            Flex::UInt(_) | Flex::Int(_) => "integer",
            Flex::Float(_) => "float",
            Flex::Str(_) => "string",
            Flex::Levels(_) => "level array",
            Flex::Other => "object",
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Flex<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Flex<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Flex<'a>, E> {
                Ok(Flex::Null)
            }
            fn visit_none<E>(self) -> Result<Flex<'a>, E> {
                Ok(Flex::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Flex<'a>, E> {
                Ok(Flex::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Flex<'a>, E> {
                Ok(Flex::UInt(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Flex<'a>, E> {
                Ok(Flex::Int(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Flex<'a>, E> {
                Ok(Flex::Float(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Flex<'a>, E> {
                Ok(Flex::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Flex<'a>, E> {
                Ok(Flex::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Flex<'a>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(32));
                while let Some(pair) = seq.next_element::<(&'de str, &'de str)>()? {
                    out.push(pair);
                }
                Ok(Flex::Levels(out))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Flex<'a>, A::Error> {
                while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(Flex::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An unsigned integer sent as a JSON number or as a decimal string (Backpack `lastUpdateId`, `E`/`T`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num(pub u64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an unsigned integer or a decimal string")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                u64::try_from(v).map(Num).map_err(|_| E::custom(format!("negative id {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                v.parse().map(Num).map_err(|_| E::custom(format!("not an integer: {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Find the value of `"key":"value"` in raw bytes (for naming the channel of a frame that failed to parse).
pub fn sniff_str<'a>(frame: &'a [u8], key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":\"");
    let pat = pat.as_bytes();
    let start = frame.windows(pat.len()).position(|w| w == pat)? + pat.len();
    let end = frame[start..].iter().position(|&c| c == b'"')? + start;
    std::str::from_utf8(&frame[start..end]).ok().filter(|s| s.len() <= 80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T<'a> {
        #[serde(borrow)]
        a: Flex<'a>,
        n: Num,
    }

    #[test]
    fn flex_and_num() {
        let t: T = serde_json::from_str(r#"{"a":[["1.5","2"]],"n":"17"}"#).unwrap();
        assert!(matches!(t.a, Flex::Levels(ref l) if l == &[("1.5", "2")]));
        assert_eq!(t.n, Num(17));
        let t: T = serde_json::from_str(r#"{"a":"x","n":5}"#).unwrap();
        assert_eq!(t.a.as_str(), Some("x"));
        assert!(serde_json::from_str::<T>(r#"{"a":1,"n":"x"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"a":[[1,2]],"n":1}"#).is_err());
        assert_eq!(sniff_str(br#"{"data":{},"stream":"depth.X"}"#, "stream"), Some("depth.X"));
    }
}
