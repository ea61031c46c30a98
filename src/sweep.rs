//! `gpuslice sweep`, the pure part: the axes of a `[sweep]` table, the cross product of
//! configurations, the results.csv layout, the summary statistics and the `--check` gate.
//! Nothing here reads or writes a file; `cli/sweep.rs` does the I/O (appending rows, resuming,
//! Ctrl-C, the progress bar, atomic writes).
//!
//! * Paths: an axis is a path of the scenario edit language ([`crate::scenario::edit`]), e.g.
//!   `variant[*].gpus[0].quantum_ms` or `models.asr.max_batch`.
//! * Runs: configurations are the cross product of the axes, the first axis (in key order, the
//!   order of the `[sweep]` table as a sorted map) outermost, values in list order; seeds are
//!   innermost. Run `id = configuration * seeds + seed index`, the same on every machine and
//!   shard, so shards can be merged and a sweep resumed by id.
//! * Columns ([`Layout`]): `run`, one column per axis (the path as written), `seed`, `variant`,
//!   then every metric of the run JSON (`gpuslice run --format json`) flattened into dotted
//!   names in the JSON's own key order; array elements are indexed (`gpu_utilization[2].busy_fraction`,
//!   `stages.voice-turn.stages[0].latency_ms.p95`) so that nothing is dropped. The column set is
//!   fixed before anything runs, from the summary of every configuration's variants at time
//!   zero (its shape depends on the scenario only), united in order (a column first seen in a later
//!   variant goes right after its predecessor there); a variant that lacks a column leaves its
//!   cell empty.

use crate::error::{Error, Result};
use crate::scenario::edit::{apply, cell_text, parse_path, Step};
use crate::scenario::files::Sources;
use crate::scenario::from_raw;
use crate::scenario::raw::RawScenario;
use crate::scenario::Scenario;
use crate::sim::{RunSummary, Simulation};
use rayon::prelude::*;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Most runs (configurations x seeds) of one sweep (docs/src/limits.md): each run writes a row of
/// results.csv and is at least milliseconds of simulation.
pub const MAX_RUNS: u64 = 1_000_000;
/// Most configurations (the cross product of the axes) of one sweep: every configuration is
/// built and checked before anything runs, at about 0.5 ms and 30 KB per model, workload or
/// variant it holds, so 10,000 one-variant configurations take seconds and under 1 GB.
pub const MAX_CONFIGS: u64 = 10_000;
/// Most models + workloads + variants over all configurations (the memory bound of the above
/// for larger scenarios): 50,000 is about 1.5 GB.
pub const MAX_CONFIG_ENTRIES: u64 = 50_000;

/// Names of the columns that are not axes or metrics, in results.csv order around the axes.
const RUN_COL: &str = "run";
const SEED_COL: &str = "seed";
const VARIANT_COL: &str = "variant";

/// One axis of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The path as written (the results.csv column).
    pub path: String,
    /// The parsed path.
    pub steps: Vec<Step>,
    /// Its values in list order.
    pub values: Vec<toml::Value>,
}

/// One configuration: a value of every axis applied to the scenario.
#[derive(Debug, Clone)]
pub struct Config {
    /// Index of the value of each axis.
    pub values: Vec<usize>,
    /// The scenario with those values set (no `[sweep]` table).
    pub raw: RawScenario,
}

