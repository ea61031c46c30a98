//! Devices: where the servers' GPU calls execute. Each owns its contexts' state and answers the
//! same questions: take a call of a context, say when calls finish, drop a context's work when
//! its server dies, and account for the time it was busy.
//!
//! * [`DevKind::Exclusive`]: a dedicated GPU or a MIG instance runs one server's calls back to back.
//! * [`DevKind::TimeSliced`]: one context at a time, preempted at the end of its slice
//!   ([`timesliced`]).
//! * [`DevKind::Mps`]: every client's call at once, sharing SMs and bandwidth ([`mps`]).

mod mps;
mod timesliced;

pub(super) use mps::{MpsCall, MpsClient, MpsState};
pub(super) use timesliced::TsState;

use super::engine::EventQueue;
use super::recorder::Window;
use super::Ev;
use crate::gpu::PlacedInstance;
use crate::time::SimTime;

/// How a device executes its contexts' calls, with its own state.
#[derive(Debug, Clone)]
pub(super) enum DevKind {
    Exclusive,
    TimeSliced(TsState),
    Mps(MpsState),
}

/// Time a device and each of its contexts spent executing, within the measurement window.
#[derive(Debug, Clone)]
pub(super) struct Busy {
    pub(super) window: Window,
    /// Per context.
    pub(super) ctx: Vec<SimTime>,
    /// Per context, since the start and outside the window too (an autoscaler's utilisation).
    pub(super) served: Vec<SimTime>,
    /// Any context executing (the device busy).
    pub(super) any: SimTime,
    /// Start of the current busy period, and the contexts executing now.
    pub(super) from: SimTime,
    pub(super) running: u32,
    /// The same busy time per window, for a report's timeline (empty unless recorded).
    pub(super) line: super::detail::Timeline,
}

impl Busy {
    fn new(window: Window, contexts: usize) -> Busy {
        Busy {
            window,
            ctx: vec![0; contexts],
            served: vec![0; contexts],
            any: 0,
            from: 0,
            running: 0,
            line: super::detail::Timeline::default(),
        }
    }

    /// Context `c` executed during `[a, b)`.
    pub(super) fn add(&mut self, c: usize, a: SimTime, b: SimTime) {
        self.ctx[c] += self.window.overlap(a, b);
        self.served[c] += b.saturating_sub(a);
        self.line.add_ctx(c, a, b);
    }

    /// A context starts executing at `now`.
    pub(super) fn start(&mut self, now: SimTime) {
        if self.running == 0 {
            self.from = now;
        }
        self.running += 1;
    }

    /// A context stops executing at `now`.
    pub(super) fn stop(&mut self, now: SimTime) {
        if self.running > 0 {
            self.running -= 1;
            if self.running == 0 {
                self.any += self.window.overlap(self.from, now);
                self.line.add_any(self.from, now);
            }
        }
    }

    /// The device's busy time, counting a busy period still open at `now`.
    pub(super) fn any_until(&self, now: SimTime) -> SimTime {
        let open = if self.running > 0 { self.window.overlap(self.from, now) } else { 0 };
        self.any + open
    }
}

/// An execution unit: a whole GPU (dedicated, time-sliced, MPS) or a MIG instance.
#[derive(Debug, Clone)]
pub(super) struct Device {
    /// Its index (the events it schedules name it).
    pub(super) id: u32,
    pub(super) kind: DevKind,
    /// Physical GPU index within the variant.
    pub(super) gpu: u32,
    pub(super) label: String,
    /// Server of each context.
    pub(super) servers: Vec<u32>,
    pub(super) busy: Busy,
    pub(super) instance: Option<PlacedInstance>,
    /// Exclusive device: when its running call started (its busy time is counted at the end,
    /// since a block of LLM decode steps may be cut short).
    call_start: SimTime,
}

impl Device {
    pub(super) fn new(
        id: u32,
        kind: DevKind,
        gpu: u32,
        label: String,
        servers: Vec<u32>,
        instance: Option<PlacedInstance>,
        window: Window,
    ) -> Device {
        let n = servers.len();
        Device {
            id,
            kind,
            gpu,
            label,
            servers,
            busy: Busy::new(window, n),
            instance,
            call_start: 0,
        }
    }

    /// True for a device whose one server runs alone (dedicated GPU, MIG instance).
    pub(super) fn exclusive(&self) -> bool {
        matches!(self.kind, DevKind::Exclusive)
    }

    /// True for an MPS device (its calls are rated by the clients running).
    pub(super) fn mps(&self) -> bool {
        matches!(self.kind, DevKind::Mps(_))
    }

    /// Context `ctx` (server `srv`, at its `epoch`) submits `work` [ns] of solo GPU time now.
    /// MPS calls go through [`Device::submit_mps`].
    pub(super) fn submit(&mut self, ctx: usize, srv: u32, epoch: u32, work: SimTime, q: &mut EventQueue<Ev>) {
        let now = q.now();
        match &mut self.kind {
            DevKind::Exclusive => {
                self.call_start = now;
                self.busy.start(now);
                q.schedule(now + work, Ev::Done { srv, epoch });
            }
            DevKind::TimeSliced(ts) => ts.submit(self.id, &mut self.busy, ctx, work, q),
            DevKind::Mps(_) => unreachable!("MPS calls go through submit_mps"),
        }
    }

    /// Context `ctx` submits an MPS call now.
    pub(super) fn submit_mps(&mut self, ctx: usize, call: MpsCall, q: &mut EventQueue<Ev>) {
        if let DevKind::Mps(m) = &mut self.kind {
            m.submit(self.id, &mut self.busy, ctx, call, q);
        }
    }

