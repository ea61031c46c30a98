//! What a run's report draws beyond its summary: each model's and pipeline's latency
//! distribution as points of its CDF, and a coarse utilisation timeline of every device.
//!
//! The CDFs come from the recorder's sketches (the same ones the summary's percentiles come
//! from), read at [`cdf_fractions`], so a report costs no per-request memory. The timeline is
//! busy time per fixed window of the measurement window ([`Timeline`]): off unless
//! [`Simulation::record_timeline`] turns it on before the first event, and then a fixed array
//! per device that each busy period adds to (no allocation while the run goes). Neither changes
//! what a run does or reports: [`Simulation::summary`] is the same with or without them.

use super::recorder::Window;
use super::{RunSummary, Simulation};
use crate::error::{Error, Result};
use crate::metrics::LatencySketch;
use crate::scenario::{Scenario, Target};
use crate::time::{to_secs, SimTime};

/// Windows of a report's utilisation timeline: 120 over the measurement window (2.5 s each for
/// the default study's 300 s), fine enough to show ramps and outages, coarse enough to cost
/// nothing.
pub const TIMELINE_BINS: usize = 120;

/// The fractions a CDF is read at, in ten-thousandths: every 1 % up to 90 %, every 0.5 % up to
/// 99 %, every 0.1 % up to 99.9 %, then 99.95 % and 100 % (the maximum). The tail, where the
/// objectives are, gets most of the points.
pub fn cdf_fractions() -> Vec<f64> {
    let mut per_10k: Vec<u32> = (0..=90).map(|k| k * 100).collect();
    per_10k.extend((1..=18).map(|k| 9000 + k * 50));
    per_10k.extend((1..=9).map(|k| 9900 + k * 10));
    per_10k.extend([9995, 10000]);
    per_10k.into_iter().map(|k| f64::from(k) / 10_000.0).collect()
}

/// A latency distribution as points `(ms, fraction at most that)`, both ascending; empty when
/// nothing was measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cdf {
    /// `(latency [ms], fraction)` at [`cdf_fractions`].
    pub points: Vec<(f64, f64)>,
}

impl Cdf {
    /// The CDF of a sketch (its type-7 quantile estimates, within the sketch's relative accuracy).
    pub fn of_sketch(s: &LatencySketch) -> Cdf {
        if s.count() == 0 {
            return Cdf::default();
        }
        Cdf {
            points: cdf_fractions().into_iter().map(|q| (s.quantile(q), q)).collect(),
        }
    }

    /// The CDF of an ascending-sorted sample (type-7 quantiles, exact).
    pub fn of_sorted(sorted: &[f64]) -> Cdf {
        if sorted.is_empty() {
            return Cdf::default();
        }
        Cdf {
            points: cdf_fractions()
                .into_iter()
                .map(|q| (crate::metrics::quantile_sorted(sorted, q), q))
                .collect(),
        }
    }

    /// True when nothing was measured.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// The distributions of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelCurves {
    /// Model name.
    pub model: String,
    /// Request latency of its measured requests.
    pub latency: Cdf,
    /// LLM only: time to first token.
    pub ttft: Option<Cdf>,
}

/// The distributions of one pipeline workload.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineCurves {
    /// Workload name.
    pub workload: String,
    /// Turn latency.
    pub latency: Cdf,
    /// Time to first audio (empty when no stage speaks).
    pub first_audio: Cdf,
}

/// One device's utilisation over the measurement window.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceTimeline {
    /// GPU index within the variant.
    pub gpu: u32,
    /// `whole` or the MIG instance, e.g. `3g.40gb@4`.
    pub label: String,
    /// Start of the first window [s of simulated time] (the end of the warm-up).
    pub start_s: f64,
    /// Length of each window [s] (the last may be shorter: it ends with the measurement window).
    pub bin_s: f64,
    /// Busy fraction of the device per window (any context executing).
    pub busy: Vec<f64>,
    /// Per context of a shared device (time-sliced, MPS): its label and busy fraction per window;
    /// empty for an exclusive device, whose one context is the device.
    pub contexts: Vec<(String, Vec<f64>)>,
}

