//! The report of `gpuslice plan`: the best candidate and the best per regime, the ranked
//! candidates with each objective's margin, the GPU count and price against load (with
//! `--load-range`), and the layout: the best plan's GPUs on nodes as `--emit-k8s` lays them out,
//! with their MIG slots, and each regime's best.

use super::run::{model_color, slo_text, variant_boxes};
use super::svg::{self, Axis, Bars, GpuBox, LineChart, Rule, Series};
use super::{bullets, cards, figure, grid, note, para, pct, table, Cell, Page, Section};
use crate::out::k8s;
use crate::plan::{Candidate, PlanResult};

/// The cheapest plan at each load level of `--load-range`, all of one GPU type and regime.
#[derive(Debug, Clone)]
pub struct Projection<'a> {
    /// `users` or `multiplier`.
    pub unit: &'a str,
    /// Each level `(load, its cheapest candidate of the kept family; None: none meets the objectives)`.
    pub levels: Vec<(f64, Option<&'a Candidate>)>,
    /// Which GPU type and regime was kept, and why (a sentence).
    pub family: String,
}

/// What a plan report is made of.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    /// The spec file.
    pub spec: &'a str,
    /// `--set` edits applied to it.
    pub edits: &'a [String],
    /// The plan at the spec's own load.
    pub result: &'a PlanResult,
    /// With `--load-range`: the projection.
    pub projection: Option<Projection<'a>>,
}

/// Candidates whose margins the chart shows (the table lists them all).
const MARGIN_TOP: usize = 10;

/// A load level as the tables print it: whole users, or a multiplier with two decimals.
fn load_text(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        svg::fixed(x, 0)
    } else {
        svg::fixed(x, 2)
    }
}

/// A candidate's headroom; at the top of the planner's search it is a lower bound.
fn headroom_text(c: &Candidate) -> String {
    let cap = (crate::plan::MAX_LOAD_FACTOR - 1.0) * 100.0;
    match c.headroom_pct {
        Some(h) if h >= cap => format!("≥ +{}%", svg::fixed(cap, 0)),
        Some(h) => format!("+{}%", svg::fixed(h, 0)),
        None => "-".into(),
    }
}

fn summary_section(inp: &PlanInput) -> Section {
    let r = inp.result;
    let mut b = String::new();
    match &r.best {
        Some(best) => {
            b.push_str(&cards(&[
                (best.gpus.to_string(), format!("GPUs ({})", best.gpu_type)),
                (
                    format!("${}/h", svg::fixed(best.cost_per_hour_usd, 2)),
                    "price of the cheapest plan".into(),
                ),
                (headroom_text(best), "load growth it absorbs (headroom)".into()),
                (best.regime.name().to_string(), "regime".into()),
                (
                    r.simulations.to_string(),
                    format!("simulations ({} structures, {} skipped by their bound)", r.structures, r.pruned),
                ),
            ]));
            b.push_str(&para(&format!("Best: {}.", best.name)));
        }
        None => {
            b.push_str(&cards(&[
                ("none".into(), "candidate meets every objective".into()),
                (r.simulations.to_string(), format!("simulations ({} structures)", r.structures)),
            ]));
            b.push_str(&para(&format!(
                "No plan: {}.",
                r.reason.as_deref().unwrap_or("no candidate meets the objectives")
            )));
            if let Some(c) = r.closest() {
                b.push_str(&para(&format!("Closest: {} (breaks {}).", c.name, c.broken.join(", "))));
            }
        }
    }
    let mut key: Vec<String> = r
        .per_regime
        .iter()
        .map(|(regime, c)| match c {
            Some(c) => format!("{regime}: {} GPUs, ${}/h ({})", c.gpus, svg::fixed(c.cost_per_hour_usd, 2), c.name),
            None => format!("{regime}: no candidate meets the objectives"),
        })
        .collect();
    if let Some(p) = &inp.projection {
        let met = p.levels.iter().filter(|l| l.1.is_some()).count();
        key.push(format!(
            "Projection over {} load levels ({}): {met} have a plan.",
            p.levels.len(),
            p.unit
        ));
    }
    b.push_str(&bullets(&key));
    let head = [
        Cell::text("objective"),
        Cell::num("bound"),
        Cell::num("best's worst value over the seeds"),
    ];
    let rows: Vec<Vec<Cell>> = r
        .slo
        .iter()
        .map(|s| {
            let v = r.best.as_ref().and_then(|b| b.slo_values.get(&s.key).copied().flatten());
            vec![
                Cell::text(s.key.clone()),
                Cell::num(format!("{} {}", if s.is_max() { "≤" } else { "≥" }, slo_text(s.metric, s.bound))),
                Cell::metric(v.map_or("-".into(), |x| slo_text(s.metric, x)), format!("best/slo/{}", s.key)),
            ]
        })
        .collect();
    b.push_str(&table(&head, &rows));
    Section::new("summary", "Summary", b)
}

