//! Time slicing, as measured on an H200 (traces/h200/analysis_ts.txt). One context executes at a
//! time. A context that is alone runs unhindered; when others are ready, the running one is
//! preempted at the end of its current slice (`quantum`, counted from when it got the GPU,
//! mid-kernel and mid-graph) and the next ready context, round-robin, gets the GPU after
//! `switch_cost` of dead time. A context with no work left (its call ended: the host
//! synchronises) yields at once, and the next one gets a whole slice: a context that comes back
//! 50 us later waits for it. (What a call costs here, with the co-location saving and a host
//! phase, is the server's: see `Host::shared_work`.)

use super::super::engine::EventQueue;
use super::super::Ev;
use super::Busy;
use crate::time::SimTime;
use std::collections::VecDeque;

/// A time-sliced GPU's scheduler state.
#[derive(Debug, Clone, Default)]
pub(in crate::sim) struct TsState {
    quantum: SimTime,
    switch_cost: SimTime,
    pub(in crate::sim) running: Option<u32>,
    switching_to: Option<u32>,
    last: Option<u32>,
    slice_start: SimTime,
    updated: SimTime,
    remaining: Vec<SimTime>,
    has_work: Vec<bool>,
    ready: VecDeque<u32>,
    token: u32,
    pub(in crate::sim) switches: u64,
}

impl TsState {
    /// A scheduler of `contexts` contexts.
    pub(in crate::sim) fn new(ts: crate::deploy::TimeSlice, contexts: usize) -> TsState {
        TsState {
            quantum: ts.quantum,
            switch_cost: ts.switch_cost,
            remaining: vec![0; contexts],
            has_work: vec![false; contexts],
            ..TsState::default()
        }
    }

    pub(super) fn submit(&mut self, dev: u32, busy: &mut Busy, ctx: usize, work: SimTime, q: &mut EventQueue<Ev>) {
        self.remaining[ctx] = work;
        self.has_work[ctx] = true;
        if self.running.is_none() && self.switching_to.is_none() {
            self.start(dev, busy, ctx as u32, q);
        } else {
            self.ready.push_back(ctx as u32);
            if self.running.is_some() {
                self.plan(dev, q);
            }
        }
    }

    fn start(&mut self, dev: u32, busy: &mut Busy, ctx: u32, q: &mut EventQueue<Ev>) {
        let now = q.now();
        let cost = if self.last == Some(ctx) { 0 } else { self.switch_cost };
        if cost > 0 {
            self.switches += 1;
        }
        self.switching_to = Some(ctx);
        self.token += 1;
        busy.start(now);
        q.schedule(now + cost, Ev::Ts { dev, token: self.token });
    }

    /// Schedule the next decision for the running context: its call's end, or its slice end if
    /// others wait.
    fn plan(&mut self, dev: u32, q: &mut EventQueue<Ev>) {
        let now = q.now();
        let Some(r) = self.running else { return };
        let done_at = self.updated + self.remaining[r as usize];
        let mut at = done_at;
        if !self.ready.is_empty() {
            let quantum = self.quantum.max(1);
            let elapsed = now - self.slice_start;
            let boundary = self.slice_start + quantum * (elapsed / quantum + 1);
            at = at.min(boundary);
        }
        self.token += 1;
        q.schedule(at, Ev::Ts { dev, token: self.token });
    }

    /// A decision point: a switch completes, the running call ends (its context is returned)
    /// or its slice expires with others waiting.
    pub(super) fn timer(&mut self, dev: u32, busy: &mut Busy, token: u32, q: &mut EventQueue<Ev>) -> Option<usize> {
        let now = q.now();
        if self.token != token {
            return None;
        }
        if let Some(c) = self.switching_to.take() {
            self.running = Some(c);
            self.last = Some(c);
            self.slice_start = now;
            self.updated = now;
            self.plan(dev, q);
            return None;
        }
        let r = self.running? as usize;
        let ran = now - self.updated;
        self.remaining[r] = self.remaining[r].saturating_sub(ran);
        self.updated = now;
        busy.add(r, now - ran, now);
        self.running = None;
        busy.stop(now);
        if self.remaining[r] == 0 {
            self.has_work[r] = false;
            self.next(dev, busy, q);
            return Some(r);
        }
        // Slice expired with others waiting: preempt.
        self.ready.push_back(r as u32);
        self.next(dev, busy, q);
        None
    }

    fn next(&mut self, dev: u32, busy: &mut Busy, q: &mut EventQueue<Ev>) {
        if let Some(c) = self.ready.pop_front() {
            self.start(dev, busy, c, q);
        }
    }

    pub(super) fn abort(&mut self, dev: u32, busy: &mut Busy, ctx: usize, q: &mut EventQueue<Ev>) {
        self.has_work[ctx] = false;
        self.remaining[ctx] = 0;
        self.ready.retain(|&c| c as usize != ctx);
        if self.running == Some(ctx as u32) || self.switching_to == Some(ctx as u32) {
            self.running = None;
            self.switching_to = None;
            busy.stop(q.now());
            self.next(dev, busy, q);
        }
    }
}
