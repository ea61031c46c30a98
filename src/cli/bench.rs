//! `gpuslice bench`: engine throughput, scenario run time and sweep throughput, measured with the
//! wall clock (the only place outside the TUI and the sweep's progress report that reads it).

use crate::error::{Error, Result};
use crate::sim::engine::EventQueue;
use serde::Serialize;
use std::time::Instant;

/// The sweep benchmark's scenario: the ASR + TTS time-slicing study (4 variants).
const SWEEP_SCENARIO: &str = include_str!("../../experiments/h100-asr-tts-timesliced.toml");
const SWEEP_SCENARIO_NAME: &str = "experiments/h100-asr-tts-timesliced.toml (embedded)";

/// The benchmark sweep: the ASR + TTS study at 60 simulated seconds over `configs` ASR rates
/// (80 req/s up in steps of 0.5) x `seeds` seeds; 125 x 8 is the 1,000-run sweep of the issue.
pub fn bench_sweep_plan(configs: usize, seeds: u64) -> Result<crate::sweep::Plan> {
    let mut raw = crate::scenario::raw::parse(SWEEP_SCENARIO, SWEEP_SCENARIO_NAME)?;
    raw.duration_s = 60.0;
    let rates = (0..configs).map(|i| toml::Value::Float(80.0 + 0.5 * i as f64)).collect();
    raw.sweep = Some(crate::scenario::raw::RawSweep {
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
    let src = crate::scenario::files::Sources::none(&plan.file);
    let layout = crate::sweep::layout::Layout::new(plan, pool.install(|| crate::sweep::check_columns(plan, &src))?)?;
    let mut text = crate::sweep::layout::csv_line(&layout.header());
    let todo: Vec<u64> = (0..plan.runs()).collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut sink = |rows: &str| {
        text.push_str(rows);
        Ok(())
    };
    crate::sweep::execute(
        &pool,
        plan,
        &layout,
        &src,
        &todo,
        &stop,
        &indicatif::ProgressBar::hidden(),
        &mut sink,
    )?;
    Ok((text, t.elapsed().as_secs_f64()))
}

/// The sweep benchmark's result.
#[derive(Debug, Clone, Serialize)]
pub struct SweepBench {
    /// Scenario swept.
    pub scenario: String,
    /// Runs (configurations x seeds).
    pub runs: u64,
    /// ASR rates swept.
    pub configs: usize,
    /// Seeds per rate.
    pub seeds: u64,
    /// Variants of each run.
    pub variants: usize,
    /// Wall time on 1 thread [s].
    pub seconds_1_thread: f64,
    /// Wall time on 2 threads [s].
    pub seconds_2_threads: f64,
    /// The two results.csv texts are byte-identical.
    pub identical: bool,
}

/// Time the sweep benchmark on 1 and 2 threads.
pub fn sweep_bench(configs: usize, seeds: u64) -> Result<SweepBench> {
    let plan = bench_sweep_plan(configs, seeds)?;
    let (one, t1) = time_sweep(&plan, 1)?;
    let (two, t2) = time_sweep(&plan, 2)?;
    Ok(SweepBench {
        scenario: plan.spec.name.clone(),
        runs: plan.runs(),
        configs,
        seeds,
        variants: plan.configs.first().map_or(0, |c| c.raw.variant.len()),
        seconds_1_thread: t1,
        seconds_2_threads: t2,
        identical: one == two,
    })
}

impl SweepBench {
    /// The report lines: runs/s on 1 and 2 threads and the scaling between them.
    pub fn text(&self) -> String {
        format!(
            "sweep of '{}' ({} runs: {} ASR rates x {} seeds, {} variants, 60 s each):\n  \
             1 thread: {:.2} s, {:.1} runs/s\n  2 threads: {:.2} s, {:.1} runs/s\n  \
             scaling 1 -> 2 threads: {:.2}x; results identical: {}\n",
            self.scenario,
            self.runs,
            self.configs,
            self.seeds,
            self.variants,
            self.seconds_1_thread,
            self.runs as f64 / self.seconds_1_thread,
            self.seconds_2_threads,
            self.runs as f64 / self.seconds_2_threads,
            self.seconds_1_thread / self.seconds_2_threads,
            if self.identical { "yes" } else { "NO" }
        )
    }
}

/// The default scenario's run time.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioBench {
    /// Scenario name.
    pub scenario: String,
    /// Variants.
    pub variants: usize,
    /// Best wall time with the variants one after the other on one thread [s].
    pub seconds_one_thread: f64,
    /// Engine events of all variants.
    pub events: u64,
    /// Wall time with the variants in parallel [s].
    pub seconds_parallel: f64,
    /// Threads of the parallel run.
    pub threads: usize,
}

/// Simulation cost of one LLM reply length.
#[derive(Debug, Clone, Serialize)]
pub struct LlmBench {
    /// Tokens of every reply.
    pub out_tokens: u32,
    /// Requests simulated.
    pub requests: u64,
    /// Best wall time [s].
    pub seconds: f64,
    /// Engine events.
    pub events: u64,
}

/// Everything `gpuslice bench` measures (its `--format json` document). Wall-clock figures:
/// they vary from run to run and machine to machine.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The raw event queue (1024 pending, pop + push) [M events/s].
    pub event_queue_m_events_per_s: f64,
    /// The default scenario.
    pub default_scenario: ScenarioBench,
    /// LLM runs with short and long replies.
    pub llm: Vec<LlmBench>,
    /// The planner on experiments/plan-voice.toml.
    pub plan: PlanBench,
    /// The sweep benchmark (absent with `--sweep-runs 0`).
    pub sweep: Option<SweepBench>,
}

