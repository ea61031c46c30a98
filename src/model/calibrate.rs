//! Fitting service-time tables from measurements.
//!
//! Form, chosen from the H100 data (traces/h100, models/h100/profile_*.csv):
//! * ASR `encode` and LLM `prefill`/`decode` run CUDA graphs over padded shapes, so latency is a
//!   step function of the padded (batch, size) cell. The table holds the median of every
//!   measurement that fell in a cell (profile runs and every call of the serving logs); cells
//!   with no measurement are interpolated along the batch axis (linear in log2 batch, flat
//!   below the first measured batch, where latency is launch-bound) or extrapolated from the
//!   two nearest measured cells.
//! * TTS `synthesize` runs `frames` decoder steps after a fixed encoder and before the vocoder,
//!   so for each batch bucket latency is a line in frames; it is fitted by least squares after
//!   dropping points more than 3 scaled MADs from a first fit (warm-up outliers).
//!
//! Diagnostics: leave-one-out error of every cell (or point): remove it, refit, predict it.

mod calls;
mod gpubench;
mod load_runs;
pub mod scaling;

pub use calls::{frame_clamp, log_residuals, robust_sigma};
pub use gpubench::gpubench_base;
pub use load_runs::{fit_load_runs, LoadRun};

use crate::model::OpTable;
use serde::Serialize;
use std::collections::BTreeMap;

/// KV-cache geometry of an LLM: what a token of context costs in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvGeometry {
    /// Transformer layers.
    pub layers: u32,
    /// Key/value heads per layer.
    pub kv_heads: u32,
    /// Size of one head [elements].
    pub head_dim: u32,
    /// Bytes per cached element.
    pub kv_bytes_per_element: u32,
}

impl KvGeometry {
    /// The geometry of an architecture.
    pub fn of(a: &crate::model::arch::Arch) -> KvGeometry {
        KvGeometry {
            layers: a.layers,
            kv_heads: a.kv_heads(),
            head_dim: a.head_dim(),
            kv_bytes_per_element: a.kv_dtype().bytes().ceil() as u32,
        }
    }

    /// Put it into an LLM spec.
    pub fn apply(&self, l: &mut crate::model::LlmSpec) {
        l.layers = self.layers;
        l.kv_heads = self.kv_heads;
        l.head_dim = self.head_dim;
        l.kv_bytes_per_element = self.kv_bytes_per_element;
    }
}

/// Refuse a memory larger than the GPU's.
pub fn check_memory_fits(memory_gib: f64, what: &str, value: &str, gpu: &crate::gpu::GpuSpec) -> crate::error::Result<()> {
    if !(memory_gib.is_finite() && memory_gib > 0.0) {
        return Err(crate::error::Error::input(what, "", format!("must be a positive number, got '{value}'")));
    }
    if memory_gib > gpu.memory_gib + 1e-9 {
        return Err(crate::error::Error::input(
            what,
            "",
            format!(
                "'{value}' GiB is more than the {} GiB of the {} it was measured on",
                gpu.memory_gib, gpu.display
            ),
        ));
    }
    Ok(())
}

/// One measured call: padded-or-raw batch and size, and its latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Batch (requests in the call).
    pub batch: f64,
    /// Size (audio s, frames, tokens or context).
    pub size: f64,
    /// Measured latency [ms].
    pub latency_ms: f64,
}

/// How an op's table is fitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FitForm {
    /// Median per padded cell, interpolated.
    Cells,
    /// Per batch row, a robust line in size.
    LinearInSize,
}

/// Leave-one-out result for one cell or point.
#[derive(Debug, Clone, Serialize)]
pub struct LooPoint {
    /// Batch.
    pub batch: f64,
    /// Size.
    pub size: f64,
    /// Measured (cell median) [ms].
    pub measured_ms: f64,
    /// Predicted without it [ms].
    pub predicted_ms: f64,
    /// (predicted - measured) / measured.
    pub rel_err: f64,
}

