//! Structures and their bounds: how the models of a study may share each GPU type under each
//! regime, what one replica of a model serves on its share (from the service tables), the
//! fewest replicas that bound a structure's cost, and the variant of a structure at given counts.

use super::pack::set_partitions;
use super::search::{Group, Planner, Structure, Unit};
use super::*;
use crate::model::parallel::Comm;

impl Planner<'_> {
    /// Every structure of one GPU type under one regime.
    pub(super) fn structures(&self, gi: usize, regime: RegimeKind) -> Vec<Structure> {
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
                // A multi-GPU replica runs on GPUs of its own here (the planner does not put
                // co-tenants beside a tensor-parallel group).
                .filter(|blocks| blocks.iter().all(|b| b.len() < 2 || b.iter().all(|&m| self.span(m) == 1)))
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

    /// How many structures [`Planner::structures`] would build for one GPU type and regime, an
    /// upper bound counted without building any (time-slicing and MPS before the memory filter):
    /// the set partitions grow as Bell numbers and the MIG choices as a product over the models,
    /// so a spec of a dozen models would otherwise exhaust memory before the first simulation.
    pub(super) fn structure_count(&self, gi: usize, regime: RegimeKind) -> f64 {
        let n = self.models().len();
        let gpu = &self.spec.gpu_types[gi].0;
        match regime {
            RegimeKind::Dedicated => 1.0,
            RegimeKind::TimeSliced | RegimeKind::Mps => bell(n) - 1.0,
            RegimeKind::Mig if gpu.has_mig() => (0..n).map(|m| self.mig_units(gpu, m).len() as f64).product::<f64>() - 1.0,
            RegimeKind::Mig => 0.0,
        }
    }

    /// Whole GPUs, and per compute size the smallest-memory MIG profile that holds the model.
    pub(super) fn mig_units(&self, gpu: &GpuSpec, m: usize) -> Vec<Unit> {
        let spec = &self.models()[m];
        let mut units = vec![Unit::Whole];
        if self.span(m) > 1 {
            // MIG instances cannot be tensor-parallel peers.
            return units;
        }
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

    /// GPUs one replica of model `m` spans (tensor x pipeline parallel).
    pub(super) fn span(&self, m: usize) -> u32 {
        self.models()[m].spec.gpus_per_replica()
    }

    /// How one replica of model `m` runs: the slowdown of its calls on `share` of one GPU (a
    /// multi-GPU replica: on its tensor-parallel GPUs) and the communication its steps add.
    fn replica(&self, m: usize, gpu: &GpuSpec, share: &DeviceShare) -> (Slowdown, Comm) {
        let model = &self.models()[m];
        let (share, comm) = if model.spec.gpus_per_replica() == 1 {
            (*share, Comm::NONE)
        } else {
            let tp = f64::from(model.spec.tensor_parallel);
            (DeviceShare::of(gpu, tp, tp), Comm::of(&model.spec, gpu))
        };
        (Slowdown::of(&model.scaling, &model.reference, &share), comm)
    }

    /// Sort key that puts multi-GPU replicas first, widest first, and keeps the order of the
    /// rest: their groups then start at multiples of their width and never straddle a node.
    pub(super) fn widest_first(&self, m: usize) -> std::cmp::Reverse<u32> {
        std::cmp::Reverse(self.span(m).max(1))
    }

    /// The share of a GPU one replica of a group's models runs on.
    pub(super) fn share(&self, gpu: &GpuSpec, unit: &Unit) -> DeviceShare {
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
    pub(super) fn capacity_rps(&self, m: usize, gpu: &GpuSpec, share: &DeviceShare) -> f64 {
        let model = &self.models()[m];
        let (slow, comm) = self.replica(m, gpu, share);
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
                prefill += comm.ms(load.mean_size) - comm.ms(0.0);
                let step = tables.decode.latency_ms(b, ctx, &slow).0 + comm.ms(f64::from(b));
                prefill + out * step / f64::from(b)
            }
            ServerKind::TtsStatic { synthesize, audio } | ServerKind::TtsInFlight { synthesize, audio, .. } => {
                let frames = audio.frames(load.mean_size.max(1.0));
                let (l, _) = synthesize.latency_ms(b, frames, &slow);
                l / f64::from(b)
            }
            ServerKind::EncodeBatch { encode } | ServerKind::AsrStream { encode, .. } => {
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
    pub(super) fn bound_replicas(&self, gpu: &GpuSpec, g: &Group) -> u32 {
        self.replicas_for_load(gpu, g, false)
    }

    /// Replicas of a group whose utilisation at the probe's loads, each replica credited
    /// [`BOUND_SLACK`] times its tables' throughput, stays below 1: with `closed_loop`, the
    /// models fed by closed-loop users count too (a guess, not a bound: see above).
    fn replicas_for_load(&self, gpu: &GpuSpec, g: &Group, closed_loop: bool) -> u32 {
        let share = self.share(gpu, &g.unit);
        let util: f64 = g
            .models
            .iter()
            .filter(|&&m| closed_loop || !self.closed_loop[m])
            .map(|&m| self.loads[m].rate_rps / (BOUND_SLACK * self.capacity_rps(m, gpu, &share)))
            .sum();
        (util.ceil() as u32).max(1)
    }

    pub(super) fn bound_cost(&self, s: &Structure) -> f64 {
        let (gpu, price) = &self.spec.gpu_types[s.gpu];
        let r: Vec<u32> = s.groups.iter().map(|g| self.bound_replicas(gpu, g)).collect();
        match self.gpu_count(s, &r) {
            Some(n) => f64::from(n) * price,
            None => f64::INFINITY,
        }
    }

    /// Start of the search: the replicas that carry the probe's load, models fed by closed-loop
    /// users included (the probe ran every model generously replicated, so those users cycled
    /// about as fast as they can: its loads are about the most a deployment meets), raised by an
    /// Erlang-C estimate for a group of one model with a latency SLO of its own.
    pub(super) fn start_replicas(&self, gpu: &GpuSpec, g: &Group) -> u32 {
        let carry = self.replicas_for_load(gpu, g, true);
        if g.models.len() != 1 {
            return carry;
        }
        let m = g.models[0];
        if self.models()[m].max_batch > 1 && matches!(self.models()[m].server, ServerKind::Llm { .. }) {
            // Continuous batching serves many requests at once: M/M/c with the batch-1 time is
            // no lower bound (a 70B at TP8 would start at 70 GPUs where 8 do).
            return carry;
        }
        let share = self.share(gpu, &g.unit);
        // Batch-1 service time: the slowest case of a batching server.
        let mu = self.capacity_rps_at_batch_1(m, gpu, &share);
        let lambda = self.loads[m].rate_rps;
        let mut c = carry;
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

    /// Requests per second of one replica serving one request at a time.
    pub(super) fn capacity_rps_at_batch_1(&self, m: usize, gpu: &GpuSpec, share: &DeviceShare) -> f64 {
        let model = &self.models()[m];
        let load = self.loads[m];
        let (slow, comm) = self.replica(m, gpu, share);
        let ms = match &model.server {
            ServerKind::Llm { tables, .. } => {
                let out = load.mean_out_tokens.max(1.0);
                tables.prefill.latency_ms(1, load.mean_size.max(1.0), &slow).0
                    + comm.ms(load.mean_size)
                    + out * (tables.decode.latency_ms(1, load.mean_size + out / 2.0, &slow).0 + comm.ms(1.0))
            }
            ServerKind::TtsStatic { synthesize, audio } | ServerKind::TtsInFlight { synthesize, audio, .. } => {
                synthesize.latency_ms(1, audio.frames(load.mean_size.max(1.0)), &slow).0
            }
            ServerKind::EncodeBatch { encode } | ServerKind::AsrStream { encode, .. } => {
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
    pub(super) fn gpu_count(&self, s: &Structure, r: &[u32]) -> Option<u32> {
        let gpu = &self.spec.gpu_types[s.gpu].0;
        let mut n = 0;
        let mut mig: Vec<(usize, u32, usize)> = Vec::new();
        for (g, &k) in s.groups.iter().zip(r) {
            match g.unit {
                Unit::Mig(p) => mig.push((p, k, g.models[0])),
                Unit::Whole => n += k * self.span(g.models[0]),
                Unit::Shared(_) => n += k,
            }
        }
        if !mig.is_empty() {
            // The count only: packed by profile (the same count, far fewer layouts to try).
            n += super::scale::pack_count(gpu, &mig)?;
        }
        Some(n)
    }

    /// The variant of a structure at counts `r`.
    pub(super) fn variant(&self, s: &Structure, r: &[u32]) -> Option<(RawVariant, String)> {
        let (gpu, _) = &self.spec.gpu_types[s.gpu];
        let names: Vec<&String> = self.base.models.keys().collect();
        let mut gpus = Vec::new();
        let mut mig: Vec<(usize, u32, usize)> = Vec::new();
        let mut parts = Vec::new();
        let mut order: Vec<usize> = (0..s.groups.len()).collect();
        order.sort_by_key(|&i| match s.groups[i].unit {
            Unit::Whole => self.widest_first(s.groups[i].models[0]),
            // Co-tenants of one GPU: as a single-GPU replica.
            _ => std::cmp::Reverse(1),
        });
        for (g, &k) in order.iter().map(|&i| (&s.groups[i], &r[i])) {
            let models: Vec<String> = g.models.iter().map(|&m| names[m].clone()).collect();
            match g.unit {
                Unit::Whole => {
                    let n = self.span(g.models[0]);
                    gpus.push(RawGpu::Dedicated { models, count: Some(k * n) });
                    if n > 1 {
                        parts.push(format!("{} {k}x tp{} gpu", names[g.models[0]], n));
                    } else {
                        parts.push(format!("{} {k}x gpu", names[g.models[0]]));
                    }
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
            gpus.extend(mig_gpus(gpu, &names, pack_mig(gpu, &mig)?));
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
}

/// The Bell number B(n), the count of set partitions of n models (Bell triangle, in f64: it
/// passes any limit long before it loses meaning; infinite beyond f64's range).
fn bell(n: usize) -> f64 {
    let mut row = vec![1.0f64];
    for _ in 1..n {
        let mut next = Vec::with_capacity(row.len() + 1);
        next.push(*row.last().unwrap_or(&1.0));
        for &x in &row {
            let y = next.last().copied().unwrap_or(0.0) + x;
            next.push(y);
        }
        row = next;
        if row[0] > 1e300 {
            return f64::INFINITY;
        }
    }
    if n == 0 {
        1.0
    } else {
        *row.last().unwrap_or(&1.0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bell_numbers() {
        assert_eq!(
            [0, 1, 2, 3, 4, 8, 13].map(super::bell),
            [1.0, 1.0, 2.0, 5.0, 15.0, 4140.0, 27644437.0]
        );
        assert!(super::bell(1000).is_infinite());
    }
}

/// The MIG GPUs of a packing as a scenario writes them: one entry per distinct layout, its
/// instances' profiles and tenants (`names`: the study's model names) and its GPU count.
pub(super) fn mig_gpus<'a>(gpu: &'a GpuSpec, names: &'a [&String], packed: Vec<(MigLayout, u32)>) -> impl Iterator<Item = RawGpu> + 'a {
    packed.into_iter().map(move |(layout, count)| {
        let (profiles, models): (Vec<String>, Vec<String>) = layout
            .iter()
            .map(|&(p, m)| (gpu.mig_profiles[p].name.clone(), names[m].clone()))
            .unzip();
        RawGpu::Mig {
            layout: profiles.join(","),
            models,
            count: Some(count),
        }
    })
}