fn regimes_section(inp: &PlanInput) -> Section {
    let r = inp.result;
    let cats: Vec<String> = r.per_regime.keys().cloned().collect();
    let chart = svg::bar_chart(&Bars {
        id: "per-regime".into(),
        title: "Cheapest plan per regime".into(),
        categories: cats.clone(),
        x_label: "regime (no bar: none meets the objectives)".into(),
        series: vec![("$/h".into(), svg::color(0))],
        values: r
            .per_regime
            .values()
            .map(|c| vec![c.as_ref().map(|c| c.cost_per_hour_usd)])
            .collect(),
        y_label: "price [$/h]".into(),
        decimals: 2,
        rule: None,
    });
    let head = [
        Cell::text("regime"),
        Cell::num("GPUs"),
        Cell::num("$/h"),
        Cell::num("headroom"),
        Cell::text("deployment"),
    ];
    let rows: Vec<Vec<Cell>> = r
        .per_regime
        .iter()
        .map(|(regime, c)| match c {
            Some(c) => vec![
                Cell::text(regime.clone()),
                Cell::metric(c.gpus.to_string(), format!("{regime}/gpus")),
                Cell::metric(svg::fixed(c.cost_per_hour_usd, 2), format!("{regime}/cost_per_hour_usd")),
                Cell::num(headroom_text(c)),
                Cell::text(c.name.clone()),
            ],
            None => vec![
                Cell::text(regime.clone()),
                Cell::num("-"),
                Cell::num("-"),
                Cell::num("-"),
                Cell::text("none meets the objectives"),
            ],
        })
        .collect();
    let mut b = figure(
        chart,
        "The price of the cheapest candidate meeting every objective on every seed, per regime.",
    );
    b.push_str(&table(&head, &rows));
    Section::new("regimes", "Best per regime", b)
}

fn candidates_section(inp: &PlanInput) -> Section {
    let r = inp.result;
    let top: Vec<&Candidate> = r.candidates.iter().take(MARGIN_TOP).collect();
    let series: Vec<(String, &'static str)> = r.slo.iter().enumerate().map(|(i, s)| (s.key.clone(), svg::color(i))).collect();
    let values: Vec<Vec<Option<f64>>> = top
        .iter()
        .map(|c| {
            r.slo
                .iter()
                .map(|s| {
                    let ratio = s.ratio(c.slo_values.get(&s.key).copied().flatten());
                    ratio.is_finite().then_some(ratio * 100.0)
                })
                .collect()
        })
        .collect();
    let chart = svg::bar_chart(&Bars {
        id: "margins".into(),
        title: format!("Objectives of the {} best-ranked candidates, as a share of their bound", top.len()),
        categories: (1..=top.len()).map(|i| format!("#{i}")).collect(),
        x_label: "candidate (rank, as in the table)".into(),
        series,
        values,
        y_label: "worst value / bound [%]".into(),
        decimals: 0,
        rule: Some(Rule {
            at: 100.0,
            label: "bound".into(),
        }),
    });
    let mut head = vec![
        Cell::num("#"),
        Cell::text("regime"),
        Cell::text("gpu"),
        Cell::num("GPUs"),
        Cell::num("$/h"),
        Cell::num("$/1M"),
    ];
    for s in &r.slo {
        head.push(Cell::num(s.key.clone()));
        head.push(Cell::num("margin"));
    }
    head.extend([Cell::num("headroom"), Cell::text("objectives"), Cell::text("deployment")]);
    let rows: Vec<Vec<Cell>> = r
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut row = vec![
                Cell::num((i + 1).to_string()),
                Cell::text(c.regime.name()),
                Cell::text(c.gpu_type.clone()),
                Cell::metric(c.gpus.to_string(), format!("#{}/gpus", i + 1)),
                Cell::metric(svg::fixed(c.cost_per_hour_usd, 2), format!("#{}/cost_per_hour_usd", i + 1)),
                Cell::num(c.usd_per_million.map_or("-".into(), |x| svg::fixed(x, 2))),
            ];
            for s in &r.slo {
                let v = c.slo_values.get(&s.key).copied().flatten();
                let ratio = s.ratio(v);
                row.push(Cell::metric(
                    v.map_or("none".into(), |x| slo_text(s.metric, x)),
                    format!("#{}/slo/{}", i + 1, s.key),
                ));
                // Margin: how far inside its bound the value is (negative: broken).
                row.push(Cell {
                    class: Some(if ratio <= 1.0 { "ok" } else { "fail" }),
                    ..Cell::num(if ratio.is_finite() { pct(1.0 - ratio, 0) } else { "-".into() })
                });
            }
            row.push(Cell::num(headroom_text(c)));
            row.push(Cell::verdict(c.meets_slo));
            row.push(Cell::text(format!("{}{}", c.name, crate::out::table::extrapolated_mark(c.extrapolated, c.extrapolated_pct))));
            row
        })
        .collect();
    let mut b = figure(
        chart,
        "Each objective's worst value over the seeds divided by its bound (for availability: the bound over the value): below the red line the objective holds, and the gap is its margin.",
    );
    b.push_str(&table(&head, &rows));
    b.push_str(&note(
        "Ranked as the planner ranks them: those meeting every objective first, then cheaper, then more margin on the tightest objective. Margin: 1 - value/bound. * = service times costed beyond the measured tables or on derived tables (another GPU type, a multi-GPU replica, an architecture), with the share of GPU time so costed.",
    ));
    Section::new("candidates", "Ranked candidates", b)
}

