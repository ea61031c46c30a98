//! `memory`: request and unit slots are reused once finished, so a run's memory follows the
//! work in flight; reuse never changes a result (every scenario below gives the same report
//! with records kept, where nothing is reused); latency percentiles come from sketches within
//! their stated bound of the exact ones.

use crate::common::*;
use gpuslice::out::to_json;
use gpuslice::sim::Simulation;

/// Report of variant `v`, with or without records kept, and the slots it allocated.
fn run_v(sc: &gpuslice::scenario::Scenario, v: usize, seed: u64, keep: bool) -> (String, (usize, usize)) {
    let mut sim = Simulation::new(sc, v, seed).unwrap_or_else(|e| panic!("variant {v}: {e}"));
    if keep {
        sim.keep_records().expect("before the first event");
    }
    while sim.step() {}
    (to_json(&sim.summary()), sim.slots())
}

#[track_caller]
fn same_with_and_without_reuse(sc: &gpuslice::scenario::Scenario, seed: u64) {
    for v in 0..sc.variants.len() {
        let (reused, slots) = run_v(sc, v, seed, false);
        let (kept, all) = run_v(sc, v, seed, true);
        assert_eq!(reused, kept, "variant {v}: slot reuse changed the report");
        assert!(slots.0 <= all.0 && slots.1 <= all.1, "variant {v}: {slots:?} vs {all:?}");
    }
}

#[test]
fn reuse_changes_nothing_with_traces_pipelines_timeouts_and_faults() {
    let sc = gpuslice::scenario::files::load_scenario(Some(&repo_file("tests/configs/valid/features.toml"))).expect("features");
    for seed in [1, 2, 3] {
        same_with_and_without_reuse(&sc, seed);
    }
}

/// Streams wait for chunks still on their way; in-flight TTS syntheses join and leave a running
/// call; a crash drops both.
#[test]
fn reuse_changes_nothing_in_voice_sessions() {
    let sc = gpuslice::scenario::files::load_scenario(Some(&repo_file("tests/configs/valid/voice.toml"))).expect("voice");
    for seed in [1, 2] {
        same_with_and_without_reuse(&sc, seed);
    }
}

/// LLM engines hold request ids in their sequences (a static batch keeps finished ones as
/// padding); crashes, timeouts and refusals end requests in the middle of all of them.
#[test]
fn reuse_changes_nothing_in_llm_engines_under_crashes_and_timeouts() {
    for policy in ["prefill-first", "chunked", "static"] {
        let sc = parse(&format!(
            r#"
name = "llm-reuse"
duration_s = 60
warmup_s = 5
drain_s = 20
[models.llm]
from = "h100/llm"
scheduler = "{policy}"
memory_gib = 36        # two replicas time-slice one GPU
max_batch = 8
max_context_tokens = 1200
[[workload]]
name = "chat"
model = "llm"
users = 24
think_s = 0.2
think = "exponential"
timeout_s = 3
size = {{ dist = "uniform", min = 100, max = 1400 }}
out_tokens = {{ dist = "exponential", mean = 80 }}
[[workload]]
model = "llm"
arrivals = {{ process = "poisson", rate_rps = 6 }}
size = {{ dist = "uniform", min = 100, max = 900 }}
out_tokens = {{ dist = "exponential", mean = 40 }}
[[variant]]
name = "two"
gpu = "h100-80gb"
balancer = "least-outstanding"
gpus = [{{ regime = "dedicated", models = ["llm"], count = 2 }}]
faults = [{{ model = "llm", replica = 0, mtbf_s = 7, restart_s = 2 }}, {{ model = "llm", replica = 1, at_s = 20, restart_s = 5 }}]
[[variant]]
name = "shared"
gpu = "h100-80gb"
balancer = "shared-queue"
gpus = [{{ regime = "time-sliced", models = ["llm", "llm"] }}]
faults = [{{ model = "llm", replica = 1, mtbf_s = 9, restart_s = 1 }}]
"#
        ));
        let r = run(&sc, 0, 5);
        assert!(
            r.completed > 100 && r.failures.timed_out > 0 && r.failures.crashes > 0,
            "{policy}: exercises timeouts and crashes"
        );
        same_with_and_without_reuse(&sc, 5);
    }
}

#[test]
fn slots_stay_flat_in_the_number_of_requests() {
    let one = |duration_s: u32| {
        let sc = parse(&format!(
            r#"
name = "flat"
duration_s = {duration_s}
warmup_s = 0
[models.asr]
from = "h100/asr"
[[workload]]
model = "asr"
arrivals = {{ process = "poisson", rate_rps = 100 }}
size = {{ dist = "fixed", value = 5.0 }}
timeout_s = 5
[[workload]]
pipeline = ["asr", "asr"]
users = 4
think_s = 0.1
size = {{ dist = "fixed", value = 5.0 }}
[[variant]]
name = "one"
gpu = "h100-80gb"
gpus = [{{ regime = "dedicated", models = ["asr"] }}]
"#
        ));
        let (_, slots) = run_v(&sc, 0, 1, false);
        let (_, all) = run_v(&sc, 0, 1, true);
        (slots, all)
    };
    let (short, short_all) = one(100);
    let (long, long_all) = one(1000);
    assert!(
        long_all.0 > 100_000 && long_all.0 >= 9 * short_all.0,
        "records grow with the run: {short_all:?} {long_all:?}"
    );
    // Slots follow the requests in flight (a few dozen at most here), not the 100 k done.
    assert!(long.0 < 200 && long.1 < 200, "{long:?}");
    assert!(long.0 <= short.0 + 50, "flat: {short:?} -> {long:?}");
}

#[test]
fn records_must_be_asked_for_before_the_run() {
    let sc = gpuslice::scenario::files::load_scenario(Some(&repo_file("tests/configs/valid/small.toml"))).expect("small");
    let mut sim = Simulation::new(&sc, 0, 1).expect("builds");
    assert!(sim.request_records().is_err(), "not kept: an error, not a partial list");
    assert!(sim.model_latencies(0).is_err());
    sim.step();
    assert!(sim.keep_records().is_err(), "too late: records were already freed");
}

/// The run's percentiles are the sketch's, within its relative bound of the exact type-7 ones.
#[test]
fn reported_percentiles_are_within_the_sketch_bound_of_the_exact_ones() {
    let sc = gpuslice::scenario::files::load_scenario(Some(&repo_file("tests/configs/valid/small.toml"))).expect("small");
    for v in 0..sc.variants.len() {
        let (r, mut lat) = run_with_latencies(&sc, v, 1, 0);
        let exact = gpuslice::metrics::summarize(&mut lat);
        let got = r.models["asr"].latency_ms;
        let alpha = gpuslice::metrics::sketch::ALPHA;
        // Reports round to 4 decimals: allow that on top of the bound.
        for (k, e, g) in [
            ("p50", exact.p50, got.p50),
            ("p95", exact.p95, got.p95),
            ("p99", exact.p99, got.p99),
        ] {
            assert!((g - e).abs() <= alpha * e + 1e-4, "variant {v} {k}: sketch {g} vs exact {e}");
        }
        assert!(
            (got.mean - exact.mean).abs() <= 1e-4,
            "the mean is exact: {} vs {}",
            got.mean,
            exact.mean
        );
    }
}
