//! Command-line interface (clap) and the subcommands' I/O. The logic lives in the library; this
//! module reads inputs, calls it and prints.

pub mod bench;
pub mod calibrate;
pub mod docs;
pub mod plan;
pub mod sweep;

use crate::validate::measured::calibrate_load_runs;
use calibrate::{calibrate_files, kind_of};

use crate::error::{Error, Result};
use crate::gpu::{place_layout, Catalog};
use crate::model::ServiceKind;
use crate::scenario::files;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};

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

/// Output format of `gpuslice profile`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum ProfileFormat {
    /// Human-readable table.
    Table,
    /// gpubench's profile CSV layout.
    Csv,
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
        /// Edit the scenario before running: PATH=VALUE, paths as sweep axes (docs/src/sweeps.md),
        /// e.g. 'variant[*].faults[0].kind="device-reset"'. Repeatable.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
    /// List GPUs and MIG profiles, or check a MIG layout.
    Catalog {
        /// GPU type to show.
        #[arg(long)]
        gpu: Option<String>,
        /// MIG layout to check on --gpu, e.g. 4g.40gb,2g.20gb,1g.10gb.
        #[arg(long)]
        mig: Option<String>,
        /// LLM model (built-in name or file): its KV-cache capacity on each GPU and MIG profile.
        #[arg(long, conflicts_with = "mig")]
        model: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
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
        /// Folder of profiles of the same shapes on other device shares (`full/`, `sms<N>/`, and a
        /// gpu.csv), e.g. traces/h200/sms; fits the device scaling model (repeatable).
        #[arg(long)]
        scaling: Vec<String>,
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
        /// What stdout gets: a summary of the fit as text, or as one JSON document.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
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
        /// Time slice for co-located runs [ms] (default: the measured 2.1 ms of scenarios).
        #[arg(long)]
        quantum_ms: Option<f64>,
        /// Context-switch cost for co-located runs [us] (default: the measured 200 us).
        #[arg(long)]
        switch_us: Option<f64>,
    },
    /// Print the accuracy tables (docs/src/accuracy.md): every measured run replayed, and the MIG ratios vs published data.
    Accuracy {
        /// Folder holding the measured runs (`h100/`, `h200/`; default: `traces` of this clone).
        #[arg(long)]
        root: Option<String>,
        /// Output format: the Markdown tables of docs/src/accuracy.md, or one JSON document.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Explore a scenario interactively: live simulation, variant comparison, what-if edits.
    Tui {
        /// Scenario TOML file (default: the embedded A100 voice consolidation study).
        scenario: Option<String>,
        /// Seed of every random stream.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Predict a model's batch-latency grid on a GPU, MIG slice or SM count (gpubench's profile
    /// layout), or compare it with a measured profile.
    Profile {
        /// Built-in model (h100/asr, h100/tts, h100/llm) or a model JSON file.
        model: String,
        /// GPU type (catalog key).
        #[arg(long)]
        gpu: String,
        /// A MIG instance of the GPU, e.g. 3g.40gb.
        #[arg(long, conflicts_with = "sms")]
        mig: Option<String>,
        /// Restrict to N SMs with the whole memory bandwidth (a CUDA green context).
        #[arg(long)]
        sms: Option<u32>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ProfileFormat::Table)]
        format: ProfileFormat,
        /// A measured profile (gpubench's profile CSV) to compare cell by cell.
        #[arg(long)]
        compare: Option<String>,
    },
    /// Run a scenario over the cross product of its `[sweep]` axes and seeds: results.csv (one
    /// row per run and variant), summary.csv (mean and 95 % CI over seeds), manifest.json.
    Sweep(sweep::SweepArgs),
    /// Find the cheapest deployment that meets a scenario's `[slo]` (per regime, ranked), and
    /// write it as a scenario and as Kubernetes files. Exit 1 when no candidate meets the SLOs.
    Plan(plan::PlanArgs),
    /// Join the folders of `sweep --shard` runs into the files one unsharded sweep writes.
    SweepMerge {
        /// Shard folders.
        #[arg(required = true)]
        dirs: Vec<String>,
        /// Output folder.
        #[arg(long)]
        out: String,
        /// Gate on the merged rows, as `sweep --check` (repeatable).
        #[arg(long = "check", value_name = "EXPR")]
        checks: Vec<String>,
        /// What stdout gets, as `sweep --format`.
        #[arg(long, value_enum, default_value_t = sweep::SweepFormat::Csv)]
        format: sweep::SweepFormat,
    },
    /// Time the engine (events per second), the default scenario and a 1,000-run sweep.
    Bench {
        /// Repetitions.
        #[arg(long, default_value_t = 3)]
        reps: u32,
        /// Runs of the sweep benchmark (ASR + TTS study, 60 s each, 8 seeds per rate; 0: skip it).
        #[arg(long, default_value_t = 1000)]
        sweep_runs: usize,
        /// Measure peak memory instead: 1, 5 and 10 M open-loop requests and 1, 2 and 10 M-row
        /// trace replays, each in a fresh process (under a minute).
        #[arg(long)]
        memory: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Rewrite every generated block of the book (docs/src) and README.md from the program's
    /// current output: the default study, the fault table, the accuracy tables and the copies of
    /// the TUI capture and the CI examples (docs/src/guide/commands.md).
    Docs {
        /// The clone to rewrite (default: the working directory when it holds docs/src, else
        /// the clone the binary was built from).
        #[arg(long)]
        root: Option<String>,
    },
    /// One case of `bench --memory` in this process (what the benchmark runs in each child).
    #[command(hide = true)]
    BenchMemoryCase {
        /// Requests (open loop) or trace rows.
        requests: u64,
        /// Replay this trace instead of an open loop.
        #[arg(long)]
        trace: Option<String>,
    },
}

