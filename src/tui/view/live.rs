//! Live view: with conversations, a line of how many are active and their time to first audio
//! so far; one block per GPU of the selected variant (regime, busy gauge, queue per tenant,
//! MIG slot map, the context a time-sliced GPU runs now), then one row per model with
//! p50/p95/p99 and a sparkline of the mean latency of each tick's completions.

use super::{bar, fit, fmt_ms, BAD, BAR, DIM, INSTANCE, SELECTED, TITLE};
use crate::scenario::Regime;
use crate::sim::DeviceView;
use crate::tui::app::App;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline, Widget, Wrap};

/// Draw the live view into `area`. The GPU block takes the rows it needs; the model block
/// takes the rest, so that a tall terminal gets tall sparklines.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    if area.is_empty() {
        return;
    }
    let area = match conversation_line(app) {
        Some(line) if area.height > 4 => {
            let [top, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
            Paragraph::new(line).render(top, buf);
            rest
        }
        _ => area,
    };
    let n_models = app.scenario.models.len() as u16;
    let lines = gpu_lines(app, gauge_width(area.width.saturating_sub(2)));
    let gpus_need = lines.0.len() as u16 + 2;
    let models_min = (n_models + 2).min(area.height / 2);
    let gpus_h = gpus_need.max(3).min(area.height.saturating_sub(models_min));
    let [gpus, models] = Layout::vertical([Constraint::Length(gpus_h), Constraint::Min(0)]).areas(area);
    render_gpus(app, lines, gpus, buf);
    render_models(app, models, buf);
}

/// The conversations now open (of the users of the conversation workloads) and the time to
/// first audio of the turns measured so far; `None` without conversations.
fn conversation_line(app: &App) -> Option<Line<'static>> {
    let (active, users) = app.live.conversations?;
    let mut spans = vec![
        Span::styled(" Conversations ", TITLE),
        Span::styled(format!("{active}"), SELECTED),
        Span::raw(format!(" active of {users} users")),
    ];
    let (n, fa) = app.live.first_audio;
    if n > 0 {
        spans.push(Span::styled("  │ first audio ", DIM));
        spans.push(Span::raw(format!("p50 {} p95 {} ms ({n} turns)", fmt_ms(fa.p50), fmt_ms(fa.p95))));
    } else {
        spans.push(Span::styled("  │ first audio: measured after the warm-up", DIM));
    }
    Some(Line::from(spans))
}

/// A busy gauge: bar plus percentage (busy time since the warm-up ended, as reports count it).
fn gauge(frac: Option<f64>, width: usize) -> Vec<Span<'static>> {
    match frac {
        Some(f) => vec![
            Span::raw("busy "),
            Span::styled(bar(f, width), BAR),
            Span::raw(format!(" {:>3.0}%", f * 100.0)),
        ],
        None => vec![Span::raw("busy "), Span::styled(format!("{:<w$}", "(warm-up)", w = width + 5), DIM)],
    }
}

/// Width of busy gauges for an inner width `w`.
fn gauge_width(w: u16) -> usize {
    usize::from(w.saturating_sub(60) / 2).clamp(6, 30)
}

fn queue(label: &str, q: usize, running: bool) -> Vec<Span<'static>> {
    let style = if running { SELECTED } else { Style::new() };
    vec![
        Span::styled(format!("{}{label}", if running { "▶" } else { " " }), style),
        Span::styled(format!(" q {q:<3} "), DIM),
    ]
}

/// A device's busy fraction, once the warm-up is over (`warm`); before, `None`.
fn busy(d: &DeviceView, warm: bool) -> Option<f64> {
    warm.then_some(d.busy_fraction)
}

/// The rows of every GPU of the selected variant, and the first row and row count of the
/// selected GPU.
fn gpu_lines(app: &App, gw: usize) -> (Vec<Line<'static>>, (usize, usize)) {
    let Some(var) = app.selected_variant() else {
        return (Vec::new(), (0, 1));
    };
    let warm = app.live.now_s() > crate::time::to_secs(app.scenario.warmup);
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut sel = (0usize, 1usize);
    for (g, plan) in var.gpus.iter().enumerate() {
        let start = lines.len();
        let devs: Vec<&DeviceView> = app.live.devices.iter().filter(|d| d.gpu as usize == g).collect();
        let selected = g == app.gpu;
        let head = gpu_head(g, &plan.regime, selected);
        match &plan.regime {
            Regime::Dedicated => lines.push(dedicated_line(head, devs.first().copied(), gw, warm)),
            Regime::TimeSliced(_) | Regime::Mps { .. } if !devs.is_empty() => {
                lines.extend(shared_lines(head, &plan.regime, devs[0], gw, warm));
            }
            Regime::Mig { .. } => lines.extend(mig_lines(head, &devs, gw, warm)),
            _ => lines.push(Line::from(head)),
        }
        if selected {
            sel = (start, lines.len() - start);
        }
    }
    (lines, sel)
}

