//! The simulation of one variant of a scenario: load sources, load balancer, model servers with
//! their batching policies, and the devices (dedicated GPU, MIG instance, time-sliced GPU, MPS
//! GPU) that execute the servers' GPU calls.
//!
//! A server issues one GPU call at a time and waits for it (one CUDA stream, synchronised
//! calls, as the calibration servers did). Its host loop adds `dispatch_ms` before the first
//! call after idling and `call_gap_ms` between calls; during those gaps its context has no GPU
//! work, which is when a time-sliced GPU runs another context.
//!
//! Life of a run: [`Simulation::new`] places the servers (checking memory and MIG placement),
//! seeds the load sources, and then [`Simulation::step`] / [`Simulation::step_until`] /
//! [`Simulation::run_to_end`] advance the event queue. [`Simulation::summary`] turns the
//! recorded samples into a [`RunSummary`].

use crate::catalog::{Catalog, GpuSpec};
use crate::engine::EventQueue;
use crate::error::{Error, Result};
use crate::metrics::{round4, summarize, LatencySummary};
use crate::scenario::{Balancer, FaultTime, Load, Regime, Scenario, Target};
use crate::service::{DeviceScale, ModelSpec, OpTable, ServiceKind};
use crate::time::{from_ms, to_ms, to_secs, SimTime};
use crate::workload::{stream_rng, ArrivalGen, SimRng};
use rand_distr::{Distribution, Exp};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

const NONE: u32 = u32::MAX;

/// Events. All are `Copy`; stale ones are recognised by an epoch or token and ignored.
#[derive(Debug, Clone, Copy)]
enum Ev {
    /// Next arrival of open-loop or trace workload `wl`.
    Arrival { wl: u32 },
    /// Closed-loop user sends a turn.
    User { user: u32 },
    /// Server host loop issues its next GPU call.
    Dispatch { srv: u32, epoch: u32 },
    /// A call on an exclusive or MPS device finished.
    Done { srv: u32, epoch: u32 },
    /// Decision point of a time-sliced device.
    Ts { dev: u32, token: u32 },
    /// A turn or request reaches its timeout.
    Timeout { unit: u32 },
    /// A server crashes (fault index).
    Crash { fault: u32 },
    /// A crashed server is back.
    Restart { srv: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ReqState {
    Queued,
    Running,
    Done,
    Failed,
}

/// One request to one model server.
#[derive(Debug, Clone, Copy)]
struct Req {
    model: u32,
    unit: u32,
    arrival: SimTime,
    start: SimTime,
    first_token: SimTime,
    finish: SimTime,
    size: f64,
    out_tokens: u32,
    state: ReqState,
}

/// One finished request, for per-request comparisons (`gpuslice validate`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestRecord {
    /// Workload that generated it (for a trace: rows are in trace order).
    pub workload: usize,
    /// Arrival [ns].
    pub arrival: SimTime,
    /// Completion [ns].
    pub finish: SimTime,
    /// LLM: end of prefill [ns]; else 0.
    pub first_token: SimTime,
}

/// A top-level unit of work: a single request or a pipeline turn.
#[derive(Debug, Clone, Copy)]
struct Unit {
    wl: u32,
    user: u32,
    arrival: SimTime,
    stage: u32,
    first_size: f64,
    out_tokens: u32,
    /// Time to first audio accumulated over the stages so far [ns].
    first_audio: SimTime,
    has_audio: bool,
    done: bool,
    failed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SrvState {
    Idle,
    Pending,
    Busy,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Call {
    None,
    Batch,
    Prefill(u32),
    Decode,
}

#[derive(Debug, Clone, Copy)]
struct Seq {
    req: u32,
    len: u32,
    remaining: i64,
}

#[derive(Debug, Clone)]
struct Server {
    model: u32,
    dev: u32,
    ctx: u32,
    scale: DeviceScale,
    queue: VecDeque<u32>,
    state: SrvState,
    call: Call,
    batch: Vec<u32>,
    active: Vec<Seq>,
    admit_budget: usize,
    outstanding: u32,
    up: bool,
    epoch: u32,
    label: String,
}

#[derive(Debug, Clone, Default)]
struct TsState {
    quantum: SimTime,
    switch_cost: SimTime,
    running: Option<u32>,
    switching_to: Option<u32>,
    last: Option<u32>,
    slice_start: SimTime,
    updated: SimTime,
    remaining: Vec<SimTime>,
    has_work: Vec<bool>,
    ready: VecDeque<u32>,
    token: u32,
    switches: u64,
}

#[derive(Debug, Clone)]
enum DevKind {
    Exclusive,
    TimeSliced(TsState),
    Mps,
}

/// An execution unit: a whole GPU (dedicated, time-sliced, MPS) or a MIG instance.
#[derive(Debug, Clone)]
struct Device {
    kind: DevKind,
    gpu: u32,
    label: String,
    servers: Vec<u32>,
    busy_ctx: Vec<SimTime>,
    busy_any: SimTime,
    busy_from: SimTime,
    n_running: u32,
}

/// Per-model accumulators.
#[derive(Debug, Clone, Default)]
struct ModelAcc {
    completed: u64,
    failed: u64,
    lost: u64,
    latency_ms: Vec<f64>,
    ttft_ms: Vec<f64>,
    finished_in_window: u64,
}

/// Per-workload accumulators (top-level units).
#[derive(Debug, Clone, Default)]
struct WlAcc {
    completed: u64,
    failed: u64,
    timed_out: u64,
    latency_ms: Vec<f64>,
    first_audio_ms: Vec<f64>,
    stage_ms: Vec<Vec<f64>>,
    finished_in_window: u64,
}

struct WlRuntime {
    gen: Option<ArrivalGen>,
    arrivals_rng: SimRng,
    size_rng: SimRng,
    cursor: usize,
}

struct UserRt {
    wl: u32,
    stop_at: SimTime,
    think_rng: SimRng,
}

/// Summary of one model in one run.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    /// Requests that finished (measured window).
    pub completed: u64,
    /// Requests that failed: lost in a crash, rejected, timed out or unfinished at the end.
    pub failed: u64,
    /// Completions per second in the measurement window.
    pub throughput_rps: f64,
    /// Request latency, arrival at the server to last output [ms].
    pub latency_ms: LatencySummary,
    /// LLM only: time to first token [ms].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<LatencySummary>,
    /// Fraction of requests that did not fail.
    pub availability: f64,
}

/// Utilisation of one GPU or partition.
#[derive(Debug, Clone, Serialize)]
pub struct GpuUtil {
    /// GPU index within the variant.
    pub gpu: u32,
    /// What part: `whole`, a MIG instance such as `3g.40gb@4`, or a tenant `ts:asr`, `mps:tts`.
    pub partition: String,
    /// Fraction of the measurement window the part was executing GPU work.
    pub busy_fraction: f64,
}

/// Per-stage metrics of a pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct StageSummary {
    /// Model of the stage.
    pub model: String,
    /// Stage latency, from the stage's request arrival to its completion [ms].
    pub latency_ms: LatencySummary,
}

/// End-to-end metrics of a pipeline workload.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineSummary {
    /// Turns completed (measured window).
    pub completed: u64,
    /// Turns failed.
    pub failed: u64,
    /// Fraction of turns that did not fail.
    pub availability: f64,
    /// Turns per second in the measurement window.
    pub throughput_tps: f64,
    /// Turn latency [ms].
    pub latency_ms: LatencySummary,
    /// Time to first audio: ASR latency + LLM time to first token + TTS time to its first chunk
    /// (streaming TTS; the whole TTS request otherwise) [ms].
    pub time_to_first_audio_ms: LatencySummary,
    /// Each stage.
    pub stages: Vec<StageSummary>,
}

