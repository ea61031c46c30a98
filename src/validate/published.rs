//! The simulator against figures others published rather than runs of ours: device throughput
//! ratios (MLPerf, TensorRT-LLM, Parakeet NIM) against the scaling model, and the LLM engines
//! against NVIDIA's GenAI-Perf sweep. Kept apart from the replays because each figure carries its
//! source and the comparison is built from a model, not read from a measured folder.

use crate::error::{Error, Result};
use crate::gpu::Catalog;
use crate::metrics::round4;
use crate::model::{DeviceShare, Slowdown};
use crate::scenario::from_raw;
use crate::sim::Simulation;
use serde::Serialize;
use std::path::Path;

/// One predicted-vs-published throughput ratio between two devices.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedRatio {
    /// What is compared.
    pub what: String,
    /// Published ratio (device / baseline throughput).
    pub published: f64,
    /// Predicted by the scaling model for the cell named in `what`.
    pub predicted: f64,
    /// (predicted - published) / published * 100.
    pub error_pct: f64,
    /// Source of the published figure.
    pub source: String,
    /// For a MIG slice against its whole GPU: the slice size (`1g`, `2g`, `3g`, ...), by which
    /// `accuracy` summarises the errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mig_slice: Option<String>,
}

/// The throughput ratio `share / baseline` the scaling model predicts for one cell of a built-in
/// model (the inverse of the latency ratio).
fn predicted_ratio(model: &str, op: &str, batch: u32, size: f64, share: &DeviceShare, baseline: &DeviceShare) -> Result<f64> {
    predicted_busy_ratio(model, op, batch, size, share, baseline, 1)
}

/// The throughput of `busy` identical MIG instances `share`, all running the cell at once, over
/// `baseline`'s: each one paced by the power budget they share (what `Simulation` does for calls
/// that start while their neighbours run, `sim::power`).
fn predicted_busy_ratio(model: &str, op: &str, batch: u32, size: f64, share: &DeviceShare, baseline: &DeviceShare, busy: u32) -> Result<f64> {
    let m = crate::model::builtin(model).ok_or_else(|| Error::Infeasible(format!("built-in model {model} missing")))??;
    let reference = Catalog::builtin()
        .gpu(&m.reference_gpu)
        .ok_or_else(|| Error::Infeasible("reference GPU missing".into()))?;
    let t = m.op(op);
    let base = t.latency_ms(batch, size, &Slowdown::of(&m.scaling, reference, baseline)).0;
    let slow = Slowdown::of(&m.scaling, reference, share);
    let (fixed, compute) = t.fractions(batch as f64, size);
    let [f, c, mem] = slow.parts(fixed, compute);
    let own = c / (f + c + mem) * share.sm_fraction;
    let k = share.sharing.clock_slowdown(own, own * f64::from(busy));
    let alone = t.latency_ms(batch, size, &slow).0;
    Ok(f64::from(busy) * base / (alone * ((f + c) * k + mem) / (f + c + mem)))
}

const MLPERF_V11: &str =
    "MLPerf Inference v1.1, NVIDIA DGX-A100 x1 vs MIG_1x1g.10gb (github.com/mlcommons/inference_results_v1.1, closed/NVIDIA/results; docs/sources.md S7.1)";
const MLPERF_V11_56: &str =
    "MLPerf Inference v1.1, NVIDIA DGX-A100 MIG_56x1g.10gb_TRT_Triton vs DGX-A100 x8 (github.com/mlcommons/inference_results_v1.1, closed/NVIDIA/results); the A100 power knee was fitted on these (docs/src/model/sharing.md)";
