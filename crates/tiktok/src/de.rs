//! Tolerant readers for values TikTok documents as numbers but sometimes sends as strings
//! (§3.6, §6.3). They never fail: garbage becomes `None`, so one odd field cannot sink an
//! otherwise good answer.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A non-negative integer from a JSON number or a numeric string.
pub(crate) fn value_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A signed integer from a JSON number or a numeric string.
pub(crate) fn value_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An id from a JSON integer or string, as decimal text. Floats are refused because they
/// have already lost digits of a 19-digit id.
pub(crate) fn value_id(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// A string from a JSON string or number (`log_id` has been seen as both in the wild).
pub(crate) fn value_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(value_u64(&Value::deserialize(d)?))
}

/// A list of ids; also accepts a single id or `null`.
pub(crate) fn id_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items.iter().filter_map(value_id).collect(),
        other => value_id(&other).into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn big_ids_keep_every_digit() {
        let v: Value = serde_json::from_str("7345678901234567891").expect("json");
        assert_eq!(value_id(&v).as_deref(), Some("7345678901234567891"));
        assert_eq!(
            value_id(&json!("7345678901234567891")).as_deref(),
            Some("7345678901234567891")
        );
        assert_eq!(value_id(&json!(1.5)), None);
    }

    #[test]
    fn numbers_from_strings() {
        assert_eq!(value_u64(&json!("42")), Some(42));
        assert_eq!(value_u64(&json!(42)), Some(42));
        assert_eq!(value_u64(&json!(-1)), None);
        assert_eq!(value_u64(&json!("x")), None);
    }
}