/// Fit diagnostics of one op.
#[derive(Debug, Clone, Serialize)]
pub struct OpDiagnostics {
    /// Raw measurements used.
    pub points: usize,
    /// Points dropped as outliers (LinearInSize only).
    pub outliers_dropped: usize,
    /// Distinct cells (Cells) or points (LinearInSize) evaluated.
    pub loo: Vec<LooPoint>,
    /// Mean |rel_err| of the leave-one-out predictions (null with fewer than
    /// [`MIN_LOO_POINTS`] cells or points: too few for the figure to mean anything).
    pub loo_mean_abs_rel_err: Option<f64>,
    /// Max |rel_err| (null as the mean).
    pub loo_max_abs_rel_err: Option<f64>,
    /// Mean |rel_err| of the fitted table on every raw point (in-sample).
    pub fit_mean_abs_rel_err: f64,
    /// Table cells with no measurement near them: beyond the measured batches or sizes, filled
    /// by extrapolation (`calibrate` warns about each and lists them in the model's
    /// `calibration.extrapolated_cells`).
    #[serde(skip)]
    pub extrapolated_cells: Vec<ExtrapolatedCell>,
}

/// Fewest cells (or points) a leave-one-out error is stated from: with two, each is predicted
/// from the other alone, a copy rather than a check.
pub const MIN_LOO_POINTS: usize = 3;

/// A table cell filled by extrapolation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExtrapolatedCell {
    /// Batch.
    pub batch: f64,
    /// Size.
    pub size: f64,
    /// Why: which measured range it lies beyond.
    pub beyond: String,
}

/// Description of a server whose ops are to be fitted: everything but the latency tables.
#[derive(Debug, Clone)]
pub struct OpBase {
    /// Op name.
    pub name: &'static str,
    /// Batch buckets (padding).
    pub batch_buckets: Vec<u32>,
    /// Size buckets (padding), empty for none.
    pub size_buckets: Vec<f64>,
    /// Table size axis when there are no size buckets (LinearInSize: the range ends).
    pub size_axis: Vec<f64>,
    /// Fit form.
    pub form: FitForm,
    /// True when the op may be absent from the reference measurements (measured only on other
    /// device shares, or not at all).
    pub optional: bool,
}

impl OpBase {
    /// A call's shape after the server's padding.
    pub fn pad(&self, batch: f64, size: f64) -> (f64, f64) {
        let bb: Vec<f64> = self.batch_buckets.iter().map(|&b| b as f64).collect();
        let s = if self.size_buckets.is_empty() {
            size
        } else {
            bucket(size, &self.size_buckets)
        };
        (bucket(batch, &bb), s)
    }
}

/// Pad `x` up to the first bucket >= x (or keep it past the last).
pub fn bucket(x: f64, buckets: &[f64]) -> f64 {
    buckets.iter().copied().find(|&b| x <= b + 1e-9).unwrap_or(x)
}

