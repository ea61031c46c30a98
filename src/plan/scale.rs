//! The planner at scale: a lower bound on any plan's cost, and the decomposed search for specs
//! of many models.
//!
//! # Decomposition
//! Models that share no workload (no pipeline, no model-level workload of two) and no GPU do
//! not interact in the simulation: each workload draws from its own RNG streams (keyed by its
//! index in the whole spec, which a sub-study keeps), and a model's metrics depend only on its
//! own requests and its GPUs. So a *part* (a connected set of models) simulated alone gives
//! exactly its share of the joint simulation, and the parts can be sized apart:
//! 1. every part is searched exactly on its own (every structure of its models; a part of one
//!    model without pruning, so each of its MIG profiles is sized);
//! 2. per GPU type and regime the parts' answers are combined: dedicated and time-sliced/MPS
//!    take each part's cheapest; MIG chooses, per part, among its passing answers the ones whose
//!    instances pack onto the fewest GPUs together (every combination where few, else
//!    coordinate descent), packed exactly by profile;
//! 3. time-sliced and MPS: parts of one model on dedicated GPUs are put in co-tenant bins by
//!    first-fit decreasing on their bound utilisation (memory permitting), and each bin is sized
//!    by simulation as one shared group; a bin is kept where it is cheaper than its members apart;
//! 4. every combined plan is simulated jointly on every seed (its SLOs confirmed as a whole).
//!
//! The decomposition is exact for dedicated GPUs and MIG (isolated instances); the co-tenant
//! bins of step 3 are a heuristic (the exact joint search over every set partition is what does
//! not scale): the lower bound and the gap say how far from optimal it may be.

use super::search::{Group, Planner, Structure, Unit};
use super::*;
use crate::scenario::raw::PlanSearch;
use crate::scenario::SloTarget;

/// Models searched jointly and exactly (every structure) in `auto` mode.
pub(super) const EXACT_MAX_MODELS: usize = 5;
/// Most models of one co-tenant bin.
const BIN_MAX_MODELS: usize = 4;
/// A bin is filled up to this bound utilisation (the bound credits each replica more than the
/// tables give, [`BOUND_SLACK`], so a full bin would rarely meet latency SLOs).
const BIN_MAX_UTIL: f64 = 0.8;
/// Most MIG combinations of the parts' answers tried exhaustively.
const MIG_COMBINATIONS: f64 = 4096.0;

/// The search is decomposed: asked for, or `auto` with more than [`EXACT_MAX_MODELS`] models
/// (or more exact structures than the limit) that split into independent parts.
pub(super) fn decompose(p: &Planner) -> bool {
    match p.spec.search {
        PlanSearch::Exact => false,
        PlanSearch::Decomposed => true,
        PlanSearch::Auto => {
            let n = p.models().len();
            let over = p.exact_structure_count() > crate::limits::MAX_PLAN_STRUCTURES;
            (n > EXACT_MAX_MODELS || over) && parts(&p.scenario).len() > 1
        }
    }
}

/// (best - bound) / best [%], to 0.1 %.
pub(super) fn gap_pct(best: f64, bound: f64) -> f64 {
    if best <= 0.0 {
        return 0.0;
    }
    (((best - bound) / best * 100.0).max(0.0) * 10.0).round() / 10.0
}

/// The independent parts of a study: models connected by a workload (the stages of a
/// pipeline), in order of their first model.
pub(super) fn parts(sc: &Scenario) -> Vec<Vec<usize>> {
    let n = sc.models.len();
    let mut root: Vec<usize> = (0..n).collect();
    fn find(root: &mut [usize], mut x: usize) -> usize {
        while root[x] != x {
            root[x] = root[root[x]];
            x = root[x];
        }
        x
    }
    for w in &sc.workloads {
        let st = w.target.stages();
        for pair in st.windows(2) {
            let (a, b) = (find(&mut root, pair[0]), find(&mut root, pair[1]));
            root[a.max(b)] = a.min(b);
        }
    }
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut of_root: HashMap<usize, usize> = HashMap::new();
    for m in 0..n {
        let r = find(&mut root, m);
        let i = *of_root.entry(r).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[i].push(m);
    }
    out
}

