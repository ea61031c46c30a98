//! `gpuslice validate DIR`: replay a measured serving run through the simulator and compare.
//!
//! DIR has the layout of traces/h100/asr_H: `gpu.csv`, and per model `trace_<model>.csv`,
//! `<model>.requests.csv` and `<model>.batches.csv`. One model: it ran alone on the GPU (a
//! dedicated GPU). Several: their servers ran at once on that GPU as separate processes, i.e.
//! time-sliced by the GPU's own scheduler; they are simulated as time-sliced tenants. With a
//! `partitions.csv` (`model,sms`), the servers ran on disjoint SM partitions of the GPU (green
//! contexts, traces/h100/spatial): spatial sharing, replayed as MPS clients with `thread_pct` =
//! their SM share; one model on fewer SMs than the GPU has is one MPS client.
//! Both sides use the same statistics: latency = finish - arrival, type-7 percentiles, and
//! throughput = requests / last finish time (as gpubench reports it).
//!
//! Map: this file replays one folder ([`validate_dir`]) and prints the comparison ([`table`]);
//! beside it:
//! * [`measured`]: readers of the measured files (serving logs, profiles, GenAI-Perf exports).
//! * [`accuracy`]: `gpuslice accuracy`, every measured run of traces/ replayed and summarised.
//! * [`published`]: the checks against published figures (MLPerf, TensorRT-LLM and Parakeet
//!   device ratios; NVIDIA's GenAI-Perf sweep for the LLM engines).

pub mod accuracy;
pub mod curves;
pub mod measured;
pub mod published;

use crate::error::{Error, Result};
use crate::metrics::{median_sample, round4, summarize, LatencySummary};
use crate::model::ServiceKind;
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
    /// The distributions behind these numbers, for `gpuslice report validate` (not in the JSON).
    #[serde(skip)]
    pub curves: curves::ModelCurves,
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
    /// SMs of each model's partition (`partitions.csv`; empty without one).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub partition_sms: BTreeMap<String, f64>,
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
/// Steps: the folder's GPU and traces, the replay scenario, the measured requests, the replays
/// over the seeds, then one comparison per model.
pub fn validate_dir(dir: &str, overrides: &BTreeMap<String, String>, ts: TsParams) -> Result<Validation> {
    let d = Path::new(dir);
    let gkey = measured_gpu(d)?;
    let names = trace_names(d, dir)?;
    let (partition_sms, partition) = read_partitions(d, &names, gkey)?;
    let scenario = replay_scenario(dir, replay_raw(dir, &names, gkey, overrides, ts, partition.as_deref()))?;
    let measured = read_measured(d, &names, &scenario)?;
    let mut replays = replay_seeds(&scenario, dir)?;
    let mut out = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        let is_llm = scenario.models[i].kind == ServiceKind::Llm;
        out.insert(n.clone(), compare_model(dir, n, i, &measured[i], is_llm, &mut replays)?);
    }
    Ok(Validation {
        dir: dir.to_string(),
        gpu: gkey.to_string(),
        regime: regime_label(&scenario),
        models: out,
        partition_sms,
    })
}

/// The catalog key of the GPU in the folder's gpu.csv; refuses a run on MIG instances.
fn measured_gpu(d: &Path) -> Result<&'static str> {
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
            "'Enabled': the run was on MIG instances, which validate cannot tell apart (it replays dedicated, time-sliced and SM-partitioned runs)",
        ));
    }
    Ok(gkey)
}

/// The models of the folder: one per `trace_<model>.csv`, by name.
fn trace_names(d: &Path, dir: &str) -> Result<Vec<String>> {
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
    Ok(names)
}

