//! `gpuslice sweep` and `gpuslice sweep-merge`: the I/O around [`crate::sweep`].
//!
//! Nothing is lost: manifest.json is written (atomically) before the first run; results.csv gets
//! its header, then each run's rows in one append and flush, in run-id order (finished runs wait
//! in a small buffer until every earlier run is written); `--resume` keeps the complete runs of
//! an existing results.csv (cutting a run that a kill left half-written) and runs the rest;
//! Ctrl-C (or SIGTERM) stops launching runs, lets the ones in flight finish and be written, and writes the
//! summary; summary.csv (and results.csv when it must be re-sorted) are written to a temporary
//! file and renamed.

use crate::error::{Error, Result};
use crate::scenario::files::{check_output, load_sources, read_scenario, read_text, write_atomic, Sources, MAX_TEXT_BYTES};
use crate::sweep::check::{self, Failure};
use crate::sweep::layout::{csv_line, Layout};
use crate::sweep::manifest::{Manifest, Shard};
use crate::sweep::{self, execute, Plan};
use clap::ValueEnum;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Seek, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit status of a sweep whose checks failed.
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit status of a sweep stopped by Ctrl-C or SIGTERM (the shell's 128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// What `sweep` and `sweep-merge` print on stdout at the end.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Default)]
pub enum SweepFormat {
    /// The rows that break a `--check`, as CSV (nothing when every check passes).
    #[default]
    Csv,
    /// One JSON document: runs done, files, checks and the rows that break them.
    Json,
}

/// Arguments of `gpuslice sweep`.
#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    /// Scenario TOML file with a `[sweep]` table.
    pub spec: String,
    /// Output folder.
    #[arg(long)]
    pub out: String,
    /// Worker threads (default: one per core); the files are the same for any number.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run every N-th run starting at the I-th (I from 0), e.g. `--shard $JOB_COMPLETION_INDEX/8`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Continue the results.csv in --out: skip the runs it holds.
    #[arg(long)]
    pub resume: bool,
    /// Gate: exit 1 when a row breaks `[variant=NAME:] COLUMN OP NUMBER` (OP: < <= > >=;
    /// COLUMN or mean(COLUMN), ci_hi(COLUMN), ...), e.g. 'stages.voice-turn.latency_ms.p95 < 2000'
    /// (repeatable; docs/src/sweeps.md).
    #[arg(long = "check", value_name = "EXPR")]
    pub checks: Vec<String>,
    /// What stdout gets: the rows that break a check as CSV, or one JSON report.
    #[arg(long, value_enum, default_value_t = SweepFormat::Csv)]
    pub format: SweepFormat,
    /// Also write an HTML report of the sweep (as `gpuslice report sweep DIR`) once it is done.
    #[arg(long, value_name = "FILE")]
    pub report: Option<String>,
}

/// Set by Ctrl-C or SIGTERM (a Kubernetes eviction): launch no more runs.
static STOP: AtomicBool = AtomicBool::new(false);

fn install_ctrlc() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // A second Ctrl-C aborts at once; results.csv then holds whole runs plus at most a
        // partial last one, which --resume cuts.
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
            eprintln!("\ngpuslice: stopping after the runs in flight (again to abort)");
        });
    });
}

/// Runs of a results.csv, each its rows (fields) in variant order, in file order.
type Runs = Vec<(u64, Vec<Vec<String>>)>;

