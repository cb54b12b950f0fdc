//! Prometheus metrics: what an operator watches and alerts on (docs/reliability.md,
//! "Operating Postiqo"). `GET /metrics` is served on its own listener, `POSTIQO_METRICS_BIND`
//! ([`MetricsServer`]), never on the public port; unset, nothing is recorded or served.
//!
//! Why the `metrics` facade with `metrics-exporter-prometheus` (both from metrics-rs) rather
//! than `prometheus-client`: the storage and TikTok crates record their own calls through the
//! facade, without depending on an exporter or being handed a registry through every
//! constructor, and every recording is a no-op until a recorder is installed (metrics off,
//! unit tests, `bootstrap`). The exporter renders the standard text format with the histogram
//! buckets chosen here.
//!
//! Labels stay bounded by construction ([`labels`]): route templates, fixed names for methods,
//! operations, endpoints, events, verdicts and outcomes, and a capped set for TikTok's codes.
//!
//! The handlers and the worker each make one call into this module where something happens;
//! the names of every metric are here, with their help texts.

pub mod labels;
mod server;

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use postiqo_domain::PublishJob;
use postiqo_domain::{Video, VideoStatus};
use postiqo_tiktok::WebhookEvent;

pub use server::MetricsServer;

use crate::limits::Limit;
use labels::BoundedSet;

pub const HTTP_REQUESTS: &str = "postiqo_http_requests_total";
pub const HTTP_DURATION: &str = "postiqo_http_request_duration_seconds";
pub const HTTP_IN_FLIGHT: &str = "postiqo_http_requests_in_flight";
pub const HTTP_QUEUED: &str = "postiqo_http_requests_queued";
pub const HTTP_MAX_IN_FLIGHT: &str = "postiqo_http_max_in_flight";
pub const STORAGE_CALLS: &str = postiqo_storage::observe::CALLS;
pub const STORAGE_DURATION: &str = postiqo_storage::observe::DURATION;
pub const DYNAMODB_CAPACITY: &str = postiqo_storage::capacity::CAPACITY;
pub const TIKTOK_CALLS: &str = postiqo_tiktok::observe::CALLS;
pub const TIKTOK_DURATION: &str = postiqo_tiktok::observe::DURATION;
pub const JOBS_DUE: &str = "postiqo_publish_jobs_due";
pub const JOB_LAG: &str = "postiqo_publish_job_lag_seconds";
pub const WORKER_PASSES: &str = "postiqo_worker_passes_total";
pub const WORKER_LAST_PASS: &str = "postiqo_worker_last_pass_timestamp_seconds";
pub const PUBLISHES: &str = "postiqo_publishes_total";
pub const WEBHOOKS: &str = "postiqo_webhook_deliveries_total";
pub const RATE_LIMITED: &str = "postiqo_rate_limit_refusals_total";
pub const BUILD_INFO: &str = "postiqo_build_info";

/// From a cache hit to TikTok's 15 s timeout (and the 20 s head timeout of a queued request).
const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
];
/// A local DynamoDB answers in about a millisecond; the SDK gives up after 12 s.
const STORAGE_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 12.0,
];
/// TikTok is remote: tens of milliseconds at best, 15 s at the client's timeout.
const TIKTOK_BUCKETS: &[f64] = &[0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0];

/// How many distinct publish failure codes get a label of their own (see [`BoundedSet`]).
const FAILURE_CODE_LABELS: usize = 64;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static FAILURE_CODES: LazyLock<BoundedSet> = LazyLock::new(|| BoundedSet::new(FAILURE_CODE_LABELS));

/// Installs the process-wide recorder (once; later calls return the same handle).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = match builder() {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "metric buckets refused; using the defaults");
                    PrometheusBuilder::new()
                }
            }
            .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
            }
            describe();
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

