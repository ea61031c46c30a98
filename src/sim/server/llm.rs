//! LLM servers: three scheduler policies over a paged KV cache, with preemption by recompute, and
//! decode steps advanced in blocks so that the cost of a simulation grows with requests, not
//! tokens.
//!
//! * `prefill-first` (the calibration server, traces/h100): whenever requests wait and fewer than
//!   `max_seqs` run, prefill the oldest alone (padded to a CUDA-graph bucket; its first token at
//!   the end), then one decode step for every running sequence.
//! * `chunked` (vLLM v1): every step carries one token of each decoding sequence and prefill
//!   chunks, oldest first, up to `max_num_batched_tokens`; new requests are admitted FCFS while
//!   sequences, budget and KV blocks allow.
//! * `static` (request-level batching): an idle server admits up to `max_seqs` waiting requests,
//!   prefills them together and decodes the batch until its last request ends; finished
//!   sequences keep their slot (padding) and newcomers wait for the next batch.
//!
//! **Step cost.** A decode step of `d` sequences is the `decode` table at batch `d` and the
//! attended context (the longest sequence for the padded-graph policies; the mean, rounded up to
//! a KV block, for `chunked`, whose paged attention reads each sequence's own blocks). A
//! prefill of `p` tokens alone is the `prefill` table. A mixed step streams the weights once, so
//! it costs the decode step plus the prefill's marginal cost: `decode(d, c) + prefill(p) -
//! prefill(0)`, where `prefill(0)` is the table's fixed per-pass cost (extrapolated to zero
//! tokens: weights and launches). Checked against a NIM concurrency sweep (docs/src/accuracy.md).
//!
//! **KV cache.** `kv_tokens` (from the memory the server gets, see placement) in blocks of
//! `kv_block_tokens`. A sequence holds the blocks of its cached tokens. When a decode step needs
//! a block and none is free, the newest running sequence is preempted: its blocks are freed and
//! it returns to the head of the queue, to recompute its prompt and the tokens it had generated.
//!
//! **Blocks.** On a device that runs the server alone (dedicated GPU, MIG instance) a run of
//! pure decode steps is one call: it lasts until the first sequence finishes or the KV cache
//! would run out, and the arrival of a request cuts it at the next step boundary, where the
//! step-by-step server would have seen it. The durations are the same integer sums, so the
//! results are identical to stepping (tested). Shared devices step one by one: each step's
//! synchronisation interacts with the co-tenants. Every generating sequence gains one token a
//! step, so the server keeps them as aggregates over a step counter (`Generating`: count, summed
//! and longest length, next to finish, lengths modulo the KV block): planning and applying a block
//! costs O(block + log n) for n running sequences, and O(n) only when one finishes or is
//! preempted.
//!
//! Why one file of ~900 lines (a third of it tests): the three policies share the KV cache, the decode blocks
//! and their exactness contract; split, each would re-derive the block arithmetic.

mod generating;

pub(in crate::sim) use generating::Seq;
use generating::{CtxState, Generating};

use super::{Cx, Host, Out, SrvState};
use crate::model::{LlmPolicy, LlmSpec, LlmTables, Model};
use crate::sim::device::MpsCall;
use crate::time::{from_ms, SimTime};
use std::collections::HashMap;

/// What the running call does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Call {
    None,
    /// Prefill-first: one request's prefill.
    Prefill(u32),
    /// Decode steps of every running sequence (`block.steps` of them).
    Decode,
    /// A mixed step (chunked) or a static batch's prefill: its prefill work is `chunks`.
    Step,
}

/// Hashes the small integer keys of the decode-cost memo with a multiply per word (FxHash's
/// constant): SipHash, the std default, cost more than the table lookup the memo saves.
#[derive(Default, Clone, Copy)]
struct PairHasher(u64);

impl std::hash::Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// An LLM server's engine: its running sequences, KV cache and the call in progress.
#[derive(Debug, Clone)]
pub(in crate::sim) struct Llm {
    /// Running sequences: admitted (partly prefilled) and decoding.
    pub(in crate::sim) active: Vec<Seq>,
    /// Free KV blocks, and all of them.
    kv_free: u64,
    kv_total: u64,
    /// The generating sequences in aggregate.
    generating: Generating,
    call: Call,
    /// The prefill work of the running step: (index in `active`, tokens).
    chunks: Vec<(u32, u32)>,
    /// Decode steps in the running call, when and how they were costed (runs of equal steps:
    /// count, ns each), so that the block can be cut at a step boundary.
    steps: u32,
    block_start: SimTime,
    block_runs: Vec<(u32, SimTime)>,
    /// Scratch: the indices of the sequences a block finishes, and their requests.
    block_ends: Vec<u32>,
    finished: Vec<u32>,
    /// Duration of a decode step by (batch, context) on this server [ns], and whether its
    /// lookup went beyond the measured cells.
    cost_cache: HashMap<(u32, u32), (SimTime, bool), std::hash::BuildHasherDefault<PairHasher>>,
}

