//! Scenario files: raw TOML structs (stage 1, `deny_unknown_fields`) and their validation into a
//! [`Scenario`] (stage 2). This module and [`crate::input`] are the only places that read files
//! for a run. Every error names the file, the field and the value.

use crate::catalog::{one_line, place_layout, Catalog};
use crate::error::{Error, Result};
use crate::scenario::*;
use crate::service::{ModelSpec, ServiceKind};
use crate::time::{from_ms, from_secs};
use crate::workload::{Arrivals, SizeDist};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Built-in calibrated models, compiled in so that a bare binary can run the default scenario.
pub const BUILTIN_MODELS: &[(&str, &str)] = &[
    ("h100/asr", include_str!("../models/h100/asr.json")),
    ("h100/tts", include_str!("../models/h100/tts.json")),
    ("h100/llm", include_str!("../models/h100/llm.json")),
];

/// The embedded default scenario (the A100 voice consolidation study).
pub const DEFAULT_SCENARIO: &str = include_str!("../experiments/a100-voice-consolidation.toml");
/// Name used for the embedded scenario in messages.
pub const DEFAULT_SCENARIO_NAME: &str = "experiments/a100-voice-consolidation.toml (embedded)";

/// Stage 1: the file as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Scenario name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Load duration [s].
    pub duration_s: f64,
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
    /// Deployments.
    #[serde(default)]
    pub variant: Vec<RawVariant>,
}

/// A model entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// `h100/asr`-style built-in name or a path to a model JSON (relative to the scenario file).
    pub from: String,
    /// Override of the total memory footprint [GiB].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_gib: Option<f64>,
    /// Override of the batch limit (ASR/TTS) or KV slots (LLM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch: Option<u32>,
    /// Override of the longest context per KV slot [tokens] (LLM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_context_tokens: Option<u32>,
}

