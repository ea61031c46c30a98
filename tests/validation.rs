//! Replaying the real H100 measurements (traces/h100) through the simulator.
//! Bounds are the acceptance bounds of the calibration issue; the errors are computed here by
//! the simulator, not stored.

use gpuslice::config::{DEFAULT_QUANTUM_MS, DEFAULT_SWITCH_US};
use gpuslice::validate::{validate_dir, TsParams};
use std::collections::BTreeMap;

const TS: TsParams = TsParams { quantum_ms: DEFAULT_QUANTUM_MS, switch_us: DEFAULT_SWITCH_US };

fn dir(run: &str) -> String {
    format!("{}/traces/h100/{run}", env!("CARGO_MANIFEST_DIR"))
}

/// Single-model runs: p50 and p95 within 10 %, throughput within 2 %.
#[test]
fn single_model_runs_are_reproduced() {
    for run in ["asr_L", "asr_H", "tts_L", "tts_H", "llm_L", "llm_H"] {
        let v = validate_dir(&dir(run), &BTreeMap::new(), TS).expect(run);
        for (m, r) in &v.models {
            let e = &r.error_pct;
            assert!(e["p50"].abs() <= 10.0, "{run} {m} p50 error {}%", e["p50"]);
            assert!(e["p95"].abs() <= 10.0, "{run} {m} p95 error {}%", e["p95"]);
            assert!(e["throughput"].abs() <= 2.0, "{run} {m} throughput error {}%", e["throughput"]);
        }
    }
}

/// Time-sliced co-location runs (2 and 3 servers on one GPU). The heavy runs were not used to fit
/// the quantum. Measured repeat-to-repeat spread of a solo p95 is ~15 % (traces/h100/README.md);
/// co-located runs add the scheduler's own jitter, so the bound is 30 % per percentile; this
/// still fails by a wide margin if the time-slicing mechanism is removed (a solo model
/// underpredicts co-located latency by 2-10x).
#[test]
fn time_sliced_runs_are_reproduced() {
    for run in ["ts_asr_tts_L", "ts_asr_tts_H", "ts_asr_tts_llm_L", "ts_asr_tts_llm_H"] {
        let v = validate_dir(&dir(run), &BTreeMap::new(), TS).expect(run);
        assert!(v.models.len() >= 2);
        for (m, r) in &v.models {
            let e = &r.error_pct;
            assert!(e["p50"].abs() <= 30.0, "{run} {m} p50 error {}%", e["p50"]);
            assert!(e["p95"].abs() <= 30.0, "{run} {m} p95 error {}%", e["p95"]);
            assert!(e["throughput"].abs() <= 2.0, "{run} {m} throughput error {}%", e["throughput"]);
        }
    }
}

#[test]
fn missing_files_are_errors() {
    let e = validate_dir("/nonexistent/dir", &BTreeMap::new(), TS).expect_err("no dir").to_string();
    assert!(e.contains("/nonexistent/dir"), "{e}");
}
