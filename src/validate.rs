//! `gpuslice validate DIR`: replay a measured serving run through the simulator and compare.
//!
//! DIR has the layout of traces/h100/asr_H: `gpu.csv`, and per model `trace_<model>.csv`,
//! `<model>.requests.csv` and `<model>.batches.csv`. One model: it ran alone on the GPU (a
//! dedicated GPU). Several: their servers ran at once on that GPU as separate processes, i.e.
//! time-sliced by the GPU's own scheduler; they are simulated as time-sliced tenants.
//! Both sides use the same statistics: latency = finish - arrival, type-7 percentiles, and
//! throughput = requests / last finish time (as gpubench reports it).

pub mod measured;

use crate::error::{Error, Result};
use crate::gpu::Catalog;
use crate::metrics::{median_sample, round4, summarize, LatencySummary};
use crate::model::{DeviceShare, ServiceKind, Slowdown};
use crate::scenario::files::load_sources;
use crate::scenario::from_raw;
use crate::scenario::raw::{RawGpu, RawModel, RawScenario, RawVariant, RawWorkload};
use crate::scenario::*;
use crate::sim::Simulation;
use crate::time::{to_ms, to_secs};
use crate::validate::measured::Table;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One side (measured or simulated) of a comparison.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Side {
    /// Requests / last finish [req/s].
    pub throughput_rps: f64,
    /// Latency [ms].
    pub latency_ms: LatencySummary,
    /// LLM only: time to first token [ms].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<LatencySummary>,
}

/// Comparison of one model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelValidation {
    /// Requests replayed.
    pub requests: usize,
    /// From the serving logs.
    pub measured: Side,
    /// From the simulator.
    pub simulated: Side,
    /// (simulated - measured) / measured * 100.
    pub error_pct: BTreeMap<String, f64>,
    /// Mean over requests of |simulated - measured| / measured latency * 100 (the median of
    /// that over the replays).
    pub request_mape_pct: f64,
    /// When the run was repeated (a sibling folder `<run>_r2`, or `<run>` for an `_r2`): how
    /// far the repeat's measured p50 and p95 moved, |repeat - this| / this * 100, so that an
    /// error can be read against the run-to-run noise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_spread_pct: Option<BTreeMap<String, f64>>,
    /// With `call_noise`, the simulated figures are medians over [`REPLAYS`] seeds; this is the
    /// lowest and highest error of p50 and p95 over those replays [%], the simulation's own
    /// run-to-run spread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_range_pct: Option<BTreeMap<String, [f64; 2]>>,
}

/// The repeat of a measured run: `<dir>_r2`, or `<dir>` without `_r2`.
fn repeat_of(dir: &str) -> Option<String> {
    let d = dir.trim_end_matches('/');
    let other = match d.strip_suffix("_r2") {
        Some(base) => base.to_string(),
        None => format!("{d}_r2"),
    };
    Path::new(&other).join("gpu.csv").exists().then_some(other)
}

/// Measured latencies [ms] of model `n` in a run folder, in request-id order.
fn measured_latencies(dir: &Path, n: &str) -> Result<Vec<f64>> {
    let rpath = dir.join(format!("{n}.requests.csv")).display().to_string();
    let rt = Table::read(&rpath)?;
    rt.require(&["arrival_s", "finish_s"])?;
    (0..rt.len())
        .map(|k| Ok((rt.num(k, "finish_s")? - rt.num(k, "arrival_s")?) * 1e3))
        .collect()
}

/// The JSON document of `gpuslice validate`.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// The folder.
    pub dir: String,
    /// GPU (catalog key).
    pub gpu: String,
    /// Regime simulated.
    pub regime: String,
    /// Per model.
    pub models: BTreeMap<String, ModelValidation>,
}

/// Time-slicing parameters for co-located runs (`None`: the scenario defaults).
#[derive(Debug, Clone, Copy, Default)]
pub struct TsParams {
    /// Slice [ms].
    pub quantum_ms: Option<f64>,
    /// Switch cost [us].
    pub switch_us: Option<f64>,
}