/// `▸GPU g  regime      `: the start of a GPU's first row.
fn gpu_head(g: usize, regime: &Regime, selected: bool) -> Vec<Span<'static>> {
    let style = if selected { SELECTED } else { Style::new() };
    let label = match regime {
        Regime::Mig { .. } => "MIG",
        r => r.label(),
    };
    vec![
        Span::styled(format!("{}GPU {g:<2} ", if selected { "▸" } else { " " }), style),
        Span::styled(format!("{label:<12}"), style),
    ]
}

/// A dedicated GPU: one row, its gauge and the queue of its server.
fn dedicated_line(mut head: Vec<Span<'static>>, d: Option<&DeviceView>, gw: usize, warm: bool) -> Line<'static> {
    if let Some(d) = d {
        head.extend(gauge(busy(d, warm), gw));
        head.push(Span::raw("  "));
        for (s, q) in d.servers.iter().zip(&d.queues) {
            head.extend(queue(s, *q, false));
        }
    }
    Line::from(head)
}

/// A time-sliced or MPS GPU: the gauge (with the quantum or `SM shares`), then a row of its
/// tenants with their own busy share, SM cap (MPS) and the context running now (time-sliced).
fn shared_lines(mut head: Vec<Span<'static>>, regime: &Regime, d: &DeviceView, gw: usize, warm: bool) -> [Line<'static>; 2] {
    head.extend(gauge(busy(d, warm), gw));
    match regime {
        Regime::TimeSliced(ts) => head.push(Span::styled(format!("  quantum {} ms", ts.quantum as f64 / 1e6), DIM)),
        _ => head.push(Span::styled("  SM shares", DIM)),
    }
    let mut t = vec![Span::raw("          ")];
    if let Regime::TimeSliced(_) = regime {
        let now = d.running.clone().unwrap_or_else(|| "idle".into());
        t.push(Span::styled(format!("running {now:<8} "), SELECTED));
    }
    for (i, (s, q)) in d.servers.iter().zip(&d.queues).enumerate() {
        // Each tenant's own busy share (after the warm-up), and on MPS its SM cap.
        let b = busy(d, warm)
            .and_then(|_| d.server_busy.get(i))
            .map_or(String::new(), |b| format!(" {:.0}%", b * 100.0));
        let label = match regime {
            Regime::Mps { thread_pct, .. } => format!("{s} {:.0}%SM{b}", thread_pct.get(i).copied().unwrap_or(0.0)),
            _ => format!("{s}{b}"),
        };
        t.extend(queue(&label, *q, d.running.as_deref() == Some(s.as_str())));
    }
    [Line::from(head), Line::from(t)]
}

/// A MIG GPU: its head row, the memory slot and compute slice maps, then one row per instance
/// (letter, profile@start, gauge, queues).
fn mig_lines(head: Vec<Span<'static>>, devs: &[&DeviceView], gw: usize, warm: bool) -> Vec<Line<'static>> {
    let instances: Vec<crate::gpu::PlacedInstance> = devs.iter().filter_map(|d| d.instance.clone()).collect();
    let mut lines = vec![Line::from(head)];
    let mut map = vec![Span::raw("          memory ")];
    map.extend(slots(&instances, 8, true));
    map.push(Span::raw("  compute "));
    map.extend(slots(&instances, 7, false));
    lines.push(Line::from(map));
    for (i, inst) in instances.iter().enumerate() {
        let label = format!("{}@{}", inst.profile.name, inst.start);
        let letter = char::from(b'A' + (i % 26) as u8);
        let color = Style::new().fg(INSTANCE[i % INSTANCE.len()]).add_modifier(Modifier::BOLD);
        let mut l = vec![
            Span::raw("          "),
            Span::styled(format!("{letter} "), color),
            Span::raw(format!("{label:<12}")),
        ];
        match devs.iter().find(|d| d.label == label) {
            Some(d) => {
                l.extend(gauge(busy(d, warm), gw));
                l.push(Span::raw(" "));
                for (s, q) in d.servers.iter().zip(&d.queues) {
                    let name = s.rsplit(':').next().unwrap_or(s);
                    l.extend(queue(name, *q, false));
                }
                if d.servers.is_empty() {
                    l.push(Span::styled(" (empty)", DIM));
                }
            }
            None => l.push(Span::styled("(empty)", DIM)),
        }
        lines.push(Line::from(l));
    }
    lines
}

fn render_gpus(app: &App, (lines, sel): (Vec<Line<'static>>, (usize, usize)), area: Rect, buf: &mut Buffer) {
    let title = app
        .selected_variant()
        .map_or(" GPUs ".to_string(), |var| format!(" GPUs of {} ({}) ", var.name, var.gpu.name));
    let block = Block::bordered().title(Span::styled(title, TITLE));
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.is_empty() {
        return;
    }
    if let Some(e) = &app.live.error {
        Paragraph::new(Span::styled(e.clone(), BAD))
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    }
    // Keep the selected GPU on screen when the variant has more rows than fit.
    let h = usize::from(inner.height);
    let offset = if sel.0 + sel.1 > h { (sel.0 + sel.1 - h).min(sel.0) } else { 0 };
    Paragraph::new(lines).scroll((offset as u16, 0)).render(inner, buf);
}

/// The `n` memory slots or compute slices as coloured instance letters (`·` free).
fn slots(instances: &[crate::gpu::PlacedInstance], n: u32, memory: bool) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    for s in 0..n {
        let owner = instances.iter().position(|p| {
            let (a, b) = if memory { p.mem_range() } else { p.compute_range() };
            s >= a && s < b
        });
        let sep = if s + 1 < n { " " } else { "" };
        out.push(match owner {
            Some(i) => Span::styled(
                format!("{}{sep}", char::from(b'A' + (i % 26) as u8)),
                Style::new().fg(INSTANCE[i % INSTANCE.len()]).add_modifier(Modifier::BOLD),
            ),
            None => Span::styled(format!("·{sep}"), DIM),
        });
    }
    out
}

fn render_models(app: &App, area: Rect, buf: &mut Buffer) {
    let block = Block::bordered().title(Span::styled(
        " Models: latency ms p50 / p95 / p99; sparkline: mean of each tick ",
        TITLE,
    ));
    let inner = block.inner(area);
    block.render(area, buf);
    let n = app.scenario.models.len() as u16;
    if inner.is_empty() || n == 0 {
        return;
    }
    // One row per model, or with room, a text row and a sparkline under it.
    let per = (inner.height / n).max(1);
    let text_w: u16 = 46;
    for (m, spec) in app.scenario.models.iter().enumerate() {
        let y = inner.y + m as u16 * per;
        if y >= inner.bottom() {
            break;
        }
        let row = Rect {
            x: inner.x,
            y,
            width: inner.width,
            height: 1,
        };
        let live = &app.live.models[m];
        let style = if m == app.model { SELECTED } else { Style::new() };
        let mark = if m == app.model { "▸" } else { " " };
        let text = if live.completed == 0 {
            format!("{mark}{:<6} n      0   (latency is measured after the warm-up)", fit(&spec.name, 6))
        } else {
            format!(
                "{mark}{:<6} n {:>6} {:>7} {:>7} {:>7}",
                fit(&spec.name, 6),
                live.completed,
                fmt_ms(live.latency.p50),
                fmt_ms(live.latency.p95),
                fmt_ms(live.latency.p99)
            )
        };
        Paragraph::new(Span::styled(text, style)).render(row, buf);
        let spark = if per >= 3 {
            Rect {
                x: inner.x + 1,
                y: y + 1,
                width: inner.width.saturating_sub(1),
                height: (per - 1).min(inner.bottom() - y - 1),
            }
        } else if row.width > text_w + 4 && live.completed > 0 {
            Rect {
                x: row.x + text_w + 1,
                width: row.width - text_w - 1,
                ..row
            }
        } else {
            continue;
        };
        // Plot above the window's minimum so that the variation shows; the range is printed.
        let h = &app.live.history[m];
        let window: Vec<u64> = h.iter().skip(h.len().saturating_sub(usize::from(spark.width))).copied().collect();
        let (lo, hi) = (window.iter().min().copied().unwrap_or(0), window.iter().max().copied().unwrap_or(0));
        let data: Vec<u64> = window.iter().map(|x| x - lo + 1).collect();
        Sparkline::default().data(&data).style(BAR).render(spark, buf);
        if live.completed > 0 && row.width > text_w + 22 {
            let range = Rect {
                x: row.x + text_w + 1,
                width: row.width - text_w - 1,
                ..row
            };
            if per >= 3 {
                Paragraph::new(Span::styled(format!("sparkline {lo}..{hi} ms"), DIM)).render(range, buf);
            }
        }
    }
}
