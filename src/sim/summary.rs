//! What a run reports: the summary types, the SLO verdicts, the live views for the TUI, and
//! [`Simulation::summary`], which builds the report from the recorder and the components.

use super::recorder::{WinModel, WinWl};
use super::store::ReqState;
use super::Simulation;
use crate::error::{Error, Result};
use crate::metrics::{round4, LatencySketch, LatencySummary};
use crate::model::ServiceKind;
use crate::scenario::{FaultKind, Target};
use crate::time::{to_secs, SimTime};
use serde::Serialize;
use std::collections::BTreeMap;

pub use super::RequestRecord;

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
    /// LLM only: sequences preempted (KV cache full) and recomputed, among measured requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preemptions: Option<u64>,
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
    /// Turns completed per second in the measurement window (turns, not tokens).
    pub turns_per_s: f64,
    /// Turn latency [ms].
    pub latency_ms: LatencySummary,
    /// Time to first audio: ASR latency + LLM time to first token + TTS time to its first chunk
    /// (streaming TTS; the whole TTS request otherwise) [ms]. In a conversation the ASR latency,
    /// and so this, counts from the end of the user's speech.
    pub time_to_first_audio_ms: LatencySummary,
    /// Each stage.
    pub stages: Vec<StageSummary>,
}

/// Conversations of the closed-loop workloads paced by speech (`pacing` `real-time` or
/// `upload`). A conversation is active from its user's first utterance until the user, past
/// its ramp-down time, would start another one: the sessions a voice deployment holds open.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationSummary {
    /// Users of those workloads.
    pub users: u32,
    /// Time-weighted mean of the active conversations over the measurement window.
    pub active_mean: f64,
    /// Most conversations active at once in the window.
    pub active_max: u32,
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
    /// Every fault kind (`process`, `context-error`, `memory-exhaustion`, `device-reset`), struck
    /// or not, so that the report has the same shape in every run.
    pub by_kind: BTreeMap<String, KindFailures>,
}

/// What one kind of fault cost.
#[derive(Debug, Clone, Serialize, Default)]
pub struct KindFailures {
    /// Faults of this kind that struck a running server.
    pub crashes: u64,
    /// Per model: fraction of its requests neither lost in nor refused after a fault of this kind.
    pub availability: BTreeMap<String, f64>,
}

/// Load offered to one model (see [`Simulation::offered_load`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OfferedLoad {
    /// Requests per second.
    pub rate_rps: f64,
    /// Mean request size (audio seconds, characters or prompt tokens).
    pub mean_size: f64,
    /// Mean LLM output tokens.
    pub mean_out_tokens: f64,
}

/// An SLO judged on one run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SloVerdict {
    /// As written in `[slo]`, e.g. `asr.p95_ms`.
    pub key: String,
    /// What is bounded (the key names it in the report).
    #[serde(skip)]
    pub metric: crate::scenario::SloMetric,
    /// The bound [ms, or a fraction for availability].
    pub bound: f64,
    /// The run's value; `null` when nothing was measured (no request finished), which fails.
    pub value: Option<f64>,
    /// Whether the value is within the bound (at most it; at least it for availability).
    pub met: bool,
}

/// The value of an SLO's metric in a run. A workload of one model is judged on that model's
/// requests (all its requests, if several workloads share the model).
pub fn slo_value(
    run: &RunSummary,
    slo: &crate::scenario::Slo,
    sc_models: &[String],
    sc_workloads: &[crate::scenario::Workload],
) -> Option<f64> {
    slo_value_of(&run.models, &run.stages, slo, sc_models, sc_workloads)
}

/// [`slo_value`] on a run's or a window's per-model and per-pipeline figures.
fn slo_value_of(
    models: &BTreeMap<String, ModelSummary>,
    stages: &BTreeMap<String, PipelineSummary>,
    slo: &crate::scenario::Slo,
    sc_models: &[String],
    sc_workloads: &[crate::scenario::Workload],
) -> Option<f64> {
    use crate::scenario::{SloTarget, Target};
    let (lat, ttft, first_audio, availability, completed) = match slo.target {
        SloTarget::Model(m) => {
            let s = models.get(&sc_models[m])?;
            (s.latency_ms, s.ttft_ms, None, s.availability, s.completed)
        }
        SloTarget::Workload(w) => match &sc_workloads[w].target {
            Target::Pipeline(_) => {
                let p = stages.get(&sc_workloads[w].name)?;
                (p.latency_ms, None, Some(p.time_to_first_audio_ms), p.availability, p.completed)
            }
            Target::Model(m) => {
                let s = models.get(&sc_models[*m])?;
                (s.latency_ms, s.ttft_ms, None, s.availability, s.completed)
            }
        },
    };
    use crate::scenario::SloMetric::*;
    if slo.metric == Availability {
        return Some(availability);
    }
    if completed == 0 {
        return None;
    }
    match slo.metric {
        P50 => Some(lat.p50),
        P95 => Some(lat.p95),
        P99 => Some(lat.p99),
        Mean => Some(lat.mean),
        TtftP95 => ttft.map(|t| t.p95),
        FirstAudioP95 => first_audio.map(|t| t.p95),
        Availability => Some(availability),
    }
}