/// Run the CLI; the exit status (0; `sweep`: 1 when a `--check` fails, 130 when stopped by
/// Ctrl-C). Errors are returned to `main`, which prints them on one line and exits with 2.
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Run {
            scenario,
            seed,
            format,
            set,
        } => {
            let sc = load_scenario_with(scenario.as_deref(), &set)?;
            if sc.variants.is_empty() {
                return Err(Error::input(
                    scenario.as_deref().unwrap_or(files::DEFAULT_SCENARIO_NAME),
                    "variant",
                    "no [[variant]] to run: a file without variants is a planning spec (`gpuslice plan FILE`)",
                ));
            }
            let runs = if std::io::stderr().is_terminal() {
                run_with_progress(&sc, seed, indicatif::ProgressDrawTarget::stderr())?
            } else {
                crate::sim::run_scenario(&sc, seed)?
            };
            let text = match format {
                Format::Json => crate::out::to_json(&crate::out::table::RunReport {
                    scenario: &sc.name,
                    seed,
                    variants: &runs,
                }),
                Format::Table => crate::out::table::table(&sc.name, seed, &runs),
            };
            print_out(&text)
        }
        Command::Catalog {
            gpu,
            mig,
            model: Some(m),
            format,
        } if mig.is_none() => print_out(&kv_out(&m, gpu.as_deref(), format)?),
        Command::Catalog { gpu, mig, format, .. } => print_out(&match format {
            Format::Table => catalog_text(gpu.as_deref(), mig.as_deref())?,
            Format::Json => crate::out::to_json(&catalog_json(gpu.as_deref(), mig.as_deref())?),
        }),
        Command::Calibrate {
            kind,
            profile,
            batches,
            scaling,
            genai_perf,
            gpu,
            memory_gib,
            kv_slots,
            max_context_tokens,
            out,
            format,
        } => {
            let spec = if genai_perf.is_empty() {
                calibrate_files(&kind, profile.as_deref(), &batches, &scaling)?
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
            files::write_atomic(&out, &crate::out::to_json(&spec))?;
            print_out(&calibrate_summary(&out, &spec, format))
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
            // Checked here as a scenario checks them, even for a folder of one model (which
            // runs dedicated and does not use them): a wrong value is wrong either way.
            if let Some(q) = quantum_ms {
                crate::limits::QUANTUM_MS.check("--quantum-ms", "", q)?;
            }
            if let Some(s) = switch_us {
                crate::limits::SWITCH_US.check("--switch-us", "", s)?;
            }
            let ts = crate::validate::TsParams { quantum_ms, switch_us };
            return validate_dirs(&dirs, &map, ts, format);
        }
        Command::Accuracy { root, format } => {
            let a = crate::validate::accuracy(&root.unwrap_or_else(crate::validate::default_traces_root))?;
            print_out(&match format {
                Format::Table => a.markdown(),
                Format::Json => crate::out::to_json(&a),
            })
        }
        Command::Profile {
            model,
            gpu,
            mig,
            sms,
            format,
            compare,
        } => print_out(&profile_text(&model, &gpu, mig.as_deref(), sms, format, compare.as_deref())?),
        Command::Bench { memory: true, format, .. } => {
            let m = crate::cli::bench::memory_bench()?;
            print_out(&match format {
                Format::Table => crate::cli::bench::memory_text(&m),
                Format::Json => crate::out::to_json(&m),
            })
        }
        Command::BenchMemoryCase { requests, trace } => {
            print_out(&crate::out::to_json(&crate::cli::bench::memory_case(requests, trace.as_deref())?))
        }
        Command::Bench {
            reps, sweep_runs, format, ..
        } => {
            let b = crate::cli::bench::bench(reps, sweep_runs)?;
            print_out(&match format {
                Format::Table => b.text(),
                Format::Json => crate::out::to_json(&b),
            })
        }
        Command::Docs { root } => {
            let root = root.map_or_else(docs::default_root, std::path::PathBuf::from);
            print_out(&docs::regenerate(&root)?)
        }
        Command::Tui { scenario, seed } => crate::tui::run(scenario, seed),
        Command::Sweep(args) => return sweep::run_sweep(&args),
        Command::Plan(args) => return plan::run_plan(&args),
        Command::SweepMerge { dirs, out, checks, format } => return sweep::run_merge(&dirs, &out, &checks, format),
    }?;
    Ok(0)
}

