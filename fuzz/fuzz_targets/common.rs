//! Helpers shared by the fuzz targets: when a scenario is small enough to simulate.
#![allow(dead_code)]

use gpuslice::scenario::raw::Pacing;
use gpuslice::scenario::{FaultTime, Load, Scenario};
use gpuslice::time::to_secs;

/// Format an error as the CLI prints it. With `GPUSLICE_FUZZ_STRICT=1` in the environment, also
/// check the manual's contract (docs/src/guide/commands.md) that every error prints on one line (off by default: user text
/// echoed into a message can break it, see README.md "Findings").
pub fn check_error(e: &gpuslice::error::Error) {
    use std::sync::OnceLock;
    static STRICT: OnceLock<bool> = OnceLock::new();
    let msg = e.to_string();
    if *STRICT.get_or_init(|| std::env::var_os("GPUSLICE_FUZZ_STRICT").is_some_and(|v| v == "1")) {
        assert!(!msg.contains('\n') && !msg.contains('\r'), "error message is not one line: {msg:?}");
    }
}

/// With `GPUSLICE_FUZZ_SKIP_KNOWN=1`, [`small`] also refuses inputs of the known livelock (README.md,
/// "Findings" 1: a closed-loop user whose think time is under 1 ms re-sends a refused request at
/// the same instant forever), so that a long run explores past it. Off by default, so that the
/// regression inputs reproduce.
fn skip_known() -> bool {
    use std::sync::OnceLock;
    static SKIP: OnceLock<bool> = OnceLock::new();
    *SKIP.get_or_init(|| std::env::var_os("GPUSLICE_FUZZ_SKIP_KNOWN").is_some_and(|v| v == "1"))
}

/// Longest load duration simulated [s].
pub const MAX_RUN_DURATION_S: f64 = 5.0;
/// Most requests (all workloads, all stages) one run may be expected to generate.
pub const MAX_RUN_REQUESTS: f64 = 1000.0;
/// Most variants, and GPUs per variant, simulated.
pub const MAX_RUN_VARIANTS: usize = 4;
pub const MAX_RUN_GPUS: usize = 8;
/// Most fault strikes one variant may be expected to suffer.
pub const MAX_RUN_FAULTS: f64 = 50.0;

/// True when `sc` generates little enough work to simulate on every fuzz input. This estimates
/// the *number* of requests, GPUs and faults, as the scenario checks (`gpuslice::limits`) do; it
/// deliberately does not bound the work of one request, so an input whose few requests take
/// unbounded time is a finding (a hang the limits miss), not something filtered out.
pub fn small(sc: &Scenario) -> bool {
    let duration_s = to_secs(sc.duration);
    if !(duration_s <= MAX_RUN_DURATION_S) {
        return false;
    }
    if sc.variants.len() > MAX_RUN_VARIANTS || sc.variants.iter().any(|v| v.gpus.len() > MAX_RUN_GPUS) {
        return false;
    }
    let horizon_s = to_secs(sc.duration + sc.drain);
    for v in &sc.variants {
        let mut strikes = 0.0;
        for f in &v.faults {
            strikes += match f.when {
                FaultTime::At(_) => 1.0,
                FaultTime::Mtbf(mean) => horizon_s / to_secs(mean + f.restart).max(1e-9),
            };
        }
        if strikes > MAX_RUN_FAULTS {
            return false;
        }
    }
    let mut requests = 0.0;
    for w in &sc.workloads {
        let stages = w.target.stages();
        let n = stages.len() as f64;
        requests += match &w.load {
            Load::Open { arrivals, .. } => arrivals.rate_rps() * duration_s * n,
            Load::Trace { trace, .. } => trace.rows.len() as f64 * n,
            Load::Closed {
                users,
                think,
                pacing,
                size,
                ..
            } => {
                if skip_known() && *pacing == Pacing::Loop && to_secs(*think) < 1e-3 {
                    return false;
                }
                let first = &sc.models[stages[0]];
                let speech_s = if *pacing == Pacing::Loop { 0.0 } else { size.min_value() };
                let cycle_s = (to_secs(*think) + speech_s + first.spec.min_call_ms() / 1e3).max(1e-9);
                // Every user sends at least one request.
                (*users as f64 * duration_s / cycle_s).max(*users as f64) * n
            }
        };
    }
    requests <= MAX_RUN_REQUESTS
}

/// Place every variant, and simulate the scenario if it is small. Errors are fine; panics,
/// hangs and huge allocations are what the fuzzer looks for.
pub fn place_and_run(sc: &Scenario) {
    for v in &sc.variants {
        // Placed when the scenario was resolved: placing again must give the same answer.
        match gpuslice::deploy::placement::place(&sc.models, &v.name, &v.gpu, &v.gpus) {
            Ok(p) => assert_eq!(p, v.placement, "placement is a pure function of the variant"),
            Err(e) => panic!("a resolved variant does not place again: {e}"),
        }
    }
    if small(sc) {
        match gpuslice::sim::run_scenario(sc, 1) {
            Ok(runs) => {
                // What `gpuslice run` prints, in both formats.
                let _ = gpuslice::out::table::table(&sc.name, 1, &runs);
                let _ = gpuslice::out::to_json(&gpuslice::out::table::RunReport {
                    scenario: &sc.name,
                    seed: 1,
                    variants: &runs,
                });
            }
            Err(e) => check_error(&e),
        }
    }
}
