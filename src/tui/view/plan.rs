//! Plan view: the planner on the loaded scenario with the SLOs as the TUI shows them. Before a
//! run, the objectives it will use; while it runs, a progress bar; then the cheapest
//! deployment, the best of each regime and the ranked candidates.

use super::{bar, fit, fmt_ms, BAD, BAR, DIM, GOOD, SELECTED, TITLE};
use crate::plan::fmt_value;
use crate::tui::app::{App, PlanState};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

/// ` GPU types: …; regimes: …` as the spec's `[plan]` lists them (empty lists: every one).
fn search_space(spec: &crate::scenario::raw::RawScenario) -> String {
    let (types, regimes) = match &spec.plan {
        Some(p) => (
            p.gpu_types.join(", "),
            p.regimes.iter().map(|r| r.name()).collect::<Vec<_>>().join(", "),
        ),
        None => (String::new(), String::new()),
    };
    let or_every = |s: String, every: &str| if s.is_empty() { every.to_string() } else { s };
    format!(
        " GPU types: {}; regimes: {}",
        or_every(types, "all of the catalog"),
        or_every(regimes, "all")
    )
}

pub(super) fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let w = usize::from(area.width);
    let mut lines = Vec::new();
    let spec = app.plan_spec();
    let slos: Vec<String> = spec
        .slo
        .iter()
        .map(|(k, v)| {
            let at_least = k
                .rsplit_once('.')
                .and_then(|(_, m)| crate::scenario::SloMetric::parse(m))
                .is_some_and(|m| !m.is_max());
            if at_least {
                format!("{k} >= {v}")
            } else {
                format!("{k} <= {} ms", fmt_ms(*v))
            }
        })
        .collect();
    let objectives = if slos.is_empty() {
        Span::styled(fit("none: the scenario has no [slo]", w.saturating_sub(12)), DIM)
    } else {
        Span::raw(fit(&slos.join(", "), w.saturating_sub(12)))
    };
    lines.push(Line::from(vec![Span::styled(" Objectives ", TITLE), objectives]));
    lines.push(Line::from(Span::styled(fit(&search_space(&spec), w), DIM)));
    lines.push(Line::raw(""));
    match &app.plan {
        PlanState::Idle if slos.is_empty() => {
            lines.push(Line::from(Span::raw(fit(
                " Nothing to plan against: add [slo] to the scenario,",
                w,
            ))));
            lines.push(Line::from(Span::raw(fit(
                " or ] [ start the model's p95 objective at its measured p95.",
                w,
            ))));
        }
        PlanState::Idle => {
            lines.push(Line::from(Span::raw(fit(
                " p plans the cheapest deployment that meets these objectives",
                w,
            ))));
            lines.push(Line::from(Span::raw(fit(" (] [ change the selected model's p95).", w))));
        }
        PlanState::Running(done, total) => {
            let frac = if *total > 0 { *done as f64 / *total as f64 } else { 0.0 };
            lines.push(Line::from(vec![
                Span::raw(" planning "),
                Span::styled(bar(frac, w.saturating_sub(30).min(40)), BAR),
                Span::raw(format!(" {done}/{total} structures")),
            ]));
        }
        PlanState::Failed(e) => lines.push(Line::from(Span::styled(fit(&format!(" cannot plan: {e}"), w), BAD))),
        PlanState::Done(r) => {
            match &r.best {
                Some(b) => {
                    lines.push(Line::from(vec![
                        Span::styled(" Best ", TITLE),
                        Span::styled(fit(&b.name, w.saturating_sub(8)), GOOD),
                    ]));
                    lines.push(Line::from(Span::raw(format!(
                        "      {} GPUs  ${:.2}/h  headroom {}  ({} simulations)",
                        b.gpus,
                        b.cost_per_hour_usd,
                        b.headroom_pct.map_or("-".into(), |h| format!("+{h:.0}%")),
                        r.simulations
                    ))));
                }
                None => lines.push(Line::from(Span::styled(
                    fit(&format!(" No plan: {}", r.reason.as_deref().unwrap_or("none meets the SLOs")), w),
                    BAD,
                ))),
            }
            lines.push(Line::raw(""));
            lines.push(Line::from(Span::styled(" Best per regime", TITLE)));
            for (regime, c) in &r.per_regime {
                let text = match c {
                    Some(c) => format!("  {regime:<12}{:>3} GPUs ${:>7.2}/h  {}", c.gpus, c.cost_per_hour_usd, c.name),
                    None => format!("  {regime:<12}none meets the SLOs"),
                };
                lines.push(Line::from(Span::raw(fit(&text, w))));
            }
            lines.push(Line::raw(""));
            lines.extend(candidate_lines(r, w));
        }
    }
    Paragraph::new(lines).render(area, buf);
}

