//! The report of a sweep folder: each metric against each axis (one line per variant and
//! combination of the other axes, its 95 % confidence band over the seeds shaded), and heat maps
//! of the first metrics over the first two axes. Everything is read from summary.csv (the means
//! and CI half-widths the sweep wrote) and manifest.json (the axes and their values).

use super::svg::{self, Axis, Band, Heat, LineChart, Series};
use super::{bullets, cards, figure, grid, note, slug, table, Cell, Page, Section};
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// What a sweep report is made of.
#[derive(Debug, Clone)]
pub struct SweepInput<'a> {
    /// The spec's name.
    pub name: &'a str,
    /// The spec's description.
    pub description: &'a str,
    /// The sweep's folder.
    pub dir: &'a str,
    /// summary.csv's path, for messages.
    pub file: &'a str,
    /// Axes in run order: path and its values as summary.csv writes them.
    pub axes: Vec<(String, Vec<String>)>,
    /// Seeds per configuration.
    pub seeds: usize,
    /// Runs (configurations x seeds).
    pub runs: u64,
    /// summary.csv's header.
    pub header: Vec<String>,
    /// summary.csv's rows.
    pub rows: Vec<Vec<String>>,
    /// Metrics to draw (summary.csv names without `.mean`); empty: [`default_metrics`].
    pub metrics: &'a [String],
}

/// Metrics drawn when none is asked for, those the sweep has: throughput, the top-level p50
/// and p95, each model's p95, each pipeline's turn and first-audio p95, and failures when any
/// configuration had one.
pub fn default_metrics(available: &[String], rows_mean: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out: Vec<String> = ["throughput_rps", "latency_ms.p50", "latency_ms.p95"]
        .iter()
        .map(|s| s.to_string())
        .filter(|m| available.contains(m))
        .collect();
    for m in available {
        let model_p95 = m.starts_with("models.") && m.ends_with(".latency_ms.p95");
        let stage_p95 = m.starts_with("stages.")
            && (m.ends_with(".latency_ms.p95") || m.ends_with(".time_to_first_audio_ms.p95"))
            && !m.contains(".stages[");
        if (model_p95 || stage_p95) && !out.contains(m) {
            out.push(m.clone());
        }
    }
    if available.iter().any(|m| m == "failed") && rows_mean("failed") {
        out.push("failed".into());
    }
    out
}

/// The unit of a metric, from its name (the run JSON's naming: `_ms`, `_rps`, `_usd`).
fn unit(metric: &str) -> &'static str {
    if metric.contains("_ms") {
        " [ms]"
    } else if metric.contains("turns_per_s") {
        " [turns/s]"
    } else if metric.contains("rps_per_gpu") {
        " [req/s per GPU]"
    } else if metric.contains("_rps") {
        " [req/s]"
    } else if metric.contains("usd") {
        " [$/h]"
    } else if metric.contains("fraction") || metric.contains("availability") {
        " [fraction]"
    } else if metric == "failed" || metric == "completed" || metric.ends_with(".failed") || metric.ends_with(".completed") {
        " [requests]"
    } else {
        ""
    }
}

/// The last part of an axis path (`variant[1].gpus[0].quantum_ms` reads `quantum_ms`).
fn short(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// Decimals for values around `x`.
fn decimals(x: f64) -> usize {
    let a = x.abs();
    if a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    }
}

/// summary.csv read: per (variant, axis value indices) its row.
struct Table<'a> {
    inp: &'a SweepInput<'a>,
    col: BTreeMap<&'a str, usize>,
    variants: Vec<String>,
    at: BTreeMap<(usize, Vec<usize>), usize>,
}

