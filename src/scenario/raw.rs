//! Stage 1 of reading a scenario: the file as written. Every struct refuses unknown fields, and
//! every choice among named policies is a serde enum, so a misspelt key or value is an error that
//! names it, before any value is checked. Values are checked (ranges) and converted (units) once,
//! in stage 2 ([`super::from_raw`]).
//!
//! These structs also serialise back to TOML: the TUI's export and the planner's
//! `--emit-scenario` write them, and `gpuslice run` reads the result.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Policy and mode enums live with the validated scenario; the raw structs use them as written.
pub use crate::scenario::{AsrMode, Balancer, FaultKind, LlmPolicy, Pacing, ThinkMode, TtsPolicy};
pub use crate::model::arch::Arch;
pub use crate::model::{ServiceKind, SizeUnit};

/// A scenario file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Scenario name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Load duration [s].
    pub duration_s: f64,
    /// Length of the report's time windows [s] (none: one figure for the whole run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<f64>,
    /// Unmeasured warm-up [s].
    #[serde(default)]
    pub warmup_s: f64,
    /// Longest time to finish in-flight work after `duration_s` [s] (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_s: Option<f64>,
    /// Models by name.
    pub models: BTreeMap<String, RawModel>,
    /// Load sources.
    #[serde(default)]
    pub workload: Vec<RawWorkload>,
    /// Deployments compared side by side (none: the scenario is a planning spec, see `plan`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variant: Vec<RawVariant>,
    /// Latency and availability objectives: `"<model or workload>.<metric>" = bound`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slo: BTreeMap<String, f64>,
    /// Autoscaling of a model's replicas in every variant that serves it, by model name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub autoscale: BTreeMap<String, RawAutoscale>,
    /// Search space of `gpuslice plan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<RawPlan>,
    /// Axes of `gpuslice sweep`: `seeds = [..]` and `"path" = [values]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<RawSweep>,
}

/// A model entry.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// `h100/asr`-style built-in name or a path to a model JSON (relative to the scenario file);
    /// or none, for a model defined by `kind` and `arch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Server behaviour of a model defined by its architecture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ServiceKind>,
    /// The transformer's shape: the model's tables are derived from it (docs/src/model/architecture.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<Arch>,
    /// LLM: GPUs of a tensor-parallel group (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensor_parallel: Option<u32>,
    /// LLM: pipeline stages (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_parallel: Option<u32>,
    /// Encoder defined by its architecture: the unit of a request's size (default tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_unit: Option<SizeUnit>,
    /// Encoder or ASR defined by its architecture: the padded batches and sizes its server runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<RawBuckets>,
    /// Override of the total memory footprint [GiB].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_gib: Option<f64>,
    /// Override of the batch limit (ASR/TTS) or of the most sequences an LLM runs at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<u32>,
    /// Override of the longest prompt + output a sequence may reach [tokens] (LLM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_context_tokens: Option<u32>,
    /// LLM scheduler policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<LlmPolicy>,
    /// Token budget of one `chunked` step (vLLM `max_num_batched_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_num_batched_tokens: Option<u32>,
    /// Paged KV cache: tokens per block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_block_tokens: Option<u32>,
    /// Share of the device (or slice) memory the LLM server may take (vLLM
    /// `gpu_memory_utilization`); the KV cache gets what the weights and reserve leave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory_utilization: Option<f64>,
    /// ASR server mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asr_mode: Option<AsrMode>,
    /// Streaming ASR: audio per chunk call [s].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_s: Option<f64>,
    /// TTS server policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tts_policy: Option<TtsPolicy>,
    /// In-flight TTS: frames synthesised before the first audio chunk is returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_chunk_frames: Option<u32>,
    /// ASR/TTS: override of the spread of call times around the table (0: every call takes
    /// its table time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_noise: Option<f64>,
    /// ASR/TTS: override of the set-up of a first call at a batch not yet run [ms] (0: the
    /// server warmed every batch shape before serving).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_call_ms: Option<f64>,
}

/// Padding buckets as written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawBuckets {
    /// Batch sizes (ascending).
    pub batch: Vec<u32>,
    /// Request sizes, in the model's unit (ascending).
    pub size: Vec<f64>,
}

