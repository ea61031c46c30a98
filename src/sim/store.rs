//! Request and unit storage: slots reused once their occupant is finished, so that a run's
//! memory follows the work in flight rather than the work done (a 5 M-request run needs as much
//! as a 5 k-request one). Records of every request are kept only on request
//! ([`Store::keep_records`]), for the per-request comparisons of `gpuslice validate` and the tests.
//!
//! The contract that makes reuse safe: a request is released only where the last reference to it
//! goes away, and never while an event or a server list can still name it. The release sites are
//! the ends of a request's life in the servers: a finished ASR/TTS batch, an LLM sequence leaving
//! its running set (or the end of a static batch, which keeps finished sequences as padding until
//! then), a crash that empties a server, and the refusals that never queue a request. A request
//! that is never released is only a leak, never a wrong result. Units are freed with the release
//! of their last request; their timeout events carry the slot's generation, so that a timeout of
//! an earlier occupant is ignored.

use crate::time::SimTime;

/// No request or unit (an id field that is unset).
pub(super) const NONE: u32 = u32::MAX;

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ReqState {
    /// A stream attached to its streaming ASR server, with no chunk ready.
    Streaming,
    Queued,
    Running,
    Done,
    Failed,
    /// The slot is free for the next request.
    Free,
}

/// One request to one model server.
#[derive(Debug, Clone, Copy)]
pub(super) struct Req {
    pub(super) model: u32,
    pub(super) unit: u32,
    pub(super) arrival: SimTime,
    pub(super) start: SimTime,
    pub(super) first_token: SimTime,
    pub(super) finish: SimTime,
    pub(super) size: f64,
    pub(super) out_tokens: u32,
    /// LLM: output tokens generated so far (kept across a preemption).
    pub(super) generated: u32,
    /// Streaming ASR: its server, its chunk calls in all, the chunks that have arrived, and
    /// those encoded.
    pub(super) srv: u32,
    pub(super) chunks: u32,
    pub(super) chunks_in: u32,
    pub(super) chunks_done: u32,
    pub(super) state: ReqState,
}

/// A top-level unit of work: a single request or a pipeline turn.
#[derive(Debug, Clone, Copy)]
pub(super) struct Unit {
    pub(super) wl: u32,
    pub(super) user: u32,
    pub(super) arrival: SimTime,
    pub(super) stage: u32,
    pub(super) first_size: f64,
    pub(super) out_tokens: u32,
    /// Time to first audio accumulated over the stages so far [ns].
    pub(super) first_audio: SimTime,
    pub(super) has_audio: bool,
    /// Conversation: when the user has heard the reply (first audio + its audio duration) [ns].
    pub(super) listen_until: SimTime,
    pub(super) done: bool,
    pub(super) failed: bool,
    /// The request of its current stage (`NONE` once released).
    pub(super) live_req: u32,
    /// Slot generation, bumped when the slot is freed; and whether it is free now.
    pub(super) gen: u32,
    pub(super) free: bool,
}

impl Unit {
    /// A unit whose clock (latency, first audio, timeout) starts at `arrival`.
    pub(super) fn new(wl: u32, user: u32, arrival: SimTime, size: f64, out_tokens: u32) -> Unit {
        Unit {
            wl,
            user,
            arrival,
            stage: 0,
            first_size: size,
            out_tokens,
            first_audio: 0,
            has_audio: false,
            listen_until: 0,
            done: false,
            failed: false,
            live_req: NONE,
            gen: 0,
            free: false,
        }
    }

    /// Finished or failed.
    pub(super) fn over(&self) -> bool {
        self.done || self.failed
    }
}

/// Requests and units in reusable slots.
#[derive(Debug, Default)]
pub(super) struct Store {
    pub(super) reqs: Vec<Req>,
    pub(super) units: Vec<Unit>,
    free_reqs: Vec<u32>,
    free_units: Vec<u32>,
    /// Keep every slot (records of every request), never reuse.
    pub(super) keep_records: bool,
}

impl Store {
    /// Requests in their slots now (in flight, or every one with records kept).
    pub(super) fn in_flight(&self) -> usize {
        self.reqs.len() - self.free_reqs.len()
    }