impl<'a> Table<'a> {
    fn new(inp: &'a SweepInput<'a>) -> Result<Table<'a>> {
        let n = inp.axes.len();
        let col: BTreeMap<&str, usize> = inp.header.iter().enumerate().map(|(i, h)| (h.as_str(), i)).collect();
        for (a, (path, _)) in inp.axes.iter().enumerate() {
            if inp.header.get(1 + a) != Some(path) {
                return Err(Error::input(
                    inp.file,
                    "line 1",
                    format!(
                        "column {} is not the axis '{path}' of manifest.json: the files belong to different sweeps",
                        a + 2
                    ),
                ));
            }
        }
        let mut variants: Vec<String> = Vec::new();
        let mut at = BTreeMap::new();
        for (i, r) in inp.rows.iter().enumerate() {
            let Some(v) = r.get(1 + n) else { continue };
            let vi = match variants.iter().position(|x| x == v) {
                Some(k) => k,
                None => {
                    variants.push(v.clone());
                    variants.len() - 1
                }
            };
            let idx: Option<Vec<usize>> = inp
                .axes
                .iter()
                .enumerate()
                .map(|(a, (_, vals))| r.get(1 + a).and_then(|cell| vals.iter().position(|x| x == cell)))
                .collect();
            if let Some(idx) = idx {
                at.insert((vi, idx), i);
            }
        }
        Ok(Table { inp, col, variants, at })
    }

    /// Mean and CI half-width of `metric` in row `r`.
    fn stat(&self, r: usize, metric: &str) -> Option<(f64, Option<f64>)> {
        let row = &self.inp.rows[r];
        let mean = row.get(*self.col.get(format!("{metric}.mean").as_str())?)?.parse::<f64>().ok()?;
        let ci = self
            .col
            .get(format!("{metric}.ci95").as_str())
            .and_then(|&c| row.get(c))
            .and_then(|s| s.parse::<f64>().ok());
        Some((mean, ci))
    }

    fn metrics(&self) -> Vec<String> {
        self.inp
            .header
            .iter()
            .filter_map(|h| h.strip_suffix(".mean"))
            .map(str::to_string)
            .collect()
    }

    /// Every combination of the values of the axes other than `axis` (first axis outermost).
    fn others(&self, axis: usize) -> Vec<Vec<(usize, usize)>> {
        let mut combos: Vec<Vec<(usize, usize)>> = vec![Vec::new()];
        for (a, (_, vals)) in self.inp.axes.iter().enumerate() {
            if a == axis {
                continue;
            }
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    (0..vals.len()).map(move |k| {
                        let mut c = c.clone();
                        c.push((a, k));
                        c
                    })
                })
                .collect();
        }
        combos
    }

    /// The row of variant `v` with `axis` at `k` and the other axes as in `combo`.
    fn row(&self, v: usize, axis: usize, k: usize, combo: &[(usize, usize)]) -> Option<usize> {
        let mut idx = vec![0; self.inp.axes.len()];
        idx[axis] = k;
        for &(a, kk) in combo {
            idx[a] = kk;
        }
        self.at.get(&(v, idx)).copied()
    }
}