/// One part's answers.
struct PartPlan {
    models: Vec<usize>,
    /// Candidates meeting the SLOs, ranked.
    passing: Vec<Candidate>,
}

impl<'a> Planner<'a> {
    /// Exact structure count of the joint study over its GPU types and regimes.
    pub(super) fn exact_structure_count(&self) -> f64 {
        let mut total = 0.0;
        for gi in 0..self.spec.gpu_types.len() {
            for &r in &self.spec.regimes {
                total += self.structure_count(gi, r);
            }
        }
        total
    }

    /// The study of `models` alone (ascending global indices): their workloads and SLOs, each
    /// workload keeping its stream id; `spec` may narrow the regimes.
    fn sub<'b>(&'b self, models: &[usize], spec: &'b PlanSpec) -> Result<Planner<'b>> {
        let names: Vec<&String> = self.base.models.keys().collect();
        let keep: Vec<&String> = models.iter().map(|&m| names[m]).collect();
        let mut base = self.base.clone();
        base.models.retain(|k, _| keep.contains(&k));
        let mut streams = Vec::new();
        let mut wl = Vec::new();
        let mut kept_wl: Vec<usize> = Vec::new();
        for (i, (w, rw)) in self.scenario.workloads.iter().zip(&self.base.workload).enumerate() {
            if w.target.stages().iter().all(|m| models.contains(m)) {
                wl.push(rw.clone());
                streams.push(self.streams.get(i).copied().unwrap_or(i as u64));
                kept_wl.push(i);
            }
        }
        base.workload = wl;
        let keys: Vec<String> = self
            .scenario
            .slo
            .iter()
            .filter(|s| match s.target {
                SloTarget::Model(m) => models.contains(&m),
                SloTarget::Workload(w) => kept_wl.contains(&w),
            })
            .map(|s| s.key.clone())
            .collect();
        base.slo.retain(|k, _| keys.contains(k));
        let mut scenario = from_raw(&base, self.src)?;
        for (w, &id) in scenario.workloads.iter_mut().zip(&streams) {
            w.stream = Some(id);
        }
        Ok(Planner {
            loads: models.iter().map(|&m| self.loads[m]).collect(),
            closed_loop: models.iter().map(|&m| self.closed_loop[m]).collect(),
            base,
            src: self.src,
            spec,
            scenario,
            sims: 0.into(),
            streams,
            prune: models.len() > 1,
            fewest_slices: true,
        })
    }

