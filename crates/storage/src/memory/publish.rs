//! Publishing's ports in memory: videos, publish jobs, idempotency keys and rate windows.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postiqo_domain::{PublishJob, UserId, Video, VideoId};

use super::{Idem, MemoryStore, live};
use crate::{
    IdempotencyBegin, IdempotencyStore, JobChange, PublishStore, RateWindows, RepoError, VideoPage,
    VideoQuery, VideoRepository,
};

#[async_trait]
impl VideoRepository for MemoryStore {
    async fn insert(
        &self,
        video: &Video,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), RepoError> {
        self.write(|s| {
            let key = (video.owner, video.id);
            if s.videos.contains_key(&key) {
                return Err(RepoError::Conflict);
            }
            s.videos.insert(key, (video.clone(), expires_at));
            Ok(())
        })
    }

    async fn get(
        &self,
        owner: UserId,
        id: VideoId,
        now: DateTime<Utc>,
    ) -> Result<Option<Video>, RepoError> {
        Ok(self
            .lock()
            .videos
            .get(&(owner, id))
            .filter(|(_, exp)| live(*exp, now))
            .map(|(v, _)| v.clone()))
    }

    async fn update(
        &self,
        video: &Video,
        expected_version: u64,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), RepoError> {
        self.write(|s| match s.videos.get_mut(&(video.owner, video.id)) {
            Some(stored) if stored.0.version == expected_version => {
                *stored = (video.clone(), expires_at);
                Ok(())
            }
            _ => Err(RepoError::Conflict),
        })
    }

    async fn delete(
        &self,
        owner: UserId,
        id: VideoId,
        expected_version: u64,
    ) -> Result<(), RepoError> {
        self.write(|s| match s.videos.get(&(owner, id)) {
            Some((v, _)) if v.version == expected_version => {
                s.videos.remove(&(owner, id));
                Ok(())
            }
            _ => Err(RepoError::Conflict),
        })
    }

    async fn list(&self, query: VideoQuery) -> Result<VideoPage, RepoError> {
        let s = self.lock();
        // Newest first: ids are UUIDv7, so they sort by creation time.
        let mut videos: Vec<Video> = s
            .videos
            .values()
            .filter(|(v, exp)| v.owner == query.owner && live(*exp, query.now))
            .filter(|(v, _)| query.status.is_none_or(|st| v.status == st))
            .map(|(v, _)| v.clone())
            .collect();
        videos.sort_by_key(|v| std::cmp::Reverse(v.id.to_string()));
        if let Some(after) = query.after {
            let after = after.to_string();
            videos.retain(|v| v.id.to_string() < after);
        }
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let more = videos.len() > limit;
        videos.truncate(limit);
        let next_after = more.then(|| videos.last().map(|v| v.id)).flatten();
        Ok(VideoPage { videos, next_after })
    }

    async fn ping(&self) -> Result<(), RepoError> {
        Ok(())
    }
}

#[async_trait]
impl PublishStore for MemoryStore {
    async fn commit(
        &self,
        video: &Video,
        expected_version: u64,
        job: JobChange<'_>,
        publish_id: Option<&str>,
    ) -> Result<(), RepoError> {
        self.write(|s| {
            let key = (video.owner, video.id);
            // Every condition first: a transaction changes all or nothing.
            match s.videos.get(&key) {
                Some((v, _)) if v.version == expected_version => {}
                _ => return Err(RepoError::Conflict),
            }
            let stored_job = s.jobs.get(&key).map(|j| j.version);
            let job_ok = match &job {
                JobChange::Keep
                | JobChange::Save {
                    expected_version: None,
                    ..
                } => true,
                JobChange::Save {
                    expected_version: Some(v),
                    ..
                } => stored_job == Some(*v),
                JobChange::Remove { expected_version } => {
                    stored_job.is_none_or(|v| v == *expected_version)
                }
            };
            if !job_ok {
                return Err(RepoError::Conflict);
            }
            s.videos.insert(key, (video.clone(), None));
            match job {
                JobChange::Keep => {}
                JobChange::Save { job, .. } => {
                    s.jobs.insert(key, job.clone());
                }
                JobChange::Remove { .. } => {
                    s.jobs.remove(&key);
                }
            }
            if let Some(pid) = publish_id {
                s.lookups.insert((video.owner, pid.to_owned()), video.id);
            }
            Ok(())
        })
    }