    /// An exclusive device's call ended at `end` (now, or earlier for a block cut in the gap
    /// after its last step).
    pub(super) fn call_ended_at(&mut self, end: SimTime) {
        if let DevKind::Exclusive = self.kind {
            self.busy.add(0, self.call_start, end);
            self.busy.stop(end);
        }
    }

    /// A time-slice decision point is due: the context whose call it finished, if any.
    pub(super) fn ts_timer(&mut self, token: u32, q: &mut EventQueue<Ev>) -> Option<usize> {
        match &mut self.kind {
            DevKind::TimeSliced(ts) => ts.timer(self.id, &mut self.busy, token, q),
            _ => None,
        }
    }

    /// An MPS completion is due: the (server, epoch) of every call that finished, in context
    /// order, into `done`.
    pub(super) fn mps_timer(&mut self, token: u32, q: &mut EventQueue<Ev>, done: &mut Vec<(u32, u32)>) {
        if let DevKind::Mps(m) = &mut self.kind {
            m.timer(self.id, &mut self.busy, token, q, done);
        }
    }

    /// Context `ctx`'s server died: drop its work (`was_busy`: an exclusive call was running).
    pub(super) fn abort(&mut self, ctx: usize, was_busy: bool, q: &mut EventQueue<Ev>) {
        let now = q.now();
        match &mut self.kind {
            DevKind::Mps(m) => m.abort(self.id, &mut self.busy, ctx, q),
            DevKind::TimeSliced(ts) => ts.abort(self.id, &mut self.busy, ctx, q),
            DevKind::Exclusive => {
                // The epoch bump voids the pending Done event; account the device as idle now.
                if was_busy {
                    self.busy.add(ctx, self.call_start, now);
                    self.busy.stop(now);
                }
            }
        }
    }

    /// The context running now on a time-sliced device.
    pub(super) fn running(&self) -> Option<usize> {
        match &self.kind {
            DevKind::TimeSliced(ts) => ts.running.map(|c| c as usize),
            _ => None,
        }
    }

    /// Context switches so far (time-sliced devices).
    pub(super) fn switches(&self) -> u64 {
        match &self.kind {
            DevKind::TimeSliced(ts) => ts.switches,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MS;

    const W: Window = Window {
        warmup: 0,
        duration: 1000 * MS,
    };

    fn ts(n: usize) -> Device {
        let kind = DevKind::TimeSliced(TsState::new(
            crate::deploy::TimeSlice {
                quantum: 2 * MS,
                switch_cost: MS / 10,
            },
            n,
        ));
        Device::new(0, kind, 0, "whole".into(), (0..n as u32).collect(), None, W)
    }

    /// Drive a device's events to the end; the (time, server) of each finished call.
    fn drain(d: &mut Device, q: &mut EventQueue<Ev>) -> Vec<(SimTime, u32)> {
        let mut out = Vec::new();
        while let Some((t, ev)) = q.pop() {
            match ev {
                Ev::Done { srv, .. } => {
                    d.call_ended_at(t);
                    out.push((t, srv));
                }
                Ev::Ts { token, .. } => {
                    if let Some(c) = d.ts_timer(token, q) {
                        out.push((t, d.servers[c]));
                    }
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn an_exclusive_device_runs_a_call_for_its_work_and_counts_it_busy() {
        let mut d = Device::new(0, DevKind::Exclusive, 0, "whole".into(), vec![7], None, W);
        let mut q = EventQueue::new();
        d.submit(0, 7, 0, 5 * MS, &mut q);
        assert_eq!(drain(&mut d, &mut q), vec![(5 * MS, 7)]);
        assert_eq!((d.busy.ctx[0], d.busy.any_until(5 * MS)), (5 * MS, 5 * MS));
    }

    #[test]
    fn a_lone_time_sliced_context_runs_unhindered() {
        let mut d = ts(2);
        let mut q = EventQueue::new();
        d.submit(0, 0, 0, 7 * MS, &mut q);
        // One switch to it (the first context ever), then its whole call in one go.
        assert_eq!(drain(&mut d, &mut q), vec![(7 * MS + MS / 10, 0)]);
        assert_eq!(d.switches(), 1);
    }

    #[test]
    fn two_busy_contexts_alternate_by_slice_with_switches_between() {
        let mut d = ts(2);
        let mut q = EventQueue::new();
        d.submit(0, 0, 0, 3 * MS, &mut q);
        d.submit(1, 1, 0, 3 * MS, &mut q);
        let s = MS / 10;
        // 0: switch, 2 ms; 1: switch, 2 ms; 0: switch, 1 ms (done); 1: switch, 1 ms (done).
        let done = drain(&mut d, &mut q);
        assert_eq!(done, vec![(s + 2 * MS + s + 2 * MS + s + MS, 0), (4 * s + 6 * MS, 1)]);
        assert_eq!(d.switches(), 4);
        assert_eq!(d.busy.ctx, vec![3 * MS, 3 * MS]);
    }

    #[test]
    fn an_aborted_context_gives_the_gpu_to_the_next() {
        let mut d = ts(2);
        let mut q = EventQueue::new();
        d.submit(0, 0, 0, 10 * MS, &mut q);
        d.submit(1, 1, 0, 3 * MS, &mut q);
        // Context 0 is switching in; it dies: context 1 runs at once, alone.
        d.abort(0, true, &mut q);
        let done = drain(&mut d, &mut q);
        assert_eq!(done, vec![(MS / 10 + 3 * MS, 1)]);
    }
}
