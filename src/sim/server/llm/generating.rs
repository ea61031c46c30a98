//! The generating sequences of an LLM server in aggregate (see [`Generating`]), and the state of
//! the running set that fixes a decode step's costed context.

/// A running LLM sequence.
#[derive(Debug, Clone, Copy)]
pub(in crate::sim) struct Seq {
    pub(in crate::sim) req: u32,
    /// Tokens in its KV cache.
    pub(super) len: u32,
    /// Tokens still to generate.
    pub(super) remaining: i64,
    /// Tokens to prefill (prompt, plus what it had generated before a preemption).
    pub(super) prompt: u32,
    /// Prompt tokens prefilled so far (chunked).
    pub(super) prefilled: u32,
    /// KV blocks held.
    pub(super) blocks: u32,
    /// Its prefill is complete.
    pub(super) decoding: bool,
    /// While it generates: the server's decode tick at which `len`, `remaining` and `blocks`
    /// were true (see [`Generating`]).
    pub(super) t0: u64,
}

/// Aggregates of a server's running sequences that fix the costed decode context.
#[derive(Debug, Default, PartialEq)]
pub(super) struct CtxState {
    /// Decoding sequences, and the sum of their lengths + 1.
    pub(super) decoding: u64,
    pub(super) sum: u64,
    /// Decoding sequences still generating (they grow one token a step).
    pub(super) growing: u64,
    /// Longest generating sequence, and longest other one.
    pub(super) max_growing: Option<u32>,
    pub(super) max_fixed: u32,
    /// Fewest tokens any generating sequence has left.
    pub(super) first_done: Option<u32>,
    /// KV blocks the next decode step needs.
    pub(super) need_next: u64,
}

impl Seq {
    /// Generating: prefilled and not finished (its stored fields then date from `t0`).
    pub(super) fn generating(&self) -> bool {
        self.decoding && self.remaining > 0
    }
}

/// The generating sequences of a server in aggregate, so that `k` decode steps are applied in
/// O(block + log n) time, not O(n): every generating sequence gains one token a step, so one
/// stored at tick `t0` with `len` tokens has `len + tick - t0` at `tick`, and its `Seq` fields
/// are brought up to date only when it stops generating (finishes or is preempted).
#[derive(Debug, Clone, Default)]
pub(in crate::sim) struct Generating {
    /// Decode steps the server has taken.
    pub(super) tick: u64,
    /// Generating sequences, and the sum of their `len - t0`.
    pub(super) n: u64,
    pub(super) sum_c: i64,
    /// Generating sequences by `(len - t0) mod kv_block_tokens`, which fixes the steps at which
    /// each needs a new block.
    pub(super) by_residue: Vec<u64>,
    /// Sequences with no step since their prefill whose first token's block is already held:
    /// blocks more than `ceil(len / block)` that the next steps will not take.
    pub(super) ahead: u64,
    /// (tick at which it finishes, req): the next to finish on top (a preempted sequence is
    /// removed by a pass: preemption is rare).
    pub(super) by_end: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u32)>>,
    /// (len - t0, req), for the longest: only the padded-graph policies cost the longest
    /// sequence (`None` for `chunked`, which costs the mean).
    pub(super) by_len: Option<std::collections::BTreeSet<(i64, u32)>>,
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
    pub(super) fn longest(&self) -> Option<u32> {
        let c = self.by_len.as_ref()?.last()?.0;
        Some((c + self.tick as i64) as u32)
    }

    /// Steps until the first generating sequence finishes.
    pub(super) fn first_done(&self) -> Option<u32> {
        self.by_end.peek().map(|e| (e.0 .0 - self.tick) as u32)
    }

    fn block_tokens(&self) -> u32 {
        self.by_residue.len().max(1) as u32
    }

    /// New KV blocks the generating sequences need over the next `k` steps, before `ahead`
    /// (a sequence of `x` tokens needs `ceil((x + k) / b) - ceil(x / b)`, a function of
    /// `x mod b`).
    pub(super) fn crossings(&self, k: u32) -> u64 {
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
    pub(super) fn start(&mut self, a: &mut Seq) {
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
    pub(super) fn at(&self, a: &Seq) -> Seq {
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
    pub(super) fn stop(&mut self, a: &Seq) -> Seq {
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