/// Read a results.csv written for `plan` (`shard`'s runs only). With `lenient`, a last run that
/// a kill left incomplete is dropped and the byte length to keep is returned; otherwise any
/// damage is an error naming the line.
fn read_results(path: &Path, layout: &Layout, plan: &Plan, shard: Shard, lenient: bool) -> Result<(Runs, u64)> {
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut crate::scenario::files::open_regular(path)?, &mut data).map_err(|e| Error::io(path.display(), e))?;
    let name = path.display().to_string();
    let header = layout.header();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data.as_slice());
    let mut rec = csv::StringRecord::new();
    let mut runs: Runs = Vec::new();
    let mut starts: Vec<u64> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut line = 0u64;
    let mut keep = 0u64;
    let complete_tail = data.ends_with(b"\n");
    loop {
        let start = rdr.position().byte();
        line = rdr.position().line().max(line);
        let more = match rdr.read_record(&mut rec) {
            Ok(m) => m,
            Err(_) if lenient => break,
            Err(e) => return Err(Error::input(&name, format!("line {line}"), crate::gpu::one_line(&e.to_string()))),
        };
        if !more {
            break;
        }
        let end = rdr.position().byte();
        let partial = end >= data.len() as u64 && !complete_tail;
        if start == 0 {
            if partial && lenient {
                break;
            }
            if rec.iter().ne(header.iter().map(String::as_str)) {
                return Err(Error::input(
                    &name,
                    "line 1",
                    "the header is not the columns this sweep writes: it belongs to another spec or version (choose another --out)",
                ));
            }
            keep = end;
            continue;
        }
        if partial || rec.len() != header.len() {
            if lenient && (partial || end >= data.len() as u64) {
                break;
            }
            return Err(Error::input(
                &name,
                format!("line {line}"),
                format!("has {} fields, expected {}", rec.len(), header.len()),
            ));
        }
        let id: u64 = rec
            .get(0)
            .and_then(|s| s.parse().ok())
            .filter(|&id| id < plan.runs() && shard.contains(id))
            .ok_or_else(|| {
                Error::input(
                    &name,
                    format!("line {line}"),
                    format!("run '{}' is not a run of this sweep or shard", rec.get(0).unwrap_or("")),
                )
            })?;
        let row: Vec<String> = rec.iter().map(str::to_string).collect();
        match runs.last_mut() {
            Some((last, rows)) if *last == id => rows.push(row),
            _ => {
                if !seen.insert(id) {
                    return Err(Error::input(&name, format!("line {line}"), format!("run {id} appears twice")));
                }
                runs.push((id, vec![row]));
                starts.push(start);
            }
        }
        keep = end;
    }
    if keep == 0 && !lenient {
        return Err(Error::input(&name, "line 1", "no header"));
    }
    // Every run has one row per variant; a kill can cut only the last.
    for (i, (id, rows)) in runs.iter().enumerate() {
        let want = plan.configs[plan.run(*id).0].raw.variant.len();
        if rows.len() != want {
            if lenient && i + 1 == runs.len() && rows.len() < want {
                keep = starts[i];
                runs.pop();
                break;
            }
            return Err(Error::input(
                &name,
                "",
                format!("run {id} has {} rows, expected one per variant ({want})", rows.len()),
            ));
        }
    }
    Ok((runs, keep))
}

/// Add the model files and traces that configurations reference beyond the spec's own.
fn extend_sources(src: &mut Sources, plan: &Plan, dir: Option<&Path>) -> Result<()> {
    for c in &plan.configs {
        let missing_model = c
            .raw
            .models
            .values()
            .any(|m| m.model_file().is_some_and(|f| !src.models.contains_key(f)));
        let missing_trace = c
            .raw
            .workload
            .iter()
            .any(|w| w.trace.as_ref().is_some_and(|t| !src.traces.contains_key(t)));
        if missing_model || missing_trace {
            let more = load_sources(&c.raw, &plan.file, dir)?;
            src.models.extend(more.models);
            src.traces.extend(more.traces);
        }
    }
    Ok(())
}

