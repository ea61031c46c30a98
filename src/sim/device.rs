//! Devices: where the servers' GPU calls execute. An exclusive device (dedicated GPU or MIG
//! instance) runs one server's calls back to back; an MPS GPU runs its clients' calls at once;
//! a time-sliced GPU runs one context at a time (see the comment above `ts_submit`).

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

#[derive(Debug, Clone)]
pub(super) enum DevKind {
    Exclusive,
    TimeSliced(TsState),
    Mps,
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
    pub(super) instance: Option<crate::catalog::PlacedInstance>,
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
            DevKind::Exclusive | DevKind::Mps => {
                self.busy_add(dev, ctx, now, now + work);
                self.set_running(dev, 1);
                self.q.schedule(now + work, Ev::Done { srv: srv as u32, epoch });
            }
            DevKind::TimeSliced(_) => self.ts_submit(dev, ctx, work),
        }
    }

    pub(super) fn device_call_ended(&mut self, dev: usize) {
        if !matches!(self.devices[dev].kind, DevKind::TimeSliced(_)) {
            self.set_running(dev, -1);
        }
    }

    pub(super) fn device_abort(&mut self, dev: usize, ctx: usize, was_busy: bool) {
        match &mut self.devices[dev].kind {
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
                    self.set_running(dev, -1);
                }
            }
        }
    }

    // Time slicing. One context executes at a time. A context that is alone runs unhindered; when
    // others are ready, the running one is preempted at the end of its current slice (slices of
    // `quantum` counted from when it got the GPU) and the next ready context, round-robin, gets
    // the GPU after `switch_cost`. A context whose call ends yields at once.

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
