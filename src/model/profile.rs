//! `gpuslice profile`: the latency the service model predicts for every cell of a model's
//! batch-latency grid on a device share, in the layout of gpubench's profile CSV, and the
//! comparison with a measured profile. This is how a user checks the device scaling model on
//! their own GPU: profile the shapes there (traces/bench/gpubench.py profile, optionally with
//! `--sms N`), then `gpuslice profile MODEL --gpu G [--sms N] --compare profile.csv`.

use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::metrics::round4;
use crate::model::{DeviceShare, ModelSpec, ServiceKind, Slowdown};
use serde::Serialize;

/// One cell of a profile, as gpubench writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileRow {
    /// `encode`, `encode_chunk`, `synthesize`, `prefill` or `decode_step`.
    pub op: String,
    /// Requests in the call.
    pub batch: u32,
    /// ASR: audio seconds; TTS: characters; prefill: prompt tokens; decode: context tokens.
    pub size: f64,
    /// TTS only: codec frames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<f64>,
    /// Latency [ms].
    pub latency_ms: f64,
}

/// The grid gpubench's `profile` verb measures for a model of this kind (traces/bench/gpubench.py),
/// with the chunk cells when the model has a streaming op.
pub fn grid(m: &ModelSpec) -> Vec<ProfileRow> {
    let row = |op: &str, batch: u32, size: f64, frames: Option<f64>| ProfileRow {
        op: op.into(),
        batch,
        size,
        frames,
        latency_ms: 0.0,
    };
    let mut out = Vec::new();
    match m.kind {
        ServiceKind::Asr => {
            for s in [2.0, 5.0, 10.0, 20.0, 30.0] {
                for b in [1, 2, 4, 8, 16, 32] {
                    out.push(row("encode", b, s, None));
                }
            }
            if m.ops.contains_key("encode_chunk") {
                for s in [0.16, 0.32, 0.64, 1.28] {
                    for b in [1, 2, 4, 8, 16, 32, 64] {
                        out.push(row("encode_chunk", b, s, None));
                    }
                }
            }
        }
        ServiceKind::Encoder => {
            for t in [32.0, 128.0, 512.0] {
                for b in [1, 4, 16, 64] {
                    out.push(row("encode", b, t, None));
                }
            }
        }
        ServiceKind::Tts => {
            for chars in [40.0, 120.0, 300.0] {
                for b in [1, 2, 4, 8, 16] {
                    out.push(row("synthesize", b, chars, Some(m.tts_frames(chars))));
                }
            }
        }
        ServiceKind::Llm => {
            for t in [128.0, 256.0, 512.0, 1024.0, 2048.0] {
                out.push(row("prefill", 1, t, None));
            }
            for c in [256.0, 1024.0, 2048.0] {
                for b in [1, 2, 4, 8, 16, 32] {
                    out.push(row("decode_step", b, c, None));
                }
            }
        }
    }
    out
}

/// The model's op and size for a profile row: decode steps attend the context plus the new
/// token; TTS synthesises `frames`.
fn op_and_size(m: &ModelSpec, r: &ProfileRow) -> Result<(&'static str, f64)> {
    let (op, size) = match (m.kind, r.op.as_str()) {
        (ServiceKind::Asr | ServiceKind::Encoder, "encode") => ("encode", r.size),
        (ServiceKind::Asr, "encode_chunk") => ("encode_chunk", r.size),
        (ServiceKind::Tts, "synthesize") => ("synthesize", r.frames.unwrap_or_else(|| m.tts_frames(r.size))),
        (ServiceKind::Llm, "prefill") => ("prefill", r.size),
        (ServiceKind::Llm, "decode_step" | "decode") => ("decode", r.size + 1.0),
        (k, o) => {
            return Err(Error::input(
                "",
                "op",
                format!("'{o}' is not an op of the {} model '{}'", k.label(), m.name),
            ))
        }
    };
    if !m.ops.contains_key(op) {
        return Err(Error::input("", "op", format!("model '{}' has no op '{op}'", m.name)));
    }
    Ok((op, size))
}

/// Predict every row's latency on `share` (the model's tables scaled from `reference`).
pub fn predict(m: &ModelSpec, reference: &GpuSpec, share: &DeviceShare, rows: &mut [ProfileRow]) -> Result<()> {
    let slow = Slowdown::of(&m.scaling, reference, share);
    for r in rows.iter_mut() {
        let (op, size) = op_and_size(m, r)?;
        r.latency_ms = round4(m.op(op).latency_ms(r.batch, size, &slow).0);
    }
    Ok(())
}

/// One measured cell against its prediction.
#[derive(Debug, Clone, Serialize)]
pub struct CellError {
    /// The cell (its latency is the measured one).
    #[serde(flatten)]
    pub cell: ProfileRow,
    /// Predicted latency [ms].
    pub predicted_ms: f64,
    /// (predicted - measured) / measured * 100.
    pub error_pct: f64,
}

