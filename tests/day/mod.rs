//! A day of load: rate schedules, per-window metrics and their bounds.
//! * a schedule's per-window figures equal separate runs at each window's rate: exactly for
//!   the first window (same seed, same arrivals, a server whose requests do not affect earlier
//!   ones), statistically for the later ones;
//! * bad schedules and windows refused with one line naming the field and value.

use crate::common::*;

/// One ASR replica serving one request per call (no batching: a later arrival cannot change an
/// earlier request's latency, so a window's requests are served as in a run that stops there).
fn scenario(arrivals: &str, duration_s: f64, window: &str) -> String {
    format!(
        r#"
name = "day"
duration_s = {duration_s}
{window}
drain_s = 600
[models.asr]
from = "h100/asr"
max_batch = 1
[[workload]]
model = "asr"
arrivals = {arrivals}
size = {{ dist = "lognormal", median = 5.0, sigma = 0.6, min = 1.0, max = 30.0 }}
[slo]
"asr.p95_ms" = 60
[[variant]]
name = "one"
gpu = "h100-80gb"
gpus = [{{ regime = "dedicated", models = ["asr"] }}]
"#
    )
}

const RATES: [f64; 3] = [20.0, 80.0, 40.0];

#[test]
fn a_schedules_windows_equal_separate_runs_at_each_windows_rate() {
    let day = parse(&scenario(
        "{ process = \"poisson\", schedule = [[0, 20], [0.1, 80], [0.2, 40]] }",
        1080.0,
        "window_s = 360",
    ));
    let run = run(&day, 0, 7);
    assert_eq!(run.windows.len(), 3);
    for (k, (w, &rate)) in run.windows.iter().zip(&RATES).enumerate() {
        assert_eq!((w.start_s, w.end_s), (360.0 * k as f64, 360.0 * (k + 1) as f64));
        let (m, alone) = if k == 0 {
            // The first window: the same arrivals and sizes as a run at its rate that stops at
            // its end, so every figure is the same.
            let alone = run_alone(rate, 7);
            let (m, a) = (&w.models["asr"], &alone.models["asr"]);
            assert_eq!((m.completed, m.failed, m.throughput_rps), (a.completed, a.failed, a.throughput_rps));
            assert_eq!(m.latency_ms, a.latency_ms);
            assert_eq!(w.slo, alone.slo);
            (m.clone(), a.clone())
        } else {
            (w.models["asr"].clone(), run_alone(rate, 100 + k as u64).models["asr"].clone())
        };
        // Every window: counts within 4 s.d. of a Poisson count (sqrt(28800) = 170 at most),
        // percentiles within 5 % (a few thousand samples each: the p95's relative standard
        // error is about 2 %; the queue the window inherits from the one before lasts
        // milliseconds at these loads).
        let expected = rate * 360.0;
        assert!((m.completed as f64 - expected).abs() < 4.0 * expected.sqrt(), "window {k}: {} vs {expected}", m.completed);
        assert!((m.throughput_rps - alone.throughput_rps).abs() < 8.0 * (rate / 360.0).sqrt(), "window {k}");
        assert_close(m.latency_ms.p50, alone.latency_ms.p50, 0.05, &format!("window {k} p50"));
        assert_close(m.latency_ms.p95, alone.latency_ms.p95, 0.05, &format!("window {k} p95"));
    }
    // The run as a whole is every window together.
    let total: u64 = run.windows.iter().map(|w| w.models["asr"].completed).sum();
    assert_eq!(total, run.models["asr"].completed);
}

/// A run of one window's length at a constant `rate`.
fn run_alone(rate: f64, seed: u64) -> gpuslice::sim::RunSummary {
    let sc = parse(&scenario(&format!("{{ process = \"poisson\", rate_rps = {rate} }}"), 360.0, ""));
    run(&sc, 0, seed)
}

#[test]
fn without_window_s_the_report_has_no_windows_and_a_one_step_schedule_is_the_constant_rate() {
    let constant = run(&parse(&scenario("{ process = \"poisson\", rate_rps = 30 }", 300.0, "")), 0, 3);
    let one_step = run(&parse(&scenario("{ process = \"poisson\", schedule = [[0, 30]] }", 300.0, "")), 0, 3);
    assert!(constant.windows.is_empty());
    assert_eq!(
        serde_json::to_string(&constant).expect("json"),
        serde_json::to_string(&one_step).expect("json")
    );
}

#[test]
fn bad_schedules_and_windows_are_refused_naming_the_field_and_value() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("{ process = \"poisson\", schedule = [[0, 5], [1.5, 8], [1, 3]] }", "", &["workload[0].arrivals.schedule[2][0]", "'1' follows '1.5'"]),
        ("{ process = \"poisson\", schedule = [[0, 5], [3, 8]] }", "", &["workload[0].arrivals.schedule[1][0]", "'3'", "not before the end"]),
        ("{ process = \"poisson\", schedule = [[0, 5], [0.1, -2]] }", "", &["workload[0].arrivals.schedule[1][1]", "'-2'"]),
        ("{ process = \"poisson\", schedule = [[1, 5]] }", "", &["workload[0].arrivals.schedule[0][0]", "hour 0", "'1'"]),
        ("{ process = \"poisson\", schedule = [[0, 0]] }", "", &["workload[0].arrivals.schedule", "every rate is 0"]),
        ("{ process = \"poisson\", rate_rps = 5, schedule = [[0, 5]] }", "", &["workload[0].arrivals", "exactly one of 'rate_rps' or 'schedule'"]),
        ("{ process = \"diurnal\", peak_rps = 5, trough_rps = 9 }", "", &["workload[0].arrivals.trough_rps", "'9'", "peak_rps (5)"]),
        ("{ process = \"poisson\", rate_rps = 5 }", "window_s = 0", &["window_s", "'0'"]),
        ("{ process = \"poisson\", rate_rps = 5 }", "window_s = 1", &["window_s", "'1'", "7200 windows", "limit of 2000"]),
    ];
    for (arrivals, window, needles) in cases {
        let e = parse_err(&scenario(arrivals, 7200.0, window));
        assert!(!e.contains('\n'), "{e}");
        for n in *needles {
            assert!(e.contains(n), "{arrivals} {window}: '{n}' not in: {e}");
        }
    }
}

/// An autoscaler needs exactly one target, and a utilisation target is a percentage.
#[test]
fn bad_autoscaler_targets_are_refused_naming_the_field_and_value() {
    let cases: &[(&str, &[&str])] = &[
        ("target_utilization_pct = 0", &["autoscale.asr.target_utilization_pct", "'0'"]),
        ("target_utilization_pct = 120", &["autoscale.asr.target_utilization_pct", "'120'"]),
        ("target_utilization_pct = nan", &["autoscale.asr.target_utilization_pct", "'NaN'"]),
        ("target_utilization_pct = 60\ntarget_outstanding = 2", &["autoscale.asr.target_utilization_pct", "not both"]),
        ("", &["autoscale.asr.target_outstanding", "missing"]),
    ];
    for (table, needles) in cases {
        let text = scenario("{ process = \"poisson\", rate_rps = 5 }", 60.0, "")
            + &format!("[autoscale.asr]\nstartup_s = 30\n{table}\n");
        let e = parse_err(&text);
        assert!(!e.contains('\n'), "{e}");
        for n in *needles {
            assert!(e.contains(n), "{table}: '{n}' not in: {e}");
        }
    }
}
