//! Fitting the device scaling model ([`crate::model::scaling`]) from measurements of the same
//! calls on several device shares: the reference GPU and GPUs restricted to fewer SMs (CUDA green
//! contexts) or with another memory system.
//!
//! For every measured table cell, its latency on share `d` is modelled as
//! `L_d = F * s_F(d) + C * s_C(d) + M * s_M(d)`, where the `s` are the slow-down factors of `d`
//! relative to the whole reference GPU. `F, C, M >= 0` are fitted per cell by non-negative least
//! squares on relative errors (the reference point weighs 4: it is the only one on the
//! reference memory system, so it pins the memory part). The two memory-system parameters
//! (per-SM bandwidth and the knee) are shared by every cell of a model and chosen on a grid to
//! minimise the 90th percentile of the leave-one-out error. A cell's fractions are its parts
//! over their sum; table cells that were not measured take the fractions of the nearest measured
//! cell in (log batch, log size).

use super::median;
use crate::gpu::GpuSpec;
use crate::model::{DeviceShare, OpTable, Scaling, Slowdown};
use serde::Serialize;
use std::collections::BTreeMap;

/// One measured call on a device share.
#[derive(Debug, Clone)]
pub struct ScalingPoint {
    /// Op name.
    pub op: String,
    /// Batch, padded as the server pads it.
    pub batch: f64,
    /// Size, padded.
    pub size: f64,
    /// Where it ran.
    pub share: DeviceShare,
    /// Short name of the device, e.g. `h200-141gb 16 SMs`.
    pub device: String,
    /// Measured latency [ms].
    pub latency_ms: f64,
}

/// Errors of the fit on one device.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeviceError {
    /// Op.
    pub op: String,
    /// Device label.
    pub device: String,
    /// Cells.
    pub cells: usize,
    /// Median |relative error| of the leave-one-out predictions.
    pub loo_median_abs_err: f64,
    /// 90th percentile.
    pub loo_p90_abs_err: f64,
    /// Largest, with its cell.
    pub loo_max_abs_err: f64,
    /// The cell of the largest error (`batch x size`).
    pub worst_cell: String,
}

/// What the scaling fit reports.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingDiagnostics {
    /// The fitted memory-system parameters.
    pub scaling: Scaling,
    /// Leave-one-out errors per op and device.
    pub by_device: Vec<DeviceError>,
    /// Median and 90th percentile of every leave-one-out error.
    pub loo_median_abs_err: f64,
    /// See above.
    pub loo_p90_abs_err: f64,
    /// Measured cells whose own fit misses by more than 15 % (noisy data, not used as donors).
    pub noisy_cells: Vec<String>,
}

const REF_WEIGHT: f64 = 4.0;
/// A cell whose own fit misses a point by more than this (after dropping its worst point once)
/// is noisy: not scored and not used to give other cells their fractions.
const NOISY: f64 = 0.25;
const SM_BW_GRID: [f64; 8] = [60.0, 80.0, 100.0, 120.0, 150.0, 200.0, 250.0, 300.0];
const KNEE_GRID: [f64; 6] = [1.0, 1.5, 2.0, 3.0, 4.0, 6.0];

/// The basis of a share: slow-down factors of the three parts.
fn basis(s: &Scaling, reference: &GpuSpec, share: &DeviceShare) -> [f64; 3] {
    let d = Slowdown::of(s, reference, share);
    [d.fixed, d.compute, d.memory]
}

/// Non-negative least squares for 3 unknowns: the best over the 7 supports of the unconstrained
/// solutions that are non-negative (exact for 3 unknowns, and deterministic).
fn nnls3(rows: &[([f64; 3], f64, f64)]) -> Option<[f64; 3]> {
    let mut best: Option<([f64; 3], f64)> = None;
    for mask in 1u8..8 {
        let idx: Vec<usize> = (0..3).filter(|k| mask & (1 << k) != 0).collect();
        let n = idx.len();
        let mut a = [[0.0f64; 3]; 3];
        let mut b = [0.0f64; 3];
        for (x, y, w) in rows {
            for (p, &i) in idx.iter().enumerate() {
                b[p] += w * w * x[i] * y;
                for (q, &j) in idx.iter().enumerate() {
                    a[p][q] += w * w * x[i] * x[j];
                }
            }
        }
        let Some(sol) = solve(&a, &b, n) else { continue };
        if sol[..n].iter().any(|v| *v < 0.0) {
            continue;
        }
        let mut full = [0.0; 3];
        for (p, &i) in idx.iter().enumerate() {
            full[i] = sol[p];
        }
        let res: f64 = rows
            .iter()
            .map(|(x, y, w)| (w * (x[0] * full[0] + x[1] * full[1] + x[2] * full[2] - y)).powi(2))
            .sum();
        if best.is_none_or(|(_, r)| res < r - 1e-15) {
            best = Some((full, res));
        }
    }
    best.map(|b| b.0)
}

