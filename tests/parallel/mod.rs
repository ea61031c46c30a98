//! `parallel`: LLMs from their architecture across several GPUs. A tensor-parallel replica splits
//! its weights and KV cache among its GPUs, pays an all-reduce per layer over the GPU type's
//! interconnect, is placed only on whole, consecutive GPUs of one node, and goes down with any of
//! its GPUs.

use crate::common::*;

/// Llama-3.1-70B's shape (config.json of meta-llama/Llama-3.1-70B-Instruct), BF16.
const LLAMA70B: &str = r#"kind = "llm"
arch = { layers = 80, hidden = 8192, heads = 64, kv_heads = 8, head_dim = 128, intermediate = 28672, vocab = 128256, params_b = 70.6, dtype = "bf16" }"#;

/// One 70B replica of `tp` GPUs on `gpu`, at `rate_rps` of 467-token prompts and 256-token
/// replies (the input/output lengths of NVIDIA's Triton TRT-LLM 70B benchmark).
fn scenario(gpu: &str, tp: u32, gpus: &str, rate_rps: f64, extra: &str) -> String {
    format!(
        r#"
name = "tp"
duration_s = 120
warmup_s = 10
drain_s = 120
[models.llama70b]
{LLAMA70B}
tensor_parallel = {tp}
[models.small]
from = "h100/tts"
[[workload]]
model = "llama70b"
arrivals = {{ process = "poisson", rate_rps = {rate_rps} }}
size = {{ dist = "uniform", min = 466, max = 468 }}
out_tokens = {{ dist = "uniform", min = 255, max = 257 }}
{extra}
[[variant]]
name = "v"
gpu = "{gpu}"
gpus = {gpus}
"#
    )
}