fn builder() -> Result<PrometheusBuilder, metrics_exporter_prometheus::BuildError> {
    PrometheusBuilder::new()
        .set_buckets(HTTP_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), HTTP_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(STORAGE_DURATION.into()), STORAGE_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full(DYNAMODB_CAPACITY.into()),
            postiqo_storage::capacity::CAPACITY_BUCKETS,
        )?
        .set_buckets_for_metric(Matcher::Full(TIKTOK_DURATION.into()), TIKTOK_BUCKETS)
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "API requests answered, by method, route template and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time from a request's arrival to its response head, waiting for a permit included."
    );
    describe_gauge!(
        HTTP_IN_FLIGHT,
        "API requests holding one of the POSTIQO_MAX_IN_FLIGHT permits (media streams excluded)."
    );
    describe_gauge!(
        HTTP_QUEUED,
        "API requests waiting for a permit because POSTIQO_MAX_IN_FLIGHT are in progress."
    );
    describe_gauge!(HTTP_MAX_IN_FLIGHT, "POSTIQO_MAX_IN_FLIGHT of this process.");
    describe_counter!(
        STORAGE_CALLS,
        "DynamoDB and S3 operations (retries included), by operation and outcome (ok, conditional_failed, not_found, error)."
    );
    describe_histogram!(
        STORAGE_DURATION,
        Unit::Seconds,
        "Duration of DynamoDB and S3 operations, retries included."
    );
    describe_histogram!(
        DYNAMODB_CAPACITY,
        "DynamoDB capacity units one call consumed, by operation, capacity (read, write) and index (table, GSI1, GSI2); _sum is the total. Recorded only with POSTIQO_METRICS_DYNAMODB_CAPACITY=on."
    );
    describe_counter!(
        TIKTOK_CALLS,
        "Calls to TikTok by endpoint and outcome (ok, tiktok_error, rate_limited, server_error, bad_response, timeout, transport_error)."
    );
    describe_histogram!(
        TIKTOK_DURATION,
        Unit::Seconds,
        "Duration of calls to TikTok."
    );
    describe_gauge!(
        JOBS_DUE,
        "Publish jobs due at the worker's last pass (one listing: at most 25)."
    );
    describe_gauge!(
        JOB_LAG,
        Unit::Seconds,
        "How long the most overdue publish job had been due at the worker's last pass."
    );
    describe_counter!(
        WORKER_PASSES,
        "Worker passes over the due jobs, by outcome (error: the jobs could not be listed)."
    );
    describe_gauge!(
        WORKER_LAST_PASS,
        Unit::Seconds,
        "Unix time of the worker's last pass that listed the due jobs."
    );
    describe_counter!(
        PUBLISHES,
        "Publishes that ended, by outcome (published, failed) and failure code."
    );
    describe_counter!(
        WEBHOOKS,
        "TikTok webhook deliveries by event and verdict (accepted, rejected, unreadable, unknown_user, error)."
    );
    describe_counter!(
        RATE_LIMITED,
        "Requests refused with 429 by our own limits, by limit."
    );
    describe_gauge!(BUILD_INFO, "Always 1; the version is a label.");
}

/// One answered API request (the HTTP middleware's call).
pub fn http_request(method: &'static str, route: String, status: u16, elapsed: Duration) {
    let class = labels::status_class(status);
    // A status code (100-999, actix's own range), so at most a few dozen values.
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route, "status_class" => class)
        .record(elapsed);
}

/// Keeps a gauge one higher for as long as it lives (also when its future is dropped).
#[must_use = "the gauge goes down again when this is dropped"]
pub struct GaugeGuard(metrics::Gauge);

