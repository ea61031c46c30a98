//! `--load-range`: the plan at every load level of a range, all in one *family* (one GPU type
//! and one sharing regime). The cheapest plan of each level alone may switch GPU type or regime
//! from one level to the next (MIG on A100 at 200 users, MPS on H100 at 400), which no cluster
//! can grow along: an autoscaler adds replicas of the pools it has, it does not swap the nodes'
//! GPU type or re-partition every GPU. So every family is planned at every level and one is kept:
//! the cheapest over the whole range (the sum of its levels' node prices, what the user buys
//! as the load grows), among those with a plan at every level.

use super::{plan_at, rank, Candidate, PlanResult};
use crate::deploy::RegimeKind;
use crate::error::Result;
use crate::scenario::files::Sources;
use crate::scenario::raw::RawScenario;
use serde::Serialize;

/// A GPU type and a regime: what a cluster keeps while it scales.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Family {
    /// GPU type.
    pub gpu_type: String,
    /// Sharing regime.
    pub regime: RegimeKind,
    /// Levels at which some plan of the family meets the SLOs.
    pub levels_with_plan: usize,
    /// Its plans' node prices summed over those levels [$ per hour].
    pub node_usd_per_hour_sum: f64,
    /// Its plans' GPU prices summed over those levels [$ per hour].
    pub gpu_usd_per_hour_sum: f64,
}

impl Family {
    /// `mig a100-80gb`.
    pub fn label(&self) -> String {
        format!("{} {}", self.regime.name(), self.gpu_type)
    }
}

/// One load level of a projection.
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    /// Users (closed-loop specs) or load multiplier.
    pub load: f64,
    /// Load factor applied to the spec.
    pub factor: f64,
    /// The cheapest plan of the kept family at this level (`null`: none meets the SLOs).
    pub best: Option<Candidate>,
    /// The cheapest plan of any family at this level, for comparison (what switching
    /// families between levels would save).
    pub cheapest_any: Option<Candidate>,
}

/// A projection over load levels.
#[derive(Debug, Clone, Serialize)]
pub struct Projection {
    /// Scenario name.
    pub scenario: String,
    /// `users` or `multiplier`.
    pub load_unit: &'static str,
    /// The family kept at every level (`null`: no family has a plan at any level).
    pub family: Option<Family>,
    /// Why that family: the rule applied, in words.
    pub family_reason: String,
    /// Every family with a plan at some level, kept one first, then in the order of the rule.
    pub families: Vec<Family>,
    /// The levels, lowest first.
    pub levels: Vec<Level>,
}

/// The order families are kept in: a plan at more levels first, then cheaper nodes summed over
/// them, then cheaper GPUs, then the spec's order of GPU types and regimes (the caller's order
/// of `fams`, as the sort is stable).
fn family_order(a: &Family, b: &Family) -> std::cmp::Ordering {
    b.levels_with_plan
        .cmp(&a.levels_with_plan)
        .then(a.node_usd_per_hour_sum.total_cmp(&b.node_usd_per_hour_sum))
        .then(a.gpu_usd_per_hour_sum.total_cmp(&b.gpu_usd_per_hour_sum))
}

/// Choose the family from the prices (nodes, GPUs) of each family's best per level
/// (`costs[f][l]`, `None`: no plan): the families with a plan at some level, in keeping order
/// (the kept one first).
pub fn choose(fams: &[(String, RegimeKind)], costs: &[Vec<Option<(f64, f64)>>]) -> Vec<Family> {
    let mut out: Vec<Family> = fams
        .iter()
        .zip(costs)
        .map(|((g, r), levels)| Family {
            gpu_type: g.clone(),
            regime: *r,
            levels_with_plan: levels.iter().flatten().count(),
            node_usd_per_hour_sum: super::round2(levels.iter().flatten().map(|c| c.0).sum()),
            gpu_usd_per_hour_sum: super::round2(levels.iter().flatten().map(|c| c.1).sum()),
        })
        .filter(|f| f.levels_with_plan > 0)
        .collect();
    out.sort_by(family_order);
    out
}

/// The rule that kept `fams[0]`, in words.
fn reason(fams: &[Family], levels: usize) -> String {
    let Some(k) = fams.first() else {
        return "no GPU type and regime has a plan meeting the SLOs at any level".into();
    };
    let next = fams.get(1).map_or(String::new(), |n| {
        if n.levels_with_plan != k.levels_with_plan {
            format!("; next {} has a plan at {} of {levels} levels", n.label(), n.levels_with_plan)
        } else {
            format!(
                "; next {}: nodes ${:.2}/h, GPUs ${:.2}/h",
                n.label(),
                n.node_usd_per_hour_sum,
                n.gpu_usd_per_hour_sum
            )
        }
    });
    if k.levels_with_plan == levels {
        format!(
            "the cheapest GPU type and regime with a plan at every level: nodes ${:.2}/h, GPUs ${:.2}/h, summed over the {levels} levels{next}",
            k.node_usd_per_hour_sum, k.gpu_usd_per_hour_sum
        )
    } else {
        format!(
            "no GPU type and regime has a plan at every level: kept the one with a plan at the most ({} of {levels}), cheapest over them (nodes ${:.2}/h, GPUs ${:.2}/h, summed){next}",
            k.levels_with_plan, k.node_usd_per_hour_sum, k.gpu_usd_per_hour_sum
        )
    }
}

