//! Request and unit storage: slots reused once their occupant is finished, so that a run's
//! memory follows the work in flight rather than the work done (a 5 M-request run needs as much
//! as a 5 k-request one). Records of every request are kept only on request ([`Simulation::keep_records`]),
//! for the per-request comparisons of `gpuslice validate` and the tests.
//!
//! The contract that makes reuse safe: a request is released only where the last reference to it
//! goes away, and never while an event or a server list can still name it. The release sites are
//! the ends of a request's life in the servers: a finished ASR/TTS batch (`call_done`), an LLM
//! sequence leaving `active` (`finish_seq`, `advance_decodes`, the end of a static batch, which
//! keeps finished sequences as padding until then), a crash that empties a server
//! (`kill_server`), and the refusals that never queue a request (`send_stage`,
//! `fail_unfittable`). A request that is never released is only a leak, never a wrong result.
//! Units are freed with the release of their last request; their timeout events carry the slot's
//! generation, so that a timeout of an earlier occupant is ignored.

use super::*;

impl Simulation {
    /// Keep every request's record and each model's exact latencies until the end of the run, for
    /// [`Simulation::request_records`] and [`Simulation::model_latencies`]; memory then grows with
    /// the number of requests. Only before the first event: records already freed cannot come back.
    pub fn keep_records(&mut self) -> Result<()> {
        if self.q.processed() > 0 {
            return Err(Error::Infeasible(
                "keep_records must be called before the simulation's first event".into(),
            ));
        }
        self.keep_records = true;
        Ok(())
    }

    /// Request and unit slots allocated so far: the most requests and units in flight at once
    /// (every one ever, with records kept). What the run's request memory is proportional to.
    pub fn slots(&self) -> (usize, usize) {
        (self.reqs.len(), self.units.len())
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
        let unit = &mut self.units[req.unit as usize];
        unit.live_req = id;
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
        if (unit.done || unit.failed) && !unit.free {
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
}
