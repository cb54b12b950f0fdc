//! Uploads (sizes, part sizes, URL lifetimes) and publishing (how TikTok reaches the bytes,
//! the worker, deadlines, polling, webhooks).

use std::time::Duration;

use postiqo_domain::UploadPolicy;

use super::env::{ConfigError, Reader, err};

const MIB: u64 = 1024 * 1024;

/// How TikTok reaches the video bytes (it pulls them from a URL on a verified domain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaMode {
    /// A signed, expiring `GET /v1/media/{token}` on `POSTIQO_PUBLIC_URL`, streamed from S3.
    Proxy,
    /// A presigned S3 GET (the bucket must be served from a verified domain).
    Presigned,
}

#[derive(Debug, Clone)]
pub struct PublishConfig {
    pub media_mode: MediaMode,
    /// Validity of media URLs; at least TikTok's one-hour download window.
    pub media_url_ttl: Duration,
    /// Run the status worker inside the API process.
    pub worker: bool,
    pub worker_interval: Duration,
    /// An idle worker doubles its wait after each empty pass, up to this.
    pub worker_idle_max: Duration,
    pub worker_lease: Duration,
    /// A publish still processing after this is failed with `publish_timeout`.
    pub deadline: Duration,
    /// How long to keep asking for the post id of a public post after it published.
    pub post_id_wait: Duration,
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// How old a webhook's signed timestamp may be; deliveries are remembered this long
    /// (plus a margin) to recognise replays.
    pub webhook_tolerance: Duration,
    /// An account deletion untouched for this long was abandoned: the worker finishes it.
    pub abandoned_deletion_after: Duration,
    /// How far ahead a schedule must be, at least.
    pub schedule_min_lead: Duration,
    /// How late a scheduled publish may still start (every instance was down at its time);
    /// later it ends `schedule_missed`.
    pub schedule_grace: Duration,
}

#[derive(Debug, Clone)]
pub struct UploadSettings {
    pub policy: UploadPolicy,
    /// How long a presigned upload URL stays valid.
    pub url_ttl: Duration,
    /// How long a video may stay PENDING before it expires.
    pub pending_ttl: Duration,
    /// Bounds on reading a container's index at upload-complete.
    pub probe: ProbeLimits,
}

/// How much of an object upload-complete may read to find the container's index: a few
/// ranged GETs, never the file (a long video's `moov` can be several MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeLimits {
    pub max_reads: u32,
    pub max_bytes: u64,
}

pub(super) fn uploads(r: &Reader) -> Result<UploadSettings, ConfigError> {
    let policy = UploadPolicy {
        max_size: r.parse(
            "POSTIQO_MAX_VIDEO_BYTES",
            4 * 1024 * MIB,
            "a number of bytes",
        )?,
        multipart_threshold: r.parse(
            "POSTIQO_MULTIPART_THRESHOLD_BYTES",
            64 * MIB,
            "a number of bytes",
        )?,
        part_size: r.parse(
            "POSTIQO_MULTIPART_PART_BYTES",
            16 * MIB,
            "a number of bytes",
        )?,
    }
    .validate()
    .map_err(|e| err("POSTIQO_MULTIPART_PART_BYTES", e.to_string()))?;
    if policy.max_size == 0 {
        return Err(err("POSTIQO_MAX_VIDEO_BYTES", "must be at least 1"));
    }
    let uploads = UploadSettings {
        policy,
        url_ttl: r.secs("POSTIQO_UPLOAD_URL_TTL_SECS", 3600)?,
        pending_ttl: r.secs("POSTIQO_PENDING_VIDEO_TTL_SECS", 24 * 3600)?,
        probe: ProbeLimits {
            max_reads: r.parse("POSTIQO_MEDIA_PROBE_MAX_READS", 8, "a whole number")?,
            max_bytes: r.parse(
                "POSTIQO_MEDIA_PROBE_MAX_BYTES",
                16 * MIB,
                "a number of bytes",
            )?,
        },
    };
    if !(2..=64).contains(&uploads.probe.max_reads) {
        return Err(err(
            "POSTIQO_MEDIA_PROBE_MAX_READS",
            "must be 2 to 64 (one read for the header, one for an index at the end)",
        ));
    }
    if !(64 * 1024..=256 * MIB).contains(&uploads.probe.max_bytes) {
        return Err(err(
            "POSTIQO_MEDIA_PROBE_MAX_BYTES",
            "must be 65536 (one read) to 268435456 bytes",
        ));
    }
    if uploads.url_ttl > Duration::from_secs(7 * 24 * 3600) {
        return Err(err(
            "POSTIQO_UPLOAD_URL_TTL_SECS",
            "must be at most 604800 (S3's limit)",
        ));
    }
    Ok(uploads)
}

