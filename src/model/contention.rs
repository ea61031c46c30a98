//! Calls running at once on one physical GPU's shared resources: the HBM bandwidth and the
//! memory queues of an MPS GPU, and the power budget of any GPU (MIG included).
//!
//! Each call is given as its parts on its own share of the GPU, as the device scaling model
//! times them alone ([`super::Slowdown`]): a latency-bound part, a compute part and a memory
//! part that streams at `bw_gbps`. Three mechanisms, each measured on concurrent partitions of
//! an H100 (traces/h100/spatial/probe; docs/src/model/sharing.md):
//!
//! * **Bandwidth by demand.** While the calls' streaming phases ask for more than the GPU's
//!   bandwidth, every phase runs at the same fraction `theta` of its alone bandwidth, `theta`
//!   chosen so that the calls' average draws add up to the bandwidth. A call that streams little
//!   draws little, so a bandwidth-heavy neighbour keeps nearly all of it (measured: a bandwidth
//!   hog beside an ASR or TTS client keeps 90-98 % of its alone rate).
//! * **Queueing behind the neighbours' traffic** (a shared memory system: MPS; a MIG instance has
//!   its own L2 and memory controllers, and its power budget is `sim::power`'s). The
//!   latency-bound and compute parts wait on loads that queue behind the neighbours' requests:
//!   they slow by `(1 - rho)^-a`, `rho` the neighbours' share of the bandwidth; the latency-bound
//!   part also by `neighbour_penalty` whenever any neighbour runs (an ASR chunk: 4.5 ms alone,
//!   5.5 ms beside another ASR, 16.1 ms beside a bandwidth hog).
//! * **One power budget.** The clock falls once the compute activity of everything on the GPU
//!   passes the knee ([`Sharing::clock`]); a call's table holds the clock it had alone, so its
//!   clock-bound parts slow by `clock(own) / clock(total)`.
//!
//! The three feed back into each other (slower calls draw less), so they are solved as a fixed
//! point; a handful of rounds settles them to well under 0.1 %.

use crate::gpu::Sharing;

/// One call running on the GPU, timed alone on its share [ms].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tenant {
    /// Its share of the GPU's SMs (0-1).
    pub sm_fraction: f64,
    /// Latency-bound part: launch gaps, small serial kernels, synchronisation.
    pub fixed_ms: f64,
    /// Compute part: thread blocks spread over its SMs.
    pub compute_ms: f64,
    /// Memory part: bytes streamed from HBM at `bw_gbps`.
    pub memory_ms: f64,
    /// Bandwidth of its streaming phase alone [GB/s].
    pub bw_gbps: f64,
}

impl Tenant {
    /// Its duration alone [ms].
    pub fn alone_ms(&self) -> f64 {
        self.fixed_ms + self.compute_ms + self.memory_ms
    }

    /// Its compute activity alone: the share of the GPU's SMs it keeps busy computing.
    pub fn activity(&self) -> f64 {
        let t = self.alone_ms();
        if t > 0.0 {
            self.compute_ms / t * self.sm_fraction
        } else {
            0.0
        }
    }
}

/// Most rounds of the fixed point, and the relative change of every factor below which it has
/// settled (the durations then move by less than that).
const ROUNDS: usize = 6;
const SETTLED: f64 = 1e-6;
/// Bisection steps for `theta` (2^-30 of the range).
const BISECT: usize = 30;

/// The contention solver, holding its working buffers so a device reuses them call after call.
#[derive(Debug, Clone, Default)]
pub struct Contention {
    /// Per call: the factor on its clock-bound parts (queueing x clock), and its draw [GB/s].
    slow: Vec<f64>,
    draw: Vec<f64>,
    /// Per call: its compute activity alone and the clock it had then.
    alone: Vec<(f64, f64)>,
}

