//! Command-line interface (clap) and the subcommands' I/O. The logic lives in the library; this
//! module reads inputs, calls it and prints.

use crate::calibrate::{fit_op, gpubench_base, Point};
use crate::catalog::{place_layout, Catalog};
use crate::config;
use crate::error::{Error, Result};
use crate::input::Table;
use crate::report;
use crate::service::{ModelSpec, ServiceKind};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;

/// gpuslice: simulate and plan GPU partitioning (dedicated, time-sliced, MIG, MPS) for ASR, TTS and LLM serving.
#[derive(Debug, Parser)]
#[command(name = "gpuslice", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum Format {
    /// Human-readable table.
    Table,
    /// One JSON document.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate every variant of a scenario and compare them.
    Run {
        /// Scenario TOML file (default: the embedded A100 voice consolidation study).
        scenario: Option<String>,
        /// Seed of every random stream.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// List GPUs and MIG profiles, or check a MIG layout.
    Catalog {
        /// GPU type to show.
        #[arg(long)]
        gpu: Option<String>,
        /// MIG layout to check on --gpu, e.g. 4g.40gb,2g.20gb,1g.10gb.
        #[arg(long)]
        mig: Option<String>,
    },
    /// Fit a service-time model from a batch-latency profile and serving logs.
    Calibrate {
        /// Model kind (asr, tts or llm): selects the gpubench server description.
        #[arg(long)]
        kind: String,
        /// `profile_<model>.csv` batch-latency table.
        #[arg(long)]
        profile: Option<String>,
        /// `<model>.batches.csv` of serving runs (repeatable); their folders' requests.csv give host overheads.
        #[arg(long)]
        batches: Vec<String>,
        /// GenAI-Perf / AIPerf exports (`profile_export_genai_perf.json` or `.csv`), one per concurrency (LLM only).
        #[arg(long = "genai-perf")]
        genai_perf: Vec<String>,
        /// With --genai-perf: the GPU the server ran on (catalog key).
        #[arg(long, default_value = "h100-80gb")]
        gpu: String,
        /// With --genai-perf: the server's device memory [GiB] (weights + KV cache + runtime).
        #[arg(long)]
        memory_gib: Option<f64>,
        /// With --genai-perf: concurrent sequences the server batches (default: the largest concurrency measured).
        #[arg(long)]
        kv_slots: Option<u32>,
        /// With --genai-perf: longest prompt + output per sequence [tokens].
        #[arg(long, default_value_t = 8192)]
        max_context_tokens: u32,
        /// Output model JSON.
        #[arg(long)]
        out: String,
    },
    /// Replay a measured serving run (folder like traces/h100/asr_H) and compare with the simulation.
    Validate {
        /// Folders to replay.
        #[arg(required = true)]
        dirs: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Model file or built-in for a model name, as NAME=FROM (default h100/NAME).
        #[arg(long = "model")]
        models: Vec<String>,
        /// Time slice for co-located runs [ms] (default: the fitted default of scenarios).
        #[arg(long)]
        quantum_ms: Option<f64>,
        /// Context-switch cost for co-located runs [us] (default: the fitted default).
        #[arg(long)]
        switch_us: Option<f64>,
    },
    /// Print the README's accuracy tables: every measured run replayed, and the MIG ratios vs published data.
    Accuracy {
        /// Folder holding the measured runs.
        #[arg(long, default_value = "traces/h100")]
        root: String,
    },
    /// Explore a scenario interactively: live simulation, variant comparison, what-if edits.
    Tui {
        /// Scenario TOML file (default: the embedded A100 voice consolidation study).
        scenario: Option<String>,
        /// Seed of every random stream.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Time the engine (events per second) and the default scenario.
    Bench {
        /// Repetitions.
        #[arg(long, default_value_t = 3)]
        reps: u32,
    },
}

/// Run the CLI; errors are returned to `main`, which prints them on one line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run { scenario, seed, format } => {
            let sc = config::files::load_scenario(scenario.as_deref())?;
            let runs = crate::sim::run_scenario(&sc, seed)?;
            let text = match format {
                Format::Json => report::to_json(&report::RunReport {
                    scenario: &sc.name,
                    seed,
                    variants: &runs,
                }),
                Format::Table => report::table(&sc.name, seed, &runs),
            };
            print_out(&text)
        }
        Command::Catalog { gpu, mig } => print_out(&catalog_text(gpu.as_deref(), mig.as_deref())?),
        Command::Calibrate {
            kind,
            profile,
            batches,
            genai_perf,
            gpu,
            memory_gib,
            kv_slots,
            max_context_tokens,
            out,
        } => {
            let spec = if genai_perf.is_empty() {
                calibrate_files(&kind, profile.as_deref(), &batches)?
            } else {
                if kind_of(&kind)? != ServiceKind::Llm || profile.is_some() || !batches.is_empty() {
                    return Err(Error::input(
                        "--genai-perf",
                        "",
                        "applies to --kind llm alone (without --profile/--batches)",
                    ));
                }
                calibrate_load_runs(&genai_perf, &gpu, memory_gib, kv_slots, max_context_tokens)?
            };
            config::files::write_atomic(&out, &report::to_json(&spec))?;
            let mut msg = format!("wrote {out}\n");
            for (op, t) in &spec.ops {
                msg.push_str(&format!("  {op}: {}x{} table", t.batch.len(), t.size.len()));
                let d = &spec.calibration["ops"][op];
                if let (Some(n), Some(mean), Some(max)) = (
                    d["points"].as_u64(),
                    d["loo_mean_abs_rel_err"].as_f64(),
                    d["loo_max_abs_rel_err"].as_f64(),
                ) {
                    msg.push_str(&format!(
                        " from {n} points, leave-one-out mean |err| {:.1}%, max {:.1}%",
                        mean * 100.0,
                        max * 100.0
                    ));
                }
                msg.push('\n');
            }
            print_out(&msg)
        }
        Command::Validate {
            dirs,
            format,
            models,
            quantum_ms,
            switch_us,
        } => {
            let mut map = std::collections::BTreeMap::new();
            for m in &models {
                let (k, v) = m
                    .split_once('=')
                    .ok_or_else(|| Error::input("--model", "", format!("expected NAME=FROM, got '{m}'")))?;
                map.insert(k.to_string(), v.to_string());
            }
            let ts = crate::validate::TsParams { quantum_ms, switch_us };
            let vals: Vec<_> = dirs
                .iter()
                .map(|d| crate::validate::validate_dir(d, &map, ts))
                .collect::<Result<_>>()?;
            let text = match format {
                Format::Json if vals.len() == 1 => report::to_json(&vals[0]),
                Format::Json => report::to_json(&vals),
                Format::Table => vals.iter().map(crate::validate::table).collect::<Vec<_>>().join("\n"),
            };
            print_out(&text)
        }
        Command::Accuracy { root } => print_out(&crate::validate::accuracy_markdown(&root)?),
        Command::Bench { reps } => print_out(&crate::bench::bench_text(reps)?),
        Command::Tui { scenario, seed } => crate::tui::run(scenario, seed),
    }
}

