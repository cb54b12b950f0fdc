//! Latency samples: requests per second and percentiles.

use std::time::Duration;

/// One measured run, by oha or by the bare SDK loop.
#[derive(Debug, Clone)]
pub struct Sample {
    pub requests: u64,
    pub rps: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// Nearest-rank percentile of sorted latencies (`q` in 0..=1).
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn sample(mut latencies: Vec<Duration>, elapsed: Duration) -> Sample {
    latencies.sort_unstable();
    let requests = latencies.len() as u64;
    Sample {
        requests,
        rps: requests as f64 / elapsed.as_secs_f64().max(1e-9),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    }
}

/// Several rounds of the same run as one: requests added up, rates and percentiles the medians
/// of the rounds' (robust against one round disturbed by something else on the machine).
pub fn combine(rounds: &[Sample]) -> Sample {
    let mid = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or_default()
    };
    Sample {
        requests: rounds.iter().map(|r| r.requests).sum(),
        rps: mid(rounds.iter().map(|r| r.rps).collect()),
        p50: median(rounds.iter().map(|r| r.p50).collect()),
        p99: median(rounds.iter().map(|r| r.p99).collect()),
    }
}

/// The median of a few numbers (e.g. start-up times).
pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn rounds_combine_to_medians() {
        let r = |ms: u32| Sample {
            requests: 10,
            rps: f64::from(ms),
            p50: Duration::from_millis(u64::from(ms)),
            p99: Duration::from_millis(u64::from(ms) * 2),
        };
        let c = combine(&[r(1), r(9), r(2)]);
        assert_eq!(c.requests, 30);
        assert_eq!(c.p50, Duration::from_millis(2));
        assert!((c.rps - 2.0).abs() < 1e-9);
    }

    #[test]
    fn sample_counts_requests_per_second() {
        let s = sample(vec![Duration::from_millis(2); 10], Duration::from_secs(2));
        assert_eq!(s.requests, 10);
        assert!((s.rps - 5.0).abs() < 1e-9);
        assert_eq!(s.p50, Duration::from_millis(2));
    }
}