/// The planner's cost on one spec.
#[derive(Debug, Clone, Serialize)]
pub struct PlanBench {
    /// The spec's scenario name.
    pub scenario: String,
    /// Deployment structures considered.
    pub structures: usize,
    /// Simulations run.
    pub simulations: u64,
    /// Wall time [s].
    pub seconds: f64,
    /// Threads of the planner's waves.
    pub threads: usize,
    /// GPUs of the plan found (absent when none meets the SLOs).
    pub best_gpus: Option<u32>,
    /// Its cost [$/h].
    pub best_cost_per_hour_usd: Option<f64>,
}

impl BenchReport {
    /// The report as text.
    pub fn text(&self) -> String {
        let mut out = format!(
            "event queue (1024 pending, pop+push): {:.1} M events/s\n",
            self.event_queue_m_events_per_s
        );
        let d = &self.default_scenario;
        out.push_str(&format!(
            "default scenario '{}' ({} variants, one thread): {:.3} s, {} events, {:.2} M events/s\n",
            d.scenario,
            d.variants,
            d.seconds_one_thread,
            d.events,
            d.events as f64 / d.seconds_one_thread / 1e6
        ));
        out.push_str(&format!(
            "default scenario, variants in parallel ({} threads): {:.3} s\n",
            d.threads, d.seconds_parallel
        ));
        for l in &self.llm {
            out.push_str(&format!(
                "LLM, {} requests with {}-token replies (chunked, one H100): {:.3} s, {} events, {:.2} M events/s\n",
                l.requests,
                l.out_tokens,
                l.seconds,
                l.events,
                l.events as f64 / l.seconds / 1e6
            ));
        }
        if let [short, long] = &self.llm[..] {
            out.push_str(&format!(
                "LLM, {}-token / {}-token replies: {:.2}x the time\n",
                long.out_tokens,
                short.out_tokens,
                long.seconds / short.seconds
            ));
        }
        let p = &self.plan;
        out.push_str(&format!(
            "plan '{}' ({} structures, {} simulations, {} threads): {:.2} s; best {}\n",
            p.scenario,
            p.structures,
            p.simulations,
            p.threads,
            p.seconds,
            match (p.best_gpus, p.best_cost_per_hour_usd) {
                (Some(g), Some(c)) => format!("{g} GPUs, ${c:.2}/h"),
                _ => "none".into(),
            }
        ));
        if let Some(sw) = &self.sweep {
            out.push_str(&sw.text());
        }
        out
    }
}

/// Run the benchmarks; `sweep_runs` (a multiple of 8 seeds; 0 skips it) sizes the sweep benchmark.
pub fn bench(reps: u32, sweep_runs: usize) -> Result<BenchReport> {
    let reps = reps.max(1);
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
    let event_queue_m_events_per_s = n as f64 / best / 1e6;
    let sc = crate::scenario::files::default_scenario()?;
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
    // Best of the same repetitions as the one-thread figure.
    let mut best_parallel = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        crate::sim::run_scenario(&sc, 1)?;
        best_parallel = best_parallel.min(t.elapsed().as_secs_f64());
    }
    let default_scenario = ScenarioBench {
        scenario: sc.name.clone(),
        variants: sc.variants.len(),
        seconds_one_thread: best,
        events,
        seconds_parallel: best_parallel,
        threads: rayon::current_num_threads(),
    };
    Ok(BenchReport {
        event_queue_m_events_per_s,
        default_scenario,
        llm: llm_tokens(reps)?,
        plan: plan_bench()?,
        sweep: if sweep_runs > 0 {
            Some(sweep_bench(sweep_runs.div_ceil(8), 8)?)
        } else {
            None
        },
    })
}

