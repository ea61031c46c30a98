//! `gpuslice sweep`, the pure part: the axes of a `[sweep]` table, the cross product of
//! configurations, the results.csv layout, the summary statistics and the `--check` gate.
//! Nothing here reads or writes a file; `cli/sweep.rs` does the I/O (appending rows, resuming,
//! Ctrl-C, the progress bar, atomic writes).
//!
//! Map: this file holds the run plan ([`Plan`]: [`plan`] builds it, [`resolve`] checks every
//! configuration, [`execute`] runs them in id order); the rest is one submodule per concern:
//! * [`grid`]: the axes, the configurations and their cross product (mixed-radix digits).
//! * [`layout`]: the results.csv / summary.csv columns, a run summary flattened into cells, CSV
//!   quoting.
//! * [`stats`]: the mean and 95 % confidence interval of summary.csv.
//! * [`check`]: the `--check '[variant=NAME:] COLUMN OP NUMBER'` gates (a column, or a statistic
//!   over seeds such as `mean(COLUMN)`).
//! * [`manifest`]: `--shard I/N` and manifest.json.
//!
//! The rules they share:
//! * Paths: an axis is a path of the scenario edit language ([`crate::scenario::edit`]), e.g.
//!   `variant[*].gpus[0].quantum_ms` or `models.asr.max_batch`.
//! * Runs: configurations are the cross product of the axes, the first axis (in the order the
//!   `[sweep]` table writes them) outermost, values in list order; seeds are innermost. Run `id = configuration * seeds + seed index`, the same on every machine and
//!   shard, so shards can be merged and a sweep resumed by id.
//! * Columns ([`layout::Layout`]): `run`, one column per axis (the path as written), `seed`, `variant`,
//!   then every metric of the run JSON (`gpuslice run --format json`) flattened into dotted
//!   names in the JSON's own key order; array elements are indexed (`gpu_utilization[2].busy_fraction`,
//!   `stages.voice-turn.stages[0].latency_ms.p95`) so that nothing is dropped. The column set is
//!   fixed before anything runs, from the summary of every configuration's variants at time
//!   zero (its shape depends on the scenario only), united in order (a column first seen in a later
//!   variant goes right after its predecessor there); a variant that lacks a column leaves its
//!   cell empty.

pub mod check;
pub mod grid;
pub mod layout;
pub mod manifest;
pub mod stats;

use crate::error::{Error, Result};
use crate::scenario::edit::apply;
use crate::scenario::files::Sources;
use crate::scenario::from_raw;
use crate::scenario::raw::RawScenario;
use crate::scenario::Scenario;
use grid::{Axis, Config};
use layout::Layout;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// Most runs (configurations x seeds) of one sweep (docs/src/limits.md): each run writes a row of
/// results.csv and is at least milliseconds of simulation.
pub const MAX_RUNS: u64 = 1_000_000;
/// Most configurations (the cross product of the axes) of one sweep: every configuration is
/// built and checked before anything runs, at about 0.5 ms per model, workload or variant it
/// holds (then dropped: only its raw form is kept), so 10,000 one-variant configurations take
/// seconds.
pub const MAX_CONFIGS: u64 = 10_000;
/// Most models + workloads + variants over all configurations (the time bound of the above for
/// larger scenarios: each is built twice, checked before anything runs and again for its runs).
pub const MAX_CONFIG_ENTRIES: u64 = 50_000;

/// Everything a sweep runs, built and checked (stage 1) before anything runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The spec file, for messages.
    pub file: String,
    /// The spec as read, its `[sweep]` seeds resolved (manifest.json's `spec`).
    pub spec: RawScenario,
    /// The scenario without `[sweep]`, as TOML: what each configuration edits.
    base: toml::Value,
    /// Axes in the file's order.
    pub axes: Vec<Axis>,
    /// Seeds (default `[1]`).
    pub seeds: Vec<u64>,
    /// Configurations in run order.
    pub configs: Vec<Config>,
}

fn field_of(axis: &str) -> String {
    format!("sweep.\"{axis}\"")
}

fn inner_text(e: &Error) -> String {
    match e {
        Error::Input { field, message, .. } if field.is_empty() => message.clone(),
        Error::Input { field, message, .. } => format!("{field}: {message}"),
        e => e.to_string(),
    }
}