pub(super) fn publish(r: &Reader) -> Result<PublishConfig, ConfigError> {
    let publish = PublishConfig {
        media_mode: match r.or("POSTIQO_MEDIA_MODE", "proxy").as_str() {
            "proxy" => MediaMode::Proxy,
            "presigned" => MediaMode::Presigned,
            _ => return Err(err("POSTIQO_MEDIA_MODE", "must be proxy or presigned")),
        },
        media_url_ttl: r.secs("POSTIQO_MEDIA_URL_TTL_SECS", 2 * 3600)?,
        worker: r.bool("POSTIQO_WORKER", true)?,
        worker_interval: r.ms("POSTIQO_WORKER_INTERVAL_MS", 1000)?,
        worker_idle_max: r.ms("POSTIQO_WORKER_IDLE_MAX_MS", 10_000)?,
        worker_lease: r.secs("POSTIQO_WORKER_LEASE_SECS", 30)?,
        deadline: r.secs("POSTIQO_PUBLISH_DEADLINE_SECS", 2 * 3600)?,
        post_id_wait: r.secs("POSTIQO_POST_ID_WAIT_SECS", 6 * 3600)?,
        poll_initial: r.ms("POSTIQO_POLL_INITIAL_MS", 3000)?,
        poll_max: r.ms("POSTIQO_POLL_MAX_MS", 60_000)?,
        // TikTok retries for 72 h; 3 h more for its backoff steps and clock skew.
        webhook_tolerance: r.secs("POSTIQO_WEBHOOK_TOLERANCE_SECS", 75 * 3600)?,
        abandoned_deletion_after: r.secs("POSTIQO_ABANDONED_DELETION_SECS", 600)?,
        schedule_min_lead: r.secs("POSTIQO_SCHEDULE_MIN_LEAD_SECS", 60)?,
        schedule_grace: r.secs("POSTIQO_SCHEDULE_GRACE_SECS", 6 * 3600)?,
    };
    if publish.worker_idle_max < publish.worker_interval {
        return Err(err(
            "POSTIQO_WORKER_IDLE_MAX_MS",
            "must be at least POSTIQO_WORKER_INTERVAL_MS (equal turns the idle backoff off)",
        ));
    }
    if publish.schedule_min_lead > Duration::from_secs(24 * 3600) {
        return Err(err(
            "POSTIQO_SCHEDULE_MIN_LEAD_SECS",
            "must be at most 86400 (a day): schedules reach at most 30 days ahead",
        ));
    }
    if publish.webhook_tolerance > Duration::from_secs(30 * 24 * 3600) {
        return Err(err(
            "POSTIQO_WEBHOOK_TOLERANCE_SECS",
            "must be at most 2592000 (30 days): deliveries are remembered that long",
        ));
    }
    if publish.media_url_ttl < Duration::from_secs(3600) {
        return Err(err(
            "POSTIQO_MEDIA_URL_TTL_SECS",
            "must be at least 3600: TikTok may take an hour to download",
        ));
    }
    Ok(publish)
}
