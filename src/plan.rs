//! The capacity planner: the cheapest deployment of a scenario's models that meets its `[slo]`,
//! for each GPU type and sharing regime of `[plan]`. Pure: scenarios in, ranked candidates out;
//! `cli/plan.rs` prints them and writes the scenario and Kubernetes files.
//!
//! # Search
//! A *structure* fixes the GPU type and how models share hardware: every model on GPUs of its
//! own (`dedicated`); models grouped into co-tenants of time-sliced or MPS GPUs (every set
//! partition of the models with at least one group of two or more; a group of one is a
//! dedicated GPU); or each model on whole GPUs or on MIG instances of one profile per model
//! (per compute size the smallest-memory profile that holds the model; full-GPU profiles and
//! `+me` variants are left out: a whole GPU does as much for the same price), the instances
//! packed onto the fewest GPUs over every valid layout of the catalog (exact search over
//! layouts, [`pack_mig`]). What remains free is a replica count per group (GPUs, or MIG
//! instances).
//!
//! Structures are taken in order of a cost bound and evaluated in fixed waves (in parallel
//! inside a wave, so results never depend on the thread count); a structure whose bound costs
//! more than the best confirmed candidate of its regime is skipped. The bound: one probe
//! simulation measures each model's offered load (requests/s and mean sizes), and a group needs
//! at least the load divided by the throughput of one replica at its largest batch (from the
//! service tables on that GPU or slice); for a closed loop the probe's load is that of an
//! uncontended deployment, the most the users can offer.
//!
//! Within a structure, replica counts are found by simulation only:
//! 1. start from the bound raised by an M/G/c (Erlang-C) estimate of the latency SLOs (or, for a
//!    group an earlier wave's structure had, the count it needed there: [`search::Hints`]), and
//!    double every group until all SLOs hold (or the GPU budget is exhausted, or doubling stops
//!    improving: a latency floor no replica count can beat);
//! 2. bisect each group's count over [1, its passing count] with the other groups at theirs
//!    (a hinted count and the one below it tried first);
//! 3. from those minima, add one replica at a time where it helps most until all SLOs hold.
//!
//! A candidate passes when every SLO holds on every seed of `[plan] seeds` (it is judged on the
//! worst). Headroom is the load growth (every rate, trace speed and user count scaled) it absorbs
//! before an SLO breaks, bisected by simulation up to +300 %.

use crate::deploy::RegimeKind;
pub mod nodes;
mod pack;
pub mod projection;
mod queueing;
mod scale;
mod search;
mod structures;

pub use pack::{pack_mig, MigLayout};
pub use queueing::{erlang_c, mmc_response_tail, mmc_servers_for};
use search::Planner;

