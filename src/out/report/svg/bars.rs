//! Bar charts: grouped vertical bars (throughput per model, prices per regime, objective
//! margins, failures) and horizontal bars in labelled groups (busy time per GPU / slice /
//! tenant, validation errors).

use super::{
    axes, c, color, esc, fixed, h_line, legend, legend_height, open_svg, shown, x_grid, x_label, x_ticks, Axis, Rule, RULE_COLOR, W,
};
use std::fmt::Write;

/// Grouped vertical bars: per category one bar per series.
#[derive(Debug, Clone)]
pub struct Bars {
    /// `data-chart` name.
    pub id: String,
    /// Title.
    pub title: String,
    /// The groups along the horizontal axis, and what they are.
    pub categories: Vec<String>,
    /// Label of the horizontal axis.
    pub x_label: String,
    /// Series: legend name and colour.
    pub series: Vec<(String, &'static str)>,
    /// `values[category][series]` (`None`: no bar).
    pub values: Vec<Vec<Option<f64>>>,
    /// Value axis label with its unit.
    pub y_label: String,
    /// Decimals of the value labels; 0 makes the value axis a count (whole-number ticks).
    pub decimals: usize,
    /// A horizontal rule (e.g. 100 % of an objective).
    pub rule: Option<Rule>,
}

/// Render grouped vertical bars.
pub fn bar_chart(b: &Bars) -> String {
    let (x0, x1) = (70.0, W - 24.0);
    let items = shown(b.series.iter().map(|s| (s.0.as_str(), s.1, false)).collect());
    let lh = legend_height(&items, x0, x1);
    let h = 320.0 + lh;
    let (y0, y1) = (40.0 + lh + 8.0, h - 48.0);
    let max = b
        .values
        .iter()
        .flatten()
        .flatten()
        .copied()
        .chain(b.rule.as_ref().map(|r| r.at))
        .fold(0.0, f64::max);
    let top = if max > 0.0 { max * 1.08 } else { 1.0 };
    let y = if b.decimals == 0 {
        Axis::count(b.y_label.clone(), top)
    } else {
        Axis::nice(b.y_label.clone(), 0.0, top)
    };
    let x = Axis::categorical(b.x_label.clone(), b.categories.clone());
    let mut o = String::new();
    open_svg(&mut o, &b.id, &b.title, h);
    legend(&mut o, &items, x0, x1, 46.0);
    axes(&mut o, &x, &y, (x0, x1, y0, y1), h);
    let group = (x1 - x0) / b.categories.len().max(1) as f64;
    let n = b.series.len().max(1) as f64;
    let bw = (group * 0.8 / n).min(56.0);
    o.push_str(r#"<g class="bars">"#);
    for (ci, row) in b.values.iter().enumerate() {
        let mid = x.map(ci as f64, x0, x1);
        let start = mid - bw * n / 2.0;
        for (si, v) in row.iter().enumerate() {
            let Some(v) = v else { continue };
            let top = y.map(v.max(0.0), y1, y0);
            let bx = start + si as f64 * bw;
            let (name, col) = b.series.get(si).map_or(("", color(si)), |s| (s.0.as_str(), s.1));
            let _ = write!(
                o,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>"#,
                c(bx + 1.0),
                c(top),
                c((bw - 2.0).max(1.0)),
                c((y1 - top).max(0.0)),
                col,
                esc(&format!("{} · {name}", b.categories.get(ci).map_or("", |s| s.as_str()))),
                fixed(*v, b.decimals)
            );
            if bw >= 22.0 {
                let _ = write!(
                    o,
                    r#"<text class="val" x="{}" y="{}" text-anchor="middle">{}</text>"#,
                    c(bx + bw / 2.0),
                    c(top - 4.0),
                    fixed(*v, b.decimals)
                );
            }
        }
    }
    o.push_str("</g>");
    if let Some(r) = &b.rule {
        h_line(&mut o, ("rule", "rl"), Some(RULE_COLOR), x0, x1, y.map(r.at, y1, y0), &r.label);
    }
    o.push_str("</svg>");
    o
}

/// One row of horizontal bars.
#[derive(Debug, Clone)]
pub struct HRow {
    /// Label left of the bar.
    pub label: String,
    /// Value (a fraction for a percent axis).
    pub value: f64,
    /// CSS colour.
    pub color: &'static str,
    /// A part of the row above (a tenant of a shared GPU): indented, lighter.
    pub sub: bool,
}

/// Horizontal bars in labelled groups (e.g. per variant its GPUs, slices and tenants).
#[derive(Debug, Clone)]
pub struct HBars {
    /// `data-chart` name.
    pub id: String,
    /// Title.
    pub title: String,
    /// Groups: a heading and its rows.
    pub groups: Vec<(String, Vec<HRow>)>,
    /// Value axis; `percent` for fractions.
    pub axis: Axis,
}

/// Rows above which a horizontal bar chart repeats its value axis along the top, so a tall
/// chart (every run of `accuracy`) reads without scrolling back to its foot.
const HBAR_TOP_AXIS_ROWS: usize = 24;

/// Render horizontal bars.
pub fn hbar_chart(b: &HBars) -> String {
    const ROW: f64 = 20.0;
    let label_w = b
        .groups
        .iter()
        .flat_map(|(_, rows)| rows.iter().map(|r| super::text_w(&r.label, 11.0) + if r.sub { 14.0 } else { 0.0 }))
        .fold(60.0, f64::max)
        .min(300.0);
    let (x0, x1) = (24.0 + label_w + 8.0, W - 64.0);
    let rows: usize = b.groups.iter().map(|(_, r)| r.len() + 1).sum();
    let top_axis = rows > HBAR_TOP_AXIS_ROWS;
    let y0 = if top_axis { 72.0 } else { 46.0 };
    let h = y0 + rows as f64 * ROW + 56.0;
    let mut o = String::new();
    open_svg(&mut o, &b.id, &b.title, h);
    let y1 = h - 48.0;
    o.push_str(r#"<g class="grid">"#);
    x_grid(&mut o, &b.axis, x0, x1, y0, y1);
    o.push_str("</g>");
    let _ = write!(o, r#"<path class="axis" d="M{} {} L{} {}" />"#, c(x0), c(y1), c(x1), c(y1));
    x_ticks(&mut o, &b.axis, x0, x1, y1, false);
    if top_axis {
        let _ = write!(o, r#"<path class="axis" d="M{} {} L{} {}" />"#, c(x0), c(y0), c(x1), c(y0));
        x_ticks(&mut o, &b.axis, x0, x1, y0, true);
    }
    x_label(&mut o, &b.axis.label, x0, x1, h);
    let zero = b.axis.map(0.0_f64.clamp(b.axis.lo, b.axis.hi), x0, x1);
    let signed = b.axis.lo < 0.0;
    let mut y = y0 + 4.0;
    for (g, rs) in &b.groups {
        let _ = write!(o, r#"<text class="grp" x="24" y="{}">{}</text>"#, c(y + 13.0), esc(g));
        y += ROW;
        for r in rs {
            let indent = if r.sub { 14.0 } else { 0.0 };
            let _ = write!(
                o,
                r#"<text class="rowl{}" x="{}" y="{}">{}</text>"#,
                if r.sub { " sub" } else { "" },
                c(24.0 + indent),
                c(y + 13.0),
                esc(&r.label)
            );
            let end = b.axis.map(r.value.clamp(b.axis.lo, b.axis.hi), x0, x1);
            let val = match (b.axis.percent, signed) {
                (true, true) => crate::out::report::signed_pct(r.value * 100.0),
                (true, false) => crate::out::report::pct(r.value, 0),
                _ => fixed(r.value, 2),
            };
            let _ = write!(
                o,
                r#"<rect class="{}" x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>"#,
                if r.sub { "hb sub" } else { "hb" },
                c(zero.min(end)),
                c(y + 3.0),
                c((end - zero).abs()),
                c(ROW - 6.0),
                r.color,
                esc(&r.label),
                val
            );
            let (tx, anchor) = if end < zero { (end - 5.0, "end") } else { (end + 5.0, "start") };
            let _ = write!(
                o,
                r#"<text class="val" x="{}" y="{}" text-anchor="{anchor}">{}</text>"#,
                c(tx),
                c(y + 13.0),
                val
            );
            y += ROW;
        }
    }
    o.push_str("</svg>");
    o
}
