//! `llm`: LLM serving engines. Decode steps advanced in blocks give per-request results identical
//! to stepping (Poisson, closed-loop and trace workloads, every policy); the paged KV cache is
//! sized from memory, preempts by recompute when it runs out and refuses a request that can
//! never fit; chunked and static batching behave as their policies say.

use crate::common::*;
use gpuslice::sim::Simulation;

/// Every request's (arrival, first token, finish), run with and without decode blocks.
fn records(text: &str, blocks: bool) -> Vec<Option<(u64, u64, u64)>> {
    let sc = parse(text);
    let mut sim = Simulation::new(&sc, 0, 7).expect("builds");
    sim.set_decode_blocks(blocks);
    sim.keep_records().expect("before the first event");
    while sim.step() {}
    sim.request_records()
        .expect("kept")
        .into_iter()
        .map(|r| r.map(|r| (r.arrival, r.first_token, r.finish)))
        .collect()
}

fn scenario(policy: &str, workload: &str, extra_model: &str) -> String {
    format!(
        r#"
name = "llm-exact"
duration_s = 60
warmup_s = 0
drain_s = 600
[models.llm]
from = "h100/llm"
scheduler = "{policy}"
{extra_model}
[[workload]]
model = "llm"
{workload}
[[variant]]
name = "v"
gpu = "h100-80gb"
gpus = [{{ regime = "dedicated", models = ["llm"] }}]
"#
    )
}

const POISSON: &str = r#"arrivals = { process = "poisson", rate_rps = 3 }
size = { dist = "lognormal", median = 300, sigma = 0.8, min = 16, max = 1500 }
out_tokens = { dist = "lognormal", median = 200, sigma = 0.7, min = 2, max = 1200 }"#;
/// Long replies at a rate that keeps ~60 requests decoding: ~60k tokens of KV in flight.
const HEAVY: &str = r#"arrivals = { process = "poisson", rate_rps = 6 }
size = { dist = "uniform", min = 500, max = 1500 }
out_tokens = { dist = "uniform", min = 400, max = 1200 }"#;
const CLOSED: &str = r#"users = 12
think_s = 0.5
think = "exponential"
size = { dist = "uniform", min = 50, max = 900 }
out_tokens = { dist = "uniform", min = 1, max = 600 }"#;

/// The exactness contract of event skipping: identical per-request results, every policy and
/// workload kind, with a KV cache small enough to preempt.
#[test]
fn decode_blocks_are_exact() {
    let d = TempDir::new("llm-trace");
    let mut trace = String::from("id,arrival_s,prompt_tokens,output_tokens\n");
    for i in 0..150 {
        trace.push_str(&format!(
            "{i},{:.6},{},{}\n",
            i as f64 * 0.37 + (i % 7) as f64 * 0.05,
            64 + (i * 37) % 1400,
            1 + (i * 53) % 700
        ));
    }
    let t = d.write("trace.csv", &trace);
    let traced = format!("trace = \"{t}\"");
    for policy in ["prefill-first", "chunked", "static"] {
        for (name, w) in [("poisson", POISSON), ("closed", CLOSED), ("trace", traced.as_str())] {
            // 20 GiB: weights 15 + reserve 1 leave ~4 GiB, ~31k tokens: preemptions happen.
            let text = scenario(policy, w, "memory_gib = 20\nmax_batch = 64");
            let a = records(&text, true);
            let b = records(&text, false);
            let done = a.iter().flatten().count();
            assert!(done > 50, "{policy} {name}: only {done} requests finished");
            assert_eq!(a, b, "{policy} {name}: blocks differ from stepping");
        }
    }
}

