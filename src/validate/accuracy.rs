//! `gpuslice accuracy`: every measured run under traces/ replayed through [`validate_dir`], with
//! the published comparisons, as the tables of docs/src/accuracy.md. Apart from the replay
//! of one folder because it is a fixed list of runs and a report over them (the docs test
//! checks its output), not a way to read a folder.

use super::published::{arch_checks, engine_check, published_comparisons, ArchCheck, EngineCheck, PublishedRatio};
use super::{validate_dir, TsParams, REPLAYS};
use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Every measured run `gpuslice accuracy` replays: (GPU folder, run folder).
pub const ACCURACY_RUNS: &[(&str, &str)] = &[
    ("h100", "asr_L"),
    ("h100", "asr_H"),
    ("h100", "tts_L"),
    ("h100", "tts_H"),
    ("h100", "llm_L"),
    ("h100", "llm_H"),
    ("h100", "tts_S"),
    ("h100", "tts_S2"),
    ("h100", "ts_asr_tts_L"),
    ("h100", "ts_asr_tts_L_r2"),
    ("h100", "ts_asr_tts_H"),
    ("h100", "ts_asr_tts_H_r2"),
    ("h100", "ts_asr_tts_llm_L"),
    ("h100", "ts_asr_tts_llm_L_r2"),
    ("h100", "ts_asr_tts_llm_H"),
    ("h100", "ts_asr_tts_llm_H_r2"),
    ("h100", "ts_probe_asr_tts"),
    ("h100", "ts_probe_asr_tts_q"),
    ("h200", "asr_H"),
    ("h200", "tts_H"),
    ("h200", "llm_H"),
    ("h200", "ts_asr_tts_L"),
    ("h200", "ts_asr_tts_H"),
    ("h200", "ts_asr_llm_L"),
    ("h200", "ts_asr_llm_H"),
    ("h200", "ts_asr_llm_H_r2"),
    ("h200", "ts_tts_llm_L"),
    ("h200", "ts_tts_llm_L_r2"),
    ("h200", "ts_tts_llm_H"),
    ("h200", "ts_tts_llm_H_r2"),
    ("h200", "ts_asr_tts_llm_L"),
    ("h200", "ts_asr_tts_llm_H"),
    // Session 5: new arrivals, measured after the model was final.
    ("h200", "ts_asr_tts_M"),
    ("h200", "ts_asr_tts_M_r2"),
    ("h200", "ts_asr_tts_X"),
    ("h200", "ts_asr_tts_X_r2"),
    ("h200", "ts_asr_llm_M"),
    ("h200", "ts_asr_llm_M_r2"),
    ("h200", "ts_tts_llm_M"),
    ("h200", "ts_tts_llm_M_r2"),
    ("h200", "ts_asr_tts_llm_M"),
    ("h200", "ts_asr_tts_llm_M_r2"),
];

/// The folder of the measured runs: `traces` under the working directory, else under the
/// source tree the binary was built from (so `gpuslice accuracy` works from any directory of a
/// clone).
pub fn default_traces_root() -> String {
    if Path::new("traces/h100/asr_L/gpu.csv").exists() {
        "traces".into()
    } else {
        format!("{}/traces", env!("CARGO_MANIFEST_DIR"))
    }
}

/// One replayed run and model of `gpuslice accuracy`.
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyRow {
    /// GPU folder (`h100`, `h200`).
    pub gpu: String,
    /// Run folder.
    pub run: String,
    /// Model.
    pub model: String,
    /// Requests replayed.
    pub requests: usize,
    /// (simulated - measured) / measured * 100 per metric (`throughput`, `mean`, `p50`, ...).
    pub error_pct: BTreeMap<String, f64>,
    /// Mean per-request |error| [%].
    pub request_mape_pct: f64,
    /// Run-to-run spread of the measured p50 / p95 where the run was repeated [%].
    pub repeat_spread_pct: Option<BTreeMap<String, f64>>,
    /// Lowest and highest p50 / p95 error over the replays [%] (see [`super::ModelValidation`]).
    pub replay_range_pct: Option<BTreeMap<String, [f64; 2]>>,
}