/// Failure accounting of a run.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FailureSummary {
    /// Crashes that happened.
    pub crashes: u64,
    /// Requests lost because their server (or a co-tenant in its fault domain) crashed.
    pub lost_requests: u64,
    /// Requests refused (no replica up, or too long for the KV cache).
    pub rejected_requests: u64,
    /// Top-level requests or turns that hit their timeout.
    pub timed_out: u64,
    /// Requests still unfinished when the drain limit was reached.
    pub unfinished: u64,
    /// Per model: fraction of its requests that did not fail.
    pub availability: BTreeMap<String, f64>,
}

/// Result of simulating one variant.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Variant name.
    pub name: String,
    /// GPUs used.
    pub gpus: u32,
    /// GPU type.
    pub gpu_type: String,
    /// Price of the GPUs [$ per hour].
    pub cost_per_hour_usd: f64,
    /// Top-level requests (or turns) completed in the measurement window.
    pub completed: u64,
    /// Top-level requests (or turns) failed.
    pub failed: u64,
    /// Top-level completions per second.
    pub throughput_rps: f64,
    /// Top-level completions per second per GPU.
    pub throughput_rps_per_gpu: f64,
    /// Top-level latency [ms].
    pub latency_ms: LatencySummary,
    /// Per model.
    pub models: BTreeMap<String, ModelSummary>,
    /// Per GPU / partition / tenant.
    pub gpu_utilization: Vec<GpuUtil>,
    /// True if any service time was extrapolated beyond measured tables or derived for another GPU type.
    pub extrapolated: bool,
    /// Pipelines by workload name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stages: BTreeMap<String, PipelineSummary>,
    /// Failure accounting.
    pub failures: FailureSummary,
    /// Engine events processed (not part of the JSON report).
    #[serde(skip)]
    pub events: u64,
    /// Time-slice context switches (not part of the JSON report).
    #[serde(skip)]
    pub context_switches: u64,
}

/// Live state for the TUI.
#[derive(Debug, Clone)]
pub struct DeviceView {
    /// GPU index.
    pub gpu: u32,
    /// Partition label.
    pub label: String,
    /// Server labels on this device.
    pub servers: Vec<String>,
    /// Queue length per server.
    pub queues: Vec<usize>,
    /// Which server runs now on a time-sliced GPU.
    pub running: Option<String>,
    /// Busy fraction so far (measured from the end of the warm-up).
    pub busy_fraction: f64,
    /// Busy fraction of each server's GPU work so far.
    pub server_busy: Vec<f64>,
}

/// One variant's simulation.
pub struct Simulation {
    q: EventQueue<Ev>,
    models: Vec<ModelSpec>,
    model_names: Vec<String>,
    scenario_workloads: Vec<crate::scenario::Workload>,
    servers: Vec<Server>,
    devices: Vec<Device>,
    replicas: Vec<Vec<u32>>,
    rr: Vec<usize>,
    shared: Vec<VecDeque<u32>>,
    balancer: Balancer,
    reqs: Vec<Req>,
    units: Vec<Unit>,
    wls: Vec<WlRuntime>,
    users: Vec<UserRt>,
    faults: Vec<crate::scenario::Fault>,
    fault_rng: SimRng,
    model_acc: Vec<ModelAcc>,
    wl_acc: Vec<WlAcc>,
    fail: FailureSummary,
    duration: SimTime,
    warmup: SimTime,
    horizon: SimTime,
    extrapolated: bool,
    variant_name: String,
    gpu: GpuSpec,
    n_gpus: u32,
    price: f64,
}

fn window_overlap(a: SimTime, b: SimTime, lo: SimTime, hi: SimTime) -> SimTime {
    b.min(hi).saturating_sub(a.max(lo))
}