    /// Store a new request in a free slot (or a new one); its id.
    pub(super) fn alloc_req(&mut self, req: Req) -> u32 {
        let id = match self.free_reqs.pop() {
            Some(id) => {
                self.reqs[id as usize] = req;
                id
            }
            None => {
                self.reqs.push(req);
                (self.reqs.len() - 1) as u32
            }
        };
        self.units[req.unit as usize].live_req = id;
        id
    }

    /// Request `r` has left every server list and no event names it: free its slot (idempotent;
    /// a request still queued or running is left alone), and its unit's slot with it when the unit
    /// is over. With records kept, nothing is freed.
    pub(super) fn release_req(&mut self, r: u32) {
        if self.keep_records {
            return;
        }
        let q = &mut self.reqs[r as usize];
        if !matches!(q.state, ReqState::Done | ReqState::Failed) {
            return;
        }
        q.state = ReqState::Free;
        let u = q.unit as usize;
        self.free_reqs.push(r);
        let unit = &mut self.units[u];
        if unit.live_req != r {
            return;
        }
        unit.live_req = NONE;
        if unit.over() && !unit.free {
            unit.free = true;
            unit.gen = unit.gen.wrapping_add(1);
            self.free_units.push(u as u32);
        }
    }

    /// Store a new unit in a free slot (or a new one), keeping the slot's generation; its id.
    pub(super) fn alloc_unit(&mut self, unit: Unit) -> u32 {
        match self.free_units.pop() {
            Some(id) => {
                let gen = self.units[id as usize].gen;
                self.units[id as usize] = Unit { gen, ..unit };
                id
            }
            None => {
                self.units.push(unit);
                (self.units.len() - 1) as u32
            }
        }
    }

    /// Tokens request `r` must (re)compute when an LLM admits it: its prompt and what it had
    /// generated before a preemption.
    pub(super) fn prompt_of(&self, r: u32) -> u32 {
        let q = &self.reqs[r as usize];
        q.size as u32 + q.generated
    }

    /// Mark a queued request as started now (its first GPU work).
    pub(super) fn mark_started(&mut self, r: u32, now: SimTime) {
        let q = &mut self.reqs[r as usize];
        if q.state == ReqState::Queued {
            q.state = ReqState::Running;
            q.start = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(unit: u32) -> Req {
        Req {
            model: 0,
            unit,
            arrival: 0,
            start: 0,
            first_token: 0,
            finish: 0,
            size: 1.0,
            out_tokens: 1,
            generated: 0,
            srv: NONE,
            chunks: 0,
            chunks_in: 0,
            chunks_done: 0,
            state: ReqState::Queued,
        }
    }

    #[test]
    fn a_finished_request_frees_its_slot_and_its_units_once() {
        let mut s = Store::default();
        let u = s.alloc_unit(Unit::new(0, NONE, 0, 1.0, 1));
        let r = s.alloc_req(req(u));
        // Still queued: release is refused.
        s.release_req(r);
        assert_eq!(s.alloc_req(req(u)), 1);
        s.reqs[r as usize].state = ReqState::Done;
        s.units[u as usize].done = true;
        // The unit's live request is the second one: only the first slot is freed.
        s.release_req(r);
        assert_eq!(s.reqs[r as usize].state, ReqState::Free);
        assert!(!s.units[u as usize].free);
        s.reqs[1].state = ReqState::Done;
        s.release_req(1);
        s.release_req(1);
        assert!(s.units[u as usize].free);
        // The unit slot is reused with its generation bumped once.
        let gen = s.units[u as usize].gen;
        assert_eq!(gen, 1);
        assert_eq!(s.alloc_unit(Unit::new(0, NONE, 5, 1.0, 1)), u);
        assert_eq!(s.units[u as usize].gen, gen);
        // Both request slots come back, most recently freed first.
        assert_eq!(s.alloc_req(req(u)), 1);
        assert_eq!(s.alloc_req(req(u)), r);
    }

    #[test]
    fn with_records_kept_nothing_is_reused() {
        let mut s = Store {
            keep_records: true,
            ..Store::default()
        };
        let u = s.alloc_unit(Unit::new(0, NONE, 0, 1.0, 1));
        let r = s.alloc_req(req(u));
        s.reqs[r as usize].state = ReqState::Done;
        s.release_req(r);
        assert_eq!(s.reqs[r as usize].state, ReqState::Done);
        assert_eq!(s.alloc_req(req(u)), 1);
    }
}
