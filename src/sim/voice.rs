//! Voice sessions: conversations paced by speech, streaming ASR servers and in-flight TTS
//! servers (docs/voice.md has the model with its sources).
//!
//! * **Conversation** (`pacing = "real-time"` or `"upload"`). A user speaks an utterance of
//!   `size` audio seconds, waits for the reply, hears it (its frames at the TTS model's frame
//!   rate, from its first audio), thinks and speaks again. A turn's clock (latency, time to
//!   first audio, timeout) starts at the end of the speech. A conversation is active from its
//!   user's first utterance until the user, past its ramp-down time, would speak again.
//! * **Streaming ASR** (`asr_mode = "streaming"`). A stream stays on one replica. Its audio
//!   arrives in chunks of `chunk_s`: in real time, chunk k at `k * chunk_s` after the speech
//!   started; otherwise (an upload, an open-loop arrival) all at once. A stream has one chunk
//!   call per `chunk_s` of speech plus one: the final transcript needs one chunk of audio past
//!   the end of the speech (the look-ahead of a cache-aware streaming encoder, whose latency is
//!   its chunk; docs/sources.md S7.5), so the last chunk arrives `chunk_s` after the speech
//!   ends, possibly short. Each call encodes one chunk of every stream with one ready, up to
//!   `max_batch` streams, those waiting longest first, at the `encode_chunk` table's cost for
//!   (streams, `chunk_s`); a stream's chunks are encoded in order, one per call.
//! * **In-flight TTS** (`tts_policy = "in-flight"`). Every active synthesis advances one frame
//!   per step; newcomers join, up to `max_batch`, at a step boundary, and a synthesis leaves at
//!   the boundary of its last frame. A step of `b` syntheses costs the `synthesize` table's
//!   marginal cost of a frame at batch `b`; a step that admits newcomers also runs their setup
//!   (text encoding), costed as the growth of the table's zero-frame intercept from the old
//!   batch to the new one (from an idle server: the whole intercept), see
//!   [`crate::model::OpTable::frame_costs_ms`]. A lone synthesis therefore costs exactly the
//!   static call. The host's scheduling time (`call_gap_ms`) precedes a step that admits
//!   newcomers; other steps follow each other directly, as in the measured frame loop. The
//!   first audio chunk is out when a request's `first_chunk_frames`-th step ends.
//!
//! **Blocks.** On a device the server runs alone (dedicated GPU, MIG instance) the steps
//! between two membership changes are one call: it lasts until the first synthesis ends, and
//! an arrival that could join cuts it at the first step boundary at or after the arrival, where
//! the step-by-step server would have admitted it. Step durations are the same integers, so
//! the results equal stepping (tested). Shared devices step one by one.

use super::*;

impl Simulation {
    // ------------------------------------------------------------------ conversations

    /// User `user` starts an utterance of `size` audio seconds now (a conversation turn).
    pub(super) fn start_utterance(&mut self, user: usize, pacing: Pacing, size: f64, out: u32) {
        let now = self.q.now();
        if !self.users[user].in_session {
            self.users[user].in_session = true;
            self.conv_change(1);
        }
        let wl = self.users[user].wl as usize;
        let end = now + from_secs(size).max(1);
        let unit = self.add_unit(wl, user as u32, end, size, out);
        let first = match &self.scenario_workloads[wl].target {
            Target::Model(m) => *m,
            Target::Pipeline(p) => p.stages[0],
        };
        let m = &self.models[first];
        if pacing == Pacing::RealTime && m.kind == ServiceKind::Asr && m.asr_mode == AsrMode::Streaming {
            // The stream opens as the user starts speaking; its chunks follow the speech.
            self.send_stage(unit);
        } else {
            self.q.schedule(end, Ev::Speak { unit: unit as u32 });
        }
    }

    /// Conversations open (`+1`) or close (`-1`) now.
    pub(super) fn conv_change(&mut self, delta: i32) {
        let now = self.q.now();
        self.conv_account(now);
        self.conv.active = self.conv.active.saturating_add_signed(delta);
    }