/// Map an `nvidia-smi` name to a catalog key.
pub fn gpu_key(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    Some(if n.contains("h200") {
        "h200-141gb"
    } else if n.contains("h100") && n.contains("pcie") {
        "h100-pcie"
    } else if n.contains("h100") {
        "h100-80gb"
    } else if n.contains("a100") && n.contains("80") {
        "a100-80gb"
    } else if n.contains("a100") {
        "a100-40gb"
    } else if n.contains("l40s") {
        "l40s"
    } else if n.contains(" l4") || n.ends_with("l4") {
        "l4"
    } else {
        return None;
    })
}

fn side(lat: &mut [f64], ttft: Option<&mut [f64]>, n: usize, last_finish_s: f64) -> Side {
    Side {
        throughput_rps: round4(n as f64 / last_finish_s.max(1e-9)),
        latency_ms: summarize(lat).rounded(),
        ttft_ms: ttft.map(|t| summarize(t).rounded()),
    }
}

/// Replays of a run with different seeds (odd: the median is one replay's value).
pub const REPLAYS: u64 = 9;

/// One replay's view of one model: latencies and TTFTs in trace order [ms], last finish [s].
struct Replayed {
    lat: Vec<f64>,
    ttft: Vec<f64>,
    last_s: f64,
}

/// Run one replay of `scenario` and collect every model's requests.
fn replay(scenario: &Scenario, seed: u64, dir: &str) -> Result<Vec<Replayed>> {
    let mut sim = Simulation::new(scenario, 0, seed).map_err(|e| e.in_file(dir))?;
    // Per-request comparison: exact records, not the sketches of a plain run.
    sim.keep_records()?;
    while sim.step() {}
    let recs = sim.request_records()?;
    Ok((0..scenario.models.len())
        .map(|i| {
            let mine: Vec<_> = recs.iter().filter_map(|r| r.filter(|r| r.workload == i)).collect();
            Replayed {
                lat: mine.iter().map(|r| to_ms(r.finish - r.arrival)).collect(),
                ttft: mine.iter().map(|r| to_ms(r.first_token.saturating_sub(r.arrival))).collect(),
                last_s: mine.iter().map(|r| to_secs(r.finish)).fold(0.0, f64::max),
            }
        })
        .collect())
}

/// Each statistic's median over the replays.
fn median_side(sides: &[Side]) -> Side {
    let med = |f: &dyn Fn(&Side) -> f64| median_sample(&mut sides.iter().map(f).collect::<Vec<_>>()).unwrap_or(0.0);
    let summary = |f: &dyn Fn(&Side) -> Option<&LatencySummary>| -> Option<LatencySummary> {
        f(&sides[0])?;
        Some(LatencySummary {
            mean: med(&|s| f(s).map_or(0.0, |l| l.mean)),
            p50: med(&|s| f(s).map_or(0.0, |l| l.p50)),
            p95: med(&|s| f(s).map_or(0.0, |l| l.p95)),
            p99: med(&|s| f(s).map_or(0.0, |l| l.p99)),
        })
    };
    Side {
        throughput_rps: med(&|s| s.throughput_rps),
        latency_ms: summary(&|s| Some(&s.latency_ms)).unwrap_or_default(),
        ttft_ms: summary(&|s| s.ttft_ms.as_ref()),
    }
}

fn pct(sim: f64, meas: f64) -> f64 {
    round4(if meas == 0.0 { 0.0 } else { (sim - meas) / meas * 100.0 })
}

