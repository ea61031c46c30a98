//! `gpuslice accuracy`: every measured run under traces/ replayed through [`validate_dir`], with
//! the published comparisons, as the tables of docs/src/accuracy.md. Apart from the replay
//! of one folder because it is a fixed list of runs and a report over them (the docs test
//! checks its output), not a way to read a folder.

use super::published::{arch_checks, engine_check, published_comparisons, ArchCheck, EngineCheck, PublishedRatio};
use super::{validate_dir, TsParams, REPLAYS};
use crate::error::{Error, Result};
use crate::metrics::round4;
use rayon::prelude::*;
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

/// The folder of the concurrent-partition serving runs under the traces root.
pub const SPATIAL_DIR: &str = "h100/spatial/serve";

/// The spatially shared runs `gpuslice accuracy` replays as MPS (`partitions.csv`, see
/// [`validate_dir`]), folders of [`SPATIAL_DIR`]: two servers in one process on disjoint
/// green-context SM partitions of one H100 (`sp_<m1>_<m2>_<sms1>+<sms2>_<H|L>`, heavy ones
/// repeated as `_r2`), each server alone on its partition (`alone_<m>_<sms>_<H|L>`), and the ASR
/// server in its own process on the whole GPU (`proc_asr_132_H`). traces/h100/spatial/README.md.
pub const SPATIAL_RUNS: &[&str] = &[
    "sp_asr_llm_32+100_H",
    "sp_asr_llm_32+100_H_r2",
    "sp_asr_llm_32+100_L",
    "sp_asr_llm_64+68_H",
    "sp_asr_llm_64+68_H_r2",
    "sp_asr_tts_100+32_H",
    "sp_asr_tts_100+32_H_r2",
    "sp_asr_tts_64+68_H",
    "sp_asr_tts_64+68_H_r2",
    "sp_asr_tts_64+68_L",
    "sp_tts_llm_32+100_H",
    "sp_tts_llm_32+100_H_r2",
    "sp_tts_llm_64+68_H",
    "sp_tts_llm_64+68_H_r2",
    "sp_tts_llm_64+68_L",
    "alone_asr_32_H",
    "alone_asr_32_L",
    "alone_asr_64_H",
    "alone_asr_64_L",
    "alone_asr_100_H",
    "alone_asr_132_H",
    "proc_asr_132_H",
    "alone_llm_68_H",
    "alone_llm_100_H",
    "alone_llm_100_L",
    "alone_tts_32_H",
    "alone_tts_32_L",
    "alone_tts_64_H",
    "alone_tts_64_L",
    "alone_tts_68_H",
    "alone_tts_68_L",
    // Measured after the shared-resource model was fitted (serve2, 2026-12-07 23:59 UTC): held out.
    "sp_asr_llm_64+68_L",
    "sp_asr_tts_100+32_L",
    "sp_tts_llm_32+100_L",
    "alone_asr_100_L",
    "alone_llm_68_L",
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

/// One model of one spatially shared run of [`SPATIAL_RUNS`], replayed as an MPS client.
#[derive(Debug, Clone, Serialize)]
pub struct SpatialRow {
    /// Run folder (under [`SPATIAL_DIR`]).
    pub run: String,
    /// Model.
    pub model: String,
    /// SMs of its partition (`partitions.csv`).
    pub sms: f64,
    /// The other server of the run and its SMs (`None`: it ran alone).
    pub neighbour: Option<String>,
    /// Requests replayed.
    pub requests: usize,
    /// Measured p50 / p95 latency [ms] and throughput [req/s].
    pub measured: SpatialFigures,
    /// Simulated (the median of the replays).
    pub simulated: SpatialFigures,
    /// (simulated - measured) / measured * 100 of `p50`, `p95` and `throughput`.
    pub error_pct: BTreeMap<String, f64>,
    /// The same model alone on a partition of the same size at the same load, when that run
    /// exists (for a concurrent run).
    pub alone_run: Option<String>,
    /// Concurrent p50 / the alone run's p50, measured.
    pub interference_measured: Option<f64>,
    /// Concurrent p50 / the alone run's p50, both simulated.
    pub interference_simulated: Option<f64>,
}

/// The figures of one side of a [`SpatialRow`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SpatialFigures {
    /// p50 latency [ms].
    pub p50_ms: f64,
    /// p95 latency [ms].
    pub p95_ms: f64,
    /// Requests / last finish [req/s].
    pub throughput_rps: f64,
}