/// Errors of one op.
#[derive(Debug, Clone, Serialize)]
pub struct OpSummary {
    /// Op.
    pub op: String,
    /// Cells compared.
    pub cells: usize,
    /// Median |error| [%].
    pub median_abs_error_pct: f64,
    /// 90th percentile of |error| [%].
    pub p90_abs_error_pct: f64,
    /// The cells with the largest |error|, worst first (at most 3).
    pub worst: Vec<String>,
}

/// Compare measured rows with the predictions: per cell and per op.
pub fn compare(
    m: &ModelSpec,
    reference: &GpuSpec,
    share: &DeviceShare,
    measured: &[ProfileRow],
) -> Result<(Vec<CellError>, Vec<OpSummary>)> {
    let mut pred = measured.to_vec();
    predict(m, reference, share, &mut pred)?;
    let cells: Vec<CellError> = measured
        .iter()
        .zip(&pred)
        .map(|(a, p)| CellError {
            cell: a.clone(),
            predicted_ms: p.latency_ms,
            error_pct: round4((p.latency_ms - a.latency_ms) / a.latency_ms * 100.0),
        })
        .collect();
    let mut ops: Vec<String> = cells.iter().map(|c| c.cell.op.clone()).collect();
    ops.dedup();
    ops.sort();
    ops.dedup();
    let summaries = ops
        .into_iter()
        .map(|op| {
            let mut mine: Vec<&CellError> = cells.iter().filter(|c| c.cell.op == op).collect();
            let mut e: Vec<f64> = mine.iter().map(|c| c.error_pct.abs()).collect();
            e.sort_by(f64::total_cmp);
            let q = |p: f64| e[((e.len() - 1) as f64 * p).round() as usize];
            mine.sort_by(|a, b| b.error_pct.abs().total_cmp(&a.error_pct.abs()));
            OpSummary {
                cells: e.len(),
                median_abs_error_pct: round4(crate::metrics::quantile_sorted(&e, 0.5)),
                p90_abs_error_pct: round4(q(0.9)),
                worst: mine
                    .iter()
                    .take(3)
                    .map(|c| format!("batch {} size {} ({:+.1}%)", c.cell.batch, c.cell.size, c.error_pct))
                    .collect(),
                op,
            }
        })
        .collect();
    Ok((cells, summaries))
}

/// The profile CSV header of a model kind, exactly as gpubench writes it.
pub fn csv_header(kind: ServiceKind) -> &'static str {
    match kind {
        ServiceKind::Asr => "model,op,batch,audio_s,latency_ms",
        ServiceKind::Tts => "model,op,batch,chars,frames,latency_ms",
        ServiceKind::Llm => "model,op,batch,tokens,latency_ms,context",
        ServiceKind::Encoder => "model,op,batch,tokens,latency_ms",
    }
}

/// One row in gpubench's CSV layout.
pub fn csv_row(kind: ServiceKind, r: &ProfileRow) -> String {
    match kind {
        ServiceKind::Asr => format!("asr,{},{},{},{}", r.op, r.batch, r.size, r.latency_ms),
        ServiceKind::Tts => format!("tts,{},{},{},{},{}", r.op, r.batch, r.size, r.frames.unwrap_or(0.0), r.latency_ms),
        ServiceKind::Llm if r.op == "prefill" => format!("llm,prefill,1,{},{},", r.size, r.latency_ms),
        ServiceKind::Llm => format!("llm,{},{},,{},{}", r.op, r.batch, r.latency_ms, r.size),
        ServiceKind::Encoder => format!("encoder,{},{},{},{}", r.op, r.batch, r.size, r.latency_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::Catalog;
    use crate::model::builtin;

    fn model(name: &str) -> ModelSpec {
        builtin(name).expect("built-in").expect("parses")
    }

    #[test]
    fn the_reference_gpu_reproduces_the_tables_and_fewer_sms_are_slower() {
        let h100 = Catalog::builtin().gpu("h100-80gb").expect("h100");
        for name in ["h100/asr", "h100/tts", "h100/llm"] {
            let m = model(name);
            let mut full = grid(&m);
            predict(&m, h100, &DeviceShare::whole(h100), &mut full).expect("predicts");
            let mut small = grid(&m);
            predict(&m, h100, &DeviceShare::of(h100, 16.0 / 132.0, 1.0), &mut small).expect("predicts");
            for (a, b) in full.iter().zip(&small) {
                assert!(b.latency_ms >= a.latency_ms * 0.999, "{name} {a:?} {b:?}");
            }
        }
    }

    #[test]
    fn csv_rows_follow_gpubench_columns() {
        let m = model("h100/llm");
        let rows = grid(&m);
        assert_eq!(csv_row(m.kind, &rows[0]), "llm,prefill,1,128,0,");
        assert_eq!(csv_row(m.kind, &rows[5]).split(',').count(), csv_header(m.kind).split(',').count());
    }
}
