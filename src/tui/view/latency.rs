//! Latency view: the empirical CDF of each model's request latency for the selected variant
//! (its finished background run, or the live simulation until that arrives), with the model's
//! SLO as a vertical red line; the title gives the SLO and the share of requests within it. A
//! model without a p95 objective in the scenario's `[slo]` has neither (none is made up).
//! Both come from the run's latency sketch, the source of the reports' percentiles (within
//! `metrics::sketch::ALPHA` of the exact values).

use super::{fmt_ms, BAR, DIM, SELECTED, TITLE};
use crate::metrics::LatencySketch;
use crate::tui::app::App;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Widget};

/// Points on each CDF curve.
const CDF_POINTS: usize = 200;

/// Draw the latency view into `area`.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let n = app.scenario.models.len();
    if area.is_empty() || n == 0 {
        return;
    }
    // Side by side while each chart keeps 24 columns (or stacking would leave it under 8 rows).
    let areas: Vec<Rect> = if usize::from(area.width) / n >= 24 || usize::from(area.height) / n < 8 {
        Layout::horizontal(vec![Constraint::Ratio(1, n as u32); n]).split(area).to_vec()
    } else {
        Layout::vertical(vec![Constraint::Ratio(1, n as u32); n]).split(area).to_vec()
    };
    for (m, r) in areas.into_iter().enumerate() {
        render_model(app, m, r, buf);
    }
}

fn render_model(app: &App, m: usize, area: Rect, buf: &mut Buffer) {
    let name = &app.scenario.models[m].name;
    let slo = app.slo_ms.get(m).copied().flatten();
    let (s, source) = app.latency_samples(m);
    let empty = LatencySketch::new();
    let s = s.unwrap_or(&empty);
    // Scale to the data; stretch to show the SLO line unless it lies far beyond the data.
    let data_max = s.quantile(0.995) * 1.15;
    let x_max = match slo {
        Some(slo) if slo <= data_max * 4.0 => data_max.max(slo * 1.1),
        _ => data_max,
    }
    .max(1e-3);
    let style = if m == app.model { SELECTED } else { TITLE };
    let mut title = vec![Span::styled(format!(" {}{name} ", if m == app.model { "▸" } else { "" }), style)];
    match slo {
        Some(slo) => {
            let met = s.fraction_at_most(slo);
            title.push(Span::styled(
                format!("≤{} ms: {:.1}% ", fmt_ms(slo), met * 100.0),
                Style::new().fg(Color::Red),
            ));
            title.push(Span::styled(if slo > x_max { "(SLO off scale →) " } else { "" }, DIM));
        }
        None => title.push(Span::styled("no SLO ", DIM)),
    }
    let title = Line::from(title);
    let (p50, p95, p99) = (s.quantile(0.5), s.quantile(0.95), s.quantile(0.99));
    // The most detail that fits the border.
    let foot = [
        format!(
            " {source} · n {} · p50 {} p95 {} p99 {} ",
            s.count(),
            fmt_ms(p50),
            fmt_ms(p95),
            fmt_ms(p99)
        ),
        format!(" {source} · n {} · p95 {} p99 {} ", s.count(), fmt_ms(p95), fmt_ms(p99)),
        format!(" {source} · p95 {} ", fmt_ms(p95)),
        format!(" {source} "),
    ]
    .into_iter()
    .find(|t| t.chars().count() + 2 <= usize::from(area.width))
    .unwrap_or_default();
    let foot = Line::from(Span::styled(foot, DIM));
    let block = Block::bordered().title(title).title_bottom(foot);
    if s.count() == 0 {
        Paragraph::new(Span::styled("no completed requests yet", DIM))
            .block(block)
            .render(area, buf);
        return;
    }
    let cdf: Vec<(f64, f64)> = s.cdf_points(CDF_POINTS + 1).into_iter().map(|(ms, q)| (ms.min(x_max), q)).collect();
    let slo_line: Vec<(f64, f64)> = slo.map_or(Vec::new(), |slo| vec![(slo, 0.0), (slo, 1.0)]);
    let mut datasets = vec![Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(BAR)
        .data(&cdf)];
    if !slo_line.is_empty() {
        datasets.push(
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(Color::Red))
                .data(&slo_line),
        );
    }
    Chart::new(datasets)
        .block(block)
        .x_axis(
            Axis::default()
                .bounds([0.0, x_max])
                .labels(["0".to_string(), fmt_ms(x_max / 2.0), format!("{} ms", fmt_ms(x_max))])
                .style(DIM),
        )
        .y_axis(Axis::default().bounds([0.0, 1.0]).labels(["0", ".5", "1"]).style(DIM))
        .render(area, buf);
}
