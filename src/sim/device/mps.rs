//! MPS. Every client's call runs at once. A client gets its thread percentage of the SMs while
//! the running clients' percentages add up to at most 100; beyond that the SMs are shared in
//! proportion to the percentages (each gets pct * 100 / sum). The memory system and the power
//! budget have no isolation: the running calls share the bandwidth by demand, wait behind each
//! other's memory traffic and share one clock ([`crate::model::contention`]). Shares are revised
//! whenever a call starts or ends: each running call advances at the rate of its current
//! duration, so its duration is exact for piecewise-constant sets of running calls.

use super::super::engine::EventQueue;
use super::super::Ev;
use super::Busy;
use crate::gpu::{GpuSpec, Sharing};
use crate::model::contention::{Contention, Tenant};
use crate::model::{DeviceShare, Scaling, Slowdown};
use crate::time::SimTime;

/// A call running on an MPS device: its latency on the whole reference GPU, the split of that
/// latency into parts, and how much of it is left.
#[derive(Debug, Clone, Copy)]
pub(in crate::sim) struct MpsCall {
    pub(in crate::sim) srv: u32,
    pub(in crate::sim) epoch: u32,
    pub(in crate::sim) l_ref_ms: f64,
    pub(in crate::sim) fixed: f64,
    pub(in crate::sim) compute: f64,
    /// Fraction of the call still to run.
    left: f64,
    /// Fraction per ns at the current shares.
    rate: f64,
    started: SimTime,
}

impl MpsCall {
    /// A call of server `srv` at `epoch` that takes `l_ref_ms` on the whole reference GPU, of
    /// which `fixed` and `compute` are those parts (the rest is memory), starting at `now`.
    pub(in crate::sim) fn new(srv: u32, epoch: u32, l_ref_ms: f64, fixed: f64, compute: f64, now: SimTime) -> MpsCall {
        MpsCall {
            srv,
            epoch,
            l_ref_ms,
            fixed,
            compute,
            left: 1.0,
            rate: 0.0,
            started: now,
        }
    }
}

/// What the device needs to rate a client's calls: its nominal share and its model's scaling
/// parameters and reference GPU.
#[derive(Debug, Clone)]
pub(in crate::sim) struct MpsClient {
    pub(in crate::sim) pct: f64,
    pub(in crate::sim) share: DeviceShare,
    pub(in crate::sim) scaling: Scaling,
    pub(in crate::sim) reference: GpuSpec,
}

/// An MPS GPU's clients and their running calls.
#[derive(Debug, Clone, Default)]
pub(in crate::sim) struct MpsState {
    clients: Vec<MpsClient>,
    calls: Vec<Option<MpsCall>>,
    updated: SimTime,
    token: u32,
    /// The GPU's shared resources.
    sharing: Sharing,
    bw_gbps: f64,
    /// The running calls as the contention model takes them, and their durations (reused).
    tenants: Vec<Tenant>,
    durations: Vec<f64>,
    contention: Contention,
    /// Per client: its rating at the last SM factor it ran under (the factor changes only when
    /// the running percentages pass 100, so most revisions reuse it; a rating costs a dozen `powf`).
    rated: Vec<Option<Rating>>,
}

/// A client's share shrunk by `sm_factor`, rated: its slowdown and its streaming bandwidth alone.
#[derive(Debug, Clone, Copy)]
struct Rating {
    sm_factor: f64,
    sm_fraction: f64,
    slow: Slowdown,
    bw_gbps: f64,
}

impl MpsClient {
    fn rate(&self, sm_factor: f64) -> Rating {
        let share = self.share.shrunk(sm_factor);
        let clock = share.clock_mhz / self.reference.boost_clock_mhz;
        Rating {
            sm_factor,
            sm_fraction: share.sm_fraction,
            slow: Slowdown::of(&self.scaling, &self.reference, &share),
            bw_gbps: self.scaling.achieved_bw(share.sms, share.bw_gbps, clock),
        }
    }
}