pub(super) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Fill a grid from measured cells: along the batch axis in log2(batch), flat below the first
/// measured batch, linear extrapolation above the last. Columns with a single measured cell
/// take the shape of the nearest column with two or more.
fn fill_grid(batch: &[f64], size: &[f64], cells: &BTreeMap<(usize, usize), f64>) -> Option<Vec<Vec<f64>>> {
    let (nb, ns) = (batch.len(), size.len());
    let mut z = vec![vec![f64::NAN; ns]; nb];
    let lb: Vec<f64> = batch.iter().map(|b| b.log2()).collect();
    for j in 0..ns {
        let known: Vec<(usize, f64)> = (0..nb).filter_map(|i| cells.get(&(i, j)).map(|&v| (i, v))).collect();
        if known.is_empty() {
            continue;
        }
        for (i, zi) in z.iter_mut().enumerate() {
            zi[j] = if let Some(&(_, v)) = known.iter().find(|(k, _)| *k == i) {
                v
            } else if known.len() == 1 || i < known[0].0 {
                // Below the first measured batch: flat (launch-bound region); a lone point: flat.
                known.iter().min_by_key(|(k, _)| (*k as i64 - i as i64).abs()).map(|x| x.1)?
            } else {
                let (a, b) = match known.iter().position(|(k, _)| *k > i) {
                    Some(p) => (known[p - 1], known[p]),
                    None => (known[known.len() - 2], known[known.len() - 1]),
                };
                let w = (lb[i] - lb[a.0]) / (lb[b.0] - lb[a.0]);
                (a.1 + w * (b.1 - a.1)).max(a.1.min(b.1) * 0.5)
            };
        }
    }
    // Columns with no data: interpolate along size between filled columns (or copy the nearest).
    let filled: Vec<usize> = (0..ns).filter(|&j| !z[0][j].is_nan()).collect();
    if filled.is_empty() {
        return None;
    }
    for j in 0..ns {
        if !z[0][j].is_nan() {
            continue;
        }
        let lo = filled.iter().rev().find(|&&k| k < j).copied();
        let hi = filled.iter().find(|&&k| k > j).copied();
        for zi in z.iter_mut() {
            zi[j] = match (lo, hi) {
                (Some(a), Some(b)) => {
                    let w = (size[j] - size[a]) / (size[b] - size[a]);
                    zi[a] + w * (zi[b] - zi[a])
                }
                (Some(a), None) => {
                    let p = filled.iter().rev().nth(1).copied();
                    match p {
                        Some(p0) => zi[a] + (zi[a] - zi[p0]) * (size[j] - size[a]) / (size[a] - size[p0]),
                        None => zi[a],
                    }
                }
                (None, Some(b)) => zi[b],
                (None, None) => f64::NAN,
            };
        }
    }
    Some(z)
}

/// Intercept and slope per batch-bucket row.
type Lines = BTreeMap<usize, (f64, f64)>;

/// Lines `a + b_B * size` with one intercept shared by all batch buckets (the fixed encoder and
/// vocoder cost hardly depends on batch at these sizes) and a slope per bucket (per-frame cost).
/// Sharing the intercept keeps buckets with few points from fitting noise. Points more than 3
/// scaled MADs off their line are dropped once and the lines refitted.
pub(super) fn fit_lines(rows: &BTreeMap<usize, Vec<(f64, f64)>>) -> Option<(Lines, usize)> {
    let all: Vec<(f64, f64)> = rows.values().flatten().copied().collect();
    let (a, _, _) = robust_line(&all)?;
    let slopes = |rows: &BTreeMap<usize, Vec<(f64, f64)>>| -> BTreeMap<usize, (f64, f64)> {
        rows.iter()
            .filter_map(|(&i, p)| {
                let sxx: f64 = p.iter().map(|x| x.0 * x.0).sum();
                (sxx > 0.0).then(|| (i, (a, p.iter().map(|x| x.0 * (x.1 - a)).sum::<f64>() / sxx)))
            })
            .collect()
    };
    let first = slopes(rows);
    let mut res: Vec<f64> = rows
        .iter()
        .flat_map(|(i, p)| p.iter().map(move |x| (i, x)))
        .filter_map(|(i, x)| first.get(i).map(|(a, b)| (x.1 - a - b * x.0).abs()))
        .collect();
    if res.is_empty() {
        return None;
    }
    let mad = median(&mut res) * 1.4826;
    let mut dropped = 0;
    let kept: BTreeMap<usize, Vec<(f64, f64)>> = rows
        .iter()
        .map(|(&i, p)| {
            let (a, b) = first.get(&i).copied().unwrap_or((a, 0.0));
            let k: Vec<(f64, f64)> = p
                .iter()
                .copied()
                .filter(|x| mad <= 0.0 || (x.1 - a - b * x.0).abs() <= 3.0 * mad)
                .collect();
            dropped += p.len() - k.len();
            (i, if k.is_empty() { p.clone() } else { k })
        })
        .collect();
    Some((slopes(&kept), dropped))
}