impl Llm {
    /// An idle engine of `l` with a KV cache of `kv_tokens`.
    pub(super) fn new(l: &LlmSpec, kv_tokens: u64) -> Llm {
        let bt = l.kv_block_tokens.max(1);
        let blocks = kv_tokens / u64::from(bt);
        Llm {
            active: Vec::new(),
            kv_free: blocks,
            kv_total: blocks,
            generating: Generating::new(bt, l.policy != LlmPolicy::Chunked),
            call: Call::None,
            chunks: Vec::new(),
            steps: 1,
            block_start: 0,
            block_runs: Vec::new(),
            block_ends: Vec::new(),
            finished: Vec::new(),
            cost_cache: HashMap::default(),
        }
    }

    /// Blocks that `tokens` cached tokens occupy.
    fn blocks_for(l: &LlmSpec, tokens: u32) -> u64 {
        tokens.div_ceil(l.kv_block_tokens.max(1)) as u64
    }

    /// Duration of one decode step of `d` sequences at attended context `ctx` [ns], memoised
    /// (the server's device share is fixed when steps are stepped or blocked).
    fn decode_ns(&mut self, h: &Host, t: &LlmTables, d: u32, ctx: u32, cx: &mut Cx) -> SimTime {
        let key = (d, ctx);
        if let Some(&(w, ext)) = self.cost_cache.get(&key) {
            cx.rec.costed(ext);
            return w;
        }
        let (ms, ext) = t.decode.latency_ms(d, ctx as f64, &h.slow);
        cx.rec.costed(ext);
        let w = from_ms(ms).max(1) + h.comm.ns(d);
        self.cost_cache.insert(key, (w, ext));
        w
    }

    /// What `ctx_at` needs of the running sequences: the generating ones from their aggregates
    /// (O(log n)), the others (partly prefilled; `static`: finished padding) by a pass over them.
    fn ctx_state(&self, l: &LlmSpec) -> CtxState {
        let g = &self.generating;
        let mut st = CtxState {
            decoding: g.n,
            sum: (g.sum_c + (g.n * g.tick) as i64) as u64 + g.n,
            growing: g.n,
            max_growing: g.longest(),
            max_fixed: 0,
            first_done: g.first_done(),
            need_next: g.crossings(1) - g.ahead,
        };
        if self.active.len() as u64 > g.n {
            // Outside `static`, the sequences that do not generate are the partly prefilled
            // suffix (see plan_chunked).
            let others = match l.policy {
                LlmPolicy::Static => &self.active[..],
                _ => &self.active[self.active.partition_point(|a| a.decoding)..],
            };
            for a in others.iter().filter(|a| !a.generating()) {
                st.decoding += u64::from(a.decoding);
                st.sum += if a.decoding { u64::from(a.len) + 1 } else { 0 };
                st.max_fixed = st.max_fixed.max(a.len);
            }
        }
        #[cfg(debug_assertions)]
        self.check_generating(l, &st);
        st
    }

    /// The aggregates against a pass over every sequence brought up to date, and the KV blocks
    /// held against the free count (debug builds: every test run checks them).
    #[cfg(debug_assertions)]
    fn check_generating(&self, l: &LlmSpec, st: &CtxState) {
        let bt = l.kv_block_tokens.max(1);
        let (mut decoding, mut sum, mut growing, mut need_next, mut held) = (0u64, 0u64, 0u64, 0u64, 0u64);
        let (mut max_growing, mut max_fixed, mut first_done) = (None::<u32>, 0u32, None::<u32>);
        for a in &self.active {
            let a = self.generating.at(a);
            let g = a.generating();
            held += u64::from(a.blocks);
            decoding += u64::from(a.decoding);
            sum += if a.decoding { u64::from(a.len) + 1 } else { 0 };
            if g {
                growing += 1;
                max_growing = max_growing.max(Some(a.len));
                let r = a.remaining as u32;
                first_done = Some(first_done.map_or(r, |f| f.min(r)));
                need_next += u64::from((a.len + 1).div_ceil(bt).saturating_sub(a.blocks));
            } else {
                max_fixed = max_fixed.max(a.len);
            }
        }
        let pass = CtxState {
            decoding,
            sum,
            growing,
            max_growing: max_growing.filter(|_| self.generating.by_len.is_some()),
            max_fixed,
            first_done,
            need_next,
        };
        debug_assert_eq!(*st, pass);
        debug_assert_eq!(self.kv_total - self.kv_free, held, "KV blocks");
    }

