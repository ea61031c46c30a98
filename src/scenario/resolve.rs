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
use crate::error::{Error, Result};
use crate::model::{Model, ModelSpec, ServiceKind};
use crate::scenario::*;
use crate::time::SimTime;
use std::collections::BTreeMap;

use crate::limits::*;

mod variant;
mod workload;

pub use variant::add_variant;
use variant::{check_faults, check_served, check_slices, resolve_variant};
pub use workload::links_default;
use workload::{check_total_work, resolve_workload};

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
        // An objective "<name>.<metric>" reads a model before a workload of that name, so a
        // workload may share only the name of the one model it sends to (its default name).
        if let Some(m) = models.iter().position(|m| m.name == w.name) {
            if !matches!(w.target, Target::Model(x) if x == m) {
                return Err(c.err(
                    format!("workload[{i}].name"),
                    format!(
                        "'{}' is also the name of a model this workload does not send to alone: an objective '{}.<metric>' would read the model, not the workload; rename the workload",
                        w.name, w.name
                    ),
                ));
            }
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
    let autoscale = resolve_autoscale(&c, raw, &models)?;
    let mut variants = variants;
    for (vi, v) in variants.iter_mut().enumerate() {
        v.placement = crate::deploy::placement::place(&models, &v.name, &v.gpu, &v.gpus).map_err(|e| e.in_file(&src.file))?;
        check_faults(&c, vi, v, &models)?;
        check_served(&c, vi, v, &models, &workloads)?;
        check_autoscaled(&c, vi, v, &models, &autoscale)?;
    }
    Ok(Scenario {
        name: raw.name.clone(),
        description: raw.description.clone(),
        duration,
        warmup,
        drain,
        window: resolve_window(raw, &c, duration)?,
        models,
        workloads,
        variants,
        slo,
        autoscale,
    })
}

/// Defaults of an `[autoscale.<model>]` table: the Kubernetes HPA's own (its sync period,
/// `--horizontal-pod-autoscaler-sync-period`, is 15 s, and its scale-down stabilisation window
/// 300 s: kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/).
const AUTOSCALE_INTERVAL_S: f64 = 15.0;
const AUTOSCALE_COOLDOWN_S: f64 = 300.0;

/// Each `[autoscale.<model>]` table, by model index.
fn resolve_autoscale(c: &Check, raw: &RawScenario, models: &[Model]) -> Result<Vec<Option<Autoscale>>> {
    let mut out = vec![None; models.len()];
    for (name, a) in &raw.autoscale {
        let f = |k: &str| format!("autoscale.{name}.{k}");
        let Some(m) = models.iter().position(|x| &x.name == name) else {
            let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
            return Err(c.err(format!("autoscale.{name}"), format!("unknown model '{name}' (defined: {names:?})")));
        };
        let min = c.count(&f("min_replicas"), a.min_replicas.unwrap_or(1), 1, MAX_GPUS)?;
        let max = c.count(&f("max_replicas"), a.max_replicas.unwrap_or(MAX_GPUS), 1, MAX_GPUS)?;
        if min > max {
            return Err(c.err(f("min_replicas"), format!("must not exceed max_replicas ({max}), got '{min}'")));
        }
        if let Some(v) = a.variants.iter().find(|v| !raw.variant.iter().any(|x| &x.name == *v)) {
            return Err(c.err(f("variants"), format!("no variant is named '{v}'")));
        }
        let target = match (a.target_outstanding, a.target_utilization_pct) {
            (Some(n), None) => ScaleTarget::Outstanding(c.pos(&f("target_outstanding"), n)?),
            (None, Some(pct)) => {
                if !(pct > 0.0 && pct <= 100.0) {
                    return Err(c.err(
                        f("target_utilization_pct"),
                        format!("must be a percentage above 0 and at most 100, got '{}'", crate::error::num(pct)),
                    ));
                }
                ScaleTarget::Utilization(pct / 100.0)
            }
            (Some(_), Some(_)) => {
                return Err(c.err(f("target_utilization_pct"), "give target_outstanding or target_utilization_pct, not both".to_string()))
            }
            (None, None) => return Err(c.err(f("target_outstanding"), "missing: give target_outstanding or target_utilization_pct".to_string())),
        };
        out[m] = Some(Autoscale {
            variants: a.variants.clone(),
            min,
            max,
            target,
            startup: c.secs(&f("startup_s"), a.startup_s)?,
            interval: c.pos_secs(&f("interval_s"), a.interval_s.unwrap_or(AUTOSCALE_INTERVAL_S))?,
            cooldown: c.secs(&f("cooldown_s"), a.cooldown_s.unwrap_or(AUTOSCALE_COOLDOWN_S))?,
            relayout: c.secs(&f("relayout_s"), a.relayout_s.unwrap_or(0.0))?,
        });
    }
    Ok(out)
}

