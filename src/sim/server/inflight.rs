//! In-flight TTS (`tts_policy = "in-flight"`). Every active synthesis advances one frame per
//! step; newcomers join, up to `max_batch`, at a step boundary, and a synthesis leaves at the
//! boundary of its last frame. A step of `b` syntheses costs the `synthesize` table's marginal
//! cost of a frame at batch `b`; a step that admits newcomers also runs their setup (text
//! encoding), costed as the growth of the table's zero-frame intercept from the old batch to the
//! new one (from an idle server: the whole intercept), see
//! [`crate::model::OpTable::frame_costs_ms`]. A lone synthesis therefore costs exactly the static
//! call. The host's scheduling time (`call_gap_ms`) precedes a step that admits newcomers; other
//! steps follow each other directly, as in the measured frame loop. The first audio chunk is out
//! when a request's `first_chunk_frames`-th step ends.
//!
//! **Blocks.** On a device the server runs alone (dedicated GPU, MIG instance) the steps between
//! two membership changes are one call: it lasts until the first synthesis ends, and an arrival
//! that could join cuts it at the first step boundary at or after the arrival, where the
//! step-by-step server would have admitted it. Step durations are the same integers, so the
//! results equal stepping (tested). Shared devices step one by one.

use super::{Cx, Host, Out, SrvState};
use crate::model::{Model, OpTable, Slowdown, TtsAudio};
use crate::sim::device::MpsCall;
use crate::sim::store::ReqState;
use crate::time::{from_ms, SimTime};

/// An active synthesis.
#[derive(Debug, Clone, Copy)]
pub(in crate::sim) struct Synth {
    pub(in crate::sim) req: u32,
    /// Frames of the reply, and frames synthesised so far.
    frames: u32,
    done: u32,
}

/// The syntheses of an in-flight TTS server and its running block of frame steps.
#[derive(Debug, Clone, Default)]
pub(in crate::sim) struct InFlight {
    /// The active syntheses, in admission order.
    pub(in crate::sim) synth: Vec<Synth>,
    /// (frame step, setup) at each batch size on this server [ns], filled as batch sizes are
    /// first seen (step 0: not yet).
    frame_ns: Vec<(SimTime, SimTime, bool)>,
    /// A call of frame steps is running: its steps, start, the join setup before its first step
    /// and its step [ns].
    running: bool,
    steps: u32,
    start: SimTime,
    extra: SimTime,
    w: SimTime,
    /// Reused buffer (syntheses finishing in a block).
    finished: Vec<u32>,
}

impl InFlight {
    /// (frame step, setup) at `b` active syntheses [ns]; 0 syntheses cost nothing. Computed once
    /// per batch size: the server's device share is fixed.
    fn frame_ns(&mut self, op: &OpTable, slow: &Slowdown, b: usize, cx: &mut Cx) -> (SimTime, SimTime) {
        if b == 0 {
            return (0, 0);
        }
        if let Some(&(step, setup, ext)) = self.frame_ns.get(b) {
            if step > 0 {
                cx.rec.costed(ext);
                return (step, setup);
            }
        }
        let (step, setup, ext) = op.frame_costs_ms(b as u32, slow);
        cx.rec.costed(ext);
        let c = (from_ms(step).max(1), from_ms(setup));
        if self.frame_ns.len() <= b {
            self.frame_ns.resize(b + 1, (0, 0, false));
        }
        self.frame_ns[b] = (c.0, c.1, ext);
        c
    }

    /// Admit newcomers, then run frame steps.
    pub(super) fn dispatch(&mut self, h: &mut Host, model: &Model, op: &OpTable, audio: &TtsAudio, cx: &mut Cx) {
        let max_batch = model.max_batch as usize;
        let b_old = self.synth.len();
        while self.synth.len() < max_batch {
            let Some(r) = h.queue.pop_front() else { break };
            let q = &mut cx.store.reqs[r as usize];
            let frames = audio.frames(q.size) as u32;
            q.state = ReqState::Running;
            q.start = cx.now;
            self.synth.push(Synth { req: r, frames, done: 0 });
        }
        let b = self.synth.len();
        if b == 0 {
            h.state = SrvState::Idle;
            return;
        }
        let (w, setup) = self.frame_ns(op, &h.slow, b, cx);
        let extra = if b > b_old {
            setup.saturating_sub(self.frame_ns(op, &h.slow, b_old, cx).1)
        } else {
            0
        };
        let steps = if cx.blocks && h.alone {
            self.synth.iter().map(|x| x.frames - x.done).min().unwrap_or(1).max(1)
        } else {
            1
        };
        h.state = SrvState::Busy;
        self.running = true;
        self.steps = steps;
        self.start = cx.now;
        self.extra = extra;
        self.w = w;
        // The parts of the frame-dominated cell (the table's last frame count at this batch).
        let (pb, _) = op.pad_batch(b as u32);
        let (fixed, compute) = op.fractions(pb, op.size[op.size.len() - 1]);
        if h.mps {
            // The MPS rate model takes the step's latency on the whole reference GPU.
            let id = Slowdown::IDENTITY;
            let (step, setup_new, _) = op.frame_costs_ms(b as u32, &id);
            let setup_old = if b_old > 0 { op.frame_costs_ms(b_old as u32, &id).1 } else { 0.0 };
            let join = if b > b_old { (setup_new - setup_old).max(0.0) } else { 0.0 };
            cx.out
                .push(Out::SubmitMps(MpsCall::new(h.id, h.epoch, step + join, fixed, compute, cx.now)));
            return;
        }
        let w = if h.shared_saving > 0.0 {
            let w1 = self.frame_ns(op, &h.slow, 1, cx).0;
            h.shared_work(w, w1)
        } else {
            w
        };
        let load = h.load(fixed, compute);
        h.submit_work(extra + SimTime::from(steps) * w, steps <= 1, load, model, cx);
    }

