//! Counts and times every storage call at one place: an interceptor on the DynamoDB and S3
//! clients, so a call site added tomorrow is measured without anyone remembering to.
//!
//! Recorded through the `metrics` facade only: this crate never knows how (or whether) the
//! numbers are exported; with no recorder installed every call here is a no-op.
//!
//! - `postiqo_storage_calls_total{operation, outcome}`: one per SDK operation (its retries
//!   included), `operation` like `dynamodb.PutItem` or `s3.HeadObject` (the SDK's own names, a
//!   fixed set), `outcome` one of [`Outcome`].
//! - `postiqo_storage_call_duration_seconds{operation}`: from the call to its answer (for S3
//!   `GetObject`, to the response head: the body streams afterwards).
//!
//! Presigned URLs are signed without the SDK's pipeline (`s3/presign.rs`); the one SDK
//! presigning run it makes, before the first URL, sends nothing and is not counted.

use std::time::Instant;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::{
    delete_item::DeleteItemError, put_item::PutItemError,
    transact_write_items::TransactWriteItemsError, update_item::UpdateItemError,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::Error as ErasedError;
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_types::config_bag::{Storable, StoreReplace};

pub const CALLS: &str = "postiqo_storage_calls_total";
pub const DURATION: &str = "postiqo_storage_call_duration_seconds";

/// How a storage call ended, as an operator needs to tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A conditional write lost (or a transaction was cancelled by one): expected under
    /// concurrency, a spike means contention, not an outage.
    ConditionalFailed,
    /// HTTP 404 (S3 `HeadObject`/`GetObject` of an object not uploaded yet, or gone).
    NotFound,
    /// Anything else: unreachable, timed out, throttled, 5xx, refused.
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ConditionalFailed => "conditional_failed",
            Outcome::NotFound => "not_found",
            Outcome::Error => "error",
        }
    }
}

/// The interceptor registered on both clients by [`crate::connect`].
#[derive(Debug, Clone, Copy, Default)]
pub struct StorageMetrics;

#[derive(Debug, Clone)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for StorageMetrics {
    fn name(&self) -> &'static str {
        "PostiqoStorageMetrics"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // No output and no error: a presigning run, stopped before anything was sent.
        let Some(result) = context.output_or_error() else {
            return Ok(());
        };
        let Some(meta) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let operation = operation_label(meta.service(), meta.name());
        let status = context.response().map(|r| r.status().as_u16());
        let outcome = match result {
            Ok(_) => Outcome::Ok,
            Err(e) => classify(e, status),
        };
        metrics::counter!(CALLS, "operation" => operation.clone(), "outcome" => outcome.as_str())
            .increment(1);
        if let Some(Started(at)) = cfg.load::<Started>() {
            metrics::histogram!(DURATION, "operation" => operation).record(at.elapsed());
        }
        Ok(())
    }
}

/// `DynamoDB` + `PutItem` → `dynamodb.PutItem`.
fn operation_label(service: &str, operation: &str) -> String {
    format!("{}.{operation}", service.to_ascii_lowercase())
}

fn classify(err: &OrchestratorError<ErasedError>, status: Option<u16>) -> Outcome {
    let code = err.as_operation_error().and_then(write_error_code);
    if matches!(
        code,
        Some("ConditionalCheckFailedException" | "TransactionCanceledException")
    ) {
        // The adapters read a cancelled transaction as a conflict too (`RepoError::Conflict`).
        return Outcome::ConditionalFailed;
    }
    if status == Some(404) {
        return Outcome::NotFound;
    }
    Outcome::Error
}

/// The service's error code for the write operations that carry conditions. The error is
/// type-erased here, so it is looked for among those operations' error types.
fn write_error_code(err: &ErasedError) -> Option<&str> {
    if let Some(e) = err.downcast_ref::<PutItemError>() {
        return e.code();
    }
    if let Some(e) = err.downcast_ref::<UpdateItemError>() {
        return e.code();
    }
    if let Some(e) = err.downcast_ref::<DeleteItemError>() {
        return e.code();
    }
    if let Some(e) = err.downcast_ref::<TransactWriteItemsError>() {
        return e.code();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;

    #[test]
    fn operation_labels_are_the_sdks_names() {
        assert_eq!(operation_label("DynamoDB", "PutItem"), "dynamodb.PutItem");
        assert_eq!(operation_label("S3", "HeadObject"), "s3.HeadObject");
    }

    #[test]
    fn a_lost_condition_is_not_an_error() {
        let lost = PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("The conditional request failed")
                .meta(
                    aws_sdk_dynamodb::error::ErrorMetadata::builder()
                        .code("ConditionalCheckFailedException")
                        .build(),
                )
                .build(),
        );
        let err = OrchestratorError::operation(ErasedError::erase(lost));
        assert_eq!(classify(&err, Some(400)), Outcome::ConditionalFailed);

        let other =
            OrchestratorError::operation(ErasedError::erase(PutItemError::unhandled("throttled")));
        assert_eq!(classify(&other, Some(400)), Outcome::Error);
        assert_eq!(classify(&other, Some(404)), Outcome::NotFound);
        let timeout: OrchestratorError<ErasedError> = OrchestratorError::timeout("slow".into());
        assert_eq!(classify(&timeout, None), Outcome::Error);
    }
}
