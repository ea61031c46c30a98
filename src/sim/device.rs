//! Devices: where the servers' GPU calls execute. An exclusive device (dedicated GPU or MIG
//! instance) runs one server's calls back to back; an MPS GPU runs its clients' calls at once,
//! sharing SMs and bandwidth (see the comment above `mps_submit`); a time-sliced GPU runs one
//! context at a time (see the comment above `ts_submit`).

use super::*;

#[derive(Debug, Clone, Default)]
pub(super) struct TsState {
    pub(super) quantum: SimTime,
    pub(super) switch_cost: SimTime,
    pub(super) running: Option<u32>,
    pub(super) switching_to: Option<u32>,
    pub(super) last: Option<u32>,
    pub(super) slice_start: SimTime,
    pub(super) updated: SimTime,
    pub(super) remaining: Vec<SimTime>,
    pub(super) has_work: Vec<bool>,
    pub(super) ready: VecDeque<u32>,
    pub(super) token: u32,
    pub(super) switches: u64,
}

/// A call running on an MPS device: its latency on the whole reference GPU, the split of that
/// latency into parts, and how much of it is left.
#[derive(Debug, Clone, Copy)]
pub(super) struct MpsCall {
    pub(super) srv: u32,
    pub(super) epoch: u32,
    pub(super) l_ref_ms: f64,
    pub(super) fixed: f64,
    pub(super) compute: f64,
    /// Fraction of the call still to run.
    pub(super) left: f64,
    /// Fraction per ns at the current shares.
    pub(super) rate: f64,
    pub(super) started: SimTime,
}

#[derive(Debug, Clone, Default)]
pub(super) struct MpsState {
    /// Thread percentage of each client (its SM cap).
    pub(super) pct: Vec<f64>,
    /// The running call of each client.
    pub(super) calls: Vec<Option<MpsCall>>,
    pub(super) updated: SimTime,
    pub(super) token: u32,
}

#[derive(Debug, Clone)]
pub(super) enum DevKind {
    Exclusive,
    TimeSliced(TsState),
    Mps(MpsState),
}

/// An execution unit: a whole GPU (dedicated, time-sliced, MPS) or a MIG instance.
#[derive(Debug, Clone)]
pub(super) struct Device {
    pub(super) kind: DevKind,
    pub(super) gpu: u32,
    pub(super) label: String,
    pub(super) servers: Vec<u32>,
    pub(super) busy_ctx: Vec<SimTime>,
    pub(super) busy_any: SimTime,
    pub(super) busy_from: SimTime,
    pub(super) n_running: u32,
    pub(super) instance: Option<crate::gpu::PlacedInstance>,
    /// Exclusive device: when its running call started (its busy time is counted at the end,
    /// since a block of LLM decode steps may be cut short).
    pub(super) call_start: SimTime,
}

impl Simulation {
    pub(super) fn busy_add(&mut self, dev: usize, ctx: usize, a: SimTime, b: SimTime) {
        let o = window_overlap(a, b, self.warmup, self.duration);
        self.devices[dev].busy_ctx[ctx] += o;
    }

    /// Track "any context executing" for the whole device.
    pub(super) fn set_running(&mut self, dev: usize, delta: i32) {
        let now = self.q.now();
        let d = &mut self.devices[dev];
        if delta > 0 {
            if d.n_running == 0 {
                d.busy_from = now;
            }
            d.n_running += 1;
        } else if d.n_running > 0 {
            d.n_running -= 1;
            if d.n_running == 0 {
                let from = d.busy_from;
                let o = window_overlap(from, now, self.warmup, self.duration);
                self.devices[dev].busy_any += o;
            }
        }
    }

    pub(super) fn submit(&mut self, dev: usize, ctx: usize, srv: usize, epoch: u32, work: SimTime) {
        let now = self.q.now();
        match self.devices[dev].kind {
            DevKind::Exclusive => {
                self.devices[dev].call_start = now;
                self.set_running(dev, 1);
                self.q.schedule(now + work, Ev::Done { srv: srv as u32, epoch });
            }
            DevKind::TimeSliced(_) => self.ts_submit(dev, ctx, work),
            DevKind::Mps(_) => unreachable!("MPS calls go through mps_submit"),
        }
    }

    pub(super) fn device_call_ended(&mut self, dev: usize) {
        let now = self.q.now();
        self.device_call_ended_at(dev, now);
    }

    /// An exclusive device's call ended at `end` (now, or earlier for a block cut in the gap
    /// after its last step).
    pub(super) fn device_call_ended_at(&mut self, dev: usize, end: SimTime) {
        if matches!(self.devices[dev].kind, DevKind::Exclusive) {
            let start = self.devices[dev].call_start;
            self.busy_add(dev, 0, start, end);
            let d = &mut self.devices[dev];
            if d.n_running > 0 {
                d.n_running -= 1;
                if d.n_running == 0 {
                    let from = d.busy_from;
                    let o = window_overlap(from, end, self.warmup, self.duration);
                    self.devices[dev].busy_any += o;
                }
            }
        }
    }

