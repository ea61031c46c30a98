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
//! tokens: weights and launches). Checked against a NIM concurrency sweep (README).
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

use super::*;
use crate::scenario::LlmPolicy;

impl Simulation {
    fn llm_spec(&self, srv: usize) -> &crate::model::LlmSpec {
        self.models[self.servers[srv].model as usize]
            .llm
            .as_ref()
            .expect("an LLM server's model has an llm section")
    }

    /// Blocks that `tokens` cached tokens occupy.
    fn blocks_for(&self, srv: usize, tokens: u32) -> u64 {
        let bt = self.llm_spec(srv).kv_block_tokens.max(1);
        tokens.div_ceil(bt) as u64
    }

    /// True when the server may advance decode steps in blocks.
    pub(super) fn can_skip(&self, srv: usize) -> bool {
        self.decode_blocks
            && self.balancer != Balancer::SharedQueue
            && matches!(self.devices[self.servers[srv].dev as usize].kind, DevKind::Exclusive)
    }

    /// Duration of one decode step of `d` sequences at attended context `ctx` [ns], memoised
    /// per server (its device share is fixed when steps are stepped or blocked).
    fn decode_ns(&mut self, srv: usize, d: u32, ctx: u32) -> SimTime {
        let key = (d, ctx);
        if let Some(&w) = self.servers[srv].cost_cache.get(&key) {
            return w;
        }
        let s = &self.servers[srv];
        let spec = &self.models[s.model as usize];
        let op = spec.op("decode");
        let (ms, ext) = op.latency_ms(d, ctx as f64, &s.slow);
        self.extrapolated |= ext;
        let w = from_ms(ms).max(1);
        self.servers[srv].cost_cache.insert(key, w);
        w
    }

    /// The attended context a decode step is costed at: padded-graph policies pad to the table's
    /// context buckets (beyond them, to the KV block); `chunked` costs the mean context rounded up
    /// to a KV block. `extra` steps ahead of the current state.
    fn decode_ctx(&self, srv: usize, extra: u32) -> u32 {
        self.ctx_at(srv, &self.ctx_state(srv), extra)
    }

    /// What `ctx_at` needs of the running sequences: the generating ones from their aggregates
    /// (O(log n)), the others (partly prefilled; `static`: finished padding) by a pass over them.
    fn ctx_state(&self, srv: usize) -> CtxState {
        let s = &self.servers[srv];
        let g = &s.generating;
        let mut st = CtxState {
            decoding: g.n,
            sum: (g.sum_c + (g.n * g.tick) as i64) as u64 + g.n,
            growing: g.n,
            max_growing: g.longest(),
            max_fixed: 0,
            first_done: g.first_done(),
            need_next: g.crossings(1) - g.ahead,
        };
        if s.active.len() as u64 > g.n {
            // Outside `static`, the sequences that do not generate are the partly prefilled
            // suffix (see plan_chunked).
            let others = match self.llm_spec(srv).policy {
                LlmPolicy::Static => &s.active[..],
                _ => &s.active[s.active.partition_point(|a| a.decoding)..],
            };
            for a in others.iter().filter(|a| !a.generating()) {
                st.decoding += u64::from(a.decoding);
                st.sum += if a.decoding { u64::from(a.len) + 1 } else { 0 };
                st.max_fixed = st.max_fixed.max(a.len);
            }
        }
        #[cfg(debug_assertions)]
        self.check_generating(srv, &st);
        st
    }

    /// The aggregates against a pass over every sequence brought up to date, and the KV blocks
    /// held against the free count (debug builds: every test run checks them).
    #[cfg(debug_assertions)]
    fn check_generating(&self, srv: usize, st: &CtxState) {
        let s = &self.servers[srv];
        let bt = self.llm_spec(srv).kv_block_tokens.max(1);
        let (mut decoding, mut sum, mut growing, mut need_next, mut held) = (0u64, 0u64, 0u64, 0u64, 0u64);
        let (mut max_growing, mut max_fixed, mut first_done) = (None::<u32>, 0u32, None::<u32>);
        for a in &s.active {
            let a = s.generating.at(a);
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
            max_growing: max_growing.filter(|_| s.generating.by_len.is_some()),
            max_fixed,
            first_done,
            need_next,
        };
        debug_assert_eq!(*st, pass, "server {srv}");
        debug_assert_eq!(s.kv_total - s.kv_free, held, "server {srv}: KV blocks");
    }

