//! `/readyz`'s storage check, remembered briefly. Load balancers probe every instance every few
//! seconds, often from several places; without this each probe is a DynamoDB and an S3 call
//! (cost, and a way to make the API call AWS as often as anyone likes). A success is reused
//! for [`OK_FOR`], a failure for [`FAILED_FOR`], and concurrent probes share one check, so an
//! instance checks storage at most about once a second however hard `/readyz` is hit.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a passed check is trusted: storage failing turns `/readyz` to 503 within this
/// (plus the check's own timeout).
pub const OK_FOR: Duration = Duration::from_secs(2);
/// How long a failed check stands: recovery shows within this.
pub const FAILED_FOR: Duration = Duration::from_secs(1);

pub struct Readiness {
    last: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
    ok_for: Duration,
    failed_for: Duration,
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new(OK_FOR, FAILED_FOR)
    }
}

impl Readiness {
    pub fn new(ok_for: Duration, failed_for: Duration) -> Self {
        Self {
            last: tokio::sync::Mutex::new(None),
            ok_for,
            failed_for,
        }
    }

    /// The last result while it is fresh, else `probe`'s (callers arriving meanwhile wait for
    /// it instead of probing too). The error is the failure's description, for the log.
    pub async fn check<F, Fut>(&self, probe: F) -> Result<(), String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, result)) = last.as_ref() {
            let fresh_for = if result.is_ok() {
                self.ok_for
            } else {
                self.failed_for
            };
            if at.elapsed() < fresh_for {
                return result.clone();
            }
        }
        let result = probe().await;
        *last = Some((Instant::now(), result.clone()));
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(
        calls: &Arc<AtomicUsize>,
        ok: bool,
    ) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + use<>
    {
        let calls = calls.clone();
        move || {
            Box::pin(async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                if ok { Ok(()) } else { Err("down".to_owned()) }
            })
        }
    }

    #[tokio::test]
    async fn a_burst_of_probes_makes_one_check() {
        let r = Arc::new(Readiness::new(
            Duration::from_secs(60),
            Duration::from_secs(60),
        ));
        let calls = Arc::new(AtomicUsize::new(0));
        let burst = (0..50).map(|_| {
            let r = r.clone();
            let probe = counting(&calls, true);
            tokio::spawn(async move { r.check(probe).await })
        });
        for answer in futures_util::future::join_all(burst).await {
            assert_eq!(answer.expect("join"), Ok(()));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn results_expire_each_after_its_own_time() {
        let r = Readiness::new(Duration::from_millis(200), Duration::from_millis(50));
        let calls = Arc::new(AtomicUsize::new(0));
        assert_eq!(r.check(counting(&calls, true)).await, Ok(()));
        // Still fresh: storage going down is not seen yet.
        assert_eq!(r.check(counting(&calls, false)).await, Ok(()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(r.check(counting(&calls, false)).await.is_err());
        assert!(
            r.check(counting(&calls, true)).await.is_err(),
            "failure still fresh"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            r.check(counting(&calls, true)).await,
            Ok(()),
            "recovery seen quickly"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
