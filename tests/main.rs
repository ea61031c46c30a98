//! Integration tests of gpuslice, built as one test binary (one link, shared helpers):
//! * `llm`: LLM engines: decode blocks exact vs stepping, paged KV cache, preemption, policies;
//! * `plan`: the capacity planner against brute force and Erlang C, emitted scenario and
//!   Kubernetes files, impossible specs, thread-count determinism;
//! * `memory`: request slots reused once finished (flat memory) without changing any result;
//!   percentiles from sketches within their bound;
//! * `parallel`: tensor-parallel LLMs: weights and KV split, all-reduces by interconnect, group
//!   placement rules and faults, the 70B TP4 inter-token latency against NVIDIA's published figure;
//! * `queueing`: the engine against queueing theory (M/M/1, M/D/1, M/M/c, Little's law, closed loop);
//! * `report`: `gpuslice report` and `--report`: well-formed, self-contained, deterministic
//!   pages whose numbers are the commands' output;
//! * `regimes`: time slicing, MIG capacity, memory limits, fault domains, pipelines;
//! * `configs`: scenario files, bad (tests/configs/invalid) and good (experiments/, tests/configs/valid);
//! * `determinism`: byte-identical reports across runs and thread pools;
//! * `docs`: the generated blocks of the book (docs/src) and README equal the program's current
//!   output; the book's example is valid, its links resolve; no circular module imports;
//! * `byom`: `calibrate` on a user's own measurements (tests/byom): their buckets kept, every
//!   extrapolated cell warned about, memory and KV geometry from flags or the architecture;
//! * `cli`: the `gpuslice` binary's output and exit codes;
//! * `hostile`: plainly wrong inputs of every class (tests/hostile/) refused with one line, status 2;
//! * `scaling`: the device scaling model against SM-restricted measurements; MPS SM sharing;
//! * `sweep`: `gpuslice sweep` / `sweep-merge`: thread-count determinism, shards, resume, Ctrl-C,
//!   `--check` exit codes, bad axes, the CI examples;
//! * `validation`: replaying the measured H100 runs and fitting GenAI-Perf exports;
//! * `voice`: conversations, streaming ASR and in-flight TTS.
//!
//! Run with `cargo test --release`; the whole binary takes a few seconds.
mod byom;
mod cli;
mod common;
mod configs;
mod day;
mod determinism;
mod docs;
mod hostile;
mod llm;
mod memory;
mod parallel;
mod plan;
mod queueing;
mod regimes;
mod report;
mod scaling;
mod sweep;
mod validation;
mod voice;
