//! `gpuslice calibrate`: reading profiles, serving logs, SM-restricted profiles and load-generator
//! exports, and handing them to the fitting code of [`crate::model::calibrate`].

use crate::error::{Error, Result};
use crate::gpu::{Catalog, GpuSpec};
use crate::metrics::median_sample;
use crate::model::arch::Arch;
use crate::model::calibrate::scaling::{self, ScalingPoint};
pub use crate::model::calibrate::{check_memory_fits, KvGeometry};
use crate::model::calibrate::{fit_op, gpubench_base, FitForm, OpBase, Point};
use crate::model::{DeviceShare, ModelSpec, ServiceKind};
use crate::validate::measured::Table;
use std::path::Path;

pub(super) fn kind_of(s: &str) -> Result<ServiceKind> {
    match s {
        "asr" => Ok(ServiceKind::Asr),
        "tts" => Ok(ServiceKind::Tts),
        "llm" => Ok(ServiceKind::Llm),
        "encoder" => Ok(ServiceKind::Encoder),
        o => Err(Error::input(
            "--kind",
            "",
            format!("must be 'asr', 'tts', 'llm' or 'encoder', got '{o}'"),
        )),
    }
}

/// Where a calibration's padding buckets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Buckets {
    /// The distinct batch and size values of the profile (each op's own), unless
    /// `--batch-buckets` / `--size-buckets` give them.
    #[default]
    Measured,
    /// The servers of `traces/bench/gpubench.py` as measured in traces/h100 (Parakeet's 5/10/20/30 s,
    /// ...): what reproduces `models/h100/*.json`.
    Gpubench,
}

/// What `calibrate` is told about the model beyond its measurements.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Padding buckets' origin.
    pub buckets: Buckets,
    /// `--batch-buckets`: (op or all, buckets).
    pub batch_buckets: Vec<(Option<String>, Vec<u32>)>,
    /// `--size-buckets`: (op or all, buckets).
    pub size_buckets: Vec<(Option<String>, Vec<f64>)>,
    /// GPU the measurements were taken on (catalog key), if given.
    pub gpu: Option<String>,
    /// Device memory of one server [GiB].
    pub memory_gib: Option<f64>,
    /// The model's architecture (`--arch`, `--arch-file`) and where it came from.
    pub arch: Option<(Arch, String)>,
    /// `--layers --kv-heads --head-dim`.
    pub kv: Option<KvGeometry>,
}

impl Options {
    /// The KV geometry: of the architecture, or the flags.
    pub fn kv_geometry(&self) -> Option<KvGeometry> {
        self.kv.or_else(|| self.arch.as_ref().map(|(a, _)| KvGeometry::of(a)))
    }
}

/// The raw flags `calibrate` turns into [`Options`].
#[derive(Debug, Clone)]
pub struct Flags<'a> {
    /// `--buckets`.
    pub buckets: &'a str,
    /// `--batch-buckets`.
    pub batch_buckets: &'a [String],
    /// `--size-buckets`.
    pub size_buckets: &'a [String],
    /// `--arch`.
    pub arch: Option<&'a str>,
    /// `--arch-file`.
    pub arch_file: Option<&'a str>,
    /// `--layers`, `--kv-heads`, `--head-dim`.
    pub kv: (Option<u32>, Option<u32>, Option<u32>),
    /// `--gpu`.
    pub gpu: Option<String>,
    /// `--memory-gib`.
    pub memory_gib: Option<f64>,
}

/// Check and gather the flags.
pub fn options(f: Flags<'_>) -> Result<Options> {
    let buckets = parse_buckets_mode(f.buckets)?;
    let mut batch_buckets = Vec::new();
    for s in f.batch_buckets {
        let (op, v) = parse_bucket_list("--batch-buckets", s, true)?;
        batch_buckets.push((op, v.into_iter().map(|x| x as u32).collect()));
    }
    let size_buckets = f
        .size_buckets
        .iter()
        .map(|s| parse_bucket_list("--size-buckets", s, false))
        .collect::<Result<Vec<_>>>()?;
    let arch = match (f.arch, f.arch_file) {
        (Some(_), Some(_)) => return Err(Error::input("--arch", "", "give --arch or --arch-file, not both")),
        (Some(a), None) => Some((parse_arch(a, "--arch")?, "--arch".to_string())),
        (None, Some(p)) => {
            let text = crate::scenario::files::read_text(Path::new(p), crate::scenario::files::MAX_TEXT_BYTES, "an architecture")?;
            Some((parse_arch(&text, p)?, p.to_string()))
        }
        (None, None) => None,
    };
    let kv = match f.kv {
        (None, None, None) => None,
        (Some(layers), Some(kv_heads), Some(head_dim)) => {
            if arch.is_some() {
                return Err(Error::input(
                    "--layers",
                    "",
                    "give the KV geometry by --arch/--arch-file or by --layers/--kv-heads/--head-dim, not both",
                ));
            }
            use crate::limits::*;
            LAYERS.count("--layers", "", layers)?;
            LAYERS.count("--kv-heads", "", kv_heads)?;
            HEAD_DIM.count("--head-dim", "", head_dim)?;
            Some(KvGeometry {
                layers,
                kv_heads,
                head_dim,
                kv_bytes_per_element: 2,
            })
        }
        _ => return Err(Error::input("--layers", "", "--layers, --kv-heads and --head-dim go together")),
    };
    if let Some(m) = f.memory_gib {
        if !(m.is_finite() && m > 0.0) {
            return Err(Error::input("--memory-gib", "", format!("must be a positive number, got '{m}'")));
        }
    }
    Ok(Options {
        buckets,
        batch_buckets,
        size_buckets,
        gpu: f.gpu,
        memory_gib: f.memory_gib,
        arch,
        kv,
    })
}