const MLPERF_V30_AZURE: &str = "MLPerf Inference v3.0, Azure NC96ads_A100_v4 (A100-PCIe-80GB) MIG 1g.10gb vs per-GPU (github.com/mlcommons/inference_results_v3.0, closed/Azure/results); predicted as the SXM A100-80GB";
const MLPERF_V30: &str = "MLPerf Inference v3.0, NVIDIA DGX-A100 vs DGX-H100, TensorRT 8.6 (github.com/mlcommons/inference_results_v3.0, closed/NVIDIA/results; docs/mlperf-a100-h100.md)";
const TRTLLM: &str = "TensorRT-LLM v0.14.0 perf-overview, Llama-3.1-8B FP16 TP1 (github.com/NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md; docs/mlperf-a100-h100.md)";
const CONVO: &str =
    "Parakeet CTC 1.1B NIM on H100, github.com/anudeepbablu/convo_ai_benchmarks BENCHMARK_FINDINGS.md (docs/sources.md S7.2)";

/// Published same-software ratios between devices (MIG slices vs whole GPUs, A100 vs H100),
/// each against the scaling model's prediction for the most similar calibrated call: the ASR
/// shape for speech (RNN-T, Parakeet), the 2048-token prefill for compute-bound networks and
/// prefill-heavy LLM serving, the batch-32 decode step for decode-heavy LLM serving. The A100's
/// compute efficiency (models/gpus.toml) was chosen on the compute-bound MLPerf v3.0 rows, so
/// those rows check the rule's consistency rather than test it; the others are independent.
pub fn published_comparisons() -> Result<Vec<PublishedRatio>> {
    let cat = Catalog::builtin();
    let get = |n: &str| {
        cat.gpu(n)
            .cloned()
            .ok_or_else(|| Error::Infeasible(format!("{n} missing from catalog")))
    };
    let (h100, a100) = (get("h100-80gb")?, get("a100-80gb")?);
    let slice = |gpu: &crate::gpu::GpuSpec, profile: &str| -> Result<DeviceShare> {
        let p = gpu
            .mig_profile(profile)
            .ok_or_else(|| Error::Infeasible(format!("{profile} missing")))?;
        Ok(DeviceShare::of(gpu, p.sms as f64 / gpu.sm_count as f64, p.mem_slices as f64 / 8.0))
    };
    let (a_full, h_full) = (DeviceShare::whole(&a100), DeviceShare::whole(&h100));
    let a_1g = slice(&a100, "1g.10gb")?;
    let h_3g = slice(&h100, "3g.40gb")?;
    let asr_sat = |d: &DeviceShare, base: &DeviceShare| predicted_ratio("h100/asr", "encode", 32, 30.0, d, base);
    let prefill = |d: &DeviceShare, base: &DeviceShare| predicted_ratio("h100/llm", "prefill", 1, 2048.0, d, base);
    let decode = |d: &DeviceShare, base: &DeviceShare| predicted_ratio("h100/llm", "decode", 32, 2049.0, d, base);
    let mut rows = Vec::new();
    let mut push = |what: String, published: f64, predicted: f64, source: &str, mig_slice: Option<&str>| {
        rows.push(PublishedRatio {
            what,
            published,
            predicted: round4(predicted),
            error_pct: round4((predicted - published) / published * 100.0),
            source: source.into(),
            mig_slice: mig_slice.map(str::to_string),
        })
    };
    push(
        "A100-80GB 1g.10gb / whole, offline, MLPerf RNN-T vs ASR encode 32 x 30 s".into(),
        0.114,
        asr_sat(&a_1g, &a_full)?,
        MLPERF_V11,
        Some("1g"),
    );
    for (bench, published) in [
        ("BERT-99", 0.139),
        ("ResNet-50", 0.133),
        ("SSD-ResNet34", 0.135),
        ("3D-UNet-99", 0.123),
    ] {
        push(
            format!("A100-80GB 1g.10gb / whole, offline, MLPerf {bench} vs LLM prefill 2048"),
            published,
            prefill(&a_1g, &a_full)?,
            MLPERF_V11,
            Some("1g"),
        );
    }
    for (bench, published) in [
        ("BERT-99", 25_677.1 / 28_302.1),
        ("ResNet-50", 283_469.0 / 313_516.0),
        ("SSD-ResNet34", 7_315.81 / 7_851.27),
        ("3D-UNet-99", 420.558 / 486.569),
    ] {
        push(
            format!("A100-80GB 7 x 1g.10gb all busy / whole, offline, MLPerf {bench} vs LLM prefill 2048"),
            published,
            predicted_busy_ratio("h100/llm", "prefill", 1, 2048.0, &a_1g, &a_full, 7)?,
            MLPERF_V11_56,
            Some("7x1g"),
        );
    }
    push(
        "A100-PCIe-80GB 1g.10gb / whole, offline, MLPerf RNN-T vs ASR encode 32 x 30 s".into(),
        1_877.49 / 12_982.0,
        asr_sat(&a_1g, &a_full)?,
        MLPERF_V30_AZURE,
        Some("1g"),
    );
    for (bench, published) in [("BERT-99", 491.53 / 3_113.9), ("ResNet-50", 5_361.73 / 38_717.0)] {
        push(
            format!("A100-PCIe-80GB 1g.10gb / whole, offline, MLPerf {bench} vs LLM prefill 2048"),
            published,
            prefill(&a_1g, &a_full)?,
            MLPERF_V30_AZURE,
            Some("1g"),
        );
    }
    push(
        "H100 3g.40gb / whole, Parakeet latency at concurrency 1 (67/75 ms) vs ASR encode 1 x 10 s".into(),
        67.0 / 75.0,
        predicted_ratio("h100/asr", "encode", 1, 10.0, &h_3g, &h_full)?,
        CONVO,
        Some("3g"),
    );
    push(
        "H100 3g.40gb / whole, Parakeet throughput at concurrency 16 (45.9/44.4 r/s) vs ASR encode 16 x 10 s".into(),
        45.9 / 44.4,
        predicted_ratio("h100/asr", "encode", 16, 10.0, &h_3g, &h_full)?,
        CONVO,
        Some("3g"),
    );
    push(
        "A100 / H100 (SXM), offline, MLPerf RNN-T vs ASR encode 32 x 30 s".into(),
        0.610,
        asr_sat(&a_full, &h_full)?,
        MLPERF_V30,
        None,
    );
    for (bench, published) in [
        ("BERT-99", 0.383),
        ("ResNet-50", 0.462),
        ("RetinaNet", 0.493),
        ("3D-UNet-99", 0.560),
        ("DLRM-99", 0.410),
    ] {
        push(
            format!("A100 / H100 (SXM), offline, MLPerf {bench} vs LLM prefill 2048"),
            published,
            prefill(&a_full, &h_full)?,
            MLPERF_V30,
            None,
        );
    }
    push(
        "A100 / H100, Llama-3.1-8B 2048 in / 128 out vs LLM prefill 2048".into(),
        0.418,
        prefill(&a_full, &h_full)?,
        TRTLLM,
        None,
    );
    for (io, published) in [("1000 in / 1000 out", 0.515), ("128 in / 2048 out", 0.542)] {
        push(
            format!("A100 / H100, Llama-3.1-8B {io} vs LLM decode 32 x 2048"),
            published,
            decode(&a_full, &h_full)?,
            TRTLLM,
            None,
        );
    }
    Ok(rows)
}

