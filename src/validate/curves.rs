//! The distributions behind a validation's numbers, for the report's measured-vs-simulated CDFs:
//! the measured latencies, the replays pooled, and the band the replays span at each fraction
//! (their run-to-run spread, which the summary gives only as `replay_range_pct` at p50 and p95).

use crate::sim::detail::{cdf_fractions, Cdf};

/// Measured against simulated, for one metric of one model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CurvePair {
    /// The measured requests.
    pub measured: Cdf,
    /// Every replay's requests pooled.
    pub simulated: Cdf,
    /// At each fraction, the lowest and highest quantile of the replays `(low ms, high ms,
    /// fraction)`; one replay gives a band of zero width.
    pub replay_band: Vec<(f64, f64, f64)>,
    /// Replays simulated.
    pub replays: usize,
}

/// The curves of one model of a validation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelCurves {
    /// Request latency [ms].
    pub latency: CurvePair,
    /// LLM only: time to first token [ms].
    pub ttft: Option<CurvePair>,
}

/// Measured (`measured`, ascending) against the replays (each ascending).
pub(super) fn pair(measured: &[f64], replays: &[&[f64]]) -> CurvePair {
    let mut pooled: Vec<f64> = replays.iter().flat_map(|r| r.iter().copied()).collect();
    pooled.sort_by(f64::total_cmp);
    let replay_band = cdf_fractions()
        .into_iter()
        .map(|q| {
            let qs = replays
                .iter()
                .filter(|r| !r.is_empty())
                .map(|r| crate::metrics::quantile_sorted(r, q));
            let (lo, hi) = qs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)));
            (lo, hi, q)
        })
        .filter(|(lo, hi, _)| lo.is_finite() && hi.is_finite())
        .collect();
    CurvePair {
        measured: Cdf::of_sorted(measured),
        simulated: Cdf::of_sorted(&pooled),
        replay_band,
        replays: replays.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_band_spans_the_replays_and_the_pool_is_their_union() {
        let (a, b) = ([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]);
        let p = pair(&[1.0, 2.0], &[&a, &b]);
        assert_eq!(p.replays, 2);
        assert_eq!(p.measured.points[0], (1.0, 0.0));
        assert_eq!(p.simulated.points.last(), Some(&(6.0, 1.0)));
        let last = p.replay_band.last().copied().unwrap_or_default();
        assert_eq!(last, (3.0, 6.0, 1.0));
        assert!(p.replay_band.iter().all(|(lo, hi, _)| lo <= hi));
    }
}
