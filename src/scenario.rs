//! The validated scenario: what the simulator runs. Built only by [`crate::scenario::resolve::from_raw`];
//! every value here has been checked, so the simulation core never re-validates.

use crate::deploy::placement::Placement;
pub use crate::deploy::{Balancer, GpuPlan, Regime};
use crate::gpu::GpuSpec;
use crate::model::Model;
pub use crate::model::{AsrMode, LlmPolicy, TtsPolicy};
use crate::scenario::workload::{Arrivals, SizeDist, Trace};
use crate::time::SimTime;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub mod edit;
pub mod files;
pub mod raw;
pub mod resolve;
pub mod workload;

pub use resolve::from_raw;

/// A workload and the deployments to compare under it.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// What the scenario shows.
    pub description: String,
    /// Load is generated during `[0, duration)` [ns].
    pub duration: SimTime,
    /// Requests arriving before `warmup` are served but not measured [ns].
    pub warmup: SimTime,
    /// After `duration`, in-flight work may finish for at most this long; what is left is counted failed [ns].
    pub drain: SimTime,
    /// Length of the report windows [ns] (0: the run is reported as a whole only).
    pub window: SimTime,
    /// The model servers that may be deployed (after per-scenario overrides).
    pub models: Vec<Model>,
    /// Load sources; all run at once.
    pub workloads: Vec<Workload>,
    /// Deployments compared side by side (empty for a planning spec).
    pub variants: Vec<Variant>,
    /// Objectives each variant is judged against.
    pub slo: Vec<Slo>,
    /// Per model (index), how its replicas are scaled; `None`: all run all the time.
    pub autoscale: Vec<Option<Autoscale>>,
}

/// How the autoscaler sizes one model's replicas: every `interval` it sets the running
/// replicas to its metric summed over the serving replicas over the target (rounded up, within
/// `[min, max]`), as the Kubernetes Horizontal Pod Autoscaler sets
/// `ceil(current x average metric / target)`
/// (kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/).
#[derive(Debug, Clone, PartialEq)]
pub struct Autoscale {
    /// Names of the variants it applies to (empty: all).
    pub variants: Vec<String>,
    /// Fewest replicas running.
    pub min: u32,
    /// Most replicas running (at most those placed; the variant's count is the cap).
    pub max: u32,
    /// What it scales on, and the target per replica.
    pub target: ScaleTarget,
    /// Decision to serving [ns].
    pub startup: SimTime,
    /// Between evaluations [ns].
    pub interval: SimTime,
    /// Scale-down stabilisation: replicas are removed only down to the highest recommendation
    /// of this long before [ns].
    pub cooldown: SimTime,
    /// Extra start-up of a replica on a MIG instance [ns].
    pub relayout: SimTime,
}

/// The metric an autoscaler scales on, with its target per serving replica.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScaleTarget {
    /// Requests queued or in service (and waiting at a shared router queue).
    Outstanding(f64),
    /// The share of the evaluation interval a replica's GPU context was executing its calls
    /// (0-1), what DCGM's `DCGM_FI_PROF_GR_ENGINE_ACTIVE` reports per pod.
    Utilization(f64),
}

/// One objective: a metric of a model or workload, bounded above (latencies) or below
/// (availability).
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// As written, e.g. `asr.p95_ms`.
    pub key: String,
    /// Whose metric.
    pub target: SloTarget,
    /// What is bounded.
    pub metric: SloMetric,
    /// The bound [ms, or a fraction for availability].
    pub bound: f64,
}

impl Slo {
    /// True: the value must not exceed the bound (latencies); false: it must reach it.
    pub fn is_max(&self) -> bool {
        self.metric.is_max()
    }

    /// Whether a run's value meets the objective; nothing measured fails.
    pub fn met(&self, value: Option<f64>) -> bool {
        value.is_some_and(|v| if self.is_max() { v <= self.bound } else { v >= self.bound })
    }

    /// The worse of two values for this objective (the larger latency, the smaller availability).
    pub fn worse(&self, a: f64, b: f64) -> f64 {
        if self.is_max() {
            a.max(b)
        } else {
            a.min(b)
        }
    }