pub(super) fn robust_line(pts: &[(f64, f64)]) -> Option<(f64, f64, usize)> {
    let fit = |p: &[(f64, f64)]| -> Option<(f64, f64)> {
        let n = p.len() as f64;
        let mx = p.iter().map(|x| x.0).sum::<f64>() / n;
        let my = p.iter().map(|x| x.1).sum::<f64>() / n;
        let sxx: f64 = p.iter().map(|x| (x.0 - mx).powi(2)).sum();
        if sxx <= 0.0 {
            return None;
        }
        let b = p.iter().map(|x| (x.0 - mx) * (x.1 - my)).sum::<f64>() / sxx;
        Some((my - b * mx, b))
    };
    let (a, b) = fit(pts)?;
    let mut res: Vec<f64> = pts.iter().map(|&(x, y)| (y - a - b * x).abs()).collect();
    let mad = median(&mut res) * 1.4826;
    if mad <= 0.0 {
        return Some((a, b, 0));
    }
    let kept: Vec<(f64, f64)> = pts.iter().copied().filter(|&(x, y)| (y - a - b * x).abs() <= 3.0 * mad).collect();
    let dropped = pts.len() - kept.len();
    let (a, b) = if kept.len() >= 2 { fit(&kept).unwrap_or((a, b)) } else { (a, b) };
    Some((a, b, dropped))
}