    /// A request joined the queue of this busy server: if it can join and a block of frame steps
    /// is running, cut the block at the first step boundary at or after now.
    pub(super) fn enqueued(&mut self, h: &mut Host, model: &Model, cx: &mut Cx) {
        if !self.running || self.steps <= 1 || self.synth.len() >= model.max_batch as usize {
            return;
        }
        let first = self.start + self.extra;
        let j = cx.now.saturating_sub(first).div_ceil(self.w).max(1);
        if j >= u64::from(self.steps) {
            return;
        }
        h.epoch += 1;
        self.steps = j as u32;
        cx.out.push(Out::At(first + j * self.w, h.done_ev()));
    }

    /// The frame steps of the call ended now: every synthesis advanced by them; first chunks and
    /// finished syntheses are recorded at their step's end.
    pub(super) fn call_done(&mut self, h: &mut Host, first_chunk: u32, cx: &mut Cx) -> bool {
        if !std::mem::take(&mut self.running) {
            return false;
        }
        self.finished.clear();
        let (steps, w) = (self.steps.max(1), self.w);
        for x in self.synth.iter_mut() {
            let before = x.done;
            x.done = (x.done + steps).min(x.frames);
            let target = first_chunk.min(x.frames);
            if before < target && target <= x.done {
                // Step j of the call ends (steps - j) steps before its end.
                let j = target - before;
                cx.store.reqs[x.req as usize].first_token = cx.now - SimTime::from(steps - j) * w;
            }
            if x.done >= x.frames {
                self.finished.push(x.req);
            }
        }
        self.synth.retain(|x| x.done < x.frames);
        h.outstanding -= self.finished.len() as u32;
        self.steps = 1;
        cx.out.extend(self.finished.iter().map(|&r| Out::Complete(r)));
        cx.out.extend(self.finished.iter().map(|&r| Out::Release(r)));
        true
    }

    pub(super) fn kill(&mut self, lost: &mut Vec<u32>) {
        lost.extend(self.synth.drain(..).map(|x| x.req));
        self.running = false;
        self.steps = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServerKind;
    use crate::sim::testkit::*;

    fn in_flight(s: &mut crate::model::ModelSpec) {
        s.tts_policy = crate::model::TtsPolicy::InFlight;
        s.call_noise = 0.0;
        s.cold_call_ms = 0.0;
    }

    #[test]
    fn a_block_runs_until_the_first_synthesis_ends_and_a_lone_one_costs_the_static_call() {
        let m = model("h100/tts", in_flight);
        let ServerKind::TtsInFlight {
            synthesize,
            audio,
            first_chunk_frames,
        } = &m.server
        else {
            panic!("in-flight")
        };
        let (mut st, mut rec, mut out) = (store(&[(60.0, 1), (200.0, 1)]), recorder(), Vec::new());
        let mut h = host(&m);
        h.queue.extend([0, 1]);
        h.outstanding = 2;
        let mut e = InFlight::default();
        e.dispatch(&mut h, &m, synthesize, audio, &mut cx(0, &mut st, &mut rec, &mut out));
        let short = audio.frames(60.0) as u32;
        // Both join: the block is the shorter reply's frames (the first to finish).
        assert_eq!(e.steps, short);
        let w = submitted(&out);
        assert_eq!(w, e.extra + SimTime::from(short) * e.w);
        out.clear();
        assert!(e.call_done(&mut h, *first_chunk_frames, &mut cx(w, &mut st, &mut rec, &mut out)));
        assert_eq!(completed(&out), vec![0]);
        // The first chunk of each came at the end of its first_chunk_frames-th step.
        let first = e.extra + SimTime::from(*first_chunk_frames) * e.w;
        assert_eq!((st.reqs[0].first_token, st.reqs[1].first_token), (first, first));
        assert_eq!((e.synth.len(), h.outstanding), (1, 1));
        // Alone, one synthesis costs its static call (setup + frames x step).
        let mut alone = InFlight::default();
        let (mut st, mut out) = (store(&[(200.0, 1)]), Vec::new());
        h.queue.push_back(0);
        alone.dispatch(&mut h, &m, synthesize, audio, &mut cx(0, &mut st, &mut rec, &mut out));
        let frames = audio.frames(200.0);
        let stat = crate::time::from_ms(synthesize.latency_ms(1, frames, &Slowdown::IDENTITY).0);
        assert!(submitted(&out).abs_diff(stat) <= frames as u64, "{} vs {stat}", submitted(&out));
    }

    #[test]
    fn an_arrival_that_can_join_cuts_the_block_at_the_next_step_boundary() {
        let m = model("h100/tts", in_flight);
        let ServerKind::TtsInFlight { synthesize, audio, .. } = &m.server else {
            panic!("in-flight")
        };
        let (mut st, mut rec, mut out) = (store(&[(300.0, 1)]), recorder(), Vec::new());
        let mut h = host(&m);
        h.queue.push_back(0);
        let mut e = InFlight::default();
        e.dispatch(&mut h, &m, synthesize, audio, &mut cx(0, &mut st, &mut rec, &mut out));
        let (first, w, epoch) = (e.start + e.extra, e.w, h.epoch);
        out.clear();
        // Half-way through the 4th step.
        let now = first + 3 * w + w / 2;
        e.enqueued(&mut h, &m, &mut cx(now, &mut st, &mut rec, &mut out));
        assert_eq!(e.steps, 4);
        assert_eq!(h.epoch, epoch + 1);
        assert!(matches!(out[..], [Out::At(t, crate::sim::Ev::Done { .. })] if t == first + 4 * w));
    }
}
