//! Every bound of the inputs, in one table (docs/src/limits.md), and the one check that enforces
//! them with one message format (`must be in [lo, hi] unit, got 'value'`).
//!
//! * What sizes work or memory (requests, users, GPUs, entries, slices): each is far above any
//!   real deployment and far below what would exhaust a workstation.
//! * A model's fields ([`Bound`] constants below): the range a model file and a scenario's
//!   override of it must both respect.

use crate::error::{num, Error, Result};

/// Largest value any time or quantity in a scenario may take: 1e9 s still fits the
/// nanosecond clock (u64 holds 1.8e10 s) with room to add.
pub const MAX_VALUE: f64 = 1e9;
/// Most requests a scenario may be expected to simulate: summed over its workloads, times
/// its variants (each variant simulates every workload), a streaming ASR's chunk calls
/// counted as requests. It bounds time, not memory (see [`MAX_IN_FLIGHT`]): the simulator does
/// about 2.5 million requests a second on one core (dedicated ASR: a week at 50 req/s, 3e7
/// requests, runs in about 15 s, `gpuslice bench`), so 2e8 is a couple of minutes.
pub const MAX_REQUESTS: f64 = 2e8;
/// Most requests in flight at once (queued, running, streaming) in one run: a request sent
/// when this many are in flight is refused, as a router with a bounded queue refuses it. Each
/// takes a slot of about 160 bytes, and finished ones are reused, so a run's request memory
/// stays under 1.6 GB however long it runs and however overloaded it is; a deployment this
/// far behind has long broken every objective.
pub const MAX_IN_FLIGHT: usize = 10_000_000;
/// Most report windows of a run (`window_s`): each holds two latency sketches (28 KB each)
/// per model and per workload while the run lasts, so 2,000 windows of a 3-model pipeline
/// scenario take about 450 MB; a week in hours is 168.
pub const MAX_WINDOWS: u64 = 2000;
/// Most closed-loop users of one workload.
pub const MAX_USERS: u32 = 1_000_000;
/// Most GPUs in one variant (each GPU is a device and a server of the simulation).
pub const MAX_GPUS: u32 = 4096;
/// Most variants, workloads or models in one scenario.
pub const MAX_ENTRIES: usize = 1000;
/// Most stages of a pipeline.
pub const MAX_STAGES: usize = 16;
/// Most faults one variant may be expected to suffer (each fails and restarts servers).
pub const MAX_FAULTS: f64 = 1e6;
/// Largest coefficient of variation of gamma gaps: beyond it the shape parameter 1/cv^2 is
/// below 1e-4 and the gaps are numerically all zero or astronomically long.
pub const MAX_CV: f64 = 100.0;
/// Longest LLM context [tokens].
pub const MAX_CONTEXT_TOKENS: u32 = 10_000_000;
/// Most time slices a scenario may need: (duration_s + drain_s) / quantum_ms summed over
/// the time-sliced GPUs of every variant (the engine's cost grows with the slices of a
/// contended GPU: 2e10 took 40 s). 1e9 is 2.1e6 GPU-seconds at the default 2.1 ms slice.
pub const MAX_SLICES: f64 = 1e9;

/// Most GPUs over every configuration of a sweep (each variant's GPUs, counted with their
/// `count`): every configuration is built before the first run, and a GPU is a device, a
/// server and a set of results.csv columns in each; 1000 configurations of a 4096-GPU variant
/// (4.1e6) took 3.7 GB and 16 s before the first run, so 1e6 stays near 1 GB.
pub const MAX_SWEEP_GPUS: u64 = 1_000_000;
/// Most structures (how the models share each GPU type under each regime) a plan may
/// enumerate: time-slicing and MPS take every set partition of the models (Bell numbers: 4140
/// for 8 models, 2.8e7 for 13, which took more than 4 GB before the first simulation) and MIG
/// every choice of slice per model, and each structure is kept in memory, bounded and perhaps
/// searched by simulation; counted before any is built. 1e5 holds 9 models on two GPU types
/// under time-slicing and MPS (8.5e4) in about 100 MB.
pub const MAX_PLAN_STRUCTURES: f64 = 1e5;

/// A GPU's price [$ per GPU-hour]: far above any cloud list price (a few dollars), and small
/// enough that a candidate's cost and its cost per request stay finite numbers to rank.
pub const PRICE_USD_PER_HOUR: Bound = Bound::above(0.0, 1e4, " $/h");

/// Largest batch or sequence count a model may be given: far above any server, and small enough
/// that a batch table or a batch of request ids stays small.
pub const MAX_BATCH: u32 = 65_536;

