//! Bounds on everything that sizes work or memory (README "Limits"). Each is far above any real
//! deployment and far below what would exhaust a workstation.

/// Largest value any time or quantity in a scenario may take: 1e9 s still fits the
/// nanosecond clock (u64 holds 1.8e10 s) with room to add.
pub const MAX_VALUE: f64 = 1e9;
/// Most requests a scenario may be expected to simulate: summed over its workloads, times
/// its variants (each variant simulates every workload), a streaming ASR's chunk calls
/// counted as requests. The simulator does about 3 million requests a second on one core
/// (dedicated ASR), so 1e7 is a few seconds; an overloaded run holds every request that
/// waits (about 160 bytes each, in slabs that double as they grow), so 1e7 also stays
/// under 3 GB.
pub const MAX_REQUESTS: f64 = 1e7;
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
pub use crate::model::MAX_BATCH;
/// Longest LLM context [tokens].
pub const MAX_CONTEXT_TOKENS: u32 = 10_000_000;
/// Most time slices a scenario may need: (duration_s + drain_s) / quantum_ms summed over
/// the time-sliced GPUs of every variant (the engine's cost grows with the slices of a
/// contended GPU: 2e10 took 40 s). 1e9 is 2.1e6 GPU-seconds at the default 2.1 ms slice.
pub const MAX_SLICES: f64 = 1e9;