/// Everything a sweep runs, built and checked (stage 1) before anything runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The spec file, for messages.
    pub file: String,
    /// The spec as read, its `[sweep]` seeds resolved (manifest.json's `spec`).
    pub spec: RawScenario,
    /// The scenario without `[sweep]`, as TOML: what each configuration edits.
    base: toml::Value,
    /// Axes in key order.
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
    let mut axes = Vec::new();
    for (path, values) in &sw.axes {
        let steps = parse_path(path).map_err(|m| Error::input(file, field_of(path), format!("bad path: {m}")))?;
        if steps.first() == Some(&Step::Key("sweep".into())) {
            return Err(Error::input(file, field_of(path), "the [sweep] table itself cannot be swept"));
        }
        if values.is_empty() {
            return Err(Error::input(file, field_of(path), "has no values"));
        }
        axes.push(Axis {
            path: path.clone(),
            steps,
            values: values.clone(),
        });
    }
    let n_configs = axes.iter().try_fold(1u64, |n, a| n.checked_mul(a.values.len() as u64));
    let runs = n_configs.and_then(|n| n.checked_mul(seeds.len() as u64));
    let entries = (spec.models.len() + spec.workload.len() + spec.variant.len()).max(1) as u64;
    let sizes: Vec<String> = axes.iter().map(|a| a.values.len().to_string()).collect();
    let grid = if sizes.is_empty() { "1".to_string() } else { sizes.join(" x ") };
    let n_configs = match (n_configs, runs) {
        (Some(n), Some(r)) if r <= MAX_RUNS && n <= MAX_CONFIGS && n.saturating_mul(entries) <= MAX_CONFIG_ENTRIES => n as usize,
        (Some(n), Some(r)) if r <= MAX_RUNS && n <= MAX_CONFIGS => {
            return Err(Error::input(
                file,
                "sweep",
                format!(
                    "{grid} = {n} configurations of {entries} models, workloads and variants each is more than {MAX_CONFIG_ENTRIES} in all (docs/src/limits.md): every configuration is built before the first run"
                ),
            ));
        }
        (Some(n), Some(_)) if n <= MAX_CONFIGS => {
            return Err(Error::input(
                file,
                "sweep",
                format!(
                    "{grid} values x {} seeds is more than {MAX_RUNS} runs (docs/src/limits.md)",
                    seeds.len()
                ),
            ));
        }
        _ => {
            return Err(Error::input(
                file,
                "sweep",
                format!(
                    "{grid} values is more than {MAX_CONFIGS} configurations (docs/src/limits.md): every configuration is built before the first run; split the sweep into several specs"
                ),
            ));
        }
    };
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
    for c in 0..n_configs {
        let values = plan.digits(c);
        let raw = plan
            .edited(&values)
            .map_err(|m| plan.config_error(&values, Error::input("", "", m), None))?;
        plan.configs.push(Config { values, raw });
    }
    Ok(plan)
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

    /// Value indices of configuration `c` (mixed radix, last axis fastest).
    fn digits(&self, mut c: usize) -> Vec<usize> {
        let mut out = vec![0; self.axes.len()];
        for (i, a) in self.axes.iter().enumerate().rev() {
            out[i] = c % a.values.len();
            c /= a.values.len();
        }
        out
    }

    /// The scenario with the given axis values set (`None`: axis left as in the spec).
    fn edited_with(&self, values: &[Option<usize>]) -> std::result::Result<RawScenario, String> {
        let mut v = self.base.clone();
        for (a, k) in self.axes.iter().zip(values) {
            if let Some(k) = k {
                apply(&mut v, &a.steps, &a.values[*k])?;
            }
        }
        v.try_into::<RawScenario>().map_err(|e| crate::gpu::one_line(&e.to_string()))
    }

    fn edited(&self, values: &[usize]) -> std::result::Result<RawScenario, String> {
        self.edited_with(&values.iter().map(|&k| Some(k)).collect::<Vec<_>>())
    }

    /// `"path" = value, ...` of a configuration.
    pub fn describe(&self, values: &[usize]) -> String {
        self.axes
            .iter()
            .zip(values)
            .map(|(a, &k)| format!("\"{}\" = {}", a.path, a.values[k]))
            .collect::<Vec<_>>()
            .join(", ")
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

    fn index_of(&self, values: &[usize]) -> usize {
        self.axes.iter().zip(values).fold(0, |c, (a, &k)| c * a.values.len() + k)
    }
}

/// Stage 2 of every configuration ([`from_raw`]) in parallel, before anything runs; the first
/// failing configuration in run order is reported, naming the axis path and value.
pub fn resolve(plan: &Plan, src: &Sources) -> Result<Vec<Scenario>> {
    use rayon::prelude::*;
    let all: Vec<Result<Scenario>> = plan
        .configs
        .par_iter()
        .map(|c| {
            let sc = from_raw(&c.raw, src).map_err(|e| plan.config_error(&c.values, e, Some(src)))?;
            if sc.variants.is_empty() {
                return Err(plan.config_error(
                    &c.values,
                    Error::input("", "variant", "a sweep needs at least one [[variant]]"),
                    None,
                ));
            }
            Ok(sc)
        })
        .collect();
    all.into_iter().collect()
}