impl GaugeGuard {
    fn enter(name: &'static str) -> Self {
        let gauge = gauge!(name);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// While a request waits for an in-flight permit.
pub fn http_queued() -> GaugeGuard {
    GaugeGuard::enter(HTTP_QUEUED)
}

/// While a request holds an in-flight permit.
pub fn http_in_flight() -> GaugeGuard {
    GaugeGuard::enter(HTTP_IN_FLIGHT)
}

pub fn set_max_in_flight(max: usize) {
    gauge!(HTTP_MAX_IN_FLIGHT).set(max as f64);
}

/// One request refused by our own rate limits.
pub fn rate_limit_refused(limit: Limit) {
    let limit = match limit {
        Limit::SignIn => "sign_in",
        Limit::Refresh => "refresh",
        Limit::CreateVideo => "create_video",
        Limit::Publish => "publish",
        Limit::Sync => "sync",
        Limit::Export => "export",
    };
    counter!(RATE_LIMITED, "limit" => limit).increment(1);
}

/// The worker listed the due jobs (oldest first, as the index sorts them).
pub fn jobs_due(jobs: &[PublishJob], now: DateTime<Utc>) {
    let lag_ms = jobs
        .iter()
        .map(|j| (now - j.next_run_at).num_milliseconds())
        .max()
        .unwrap_or(0)
        .max(0);
    gauge!(JOBS_DUE).set(jobs.len() as f64);
    gauge!(JOB_LAG).set(lag_ms as f64 / 1000.0);
    gauge!(WORKER_LAST_PASS).set(now.timestamp_millis() as f64 / 1000.0);
    counter!(WORKER_PASSES, "outcome" => "ok").increment(1);
}

/// The worker could not list the due jobs (storage down).
pub fn worker_pass_failed() {
    counter!(WORKER_PASSES, "outcome" => "error").increment(1);
}

/// A video's publish ended: call after the write that made it PUBLISHED or FAILED (other
/// statuses are ignored, so the caller need not check).
pub fn publish_finished(video: &Video) {
    let (outcome, code) = match video.status {
        VideoStatus::Published => ("published", "none".to_owned()),
        VideoStatus::Failed => {
            let code = video
                .tiktok
                .as_ref()
                .and_then(|t| t.failure.as_ref())
                .map_or("", |f| f.code.as_str());
            ("failed", FAILURE_CODES.admit(code))
        }
        // A draft in the inbox is not finished: it counts when the creator posts it.
        VideoStatus::Pending
        | VideoStatus::Uploaded
        | VideoStatus::Scheduled
        | VideoStatus::Publishing
        | VideoStatus::SentToInbox => return,
    };
    counter!(PUBLISHES, "outcome" => outcome, "code" => code).increment(1);
}

/// The event label of a delivery whose body was never read: unsigned, forged or unreadable.
const UNREAD_EVENT: &str = "<unread>";

/// One TikTok webhook delivery, counted once when dropped, with the verdict it reached. It
/// starts as `rejected`: a delivery that leaves before its signature checked out was refused.
pub struct WebhookDelivery {
    event: &'static str,
    verdict: &'static str,
}

impl WebhookDelivery {
    pub fn start() -> Self {
        Self {
            event: UNREAD_EVENT,
            verdict: "rejected",
        }
    }

    /// The signature checked out: a failure from here on is ours (5xx; TikTok retries).
    pub fn verified(&mut self) {
        self.verdict = "error";
    }

    /// Signed, but not an event we can read; acknowledged and ignored.
    pub fn unreadable(&mut self) {
        self.verdict = "unreadable";
    }

    pub fn event(&mut self, event: &WebhookEvent) {
        self.event = match event {
            WebhookEvent::AuthorizationRemoved { .. } => "authorization.removed",
            WebhookEvent::PublishFailed { .. } => "post.publish.failed",
            WebhookEvent::PublishComplete { .. } => "post.publish.complete",
            WebhookEvent::InboxDelivered { .. } => "post.publish.inbox_delivered",
            WebhookEvent::PubliclyAvailable { .. } => "post.publish.publicly_available",
            WebhookEvent::NoLongerPubliclyAvailable { .. } => {
                "post.publish.no_longer_publicly_available"
            }
            WebhookEvent::Unknown { .. } => "unknown",
        };
    }

    /// About a TikTok user we do not know (deleted account); acknowledged and ignored.
    pub fn unknown_user(&mut self) {
        self.verdict = "unknown_user";
    }

    /// Received before (TikTok retries, or a replay); acknowledged and ignored.
    pub fn duplicate(&mut self) {
        self.verdict = "duplicate";
    }

    /// Handled: whatever it asked for is done. A verdict reached on the way (unreadable,
    /// unknown user, duplicate) stands.
    pub fn accepted(&mut self) {
        if self.verdict == "error" {
            self.verdict = "accepted";
        }
    }
}

impl Drop for WebhookDelivery {
    fn drop(&mut self) {
        counter!(WEBHOOKS, "event" => self.event, "verdict" => self.verdict).increment(1);
    }
}