/// KV capacity follows the formula (memory - weights - reserve) / (2 x layers x kv heads x head
/// dim x bytes), and a cache that runs out preempts (recompute) rather than failing.
#[test]
fn kv_cache_is_sized_from_memory_and_preempts() {
    let m = gpuslice::model::builtin("h100/llm").expect("built-in").expect("parses");
    let l = m.llm.as_ref().expect("llm");
    assert_eq!(
        l.kv_bytes_per_token(),
        2.0 * 32.0 * 8.0 * 128.0 * 2.0,
        "Llama-3.1-8B: 128 KiB per token"
    );
    let tokens = gpuslice::deploy::placement::kv_capacity_tokens(l, &m, 20.0, 1);
    let want = ((20.0 - m.memory.weights_gib - l.activation_reserve_gib) * (1u64 << 30) as f64 / 131072.0).floor() as u64;
    assert_eq!(tokens, want);
    let sc = parse(&scenario("chunked", HEAVY, "memory_gib = 20\nmax_batch = 64"));
    let r = run(&sc, 0, 7);
    let pre = r.models["llm"].preemptions.expect("an LLM reports preemptions");
    assert!(pre > 0, "a ~31k-token cache under this load must preempt");
    let big = run(&parse(&scenario("chunked", HEAVY, "max_batch = 64")), 0, 7);
    assert_eq!(big.models["llm"].preemptions, Some(0), "with the whole H100 nothing is preempted");
}

/// A request that can never fit: max_context_tokens beyond the KV cache the server gets is an
/// error naming the variant, the server, its capacity and the context.
#[test]
fn a_request_that_cannot_fit_is_an_error() {
    let e = parse_err(&scenario("chunked", POISSON, "memory_gib = 16.5\nmax_context_tokens = 8192"));
    assert!(
        e.contains("max_context_tokens") && e.contains("8192") && e.contains("KV cache"),
        "{e}"
    );
}

/// Static batching, which admits no one until the whole batch has finished, has the worst TTFT
/// of the three policies on the same GPU and load.
#[test]
fn policies_order_ttft_as_their_mechanisms_say() {
    let ttft = |p: &str| {
        let r = run(&parse(&scenario(p, POISSON, "max_batch = 64")), 0, 3);
        r.models["llm"].ttft_ms.expect("ttft").p95
    };
    let (pf, ch, st) = (ttft("prefill-first"), ttft("chunked"), ttft("static"));
    eprintln!("TTFT p95: prefill-first {pf:.0} ms, chunked {ch:.0} ms, static {st:.0} ms");
    assert!(st > pf && st > ch, "static {st} vs prefill-first {pf}, chunked {ch}");
}

/// `gpuslice catalog --model h100/llm` prints the KV capacity of the 8B model on an H100-80GB, an
/// A100-40GB and a 3g.40gb slice by the formula: (0.9 x memory - weights - reserve) / 128 KiB.
#[test]
fn catalog_prints_kv_capacity_by_the_formula() {
    let text = gpuslice::cli::catalog::kv_text("h100/llm", None).expect("prints");
    let m = gpuslice::model::builtin("h100/llm").expect("built-in").expect("parses");
    let cat = gpuslice::gpu::Catalog::builtin();
    for (gpu, device, memory_gib) in [
        ("h100-80gb", "whole", cat.gpu("h100-80gb").expect("h100").memory_gib),
        ("a100-40gb", "whole", 40.0),
        ("h100-80gb", "3g.40gb", 39.5),
        ("a100-80gb", "3g.40gb", 39.25),
    ] {
        let row = text
            .lines()
            .find(|l| l.split_whitespace().take(2).eq([gpu, device]))
            .unwrap_or_else(|| panic!("no row {gpu} {device} in\n{text}"));
        let tokens: u64 = row.split_whitespace().nth(4).and_then(|t| t.parse().ok()).expect("tokens");
        let free = 0.9 * memory_gib - m.memory.weights_gib - 1.0;
        let want = (free * (1u64 << 30) as f64 / 131072.0).floor() as u64;
        assert_eq!(tokens, want, "{row}");
    }
    // An 8B model on an 80 GB GPU holds hundreds of sequences; a 1g.10gb slice cannot hold it.
    assert!(
        text.lines().any(|l| l.starts_with("h100-80gb  1g.10gb ") && l.contains("no fit")),
        "{text}"
    );
    let e = gpuslice::cli::catalog::kv_text("h100/asr", None)
        .expect_err("ASR has no KV cache")
        .to_string();
    assert!(e.contains("not an LLM"), "{e}");
}