/// The largest |error| of a time-sliced tenant, by model and number of tenants.
#[derive(Debug, Clone, Serialize)]
pub struct WorstTimeSliced {
    /// Model.
    pub model: String,
    /// "2 tenants" or "3 tenants".
    pub tenants: String,
    /// Largest |p50 error| [%].
    pub p50_abs_error_pct: f64,
    /// Largest |p95 error| [%].
    pub p95_abs_error_pct: f64,
}

/// Everything `gpuslice accuracy` reports (its `--format json` document).
#[derive(Debug, Clone, Serialize)]
pub struct Accuracy {
    /// Every measured run replayed, in [`ACCURACY_RUNS`] order, models by name.
    pub runs: Vec<AccuracyRow>,
    /// Slice of the time-sliced runs [ms].
    pub quantum_ms: f64,
    /// Context-switch cost of the time-sliced runs [us].
    pub switch_us: f64,
    /// Largest errors of time-sliced tenants.
    pub worst_time_sliced: Vec<WorstTimeSliced>,
    /// Published device ratios against the scaling model.
    pub device_comparisons: Vec<PublishedRatio>,
    /// The LLM engines against NVIDIA's published GenAI-Perf concurrency sweep.
    pub engine_checks: Vec<EngineCheck>,
    /// LLMs from their architecture, one GPU and tensor-parallel, against published serving runs.
    pub arch_checks: Vec<ArchCheck>,
}

/// A metric of an error map (0 when absent, which `validate_dir` never leaves).
fn metric(e: &BTreeMap<String, f64>, k: &str) -> f64 {
    e.get(k).copied().unwrap_or(0.0)
}

/// Replay every run of [`ACCURACY_RUNS`] under `root` and compare the published device ratios.
pub fn accuracy(root: &str) -> Result<Accuracy> {
    if !Path::new(root).is_dir() {
        return Err(Error::input(
            root,
            "",
            "no such folder of measured runs: pass --root with the `traces` folder of a gpuslice clone",
        ));
    }
    let ts = TsParams::default();
    let mut runs = Vec::new();
    let mut worst: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for (gpu, run) in ACCURACY_RUNS {
        let d = format!("{root}/{gpu}/{run}");
        let v = validate_dir(&d, &BTreeMap::new(), ts)?;
        for (m, r) in &v.models {
            let e = &r.error_pct;
            if run.starts_with("ts_") {
                let servers = ["asr", "tts", "llm"].iter().filter(|m| run.contains(*m)).count();
                let tenants = if servers >= 3 { "3 tenants" } else { "2 tenants" };
                let w = worst.entry((m.clone(), tenants.to_string())).or_insert((0.0, 0.0));
                w.0 = w.0.max(metric(e, "p50").abs());
                w.1 = w.1.max(metric(e, "p95").abs());
            }
            runs.push(AccuracyRow {
                gpu: gpu.to_string(),
                run: run.to_string(),
                model: m.clone(),
                requests: r.requests,
                error_pct: e.clone(),
                request_mape_pct: r.request_mape_pct,
                repeat_spread_pct: r.repeat_spread_pct.clone(),
                replay_range_pct: r.replay_range_pct.clone(),
            });
        }
    }
    Ok(Accuracy {
        runs,
        quantum_ms: crate::deploy::DEFAULT_QUANTUM_MS,
        switch_us: crate::deploy::DEFAULT_SWITCH_US,
        worst_time_sliced: worst
            .into_iter()
            .map(|((model, tenants), (p50, p95))| WorstTimeSliced {
                model,
                tenants,
                p50_abs_error_pct: p50,
                p95_abs_error_pct: p95,
            })
            .collect(),
        device_comparisons: published_comparisons()?,
        engine_checks: engine_check(&format!("{root}/genai-perf"))?,
        arch_checks: arch_checks()?,
    })
}