use crate::error::{Error, Result};
use crate::gpu::{Catalog, GpuSpec};
use crate::model::{DeviceShare, LlmPolicy, Model, ServerKind, Slowdown};
use crate::scenario::files::Sources;
use crate::scenario::from_raw;
use crate::scenario::raw::{RawGpu, RawScenario, RawVariant};
use crate::scenario::resolve::add_variant;
use crate::scenario::Scenario;
use crate::sim::{OfferedLoad, Simulation};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Most GPUs per node `[plan] gpus_per_node` accepts (NVL72 racks are one NVLink domain of 72,
/// but a Kubernetes node is one tray of 4; 64 leaves room for any host).
pub const MAX_GPUS_PER_NODE: u32 = 64;
/// Default GPU budget of a candidate.
pub const DEFAULT_MAX_GPUS: u32 = 64;
/// Most GPUs a plan may consider (each is simulated).
pub const MAX_PLAN_GPUS: u32 = 1024;
/// Default seeds each candidate is simulated with (raised from 3: a 4-model plan chosen on 2
/// seeds broke its first-audio SLO on a third, issue 22).
pub const DEFAULT_SEEDS: u32 = 5;
/// The fresh seeds a winner is re-checked on start here (never among `[plan] seeds`, 1..=20).
pub const FRESH_SEED_BASE: u64 = 1001;
/// Most `[plan] min_headroom_pct`.
pub const MAX_MIN_HEADROOM_PCT: f64 = 300.0;
/// Most seeds per candidate.
pub const MAX_SEEDS: u32 = 20;
/// Structures evaluated per wave (a constant, not the thread count, so that pruning, and so the
/// answer, is the same on any machine).
pub(super) const WAVE: usize = 8;
/// The capacity bound credits each replica this many times the throughput its service tables
/// give at mean sizes, so that a structure is never skipped on the estimate's error.
pub(super) const BOUND_SLACK: f64 = 1.25;
/// Headroom is searched up to this load factor (+300 %).
pub const MAX_LOAD_FACTOR: f64 = 4.0;
/// The headroom search's grid: 2^HEADROOM_STEPS steps of load up to [`MAX_LOAD_FACTOR`] (~5 % each).
pub(super) const HEADROOM_STEPS: u32 = 6;
/// Candidates of the ranked table whose headroom is measured (besides each regime's best).
pub(super) const HEADROOM_TOP: usize = 5;

/// The validated `[plan]` table.
#[derive(Debug, Clone)]
pub struct PlanSpec {
    /// GPU types to consider, with their price [$ per GPU-hour].
    pub gpu_types: Vec<(GpuSpec, f64)>,
    /// Regimes to consider.
    pub regimes: Vec<RegimeKind>,
    /// Most GPUs of a candidate.
    pub max_gpus: u32,
    /// Seeds every candidate is simulated with.
    pub seeds: Vec<u64>,
    /// Replica selection of every candidate.
    pub balancer: Option<crate::scenario::raw::Balancer>,
    /// A candidate passes only if it also meets every SLO at this much more load [%].
    pub min_headroom_pct: f64,
    /// Seeds the winners are re-checked on (as many as `seeds`, none of them).
    pub fresh_seeds: Vec<u64>,
    /// Exact, decomposed or chosen by the spec's size.
    pub search: crate::scenario::raw::PlanSearch,
    /// Nodes of each GPU type, in the order of `gpu_types`.
    pub nodes: Vec<nodes::NodeSpec>,
}

/// Read `[plan]` (defaults for a missing table) and check it. A plan needs SLOs.
pub fn spec(raw: &RawScenario, file: &str) -> Result<PlanSpec> {
    let p = raw.plan.clone().unwrap_or_default();
    if raw.slo.is_empty() {
        return Err(Error::input(
            file,
            "slo",
            "a plan needs at least one objective, e.g. [slo] \"asr.p95_ms\" = 300",
        ));
    }
    let cat = Catalog::builtin();
    let names: Vec<String> = if p.gpu_types.is_empty() {
        cat.gpus.iter().map(|g| g.name.clone()).collect()
    } else {
        p.gpu_types.clone()
    };
    let mut gpu_types = Vec::new();
    let mut nodes = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let g = cat.gpu(n).ok_or_else(|| {
            Error::input(
                file,
                format!("plan.gpu_types[{i}]"),
                format!("unknown GPU '{n}' (known: {})", cat.names()),
            )
        })?;
        if names[..i].contains(n) {
            return Err(Error::input(file, format!("plan.gpu_types[{i}]"), format!("'{n}' is listed twice")));
        }
        let price = match p.price_usd_per_hour.get(n) {
            Some(&x) => crate::limits::PRICE_USD_PER_HOUR.check(file, format!("plan.price_usd_per_hour.{n}"), x)?,
            None => g.price_usd_per_hour,
        };
        let per_node = match p.gpus_per_node.get(n) {
            Some(&k) if (1..=MAX_GPUS_PER_NODE).contains(&k) => k,
            Some(&k) => {
                return Err(Error::input(
                    file,
                    format!("plan.gpus_per_node.{n}"),
                    format!("must be between 1 and {MAX_GPUS_PER_NODE}, got '{k}'"),
                ))
            }
            None => g.gpus_per_node,
        };
        let node_price = match p.node_price_usd_per_hour.get(n) {
            Some(&x) => crate::limits::PRICE_USD_PER_HOUR.check(file, format!("plan.node_price_usd_per_hour.{n}"), x)?,
            None => price * f64::from(per_node),
        };
        nodes.push(nodes::NodeSpec {
            gpus_per_node: per_node,
            price_usd_per_hour: node_price,
        });
        let mut g = g.clone();
        // A tensor-parallel replica stays on one node: the planner's node size bounds it.
        g.gpus_per_node = per_node;
        gpu_types.push((g, price));
    }
    for (table, keys) in [
        ("price_usd_per_hour", p.price_usd_per_hour.keys().collect::<Vec<_>>()),
        ("gpus_per_node", p.gpus_per_node.keys().collect()),
        ("node_price_usd_per_hour", p.node_price_usd_per_hour.keys().collect()),
    ] {
        if let Some(k) = keys.into_iter().find(|k| !names.contains(k)) {
            return Err(Error::input(
                file,
                format!("plan.{table}.{k}"),
                format!("'{k}' is not among plan.gpu_types"),
            ));
        }
    }
    let mut regimes = if p.regimes.is_empty() {
        vec![RegimeKind::Dedicated, RegimeKind::TimeSliced, RegimeKind::Mig, RegimeKind::Mps]
    } else {
        p.regimes.clone()
    };
    regimes.sort();
    regimes.dedup();
    let max_gpus = p.max_gpus.unwrap_or(DEFAULT_MAX_GPUS);
    if max_gpus == 0 || max_gpus > MAX_PLAN_GPUS {
        return Err(Error::input(
            file,
            "plan.max_gpus",
            format!("must be between 1 and {MAX_PLAN_GPUS}, got '{max_gpus}'"),
        ));
    }
    let n = p.seeds.unwrap_or(DEFAULT_SEEDS);
    if n == 0 || n > MAX_SEEDS {
        return Err(Error::input(
            file,
            "plan.seeds",
            format!("must be between 1 and {MAX_SEEDS}, got '{n}'"),
        ));
    }
    let min_headroom_pct = match p.min_headroom_pct {
        Some(x) if !(0.0..=MAX_MIN_HEADROOM_PCT).contains(&x) => {
            return Err(Error::input(
                file,
                "plan.min_headroom_pct",
                format!("must be between 0 and {MAX_MIN_HEADROOM_PCT}, got '{}'", crate::error::num(x)),
            ))
        }
        x => x.unwrap_or(0.0),
    };
    Ok(PlanSpec {
        gpu_types,
        regimes,
        max_gpus,
        seeds: (1..=u64::from(n)).collect(),
        balancer: p.balancer,
        min_headroom_pct,
        fresh_seeds: (FRESH_SEED_BASE..FRESH_SEED_BASE + u64::from(n)).collect(),
        search: p.search.unwrap_or_default(),
        nodes,
    })
}