/// How many model-runs of one kind of spatial run (concurrent or alone) are within the bounds.
#[derive(Debug, Clone, Serialize)]
pub struct SpatialSummary {
    /// `concurrent` (two servers on disjoint partitions) or `alone` (one server on its
    /// partition, or in its own process on the whole GPU).
    pub runs: String,
    /// Model-runs.
    pub model_runs: usize,
    /// Within p50 15 % and p95 20 %.
    pub within_15_20: usize,
    /// Within p50 10 % and p95 15 %.
    pub within_10_15: usize,
    /// Throughput within 2 %.
    pub throughput_within_2: usize,
    /// The largest |p50 error|: `run model` and the error [%].
    pub worst_p50: (String, f64),
    /// The largest |p95 error|: `run model` and the error [%].
    pub worst_p95: (String, f64),
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
    /// The spatially shared runs ([`SPATIAL_RUNS`]) replayed as MPS, model by model.
    pub spatial: Vec<SpatialRow>,
    /// Their bounds, concurrent and alone runs apart.
    pub spatial_summary: Vec<SpatialSummary>,
    /// Published device ratios against the scaling model.
    pub device_comparisons: Vec<PublishedRatio>,
    /// The MIG rows of `device_comparisons` by slice size: median and worst |error|.
    pub mig_slice_errors: Vec<MigSliceError>,
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
    let spatial = spatial_rows(root, ts)?;
    let device_comparisons = published_comparisons()?;
    Ok(Accuracy {
        runs,
        spatial_summary: ["concurrent", "alone"].iter().map(|k| spatial_summary(&spatial, k)).collect(),
        spatial,
        mig_slice_errors: mig_slice_errors(&device_comparisons),
        device_comparisons,
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
        engine_checks: engine_check(&format!("{root}/genai-perf"))?,
        arch_checks: arch_checks()?,
    })
}

/// Replay every run of [`SPATIAL_RUNS`] and pair each concurrent model with its alone run.
fn spatial_rows(root: &str, ts: TsParams) -> Result<Vec<SpatialRow>> {
    let base = format!("{root}/{SPATIAL_DIR}");
    let validations: Vec<super::Validation> = SPATIAL_RUNS
        .par_iter()
        .map(|run| validate_dir(&format!("{base}/{run}"), &BTreeMap::new(), ts))
        .collect::<Result<_>>()?;
    let by_run: BTreeMap<&str, &super::Validation> = SPATIAL_RUNS.iter().copied().zip(&validations).collect();
    let mut rows = Vec::new();
    for (run, v) in SPATIAL_RUNS.iter().zip(&validations) {
        let sms = &v.partition_sms;
        // The load letter: the last part of the name before any `_r2`.
        let load = run.trim_end_matches("_r2").rsplit('_').next().unwrap_or("");
        for (m, r) in &v.models {
            let mine = sms.get(m).copied().unwrap_or(0.0);
            let neighbour = sms.iter().find(|(n, _)| *n != m).map(|(n, s)| format!("{n} on {s}"));
            let figures = |side: &super::Side| SpatialFigures {
                p50_ms: side.latency_ms.p50,
                p95_ms: side.latency_ms.p95,
                throughput_rps: side.throughput_rps,
            };
            let alone_name = format!("alone_{m}_{mine}_{load}");
            let alone = neighbour
                .as_ref()
                .and_then(|_| by_run.get(alone_name.as_str()))
                .and_then(|a| a.models.get(m));
            let ratio = |a: f64, b: f64| round4(a / b.max(1e-9));
            rows.push(SpatialRow {
                run: run.to_string(),
                model: m.clone(),
                sms: mine,
                neighbour,
                requests: r.requests,
                measured: figures(&r.measured),
                simulated: figures(&r.simulated),
                error_pct: ["p50", "p95", "throughput"]
                    .iter()
                    .map(|k| (k.to_string(), metric(&r.error_pct, k)))
                    .collect(),
                alone_run: alone.map(|_| alone_name.clone()),
                interference_measured: alone.map(|a| ratio(r.measured.latency_ms.p50, a.measured.latency_ms.p50)),
                interference_simulated: alone.map(|a| ratio(r.simulated.latency_ms.p50, a.simulated.latency_ms.p50)),
            });
        }
    }
    Ok(rows)
}