    /// The costed context `extra` steps ahead: `extra` steps on, a generating sequence has grown
    /// by `extra` tokens; a finished one (kept as padding by static batching) has not. O(1), so
    /// a block of decode steps is costed in O(runs x log steps).
    fn ctx_at(t: &LlmTables, l: &LlmSpec, st: &CtxState, extra: u32) -> u32 {
        let bt = l.kv_block_tokens.max(1);
        match l.policy {
            LlmPolicy::Chunked => {
                let sum = st.sum + st.growing * u64::from(extra);
                ((sum.div_ceil(st.decoding.max(1)) as u32).div_ceil(bt) * bt).max(1)
            }
            _ => {
                let c = st.max_growing.map_or(st.max_fixed, |m| (m + extra).max(st.max_fixed)) + 1;
                let (_, padded, beyond) = t.decode.padded(1, c as f64);
                if beyond {
                    c.div_ceil(bt) * bt
                } else {
                    padded as u32
                }
            }
        }
    }

    /// The attended context a decode step is costed at now: padded-graph policies pad to the
    /// table's context buckets (beyond them, to the KV block); `chunked` costs the mean context
    /// rounded up to a KV block.
    fn decode_ctx(&self, t: &LlmTables, l: &LlmSpec) -> u32 {
        Self::ctx_at(t, l, &self.ctx_state(l), 0)
    }

    /// Sequences in the decode batch: the decoding ones (`static`: every slot of the batch).
    fn decode_batch(&self, l: &LlmSpec) -> u32 {
        match l.policy {
            LlmPolicy::Static => self.active.len() as u32,
            // Outside `static` every decoding sequence generates (finished ones leave).
            _ => self.generating.n as u32,
        }
    }

    /// Free `n` KV blocks for a decode step by preempting the newest running sequences (never the
    /// last one). Returns false if even that cannot make room.
    fn make_room(&mut self, h: &mut Host, n: u64, cx: &mut Cx) -> bool {
        while self.kv_free < n {
            let last = match self.active.len() {
                0 | 1 => return false,
                n => n - 1,
            };
            let victim = self.stop_generating(last);
            self.active.pop();
            self.kv_free += victim.blocks as u64;
            let q = &mut cx.store.reqs[victim.req as usize];
            if victim.decoding {
                // Decode steps do not update the request (that would cost a random access per
                // sequence and step); what it generated is what it no longer has to.
                q.generated = (i64::from(q.out_tokens) - victim.remaining.max(0)) as u32;
            }
            h.queue.push_front(victim.req);
            // Its cached tokens are gone: it will recompute its prompt and what it generated.
            let arrival = q.arrival;
            cx.rec.preempted(h.model as usize, arrival);
        }
        true
    }

    /// Decide and submit the next call, or go idle.
    pub(super) fn dispatch(&mut self, h: &mut Host, model: &Model, t: &LlmTables, l: &LlmSpec, cx: &mut Cx) {
        let max_seqs = l.max_seqs as usize;
        let now = cx.now;
        let (work, call) = match l.policy {
            LlmPolicy::PrefillFirst => {
                let (budget, queued, running) = (h.admit_budget, !h.queue.is_empty(), self.active.len());
                if budget > 0 && queued && running < max_seqs && self.admit_next(h, l, cx) {
                    h.admit_budget -= 1;
                    let i = self.active.len() - 1;
                    let (r, prompt) = (self.active[i].req, self.active[i].prompt);
                    let (ms, ext) = t.prefill.latency_ms(1, prompt as f64, &h.slow);
                    cx.rec.costed(ext);
                    cx.store.mark_started(r, now);
                    (from_ms(ms).max(1) + h.comm.ns(prompt), Call::Prefill(r))
                } else if running > 0 {
                    match self.plan_decode(h, model, t, l, cx) {
                        Some(w) => (w, Call::Decode),
                        None => return,
                    }
                } else if queued {
                    // A new admission round.
                    h.admit_budget = h.queue.len();
                    if self.admit_possible(h, l, cx) {
                        return self.dispatch(h, model, t, l, cx);
                    }
                    return Self::fail_unfittable(h, cx);
                } else {
                    h.state = SrvState::Idle;
                    return;
                }
            }
            LlmPolicy::Chunked => match self.plan_chunked(h, model, t, l, cx) {
                Some(x) => x,
                None => return,
            },
            LlmPolicy::Static => {
                if self.active.is_empty() {
                    if h.queue.is_empty() {
                        h.state = SrvState::Idle;
                        return;
                    }
                    // Admit a batch and prefill it together.
                    self.chunks.clear();
                    while self.active.len() < max_seqs && !h.queue.is_empty() && self.admit_next(h, l, cx) {}
                    if self.active.is_empty() {
                        return Self::fail_unfittable(h, cx);
                    }
                    let tokens: u32 = self.active.iter().map(|a| a.prompt).sum();
                    for a in &self.active {
                        cx.store.mark_started(a.req, now);
                    }
                    let n = self.active.len();
                    self.chunks.extend((0..n as u32).map(|i| (i, 0)));
                    let (ms, ext) = t.prefill.latency_unpadded(1.0, tokens as f64, &h.slow);
                    cx.rec.costed(ext);
                    (from_ms(ms).max(1) + h.comm.ns(tokens), Call::Step)
                } else {
                    match self.plan_decode(h, model, t, l, cx) {
                        Some(w) => (w, Call::Decode),
                        None => return,
                    }
                }
            }
        };
        self.call = call;
        h.state = SrvState::Busy;
        // The split of the op's cell (a mixed step takes the decode's split): the MPS rate model
        // and the power budget need it.
        let (f, c) = match call {
            Call::Prefill(r) => t.prefill.fractions(1.0, cx.store.prompt_of(r) as f64),
            _ => {
                let d = self.decode_batch(l).max(1) as f64;
                let ctx = self.decode_ctx(t, l) as f64;
                t.decode.fractions(d, ctx)
            }
        };
        if h.mps {
            // The MPS rate model needs the call's latency on the whole reference GPU and its
            // parts: undo the nominal share's slow-down.
            let scale = h.slow.of_call(f, c);
            let l_ref = crate::time::to_ms(work) / scale;
            cx.out.push(Out::SubmitMps(MpsCall::new(h.id, h.epoch, l_ref, f, c, now)));
            return;
        }
        let mut work = work;
        if h.shared_saving > 0.0 {
            // The call at batch 1: its decodes (if any) as one sequence's.
            let d = match call {
                Call::Decode => self.decode_batch(l),
                // A chunked step carries the decodes; a static batch's step is its prefill.
                Call::Step if l.policy == LlmPolicy::Chunked => self.decode_batch(l),
                _ => 0,
            };
            let w1 = if d > 1 {
                let c = self.decode_ctx(t, l);
                // (A table may cost a larger batch less: then the call is its own batch-1 cost.)
                work - self
                    .decode_ns(h, t, d, c, cx)
                    .saturating_sub(self.decode_ns(h, t, 1, c, cx))
                    .min(work - 1)
            } else {
                work
            };
            work = h.shared_work(work, w1);
        }
        h.submit_work(work, self.steps <= 1, h.load(f, c), model, cx);
    }

