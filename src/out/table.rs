//! The side-by-side table of `gpuslice run`, and its JSON document.

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

fn fmt_ms(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}s", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Widest line of the `run` table [characters]; more variants than fit wrap into blocks.
pub const TABLE_WIDTH: usize = 120;

/// A table with one column per variant. As many variants as fit in [`TABLE_WIDTH`] columns sit
/// side by side; more wrap into blocks of columns, each block repeating the row labels, so that
/// full names and units stay readable with a dozen variants (a transposed table would need one
/// column per metric, far wider). Cells are never cut: columns are as wide as the widest cell.
pub fn table(scenario: &str, seed: u64, runs: &[RunSummary]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: &str, vals: Vec<String>| rows.push((label.to_string(), vals));
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
    if runs.iter().any(|r| r.conversations.is_some()) {
        row(
            "conversations mean/max",
            runs.iter()
                .map(|r| {
                    r.conversations
                        .as_ref()
                        .map_or("-".into(), |c| format!("{:.1} / {}", c.active_mean, c.active_max))
                })
                .collect(),
        );
    }
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
        let op = if v.metric.is_max() { "<=" } else { ">=" };
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
    if runs.iter().any(|r| r.autoscale.is_some()) {
        let get = |f: fn(&crate::sim::AutoscaleSummary) -> String| -> Vec<String> {
            runs.iter().map(|r| r.autoscale.as_ref().map_or("-".into(), f)).collect()
        };
        row("autoscaled GPU-hours", get(|a| format!("{:.2} of {:.2}", a.gpu_hours, a.static_gpu_hours)));
        row("  $/day (static)", get(|a| format!("{:.2} ({:.2})", a.usd_per_day, a.static_usd_per_day)));
        let mut scaled: Vec<&String> = runs.iter().flat_map(|r| r.autoscale.iter().flat_map(|a| a.models.keys())).collect();
        scaled.sort();
        scaled.dedup();
        for m in scaled {
            row(
                &format!("  {m} replicas min/mean/max"),
                get_model(runs, m),
            );
        }
    }
    let extrapolated = runs.iter().any(|r| r.extrapolated);
    if extrapolated {
        row(
            "extrapolated GPU time",
            runs.iter()
                .map(|r| if r.extrapolated { lean_text(r.extrapolated_pct) } else { "no".into() })
                .collect(),
        );
    }
    let mut out = format!("scenario: {scenario}   seed: {seed}\n");
    out.push_str(&render_blocks(&rows, runs.len()));
    if extrapolated {
        out.push_str("(extrapolated GPU time: share costed beyond the measured tables or on derived ones; docs/src/model/service-tables.md)\n");
    }
    for r in runs.iter().filter(|r| !r.windows.is_empty()) {
        out.push_str(&windows_table(r));
    }
    out
}

/// Each run's running replicas of autoscaled model `m`: fewest / time-weighted mean / most.
fn get_model(runs: &[RunSummary], m: &str) -> Vec<String> {
    runs.iter()
        .map(|r| {
            r.autoscale
                .as_ref()
                .and_then(|a| a.models.get(m))
                .map_or("-".into(), |s| format!("{}/{:.2}/{}", s.min_running, s.mean_running, s.max_running))
        })
        .collect()
}

