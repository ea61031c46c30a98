//! gpuslice: a discrete-event simulator and capacity planner for sharing GPUs between model
//! servers (dedicated, Kubernetes time-slicing, MIG, MPS).
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