/// Size distribution as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, tag = "dist", rename_all = "lowercase")]
pub enum RawDist {
    /// Fixed value.
    Fixed {
        /// The value.
        value: f64,
    },
    /// Log-normal.
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
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, tag = "process", rename_all = "kebab-case")]
pub enum RawArrivals {
    /// Poisson.
    Poisson {
        /// Rate [req/s].
        rate_rps: f64,
    },
    /// Gamma renewal.
    Gamma {
        /// Rate [req/s].
        rate_rps: f64,
        /// Gap coefficient of variation.
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

/// Pipeline size links as written (defaults cited in README "Pipelines").
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLinks {
    /// Words per audio second.
    #[serde(default = "d_words")]
    pub words_per_audio_s: f64,
    /// Tokens per word.
    #[serde(default = "d_tpw")]
    pub tokens_per_word: f64,
    /// Prompt tokens before the transcript.
    #[serde(default = "d_base")]
    pub prompt_base_tokens: f64,
    /// TTS characters per LLM output token.
    #[serde(default = "d_cpt")]
    pub chars_per_token: f64,
    /// Frames of the first streamed TTS chunk (0: not streamed).
    #[serde(default)]
    pub tts_first_chunk_frames: f64,
}
fn d_words() -> f64 {
    2.62 // LJSpeech: 225,715 words over 23:55:17 of audio (published-data.md 6.5)
}
fn d_tpw() -> f64 {
    1.3 // typical BPE tokens per English word (Llama-3 tokenizer); stated assumption
}
fn d_base() -> f64 {
    256.0 // system prompt + short history; stated assumption
}
fn d_cpt() -> f64 {
    4.0 // ~4 characters per BPE token of English text; stated assumption
}
impl Default for RawLinks {
    fn default() -> Self {
        RawLinks {
            words_per_audio_s: d_words(),
            tokens_per_word: d_tpw(),
            prompt_base_tokens: d_base(),
            chars_per_token: d_cpt(),
            tts_first_chunk_frames: 0.0,
        }
    }
}

/// A workload as written: exactly one of `arrivals`, `trace`, `users`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    /// Name in reports (default: model or pipeline).
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
    /// `fixed` or `exponential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<String>,
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
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawVariant {
    /// Name.
    pub name: String,
    /// GPU type (catalog key).
    pub gpu: String,
    /// Price override [$ per GPU-hour].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_usd_per_hour: Option<f64>,
    /// `round-robin` (default), `least-outstanding` or `shared-queue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer: Option<String>,
    /// GPUs.
    pub gpus: Vec<RawGpu>,
    /// Crashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<RawFault>,
}

/// A GPU as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawGpu {
    /// `dedicated`, `time-sliced`, `mig` or `mps`.
    pub regime: String,
    /// Model names: the tenant(s); for MIG one per instance, `-` for an empty instance.
    pub models: Vec<String>,
    /// MIG layout, e.g. `3g.40gb,3g.40gb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// Time slice [ms] (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantum_ms: Option<f64>,
    /// Context-switch cost [us] (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch_us: Option<f64>,
    /// MPS active-thread percentage per tenant (default 100/n each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_pct: Option<Vec<f64>>,
    /// MPS device-memory limit per tenant [GiB] (default: an equal share of the GPU, as the
    /// Kubernetes device plugin's MPS sharing enforces, domain.md 3.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit_gib: Option<Vec<f64>>,
    /// Repeat this GPU `count` times (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// A fault as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    /// Model whose server crashes.
    pub model: String,
    /// Which replica (default 0).
    #[serde(default)]
    pub replica: usize,
    /// Crash time [s].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_s: Option<f64>,
    /// Mean time between failures [s].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtbf_s: Option<f64>,
    /// Restart time [s].
    pub restart_s: f64,
}

/// Default time slice [ms]. NVIDIA does not document it (domain.md 3.2 lists 1-30 ms guesses); this
/// value is fitted by experiments/fit-timeslice.sh to measured H100 co-location runs (the light-load
/// runs, their repeats and the time-slice probe); the heavy-load runs are held out (README "How
/// accurate is it"). The fit is flat between about 1.5 and 3 ms.
pub const DEFAULT_QUANTUM_MS: f64 = 1.5;
/// Default context-switch cost [us], fitted with the quantum: the data show no cost beyond the
/// slice itself (domain.md 3.2 reports guesses of 25-100 us).
pub const DEFAULT_SWITCH_US: f64 = 0.0;

/// Largest value any number in a scenario may take: 1e9 s of simulated time still fits the
/// nanosecond clock with room to add (u64 holds 1.8e10 s).
const MAX_VALUE: f64 = 1e9;
/// Most requests one open-loop workload may be expected to generate (rate x duration): beyond
/// this a run takes hours, which is almost always a unit mistake.
const MAX_EXPECTED_REQUESTS: f64 = 1e8;
/// Shortest time slice accepted [ms].
pub const MIN_QUANTUM_MS: f64 = 0.05;
/// Most closed-loop users of one workload.
const MAX_USERS: u32 = 1_000_000;

/// A number as a user would write it: plain, or in exponent form when very large or small.
fn num(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-4..1e9).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

struct Ctx<'a> {
    file: &'a str,
    dir: Option<&'a Path>,
}

impl Ctx<'_> {
    fn err(&self, field: impl Into<String>, msg: impl Into<String>) -> Error {
        Error::input(self.file, field, msg)
    }
    fn pos(&self, field: &str, v: f64) -> Result<f64> {
        if v.is_finite() && v > 0.0 && v <= MAX_VALUE {
            Ok(v)
        } else {
            Err(self.err(field, format!("must be a positive number up to {MAX_VALUE:e}, got '{}'", num(v))))
        }
    }
    fn nonneg(&self, field: &str, v: f64) -> Result<f64> {
        if v.is_finite() && (0.0..=MAX_VALUE).contains(&v) {
            Ok(v)
        } else {
            Err(self.err(
                field,
                format!("must be a non-negative number up to {MAX_VALUE:e}, got '{}'", num(v)),
            ))
        }
    }
    fn path(&self, p: &str) -> PathBuf {
        let pb = PathBuf::from(p);
        match self.dir {
            Some(d) if pb.is_relative() && d.join(&pb).exists() => d.join(pb),
            _ => pb,
        }
    }
}

