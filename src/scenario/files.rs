//! The file reads of scenario construction: the scenario text, the model JSON files and the
//! request traces it references, and the atomic writes of every output file. Everything here is
//! edge I/O; [`super::from_raw`] is a pure function of what these functions return.
//!
//! Traces are read incrementally (one record at a time, never the whole file in memory) into a
//! compact [`Trace`] of 16-byte rows, which every workload and variant then shares.

use super::raw::{parse as parse_raw, RawScenario};
use super::resolve::from_raw;
use crate::error::{Error, Result};
use crate::model::ModelSpec;
use crate::scenario::workload::{Trace, TraceRow, TraceSize};
use crate::scenario::Scenario;
use crate::time::{from_secs, SimTime};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Most rows a trace may have: 1e7 rows take 160 MB (docs/src/limits.md).
pub const MAX_TRACE_ROWS: usize = 10_000_000;
/// Largest request size in a trace (tokens, characters, audio seconds): f32, in which a trace
/// holds sizes, is exact for integers up to 2^24.
pub const MAX_TRACE_SIZE: f64 = 16_777_216.0;
/// Largest trace file [bytes]: 1e7 rows of the widest format (BurstGPT) are under 1 GiB.
pub const MAX_TRACE_BYTES: u64 = 1 << 30;
/// Longest line of a trace [bytes]: a record is a few numbers.
pub const MAX_LINE_BYTES: u64 = 1 << 20;
/// Largest scenario, model or GenAI-Perf export [bytes]: a scenario of 1000 variants is about
/// 100 KB, a model a few tables.
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

/// Open an input file for reading: the one way every path a user names is opened (scenarios,
/// models, traces, profiles, serving logs, exports, a sweep's own files). Only a regular file
/// (or a link to one) is opened: a FIFO would block the open until some writer comes, a
/// terminal or /dev/zero never ends, a folder is no text, so each is refused from its metadata,
/// before any open, as an I/O error naming the path and what it is.
pub fn open_regular(path: &Path) -> Result<std::fs::File> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display(), e))?;
    if !meta.is_file() {
        return Err(Error::io(
            path.display(),
            format!(
                "is {}, not a regular file: inputs are read from regular files only (docs/src/limits.md)",
                file_kind(&meta)
            ),
        ));
    }
    std::fs::File::open(path).map_err(|e| Error::io(path.display(), e))
}

/// Refuse an output path that exists and is not a regular file (a FIFO would block the open
/// for writing until a reader comes; a folder cannot be replaced by a file).
pub fn check_output(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(Error::io(
            path.display(),
            format!("is {}, not a regular file: cannot write it (choose another path)", file_kind(&m)),
        )),
        _ => Ok(()),
    }
}

/// What a non-regular file is, for messages.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    "a special file"
}

/// Read a text file of at most `max` bytes, refusing a larger one without holding more than
/// `max` bytes: the message names the file and the limit. Opened by [`open_regular`].
pub fn read_text(path: &Path, max: u64, what: &str) -> Result<String> {
    use std::io::Read;
    let f = open_regular(path)?;
    let mut buf = Vec::new();
    f.take(max + 1).read_to_end(&mut buf).map_err(|e| Error::io(path.display(), e))?;
    if buf.len() as u64 > max {
        return Err(Error::input(
            path.display().to_string(),
            "",
            format!("more than {max} bytes is too large for {what} (docs/src/limits.md)"),
        ));
    }
    String::from_utf8(buf).map_err(|e| {
        Error::input(
            path.display().to_string(),
            "",
            format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// A reader that fails (as an I/O error the trace readers report with the file and line) past
/// [`MAX_TRACE_BYTES`] in all or [`MAX_LINE_BYTES`] without a line break: an endless or
/// single-line file cannot fill memory.
struct Capped<R> {
    inner: R,
    total: u64,
    line: u64,
}

impl<R: std::io::Read> std::io::Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            self.line = if b == b'\n' { 0 } else { self.line + 1 };
            if self.line > MAX_LINE_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("a line longer than {MAX_LINE_BYTES} bytes: not a trace (docs/src/limits.md)"),
                ));
            }
        }
        self.total += n as u64;
        if self.total > MAX_TRACE_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("more than {MAX_TRACE_BYTES} bytes is too large for a trace (docs/src/limits.md)"),
            ));
        }
        Ok(n)
    }
}