/// One GPU of a candidate, as the JSON report shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlacedGpu {
    /// GPU index.
    pub gpu: u32,
    /// `dedicated`, `time-sliced`, `mig` or `mps`.
    pub regime: String,
    /// MIG layout, e.g. `3g.40gb,2g.20gb`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// Tenants (MIG: one per instance, in layout order).
    pub models: Vec<String>,
}

/// A deployment the planner simulated.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// Describes the structure and counts, e.g. `mig a100-80gb: asr 1x2g.20gb, tts 1x3g.40gb, llm 1x gpu`.
    pub name: String,
    /// GPU type.
    pub gpu_type: String,
    /// The regime the candidate was searched under.
    pub regime: RegimeKind,
    /// Physical GPUs.
    pub gpus: u32,
    /// Price of the GPUs [$ per hour].
    pub cost_per_hour_usd: f64,
    /// The nodes the GPUs are packed onto and their price (what the user buys; the ranking's key).
    #[serde(flatten)]
    pub nodes: nodes::NodePlan,
    /// Every SLO held on every seed.
    pub meets_slo: bool,
    /// Each SLO's worst value over the seeds (`null`: nothing measured).
    pub slo_values: BTreeMap<String, Option<f64>>,
    /// SLOs broken on some seed.
    pub broken: Vec<String>,
    /// Top-level completions per second (mean over seeds).
    pub throughput_rps: f64,
    /// Cost of a million top-level requests or turns at that throughput [$].
    pub usd_per_million: Option<f64>,
    /// Load growth absorbed before an SLO breaks [%] (`null`: not measured; 300 means at least 300).
    pub headroom_pct: Option<f64>,
    /// Every SLO also held on the fresh seeds `[plan]` did not choose it on (at the
    /// `min_headroom_pct` load too): `null` where not re-checked (only the best and each
    /// regime's best are).
    pub fresh_seeds_pass: Option<bool>,
    /// Every GPU and its tenants.
    pub placement: Vec<PlacedGpu>,
    /// Some service time was costed beyond the measured tables or on derived tables (another
    /// GPU type, a multi-GPU replica, an architecture).
    pub extrapolated: bool,
    /// How far: the share of GPU time costed so, on its worst seed [%].
    pub extrapolated_pct: f64,
    /// Tensor-parallel degree of each model above 1 (chosen by the planner where the spec left
    /// it open).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tensor_parallel: BTreeMap<String, u32>,
    /// The variant, as a scenario file writes it.
    #[serde(skip)]
    pub raw: RawVariant,
    /// The variant resolved and placed: what the simulations ran and the Kubernetes files deploy.
    #[serde(skip)]
    pub variant: crate::scenario::Variant,
    /// The study's model names, which the variant's tenants index.
    #[serde(skip)]
    pub model_names: Vec<String>,
    /// Worst SLO value relative to its bound (< 1: every SLO holds with margin).
    #[serde(skip)]
    pub violation: f64,
    /// Every SLO's violation ratio (value / bound, or bound / value for a minimum; > 1: broken),
    /// worst first, to 0.1 % of the bound.
    #[serde(skip)]
    pub margins: Vec<f64>,
}

