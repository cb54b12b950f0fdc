#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use postiqo_domain::VideoId;

use super::*;

fn video(s: &str) -> VideoId {
    s.parse().unwrap()
}

fn random_video() -> VideoId {
    uuid::Uuid::now_v7().to_string().parse().unwrap()
}

#[test]
fn the_count_is_bounded() {
    assert_eq!(JobShards::new(0), Err(InvalidShardCount));
    assert_eq!(JobShards::new(MAX_JOB_SHARDS + 1), Err(InvalidShardCount));
    assert_eq!(JobShards::new(1).unwrap().count(), 1);
    assert_eq!(
        JobShards::new(MAX_JOB_SHARDS).unwrap().count(),
        MAX_JOB_SHARDS
    );
    assert_eq!(JobShards::default().count(), DEFAULT_JOB_SHARDS);
}

#[test]
fn keys_are_spelled_as_documented() {
    assert_eq!(Partition::Shard(0).key(), "PUBJOB#0");
    assert_eq!(Partition::Shard(127).key(), "PUBJOB#127");
    assert_eq!(Partition::Legacy.key(), "PUBJOB");
}

#[test]
fn a_videos_shard_is_stable_across_processes_and_releases() {
    // Pinned: jobs already in the table were placed by this function.
    let v = video("01923456-789a-7bcd-8ef0-123456789abc");
    assert_eq!(
        fnv1a(b"a"),
        0xaf63_dc4c_8601_ec8c,
        "FNV-1a's published test vector"
    );
    let shards = JobShards::new(32).unwrap();
    let pinned = shards.of(v);
    assert_eq!(pinned, Partition::Shard(PINNED_SHARD), "{pinned:?}");
    for _ in 0..3 {
        assert_eq!(shards.of(v), pinned);
    }
    assert_eq!(JobShards::new(1).unwrap().of(v), Partition::Shard(0));
}

// Computed independently (Python) from the FNV-1a definition.
const PINNED_SHARD: u16 = 10;

#[test]
fn videos_spread_evenly_over_the_shards() {
    let shards = JobShards::new(32).unwrap();
    let mut per_shard: BTreeMap<u16, usize> = BTreeMap::new();
    for _ in 0..32_000 {
        match shards.of(random_video()) {
            Partition::Shard(n) => *per_shard.entry(n).or_default() += 1,
            Partition::Legacy => panic!("a job is never written to the legacy key"),
        }
    }
    assert_eq!(per_shard.len(), 32);
    assert_eq!(*per_shard.keys().last().unwrap(), 31);
    // 1,000 expected each; the binomial's standard deviation is ~31.
    for (shard, n) in per_shard {
        assert!((850..=1150).contains(&n), "shard {shard}: {n}");
    }
}

fn shard_numbers(parts: &[Partition]) -> Vec<u16> {
    parts
        .iter()
        .map(|p| match p {
            Partition::Shard(n) => *n,
            Partition::Legacy => u16::MAX,
        })
        .collect()
}

#[test]
fn each_pass_visits_every_shard_once_and_starts_one_further_each_round() {
    let shards = JobShards::new(16).unwrap();
    let seed = 0x1234_5678_9abc_def0;
    let mut firsts = Vec::new();
    for round in 0..16 {
        let visit = shards.plan(seed, round);
        let mut seen = shard_numbers(&visit.active);
        firsts.push(seen[0]);
        seen.sort_unstable();
        assert_eq!(seen, (0..16).collect::<Vec<_>>(), "round {round}");
    }
    // Over `count` rounds, every shard is the first visited exactly once.
    let unique: HashSet<u16> = firsts.iter().copied().collect();
    assert_eq!(unique.len(), 16, "{firsts:?}");
    for pair in firsts.windows(2) {
        assert_eq!((pair[0] + 1) % 16, pair[1], "{firsts:?}");
    }
}

#[test]
fn instances_start_their_passes_at_different_shards() {
    let shards = JobShards::new(32).unwrap();
    // What each process seeds itself with (`DynamoPublish::new`).
    let seeds: Vec<u64> = (0..8)
        .map(|_| uuid::Uuid::new_v4().as_u64_pair().0)
        .collect();
    let firsts: HashSet<Partition> = seeds.iter().map(|s| shards.plan(*s, 0).active[0]).collect();
    // All 8 on one shard has a chance of 32⁻⁷.
    assert!(firsts.len() > 1, "{firsts:?}");
    // And two instances a round apart are one shard apart, never on the same one.
    assert_ne!(shards.plan(7, 3).active[0], shards.plan(8, 3).active[0]);
}

#[test]
fn strays_cover_every_shard_above_the_count_and_the_legacy_key_in_turn() {
    for count in [1, 8, 32, 100] {
        let shards = JobShards::new(count).unwrap();
        let ring = usize::from(MAX_JOB_SHARDS - count) + 1;
        let rounds = ring.div_ceil(STRAY_SHARDS_PER_PASS) as u64;
        let mut swept = HashSet::new();
        for round in 0..rounds {
            let visit = shards.plan(99, round);
            assert_eq!(visit.strays.len(), STRAY_SHARDS_PER_PASS);
            for p in &visit.strays {
                if let Partition::Shard(n) = p {
                    assert!(*n >= count && *n < MAX_JOB_SHARDS, "count {count}: {n}");
                }
                swept.insert(*p);
            }
        }
        assert_eq!(
            swept.len(),
            ring,
            "count {count}: all within {rounds} passes"
        );
        assert!(swept.contains(&Partition::Legacy));
    }
}

