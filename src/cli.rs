//! Command-line interface (clap) and the subcommands' I/O. The logic lives in the library; this
//! module reads inputs, calls it and prints.
//!
//! Map: this file holds the clap definitions ([`Cli`], [`Command`]), the dispatch ([`run`]),
//! `run` (with its progress bar), `validate` and `calibrate`'s summary, and printing; one
//! submodule per larger subcommand:
//! * [`catalog`]: `gpuslice catalog` (GPUs, MIG layouts, an LLM's KV cache per device).
//! * [`profile`]: `gpuslice profile` (a predicted batch-latency grid, or one against a measured profile).
//! * [`calibrate`], [`plan`], [`sweep`], [`bench`](mod@bench): those subcommands.
//! * [`report`]: `gpuslice report` and the `--report FILE` of `run`, `plan`, `sweep`, `validate`.

pub mod bench;
pub mod calibrate;
pub mod catalog;
pub mod docs;
pub mod plan;
pub mod profile;
pub mod report;
pub mod sweep;

use crate::validate::measured::calibrate_load_runs;
use calibrate::{calibrate_files, kind_of};
use catalog::{catalog_json, catalog_text, kv_out};
use profile::profile_text;

use crate::error::{Error, Result};
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
        /// Also write an HTML report of the runs (charts; `gpuslice report run` alone).
        #[arg(long, value_name = "FILE")]
        report: Option<String>,
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
        /// Model kind (asr, tts, llm or encoder): selects the server's behaviour and ops.
        #[arg(long)]
        kind: String,
        /// Padding buckets: `measured` (each op's distinct batch and size values in --profile) or
        /// `gpubench` (the servers of traces/bench/gpubench.py: reproduces models/h100/*.json).
        #[arg(long, default_value = "measured")]
        buckets: String,
        /// The server's batch buckets, `1,2,4,8` (all ops) or `OP=1,2,4` (repeatable); overrides --buckets.
        #[arg(long = "batch-buckets")]
        batch_buckets: Vec<String>,
        /// The server's size buckets (audio s, tokens, context, ...), `5,10,15` or `OP=...` (repeatable).
        #[arg(long = "size-buckets")]
        size_buckets: Vec<String>,
        /// The model's architecture inline, JSON or a TOML inline table with a scenario's `arch` fields:
        /// sets weights, KV geometry and the split of each cell for the device scaling.
        #[arg(long)]
        arch: Option<String>,
        /// The model's architecture from a JSON or TOML file (the `arch` fields, at the top or under `arch`).
        #[arg(long = "arch-file")]
        arch_file: Option<String>,
        /// LLM KV geometry: transformer layers (with --kv-heads and --head-dim; bf16 cache).
        #[arg(long)]
        layers: Option<u32>,
        /// LLM KV geometry: key/value heads per layer.
        #[arg(long = "kv-heads")]
        kv_heads: Option<u32>,
        /// LLM KV geometry: size of one head.
        #[arg(long = "head-dim")]
        head_dim: Option<u32>,
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
        /// The GPU the measurements ran on (catalog key; default: the gpu.csv beside --profile, else h100-80gb).
        #[arg(long)]
        gpu: Option<String>,
        /// The server's device memory [GiB] (weights + KV cache + runtime); at most the GPU's.
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
        /// Also write an HTML report: measured against simulated CDFs per run.
        #[arg(long, value_name = "FILE")]
        report: Option<String>,
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
    /// Write one self-contained HTML page (inline SVG charts, no script) of a run, plan, sweep
    /// folder or validation.
    Report(report::ReportArgs),
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
        /// Time the planner at scale instead: the voice plan at 500 and 2,000 users and 8, 20
        /// and 50 independent models, each in a fresh process (wall and CPU time, peak memory,
        /// the answer and its gap; minutes).
        #[arg(long, conflicts_with = "memory")]
        planner: bool,
        /// With --planner: only the cases whose name contains this (e.g. 'independent-20').
        #[arg(long, value_name = "TEXT", requires = "planner")]
        only: Option<String>,
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
    /// One case of `bench --planner` in this process (what the benchmark runs in each child).
    #[command(hide = true)]
    BenchPlanCase {
        /// The case's name.
        case: String,
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
            report,
        } => {
            let sc = load_scenario_with(scenario.as_deref(), &set)?;
            if sc.variants.is_empty() {
                return Err(Error::input(
                    scenario.as_deref().unwrap_or(files::DEFAULT_SCENARIO_NAME),
                    "variant",
                    "no [[variant]] to run: a file without variants is a planning spec (`gpuslice plan FILE`)",
                ));
            }
            let runs = if let Some(path) = &report {
                // The report's runs record a utilisation timeline too; the summaries are the same.
                let detailed = crate::sim::detail::run_scenario_detailed(&sc, seed)?;
                let source = scenario.as_deref().unwrap_or(files::DEFAULT_SCENARIO_NAME);
                report::write_run(path, &sc, source, &set, seed, &detailed)?;
                detailed.into_iter().map(|(s, _)| s).collect()
            } else if std::io::stderr().is_terminal() {
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
            buckets,
            batch_buckets,
            size_buckets,
            arch,
            arch_file,
            layers,
            kv_heads,
            head_dim,
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
            let opts = calibrate::options(calibrate::Flags {
                buckets: &buckets,
                batch_buckets: &batch_buckets,
                size_buckets: &size_buckets,
                arch: arch.as_deref(),
                arch_file: arch_file.as_deref(),
                kv: (layers, kv_heads, head_dim),
                gpu: gpu.clone(),
                memory_gib,
            })?;
            let (spec, warnings) = if genai_perf.is_empty() {
                calibrate_files(&kind, profile.as_deref(), &batches, &scaling, &opts)?
            } else {
                if kind_of(&kind)? != ServiceKind::Llm || profile.is_some() || !batches.is_empty() {
                    return Err(Error::input(
                        "--genai-perf",
                        "",
                        "applies to --kind llm alone (without --profile/--batches)",
                    ));
                }
                let gpu = gpu.unwrap_or_else(|| "h100-80gb".to_string());
                let weights = opts
                    .arch
                    .as_ref()
                    .map(|(a, _)| a.weight_bytes(ServiceKind::Llm) / f64::from(1u32 << 30));
                let spec = calibrate_load_runs(&genai_perf, &gpu, memory_gib, kv_slots, max_context_tokens, opts.kv_geometry(), weights)?;
                let w = if opts.kv_geometry().is_none() {
                    vec!["calibrate: warning: no --arch or --layers/--kv-heads/--head-dim: KV geometry assumed Llama-3.1-8B's (32 layers, 8 KV heads of 128, bf16)".to_string()]
                } else {
                    Vec::new()
                };
                (spec, w)
            };
            files::write_atomic(&out, &crate::out::to_json(&spec))?;
            for w in &warnings {
                eprintln!("{w}");
            }
            print_out(&calibrate_summary(&out, &spec, format))
        }
        Command::Validate {
            dirs,
            format,
            models,
            quantum_ms,
            switch_us,
            report,
        } => {
            let (map, ts) = validate_options(&models, &dirs, quantum_ms, switch_us)?;
            return validate_dirs(&dirs, &map, ts, format, report.as_deref());
        }
        Command::Accuracy { root, format } => {
            let a = crate::validate::accuracy::accuracy(&root.unwrap_or_else(crate::validate::accuracy::default_traces_root))?;
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
        Command::Bench {
            planner: true,
            only,
            format,
            ..
        } => {
            let c = crate::cli::bench::planner_bench(only.as_deref())?;
            print_out(&match format {
                Format::Table => crate::cli::bench::planner_text(&c),
                Format::Json => crate::out::to_json(&c),
            })
        }
        Command::BenchPlanCase { case } => print_out(&crate::out::to_json(&crate::cli::bench::planner_case(&case)?)),
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
        Command::Report(args) => return report::run_report(&args),
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

/// The `--model NAME=FROM` overrides of `validate`, checked before any folder is replayed: each
/// NAME given once and replayed by some folder (a `trace_NAME.csv`), each FROM a built-in model
/// or a model file that reads; otherwise the override would be silently unused, or fail as a
/// folder's error far from the flag.
fn validate_models(models: &[String], dirs: &[String]) -> Result<std::collections::BTreeMap<String, String>> {
    let mut map = std::collections::BTreeMap::new();
    for m in models {
        let bad = |why: String| Error::input("--model", "", format!("'{m}': {why}"));
        let (k, v) = m.split_once('=').ok_or_else(|| bad("expected NAME=FROM".into()))?;
        if k.is_empty() || v.is_empty() {
            return Err(bad("expected NAME=FROM".into()));
        }
        if map.contains_key(k) {
            return Err(bad(format!("model '{k}' is given twice")));
        }
        if !dirs.iter().any(|d| std::path::Path::new(d).join(format!("trace_{k}.csv")).is_file()) {
            return Err(bad(format!(
                "no folder replays a model '{k}' (it would need a trace_{k}.csv in {})",
                dirs.join(", ")
            )));
        }
        if crate::model::builtin(v).is_none() {
            files::read_model(std::path::Path::new(v)).map_err(|e| bad(format!("not a built-in model, and {e}")))?;
        }
        map.insert(k.to_string(), v.to_string());
    }
    Ok(map)
}

/// `--model NAME=FROM`, `--quantum-ms` and `--switch-us` of `validate` (and `report validate`),
/// checked. The time-slicing values are checked as a scenario checks them, even for a folder of
/// one model (which runs dedicated and does not use them): a wrong value is wrong either way.
fn validate_options(
    models: &[String],
    dirs: &[String],
    quantum_ms: Option<f64>,
    switch_us: Option<f64>,
) -> Result<(std::collections::BTreeMap<String, String>, crate::validate::TsParams)> {
    let map = validate_models(models, dirs)?;
    if let Some(q) = quantum_ms {
        crate::limits::QUANTUM_MS.check("--quantum-ms", "", q)?;
    }
    if let Some(s) = switch_us {
        crate::limits::SWITCH_US.check("--switch-us", "", s)?;
    }
    Ok((map, crate::validate::TsParams { quantum_ms, switch_us }))
}

/// Every folder replayed, in argument order; a bad folder fails alone.
fn replay_dirs(dirs: &[String], models: &std::collections::BTreeMap<String, String>, ts: crate::validate::TsParams) -> Vec<DirOutcome> {
    dirs.iter()
        .map(
            |d| match crate::validate::measured::check_run_folder(d).and_then(|()| crate::validate::validate_dir(d, models, ts)) {
                Ok(v) => DirOutcome::Done(v),
                Err(e) => DirOutcome::Failed {
                    dir: d.clone(),
                    error: e.to_string(),
                },
            },
        )
        .collect()
}

/// Say on stderr, one line each, why folders could not be replayed; the exit status (2 if any).
fn failed_status(outcomes: &[DirOutcome]) -> u8 {
    let mut failed = false;
    for o in outcomes {
        if let DirOutcome::Failed { dir, error } = o {
            eprintln!("gpuslice: validate {dir}: {error}");
            failed = true;
        }
    }
    if failed {
        2
    } else {
        0
    }
}

/// `gpuslice validate DIR...`: every folder is replayed and reported (JSON: always an array, one
/// entry per folder in argument order; a failed folder is `{"dir", "error"}`). The reasons of
/// failed folders also go to stderr, one line each, and the status is 2 if any failed. With
/// `--report FILE` the page is written after stdout.
fn validate_dirs(
    dirs: &[String],
    models: &std::collections::BTreeMap<String, String>,
    ts: crate::validate::TsParams,
    format: Format,
    report: Option<&str>,
) -> Result<u8> {
    let outcomes = replay_dirs(dirs, models, ts);
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
    if let Some(path) = report {
        report::write_validate(path, (&report::validate_title(dirs), "gpuslice validate"), &outcomes, false)?;
    }
    Ok(failed_status(&outcomes))
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
        match (n, mean, max) {
            (Some(n), Some(mean), Some(max)) => msg.push_str(&format!(
                " from {n} points, leave-one-out mean |err| {:.1}%, max {:.1}%",
                mean * 100.0,
                max * 100.0
            )),
            (Some(n), _, _) => msg.push_str(&format!(" from {n} points, leave-one-out n/a ({n} points)")),
            _ => {}
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
