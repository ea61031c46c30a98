//! Load generators: arrival processes, request-size distributions and trace rows.
//!
//! Each stochastic source owns its own RNG stream (see [`crate::rng::stream_rng`]) so that changing one
//! source (a rate, a distribution) does not shift the random numbers another source draws.

use crate::rng::SimRng;
use crate::time::{from_secs, to_secs, SimTime};
use rand::Rng;
use rand_distr::{Distribution, Exp, Gamma, LogNormal};

/// Open-loop arrival process.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrivals {
    /// Poisson: exponential gaps with mean 1/rate.
    Poisson {
        /// Mean rate [req/s].
        rate_rps: f64,
    },
    /// Renewal process with gamma gaps: mean 1/rate, coefficient of variation `cv` (> 1 is bursty).
    Gamma {
        /// Mean rate [req/s].
        rate_rps: f64,
        /// Coefficient of variation of the gaps.
        cv: f64,
    },
    /// Poisson at `rate_rps` during on-periods, nothing during off-periods (fixed lengths).
    OnOff {
        /// Rate while on [req/s].
        rate_rps: f64,
        /// On-period [s].
        on_s: f64,
        /// Off-period [s].
        off_s: f64,
    },
    /// Non-homogeneous Poisson at a piecewise-constant rate: `(start, rate_rps)` steps, the
    /// first at 0, starts ascending, the last rate held to the end.
    Schedule {
        /// Each step's start [ns] and rate [req/s].
        steps: Vec<(SimTime, f64)>,
    },
    /// Non-homogeneous Poisson whose rate follows a 24 h cosine: `peak_rps` at `peak_hour`,
    /// `trough_rps` 12 h away.
    Diurnal {
        /// Rate at the peak [req/s].
        peak_rps: f64,
        /// Rate at the trough [req/s].
        trough_rps: f64,
        /// Hour of the peak from the start of the run.
        peak_hour: f64,
    },
}

/// Seconds in the diurnal cycle.
const DAY_S: f64 = 86_400.0;

impl Arrivals {
    /// Mean rate while arrivals are generated [req/s] (on-off: while on; a time-varying rate:
    /// its highest).
    pub fn rate_rps(&self) -> f64 {
        match self {
            Arrivals::Poisson { rate_rps } | Arrivals::Gamma { rate_rps, .. } | Arrivals::OnOff { rate_rps, .. } => *rate_rps,
            Arrivals::Schedule { steps } => steps.iter().map(|s| s.1).fold(0.0, f64::max),
            Arrivals::Diurnal { peak_rps, .. } => *peak_rps,
        }
    }

    /// The rate at `t` [req/s] (on-off: while on).
    pub fn rate_at(&self, t: SimTime) -> f64 {
        match self {
            Arrivals::Schedule { steps } => steps[steps.partition_point(|s| s.0 <= t).max(1) - 1].1,
            Arrivals::Diurnal {
                peak_rps,
                trough_rps,
                peak_hour,
            } => {
                let phase = (to_secs(t) - peak_hour * 3600.0) / DAY_S * std::f64::consts::TAU;
                trough_rps + (peak_rps - trough_rps) * (1.0 + phase.cos()) / 2.0
            }
            _ => self.rate_rps(),
        }
    }

    /// Expected arrivals over `[0, duration_s)` (on-off: as if always on, an upper bound).
    pub fn expected_count(&self, duration_s: f64) -> f64 {
        match self {
            Arrivals::Schedule { steps } => steps
                .iter()
                .enumerate()
                .map(|(i, &(start, rate))| {
                    let end = steps.get(i + 1).map_or(duration_s, |n| to_secs(n.0).min(duration_s));
                    rate * (end - to_secs(start)).max(0.0)
                })
                .sum(),
            // The cosine's integral over whole days is its mean; a part of a day gets at most
            // the peak.
            Arrivals::Diurnal { peak_rps, trough_rps, .. } => {
                let days = (duration_s / DAY_S).floor();
                (peak_rps + trough_rps) / 2.0 * days * DAY_S + peak_rps * (duration_s - days * DAY_S)
            }
            _ => self.rate_rps() * duration_s,
        }
    }
}

/// Samples gaps of an arrival process.
#[derive(Debug, Clone)]
pub struct ArrivalGen {
    kind: Arrivals,
    gamma: Option<Gamma<f64>>,
    exp: Option<Exp<f64>>,
}

