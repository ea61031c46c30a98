//! Op latency tables: how long one GPU call of an op takes, over its two natural axes, batch and
//! size (audio seconds, codec frames, prompt tokens or attended context), on a reference GPU.
//!
//! * **Padding.** Real servers replay CUDA graphs captured for fixed shapes, so a call is padded
//!   up to the next batch bucket and size bucket before it runs; the padding is part of the cost.
//! * **Interpolation.** Between grid points latency is bilinear in (batch, size).
//! * **Extrapolation.** Past the last grid point latency continues the line through the last two
//!   points of each axis (never below the last value); any call that needs this flags the run as
//!   extrapolated.
//! * **Other devices.** Each cell also carries the split of its latency into fixed, compute and
//!   memory parts, which [`super::scaling`] scales to a device share (fewer SMs, other bandwidth,
//!   clock or GPU generation).

use super::Slowdown;
use serde::{Deserialize, Serialize};

/// A latency table over (batch, size) with padding buckets and the scaling decomposition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpTable {
    /// Batch sizes the server pads to (empty: no padding).
    pub batch_buckets: Vec<u32>,
    /// Sizes the server pads to (empty: no padding).
    pub size_buckets: Vec<f64>,
    /// Grid batch axis, ascending.
    pub batch: Vec<f64>,
    /// Grid size axis, ascending.
    pub size: Vec<f64>,
    /// `latency_ms[i][j]` at `batch[i]`, `size[j]` on the reference GPU [ms].
    pub latency_ms: Vec<Vec<f64>>,
    /// `fixed_frac[i][j]`: share of the cell's latency that scales with the clock only.
    pub fixed_frac: Vec<Vec<f64>>,
    /// `compute_frac[i][j]`: share that scales with the SMs' compute throughput (the rest,
    /// `1 - fixed - compute`, scales with the achieved memory bandwidth).
    pub compute_frac: Vec<Vec<f64>>,
    /// `extrapolated[i][j]`: `calibrate` filled the cell by extrapolation, beyond the batches or
    /// sizes it was given (empty: every cell rests on measurements). A call costed on such a cell
    /// counts as extrapolated, as one beyond the grid does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extrapolated: Vec<Vec<bool>>,
}

fn pad_to(x: f64, buckets: &[f64]) -> (f64, bool) {
    if buckets.is_empty() {
        return (x, false);
    }
    match buckets.iter().find(|&&b| x <= b + 1e-9) {
        Some(&b) => (b, false),
        None => (x, true),
    }
}

/// Index `i` such that `axis[i] <= x <= axis[i+1]` (clamped to the outer pairs), and the weight of `axis[i+1]`.
fn locate(axis: &[f64], x: f64) -> (usize, f64, bool) {
    let n = axis.len();
    if n == 1 {
        return (0, 0.0, x != axis[0]);
    }
    let i = match axis.iter().position(|&a| a > x) {
        Some(0) => 0,
        Some(p) => p - 1,
        None => n - 2,
    }
    .min(n - 2);
    let w = (x - axis[i]) / (axis[i + 1] - axis[i]);
    let outside = x < axis[0] - 1e-9 || x > axis[n - 1] + 1e-9;
    (i, w, outside)
}

impl OpTable {
    /// Shape actually run: batch and size after padding. The flag is set when a value exceeds the
    /// largest bucket (the real server would have no graph for it).
    pub fn padded(&self, batch: u32, size: f64) -> (f64, f64, bool) {
        let (b, eb) = if self.batch_buckets.is_empty() {
            (batch as f64, false)
        } else {
            match self.batch_buckets.iter().find(|&&b| batch <= b) {
                Some(&b) => (b as f64, false),
                None => (batch as f64, true),
            }
        };
        let (s, es) = pad_to(size, &self.size_buckets);
        (b, s, eb || es)
    }