/// `gpuslice sweep`: the exit status (0, [`EXIT_CHECK_FAILED`], [`EXIT_INTERRUPTED`]) or an error.
pub fn run_sweep(args: &SweepArgs) -> Result<u8> {
    // A malformed check is refused before the spec is read, one naming no column before every
    // configuration is built (below).
    let syntax = args.checks.iter().map(|c| check::parse_syntax(c)).collect::<Result<Vec<_>>>()?;
    let shard = match &args.shard {
        Some(s) => Shard::parse(s)?,
        None => Shard::ALL,
    };
    // More threads than any machine has cores only costs memory (a stack each).
    if let Some(t) = args.threads.filter(|t| !(1..=1024).contains(t)) {
        return Err(Error::input("--threads", "", format!("must be between 1 and 1024, got '{t}'")));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .map_err(|e| Error::input("--threads", "", e.to_string()))?;
    let (raw, mut src) = read_scenario(&args.spec)?;
    let plan = sweep::plan(&raw, &args.spec)?;
    extend_sources(&mut src, &plan, Path::new(&args.spec).parent())?;
    if !syntax.is_empty() {
        if let Some(cols) = pool.install(|| sweep::sample_columns(&plan, &src)) {
            let sample = Layout::new(&plan, cols)?;
            for s in &syntax {
                s.early_check(&sample)?;
            }
        }
    }
    let layout = Layout::new(&plan, pool.install(|| sweep::check_columns(&plan, &src))?)?;
    let checks = syntax.iter().map(|s| s.resolve(&layout)).collect::<Result<Vec<_>>>()?;
    let manifest_text = crate::out::to_json(&Manifest::new(&plan, &layout, shard));

    let dir = Path::new(&args.out);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    let results = dir.join("results.csv");
    let manifest = dir.join("manifest.json");
    let summary = dir.join("summary.csv");
    for p in [&results, &manifest, &summary] {
        check_output(p)?;
    }
    let mut done = std::collections::HashSet::new();
    let exists = results.exists() && std::fs::metadata(&results).map(|m| m.len() > 0).unwrap_or(false);
    let mut file = if exists {
        if !args.resume {
            return Err(Error::input(
                results.display().to_string(),
                "",
                "exists: pass --resume to continue it, or choose another --out",
            ));
        }
        let old = read_text(&manifest, MAX_TEXT_BYTES, "a sweep manifest")?;
        if old != manifest_text {
            return Err(Error::input(
                manifest.display().to_string(),
                "",
                "was written by another spec, shard or version: resume needs the same ones (or choose another --out)",
            ));
        }
        let (runs, keep) = read_results(&results, &layout, &plan, shard, true)?;
        done.extend(runs.iter().map(|r| r.0));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&results)
            .map_err(|e| Error::io(results.display(), e))?;
        f.set_len(keep).map_err(|e| Error::io(results.display(), e))?;
        f.seek(std::io::SeekFrom::End(0)).map_err(|e| Error::io(results.display(), e))?;
        if keep == 0 {
            f.write_all(csv_line(&layout.header()).as_bytes())
                .map_err(|e| Error::io(results.display(), e))?;
        }
        f
    } else {
        write_atomic(&manifest.display().to_string(), &manifest_text)?;
        let mut f = std::fs::File::create(&results).map_err(|e| Error::io(results.display(), e))?;
        f.write_all(csv_line(&layout.header()).as_bytes())
            .and_then(|_| f.flush())
            .map_err(|e| Error::io(results.display(), e))?;
        f
    };
    let todo: Vec<u64> = shard.ids(plan.runs()).filter(|id| !done.contains(id)).collect();

    STOP.store(false, Ordering::SeqCst);
    install_ctrlc();
    let bar = progress_bar(todo.len() as u64);
    let started = std::time::Instant::now();
    let mut append = |text: &str| {
        file.write_all(text.as_bytes())
            .and_then(|_| file.flush())
            .map_err(|e| Error::io(results.display(), e))
    };
    execute(&pool, &plan, &layout, &src, &todo, &STOP, &bar, &mut append)?;
    bar.finish_and_clear();
    drop(file);
    let interrupted = STOP.load(Ordering::SeqCst);

    let (runs, _) = read_results(&results, &layout, &plan, shard, false)?;
    let runs = sorted(&results, &layout, runs)?;
    write_atomic(&summary.display().to_string(), &layout.summary_csv(&plan, &runs))?;
    if let Some(path) = &args.report {
        crate::cli::report::write_sweep(path, &args.out)?;
    }
    let failures = check::evaluate(&checks, &runs, &|id| plan.run(id).0);
    let in_shard = shard.ids(plan.runs()).count();
    let report = Report {
        out: &args.out,
        runs_total: in_shard as u64,
        runs_done: runs.len() as u64,
        runs_this_call: runs.len().saturating_sub(done.len()) as u64,
        seconds: started.elapsed().as_secs_f64(),
        interrupted,
        checks: &args.checks,
        failures: &failures,
    };
    finish(&plan, &layout, &report, args.format, std::io::stderr().is_terminal())
}

