//! The autoscaler: which replicas of an autoscaled model run, decided every evaluation
//! interval from the requests outstanding at its serving replicas or from their GPU
//! utilisation over the interval, and what the GPUs cost
//! while anything on them runs. It owns its state and does no I/O; the simulation applies its
//! decisions (a replica starting serves after its start-up; one removed stops taking requests
//! and drains its queue before it is off).
//!
//! Billing: a GPU is paid for while any server on it runs (starting, serving or draining); a
//! server of a model that is not autoscaled always runs. So a MIG instance turned off saves
//! money only once every instance of its GPU is off.

use crate::scenario::{Autoscale, ScaleTarget};
use crate::time::SimTime;

/// What a replica of an autoscaled model is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rep {
    /// Not running (not paid for).
    Off,
    /// Starting: pod start and model load; it serves at the time given.
    Starting,
    /// Taking requests.
    Serving,
    /// Removed: it takes no request and serves what it holds, then is off.
    Draining,
}

/// The autoscaler's decision for one model at one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decision {
    /// Replicas (positions) to start, lowest first.
    pub(super) start: Vec<usize>,
    /// Draining replicas to take back into service at once (warm), lowest first.
    pub(super) revive: Vec<usize>,
    /// Replicas to remove, highest first (starting ones are cancelled, serving ones drain).
    pub(super) remove: Vec<usize>,
}

/// One autoscaled model: its policy, its replicas' states, and its last change.
#[derive(Debug, Clone)]
pub(super) struct Scaler {
    pub(super) policy: Autoscale,
    /// Per replica position: its state.
    pub(super) reps: Vec<Rep>,
    /// Recent recommendations `(time, replicas)`, within the cooldown: a scale-down goes only
    /// to the highest of them (the HPA's scale-down stabilisation window), so one quiet
    /// sample does not remove replicas the next busy one needs.
    recent: std::collections::VecDeque<(SimTime, usize)>,
    /// `(time, running replicas)` at every change, from the start: the replica count over time.
    pub(super) log: Vec<(SimTime, u32)>,
    pub(super) scale_ups: u32,
    pub(super) scale_downs: u32,
    /// Per replica position: its context's busy time at the last evaluation, and when that was
    /// (the utilisation target's interval).
    pub(super) busy_at_eval: Vec<SimTime>,
    pub(super) last_eval: SimTime,
}

/// The replicas to run for `load`, the metric summed over the serving replicas (requests
/// outstanding, or the utilisations): `ceil(load / target)` within `[min, max]` (and at most the
/// `placed` replicas).
pub(super) fn desired(p: &Autoscale, load: f64, placed: usize) -> usize {
    let target = match p.target {
        ScaleTarget::Outstanding(t) | ScaleTarget::Utilization(t) => t,
    };
    // A sum of utilisations that is a whole multiple of the target up to rounding error asks
    // for that many replicas, not one more.
    let want = (load / target - 1e-9).ceil().max(0.0) as usize;
    want.clamp(p.min as usize, (p.max as usize).max(p.min as usize)).min(placed)
}

impl Scaler {
    /// A model of `placed` replicas: the first `min` serve from the start, the rest are off.
    pub(super) fn new(policy: Autoscale, placed: usize) -> Scaler {
        let on = (policy.min as usize).min(placed);
        let reps = (0..placed).map(|p| if p < on { Rep::Serving } else { Rep::Off }).collect();
        Scaler {
            policy,
            reps,
            recent: std::collections::VecDeque::new(),
            log: vec![(0, on as u32)],
            scale_ups: 0,
            scale_downs: 0,
            busy_at_eval: vec![0; placed],
            last_eval: 0,
        }
    }

    /// Replicas running now (paid for): starting, serving or draining.
    pub(super) fn running(&self) -> u32 {
        self.reps.iter().filter(|r| **r != Rep::Off).count() as u32
    }

    /// Evaluate at `now` with `load`, the metric summed over the serving replicas (requests
    /// outstanding there and waiting at the router, or utilisations): the changes to make.
    /// Counting starting replicas as present keeps the autoscaler from adding replicas again
    /// while the first ones are still loading.
    pub(super) fn evaluate(&mut self, now: SimTime, load: f64) -> Decision {
        let present: Vec<usize> = (0..self.reps.len())
            .filter(|&p| matches!(self.reps[p], Rep::Starting | Rep::Serving))
            .collect();
        let want = desired(&self.policy, load, self.reps.len());
        while self.recent.front().is_some_and(|r| r.0 + self.policy.cooldown < now) {
            self.recent.pop_front();
        }
        self.recent.push_back((now, want));
        let floor = self.recent.iter().map(|r| r.1).max().unwrap_or(want);
        let mut d = Decision {
            start: Vec::new(),
            revive: Vec::new(),
            remove: Vec::new(),
        };
        if want > present.len() {
            let mut need = want - present.len();
            for p in 0..self.reps.len() {
                if need > 0 && self.reps[p] == Rep::Draining {
                    d.revive.push(p);
                    need -= 1;
                }
            }
            for p in 0..self.reps.len() {
                if need > 0 && self.reps[p] == Rep::Off {
                    d.start.push(p);
                    need -= 1;
                }
            }
            self.scale_ups += 1;
        } else if floor < present.len() {
            d.remove = present.iter().rev().take(present.len() - floor).copied().collect();
            self.scale_downs += 1;
        }
        d
    }

