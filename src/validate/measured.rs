//! Readers for measurement files: calibration profiles, serving logs and load-generator exports
//! (the I/O edge of `calibrate` and `validate`). Every error names the file, the line (as
//! `line N`) and the column. Scenario inputs (models, traces) are read by [`crate::scenario::files`].

use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashMap};

/// Largest measurement table read (calibration profiles, serving logs): it is held in memory as
/// strings (about three times the file), so 256 MiB stays under 1 GB; the largest measured file
/// in traces/ is 0.7 MB.
pub const MAX_TABLE_BYTES: u64 = 256 << 20;

/// Largest time in a serving log [s]: as a scenario's times.
const MAX_TIME_S: f64 = crate::limits::MAX_VALUE;
/// Largest size in a serving log (audio seconds, characters, frames, tokens): as a trace's.
const MAX_SIZE: f64 = crate::scenario::files::MAX_TRACE_SIZE;

/// Check the serving logs of a measured run folder (`validate DIR`) before it is replayed:
/// every `<model>.requests.csv` and `<model>.batches.csv` must parse, its times be finite and in
/// [0, 1e9] s, a request finish no earlier than it arrived, a batch end no earlier than it
/// started, batch sizes be 1 to 65536, and sizes (audio_s, chars, frames, tokens) be positive
/// (non-negative for counts that may be 0, such as an empty context) up to 2^24. A folder that
/// cannot be listed is left for the replay to report.
pub fn check_run_folder(dir: &str) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            n.ends_with(".requests.csv") || n.ends_with(".batches.csv")
        })
        .collect();
    files.sort();
    for f in files {
        let path = f.display().to_string();
        let t = Table::read(&path)?;
        let requests = path.ends_with(".requests.csv");
        let times: &[&str] = if requests {
            &["arrival_s", "start_s", "first_token_s", "finish_s"]
        } else {
            &["start_s", "end_s"]
        };
        // Sizes: (column, may be zero).
        let sizes: &[(&str, bool)] = &[
            ("audio_s", false),
            ("chars", false),
            ("frames", false),
            ("prompt_tokens", false),
            ("output_tokens", true),
            ("tokens", true),
            ("context", true),
        ];
        let cell = |i: usize, c: &str, msg: String| Error::input(&path, format!("line {} column '{c}'", i + 2), msg);
        for i in 0..t.len() {
            for &c in times.iter().filter(|c| t.has(c)) {
                if t.text(i, c).is_empty() {
                    continue;
                }
                let v = t.num(i, c)?;
                if !(0.0..=MAX_TIME_S).contains(&v) {
                    return Err(cell(
                        i,
                        c,
                        format!("must be a time from 0 to 1e9 s, got '{}'", crate::error::num(v)),
                    ));
                }
            }
            for &(c, zero_ok) in sizes.iter().filter(|(c, _)| t.has(c)) {
                if t.text(i, c).is_empty() {
                    continue;
                }
                let v = t.num(i, c)?;
                if v < 0.0 || (!zero_ok && v == 0.0) || v > MAX_SIZE {
                    let want = if zero_ok { "non-negative" } else { "positive" };
                    return Err(cell(
                        i,
                        c,
                        format!("must be {want} and at most 16777216, got '{}'", crate::error::num(v)),
                    ));
                }
            }
            if t.has("batch") && !t.text(i, "batch").is_empty() {
                let b = t.num(i, "batch")?;
                if !(1.0..=f64::from(crate::model::MAX_BATCH)).contains(&b) || b.fract() != 0.0 {
                    return Err(cell(
                        i,
                        "batch",
                        format!("must be a whole number from 1 to 65536, got '{}'", crate::error::num(b)),
                    ));
                }
            }
            let (from, to) = if requests {
                ("arrival_s", "finish_s")
            } else {
                ("start_s", "end_s")
            };
            if t.has(from) && t.has(to) && !t.text(i, from).is_empty() && !t.text(i, to).is_empty() {
                let (a, z) = (t.num(i, from)?, t.num(i, to)?);
                if z < a {
                    return Err(cell(
                        i,
                        to,
                        format!("is before {from} ({} < {})", crate::error::num(z), crate::error::num(a)),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A CSV file as header-indexed rows of strings.
pub struct Table {
    /// Path, for errors.
    pub path: String,
    header: HashMap<String, usize>,
    rows: Vec<csv::StringRecord>,
}

impl Table {
    /// Read `path` (header row required). A file over [`MAX_TABLE_BYTES`] is refused without
    /// holding more than that.
    pub fn read(path: &str) -> Result<Table> {
        let text = crate::scenario::files::read_text(std::path::Path::new(path), MAX_TABLE_BYTES, "a measurement table")?;
        Table::parse(&text, path)
    }

    /// Parse CSV text.
    pub fn parse(text: &str, path: &str) -> Result<Table> {
        let mut rd = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(text.as_bytes());
        let names: Vec<String> = rd
            .headers()
            .map_err(|e| Error::input(path, "header", e.to_string()))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        crate::scenario::files::unique_columns(&names, path)?;
        let header = names.into_iter().enumerate().map(|(i, h)| (h, i)).collect();
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

    /// Column `name` of row `i` within `b`; the message quotes the cell as written.
    pub fn bounded(&self, i: usize, name: &str, b: crate::limits::Bound) -> Result<f64> {
        let v = self.num(i, name)?;
        if b.contains(v) {
            return Ok(v);
        }
        Err(Error::input(
            &self.path,
            format!("line {} column '{name}'", i + 2),
            format!("{}, got '{}'", b.describe(), self.text(i, name)),
        ))
    }

    /// A batch size: a whole number of requests from 1 to [`crate::model::MAX_BATCH`] (a
    /// fractional one would be padded up to a bucket and merged into another batch's cell).
    pub fn batch(&self, i: usize, name: &str) -> Result<f64> {
        let v = self.bounded(i, name, crate::limits::BATCH)?;
        if v.fract() != 0.0 {
            return Err(Error::input(
                &self.path,
                format!("line {} column '{name}'", i + 2),
                format!("a batch is a whole number of requests, got '{}'", self.text(i, name)),
            ));
        }
        Ok(v)
    }

    /// Every row has the same value in column `name` (when the file has it): a profile is one
    /// model's, and rows of two models merged into one table would fit neither.
    pub fn one_value(&self, name: &str) -> Result<()> {
        let Some(first) = (0..self.len()).map(|i| self.text(i, name)).next() else {
            return Ok(());
        };
        if let Some(i) = (0..self.len()).find(|&i| self.text(i, name) != first) {
            return Err(Error::input(
                &self.path,
                format!("line {} column '{name}'", i + 2),
                format!(
                    "'{}', but line 2 has '{first}': the file must hold one {name}'s rows (split it, one file per {name})",
                    self.text(i, name)
                ),
            ));
        }
        Ok(())
    }

    /// Like [`Table::num`] but the value must also be >= 0 (or > 0 if `strict`).
    pub fn nonneg(&self, i: usize, name: &str, strict: bool) -> Result<f64> {
        let v = self.num(i, name)?;
        if v < 0.0 || (strict && v == 0.0) {
            let want = if strict { "positive" } else { "non-negative" };
            return Err(Error::input(
                &self.path,
                format!("line {} column '{name}'", i + 2),
                format!("must be {want}, got '{}'", crate::error::num(v)),
            ));
        }
        Ok(v)
    }
}

/// Read one GenAI-Perf / AIPerf aggregate export: `profile_export_genai_perf.json` (or
/// `profile_export_aiperf.json`) or the matching `.csv`. Concurrency comes from the JSON's
/// `input_config` (or a top-level `concurrency`), else from a `concurrency<N>` part of the path,
/// as GenAI-Perf names its artifact folders.
pub fn read_load_run(path: &str) -> Result<crate::model::calibrate::LoadRun> {
    let text = crate::scenario::files::read_text(
        std::path::Path::new(path),
        crate::scenario::files::MAX_TEXT_BYTES,
        "a GenAI-Perf export",
    )?;
    let from_path = || -> Option<f64> {
        let i = path.rfind("concurrency")?;
        let digits: String = path[i + "concurrency".len()..].chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    };
    // Each figure is bounded where it is read, as a model table's would be (a latency is a call,
    // a length a request size), so that the fit never meets an absurd one.
    use crate::limits::{Bound, BATCH, CALL_MS, MEASURED_SIZE};
    const RATE: Bound = Bound::above(0.0, crate::limits::MAX_VALUE, " requests/s");
    let within = |field: &str, v: f64, b: Bound| b.check(path, field, v);
    let trimmed = text.trim_start();
    let (names, get): ([String; 6], Box<dyn Fn(usize) -> Result<f64>>) =
        if trimmed.starts_with('{') || (!path.ends_with(".csv") && text.contains('{')) {
            let start = text.find('{').ok_or_else(|| Error::input(path, "", "no JSON object"))?;
            let v: serde_json::Value =
                serde_json::from_str(&text[start..]).map_err(|e| Error::input(path, "", format!("malformed JSON: {e}")))?;
            let keys = [
                ("input_sequence_length", "avg"),
                ("output_sequence_length", "avg"),
                ("time_to_first_token", "p50"),
                ("inter_token_latency", "avg"),
                ("request_throughput", "avg"),
            ];
            let conc = [
                v.pointer("/input_config/concurrency"),
                v.pointer("/input_config/perf_analyzer/stimulus/concurrency"),
                v.pointer("/input_config/loadgen/concurrency"),
                v.get("concurrency"),
            ]
            .into_iter()
            .flatten()
            .find_map(|x| x.as_f64())
            .or_else(from_path);
            let names = [
                "input_config.concurrency".to_string(),
                format!("{}.{}", keys[0].0, keys[0].1),
                format!("{}.{}", keys[1].0, keys[1].1),
                format!("{}.{}", keys[2].0, keys[2].1),
                format!("{}.{}", keys[3].0, keys[3].1),
                format!("{}.{}", keys[4].0, keys[4].1),
            ];
            let names2 = names.clone();
            let get = Box::new(move |k: usize| -> Result<f64> {
                let x = if k == 0 {
                    conc
                } else {
                    let (m, st) = keys[k - 1];
                    v.get(m).and_then(|m| m.get(st)).and_then(|x| x.as_f64())
                };
                x.ok_or_else(|| Error::input(path, &names2[k], "missing or not a number"))
            });
            (names, get)
        } else {
            // CSV: a statistics block `Metric,avg,min,max,p99,...,p50,...` then a `Metric,Value`
            // block. A metric is found by its exact name (its unit in parentheses aside): GenAI-Perf
            // also writes "Inter Token Latency Spread"-like rows whose names start the same.
            let mut header: Vec<String> = Vec::new();
            let mut vals: BTreeMap<String, (usize, BTreeMap<String, f64>)> = BTreeMap::new();
            for (n, line) in text.lines().enumerate() {
                let cells: Vec<String> = line.split(',').map(|c| c.trim().trim_matches('"').to_string()).collect();
                if cells.first().map(String::as_str) == Some("Metric") {
                    header = cells;
                    continue;
                }
                if cells.len() < 2 || header.is_empty() {
                    continue;
                }
                let name = metric_name(&cells[0]);
                if let Some((first, _)) = vals.get(&name) {
                    return Err(Error::input(
                        path,
                        format!("line {}", n + 1),
                        format!("metric '{}' appears twice (first on line {first})", cells[0]),
                    ));
                }
                let mut row = BTreeMap::new();
                for (h, c) in header.iter().zip(&cells).skip(1) {
                    if let Ok(x) = c.replace(' ', "").parse::<f64>() {
                        row.insert(h.to_ascii_lowercase(), x);
                    }
                }
                vals.insert(name, (n + 1, row));
            }
            let keys = [
                ("input sequence length", "avg"),
                ("output sequence length", "avg"),
                ("time to first token", "p50"),
                ("inter token latency", "avg"),
                ("request throughput", "value"),
            ];
            let names = [
                "concurrency (not in a CSV: name the folder ...-concurrency<N>)".to_string(),
                format!("{} ({})", keys[0].0, keys[0].1),
                format!("{} ({})", keys[1].0, keys[1].1),
                format!("{} ({})", keys[2].0, keys[2].1),
                format!("{} ({})", keys[3].0, keys[3].1),
                format!("{} ({})", keys[4].0, keys[4].1),
            ];
            let names2 = names.clone();
            let conc = from_path();
            let get = Box::new(move |k: usize| -> Result<f64> {
                let x = if k == 0 {
                    conc
                } else {
                    let (m, st) = keys[k - 1];
                    vals.get(m).and_then(|(_, r)| r.get(st)).copied()
                };
                x.ok_or_else(|| Error::input(path, &names2[k], "missing or not a number"))
            });
            (names, get)
        };
    let concurrency = within(&names[0], get(0)?, BATCH)?;
    if concurrency.fract() != 0.0 {
        return Err(Error::input(
            path,
            &names[0],
            format!("must be a whole number of requests in flight, got '{concurrency}'"),
        ));
    }
    Ok(crate::model::calibrate::LoadRun {
        concurrency,
        input_tokens: within(&names[1], get(1)?, MEASURED_SIZE)?,
        output_tokens: within(&names[2], get(2)?, MEASURED_SIZE)?,
        ttft_p50_ms: within(&names[3], get(3)?, CALL_MS)?,
        itl_avg_ms: within(&names[4], get(4)?, CALL_MS)?,
        throughput_rps: within(&names[5], get(5)?, RATE)?,
    })
}

/// A GenAI-Perf CSV metric name as a key: lowercase, without its unit in parentheses
/// ("Time To First Token (ms)" is "time to first token").
fn metric_name(cell: &str) -> String {
    let base = match cell.rfind(" (") {
        Some(i) if cell.ends_with(')') => &cell[..i],
        _ => cell,
    };
    base.trim().to_ascii_lowercase()
}

/// Fit an LLM model from GenAI-Perf / AIPerf exports (see [`crate::model::calibrate::fit_load_runs`]).
pub fn calibrate_load_runs(
    files: &[String],
    gpu: &str,
    memory_gib: Option<f64>,
    kv_slots: Option<u32>,
    max_context: u32,
    kv: Option<crate::model::calibrate::KvGeometry>,
    weights_gib: Option<f64>,
) -> Result<crate::model::ModelSpec> {
    let cat = crate::gpu::Catalog::builtin();
    let g = cat
        .gpu(gpu)
        .ok_or_else(|| Error::input("--gpu", "", format!("unknown GPU '{gpu}' (known: {})", cat.names())))?;
    let runs: Vec<_> = files
        .iter()
        .map(|f| crate::validate::measured::read_load_run(f))
        .collect::<Result<_>>()?;
    let (prefill, decode, diag) = crate::model::calibrate::fit_load_runs(&runs).map_err(|m| Error::input(files.join(","), "", m))?;
    let max_c = runs.iter().map(|r| r.concurrency).fold(0.0, f64::max);
    // Without --memory-gib, assume the server takes 90 % of the GPU: the default memory share of
    // vLLM (`gpu_memory_utilization = 0.9`) and TensorRT-LLM's KV-cache fraction, which pre-allocate it.
    let memory = memory_gib.unwrap_or(g.memory_gib * 0.9);
    if !(memory.is_finite() && memory > 0.0 && memory <= g.memory_gib) {
        return Err(Error::input(
            "--memory-gib",
            "",
            format!(
                "must be a positive number up to the {} GiB of {}, got '{}'{}",
                g.memory_gib,
                g.name,
                crate::error::num(memory),
                crate::limits::unit_hint(memory, g.memory_gib, "GiB", crate::limits::GIB_SLIPS)
            ),
        ));
    }
    let weights = weights_gib.unwrap_or(0.0);
    if weights > memory {
        return Err(Error::input(
            "--memory-gib",
            "",
            format!("'{memory}' GiB is less than the architecture's {weights:.1} GiB of weights"),
        ));
    }
    let mut llm = crate::model::LlmSpec {
        max_seqs: kv_slots.unwrap_or(max_c.round().max(1.0) as u32),
        max_context_tokens: max_context,
        ..crate::model::LlmSpec::gpubench()
    };
    if let Some(k) = kv {
        k.apply(&mut llm);
    }
    let r4 = |x: f64| (x * 1e4).round() / 1e4;
    // Seen only from outside, the server's calls cannot be split into fixed, compute and memory
    // parts: take the split of the built-in LLM shape (the same Llama-3.1-8B class) at each cell.
    let builtin = crate::model::builtin("h100/llm").ok_or_else(|| Error::Infeasible("built-in h100/llm missing".into()))??;
    let decode = extend_decode(decode, builtin.op("decode"));
    let mut ops = std::collections::BTreeMap::new();
    for (name, mut t) in [("prefill", prefill), ("decode", decode)] {
        t.split_like(builtin.op(name));
        ops.insert(name.to_string(), t);
    }
    let spec = crate::model::ModelSpec {
        name: "llm".into(),
        kind: crate::model::ServiceKind::Llm,
        reference_gpu: g.name.clone(),
        description: "LLM server fitted from GenAI-Perf/AIPerf concurrency sweeps".into(),
        memory: crate::model::MemoryFootprint {
            weights_gib: r4(weights),
            runtime_gib: r4(memory - weights),
        },
        max_batch: 1,
        dispatch_ms: 0.0,
        call_gap_ms: 0.0,
        shared_time_fraction: 1.0,
        sync_copy_ms: 0.0,
        host_phase_ms: 0.0,
        cold_call_ms: 0.0,
        call_noise: 0.0,
        warm_batches: Vec::new(),
        frames_per_char: None,
        frames_range: None,
        frames_per_s: None,
        llm: Some(llm),
        asr_mode: crate::scenario::raw::AsrMode::Offline,
        chunk_s: 0.32,
        tts_policy: crate::scenario::raw::TtsPolicy::Static,
        first_chunk_frames: 22,
        ops,
        memory_override: false,
        scaling: builtin.scaling,
        arch: None,
        size_unit: None,
        tensor_parallel: 1,
        pipeline_parallel: 1,
        calibration: serde_json::json!({
            "sources": { "genai_perf": files },
            "provenance": {
                "source": "measured from outside (GenAI-Perf / AIPerf concurrency sweep)",
                "gpu": g.name,
                "exports": files.iter().map(|f| std::path::Path::new(f).parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| f.clone())).collect::<Vec<_>>(),
                "kv_geometry": match kv {
                    Some(k) => serde_json::json!({ "layers": k.layers, "kv_heads": k.kv_heads, "head_dim": k.head_dim, "bytes": k.kv_bytes_per_element }),
                    None => serde_json::json!("assumed Llama-3.1-8B (32 layers, 8 KV heads of 128, bf16)"),
                },
            },
            "form": diag["form"],
            "prefill_rule": diag["prefill_rule"],
            "ops": { "decode": diag["decode"] },
        }),
    };
    spec.validate("calibrate")?;
    Ok(spec)
}

/// Beyond the largest concurrency of the sweep, a decode step grows with the batch as the
/// built-in Llama-3.1-8B decode measured on an H100 does (more KV to read and more tokens to
/// compute per step), scaled to this server at its last measured point. A line through the
/// sweep's points alone can fall with the batch (their ITLs are within noise of each other),
/// which no decode step does; extrapolated, it makes large batches nearly free.
fn extend_decode(mut t: crate::model::OpTable, shape: &crate::model::OpTable) -> crate::model::OpTable {
    let (Some(&b_last), Some(row)) = (t.batch.last(), t.latency_ms.last()) else {
        return t;
    };
    let (ctx, l_last) = (t.size[0], row[0]);
    let base = shape.grid_ms(b_last, ctx).0;
    let mut b = b_last * 2.0;
    while b <= 2.0 * MAX_EXTENDED_BATCH {
        let l = l_last * shape.grid_ms(b, ctx).0 / base;
        t.batch.push(b);
        t.latency_ms.push(vec![(l * 1e4).round() / 1e4]);
        t.fixed_frac.push(vec![1.0]);
        t.compute_frac.push(vec![0.0]);
        b *= 2.0;
    }
    t
}

/// The batch the extension reaches (the `chunked` engine's default `max_batch`).
const MAX_EXTENDED_BATCH: f64 = 256.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_file_line_and_column() {
        let t = Table::parse("batch,latency_ms\n1,-3\n2,NaN\n", "t.csv").expect("csv ok");
        assert_eq!(
            t.nonneg(0, "latency_ms", true).expect_err("negative").to_string(),
            "t.csv: line 2 column 'latency_ms': must be positive, got '-3'"
        );
        assert!(t.num(1, "latency_ms").expect_err("nan").to_string().contains("'NaN'"));
        assert!(t
            .require(&["when"])
            .expect_err("cols")
            .to_string()
            .contains("missing column 'when'"));
    }
}
