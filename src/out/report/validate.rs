//! The report of `gpuslice validate` (and of the accuracy runs): per measured run and model the
//! measured latency CDF against the simulated one (the replays pooled, the band they span
//! shaded), LLM time to first token alike, and a chart of every run's p50 and p95 errors.

use super::svg::{self, Axis, Band, HBars, HRow, LineChart, Series};
use super::{bullets, cards, figure, grid, ms, note, para, signed_pct, slug, table, Cell, Page, Section};
use crate::validate::curves::CurvePair;
use crate::validate::Validation;

/// What a validation report is made of.
#[derive(Debug, Clone, Copy)]
pub struct ValidateInput<'a> {
    /// Page title.
    pub title: &'a str,
    /// The replayed runs, in argument order.
    pub runs: &'a [&'a Validation],
    /// Folders that could not be replayed, and why.
    pub failed: &'a [(String, String)],
    /// The command it reports, for the footer.
    pub source: &'a str,
}

/// The colour of measured curves (dark, so the simulated ones stand out beside them).
const MEASURED: &str = "#1f2933";

fn pair_chart(id: &str, title: &str, what: &str, p: &CurvePair) -> Option<String> {
    if p.measured.is_empty() && p.simulated.is_empty() {
        return None;
    }
    let curves = [&p.measured, &p.simulated];
    let hi = super::cdf_x_max(&curves, &[]);
    let lo = super::cdf_x_min(&curves, hi);
    let mut ch = LineChart::new(
        id,
        title,
        Axis::nice(format!("{what} [ms]"), lo, hi),
        Axis::fraction("requests at most this latency"),
    );
    ch.height = 320.0;
    if p.replays > 1 {
        ch.bands.push(Band {
            color: svg::color(0),
            upper: p.replay_band.iter().map(|(lo, _, q)| (*lo, *q)).collect(),
            lower: p.replay_band.iter().map(|(_, hi, q)| (*hi, *q)).collect(),
        });
    }
    ch.series.push(Series {
        name: "measured".into(),
        color: MEASURED,
        points: p.measured.points.clone(),
        dashed: true,
        markers: false,
    });
    ch.series.push(Series {
        name: if p.replays > 1 {
            format!("simulated ({} replays pooled)", p.replays)
        } else {
            "simulated".into()
        },
        color: svg::color(0),
        points: p.simulated.points.clone(),
        dashed: false,
        markers: false,
    });
    Some(svg::line_chart(&ch))
}

