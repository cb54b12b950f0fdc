//! The in-flight bound (`POSTIQO_MAX_IN_FLIGHT`): a request takes a permit only once its body
//! is in memory, waits for one at most `POSTIQO_QUEUE_TIMEOUT_MS`, and `/readyz` learns from
//! here when the instance is saturated so a load balancer can send traffic elsewhere.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// No permit came free within the queue timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overloaded;

pub struct Admission {
    permits: Arc<Semaphore>,
    queue_timeout: Duration,
    /// When each waiting request started waiting, by ticket (tickets only grow, so the first
    /// entry is the oldest waiter).
    waiting: Mutex<BTreeMap<u64, Instant>>,
    next_ticket: AtomicU64,
    last_refusal: Mutex<Option<Instant>>,
}

/// Removes a waiter's entry however its wait ends (permit, timeout or a dropped request).
struct Waiting<'a> {
    admission: &'a Admission,
    ticket: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.admission.waiting().remove(&self.ticket);
    }
}

impl Admission {
    pub fn new(max_in_flight: usize, queue_timeout: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_in_flight)),
            queue_timeout,
            waiting: Mutex::new(BTreeMap::new()),
            next_ticket: AtomicU64::new(0),
            last_refusal: Mutex::new(None),
        }
    }

    fn waiting(&self) -> MutexGuard<'_, BTreeMap<u64, Instant>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refusals(&self) -> MutexGuard<'_, Option<Instant>> {
        self.last_refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A permit, at once when one is free, else after waiting in line (tokio's semaphore is
    /// first come, first served) for at most the queue timeout.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, Overloaded> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        self.waiting().insert(ticket, Instant::now());
        let _waiting = Waiting {
            admission: self,
            ticket,
        };
        match tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; treat it like a full queue all the same.
            Ok(Err(_)) | Err(_) => {
                *self.refusals() = Some(Instant::now());
                Err(Overloaded)
            }
        }
    }

    /// Saturated: no permit is free and requests are being turned away, or are about to be
    /// (someone has waited half the queue timeout). A burst that the queue absorbs quickly does
    /// not count; the state ends as soon as a permit is free.
    pub fn saturated(&self) -> bool {
        self.saturated_at(Instant::now())
    }

    fn saturated_at(&self, now: Instant) -> bool {
        if self.permits.available_permits() > 0 {
            return false;
        }
        let oldest_waits_long =
            self.waiting().values().next().is_some_and(|since| {
                now.saturating_duration_since(*since) >= self.queue_timeout / 2
            });
        let window = self.queue_timeout.max(Duration::from_secs(1));
        let refused_lately = self
            .refusals()
            .is_some_and(|at| now.saturating_duration_since(at) < window);
        oldest_waits_long || refused_lately
    }

    /// Seconds a refused client should wait before trying again.
    pub fn retry_after_secs(&self) -> u64 {
        self.queue_timeout.as_secs().max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUEUE: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn free_permits_are_taken_without_waiting_and_given_back_on_drop() {
        let a = Admission::new(2, QUEUE);
        let p1 = a.admit().await.expect("first");
        let _p2 = a.admit().await.expect("second");
        assert!(!a.saturated(), "full but nobody waits");
        drop(p1);
        let started = Instant::now();
        let _p3 = a.admit().await.expect("freed permit");
        assert!(started.elapsed() < QUEUE / 2);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_after_the_timeout_and_reports_saturation() {
        let a = Admission::new(1, QUEUE);
        let held = a.admit().await.expect("permit");
        let started = Instant::now();
        assert_eq!(a.admit().await.err(), Some(Overloaded));
        let waited = started.elapsed();
        assert!(waited >= QUEUE && waited < QUEUE * 5, "{waited:?}");
        assert!(a.saturated(), "refused a moment ago, still full");
        assert!(a.waiting().is_empty(), "the refused waiter left the line");
        // The refusal window ends (1 s at least); full but nobody waiting is not saturation.
        assert!(!a.saturated_at(Instant::now() + Duration::from_secs(2)));
        drop(held);
        assert!(!a.saturated(), "a free permit ends saturation at once");
    }

    #[tokio::test]
    async fn a_long_wait_is_saturation_before_anyone_is_refused() {
        let a = Arc::new(Admission::new(1, Duration::from_secs(10)));
        let held = a.admit().await.expect("permit");
        let waiter = tokio::spawn({
            let a = a.clone();
            async move { a.admit().await.map(drop) }
        });
        while a.waiting().is_empty() {
            tokio::task::yield_now().await;
        }
        assert!(!a.saturated(), "a fresh waiter is a burst");
        assert!(a.saturated_at(Instant::now() + Duration::from_secs(6)));
        drop(held);
        assert_eq!(waiter.await.expect("join"), Ok(()), "served in turn");
        assert!(a.waiting().is_empty());
    }

    #[tokio::test]
    async fn a_dropped_waiter_leaves_the_line() {
        let a = Admission::new(1, Duration::from_secs(10));
        let _held = a.admit().await.expect("permit");
        let wait = tokio::time::timeout(Duration::from_millis(20), a.admit()).await;
        assert!(wait.is_err(), "still waiting when dropped");
        assert!(a.waiting().is_empty());
    }
}
