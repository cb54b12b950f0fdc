//! Reading a request's whole body before it may take an in-flight permit, so a client that
//! sends headers and then stalls holds nothing but its own connection.

use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::problem::{ApiError, ErrorCode};

/// Reads the body into memory (at most `limit` bytes, within `timeout`) and puts it back, so
/// extractors and handlers (the webhook's signature check over the raw bytes too) read it as
/// if it came from the socket. A request without a body passes straight through.
pub async fn buffer(
    req: &mut ServiceRequest,
    limit: usize,
    timeout: Duration,
) -> Result<(), ApiError> {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let payload = req.take_payload();
    if matches!(payload, Payload::None) {
        return Ok(());
    }
    let body = read_all(payload, limit, timeout).await?;
    req.set_payload(Payload::from(body));
    Ok(())
}

async fn read_all(
    mut payload: Payload,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let read = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(payload_error)?;
            if body.len() + chunk.len() > limit {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::new(ErrorCode::RequestTimeout).detail(format!(
            "The request body did not arrive within {} s.",
            timeout.as_secs_f64()
        ))),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge)
        .detail(format!("The body may be at most {limit} bytes."))
}

fn payload_error(e: PayloadError) -> ApiError {
    match e {
        PayloadError::Overflow => ApiError::new(ErrorCode::PayloadTooLarge),
        PayloadError::Incomplete(_) => ApiError::new(ErrorCode::BadRequest)
            .detail("The request body ended before its announced end."),
        other => ApiError::new(ErrorCode::BadRequest)
            .detail("The request body could not be read.")
            .source(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    const LIMIT: usize = 16;
    const WAIT: Duration = Duration::from_millis(100);

    async fn body_of(mut req: ServiceRequest) -> Bytes {
        let mut out = BytesMut::new();
        let mut payload = req.take_payload();
        while let Some(chunk) = payload.next().await {
            out.extend_from_slice(&chunk.expect("chunk"));
        }
        out.freeze()
    }

    #[actix_web::test]
    async fn a_body_is_read_and_put_back_unchanged() {
        let mut req = TestRequest::post()
            .set_payload(Bytes::from_static(b"{\"a\":\"\xff\"}"))
            .to_srv_request();
        buffer(&mut req, LIMIT, WAIT).await.expect("read");
        assert_eq!(&body_of(req).await[..], b"{\"a\":\"\xff\"}");
    }

    #[actix_web::test]
    async fn no_body_passes_at_once() {
        let mut req = TestRequest::get().to_srv_request();
        let started = std::time::Instant::now();
        buffer(&mut req, LIMIT, Duration::from_secs(30))
            .await
            .expect("nothing to read");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(body_of(req).await.is_empty());
    }

    #[actix_web::test]
    async fn too_large_is_refused_announced_or_not() {
        let mut req = TestRequest::post()
            .insert_header((header::CONTENT_LENGTH, "17"))
            .to_srv_request();
        let e = buffer(&mut req, LIMIT, WAIT).await.expect_err("announced");
        assert_eq!(e.code, ErrorCode::PayloadTooLarge);

        let mut req = TestRequest::post()
            .set_payload(Bytes::from(vec![b' '; LIMIT + 1]))
            .insert_header((header::CONTENT_LENGTH, "0"))
            .to_srv_request();
        let e = buffer(&mut req, LIMIT, WAIT).await.expect_err("sent");
        assert_eq!(e.code, ErrorCode::PayloadTooLarge);
    }

    #[actix_web::test]
    async fn a_stalled_body_times_out() {
        let (_sender, stalled) = actix_http::h1::Payload::create(false);
        let mut req = TestRequest::post().to_srv_request();
        req.set_payload(Payload::from(stalled));
        let started = std::time::Instant::now();
        let e = buffer(&mut req, LIMIT, WAIT).await.expect_err("stalled");
        assert_eq!(e.code, ErrorCode::RequestTimeout);
        assert!(started.elapsed() >= WAIT && started.elapsed() < WAIT * 10);
    }

    #[actix_web::test]
    async fn a_body_cut_short_is_a_bad_request() {
        let (mut sender, cut) = actix_http::h1::Payload::create(false);
        sender.feed_data(Bytes::from_static(b"{\"a\""));
        sender.set_error(PayloadError::Incomplete(None));
        let mut req = TestRequest::post().to_srv_request();
        req.set_payload(Payload::from(cut));
        let e = buffer(&mut req, LIMIT, WAIT).await.expect_err("cut");
        assert_eq!(e.code, ErrorCode::BadRequest);
    }
}
