//! Building a [`Scenario`]: the one way, for files, `validate`, TUI edits, sweeps and the planner.
//!
//! * Stage 1, [`raw`]: the file as written (serde structs, unknown fields refused, policies as
//!   enums).
//! * The file reads, [`files`]: the scenario text, model JSON and traces it references, gathered as
//!   [`Sources`]. Nothing else in the crate reads a scenario's inputs.
//! * Stage 2, [`from_raw`]: a pure function of the raw scenario and its sources, split into
//!   `resolve_*` steps. Every value is range-checked once and converted to simulator units
//!   once, here; then each variant is placed ([`crate::deploy::placement::place`]) so that memory,
//!   MIG and device limits are checked before anything runs.
//!
//! Every error names the file, the field (as a path such as `variant[1].gpus[0].layout`) and the
//! offending value.

use super::files::Sources;
use super::raw::*;
use crate::deploy::TimeSlice;
use crate::error::{Error, Result};
use crate::gpu::{parse_layout, Catalog, GpuSpec};
use crate::model::{Model, ModelSpec, ServiceKind};
use crate::scenario::workload::{Arrivals, SizeDist, TraceSize};
use crate::scenario::*;
use crate::time::SimTime;
use std::collections::BTreeMap;

use crate::limits::*;

use crate::error::num;

/// Range checks and unit conversions, each in exactly one place, with errors that name the file
/// and the field.
pub(crate) struct Check<'a> {
    pub(crate) file: &'a str,
}

impl Check<'_> {
    pub(crate) fn err(&self, field: impl Into<String>, msg: impl Into<String>) -> Error {
        Error::input(self.file, field, msg)
    }

    /// A positive finite number up to [`MAX_VALUE`].
    pub(crate) fn pos(&self, field: &str, v: f64) -> Result<f64> {
        Bound::above(0.0, MAX_VALUE, "").check(self.file, field, v)
    }

    /// A non-negative finite number up to [`MAX_VALUE`].
    pub(crate) fn nonneg(&self, field: &str, v: f64) -> Result<f64> {
        Bound::closed(0.0, MAX_VALUE, "").check(self.file, field, v)
    }

    /// A number in `[lo, hi]`.
    pub(crate) fn within(&self, field: &str, v: f64, lo: f64, hi: f64) -> Result<f64> {
        Bound::closed(lo, hi, "").check(self.file, field, v)
    }

    /// A duration in seconds, checked and converted to the clock.
    pub(crate) fn secs(&self, field: &str, v: f64) -> Result<SimTime> {
        Ok(crate::time::from_secs(self.nonneg(field, v)?))
    }

    /// A positive duration in seconds.
    pub(crate) fn pos_secs(&self, field: &str, v: f64) -> Result<SimTime> {
        Ok(crate::time::from_secs(self.pos(field, v)?).max(1))
    }

    /// A count in `[lo, hi]`.
    pub(crate) fn count(&self, field: &str, v: u32, lo: u32, hi: u32) -> Result<u32> {
        Bound::closed(f64::from(lo), f64::from(hi), "").count(self.file, field, v)
    }
}

/// Stage 2: check and resolve a raw scenario against its sources. Pure: no file is read.
pub fn from_raw(raw: &RawScenario, src: &Sources) -> Result<Scenario> {
    let c = Check { file: &src.file };
    let (duration, warmup, drain) = resolve_times(raw, &c)?;
    let models = resolve_models(raw, src, &c)?;
    let index: BTreeMap<&str, usize> = raw.models.keys().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let model_idx = |field: &str, n: &str| -> Result<usize> {
        index.get(n).copied().ok_or_else(|| {
            let names: Vec<&&str> = index.keys().collect();
            c.err(field, format!("unknown model '{n}' (defined: {names:?})"))
        })
    };
    if raw.workload.is_empty() {
        return Err(c.err("workload", "at least one [[workload]] is needed"));
    }
    if raw.workload.len() > MAX_ENTRIES {
        return Err(c.err("workload", format!("at most {MAX_ENTRIES} workloads, got {}", raw.workload.len())));
    }
    let n_variants = raw.variant.len().max(1) as f64;
    let resolved = raw
        .workload
        .iter()
        .enumerate()
        .map(|(i, w)| resolve_workload(&c, i, w, &models, &model_idx, src, raw.duration_s, n_variants))
        .collect::<Result<Vec<_>>>()?;
    check_total_work(&c, &resolved, n_variants)?;
    let workloads: Vec<Workload> = resolved.into_iter().map(|r| r.workload).collect();
    let mut names = std::collections::BTreeSet::new();
    for (i, w) in workloads.iter().enumerate() {
        if !names.insert(w.name.as_str()) {
            return Err(c.err(format!("workload[{i}].name"), format!("duplicate workload name '{}'", w.name)));
        }
    }
    if raw.variant.len() > MAX_ENTRIES {
        return Err(c.err("variant", format!("at most {MAX_ENTRIES} variants, got {}", raw.variant.len())));
    }
    let variants = raw
        .variant
        .iter()
        .enumerate()
        .map(|(vi, v)| resolve_variant(&c, vi, v, &model_idx, duration + drain))
        .collect::<Result<Vec<_>>>()?;
    check_slices(&c, &variants, duration + drain)?;
    let mut vnames = std::collections::BTreeSet::new();
    for (i, v) in variants.iter().enumerate() {
        if !vnames.insert(v.name.as_str()) {
            return Err(c.err(format!("variant[{i}].name"), format!("duplicate variant name '{}'", v.name)));
        }
    }
    let slo = resolve_slo(&c, &raw.slo, &models, &workloads)?;
    let mut variants = variants;
    for (vi, v) in variants.iter_mut().enumerate() {
        v.placement = crate::deploy::placement::place(&models, &v.name, &v.gpu, &v.gpus).map_err(|e| e.in_file(&src.file))?;
        check_faults(&c, vi, v, &models)?;
        check_served(&c, vi, v, &models, &workloads)?;
    }
    Ok(Scenario {
        name: raw.name.clone(),
        description: raw.description.clone(),
        duration,
        warmup,
        drain,
        models,
        workloads,
        variants,
        slo,
    })
}

