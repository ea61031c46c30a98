//! The recorder: what a run measures, as it happens. Latencies go into sketches (memory does not
//! grow with the requests), counts into per-model and per-workload accumulators, and the
//! measurement window decides what counts: requests that arrived in `[warmup, duration)`, work
//! and conversations that overlap it. [`crate::sim::Simulation::summary`] turns it into a
//! [`super::RunSummary`].

use crate::metrics::LatencySketch;
use crate::time::SimTime;

/// The measurement window `[warmup, duration)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Window {
    pub(super) warmup: SimTime,
    pub(super) duration: SimTime,
}

impl Window {
    /// A request or unit that arrived at `t` is measured.
    pub(super) fn measured(&self, t: SimTime) -> bool {
        t >= self.warmup && t < self.duration
    }

    /// How much of `[a, b)` lies in the window [ns].
    pub(super) fn overlap(&self, a: SimTime, b: SimTime) -> SimTime {
        b.min(self.duration).saturating_sub(a.max(self.warmup))
    }

    /// Its length [ns] (at least 1).
    pub(super) fn span(&self) -> SimTime {
        (self.duration - self.warmup).max(1)
    }
}

/// Per-model accumulators.
#[derive(Debug, Clone, Default)]
pub(super) struct ModelAcc {
    pub(super) completed: u64,
    pub(super) failed: u64,
    pub(super) lost: u64,
    /// Requests lost or refused because of a fault, per fault kind (`FaultKind::ALL` order).
    pub(super) failed_by_kind: [u64; 4],
    /// Latencies and LLM times to first token of measured requests [ms].
    pub(super) latency: LatencySketch,
    pub(super) ttft: LatencySketch,
    /// The exact latencies too, in completion order, only when records are kept.
    pub(super) samples: Vec<f64>,
    pub(super) finished_in_window: u64,
    pub(super) preemptions: u64,
    /// Requests that arrived in the measurement window, and their summed size and LLM output
    /// tokens (the offered load the planner bounds capacity with).
    pub(super) arrived: u64,
    pub(super) size_sum: f64,
    pub(super) out_sum: f64,
}

/// Per-workload accumulators (top-level units).
#[derive(Debug, Clone, Default)]
pub(super) struct WlAcc {
    pub(super) completed: u64,
    pub(super) failed: u64,
    pub(super) timed_out: u64,
    /// Latency, time to first audio and per-stage latency of measured units [ms].
    pub(super) latency: LatencySketch,
    pub(super) first_audio: LatencySketch,
    pub(super) stages: Vec<LatencySketch>,
    pub(super) finished_in_window: u64,
}

/// Active conversations: how many are open now, and their time integral and peak over the
/// measurement window.
#[derive(Debug, Clone, Default)]
pub(super) struct ConvAcc {
    /// Users of conversation workloads (0: the scenario has none).
    pub(super) users: u32,
    pub(super) active: u32,
    /// Sum of active x ns within the window.
    area: u128,
    max: u32,
    last: SimTime,
}

impl ConvAcc {
    /// Conversations open (`+1`) or close (`-1`) at `now`.
    pub(super) fn change(&mut self, w: &Window, now: SimTime, delta: i32) {
        let o = w.overlap(self.last, now);
        if o > 0 {
            self.area += u128::from(o) * u128::from(self.active);
            self.max = self.max.max(self.active);
        }
        self.last = now;
        self.active = self.active.saturating_add_signed(delta);
    }

    /// Time-weighted mean and peak of the active conversations over the window, counted up to
    /// `now`.
    pub(super) fn window(&self, w: &Window, now: SimTime) -> (f64, u32) {
        let o = w.overlap(self.last, now);
        let area = self.area + u128::from(o) * u128::from(self.active);
        let max = if o > 0 { self.max.max(self.active) } else { self.max };
        (area as f64 / w.span() as f64, max)
    }
}