/// Replay DIR. `models` maps model names to model files/built-ins (default `h100/<name>`).
/// The replay is an ordinary scenario built through [`from_raw`]: one variant on the measured
/// GPU type, one trace workload per model, the servers dedicated (one model) or time-sliced.
pub fn validate_dir(dir: &str, overrides: &BTreeMap<String, String>, ts: TsParams) -> Result<Validation> {
    let d = Path::new(dir);
    let gpu_csv = d.join("gpu.csv");
    let gpu_file = gpu_csv.display().to_string();
    let g = Table::read(&gpu_file)?;
    g.require(&["name"])?;
    if g.is_empty() {
        return Err(Error::input(&gpu_file, "name", "no GPU row"));
    }
    let gname = g.text(0, "name").to_string();
    let gkey = gpu_key(&gname).ok_or_else(|| Error::input(&gpu_file, "name", format!("unknown GPU '{gname}'")))?;
    let mig = g.text(0, "mig.mode.current");
    if mig.eq_ignore_ascii_case("enabled") {
        return Err(Error::input(
            &gpu_file,
            "mig.mode.current",
            "'Enabled': the run was on MIG instances, which validate cannot tell apart (it replays dedicated or time-sliced runs)",
        ));
    }
    let mut names: Vec<String> = std::fs::read_dir(d)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let f = e.file_name().to_string_lossy().to_string();
            f.strip_prefix("trace_").and_then(|x| x.strip_suffix(".csv")).map(str::to_string)
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::input(dir, "", "no trace_<model>.csv file"));
    }
    let trace_path = |n: &str| d.join(format!("trace_{n}.csv")).display().to_string();
    let mut raw = RawScenario {
        name: format!("validate {dir}"),
        description: String::new(),
        duration_s: 1.0,
        warmup_s: 0.0,
        drain_s: Some(3600.0),
        models: BTreeMap::new(),
        workload: Vec::new(),
        variant: Vec::new(),
        slo: BTreeMap::new(),
        plan: None,
        sweep: None,
    };
    for n in &names {
        let from = overrides.get(n).cloned().unwrap_or_else(|| format!("h100/{n}"));
        raw.models.insert(
            n.clone(),
            RawModel {
                from,
                ..RawModel::default()
            },
        );
        raw.workload.push(RawWorkload {
            model: Some(n.clone()),
            trace: Some(trace_path(n)),
            ..RawWorkload::default()
        });
    }
    raw.variant.push(RawVariant {
        name: "measured-gpu".into(),
        gpu: gkey.into(),
        price_usd_per_hour: None,
        balancer: None,
        gpus: vec![if names.len() == 1 {
            RawGpu::dedicated(&names[0])
        } else {
            RawGpu::TimeSliced {
                models: names.clone(),
                quantum_ms: ts.quantum_ms,
                switch_us: ts.switch_us,
                count: None,
            }
        }],
        faults: vec![],
    });
    let mut src = load_sources(&raw, dir, None)?;
    src.file = format!("{dir} (replay)");
    // Load until just after the last arrival.
    let last = src
        .traces
        .values()
        .filter_map(|t| t.rows.last())
        .map(|r| r.arrival)
        .max()
        .unwrap_or(0);
    raw.duration_s = to_secs(last + 1000);
    let scenario = from_raw(&raw, &src)?;
    let mut measured: Vec<Table> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let rpath = d.join(format!("{n}.requests.csv")).display().to_string();
        let rt = Table::read(&rpath)?;
        let is_llm = scenario.models[i].kind == ServiceKind::Llm;
        let mut cols = vec!["id", "arrival_s", "finish_s"];
        if is_llm {
            cols.push("first_token_s");
        }
        rt.require(&cols)?;
        let rows = match &scenario.workloads[i].load {
            Load::Trace { trace, .. } => trace.rows.len(),
            _ => 0,
        };
        if rt.len() != rows {
            return Err(Error::input(
                rpath,
                "",
                format!("has {} requests but the trace has {rows}", rt.len()),
            ));
        }
        for k in 0..rt.len() {
            let (a, f) = (rt.num(k, "arrival_s")?, rt.num(k, "finish_s")?);
            if f < a {
                return Err(Error::input(
                    &rpath,
                    format!("line {} column 'finish_s'", k + 2),
                    format!("finishes before it arrives ({f} < {a})"),
                ));
            }
        }
        measured.push(rt);
    }
    // Each replay draws its calls' spread (`call_noise`) from its own seed; near saturation that
    // decides how queues form, so the prediction is the median over REPLAYS seeds, and their
    // range is shown beside the error.
    let noisy = scenario.models.iter().any(|m| m.call_noise > 0.0);
    let seeds: Vec<u64> = (1..=if noisy { REPLAYS } else { 1 }).collect();
    let mut replays: Vec<Vec<Replayed>> = seeds.par_iter().map(|&seed| replay(&scenario, seed, dir)).collect::<Result<_>>()?;
    let mut out = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        let rt = &measured[i];
        let is_llm = scenario.models[i].kind == ServiceKind::Llm;
        // Measured rows sorted by id = trace order.
        let mut order: Vec<usize> = (0..rt.len()).collect();
        let ids: Vec<f64> = (0..rt.len()).map(|k| rt.num(k, "id")).collect::<Result<_>>()?;
        order.sort_by(|&a, &b| ids[a].total_cmp(&ids[b]));
        let mut m_lat = Vec::new();
        let mut m_ttft = Vec::new();
        let mut m_last: f64 = 0.0;
        for &k in &order {
            let a = rt.num(k, "arrival_s")?;
            let f = rt.num(k, "finish_s")?;
            m_lat.push((f - a) * 1e3);
            m_last = m_last.max(f);
            if is_llm {
                m_ttft.push((rt.num(k, "first_token_s")? - a) * 1e3);
            }
        }
        let requests = m_lat.len();
        let mut sides = Vec::with_capacity(replays.len());
        let mut mapes = Vec::with_capacity(replays.len());
        for r in &mut replays {
            let Replayed { lat, ttft, last_s } = &mut r[i];
            if lat.len() != requests {
                return Err(Error::Infeasible(format!(
                    "{dir}: model '{n}': {} of {requests} requests finished in the simulation",
                    lat.len()
                )));
            }
            mapes.push(lat.iter().zip(&m_lat).map(|(s, m)| ((s - m) / m).abs()).sum::<f64>() / requests as f64 * 100.0);
            // Each replay's model is read once: sorting in place is safe.
            sides.push(side(lat, is_llm.then_some(&mut ttft[..]), requests, *last_s));
        }
        let mape = median_sample(&mut mapes).unwrap_or(0.0);
        let measured = side(&mut m_lat, is_llm.then_some(&mut m_ttft[..]), requests, m_last);
        let simulated = median_side(&sides);
        let mut err = BTreeMap::new();
        err.insert("throughput".to_string(), pct(simulated.throughput_rps, measured.throughput_rps));
        for (k, s, m) in [
            ("mean", simulated.latency_ms.mean, measured.latency_ms.mean),
            ("p50", simulated.latency_ms.p50, measured.latency_ms.p50),
            ("p95", simulated.latency_ms.p95, measured.latency_ms.p95),
            ("p99", simulated.latency_ms.p99, measured.latency_ms.p99),
        ] {
            err.insert(k.to_string(), pct(s, m));
        }
        if let (Some(s), Some(m)) = (simulated.ttft_ms, measured.ttft_ms) {
            err.insert("ttft_p50".to_string(), pct(s.p50, m.p50));
            err.insert("ttft_p95".to_string(), pct(s.p95, m.p95));
        }
        let range = |f: fn(&LatencySummary) -> f64, m: f64| {
            let e: Vec<f64> = sides.iter().map(|x| pct(f(&x.latency_ms), m)).collect();
            [
                e.iter().copied().fold(f64::INFINITY, f64::min),
                e.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ]
        };
        let replay_range_pct = (sides.len() > 1).then(|| {
            BTreeMap::from([
                ("p50".to_string(), range(|l| l.p50, measured.latency_ms.p50)),
                ("p95".to_string(), range(|l| l.p95, measured.latency_ms.p95)),
            ])
        });
        let repeat_spread_pct = match repeat_of(dir) {
            Some(r) => {
                let mut other = measured_latencies(Path::new(&r), n)?;
                let o = summarize(&mut other);
                let spread = |a: f64, b: f64| round4(((b - a) / a).abs() * 100.0);
                Some(BTreeMap::from([
                    ("p50".to_string(), spread(measured.latency_ms.p50, o.p50)),
                    ("p95".to_string(), spread(measured.latency_ms.p95, o.p95)),
                ]))
            }
            None => None,
        };
        out.insert(
            n.clone(),
            ModelValidation {
                requests,
                measured,
                simulated,
                error_pct: err,
                request_mape_pct: round4(mape),
                repeat_spread_pct,
                replay_range_pct,
            },
        );
    }
    let regime_label = match &scenario.variants[0].gpus[0].regime {
        Regime::TimeSliced(ts) => {
            format!(
                "time-sliced (quantum {} ms, switch {} us)",
                to_ms(ts.quantum),
                to_ms(ts.switch_cost) * 1e3
            )
        }
        r => r.label().to_string(),
    };
    Ok(Validation {
        dir: dir.to_string(),
        gpu: gkey.to_string(),
        regime: regime_label,
        models: out,
    })
}

