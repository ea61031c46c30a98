//! Shared helpers of the integration tests: temporary model files, scenario parsing, running one
//! variant, reading utilisation entries, and `assert_close` for statistical comparisons.
#![allow(dead_code)] // each test module uses a different subset

use gpuslice::scenario::files::parse_scenario;
use gpuslice::scenario::Scenario;
use gpuslice::sim::{RunSummary, Simulation};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A planning spec's body small enough to plan in a fraction of a second: open-loop ASR and TTS
/// with a p95 objective each, 20 s. A spec is `name = ...` lines, this, then its `[plan]`.
pub fn asr_tts_open_loop(head: &str, plan: &str) -> String {
    const BODY: &str = r#"
duration_s = 20
warmup_s = 2
[models.asr]
from = "h100/asr"
[models.tts]
from = "h100/tts"
[[workload]]
model = "asr"
arrivals = { process = "poisson", rate_rps = 30 }
size = { dist = "lognormal", median = 5.0, sigma = 0.6, min = 1.0, max = 30.0 }
[[workload]]
model = "tts"
arrivals = { process = "poisson", rate_rps = 3 }
size = { dist = "lognormal", median = 80, sigma = 0.6, min = 10, max = 400 }
[slo]
"asr.p95_ms" = 300
"tts.p95_ms" = 2000
"#;
    format!("{head}{BODY}{plan}")
}

/// Root of the repository (the crate), for fixtures and data files.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A directory under the system temp dir, unique per process and per call, removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("gpuslice-it-{}-{n}-{tag}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    /// Write `name` with `text`; returns its absolute path as a string.
    pub fn write(&self, name: &str, text: &str) -> String {
        let p = self.path.join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p.display().to_string()
    }

    pub fn join(&self, name: &str) -> String {
        self.path.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A synthetic single-op model whose service time on its reference GPU is exactly the request
/// size in milliseconds: kind `asr`, op `encode`, table batch [1] x size [1, 1001] with latency
/// [[1, 1001]] (one batch point, linear in size, so L(1, s) = s), no padding buckets, no host
/// overheads (`dispatch_ms = call_gap_ms = 0`), `max_batch = 1` (one request per call: a
/// single-server FIFO queue).
#[derive(Debug, Clone)]
pub struct LinearModel {
    /// Catalog key of the reference GPU (a variant on this GPU runs the table unscaled).
    pub reference_gpu: &'static str,
    /// Total memory footprint [GiB] (all of it counted as weights).
    pub memory_gib: f64,
    /// Requests per call.
    pub max_batch: u32,
    /// Share of each call that is compute (scales with the SMs, see `service/scaling.rs`); the
    /// rest is fixed (clock only), so 0 makes the call take the same time on any partition of
    /// the reference GPU type.
    pub compute_frac: f64,
    /// A call's time on a time-sliced GPU it shares, over its solo time.
    pub shared_time_fraction: f64,
    /// Host-bound start of each call [ms].
    pub host_phase_ms: f64,
}

impl Default for LinearModel {
    fn default() -> Self {
        LinearModel {
            reference_gpu: "h100-80gb",
            memory_gib: 1.0,
            max_batch: 1,
            compute_frac: 0.0,
            shared_time_fraction: 1.0,
            host_phase_ms: 0.0,
        }
    }
}

impl LinearModel {
    /// Fully compute-bound: a device with a fraction `f` of the reference SMs (same GPU type)
    /// takes `L / f`.
    pub fn compute_bound(reference_gpu: &'static str) -> LinearModel {
        LinearModel {
            reference_gpu,
            compute_frac: 1.0,
            ..LinearModel::default()
        }
    }

    pub fn json(&self) -> String {
        format!(
            r#"{{
  "name": "linear",
  "kind": "asr",
  "reference_gpu": "{gpu}",
  "description": "synthetic: service time [ms] = request size",
  "memory": {{ "weights_gib": {mem}, "runtime_gib": 0.0 }},
  "max_batch": {mb},
  "dispatch_ms": 0.0,
  "call_gap_ms": 0.0,
  "shared_time_fraction": {stf},
  "host_phase_ms": {hp},
  "ops": {{
    "encode": {{
      "batch_buckets": [],
      "size_buckets": [],
      "batch": [1.0],
      "size": [1.0, 1001.0],
      "latency_ms": [[1.0, 1001.0]],
      "fixed_frac": [[{ff}, {ff}]],
      "compute_frac": [[{cf}, {cf}]]
    }}
  }},
  "scaling": {{ "sm_bw_gbps": 100.0, "knee": 3.0 }}
}}
"#,
            gpu = self.reference_gpu,
            mem = self.memory_gib,
            mb = self.max_batch,
            cf = self.compute_frac,
            ff = 1.0 - self.compute_frac,
            stf = self.shared_time_fraction,
            hp = self.host_phase_ms,
        )
    }

    /// Write the model JSON into `dir` as `<name>.json`; returns the absolute path.
    pub fn write(&self, dir: &TempDir, name: &str) -> String {
        dir.write(&format!("{name}.json"), &self.json())
    }
}