/// The planner's answer.
#[derive(Debug, Clone, Serialize)]
pub struct PlanResult {
    /// Scenario name.
    pub scenario: String,
    /// The objectives (in the JSON: key -> bound, a maximum; a minimum for availability).
    #[serde(serialize_with = "slo_bounds")]
    pub slo: Vec<crate::scenario::Slo>,
    /// The cheapest candidate meeting every SLO.
    pub best: Option<Candidate>,
    /// The cheapest meeting every SLO under each regime considered.
    pub per_regime: BTreeMap<String, Option<Candidate>>,
    /// Every candidate confirmed by simulation, cheapest first (those meeting the SLOs first).
    pub candidates: Vec<Candidate>,
    /// Why there is no plan, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Structures considered, skipped by the bound, and simulations run.
    pub structures: usize,
    /// Structures skipped because their bound cost more than the best found.
    pub pruned: usize,
    /// Simulations run.
    pub simulations: u64,
    /// `exact` (every structure of the joint study) or `decomposed` (independent models sized
    /// apart, co-tenants merged greedily: see [`scale`]).
    pub method: &'static str,
    /// A lower bound on the cost of any plan meeting the SLOs [$ per hour], from the service
    /// tables (see [`search::Planner::lower_bounds`]), on the GPUs alone.
    pub lower_bound_usd_per_hour: f64,
    /// How far the best found may be above the optimum: (best - bound) / best [%] (`null`: no plan).
    pub gap_pct: Option<f64>,
    /// A lower bound on the node cost of any plan meeting the SLOs [$ per hour]: the GPUs of
    /// the bound above on the fewest nodes, at the node price (see [`search::Planner::lower_bounds`]).
    pub node_lower_bound_usd_per_hour: f64,
    /// The same gap for the nodes, what the ranking orders by [%] (`null`: no plan).
    pub node_gap_pct: Option<f64>,
    /// `--max-time` stopped the search before it finished (the answer is the best found by then).
    pub cut_short: bool,
}

impl PlanResult {
    /// The candidate to show when none meets the SLOs: the one closest to meeting them.
    pub fn closest(&self) -> Option<&Candidate> {
        self.candidates
            .iter()
            .min_by(|a, b| a.violation.total_cmp(&b.violation).then(a.gpus.cmp(&b.gpus)))
    }
}

/// What the planner tells its caller as it goes: structures done of total.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// How the caller follows and bounds a search (the core keeps no clock: `stop` is the caller's).
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// Called after every wave: structures done, of total (`total` may grow as a decomposed
    /// search proposes more), simulations run, the cheapest passing cost so far.
    pub tick: &'a (dyn Fn(&Tick) + Sync),
    /// True once the search must stop and answer with what it has (`--max-time`).
    pub stop: &'a (dyn Fn() -> bool + Sync),
}

/// One progress report.
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    /// Structures searched (a decomposed search: of its independent parts, then co-tenant bins).
    pub done: usize,
    /// Structures to search.
    pub total: usize,
    /// Simulations run so far.
    pub simulations: u64,
    /// The cheapest plan meeting the SLOs so far [$/h] (a decomposed search: the sum of its
    /// parts' cheapest).
    pub best_usd_per_hour: Option<f64>,
}

impl Options<'static> {
    /// No progress, no deadline.
    pub const NONE: Options<'static> = Options { tick: &|_| {}, stop: &|| false };
}

/// Plan a scenario at its own load.
pub fn plan(raw: &RawScenario, src: &Sources, progress: Progress) -> Result<PlanResult> {
    plan_at(raw, src, 1.0, true, progress)
}