    fn add_sims(&self, n: u64) {
        self.sims.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    fn tick(&self, opts: &Options, done: usize, total: usize, best: Option<f64>) {
        (opts.tick)(&Tick {
            done,
            total,
            simulations: self.sims.load(std::sync::atomic::Ordering::Relaxed),
            best_usd_per_hour: best,
        });
    }

    /// The decomposed search (module doc).
    pub(super) fn run_decomposed(&self, headroom: bool, opts: Options) -> Result<PlanResult> {
        let parts = parts(&self.scenario);
        // Structures of every part, for the progress total.
        let mut total = 0usize;
        let mut done = 0usize;
        let mut planners = Vec::with_capacity(parts.len());
        for part in &parts {
            let p = self.sub(part, self.spec)?;
            p.check_structure_count().map_err(|e| {
                Error::input(
                    &self.src.file,
                    "plan.regimes",
                    format!(
                        "the independent part {{{}}}: {}",
                        part.iter().map(|&m| self.models()[m].name.as_str()).collect::<Vec<_>>().join(", "),
                        e
                    ),
                )
            })?;
            total += p.exact_structure_count() as usize;
            planners.push(p);
        }
        // 1. Every part alone, WAVE parts at a time (each part's search is itself in waves).
        let mut plans: Vec<PartPlan> = Vec::with_capacity(parts.len());
        let mut infeasible: Vec<String> = Vec::new();
        let mut cut = false;
        let mut best_so_far: Option<f64> = None;
        for (chunk, pchunk) in parts.chunks(WAVE).zip(planners.chunks(WAVE)) {
            if (opts.stop)() {
                cut = true;
                break;
            }
            let results: Vec<Result<(Vec<Candidate>, Vec<String>, usize)>> = pchunk
                .par_iter()
                .map(|p| {
                    let (found, why, n, _, _) = p.search_all(&Options::NONE)?;
                    Ok((found, why, n))
                })
                .collect();
            for ((part, p), r) in chunk.iter().zip(pchunk).zip(results) {
                let (mut found, why, n) = r?;
                self.add_sims(p.sims.load(std::sync::atomic::Ordering::Relaxed));
                done += n;
                found.retain(|c| c.meets_slo);
                found.sort_by(rank);
                if found.is_empty() {
                    infeasible.extend(why);
                }
                let cheapest = found.first().map(|c| c.cost_per_hour_usd);
                best_so_far = Some(best_so_far.unwrap_or(0.0) + cheapest.unwrap_or(0.0));
                plans.push(PartPlan {
                    models: part.clone(),
                    passing: found,
                });
            }
            self.tick(&opts, done, total, best_so_far);
        }
        if cut || plans.iter().any(|p| p.passing.is_empty()) {
            // A part without a plan (or not searched): no combined plan; say which.
            let reason = plans
                .iter()
                .find(|p| p.passing.is_empty())
                .map(|p| {
                    format!(
                        "no deployment of {} alone meets its SLOs within {} GPUs{}",
                        p.models.iter().map(|&m| self.models()[m].name.as_str()).collect::<Vec<_>>().join(", "),
                        self.spec.max_gpus,
                        infeasible.first().map(|w| format!(" ({w})")).unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "--max-time ran out before every independent part was sized".into());
            let mut r = self.finish(Vec::new(), vec![reason.clone()], total, 0, cut, false, "decomposed", &opts)?;
            r.reason = Some(reason);
            return Ok(r);
        }
        // 2 and 3. Combine per GPU type and regime.
        let mut combos: Vec<(usize, RegimeKind, Vec<RawGpuPart>)> = Vec::new();
        let mut bins_total = 0usize;
        for gi in 0..self.spec.gpu_types.len() {
            for &r in &self.spec.regimes {
                let gname = &self.spec.gpu_types[gi].0.name;
                let options: Vec<Vec<&Candidate>> = plans
                    .iter()
                    .map(|p| {
                        p.passing
                            .iter()
                            .filter(|c| &c.gpu_type == gname && (c.regime == r || c.regime == RegimeKind::Dedicated))
                            .collect()
                    })
                    .collect();
                if options.iter().any(|o| o.is_empty()) {
                    continue;
                }
                let pick: Vec<&Candidate> = match r {
                    RegimeKind::Mig => self.mig_choice(gi, &options),
                    _ => options.iter().map(|o| o[0]).collect(),
                };
                let mut pieces: Vec<RawGpuPart> = pick.iter().map(|c| RawGpuPart::of(c)).collect();
                if matches!(r, RegimeKind::TimeSliced | RegimeKind::Mps) && !(opts.stop)() {
                    let (merged, n) = self.co_tenant_bins(gi, r, &plans, &pick)?;
                    bins_total += n;
                    pieces = merged.unwrap_or(pieces);
                }
                combos.push((gi, r, pieces));
            }
        }
        total += bins_total;
        // 4. Every combined plan simulated jointly.
        let joint: Vec<Result<Option<Candidate>>> = combos
            .par_iter()
            .map(|(gi, r, pieces)| {
                let (v, name) = self.joint_variant(*gi, *r, pieces);
                Ok(match self.judge(&v, &self.spec.seeds)? {
                    Ok(e) => self.candidate_of(v, name, *gi, *r, &e),
                    Err(_) => None,
                })
            })
            .collect();
        let mut found = Vec::new();
        for c in joint {
            if let Some(c) = c? {
                found.push(c);
            }
        }
        let best = found.iter().filter(|c| c.meets_slo).map(|c| c.cost_per_hour_usd).reduce(f64::min);
        self.tick(&opts, total, total, best.or(best_so_far));
        self.finish(found, infeasible, total, 0, cut || (opts.stop)(), headroom, "decomposed", &opts)
    }

    /// Per part, the MIG-regime answer (or dedicated) whose instances pack with the others'
    /// onto the fewest GPUs: every combination where there are few, else coordinate descent
    /// from each part's cheapest.
    fn mig_choice<'c>(&self, gi: usize, options: &[Vec<&'c Candidate>]) -> Vec<&'c Candidate> {
        // GPUs first, then the compute slices taken (a whole GPU as 7), so that descent also
        // moves along the plateaus of equal GPU counts towards smaller instances.
        let cost = |pick: &[usize]| -> (u32, u32) {
            let pieces: Vec<RawGpuPart> = pick.iter().zip(options).map(|(&k, o)| RawGpuPart::of(o[k])).collect();
            (self.joint_gpus(gi, &pieces), pieces.iter().map(|p| self.slices(gi, p)).sum())
        };
        let n: f64 = options.iter().map(|o| o.len() as f64).product();
        if n <= MIG_COMBINATIONS {
            let mut cur = vec![0usize; options.len()];
            let mut best = (cost(&cur), cur.clone());
            loop {
                let mut i = 0;
                while i < cur.len() {
                    cur[i] += 1;
                    if cur[i] < options[i].len() {
                        break;
                    }
                    cur[i] = 0;
                    i += 1;
                }
                if i == cur.len() {
                    break;
                }
                let c = cost(&cur);
                if c < best.0 {
                    best = (c, cur.clone());
                }
            }
            return best.1.iter().zip(options).map(|(&k, o)| o[k]).collect();
        }
        // Start from each part's fewest slices (ties: its cheapest, first in rank).
        let mut pick: Vec<usize> = options
            .iter()
            .map(|o| (0..o.len()).min_by_key(|&k| self.slices(gi, &RawGpuPart::of(o[k]))).unwrap_or(0))
            .collect();
        let mut now = cost(&pick);
        for _ in 0..4 {
            let mut moved = false;
            for i in 0..pick.len() {
                for k in 0..options[i].len() {
                    let mut t = pick.clone();
                    t[i] = k;
                    let c = cost(&t);
                    if c < now {
                        now = c;
                        pick = t;
                        moved = true;
                    }
                }
            }
            if !moved {
                break;
            }
        }
        pick.iter().zip(options).map(|(&k, o)| o[k]).collect()
    }

