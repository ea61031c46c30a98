//! `gpuslice report` and the `--report FILE` option of `run`, `plan`, `sweep` and `validate`:
//! the I/O around [`crate::out::report`], which builds each page as a string. Every report is
//! written with [`write_atomic`] (a temporary sibling renamed over the target), so a reader never
//! sees half a page; the commands' own stdout is unchanged by `--report`.

use crate::error::{Error, Result};
use crate::out::report;
use crate::plan::{Candidate, PlanResult};
use crate::scenario::files::{self, write_atomic, Sources};
use crate::scenario::raw::RawScenario;
use std::path::Path;

/// Arguments of `gpuslice report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// What to report.
    #[command(subcommand)]
    pub what: ReportWhat,
}

/// What `gpuslice report` makes a page of.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ReportWhat {
    /// Simulate a scenario's variants (as `gpuslice run`) and report them.
    Run {
        /// Scenario TOML file (default: the embedded A100 voice consolidation study).
        scenario: Option<String>,
        /// Seed of every random stream.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Edit the scenario first: PATH=VALUE as `run --set` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// The HTML file to write.
        #[arg(long, value_name = "FILE")]
        out: String,
    },
    /// Plan a spec (as `gpuslice plan`) and report the answer; with --load-range also the
    /// projection against load.
    Plan {
        /// Planning spec.
        file: String,
        /// Edit the spec first: PATH=VALUE as `plan --set` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Also project the cheapest plan over a load range (`A:B:xF` or `A:B:+S`, as `plan --load-range`).
        #[arg(long, value_name = "A:B:xF")]
        load_range: Option<String>,
        /// The HTML file to write.
        #[arg(long, value_name = "FILE")]
        out: String,
    },
    /// Report a finished sweep's folder (its manifest.json and summary.csv).
    Sweep {
        /// The sweep's --out folder.
        dir: String,
        /// A summary.csv metric to draw (without `.mean`; repeatable; default: throughput,
        /// latency percentiles, per model, per pipeline).
        #[arg(long = "metric", value_name = "COLUMN")]
        metrics: Vec<String>,
        /// The HTML file to write.
        #[arg(long, value_name = "FILE")]
        out: String,
    },
    /// Replay measured runs (as `gpuslice validate`) and report measured against simulated.
    Validate {
        /// Folders to replay.
        #[arg(required = true)]
        dirs: Vec<String>,
        /// Model file or built-in for a model name, as NAME=FROM (as `validate --model`).
        #[arg(long = "model")]
        models: Vec<String>,
        /// Time slice for co-located runs [ms].
        #[arg(long)]
        quantum_ms: Option<f64>,
        /// Context-switch cost for co-located runs [us].
        #[arg(long)]
        switch_us: Option<f64>,
        /// The HTML file to write.
        #[arg(long, value_name = "FILE")]
        out: String,
    },
    /// Replay every run of `gpuslice accuracy` and report measured against simulated.
    Accuracy {
        /// Folder holding the measured runs (default: `traces` of this clone).
        #[arg(long)]
        root: Option<String>,
        /// The HTML file to write.
        #[arg(long, value_name = "FILE")]
        out: String,
    },
}

/// Write a report page whole or not at all, and say so on stdout (`gpuslice report` only).
fn write(path: &str, html: &str, announce: bool) -> Result<()> {
    write_atomic(path, html)?;
    if announce {
        let n = report::chart_count(html);
        crate::cli::print_out(&format!("wrote {path} ({n} chart{})\n", if n == 1 { "" } else { "s" }))?;
    }
    Ok(())
}

