//! How much of everything a run does: the full benchmark or a few-second smoke run.

use std::time::Duration;

pub const MIB: u64 = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: &'static str,
    pub warmup: u64,
    pub requests_1: u64,
    pub requests_64: u64,
    pub starts: usize,
    pub connections: u64,
    pub connection_requests: u64,
    pub seed_videos: usize,
    /// Alternating rounds of the three sides per endpoint and concurrency.
    pub rounds: u64,
    pub upload_sizes: Vec<u64>,
    /// Upper bound for any one load run.
    pub run_limit: Duration,
    /// How long the API's idle CPU is sampled before the uploads.
    pub idle_sample: Duration,
    /// Capacity: how long the idle worker is watched, the large upload, the list's videos.
    pub idle: Duration,
    pub big_upload: u64,
    pub list_seed: usize,
    /// Under callgrind ([`crate::instructions`]): warm-up and measured requests per endpoint.
    pub counted_warmup: u64,
    pub counted_requests: u64,
}

impl Profile {
    pub fn full() -> Self {
        Self {
            name: "full",
            warmup: 300,
            requests_1: 1_500,
            requests_64: 4_800,
            starts: 5,
            connections: 256,
            connection_requests: 10_240,
            seed_videos: 30,
            rounds: 3,
            upload_sizes: vec![MIB, 100 * MIB, 1024 * MIB],
            run_limit: Duration::from_secs(180),
            idle_sample: Duration::from_secs(10),
            idle: Duration::from_secs(30),
            big_upload: 1024 * MIB,
            list_seed: 25,
            counted_warmup: 50,
            counted_requests: 300,
        }
    }

    pub fn smoke() -> Self {
        Self {
            name: "smoke (small counts; the multipart threshold is lowered by scripts/bench)",
            warmup: 20,
            requests_1: 100,
            requests_64: 640,
            starts: 2,
            connections: 256,
            connection_requests: 1_024,
            seed_videos: 25,
            rounds: 1,
            upload_sizes: vec![MIB, 12 * MIB],
            run_limit: Duration::from_secs(60),
            idle_sample: Duration::from_secs(1),
            idle: Duration::from_secs(5),
            big_upload: 12 * MIB,
            list_seed: 21,
            counted_warmup: 5,
            counted_requests: 20,
        }
    }
}
