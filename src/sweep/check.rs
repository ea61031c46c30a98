//! `--check '[variant=NAME:] COLUMN[.STAT] OP NUMBER'`: the gates a sweep (or `sweep-merge`)
//! applies to its rows. Kept apart from the layout because a check is user input parsed against
//! the columns, with its own messages, and is evaluated on rows read back from results.csv as well
//! as on fresh ones.
//!
//! The grammar is read from the right, because only the end of a check has a fixed form: the
//! bound is the number at the end, the operator (`<`, `<=`, `>`, `>=`) the one just before it,
//! and everything before that is the column, which may itself hold `<` or `>` (the default name
//! of a pipeline workload is its stages joined by `->`, e.g. `stages.asr->llm->tts.latency_ms.p95`).
//! A leading `variant=NAME:` gates only that variant's rows. A column that is not in results.csv
//! but is a numeric column followed by `.mean`, `.ci95`, `.ci_lo` or `.ci_hi` (or written as a
//! function, `mean(COLUMN)`, `ci_hi(COLUMN)`, ...) gates the statistic over the seeds of each
//! configuration and variant, as summary.csv gives it (`.ci_lo` and `.ci_hi` are the mean minus
//! and plus `.ci95`, the bounds of the 95 % confidence interval).
//! A check is parsed in two steps, so that a malformed one is refused before the spec is even
//! read ([`parse_syntax`]) and one naming no column before any configuration is built
//! ([`Syntax::resolve`] on the columns of a few configurations).

use super::layout::{Kind, Layout};
use super::stats::{mean_ci95, stat_text};
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// A comparison of `--check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
        }
    }
}

/// A statistic over the seeds of one configuration and variant (summary.csv's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// `.mean`
    Mean,
    /// `.ci95`: the half-width of the 95 % confidence interval of the mean.
    Ci95,
    /// `.ci_lo`: mean - ci95.
    CiLo,
    /// `.ci_hi`: mean + ci95.
    CiHi,
}

impl Stat {
    const ALL: [(Stat, &'static str); 4] = [
        (Stat::Mean, "mean"),
        (Stat::Ci95, "ci95"),
        (Stat::CiLo, "ci_lo"),
        (Stat::CiHi, "ci_hi"),
    ];

    /// The statistic of `xs`; `None` without values, or for an interval of one value.
    fn of(self, xs: &[f64]) -> Option<f64> {
        let (m, ci) = mean_ci95(xs)?;
        match self {
            Stat::Mean => Some(m),
            Stat::Ci95 => ci,
            Stat::CiLo => ci.map(|c| m - c),
            Stat::CiHi => ci.map(|c| m + c),
        }
    }
}

/// A `--check` gate, resolved against the results.csv columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// As written.
    pub expr: String,
    /// Only this variant's rows (`variant=NAME:`).
    pub variant: Option<String>,
    /// The results.csv column.
    pub column: String,
    col: usize,
    variant_col: usize,
    /// Over the seeds of each configuration and variant, this statistic of the column.
    pub stat: Option<Stat>,
    /// The comparison.
    pub op: Op,
    /// The bound.
    pub bound: f64,
}

/// A check as written, its form checked but not its column: what can be told before the
/// spec is read.
#[derive(Debug, Clone, PartialEq)]
pub struct Syntax {
    /// As written.
    pub expr: String,
    /// What follows `variant=` up to the column (resolved against the variant names, which may
    /// hold `:`), or `None` without a scope.
    scoped: Option<String>,
    /// The column (with a statistic suffix), when unscoped.
    name: String,
    /// The comparison.
    pub op: Op,
    /// The bound.
    pub bound: f64,
}

const FORM: &str = "expected '[variant=NAME:] COLUMN OP NUMBER' with OP one of < <= > >= and COLUMN a results.csv column or a statistic over seeds such as mean(COLUMN) or ci_hi(COLUMN) (docs/src/sweeps.md)";

fn bad(expr: &str, why: &str) -> Error {
    Error::input("--check", "", format!("{why}: {FORM}, got '{expr}'"))
}