/// One metric against one axis.
fn metric_chart(t: &Table, metric: &str, axis: usize) -> Option<String> {
    let (path, vals) = &t.inp.axes[axis];
    let numeric: Option<Vec<f64>> = vals.iter().map(|v| v.parse::<f64>().ok()).collect();
    let x_of = |k: usize| numeric.as_ref().map_or(k as f64, |xs| xs[k]);
    let order: Vec<usize> = {
        let mut o: Vec<usize> = (0..vals.len()).collect();
        if let Some(xs) = &numeric {
            o.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
        }
        o
    };
    let mut series = Vec::new();
    let mut bands = Vec::new();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let combos = t.others(axis);
    for v in 0..t.variants.len() {
        for combo in &combos {
            let mut pts = Vec::new();
            let (mut up, mut down) = (Vec::new(), Vec::new());
            for &k in &order {
                let Some((m, ci)) = t.row(v, axis, k, combo).and_then(|r| t.stat(r, metric)) else {
                    continue;
                };
                let x = x_of(k);
                pts.push((x, m));
                let ci = ci.unwrap_or(0.0);
                up.push((x, m + ci));
                down.push((x, m - ci));
                lo = lo.min(m - ci);
                hi = hi.max(m + ci);
            }
            if pts.is_empty() {
                continue;
            }
            let mut name = t.variants[v].clone();
            for &(a, k) in combo {
                name.push_str(&format!(" · {}={}", short(&t.inp.axes[a].0), t.inp.axes[a].1[k]));
            }
            let color = svg::color(series.len());
            if up.iter().zip(&down).any(|(u, d)| u.1 > d.1) {
                bands.push(Band {
                    color,
                    upper: up,
                    lower: down,
                });
            }
            series.push(Series {
                name,
                color,
                points: pts,
                dashed: false,
                markers: true,
            });
        }
    }
    if series.is_empty() {
        return None;
    }
    let x = match &numeric {
        Some(xs) => {
            let (a, b) = xs
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(*x), b.max(*x)));
            let pad = ((b - a) * 0.05).max(1e-9);
            Axis::nice(path.clone(), a - pad, b + pad)
        }
        None => Axis::categorical(path.clone(), vals.clone()),
    };
    let lo = if lo >= 0.0 && lo < 0.5 * hi { 0.0 } else { lo };
    let mut ch = LineChart::new(
        format!("sweep-{}-{}", slug(metric), slug(path)),
        format!("{metric} against {}", short(path)),
        x,
        Axis::nice(format!("{metric}{}", unit(metric)), lo, hi),
    );
    ch.series = series;
    ch.bands = bands;
    ch.height = 340.0;
    Some(figure(
        svg::line_chart(&ch),
        &format!(
            "Mean of {metric} over {} seeds per configuration against {path}; shaded: its 95 % confidence interval (Student t), one line per variant and value of the other axes.",
            t.inp.seeds
        ),
    ))
}