    /// The costed context `extra` steps ahead: `extra` steps on, a generating sequence has grown
    /// by `extra` tokens; a finished one (kept as padding by static batching) has not. O(1), so
    /// a block of decode steps is costed in O(runs x log steps).
    fn ctx_at(&self, srv: usize, st: &CtxState, extra: u32) -> u32 {
        let l = self.llm_spec(srv);
        let bt = l.kv_block_tokens.max(1);
        match l.policy {
            LlmPolicy::Chunked => {
                let sum = st.sum + st.growing * u64::from(extra);
                ((sum.div_ceil(st.decoding.max(1)) as u32).div_ceil(bt) * bt).max(1)
            }
            _ => {
                let c = st.max_growing.map_or(st.max_fixed, |m| (m + extra).max(st.max_fixed)) + 1;
                let op = self.models[self.servers[srv].model as usize].op("decode");
                let (_, padded, beyond) = op.padded(1, c as f64);
                if beyond {
                    c.div_ceil(bt) * bt
                } else {
                    padded as u32
                }
            }
        }
    }

    /// Sequences in the decode batch: the decoding ones (`static`: every slot of the batch).
    fn decode_batch(&self, srv: usize) -> u32 {
        let s = &self.servers[srv];
        match self.llm_spec(srv).policy {
            LlmPolicy::Static => s.active.len() as u32,
            // Outside `static` every decoding sequence generates (finished ones leave).
            _ => s.generating.n as u32,
        }
    }

    /// Free `n` KV blocks for a decode step by preempting the newest running sequences (never the
    /// last one). Returns false if even that cannot make room.
    fn make_room(&mut self, srv: usize, n: u64) -> bool {
        while self.servers[srv].kv_free < n {
            let last = match self.servers[srv].active.len() {
                0 | 1 => return false,
                n => n - 1,
            };
            let victim = self.stop_generating(srv, last);
            let s = &mut self.servers[srv];
            s.active.pop();
            s.kv_free += victim.blocks as u64;
            if victim.decoding {
                // Decode steps do not update the request (that would cost a random access per
                // sequence and step); what it generated is what it no longer has to.
                let q = &mut self.reqs[victim.req as usize];
                q.generated = (i64::from(q.out_tokens) - victim.remaining.max(0)) as u32;
            }
            let s = &mut self.servers[srv];
            s.queue.push_front(victim.req);
            s.preemptions += 1;
            // Its cached tokens are gone: it will recompute its prompt and what it generated.
            let m = s.model as usize;
            if self.measured(self.reqs[victim.req as usize].arrival) {
                self.model_acc[m].preemptions += 1;
            }
        }
        true
    }