/// Fit one op. Returns the table and its diagnostics, or a message saying why the data cannot be used.
pub fn fit_op(base: &OpBase, points: &[Point]) -> Result<(OpTable, OpDiagnostics), String> {
    if points.len() < 2 {
        return Err(format!("op '{}': needs at least 2 measurements, got {}", base.name, points.len()));
    }
    if let Some(p) = points.iter().find(|p| !(p.latency_ms.is_finite() && p.latency_ms > 0.0)) {
        return Err(format!("op '{}': latency must be positive, got '{}'", base.name, p.latency_ms));
    }
    let bb: Vec<f64> = base.batch_buckets.iter().map(|&b| b as f64).collect();
    let batch_axis = bb.clone();
    let size_axis = if base.size_buckets.is_empty() {
        base.size_axis.clone()
    } else {
        base.size_buckets.clone()
    };
    let pad = |p: &Point| base.pad(p.batch, p.size);
    let (z, diag) = match base.form {
        FitForm::Cells => {
            let mut cell_pts: BTreeMap<(usize, usize), Vec<f64>> = BTreeMap::new();
            for p in points {
                let (b, s) = pad(p);
                let (Some(i), Some(j)) = (batch_axis.iter().position(|&x| x == b), size_axis.iter().position(|&x| x == s)) else {
                    continue; // beyond the server's buckets: the server could not have run it
                };
                cell_pts.entry((i, j)).or_default().push(p.latency_ms);
            }
            let cells: BTreeMap<(usize, usize), f64> = cell_pts.iter_mut().map(|(k, v)| (*k, median(v))).collect();
            if cells.len() < 2 {
                return Err(format!(
                    "op '{}': measurements cover {} table cell(s); at least 2 are needed",
                    base.name,
                    cells.len()
                ));
            }
            let z = fill_grid(&batch_axis, &size_axis, &cells).ok_or_else(|| format!("op '{}': no usable cell", base.name))?;
            let mut loo = Vec::new();
            for (&(i, j), &v) in &cells {
                let mut rest = cells.clone();
                rest.remove(&(i, j));
                if let Some(zz) = fill_grid(&batch_axis, &size_axis, &rest) {
                    let pred = zz[i][j];
                    if pred.is_finite() {
                        loo.push(LooPoint {
                            batch: batch_axis[i],
                            size: size_axis[j],
                            measured_ms: v,
                            predicted_ms: pred,
                            rel_err: (pred - v) / v,
                        });
                    }
                }
            }
            let fit_err = points
                .iter()
                .filter_map(|p| {
                    let (b, s) = pad(p);
                    let i = batch_axis.iter().position(|&x| x == b)?;
                    let j = size_axis.iter().position(|&x| x == s)?;
                    Some(((z[i][j] - p.latency_ms) / p.latency_ms).abs())
                })
                .collect::<Vec<_>>();
            let mut d = diag_of(points.len(), 0, loo, &fit_err);
            d.extrapolated_cells = extrapolated_cells(&batch_axis, &size_axis, |i, j| cells.contains_key(&(i, j)), None);
            (z, d)
        }
        FitForm::LinearInSize => {
            let mut rows: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
            for p in points {
                let (b, _) = pad(p);
                if let Some(i) = batch_axis.iter().position(|&x| x == b) {
                    rows.entry(i).or_default().push((p.size, p.latency_ms));
                }
            }
            let (lines, dropped) = fit_lines(&rows).ok_or_else(|| format!("op '{}': needs at least two different sizes", base.name))?;
            let eval_lines = |lines: &BTreeMap<usize, (f64, f64)>| -> Vec<Vec<f64>> {
                let cells: BTreeMap<(usize, usize), f64> = lines
                    .iter()
                    .flat_map(|(&i, &(a, b))| size_axis.iter().enumerate().map(move |(j, &s)| ((i, j), (a + b * s).max(1e-3))))
                    .collect();
                fill_grid(&batch_axis, &size_axis, &cells).unwrap_or_default()
            };
            let z = eval_lines(&lines);
            let mut loo = Vec::new();
            for (&i, pts) in &rows {
                for (k, &(s, v)) in pts.iter().enumerate() {
                    let mut rest = rows.clone();
                    if let Some(v) = rest.get_mut(&i) {
                        v.remove(k);
                    }
                    let Some((l2, _)) = fit_lines(&rest) else { continue };
                    if l2.is_empty() {
                        continue;
                    }
                    let zz = eval_lines(&l2);
                    let pred = interp_row(&zz[i], &size_axis, s);
                    loo.push(LooPoint {
                        batch: batch_axis[i],
                        size: s,
                        measured_ms: v,
                        predicted_ms: pred,
                        rel_err: (pred - v) / v,
                    });
                }
            }
            let fit_err: Vec<f64> = rows
                .iter()
                .flat_map(|(&i, pts)| pts.iter().map(move |&(s, v)| (i, s, v)))
                .map(|(i, s, v)| ((interp_row(&z[i], &size_axis, s) - v) / v).abs())
                .collect();
            let mut d = diag_of(points.len(), dropped, loo, &fit_err);
            let sizes = points.iter().map(|p| p.size);
            let range = (sizes.clone().fold(f64::INFINITY, f64::min), sizes.fold(f64::NEG_INFINITY, f64::max));
            d.extrapolated_cells = extrapolated_cells(&batch_axis, &size_axis, |i, _| rows.contains_key(&i), Some(range));
            (z, d)
        }
    };
    let (nb, ns) = (batch_axis.len(), size_axis.len());
    let mut table = OpTable {
        batch_buckets: base.batch_buckets.clone(),
        size_buckets: base.size_buckets.clone(),
        batch: batch_axis,
        size: size_axis,
        latency_ms: z.iter().map(|r| r.iter().map(|v| (v * 1e4).round() / 1e4).collect()).collect(),
        // Set by the scaling fit (calibrate::scaling) or copied from a built-in model.
        fixed_frac: vec![vec![1.0; ns]; nb],
        compute_frac: vec![vec![0.0; ns]; nb],
        extrapolated: Vec::new(),
    };
    table.extrapolated = filled_mask(&table, &diag.extrapolated_cells);
    Ok((table, diag))
}

