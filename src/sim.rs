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

use crate::error::{Error, Result};
use crate::gpu::{Catalog, GpuSpec};
use crate::metrics::{round4, LatencySketch, LatencySummary};
use crate::model::{DeviceShare, ModelSpec, ServiceKind, Slowdown};
use crate::rng::{stream_rng, SimRng};
use crate::scenario::workload::ArrivalGen;
use crate::scenario::{AsrMode, TtsPolicy};
use crate::scenario::{Balancer, FaultKind, FaultTime, Load, Pacing, Scenario, Target};
use crate::time::{from_ms, from_secs, to_ms, to_secs, SimTime};
use engine::EventQueue;
use rand_distr::{Distribution, Exp};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

mod device;
pub mod engine;
mod llm;
mod store;
mod summary;
mod voice;

use device::{DevKind, Device, TsState};
pub use summary::*;

const NONE: u32 = u32::MAX;
/// GPU time of a synchronous copy of a few bytes (the DMA and its completion) [ns].
const COPY_GPU_NS: SimTime = 10_000;

/// Events. All are `Copy`; stale ones are recognised by an epoch or token and ignored.
#[derive(Debug, Clone, Copy)]
enum Ev {
    /// Next arrival of open-loop or trace workload `wl`.
    Arrival { wl: u32 },
    /// Closed-loop user sends a turn (a conversation: starts speaking).
    User { user: u32 },
    /// A conversation's utterance ends: its audio goes to the first stage whole.
    Speak { unit: u32 },
    /// The next audio chunk of a real-time stream reaches its streaming ASR server.
    Chunk { req: u32 },
    /// Server host loop issues its next GPU call.
    Dispatch { srv: u32, epoch: u32 },
    /// A call on an exclusive device finished.
    Done { srv: u32, epoch: u32 },
    /// The next call of an MPS device may have finished.
    Mps { dev: u32, token: u32 },
    /// A server's host is done with the synchronous copy of its call: it launches the kernels.
    Resume { srv: u32, epoch: u32 },
    /// A server's host is done setting up a batch shape it had not run: it submits the call.
    Warmed { srv: u32, epoch: u32 },
    /// Decision point of a time-sliced device.
    Ts { dev: u32, token: u32 },
    /// A turn or request reaches its timeout (`gen`: the unit slot's generation when scheduled,
    /// so that a slot reused by a later unit ignores it).
    Timeout { unit: u32, gen: u32 },
    /// A server crashes (fault index).
    Crash { fault: u32 },
    /// A crashed server is back.
    Restart { srv: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ReqState {
    /// A stream attached to its streaming ASR server, with no chunk ready.
    Streaming,
    Queued,
    Running,
    Done,
    Failed,
    /// The slot is free for the next request (see `store.rs`).
    Free,
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
    /// LLM: output tokens generated so far (kept across a preemption).
    generated: u32,
    /// Streaming ASR: its server, its chunk calls in all, the chunks that have arrived, and
    /// those encoded.
    srv: u32,
    chunks: u32,
    chunks_in: u32,
    chunks_done: u32,
    state: ReqState,
}

/// One finished request, for per-request comparisons (`gpuslice validate`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestRecord {
    /// Workload that generated it (for a trace: rows are in trace order).
    pub workload: usize,
    /// Model it was sent to (a pipeline's stages are separate requests).
    pub model: usize,
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
    /// Conversation: when the user has heard the reply (first audio + its audio duration) [ns].
    listen_until: SimTime,
    done: bool,
    failed: bool,
    /// The request of its current stage (`NONE` once released; see `store.rs`).
    live_req: u32,
    /// Slot generation, bumped when the slot is freed; and whether it is free now.
    gen: u32,
    free: bool,
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
    /// Prefill-first: one request's prefill.
    Prefill(u32),
    /// Decode steps of every running sequence (`block_steps` of them).
    Decode,
    /// A mixed step (chunked) or a static batch's prefill: its prefill work is `chunks`.
    Step,
    /// Streaming ASR: one chunk of every stream in `batch`.
    Chunks,
    /// In-flight TTS: `block_steps` frame steps of every synthesis in `synth`.
    Frames,
}

/// An active synthesis of an in-flight TTS server.
#[derive(Debug, Clone, Copy)]
struct Synth {
    req: u32,
    /// Frames of the reply, and frames synthesised so far.
    frames: u32,
    done: u32,
}

/// A running LLM sequence.
#[derive(Debug, Clone, Copy)]
struct Seq {
    req: u32,
    /// Tokens in its KV cache.
    len: u32,
    /// Tokens still to generate.
    remaining: i64,
    /// Tokens to prefill (prompt, plus what it had generated before a preemption).
    prompt: u32,
    /// Prompt tokens prefilled so far (chunked).
    prefilled: u32,
    /// KV blocks held.
    blocks: u32,
    /// Its prefill is complete.
    decoding: bool,
    /// While it generates: the server's decode tick at which `len`, `remaining` and `blocks`
    /// were true (see `llm::Generating`).
    t0: u64,
}

#[derive(Debug, Clone)]
struct Server {
    model: u32,
    dev: u32,
    ctx: u32,
    /// What its calls run on.
    share: DeviceShare,
    /// The slow-down of its calls on that share (MPS: recomputed as clients come and go).
    slow: Slowdown,
    /// Its model's reference GPU (index into `Simulation::ref_gpus`).
    ref_gpu: usize,
    queue: VecDeque<u32>,
    state: SrvState,
    call: Call,
    batch: Vec<u32>,
    active: Vec<Seq>,
    admit_budget: usize,
    /// Work of the current call still to launch after its synchronous copy [ns].
    pending: SimTime,
    /// Host time between the copy's end and the launch of the kernels [ns].
    resume_gap: SimTime,
    /// LLM: free KV blocks, and all of them.
    kv_free: u64,
    kv_total: u64,
    /// LLM: the generating sequences in aggregate.
    generating: llm::Generating,
    /// On a time-sliced GPU shared with other contexts: the share of a call's batch-1 time it
    /// saves (1 - `shared_time_fraction`), and the host phase at the start of each call [ns];
    /// both 0 elsewhere.
    shared_saving: f64,
    host_phase: SimTime,
    /// ASR/TTS: host time of the first call at a padded batch not in `warm` [ns]; `warm` holds
    /// the batches run so far (the model's `warm_batches` at start and after a restart).
    cold: SimTime,
    warm: Vec<u32>,
    /// The call waiting for its set-up: (op, batch, size).
    cold_call: Option<(&'static str, u32, f64)>,
    /// ASR/TTS: sigma of a call's log-normal spread around the table, and its stream.
    noise: f64,
    noise_rng: SimRng,
    /// LLM: the prefill work of the running step: (index in `active`, tokens).
    chunks: Vec<(u32, u32)>,
    /// LLM: decode steps in the running call, when and how they were costed (runs of equal
    /// steps: count, ns each), so that the block can be cut at a step boundary.
    block_steps: u32,
    block_start: SimTime,
    block_runs: Vec<(u32, SimTime)>,
    /// LLM: scratch for the indices of the sequences a block finishes.
    block_ends: Vec<u32>,
    /// LLM: duration of a decode step by (batch, context) on this server [ns].
    cost_cache: std::collections::HashMap<(u32, u32), SimTime, std::hash::BuildHasherDefault<PairHasher>>,
    /// LLM: sequences preempted (recompute).
    preemptions: u64,
    /// Streaming ASR: every stream attached (waiting for audio, ready, or in the call).
    streams: Vec<u32>,
    /// In-flight TTS: the active syntheses, in admission order.
    synth: Vec<Synth>,
    /// In-flight TTS: (frame step, setup) at each batch size on this server [ns], filled as
    /// batch sizes are first seen (step 0: not yet).
    frame_ns: Vec<(SimTime, SimTime)>,
    /// In-flight TTS: the running call's join setup before its first step, and its step [ns].
    block_extra: SimTime,
    block_w: SimTime,
    outstanding: u32,
    up: bool,
    /// Kind of the fault that took it down (`FaultKind::ALL` index), while it is down.
    down_kind: u8,
    epoch: u32,
    label: String,
}

/// Hashes the small integer keys of `Server::cost_cache` with a multiply per word (FxHash's
/// constant): SipHash, the std default, cost more than the table lookup the cache saves.
#[derive(Default, Clone, Copy)]
struct PairHasher(u64);

impl std::hash::Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Least time a closed-loop user waits after a failed turn before the next [ns].
const RETRY_BACKOFF: SimTime = crate::time::SEC;

/// Per-model accumulators.
#[derive(Debug, Clone, Default)]
struct ModelAcc {
    completed: u64,
    failed: u64,
    lost: u64,
    /// Requests lost or refused because of a fault, per fault kind (`FaultKind::ALL` order).
    failed_by_kind: [u64; 4],
    /// Latencies and LLM times to first token of measured requests [ms]: sketches, so that
    /// memory does not grow with the number of requests.
    latency: LatencySketch,
    ttft: LatencySketch,
    /// The exact latencies too, in completion order, only when records are kept.
    samples: Vec<f64>,
    finished_in_window: u64,
    preemptions: u64,
    /// Requests that arrived in the measurement window, and their summed size and LLM output
    /// tokens (the offered load the planner bounds capacity with).
    arrived: u64,
    size_sum: f64,
    out_sum: f64,
}

/// Per-workload accumulators (top-level units).
#[derive(Debug, Clone, Default)]
struct WlAcc {
    completed: u64,
    failed: u64,
    timed_out: u64,
    /// Latency, time to first audio and per-stage latency of measured units [ms] (sketches).
    latency: LatencySketch,
    first_audio: LatencySketch,
    stages: Vec<LatencySketch>,
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
    /// Conversation: the user's own utterance-length and reply-length streams.
    size_rng: SimRng,
    reply_rng: SimRng,
    /// Conversation: open (first utterance started, not yet left).
    in_session: bool,
}

/// Active conversations: how many are open now, and their time integral and peak over the
/// measurement window.
#[derive(Debug, Clone, Default)]
struct ConvAcc {
    /// Users of conversation workloads (0: the scenario has none).
    users: u32,
    active: u32,
    /// Sum of active x ns within the window.
    area: u128,
    max: u32,
    last: SimTime,
}

/// One variant's simulation.
pub struct Simulation {
    q: EventQueue<Ev>,
    models: Vec<ModelSpec>,
    model_names: Vec<String>,
    scenario_workloads: Vec<crate::scenario::Workload>,
    slo: Vec<crate::scenario::Slo>,
    servers: Vec<Server>,
    devices: Vec<Device>,
    /// Reference GPUs of the models' tables.
    ref_gpus: Vec<GpuSpec>,
    replicas: Vec<Vec<u32>>,
    rr: Vec<usize>,
    shared: Vec<VecDeque<u32>>,
    balancer: Balancer,
    /// Requests and units in slots reused once finished (`store.rs`): memory follows the work
    /// in flight, not the work done, unless `keep_records`.
    reqs: Vec<Req>,
    units: Vec<Unit>,
    free_reqs: Vec<u32>,
    free_units: Vec<u32>,
    keep_records: bool,
    wls: Vec<WlRuntime>,
    users: Vec<UserRt>,
    faults: Vec<crate::scenario::Fault>,
    fault_rng: SimRng,
    model_acc: Vec<ModelAcc>,
    wl_acc: Vec<WlAcc>,
    fail: FailureSummary,
    kind_crashes: [u64; 4],
    /// Reused buffer (requests finishing in a block of decode steps).
    scratch: Vec<u32>,
    /// Reused buffer (syntheses finishing in a block of frame steps).
    frames_done: Vec<u32>,
    conv: ConvAcc,
    duration: SimTime,
    warmup: SimTime,
    horizon: SimTime,
    extrapolated: bool,
    /// Advance runs of LLM decode steps as one call where exact (see `llm.rs`).
    decode_blocks: bool,
    variant_name: String,
    gpu: GpuSpec,
    n_gpus: u32,
    price: f64,
}

/// A trace arrival time compressed by `scale` (2 = replayed twice as fast).
fn scaled(t: SimTime, scale: f64) -> SimTime {
    if scale == 1.0 {
        t
    } else {
        (t as f64 / scale).round() as SimTime
    }
}

fn window_overlap(a: SimTime, b: SimTime, lo: SimTime, hi: SimTime) -> SimTime {
    b.min(hi).saturating_sub(a.max(lo))
}

impl Simulation {
    /// Build the simulation of variant `variant` of `scenario` with `seed`. Fails if the variant
    /// cannot be placed (see [`crate::deploy::placement::place`]); a scenario built by
    /// [`crate::scenario::resolve::from_raw`] has been placed already.
    pub fn new(scenario: &Scenario, variant: usize, seed: u64) -> Result<Simulation> {
        let v = &scenario.variants[variant];
        let p = &v.placement;
        let cat = Catalog::builtin();
        let mut ref_gpus: Vec<GpuSpec> = Vec::new();
        let mut replicas: Vec<Vec<u32>> = vec![Vec::new(); scenario.models.len()];
        let mut servers = Vec::with_capacity(p.servers.len());
        for (id, ps) in p.servers.iter().enumerate() {
            replicas[ps.model].push(id as u32);
            let spec = &scenario.models[ps.model];
            let reference = cat.gpu(&spec.reference_gpu).ok_or_else(|| {
                Error::input(
                    "",
                    format!("models.{}.reference_gpu", spec.name),
                    format!("unknown GPU '{}'", spec.reference_gpu),
                )
            })?;
            let kv_block = spec.llm.as_ref().map_or(1, |l| u64::from(l.kv_block_tokens.max(1)));
            servers.push(Server {
                model: ps.model as u32,
                dev: ps.device,
                ctx: ps.ctx,
                share: ps.share,
                slow: Slowdown::of(&spec.scaling, reference, &ps.share),
                ref_gpu: match ref_gpus.iter().position(|g| g.name == reference.name) {
                    Some(i) => i,
                    None => {
                        ref_gpus.push(reference.clone());
                        ref_gpus.len() - 1
                    }
                },
                queue: VecDeque::new(),
                state: SrvState::Idle,
                call: Call::None,
                batch: Vec::new(),
                active: Vec::new(),
                admit_budget: 0,
                pending: 0,
                resume_gap: 0,
                kv_free: ps.kv_tokens / kv_block,
                kv_total: ps.kv_tokens / kv_block,
                generating: llm::Generating::new(
                    spec.llm.as_ref().map_or(0, |l| l.kv_block_tokens.max(1)),
                    spec.llm.as_ref().is_some_and(|l| l.policy != crate::scenario::LlmPolicy::Chunked),
                ),
                shared_saving: 0.0,
                host_phase: 0,
                cold: from_ms(spec.cold_call_ms),
                warm: spec.warm_batches.clone(),
                cold_call: None,
                noise: spec.call_noise,
                noise_rng: stream_rng(seed, (1 << 21) | id as u64, 8),
                chunks: Vec::new(),
                block_steps: 1,
                block_start: 0,
                block_runs: Vec::new(),
                block_ends: Vec::new(),
                cost_cache: std::collections::HashMap::default(),
                preemptions: 0,
                streams: Vec::new(),
                synth: Vec::new(),
                frame_ns: Vec::new(),
                block_extra: 0,
                block_w: 0,
                outstanding: 0,
                up: true,
                down_kind: 0,
                epoch: 0,
                label: ps.label.clone(),
            });
        }
        let devices: Vec<Device> = p
            .devices
            .iter()
            .map(|d| {
                let n = d.servers.len();
                let kind = match d.kind {
                    crate::deploy::placement::DeviceKind::Exclusive => DevKind::Exclusive,
                    crate::deploy::placement::DeviceKind::Mps => DevKind::Mps(device::MpsState {
                        pct: d
                            .servers
                            .iter()
                            .map(|&s| p.servers[s as usize].share.sms / v.gpu.sm_count as f64 * 100.0)
                            .collect(),
                        calls: vec![None; n],
                        ..device::MpsState::default()
                    }),
                    crate::deploy::placement::DeviceKind::TimeSliced { quantum, switch_cost } => DevKind::TimeSliced(TsState {
                        quantum,
                        switch_cost,
                        remaining: vec![0; n],
                        has_work: vec![false; n],
                        ..TsState::default()
                    }),
                };
                Device {
                    kind,
                    gpu: d.gpu,
                    label: d.label.clone(),
                    servers: d.servers.clone(),
                    busy_ctx: vec![0; n],
                    busy_any: 0,
                    busy_from: 0,
                    n_running: 0,
                    instance: d.instance.clone(),
                    call_start: 0,
                }
            })
            .collect();
        // Servers that share a time-sliced GPU with another context: their calls save time and
        // start with their host phase (`shared_work`).
        for s in servers.iter_mut() {
            let d = &devices[s.dev as usize];
            if matches!(d.kind, DevKind::TimeSliced(_)) && d.servers.len() > 1 {
                s.shared_saving = 1.0 - scenario.models[s.model as usize].shared_time_fraction;
                s.host_phase = from_ms(scenario.models[s.model as usize].host_phase_ms);
            }
        }
        let extrapolated = p.extrapolated;
        let mut sim = Simulation {
            ref_gpus,
            q: EventQueue::new(),
            models: scenario.models.clone(),
            model_names: scenario.models.iter().map(|m| m.name.clone()).collect(),
            scenario_workloads: scenario.workloads.clone(),
            slo: scenario.slo.clone(),
            rr: vec![0; replicas.len()],
            shared: vec![VecDeque::new(); replicas.len()],
            replicas,
            servers,
            devices,
            balancer: v.balancer,
            reqs: Vec::new(),
            units: Vec::new(),
            free_reqs: Vec::new(),
            free_units: Vec::new(),
            keep_records: false,
            wls: Vec::new(),
            users: Vec::new(),
            faults: v.faults.clone(),
            fault_rng: stream_rng(seed, 1 << 20, 7),
            model_acc: vec![ModelAcc::default(); scenario.models.len()],
            wl_acc: Vec::new(),
            fail: FailureSummary::default(),
            kind_crashes: [0; 4],
            scratch: Vec::new(),
            frames_done: Vec::new(),
            conv: ConvAcc::default(),
            duration: scenario.duration,
            warmup: scenario.warmup,
            horizon: scenario.duration + scenario.drain,
            extrapolated,
            decode_blocks: true,
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
            self.wl_acc.push(WlAcc {
                stages: vec![LatencySketch::new(); stages],
                ..WlAcc::default()
            });
            let src = i as u64;
            let mut rt = WlRuntime {
                gen: None,
                arrivals_rng: stream_rng(seed, src, 0),
                size_rng: stream_rng(seed, src, 1),
                cursor: 0,
            };
            match &w.load {
                Load::Open { arrivals, .. } => {
                    let g = ArrivalGen::new(arrivals);
                    let t = g.next(0, &mut rt.arrivals_rng);
                    rt.gen = Some(g);
                    if t < self.duration {
                        self.q.schedule(t, Ev::Arrival { wl: i as u32 });
                    }
                }
                Load::Trace { trace, scale, .. } => {
                    if let Some(r) = trace.rows.first() {
                        let t = scaled(r.arrival, *scale);
                        if t < self.duration {
                            self.q.schedule(t, Ev::Arrival { wl: i as u32 });
                        }
                    }
                }
                Load::Closed {
                    users,
                    ramp_up,
                    hold,
                    ramp_down,
                    pacing,
                    ..
                } => {
                    let n = (*users).max(1) as u64;
                    if *pacing != Pacing::Loop {
                        self.conv.users += *users;
                    }
                    for u in 0..*users as u64 {
                        let start = ramp_up * u / n;
                        let stop = ramp_up + hold + ramp_down * (u + 1) / n;
                        let id = self.users.len() as u32;
                        self.users.push(UserRt {
                            wl: i as u32,
                            stop_at: stop.min(self.duration),
                            think_rng: stream_rng(seed, src, 100 + u),
                            // Purposes 100 + u are the think streams (u < 2^32 users).
                            size_rng: stream_rng(seed, src, (1 << 32) | u),
                            reply_rng: stream_rng(seed, src, (2 << 32) | u),
                            in_session: false,
                        });
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

    /// Advance runs of LLM decode steps one step at a time (true is the default: blocks where
    /// exact). For the exactness test and for debugging: results must not change.
    pub fn set_decode_blocks(&mut self, on: bool) {
        self.decode_blocks = on;
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
            Ev::Speak { unit } => {
                let u = self.units[unit as usize];
                if !u.done && !u.failed {
                    self.send_stage(unit as usize);
                }
            }
            Ev::Chunk { req } => self.on_chunk(req as usize),
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
            Ev::Mps { dev, token } => self.mps_timer(dev as usize, token),
            Ev::Resume { srv, epoch } => {
                let s = &mut self.servers[srv as usize];
                if s.epoch == epoch {
                    let (dev, ctx, work) = (s.dev as usize, s.ctx as usize, std::mem::take(&mut s.pending));
                    self.submit(dev, ctx, srv as usize, epoch, work);
                }
            }
            Ev::Warmed { srv, epoch } => {
                let s = &mut self.servers[srv as usize];
                if s.epoch == epoch {
                    if let Some((name, batch, size)) = s.cold_call.take() {
                        self.submit_table_call(srv as usize, name, batch, size);
                    }
                }
            }
            Ev::Timeout { unit, gen } => {
                if self.units[unit as usize].gen == gen {
                    self.on_timeout(unit as usize)
                }
            }
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
        let (size, out) = self.draw_size(wl, NONE);
        self.new_unit(wl, NONE, now, size, out);
        let rt = &mut self.wls[wl];
        let next = match &self.scenario_workloads[wl].load {
            Load::Open { .. } => rt.gen.as_ref().map(|g| g.next(now, &mut rt.arrivals_rng)),
            Load::Trace { trace, scale, .. } => trace.rows.get(rt.cursor).map(|r| scaled(r.arrival, *scale)),
            Load::Closed { .. } => None,
        };
        if let Some(t) = next {
            if t < self.duration {
                self.q.schedule(t, Ev::Arrival { wl: wl as u32 });
            }
        }
    }

    /// Size and output tokens of the next unit of workload `wl`, sent by `user` (`NONE`: an
    /// open-loop or trace arrival). A conversation's user draws from its own stream, so that
    /// users' utterances and replies are independent of one another and of the event order.
    fn draw_size(&mut self, wl: usize, user: u32) -> (f64, u32) {
        let w = &self.scenario_workloads[wl];
        match &w.load {
            Load::Closed {
                pacing, size, out_tokens, ..
            } if *pacing != Pacing::Loop && user != NONE => {
                let u = &mut self.users[user as usize];
                let s = size.sample(&mut u.size_rng);
                let o = out_tokens
                    .as_ref()
                    .map_or(0, |d| d.sample(&mut u.reply_rng).round().max(1.0) as u32);
                (s, o)
            }
            Load::Open { size, out_tokens, .. } | Load::Closed { size, out_tokens, .. } => {
                let rt = &mut self.wls[wl];
                let s = size.sample(&mut rt.size_rng);
                let o = out_tokens
                    .as_ref()
                    .map_or(0, |d| d.sample(&mut rt.size_rng).round().max(1.0) as u32);
                (s, o)
            }
            Load::Trace { trace, out_tokens, .. } => {
                let rt = &mut self.wls[wl];
                let r = trace.rows[rt.cursor];
                rt.cursor += 1;
                let o = if r.out_tokens > 0 {
                    r.out_tokens
                } else {
                    out_tokens
                        .as_ref()
                        .map_or(0, |d| d.sample(&mut rt.size_rng).round().max(1.0) as u32)
                };
                (f64::from(r.size), o)
            }
        }
    }

    fn on_user(&mut self, user: usize) {
        let now = self.q.now();
        let wl = self.users[user].wl as usize;
        let pacing = match self.scenario_workloads[wl].load {
            Load::Closed { pacing, .. } => pacing,
            _ => Pacing::Loop,
        };
        if now >= self.users[user].stop_at {
            if self.users[user].in_session {
                self.users[user].in_session = false;
                self.conv_change(-1);
            }
            return;
        }
        let (size, out) = self.draw_size(wl, user as u32);
        if pacing == Pacing::Loop {
            self.new_unit(wl, user as u32, now, size, out);
            return;
        }
        self.start_utterance(user, pacing, size, out);
    }

    fn new_unit(&mut self, wl: usize, user: u32, now: SimTime, size: f64, out: u32) {
        let id = self.add_unit(wl, user, now, size, out);
        self.send_stage(id);
    }

    /// Create a unit whose clock (latency, first audio, timeout) starts at `arrival`.
    fn add_unit(&mut self, wl: usize, user: u32, arrival: SimTime, size: f64, out: u32) -> usize {
        let id = self.alloc_unit(Unit {
            wl: wl as u32,
            user,
            arrival,
            stage: 0,
            first_size: size,
            out_tokens: out,
            first_audio: 0,
            has_audio: false,
            listen_until: 0,
            done: false,
            failed: false,
            live_req: NONE,
            gen: 0,
            free: false,
        });
        let timeout = self.scenario_workloads[wl].timeout;
        if timeout > 0 {
            let gen = self.units[id as usize].gen;
            self.q.schedule(arrival + timeout, Ev::Timeout { unit: id, gen });
        }
        id as usize
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
                let prev = if u.stage == 0 {
                    None
                } else {
                    Some(self.models[p.stages[u.stage as usize - 1]].kind)
                };
                let size = match (prev, kind) {
                    (None, _) => u.first_size,
                    (Some(ServiceKind::Asr), ServiceKind::Llm) => {
                        p.prompt_base_tokens + (u.first_size * p.words_per_audio_s * p.tokens_per_word).round()
                    }
                    (Some(ServiceKind::Llm), ServiceKind::Tts) => (u.out_tokens as f64 * p.chars_per_token).round().max(1.0),
                    (Some(ServiceKind::Asr), ServiceKind::Tts) => {
                        (u.first_size * p.words_per_audio_s * p.tokens_per_word * p.chars_per_token)
                            .round()
                            .max(1.0)
                    }
                    (Some(_), _) => u.first_size,
                };
                (m, size, u.out_tokens)
            }
        };
        if self.measured(now) {
            let acc = &mut self.model_acc[model];
            acc.arrived += 1;
            acc.size_sum += size;
            acc.out_sum += f64::from(out);
        }
        let spec = &self.models[model];
        let stream = spec.kind == ServiceKind::Asr && spec.asr_mode == AsrMode::Streaming;
        let real_time = u.stage == 0
            && u.user != NONE
            && matches!(
                w.load,
                Load::Closed {
                    pacing: Pacing::RealTime,
                    ..
                }
            );
        let id = self.alloc_req(Req {
            model: model as u32,
            unit: unit as u32,
            // The first stage's clock is the unit's: for a real-time stream, the end of the
            // speech its chunks are still arriving for.
            arrival: if u.stage == 0 { u.arrival } else { now },
            start: 0,
            first_token: 0,
            finish: 0,
            size,
            out_tokens: out.max(1),
            generated: 0,
            srv: NONE,
            chunks: 0,
            chunks_in: 0,
            chunks_done: 0,
            state: ReqState::Queued,
        });
        if stream {
            // A stream stays on one replica (its encoder cache), whatever the balancer.
            match self.pick_replica(model) {
                Some(srv) => self.open_stream(id as usize, srv, real_time),
                None => {
                    self.reject_down(id as usize);
                    self.release_req(id);
                }
            }
            return;
        }
        // A request longer than the KV cache can hold is refused at admission.
        if let Some(llm) = &self.models[model].llm {
            if size + out as f64 > llm.max_context_tokens as f64 {
                self.fail.rejected_requests += 1;
                self.fail_req(id as usize);
                self.release_req(id);
                return;
            }
        }
        if self.balancer == Balancer::SharedQueue {
            if !self.replicas[model].iter().any(|&r| self.servers[r as usize].up) {
                self.reject_down(id as usize);
                self.release_req(id);
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
                    let ev = Ev::Dispatch {
                        srv: srv as u32,
                        epoch: s.epoch,
                    };
                    self.q.schedule_in(delay, ev);
                } else if s.state == SrvState::Busy && self.models[model].kind == ServiceKind::Llm {
                    self.llm_enqueued(srv);
                } else if s.state == SrvState::Busy && self.models[model].tts_policy == TtsPolicy::InFlight {
                    self.frames_enqueued(srv);
                }
            }
            None => {
                self.reject_down(id as usize);
                self.release_req(id);
            }
        }
    }

    /// Refuse a request because every replica of its model is down, counting it against the
    /// kind of fault that took the first replica down.
    fn reject_down(&mut self, r: usize) {
        let q = self.reqs[r];
        self.fail.rejected_requests += 1;
        if self.measured(q.arrival) {
            let first = self.replicas[q.model as usize][0] as usize;
            let kind = self.servers[first].down_kind as usize;
            self.model_acc[q.model as usize].failed_by_kind[kind] += 1;
        }
        self.fail_req(r);
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
        let (name, batch, size): (&str, u32, f64);
        match spec.kind {
            ServiceKind::Asr if spec.asr_mode == AsrMode::Streaming => return self.stream_dispatch(srv),
            ServiceKind::Tts if spec.tts_policy == TtsPolicy::InFlight => return self.frames_dispatch(srv),
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
                    name = "encode";
                    size = max_size;
                } else {
                    name = "synthesize";
                    size = spec.tts_frames(max_size);
                }
            }
            ServiceKind::Llm => return self.llm_dispatch(srv),
        }
        let now = self.q.now();
        for &r in &s.batch {
            let q = &mut self.reqs[r as usize];
            q.state = ReqState::Running;
            q.start = now;
        }
        s.state = SrvState::Busy;
        self.submit_table_call(srv, name, batch, size);
    }

