//! The charts of the reports, as hand-written SVG strings: a line chart (CDFs, timelines,
//! projections, sweep metrics with their bands), grouped vertical bars, horizontal bars (busy
//! per GPU / slice / tenant), a heat map and the GPU layout diagram (MIG slots, tenants, nodes).
//!
//! Hand-written rather than a plotting crate: the charts are a few kinds of rectangles, paths and
//! text, the output must be byte-identical for the same inputs (every coordinate is printed with
//! one fixed decimal, every label with a fixed format, nothing depends on a font being
//! installed), and the markup stays small and styled by the page's CSS (classes, not inline
//! styles), so it reads the same offline, in CI artifacts and in print.
//!
//! Every chart is one `<svg class="chart" data-chart="ID">` with a `<title>`, axes with ticks and
//! unit-bearing labels, and a legend when it has more than one series. Text widths are estimated
//! (a fixed advance per character) because nothing here can measure a font. The `<svg>` carries
//! no `xmlns`: inside an HTML page the parser puts it in the SVG namespace by itself, and the
//! page then holds no URL at all (nothing a reader or a CI sandbox could try to fetch).
//!
//! This module has what every chart shares (numbers, ticks, axes, legends, the canvas); one
//! submodule per kind of chart: [`line`], [`bars`] (vertical and horizontal), [`heat`] and
//! [`layout`] (the GPU diagram).

mod bars;
mod heat;
mod layout;
mod line;

pub use bars::{bar_chart, hbar_chart, Bars, HBars, HRow};
pub use heat::{heat_map, Heat};
pub use layout::{gpu_layout, GpuBox, GpuContent, Slot};
pub use line::{line_chart, Band, LineChart, Series};

use std::fmt::Write;

/// Width of every chart's canvas [px]; the page scales it down on narrow screens.
pub const W: f64 = 720.0;

/// The categorical palette (Tableau 10, colour-blind aware): series `i` gets `PALETTE[i % 10]`,
/// so a variant keeps its colour across every chart of a report.
pub const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
];

/// The colour of objectives and limits drawn over a chart.
pub const RULE_COLOR: &str = "#c0392b";

/// Series colour `i`.
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Escape text for XML/HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// `x` with `decimals` fixed decimals; never `-0`, and `-` for a non-finite value.
pub fn fixed(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let s = format!("{x:.decimals$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

/// A coordinate [px], one decimal.
fn c(x: f64) -> String {
    fixed(x, 1)
}

/// Estimated width of `s` at `size` px (a fixed advance per character).
pub fn text_w(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.56
}

/// Ticks for `[lo, hi]`: a step of 1, 2 or 2.5 or 5 times a power of ten giving at most `n`
/// intervals, and the ticks from the first multiple at or above `lo` to `hi`.
pub fn ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    let span = (hi - lo).abs().max(1e-12);
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag);
    let first = (lo / step - 1e-9).ceil();
    let mut out = Vec::new();
    let mut k = first;
    while k * step <= hi + step * 1e-9 && out.len() < 100 {
        // Snap to the step's decimals so that 0.1 + 0.2 prints as 0.3.
        out.push((k * step * 1e9).round() / 1e9);
        k += 1.0;
    }
    (out, step)
}

/// Decimals a tick label needs at `step`.
pub fn step_decimals(step: f64) -> usize {
    let mut d = 0;
    while d < 6 && ((step * 10f64.powi(d as i32)).round() - step * 10f64.powi(d as i32)).abs() > 1e-6 {
        d += 1;
    }
    d
}

/// `[lo, hi]` widened to whole steps of its ticks.
pub fn nice_range(lo: f64, hi: f64, n: usize) -> (f64, f64) {
    let (lo, hi) = if hi - lo < 1e-12 {
        (lo - 0.5_f64.max(lo.abs() * 0.1), hi + 0.5_f64.max(hi.abs() * 0.1))
    } else {
        (lo, hi)
    };
    let (_, step) = ticks(lo, hi, n);
    ((lo / step + 1e-9).floor() * step, (hi / step - 1e-9).ceil() * step)
}

/// One axis: its range, how its ticks read and its label (with the unit).
#[derive(Debug, Clone)]
pub struct Axis {
    /// Label with unit, e.g. `latency [ms]`.
    pub label: String,
    /// Range.
    pub lo: f64,
    /// Range.
    pub hi: f64,
    /// Tick labels as a percentage of the value (`0.95` reads `95%`).
    pub percent: bool,
    /// Text labels at integer positions instead of numeric ticks (a categorical axis).
    pub categories: Vec<String>,
}