/// The validation report page.
pub fn validate_report(inp: &ValidateInput) -> String {
    let mut sections = Vec::new();
    // Summary: every run and model, its errors.
    let mut b = String::new();
    let models: usize = inp.runs.iter().map(|v| v.models.len()).sum();
    let worst = |k: &str| {
        inp.runs
            .iter()
            .flat_map(|v| v.models.values().map(|m| m.error_pct.get(k).copied().unwrap_or(0.0).abs()))
            .fold(0.0, f64::max)
    };
    b.push_str(&cards(&[
        (inp.runs.len().to_string(), "measured runs replayed".into()),
        (models.to_string(), "model-runs compared".into()),
        (format!("{}%", svg::fixed(worst("p50"), 1)), "largest |p50 error|".into()),
        (format!("{}%", svg::fixed(worst("p95"), 1)), "largest |p95 error|".into()),
        (
            format!("{}%", svg::fixed(worst("throughput"), 1)),
            "largest |throughput error|".into(),
        ),
    ]));
    if !inp.failed.is_empty() {
        b.push_str(&bullets(
            &inp.failed
                .iter()
                .map(|(d, e)| format!("{d} could not be replayed: {e}"))
                .collect::<Vec<_>>(),
        ));
    }
    let head = [
        Cell::text("run"),
        Cell::text("gpu, regime"),
        Cell::text("model"),
        Cell::num("requests"),
        Cell::num("p50 measured"),
        Cell::num("p50 simulated"),
        Cell::num("p50 err"),
        Cell::num("p95 measured"),
        Cell::num("p95 simulated"),
        Cell::num("p95 err"),
        Cell::num("throughput err"),
        Cell::num("request MAPE"),
    ];
    let mut rows = Vec::new();
    let mut groups = Vec::new();
    for v in inp.runs {
        let mut bars = Vec::new();
        for (n, m) in &v.models {
            let e = |k: &str| m.error_pct.get(k).copied().unwrap_or(0.0);
            let key = |k: &str| format!("{}/{n}/{k}", v.dir);
            rows.push(vec![
                Cell::text(v.dir.clone()),
                // The regime's parameters are in the run's own section: the table stays narrow.
                Cell::text(format!("{}, {}", v.gpu, v.regime.split(" (").next().unwrap_or(&v.regime))),
                Cell::text(n.clone()),
                Cell::num(m.requests.to_string()),
                Cell::metric(ms(m.measured.latency_ms.p50), key("measured.p50")),
                Cell::metric(ms(m.simulated.latency_ms.p50), key("simulated.p50")),
                Cell::metric(signed_pct(e("p50")), key("error.p50")),
                Cell::metric(ms(m.measured.latency_ms.p95), key("measured.p95")),
                Cell::metric(ms(m.simulated.latency_ms.p95), key("simulated.p95")),
                Cell::metric(signed_pct(e("p95")), key("error.p95")),
                Cell::metric(signed_pct(e("throughput")), key("error.throughput")),
                Cell::num(format!("{}%", svg::fixed(m.request_mape_pct, 1))),
            ]);
            for (k, i) in [("p50", 0), ("p95", 1)] {
                bars.push(HRow {
                    label: format!("{n} {k}"),
                    value: e(k) / 100.0,
                    color: svg::color(i),
                    sub: false,
                });
            }
        }
        groups.push((v.dir.clone(), bars));
    }
    if inp.runs.is_empty() {
        b.push_str(&para("No folder could be replayed: there is nothing to compare."));
    } else {
        let span = groups.iter().flat_map(|g| g.1.iter().map(|r| r.value.abs())).fold(0.05, f64::max);
        let (lo, hi) = svg::nice_range(-span, span, 6);
        let errors = svg::hbar_chart(&HBars {
            id: "errors".into(),
            title: "Simulated against measured: p50 and p95 error per run".into(),
            groups,
            axis: Axis {
                percent: true,
                ..Axis::exact("(simulated - measured) / measured", lo, hi)
            },
        });
        b.push_str(&figure(
            errors,
            "The error of the simulated p50 (blue) and p95 (orange) latency against the measured ones, per run and model; bars start at 0 %, left: the simulation is faster.",
        ));
        b.push_str(&table(&head, &rows));
        b.push_str(&note(
            "Simulated: with call noise, each statistic's median over the replays (seeds); request MAPE: the mean per-request |error|. Latency is finish - arrival of each request, type-7 percentiles on both sides.",
        ));
    }
    sections.push(Section::new("summary", "Summary", b));
    for (i, v) in inp.runs.iter().enumerate() {
        let mut figs = Vec::new();
        for (n, m) in &v.models {
            let id = format!("run{}-{}", i + 1, slug(n));
            if let Some(s) = pair_chart(
                &format!("cdf-{id}"),
                &format!("{n}: latency"),
                &format!("{n} latency"),
                &m.curves.latency,
            ) {
                let e = |k: &str| m.error_pct.get(k).copied().unwrap_or(0.0);
                figs.push(figure(
                    s,
                    &format!(
                        "{} requests; p50 {} ms measured, {} ms simulated ({}), p95 {} ms vs {} ms ({}). Shaded: the range of the replays' quantiles.",
                        m.requests,
                        ms(m.measured.latency_ms.p50),
                        ms(m.simulated.latency_ms.p50),
                        signed_pct(e("p50")),
                        ms(m.measured.latency_ms.p95),
                        ms(m.simulated.latency_ms.p95),
                        signed_pct(e("p95"))
                    ),
                ));
            }
            if let Some(t) = &m.curves.ttft {
                if let Some(s) = pair_chart(
                    &format!("ttft-{id}"),
                    &format!("{n}: time to first token"),
                    &format!("{n} time to first token"),
                    t,
                ) {
                    figs.push(figure(s, "Time to first token of each request, measured against simulated."));
                }
            }
        }
        sections.push(Section::new(
            &format!("run-{}", i + 1),
            &v.dir,
            format!("{}{}", note(&format!("{}, {}", v.gpu, v.regime)), grid(&figs)),
        ));
    }
    Page {
        kind: "validate",
        title: inp.title.to_string(),
        subtitle: format!(
            "{} measured runs replayed through the simulator, measured against simulated",
            inp.runs.len()
        ),
        sections,
        source: inp.source.to_string(),
    }
    .render()
}
