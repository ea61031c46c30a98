//! Readers for measurement and trace files (the I/O edge). Every error names the file, the line
//! (as `line N`) and the column.

use crate::error::{Error, Result};
use crate::time::from_secs;
use crate::workload::TraceRow;
use std::collections::HashMap;

/// A CSV file as header-indexed rows of strings.
pub struct Table {
    /// Path, for errors.
    pub path: String,
    header: HashMap<String, usize>,
    rows: Vec<csv::StringRecord>,
}

impl Table {
    /// Read `path` (header row required).
    pub fn read(path: &str) -> Result<Table> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.into(),
            message: e.to_string(),
        })?;
        Table::parse(&text, path)
    }

    /// Parse CSV text.
    pub fn parse(text: &str, path: &str) -> Result<Table> {
        let mut rd = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(text.as_bytes());
        let header = rd
            .headers()
            .map_err(|e| Error::input(path, "header", e.to_string()))?
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim().to_string(), i))
            .collect();
        let mut rows = Vec::new();
        for (i, r) in rd.records().enumerate() {
            rows.push(r.map_err(|e| Error::input(path, format!("line {}", i + 2), e.to_string()))?);
        }
        Ok(Table {
            path: path.into(),
            header,
            rows,
        })
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True if there are no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// True if the file has column `name`.
    pub fn has(&self, name: &str) -> bool {
        self.header.contains_key(name)
    }

    /// Fail unless every column in `names` exists.
    pub fn require(&self, names: &[&str]) -> Result<()> {
        for n in names {
            if !self.has(n) {
                let mut have: Vec<&String> = self.header.keys().collect();
                have.sort();
                return Err(Error::input(
                    &self.path,
                    "header",
                    format!("missing column '{n}' (columns: {have:?})"),
                ));
            }
        }
        Ok(())
    }

    /// Raw text of row `i`, column `name` ("" if absent).
    pub fn text(&self, i: usize, name: &str) -> &str {
        self.header.get(name).and_then(|&c| self.rows[i].get(c)).unwrap_or("")
    }

    /// Column `name` of row `i` as a finite number.
    pub fn num(&self, i: usize, name: &str) -> Result<f64> {
        let t = self.text(i, name);
        t.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
            Error::input(
                &self.path,
                format!("line {} column '{name}'", i + 2),
                format!("not a finite number: '{t}'"),
            )
        })
    }

    /// Like [`Table::num`] but the value must also be >= 0 (or > 0 if `strict`).
    pub fn nonneg(&self, i: usize, name: &str, strict: bool) -> Result<f64> {
        let v = self.num(i, name)?;
        if v < 0.0 || (strict && v == 0.0) {
            let want = if strict { "positive" } else { "non-negative" };
            return Err(Error::input(
                &self.path,
                format!("line {} column '{name}'", i + 2),
                format!("must be {want}, got '{v}'"),
            ));
        }
        Ok(v)
    }
}

/// Read a request trace. Two formats are recognised by their header:
/// the gpubench format `id,arrival_s,<size>[,output_tokens]` where size is `audio_s`, `chars` or
/// `prompt_tokens`, and the Azure LLM format `TIMESTAMP,ContextTokens,GeneratedTokens`
/// (timestamps as `YYYY-MM-DD HH:MM:SS.ffffff`, relative to the first row).
/// `rate_scale` > 1 compresses time (replays faster).
pub fn read_trace(path: &str, rate_scale: f64) -> Result<Vec<TraceRow>> {
    let t = Table::read(path)?;
    parse_trace(&t, rate_scale)
}