    /// Add the conversations active since the last change, up to `now`, to the window's
    /// integral and peak.
    fn conv_account(&mut self, now: SimTime) {
        let c = &mut self.conv;
        let o = window_overlap(c.last, now, self.warmup, self.duration);
        if o > 0 {
            c.area += u128::from(o) * u128::from(c.active);
            c.max = c.max.max(c.active);
        }
        c.last = now;
    }

    /// Time-weighted mean and peak of the active conversations over the measurement window,
    /// counted up to now.
    pub(super) fn conv_window(&self) -> (f64, u32) {
        let c = &self.conv;
        let o = window_overlap(c.last, self.q.now(), self.warmup, self.duration);
        let area = c.area + u128::from(o) * u128::from(c.active);
        let max = if o > 0 { c.max.max(c.active) } else { c.max };
        let span = (self.duration - self.warmup).max(1);
        (area as f64 / span as f64, max)
    }

    // ------------------------------------------------------------------ streaming ASR

    /// Attach request `r` to streaming server `srv`. Real time: its audio is still being
    /// spoken and ends at the request's arrival; otherwise every chunk is there now.
    pub(super) fn open_stream(&mut self, r: usize, srv: usize, real_time: bool) {
        let now = self.q.now();
        let chunk = from_secs(self.models[self.servers[srv].model as usize].chunk_s).max(1);
        let q = &mut self.reqs[r];
        let speech = if real_time { q.arrival - now } else { from_secs(q.size) }.max(1);
        q.srv = srv as u32;
        q.chunks = (speech.div_ceil(chunk) + 1).min(u64::from(u32::MAX)) as u32;
        let s = &mut self.servers[srv];
        s.streams.push(r as u32);
        s.outstanding += 1;
        if real_time {
            q.state = ReqState::Streaming;
            self.q.schedule(now + chunk, Ev::Chunk { req: r as u32 });
        } else {
            q.chunks_in = q.chunks;
            s.queue.push_back(r as u32);
            self.wake(srv);
        }
    }

    /// The next chunk of real-time stream `r` has arrived at its server.
    pub(super) fn on_chunk(&mut self, r: usize) {
        let now = self.q.now();
        let q = &mut self.reqs[r];
        if matches!(q.state, ReqState::Failed | ReqState::Done) {
            // Lost in a crash while its speech went on: this was the last event naming it.
            self.release_req(r as u32);
            return;
        }
        let srv = q.srv as usize;
        q.chunks_in += 1;
        if q.chunks_in < q.chunks {
            // Chunk k comes k chunks after the speech started, the last one a chunk after it
            // ended (the request's arrival).
            let chunk = from_secs(self.models[q.model as usize].chunk_s).max(1);
            let next = (now + chunk).min(q.arrival + chunk);
            self.q.schedule(next, Ev::Chunk { req: r as u32 });
        }
        if q.state == ReqState::Streaming {
            q.state = ReqState::Queued;
            self.servers[srv].queue.push_back(r as u32);
            self.wake(srv);
        }
    }

    /// A streaming server's next call: one chunk of each ready stream, oldest first.
    pub(super) fn stream_dispatch(&mut self, srv: usize) {
        let now = self.q.now();
        let m = self.servers[srv].model as usize;
        let (max_batch, chunk_s) = (self.models[m].max_batch as usize, self.models[m].chunk_s);
        let s = &mut self.servers[srv];
        s.batch.clear();
        while s.batch.len() < max_batch {
            let Some(r) = s.queue.pop_front() else { break };
            let q = &mut self.reqs[r as usize];
            q.state = ReqState::Running;
            if q.chunks_done == 0 {
                q.start = now;
            }
            s.batch.push(r);
        }
        if s.batch.is_empty() {
            s.state = SrvState::Idle;
            return;
        }
        s.call = Call::Chunks;
        s.state = SrvState::Busy;
        let batch = s.batch.len() as u32;
        self.submit_table_call(srv, "encode_chunk", batch, chunk_s);
    }