fn dedicated(n: u32) -> String {
    format!(r#"[{{ regime = "dedicated", models = ["llama70b"], count = {n} }}]"#)
}

/// Mean time per output token after the first [ms], at a load low enough that a request decodes
/// alone most of the time.
fn inter_token_ms(text: &str) -> f64 {
    let sc = parse(text);
    let r = run(&sc, 0, 3);
    let m = &r.models["llama70b"];
    let ttft = m.ttft_ms.as_ref().expect("an LLM reports TTFT").mean;
    (m.latency_ms.mean - ttft) / 255.0
}

#[test]
fn weights_and_kv_cache_split_among_the_gpus() {
    // 70.6e9 BF16 weights (131.5 GiB) do not fit one 80 GB H100; they fit two.
    let err = parse_err(&scenario("h100-80gb", 1, &dedicated(1), 1.0, ""));
    assert!(err.contains("llama70b") && err.contains("memory"), "{err}");
    let kv = |tp: u32| {
        let sc = parse(&scenario("h100-80gb", tp, &dedicated(tp), 1.0, ""));
        let s = &sc.variants[0].placement.servers;
        assert_eq!(s.len(), 1, "one replica");
        assert_eq!(s[0].gpus, tp);
        s[0].kv_tokens
    };
    let (kv2, kv4, kv8) = (kv(2), kv(4), kv(8));
    // Each GPU adds its memory less its activation reserve; the weights are paid once.
    let per_gpu = (kv4 - kv2) / 2;
    assert!(per_gpu > 0 && kv2 < per_gpu * 2, "tp2 {kv2}, tp4 {kv4}");
    assert!((kv8 - kv4).abs_diff(4 * per_gpu) <= 4, "tp8 {kv8} = tp4 {kv4} + 4 x {per_gpu}");
    // Llama-3.1-70B: 2 (K, V) x 80 layers x 8 KV heads x 128 x 2 bytes = 320 KiB a token.
    let bytes_per_gpu = (72.0 - 1.0 - 2.0 * 8192.0 * (8192.0 + 28672.0) * 2.0 / f64::from(1u32 << 30)) * f64::from(1u32 << 30);
    assert_close(per_gpu as f64, bytes_per_gpu / 327_680.0, 0.02, "KV tokens each GPU adds");
}

#[test]
fn inter_token_latency_follows_the_interconnect() {
    // Low load: one sequence decodes at a time, its step is the weights' read plus 160 all-reduces.
    let nvlink = inter_token_ms(&scenario("h100-80gb", 4, &dedicated(4), 0.05, ""));
    // NVIDIA's Triton TRT-LLM 70B BF16 TP4 H100 SXM, 467/256 tokens: ~21 ms inter-token latency at
    // the lowest load (Triton Inference Server performance docs; docs/src/sources.md S7.8). Held
    // out: nothing of the 70B or of TP was fitted.
    assert!((nvlink - 21.0).abs() / 21.0 < 0.2, "70B TP4 inter-token {nvlink:.1} ms vs ~21 ms published");
    // Four GPUs read a quarter of the weights each: from TP2 to TP4 the step nearly halves over
    // NVSwitch. The H100 PCIe pairs cards over NVLink bridges; four of them all-reduce over PCIe,
    // which takes back much of the gain.
    let nvlink2 = inter_token_ms(&scenario("h100-80gb", 2, &dedicated(2), 0.05, ""));
    let bridged = inter_token_ms(&scenario("h100-pcie", 2, &dedicated(2), 0.05, ""));
    let pcie = inter_token_ms(&scenario("h100-pcie", 4, &dedicated(4), 0.05, ""));
    let (gain_nvlink, gain_pcie) = (nvlink2 / nvlink, bridged / pcie);
    assert!(gain_nvlink > 1.4, "SXM TP2 {nvlink2:.1} ms -> TP4 {nvlink:.1} ms");
    assert!(gain_pcie < gain_nvlink - 0.1, "PCIe TP2 {bridged:.1} ms -> TP4 {pcie:.1} ms gains {gain_pcie:.2}x, NVSwitch {gain_nvlink:.2}x");
}

#[test]
fn a_group_goes_down_with_any_of_its_gpus() {
    // The TTS time-sliced on GPU 3, the replica's last member: a device reset there takes the
    // whole replica down; a TTS process crash does not.
    let gpus = r#"[{ regime = "dedicated", models = ["llama70b"], count = 3 }, { regime = "time-sliced", models = ["llama70b", "small"] }]"#;
    let tts = r#"[[workload]]
model = "small"
arrivals = { process = "poisson", rate_rps = 1 }
size = { dist = "uniform", min = 50, max = 200 }"#;
    let fault = |kind: &str| {
        let text = scenario("h100-80gb", 4, gpus, 1.0, tts)
            + &format!(r#"faults = [{{ model = "small", kind = "{kind}", at_s = 40, restart_s = 30 }}]"#);
        let r = run(&parse(&text), 0, 5);
        r.models["llama70b"].availability
    };
    let reset = fault("device-reset");
    let crash = fault("process");
    assert!(reset < 0.9, "a reset of a member GPU must take the replica down: availability {reset}");
    assert!(crash > 0.999, "a co-tenant's crash must not: availability {crash}");
}

#[test]
fn groups_need_whole_consecutive_gpus_of_one_node() {
    let cases = [
        // Not a multiple of the replica's GPUs.
        (dedicated(3), "multiple of 4"),
        // Not consecutive.
        (
            r#"[{ regime = "dedicated", models = ["llama70b"], count = 2 }, { regime = "dedicated", models = ["small"] }, { regime = "dedicated", models = ["llama70b"], count = 2 }]"#.to_string(),
            "consecutive",
        ),
        // Across two 8-GPU nodes.
        (
            r#"[{ regime = "dedicated", models = ["small"], count = 6 }, { regime = "dedicated", models = ["llama70b"], count = 4 }]"#.to_string(),
            "nodes",
        ),
        // MIG instances cannot be tensor-parallel peers.
        (
            r#"[{ regime = "mig", layout = "7g.80gb", models = ["llama70b"], count = 4 }]"#.to_string(),
            "whole GPUs",
        ),
    ];
    for (gpus, want) in cases {
        let err = parse_err(&scenario("h100-80gb", 4, &gpus, 1.0, ""));
        assert!(err.contains("llama70b") && err.contains(want), "{gpus}: {err}");
    }
    // tensor_parallel must divide the attention heads (64) and fit a node (8 H100s).
    for (tp, want) in [(3, "heads"), (16, "node")] {
        let err = parse_err(&scenario("h100-80gb", tp, &dedicated(tp), 1.0, ""));
        assert!(err.contains(want), "tp {tp}: {err}");
    }
}

/// The planner chooses the tensor-parallel degree of an architecture-defined LLM that leaves it
/// open: the 70B does not fit one H100, so it tries 2, 4 and 8 GPUs a replica; the cheapest
/// layout meeting the SLO is written out with its degree and the Kubernetes pod asks for that
/// many GPUs.
#[test]
fn the_planner_chooses_the_tensor_parallel_degree() {
    let d = TempDir::new("plan-tp");
    let spec = format!(
        r#"
name = "plan-tp"
duration_s = 60
warmup_s = 10
drain_s = 60
[models.llama70b]
{LLAMA70B}
max_context_tokens = 2048
[[workload]]
model = "llama70b"
arrivals = {{ process = "poisson", rate_rps = 4 }}
size = {{ dist = "uniform", min = 200, max = 800 }}
out_tokens = {{ dist = "uniform", min = 50, max = 150 }}
[slo]
"llama70b.ttft_p95_ms" = 400
"llama70b.p95_ms" = 8000
[plan]
gpu_types = ["h100-80gb"]
regimes = ["dedicated"]
seeds = 1
"#
    );
    let path = d.write("spec.toml", &spec);
    let (raw, src) = gpuslice::scenario::files::read_scenario(&path).expect("reads");
    let plan_spec = gpuslice::plan::spec(&raw, &path).expect("spec");
    let choices = gpuslice::plan::tp_choices(&raw, &src, &plan_spec).expect("choices");
    assert_eq!(choices, vec![("llama70b".to_string(), vec![2, 4, 8])]);
    let r = gpuslice::plan::plan(&raw, &src, &|_, _| {}).expect("plans");
    let best = r.best.as_ref().expect("a plan");
    let tp = best.tensor_parallel["llama70b"];
    assert!([2, 4, 8].contains(&tp), "{best:?}");
    assert_eq!(best.gpus % tp, 0, "whole replicas: {} GPUs at TP{tp}", best.gpus);
    // Every degree was searched: candidates of each appear.
    for t in [2, 4, 8] {
        assert!(
            r.candidates.iter().any(|c| c.tensor_parallel.get("llama70b") == Some(&t)),
            "no TP{t} candidate"
        );
    }
    // The emitted scenario carries the degree and reproduces the plan's figures.
    let out = d.path.join("best.toml").display().to_string();
    let text = gpuslice::out::export::emitted_scenario(&raw, &path, &out, best).expect("emits");
    assert!(text.contains(&format!("tensor_parallel = {tp}")), "{text}");
    let sc = parse(&text);
    let s = run(&sc, 0, 1);
    let key = "llama70b.ttft_p95_ms";
    assert_eq!(best.slo_values[key], s.models["llama70b"].ttft_ms.map(|t| (t.p95 * 1e4).round() / 1e4), "{key}");
    // One pod per replica, asking for all its GPUs.
    let files = gpuslice::out::k8s::emit(&gpuslice::out::export::k8s_deployment("plan-tp", best)).expect("k8s");
    let dep = files.iter().find(|f| f.name.contains("llama70b")).expect("a Deployment");
    assert!(dep.text.contains(&format!("replicas: {}", best.gpus / tp)), "{}", dep.text);
    assert!(dep.text.contains(&format!("nvidia.com/gpu: {tp}")), "{}", dep.text);
}

/// A tensor-parallel replica is one device and one server: replaying the Azure conversation
/// trace on a 70B over 4 GPUs costs no more engine events per request than on the measured 8B
/// on one (the collectives are costed inside each step, not simulated as events).
#[test]
fn a_tensor_parallel_replay_costs_no_more_events_per_request() {
    let trace = repo().join("traces/azure/AzureLLMInferenceTrace_conv.csv").display().to_string();
    let per_request = |model: &str, count: u32| {
        let text = format!(
            r#"
name = "azure-events"
duration_s = 300
warmup_s = 0
drain_s = 120
[models.llama70b]
{LLAMA70B}
tensor_parallel = 4
[models.llm]
from = "h100/llm"
[[workload]]
model = "{model}"
trace = "{trace}"
[[variant]]
name = "v"
gpu = "h100-80gb"
gpus = [{{ regime = "dedicated", models = ["{model}"], count = {count} }}]
"#
        );
        let r = run(&parse(&text), 0, 1);
        let m = &r.models[model];
        r.events as f64 / (m.completed + m.failed) as f64
    };
    let (tp4, one) = (per_request("llama70b", 4), per_request("llm", 1));
    eprintln!("events a request: 70B TP4 {tp4:.2}, 8B {one:.2}");
    assert!(tp4 <= one * 1.05, "70B TP4 {tp4:.1} events a request vs 8B {one:.1}");
}
