//! The W3C Trace Context `traceparent` header (https://www.w3.org/TR/trace-context/): when a
//! caller (a proxy, a traced client) sends one, its trace id goes on the request's log lines,
//! so one trace can be followed from the edge into our logs. Nothing else of it is used.

use actix_web::http::header::HeaderMap;

/// The trace id of a valid `traceparent`, or `None`: a malformed header is ignored, as the
/// specification asks (the request is simply not part of a trace).
pub fn trace_id(headers: &HeaderMap) -> Option<String> {
    let mut values = headers.get_all("traceparent");
    let value = values.next()?;
    if values.next().is_some() {
        // Two traceparent headers cannot both be right.
        return None;
    }
    parse_traceparent(value.to_str().ok()?)
}

/// `version-traceid-parentid-flags`: 2, 32, 16 and 2 lowercase hex digits. Version `ff` is
/// invalid; an all-zero trace or parent id is invalid. Version `00` has exactly these four
/// fields; a later version may append `-`-separated fields, which are ignored.
pub fn parse_traceparent(raw: &str) -> Option<String> {
    let raw = raw.trim_matches(|c| c == ' ' || c == '\t');
    let mut fields = raw.splitn(5, '-');
    let version = fields.next()?;
    let trace_id = fields.next()?;
    let parent_id = fields.next()?;
    let flags = fields.next()?;
    let rest = fields.next();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let not_zero = |s: &str| s.bytes().any(|b| b != b'0');
    // Fields a later version appends after the flags are ignored; version 00 has none.
    if !hex(version, 2) || version == "ff" || (version == "00" && rest.is_some()) {
        return None;
    }
    let valid = hex(trace_id, 32)
        && not_zero(trace_id)
        && hex(parent_id, 16)
        && not_zero(parent_id)
        && hex(flags, 2);
    valid.then(|| trace_id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specifications_example_gives_its_trace_id() {
        assert_eq!(parse_traceparent(VALID).as_deref(), Some(TRACE));
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        assert_eq!(parse_traceparent(unsampled).as_deref(), Some(TRACE));
        // Surrounding optional whitespace (OWS) is allowed around a header value.
        assert_eq!(
            parse_traceparent(&format!(" {VALID}\t")).as_deref(),
            Some(TRACE)
        );
    }

    #[test]
    fn malformed_headers_are_ignored() {
        for bad in [
            "",
            "00",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            // Upper-case hex is not allowed.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            // All-zero ids.
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // Version ff is forbidden; versions are hex.
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // Wrong lengths.
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "000-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // Version 00 has exactly four fields.
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            // Not hex, or a log-injection attempt.
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6\"},{\"x\":1-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_later_version_may_add_fields() {
        let future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever";
        assert_eq!(parse_traceparent(future).as_deref(), Some(TRACE));
        let future_bad_flags = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x";
        assert_eq!(parse_traceparent(future_bad_flags), None);
    }

    #[test]
    fn two_headers_are_one_too_many() {
        let name = HeaderName::from_static("traceparent");
        let mut headers = HeaderMap::new();
        assert_eq!(trace_id(&headers), None);
        headers.insert(name.clone(), HeaderValue::from_static(VALID));
        assert_eq!(trace_id(&headers).as_deref(), Some(TRACE));
        headers.append(name, HeaderValue::from_static(VALID));
        assert_eq!(trace_id(&headers), None);
    }
}