/// Failure counts that are not per model.
#[derive(Debug, Clone, Default)]
pub(super) struct FailCounts {
    pub(super) crashes: u64,
    pub(super) lost_requests: u64,
    pub(super) rejected_requests: u64,
    pub(super) timed_out: u64,
    /// Crashes per fault kind (`FaultKind::ALL` order).
    pub(super) by_kind: [u64; 4],
}

/// One model in one report window: what [`ModelAcc`] counts for the whole run.
#[derive(Debug, Clone, Default)]
pub(super) struct WinModel {
    pub(super) completed: u64,
    pub(super) failed: u64,
    pub(super) finished: u64,
    pub(super) latency: LatencySketch,
    pub(super) ttft: LatencySketch,
}

/// One workload in one report window: what [`WlAcc`] counts for the whole run.
#[derive(Debug, Clone, Default)]
pub(super) struct WinWl {
    pub(super) completed: u64,
    pub(super) failed: u64,
    pub(super) finished: u64,
    pub(super) latency: LatencySketch,
    pub(super) first_audio: LatencySketch,
}

/// The report windows `[k len, (k + 1) len)` of a run with `window_s`: a request counts in the
/// window it arrived in (as the run counts it in the measurement window), a completion in the
/// window it finished in. Windows are allocated as the clock reaches them, so a run holds only
/// the windows it has seen.
#[derive(Debug, Clone, Default)]
pub(super) struct Windows {
    /// Window length [ns] (0: no windows).
    pub(super) len: SimTime,
    n_models: usize,
    n_wls: usize,
    pub(super) acc: Vec<(Vec<WinModel>, Vec<WinWl>)>,
}

impl Windows {
    /// The window holding `t`, allocated with those before it.
    fn at(&mut self, t: SimTime) -> &mut (Vec<WinModel>, Vec<WinWl>) {
        let k = (t / self.len) as usize;
        while self.acc.len() <= k {
            self.acc
                .push((vec![WinModel::default(); self.n_models], vec![WinWl::default(); self.n_wls]));
        }
        &mut self.acc[k]
    }

    /// Index of the window holding `t`.
    pub(super) fn index(&self, t: SimTime) -> usize {
        (t / self.len) as usize
    }
}

/// Everything a run measures.
#[derive(Debug, Clone)]
pub(super) struct Recorder {
    pub(super) window: Window,
    pub(super) models: Vec<ModelAcc>,
    pub(super) workloads: Vec<WlAcc>,
    pub(super) fail: FailCounts,
    pub(super) conv: ConvAcc,
    /// Some call was costed beyond the measured tables, or a server is derived
    /// ([`crate::deploy::placement::derived`]).
    pub(super) extrapolated: bool,
    /// How much of the GPU time rests on that.
    pub(super) lean: Lean,
    /// Keep each model's exact latencies too (`Simulation::keep_records`).
    pub(super) keep_samples: bool,
    /// Per-window figures (`window_s`; none without it).
    pub(super) windows: Windows,
}

/// The GPU time of the calls servers submitted, and the part of it that is not measured: a call
/// is counted there when a table lookup of its costing went beyond the measured cells, or its
/// server's tables are derived. A flag alone says a run leans on extrapolation somewhere; this
/// says how far (one call at batch 64 in a day of batch-8 calls is not a derived model).
#[derive(Debug, Clone, Default)]
pub(super) struct Lean {
    /// A lookup of the call being costed went beyond the measured cells.
    call: bool,
    total_ns: u64,
    beyond_ns: u64,
}

impl Recorder {
    /// A table lookup for the call being costed; `ext`: beyond the measured cells.
    pub(super) fn costed(&mut self, ext: bool) {
        self.lean.call |= ext;
    }

    /// A server submitted a call of `ns` GPU time (reference-GPU time on MPS); `derived`: its
    /// tables are derived, not measured.
    pub(super) fn submitted(&mut self, ns: u64, derived: bool) {
        self.lean.total_ns = self.lean.total_ns.saturating_add(ns);
        if self.lean.call || derived {
            self.lean.beyond_ns = self.lean.beyond_ns.saturating_add(ns);
            self.extrapolated = true;
        }
        self.lean.call = false;
    }

