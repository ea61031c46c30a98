//! `gpuslice plan`: the I/O around [`crate::plan`]: reading the spec, the progress bar, the
//! report, and the scenario and Kubernetes files of the answer (each written atomically).

use crate::cli::Format;
use crate::error::{Error, Result};
use crate::out::export::{emitted_scenario, k8s_files, k8s_outputs};
use crate::plan::{fmt_value, Candidate, PlanResult};
use crate::scenario::files::{check_targets, read_scenario, write_all_atomic};
use crate::scenario::raw::RawScenario;
use std::io::IsTerminal;
use std::path::Path;

/// Exit status when no candidate meets the SLOs.
pub const EXIT_NO_PLAN: u8 = 1;
/// Default rows of the candidates table.
pub const DEFAULT_TOP: usize = 20;
/// Seconds between progress lines when stderr is not a terminal.
const PROGRESS_EVERY_S: u64 = 5;

/// Arguments of `gpuslice plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Planning spec: models, workloads, `[slo]` and optionally `[plan]`.
    pub file: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the best candidate as a one-variant scenario (for `gpuslice run`).
    #[arg(long, value_name = "FILE")]
    pub emit_scenario: Option<String>,
    /// Write the best candidate's Kubernetes / GPU Operator files into this folder.
    #[arg(long, value_name = "DIR")]
    pub emit_k8s: Option<String>,
    /// The cheapest plan at each load level: `A:B:xF` or `A:B:+S`, in users (specs with
    /// closed-loop users) or as a multiplier of every rate.
    #[arg(long, value_name = "A:B:xF", conflicts_with_all = ["emit_scenario", "emit_k8s"])]
    pub load_range: Option<String>,
    /// Edit the spec first: PATH=VALUE as `run --set` (e.g. 'workload[0].users=500').
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Also write an HTML report: the best per regime, the ranked candidates and their margins,
    /// the layout; with --load-range the projection too.
    #[arg(long, value_name = "FILE")]
    pub report: Option<String>,
    /// Rows of the candidates table (the JSON lists every candidate).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TOP)]
    pub top: usize,
    /// Stop the search after this many seconds and answer with the best found by then, with
    /// its bound gap (the answer then depends on the machine's speed).
    #[arg(long, value_name = "SECONDS")]
    pub max_time: Option<f64>,
    /// Print nothing on stdout (`gpuslice report plan`, which writes only the report).
    #[arg(skip)]
    pub quiet: bool,
}

/// Run `gpuslice plan`; the exit status (0 with a plan, 1 without).
pub fn run_plan(args: &PlanArgs) -> Result<u8> {
    let (mut raw, _) = read_scenario(&args.file)?;
    for a in &args.set {
        raw = crate::scenario::edit::set_raw(&raw, a, &args.file)?;
    }
    let src = crate::scenario::files::load_sources(&raw, &args.file, Path::new(&args.file).parent())?;
    let spec = crate::plan::spec(&raw, &args.file)?;
    if !raw.variant.is_empty() {
        return Err(Error::input(
            &args.file,
            "variant",
            format!(
                "a planning spec has no [[variant]] (the planner builds the deployments), got {}: remove them, or simulate them with `gpuslice run`",
                raw.variant.len()
            ),
        ));
    }
    let top = match &args.load_range {
        Some(range) => {
            let levels = parse_range(range)?;
            check_user_levels(&raw, range, &levels)?;
            let users: u32 = raw.workload.iter().filter_map(|w| w.users).sum();
            let last = *levels.last().expect("at least one level");
            if users > 0 {
                last / f64::from(users)
            } else {
                last
            }
        }
        None => 1.0,
    };
    check_plan_work(&raw, &src, spec.seeds.len(), top)?;
    check_emit_targets(args, &raw)?;
    if let Some(range) = &args.load_range {
        return run_range(args, &raw, &src, range);
    }
    if let Some(t) = args.max_time {
        if !(t.is_finite() && t > 0.0) {
            return Err(Error::input("--max-time", "", format!("must be a positive number of seconds, got '{t}'")));
        }
    }
    let bar = progress_bar();
    let start = std::time::Instant::now();
    let last_line = std::sync::Mutex::new(start);
    let tick = |t: &crate::plan::Tick| {
        bar.set_length(t.total as u64);
        bar.set_position(t.done as u64);
        if bar.is_hidden() && !args.quiet {
            let mut last = last_line.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed().as_secs() >= PROGRESS_EVERY_S {
                *last = std::time::Instant::now();
                eprintln!("{}", progress_line(t, start.elapsed().as_secs()));
            }
        }
    };
    let stop = || args.max_time.is_some_and(|t| start.elapsed().as_secs_f64() >= t);
    let result = crate::plan::plan_with(&raw, &src, 1.0, true, crate::plan::Options { tick: &tick, stop: &stop })?;
    bar.finish_and_clear();
    if result.cut_short {
        eprintln!(
            "gpuslice plan: --max-time {}s ran out: the answer is the best found so far{}",
            crate::error::num(args.max_time.unwrap_or(0.0)),
            result.gap_pct.map(|g| format!(" (within {g:.1} % of the lower bound)")).unwrap_or_default()
        );
    }
    let text = match args.format {
        Format::Json => crate::out::to_json(&result),
        Format::Table => plan_table_top(&result, args.top),
    };
    if !args.quiet {
        crate::cli::print_out(&text)?;
    }
    if let Some(path) = &args.report {
        let outcome = crate::cli::report::PlanOutcome::Plan(&result);
        crate::cli::report::write_plan(path, (&args.file, &args.set), &raw, &src, outcome, args.quiet)?;
    }
    let Some(best) = &result.best else {
        return Ok(EXIT_NO_PLAN);
    };
    // Everything is rendered before anything is written, and then written all or none.
    let mut outputs = Vec::new();
    if let Some(path) = &args.emit_scenario {
        outputs.push((path.clone(), emitted_scenario(&raw, &args.file, path, best)?));
    }
    if let Some(dir) = &args.emit_k8s {
        outputs.extend(k8s_outputs(dir, &k8s_files(&args.file, &raw.name, best)?));
    }
    let make: Vec<&str> = args.emit_k8s.iter().map(String::as_str).collect();
    write_all_atomic(&outputs, &make)?;
    Ok(0)
}