/// The LLM benchmark's scenario: 14,400 requests (4/s for an hour, 500-token prompts) on one
/// H100 with chunked prefill, every reply `out_tokens` long.
fn llm_tokens_scenario(out_tokens: u32) -> Result<crate::scenario::Scenario> {
    crate::scenario::files::parse_scenario(
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
fn llm_tokens(reps: u32) -> Result<Vec<LlmBench>> {
    let mut out = Vec::new();
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
        let Some(r) = r else { continue };
        out.push(LlmBench {
            out_tokens: tokens,
            requests: r.completed + r.failed,
            seconds: best,
            events: r.events,
        });
    }
    Ok(out)
}

/// The planner benchmark's spec: the voice pipeline over two GPU types and every regime.
const PLAN_SPEC: &str = include_str!("../../experiments/plan-voice.toml");

/// Time `gpuslice plan experiments/plan-voice.toml` (every core).
fn plan_bench() -> Result<PlanBench> {
    let name = "experiments/plan-voice.toml (embedded)";
    let raw = crate::scenario::raw::parse(PLAN_SPEC, name)?;
    let t = Instant::now();
    let r = crate::plan::plan(&raw, &crate::scenario::files::Sources::none(name), &|_, _| {})?;
    Ok(PlanBench {
        scenario: r.scenario.clone(),
        structures: r.structures,
        simulations: r.simulations,
        seconds: t.elapsed().as_secs_f64(),
        threads: rayon::current_num_threads(),
        best_gpus: r.best.as_ref().map(|b| b.gpus),
        best_cost_per_hour_usd: r.best.as_ref().map(|b| b.cost_per_hour_usd),
    })
}

/// Peak memory of one run (`gpuslice bench --memory`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MemoryCase {
    /// `open loop` or `trace replay`.
    pub load: String,
    /// Requests completed.
    pub requests: u64,
    /// Engine events.
    pub events: u64,
    /// Wall time [s].
    pub seconds: f64,
    /// Peak resident memory of the process [MiB] (Linux `VmHWM`; absent elsewhere).
    pub peak_rss_mib: Option<f64>,
}

/// Arrival rate of the memory cases [requests/s]: four H100s serve it at about 60 % busy.
const MEMORY_RATE_RPS: f64 = 400.0;

/// The memory cases: `requests` ASR requests, Poisson at [`MEMORY_RATE_RPS`] or replayed from
/// `trace`, on four dedicated H100s (a run long enough that every request is done by its end).
fn memory_scenario(requests: u64, trace: Option<&str>) -> Result<crate::scenario::Scenario> {
    let hours = requests as f64 / MEMORY_RATE_RPS;
    let load = match trace {
        Some(path) => format!("trace = {path:?}"),
        None => format!("arrivals = {{ process = \"poisson\", rate_rps = {MEMORY_RATE_RPS} }}\nsize = {{ dist = \"lognormal\", median = 5.8, sigma = 0.6, min = 1.0, max = 30.0 }}"),
    };
    crate::scenario::files::parse_scenario(
        &format!(
            r#"
name = "bench-memory"
duration_s = {hours}
warmup_s = 0
drain_s = 60
[models.asr]
from = "h100/asr"
[[workload]]
model = "asr"
{load}
[[variant]]
name = "four"
gpu = "h100-80gb"
gpus = [{{ regime = "dedicated", models = ["asr"], count = 4 }}]
"#
        ),
        "bench-memory (embedded)",
        None,
    )
}

/// Peak resident memory of this process [MiB], where the OS reports it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Run one memory case in this process.
pub fn memory_case(requests: u64, trace: Option<&str>) -> Result<MemoryCase> {
    let sc = memory_scenario(requests, trace)?;
    let t = Instant::now();
    let s = crate::sim::Simulation::new(&sc, 0, 1)?.run_to_end();
    Ok(MemoryCase {
        load: if trace.is_some() { "trace replay" } else { "open loop" }.into(),
        requests: s.completed,
        events: s.events,
        seconds: t.elapsed().as_secs_f64(),
        peak_rss_mib: peak_rss_mib(),
    })
}

