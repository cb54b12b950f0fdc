//! actix's extractor errors, turned into our problem documents.

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::{HttpRequest, web};

use crate::problem::{ApiError, ErrorCode, FieldError};

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(true)
        .content_type(|mime| mime.type_() == "application" && mime.subtype() == "json")
        .error_handler(|e, _req: &HttpRequest| json_error(e).into())
}

pub fn json_error(e: JsonPayloadError) -> ApiError {
    match e {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::new(ErrorCode::PayloadTooLarge)
                .detail(format!("The body may be at most {limit} bytes."))
        }
        JsonPayloadError::ContentType => ApiError::new(ErrorCode::UnsupportedMediaType),
        JsonPayloadError::Deserialize(de) => serde_error(&de),
        other => ApiError::new(ErrorCode::MalformedJson).source(other.to_string()),
    }
}

/// Syntax errors are 400; well-formed JSON of the wrong shape is 422 with what was expected.
pub fn serde_error(de: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match de.classify() {
        Category::Data => ApiError::new(ErrorCode::InvalidBody).detail(data_error_message(de)),
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(ErrorCode::MalformedJson)
            .detail(format!(
                "Invalid JSON at line {} column {}.",
                de.line(),
                de.column()
            )),
    }
}

/// serde's message without its " at line x column y" suffix, capped so a hostile body cannot
/// make us echo it back at length.
fn data_error_message(de: &serde_json::Error) -> String {
    let msg = de.to_string();
    let msg = msg.split(" at line ").next().unwrap_or_default();
    msg.chars().take(200).collect()
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|e, _req: &HttpRequest| {
        let detail = match &e {
            QueryPayloadError::Deserialize(de) => de.to_string().chars().take(200).collect(),
            _ => "The query string could not be read.".to_owned(),
        };
        ApiError::new(ErrorCode::InvalidQuery).detail(detail).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|_e, _req: &HttpRequest| ApiError::new(ErrorCode::InvalidPath).into())
}

/// `validator` errors as per-field problem entries.
pub fn validation_error(errors: &validator::ValidationErrors) -> ApiError {
    let mut fields: Vec<FieldError> = errors
        .field_errors()
        .into_iter()
        .flat_map(|(field, errs)| {
            errs.iter().map(move |e| FieldError {
                field: field.to_string(),
                message: e
                    .message
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| format!("failed the {} rule", e.code)),
            })
        })
        .collect();
    fields.sort_by(|a, b| a.field.cmp(&b.field));
    ApiError::new(ErrorCode::ValidationFailed).field_errors(fields)
}

pub fn field_error(field: &str, message: impl ToString) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed).field_errors(vec![FieldError {
        field: field.to_owned(),
        message: message.to_string(),
    }])
}

/// Integers that JSON also lets a client write with a zero fraction (`500.0`). JSON Schema's
/// `integer` (what our document promises) includes them, serde's integer types refuse them.
/// Fractions, negatives and values out of range are still refused (422 `invalid_body`).
pub mod integral {
    use serde::de::{Deserialize, Deserializer, Error};

    fn whole<E: Error>(n: &serde_json::Number, max: u64) -> Result<u64, E> {
        let value = match n.as_u64() {
            Some(v) => Some(v),
            // Whole and not negative; `as u128` saturates (1e300), and `try_from` then refuses
            // anything above u64 (2^64 included), so nothing is rounded into range.
            None => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .and_then(|f| u64::try_from(f as u128).ok()),
        };
        value.filter(|v| *v <= max).ok_or_else(|| {
            E::custom(format!(
                "invalid value: {n}, expected an integer from 0 to {max}"
            ))
        })
    }

    pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        whole(&serde_json::Number::deserialize(d)?, u64::MAX)
    }

    pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let v = whole(&serde_json::Number::deserialize(d)?, u64::from(u32::MAX))?;
        u32::try_from(v).map_err(D::Error::custom)
    }

    pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        match Option::<serde_json::Number>::deserialize(d)? {
            None => Ok(None),
            Some(n) => {
                let v = whole(&n, u64::from(u32::MAX))?;
                u32::try_from(v).map(Some).map_err(D::Error::custom)
            }
        }
    }

    pub fn vec_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
        Vec::<serde_json::Number>::deserialize(d)?
            .iter()
            .map(|n| {
                let v = whole(n, u64::from(u32::MAX))?;
                u32::try_from(v).map_err(D::Error::custom)
            })
            .collect()
    }

    #[cfg(test)]
    mod tests {
        #[derive(serde::Deserialize)]
        struct T {
            #[serde(deserialize_with = "super::u32")]
            n: u32,
            #[serde(default, deserialize_with = "super::opt_u32")]
            o: Option<u32>,
        }

        fn parse(s: &str) -> Option<(u32, Option<u32>)> {
            serde_json::from_str::<T>(s).ok().map(|t| (t.n, t.o))
        }

        #[test]
        fn whole_numbers_in_either_spelling_and_nothing_else() {
            assert_eq!(parse(r#"{"n": 5}"#), Some((5, None)));
            assert_eq!(parse(r#"{"n": 5.0, "o": 7.0}"#), Some((5, Some(7))));
            assert_eq!(parse(r#"{"n": 1, "o": null}"#), Some((1, None)));
            assert_eq!(parse(r#"{"n": 5.5}"#), None);
            assert_eq!(parse(r#"{"n": -1}"#), None);
            assert_eq!(parse(r#"{"n": -1.0}"#), None);
            assert_eq!(parse(r#"{"n": 4294967296}"#), None);
            assert_eq!(parse(r#"{"n": 1e300}"#), None);
            assert_eq!(parse(r#"{"n": 4294967295.0}"#), Some((u32::MAX, None)));
            assert_eq!(parse(r#"{"n": "5"}"#), None);
        }
    }
}