/// Parse `--buckets`.
pub fn parse_buckets_mode(s: &str) -> Result<Buckets> {
    match s {
        "measured" => Ok(Buckets::Measured),
        "gpubench" => Ok(Buckets::Gpubench),
        o => Err(Error::input(
            "--buckets",
            "",
            format!("must be 'measured' or 'gpubench', got '{o}'"),
        )),
    }
}

/// Parse one `--batch-buckets` / `--size-buckets` value: `[OP=]v1,v2,...`, positive and strictly
/// ascending (batch buckets: whole numbers up to 65536).
pub fn parse_bucket_list(flag: &str, s: &str, whole: bool) -> Result<(Option<String>, Vec<f64>)> {
    let (op, list) = match s.split_once('=') {
        Some((o, l)) => (Some(o.trim().to_string()), l),
        None => (None, s),
    };
    let bad = |m: String| Error::input(flag, "", format!("'{s}': {m}"));
    let mut v = Vec::new();
    for x in list.split(',') {
        let x = x.trim();
        let n: f64 = x.parse().map_err(|_| bad(format!("'{x}' is not a number")))?;
        if !(n.is_finite() && n > 0.0) || (whole && (n.fract() != 0.0 || n > 65536.0)) || n > crate::scenario::files::MAX_TRACE_SIZE {
            let what = if whole {
                "a whole number from 1 to 65536"
            } else {
                "a positive number"
            };
            return Err(bad(format!("'{x}' must be {what}")));
        }
        if v.last().is_some_and(|&l| n <= l) {
            return Err(bad(format!("'{x}' must be larger than the bucket before it")));
        }
        v.push(n);
    }
    Ok((op, v))
}

/// Parse an architecture: `--arch` inline (JSON, or a TOML inline table as a scenario's `arch`)
/// or `--arch-file` (JSON or TOML, the `arch` fields at the top level or under `arch`).
pub fn parse_arch(text: &str, origin: &str) -> Result<Arch> {
    #[derive(serde::Deserialize)]
    struct Wrapped {
        arch: Arch,
    }
    let t = text.trim();
    let arch: Arch = if t.starts_with('{') && serde_json::from_str::<serde_json::Value>(t).is_ok() {
        serde_json::from_str::<Wrapped>(t)
            .map(|w| w.arch)
            .or_else(|_| serde_json::from_str::<Arch>(t))
            .map_err(|e| Error::input(origin, "arch", format!("{e}")))?
    } else if t.starts_with('{') {
        toml::from_str::<Wrapped>(&format!("arch = {t}"))
            .map(|w| w.arch)
            .map_err(|e| Error::input(origin, "arch", e.message().to_string()))?
    } else {
        toml::from_str::<Wrapped>(t)
            .map(|w| w.arch)
            .or_else(|_| toml::from_str::<Arch>(t))
            .map_err(|e| Error::input(origin, "arch", e.message().to_string()))?
    };
    arch.check(origin, "arch")?;
    Ok(arch)
}

/// The catalog GPU the measurements were taken on: `--gpu`, else the `gpu.csv` beside the
/// profile (gpubench writes one), else none (the caller assumes the H100 and says so).
fn measured_gpu(opts: &Options, profile: Option<&str>) -> Result<Option<(String, GpuSpec, Option<String>)>> {
    let cat = Catalog::builtin();
    if let Some(k) = &opts.gpu {
        let g = cat
            .gpu(k)
            .ok_or_else(|| Error::input("--gpu", "", format!("unknown GPU '{k}' (known: {})", cat.names())))?;
        return Ok(Some((k.clone(), g.clone(), None)));
    }
    let Some(p) = profile else { return Ok(None) };
    let csv = Path::new(p).parent().map(|d| d.join("gpu.csv"));
    let Some(csv) = csv.filter(|c| c.exists()) else { return Ok(None) };
    let f = csv.display().to_string();
    let t = Table::read(&f)?;
    t.require(&["name"])?;
    let name = if t.is_empty() { "" } else { t.text(0, "name") };
    let key = crate::validate::gpu_key(name).ok_or_else(|| Error::input(&f, "name", format!("unknown GPU '{name}' (pass --gpu)")))?;
    let g = cat
        .gpu(key)
        .ok_or_else(|| Error::input(&f, "name", format!("GPU '{name}' is not in the catalog")))?;
    let driver = if t.has("driver_version") && !t.is_empty() {
        Some(t.text(0, "driver_version").to_string())
    } else {
        None
    };
    Ok(Some((key.to_string(), g.clone(), driver)))
}