    /// Reference-GPU latency of a call over the padded shape [ms], and whether it was extrapolated.
    pub fn grid_ms(&self, b: f64, s: f64) -> (f64, bool) {
        let (i, wi, oi) = locate(&self.batch, b);
        let (j, wj, oj) = locate(&self.size, s);
        let z = &self.latency_ms;
        let at = |ii: usize, jj: usize| z[ii.min(self.batch.len() - 1)][jj.min(self.size.len() - 1)];
        let (i1, j1) = (
            if self.batch.len() > 1 { i + 1 } else { i },
            if self.size.len() > 1 { j + 1 } else { j },
        );
        let v = (1.0 - wi) * ((1.0 - wj) * at(i, j) + wj * at(i, j1)) + wi * ((1.0 - wj) * at(i1, j) + wj * at(i1, j1));
        // A corner that weighs in and was filled by extrapolation.
        let filled = !self.extrapolated.is_empty() && {
            let x = |ii: usize, jj: usize| self.extrapolated.get(ii).and_then(|r| r.get(jj)).copied().unwrap_or(false);
            [(i, j, (1.0 - wi) * (1.0 - wj)), (i, j1, (1.0 - wi) * wj), (i1, j, wi * (1.0 - wj)), (i1, j1, wi * wj)]
                .iter()
                .any(|&(ii, jj, w)| w.abs() > 1e-12 && x(ii, jj))
        };
        // Downward extrapolation can cross zero; a call always takes at least 1 us.
        (v.max(1e-3), oi || oj || filled)
    }

    /// Latency of one call of `batch` requests of `size` on a device [ms], and whether it needed extrapolation.
    pub fn latency_ms(&self, batch: u32, size: f64, slow: &Slowdown) -> (f64, bool) {
        let (b, s, beyond) = self.padded(batch, size);
        let (l, ext) = self.grid_ms(b, s);
        if slow.is_identity() {
            return (l, ext || beyond);
        }
        let (fixed, compute) = self.fractions(b, s);
        (l * slow.of_call(fixed, compute), ext || beyond)
    }

    /// Latency of a call of exactly `batch` x `size`, without the server's padding (servers that
    /// run this op eagerly, e.g. a chunked prefill) [ms], and whether it was extrapolated.
    pub fn latency_unpadded(&self, batch: f64, size: f64, slow: &Slowdown) -> (f64, bool) {
        let (l, ext) = self.grid_ms(batch, size);
        if slow.is_identity() {
            return (l, ext);
        }
        let (fixed, compute) = self.fractions(batch, size);
        (l * slow.of_call(fixed, compute), ext)
    }

    /// The batch a server runs `batch` requests at (its next batch bucket), and whether it is
    /// beyond the largest bucket.
    pub fn pad_batch(&self, batch: u32) -> (f64, bool) {
        if self.batch_buckets.is_empty() {
            return (f64::from(batch), false);
        }
        match self.batch_buckets.iter().find(|&&b| batch <= b) {
            Some(&b) => (f64::from(b), false),
            None => (f64::from(batch), true),
        }
    }

    /// An in-flight TTS server's costs at `batch` active syntheses, derived from a `synthesize`
    /// table over (batch, frames) that is linear in frames (the calibration's form): the cost
    /// of one frame step for the whole batch, the per-frame slope `(L(b, f_hi) - L(b, f_lo)) /
    /// (f_hi - f_lo)` between the table's first and last frame counts; and the setup, the
    /// table's intercept at zero frames `L(b, f_lo) - f_lo * step` (text encoding and the
    /// per-call launches a static call pays once). A synthesis run alone thus costs `setup +
    /// frames * step = L(1, frames)`, the static call. The batch is padded to the table's batch
    /// buckets as a static call is (CUDA graphs per batch size). `slow` scales the two cells
    /// first, so on another device the costs are the slope and intercept of the scaled cells.
    /// Returns (step ms, setup ms, extrapolated). Needs at least two frame points (checked
    /// when a scenario selects the in-flight policy).
    pub fn frame_costs_ms(&self, batch: u32, slow: &Slowdown) -> (f64, f64, bool) {
        let (b, beyond) = self.pad_batch(batch);
        let (lo, hi) = (self.size[0], self.size[self.size.len() - 1]);
        let (l_lo, e1) = self.latency_unpadded(b, lo, slow);
        let (l_hi, e2) = self.latency_unpadded(b, hi, slow);
        let step = if hi > lo { ((l_hi - l_lo) / (hi - lo)).max(1e-6) } else { l_lo };
        let setup = (l_lo - lo * step).max(0.0);
        (step, setup, beyond || e1 || e2)
    }

    /// Give every cell the fixed and compute shares `other` has at its shape (a table fitted
    /// without its own device measurements borrows the split of a measured one).
    pub fn split_like(&mut self, other: &OpTable) {
        for (i, &b) in self.batch.iter().enumerate() {
            for (j, &s) in self.size.iter().enumerate() {
                let (f, c) = other.fractions(b, s);
                self.fixed_frac[i][j] = f;
                self.compute_frac[i][j] = c;
            }
        }
    }