fn projection_section(p: &Projection) -> Section {
    let unit = if p.unit == "users" {
        "load [users]"
    } else {
        "load [x the spec's rates]"
    };
    let pts = |f: &dyn Fn(&Candidate) -> f64| -> Vec<(f64, f64)> { p.levels.iter().filter_map(|(l, c)| c.map(|c| (*l, f(c)))).collect() };
    let (lo, hi) = p
        .levels
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (l, _)| (a.min(*l), b.max(*l)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    // A margin on each side, so that the first and last level's markers are not on the frame.
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let chart = |id: &str, title: &str, y: Axis, points: Vec<(f64, f64)>, color: &'static str| {
        let mut ch = LineChart::new(id, title, Axis::nice(unit, lo - pad, hi + pad), y);
        ch.height = 320.0;
        ch.series.push(Series {
            name: title.into(),
            color,
            points,
            dashed: false,
            markers: true,
        });
        svg::line_chart(&ch)
    };
    let top = |points: &[(f64, f64)]| points.iter().map(|p| p.1).fold(0.0, f64::max) * 1.1;
    let (gpu_pts, cost_pts) = (pts(&|c| f64::from(c.gpus)), pts(&|c| c.cost_per_hour_usd));
    let gpus_axis = Axis::count("GPUs [count]", top(&gpu_pts));
    let cost_axis = Axis::nice("price [$/h]", 0.0, top(&cost_pts).max(1.0));
    let gpus = chart("projection-gpus", "GPUs needed against load", gpus_axis, gpu_pts, svg::color(0));
    let cost = chart("projection-cost", "Price against load", cost_axis, cost_pts, svg::color(1));
    let head = [
        Cell::num(p.unit),
        Cell::num("GPUs"),
        Cell::num("$/h"),
        Cell::text("regime"),
        Cell::text("gpu"),
        Cell::text("deployment"),
    ];
    let rows: Vec<Vec<Cell>> = p
        .levels
        .iter()
        .map(|(l, c)| match c {
            Some(c) => vec![
                Cell::num(load_text(*l)),
                Cell::metric(c.gpus.to_string(), format!("load {}/gpus", load_text(*l))),
                Cell::metric(
                    svg::fixed(c.cost_per_hour_usd, 2),
                    format!("load {}/cost_per_hour_usd", load_text(*l)),
                ),
                Cell::text(c.regime.name()),
                Cell::text(c.gpu_type.clone()),
                Cell::text(c.name.clone()),
            ],
            None => vec![
                Cell::num(load_text(*l)),
                Cell::num("-"),
                Cell::num("-"),
                Cell::text("-"),
                Cell::text("-"),
                Cell::text("no candidate meets the objectives"),
            ],
        })
        .collect();
    let mut b = para(&p.family);
    b.push_str(&grid(&[
        figure(
            gpus,
            "The kept family's cheapest plan: its GPU count at each load level (levels without a plan are left out).",
        ),
        figure(cost, "Its price at each load level."),
    ]));
    b.push_str(&table(&head, &rows));
    Section::new("projection", "Projection against load", b)
}

