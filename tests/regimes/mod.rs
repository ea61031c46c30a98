//! Sharing regimes and their failure and memory rules:
//! * time slicing: two always-busy tenants each get (1 - switch overhead)/2 of the GPU and the
//!   GPU is never idle; a lone time-sliced tenant runs exactly as on a dedicated GPU;
//! * MIG: seven 1g.5gb slices of a fully compute-bound model have 7 x 14/108 of the whole A100's
//!   capacity (the SM-ratio rule);
//! * memory: models that exceed a GPU or MIG slice, alone or together, are refused ("do not
//!   fit"); an impossible MIG layout names the profile;
//! * faults: a crash on a time-sliced GPU takes every tenant down, on MIG only the crashed one;
//! * pipelines: end-to-end latency is the sum of the stage latencies;
//! * regressions of two bugs these tests found (MPS whole-GPU busy fraction; a restarted replica
//!   ignoring the shared router queue).

use crate::common::*;

/// Two tenants `a` and `b` (both the linear model) on one time-sliced H100 with a 2 ms quantum
/// and a 50 us switch, each sent 100 ms calls (fixed size 100) at 50/s: ten times what half the
/// GPU can serve, so both contexts always have work.
#[test]
fn time_slicing_two_saturated_tenants_share_the_gpu_evenly() {
    let d = TempDir::new("ts2");
    let p = LinearModel::default().write(&d, "m");
    let sc = parse(&format!(
        r#"
name = "ts-saturated"
duration_s = 20
warmup_s = 2
drain_s = 0
[models.a]
from = "{p}"
[models.b]
from = "{p}"
[[workload]]
model = "a"
arrivals = {{ process = "poisson", rate_rps = 50 }}
size = {{ dist = "fixed", value = 100 }}
[[workload]]
model = "b"
arrivals = {{ process = "poisson", rate_rps = 50 }}
size = {{ dist = "fixed", value = 100 }}
[[variant]]
name = "ts"
gpu = "h100-80gb"
gpus = [{{ regime = "time-sliced", models = ["a", "b"], quantum_ms = 2, switch_us = 50 }}]
"#
    ));
    let r = run(&sc, 0, 21);
    let (q, sw) = (2.0, 0.05); // ms
    let overhead = sw / (q + sw); // each slice of q is preceded by one switch
    let want = (1.0 - overhead) / 2.0; // 0.4878
    let (ua, ub, whole) = (busy(&r, 0, "ts:a"), busy(&r, 0, "ts:b"), busy(&r, 0, "whole"));
    eprintln!("time-sliced saturated: a {ua:.4} b {ub:.4} whole {whole:.4} (want {want:.4} each, whole 1)");
    // No randomness reaches the schedule once both queues are non-empty (100 ms calls are exactly
    // 50 slices, so every slice is full); the only error is the partial slice at each edge of the
    // 18 s window (2 ms / 18 s = 0.01 %) and the 4-decimal rounding of the report: 0.5 %.
    assert_close(ua, want, 0.005, "tenant a busy fraction = (1 - switch/(quantum + switch))/2");
    assert_close(ub, want, 0.005, "tenant b busy fraction = (1 - switch/(quantum + switch))/2");
    // 'whole' is executing or switching: always, with two saturated tenants.
    assert_close(whole, 1.0, 0.005, "whole-GPU busy fraction (executing or switching)");
    // The executed work delivers the completions: each tenant finishes want / 100 ms = 4.88 calls
    // per second, ~88 in the 18 s window, give or take one call at each window edge (1.1 %): 2 %.
    for m in ["a", "b"] {
        assert_close(
            r.models[m].throughput_rps,
            want / 0.1,
            0.02,
            &format!("tenant {m} throughput [req/s]"),
        );
    }
}