/// A heat map of `metric` for variant `v` over the first two axes (the others at their first value).
fn heat(t: &Table, metric: &str, v: usize) -> Option<String> {
    let (xa, ya) = (&t.inp.axes[0], &t.inp.axes[1]);
    let fixed_rest: Vec<(usize, usize)> = (2..t.inp.axes.len()).map(|a| (a, 0)).collect();
    let values: Vec<Vec<Option<f64>>> = (0..ya.1.len())
        .rev()
        .map(|ky| {
            (0..xa.1.len())
                .map(|kx| {
                    let mut combo = vec![(1usize, ky)];
                    combo.extend(fixed_rest.iter().copied());
                    t.row(v, 0, kx, &combo).and_then(|r| t.stat(r, metric)).map(|s| s.0)
                })
                .collect()
        })
        .collect();
    let all: Vec<f64> = values.iter().flatten().flatten().copied().collect();
    if all.is_empty() {
        return None;
    }
    let mid = all.iter().copied().fold(0.0, f64::max);
    let hm = Heat {
        id: format!("heat-{}-{}", slug(metric), slug(&t.variants[v])),
        title: format!("{}: {metric}", t.variants[v]),
        x_labels: xa.1.clone(),
        x_label: xa.0.clone(),
        y_labels: ya.1.iter().rev().cloned().collect(),
        y_label: ya.0.clone(),
        values,
        unit: format!("{metric}{}", unit(metric)),
        decimals: decimals(mid),
    };
    let rest = if fixed_rest.is_empty() {
        String::new()
    } else {
        format!(
            " Other axes at their first value: {}.",
            fixed_rest
                .iter()
                .map(|&(a, k)| format!("{}={}", t.inp.axes[a].0, t.inp.axes[a].1[k]))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Some(figure(
        svg::heat_map(&hm),
        &format!(
            "Mean of {metric} (over the seeds) for variant {} at every pair of values of the first two axes.{rest}",
            t.variants[v]
        ),
    ))
}

/// The sweep report page; an error names a `--metric` that summary.csv does not have.
pub fn sweep_report(inp: &SweepInput) -> Result<String> {
    let t = Table::new(inp)?;
    let available = t.metrics();
    let any_nonzero = |m: &str| (0..inp.rows.len()).any(|r| t.stat(r, m).is_some_and(|s| s.0 != 0.0));
    let metrics: Vec<String> = if inp.metrics.is_empty() {
        default_metrics(&available, &any_nonzero)
    } else {
        for m in inp.metrics {
            if !available.contains(m) {
                let near: Vec<&String> = available
                    .iter()
                    .filter(|a| a.contains(m.as_str()) || m.contains(a.as_str()))
                    .take(5)
                    .collect();
                return Err(Error::input(
                    "--metric",
                    "",
                    format!(
                        "'{m}' is not a numeric column of {} (without .mean){}",
                        inp.file,
                        if near.is_empty() {
                            String::new()
                        } else {
                            format!("; near: {}", near.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
                        }
                    ),
                ));
            }
        }
        inp.metrics.to_vec()
    };
    let configs: usize = inp.axes.iter().map(|a| a.1.len()).product();
    let mut b = cards(&[
        (configs.to_string(), "configurations".into()),
        (inp.seeds.to_string(), "seeds each".into()),
        (inp.runs.to_string(), "runs".into()),
        (t.variants.len().to_string(), "variants per run".into()),
    ]);
    b.push_str(&bullets(
        &inp.axes
            .iter()
            .map(|(p, v)| format!("axis {p}: {}", v.join(", ")))
            .collect::<Vec<_>>(),
    ));
    // The range of each metric over the configurations, per variant.
    let mut head = vec![
        Cell::text("metric"),
        Cell::text("variant"),
        Cell::num("lowest mean"),
        Cell::num("highest mean"),
    ];
    head.push(Cell::text("highest at"));
    let mut rows = Vec::new();
    for m in &metrics {
        for (v, name) in t.variants.iter().enumerate() {
            let vals: Vec<(usize, f64)> =
                t.at.iter()
                    .filter(|((vi, _), _)| *vi == v)
                    .filter_map(|(_, &r)| t.stat(r, m).map(|s| (r, s.0)))
                    .collect();
            let Some(lo) = vals.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
                continue;
            };
            let Some(hi) = vals.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
                continue;
            };
            let at: Vec<String> = inp
                .axes
                .iter()
                .enumerate()
                .map(|(a, (p, _))| format!("{}={}", short(p), inp.rows[hi.0].get(1 + a).map_or("", |s| s.as_str())))
                .collect();
            let d = decimals(hi.1);
            rows.push(vec![
                Cell::text(format!("{m}{}", unit(m))),
                Cell::text(name.clone()),
                Cell::metric(svg::fixed(lo.1, d), format!("{name}/{m}/min")),
                Cell::metric(svg::fixed(hi.1, d), format!("{name}/{m}/max")),
                Cell::text(at.join(", ")),
            ]);
        }
    }
    b.push_str(&table(&head, &rows));
    let mut sections = vec![Section::new("summary", "Summary", b)];
    for (a, (path, _)) in inp.axes.iter().enumerate() {
        let figs: Vec<String> = metrics.iter().filter_map(|m| metric_chart(&t, m, a)).collect();
        sections.push(Section::new(
            &format!("axis-{}", a + 1),
            &format!("Against {}", short(path)),
            grid(&figs),
        ));
    }
    if inp.axes.len() >= 2 {
        let mut figs = Vec::new();
        for m in metrics.iter().take(2) {
            for v in 0..t.variants.len() {
                figs.extend(heat(&t, m, v));
            }
        }
        sections.push(Section::new("heat", "Heat maps", grid(&figs)));
    } else {
        sections.push(Section::new(
            "heat",
            "Heat maps",
            note("A heat map needs two axes; this sweep has one."),
        ));
    }
    let sub = if inp.description.is_empty() {
        format!("{} configurations x {} seeds", configs, inp.seeds)
    } else {
        format!("{} · {} configurations x {} seeds", inp.description, configs, inp.seeds)
    };
    Ok(Page {
        kind: "sweep",
        title: format!("{}: sweep report", inp.name),
        subtitle: sub,
        sections,
        source: format!("the sweep in {} (manifest.json, summary.csv)", inp.dir),
    }
    .render())
}
