//! The engine against queueing theory, with the synthetic model whose service time is exactly
//! the request size in ms (tests/common `LinearModel`: one request per call, no host overheads,
//! so the reported latency is waiting + service):
//! * M/M/1 and M/D/1 mean waiting time (Pollaczek-Khinchine) and mean sojourn time;
//! * M/M/3 behind the shared-queue balancer against Erlang C;
//! * Little's law (time-average number in system, sampled from the running simulation, against
//!   throughput x mean latency), the utilisation law and throughput = arrival rate;
//! * a closed loop of N users with exponential think time against the interactive response time
//!   law X = N / (R + Z), the saturation bound and the exact finite-source (M/M/1//N) throughput.
//!
//! Every run uses a fixed seed. Statistical tolerances are a few standard errors of the estimate
//! (asymptotic variances from the literature, cross-checked by batch means of the run itself,
//! which each test also asserts is small enough for its tolerance).

use crate::common::*;
use gpuslice::scenario::Scenario;
use gpuslice::sim::Simulation;
use gpuslice::time::from_secs as secs;
use gpuslice::time::MS;

const MU: f64 = 100.0; // service rate [1/s]: mean service 10 ms
const ES_MS: f64 = 1e3 / MU;

/// One model `m` (the linear model) on `count` dedicated H100s (the model's reference GPU, so the
/// table runs unscaled), fed by Poisson arrivals at `rate` with size distribution `size`.
fn open_scenario(dir: &TempDir, duration_s: f64, warmup_s: f64, rate: f64, size: &str, count: u32, balancer: &str) -> Scenario {
    let p = LinearModel::default().write(dir, "m");
    parse(&format!(
        r#"
name = "queueing"
duration_s = {duration_s}
warmup_s = {warmup_s}
drain_s = 60
[models.m]
from = "{p}"
[[workload]]
model = "m"
arrivals = {{ process = "poisson", rate_rps = {rate} }}
size = {size}
[[variant]]
name = "dedicated"
gpu = "h100-80gb"
balancer = "{balancer}"
gpus = [{{ regime = "dedicated", models = ["m"], count = {count} }}]
"#
    ))
}

const EXP_SIZE: &str = r#"{ dist = "exponential", mean = 10 }"#;
const FIXED_SIZE: &str = r#"{ dist = "fixed", value = 10 }"#;

/// Erlang C: probability that an arrival waits in M/M/c with offered load `a = lambda/mu`.
fn erlang_c(c: u32, a: f64) -> f64 {
    let rho = a / c as f64;
    let mut term = 1.0; // a^k / k!
    let mut sum = 0.0;
    for k in 0..c {
        sum += term;
        term *= a / (k + 1) as f64;
    }
    let top = term / (1.0 - rho); // a^c / c! / (1 - rho)
    top / (sum + top)
}

#[test]
fn erlang_c_matches_hand_computation() {
    // a = 2.1, c = 3: 1 + 2.1 + 2.205 = 5.305; 2.1^3/6/0.3 = 5.145; C = 5.145/10.45
    assert_close(erlang_c(3, 2.1), 5.145 / 10.45, 1e-9, "Erlang C(3, 2.1)");
    assert_close(erlang_c(1, 0.7), 0.7, 1e-12, "Erlang C(1, rho) = rho");
}

#[test]
fn mm1_waiting_and_sojourn_times_match_theory() {
    let d = TempDir::new("mm1");
    let lambda = 70.0; // rho = 0.7
    let rho = lambda / MU;
    // 12,000 s at 70/s: ~830,000 measured requests. Daley (1968) / Whitt (1989, "Planning queueing
    // simulations"): the asymptotic variance of the M/M/1 mean wait is
    // rho (2 + 5 rho - 4 rho^2 + rho^3) / (mu^2 (1 - rho)^4) = 0.0336 s^2 per customer, so the
    // standard error of Wq is sqrt(0.0336 / 830,000) = 0.20 ms = 0.86 % of Wq = 23.3 ms.
    // Tolerance 3 % on Wq (3.5 s.e.); W = Wq + E[S] has the same absolute error: 2 % is 3.3 s.e.
    let sc = open_scenario(&d, 12_100.0, 100.0, lambda, EXP_SIZE, 1, "round-robin");
    let (r, lat) = run_with_latencies(&sc, 0, 11, 0);
    let se = batch_means_se(&lat, 40);
    let wq_theory = rho / (MU - lambda) * 1e3; // ms
    let w_theory = 1e3 / (MU - lambda);
    let w = r.latency_ms.mean;
    eprintln!(
        "M/M/1: n {} W {w:.3} ms (theory {w_theory:.3}), Wq {:.3} (theory {wq_theory:.3}), batch-means s.e. {se:.3} ms",
        lat.len(),
        w - ES_MS
    );
    assert!(lat.len() > 800_000, "too few samples: {}", lat.len());
    assert!(se < 0.03 * wq_theory / 2.5, "run too short for a 3 % tolerance on Wq: s.e. {se} ms");
    assert_close(w - ES_MS, wq_theory, 0.03, "M/M/1 mean waiting time Wq = rho/(mu - lambda) [ms]");
    assert_close(w, w_theory, 0.02, "M/M/1 mean sojourn time W = 1/(mu - lambda) [ms]");
    // The sojourn time is exponential with rate mu - lambda, so its median is ln 2 / (mu - lambda)
    // = 23.1 ms. Batch medians of this run (40 batches) put the s.e. of the median at 0.12 ms
    // (0.53 %): tolerance 2 % (3.8 s.e.).
    assert_close(r.latency_ms.p50, 2f64.ln() * w_theory, 0.02, "M/M/1 median sojourn time [ms]");
    assert_eq!(r.failed, 0, "no request may fail in a stable queue");
}