/// Write a trace of `rows` ASR requests at [`MEMORY_RATE_RPS`] (the format of traces/h100/*/trace_asr.csv).
fn write_memory_trace(path: &std::path::Path, rows: u64) -> Result<()> {
    use std::io::Write;
    let io = |e: std::io::Error| Error::io(path.display(), e);
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    writeln!(w, "id,arrival_s,audio_s").map_err(io)?;
    for i in 0..rows {
        // Utterances of 1 to 30 s, spread by a multiplicative hash (no RNG needed).
        let audio = 1.0 + (i.wrapping_mul(2654435761) % 2900) as f64 / 100.0;
        writeln!(w, "{i},{:.6},{audio:.2}", i as f64 / MEMORY_RATE_RPS).map_err(io)?;
    }
    w.flush().map_err(io)
}

/// Every memory case, each in a fresh process of this executable (a process's peak is its own).
pub fn memory_bench() -> Result<Vec<MemoryCase>> {
    let exe = std::env::current_exe().map_err(|e| Error::io("current executable", e))?;
    let dir = std::env::temp_dir().join(format!("gpuslice-bench-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(dir.display(), e))?;
    let mut out = Vec::new();
    let result = (|| {
        for (requests, trace) in [
            (1_000_000u64, false),
            (5_000_000, false),
            (10_000_000, false),
            (1_000_000, true),
            (2_000_000, true),
            (10_000_000, true),
        ] {
            let mut cmd = std::process::Command::new(&exe);
            cmd.arg("bench-memory-case").arg(requests.to_string());
            if trace {
                let path = dir.join(format!("trace-{requests}.csv"));
                write_memory_trace(&path, requests)?;
                cmd.arg("--trace").arg(&path);
            }
            let o = cmd.output().map_err(|e| Error::io(exe.display(), e))?;
            if !o.status.success() {
                return Err(Error::Infeasible(format!(
                    "memory case {requests}: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                )));
            }
            let case: MemoryCase = serde_json::from_slice(&o.stdout)
                .map_err(|e| Error::Infeasible(format!("memory case {requests}: unreadable report: {e}")))?;
            out.push(case);
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|()| out)
}

/// The memory benchmark as text.
pub fn memory_text(cases: &[MemoryCase]) -> String {
    let mut s = String::new();
    for c in cases {
        s.push_str(&format!(
            "{}, {} requests: peak RSS {}, {:.1} s, {} events\n",
            c.load,
            c.requests,
            c.peak_rss_mib
                .map_or("unknown (no /proc/self/status)".into(), |m| format!("{m:.0} MiB")),
            c.seconds,
            c.events
        ));
    }
    s
}

/// The planner at scale (`gpuslice bench --planner`): a spec, the `--set` edits applied to it,
/// and the name the report gives the case.
const PLANNER_CASES: [(&str, &str, &[&str]); 5] = [
    (
        "plan-voice, 500 users",
        include_str!("../../experiments/plan-voice.toml"),
        &["workload[0].users=500"],
    ),
    (
        "plan-voice, 2000 users",
        include_str!("../../experiments/plan-voice.toml"),
        &["workload[0].users=2000"],
    ),
    ("plan-independent-8", include_str!("../../experiments/plan-independent-8.toml"), &[]),
    (
        "plan-independent-20",
        include_str!("../../experiments/plan-independent-20.toml"),
        &[],
    ),
    (
        "plan-independent-50",
        include_str!("../../experiments/plan-independent-50.toml"),
        &[],
    ),
];

/// One planner case of `gpuslice bench --planner`, measured in a process of its own.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PlannerCase {
    /// The case (spec and edits).
    pub case: String,
    /// Models planned.
    pub models: usize,
    /// `exact` or `decomposed`.
    pub method: String,
    /// Structures considered.
    pub structures: usize,
    /// Simulations run.
    pub simulations: u64,
    /// Wall time [s].
    pub seconds: f64,
    /// CPU time of the process, user + system [s] (Linux `/proc/self/stat` at 100 ticks/s;
    /// absent elsewhere).
    pub cpu_seconds: Option<f64>,
    /// Peak resident memory of the process [MiB] (Linux `VmHWM`; absent elsewhere).
    pub peak_rss_mib: Option<f64>,
    /// The best plan: regime, GPU type, GPUs, nodes, node and GPU price [$/h] (absent: none).
    pub best: Option<(String, String, u32, u32, f64, f64)>,
    /// The lower bound on the GPUs [$/h].
    pub lower_bound_usd_per_hour: f64,
    /// The best's GPUs above it [%].
    pub gap_pct: Option<f64>,
    /// The lower bound on the nodes [$/h].
    pub node_lower_bound_usd_per_hour: f64,
    /// The best's nodes above it [%].
    pub node_gap_pct: Option<f64>,
}

/// CPU time of this process so far [s], where the OS reports it.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Run planner case `name` in this process (every core).
pub fn planner_case(name: &str) -> Result<PlannerCase> {
    let (case, text, edits) = PLANNER_CASES
        .iter()
        .find(|c| c.0 == name)
        .ok_or_else(|| Error::input("bench-plan-case", "", format!("unknown case '{name}'")))?;
    let file = format!("{case} (embedded)");
    let mut raw = crate::scenario::raw::parse(text, &file)?;
    for e in *edits {
        raw = crate::scenario::edit::set_raw(&raw, e, &file)?;
    }
    let t = Instant::now();
    let r = crate::plan::plan(&raw, &crate::scenario::files::Sources::none(&file), &|_, _| {})?;
    Ok(PlannerCase {
        case: case.to_string(),
        models: raw.models.len(),
        method: r.method.to_string(),
        structures: r.structures,
        simulations: r.simulations,
        seconds: t.elapsed().as_secs_f64(),
        cpu_seconds: cpu_seconds(),
        peak_rss_mib: peak_rss_mib(),
        best: r.best.as_ref().map(|b| {
            (
                b.regime.name().to_string(),
                b.gpu_type.clone(),
                b.gpus,
                b.nodes.nodes,
                b.nodes.node_cost_per_hour_usd,
                b.cost_per_hour_usd,
            )
        }),
        lower_bound_usd_per_hour: r.lower_bound_usd_per_hour,
        gap_pct: r.gap_pct,
        node_lower_bound_usd_per_hour: r.node_lower_bound_usd_per_hour,
        node_gap_pct: r.node_gap_pct,
    })
}

/// Every planner case, each in a fresh process of this executable (its peak memory and CPU
/// time are its own); `only` keeps the cases whose name contains it.
pub fn planner_bench(only: Option<&str>) -> Result<Vec<PlannerCase>> {
    let exe = std::env::current_exe().map_err(|e| Error::io("current executable", e))?;
    let mut out = Vec::new();
    for (case, _, _) in PLANNER_CASES.iter().filter(|c| only.is_none_or(|o| c.0.contains(o))) {
        let o = std::process::Command::new(&exe)
            .arg("bench-plan-case")
            .arg(case)
            .output()
            .map_err(|e| Error::io(exe.display(), e))?;
        if !o.status.success() {
            return Err(Error::Infeasible(format!(
                "planner case {case}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )));
        }
        out.push(serde_json::from_slice(&o.stdout).map_err(|e| Error::Infeasible(format!("planner case {case}: unreadable report: {e}")))?);
    }
    Ok(out)
}

/// The planner benchmark as text.
pub fn planner_text(cases: &[PlannerCase]) -> String {
    let mut s = String::new();
    for c in cases {
        s.push_str(&format!(
            "{} ({} models, {} search: {} structures, {} simulations): {:.1} s wall, {} CPU, peak RSS {}; best {}; lower bound on the GPUs ${:.2}/h{}, on the nodes ${:.2}/h{}\n",
            c.case,
            c.models,
            c.method,
            c.structures,
            c.simulations,
            c.seconds,
            c.cpu_seconds.map_or("unknown".into(), |x| format!("{x:.1} s")),
            c.peak_rss_mib.map_or("unknown".into(), |m| format!("{m:.0} MiB")),
            c.best.as_ref().map_or("none".into(), |(r, g, gpus, nodes, node_usd, gpu_usd)| format!(
                "{r} {g}, {gpus} GPU{} on {nodes} node{}, ${node_usd:.2}/h (GPUs ${gpu_usd:.2}/h)",
                if *gpus == 1 { "" } else { "s" },
                if *nodes == 1 { "" } else { "s" }
            )),
            c.lower_bound_usd_per_hour,
            c.gap_pct.map_or(String::new(), |g| format!(" (gap {g:.1} %)")),
            c.node_lower_bound_usd_per_hour,
            c.node_gap_pct.map_or(String::new(), |g| format!(" (gap {g:.1} %)"))
        ));
    }
    s
}