/// Table text of a validation.
pub fn table(v: &Validation) -> String {
    let mut s = format!("{}  ({}, {})\n", v.dir, v.gpu, v.regime);
    s.push_str("model  requests  metric        measured  simulated   error\n");
    for (n, m) in &v.models {
        let mut rows = vec![
            (
                "throughput/s",
                m.measured.throughput_rps,
                m.simulated.throughput_rps,
                m.error_pct["throughput"],
            ),
            (
                "mean ms",
                m.measured.latency_ms.mean,
                m.simulated.latency_ms.mean,
                m.error_pct["mean"],
            ),
            ("p50 ms", m.measured.latency_ms.p50, m.simulated.latency_ms.p50, m.error_pct["p50"]),
            ("p95 ms", m.measured.latency_ms.p95, m.simulated.latency_ms.p95, m.error_pct["p95"]),
            ("p99 ms", m.measured.latency_ms.p99, m.simulated.latency_ms.p99, m.error_pct["p99"]),
        ];
        if let (Some(a), Some(b)) = (m.measured.ttft_ms, m.simulated.ttft_ms) {
            rows.push(("ttft p50 ms", a.p50, b.p50, m.error_pct["ttft_p50"]));
            rows.push(("ttft p95 ms", a.p95, b.p95, m.error_pct["ttft_p95"]));
        }
        for (k, (label, a, b, e)) in rows.into_iter().enumerate() {
            let (nm, rq) = if k == 0 {
                (n.as_str(), m.requests.to_string())
            } else {
                ("", String::new())
            };
            s.push_str(&format!("{nm:<6} {rq:>8}  {label:<12} {a:>9.2}  {b:>9.2}  {e:>+6.1}%\n"));
        }
        s.push_str(&format!(
            "{:<6} {:>8}  {:<12} {:>31.1}%\n",
            "", "", "request MAPE", m.request_mape_pct
        ));
        if let Some(r) = &m.replay_range_pct {
            s.push_str(&format!(
                "{:<6} {:>8}  {:<12} {:>16}p50 {:+.1}..{:+.1}%, p95 {:+.1}..{:+.1}%\n",
                "", "", "replay range", "", r["p50"][0], r["p50"][1], r["p95"][0], r["p95"][1]
            ));
        }
        if let Some(r) = &m.repeat_spread_pct {
            s.push_str(&format!(
                "{:<6} {:>8}  {:<12} {:>24}p50 {:.1}%, p95 {:.1}%\n",
                "", "", "repeat spread", "", r["p50"], r["p95"]
            ));
        }
    }
    if v.models.values().any(|m| m.replay_range_pct.is_some()) {
        s.push_str(&format!(
            "(simulated: the median of {REPLAYS} replays, each drawing the calls' spread from its own seed; replay range: their lowest and highest error)\n"
        ));
    }
    s
}

