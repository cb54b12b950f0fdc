//! The publish job: the durable work item behind a publish in flight, and the second state
//! machine of publishing (the video's is in `video.rs`).
//!
//! ```text
//!  schedule ──▶ Scheduled ──begin_scheduled──┐   (reschedule: Scheduled → Scheduled)
//!                                            ▼
//!  start ──▶ Initiating ──record_publish_id──▶ Tracking ──await_post_id──▶ AwaitPostId
//!              │    ▲                           │  ▲ keep_tracking          │ ▲ await_post_id
//!   defer_init │    │ begin_init_retry          └──┘                        └─┘
//!              ▼    │
//!            InitRetry
//! ```
//!
//! `delay` (back off, same phase) and `leased` (a worker takes it) apply in every phase; a
//! job ends by being removed, in the same transaction as the video's last change. Every
//! transition releases or keeps the lease as named and increases `version` by one, which is
//! what storage conditions its writes on.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{UserId, Video, VideoId, VideoStatus};

/// Where the tracking of one publish stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobPhase {
    /// A scheduled publish waiting for its time (`next_run_at`); nothing was sent to TikTok.
    /// Its `deadline` is the due time plus the grace: later than that it is not started.
    Scheduled,
    /// Someone is calling TikTok's init (under the job's lease). If the lease runs out in
    /// this phase, the process died mid-call: the outcome is unknown.
    Initiating,
    /// TikTok refused the init for now (throttled or failing) before creating anything:
    /// init again later.
    InitRetry,
    /// TikTok has a publish id: poll its status until it ends.
    Tracking,
    /// Published; waiting for the post id TikTok gives public posts after moderation.
    AwaitPostId,
}

impl JobPhase {
    pub const ALL: [JobPhase; 5] = [
        JobPhase::Scheduled,
        JobPhase::Initiating,
        JobPhase::InitRetry,
        JobPhase::Tracking,
        JobPhase::AwaitPostId,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobPhase::Scheduled => "scheduled",
            JobPhase::Initiating => "initiating",
            JobPhase::InitRetry => "init_retry",
            JobPhase::Tracking => "tracking",
            JobPhase::AwaitPostId => "await_post_id",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for JobPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A move of the job state machine, named in refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    Lease,
    Reschedule,
    BeginScheduled,
    RecordPublishId,
    DeferInit,
    BeginInitRetry,
    KeepTracking,
    AwaitPostId,
}

impl fmt::Display for JobAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobAction::Lease => "lease",
            JobAction::Reschedule => "move the schedule",
            JobAction::BeginScheduled => "start the scheduled publish",
            JobAction::RecordPublishId => "record a publish id",
            JobAction::DeferInit => "defer the init",
            JobAction::BeginInitRetry => "retry the init",
            JobAction::KeepTracking => "keep tracking",
            JobAction::AwaitPostId => "await the post id",
        })
    }
}

/// An illegal move of a publish job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a publish job in phase {phase} cannot {action}")]
pub struct JobTransitionError {
    pub phase: JobPhase,
    pub action: JobAction,
}

/// Exponential backoff from a first delay, ×1.5 per run, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    pub fn delay(&self, runs: u32) -> Duration {
        let factor = 1.5f64.powi(i32::try_from(runs.min(30)).unwrap_or(30));
        let ms = (self.initial.as_millis() as f64 * factor).min(self.max.as_millis() as f64);
        Duration::from_millis(ms as u64)
    }
}

/// What a worker holding a job's lease does with it next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStep {
    /// The video is gone, on another attempt, or past publishing: the job is stale.
    Discard,
    /// Published, but TikTok gave no post id within the wait: stop asking.
    StopAwaitingPostId,
    /// Still publishing past the deadline: fail it with `publish_timeout`.
    TimedOut,
    /// The lease ran out while init was being called: the outcome is unknown.
    OutcomeUnknown,
    RetryInit,
    Poll,
    /// A scheduled publish is due: check the creator's options again, then init.
    StartScheduled,
    /// A scheduled publish is due but later than the grace: fail it with `schedule_missed`.
    ScheduleMissed,
}

fn later(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    at + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::seconds(30))
}

/// The durable work item behind a publish in flight, found by the workers of every instance
/// through an index ordered by `next_run_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishJob {
    pub owner: UserId,
    pub video: VideoId,
    pub attempt_id: String,
    pub phase: JobPhase,
    pub publish_id: Option<String>,
    pub next_run_at: DateTime<Utc>,
    /// After this the publish is given up (`publish_timeout`).
    pub deadline: DateTime<Utc>,
    pub runs: u32,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub version: u64,
}