/// Resolve one more variant against a resolved scenario (the planner's candidates): the checks
/// and placement a variant of a file gets, without resolving the models and workloads again.
/// Errors name `variant[0]` of `file`.
pub fn add_variant(sc: &Scenario, raw: &RawVariant, file: &str) -> Result<Variant> {
    let c = Check { file };
    let model_idx = |field: &str, n: &str| -> Result<usize> {
        sc.models.iter().position(|m| m.name == n).ok_or_else(|| {
            let names: Vec<&str> = sc.models.iter().map(|m| m.name.as_str()).collect();
            c.err(field, format!("unknown model '{n}' (defined: {names:?})"))
        })
    };
    let horizon = sc.duration + sc.drain;
    let mut v = resolve_variant(&c, 0, raw, &model_idx, horizon)?;
    check_slices(&c, std::slice::from_ref(&v), horizon)?;
    v.placement = crate::deploy::placement::place(&sc.models, &v.name, &v.gpu, &v.gpus).map_err(|e| e.in_file(file))?;
    check_faults(&c, 0, &v, &sc.models)?;
    check_served(&c, 0, &v, &sc.models, &sc.workloads)?;
    Ok(v)
}

/// A resolved workload with the requests it is expected to generate per variant, and the field
/// that sets that number (for the message when the scenario as a whole is too large).
struct Resolved {
    workload: Workload,
    expected: f64,
    field: String,
}

/// The workloads together, times the variants, must stay within [`MAX_REQUESTS`] (each workload
/// alone was checked as it was resolved).
fn check_total_work(c: &Check, ws: &[Resolved], n_variants: f64) -> Result<()> {
    let total: f64 = ws.iter().map(|w| w.expected).sum::<f64>() * n_variants;
    if total > MAX_REQUESTS {
        // The first of the largest workloads.
        let big = ws
            .iter()
            .reduce(|a, b| if b.expected > a.expected { b } else { a })
            .expect("at least one workload");
        return Err(c.err(
            &big.field,
            format!(
                "{} workloads x {} variant(s) would simulate about {} requests, more than the limit of {MAX_REQUESTS:e} (docs/src/limits.md); the largest, '{}', makes {} per variant",
                ws.len(),
                n_variants,
                num(total.round()),
                big.workload.name,
                num(big.expected.round())
            ),
        ));
    }
    Ok(())
}

/// Requests the scenario `raw` is expected to simulate per variant (summed over its workloads),
/// checking everything `from_raw` checks of models and workloads; for the planner's work bound.
pub fn expected_requests(raw: &RawScenario, src: &Sources) -> Result<f64> {
    let c = Check { file: &src.file };
    resolve_times(raw, &c)?;
    let models = resolve_models(raw, src, &c)?;
    let index: BTreeMap<&str, usize> = raw.models.keys().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let model_idx =
        |field: &str, n: &str| -> Result<usize> { index.get(n).copied().ok_or_else(|| c.err(field, format!("unknown model '{n}'"))) };
    let mut total = 0.0;
    for (i, w) in raw.workload.iter().enumerate() {
        total += resolve_workload(&c, i, w, &models, &model_idx, src, raw.duration_s, 1.0)?.expected;
    }
    Ok(total)
}

fn resolve_times(raw: &RawScenario, c: &Check) -> Result<(SimTime, SimTime, SimTime)> {
    let duration = c.pos_secs("duration_s", raw.duration_s)?;
    let warmup = c.secs("warmup_s", raw.warmup_s)?;
    if warmup >= duration {
        return Err(c.err(
            "warmup_s",
            format!(
                "must be shorter than duration_s ({}), got '{}'",
                num(raw.duration_s),
                num(raw.warmup_s)
            ),
        ));
    }
    let drain = c.secs("drain_s", raw.drain_s.unwrap_or(60.0))?;
    Ok((duration, warmup, drain))
}