/// What can be told of the `--emit-*` outputs before planning (which may take minutes): the
/// targets are not folders or special files, and every model name can name a Kubernetes
/// Deployment (the names that depend on the plan are checked on it, before anything is written).
fn check_emit_targets(args: &PlanArgs, raw: &RawScenario) -> Result<()> {
    let make: Vec<&str> = args.emit_k8s.iter().map(String::as_str).collect();
    let files: Vec<&str> = args.emit_scenario.iter().map(String::as_str).collect();
    check_targets(&files, &make)?;
    if args.emit_k8s.is_some() {
        for name in raw.models.keys() {
            crate::out::k8s::check_dns_label(
                name,
                &format!("models.{name}"),
                "model name (--emit-k8s makes it a Deployment name)",
            )
            .map_err(|e| e.in_file(&args.file))?;
            let max = crate::out::k8s::MAX_MODEL_NAME_LEN;
            if name.len() > max {
                return Err(Error::input(
                    &args.file,
                    format!("models.{name}"),
                    format!(
                        "model name '{name}' is {} characters; --emit-k8s takes at most {max} (a Deployment name adds -pool<k> and a MIG profile within Kubernetes' 63)",
                        name.len()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The progress line printed every few seconds when stderr is not a terminal.
fn progress_line(t: &crate::plan::Tick, elapsed_s: u64) -> String {
    format!(
        "planning: {}/{} structures, {} simulations, {elapsed_s} s, best so far {}",
        t.done,
        t.total,
        t.simulations,
        t.best_usd_per_hour.map_or("none".into(), |b| format!("${b:.2}/h"))
    )
}

fn progress_bar() -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(Some(1), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template("planning {bar:30} {pos}/{len} structures, {elapsed}") {
        bar.set_style(style);
    }
    bar
}

/// The report of one plan as a table (every candidate).
pub fn plan_table(r: &PlanResult) -> String {
    plan_table_top(r, usize::MAX)
}

/// The report of one plan as a table, the first `top` candidates.
pub fn plan_table_top(r: &PlanResult, top: usize) -> String {
    let mut out = format!(
        "plan: {}   ({} structures, {} skipped by their bound, {} simulations{}{})\nSLOs: {}\n",
        r.scenario,
        r.structures,
        r.pruned,
        r.simulations,
        if r.method == "exact" { "" } else { ", decomposed search" },
        if r.cut_short { ", cut short by --max-time" } else { "" },
        r.slo
            .iter()
            .map(|s| format!("{} {} {}", s.key, if s.is_max() { "<=" } else { ">=" }, s.bound))
            .collect::<Vec<_>>()
            .join(", ")
    );
    match &r.best {
        Some(b) => out.push_str(&format!(
            "\nbest: {}\n      {} GPU{} on {}, ${:.2}/h (the GPUs alone ${:.2}/h){}{}\n      lower bound on the GPUs ${:.2}/h: the best's GPUs are within {:.1} % of it\n      lower bound on the nodes ${:.2}/h: the best's nodes are within {:.1} % of it\n",
            b.name,
            b.gpus,
            if b.gpus == 1 { "" } else { "s" },
            nodes_text(b),
            b.nodes.node_cost_per_hour_usd,
            b.cost_per_hour_usd,
            headroom_text(b),
            match b.fresh_seeds_pass {
                Some(true) => ", SLOs held on fresh seeds",
                _ => "",
            },
            r.lower_bound_usd_per_hour,
            r.gap_pct.unwrap_or(0.0),
            r.node_lower_bound_usd_per_hour,
            r.node_gap_pct.unwrap_or(0.0)
        )),
        None => out.push_str(&format!("\nno plan: {}\n", r.reason.as_deref().unwrap_or("no candidate"))),
    }
    out.push_str("\nbest per regime:\n");
    for (regime, c) in &r.per_regime {
        match c {
            Some(c) => out.push_str(&format!(
                "  {regime:<12} {:>3} {:<4} {:>3} {:<5}  ${:>7.2}/h  {}\n",
                c.gpus,
                if c.gpus == 1 { "GPU" } else { "GPUs" },
                c.nodes.nodes,
                if c.nodes.nodes == 1 { "node" } else { "nodes" },
                c.nodes.node_cost_per_hour_usd,
                c.name
            )),
            None => out.push_str(&format!("  {regime:<12} none meets the SLOs\n")),
        }
    }
    out.push_str("\ncandidates (cheapest nodes first; $/h: the nodes; GPU $/h: the GPUs alone; * = service times beyond the measured tables or derived, with the share of GPU time so costed):\n");
    let keys: Vec<&String> = r.slo.iter().map(|s| &s.key).collect();
    let mut header = format!(
        "{:>3}  {:<11} {:<10} {:>4} {:>5} {:>8} {:>8} {:>8}",
        "#", "regime", "gpu", "GPUs", "nodes", "$/h", "GPU $/h", "$/1M"
    );
    for k in &keys {
        header.push_str(&format!(" {:>w$}", k, w = k.len().max(8)));
    }
    header.push_str("  headroom  SLOs  fresh  deployment");
    out.push_str(&header);
    out.push('\n');
    for (i, c) in r.candidates.iter().enumerate().take(top) {
        let mut line = format!(
            "{:>3}  {:<11} {:<10} {:>4} {:>5} {:>8.2} {:>8.2} {:>8}",
            i + 1,
            c.regime.name(),
            c.gpu_type,
            c.gpus,
            c.nodes.nodes,
            c.nodes.node_cost_per_hour_usd,
            c.cost_per_hour_usd,
            c.usd_per_million.map_or("-".into(), |x| format!("{x:.2}"))
        );
        for k in &keys {
            line.push_str(&format!(
                " {:>w$}",
                fmt_value(c.slo_values.get(*k).copied().flatten()),
                w = k.len().max(8)
            ));
        }
        line.push_str(&format!(
            "  {:>8}  {:<4}  {:<5}  {}{}\n",
            c.headroom_pct.map_or("-".into(), |h| format!("{h:.0}%")),
            if c.meets_slo { "ok" } else { "FAIL" },
            match c.fresh_seeds_pass {
                Some(true) => "ok",
                Some(false) => "FAIL",
                None => "-",
            },
            c.name,
            crate::out::table::extrapolated_mark(c.extrapolated, c.extrapolated_pct)
        ));
        out.push_str(&line);
    }
    if r.candidates.len() > top {
        out.push_str(&format!("  ... {} more (--top N shows more; --format json lists all)\n", r.candidates.len() - top));
    }
    out
}

/// "1 node of 8 GPUs (GPUs 0-2)" or "2 nodes of 8 GPUs ([0, 1], [2])".
fn nodes_text(c: &Candidate) -> String {
    let n = &c.nodes;
    let lists: Vec<String> = n.node_gpus.iter().map(|g| format!("{g:?}")).collect();
    format!(
        "{} node{} of {} GPUs (plan GPUs by node: {})",
        n.nodes,
        if n.nodes == 1 { "" } else { "s" },
        n.gpus_per_node,
        lists.join(" ")
    )
}

fn headroom_text(c: &Candidate) -> String {
    match c.headroom_pct {
        Some(h) if h >= 300.0 => ", headroom at least +300 % load".into(),
        Some(h) => format!(", headroom +{h:.0} % load"),
        None => String::new(),
    }
}

/// Most requests one candidate evaluation of the planner may simulate (the spec's expected
/// requests times its seeds, at the highest `--load-range` level): the planner simulates tens
/// of candidates (each regime, GPU type and count searched), so a plan near the bound takes minutes
/// (the 2,000-user voice plan, 1.9e7, takes 89 s on two cores);
/// the bound stops an absurd spec at once (docs/src/limits.md).
pub const MAX_PLAN_REQUESTS: f64 = 2e7;

fn check_plan_work(raw: &RawScenario, src: &crate::scenario::files::Sources, seeds: usize, factor: f64) -> Result<()> {
    let mut base = raw.clone();
    base.variant.clear();
    base.sweep = None;
    base.plan = None;
    let per_run = crate::scenario::resolve::expected_requests(&base, src)?;
    let work = per_run * seeds as f64 * factor.max(1.0);
    if work > MAX_PLAN_REQUESTS {
        let at = if factor > 1.0 {
            format!(" at {}x the load (--load-range)", crate::error::num(factor))
        } else {
            String::new()
        };
        return Err(Error::input(
            &src.file,
            "workload",
            format!(
                "each candidate would simulate about {} requests ({} per run x {seeds} seeds{at}), more than the planner's limit of {MAX_PLAN_REQUESTS:e} (docs/src/limits.md): shorten duration_s, lower the load or use fewer plan.seeds",
                crate::error::num(work.round()),
                crate::error::num(per_run.round())
            ),
        ));
    }
    Ok(())
}

/// Load levels of `A:B:xF` (multiply by F) or `A:B:+S` (add S), from A up to B.
pub fn parse_range(text: &str) -> Result<Vec<f64>> {
    let bad = |why: &str| {
        Error::input(
            "--load-range",
            "",
            format!("'{text}': {why} (expected A:B:xF or A:B:+S, e.g. 50:1000:x2)"),
        )
    };
    let parts: Vec<&str> = text.split(':').collect();
    let [a, b, step] = parts[..] else { return Err(bad("three parts")) };
    let num = |s: &str| s.trim().parse::<f64>().ok().filter(|x| x.is_finite() && *x > 0.0);
    let (a, b) = (
        num(a).ok_or_else(|| bad("A must be a positive number"))?,
        num(b).ok_or_else(|| bad("B must be a positive number"))?,
    );
    if b < a {
        return Err(bad("B is below A"));
    }
    let mut levels = vec![a];
    let next: Box<dyn Fn(f64) -> f64> = if let Some(f) = step.strip_prefix('x') {
        let f = num(f).filter(|f| *f > 1.0).ok_or_else(|| bad("F must be above 1"))?;
        Box::new(move |x| x * f)
    } else if let Some(s) = step.strip_prefix('+') {
        let s = num(s).ok_or_else(|| bad("S must be positive"))?;
        Box::new(move |x| x + s)
    } else {
        return Err(bad("the step starts with x or +"));
    };
    loop {
        let x = next(*levels.last().expect("non-empty"));
        if x > b * (1.0 + 1e-9) {
            break;
        }
        if levels.len() >= 64 {
            return Err(bad("more than 64 levels"));
        }
        levels.push(x);
    }
    Ok(levels)
}

/// In a spec with closed-loop users, the levels of `--load-range` are users: each must be a
/// whole number that the workloads' users, scaled in proportion and rounded as the planner
/// scales them ([`crate::plan::scale_load`]), add up to; otherwise the projection would report
/// a load it did not plan.
fn check_user_levels(raw: &RawScenario, range: &str, levels: &[f64]) -> Result<()> {
    let users: Vec<u32> = raw.workload.iter().filter_map(|w| w.users).collect();
    let total: u32 = users.iter().sum();
    if total == 0 {
        return Ok(());
    }
    for &level in levels {
        let bad = |why: String| Error::input("--load-range", "", format!("'{range}': level {}: {why}", crate::error::num(level)));
        if level.fract() != 0.0 {
            return Err(bad(format!(
                "the spec's load is {total} closed-loop users, so a level is a number of users and must be whole"
            )));
        }
        let k = level / f64::from(total);
        let got: u32 = users.iter().map(|&u| ((f64::from(u) * k).round() as u32).max(1)).sum();
        if f64::from(got) != level {
            return Err(bad(format!(
                "the workloads' users ({}) scaled in proportion and rounded make {got} users, not {level}: choose levels that are multiples of how they split",
                users.iter().map(u32::to_string).collect::<Vec<_>>().join(" + ")
            )));
        }
    }
    Ok(())
}

fn run_range(args: &PlanArgs, raw: &RawScenario, src: &crate::scenario::files::Sources, range: &str) -> Result<u8> {
    let levels = parse_range(range)?;
    let users: u32 = raw.workload.iter().filter_map(|w| w.users).sum();
    let unit = if users > 0 { "users" } else { "multiplier" };
    let levels: Vec<(f64, f64)> = levels
        .iter()
        .map(|&l| (l, if users > 0 { l / f64::from(users) } else { l }))
        .collect();
    let bar = progress_bar();
    let p = crate::plan::projection::project(raw, src, unit, &levels, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    let text = match args.format {
        Format::Json => crate::out::to_json(&p),
        Format::Table => projection_table(&p, std::io::stdout().is_terminal()),
    };
    if !args.quiet {
        crate::cli::print_out(&text)?;
    }
    if let Some(path) = &args.report {
        let levels = p.levels.iter().map(|l| (l.load, l.best.as_ref())).collect();
        let family = format!(
            "Kept {}: {}.",
            p.family.as_ref().map_or("no family".into(), |f| f.label()),
            p.family_reason
        );
        let outcome = crate::cli::report::PlanOutcome::Projection { unit, levels, family };
        crate::cli::report::write_plan(path, (&args.file, &args.set), raw, src, outcome, args.quiet)?;
    }
    Ok(if p.levels.iter().all(|l| l.best.is_some()) {
        0
    } else {
        EXIT_NO_PLAN
    })
}

fn projection_table(p: &crate::plan::projection::Projection, chart: bool) -> String {
    let mut out = format!("GPU-count projection: {} (load in {})\n", p.scenario, p.load_unit);
    match &p.family {
        Some(f) => out.push_str(&format!(
            "kept at every level: {} ({}), one GPU type and regime a cluster can scale along\n",
            f.label(),
            p.family_reason
        )),
        None => out.push_str(&format!("no family kept: {}\n", p.family_reason)),
    }
    out.push_str(&format!(
        "{:>10}  {:>4}  {:>5}  {:>8}  {:>8}  deployment (and, where another family is cheaper at that level alone, that one)\n",
        p.load_unit, "GPUs", "nodes", "$/h", "GPU $/h"
    ));
    for l in &p.levels {
        match &l.best {
            Some(c) => out.push_str(&format!(
                "{:>10}  {:>4}  {:>5}  {:>8.2}  {:>8.2}  {}\n",
                fmt_load(l.load),
                c.gpus,
                c.nodes.nodes,
                c.nodes.node_cost_per_hour_usd,
                c.cost_per_hour_usd,
                c.name
            )),
            None => out.push_str(&format!("{:>10}  no plan of this family meets the SLOs\n", fmt_load(l.load))),
        }
        if let Some(a) = &l.cheapest_any {
            if l.best.as_ref().is_none_or(|b| crate::plan::rank_cost(a, b).is_lt()) {
                out.push_str(&format!(
                    "{:>10}  {:>4}  {:>5}  {:>8.2}  {:>8.2}  cheapest of any family: {}\n",
                    "", a.gpus, a.nodes.nodes, a.nodes.node_cost_per_hour_usd, a.cost_per_hour_usd, a.name
                ));
            }
        }
    }
    if chart {
        let max = p
            .levels
            .iter()
            .filter_map(|l| l.best.as_ref())
            .map(|c| c.nodes.node_cost_per_hour_usd)
            .fold(0.0, f64::max);
        out.push_str("\nnode cost against load (each # is 1/40 of the largest):\n");
        for l in &p.levels {
            let (n, g) = l.best.as_ref().map_or((0, 0), |c| {
                (((c.nodes.node_cost_per_hour_usd / max.max(1e-9)) * 40.0).round() as usize, c.gpus)
            });
            out.push_str(&format!("{:>10} |{:<40}| {g} GPUs\n", fmt_load(l.load), "#".repeat(n)));
        }
    }
    out
}

fn fmt_load(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}