/// `gpuslice report ...`: the exit status (as the command it reports: `plan` 1 without a plan,
/// `validate` 2 when a folder could not be replayed).
pub fn run_report(args: &ReportArgs) -> Result<u8> {
    match &args.what {
        ReportWhat::Run { scenario, seed, set, out } => {
            let sc = crate::cli::load_scenario_with(scenario.as_deref(), set)?;
            let source = scenario.as_deref().unwrap_or(files::DEFAULT_SCENARIO_NAME);
            if sc.variants.is_empty() {
                return Err(Error::input(
                    source,
                    "variant",
                    "no [[variant]] to run: a file without variants is a planning spec (`gpuslice report plan FILE`)",
                ));
            }
            let runs = crate::sim::detail::run_scenario_detailed(&sc, *seed)?;
            write(out, &run_html(&sc, source, set, *seed, &runs), true)?;
            Ok(0)
        }
        ReportWhat::Plan {
            file,
            set,
            load_range,
            out,
        } => {
            let args = crate::cli::plan::PlanArgs {
                file: file.clone(),
                format: crate::cli::Format::Table,
                emit_scenario: None,
                emit_k8s: None,
                load_range: load_range.clone(),
                set: set.clone(),
                report: Some(out.clone()),
                top: crate::cli::plan::DEFAULT_TOP,
                max_time: None,
                quiet: true,
            };
            crate::cli::plan::run_plan(&args)
        }
        ReportWhat::Sweep { dir, metrics, out } => {
            write(out, &sweep_html(dir, metrics)?, true)?;
            Ok(0)
        }
        ReportWhat::Validate {
            dirs,
            models,
            quantum_ms,
            switch_us,
            out,
        } => {
            let (map, ts) = super::validate_options(models, dirs, *quantum_ms, *switch_us)?;
            let outcomes = super::replay_dirs(dirs, &map, ts);
            write_validate(out, (&validate_title(dirs), "gpuslice validate"), &outcomes, true)?;
            Ok(super::failed_status(&outcomes))
        }
        ReportWhat::Accuracy { root, out } => {
            let root = root.clone().unwrap_or_else(crate::validate::accuracy::default_traces_root);
            if !Path::new(&root).is_dir() {
                return Err(Error::input(
                    &root,
                    "",
                    "no such folder of measured runs: pass --root with the `traces` folder of a gpuslice clone",
                ));
            }
            let dirs: Vec<String> = crate::validate::accuracy::ACCURACY_RUNS
                .iter()
                .map(|(g, r)| format!("{root}/{g}/{r}"))
                .chain(
                    crate::validate::accuracy::SPATIAL_RUNS
                        .iter()
                        .map(|r| format!("{root}/{}/{r}", crate::validate::accuracy::SPATIAL_DIR)),
                )
                .collect();
            let outcomes = super::replay_dirs(&dirs, &Default::default(), crate::validate::TsParams::default());
            write_validate(out, ("accuracy: every measured run replayed", "gpuslice accuracy"), &outcomes, true)?;
            Ok(super::failed_status(&outcomes))
        }
    }
}

/// The run report's HTML.
pub fn run_html(
    sc: &crate::scenario::Scenario,
    source: &str,
    edits: &[String],
    seed: u64,
    runs: &[(crate::sim::RunSummary, crate::sim::detail::RunDetail)],
) -> String {
    let (summaries, details): (Vec<_>, Vec<_>) = runs.iter().cloned().unzip();
    report::run::run_report(&report::run::RunInput {
        scenario: sc,
        source,
        edits,
        seed,
        runs: &summaries,
        details: &details,
    })
}

/// `run --report FILE`: write the report of runs already made.
pub fn write_run(
    path: &str,
    sc: &crate::scenario::Scenario,
    source: &str,
    edits: &[String],
    seed: u64,
    runs: &[(crate::sim::RunSummary, crate::sim::detail::RunDetail)],
) -> Result<()> {
    write(path, &run_html(sc, source, edits, seed, runs), false)
}

