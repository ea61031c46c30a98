//! The discrete-event core: a priority queue of timed events and a clock.
//!
//! Ordering rule (the only one): events fire in order of `(time, seq)`, where `seq` is a counter
//! incremented on every `schedule`. Two events at the same instant therefore fire in the order
//! they were scheduled (FIFO), whatever their kind. Every model in the crate relies on this and
//! nothing else for same-time ordering, which makes runs reproducible bit for bit.
//!
//! The queue is generic over the event payload so that it holds plain `Copy` enums: scheduling
//! does not allocate once its buffers have grown to their working size.

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

/// Children per node of a heap: a 4-ary heap is half as deep as a binary one, and its four
/// children of 32 bytes share two cache lines, so a pop touches half as many lines.
const ARITY: usize = 4;

/// Width of a calendar bucket: 2^20 ns (about 1 ms).
const BUCKET_SHIFT: u32 = 20;
/// Buckets in the calendar ring: 4,096 of them span about 4.4 s ahead of the clock.
const RING: u64 = 4096;

/// A min-heap on `key` of [`ARITY`] children per node (those of `i` at `ARITY * i + 1..`).
#[derive(Debug, Clone)]
struct Heap<E> {
    heap: Vec<Entry<E>>,
}

impl<E: Copy> Heap<E> {
    fn with_capacity(n: usize) -> Self {
        Heap {
            heap: Vec::with_capacity(n),
        }
    }

    fn len(&self) -> usize {
        self.heap.len()
    }

    fn peek(&self) -> Option<&Entry<E>> {
        self.heap.first()
    }

    fn push(&mut self, e: Entry<E>) {
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

    fn pop(&mut self) -> Option<Entry<E>> {
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
        Some(top)
    }
}

/// Event queue plus the simulation clock.
///
/// A calendar in front of a heap (after Brown, "Calendar queues", CACM 31(10), 1988): most of a
/// run's pending events are far from the clock (a chunk 320 ms ahead, a user's next turn, a
/// 60 s timeout) while the next few are microseconds away, so only the events of the clock's
/// own bucket are kept in order, in a small heap. The events of the next [`RING`] buckets wait
/// unsorted in their bucket and enter the heap when the clock reaches it; later ones wait in a
/// heap of their own. Each event is ordered once among a bucket's few, where one heap of all of
/// them (the planner's hottest code: a third of its time) walks its whole depth on every pop.
/// The order is exactly `(time, seq)`: the heap holds every event of the buckets up to `cur`,
/// and every other event is in a later bucket.
#[derive(Debug, Clone)]
pub struct EventQueue<E> {
    /// Every pending event of bucket `cur` or earlier.
    near: Heap<E>,
    /// Bucket `j` for `cur < j < cur + RING`, at `j % RING` (allocated on first use).
    ring: Vec<Vec<Entry<E>>>,
    /// Events in the ring.
    in_ring: usize,
    /// Bit `i % 64` of word `i / 64`: slot `i` of the ring holds events.
    occupied: [u64; (RING / 64) as usize],
    /// Events of bucket `cur + RING` or later.
    far: Heap<E>,
    /// The bucket the heap covers.
    cur: u64,
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
            near: Heap::with_capacity(256),
            ring: Vec::new(),
            in_ring: 0,
            occupied: [0; (RING / 64) as usize],
            far: Heap::with_capacity(256),
            cur: 0,
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
        self.near.len() + self.in_ring + self.far.len()
    }

    /// True when nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Schedule `event` at absolute time `at`. Times in the past are clamped to now, so that a
    /// model can never make the clock run backwards.
    pub fn schedule(&mut self, at: SimTime, event: E) {
        let time = at.max(self.now);
        self.seq += 1;
        self.file(Entry {
            key: (u128::from(time) << 64) | u128::from(self.seq),
            event,
        });
    }

    /// Put `e` in the heap, its bucket of the ring, or the far heap.
    fn file(&mut self, e: Entry<E>) {
        let j = e.time() >> BUCKET_SHIFT;
        if j <= self.cur {
            self.near.push(e);
        } else if j < self.cur + RING {
            if self.ring.is_empty() {
                self.ring = (0..RING).map(|_| Vec::new()).collect();
            }
            let i = (j % RING) as usize;
            self.ring[i].push(e);
            self.occupied[i / 64] |= 1 << (i % 64);
            self.in_ring += 1;
        } else {
            self.far.push(e);
        }
    }