    /// Compute slices a piece takes (a whole GPU as all 7).
    fn slices(&self, gi: usize, p: &RawGpuPart) -> u32 {
        let gpu = &self.spec.gpu_types[gi].0;
        let whole: u32 = p.gpus.iter().map(gpu_count_of).sum::<u32>() * 7;
        let mig: u32 = self
            .mig_items(gi, std::slice::from_ref(p))
            .iter()
            .map(|&(i, n, _)| n * gpu.mig_profiles[i].compute_slices)
            .sum();
        whole + mig
    }

    /// Co-tenant bins of the parts of one model on dedicated single-GPU replicas (module doc,
    /// step 3): the pieces with every kept bin in place of its members (None: no bin kept), and
    /// the bins sized.
    fn co_tenant_bins(&self, gi: usize, regime: RegimeKind, plans: &[PartPlan], pick: &[&Candidate]) -> Result<(Option<Vec<RawGpuPart>>, usize)> {
        let (gpu, price) = &self.spec.gpu_types[gi];
        let whole = DeviceShare::of(gpu, 1.0, 1.0);
        // (part, model, utilisation, memory) of the parts that may share.
        let mut items: Vec<(usize, usize, f64, f64)> = Vec::new();
        for (i, (p, c)) in plans.iter().zip(pick).enumerate() {
            let m = p.models[0];
            if p.models.len() != 1 || c.regime != RegimeKind::Dedicated || self.span(m) != 1 || self.closed_loop[m] {
                continue;
            }
            let util = self.loads[m].rate_rps / (BOUND_SLACK * self.capacity_rps(m, gpu, &whole));
            items.push((i, m, util, self.models()[m].spec.memory.total_gib()));
        }
        // First fit decreasing (ties by part order: deterministic).
        items.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        let mut bins: Vec<Vec<(usize, usize, f64, f64)>> = Vec::new();
        for it in items {
            let slot = bins.iter_mut().find(|b| {
                b.len() < BIN_MAX_MODELS
                    && b.iter().map(|x| x.2).sum::<f64>() + it.2 <= BIN_MAX_UTIL
                    && b.iter().map(|x| x.3).sum::<f64>() + it.3 <= gpu.memory_gib
            });
            match slot {
                Some(b) => b.push(it),
                None => bins.push(vec![it]),
            }
        }
        bins.retain(|b| b.len() >= 2 && {
            let apart: f64 = b.iter().map(|x| pick[x.0].cost_per_hour_usd).sum();
            let util: f64 = b.iter().map(|x| x.2).sum();
            (util.ceil().max(1.0)) * price < apart - 1e-9
        });
        if bins.is_empty() {
            return Ok((None, 0));
        }
        let mut narrow = self.spec.clone();
        narrow.gpu_types = vec![self.spec.gpu_types[gi].clone()];
        narrow.regimes = vec![regime];
        let sized: Vec<Result<Option<Candidate>>> = bins
            .par_iter()
            .map(|b| {
                let mut models: Vec<usize> = b.iter().map(|x| x.1).collect();
                models.sort();
                let p = self.sub(&models, &narrow)?;
                let s = Structure {
                    gpu: 0,
                    regime,
                    groups: vec![Group {
                        models: (0..models.len()).collect(),
                        unit: Unit::Shared(regime),
                    }],
                };
                let (c, _) = p.search(&s, &super::search::Hints::new())?;
                self.add_sims(p.sims.load(std::sync::atomic::Ordering::Relaxed));
                Ok(c.ok().filter(|c| c.meets_slo))
            })
            .collect();
        let mut pieces: Vec<Option<RawGpuPart>> = pick.iter().map(|c| Some(RawGpuPart::of(c))).collect();
        let mut extra = Vec::new();
        let mut kept = false;
        for (b, c) in bins.iter().zip(sized) {
            let Some(c) = c? else { continue };
            let apart: f64 = b.iter().map(|x| pick[x.0].cost_per_hour_usd).sum();
            if c.cost_per_hour_usd < apart - 1e-9 {
                for x in b {
                    pieces[x.0] = None;
                }
                extra.push(RawGpuPart::of(&c));
                kept = true;
            }
        }
        let n = bins.len();
        if !kept {
            return Ok((None, n));
        }
        Ok((Some(pieces.into_iter().flatten().chain(extra).collect()), n))
    }