#[test]
fn a_lone_time_sliced_tenant_runs_as_on_a_dedicated_gpu() {
    let d = TempDir::new("ts1");
    let p = LinearModel::default().write(&d, "m");
    let sc = parse(&format!(
        r#"
name = "ts-alone"
duration_s = 600
warmup_s = 10
[models.m]
from = "{p}"
[[workload]]
model = "m"
arrivals = {{ process = "poisson", rate_rps = 70 }}
size = {{ dist = "exponential", mean = 10 }}
[[variant]]
name = "dedicated"
gpu = "h100-80gb"
gpus = [{{ regime = "dedicated", models = ["m"] }}]
[[variant]]
name = "time-sliced"
gpu = "h100-80gb"
gpus = [{{ regime = "time-sliced", models = ["m"], quantum_ms = 2, switch_us = 50 }}]
"#
    ));
    let (ded, ts) = (run(&sc, 0, 22), run(&sc, 1, 22));
    // Same seed, same arrivals and sizes. A lone context is never preempted and never switched
    // out, so the only difference is the one 50 us switch-in of the very first call, long before
    // the 10 s warm-up ends: every measured number is identical.
    assert_eq!(ded.models["m"].completed, ts.models["m"].completed);
    assert_eq!(ded.models["m"].latency_ms, ts.models["m"].latency_ms, "latency summaries differ");
    assert_eq!(
        busy(&ded, 0, "whole"),
        busy(&ts, 0, "ts:m"),
        "tenant busy fraction differs from the dedicated GPU's"
    );
    assert_eq!(ded.throughput_rps, ts.throughput_rps);
}

/// Calls of a server that shares a time-sliced GPU take `shared_time_fraction` of their solo
/// time even when no other context has work (measured: traces/h200/analysis_ts.txt, section 15);
/// a context alone on a time-sliced GPU runs at its solo time. `a` (fraction 0.8) gets 10 ms
/// calls once a second, so they never queue; `b` shares the first GPU and has no load. Its host
/// phase (4 ms) is part of the call but holds no GPU time: on the shared GPU a call is 4 ms of
/// host and 0.8 x 6 ms of GPU work; alone, its solo 10 ms.
#[test]
fn shared_time_fraction_applies_to_every_call_on_a_shared_gpu() {
    let d = TempDir::new("tsf");
    let p = LinearModel {
        shared_time_fraction: 0.8,
        host_phase_ms: 4.0,
        ..LinearModel::default()
    }
    .write(&d, "m");
    let sc = parse(&format!(
        r#"
name = "ts-fraction"
duration_s = 60
warmup_s = 2
[models.a]
from = "{p}"
[models.b]
from = "{p}"
[[workload]]
model = "a"
arrivals = {{ process = "poisson", rate_rps = 1 }}
size = {{ dist = "fixed", value = 10 }}
[[variant]]
name = "shared"
gpu = "h100-80gb"
gpus = [{{ regime = "time-sliced", models = ["a", "b"], quantum_ms = 2, switch_us = 50 }}]
[[variant]]
name = "alone"
gpu = "h100-80gb"
gpus = [{{ regime = "time-sliced", models = ["a"], quantum_ms = 2, switch_us = 50 }}, {{ regime = "dedicated", models = ["b"] }}]
"#
    ));
    let (shared, alone) = (run(&sc, 0, 23), run(&sc, 1, 23));
    // Poisson arrivals 1 s apart on average never find a 10 ms call running (the chance of a
    // collision in 58 calls is ~1 %, and would only raise the maximum); no switch after the first.
    // Tolerance: the latency sketch's bucket width.
    assert_close(
        shared.models["a"].latency_ms.p50,
        4.0 + 0.8 * 6.0,
        0.01,
        "shared GPU: host 4 ms + 0.8 x 6 ms",
    );
    assert_close(alone.models["a"].latency_ms.p50, 10.0, 0.01, "alone: solo time");
    // GPU time per second: one call's 4.8 ms shared, its whole 10 ms alone (Poisson count over
    // the 58 s window: +-13 %, the same draws in both variants, so their ratio is exact to the
    // report's rounding).
    let (ua, ub) = (busy(&shared, 0, "ts:a"), busy(&alone, 0, "ts:a"));
    assert_close(ua / ub, 0.48, 0.01, "GPU-busy share of a shared call over a solo one");
}