/// The best plan's GPUs on nodes, exactly as `--emit-k8s` deploys them ([`k8s::node_pools`]):
/// per pool its nodes, each with the GPUs planned on it and its spare ones.
fn node_groups(name: &str, c: &Candidate) -> crate::error::Result<Vec<(String, Vec<GpuBox>)>> {
    let d = crate::out::export::k8s_deployment(name, c);
    let per = d.gpus_per_node as usize;
    let boxes = variant_boxes(&c.variant, &c.model_names);
    let mut out = Vec::new();
    let mut node = 0;
    for (p, pool) in k8s::node_pools(&d)?.iter().enumerate() {
        for chunk in &pool.nodes {
            node += 1;
            let spare = per - chunk.len();
            out.push((
                format!(
                    "node {node} · pool {} ({}): {} of {per} GPUs planned{}",
                    p + 1,
                    pool.describe,
                    chunk.len(),
                    if spare > 0 { format!(", {spare} spare") } else { String::new() }
                ),
                chunk.iter().filter_map(|&g| boxes.get(g).cloned()).collect(),
            ));
        }
    }
    Ok(out)
}

fn layout_section(inp: &PlanInput) -> Section {
    let r = inp.result;
    let mut b = String::new();
    if let Some(best) = &r.best {
        match node_groups(&r.scenario, best) {
            Ok(groups) => {
                let color = model_color(&best.model_names);
                b.push_str(&figure(
                    svg::gpu_layout("nodes", "Best plan: nodes and GPUs", &groups, &color),
                    &format!(
                        "The best plan as `plan --emit-k8s` deploys it: nodes of one configuration form a pool, a time-sliced or MPS GPU the only shared GPU of its node; MIG GPUs show their instances on the {} memory slots and {} compute slices.",
                        crate::gpu::mig::MEM_SLOTS,
                        crate::gpu::mig::COMPUTE_SLICES
                    ),
                ));
            }
            Err(e) => b.push_str(&note(&format!("The best plan has no Kubernetes layout: {e}"))),
        }
    }
    let regimes: Vec<(String, Vec<GpuBox>)> = r
        .per_regime
        .iter()
        .filter_map(|(k, c)| {
            c.as_ref()
                .map(|c| (format!("{k}: {}", c.name), variant_boxes(&c.variant, &c.model_names)))
        })
        .collect();
    if !regimes.is_empty() {
        let names = r
            .per_regime
            .values()
            .flatten()
            .next()
            .map(|c| c.model_names.clone())
            .unwrap_or_default();
        let color = model_color(&names);
        b.push_str(&figure(
            svg::gpu_layout("regime-layouts", "Best per regime: GPUs and tenants", &regimes, &color),
            "Each regime's cheapest plan, GPU by GPU.",
        ));
    }
    if b.is_empty() {
        b.push_str(&para("No candidate meets the objectives: there is no layout to show."));
    }
    Section::new("layout", "Layout", b)
}

/// The plan report page.
pub fn plan_report(inp: &PlanInput) -> String {
    let r = inp.result;
    let mut sub = format!(
        "Objectives: {}",
        r.slo
            .iter()
            .map(|s| format!("{} {} {}", s.key, if s.is_max() { "≤" } else { "≥" }, slo_text(s.metric, s.bound)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !inp.edits.is_empty() {
        sub.push_str(&format!(" · edits: {}", inp.edits.join(", ")));
    }
    let mut sections = vec![summary_section(inp), regimes_section(inp), candidates_section(inp)];
    if let Some(p) = &inp.projection {
        sections.push(projection_section(p));
    }
    sections.push(layout_section(inp));
    let mut source = format!("gpuslice plan {}", inp.spec);
    for e in inp.edits {
        source.push_str(&format!(" --set '{e}'"));
    }
    if let Some(p) = &inp.projection {
        source.push_str(&format!(" (with a load range of {} levels)", p.levels.len()));
    }
    Page {
        kind: "plan",
        title: format!("{}: plan report", r.scenario),
        subtitle: sub,
        sections,
        source,
    }
    .render()
}