    /// Whether the queue's head could be admitted now (KV blocks for its whole prompt).
    fn admit_possible(&self, h: &Host, l: &LlmSpec, cx: &Cx) -> bool {
        h.queue
            .front()
            .is_some_and(|&r| Self::blocks_for(l, cx.store.prompt_of(r) + 1) <= self.kv_free)
    }

    /// Admit the queue's head with blocks for its whole prompt (and its first token); false if
    /// the cache has no room.
    fn admit_next(&mut self, h: &mut Host, l: &LlmSpec, cx: &Cx) -> bool {
        if !self.admit_possible(h, l, cx) {
            return false;
        }
        let r = h.queue.pop_front().expect("checked");
        let prompt = cx.store.prompt_of(r);
        let blocks = Self::blocks_for(l, prompt + 1);
        let q = &cx.store.reqs[r as usize];
        self.kv_free -= blocks;
        self.active.push(Seq {
            req: r,
            len: prompt,
            remaining: q.out_tokens as i64 - q.generated as i64,
            prompt,
            prefilled: 0,
            blocks: blocks as u32,
            decoding: false,
            t0: 0,
        });
        true
    }

    /// A request whose prompt cannot fit the whole KV cache even alone: refuse it.
    fn fail_unfittable(h: &mut Host, cx: &mut Cx) {
        if let Some(r) = h.queue.pop_front() {
            h.outstanding -= 1;
            cx.out.push(Out::Reject(r));
        }
        h.state = SrvState::Pending;
        cx.out.push(Out::At(cx.now, h.dispatch_ev()));
    }

