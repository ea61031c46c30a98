//! Compare view: every variant's full background run side by side as horizontal bar charts
//! (throughput per GPU, cost per hour, failures; p95 latency end to end, of the time to first
//! audio when a pipeline speaks, and per model), plus a summary table when the terminal is tall
//! enough.
//!
//! With more variants than the charts have rows for, the view shows a window of them that
//! follows the selected variant (←→ scroll it), and the titles say which ones are shown.

use super::{bar, fit, fmt_ms, BAD, BAR, DIM, SELECTED, TITLE};
use crate::sim::RunSummary;
use crate::tui::app::{App, RunState};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Widget};

/// The p95 time to first audio of a run: the slowest of its pipelines that end in speech
/// (`None` if none does).
fn first_audio_p95(s: &RunSummary) -> Option<f64> {
    s.stages
        .values()
        .filter(|p| p.time_to_first_audio_ms.p95 > 0.0)
        .map(|p| p.time_to_first_audio_ms.p95)
        .reduce(f64::max)
}

/// True when any variant's pipelines speak (the first-audio chart and column are shown).
fn has_audio(app: &App) -> bool {
    let speaks = |m: &usize| app.scenario.models[*m].kind == crate::model::ServiceKind::Tts;
    app.scenario
        .workloads
        .iter()
        .any(|w| matches!(&w.target, crate::scenario::Target::Pipeline(p) if p.stages.iter().any(speaks)))
}

/// One bar: label, value (drawn relative to the chart's largest), text shown after the bar.
struct Item {
    label: String,
    value: f64,
    text: String,
    style: Style,
}

/// The variants shown: `rows` of the `n` variants (all if they fit), placed so that the selected
/// one is in the window, as near its middle as the ends allow. A pure function of the model, so
/// moving the selection is what scrolls.
pub fn window(n: usize, selected: usize, rows: usize) -> std::ops::Range<usize> {
    let k = rows.clamp(1, n.max(1)).min(n);
    let first = selected.saturating_sub(k / 2).min(n - k);
    first..first + k
}

/// ` a-b/n ←→` (variants a to b of n; the arrows scroll) when only some variants are shown,
/// else nothing. Short, so that a chart title keeps it at 80 columns.
fn window_note(w: &std::ops::Range<usize>, n: usize) -> String {
    if w.len() == n {
        String::new()
    } else {
        format!(" {}-{}/{n} ←→", w.start + 1, w.end)
    }
}

/// The runs of the shown variants with their variant and row style (the selected one highlighted).
fn shown_runs<'a>(
    app: &'a App,
    shown: &std::ops::Range<usize>,
) -> impl Iterator<Item = (&'a crate::tui::app::RunSlot, &'a crate::scenario::Variant, Style)> {
    app.runs
        .iter()
        .zip(&app.scenario.variants)
        .enumerate()
        .skip(shown.start)
        .take(shown.len())
        .map(|(v, (slot, var))| (slot, var, if v == app.variant { SELECTED } else { Style::new() }))
}

/// The bar items of a metric: one per shown variant; runs not finished show their state.
fn items(app: &App, shown: &std::ops::Range<usize>, metric: impl Fn(&RunSummary) -> Option<(f64, String)>) -> Vec<Item> {
    shown_runs(app, shown)
        .map(|(slot, var, style)| {
            let (value, text, style) = match &slot.state {
                RunState::Done(r) => match metric(&r.summary) {
                    Some((x, t)) => (x, t, style),
                    None => (0.0, "-".into(), DIM),
                },
                RunState::Running => (0.0, "running…".into(), DIM),
                RunState::Failed(e) => (0.0, format!("failed: {e}"), BAD),
            };
            Item {
                label: var.name.clone(),
                value,
                text,
                style,
            }
        })
        .collect()
}

