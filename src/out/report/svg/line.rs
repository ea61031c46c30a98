//! Line charts: latency CDFs, utilisation timelines, load projections, sweep metrics with their
//! confidence bands.

use super::{axes, c, esc, h_line, legend, legend_height, open_svg, path_d, shown, Axis, Rule, RULE_COLOR, W};
use std::fmt::Write;

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// CSS colour.
    pub color: &'static str,
    /// Points in data coordinates, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Dashed (a reference or measured line).
    pub dashed: bool,
    /// Draw a dot at every point (few points: sweeps, projections).
    pub markers: bool,
}

/// A shaded area between two lines (a confidence interval, the replays' range).
#[derive(Debug, Clone)]
pub struct Band {
    /// CSS colour.
    pub color: &'static str,
    /// One edge, in drawing order.
    pub upper: Vec<(f64, f64)>,
    /// The other edge, in the same order (drawn back).
    pub lower: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// `data-chart` name, unique in the page (clip paths are named after it).
    pub id: String,
    /// Title.
    pub title: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// Lines.
    pub series: Vec<Series>,
    /// Shaded areas, drawn under the lines.
    pub bands: Vec<Band>,
    /// Vertical rules at x values.
    pub vrules: Vec<Rule>,
    /// Horizontal rules at y values.
    pub hrules: Vec<Rule>,
    /// Canvas height [px] without the legend (a chart grows by the rows its legend takes, so
    /// every chart of a kind has the same plot area).
    pub height: f64,
}

impl LineChart {
    /// An empty chart of `id` and `title` over the two axes, 360 px high.
    pub fn new(id: impl Into<String>, title: impl Into<String>, x: Axis, y: Axis) -> LineChart {
        LineChart {
            id: id.into(),
            title: title.into(),
            x,
            y,
            series: Vec::new(),
            bands: Vec::new(),
            vrules: Vec::new(),
            hrules: Vec::new(),
            height: 360.0,
        }
    }
}

/// Render a line chart.
pub fn line_chart(ch: &LineChart) -> String {
    let (x0, x1) = (70.0, W - 24.0);
    let items = shown(ch.series.iter().map(|s| (s.name.as_str(), s.color, s.dashed)).collect());
    let lh = legend_height(&items, x0, x1);
    let h = ch.height + lh;
    let (y0, y1) = (40.0 + lh + 8.0, h - 48.0);
    let mut o = String::new();
    open_svg(&mut o, &ch.id, &ch.title, h);
    legend(&mut o, &items, x0, x1, 46.0);
    axes(&mut o, &ch.x, &ch.y, (x0, x1, y0, y1), h);
    let clip = format!("clip-{}", ch.id);
    let _ = write!(
        o,
        r#"<clipPath id="{}"><rect x="{}" y="{}" width="{}" height="{}" /></clipPath>"#,
        esc(&clip),
        c(x0),
        c(y0 - 1.0),
        c(x1 - x0),
        c(y1 - y0 + 2.0)
    );
    let px = |p: &(f64, f64)| (ch.x.map(p.0, x0, x1), ch.y.map(p.1, y1, y0));
    let _ = write!(o, r#"<g clip-path="url(#{})">"#, esc(&clip));
    for b in &ch.bands {
        let mut pts: Vec<(f64, f64)> = b.upper.iter().map(px).collect();
        pts.extend(b.lower.iter().rev().map(px));
        if pts.len() >= 3 {
            let _ = write!(o, r#"<path class="band" d="{} Z" fill="{}" />"#, path_d(&pts), b.color);
        }
    }
    for s in ch.series.iter().filter(|s| !s.points.is_empty()) {
        let pts: Vec<(f64, f64)> = s.points.iter().map(px).collect();
        let _ = write!(
            o,
            r#"<path class="line" d="{}" stroke="{}"{} />"#,
            path_d(&pts),
            s.color,
            if s.dashed { r#" stroke-dasharray="6 4""# } else { "" }
        );
    }
    o.push_str("</g>");
    // Markers outside the clip (a point on the plot's edge shows whole), those inside the axes.
    let inside = |p: &&(f64, f64)| p.0 >= ch.x.lo && p.0 <= ch.x.hi && p.1 >= ch.y.lo && p.1 <= ch.y.hi;
    for s in ch.series.iter().filter(|s| s.markers) {
        for (x, y) in s.points.iter().filter(inside).map(px) {
            let _ = write!(
                o,
                r#"<circle class="dot" cx="{}" cy="{}" r="3.5" fill="{}" />"#,
                c(x),
                c(y),
                s.color
            );
        }
    }
    for (i, r) in ch.vrules.iter().enumerate() {
        if r.at < ch.x.lo || r.at > ch.x.hi {
            continue;
        }
        let x = ch.x.map(r.at, x0, x1);
        let _ = write!(
            o,
            r#"<line class="rule" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{RULE_COLOR}" />"#,
            c(x),
            c(y0),
            c(x),
            c(y1)
        );
        let right = x + 6.0 + super::text_w(&r.label, 11.0) > x1;
        let _ = write!(
            o,
            r#"<text class="rl" x="{}" y="{}" text-anchor="{}">{}</text>"#,
            c(if right { x - 5.0 } else { x + 5.0 }),
            c(y0 + 13.0 + 14.0 * i as f64),
            if right { "end" } else { "start" },
            esc(&r.label)
        );
    }
    for r in ch.hrules.iter().filter(|r| r.at >= ch.y.lo && r.at <= ch.y.hi) {
        h_line(&mut o, ("hrule", "hl"), None, x0, x1, ch.y.map(r.at, y1, y0), &r.label);
    }
    o.push_str("</svg>");
    o
}
