//! gpuslice: a discrete-event simulator and capacity planner for sharing GPUs between model
//! servers (dedicated, Kubernetes time-slicing, MIG, MPS).
//!
//! Module map (core first; only `config`, `input`, `cli`, `bench` and `tui` do I/O):
//! * [`engine`]: event queue with the one ordering rule `(time, seq)`.
//! * [`catalog`]: GPU specs and MIG geometry (data in `models/gpus.toml`), MIG placement.
//! * [`service`]: service-time tables, padding, interpolation, device scaling.
//! * [`calibrate`]: fitting those tables from measurements.
//! * [`workload`]: arrival processes, size distributions, per-source RNG streams.
//! * [`scenario`]: the validated scenario the simulator runs.
//! * [`sim`]: servers, batching policies, load balancing, devices and their sharing regimes.
//! * [`metrics`]: latency summaries.
//! * [`plan`]: the capacity planner (cheapest deployment meeting the SLOs).
//! * [`k8s`]: Kubernetes / GPU Operator files for a deployment.
//! * [`sweep`]: sweep axes, run lists, results/summary columns and `--check` gates (`gpuslice sweep`).
//! * [`config`], [`input`]: reading scenario, model and trace files.
//! * [`report`], [`cli`], [`bench`]: the binary's output.
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