/// Lines of a horizontal bar chart `width` columns wide, each bar `thick` rows high (label and
/// value on its middle row; a blank row after each bar when thicker than 1).
fn bar_lines(items: &[Item], width: u16, thick: u16) -> Vec<Line<'static>> {
    let w = usize::from(width);
    let label_w = items.iter().map(|i| i.label.chars().count()).max().unwrap_or(0).min(w / 3);
    let text_w = items.iter().map(|i| i.text.chars().count()).max().unwrap_or(0).min(12);
    let bar_w = w.saturating_sub(label_w + text_w + 2);
    let max = items.iter().map(|i| i.value).fold(0.0f64, f64::max);
    let mut out = Vec::new();
    for i in items {
        let frac = if max > 0.0 { i.value / max } else { 0.0 };
        for row in 0..thick.max(1) {
            let middle = row == thick.max(1) / 2;
            let label = if middle { fit(&i.label, label_w) } else { String::new() };
            let mut spans = vec![Span::styled(format!("{label:<label_w$} "), i.style)];
            if bar_w >= 3 {
                spans.push(Span::styled(bar(frac, bar_w), BAR));
                spans.push(Span::raw(" "));
            }
            if middle {
                spans.push(Span::styled(i.text.clone(), i.style));
            }
            out.push(Line::from(spans));
        }
        if thick > 1 {
            out.push(Line::default());
        }
    }
    out
}

/// Bar thickness that fills `rows` with `bars` bars plus `extra` other rows: 1, or up to 3
/// with a blank row between bars.
fn thickness(rows: u16, bars: u16, extra: u16) -> u16 {
    let per = rows.saturating_sub(extra) / bars.max(1);
    if per >= 3 {
        (per - 1).min(3)
    } else {
        1
    }
}

fn chart(title: &str, lines: Vec<Line<'static>>, area: Rect, buf: &mut Buffer) {
    Paragraph::new(lines)
        .block(Block::bordered().title(Span::styled(format!(" {title} "), TITLE)))
        .render(area, buf);
}

/// Draw the compare view into `area`: the three charts of the left column, the p95 chart on the
/// right, and the summary table under them when there is room.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    if area.is_empty() {
        return;
    }
    let total = app.scenario.variants.len();
    let audio = has_audio(app);
    // Bar groups of the p95 chart: end to end, first audio when a pipeline speaks, each model.
    let groups = app.scenario.models.len() + 1 + usize::from(audio);
    let shown = window(total, app.variant, bar_rows(area.height, groups));
    let note = window_note(&shown, total);
    let n = shown.len() as u16;
    let charts_h = (3 * (n + 2)).max(groups as u16 * (n + 1) + 1);
    let table_h = n + 3;
    let (charts, table) = if area.height >= charts_h + table_h {
        let [c, t] = Layout::vertical([Constraint::Min(charts_h), Constraint::Length(table_h)]).areas(area);
        (c, Some(t))
    } else {
        (area, None)
    };
    let [left, right] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(charts);
    render_left(app, &shown, &note, left, buf);
    let groups = groups as u16;
    let t_right = thickness(right.height.saturating_sub(2), groups * n, groups);
    let lines = p95_lines(app, &shown, audio, right.width.saturating_sub(2), t_right);
    chart(&format!("p95 latency [ms]{note}"), lines, right, buf);
    if let Some(t) = table {
        render_table(app, &shown, t, buf);
    }
}

/// How many variants' bars fit `height` rows: three stacked charts on the left (a bar per
/// variant and 2 border rows each), `groups` bar groups on the right (a bar per variant and a
/// heading each, 2 border rows).
fn bar_rows(height: u16, groups: usize) -> usize {
    let fit_left = usize::from(height / 3).saturating_sub(2);
    let fit_right = (usize::from(height.saturating_sub(2)) / groups.max(1)).saturating_sub(1);
    fit_left.min(fit_right)
}

