//! The search: structures taken in order of their cost bound, in fixed waves, each searched for
//! the fewest replicas that meet every SLO by simulation (see the module doc of [`super`]), and
//! the headroom of the best.

use super::*;
use crate::error::num;
use crate::limits::MAX_PLAN_STRUCTURES;

/// How a group of models runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Unit {
    /// Whole GPUs, one model each.
    Whole,
    /// Co-tenants of whole GPUs under this regime (time-sliced or MPS).
    Shared(RegimeKind),
    /// MIG instances of this profile (index into the GPU's profiles).
    Mig(usize),
}

#[derive(Debug, Clone)]
pub(super) struct Group {
    pub(super) models: Vec<usize>,
    pub(super) unit: Unit,
}

#[derive(Debug, Clone)]
pub(super) struct Structure {
    pub(super) gpu: usize,
    pub(super) regime: RegimeKind,
    pub(super) groups: Vec<Group>,
}

/// Replicas earlier structures needed, per GPU type, group models and unit: where a later
/// structure with the same group starts looking (its own simulations decide).
pub(super) type Hints = BTreeMap<HintKey, u32>;

/// A group as [`Hints`] know it: GPU type, models, unit.
type HintKey = (usize, Vec<usize>, Unit);

fn hint_key(s: &Structure, g: &Group) -> HintKey {
    (s.gpu, g.models.clone(), g.unit.clone())
}

/// One evaluation (all seeds) of a structure at given counts.
#[derive(Debug, Clone)]
pub(super) struct Eval {
    pub(super) pass: bool,
    pub(super) values: BTreeMap<String, Option<f64>>,
    pub(super) broken: Vec<String>,
    pub(super) violation: f64,
    pub(super) margins: Vec<f64>,
    pub(super) throughput_rps: f64,
    pub(super) extrapolated: bool,
    /// The most any seed's run leaned on it [% of GPU time].
    pub(super) extrapolated_pct: f64,
}

pub(super) struct Planner<'a> {
    pub(super) base: RawScenario,
    pub(super) src: &'a Sources,
    pub(super) spec: &'a PlanSpec,
    pub(super) scenario: Scenario,
    pub(super) loads: Vec<OfferedLoad>,
    /// Per model: some closed-loop workload sends it requests.
    pub(super) closed_loop: Vec<bool>,
    pub(super) sims: std::sync::atomic::AtomicU64,
    /// RNG source id of each workload (empty: their indices): a sub-study of independent
    /// models keeps the ids of the whole spec ([`super::scale`]).
    pub(super) streams: Vec<u64>,
    /// Skip structures whose bound exceeds the best found (off where every structure's answer
    /// is wanted, as when one model alone is sized under each of its MIG options).
    pub(super) prune: bool,
    /// Among counts of one GPU count, take the fewest compute slices (a part of a decomposed
    /// search, whose MIG instances are packed with other parts' later) rather than the most
    /// margin (whose spare instances fill GPUs that are paid for anyway).
    pub(super) fewest_slices: bool,
}

/// Structures of one bound reordered so that each wave covers as many groups (GPU type, models,
/// unit) not yet met as it can: a group's first search leaves a [`Hints`] entry that every later
/// structure with it starts from, so an early wave of many different groups saves the later
/// ones' doubling and bisection. Greedy (the structure with the most new groups next, ties in
/// the given order); only structures of the same bound trade places, so pruning is unchanged.
fn cover_first(keyed: Vec<(f64, usize, Structure)>) -> Vec<(f64, usize, Structure)> {
    let mut seen: std::collections::BTreeSet<HintKey> = Default::default();
    let mut out = Vec::with_capacity(keyed.len());
    let mut rest = keyed.into_iter().peekable();
    while let Some(first) = rest.next() {
        let mut tier = vec![first];
        while let Some(next) = rest.next_if(|n| n.0 == tier[0].0) {
            tier.push(next);
        }
        while !tier.is_empty() {
            let new = |t: &(f64, usize, Structure)| t.2.groups.iter().filter(|g| !seen.contains(&hint_key(&t.2, g))).count();
            // The first of the most new groups (max_by_key would take the last).
            let best = (0..tier.len()).fold(0, |b, i| if new(&tier[i]) > new(&tier[b]) { i } else { b });
            let t = tier.remove(best);
            seen.extend(t.2.groups.iter().map(|g| hint_key(&t.2, g)));
            out.push(t);
        }
    }
    out
}