    // MPS. Every client's call runs at once. A client gets its thread percentage of the SMs
    // while the running clients' percentages add up to at most 100; beyond that the SMs are
    // shared in proportion to the percentages (each gets pct * 100 / sum). The memory system has
    // no isolation: the running clients share the bandwidth equally (an approximation: a
    // compute-bound client gets the same share as a bandwidth-bound one, so a bandwidth-bound
    // call beside compute-bound ones is predicted up to k times too slow with k clients). Shares
    // are revised whenever a call starts or ends: each running call advances at the rate of its
    // current shares (its latency on that share, from the scaling model), so its duration is
    // exact for piecewise-constant shares.

    fn mps(&mut self, dev: usize) -> &mut MpsState {
        match &mut self.devices[dev].kind {
            DevKind::Mps(m) => m,
            _ => unreachable!("MPS operation on a non-MPS device"),
        }
    }

    /// Advance every running call to now at its current rate.
    fn mps_advance(&mut self, dev: usize) {
        let now = self.q.now();
        let m = self.mps(dev);
        let dt = (now - m.updated) as f64;
        for c in m.calls.iter_mut().flatten() {
            c.left = (c.left - c.rate * dt).max(0.0);
        }
        m.updated = now;
    }

    /// Recompute every running call's rate from the current set of clients and schedule the
    /// next completion.
    fn mps_revise(&mut self, dev: usize) {
        let now = self.q.now();
        let running: Vec<usize> = self.mps(dev).calls.iter().enumerate().filter_map(|(i, c)| c.map(|_| i)).collect();
        if running.is_empty() {
            return;
        }
        let pct_sum: f64 = running.iter().map(|&i| self.mps(dev).pct[i]).sum();
        let sm_factor = (100.0 / pct_sum).min(1.0);
        let bw_share = 1.0 / running.len() as f64;
        let mut next = f64::INFINITY;
        for &i in &running {
            let srv = self.devices[dev].servers[i] as usize;
            let s = &self.servers[srv];
            let share = s.share.shrunk(sm_factor, bw_share);
            let slow = Slowdown::of(&self.models[s.model as usize].scaling, &self.ref_gpus[s.ref_gpu], &share);
            let c = self.mps(dev).calls[i].as_mut().expect("running");
            c.rate = 1.0 / (c.l_ref_ms * 1e6 * slow.of_call(c.fixed, c.compute)).max(1.0);
            next = next.min(c.left / c.rate);
        }
        let m = self.mps(dev);
        m.token += 1;
        let token = m.token;
        self.q
            .schedule(now + (next.ceil() as SimTime).max(1), Ev::Mps { dev: dev as u32, token });
    }

    pub(super) fn mps_submit(&mut self, dev: usize, ctx: usize, call: MpsCall) {
        self.mps_advance(dev);
        self.mps(dev).calls[ctx] = Some(call);
        self.set_running(dev, 1);
        self.mps_revise(dev);
    }

    /// The next completion is due: finish every call that has run out.
    pub(super) fn mps_timer(&mut self, dev: usize, token: u32) {
        if self.mps(dev).token != token {
            return;
        }
        self.mps_advance(dev);
        let now = self.q.now();
        let mut done = Vec::new();
        for (i, slot) in self.mps(dev).calls.iter_mut().enumerate() {
            if slot.is_some_and(|c| c.left <= 1e-9) {
                done.push((i, slot.take().expect("checked")));
            }
        }
        for (i, c) in &done {
            self.busy_add(dev, *i, c.started, now);
            self.set_running(dev, -1);
        }
        self.mps_revise(dev);
        for (_, c) in done {
            if self.servers[c.srv as usize].epoch == c.epoch {
                self.call_done(c.srv as usize);
            }
        }
    }

    pub(super) fn device_abort(&mut self, dev: usize, ctx: usize, was_busy: bool) {
        if let DevKind::Mps(m) = &self.devices[dev].kind {
            if let Some(c) = m.calls[ctx] {
                self.mps_advance(dev);
                self.mps(dev).calls[ctx] = None;
                let now = self.q.now();
                self.busy_add(dev, ctx, c.started, now);
                self.set_running(dev, -1);
                self.mps_revise(dev);
            }
            return;
        }
        match &mut self.devices[dev].kind {
            DevKind::Mps(_) => {}
            DevKind::TimeSliced(ts) => {
                ts.has_work[ctx] = false;
                ts.remaining[ctx] = 0;
                ts.ready.retain(|&c| c as usize != ctx);
                if ts.running == Some(ctx as u32) || ts.switching_to == Some(ctx as u32) {
                    ts.running = None;
                    ts.switching_to = None;
                    self.set_running(dev, -1);
                    self.ts_next(dev);
                }
            }
            _ => {
                // The epoch bump voids the pending Done event; account the device as idle now.
                if was_busy {
                    let (start, now) = (self.devices[dev].call_start, self.q.now());
                    self.busy_add(dev, ctx, start, now);
                    self.set_running(dev, -1);
                }
            }
        }
    }