    /// How far a value is from the bound, as a ratio that exceeds 1 when the objective is broken
    /// (value / bound for a latency, bound / value for availability); nothing measured is
    /// infinitely far.
    pub fn ratio(&self, value: Option<f64>) -> f64 {
        match value {
            None => f64::INFINITY,
            Some(v) if self.is_max() => v / self.bound.max(1e-12),
            Some(v) => self.bound / v.max(1e-12),
        }
    }
}

/// A metric an SLO may bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SloMetric {
    /// Median latency [ms].
    P50,
    /// 95th-percentile latency [ms].
    P95,
    /// 99th-percentile latency [ms].
    P99,
    /// Mean latency [ms].
    Mean,
    /// An LLM's 95th-percentile time to first token [ms].
    TtftP95,
    /// A pipeline's 95th-percentile time to first audio [ms].
    FirstAudioP95,
    /// Fraction of requests (or turns) that did not fail.
    Availability,
}

impl SloMetric {
    /// Every metric, in the order messages list them.
    pub const ALL: [SloMetric; 7] = [
        SloMetric::P50,
        SloMetric::P95,
        SloMetric::P99,
        SloMetric::Mean,
        SloMetric::TtftP95,
        SloMetric::FirstAudioP95,
        SloMetric::Availability,
    ];

    /// The name as written after the model or workload in `[slo]`.
    pub fn name(self) -> &'static str {
        match self {
            SloMetric::P50 => "p50_ms",
            SloMetric::P95 => "p95_ms",
            SloMetric::P99 => "p99_ms",
            SloMetric::Mean => "mean_ms",
            SloMetric::TtftP95 => "ttft_p95_ms",
            SloMetric::FirstAudioP95 => "first_audio_p95_ms",
            SloMetric::Availability => "availability",
        }
    }

    /// The metric called `name`.
    pub fn parse(name: &str) -> Option<SloMetric> {
        SloMetric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// True for the latencies (bounded above); availability is bounded below.
    pub fn is_max(self) -> bool {
        self != SloMetric::Availability
    }
}

/// What an SLO is about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SloTarget {
    /// A model (index), over all its requests.
    Model(usize),
    /// A workload (index), over its top-level requests or turns.
    Workload(usize),
}

/// One deployment.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Name shown in reports.
    pub name: String,
    /// GPU type of every GPU of the variant.
    pub gpu: GpuSpec,
    /// Price of one GPU [$ per hour].
    pub price_usd_per_hour: f64,
    /// How requests pick among replicas of a model.
    pub balancer: Balancer,
    /// The GPUs and what runs on each.
    pub gpus: Vec<GpuPlan>,
    /// Injected crashes.
    pub faults: Vec<Fault>,
    /// Where every server runs and what it gets there, placed once when the scenario is
    /// resolved.
    pub placement: Placement,
}

impl Autoscale {
    /// It scales the replicas of variant `name`.
    pub fn applies_to(&self, name: &str) -> bool {
        self.variants.is_empty() || self.variants.iter().any(|v| v == name)
    }
}

/// A fault that hits the `replica`-th server of `model` in a variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Model index.
    pub model: usize,
    /// Which replica (in deployment order).
    pub replica: usize,
    /// What breaks, which sets the blast radius.
    pub kind: FaultKind,
    /// When it crashes.
    pub when: FaultTime,
    /// Time from crash until the server serves again [ns].
    pub restart: SimTime,
}

/// When a fault strikes.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultTime {
    /// Once, at this time [ns].
    At(SimTime),
    /// Repeatedly, exponential times between failures with this mean [ns].
    Mtbf(SimTime),
}

/// One load source.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Name shown in reports (the model or pipeline name).
    pub name: String,
    /// What each arrival requests.
    pub target: Target,
    /// How arrivals come.
    pub load: Load,
    /// A request (or turn) not finished this long after it arrived counts as failed [ns]; 0: none.
    pub timeout: SimTime,
    /// The RNG source id of its streams (None: its index). The planner sizes independent models
    /// in a study of their own and keeps each workload's id of the whole spec, so that the part
    /// simulated alone draws the same arrivals and sizes as in the joint simulation.
    pub stream: Option<u64>,
}

