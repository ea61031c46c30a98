//! The device scaling model: how a call measured on the whole reference GPU slows down on fewer
//! SMs, less memory bandwidth, another clock or another GPU generation.
//!
//! A call is a sequence of kernels (a replayed CUDA graph or eager launches). Its latency on the
//! reference GPU splits into three parts, fitted per table cell from measurements on restricted
//! SM counts and on two memory systems (traces/h200/sms, models/h100):
//!
//! * **fixed** `F`: kernel-launch gaps, synchronisation, small serial kernels and the host. It
//!   does not shrink with more SMs or bandwidth; it scales with the clock.
//! * **compute** `C`: thread blocks spread over the SMs. With `n` SMs it takes `C * N_ref / n`:
//!   the work is divided among the SMs it can use. (Calls too small to fill the GPU have a small
//!   `C` and a large `F`, which is why they barely slow down on a small slice.)
//! * **memory** `M`: bytes streamed from HBM at the bandwidth the SMs can pull. One SM can keep
//!   only so many requests in flight, so `n` SMs reach at most `n * b` (`b`, the per-SM
//!   ceiling, is fitted); the achieved bandwidth is the smooth minimum
//!   `BW(n, B) = ((1/B)^k + (1/(n b))^k)^(-1/k)`. With all SMs the HBM limit `B` binds; on a
//!   1/8 slice `n b` binds, which is why LLM decode slows ~2x with only an eighth of the SMs
//!   although it is bandwidth-bound and has the whole bandwidth.
//!
//! On a device share with `n` SMs, bandwidth `B`, clock `f` and compute throughput `T`:
//! `L = L_ref * (phi_F * f_ref/f + phi_C * (T_ref/T) / e + phi_M * BW_ref/BW(n, B))`, where
//! the `phi` are the cell's fractions and `e` is the architecture's compute efficiency relative
//! to Hopper (the same dense tensor peak is reached to different degrees by different
//! generations; taken from published same-software MLPerf results, models/gpus.toml).

use crate::gpu::{GpuSpec, Sharing};
use serde::{Deserialize, Serialize};

/// What one server's calls run on: a whole GPU, a MIG instance, some SMs of a green context, or
/// an MPS client's share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviceShare {
    /// SMs the calls may use.
    pub sms: f64,
    /// Memory bandwidth available [GB/s].
    pub bw_gbps: f64,
    /// Dense BF16 throughput of those SMs [TFLOP/s].
    pub tflops: f64,
    /// Boost clock [MHz].
    pub clock_mhz: f64,
    /// Achieved fraction of peak compute relative to Hopper (see models/gpus.toml).
    pub compute_efficiency: f64,
    /// Share of the GPU's L2 and memory controllers the calls have to themselves (a MIG
    /// instance: its memory slices / 8); 1 where they have all of it, alone or beside MPS
    /// neighbours (whose effect is [`crate::model::contention`]'s).
    pub l2_fraction: f64,
    /// Share of its GPU's SMs (at most 1: a multi-GPU share is as busy per GPU as one).
    pub sm_fraction: f64,
    /// Its GPU's shared-resource parameters (power budget, L2 penalty).
    pub sharing: Sharing,
}

impl DeviceShare {
    /// `sm_fraction` of `gpu`'s SMs with `bw_fraction` of its bandwidth, L2 and memory
    /// controllers (a MIG instance's memory slices carry all three).
    pub fn of(gpu: &GpuSpec, sm_fraction: f64, bw_fraction: f64) -> DeviceShare {
        DeviceShare {
            sms: gpu.sm_count as f64 * sm_fraction,
            bw_gbps: gpu.mem_bw_gbps * bw_fraction,
            tflops: gpu.bf16_tflops * sm_fraction,
            clock_mhz: gpu.boost_clock_mhz,
            compute_efficiency: gpu.compute_efficiency,
            l2_fraction: bw_fraction.min(1.0),
            sm_fraction: sm_fraction.min(1.0),
            sharing: gpu.sharing,
        }
    }

    /// The whole GPU.
    pub fn whole(gpu: &GpuSpec) -> DeviceShare {
        DeviceShare::of(gpu, 1.0, 1.0)
    }

    /// The same share with its SMs multiplied by `sm` (MPS clients whose thread percentages
    /// oversubscribe the SMs); the memory system they share is the contention model's.
    pub fn shrunk(&self, sm: f64) -> DeviceShare {
        DeviceShare {
            sms: self.sms * sm,
            tflops: self.tflops * sm,
            sm_fraction: self.sm_fraction * sm,
            ..*self
        }
    }
}

/// A model's fitted memory-system parameters (model JSON `scaling`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    /// Bandwidth one SM can pull at the reference clock [GB/s].
    pub sm_bw_gbps: f64,
    /// Sharpness of the transition between the per-SM and the HBM limit (the `k` of the smooth
    /// minimum; large is a hard minimum).
    pub knee: f64,
}