/// Everything a scenario references outside its own text, keyed by the string as written in
/// the scenario (`from = ...`, `trace = ...`).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The scenario file, for messages.
    pub file: String,
    /// Model files read (built-in models are not here: [`super::builtin_model`] has them).
    pub models: BTreeMap<String, ModelSpec>,
    /// Traces read.
    pub traces: BTreeMap<String, Arc<Trace>>,
}

impl Sources {
    /// No files: a scenario that uses only built-in models and no trace.
    pub fn none(file: &str) -> Sources {
        Sources {
            file: file.to_string(),
            ..Sources::default()
        }
    }
}

/// A path as written in a scenario, resolved against the scenario's folder when relative.
pub fn resolve_path(dir: Option<&Path>, p: &str) -> PathBuf {
    let pb = PathBuf::from(p);
    match dir {
        Some(d) if pb.is_relative() => d.join(pb),
        _ => pb,
    }
}

/// Read every model file and trace `raw` references (relative to `dir`).
pub fn load_sources(raw: &RawScenario, file: &str, dir: Option<&Path>) -> Result<Sources> {
    let mut src = Sources::none(file);
    for (name, m) in &raw.models {
        let Some(from) = m.model_file() else { continue };
        if !src.models.contains_key(from) {
            let p = resolve_path(dir, from);
            let spec = read_model(&p).map_err(|e| match e {
                Error::Io { message, .. } => {
                    let names: Vec<&str> = crate::model::BUILTIN_MODELS.iter().map(|x| x.0).collect();
                    Error::input(
                        file,
                        format!("models.{name}.from"),
                        format!(
                            "'{from}' is neither a built-in model ({}) nor a readable file: {message}",
                            names.join(", ")
                        ),
                    )
                }
                e => e,
            })?;
            src.models.insert(from.to_string(), spec);
        }
    }
    for (i, w) in raw.workload.iter().enumerate() {
        if let Some(t) = &w.trace {
            if !src.traces.contains_key(t) {
                // A trace that cannot be opened is named by the scenario's field; one that is
                // read but wrong by its own file, line and column.
                let trace = read_trace(&resolve_path(dir, t)).map_err(|e| match e {
                    Error::Io { path, message } => Error::input(
                        file,
                        format!("workload[{i}].trace"),
                        format!("'{t}' cannot be read ({path}: {message})"),
                    ),
                    e => e,
                })?;
                src.traces.insert(t.clone(), Arc::new(trace));
            }
        }
    }
    Ok(src)
}

/// Read a scenario file and everything it references.
pub fn read_scenario(path: &str) -> Result<(RawScenario, Sources)> {
    let p = Path::new(path);
    let text = read_text(p, MAX_TEXT_BYTES, "a scenario")?;
    let raw = parse_raw(&text, path)?;
    let src = load_sources(&raw, path, p.parent())?;
    Ok((raw, src))
}

/// The scenario of a file, or the embedded default.
pub fn load_scenario(path: Option<&str>) -> Result<Scenario> {
    match path {
        Some(p) => {
            let (raw, src) = read_scenario(p)?;
            from_raw(&raw, &src)
        }
        None => default_scenario(),
    }
}

/// The embedded default scenario (built-in models only: no file is read).
pub fn default_scenario() -> Result<Scenario> {
    let raw = parse_raw(DEFAULT_SCENARIO, DEFAULT_SCENARIO_NAME)?;
    from_raw(&raw, &Sources::none(DEFAULT_SCENARIO_NAME))
}