/// A GenAI-Perf run as a scenario: its concurrency as closed-loop users with no think time and
/// its fixed prompt and reply lengths, for 120 s (20 s warm-up) on one dedicated H100, against the
/// model `from` with the extra `[models.llm]` lines `model_lines`.
pub fn load_run_scenario(from: &str, model_lines: &str, run: &crate::model::calibrate::LoadRun) -> String {
    format!(
        r#"name = "genai-perf-replay"
duration_s = 120
warmup_s = 20
[models.llm]
from = "{from}"
{model_lines}
[[workload]]
model = "llm"
users = {c}
think_s = 0
ramp_up_s = 5
size = {{ dist = "fixed", value = {isl} }}
out_tokens = {{ dist = "fixed", value = {osl} }}
[[variant]]
name = "h100"
gpu = "h100-80gb"
gpus = [{{ regime = "dedicated", models = ["llm"] }}]
"#,
        c = run.concurrency,
        isl = run.input_tokens,
        osl = run.output_tokens
    )
}

/// One figure of the LLM engine check against a published GenAI-Perf sweep.
#[derive(Debug, Clone, Serialize)]
pub struct EngineCheck {
    /// The server's scheduling policy.
    pub policy: &'static str,
    /// Concurrent clients.
    pub concurrency: f64,
    /// True for the concurrencies the model was fitted on.
    pub fitted: bool,
    /// `ttft_p50_ms`, `itl_ms` or `throughput_rps`.
    pub metric: &'static str,
    /// Published value.
    pub published: f64,
    /// Simulated value.
    pub simulated: f64,
    /// (simulated - published) / published [%].
    pub error_pct: f64,
}