    /// Record the running count at `now` after a change.
    pub(super) fn logged(&mut self, now: SimTime) {
        let n = self.running();
        if self.log.last().is_some_and(|l| l.1 != n) {
            self.log.push((now, n));
        }
    }

    /// Time-weighted mean of the running replicas over `[a, b)`.
    pub(super) fn mean_running(&self, a: SimTime, b: SimTime) -> f64 {
        if b <= a {
            return 0.0;
        }
        let mut area = 0u128;
        for (i, &(t, n)) in self.log.iter().enumerate() {
            let end = self.log.get(i + 1).map_or(SimTime::MAX, |x| x.0);
            let o = end.min(b).saturating_sub(t.max(a));
            area += u128::from(o) * u128::from(n);
        }
        area as f64 / (b - a) as f64
    }
}

/// Which GPUs are paid for, over time.
#[derive(Debug, Clone)]
pub(super) struct Billing {
    /// Per GPU: servers running on it now.
    running: Vec<u32>,
    /// Per GPU: since when it has been running (while `running > 0`).
    since: Vec<SimTime>,
    /// Per GPU: time paid for before `since` [ns].
    paid: Vec<SimTime>,
}

impl Billing {
    /// `running[g]` servers run on GPU `g` at time 0.
    pub(super) fn new(running: Vec<u32>) -> Billing {
        let n = running.len();
        Billing {
            running,
            since: vec![0; n],
            paid: vec![0; n],
        }
    }

    /// A server on GPU `g` starts (`+1`) or stops (`-1`) running at `now`.
    pub(super) fn change(&mut self, g: usize, now: SimTime, delta: i32) {
        let was = self.running[g];
        self.running[g] = was.saturating_add_signed(delta);
        if was == 0 && self.running[g] > 0 {
            self.since[g] = now;
        } else if was > 0 && self.running[g] == 0 {
            self.paid[g] += now - self.since[g];
        }
    }

    /// GPU time paid for over `[0, end)` [ns], summed over the GPUs.
    pub(super) fn paid_until(&self, end: SimTime) -> SimTime {
        (0..self.running.len())
            .map(|g| self.paid[g].min(end) + if self.running[g] > 0 { end.saturating_sub(self.since[g]) } else { 0 })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SEC;

    fn policy() -> Autoscale {
        Autoscale {
            variants: Vec::new(),
            min: 1,
            max: 4,
            target: ScaleTarget::Outstanding(2.0),
            startup: 60 * SEC,
            interval: 15 * SEC,
            cooldown: 300 * SEC,
            relayout: 0,
        }
    }

    #[test]
    fn the_replicas_wanted_are_the_outstanding_over_the_target_within_bounds() {
        let p = policy();
        assert_eq!([0, 1, 2, 3, 7, 100].map(|n| desired(&p, n as f64, 4)), [1, 1, 1, 2, 4, 4]);
        assert_eq!(desired(&p, 100.0, 3), 3);
        // On utilisation: three replicas at 50 % against a 60 % target want 3 (1.5 / 0.6 = 2.5),
        // two at 60 % exactly want 2, and any load at all keeps the minimum.
        let u = Autoscale {
            target: ScaleTarget::Utilization(0.6),
            ..policy()
        };
        assert_eq!([1.5, 1.2, 0.01, 0.0].map(|l| desired(&u, l, 4)), [3, 2, 1, 1]);
    }

    #[test]
    fn scaling_up_counts_starting_replicas_and_scaling_down_waits_for_the_cooldown() {
        let mut s = Scaler::new(policy(), 4);
        assert_eq!(s.reps, [Rep::Serving, Rep::Off, Rep::Off, Rep::Off]);
        let d = s.evaluate(10 * SEC, 5.0);
        assert_eq!(d.start, [1, 2]);
        d.start.iter().for_each(|&p| s.reps[p] = Rep::Starting);
        // Still 5 outstanding while they start: nothing more.
        assert_eq!(s.evaluate(25 * SEC, 5.0), Decision { start: vec![], revive: vec![], remove: vec![] });
        // The load is gone, but the recommendations of 10 and 25 s hold them for the cooldown.
        assert!(s.evaluate(200 * SEC, 0.0).remove.is_empty());
        assert!(s.evaluate(320 * SEC, 0.0).remove.is_empty());
        let d = s.evaluate(330 * SEC, 0.0);
        assert_eq!(d.remove, [2, 1]);
        s.reps[1] = Rep::Draining;
        s.reps[2] = Rep::Off;
        // Load again: the draining replica comes back first, warm; then an off one starts.
        let d = s.evaluate(340 * SEC, 5.0);
        assert_eq!((d.revive, d.start), (vec![1], vec![2]));
    }

    #[test]
    fn the_running_count_is_integrated_and_gpus_are_paid_while_anything_runs() {
        let mut s = Scaler::new(policy(), 4);
        s.reps[1] = Rep::Starting;
        s.logged(10 * SEC);
        s.reps[1] = Rep::Off;
        s.logged(30 * SEC);
        // 1 replica for 40 s, 2 for 20 s of the first 60 s.
        assert!((s.mean_running(0, 60 * SEC) - 80.0 / 60.0).abs() < 1e-12);
        let mut b = Billing::new(vec![1, 0]);
        b.change(1, 10 * SEC, 1);
        b.change(1, 30 * SEC, 1);
        b.change(1, 40 * SEC, -1);
        b.change(1, 50 * SEC, -1);
        assert_eq!(b.paid_until(100 * SEC), 100 * SEC + 40 * SEC);
    }
}

#[cfg(test)]
mod sim_tests {
    /// A scenario of `n` placed ASR replicas under a rate step, the autoscaler on variant
    /// "auto" with `table`.
    fn scenario(table: &str) -> crate::scenario::Scenario {
        let text = format!(
            r#"
name = "as"
duration_s = 900
window_s = 300
[models.asr]
from = "h100/asr"
[[workload]]
model = "asr"
arrivals = {{ process = "poisson", schedule = [[0, 50], [0.0833333, 450], [0.1666667, 50]] }}
size = {{ dist = "lognormal", median = 5.0, sigma = 0.6, min = 1.0, max = 30.0 }}
[autoscale.asr]
variants = ["auto"]
{table}
[[variant]]
name = "static"
gpu = "h100-80gb"
balancer = "least-outstanding"
gpus = [{{ regime = "dedicated", models = ["asr"], count = 4 }}]
[[variant]]
name = "auto"
gpu = "h100-80gb"
balancer = "least-outstanding"
gpus = [{{ regime = "dedicated", models = ["asr"], count = 4 }}]
"#
        );
        crate::scenario::files::parse_scenario(&text, "as.toml", None).expect("valid")
    }