/// The left column: throughput per GPU, cost per hour and failures of the shown variants.
fn render_left(app: &App, shown: &std::ops::Range<usize>, note: &str, area: Rect, buf: &mut Buffer) {
    let [thr, cost, fail] = Layout::vertical([Constraint::Ratio(1, 3); 3]).areas(area);
    let w = thr.width.saturating_sub(2);
    let t = thickness(thr.height.saturating_sub(2), shown.len() as u16, 0);
    let throughput = items(app, shown, |s| {
        Some((s.throughput_rps_per_gpu, format!("{:.2}", s.throughput_rps_per_gpu)))
    });
    chart(&format!("throughput per GPU [req/s]{note}"), bar_lines(&throughput, w, t), thr, buf);
    let dollars = items(app, shown, |s| Some((s.cost_per_hour_usd, format!("${:.2}", s.cost_per_hour_usd))));
    chart("cost [$/h]", bar_lines(&dollars, w, t), cost, buf);
    let failures = items(app, shown, |s| {
        let crash = if s.failures.crashes > 0 {
            format!(" ({} crashes)", s.failures.crashes)
        } else {
            String::new()
        };
        Some((s.failed as f64, format!("{}{crash}", s.failed)))
    });
    chart("failures [requests or turns]", bar_lines(&failures, w, t), fail, buf);
}

/// The p95 chart's lines, `width` columns wide: end to end, the first audio (`audio`), then
/// each model, a dim heading over each group of bars.
fn p95_lines(app: &App, shown: &std::ops::Range<usize>, audio: bool, width: u16, thick: u16) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(Span::styled("end to end", DIM))];
    lines.extend(bar_lines(
        &items(app, shown, |s| Some((s.latency_ms.p95, fmt_ms(s.latency_ms.p95)))),
        width,
        thick,
    ));
    if audio {
        lines.push(Line::from(Span::styled("first audio", DIM)));
        lines.extend(bar_lines(
            &items(app, shown, |s| first_audio_p95(s).map(|x| (x, fmt_ms(x)))),
            width,
            thick,
        ));
    }
    for m in &app.scenario.models {
        lines.push(Line::from(Span::styled(m.name.clone(), DIM)));
        lines.extend(bar_lines(
            &items(app, shown, |s| {
                s.models.get(&m.name).map(|x| (x.latency_ms.p95, fmt_ms(x.latency_ms.p95)))
            }),
            width,
            thick,
        ));
    }
    lines
}

fn render_table(app: &App, shown: &std::ops::Range<usize>, area: Rect, buf: &mut Buffer) {
    let header = Row::new([
        "variant",
        "GPUs",
        "$/h",
        "req/s",
        "req/s/GPU",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "failed",
        "mean busy",
        "audio p95",
    ])
    .style(TITLE);
    let rows = shown_runs(app, shown).map(|(slot, var, style)| {
        let mut cells = vec![var.name.clone(), format!("{}x {}", var.gpus.len(), var.gpu.name)];
        match &slot.state {
            RunState::Done(r) => {
                let s = &r.summary;
                let parts: Vec<f64> = s
                    .gpu_utilization
                    .iter()
                    .filter(|u| !u.partition.contains(':'))
                    .map(|u| u.busy_fraction)
                    .collect();
                let busy = parts.iter().sum::<f64>() / parts.len().max(1) as f64;
                cells.extend([
                    format!("{:.2}", s.cost_per_hour_usd),
                    format!("{:.2}", s.throughput_rps),
                    format!("{:.2}", s.throughput_rps_per_gpu),
                    fmt_ms(s.latency_ms.p50),
                    fmt_ms(s.latency_ms.p95),
                    fmt_ms(s.latency_ms.p99),
                    format!("{}", s.failed),
                    format!("{:.0}%", busy * 100.0),
                    first_audio_p95(s).map_or("-".into(), fmt_ms),
                ]);
            }
            RunState::Running => cells.push("running…".into()),
            RunState::Failed(e) => cells.push(format!("failed: {e}")),
        }
        Row::new(cells).style(style)
    });
    let name_w = app
        .scenario
        .variants
        .iter()
        .map(|v| v.name.chars().count())
        .max()
        .unwrap_or(8)
        .max(8) as u16;
    let widths = [
        Constraint::Length(name_w + 1),
        Constraint::Length(16),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(10),
        Constraint::Length(10),
    ];
    Table::new(rows, widths)
        .flex(ratatui::layout::Flex::Start)
        .header(header)
        .block(Block::bordered().title(Span::styled(" summary (top-level requests; busy: mean over partitions) ", TITLE)))
        .render(area, buf);
}