/// The LLM engines against NVIDIA's published NIM sweep of Llama-3.1-8B on an H100
/// (traces/genai-perf: concurrency 1, 5, 25, 50, 200/200 tokens): the prefill and decode
/// tables are fitted on concurrency 1 and 5 only, as `gpuslice calibrate --genai-perf` does; the
/// server then runs the `prefill-first` or the `chunked` policy (mixed steps costed as decode +
/// the prefill's extra time) and predicts 25 and 50, where batches are 5-10x larger and
/// prefills share steps with decodes.
pub fn engine_check(fixture_dir: &str) -> Result<Vec<EngineCheck>> {
    let file = |c: u32| {
        let d = format!("{fixture_dir}/llama-3.1-8b-h100-openai-chat-concurrency{c}");
        let json = format!("{d}/profile_export_genai_perf.json");
        if Path::new(&json).exists() {
            json
        } else {
            format!("{d}/profile_export_genai_perf.csv")
        }
    };
    let all: Vec<String> = [1, 5, 25, 50].map(file).to_vec();
    // The NIM's engine batches up to 256 sequences (`trtllm-build --max_batch_size`, default 256:
    // TensorRT-LLM docs, "trtllm-build" command reference), far above the fitted concurrencies.
    let mut spec = crate::validate::measured::calibrate_load_runs(&all[..2], "h100-80gb", Some(70.0), Some(256), 8192, None, None)?;
    spec.name = "nim-fit".into();
    let mut src = crate::scenario::files::Sources::none("traces/genai-perf");
    src.models.insert("nim-fit".into(), spec);
    let runs: Vec<_> = all
        .iter()
        .map(|f| crate::validate::measured::read_load_run(f))
        .collect::<Result<_>>()?;
    let mut out = Vec::new();
    for policy in ["prefill-first", "chunked"] {
        for (i, run) in runs.iter().enumerate() {
            let model = format!("scheduler = \"{policy}\"\nmax_batch = 256");
            let raw = crate::scenario::raw::parse(&load_run_scenario("nim-fit", &model, run), "genai-perf replay (embedded)")?;
            let sc = from_raw(&raw, &src)?;
            let s = Simulation::new(&sc, 0, 1)?.run_to_end();
            let m = &s.models["llm"];
            let ttft = m.ttft_ms.unwrap_or_default();
            let itl = (m.latency_ms.mean - ttft.mean) / (run.output_tokens - 1.0).max(1.0);
            for (metric, published, simulated) in [
                ("ttft_p50_ms", run.ttft_p50_ms, ttft.p50),
                ("itl_ms", run.itl_avg_ms, itl),
                ("throughput_rps", run.throughput_rps, m.throughput_rps),
            ] {
                out.push(EngineCheck {
                    policy,
                    concurrency: run.concurrency,
                    fitted: i < 2,
                    metric,
                    published,
                    simulated: round4(simulated),
                    error_pct: round4((simulated - published) / published * 100.0),
                });
            }
        }
    }
    Ok(out)
}