/// The table's `extrapolated` mask from the cells the fit filled by extrapolation (empty when
/// there are none, so a table fitted within its measurements is written as before).
fn filled_mask(t: &OpTable, cells: &[ExtrapolatedCell]) -> Vec<Vec<bool>> {
    if cells.is_empty() {
        return Vec::new();
    }
    t.batch
        .iter()
        .map(|&b| t.size.iter().map(|&s| cells.iter().any(|c| c.batch == b && c.size == s)).collect())
        .collect()
}

/// The cells of a `batch` x `size` grid that no measurement supports: `measured(i, j)` says
/// whether cell (i, j) was measured (LinearInSize: whether row i has points, and `sizes` is
/// the measured size range). A cell is extrapolated when it was not measured and lies beyond
/// the measured batches of its size column (or, in a column with none, of the whole op), or
/// beyond the measured sizes. Cells between measured ones are interpolated, not listed.
fn extrapolated_cells(
    batch: &[f64],
    size: &[f64],
    measured: impl Fn(usize, usize) -> bool,
    sizes: Option<(f64, f64)>,
) -> Vec<ExtrapolatedCell> {
    let (nb, ns) = (batch.len(), size.len());
    let rows_of = |j: usize| -> Vec<usize> { (0..nb).filter(|&i| measured(i, j)).collect() };
    let all_rows: Vec<usize> = (0..nb).filter(|&i| (0..ns).any(|j| measured(i, j))).collect();
    let cols: Vec<usize> = (0..ns).filter(|&j| !rows_of(j).is_empty()).collect();
    let (smin, smax) = match sizes {
        Some(r) => r,
        None => match (cols.first(), cols.last()) {
            (Some(&a), Some(&b)) => (size[a], size[b]),
            _ => return Vec::new(),
        },
    };
    let range = |v: &[usize], axis: &[f64]| match (v.first(), v.last()) {
        (Some(&a), Some(&b)) => (axis[a], axis[b]),
        _ => (f64::NAN, f64::NAN),
    };
    let mut out = Vec::new();
    for j in 0..ns {
        let col = if sizes.is_some() { all_rows.clone() } else { rows_of(j) };
        let (rows, whose) = if col.is_empty() {
            (all_rows.clone(), "of the op")
        } else {
            (col, "at this size")
        };
        let (bmin, bmax) = range(&rows, batch);
        for i in 0..nb {
            if sizes.is_none() && measured(i, j) {
                continue;
            }
            let (b, s) = (batch[i], size[j]);
            let eps = 1e-9 * s.abs().max(1.0);
            let beyond = if s > smax + eps || s < smin - eps {
                Some(format!("measured sizes {smin}-{smax}"))
            } else if !measured(i, j) && (b > bmax || b < bmin) {
                Some(format!("measured batches {bmin}-{bmax} {whose}"))
            } else {
                None
            };
            if let Some(beyond) = beyond {
                out.push(ExtrapolatedCell { batch: b, size: s, beyond });
            }
        }
    }
    out
}

pub(super) fn interp_row(row: &[f64], axis: &[f64], s: f64) -> f64 {
    if axis.len() == 1 {
        return row[0];
    }
    let i = axis
        .iter()
        .position(|&a| a > s)
        .map_or(axis.len() - 2, |p| p.max(1) - 1)
        .min(axis.len() - 2);
    row[i] + (s - axis[i]) / (axis[i + 1] - axis[i]) * (row[i + 1] - row[i])
}