/// Memory figures written in GiB are most often slipped in MiB (13400 for 13.4 GB) or bytes.
pub const GIB_SLIPS: &[(f64, &str)] = &[(1024.0, "MiB"), (1024.0 * 1024.0 * 1024.0, "bytes")];

/// For a value `v` above a physical limit `max` that fits under it once divided by a unit
/// factor of `slips` (a value in MiB written where GiB is meant), the hint that names the
/// smaller unit: `"; did you mean 13400 MiB (13.09 GiB)?"`; otherwise nothing. The factor must
/// be the reason: the value converted must be a plausible one (at least a thousandth of the
/// limit), so a value that is absurd in every unit gets no hint.
pub fn unit_hint(v: f64, max: f64, unit: &str, slips: &[(f64, &str)]) -> String {
    // An order of magnitude over at least: a value just over the limit is no slip of unit.
    if !(v.is_finite() && v > 10.0 * max) {
        return String::new();
    }
    slips
        .iter()
        .find(|(k, _)| v / k <= max && v / k >= max * 1e-3)
        .map(|(k, name)| {
            format!(
                "; did you mean {} {name} ({} {unit})?",
                num(v),
                num((v / k * 100.0).round() / 100.0)
            )
        })
        .unwrap_or_default()
}

/// A closed range a value must lie in (`lo_open`: `lo` itself excluded), with its unit for
/// messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// Least value.
    pub lo: f64,
    /// Greatest value.
    pub hi: f64,
    /// `lo` itself is not allowed.
    pub lo_open: bool,
    /// Unit after the range in messages (`" ms"`, or empty).
    pub unit: &'static str,
}

impl Bound {
    /// `[lo, hi]`.
    pub const fn closed(lo: f64, hi: f64, unit: &'static str) -> Bound {
        Bound {
            lo,
            hi,
            lo_open: false,
            unit,
        }
    }

    /// `(lo, hi]`.
    pub const fn above(lo: f64, hi: f64, unit: &'static str) -> Bound {
        Bound {
            lo,
            hi,
            lo_open: true,
            unit,
        }
    }

    /// Whether `v` lies in the range (NaN never does).
    pub fn contains(&self, v: f64) -> bool {
        v.is_finite() && (if self.lo_open { v > self.lo } else { v >= self.lo }) && v <= self.hi
    }

    /// `v`, or the error naming `file`, `field` and the value.
    pub fn check(&self, file: &str, field: impl Into<String>, v: f64) -> Result<f64> {
        if self.contains(v) {
            Ok(v)
        } else {
            Err(Error::input(file, field, format!("{}, got '{}'", self.describe(), num(v))))
        }
    }

    /// A count `v` in the range, or the error.
    pub fn count(&self, file: &str, field: impl Into<String>, v: u32) -> Result<u32> {
        if self.contains(f64::from(v)) {
            Ok(v)
        } else {
            Err(Error::input(file, field, format!("{}, got '{v}'", self.describe())))
        }
    }

    /// `must be in [lo, hi] unit`.
    pub fn describe(&self) -> String {
        let open = if self.lo_open { "(" } else { "[" };
        format!("must be in {open}{}, {}]{}", num(self.lo), num(self.hi), self.unit)
    }
}

/// One GPU call [ms]: more than 1e7 ms (2.8 hours) is no GPU call; the bound also keeps every
/// scaled latency far inside the nanosecond clock. Model tables and measured profiles alike.
pub const CALL_MS: Bound = Bound::above(0.0, 1e7, " ms");
/// A request or call size (audio seconds, characters, frames, tokens, pixels) as measured:
/// positive, up to 2^24 (a trace's sizes are stored as f32, exact to there).
pub const MEASURED_SIZE: Bound = Bound::above(0.0, 16_777_216.0, "");