    /// Share of the submitted GPU time costed beyond the measured tables or on derived servers [%].
    pub(super) fn extrapolated_pct(&self) -> f64 {
        if self.lean.total_ns == 0 {
            return 0.0;
        }
        self.lean.beyond_ns as f64 / self.lean.total_ns as f64 * 100.0
    }
    /// A recorder for `models` models and workloads of `stages` stages each.
    pub(super) fn new(window: Window, models: usize, stages: impl Iterator<Item = usize>) -> Recorder {
        Recorder {
            window,
            models: vec![ModelAcc::default(); models],
            workloads: stages
                .map(|n| WlAcc {
                    stages: vec![LatencySketch::new(); n],
                    ..WlAcc::default()
                })
                .collect(),
            fail: FailCounts::default(),
            conv: ConvAcc::default(),
            extrapolated: false,
            lean: Lean::default(),
            keep_samples: false,
            windows: Windows::default(),
        }
    }

    /// Also measure each window of `len` [ns] (0: none).
    pub(super) fn with_windows(mut self, len: SimTime) -> Recorder {
        self.windows = Windows {
            len,
            n_models: self.models.len(),
            n_wls: self.workloads.len(),
            acc: Vec::new(),
        };
        self
    }

    /// The windows are measured.
    fn windowed(&self) -> bool {
        self.windows.len > 0
    }

    /// A unit of workload `wl` that arrived at `arrival` is done at `now` after `latency_ms`,
    /// its first audio after `first_audio_ms` (a pipeline with a TTS stage).
    pub(super) fn unit_done(&mut self, wl: usize, arrival: SimTime, now: SimTime, latency_ms: f64, first_audio_ms: Option<f64>) {
        let measured = self.measured(arrival);
        if measured {
            let acc = &mut self.workloads[wl];
            acc.completed += 1;
            acc.latency.add(latency_ms);
            if let Some(f) = first_audio_ms {
                acc.first_audio.add(f);
            }
        }
        let in_window = self.measured(now);
        if in_window {
            self.workloads[wl].finished_in_window += 1;
        }
        if self.windowed() {
            if measured {
                let w = &mut self.windows.at(arrival).1[wl];
                w.completed += 1;
                w.latency.add(latency_ms);
                if let Some(f) = first_audio_ms {
                    w.first_audio.add(f);
                }
            }
            if in_window {
                self.windows.at(now).1[wl].finished += 1;
            }
        }
    }

    /// A unit of workload `wl` that arrived at `arrival` failed.
    pub(super) fn unit_failed(&mut self, wl: usize, arrival: SimTime) {
        if self.measured(arrival) {
            self.workloads[wl].failed += 1;
            if self.windowed() {
                self.windows.at(arrival).1[wl].failed += 1;
            }
        }
    }

    /// A request or unit that arrived at `t` is measured.
    pub(super) fn measured(&self, t: SimTime) -> bool {
        self.window.measured(t)
    }

    /// A request of `model` is sent at `now` with `size` and `out` LLM tokens (offered load).
    pub(super) fn sent(&mut self, model: usize, now: SimTime, size: f64, out: u32) {
        if self.measured(now) {
            let a = &mut self.models[model];
            a.arrived += 1;
            a.size_sum += size;
            a.out_sum += f64::from(out);
        }
    }