/// What a column holds (metrics only; summary.csv averages the numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A JSON number (or null: empty cell).
    Number,
    /// `true` / `false`.
    Bool,
    /// A string.
    Text,
}

/// A metric column of results.csv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Dotted name, e.g. `models.asr.latency_ms.p95`.
    pub name: String,
    /// What it holds.
    pub kind: Kind,
}

/// A JSON document with its object keys in document order (serde_json's own `Value` sorts them
/// unless a crate-wide feature is switched on).
enum Node {
    Leaf(String, Kind),
    Obj(Vec<(String, Node)>),
    Arr(Vec<Node>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Node, E> {
        Ok(Node::Leaf(v.to_string(), Kind::Bool))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Node, E> {
        Ok(Node::Leaf(v.to_string(), Kind::Number))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Node, E> {
        Ok(Node::Leaf(v.to_string(), Kind::Number))
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Node, E> {
        // Exactly as serde_json prints the number.
        let text = serde_json::Number::from_f64(v).map(|n| n.to_string()).unwrap_or_default();
        Ok(Node::Leaf(text, Kind::Number))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Node, E> {
        Ok(Node::Leaf(v.to_string(), Kind::Text))
    }
    fn visit_unit<E>(self) -> std::result::Result<Node, E> {
        Ok(Node::Leaf(String::new(), Kind::Number))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(n) = seq.next_element()? {
            out.push(n);
        }
        Ok(Node::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Node>()? {
            out.push((k, v));
        }
        Ok(Node::Obj(out))
    }
}

fn flatten_into(node: &Node, prefix: &str, out: &mut Leaves) {
    match node {
        Node::Leaf(text, kind) => out.push((prefix.to_string(), text.clone(), *kind)),
        Node::Obj(entries) => {
            for (k, v) in entries {
                let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten_into(v, &name, out);
            }
        }
        Node::Arr(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten_into(v, &format!("{prefix}[{i}]"), out);
            }
        }
    }
}

/// `(column, cell, kind)` of every metric of a run, in document order.
pub type Leaves = Vec<(String, String, Kind)>;

/// The metrics of one variant's run JSON as `(column, cell, kind)` in document order; the
/// variant's `name` is left out (it is the `variant` column).
pub fn flatten(run: &RunSummary) -> Result<Leaves> {
    let internal = |e: serde_json::Error| Error::Infeasible(format!("internal: run JSON of '{}': {e}", run.name));
    let node: Node = serde_json::from_str(&serde_json::to_string(run).map_err(internal)?).map_err(internal)?;
    let mut out = Vec::new();
    flatten_into(&node, "", &mut out);
    out.retain(|(name, _, _)| name != "name");
    Ok(out)
}

/// The metric columns of a sweep: every configuration's variants summarised at time zero (the
/// JSON's shape depends on the scenario, not on what happens), united in order.
pub fn metric_columns(scenarios: &[Scenario]) -> Result<Vec<Column>> {
    use rayon::prelude::*;
    let per: Vec<Result<Vec<Leaves>>> = scenarios
        .par_iter()
        .map(|sc| {
            (0..sc.variants.len())
                .map(|v| Simulation::new(sc, v, 0).and_then(|s| flatten(&s.summary())))
                .collect()
        })
        .collect();
    let mut cols: Vec<Column> = Vec::new();
    let mut known: HashMap<String, Kind> = HashMap::new();
    for p in per {
        for leaves in p? {
            // A name not seen before goes right after its predecessor in this variant's JSON, so
            // e.g. a third GPU's columns follow the second's rather than the end of the row.
            let mut prev: Option<&str> = None;
            for (name, _, kind) in &leaves {
                match known.get(name) {
                    Some(k) if k != kind => {
                        known.insert(name.clone(), Kind::Text);
                        if let Some(c) = cols.iter_mut().find(|c| &c.name == name) {
                            c.kind = Kind::Text;
                        }
                    }
                    Some(_) => {}
                    None => {
                        let at = prev.and_then(|p| cols.iter().position(|c| c.name == p)).map_or(0, |i| i + 1);
                        cols.insert(
                            at,
                            Column {
                                name: name.clone(),
                                kind: *kind,
                            },
                        );
                        known.insert(name.clone(), *kind);
                    }
                }
                prev = Some(name);
            }
        }
    }
    Ok(cols)
}

/// One field of a CSV line, quoted when it must be (RFC 4180).
pub fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// A CSV line with its newline.
pub fn csv_line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut s = fields.iter().map(|f| csv_field(f.as_ref())).collect::<Vec<_>>().join(",");
    s.push('\n');
    s
}

/// The columns of results.csv: `run`, the axes, `seed`, `variant`, the metrics.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Axis paths.
    pub axes: Vec<String>,
    /// Metric columns.
    pub metrics: Vec<Column>,
    index: HashMap<String, usize>,
}

impl Layout {
    /// The layout of a plan with these metrics; refuses a column name used twice.
    pub fn new(plan: &Plan, metrics: Vec<Column>) -> Result<Layout> {
        let mut l = Layout {
            axes: plan.axes.iter().map(|a| a.path.clone()).collect(),
            metrics,
            index: HashMap::new(),
        };
        for (i, name) in l.header().into_iter().enumerate() {
            if l.index.insert(name.clone(), i).is_some() {
                return Err(Error::input(
                    &plan.file,
                    "sweep",
                    format!("column '{name}' would appear twice in results.csv: sweep a path below it"),
                ));
            }
        }
        Ok(l)
    }

    /// Column names in order.
    pub fn header(&self) -> Vec<String> {
        let mut h = vec![RUN_COL.to_string()];
        h.extend(self.axes.iter().cloned());
        h.push(SEED_COL.into());
        h.push(VARIANT_COL.into());
        h.extend(self.metrics.iter().map(|c| c.name.clone()));
        h
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        3 + self.axes.len() + self.metrics.len()
    }

    /// Index of the `variant` column.
    pub fn variant_col(&self) -> usize {
        2 + self.axes.len()
    }

    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The results.csv lines of run `id`: one per variant, in variant order.
    pub fn run_rows(&self, plan: &Plan, id: u64, runs: &[RunSummary]) -> Result<String> {
        let (c, seed) = plan.run(id);
        let mut out = String::new();
        for r in runs {
            let mut fields = vec![String::new(); self.width()];
            fields[0] = id.to_string();
            for (a, &k) in plan.configs[c].values.iter().enumerate() {
                fields[1 + a] = cell_text(&plan.axes[a].values[k]);
            }
            fields[self.variant_col() - 1] = seed.to_string();
            fields[self.variant_col()] = r.name.clone();
            for (name, text, _) in flatten(r)? {
                let i = self.column(&name).filter(|&i| i > self.variant_col()).ok_or_else(|| {
                    Error::Infeasible(format!(
                        "internal: run {id} reports metric '{name}' that is not a results.csv column"
                    ))
                })?;
                fields[i] = text;
            }
            out.push_str(&csv_line(&fields));
        }
        Ok(out)
    }

    /// summary.csv: per configuration and variant, the number of seeds and, for every numeric
    /// metric, `<metric>.mean` and `<metric>.ci95`, the half-width of the 95 % confidence
    /// interval of the mean (Student t; empty for one seed). `runs` are results.csv's runs in
    /// id order, each its rows in variant order.
    pub fn summary_csv(&self, plan: &Plan, runs: &[(u64, Vec<Vec<String>>)]) -> String {
        let numeric: Vec<(usize, &str)> = self
            .metrics
            .iter()
            .enumerate()
            .filter(|(_, c)| c.kind == Kind::Number)
            .map(|(i, c)| (self.variant_col() + 1 + i, c.name.as_str()))
            .collect();
        let mut header = vec!["config".to_string()];
        header.extend(self.axes.iter().cloned());
        header.push(VARIANT_COL.into());
        header.push("seeds".into());
        for (_, n) in &numeric {
            header.push(format!("{n}.mean"));
            header.push(format!("{n}.ci95"));
        }
        let mut out = csv_line(&header);
        let mut groups: BTreeMap<(usize, usize), Vec<&Vec<String>>> = BTreeMap::new();
        for (id, rows) in runs {
            let (c, _) = plan.run(*id);
            for (p, row) in rows.iter().enumerate() {
                groups.entry((c, p)).or_default().push(row);
            }
        }
        for ((c, _), rows) in groups {
            let mut f = vec![c.to_string()];
            f.extend(
                plan.configs[c]
                    .values
                    .iter()
                    .enumerate()
                    .map(|(a, &k)| cell_text(&plan.axes[a].values[k])),
            );
            f.push(rows[0].get(self.variant_col()).cloned().unwrap_or_default());
            f.push(rows.len().to_string());
            for &(col, _) in &numeric {
                let xs: Vec<f64> = rows.iter().filter_map(|r| r.get(col).and_then(|s| s.parse::<f64>().ok())).collect();
                match mean_ci95(&xs) {
                    Some((m, ci)) => {
                        f.push(stat_text(m));
                        f.push(ci.map(stat_text).unwrap_or_default());
                    }
                    None => f.extend([String::new(), String::new()]),
                }
            }
            out.push_str(&csv_line(&f));
        }
        out
    }
}

/// A summary statistic as printed: 4 decimals (as the run JSON rounds its metrics), shortest form.
fn stat_text(x: f64) -> String {
    let r = crate::metrics::round4(x);
    format!("{}", if r == 0.0 { 0.0 } else { r })
}

/// t_{0.975, df} for df = 1..=30 (scipy.stats.t.ppf).
const T975: [f64; 30] = [
    12.706204736174694,
    4.302652729749462,
    3.1824463052837078,
    2.7764451051977934,
    2.5705818356363146,
    2.4469118511449786,
    2.364624251592784,
    2.306004135204166,
    2.262157162798205,
    2.228138851986274,
    2.200985160091639,
    2.1788128296672284,
    2.1603686564627913,
    2.144786687917804,
    2.131449545559776,
    2.1199052992212546,
    2.1098155778333156,
    2.1009220402410382,
    2.0930240544083087,
    2.085963447265864,
    2.0796138447276795,
    2.0738730679040254,
    2.0686576104190486,
    2.0638985616280245,
    2.0595385527532972,
    2.0555294386428735,
    2.0518305164802846,
    2.0484071417952454,
    2.045229642132703,
    2.0422724563012378,
];

/// The 0.975 quantile of Student's t with `df` degrees of freedom (`df >= 1`): the table up to
/// 30, then the Cornish-Fisher expansion around the normal quantile (error below 3e-8 there).
pub fn t975(df: usize) -> f64 {
    if (1..=30).contains(&df) {
        return T975[df - 1];
    }
    let z: f64 = 1.959963984540054;
    let v = df.max(1) as f64;
    let (z3, z5, z7, z9) = (z.powi(3), z.powi(5), z.powi(7), z.powi(9));
    z + (z3 + z) / (4.0 * v)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v.powi(3))
        + (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / (92160.0 * v.powi(4))
}

/// Mean and the half-width of its 95 % confidence interval, `t_{0.975,n-1} s / sqrt(n)` (`None`
/// for one sample); `None` for no samples.
pub fn mean_ci95(xs: &[f64]) -> Option<(f64, Option<f64>)> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Some((mean, None));
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some((mean, Some(t975(n - 1) * (var / n as f64).sqrt())))
}

/// A comparison of `--check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
        }
    }
}