/// Load a scenario file.
pub fn load_file(path: &str) -> Result<Scenario> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.into(),
        message: e.to_string(),
    })?;
    let dir = Path::new(path).parent();
    parse_scenario(&text, path, dir)
}

/// The embedded default scenario.
pub fn default_scenario() -> Result<Scenario> {
    parse_scenario(DEFAULT_SCENARIO, DEFAULT_SCENARIO_NAME, None)
}

/// Parse TOML text into a raw scenario.
pub fn parse_raw(text: &str, file: &str) -> Result<RawScenario> {
    toml::from_str(text).map_err(|e| Error::input(file, "", one_line(&e.to_string())))
}

/// Parse and validate scenario text. `dir` resolves relative paths (model files, traces).
pub fn parse_scenario(text: &str, file: &str, dir: Option<&Path>) -> Result<Scenario> {
    let raw = parse_raw(text, file)?;
    from_raw(&raw, file, dir)
}

/// Load a model by built-in name or path.
pub fn load_model(from: &str, file: &str, field: &str, dir: Option<&Path>) -> Result<ModelSpec> {
    let (text, src) = match BUILTIN_MODELS.iter().find(|(n, _)| *n == from) {
        Some((_, t)) => (t.to_string(), format!("models/{from}.json")),
        None => {
            let c = Ctx { file, dir };
            let p = c.path(from);
            let t = std::fs::read_to_string(&p).map_err(|e| {
                let names: Vec<&str> = BUILTIN_MODELS.iter().map(|x| x.0).collect();
                Error::input(
                    file,
                    field,
                    format!(
                        "'{from}' is neither a built-in model ({}) nor a readable file: {e}",
                        names.join(", ")
                    ),
                )
            })?;
            (t, p.display().to_string())
        }
    };
    let m: ModelSpec = serde_json::from_str(&text).map_err(|e| Error::input(&src, "", e.to_string()))?;
    m.validate(&src)?;
    Ok(m)
}