/// Everything [`Simulation::detail`] adds to a run's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct RunDetail {
    /// Per model, in the scenario's model order.
    pub models: Vec<ModelCurves>,
    /// Per pipeline workload, in workload order.
    pub pipelines: Vec<PipelineCurves>,
    /// Per device, in placement order (empty unless the timeline was recorded).
    pub devices: Vec<DeviceTimeline>,
}

/// Busy time per window of the measurement window `[warmup, duration)`, for the device and for
/// each of its contexts [ns]. Empty (and every `add` a no-op) unless made by [`Timeline::new`].
#[derive(Debug, Clone, Default)]
pub(super) struct Timeline {
    start: SimTime,
    end: SimTime,
    width: SimTime,
    any: Vec<SimTime>,
    ctx: Vec<Vec<SimTime>>,
}

impl Timeline {
    /// At most `bins` windows of equal length (rounded up to whole ns) over `w`, for a device of
    /// `contexts` contexts.
    fn new(w: Window, bins: usize, contexts: usize) -> Timeline {
        let span = w.span();
        let width = span.div_ceil(bins.max(1) as u64).max(1);
        let n = span.div_ceil(width) as usize;
        Timeline {
            start: w.warmup,
            end: w.warmup + span,
            width,
            any: vec![0; n],
            ctx: vec![vec![0; n]; contexts],
        }
    }

    /// Add `[a, b)`, clipped to the window, to the windows it overlaps.
    fn spread(bins: &mut [SimTime], start: SimTime, end: SimTime, width: SimTime, a: SimTime, b: SimTime) {
        let (a, b) = (a.max(start), b.min(end));
        if a >= b {
            return;
        }
        let first = ((a - start) / width) as usize;
        let last = (((b - 1) - start) / width) as usize;
        for (i, bin) in bins.iter_mut().enumerate().take(last + 1).skip(first) {
            let lo = start + i as u64 * width;
            *bin += b.min(lo + width) - a.max(lo);
        }
    }

    /// The device was busy during `[a, b)`.
    pub(super) fn add_any(&mut self, a: SimTime, b: SimTime) {
        if !self.any.is_empty() {
            Self::spread(&mut self.any, self.start, self.end, self.width, a, b);
        }
    }

    /// Context `c` executed during `[a, b)`.
    pub(super) fn add_ctx(&mut self, c: usize, a: SimTime, b: SimTime) {
        if let Some(bins) = self.ctx.get_mut(c) {
            Self::spread(bins, self.start, self.end, self.width, a, b);
        }
    }

    /// Each window's length [ns].
    fn lengths(&self) -> impl Iterator<Item = SimTime> + '_ {
        (0..self.any.len() as u64).map(|i| {
            let lo = self.start + i * self.width;
            (lo + self.width).min(self.end) - lo
        })
    }

    /// Busy fractions of `bins` (at most 1).
    fn fractions(&self, bins: &[SimTime]) -> Vec<f64> {
        bins.iter()
            .zip(self.lengths())
            .map(|(&b, len)| (b as f64 / len.max(1) as f64).min(1.0))
            .collect()
    }
}

impl Simulation {
    /// Record a utilisation timeline of at most `bins` windows per device (for
    /// [`Simulation::detail`]). Only before the first event: busy time already spent would be
    /// missing from it.
    pub fn record_timeline(&mut self, bins: usize) -> Result<()> {
        if self.q.processed() > 0 {
            return Err(Error::Infeasible(
                "record_timeline must be called before the simulation's first event".into(),
            ));
        }
        let w = self.rec.window;
        for d in &mut self.devices {
            d.busy.line = Timeline::new(w, bins, d.servers.len());
        }
        Ok(())
    }