#[test]
fn near_the_maximum_the_strays_do_not_repeat() {
    let visit = JobShards::new(MAX_JOB_SHARDS).unwrap().plan(5, 9);
    assert_eq!(visit.strays, [Partition::Legacy]);
    let visit = JobShards::new(MAX_JOB_SHARDS - 2).unwrap().plan(5, 9);
    let unique: HashSet<_> = visit.strays.iter().collect();
    assert_eq!(unique.len(), 3, "{:?}", visit.strays);
}

#[test]
fn the_per_shard_cap_spreads_a_batch() {
    assert_eq!(per_shard_cap(25, 32), 1);
    assert_eq!(per_shard_cap(25, 4), 7);
    assert_eq!(per_shard_cap(25, 1), 25);
    assert_eq!(per_shard_cap(25, 0), 25);
}

/// Jobs (numbers) per partition, oldest first, read page by page like the index.
struct FakeIndex {
    jobs: HashMap<Partition, Vec<u32>>,
    queries: Mutex<Vec<(Partition, u32)>>,
}

impl FakeIndex {
    fn new(jobs: impl IntoIterator<Item = (Partition, Vec<u32>)>) -> Self {
        Self {
            jobs: jobs.into_iter().collect(),
            queries: Mutex::default(),
        }
    }

    async fn fetch(
        &self,
        p: Partition,
        limit: u32,
        from: Option<usize>,
    ) -> Result<Page<u32, usize>, &'static str> {
        self.queries.lock().unwrap().push((p, limit));
        let all = self.jobs.get(&p).cloned().unwrap_or_default();
        let start = from.unwrap_or(0);
        let end = (start + limit as usize).min(all.len());
        Ok(Page {
            items: all[start..end].to_vec(),
            next: (end < all.len()).then_some(end),
        })
    }

    async fn batch(&self, visit: &Visit, limit: u32) -> Vec<u32> {
        fill(visit, limit, |p, l, c| self.fetch(p, l, c))
            .await
            .unwrap()
    }
}

fn backlog(shard: u16, n: u32) -> (Partition, Vec<u32>) {
    let base = u32::from(shard) * 1000;
    (Partition::Shard(shard), (base..base + n).collect())
}

#[tokio::test]
async fn a_busy_batch_takes_one_job_from_each_of_many_shards() {
    let index = FakeIndex::new((0..32).map(|s| backlog(s, 10)));
    let visit = JobShards::new(32).unwrap().plan(3, 0);
    let batch = index.batch(&visit, 25).await;
    assert_eq!(batch.len(), 25);
    let shards: HashSet<u32> = batch.iter().map(|j| j / 1000).collect();
    assert_eq!(shards.len(), 25, "one from each: {batch:?}");
    // The next round starts one shard further, so the shards left out get their turn.
    let next = index
        .batch(&JobShards::new(32).unwrap().plan(3, 1), 25)
        .await;
    assert_ne!(batch[0] / 1000, next[0] / 1000);
}

#[tokio::test]
async fn one_backlogged_shard_still_fills_the_batch() {
    let index = FakeIndex::new([backlog(5, 100), backlog(9, 1)]);
    let visit = JobShards::new(8).unwrap().plan(0, 0);
    let batch = index.batch(&visit, 25).await;
    assert_eq!(batch.len(), 25);
    assert!(
        batch.contains(&9000),
        "the other shard's job is in: {batch:?}"
    );
    let from_five = batch.iter().filter(|j| **j / 1000 == 5).count();
    assert_eq!(from_five, 24);
    // Each partition once at the cap (25 over 8 shards: 4), then shard 5 once more.
    let queries = index.queries.lock().unwrap().clone();
    assert_eq!(queries.len(), 8 + STRAY_SHARDS_PER_PASS + 1, "{queries:?}");
    assert_eq!(queries.last(), Some(&(Partition::Shard(5), 20)));
}

#[tokio::test]
async fn a_quiet_pass_returns_everything_due() {
    let index = FakeIndex::new([backlog(0, 3), backlog(31, 2)]);
    let visit = JobShards::new(32).unwrap().plan(11, 4);
    let mut batch = index.batch(&visit, 25).await;
    batch.sort_unstable();
    assert_eq!(batch, [0, 1, 2, 31_000, 31_001]);
}

#[tokio::test]
async fn jobs_left_above_a_lowered_count_are_found_by_the_sweep() {
    // Written while the count was 16; the count is now 4.
    let index = FakeIndex::new([backlog(12, 2), (Partition::Legacy, vec![77]), backlog(2, 1)]);
    let shards = JobShards::new(4).unwrap();
    let mut found = HashSet::new();
    let passes = (usize::from(MAX_JOB_SHARDS - 4) + 1).div_ceil(STRAY_SHARDS_PER_PASS) as u64;
    for round in 0..passes {
        found.extend(index.batch(&shards.plan(42, round), 25).await);
    }
    assert_eq!(found, HashSet::from([12_000, 12_001, 77, 2000]));
}

#[tokio::test]
async fn a_failed_query_fails_the_pass() {
    let visit = JobShards::new(4).unwrap().plan(0, 0);
    let res: Result<Vec<u32>, &str> = fill(&visit, 25, |p, _, _: Option<usize>| async move {
        if p == Partition::Shard(2) {
            Err("throttled")
        } else {
            Ok(Page {
                items: vec![1],
                next: None,
            })
        }
    })
    .await;
    assert_eq!(res, Err("throttled"));
}
