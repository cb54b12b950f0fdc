//! JSON bodies serialized into a buffer sized up front.
//!
//! `HttpResponseBuilder::json` starts from an empty `String` and grows it by doubling; for a
//! page of videos (~9 KB) each growth copies what was written so far and goes back to the
//! allocator, which was a quarter of the page's serialization (docs/benchmarks.md §8).

use actix_web::error::JsonPayloadError;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, HttpResponseBuilder};
use serde::Serialize;

pub trait SizedJson {
    /// Like `json`, with room for `capacity` bytes reserved before serializing.
    fn json_sized<T: Serialize>(&mut self, value: &T, capacity: usize) -> HttpResponse;
}

impl SizedJson for HttpResponseBuilder {
    fn json_sized<T: Serialize>(&mut self, value: &T, capacity: usize) -> HttpResponse {
        let mut body = Vec::with_capacity(capacity);
        match serde_json::to_writer(&mut body, value) {
            Ok(()) => self.content_type(ContentType::json()).body(body),
            // As `json` answers it (a 500, which the request context turns into a problem).
            Err(e) => HttpResponse::from_error(JsonPayloadError::Serialize(e)),
        }
    }
}