    async fn job(&self, owner: UserId, video: VideoId) -> Result<Option<PublishJob>, RepoError> {
        Ok(self.lock().jobs.get(&(owner, video)).cloned())
    }

    async fn forget(
        &self,
        owner: UserId,
        video: VideoId,
        publish_id: Option<&str>,
    ) -> Result<(), RepoError> {
        self.write(|s| {
            s.jobs.remove(&(owner, video));
            if let Some(pid) = publish_id {
                s.lookups.remove(&(owner, pid.to_owned()));
            }
            Ok(())
        })
    }

    async fn delete_job(
        &self,
        owner: UserId,
        video: VideoId,
        expected_version: u64,
    ) -> Result<(), RepoError> {
        self.write(|s| match s.jobs.get(&(owner, video)) {
            Some(j) if j.version == expected_version => {
                s.jobs.remove(&(owner, video));
                Ok(())
            }
            _ => Err(RepoError::Conflict),
        })
    }

    async fn due_jobs(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<PublishJob>, RepoError> {
        let mut due: Vec<PublishJob> = self
            .lock()
            .jobs
            .values()
            .filter(|j| j.next_run_at <= now)
            .cloned()
            .collect();
        due.sort_by_key(|j| j.next_run_at);
        due.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(due)
    }

    async fn lease(
        &self,
        job: &PublishJob,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<PublishJob, RepoError> {
        self.write(|s| {
            let key = (job.owner, job.video);
            let stored = match s.jobs.get(&key) {
                Some(j) if j.version == job.version => j.clone(),
                _ => return Err(RepoError::Conflict),
            };
            let leased = stored
                .leased(owner, until, now)
                .map_err(|_| RepoError::Conflict)?;
            s.jobs.insert(key, leased.clone());
            Ok(leased)
        })
    }

    async fn video_for_publish_id(
        &self,
        owner: UserId,
        publish_id: &str,
    ) -> Result<Option<VideoId>, RepoError> {
        Ok(self
            .lock()
            .lookups
            .get(&(owner, publish_id.to_owned()))
            .copied())
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn begin(
        &self,
        owner: UserId,
        key_digest: &str,
        request_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyBegin, RepoError> {
        self.write(|s| {
            let key = (owner, key_digest.to_owned());
            match s.idempotency.get(&key).filter(|r| r.expires_at > now) {
                Some(Idem {
                    request_hash,
                    done: Some((status, body)),
                    ..
                }) => Ok(IdempotencyBegin::Done {
                    request_hash: request_hash.clone(),
                    status: *status,
                    body: body.clone(),
                }),
                Some(Idem { request_hash, .. }) => Ok(IdempotencyBegin::InProgress {
                    request_hash: request_hash.clone(),
                }),
                None => {
                    s.idempotency.insert(
                        key,
                        Idem {
                            request_hash: request_hash.to_owned(),
                            expires_at,
                            done: None,
                        },
                    );
                    Ok(IdempotencyBegin::Started)
                }
            }
        })
    }

    async fn finish(
        &self,
        owner: UserId,
        key_digest: &str,
        status: u16,
        body: &str,
    ) -> Result<(), RepoError> {
        self.write(
            |s| match s.idempotency.get_mut(&(owner, key_digest.to_owned())) {
                Some(r) => {
                    r.done = Some((status, body.to_owned()));
                    Ok(())
                }
                None => Err(RepoError::Conflict),
            },
        )
    }

    async fn abandon(&self, owner: UserId, key_digest: &str) -> Result<(), RepoError> {
        self.write(|s| {
            s.idempotency.remove(&(owner, key_digest.to_owned()));
            Ok(())
        })
    }
}

#[async_trait]
impl RateWindows for MemoryStore {
    async fn try_acquire(
        &self,
        owner: UserId,
        name: &str,
        limit: usize,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Result<(), Duration>, RepoError> {
        self.write(|s| {
            let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
            let stamps = s.rates.entry((owner, name.to_owned())).or_default();
            stamps.retain(|t| *t > now - window);
            if stamps.len() >= limit {
                let oldest = stamps.iter().min().copied().unwrap_or(now);
                let wait = (oldest + window - now)
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .max(Duration::from_millis(1));
                return Ok(Err(wait));
            }
            stamps.push(now);
            Ok(Ok(()))
        })
    }
}