    /// Physical GPUs of the pieces together (the MIG instances packed jointly).
    fn joint_gpus(&self, gi: usize, pieces: &[RawGpuPart]) -> u32 {
        let gpu = &self.spec.gpu_types[gi].0;
        let whole: u32 = pieces.iter().flat_map(|p| &p.gpus).map(gpu_count_of).sum();
        let mig = self.mig_items(gi, pieces);
        whole + if mig.is_empty() { 0 } else { pack_count(gpu, &mig).unwrap_or(u32::MAX / 2) }
    }

    /// The MIG instances of the pieces: (profile, instances, model), by profile and model.
    fn mig_items(&self, gi: usize, pieces: &[RawGpuPart]) -> Vec<(usize, u32, usize)> {
        let gpu = &self.spec.gpu_types[gi].0;
        let names: Vec<&String> = self.base.models.keys().collect();
        let mut count: BTreeMap<(usize, usize), u32> = BTreeMap::new();
        for (layout, models, n) in pieces.iter().flat_map(|p| &p.mig) {
            for (prof, model) in layout.split(',').zip(models) {
                let p = gpu.mig_profiles.iter().position(|x| x.name == prof).expect("a profile of the GPU");
                let m = names.iter().position(|x| *x == model).expect("a model of the study");
                *count.entry((p, m)).or_insert(0) += n;
            }
        }
        count.into_iter().map(|((p, m), n)| (p, n, m)).collect()
    }

    /// The joint variant of the pieces: their whole GPUs in order, then the MIG instances
    /// packed together.
    fn joint_variant(&self, gi: usize, regime: RegimeKind, pieces: &[RawGpuPart]) -> (RawVariant, String) {
        let (gpu, price) = &self.spec.gpu_types[gi];
        let names: Vec<&String> = self.base.models.keys().collect();
        let mut gpus: Vec<RawGpu> = pieces.iter().flat_map(|p| p.gpus.iter().cloned()).collect();
        let mig = self.mig_items(gi, pieces);
        if !mig.is_empty() {
            gpus.extend(super::structures::mig_gpus(gpu, &names, pack_by_profile(gpu, &mig).unwrap_or_default()));
        }
        let name = format!(
            "{} {}: {}",
            regime.name(),
            gpu.name,
            pieces.iter().map(|p| p.describe.as_str()).collect::<Vec<_>>().join(", ")
        );
        let v = RawVariant {
            name: name.clone(),
            gpu: gpu.name.clone(),
            price_usd_per_hour: Some(*price),
            balancer: self.spec.balancer,
            gpus,
            faults: Vec::new(),
        };
        (v, name)
    }