impl RawModel {
    /// The model file it reads, if `from` names one (not a built-in model).
    pub fn model_file(&self) -> Option<&str> {
        self.from.as_deref().filter(|f| crate::model::builtin(f).is_none())
    }
}

/// Size distribution as written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, tag = "dist", rename_all = "lowercase")]
pub enum RawDist {
    /// Fixed value.
    Fixed {
        /// The value.
        value: f64,
    },
    /// Log-normal, clamped.
    Lognormal {
        /// Median.
        median: f64,
        /// Sigma of ln.
        sigma: f64,
        /// Lower clamp.
        min: f64,
        /// Upper clamp.
        max: f64,
    },
    /// Exponential.
    Exponential {
        /// Mean.
        mean: f64,
    },
    /// Uniform.
    Uniform {
        /// Low.
        min: f64,
        /// High.
        max: f64,
    },
}

/// Arrival process as written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, tag = "process", rename_all = "kebab-case")]
pub enum RawArrivals {
    /// Poisson: at a constant `rate_rps`, or at the piecewise-constant rate of `schedule`.
    Poisson {
        /// Rate [req/s].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate_rps: Option<f64>,
        /// `[hour, rate_rps]` pairs: the rate from each hour mark on (a day of load).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schedule: Option<Vec<(f64, f64)>>,
    },
    /// Poisson at a rate that follows a 24 h cosine from `trough_rps` to `peak_rps` at
    /// `peak_hour` (and back to the trough 12 h away from it).
    Diurnal {
        /// Rate at the peak hour [req/s].
        peak_rps: f64,
        /// Rate 12 h from the peak [req/s].
        trough_rps: f64,
        /// Hour of the peak, from the run's start (default 14).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peak_hour: Option<f64>,
    },
    /// Gamma renewal.
    Gamma {
        /// Rate [req/s].
        rate_rps: f64,
        /// Coefficient of variation of the gaps.
        cv: f64,
    },
    /// On-off.
    OnOff {
        /// Rate while on [req/s].
        rate_rps: f64,
        /// On [s].
        on_s: f64,
        /// Off [s].
        off_s: f64,
    },
}

impl RawArrivals {
    /// A constant-rate Poisson process.
    pub fn poisson(rate_rps: f64) -> RawArrivals {
        RawArrivals::Poisson {
            rate_rps: Some(rate_rps),
            schedule: None,
        }
    }

    /// Scale every rate of the process by `k` after `round` (the TUI rounds the result so that
    /// repeated scaling stays readable; the planner keeps it exact).
    pub fn scale(&mut self, k: f64, round: impl Fn(f64) -> f64) {
        let r = |x: &mut f64| *x = round(*x * k);
        match self {
            RawArrivals::Poisson { rate_rps, schedule } => {
                rate_rps.iter_mut().for_each(r);
                for (_, rate) in schedule.iter_mut().flatten() {
                    r(rate);
                }
            }
            RawArrivals::Gamma { rate_rps, .. } | RawArrivals::OnOff { rate_rps, .. } => r(rate_rps),
            RawArrivals::Diurnal { peak_rps, trough_rps, .. } => {
                r(peak_rps);
                r(trough_rps);
            }
        }
    }

    /// How the rate reads in a one-line summary: `12.5 req/s`, or the peak of a time-varying one.
    pub fn rate_label(&self) -> String {
        let n = crate::error::num;
        match self {
            RawArrivals::Poisson {
                schedule: Some(s), ..
            } => format!("peak {} req/s", n(s.iter().map(|p| p.1).fold(0.0, f64::max))),
            RawArrivals::Poisson { rate_rps, .. } => format!("{} req/s", n(rate_rps.unwrap_or(0.0))),
            RawArrivals::Gamma { rate_rps, .. } | RawArrivals::OnOff { rate_rps, .. } => format!("{} req/s", n(*rate_rps)),
            RawArrivals::Diurnal { peak_rps, .. } => format!("peak {} req/s", n(*peak_rps)),
        }
    }
}