/// What `plan` hands over once it has an answer: the plan at the spec's load, or the projection
/// levels `(load, best)` in `unit` (`users` or `multiplier`).
pub enum PlanOutcome<'a> {
    /// `gpuslice plan SPEC`.
    Plan(&'a PlanResult),
    /// `gpuslice plan SPEC --load-range R`.
    Projection {
        /// `users` or `multiplier`.
        unit: &'a str,
        /// Each level and the cheapest candidate of the family kept at every level.
        levels: Vec<(f64, Option<&'a Candidate>)>,
        /// Which GPU type and regime was kept, and why.
        family: String,
    },
}

/// `plan --report FILE` (and `report plan`): the plan's page. With a projection, the plan at the
/// spec's own load is computed here too (the planner with its headroom search, as `plan` runs
/// it), so that the page always has the ranked candidates.
/// `announce`: say on stdout what was written (`report plan`, whose stdout has nothing else).
pub fn write_plan(
    path: &str,
    (file, edits): (&str, &[String]),
    raw: &RawScenario,
    src: &Sources,
    outcome: PlanOutcome,
    announce: bool,
) -> Result<()> {
    let own;
    let (result, projection) = match outcome {
        PlanOutcome::Plan(r) => (r, None),
        PlanOutcome::Projection { unit, levels, family } => {
            own = crate::plan::plan_at(raw, src, 1.0, true, &|_, _| {})?;
            (&own, Some(report::plan::Projection { unit, levels, family }))
        }
    };
    let html = report::plan::plan_report(&report::plan::PlanInput {
        spec: file,
        edits,
        result,
        projection,
    });
    write(path, &html, announce)
}

/// The sweep report of a sweep's `--out` folder.
pub fn sweep_html(dir: &str, metrics: &[String]) -> Result<String> {
    let mpath = Path::new(dir).join("manifest.json");
    let mname = mpath.display().to_string();
    let text = files::read_text(&mpath, files::MAX_TEXT_BYTES, "a sweep manifest")?;
    let manifest: crate::sweep::manifest::Manifest = serde_json::from_str(&text).map_err(|e| {
        Error::input(
            &mname,
            "",
            format!("not a sweep manifest: {}", crate::gpu::one_line(&e.to_string())),
        )
    })?;
    let spath = Path::new(dir).join("summary.csv");
    let sname = spath.display().to_string();
    // Capped as a trace is: a summary has a row per configuration and variant, far fewer.
    let data = files::read_text(&spath, files::MAX_TRACE_BYTES, "a sweep summary")?;
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).from_reader(data.as_bytes());
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| Error::input(&sname, format!("line {}", i + 1), crate::gpu::one_line(&e.to_string())))?;
        rows.push(rec.iter().map(str::to_string).collect());
    }
    if rows.is_empty() {
        return Err(Error::input(
            &sname,
            "line 1",
            "no header: the sweep has not finished (run it, or `sweep --resume`)",
        ));
    }
    let header = rows.remove(0);
    let axes: Vec<(String, Vec<String>)> = manifest
        .axes
        .iter()
        .map(|a| (a.path.clone(), a.values.iter().map(crate::scenario::edit::cell_text).collect()))
        .collect();
    report::sweep::sweep_report(&report::sweep::SweepInput {
        name: &manifest.spec.name,
        description: &manifest.spec.description,
        dir,
        file: &sname,
        axes,
        seeds: manifest.seeds.len(),
        runs: manifest.runs,
        header,
        rows,
        metrics,
    })
}

/// `sweep --report FILE`: the report of the sweep just written to `dir`.
pub fn write_sweep(path: &str, dir: &str) -> Result<()> {
    write(path, &sweep_html(dir, &[])?, false)
}

/// The title of a validation page.
pub fn validate_title(dirs: &[String]) -> String {
    match dirs {
        [one] => format!("{one}: validation report"),
        _ => format!("{} measured runs: validation report", dirs.len()),
    }
}

/// The validation page of `outcomes` (`validate --report FILE`, `report validate`,
/// `report accuracy`): the replayed folders' curves, and why the others could not be replayed.
pub(super) fn write_validate(path: &str, (title, source): (&str, &str), outcomes: &[super::DirOutcome], announce: bool) -> Result<()> {
    let mut runs = Vec::new();
    let mut failed = Vec::new();
    for o in outcomes {
        match o {
            super::DirOutcome::Done(v) => runs.push(v),
            super::DirOutcome::Failed { dir, error } => failed.push((dir.clone(), error.clone())),
        }
    }
    let html = report::validate::validate_report(&report::validate::ValidateInput {
        title,
        runs: &runs,
        failed: &failed,
        source,
    });
    write(path, &html, announce)
}