impl ArrivalGen {
    /// Build a generator; parameters were validated by the scenario loader.
    pub fn new(kind: &Arrivals) -> ArrivalGen {
        let (gamma, exp) = match *kind {
            Arrivals::Poisson { rate_rps } | Arrivals::OnOff { rate_rps, .. } => (None, Exp::new(rate_rps).ok()),
            // Candidates at the peak rate, thinned to the rate at each candidate.
            Arrivals::Diurnal { peak_rps, .. } => (None, Exp::new(peak_rps).ok()),
            Arrivals::Schedule { .. } => (None, None),
            Arrivals::Gamma { rate_rps, cv } => {
                let shape = 1.0 / (cv * cv);
                (Gamma::new(shape, 1.0 / (shape * rate_rps)).ok(), None)
            }
        };
        ArrivalGen {
            kind: kind.clone(),
            gamma,
            exp,
        }
    }

    /// Next arrival time after `now` [ns].
    pub fn next(&self, now: SimTime, rng: &mut SimRng) -> SimTime {
        match &self.kind {
            Arrivals::Schedule { steps } => next_scheduled(steps, now, rng),
            Arrivals::Diurnal { peak_rps, .. } => {
                let Some(e) = self.exp.as_ref() else {
                    return SimTime::MAX;
                };
                let mut t = now;
                loop {
                    t = t.saturating_add(from_secs(e.sample(rng)));
                    if t == SimTime::MAX || rng.random::<f64>() * peak_rps < self.kind.rate_at(t) {
                        return t;
                    }
                }
            }
            Arrivals::Poisson { .. } => now + from_secs(self.exp.as_ref().map_or(f64::INFINITY, |e| e.sample(rng))),
            Arrivals::Gamma { .. } => now + from_secs(self.gamma.as_ref().map_or(f64::INFINITY, |g| g.sample(rng))),
            &Arrivals::OnOff { on_s, off_s, .. } => {
                // Draw on the "on" clock, then map back to wall time by inserting the off-periods.
                let period = from_secs(on_s + off_s);
                let on = from_secs(on_s);
                let gap = from_secs(self.exp.as_ref().map_or(f64::INFINITY, |e| e.sample(rng)));
                let (cycles, phase) = (now / period, now % period);
                let on_clock = cycles * on + phase.min(on) + gap;
                (on_clock / on) * period + on_clock % on
            }
        }
    }
}

/// The first arrival after `now` of a Poisson process at the piecewise-constant rate of
/// `steps`, by inverting its cumulative rate: one unit-rate exponential is spent across the
/// steps, each at its own rate, so the draw is exact and takes one random number. Within the
/// first step a gap is the same number a constant-rate process at that rate would draw (the
/// exponential scaled by the inverse rate, as `rand_distr::Exp` does).
fn next_scheduled(steps: &[(SimTime, f64)], now: SimTime, rng: &mut SimRng) -> SimTime {
    let mut e: f64 = rng.sample(rand_distr::Exp1);
    let mut k = steps.partition_point(|s| s.0 <= now).max(1) - 1;
    let mut t = now;
    loop {
        let rate = steps[k].1;
        let end = steps.get(k + 1).map(|s| s.0);
        if rate > 0.0 {
            let gap = e * (1.0 / rate);
            let at = t.saturating_add(from_secs(gap));
            if end.is_none_or(|end| at < end) {
                return at;
            }
        }
        let Some(end) = end else {
            return SimTime::MAX;
        };
        e = (e - rate * to_secs(end - t)).max(0.0);
        t = end;
        k += 1;
    }
}

