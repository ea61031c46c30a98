//! The report of `gpuslice run`: every variant of a scenario side by side. Latency CDFs per
//! model and pipeline (variants as lines, the scenario's objectives as rules), throughput per
//! model and per GPU, busy time per GPU / MIG slice / tenant and its timeline, the GPU layout
//! with MIG slots, and failures per fault kind.

use super::svg::{self, Axis, Bars, GpuBox, GpuContent, HBars, HRow, LineChart, Rule, Series, Slot};
use super::{bullets, cards, figure, grid, ms, note, para, pct, slug, table, Cell, Page, Section};
use crate::deploy::Regime;
use crate::scenario::{Scenario, SloMetric, SloTarget, Target, Variant};
use crate::sim::detail::{Cdf, RunDetail};
use crate::sim::RunSummary;

/// What a run report is made of.
#[derive(Debug, Clone, Copy)]
pub struct RunInput<'a> {
    /// The scenario as run.
    pub scenario: &'a Scenario,
    /// Where it came from (a file, or the embedded default), for the page.
    pub source: &'a str,
    /// `--set` edits applied to it.
    pub edits: &'a [String],
    /// The seed.
    pub seed: u64,
    /// Each variant's summary, in variant order.
    pub runs: &'a [RunSummary],
    /// Each variant's curves and timeline, in variant order.
    pub details: &'a [RunDetail],
}

/// Colours of models in layout diagrams: dark enough for white labels, distinct from each other.
const MODEL_COLORS: [&str; 8] = [
    "#2f6f8f", "#8a5a9e", "#3b8a5a", "#b5543a", "#6b6f2f", "#5c5c8a", "#8f3b5f", "#3f7f7f",
];

/// A model's colour in layout diagrams, by its position in `names`.
pub(super) fn model_color<'a>(names: &'a [String]) -> impl Fn(&str) -> &'static str + 'a {
    move |m: &str| {
        names
            .iter()
            .position(|n| n == m)
            .map_or("#7b8794", |i| MODEL_COLORS[i % MODEL_COLORS.len()])
    }
}

/// The GPUs of a variant as the layout diagram draws them; `names` are the scenario's models.
pub(super) fn variant_boxes(v: &Variant, names: &[String]) -> Vec<GpuBox> {
    let name = |t: &Option<usize>| t.map_or_else(|| "empty".to_string(), |m| names.get(m).cloned().unwrap_or_default());
    v.gpus
        .iter()
        .enumerate()
        .map(|(g, plan)| {
            let tenants: Vec<String> = plan.tenants.iter().map(name).collect();
            let content = match &plan.regime {
                Regime::Mig { profiles } => {
                    let refs: Vec<&crate::gpu::MigProfile> = profiles.iter().collect();
                    match crate::gpu::place_profiles(&v.gpu, &refs) {
                        Ok(placed) => GpuContent::Mig(
                            placed
                                .iter()
                                .zip(&plan.tenants)
                                .map(|(p, t)| Slot {
                                    profile: p.profile.name.clone(),
                                    mem: p.mem_range(),
                                    compute: p.compute_range(),
                                    tenant: t.and_then(|m| names.get(m).cloned()),
                                })
                                .collect(),
                        ),
                        Err(_) => GpuContent::Whole(tenants.iter().map(|t| (t.clone(), 1.0)).collect()),
                    }
                }
                Regime::Mps { thread_pct, .. } => GpuContent::Whole(
                    tenants
                        .iter()
                        .enumerate()
                        .map(|(i, t)| (t.clone(), thread_pct.get(i).copied().unwrap_or(1.0)))
                        .collect(),
                ),
                _ => GpuContent::Whole(tenants.iter().map(|t| (t.clone(), 1.0)).collect()),
            };
            let regime = match &plan.regime {
                Regime::Mig { profiles } => format!("mig {}", profiles.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(",")),
                Regime::Mps { thread_pct, .. } => format!(
                    "mps {}",
                    thread_pct
                        .iter()
                        .map(|p| format!("{}%", svg::fixed(*p, 0)))
                        .collect::<Vec<_>>()
                        .join("/")
                ),
                r => r.label().to_string(),
            };
            GpuBox {
                label: format!("gpu {g} · {}", v.gpu.name),
                regime,
                content,
            }
        })
        .collect()
}