    /// Decide and submit the next call of an LLM server, or go idle.
    pub(super) fn llm_dispatch(&mut self, srv: usize) {
        let policy = self.llm_spec(srv).policy;
        let max_seqs = self.llm_spec(srv).max_seqs as usize;
        let now = self.q.now();
        let (work, call) = match policy {
            LlmPolicy::PrefillFirst => {
                let s = &self.servers[srv];
                let (budget, queued, running) = (s.admit_budget, !s.queue.is_empty(), s.active.len());
                if budget > 0 && queued && running < max_seqs && self.admit_next(srv) {
                    let s = &mut self.servers[srv];
                    s.admit_budget -= 1;
                    let i = s.active.len() - 1;
                    let (r, prompt) = (s.active[i].req, s.active[i].prompt);
                    let spec = &self.models[s.model as usize];
                    let (ms, ext) = spec.op("prefill").latency_ms(1, prompt as f64, &s.slow);
                    self.extrapolated |= ext;
                    self.mark_started(r, now);
                    (from_ms(ms).max(1), Call::Prefill(r))
                } else if running > 0 {
                    match self.plan_decode(srv) {
                        Some(w) => (w, Call::Decode),
                        None => return,
                    }
                } else if queued {
                    // A new admission round.
                    self.servers[srv].admit_budget = self.servers[srv].queue.len();
                    if self.admit_possible(srv) {
                        return self.llm_dispatch(srv);
                    }
                    return self.fail_unfittable(srv);
                } else {
                    self.servers[srv].state = SrvState::Idle;
                    return;
                }
            }
            LlmPolicy::Chunked => match self.plan_chunked(srv, max_seqs) {
                Some(x) => x,
                None => return,
            },
            LlmPolicy::Static => {
                if self.servers[srv].active.is_empty() {
                    if self.servers[srv].queue.is_empty() {
                        self.servers[srv].state = SrvState::Idle;
                        return;
                    }
                    // Admit a batch and prefill it together.
                    self.servers[srv].chunks.clear();
                    while self.servers[srv].active.len() < max_seqs && !self.servers[srv].queue.is_empty() && self.admit_next(srv) {}
                    if self.servers[srv].active.is_empty() {
                        return self.fail_unfittable(srv);
                    }
                    let s = &self.servers[srv];
                    let tokens: u32 = s.active.iter().map(|a| a.prompt).sum();
                    let reqs: Vec<u32> = s.active.iter().map(|a| a.req).collect();
                    for r in reqs {
                        self.mark_started(r, now);
                    }
                    let s = &mut self.servers[srv];
                    let n = s.active.len();
                    s.chunks.extend((0..n as u32).map(|i| (i, 0)));
                    let spec = &self.models[s.model as usize];
                    let (ms, ext) = spec.op("prefill").latency_unpadded(1.0, tokens as f64, &s.slow);
                    self.extrapolated |= ext;
                    (from_ms(ms).max(1), Call::Step)
                } else {
                    match self.plan_decode(srv) {
                        Some(w) => (w, Call::Decode),
                        None => return,
                    }
                }
            }
        };
        let s = &mut self.servers[srv];
        s.call = call;
        s.state = SrvState::Busy;
        let (dev, ctx, epoch) = (s.dev as usize, s.ctx as usize, s.epoch);
        let spec = &self.models[s.model as usize];
        let copy = from_ms(spec.sync_copy_ms);
        if let DevKind::Mps(_) = self.devices[dev].kind {
            // The MPS rate model needs the call's latency on the whole reference GPU and its
            // parts: undo the nominal share's slow-down with the split of the op's cell (a mixed
            // step takes the decode's split).
            let (f, c) = match call {
                Call::Prefill(r) => spec.op("prefill").fractions(1.0, self.prompt_of(r) as f64),
                _ => {
                    let d = self.decode_batch(srv).max(1) as f64;
                    let ctx = self.decode_ctx(srv, 0) as f64;
                    self.models[self.servers[srv].model as usize].op("decode").fractions(d, ctx)
                }
            };
            let s = &self.servers[srv];
            let scale = s.slow.of_call(f, c);
            let mps = device::MpsCall {
                srv: srv as u32,
                epoch,
                l_ref_ms: crate::time::to_ms(work) / scale,
                fixed: f,
                compute: c,
                left: 1.0,
                rate: 0.0,
                started: now,
            };
            self.mps_submit(dev, ctx, mps);
            return;
        }
        let mut work = work;
        if s.shared_saving > 0.0 {
            // The call at batch 1: its decodes (if any) as one sequence's.
            let d = match call {
                Call::Decode => self.decode_batch(srv),
                // A chunked step carries the decodes; a static batch's step is its prefill.
                Call::Step if policy == LlmPolicy::Chunked => self.decode_batch(srv),
                _ => 0,
            };
            let w1 = if d > 1 {
                let c = self.decode_ctx(srv, 0);
                // (A table may cost a larger batch less: then the call is its own batch-1 cost.)
                work - self.decode_ns(srv, d, c).saturating_sub(self.decode_ns(srv, 1, c)).min(work - 1)
            } else {
                work
            };
            work = self.shared_work(srv, work, w1);
        }
        let s = &mut self.servers[srv];
        if copy > 0 && work > copy && s.block_steps <= 1 {
            let gpu = COPY_GPU_NS.min(copy);
            s.pending = work - copy;
            s.resume_gap = copy - gpu;
            work = gpu;
        }
        self.submit(dev, ctx, srv, epoch, work);
    }

    fn mark_started(&mut self, r: u32, now: SimTime) {
        let q = &mut self.reqs[r as usize];
        if q.state == ReqState::Queued {
            q.state = ReqState::Running;
            q.start = now;
        }
    }

    /// Tokens request `r` must (re)compute when admitted: its prompt and what it had generated
    /// before a preemption.
    fn prompt_of(&self, r: u32) -> u32 {
        let q = &self.reqs[r as usize];
        q.size as u32 + q.generated
    }

    /// Whether the queue's head could be admitted now (KV blocks for its whole prompt).
    fn admit_possible(&self, srv: usize) -> bool {
        let s = &self.servers[srv];
        s.queue
            .front()
            .is_some_and(|&r| self.blocks_for(srv, self.prompt_of(r) + 1) <= s.kv_free)
    }