/// Set the buckets of each op: the user's (`--batch-buckets`, `--size-buckets`), else the
/// distinct values the profile measured for that op (`Measured`), else gpubench's.
fn choose_buckets(bases: &mut [OpBase], kind: ServiceKind, prof: Option<&Table>, opts: &Options) -> Result<()> {
    let names: Vec<&str> = bases.iter().map(|b| b.name).collect();
    for (flag, ops) in [
        (
            "--batch-buckets",
            opts.batch_buckets.iter().map(|x| x.0.clone()).collect::<Vec<_>>(),
        ),
        ("--size-buckets", opts.size_buckets.iter().map(|x| x.0.clone()).collect()),
    ] {
        if let Some(o) = ops.iter().flatten().find(|o| !names.contains(&o.as_str())) {
            return Err(Error::input(
                flag,
                "",
                format!("unknown op '{o}' for --kind {} (ops: {})", kind.label(), names.join(", ")),
            ));
        }
    }
    let pick = |v: &[(Option<String>, Vec<f64>)], op: &str| -> Option<Vec<f64>> {
        v.iter()
            .rev()
            .find(|x| x.0.as_deref() == Some(op))
            .or_else(|| v.iter().rev().find(|x| x.0.is_none()))
            .map(|x| x.1.clone())
    };
    let bb_flags: Vec<(Option<String>, Vec<f64>)> = opts
        .batch_buckets
        .iter()
        .map(|(o, v)| (o.clone(), v.iter().map(|&b| f64::from(b)).collect()))
        .collect();
    for base in bases.iter_mut() {
        // A prefill runs one prompt per call: its batch axis stays [1].
        let batch_fixed = kind == ServiceKind::Llm && base.name == "prefill";
        let measured = match (opts.buckets, prof) {
            (Buckets::Measured, Some(t)) => {
                let pts = points_from(t, kind, base.name, true)?;
                let distinct = |f: fn(&Point) -> f64| {
                    let mut v: Vec<f64> = pts.iter().map(f).collect();
                    v.sort_by(f64::total_cmp);
                    v.dedup();
                    v
                };
                Some((distinct(|p| p.batch), distinct(|p| p.size)))
            }
            _ => None,
        };
        if let Some(b) = pick(&bb_flags, base.name).filter(|_| !batch_fixed) {
            base.batch_buckets = b.iter().map(|&x| x as u32).collect();
        } else if let Some((b, _)) = measured.as_ref().filter(|m| !m.0.is_empty() && !batch_fixed) {
            base.batch_buckets = b.iter().map(|&x| x.round().max(1.0) as u32).collect();
            base.batch_buckets.dedup();
        } else if opts.buckets == Buckets::Measured && prof.is_none() && !batch_fixed && !base.optional {
            return Err(Error::input(
                "--batch-buckets",
                "",
                format!(
                    "op {}: without --profile the server's batch buckets must be given (or --buckets gpubench)",
                    base.name
                ),
            ));
        }
        let given = pick(&opts.size_buckets, base.name);
        match base.form {
            FitForm::Cells => {
                if let Some(s) = given {
                    base.size_buckets = s;
                } else if let Some((_, s)) = measured.as_ref().filter(|m| !m.1.is_empty()) {
                    base.size_buckets = s.clone();
                } else if opts.buckets == Buckets::Measured && prof.is_none() && !base.optional {
                    return Err(Error::input(
                        "--size-buckets",
                        "",
                        format!(
                            "op {}: without --profile the server's size buckets must be given (or --buckets gpubench)",
                            base.name
                        ),
                    ));
                }
            }
            // Latency linear in size: the table's size axis spans what was measured (or the
            // given points); no padding.
            FitForm::LinearInSize => {
                if let Some(s) = given {
                    base.size_axis = if s.len() == 1 { vec![s[0], s[0] * 2.0] } else { s };
                } else if let Some((_, s)) = measured.as_ref().filter(|m| m.1.len() >= 2) {
                    base.size_axis = vec![s[0], s[s.len() - 1]];
                }
            }
        }
    }
    Ok(())
}