/// Capacity of seven 1g.5gb MIG instances vs one whole A100-40GB for a fully compute-bound
/// model measured on the A100-40GB: the SM ratio 7 x 14 / 108 = 0.907, each slice's compute
/// 1 + 0.1 x 7/8 slower for its eighth of L2, and the seven together at the clock the power
/// budget allows their activity (0.907 against the A100's knee 0.83: (0.83 / 0.907)^0.5;
/// docs/src/model/sharing.md).
#[test]
fn mig_seven_way_split_keeps_the_sm_share_of_compute_bound_capacity() {
    let d = TempDir::new("mig7");
    let p = LinearModel::compute_bound("a100-40gb").write(&d, "m");
    let sc = parse(&format!(
        r#"
name = "mig7"
duration_s = 30
warmup_s = 5
drain_s = 0
[models.m]
from = "{p}"
[[workload]]
model = "m"
arrivals = {{ process = "poisson", rate_rps = 300 }}   # capacity is 100/s (whole) and 90.7/s (7 slices)
size = {{ dist = "fixed", value = 10 }}               # 10 ms on the whole A100-40GB
[[variant]]
name = "whole"
gpu = "a100-40gb"
gpus = [{{ regime = "dedicated", models = ["m"] }}]
[[variant]]
name = "mig-7x1g"
gpu = "a100-40gb"
gpus = [{{ regime = "mig", layout = "1g.5gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb", models = ["m", "m", "m", "m", "m", "m", "m"] }}]
"#
    ));
    let (whole, mig) = (run(&sc, 0, 23), run(&sc, 1, 23));
    let ratio = mig.throughput_rps / whole.throughput_rps;
    let a100 = gpuslice::gpu::Catalog::builtin().gpu("a100-40gb").expect("in catalog").sharing;
    let sm_share = 14.0 / 108.0;
    let want = 7.0 * sm_share / (1.0 + a100.mig_l2_penalty * 7.0 / 8.0) / a100.clock_slowdown(sm_share, 7.0 * sm_share);
    eprintln!(
        "MIG 7x1g.5gb: {:.3} req/s vs whole {:.3} req/s: ratio {ratio:.4} (model {want:.4})",
        mig.throughput_rps, whole.throughput_rps
    );
    // Saturated servers with deterministic service: throughput over the 25 s window is exact up to
    // one call per server at each window edge (whole: 1/2500; slices: 7/2268): 1 %.
    assert_close(whole.throughput_rps, 100.0, 0.01, "whole A100-40GB capacity [req/s]");
    assert_close(ratio, want, 0.01, "MIG 7 x 1g.5gb / whole capacity ratio (SMs, L2, power)");
    assert!(a100.clock_slowdown(sm_share, 7.0 * sm_share) > 1.0, "seven busy slices pass the power knee");
    // Every slice runs back-to-back calls through the whole window: busy 1.0 (report rounding
    // aside); 1 % margin.
    for u in &mig.gpu_utilization {
        assert!(u.busy_fraction > 0.99, "slice {} not saturated: {}", u.partition, u.busy_fraction);
    }
    assert_eq!(mig.gpu_utilization.len(), 7, "{:?}", mig.gpu_utilization);
}

fn memory_scenario(model: &str, gpu: &str, gpus: &str) -> String {
    format!(
        r#"
name = "memory"
duration_s = 10
{model}
[[workload]]
model = "a"
arrivals = {{ process = "poisson", rate_rps = 1 }}
size = {{ dist = "fixed", value = 5 }}
[[variant]]
name = "v"
gpu = "{gpu}"
gpus = [{gpus}]
"#
    )
}

