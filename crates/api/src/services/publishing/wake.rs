//! When this instance's worker should look at the queue next.
//!
//! Looking costs one Query per job shard (`POSTIQO_JOB_SHARDS`, 32 by default), so an idle
//! worker that looked every second would spend about 115,000 queries an hour on nothing. It
//! looks less often while it finds nothing ([`IdlePacing`]), and is woken on time for every
//! job this instance saved ([`WakeHints`]): a publish started here is polled here when its
//! poll is due, a schedule made here starts on time. What no live instance has a hint for (a
//! job whose instance died, a schedule made before a restart) is found by the idle passes, at
//! most `POSTIQO_WORKER_IDLE_MAX_MS` late.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postiqo_domain::{PublishJob, UserId, Video, VideoId};
use postiqo_storage::{JobChange, PublishStore, RepoError};
use tokio::sync::Notify;

/// Above this many pending hints the oldest are dropped: a busy instance looks every
/// interval anyway, so a hint only matters to an idle one.
const MAX_HINTS: usize = 10_000;

/// The times at which jobs this instance saved become due.
#[derive(Default)]
pub struct WakeHints {
    due: Mutex<BTreeSet<DateTime<Utc>>>,
    changed: Notify,
}

impl WakeHints {
    pub fn note(&self, at: DateTime<Utc>) {
        let earliest_changed = {
            let Ok(mut due) = self.due.lock() else {
                return;
            };
            let earlier = due.first().is_none_or(|first| at < *first);
            due.insert(at);
            while due.len() > MAX_HINTS {
                due.pop_last();
            }
            earlier
        };
        if earliest_changed {
            self.changed.notify_one();
        }
    }

    /// The earliest hint, also one already past (its job is due now).
    pub fn earliest(&self) -> Option<DateTime<Utc>> {
        self.due.lock().ok()?.first().copied()
    }

    /// Forgets the hints at or before `now`: a pass listing the jobs due at `now` covers them.
    pub fn covered_through(&self, now: DateTime<Utc>) {
        if let Ok(mut due) = self.due.lock() {
            while due.first().is_some_and(|first| *first <= now) {
                due.pop_first();
            }
        }
    }

    /// Resolves when a hint earlier than all others was noted.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// How long the worker waits before its next pass: the interval while there is work, then
/// twice as long after each empty pass, up to the idle maximum.
#[derive(Debug, Clone)]
pub struct IdlePacing {
    interval: Duration,
    idle_max: Duration,
    wait: Duration,
}

impl IdlePacing {
    pub fn new(interval: Duration, idle_max: Duration) -> Self {
        Self {
            interval,
            idle_max: idle_max.max(interval),
            wait: interval,
        }
    }

    /// After a pass that leased `leased` jobs: the wait before the next one.
    pub fn after_pass(&mut self, leased: usize) -> Duration {
        self.wait = if leased > 0 {
            self.interval
        } else {
            (self.wait * 2).min(self.idle_max)
        };
        self.wait
    }

    /// A hinted job was due: look again soon, there may be more behind it.
    pub fn reset(&mut self) {
        self.wait = self.interval;
    }
}

/// The publish store as the services see it: every job saved or leased leaves a hint.
pub(super) struct Hinting {
    pub inner: Arc<dyn PublishStore>,
    pub hints: Arc<WakeHints>,
}

#[async_trait]
impl PublishStore for Hinting {
    async fn commit(
        &self,
        video: &Video,
        expected_version: u64,
        job: JobChange<'_>,
        publish_id: Option<&str>,
    ) -> Result<(), RepoError> {
        let due = match &job {
            JobChange::Save { job, .. } => Some(job.next_run_at),
            JobChange::Keep | JobChange::Remove { .. } => None,
        };
        self.inner
            .commit(video, expected_version, job, publish_id)
            .await?;
        if let Some(at) = due {
            self.hints.note(at);
        }
        Ok(())
    }

