//! Latency samples and their summaries. Percentiles use linear interpolation between order
//! statistics (Hyndman-Fan type 7, the default of numpy and R), applied identically to measured
//! and simulated samples wherever the two are compared.

use serde::Serialize;

pub mod sketch;
pub use sketch::LatencySketch;

/// Mean and percentiles of a latency sample [ms].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Mean [ms].
    pub mean: f64,
    /// Median [ms].
    pub p50: f64,
    /// 95th percentile [ms].
    pub p95: f64,
    /// 99th percentile [ms].
    pub p99: f64,
}

/// The upper of the two middle values (the middle one for an odd count), so that the result is
/// always one of the samples; `None` for none. Sorts `v`.
pub fn median_sample(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Type-7 quantile of an ascending-sorted slice (`q` in [0, 1]); 0 for an empty slice.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

/// Summarise a sample (sorts it in place).
pub fn summarize(samples: &mut [f64]) -> LatencySummary {
    if samples.is_empty() {
        return LatencySummary::default();
    }
    samples.sort_by(f64::total_cmp);
    LatencySummary {
        mean: samples.iter().sum::<f64>() / samples.len() as f64,
        p50: quantile_sorted(samples, 0.50),
        p95: quantile_sorted(samples, 0.95),
        p99: quantile_sorted(samples, 0.99),
    }
}

/// Round to 4 significant decimals in reports so that JSON stays readable; the rounding is
/// deterministic, so byte-identical output is kept.
pub fn round4(x: f64) -> f64 {
    if !x.is_finite() {
        return 0.0;
    }
    (x * 1e4).round() / 1e4
}

impl LatencySummary {
    /// The same summary rounded for reports.
    pub fn rounded(self) -> Self {
        LatencySummary {
            mean: round4(self.mean),
            p50: round4(self.p50),
            p95: round4(self.p95),
            p99: round4(self.p99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type7_quantiles() {
        let mut v: Vec<f64> = (1..=5).map(f64::from).collect();
        let s = summarize(&mut v);
        assert_eq!((s.mean, s.p50), (3.0, 3.0));
        assert!((s.p95 - 4.8).abs() < 1e-12);
        assert_eq!(summarize(&mut []), LatencySummary::default());
    }
}