    #[test]
    fn an_autoscaler_held_at_every_replica_changes_nothing_but_the_bill() {
        let sc = scenario("min_replicas = 4\ntarget_outstanding = 1\nstartup_s = 60");
        let runs = crate::sim::run_scenario(&sc, 2).expect("runs");
        let json = |r: &crate::sim::RunSummary| serde_json::to_string(&(&r.models, &r.windows.iter().map(|w| &w.models).collect::<Vec<_>>())).expect("json");
        assert_eq!(json(&runs[0]), json(&runs[1]));
        let a = runs[1].autoscale.as_ref().expect("autoscaled");
        assert_eq!((a.gpu_hours, a.static_gpu_hours), (1.0, 1.0));
        assert!(runs[0].autoscale.is_none());
    }

    /// Replicas follow the load up and down (every pick checked against the linear scan under
    /// test), none is lost, and the GPUs are paid for less than all the time.
    #[test]
    fn replicas_follow_a_load_step_and_cost_less_than_static() {
        let sc = scenario("min_replicas = 1\ntarget_outstanding = 1\nstartup_s = 30\ncooldown_s = 60");
        let runs = crate::sim::run_scenario(&sc, 2).expect("runs");
        let (st, auto) = (&runs[0], &runs[1]);
        assert_eq!(st.models["asr"].completed + st.models["asr"].failed, auto.models["asr"].completed + auto.models["asr"].failed);
        assert_eq!(auto.models["asr"].failed, 0);
        let r: Vec<f64> = auto.windows.iter().map(|w| w.replicas["asr"]).collect();
        assert!(r[1] > r[0] && r[1] > r[2], "{r:?}");
        let a = auto.autoscale.as_ref().expect("autoscaled");
        assert!(a.gpu_hours < a.static_gpu_hours && a.models["asr"].max_running > 1, "{a:?}");
    }

    /// Scaled on GPU utilisation instead: the same step is followed, with every request served.
    #[test]
    fn replicas_follow_a_load_step_on_utilization() {
        let sc = scenario("min_replicas = 1
target_utilization_pct = 60
startup_s = 30
cooldown_s = 60");
        let runs = crate::sim::run_scenario(&sc, 2).expect("runs");
        let auto = &runs[1];
        assert_eq!(auto.models["asr"].failed, 0);
        let r: Vec<f64> = auto.windows.iter().map(|w| w.replicas["asr"]).collect();
        assert!(r[1] > r[0] && r[1] > r[2], "{r:?}");
        let a = auto.autoscale.as_ref().expect("autoscaled");
        assert!(a.gpu_hours < a.static_gpu_hours, "{a:?}");
    }
}