/// Plan with every load scaled by `load` (rates, trace speed and users); `headroom` measures it
/// for the top candidates. Every tensor-parallel assignment of [`tp_choices`] is planned in turn
/// and the answers merged.
pub fn plan_at(raw: &RawScenario, src: &Sources, load: f64, headroom: bool, progress: Progress) -> Result<PlanResult> {
    let tick = |t: &Tick| progress(t.done, t.total);
    plan_with(raw, src, load, headroom, Options { tick: &tick, stop: &|| false })
}

/// [`plan_at`] with full progress reports and a stop signal.
pub fn plan_with(raw: &RawScenario, src: &Sources, load: f64, headroom: bool, opts: Options) -> Result<PlanResult> {
    let spec = spec(raw, &src.file)?;
    let assignments = tp_assignments(&tp_choices(raw, src, &spec)?);
    let k = assignments.len();
    let mut results = Vec::with_capacity(k);
    for (i, a) in assignments.iter().enumerate() {
        let mut r = raw.clone();
        for (name, &t) in a {
            if let Some(m) = r.models.get_mut(name) {
                m.tensor_parallel = Some(t);
            }
        }
        let tick = |t: &Tick| {
            (opts.tick)(&Tick {
                done: i * t.total + t.done,
                total: k * t.total,
                ..*t
            })
        };
        results.push(plan_fixed(&r, src, &spec, load, headroom, Options { tick: &tick, stop: opts.stop })?);
    }
    Ok(merge(results))
}

/// The models whose tensor-parallel degree the planner chooses, with the degrees it tries: LLMs
/// defined by their architecture whose spec sets neither `tensor_parallel` nor
/// `pipeline_parallel`. The degrees are powers of two that divide the attention heads and fit a
/// node of some planned GPU type, from the smallest at which a replica's share of the weights and
/// one longest sequence's KV fit one GPU up to four times that (more GPUs a replica buy lower
/// latency and more KV cache, at a coarser count).
pub fn tp_choices(raw: &RawScenario, src: &Sources, spec: &PlanSpec) -> Result<Vec<(String, Vec<u32>)>> {
    let open: Vec<&String> = raw
        .models
        .iter()
        .filter(|(_, m)| m.arch.is_some() && m.tensor_parallel.is_none() && m.pipeline_parallel.is_none())
        .map(|(n, _)| n)
        .collect();
    if open.is_empty() {
        return Ok(Vec::new());
    }
    let scenario = from_raw(&study(raw), src)?;
    let node = spec.gpu_types.iter().map(|(g, _)| g.gpus_per_node.max(1)).max().unwrap_or(1);
    let mut out = Vec::new();
    for name in open {
        let Some(m) = scenario.models.iter().find(|m| &m.name == name) else { continue };
        let (Some(a), Some((_, l))) = (&m.spec.arch, m.llm()) else { continue };
        let fits = |t: u32| {
            let t = f64::from(t);
            let kv_gib = l.kv_bytes_per_token() * f64::from(l.max_context_tokens) / f64::from(1u32 << 30);
            let need = (m.spec.memory.weights_gib + kv_gib) / t + l.activation_reserve_gib;
            spec.gpu_types.iter().any(|(g, _)| need <= g.memory_gib * l.gpu_memory_utilization)
        };
        let valid: Vec<u32> = (0..7).map(|k| 1u32 << k).filter(|&t| t <= node && a.heads % t == 0).collect();
        let Some(first) = valid.iter().position(|&t| fits(t)) else { continue };
        let degrees: Vec<u32> = valid[first..].iter().copied().take_while(|&t| t <= valid[first] * 4).collect();
        out.push((name.clone(), degrees));
    }
    Ok(out)
}

/// Most tensor-parallel assignments planned (each is a whole search).
const MAX_TP_ASSIGNMENTS: usize = 8;

/// Every combination of the degrees, narrowed (later models to their smallest degree first) to
/// at most [`MAX_TP_ASSIGNMENTS`]; one empty assignment when nothing is open.
fn tp_assignments(choices: &[(String, Vec<u32>)]) -> Vec<BTreeMap<String, u32>> {
    let mut choices = choices.to_vec();
    for i in (0..choices.len()).rev() {
        if choices.iter().map(|c| c.1.len()).product::<usize>() <= MAX_TP_ASSIGNMENTS {
            break;
        }
        choices[i].1.truncate(1);
    }
    let mut out = vec![BTreeMap::new()];
    for (name, degrees) in &choices {
        out = out
            .into_iter()
            .flat_map(|a| {
                degrees.iter().map(move |&t| {
                    let mut a = a.clone();
                    a.insert(name.clone(), t);
                    a
                })
            })
            .collect();
    }
    out
}