    /// A chunk call ended: each stream moves one chunk on; a stream whose last chunk this was
    /// has its final transcript now.
    pub(super) fn stream_call_done(&mut self, srv: usize, now: SimTime) {
        let mut batch = std::mem::take(&mut self.servers[srv].batch);
        for &r in &batch {
            let q = &mut self.reqs[r as usize];
            if q.state != ReqState::Running {
                continue;
            }
            q.chunks_done += 1;
            let s = &mut self.servers[srv];
            if q.chunks_done >= q.chunks {
                if let Some(i) = s.streams.iter().position(|&x| x == r) {
                    s.streams.swap_remove(i);
                }
                s.outstanding -= 1;
                self.complete_req(r as usize, now);
                self.release_req(r);
            } else if q.chunks_in > q.chunks_done {
                q.state = ReqState::Queued;
                s.queue.push_back(r);
            } else {
                q.state = ReqState::Streaming;
            }
        }
        batch.clear();
        self.servers[srv].batch = batch;
    }

    // ------------------------------------------------------------------ in-flight TTS

    /// (frame step, setup) of server `srv` at `b` active syntheses [ns]; 0 syntheses cost
    /// nothing. Computed once per batch size: the server's device share is fixed.
    fn frame_ns(&mut self, srv: usize, b: usize) -> (SimTime, SimTime) {
        if b == 0 {
            return (0, 0);
        }
        if let Some(&c) = self.servers[srv].frame_ns.get(b) {
            if c.0 > 0 {
                return c;
            }
        }
        let s = &self.servers[srv];
        let (step, setup, ext) = self.models[s.model as usize].op("synthesize").frame_costs_ms(b as u32, &s.slow);
        self.extrapolated |= ext;
        let c = (from_ms(step).max(1), from_ms(setup));
        let memo = &mut self.servers[srv].frame_ns;
        if memo.len() <= b {
            memo.resize(b + 1, (0, 0));
        }
        memo[b] = c;
        c
    }

    /// An in-flight TTS server's next call: admit newcomers, then run frame steps.
    pub(super) fn frames_dispatch(&mut self, srv: usize) {
        let now = self.q.now();
        let m = self.servers[srv].model as usize;
        let max_batch = self.models[m].max_batch as usize;
        let b_old = self.servers[srv].synth.len();
        while self.servers[srv].synth.len() < max_batch {
            let Some(r) = self.servers[srv].queue.pop_front() else { break };
            let frames = self.models[m].tts_frames(self.reqs[r as usize].size) as u32;
            let q = &mut self.reqs[r as usize];
            q.state = ReqState::Running;
            q.start = now;
            self.servers[srv].synth.push(Synth { req: r, frames, done: 0 });
        }
        let b = self.servers[srv].synth.len();
        if b == 0 {
            self.servers[srv].state = SrvState::Idle;
            return;
        }
        let (w, setup) = self.frame_ns(srv, b);
        let extra = if b > b_old {
            setup.saturating_sub(self.frame_ns(srv, b_old).1)
        } else {
            0
        };
        let steps = if self.can_skip(srv) {
            self.servers[srv].synth.iter().map(|x| x.frames - x.done).min().unwrap_or(1).max(1)
        } else {
            1
        };
        let s = &mut self.servers[srv];
        s.call = Call::Frames;
        s.state = SrvState::Busy;
        s.block_steps = steps;
        s.block_start = now;
        s.block_extra = extra;
        s.block_w = w;
        let (dev, ctx, epoch) = (s.dev as usize, s.ctx as usize, s.epoch);
        if let DevKind::Mps(_) = self.devices[dev].kind {
            // The MPS rate model takes the step's latency on the whole reference GPU and the
            // parts of the frame-dominated cell (the table's last frame count at this batch).
            let op = self.models[m].op("synthesize");
            let id = Slowdown::IDENTITY;
            let (step, setup_new, _) = op.frame_costs_ms(b as u32, &id);
            let setup_old = if b_old > 0 { op.frame_costs_ms(b_old as u32, &id).1 } else { 0.0 };
            let join = if b > b_old { (setup_new - setup_old).max(0.0) } else { 0.0 };
            let (pb, _) = op.pad_batch(b as u32);
            let (fixed, compute) = op.fractions(pb, op.size[op.size.len() - 1]);
            let call = device::MpsCall {
                srv: srv as u32,
                epoch,
                l_ref_ms: step + join,
                fixed,
                compute,
                left: 1.0,
                rate: 0.0,
                started: now,
            };
            self.mps_submit(dev, ctx, call);
            return;
        }
        let w = if self.servers[srv].shared_saving > 0.0 {
            let w1 = self.frame_ns(srv, 1).0;
            self.shared_work(srv, w, w1)
        } else {
            w
        };
        self.submit_work(srv, extra + SimTime::from(steps) * w, steps <= 1);
    }

