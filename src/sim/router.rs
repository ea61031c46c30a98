//! The router: which replica of a model a request goes to (the variant's [`Balancer`]), and the
//! one queue at the router that idle replicas pull from under `shared-queue`.

use super::server::Server;
use crate::deploy::Balancer;
use std::collections::VecDeque;

/// Replicas per model and the balancer's state.
#[derive(Debug, Clone)]
pub(super) struct Router {
    pub(super) balancer: Balancer,
    /// Servers of each model, in deployment order (replica index = position).
    pub(super) replicas: Vec<Vec<u32>>,
    /// Round robin: the next replica to try, per model.
    rr: Vec<usize>,
    /// Shared queue: requests waiting at the router, per model.
    shared: Vec<VecDeque<u32>>,
}

impl Router {
    pub(super) fn new(balancer: Balancer, replicas: Vec<Vec<u32>>) -> Router {
        let n = replicas.len();
        Router {
            balancer,
            replicas,
            rr: vec![0; n],
            shared: vec![VecDeque::new(); n],
        }
    }

    /// Requests wait at the router rather than at a replica.
    pub(super) fn shared_queue(&self) -> bool {
        self.balancer == Balancer::SharedQueue
    }

    /// The replica of `model` a request goes to, among those up; `None` if all are down.
    /// Round robin cycles through them; least-outstanding (and the shared queue, for a stream
    /// that must stay on one replica) takes the one with the fewest requests queued or in
    /// service, the lowest index on a tie.
    pub(super) fn pick(&mut self, model: usize, servers: &[Server]) -> Option<usize> {
        let reps = &self.replicas[model];
        let n = reps.len();
        match self.balancer {
            Balancer::RoundRobin => {
                for k in 0..n {
                    let i = (self.rr[model] + k) % n;
                    if servers[reps[i] as usize].host.up {
                        self.rr[model] = i + 1;
                        return Some(reps[i] as usize);
                    }
                }
                None
            }
            Balancer::LeastOutstanding | Balancer::SharedQueue => reps
                .iter()
                .map(|&r| r as usize)
                .filter(|&r| servers[r].host.up)
                .min_by_key(|&r| servers[r].host.outstanding),
        }
    }

    /// Whether any replica of `model` is up.
    pub(super) fn any_up(&self, model: usize, servers: &[Server]) -> bool {
        self.replicas[model].iter().any(|&r| servers[r as usize].host.up)
    }

    /// The lowest-index idle replica of `model` that is up (the one a shared queue wakes).
    pub(super) fn idle_replica(&self, model: usize, servers: &[Server]) -> Option<u32> {
        self.replicas[model].iter().copied().find(|&r| {
            let h = &servers[r as usize].host;
            h.up && h.state == super::server::SrvState::Idle
        })
    }

    /// Queue request `r` of `model` at the router.
    pub(super) fn push_shared(&mut self, model: usize, r: u32) {
        self.shared[model].push_back(r);
    }

    /// Requests of `model` waiting at the router.
    pub(super) fn shared_len(&self, model: usize) -> usize {
        self.shared[model].len()
    }

    /// Move up to `n` of `model`'s waiting requests into `into`, oldest first.
    pub(super) fn pull(&mut self, model: usize, n: usize, into: &mut VecDeque<u32>) -> usize {
        let n = n.min(self.shared[model].len());
        into.extend(self.shared[model].drain(..n));
        n
    }
}