fn resolve_models(raw: &RawScenario, src: &Sources, c: &Check) -> Result<Vec<Model>> {
    if raw.models.is_empty() {
        return Err(c.err("models", "at least one model is needed"));
    }
    if raw.models.len() > MAX_ENTRIES {
        return Err(c.err("models", format!("at most {MAX_ENTRIES} models, got {}", raw.models.len())));
    }
    let mut out = Vec::new();
    for (name, m) in &raw.models {
        let f = format!("models.{name}");
        let mut spec = match src.models.get(&m.from) {
            Some(s) => s.clone(),
            None => crate::model::builtin(&m.from).unwrap_or_else(|| {
                let names: Vec<&str> = crate::model::BUILTIN_MODELS.iter().map(|x| x.0).collect();
                Err(c.err(
                    format!("{f}.from"),
                    format!(
                        "'{}' is neither a built-in model ({}) nor a model file that was read",
                        m.from,
                        names.join(", ")
                    ),
                ))
            })?,
        };
        spec.name = name.clone();
        resolve_model_overrides(c, &f, m, &mut spec)?;
        out.push(Model::resolve(spec, c.file)?);
    }
    Ok(out)
}

fn resolve_model_overrides(c: &Check, f: &str, m: &RawModel, spec: &mut ModelSpec) -> Result<()> {
    let kind_only = |field: &str, want: &[ServiceKind]| -> Result<()> {
        if want.contains(&spec.kind) {
            Ok(())
        } else {
            let labels: Vec<&str> = want.iter().map(|k| k.label()).collect();
            Err(c.err(
                format!("{f}.{field}"),
                format!(
                    "applies only to {} models; '{}' is {}",
                    labels.join(" and "),
                    spec.name,
                    spec.kind.label()
                ),
            ))
        }
    };
    if let Some(mem) = m.memory_gib {
        let total = c.pos(&format!("{f}.memory_gib"), mem)?;
        spec.memory_override = true;
        spec.memory.runtime_gib = (total - spec.memory.weights_gib).max(0.0);
        spec.memory.weights_gib = spec.memory.weights_gib.min(total);
    }
    if let Some(b) = m.max_batch {
        let b = BATCH.count(c.file, format!("{f}.max_batch"), b)?;
        match spec.llm.as_mut() {
            Some(l) => l.max_seqs = b,
            None => spec.max_batch = b,
        }
    }
    if let Some(t) = m.max_context_tokens {
        kind_only("max_context_tokens", &[ServiceKind::Llm])?;
        let t = CONTEXT_TOKENS.count(c.file, format!("{f}.max_context_tokens"), t)?;
        if let Some(l) = spec.llm.as_mut() {
            l.max_context_tokens = t;
        }
    }
    if let Some(p) = m.scheduler {
        kind_only("scheduler", &[ServiceKind::Llm])?;
        if let Some(l) = spec.llm.as_mut() {
            l.policy = p;
        }
    }
    if let Some(t) = m.max_num_batched_tokens {
        kind_only("max_num_batched_tokens", &[ServiceKind::Llm])?;
        let t = BATCHED_TOKENS.count(c.file, format!("{f}.max_num_batched_tokens"), t)?;
        if let Some(l) = spec.llm.as_mut() {
            l.max_num_batched_tokens = t;
        }
    }
    if let Some(t) = m.kv_block_tokens {
        kind_only("kv_block_tokens", &[ServiceKind::Llm])?;
        let t = KV_BLOCK_TOKENS.count(c.file, format!("{f}.kv_block_tokens"), t)?;
        if let Some(l) = spec.llm.as_mut() {
            l.kv_block_tokens = t;
        }
    }
    if let Some(u) = m.gpu_memory_utilization {
        kind_only("gpu_memory_utilization", &[ServiceKind::Llm])?;
        let u = GPU_MEMORY_UTILIZATION.check(c.file, format!("{f}.gpu_memory_utilization"), u)?;
        if let Some(l) = spec.llm.as_mut() {
            l.gpu_memory_utilization = u;
        }
    }
    if let Some(mode) = m.asr_mode {
        kind_only("asr_mode", &[ServiceKind::Asr])?;
        spec.asr_mode = mode;
    }
    if let Some(s) = m.chunk_s {
        kind_only("chunk_s", &[ServiceKind::Asr])?;
        spec.chunk_s = CHUNK_S.check(c.file, format!("{f}.chunk_s"), s)?;
    }
    if let Some(p) = m.tts_policy {
        kind_only("tts_policy", &[ServiceKind::Tts])?;
        spec.tts_policy = p;
    }
    if let Some(n) = m.first_chunk_frames {
        kind_only("first_chunk_frames", &[ServiceKind::Tts])?;
        spec.first_chunk_frames = FIRST_CHUNK_FRAMES.count(c.file, format!("{f}.first_chunk_frames"), n)?;
    }
    if let Some(x) = m.call_noise {
        kind_only("call_noise", &[ServiceKind::Asr, ServiceKind::Tts])?;
        spec.call_noise = CALL_NOISE.check(c.file, format!("{f}.call_noise"), x)?;
    }
    if let Some(x) = m.cold_call_ms {
        kind_only("cold_call_ms", &[ServiceKind::Asr, ServiceKind::Tts])?;
        spec.cold_call_ms = COLD_CALL_MS.check(c.file, format!("{f}.cold_call_ms"), x)?;
    }
    if spec.asr_mode == AsrMode::Streaming && !spec.ops.contains_key("encode_chunk") {
        return Err(c.err(
            format!("{f}.asr_mode"),
            format!("streaming needs an 'encode_chunk' op, which model '{}' does not have", m.from),
        ));
    }
    if spec.kind == ServiceKind::Tts && spec.tts_policy == TtsPolicy::InFlight {
        // The frame step is the table's slope in frames (OpTable::frame_costs_ms): it needs two
        // frame counts and a latency that grows with them at every batch.
        let t = spec.op("synthesize");
        let last = t.size.len() - 1;
        let flat = t.latency_ms.iter().position(|row| row[last] <= row[0]);
        if last == 0 || flat.is_some() {
            return Err(c.err(
                format!("{f}.tts_policy"),
                format!(
                    "in-flight needs a 'synthesize' table whose latency grows with frames at every batch (two or more frame points), which model '{}' does not have",
                    m.from
                ),
            ));
        }
    }
    Ok(())
}