/// One answer from the answers of several tensor-parallel assignments.
fn merge(results: Vec<PlanResult>) -> PlanResult {
    let mut it = results.into_iter();
    let mut acc = it.next().expect("at least one assignment");
    let mut reasons = vec![acc.reason.take()];
    for r in it {
        acc.candidates.extend(r.candidates);
        for (k, c) in r.per_regime {
            let slot = acc.per_regime.entry(k).or_insert(None);
            if let Some(c) = c {
                if slot.as_ref().is_none_or(|s| rank(&c, s).is_lt()) {
                    *slot = Some(c);
                }
            }
        }
        reasons.push(r.reason);
        acc.structures += r.structures;
        acc.pruned += r.pruned;
        acc.simulations += r.simulations;
        acc.lower_bound_usd_per_hour = acc.lower_bound_usd_per_hour.min(r.lower_bound_usd_per_hour);
        acc.node_lower_bound_usd_per_hour = acc.node_lower_bound_usd_per_hour.min(r.node_lower_bound_usd_per_hour);
        acc.cut_short |= r.cut_short;
        if r.method != "exact" {
            acc.method = r.method;
        }
    }
    acc.candidates.sort_by(rank);
    acc.best = acc.candidates.iter().find(|c| c.meets_slo && c.fresh_seeds_pass != Some(false)).cloned();
    acc.gap_pct = acc.best.as_ref().map(|b| scale::gap_pct(b.cost_per_hour_usd, acc.lower_bound_usd_per_hour));
    acc.node_gap_pct = acc
        .best
        .as_ref()
        .map(|b| scale::gap_pct(b.nodes.node_cost_per_hour_usd, acc.node_lower_bound_usd_per_hour));
    if acc.best.is_none() {
        // The reason of the assignment whose candidate came closest (or the first's).
        let closest = acc.closest().map(|c| c.name.clone());
        acc.reason = reasons
            .iter()
            .flatten()
            .find(|r| closest.as_ref().is_some_and(|n| r.contains(n.as_str())))
            .or(reasons.iter().flatten().next())
            .cloned();
    }
    acc
}

/// Plan one tensor-parallel assignment (the parallelism of every model is fixed in `raw`).
fn plan_fixed(raw: &RawScenario, src: &Sources, spec: &PlanSpec, load: f64, headroom: bool, opts: Options) -> Result<PlanResult> {
    let mut base = study(raw);
    scale_load(&mut base, load);
    let scenario = from_raw(&base, src)?;
    check_models_fit(&scenario, spec, &src.file)?;
    let mut closed_loop = vec![false; scenario.models.len()];
    for w in &scenario.workloads {
        if matches!(w.load, crate::scenario::Load::Closed { .. }) {
            for m in w.target.stages() {
                closed_loop[m] = true;
            }
        }
    }
    let mut p = Planner {
        loads: Vec::new(),
        closed_loop,
        base,
        src,
        spec,
        scenario,
        sims: 0.into(),
        streams: Vec::new(),
        prune: true,
        fewest_slices: false,
    };
    p.loads = p.probe()?;
    if scale::decompose(&p) {
        return p.run_decomposed(headroom, opts);
    }
    p.run(headroom, opts)
}

/// Every model fits a whole GPU of some type of `[plan] gpu_types`: one that fits none makes
/// every structure infeasible, which is a mistake in the spec (a memory figure, a GPU list), not
/// a plan that was searched and not found.
fn check_models_fit(sc: &Scenario, spec: &PlanSpec, file: &str) -> Result<()> {
    for m in &sc.models {
        let fits = |g: &GpuSpec| crate::deploy::placement::memory_held_gib(&m.spec, g.memory_gib) <= g.memory_gib + 1e-9;
        if spec.gpu_types.iter().any(|(g, _)| fits(g)) {
            continue;
        }
        let largest = spec
            .gpu_types
            .iter()
            .map(|(g, _)| g)
            .max_by(|a, b| a.memory_gib.total_cmp(&b.memory_gib));
        let Some(g) = largest else { continue };
        let held = crate::deploy::placement::memory_held_gib(&m.spec, g.memory_gib);
        let field = if m.spec.memory_override {
            format!("models.{}.memory_gib", m.name)
        } else {
            format!("models.{}.from", m.name)
        };
        return Err(Error::input(
            file,
            field,
            format!(
                "model '{}' needs {} GiB, more than a whole GPU of any type of plan.gpu_types holds (the largest, {}, {} GiB){}",
                m.name,
                crate::error::num(held),
                g.name,
                g.memory_gib,
                crate::limits::unit_hint(held, g.memory_gib, "GiB", crate::limits::GIB_SLIPS)
            ),
        ));
    }
    Ok(())
}

