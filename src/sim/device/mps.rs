//! MPS. Every client's call runs at once. A client gets its thread percentage of the SMs while
//! the running clients' percentages add up to at most 100; beyond that the SMs are shared in
//! proportion to the percentages (each gets pct * 100 / sum). The memory system has no
//! isolation: the running clients share the bandwidth equally (an approximation: a compute-bound
//! client gets the same share as a bandwidth-bound one, so a bandwidth-bound call beside
//! compute-bound ones is predicted up to k times too slow with k clients). Shares are revised
//! whenever a call starts or ends: each running call advances at the rate of its current shares
//! (its latency on that share, from the scaling model), so its duration is exact for
//! piecewise-constant shares.

use super::super::engine::EventQueue;
use super::super::Ev;
use super::Busy;
use crate::gpu::GpuSpec;
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
}

impl MpsState {
    pub(in crate::sim) fn new(clients: Vec<MpsClient>) -> MpsState {
        MpsState {
            calls: vec![None; clients.len()],
            clients,
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

    /// Recompute every running call's rate from the current set of clients and schedule the
    /// next completion.
    fn revise(&mut self, dev: u32, q: &mut EventQueue<Ev>) {
        let now = q.now();
        let (mut n, mut pct_sum) = (0usize, 0.0);
        for (c, call) in self.clients.iter().zip(&self.calls) {
            if call.is_some() {
                n += 1;
                pct_sum += c.pct;
            }
        }
        if n == 0 {
            return;
        }
        let sm_factor = (100.0 / pct_sum).min(1.0);
        let bw_share = 1.0 / n as f64;
        let mut next = f64::INFINITY;
        for (c, call) in self.clients.iter().zip(self.calls.iter_mut()) {
            let Some(call) = call else { continue };
            let share = c.share.shrunk(sm_factor, bw_share);
            let slow = Slowdown::of(&c.scaling, &c.reference, &share);
            call.rate = 1.0 / (call.l_ref_ms * 1e6 * slow.of_call(call.fixed, call.compute)).max(1.0);
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