#[test]
fn models_that_do_not_fit_in_memory_are_refused() {
    let one = |gib: f64| format!("[models.a]\nfrom = \"h100/asr\"\nmemory_gib = {gib}\n");
    // Alone, larger than a whole H100 (79.65 GiB).
    let e = parse_err(&memory_scenario(
        &one(100.0),
        "h100-80gb",
        r#"{ regime = "dedicated", models = ["a"] }"#,
    ));
    assert!(e.contains("do not fit") && e.contains("100.0 GiB"), "{e}");
    // Alone, larger than a 1g.5gb slice (4.75 GiB) though far smaller than the GPU.
    let e = parse_err(&memory_scenario(
        &one(6.0),
        "a100-40gb",
        r#"{ regime = "mig", layout = "1g.5gb", models = ["a"] }"#,
    ));
    assert!(e.contains("do not fit") && e.contains("1g.5gb") && e.contains("6.0 GiB"), "{e}");
    // Two co-tenants of 45 GiB each: each fits, together they exceed the 79.65 GiB, time-sliced or MPS.
    let two = "[models.a]\nfrom = \"h100/asr\"\nmemory_gib = 45\n[models.b]\nfrom = \"h100/tts\"\nmemory_gib = 45\n";
    for regime in ["time-sliced", "mps"] {
        let e = parse_err(&memory_scenario(
            two,
            "h100-80gb",
            &format!(r#"{{ regime = "{regime}", models = ["a", "b"] }}"#),
        ));
        assert!(
            e.contains("do not fit") && e.contains("a 45.0 GiB") && e.contains("b 45.0 GiB"),
            "{regime}: {e}"
        );
    }
    // ... while each alone is fine.
    parse(&memory_scenario(
        two,
        "h100-80gb",
        r#"{ regime = "dedicated", models = ["a"] }, { regime = "dedicated", models = ["b"] }"#,
    ));
    // MPS: each client is held to its own memory limit (default: an equal share of the GPU).
    let small = "[models.a]\nfrom = \"h100/asr\"\nmemory_gib = 30\n[models.b]\nfrom = \"h100/tts\"\nmemory_gib = 5\n";
    parse(&memory_scenario(small, "h100-80gb", r#"{ regime = "mps", models = ["a", "b"] }"#));
    let e = parse_err(&memory_scenario(
        small,
        "h100-80gb",
        r#"{ regime = "mps", models = ["a", "b"], mem_limit_gib = [20, 50] }"#,
    ));
    assert!(e.contains("MPS client memory limit") && e.contains("a 30.0 GiB"), "{e}");
    let e = parse_err(&memory_scenario(
        small,
        "h100-80gb",
        r#"{ regime = "mps", models = ["a", "b"], mem_limit_gib = [60, 60] }"#,
    ));
    assert!(e.contains("mem_limit_gib") && e.contains("120"), "{e}");
    // Every error is one line.
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn an_impossible_mig_layout_names_the_profile() {
    let m = "[models.a]\nfrom = \"h100/asr\"\n";
    for (layout, culprit) in [
        ("4g.20gb,4g.20gb", "4g.20gb"),
        ("3g.20gb,3g.20gb,1g.5gb", "1g.5gb"),
        ("3g.40gb", "3g.40gb"),
    ] {
        let n = layout.split(',').count();
        let models = vec!["\"a\""; n].join(", ");
        let e = parse_err(&memory_scenario(
            m,
            "a100-40gb",
            &format!(r#"{{ regime = "mig", layout = "{layout}", models = [{models}] }}"#),
        ));
        assert!(
            e.contains(&format!("'{culprit}'")) && e.contains("variant[0].gpus[0].layout"),
            "{layout}: {e}"
        );
    }
}

/// Tenants `a` and `b` (linear model, 10 ms calls) both offered 150/s, 1.5 x what even a whole
/// GPU serves, so at the fault (t = 4 s) both servers hold long queues. `a`'s server is hit by a
/// fault of `kind`; the drain is long enough for every survivor to finish, so failures come only
/// from the fault. Variants: time-sliced, MIG, MPS (one GPU each) and dedicated (two GPUs).
fn fault_scenario(p: &str, restart_s: f64, kind: &str) -> String {
    let fault = format!(r#"faults = [{{ model = "a", kind = "{kind}", at_s = 4, restart_s = {restart_s} }}]"#);
    format!(
        r#"
name = "faults"
duration_s = 6
warmup_s = 1
drain_s = 600
[models.a]
from = "{p}"
[models.b]
from = "{p}"
[[workload]]
model = "a"
arrivals = {{ process = "poisson", rate_rps = 150 }}
size = {{ dist = "fixed", value = 10 }}
[[workload]]
model = "b"
arrivals = {{ process = "poisson", rate_rps = 150 }}
size = {{ dist = "fixed", value = 10 }}

[[variant]]
name = "time-sliced"
gpu = "h100-80gb"
{fault}
gpus = [{{ regime = "time-sliced", models = ["a", "b"], quantum_ms = 2, switch_us = 50 }}]

[[variant]]
name = "mig"
gpu = "h100-80gb"
{fault}
gpus = [{{ regime = "mig", layout = "3g.40gb,3g.40gb", models = ["a", "b"] }}]

[[variant]]
name = "mps"
gpu = "h100-80gb"
{fault}
gpus = [{{ regime = "mps", models = ["a", "b"] }}]

[[variant]]
name = "dedicated"
gpu = "h100-80gb"
{fault}
gpus = [{{ regime = "dedicated", models = ["a"] }}, {{ regime = "dedicated", models = ["b"] }}]
"#
    )
}

/// Each fault kind reaches what NVIDIA documents for it (docs/src/model/faults.md): `b` fails exactly
/// where the table says, `a` (the server hit) always does, the failure accounting adds up, and
/// the per-kind availability charges the fault's kind and no other.
#[test]
fn each_fault_kind_has_its_blast_radius() {
    let d = TempDir::new("faults");
    let p = LinearModel::default().write(&d, "m");
    // Does `b` fail? Variants in order: time-sliced, MIG, MPS, dedicated.
    let table = [
        ("process", [false, false, true, false]),
        ("context-error", [false, false, true, false]),
        ("memory-exhaustion", [true, false, true, false]),
        ("device-reset", [true, true, true, false]),
    ];
    for (kind, b_fails) in table {
        // Realistic restart (2 s): requests are lost at the fault and refused while down.
        let sc = parse(&fault_scenario(&p, 2.0, kind));
        for (vi, &b_fail) in b_fails.iter().enumerate() {
            let r = run(&sc, vi, 24);
            let f = &r.failures;
            assert_eq!(f.crashes, 1, "{kind} {}", r.name);
            let failed: u64 = r.models.values().map(|m| m.failed).sum();
            assert_eq!(
                failed,
                f.lost_requests + f.rejected_requests + f.timed_out + f.unfinished,
                "{kind} {}: {f:?}",
                r.name
            );
            assert!(r.models["a"].failed > 0, "{kind} {}: the server hit must fail", r.name);
            assert_eq!(
                r.models["b"].failed > 0,
                b_fail,
                "{kind} {}: b failed {}",
                r.name,
                r.models["b"].failed
            );
            for (k, kf) in &f.by_kind {
                let struck = k == kind;
                assert_eq!(kf.crashes, u64::from(struck), "{kind} {}: {k}", r.name);
                for m in ["a", "b"] {
                    let want = if struck { r.models[m].availability } else { 1.0 };
                    assert_eq!(kf.availability[m], want, "{kind} {} {k} {m}", r.name);
                }
            }
        }
    }
    // Instant restart: nothing is refused, so every failure is a request lost at the fault, and
    // lost_requests counts both models where both are hit.
    let sc = parse(&fault_scenario(&p, 0.0, "device-reset"));
    let ts = run(&sc, 0, 24);
    let f = &ts.failures;
    assert_eq!((f.rejected_requests, f.timed_out, f.unfinished), (0, 0, 0), "{f:?}");
    assert_eq!(f.lost_requests, ts.models["a"].failed + ts.models["b"].failed);
}

#[test]
fn pipeline_latency_is_the_sum_of_its_stages() {
    let sc = parse(
        r#"
name = "pipeline"
duration_s = 130
warmup_s = 10
[models.asr]
from = "h100/asr"
[models.llm]
from = "h100/llm"
[models.tts]
from = "h100/tts"
[[workload]]
name = "turn"
pipeline = ["asr", "llm", "tts"]
arrivals = { process = "poisson", rate_rps = 3 }
size = { dist = "lognormal", median = 5.8, sigma = 0.6, min = 1.0, max = 30.0 }
out_tokens = { dist = "lognormal", median = 25, sigma = 0.5, min = 4, max = 256 }
[[variant]]
name = "dedicated"
gpu = "h100-80gb"
gpus = [
  { regime = "dedicated", models = ["asr"] },
  { regime = "dedicated", models = ["llm"] },
  { regime = "dedicated", models = ["tts"] },
]
"#,
    );
    let r = run(&sc, 0, 25);
    let p = &r.stages["turn"];
    assert_eq!(p.failed, 0);
    assert!(p.completed > 300, "too few turns: {}", p.completed);
    let names: Vec<&str> = p.stages.iter().map(|s| s.model.as_str()).collect();
    assert_eq!(names, ["asr", "llm", "tts"]);
    let sum: f64 = p.stages.iter().map(|s| s.latency_ms.mean).sum();
    eprintln!(
        "pipeline: turn mean {:.4} ms, sum of stage means {sum:.4} ms ({} turns)",
        p.latency_ms.mean, p.completed
    );
    // Per turn, end-to-end = sum of stage latencies exactly (each stage is sent the instant the
    // previous one finishes), over the same set of turns (none failed); the only difference is
    // the 4-decimal rounding of each reported mean: 4 x 0.00005 ms.
    assert!(
        (p.latency_ms.mean - sum).abs() <= 2e-4 + 1e-9 * sum,
        "turn mean {} != sum of stage means {sum}",
        p.latency_ms.mean
    );
    // The workload's turn latency is also the variant's top-level latency.
    assert_eq!(r.latency_ms, p.latency_ms);
    // Without a streaming TTS, time to first audio = ASR + LLM time to first token + the whole TTS
    // request, per turn; the LLM model serves only this pipeline, so its TTFT mean is the stage's.
    let ttft = r.models["llm"].ttft_ms.expect("llm ttft").mean;
    let want = p.stages[0].latency_ms.mean + ttft + p.stages[2].latency_ms.mean;
    assert!(
        (p.time_to_first_audio_ms.mean - want).abs() <= 3e-4 + 1e-9 * want,
        "first audio {} != {want}",
        p.time_to_first_audio_ms.mean
    );
    assert!(p.time_to_first_audio_ms.mean < p.latency_ms.mean);
}

/// Two saturated MPS clients at 50 % of the SMs each keep the GPU executing the whole window, so
/// the `whole` entry must read ~1, like the tenants' own entries.
///
/// Regression: `whole` read 0.0 here because a busy period still open at the end was not counted
/// (overlapping MPS clients never bring the running count to 0).
#[test]
fn mps_whole_gpu_busy_fraction_counts_overlapping_clients() {
    let d = TempDir::new("mps2");
    let p = LinearModel::default().write(&d, "m");
    let sc = parse(&format!(
        r#"
name = "mps-saturated"
duration_s = 20
warmup_s = 2
drain_s = 0
[models.a]
from = "{p}"
[models.b]
from = "{p}"
[[workload]]
model = "a"
arrivals = {{ process = "poisson", rate_rps = 500 }}
size = {{ dist = "fixed", value = 3 }}
[[workload]]
model = "b"
arrivals = {{ process = "poisson", rate_rps = 500 }}
size = {{ dist = "fixed", value = 3 }}
[[variant]]
name = "mps"
gpu = "h100-80gb"
gpus = [{{ regime = "mps", models = ["a", "b"], thread_pct = [50, 50] }}]
"#
    ));
    let r = run(&sc, 0, 26);
    // Both clients are saturated from the first ms (500/s offered, 333/s served at most).
    assert!(
        busy(&r, 0, "mps:a") > 0.99 && busy(&r, 0, "mps:b") > 0.99,
        "{:?}",
        r.gpu_utilization
    );
    // Some client is executing at every instant of the window: 1 (report rounding aside); 1 %.
    assert_close(busy(&r, 0, "whole"), 1.0, 0.01, "MPS whole-GPU busy fraction");
}

/// With the shared-queue balancer, requests waiting at the router survive a replica's crash
/// (only what the replica had pulled is lost); when the replica is back it must serve them.
/// Load: 150/s of 10 ms calls for 4.5 s (on-off source, then silent), one replica, crash at
/// 4 s, back at 5 s; ~190 requests wait at the router meanwhile and need ~2 s of service,
/// well inside the 60 s drain.
///
/// Regression: a replica back from a crash used to wait for a new arrival before serving the
/// requests that queued at the router while it was down.
#[test]
fn a_restarted_replica_serves_the_shared_queue() {
    let d = TempDir::new("sq-restart");
    let p = LinearModel::default().write(&d, "m");
    let sc = parse(&format!(
        r#"
name = "shared-queue-restart"
duration_s = 10
warmup_s = 1
drain_s = 60
[models.m]
from = "{p}"
[[workload]]
model = "m"
arrivals = {{ process = "on-off", rate_rps = 150, on_s = 4.5, off_s = 100 }}
size = {{ dist = "fixed", value = 10 }}
[[variant]]
name = "shared"
gpu = "h100-80gb"
balancer = "shared-queue"
gpus = [{{ regime = "dedicated", models = ["m"] }}]
[[variant.faults]]
model = "m"
at_s = 4
restart_s = 1
"#
    ));
    let r = run(&sc, 0, 27);
    assert_eq!(r.failures.crashes, 1);
    assert_eq!(
        r.failures.unfinished, 0,
        "requests stranded at the router after the restart: {:?}",
        r.failures
    );
}