    /// Submit server `srv`'s call of op `name` over `batch` requests of `size` to its device:
    /// on MPS its latency on the whole reference GPU and its parts (the device rates it by the
    /// clients running); elsewhere its duration on the server's share. The first call at a
    /// padded batch the server has not run yet first spends its set-up on the host (the TTS
    /// server's eager encoder meets a new shape), asking nothing of the GPU, whatever the regime.
    fn submit_table_call(&mut self, srv: usize, name: &'static str, batch: u32, size: f64) {
        let s = &mut self.servers[srv];
        let op = self.models[s.model as usize].op(name);
        let (dev, ctx, epoch) = (s.dev as usize, s.ctx as usize, s.epoch);
        let (b, sz, beyond) = op.padded(batch, size);
        if s.cold > 0 && !s.warm.contains(&(b as u32)) {
            s.warm.push(b as u32);
            s.cold_call = Some((name, batch, size));
            let ev = Ev::Warmed { srv: srv as u32, epoch };
            self.q.schedule_in(s.cold, ev);
            return;
        }
        // Each call varies around its table.
        let jitter = if s.noise > 0.0 {
            let z: f64 = rand_distr::StandardNormal.sample(&mut s.noise_rng);
            (s.noise * z).exp()
        } else {
            1.0
        };
        let s = &self.servers[srv];
        if let DevKind::Mps(_) = self.devices[dev].kind {
            let (l_ms, ext) = op.grid_ms(b, sz);
            let (fixed, compute) = op.fractions(b, sz);
            self.extrapolated |= ext || beyond;
            let call = device::MpsCall {
                srv: srv as u32,
                epoch,
                l_ref_ms: l_ms * jitter,
                fixed,
                compute,
                left: 1.0,
                rate: 0.0,
                started: self.q.now(),
            };
            self.mps_submit(dev, ctx, call);
            return;
        }
        let (ms, ext) = op.latency_ms(batch, size, &s.slow);
        self.extrapolated |= ext;
        let work = from_ms(ms * jitter).max(1);
        if s.shared_saving == 0.0 && s.host_phase == 0 {
            return self.submit_work(srv, work, true);
        }
        // The saving and the host phase are the table's, not this call's draw.
        let w1 = from_ms(if batch > 1 { op.latency_ms(1, size, &s.slow).0 } else { ms }).max(1);
        // The host phase (TTS's eager encoder) asks nothing of the GPU; the rest is GPU work.
        let host = s.host_phase.min(w1 - 1).min(work - 1);
        let gpu = self.shared_work(srv, work - host, w1 - host);
        if host == 0 {
            return self.submit_work(srv, gpu, true);
        }
        let s = &mut self.servers[srv];
        s.pending = gpu;
        let ev = Ev::Resume {
            srv: srv as u32,
            epoch: s.epoch,
        };
        self.q.schedule_in(host, ev);
    }

