//! The discrete-event core: a priority queue of timed events and a clock.
//!
//! Ordering rule (the only one): events fire in order of `(time, seq)`, where `seq` is a counter
//! incremented on every `schedule`. Two events at the same instant therefore fire in the order
//! they were scheduled (FIFO), whatever their kind. Every model in the crate relies on this and
//! nothing else for same-time ordering, which makes runs reproducible bit for bit.
//!
//! The queue is generic over the event payload so that it holds plain `Copy` enums: scheduling
//! does not allocate once the heap has grown to its working size.

use crate::time::SimTime;

/// One pending event under its key `(time << 64) | seq`: one integer comparison orders two
/// entries exactly as `(time, seq)` does.
#[derive(Debug, Clone, Copy)]
struct Entry<E> {
    key: u128,
    event: E,
}

impl<E> Entry<E> {
    fn time(&self) -> SimTime {
        (self.key >> 64) as SimTime
    }
}

/// Children per node of the heap: a 4-ary heap is half as deep as a binary one, and its four
/// children of 32 bytes share two cache lines, so a pop (the simulation's hottest operation, a
/// third of the planner's time with a binary heap) touches half as many lines.
const ARITY: usize = 4;

/// Event queue plus the simulation clock.
#[derive(Debug, Clone)]
pub struct EventQueue<E> {
    /// A min-heap on `key` of [`ARITY`] children per node (those of `i` at `ARITY * i + 1..`).
    heap: Vec<Entry<E>>,
    now: SimTime,
    seq: u64,
    processed: u64,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> EventQueue<E> {
    /// An empty queue at time 0.
    pub fn new() -> Self {
        EventQueue {
            heap: Vec::with_capacity(1024),
            now: 0,
            seq: 0,
            processed: 0,
        }
    }

    /// Current simulated time [ns]: the time of the last event popped.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Number of events popped so far.
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// Number of events waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Schedule `event` at absolute time `at`. Times in the past are clamped to now, so that a
    /// model can never make the clock run backwards.
    pub fn schedule(&mut self, at: SimTime, event: E) {
        let time = at.max(self.now);
        self.seq += 1;
        let e = Entry {
            key: (u128::from(time) << 64) | u128::from(self.seq),
            event,
        };
        // Sift up: move parents down until `e`'s place is found.
        let h = &mut self.heap;
        let mut i = h.len();
        h.push(e);
        while i > 0 {
            let p = (i - 1) / ARITY;
            if h[p].key <= e.key {
                break;
            }
            h[i] = h[p];
            i = p;
        }
        h[i] = e;
    }

    /// Schedule `event` `delay` ns from now.
    pub fn schedule_in(&mut self, delay: SimTime, event: E) {
        self.schedule(self.now.saturating_add(delay), event);
    }

    /// Time of the next event, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.first().map(Entry::time)
    }

    /// Pop the next event and advance the clock to it.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let top = *self.heap.first()?;
        let last = self.heap.pop().expect("non-empty");
        let h = &mut self.heap[..];
        let n = h.len();
        if n > 0 {
            // Sift the last entry down from the root: the least child moves up while it
            // precedes it.
            let mut i = 0;
            loop {
                let c = ARITY * i + 1;
                if c >= n {
                    break;
                }
                let kids = &h[c..(c + ARITY).min(n)];
                let mut m = 0;
                let mut mk = kids[0].key;
                for (j, k) in kids.iter().enumerate().skip(1) {
                    if k.key < mk {
                        m = j;
                        mk = k.key;
                    }
                }
                if mk >= last.key {
                    break;
                }
                h[i] = h[c + m];
                i = c + m;
            }
            h[i] = last;
        }
        let time = top.time();
        self.now = time;
        self.processed += 1;
        Some((time, top.event))
    }

    /// Pop the next event only if it is due at or before `until`.
    pub fn pop_until(&mut self, until: SimTime) -> Option<(SimTime, E)> {
        match self.peek_time() {
            Some(t) if t <= until => self.pop(),
            _ => None,
        }
    }

    /// Move the clock forward to `t` without an event (used when stepping to a horizon).
    pub fn advance_to(&mut self, t: SimTime) {
        if t > self.now {
            self.now = t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_time_then_fifo() {
        let mut q = EventQueue::new();
        q.schedule(10, 'a');
        q.schedule(5, 'b');
        q.schedule(10, 'c');
        q.schedule(5, 'd');
        let order: Vec<char> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['b', 'd', 'a', 'c']);
        assert_eq!(q.now(), 10);
        assert_eq!(q.processed(), 4);
    }

    #[test]
    fn past_events_are_clamped_to_now() {
        let mut q = EventQueue::new();
        q.schedule(100, 1);
        q.pop();
        q.schedule(50, 2);
        assert_eq!(q.pop(), Some((100, 2)));
    }

    #[test]
    fn pop_until_respects_horizon() {
        let mut q = EventQueue::new();
        q.schedule(10, 1);
        q.schedule(20, 2);
        assert_eq!(q.pop_until(15), Some((10, 1)));
        assert_eq!(q.pop_until(15), None);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn matches_a_sorted_reference_on_random_schedules() {
        // Pushes and pops interleaved at random, with many ties in time: every pop must be the
        // least (time, seq) pending, as a sorted list says.
        let mut q = EventQueue::new();
        let mut reference: Vec<(SimTime, u64)> = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut id = 0u64;
        for _ in 0..20_000 {
            if next() % 3 != 0 || reference.is_empty() {
                let at = q.now() + next() % 50;
                id += 1;
                q.schedule(at, id);
                reference.push((at.max(q.now()), id));
            } else {
                reference.sort_unstable();
                let want = reference.remove(0);
                assert_eq!(q.pop(), Some(want));
            }
            assert_eq!(q.len(), reference.len());
        }
        reference.sort_unstable();
        let rest: Vec<(SimTime, u64)> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(rest, reference);
    }
}