/// The objectives drawn on a latency chart: `(rule at the bound, the fraction it bounds)`.
fn rules_for(slos: &[&crate::scenario::Slo]) -> (Vec<Rule>, Vec<Rule>) {
    let mut v = Vec::new();
    let mut h = Vec::new();
    for s in slos {
        v.push(Rule {
            at: s.bound,
            label: format!("{} ≤ {} ms", s.key, ms(s.bound)),
        });
        let q = match s.metric {
            SloMetric::P50 => Some((0.5, "p50")),
            SloMetric::P95 | SloMetric::TtftP95 | SloMetric::FirstAudioP95 => Some((0.95, "p95")),
            SloMetric::P99 => Some((0.99, "p99")),
            _ => None,
        };
        if let Some((at, l)) = q {
            if !h.iter().any(|r: &Rule| r.at == at) {
                h.push(Rule { at, label: l.into() });
            }
        }
    }
    (v, h)
}

/// One CDF chart: a line per variant.
fn cdf_chart(id: &str, title: &str, what: &str, curves: &[(String, &Cdf)], slos: &[&crate::scenario::Slo]) -> Option<String> {
    let present: Vec<&(String, &Cdf)> = curves.iter().filter(|(_, c)| !c.is_empty()).collect();
    if present.is_empty() {
        return None;
    }
    let (vr, hr) = rules_for(slos);
    let all: Vec<&Cdf> = present.iter().map(|(_, c)| *c).collect();
    let hi = super::cdf_x_max(&all, &vr.iter().map(|r| r.at).collect::<Vec<_>>());
    let lo = super::cdf_x_min(&all, hi);
    let mut ch = LineChart::new(
        id,
        title,
        Axis::nice(format!("{what} [ms]"), lo, hi),
        Axis::fraction("requests at most this latency"),
    );
    for (i, (name, c)) in curves.iter().enumerate() {
        if c.is_empty() {
            continue;
        }
        ch.series.push(Series {
            name: name.clone(),
            color: svg::color(i),
            points: c.points.clone(),
            dashed: false,
            markers: false,
        });
    }
    ch.vrules = vr;
    ch.hrules = hr;
    let cap = if slos.is_empty() {
        format!("CDF of {what} over the measured requests, one line per variant (from the run's latency sketches, within {}). No objective in [slo] bounds it.", pct(crate::metrics::sketch::ALPHA, 1))
    } else {
        format!(
            "CDF of {what} over the measured requests, one line per variant (from the run's latency sketches, within {}). Red: the objectives of [slo] ({}); dotted: the percentile they bound.",
            pct(crate::metrics::sketch::ALPHA, 1),
            slos.iter().map(|s| s.key.as_str()).collect::<Vec<_>>().join(", ")
        )
    };
    Some(figure(svg::line_chart(&ch), &cap))
}

/// The best value of `value` over `runs` (the highest, or the lowest) as `text` prints it, and
/// every variant that has it at that precision: a tie names them all rather than an arbitrary one.
fn leaders<'a>(
    runs: impl Iterator<Item = &'a RunSummary> + Clone,
    value: impl Fn(&RunSummary) -> f64,
    text: impl Fn(f64) -> String,
    highest: bool,
) -> Option<(String, String)> {
    let finite = runs.filter(|r| value(r).is_finite());
    let best = finite
        .clone()
        .map(&value)
        .reduce(|a, b| if (b > a) == highest && b != a { b } else { a })?;
    let shown = text(best);
    let who: Vec<&str> = finite.filter(|r| text(value(r)) == shown).map(|r| r.name.as_str()).collect();
    Some((shown, who.join(", ")))
}