#[test]
fn md1_waiting_time_matches_pollaczek_khinchine() {
    let d = TempDir::new("md1");
    let lambda = 70.0;
    let rho = lambda / MU;
    // Deterministic service halves the M/M/1 wait: Wq = rho / (2 mu (1 - rho)) = 11.67 ms.
    // 6,000 s at 70/s: ~410,000 requests; a 3,000 s pilot gave a batch-means s.e. of Wq of
    // 0.13 ms at 210,000 requests, so ~0.09 ms (0.8 %) here. Tolerance 3 % (~3.5 s.e.).
    let sc = open_scenario(&d, 6_100.0, 100.0, lambda, FIXED_SIZE, 1, "round-robin");
    let (r, lat) = run_with_latencies(&sc, 0, 12, 0);
    let se = batch_means_se(&lat, 40);
    let wq_theory = rho / (2.0 * MU * (1.0 - rho)) * 1e3;
    let wq = r.latency_ms.mean - ES_MS;
    eprintln!("M/D/1: n {} Wq {wq:.3} ms (theory {wq_theory:.3}), s.e. {se:.3} ms", lat.len());
    assert!(se < 0.03 * wq_theory / 2.5, "run too short for a 3 % tolerance: s.e. {se} ms");
    assert_close(wq, wq_theory, 0.03, "M/D/1 mean waiting time rho/(2 mu (1 - rho)) [ms]");
    // Deterministic service: no request is faster than its service time.
    assert!(lat.iter().all(|&l| l >= ES_MS - 1e-6), "a latency below the 10 ms service time");
}

#[test]
fn mmc_shared_queue_matches_erlang_c() {
    let d = TempDir::new("mmc");
    let c = 3u32;
    let lambda = 210.0; // rho = lambda / (c mu) = 0.7 per server
    let a = lambda / MU;
    // 8,000 s at 210/s: ~1.7 M requests. A 3,000 s pilot gave a batch-means s.e. of 0.077 ms
    // at 630,000 requests, so ~0.047 ms here = 0.9 % of Wq = 5.47 ms. Tolerance 3 % (3.3 s.e.).
    let sc = open_scenario(&d, 8_100.0, 100.0, lambda, EXP_SIZE, c, "shared-queue");
    let (r, lat) = run_with_latencies(&sc, 0, 13, 0);
    let se = batch_means_se(&lat, 40);
    let pw = erlang_c(c, a);
    let wq_theory = pw / (c as f64 * MU - lambda) * 1e3;
    let wq = r.latency_ms.mean - ES_MS;
    eprintln!(
        "M/M/3: n {} Wq {wq:.3} ms (theory {wq_theory:.3}, P(wait) {pw:.4}), s.e. {se:.3} ms",
        lat.len()
    );
    assert!(se < 0.03 * wq_theory / 2.5, "run too short for a 3 % tolerance: s.e. {se} ms");
    assert_close(wq, wq_theory, 0.03, "M/M/3 (shared queue) mean waiting time, Erlang C [ms]");
    // Utilisation per server is rho whatever the dispatch order (the shared queue wakes the
    // lowest-index idle replica first, so the three GPUs are unequally busy).
    let mean_busy: f64 = (0..c).map(|g| busy(&r, g, "whole")).sum::<f64>() / c as f64;
    // Utilisation law; s.e. of total work over the window ~ sqrt(2/n) = 0.1 %: 1.5 % tolerance.
    assert_close(mean_busy, lambda / (c as f64 * MU), 0.015, "M/M/3 mean busy fraction per GPU");
}