/// Judge SLOs on a run.
pub fn slo_verdicts(
    run: &RunSummary,
    slos: &[crate::scenario::Slo],
    model_names: &[String],
    workloads: &[crate::scenario::Workload],
) -> Vec<SloVerdict> {
    verdicts_of(&run.models, &run.stages, slos, model_names, workloads)
}

/// [`slo_verdicts`] on a run's or a window's figures.
fn verdicts_of(
    models: &BTreeMap<String, ModelSummary>,
    stages: &BTreeMap<String, PipelineSummary>,
    slos: &[crate::scenario::Slo],
    model_names: &[String],
    workloads: &[crate::scenario::Workload],
) -> Vec<SloVerdict> {
    slos.iter()
        .map(|s| {
            let value = slo_value_of(models, stages, s, model_names, workloads);
            SloVerdict {
                key: s.key.clone(),
                metric: s.metric,
                bound: s.bound,
                value,
                met: s.met(value),
            }
        })
        .collect()
}

/// One report window of a run with `window_s`: the run's per-model and per-pipeline figures
/// over the requests that arrived in it, and the objectives judged on them.
#[derive(Debug, Clone, Serialize)]
pub struct WindowSummary {
    /// Start of the window's measured part [s from the run's start].
    pub start_s: f64,
    /// End of it [s].
    pub end_s: f64,
    /// Per model (`throughput_rps`: completions in the window over its length).
    pub models: BTreeMap<String, ModelSummary>,
    /// Pipelines by workload name (their per-stage figures are the run's only).
    pub stages: BTreeMap<String, PipelineSummary>,
    /// Each `[slo]` judged on the window.
    pub slo: Vec<SloVerdict>,
    /// Per autoscaled model: time-weighted mean of its running replicas in the window.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub replicas: BTreeMap<String, f64>,
}

/// What autoscaling did and cost over a run (`[autoscale]`).
#[derive(Debug, Clone, Serialize)]
pub struct AutoscaleSummary {
    /// GPU-hours paid for over `[0, duration_s)`: a GPU counts while any server on it runs.
    pub gpu_hours: f64,
    /// Their price [$].
    pub cost_usd: f64,
    /// The same rate over a day [$ per 24 h].
    pub usd_per_day: f64,
    /// Every GPU of the variant for the whole run, as without autoscaling.
    pub static_gpu_hours: f64,
    /// Their price over a day [$ per 24 h].
    pub static_usd_per_day: f64,
    /// Per autoscaled model.
    pub models: BTreeMap<String, ScaledModel>,
}

/// One autoscaled model's replicas over a run.
#[derive(Debug, Clone, Serialize)]
pub struct ScaledModel {
    /// Replicas the variant places (the most that may run).
    pub placed: u32,
    /// Fewest and most running at once.
    pub min_running: u32,
    /// Most running at once.
    pub max_running: u32,
    /// Time-weighted mean running over `[0, duration_s)`.
    pub mean_running: f64,
    /// Evaluations that added replicas, and that removed some.
    pub scale_ups: u32,
    /// Evaluations that removed replicas.
    pub scale_downs: u32,
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
    /// Some service time was costed beyond the measured tables, or on a server whose tables are
    /// derived (another GPU type, a multi-GPU replica, or the model's architecture).
    pub extrapolated: bool,
    /// How far the run leans on that: the share of the GPU time its servers submitted that was
    /// costed so [%].
    pub extrapolated_pct: f64,
    /// Pipelines by workload name; always present (empty without pipelines) so that the JSON
    /// has the same shape for every scenario.
    pub stages: BTreeMap<String, PipelineSummary>,
    /// Conversations (absent when no workload is a conversation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversations: Option<ConversationSummary>,
    /// Failure accounting.
    pub failures: FailureSummary,
    /// Each `[slo]` of the scenario judged on this run (empty without `[slo]`).
    pub slo: Vec<SloVerdict>,
    /// Per report window (`window_s`; absent without it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<WindowSummary>,
    /// Autoscaling (absent without `[autoscale]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<AutoscaleSummary>,
    /// Engine events processed (not part of the JSON report).
    #[serde(skip)]
    pub events: u64,
    /// Time-slice context switches (not part of the JSON report).
    #[serde(skip)]
    pub context_switches: u64,
}

