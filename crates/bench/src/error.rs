//! One boxed error type for the whole benchmark: it reports and stops, it never recovers.

use std::fmt::Display;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

/// Adds what was being done to an error, like anyhow's `context`.
pub trait Context<T> {
    fn context(self, what: &str) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: &str) -> Result<T> {
        self.map_err(|e| format!("{what}: {e}").into())
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: &str) -> Result<T> {
        self.ok_or_else(|| what.to_owned().into())
    }
}

/// An AWS SDK error with its service code and message (their `Display` says only "service error").
pub fn sdk_error<E>(what: &str, e: E) -> Error
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match (e.code(), e.message()) {
        (Some(code), msg) => format!("{what}: {code}: {}", msg.unwrap_or("")).into(),
        _ => format!("{what}: {e:?}").into(),
    }
}
