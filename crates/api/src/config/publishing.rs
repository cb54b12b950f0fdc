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
}

#[derive(Debug, Clone)]
pub struct UploadSettings {
    pub policy: UploadPolicy,
    /// How long a presigned upload URL stays valid.
    pub url_ttl: Duration,
    /// How long a video may stay PENDING before it expires.
    pub pending_ttl: Duration,
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
    };
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
        worker_lease: r.secs("POSTIQO_WORKER_LEASE_SECS", 30)?,
        deadline: r.secs("POSTIQO_PUBLISH_DEADLINE_SECS", 2 * 3600)?,
        post_id_wait: r.secs("POSTIQO_POST_ID_WAIT_SECS", 6 * 3600)?,
        poll_initial: r.ms("POSTIQO_POLL_INITIAL_MS", 3000)?,
        poll_max: r.ms("POSTIQO_POLL_MAX_MS", 60_000)?,
        // TikTok retries for 72 h; 3 h more for its backoff steps and clock skew.
        webhook_tolerance: r.secs("POSTIQO_WEBHOOK_TOLERANCE_SECS", 75 * 3600)?,
        abandoned_deletion_after: r.secs("POSTIQO_ABANDONED_DELETION_SECS", 600)?,
    };
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
