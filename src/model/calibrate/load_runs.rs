//! An LLM server fitted from load runs (GenAI-Perf / AIPerf concurrency sweeps): prefill and
//! decode tables from each run's time to first token and inter-token latency.

use super::*;
use crate::model::OpTable;
use std::collections::BTreeMap;

/// One GenAI-Perf / AIPerf run of an LLM server at a fixed concurrency (the aggregate export).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadRun {
    /// Concurrent clients.
    pub concurrency: f64,
    /// Mean prompt length [tokens].
    pub input_tokens: f64,
    /// Mean output length [tokens].
    pub output_tokens: f64,
    /// Median time to first token [ms].
    pub ttft_p50_ms: f64,
    /// Mean inter-token latency [ms].
    pub itl_avg_ms: f64,
    /// Request throughput [req/s].
    pub throughput_rps: f64,
}

/// Fit the `prefill` and `decode` tables of an LLM server seen only from outside, by a load
/// generator at several concurrencies (GenAI-Perf / AIPerf exports).
///
/// Reading, for a continuous-batching server with `c` closed-loop clients and no think time:
/// the decode batch is `c`; each decode step is interleaved with `c / output_tokens` prefills
/// on average, so `ITL = decode(c) + (c / output_tokens) * prefill`; at the lowest concurrency
/// TTFT is one prefill with no queue. Hence `prefill(input_tokens) = TTFT_p50 at the lowest
/// concurrency` and `decode(c, context = input + output / 2) = ITL - c / output * prefill`.
/// With a single prompt length, prefill is taken as proportional to tokens beyond it (stated
/// in the diagnostics). Leave-one-out: each concurrency's decode step predicted from the others.
pub fn fit_load_runs(runs: &[LoadRun]) -> Result<(OpTable, OpTable, serde_json::Value), String> {
    if runs.len() < 2 {
        return Err(format!("needs runs at two or more concurrencies, got {}", runs.len()));
    }
    for r in runs {
        for (k, v) in [
            ("concurrency", r.concurrency),
            ("input_sequence_length", r.input_tokens),
            ("output_sequence_length", r.output_tokens),
            ("time_to_first_token", r.ttft_p50_ms),
            ("inter_token_latency", r.itl_avg_ms),
            ("request_throughput", r.throughput_rps),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{k} must be positive, got '{v}' (concurrency {})", r.concurrency));
            }
        }
    }
    let mut runs = runs.to_vec();
    runs.sort_by(|a, b| a.concurrency.total_cmp(&b.concurrency));
    if runs.windows(2).any(|w| w[0].concurrency == w[1].concurrency) {
        return Err("two runs have the same concurrency".into());
    }
    // Prefill points: lowest-concurrency TTFT for each distinct prompt length.
    let mut prefill: BTreeMap<u64, f64> = BTreeMap::new();
    // Runs are sorted by concurrency, so the first run of each prompt length is its lowest.
    for r in &runs {
        prefill.entry(r.input_tokens.round() as u64).or_insert(r.ttft_p50_ms);
    }
    let single_prompt = prefill.len() == 1;
    if single_prompt {
        let (&t, &ms) = prefill.iter().next().ok_or("no prefill point")?;
        prefill.insert(2 * t, 2.0 * ms);
    }
    let prefill_at = |tokens: f64| -> f64 {
        let pts: Vec<(f64, f64)> = prefill.iter().map(|(&t, &v)| (t as f64, v)).collect();
        interp_row(
            &pts.iter().map(|p| p.1).collect::<Vec<_>>(),
            &pts.iter().map(|p| p.0).collect::<Vec<_>>(),
            tokens,
        )
        .max(1e-3)
    };
    let decode_pts: Vec<(f64, f64)> = runs
        .iter()
        .map(|r| {
            (
                r.concurrency,
                (r.itl_avg_ms - r.concurrency / r.output_tokens * prefill_at(r.input_tokens)).max(0.05 * r.itl_avg_ms),
            )
        })
        .collect();
    let context = (runs.iter().map(|r| r.input_tokens + r.output_tokens / 2.0).sum::<f64>() / runs.len() as f64).round();
    let batch: Vec<f64> = decode_pts.iter().map(|p| p.0).collect();
    let decode = OpTable {
        batch_buckets: vec![],
        size_buckets: vec![],
        batch: batch.clone(),
        size: vec![context],
        latency_ms: decode_pts.iter().map(|p| vec![(p.1 * 1e4).round() / 1e4]).collect(),
        fixed_frac: vec![vec![1.0]; batch.len()],
        compute_frac: vec![vec![0.0]; batch.len()],
        extrapolated: Vec::new(),
    };
    let toks: Vec<f64> = prefill.keys().map(|&t| t as f64).collect();
    let pre = OpTable {
        batch_buckets: vec![],
        size_buckets: vec![],
        batch: vec![1.0],
        size: toks.clone(),
        latency_ms: vec![prefill.values().map(|v| (v * 1e4).round() / 1e4).collect()],
        fixed_frac: vec![vec![1.0; toks.len()]],
        compute_frac: vec![vec![0.0; toks.len()]],
        extrapolated: Vec::new(),
    };
    // Leave-one-out over the decode points (interior by interpolation, ends by extrapolation).
    let mut loo = Vec::new();
    if decode_pts.len() >= 3 {
        for k in 0..decode_pts.len() {
            let rest: Vec<(f64, f64)> = decode_pts.iter().enumerate().filter(|(i, _)| *i != k).map(|(_, p)| *p).collect();
            let pred = interp_row(
                &rest.iter().map(|p| p.1).collect::<Vec<_>>(),
                &rest.iter().map(|p| p.0).collect::<Vec<_>>(),
                decode_pts[k].0,
            );
            let v = decode_pts[k].1;
            loo.push(LooPoint {
                batch: decode_pts[k].0,
                size: context,
                measured_ms: v,
                predicted_ms: pred,
                rel_err: (pred - v) / v,
            });
        }
    }
    let d = diag_of(runs.len(), 0, loo, &[]);
    let diag = serde_json::json!({
        "form": "decode(c) = ITL - c/OSL * prefill; prefill = TTFT p50 at the lowest concurrency",
        "single_prompt_length": single_prompt,
        "prefill_rule": if single_prompt { "one prompt length measured: prefill assumed proportional to tokens" } else { "interpolated between measured prompt lengths" },
        "decode": d,
    });
    Ok((pre, decode, diag))
}