/// Scenario text as if read from `file` in `dir` (tests, the book's example).
pub fn parse_scenario(text: &str, file: &str, dir: Option<&Path>) -> Result<Scenario> {
    let raw = parse_raw(text, file)?;
    let src = load_sources(&raw, file, dir)?;
    from_raw(&raw, &src)
}

/// Read a model JSON file. Larger than [`MAX_TEXT_BYTES`] is refused: a model file is a few
/// tables, so anything that large is not one.
pub fn read_model(path: &Path) -> Result<ModelSpec> {
    let text = read_text(path, MAX_TEXT_BYTES, "a model file")?;
    ModelSpec::parse(&text, &path.display().to_string())
}

/// Write a file whole or not at all: write a temporary sibling, then rename it over the target.
/// Every file gpuslice writes goes through here (model files, exports, sweep manifests and
/// summaries), except the sweep's results.csv while it runs: that is a journal appended one run
/// at a time so that a killed sweep keeps its runs, and `--resume` drops a torn last run.
pub fn write_atomic(path: &str, text: &str) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(text.as_bytes()))
}

/// [`write_atomic`] with the content produced by `fill`. If `fill`, the flush, the sync or the
/// rename fails, the temporary file is removed and the target is left as it was (absent, or its
/// old content): a reader never sees a partly written file. The temporary name carries the process
/// id and a counter, so concurrent writers of one path do not share it; it is synced to disk
/// before the rename so that a crash cannot leave the new name holding unwritten blocks.
pub fn write_atomic_with(path: &str, fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> Result<()> {
    let tmp = write_temp(path, fill)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// The content of `fill` in a new temporary sibling of `path`, synced; its name. On failure it is
/// removed.
fn write_temp(path: &str, fill: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> Result<String> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = format!("{path}.tmp{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
    let result = (|| {
        let f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let mut w = std::io::BufWriter::new(f);
        fill(&mut w)?;
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(Error::io(path, e))
        }
    }
}

/// Write several files as one output (a plan's scenario and its Kubernetes folder): every
/// target is checked first ([`check_output`]; its folder must exist and be one, but for the
/// folders of `make`, which are created), then every text is written to a temporary sibling
/// and synced, and only when all are written is each renamed over its target. A failure before
/// the renames removes every temporary file and leaves every target as it was: a bad input
/// never leaves some of the files written and the others not.
pub fn write_all_atomic(files: &[(String, String)], make: &[&str]) -> Result<()> {
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    check_targets(&paths, make)?;
    for dir in make {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    write_renamed(files)
}

/// The checks of [`write_all_atomic`] alone, so that a command can make them before long work.
pub fn check_targets(paths: &[&str], make: &[&str]) -> Result<()> {
    for path in paths {
        let p = Path::new(path);
        check_output(p)?;
        let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) else {
            continue;
        };
        match std::fs::metadata(dir) {
            Ok(m) if !m.is_dir() => {
                return Err(Error::io(
                    dir.display(),
                    format!("is {}, not a folder: cannot write {path} in it", file_kind(&m)),
                ));
            }
            Err(e) if !make.iter().any(|m| Path::new(m) == dir) => return Err(Error::io(dir.display(), e)),
            _ => {}
        }
    }
    for dir in make {
        if let Ok(m) = std::fs::metadata(dir) {
            if !m.is_dir() {
                return Err(Error::io(dir, format!("is {}, not a folder", file_kind(&m))));
            }
        }
    }
    Ok(())
}

/// Every text to a temporary sibling, then every rename (see [`write_all_atomic`]).
fn write_renamed(files: &[(String, String)]) -> Result<()> {
    let mut temps: Vec<String> = Vec::with_capacity(files.len());
    for (path, text) in files {
        match write_temp(path, |w| w.write_all(text.as_bytes())) {
            Ok(t) => temps.push(t),
            Err(e) => {
                for t in &temps {
                    let _ = std::fs::remove_file(t);
                }
                return Err(e);
            }
        }
    }
    for (i, ((path, _), tmp)) in files.iter().zip(&temps).enumerate() {
        if let Err(e) = std::fs::rename(tmp, path) {
            for t in &temps[i..] {
                let _ = std::fs::remove_file(t);
            }
            return Err(Error::io(path, e));
        }
    }
    Ok(())
}

/// Read a request trace, detecting its format by its first line:
/// * gpubench CSV: `id,arrival_s,<size>[,output_tokens]`, size `audio_s`, `chars` or
///   `prompt_tokens` (traces/h100);
/// * Azure LLM inference trace 2023 CSV: `TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps
///   `YYYY-MM-DD HH:MM:SS.fffffff`, relative to the first row;
/// * BurstGPT CSV: `Timestamp` [s] with `Request tokens`, `Response tokens` (rows with 0 response
///   tokens are the dataset's failed requests and are skipped);
/// * Mooncake JSON lines: `{"timestamp": <ms>, "input_length": n, "output_length": m, ...}`.
pub fn read_trace(path: &Path) -> Result<Trace> {
    let f = open_regular(path)?;
    let capped = Capped {
        inner: f,
        total: 0,
        line: 0,
    };
    read_trace_from(BufReader::new(capped), &path.display().to_string())
}

/// [`read_trace`] from any buffered reader; `name` names the source in errors.
pub fn read_trace_from(mut rd: impl BufRead, name: &str) -> Result<Trace> {
    let first = {
        let buf = rd.fill_buf().map_err(|e| Error::io(name, e))?;
        buf.iter().copied().find(|b| !b.is_ascii_whitespace())
    };
    let name = name.to_string();
    let mut b = TraceBuilder::new(&name);
    match first {
        None => return Err(Error::input(&name, "", "trace is empty")),
        Some(b'{') => read_jsonl(rd, &mut b)?,
        Some(_) => read_csv(rd, &mut b)?,
    }
    b.finish()
}

/// Accumulates rows with the checks every format shares.
struct TraceBuilder<'a> {
    file: &'a str,
    rows: Vec<TraceRow>,
    size: TraceSize,
    all_out: bool,
    sorted: bool,
}

impl<'a> TraceBuilder<'a> {
    fn new(file: &'a str) -> Self {
        TraceBuilder {
            file,
            rows: Vec::new(),
            size: TraceSize::PromptTokens,
            all_out: true,
            sorted: true,
        }
    }

    fn err(&self, line: usize, column: &str, msg: impl Into<String>) -> Error {
        Error::input(self.file, format!("line {line} column '{column}'"), msg)
    }

    /// Add a row. `arrival_s` is the arrival in seconds from the trace's start, converted from
    /// `at` (the column and the cell as the file writes it), which a message quotes: a Mooncake
    /// timestamp is in ms and an Azure one a date, so the seconds would not be found in the file.
    fn push(&mut self, line: usize, arrival_s: f64, at: (&str, &str), size: f64, size_col: &str, out: Option<(f64, &str)>) -> Result<()> {
        if !(arrival_s.is_finite() && (0.0..=crate::limits::MAX_VALUE).contains(&arrival_s)) {
            let (col, text) = at;
            return Err(self.err(
                line,
                col,
                format!(
                    "must be an arrival from 0 to 1e9 s after the trace's start, got '{text}' ({} s)",
                    crate::error::num(arrival_s)
                ),
            ));
        }
        if !(size.is_finite() && size > 0.0 && size <= MAX_TRACE_SIZE) {
            return Err(self.err(
                line,
                size_col,
                format!("must be a positive size up to 16777216, got '{}'", crate::error::num(size)),
            ));
        }
        let out_tokens = match out {
            Some((o, col)) => {
                if !(o.is_finite() && (1.0..=MAX_TRACE_SIZE).contains(&o)) {
                    return Err(self.err(
                        line,
                        col,
                        format!("must be a positive token count up to 16777216, got '{}'", crate::error::num(o)),
                    ));
                }
                o.round() as u32
            }
            None => {
                self.all_out = false;
                0
            }
        };
        if self.rows.len() >= MAX_TRACE_ROWS {
            return Err(Error::input(
                self.file,
                "",
                format!("more than {MAX_TRACE_ROWS} rows: split the trace or raise the limit (docs/src/limits.md)"),
            ));
        }
        let arrival: SimTime = from_secs(arrival_s);
        if self.rows.last().is_some_and(|r| r.arrival > arrival) {
            self.sorted = false;
        }
        self.rows.push(TraceRow {
            arrival,
            size: size as f32,
            out_tokens,
        });
        Ok(())
    }

    fn finish(mut self) -> Result<Trace> {
        if self.rows.is_empty() {
            return Err(Error::input(self.file, "", "trace has no requests"));
        }
        if !self.sorted {
            self.rows.sort_by_key(|r| r.arrival);
        }
        Ok(Trace {
            rows: self.rows,
            size: self.size,
            has_out_tokens: self.all_out,
        })
    }
}

fn read_jsonl(rd: impl BufRead, b: &mut TraceBuilder) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct Row {
        timestamp: f64,
        input_length: f64,
        output_length: f64,
    }
    let mut line = String::new();
    let mut rd = rd;
    let mut n = 0;
    loop {
        line.clear();
        let got = rd
            .read_line(&mut line)
            .map_err(|e| Error::input(b.file, format!("line {}", n + 1), e.to_string()))?;
        if got == 0 {
            break;
        }
        n += 1;
        if line.trim().is_empty() {
            continue;
        }
        let r: Row = serde_json::from_str(&line)
            .map_err(|e| Error::input(b.file, format!("line {n}"), format!("not a Mooncake trace record: {e}")))?;
        b.push(
            n,
            r.timestamp / 1e3,
            ("timestamp", &format!("{} ms", crate::error::num(r.timestamp))),
            r.input_length,
            "input_length",
            Some((r.output_length, "output_length")),
        )?;
    }
    b.size = TraceSize::PromptTokens;
    Ok(())
}

fn read_csv(rd: impl BufRead, b: &mut TraceBuilder) -> Result<()> {
    let mut csv = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(rd);
    let header: Vec<String> = csv
        .headers()
        .map_err(|e| Error::input(b.file, "header", e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    unique_columns(&header, b.file)?;
    let col = |n: &str| header.iter().position(|h| h == n);
    enum Fmt {
        Gpubench { arrival: usize, size: usize, out: Option<usize> },
        Azure { ts: usize, ctx: usize, gen: usize },
        Burst { ts: usize, req: usize, resp: usize },
    }
    let fmt = if let (Some(ts), Some(ctx), Some(gen)) = (col("TIMESTAMP"), col("ContextTokens"), col("GeneratedTokens")) {
        b.size = TraceSize::PromptTokens;
        Fmt::Azure { ts, ctx, gen }
    } else if let (Some(ts), Some(req), Some(resp)) = (col("Timestamp"), col("Request tokens"), col("Response tokens")) {
        b.size = TraceSize::PromptTokens;
        Fmt::Burst { ts, req, resp }
    } else if let Some(arrival) = col("arrival_s") {
        let (size, kind) = [TraceSize::AudioS, TraceSize::Chars, TraceSize::PromptTokens, TraceSize::Pixels]
            .into_iter()
            .find_map(|k| col(k.column()).map(|i| (i, k)))
            .ok_or_else(|| {
                Error::input(
                    b.file,
                    "header",
                    "needs a size column: 'audio_s', 'chars', 'prompt_tokens' or 'pixels'",
                )
            })?;
        b.size = kind;
        Fmt::Gpubench {
            arrival,
            size,
            out: col("output_tokens"),
        }
    } else {
        return Err(Error::input(
            b.file,
            "header",
            format!(
                "unknown trace format (columns: {header:?}); expected gpubench (arrival_s + audio_s|chars|prompt_tokens|pixels), Azure (TIMESTAMP,ContextTokens,GeneratedTokens), BurstGPT (Timestamp, Request tokens, Response tokens) or Mooncake JSON lines"
            ),
        ));
    };
    let mut rec = csv::StringRecord::new();
    let mut line = 1;
    // The first row's time and text: formats with absolute times are replayed from it.
    let mut t0: Option<(f64, String)> = None;
    let file = b.file;
    let relative = |t: f64, text: &str, col: &str, line: usize, t0: &mut Option<(f64, String)>| -> Result<f64> {
        let (base, first) = t0.get_or_insert_with(|| (t, text.to_string()));
        if t < *base {
            return Err(Error::input(
                file,
                format!("line {line} column '{col}'"),
                format!("'{text}' is before the first row's '{first}': absolute times are replayed from the first row, which must be the earliest"),
            ));
        }
        Ok(*base)
    };
    loop {
        line += 1;
        match csv.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(Error::input(b.file, format!("line {line}"), crate::gpu::one_line(&e.to_string()))),
        }
        let num = |i: usize, name: &str| -> Result<f64> {
            let t = rec.get(i).unwrap_or("");
            t.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                Error::input(
                    b.file,
                    format!("line {line} column '{name}'"),
                    format!("not a finite number: '{t}'"),
                )
            })
        };
        match fmt {
            Fmt::Gpubench { arrival, size, out } => {
                let a = num(arrival, "arrival_s")?;
                let at = ("arrival_s", rec.get(arrival).unwrap_or(""));
                let s = num(size, b.size.column())?;
                let o = out.map(|i| num(i, "output_tokens")).transpose()?;
                b.push(line, a, at, s, b.size.column(), o.map(|o| (o, "output_tokens")))?;
            }
            Fmt::Azure { ts, ctx, gen } => {
                let text = rec.get(ts).unwrap_or("");
                let t = parse_timestamp(text).ok_or_else(|| {
                    Error::input(
                        b.file,
                        format!("line {line} column 'TIMESTAMP'"),
                        format!("not a date and time of the calendar (YYYY-MM-DD HH:MM:SS[.fraction]): '{text}'"),
                    )
                })?;
                let base = relative(t, text, "TIMESTAMP", line, &mut t0)?;
                let (c, g) = (num(ctx, "ContextTokens")?, num(gen, "GeneratedTokens")?);
                b.push(
                    line,
                    t - base,
                    ("TIMESTAMP", text),
                    c,
                    "ContextTokens",
                    Some((g, "GeneratedTokens")),
                )?;
            }
            Fmt::Burst { ts, req, resp } => {
                let t = num(ts, "Timestamp")?;
                let text = rec.get(ts).unwrap_or("");
                let base = relative(t, text, "Timestamp", line, &mut t0)?;
                let (q, r) = (num(req, "Request tokens")?, num(resp, "Response tokens")?);
                if r == 0.0 {
                    continue; // a request that failed in the recorded service
                }
                b.push(
                    line,
                    t - base,
                    ("Timestamp", text),
                    q,
                    "Request tokens",
                    Some((r, "Response tokens")),
                )?;
            }
        }
    }
    Ok(())
}