impl PublishJob {
    /// A new job in `Initiating`, leased by `holder` (the request calling init). If the holder
    /// dies mid-call, the job becomes due when its lease ends.
    pub fn start(
        owner: UserId,
        video: VideoId,
        attempt_id: String,
        holder: &str,
        now: DateTime<Utc>,
        lease: Duration,
        deadline: Duration,
    ) -> Self {
        let lease_until = later(now, lease);
        Self {
            owner,
            video,
            attempt_id,
            phase: JobPhase::Initiating,
            publish_id: None,
            next_run_at: lease_until,
            deadline: later(now, deadline),
            runs: 0,
            lease_owner: Some(holder.to_owned()),
            lease_until: Some(lease_until),
            version: 1,
        }
    }

    /// A scheduled publish, due at `at` and started no later than `at + grace`. Nobody
    /// holds it until a worker leases it when it is due.
    pub fn schedule(
        owner: UserId,
        video: VideoId,
        attempt_id: String,
        at: DateTime<Utc>,
        grace: Duration,
    ) -> Self {
        Self {
            owner,
            video,
            attempt_id,
            phase: JobPhase::Scheduled,
            publish_id: None,
            next_run_at: at,
            deadline: later(at, grace),
            runs: 0,
            lease_owner: None,
            lease_until: None,
            version: 1,
        }
    }

    /// Scheduled → Scheduled at another time, lease released: a worker that leased it to
    /// start it then fails its conditional write, so it never starts at the old time.
    pub fn reschedule(
        self,
        at: DateTime<Utc>,
        grace: Duration,
    ) -> Result<Self, JobTransitionError> {
        if self.phase != JobPhase::Scheduled {
            return Err(self.refuse(JobAction::Reschedule));
        }
        let mut next = self.released().next_version();
        next.next_run_at = at;
        next.deadline = later(at, grace);
        next.runs = 0;
        Ok(next)
    }

    /// Scheduled → Initiating under the lease the worker holds, with the publish deadline
    /// counted from now. Stored before init is called, like an immediate publish's intent.
    pub fn begin_scheduled(
        self,
        now: DateTime<Utc>,
        deadline: Duration,
    ) -> Result<Self, JobTransitionError> {
        if self.phase != JobPhase::Scheduled || !self.is_leased_at(now) {
            return Err(self.refuse(JobAction::BeginScheduled));
        }
        let mut next = self.next_version();
        next.phase = JobPhase::Initiating;
        next.next_run_at = next.lease_until.unwrap_or(now);
        next.deadline = later(now, deadline);
        next.runs = 0;
        Ok(next)
    }

    fn refuse(&self, action: JobAction) -> JobTransitionError {
        JobTransitionError {
            phase: self.phase,
            action,
        }
    }

    fn next_version(mut self) -> Self {
        self.version += 1;
        self
    }

    fn released(mut self) -> Self {
        self.lease_owner = None;
        self.lease_until = None;
        self
    }

    /// Someone holds a lease that has not run out.
    pub fn is_leased_at(&self, now: DateTime<Utc>) -> bool {
        self.lease_until.is_some_and(|u| u > now)
    }

