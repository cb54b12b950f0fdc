//! Upload-complete against in-memory storage: how many reads of the object it takes to check
//! the container's signature and find its index (each read is a GET on S3).

use std::time::Duration;

use postiqo_domain::{ContentType, Title, UploadPolicy, VideoSize, VideoStatus};

use crate::config::{ProbeLimits, UploadSettings};
use crate::services::videos::{NewVideo, VideoService};
use crate::test_support::Services;

const MIB: u64 = 1024 * 1024;

fn service(s: &Services) -> VideoService {
    VideoService::new(
        s.storage.clone(),
        UploadSettings {
            policy: UploadPolicy {
                max_size: 4 * 1024 * MIB,
                multipart_threshold: 64 * MIB,
                part_size: 16 * MIB,
            },
            url_ttl: Duration::from_secs(3600),
            pending_ttl: Duration::from_secs(24 * 3600),
            probe: ProbeLimits {
                max_reads: 8,
                max_bytes: 16 * MIB,
            },
        },
    )
}

/// `mp4`'s top-level boxes with `moov` moved after `mdat`, where a camera writes it.
fn moov_last(mp4: &[u8]) -> Vec<u8> {
    let (mut front, mut moov) = (Vec::new(), Vec::new());
    let mut at = 0;
    while at + 8 <= mp4.len() {
        let size = u32::from_be_bytes([mp4[at], mp4[at + 1], mp4[at + 2], mp4[at + 3]]) as usize;
        assert!(size >= 8, "a 32-bit box size");
        let b = &mp4[at..at + size];
        if &b[4..8] == b"moov" {
            moov.extend_from_slice(b);
        } else {
            front.extend_from_slice(b);
        }
        at += size;
    }
    assert!(!moov.is_empty(), "the sample has a moov");
    front.extend_from_slice(&moov);
    front
}

/// Uploads `bytes` as a new MP4 video and completes it; the reads upload-complete made.
async fn complete(bytes: Vec<u8>) -> (VideoStatus, bool, usize) {
    let s = Services::new();
    let user = s.sign_up("uploader").await;
    let videos = service(&s);
    let (video, _) = videos
        .create(
            user,
            NewVideo {
                title: Title::parse("clip").expect("title"),
                content_type: ContentType::Mp4,
                size: VideoSize::parse(bytes.len() as u64, 4 * 1024 * MIB).expect("size"),
            },
        )
        .await
        .expect("created");
    s.store.put_object(&video.object_key, bytes, "video/mp4");
    let before = s.store.object_reads();
    let done = videos
        .complete_upload(user, video.id, None)
        .await
        .expect("completed");
    (
        done.status,
        done.media.is_some(),
        s.store.object_reads() - before,
    )
}

#[tokio::test]
async fn one_read_checks_the_signature_and_finds_an_index_at_the_front() {
    let (status, has_media, reads) = complete(postiqo_media_probe::sample::mp4(MIB as usize)).await;
    assert_eq!(status, VideoStatus::Uploaded);
    assert!(has_media);
    assert_eq!(reads, 1, "the signature's read also feeds the probe");
}

#[tokio::test]
async fn an_index_after_the_media_takes_one_more_read() {
    let (status, has_media, reads) =
        complete(moov_last(&postiqo_media_probe::sample::mp4(MIB as usize))).await;
    assert_eq!(status, VideoStatus::Uploaded);
    assert!(has_media);
    assert_eq!(reads, 2);
}