    /// A lower bound on the cost of any deployment meeting the SLOs [$/h], the cheapest over
    /// the GPU types of: whole GPUs no fewer than the sum over the models of the least share of
    /// a GPU each can run on. A model's least share is, over the ways `[plan] regimes` allow:
    /// whole GPUs of its own (its bound replicas, [`Planner::bound_replicas`], times its span);
    /// co-tenant of a time-sliced or MPS GPU (its utilisation of a whole GPU, and at least its
    /// memory's share); a MIG profile (its bound instances times the profile's share of the
    /// GPU's compute and memory slices). It is a bound of the service tables' capacity model
    /// (each replica credited [`BOUND_SLACK`] times the throughput its tables give at the
    /// probe's mean sizes; models fed only by closed-loop users count their memory or one
    /// replica); the simulations decide the plan.
    ///
    /// Also the same for the nodes (the second of the pair): no fewer than those GPUs over the
    /// GPUs per node, rounded up, at the node price, the cheapest over the GPU types.
    pub(super) fn lower_bounds(&self) -> (f64, f64) {
        let shared = self.spec.regimes.iter().any(|r| matches!(r, RegimeKind::TimeSliced | RegimeKind::Mps));
        let mig = self.spec.regimes.contains(&RegimeKind::Mig);
        let (mut best, mut best_nodes) = (f64::INFINITY, f64::INFINITY);
        for ((gpu, price), node) in self.spec.gpu_types.iter().zip(&self.spec.nodes) {
            let mut gpus = 0.0;
            for m in 0..self.models().len() {
                let span = f64::from(self.span(m));
                let util = |unit: &Unit| -> f64 {
                    if self.closed_loop[m] {
                        return 0.0;
                    }
                    let share = self.share(gpu, unit);
                    self.loads[m].rate_rps / (BOUND_SLACK * self.capacity_rps(m, gpu, &share))
                };
                let fits_whole = crate::deploy::placement::memory_held_gib(&self.models()[m].spec, gpu.memory_gib) <= gpu.memory_gib + 1e-9;
                let mut least = f64::INFINITY;
                if fits_whole || span > 1.0 {
                    let u = util(&Unit::Whole);
                    least = u.ceil().max(1.0) * span;
                    if shared && span == 1.0 {
                        let mem = self.models()[m].spec.memory.total_gib() / gpu.memory_gib;
                        least = least.min(u.max(mem));
                    }
                }
                if mig && gpu.has_mig() {
                    for unit in self.mig_units(gpu, m) {
                        if let Unit::Mig(i) = unit {
                            let p = &gpu.mig_profiles[i];
                            let frac = (f64::from(p.compute_slices) / 7.0).max(f64::from(p.mem_slices) / 8.0);
                            least = least.min(util(&unit).ceil().max(1.0) * frac);
                        }
                    }
                }
                gpus += least;
            }
            if gpus.is_finite() {
                let whole = (gpus - 1e-9).ceil().max(1.0);
                best = best.min(whole * price);
                best_nodes = best_nodes.min((whole / f64::from(node.gpus_per_node.max(1))).ceil() * node.price_usd_per_hour);
            }
        }
        let finite = |x: f64| if x.is_finite() { x } else { 0.0 };
        (finite(best), finite(best_nodes))
    }
}

/// A part's answer as the pieces of a joint variant: its non-MIG GPUs, its MIG GPUs (layout,
/// models, count), and its deployment in words.
struct RawGpuPart {
    gpus: Vec<RawGpu>,
    mig: Vec<(String, Vec<String>, u32)>,
    describe: String,
}

