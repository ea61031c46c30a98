//! Heat maps: a sweep metric over its first two axes, coloured on viridis (perceptually even,
//! readable in grey and by the colour-blind), each cell also labelled with its value.

use super::{c, esc, fixed, open_svg, text_w, x_label, W};
use std::fmt::Write;

/// A heat map of a metric over two axes.
#[derive(Debug, Clone)]
pub struct Heat {
    /// `data-chart` name.
    pub id: String,
    /// Title.
    pub title: String,
    /// Column labels and what they are.
    pub x_labels: Vec<String>,
    /// Horizontal axis label.
    pub x_label: String,
    /// Row labels (top to bottom) and what they are.
    pub y_labels: Vec<String>,
    /// Vertical axis label.
    pub y_label: String,
    /// `values[row][column]`.
    pub values: Vec<Vec<Option<f64>>>,
    /// The metric and its unit (the colour scale's label).
    pub unit: String,
    /// Decimals of the cell labels.
    pub decimals: usize,
}

/// Viridis at `t` in [0, 1] (five stops, linear between them).
fn viridis(t: f64) -> (u8, u8, u8) {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = t.clamp(0.0, 1.0) * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let m = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    (m(a.0, b.0), m(a.1, b.1), m(a.2, b.2))
}

/// Render a heat map.
pub fn heat_map(hm: &Heat) -> String {
    // The row axis is labelled above its values, not turned up the side: a path such as
    // `workload[0].arrivals.rate_rps` is longer than a few rows are high.
    let label_w = hm
        .y_labels
        .iter()
        .map(|s| text_w(s, 11.0))
        .chain([text_w(&hm.y_label, 12.0)])
        .fold(30.0, f64::max)
        .min(240.0);
    let (x0, x1) = (24.0 + label_w + 8.0, W - 110.0);
    let rows = hm.y_labels.len().max(1);
    let cell_h = 34.0;
    let y0 = 64.0;
    let y1 = y0 + rows as f64 * cell_h;
    let h = y1 + 56.0;
    let vals: Vec<f64> = hm.values.iter().flatten().flatten().copied().filter(|v| v.is_finite()).collect();
    let (lo, hi) = (
        vals.iter().copied().fold(f64::INFINITY, f64::min),
        vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let (lo, hi) = if vals.is_empty() { (0.0, 1.0) } else { (lo, hi) };
    let t = |v: f64| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
    let mut o = String::new();
    open_svg(&mut o, &hm.id, &hm.title, h);
    let cols = hm.x_labels.len().max(1);
    let cw = (x1 - x0) / cols as f64;
    for (r, row) in hm.values.iter().enumerate() {
        let y = y0 + r as f64 * cell_h;
        let _ = write!(
            o,
            r#"<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>"#,
            c(x0 - 6.0),
            c(y + cell_h / 2.0 + 4.0),
            esc(hm.y_labels.get(r).map_or("", |s| s.as_str()))
        );
        for (k, v) in row.iter().enumerate() {
            let x = x0 + k as f64 * cw;
            match v {
                Some(v) if v.is_finite() => {
                    let (cr, cg, cb) = viridis(t(*v));
                    let light = 0.299 * f64::from(cr) + 0.587 * f64::from(cg) + 0.114 * f64::from(cb) > 140.0;
                    let _ = write!(
                        o,
                        "<rect class=\"cell\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#{cr:02x}{cg:02x}{cb:02x}\"><title>{}</title></rect>",
                        c(x),
                        c(y),
                        c(cw),
                        c(cell_h),
                        fixed(*v, hm.decimals)
                    );
                    if cw >= 36.0 {
                        let _ = write!(
                            o,
                            r#"<text class="cv{}" x="{}" y="{}" text-anchor="middle">{}</text>"#,
                            if light { "" } else { " inv" },
                            c(x + cw / 2.0),
                            c(y + cell_h / 2.0 + 4.0),
                            fixed(*v, hm.decimals)
                        );
                    }
                }
                _ => {
                    let _ = write!(
                        o,
                        r#"<rect class="cell none" x="{}" y="{}" width="{}" height="{}" />"#,
                        c(x),
                        c(y),
                        c(cw),
                        c(cell_h)
                    );
                }
            }
        }
    }
    for (k, s) in hm.x_labels.iter().enumerate() {
        let _ = write!(
            o,
            r#"<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            c(x0 + (k as f64 + 0.5) * cw),
            c(y1 + 17.0),
            esc(s)
        );
    }
    x_label(&mut o, &hm.x_label, x0, x1, h);
    let _ = write!(
        o,
        r#"<text class="lbl" x="{}" y="{}" text-anchor="end">{}</text>"#,
        c(x0 - 6.0),
        c(y0 - 10.0),
        esc(&hm.y_label)
    );
    // The colour scale: ten steps from the lowest to the highest value.
    let (sx, sw) = (x1 + 24.0, 16.0);
    let steps = 10;
    let sh = (y1 - y0) / steps as f64;
    for i in 0..steps {
        let (cr, cg, cb) = viridis(1.0 - (i as f64 + 0.5) / steps as f64);
        let _ = write!(
            o,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#{cr:02x}{cg:02x}{cb:02x}\" />",
            c(sx),
            c(y0 + i as f64 * sh),
            c(sw),
            c(sh + 0.5)
        );
    }
    let _ = write!(
        o,
        r#"<text class="tick" x="{}" y="{}">{}</text>"#,
        c(sx + sw + 4.0),
        c(y0 + 9.0),
        fixed(hi, hm.decimals)
    );
    let _ = write!(
        o,
        r#"<text class="tick" x="{}" y="{}">{}</text>"#,
        c(sx + sw + 4.0),
        c(y1),
        fixed(lo, hm.decimals)
    );
    // The scale's label sits above it, ending at the canvas' right edge.
    let _ = write!(
        o,
        r#"<text class="lbl" x="{}" y="{}" text-anchor="end">{}</text>"#,
        c(W - 8.0),
        c(y0 - 10.0),
        esc(&hm.unit)
    );
    o.push_str("</svg>");
    o
}
