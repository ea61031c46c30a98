//! Faults: when each injected fault strikes (once, or repeatedly with exponential times between
//! failures from the run's fault stream) and how far it reaches (docs/src/model/faults.md, with the NVIDIA
//! documentation behind each row in docs/sources.md S2.10).

use super::device::Device;
use super::server::Server;
use crate::rng::SimRng;
use crate::scenario::{Fault, FaultKind, FaultTime};
use crate::time::{from_ms, to_ms, SimTime};
use rand_distr::{Distribution, Exp};

/// The variant's faults and their random stream.
#[derive(Debug, Clone)]
pub(super) struct Faults {
    pub(super) list: Vec<Fault>,
    rng: SimRng,
}

impl Faults {
    pub(super) fn new(list: Vec<Fault>, rng: SimRng) -> Faults {
        Faults { list, rng }
    }

    /// An exponential time with `mean` from the fault stream.
    fn draw(&mut self, mean: SimTime) -> SimTime {
        from_ms(Exp::new(1.0).map(|e| e.sample(&mut self.rng)).unwrap_or(1.0) * to_ms(mean))
    }

    /// When fault `k` first strikes.
    pub(super) fn first(&mut self, k: usize) -> SimTime {
        match self.list[k].when {
            FaultTime::At(t) => t,
            FaultTime::Mtbf(mean) => self.draw(mean),
        }
    }

    /// A repeating fault `k` struck at `now`: when it strikes next (after its restart).
    pub(super) fn next(&mut self, k: usize, now: SimTime) -> Option<SimTime> {
        let f = &self.list[k];
        let (restart, when) = (f.restart, f.when.clone());
        match when {
            FaultTime::Mtbf(mean) => Some(now + restart + self.draw(mean)),
            FaultTime::At(_) => None,
        }
    }
}

/// The servers a fault of `kind` on server `srv` takes down.
pub(super) fn blast_radius(servers: &[Server], devices: &[Device], srv: usize, kind: FaultKind) -> Vec<u32> {
    let dev = &devices[servers[srv].host.dev as usize];
    let shared_memory = !dev.exclusive();
    match kind {
        // Own CUDA context under time-slicing, own instance under MIG; MPS clients share the
        // server's context, so its fatal errors reach every client.
        FaultKind::Process | FaultKind::ContextError if dev.mps() => dev.servers.clone(),
        FaultKind::Process | FaultKind::ContextError => vec![srv as u32],
        // No memory capacity isolation on a time-sliced or MPS GPU: every tenant's allocations
        // fail; a MIG instance has its own memory.
        FaultKind::MemoryExhaustion if shared_memory => dev.servers.clone(),
        FaultKind::MemoryExhaustion => vec![srv as u32],
        // The physical GPU, every instance and context on it.
        FaultKind::DeviceReset => devices
            .iter()
            .filter(|d| d.gpu == dev.gpu)
            .flat_map(|d| d.servers.iter().copied())
            .collect(),
    }
}
