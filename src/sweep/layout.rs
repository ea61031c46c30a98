//! The columns of results.csv and summary.csv, and a run's summary flattened into their cells.
//! The column set is fixed before anything runs and must not depend on what happens in a run, so
//! it is derived here from the shape of the run JSON alone; the CSV quoting lives beside it so
//! that every file the sweep writes quotes the same way.

use super::stats::{mean_ci95, stat_text};
use super::Plan;
use crate::error::{Error, Result};
use crate::scenario::edit::cell_text;
use crate::scenario::Scenario;
use crate::sim::{RunSummary, Simulation};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Names of the columns that are not axes or metrics, in results.csv order around the axes.
const RUN_COL: &str = "run";
const SEED_COL: &str = "seed";
const VARIANT_COL: &str = "variant";

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
    let per: Vec<Result<Vec<Leaves>>> = scenarios.par_iter().map(leaves_of).collect();
    let mut cols = Columns::default();
    for p in per {
        cols.add(&p?);
    }
    Ok(cols.cols)
}

/// Every variant's leaves of one configuration, summarised at time zero.
pub fn leaves_of(sc: &Scenario) -> Result<Vec<Leaves>> {
    (0..sc.variants.len())
        .map(|v| Simulation::new(sc, v, 0).and_then(|s| flatten(&s.summary())))
        .collect()
}

/// The metric columns united so far, configuration by configuration in run order (so a sweep
/// can find them without holding every configuration's scenario at once).
#[derive(Debug, Default)]
pub struct Columns {
    /// The columns in order.
    pub cols: Vec<Column>,
    known: HashMap<String, Kind>,
}

impl Columns {
    /// Unite one configuration's variants' leaves.
    pub fn add(&mut self, variants: &[Leaves]) {
        for leaves in variants {
            // A name not seen before goes right after its predecessor in this variant's JSON, so
            // e.g. a third GPU's columns follow the second's rather than the end of the row.
            let mut prev: Option<&str> = None;
            for (name, _, kind) in leaves {
                match self.known.get(name) {
                    Some(k) if k != kind => {
                        self.known.insert(name.clone(), Kind::Text);
                        if let Some(c) = self.cols.iter_mut().find(|c| &c.name == name) {
                            c.kind = Kind::Text;
                        }
                    }
                    Some(_) => {}
                    None => {
                        let at = prev.and_then(|p| self.cols.iter().position(|c| c.name == p)).map_or(0, |i| i + 1);
                        self.cols.insert(
                            at,
                            Column {
                                name: name.clone(),
                                kind: *kind,
                            },
                        );
                        self.known.insert(name.clone(), *kind);
                    }
                }
                prev = Some(name);
            }
        }
    }
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
    /// Every axis's values (a check on an axis column needs them all to be numbers).
    pub axis_values: Vec<Vec<toml::Value>>,
    /// Every variant name of any configuration, in first-seen order (a check's scope).
    pub variants: Vec<String>,
    /// Seeds per configuration (a confidence interval needs two).
    pub seeds: usize,
    index: HashMap<String, usize>,
}

impl Layout {
    /// The layout of a plan with these metrics; refuses a column name used twice.
    pub fn new(plan: &Plan, metrics: Vec<Column>) -> Result<Layout> {
        let mut variants: Vec<String> = Vec::new();
        for v in plan.configs.iter().flat_map(|c| &c.raw.variant) {
            if !variants.contains(&v.name) {
                variants.push(v.name.clone());
            }
        }
        let mut l = Layout {
            axes: plan.axes.iter().map(|a| a.path.clone()).collect(),
            metrics,
            axis_values: plan.axes.iter().map(|a| a.values.clone()).collect(),
            variants,
            seeds: plan.seeds.len(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::files::Sources;
    use crate::sweep::tests::{raw, SPEC};
    use crate::sweep::{plan, resolve};

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
        // Configuration 1: the first rate, the second GPU type (axes in file order).
        assert!(lines[0].starts_with("3,10,a100-80gb,4,ded,2,a100-80gb,"), "{}", lines[0]);
        assert_eq!(lines[1].split(',').count(), layout.width());
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_line(&["a", "b,c", "say \"hi\"", ""]), "a,\"b,c\",\"say \"\"hi\"\"\",\n");
    }
}