    /// Solo `work` [ns] of a call whose batch-1 version costs `w1`, as it runs on this server's
    /// device: on a time-sliced GPU shared with other contexts every call takes
    /// (1 - `shared_time_fraction`) x `w1` less. The saving was measured per call, the same
    /// whether another context had work around the call or not and about constant over batch
    /// sizes (traces/h200/analysis_ts.txt, sections 15 and 16).
    pub(super) fn shared_work(&self, srv: usize, work: SimTime, w1: SimTime) -> SimTime {
        let f = self.servers[srv].shared_saving;
        if f == 0.0 {
            return work;
        }
        work.saturating_sub((f * w1 as f64).round() as SimTime).max(1)
    }

    /// Submit `work` [ns] of solo time for `srv`'s current call on an exclusive or time-sliced
    /// device. With `copy_first` the call starts with the model's synchronous copy: a few us of
    /// GPU work (the DMA), then host time until the kernels are launched; the solo duration
    /// stays `work`.
    fn submit_work(&mut self, srv: usize, work: SimTime, copy_first: bool) {
        let s = &mut self.servers[srv];
        let mut work = work;
        let copy = from_ms(self.models[s.model as usize].sync_copy_ms);
        if copy_first && copy > 0 && work > copy {
            let gpu = COPY_GPU_NS.min(copy);
            s.pending = work - copy;
            s.resume_gap = copy - gpu;
            work = gpu;
        }
        let (dev, ctx, epoch) = (s.dev as usize, s.ctx as usize, s.epoch);
        self.submit(dev, ctx, srv, epoch, work);
    }