impl MpsState {
    pub(in crate::sim) fn new(clients: Vec<MpsClient>, gpu: &GpuSpec) -> MpsState {
        MpsState {
            calls: vec![None; clients.len()],
            rated: vec![None; clients.len()],
            tenants: Vec::with_capacity(clients.len()),
            durations: Vec::with_capacity(clients.len()),
            clients,
            sharing: gpu.sharing,
            bw_gbps: gpu.mem_bw_gbps,
            ..MpsState::default()
        }
    }

    /// Advance every running call to now at its current rate.
    fn advance(&mut self, now: SimTime) {
        let dt = (now - self.updated) as f64;
        for c in self.calls.iter_mut().flatten() {
            c.left = (c.left - c.rate * dt).max(0.0);
        }
        self.updated = now;
    }

    /// Recompute every running call's rate from the calls running now and schedule the next
    /// completion.
    fn revise(&mut self, dev: u32, q: &mut EventQueue<Ev>) {
        let now = q.now();
        let pct_sum: f64 = self.clients.iter().zip(&self.calls).filter(|(_, c)| c.is_some()).map(|(c, _)| c.pct).sum();
        if pct_sum == 0.0 {
            return;
        }
        let sm_factor = (100.0 / pct_sum).min(1.0);
        self.tenants.clear();
        for ((c, call), rated) in self.clients.iter().zip(&self.calls).zip(&mut self.rated) {
            let Some(call) = call else { continue };
            let r = match rated {
                Some(r) if r.sm_factor == sm_factor => *r,
                _ => *rated.insert(c.rate(sm_factor)),
            };
            let [f, k, m] = r.slow.parts(call.fixed, call.compute);
            self.tenants.push(Tenant {
                sm_fraction: r.sm_fraction,
                fixed_ms: call.l_ref_ms * f,
                compute_ms: call.l_ref_ms * k,
                memory_ms: call.l_ref_ms * m,
                bw_gbps: r.bw_gbps,
            });
        }
        self.durations.clear();
        self.durations.resize(self.tenants.len(), 0.0);
        self.contention.solve(&self.sharing, self.bw_gbps, &self.tenants, &mut self.durations);
        let mut next = f64::INFINITY;
        for (call, &ms) in self.calls.iter_mut().flatten().zip(&self.durations) {
            call.rate = 1.0 / (ms * 1e6).max(1.0);
            next = next.min(call.left / call.rate);
        }
        self.token += 1;
        q.schedule(now + (next.ceil() as SimTime).max(1), Ev::Mps { dev, token: self.token });
    }

    pub(super) fn submit(&mut self, dev: u32, busy: &mut Busy, ctx: usize, call: MpsCall, q: &mut EventQueue<Ev>) {
        self.advance(q.now());
        self.calls[ctx] = Some(call);
        busy.start(q.now());
        self.revise(dev, q);
    }

    /// The next completion is due: finish every call that has run out.
    pub(super) fn timer(&mut self, dev: u32, busy: &mut Busy, token: u32, q: &mut EventQueue<Ev>, done: &mut Vec<(u32, u32)>) {
        if self.token != token {
            return;
        }
        let now = q.now();
        self.advance(now);
        for (i, slot) in self.calls.iter_mut().enumerate() {
            if let Some(c) = slot.filter(|c| c.left <= 1e-9) {
                *slot = None;
                busy.add(i, c.started, now);
                busy.stop(now);
                done.push((c.srv, c.epoch));
            }
        }
        self.revise(dev, q);
    }

    pub(super) fn abort(&mut self, dev: u32, busy: &mut Busy, ctx: usize, q: &mut EventQueue<Ev>) {
        if let Some(c) = self.calls[ctx] {
            let now = q.now();
            self.advance(now);
            self.calls[ctx] = None;
            busy.add(ctx, c.started, now);
            busy.stop(now);
            self.revise(dev, q);
        }
    }
}