/// Runs in id order; rewrites results.csv (atomically) when they were not, e.g. after a
/// resume filled a gap left by Ctrl-C.
fn sorted(path: &Path, layout: &Layout, mut runs: Runs) -> Result<Runs> {
    if runs.windows(2).all(|w| w[0].0 < w[1].0) {
        return Ok(runs);
    }
    runs.sort_by_key(|r| r.0);
    write_atomic(&path.display().to_string(), &results_text(layout, &runs))?;
    Ok(runs)
}

fn results_text(layout: &Layout, runs: &Runs) -> String {
    let mut text = csv_line(&layout.header());
    for (_, rows) in runs {
        for r in rows {
            text.push_str(&csv_line(r));
        }
    }
    text
}

fn progress_bar(len: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(Some(len), indicatif::ProgressDrawTarget::stderr());
    let rate = |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(w, "{:.1} runs/s", s.per_sec());
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template("{wide_bar} {pos}/{len} runs  {rate}  ETA {eta}") {
        bar.set_style(style.with_key("rate", rate));
    }
    bar
}

/// What is printed at the end.
struct Report<'a> {
    out: &'a str,
    runs_total: u64,
    runs_done: u64,
    runs_this_call: u64,
    seconds: f64,
    interrupted: bool,
    checks: &'a [String],
    failures: &'a [Failure],
}

/// Print the report; the exit status.
fn finish(plan: &Plan, layout: &Layout, r: &Report, format: SweepFormat, terminal: bool) -> Result<u8> {
    let axes = layout.axes.len();
    let text = match format {
        SweepFormat::Csv if r.failures.is_empty() => String::new(),
        SweepFormat::Csv => {
            let mut h = vec!["run".to_string()];
            h.extend(layout.axes.iter().cloned());
            h.extend(["seed", "variant", "check", "column", "value"].map(String::from));
            let mut s = csv_line(&h);
            for f in r.failures {
                let mut row: Vec<&str> = f.row.iter().take(axes + 3).map(String::as_str).collect();
                row.extend([f.check.as_str(), f.column.as_str(), f.value.as_str()]);
                s.push_str(&csv_line(&row));
            }
            s
        }
        SweepFormat::Json => {
            let failures: Vec<serde_json::Value> = r
                .failures
                .iter()
                .map(|f| {
                    let (c, seed) = plan.run(f.run);
                    let config: serde_json::Map<String, serde_json::Value> = plan
                        .axes
                        .iter()
                        .zip(&plan.configs[c].values)
                        .map(|(a, &k)| (a.path.clone(), serde_json::to_value(&a.values[k]).unwrap_or_default()))
                        .collect();
                    let value = f.value.parse::<f64>().ok().and_then(serde_json::Number::from_f64);
                    // A statistic over seeds has no one seed: `seeds` says how many.
                    let seed = if f.seeds.is_some() { None } else { Some(seed) };
                    serde_json::json!({
                        "run": f.run, "configuration": config, "seed": seed, "seeds": f.seeds,
                        "variant": f.row.get(layout.variant_col()), "check": f.check, "column": f.column,
                        "value": value.map_or(serde_json::Value::String(f.value.clone()), serde_json::Value::Number),
                    })
                })
                .collect();
            crate::out::to_json(&serde_json::json!({
                "out": r.out, "runs": r.runs_total, "runs_done": r.runs_done, "runs_this_call": r.runs_this_call,
                "interrupted": r.interrupted, "checks": r.checks, "failures": failures,
            }))
        }
    };
    super::print_out(&text)?;
    // One line on stderr whatever happened, so that a CI log shows what a passing gate checked;
    // the rate only on a terminal (a log should not differ between two runs of the same sweep).
    let rate = if terminal {
        format!(", {:.1} s, {:.1} runs/s", r.seconds, r.runs_this_call as f64 / r.seconds.max(1e-9))
    } else {
        String::new()
    };
    let verdict = match (r.checks.len(), r.failures.len()) {
        (0, _) => "no --check".to_string(),
        (1, 0) => "the --check passed on every row".to_string(),
        (n, 0) => format!("all {n} --check passed on every row"),
        (n, f) => format!("{f} rows break a --check (of {n})"),
    };
    eprintln!(
        "gpuslice: {} of {} runs in {} ({} this call{rate}); {verdict}{}",
        r.runs_done,
        r.runs_total,
        r.out,
        r.runs_this_call,
        if r.interrupted { "; interrupted" } else { "" }
    );
    Ok(if r.interrupted {
        EXIT_INTERRUPTED
    } else if r.failures.is_empty() {
        0
    } else {
        EXIT_CHECK_FAILED
    })
}