/// A variant places at least `min_replicas` of every autoscaled model, and injects no fault
/// into it (a restart would bring back a replica the autoscaler turned off).
fn check_autoscaled(c: &Check, vi: usize, v: &Variant, models: &[Model], autoscale: &[Option<Autoscale>]) -> Result<()> {
    for (m, a) in autoscale.iter().enumerate() {
        let Some(a) = a.as_ref().filter(|a| a.applies_to(&v.name)) else { continue };
        let placed = v.placement.replicas(m).len() as u32;
        if placed > 0 && placed < a.min {
            return Err(c.err(
                format!("autoscale.{}.min_replicas", models[m].name),
                format!("variant '{}' places {placed} replica(s) of '{}', fewer than min_replicas '{}'", v.name, models[m].name, a.min),
            ));
        }
        if let Some(k) = v.faults.iter().position(|f| f.model == m) {
            return Err(c.err(
                format!("variant[{vi}].faults[{k}]"),
                format!("model '{}' is autoscaled: faults and autoscaling of one model cannot be combined", models[m].name),
            ));
        }
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

/// The report windows: `window_s` long, at most [`MAX_WINDOWS`] of them over the run (each
/// holds sketches per model and workload).
fn resolve_window(raw: &RawScenario, c: &Check, duration: SimTime) -> Result<SimTime> {
    let Some(w) = raw.window_s else {
        return Ok(0);
    };
    let len = c.pos_secs("window_s", w)?;
    let n = duration.div_ceil(len);
    if n > MAX_WINDOWS {
        return Err(c.err(
            "window_s",
            format!(
                "'{}' cuts duration_s ({} s) into {n} windows, more than the limit of {MAX_WINDOWS} (docs/src/limits.md)",
                num(w),
                num(raw.duration_s)
            ),
        ));
    }
    Ok(len)
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
        let mut spec = model_spec(c, &f, name, m, src)?;
        spec.name = name.clone();
        resolve_model_overrides(c, &f, m, &mut spec)?;
        out.push(Model::resolve(spec, c.file)?);
    }
    Ok(out)
}

/// The model as `from` names it, or derived from `kind` and `arch`.
fn model_spec(c: &Check, f: &str, name: &str, m: &RawModel, src: &Sources) -> Result<ModelSpec> {
    let derive_only = [("size_unit", m.size_unit.is_some()), ("buckets", m.buckets.is_some())];
    match (&m.from, m.kind, &m.arch) {
        (Some(from), None, None) => {
            if let Some((field, _)) = derive_only.iter().find(|x| x.1) {
                return Err(c.err(
                    format!("{f}.{field}"),
                    format!("applies to a model defined by its architecture (kind + arch), not to one read from '{from}'"),
                ));
            }
            match src.models.get(from) {
                Some(s) => Ok(s.clone()),
                None => crate::model::builtin(from).unwrap_or_else(|| {
                    let names: Vec<&str> = crate::model::BUILTIN_MODELS.iter().map(|x| x.0).collect();
                    Err(c.err(
                        format!("{f}.from"),
                        format!(
                            "'{from}' is neither a built-in model ({}) nor a model file that was read",
                            names.join(", ")
                        ),
                    ))
                }),
            }
        }
        (Some(_), _, Some(_)) => Err(c.err(
            format!("{f}.arch"),
            "defines the model itself: give either 'from' or 'kind' and 'arch', not both",
        )),
        (Some(_), Some(k), None) => Err(c.err(
            format!("{f}.kind"),
            format!("'{}' comes with the model 'from' names: drop it, or define the model by 'kind' and 'arch'", k.label()),
        )),
        (None, None, _) => Err(c.err(
            f,
            format!("model '{name}' needs 'from' (a built-in model or a model file) or 'kind' and 'arch'"),
        )),
        (None, Some(_), None) => Err(c.err(format!("{f}.arch"), "a model without 'from' is defined by its architecture: give 'arch'")),
        (None, Some(kind), Some(arch)) => {
            arch.check(c.file, &format!("{f}.arch"))?;
            let buckets = match &m.buckets {
                None => None,
                Some(b) => {
                    if !matches!(kind, ServiceKind::Asr | ServiceKind::Encoder) {
                        return Err(c.err(format!("{f}.buckets"), format!("applies to ASR and encoder models; this one is {}", kind.label())));
                    }
                    Some(check_buckets(c, &format!("{f}.buckets"), b)?)
                }
            };
            if m.size_unit.is_some() && kind != ServiceKind::Encoder {
                return Err(c.err(format!("{f}.size_unit"), format!("applies to encoder models; this one is {}", kind.label())));
            }
            // Defaults: vLLM's max_num_seqs (256) and an 8k context for an LLM; the largest batch
            // bucket for an encoder; the measured TTS server's 16.
            let max_batch = m.max_batch.unwrap_or(match kind {
                ServiceKind::Llm => 256,
                ServiceKind::Tts => 16,
                _ => buckets.as_ref().and_then(|b| b.0.last().copied()).unwrap_or(32),
            });
            let d = crate::model::arch::Derive {
                kind,
                max_batch: BATCH.count(c.file, format!("{f}.max_batch"), max_batch)?,
                max_context_tokens: CONTEXT_TOKENS.count(c.file, format!("{f}.max_context_tokens"), m.max_context_tokens.unwrap_or(8192))?,
                buckets,
                unit: m.size_unit.unwrap_or_default(),
            };
            crate::model::arch::derive(name, arch, &d).map_err(|e| c.err(format!("{f}.arch"), e.to_string()))
        }
    }
}

/// Ascending, positive, bounded buckets.
fn check_buckets(c: &Check, f: &str, b: &RawBuckets) -> Result<(Vec<u32>, Vec<f64>)> {
    if b.batch.is_empty() || b.size.is_empty() {
        return Err(c.err(f, "needs at least one batch and one size"));
    }
    for (i, &x) in b.batch.iter().enumerate() {
        BATCH.count(c.file, format!("{f}.batch[{i}]"), x)?;
        if i > 0 && x <= b.batch[i - 1] {
            return Err(c.err(format!("{f}.batch[{i}]"), format!("must be larger than the one before, got '{x}'")));
        }
    }
    for (i, &x) in b.size.iter().enumerate() {
        c.pos(&format!("{f}.size[{i}]"), x)?;
        if i > 0 && x <= b.size[i - 1] {
            return Err(c.err(format!("{f}.size[{i}]"), format!("must be larger than the one before, got '{}'", num(x))));
        }
    }
    Ok((b.batch.clone(), b.size.clone()))
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
        if let Some(g) = crate::gpu::Catalog::builtin().largest_memory().filter(|g| total > g.memory_gib) {
            return Err(c.err(
                format!("{f}.memory_gib"),
                format!(
                    "'{}' GiB do not fit on any GPU (the largest, {}, holds {} GiB){}",
                    num(total),
                    g.name,
                    g.memory_gib,
                    unit_hint(total, g.memory_gib, "GiB", GIB_SLIPS)
                ),
            ));
        }
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
    if let Some(t) = m.tensor_parallel {
        spec.tensor_parallel = t;
    }
    if let Some(p) = m.pipeline_parallel {
        spec.pipeline_parallel = p;
    }
    spec.check_parallel(c.file, &format!("{f}."))?;
    let what = m.from.as_deref().unwrap_or("(architecture-defined)");
    if spec.asr_mode == AsrMode::Streaming && !spec.ops.contains_key("encode_chunk") {
        return Err(c.err(
            format!("{f}.asr_mode"),
            format!("streaming needs an 'encode_chunk' op, which model '{what}' does not have"),
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
                    "in-flight needs a 'synthesize' table whose latency grows with frames at every batch (two or more frame points), which model '{what}' does not have"
                ),
            ));
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
            // An objective of a model no workload sends to can never be measured: a run would
            // report it unmet and a plan would add GPUs until its budget is spent.
            if !workloads.iter().any(|w| w.target.stages().contains(&m)) {
                let used: Vec<String> = workloads.iter().map(|w| format!("'{}'", w.name)).collect();
                return Err(c.err(
                    &field,
                    format!(
                        "model '{who}' receives no requests: no workload sends to it (workloads: {}), so the objective could never be measured",
                        used.join(", ")
                    ),
                ));
            }
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