impl Accuracy {
    /// The accuracy tables of docs/src/accuracy.md, as Markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::from(
            "| GPU | run | model | requests | throughput err | p50 err | p95 err | p99 err | TTFT p50 err | request MAPE | replay range p50 / p95 | repeat spread p50 / p95 |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for r in &self.runs {
            let e = &r.error_pct;
            let ttft = e.get("ttft_p50").map_or("".to_string(), |x| format!("{x:+.1}%"));
            let spread = r
                .repeat_spread_pct
                .as_ref()
                .map_or(String::new(), |x| format!("{:.1}% / {:.1}%", metric(x, "p50"), metric(x, "p95")));
            let range = r.replay_range_pct.as_ref().map_or(String::new(), |x| {
                let (a, b) = (x.get("p50").copied().unwrap_or_default(), x.get("p95").copied().unwrap_or_default());
                format!("{:+.1}..{:+.1} / {:+.1}..{:+.1}", a[0], a[1], b[0], b[1])
            });
            s.push_str(&format!(
                "| {} | {} | {} | {} | {:+.1}% | {:+.1}% | {:+.1}% | {:+.1}% | {ttft} | {:.1}% | {range} | {spread} |\n",
                r.gpu,
                r.run,
                r.model,
                r.requests,
                metric(e, "throughput"),
                metric(e, "p50"),
                metric(e, "p95"),
                metric(e, "p99"),
                r.request_mape_pct
            ));
        }
        s.push_str(&format!(
            "\nASR and TTS calls vary around their tables (`call_noise`), so each run is replayed with {REPLAYS} seeds: an error is that of the statistic's median over the seeds, the replay range its lowest and highest. Time-sliced runs (`ts_*`) use the measured slice ({} ms) and switch cost ({} us) of the H200 probes; no parameter was fitted to their latencies. Largest |error| of a time-sliced tenant: {}.\n\n",
            self.quantum_ms,
            self.switch_us,
            self.worst_time_sliced
                .iter()
                .map(|w| format!(
                    "{} with {} p50 {:.0} % / p95 {:.0} %",
                    w.model, w.tenants, w.p50_abs_error_pct, w.p95_abs_error_pct
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        s.push_str("| device comparison | published | predicted | error | source |\n|---|---|---|---|---|\n");
        for r in &self.device_comparisons {
            s.push_str(&format!(
                "| {} | {:.3} | {:.3} | {:+.1}% | {} |\n",
                r.what, r.published, r.predicted, r.error_pct, r.source
            ));
        }
        s.push_str("\n| LLM engine | concurrency | fitted on it | TTFT p50 err | ITL err | throughput err |\n|---|---|---|---|---|---|\n");
        for c in self.engine_checks.chunks(3) {
            s.push_str(&format!(
                "| {} | {} | {} | {:+.1}% | {:+.1}% | {:+.1}% |\n",
                c[0].policy,
                c[0].concurrency,
                if c[0].fitted { "yes" } else { "no" },
                c[0].error_pct,
                c[1].error_pct,
                c[2].error_pct
            ));
        }
        s.push_str("\n| LLM from its architecture | metric | held out | published | simulated | error |\n|---|---|---|---|---|---|\n");
        for c in &self.arch_checks {
            s.push_str(&format!(
                "| {} | {} | {} | {:.1} | {:.1} | {:+.1}% |\n",
                c.what,
                c.metric,
                if c.held_out { "yes" } else { "no" },
                c.published,
                c.simulated,
                c.error_pct
            ));
        }
        s
    }
}

/// The accuracy tables of docs/src/accuracy.md, as Markdown.
pub fn accuracy_markdown(root: &str) -> Result<String> {
    Ok(accuracy(root)?.markdown())
}