#[test]
fn littles_law_utilisation_law_and_throughput() {
    let d = TempDir::new("little");
    let lambda = 70.0;
    let (warm, dur) = (50.0, 3_050.0);
    let sc = open_scenario(&d, dur, warm, lambda, EXP_SIZE, 1, "round-robin");
    let mut sim = Simulation::new(&sc, 0, 14).expect("builds");
    // Sample the number waiting (the server's queue; the request in service has left it) every
    // 2 ms of simulated time over the measurement window: a time average of Lq.
    sim.step_until(secs(warm));
    let (mut t, end, dt) = (secs(warm), secs(dur), 2 * MS);
    let (mut sum, mut n) = (0u64, 0u64);
    while t + dt <= end {
        t += dt;
        sim.step_until(t);
        sum += sim.device_views()[0].queues[0] as u64;
        n += 1;
    }
    while sim.step() {}
    let r = sim.summary();
    let lq = sum as f64 / n as f64;
    let u = busy(&r, 0, "whole"); // time-average number in service of one server
    let x = r.throughput_rps;
    let w = r.latency_ms.mean / 1e3;
    eprintln!("Little: L sampled {:.4}, X W {:.4}; busy {u:.4}; X {x:.3}", lq + u, x * w);
    // Little's law L = X W holds on every sample path; what separates the two sides here is the
    // 2 ms sampling grid (vs a 14 ms mean inter-event time and a 0.4 s relaxation time) and the
    // window edges (a few requests out of 210,000): 1 %.
    assert_close(lq + u, x * w, 0.01, "Little's law: time-average number in system vs X * W");
    // Same law for the server alone: busy fraction = X * E[S] (utilisation law). The window's
    // total service time has relative s.e. sqrt(2/n) = 0.3 % (exponential sizes): 1.5 %.
    assert_close(u, lambda * ES_MS / 1e3, 0.015, "utilisation law: busy fraction = lambda E[S]");
    // Throughput = arrival rate in steady state; Poisson count s.e. 1/sqrt(210,000) = 0.2 %: 1 %.
    assert_close(x, lambda, 0.01, "throughput = arrival rate");
    assert_close(r.models["m"].throughput_rps, lambda, 0.01, "per-model throughput = arrival rate");
}

/// Exact throughput of the finite-source M/M/1//N queue (N users, exponential think time `z`,
/// exponential service `s`): X = (1 - p0)/s with p0 = 1 / sum_k N!/(N-k)! (s/z)^k.
fn machine_repair_throughput(n: u32, s: f64, z: f64) -> f64 {
    let (mut term, mut sum) = (1.0, 0.0);
    for k in 0..=n {
        sum += term;
        term *= (n - k) as f64 * s / z;
    }
    (1.0 - 1.0 / sum) / s
}

#[test]
fn closed_loop_obeys_the_response_time_law() {
    let d = TempDir::new("closed");
    let p = LinearModel::default().write(&d, "m");
    let (n, z) = (10u32, 0.1); // 10 users, mean think time 100 ms
    let sc = parse(&format!(
        r#"
name = "closed"
duration_s = 3050
warmup_s = 50
[models.m]
from = "{p}"
[[workload]]
model = "m"
users = {n}
think_s = {z}
think = "exponential"
size = {EXP_SIZE}
[[variant]]
name = "one"
gpu = "h100-80gb"
gpus = [{{ regime = "dedicated", models = ["m"] }}]
"#
    ));
    let r = run(&sc, 0, 15);
    let x = r.throughput_rps;
    let rt = r.latency_ms.mean / 1e3;
    let s = ES_MS / 1e3;
    let exact = machine_repair_throughput(n, s, z);
    eprintln!(
        "closed loop: X {x:.3}/s, N/(R+Z) {:.3}, exact M/M/1//N {exact:.3}, R {:.2} ms",
        n as f64 / (rt + z),
        rt * 1e3
    );
    // Interactive response time law X = N / (R + Z): a sample-path identity up to the window
    // edges (at most N turns straddle each edge, out of ~235,000): 1 %.
    assert_close(x, n as f64 / (rt + z), 0.01, "response time law X = N/(R+Z)");
    // Asymptotic bounds: X <= 1/E[S] (saturation) and X <= N/(E[S] + Z) (no queueing).
    assert!(x < 1.0 / s, "throughput {x} above the saturation bound {}", 1.0 / s);
    assert!(
        x < n as f64 / (s + z),
        "throughput {x} above the no-queueing bound {}",
        n as f64 / (s + z)
    );
    // Exact value for exponential service and think times (78.5/s). The count of ~235,000
    // completions of a regenerative process has relative s.e. well below 0.5 %: 2 %.
    assert_close(x, exact, 0.02, "finite-source M/M/1//N throughput");
}