impl Scaling {
    /// Bandwidth `n` SMs achieve against an HBM limit `bw` [GB/s], with the per-SM ceiling scaled
    /// by `clock_ratio` (device clock / reference clock).
    pub fn achieved_bw(&self, n: f64, bw: f64, clock_ratio: f64) -> f64 {
        let per_sm = n.max(1e-9) * self.sm_bw_gbps * clock_ratio;
        ((1.0 / bw).powf(self.knee) + (1.0 / per_sm).powf(self.knee)).powf(-1.0 / self.knee)
    }
}

/// How much slower each part of a call runs on a share than on the whole reference GPU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slowdown {
    /// Factor on the fixed part.
    pub fixed: f64,
    /// Factor on the compute part.
    pub compute: f64,
    /// Factor on the memory part.
    pub memory: f64,
}

impl Slowdown {
    /// The reference GPU itself.
    pub const IDENTITY: Slowdown = Slowdown {
        fixed: 1.0,
        compute: 1.0,
        memory: 1.0,
    };

    /// The factors of `share` for a model fitted on `reference`.
    pub fn of(scaling: &Scaling, reference: &GpuSpec, share: &DeviceShare) -> Slowdown {
        let r = DeviceShare::whole(reference);
        if *share == r {
            return Slowdown::IDENTITY;
        }
        let clock = share.clock_mhz / r.clock_mhz;
        // A slice of L2 misses more: its latency-bound and compute parts wait on HBM more often.
        let l2 = 1.0 + share.sharing.mig_l2_penalty * (1.0 - share.l2_fraction).max(0.0);
        Slowdown {
            fixed: l2 / clock,
            compute: l2 * (r.tflops * r.compute_efficiency) / (share.tflops * share.compute_efficiency),
            memory: scaling.achieved_bw(r.sms, r.bw_gbps, 1.0) / scaling.achieved_bw(share.sms, share.bw_gbps, clock),
        }
    }

    /// The parts `[fixed, compute, memory]` on this share of a call whose parts on the reference
    /// GPU are `fixed` and `compute` of its latency (the rest is memory), as fractions of that
    /// latency.
    pub fn parts(&self, fixed: f64, compute: f64) -> [f64; 3] {
        [
            fixed * self.fixed,
            compute * self.compute,
            (1.0 - fixed - compute).max(0.0) * self.memory,
        ]
    }

    /// The factor on a whole call whose parts are `fixed` and `compute` of its latency (the rest
    /// is memory).
    pub fn of_call(&self, fixed: f64, compute: f64) -> f64 {
        let [f, c, m] = self.parts(fixed, compute);
        f + c + m
    }

    /// True when this is the reference device.
    pub fn is_identity(&self) -> bool {
        *self == Slowdown::IDENTITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::Catalog;

    const S: Scaling = Scaling {
        sm_bw_gbps: 100.0,
        knee: 3.0,
    };

    #[test]
    fn the_reference_is_the_identity_and_parts_scale_as_documented() {
        let h100 = Catalog::builtin().gpu("h100-80gb").expect("h100");
        assert!(Slowdown::of(&S, h100, &DeviceShare::whole(h100)).is_identity());
        // A green context of 16 SMs with the whole bandwidth: compute 132/16, clock 1, memory
        // limited by 16 SMs x 100 GB/s = 1.6 TB/s against 3.35 TB/s.
        let s = Slowdown::of(&S, h100, &DeviceShare::of(h100, 16.0 / 132.0, 1.0));
        assert!((s.compute - 132.0 / 16.0).abs() < 1e-9 && (s.fixed - 1.0).abs() < 1e-12);
        assert!(s.memory > 2.0 && s.memory < 3350.0 / 1600.0 * 1.2, "{}", s.memory);
        // A small call (all fixed) does not slow; a saturating one slows by the SM ratio.
        assert_eq!(s.of_call(1.0, 0.0), 1.0);
        assert!((s.of_call(0.0, 1.0) - 132.0 / 16.0).abs() < 1e-9);
    }

    #[test]
    fn more_bandwidth_helps_only_the_memory_part() {
        let cat = Catalog::builtin();
        let (h100, h200) = (cat.gpu("h100-80gb").expect("h100"), cat.gpu("h200-141gb").expect("h200"));
        let s = Slowdown::of(&S, h100, &DeviceShare::whole(h200));
        assert!((s.compute - 1.0).abs() < 1e-9 && (s.fixed - 1.0).abs() < 1e-9);
        assert!(s.memory < 1.0 && s.memory > 3350.0 / 4800.0 - 0.01, "{}", s.memory);
    }
}