pub(crate) fn print_out(s: &str) -> Result<()> {
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

/// A scenario file (or the embedded default) with `--set` edits applied before it is checked.
pub fn load_scenario_with(path: Option<&str>, set: &[String]) -> Result<crate::scenario::Scenario> {
    if set.is_empty() {
        return files::load_scenario(path);
    }
    let (file, text, dir) = match path {
        Some(p) => {
            let pp = std::path::Path::new(p);
            let text = files::read_text(pp, files::MAX_TEXT_BYTES, "a scenario")?;
            (p.to_string(), text, pp.parent())
        }
        None => (files::DEFAULT_SCENARIO_NAME.to_string(), files::DEFAULT_SCENARIO.to_string(), None),
    };
    let mut raw = crate::scenario::raw::parse(&text, &file)?;
    for a in set {
        raw = crate::scenario::edit::set_raw(&raw, a, &file)?;
    }
    let src = files::load_sources(&raw, &file, dir)?;
    crate::scenario::from_raw(&raw, &src)
}

/// Wall time after which a run shows its progress: shorter runs would only flash a bar.
const PROGRESS_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// [`crate::sim::run_scenario`] with a progress bar on `target` (a terminal's stderr) once the
/// run has taken [`PROGRESS_AFTER`]: simulated time over the horizon, summed over the variants.
/// The variants step exactly as `run_to_end` steps them, so the results (and stdout) are the
/// same bytes with or without the bar; only a terminal gets one.
pub fn run_with_progress(
    sc: &crate::scenario::Scenario,
    seed: u64,
    target: indicatif::ProgressDrawTarget,
) -> Result<Vec<crate::sim::RunSummary>> {
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    const PERMILLE: u64 = 1000;
    let sims: Vec<crate::sim::Simulation> = (0..sc.variants.len())
        .map(|v| crate::sim::Simulation::new(sc, v, seed))
        .collect::<Result<_>>()?;
    let done: Vec<AtomicU64> = sims.iter().map(|_| AtomicU64::new(0)).collect();
    let finished = AtomicBool::new(false);
    let total = PERMILLE * sims.len() as u64;
    Ok(std::thread::scope(|s| {
        s.spawn(|| {
            let start = std::time::Instant::now();
            let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::hidden());
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {percent}% of simulated time, ETA {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(format!("{} variants", sc.variants.len()));
            let mut target = Some(target);
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if start.elapsed() >= PROGRESS_AFTER {
                    if let Some(t) = target.take() {
                        bar.set_draw_target(t);
                    }
                }
                bar.set_position(done.iter().map(|d| d.load(Ordering::Relaxed)).sum());
            }
            bar.finish_and_clear();
        });
        let runs = sims
            .into_par_iter()
            .zip(&done)
            .map(|(mut sim, d)| {
                let horizon = sim.horizon().max(1);
                let mut events = 0u32;
                while sim.step() {
                    events = events.wrapping_add(1);
                    if events.is_multiple_of(65_536) {
                        d.store(
                            (sim.now().min(horizon) as f64 / horizon as f64 * PERMILLE as f64) as u64,
                            Ordering::Relaxed,
                        );
                    }
                }
                d.store(PERMILLE, Ordering::Relaxed);
                sim.summary()
            })
            .collect();
        finished.store(true, Ordering::Relaxed);
        runs
    }))
}