    /// Move as many requests from the router's queue as the server can start now.
    fn pull_shared(&mut self, srv: usize) {
        let m = self.servers[srv].model as usize;
        let spec = &self.models[m];
        let s = &mut self.servers[srv];
        let room = match spec.kind {
            ServiceKind::Llm => (spec.llm.as_ref().map_or(1, |l| l.max_seqs) as usize).saturating_sub(s.active.len() + s.queue.len()),
            _ => (spec.max_batch as usize).saturating_sub(s.queue.len() + s.synth.len()),
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
        if s.pending > 0 {
            // Only the copy has run: the host launches the kernels after its turnaround.
            let ev = Ev::Resume {
                srv: srv as u32,
                epoch: s.epoch,
            };
            self.q.schedule_in(s.resume_gap, ev);
            return;
        }
        let was = s.call;
        match s.call {
            Call::Chunks => self.stream_call_done(srv, now),
            Call::Frames => self.frames_call_done(srv, now),
            Call::Batch => {
                let batch = std::mem::take(&mut s.batch);
                for &r in &batch {
                    self.complete_req(r as usize, now);
                }
                for &r in &batch {
                    self.release_req(r);
                }
                let s = &mut self.servers[srv];
                s.outstanding -= batch.len() as u32;
                s.batch = batch;
                s.batch.clear();
            }
            Call::Prefill(_) | Call::Decode | Call::Step => self.llm_call_done(srv, now),
            Call::None => {}
        }
        let m = self.servers[srv].model as usize;
        let s = &mut self.servers[srv];
        s.call = Call::None;
        let waiting = !s.queue.is_empty() || !self.shared[m].is_empty();
        if !waiting && s.active.is_empty() && s.synth.is_empty() {
            s.state = SrvState::Idle;
        } else {
            s.state = SrvState::Pending;
            // Frame steps follow each other without host time (the table's per-frame cost was
            // measured over the server's own frame loop); the host's scheduling time comes before
            // a step that admits newcomers, as before any other call.
            let spec = &self.models[m];
            let joins = waiting && s.synth.len() < spec.max_batch as usize;
            let gap = if was == Call::Frames && !joins {
                0
            } else {
                from_ms(spec.call_gap_ms)
            };
            let ev = Ev::Dispatch {
                srv: srv as u32,
                epoch: s.epoch,
            };
            self.q.schedule_in(gap, ev);
        }
    }

    /// Wake an idle server: its host loop issues a call `dispatch_ms` from now.
    fn wake(&mut self, srv: usize) {
        let s = &mut self.servers[srv];
        if s.state == SrvState::Idle && s.up {
            s.state = SrvState::Pending;
            let delay = from_ms(self.models[s.model as usize].dispatch_ms);
            let ev = Ev::Dispatch {
                srv: srv as u32,
                epoch: s.epoch,
            };
            self.q.schedule_in(delay, ev);
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
            let ms = to_ms(now - q.arrival);
            acc.latency.add(ms);
            if self.keep_records {
                acc.samples.push(ms);
            }
            if self.models[m].kind == ServiceKind::Llm {
                acc.ttft.add(to_ms(q.first_token - q.arrival));
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
        let n_stages = self.wl_acc[wl].stages.len() as u32;
        let measured = self.measured(u.arrival);
        if measured {
            self.wl_acc[wl].stages[u.stage as usize].add(to_ms(now - q.arrival));
        }
        // Time to first audio = ASR latency + LLM time to first token + TTS time to its first chunk:
        // with streaming, TTS starts speaking from the LLM's first sentence, so the LLM's full
        // generation is not on the path. The ASR latency of a conversation counts from the end
        // of the user's speech. An in-flight TTS returns its first chunk when the request's
        // `first_chunk_frames`-th frame step ends (recorded then). A static TTS with
        // `tts_first_chunk_frames` streams its output: the first chunk comes that fraction of
        // this call's actual duration (sharing may have stretched it) into the call; without
        // streaming the whole TTS request is on the path.
        if let Target::Pipeline(p) = &self.scenario_workloads[wl].target {
            let spec = &self.models[q.model as usize];
            let part = match spec.kind {
                ServiceKind::Asr => now - q.arrival,
                ServiceKind::Llm => q.first_token - q.arrival,
                ServiceKind::Tts if spec.tts_policy == TtsPolicy::InFlight => q.first_token - q.arrival,
                ServiceKind::Tts if p.tts_first_chunk_frames > 0.0 => {
                    let t = spec.op("synthesize");
                    let frames = spec.tts_frames(q.size);
                    let (full, _) = t.latency_ms(1, frames, &Slowdown::IDENTITY);
                    let (chunk, _) = t.latency_ms(1, p.tts_first_chunk_frames.min(frames), &Slowdown::IDENTITY);
                    (q.start - q.arrival) + ((now - q.start) as f64 * (chunk / full).min(1.0)) as SimTime
                }
                ServiceKind::Tts => now - q.arrival,
            };
            let unit = &mut self.units[unit];
            unit.first_audio += part;
            if spec.kind == ServiceKind::Tts {
                // The user hears the reply from its first audio for the audio's duration.
                unit.has_audio = true;
                let heard = from_secs(spec.tts_audio_s(spec.tts_frames(q.size)));
                unit.listen_until = unit.arrival + unit.first_audio + heard;
            }
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
            acc.latency.add(to_ms(now - u.arrival));
            let done = self.units[unit];
            if done.has_audio {
                acc.first_audio.add(to_ms(done.first_audio));
            }
        }
        if now >= self.warmup && now < self.duration {
            self.wl_acc[wl].finished_in_window += 1;
        }
        self.unit_over(unit);
    }

    /// A unit finished or failed: a closed-loop user thinks, then sends the next turn. In a
    /// conversation the user first finishes speaking (a failed turn may fail before the speech
    /// ends) and hears the reply out (it may still be playing when the synthesis is done).
    fn unit_over(&mut self, unit: usize) {
        let u = self.units[unit];
        if u.user == NONE {
            return;
        }
        let wl = u.wl as usize;
        if let Load::Closed {
            think,
            think_exponential,
            pacing,
            ..
        } = self.scenario_workloads[wl].load
        {
            let now = self.q.now();
            let rt = &mut self.users[u.user as usize];
            let mut z = if think_exponential {
                from_ms(Exp::new(1.0).map(|e| e.sample(&mut rt.think_rng)).unwrap_or(1.0) * to_ms(think))
            } else {
                think
            };
            if u.failed {
                // A client backs off after an error before it tries again (gRPC's initial
                // connection backoff is 1 s: github.com/grpc/grpc doc/connection-backoff.md). It
                // also keeps a refused turn, which takes no simulated time, from retrying at the
                // same instant forever (a livelock fuzzing found).
                z = z.max(RETRY_BACKOFF);
            }
            let from = match pacing {
                Pacing::Loop => now,
                _ if u.done => now.max(u.listen_until),
                _ => now.max(u.arrival),
            };
            self.q.schedule(from + z, Ev::User { user: u.user });
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
        let Some(&srv) = self.replicas[f.model].get(f.replica) else {
            return;
        };
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
        let kind = f.kind as usize;
        self.kind_crashes[kind] += 1;
        for v in self.blast_radius(srv, f.kind) {
            self.kill_server(v as usize, now + f.restart, kind);
        }
    }

    /// The servers a fault of `kind` on server `srv` takes down (README "Faults", with the
    /// NVIDIA documentation behind each row in docs/sources.md S2.10).
    fn blast_radius(&self, srv: usize, kind: FaultKind) -> Vec<u32> {
        let dev = &self.devices[self.servers[srv].dev as usize];
        let mps = matches!(dev.kind, DevKind::Mps(_));
        let shared_memory = !matches!(dev.kind, DevKind::Exclusive);
        match kind {
            // Own CUDA context under time-slicing, own instance under MIG; MPS clients share the
            // server's context, so its fatal errors reach every client.
            FaultKind::Process | FaultKind::ContextError if mps => dev.servers.clone(),
            FaultKind::Process | FaultKind::ContextError => vec![srv as u32],
            // No memory capacity isolation on a time-sliced or MPS GPU: every tenant's
            // allocations fail; a MIG instance has its own memory.
            FaultKind::MemoryExhaustion if shared_memory => dev.servers.clone(),
            FaultKind::MemoryExhaustion => vec![srv as u32],
            // The physical GPU, every instance and context on it.
            FaultKind::DeviceReset => {
                let gpu = dev.gpu;
                self.devices
                    .iter()
                    .filter(|d| d.gpu == gpu)
                    .flat_map(|d| d.servers.iter().copied())
                    .collect()
            }
        }
    }

    fn kill_server(&mut self, srv: usize, back_at: SimTime, kind: usize) {
        let mut lost: Vec<u32> = Vec::new();
        let was_busy = self.servers[srv].state == SrvState::Busy;
        // The server's queue, batch and sequences are all that refer to these requests: once
        // failed here, their slots can be reused.
        {
            let s = &mut self.servers[srv];
            s.up = false;
            s.down_kind = kind as u8;
            s.epoch += 1;
            lost.extend(s.queue.drain(..));
            lost.append(&mut s.batch);
            lost.extend(s.active.drain(..).map(|a| a.req));
            s.generating.clear();
            // Streams waiting for audio are in neither the queue nor the call.
            lost.append(&mut s.streams);
            lost.extend(s.synth.drain(..).map(|x| x.req));
            s.kv_free = s.kv_total;
            s.warm.clone_from(&self.models[s.model as usize].warm_batches);
            s.cold_call = None;
            s.block_steps = 1;
            if let Call::Prefill(r) = s.call {
                lost.push(r);
            }
            s.call = Call::None;
            s.state = SrvState::Idle;
            s.outstanding = 0;
            s.admit_budget = 0;
            s.pending = 0;
        }
        let (dev, ctx) = (self.servers[srv].dev as usize, self.servers[srv].ctx as usize);
        self.device_abort(dev, ctx, was_busy);
        for &r in &lost {
            let q = self.reqs[r as usize];
            if q.state != ReqState::Failed && q.state != ReqState::Done {
                if self.measured(q.arrival) {
                    self.fail.lost_requests += 1;
                    self.model_acc[q.model as usize].lost += 1;
                    self.model_acc[q.model as usize].failed_by_kind[kind] += 1;
                }
                self.fail_req(r as usize);
            }
        }
        for &r in &lost {
            // A real-time stream's next chunk is still on its way: `on_chunk` releases it.
            let q = &self.reqs[r as usize];
            if q.chunks_in >= q.chunks {
                self.release_req(r);
            }
        }
        self.q.schedule(back_at, Ev::Restart { srv: srv as u32 });
    }
}

/// Run every variant of a scenario (in parallel, results in variant order).
pub fn run_scenario(scenario: &Scenario, seed: u64) -> Result<Vec<RunSummary>> {
    use rayon::prelude::*;
    let sims: Vec<Simulation> = (0..scenario.variants.len())
        .map(|v| Simulation::new(scenario, v, seed))
        .collect::<Result<_>>()?;
    Ok(sims.into_par_iter().map(Simulation::run_to_end).collect())
}