impl Axis {
    /// A numeric axis over `[lo, hi]` widened to nice ticks.
    pub fn nice(label: impl Into<String>, lo: f64, hi: f64) -> Axis {
        let (lo, hi) = nice_range(lo, hi, 6);
        Axis {
            label: label.into(),
            lo,
            hi,
            percent: false,
            categories: Vec::new(),
        }
    }

    /// A numeric axis over exactly `[lo, hi]`.
    pub fn exact(label: impl Into<String>, lo: f64, hi: f64) -> Axis {
        Axis {
            label: label.into(),
            lo,
            hi: if hi > lo { hi } else { lo + 1.0 },
            percent: false,
            categories: Vec::new(),
        }
    }

    /// A count from 0 to at least `hi`: whole-number ticks (never a step below 1).
    pub fn count(label: impl Into<String>, hi: f64) -> Axis {
        // From 5 up, a nice step over at most 6 intervals is at least 1.
        Axis::nice(label, 0.0, hi.max(5.0))
    }

    /// `[0, 1]` read as percentages.
    pub fn fraction(label: impl Into<String>) -> Axis {
        Axis {
            percent: true,
            ..Axis::exact(label, 0.0, 1.0)
        }
    }

    /// Text labels at positions `0, 1, ...` (with half a step of margin on each side).
    pub fn categorical(label: impl Into<String>, categories: Vec<String>) -> Axis {
        Axis {
            label: label.into(),
            lo: -0.5,
            hi: categories.len().max(1) as f64 - 0.5,
            percent: false,
            categories,
        }
    }

    /// Where `v` falls between `a` (at `lo`) and `b` (at `hi`).
    fn map(&self, v: f64, a: f64, b: f64) -> f64 {
        a + (v - self.lo) / (self.hi - self.lo) * (b - a)
    }

    /// The ticks and their labels.
    fn tick_labels(&self) -> Vec<(f64, String)> {
        if !self.categories.is_empty() {
            return self.categories.iter().enumerate().map(|(i, s)| (i as f64, s.clone())).collect();
        }
        let (ts, step) = ticks(self.lo, self.hi, 6);
        let d = if self.percent {
            step_decimals(step * 100.0)
        } else {
            step_decimals(step)
        };
        ts.into_iter()
            .map(|t| {
                (
                    t,
                    if self.percent {
                        format!("{}%", fixed(t * 100.0, d))
                    } else {
                        fixed(t, d)
                    },
                )
            })
            .collect()
    }
}

/// A labelled line across the plot at a value (an objective, a limit).
#[derive(Debug, Clone)]
pub struct Rule {
    /// Where, in data coordinates of its axis.
    pub at: f64,
    /// Its label.
    pub label: String,
}

/// Where each legend entry of `names` goes, as `(x, row offset)` from the legend's top, laid out
/// in rows between `x0` and `x1`; and the height the rows take (0 for no entry). One layout
/// for drawing and for sizing, so a chart reserves exactly the room its legend takes.
fn legend_layout(names: &[&str], x0: f64, x1: f64) -> (Vec<(f64, f64)>, f64) {
    let (mut x, mut row) = (x0, 0.0);
    let mut at = Vec::with_capacity(names.len());
    for name in names {
        let w = 22.0 + text_w(name, 12.0) + 18.0;
        if x > x0 && x + w > x1 {
            x = x0;
            row += 18.0;
        }
        at.push((x, row));
        x += w;
    }
    (at, if names.is_empty() { 0.0 } else { row + 18.0 })
}

/// A legend entry: name, colour, dashed.
type Entry<'a> = (&'a str, &'static str, bool);