/// The summary at the top: key figures, what stands out, the table of every variant.
fn summary_section(inp: &RunInput) -> Section {
    let runs = inp.runs;
    let sc = inp.scenario;
    let mut b = String::new();
    let mut card = vec![(runs.len().to_string(), "variants compared".to_string())];
    let per_gpu = leaders(runs.iter(), |r| r.throughput_rps_per_gpu, |x| svg::fixed(x, 3), true);
    if let Some((v, who)) = per_gpu {
        card.push((v, format!("req/s per GPU, highest ({who})")));
    }
    if let Some((v, who)) = leaders(runs.iter().filter(|r| r.completed > 0), |r| r.latency_ms.p95, ms, false) {
        card.push((format!("{v} ms"), format!("p95 latency, lowest ({who})")));
    }
    if let Some((v, who)) = leaders(runs.iter(), |r| r.cost_per_hour_usd, |x| svg::fixed(x, 2), false) {
        card.push((format!("${v}/h"), format!("cheapest ({who})")));
    }
    let crashes: u64 = runs.iter().map(|r| r.failures.crashes).sum();
    let failed: u64 = runs.iter().map(|r| r.failed).sum();
    card.push((crashes.to_string(), "faults struck, all variants".into()));
    b.push_str(&cards(&card));
    let mut key = Vec::new();
    if !sc.slo.is_empty() {
        let meeting: Vec<&RunSummary> = runs.iter().filter(|r| r.slo.iter().all(|s| s.met)).collect();
        match meeting.iter().min_by(|a, b| a.cost_per_hour_usd.total_cmp(&b.cost_per_hour_usd)) {
            Some(c) => key.push(format!(
                "{} of {} variants meet every objective of [slo]; the cheapest of them is {} (${}/h, {} GPUs).",
                meeting.len(),
                runs.len(),
                c.name,
                svg::fixed(c.cost_per_hour_usd, 2),
                c.gpus
            )),
            None => key.push(format!("None of the {} variants meets every objective of [slo].", runs.len())),
        }
    } else {
        key.push("The scenario has no [slo]: no objective is drawn or judged.".into());
    }
    key.push(if failed == 0 {
        "Every measured request or turn completed in every variant.".to_string()
    } else {
        format!("{failed} measured requests or turns failed over all variants (see Failures).")
    });
    if runs.iter().any(|r| r.extrapolated) {
        let worst = runs.iter().map(|r| r.extrapolated_pct).fold(0.0, f64::max);
        key.push(format!(
            "Some service times were extrapolated: costed beyond the measured tables or on derived tables (another GPU type, a multi-GPU replica, an architecture), at most {} of the GPU time of a variant.",
            crate::out::table::lean_text(worst)
        ));
    }
    b.push_str(&bullets(&key));
    let mut head = vec![
        Cell::text("variant"),
        Cell::num("GPUs"),
        Cell::num("$/h"),
        Cell::num("completed"),
        Cell::num("failed"),
        Cell::num("req/s"),
        Cell::num("req/s per GPU"),
        Cell::num("p50 ms"),
        Cell::num("p95 ms"),
        Cell::num("p99 ms"),
    ];
    if !sc.slo.is_empty() {
        head.push(Cell::text("objectives"));
    }
    let rows: Vec<Vec<Cell>> = runs
        .iter()
        .map(|r| {
            let k = |m: &str| format!("{}/{m}", r.name);
            let mut row = vec![
                Cell::text(format!("{} ({} x {})", r.name, r.gpus, r.gpu_type)),
                Cell::metric(r.gpus.to_string(), k("gpus")),
                Cell::metric(svg::fixed(r.cost_per_hour_usd, 2), k("cost_per_hour_usd")),
                Cell::metric(r.completed.to_string(), k("completed")),
                Cell::metric(r.failed.to_string(), k("failed")),
                Cell::metric(svg::fixed(r.throughput_rps, 2), k("throughput_rps")),
                Cell::metric(svg::fixed(r.throughput_rps_per_gpu, 3), k("throughput_rps_per_gpu")),
                Cell::metric(ms(r.latency_ms.p50), k("latency_ms.p50")),
                Cell::metric(ms(r.latency_ms.p95), k("latency_ms.p95")),
                Cell::metric(ms(r.latency_ms.p99), k("latency_ms.p99")),
            ];
            if !sc.slo.is_empty() {
                let met = r.slo.iter().filter(|s| s.met).count();
                row.push(Cell {
                    class: Some(if met == r.slo.len() { "ok" } else { "fail" }),
                    ..Cell::text(format!("{met} of {} met", r.slo.len()))
                });
            }
            row
        })
        .collect();
    b.push_str(&table(&head, &rows));
    b.push_str(&note(
        "Latency is top-level: a request, or a whole turn of a pipeline, from its arrival to its last output.",
    ));
    Section::new("summary", "Summary", b)
}