/// Defaults of the pipeline size links.
pub mod links_default {
    /// Words per audio second: LJSpeech, 225,715 words over 23:55:17 of audio (docs/sources.md S6.2).
    pub const WORDS_PER_AUDIO_S: f64 = 2.62;
    /// BPE tokens per English word (Llama-3 tokenizer, typical); a stated assumption.
    pub const TOKENS_PER_WORD: f64 = 1.3;
    /// System prompt and short history [tokens]; a stated assumption.
    pub const PROMPT_BASE_TOKENS: f64 = 256.0;
    /// Characters per BPE token of English text; a stated assumption.
    pub const CHARS_PER_TOKEN: f64 = 4.0;
}

#[allow(clippy::too_many_arguments)]
fn resolve_workload(
    c: &Check,
    i: usize,
    w: &RawWorkload,
    models: &[Model],
    model_idx: &dyn Fn(&str, &str) -> Result<usize>,
    src: &Sources,
    duration_s: f64,
    n_variants: f64,
) -> Result<Resolved> {
    let f = format!("workload[{i}]");
    let (target, name) = match (&w.model, &w.pipeline) {
        (Some(m), None) => (Target::Model(model_idx(&format!("{f}.model"), m)?), m.clone()),
        (None, Some(p)) => {
            if p.is_empty() || p.len() > MAX_STAGES {
                return Err(c.err(format!("{f}.pipeline"), format!("needs 1 to {MAX_STAGES} stages, got {}", p.len())));
            }
            let stages = p
                .iter()
                .map(|m| model_idx(&format!("{f}.pipeline"), m))
                .collect::<Result<Vec<_>>>()?;
            let l = w.links.clone().unwrap_or(RawLinks {
                words_per_audio_s: None,
                tokens_per_word: None,
                prompt_base_tokens: None,
                chars_per_token: None,
                tts_first_chunk_frames: None,
            });
            let lf = |k: &str| format!("{f}.links.{k}");
            use links_default::*;
            (
                Target::Pipeline(Pipeline {
                    stages,
                    words_per_audio_s: c.pos(&lf("words_per_audio_s"), l.words_per_audio_s.unwrap_or(WORDS_PER_AUDIO_S))?,
                    tokens_per_word: c.pos(&lf("tokens_per_word"), l.tokens_per_word.unwrap_or(TOKENS_PER_WORD))?,
                    prompt_base_tokens: c.nonneg(&lf("prompt_base_tokens"), l.prompt_base_tokens.unwrap_or(PROMPT_BASE_TOKENS))?,
                    chars_per_token: c.pos(&lf("chars_per_token"), l.chars_per_token.unwrap_or(CHARS_PER_TOKEN))?,
                    tts_first_chunk_frames: c.nonneg(&lf("tts_first_chunk_frames"), l.tts_first_chunk_frames.unwrap_or(0.0))?,
                }),
                p.join("->"),
            )
        }
        _ => return Err(c.err(&f, "needs exactly one of 'model' or 'pipeline'")),
    };
    if w.links.is_some() && matches!(target, Target::Model(_)) {
        return Err(c.err(format!("{f}.links"), "applies only to a pipeline"));
    }
    let first = match &target {
        Target::Model(m) => *m,
        Target::Pipeline(p) => p.stages[0],
    };
    let first_kind = models[first].kind;
    let stages: Vec<usize> = match &target {
        Target::Model(m) => vec![*m],
        Target::Pipeline(p) => p.stages.clone(),
    };
    let needs_out = stages.iter().any(|&m| models[m].kind == ServiceKind::Llm);
    let dist = |field: String, d: &RawDist| resolve_dist(c, &field, d);
    let out_tokens = w.out_tokens.as_ref().map(|d| dist(format!("{f}.out_tokens"), d)).transpose()?;
    if out_tokens.is_some() && !needs_out {
        return Err(c.err(format!("{f}.out_tokens"), "applies only to a target with an LLM"));
    }
    let size = w.size.as_ref().map(|d| dist(format!("{f}.size"), d)).transpose()?;
    let need_size = |size: Option<SizeDist>| -> Result<SizeDist> {
        size.ok_or_else(|| {
            c.err(
                format!("{f}.size"),
                format!("needs a size distribution ({})", first_kind.size_name()),
            )
        })
    };
    let need_out = |o: &Option<SizeDist>| -> Result<()> {
        if needs_out && o.is_none() {
            return Err(c.err(format!("{f}.out_tokens"), "an LLM target needs an output-token distribution"));
        }
        Ok(())
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
    let closed_only = [
        ("think_s", w.think_s.is_some()),
        ("think", w.think.is_some()),
        ("pacing", w.pacing.is_some()),
        ("ramp_up_s", w.ramp_up_s.is_some()),
        ("hold_s", w.hold_s.is_some()),
        ("ramp_down_s", w.ramp_down_s.is_some()),
    ];
    if w.users.is_none() {
        if let Some((k, _)) = closed_only.iter().find(|(_, set)| *set) {
            return Err(c.err(format!("{f}.{k}"), "applies only to a closed loop ('users')"));
        }
    }
    if w.trace.is_none() && w.trace_rate_scale.is_some() {
        return Err(c.err(format!("{f}.trace_rate_scale"), "applies only to a trace replay"));
    }
    // Work per unit in requests; a streaming ASR first stage also makes one chunk call per
    // `chunk_s` of audio (plus the final one), which costs the events of a request.
    let first_spec = &models[first];
    let streaming = first_kind == ServiceKind::Asr && first_spec.spec.asr_mode == AsrMode::Streaming;
    let chunks = |mean_audio_s: f64| {
        if streaming {
            mean_audio_s / first_spec.spec.chunk_s + 1.0
        } else {
            0.0
        }
    };
    let stages_n = stages.len() as f64;
    // Every variant simulates the workload: the bound is on the requests of all of them.
    let over = |expected: f64| expected * n_variants > MAX_REQUESTS;
    let too_many = |field: String, expected: f64, why: String| -> Error {
        let times = if n_variants > 1.0 {
            format!(" x {n_variants} variants")
        } else {
            String::new()
        };
        c.err(
            field,
            format!(
                "{why}{times} would generate about {} requests, more than the limit of {MAX_REQUESTS:e} (docs/src/limits.md)",
                num((expected * n_variants).round())
            ),
        )
    };
    let work: (f64, String);
    let load = if let Some(a) = &w.arrivals {
        let af = |k: &str| format!("{f}.arrivals.{k}");
        let arrivals = match *a {
            RawArrivals::Poisson { rate_rps } => Arrivals::Poisson {
                rate_rps: c.pos(&af("rate_rps"), rate_rps)?,
            },
            RawArrivals::Gamma { rate_rps, cv } => Arrivals::Gamma {
                rate_rps: c.pos(&af("rate_rps"), rate_rps)?,
                cv: c.within(&af("cv"), cv, 1e-3, MAX_CV)?,
            },
            RawArrivals::OnOff { rate_rps, on_s, off_s } => Arrivals::OnOff {
                rate_rps: c.pos(&af("rate_rps"), rate_rps)?,
                on_s: c.pos(&af("on_s"), on_s)?,
                off_s: c.nonneg(&af("off_s"), off_s)?,
            },
        };
        need_out(&out_tokens)?;
        let expected = arrivals.rate_rps() * duration_s * (stages_n + size.as_ref().map_or(0.0, |d| chunks(d.mean())));
        work = (expected, af("rate_rps"));
        if over(expected) {
            return Err(too_many(
                af("rate_rps"),
                expected,
                format!("'{}' over {} s", num(arrivals.rate_rps()), num(duration_s)),
            ));
        }
        Load::Open {
            arrivals,
            size: need_size(size)?,
            out_tokens,
        }
    } else if let Some(t) = &w.trace {
        let scale = c.pos(&format!("{f}.trace_rate_scale"), w.trace_rate_scale.unwrap_or(1.0))?;
        let trace = src
            .traces
            .get(t)
            .cloned()
            .ok_or_else(|| c.err(format!("{f}.trace"), format!("trace '{t}' was not read")))?;
        let want = match first_kind {
            ServiceKind::Asr => TraceSize::AudioS,
            ServiceKind::Tts => TraceSize::Chars,
            ServiceKind::Llm => TraceSize::PromptTokens,
        };
        if trace.size != want {
            return Err(c.err(
                format!("{f}.trace"),
                format!(
                    "trace '{t}' gives request sizes as '{}', but the first model '{}' is {} and takes '{}'",
                    trace.size.column(),
                    models[first].name,
                    first_kind.label(),
                    want.column()
                ),
            ));
        }
        if needs_out && !trace.has_out_tokens && out_tokens.is_none() {
            return Err(c.err(
                format!("{f}.out_tokens"),
                format!("trace '{t}' has no output tokens; give an out_tokens distribution"),
            ));
        }
        if size.is_some() {
            return Err(c.err(format!("{f}.size"), "a trace replay takes its sizes from the trace"));
        }
        let audio_s: f64 = trace.rows.iter().map(|r| f64::from(r.size)).sum();
        let rows = trace.rows.len() as f64;
        let expected = rows * stages_n + if streaming { audio_s / first_spec.spec.chunk_s + rows } else { 0.0 };
        work = (expected, format!("{f}.trace"));
        if over(expected) {
            return Err(too_many(
                format!("{f}.trace"),
                expected,
                format!("trace '{t}' of {} rows", trace.rows.len()),
            ));
        }
        Load::Trace { trace, scale, out_tokens }
    } else {
        let users = c.count(&format!("{f}.users"), w.users.unwrap_or(0), 1, MAX_USERS)?;
        let ramp_up = c.secs(&format!("{f}.ramp_up_s"), w.ramp_up_s.unwrap_or(0.0))?;
        let ramp_down = c.secs(&format!("{f}.ramp_down_s"), w.ramp_down_s.unwrap_or(0.0))?;
        let duration = crate::time::from_secs(duration_s);
        let hold = match w.hold_s {
            Some(h) => c.secs(&format!("{f}.hold_s"), h)?,
            None => duration.saturating_sub(ramp_up + ramp_down),
        };
        let think_s = c.nonneg(&format!("{f}.think_s"), w.think_s.unwrap_or(0.0))?;
        need_out(&out_tokens)?;
        let pacing = w.pacing.unwrap_or(Pacing::Loop);
        if pacing != Pacing::Loop && first_kind != ServiceKind::Asr {
            return Err(c.err(
                format!("{f}.pacing"),
                format!(
                    "a conversation starts with speech: the first model must be ASR, '{}' is {}",
                    models[first].name,
                    first_kind.label()
                ),
            ));
        }
        let size = need_size(size)?;
        // The shortest cycle of one user: think time, plus the utterance itself for a
        // conversation, plus the fastest call the first model can make.
        let min_call_s = models[first].spec.min_call_ms() / 1e3;
        let speech_s = if pacing == Pacing::Loop { 0.0 } else { size.min_value() };
        let cycle_s = (think_s + speech_s + min_call_s).max(1e-9);
        let active_s = (duration_s).min(crate::time::to_secs(ramp_up + hold + ramp_down).max(1e-9));
        let expected = users as f64 * active_s / cycle_s * (stages_n + chunks(size.mean()));
        work = (expected, format!("{f}.users"));
        if over(expected) {
            return Err(too_many(
                format!("{f}.users"),
                expected,
                format!("{users} users with cycles of at least {} s over {} s", num(cycle_s), num(active_s)),
            ));
        }
        Load::Closed {
            users,
            think: crate::time::from_secs(think_s),
            think_exponential: w.think.unwrap_or_default() == ThinkMode::Exponential,
            pacing,
            ramp_up,
            hold,
            ramp_down,
            size,
            out_tokens,
        }
    };
    // An LLM request longer than the context is refused at admission: a workload whose
    // smallest request is already too long would only fail.
    if let (Target::Model(m), Load::Open { size, out_tokens, .. } | Load::Closed { size, out_tokens, .. }) = (&target, &load) {
        if let (Some(l), Some(o)) = (models[*m].spec.llm.as_ref(), out_tokens.as_ref()) {
            let least = size.min_value().round().max(1.0) + o.min_value().round().max(1.0);
            if least > f64::from(l.max_context_tokens) {
                return Err(c.err(
                    format!("{f}.size"),
                    format!(
                        "the shortest prompt ({}) plus the shortest output ({}) is more than model '{}''s max_context_tokens ({}): every request would be refused",
                        num(size.min_value()),
                        num(o.min_value()),
                        models[*m].name,
                        l.max_context_tokens
                    ),
                ));
            }
        }
    }
    let timeout = c.secs(&format!("{f}.timeout_s"), w.timeout_s.unwrap_or(0.0))?;
    Ok(Resolved {
        workload: Workload {
            name: w.name.clone().unwrap_or(name),
            target,
            load,
            timeout,
        },
        expected: work.0,
        field: work.1,
    })
}

fn resolve_dist(c: &Check, field: &str, d: &RawDist) -> Result<SizeDist> {
    let k = |x: &str| format!("{field}.{x}");
    let ordered = |min: f64, max: f64| -> Result<(f64, f64)> {
        let (min, max) = (c.pos(&k("min"), min)?, c.pos(&k("max"), max)?);
        if min > max {
            return Err(c.err(k("min"), format!("must not exceed max ({}), got '{}'", num(max), num(min))));
        }
        Ok((min, max))
    };
    Ok(match *d {
        RawDist::Fixed { value } => SizeDist::Fixed(c.pos(&k("value"), value)?),
        RawDist::Lognormal { median, sigma, min, max } => {
            let median = c.pos(&k("median"), median)?;
            let sigma = c.within(&k("sigma"), sigma, 0.0, 10.0)?;
            let (min, max) = ordered(min, max)?;
            SizeDist::LogNormal { median, sigma, min, max }
        }
        RawDist::Exponential { mean } => SizeDist::Exponential {
            mean: c.pos(&k("mean"), mean)?,
        },
        RawDist::Uniform { min, max } => {
            let (min, max) = ordered(min, max)?;
            SizeDist::Uniform { min, max }
        }
    })
}

fn resolve_variant(
    c: &Check,
    vi: usize,
    v: &RawVariant,
    model_idx: &dyn Fn(&str, &str) -> Result<usize>,
    horizon: SimTime,
) -> Result<Variant> {
    let f = format!("variant[{vi}]");
    let cat = Catalog::builtin();
    let gpu = cat
        .gpu(&v.gpu)
        .cloned()
        .ok_or_else(|| c.err(format!("{f}.gpu"), format!("unknown GPU '{}' (known: {})", v.gpu, cat.names())))?;
    let price = c.pos(
        &format!("{f}.price_usd_per_hour"),
        v.price_usd_per_hour.unwrap_or(gpu.price_usd_per_hour),
    )?;
    let mut gpus = Vec::new();
    for (gi, g) in v.gpus.iter().enumerate() {
        let gf = format!("{f}.gpus[{gi}]");
        let (regime, tenants) = resolve_gpu(c, &gf, g, &gpu, model_idx)?;
        let count = match g {
            RawGpu::Dedicated { count, .. } | RawGpu::TimeSliced { count, .. } | RawGpu::Mig { count, .. } | RawGpu::Mps { count, .. } => {
                count.unwrap_or(1)
            }
        };
        let count = c.count(&format!("{gf}.count"), count, 1, MAX_GPUS)?;
        if gpus.len() as u64 + u64::from(count) > u64::from(MAX_GPUS) {
            return Err(c.err(format!("{gf}.count"), format!("the variant would have more than {MAX_GPUS} GPUs")));
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
            (Some(t), None) => FaultTime::At(c.secs(&format!("{ff}.at_s"), t)?),
            (None, Some(m)) => {
                let mean = c.pos_secs(&format!("{ff}.mtbf_s"), m)?;
                let restart = crate::time::from_secs(x.restart_s.max(0.0));
                let expected = horizon as f64 / (mean + restart) as f64;
                if expected > MAX_FAULTS {
                    return Err(c.err(
                        format!("{ff}.mtbf_s"),
                        format!(
                            "'{}' would strike about {} times in the run, more than the limit of {MAX_FAULTS:e} (docs/src/limits.md)",
                            num(m),
                            num(expected.round())
                        ),
                    ));
                }
                FaultTime::Mtbf(mean)
            }
            _ => return Err(c.err(&ff, "needs exactly one of 'at_s' or 'mtbf_s'")),
        };
        faults.push(Fault {
            model: model_idx(&format!("{ff}.model"), &x.model)?,
            replica: x.replica,
            kind: x.kind.unwrap_or_default(),
            when,
            restart: c.secs(&format!("{ff}.restart_s"), x.restart_s)?,
        });
    }
    Ok(Variant {
        name: v.name.clone(),
        gpu,
        price_usd_per_hour: price,
        balancer: v.balancer.unwrap_or_default(),
        gpus,
        faults,
        placement: Placement::default(),
    })
}

fn resolve_gpu(
    c: &Check,
    gf: &str,
    g: &RawGpu,
    gpu: &GpuSpec,
    model_idx: &dyn Fn(&str, &str) -> Result<usize>,
) -> Result<(Regime, Vec<Option<usize>>)> {
    let tenants: Vec<Option<usize>> = g
        .models()
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
    let all_present = || -> Result<()> {
        if n == 0 || tenants.iter().any(Option::is_none) {
            return Err(c.err(format!("{gf}.models"), "needs at least one model and no '-'"));
        }
        Ok(())
    };
    let regime = match g {
        RawGpu::Dedicated { .. } => {
            if n != 1 || tenants[0].is_none() {
                return Err(c.err(format!("{gf}.models"), format!("a dedicated GPU runs exactly one model, got {n}")));
            }
            Regime::Dedicated
        }
        RawGpu::TimeSliced { quantum_ms, switch_us, .. } => {
            all_present()?;
            Regime::TimeSliced(TimeSlice::from_input(*quantum_ms, *switch_us, c.file, gf)?)
        }
        RawGpu::Mig { layout, .. } => {
            let profiles = parse_layout(gpu, layout).map_err(|e| c.err(format!("{gf}.layout"), e.to_string()))?;
            crate::gpu::place_profiles(gpu, &profiles).map_err(|e| c.err(format!("{gf}.layout"), e.to_string()))?;
            if profiles.len() != n {
                return Err(c.err(
                    format!("{gf}.models"),
                    format!(
                        "layout '{layout}' has {} instances but {n} models are listed (use '-' for an empty instance)",
                        profiles.len()
                    ),
                ));
            }
            Regime::Mig {
                profiles: profiles.into_iter().cloned().collect(),
            }
        }
        RawGpu::Mps {
            thread_pct, mem_limit_gib, ..
        } => {
            all_present()?;
            let pct = thread_pct.clone().unwrap_or_else(|| vec![100.0 / n as f64; n]);
            if pct.len() != n {
                return Err(c.err(
                    format!("{gf}.thread_pct"),
                    format!("needs one value per model ({n}), got {}", pct.len()),
                ));
            }
            for p in &pct {
                // Below 1 % a client would get less than one SM of any catalog GPU.
                c.within(&format!("{gf}.thread_pct"), *p, 1.0, 100.0)?;
            }
            let mem = mem_limit_gib.clone().unwrap_or_else(|| vec![gpu.memory_gib / n as f64; n]);
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
                    format!("limits add up to {} GiB, more than the GPU's {} GiB", num(total), gpu.memory_gib),
                ));
            }
            Regime::Mps {
                thread_pct: pct,
                mem_limit_gib: mem,
            }
        }
    };
    Ok((regime, tenants))
}