/// One predicted-vs-published throughput ratio between two devices.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedRatio {
    /// What is compared.
    pub what: String,
    /// Published ratio (device / baseline throughput).
    pub published: f64,
    /// Predicted by the scaling model for the cell named in `what`.
    pub predicted: f64,
    /// (predicted - published) / published * 100.
    pub error_pct: f64,
    /// Source of the published figure.
    pub source: String,
}

/// The throughput ratio `share / baseline` the scaling model predicts for one cell of a built-in
/// model (the inverse of the latency ratio).
fn predicted_ratio(model: &str, op: &str, batch: u32, size: f64, share: &DeviceShare, baseline: &DeviceShare) -> Result<f64> {
    let m = crate::model::builtin(model).ok_or_else(|| Error::Infeasible(format!("built-in model {model} missing")))??;
    let reference = Catalog::builtin()
        .gpu(&m.reference_gpu)
        .ok_or_else(|| Error::Infeasible("reference GPU missing".into()))?;
    let t = m.op(op);
    let at = |d: &DeviceShare| t.latency_ms(batch, size, &Slowdown::of(&m.scaling, reference, d)).0;
    Ok(at(baseline) / at(share))
}

const MLPERF_V11: &str =
    "MLPerf Inference v1.1, NVIDIA DGX-A100 x1 vs MIG_1x1g.10gb (github.com/mlcommons/inference_results_v1.1, closed/NVIDIA/results; docs/sources.md S7.1)";