/// The SM partition of a spatially shared run, from its `partitions.csv` (`model,sms`): each
/// model's SMs (empty without the file), and its `thread_pct` (its SMs / the measured GPU's SMs
/// * 100) in `names` order, `None` without the file or for one model on the whole GPU (a
/// dedicated run).
fn read_partitions(d: &Path, names: &[String], gkey: &str) -> Result<(BTreeMap<String, f64>, Option<Vec<f64>>)> {
    let path = d.join("partitions.csv");
    if !path.exists() {
        return Ok((BTreeMap::new(), None));
    }
    let file = path.display().to_string();
    let t = Table::read(&file)?;
    t.require(&["model", "sms"])?;
    let sm_count = crate::gpu::Catalog::builtin()
        .gpu(gkey)
        .map(|g| g.sm_count)
        .ok_or_else(|| Error::Infeasible(format!("GPU {gkey} missing from the catalog")))?;
    let mut sms: Vec<Option<f64>> = vec![None; names.len()];
    for k in 0..t.len() {
        let at = |col: &str| format!("line {} column '{col}'", k + 2);
        let m = t.text(k, "model");
        let i = names.iter().position(|n| n == m).ok_or_else(|| {
            Error::input(
                &file,
                at("model"),
                format!(
                    "'{m}' is not a model of the run (its trace_<model>.csv files: {})",
                    names.join(", ")
                ),
            )
        })?;
        if sms[i].is_some() {
            return Err(Error::input(&file, at("model"), format!("'{m}' is listed twice")));
        }
        let v = t.num(k, "sms")?;
        if !(v > 0.0 && v <= sm_count as f64) {
            return Err(Error::input(
                &file,
                at("sms"),
                format!(
                    "must be more than 0 and at most the {sm_count} SMs of {gkey}, got '{}'",
                    t.text(k, "sms")
                ),
            ));
        }
        sms[i] = Some(v);
    }
    let sms: Vec<f64> = names
        .iter()
        .zip(&sms)
        .map(|(n, s)| s.ok_or_else(|| Error::input(&file, "model", format!("no row for model '{n}' (each trace_<model>.csv needs one)"))))
        .collect::<Result<_>>()?;
    let total: f64 = sms.iter().sum();
    if total > sm_count as f64 {
        return Err(Error::input(
            &file,
            "sms",
            format!("the partitions take {total} SMs, more than the {sm_count} of {gkey} (they are disjoint)"),
        ));
    }
    let by_model = names.iter().cloned().zip(sms.iter().copied()).collect();
    if names.len() == 1 && sms[0] == sm_count as f64 {
        return Ok((by_model, None));
    }
    Ok((by_model, Some(sms.iter().map(|s| s / sm_count as f64 * 100.0).collect())))
}