    // Time slicing, as measured on an H200 (traces/h200/analysis_ts.txt). One context executes
    // at a time. A context that is alone runs unhindered; when others are ready, the running one
    // is preempted at the end of its current slice (`quantum`, counted from when it got the GPU,
    // mid-kernel and mid-graph) and the next ready context, round-robin, gets the GPU after
    // `switch_cost` of dead time. A context with no work left (its call ended: the host
    // synchronises) yields at once, and the next one gets a whole slice: a context that comes
    // back 50 us later waits for it. (What a call costs here, with the co-location saving and
    // a host phase, is the server's: `Simulation::shared_work`.)

    pub(super) fn ts(&mut self, dev: usize) -> &mut TsState {
        match &mut self.devices[dev].kind {
            DevKind::TimeSliced(ts) => ts,
            _ => unreachable!("time-slice operation on a non-time-sliced device"),
        }
    }

    pub(super) fn ts_submit(&mut self, dev: usize, ctx: usize, work: SimTime) {
        let ts = self.ts(dev);
        ts.remaining[ctx] = work;
        ts.has_work[ctx] = true;
        if ts.running.is_none() && ts.switching_to.is_none() {
            self.ts_start(dev, ctx as u32);
        } else {
            ts.ready.push_back(ctx as u32);
            if ts.running.is_some() {
                self.ts_plan(dev);
            }
        }
    }

    pub(super) fn ts_start(&mut self, dev: usize, ctx: u32) {
        let now = self.q.now();
        let ts = self.ts(dev);
        let cost = if ts.last == Some(ctx) { 0 } else { ts.switch_cost };
        if cost > 0 {
            ts.switches += 1;
        }
        ts.switching_to = Some(ctx);
        ts.token += 1;
        let token = ts.token;
        self.set_running(dev, 1);
        self.q.schedule(now + cost, Ev::Ts { dev: dev as u32, token });
    }

    /// Schedule the next decision for the running context: its call's end, or its slice end if others wait.
    pub(super) fn ts_plan(&mut self, dev: usize) {
        let now = self.q.now();
        let ts = self.ts(dev);
        let Some(r) = ts.running else { return };
        let r = r as usize;
        let done_at = ts.updated + ts.remaining[r];
        let mut at = done_at;
        if !ts.ready.is_empty() {
            let q = ts.quantum.max(1);
            let elapsed = now - ts.slice_start;
            let boundary = ts.slice_start + q * (elapsed / q + 1);
            at = at.min(boundary);
        }
        ts.token += 1;
        let token = ts.token;
        self.q.schedule(at, Ev::Ts { dev: dev as u32, token });
    }

    pub(super) fn ts_timer(&mut self, dev: usize, token: u32) {
        let now = self.q.now();
        if self.ts(dev).token != token {
            return;
        }
        if let Some(c) = self.ts(dev).switching_to.take() {
            // Switch complete: c runs.
            let ts = self.ts(dev);
            ts.running = Some(c);
            ts.last = Some(c);
            ts.slice_start = now;
            ts.updated = now;
            self.ts_plan(dev);
            return;
        }
        let Some(r) = self.ts(dev).running else { return };
        let r = r as usize;
        let ts = self.ts(dev);
        let ran = now - ts.updated;
        ts.remaining[r] = ts.remaining[r].saturating_sub(ran);
        ts.updated = now;
        let seg_start = now - ran;
        self.busy_add(dev, r, seg_start, now);
        let ts = self.ts(dev);
        if ts.remaining[r] == 0 {
            ts.has_work[r] = false;
            ts.running = None;
            self.set_running(dev, -1);
            let srv = self.devices[dev].servers[r] as usize;
            self.ts_next(dev);
            self.call_done(srv);
        } else {
            // Slice expired with others waiting: preempt.
            ts.ready.push_back(r as u32);
            ts.running = None;
            self.set_running(dev, -1);
            self.ts_next(dev);
        }
    }

    pub(super) fn ts_next(&mut self, dev: usize) {
        let ts = self.ts(dev);
        if let Some(c) = ts.ready.pop_front() {
            self.ts_start(dev, c);
        }
    }
}
