//! Decoding of TikTok's two response shapes (§8): the OAuth shape (flat, `error` is a
//! string) and the v2 envelope (`{data, error: {code, message, log_id|logid}}`).
//! Both branch on the body, not on the HTTP status, because TikTok answers some errors
//! with HTTP 200 (§1.5, §3.2, §4.2).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{
    ApiErrorCode, DecodeError, OAuthErrorCode, TikTokError,
    de::{value_string, value_u64},
};

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

fn decode(http_status: u16, source: DecodeError) -> TikTokError {
    TikTokError::Decode {
        http_status,
        source,
    }
}

pub(crate) fn parse_json(status: u16, body: &[u8]) -> Result<Value, TikTokError> {
    serde_json::from_slice(body).map_err(|e| decode(status, DecodeError::Json(e)))
}

/// `log_id` per the examples, `logid` per the reference tables (§3).
fn log_id(obj: &Map<String, Value>) -> Option<String> {
    obj.get("log_id")
        .or_else(|| obj.get("logid"))
        .and_then(value_string)
        .filter(|s| !s.is_empty())
}

fn text(obj: &Map<String, Value>, key: &str) -> String {
    obj.get(key).and_then(value_string).unwrap_or_default()
}

/// The error a JSON body describes, in either shape, if it describes one.
pub(crate) fn error_in(status: u16, body: &Value) -> Option<TikTokError> {
    let obj = body.as_object()?;
    match obj.get("error")? {
        Value::String(code) if !code.is_empty() => Some(TikTokError::OAuth {
            error: OAuthErrorCode::parse(code),
            description: text(obj, "error_description"),
            log_id: log_id(obj),
            http_status: status,
        }),
        Value::Object(err) => {
            let code = err.get("code").and_then(value_string)?;
            (code != "ok").then(|| TikTokError::Api {
                code: ApiErrorCode::parse(&code),
                http_status: status,
                message: text(err, "message"),
                log_id: log_id(err),
            })
        }
        _ => None,
    }
}

/// `data` of a successful v2 answer, or the error it carries.
pub(crate) fn parse_v2<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, TikTokError> {
    let value = parse_json(status, body)?;
    if let Some(err) = error_in(status, &value) {
        return Err(err);
    }
    if !is_success(status) {
        return Err(decode(status, DecodeError::StatusMismatch));
    }
    let data = match value.get("data") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(data) => data.clone(),
    };
    serde_json::from_value(data).map_err(|e| decode(status, DecodeError::Json(e)))
}

/// Success of an endpoint whose success body is empty or `{}` (revoke, §1.6).
pub(crate) fn parse_empty_ok(status: u16, body: &[u8]) -> Result<(), TikTokError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if is_success(status) {
            Ok(())
        } else {
            Err(decode(status, DecodeError::Missing("error")))
        };
    }
    let value = parse_json(status, body)?;
    if let Some(err) = error_in(status, &value) {
        return Err(err);
    }
    if is_success(status) {
        Ok(())
    } else {
        Err(decode(status, DecodeError::StatusMismatch))
    }
}

/// Non-negative seconds from a number or numeric string.
pub(crate) fn seconds(obj: &Map<String, Value>, key: &str) -> Option<u64> {
    obj.get(key).and_then(value_u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Default)]
    #[serde(default)]
    struct Data {
        publish_id: Option<String>,
    }

    fn api_code(r: Result<Data, TikTokError>) -> (ApiErrorCode, u16, Option<String>) {
        match r {
            Err(TikTokError::Api {
                code,
                http_status,
                log_id,
                ..
            }) => (code, http_status, log_id),
            other => panic!("expected Api error, got {other:?}"),
        }
    }

    #[test]
    fn ok_envelope_yields_data() {
        let body = br#"{"data":{"publish_id":"v_pub_url~v2.1"},"error":{"code":"ok","message":"","log_id":"x"}}"#;
        let data: Data = parse_v2(200, body).expect("ok");
        assert_eq!(data.publish_id.as_deref(), Some("v_pub_url~v2.1"));
    }

    #[test]
    fn error_with_empty_data_and_either_log_id_spelling() {
        let body = br#"{"data":{},"error":{"code":"access_token_invalid","message":"expired","log_id":"L1"}}"#;
        assert_eq!(
            api_code(parse_v2(401, body)),
            (ApiErrorCode::AccessTokenInvalid, 401, Some("L1".into()))
        );
        let body = br#"{"data":{},"error":{"code":"invalid_param","message":"","logid":"L2"}}"#;
        assert_eq!(
            api_code(parse_v2(400, body)),
            (ApiErrorCode::InvalidParams, 400, Some("L2".into()))
        );
    }

    #[test]
    fn http_200_with_error_code_is_an_error() {
        let body =
            br#"{"data":{},"error":{"code":"spam_risk_too_many_posts","message":"","log_id":"L"}}"#;
        let (code, status, _) = api_code(parse_v2(200, body));
        assert_eq!(code, ApiErrorCode::SpamRiskTooManyPosts);
        assert_eq!(status, 200);
    }

    #[test]
    fn unknown_code_is_kept() {
        let body = br#"{"error":{"code":"new_thing","message":"m"}}"#;
        let (code, _, log) = api_code(parse_v2(400, body));
        assert_eq!(code, ApiErrorCode::Unknown("new_thing".into()));
        assert_eq!(log, None);
    }

    #[test]
    fn garbage_and_html_are_decode_errors() {
        let r: Result<Data, _> = parse_v2(502, b"<html>bad gateway</html>");
        match r {
            Err(e @ TikTokError::Decode { .. }) => assert!(e.is_retryable()),
            other => panic!("{other:?}"),
        }
        let r: Result<Data, _> = parse_v2(500, br#"{"data":{}}"#);
        assert!(matches!(r, Err(TikTokError::Decode { .. })));
    }

    #[test]
    fn oauth_shape_in_v2_endpoint_is_understood() {
        let body = br#"{"error":"invalid_client","error_description":"bad key","log_id":"L"}"#;
        let r: Result<Data, _> = parse_v2(200, body);
        assert!(matches!(
            r,
            Err(TikTokError::OAuth {
                error: OAuthErrorCode::InvalidClient,
                ..
            })
        ));
    }

    #[test]
    fn empty_ok_bodies() {
        assert!(parse_empty_ok(200, b"").is_ok());
        assert!(parse_empty_ok(200, b"{}").is_ok());
        assert!(parse_empty_ok(200, br#"{"error":"invalid_request"}"#).is_err());
        assert!(parse_empty_ok(500, b"").is_err());
    }
}
