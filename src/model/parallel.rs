//! Several GPUs per replica: what tensor and pipeline parallelism cost on the wire.
//!
//! A tensor-parallel group of `t` GPUs splits every layer's weights, KV heads and matrix work
//! `t` ways (Megatron-LM's column/row split), so each GPU's compute and memory parts of a call
//! are `1/t` of the single-GPU call's, while its fixed part (one launch sequence per layer) stays
//! whole; the placement gives the server a device share of `t` GPUs' SMs and bandwidth, which the
//! device scaling model turns into exactly that. What the split adds is communication: two
//! all-reduces per layer (after attention and after the MLP) of the step's activations,
//! `tokens x hidden x 2` bytes (bf16), each costing the interconnect's latency plus the ring's
//! `2 (t-1)/t` of the message over its bus bandwidth ([`crate::gpu::Interconnect::allreduce_us`]).
//! A pipeline of `p` stages splits the layers; a step passes through the stages in turn and
//! hands its activations on `p - 1` times. It adds no throughput here: the stages of one step
//! run one after another (no micro-batches in flight), which is what pipeline parallelism buys
//! memory with; docs/src/model/parallelism.md states this bound.

use crate::gpu::GpuSpec;
use crate::model::ModelSpec;
use crate::time::SimTime;

/// Bytes per activation element on the wire (bf16: TensorRT-LLM and vLLM all-reduce in the
/// activation type, also for FP8 weights).
const ACTIVATION_BYTES: f64 = 2.0;

/// The communication a step of a multi-GPU replica adds: a fixed part and a part per token in
/// the step (a decode step's sequences, a prefill's prompt tokens).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Comm {
    /// Latency terms of every collective and hand-off of one step [ns].
    pub step_ns: f64,
    /// Transfer time per token of the step [ns].
    pub per_token_ns: f64,
}

impl Comm {
    /// A single-GPU replica: nothing on the wire.
    pub const NONE: Comm = Comm {
        step_ns: 0.0,
        per_token_ns: 0.0,
    };

    /// The communication of `spec`'s replica on GPUs of type `gpu` (none without parallelism
    /// or architecture).
    pub fn of(spec: &ModelSpec, gpu: &GpuSpec) -> Comm {
        let Some(a) = &spec.arch else { return Comm::NONE };
        let (tp, pp) = (spec.tensor_parallel, spec.pipeline_parallel);
        let per_token = f64::from(a.hidden) * ACTIVATION_BYTES;
        let link = &gpu.interconnect;
        // An all-reduce's latency and its cost per token, from two message sizes (the cost is
        // affine in the bytes).
        let ar = |bytes: f64| link.allreduce_us(bytes, tp);
        let (ar0, ar1) = (ar(0.0), ar(per_token) - ar(0.0));
        // A hand-off between stages: one point-to-point send over the same links (an
        // all-reduce of two GPUs moves the message once).
        let p2p = |bytes: f64| if pp > 1 { link.allreduce_us(bytes, 2) } else { 0.0 };
        let (p0, p1) = (p2p(0.0), p2p(per_token) - p2p(0.0));
        let collectives = 2.0 * f64::from(a.layers);
        let hops = f64::from(pp - 1);
        Comm {
            step_ns: (collectives * ar0 + hops * p0) * 1e3,
            per_token_ns: (collectives * ar1 + hops * p1) * 1e3,
        }
    }

    /// Time a step of `tokens` tokens spends communicating [ms] (the planner's estimates).
    pub fn ms(&self, tokens: f64) -> f64 {
        self.ns(tokens.round() as u32) as f64 / 1e6
    }

    /// Time a step of `tokens` tokens spends communicating [ns].
    pub fn ns(&self, tokens: u32) -> SimTime {
        if self.step_ns == 0.0 && self.per_token_ns == 0.0 {
            return 0;
        }
        (self.step_ns + self.per_token_ns * f64::from(tokens)).round() as SimTime
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::Catalog;

    fn llm(tp: u32, pp: u32) -> ModelSpec {
        let mut m = crate::model::builtin("h100/llm").expect("built-in").expect("parses");
        m.tensor_parallel = tp;
        m.pipeline_parallel = pp;
        m
    }

    #[test]
    fn one_gpu_sends_nothing_and_more_gpus_send_more() {
        let cat = Catalog::builtin();
        let h100 = cat.gpu("h100-80gb").expect("h100");
        assert_eq!(Comm::of(&llm(1, 1), h100), Comm::NONE);
        let (c2, c4, c8) = (Comm::of(&llm(2, 1), h100), Comm::of(&llm(4, 1), h100), Comm::of(&llm(8, 1), h100));
        // 64 all-reduces a step (32 layers x 2), each at least the link's latency.
        assert!(c2.step_ns >= 64.0 * h100.interconnect.allreduce_latency_us * 1e3 - 1.0);
        // The ring moves 2 (t-1)/t of the message: 1, 1.5, 1.75 times it.
        assert!((c4.per_token_ns / c2.per_token_ns - 1.5).abs() < 1e-9);
        assert!((c8.per_token_ns / c2.per_token_ns - 1.75).abs() < 1e-9);
        assert!(c8.ns(256) > c2.ns(256) && c2.ns(256) > c2.ns(1));
    }

    #[test]
    fn the_interconnect_sets_the_cost() {
        let cat = Catalog::builtin();
        // The same group over NVLink (H100 SXM) and over PCIe (an L40S has no NVLink).
        let (sxm, pcie) = (cat.gpu("h100-80gb").expect("h100"), cat.gpu("l40s").expect("l40s"));
        let (a, b) = (Comm::of(&llm(2, 1), sxm), Comm::of(&llm(2, 1), pcie));
        let bw = |g: &GpuSpec| if g.interconnect.nvlink_domain >= 2 { g.interconnect.allreduce_bus_gbps } else { g.interconnect.pcie_bus_gbps };
        assert!((b.per_token_ns / a.per_token_ns - bw(sxm) / bw(pcie)).abs() < 1e-6, "{a:?} {b:?}");
        // Two pipeline stages hand off once per step.
        let p = Comm::of(&llm(1, 2), sxm);
        assert!(p.step_ns > 0.0 && p.step_ns < a.step_ns);
    }
}