/// The replay as a raw scenario: one model and trace workload per name and one variant on the
/// measured GPU, dedicated (one model), time-sliced (several) or, with an SM partition
/// (`thread_pct` per model, [`read_partitions`]), MPS clients; its duration is set once the
/// traces are read ([`replay_scenario`]).
fn replay_raw(
    dir: &str,
    names: &[String],
    gkey: &str,
    overrides: &BTreeMap<String, String>,
    ts: TsParams,
    partition: Option<&[f64]>,
) -> RawScenario {
    let d = Path::new(dir);
    let trace_path = |n: &str| d.join(format!("trace_{n}.csv")).display().to_string();
    let mut raw = RawScenario {
        name: format!("validate {dir}"),
        description: String::new(),
        duration_s: 1.0,
        window_s: None,
        warmup_s: 0.0,
        drain_s: Some(3600.0),
        models: BTreeMap::new(),
        workload: Vec::new(),
        variant: Vec::new(),
        slo: BTreeMap::new(),
        autoscale: BTreeMap::new(),
        plan: None,
        sweep: None,
    };
    for n in names {
        let from = overrides.get(n).cloned().unwrap_or_else(|| format!("h100/{n}"));
        raw.models.insert(
            n.clone(),
            RawModel {
                from: Some(from),
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
        gpus: vec![if let Some(pct) = partition {
            // The memory split is MPS's default (an equal share per client): the servers of a
            // spatial run shared one process's memory without limits.
            RawGpu::Mps {
                models: names.to_vec(),
                thread_pct: Some(pct.to_vec()),
                mem_limit_gib: None,
                count: None,
            }
        } else if names.len() == 1 {
            RawGpu::dedicated(&names[0])
        } else {
            RawGpu::TimeSliced {
                models: names.to_vec(),
                quantum_ms: ts.quantum_ms,
                switch_us: ts.switch_us,
                count: None,
            }
        }],
        faults: vec![],
    });
    raw
}

/// Read the replay's traces and check it as any scenario, loaded until just after the last
/// arrival.
fn replay_scenario(dir: &str, mut raw: RawScenario) -> Result<Scenario> {
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
    from_raw(&raw, &src)
}

/// Each model's measured requests (`<model>.requests.csv`), checked against its trace: as many
/// rows, none finishing before it arrives.
fn read_measured(d: &Path, names: &[String], scenario: &Scenario) -> Result<Vec<Table>> {
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
    Ok(measured)
}

/// The replays of the scenario, one per seed, in parallel.
fn replay_seeds(scenario: &Scenario, dir: &str) -> Result<Vec<Vec<Replayed>>> {
    // Each replay draws its calls' spread (`call_noise`) from its own seed; near saturation that
    // decides how queues form, so the prediction is the median over REPLAYS seeds, and their
    // range is shown beside the error.
    let noisy = scenario.models.iter().any(|m| m.call_noise > 0.0);
    let seeds: Vec<u64> = (1..=if noisy { REPLAYS } else { 1 }).collect();
    seeds.par_iter().map(|&seed| replay(scenario, seed, dir)).collect()
}

/// Model `i` (`n`) measured (`rt`) against its replays: the median replay, the errors, the
/// per-request MAPE, the replays' range and the repeat's spread.
fn compare_model(dir: &str, n: &str, i: usize, rt: &Table, is_llm: bool, replays: &mut [Vec<Replayed>]) -> Result<ModelValidation> {
    let (mut m_lat, mut m_ttft, m_last) = measured_rows(rt, is_llm)?;
    let requests = m_lat.len();
    let mut sides = Vec::with_capacity(replays.len());
    let mut mapes = Vec::with_capacity(replays.len());
    for r in replays.iter_mut() {
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
    // `side` sorted every sample in place: the CDFs read them as they are.
    let curves = curves::ModelCurves {
        latency: curves::pair(&m_lat, &replays.iter().map(|r| &r[i].lat[..]).collect::<Vec<_>>()),
        ttft: is_llm.then(|| curves::pair(&m_ttft, &replays.iter().map(|r| &r[i].ttft[..]).collect::<Vec<_>>())),
    };
    let simulated = median_side(&sides);
    let error_pct = error_map(&simulated, &measured);
    let replay_range_pct = replay_range(&sides, &measured);
    let repeat_spread_pct = repeat_spread(dir, n, &measured)?;
    Ok(ModelValidation {
        requests,
        measured,
        simulated,
        error_pct,
        request_mape_pct: round4(mape),
        repeat_spread_pct,
        replay_range_pct,
        curves,
    })
}

/// Measured latencies and TTFTs [ms] in trace order (rows sorted by id), and the last finish [s].
fn measured_rows(rt: &Table, is_llm: bool) -> Result<(Vec<f64>, Vec<f64>, f64)> {
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
    Ok((m_lat, m_ttft, m_last))
}

/// (simulated - measured) / measured [%] of throughput, the latency statistics and the TTFTs.
fn error_map(simulated: &Side, measured: &Side) -> BTreeMap<String, f64> {
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
    err
}

/// Lowest and highest p50 and p95 error over the replays (`None` for one replay).
fn replay_range(sides: &[Side], measured: &Side) -> Option<BTreeMap<String, [f64; 2]>> {
    let range = |f: fn(&LatencySummary) -> f64, m: f64| {
        let e: Vec<f64> = sides.iter().map(|x| pct(f(&x.latency_ms), m)).collect();
        [
            e.iter().copied().fold(f64::INFINITY, f64::min),
            e.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ]
    };
    (sides.len() > 1).then(|| {
        BTreeMap::from([
            ("p50".to_string(), range(|l| l.p50, measured.latency_ms.p50)),
            ("p95".to_string(), range(|l| l.p95, measured.latency_ms.p95)),
        ])
    })
}

/// How far the repeat of the run (if any) moved the measured p50 and p95 [%].
fn repeat_spread(dir: &str, n: &str, measured: &Side) -> Result<Option<BTreeMap<String, f64>>> {
    Ok(match repeat_of(dir) {
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
    })
}

/// The regime as `validate` prints it (a time slice with its quantum and switch cost, MPS with
/// each client's `thread_pct`).
fn regime_label(scenario: &Scenario) -> String {
    match &scenario.variants[0].gpus[0].regime {
        Regime::Mps { thread_pct, .. } => {
            let pct: Vec<String> = thread_pct.iter().map(|p| format!("{p:.1}")).collect();
            format!("mps (thread_pct {})", pct.join("/"))
        }
        Regime::TimeSliced(ts) => {
            format!(
                "time-sliced (quantum {} ms, switch {} us)",
                to_ms(ts.quantum),
                to_ms(ts.switch_cost) * 1e3
            )
        }
        r => r.label().to_string(),
    }
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
