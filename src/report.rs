//! Reports: the JSON document and the side-by-side table of `gpuslice run`.

use crate::sim::RunSummary;
use serde::Serialize;

/// The JSON document of `gpuslice run --format json`.
#[derive(Debug, Serialize)]
pub struct RunReport<'a> {
    /// Scenario name.
    pub scenario: &'a str,
    /// Seed.
    pub seed: u64,
    /// One entry per variant, in file order.
    pub variants: &'a [RunSummary],
}

/// Serialise a report as one pretty JSON document with a trailing newline.
pub fn to_json<T: Serialize>(r: &T) -> String {
    let mut s = serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

fn fmt_ms(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}s", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A table with one column per variant, readable at 100 columns for up to 4 variants.
pub fn table(scenario: &str, seed: u64, runs: &[RunSummary]) -> String {
    let label_w = 24;
    let col_w = (76 / runs.len().max(1)).clamp(12, 24);
    let mut out = format!("scenario: {scenario}   seed: {seed}\n");
    let mut row = |label: &str, vals: Vec<String>| {
        out.push_str(&format!("{label:<label_w$}"));
        for v in vals {
            let v: String = v.chars().take(col_w - 1).collect();
            out.push_str(&format!("{v:>col_w$}"));
        }
        out.push('\n');
    };
    row("variant", runs.iter().map(|r| r.name.clone()).collect());
    row("GPUs", runs.iter().map(|r| format!("{} x {}", r.gpus, r.gpu_type)).collect());
    row("cost $/h", runs.iter().map(|r| format!("{:.2}", r.cost_per_hour_usd)).collect());
    row(
        "completed / failed",
        runs.iter().map(|r| format!("{} / {}", r.completed, r.failed)).collect(),
    );
    row(
        "throughput req/s",
        runs.iter().map(|r| format!("{:.2}", r.throughput_rps)).collect(),
    );
    row(
        "  per GPU",
        runs.iter().map(|r| format!("{:.3}", r.throughput_rps_per_gpu)).collect(),
    );
    row(
        "latency p50/p95 ms",
        runs.iter()
            .map(|r| format!("{}/{}", fmt_ms(r.latency_ms.p50), fmt_ms(r.latency_ms.p95)))
            .collect(),
    );
    let mut names: Vec<&String> = runs.iter().flat_map(|r| r.stages.keys()).collect();
    names.sort();
    names.dedup();
    for p in names {
        row(&format!("pipeline {p}"), vec![String::new(); runs.len()]);
        let get = |r: &RunSummary| r.stages.get(p).cloned();
        row(
            "  turns/s per GPU",
            runs.iter()
                .map(|r| get(r).map_or("-".into(), |s| format!("{:.3}", s.turns_per_s / r.gpus as f64)))
                .collect(),
        );
        row(
            "  turn mean/p95 ms",
            runs.iter()
                .map(|r| {
                    get(r).map_or("-".into(), |s| {
                        format!("{}/{}", fmt_ms(s.latency_ms.mean), fmt_ms(s.latency_ms.p95))
                    })
                })
                .collect(),
        );
        row(
            "  availability",
            runs.iter()
                .map(|r| get(r).map_or("-".into(), |s| format!("{:.2}%", s.availability * 100.0)))
                .collect(),
        );
        row(
            "  first audio p50 ms",
            runs.iter()
                .map(|r| get(r).map_or("-".into(), |s| fmt_ms(s.time_to_first_audio_ms.p50)))
                .collect(),
        );
        let n_stages = runs.iter().filter_map(get).map(|s| s.stages.len()).max().unwrap_or(0);
        for k in 0..n_stages {
            let label = runs
                .iter()
                .filter_map(get)
                .find_map(|s| s.stages.get(k).map(|x| x.model.clone()))
                .unwrap_or_default();
            row(
                &format!("  {label} mean/p95 ms"),
                runs.iter()
                    .map(|r| {
                        get(r)
                            .and_then(|s| {
                                s.stages
                                    .get(k)
                                    .map(|x| format!("{}/{}", fmt_ms(x.latency_ms.mean), fmt_ms(x.latency_ms.p95)))
                            })
                            .unwrap_or("-".into())
                    })
                    .collect(),
            );
        }
    }
    let mut models: Vec<&String> = runs.iter().flat_map(|r| r.models.keys()).collect();
    models.sort();
    models.dedup();
    for m in models {
        row(
            &format!("{m} p50/p95 ms"),
            runs.iter()
                .map(|r| {
                    r.models
                        .get(m)
                        .map_or("-".into(), |s| format!("{}/{}", fmt_ms(s.latency_ms.p50), fmt_ms(s.latency_ms.p95)))
                })
                .collect(),
        );
        row(
            &format!("{m} req/s"),
            runs.iter()
                .map(|r| r.models.get(m).map_or("-".into(), |s| format!("{:.2}", s.throughput_rps)))
                .collect(),
        );
    }
    // SLO verdicts, in [slo] order (every run of a scenario has the same SLOs).
    for (k, v) in runs.first().map_or(&[][..], |r| &r.slo[..]).iter().enumerate() {
        let op = if v.key.ends_with("availability") { ">=" } else { "<=" };
        row(
            &format!("SLO {} {op} {}", v.key, v.bound),
            runs.iter()
                .map(|r| {
                    r.slo.get(k).map_or("-".into(), |x| {
                        let val = x
                            .value
                            .map_or("none".into(), |v| if op == ">=" { format!("{v:.4}") } else { fmt_ms(v) });
                        format!("{val} {}", if x.met { "ok" } else { "FAIL" })
                    })
                })
                .collect(),
        );
    }
    row(
        "lost / timed out",
        runs.iter()
            .map(|r| format!("{} / {}", r.failures.lost_requests, r.failures.timed_out))
            .collect(),
    );
    let max_parts = runs.iter().map(|r| r.gpu_utilization.len()).max().unwrap_or(0);
    for k in 0..max_parts {
        row(
            if k == 0 { "busy (gpu:part)" } else { "" },
            runs.iter()
                .map(|r| {
                    r.gpu_utilization.get(k).map_or(String::new(), |u| {
                        format!("{}:{} {:.0}%", u.gpu, u.partition, u.busy_fraction * 100.0)
                    })
                })
                .collect(),
        );
    }
    if runs.iter().any(|r| r.extrapolated) {
        row(
            "extrapolated",
            runs.iter()
                .map(|r| if r.extrapolated { "yes".into() } else { "no".into() })
                .collect(),
        );
        out.push_str("(extrapolated: service times derived for another GPU type or beyond the measured tables; see README)\n");
    }
    out
}
