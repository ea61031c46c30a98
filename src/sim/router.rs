//! The router: which replica of a model a request goes to (the variant's [`Balancer`]), and the
//! one queue at the router that idle replicas pull from under `shared-queue`.

use super::server::Server;
use crate::deploy::Balancer;
use std::collections::VecDeque;

/// A down replica's key: never the least.
const DOWN: u32 = u32::MAX;

/// A tournament tree over one model's replicas: each leaf holds `(outstanding, position)` of a
/// replica (`DOWN` while it is down), each inner node the least of its two children, so the
/// root is the replica with the fewest outstanding requests, the lowest position on a tie (the
/// linear scan's choice), and changing one replica costs O(log replicas).
#[derive(Debug, Clone)]
struct MinTree {
    /// Leaves (a power of two at least the replicas).
    leaves: usize,
    /// Node `i`'s children are `2i` and `2i + 1`; the root is node 1.
    nodes: Vec<(u32, u32)>,
}

impl MinTree {
    /// `n` replicas up with nothing outstanding.
    fn new(n: usize) -> MinTree {
        let leaves = n.next_power_of_two().max(1);
        let mut t = MinTree {
            leaves,
            nodes: vec![(DOWN, u32::MAX); 2 * leaves],
        };
        for p in 0..n {
            t.nodes[leaves + p] = (0, p as u32);
        }
        for i in (1..leaves).rev() {
            t.nodes[i] = t.nodes[2 * i].min(t.nodes[2 * i + 1]);
        }
        t
    }

    fn set(&mut self, pos: usize, key: u32) {
        let mut i = self.leaves + pos;
        self.nodes[i] = (key, pos as u32);
        while i > 1 {
            i /= 2;
            let m = self.nodes[2 * i].min(self.nodes[2 * i + 1]);
            if self.nodes[i] == m {
                break;
            }
            self.nodes[i] = m;
        }
    }

    /// Position of the least-loaded replica up, if any.
    fn least(&self) -> Option<usize> {
        let (key, pos) = self.nodes[1];
        (key != DOWN).then_some(pos as usize)
    }
}

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
    /// Least-outstanding (and a shared queue's streams): per model, its replicas' loads.
    trees: Vec<MinTree>,
    /// Per server: its model and position among the model's replicas.
    at: Vec<(u32, u32)>,
}

impl Router {
    /// The router of fresh servers (all up, nothing outstanding).
    pub(super) fn new(balancer: Balancer, replicas: Vec<Vec<u32>>) -> Router {
        let n = replicas.len();
        let by_load = matches!(balancer, Balancer::LeastOutstanding | Balancer::SharedQueue);
        let mut at = vec![(0, 0); replicas.iter().flatten().map(|&s| s as usize + 1).max().unwrap_or(0)];
        for (m, reps) in replicas.iter().enumerate() {
            for (p, &s) in reps.iter().enumerate() {
                at[s as usize] = (m as u32, p as u32);
            }
        }
        Router {
            balancer,
            trees: if by_load {
                replicas.iter().map(|r| MinTree::new(r.len())).collect()
            } else {
                Vec::new()
            },
            at,
            replicas,
            rr: vec![0; n],
            shared: vec![VecDeque::new(); n],
        }
    }

