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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::server::Server;
    use crate::sim::testkit::*;

    fn servers(n: usize) -> Vec<Server> {
        let m = model("h100/asr", |_| {});
        (0..n)
            .map(|i| {
                let mut h = host(&m);
                h.id = i as u32;
                Server::new(h, &m, 0)
            })
            .collect()
    }

    #[test]
    fn round_robin_cycles_through_the_replicas_that_are_up() {
        let mut s = servers(3);
        let mut r = Router::new(Balancer::RoundRobin, vec![vec![0, 1, 2]]);
        assert_eq!(
            [r.pick(0, &s), r.pick(0, &s), r.pick(0, &s), r.pick(0, &s)],
            [Some(0), Some(1), Some(2), Some(0)]
        );
        s[1].host.up = false;
        assert_eq!([r.pick(0, &s), r.pick(0, &s)], [Some(2), Some(0)]);
        for x in &mut s {
            x.host.up = false;
        }
        assert_eq!(r.pick(0, &s), None);
        assert!(!r.any_up(0, &s));
    }

    #[test]
    fn least_outstanding_takes_the_emptiest_replica_lowest_index_first() {
        let mut s = servers(3);
        let mut r = Router::new(Balancer::LeastOutstanding, vec![vec![0, 1, 2]]);
        s[0].host.outstanding = 2;
        s[1].host.outstanding = 1;
        s[2].host.outstanding = 1;
        assert_eq!(r.pick(0, &s), Some(1));
        s[1].host.up = false;
        assert_eq!(r.pick(0, &s), Some(2));
    }

    #[test]
    fn a_shared_queue_hands_out_its_oldest_requests_first() {
        let mut r = Router::new(Balancer::SharedQueue, vec![vec![0]]);
        for q in [7, 8, 9] {
            r.push_shared(0, q);
        }
        let mut into = VecDeque::new();
        assert_eq!(r.pull(0, 2, &mut into), 2);
        assert_eq!(into, [7, 8]);
        assert_eq!(r.shared_len(0), 1);
        assert!(r.shared_queue());
    }
}