/// An `[autoscale.<model>]` table: the replicas of the model a variant places are the most it
/// may run; the autoscaler turns them on and off.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawAutoscale {
    /// Variants it applies to (default: every variant that serves the model).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
    /// Fewest replicas running (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<u32>,
    /// Most replicas running (default: every replica the variant places).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<u32>,
    /// Requests queued or in service per serving replica the autoscaler aims at (this or
    /// `target_utilization_pct`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_outstanding: Option<f64>,
    /// GPU utilisation per serving replica the autoscaler aims at [%]: the share of the last
    /// interval its context was executing calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_utilization_pct: Option<f64>,
    /// Time from the decision to add a replica until it serves [s]: pod start and model load.
    pub startup_s: f64,
    /// Time between evaluations [s] (default 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<f64>,
    /// Scale-down stabilisation: replicas are removed only down to the highest recommendation of
    /// this many seconds before [s] (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_s: Option<f64>,
    /// Added to the start-up of a replica on a MIG instance: the GPU's re-layout [s] (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relayout_s: Option<f64>,
}

/// Pipeline size links as written (defaults: see `super::links_default`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawLinks {
    /// Words per audio second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words_per_audio_s: Option<f64>,
    /// Tokens per word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_word: Option<f64>,
    /// Prompt tokens before the transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_base_tokens: Option<f64>,
    /// TTS characters per LLM output token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chars_per_token: Option<f64>,
    /// Frames of the first streamed TTS chunk of a static TTS server (0: not streamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tts_first_chunk_frames: Option<f64>,
}

/// A workload as written: exactly one of `arrivals`, `trace`, `users`.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    /// Name in reports (default: the model, or the pipeline's stages joined by `->`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Target model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Target pipeline: model names in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<Vec<String>>,
    /// Size links of a pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<RawLinks>,
    /// Open-loop arrivals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<RawArrivals>,
    /// Trace file (relative to the scenario file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// Trace time compression (2 = twice as fast).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_rate_scale: Option<f64>,
    /// Closed-loop users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u32>,
    /// Think time [s].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_s: Option<f64>,
    /// Think-time distribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<ThinkMode>,
    /// Closed loop: conversation pacing (default `loop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacing: Option<Pacing>,
    /// Ramp-up [s].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp_up_s: Option<f64>,
    /// Hold [s] (default: the rest of the duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_s: Option<f64>,
    /// Ramp-down [s].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp_down_s: Option<f64>,
    /// First-stage size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<RawDist>,
    /// LLM output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_tokens: Option<RawDist>,
    /// Per-request/turn timeout [s].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
}

/// A variant as written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawVariant {
    /// Name.
    pub name: String,
    /// GPU type (catalog key).
    pub gpu: String,
    /// Price override [$ per GPU-hour].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_usd_per_hour: Option<f64>,
    /// Replica selection (default round-robin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer: Option<Balancer>,
    /// GPUs.
    pub gpus: Vec<RawGpu>,
    /// Injected faults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<RawFault>,
}

/// A GPU as written: its sharing regime with that regime's own fields. `models` names the
/// tenants; `count` repeats the GPU.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "regime", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RawGpu {
    /// One server owns the GPU.
    Dedicated {
        /// Exactly one model.
        models: Vec<String>,
        /// Repeat this GPU (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
    },
    /// Kubernetes time-slicing: the GPU runs one context at a time.
    TimeSliced {
        /// The tenants.
        models: Vec<String>,
        /// Time slice [ms] (default: the measured value, docs/src/model/time-slicing.md).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quantum_ms: Option<f64>,
        /// Context-switch cost [us] (default: the measured value, docs/src/model/time-slicing.md).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        switch_us: Option<f64>,
        /// Repeat this GPU (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
    },
    /// MIG instances, one model (or `-`, empty) per instance.
    Mig {
        /// Profiles, e.g. `3g.40gb,3g.40gb`.
        layout: String,
        /// One model per instance, `-` for an empty one.
        models: Vec<String>,
        /// Repeat this GPU (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
    },
    /// CUDA MPS clients.
    Mps {
        /// The clients.
        models: Vec<String>,
        /// Active-thread percentage per client (default 100/n each).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_pct: Option<Vec<f64>>,
        /// Device-memory limit per client [GiB] (default an equal share of the GPU).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mem_limit_gib: Option<Vec<f64>>,
        /// Repeat this GPU (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
    },
}

impl RawGpu {
    /// The tenants, whatever the regime.
    pub fn models(&self) -> &[String] {
        match self {
            RawGpu::Dedicated { models, .. }
            | RawGpu::TimeSliced { models, .. }
            | RawGpu::Mig { models, .. }
            | RawGpu::Mps { models, .. } => models,
        }
    }