    /// Admit the queue's head with blocks for its whole prompt (and its first token); false if
    /// the cache has no room.
    fn admit_next(&mut self, srv: usize) -> bool {
        if !self.admit_possible(srv) {
            return false;
        }
        let r = self.servers[srv].queue.pop_front().expect("checked");
        let prompt = self.prompt_of(r);
        let blocks = self.blocks_for(srv, prompt + 1);
        let q = &self.reqs[r as usize];
        let s = &mut self.servers[srv];
        s.kv_free -= blocks;
        s.active.push(Seq {
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
    fn fail_unfittable(&mut self, srv: usize) {
        if let Some(r) = self.servers[srv].queue.pop_front() {
            self.servers[srv].outstanding -= 1;
            self.fail.rejected_requests += 1;
            self.fail_req(r as usize);
            self.release_req(r);
        }
        let s = &mut self.servers[srv];
        s.state = SrvState::Pending;
        let ev = Ev::Dispatch {
            srv: srv as u32,
            epoch: s.epoch,
        };
        self.q.schedule_in(0, ev);
    }

    /// Plan a run of decode steps from the current state: make KV room for the first step, then
    /// extend while no sequence finishes and the cache has blocks (one step on shared devices).
    /// Returns the call's duration.
    fn plan_decode(&mut self, srv: usize) -> Option<SimTime> {
        // Room for every running sequence's next token; one pass over the running sequences
        // gives that and everything else the block needs.
        let st = loop {
            let st = self.ctx_state(srv);
            // make_room false: a single sequence longer than the cache, which cannot happen
            // (admission checks max_context_tokens against the cache at validation).
            if st.need_next <= self.servers[srv].kv_free || !self.make_room(srv, st.need_next) {
                break st;
            }
        };
        if st.decoding == 0 {
            // Everything was preempted back to the queue: admit again.
            self.servers[srv].admit_budget = self.servers[srv].queue.len();
            return self.replan(srv);
        }
        let d = match self.llm_spec(srv).policy {
            LlmPolicy::Static => self.servers[srv].active.len() as u32,
            _ => st.decoding as u32,
        };
        let gap = from_ms(self.models[self.servers[srv].model as usize].call_gap_ms);
        let mut k: u32 = 1;
        // Prefill-first admits waiting requests after the next step: stop there if any wait.
        let admits_next = {
            let s = &self.servers[srv];
            self.llm_spec(srv).policy == LlmPolicy::PrefillFirst
                && !s.queue.is_empty()
                && s.active.len() < self.llm_spec(srv).max_seqs as usize
        };
        if self.can_skip(srv) && !admits_next {
            let first_done = st.first_done.unwrap_or(1).max(1);
            k = first_done.min(self.kv_steps(srv, &st, first_done));
        }
        // Sum the steps in runs of equal cost (the context changes cost only at bucket or block
        // boundaries), exactly as stepping would add them. The costed context never falls as
        // steps go on, so each run's end is found by a galloping search: a block costs
        // O(runs x log steps), not O(steps).
        let s = &mut self.servers[srv];
        s.block_runs.clear();
        s.block_steps = k;
        s.block_start = self.q.now();
        let mut total: SimTime = 0;
        let mut j = 0;
        while j < k {
            let c = self.ctx_at(srv, &st, j);
            let w = self.decode_ns(srv, d, c);
            // Largest n with ctx(j + n - 1) == c: gallop to a bracket, then bisect.
            let (mut lo, mut step) = (1u32, 1u32);
            while j + lo + step <= k && self.ctx_at(srv, &st, j + lo + step - 1) == c {
                lo += step;
                step *= 2;
            }
            let mut hi = (lo + step).min(k - j + 1); // ctx(j + hi - 1) != c, or past k
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if self.ctx_at(srv, &st, j + mid - 1) == c {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let n = lo;
            self.servers[srv].block_runs.push((n, w));
            total += n as SimTime * w;
            j += n;
        }
        Some(total + (k as SimTime - 1) * gap)
    }

    /// Dispatch again after the state changed inside planning.
    fn replan(&mut self, srv: usize) -> Option<SimTime> {
        self.llm_dispatch(srv);
        None
    }

    /// Most decode steps (up to `limit`) the free KV blocks allow before a sequence needs a block
    /// that is not there: a binary search on the blocks the running sequences need after `j`
    /// steps.
    fn kv_steps(&self, srv: usize, st: &CtxState, limit: u32) -> u32 {
        let s = &self.servers[srv];
        // A sequence needs at most ceil(limit / block) + 1 new blocks in `limit` steps: when that
        // much is free, no need to count.
        let bt = self.llm_spec(srv).kv_block_tokens.max(1);
        if st.growing * (u64::from(limit.div_ceil(bt)) + 1) <= s.kv_free {
            return limit;
        }
        let need = |j: u32| -> u64 { s.generating.crossings(j) - s.generating.ahead };
        let (mut lo, mut hi) = (1u32, limit);
        if need(hi) <= s.kv_free {
            return hi;
        }
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if need(mid) <= s.kv_free {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }

    /// A `chunked` step: decodes first, then prefill chunks of running sequences, then new ones.
    fn plan_chunked(&mut self, srv: usize, max_seqs: usize) -> Option<(SimTime, Call)> {
        let budget_total = self.llm_spec(srv).max_num_batched_tokens;
        let now = self.q.now();
        let s = &self.servers[srv];
        // Sequences are admitted at the end and prefilled oldest first, so the decoding ones are
        // a prefix of `active` and the partly prefilled ones the rest.
        let first_partial = s.active.partition_point(|a| a.decoding);
        debug_assert!(s.active[first_partial..].iter().all(|a| !a.decoding));
        let partial = first_partial < s.active.len();
        let can_admit = !s.queue.is_empty() && s.active.len() < max_seqs && self.admit_possible(srv);
        if !partial && !can_admit {
            if s.active.is_empty() {
                if !s.queue.is_empty() {
                    self.fail_unfittable(srv);
                    return None;
                }
                self.servers[srv].state = SrvState::Idle;
                return None;
            }
            return self.plan_decode(srv).map(|w| (w, Call::Decode));
        }
        // Room for the decodes' next tokens first (they are in the step).
        let mut st = self.ctx_state(srv);
        if st.need_next > s.kv_free {
            if !self.make_room(srv, st.need_next) {
                return self.plan_decode(srv).map(|w| (w, Call::Decode));
            }
            st = self.ctx_state(srv);
        }
        let d = st.decoding as u32;
        let mut budget = budget_total.saturating_sub(d);
        self.servers[srv].chunks.clear();
        let mut p_tokens = 0u32;
        let first_partial = first_partial.min(self.servers[srv].active.len());
        for i in first_partial..self.servers[srv].active.len() {
            let a = self.servers[srv].active[i];
            if !a.decoding && budget > 0 {
                let n = (a.prompt - a.prefilled).min(budget);
                budget -= n;
                p_tokens += n;
                self.servers[srv].chunks.push((i as u32, n));
            }
        }
        // Newcomers may not take the blocks the decodes' next tokens need.
        self.servers[srv].kv_free -= st.need_next;
        while budget > 0 && self.servers[srv].active.len() < max_seqs && !self.servers[srv].queue.is_empty() && self.admit_next(srv) {
            let i = self.servers[srv].active.len() - 1;
            let a = self.servers[srv].active[i];
            let n = a.prompt.min(budget);
            budget -= n;
            p_tokens += n;
            self.servers[srv].chunks.push((i as u32, n));
            self.mark_started(a.req, now);
        }
        let s = &mut self.servers[srv];
        s.kv_free += st.need_next;
        s.block_steps = 1;
        let spec = &self.models[s.model as usize];
        let pre = spec.op("prefill");
        let (p_ms, e1) = pre.latency_unpadded(1.0, p_tokens as f64, &s.slow);
        let w = if d == 0 {
            from_ms(p_ms).max(1)
        } else {
            let (p0, _) = pre.latency_unpadded(1.0, 0.0, &s.slow);
            let c = self.ctx_at(srv, &st, 0);
            let dw = self.decode_ns(srv, d, c);
            dw + from_ms((p_ms - p0).max(0.0))
        };
        self.extrapolated |= e1;
        Some((w, Call::Step))
    }

    /// A request joined the queue of a server that may be running a block of decode steps: cut
    /// the block where the step-by-step server would have reacted. Prefill-first notices waiting
    /// requests when a step ends (its admission round is the queue at that moment): the first
    /// step ending at or after the arrival. Chunked plans each step at its dispatch, a host gap
    /// after the previous step: the first dispatch at or after the arrival; if that dispatch is
    /// the one after a step that has already ended (the arrival fell in the gap), the steps so far
    /// are applied now (they hold no completion) and the dispatch keeps its time.
    pub(super) fn llm_enqueued(&mut self, srv: usize) {
        let now = self.q.now();
        let s = &self.servers[srv];
        let policy = self.llm_spec(srv).policy;
        if s.call != Call::Decode || s.block_steps <= 1 || policy == LlmPolicy::Static {
            return;
        }
        let gap = from_ms(self.models[s.model as usize].call_gap_ms);
        let react = if policy == LlmPolicy::Chunked { gap } else { 0 };
        // The first step at or after which the server would have seen the request: steps are
        // `w` long with `gap` between them, so each run of equal steps is solved in O(1).
        let mut t = s.block_start;
        let mut done = 0u32;
        for &(n, w) in &s.block_runs {
            if n == 0 {
                continue;
            }
            // Step j of this run ends at t + j (w + gap), less one gap for the block's first step.
            let lead = if t > s.block_start { 0 } else { gap };
            let step = w + gap;
            let need = (i128::from(now) - i128::from(react) + i128::from(lead) - i128::from(t)).max(0) as u64;
            let j = need.div_ceil(step.max(1)).max(1);
            if j <= u64::from(n) {
                let end = t + j * step - lead;
                done += j as u32;
                if done < s.block_steps {
                    self.cut_block(srv, done, end);
                }
                return;
            }
            t += u64::from(n) * step - lead;
            done += n;
        }
    }

    /// Shorten the running block to its first `steps` steps, which end at `end`.
    fn cut_block(&mut self, srv: usize, steps: u32, end: SimTime) {
        let now = self.q.now();
        let s = &mut self.servers[srv];
        s.epoch += 1;
        s.block_steps = steps;
        let mut left = steps;
        let mut runs = std::mem::take(&mut s.block_runs);
        for r in runs.iter_mut() {
            r.0 = r.0.min(left);
            left -= r.0;
        }
        runs.retain(|r| r.0 > 0);
        s.block_runs = runs;
        if end >= now {
            let ev = Ev::Done {
                srv: srv as u32,
                epoch: s.epoch,
            };
            self.q.schedule(end, ev);
            return;
        }
        // The cut step has already ended: finish the call as of `end` and keep the next
        // dispatch at `end + gap`.
        let dev = s.dev as usize;
        let gap = from_ms(self.models[s.model as usize].call_gap_ms);
        self.device_call_ended_at(dev, end);
        self.llm_call_done(srv, now);
        let s = &mut self.servers[srv];
        s.call = Call::None;
        s.state = SrvState::Pending;
        let ev = Ev::Dispatch {
            srv: srv as u32,
            epoch: s.epoch,
        };
        self.q.schedule(end + gap, ev);
    }

    /// The LLM call of `srv` has finished at `now`: apply it.
    pub(super) fn llm_call_done(&mut self, srv: usize, now: SimTime) {
        match self.servers[srv].call {
            Call::Prefill(_) => {
                let i = self.servers[srv].active.len() - 1;
                self.prefill_complete(srv, i, now);
            }
            Call::Step => {
                let chunks = std::mem::take(&mut self.servers[srv].chunks);
                let static_batch = self.llm_spec(srv).policy == LlmPolicy::Static;
                // The chunks first, while their indices are valid (a decode that finishes leaves
                // `active`), then the decodes of this step, then the prefills it completed.
                for &(i, n) in &chunks {
                    let s = &mut self.servers[srv];
                    let Some(a) = s.active.get_mut(i as usize) else { continue };
                    a.prefilled = if static_batch { a.prompt } else { (a.prefilled + n).min(a.prompt) };
                }
                if !static_batch {
                    self.advance_decodes(srv, 1, now);
                }
                // Only the partly prefilled suffix of `active` can complete (see plan_chunked).
                let mut i = self.servers[srv].active.partition_point(|a| a.decoding);
                while i < self.servers[srv].active.len() {
                    let a = self.servers[srv].active[i];
                    if !a.decoding && a.prefilled >= a.prompt && self.prefill_complete(srv, i, now) {
                        continue;
                    }
                    i += 1;
                }
                self.servers[srv].chunks = chunks;
                self.servers[srv].chunks.clear();
            }
            Call::Decode => {
                let k = self.servers[srv].block_steps.max(1);
                self.advance_decodes(srv, k, now);
                self.servers[srv].admit_budget = self.servers[srv].queue.len();
            }
            _ => {}
        }
        self.servers[srv].block_steps = 1;
        if self.llm_spec(srv).policy == LlmPolicy::Static && self.servers[srv].active.iter().all(|a| a.remaining <= 0) {
            // The batch is over: release its slots (and its requests, padding until now).
            let done: Vec<Seq> = self.servers[srv].active.drain(..).collect();
            for a in done {
                self.servers[srv].kv_free += a.blocks as u64;
                self.release_req(a.req);
            }
        }
    }

    /// A sequence's prefill finished: its first token is out. Returns true if it finished
    /// (removed from `active`).
    fn prefill_complete(&mut self, srv: usize, i: usize, now: SimTime) -> bool {
        let r = self.servers[srv].active[i].req;
        let q = &mut self.reqs[r as usize];
        if q.generated == 0 {
            q.first_token = now;
            q.generated = 1;
        }
        let a = &mut self.servers[srv].active[i];
        a.decoding = true;
        a.len = a.prompt;
        a.remaining = (q.out_tokens as i64 - q.generated as i64).max(0);
        if a.remaining == 0 {
            self.finish_seq(srv, i, now);
            return true;
        }
        let s = &mut self.servers[srv];
        s.generating.start(&mut s.active[i]);
        false
    }

    /// Every generating sequence generated `k` tokens; those that reached their length finish.
    /// O(bt + log n), and O(n) only for a sequence that finishes (it leaves `active`).
    fn advance_decodes(&mut self, srv: usize, k: u32, now: SimTime) {
        let static_batch = self.llm_spec(srv).policy == LlmPolicy::Static;
        let mut done = std::mem::take(&mut self.scratch);
        done.clear();
        let s = &mut self.servers[srv];
        let g = &mut s.generating;
        s.kv_free -= g.crossings(k) - g.ahead;
        g.ahead = 0;
        g.tick += u64::from(k);
        // The finishers, in `active` order (completions and slot reuse follow it).
        let mut ends = std::mem::take(&mut s.block_ends);
        ends.clear();
        while let Some(&std::cmp::Reverse((e, r))) = g.by_end.peek() {
            if e > g.tick {
                break;
            }
            debug_assert_eq!(e, g.tick, "a block never passes a sequence's end");
            g.by_end.pop();
            ends.push(
                s.active
                    .iter()
                    .position(|a| a.req == r)
                    .expect("a generating sequence is in `active`") as u32,
            );
        }
        ends.sort_unstable();
        for &i in &ends {
            let a = self.stop_generating(srv, i as usize);
            done.push(a.req);
        }
        let s = &mut self.servers[srv];
        s.outstanding -= done.len() as u32;
        if !static_batch {
            // Finished sequences leave (static batching keeps them as padding until the batch ends).
            for &i in ends.iter().rev() {
                let a = s.active.remove(i as usize);
                s.kv_free += u64::from(a.blocks);
            }
        }
        s.block_ends = ends;
        for &r in &done {
            self.complete_req(r as usize, now);
        }
        if !static_batch {
            // They left `active`; a static batch keeps them as padding until it ends.
            for &r in &done {
                self.release_req(r);
            }
        }
        self.scratch = done;
    }

    /// Sequence `i` of `srv` leaves the generating aggregates: its fields are brought up to date
    /// (and returned); it stays in `active`.
    fn stop_generating(&mut self, srv: usize, i: usize) -> Seq {
        let s = &mut self.servers[srv];
        let a = s.active[i];
        if a.generating() {
            s.active[i] = s.generating.stop(&a);
        }
        s.active[i]
    }

    fn finish_seq(&mut self, srv: usize, i: usize, now: SimTime) {
        let s = &mut self.servers[srv];
        let a = s.active.remove(i);
        s.kv_free += a.blocks as u64;
        s.outstanding -= 1;
        self.complete_req(a.req as usize, now);
        self.release_req(a.req);
    }
}

/// Aggregates of a server's running sequences that fix the costed decode context.
#[derive(Debug, Default, PartialEq)]
struct CtxState {
    /// Decoding sequences, and the sum of their lengths + 1.
    decoding: u64,
    sum: u64,
    /// Decoding sequences still generating (they grow one token a step).
    growing: u64,
    /// Longest generating sequence, and longest other one.
    max_growing: Option<u32>,
    max_fixed: u32,
    /// Fewest tokens any generating sequence has left.
    first_done: Option<u32>,
    /// KV blocks the next decode step needs.
    need_next: u64,
}

impl Seq {
    /// Generating: prefilled and not finished (its stored fields then date from `t0`).
    fn generating(&self) -> bool {
        self.decoding && self.remaining > 0
    }
}

/// The generating sequences of a server in aggregate, so that `k` decode steps are applied in
/// O(block + log n) time, not O(n): every generating sequence gains one token a step, so one
/// stored at tick `t0` with `len` tokens has `len + tick - t0` at `tick`, and its `Seq` fields
/// are brought up to date only when it stops generating (finishes or is preempted).
#[derive(Debug, Clone, Default)]
pub(super) struct Generating {
    /// Decode steps the server has taken.
    tick: u64,
    /// Generating sequences, and the sum of their `len - t0`.
    n: u64,
    sum_c: i64,
    /// Generating sequences by `(len - t0) mod kv_block_tokens`, which fixes the steps at which
    /// each needs a new block.
    by_residue: Vec<u64>,
    /// Sequences with no step since their prefill whose first token's block is already held:
    /// blocks more than `ceil(len / block)` that the next steps will not take.
    ahead: u64,
    /// (tick at which it finishes, req): the next to finish on top (a preempted sequence is
    /// removed by a pass: preemption is rare).
    by_end: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u32)>>,
    /// (len - t0, req), for the longest: only the padded-graph policies cost the longest
    /// sequence (`None` for `chunked`, which costs the mean).
    by_len: Option<std::collections::BTreeSet<(i64, u32)>>,
}

impl Generating {
    pub(super) fn new(block_tokens: u32, longest: bool) -> Self {
        Generating {
            by_residue: vec![0; block_tokens as usize],
            by_len: longest.then(Default::default),
            ..Default::default()
        }
    }

    pub(super) fn clear(&mut self) {
        self.n = 0;
        self.sum_c = 0;
        self.by_residue.fill(0);
        self.ahead = 0;
        self.by_end.clear();
        if let Some(l) = &mut self.by_len {
            l.clear();
        }
    }

    /// The longest generating sequence's length.
    fn longest(&self) -> Option<u32> {
        let c = self.by_len.as_ref()?.last()?.0;
        Some((c + self.tick as i64) as u32)
    }

    /// Steps until the first generating sequence finishes.
    fn first_done(&self) -> Option<u32> {
        self.by_end.peek().map(|e| (e.0 .0 - self.tick) as u32)
    }

    fn block_tokens(&self) -> u32 {
        self.by_residue.len().max(1) as u32
    }

    /// New KV blocks the generating sequences need over the next `k` steps, before `ahead`
    /// (a sequence of `x` tokens needs `ceil((x + k) / b) - ceil(x / b)`, a function of
    /// `x mod b`).
    fn crossings(&self, k: u32) -> u64 {
        // Without a division per residue (this runs once a step on shared devices): with
        // k = q b + m and x < b, ceil((x + k) / b) - ceil(x / b) = q + [x + m > 0] + [x + m > b]
        // - [x > 0].
        let b = u64::from(self.block_tokens());
        let t = self.tick % b;
        if k == 1 {
            // Those at a block boundary (x = 0).
            return self.by_residue[((b - t) % b) as usize];
        }
        let (q, m) = (u64::from(k) / b, u64::from(k) % b);
        let mut sum = 0;
        for (r, &n) in self.by_residue.iter().enumerate() {
            let x = if r as u64 + t >= b { r as u64 + t - b } else { r as u64 + t };
            sum += n * (q + u64::from(x + m > 0) + u64::from(x + m > b) - u64::from(x > 0));
        }
        sum
    }

    fn residue(&self, c: i64) -> usize {
        c.rem_euclid(i64::from(self.block_tokens())) as usize
    }

    /// `a` starts generating now.
    fn start(&mut self, a: &mut Seq) {
        debug_assert!(a.generating());
        a.t0 = self.tick;
        let c = i64::from(a.len) - a.t0 as i64;
        self.n += 1;
        self.sum_c += c;
        let r = self.residue(c);
        self.by_residue[r] += 1;
        if let Some(l) = &mut self.by_len {
            l.insert((c, a.req));
        }
        self.by_end.push(std::cmp::Reverse((a.t0 + a.remaining as u64, a.req)));
        self.ahead += u64::from(self.holds_ahead(a));
    }

    /// `a` (stored at `t0`) holds its first token's block before any step: counted in `ahead`.
    fn holds_ahead(&self, a: &Seq) -> bool {
        a.blocks > a.len.div_ceil(self.block_tokens())
    }

    /// `a` as it is now.
    fn at(&self, a: &Seq) -> Seq {
        if !a.generating() {
            return *a;
        }
        let k = (self.tick - a.t0) as u32;
        let len = a.len + k;
        Seq {
            len,
            remaining: a.remaining - i64::from(k),
            blocks: a.blocks.max(len.div_ceil(self.block_tokens())),
            t0: self.tick,
            ..*a
        }
    }

    /// `a` stops generating (finished or preempted): remove it; returns it as it is now. (A
    /// finisher, whose end is now, was already taken from `by_end`.)
    fn stop(&mut self, a: &Seq) -> Seq {
        let c = i64::from(a.len) - a.t0 as i64;
        self.n -= 1;
        self.sum_c -= c;
        let r = self.residue(c);
        self.by_residue[r] -= 1;
        if let Some(l) = &mut self.by_len {
            l.remove(&(c, a.req));
        }
        let end = a.t0 + a.remaining as u64;
        if end > self.tick {
            self.by_end.retain(|e| e.0 != (end, a.req));
        }
        if a.t0 == self.tick && self.holds_ahead(a) {
            self.ahead -= 1;
        }
        self.at(a)
    }
}