/// Parse a trace table (see [`read_trace`]).
pub fn parse_trace(t: &Table, rate_scale: f64) -> Result<Vec<TraceRow>> {
    let mut rows = Vec::with_capacity(t.len());
    if t.has("TIMESTAMP") {
        t.require(&["TIMESTAMP", "ContextTokens", "GeneratedTokens"])?;
        let mut t0 = None;
        for i in 0..t.len() {
            let ts = parse_timestamp(t.text(i, "TIMESTAMP")).ok_or_else(|| {
                Error::input(
                    &t.path,
                    format!("line {} column 'TIMESTAMP'", i + 2),
                    format!("not a timestamp: '{}'", t.text(i, "TIMESTAMP")),
                )
            })?;
            let base = *t0.get_or_insert(ts);
            let rel = ts - base;
            if rel < 0.0 {
                return Err(Error::input(
                    &t.path,
                    format!("line {} column 'TIMESTAMP'", i + 2),
                    "timestamps must not go backwards",
                ));
            }
            rows.push(TraceRow {
                arrival: from_secs(rel / rate_scale),
                size: t.nonneg(i, "ContextTokens", true)?,
                out_tokens: t.nonneg(i, "GeneratedTokens", true)?.round() as u32,
            });
        }
    } else {
        t.require(&["arrival_s"])?;
        let size_col = ["audio_s", "chars", "prompt_tokens"]
            .into_iter()
            .find(|c| t.has(c))
            .ok_or_else(|| Error::input(&t.path, "header", "needs a size column: 'audio_s', 'chars' or 'prompt_tokens'"))?;
        for i in 0..t.len() {
            let a = t.nonneg(i, "arrival_s", false)?;
            rows.push(TraceRow {
                arrival: from_secs(a / rate_scale),
                size: t.nonneg(i, size_col, true)?,
                out_tokens: if t.has("output_tokens") {
                    t.nonneg(i, "output_tokens", true)?.round() as u32
                } else {
                    0
                },
            });
        }
        if rows.windows(2).any(|w| w[1].arrival < w[0].arrival) {
            rows.sort_by_key(|r| r.arrival);
        }
    }
    if rows.is_empty() {
        return Err(Error::input(&t.path, "", "trace has no requests"));
    }
    Ok(rows)
}

/// Seconds since an arbitrary epoch for `YYYY-MM-DD HH:MM:SS[.frac]`.
fn parse_timestamp(s: &str) -> Option<f64> {
    let (date, time) = s.trim().split_once(' ')?;
    let d: Vec<i64> = date.split('-').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let mut tp = time.split(':');
    let h: f64 = tp.next()?.parse().ok()?;
    let m: f64 = tp.next()?.parse().ok()?;
    let sec: f64 = tp.next()?.parse().ok()?;
    if d.len() != 3 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), enough for differences.
    let (y, mo, da) = (d[0] - (d[1] <= 2) as i64, d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe;
    Some(days as f64 * 86400.0 + h * 3600.0 + m * 60.0 + sec)
}