/// Points of one op from a profile or batches table. Every value is checked where it is
/// written (file, line, column, the cell as written): batches whole, sizes and latencies in the
/// bounds a model table must respect, so that nothing is refused later on a fitted number; a
/// table holds one model's rows.
fn points_from(t: &Table, kind: ServiceKind, op: &str, from_profile: bool) -> Result<Vec<Point>> {
    use crate::limits::{CALL_MS, MEASURED_SIZE};
    t.one_value("model")?;
    let mut pts = Vec::new();
    let lat = |i: usize| -> Result<f64> {
        if from_profile {
            t.bounded(i, "latency_ms", CALL_MS)
        } else {
            let (start, end) = (t.num(i, "start_s")?, t.num(i, "end_s")?);
            let d = (end - start) * 1e3;
            if CALL_MS.contains(d) {
                Ok(d)
            } else {
                Err(Error::input(
                    &t.path,
                    format!("line {} column 'end_s'", i + 2),
                    format!(
                        "'{}' after start_s '{}' is a call of {} ms; it {}",
                        t.text(i, "end_s"),
                        t.text(i, "start_s"),
                        crate::error::num(d),
                        CALL_MS.describe()
                    ),
                ))
            }
        }
    };
    let req = |cols: &[&str]| -> Result<()> {
        let mut c: Vec<&str> = cols.to_vec();
        c.push(if from_profile { "latency_ms" } else { "end_s" });
        if !from_profile {
            c.push("start_s");
        }
        t.require(&c)
    };
    let size = |i: usize, col: &str| t.bounded(i, col, MEASURED_SIZE);
    match kind {
        ServiceKind::Asr | ServiceKind::Encoder => {
            // An encoder's size: `tokens` (text), or `size` in its declared unit (archbench.py).
            let size_col = if kind == ServiceKind::Asr {
                "audio_s"
            } else if !t.has("tokens") && t.has("size") {
                "size"
            } else {
                "tokens"
            };
            req(&["batch", size_col])?;
            for i in 0..t.len() {
                // Profiles name the op (encode, or encode_chunk for streaming chunks); serving
                // logs of an offline server are all encode calls.
                let row_op = if t.has("op") { t.text(i, "op") } else { "encode" };
                if !["encode", "encode_chunk"].contains(&row_op) {
                    return Err(Error::input(
                        &t.path,
                        format!("line {} column 'op'", i + 2),
                        format!("unknown op '{row_op}' (encode, encode_chunk)"),
                    ));
                }
                if row_op != op {
                    continue;
                }
                pts.push(Point {
                    batch: t.batch(i, "batch")?,
                    size: size(i, size_col)?,
                    latency_ms: lat(i)?,
                });
            }
        }
        ServiceKind::Tts => {
            req(&["batch", "frames"])?;
            for i in 0..t.len() {
                pts.push(Point {
                    batch: t.batch(i, "batch")?,
                    size: size(i, "frames")?,
                    latency_ms: lat(i)?,
                });
            }
        }
        ServiceKind::Llm => {
            req(&["op", "batch"])?;
            for i in 0..t.len() {
                let o = t.text(i, "op");
                let is_prefill = o == "prefill";
                let is_decode = o == "decode" || o == "decode_step";
                if !is_prefill && !is_decode {
                    return Err(Error::input(
                        &t.path,
                        format!("line {} column 'op'", i + 2),
                        format!("unknown op '{o}' (prefill, decode, decode_step)"),
                    ));
                }
                if (op == "prefill") != is_prefill {
                    continue;
                }
                let p = if is_prefill {
                    t.require(&["tokens"])?;
                    Point {
                        batch: 1.0,
                        size: size(i, "tokens")?,
                        latency_ms: lat(i)?,
                    }
                } else {
                    t.require(&["context"])?;
                    // The attended context is the longest sequence plus the new token.
                    Point {
                        batch: t.batch(i, "batch")?,
                        size: size(i, "context")? + 1.0,
                        latency_ms: lat(i)?,
                    }
                };
                pts.push(p);
            }
        }
    }
    Ok(pts)
}