fn print_out(s: &str) -> Result<()> {
    let mut o = std::io::stdout().lock();
    match o.write_all(s.as_bytes()).and_then(|_| o.flush()) {
        // A closed pipe (`| head`) is not an error worth reporting.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|e| Error::Io {
            path: "<stdout>".into(),
            message: e.to_string(),
        }),
    }
}

/// Text of `gpuslice catalog`.
pub fn catalog_text(gpu: Option<&str>, mig: Option<&str>) -> Result<String> {
    let cat = Catalog::builtin();
    let mut out = String::new();
    let find = |n: &str| {
        cat.gpu(n)
            .ok_or_else(|| Error::input("--gpu", "", format!("unknown GPU '{n}' (known: {})", cat.names())))
    };
    match (gpu, mig) {
        (None, Some(_)) => return Err(Error::input("--mig", "", "needs --gpu")),
        (Some(g), Some(layout)) => {
            let g = find(g)?;
            match place_layout(g, layout) {
                Ok(placed) => {
                    out.push_str(&format!("valid: {layout} on {}\n", g.name));
                    out.push_str("instance     start  memory slots  compute slices  SMs   GiB\n");
                    for p in &placed {
                        let (m0, m1) = p.mem_range();
                        let (c0, c1) = p.compute_range();
                        out.push_str(&format!(
                            "{:<12} {:>5}  {:>12}  {:>14}  {:>3}  {:>5.2}\n",
                            p.profile.name,
                            p.start,
                            format!("{m0}-{}", m1 - 1),
                            format!("{c0}-{}", c1 - 1),
                            p.profile.sms,
                            p.profile.memory_gib
                        ));
                    }
                    out.push_str(&format!(
                        "memory  [{}]\ncompute [{}]\n",
                        crate::catalog::slot_map(&placed, 8, true),
                        crate::catalog::slot_map(&placed, 7, false)
                    ));
                }
                Err(e) => return Err(Error::Infeasible(format!("invalid: {e}"))),
            }
        }
        (g, None) => {
            let list: Vec<&crate::catalog::GpuSpec> = match g {
                Some(n) => vec![find(n)?],
                None => cat.gpus.iter().collect(),
            };
            out.push_str("gpu         SMs  memory GiB  GB/s  BF16 TFLOPS  TDP W   $/h   MIG\n");
            for g in &list {
                out.push_str(&format!(
                    "{:<10} {:>4}  {:>10.1}  {:>4}  {:>11}  {:>5}  {:>5.2}  {}\n",
                    g.name,
                    g.sm_count,
                    g.memory_gib,
                    g.mem_bw_gbps,
                    g.bf16_tflops,
                    g.tdp_w,
                    g.price_usd_per_hour,
                    if g.has_mig() { "yes" } else { "no" }
                ));
            }
            for g in list.iter().filter(|g| g.has_mig()) {
                out.push_str(&format!("\nMIG profiles of {} ({} SMs in MIG mode)\n", g.name, g.mig_sm_count));
                out.push_str("profile      GI id  mem/8  compute/7  SMs    GiB  max  start slots\n");
                for p in &g.mig_profiles {
                    let slots: Vec<String> = p.placements.iter().map(|s| s.to_string()).collect();
                    out.push_str(&format!(
                        "{:<12} {:>5}  {:>5}  {:>9}  {:>3}  {:>5.2}  {:>3}  {{{}}}\n",
                        p.name,
                        p.gi_id,
                        p.mem_slices,
                        p.compute_slices,
                        p.sms,
                        p.memory_gib,
                        p.max_count,
                        slots.join(",")
                    ));
                }
            }
        }
    }
    Ok(out)
}