/// The latency section: CDFs per model (and TTFT), per pipeline (turn and first audio), and the
/// objectives table.
fn latency_section(inp: &RunInput) -> Section {
    let sc = inp.scenario;
    let names: Vec<String> = sc.models.iter().map(|m| m.name.clone()).collect();
    let vnames: Vec<String> = inp.runs.iter().map(|r| r.name.clone()).collect();
    // Which objectives read model m's requests / workload w's turns.
    let model_of_slo = |s: &crate::scenario::Slo| match s.target {
        SloTarget::Model(m) => Some(m),
        SloTarget::Workload(w) => match &sc.workloads[w].target {
            Target::Model(m) => Some(*m),
            Target::Pipeline(_) => None,
        },
    };
    let latency_metric = |m: SloMetric| matches!(m, SloMetric::P50 | SloMetric::P95 | SloMetric::P99 | SloMetric::Mean);
    let mut figs = Vec::new();
    for (m, name) in names.iter().enumerate() {
        let curves: Vec<(String, &Cdf)> = inp
            .details
            .iter()
            .zip(&vnames)
            .filter_map(|(d, v)| d.models.get(m).map(|c| (v.clone(), &c.latency)))
            .collect();
        let slos: Vec<&crate::scenario::Slo> = sc
            .slo
            .iter()
            .filter(|s| model_of_slo(s) == Some(m) && latency_metric(s.metric))
            .collect();
        if let Some(f) = cdf_chart(
            &format!("cdf-{}", slug(name)),
            &format!("{name}: request latency"),
            &format!("{name} latency"),
            &curves,
            &slos,
        ) {
            figs.push(f);
        }
        let ttft: Vec<(String, &Cdf)> = inp
            .details
            .iter()
            .zip(&vnames)
            .filter_map(|(d, v)| d.models.get(m).and_then(|c| c.ttft.as_ref()).map(|c| (v.clone(), c)))
            .collect();
        if !ttft.is_empty() {
            let slos: Vec<&crate::scenario::Slo> = sc
                .slo
                .iter()
                .filter(|s| model_of_slo(s) == Some(m) && s.metric == SloMetric::TtftP95)
                .collect();
            if let Some(f) = cdf_chart(
                &format!("ttft-{}", slug(name)),
                &format!("{name}: time to first token"),
                &format!("{name} time to first token"),
                &ttft,
                &slos,
            ) {
                figs.push(f);
            }
        }
    }
    for (w, wl) in sc.workloads.iter().enumerate() {
        if !matches!(wl.target, Target::Pipeline(_)) {
            continue;
        }
        let pick = |f: &dyn Fn(&crate::sim::detail::PipelineCurves) -> &Cdf| -> Vec<(String, &Cdf)> {
            inp.details
                .iter()
                .zip(&vnames)
                .filter_map(|(d, v)| d.pipelines.iter().find(|p| p.workload == wl.name).map(|p| (v.clone(), f(p))))
                .collect()
        };
        let slos = |metric: &dyn Fn(SloMetric) -> bool| -> Vec<&crate::scenario::Slo> {
            sc.slo
                .iter()
                .filter(|s| s.target == SloTarget::Workload(w) && metric(s.metric))
                .collect()
        };
        if let Some(f) = cdf_chart(
            &format!("turn-{}", slug(&wl.name)),
            &format!("{}: turn latency (pipeline)", wl.name),
            &format!("{} turn latency", wl.name),
            &pick(&|p| &p.latency),
            &slos(&latency_metric),
        ) {
            figs.push(f);
        }
        if let Some(f) = cdf_chart(
            &format!("audio-{}", slug(&wl.name)),
            &format!("{}: time to first audio", wl.name),
            &format!("{} time to first audio", wl.name),
            &pick(&|p| &p.first_audio),
            &slos(&|m| m == SloMetric::FirstAudioP95),
        ) {
            figs.push(f);
        }
    }
    let mut b = grid(&figs);
    if !sc.slo.is_empty() {
        let mut head = vec![Cell::text("objective"), Cell::num("bound")];
        head.extend(inp.runs.iter().map(|r| Cell::num(r.name.clone())));
        let rows: Vec<Vec<Cell>> = sc
            .slo
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut row = vec![
                    Cell::text(s.key.clone()),
                    Cell::num(format!("{} {}", if s.is_max() { "≤" } else { "≥" }, slo_text(s.metric, s.bound))),
                ];
                for r in inp.runs {
                    row.push(match r.slo.get(i) {
                        Some(v) => Cell {
                            class: Some(if v.met { "ok" } else { "fail" }),
                            key: Some(format!("{}/slo/{}", r.name, s.key)),
                            ..Cell::num(v.value.map_or("none".into(), |x| slo_text(s.metric, x)))
                        },
                        None => Cell::num("-"),
                    });
                }
                row
            })
            .collect();
        b.push_str("<h3>Objectives</h3>\n");
        b.push_str(&table(&head, &rows));
        b.push_str(&note("Green: met; red: missed (no measured request also misses)."));
    }
    Section::new("latency", "Latency", b)
}

