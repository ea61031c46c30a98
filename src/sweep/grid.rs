//! The grid of a sweep: its axes, the configurations they span and the order of their cross
//! product. Kept apart from the run plan so that the one rule every machine and shard must agree
//! on (configuration `c` <-> one value index per axis, last axis fastest) sits in one place.

use super::{field_of, Plan, MAX_CONFIGS, MAX_CONFIG_ENTRIES, MAX_RUNS};
use crate::error::{Error, Result};
use crate::scenario::edit::{apply, parse_path, Step};
use crate::scenario::raw::{RawScenario, RawSweep};

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

/// The axes of a `[sweep]` table in the file's order, each path parsed; refuses the `[sweep]` table
/// itself and an axis without values.
pub(super) fn axes(sw: &RawSweep, file: &str) -> Result<Vec<Axis>> {
    let mut axes = Vec::new();
    for (path, values) in &sw.axes {
        let steps = parse_path(path).map_err(|m| Error::input(file, field_of(path), format!("bad path: {m}")))?;
        if steps.first() == Some(&Step::Key("sweep".into())) {
            return Err(Error::input(file, field_of(path), "the [sweep] table itself cannot be swept"));
        }
        if values.is_empty() {
            return Err(Error::input(file, field_of(path), "has no values"));
        }
        // Two axes that set the same place would each claim their value in every row while
        // only the later one is in effect: the same field, one inside the other, or an index
        // and `[*]` over the same array.
        if let Some(other) = axes.iter().find(|a: &&Axis| overlap(&a.steps, &steps)) {
            return Err(Error::input(
                file,
                field_of(path),
                format!(
                    "sets what axis \"{}\" also sets: each row would claim both values; sweep one path, or paths that do not overlap",
                    other.path
                ),
            ));
        }
        axes.push(Axis {
            path: path.clone(),
            steps,
            values: values.clone(),
        });
    }
    Ok(axes)
}

/// Whether two paths reach a common place: one is a prefix of the other, step by step, with
/// `[*]` matching any index.
fn overlap(a: &[Step], b: &[Step]) -> bool {
    a.iter().zip(b).all(|(x, y)| match (x, y) {
        (Step::All, Step::All | Step::Index(_)) | (Step::Index(_), Step::All) => true,
        (x, y) => x == y,
    })
}

/// The number of configurations, refused (naming the grid) beyond [`MAX_RUNS`],
/// [`MAX_CONFIGS`] or [`MAX_CONFIG_ENTRIES`].
pub(super) fn count_configs(axes: &[Axis], seeds: &[u64], spec: &RawScenario, file: &str) -> Result<usize> {
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
    Ok(n_configs)
}

impl Plan {
    /// A few configurations whose columns stand for those of all (a check is validated on them
    /// before every configuration is built): the first, and for each axis the first
    /// configuration with each of its values, but of an axis of numbers only the first and the
    /// largest (a number changes how many GPUs or replicas there are, so at most the indices of
    /// array columns; text, tables and arrays may change names).
    pub fn sample_configs(&self) -> Vec<usize> {
        let mut out = vec![0];
        let mut stride = 1usize;
        for a in self.axes.iter().rev() {
            let numeric = a.values.iter().all(|v| v.is_integer() || v.is_float());
            let picks: Vec<usize> = if numeric {
                let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)).unwrap_or(0.0);
                let max = (0..a.values.len())
                    .max_by(|&i, &j| num(&a.values[i]).total_cmp(&num(&a.values[j])))
                    .unwrap_or(0);
                vec![max]
            } else {
                (1..a.values.len()).collect()
            };
            out.extend(picks.into_iter().map(|k| k * stride).filter(|&c| c < self.configs.len()));
            stride = stride.saturating_mul(a.values.len());
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Value indices of configuration `c` (mixed radix, last axis fastest).
    pub(super) fn digits(&self, mut c: usize) -> Vec<usize> {
        let mut out = vec![0; self.axes.len()];
        for (i, a) in self.axes.iter().enumerate().rev() {
            out[i] = c % a.values.len();
            c /= a.values.len();
        }
        out
    }

    /// The scenario with the given axis values set (`None`: axis left as in the spec).
    pub(super) fn edited_with(&self, values: &[Option<usize>]) -> std::result::Result<RawScenario, String> {
        let mut v = self.base.clone();
        for (a, k) in self.axes.iter().zip(values) {
            if let Some(k) = k {
                apply(&mut v, &a.steps, &a.values[*k])?;
            }
        }
        v.try_into::<RawScenario>().map_err(|e| crate::gpu::one_line(&e.to_string()))
    }

    pub(super) fn edited(&self, values: &[usize]) -> std::result::Result<RawScenario, String> {
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

    pub(super) fn index_of(&self, values: &[usize]) -> usize {
        self.axes.iter().zip(values).fold(0, |c, (a, &k)| c * a.values.len() + k)
    }
}

#[cfg(test)]
mod tests {
    use crate::sweep::plan;
    use crate::sweep::tests::{raw, SPEC};

    #[test]
    fn cross_product_order_and_ids() {
        let p = plan(&raw(SPEC), "t.toml").expect("plan");
        // Axes in file order (the rate first), the last fastest.
        assert_eq!(p.axes[0].path, "workload[0].arrivals.rate_rps");
        assert_eq!(p.configs.len(), 6);
        assert_eq!(p.runs(), 12);
        assert_eq!(p.run(0), (0, 3));
        assert_eq!(p.run(1), (0, 4));
        assert_eq!(p.run(3), (1, 4));
        let c = &p.configs[4]; // rate index 1, gpu index 1
        assert_eq!(c.values, vec![1, 1]);
        assert!(c.raw.variant.iter().all(|v| v.gpu == "a100-80gb"));
        assert!(matches!(c.raw.workload[0].arrivals, Some(crate::scenario::raw::RawArrivals::Poisson { rate_rps: Some(rate_rps), .. }) if rate_rps == 20.5));
        assert!(c.raw.sweep.is_none());
        assert_eq!(p.spec.sweep.as_ref().map(|s| s.seeds.clone()), Some(vec![3, 4]));
    }

    #[test]
    fn axes_that_set_the_same_place_are_refused() {
        let with = |axes: &str| SPEC.replace("\"variant[*].gpu\" = [\"h100-80gb\", \"a100-80gb\", \"l4\"]", axes);
        for (axes, ok) in [
            ("\"variant[0].gpu\" = [\"l4\"]\n\"variant[1].gpu\" = [\"l4\"]", true),
            ("\"variant[*].gpu\" = [\"l4\"]\n\"variant[1].gpu\" = [\"l4\"]", false),
            ("\"variant[0].gpus\" = [[]]\n\"variant[0].gpus[0].count\" = [2]", false),
            ("\"duration_s\" = [3]\n\"workload[*].arrivals.rate_rps\" = [1]", false),
        ] {
            let r = plan(&raw(&with(axes)), "t.toml");
            assert_eq!(r.is_ok(), ok, "{axes}: {:?}", r.err());
            if let Err(e) = r {
                assert!(e.to_string().contains("also sets"), "{e}");
            }
        }
    }
}