impl Simulation {
    /// Build the simulation of variant `variant` of `scenario` with `seed`. Fails if a model
    /// does not fit its device's memory.
    pub fn new(scenario: &Scenario, variant: usize, seed: u64) -> Result<Simulation> {
        let v = &scenario.variants[variant];
        let cat = Catalog::builtin();
        let mut servers = Vec::new();
        let mut devices = Vec::new();
        let mut replicas: Vec<Vec<u32>> = vec![Vec::new(); scenario.models.len()];
        let mut extrapolated = false;
        let reference = |m: &ModelSpec| -> Result<GpuSpec> {
            cat.gpu(&m.reference_gpu)
                .cloned()
                .ok_or_else(|| Error::input("", format!("models.{}.reference_gpu", m.name), format!("unknown GPU '{}'", m.reference_gpu)))
        };
        for (g, plan) in v.gpus.iter().enumerate() {
            let gpu = &v.gpu;
            let ctx_of = |dev: &Device| dev.servers.len() as u32;
            let mut add_server = |model: usize, dev_idx: u32, ctx: u32, scale: DeviceScale, label: String, servers: &mut Vec<Server>| {
                let id = servers.len() as u32;
                replicas[model].push(id);
                servers.push(Server {
                    model: model as u32,
                    dev: dev_idx,
                    ctx,
                    scale,
                    queue: VecDeque::new(),
                    state: SrvState::Idle,
                    call: Call::None,
                    batch: Vec::new(),
                    active: Vec::new(),
                    admit_budget: 0,
                    outstanding: 0,
                    up: true,
                    epoch: 0,
                    label,
                });
                id
            };
            let check_mem = |models: &[usize], cap: f64, what: &str| -> Result<()> {
                let need: f64 = models.iter().map(|&m| scenario.models[m].memory.total_gib()).sum();
                if need > cap + 1e-9 {
                    let names: Vec<String> = models
                        .iter()
                        .map(|&m| format!("{} {:.1} GiB", scenario.models[m].name, scenario.models[m].memory.total_gib()))
                        .collect();
                    return Err(Error::Infeasible(format!(
                        "variant '{}': GPU {g} ({what}, {cap:.2} GiB): models do not fit in memory: {} = {need:.1} GiB",
                        v.name,
                        names.join(" + ")
                    )));
                }
                Ok(())
            };
            let present: Vec<usize> = plan.tenants.iter().flatten().copied().collect();
            match &plan.regime {
                Regime::Dedicated | Regime::TimeSliced { .. } | Regime::Mps { .. } => {
                    check_mem(&present, gpu.memory_gib, plan.regime.label())?;
                    let kind = match &plan.regime {
                        Regime::Dedicated => DevKind::Exclusive,
                        Regime::TimeSliced { quantum, switch_cost } => DevKind::TimeSliced(TsState {
                            quantum: *quantum,
                            switch_cost: *switch_cost,
                            ..TsState::default()
                        }),
                        Regime::Mps { .. } => DevKind::Mps,
                        Regime::Mig { .. } => unreachable!(),
                    };
                    let dev_idx = devices.len() as u32;
                    let mut dev = Device {
                        kind,
                        gpu: g as u32,
                        label: "whole".into(),
                        servers: Vec::new(),
                        busy_ctx: Vec::new(),
                        busy_any: 0,
                        busy_from: 0,
                        n_running: 0,
                    };
                    if let Regime::Mps { mem_limit_gib, .. } = &plan.regime {
                        for (&m, &lim) in present.iter().zip(mem_limit_gib) {
                            check_mem(&[m], lim, "MPS client memory limit")?;
                        }
                    }
                    for (t, &m) in present.iter().enumerate() {
                        let spec = &scenario.models[m];
                        let r = reference(spec)?;
                        let (sm, bw) = match &plan.regime {
                            Regime::Mps { thread_pct, .. } => (thread_pct[t] / 100.0, 1.0),
                            _ => (1.0, 1.0),
                        };
                        let scale = if r.name == gpu.name && sm == 1.0 { DeviceScale::IDENTITY } else { DeviceScale::of(&r, gpu, sm, bw) };
                        extrapolated |= r.name != gpu.name;
                        let prefix = match &plan.regime {
                            Regime::Dedicated => "",
                            Regime::TimeSliced { .. } => "ts:",
                            _ => "mps:",
                        };
                        let ctx = ctx_of(&dev);
                        let id = add_server(m, dev_idx, ctx, scale, format!("{prefix}{}", spec.name), &mut servers);
                        dev.servers.push(id);
                        dev.busy_ctx.push(0);
                        if let DevKind::TimeSliced(ts) = &mut dev.kind {
                            ts.remaining.push(0);
                            ts.has_work.push(false);
                        }
                    }
                    devices.push(dev);
                }
                Regime::Mig { instances } => {
                    for (inst, tenant) in instances.iter().zip(&plan.tenants) {
                        let label = format!("{}@{}", inst.profile.name, inst.start);
                        let dev_idx = devices.len() as u32;
                        let mut dev = Device {
                            kind: DevKind::Exclusive,
                            gpu: g as u32,
                            label: label.clone(),
                            servers: Vec::new(),
                            busy_ctx: Vec::new(),
                            busy_any: 0,
                            busy_from: 0,
                            n_running: 0,
                        };
                        if let Some(m) = *tenant {
                            check_mem(&[m], inst.profile.memory_gib, &format!("MIG {label}"))?;
                            let spec = &scenario.models[m];
                            let r = reference(spec)?;
                            let sm = inst.profile.sms as f64 / gpu.sm_count as f64;
                            let bw = inst.profile.mem_slices as f64 / 8.0;
                            let scale = DeviceScale::of(&r, gpu, sm, bw);
                            extrapolated |= r.name != gpu.name;
                            let id = add_server(m, dev_idx, 0, scale, format!("{}:{}", label, spec.name), &mut servers);
                            dev.servers.push(id);
                            dev.busy_ctx.push(0);
                        }
                        devices.push(dev);
                    }
                }
            }
        }
        for (i, w) in scenario.workloads.iter().enumerate() {
            let needed: Vec<usize> = match &w.target {
                Target::Model(m) => vec![*m],
                Target::Pipeline(p) => p.stages.clone(),
            };
            for m in needed {
                if replicas[m].is_empty() {
                    return Err(Error::Infeasible(format!(
                        "variant '{}': workload {i} ('{}') sends requests to model '{}', which no GPU of the variant runs",
                        v.name, w.name, scenario.models[m].name
                    )));
                }
            }
        }
        let mut sim = Simulation {
            q: EventQueue::new(),
            models: scenario.models.clone(),
            model_names: scenario.models.iter().map(|m| m.name.clone()).collect(),
            scenario_workloads: scenario.workloads.clone(),
            rr: vec![0; replicas.len()],
            shared: vec![VecDeque::new(); replicas.len()],
            replicas,
            servers,
            devices,
            balancer: v.balancer,
            reqs: Vec::new(),
            units: Vec::new(),
            wls: Vec::new(),
            users: Vec::new(),
            faults: v.faults.clone(),
            fault_rng: stream_rng(seed, 1 << 20, 7),
            model_acc: vec![ModelAcc::default(); scenario.models.len()],
            wl_acc: Vec::new(),
            fail: FailureSummary::default(),
            duration: scenario.duration,
            warmup: scenario.warmup,
            horizon: scenario.duration + scenario.drain,
            extrapolated,
            variant_name: v.name.clone(),
            gpu: v.gpu.clone(),
            n_gpus: v.gpus.len() as u32,
            price: v.price_usd_per_hour,
        };
        sim.start_sources(seed);
        Ok(sim)
    }

    fn start_sources(&mut self, seed: u64) {
        for (i, w) in self.scenario_workloads.iter().enumerate() {
            let stages = match &w.target {
                Target::Pipeline(p) => p.stages.len(),
                Target::Model(_) => 1,
            };
            self.wl_acc.push(WlAcc { stage_ms: vec![Vec::new(); stages], ..WlAcc::default() });
            let src = i as u64;
            let mut rt = WlRuntime { gen: None, arrivals_rng: stream_rng(seed, src, 0), size_rng: stream_rng(seed, src, 1), cursor: 0 };
            match &w.load {
                Load::Open { arrivals, .. } => {
                    let g = ArrivalGen::new(arrivals);
                    let t = g.next(0, &mut rt.arrivals_rng);
                    rt.gen = Some(g);
                    if t < self.duration {
                        self.q.schedule(t, Ev::Arrival { wl: i as u32 });
                    }
                }
                Load::Trace { rows, .. } => {
                    if let Some(r) = rows.first() {
                        if r.arrival < self.duration {
                            self.q.schedule(r.arrival, Ev::Arrival { wl: i as u32 });
                        }
                    }
                }
                Load::Closed { users, ramp_up, hold, ramp_down, .. } => {
                    let n = (*users).max(1) as u64;
                    for u in 0..*users as u64 {
                        let start = ramp_up * u / n;
                        let stop = ramp_up + hold + ramp_down * (u + 1) / n;
                        let id = self.users.len() as u32;
                        self.users.push(UserRt { wl: i as u32, stop_at: stop.min(self.duration), think_rng: stream_rng(seed, src, 100 + u) });
                        self.q.schedule(start, Ev::User { user: id });
                    }
                }
            }
            self.wls.push(rt);
        }
        for (k, f) in self.faults.iter().enumerate() {
            let t = match f.when {
                FaultTime::At(t) => t,
                FaultTime::Mtbf(mean) => from_ms(Exp::new(1.0).map(|e| e.sample(&mut self.fault_rng)).unwrap_or(1.0) * to_ms(mean)),
            };
            if t < self.horizon {
                self.q.schedule(t, Ev::Crash { fault: k as u32 });
            }
        }
    }