/// What one arrival asks for.
#[derive(Debug, Clone)]
pub enum Target {
    /// One request to one model.
    Model(usize),
    /// A chain of requests, each stage sent when the previous one finishes.
    Pipeline(Pipeline),
}

impl Target {
    /// The models requests go to, in stage order.
    pub fn stages(&self) -> Vec<usize> {
        match self {
            Target::Model(m) => vec![*m],
            Target::Pipeline(p) => p.stages.clone(),
        }
    }
}

/// A voice turn: ASR -> LLM -> TTS (or ASR -> TTS, stages of one kind in a row: see
/// [`crate::model::ServiceKind::feeds`]), with linked sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// Model index of each stage, in order.
    pub stages: Vec<usize>,
    /// Words spoken per audio second (ASR transcript length).
    pub words_per_audio_s: f64,
    /// LLM tokens per word.
    pub tokens_per_word: f64,
    /// Prompt tokens before the transcript (system prompt and history).
    pub prompt_base_tokens: f64,
    /// TTS characters per LLM output token.
    pub chars_per_token: f64,
    /// Codec frames of the first audio chunk a streaming TTS would emit; 0: TTS is not streamed.
    pub tts_first_chunk_frames: f64,
}

/// Arrival pattern of a workload.
#[derive(Debug, Clone)]
pub enum Load {
    /// Open loop: arrivals independent of completions.
    Open {
        /// Gap process.
        arrivals: Arrivals,
        /// First-stage size.
        size: SizeDist,
        /// LLM output tokens (LLM targets).
        out_tokens: Option<SizeDist>,
    },
    /// Replay of recorded arrivals and sizes.
    Trace {
        /// The trace, shared (never copied) by every variant and run.
        trace: Arc<Trace>,
        /// Time compression: arrival times are divided by it.
        scale: f64,
        /// Output tokens for targets with an LLM replaying a trace without them.
        out_tokens: Option<SizeDist>,
    },
    /// Closed loop: `users` each send, wait for the answer, think, repeat.
    Closed {
        /// Concurrent users at full load.
        users: u32,
        /// Think time [ns] (mean if exponential).
        think: SimTime,
        /// Exponential (true) or fixed think time.
        think_exponential: bool,
        /// Request loop, or a conversation paced by speech.
        pacing: Pacing,
        /// Users start evenly spread over this ramp [ns].
        ramp_up: SimTime,
        /// Then all users are active for this long [ns].
        hold: SimTime,
        /// Then users stop, evenly spread over this ramp [ns].
        ramp_down: SimTime,
        /// First-stage size.
        size: SizeDist,
        /// LLM output tokens.
        out_tokens: Option<SizeDist>,
    },
}

/// Think time between turns of a closed-loop user.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ThinkMode {
    /// Always `think_s`.
    #[default]
    Fixed,
    /// Exponential with mean `think_s`.
    Exponential,
}

/// How a closed-loop user's audio reaches the ASR server.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Pacing {
    /// A conversation: the user speaks the utterance in real time (streamed as spoken), waits for
    /// the reply, listens to it, thinks, and speaks again.
    RealTime,
    /// A conversation whose audio arrives whole when the utterance ends.
    Upload,
    /// No conversation: a request loop that sends the next turn `think_s` after the last reply
    /// was produced (a load generator's closed loop).
    Loop,
}

/// What a fault breaks, and so how far it reaches (docs/src/model/faults.md).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// The server process dies.
    #[default]
    Process,
    /// A fatal CUDA error (illegal address) in the server's context.
    ContextError,
    /// A co-tenant's memory grows until the others' allocations fail.
    MemoryExhaustion,
    /// The physical GPU is reset (e.g. Xid 79).
    DeviceReset,
}

impl FaultKind {
    /// Every kind, in report order.
    pub const ALL: [FaultKind; 4] = [
        FaultKind::Process,
        FaultKind::ContextError,
        FaultKind::MemoryExhaustion,
        FaultKind::DeviceReset,
    ];

    /// The name as written in a scenario.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Process => "process",
            FaultKind::ContextError => "context-error",
            FaultKind::MemoryExhaustion => "memory-exhaustion",
            FaultKind::DeviceReset => "device-reset",
        }
    }
}
