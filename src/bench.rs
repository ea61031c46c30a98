//! `gpuslice bench`: engine throughput and scenario run time, measured with the wall clock
//! (the only place outside the TUI that reads it).

use crate::engine::EventQueue;
use crate::error::Result;
use std::time::Instant;

/// Bench report text.
pub fn bench_text(reps: u32) -> Result<String> {
    let reps = reps.max(1);
    let mut out = String::new();
    // Raw queue: hold model with 1024 pending events, each pop schedules one more.
    let n: u64 = 5_000_000;
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let mut q: EventQueue<(u32, u32)> = EventQueue::new();
        let mut x: u64 = 88172645463325252;
        for i in 0..1024u32 {
            q.schedule(i as u64 * 997, (i, 0));
        }
        let t = Instant::now();
        for _ in 0..n {
            let (now, e) = q.pop().unwrap_or((0, (0, 0)));
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            q.schedule(now + 1 + x % 1_000_000, e);
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    out.push_str(&format!(
        "event queue (1024 pending, pop+push): {:.1} M events/s\n",
        n as f64 / best / 1e6
    ));
    let sc = crate::config::files::default_scenario()?;
    let mut best = f64::INFINITY;
    let mut events = 0;
    for _ in 0..reps {
        let t = Instant::now();
        let runs: Vec<_> = (0..sc.variants.len())
            .map(|v| crate::sim::Simulation::new(&sc, v, 1).map(crate::sim::Simulation::run_to_end))
            .collect::<Result<_>>()?;
        best = best.min(t.elapsed().as_secs_f64());
        events = runs.iter().map(|r| r.events).sum::<u64>();
    }
    out.push_str(&format!(
        "default scenario '{}' ({} variants, one thread): {:.3} s, {} events, {:.2} M events/s\n",
        sc.name,
        sc.variants.len(),
        best,
        events,
        events as f64 / best / 1e6
    ));
    let t = Instant::now();
    crate::sim::run_scenario(&sc, 1)?;
    out.push_str(&format!(
        "default scenario, variants in parallel ({} threads): {:.3} s\n",
        rayon::current_num_threads(),
        t.elapsed().as_secs_f64()
    ));
    out.push_str(&llm_tokens_text(reps)?);
    Ok(out)
}

/// The LLM benchmark's scenario: 14,400 requests (4/s for an hour, 500-token prompts) on one
/// H100 with chunked prefill, every reply `out_tokens` long.
fn llm_tokens_scenario(out_tokens: u32) -> Result<crate::scenario::Scenario> {
    crate::config::files::parse_scenario(
        &format!(
            r#"
name = "bench-llm-{out_tokens}"
duration_s = 3600
warmup_s = 0
drain_s = 600
[models.llm]
from = "h100/llm"
scheduler = "chunked"
max_batch = 256
[[workload]]
model = "llm"
arrivals = {{ process = "poisson", rate_rps = 4 }}
size = {{ dist = "fixed", value = 500 }}
out_tokens = {{ dist = "fixed", value = {out_tokens} }}
[[variant]]
name = "h100"
gpu = "h100-80gb"
gpus = [{{ regime = "dedicated", models = ["llm"] }}]
"#
        ),
        "bench (embedded)",
        None,
    )
}

/// Simulation cost against reply length: decode steps advance in blocks, so 100x the tokens
/// should cost a small multiple of the time, not 100x.
fn llm_tokens_text(reps: u32) -> Result<String> {
    let mut out = String::new();
    let mut times = Vec::new();
    for tokens in [10, 1000] {
        let sc = llm_tokens_scenario(tokens)?;
        let mut best = f64::INFINITY;
        let mut r = None;
        for _ in 0..reps {
            let t = Instant::now();
            let run = crate::sim::Simulation::new(&sc, 0, 1)?.run_to_end();
            best = best.min(t.elapsed().as_secs_f64());
            r = Some(run);
        }
        let r = r.expect("reps >= 1");
        out.push_str(&format!(
            "LLM, {} requests with {tokens}-token replies (chunked, one H100): {best:.3} s, {} events, {:.2} M events/s\n",
            r.completed + r.failed,
            r.events,
            r.events as f64 / best / 1e6
        ));
        times.push(best);
    }
    out.push_str(&format!(
        "LLM, 1000-token / 10-token replies: {:.2}x the time\n",
        times[1] / times[0]
    ));
    Ok(out)
}
