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
    let types = spec.plan.as_ref().map(|p| p.gpu_types.join(", ")).unwrap_or_default();
    lines.push(Line::from(Span::styled(fit(&format!(" GPU types: {types}; every regime"), w), DIM)));
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
            let keys: Vec<&String> = r.slo.iter().map(|s| &s.key).collect();
            let mut head = format!("  {:>3} {:>4} {:>8}", "#", "GPUs", "$/h");
            for k in &keys {
                head.push_str(&format!(" {:>9}", fit(k.rsplit('.').next().unwrap_or(k), 9)));
            }
            head.push_str("  deployment");
            lines.push(Line::from(Span::styled(fit(&head, w), SELECTED)));
            for (i, c) in r.candidates.iter().enumerate() {
                let mut row = format!("  {:>3} {:>4} {:>8.2}", i + 1, c.gpus, c.cost_per_hour_usd);
                for k in &keys {
                    row.push_str(&format!(" {:>9}", fmt_value(c.slo_values.get(*k).copied().flatten())));
                }
                row.push_str(&format!("  {}{}", if c.meets_slo { "" } else { "FAIL " }, c.name));
                lines.push(Line::from(Span::styled(
                    fit(&row, w),
                    if c.meets_slo { ratatui::style::Style::new() } else { DIM },
                )));
            }
        }
    }
    Paragraph::new(lines).render(area, buf);
}