/// An objective's value as the tables print it: ms, or a percentage for availability.
pub(super) fn slo_text(metric: SloMetric, v: f64) -> String {
    if metric == SloMetric::Availability {
        pct(v, 2)
    } else {
        ms(v)
    }
}

/// Throughput per model and per GPU.
fn throughput_section(inp: &RunInput) -> Section {
    let sc = inp.scenario;
    let runs = inp.runs;
    let mut cats = vec!["all (top level)".to_string()];
    cats.extend(sc.models.iter().map(|m| m.name.clone()));
    let series: Vec<(String, &'static str)> = runs.iter().enumerate().map(|(i, r)| (r.name.clone(), svg::color(i))).collect();
    let values: Vec<Vec<Option<f64>>> = cats
        .iter()
        .enumerate()
        .map(|(k, c)| {
            runs.iter()
                .map(|r| {
                    if k == 0 {
                        Some(r.throughput_rps)
                    } else {
                        r.models.get(c).map(|m| m.throughput_rps)
                    }
                })
                .collect()
        })
        .collect();
    let a = svg::bar_chart(&Bars {
        id: "throughput".into(),
        title: "Throughput per model".into(),
        categories: cats,
        x_label: "what completes (top level: requests, or turns of a pipeline)".into(),
        series: series.clone(),
        values,
        y_label: "throughput [req/s]".into(),
        decimals: 2,
        rule: None,
    });
    let b = svg::bar_chart(&Bars {
        id: "throughput-per-gpu".into(),
        title: "Top-level throughput per GPU".into(),
        categories: vec!["per GPU".into(), "per $/h".into()],
        x_label: "throughput divided by the variant's GPUs, or by its price".into(),
        series,
        values: vec![
            runs.iter().map(|r| Some(r.throughput_rps_per_gpu)).collect(),
            runs.iter()
                .map(|r| (r.cost_per_hour_usd > 0.0).then(|| r.throughput_rps / r.cost_per_hour_usd))
                .collect(),
        ],
        y_label: "throughput [req/s per GPU, or per $/h]".into(),
        decimals: 3,
        rule: None,
    });
    let body = grid(&[
        figure(a, "Completions per second in the measurement window, per variant."),
        figure(
            b,
            "The same top-level throughput per GPU of the variant and per dollar-hour of its price.",
        ),
    ]);
    Section::new("throughput", "Throughput", body)
}

/// Busy time per GPU, slice and tenant, and its timeline.
fn utilisation_section(inp: &RunInput) -> Section {
    let groups: Vec<(String, Vec<HRow>)> = inp
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                r.name.clone(),
                r.gpu_utilization
                    .iter()
                    .map(|u| HRow {
                        label: format!("gpu {} · {}", u.gpu, u.partition),
                        value: u.busy_fraction,
                        color: svg::color(i),
                        sub: u.partition.starts_with("ts:") || u.partition.starts_with("mps:"),
                    })
                    .collect(),
            )
        })
        .collect();
    let bars = svg::hbar_chart(&HBars {
        id: "busy".into(),
        title: "Busy time per GPU, MIG slice and tenant".into(),
        groups,
        axis: Axis::fraction("busy fraction of the measurement window"),
    });
    let mut b = figure(
        bars,
        "Fraction of the measurement window each GPU or MIG instance was executing work; indented: each tenant of a time-sliced or MPS GPU (its own kernels).",
    );
    let mut figs = Vec::new();
    for (v, (r, d)) in inp.runs.iter().zip(inp.details).enumerate() {
        if d.devices.is_empty() {
            continue;
        }
        let first = &d.devices[0];
        let n = first.busy.len();
        let end = first.start_s + first.bin_s * n as f64;
        let mut ch = LineChart::new(
            format!("timeline-{}", slug(&r.name)),
            format!("{}: utilisation over time", r.name),
            Axis::exact("simulated time [s]", first.start_s, end),
            Axis::fraction("busy fraction per window"),
        );
        ch.height = 300.0;
        let mut k = 0;
        let steps = |start: f64, bin: f64, ys: &[f64]| -> Vec<(f64, f64)> {
            let mut p = Vec::with_capacity(ys.len() * 2);
            for (i, &y) in ys.iter().enumerate() {
                p.push((start + bin * i as f64, y));
                p.push(((start + bin * (i + 1) as f64).min(end), y));
            }
            p
        };
        for dv in &d.devices {
            ch.series.push(Series {
                name: format!("gpu {} · {}", dv.gpu, dv.label),
                color: svg::color(k),
                points: steps(dv.start_s, dv.bin_s, &dv.busy),
                dashed: false,
                markers: false,
            });
            k += 1;
            for (label, ys) in &dv.contexts {
                ch.series.push(Series {
                    name: format!("gpu {} · {label}", dv.gpu),
                    color: svg::color(k),
                    points: steps(dv.start_s, dv.bin_s, ys),
                    dashed: true,
                    markers: false,
                });
                k += 1;
            }
        }
        figs.push(figure(
            svg::line_chart(&ch),
            &format!(
                "Variant {} ({}): busy fraction of each GPU or MIG instance per {} s window of the measurement window; dashed: a shared GPU's tenants.",
                v + 1,
                r.name,
                svg::fixed(first.bin_s, 2)
            ),
        ));
    }
    b.push_str("<h3>Timeline</h3>\n");
    b.push_str(&grid(&figs));
    Section::new("utilisation", "Utilisation", b)
}