/// Stage 2: validate and resolve.
pub fn from_raw(raw: &RawScenario, file: &str, dir: Option<&Path>) -> Result<Scenario> {
    let c = Ctx { file, dir };
    let cat = Catalog::builtin();
    let duration = from_secs(c.pos("duration_s", raw.duration_s)?);
    let warmup = from_secs(c.nonneg("warmup_s", raw.warmup_s)?);
    if warmup >= duration {
        return Err(c.err(
            "warmup_s",
            format!("must be shorter than duration_s ({}), got '{}'", raw.duration_s, raw.warmup_s),
        ));
    }
    let drain = from_secs(c.nonneg("drain_s", raw.drain_s.unwrap_or(60.0))?);
    if raw.models.is_empty() {
        return Err(c.err("models", "at least one model is needed"));
    }
    let mut models = Vec::new();
    let mut index = BTreeMap::new();
    for (name, m) in &raw.models {
        let f = format!("models.{name}");
        let mut spec = load_model(&m.from, file, &format!("{f}.from"), dir)?;
        spec.name = name.clone();
        if let Some(mem) = m.memory_gib {
            let total = c.pos(&format!("{f}.memory_gib"), mem)?;
            spec.memory.runtime_gib = (total - spec.memory.weights_gib).max(0.0);
            spec.memory.weights_gib = spec.memory.weights_gib.min(total);
        }
        if let Some(b) = m.max_batch {
            if b == 0 {
                return Err(c.err(format!("{f}.max_batch"), "must be at least 1, got '0'"));
            }
            match spec.kv.as_mut() {
                Some(kv) => kv.slots = b,
                None => spec.max_batch = b,
            }
        }
        if let Some(t) = m.max_context_tokens {
            match spec.kv.as_mut() {
                Some(kv) if t > 0 => kv.max_context_tokens = t,
                Some(_) => return Err(c.err(format!("{f}.max_context_tokens"), "must be at least 1, got '0'")),
                None => return Err(c.err(format!("{f}.max_context_tokens"), "applies only to LLM models")),
            }
        }
        index.insert(name.clone(), models.len());
        models.push(spec);
    }
    let model_idx = |field: &str, n: &str| -> Result<usize> {
        index.get(n).copied().ok_or_else(|| {
            let names: Vec<&String> = index.keys().collect();
            c.err(field, format!("unknown model '{n}' (defined: {names:?})"))
        })
    };
    let dist = |field: &str, d: &RawDist| -> Result<SizeDist> {
        Ok(match *d {
            RawDist::Fixed { value } => SizeDist::Fixed(c.pos(&format!("{field}.value"), value)?),
            RawDist::Lognormal { median, sigma, min, max } => {
                let (median, sigma) = (
                    c.pos(&format!("{field}.median"), median)?,
                    c.nonneg(&format!("{field}.sigma"), sigma)?,
                );
                let (min, max) = (c.pos(&format!("{field}.min"), min)?, c.pos(&format!("{field}.max"), max)?);
                if min > max {
                    return Err(c.err(format!("{field}.min"), format!("must not exceed max ({max}), got '{min}'")));
                }
                SizeDist::LogNormal { median, sigma, min, max }
            }
            RawDist::Exponential { mean } => SizeDist::Exponential {
                mean: c.pos(&format!("{field}.mean"), mean)?,
            },
            RawDist::Uniform { min, max } => {
                let (min, max) = (c.pos(&format!("{field}.min"), min)?, c.pos(&format!("{field}.max"), max)?);
                if min > max {
                    return Err(c.err(format!("{field}.min"), format!("must not exceed max ({max}), got '{min}'")));
                }
                SizeDist::Uniform { min, max }
            }
        })
    };
    let mut workloads = Vec::new();
    if raw.workload.is_empty() {
        return Err(c.err("workload", "at least one [[workload]] is needed"));
    }
    for (i, w) in raw.workload.iter().enumerate() {
        let f = format!("workload[{i}]");
        let (target, name) = match (&w.model, &w.pipeline) {
            (Some(m), None) => (Target::Model(model_idx(&format!("{f}.model"), m)?), m.clone()),
            (None, Some(p)) => {
                if p.is_empty() {
                    return Err(c.err(format!("{f}.pipeline"), "needs at least one stage"));
                }
                let stages = p
                    .iter()
                    .map(|m| model_idx(&format!("{f}.pipeline"), m))
                    .collect::<Result<Vec<_>>>()?;
                let l = w.links.clone().unwrap_or_default();
                let lf = format!("{f}.links");
                (
                    Target::Pipeline(Pipeline {
                        stages,
                        words_per_audio_s: c.pos(&format!("{lf}.words_per_audio_s"), l.words_per_audio_s)?,
                        tokens_per_word: c.pos(&format!("{lf}.tokens_per_word"), l.tokens_per_word)?,
                        prompt_base_tokens: c.nonneg(&format!("{lf}.prompt_base_tokens"), l.prompt_base_tokens)?,
                        chars_per_token: c.pos(&format!("{lf}.chars_per_token"), l.chars_per_token)?,
                        tts_first_chunk_frames: c.nonneg(&format!("{lf}.tts_first_chunk_frames"), l.tts_first_chunk_frames)?,
                    }),
                    p.join("->"),
                )
            }
            _ => return Err(c.err(&f, "needs exactly one of 'model' or 'pipeline'")),
        };
        let first_kind = match &target {
            Target::Model(m) => models[*m].kind,
            Target::Pipeline(p) => models[p.stages[0]].kind,
        };
        let needs_out = match &target {
            Target::Model(m) => models[*m].kind == ServiceKind::Llm,
            Target::Pipeline(p) => p.stages.iter().any(|&m| models[m].kind == ServiceKind::Llm),
        };
        let out_tokens = w.out_tokens.as_ref().map(|d| dist(&format!("{f}.out_tokens"), d)).transpose()?;
        let size = w.size.as_ref().map(|d| dist(&format!("{f}.size"), d)).transpose()?;
        let need_size = |size: Option<SizeDist>| -> Result<SizeDist> {
            size.ok_or_else(|| {
                c.err(
                    format!("{f}.size"),
                    format!("needs a size distribution ({})", first_kind.size_name()),
                )
            })
        };
        let n_modes = [w.arrivals.is_some(), w.trace.is_some(), w.users.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if n_modes != 1 {
            return Err(c.err(
                &f,
                "needs exactly one of 'arrivals' (open loop), 'trace' (replay) or 'users' (closed loop)",
            ));
        }
        let load = if let Some(a) = &w.arrivals {
            let arrivals = match *a {
                RawArrivals::Poisson { rate_rps } => Arrivals::Poisson {
                    rate_rps: c.pos(&format!("{f}.arrivals.rate_rps"), rate_rps)?,
                },
                RawArrivals::Gamma { rate_rps, cv } => Arrivals::Gamma {
                    rate_rps: c.pos(&format!("{f}.arrivals.rate_rps"), rate_rps)?,
                    cv: c.pos(&format!("{f}.arrivals.cv"), cv)?,
                },
                RawArrivals::OnOff { rate_rps, on_s, off_s } => Arrivals::OnOff {
                    rate_rps: c.pos(&format!("{f}.arrivals.rate_rps"), rate_rps)?,
                    on_s: c.pos(&format!("{f}.arrivals.on_s"), on_s)?,
                    off_s: c.nonneg(&format!("{f}.arrivals.off_s"), off_s)?,
                },
            };
            if needs_out && out_tokens.is_none() {
                return Err(c.err(format!("{f}.out_tokens"), "an LLM target needs an output-token distribution"));
            }
            let rate = match arrivals {
                Arrivals::Poisson { rate_rps } | Arrivals::Gamma { rate_rps, .. } | Arrivals::OnOff { rate_rps, .. } => rate_rps,
            };
            if rate * raw.duration_s > MAX_EXPECTED_REQUESTS {
                return Err(c.err(
                    format!("{f}.arrivals.rate_rps"),
                    format!(
                        "'{rate}' over {} s would generate more than {MAX_EXPECTED_REQUESTS:e} requests",
                        raw.duration_s
                    ),
                ));
            }
            Load::Open {
                arrivals,
                size: need_size(size)?,
                out_tokens,
            }
        } else if let Some(t) = &w.trace {
            let scale = c.pos(&format!("{f}.trace_rate_scale"), w.trace_rate_scale.unwrap_or(1.0))?;
            let p = c.path(t);
            let rows = crate::input::read_trace(&p.display().to_string(), scale)?;
            if needs_out && rows.iter().any(|r| r.out_tokens == 0) && out_tokens.is_none() {
                return Err(c.err(
                    format!("{f}.out_tokens"),
                    format!("trace '{t}' has no output tokens; give an out_tokens distribution"),
                ));
            }
            Load::Trace { rows, out_tokens }
        } else {
            let users = w.users.unwrap_or(0);
            if users == 0 || users > MAX_USERS {
                return Err(c.err(format!("{f}.users"), format!("must be between 1 and {MAX_USERS}, got '{users}'")));
            }
            let think_exponential = match w.think.as_deref().unwrap_or("fixed") {
                "fixed" => false,
                "exponential" => true,
                o => return Err(c.err(format!("{f}.think"), format!("must be 'fixed' or 'exponential', got '{o}'"))),
            };
            let ramp_up = from_secs(c.nonneg(&format!("{f}.ramp_up_s"), w.ramp_up_s.unwrap_or(0.0))?);
            let ramp_down = from_secs(c.nonneg(&format!("{f}.ramp_down_s"), w.ramp_down_s.unwrap_or(0.0))?);
            let hold = match w.hold_s {
                Some(h) => from_secs(c.nonneg(&format!("{f}.hold_s"), h)?),
                None => duration.saturating_sub(ramp_up + ramp_down),
            };
            if needs_out && out_tokens.is_none() {
                return Err(c.err(format!("{f}.out_tokens"), "an LLM target needs an output-token distribution"));
            }
            Load::Closed {
                users,
                think: from_secs(c.nonneg(&format!("{f}.think_s"), w.think_s.unwrap_or(0.0))?),
                think_exponential,
                ramp_up,
                hold,
                ramp_down,
                size: need_size(size)?,
                out_tokens,
            }
        };
        let timeout = from_secs(c.nonneg(&format!("{f}.timeout_s"), w.timeout_s.unwrap_or(0.0))?);
        workloads.push(Workload {
            name: w.name.clone().unwrap_or(name),
            target,
            load,
            timeout,
        });
    }
    if raw.variant.is_empty() {
        return Err(c.err("variant", "at least one [[variant]] is needed"));
    }
    let mut variants = Vec::new();
    for (vi, v) in raw.variant.iter().enumerate() {
        let f = format!("variant[{vi}]");
        let gpu = cat
            .gpu(&v.gpu)
            .cloned()
            .ok_or_else(|| c.err(format!("{f}.gpu"), format!("unknown GPU '{}' (known: {})", v.gpu, cat.names())))?;
        let price = c.pos(
            &format!("{f}.price_usd_per_hour"),
            v.price_usd_per_hour.unwrap_or(gpu.price_usd_per_hour),
        )?;
        let balancer = match v.balancer.as_deref().unwrap_or("round-robin") {
            "round-robin" => Balancer::RoundRobin,
            "least-outstanding" => Balancer::LeastOutstanding,
            "shared-queue" => Balancer::SharedQueue,
            o => {
                return Err(c.err(
                    format!("{f}.balancer"),
                    format!("must be 'round-robin', 'least-outstanding' or 'shared-queue', got '{o}'"),
                ))
            }
        };
        let mut gpus = Vec::new();
        for (gi, g) in v.gpus.iter().enumerate() {
            let gf = format!("{f}.gpus[{gi}]");
            let tenants: Vec<Option<usize>> = g
                .models
                .iter()
                .map(|m| {
                    if m == "-" {
                        Ok(None)
                    } else {
                        model_idx(&format!("{gf}.models"), m).map(Some)
                    }
                })
                .collect::<Result<_>>()?;
            let n = tenants.len();
            let regime = match g.regime.as_str() {
                "dedicated" => {
                    if n != 1 || tenants[0].is_none() {
                        return Err(c.err(format!("{gf}.models"), format!("a dedicated GPU runs exactly one model, got {n}")));
                    }
                    Regime::Dedicated
                }
                "time-sliced" => {
                    if n == 0 || tenants.iter().any(Option::is_none) {
                        return Err(c.err(format!("{gf}.models"), "a time-sliced GPU needs at least one model and no '-'"));
                    }
                    let q = c.pos(&format!("{gf}.quantum_ms"), g.quantum_ms.unwrap_or(DEFAULT_QUANTUM_MS))?;
                    // Below ~50 us a slice is shorter than a context switch on any GPU, and the
                    // event count grows as 1/quantum: refuse rather than crawl.
                    if q < MIN_QUANTUM_MS {
                        return Err(c.err(
                            format!("{gf}.quantum_ms"),
                            format!("must be at least {MIN_QUANTUM_MS} ms, got '{}'", num(q)),
                        ));
                    }
                    Regime::TimeSliced {
                        quantum: from_ms(q),
                        switch_cost: from_ms(c.nonneg(&format!("{gf}.switch_us"), g.switch_us.unwrap_or(DEFAULT_SWITCH_US))? / 1e3),
                    }
                }
                "mig" => {
                    let layout = g
                        .layout
                        .as_deref()
                        .ok_or_else(|| c.err(format!("{gf}.layout"), "a MIG GPU needs a layout such as '3g.40gb,3g.40gb'"))?;
                    let instances = place_layout(&gpu, layout).map_err(|e| c.err(format!("{gf}.layout"), e.to_string()))?;
                    if instances.len() != n {
                        return Err(c.err(
                            format!("{gf}.models"),
                            format!(
                                "layout '{layout}' has {} instances but {n} models are listed (use '-' for an empty instance)",
                                instances.len()
                            ),
                        ));
                    }
                    Regime::Mig { instances }
                }
                "mps" => {
                    if n == 0 || tenants.iter().any(Option::is_none) {
                        return Err(c.err(format!("{gf}.models"), "an MPS GPU needs at least one model and no '-'"));
                    }
                    let pct = g.thread_pct.clone().unwrap_or_else(|| vec![100.0 / n as f64; n]);
                    if pct.len() != n {
                        return Err(c.err(
                            format!("{gf}.thread_pct"),
                            format!("needs one value per model ({n}), got {}", pct.len()),
                        ));
                    }
                    for p in &pct {
                        if !(p.is_finite() && *p > 0.0 && *p <= 100.0) {
                            return Err(c.err(format!("{gf}.thread_pct"), format!("each value must be in (0, 100], got '{p}'")));
                        }
                    }
                    let mem = g.mem_limit_gib.clone().unwrap_or_else(|| vec![gpu.memory_gib / n as f64; n]);
                    if mem.len() != n {
                        return Err(c.err(
                            format!("{gf}.mem_limit_gib"),
                            format!("needs one value per model ({n}), got {}", mem.len()),
                        ));
                    }
                    for m in &mem {
                        c.pos(&format!("{gf}.mem_limit_gib"), *m)?;
                    }
                    let total: f64 = mem.iter().sum();
                    if total > gpu.memory_gib + 1e-9 {
                        return Err(c.err(
                            format!("{gf}.mem_limit_gib"),
                            format!("limits add up to {total} GiB, more than the GPU's {} GiB", gpu.memory_gib),
                        ));
                    }
                    Regime::Mps {
                        thread_pct: pct,
                        mem_limit_gib: mem,
                    }
                }
                o => {
                    return Err(c.err(
                        format!("{gf}.regime"),
                        format!("must be 'dedicated', 'time-sliced', 'mig' or 'mps', got '{o}'"),
                    ))
                }
            };
            let count = g.count.unwrap_or(1);
            if count == 0 {
                return Err(c.err(format!("{gf}.count"), "must be at least 1, got '0'"));
            }
            for _ in 0..count {
                gpus.push(GpuPlan {
                    regime: regime.clone(),
                    tenants: tenants.clone(),
                });
            }
        }
        if gpus.is_empty() {
            return Err(c.err(format!("{f}.gpus"), "needs at least one GPU"));
        }
        let mut faults = Vec::new();
        for (k, x) in v.faults.iter().enumerate() {
            let ff = format!("{f}.faults[{k}]");
            let when = match (x.at_s, x.mtbf_s) {
                (Some(t), None) => FaultTime::At(from_secs(c.nonneg(&format!("{ff}.at_s"), t)?)),
                (None, Some(m)) => FaultTime::Mtbf(from_secs(c.pos(&format!("{ff}.mtbf_s"), m)?)),
                _ => return Err(c.err(&ff, "needs exactly one of 'at_s' or 'mtbf_s'")),
            };
            faults.push(Fault {
                model: model_idx(&format!("{ff}.model"), &x.model)?,
                replica: x.replica,
                when,
                restart: from_secs(c.nonneg(&format!("{ff}.restart_s"), x.restart_s)?),
            });
        }
        variants.push(Variant {
            name: v.name.clone(),
            gpu,
            price_usd_per_hour: price,
            balancer,
            gpus,
            faults,
        });
    }
    let scenario = Scenario {
        name: raw.name.clone(),
        description: raw.description.clone(),
        duration,
        warmup,
        drain,
        models,
        workloads,
        variants,
    };
    // Memory and placement are checked by building each variant once (cheap: no events run).
    for v in 0..scenario.variants.len() {
        crate::sim::Simulation::new(&scenario, v, 0).map_err(|e| e.in_file(file))?;
    }
    Ok(scenario)
}