/// A request-size distribution (audio seconds, characters or tokens).
#[derive(Debug, Clone, PartialEq)]
pub enum SizeDist {
    /// Always the same value.
    Fixed(f64),
    /// Log-normal with the given median and log-space sigma, clamped to [min, max].
    LogNormal {
        /// Median.
        median: f64,
        /// Standard deviation of ln(size).
        sigma: f64,
        /// Lower clamp.
        min: f64,
        /// Upper clamp.
        max: f64,
    },
    /// Exponential with the given mean (memoryless service for M/M/1-style checks).
    Exponential {
        /// Mean.
        mean: f64,
    },
    /// Uniform on [min, max].
    Uniform {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
}

impl SizeDist {
    /// Draw one size. Integer-valued sizes (characters, tokens) are rounded by the caller.
    pub fn sample(&self, rng: &mut SimRng) -> f64 {
        match *self {
            SizeDist::Fixed(v) => v,
            SizeDist::LogNormal { median, sigma, min, max } => LogNormal::new(median.ln(), sigma)
                .map(|d| d.sample(rng))
                .unwrap_or(median)
                .clamp(min, max),
            SizeDist::Exponential { mean } => Exp::new(1.0 / mean).map(|d| d.sample(rng)).unwrap_or(mean),
            SizeDist::Uniform { min, max } => {
                if max > min {
                    rng.random_range(min..=max)
                } else {
                    min
                }
            }
        }
    }

    /// Smallest value the distribution can produce.
    pub fn min_value(&self) -> f64 {
        match *self {
            SizeDist::Fixed(v) => v,
            SizeDist::LogNormal { min, .. } | SizeDist::Uniform { min, .. } => min,
            SizeDist::Exponential { .. } => 0.0,
        }
    }

    /// Mean of the distribution (clamping ignored for the log-normal), for reports and checks.
    pub fn mean(&self) -> f64 {
        match *self {
            SizeDist::Fixed(v) => v,
            SizeDist::LogNormal { median, sigma, .. } => median * (sigma * sigma / 2.0).exp(),
            SizeDist::Exponential { mean } => mean,
            SizeDist::Uniform { min, max } => (min + max) / 2.0,
        }
    }
}

/// One request of a replayed trace: 16 bytes, so that a 2 M-row trace takes 32 MB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceRow {
    /// Arrival [ns from trace start], before any time compression.
    pub arrival: SimTime,
    /// Size: audio seconds (ASR), characters (TTS) or prompt tokens (LLM); f32 holds every
    /// integer token count up to 16.7 M exactly.
    pub size: f32,
    /// LLM output tokens (0: not in the trace).
    pub out_tokens: u32,
}

/// What a trace's size column measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceSize {
    /// Audio seconds (an ASR trace).
    AudioS,
    /// Characters (a TTS trace).
    Chars,
    /// Prompt tokens (an LLM or text-encoder trace).
    PromptTokens,
    /// Image pixels (an image encoder's trace).
    Pixels,
}

impl TraceSize {
    /// The column name of the gpubench trace format.
    pub fn column(self) -> &'static str {
        match self {
            TraceSize::AudioS => "audio_s",
            TraceSize::Chars => "chars",
            TraceSize::PromptTokens => "prompt_tokens",
            TraceSize::Pixels => "pixels",
        }
    }
}