/// A `--check 'COLUMN OP NUMBER'` gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// As written.
    pub expr: String,
    /// The results.csv column.
    pub column: String,
    col: usize,
    /// The comparison.
    pub op: Op,
    /// The bound.
    pub bound: f64,
}

/// Parse a check against the results.csv columns. Metrics that are text or true/false cannot be
/// compared; an axis column can, where its values are numbers.
pub fn parse_check(expr: &str, layout: &Layout) -> Result<Check> {
    let bad = || {
        Error::input(
            "--check",
            "",
            format!("expected 'COLUMN OP NUMBER' with OP one of < <= > >=, got '{expr}'"),
        )
    };
    let pos = expr.find(['<', '>']).ok_or_else(bad)?;
    let column = expr[..pos].trim();
    let rest = &expr[pos..];
    let (op, num) = if let Some(r) = rest.strip_prefix("<=") {
        (Op::Le, r)
    } else if let Some(r) = rest.strip_prefix(">=") {
        (Op::Ge, r)
    } else if let Some(r) = rest.strip_prefix('<') {
        (Op::Lt, r)
    } else {
        (Op::Gt, &rest[1..])
    };
    let bound = num.trim().parse::<f64>().ok().filter(|b| b.is_finite()).ok_or_else(bad)?;
    if column.is_empty() {
        return Err(bad());
    }
    let Some(col) = layout.column(column) else {
        let head = column.split(['.', '[']).next().unwrap_or(column);
        let header = layout.header();
        let mut near: Vec<&str> = header.iter().map(String::as_str).filter(|h| h.starts_with(head)).take(8).collect();
        if near.is_empty() {
            near = header.iter().map(String::as_str).skip(layout.variant_col() + 1).take(8).collect();
        }
        return Err(Error::input(
            "--check",
            "",
            format!(
                "no results.csv column '{column}' in '{expr}' (columns such as: {})",
                near.join(", ")
            ),
        ));
    };
    if let Some(m) = layout.metrics.get(col.wrapping_sub(layout.variant_col() + 1)) {
        if m.kind != Kind::Number {
            return Err(Error::input(
                "--check",
                "",
                format!(
                    "column '{column}' of '{expr}' holds {}, not numbers",
                    if m.kind == Kind::Bool { "true/false" } else { "text" }
                ),
            ));
        }
    }
    Ok(Check {
        expr: expr.to_string(),
        column: column.to_string(),
        col,
        op,
        bound,
    })
}