impl Contention {
    /// The duration [ms] of each call of `tenants` while all of them run on one MPS GPU of
    /// `bw_gbps` bandwidth, into `out` (same length).
    pub fn solve(&mut self, sharing: &Sharing, bw_gbps: f64, tenants: &[Tenant], out: &mut [f64]) {
        let n = tenants.len();
        debug_assert_eq!(out.len(), n);
        for (o, t) in out.iter_mut().zip(tenants) {
            *o = t.alone_ms();
        }
        if n < 2 {
            return;
        }
        let (slow, draw, alone) = (&mut self.slow, &mut self.draw, &mut self.alone);
        alone.clear();
        alone.extend(tenants.iter().map(|t| {
            let a = t.activity();
            (a, sharing.clock(a))
        }));
        slow.clear();
        slow.resize(n, 1.0);
        draw.clear();
        draw.resize(n, 0.0);
        let penalty = 1.0 + sharing.neighbour_penalty;
        let time = |t: &Tenant, s: f64, theta: f64| t.fixed_ms * s * penalty + t.compute_ms * s + t.memory_ms / theta;
        let draws = |theta: f64, slow: &[f64]| -> f64 {
            tenants
                .iter()
                .zip(slow)
                .map(|(t, &s)| if t.memory_ms > 0.0 { t.memory_ms * t.bw_gbps / time(t, s, theta) } else { 0.0 })
                .sum()
        };
        for _ in 0..ROUNDS {
            let mut theta = 1.0;
            if draws(1.0, slow) > bw_gbps {
                let (mut lo, mut hi) = (1e-6, 1.0);
                for _ in 0..BISECT {
                    let mid = 0.5 * (lo + hi);
                    if draws(mid, slow) > bw_gbps {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
                theta = lo;
            }
            // The power limit answers to what is computing now, not to the calls' alone activity.
            let mut activity = 0.0;
            for (i, t) in tenants.iter().enumerate() {
                let d = time(t, slow[i], theta);
                out[i] = d;
                draw[i] = if d > 0.0 { t.memory_ms * t.bw_gbps / d } else { 0.0 };
                activity += if d > 0.0 { t.compute_ms * slow[i] / d * t.sm_fraction } else { 0.0 };
            }
            let all_draw: f64 = draw.iter().sum();
            let mut moved = 0.0f64;
            let clock_all = sharing.clock(activity);
            for i in 0..n {
                let rho = ((all_draw - draw[i]) / bw_gbps).clamp(0.0, sharing.util_max);
                // `Sharing::clock_slowdown`, each clock computed once.
                let (own, own_clock) = alone[i];
                let clock = own_clock / if activity > own { clock_all } else { own_clock };
                let queueing = if rho > 0.0 { (1.0 - rho).powf(-sharing.latency_exponent) } else { 1.0 };
                let s = queueing * clock;
                moved = moved.max((s / slow[i] - 1.0).abs());
                slow[i] = s;
            }
            if moved < SETTLED {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: f64 = 3350.0;

    fn hog(sm_fraction: f64) -> Tenant {
        Tenant {
            sm_fraction,
            memory_ms: 1.0,
            bw_gbps: 3000.0,
            ..Tenant::default()
        }
    }

    /// An ASR streaming chunk at batch 1 on about half the GPU (models/h100/asr.json, 0.16 s).
    fn chunk() -> Tenant {
        Tenant {
            sm_fraction: 0.5,
            fixed_ms: 3.6,
            compute_ms: 0.3,
            memory_ms: 0.7,
            bw_gbps: 3000.0,
        }
    }

    fn run(ts: &[Tenant]) -> Vec<f64> {
        let mut out = vec![0.0; ts.len()];
        Contention::default().solve(&Sharing::default(), B, ts, &mut out);
        out
    }

    #[test]
    fn a_call_alone_runs_at_its_alone_speed() {
        assert_eq!(run(&[chunk()]), vec![chunk().alone_ms()]);
    }

    #[test]
    fn a_light_client_leaves_a_bandwidth_heavy_one_near_its_alone_speed() {
        // Bandwidth by demand: the chunk draws a few hundred GB/s, the hog keeps the rest.
        let t = run(&[hog(0.5), chunk()]);
        assert!(t[0] < 1.12, "hog slowed to {:.3} of alone", t[0]);
        // Two hogs split the bandwidth: each about halves.
        let t = run(&[hog(0.5), hog(0.5)]);
        assert!((t[0] - 2.0 * 3000.0 / B).abs() < 0.05, "{t:?}");
    }

    #[test]
    fn neighbours_traffic_slows_latency_bound_calls() {
        let alone = chunk().alone_ms();
        let beside = run(&[chunk(), hog(0.5)])[0];
        // Measured 3.6x beside a hog on an H100 (traces/h100/spatial/probe); the parameters,
        // chosen for serving, give 2.3x (traces/h100/spatial/fit_sharing.txt).
        assert!(beside > 2.0 * alone, "{beside} vs {alone}");
    }

    #[test]
    fn the_power_budget_slows_compute_when_many_tenants_compute() {
        let gemm = |f: f64| Tenant {
            sm_fraction: f,
            compute_ms: 1.0,
            ..Tenant::default()
        };
        // One seventh of the GPU busy: boost; all seven: the clock falls for every one.
        assert_eq!(run(&[gemm(1.0 / 7.0)]), vec![1.0]);
        let seven = run(&[gemm(1.0 / 7.0); 7]);
        let k = Sharing::default().clock(0.55) / Sharing::default().clock(1.0);
        assert!((seven[0] - k).abs() < 0.02, "{seven:?} vs {k}");
    }
}