/// A request trace as read from its file, shared by every workload and variant that replays it.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Rows in arrival order.
    pub rows: Vec<TraceRow>,
    /// What `size` measures.
    pub size: TraceSize,
    /// True when every row has its output tokens.
    pub has_out_tokens: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream_rng;
    use crate::time::SEC;

    #[test]
    fn poisson_mean_gap_matches_rate() {
        let g = ArrivalGen::new(&Arrivals::Poisson { rate_rps: 50.0 });
        let mut rng = stream_rng(1, 0, 0);
        let mut t = 0;
        let n = 100_000;
        for _ in 0..n {
            t = g.next(t, &mut rng);
        }
        let rate = n as f64 / (t as f64 / SEC as f64);
        // 1e5 exponential gaps: relative s.e. of the mean is 1/sqrt(n) = 0.3 %; allow 4 s.e.
        assert!((rate - 50.0).abs() / 50.0 < 0.012, "{rate}");
    }

    #[test]
    fn gamma_gaps_have_requested_cv() {
        let g = ArrivalGen::new(&Arrivals::Gamma { rate_rps: 10.0, cv: 3.0 });
        let mut rng = stream_rng(2, 0, 0);
        let gaps: Vec<f64> = (0..200_000).map(|_| g.next(0, &mut rng) as f64 / 1e9).collect();
        let m = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let v = gaps.iter().map(|x| (x - m).powi(2)).sum::<f64>() / gaps.len() as f64;
        assert!((m - 0.1).abs() < 0.003, "mean {m}");
        assert!((v.sqrt() / m - 3.0).abs() < 0.15, "cv {}", v.sqrt() / m);
    }

    #[test]
    fn on_off_never_arrives_in_off_periods() {
        let g = ArrivalGen::new(&Arrivals::OnOff {
            rate_rps: 100.0,
            on_s: 1.0,
            off_s: 3.0,
        });
        let mut rng = stream_rng(3, 0, 0);
        let mut t = 0;
        for _ in 0..10_000 {
            t = g.next(t, &mut rng);
            assert!(t % (4 * SEC) < SEC, "arrival at {t} in an off period");
        }
    }

    /// Arrivals of `g` from 0 until `end`, counted per `bin`.
    fn counts(g: &ArrivalGen, seed: u64, end: SimTime, bin: SimTime) -> Vec<u64> {
        let mut rng = stream_rng(seed, 0, 0);
        let mut out = vec![0; (end / bin) as usize];
        let mut t = g.next(0, &mut rng);
        while t < end {
            out[(t / bin) as usize] += 1;
            t = g.next(t, &mut rng);
        }
        out
    }

    #[test]
    fn a_schedule_draws_the_constant_rate_gaps_within_its_first_step() {
        let constant = ArrivalGen::new(&Arrivals::Poisson { rate_rps: 40.0 });
        let sched = ArrivalGen::new(&Arrivals::Schedule {
            steps: vec![(0, 40.0), (100 * SEC, 5.0)],
        });
        let (mut a, mut b) = (stream_rng(9, 0, 0), stream_rng(9, 0, 0));
        let (mut ta, mut tb) = (0, 0);
        loop {
            ta = constant.next(ta, &mut a);
            tb = sched.next(tb, &mut b);
            if ta >= 100 * SEC {
                break;
            }
            assert_eq!(ta, tb);
        }
    }

    #[test]
    fn a_schedule_arrives_at_each_steps_rate_and_not_in_a_zero_step() {
        let g = ArrivalGen::new(&Arrivals::Schedule {
            steps: vec![(0, 20.0), (100 * SEC, 0.0), (200 * SEC, 200.0)],
        });
        let c = counts(&g, 4, 300 * SEC, 100 * SEC);
        // Poisson counts: mean 2000 and 20000, s.d. 45 and 141; allow 4 s.d.
        assert!((c[0] as f64 - 2000.0).abs() < 180.0, "{c:?}");
        assert_eq!(c[1], 0);
        assert!((c[2] as f64 - 20_000.0).abs() < 570.0, "{c:?}");
        // A schedule ending at 0 never arrives again.
        let g = ArrivalGen::new(&Arrivals::Schedule {
            steps: vec![(0, 10.0), (10 * SEC, 0.0)],
        });
        let mut rng = stream_rng(1, 0, 0);
        let mut t = 0;
        while t < 10 * SEC {
            t = g.next(t, &mut rng);
        }
        assert_eq!(t, SimTime::MAX);
    }

    #[test]
    fn diurnal_arrivals_follow_the_cosine() {
        let a = Arrivals::Diurnal {
            peak_rps: 10.0,
            trough_rps: 1.0,
            peak_hour: 14.0,
        };
        assert!((a.rate_at(14 * 3600 * SEC) - 10.0).abs() < 1e-9 && (a.rate_at(2 * 3600 * SEC) - 1.0).abs() < 1e-9);
        assert!((a.expected_count(DAY_S) - 5.5 * DAY_S).abs() < 1e-6);
        let c = counts(&ArrivalGen::new(&a), 2, 24 * 3600 * SEC, 3600 * SEC);
        for (h, &n) in c.iter().enumerate() {
            // The hour's expected count: the rate's integral over it (midpoint rule, exact to
            // 0.1 % for a 24 h cosine); Poisson s.d. up to 190; allow 4 s.d. plus that.
            let mean = a.rate_at((h as SimTime * 3600 + 1800) * SEC) * 3600.0;
            assert!((n as f64 - mean).abs() < 4.0 * mean.sqrt() + 0.001 * mean, "hour {h}: {n} vs {mean}");
        }
    }

    #[test]
    fn streams_differ_by_source_and_purpose() {
        let a: u64 = stream_rng(7, 0, 0).random();
        let b: u64 = stream_rng(7, 1, 0).random();
        let c: u64 = stream_rng(7, 0, 1).random();
        assert!(a != b && a != c && b != c);
        assert_eq!(a, stream_rng(7, 0, 0).random::<u64>());
    }
}