/// One figure of the architecture-derived LLMs against a published serving benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct ArchCheck {
    /// Model, GPUs, tensor-parallel degree, lengths and load.
    pub what: String,
    /// `ttft_mean_ms`, `itl_mean_ms` or `output_tok_per_s`.
    pub metric: &'static str,
    /// Published value.
    pub published: f64,
    /// Simulated value.
    pub simulated: f64,
    /// (simulated - published) / published [%].
    pub error_pct: f64,
    /// False where the model's shape is the one its op efficiencies were fitted on (the 8B on
    /// one H100); the 70B, every multi-GPU degree and the A100 are held out.
    pub held_out: bool,
    /// Source of the published figure.
    pub source: &'static str,
}

const TRTLLM_ONLINE: &str = "TensorRT-LLM v0.14.0 perf-overview, Online Serving Measurements (Triton TRT-LLM backend, BF16, 500 requests) (github.com/NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md; docs/src/sources.md S7.8)";
const TRTLLM_OFFLINE: &str = "TensorRT-LLM v0.14.0 perf-overview, LLaMA v3 70B FP16 max-throughput (trtllm-bench, all requests queued at once) (github.com/NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md; docs/src/sources.md S7.8)";

/// Llama-3.1-8B and -70B (their Hugging Face config.json), 16-bit weights.
const LLAMA8B_ARCH: &str = "{ layers = 32, hidden = 4096, heads = 32, kv_heads = 8, head_dim = 128, intermediate = 14336, vocab = 128256, params_b = 8.03, dtype = \"bf16\" }";
const LLAMA70B_ARCH: &str = "{ layers = 80, hidden = 8192, heads = 64, kv_heads = 8, head_dim = 128, intermediate = 28672, vocab = 128256, params_b = 70.6, dtype = \"bf16\" }";

/// Mean TTFT, mean inter-token latency and output tokens/s of one derived LLM replica of `tp`
/// GPUs under `load` (workload lines), `isl`/`osl` tokens a request.
fn arch_run(arch: &str, gpu: &str, tp: u32, load: &str, isl: u32, osl: u32, duration_s: u32) -> Result<(f64, f64, f64)> {
    let text = format!(
        r#"name = "published-tp"
duration_s = {duration_s}
warmup_s = 60
drain_s = 0
[models.llm]
kind = "llm"
arch = {arch}
tensor_parallel = {tp}
max_batch = 1024
[[workload]]
model = "llm"
{load}
size = {{ dist = "fixed", value = {isl} }}
out_tokens = {{ dist = "fixed", value = {osl} }}
[[variant]]
name = "v"
gpu = "{gpu}"
gpus = [{{ regime = "dedicated", models = ["llm"], count = {tp} }}]
"#
    );
    let raw = crate::scenario::raw::parse(&text, "published TP check (embedded)")?;
    let sc = from_raw(&raw, &crate::scenario::files::Sources::none("."))?;
    let s = Simulation::new(&sc, 0, 1)?.run_to_end();
    let m = &s.models["llm"];
    let ttft = m.ttft_ms.unwrap_or_default().mean;
    let itl = (m.latency_ms.mean - ttft) / f64::from(osl.max(2) - 1);
    Ok((ttft, itl, m.throughput_rps * f64::from(osl)))
}