/// Widest header of an objective column of the candidates table.
pub(super) const COLUMN_MAX: usize = 16;

/// The ranked candidates as a table `w` columns wide: rank, GPUs, $/h, one column per objective
/// (headed by [`column_labels`]) and the deployment; those failing an objective dimmed.
fn candidate_lines(r: &crate::plan::PlanResult, w: usize) -> Vec<Line<'static>> {
    let keys: Vec<&str> = r.slo.iter().map(|s| s.key.as_str()).collect();
    let labels = column_labels(&keys, COLUMN_MAX);
    // Each column as wide as its header, and at least as an availability ("0.9990").
    let widths: Vec<usize> = labels.iter().map(|l| l.chars().count().max(6)).collect();
    let mut head = format!("  {:>3} {:>4} {:>8}", "#", "GPUs", "$/h");
    for (l, cw) in labels.iter().zip(&widths) {
        head.push_str(&format!(" {l:>cw$}"));
    }
    head.push_str("  deployment");
    let mut lines = vec![Line::from(Span::styled(fit(&head, w), SELECTED))];
    for (i, c) in r.candidates.iter().enumerate() {
        let mut row = format!("  {:>3} {:>4} {:>8.2}", i + 1, c.gpus, c.cost_per_hour_usd);
        for (k, cw) in keys.iter().zip(&widths) {
            row.push_str(&format!(" {:>cw$}", fmt_value(c.slo_values.get(*k).copied().flatten())));
        }
        row.push_str(&format!("  {}{}", if c.meets_slo { "" } else { "FAIL " }, c.name));
        let style = if c.meets_slo { ratatui::style::Style::new() } else { DIM };
        lines.push(Line::from(Span::styled(fit(&row, w), style)));
    }
    lines
}

/// Headers of the objective columns: each `[slo]` key as written (`asr.p95_ms`), or when longer
/// than `max`, shortened so that the model or workload and the metric both stay readable: without
/// the `_ms` unit, `first_audio` as `audio`, then the model or workload cut (`voice….audio_p95`).
/// When two keys would then read the same, every name keeps both its ends instead (`voi…-a.p95`),
/// and labels still alike are numbered, so that no two columns look the same.
pub(super) fn column_labels(keys: &[&str], max: usize) -> Vec<String> {
    let alike = |labels: &[String], i: usize| labels.iter().filter(|l| **l == labels[i]).count() > 1;
    let mut labels: Vec<String> = keys.iter().map(|k| column_label(k, max, fit)).collect();
    if (0..keys.len()).any(|i| alike(&labels, i)) {
        labels = keys.iter().map(|k| column_label(k, max, fit_middle)).collect();
    }
    let numbered: Vec<bool> = (0..keys.len()).map(|i| alike(&labels, i)).collect();
    for (i, l) in labels.iter_mut().enumerate() {
        if numbered[i] {
            *l = format!("{}:{}", i + 1, fit(l, max.saturating_sub(2)));
        }
    }
    labels
}

/// One key as a header of at most `max` columns; `cut` shortens the model or workload name.
fn column_label(key: &str, max: usize, cut: fn(&str, usize) -> String) -> String {
    if key.chars().count() <= max {
        return key.to_string();
    }
    let short = key.strip_suffix("_ms").unwrap_or(key);
    if short.chars().count() <= max {
        return short.to_string();
    }
    let Some((target, metric)) = short.rsplit_once('.') else {
        return cut(short, max);
    };
    let metric = metric.replace("first_audio", "audio");
    match max.checked_sub(metric.chars().count() + 1) {
        Some(room) if room >= 2 => format!("{}.{metric}", cut(target, room)),
        _ => fit(&format!("{target}.{metric}"), max),
    }
}

/// Text cut to `w` characters keeping both ends (`voi…rn`).
fn fit_middle(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        return s.to_string();
    }
    if w < 3 {
        return fit(s, w);
    }
    let tail = (w - 1) / 2;
    let head = w - 1 - tail;
    let mut t: String = s.chars().take(head).collect();
    t.push('…');
    t.extend(s.chars().skip(n - tail));
    t
}
