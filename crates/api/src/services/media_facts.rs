//! Reads a video's facts from its container in S3 at upload-complete: ranged GETs of only the
//! bytes the probe asks for (the box headers, then `moov`; or the Matroska header, `Info` and
//! `Tracks`), within the configured bounds. The bytes never pass through as a whole.

use std::time::Instant;

use postiqo_domain::{ContentType, ETag, FrameRate, ObjectKey, VideoMedia};
use postiqo_media_probe::{Container, MediaFacts, Probe, Step};
use postiqo_storage::{BlobError, Storage};
use tracing::info;

use crate::config::ProbeLimits;

/// Why no facts came out.
#[derive(Debug, thiserror::Error)]
pub enum MediaReadError {
    /// The container cannot be read as a video: the object is not one TikTok would take.
    #[error("{0}")]
    Unreadable(String),
    /// The object was overwritten while it was being read.
    #[error("the object changed while it was read")]
    Changed,
    #[error(transparent)]
    Storage(BlobError),
}

fn container(content_type: ContentType) -> Container {
    match content_type {
        ContentType::Mp4 | ContentType::QuickTime => Container::IsoBmff,
        ContentType::WebM => Container::Matroska,
    }
}

fn to_domain(f: MediaFacts) -> VideoMedia {
    VideoMedia {
        duration_ms: f.duration_ms,
        width: f.width,
        height: f.height,
        frame_rate: f.frame_rate.and_then(FrameRate::from_fps),
        video_codec: f.video_codec,
        has_audio: f.has_audio,
    }
}

/// The facts of the `etag` content of the object, read in at most `limits` ranged GETs.
/// `head` is its first bytes, already read (one of those GETs): most indexes are found in it.
pub async fn read_media(
    storage: &Storage,
    key: &ObjectKey,
    etag: &ETag,
    content_type: ContentType,
    size: u64,
    head: Vec<u8>,
    limits: ProbeLimits,
) -> Result<VideoMedia, MediaReadError> {
    let started = Instant::now();
    let mut probe = Probe::new(container(content_type), size);
    let (mut reads, mut bytes) = (1u32, head.len() as u64);
    if !head.is_empty() {
        probe.feed(0, head);
    }
    let outcome = loop {
        let range = match probe.step() {
            Ok(Step::Done(facts)) => break Ok(to_domain(facts)),
            Ok(Step::Need(range)) => range,
            Err(e) => break Err(MediaReadError::Unreadable(e.to_string())),
        };
        if reads >= limits.max_reads || bytes.saturating_add(range.len) > limits.max_bytes {
            break Err(MediaReadError::Unreadable(format!(
                "its index was not found within {} reads of at most {} bytes in all \
                 (POSTIQO_MEDIA_PROBE_MAX_READS, POSTIQO_MEDIA_PROBE_MAX_BYTES)",
                limits.max_reads, limits.max_bytes
            )));
        }
        let chunk = match storage
            .blobs
            .read_range(key, range.offset, range.len, Some(etag))
            .await
        {
            Ok(chunk) => chunk,
            Err(BlobError::Changed) => break Err(MediaReadError::Changed),
            Err(e) => break Err(MediaReadError::Storage(e)),
        };
        reads += 1;
        bytes += chunk.len() as u64;
        if chunk.is_empty() {
            break Err(MediaReadError::Unreadable(
                "the object is shorter than its recorded size".into(),
            ));
        }
        probe.feed(range.offset, chunk);
    };
    info!(
        key = %key,
        size,
        reads,
        bytes_read = bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        ok = outcome.is_ok(),
        "container index read"
    );
    outcome
}