impl RunSummary {
    /// The value objective `slo` is judged on: the run's, or with report windows the worst of
    /// the run's and every window's (an objective of a day must hold in its peak hour too; a
    /// window where nothing finished is not judged). `None` when the run measured nothing.
    pub fn slo_worst(&self, slo: &crate::scenario::Slo) -> Option<f64> {
        let run = self.slo.iter().find(|x| x.key == slo.key)?.value?;
        Some(
            self.windows
                .iter()
                .filter_map(|w| w.slo.iter().find(|x| x.key == slo.key).and_then(|x| x.value))
                .fold(run, |a, v| slo.worse(a, v)),
        )
    }

    /// Some objective fails on the run or in a window where something finished.
    pub fn slo_broken(&self) -> bool {
        self.slo.iter().any(|x| !x.met) || self.windows.iter().any(|w| w.slo.iter().any(|x| !x.met && x.value.is_some()))
    }
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
    /// The MIG instance, if the device is one.
    pub instance: Option<crate::gpu::PlacedInstance>,
    /// Busy fraction of each server's GPU work so far.
    pub server_busy: Vec<f64>,
}

impl Simulation {
    /// Per-device live view for the TUI.
    pub fn device_views(&self) -> Vec<DeviceView> {
        let w = &self.rec.window;
        let span = self.q.now().saturating_sub(w.warmup).min(w.duration - w.warmup).max(1);
        self.devices
            .iter()
            .map(|d| DeviceView {
                gpu: d.gpu,
                label: d.label.clone(),
                servers: d.servers.iter().map(|&s| self.servers[s as usize].host.label.clone()).collect(),
                queues: d.servers.iter().map(|&s| self.servers[s as usize].queue_view()).collect(),
                running: d.running().map(|c| self.servers[d.servers[c] as usize].host.label.clone()),
                instance: d.instance.clone(),
                busy_fraction: (d.busy.ctx.iter().sum::<SimTime>() as f64 / span as f64).min(1.0),
                server_busy: d.busy.ctx.iter().map(|&b| (b as f64 / span as f64).min(1.0)).collect(),
            })
            .collect()
    }

    /// Every request in creation order; `None` for those that did not finish. Needs
    /// [`Simulation::keep_records`] (an error otherwise: finished requests' slots were reused).
    pub fn request_records(&self) -> Result<Vec<Option<RequestRecord>>> {
        if !self.store.keep_records {
            return Err(Error::Infeasible("request records were not kept (Simulation::keep_records)".into()));
        }
        Ok(self
            .store
            .reqs
            .iter()
            .map(|q| {
                (q.state == ReqState::Done).then(|| RequestRecord {
                    workload: self.store.units[q.unit as usize].wl as usize,
                    model: q.model as usize,
                    arrival: q.arrival,
                    finish: q.finish,
                    first_token: q.first_token,
                })
            })
            .collect())
    }

    /// Conversations active now and users of the conversation workloads (`None`: the scenario
    /// has no conversation).
    pub fn conversations_now(&self) -> Option<(u32, u32)> {
        let c = &self.rec.conv;
        (c.users > 0).then_some((c.active, c.users))
    }

    /// Time to first audio of every measured turn finished so far, all workloads [ms].
    pub fn first_audio_sketch(&self) -> LatencySketch {
        let mut all = LatencySketch::new();
        for a in &self.rec.workloads {
            all.merge(&a.first_audio);
        }
        all
    }

    /// Exact latencies of the measured requests of model `m` completed so far, in completion
    /// order [ms]. Needs [`Simulation::keep_records`] (an error otherwise).
    pub fn model_latencies(&self, m: usize) -> Result<&[f64]> {
        if !self.rec.keep_samples {
            return Err(Error::Infeasible("exact latencies were not kept (Simulation::keep_records)".into()));
        }
        Ok(&self.rec.models[m].samples)
    }