pub(super) fn diag_of(points: usize, dropped: usize, loo: Vec<LooPoint>, fit_err: &[f64]) -> OpDiagnostics {
    let loo = if loo.len() < MIN_LOO_POINTS { Vec::new() } else { loo };
    let errs: Vec<f64> = loo.iter().map(|l| l.rel_err.abs()).collect();
    let r4 = |x: f64| (x * 1e4).round() / 1e4;
    let some = !errs.is_empty();
    OpDiagnostics {
        points,
        outliers_dropped: dropped,
        loo_mean_abs_rel_err: some.then(|| r4(errs.iter().sum::<f64>() / errs.len() as f64)),
        loo_max_abs_rel_err: some.then(|| r4(errs.iter().cloned().fold(0.0, f64::max))),
        fit_mean_abs_rel_err: r4(fit_err.iter().sum::<f64>() / fit_err.len().max(1) as f64),
        extrapolated_cells: Vec::new(),
        loo: loo
            .into_iter()
            .map(|l| LooPoint {
                predicted_ms: r4(l.predicted_ms),
                measured_ms: r4(l.measured_ms),
                rel_err: r4(l.rel_err),
                ..l
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base_cells() -> OpBase {
        OpBase {
            name: "encode",
            batch_buckets: vec![1, 2, 4, 8],
            size_buckets: vec![5.0, 10.0],
            size_axis: vec![],
            form: FitForm::Cells,
            optional: false,
        }
    }

    #[test]
    fn cells_take_medians_and_fill_gaps_in_log_batch() {
        let mut pts = Vec::new();
        for (b, l) in [(1.0, 4.0), (2.0, 5.0), (8.0, 9.0)] {
            for d in [-0.1, 0.0, 0.1, 5.0] {
                pts.push(Point {
                    batch: b,
                    size: 5.0,
                    latency_ms: l + d,
                });
            }
        }
        pts.push(Point {
            batch: 3.0,
            size: 7.0,
            latency_ms: 7.0,
        }); // pads to (4, 10)
        let (t, d) = fit_op(&base_cells(), &pts).expect("fits");
        assert!((t.latency_ms[0][0] - 4.05).abs() < 1e-9, "median of 3.9 4.0 4.1 9.0");
        // batch 4 at size 5: halfway between log2(2)=1 and log2(8)=3
        assert!((t.latency_ms[2][0] - 7.05).abs() < 1e-9, "{:?}", t.latency_ms);
        assert_eq!(d.points, 13);
        assert_eq!(d.loo.len(), 4);
    }

    #[test]
    fn linear_form_recovers_a_line_and_drops_an_outlier() {
        let mut base = base_cells();
        base.form = FitForm::LinearInSize;
        base.size_buckets.clear();
        base.size_axis = vec![4.0, 1000.0];
        let mut pts: Vec<Point> = (1..20)
            .map(|k| Point {
                batch: 1.0,
                size: k as f64 * 20.0,
                latency_ms: 4.0 + 0.9 * k as f64 * 20.0,
            })
            .collect();
        pts.push(Point {
            batch: 1.0,
            size: 40.0,
            latency_ms: 120.0,
        });
        let (t, d) = fit_op(&base, &pts).expect("fits");
        assert_eq!(d.outliers_dropped, 1);
        assert!((t.latency_ms[0][1] - (4.0 + 900.0)).abs() < 1e-6, "{:?}", t.latency_ms);
    }

    #[test]
    fn unusable_inputs_are_refused() {
        let one = [Point {
            batch: 1.0,
            size: 5.0,
            latency_ms: 4.0,
        }];
        assert!(fit_op(&base_cells(), &one).expect_err("one point").contains("at least 2"));
        let neg = [
            Point {
                batch: 1.0,
                size: 5.0,
                latency_ms: 4.0,
            },
            Point {
                batch: 2.0,
                size: 5.0,
                latency_ms: -1.0,
            },
        ];
        assert!(fit_op(&base_cells(), &neg).expect_err("negative").contains("positive"));
        let same = [
            Point {
                batch: 1.0,
                size: 5.0,
                latency_ms: 4.0,
            },
            Point {
                batch: 1.0,
                size: 4.0,
                latency_ms: 4.1,
            },
        ];
        assert!(fit_op(&base_cells(), &same).expect_err("one cell").contains("cell"));
    }
}