const MLPERF_V30: &str = "MLPerf Inference v3.0, NVIDIA DGX-A100 vs DGX-H100, TensorRT 8.6 (github.com/mlcommons/inference_results_v3.0, closed/NVIDIA/results; docs/mlperf-a100-h100.md)";
const TRTLLM: &str = "TensorRT-LLM v0.14.0 perf-overview, Llama-3.1-8B FP16 TP1 (github.com/NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md; docs/mlperf-a100-h100.md)";
const CONVO: &str =
    "Parakeet CTC 1.1B NIM on H100, github.com/anudeepbablu/convo_ai_benchmarks BENCHMARK_FINDINGS.md (docs/sources.md S7.2)";

/// Published same-software ratios between devices (MIG slices vs whole GPUs, A100 vs H100),
/// each against the scaling model's prediction for the most similar calibrated call: the ASR
/// shape for speech (RNN-T, Parakeet), the 2048-token prefill for compute-bound networks and
/// prefill-heavy LLM serving, the batch-32 decode step for decode-heavy LLM serving. The A100's
/// compute efficiency (models/gpus.toml) was chosen on the compute-bound MLPerf v3.0 rows, so
/// those rows check the rule's consistency rather than test it; the others are independent.
pub fn published_comparisons() -> Result<Vec<PublishedRatio>> {
    let cat = Catalog::builtin();
    let get = |n: &str| {
        cat.gpu(n)
            .cloned()
            .ok_or_else(|| Error::Infeasible(format!("{n} missing from catalog")))
    };
    let (h100, a100) = (get("h100-80gb")?, get("a100-80gb")?);
    let slice = |gpu: &crate::gpu::GpuSpec, profile: &str| -> Result<DeviceShare> {
        let p = gpu
            .mig_profile(profile)
            .ok_or_else(|| Error::Infeasible(format!("{profile} missing")))?;
        Ok(DeviceShare::of(gpu, p.sms as f64 / gpu.sm_count as f64, p.mem_slices as f64 / 8.0))
    };
    let (a_full, h_full) = (DeviceShare::whole(&a100), DeviceShare::whole(&h100));
    let a_1g = slice(&a100, "1g.10gb")?;
    let h_3g = slice(&h100, "3g.40gb")?;
    let asr_sat = |d: &DeviceShare, base: &DeviceShare| predicted_ratio("h100/asr", "encode", 32, 30.0, d, base);
    let prefill = |d: &DeviceShare, base: &DeviceShare| predicted_ratio("h100/llm", "prefill", 1, 2048.0, d, base);
    let decode = |d: &DeviceShare, base: &DeviceShare| predicted_ratio("h100/llm", "decode", 32, 2049.0, d, base);
    let mut rows = Vec::new();
    let mut push = |what: String, published: f64, predicted: f64, source: &str| {
        rows.push(PublishedRatio {
            what,
            published,
            predicted: round4(predicted),
            error_pct: round4((predicted - published) / published * 100.0),
            source: source.into(),
        })
    };
    push(
        "A100-80GB 1g.10gb / whole, offline, MLPerf RNN-T vs ASR encode 32 x 30 s".into(),
        0.114,
        asr_sat(&a_1g, &a_full)?,
        MLPERF_V11,
    );
    for (bench, published) in [
        ("BERT-99", 0.139),
        ("ResNet-50", 0.133),
        ("SSD-ResNet34", 0.135),
        ("3D-UNet-99", 0.123),
    ] {
        push(
            format!("A100-80GB 1g.10gb / whole, offline, MLPerf {bench} vs LLM prefill 2048"),
            published,
            prefill(&a_1g, &a_full)?,
            MLPERF_V11,
        );
    }
    push(
        "H100 3g.40gb / whole, Parakeet latency at concurrency 1 (67/75 ms) vs ASR encode 1 x 10 s".into(),
        67.0 / 75.0,
        predicted_ratio("h100/asr", "encode", 1, 10.0, &h_3g, &h_full)?,
        CONVO,
    );
    push(
        "H100 3g.40gb / whole, Parakeet throughput at concurrency 16 (45.9/44.4 r/s) vs ASR encode 16 x 10 s".into(),
        45.9 / 44.4,
        predicted_ratio("h100/asr", "encode", 16, 10.0, &h_3g, &h_full)?,
        CONVO,
    );
    push(
        "A100 / H100 (SXM), offline, MLPerf RNN-T vs ASR encode 32 x 30 s".into(),
        0.610,
        asr_sat(&a_full, &h_full)?,
        MLPERF_V30,
    );
    for (bench, published) in [
        ("BERT-99", 0.383),
        ("ResNet-50", 0.462),
        ("RetinaNet", 0.493),
        ("3D-UNet-99", 0.560),
        ("DLRM-99", 0.410),
    ] {
        push(
            format!("A100 / H100 (SXM), offline, MLPerf {bench} vs LLM prefill 2048"),
            published,
            prefill(&a_full, &h_full)?,
            MLPERF_V30,
        );
    }
    push(
        "A100 / H100, Llama-3.1-8B 2048 in / 128 out vs LLM prefill 2048".into(),
        0.418,
        prefill(&a_full, &h_full)?,
        TRTLLM,
    );
    for (io, published) in [("1000 in / 1000 out", 0.515), ("128 in / 2048 out", 0.542)] {
        push(
            format!("A100 / H100, Llama-3.1-8B {io} vs LLM decode 32 x 2048"),
            published,
            decode(&a_full, &h_full)?,
            TRTLLM,
        );
    }
    Ok(rows)
}

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
    /// Lowest and highest p50 / p95 error over the replays [%] (see [`ModelValidation`]).
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
        s
    }
}