/// The time slices every time-sliced GPU may take over the run, summed over the variants, must
/// stay within [`MAX_SLICES`]; the message names the GPU entry with the shortest slice.
fn check_slices(c: &Check, variants: &[Variant], horizon: SimTime) -> Result<()> {
    let mut total = 0.0;
    let mut worst: Option<(usize, SimTime)> = None;
    for (vi, v) in variants.iter().enumerate() {
        for g in &v.gpus {
            if let Regime::TimeSliced(TimeSlice { quantum, .. }) = g.regime {
                total += horizon as f64 / quantum.max(1) as f64;
                if worst.is_none_or(|(_, q)| quantum < q) {
                    worst = Some((vi, quantum));
                }
            }
        }
    }
    if total > MAX_SLICES {
        let (vi, q) = worst.expect("a time-sliced GPU");
        return Err(c.err(
            format!("variant[{vi}].gpus"),
            format!(
                "time-sliced GPUs of {} ms slices over {} s (duration_s + drain_s) would take up to {} slices, more than the limit of {MAX_SLICES:e} (docs/src/limits.md): a longer quantum_ms, a shorter run or fewer time-sliced GPUs",
                num(crate::time::to_secs(q) * 1e3),
                num(crate::time::to_secs(horizon)),
                num(total.round())
            ),
        ));
    }
    Ok(())
}