/// The spec restricted to one GPU type of its `[plan]` (its overrides of that type kept).
fn one_gpu_type(raw: &RawScenario, gpu: &str) -> RawScenario {
    let mut r = raw.clone();
    let mut p = r.plan.clone().unwrap_or_default();
    p.gpu_types = vec![gpu.to_string()];
    p.price_usd_per_hour.retain(|k, _| k == gpu);
    p.gpus_per_node.retain(|k, _| k == gpu);
    p.node_price_usd_per_hour.retain(|k, _| k == gpu);
    r.plan = Some(p);
    r
}

/// Plan every load factor of `levels` (`(load, factor)`) per GPU type (each regime's best of a
/// GPU type is its family's best: the search prunes per regime, and a one-type search has one
/// family per regime) and keep one family. `progress(done, total)` counts plans.
pub fn project(
    raw: &RawScenario,
    src: &Sources,
    load_unit: &'static str,
    levels: &[(f64, f64)],
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Projection> {
    let spec = super::spec(raw, &src.file)?;
    let types: Vec<String> = spec.gpu_types.iter().map(|(g, _)| g.name.clone()).collect();
    let fams: Vec<(String, RegimeKind)> = types
        .iter()
        .flat_map(|g| spec.regimes.iter().map(move |&r| (g.clone(), r)))
        .collect();
    let total = levels.len() * types.len();
    // results[l][t]: the plan of GPU type t at level l.
    let mut results: Vec<Vec<PlanResult>> = Vec::with_capacity(levels.len());
    for (l, &(_, factor)) in levels.iter().enumerate() {
        let mut row = Vec::with_capacity(types.len());
        for (t, g) in types.iter().enumerate() {
            row.push(plan_at(&one_gpu_type(raw, g), src, factor, false, &|_, _| {})?);
            progress(l * types.len() + t + 1, total);
        }
        results.push(row);
    }
    let per_level: Vec<Vec<Option<&Candidate>>> = fams
        .iter()
        .map(|(g, r)| {
            let t = types.iter().position(|x| x == g).expect("a listed type");
            results
                .iter()
                .map(|row| row[t].per_regime.get(r.name()).and_then(Option::as_ref))
                .collect()
        })
        .collect();
    let costs: Vec<Vec<Option<(f64, f64)>>> = per_level
        .iter()
        .map(|f| {
            f.iter()
                .map(|c| c.map(|c| (c.nodes.node_cost_per_hour_usd, c.cost_per_hour_usd)))
                .collect()
        })
        .collect();
    let families = choose(&fams, &costs);
    let kept = families
        .first()
        .map(|k| fams.iter().position(|f| f.0 == k.gpu_type && f.1 == k.regime).expect("a family"));
    let out_levels = levels
        .iter()
        .enumerate()
        .map(|(l, &(load, factor))| Level {
            load,
            factor,
            best: kept.and_then(|k| per_level[k][l].cloned()),
            cheapest_any: per_level.iter().filter_map(|f| f[l]).min_by(|a, b| rank(a, b)).cloned(),
        })
        .collect();
    Ok(Projection {
        scenario: raw.name.clone(),
        load_unit,
        family_reason: reason(&families, levels.len()),
        family: families.first().cloned(),
        families,
        levels: out_levels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_family_kept_covers_every_level_before_it_is_cheap() {
        let fams = vec![
            ("a".to_string(), RegimeKind::Mig),
            ("a".to_string(), RegimeKind::Mps),
            ("b".to_string(), RegimeKind::Mig),
        ];
        let (c1, c2, c9) = (Some((1.0, 1.0)), Some((2.0, 2.0)), Some((9.0, 9.0)));
        // a/mig is cheapest at the low level but has no plan at the high one; a/mps is cheaper
        // than b/mig over both levels.
        let per_level = vec![vec![c1, None], vec![c2, c9], vec![c9, c9]];
        let f = choose(&fams, &per_level);
        assert_eq!(f.iter().map(Family::label).collect::<Vec<_>>(), ["mps a", "mig b", "mig a"]);
        assert_eq!(f[0].node_usd_per_hour_sum, 11.0);
        assert!(reason(&f, 2).starts_with("the cheapest GPU type and regime with a plan at every level: nodes $11.00/h, GPUs $11.00/h"));
        // Without a family at every level, the one at the most levels.
        let per_level = vec![vec![c1, None], vec![None, None], vec![c9, None]];
        let f = choose(&fams, &per_level);
        assert_eq!(f.iter().map(Family::label).collect::<Vec<_>>(), ["mig a", "mig b"]);
        assert!(reason(&f, 2).starts_with("no GPU type and regime has a plan at every level"));
        assert!(choose(&fams, &[vec![None], vec![None], vec![None]]).is_empty());
    }
}