    /// Move `cur` on until the heap holds the next event (if any is pending).
    fn settle(&mut self) {
        while self.near.len() == 0 {
            // The next bucket holding anything: the ring's first occupied one, or (the ring
            // empty) the far heap's first.
            let next = match self.next_occupied() {
                Some(j) => j,
                None => match self.far.peek() {
                    Some(e) => (e.time() >> BUCKET_SHIFT).max(self.cur + 1),
                    None => return,
                },
            };
            self.cur = next;
            let i = (next % RING) as usize;
            if self.occupied[i / 64] & (1 << (i % 64)) != 0 {
                self.occupied[i / 64] &= !(1 << (i % 64));
                let slot = &mut self.ring[i];
                self.in_ring -= slot.len();
                for &e in slot.iter() {
                    self.near.push(e);
                }
                slot.clear();
            }
            // The ring's span moved on: take in what now falls in it.
            while let Some(&e) = self.far.peek() {
                if (e.time() >> BUCKET_SHIFT) >= self.cur + RING {
                    break;
                }
                self.far.pop();
                self.file(e);
            }
        }
    }

    /// The first bucket after `cur` with events in the ring.
    fn next_occupied(&self) -> Option<u64> {
        if self.in_ring == 0 {
            return None;
        }
        let words = self.occupied.len();
        let start = ((self.cur + 1) % RING) as usize;
        // Slots from `start` on, wrapping: bucket `cur + 1 + k` is at slot `(start + k) % RING`.
        let (w0, b0) = (start / 64, start % 64);
        for k in 0..=words {
            let w = (w0 + k) % words;
            let mut bits = self.occupied[w];
            if k == 0 {
                bits &= u64::MAX << b0;
            } else if k == words {
                bits &= !(u64::MAX << b0);
            }
            if bits != 0 {
                let slot = (w * 64 + bits.trailing_zeros() as usize) as u64;
                return Some(self.cur + 1 + (slot + RING - start as u64) % RING);
            }
        }
        None
    }

    /// Schedule `event` `delay` ns from now.
    pub fn schedule_in(&mut self, delay: SimTime, event: E) {
        self.schedule(self.now.saturating_add(delay), event);
    }

    /// Time of the next event, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        if let Some(e) = self.near.peek() {
            return Some(e.time());
        }
        if let Some(j) = self.next_occupied() {
            return self.ring[(j % RING) as usize].iter().map(Entry::time).min();
        }
        self.far.peek().map(Entry::time)
    }

    /// Pop the next event and advance the clock to it.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.settle();
        self.take()
    }

    /// Pop the heap's first event (the next one, once settled) and advance the clock to it.
    fn take(&mut self) -> Option<(SimTime, E)> {
        let top = self.near.pop()?;
        let time = top.time();
        self.now = time;
        self.processed += 1;
        Some((time, top.event))
    }

    /// Pop the next event only if it is due at or before `until`.
    pub fn pop_until(&mut self, until: SimTime) -> Option<(SimTime, E)> {
        self.settle();
        match self.near.peek() {
            Some(e) if e.time() <= until => self.take(),
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
    fn an_event_scheduled_before_one_looked_past_still_comes_first() {
        let mut q = EventQueue::new();
        q.schedule(100, 1);
        q.schedule(300, 2);
        assert_eq!(q.pop_until(50), None);
        q.advance_to(50);
        q.schedule(60, 3);
        q.schedule(200, 4);
        let order: Vec<(SimTime, i32)> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![(60, 3), (100, 1), (200, 4), (300, 2)]);
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
            let r = next();
            if r % 17 == 0 {
                // Look a little ahead, as a run stepped to a horizon does, and move the clock.
                let until = q.now() + next() % 20;
                reference.sort_unstable();
                let want = reference.first().copied().filter(|&(t, _)| t <= until);
                if want.is_some() {
                    reference.remove(0);
                }
                assert_eq!(q.pop_until(until), want);
                if want.is_none() {
                    q.advance_to(until);
                }
            } else if r % 3 != 0 || reference.is_empty() {
                // Mostly near ties, some within the calendar's span, some far beyond it.
                let at = q.now()
                    + match next() % 8 {
                        0 => next() % (1 << 40),
                        1 | 2 => next() % (1 << 33),
                        _ => next() % 50,
                    };
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