    /// Latencies of the measured requests of model `m` completed so far [ms], as a sketch: what
    /// the reports' percentiles come from (within `metrics::sketch::ALPHA`), kept in every run.
    pub fn model_sketch(&self, m: usize) -> &LatencySketch {
        &self.rec.models[m].latency
    }

    /// Per model, the load offered in the measurement window: requests per second, mean size
    /// and mean LLM output tokens (not part of the report; the planner's capacity bounds).
    pub fn offered_load(&self) -> Vec<OfferedLoad> {
        let w = &self.rec.window;
        let window = to_secs(w.duration - w.warmup).max(1e-9);
        self.rec
            .models
            .iter()
            .map(|a| {
                let n = a.arrived.max(1) as f64;
                OfferedLoad {
                    rate_rps: a.arrived as f64 / window,
                    mean_size: a.size_sum / n,
                    mean_out_tokens: a.out_sum / n,
                }
            })
            .collect()
    }

    /// Summarise what has been simulated.
    pub fn summary(&self) -> RunSummary {
        let w = &self.rec.window;
        let window = to_secs(w.duration - w.warmup).max(1e-9);
        let now = self.q.now();
        let names: Vec<String> = self.models.iter().map(|m| m.name.clone()).collect();
        let mut models = BTreeMap::new();
        let (stuck, stuck_units) = self.unfinished();
        let unfinished: u64 = stuck.iter().sum();
        for (m, acc) in self.rec.models.iter().enumerate() {
            let failed = acc.failed + stuck[m];
            let total = acc.completed + failed;
            let llm = self.models[m].kind == ServiceKind::Llm;
            models.insert(
                names[m].clone(),
                ModelSummary {
                    completed: acc.completed,
                    failed,
                    throughput_rps: round4(acc.finished_in_window as f64 / window),
                    latency_ms: acc.latency.summary().rounded(),
                    ttft_ms: llm.then(|| acc.ttft.summary().rounded()),
                    preemptions: llm.then_some(acc.preemptions),
                    availability: round4(if total == 0 { 1.0 } else { acc.completed as f64 / total as f64 }),
                },
            );
        }
        let mut stages = BTreeMap::new();
        let (mut completed, mut failed, mut in_window) = (0u64, 0u64, 0u64);
        let mut all_lat = LatencySketch::new();
        for (i, wl) in self.sources.workloads.iter().enumerate() {
            let acc = &self.rec.workloads[i];
            let stuck = stuck_units[i];
            completed += acc.completed;
            failed += acc.failed + stuck;
            in_window += acc.finished_in_window;
            all_lat.merge(&acc.latency);
            if let Target::Pipeline(p) = &wl.target {
                let total = acc.completed + acc.failed + stuck;
                stages.insert(
                    wl.name.clone(),
                    PipelineSummary {
                        completed: acc.completed,
                        failed: acc.failed + stuck,
                        availability: round4(if total == 0 { 1.0 } else { acc.completed as f64 / total as f64 }),
                        turns_per_s: round4(acc.finished_in_window as f64 / window),
                        latency_ms: acc.latency.summary().rounded(),
                        time_to_first_audio_ms: acc.first_audio.summary().rounded(),
                        stages: p
                            .stages
                            .iter()
                            .zip(&acc.stages)
                            .map(|(&m, s)| StageSummary {
                                model: names[m].clone(),
                                latency_ms: s.summary().rounded(),
                            })
                            .collect(),
                    },
                );
            }
        }
        let fail = self.failures(&models, &stuck, unfinished);
        let throughput = in_window as f64 / window;
        let v = &self.variant;
        let mut run = RunSummary {
            name: v.name.clone(),
            gpus: v.n_gpus,
            gpu_type: v.gpu.name.clone(),
            cost_per_hour_usd: round4(v.price * v.n_gpus as f64),
            completed,
            failed,
            throughput_rps: round4(throughput),
            throughput_rps_per_gpu: round4(throughput / v.n_gpus.max(1) as f64),
            latency_ms: all_lat.summary().rounded(),
            models,
            gpu_utilization: self.utilization(),
            extrapolated: self.rec.extrapolated,
            extrapolated_pct: round4(self.rec.extrapolated_pct()),
            stages,
            conversations: (self.rec.conv.users > 0).then(|| {
                let (mean, max) = self.rec.conv.window(w, now);
                ConversationSummary {
                    users: self.rec.conv.users,
                    active_mean: round4(mean),
                    active_max: max,
                }
            }),
            failures: fail,
            events: self.q.processed(),
            context_switches: self.devices.iter().map(|d| d.switches()).sum(),
            slo: Vec::new(),
            windows: Vec::new(),
            autoscale: self.autoscale_summary(),
        };
        run.slo = slo_verdicts(&run, &self.slo, &names, &self.sources.workloads);
        run.windows = self.window_summaries(&names);
        run
    }