/// A row that breaks a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Run id.
    pub run: u64,
    /// The results.csv row (run, axes, seed, variant, ...).
    pub row: Vec<String>,
    /// The check as written.
    pub check: String,
    /// Its column.
    pub column: String,
    /// The cell.
    pub value: String,
}

/// Every (row, check) that fails, in row order then check order. An empty cell (a metric the
/// variant does not have) is not checked; a cell that is not a number fails.
pub fn evaluate(checks: &[Check], runs: &[(u64, Vec<Vec<String>>)]) -> Vec<Failure> {
    let mut out = Vec::new();
    for (id, rows) in runs {
        for row in rows {
            for c in checks {
                let cell = row.get(c.col).map(String::as_str).unwrap_or("");
                if cell.is_empty() {
                    continue;
                }
                if !cell.parse::<f64>().is_ok_and(|v| c.op.holds(v, c.bound)) {
                    out.push(Failure {
                        run: *id,
                        row: row.clone(),
                        check: c.expr.clone(),
                        column: c.column.clone(),
                        value: cell.to_string(),
                    });
                }
            }
        }
    }
    out
}

/// `--shard I/N`: runs `I, I+N, I+2N, ...` (I from 0, as Kubernetes' `JOB_COMPLETION_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// I.
    pub index: u64,
    /// N.
    pub count: u64,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parse `I/N` with `0 <= I < N`.
    pub fn parse(s: &str) -> Result<Shard> {
        let bad = || Error::input("--shard", "", format!("expected I/N with 0 <= I < N, got '{s}'"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<u64>().map_err(|_| bad())?,
            n.trim().parse::<u64>().map_err(|_| bad())?,
        );
        if index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether run `id` is this shard's.
    pub fn contains(&self, id: u64) -> bool {
        id % self.count == self.index
    }

    /// This shard's runs of `runs`.
    pub fn ids(&self, runs: u64) -> impl Iterator<Item = u64> {
        (self.index..runs).step_by(self.count.max(1) as usize)
    }

    /// `I/N`, or `None` for the whole sweep (so that a 0/1 shard writes a plain run's manifest).
    pub fn label(&self) -> Option<String> {
        (self.count > 1).then(|| format!("{}/{}", self.index, self.count))
    }
}

/// One axis in manifest.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestAxis {
    /// Path.
    pub path: String,
    /// Values in order.
    pub values: Vec<toml::Value>,
}

