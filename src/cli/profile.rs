//! `gpuslice profile`: a model's batch-latency grid predicted on a GPU, MIG slice or SM count
//! (gpubench's profile layout), or compared cell by cell with a measured profile. Apart from the
//! dispatch because it resolves a device share, reads a measured table and prints three formats
//! of two reports, in steps of its own.

use super::catalog::load_model_arg;
use super::ProfileFormat;
use crate::error::{Error, Result};
use crate::gpu::{Catalog, GpuSpec};
use crate::model::profile::{self, CellError, OpSummary, ProfileRow};
use crate::model::{DeviceShare, ModelSpec, ServiceKind};

/// Text of `gpuslice profile`.
pub fn profile_text(
    model: &str,
    gpu: &str,
    mig: Option<&str>,
    sms: Option<u32>,
    format: ProfileFormat,
    compare: Option<&str>,
) -> Result<String> {
    let m = load_model_arg(model)?;
    let cat = Catalog::builtin();
    let g = cat
        .gpu(gpu)
        .ok_or_else(|| Error::input("--gpu", "", format!("unknown GPU '{gpu}' (known: {})", cat.names())))?;
    let reference = cat
        .gpu(&m.reference_gpu)
        .ok_or_else(|| Error::input(model, "reference_gpu", format!("unknown GPU '{}'", m.reference_gpu)))?;
    let (share, device) = device_share(g, mig, sms)?;
    let Some(path) = compare else {
        let mut rows = profile::grid(&m);
        profile::predict(&m, reference, &share, &mut rows)?;
        return Ok(predicted_text(model, &device, &m, &rows, format));
    };
    let measured = read_measured_profile(path, &m)?;
    let (cells, ops) = profile::compare(&m, reference, &share, &measured).map_err(|e| e.in_file(path))?;
    Ok(compared_text(model, &device, path, &cells, &ops, format))
}

/// The device share of `--mig` or `--sms` on `g` (else the whole GPU), and its description.
fn device_share(g: &GpuSpec, mig: Option<&str>, sms: Option<u32>) -> Result<(DeviceShare, String)> {
    Ok(match (mig, sms) {
        (Some(p), _) => {
            let prof = crate::gpu::parse_layout(g, p).map_err(|e| Error::input("--mig", "", e.to_string()))?;
            if prof.len() != 1 {
                return Err(Error::input("--mig", "", format!("give one profile, got '{p}'")));
            }
            let pr = prof[0];
            (
                DeviceShare::of(g, pr.sms as f64 / g.sm_count as f64, pr.mem_slices as f64 / 8.0),
                format!("{} MIG {} ({} SMs, {}/8 of the bandwidth)", g.name, pr.name, pr.sms, pr.mem_slices),
            )
        }
        (None, Some(n)) => {
            if n == 0 || n > g.sm_count {
                return Err(Error::input(
                    "--sms",
                    "",
                    format!("must be between 1 and {} for {}, got '{n}'", g.sm_count, g.name),
                ));
            }
            (
                DeviceShare::of(g, n as f64 / g.sm_count as f64, 1.0),
                format!("{} restricted to {n} of {} SMs", g.name, g.sm_count),
            )
        }
        (None, None) => (DeviceShare::whole(g), g.name.clone()),
    })
}

/// The predicted grid in `format`.
fn predicted_text(model: &str, device: &str, m: &ModelSpec, rows: &[ProfileRow], format: ProfileFormat) -> String {
    match format {
        ProfileFormat::Csv => {
            let mut s = format!("{}\n", profile::csv_header(m.kind));
            for r in rows {
                s.push_str(&profile::csv_row(m.kind, r));
                s.push('\n');
            }
            s
        }
        ProfileFormat::Json => crate::out::to_json(&serde_json::json!({ "model": model, "device": device, "cells": rows })),
        ProfileFormat::Table => {
            let mut s = format!(
                "{model} on {device} (predicted from {})\nop            batch      size    latency ms\n",
                m.reference_gpu
            );
            for r in rows {
                s.push_str(&format!("{:<12} {:>6} {:>9} {:>13.3}\n", r.op, r.batch, r.size, r.latency_ms));
            }
            s
        }
    }
}

/// The rows of a measured profile (gpubench's profile CSV) at `path`, sizes in `m`'s unit.
fn read_measured_profile(path: &str, m: &ModelSpec) -> Result<Vec<ProfileRow>> {
    let t = crate::validate::measured::Table::read(path)?;
    t.require(&["op", "batch", "latency_ms"])?;
    let size_col = match m.kind {
        ServiceKind::Asr => "audio_s",
        ServiceKind::Tts => "chars",
        ServiceKind::Llm | ServiceKind::Encoder => "tokens",
    };
    t.one_value("model")?;
    use crate::limits::{CALL_MS, MEASURED_SIZE};
    let mut measured = Vec::new();
    for i in 0..t.len() {
        let op = t.text(i, "op").to_string();
        let size = if m.kind == ServiceKind::Llm && op != "prefill" {
            // An empty context is a decode's first step.
            t.bounded(i, "context", crate::limits::Bound::closed(0.0, MEASURED_SIZE.hi, ""))?
        } else {
            t.bounded(i, size_col, MEASURED_SIZE)?
        };
        let batch = t.batch(i, "batch")?;
        measured.push(ProfileRow {
            frames: if t.has("frames") && m.kind == ServiceKind::Tts {
                Some(t.bounded(i, "frames", MEASURED_SIZE)?)
            } else {
                None
            },
            op,
            batch: batch as u32,
            size,
            latency_ms: t.bounded(i, "latency_ms", CALL_MS)?,
        });
    }
    if measured.is_empty() {
        return Err(Error::input(path, "", "no rows to compare"));
    }
    Ok(measured)
}

/// The comparison with a measured profile in `format`.
fn compared_text(model: &str, device: &str, path: &str, cells: &[CellError], ops: &[OpSummary], format: ProfileFormat) -> String {
    match format {
        ProfileFormat::Json => {
            crate::out::to_json(&serde_json::json!({ "model": model, "device": device, "measured": path, "ops": ops, "cells": cells }))
        }
        ProfileFormat::Csv => {
            let mut s = String::from("op,batch,size,measured_ms,predicted_ms,error_pct\n");
            for c in cells {
                s.push_str(&format!(
                    "{},{},{},{},{},{}\n",
                    c.cell.op, c.cell.batch, c.cell.size, c.cell.latency_ms, c.predicted_ms, c.error_pct
                ));
            }
            s
        }
        ProfileFormat::Table => {
            let mut s = format!("{model} on {device} vs {path}\nop            batch      size   measured ms  predicted ms    error\n");
            for c in cells {
                s.push_str(&format!(
                    "{:<12} {:>6} {:>9} {:>13.3} {:>13.3} {:>+7.1}%\n",
                    c.cell.op, c.cell.batch, c.cell.size, c.cell.latency_ms, c.predicted_ms, c.error_pct
                ));
            }
            for o in ops {
                s.push_str(&format!(
                    "{}: {} cells, median |error| {:.1}%, p90 {:.1}%; worst: {}\n",
                    o.op,
                    o.cells,
                    o.median_abs_error_pct,
                    o.p90_abs_error_pct,
                    o.worst.join(", ")
                ));
            }
            s
        }
    }
}