    async fn job(&self, owner: UserId, video: VideoId) -> Result<Option<PublishJob>, RepoError> {
        self.inner.job(owner, video).await
    }

    async fn forget(
        &self,
        owner: UserId,
        video: VideoId,
        publish_id: Option<&str>,
    ) -> Result<(), RepoError> {
        self.inner.forget(owner, video, publish_id).await
    }

    async fn delete_job(
        &self,
        owner: UserId,
        video: VideoId,
        expected_version: u64,
    ) -> Result<(), RepoError> {
        self.inner.delete_job(owner, video, expected_version).await
    }

    async fn due_jobs(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<PublishJob>, RepoError> {
        self.inner.due_jobs(now, limit).await
    }

    /// A leased job is due again when its lease ends (if its step never saves it).
    async fn lease(
        &self,
        job: &PublishJob,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<PublishJob, RepoError> {
        let leased = self.inner.lease(job, owner, until, now).await?;
        self.hints.note(leased.next_run_at);
        Ok(leased)
    }

    async fn video_for_publish_id(
        &self,
        owner: UserId,
        publish_id: &str,
    ) -> Result<Option<VideoId>, RepoError> {
        self.inner.video_for_publish_id(owner, publish_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_idle_worker_doubles_its_wait_up_to_the_maximum_and_work_resets_it() {
        let mut p = IdlePacing::new(ms(1000), ms(10_000));
        let waits: Vec<_> = (0..6).map(|_| p.after_pass(0)).collect();
        assert_eq!(
            waits,
            [
                ms(2000),
                ms(4000),
                ms(8000),
                ms(10_000),
                ms(10_000),
                ms(10_000)
            ]
        );
        assert_eq!(p.after_pass(3), ms(1000));
        assert_eq!(p.after_pass(0), ms(2000));
        p.reset();
        assert_eq!(p.after_pass(1), ms(1000));
    }

    #[test]
    fn an_idle_maximum_below_the_interval_means_no_backoff() {
        let mut p = IdlePacing::new(ms(500), ms(100));
        assert_eq!(p.after_pass(0), ms(500));
        assert_eq!(p.after_pass(0), ms(500));
    }

    #[test]
    fn hints_come_out_earliest_first_until_a_pass_covers_them() {
        let hints = WakeHints::default();
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        let s = chrono::Duration::seconds;
        hints.note(t0 + s(30));
        hints.note(t0 + s(3));
        hints.note(t0 + s(10));
        assert_eq!(hints.earliest(), Some(t0 + s(3)));
        // Past but not yet covered by a pass: still the next wake-up.
        assert_eq!(hints.earliest(), Some(t0 + s(3)));
        hints.covered_through(t0 + s(3));
        assert_eq!(hints.earliest(), Some(t0 + s(10)));
        hints.covered_through(t0 + s(11));
        assert_eq!(hints.earliest(), Some(t0 + s(30)));
        hints.covered_through(t0 + s(30));
        assert_eq!(hints.earliest(), None);
    }

    #[test]
    fn hints_are_bounded_keeping_the_earliest() {
        let hints = WakeHints::default();
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        for i in 0..(MAX_HINTS as i64 + 50) {
            hints.note(t0 + chrono::Duration::seconds(i + 1));
        }
        let count = hints.due.lock().map(|d| d.len()).unwrap_or_default();
        assert_eq!(count, MAX_HINTS);
        assert_eq!(hints.earliest(), Some(t0 + chrono::Duration::seconds(1)));
    }

    #[tokio::test]
    async fn an_earlier_hint_wakes_the_waiting_worker() {
        let hints = Arc::new(WakeHints::default());
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        hints.note(t0 + chrono::Duration::seconds(60));
        let waiter = {
            let hints = hints.clone();
            tokio::spawn(async move { hints.changed().await })
        };
        tokio::task::yield_now().await;
        hints.note(t0 + chrono::Duration::seconds(5));
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("task");
    }
}