/// Read one GenAI-Perf / AIPerf aggregate export: `profile_export_genai_perf.json` (or
/// `profile_export_aiperf.json`) or the matching `.csv`. Concurrency comes from the JSON's
/// `input_config` (or a top-level `concurrency`), else from a `concurrency<N>` part of the path,
/// as GenAI-Perf names its artifact folders.
pub fn read_load_run(path: &str) -> Result<crate::calibrate::LoadRun> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.into(),
        message: e.to_string(),
    })?;
    let from_path = || -> Option<f64> {
        let i = path.rfind("concurrency")?;
        let digits: String = path[i + "concurrency".len()..].chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    };
    let missing = |field: &str| Error::input(path, field, "missing or not a positive number");
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || (!path.ends_with(".csv") && text.contains('{')) {
        let start = text.find('{').ok_or_else(|| Error::input(path, "", "no JSON object"))?;
        let v: serde_json::Value =
            serde_json::from_str(&text[start..]).map_err(|e| Error::input(path, "", format!("malformed JSON: {e}")))?;
        let stat = |metric: &str, stat: &str| -> Result<f64> {
            v.get(metric)
                .and_then(|m| m.get(stat))
                .and_then(|x| x.as_f64())
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| missing(&format!("{metric}.{stat}")))
        };
        let conc = [
            v.pointer("/input_config/concurrency"),
            v.pointer("/input_config/perf_analyzer/stimulus/concurrency"),
            v.pointer("/input_config/loadgen/concurrency"),
            v.get("concurrency"),
        ]
        .into_iter()
        .flatten()
        .find_map(|x| x.as_f64())
        .or_else(from_path)
        .ok_or_else(|| missing("input_config.concurrency"))?;
        Ok(crate::calibrate::LoadRun {
            concurrency: conc,
            input_tokens: stat("input_sequence_length", "avg")?,
            output_tokens: stat("output_sequence_length", "avg")?,
            ttft_p50_ms: stat("time_to_first_token", "p50")?,
            itl_avg_ms: stat("inter_token_latency", "avg")?,
            throughput_rps: stat("request_throughput", "avg")?,
        })
    } else {
        // CSV: a statistics block `Metric,avg,min,max,p99,...,p50,...` then a `Metric,Value` block.
        let mut header: Vec<String> = Vec::new();
        let mut vals: HashMap<String, HashMap<String, f64>> = HashMap::new();
        for line in text.lines() {
            let cells: Vec<String> = line.split(',').map(|c| c.trim().trim_matches('"').to_string()).collect();
            if cells.first().map(String::as_str) == Some("Metric") {
                header = cells;
                continue;
            }
            if cells.len() < 2 || header.is_empty() {
                continue;
            }
            let row = vals.entry(cells[0].to_ascii_lowercase()).or_default();
            for (h, c) in header.iter().zip(&cells).skip(1) {
                if let Ok(x) = c.replace(' ', "").parse::<f64>() {
                    row.insert(h.to_ascii_lowercase(), x);
                }
            }
        }
        let get = |metric: &str, stat: &str| -> Result<f64> {
            vals.iter()
                .find(|(k, _)| k.starts_with(metric))
                .and_then(|(_, r)| r.get(stat))
                .copied()
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| missing(&format!("{metric} ({stat})")))
        };
        Ok(crate::calibrate::LoadRun {
            concurrency: from_path().ok_or_else(|| missing("concurrency (not in a CSV: name the folder ...-concurrency<N>)"))?,
            input_tokens: get("input sequence length", "avg")?,
            output_tokens: get("output sequence length", "avg")?,
            ttft_p50_ms: get("time to first token", "p50")?,
            itl_avg_ms: get("inter token latency", "avg")?,
            throughput_rps: get("request throughput", "value")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_trace_formats() {
        let g = Table::parse("id,arrival_s,prompt_tokens,output_tokens\n0,0.5,100,20\n1,1.0,50,5\n", "g.csv").expect("valid");
        let r = parse_trace(&g, 1.0).expect("valid");
        assert_eq!((r[1].arrival, r[1].size, r[1].out_tokens), (1_000_000_000, 50.0, 5));
        let a = Table::parse(
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n",
            "a.csv",
        )
        .expect("valid");
        let r = parse_trace(&a, 2.0).expect("valid");
        assert_eq!(r[0].arrival, 0);
        assert!((r[1].arrival as f64 / 1e9 - 4.314579 / 2.0).abs() < 1e-5, "{}", r[1].arrival);
    }

    #[test]
    fn bad_values_name_file_line_and_column() {
        let g = Table::parse("id,arrival_s,audio_s\n0,0.5,-3\n", "t.csv").expect("csv ok");
        let e = parse_trace(&g, 1.0).expect_err("negative").to_string();
        assert_eq!(e, "t.csv: line 2 column 'audio_s': must be positive, got '-3'");
        let g = Table::parse("id,arrival_s,audio_s\n0,NaN,3\n", "t.csv").expect("csv ok");
        assert!(parse_trace(&g, 1.0).expect_err("nan").to_string().contains("'NaN'"));
        let g = Table::parse("id,when\n0,1\n", "t.csv").expect("csv ok");
        assert!(parse_trace(&g, 1.0)
            .expect_err("cols")
            .to_string()
            .contains("missing column 'arrival_s'"));
    }
}