/// manifest.json: what produced results.csv. Byte-identical for any thread count; shards differ
/// only in `shard`, which `sweep-merge` drops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `gpuslice`.
    pub tool: String,
    /// The crate version that wrote the files.
    pub version: String,
    /// The spec as read, seeds resolved.
    pub spec: RawScenario,
    /// Axes in run order (outermost first).
    pub axes: Vec<ManifestAxis>,
    /// Seeds (innermost).
    pub seeds: Vec<u64>,
    /// Configurations.
    pub configurations: u64,
    /// Runs (configurations x seeds).
    pub runs: u64,
    /// `I/N` when the files hold one shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The metric columns of results.csv and what they hold.
    pub metrics: Vec<Column>,
}

impl Manifest {
    /// The manifest of a plan.
    pub fn new(plan: &Plan, layout: &Layout, shard: Shard) -> Manifest {
        Manifest {
            tool: "gpuslice".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            spec: plan.spec.clone(),
            axes: plan
                .axes
                .iter()
                .map(|a| ManifestAxis {
                    path: a.path.clone(),
                    values: a.values.clone(),
                })
                .collect(),
            seeds: plan.seeds.clone(),
            configurations: plan.configs.len() as u64,
            runs: plan.runs(),
            shard: shard.label(),
            metrics: layout.metrics.clone(),
        }
    }
}

