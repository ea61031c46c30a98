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
//! 1. start from the bound raised by an M/G/c (Erlang-C) estimate of the latency SLOs, and double
//!    every group until all SLOs hold (or the GPU budget is exhausted, or doubling stops
//!    improving: a latency floor no replica count can beat);
//! 2. bisect each group's count over [1, its passing count] with the other groups at theirs;
//! 3. from those minima, add one replica at a time where it helps most until all SLOs hold.
//!
//! A candidate passes when every SLO holds on every seed of `[plan] seeds` (it is judged on the
//! worst). Headroom is the load growth (every rate, trace speed and user count scaled) it absorbs
//! before an SLO breaks, bisected by simulation up to +300 %.

use crate::deploy::RegimeKind;
use crate::error::{Error, Result};
use crate::gpu::{place_profiles, Catalog, GpuSpec, MigProfile};
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

/// Default GPU budget of a candidate.
pub const DEFAULT_MAX_GPUS: u32 = 64;
/// Most GPUs a plan may consider (each is simulated).
pub const MAX_PLAN_GPUS: u32 = 1024;
/// Default and most seeds each candidate is simulated with.
pub const DEFAULT_SEEDS: u32 = 3;
/// Most seeds per candidate.
pub const MAX_SEEDS: u32 = 20;
/// Structures evaluated per wave (a constant, not the thread count, so that pruning, and so the
/// answer, is the same on any machine).
const WAVE: usize = 8;
/// The capacity bound credits each replica this many times the throughput its service tables
/// give at mean sizes, so that a structure is never skipped on the estimate's error.
const BOUND_SLACK: f64 = 1.25;
/// Headroom is searched up to this load factor (+300 %).
const MAX_LOAD_FACTOR: f64 = 4.0;
/// Bisection steps of the headroom search (~5 % of load).
const HEADROOM_STEPS: u32 = 6;
/// Candidates of the ranked table whose headroom is measured (besides each regime's best).
const HEADROOM_TOP: usize = 5;

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
            Some(&x) if x.is_finite() && x > 0.0 => x,
            Some(&x) => {
                return Err(Error::input(
                    file,
                    format!("plan.price_usd_per_hour.{n}"),
                    format!("must be a positive price, got '{x}'"),
                ));
            }
            None => g.price_usd_per_hour,
        };
        gpu_types.push((g.clone(), price));
    }
    for k in p.price_usd_per_hour.keys() {
        if !names.contains(k) {
            return Err(Error::input(
                file,
                format!("plan.price_usd_per_hour.{k}"),
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
    Ok(PlanSpec {
        gpu_types,
        regimes,
        max_gpus,
        seeds: (1..=u64::from(n)).collect(),
        balancer: p.balancer,
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
    /// Every GPU and its tenants.
    pub placement: Vec<PlacedGpu>,
    /// Some service time was derived for another GPU or beyond the measured tables.
    pub extrapolated: bool,
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
}

impl PlanResult {
    /// The candidate to show when none meets the SLOs: the one closest to meeting them.
    pub fn closest(&self) -> Option<&Candidate> {
        self.candidates
            .iter()
            .min_by(|a, b| a.violation.total_cmp(&b.violation).then(a.gpus.cmp(&b.gpus)))
    }
}

/// How a group of models runs.
#[derive(Debug, Clone, PartialEq)]
enum Unit {
    /// Whole GPUs, one model each.
    Whole,
    /// Co-tenants of whole GPUs under this regime (time-sliced or MPS).
    Shared(RegimeKind),
    /// MIG instances of this profile (index into the GPU's profiles).
    Mig(usize),
}

#[derive(Debug, Clone)]
struct Group {
    models: Vec<usize>,
    unit: Unit,
}

#[derive(Debug, Clone)]
struct Structure {
    gpu: usize,
    regime: RegimeKind,
    groups: Vec<Group>,
}

/// One evaluation (all seeds) of a structure at given counts.
#[derive(Debug, Clone)]
struct Eval {
    pass: bool,
    values: BTreeMap<String, Option<f64>>,
    broken: Vec<String>,
    violation: f64,
    margins: Vec<f64>,
    throughput_rps: f64,
    extrapolated: bool,
}

struct Planner<'a> {
    base: RawScenario,
    src: &'a Sources,
    spec: &'a PlanSpec,
    scenario: Scenario,
    loads: Vec<OfferedLoad>,
    /// Per model: some closed-loop workload sends it requests.
    closed_loop: Vec<bool>,
    sims: std::sync::atomic::AtomicU64,
}

/// What the planner tells its caller as it goes: structures done of total.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Plan a scenario at its own load.
pub fn plan(raw: &RawScenario, src: &Sources, progress: Progress) -> Result<PlanResult> {
    plan_at(raw, src, 1.0, true, progress)
}

/// Plan with every load scaled by `load` (rates, trace speed and users); `headroom` measures it
/// for the top candidates.
pub fn plan_at(raw: &RawScenario, src: &Sources, load: f64, headroom: bool, progress: Progress) -> Result<PlanResult> {
    let spec = spec(raw, &src.file)?;
    let mut base = raw.clone();
    base.variant.clear();
    base.sweep = None;
    base.plan = None;
    scale_load(&mut base, load);
    let scenario = from_raw(&base, src)?;
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
        spec: &spec,
        scenario,
        sims: 0.into(),
    };
    p.loads = p.probe()?;
    p.run(headroom, progress)
}

/// Scale a scenario's load: open-loop rates and trace speed by `k`, closed-loop users rounded
/// (at least one).
pub fn scale_load(raw: &mut RawScenario, k: f64) {
    if k == 1.0 {
        return;
    }
    for w in &mut raw.workload {
        if let Some(a) = w.arrivals.as_mut() {
            *a.rate_rps_mut() *= k;
        }
        if w.trace.is_some() {
            w.trace_rate_scale = Some(w.trace_rate_scale.unwrap_or(1.0) * k);
        }
        if let Some(u) = w.users.as_mut() {
            *u = ((f64::from(*u) * k).round() as u32).max(1);
        }
    }
}

impl Planner<'_> {
    fn models(&self) -> &[Model] {
        &self.scenario.models
    }

    /// One simulation of every model on whole GPUs of the first type, generously replicated,
    /// to measure the load each model is offered.
    fn probe(&self) -> Result<Vec<OfferedLoad>> {
        let (gpu, _) = &self.spec.gpu_types[0];
        let names: Vec<&String> = self.base.models.keys().collect();
        let v = RawVariant {
            name: "probe".into(),
            gpu: gpu.name.clone(),
            price_usd_per_hour: None,
            balancer: None,
            gpus: names
                .iter()
                .map(|m| RawGpu::Dedicated {
                    models: vec![(*m).clone()],
                    count: Some(4),
                })
                .collect(),
            faults: Vec::new(),
        };
        // A model that fits no whole GPU of this type makes the probe fail: estimate no load
        // then (the structures that cannot hold it are found infeasible one by one).
        match add_variant(&self.scenario, &v, &self.src.file) {
            Ok(v) => {
                self.count_sim();
                let mut sim = Simulation::of_variant(&self.scenario, &v, self.spec.seeds[0]);
                while sim.step() {}
                Ok(sim.offered_load())
            }
            Err(_) => Ok(vec![
                OfferedLoad {
                    rate_rps: 0.0,
                    mean_size: 1.0,
                    mean_out_tokens: 1.0
                };
                names.len()
            ]),
        }
    }

    fn count_sim(&self) {
        self.sims.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn run(&self, headroom: bool, progress: Progress) -> Result<PlanResult> {
        let mut structures = Vec::new();
        for gi in 0..self.spec.gpu_types.len() {
            for &r in &self.spec.regimes {
                structures.extend(self.structures(gi, r));
            }
        }
        // Cheapest bound first; ties in enumeration order (deterministic).
        let mut keyed: Vec<(f64, usize, Structure)> = structures
            .into_iter()
            .enumerate()
            .map(|(i, s)| (self.bound_cost(&s), i, s))
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));

        let total = keyed.len();
        let mut best: BTreeMap<RegimeKind, f64> = BTreeMap::new();
        let mut found: Vec<Candidate> = Vec::new();
        let mut infeasible: Vec<String> = Vec::new();
        let mut pruned = 0;
        let mut done = 0;
        for wave in keyed.chunks(WAVE) {
            let todo: Vec<&Structure> = wave
                .iter()
                .filter(|(lb, _, s)| {
                    let skip = best.get(&s.regime).is_some_and(|&b| *lb > b + 1e-9);
                    pruned += usize::from(skip);
                    !skip
                })
                .map(|(_, _, s)| s)
                .collect();
            let results: Vec<Result<std::result::Result<Candidate, String>>> = todo.par_iter().map(|s| self.search(s)).collect();
            for r in results {
                match r? {
                    Ok(c) => {
                        if c.meets_slo {
                            let b = best.entry(c.regime).or_insert(f64::INFINITY);
                            *b = b.min(c.cost_per_hour_usd);
                        }
                        found.push(c);
                    }
                    Err(why) => infeasible.push(why),
                }
            }
            done += wave.len();
            progress(done, total);
        }
        found.sort_by(rank);
        let mut per_regime: BTreeMap<String, Option<Candidate>> = BTreeMap::new();
        for &r in &self.spec.regimes {
            per_regime.insert(r.name().to_string(), found.iter().find(|c| c.meets_slo && c.regime == r).cloned());
        }
        if headroom {
            // The top of the table and each regime's best (one search each, in parallel).
            let mut want: Vec<usize> = (0..found.len().min(HEADROOM_TOP)).collect();
            for c in per_regime.values().flatten() {
                if let Some(i) = found.iter().position(|x| x.name == c.name) {
                    if !want.contains(&i) {
                        want.push(i);
                    }
                }
            }
            let rooms: Vec<Result<Option<f64>>> = want.par_iter().map(|&i| self.headroom(&found[i])).collect();
            for (&i, h) in want.iter().zip(rooms) {
                found[i].headroom_pct = h?;
            }
            for c in per_regime.values_mut().flatten() {
                c.headroom_pct = found.iter().find(|x| x.name == c.name).and_then(|x| x.headroom_pct);
            }
        }
        let best = found.iter().find(|c| c.meets_slo).cloned();
        let reason = match (&best, found.is_empty()) {
            (Some(_), _) => None,
            (None, true) => Some(format!(
                "no deployment fits: {}",
                infeasible
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "no structure to consider (check plan.regimes and plan.gpu_types)".into())
            )),
            (None, false) => {
                let c = found.iter().min_by(|a, b| a.violation.total_cmp(&b.violation)).expect("non-empty");
                Some(format!(
                    "no candidate within {} GPUs meets every SLO; closest: {} ({} GPUs) breaks {}",
                    self.spec.max_gpus,
                    c.name,
                    c.gpus,
                    c.broken
                        .iter()
                        .map(|k| {
                            let bound = self.scenario.slo.iter().find(|s| &s.key == k).map_or(f64::NAN, |s| s.bound);
                            format!("{k} = {} (bound {bound})", fmt_value(c.slo_values[k]))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        };
        Ok(PlanResult {
            scenario: self.base.name.clone(),
            slo: self.scenario.slo.clone(),
            best,
            per_regime,
            candidates: found,
            reason,
            structures: total,
            pruned,
            simulations: self.sims.load(std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Every structure of one GPU type under one regime.
    fn structures(&self, gi: usize, regime: RegimeKind) -> Vec<Structure> {
        let n = self.models().len();
        let gpu = &self.spec.gpu_types[gi].0;
        let whole = |m: usize| Group {
            models: vec![m],
            unit: Unit::Whole,
        };
        match regime {
            RegimeKind::Dedicated => vec![Structure {
                gpu: gi,
                regime,
                groups: (0..n).map(whole).collect(),
            }],
            RegimeKind::TimeSliced | RegimeKind::Mps => set_partitions(n)
                .into_iter()
                .filter(|blocks| blocks.iter().any(|b| b.len() >= 2))
                .filter(|blocks| {
                    // Tenants whose footprints alone exceed the GPU cannot share it.
                    blocks
                        .iter()
                        .all(|b| b.len() < 2 || b.iter().map(|&m| self.models()[m].spec.memory.total_gib()).sum::<f64>() <= gpu.memory_gib)
                })
                .map(|blocks| Structure {
                    gpu: gi,
                    regime,
                    groups: blocks
                        .into_iter()
                        .map(|b| {
                            if b.len() == 1 {
                                whole(b[0])
                            } else {
                                Group {
                                    models: b,
                                    unit: Unit::Shared(regime),
                                }
                            }
                        })
                        .collect(),
                })
                .collect(),
            RegimeKind::Mig if gpu.has_mig() => {
                let options: Vec<Vec<Unit>> = (0..n).map(|m| self.mig_units(gpu, m)).collect();
                let mut out = Vec::new();
                let mut pick = vec![0usize; n];
                loop {
                    if pick.iter().zip(&options).any(|(&k, o)| o[k] != Unit::Whole) {
                        out.push(Structure {
                            gpu: gi,
                            regime,
                            groups: (0..n)
                                .map(|m| Group {
                                    models: vec![m],
                                    unit: options[m][pick[m]].clone(),
                                })
                                .collect(),
                        });
                    }
                    // Next combination (odometer).
                    let mut i = 0;
                    while i < n {
                        pick[i] += 1;
                        if pick[i] < options[i].len() {
                            break;
                        }
                        pick[i] = 0;
                        i += 1;
                    }
                    if i == n {
                        break;
                    }
                }
                out
            }
            RegimeKind::Mig => Vec::new(),
        }
    }

    /// Whole GPUs, and per compute size the smallest-memory MIG profile that holds the model.
    fn mig_units(&self, gpu: &GpuSpec, m: usize) -> Vec<Unit> {
        let spec = &self.models()[m];
        let mut units = vec![Unit::Whole];
        let mut sizes: Vec<u32> = gpu.mig_profiles.iter().map(|p| p.compute_slices).filter(|&c| c < 7).collect();
        sizes.sort();
        sizes.dedup();
        for c in sizes {
            let fit = gpu
                .mig_profiles
                .iter()
                .enumerate()
                .filter(|(_, p)| p.compute_slices == c && !p.name.contains('+'))
                .filter(|(_, p)| crate::deploy::placement::memory_held_gib(&spec.spec, p.memory_gib) <= p.memory_gib + 1e-9)
                .min_by(|a, b| a.1.memory_gib.total_cmp(&b.1.memory_gib).then(a.0.cmp(&b.0)));
            if let Some((i, _)) = fit {
                units.push(Unit::Mig(i));
            }
        }
        units
    }

    /// The share of a GPU one replica of a group's models runs on.
    fn share(&self, gpu: &GpuSpec, unit: &Unit) -> DeviceShare {
        match unit {
            Unit::Mig(i) => {
                let p = &gpu.mig_profiles[*i];
                DeviceShare::of(gpu, p.sms as f64 / gpu.sm_count as f64, p.mem_slices as f64 / 8.0)
            }
            _ => DeviceShare::of(gpu, 1.0, 1.0),
        }
    }

    /// Requests per second one replica of model `m` serves at its largest batch on `share`, from
    /// the service tables and the probe's mean sizes (an LLM: a batch of decodes amortised over
    /// its output tokens, plus its prefill alone).
    fn capacity_rps(&self, m: usize, gpu: &GpuSpec, share: &DeviceShare) -> f64 {
        let _ = gpu;
        let model = &self.models()[m];
        let slow = Slowdown::of(&model.scaling, &model.reference, share);
        let load = self.loads[m];
        let b = model.max_batch.max(1);
        let per_req_ms = match &model.server {
            ServerKind::Llm { tables, llm } => {
                let out = load.mean_out_tokens.max(1.0);
                let ctx = load.mean_size + out / 2.0;
                let pre = &tables.prefill;
                let (mut prefill, _) = pre.latency_ms(1, load.mean_size.max(1.0), &slow);
                if llm.policy != LlmPolicy::PrefillFirst {
                    // Prefills ride in mixed steps: only their marginal cost counts.
                    prefill -= pre.latency_unpadded(1.0, 0.0, &slow).0.min(prefill);
                }
                let (step, _) = tables.decode.latency_ms(b, ctx, &slow);
                prefill + out * step / f64::from(b)
            }
            ServerKind::TtsStatic { synthesize, audio } | ServerKind::TtsInFlight { synthesize, audio, .. } => {
                let frames = audio.frames(load.mean_size.max(1.0));
                let (l, _) = synthesize.latency_ms(b, frames, &slow);
                l / f64::from(b)
            }
            ServerKind::AsrBatch { encode } | ServerKind::AsrStream { encode, .. } => {
                let (l, _) = encode.latency_ms(b, load.mean_size.max(0.01), &slow);
                l / f64::from(b)
            }
        };
        if per_req_ms > 0.0 {
            1e3 / per_req_ms
        } else {
            f64::INFINITY
        }
    }

    /// Fewest replicas of a group that can carry its models' load: utilisation below 1, with
    /// each replica credited [`BOUND_SLACK`] times the throughput the tables give (the estimate
    /// uses mean sizes). Models fed by closed-loop users are left out: their load falls as the
    /// deployment slows them down, so the probe's load is no lower bound.
    fn bound_replicas(&self, gpu: &GpuSpec, g: &Group) -> u32 {
        let share = self.share(gpu, &g.unit);
        let util: f64 = g
            .models
            .iter()
            .filter(|&&m| !self.closed_loop[m])
            .map(|&m| self.loads[m].rate_rps / (BOUND_SLACK * self.capacity_rps(m, gpu, &share)))
            .sum();
        (util.ceil() as u32).max(1)
    }

    fn bound_cost(&self, s: &Structure) -> f64 {
        let (gpu, price) = &self.spec.gpu_types[s.gpu];
        let r: Vec<u32> = s.groups.iter().map(|g| self.bound_replicas(gpu, g)).collect();
        match self.gpu_count(s, &r) {
            Some(n) => f64::from(n) * price,
            None => f64::INFINITY,
        }
    }

    /// Start of the search: the bound, raised by an Erlang-C estimate for a group of one model
    /// with a latency SLO of its own.
    fn start_replicas(&self, gpu: &GpuSpec, g: &Group) -> u32 {
        let lb = self.bound_replicas(gpu, g);
        if g.models.len() != 1 {
            return lb;
        }
        let m = g.models[0];
        let share = self.share(gpu, &g.unit);
        // Batch-1 service time: the slowest case of a batching server.
        let mu = self.capacity_rps_at(m, &share, 1);
        let lambda = self.loads[m].rate_rps;
        let mut c = lb;
        for slo in &self.scenario.slo {
            use crate::scenario::{SloMetric, SloTarget};
            let q = match slo.metric {
                SloMetric::Mean => None,
                SloMetric::P95 => Some(0.95),
                SloMetric::P99 => Some(0.99),
                _ => continue,
            };
            if slo.target != SloTarget::Model(m) || !(mu.is_finite() && mu > 0.0) {
                continue;
            }
            if let Some(n) = mmc_servers_for(lambda, mu, slo.bound / 1e3, q, self.spec.max_gpus) {
                c = c.max(n);
            }
        }
        c
    }

    fn capacity_rps_at(&self, m: usize, share: &DeviceShare, batch: u32) -> f64 {
        let _ = batch;
        let model = &self.models()[m];
        let load = self.loads[m];
        let slow = Slowdown::of(&model.scaling, &model.reference, share);
        let ms = match &model.server {
            ServerKind::Llm { tables, .. } => {
                let out = load.mean_out_tokens.max(1.0);
                tables.prefill.latency_ms(1, load.mean_size.max(1.0), &slow).0
                    + out * tables.decode.latency_ms(1, load.mean_size + out / 2.0, &slow).0
            }
            ServerKind::TtsStatic { synthesize, audio } | ServerKind::TtsInFlight { synthesize, audio, .. } => {
                synthesize.latency_ms(1, audio.frames(load.mean_size.max(1.0)), &slow).0
            }
            ServerKind::AsrBatch { encode } | ServerKind::AsrStream { encode, .. } => {
                encode.latency_ms(1, load.mean_size.max(0.01), &slow).0
            }
        };
        if ms > 0.0 {
            1e3 / ms
        } else {
            f64::INFINITY
        }
    }

    /// Physical GPUs of a structure at counts `r` (None: MIG instances that cannot be packed).
    fn gpu_count(&self, s: &Structure, r: &[u32]) -> Option<u32> {
        let gpu = &self.spec.gpu_types[s.gpu].0;
        let mut n = 0;
        let mut mig: Vec<(usize, u32, usize)> = Vec::new();
        for (g, &k) in s.groups.iter().zip(r) {
            match g.unit {
                Unit::Mig(p) => mig.push((p, k, g.models[0])),
                _ => n += k,
            }
        }
        if !mig.is_empty() {
            n += pack_mig(gpu, &mig)?.iter().map(|(_, c)| c).sum::<u32>();
        }
        Some(n)
    }

    /// The variant of a structure at counts `r`.
    fn variant(&self, s: &Structure, r: &[u32]) -> Option<(RawVariant, String)> {
        let (gpu, _) = &self.spec.gpu_types[s.gpu];
        let names: Vec<&String> = self.base.models.keys().collect();
        let mut gpus = Vec::new();
        let mut mig: Vec<(usize, u32, usize)> = Vec::new();
        let mut parts = Vec::new();
        for (g, &k) in s.groups.iter().zip(r) {
            let models: Vec<String> = g.models.iter().map(|&m| names[m].clone()).collect();
            match g.unit {
                Unit::Whole => {
                    gpus.push(RawGpu::Dedicated { models, count: Some(k) });
                    parts.push(format!("{} {k}x gpu", names[g.models[0]]));
                }
                Unit::Shared(RegimeKind::Mps) => {
                    parts.push(format!("{} {k}x mps", models.join("+")));
                    gpus.push(RawGpu::Mps {
                        models,
                        thread_pct: None,
                        mem_limit_gib: None,
                        count: Some(k),
                    });
                }
                Unit::Shared(_) => {
                    parts.push(format!("{} {k}x time-sliced", models.join("+")));
                    gpus.push(RawGpu::TimeSliced {
                        models,
                        quantum_ms: None,
                        switch_us: None,
                        count: Some(k),
                    });
                }
                Unit::Mig(p) => {
                    parts.push(format!("{} {k}x {}", names[g.models[0]], gpu.mig_profiles[p].name));
                    mig.push((p, k, g.models[0]));
                }
            }
        }
        if !mig.is_empty() {
            for (layout, count) in pack_mig(gpu, &mig)? {
                let (profiles, models): (Vec<String>, Vec<String>) = layout
                    .iter()
                    .map(|&(p, m)| (gpu.mig_profiles[p].name.clone(), names[m].clone()))
                    .unzip();
                gpus.push(RawGpu::Mig {
                    layout: profiles.join(","),
                    models,
                    count: Some(count),
                });
            }
        }
        let name = format!("{} {}: {}", s.regime.name(), gpu.name, parts.join(", "));
        let v = RawVariant {
            name: name.clone(),
            gpu: gpu.name.clone(),
            price_usd_per_hour: Some(self.spec.gpu_types[s.gpu].1),
            balancer: self.spec.balancer,
            gpus,
            faults: Vec::new(),
        };
        Some((v, name))
    }

    /// Simulate a variant on every seed (stopping at the first that breaks an SLO when
    /// `lazy`), at load factor `load` (the study resolved again with every load scaled);
    /// Err(reason) when the variant is not a valid deployment (memory, placement).
    fn evaluate(&self, v: &RawVariant, load: f64, lazy: bool) -> Result<std::result::Result<Eval, String>> {
        let scaled;
        let sc = if load == 1.0 {
            &self.scenario
        } else {
            let mut raw = self.base.clone();
            scale_load(&mut raw, load);
            scaled = match from_raw(&raw, self.src) {
                Ok(sc) => sc,
                Err(e) => return Ok(Err(crate::gpu::one_line(&e.to_string()))),
            };
            &scaled
        };
        let var = match add_variant(sc, v, &self.src.file) {
            Ok(v) => v,
            Err(e) => return Ok(Err(crate::gpu::one_line(&e.to_string()))),
        };
        let run = |seed: u64| -> Result<crate::sim::RunSummary> {
            self.count_sim();
            Ok(Simulation::of_variant(sc, &var, seed).run_to_end())
        };
        let mut runs = Vec::new();
        if lazy {
            for &s in &self.spec.seeds {
                let r = run(s)?;
                let fail = r.slo.iter().any(|x| !x.met);
                runs.push(r);
                if fail {
                    break;
                }
            }
        } else {
            runs = self.spec.seeds.par_iter().map(|&s| run(s)).collect::<Result<Vec<_>>>()?;
        }
        let mut values: BTreeMap<String, Option<f64>> = BTreeMap::new();
        let mut broken = Vec::new();
        let mut violation: f64 = 0.0;
        let mut margins = Vec::with_capacity(sc.slo.len());
        for slo in &sc.slo {
            let worst = runs.iter().try_fold(None::<f64>, |acc, r| {
                let v = r.slo.iter().find(|x| x.key == slo.key).and_then(|x| x.value)?;
                Some(Some(acc.map_or(v, |a| slo.worse(a, v))))
            });
            let worst = worst.flatten();
            let ratio = slo.ratio(worst);
            if !slo.met(worst) {
                broken.push(slo.key.clone());
            }
            violation = violation.max(ratio);
            margins.push((ratio * 1000.0).round() / 1000.0);
            values.insert(slo.key.clone(), worst);
        }
        let throughput_rps = runs.iter().map(|r| r.throughput_rps).sum::<f64>() / runs.len().max(1) as f64;
        margins.sort_by(|a, b| b.total_cmp(a));
        Ok(Ok(Eval {
            pass: broken.is_empty(),
            values,
            broken,
            violation,
            margins,
            throughput_rps,
            extrapolated: runs.iter().any(|r| r.extrapolated),
        }))
    }

    /// Find the fewest replicas of a structure that meet every SLO (see the module doc);
    /// Err(reason) when the structure cannot be deployed at all.
    fn search(&self, s: &Structure) -> Result<std::result::Result<Candidate, String>> {
        let gpu = &self.spec.gpu_types[s.gpu].0;
        let mut memo: HashMap<Vec<u32>, Eval> = HashMap::new();
        // Evaluate counts `r`: Ok(None) over the GPU budget or not packable; Err(reason): invalid.
        let mut eval = |r: &[u32]| -> Result<std::result::Result<Option<Eval>, String>> {
            if let Some(e) = memo.get(r) {
                return Ok(Ok(Some(e.clone())));
            }
            match self.gpu_count(s, r) {
                Some(n) if n <= self.spec.max_gpus => {}
                _ => return Ok(Ok(None)),
            }
            let Some((v, _)) = self.variant(s, r) else { return Ok(Ok(None)) };
            match self.evaluate(&v, 1.0, true)? {
                Ok(e) => {
                    memo.insert(r.to_vec(), e.clone());
                    Ok(Ok(Some(e)))
                }
                Err(why) => Ok(Err(why)),
            }
        };
        // 1. Double from the start until everything holds.
        let mut r: Vec<u32> = s.groups.iter().map(|g| self.start_replicas(gpu, g)).collect();
        let mut last: Option<(Vec<u32>, Eval)> = None;
        let mut stalls = 0;
        let hi = loop {
            match eval(&r)? {
                Err(why) => return Ok(Err(why)),
                Ok(None) => break None,
                Ok(Some(e)) if e.pass => break Some(r.clone()),
                Ok(Some(e)) => {
                    // A latency floor: more replicas stop helping.
                    if last.as_ref().is_some_and(|(_, l)| e.violation > 0.98 * l.violation) {
                        stalls += 1;
                        if stalls >= 2 {
                            last = Some((r.clone(), e));
                            break None;
                        }
                    }
                    last = Some((r.clone(), e));
                    r.iter_mut().for_each(|x| *x *= 2);
                }
            }
        };
        let Some(hi) = hi else {
            // Nothing within the budget meets the SLOs: report the closest tried.
            return Ok(match last {
                Some((r, e)) => self.candidate(s, &r, &e).ok_or_else(|| "not packable".to_string()),
                None => Err(format!(
                    "{} {}: more than {} GPUs even at the start",
                    s.regime.name(),
                    gpu.name,
                    self.spec.max_gpus
                )),
            });
        };
        // 2. Each group's fewest with the others at theirs.
        let mut minima = hi.clone();
        for g in 0..hi.len() {
            let (mut lo, mut up) = (0u32, hi[g]); // lo fails (0 is not a count), up passes
            while up - lo > 1 {
                let mid = lo + (up - lo) / 2;
                let mut t = hi.clone();
                t[g] = mid;
                match eval(&t)? {
                    Ok(Some(e)) if e.pass => up = mid,
                    Ok(_) => lo = mid,
                    Err(_) => lo = mid,
                }
            }
            minima[g] = up;
        }
        // 3. From the minima, add where it helps most until everything holds.
        let mut r = minima;
        loop {
            match eval(&r)? {
                Ok(Some(e)) if !e.pass => {}
                _ => break,
            }
            let mut best: Option<(bool, u32, f64, Vec<u32>)> = None;
            for g in 0..r.len() {
                let mut t = r.clone();
                t[g] += 1;
                if let Ok(Some(e)) = eval(&t)? {
                    let n = self.gpu_count(s, &t).unwrap_or(u32::MAX);
                    let key = (!e.pass, n, e.violation);
                    if best.as_ref().is_none_or(|b| (key.0, key.1, key.2) < (b.0, b.1, b.2)) {
                        best = Some((key.0, key.1, key.2, t));
                    }
                }
            }
            match best {
                Some((_, _, _, t)) if self.gpu_count(s, &t).unwrap_or(u32::MAX) < self.gpu_count(s, &hi).unwrap_or(u32::MAX) => r = t,
                _ => break,
            }
        }
        // The answer: the cheapest passing counts seen. A passing evaluation ran every seed
        // (evaluation stops early only at a failing seed).
        let (best_r, full) = memo
            .iter()
            .filter(|(_, e)| e.pass)
            .map(|(r, e)| (r.clone(), e.clone()))
            .min_by(|a, b| {
                let ca = self.gpu_count(s, &a.0).unwrap_or(u32::MAX);
                let cb = self.gpu_count(s, &b.0).unwrap_or(u32::MAX);
                ca.cmp(&cb).then(a.1.violation.total_cmp(&b.1.violation)).then(a.0.cmp(&b.0))
            })
            .expect("hi passed");
        Ok(self.candidate(s, &best_r, &full).ok_or_else(|| "not packable".to_string()))
    }

    fn candidate(&self, s: &Structure, r: &[u32], e: &Eval) -> Option<Candidate> {
        let (raw, name) = self.variant(s, r)?;
        // It was simulated, so it resolves and places.
        let variant = add_variant(&self.scenario, &raw, &self.src.file).ok()?;
        let placement = placed_gpus(&variant, &self.scenario.models);
        let gpus = placement.len() as u32;
        let cost = f64::from(gpus) * self.spec.gpu_types[s.gpu].1;
        Some(Candidate {
            name,
            gpu_type: self.spec.gpu_types[s.gpu].0.name.clone(),
            regime: s.regime,
            gpus,
            cost_per_hour_usd: round2(cost),
            meets_slo: e.pass,
            slo_values: e.values.clone(),
            broken: e.broken.clone(),
            throughput_rps: crate::metrics::round4(e.throughput_rps),
            usd_per_million: (e.throughput_rps > 0.0).then(|| round2(cost / (e.throughput_rps * 3600.0) * 1e6)),
            headroom_pct: None,
            placement,
            extrapolated: e.extrapolated,
            raw,
            variant,
            model_names: self.scenario.models.iter().map(|m| m.name.clone()).collect(),
            violation: e.violation,
            margins: e.margins.clone(),
        })
    }

    /// Load growth a candidate absorbs before an SLO breaks [%], by bisection over the load
    /// factor (None for a candidate that does not meet the SLOs).
    fn headroom(&self, c: &Candidate) -> Result<Option<f64>> {
        if !c.meets_slo {
            return Ok(None);
        }
        let passes = |k: f64| -> Result<bool> { Ok(matches!(self.evaluate(&c.raw, k, true)?, Ok(e) if e.pass)) };
        if passes(MAX_LOAD_FACTOR)? {
            return Ok(Some((MAX_LOAD_FACTOR - 1.0) * 100.0));
        }
        let (mut lo, mut hi) = (1.0, MAX_LOAD_FACTOR);
        for _ in 0..HEADROOM_STEPS {
            let mid = 0.5 * (lo + hi);
            if passes(mid)? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(Some(((lo - 1.0) * 100.0).round()))
    }
}

/// The objectives as the JSON report writes them: key -> bound.
fn slo_bounds<S: serde::Serializer>(slo: &[crate::scenario::Slo], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_map(slo.iter().map(|x| (&x.key, x.bound)))
}

/// Every GPU of a placed variant as the report shows it.
fn placed_gpus(v: &crate::scenario::Variant, models: &[Model]) -> Vec<PlacedGpu> {
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

/// Ranking: candidates meeting the SLOs first, then cheaper, then more margin on the tightest
/// SLO, on the next tightest where that ties (as it does when the tightest belongs to a tenant
/// the candidates place alike), and so on, then by name.
fn rank(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    (!a.meets_slo)
        .cmp(&!b.meets_slo)
        .then(a.cost_per_hour_usd.total_cmp(&b.cost_per_hour_usd))
        .then(by_margins(&a.margins, &b.margins))
        .then(a.name.cmp(&b.name))
}

/// Worst-first margins compared at the first place they differ.
fn by_margins(a: &[f64], b: &[f64]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

fn round2(x: f64) -> f64 {
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

/// Every partition of `0..n` into blocks (restricted growth strings), blocks in order of their
/// first element.
fn set_partitions(n: usize) -> Vec<Vec<Vec<usize>>> {
    let mut out = Vec::new();
    let mut a = vec![0usize; n];
    fn rec(i: usize, max: usize, a: &mut Vec<usize>, out: &mut Vec<Vec<Vec<usize>>>) {
        if i == a.len() {
            let blocks = a.iter().copied().max().map_or(0, |m| m + 1);
            let mut p = vec![Vec::new(); blocks];
            for (m, &b) in a.iter().enumerate() {
                p[b].push(m);
            }
            out.push(p);
            return;
        }
        for b in 0..=max {
            a[i] = b;
            rec(i + 1, if b == max { max + 1 } else { max }, a, out);
        }
    }
    if n > 0 {
        rec(0, 0, &mut a, &mut out);
    }
    out
}

/// One GPU's MIG instances: (profile index, model) each.
pub type MigLayout = Vec<(usize, usize)>;

/// Pack MIG instances onto the fewest GPUs: `items` are (profile index, instances, model); the
/// answer is a list of (layout as (profile, model) per instance, number of GPUs with it). Exact
/// over every valid layout of the used profiles (dynamic programming on the instances still to
/// place); None when some profile cannot be placed at all.
pub fn pack_mig(gpu: &GpuSpec, items: &[(usize, u32, usize)]) -> Option<Vec<(MigLayout, u32)>> {
    let k = items.len();
    // Every per-item instance count vector that places on one GPU.
    let mut layouts: Vec<Vec<u32>> = Vec::new();
    let mut c = vec![0u32; k];
    loop {
        let mut i = 0;
        while i < k {
            c[i] += 1;
            if c[i] <= gpu.mig_profiles[items[i].0].max_count.min(7) {
                break;
            }
            c[i] = 0;
            i += 1;
        }
        if i == k {
            break;
        }
        let profiles: Vec<&MigProfile> = items
            .iter()
            .zip(&c)
            .flat_map(|(it, &n)| std::iter::repeat_n(&gpu.mig_profiles[it.0], n as usize))
            .collect();
        if profiles.iter().map(|p| p.compute_slices).sum::<u32>() <= 7 && place_profiles(gpu, &profiles).is_ok() {
            layouts.push(c.clone());
        }
    }
    for (i, it) in items.iter().enumerate() {
        if it.1 > 0 && !layouts.iter().any(|l| l[i] > 0) {
            return None;
        }
    }
    // Keep the maximal layouts (a dominated one never packs better).
    let maximal: Vec<Vec<u32>> = layouts
        .iter()
        .filter(|l| !layouts.iter().any(|m| m != *l && m.iter().zip(l.iter()).all(|(a, b)| a >= b)))
        .cloned()
        .collect();
    let need: Vec<u32> = items.iter().map(|it| it.1).collect();
    let states: f64 = need.iter().map(|&n| f64::from(n) + 1.0).product();
    let mut plan: Vec<Vec<u32>> = Vec::new();
    if states <= 200_000.0 {
        let mut memo: HashMap<Vec<u32>, (u32, usize)> = HashMap::new();
        fn best(rem: &[u32], ls: &[Vec<u32>], memo: &mut HashMap<Vec<u32>, (u32, usize)>) -> u32 {
            if rem.iter().all(|&x| x == 0) {
                return 0;
            }
            if let Some(&(n, _)) = memo.get(rem) {
                return n;
            }
            let mut top = (u32::MAX, 0);
            for (li, l) in ls.iter().enumerate() {
                if !l.iter().zip(rem).any(|(&a, &r)| a > 0 && r > 0) {
                    continue;
                }
                let next: Vec<u32> = rem.iter().zip(l).map(|(&r, &a)| r.saturating_sub(a)).collect();
                let n = best(&next, ls, memo).saturating_add(1);
                if n < top.0 {
                    top = (n, li);
                }
            }
            memo.insert(rem.to_vec(), top);
            top.0
        }
        best(&need, &maximal, &mut memo);
        let mut rem = need.clone();
        while rem.iter().any(|&x| x > 0) {
            let (_, li) = memo[&rem];
            plan.push(maximal[li].iter().zip(&rem).map(|(&a, &r)| a.min(r)).collect());
            rem = rem.iter().zip(&maximal[li]).map(|(&r, &a)| r.saturating_sub(a)).collect();
        }
    } else {
        // Too many states: greedily take the layout that places the most compute slices.
        let mut rem = need.clone();
        while rem.iter().any(|&x| x > 0) {
            let l = maximal
                .iter()
                .max_by_key(|l| {
                    l.iter()
                        .zip(&rem)
                        .zip(items)
                        .map(|((&a, &r), it)| a.min(r) * gpu.mig_profiles[it.0].compute_slices)
                        .sum::<u32>()
                })
                .expect("a layout exists");
            plan.push(l.iter().zip(&rem).map(|(&a, &r)| a.min(r)).collect());
            rem = rem.iter().zip(l).map(|(&r, &a)| r.saturating_sub(a)).collect();
        }
    }
    // Merge identical GPUs, in order of first use.
    let mut out: Vec<(Vec<u32>, u32)> = Vec::new();
    for l in plan {
        match out.iter_mut().find(|(x, _)| *x == l) {
            Some((_, n)) => *n += 1,
            None => out.push((l, 1)),
        }
    }
    Some(
        out.into_iter()
            .map(|(l, n)| {
                let layout = items
                    .iter()
                    .zip(&l)
                    .flat_map(|(it, &c)| std::iter::repeat_n((it.0, it.2), c as usize))
                    .collect();
                (layout, n)
            })
            .collect(),
    )
}

/// Erlang C: the probability that an arrival waits in an M/M/c queue with offered load `a`
/// (= lambda / mu, in servers); 1 when `a >= c`.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if a >= f64::from(c) {
        return 1.0;
    }
    // Erlang B by its stable recursion, then C from B.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let rho = a / f64::from(c);
    b / (1.0 - rho + rho * b)
}

/// Fewest M/M/c servers (service rate `mu`, arrivals `lambda` per second) whose response time
/// meets `bound_s`: its mean when `quantile` is None, else that quantile. Waiting W has
/// P(W > t) = C e^{-(c mu - lambda) t} and service is exponential; the response quantile is found
/// by bisection on the distribution of their sum. None if no count up to `max` does.
pub fn mmc_servers_for(lambda: f64, mu: f64, bound_s: f64, quantile: Option<f64>, max: u32) -> Option<u32> {
    if !(lambda >= 0.0 && mu > 0.0 && bound_s > 0.0) {
        return None;
    }
    let start = ((lambda / mu).floor() as u32 + 1).max(1);
    (start..=max.max(start)).find(|&c| {
        let pw = erlang_c(c, lambda / mu);
        let theta = f64::from(c) * mu - lambda;
        match quantile {
            None => pw / theta + 1.0 / mu <= bound_s,
            Some(q) => mmc_response_tail(pw, theta, mu, bound_s) <= 1.0 - q,
        }
    })
}

/// P(T > t) for T = W + S, W with an atom 1 - pw at 0 and rate-`theta` exponential tail of mass
/// pw, S exponential with rate `mu` (the M/M/c response time).
pub fn mmc_response_tail(pw: f64, theta: f64, mu: f64, t: f64) -> f64 {
    let s_tail = (-mu * t).exp();
    let w_part = if (theta - mu).abs() < 1e-9 * mu {
        pw * (1.0 + mu * t) * (-mu * t).exp()
    } else {
        pw * (mu * (-theta * t).exp() - theta * (-mu * t).exp()) / (mu - theta)
    };
    (1.0 - pw) * s_tail + w_part
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

    #[test]
    fn set_partitions_count_is_bell() {
        assert_eq!([1, 2, 3, 4].map(|n| set_partitions(n).len()), [1, 2, 5, 15]);
    }

    /// Erlang C against textbook values: c = 2, a = 1 gives 1/3; c = 1 is rho.
    #[test]
    fn erlang_c_matches_closed_forms() {
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        assert_eq!(erlang_c(3, 3.5), 1.0);
    }

    /// The response tail integrates to the M/M/c mean: E[T] = int P(T > t) dt.
    #[test]
    fn response_tail_integrates_to_the_mean() {
        let (c, lambda, mu) = (3u32, 2.4, 1.0);
        let pw = erlang_c(c, lambda / mu);
        let theta = f64::from(c) * mu - lambda;
        let dt = 1e-3;
        let integral: f64 = (0..40_000)
            .map(|i| mmc_response_tail(pw, theta, mu, (i as f64 + 0.5) * dt) * dt)
            .sum();
        let mean = pw / theta + 1.0 / mu;
        assert!((integral - mean).abs() < 1e-3 * mean, "{integral} vs {mean}");
    }

    /// Packing two 3g.40gb instances and one 2g.20gb: the three cannot share a GPU (3+3+2 > 7
    /// compute slices), so two GPUs; every packed layout is valid.
    #[test]
    fn mig_packing_uses_valid_layouts_only() {
        let gpu = Catalog::builtin().gpu("a100-80gb").expect("a100").clone();
        let idx = |n: &str| gpu.mig_profiles.iter().position(|p| p.name == n).expect(n);
        let items = [(idx("3g.40gb"), 2, 0), (idx("2g.20gb"), 1, 1)];
        let packed = pack_mig(&gpu, &items).expect("packs");
        assert_eq!(packed.iter().map(|(_, n)| n).sum::<u32>(), 2);
        for (layout, _) in &packed {
            let profiles: Vec<&MigProfile> = layout.iter().map(|&(p, _)| &gpu.mig_profiles[p]).collect();
            assert!(place_profiles(&gpu, &profiles).is_ok(), "{layout:?}");
        }
        // Seven 1g.10gb fit one GPU exactly.
        let packed = pack_mig(&gpu, &[(idx("1g.10gb"), 7, 0)]).expect("packs");
        assert_eq!(packed, vec![(vec![(idx("1g.10gb"), 0); 7], 1)]);
    }
}