/// The GPU layout of every variant, MIG slots included.
fn layout_section(inp: &RunInput) -> Section {
    let names: Vec<String> = inp.scenario.models.iter().map(|m| m.name.clone()).collect();
    let groups: Vec<(String, Vec<GpuBox>)> = inp
        .scenario
        .variants
        .iter()
        .map(|v| (format!("{} ({} x {})", v.name, v.gpus.len(), v.gpu.name), variant_boxes(v, &names)))
        .collect();
    let color = model_color(&names);
    let svg = svg::gpu_layout("layout", "GPU layout and MIG slots", &groups, &color);
    Section::new(
        "layout",
        "GPU layout",
        figure(
            svg,
            &format!(
                "Each variant's GPUs: a MIG GPU shows its instances on the {} memory slots and {} compute slices they occupy; a time-sliced GPU is split equally among its tenants, an MPS GPU by their SM shares (active-thread percentage).",
                crate::gpu::mig::MEM_SLOTS,
                crate::gpu::mig::COMPUTE_SLICES
            ),
        ),
    )
}

/// Failures per fault kind and per cause, and availability.
fn failures_section(inp: &RunInput) -> Section {
    let runs = inp.runs;
    let series: Vec<(String, &'static str)> = runs.iter().enumerate().map(|(i, r)| (r.name.clone(), svg::color(i))).collect();
    let kinds: Vec<String> = runs
        .first()
        .map(|r| r.failures.by_kind.keys().cloned().collect())
        .unwrap_or_default();
    let crashes = svg::bar_chart(&Bars {
        id: "faults".into(),
        title: "Faults struck, per kind".into(),
        categories: kinds.clone(),
        x_label: "fault kind".into(),
        series: series.clone(),
        values: kinds
            .iter()
            .map(|k| runs.iter().map(|r| r.failures.by_kind.get(k).map(|f| f.crashes as f64)).collect())
            .collect(),
        y_label: "faults [count]".into(),
        decimals: 0,
        rule: None,
    });
    let causes = ["lost in a fault", "rejected", "timed out", "unfinished"];
    let failed = svg::bar_chart(&Bars {
        id: "failed".into(),
        title: "Failed requests, per cause".into(),
        categories: causes.iter().map(|s| s.to_string()).collect(),
        x_label: "why it failed".into(),
        series,
        values: (0..causes.len())
            .map(|k| {
                runs.iter()
                    .map(|r| {
                        let f = &r.failures;
                        Some([f.lost_requests, f.rejected_requests, f.timed_out, f.unfinished][k] as f64)
                    })
                    .collect()
            })
            .collect(),
        y_label: "requests [count]".into(),
        decimals: 0,
        rule: None,
    });
    let struck: u64 = runs.iter().map(|r| r.failures.crashes).sum();
    let mut b = String::new();
    if struck == 0 {
        b.push_str(&para(
            "No fault struck in any variant (the scenario injects none, or none came before the end).",
        ));
    }
    b.push_str(&grid(&[
        figure(
            crashes,
            "Faults that struck a running server, per kind and variant (the kind sets the blast radius).",
        ),
        figure(failed, "Measured requests that failed, by cause, per variant."),
    ]));
    let models: Vec<String> = runs
        .first()
        .map(|r| r.failures.availability.keys().cloned().collect())
        .unwrap_or_default();
    let mut head = vec![Cell::text("variant")];
    head.extend(models.iter().map(|m| Cell::num(format!("{m} availability"))));
    let rows: Vec<Vec<Cell>> = runs
        .iter()
        .map(|r| {
            let mut row = vec![Cell::text(r.name.clone())];
            row.extend(models.iter().map(|m| {
                Cell::metric(
                    r.failures.availability.get(m).map_or("-".into(), |a| pct(*a, 2)),
                    format!("{}/failures.availability.{m}", r.name),
                )
            }));
            row
        })
        .collect();
    b.push_str(&table(&head, &rows));
    Section::new("failures", "Failures", b)
}

/// The run report page.
pub fn run_report(inp: &RunInput) -> String {
    let sc = inp.scenario;
    let mut sub = format!(
        "Seed {} · {} variants · {} s simulated, measured from {} s",
        inp.seed,
        inp.runs.len(),
        svg::fixed(crate::time::to_secs(sc.duration), 0),
        svg::fixed(crate::time::to_secs(sc.warmup), 0)
    );
    if !sc.description.is_empty() {
        sub = format!("{} · {sub}", sc.description);
    }
    if !inp.edits.is_empty() {
        sub.push_str(&format!(" · edits: {}", inp.edits.join(", ")));
    }
    Page {
        kind: "run",
        title: format!("{}: run report", sc.name),
        subtitle: sub,
        sections: vec![
            summary_section(inp),
            latency_section(inp),
            throughput_section(inp),
            utilisation_section(inp),
            layout_section(inp),
            failures_section(inp),
        ],
        source: format!("gpuslice run {} --seed {}", inp.source, inp.seed),
    }
    .render()
}