/// Legend `items` (none when there is a single series: the title names it) drawn from `y`.
fn legend(o: &mut String, items: &[Entry], x0: f64, x1: f64, y: f64) {
    let names: Vec<&str> = items.iter().map(|i| i.0).collect();
    let (at, _) = legend_layout(&names, x0, x1);
    o.push_str(r#"<g class="legend">"#);
    for ((name, col, dashed), (x, row)) in items.iter().zip(at) {
        let yy = y + row;
        let _ = write!(
            o,
            r#"<line class="lg" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{col}"{} />"#,
            c(x),
            c(yy - 4.0),
            c(x + 16.0),
            c(yy - 4.0),
            if *dashed { r#" stroke-dasharray="5 3""# } else { "" }
        );
        let _ = write!(o, r#"<text x="{}" y="{}">{}</text>"#, c(x + 22.0), c(yy), esc(name));
    }
    o.push_str("</g>");
}

/// The legend a chart of `items` shows: all of them when there are two or more, else none.
fn shown<'a>(items: Vec<Entry<'a>>) -> Vec<Entry<'a>> {
    if items.len() > 1 {
        items
    } else {
        Vec::new()
    }
}

/// Height of the legend of `items` between `x0` and `x1`.
fn legend_height(items: &[Entry], x0: f64, x1: f64) -> f64 {
    legend_layout(&items.iter().map(|i| i.0).collect::<Vec<_>>(), x0, x1).1
}

/// The canvas of a chart `h` px high: the `<svg>` with its id, accessible title, background and
/// visible title.
fn open_svg(o: &mut String, id: &str, title: &str, h: f64) {
    let _ = write!(
        o,
        r#"<svg class="chart" data-chart="{}" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}"><title>{}</title>"#,
        esc(id),
        c(W),
        c(h),
        c(W),
        c(h),
        esc(title),
        esc(title)
    );
    let _ = write!(o, r#"<rect class="bg" x="0" y="0" width="{}" height="{}" />"#, c(W), c(h));
    let _ = write!(o, r#"<text class="ttl" x="16" y="24">{}</text>"#, esc(title));
}

/// A path through `pts` (pixel coordinates), leaving out points closer than half a pixel to the
/// last one drawn (a CDF of many points draws as few segments as it needs).
fn path_d(pts: &[(f64, f64)]) -> String {
    let mut d = String::new();
    let mut last: Option<(f64, f64)> = None;
    for (i, &(x, y)) in pts.iter().enumerate() {
        let keep = match last {
            None => true,
            Some((lx, ly)) => i + 1 == pts.len() || (x - lx).abs() >= 0.5 || (y - ly).abs() >= 0.5,
        };
        if keep {
            let _ = write!(d, "{}{} {}", if last.is_none() { "M" } else { " L" }, c(x), c(y));
            last = Some((x, y));
        }
    }
    d
}

/// Vertical grid lines at the ticks of `x` (numeric axes only) over `[y0, y1]`.
fn x_grid(o: &mut String, x: &Axis, x0: f64, x1: f64, y0: f64, y1: f64) {
    if !x.categories.is_empty() {
        return;
    }
    for (t, _) in x.tick_labels() {
        let px = x.map(t, x0, x1);
        let _ = write!(o, r#"<line x1="{}" y1="{}" x2="{}" y2="{}" />"#, c(px), c(y0), c(px), c(y1));
    }
}

/// Tick marks and labels of `x` on the line `y` (below it, or above with `above`); labels
/// that would collide are thinned to every k-th.
fn x_ticks(o: &mut String, x: &Axis, x0: f64, x1: f64, y: f64, above: bool) {
    let xl = x.tick_labels();
    let room = (x1 - x0) / xl.len().max(1) as f64;
    let widest = xl.iter().map(|(_, s)| text_w(s, 11.0)).fold(0.0, f64::max);
    let every = if widest + 6.0 > room {
        ((widest + 6.0) / room).ceil() as usize
    } else {
        1
    };
    let (mark, text) = if above { (y - 4.0, y - 8.0) } else { (y + 4.0, y + 17.0) };
    o.push_str(r#"<g class="tick">"#);
    for (i, (t, s)) in xl.iter().enumerate() {
        let px = x.map(*t, x0, x1);
        let _ = write!(o, r#"<line x1="{}" y1="{}" x2="{}" y2="{}" />"#, c(px), c(y), c(px), c(mark));
        if i % every == 0 {
            let _ = write!(o, r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#, c(px), c(text), esc(s));
        }
    }
    o.push_str("</g>");
}

/// An axis label centred under `[x0, x1]` at the canvas' bottom (`h` px high).
fn x_label(o: &mut String, label: &str, x0: f64, x1: f64, h: f64) {
    let _ = write!(
        o,
        r#"<text class="lbl" x="{}" y="{}" text-anchor="middle">{}</text>"#,
        c((x0 + x1) / 2.0),
        c(h - 10.0),
        esc(label)
    );
}

/// An axis label turned up the left edge, centred on `[y0, y1]`.
fn y_label(o: &mut String, label: &str, y0: f64, y1: f64) {
    let _ = write!(
        o,
        r#"<text class="lbl" transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        c((y0 + y1) / 2.0),
        esc(label)
    );
}

/// A labelled horizontal line across `[x0, x1]` at `y`: an objective (`stroke` the rule colour,
/// label class `rl`) or a reference such as a percentile (`hrule` / `hl`).
fn h_line(o: &mut String, (line_class, label_class): (&str, &str), stroke: Option<&str>, x0: f64, x1: f64, y: f64, label: &str) {
    let _ = write!(
        o,
        r#"<line class="{line_class}" x1="{}" y1="{}" x2="{}" y2="{}"{} />"#,
        c(x0),
        c(y),
        c(x1),
        c(y),
        stroke.map_or(String::new(), |s| format!(r#" stroke="{s}""#))
    );
    let _ = write!(
        o,
        r#"<text class="{label_class}" x="{}" y="{}" text-anchor="end">{}</text>"#,
        c(x1 - 4.0),
        c(y - 4.0),
        esc(label)
    );
}

/// Axes, grid and tick labels of a plot area `[x0, x1] x [y0, y1]` on a canvas `h` px high.
fn axes(o: &mut String, x: &Axis, y: &Axis, (x0, x1, y0, y1): (f64, f64, f64, f64), h: f64) {
    o.push_str(r#"<g class="grid">"#);
    for (t, _) in y.tick_labels() {
        let py = y.map(t, y1, y0);
        let _ = write!(o, r#"<line x1="{}" y1="{}" x2="{}" y2="{}" />"#, c(x0), c(py), c(x1), c(py));
    }
    x_grid(o, x, x0, x1, y0, y1);
    o.push_str("</g>");
    let _ = write!(
        o,
        r#"<path class="axis" d="M{} {} L{} {} L{} {}" />"#,
        c(x0),
        c(y0),
        c(x0),
        c(y1),
        c(x1),
        c(y1)
    );
    x_ticks(o, x, x0, x1, y1, false);
    o.push_str(r#"<g class="tick">"#);
    for (t, s) in y.tick_labels() {
        let py = y.map(t, y1, y0);
        let _ = write!(o, r#"<line x1="{}" y1="{}" x2="{}" y2="{}" />"#, c(x0 - 4.0), c(py), c(x0), c(py));
        let _ = write!(
            o,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            c(x0 - 7.0),
            c(py + 4.0),
            esc(&s)
        );
    }
    o.push_str("</g>");
    x_label(o, &x.label, x0, x1, h);
    y_label(o, &y.label, y0, y1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 1.0, 5).0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(ticks(0.0, 1800.0, 6).0, [0.0, 500.0, 1000.0, 1500.0]);
        assert_eq!(nice_range(3.0, 1790.0, 6), (0.0, 2000.0));
        assert_eq!(step_decimals(0.25), 2);
        assert_eq!(step_decimals(500.0), 0);
        // A count axis never has fractional ticks.
        let a = Axis::count("n", 0.0);
        assert_eq!((a.lo, a.hi), (0.0, 5.0));
        assert!(a.tick_labels().iter().all(|(t, _)| t.fract() == 0.0));
    }

    #[test]
    fn numbers_are_fixed_and_never_negative_zero() {
        assert_eq!(fixed(-0.0001, 2), "0.00");
        assert_eq!(fixed(1.005, 1), "1.0");
        assert_eq!(fixed(f64::NAN, 1), "-");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }

    #[test]
    fn a_legend_wraps_and_reserves_its_rows() {
        let names = ["a long series name", "another long series name", "a third long series name"];
        let (at, h) = legend_layout(&names, 70.0, 400.0);
        assert_eq!(at[0], (70.0, 0.0));
        assert!(at.iter().any(|p| p.1 > 0.0), "wraps: {at:?}");
        assert_eq!(h, at.last().map_or(0.0, |p| p.1) + 18.0);
        assert_eq!(legend_layout(&[], 0.0, 1.0).1, 0.0);
    }

    #[test]
    fn a_path_drops_points_within_half_a_pixel() {
        let d = path_d(&[(0.0, 0.0), (0.1, 0.1), (0.2, 0.2), (5.0, 5.0)]);
        assert_eq!(d, "M0.0 0.0 L5.0 5.0");
    }
}