impl Planner<'_> {
    pub(super) fn models(&self) -> &[Model] {
        &self.scenario.models
    }

    /// One simulation of every model on whole GPUs of the first type, generously replicated,
    /// to measure the load each model is offered.
    pub(super) fn probe(&self) -> Result<Vec<OfferedLoad>> {
        let (gpu, _) = &self.spec.gpu_types[0];
        let names: Vec<&String> = self.base.models.keys().collect();
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by_key(|&m| self.widest_first(m));
        let v = RawVariant {
            name: "probe".into(),
            gpu: gpu.name.clone(),
            price_usd_per_hour: None,
            balancer: None,
            gpus: order
                .iter()
                .map(|&m| RawGpu::Dedicated {
                    models: vec![names[m].clone()],
                    count: Some(4 * self.span(m)),
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

    /// Refuse a spec whose structures exceed [`MAX_PLAN_STRUCTURES`], before any is built,
    /// naming the regimes that make them.
    pub(super) fn check_structure_count(&self) -> Result<()> {
        let mut total = 0.0;
        let mut parts: Vec<String> = Vec::new();
        for (gi, (gpu, _)) in self.spec.gpu_types.iter().enumerate() {
            for &r in &self.spec.regimes {
                let k = self.structure_count(gi, r);
                total += k;
                if k > 1.0 {
                    parts.push(format!("{} {} {}", num(k), r.name(), gpu.name));
                }
            }
        }
        if total <= MAX_PLAN_STRUCTURES {
            return Ok(());
        }
        Err(Error::input(
            &self.src.file,
            "plan.regimes",
            format!(
                "{} models give {} structures to search ({}), more than the planner's limit of {} (docs/src/limits.md): plan fewer models together, or list fewer regimes (dedicated is one structure per GPU type)",
                self.models().len(),
                num(total),
                parts.join(", "),
                num(MAX_PLAN_STRUCTURES)
            ),
        ))
    }

    pub(super) fn count_sim(&self) {
        self.sims.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub(super) fn run(&self, headroom: bool, opts: Options) -> Result<PlanResult> {
        let (found, infeasible, total, pruned, cut) = self.search_all(&opts)?;
        self.finish(found, infeasible, total, pruned, cut, headroom, "exact", &opts)
    }

    /// Every structure in order of its bound, in waves: the candidates found, why the others
    /// could not be deployed, structures, those pruned, and whether `opts.stop` cut it short.
    pub(super) fn search_all(&self, opts: &Options) -> Result<(Vec<Candidate>, Vec<String>, usize, usize, bool)> {
        self.check_structure_count()?;
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
        let keyed = cover_first(keyed);

        let total = keyed.len();
        let mut best: BTreeMap<RegimeKind, f64> = BTreeMap::new();
        let mut found: Vec<Candidate> = Vec::new();
        let mut infeasible: Vec<String> = Vec::new();
        let mut pruned = 0;
        let mut done = 0;
        let mut cut = false;
        let mut hints = Hints::new();
        for wave in keyed.chunks(WAVE) {
            if (opts.stop)() {
                cut = true;
                break;
            }
            let todo: Vec<&Structure> = wave
                .iter()
                .filter(|(lb, _, s)| {
                    let skip = self.prune && best.get(&s.regime).is_some_and(|&b| super::nodes::cost_bound(*lb, self.spec.gpu_types[s.gpu].1, &self.spec.nodes[s.gpu]) > b + 1e-9);
                    pruned += usize::from(skip);
                    !skip
                })
                .map(|(_, _, s)| s)
                .collect();
            // Hints from earlier waves only, so the answer does not depend on thread timing.
            let results: Vec<Result<(std::result::Result<Candidate, String>, Option<Vec<u32>>)>> =
                todo.par_iter().map(|s| self.search(s, &hints)).collect();
            for (s, r) in todo.iter().zip(results) {
                let (r, counts) = r?;
                if let Some(counts) = counts {
                    for (g, k) in s.groups.iter().zip(counts) {
                        let h = hints.entry(hint_key(s, g)).or_insert(k);
                        *h = (*h).max(k);
                    }
                }
                match r {
                    Ok(c) => {
                        if c.meets_slo {
                            let b = best.entry(c.regime).or_insert(f64::INFINITY);
                            *b = b.min(c.nodes.node_cost_per_hour_usd);
                        }
                        found.push(c);
                    }
                    Err(why) => infeasible.push(why),
                }
            }
            done += wave.len();
            (opts.tick)(&Tick {
                done,
                total,
                simulations: self.sims.load(std::sync::atomic::Ordering::Relaxed),
                best_usd_per_hour: best.values().copied().reduce(f64::min),
            });
        }
        Ok((found, infeasible, total, pruned, cut))
    }

    /// The answer from the candidates found: ranked, each regime's best re-checked on fresh
    /// seeds (moving on to the next of its regime where it fails), headroom measured, the
    /// lower bound and the gap.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish(
        &self,
        mut found: Vec<Candidate>,
        infeasible: Vec<String>,
        total: usize,
        pruned: usize,
        cut_short: bool,
        headroom: bool,
        method: &'static str,
        opts: &Options,
    ) -> Result<PlanResult> {
        found.sort_by(rank);
        self.recheck(&mut found, opts)?;
        let mut per_regime: BTreeMap<String, Option<Candidate>> = BTreeMap::new();
        for &r in &self.spec.regimes {
            per_regime.insert(
                r.name().to_string(),
                found.iter().find(|c| c.meets_slo && c.regime == r && c.fresh_seeds_pass == Some(true)).cloned(),
            );
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
        let best = found.iter().find(|c| c.meets_slo && c.fresh_seeds_pass == Some(true)).cloned();
        let reason = match (&best, found.is_empty()) {
            (Some(_), _) => None,
            (None, true) => Some(format!(
                "no deployment fits: {}",
                infeasible
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "no structure to consider (check plan.regimes and plan.gpu_types)".into())
            )),
            (None, false) if found.iter().any(|c| c.meets_slo) => Some(format!(
                "every candidate meeting the SLOs on plan.seeds that was re-checked broke one on the fresh seeds {}..{}: {}",
                self.spec.fresh_seeds.first().unwrap_or(&0),
                self.spec.fresh_seeds.last().unwrap_or(&0),
                found
                    .iter()
                    .filter(|c| c.fresh_seeds_pass == Some(false))
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
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
        let (bound, node_bound) = self.lower_bounds();
        let (lower_bound_usd_per_hour, node_lower_bound_usd_per_hour) = (round2(bound), round2(node_bound));
        Ok(PlanResult {
            scenario: self.base.name.clone(),
            slo: self.scenario.slo.clone(),
            gap_pct: best.as_ref().map(|b| super::scale::gap_pct(b.cost_per_hour_usd, lower_bound_usd_per_hour)),
            node_gap_pct: best
                .as_ref()
                .map(|b| super::scale::gap_pct(b.nodes.node_cost_per_hour_usd, node_lower_bound_usd_per_hour)),
            node_lower_bound_usd_per_hour,
            best,
            per_regime,
            candidates: found,
            reason,
            structures: total,
            pruned,
            simulations: self.sims.load(std::sync::atomic::Ordering::Relaxed),
            method,
            lower_bound_usd_per_hour,
            cut_short,
        })
    }

    /// Most candidates of one regime re-checked on fresh seeds before it is given up.
    const RECHECK_TRIES: usize = 3;

    /// Re-check each regime's cheapest passing candidate on the fresh seeds (and at the
    /// `min_headroom_pct` load), in rounds: where it fails, the next of its regime is checked.
    fn recheck(&self, found: &mut [Candidate], opts: &Options) -> Result<()> {
        let mut tried: BTreeMap<RegimeKind, usize> = BTreeMap::new();
        let mut settled: Vec<RegimeKind> = Vec::new();
        loop {
            // The next unchecked passing candidate of every unsettled regime.
            let mut want: Vec<usize> = Vec::new();
            for &r in &self.spec.regimes {
                if settled.contains(&r) || tried.get(&r).copied().unwrap_or(0) >= Self::RECHECK_TRIES {
                    continue;
                }
                if let Some(i) = found.iter().position(|c| c.meets_slo && c.regime == r && c.fresh_seeds_pass.is_none()) {
                    want.push(i);
                    *tried.entry(r).or_insert(0) += 1;
                }
            }
            if want.is_empty() || (opts.stop)() && !settled.is_empty() {
                return Ok(());
            }
            let checks: Vec<Result<bool>> = want
                .par_iter()
                .map(|&i| Ok(matches!(self.judge(&found[i].raw, &self.spec.fresh_seeds)?, Ok(e) if e.pass)))
                .collect();
            for (&i, ok) in want.iter().zip(checks) {
                let ok = ok?;
                found[i].fresh_seeds_pass = Some(ok);
                if ok {
                    settled.push(found[i].regime);
                }
            }
        }
    }

    /// A variant judged on `seeds` as the search judges it: every SLO at the spec's load and,
    /// with `[plan] min_headroom_pct`, at that much more load (each lazily: stopping at the
    /// first seed that breaks one); the values are those at the spec's load.
    pub(super) fn judge(&self, v: &RawVariant, seeds: &[u64]) -> Result<std::result::Result<Eval, String>> {
        let mut e = match self.evaluate_on(v, 1.0, true, seeds)? {
            Ok(e) => e,
            Err(why) => return Ok(Err(why)),
        };
        if e.pass && self.spec.min_headroom_pct > 0.0 {
            let k = 1.0 + self.spec.min_headroom_pct / 100.0;
            match self.evaluate_on(v, k, true, seeds)? {
                Ok(h) if h.pass => {}
                Ok(h) => {
                    e.pass = false;
                    let pct = num(self.spec.min_headroom_pct);
                    e.broken = h.broken.iter().map(|b| format!("{b} (at +{pct} % load)")).collect();
                    // Rank it as failing by its violation at the higher load.
                    e.violation = e.violation.max(h.violation);
                }
                Err(why) => return Ok(Err(why)),
            }
        }
        Ok(Ok(e))
    }

    /// The study at load factor `load`, with the workloads' stream ids kept.
    pub(super) fn scenario_at(&self, load: f64) -> Result<Scenario> {
        let mut raw = self.base.clone();
        scale_load(&mut raw, load);
        let mut sc = from_raw(&raw, self.src)?;
        self.keep_streams(&mut sc);
        Ok(sc)
    }

    pub(super) fn keep_streams(&self, sc: &mut Scenario) {
        for (w, &id) in sc.workloads.iter_mut().zip(&self.streams) {
            w.stream = Some(id);
        }
    }

    /// Simulate a variant on every seed (stopping at the first that breaks an SLO when
    /// `lazy`), at load factor `load` (the study resolved again with every load scaled);
    /// Err(reason) when the variant is not a valid deployment (memory, placement).
    pub(super) fn evaluate(&self, v: &RawVariant, load: f64, lazy: bool) -> Result<std::result::Result<Eval, String>> {
        self.evaluate_on(v, load, lazy, &self.spec.seeds)
    }

    /// [`Planner::evaluate`] on the given seeds.
    pub(super) fn evaluate_on(&self, v: &RawVariant, load: f64, lazy: bool, seeds: &[u64]) -> Result<std::result::Result<Eval, String>> {
        let scaled;
        let sc = if load == 1.0 {
            &self.scenario
        } else {
            scaled = match self.scenario_at(load) {
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
            // Seed by seed, stopping at the first that breaks an SLO; the next seed runs beside
            // the current one where a thread is free (rayon's join: a thread that steals it),
            // and is dropped unseen and uncounted if the current one breaks. The runs used and
            // counted are those of the serial loop, so the answer is the same on any thread count.
            let mut i = 0;
            let mut ahead: Option<crate::sim::RunSummary> = None;
            while i < seeds.len() {
                let cur = match ahead.take() {
                    Some(r) => {
                        self.count_sim();
                        r
                    }
                    None => {
                        let broke = std::sync::atomic::AtomicBool::new(false);
                        let (cur, next) = rayon::join(
                            || {
                                let r = run(seeds[i]);
                                if r.as_ref().is_ok_and(|r| r.slo_broken()) {
                                    broke.store(true, std::sync::atomic::Ordering::Relaxed);
                                }
                                r
                            },
                            || {
                                // Not started yet and the current one broke: not needed.
                                let s = *seeds.get(i + 1)?;
                                (!broke.load(std::sync::atomic::Ordering::Relaxed))
                                    .then(|| Simulation::of_variant(sc, &var, s).run_to_end())
                            },
                        );
                        ahead = next;
                        cur?
                    }
                };
                let fail = cur.slo_broken();
                runs.push(cur);
                if fail {
                    break;
                }
                i += 1;
            }
        } else {
            runs = seeds.par_iter().map(|&s| run(s)).collect::<Result<Vec<_>>>()?;
        }
        let mut values: BTreeMap<String, Option<f64>> = BTreeMap::new();
        let mut broken = Vec::new();
        let mut violation: f64 = 0.0;
        let mut margins = Vec::with_capacity(sc.slo.len());
        for slo in &sc.slo {
            let worst = runs.iter().try_fold(None::<f64>, |acc, r| {
                let v = r.slo_worst(slo)?;
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
            extrapolated_pct: runs.iter().map(|r| r.extrapolated_pct).fold(0.0, f64::max),
        }))
    }

    /// Find the fewest replicas of a structure that meet every SLO (see the module doc);
    /// Err(reason) when the structure cannot be deployed at all. With it, each group's fewest
    /// replicas with the others generous (for [`Hints`]).
    pub(super) fn search(&self, s: &Structure, hints: &Hints) -> Result<(std::result::Result<Candidate, String>, Option<Vec<u32>>)> {
        // The same group's count only: a count on another unit is no guide (a slice's count is set
        // by latency as much as by capacity; one scaled by capacity overshot where one replica of
        // either unit is enough).
        let hint: Vec<Option<u32>> = s.groups.iter().map(|g| hints.get(&hint_key(s, g)).copied()).collect();
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
            match self.judge(&v, &self.spec.seeds)? {
                Ok(e) => {
                    memo.insert(r.to_vec(), e.clone());
                    Ok(Ok(Some(e)))
                }
                Err(why) => Ok(Err(why)),
            }
        };
        // 1. Double from the start (or what the same group needed before) until everything holds.
        let mut r: Vec<u32> = s.groups.iter().zip(&hint).map(|(g, h)| self.start_replicas(gpu, g).max(h.unwrap_or(0))).collect();
        let mut last: Option<(Vec<u32>, Eval)> = None;
        let mut stalls = 0;
        let hi = loop {
            match eval(&r)? {
                Err(why) => return Ok((Err(why), None)),
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
            let c = match last {
                Some((r, e)) => self.candidate(s, &r, &e).ok_or_else(|| "not packable".to_string()),
                None => Err(format!(
                    "{} {}: more than {} GPUs even at the start",
                    s.regime.name(),
                    gpu.name,
                    self.spec.max_gpus
                )),
            };
            return Ok((c, None));
        };
        // 2. Each group's fewest with the others at theirs.
        // Where a hint says, first its count and the one below (two simulations where it holds).
        let mut minima = hi.clone();
        for g in 0..hi.len() {
            let (mut lo, mut up) = (0u32, hi[g]); // lo fails (0 is not a count), up passes
            let mut guesses = hint[g].map_or(Vec::new(), |h| vec![h, h.saturating_sub(1)]);
            while up - lo > 1 {
                guesses.retain(|&x| x > lo && x < up);
                let mid = if guesses.is_empty() { lo + (up - lo) / 2 } else { guesses.remove(0) };
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
        let mut r = minima.clone();
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
                let slices = |r: &[u32]| if self.fewest_slices { self.slices_of(s, r) } else { 0 };
                ca.cmp(&cb)
                    .then(slices(&a.0).cmp(&slices(&b.0)))
                    .then(a.1.violation.total_cmp(&b.1.violation))
                    .then(a.0.cmp(&b.0))
            })
            .expect("hi passed");
        let c = self.candidate(s, &best_r, &full).ok_or_else(|| "not packable".to_string());
        Ok((c, Some(minima)))
    }

    /// Compute slices of a structure at counts `r` (a whole GPU as 7).
    fn slices_of(&self, s: &Structure, r: &[u32]) -> u32 {
        let gpu = &self.spec.gpu_types[s.gpu].0;
        s.groups
            .iter()
            .zip(r)
            .map(|(g, &k)| match g.unit {
                Unit::Mig(p) => k * gpu.mig_profiles[p].compute_slices,
                Unit::Whole => k * self.span(g.models[0]) * 7,
                Unit::Shared(_) => k * 7,
            })
            .sum()
    }

    pub(super) fn candidate(&self, s: &Structure, r: &[u32], e: &Eval) -> Option<Candidate> {
        let (raw, name) = self.variant(s, r)?;
        self.candidate_of(raw, name, s.gpu, s.regime, e)
    }

    /// The candidate of a simulated variant of GPU type `gi`.
    pub(super) fn candidate_of(&self, raw: RawVariant, name: String, gi: usize, regime: RegimeKind, e: &Eval) -> Option<Candidate> {
        // It was simulated, so it resolves and places.
        let variant = add_variant(&self.scenario, &raw, &self.src.file).ok()?;
        let placement = placed_gpus(&variant, &self.scenario.models);
        let gpus = placement.len() as u32;
        let cost = f64::from(gpus) * self.spec.gpu_types[gi].1;
        let nodes = super::nodes::plan_nodes(&variant, &self.spec.nodes[gi]).ok()?;
        Some(Candidate {
            name,
            gpu_type: self.spec.gpu_types[gi].0.name.clone(),
            regime,
            gpus,
            cost_per_hour_usd: round2(cost),
            nodes,
            meets_slo: e.pass,
            slo_values: e.values.clone(),
            broken: e.broken.clone(),
            throughput_rps: crate::metrics::round4(e.throughput_rps),
            usd_per_million: (e.throughput_rps > 0.0).then(|| round2(cost / (e.throughput_rps * 3600.0) * 1e6)),
            headroom_pct: None,
            fresh_seeds_pass: None,
            placement,
            extrapolated: e.extrapolated,
            extrapolated_pct: e.extrapolated_pct,
            tensor_parallel: self
                .models()
                .iter()
                .filter(|m| m.spec.tensor_parallel > 1)
                .map(|m| (m.name.clone(), m.spec.tensor_parallel))
                .collect(),
            raw,
            variant,
            model_names: self.scenario.models.iter().map(|m| m.name.clone()).collect(),
            violation: e.violation,
            margins: e.margins.clone(),
        })
    }

    /// Load growth a candidate absorbs before an SLO breaks [%], by bisection over the load
    /// factor (None for a candidate that does not meet the SLOs).
    pub(super) fn headroom(&self, c: &Candidate) -> Result<Option<f64>> {
        if !c.meets_slo {
            return Ok(None);
        }
        let top = 1u32 << HEADROOM_STEPS;
        let load = |k: u32| 1.0 + (MAX_LOAD_FACTOR - 1.0) * f64::from(k) / f64::from(top);
        let k = largest_passing(top, |k| Ok(matches!(self.evaluate(&c.raw, load(k), true)?, Ok(e) if e.pass)))?;
        Ok(Some(((load(k) - 1.0) * 100.0).round()))
    }
}

/// On the grid `k = 0..=top` (load `1 + k·(MAX − 1)/top`; 0 passes, as the candidate meets its
/// SLOs), the largest passing `k` below a failing one, or `top` where the largest passes: the
/// answer of a bisection over the whole range, found by galloping up (an eighth of the range,
/// half, the whole) and bisecting the bracket, so that a plan sized to its load (whose headroom
/// is small) runs few of the high loads, the longest runs.
fn largest_passing(top: u32, mut passes: impl FnMut(u32) -> Result<bool>) -> Result<u32> {
    let (mut lo, mut k) = (0, top / 8);
    let mut hi = loop {
        if !passes(k)? {
            break k;
        }
        if k == top {
            return Ok(top);
        }
        lo = k;
        k = (4 * k).min(top);
    };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if passes(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The old bisection over (1, MAX]: its 4x probe only after the first midpoint passed.
    fn bisection(top: u32, threshold: u32) -> u32 {
        let (mut lo, mut hi) = (0, top);
        for step in 0..HEADROOM_STEPS {
            let mid = (lo + hi) / 2;
            if mid <= threshold {
                lo = mid;
                if step == 0 && top <= threshold {
                    return top;
                }
            } else {
                hi = mid;
            }
        }
        lo
    }

    #[test]
    fn the_gallop_finds_what_a_bisection_finds_in_as_many_runs_or_fewer_for_small_headroom() {
        let top = 1u32 << HEADROOM_STEPS;
        for threshold in 0..=top + 1 {
            let mut runs = Vec::new();
            let k = largest_passing(top, |k| {
                runs.push(k);
                Ok(k <= threshold)
            })
            .expect("no error");
            assert_eq!(k, bisection(top, threshold), "threshold {threshold}");
            assert!(runs.iter().all(|&k| k > 0 && k <= top), "{runs:?}");
            // A bisection runs 6 or 7 loads, from +150 % on; the gallop, from +37.5 % on, 4 at
            // most below it and one more than the bisection above +150 %.
            let most = if threshold < top / 8 { 4 } else if threshold < top / 2 { 7 } else { 8 };
            assert!(runs.len() <= most, "threshold {threshold}: {runs:?}");
        }
    }

    fn structure(groups: &[(usize, Unit)]) -> Structure {
        Structure {
            gpu: 0,
            regime: RegimeKind::Mig,
            groups: groups.iter().map(|(m, u)| Group { models: vec![*m], unit: u.clone() }).collect(),
        }
    }

    #[test]
    fn structures_of_one_bound_cover_new_groups_first_and_bounds_keep_their_order() {
        let keyed = vec![
            (4.0, 0, structure(&[(0, Unit::Mig(1)), (1, Unit::Whole)])),
            (4.0, 1, structure(&[(0, Unit::Mig(1)), (1, Unit::Mig(2))])),
            (4.0, 2, structure(&[(0, Unit::Mig(3)), (1, Unit::Mig(4))])),
            (4.0, 3, structure(&[(0, Unit::Mig(3)), (1, Unit::Mig(2))])),
            (6.0, 4, structure(&[(0, Unit::Whole), (1, Unit::Whole)])),
        ];
        let order: Vec<usize> = cover_first(keyed).iter().map(|k| k.1).collect();
        // 2 (two groups 0 lacks) before 1 (one); then 1 and 3 (one new group each) in their
        // order; the dearer bound last whatever it covers.
        assert_eq!(order, vec![0, 2, 1, 3, 4]);
    }
}