/// What `gpuslice validate` prints for each folder: its comparison, or why it could not be
/// replayed. A bad folder fails alone: the others are still replayed and reported.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
enum DirOutcome {
    Done(crate::validate::Validation),
    Failed { dir: String, error: String },
}

/// `gpuslice validate DIR...`: every folder is replayed and reported (JSON: always an array, one
/// entry per folder in argument order; a failed folder is `{"dir", "error"}`). The reasons of
/// failed folders also go to stderr, one line each, and the status is 2 if any failed.
fn validate_dirs(
    dirs: &[String],
    models: &std::collections::BTreeMap<String, String>,
    ts: crate::validate::TsParams,
    format: Format,
) -> Result<u8> {
    let outcomes: Vec<DirOutcome> = dirs
        .iter()
        .map(
            |d| match crate::validate::measured::check_run_folder(d).and_then(|()| crate::validate::validate_dir(d, models, ts)) {
                Ok(v) => DirOutcome::Done(v),
                Err(e) => DirOutcome::Failed {
                    dir: d.clone(),
                    error: e.to_string(),
                },
            },
        )
        .collect();
    let text = match format {
        Format::Json => crate::out::to_json(&outcomes),
        Format::Table => outcomes
            .iter()
            .filter_map(|o| match o {
                DirOutcome::Done(v) => Some(crate::validate::table(v)),
                DirOutcome::Failed { .. } => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
    };
    print_out(&text)?;
    let mut failed = false;
    for o in &outcomes {
        if let DirOutcome::Failed { dir, error } = o {
            eprintln!("gpuslice: validate {dir}: {error}");
            failed = true;
        }
    }
    Ok(if failed { 2 } else { 0 })
}

/// What `gpuslice calibrate` prints after writing the model: per op its table size and the
/// leave-one-out diagnostics, as text or as one JSON document.
fn calibrate_summary(out: &str, spec: &crate::model::ModelSpec, format: Format) -> String {
    let mut ops = serde_json::Map::new();
    let mut msg = format!("wrote {out}\n");
    for (op, t) in &spec.ops {
        msg.push_str(&format!("  {op}: {}x{} table", t.batch.len(), t.size.len()));
        let d = &spec.calibration["ops"][op];
        let (n, mean, max) = (
            d["points"].as_u64(),
            d["loo_mean_abs_rel_err"].as_f64(),
            d["loo_max_abs_rel_err"].as_f64(),
        );
        if let (Some(n), Some(mean), Some(max)) = (n, mean, max) {
            msg.push_str(&format!(
                " from {n} points, leave-one-out mean |err| {:.1}%, max {:.1}%",
                mean * 100.0,
                max * 100.0
            ));
        }
        msg.push('\n');
        ops.insert(
            op.clone(),
            serde_json::json!({
                "batch_points": t.batch.len(),
                "size_points": t.size.len(),
                "points": n,
                "loo_mean_abs_rel_err": mean,
                "loo_max_abs_rel_err": max,
            }),
        );
    }
    match format {
        Format::Table => msg,
        Format::Json => crate::out::to_json(&serde_json::json!({ "out": out, "model": spec.name, "kind": spec.kind, "ops": ops })),
    }
}

/// `gpuslice catalog --format json`: the GPUs with every field and MIG profile, or a checked
/// layout's placement. The same lookups and errors as [`catalog_text`].
pub fn catalog_json(gpu: Option<&str>, mig: Option<&str>) -> Result<serde_json::Value> {
    let cat = Catalog::builtin();
    let find = |n: &str| {
        cat.gpu(n)
            .ok_or_else(|| Error::input("--gpu", "", format!("unknown GPU '{n}' (known: {})", cat.names())))
    };
    Ok(match (gpu, mig) {
        (None, Some(_)) => return Err(Error::input("--mig", "", "needs --gpu")),
        (Some(g), Some(layout)) => {
            let g = find(g)?;
            let placed = place_layout(g, layout).map_err(|e| Error::input("--mig", "", e.to_string()))?;
            let instances: Vec<serde_json::Value> = placed
                .iter()
                .map(|p| {
                    let (m0, m1) = p.mem_range();
                    let (c0, c1) = p.compute_range();
                    serde_json::json!({
                        "profile": p.profile.name,
                        "start": p.start,
                        "memory_slots": [m0, m1 - 1],
                        "compute_slices": [c0, c1 - 1],
                        "sms": p.profile.sms,
                        "memory_gib": p.profile.memory_gib,
                    })
                })
                .collect();
            serde_json::json!({
                "gpu": g.name,
                "layout": layout,
                "valid": true,
                "instances": instances,
                "memory_map": crate::gpu::slot_map(&placed, 8, true),
                "compute_map": crate::gpu::slot_map(&placed, 7, false),
            })
        }
        (g, None) => {
            let list: Vec<&crate::gpu::GpuSpec> = match g {
                Some(n) => vec![find(n)?],
                None => cat.gpus.iter().collect(),
            };
            serde_json::json!({ "gpus": list })
        }
    })
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
                        crate::gpu::slot_map(&placed, 8, true),
                        crate::gpu::slot_map(&placed, 7, false)
                    ));
                }
                Err(e) => return Err(Error::input("--mig", "", e.to_string())),
            }
        }
        (g, None) => {
            let list: Vec<&crate::gpu::GpuSpec> = match g {
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

/// Text of `gpuslice catalog --model`: the paged KV cache an LLM engine that sizes it from free
/// memory (chunked or static policy, `gpu_memory_utilization` of the device) gets on every GPU and
/// MIG profile, by the formula of `kv_capacity_tokens`.
pub fn kv_out(model: &str, gpu: Option<&str>, format: Format) -> Result<String> {
    let mut m = load_model_arg(model)?;
    let Some(l) = m.llm.as_mut() else {
        return Err(Error::input(
            model,
            "kind",
            format!("'{}' is not an LLM: it has no KV cache", m.name),
        ));
    };
    if l.policy == crate::scenario::raw::LlmPolicy::PrefillFirst {
        l.policy = crate::scenario::raw::LlmPolicy::Chunked;
    }
    let l = l.clone();
    let cat = Catalog::builtin();
    let list: Vec<&crate::gpu::GpuSpec> = match gpu {
        Some(n) => vec![cat
            .gpu(n)
            .ok_or_else(|| Error::input("--gpu", "", format!("unknown GPU '{n}' (known: {})", cat.names())))?],
        None => cat.gpus.iter().collect(),
    };
    let mut rows = Vec::new();
    for g in list {
        let devices =
            std::iter::once(("whole".to_string(), g.memory_gib)).chain(g.mig_profiles.iter().map(|p| (p.name.clone(), p.memory_gib)));
        for (name, cap) in devices {
            let held = crate::deploy::placement::memory_held_gib(&m, cap);
            let tokens = crate::deploy::placement::kv_capacity_tokens(&l, &m, held);
            rows.push(serde_json::json!({
                "gpu": g.name,
                "device": name,
                "memory_gib": cap,
                "engine_gib": held,
                // No fit: null, as the table's "no fit" and dashes.
                "kv_tokens": (tokens > 0).then_some(tokens),
                "kv_blocks": (tokens > 0).then(|| tokens / u64::from(l.kv_block_tokens.max(1))),
                "max_context_sequences": (tokens > 0).then(|| tokens / u64::from(l.max_context_tokens.max(1))),
            }));
        }
    }
    if format == Format::Json {
        return Ok(crate::out::to_json(&serde_json::json!({
            "model": m.name,
            "weights_gib": m.memory.weights_gib,
            "activation_reserve_gib": l.activation_reserve_gib,
            "kv_bytes_per_token": l.kv_bytes_per_token(),
            "kv_block_tokens": l.kv_block_tokens,
            "gpu_memory_utilization": l.gpu_memory_utilization,
            "max_context_tokens": l.max_context_tokens,
            "devices": rows,
        })));
    }
    let mut out = format!(
        "{}: weights {:.2} GiB, activation reserve {:.2} GiB, {} bytes of KV per token, blocks of {} tokens, memory share {}\n",
        m.name,
        m.memory.weights_gib,
        l.activation_reserve_gib,
        l.kv_bytes_per_token(),
        l.kv_block_tokens,
        l.gpu_memory_utilization
    );
    out.push_str(&format!(
        "{:<10} {:<10} {:>10} {:>10} {:>10} {:>9} {:>8}\n",
        "gpu",
        "device",
        "memory GiB",
        "engine GiB",
        "KV tokens",
        "KV blocks",
        format!("seqs@{}", l.max_context_tokens)
    ));
    for r in &rows {
        let n = |k: &str| r[k].as_u64();
        let row = match (n("kv_tokens"), n("kv_blocks"), n("max_context_sequences")) {
            (Some(t), Some(b), Some(q)) => format!("{t:>10} {b:>9} {q:>8}"),
            _ => format!("{:>10} {:>9} {:>8}", "no fit", "-", "-"),
        };
        out.push_str(&format!(
            "{:<10} {:<10} {:>10.2} {:>10.2} {row}\n",
            r["gpu"].as_str().unwrap_or(""),
            r["device"].as_str().unwrap_or(""),
            r["memory_gib"].as_f64().unwrap_or(0.0),
            r["engine_gib"].as_f64().unwrap_or(0.0),
        ));
    }
    Ok(out)
}

/// [`kv_out`] as the table.
pub fn kv_text(model: &str, gpu: Option<&str>) -> Result<String> {
    kv_out(model, gpu, Format::Table)
}

/// A model named on the command line: a built-in name or a model file.
fn load_model_arg(model: &str) -> Result<crate::model::ModelSpec> {
    match crate::model::builtin(model) {
        Some(m) => m,
        None => files::read_model(std::path::Path::new(model)),
    }
}

/// Text of `gpuslice profile`.
pub fn profile_text(
    model: &str,
    gpu: &str,
    mig: Option<&str>,
    sms: Option<u32>,
    format: ProfileFormat,
    compare: Option<&str>,
) -> Result<String> {
    use crate::model::profile::{self, ProfileRow};
    use crate::model::DeviceShare;
    let m = load_model_arg(model)?;
    let cat = Catalog::builtin();
    let g = cat
        .gpu(gpu)
        .ok_or_else(|| Error::input("--gpu", "", format!("unknown GPU '{gpu}' (known: {})", cat.names())))?;
    let reference = cat
        .gpu(&m.reference_gpu)
        .ok_or_else(|| Error::input(model, "reference_gpu", format!("unknown GPU '{}'", m.reference_gpu)))?;
    let (share, device) = match (mig, sms) {
        (Some(p), _) => {
            let prof = crate::gpu::parse_layout(g, p).map_err(|e| Error::input("--mig", "", e.to_string()))?;
            if prof.len() != 1 {
                return Err(Error::input("--mig", "", format!("give one profile, got '{p}'")));
            }
            let pr = prof[0];
            (
                DeviceShare::of(g, pr.sms as f64 / g.sm_count as f64, pr.mem_slices as f64 / 8.0),
                format!("{} MIG {} ({} SMs, {}/8 of the bandwidth)", g.name, pr.name, pr.sms, pr.mem_slices),
            )
        }
        (None, Some(n)) => {
            if n == 0 || n > g.sm_count {
                return Err(Error::input(
                    "--sms",
                    "",
                    format!("must be between 1 and {} for {}, got '{n}'", g.sm_count, g.name),
                ));
            }
            (
                DeviceShare::of(g, n as f64 / g.sm_count as f64, 1.0),
                format!("{} restricted to {n} of {} SMs", g.name, g.sm_count),
            )
        }
        (None, None) => (DeviceShare::whole(g), g.name.clone()),
    };
    let Some(path) = compare else {
        let mut rows = profile::grid(&m);
        profile::predict(&m, reference, &share, &mut rows)?;
        return Ok(match format {
            ProfileFormat::Csv => {
                let mut s = format!("{}\n", profile::csv_header(m.kind));
                for r in &rows {
                    s.push_str(&profile::csv_row(m.kind, r));
                    s.push('\n');
                }
                s
            }
            ProfileFormat::Json => crate::out::to_json(&serde_json::json!({ "model": model, "device": device, "cells": rows })),
            ProfileFormat::Table => {
                let mut s = format!(
                    "{model} on {device} (predicted from {})\nop            batch      size    latency ms\n",
                    m.reference_gpu
                );
                for r in &rows {
                    s.push_str(&format!("{:<12} {:>6} {:>9} {:>13.3}\n", r.op, r.batch, r.size, r.latency_ms));
                }
                s
            }
        });
    };
    let t = crate::validate::measured::Table::read(path)?;
    t.require(&["op", "batch", "latency_ms"])?;
    let size_col = match m.kind {
        ServiceKind::Asr => "audio_s",
        ServiceKind::Tts => "chars",
        ServiceKind::Llm => "tokens",
    };
    let mut measured = Vec::new();
    for i in 0..t.len() {
        let op = t.text(i, "op").to_string();
        let size = if m.kind == ServiceKind::Llm && op != "prefill" {
            t.nonneg(i, "context", false)?
        } else {
            t.nonneg(i, size_col, true)?
        };
        let batch = t.nonneg(i, "batch", true)?;
        if batch.fract() != 0.0 || batch > f64::from(crate::model::MAX_BATCH) {
            return Err(Error::input(
                path,
                format!("line {} column 'batch'", i + 2),
                format!("must be a whole number up to 65536, got '{batch}'"),
            ));
        }
        measured.push(ProfileRow {
            frames: if t.has("frames") && m.kind == ServiceKind::Tts {
                Some(t.nonneg(i, "frames", true)?)
            } else {
                None
            },
            op,
            batch: batch as u32,
            size,
            latency_ms: t.nonneg(i, "latency_ms", true)?,
        });
    }
    if measured.is_empty() {
        return Err(Error::input(path, "", "no rows to compare"));
    }
    let (cells, ops) = profile::compare(&m, reference, &share, &measured).map_err(|e| e.in_file(path))?;
    Ok(match format {
        ProfileFormat::Json => {
            crate::out::to_json(&serde_json::json!({ "model": model, "device": device, "measured": path, "ops": ops, "cells": cells }))
        }
        ProfileFormat::Csv => {
            let mut s = String::from("op,batch,size,measured_ms,predicted_ms,error_pct\n");
            for c in &cells {
                s.push_str(&format!(
                    "{},{},{},{},{},{}\n",
                    c.cell.op, c.cell.batch, c.cell.size, c.cell.latency_ms, c.predicted_ms, c.error_pct
                ));
            }
            s
        }
        ProfileFormat::Table => {
            let mut s = format!("{model} on {device} vs {path}\nop            batch      size   measured ms  predicted ms    error\n");
            for c in &cells {
                s.push_str(&format!(
                    "{:<12} {:>6} {:>9} {:>13.3} {:>13.3} {:>+7.1}%\n",
                    c.cell.op, c.cell.batch, c.cell.size, c.cell.latency_ms, c.predicted_ms, c.error_pct
                ));
            }
            for o in &ops {
                s.push_str(&format!(
                    "{}: {} cells, median |error| {:.1}%, p90 {:.1}%; worst: {}\n",
                    o.op,
                    o.cells,
                    o.median_abs_error_pct,
                    o.p90_abs_error_pct,
                    o.worst.join(", ")
                ));
            }
            s
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The progress bar only watches: the runs are the same bytes as without it.
    #[test]
    fn progress_does_not_change_the_results() {
        let sc = files::load_scenario(Some(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/configs/valid/features.toml"))).expect("scenario");
        let plain = crate::sim::run_scenario(&sc, 3).expect("runs");
        let watched = run_with_progress(&sc, 3, indicatif::ProgressDrawTarget::hidden()).expect("runs");
        let json = |r: &[crate::sim::RunSummary]| {
            crate::out::to_json(&crate::out::table::RunReport {
                scenario: &sc.name,
                seed: 3,
                variants: r,
            })
        };
        assert_eq!(json(&plain), json(&watched));
    }
}