/// The study of a planning spec: its models, workloads and objectives, without variants,
/// sweep or plan table.
fn study(raw: &RawScenario) -> RawScenario {
    let mut base = raw.clone();
    base.variant.clear();
    base.sweep = None;
    base.plan = None;
    base
}

/// Scale a scenario's load: open-loop rates and trace speed by `k`, closed-loop users rounded
/// (at least one).
pub fn scale_load(raw: &mut RawScenario, k: f64) {
    if k == 1.0 {
        return;
    }
    for w in &mut raw.workload {
        if let Some(a) = w.arrivals.as_mut() {
            a.scale(k, |x| x);
        }
        if w.trace.is_some() {
            w.trace_rate_scale = Some(w.trace_rate_scale.unwrap_or(1.0) * k);
        }
        if let Some(u) = w.users.as_mut() {
            *u = ((f64::from(*u) * k).round() as u32).max(1);
        }
    }
}

/// The objectives as the JSON report writes them: key -> bound.
pub(super) fn slo_bounds<S: serde::Serializer>(slo: &[crate::scenario::Slo], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_map(slo.iter().map(|x| (&x.key, x.bound)))
}

/// Every GPU of a placed variant as the report shows it.
pub(super) fn placed_gpus(v: &crate::scenario::Variant, models: &[Model]) -> Vec<PlacedGpu> {
    v.gpus
        .iter()
        .enumerate()
        .map(|(i, g)| PlacedGpu {
            gpu: i as u32,
            regime: g.regime.label().to_string(),
            layout: match &g.regime {
                crate::deploy::Regime::Mig { profiles } => Some(profiles.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(",")),
                _ => None,
            },
            models: g
                .tenants
                .iter()
                .map(|t| t.map_or("-".to_string(), |m| models[m].name.clone()))
                .collect(),
        })
        .collect()
}

/// Ranking: candidates meeting the SLOs first, then cheaper in nodes (what the user buys), then
/// in GPUs, then more margin on the tightest
/// SLO, on the next tightest where that ties (as it does when the tightest belongs to a tenant
/// the candidates place alike), and so on, then by name.
pub(super) fn rank(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    (!a.meets_slo)
        .cmp(&!b.meets_slo)
        .then(a.nodes.node_cost_per_hour_usd.total_cmp(&b.nodes.node_cost_per_hour_usd))
        .then(a.cost_per_hour_usd.total_cmp(&b.cost_per_hour_usd))
        .then(by_margins(&a.margins, &b.margins))
        .then(a.name.cmp(&b.name))
}

/// Cheaper in nodes, then in GPUs (the price part of [`rank`]).
pub fn rank_cost(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    a.nodes
        .node_cost_per_hour_usd
        .total_cmp(&b.nodes.node_cost_per_hour_usd)
        .then(a.cost_per_hour_usd.total_cmp(&b.cost_per_hour_usd))
}

/// Worst-first margins compared at the first place they differ.
pub(super) fn by_margins(a: &[f64], b: &[f64]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// An SLO value as the tables print it.
pub fn fmt_value(v: Option<f64>) -> String {
    match v {
        None => "none".into(),
        Some(x) if x <= 1.0 => format!("{x:.4}"),
        Some(x) => format!("{x:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_tightest_slo_leaves_the_choice_to_the_next() {
        use std::cmp::Ordering::*;
        // The same ASR p95 (0.67 of its bound) on both: the first-audio margin decides.
        assert_eq!(by_margins(&[0.67, 0.357, 0.066], &[0.67, 0.645, 0.47]), Less);
        assert_eq!(by_margins(&[0.6, 0.9], &[0.67, 0.1]), Less);
        assert_eq!(by_margins(&[0.5, 0.2], &[0.5, 0.2]), Equal);
    }
}
