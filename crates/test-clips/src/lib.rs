//! Real video files for tests, encoded by ffmpeg at test time: the probe's tests and the
//! end-to-end tests read the same files, so a codec or muxer change is made once.
//!
//! Panics when ffmpeg is missing or fails: a test without its file cannot say anything.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The H.264 options, stated once; then any muxer options.
macro_rules! h264 {
    ($($muxer:literal),*) => {
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            $($muxer),*
        ]
    };
}

/// H.264 in MP4, ffmpeg's default muxing: the `moov` index after `mdat`.
pub const H264: &[&str] = h264!();

/// H.264 in MP4 with the `moov` index first (`+faststart`), as most uploads are.
pub const H264_FASTSTART: &[&str] = h264!("-movflags", "+faststart");

/// H.265 tagged `hvc1` (what Apple's players expect), for a `.mov`.
pub const H265_HVC1: &[&str] = &[
    "-c:v",
    "libx265",
    "-preset",
    "ultrafast",
    "-x265-params",
    "log-level=error",
    "-tag:v",
    "hvc1",
];

/// VP9, for a `.webm`.
pub const VP9: &[&str] = &[
    "-c:v",
    "libvpx-vp9",
    "-deadline",
    "realtime",
    "-cpu-used",
    "8",
];

static SEQ: AtomicU32 = AtomicU32::new(0);

/// `seconds` of ffmpeg's test pattern at `size` (`WxH`) and `fps`; `extra` carries the codec
/// and muxer options (and any further input), `ext` picks the container.
pub fn encode(seconds: f64, size: &str, fps: u32, extra: &[&str], ext: &str) -> Vec<u8> {
    let path: PathBuf = std::env::temp_dir().join(format!(
        "postiqo-clip-{}-{}.{ext}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("testsrc=duration={seconds}:size={size}:rate={fps}"))
        .args(extra)
        .arg(&path)
        .output()
        .expect("ffmpeg runs (scripts/test installs it: apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&path).expect("the encoded file");
    let _ = std::fs::remove_file(&path);
    bytes
}
