//! `--check 'COLUMN OP NUMBER'`: the gates a sweep (or `sweep-merge`) applies to its rows. Kept
//! apart from the layout because a check is user input parsed against the columns, with its own
//! messages, and is evaluated on rows read back from results.csv as well as on fresh ones.

use super::layout::{Kind, Layout};
use crate::error::{Error, Result};

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

/// A `--check 'COLUMN OP NUMBER'` gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// As written.
    pub expr: String,
    /// The results.csv column.
    pub column: String,
    col: usize,
    /// The comparison.
    pub op: Op,
    /// The bound.
    pub bound: f64,
}

/// Parse a check against the results.csv columns. Metrics that are text or true/false cannot be
/// compared; an axis column can, where its values are numbers.
pub fn parse_check(expr: &str, layout: &Layout) -> Result<Check> {
    let bad = || {
        Error::input(
            "--check",
            "",
            format!("expected 'COLUMN OP NUMBER' with OP one of < <= > >=, got '{expr}'"),
        )
    };
    let pos = expr.find(['<', '>']).ok_or_else(bad)?;
    let column = expr[..pos].trim();
    let rest = &expr[pos..];
    let (op, num) = if let Some(r) = rest.strip_prefix("<=") {
        (Op::Le, r)
    } else if let Some(r) = rest.strip_prefix(">=") {
        (Op::Ge, r)
    } else if let Some(r) = rest.strip_prefix('<') {
        (Op::Lt, r)
    } else {
        (Op::Gt, &rest[1..])
    };
    let bound = num.trim().parse::<f64>().ok().filter(|b| b.is_finite()).ok_or_else(bad)?;
    if column.is_empty() {
        return Err(bad());
    }
    let Some(col) = layout.column(column) else {
        let head = column.split(['.', '[']).next().unwrap_or(column);
        let header = layout.header();
        let mut near: Vec<&str> = header.iter().map(String::as_str).filter(|h| h.starts_with(head)).take(8).collect();
        if near.is_empty() {
            near = header.iter().map(String::as_str).skip(layout.variant_col() + 1).take(8).collect();
        }
        return Err(Error::input(
            "--check",
            "",
            format!(
                "no results.csv column '{column}' in '{expr}' (columns such as: {})",
                near.join(", ")
            ),
        ));
    };
    if let Some(m) = layout.metrics.get(col.wrapping_sub(layout.variant_col() + 1)) {
        if m.kind != Kind::Number {
            return Err(Error::input(
                "--check",
                "",
                format!(
                    "column '{column}' of '{expr}' holds {}, not numbers",
                    if m.kind == Kind::Bool { "true/false" } else { "text" }
                ),
            ));
        }
    }
    Ok(Check {
        expr: expr.to_string(),
        column: column.to_string(),
        col,
        op,
        bound,
    })
}

/// A row that breaks a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Run id.
    pub run: u64,
    /// The results.csv row (run, axes, seed, variant, ...).
    pub row: Vec<String>,
    /// The check as written.
    pub check: String,
    /// Its column.
    pub column: String,
    /// The cell.
    pub value: String,
}

/// Every (row, check) that fails, in row order then check order. An empty cell (a metric the
/// variant does not have) is not checked; a cell that is not a number fails.
pub fn evaluate(checks: &[Check], runs: &[(u64, Vec<Vec<String>>)]) -> Vec<Failure> {
    let mut out = Vec::new();
    for (id, rows) in runs {
        for row in rows {
            for c in checks {
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
                    });
                }
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
        let row = |v: &str| {
            vec![
                "0".into(),
                "h100-80gb".into(),
                "10".into(),
                "3".into(),
                "ded".into(),
                v.into(),
                "x".into(),
            ]
        };
        let runs = vec![(0, vec![row("99"), row("100.5"), row("")])];
        let f = evaluate(&[c], &runs);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].value, "100.5");
    }
}