    /// The repeat count field, whatever the regime.
    pub fn count_mut(&mut self) -> &mut Option<u32> {
        match self {
            RawGpu::Dedicated { count, .. } | RawGpu::TimeSliced { count, .. } | RawGpu::Mig { count, .. } | RawGpu::Mps { count, .. } => {
                count
            }
        }
    }

    /// A dedicated GPU running `model`.
    pub fn dedicated(model: &str) -> RawGpu {
        RawGpu::Dedicated {
            models: vec![model.to_string()],
            count: None,
        }
    }
}

/// A fault as written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    /// Model whose server is hit.
    pub model: String,
    /// Which replica (default 0).
    #[serde(default)]
    pub replica: usize,
    /// What breaks (default `process`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<FaultKind>,
    /// Time of a single fault [s].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_s: Option<f64>,
    /// Mean time between faults [s].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtbf_s: Option<f64>,
    /// Time until the servers hit are back [s].
    pub restart_s: f64,
}

/// The `[plan]` table.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    /// GPU types to consider (catalog keys; default: every type of the catalog).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpu_types: Vec<String>,
    /// Regimes to consider (default: all four).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regimes: Vec<crate::deploy::RegimeKind>,
    /// Most GPUs of a candidate (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gpus: Option<u32>,
    /// Seeds each candidate is simulated with; it is judged on the worst (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<u32>,
    /// A candidate passes only if it also meets every SLO with every load scaled by
    /// 1 + pct/100 (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_headroom_pct: Option<f64>,
    /// `exact` (every structure of the joint study), `decomposed` (independent models sized
    /// apart, then co-tenants merged) or `auto` (default: decomposed beyond 5 models, or
    /// where the exact structures pass the limit, when the models split into independent parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<PlanSearch>,
    /// Price overrides by GPU type [$ per GPU-hour].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub price_usd_per_hour: BTreeMap<String, f64>,
    /// GPUs per node by GPU type (default: the catalog's `gpus_per_node`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gpus_per_node: BTreeMap<String, u32>,
    /// Price of one node by GPU type [$ per node-hour] (default: its GPUs x the GPU price).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_price_usd_per_hour: BTreeMap<String, f64>,
    /// How requests pick a replica in every candidate (default round-robin, as a Kubernetes
    /// Service spreads connections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer: Option<Balancer>,
}

/// How the planner searches (`[plan] search`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PlanSearch {
    /// Decomposed beyond 5 models (or the structure limit), where the models split.
    #[default]
    Auto,
    /// Every structure of the joint study.
    Exact,
    /// Independent parts sized apart, then combined.
    Decomposed,
}

/// The `[sweep]` table: `seeds` and one list of values per scenario path.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct RawSweep {
    /// Replications.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seeds: Vec<u64>,
    /// Axes: path -> values, e.g. `"workload[0].users" = [20, 50]`, in the order of the file.
    #[serde(flatten)]
    pub axes: Axes,
}

/// The axes of a `[sweep]` table in the order the file writes them, which is the run order
/// (the first axis outermost): a sorted map would reorder them alphabetically.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Axes(pub Vec<(String, Vec<toml::Value>)>);

impl Axes {
    /// Number of axes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No axis.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Axes {
    type Item = &'a (String, Vec<toml::Value>);
    type IntoIter = std::slice::Iter<'a, (String, Vec<toml::Value>)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl FromIterator<(String, Vec<toml::Value>)> for Axes {
    fn from_iter<I: IntoIterator<Item = (String, Vec<toml::Value>)>>(it: I) -> Self {
        Axes(it.into_iter().collect())
    }
}

impl Serialize for Axes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for Axes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Axes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("sweep axes: \"path\" = [values]")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> std::result::Result<Axes, A::Error> {
                // Entries come in document order (the TOML reader keeps it, and so does the
                // buffer of a flattened field).
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Vec<toml::Value>>()? {
                    out.push((k, v));
                }
                Ok(Axes(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parse TOML text into a raw scenario (stage 1 only).
pub fn parse(text: &str, file: &str) -> crate::error::Result<RawScenario> {
    toml::from_str(text).map_err(|e| crate::error::Error::input(file, "", crate::gpu::one_line(&e.to_string())))
}