    /// The fixed and compute shares of a padded shape's latency, bilinear between cells and
    /// held at the edge values outside the grid.
    pub fn fractions(&self, b: f64, s: f64) -> (f64, f64) {
        let clamp = |axis: &[f64], x: f64| x.clamp(axis[0], axis[axis.len() - 1]);
        let (b, s) = (clamp(&self.batch, b), clamp(&self.size, s));
        let (i, wi, _) = locate(&self.batch, b);
        let (j, wj, _) = locate(&self.size, s);
        let (i1, j1) = ((i + 1).min(self.batch.len() - 1), (j + 1).min(self.size.len() - 1));
        let bil = |z: &[Vec<f64>]| (1.0 - wi) * ((1.0 - wj) * z[i][j] + wj * z[i][j1]) + wi * ((1.0 - wj) * z[i1][j] + wj * z[i1][j1]);
        (bil(&self.fixed_frac), bil(&self.compute_frac))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> OpTable {
        OpTable {
            batch_buckets: vec![1, 2, 4],
            size_buckets: vec![5.0, 10.0],
            batch: vec![1.0, 2.0, 4.0],
            size: vec![5.0, 10.0],
            latency_ms: vec![vec![5.0, 6.0], vec![5.5, 7.0], vec![6.0, 9.0]],
            fixed_frac: vec![vec![0.8, 0.6], vec![0.7, 0.5], vec![0.4, 0.2]],
            compute_frac: vec![vec![0.1, 0.3], vec![0.2, 0.4], vec![0.5, 0.8]],
            extrapolated: Vec::new(),
        }
    }

    #[test]
    fn a_call_leaning_on_a_filled_cell_is_extrapolated() {
        let mut t = table();
        // Calibrate filled (batch 4, size 10) by extrapolation.
        t.extrapolated = vec![vec![false, false], vec![false, false], vec![false, true]];
        assert_eq!(t.grid_ms(4.0, 5.0), (6.0, false), "a measured cell");
        assert_eq!(t.grid_ms(2.0, 10.0), (7.0, false), "a measured cell beside it");
        assert!(t.grid_ms(3.0, 7.5).1, "interpolated towards the filled cell");
        assert!(t.latency_ms(4, 10.0, &Slowdown::IDENTITY).1, "the filled cell itself");
        t.extrapolated.clear();
        assert!(!t.grid_ms(3.0, 7.5).1, "without the mask every cell is measured");
    }

    #[test]
    fn pads_then_looks_up_exact_grid_points() {
        let t = table();
        assert_eq!(t.latency_ms(3, 7.2, &Slowdown::IDENTITY), (9.0, false));
        assert_eq!(t.latency_ms(1, 2.0, &Slowdown::IDENTITY), (5.0, false));
    }

    #[test]
    fn beyond_buckets_extrapolates_linearly_and_flags() {
        let t = table();
        let (v, ext) = t.latency_ms(8, 10.0, &Slowdown::IDENTITY);
        assert!(ext);
        assert!((v - 13.0).abs() < 1e-9, "{v}"); // 7 -> 9 over batch 2 -> 4, continued to 8
    }

    #[test]
    fn interpolates_without_buckets() {
        let mut t = table();
        t.batch_buckets.clear();
        t.size_buckets.clear();
        let (v, ext) = t.latency_ms(3, 7.5, &Slowdown::IDENTITY);
        assert!(!ext);
        // batch 3 between 2 and 4 (w=.5), size 7.5 between 5 and 10 (w=.5)
        let want = 0.5 * (0.5 * 5.5 + 0.5 * 7.0) + 0.5 * (0.5 * 6.0 + 0.5 * 9.0);
        assert!((v - want).abs() < 1e-9);
    }

    #[test]
    fn each_cell_slows_by_its_own_parts() {
        let t = table();
        let slice = Slowdown {
            fixed: 1.0,
            compute: 7.0,
            memory: 2.0,
        };
        // Small call: 0.8 fixed, 0.1 compute, 0.1 memory -> 0.8 + 0.7 + 0.2 = 1.7x.
        let (small, _) = t.latency_ms(1, 5.0, &slice);
        assert!((small - 5.0 * 1.7).abs() < 1e-9, "{small}");
        // Saturating call: 0.2 fixed, 0.8 compute -> 0.2 + 5.6 = 5.8x.
        let (big, _) = t.latency_ms(4, 10.0, &slice);
        assert!((big - 9.0 * 5.8).abs() < 1e-9, "{big}");
    }
}
