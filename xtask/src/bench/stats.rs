//! Latency samples and the figures the report gives for them.

use std::time::Duration;

use serde::Serialize;

/// Latencies of one measurement, kept whole so any percentile can be read exactly.
#[derive(Debug, Clone, Default)]
pub(super) struct Samples {
    millis: Vec<f64>,
}

/// What the report says about a set of samples.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub(super) struct Summary {
    pub samples: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Samples {
    pub(super) fn push(&mut self, latency: Duration) {
        self.millis.push(latency.as_secs_f64() * 1000.0);
    }

    pub(super) fn len(&self) -> usize {
        self.millis.len()
    }

    pub(super) fn summary(&self) -> Summary {
        let mut sorted = self.millis.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        if n == 0 {
            return Summary::default();
        }
        // Nearest rank: the smallest sample with at least p of them at or below it.
        let rank = |p: f64| sorted[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        Summary {
            samples: n,
            mean_ms: sorted.iter().sum::<f64>() / n as f64,
            p50_ms: rank(0.50),
            p90_ms: rank(0.90),
            p99_ms: rank(0.99),
            max_ms: sorted[n - 1],
        }
    }
}

/// `a / b`, or 0 when `b` is 0 (a figure that could not be measured).
pub(super) fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples = Samples::default();
        for ms in 1..=200u64 {
            samples.push(Duration::from_millis(ms));
        }
        let s = samples.summary();
        assert_eq!(s.samples, 200);
        assert_eq!(s.p50_ms, 100.0);
        assert_eq!(s.p99_ms, 198.0);
        assert_eq!(s.max_ms, 200.0);
        assert!((s.mean_ms - 100.5).abs() < 1e-9);
    }

    #[test]
    fn no_samples_summarise_to_zero_and_ratios_never_divide_by_zero() {
        assert_eq!(Samples::default().summary().samples, 0);
        assert_eq!(ratio(1.0, 0.0), 0.0);
        assert_eq!(ratio(3.0, 2.0), 1.5);
    }
}
