//! What identifies a sweep's output: the shard of the runs a process does (`--shard I/N`) and
//! manifest.json, the record of what produced results.csv. Both are what resuming and
//! `sweep-merge` compare, so they are defined together and apart from how runs are made.

use super::layout::{Column, Layout};
use super::Plan;
use crate::error::{Error, Result};
use crate::scenario::raw::RawScenario;
use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_runs() {
        let s = Shard::parse("1/3").expect("shard");
        assert_eq!(s.ids(8).collect::<Vec<_>>(), [1, 4, 7]);
        assert!(Shard::parse("3/3").is_err() && Shard::parse("1").is_err() && Shard::parse("-1/2").is_err());
        assert_eq!(Shard::parse("0/1").map(|s| s.label()), Ok(None));
    }
}
