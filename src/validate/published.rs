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
}

/// The throughput ratio `share / baseline` the scaling model predicts for one cell of a built-in
/// model (the inverse of the latency ratio).
fn predicted_ratio(model: &str, op: &str, batch: u32, size: f64, share: &DeviceShare, baseline: &DeviceShare) -> Result<f64> {
    let m = crate::model::builtin(model).ok_or_else(|| Error::Infeasible(format!("built-in model {model} missing")))??;
    let reference = Catalog::builtin()
        .gpu(&m.reference_gpu)
        .ok_or_else(|| Error::Infeasible("reference GPU missing".into()))?;
    let t = m.op(op);
    let at = |d: &DeviceShare| t.latency_ms(batch, size, &Slowdown::of(&m.scaling, reference, d)).0;
    Ok(at(baseline) / at(share))
}

const MLPERF_V11: &str =
    "MLPerf Inference v1.1, NVIDIA DGX-A100 x1 vs MIG_1x1g.10gb (github.com/mlcommons/inference_results_v1.1, closed/NVIDIA/results; docs/sources.md S7.1)";
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
    let mut push = |what: String, published: f64, predicted: f64, source: &str| {
        rows.push(PublishedRatio {
            what,
            published,
            predicted: round4(predicted),
            error_pct: round4((predicted - published) / published * 100.0),
            source: source.into(),
        })
    };
    push(
        "A100-80GB 1g.10gb / whole, offline, MLPerf RNN-T vs ASR encode 32 x 30 s".into(),
        0.114,
        asr_sat(&a_1g, &a_full)?,
        MLPERF_V11,
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
        );
    }
    push(
        "H100 3g.40gb / whole, Parakeet latency at concurrency 1 (67/75 ms) vs ASR encode 1 x 10 s".into(),
        67.0 / 75.0,
        predicted_ratio("h100/asr", "encode", 1, 10.0, &h_3g, &h_full)?,
        CONVO,
    );
    push(
        "H100 3g.40gb / whole, Parakeet throughput at concurrency 16 (45.9/44.4 r/s) vs ASR encode 16 x 10 s".into(),
        45.9 / 44.4,
        predicted_ratio("h100/asr", "encode", 16, 10.0, &h_3g, &h_full)?,
        CONVO,
    );
    push(
        "A100 / H100 (SXM), offline, MLPerf RNN-T vs ASR encode 32 x 30 s".into(),
        0.610,
        asr_sat(&a_full, &h_full)?,
        MLPERF_V30,
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
        );
    }
    push(
        "A100 / H100, Llama-3.1-8B 2048 in / 128 out vs LLM prefill 2048".into(),
        0.418,
        prefill(&a_full, &h_full)?,
        TRTLLM,
    );
    for (io, published) in [("1000 in / 1000 out", 0.515), ("128 in / 2048 out", 0.542)] {
        push(
            format!("A100 / H100, Llama-3.1-8B {io} vs LLM decode 32 x 2048"),
            published,
            decode(&a_full, &h_full)?,
            TRTLLM,
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
    let mut spec = crate::validate::measured::calibrate_load_runs(&all[..2], "h100-80gb", Some(70.0), Some(256), 8192)?;
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