/// Share of its batch-1 solo time a call takes on a shared time-sliced GPU.
pub const SHARED_TIME_FRACTION: Bound = Bound::above(0.05, 1.0, "");
/// Host-bound start of each call [ms].
pub const HOST_PHASE_MS: Bound = Bound::closed(0.0, 1000.0, " ms");
/// Host set-up of a call at a padded batch not run before [ms].
pub const COLD_CALL_MS: Bound = Bound::closed(0.0, 60_000.0, " ms");
/// A time slice [ms]: below ~50 us a slice is shorter than a context switch on any GPU, and
/// the event count grows as 1/quantum.
pub const QUANTUM_MS: Bound = Bound::closed(0.05, 1e4, " ms");
/// A context switch [us].
pub const SWITCH_US: Bound = Bound::closed(0.0, 1e6, " us");
/// Sigma of a call's log-normal spread around its table.
pub const CALL_NOISE: Bound = Bound::closed(0.0, 0.5, "");
/// Synchronous copy before each call [ms].
pub const SYNC_COPY_MS: Bound = Bound::closed(0.0, 100.0, " ms");
/// Audio per streaming chunk [s]: from a 40 ms frame to 10 s.
pub const CHUNK_S: Bound = Bound::closed(0.04, 10.0, " s");
/// TTS codec frames per character.
pub const FRAMES_PER_CHAR: Bound = Bound::above(0.0, 100.0, "");
/// TTS codec frames per second of audio.
pub const FRAMES_PER_S: Bound = Bound::closed(0.1, 10_000.0, "");
/// A model's host times and memory figures [ms or GiB].
pub const HOST_TIME_MS: Bound = Bound::closed(0.0, 1e5, "");
/// Share of a device's memory an LLM engine takes.
pub const GPU_MEMORY_UTILIZATION: Bound = Bound::above(0.0, 1.0, "");
/// Memory an LLM keeps free of KV blocks [GiB].
pub const ACTIVATION_RESERVE_GIB: Bound = Bound::closed(0.0, 1e4, " GiB");
/// Requests per batch, sequences per LLM server.
pub const BATCH: Bound = Bound::closed(1.0, MAX_BATCH as f64, "");
/// Longest LLM context [tokens].
pub const CONTEXT_TOKENS: Bound = Bound::closed(1.0, MAX_CONTEXT_TOKENS as f64, " tokens");
/// GPUs of a tensor-parallel group: within one NVLink/NVSwitch domain (72 on a GB200 NVL72).
pub const TENSOR_PARALLEL: Bound = Bound::closed(1.0, 72.0, " GPUs");
/// Pipeline stages of one replica.
pub const PIPELINE_PARALLEL: Bound = Bound::closed(1.0, 64.0, " stages");
/// Tokens per chunked LLM step.
pub const BATCHED_TOKENS: Bound = Bound::closed(16.0, MAX_CONTEXT_TOKENS as f64, " tokens");
/// Tokens per KV block.
pub const KV_BLOCK_TOKENS: Bound = Bound::closed(1.0, 4096.0, " tokens");
/// Transformer layers, KV heads.
pub const LAYERS: Bound = Bound::closed(1.0, 1024.0, "");
/// Size of one attention head [elements].
pub const HEAD_DIM: Bound = Bound::closed(1.0, 4096.0, "");
/// A transformer's hidden and MLP widths (Llama-3.1-405B: 16384 and 53248).
pub const ARCH_WIDTH: Bound = Bound::closed(1.0, 1_048_576.0, "");
/// Vocabulary or output classes.
pub const VOCAB: Bound = Bound::closed(1.0, 16_777_216.0, "");
/// Published parameters [billions] (the largest dense models are ~1,000).
pub const PARAMS_B: Bound = Bound::closed(1e-6, 100_000.0, " B");
/// Encoder tokens per unit of request size.
pub const TOKENS_PER_UNIT: Bound = Bound::closed(1e-6, 1e6, "");
/// Bytes per cached KV element.
pub const KV_BYTES_PER_ELEMENT: Bound = Bound::closed(1.0, 8.0, "");
/// Frames before an in-flight TTS's first audio chunk.
pub const FIRST_CHUNK_FRAMES: Bound = Bound::closed(1.0, 100_000.0, "");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_refuses_nan_and_values_outside_with_the_field_and_value() {
        assert!(CHUNK_S.contains(0.04) && CHUNK_S.contains(10.0) && !CHUNK_S.contains(f64::NAN));
        assert!(!GPU_MEMORY_UTILIZATION.contains(0.0) && GPU_MEMORY_UTILIZATION.contains(1e-3));
        let e = CHUNK_S.check("m.json", "chunk_s", 12.0).expect_err("out of range").to_string();
        assert_eq!(e, "m.json: chunk_s: must be in [0.04, 10] s, got '12'");
        assert_eq!(unit_hint(13400.0, 192.0, "GiB", GIB_SLIPS), "; did you mean 13400 MiB (13.09 GiB)?");
        assert_eq!(
            unit_hint(1.34e10, 192.0, "GiB", GIB_SLIPS),
            "; did you mean 1.34e10 bytes (12.48 GiB)?"
        );
        assert_eq!(unit_hint(1e300, 192.0, "GiB", GIB_SLIPS), "");
        assert_eq!(unit_hint(100.0, 192.0, "GiB", GIB_SLIPS), "");
        assert_eq!(unit_hint(1e6, 192.0, "GiB", GIB_SLIPS), "");
        assert_eq!(unit_hint(60.0, 40.0, "GiB", GIB_SLIPS), "");
        let e = BATCH.count("s.toml", "models.asr.max_batch", 0).expect_err("zero").to_string();
        assert!(e.contains("must be in [1, 65536], got '0'"), "{e}");
    }
}