    /// The CDFs of every model and pipeline measured so far and, if recorded, every device's
    /// utilisation timeline (a busy period still open counts up to now).
    pub fn detail(&self) -> RunDetail {
        let now = self.q.now();
        let models = self
            .models
            .iter()
            .zip(&self.rec.models)
            .map(|(m, acc)| ModelCurves {
                model: m.name.clone(),
                latency: Cdf::of_sketch(&acc.latency),
                ttft: (m.kind == crate::model::ServiceKind::Llm).then(|| Cdf::of_sketch(&acc.ttft)),
            })
            .collect();
        let pipelines = self
            .sources
            .workloads
            .iter()
            .zip(&self.rec.workloads)
            .filter(|(w, _)| matches!(w.target, Target::Pipeline(_)))
            .map(|(w, acc)| PipelineCurves {
                workload: w.name.clone(),
                latency: Cdf::of_sketch(&acc.latency),
                first_audio: Cdf::of_sketch(&acc.first_audio),
            })
            .collect();
        let devices = self
            .devices
            .iter()
            .filter(|d| !d.busy.line.any.is_empty())
            .map(|d| {
                let line = &d.busy.line;
                let mut any = line.any.clone();
                if d.busy.running > 0 {
                    Timeline::spread(&mut any, line.start, line.end, line.width, d.busy.from, now);
                }
                DeviceTimeline {
                    gpu: d.gpu,
                    label: d.label.clone(),
                    start_s: to_secs(line.start),
                    bin_s: to_secs(line.width),
                    busy: line.fractions(if d.exclusive() { &line.ctx[0] } else { &any }),
                    contexts: if d.exclusive() {
                        Vec::new()
                    } else {
                        d.servers
                            .iter()
                            .zip(&line.ctx)
                            .map(|(&s, bins)| (self.servers[s as usize].host.label.clone(), line.fractions(bins)))
                            .collect()
                    },
                }
            })
            .collect();
        RunDetail {
            models,
            pipelines,
            devices,
        }
    }
}

/// Run every variant of a scenario (in parallel, results in variant order) with a utilisation
/// timeline of [`TIMELINE_BINS`] windows, and return each summary with its detail. The summaries
/// are those of [`super::run_scenario`].
pub fn run_scenario_detailed(scenario: &Scenario, seed: u64) -> Result<Vec<(RunSummary, RunDetail)>> {
    use rayon::prelude::*;
    let sims: Vec<Simulation> = (0..scenario.variants.len())
        .map(|v| {
            let mut s = Simulation::new(scenario, v, seed)?;
            s.record_timeline(TIMELINE_BINS)?;
            Ok(s)
        })
        .collect::<Result<_>>()?;
    Ok(sims
        .into_par_iter()
        .map(|mut s| {
            while s.step() {}
            (s.summary(), s.detail())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SEC;

    #[test]
    fn fractions_ascend_from_0_to_1_denser_in_the_tail() {
        let f = cdf_fractions();
        assert_eq!((f[0], *f.last().unwrap_or(&0.0)), (0.0, 1.0));
        assert!(f.windows(2).all(|w| w[0] < w[1]));
        assert!(f.contains(&0.95) && f.contains(&0.99) && f.contains(&0.5));
        assert!(f.iter().filter(|&&q| q > 0.9).count() > 25);
    }

    #[test]
    fn busy_periods_are_spread_over_the_windows_they_overlap() {
        let w = Window {
            warmup: 10 * SEC,
            duration: 20 * SEC,
        };
        let mut t = Timeline::new(w, 4, 1);
        // 10 s in 4 windows of 2.5 s.
        assert_eq!((t.width, t.any.len()), (2_500_000_000, 4));
        t.add_any(9 * SEC, 11 * SEC); // 1 s in window 0 (the rest is before the window)
        t.add_any(12 * SEC, 16 * SEC); // 0.5 s in 0, 2.5 s in 1, 1 s in 2
        t.add_any(19 * SEC, 25 * SEC); // 1 s in 3
        assert_eq!(t.any, [1_500_000_000, 2_500_000_000, 1_000_000_000, 1_000_000_000]);
        assert_eq!(t.fractions(&t.any.clone()), [0.6, 1.0, 0.4, 0.4]);
        t.add_ctx(5, 0, SEC); // no such context: nothing happens
        let mut off = Timeline::default();
        off.add_any(0, SEC);
        assert!(off.any.is_empty());
    }

    #[test]
    fn an_uneven_window_ends_with_a_shorter_bin() {
        let w = Window { warmup: 0, duration: 10 };
        let t = Timeline::new(w, 4, 0);
        assert_eq!((t.width, t.any.len()), (3, 4));
        assert_eq!(t.lengths().collect::<Vec<_>>(), [3, 3, 3, 1]);
    }
}
