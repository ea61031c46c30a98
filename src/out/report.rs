//! `gpuslice report`: one self-contained HTML page per run, plan, sweep or validation, built as
//! a `String` (pure: the caller writes it, atomically). Inline CSS and inline SVG charts
//! ([`svg`]), no script, no network, no timestamp: the same inputs and seed give the same bytes,
//! so a report can be diffed, kept as a CI artifact and read offline.
//!
//! The markup is well-formed XML as well as HTML (every element closed, void elements written
//! `<x />`, attributes quoted, text escaped), so that tests and tools can parse it strictly. The
//! page carries `<meta name="gpuslice-charts" content="N">`, the number of charts it draws, which
//! the browser check (`.ci/report-browser-check`) compares with what the browser rendered.
//!
//! One submodule per page: [`run`] (a scenario's variants), [`plan`] (a plan or a load
//! projection), [`sweep`] (a sweep folder's summary.csv) and [`validate`] (measured against
//! simulated runs). Every number a page shows is read from those results; nothing is typed in.

pub mod plan;
pub mod run;
pub mod svg;
pub mod sweep;
pub mod validate;

use std::fmt::Write;
pub use svg::{esc, fixed};

/// The page's style: system fonts, one palette, cards, tables and charts that scale down.
const CSS: &str = r#"
:root { --ink: #1f2933; --muted: #5f6b7a; --line: #d8dee6; --soft: #f4f6f9; --accent: #4e79a7; --bad: #c0392b; --good: #2e7d32; }
* { box-sizing: border-box; }
html { background: #eef1f5; }
body { margin: 0; color: var(--ink); font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif; }
header { background: #1f2933; color: #fff; padding: 28px 40px 22px; }
header .kind { margin: 0; text-transform: uppercase; letter-spacing: .08em; font-size: 12px; color: #a9b8c9; }
header h1 { margin: 4px 0 6px; font-size: 26px; font-weight: 650; }
header .sub { margin: 0; color: #d3dce6; max-width: 980px; }
nav { background: #fff; border-bottom: 1px solid var(--line); padding: 10px 40px; font-size: 14px; line-height: 1.9; }
nav a { color: var(--accent); text-decoration: none; margin-right: 18px; }
main { max-width: 1140px; margin: 0 auto; padding: 24px 24px 48px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 20px 24px; margin: 0 0 22px; }
h2 { margin: 0 0 12px; font-size: 20px; font-weight: 650; }
h3 { margin: 18px 0 8px; font-size: 16px; font-weight: 650; }
p { margin: 8px 0; }
.note { color: var(--muted); font-size: 13px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 14px; }
.card { flex: 1 1 170px; background: var(--soft); border-radius: 8px; padding: 12px 14px; }
.card .v { font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .l { color: var(--muted); font-size: 13px; }
ul.key { margin: 6px 0 12px; padding-left: 20px; }
table { border-collapse: collapse; width: 100%; margin: 10px 0; font-size: 13px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.ok { color: var(--good); font-weight: 600; }
td.fail { color: var(--bad); font-weight: 600; }
.scroll { overflow-x: auto; }
figure { margin: 14px 0; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; max-width: 720px; }
.grid2 { display: flex; flex-wrap: wrap; gap: 8px 20px; }
.grid2 figure { flex: 1 1 520px; max-width: 720px; }
svg.chart { display: block; width: 100%; max-width: 720px; height: auto; font-family: inherit; }
svg.chart .bg { fill: #fff; }
svg.chart text { font-size: 11px; fill: #3e4c59; }
svg.chart .ttl { font-size: 14px; font-weight: 650; fill: var(--ink); }
svg.chart .lbl { font-size: 12px; fill: var(--muted); }
svg.chart .grp { font-size: 12px; font-weight: 650; fill: var(--ink); }
svg.chart .rowl { font-size: 11px; fill: var(--ink); }
svg.chart .rowl.sub, svg.chart .sub2 { font-size: 10px; fill: var(--muted); }
svg.chart .legend text { font-size: 12px; }
svg.chart .lg { stroke-width: 3; }
svg.chart .grid line { stroke: #edf0f4; stroke-width: 1; }
svg.chart .axis { stroke: #7b8794; stroke-width: 1; fill: none; }
svg.chart .tick line { stroke: #7b8794; }
svg.chart .line { fill: none; stroke-width: 2; stroke-linejoin: round; }
svg.chart .band { fill-opacity: .18; stroke: none; }
svg.chart .rule { stroke-width: 1.5; stroke-dasharray: 6 4; }
svg.chart .rl { fill: var(--bad); font-weight: 600; }
svg.chart .hrule { stroke: #9aa5b1; stroke-width: 1; stroke-dasharray: 2 3; }
svg.chart .hl { fill: var(--muted); }
svg.chart .val { font-size: 10px; fill: #3e4c59; }
svg.chart .hb.sub { fill-opacity: .55; }
svg.chart .slot { fill: #f7f8fa; stroke: #c5cdd6; stroke-width: 1; }
svg.chart .inst { stroke: #fff; stroke-width: 1; }
svg.chart .it { font-size: 11px; fill: #fff; font-weight: 600; }
svg.chart .cell { stroke: #fff; stroke-width: 1; }
svg.chart .cell.none { fill: #eceff3; }
svg.chart .cv { font-size: 11px; fill: #1f2933; }
svg.chart .cv.inv { fill: #fff; }
footer { max-width: 1140px; margin: 0 auto; padding: 0 24px 40px; color: var(--muted); font-size: 12px; }
@media print { nav { display: none; } html, body { background: #fff; } section { break-inside: avoid; border: none; } }
"#;

/// One section of a page.
#[derive(Debug, Clone)]
pub struct Section {
    /// Anchor (`#id`) and navigation entry.
    pub id: String,
    /// Heading.
    pub title: String,
    /// HTML body.
    pub body: String,
}

impl Section {
    /// A section of `id` and `title` with `body` (HTML).
    pub fn new(id: &str, title: &str, body: String) -> Section {
        Section {
            id: id.into(),
            title: title.into(),
            body,
        }
    }
}

/// A whole report page.
#[derive(Debug, Clone)]
pub struct Page {
    /// What it reports (`run`, `plan`, `sweep`, `validate`): the `gpuslice-report` meta tag.
    pub kind: &'static str,
    /// Title (the header and the document title).
    pub title: String,
    /// A line under the title (plain text).
    pub subtitle: String,
    /// Sections in order.
    pub sections: Vec<Section>,
    /// What the page was made from (plain text, the footer).
    pub source: String,
}

/// Charts in a piece of HTML.
pub fn chart_count(html: &str) -> usize {
    html.matches("<svg class=\"chart\"").count()
}

impl Page {
    /// The page as one HTML document.
    pub fn render(&self) -> String {
        let body: String = self
            .sections
            .iter()
            .map(|s| {
                format!(
                    "<section id=\"{}\">\n<h2>{}</h2>\n{}\n</section>\n",
                    esc(&s.id),
                    esc(&s.title),
                    s.body
                )
            })
            .collect();
        let mut o = String::new();
        o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n");
        o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n");
        let _ = writeln!(o, "<meta name=\"generator\" content=\"gpuslice {}\" />", env!("CARGO_PKG_VERSION"));
        let _ = writeln!(o, "<meta name=\"gpuslice-report\" content=\"{}\" />", self.kind);
        let _ = writeln!(o, "<meta name=\"gpuslice-charts\" content=\"{}\" />", chart_count(&body));
        let _ = writeln!(o, "<title>{}</title>", esc(&self.title));
        let _ = writeln!(o, "<style>{CSS}</style>\n</head>\n<body>");
        let _ = writeln!(
            o,
            "<header>\n<p class=\"kind\">gpuslice · {} report</p>\n<h1>{}</h1>\n<p class=\"sub\">{}</p>\n</header>",
            self.kind,
            esc(&self.title),
            esc(&self.subtitle)
        );
        o.push_str("<nav>");
        for s in &self.sections {
            // One per line: the line breaks let a long list (every run of `accuracy`) wrap.
            let _ = write!(o, "\n<a href=\"#{}\">{}</a>", esc(&s.id), esc(&s.title));
        }
        o.push_str("</nav>\n<main>\n");
        o.push_str(&body);
        o.push_str("</main>\n");
        let _ = writeln!(
            o,
            "<footer>Made by gpuslice {} from {}. Every number on this page is the program's output for these inputs; the same inputs and seed give the same file, byte for byte.</footer>",
            env!("CARGO_PKG_VERSION"),
            esc(&self.source)
        );
        o.push_str("</body>\n</html>\n");
        o
    }
}

/// A chart with its caption.
pub fn figure(svg: String, caption: &str) -> String {
    format!("<figure>{svg}<figcaption>{}</figcaption></figure>\n", esc(caption))
}

/// Figures side by side where the page is wide enough.
pub fn grid(figures: &[String]) -> String {
    format!("<div class=\"grid2\">\n{}</div>\n", figures.concat())
}

/// A paragraph of plain text.
pub fn para(text: &str) -> String {
    format!("<p>{}</p>\n", esc(text))
}

/// A muted paragraph of plain text.
pub fn note(text: &str) -> String {
    format!("<p class=\"note\">{}</p>\n", esc(text))
}

/// A bulleted list of plain-text items.
pub fn bullets(items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut o = String::from("<ul class=\"key\">");
    for i in items {
        let _ = write!(o, "<li>{}</li>", esc(i));
    }
    o.push_str("</ul>\n");
    o
}

/// Key figures as cards: `(value, label)`.
pub fn cards(items: &[(String, String)]) -> String {
    let mut o = String::from("<div class=\"cards\">");
    for (v, l) in items {
        let _ = write!(
            o,
            "<div class=\"card\"><div class=\"v\">{}</div><div class=\"l\">{}</div></div>",
            esc(v),
            esc(l)
        );
    }
    o.push_str("</div>\n");
    o
}

/// A table cell.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// Text.
    pub text: String,
    /// Right-aligned, tabular figures.
    pub num: bool,
    /// `ok` / `fail` colouring.
    pub class: Option<&'static str>,
    /// `data-metric`: which result the number is (the tests compare it with the result).
    pub key: Option<String>,
}

impl Cell {
    /// A text cell.
    pub fn text(s: impl Into<String>) -> Cell {
        Cell {
            text: s.into(),
            ..Cell::default()
        }
    }

    /// A number cell.
    pub fn num(s: impl Into<String>) -> Cell {
        Cell {
            text: s.into(),
            num: true,
            ..Cell::default()
        }
    }

    /// A number cell naming the result it shows.
    pub fn metric(s: impl Into<String>, key: impl Into<String>) -> Cell {
        Cell {
            key: Some(key.into()),
            ..Cell::num(s)
        }
    }

    /// A pass / fail cell.
    pub fn verdict(ok: bool) -> Cell {
        Cell {
            text: if ok { "met" } else { "missed" }.into(),
            class: Some(if ok { "ok" } else { "fail" }),
            ..Cell::default()
        }
    }
}

/// A table: header cells (`num` right-aligns the column's heading) and rows.
pub fn table(head: &[Cell], rows: &[Vec<Cell>]) -> String {
    let mut o = String::from("<div class=\"scroll\"><table><thead><tr>");
    for h in head {
        let _ = write!(o, "<th{}>{}</th>", if h.num { " class=\"num\"" } else { "" }, esc(&h.text));
    }
    o.push_str("</tr></thead><tbody>");
    for r in rows {
        o.push_str("<tr>");
        for cell in r {
            let mut classes = Vec::new();
            if cell.num {
                classes.push("num");
            }
            if let Some(k) = cell.class {
                classes.push(k);
            }
            let class = if classes.is_empty() {
                String::new()
            } else {
                format!(" class=\"{}\"", classes.join(" "))
            };
            let key = cell.key.as_ref().map_or(String::new(), |k| format!(" data-metric=\"{}\"", esc(k)));
            let _ = write!(o, "<td{class}{key}>{}</td>", esc(&cell.text));
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table></div>\n");
    o
}

/// A latency [ms] as the reports print it: whole ms from 100 ms, one decimal from 10 ms, two
/// below.
pub fn ms(x: f64) -> String {
    let a = x.abs();
    fixed(
        x,
        if a >= 100.0 {
            0
        } else if a >= 10.0 {
            1
        } else {
            2
        },
    )
}

/// A fraction as a percentage with `d` decimals.
pub fn pct(x: f64, d: usize) -> String {
    format!("{}%", fixed(x * 100.0, d))
}

/// A signed percentage (already in %) with one decimal.
pub fn signed_pct(x: f64) -> String {
    let s = fixed(x, 1);
    if s.starts_with('-') || s == "0.0" {
        format!("{s}%")
    } else {
        format!("+{s}%")
    }
}

/// A stable, chart-id-safe name: lower-case ASCII letters and digits, others as `-`.
pub fn slug(s: &str) -> String {
    let mut o = String::new();
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            o.push(ch.to_ascii_lowercase());
        } else if !o.ends_with('-') {
            o.push('-');
        }
    }
    o.trim_matches('-').to_string()
}

/// The upper end of a latency axis: the largest 99.9th percentile of `curves` (a single slow
/// request would otherwise squash every curve to the left) and every objective drawn.
pub fn cdf_x_max(curves: &[&crate::sim::detail::Cdf], rules: &[f64]) -> f64 {
    let tail = curves
        .iter()
        .filter_map(|c| c.points.iter().find(|p| p.1 >= 0.999).or(c.points.last()))
        .map(|p| p.0)
        .fold(0.0, f64::max);
    rules.iter().copied().fold(tail, f64::max).max(1e-3) * 1.05
}

/// The lower end of a latency axis: 0, unless every curve starts far from it (then the
/// distributions, not the empty space before them, fill the plot).
pub fn cdf_x_min(curves: &[&crate::sim::detail::Cdf], hi: f64) -> f64 {
    let lo = curves
        .iter()
        .filter_map(|c| c.points.first())
        .map(|p| p.0)
        .fold(f64::INFINITY, f64::min);
    if lo.is_finite() && lo > 0.5 * hi {
        lo * 0.95
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_fixed() {
        assert_eq!((ms(1596.4), ms(12.34), ms(3.456)), ("1596".into(), "12.3".into(), "3.46".into()));
        assert_eq!((pct(0.4567, 0), pct(1.0, 2)), ("46%".into(), "100.00%".into()));
        assert_eq!(
            (signed_pct(3.04), signed_pct(-0.04), signed_pct(-2.0)),
            ("+3.0%".into(), "0.0%".into(), "-2.0%".into())
        );
        assert_eq!(slug("ts-llm+asr 2gpu"), "ts-llm-asr-2gpu");
    }

    #[test]
    fn a_page_counts_its_charts_and_escapes_its_text() {
        let chart = svg::line_chart(&svg::LineChart::new(
            "x",
            "a <b>",
            svg::Axis::exact("t [s]", 0.0, 1.0),
            svg::Axis::fraction("f"),
        ));
        let p = Page {
            kind: "run",
            title: "T & co".into(),
            subtitle: String::new(),
            sections: vec![Section::new("s", "S", figure(chart, "c"))],
            source: "x".into(),
        }
        .render();
        assert!(p.contains("<meta name=\"gpuslice-charts\" content=\"1\" />"));
        assert!(p.contains("<title>T &amp; co</title>") && p.contains("a &lt;b&gt;"));
    }
}