impl RawGpuPart {
    fn of(c: &Candidate) -> RawGpuPart {
        let mut gpus = Vec::new();
        let mut mig = Vec::new();
        for g in &c.raw.gpus {
            match g {
                RawGpu::Mig { layout, models, count } => mig.push((layout.clone(), models.clone(), count.unwrap_or(1))),
                other => gpus.push(other.clone()),
            }
        }
        let describe = c.name.split_once(": ").map_or(c.name.as_str(), |x| x.1).to_string();
        RawGpuPart { gpus, mig, describe }
    }
}

/// GPUs of one non-MIG entry of a variant.
fn gpu_count_of(g: &RawGpu) -> u32 {
    match g {
        RawGpu::Dedicated { count, .. } | RawGpu::TimeSliced { count, .. } | RawGpu::Mps { count, .. } | RawGpu::Mig { count, .. } => count.unwrap_or(1),
    }
}

/// The fewest GPUs that hold MIG instances `items` ((profile, instances, model) each): packing
/// depends on the profiles only, so the instances are packed by profile ([`pack_mig`] on one
/// item per profile, a handful where a model each would multiply the layouts to enumerate).
pub(super) fn pack_count(gpu: &GpuSpec, items: &[(usize, u32, usize)]) -> Option<u32> {
    Some(pack_mig(gpu, &by_profile(items))?.iter().map(|(_, n)| n).sum())
}

fn by_profile(items: &[(usize, u32, usize)]) -> Vec<(usize, u32, usize)> {
    let mut per: BTreeMap<usize, u32> = BTreeMap::new();
    for &(p, n, _) in items {
        *per.entry(p).or_insert(0) += n;
    }
    per.into_iter().map(|(p, n)| (p, n, p)).collect()
}

/// [`pack_count`]'s packing with the models put back: each profile's slots, GPU by GPU, go to
/// its models in the order of `items`; identical GPUs merged in order of first use.
pub(super) fn pack_by_profile(gpu: &GpuSpec, items: &[(usize, u32, usize)]) -> Option<Vec<(MigLayout, u32)>> {
    let packed = pack_mig(gpu, &by_profile(items))?;
    let mut queue: BTreeMap<usize, std::collections::VecDeque<usize>> = BTreeMap::new();
    for &(p, n, m) in items {
        queue.entry(p).or_default().extend(std::iter::repeat_n(m, n as usize));
    }
    let mut out: Vec<(MigLayout, u32)> = Vec::new();
    for (layout, n) in packed {
        for _ in 0..n {
            let one: MigLayout = layout
                .iter()
                .map(|&(p, _)| (p, queue.get_mut(&p).and_then(|q| q.pop_front()).expect("a slot per instance")))
                .collect();
            match out.iter_mut().find(|(l, _)| *l == one) {
                Some((_, k)) => *k += 1,
                None => out.push((one, 1)),
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::Catalog;

    /// Packing by profile gives the per-model packing's GPU count, every instance placed once.
    #[test]
    fn packing_by_profile_matches_per_model_packing() {
        let gpu = Catalog::builtin().gpu("a100-80gb").expect("a100").clone();
        let idx = |n: &str| gpu.mig_profiles.iter().position(|p| p.name == n).expect(n);
        let items = [(idx("3g.40gb"), 3, 0), (idx("2g.20gb"), 2, 1), (idx("1g.10gb"), 5, 2), (idx("2g.20gb"), 1, 3)];
        let per_model: u32 = pack_mig(&gpu, &items).expect("packs").iter().map(|(_, n)| n).sum();
        assert_eq!(pack_count(&gpu, &items), Some(per_model));
        let packed = pack_by_profile(&gpu, &items).expect("packs");
        assert_eq!(packed.iter().map(|(_, n)| n).sum::<u32>(), per_model);
        for &(p, n, m) in &items {
            let placed: u32 = packed.iter().map(|(l, k)| k * l.iter().filter(|&&x| x == (p, m)).count() as u32).sum();
            assert_eq!(placed, n, "profile {p} model {m}");
        }
    }

    #[test]
    fn gap_is_relative_to_the_best() {
        assert_eq!(gap_pct(10.0, 8.0), 20.0);
        assert_eq!(gap_pct(10.0, 10.0), 0.0);
    }
}