/// The accuracy tables of docs/src/accuracy.md, as Markdown.
pub fn accuracy_markdown(root: &str) -> Result<String> {
    Ok(accuracy(root)?.markdown())
}

/// A GenAI-Perf run as a scenario: its concurrency as closed-loop users with no think time and
/// its fixed prompt and reply lengths, for 120 s (20 s warm-up) on one dedicated H100, against the
/// model `from` with the extra `[models.llm]` lines `model_lines`.
pub fn load_run_scenario(from: &str, model_lines: &str, run: &crate::model::calibrate::LoadRun) -> String {
    format!(
        r#"name = "genai-perf-replay"
duration_s = 120
warmup_s = 20
[models.llm]
from = "{from}"
{model_lines}
[[workload]]
model = "llm"
users = {c}
think_s = 0
ramp_up_s = 5
size = {{ dist = "fixed", value = {isl} }}
out_tokens = {{ dist = "fixed", value = {osl} }}
[[variant]]
name = "h100"
gpu = "h100-80gb"
gpus = [{{ regime = "dedicated", models = ["llm"] }}]
"#,
        c = run.concurrency,
        isl = run.input_tokens,
        osl = run.output_tokens
    )
}

/// One figure of the LLM engine check against a published GenAI-Perf sweep.
#[derive(Debug, Clone, Serialize)]
pub struct EngineCheck {
    /// The server's scheduling policy.
    pub policy: &'static str,
    /// Concurrent clients.
    pub concurrency: f64,
    /// True for the concurrencies the model was fitted on.
    pub fitted: bool,
    /// `ttft_p50_ms`, `itl_ms` or `throughput_rps`.
    pub metric: &'static str,
    /// Published value.
    pub published: f64,
    /// Simulated value.
    pub simulated: f64,
    /// (simulated - published) / published [%].
    pub error_pct: f64,
}