/// Run `todo` (run ids, ascending) on `pool` and hand each run's rows to `sink` in id order,
/// each run's rows in one call. Runs are started in id order (`par_bridge`), so they finish
/// nearly in order and few wait in the reordering buffer. Setting `stop` launches no more runs;
/// those in flight finish and are handed over, and so are runs that finished after a skipped one
/// (still in id order). An error of a run or of `sink` sets `stop`; it is returned once the runs
/// in flight are handed over (after a `sink` error, nothing more is handed over).
#[allow(clippy::too_many_arguments)]
pub fn execute(
    pool: &rayon::ThreadPool,
    plan: &Plan,
    layout: &Layout,
    scenarios: &[crate::scenario::Scenario],
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
                todo.iter().par_bridge().for_each_with(tx, |tx, &id| {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    let (c, seed) = plan.run(id);
                    let rows = crate::sim::run_scenario(&scenarios[c], seed).and_then(|r| layout.run_rows(plan, id, &r));
                    let _ = tx.send((id, rows));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawScenario {
        crate::scenario::raw::parse(text, "t.toml").expect("parses")
    }

    const SPEC: &str = r#"
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
    fn cross_product_order_and_ids() {
        let p = plan(&raw(SPEC), "t.toml").expect("plan");
        // Axes in key order: "variant[*].gpu" sorts after "workload[0]..."? No: 'v' < 'w'.
        assert_eq!(p.axes[0].path, "variant[*].gpu");
        assert_eq!(p.configs.len(), 6);
        assert_eq!(p.runs(), 12);
        assert_eq!(p.run(0), (0, 3));
        assert_eq!(p.run(1), (0, 4));
        assert_eq!(p.run(3), (1, 4));
        let c = &p.configs[3]; // gpu index 1, rate index 1
        assert_eq!(c.values, vec![1, 1]);
        assert!(c.raw.variant.iter().all(|v| v.gpu == "a100-80gb"));
        assert!(matches!(c.raw.workload[0].arrivals, Some(crate::scenario::raw::RawArrivals::Poisson { rate_rps }) if rate_rps == 20.5));
        assert!(c.raw.sweep.is_none());
        assert_eq!(p.spec.sweep.as_ref().map(|s| s.seeds.clone()), Some(vec![3, 4]));
    }

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

    #[test]
    fn columns_are_in_json_order_with_indexed_arrays() {
        let p = plan(&raw(SPEC), "t.toml").expect("plan");
        let scs = resolve(&p, &Sources::none("t.toml")).expect("valid");
        let cols = metric_columns(&scs).expect("columns");
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(&names[..4], ["gpus", "gpu_type", "cost_per_hour_usd", "completed"]);
        assert!(names.contains(&"latency_ms.p95") && names.contains(&"models.asr.latency_ms.p95"));
        assert!(names.contains(&"gpu_utilization[2].partition"), "{names:?}");
        let pos = |n: &str| names.iter().position(|x| *x == n).unwrap_or(usize::MAX);
        assert!(pos("models.asr.completed") < pos("models.tts.completed") && pos("models.tts.completed") < pos("failures.crashes"));
        assert_eq!(cols[pos("extrapolated")].kind, Kind::Bool);
        assert_eq!(cols[pos("gpu_type")].kind, Kind::Text);
        let layout = Layout::new(&p, cols).expect("layout");
        let runs = crate::sim::run_scenario(&scs[1], 4).expect("runs");
        let text = layout.run_rows(&p, 3, &runs).expect("rows");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("3,h100-80gb,20.5,4,ded,2,h100-80gb,"), "{}", lines[0]);
        assert_eq!(lines[1].split(',').count(), layout.width());
    }

    #[test]
    fn t_quantiles_and_intervals() {
        assert_eq!(t975(1), 12.706204736174694);
        for (df, t) in [
            (31, 2.039513446396408),
            (40, 2.021075390306273),
            (120, 1.9799304050824402),
            (1000, 1.9623390808264083),
        ] {
            assert!((t975(df) - t).abs() < 1e-7, "df {df}: {} vs {t}", t975(df));
        }
        assert_eq!(mean_ci95(&[]), None);
        assert_eq!(mean_ci95(&[2.0]), Some((2.0, None)));
        let (m, ci) = mean_ci95(&[1.0, 2.0, 3.0]).expect("three");
        assert_eq!(m, 2.0);
        assert!((ci.unwrap_or(0.0) - 4.302652729749462 / 3f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_line(&["a", "b,c", "say \"hi\"", ""]), "a,\"b,c\",\"say \"\"hi\"\"\",\n");
    }

    #[test]
    fn checks_parse_and_gate() {
        let p = plan(&raw(SPEC), "t.toml").expect("plan");
        let cols = vec![
            Column {
                name: "latency_ms.p95".into(),
                kind: Kind::Number,
            },
            Column {
                name: "gpu_type".into(),
                kind: Kind::Text,
            },
        ];
        let l = Layout::new(&p, cols).expect("layout");
        let c = parse_check(" latency_ms.p95<=100 ", &l).expect("check");
        assert_eq!((c.column.as_str(), c.op, c.bound), ("latency_ms.p95", Op::Le, 100.0));
        assert_eq!(parse_check("latency_ms.p95 > 1e3", &l).map(|c| c.op), Ok(Op::Gt));
        assert!(parse_check("latency_ms.p95 = 3", &l).is_err());
        assert!(parse_check("latency_ms.p96 < 3", &l)
            .expect_err("unknown")
            .to_string()
            .contains("latency_ms.p95"));
        assert!(parse_check("gpu_type < 3", &l).is_err());
        let row = |v: &str| {
            vec![
                "0".into(),
                "h100-80gb".into(),
                "10".into(),
                "3".into(),
                "ded".into(),
                v.into(),
                "x".into(),
            ]
        };
        let runs = vec![(0, vec![row("99"), row("100.5"), row("")])];
        let f = evaluate(&[c], &runs);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].value, "100.5");
    }

    #[test]
    fn shards_partition_the_runs() {
        let s = Shard::parse("1/3").expect("shard");
        assert_eq!(s.ids(8).collect::<Vec<_>>(), [1, 4, 7]);
        assert!(Shard::parse("3/3").is_err() && Shard::parse("1").is_err() && Shard::parse("-1/2").is_err());
        assert_eq!(Shard::parse("0/1").map(|s| s.label()), Ok(None));
    }
}