/// A fault must hit a server that exists in the variant.
fn check_faults(c: &Check, vi: usize, v: &Variant, models: &[Model]) -> Result<()> {
    for (k, fault) in v.faults.iter().enumerate() {
        let n = v.placement.replicas(fault.model).len();
        let name = &models[fault.model].name;
        if n == 0 {
            return Err(c.err(
                format!("variant[{vi}].faults[{k}].model"),
                format!("model '{name}' runs on no GPU of variant '{}'", v.name),
            ));
        }
        if fault.replica >= n {
            return Err(c.err(
                format!("variant[{vi}].faults[{k}].replica"),
                format!(
                    "model '{name}' has {n} replica(s) in variant '{}' (0..{}), got '{}'",
                    v.name,
                    n - 1,
                    fault.replica
                ),
            ));
        }
    }
    Ok(())
}

/// Every model a workload sends requests to must run somewhere in every variant.
fn check_served(c: &Check, vi: usize, v: &Variant, models: &[Model], workloads: &[Workload]) -> Result<()> {
    for (i, w) in workloads.iter().enumerate() {
        for m in w.target.stages() {
            if v.placement.replicas(m).is_empty() {
                return Err(c.err(
                    format!("variant[{vi}].gpus"),
                    format!(
                        "variant '{}': workload {i} ('{}') sends requests to model '{}', which no GPU of the variant runs",
                        v.name, w.name, models[m].name
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn resolve_slo(c: &Check, raw: &BTreeMap<String, f64>, models: &[Model], workloads: &[Workload]) -> Result<Vec<Slo>> {
    let mut out = Vec::new();
    for (key, &bound) in raw {
        let field = format!("slo.\"{key}\"");
        let (who, metric) = key
            .rsplit_once('.')
            .ok_or_else(|| c.err(&field, format!("expected '<model or workload>.<metric>', got '{key}'")))?;
        let metric = SloMetric::parse(metric).ok_or_else(|| {
            let names: Vec<&str> = SloMetric::ALL.iter().map(|m| m.name()).collect();
            c.err(&field, format!("unknown metric '{metric}' (known: {})", names.join(", ")))
        })?;
        let target = if let Some(m) = models.iter().position(|m| m.name == who) {
            SloTarget::Model(m)
        } else if let Some(w) = workloads.iter().position(|w| w.name == who) {
            SloTarget::Workload(w)
        } else {
            let mut known: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
            known.extend(workloads.iter().map(|w| w.name.as_str()));
            return Err(c.err(&field, format!("unknown model or workload '{who}' (known: {})", known.join(", "))));
        };
        let applies = match (&target, metric) {
            (SloTarget::Model(m), SloMetric::TtftP95) => models[*m].kind == ServiceKind::Llm,
            (SloTarget::Model(_), SloMetric::FirstAudioP95) => false,
            (SloTarget::Workload(w), SloMetric::FirstAudioP95) => {
                workloads[*w].target.stages().iter().any(|&m| models[m].kind == ServiceKind::Tts)
            }
            (SloTarget::Workload(w), SloMetric::TtftP95) => {
                matches!(workloads[*w].target, Target::Model(m) if models[m].kind == ServiceKind::Llm)
            }
            _ => true,
        };
        if !applies {
            return Err(c.err(&field, format!("metric '{}' does not apply to '{who}'", metric.name())));
        }
        let bound = if metric.is_max() {
            c.pos(&field, bound)?
        } else {
            c.within(&field, bound, 0.0, 1.0)?
        };
        out.push(Slo {
            key: key.clone(),
            target,
            metric,
            bound,
        });
    }
    Ok(out)
}