/// The bounds of the concurrent (`kind` = `concurrent`) or alone spatial model-runs.
fn spatial_summary(rows: &[SpatialRow], kind: &str) -> SpatialSummary {
    let mine: Vec<&SpatialRow> = rows.iter().filter(|r| r.neighbour.is_some() == (kind == "concurrent")).collect();
    let within = |a: f64, b: f64| {
        mine.iter()
            .filter(|r| metric(&r.error_pct, "p50").abs() <= a && metric(&r.error_pct, "p95").abs() <= b)
            .count()
    };
    let worst = |k: &str| {
        mine.iter()
            .map(|r| (format!("{} {}", r.run, r.model), metric(&r.error_pct, k)))
            .fold((String::new(), 0.0_f64), |w, x| if x.1.abs() > w.1.abs() { x } else { w })
    };
    SpatialSummary {
        runs: kind.to_string(),
        model_runs: mine.len(),
        within_15_20: within(15.0, 20.0),
        within_10_15: within(10.0, 15.0),
        throughput_within_2: mine.iter().filter(|r| metric(&r.error_pct, "throughput").abs() <= 2.0).count(),
        worst_p50: worst("p50"),
        worst_p95: worst("p95"),
    }
}

/// The published MIG ratios' errors by slice size (`1g`, `2g`, ...).
#[derive(Debug, Clone, Serialize)]
pub struct MigSliceError {
    /// Slice size: the compute part of the profile, `1g`, `2g`, `3g`, ...
    pub slice: String,
    /// Published ratios of that size.
    pub comparisons: usize,
    /// Median |error| [%].
    pub median_abs_error_pct: f64,
    /// Largest |error| [%].
    pub worst_abs_error_pct: f64,
}

/// Group the MIG rows of the published comparisons by slice size.
fn mig_slice_errors(rows: &[PublishedRatio]) -> Vec<MigSliceError> {
    let mut by: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in rows {
        if let Some(sl) = &r.mig_slice {
            by.entry(sl.clone()).or_default().push(r.error_pct.abs());
        }
    }
    by.into_iter()
        .map(|(slice, mut e)| MigSliceError {
            slice,
            comparisons: e.len(),
            worst_abs_error_pct: round4(e.iter().copied().fold(0.0, f64::max)),
            median_abs_error_pct: {
                e.sort_by(f64::total_cmp);
                round4(crate::metrics::quantile_sorted(&e, 0.5))
            },
        })
        .collect()
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
        s.push_str(&self.spatial_markdown());
        s.push_str("| device comparison | published | predicted | error | source |\n|---|---|---|---|---|\n");
        for r in &self.device_comparisons {
            s.push_str(&format!(
                "| {} | {:.3} | {:.3} | {:+.1}% | {} |\n",
                r.what, r.published, r.predicted, r.error_pct, r.source
            ));
        }
        s.push_str("\n| MIG slice / whole GPU | published ratios | median abs error | worst abs error |\n|---|---|---|---|\n");
        for m in &self.mig_slice_errors {
            s.push_str(&format!(
                "| {} | {} | {:.1}% | {:.1}% |\n",
                m.slice, m.comparisons, m.median_abs_error_pct, m.worst_abs_error_pct
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

impl Accuracy {
    /// The spatial-sharing table and its summary lines.
    fn spatial_markdown(&self) -> String {
        let mut s = String::from(
            "| spatial run | model | SMs | beside | p50 ms meas / sim | p50 err | p95 ms meas / sim | p95 err | req/s meas / sim | throughput err | interference meas / sim |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for r in &self.spatial {
            let e = &r.error_pct;
            let inter = match (r.interference_measured, r.interference_simulated) {
                (Some(a), Some(b)) => format!("{a:.2} / {b:.2}"),
                _ => String::new(),
            };
            s.push_str(&format!(
                "| {} | {} | {} | {} | {:.1} / {:.1} | {:+.1}% | {:.1} / {:.1} | {:+.1}% | {:.2} / {:.2} | {:+.1}% | {inter} |\n",
                r.run,
                r.model,
                r.sms,
                r.neighbour.as_deref().unwrap_or("alone"),
                r.measured.p50_ms,
                r.simulated.p50_ms,
                metric(e, "p50"),
                r.measured.p95_ms,
                r.simulated.p95_ms,
                metric(e, "p95"),
                r.measured.throughput_rps,
                r.simulated.throughput_rps,
                metric(e, "throughput"),
            ));
        }
        s.push('\n');
        for m in &self.spatial_summary {
            s.push_str(&format!(
                "- {} model-runs: {} of {} within p50 15 % / p95 20 %, {} within 10 % / 15 %, throughput within 2 % in {}; worst p50 {:+.1} % ({}), worst p95 {:+.1} % ({}).\n",
                m.runs,
                m.within_15_20,
                m.model_runs,
                m.within_10_15,
                m.throughput_within_2,
                m.worst_p50.1,
                m.worst_p50.0,
                m.worst_p95.1,
                m.worst_p95.0
            ));
        }
        s.push('\n');
        s
    }
}

/// The accuracy tables of docs/src/accuracy.md, as Markdown.
pub fn accuracy_markdown(root: &str) -> Result<String> {
    Ok(accuracy(root)?.markdown())
}