    /// GPU time and cost under autoscaling, and each autoscaled model's replicas.
    fn autoscale_summary(&self) -> Option<AutoscaleSummary> {
        let b = self.billing.as_ref()?;
        let end = self.rec.window.duration;
        let hours = to_secs(end) / 3600.0;
        let gpu_hours = to_secs(b.paid_until(end)) / 3600.0;
        let price = self.variant.price;
        let n = self.variant.n_gpus as f64;
        let models = self
            .scalers
            .iter()
            .enumerate()
            .filter_map(|(m, sc)| {
                let sc = sc.as_ref()?;
                let seen = sc.log.iter().filter(|l| l.0 < end).map(|l| l.1);
                Some((
                    self.models[m].name.clone(),
                    ScaledModel {
                        placed: sc.reps.len() as u32,
                        min_running: seen.clone().min().unwrap_or(0),
                        max_running: seen.max().unwrap_or(0),
                        mean_running: round4(sc.mean_running(0, end)),
                        scale_ups: sc.scale_ups,
                        scale_downs: sc.scale_downs,
                    },
                ))
            })
            .collect();
        Some(AutoscaleSummary {
            gpu_hours: round4(gpu_hours),
            cost_usd: round4(gpu_hours * price),
            usd_per_day: round4(gpu_hours * price * 24.0 / hours),
            static_gpu_hours: round4(n * hours),
            static_usd_per_day: round4(n * price * 24.0),
            models,
        })
    }

    /// Each report window's figures, computed as [`Simulation::summary`] computes the run's;
    /// empty without `window_s`.
    fn window_summaries(&self, names: &[String]) -> Vec<WindowSummary> {
        let ws = &self.rec.windows;
        if ws.len == 0 {
            return Vec::new();
        }
        let w = &self.rec.window;
        let first = ws.index(w.warmup);
        let last = ws.index(w.duration - 1);
        let n = last + 1;
        // Requests and units still in flight at the end failed, in the window they arrived in.
        let mut stuck = vec![vec![0u64; self.rec.models.len()]; n];
        for q in &self.store.reqs {
            if matches!(q.state, ReqState::Streaming | ReqState::Queued | ReqState::Running) && w.measured(q.arrival) {
                stuck[ws.index(q.arrival)][q.model as usize] += 1;
            }
        }
        let mut stuck_units = vec![vec![0u64; self.rec.workloads.len()]; n];
        for u in &self.store.units {
            if !u.free && !u.over() && w.measured(u.arrival) {
                stuck_units[ws.index(u.arrival)][u.wl as usize] += 1;
            }
        }
        let empty = (Vec::new(), Vec::new());
        let (blank_m, blank_w) = (WinModel::default(), WinWl::default());
        (first..n)
            .map(|k| {
                let start = (k as SimTime * ws.len).max(w.warmup);
                let end = ((k as SimTime + 1) * ws.len).min(w.duration);
                let span = to_secs(end - start).max(1e-9);
                let (wm, wl) = ws.acc.get(k).unwrap_or(&empty);
                let mut models = BTreeMap::new();
                for (m, name) in names.iter().enumerate() {
                    let d = wm.get(m).unwrap_or(&blank_m);
                    let failed = d.failed + stuck[k][m];
                    let total = d.completed + failed;
                    let llm = self.models[m].kind == ServiceKind::Llm;
                    models.insert(
                        name.clone(),
                        ModelSummary {
                            completed: d.completed,
                            failed,
                            throughput_rps: round4(d.finished as f64 / span),
                            latency_ms: d.latency.summary().rounded(),
                            ttft_ms: llm.then(|| d.ttft.summary().rounded()),
                            preemptions: None,
                            availability: round4(if total == 0 { 1.0 } else { d.completed as f64 / total as f64 }),
                        },
                    );
                }
                let mut stages = BTreeMap::new();
                for (i, wld) in self.sources.workloads.iter().enumerate() {
                    if !matches!(wld.target, Target::Pipeline(_)) {
                        continue;
                    }
                    let d = wl.get(i).unwrap_or(&blank_w);
                    let failed = d.failed + stuck_units[k][i];
                    let total = d.completed + failed;
                    stages.insert(
                        wld.name.clone(),
                        PipelineSummary {
                            completed: d.completed,
                            failed,
                            availability: round4(if total == 0 { 1.0 } else { d.completed as f64 / total as f64 }),
                            turns_per_s: round4(d.finished as f64 / span),
                            latency_ms: d.latency.summary().rounded(),
                            time_to_first_audio_ms: d.first_audio.summary().rounded(),
                            stages: Vec::new(),
                        },
                    );
                }
                let slo = verdicts_of(&models, &stages, &self.slo, names, &self.sources.workloads);
                let replicas = self
                    .scalers
                    .iter()
                    .enumerate()
                    .filter_map(|(m, sc)| sc.as_ref().map(|sc| (names[m].clone(), round4(sc.mean_running(start, end)))))
                    .collect();
                WindowSummary {
                    start_s: round4(to_secs(start)),
                    end_s: round4(to_secs(end)),
                    models,
                    stages,
                    slo,
                    replicas,
                }
            })
            .collect()
    }