/// One line per report window of a run with `window_s`: per model completed, req/s and
/// p50/p95/p99, per pipeline turns and first audio p95, and which objectives the window met.
fn windows_table(r: &RunSummary) -> String {
    let mut head = vec!["window h".to_string()];
    let first = &r.windows[0];
    for m in first.models.keys() {
        head.extend([format!("{m} n"), format!("{m} req/s"), format!("{m} p50/p95/p99 ms")]);
    }
    for p in first.stages.keys() {
        head.extend([format!("{p} turns"), format!("{p} first audio p95")]);
    }
    for m in first.replicas.keys() {
        head.push(format!("{m} replicas"));
    }
    if !first.slo.is_empty() {
        head.push("SLO".into());
    }
    let mut lines = vec![head];
    for w in &r.windows {
        let mut line = vec![format!("{:.2}-{:.2}", w.start_s / 3600.0, w.end_s / 3600.0)];
        for s in w.models.values() {
            let l = &s.latency_ms;
            line.extend([
                s.completed.to_string(),
                format!("{:.2}", s.throughput_rps),
                format!("{}/{}/{}", fmt_ms(l.p50), fmt_ms(l.p95), fmt_ms(l.p99)),
            ]);
        }
        for p in w.stages.values() {
            line.extend([p.completed.to_string(), fmt_ms(p.time_to_first_audio_ms.p95)]);
        }
        for n in w.replicas.values() {
            line.push(format!("{n:.2}"));
        }
        if !w.slo.is_empty() {
            let failed: Vec<&str> = w.slo.iter().filter(|v| !v.met).map(|v| v.key.as_str()).collect();
            line.push(if failed.is_empty() { "ok".into() } else { format!("FAIL {}", failed.join(",")) });
        }
        lines.push(line);
    }
    let n = lines[0].len();
    let widths: Vec<usize> = (0..n)
        .map(|c| lines.iter().map(|l| l.get(c).map_or(0, |x| x.chars().count())).max().unwrap_or(0))
        .collect();
    let mut out = format!("\nwindows of {}:\n", r.name);
    for l in &lines {
        let cells: Vec<String> = l
            .iter()
            .enumerate()
            .map(|(c, x)| if c == 0 { format!("{x:<w$}", w = widths[c]) } else { format!("{x:>w$}", w = widths[c]) })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// ` *` and how far a candidate leans on extrapolation, or nothing.
pub fn extrapolated_mark(extrapolated: bool, pct: f64) -> String {
    if extrapolated {
        format!(" * ({} of GPU time)", lean_text(pct))
    } else {
        String::new()
    }
}

/// How far a run flagged extrapolated leans on it, as the tables write it: `12.5%`, `<0.1%` for
/// a trace (a call or two).
pub fn lean_text(pct: f64) -> String {
    if pct < 0.1 {
        "<0.1%".into()
    } else {
        format!("{pct:.1}%")
    }
}

/// Lay out labelled rows of `n` columns: the label column, then the value columns right-aligned,
/// as many per block as fit in [`TABLE_WIDTH`] (at least one), blocks separated by a blank line.
/// Columns share one width, the old 76-column split for a few variants, or the widest cell plus
/// a space of padding when that is wider.
fn render_blocks(rows: &[(String, Vec<String>)], n: usize) -> String {
    let width = |s: &str| s.chars().count();
    let label_w = rows.iter().map(|(l, _)| width(l) + 1).max().unwrap_or(0).max(24);
    let widest = rows.iter().flat_map(|(_, v)| v.iter().map(|c| width(c))).max().unwrap_or(0);
    let col_w = (76 / n.max(1)).clamp(12, 24).max(widest + 2);
    let per_block = (TABLE_WIDTH.saturating_sub(label_w) / col_w).max(1);
    let mut out = String::new();
    for (b, first) in (0..n.max(1)).step_by(per_block).enumerate() {
        if b > 0 {
            out.push('\n');
        }
        let cols = first..(first + per_block).min(n);
        for (label, vals) in rows {
            out.push_str(&format!("{label:<label_w$}"));
            for v in &vals[cols.clone()] {
                out.push_str(&format!("{v:>col_w$}"));
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scenario with `n` variants named long enough that the old fixed-width table cut them.
    fn many_variants(n: usize) -> Vec<RunSummary> {
        let mut text = String::from(
            r#"
name = "many"
duration_s = 3
warmup_s = 0
[models.asr]
from = "h100/asr"
[[workload]]
model = "asr"
arrivals = { process = "poisson", rate_rps = 20 }
size = { dist = "fixed", value = 5.0 }
"#,
        );
        for v in 0..n {
            text.push_str(&format!(
                "[[variant]]\nname = \"dedicated-h100-replica-{v:02}\"\ngpu = \"h100-80gb\"\ngpus = [{{ regime = \"dedicated\", models = [\"asr\"] }}]\n"
            ));
        }
        let sc = crate::scenario::files::parse_scenario(&text, "many.toml", None).expect("valid");
        crate::sim::run_scenario(&sc, 1).expect("runs")
    }

    #[test]
    fn twelve_variants_wrap_into_blocks_with_full_names_and_units() {
        let runs = many_variants(12);
        let t = table("many", 1, &runs);
        for l in t.lines() {
            assert!(l.chars().count() <= TABLE_WIDTH, "line of {} characters:\n{l}", l.chars().count());
        }
        for r in &runs {
            assert_eq!(
                t.matches(&format!(" {}", r.name)).count(),
                1,
                "{} appears once, whole:\n{t}",
                r.name
            );
        }
        let blocks = t.matches("\nvariant ").count();
        assert!(blocks >= 2, "wrapped:\n{t}");
        // Every block repeats every label, units included.
        assert_eq!(t.matches("latency p50/p95 ms").count(), blocks, "{t}");
        assert_eq!(t.matches("cost $/h").count(), blocks, "{t}");
        // The columns of a block line up: every row of a block has the same length.
        for block in t.split("\n\n") {
            let lens: Vec<usize> = block
                .lines()
                .filter(|l| !l.starts_with("scenario:") && !l.starts_with('('))
                .map(|l| l.chars().count())
                .collect();
            assert!(lens.windows(2).all(|w| w[0] == w[1]), "ragged block:\n{block}");
        }
    }

    #[test]
    fn a_few_variants_stay_in_one_block() {
        let runs = many_variants(3);
        let t = table("many", 1, &runs);
        assert!(!t.contains("\n\n"), "{t}");
        // The default study stays in one block of at most 120 characters.
        let sc = crate::scenario::files::default_scenario().expect("default scenario");
        let t = table(&sc.name, 1, &crate::sim::run_scenario(&sc, 1).expect("runs"));
        assert!(!t.contains("\n\n"), "{t}");
        assert!(t.lines().all(|l| l.chars().count() <= 120), "{t}");
    }
}
