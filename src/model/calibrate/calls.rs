//! What the serving logs say about single calls beyond the tables: their spread around the table
//! (first calls at a new shape set apart), and where a TTS server cut long replies.

use super::{median, Point};
use crate::model::OpTable;

/// A serving log's calls against the fitted `table`: how much longer than the table each first
/// call at a padded batch outside `warm` took [ms] (the set-up a server pays once per batch
/// shape, `ModelSpec::cold_call_ms`), and ln(measured / table) of every other call (their
/// spread is `ModelSpec::call_noise`).
pub fn log_residuals(calls: &[Point], table: &OpTable, warm: &[u32]) -> (Vec<f64>, Vec<f64>) {
    let mut seen = warm.to_vec();
    let (mut first, mut rest) = (Vec::new(), Vec::new());
    for p in calls {
        let (b, s, _) = table.padded(p.batch as u32, p.size);
        let t = table.grid_ms(b, s).0;
        if seen.contains(&(b as u32)) {
            rest.push((p.latency_ms / t).ln());
        } else {
            seen.push(b as u32);
            first.push(p.latency_ms - t);
        }
    }
    (first, rest)
}

/// Robust standard deviation (1.4826 x the median absolute deviation): a few slow outliers in
/// a serving log do not widen it.
pub fn robust_sigma(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    let m = median(&mut v);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    1.4826 * median(&mut dev)
}

/// The frame clamp a TTS server applies, read from its serving log's (longest characters,
/// frames) per call: a call with fewer frames than `chars` x `frames_per_char` was cut at the
/// server's longest reply (the measured server's decoder holds 512 frames, so 400 characters
/// give 511 frames, not 573), one with more was raised to its shortest. An end no call reached
/// keeps `default`. One frame either way is rounding (the measured server rounds halves to
/// even). Errors name a call whose frames fit neither a clamp nor the rate.
pub fn frame_clamp(calls: &[(f64, f64)], frames_per_char: f64, default: (u32, u32)) -> Result<(u32, u32), String> {
    let (mut lo, mut hi) = (None::<f64>, None::<f64>);
    for &(chars, frames) in calls {
        let want = (chars * frames_per_char).round();
        if frames < want - 1.0 {
            hi = Some(hi.map_or(frames, |h: f64| h.max(frames)));
        } else if frames > want + 1.0 {
            lo = Some(lo.map_or(frames, |l: f64| l.min(frames)));
        }
    }
    let (lo, hi) = (lo.unwrap_or(default.0 as f64), hi.unwrap_or(default.1 as f64));
    if lo > hi {
        return Err(format!("frames clamp [{lo}, {hi}] is empty"));
    }
    for &(chars, frames) in calls {
        let want = (chars * frames_per_char).round().clamp(lo, hi);
        if (frames - want).abs() > 1.0 {
            return Err(format!(
                "a call of {chars} characters has {frames} frames; the rate {frames_per_char:.4} per character within [{lo}, {hi}] gives {want}"
            ));
        }
    }
    Ok((lo as u32, hi as u32))
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use crate::model::ServiceKind;

    #[test]
    fn first_calls_are_set_apart_from_the_spread_of_the_others() {
        let (_, bases) = gpubench_base(ServiceKind::Tts);
        let pts: Vec<Point> = [1.0, 2.0, 4.0, 8.0]
            .iter()
            .flat_map(|&b| {
                [10.0, 500.0].map(|s| Point {
                    batch: b,
                    size: s,
                    latency_ms: b + s,
                })
            })
            .collect();
        let (table, _) = fit_op(&bases[0], &pts).expect("fits");
        let p = |batch: f64, size: f64, latency_ms: f64| Point { batch, size, latency_ms };
        let t = |b: f64, s: f64| table.grid_ms(b, s).0;
        // Batch 3 pads to 4; batch 2 is warm; the second call at a bucket is not a first call.
        let log = [
            p(1.0, 10.0, t(1.0, 10.0) + 100.0),
            p(2.0, 10.0, t(2.0, 10.0) * 1.1),
            p(3.0, 500.0, t(4.0, 500.0) + 50.0),
            p(1.0, 500.0, t(1.0, 500.0) / 1.1),
        ];
        let (first, rest) = log_residuals(&log, &table, &[2]);
        assert_eq!(first.len(), 2);
        assert!((first[0] - 100.0).abs() < 1e-6 && (first[1] - 50.0).abs() < 1e-6, "{first:?}");
        assert_eq!(rest.len(), 2);
        assert!(
            (rest[0] - 1.1f64.ln()).abs() < 1e-9 && (rest[1] + 1.1f64.ln()).abs() < 1e-9,
            "{rest:?}"
        );
        // One wild call does not widen the robust spread.
        let sigma = robust_sigma(&[-0.01, 0.0, 0.01, -0.01, 0.01, 2.0]);
        assert!((sigma - 1.4826 * 0.01).abs() < 1e-9, "{sigma}");
    }

    #[test]
    fn frame_clamp_is_read_where_calls_were_cut() {
        let fpc = 21.5 / 15.0;
        // 400 characters would be 573 frames; the log shows 511 (the measured server's cap).
        let calls = [(26.0, 37.0), (105.0, 150.0), (400.0, 511.0), (380.0, 511.0), (2.0, 4.0)];
        assert_eq!(frame_clamp(&calls, fpc, (4, 1023)), Ok((4, 511)));
        // No call reached either end: the defaults stay.
        assert_eq!(frame_clamp(&calls[..2], fpc, (4, 1023)), Ok((4, 1023)));
        // A call cut below another call's length is no clamp.
        let bad = [(400.0, 511.0), (380.0, 545.0)];
        let e = frame_clamp(&bad, fpc, (4, 1023)).expect_err("no clamp fits");
        assert!(e.contains("380 characters has 545 frames"), "{e}");
    }
}