    /// Current simulated time [ns].
    pub fn now(&self) -> SimTime {
        self.q.now()
    }

    /// Time after which nothing more is simulated [ns].
    pub fn horizon(&self) -> SimTime {
        self.horizon
    }

    /// True when no event is left before the horizon.
    pub fn finished(&self) -> bool {
        self.q.peek_time().is_none_or(|t| t > self.horizon)
    }

    /// Process one event; false when the run is over.
    pub fn step(&mut self) -> bool {
        match self.q.pop_until(self.horizon) {
            Some((_, ev)) => {
                self.handle(ev);
                true
            }
            None => false,
        }
    }

    /// Process every event due at or before `t` and move the clock to `t`.
    pub fn step_until(&mut self, t: SimTime) {
        let t = t.min(self.horizon);
        while let Some((_, ev)) = self.q.pop_until(t) {
            self.handle(ev);
        }
        self.q.advance_to(t);
    }

    /// Run to the horizon and summarise.
    pub fn run_to_end(mut self) -> RunSummary {
        while self.step() {}
        self.summary()
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Arrival { wl } => self.on_arrival(wl as usize),
            Ev::User { user } => self.on_user(user as usize),
            Ev::Dispatch { srv, epoch } => {
                if self.servers[srv as usize].epoch == epoch {
                    self.dispatch(srv as usize)
                }
            }
            Ev::Done { srv, epoch } => {
                let s = &self.servers[srv as usize];
                if s.epoch == epoch {
                    let dev = s.dev as usize;
                    self.device_call_ended(dev);
                    self.call_done(srv as usize);
                }
            }
            Ev::Ts { dev, token } => self.ts_timer(dev as usize, token),
            Ev::Timeout { unit } => self.on_timeout(unit as usize),
            Ev::Crash { fault } => self.on_crash(fault as usize),
            Ev::Restart { srv } => {
                let s = &mut self.servers[srv as usize];
                s.up = true;
                // Requests that waited at the router during the outage are pulled now.
                if self.balancer == Balancer::SharedQueue && !self.shared[s.model as usize].is_empty() && s.state == SrvState::Idle {
                    s.state = SrvState::Pending;
                    let ev = Ev::Dispatch { srv, epoch: s.epoch };
                    self.q.schedule_in(0, ev);
                }
            }
        }
    }

    // ------------------------------------------------------------------ load

    fn on_arrival(&mut self, wl: usize) {
        let now = self.q.now();
        let (size, out) = self.draw_size(wl);
        self.new_unit(wl, NONE, now, size, out);
        let rt = &mut self.wls[wl];
        let next = match &self.scenario_workloads[wl].load {
            Load::Open { .. } => rt.gen.as_ref().map(|g| g.next(now, &mut rt.arrivals_rng)),
            Load::Trace { rows, .. } => rows.get(rt.cursor).map(|r| r.arrival),
            Load::Closed { .. } => None,
        };
        if let Some(t) = next {
            if t < self.duration {
                self.q.schedule(t, Ev::Arrival { wl: wl as u32 });
            }
        }
    }

    /// Size and output tokens of the next unit of workload `wl`.
    fn draw_size(&mut self, wl: usize) -> (f64, u32) {
        let rt = &mut self.wls[wl];
        let w = &self.scenario_workloads[wl];
        match &w.load {
            Load::Open { size, out_tokens, .. } | Load::Closed { size, out_tokens, .. } => {
                let s = size.sample(&mut rt.size_rng);
                let o = out_tokens.as_ref().map_or(0, |d| d.sample(&mut rt.size_rng).round().max(1.0) as u32);
                (s, o)
            }
            Load::Trace { rows, out_tokens } => {
                let r = rows[rt.cursor];
                rt.cursor += 1;
                let o = if r.out_tokens > 0 {
                    r.out_tokens
                } else {
                    out_tokens.as_ref().map_or(0, |d| d.sample(&mut rt.size_rng).round().max(1.0) as u32)
                };
                (r.size, o)
            }
        }
    }

    fn on_user(&mut self, user: usize) {
        let now = self.q.now();
        if now >= self.users[user].stop_at {
            return;
        }
        let wl = self.users[user].wl as usize;
        let (size, out) = self.draw_size(wl);
        self.new_unit(wl, user as u32, now, size, out);
    }

    fn new_unit(&mut self, wl: usize, user: u32, now: SimTime, size: f64, out: u32) {
        let id = self.units.len() as u32;
        self.units.push(Unit {
            wl: wl as u32,
            user,
            arrival: now,
            stage: 0,
            first_size: size,
            out_tokens: out,
            first_audio: 0,
            has_audio: false,
            done: false,
            failed: false,
        });
        let timeout = self.scenario_workloads[wl].timeout;
        if timeout > 0 {
            self.q.schedule(now + timeout, Ev::Timeout { unit: id });
        }
        self.send_stage(id as usize);
    }

    /// Send the current stage of `unit` as a request.
    fn send_stage(&mut self, unit: usize) {
        let now = self.q.now();
        let u = self.units[unit];
        let w = &self.scenario_workloads[u.wl as usize];
        let (model, size, out) = match &w.target {
            Target::Model(m) => (*m, u.first_size, u.out_tokens),
            Target::Pipeline(p) => {
                let m = p.stages[u.stage as usize];
                let kind = self.models[m].kind;
                let prev = if u.stage == 0 { None } else { Some(self.models[p.stages[u.stage as usize - 1]].kind) };
                let size = match (prev, kind) {
                    (None, _) => u.first_size,
                    (Some(ServiceKind::Asr), ServiceKind::Llm) => {
                        p.prompt_base_tokens + (u.first_size * p.words_per_audio_s * p.tokens_per_word).round()
                    }
                    (Some(ServiceKind::Llm), ServiceKind::Tts) => (u.out_tokens as f64 * p.chars_per_token).round().max(1.0),
                    (Some(ServiceKind::Asr), ServiceKind::Tts) => {
                        (u.first_size * p.words_per_audio_s * p.tokens_per_word * p.chars_per_token).round().max(1.0)
                    }
                    (Some(_), _) => u.first_size,
                };
                (m, size, u.out_tokens)
            }
        };
        let id = self.reqs.len() as u32;
        self.reqs.push(Req {
            model: model as u32,
            unit: unit as u32,
            arrival: now,
            start: 0,
            first_token: 0,
            finish: 0,
            size,
            out_tokens: out.max(1),
            state: ReqState::Queued,
        });
        // A request longer than the KV cache can hold is refused at admission.
        if let Some(kv) = &self.models[model].kv {
            if size + out as f64 > kv.max_context_tokens as f64 {
                self.fail.rejected_requests += 1;
                self.fail_req(id as usize);
                return;
            }
        }
        if self.balancer == Balancer::SharedQueue {
            if !self.replicas[model].iter().any(|&r| self.servers[r as usize].up) {
                self.fail.rejected_requests += 1;
                self.fail_req(id as usize);
                return;
            }
            self.shared[model].push_back(id);
            // Wake an idle replica, lowest index first; busy ones pull when their call ends.
            if let Some(&srv) = self.replicas[model].iter().find(|&&r| {
                let s = &self.servers[r as usize];
                s.up && s.state == SrvState::Idle
            }) {
                let s = &mut self.servers[srv as usize];
                s.state = SrvState::Pending;
                let delay = from_ms(self.models[model].dispatch_ms);
                let ev = Ev::Dispatch { srv, epoch: s.epoch };
                self.q.schedule_in(delay, ev);
            }
            return;
        }
        match self.pick_replica(model) {
            Some(srv) => {
                let s = &mut self.servers[srv];
                s.queue.push_back(id);
                s.outstanding += 1;
                if s.state == SrvState::Idle {
                    s.state = SrvState::Pending;
                    s.admit_budget = s.queue.len();
                    let delay = from_ms(self.models[model].dispatch_ms);
                    let ev = Ev::Dispatch { srv: srv as u32, epoch: s.epoch };
                    self.q.schedule_in(delay, ev);
                }
            }
            None => {
                self.fail.rejected_requests += 1;
                self.fail_req(id as usize);
            }
        }
    }

    fn pick_replica(&mut self, model: usize) -> Option<usize> {
        let reps = &self.replicas[model];
        let n = reps.len();
        match self.balancer {
            Balancer::RoundRobin => {
                for k in 0..n {
                    let i = (self.rr[model] + k) % n;
                    if self.servers[reps[i] as usize].up {
                        self.rr[model] = i + 1;
                        return Some(reps[i] as usize);
                    }
                }
                None
            }
            Balancer::LeastOutstanding | Balancer::SharedQueue => reps
                .iter()
                .map(|&r| r as usize)
                .filter(|&r| self.servers[r].up)
                .min_by_key(|&r| self.servers[r].outstanding),
        }
    }

    // ------------------------------------------------------------------ servers

    /// The server's host loop: choose and issue the next GPU call, or go idle.
    fn dispatch(&mut self, srv: usize) {
        if !self.servers[srv].up {
            return;
        }
        if self.balancer == Balancer::SharedQueue {
            self.pull_shared(srv);
        }
        let s = &mut self.servers[srv];
        let spec = &self.models[s.model as usize];
        let (op, batch, size): (&OpTable, u32, f64);
        match spec.kind {
            ServiceKind::Asr | ServiceKind::Tts => {
                if s.queue.is_empty() {
                    s.state = SrvState::Idle;
                    return;
                }
                s.batch.clear();
                let mut max_size: f64 = 0.0;
                while s.batch.len() < spec.max_batch as usize {
                    let Some(r) = s.queue.pop_front() else { break };
                    s.batch.push(r);
                    max_size = max_size.max(self.reqs[r as usize].size);
                }
                s.call = Call::Batch;
                batch = s.batch.len() as u32;
                if spec.kind == ServiceKind::Asr {
                    op = spec.op("encode");
                    size = max_size;
                } else {
                    op = spec.op("synthesize");
                    size = spec.tts_frames(max_size);
                }
            }
            ServiceKind::Llm => {
                let slots = spec.kv.as_ref().map_or(1, |k| k.slots) as usize;
                if s.admit_budget > 0 && !s.queue.is_empty() && s.active.len() < slots {
                    let Some(r) = s.queue.pop_front() else { return };
                    s.admit_budget -= 1;
                    s.call = Call::Prefill(r);
                    op = spec.op("prefill");
                    batch = 1;
                    size = self.reqs[r as usize].size;
                } else if !s.active.is_empty() {
                    s.call = Call::Decode;
                    op = spec.op("decode");
                    batch = s.active.len() as u32;
                    size = s.active.iter().map(|a| a.len).max().unwrap_or(0) as f64 + 1.0;
                } else if !s.queue.is_empty() {
                    // Slots full cannot happen with no active sequence; start a new admission round.
                    s.admit_budget = s.queue.len();
                    return self.dispatch(srv);
                } else {
                    s.state = SrvState::Idle;
                    return;
                }
            }
        }
        let now = self.q.now();
        match s.call {
            Call::Batch => {
                for &r in &s.batch {
                    let q = &mut self.reqs[r as usize];
                    q.state = ReqState::Running;
                    q.start = now;
                }
            }
            Call::Prefill(r) => {
                let q = &mut self.reqs[r as usize];
                q.state = ReqState::Running;
                q.start = now;
            }
            _ => {}
        }
        s.state = SrvState::Busy;
        let dev = s.dev as usize;
        let mut scale = s.scale;
        if let DevKind::Mps = self.devices[dev].kind {
            // No bandwidth isolation: the memory system is shared equally by the clients running
            // now (`scale` holds this client's SM cap with the whole bandwidth).
            scale.bandwidth *= (self.devices[dev].n_running + 1) as f64;
        }
        let (ms, ext) = op.latency_ms(batch, size, &scale);
        self.extrapolated |= ext;
        let work = from_ms(ms).max(1);
        let (ctx, epoch) = (s.ctx as usize, s.epoch);
        self.submit(dev, ctx, srv, epoch, work);
    }

    /// Move as many requests from the router's queue as the server can start now.
    fn pull_shared(&mut self, srv: usize) {
        let m = self.servers[srv].model as usize;
        let spec = &self.models[m];
        let s = &mut self.servers[srv];
        let room = match spec.kind {
            ServiceKind::Llm => (spec.kv.as_ref().map_or(1, |k| k.slots) as usize).saturating_sub(s.active.len() + s.queue.len()),
            _ => (spec.max_batch as usize).saturating_sub(s.queue.len()),
        };
        let n = room.min(self.shared[m].len());
        s.queue.extend(self.shared[m].drain(..n));
        s.outstanding += n as u32;
        s.admit_budget += n;
    }

    /// The server's current call has finished at `now`.
    fn call_done(&mut self, srv: usize) {
        let now = self.q.now();
        let s = &mut self.servers[srv];
        match s.call {
            Call::Batch => {
                let batch = std::mem::take(&mut s.batch);
                for &r in &batch {
                    self.complete_req(r as usize, now);
                }
                let s = &mut self.servers[srv];
                s.outstanding -= batch.len() as u32;
                s.batch = batch;
                s.batch.clear();
            }
            Call::Prefill(r) => {
                self.reqs[r as usize].first_token = now;
                let q = self.reqs[r as usize];
                s.active.push(Seq { req: r, len: q.size as u32, remaining: q.out_tokens as i64 - 1 });
            }
            Call::Decode => {
                let mut j = 0;
                while j < self.servers[srv].active.len() {
                    let a = &mut self.servers[srv].active[j];
                    a.len += 1;
                    a.remaining -= 1;
                    if a.remaining <= 0 {
                        let r = a.req;
                        self.servers[srv].active.swap_remove(j);
                        self.servers[srv].outstanding -= 1;
                        self.complete_req(r as usize, now);
                    } else {
                        j += 1;
                    }
                }
                self.servers[srv].admit_budget = self.servers[srv].queue.len();
            }
            Call::None => {}
        }
        let m = self.servers[srv].model as usize;
        let s = &mut self.servers[srv];
        s.call = Call::None;
        if s.queue.is_empty() && s.active.is_empty() && self.shared[m].is_empty() {
            s.state = SrvState::Idle;
        } else {
            s.state = SrvState::Pending;
            let gap = from_ms(self.models[s.model as usize].call_gap_ms);
            let ev = Ev::Dispatch { srv: srv as u32, epoch: s.epoch };
            self.q.schedule_in(gap, ev);
        }
    }

    fn measured(&self, arrival: SimTime) -> bool {
        arrival >= self.warmup && arrival < self.duration
    }

    fn complete_req(&mut self, r: usize, now: SimTime) {
        let q = &mut self.reqs[r];
        if q.state == ReqState::Failed {
            return;
        }
        q.state = ReqState::Done;
        q.finish = now;
        let q = *q;
        let m = q.model as usize;
        let in_window = now >= self.warmup && now < self.duration;
        if self.measured(q.arrival) {
            let acc = &mut self.model_acc[m];
            acc.completed += 1;
            acc.latency_ms.push(to_ms(now - q.arrival));
            if self.models[m].kind == ServiceKind::Llm {
                acc.ttft_ms.push(to_ms(q.first_token - q.arrival));
            }
        }
        if in_window {
            self.model_acc[m].finished_in_window += 1;
        }
        self.stage_finished(q, now);
    }

    fn stage_finished(&mut self, q: Req, now: SimTime) {
        let unit = q.unit as usize;
        let u = self.units[unit];
        if u.done || u.failed {
            return;
        }
        let wl = u.wl as usize;
        let n_stages = self.wl_acc[wl].stage_ms.len() as u32;
        let measured = self.measured(u.arrival);
        if measured {
            self.wl_acc[wl].stage_ms[u.stage as usize].push(to_ms(now - q.arrival));
        }
        // Time to first audio = ASR latency + LLM time to first token + TTS time to its first chunk:
        // with streaming, TTS starts speaking from the LLM's first sentence, so the LLM's full
        // generation is not on the path. A streaming TTS emits its first chunk after synthesising
        // `tts_first_chunk_frames` frames: that fraction of this call's actual duration (sharing may
        // have stretched it); without streaming the whole TTS request is on the path.
        if let Target::Pipeline(p) = &self.scenario_workloads[wl].target {
            let spec = &self.models[q.model as usize];
            let part = match spec.kind {
                ServiceKind::Asr => now - q.arrival,
                ServiceKind::Llm => q.first_token - q.arrival,
                ServiceKind::Tts if p.tts_first_chunk_frames > 0.0 => {
                    let t = spec.op("synthesize");
                    let frames = spec.tts_frames(q.size);
                    let (full, _) = t.latency_ms(1, frames, &DeviceScale::IDENTITY);
                    let (chunk, _) = t.latency_ms(1, p.tts_first_chunk_frames.min(frames), &DeviceScale::IDENTITY);
                    (q.start - q.arrival) + ((now - q.start) as f64 * (chunk / full).min(1.0)) as SimTime
                }
                ServiceKind::Tts => now - q.arrival,
            };
            let unit = &mut self.units[unit];
            unit.first_audio += part;
            unit.has_audio |= spec.kind == ServiceKind::Tts;
        }
        if u.stage + 1 < n_stages {
            self.units[unit].stage += 1;
            self.send_stage(unit);
            return;
        }
        self.units[unit].done = true;
        if measured {
            let acc = &mut self.wl_acc[wl];
            acc.completed += 1;
            acc.latency_ms.push(to_ms(now - u.arrival));
            let done = self.units[unit];
            if done.has_audio {
                acc.first_audio_ms.push(to_ms(done.first_audio));
            }
        }
        if now >= self.warmup && now < self.duration {
            self.wl_acc[wl].finished_in_window += 1;
        }
        self.unit_over(unit);
    }

    /// A unit finished or failed: a closed-loop user thinks, then sends the next turn.
    fn unit_over(&mut self, unit: usize) {
        let u = self.units[unit];
        if u.user == NONE {
            return;
        }
        let wl = u.wl as usize;
        if let Load::Closed { think, think_exponential, .. } = self.scenario_workloads[wl].load {
            let rt = &mut self.users[u.user as usize];
            let z = if think_exponential {
                from_ms(Exp::new(1.0).map(|e| e.sample(&mut rt.think_rng)).unwrap_or(1.0) * to_ms(think))
            } else {
                think
            };
            self.q.schedule_in(z, Ev::User { user: u.user });
        }
    }

    fn fail_req(&mut self, r: usize) {
        let q = &mut self.reqs[r];
        if q.state == ReqState::Failed || q.state == ReqState::Done {
            return;
        }
        q.state = ReqState::Failed;
        let q = *q;
        if self.measured(q.arrival) {
            self.model_acc[q.model as usize].failed += 1;
        }
        self.fail_unit(q.unit as usize);
    }

    fn fail_unit(&mut self, unit: usize) {
        let u = self.units[unit];
        if u.done || u.failed {
            return;
        }
        self.units[unit].failed = true;
        if self.measured(u.arrival) {
            self.wl_acc[u.wl as usize].failed += 1;
        }
        self.unit_over(unit);
    }

    fn on_timeout(&mut self, unit: usize) {
        let u = self.units[unit];
        if u.done || u.failed {
            return;
        }
        if self.measured(u.arrival) {
            self.fail.timed_out += 1;
            self.wl_acc[u.wl as usize].timed_out += 1;
        }
        // The request in flight keeps its server busy (the server cannot know the client gave up);
        // only the unit is failed.
        self.fail_unit(unit);
    }

    // ------------------------------------------------------------------ faults

    fn on_crash(&mut self, k: usize) {
        let f = self.faults[k].clone();
        let Some(&srv) = self.replicas[f.model].get(f.replica) else { return };
        let srv = srv as usize;
        let now = self.q.now();
        if let FaultTime::Mtbf(mean) = f.when {
            let dt = from_ms(Exp::new(1.0).map(|e| e.sample(&mut self.fault_rng)).unwrap_or(1.0) * to_ms(mean));
            if now + f.restart + dt < self.horizon {
                self.q.schedule(now + f.restart + dt, Ev::Crash { fault: k as u32 });
            }
        }
        if !self.servers[srv].up {
            return;
        }
        self.fail.crashes += 1;
        // Time-sliced and MPS tenants share one fault domain: a crash takes every tenant down.
        let dev = self.servers[srv].dev as usize;
        let victims: Vec<u32> = match self.devices[dev].kind {
            DevKind::Exclusive => vec![srv as u32],
            _ => self.devices[dev].servers.clone(),
        };
        for v in victims {
            self.kill_server(v as usize, now + f.restart);
        }
    }

    fn kill_server(&mut self, srv: usize, back_at: SimTime) {
        let mut lost: Vec<u32> = Vec::new();
        let was_busy = self.servers[srv].state == SrvState::Busy;
        {
            let s = &mut self.servers[srv];
            s.up = false;
            s.epoch += 1;
            lost.extend(s.queue.drain(..));
            lost.append(&mut s.batch);
            lost.extend(s.active.drain(..).map(|a| a.req));
            if let Call::Prefill(r) = s.call {
                lost.push(r);
            }
            s.call = Call::None;
            s.state = SrvState::Idle;
            s.outstanding = 0;
            s.admit_budget = 0;
        }
        let (dev, ctx) = (self.servers[srv].dev as usize, self.servers[srv].ctx as usize);
        self.device_abort(dev, ctx, was_busy);
        for r in lost {
            let q = self.reqs[r as usize];
            if q.state != ReqState::Failed && q.state != ReqState::Done {
                if self.measured(q.arrival) {
                    self.fail.lost_requests += 1;
                    self.model_acc[q.model as usize].lost += 1;
                }
                self.fail_req(r as usize);
            }
        }
        self.q.schedule(back_at, Ev::Restart { srv: srv as u32 });
    }

    // ------------------------------------------------------------------ devices

    fn busy_add(&mut self, dev: usize, ctx: usize, a: SimTime, b: SimTime) {
        let o = window_overlap(a, b, self.warmup, self.duration);
        self.devices[dev].busy_ctx[ctx] += o;
    }

    /// Track "any context executing" for the whole device.
    fn set_running(&mut self, dev: usize, delta: i32) {
        let now = self.q.now();
        let d = &mut self.devices[dev];
        if delta > 0 {
            if d.n_running == 0 {
                d.busy_from = now;
            }
            d.n_running += 1;
        } else if d.n_running > 0 {
            d.n_running -= 1;
            if d.n_running == 0 {
                let from = d.busy_from;
                let o = window_overlap(from, now, self.warmup, self.duration);
                self.devices[dev].busy_any += o;
            }
        }
    }

    fn submit(&mut self, dev: usize, ctx: usize, srv: usize, epoch: u32, work: SimTime) {
        let now = self.q.now();
        match self.devices[dev].kind {
            DevKind::Exclusive | DevKind::Mps => {
                self.busy_add(dev, ctx, now, now + work);
                self.set_running(dev, 1);
                self.q.schedule(now + work, Ev::Done { srv: srv as u32, epoch });
            }
            DevKind::TimeSliced(_) => self.ts_submit(dev, ctx, work),
        }
    }

    fn device_call_ended(&mut self, dev: usize) {
        if !matches!(self.devices[dev].kind, DevKind::TimeSliced(_)) {
            self.set_running(dev, -1);
        }
    }

    fn device_abort(&mut self, dev: usize, ctx: usize, was_busy: bool) {
        match &mut self.devices[dev].kind {
            DevKind::TimeSliced(ts) => {
                ts.has_work[ctx] = false;
                ts.remaining[ctx] = 0;
                ts.ready.retain(|&c| c as usize != ctx);
                if ts.running == Some(ctx as u32) || ts.switching_to == Some(ctx as u32) {
                    ts.running = None;
                    ts.switching_to = None;
                    self.set_running(dev, -1);
                    self.ts_next(dev);
                }
            }
            _ => {
                // The epoch bump voids the pending Done event; account the device as idle now.
                if was_busy {
                    self.set_running(dev, -1);
                }
            }
        }
    }

    // Time slicing. One context executes at a time. A context that is alone runs unhindered; when
    // others are ready, the running one is preempted at the end of its current slice (slices of
    // `quantum` counted from when it got the GPU) and the next ready context, round-robin, gets
    // the GPU after `switch_cost`. A context whose call ends yields at once.

    fn ts(&mut self, dev: usize) -> &mut TsState {
        match &mut self.devices[dev].kind {
            DevKind::TimeSliced(ts) => ts,
            _ => unreachable!("time-slice operation on a non-time-sliced device"),
        }
    }

    fn ts_submit(&mut self, dev: usize, ctx: usize, work: SimTime) {
        let ts = self.ts(dev);
        ts.remaining[ctx] = work;
        ts.has_work[ctx] = true;
        if ts.running.is_none() && ts.switching_to.is_none() {
            self.ts_start(dev, ctx as u32);
        } else {
            ts.ready.push_back(ctx as u32);
            if ts.running.is_some() {
                self.ts_plan(dev);
            }
        }
    }

    fn ts_start(&mut self, dev: usize, ctx: u32) {
        let now = self.q.now();
        let ts = self.ts(dev);
        let cost = if ts.last == Some(ctx) { 0 } else { ts.switch_cost };
        if cost > 0 {
            ts.switches += 1;
        }
        ts.switching_to = Some(ctx);
        ts.token += 1;
        let token = ts.token;
        self.set_running(dev, 1);
        self.q.schedule(now + cost, Ev::Ts { dev: dev as u32, token });
    }

    /// Schedule the next decision for the running context: its call's end, or its slice end if others wait.
    fn ts_plan(&mut self, dev: usize) {
        let now = self.q.now();
        let ts = self.ts(dev);
        let Some(r) = ts.running else { return };
        let r = r as usize;
        let done_at = ts.updated + ts.remaining[r];
        let mut at = done_at;
        if !ts.ready.is_empty() {
            let q = ts.quantum.max(1);
            let elapsed = now - ts.slice_start;
            let boundary = ts.slice_start + q * (elapsed / q + 1);
            at = at.min(boundary);
        }
        ts.token += 1;
        let token = ts.token;
        self.q.schedule(at, Ev::Ts { dev: dev as u32, token });
    }

    fn ts_timer(&mut self, dev: usize, token: u32) {
        let now = self.q.now();
        if self.ts(dev).token != token {
            return;
        }
        if let Some(c) = self.ts(dev).switching_to.take() {
            // Switch complete: c runs.
            let ts = self.ts(dev);
            ts.running = Some(c);
            ts.last = Some(c);
            ts.slice_start = now;
            ts.updated = now;
            self.ts_plan(dev);
            return;
        }
        let Some(r) = self.ts(dev).running else { return };
        let r = r as usize;
        let ts = self.ts(dev);
        let ran = now - ts.updated;
        ts.remaining[r] = ts.remaining[r].saturating_sub(ran);
        ts.updated = now;
        let seg_start = now - ran;
        self.busy_add(dev, r, seg_start, now);
        let ts = self.ts(dev);
        if ts.remaining[r] == 0 {
            ts.has_work[r] = false;
            ts.running = None;
            self.set_running(dev, -1);
            let srv = self.devices[dev].servers[r] as usize;
            self.ts_next(dev);
            self.call_done(srv);
        } else {
            // Slice expired with others waiting: preempt.
            ts.ready.push_back(r as u32);
            ts.running = None;
            self.set_running(dev, -1);
            self.ts_next(dev);
        }
    }

    fn ts_next(&mut self, dev: usize) {
        let ts = self.ts(dev);
        if let Some(c) = ts.ready.pop_front() {
            self.ts_start(dev, c);
        }
    }

    // ------------------------------------------------------------------ views

    /// Per-device live view for the TUI.
    pub fn device_views(&self) -> Vec<DeviceView> {
        let span = self.q.now().saturating_sub(self.warmup).min(self.duration - self.warmup).max(1);
        self.devices
            .iter()
            .map(|d| {
                let running = match &d.kind {
                    DevKind::TimeSliced(ts) => ts.running.map(|c| self.servers[d.servers[c as usize] as usize].label.clone()),
                    _ => None,
                };
                DeviceView {
                    gpu: d.gpu,
                    label: d.label.clone(),
                    servers: d.servers.iter().map(|&s| self.servers[s as usize].label.clone()).collect(),
                    queues: d.servers.iter().map(|&s| self.servers[s as usize].queue.len() + self.servers[s as usize].active.len()).collect(),
                    running,
                    busy_fraction: (d.busy_ctx.iter().sum::<SimTime>() as f64 / span as f64).min(1.0),
                    server_busy: d.busy_ctx.iter().map(|&b| (b as f64 / span as f64).min(1.0)).collect(),
                }
            })
            .collect()
    }

    /// Every request in creation order; `None` for those that did not finish.
    pub fn request_records(&self) -> Vec<Option<RequestRecord>> {
        self.reqs
            .iter()
            .map(|q| {
                (q.state == ReqState::Done).then(|| RequestRecord {
                    workload: self.units[q.unit as usize].wl as usize,
                    arrival: q.arrival,
                    finish: q.finish,
                    first_token: q.first_token,
                })
            })
            .collect()
    }

    /// Latencies of completed requests of model `m` so far [ms] (unsorted).
    pub fn model_latencies(&self, m: usize) -> &[f64] {
        &self.model_acc[m].latency_ms
    }

    /// Summarise what has been simulated.
    pub fn summary(&self) -> RunSummary {
        let window = to_secs(self.duration - self.warmup).max(1e-9);
        let mut models = BTreeMap::new();
        // Measured requests (and units) still queued or running at the end count as failed.
        let mut stuck = vec![0u64; self.model_acc.len()];
        for q in &self.reqs {
            if matches!(q.state, ReqState::Queued | ReqState::Running) && self.measured(q.arrival) {
                stuck[q.model as usize] += 1;
            }
        }
        let mut stuck_units = vec![0u64; self.wl_acc.len()];
        for u in &self.units {
            if !u.done && !u.failed && self.measured(u.arrival) {
                stuck_units[u.wl as usize] += 1;
            }
        }
        let unfinished: u64 = stuck.iter().sum();
        for (m, acc) in self.model_acc.iter().enumerate() {
            let failed = acc.failed + stuck[m];
            let total = acc.completed + failed;
            let ttft = (self.models[m].kind == ServiceKind::Llm).then(|| summarize(&mut acc.ttft_ms.clone()).rounded());
            models.insert(
                self.model_names[m].clone(),
                ModelSummary {
                    completed: acc.completed,
                    failed,
                    throughput_rps: round4(acc.finished_in_window as f64 / window),
                    latency_ms: summarize(&mut acc.latency_ms.clone()).rounded(),
                    ttft_ms: ttft,
                    availability: round4(if total == 0 { 1.0 } else { acc.completed as f64 / total as f64 }),
                },
            );
        }
        let mut stages = BTreeMap::new();
        let (mut completed, mut failed, mut in_window) = (0u64, 0u64, 0u64);
        let mut all_lat: Vec<f64> = Vec::new();
        for (i, w) in self.scenario_workloads.iter().enumerate() {
            let acc = &self.wl_acc[i];
            let stuck = stuck_units[i];
            completed += acc.completed;
            failed += acc.failed + stuck;
            in_window += acc.finished_in_window;
            all_lat.extend_from_slice(&acc.latency_ms);
            if let Target::Pipeline(p) = &w.target {
                stages.insert(
                    w.name.clone(),
                    PipelineSummary {
                        completed: acc.completed,
                        failed: acc.failed + stuck,
                        availability: round4(if acc.completed + acc.failed + stuck == 0 {
                            1.0
                        } else {
                            acc.completed as f64 / (acc.completed + acc.failed + stuck) as f64
                        }),
                        throughput_tps: round4(acc.finished_in_window as f64 / window),
                        latency_ms: summarize(&mut acc.latency_ms.clone()).rounded(),
                        time_to_first_audio_ms: summarize(&mut acc.first_audio_ms.clone()).rounded(),
                        stages: p
                            .stages
                            .iter()
                            .zip(&acc.stage_ms)
                            .map(|(&m, s)| StageSummary { model: self.model_names[m].clone(), latency_ms: summarize(&mut s.clone()).rounded() })
                            .collect(),
                    },
                );
            }
        }
        let mut util = Vec::new();
        let span = (self.duration - self.warmup).max(1) as f64;
        for d in &self.devices {
            match d.kind {
                DevKind::Exclusive => {
                    let b = d.busy_ctx.first().copied().unwrap_or(0);
                    util.push(GpuUtil { gpu: d.gpu, partition: d.label.clone(), busy_fraction: round4(b as f64 / span) });
                }
                _ => {
                    // A busy period still open at the end counts up to now.
                    let open = if d.n_running > 0 { window_overlap(d.busy_from, self.q.now(), self.warmup, self.duration) } else { 0 };
                    let any = d.busy_any + open;
                    util.push(GpuUtil { gpu: d.gpu, partition: d.label.clone(), busy_fraction: round4((any as f64 / span).min(1.0)) });
                    for (c, &s) in d.servers.iter().enumerate() {
                        util.push(GpuUtil {
                            gpu: d.gpu,
                            partition: self.servers[s as usize].label.clone(),
                            busy_fraction: round4(d.busy_ctx[c] as f64 / span),
                        });
                    }
                }
            }
        }
        let mut fail = self.fail.clone();
        fail.unfinished = unfinished;
        fail.availability = models.iter().map(|(k, v)| (k.clone(), v.availability)).collect();
        let throughput = in_window as f64 / window;
        let switches = self
            .devices
            .iter()
            .map(|d| match &d.kind {
                DevKind::TimeSliced(ts) => ts.switches,
                _ => 0,
            })
            .sum();
        RunSummary {
            name: self.variant_name.clone(),
            gpus: self.n_gpus,
            gpu_type: self.gpu.name.clone(),
            cost_per_hour_usd: round4(self.price * self.n_gpus as f64),
            completed,
            failed,
            throughput_rps: round4(throughput),
            throughput_rps_per_gpu: round4(throughput / self.n_gpus.max(1) as f64),
            latency_ms: summarize(&mut all_lat).rounded(),
            models,
            gpu_utilization: util,
            extrapolated: self.extrapolated,
            stages,
            failures: fail,
            events: self.q.processed(),
            context_switches: switches,
        }
    }
}

/// Run every variant of a scenario (in parallel, results in variant order).
pub fn run_scenario(scenario: &Scenario, seed: u64) -> Result<Vec<RunSummary>> {
    use rayon::prelude::*;
    let sims: Vec<Simulation> = (0..scenario.variants.len()).map(|v| Simulation::new(scenario, v, seed)).collect::<Result<_>>()?;
    Ok(sims.into_par_iter().map(Simulation::run_to_end).collect())
}
