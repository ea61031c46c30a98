//! `gpuslice bench`: engine throughput, scenario run time and sweep throughput, measured with the
//! wall clock (the only place outside the TUI and the sweep's progress report that reads it).

use crate::engine::EventQueue;
use crate::error::{Error, Result};
use std::time::Instant;

/// The sweep benchmark's scenario: the ASR + TTS time-slicing study (4 variants).
const SWEEP_SCENARIO: &str = include_str!("../experiments/h100-asr-tts-timesliced.toml");
const SWEEP_SCENARIO_NAME: &str = "experiments/h100-asr-tts-timesliced.toml (embedded)";

/// The benchmark sweep: the ASR + TTS study at 60 simulated seconds over `configs` ASR rates
/// (80 req/s up in steps of 0.5) x `seeds` seeds; 125 x 8 is the 1,000-run sweep of the issue.
pub fn bench_sweep_plan(configs: usize, seeds: u64) -> Result<crate::sweep::Plan> {
    let mut raw = crate::config::parse_raw(SWEEP_SCENARIO, SWEEP_SCENARIO_NAME)?;
    raw.duration_s = 60.0;
    let rates = (0..configs).map(|i| toml::Value::Float(80.0 + 0.5 * i as f64)).collect();
    raw.sweep = Some(crate::config::raw::RawSweep {
        seeds: (1..=seeds).collect(),
        axes: [("workload[0].arrivals.rate_rps".to_string(), rates)].into_iter().collect(),
    });
    crate::sweep::plan(&raw, SWEEP_SCENARIO_NAME)
}

/// Run a sweep plan as `gpuslice sweep` does (validation, column layout, runs in parallel handed
/// over in id order), on `threads` threads, into memory; the results.csv text and the seconds.
pub fn time_sweep(plan: &crate::sweep::Plan, threads: usize) -> Result<(String, f64)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Infeasible(format!("thread pool: {e}")))?;
    let t = Instant::now();
    let src = crate::config::Sources::none(&plan.file);
    let scenarios = pool.install(|| crate::sweep::resolve(plan, &src))?;
    let layout = crate::sweep::Layout::new(plan, pool.install(|| crate::sweep::metric_columns(&scenarios))?)?;
    let mut text = crate::sweep::csv_line(&layout.header());
    let todo: Vec<u64> = (0..plan.runs()).collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut sink = |rows: &str| {
        text.push_str(rows);
        Ok(())
    };
    crate::cli::sweep::execute(
        &pool,
        plan,
        &layout,
        &scenarios,
        &todo,
        &stop,
        &indicatif::ProgressBar::hidden(),
        &mut sink,
    )?;
    Ok((text, t.elapsed().as_secs_f64()))
}

/// The sweep benchmark's report: runs/s on 1 and 2 threads and the scaling between them.
pub fn sweep_bench_text(configs: usize, seeds: u64) -> Result<String> {
    let plan = bench_sweep_plan(configs, seeds)?;
    let runs = plan.runs();
    let (one, t1) = time_sweep(&plan, 1)?;
    let (two, t2) = time_sweep(&plan, 2)?;
    Ok(format!(
        "sweep of '{}' ({} runs: {configs} ASR rates x {seeds} seeds, {} variants, 60 s each):\n  \
         1 thread: {t1:.2} s, {:.1} runs/s\n  2 threads: {t2:.2} s, {:.1} runs/s\n  \
         scaling 1 -> 2 threads: {:.2}x; results identical: {}\n",
        plan.spec.name,
        runs,
        plan.configs.first().map_or(0, |c| c.raw.variant.len()),
        runs as f64 / t1,
        runs as f64 / t2,
        t1 / t2,
        if one == two { "yes" } else { "NO" }
    ))
}

/// Bench report text; `sweep_runs` (a multiple of 8 seeds; 0 skips it) sizes the sweep benchmark.
pub fn bench_text(reps: u32, sweep_runs: usize) -> Result<String> {
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
    out.push_str(&plan_text()?);
    if sweep_runs > 0 {
        out.push_str(&sweep_bench_text(sweep_runs.div_ceil(8), 8)?);
    }
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

/// The planner benchmark's spec: the voice pipeline over two GPU types and every regime.
const PLAN_SPEC: &str = include_str!("../experiments/plan-voice.toml");

/// Time `gpuslice plan experiments/plan-voice.toml` (every core).
fn plan_text() -> Result<String> {
    let name = "experiments/plan-voice.toml (embedded)";
    let raw = crate::config::parse_raw(PLAN_SPEC, name)?;
    let t = Instant::now();
    let r = crate::plan::plan(&raw, &crate::config::Sources::none(name), &|_, _| {})?;
    Ok(format!(
        "plan '{}' ({} structures, {} simulations, {} threads): {:.2} s; best {}\n",
        r.scenario,
        r.structures,
        r.simulations,
        rayon::current_num_threads(),
        t.elapsed().as_secs_f64(),
        r.best.as_ref().map_or("none".into(), |b| format!("{} GPUs, ${:.2}/h", b.gpus, b.cost_per_hour_usd))
    ))
}