/// Measurements of the profile shapes on other device shares: each DIR holds `gpu.csv` (or its
/// parent does) and subfolders `full` (the whole GPU) and `sms<N>` (N SMs, a CUDA green
/// context), each with `profile_<kind>.csv` in gpubench's layout (traces/h200/sms).
pub fn scaling_points(dirs: &[String], kind: ServiceKind, bases: &[OpBase]) -> Result<Vec<ScalingPoint>> {
    let mut out = Vec::new();
    for d in dirs {
        let dir = Path::new(d);
        let gpu_csv = [dir.join("gpu.csv"), dir.join("../gpu.csv")]
            .into_iter()
            .find(|p| p.exists())
            .ok_or_else(|| Error::input(d, "gpu.csv", "no gpu.csv in the folder or its parent"))?;
        let gf = gpu_csv.display().to_string();
        let g = Table::read(&gf)?;
        g.require(&["name"])?;
        let name = if g.is_empty() { "" } else { g.text(0, "name") };
        let gpu: GpuSpec = crate::validate::gpu_key(name)
            .and_then(|k| Catalog::builtin().gpu(k))
            .cloned()
            .ok_or_else(|| Error::input(&gf, "name", format!("unknown GPU '{name}'")))?;
        let mut subs: Vec<(f64, std::path::PathBuf)> = Vec::new();
        for e in std::fs::read_dir(dir).map_err(|e| Error::io(d, e))? {
            let e = e.map_err(|e| Error::io(d, e))?;
            let n = e.file_name().to_string_lossy().to_string();
            let sms = if n == "full" {
                Some(gpu.sm_count as f64)
            } else {
                n.strip_prefix("sms").and_then(|x| x.parse::<f64>().ok())
            };
            if let Some(sms) = sms {
                if !(sms >= 1.0 && sms <= gpu.sm_count as f64) {
                    return Err(Error::input(
                        d,
                        n,
                        format!("{sms} SMs is not between 1 and the {} of {}", gpu.sm_count, gpu.name),
                    ));
                }
                subs.push((sms, e.path()));
            }
        }
        subs.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (sms, sub) in subs {
            let f = sub.join(format!("profile_{}.csv", kind.label()));
            if !f.exists() {
                continue;
            }
            let t = Table::read(&f.display().to_string())?;
            let share = DeviceShare::of(&gpu, sms / gpu.sm_count as f64, 1.0);
            let device = if sms == gpu.sm_count as f64 {
                gpu.name.clone()
            } else {
                format!("{} {sms} SMs", gpu.name)
            };
            for base in bases {
                for p in points_from(&t, kind, base.name, true)? {
                    let (batch, size) = base.pad(p.batch, p.size);
                    out.push(ScalingPoint {
                        op: base.name.to_string(),
                        batch,
                        size,
                        share,
                        device: device.clone(),
                        latency_ms: p.latency_ms,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Fit a model from files: tables from the reference GPU's profile and serving logs, and the
/// device scaling model from the same shapes measured on other device shares (`scaling`
/// folders; without them the split of each cell into fixed, compute and memory parts comes from
/// the architecture when `--arch` gives one, else from the built-in model of the same kind).
/// Buckets, memory, KV geometry and the GPU come from `opts` (see [`Options`]); every
/// extrapolated table cell is returned as a warning line (printed once the fit succeeded).
pub fn calibrate_files(
    kind: &str,
    profile: Option<&str>,
    batches: &[String],
    scaling_dirs: &[String],
    opts: &Options,
) -> Result<(ModelSpec, Vec<String>)> {
    let kind = kind_of(kind)?;
    let mut warnings = Vec::new();
    let (mut spec, mut bases) = gpubench_base(kind);
    if profile.is_none() && batches.is_empty() {
        return Err(Error::input("calibrate", "", "needs --profile and/or --batches"));
    }
    let measured_on = measured_gpu(opts, profile)?;
    if let Some((key, _, _)) = &measured_on {
        spec.reference_gpu = key.clone();
    } else if opts.buckets == Buckets::Measured {
        warnings.push("calibrate: warning: no --gpu and no gpu.csv beside the profile: assuming it was measured on an h100-80gb".to_string());
    }
    let reference = Catalog::builtin()
        .gpu(&spec.reference_gpu)
        .cloned()
        .ok_or_else(|| Error::Infeasible("reference GPU missing from catalog".into()))?;
    let prof = profile.map(Table::read).transpose()?;
    let logs: Vec<Table> = batches.iter().map(|b| Table::read(b)).collect::<Result<_>>()?;
    choose_buckets(&mut bases, kind, prof.as_ref(), opts)?;
    let bases = bases;
    let mut diags = serde_json::Map::new();
    let mut extrapolated: Vec<(String, crate::model::calibrate::ExtrapolatedCell)> = Vec::new();
    let file = profile.map(str::to_string).unwrap_or_else(|| batches.join(","));
    for base in &bases {
        let mut pts = Vec::new();
        if let Some(p) = &prof {
            pts.extend(points_from(p, kind, base.name, true)?);
        }
        for l in &logs {
            pts.extend(points_from(l, kind, base.name, false)?);
        }
        if pts.is_empty() && base.optional {
            continue; // measured only on other device shares (or not at all)
        }
        let (table, d) = fit_op(base, &pts).map_err(|m| Error::input(&file, format!("op {}", base.name), m))?;
        extrapolated.extend(d.extrapolated_cells.iter().map(|c| (base.name.to_string(), c.clone())));
        spec.ops.insert(base.name.to_string(), table);
        diags.insert(base.name.to_string(), serde_json::to_value(&d).unwrap_or_default());
    }
    for (op, c) in &extrapolated {
        warnings.push(format!(
            "calibrate: warning: {file}: op {op} cell (batch {}, size {}) is extrapolated: no measurement there, beyond the {}",
            c.batch, c.size, c.beyond
        ));
    }
    let scaling_diag = if scaling_dirs.is_empty() {
        // An encoder's memory system behaves like the measured ASR encoder's.
        let like = if kind == ServiceKind::Encoder { "asr" } else { kind.label() };
        let builtin =
            crate::model::builtin(&format!("h100/{like}")).ok_or_else(|| Error::Infeasible("no built-in model of this kind".into()))??;
        spec.scaling = builtin.scaling;
        if let Some((arch, origin)) = &opts.arch {
            // Each cell's fixed / compute / memory split as the architecture's work predicts it.
            for (name, t) in spec.ops.iter_mut() {
                let family = match name.as_str() {
                    "prefill" => crate::model::arch::Family::Prefill,
                    "decode" => crate::model::arch::Family::Decode,
                    "synthesize" => crate::model::arch::Family::Synthesize,
                    _ => crate::model::arch::Family::Encode,
                };
                let grid = crate::model::arch::Grid {
                    batch: t.batch.clone(),
                    size: t.size.clone(),
                    size_buckets: Vec::new(),
                };
                let derived = crate::model::arch::table(family, arch, &grid, &reference).map_err(|e| e.in_file(origin))?;
                t.split_like(&derived);
            }
            serde_json::json!({ "from": format!("architecture ({origin}); device constants of built-in h100/{like} (no --scaling data)") })
        } else {
            for (name, t) in spec.ops.iter_mut() {
                t.split_like(builtin.op(name));
            }
            serde_json::json!({ "from": format!("built-in h100/{like} (no --scaling data)") })
        }
    } else {
        let mut pts = scaling_points(scaling_dirs, kind, &bases)?;
        // The reference GPU's own point of every cell measured elsewhere: the table's value.
        let mut cells: Vec<(String, f64, f64)> = pts.iter().map(|p| (p.op.clone(), p.batch, p.size)).collect();
        cells.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.total_cmp(&b.2)));
        cells.dedup();
        for (op, b, s) in cells {
            if let Some(t) = spec.ops.get(&op) {
                pts.push(ScalingPoint {
                    op,
                    batch: b,
                    size: s,
                    share: DeviceShare::whole(&reference),
                    device: reference.name.clone(),
                    latency_ms: t.grid_ms(b, s).0,
                });
            }
        }
        let sfile = scaling_dirs.join(",");
        let (fitted, parts, d) = scaling::fit(&pts, &reference).map_err(|m| Error::input(&sfile, "", m))?;
        spec.scaling = fitted;
        for base in &bases {
            if !spec.ops.contains_key(base.name) {
                // Measured only on other shares: its reference table is the model's prediction there.
                let ref_pts: Vec<Point> = scaling::reference_cells(base.name, &parts)
                    .into_iter()
                    .map(|(batch, size, latency_ms)| Point { batch, size, latency_ms })
                    .collect();
                if ref_pts.len() < 2 {
                    continue;
                }
                let (table, dd) = fit_op(base, &ref_pts).map_err(|m| Error::input(&sfile, format!("op {}", base.name), m))?;
                spec.ops.insert(base.name.to_string(), table);
                diags.insert(base.name.to_string(), serde_json::to_value(&dd).unwrap_or_default());
            }
            if let Some(t) = spec.ops.get_mut(base.name) {
                scaling::apply_fractions(base.name, t, &parts).map_err(|m| Error::input(&sfile, "", m))?;
            }
        }
        serde_json::json!({ "sources": scaling_dirs, "fit": d })
    };
    // Host overheads from the serving logs: gaps between back-to-back calls (< 1 ms) and the delay
    // from arrival to first call for requests that found the server idle (< 1 ms).
    let (mut gaps, mut disp) = (Vec::new(), Vec::new());
    for (b, l) in batches.iter().zip(&logs) {
        for i in 1..l.len() {
            let g = (l.num(i, "start_s")? - l.num(i - 1, "end_s")?) * 1e3;
            if (0.0..1.0).contains(&g) {
                gaps.push(g);
            }
        }
        let dir = std::path::Path::new(b).parent().map(|p| p.to_path_buf()).unwrap_or_default();
        let rq = dir.join(format!("{}.requests.csv", spec.name));
        if rq.exists() {
            let r = Table::read(&rq.display().to_string())?;
            r.require(&["arrival_s", "start_s"])?;
            for i in 0..r.len() {
                let d = (r.num(i, "start_s")? - r.num(i, "arrival_s")?) * 1e3;
                if (0.0..1.0).contains(&d) {
                    disp.push(d);
                }
            }
        }
    }
    let frames_diag = match (kind, spec.frames_per_char, spec.frames_range) {
        (ServiceKind::Tts, Some(fpc), Some(default)) => {
            let mut calls = Vec::new();
            for l in logs.iter().filter(|l| l.has("chars")) {
                for i in 0..l.len() {
                    calls.push((l.nonneg(i, "chars", true)?, l.nonneg(i, "frames", true)?));
                }
            }
            let range =
                crate::model::calibrate::frame_clamp(&calls, fpc, default).map_err(|m| Error::input(batches.join(","), "frames", m))?;
            spec.frames_range = Some(range);
            serde_json::json!({ "calls": calls.len(), "range": range })
        }
        _ => serde_json::Value::Null,
    };
    // Set-up of the first call at each batch the server had not warmed, and the spread of the
    // others around the table (ASR/TTS: one op).
    let (mut first_calls, mut residuals) = (Vec::new(), Vec::new());
    if kind != ServiceKind::Llm {
        let base = &bases[0];
        if let Some(table) = spec.ops.get(base.name) {
            for l in &logs {
                let calls = points_from(l, kind, base.name, false)?;
                let (f, r) = crate::model::calibrate::log_residuals(&calls, table, &spec.warm_batches);
                first_calls.extend(f);
                residuals.extend(r);
            }
        }
    }
    spec.cold_call_ms = (median_sample(&mut first_calls.clone()).unwrap_or(0.0).max(0.0) * 10.0).round() / 10.0;
    if !residuals.is_empty() {
        spec.call_noise = (crate::model::calibrate::robust_sigma(&residuals) * 1e4).round() / 1e4;
    }
    spec.call_gap_ms = (median_sample(&mut gaps).unwrap_or(0.0) * 1e4).round() / 1e4;
    spec.dispatch_ms = (median_sample(&mut disp).unwrap_or(spec.call_gap_ms) * 1e4).round() / 1e4;
    spec.calibration = serde_json::json!({
        "form": match kind {
            ServiceKind::Tts => "per batch bucket, latency linear in frames (robust least squares)",
            _ => "median latency per padded (batch, size) cell, gaps interpolated in log2(batch)",
        },
        "sources": { "profile": profile, "batches": batches },
        "provenance": provenance(opts, profile, batches, &reference, measured_on.as_ref().and_then(|m| m.2.clone())),
        "host_overhead": { "call_gap_ms": spec.call_gap_ms, "dispatch_ms": spec.dispatch_ms },
        "ops": diags,
        "scaling": scaling_diag,
    });
    if kind != ServiceKind::Llm {
        spec.calibration["first_calls"] = serde_json::json!({
            "warm_batches": spec.warm_batches,
            "excess_ms": first_calls.iter().map(|x| (x * 10.0).round() / 10.0 + 0.0).collect::<Vec<_>>(),
            "cold_call_ms": spec.cold_call_ms,
            "other_calls": residuals.len(),
            "call_noise": spec.call_noise,
        });
    }
    if !frames_diag.is_null() {
        spec.calibration["frames_range"] = frames_diag;
    }
    // The shipped models (--buckets gpubench) keep their files as they were.
    if opts.buckets == Buckets::Measured && !extrapolated.is_empty() {
        spec.calibration["extrapolated_cells"] = extrapolated
            .iter()
            .map(|(op, c)| serde_json::json!({ "op": op, "batch": c.batch, "size": c.size, "beyond": c.beyond }))
            .collect();
    }
    if let Some(m) = size_model(&mut spec, kind, opts, &reference, &mut warnings)? {
        spec.calibration["memory"] = m;
    }
    // Every input value was checked where it is written; what remains is the fitted model's
    // own consistency, named as the output of these files.
    spec.validate(&format!("{file} (the fitted model)"))?;
    Ok((spec, warnings))
}

/// Where a calibration came from. `--buckets gpubench` on the H100 reproduces the shipped
/// models, whose profiles were taken by traces/h100/gpubench.py on the recorded machine.
fn provenance(opts: &Options, profile: Option<&str>, batches: &[String], gpu: &GpuSpec, driver: Option<String>) -> serde_json::Value {
    if opts.buckets == Buckets::Gpubench && gpu.name == "h100-80gb" && opts.gpu.is_none() && opts.arch.is_none() {
        return serde_json::json!({
            "gpu": "NVIDIA H100 80GB HBM3 (SXM, 132 SMs)",
            "driver": "580.159.04",
            "framework": "PyTorch 2.11 + CUDA 13.0, bf16, CUDA graphs (traces/h100/gpubench.py)",
            "date": "2026-11-25"
        });
    }
    let name = |p: &str| {
        Path::new(p)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.to_string())
    };
    let mut v = serde_json::json!({
        "source": "measured",
        "gpu": gpu.display,
        "reference_gpu": gpu.name,
        "gpu_from": if opts.gpu.is_some() { "--gpu" } else if driver.is_some() { "gpu.csv beside the profile" } else { "assumed (no --gpu, no gpu.csv)" },
        "profile": profile.map(name),
        "batches": batches.iter().map(|b| name(b)).collect::<Vec<_>>(),
        "buckets": match opts.buckets { Buckets::Measured => "measured (or given)", Buckets::Gpubench => "gpubench servers" },
    });
    if let Some(d) = driver {
        v["driver"] = serde_json::json!(d);
    }
    if let Some((a, origin)) = &opts.arch {
        v["arch"] = serde_json::json!({ "from": origin, "layers": a.layers, "hidden": a.hidden });
    }
    v
}

/// Memory, KV geometry and architecture from the options: `--memory-gib` (refused beyond the
/// GPU's memory), the architecture's weights and KV bytes, or `--layers --kv-heads --head-dim`.
/// Returns what the calibration's `memory` diagnostic states (None: the gpubench shape's, kept
/// as it was).
fn size_model(spec: &mut ModelSpec, kind: ServiceKind, opts: &Options, gpu: &GpuSpec, warnings: &mut Vec<String>) -> Result<Option<serde_json::Value>> {
    let gib = f64::from(1u32 << 30);
    if let Some(g) = opts.kv_geometry() {
        if let Some(l) = spec.llm.as_mut() {
            g.apply(l);
        }
    }
    if let Some((a, _)) = &opts.arch {
        spec.arch = Some(a.clone());
    } else if opts.buckets == Buckets::Measured {
        // Not the gpubench shape: what tensor parallelism would split is unknown.
        spec.arch = None;
    }
    let weights = opts.arch.as_ref().map(|(a, _)| a.weight_bytes(kind) / gib);
    if let (Some(w), Some((_, origin))) = (weights, &opts.arch) {
        if w > gpu.memory_gib {
            return Err(Error::input(
                origin,
                "arch",
                format!("weights of {w:.1} GiB do not fit the {} GiB of the {}", gpu.memory_gib, gpu.display),
            ));
        }
    }
    let (from, w, runtime) = match (opts.memory_gib, weights) {
        (Some(m), w) => {
            check_memory_fits(m, "--memory-gib", &m.to_string(), gpu)?;
            let w = w.unwrap_or(0.0);
            if w > m {
                return Err(Error::input(
                    "--memory-gib",
                    "",
                    format!("'{m}' GiB is less than the architecture's {w:.1} GiB of weights"),
                ));
            }
            ("--memory-gib", w, m - w)
        }
        (None, Some(w)) => {
            // Besides the weights: an LLM's KV cache for every slot at full context, and the
            // measured servers' 1 GiB of CUDA context, graphs and activations.
            let kv = spec.llm.as_ref().map_or(0.0, |l| {
                l.kv_bytes_per_token() * f64::from(l.max_seqs) * f64::from(l.max_context_tokens) / gib
            });
            let reserve = spec.llm.as_ref().map_or(1.0, |l| l.activation_reserve_gib);
            if w + kv + reserve > gpu.memory_gib {
                return Err(Error::input(
                    "--arch",
                    "",
                    format!(
                        "weights {w:.1} GiB + KV cache {kv:.1} GiB + {reserve} GiB do not fit the {} GiB of the {}",
                        gpu.memory_gib, gpu.display
                    ),
                ));
            }
            ("architecture", w, kv + reserve)
        }
        (None, None) => {
            if opts.buckets == Buckets::Measured {
                warnings.push(format!(
                    "calibrate: warning: no --memory-gib or --arch: memory is the gpubench {} shape's ({:.1} GiB)",
                    kind.label(),
                    spec.memory.total_gib()
                ));
                return Ok(Some(
                    serde_json::json!({ "from": format!("gpubench {} shape (no --memory-gib or --arch)", kind.label()) }),
                ));
            }
            return Ok(None);
        }
    };
    let r4 = |x: f64| (x * 1e4).round() / 1e4;
    spec.memory.weights_gib = r4(w);
    spec.memory.runtime_gib = r4(runtime);
    spec.memory_override = false;
    Ok(Some(serde_json::json!({
        "from": from,
        "weights_gib": spec.memory.weights_gib,
        "runtime_gib": spec.memory.runtime_gib,
        "kv_geometry": opts.kv_geometry().map(|g| serde_json::json!({ "layers": g.layers, "kv_heads": g.kv_heads, "head_dim": g.head_dim, "bytes": g.kv_bytes_per_element })),
    })))
}
