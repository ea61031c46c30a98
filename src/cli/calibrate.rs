//! `gpuslice calibrate`: reading profiles, serving logs, SM-restricted profiles and load-generator
//! exports, and handing them to the fitting code of [`crate::model::calibrate`].

use crate::error::{Error, Result};
use crate::gpu::{Catalog, GpuSpec};
use crate::metrics::median_sample;
use crate::model::calibrate::scaling::{self, ScalingPoint};
use crate::model::calibrate::{fit_op, gpubench_base, OpBase, Point};
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
            let size_col = if kind == ServiceKind::Asr { "audio_s" } else { "tokens" };
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

/// Fit a gpubench-shaped model from files: tables from the reference GPU's profile and serving
/// logs, and the device scaling model from the same shapes measured on other device shares
/// (`scaling` folders; without them the fractions of the built-in model of the same kind are
/// used).
pub fn calibrate_files(kind: &str, profile: Option<&str>, batches: &[String], scaling_dirs: &[String]) -> Result<ModelSpec> {
    let kind = kind_of(kind)?;
    let (mut spec, bases) = gpubench_base(kind);
    let reference = Catalog::builtin()
        .gpu(&spec.reference_gpu)
        .cloned()
        .ok_or_else(|| Error::Infeasible("reference GPU missing from catalog".into()))?;
    if profile.is_none() && batches.is_empty() {
        return Err(Error::input("calibrate", "", "needs --profile and/or --batches"));
    }
    let prof = profile.map(Table::read).transpose()?;
    let logs: Vec<Table> = batches.iter().map(|b| Table::read(b)).collect::<Result<_>>()?;
    let mut diags = serde_json::Map::new();
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
        spec.ops.insert(base.name.to_string(), table);
        diags.insert(base.name.to_string(), serde_json::to_value(&d).unwrap_or_default());
    }
    let scaling_diag = if scaling_dirs.is_empty() {
        // An encoder's memory system behaves like the measured ASR encoder's.
        let like = if kind == ServiceKind::Encoder { "asr" } else { kind.label() };
        let builtin =
            crate::model::builtin(&format!("h100/{like}")).ok_or_else(|| Error::Infeasible("no built-in model of this kind".into()))??;
        spec.scaling = builtin.scaling;
        for (name, t) in spec.ops.iter_mut() {
            t.split_like(builtin.op(name));
        }
        serde_json::json!({ "from": format!("built-in h100/{like} (no --scaling data)") })
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
        "provenance": {
            "gpu": "NVIDIA H100 80GB HBM3 (SXM, 132 SMs)",
            "driver": "580.159.04",
            "framework": "PyTorch 2.11 + CUDA 13.0, bf16, CUDA graphs (traces/h100/gpubench.py)",
            "date": "2026-11-25"
        },
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
    // Every input value was checked where it is written; what remains is the fitted model's
    // own consistency, named as the output of these files.
    spec.validate(&format!("{file} (the fitted model)"))?;
    Ok(spec)
}