/// The form of a check: the number at the end, the operator before it, a column before that.
pub fn parse_syntax(expr: &str) -> Result<Syntax> {
    let text = expr.trim();
    // The rightmost `<` or `>` followed (after an optional `=`) by nothing but a number: a
    // column may hold these characters, the bound cannot.
    let mut found = None;
    for (i, c) in text.char_indices().rev().filter(|(_, c)| matches!(c, '<' | '>')) {
        let after = &text[i + 1..];
        let (op, num) = match (c, after.strip_prefix('=')) {
            ('<', Some(r)) => (Op::Le, r),
            ('>', Some(r)) => (Op::Ge, r),
            ('<', None) => (Op::Lt, after),
            _ => (Op::Gt, after),
        };
        if let Ok(b) = num.trim().parse::<f64>() {
            found = Some((i, op, b));
            break;
        }
    }
    let Some((at, op, bound)) = found else {
        return Err(bad(expr, "no comparison with a number at the end"));
    };
    if !bound.is_finite() {
        return Err(bad(expr, "the bound must be a finite number"));
    }
    let left = text[..at].trim();
    if left.is_empty() {
        return Err(bad(expr, "no column"));
    }
    let (scoped, name) = match left.strip_prefix("variant=") {
        Some(rest) => {
            if !rest.contains(':') {
                return Err(bad(expr, "a scope 'variant=NAME' ends with ':' before the column"));
            }
            (Some(rest.to_string()), String::new())
        }
        None => (None, left.to_string()),
    };
    Ok(Syntax {
        expr: expr.to_string(),
        scoped,
        name,
        op,
        bound,
    })
}

/// Parse a check against the results.csv columns (both steps). Metrics that are text or
/// true/false cannot be compared, nor the `variant` column, nor an axis whose values are not
/// all numbers.
pub fn parse_check(expr: &str, layout: &Layout) -> Result<Check> {
    parse_syntax(expr)?.resolve(layout)
}