/// `gpuslice sweep-merge`: join shard folders into the files one unsharded run writes.
pub fn run_merge(dirs: &[String], out: &str, checks: &[String], format: SweepFormat) -> Result<u8> {
    let started = std::time::Instant::now();
    for c in checks {
        check::parse_syntax(c)?;
    }
    let mut base: Option<(Manifest, String)> = None;
    for d in dirs {
        let p = Path::new(d).join("manifest.json");
        let text = read_text(&p, MAX_TEXT_BYTES, "a sweep manifest")?;
        let mut m: Manifest =
            serde_json::from_str(&text).map_err(|e| Error::input(p.display().to_string(), "", format!("not a sweep manifest: {e}")))?;
        m.shard = None;
        match &base {
            None => base = Some((m, p.display().to_string())),
            Some((b, first)) if *b != m => {
                return Err(Error::input(
                    p.display().to_string(),
                    "",
                    format!("is not a shard of the same sweep as {first} (spec, seeds or version differ)"),
                ))
            }
            Some(_) => {}
        }
    }
    let Some((manifest, mpath)) = base else {
        return Err(Error::input("sweep-merge", "", "no folders given"));
    };
    let plan = sweep::plan(&manifest.spec, &mpath)?;
    if plan.runs() != manifest.runs {
        return Err(Error::input(
            &mpath,
            "runs",
            format!("says {}, the spec gives {}", manifest.runs, plan.runs()),
        ));
    }
    let layout = Layout::new(&plan, manifest.metrics.clone())?;
    let parsed = checks.iter().map(|c| check::parse_check(c, &layout)).collect::<Result<Vec<_>>>()?;
    let mut all: BTreeMap<u64, Vec<Vec<String>>> = BTreeMap::new();
    for d in dirs {
        let p = Path::new(d).join("results.csv");
        let (runs, _) = read_results(&p, &layout, &plan, Shard::ALL, false)?;
        for (id, rows) in runs {
            match all.get(&id) {
                Some(prev) if *prev != rows => {
                    return Err(Error::input(
                        p.display().to_string(),
                        "",
                        format!("run {id} differs from the same run in another folder"),
                    ))
                }
                Some(_) => {}
                None => {
                    all.insert(id, rows);
                }
            }
        }
    }
    let missing: Vec<u64> = (0..plan.runs()).filter(|id| !all.contains_key(id)).collect();
    if let Some(first) = missing.first() {
        return Err(Error::input(
            "sweep-merge",
            "",
            format!(
                "{} of {} runs are missing (first: run {first}); finish the shards (--resume) or add their folders",
                missing.len(),
                plan.runs()
            ),
        ));
    }
    let runs: Runs = all.into_iter().collect();
    let dir = Path::new(out);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    let path = |n: &str| dir.join(n).display().to_string();
    write_atomic(&path("manifest.json"), &crate::out::to_json(&manifest))?;
    write_atomic(&path("results.csv"), &results_text(&layout, &runs))?;
    write_atomic(&path("summary.csv"), &layout.summary_csv(&plan, &runs))?;
    let failures = check::evaluate(&parsed, &runs, &|id| plan.run(id).0);
    let report = Report {
        out,
        runs_total: plan.runs(),
        runs_done: runs.len() as u64,
        runs_this_call: 0,
        seconds: started.elapsed().as_secs_f64(),
        interrupted: false,
        checks,
        failures: &failures,
    };
    finish(&plan, &layout, &report, format, false)
}