fn kind_of(s: &str) -> Result<ServiceKind> {
    match s {
        "asr" => Ok(ServiceKind::Asr),
        "tts" => Ok(ServiceKind::Tts),
        "llm" => Ok(ServiceKind::Llm),
        o => Err(Error::input("--kind", "", format!("must be 'asr', 'tts' or 'llm', got '{o}'"))),
    }
}

/// Points of one op from a profile or batches table.
fn points_from(t: &Table, kind: ServiceKind, op: &str, from_profile: bool) -> Result<Vec<Point>> {
    let mut pts = Vec::new();
    let lat = |i: usize| -> Result<f64> {
        if from_profile {
            t.nonneg(i, "latency_ms", true)
        } else {
            let d = (t.num(i, "end_s")? - t.num(i, "start_s")?) * 1e3;
            if d > 0.0 {
                Ok(d)
            } else {
                Err(Error::input(
                    &t.path,
                    format!("line {} column 'end_s'", i + 2),
                    format!("end_s must be after start_s, got a duration of '{d}' ms"),
                ))
            }
        }
    };
    let req = |cols: &[&str]| -> Result<()> {
        let mut c: Vec<&str> = cols.to_vec();
        c.push(if from_profile { "latency_ms" } else { "end_s" });
        if !from_profile {
            c.push("start_s");
        }
        t.require(&c)
    };
    match kind {
        ServiceKind::Asr => {
            req(&["batch", "audio_s"])?;
            for i in 0..t.len() {
                pts.push(Point {
                    batch: t.nonneg(i, "batch", true)?,
                    size: t.nonneg(i, "audio_s", true)?,
                    latency_ms: lat(i)?,
                });
            }
        }
        ServiceKind::Tts => {
            req(&["batch", "frames"])?;
            for i in 0..t.len() {
                pts.push(Point {
                    batch: t.nonneg(i, "batch", true)?,
                    size: t.nonneg(i, "frames", true)?,
                    latency_ms: lat(i)?,
                });
            }
        }
        ServiceKind::Llm => {
            req(&["op", "batch"])?;
            for i in 0..t.len() {
                let o = t.text(i, "op");
                let is_prefill = o == "prefill";
                let is_decode = o == "decode" || o == "decode_step";
                if !is_prefill && !is_decode {
                    return Err(Error::input(
                        &t.path,
                        format!("line {} column 'op'", i + 2),
                        format!("unknown op '{o}' (prefill, decode, decode_step)"),
                    ));
                }
                if (op == "prefill") != is_prefill {
                    continue;
                }
                let p = if is_prefill {
                    t.require(&["tokens"])?;
                    Point {
                        batch: 1.0,
                        size: t.nonneg(i, "tokens", true)?,
                        latency_ms: lat(i)?,
                    }
                } else {
                    t.require(&["context"])?;
                    // The attended context is the longest sequence plus the new token.
                    Point {
                        batch: t.nonneg(i, "batch", true)?,
                        size: t.nonneg(i, "context", true)? + 1.0,
                        latency_ms: lat(i)?,
                    }
                };
                pts.push(p);
            }
        }
    }
    Ok(pts)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Fit an LLM model from GenAI-Perf / AIPerf exports (see [`crate::calibrate::fit_load_runs`]).
pub fn calibrate_load_runs(
    files: &[String],
    gpu: &str,
    memory_gib: Option<f64>,
    kv_slots: Option<u32>,
    max_context: u32,
) -> Result<ModelSpec> {
    let cat = Catalog::builtin();
    let g = cat
        .gpu(gpu)
        .ok_or_else(|| Error::input("--gpu", "", format!("unknown GPU '{gpu}' (known: {})", cat.names())))?;
    let runs: Vec<_> = files.iter().map(|f| crate::input::read_load_run(f)).collect::<Result<_>>()?;
    let (prefill, decode, diag) = crate::calibrate::fit_load_runs(&runs).map_err(|m| Error::input(files.join(","), "", m))?;
    let max_c = runs.iter().map(|r| r.concurrency).fold(0.0, f64::max);
    // Without --memory-gib, assume the server takes 90 % of the GPU: the default memory share of
    // vLLM (`gpu_memory_utilization = 0.9`) and TensorRT-LLM's KV-cache fraction, which pre-allocate it.
    let memory = memory_gib.unwrap_or(g.memory_gib * 0.9);
    if !(memory.is_finite() && memory > 0.0) {
        return Err(Error::input(
            "--memory-gib",
            "",
            format!("must be a positive number, got '{memory}'"),
        ));
    }
    let mut ops = std::collections::BTreeMap::new();
    ops.insert("prefill".to_string(), prefill);
    ops.insert("decode".to_string(), decode);
    let spec = ModelSpec {
        name: "llm".into(),
        kind: ServiceKind::Llm,
        reference_gpu: g.name.clone(),
        description: "LLM server fitted from GenAI-Perf/AIPerf concurrency sweeps".into(),
        memory: crate::service::MemoryFootprint {
            weights_gib: 0.0,
            runtime_gib: memory,
        },
        max_batch: 1,
        dispatch_ms: 0.0,
        call_gap_ms: 0.0,
        frames_per_char: None,
        frames_range: None,
        llm: Some(crate::service::LlmSpec {
            max_seqs: kv_slots.unwrap_or(max_c.round().max(1.0) as u32),
            max_context_tokens: max_context,
            ..crate::service::LlmSpec::gpubench()
        }),
        asr_mode: crate::config::AsrMode::Offline,
        chunk_s: 0.32,
        tts_policy: crate::config::TtsPolicy::Static,
        first_chunk_frames: 22,
        ops,
        calibration: serde_json::json!({
            "sources": { "genai_perf": files },
            "form": diag["form"],
            "prefill_rule": diag["prefill_rule"],
            "ops": { "decode": diag["decode"] },
        }),
    };
    spec.validate("calibrate")?;
    Ok(spec)
}

/// Fit a gpubench-shaped model from files.
pub fn calibrate_files(kind: &str, profile: Option<&str>, batches: &[String]) -> Result<ModelSpec> {
    let kind = kind_of(kind)?;
    let (mut spec, bases) = gpubench_base(kind);
    let reference = Catalog::builtin()
        .gpu(&spec.reference_gpu)
        .cloned()
        .ok_or_else(|| Error::Infeasible("reference GPU missing from catalog".into()))?;
    if profile.is_none() && batches.is_empty() {
        return Err(Error::input("calibrate", "", "needs --profile and/or --batches"));
    }
    let prof = profile.map(Table::read).transpose()?;
    let logs: Vec<Table> = batches.iter().map(|b| Table::read(b)).collect::<Result<_>>()?;
    let mut diags = serde_json::Map::new();
    for base in &bases {
        let mut pts = Vec::new();
        if let Some(p) = &prof {
            pts.extend(points_from(p, kind, base.name, true)?);
        }
        for l in &logs {
            pts.extend(points_from(l, kind, base.name, false)?);
        }
        let file = profile.map(str::to_string).unwrap_or_else(|| batches.join(","));
        let (table, d) = fit_op(base, &pts, reference.mem_bw_gbps).map_err(|m| Error::input(&file, format!("op {}", base.name), m))?;
        spec.ops.insert(base.name.to_string(), table);
        diags.insert(base.name.to_string(), serde_json::to_value(&d).unwrap_or_default());
    }
    // Host overheads from the serving logs: gaps between back-to-back calls (< 1 ms) and the delay
    // from arrival to first call for requests that found the server idle (< 1 ms).
    let (mut gaps, mut disp) = (Vec::new(), Vec::new());
    for (b, l) in batches.iter().zip(&logs) {
        for i in 1..l.len() {
            let g = (l.num(i, "start_s")? - l.num(i - 1, "end_s")?) * 1e3;
            if (0.0..1.0).contains(&g) {
                gaps.push(g);
            }
        }
        let dir = std::path::Path::new(b).parent().map(|p| p.to_path_buf()).unwrap_or_default();
        let rq = dir.join(format!("{}.requests.csv", spec.name));
        if rq.exists() {
            let r = Table::read(&rq.display().to_string())?;
            r.require(&["arrival_s", "start_s"])?;
            for i in 0..r.len() {
                let d = (r.num(i, "start_s")? - r.num(i, "arrival_s")?) * 1e3;
                if (0.0..1.0).contains(&d) {
                    disp.push(d);
                }
            }
        }
    }
    spec.call_gap_ms = (median(gaps).unwrap_or(0.0) * 1e4).round() / 1e4;
    spec.dispatch_ms = (median(disp).unwrap_or(spec.call_gap_ms) * 1e4).round() / 1e4;
    spec.calibration = serde_json::json!({
        "form": match kind {
            ServiceKind::Tts => "per batch bucket, latency linear in frames (robust least squares)",
            _ => "median latency per padded (batch, size) cell, gaps interpolated in log2(batch)",
        },
        "sources": { "profile": profile, "batches": batches },
        "provenance": {
            "gpu": "NVIDIA H100 80GB HBM3 (SXM, 132 SMs)",
            "driver": "580.159.04",
            "framework": "PyTorch 2.11 + CUDA 13.0, bf16, CUDA graphs (traces/h100/gpubench.py)",
            "date": "2026-11-25"
        },
        "host_overhead": { "call_gap_ms": spec.call_gap_ms, "dispatch_ms": spec.dispatch_ms },
        "ops": diags,
    });
    spec.validate("calibrate")?;
    Ok(spec)
}
