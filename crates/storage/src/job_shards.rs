//! The publish job queue's partitions: which shard of the job index (`GSI2`) a job lives in,
//! and the order in which a worker visits the shards.
//!
//! Every job step rewrites the job's index entry, and DynamoDB takes about 1,000 writes/s per
//! partition key, so one queue key would cap the whole deployment. Jobs are spread over
//! `POSTIQO_JOB_SHARDS` keys `PUBJOB#<n>`, `n` a stable hash of the video id, so a job stays in
//! its shard for as long as the count stays the same.
//!
//! **Changing the count loses no job.** A job is written to its shard under the count of the
//! instance that writes it, so its next step moves it to its shard under the new count. Until
//! then it waits where it was: above the new count when the count went down. Each worker pass
//! therefore also sweeps a few of the shards from the count up to [`MAX_JOB_SHARDS`], and the
//! single key `PUBJOB` of versions before sharding ([`Partition::Legacy`]), in turn, so every
//! one of them is visited within `ceil((MAX_JOB_SHARDS - count + 1) / STRAY_SHARDS_PER_PASS)`
//! passes of any one worker.

use std::future::Future;

use futures_util::StreamExt;
use postiqo_domain::VideoId;

/// Sized in docs/data-model.md ("Job queue"): about ten times the index writes of the peak the
/// design is meant for.
pub const DEFAULT_JOB_SHARDS: u16 = 32;

/// The most shards a deployment may use, and so the range every worker sweeps for jobs left
/// behind by a larger count.
pub const MAX_JOB_SHARDS: u16 = 128;

/// Shards outside the configured count (and the legacy key) swept per pass.
pub const STRAY_SHARDS_PER_PASS: usize = 4;

/// Queries of one pass in flight at once.
pub const PARALLEL_QUERIES: usize = 8;

const INDEX_PREFIX: &str = "PUBJOB";

/// How many shards the job index is spread over: 1 to [`MAX_JOB_SHARDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobShards {
    count: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the number of job shards must be from 1 to {MAX_JOB_SHARDS}")]
pub struct InvalidShardCount;

impl Default for JobShards {
    fn default() -> Self {
        Self {
            count: DEFAULT_JOB_SHARDS,
        }
    }
}

/// One partition key of the job index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    Shard(u16),
    /// `PUBJOB`: where every job lived before the queue was sharded.
    Legacy,
}

impl Partition {
    /// The `GSI2PK` value.
    pub fn key(self) -> String {
        match self {
            Self::Shard(n) => format!("{INDEX_PREFIX}#{n}"),
            Self::Legacy => INDEX_PREFIX.to_owned(),
        }
    }
}

/// The partitions one worker pass visits, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// Every configured shard once, rotated.
    pub active: Vec<Partition>,
    /// A few partitions outside the configured count, swept for jobs left there.
    pub strays: Vec<Partition>,
}

impl Visit {
    pub fn partitions(&self) -> impl Iterator<Item = Partition> + '_ {
        self.active.iter().chain(&self.strays).copied()
    }
}

impl JobShards {
    pub fn new(count: u16) -> Result<Self, InvalidShardCount> {
        if (1..=MAX_JOB_SHARDS).contains(&count) {
            Ok(Self { count })
        } else {
            Err(InvalidShardCount)
        }
    }

    pub fn count(self) -> u16 {
        self.count
    }

    /// The shard of a video's job under this count.
    pub fn of(self, video: VideoId) -> Partition {
        let hash = fnv1a(video.to_string().as_bytes());
        Partition::Shard(u16::try_from(hash % u64::from(self.count)).unwrap_or(0))
    }

    /// What pass number `round` of the worker seeded with `seed` visits: every shard of the
    /// count, starting one further along each round and at a different shard per instance, so
    /// instances do not all start at shard 0 and a batch's first picks move round the shards;
    /// then the next [`STRAY_SHARDS_PER_PASS`] partitions outside the count, in turn.
    pub fn plan(self, seed: u64, round: u64) -> Visit {
        let count = u64::from(self.count);
        let start = seed.wrapping_add(round) % count;
        let active = (0..count)
            .map(|i| Partition::Shard(shard_number((start + i) % count)))
            .collect();
        // The stray ring: shards count..MAX, then the legacy key.
        let ring = u64::from(MAX_JOB_SHARDS - self.count) + 1;
        let take = (STRAY_SHARDS_PER_PASS as u64).min(ring);
        let first = seed.wrapping_add(round.wrapping_mul(STRAY_SHARDS_PER_PASS as u64)) % ring;
        let strays = (0..take)
            .map(|i| {
                let at = (first + i) % ring;
                if at + 1 == ring {
                    Partition::Legacy
                } else {
                    Partition::Shard(shard_number(count + at))
                }
            })
            .collect();
        Visit { active, strays }
    }
}

fn shard_number(n: u64) -> u16 {
    u16::try_from(n).unwrap_or(0)
}

/// 64-bit FNV-1a. Hand-written rather than a hasher from a crate or std: a job's shard is
/// stored, so the function must never change with a dependency or compiler update.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// How many jobs to ask each shard for in a pass's first sweep: the batch spread evenly over
/// the configured shards, so one backlogged shard cannot fill a batch while others wait.
pub fn per_shard_cap(limit: u32, shards: usize) -> u32 {
    let shards = u32::try_from(shards.max(1)).unwrap_or(u32::MAX);
    limit.div_ceil(shards).max(1)
}

/// One query's answer: its jobs and where to continue when it stopped at its limit.
#[derive(Debug)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

/// Fills a batch of up to `limit` due jobs from the partitions of `visit`: first at most
/// [`per_shard_cap`] from each, in order ([`PARALLEL_QUERIES`] queries at once, stopping once
/// the batch is full); then, if there is room left, more from the partitions that had more,
/// in the same order. `fetch(partition, limit, continue_from)` reads one page.
pub async fn fill<T, C, E, F, Fut>(visit: &Visit, limit: u32, fetch: F) -> Result<Vec<T>, E>
where
    F: Fn(Partition, u32, Option<C>) -> Fut,
    Fut: Future<Output = Result<Page<T, C>, E>>,
{
    let want = usize::try_from(limit).unwrap_or(usize::MAX);
    let cap = per_shard_cap(limit, visit.active.len());
    let mut batch = Vec::new();
    let mut more = Vec::new();
    {
        let mut pages = futures_util::stream::iter(visit.partitions())
            .map(|p| {
                let page = fetch(p, cap, None);
                async move { (p, page.await) }
            })
            .buffered(PARALLEL_QUERIES);
        while let Some((p, page)) = pages.next().await {
            let page = page?;
            batch.extend(page.items);
            if let Some(next) = page.next {
                more.push((p, next));
            }
            if batch.len() >= want {
                batch.truncate(want);
                return Ok(batch);
            }
        }
    }
    for (p, next) in more {
        let mut from = Some(next);
        while let Some(cursor) = from.take() {
            let room = u32::try_from(want - batch.len()).unwrap_or(u32::MAX);
            let page = fetch(p, room, Some(cursor)).await?;
            batch.extend(page.items);
            if batch.len() >= want {
                batch.truncate(want);
                return Ok(batch);
            }
            from = page.next;
        }
    }
    Ok(batch)
}

#[cfg(test)]
#[path = "job_shards_tests.rs"]
mod tests;