/// A CSV header names each column once: of two columns of one name, one would be read and the
/// other silently ignored.
pub fn unique_columns(header: &[String], file: &str) -> Result<()> {
    for (i, h) in header.iter().enumerate() {
        if let Some(j) = header[..i].iter().position(|x| x == h) {
            return Err(Error::input(
                file,
                "header",
                format!(
                    "column '{h}' appears twice (columns {} and {}): which one holds the data?",
                    j + 1,
                    i + 1
                ),
            ));
        }
    }
    Ok(())
}

/// Seconds since an arbitrary epoch for `YYYY-MM-DD HH:MM:SS[.frac]`.
fn parse_timestamp(s: &str) -> Option<f64> {
    let (date, time) = s.trim().split_once(' ')?;
    let d: Vec<i64> = date.split('-').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let mut tp = time.split(':');
    let h: f64 = tp.next()?.parse().ok()?;
    let m: f64 = tp.next()?.parse().ok()?;
    let sec: f64 = tp.next()?.parse().ok()?;
    if d.len() != 3
        || !(1..=12).contains(&d[1])
        || !(1..=days_in_month(d[0], d[1])).contains(&d[2])
        || !(0.0..24.0).contains(&h)
        || !(0.0..60.0).contains(&m)
        || !(0.0..61.0).contains(&sec)
    {
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

/// Days of month `m` (1-12) of year `y` in the Gregorian calendar: a 30 February is refused
/// where it is written, not read as 2 March (which would blame the next row for going back).
fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The embedded default scenario (the A100 voice consolidation study).
pub const DEFAULT_SCENARIO: &str = include_str!("../../experiments/a100-voice-consolidation.toml");
/// Name used for the embedded scenario in messages.
pub const DEFAULT_SCENARIO_NAME: &str = "experiments/a100-voice-consolidation.toml (embedded)";

#[cfg(test)]
mod tests {
    use super::*;

    fn trace_of(name: &str, text: &str) -> Result<Trace> {
        let dir = std::env::temp_dir().join(format!("gpuslice-files-{}-{name}", std::process::id()));
        std::fs::write(&dir, text).expect("write temp");
        let r = read_trace(&dir);
        let _ = std::fs::remove_file(&dir);
        r
    }

    /// Files left in `dir` (names).
    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_failing_write_leaves_no_partial_file_and_keeps_the_old_one() {
        let dir = std::env::temp_dir().join(format!("gpuslice-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let target = dir.join("out.json").display().to_string();
        // Fails half way through: no file at all.
        let half = |w: &mut dyn std::io::Write| {
            w.write_all(b"{\"half\": ")?;
            Err(std::io::Error::other("disk full"))
        };
        let e = write_atomic_with(&target, half).expect_err("fails");
        assert!(e.to_string().contains("out.json") && e.to_string().contains("disk full"), "{e}");
        assert!(listing(&dir).is_empty(), "left {:?}", listing(&dir));
        // An old file survives a failed rewrite, whole.
        write_atomic(&target, "old\n").expect("writes");
        write_atomic_with(&target, half).expect_err("fails");
        assert_eq!(std::fs::read_to_string(&target).expect("old file"), "old\n");
        assert_eq!(listing(&dir), ["out.json"]);
        // The rename fails (the target is a folder): the temporary file goes, the folder stays.
        let sub = dir.join("sub");
        std::fs::create_dir_all(sub.join("inner")).expect("dir");
        write_atomic(&sub.display().to_string(), "x").expect_err("cannot replace a folder");
        assert_eq!(listing(&dir), ["out.json", "sub"]);
        // A missing folder: an error naming the path, nothing created.
        let missing = dir.join("no/such/dir/out.json").display().to_string();
        let e = write_atomic(&missing, "x").expect_err("no folder");
        assert!(e.to_string().contains("no/such/dir/out.json"), "{e}");
        assert_eq!(listing(&dir), ["out.json", "sub"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn several_files_are_written_all_or_none() {
        let dir = std::env::temp_dir().join(format!("gpuslice-all-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("k8s/b.yaml")).expect("dir");
        let path = |n: &str| dir.join(n).display().to_string();
        let k8s = path("k8s");
        let files = vec![
            (path("s.toml"), "s".to_string()),
            (path("k8s/a.yaml"), "a".into()),
            (path("k8s/b.yaml"), "b".into()),
        ];
        let e = write_all_atomic(&files, &[&k8s]).expect_err("a target is a folder");
        assert!(e.to_string().contains("b.yaml") && e.to_string().contains("folder"), "{e}");
        assert_eq!(
            (listing(&dir), listing(&dir.join("k8s"))),
            (vec!["k8s".to_string()], vec!["b.yaml".to_string()])
        );
        // A parent that does not exist is made only when it is one of `make`.
        let e = write_all_atomic(&[(path("no/s.toml"), "s".into())], &[]).expect_err("no folder");
        assert!(e.to_string().contains("no"), "{e}");
        std::fs::remove_dir_all(dir.join("k8s/b.yaml")).expect("rm");
        write_all_atomic(&files, &[&k8s]).expect("writes");
        assert_eq!(listing(&dir.join("k8s")), ["a.yaml", "b.yaml"]);
        assert_eq!(std::fs::read_to_string(path("s.toml")).expect("s"), "s");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_calendar_days_are_timestamps() {
        assert!(parse_timestamp("2024-02-29 00:00:00").is_some() && parse_timestamp("2000-02-29 00:00:00").is_some());
        for bad in [
            "2023-02-29 00:00:00",
            "1900-02-29 00:00:00",
            "2023-04-31 00:00:00",
            "2023-13-01 00:00:00",
            "2023-01-00 00:00:00",
        ] {
            assert!(parse_timestamp(bad).is_none(), "{bad}");
        }
        let t = |s: &str| parse_timestamp(s).expect(s);
        assert_eq!(t("2023-03-01 00:00:00") - t("2023-02-28 00:00:00"), 86400.0);
    }

    #[test]
    fn reads_every_trace_format() {
        let g = trace_of("g.csv", "id,arrival_s,prompt_tokens,output_tokens\n0,0.5,100,20\n1,1.0,50,5\n").expect("valid");
        assert_eq!((g.rows[1].arrival, g.rows[1].size, g.rows[1].out_tokens), (1_000_000_000, 50.0, 5));
        assert!(g.has_out_tokens && g.size == TraceSize::PromptTokens);
        let a = trace_of(
            "a.csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n",
        )
        .expect("valid");
        assert_eq!(a.rows[0].arrival, 0);
        assert!((a.rows[1].arrival as f64 / 1e9 - 4.314579).abs() < 1e-5);
        let m = trace_of(
            "m.jsonl",
            "{\"timestamp\": 0, \"input_length\": 6955, \"output_length\": 52, \"hash_ids\": [1, 2]}\n{\"timestamp\": 1500, \"input_length\": 10, \"output_length\": 3, \"hash_ids\": []}\n",
        )
        .expect("valid");
        assert_eq!((m.rows[1].arrival, m.rows[1].out_tokens), (1_500_000_000, 3));
        let b = trace_of(
            "b.csv",
            "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,472,18,490,Conversation log\n6,GPT-4,100,0,100,Conversation log\n7.5,ChatGPT,10,4,14,API log\n",
        )
        .expect("valid");
        assert_eq!(b.rows.len(), 2, "the failed request (0 response tokens) is skipped");
        assert_eq!(b.rows[1].arrival, 2_500_000_000);
        let asr = trace_of("asr.csv", "id,arrival_s,audio_s\n0,0.1,3.5\n").expect("valid");
        assert!(asr.size == TraceSize::AudioS && !asr.has_out_tokens);
    }

    #[test]
    fn bad_values_name_file_line_and_column() {
        let e = trace_of("t1.csv", "id,arrival_s,audio_s\n0,0.5,-3\n")
            .expect_err("negative")
            .to_string();
        assert!(e.contains("line 2 column 'audio_s'") && e.contains("'-3'"), "{e}");
        let e = trace_of("t2.csv", "id,arrival_s,audio_s\n0,NaN,3\n").expect_err("nan").to_string();
        assert!(e.contains("'NaN'"), "{e}");
        let e = trace_of("t3.csv", "id,when\n0,1\n").expect_err("cols").to_string();
        assert!(e.contains("unknown trace format"), "{e}");
        let e = trace_of("t4.jsonl", "{\"timestamp\": 0}\n").expect_err("fields").to_string();
        assert!(e.contains("line 1") && e.contains("Mooncake"), "{e}");
        let e = trace_of("t5.csv", "").expect_err("empty").to_string();
        assert!(e.contains("empty"), "{e}");
    }
}