/// LLMs defined only by their architecture (no measurement of their own) against NVIDIA's
/// published TensorRT-LLM figures: Llama-3.1-70B over 4 H100s under Poisson load (the Triton
/// harness's offered QPS; its arrival process is not stated), and LLaMA-3-70B's maximum
/// throughput with 4 and 8 H100s or A100s, every request queued at once (here 1,024 clients
/// without think time: as many as the engine admits, the rest wait). The engine is the
/// derived default (chunked, up to 1,024 sequences, KV cache from memory, preemption by
/// recompute); TensorRT-LLM's build heuristics chose its batch limits and it never evicts, so
/// the offline rows also measure that difference. Llama-3.1-8B on one H100 is the shape the op
/// efficiencies were fitted on (`held_out: false`).
pub fn arch_checks() -> Result<Vec<ArchCheck>> {
    let mut out = Vec::new();
    let mut push = |what: String, metric: &'static str, published: f64, simulated: f64, held_out: bool, source: &'static str| {
        out.push(ArchCheck {
            what,
            metric,
            published,
            simulated: round4(simulated),
            error_pct: round4((simulated - published) / published * 100.0),
            held_out,
            source,
        })
    };
    // (model, arch, tp, QPS, published mean TTFT ms, mean ITL ms), 467 in / 256 out, H100 SXM.
    for (model, arch, tp, qps, ttft, itl) in [
        ("Llama-3.1-8B", LLAMA8B_ARCH, 1, 2.0, 23.0, 8.0),
        ("Llama-3.1-8B", LLAMA8B_ARCH, 1, 16.0, 30.0, 11.0),
        ("Llama-3.1-70B", LLAMA70B_ARCH, 4, 2.0, 62.0, 21.0),
        ("Llama-3.1-70B", LLAMA70B_ARCH, 4, 8.0, 92.0, 32.0),
        ("Llama-3.1-70B", LLAMA70B_ARCH, 4, 16.0, 175.0, 66.0),
    ] {
        let load = format!("arrivals = {{ process = \"poisson\", rate_rps = {qps} }}");
        let (s_ttft, s_itl, _) = arch_run(arch, "h100-80gb", tp, &load, 467, 256, 300)?;
        let what = format!("{model} TP{tp} H100, 467/256 tokens, {qps} req/s");
        push(what.clone(), "ttft_mean_ms", ttft, s_ttft, tp > 1, TRTLLM_ONLINE);
        push(what, "itl_mean_ms", itl, s_itl, tp > 1, TRTLLM_ONLINE);
    }
    // (GPU, label, tp, ISL, OSL, published output tok/s), FP16.
    for (gpu, label, tp, isl, osl, tok_s) in [
        ("h100-80gb", "H100", 4, 1000, 1000, 3730.2064),
        ("h100-80gb", "H100", 8, 1000, 1000, 5963.0914),
        ("a100-80gb", "A100-SXM", 4, 1000, 1000, 1765.9123),
        ("a100-80gb", "A100-SXM", 8, 1000, 1000, 3054.8915),
        ("h100-80gb", "H100", 4, 2048, 128, 670.6725),
        ("h100-80gb", "H100", 8, 2048, 128, 1288.7599),
        ("a100-80gb", "A100-SXM", 4, 2048, 128, 278.5717),
        ("a100-80gb", "A100-SXM", 8, 2048, 128, 546.9599),
    ] {
        let arch = LLAMA70B_ARCH.replace("bf16", "fp16");
        let (_, _, s_tok) = arch_run(&arch, gpu, tp, "users = 1024\nthink_s = 0", isl, osl, 600)?;
        let what = format!("LLaMA-3-70B TP{tp} {label}, {isl}/{osl} tokens, all queued");
        push(what, "output_tok_per_s", tok_s, s_tok, true, TRTLLM_OFFLINE);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The architecture-derived LLMs stay within the errors docs/src/accuracy.md states for the
    /// held-out figures (70B, multi-GPU, A100): median 20 %, worst 45 %.
    #[test]
    fn held_out_tensor_parallel_figures_within_the_stated_error() {
        let rows = arch_checks().expect("runs");
        let mut held: Vec<f64> = rows.iter().filter(|r| r.held_out).map(|r| r.error_pct.abs()).collect();
        held.sort_by(f64::total_cmp);
        assert!(held.len() >= 10, "{} held-out rows", held.len());
        let median = held[held.len() / 2];
        let worst = held[held.len() - 1];
        assert!(median < 20.0 && worst < 45.0, "held out: median {median:.1} %, worst {worst:.1} %");
    }
}