/// `name` with every `[N]` index written `[]`: the columns of array elements (GPUs, stages)
/// whose count may differ between configurations.
fn unindexed(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..=i]);
        let after = &rest[i + 1..];
        match after.find(']') {
            Some(j) if j > 0 && after[..j].bytes().all(|b| b.is_ascii_digit()) => rest = &after[j..],
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// A statistic written as a function, `mean(COLUMN)` (or `ci95`, `ci_lo`, `ci_hi`), as its
/// summary.csv column `COLUMN.mean`; any other column as written.
fn stat_suffix(column: &str) -> String {
    for (_, s) in Stat::ALL {
        if let Some(inner) = column
            .strip_prefix(s)
            .and_then(|r| r.trim_start().strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
        {
            return format!("{}.{s}", inner.trim());
        }
    }
    column.to_string()
}

/// Up to 8 numeric results.csv columns for a message, those that start as `near` does first
/// (the metrics, then the axes of numbers).
fn numeric_columns(layout: &Layout, near: &str) -> String {
    let head = near.split(['.', '[']).next().unwrap_or(near);
    let mut all: Vec<&str> = layout
        .metrics
        .iter()
        .filter(|m| m.kind == Kind::Number)
        .map(|m| m.name.as_str())
        .collect();
    all.extend(
        layout
            .axes
            .iter()
            .zip(&layout.axis_values)
            .filter(|(_, vs)| vs.iter().all(|v| v.is_integer() || v.is_float()))
            .map(|(a, _)| a.as_str()),
    );
    let mut pick: Vec<&str> = all.iter().copied().filter(|c| c.starts_with(head)).take(8).collect();
    if pick.is_empty() {
        pick = all.iter().copied().take(8).collect();
    }
    let more = all.len().saturating_sub(pick.len());
    let mut text = pick.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

impl Syntax {
    /// The scope and the column: `variant=NAME:` takes the longest variant name of `layout`
    /// that the text starts with and that a `:` follows.
    fn split_scope(&self, layout: &Layout) -> Result<(Option<String>, String)> {
        let Some(rest) = &self.scoped else {
            return Ok((None, stat_suffix(&self.name)));
        };
        let hit = layout
            .variants
            .iter()
            .filter(|v| rest.starts_with(v.as_str()) && rest[v.len()..].starts_with(':'))
            .max_by_key(|v| v.len());
        match hit {
            Some(v) => {
                let column = rest[v.len() + 1..].trim();
                if column.is_empty() {
                    return Err(bad(&self.expr, "no column after the scope"));
                }
                Ok((Some(v.clone()), stat_suffix(column)))
            }
            None => {
                let name = rest.split(':').next().unwrap_or("").trim();
                Err(Error::input(
                    "--check",
                    "",
                    format!("no variant '{name}' in '{}' (variants: {})", self.expr, layout.variants.join(", ")),
                ))
            }
        }
    }

    /// Check against the columns of a few configurations ([`super::Plan::sample_configs`]),
    /// before every configuration is built: refused unless it resolves, or its column differs
    /// from one of theirs only in array indices (configurations with more GPUs or stages have
    /// more columns; [`Syntax::resolve`] on every configuration's columns decides those).
    pub fn early_check(&self, sample: &Layout) -> Result<()> {
        let e = match self.resolve(sample) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let (_, column) = self.split_scope(sample)?;
        let stem = Stat::ALL
            .iter()
            .find_map(|(_, s)| column.strip_suffix(&format!(".{s}")))
            .unwrap_or(&column);
        if sample.column(&column).is_some() || sample.column(stem).is_some() {
            return Err(e);
        }
        let (want, want_stem) = (unindexed(&column), unindexed(stem));
        let later = sample.header().iter().any(|h| {
            let h = unindexed(h);
            h == want || h == want_stem
        });
        if later {
            Ok(())
        } else {
            Err(e)
        }
    }

    /// Resolve against the results.csv columns.
    pub fn resolve(&self, layout: &Layout) -> Result<Check> {
        let expr = &self.expr;
        let (variant, name) = self.split_scope(layout)?;
        let refuse = |m: String| Error::input("--check", "", m);
        let numeric = |col: usize, column: &str| -> Result<()> {
            let why = if col == layout.variant_col() {
                Some("holds text (variant names): scope a check with 'variant=NAME:' instead".to_string())
            } else if let Some(a) = col.checked_sub(1).filter(|&a| a < layout.axes.len()) {
                layout.axis_values[a]
                    .iter()
                    .find(|v| !(v.is_integer() || v.is_float()))
                    .map(|v| format!("is an axis with a value that is not a number ({v})"))
            } else {
                layout
                    .metrics
                    .get(col.wrapping_sub(layout.variant_col() + 1))
                    .and_then(|m| match m.kind {
                        Kind::Number => None,
                        Kind::Bool => Some("holds true/false, not numbers".to_string()),
                        Kind::Text => Some("holds text, not numbers".to_string()),
                    })
            };
            match why {
                None => Ok(()),
                Some(why) => Err(refuse(format!(
                    "column '{column}' of '{expr}' {why}; numeric columns: {}",
                    numeric_columns(layout, column)
                ))),
            }
        };
        let (column, col, stat) = if let Some(col) = layout.column(&name) {
            numeric(col, &name)?;
            (name, col, None)
        } else if let Some((stat, stem, col)) = Stat::ALL.iter().find_map(|&(st, s)| {
            let stem = name.strip_suffix(&format!(".{s}"))?;
            layout.column(stem).filter(|&c| c > layout.variant_col()).map(|c| (st, stem, c))
        }) {
            numeric(col, stem)?;
            if stat != Stat::Mean && layout.seeds < 2 {
                return Err(refuse(format!(
                    "'{expr}' gates a confidence interval, which needs at least 2 seeds (sweep.seeds has {})",
                    layout.seeds
                )));
            }
            (stem.to_string(), col, Some(stat))
        } else {
            return Err(refuse(format!(
                "no results.csv column '{name}' in '{expr}' (numeric columns: {}; a statistic over seeds is mean(COLUMN), ci95, ci_lo or ci_hi)",
                numeric_columns(layout, &name)
            )));
        };
        Ok(Check {
            expr: expr.clone(),
            variant,
            column,
            col,
            variant_col: layout.variant_col(),
            stat,
            op: self.op,
            bound: self.bound,
        })
    }
}

/// A row (or a configuration's statistic) that breaks a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Run id (for a statistic over seeds: the configuration's first run).
    pub run: u64,
    /// The results.csv row (run, axes, seed, variant, ...); for a statistic, the first run's
    /// row with an empty seed.
    pub row: Vec<String>,
    /// The check as written.
    pub check: String,
    /// Its column (with the statistic's suffix).
    pub column: String,
    /// The cell, or the statistic as summary.csv writes it.
    pub value: String,
    /// For a statistic: the seeds it is over.
    pub seeds: Option<usize>,
}

/// Every (row, check) that fails, in row order then check order, then every configuration and
/// variant whose statistic breaks a check, in configuration, variant and check order. An empty
/// cell (a metric the variant does not have) is not checked; a cell that is not a number fails.
/// `config_of` gives a run's configuration.
pub fn evaluate(checks: &[Check], runs: &[(u64, Vec<Vec<String>>)], config_of: &dyn Fn(u64) -> usize) -> Vec<Failure> {
    let in_scope = |c: &Check, row: &[String]| c.variant.as_ref().is_none_or(|v| row.get(c.variant_col) == Some(v));
    let mut out = Vec::new();
    for (id, rows) in runs {
        for row in rows {
            for c in checks.iter().filter(|c| c.stat.is_none() && in_scope(c, row)) {
                let cell = row.get(c.col).map(String::as_str).unwrap_or("");
                if cell.is_empty() {
                    continue;
                }
                if !cell.parse::<f64>().is_ok_and(|v| c.op.holds(v, c.bound)) {
                    out.push(Failure {
                        run: *id,
                        row: row.clone(),
                        check: c.expr.clone(),
                        column: c.column.clone(),
                        value: cell.to_string(),
                        seeds: None,
                    });
                }
            }
        }
    }
    if checks.iter().all(|c| c.stat.is_none()) {
        return out;
    }
    // (configuration, variant position) -> its rows over the seeds, in run order.
    let mut groups: BTreeMap<(usize, usize), Vec<(u64, &Vec<String>)>> = BTreeMap::new();
    for (id, rows) in runs {
        for (p, row) in rows.iter().enumerate() {
            groups.entry((config_of(*id), p)).or_default().push((*id, row));
        }
    }
    for rows in groups.values() {
        let (first, row0) = rows[0];
        for c in checks.iter().filter(|c| in_scope(c, row0)) {
            let Some(stat) = c.stat else { continue };
            let xs: Vec<f64> = rows
                .iter()
                .filter_map(|(_, r)| r.get(c.col).and_then(|s| s.parse::<f64>().ok()))
                .collect();
            // As summary.csv writes it, so that the gate and the file agree.
            let Some(text) = stat.of(&xs).map(stat_text) else { continue };
            if !text.parse::<f64>().is_ok_and(|v| c.op.holds(v, c.bound)) {
                let mut row = row0.clone();
                row[c.variant_col - 1] = String::new();
                let suffix = Stat::ALL.iter().find(|(s, _)| *s == stat).map_or("", |x| x.1);
                out.push(Failure {
                    run: first,
                    row,
                    check: c.expr.clone(),
                    column: format!("{}.{suffix}", c.column),
                    value: text,
                    seeds: Some(xs.len()),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::layout::Column;
    use crate::sweep::plan;
    use crate::sweep::tests::{raw, SPEC};

    #[test]
    fn checks_parse_and_gate() {
        let p = plan(&raw(SPEC), "t.toml").expect("plan");
        let cols = vec![
            Column {
                name: "latency_ms.p95".into(),
                kind: Kind::Number,
            },
            Column {
                name: "gpu_type".into(),
                kind: Kind::Text,
            },
        ];
        let l = Layout::new(&p, cols).expect("layout");
        let c = parse_check(" latency_ms.p95<=100 ", &l).expect("check");
        assert_eq!((c.column.as_str(), c.op, c.bound), ("latency_ms.p95", Op::Le, 100.0));
        assert_eq!(parse_check("latency_ms.p95 > 1e3", &l).map(|c| c.op), Ok(Op::Gt));
        assert!(parse_check("latency_ms.p95 = 3", &l).is_err());
        assert!(parse_check("latency_ms.p96 < 3", &l)
            .expect_err("unknown")
            .to_string()
            .contains("latency_ms.p95"));
        assert!(parse_check("gpu_type < 3", &l).is_err());
        // Text columns that are not metrics are refused too.
        assert!(parse_check("variant < 3", &l)
            .expect_err("variant")
            .to_string()
            .contains("holds text"));
        // `>` in a column (a pipeline's default name) is part of the column.
        assert!(parse_check("stages.asr->tts.latency_ms.p95 < 3", &l)
            .expect_err("no such column")
            .to_string()
            .contains("'stages.asr->tts.latency_ms.p95'"));
        assert!(parse_syntax("a->b>=3").is_ok_and(|s| s.op == Op::Ge && s.bound == 3.0));
        assert!(parse_syntax("latency_ms.p95 < inf").is_err() && parse_syntax("< 3").is_err());
        let row = |v: &str| {
            vec![
                "0".into(),
                "10".into(),
                "h100-80gb".into(),
                "3".into(),
                "ded".into(),
                v.into(),
                "x".into(),
            ]
        };
        let runs = vec![(0, vec![row("99"), row("100.5"), row("")])];
        let f = evaluate(&[c], &runs, &|_| 0);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].value, "100.5");
        // Scoped to a variant, and over seeds.
        let scoped = parse_check("variant=ts: latency_ms.p95 <= 100", &l).expect("scoped");
        assert_eq!(scoped.variant.as_deref(), Some("ts"));
        assert!(evaluate(&[scoped], &runs, &|_| 0).is_empty(), "the rows are variant 'ded'");
        assert!(parse_check("variant=nope: latency_ms.p95 <= 100", &l).is_err());
        // Two seeds of one configuration (runs 0 and 1), one variant each.
        let seeded = vec![(0, vec![row("99")]), (1, vec![row("100.5")])];
        let mean = parse_check("latency_ms.p95.mean <= 99", &l).expect("mean");
        assert_eq!((mean.column.as_str(), mean.stat), ("latency_ms.p95", Some(Stat::Mean)));
        let f = evaluate(&[mean], &seeded, &|_| 0);
        assert_eq!((f.len(), f[0].value.as_str(), f[0].seeds), (1, "99.75", Some(2)));
        let f = parse_check("variant=ded: mean(latency_ms.p95) <= 99", &l).expect("mean()");
        assert_eq!(
            (f.column.as_str(), f.stat, f.variant.as_deref()),
            ("latency_ms.p95", Some(Stat::Mean), Some("ded"))
        );
        let fails = evaluate(&[f], &seeded, &|_| 0);
        assert_eq!((fails.len(), fails[0].row[3].as_str()), (1, ""), "one failure, with no seed");
        let hi = parse_check("ci_hi(latency_ms.p95) <= 1000", &l).expect("ci_hi()");
        assert_eq!(hi.stat, Some(Stat::CiHi));
        let hi = parse_check("latency_ms.p95.ci_hi <= 1000", &l).expect("ci_hi");
        assert!(evaluate(&[hi], &seeded, &|_| 0).is_empty());
        let lo = parse_check("ci_lo(latency_ms.p95) >= 99", &l).expect("ci_lo()");
        assert_eq!(
            evaluate(&[lo], &seeded, &|_| 0).len(),
            1,
            "the interval of 99 and 100.5 reaches below 99"
        );
    }
}