    /// A worker takes the lease until `until`; refused while another lease is live.
    pub fn leased(
        mut self,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, JobTransitionError> {
        if self.is_leased_at(now) {
            return Err(self.refuse(JobAction::Lease));
        }
        self.lease_owner = Some(holder.to_owned());
        self.lease_until = Some(until);
        Ok(self.next_version())
    }

    /// Initiating → Tracking: TikTok's init answered with its publish id; the first poll
    /// comes after `first_poll`.
    pub fn record_publish_id(
        self,
        publish_id: String,
        now: DateTime<Utc>,
        first_poll: Duration,
    ) -> Result<Self, JobTransitionError> {
        if self.phase != JobPhase::Initiating {
            return Err(self.refuse(JobAction::RecordPublishId));
        }
        let mut next = self.released().next_version();
        next.phase = JobPhase::Tracking;
        next.publish_id = Some(publish_id);
        next.next_run_at = later(now, first_poll);
        Ok(next)
    }

    /// Initiating → InitRetry: TikTok created nothing (throttled, failing, or our own rate
    /// window is full); init again after `wait`.
    pub fn defer_init(
        self,
        now: DateTime<Utc>,
        wait: Duration,
    ) -> Result<Self, JobTransitionError> {
        if self.phase != JobPhase::Initiating {
            return Err(self.refuse(JobAction::DeferInit));
        }
        let mut next = self.released().next_version();
        next.phase = JobPhase::InitRetry;
        next.next_run_at = later(now, wait);
        next.runs += 1;
        Ok(next)
    }

    /// InitRetry → Initiating, stored *before* init is called again, so that a crash during
    /// that call ends as "outcome unknown" when the lease runs out, never as a second init.
    pub fn begin_init_retry(self, now: DateTime<Utc>) -> Result<Self, JobTransitionError> {
        if self.phase != JobPhase::InitRetry {
            return Err(self.refuse(JobAction::BeginInitRetry));
        }
        let mut next = self.next_version();
        next.phase = JobPhase::Initiating;
        next.next_run_at = next.lease_until.unwrap_or(now);
        Ok(next)
    }

    /// Back off in the same phase: run again after `wait`, lease released.
    pub fn delay(self, now: DateTime<Utc>, wait: Duration) -> Self {
        let mut next = self.released().next_version();
        next.next_run_at = later(now, wait);
        next.runs += 1;
        next
    }

    /// Tracking → Tracking: TikTok is still processing; poll again with backoff.
    pub fn keep_tracking(
        self,
        now: DateTime<Utc>,
        backoff: &Backoff,
    ) -> Result<Self, JobTransitionError> {
        if self.phase != JobPhase::Tracking {
            return Err(self.refuse(JobAction::KeepTracking));
        }
        let mut next = self.released().next_version();
        next.runs += 1;
        next.next_run_at = later(now, backoff.delay(next.runs));
        Ok(next)
    }

    /// Tracking → AwaitPostId (published; public posts get their id after moderation): ask
    /// for it until `wait` has passed, slower than while processing. Repeating it in
    /// AwaitPostId keeps the deadline and backs off further.
    pub fn await_post_id(
        self,
        now: DateTime<Utc>,
        backoff: &Backoff,
        wait: Duration,
    ) -> Result<Self, JobTransitionError> {
        let entering = match self.phase {
            JobPhase::Tracking => true,
            JobPhase::AwaitPostId => false,
            JobPhase::Scheduled | JobPhase::Initiating | JobPhase::InitRetry => {
                return Err(self.refuse(JobAction::AwaitPostId));
            }
        };
        let mut next = self.released().next_version();
        next.phase = JobPhase::AwaitPostId;
        next.runs = if entering { 0 } else { next.runs + 1 };
        next.next_run_at = later(now, backoff.delay(next.runs + 2));
        if entering {
            next.deadline = later(now, wait);
        }
        Ok(next)
    }

    /// The worker's decision for a job it leased, given its video as it stands now.
    pub fn next_step(&self, video: Option<&Video>, now: DateTime<Utc>) -> JobStep {
        let Some(video) = video else {
            return JobStep::Discard;
        };
        let same_attempt = video
            .tiktok
            .as_ref()
            .is_some_and(|t| t.attempt_id == self.attempt_id);
        let live = match self.phase {
            JobPhase::Scheduled => video.status == VideoStatus::Scheduled,
            JobPhase::AwaitPostId => matches!(
                video.status,
                VideoStatus::Publishing | VideoStatus::SentToInbox | VideoStatus::Published
            ),
            JobPhase::Initiating | JobPhase::InitRetry | JobPhase::Tracking => {
                video.status == VideoStatus::Publishing
            }
        };
        if !same_attempt || !live {
            return JobStep::Discard;
        }
        if now > self.deadline {
            return match self.phase {
                JobPhase::Scheduled => JobStep::ScheduleMissed,
                JobPhase::AwaitPostId => JobStep::StopAwaitingPostId,
                JobPhase::Initiating | JobPhase::InitRetry | JobPhase::Tracking => {
                    JobStep::TimedOut
                }
            };
        }
        match self.phase {
            JobPhase::Scheduled => JobStep::StartScheduled,
            JobPhase::Initiating => JobStep::OutcomeUnknown,
            JobPhase::InitRetry => JobStep::RetryInit,
            JobPhase::Tracking | JobPhase::AwaitPostId => JobStep::Poll,
        }
    }
}

#[cfg(test)]
#[path = "publish_job_tests.rs"]
mod tests;