/// Parse scenario text (file name `test.toml`, paths resolved from `dir`); panics with the
/// one-line error.
pub fn parse(text: &str) -> Scenario {
    parse_scenario(text, "test.toml", None).unwrap_or_else(|e| panic!("scenario does not parse: {e}\n{text}"))
}

/// Parse scenario text that must fail; returns the error's Display.
pub fn parse_err(text: &str) -> String {
    match parse_scenario(text, "test.toml", None) {
        Ok(_) => panic!("scenario parsed but should not:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Simulate variant `v` to the end.
pub fn run(sc: &Scenario, v: usize, seed: u64) -> RunSummary {
    Simulation::new(sc, v, seed)
        .unwrap_or_else(|e| panic!("variant {v}: {e}"))
        .run_to_end()
}

/// Simulate variant `v` and also return the raw latencies [ms] of model `m` in completion order.
pub fn run_with_latencies(sc: &Scenario, v: usize, seed: u64, m: usize) -> (RunSummary, Vec<f64>) {
    let mut sim = Simulation::new(sc, v, seed).unwrap_or_else(|e| panic!("variant {v}: {e}"));
    sim.keep_records().unwrap_or_else(|e| panic!("{e}"));
    while sim.step() {}
    let lat = sim.model_latencies(m).unwrap_or_else(|e| panic!("{e}")).to_vec();
    (sim.summary(), lat)
}

/// Busy fraction of `partition` on GPU `gpu` of a run (panics listing what exists).
pub fn busy(r: &RunSummary, gpu: u32, partition: &str) -> f64 {
    r.gpu_utilization
        .iter()
        .find(|u| u.gpu == gpu && u.partition == partition)
        .map(|u| u.busy_fraction)
        .unwrap_or_else(|| panic!("no utilisation entry gpu {gpu} '{partition}' in {:?}", r.gpu_utilization))
}

/// Standard error of the mean of a (serially correlated) sample by non-overlapping batch means
/// with `k` batches.
pub fn batch_means_se(x: &[f64], k: usize) -> f64 {
    let b = x.len() / k;
    assert!(b >= 2, "too few samples ({}) for {k} batches", x.len());
    let means: Vec<f64> = (0..k).map(|i| x[i * b..(i + 1) * b].iter().sum::<f64>() / b as f64).collect();
    let m = means.iter().sum::<f64>() / k as f64;
    let var = means.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (k - 1) as f64;
    (var / k as f64).sqrt()
}

pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Assert `|actual - expected| <= rel_tol * |expected|`.
#[track_caller]
pub fn assert_close(actual: f64, expected: f64, rel_tol: f64, what: &str) {
    assert!(actual.is_finite(), "{what}: got non-finite {actual}");
    let err = (actual - expected).abs() / expected.abs().max(f64::MIN_POSITIVE);
    assert!(
        err <= rel_tol,
        "{what}: got {actual:.6}, expected {expected:.6} (relative error {:.3}% > tolerance {:.3}%)",
        err * 100.0,
        rel_tol * 100.0
    );
}

/// Path of a file relative to the repository root, as a string.
pub fn repo_file(rel: &str) -> String {
    repo().join(rel).display().to_string()
}

/// True if `p` exists.
pub fn exists(p: &str) -> bool {
    Path::new(p).exists()
}

/// Run the built `gpuslice` binary from the repository root.
pub fn gpuslice(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gpuslice"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run gpuslice {args:?}: {e}"))
}

/// Program output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