    /// A request of `model` that arrived at `arrival` finished at `now`; `ttft` its time to first
    /// token for an LLM [ms].
    pub(super) fn completed(&mut self, model: usize, arrival: SimTime, now: SimTime, ttft: Option<f64>) {
        let keep = self.keep_samples;
        let in_window = self.measured(now);
        let a = &mut self.models[model];
        let ms = crate::time::to_ms(now - arrival);
        if self.window.measured(arrival) {
            a.completed += 1;
            a.latency.add(ms);
            if keep {
                a.samples.push(ms);
            }
            if let Some(t) = ttft {
                a.ttft.add(t);
            }
        }
        if in_window {
            a.finished_in_window += 1;
        }
        if self.windowed() {
            if self.window.measured(arrival) {
                let w = &mut self.windows.at(arrival).0[model];
                w.completed += 1;
                w.latency.add(ms);
                if let Some(t) = ttft {
                    w.ttft.add(t);
                }
            }
            if in_window {
                self.windows.at(now).0[model].finished += 1;
            }
        }
    }

    /// A request of `model` that arrived at `arrival` failed.
    pub(super) fn failed(&mut self, model: usize, arrival: SimTime) {
        if self.measured(arrival) {
            self.models[model].failed += 1;
            if self.windowed() {
                self.windows.at(arrival).0[model].failed += 1;
            }
        }
    }

    /// A request of `model` that arrived at `arrival` was lost in a fault of kind `kind`.
    pub(super) fn lost(&mut self, model: usize, arrival: SimTime, kind: usize) {
        if self.measured(arrival) {
            self.fail.lost_requests += 1;
            let a = &mut self.models[model];
            a.lost += 1;
            a.failed_by_kind[kind] += 1;
        }
    }

    /// An LLM sequence of `model` (its request arrived at `arrival`) was preempted.
    pub(super) fn preempted(&mut self, model: usize, arrival: SimTime) {
        if self.measured(arrival) {
            self.models[model].preemptions += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SEC;

    const W: Window = Window {
        warmup: 10 * SEC,
        duration: 20 * SEC,
    };

    #[test]
    fn the_window_measures_arrivals_in_it_and_overlaps() {
        assert!(!W.measured(10 * SEC - 1) && W.measured(10 * SEC) && !W.measured(20 * SEC));
        assert_eq!(W.overlap(5 * SEC, 12 * SEC), 2 * SEC);
        assert_eq!(W.overlap(15 * SEC, 30 * SEC), 5 * SEC);
        assert_eq!(W.overlap(25 * SEC, 30 * SEC), 0);
    }

    #[test]
    fn active_conversations_are_integrated_over_the_window_only() {
        let mut c = ConvAcc::default();
        assert_eq!(c.window(&W, 0), (0.0, 0));
        // 1 from 5 s, 2 from 15 s, 3 from 25 s (after the window [10, 20) s).
        for t in [5, 15, 25] {
            c.change(&W, t * SEC, 1);
        }
        // 1 x 5 s + 2 x 5 s over the 10 s window; the third opened after it.
        assert_eq!(c.window(&W, 25 * SEC), (1.5, 2));
        c.change(&W, 30 * SEC, -1);
        assert_eq!(c.window(&W, 30 * SEC), (1.5, 2));
    }

    #[test]
    fn the_window_counts_the_conversations_open_until_now() {
        let mut c = ConvAcc::default();
        c.change(&W, SEC, 1);
        c.change(&W, SEC, 1);
        // Both open since 1 s; at 14 s, 4 s of the window have passed with 2 open.
        assert_eq!(c.window(&W, 14 * SEC), (0.8, 2));
    }

    #[test]
    fn only_requests_that_arrived_in_the_window_are_measured() {
        let mut r = Recorder::new(W, 1, std::iter::once(1));
        r.completed(0, 5 * SEC, 11 * SEC, None);
        r.completed(0, 12 * SEC, 13 * SEC, Some(1.0));
        r.failed(0, 25 * SEC);
        r.lost(0, 15 * SEC, 3);
        let a = &r.models[0];
        assert_eq!((a.completed, a.finished_in_window, a.failed, a.lost), (1, 2, 0, 1));
        assert_eq!(a.failed_by_kind, [0, 0, 0, 1]);
        assert!((a.latency.summary().p50 - 1000.0).abs() < 10.0);
        assert_eq!(r.fail.lost_requests, 1);
    }
}
