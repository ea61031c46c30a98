//! gpuslice: a discrete-event simulator and capacity planner for sharing GPUs between model
//! servers (dedicated, Kubernetes time-slicing, MIG, MPS).
//!
//! # A run in three steps
//! A study is a [`scenario::Scenario`]: models (a built-in calibrated one here), the load, and the
//! deployments ("variants") to compare. It is read and checked once; then each variant is a
//! [`sim::Simulation`], which can be stepped (as the TUI does) or run to the end, and its
//! [`sim::RunSummary`] is what every report prints.
//!
//! ```
//! use gpuslice::scenario::files::parse_scenario;
//! use gpuslice::sim::{run_scenario, Simulation};
//! use gpuslice::time::SEC;
//!
//! // 1. The study: an ASR model at 50 requests/s, alone on an H100 or on a 3g.40gb MIG slice.
//! let study = parse_scenario(r#"
//! name = "asr-slice"
//! duration_s = 20
//! warmup_s = 5
//! [models.asr]
//! from = "h100/asr"
//! [[workload]]
//! model = "asr"
//! arrivals = { process = "poisson", rate_rps = 50 }
//! size = { dist = "lognormal", median = 6, sigma = 0.5, min = 1, max = 30 }
//! [[variant]]
//! name = "whole"
//! gpu = "h100-80gb"
//! gpus = [{ regime = "dedicated", models = ["asr"] }]
//! [[variant]]
//! name = "3g"
//! gpu = "h100-80gb"
//! gpus = [{ regime = "mig", layout = "3g.40gb", models = ["asr"] }]
//! "#, "asr-slice.toml", None)?;
//!
//! // 2. Step one variant for 10 simulated seconds, as the TUI does.
//! let mut sim = Simulation::new(&study, 1, 7)?;
//! sim.step_until(10 * SEC);
//! assert_eq!(sim.now(), 10 * SEC);
//!
//! // 3. Run every variant to the end (in parallel; the same seed gives the same bytes).
//! let runs = run_scenario(&study, 7)?;
//! let (whole, slice) = (&runs[0].models["asr"], &runs[1].models["asr"]);
//! assert!(whole.completed > 500 && slice.completed == whole.completed);
//! // Fewer SMs: the slice serves the same requests, each a little slower.
//! assert!(slice.latency_ms.p50 > whole.latency_ms.p50);
//! # Ok::<(), gpuslice::error::Error>(())
//! ```
//!
//! Module map, core first (the manual's chapter: docs/src/architecture.md). Only
//! `scenario::files`, `validate` (with `validate::measured`), `out::export`, `cli` and `tui` do
//! I/O; the rest are pure functions of their inputs.
//! * [`time`], [`rng`], [`error`]: the integer nanosecond clock, one seeded stream per random
//!   source, the one-line error type.
//! * [`limits`]: every bound of the inputs and the one check that enforces them.
//! * [`metrics`]: latency summaries and the mergeable latency sketch.
//! * [`gpu`]: GPU specs and MIG geometry (data in `models/gpus.toml`), MIG placement.
//! * [`model`]: model files, service-time tables, device scaling, fitting from measurements.
//! * [`deploy`]: regimes, tenants, balancers, and the placement of every server on its device.
//! * [`scenario`]: the validated scenario: read, checked and resolved; the `--set` edit language.
//! * [`sim`]: the simulation of a variant: event queue, sources, router, servers and their
//!   engines, devices (exclusive, time-sliced, MPS), faults, request store, recorder, summary.
//! * [`plan`]: the capacity planner (cheapest deployment meeting the SLOs).
//! * [`sweep`]: sweep axes, run lists, results/summary columns and `--check` gates.
//! * [`validate`]: replays of measured serving runs and the accuracy tables.
//! * [`out`]: the run table and JSON, a plan's scenario and Kubernetes files.
//! * [`cli`], [`tui`]: the commands' I/O (with `bench` and `docs`) and the terminal UI.
#![warn(missing_docs)]

pub mod cli;
pub mod deploy;
pub mod error;
pub mod gpu;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod out;
pub mod plan;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod sweep;
pub mod time;
pub mod tui;
pub mod validate;