/// The LLM engines against NVIDIA's published NIM sweep of Llama-3.1-8B on an H100
/// (traces/genai-perf: concurrency 1, 5, 25, 50, 200/200 tokens): the prefill and decode
/// tables are fitted on concurrency 1 and 5 only, as `gpuslice calibrate --genai-perf` does; the
/// server then runs the `prefill-first` or the `chunked` policy (mixed steps costed as decode +
/// the prefill's extra time) and predicts 25 and 50, where batches are 5-10x larger and
/// prefills share steps with decodes.
pub fn engine_check(fixture_dir: &str) -> Result<Vec<EngineCheck>> {
    let file = |c: u32| {
        let d = format!("{fixture_dir}/llama-3.1-8b-h100-openai-chat-concurrency{c}");
        let json = format!("{d}/profile_export_genai_perf.json");
        if Path::new(&json).exists() {
            json
        } else {
            format!("{d}/profile_export_genai_perf.csv")
        }
    };
    let all: Vec<String> = [1, 5, 25, 50].map(file).to_vec();
    // The NIM's engine batches up to 256 sequences (`trtllm-build --max_batch_size`, default 256:
    // TensorRT-LLM docs, "trtllm-build" command reference), far above the fitted concurrencies.
    let mut spec = crate::validate::measured::calibrate_load_runs(&all[..2], "h100-80gb", Some(70.0), Some(256), 8192)?;
    spec.name = "nim-fit".into();
    let mut src = crate::scenario::files::Sources::none("traces/genai-perf");
    src.models.insert("nim-fit".into(), spec);
    let runs: Vec<_> = all
        .iter()
        .map(|f| crate::validate::measured::read_load_run(f))
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for policy in ["prefill-first", "chunked"] {
        for (i, run) in runs.iter().enumerate() {
            let model = format!("scheduler = \"{policy}\"\nmax_batch = 256");
            let raw = crate::scenario::raw::parse(&load_run_scenario("nim-fit", &model, run), "genai-perf replay (embedded)")?;
            let sc = from_raw(&raw, &src)?;
            let s = Simulation::new(&sc, 0, 1)?.run_to_end();
            let m = &s.models["llm"];
            let ttft = m.ttft_ms.unwrap_or_default();
            let itl = (m.latency_ms.mean - ttft.mean) / (run.output_tokens - 1.0).max(1.0);
            for (metric, published, simulated) in [
                ("ttft_p50_ms", run.ttft_p50_ms, ttft.p50),
                ("itl_ms", run.itl_avg_ms, itl),
                ("throughput_rps", run.throughput_rps, m.throughput_rps),
            ] {
                out.push(EngineCheck {
                    policy,
                    concurrency: run.concurrency,
                    fitted: i < 2,
                    metric,
                    published,
                    simulated: round4(simulated),
                    error_pct: round4((simulated - published) / published * 100.0),
                });
            }
        }
    }
    Ok(out)
}