    /// Measured requests of each model and units of each workload still queued or running at
    /// the end (they count as failed).
    fn unfinished(&self) -> (Vec<u64>, Vec<u64>) {
        let w = &self.rec.window;
        let mut stuck = vec![0u64; self.rec.models.len()];
        for q in &self.store.reqs {
            if matches!(q.state, ReqState::Streaming | ReqState::Queued | ReqState::Running) && w.measured(q.arrival) {
                stuck[q.model as usize] += 1;
            }
        }
        let mut stuck_units = vec![0u64; self.rec.workloads.len()];
        for u in &self.store.units {
            if !u.free && !u.over() && w.measured(u.arrival) {
                stuck_units[u.wl as usize] += 1;
            }
        }
        (stuck, stuck_units)
    }

    /// Busy fraction of every device, and of each context of a shared one.
    fn utilization(&self) -> Vec<GpuUtil> {
        let (w, now) = (&self.rec.window, self.q.now());
        let mut util = Vec::new();
        let span = w.span() as f64;
        for d in &self.devices {
            if d.exclusive() {
                let b = d.busy.ctx.first().copied().unwrap_or(0);
                util.push(GpuUtil {
                    gpu: d.gpu,
                    partition: d.label.clone(),
                    busy_fraction: round4(b as f64 / span),
                });
                continue;
            }
            util.push(GpuUtil {
                gpu: d.gpu,
                partition: d.label.clone(),
                busy_fraction: round4((d.busy.any_until(now) as f64 / span).min(1.0)),
            });
            for (c, &s) in d.servers.iter().enumerate() {
                util.push(GpuUtil {
                    gpu: d.gpu,
                    partition: self.servers[s as usize].host.label.clone(),
                    busy_fraction: round4(d.busy.ctx[c] as f64 / span),
                });
            }
        }
        util
    }

    /// Failure accounting: totals, availability per model and per fault kind.
    fn failures(&self, models: &BTreeMap<String, ModelSummary>, stuck: &[u64], unfinished: u64) -> FailureSummary {
        let names: Vec<&String> = self.models.iter().map(|m| &m.name).collect();
        let f = &self.rec.fail;
        FailureSummary {
            crashes: f.crashes,
            lost_requests: f.lost_requests,
            rejected_requests: f.rejected_requests,
            timed_out: f.timed_out,
            unfinished,
            availability: models.iter().map(|(k, v)| (k.clone(), v.availability)).collect(),
            by_kind: FaultKind::ALL
                .iter()
                .enumerate()
                .map(|(k, kind)| {
                    let availability = self
                        .rec
                        .models
                        .iter()
                        .enumerate()
                        .map(|(m, acc)| {
                            let total = acc.completed + acc.failed + stuck[m];
                            let ok = if total == 0 {
                                1.0
                            } else {
                                1.0 - acc.failed_by_kind[k] as f64 / total as f64
                            };
                            (names[m].clone(), round4(ok))
                        })
                        .collect();
                    (
                        kind.name().to_string(),
                        KindFailures {
                            crashes: f.by_kind[k],
                            availability,
                        },
                    )
                })
                .collect(),
        }
    }
}