    /// Server `srv`'s outstanding count or its being up may have changed: update its key.
    pub(super) fn touch(&mut self, srv: usize, servers: &[Server]) {
        if self.trees.is_empty() {
            return;
        }
        let (m, p) = self.at[srv];
        let h = &servers[srv].host;
        self.trees[m as usize].set(p as usize, if h.up && h.serving { h.outstanding.min(DOWN - 1) } else { DOWN });
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
                    let h = &servers[reps[i] as usize].host;
                    if h.up && h.serving {
                        self.rr[model] = i + 1;
                        return Some(reps[i] as usize);
                    }
                }
                None
            }
            Balancer::LeastOutstanding | Balancer::SharedQueue => {
                let pick = self.trees[model].least().map(|p| reps[p] as usize);
                #[cfg(test)]
                assert_eq!(pick, Self::least_linear(reps, servers), "the tree's pick is the linear scan's");
                pick
            }
        }
    }

    /// The least-outstanding replica by a scan of every replica: what the tree must agree with.
    #[cfg(test)]
    fn least_linear(reps: &[u32], servers: &[Server]) -> Option<usize> {
        reps.iter()
            .map(|&r| r as usize)
            .filter(|&r| servers[r].host.up && servers[r].host.serving)
            .min_by_key(|&r| servers[r].host.outstanding)
    }

    /// Whether any replica of `model` is up.
    pub(super) fn any_up(&self, model: usize, servers: &[Server]) -> bool {
        self.replicas[model].iter().any(|&r| servers[r as usize].host.up && servers[r as usize].host.serving)
    }

    /// The lowest-index idle replica of `model` that is up (the one a shared queue wakes).
    pub(super) fn idle_replica(&self, model: usize, servers: &[Server]) -> Option<u32> {
        self.replicas[model].iter().copied().find(|&r| {
            let h = &servers[r as usize].host;
            h.up && h.serving && h.state == super::server::SrvState::Idle
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
        (0..3).for_each(|i| r.touch(i, &s));
        assert_eq!(r.pick(0, &s), Some(1));
        s[1].host.up = false;
        r.touch(1, &s);
        assert_eq!(r.pick(0, &s), Some(2));
        for x in &mut s {
            x.host.up = false;
        }
        (0..3).for_each(|i| r.touch(i, &s));
        assert_eq!(r.pick(0, &s), None);
    }

    /// Random loads and outages over replica counts that are and are not powers of two: the
    /// tree picks what the linear scan picks (`pick` asserts it under test) every time.
    #[test]
    fn the_tree_picks_what_the_linear_scan_picks() {
        use rand::Rng;
        let mut rng = crate::rng::stream_rng(5, 0, 0);
        for n in [1usize, 2, 3, 7, 8, 33] {
            let mut s = servers(n);
            let mut r = Router::new(Balancer::LeastOutstanding, vec![(0..n as u32).collect()]);
            for _ in 0..2000 {
                let i = rng.random_range(0..n);
                s[i].host.outstanding = rng.random_range(0..4);
                s[i].host.up = rng.random_range(0..10) > 0;
                r.touch(i, &s);
                let p = r.pick(0, &s);
                assert_eq!(p, Router::least_linear(&r.replicas[0], &s));
            }
        }
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

#[cfg(test)]
mod sim_tests {
    /// Whole runs under least-outstanding and a shared queue (its streams pick by load), with
    /// replicas crashing and restarting: every pick is checked against the linear scan by
    /// `Router::pick` under test, so a change of load the tree missed fails here.
    #[test]
    fn every_pick_of_a_run_with_crashes_is_the_linear_scans() {
        for (balancer, mode) in [("least-outstanding", "offline"), ("shared-queue", "streaming")] {
            let text = format!(
                r#"
name = "lo"
duration_s = 20
[models.asr]
from = "h100/asr"
asr_mode = "{mode}"
[models.tts]
from = "h100/tts"
[[workload]]
pipeline = ["asr", "tts"]
arrivals = {{ process = "poisson", rate_rps = 300 }}
size = {{ dist = "lognormal", median = 5.0, sigma = 0.6, min = 1.0, max = 30.0 }}
[[variant]]
name = "v"
gpu = "h100-80gb"
balancer = "{balancer}"
gpus = [
  {{ regime = "dedicated", models = ["asr"], count = 5 }},
  {{ regime = "dedicated", models = ["tts"], count = 3 }},
]
faults = [
  {{ model = "asr", replica = 1, mtbf_s = 3, restart_s = 1 }},
  {{ model = "tts", replica = 0, mtbf_s = 4, restart_s = 2 }},
]
"#
            );
            let sc = crate::scenario::files::parse_scenario(&text, "lo.toml", None).expect("valid");
            let run = crate::sim::Simulation::new(&sc, 0, 3).expect("variant").run_to_end();
            assert!(run.completed > 1000 && run.failures.crashes > 0, "{balancer}: {} {}", run.completed, run.failures.crashes);
        }
    }
}