    /// Plan a run of decode steps from the current state: make KV room for the first step, then
    /// extend while no sequence finishes and the cache has blocks (one step on shared devices).
    /// Returns the call's duration.
    fn plan_decode(&mut self, h: &mut Host, model: &Model, t: &LlmTables, l: &LlmSpec, cx: &mut Cx) -> Option<SimTime> {
        // Room for every running sequence's next token; one pass over the running sequences
        // gives that and everything else the block needs.
        let st = loop {
            let st = self.ctx_state(l);
            // make_room false: a single sequence longer than the cache, which cannot happen
            // (admission checks max_context_tokens against the cache at validation).
            if st.need_next <= self.kv_free || !self.make_room(h, st.need_next, cx) {
                break st;
            }
        };
        if st.decoding == 0 {
            // Everything was preempted back to the queue: admit again.
            h.admit_budget = h.queue.len();
            self.dispatch(h, model, t, l, cx);
            return None;
        }
        let d = match l.policy {
            LlmPolicy::Static => self.active.len() as u32,
            _ => st.decoding as u32,
        };
        let gap = model.call_gap;
        let mut k: u32 = 1;
        // Prefill-first admits waiting requests after the next step: stop there if any wait.
        let admits_next = l.policy == LlmPolicy::PrefillFirst && !h.queue.is_empty() && self.active.len() < l.max_seqs as usize;
        if cx.blocks && h.alone && !admits_next {
            let first_done = st.first_done.unwrap_or(1).max(1);
            k = first_done.min(self.kv_steps(l, &st, first_done));
        }
        // Sum the steps in runs of equal cost (the context changes cost only at bucket or block
        // boundaries), exactly as stepping would add them. The costed context never falls as
        // steps go on, so each run's end is found by a galloping search: a block costs
        // O(runs x log steps), not O(steps).
        self.block_runs.clear();
        self.steps = k;
        self.block_start = cx.now;
        let mut total: SimTime = 0;
        let mut j = 0;
        while j < k {
            let c = Self::ctx_at(t, l, &st, j);
            let w = self.decode_ns(h, t, d, c, cx);
            // Largest n with ctx(j + n - 1) == c: gallop to a bracket, then bisect.
            let (mut lo, mut step) = (1u32, 1u32);
            while j + lo + step <= k && Self::ctx_at(t, l, &st, j + lo + step - 1) == c {
                lo += step;
                step *= 2;
            }
            let mut hi = (lo + step).min(k - j + 1); // ctx(j + hi - 1) != c, or past k
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if Self::ctx_at(t, l, &st, j + mid - 1) == c {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let n = lo;
            self.block_runs.push((n, w));
            total += n as SimTime * w;
            j += n;
        }
        Some(total + (k as SimTime - 1) * gap)
    }

    /// Most decode steps (up to `limit`) the free KV blocks allow before a sequence needs a block
    /// that is not there: a binary search on the blocks the running sequences need after `j`
    /// steps.
    fn kv_steps(&self, l: &LlmSpec, st: &CtxState, limit: u32) -> u32 {
        // A sequence needs at most ceil(limit / block) + 1 new blocks in `limit` steps: when that
        // much is free, no need to count.
        let bt = l.kv_block_tokens.max(1);
        if st.growing * (u64::from(limit.div_ceil(bt)) + 1) <= self.kv_free {
            return limit;
        }
        let need = |j: u32| -> u64 { self.generating.crossings(j) - self.generating.ahead };
        let (mut lo, mut hi) = (1u32, limit);
        if need(hi) <= self.kv_free {
            return hi;
        }
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if need(mid) <= self.kv_free {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }

    /// A `chunked` step: decodes first, then prefill chunks of running sequences, then new ones.
    fn plan_chunked(&mut self, h: &mut Host, model: &Model, t: &LlmTables, l: &LlmSpec, cx: &mut Cx) -> Option<(SimTime, Call)> {
        let max_seqs = l.max_seqs as usize;
        let budget_total = l.max_num_batched_tokens;
        let now = cx.now;
        // Sequences are admitted at the end and prefilled oldest first, so the decoding ones are
        // a prefix of `active` and the partly prefilled ones the rest.
        let first_partial = self.active.partition_point(|a| a.decoding);
        debug_assert!(self.active[first_partial..].iter().all(|a| !a.decoding));
        let partial = first_partial < self.active.len();
        let can_admit = !h.queue.is_empty() && self.active.len() < max_seqs && self.admit_possible(h, l, cx);
        if !partial && !can_admit {
            if self.active.is_empty() {
                if !h.queue.is_empty() {
                    Self::fail_unfittable(h, cx);
                    return None;
                }
                h.state = SrvState::Idle;
                return None;
            }
            return self.plan_decode(h, model, t, l, cx).map(|w| (w, Call::Decode));
        }
        // Room for the decodes' next tokens first (they are in the step).
        let mut st = self.ctx_state(l);
        if st.need_next > self.kv_free {
            if !self.make_room(h, st.need_next, cx) {
                return self.plan_decode(h, model, t, l, cx).map(|w| (w, Call::Decode));
            }
            st = self.ctx_state(l);
        }
        let d = st.decoding as u32;
        let mut budget = budget_total.saturating_sub(d);
        self.chunks.clear();
        let mut p_tokens = 0u32;
        let first_partial = first_partial.min(self.active.len());
        for i in first_partial..self.active.len() {
            let a = self.active[i];
            if !a.decoding && budget > 0 {
                let n = (a.prompt - a.prefilled).min(budget);
                budget -= n;
                p_tokens += n;
                self.chunks.push((i as u32, n));
            }
        }
        // Newcomers may not take the blocks the decodes' next tokens need.
        self.kv_free -= st.need_next;
        while budget > 0 && self.active.len() < max_seqs && !h.queue.is_empty() && self.admit_next(h, l, cx) {
            let i = self.active.len() - 1;
            let a = self.active[i];
            let n = a.prompt.min(budget);
            budget -= n;
            p_tokens += n;
            self.chunks.push((i as u32, n));
            cx.store.mark_started(a.req, now);
        }
        self.kv_free += st.need_next;
        self.steps = 1;
        let pre = &t.prefill;
        let (p_ms, e1) = pre.latency_unpadded(1.0, p_tokens as f64, &h.slow);
        // The step's collectives carry its decodes' tokens and its prefill chunks'.
        let w = if d == 0 {
            from_ms(p_ms).max(1) + h.comm.ns(p_tokens)
        } else {
            let (p0, _) = pre.latency_unpadded(1.0, 0.0, &h.slow);
            let c = Self::ctx_at(t, l, &st, 0);
            let dw = self.decode_ns(h, t, d, c, cx);
            dw + from_ms((p_ms - p0).max(0.0)) + h.comm.ns(d + p_tokens) - h.comm.ns(d)
        };
        cx.rec.costed(e1);
        Some((w, Call::Step))
    }

    /// A request joined the queue of a server that may be running a block of decode steps: cut
    /// the block where the step-by-step server would have reacted. Prefill-first notices waiting
    /// requests when a step ends (its admission round is the queue at that moment): the first
    /// step ending at or after the arrival. Chunked plans each step at its dispatch, a host gap
    /// after the previous step: the first dispatch at or after the arrival; if that dispatch is
    /// the one after a step that has already ended (the arrival fell in the gap), the steps so far
    /// are applied now (they hold no completion) and the dispatch keeps its time.
    pub(super) fn enqueued(&mut self, h: &mut Host, model: &Model, t: &LlmTables, l: &LlmSpec, cx: &mut Cx) {
        let now = cx.now;
        if self.call != Call::Decode || self.steps <= 1 || l.policy == LlmPolicy::Static {
            return;
        }
        let gap = model.call_gap;
        let react = if l.policy == LlmPolicy::Chunked { gap } else { 0 };
        // The first step at or after which the server would have seen the request: steps are
        // `w` long with `gap` between them, so each run of equal steps is solved in O(1).
        let mut at = self.block_start;
        let mut done = 0u32;
        for &(n, w) in &self.block_runs {
            if n == 0 {
                continue;
            }
            // Step j of this run ends at at + j (w + gap), less one gap for the block's first step.
            let lead = if at > self.block_start { 0 } else { gap };
            let step = w + gap;
            let need = (i128::from(now) - i128::from(react) + i128::from(lead) - i128::from(at)).max(0) as u64;
            let j = need.div_ceil(step.max(1)).max(1);
            if j <= u64::from(n) {
                let end = at + j * step - lead;
                done += j as u32;
                if done < self.steps {
                    self.cut_block(h, model, t, l, done, end, cx);
                }
                return;
            }
            at += u64::from(n) * step - lead;
            done += n;
        }
    }

    /// Shorten the running block to its first `steps` steps, which end at `end`.
    #[allow(clippy::too_many_arguments)]
    fn cut_block(&mut self, h: &mut Host, model: &Model, t: &LlmTables, l: &LlmSpec, steps: u32, end: SimTime, cx: &mut Cx) {
        h.epoch += 1;
        self.steps = steps;
        let mut left = steps;
        for r in self.block_runs.iter_mut() {
            r.0 = r.0.min(left);
            left -= r.0;
        }
        self.block_runs.retain(|r| r.0 > 0);
        if end >= cx.now {
            cx.out.push(Out::At(end, h.done_ev()));
            return;
        }
        // The cut step has already ended: finish the call as of `end` and keep the next
        // dispatch at `end + gap`.
        cx.out.push(Out::DeviceEnded(end));
        self.call_done(h, t, l, cx);
        self.call = Call::None;
        h.state = SrvState::Pending;
        cx.out.push(Out::At(end + model.call_gap, h.dispatch_ev()));
    }

    /// The call has finished now: apply it.
    pub(super) fn call_done(&mut self, h: &mut Host, t: &LlmTables, l: &LlmSpec, cx: &mut Cx) {
        let _ = t;
        match std::mem::replace(&mut self.call, Call::None) {
            Call::Prefill(_) => {
                let i = self.active.len() - 1;
                self.prefill_complete(h, l, i, cx);
            }
            Call::Step => {
                let chunks = std::mem::take(&mut self.chunks);
                let static_batch = l.policy == LlmPolicy::Static;
                // The chunks first, while their indices are valid (a decode that finishes leaves
                // `active`), then the decodes of this step, then the prefills it completed.
                for &(i, n) in &chunks {
                    let Some(a) = self.active.get_mut(i as usize) else { continue };
                    a.prefilled = if static_batch { a.prompt } else { (a.prefilled + n).min(a.prompt) };
                }
                if !static_batch {
                    self.advance_decodes(h, l, 1, cx);
                }
                // Only the partly prefilled suffix of `active` can complete (see plan_chunked).
                let mut i = self.active.partition_point(|a| a.decoding);
                while i < self.active.len() {
                    let a = self.active[i];
                    if !a.decoding && a.prefilled >= a.prompt && self.prefill_complete(h, l, i, cx) {
                        continue;
                    }
                    i += 1;
                }
                self.chunks = chunks;
                self.chunks.clear();
            }
            Call::Decode => {
                let k = self.steps.max(1);
                self.advance_decodes(h, l, k, cx);
                h.admit_budget = h.queue.len();
            }
            Call::None => {}
        }
        self.steps = 1;
        if l.policy == LlmPolicy::Static && self.active.iter().all(|a| a.remaining <= 0) {
            // The batch is over: release its slots (and its requests, padding until now).
            for a in self.active.drain(..) {
                self.kv_free += a.blocks as u64;
                cx.out.push(Out::Release(a.req));
            }
        }
    }

    /// A sequence's prefill finished: its first token is out. Returns true if it finished
    /// (removed from `active`).
    fn prefill_complete(&mut self, h: &mut Host, l: &LlmSpec, i: usize, cx: &mut Cx) -> bool {
        let _ = l;
        let r = self.active[i].req;
        let q = &mut cx.store.reqs[r as usize];
        if q.generated == 0 {
            q.first_token = cx.now;
            q.generated = 1;
        }
        let a = &mut self.active[i];
        a.decoding = true;
        a.len = a.prompt;
        a.remaining = (q.out_tokens as i64 - q.generated as i64).max(0);
        if a.remaining == 0 {
            let a = self.active.remove(i);
            self.kv_free += a.blocks as u64;
            h.outstanding -= 1;
            cx.out.push(Out::Complete(a.req));
            cx.out.push(Out::Release(a.req));
            return true;
        }
        self.generating.start(&mut self.active[i]);
        false
    }

    /// Every generating sequence generated `k` tokens; those that reached their length finish.
    /// O(bt + log n), and O(n) only for a sequence that finishes (it leaves `active`).
    fn advance_decodes(&mut self, h: &mut Host, l: &LlmSpec, k: u32, cx: &mut Cx) {
        let static_batch = l.policy == LlmPolicy::Static;
        self.finished.clear();
        let g = &mut self.generating;
        self.kv_free -= g.crossings(k) - g.ahead;
        g.ahead = 0;
        g.tick += u64::from(k);
        // The finishers, in `active` order (completions and slot reuse follow it).
        self.block_ends.clear();
        while let Some(&std::cmp::Reverse((e, r))) = g.by_end.peek() {
            if e > g.tick {
                break;
            }
            debug_assert_eq!(e, g.tick, "a block never passes a sequence's end");
            g.by_end.pop();
            self.block_ends.push(
                self.active
                    .iter()
                    .position(|a| a.req == r)
                    .expect("a generating sequence is in `active`") as u32,
            );
        }
        self.block_ends.sort_unstable();
        for k in 0..self.block_ends.len() {
            let a = self.stop_generating(self.block_ends[k] as usize);
            self.finished.push(a.req);
        }
        h.outstanding -= self.finished.len() as u32;
        if !static_batch {
            // Finished sequences leave (static batching keeps them as padding until the batch ends).
            for k in (0..self.block_ends.len()).rev() {
                let a = self.active.remove(self.block_ends[k] as usize);
                self.kv_free += u64::from(a.blocks);
            }
        }
        cx.out.extend(self.finished.iter().map(|&r| Out::Complete(r)));
        if !static_batch {
            // They left `active`; a static batch keeps them as padding until it ends.
            cx.out.extend(self.finished.iter().map(|&r| Out::Release(r)));
        }
    }

    /// Sequence `i` leaves the generating aggregates: its fields are brought up to date (and
    /// returned); it stays in `active`.
    fn stop_generating(&mut self, i: usize) -> Seq {
        let a = self.active[i];
        if a.generating() {
            self.active[i] = self.generating.stop(&a);
        }
        self.active[i]
    }

    pub(super) fn kill(&mut self, lost: &mut Vec<u32>) {
        lost.extend(self.active.drain(..).map(|a| a.req));
        self.generating.clear();
        self.kv_free = self.kv_total;
        self.steps = 1;
        if let Call::Prefill(r) = self.call {
            lost.push(r);
        }
        self.call = Call::None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServerKind;
    use crate::sim::testkit::*;

    fn llm(m: &Model) -> (&LlmTables, &LlmSpec) {
        match &m.server {
            ServerKind::Llm { tables, llm } => (tables, llm),
            _ => panic!("an LLM"),
        }
    }

    /// Dispatch, then finish the call at once; the effects of both.
    fn turn(e: &mut Llm, h: &mut Host, m: &Model, st: &mut crate::sim::store::Store, now: SimTime) -> (Vec<Out>, Vec<Out>) {
        let (t, l) = llm(m);
        let (mut rec, mut a, mut b) = (recorder(), Vec::new(), Vec::new());
        e.dispatch(h, m, t, l, &mut cx(now, st, &mut rec, &mut a));
        e.call_done(h, t, l, &mut cx(now, st, &mut rec, &mut b));
        (a, b)
    }

    #[test]
    fn prefill_first_prefills_alone_then_decodes_in_one_block_until_the_first_sequence_ends() {
        // Without the synchronous copy, a call is submitted whole.
        let m = model("h100/llm", |s| s.sync_copy_ms = 0.0);
        let (t, l) = llm(&m);
        let mut st = store(&[(300.0, 10), (100.0, 4)]);
        let mut h = host(&m);
        h.queue.extend([0, 1]);
        h.outstanding = 2;
        h.admit_budget = 2;
        let mut e = Llm::new(l, 100_000);
        // Two prefills, each alone at the table's padded prompt cost; first tokens at their ends.
        for r in [0u32, 1] {
            let (call, _) = turn(&mut e, &mut h, &m, &mut st, 7);
            let prompt = st.reqs[r as usize].size;
            assert_eq!(submitted(&call), from_ms(t.prefill.latency_ms(1, prompt, &h.slow).0).max(1));
            assert_eq!(st.reqs[r as usize].first_token, 7);
        }
        // Then a block of decode steps: the shorter reply has 3 tokens left after its prefill.
        let (call, done) = turn(&mut e, &mut h, &m, &mut st, 7);
        assert_eq!(e.active.len(), 1);
        let d = from_ms(t.decode.latency_ms(2, 512.0, &h.slow).0).max(1);
        assert_eq!(submitted(&call), 3 * d + 2 * m.call_gap);
        assert_eq!(completed(&done), vec![1]);
        assert_eq!(h.outstanding, 1);
    }

    #[test]
    fn a_full_kv_cache_preempts_the_newest_sequence_back_to_the_queue() {
        let m = model("h100/llm", |_| {});
        let (t, l) = llm(&m);
        let bt = l.kv_block_tokens;
        // Two prompts of two blocks hold three blocks each (their first token's too), which is
        // the whole cache: 16 decode steps fill their third blocks, then a fourth is needed.
        let prompt = 2 * bt;
        let mut st = store(&[(f64::from(prompt), 50), (f64::from(prompt), 50)]);
        let mut h = host(&m);
        h.queue.extend([0, 1]);
        h.admit_budget = 2;
        let mut e = Llm::new(l, u64::from(6 * bt));
        turn(&mut e, &mut h, &m, &mut st, 0);
        turn(&mut e, &mut h, &m, &mut st, 0);
        assert_eq!((e.active.len(), e.kv_free), (2, 0));
        turn(&mut e, &mut h, &m, &mut st, 0);
        let (mut rec, mut out) = (recorder(), Vec::new());
        e.dispatch(&mut h, &m, t, l, &mut cx(0, &mut st, &mut rec, &mut out));
        // The newest went back to the head of the queue, keeping the tokens it generated.
        assert_eq!(h.queue.front(), Some(&1));
        assert_eq!(e.active.len(), 1);
        assert_eq!(st.reqs[1].generated, 1 + bt);
        assert_eq!(rec.models[0].preemptions, 1);
    }

    #[test]
    fn an_arrival_cuts_a_decode_block_at_the_first_step_that_ends_after_it() {
        let m = model("h100/llm", |_| {});
        let (t, l) = llm(&m);
        let mut st = store(&[(100.0, 100)]);
        let mut h = host(&m);
        h.queue.push_back(0);
        h.admit_budget = 1;
        let mut e = Llm::new(l, 100_000);
        turn(&mut e, &mut h, &m, &mut st, 0);
        let (mut rec, mut out) = (recorder(), Vec::new());
        e.dispatch(&mut h, &m, t, l, &mut cx(0, &mut st, &mut rec, &mut out));
        assert_eq!(e.steps, 99);
        let step = e.block_runs[0].1;
        let epoch = h.epoch;
        out.clear();
        // Arrives during the 10th step: the prefill-first server sees it when that step ends.
        let now = 9 * (step + m.call_gap) + step / 2;
        e.enqueued(&mut h, &m, t, l, &mut cx(now, &mut st, &mut rec, &mut out));
        assert_eq!((e.steps, h.epoch), (10, epoch + 1));
        assert!(matches!(out[..], [Out::At(at, crate::sim::Ev::Done { .. })] if at == 10 * step + 9 * m.call_gap));
    }
}