    /// A request joined the queue of a busy in-flight TTS server: if it can join and the server
    /// is running a block of frame steps, cut the block at the first step boundary at or after
    /// now.
    pub(super) fn frames_enqueued(&mut self, srv: usize) {
        let now = self.q.now();
        let s = &self.servers[srv];
        let max_batch = self.models[s.model as usize].max_batch as usize;
        if s.call != Call::Frames || s.block_steps <= 1 || s.synth.len() >= max_batch {
            return;
        }
        let first = s.block_start + s.block_extra;
        let j = now.saturating_sub(first).div_ceil(s.block_w).max(1);
        if j >= u64::from(s.block_steps) {
            return;
        }
        let s = &mut self.servers[srv];
        s.epoch += 1;
        s.block_steps = j as u32;
        let ev = Ev::Done {
            srv: srv as u32,
            epoch: s.epoch,
        };
        self.q.schedule(first + j * s.block_w, ev);
    }

    /// The frame steps of an in-flight TTS call ended now: every synthesis advanced by them;
    /// first chunks and finished syntheses are recorded at their step's end.
    pub(super) fn frames_call_done(&mut self, srv: usize, now: SimTime) {
        let m = self.servers[srv].model as usize;
        let first_chunk = self.models[m].first_chunk_frames;
        let mut done = std::mem::take(&mut self.frames_done);
        done.clear();
        let s = &mut self.servers[srv];
        let (steps, w) = (s.block_steps.max(1), s.block_w);
        for x in s.synth.iter_mut() {
            let before = x.done;
            x.done = (x.done + steps).min(x.frames);
            let target = first_chunk.min(x.frames);
            if before < target && target <= x.done {
                // Step j of the call ends (steps - j) steps before its end.
                let j = target - before;
                self.reqs[x.req as usize].first_token = now - SimTime::from(steps - j) * w;
            }
            if x.done >= x.frames {
                done.push(x.req);
            }
        }
        s.synth.retain(|x| x.done < x.frames);
        s.outstanding -= done.len() as u32;
        s.block_steps = 1;
        for &r in &done {
            self.complete_req(r as usize, now);
        }
        for &r in &done {
            self.release_req(r);
        }
        self.frames_done = done;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SEC;

    /// A request loop (no conversation), so that only the test moves the conversation count.
    fn sim() -> Simulation {
        let text = r#"
name = "conv"
duration_s = 20
warmup_s = 10
drain_s = 60
[models.asr]
from = "h100/asr"
[[workload]]
model = "asr"
users = 1
think_s = 100
size = { dist = "fixed", value = 1.0 }
[[variant]]
name = "one"
gpu = "h100-80gb"
gpus = [{ regime = "dedicated", models = ["asr"] }]
"#;
        let sc = crate::scenario::files::parse_scenario(text, "conv.toml", None).expect("valid");
        Simulation::new(&sc, 0, 1).expect("builds")
    }

    #[test]
    fn active_conversations_are_integrated_over_the_window_only() {
        let mut s = sim();
        assert_eq!(s.conv_window(), (0.0, 0));
        // 1 from 5 s, 2 from 15 s, 3 from 25 s (after the window [10, 20) s).
        for t in [5, 15, 25] {
            s.step_until(t * SEC);
            s.conv_change(1);
        }
        // 1 x 5 s + 2 x 5 s over the 10 s window; the third opened after it.
        assert_eq!(s.conv_window(), (1.5, 2));
        // Closing one at 30 s changes nothing in the window.
        s.step_until(30 * SEC);
        s.conv_change(-1);
        assert_eq!(s.conv_window(), (1.5, 2));
    }

    #[test]
    fn the_window_counts_the_conversations_open_until_now() {
        let mut s = sim();
        s.step_until(SEC);
        s.conv_change(1);
        s.conv_change(1);
        // Both open since 1 s; at 14 s, 4 s of the window have passed with 2 open.
        s.step_until(14 * SEC);
        assert_eq!(s.conv_window(), (0.8, 2));
    }
}