/// Build the run list of a spec with a `[sweep]` table: parse the axes, set every configuration's
/// values and deserialise it (refusing paths that do not exist and misspelt keys, naming the
/// path and value).
pub fn plan(spec: &RawScenario, file: &str) -> Result<Plan> {
    let Some(sw) = &spec.sweep else {
        return Err(Error::input(
            file,
            "sweep",
            "no [sweep] table: add `seeds = [..]` and `\"path\" = [values]` axes",
        ));
    };
    let seeds = if sw.seeds.is_empty() { vec![1] } else { sw.seeds.clone() };
    if seeds.len() as u64 > MAX_RUNS {
        return Err(Error::input(
            file,
            "sweep.seeds",
            format!("{} seeds is more than {MAX_RUNS} runs (docs/src/limits.md)", seeds.len()),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(s) = seeds.iter().find(|s| !seen.insert(**s)) {
        return Err(Error::input(file, "sweep.seeds", format!("seed '{s}' appears twice")));
    }
    let axes = grid::axes(sw, file)?;
    let n_configs = grid::count_configs(&axes, &seeds, spec, file)?;
    let mut resolved = spec.clone();
    if let Some(s) = resolved.sweep.as_mut() {
        s.seeds = seeds.clone();
    }
    let mut bare = spec.clone();
    bare.sweep = None;
    let base = toml::Value::try_from(&bare).map_err(|e| Error::input(file, "", format!("cannot edit the scenario as TOML: {e}")))?;
    let mut plan = Plan {
        file: file.to_string(),
        spec: resolved,
        base,
        axes,
        seeds,
        configs: Vec::with_capacity(n_configs),
    };
    // Each axis alone first: a path that does not exist is named before any combination.
    for a in &plan.axes {
        let mut v = plan.base.clone();
        apply(&mut v, &a.steps, &a.values[0]).map_err(|m| Error::input(file, field_of(&a.path), m))?;
    }
    // Configurations are raw scenarios here (cheap); resolving them is what costs time and
    // memory, mostly per GPU (each is a device and a server), so their GPUs are bounded first.
    let mut gpus = 0u64;
    for c in 0..n_configs {
        let values = plan.digits(c);
        let raw = plan
            .edited(&values)
            .map_err(|m| plan.config_error(&values, Error::input("", "", m), None))?;
        gpus = gpus.saturating_add(raw_gpus(&raw));
        if gpus > crate::limits::MAX_SWEEP_GPUS {
            return Err(Error::input(
                file,
                "sweep",
                format!(
                    "{n_configs} configurations hold more than {} GPUs in all (configuration {c} reaches it; {}): every configuration is built before the first run (docs/src/limits.md); sweep fewer configurations or smaller variants",
                    crate::limits::MAX_SWEEP_GPUS,
                    plan.describe(&values)
                ),
            ));
        }
        plan.configs.push(Config { values, raw });
    }
    Ok(plan)
}

/// GPUs of every variant of a raw scenario (each entry's `count`, default 1).
fn raw_gpus(raw: &RawScenario) -> u64 {
    use crate::scenario::raw::RawGpu;
    raw.variant
        .iter()
        .flat_map(|v| &v.gpus)
        .map(|g| match g {
            RawGpu::Dedicated { count, .. } | RawGpu::TimeSliced { count, .. } | RawGpu::Mig { count, .. } | RawGpu::Mps { count, .. } => {
                u64::from(count.unwrap_or(1))
            }
        })
        .sum()
}

impl Plan {
    /// Runs (configurations x seeds).
    pub fn runs(&self) -> u64 {
        (self.configs.len() * self.seeds.len()) as u64
    }

    /// Configuration index and seed of run `id`.
    pub fn run(&self, id: u64) -> (usize, u64) {
        let n = self.seeds.len() as u64;
        ((id / n) as usize, self.seeds[(id % n) as usize])
    }

    /// The error of a configuration, blamed on one axis value when that value alone (on an
    /// otherwise unchanged spec) fails the same way; else on the whole configuration.
    fn config_error(&self, values: &[usize], e: Error, src: Option<&Sources>) -> Error {
        let check = |r: std::result::Result<RawScenario, String>| -> Option<String> {
            match (r, src) {
                (Err(m), _) => Some(m),
                (Ok(raw), Some(s)) => from_raw(&raw, s).err().map(|e| inner_text(&e)),
                (Ok(_), None) => None,
            }
        };
        let base_ok = check(self.edited_with(&vec![None; self.axes.len()])).is_none();
        if base_ok {
            for (i, (a, &k)) in self.axes.iter().zip(values).enumerate() {
                let mut only = vec![None; self.axes.len()];
                only[i] = Some(k);
                if let Some(m) = check(self.edited_with(&only)) {
                    return Error::input(&self.file, format!("{} = {}", field_of(&a.path), a.values[k]), m);
                }
            }
        }
        Error::input(
            &self.file,
            format!("sweep configuration {} ({})", self.index_of(values), self.describe(values)),
            inner_text(&e),
        )
    }
}

/// The metric columns of [`Plan::sample_configs`] (those that resolve), for checking `--check`
/// before every configuration is built; `None` when none resolves (resolving them all then
/// reports why).
pub fn sample_columns(plan: &Plan, src: &Sources) -> Option<Vec<layout::Column>> {
    let scs: Vec<Scenario> = plan
        .sample_configs()
        .par_iter()
        .filter_map(|&c| from_raw(&plan.configs[c].raw, src).ok().filter(|s| !s.variants.is_empty()))
        .collect();
    if scs.is_empty() {
        return None;
    }
    layout::metric_columns(&scs).ok()
}

/// Stage 2 of one configuration: its scenario, or the error naming the axis value to blame.
fn resolve_one(plan: &Plan, c: usize, src: &Sources) -> Result<Scenario> {
    let c = &plan.configs[c];
    let sc = from_raw(&c.raw, src).map_err(|e| plan.config_error(&c.values, e, Some(src)))?;
    if sc.variants.is_empty() {
        return Err(plan.config_error(
            &c.values,
            Error::input("", "variant", "a sweep needs at least one [[variant]]"),
            None,
        ));
    }
    Ok(sc)
}

/// Stage 2 of every configuration ([`from_raw`]) in parallel, before anything runs; the first
/// failing configuration in run order is reported, naming the axis path and value. Holds every
/// scenario (a few hundred KB each): `gpuslice sweep` uses [`check_columns`] instead.
pub fn resolve(plan: &Plan, src: &Sources) -> Result<Vec<Scenario>> {
    let all: Vec<Result<Scenario>> = (0..plan.configs.len()).into_par_iter().map(|c| resolve_one(plan, c, src)).collect();
    all.into_iter().collect()
}

/// Configurations resolved at once by [`check_columns`]: enough to keep two cores busy, few
/// enough that their scenarios take megabytes, not the gigabytes of a whole sweep's.
const CHECK_CHUNK: usize = 64;

/// Stage 2 of every configuration before anything runs, as [`resolve`] (the first failing one in
/// run order is reported), and the metric columns of them all ([`layout::metric_columns`]), in
/// chunks: each scenario is dropped once its columns are taken, so memory does not grow with the
/// number of configurations (an 8,000-configuration sweep held 2.3 GB of scenarios).
pub fn check_columns(plan: &Plan, src: &Sources) -> Result<Vec<layout::Column>> {
    let mut cols = layout::Columns::default();
    let n = plan.configs.len();
    for start in (0..n).step_by(CHECK_CHUNK) {
        let chunk: Vec<Result<Vec<layout::Leaves>>> = (start..(start + CHECK_CHUNK).min(n))
            .into_par_iter()
            .map(|c| resolve_one(plan, c, src).and_then(|sc| layout::leaves_of(&sc)))
            .collect();
        for leaves in chunk {
            cols.add(&leaves?);
        }
    }
    Ok(cols.cols)
}

/// Run `todo` (run ids, ascending) on `pool` and hand each run's rows to `sink` in id order,
/// each run's rows in one call. Runs are started in id order (`par_bridge` over configurations,
/// each resolved once for its seeds, which run in parallel), so they finish nearly in order and
/// few wait in the reordering buffer; a configuration's scenario lives only while its runs do. Setting `stop` launches no more runs;
/// those in flight finish and are handed over, and so are runs that finished after a skipped one
/// (still in id order). An error of a run or of `sink` sets `stop`; it is returned once the runs
/// in flight are handed over (after a `sink` error, nothing more is handed over).
#[allow(clippy::too_many_arguments)]
pub fn execute(
    pool: &rayon::ThreadPool,
    plan: &Plan,
    layout: &Layout,
    src: &Sources,
    todo: &[u64],
    stop: &std::sync::atomic::AtomicBool,
    bar: &indicatif::ProgressBar,
    sink: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::channel::<(u64, Result<String>)>();
    let mut first_err: Option<Error> = None;
    let mut sink_err: Option<Error> = None;
    std::thread::scope(|s| {
        s.spawn(move || {
            pool.install(|| {
                todo.chunk_by(|a, b| plan.run(*a).0 == plan.run(*b).0)
                    .par_bridge()
                    .for_each_with(tx, |tx, ids| {
                        if stop.load(std::sync::atomic::Ordering::SeqCst) {
                            return;
                        }
                        let sc = match resolve_one(plan, plan.run(ids[0]).0, src) {
                            Ok(sc) => sc,
                            Err(e) => {
                                let _ = tx.send((ids[0], Err(e)));
                                return;
                            }
                        };
                        ids.par_iter().for_each_with(tx.clone(), |tx, &id| {
                            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                                return;
                            }
                            let rows = crate::sim::run_scenario(&sc, plan.run(id).1).and_then(|r| layout.run_rows(plan, id, &r));
                            let _ = tx.send((id, rows));
                        });
                    })
            })
        });
        let mut pending: BTreeMap<u64, String> = BTreeMap::new();
        let mut next = 0usize;
        let mut hand_over = |text: &str| {
            if sink_err.is_none() {
                if let Err(e) = sink(text) {
                    sink_err = Some(e);
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
        };
        for (id, rows) in rx {
            bar.inc(1);
            match rows {
                Ok(t) => {
                    pending.insert(id, t);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
            while let Some(t) = todo.get(next).and_then(|id| pending.remove(id)) {
                hand_over(&t);
                next += 1;
            }
        }
        for t in pending.values() {
            hand_over(t);
        }
    });
    sink_err.or(first_err).map_or(Ok(()), Err)
}

/// The spec that the tests of this module and of its submodules share, and the tests of the
/// plan's error messages.
#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn raw(text: &str) -> RawScenario {
        crate::scenario::raw::parse(text, "t.toml").expect("parses")
    }

    pub(super) const SPEC: &str = r#"
name = "t"
duration_s = 5
[models.asr]
from = "h100/asr"
[models.tts]
from = "h100/tts"
[[workload]]
model = "asr"
arrivals = { process = "poisson", rate_rps = 20 }
size = { dist = "fixed", value = 5 }
[[workload]]
model = "tts"
arrivals = { process = "poisson", rate_rps = 1 }
size = { dist = "fixed", value = 80 }
[[variant]]
name = "ded"
gpu = "h100-80gb"
gpus = [{ regime = "dedicated", models = ["asr"] }, { regime = "dedicated", models = ["tts"] }]
[[variant]]
name = "ts"
gpu = "h100-80gb"
gpus = [{ regime = "time-sliced", models = ["asr", "tts"] }]
[sweep]
seeds = [3, 4]
"workload[0].arrivals.rate_rps" = [10, 20.5]
"variant[*].gpu" = ["h100-80gb", "a100-80gb", "l4"]
"#;

    #[test]
    fn bad_paths_and_values_name_the_axis() {
        let with = |axis: &str| SPEC.replace("\"variant[*].gpu\" = [\"h100-80gb\", \"a100-80gb\", \"l4\"]", axis);
        let err = |axis: &str| plan(&raw(&with(axis)), "t.toml").map(|_| ()).expect_err(axis).to_string();
        let e = err(r#""workload[5].users" = [1]"#);
        assert!(
            e.contains("sweep.\"workload[5].users\"") && e.contains("'workload[5]' does not exist"),
            "{e}"
        );
        let e = err(r#""models.llm.max_batch" = [1]"#);
        assert!(e.contains("'models.llm' does not exist"), "{e}");
        let e = err(r#""variant[1].gpus[0].quantum_msx" = [2]"#);
        assert!(
            e.contains("sweep.\"variant[1].gpus[0].quantum_msx\" = 2") && e.contains("quantum_msx"),
            "{e}"
        );
        let e = err(r#""workload[0].users" = ["many"]"#);
        assert!(e.contains("sweep.\"workload[0].users\" = \"many\""), "{e}");
        let e = err(r#""duration_s.x" = [1]"#);
        assert!(
            e.contains("'duration_s' is an integer, not a table") || e.contains("is a float"),
            "{e}"
        );
        // Stage 2: a value that deserialises but fails validation is named with its path.
        let p = plan(
            &raw(&with(r#""workload[0].arrivals.rate_rps" = [5, -1]"#).replace("\"workload[0].arrivals.rate_rps\" = [10, 20.5]\n", "")),
            "t.toml",
        )
        .expect("stage 1 accepts a negative rate");
        let e = resolve(&p, &Sources::none("t.toml"))
            .map(|_| ())
            .expect_err("negative rate")
            .to_string();
        assert!(
            e.contains("sweep.\"workload[0].arrivals.rate_rps\" = -1") && e.contains("'-1'"),
            "{e}"
        );
    }
}