/// Gaussian elimination on the leading `n x n` block.
fn solve(a: &[[f64; 3]; 3], b: &[f64; 3], n: usize) -> Option<[f64; 3]> {
    let mut m = *a;
    let mut v = *b;
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs()))?;
        if m[p][c].abs() < 1e-300 {
            return None;
        }
        m.swap(c, p);
        v.swap(c, p);
        for r in 0..n {
            if r != c {
                let f = m[r][c] / m[c][c];
                let pivot = m[c];
                for (x, p) in m[r][c..n].iter_mut().zip(&pivot[c..n]) {
                    *x -= f * p;
                }
                v[r] -= f * v[c];
            }
        }
    }
    let mut x = [0.0; 3];
    for i in 0..n {
        x[i] = v[i] / m[i][i];
    }
    Some(x)
}

type CellKey = (String, u64, u64);
/// The fitted parts `[fixed, compute, memory]` of every measured cell.
pub type CellParts = BTreeMap<CellKey, [f64; 3]>;

fn key(op: &str, b: f64, s: f64) -> CellKey {
    (op.to_string(), b.to_bits(), s.to_bits())
}

/// Fit one cell: its parts, after dropping its worst point once if it misses by more than 15 %.
fn fit_cell(pts: &[&ScalingPoint], s: &Scaling, reference: &GpuSpec, ref_share: &DeviceShare) -> Option<([f64; 3], f64)> {
    let rows: Vec<([f64; 3], f64, f64)> = pts
        .iter()
        .map(|p| {
            let w = if p.share == *ref_share { REF_WEIGHT } else { 1.0 };
            (basis(s, reference, &p.share), p.latency_ms, w / p.latency_ms)
        })
        .collect();
    let x = nnls3(&rows)?;
    let errs: Vec<f64> = rows
        .iter()
        .map(|(b, y, _)| ((b[0] * x[0] + b[1] * x[1] + b[2] * x[2]) / y - 1.0).abs())
        .collect();
    let (worst, &max) = errs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    if max > NOISY && rows.len() > 4 {
        let mut rest = rows.clone();
        rest.remove(worst);
        let x2 = nnls3(&rest)?;
        let max2 = rest
            .iter()
            .map(|(b, y, _)| ((b[0] * x2[0] + b[1] * x2[1] + b[2] * x2[2]) / y - 1.0).abs())
            .fold(0.0, f64::max);
        return Some((x2, max2));
    }
    Some((x, max))
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

struct Loo {
    /// (op, device, cell label, |error|)
    errs: Vec<(String, String, String, f64)>,
}

fn loo(cells: &BTreeMap<CellKey, Vec<&ScalingPoint>>, s: &Scaling, reference: &GpuSpec, ref_share: &DeviceShare) -> Loo {
    let mut errs = Vec::new();
    for pts in cells.values() {
        if pts.len() < 4 {
            continue;
        }
        // A cell the model cannot fit even in-sample holds a measurement artifact (e.g. a
        // first-call setup inside a timed repetition); it is reported as noisy, not scored.
        if fit_cell(pts, s, reference, ref_share).is_none_or(|(_, miss)| miss > NOISY) {
            continue;
        }
        for (i, p) in pts.iter().enumerate() {
            let mut rest = pts.clone();
            rest.remove(i);
            let Some((x, _)) = fit_cell(&rest, s, reference, ref_share) else {
                continue;
            };
            let b = basis(s, reference, &p.share);
            let pred = b[0] * x[0] + b[1] * x[1] + b[2] * x[2];
            errs.push((
                p.op.clone(),
                p.device.clone(),
                format!("{} x {}", p.batch, p.size),
                (pred / p.latency_ms - 1.0).abs(),
            ));
        }
    }
    Loo { errs }
}

/// Fit the scaling model of a model's ops from `points` (the reference GPU's points included).
/// Returns the parameters, the fitted parts of every measured cell, and diagnostics.
pub fn fit(points: &[ScalingPoint], reference: &GpuSpec) -> Result<(Scaling, CellParts, ScalingDiagnostics), String> {
    let ref_share = DeviceShare::whole(reference);
    let mut cells: BTreeMap<CellKey, Vec<&ScalingPoint>> = BTreeMap::new();
    for p in points {
        cells.entry(key(&p.op, p.batch, p.size)).or_default().push(p);
    }
    if cells.values().all(|v| v.len() < 4) {
        return Err("the scaling fit needs each cell measured on at least 4 device shares".into());
    }
    let mut best: Option<(f64, f64, Scaling)> = None;
    for &b in &SM_BW_GRID {
        for &k in &KNEE_GRID {
            let s = Scaling { sm_bw_gbps: b, knee: k };
            let mut e: Vec<f64> = loo(&cells, &s, reference, &ref_share).errs.into_iter().map(|x| x.3).collect();
            let (p90, med) = (percentile(&mut e, 0.9), median(&mut e));
            if best.is_none_or(|(bp, bm, _)| (p90, med) < (bp, bm)) {
                best = Some((p90, med, s));
            }
        }
    }
    let (_, _, scaling) = best.ok_or("empty scaling grid")?;
    let mut parts = BTreeMap::new();
    let mut noisy = Vec::new();
    for (k, pts) in &cells {
        if pts.len() < 3 {
            continue;
        }
        if let Some((x, miss)) = fit_cell(pts, &scaling, reference, &ref_share) {
            if miss > NOISY {
                noisy.push(format!("{} {} x {}", k.0, f64::from_bits(k.1), f64::from_bits(k.2)));
            } else {
                parts.insert(k.clone(), x);
            }
        }
    }
    let l = loo(&cells, &scaling, reference, &ref_share);
    let mut groups: BTreeMap<(String, String), Vec<(f64, String)>> = BTreeMap::new();
    for (op, dev, cell, e) in &l.errs {
        groups.entry((op.clone(), dev.clone())).or_default().push((*e, cell.clone()));
    }
    let r4 = |x: f64| (x * 1e4).round() / 1e4;
    let by_device = groups
        .into_iter()
        .map(|((op, device), v)| {
            let mut e: Vec<f64> = v.iter().map(|x| x.0).collect();
            let (w, c) = v.iter().max_by(|a, b| a.0.total_cmp(&b.0)).cloned().unwrap_or_default();
            DeviceError {
                op,
                device,
                cells: v.len(),
                loo_median_abs_err: r4(median(&mut e)),
                loo_p90_abs_err: r4(percentile(&mut e, 0.9)),
                loo_max_abs_err: r4(w),
                worst_cell: c,
            }
        })
        .collect();
    let mut all: Vec<f64> = l.errs.iter().map(|x| x.3).collect();
    let diag = ScalingDiagnostics {
        scaling,
        by_device,
        loo_median_abs_err: r4(median(&mut all)),
        loo_p90_abs_err: r4(percentile(&mut all, 0.9)),
        noisy_cells: noisy,
    };
    Ok((scaling, parts, diag))
}

/// Set a table's fractions from fitted cell parts: each table cell takes the fractions of the
/// nearest fitted cell of `op` in (log2 batch, ln size).
pub fn apply_fractions(op: &str, table: &mut OpTable, parts: &BTreeMap<CellKey, [f64; 3]>) -> Result<(), String> {
    let donors: Vec<(f64, f64, [f64; 3])> = parts
        .iter()
        .filter(|(k, _)| k.0 == op)
        .map(|(k, x)| (f64::from_bits(k.1), f64::from_bits(k.2), *x))
        .collect();
    if donors.is_empty() {
        return Err(format!("op '{op}': no cell measured on enough device shares for the scaling fit"));
    }
    let r4 = |x: f64| (x * 1e4).round() / 1e4;
    for (i, &b) in table.batch.iter().enumerate() {
        for (j, &s) in table.size.iter().enumerate() {
            let d = |x: &(f64, f64, [f64; 3])| (b.log2() - x.0.log2()).powi(2) + (s.ln() - x.1.ln()).powi(2);
            let best = donors
                .iter()
                .min_by(|a, c| d(a).total_cmp(&d(c)))
                .map(|x| x.2)
                .unwrap_or([1.0, 0.0, 0.0]);
            let sum = (best[0] + best[1] + best[2]).max(1e-12);
            let (f, c) = (r4(best[0] / sum), r4(best[1] / sum));
            table.fixed_frac[i][j] = f;
            table.compute_frac[i][j] = c.min(1.0 - f);
        }
    }
    Ok(())
}

/// The reference latency of every fitted cell of `op` (`F + C + M`): the table of an op that was
/// measured only on other device shares (its latency on the reference GPU is the model's
/// prediction there).
pub fn reference_cells(op: &str, parts: &BTreeMap<CellKey, [f64; 3]>) -> Vec<(f64, f64, f64)> {
    parts
        .iter()
        .filter(|(k, _)| k.0 == op)
        .map(|(k, x)| (f64::from_bits(k.1), f64::from_bits(k.2), x[0] + x[1] + x[2]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::Catalog;

    #[test]
    fn nnls_recovers_non_negative_parts() {
        let rows: Vec<([f64; 3], f64, f64)> = [[1.0, 1.0, 1.0], [1.0, 2.0, 1.1], [1.0, 4.0, 1.5], [1.0, 8.0, 2.5]]
            .iter()
            .map(|b| (*b, 2.0 * b[0] + 0.5 * b[1] + 1.0 * b[2], 1.0))
            .collect();
        let x = nnls3(&rows).expect("solvable");
        assert!(
            (x[0] - 2.0).abs() < 1e-9 && (x[1] - 0.5).abs() < 1e-9 && (x[2] - 1.0).abs() < 1e-9,
            "{x:?}"
        );
        // A negative unconstrained solution is clipped to the best non-negative support.
        let rows: Vec<([f64; 3], f64, f64)> = vec![
            ([1.0, 1.0, 1.0], 1.0, 1.0),
            ([1.0, 2.0, 1.0], 0.9, 1.0),
            ([1.0, 4.0, 1.0], 0.8, 1.0),
        ];
        let x = nnls3(&rows).expect("solvable");
        assert!(x.iter().all(|v| *v >= 0.0), "{x:?}");
    }

    #[test]
    fn a_synthetic_model_is_recovered_and_predicted() {
        let cat = Catalog::builtin();
        let h100 = cat.gpu("h100-80gb").expect("h100").clone();
        let h200 = cat.gpu("h200-141gb").expect("h200").clone();
        let truth = Scaling {
            sm_bw_gbps: 120.0,
            knee: 3.0,
        };
        let mut pts = Vec::new();
        for (b, parts) in [(1.0, [4.0, 0.5, 0.5]), (8.0, [3.0, 4.0, 1.0]), (32.0, [2.0, 20.0, 6.0])] {
            let mut add = |share: DeviceShare, dev: &str| {
                let x = basis(&truth, &h100, &share);
                pts.push(ScalingPoint {
                    op: "encode".into(),
                    batch: b,
                    size: 5.0,
                    share,
                    device: dev.into(),
                    latency_ms: x[0] * parts[0] + x[1] * parts[1] + x[2] * parts[2],
                });
            };
            add(DeviceShare::whole(&h100), "h100");
            for n in [16.0, 32.0, 48.0, 64.0, 96.0, 132.0] {
                add(DeviceShare::of(&h200, n / 132.0, 1.0), "h200");
            }
        }
        let (s, parts, diag) = fit(&pts, &h100).expect("fits");
        assert_eq!(s, truth, "the grid contains the truth");
        assert!(diag.loo_p90_abs_err < 1e-6, "{diag:?}");
        let x = parts[&key("encode", 32.0, 5.0)];
        assert!((x[1] - 20.0).abs() < 1e-6, "{x:?}");
    }
}
