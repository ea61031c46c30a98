//! The statistics of summary.csv: a metric's mean over seeds and the half-width of its 95 %
//! confidence interval (Student t). Separate from the layout because the t quantiles are numeric
//! code with their own reference values (scipy), checked on their own.

/// A summary statistic as printed: 4 decimals (as the run JSON rounds its metrics), shortest form.
pub(super) fn stat_text(x: f64) -> String {
    let r = crate::metrics::round4(x);
    format!("{}", if r == 0.0 { 0.0 } else { r })
}

/// t_{0.975, df} for df = 1..=30 (scipy.stats.t.ppf).
const T975: [f64; 30] = [
    12.706204736174694,
    4.302652729749462,
    3.1824463052837078,
    2.7764451051977934,
    2.5705818356363146,
    2.4469118511449786,
    2.364624251592784,
    2.306004135204166,
    2.262157162798205,
    2.228138851986274,
    2.200985160091639,
    2.1788128296672284,
    2.1603686564627913,
    2.144786687917804,
    2.131449545559776,
    2.1199052992212546,
    2.1098155778333156,
    2.1009220402410382,
    2.0930240544083087,
    2.085963447265864,
    2.0796138447276795,
    2.0738730679040254,
    2.0686576104190486,
    2.0638985616280245,
    2.0595385527532972,
    2.0555294386428735,
    2.0518305164802846,
    2.0484071417952454,
    2.045229642132703,
    2.0422724563012378,
];

/// The 0.975 quantile of Student's t with `df` degrees of freedom (`df >= 1`): the table up to
/// 30, then the Cornish-Fisher expansion around the normal quantile (error below 3e-8 there).
pub fn t975(df: usize) -> f64 {
    if (1..=30).contains(&df) {
        return T975[df - 1];
    }
    let z: f64 = 1.959963984540054;
    let v = df.max(1) as f64;
    let (z3, z5, z7, z9) = (z.powi(3), z.powi(5), z.powi(7), z.powi(9));
    z + (z3 + z) / (4.0 * v)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v.powi(3))
        + (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / (92160.0 * v.powi(4))
}

/// Mean and the half-width of its 95 % confidence interval, `t_{0.975,n-1} s / sqrt(n)` (`None`
/// for one sample); `None` for no samples.
pub fn mean_ci95(xs: &[f64]) -> Option<(f64, Option<f64>)> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Some((mean, None));
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some((mean, Some(t975(n - 1) * (var / n as f64).sqrt())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_and_intervals() {
        assert_eq!(t975(1), 12.706204736174694);
        for (df, t) in [
            (31, 2.039513446396408),
            (40, 2.021075390306273),
            (120, 1.9799304050824402),
            (1000, 1.9623390808264083),
        ] {
            assert!((t975(df) - t).abs() < 1e-7, "df {df}: {} vs {t}", t975(df));
        }
        assert_eq!(mean_ci95(&[]), None);
        assert_eq!(mean_ci95(&[2.0]), Some((2.0, None)));
        let (m, ci) = mean_ci95(&[1.0, 2.0, 3.0]).expect("three");
        assert_eq!(m, 2.0);
        assert!((ci.unwrap_or(0.0) - 4.302652729749462 / 3f64.sqrt()).abs() < 1e-12);
    }
}
