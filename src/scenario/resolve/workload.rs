//! Stage 2 for workloads: what each `[[workload]]` sends (a model or a pipeline and its size
//! links), how its load arrives (open loop, trace, closed loop), its sizes, and the requests it
//! is expected to generate, which the limits bound before anything runs.

use super::Check;
use crate::error::{num, Result};
use crate::limits::*;
use crate::model::{Model, ServiceKind, SizeUnit};
use crate::scenario::files::Sources;
use crate::scenario::raw::*;
use crate::scenario::workload::{Arrivals, SizeDist, TraceSize};
use crate::scenario::*;

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
/// A resolved workload with the requests it is expected to generate per variant, and the field
/// that sets that number (for the message when the scenario as a whole is too large).
pub(super) struct Resolved {
    pub(super) workload: Workload,
    pub(super) expected: f64,
    pub(super) field: String,
}

/// The workloads together, times the variants, must stay within [`MAX_REQUESTS`] (each workload
/// alone was checked as it was resolved).
pub(super) fn check_total_work(c: &Check, ws: &[Resolved], n_variants: f64) -> Result<()> {
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

/// What every load form needs to check and size its workload.
struct Unit<'a> {
    c: &'a Check<'a>,
    /// `workload[i]`.
    f: &'a str,
    /// The first stage's model.
    first: &'a Model,
    /// The first stage streams audio (its chunk calls cost events too).
    streaming: bool,
    stages: f64,
    n_variants: f64,
    /// The target has an LLM, which needs output tokens.
    needs_out: bool,
}

impl Unit<'_> {
    /// Chunk calls per unit of a streaming first stage with this mean audio [s].
    fn chunks(&self, mean_audio_s: f64) -> f64 {
        if self.streaming {
            mean_audio_s / self.first.spec.chunk_s + 1.0
        } else {
            0.0
        }
    }

    /// `expected` requests per variant are within [`MAX_REQUESTS`] over all variants (every
    /// variant simulates the workload); else the error on `field`, saying `why`.
    fn within_limit(&self, field: String, expected: f64, why: impl FnOnce() -> String) -> Result<(f64, String)> {
        if expected * self.n_variants <= MAX_REQUESTS {
            return Ok((expected, field));
        }
        let times = if self.n_variants > 1.0 {
            format!(" x {} variants", self.n_variants)
        } else {
            String::new()
        };
        Err(self.c.err(
            field,
            format!(
                "{}{times} would generate about {} requests, more than the limit of {MAX_REQUESTS:e} (docs/src/limits.md)",
                why(),
                num((expected * self.n_variants).round())
            ),
        ))
    }

    fn need_size(&self, size: Option<SizeDist>) -> Result<SizeDist> {
        size.ok_or_else(|| {
            self.c.err(
                format!("{}.size", self.f),
                format!("needs a size distribution ({})", self.first.kind.size_name()),
            )
        })
    }

    fn need_out(&self, o: &Option<SizeDist>) -> Result<()> {
        if self.needs_out && o.is_none() {
            return Err(self
                .c
                .err(format!("{}.out_tokens", self.f), "an LLM target needs an output-token distribution"));
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn resolve_workload(
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
    let (target, name) = resolve_target(c, &f, w, model_idx)?;
    if w.links.is_some() && matches!(target, Target::Model(_)) {
        return Err(c.err(format!("{f}.links"), "applies only to a pipeline"));
    }
    let stages = target.stages();
    check_stage_order(c, &f, &stages, models)?;
    let first = &models[stages[0]];
    let needs_out = stages.iter().any(|&m| models[m].kind == ServiceKind::Llm);
    let dist = |field: String, d: &RawDist| resolve_dist(c, &field, d);
    let out_tokens = w.out_tokens.as_ref().map(|d| dist(format!("{f}.out_tokens"), d)).transpose()?;
    if out_tokens.is_some() && !needs_out {
        return Err(c.err(format!("{f}.out_tokens"), "applies only to a target with an LLM"));
    }
    let size = w.size.as_ref().map(|d| dist(format!("{f}.size"), d)).transpose()?;
    check_load_fields(c, &f, w)?;
    let u = Unit {
        c,
        f: &f,
        first,
        // Work per unit in requests; a streaming ASR first stage also makes one chunk call per
        // `chunk_s` of audio (plus the final one), which costs the events of a request.
        streaming: first.kind == ServiceKind::Asr && first.spec.asr_mode == AsrMode::Streaming,
        stages: stages.len() as f64,
        n_variants,
        needs_out,
    };
    let (load, work) = if let Some(a) = &w.arrivals {
        open_load(&u, a, size, out_tokens, duration_s)?
    } else if let Some(t) = &w.trace {
        trace_load(&u, w, t, size, out_tokens, src, duration_s)?
    } else {
        closed_load(&u, w, size, out_tokens, duration_s)?
    };
    check_fits_context(c, &f, &target, &load, models)?;
    let timeout = c.secs(&format!("{f}.timeout_s"), w.timeout_s.unwrap_or(0.0))?;
    Ok(Resolved {
        workload: Workload {
            name: w.name.clone().unwrap_or(name),
            target,
            load,
            timeout,
            stream: None,
        },
        expected: work.0,
        field: work.1,
    })
}

/// What a workload sends: one model, or a pipeline with its size links; and its default name.
fn resolve_target(c: &Check, f: &str, w: &RawWorkload, model_idx: &dyn Fn(&str, &str) -> Result<usize>) -> Result<(Target, String)> {
    match (&w.model, &w.pipeline) {
        (Some(m), None) => Ok((Target::Model(model_idx(&format!("{f}.model"), m)?), m.clone())),
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
            Ok((
                Target::Pipeline(Pipeline {
                    stages,
                    words_per_audio_s: c.pos(&lf("words_per_audio_s"), l.words_per_audio_s.unwrap_or(WORDS_PER_AUDIO_S))?,
                    tokens_per_word: c.pos(&lf("tokens_per_word"), l.tokens_per_word.unwrap_or(TOKENS_PER_WORD))?,
                    prompt_base_tokens: c.nonneg(&lf("prompt_base_tokens"), l.prompt_base_tokens.unwrap_or(PROMPT_BASE_TOKENS))?,
                    chars_per_token: c.pos(&lf("chars_per_token"), l.chars_per_token.unwrap_or(CHARS_PER_TOKEN))?,
                    tts_first_chunk_frames: c.nonneg(&lf("tts_first_chunk_frames"), l.tts_first_chunk_frames.unwrap_or(0.0))?,
                }),
                p.join("->"),
            ))
        }
        _ => Err(c.err(f, "needs exactly one of 'model' or 'pipeline'")),
    }
}

/// Every stage of a pipeline can take what the one before it produces ([`ServiceKind::feeds`];
/// two encoders also need one size unit).
fn check_stage_order(c: &Check, f: &str, stages: &[usize], models: &[Model]) -> Result<()> {
    for (k, pair) in stages.windows(2).enumerate() {
        let (a, b) = (&models[pair[0]], &models[pair[1]]);
        let units = |m: &Model| m.spec.size_unit.unwrap_or_default();
        if !a.kind.feeds(b.kind) || (a.kind == ServiceKind::Encoder && units(a) != units(b)) {
            let names: Vec<String> = stages
                .iter()
                .map(|&m| format!("{} ({})", models[m].name, models[m].kind.label()))
                .collect();
            return Err(c.err(
                format!("{f}.pipeline[{}]", k + 1),
                format!(
                    "'{}' ({}) cannot follow '{}' ({}) in [{}]: a stage takes what the one before produces, so stages run ASR -> LLM -> TTS (or ASR -> TTS), stages of one kind in a row",
                    b.name,
                    b.kind.label(),
                    a.name,
                    a.kind.label(),
                    names.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Exactly one load form, and no field of another.
fn check_load_fields(c: &Check, f: &str, w: &RawWorkload) -> Result<()> {
    let n_modes = [w.arrivals.is_some(), w.trace.is_some(), w.users.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if n_modes != 1 {
        return Err(c.err(
            f,
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
    Ok(())
}

/// An open loop: its arrival process; the requests it makes over the run.
fn open_load(
    u: &Unit,
    a: &RawArrivals,
    size: Option<SizeDist>,
    out_tokens: Option<SizeDist>,
    duration_s: f64,
) -> Result<(Load, (f64, String))> {
    let (c, f) = (u.c, u.f);
    let af = |k: &str| format!("{f}.arrivals.{k}");
    let arrivals = match a {
        RawArrivals::Poisson {
            rate_rps: Some(rate_rps),
            schedule: None,
        } => Arrivals::Poisson {
            rate_rps: c.pos(&af("rate_rps"), *rate_rps)?,
        },
        RawArrivals::Poisson {
            rate_rps: None,
            schedule: Some(steps),
        } => resolve_schedule(c, &af("schedule"), steps, duration_s)?,
        RawArrivals::Poisson { .. } => {
            return Err(c.err(format!("{f}.arrivals"), "a poisson process needs exactly one of 'rate_rps' or 'schedule'"))
        }
        &RawArrivals::Diurnal {
            peak_rps,
            trough_rps,
            peak_hour,
        } => {
            let peak_rps = c.pos(&af("peak_rps"), peak_rps)?;
            let trough_rps = c.nonneg(&af("trough_rps"), trough_rps)?;
            if trough_rps > peak_rps {
                return Err(c.err(
                    af("trough_rps"),
                    format!("must not exceed peak_rps ({}), got '{}'", num(peak_rps), num(trough_rps)),
                ));
            }
            Arrivals::Diurnal {
                peak_rps,
                trough_rps,
                peak_hour: c.within(&af("peak_hour"), peak_hour.unwrap_or(DIURNAL_PEAK_HOUR), 0.0, 24.0)?,
            }
        }
        &RawArrivals::Gamma { rate_rps, cv } => Arrivals::Gamma {
            rate_rps: c.pos(&af("rate_rps"), rate_rps)?,
            cv: c.within(&af("cv"), cv, 1e-3, MAX_CV)?,
        },
        &RawArrivals::OnOff { rate_rps, on_s, off_s } => Arrivals::OnOff {
            rate_rps: c.pos(&af("rate_rps"), rate_rps)?,
            on_s: c.pos(&af("on_s"), on_s)?,
            off_s: c.nonneg(&af("off_s"), off_s)?,
        },
    };
    u.need_out(&out_tokens)?;
    let expected = arrivals.expected_count(duration_s) * (u.stages + size.as_ref().map_or(0.0, |d| u.chunks(d.mean())));
    let work = u.within_limit(af("rate_rps"), expected, || {
        format!("'{}' over {} s", num(arrivals.rate_rps()), num(duration_s))
    })?;
    let load = Load::Open {
        arrivals,
        size: u.need_size(size)?,
        out_tokens,
    };
    Ok((load, work))
}

/// Hour of the peak of a diurnal rate when not given: mid-afternoon, a stated assumption.
const DIURNAL_PEAK_HOUR: f64 = 14.0;

/// A rate schedule: `[hour, rate_rps]` steps, the first at hour 0, hours ascending and before
/// the end of the run, rates finite and not negative, some positive.
fn resolve_schedule(c: &Check, field: &str, steps: &[(f64, f64)], duration_s: f64) -> Result<Arrivals> {
    if steps.is_empty() {
        return Err(c.err(field, "needs at least one [hour, rate_rps] step"));
    }
    let mut out = Vec::with_capacity(steps.len());
    for (i, &(hour, rate)) in steps.iter().enumerate() {
        let fh = format!("{field}[{i}][0]");
        let hour = c.nonneg(&fh, hour)?;
        if i == 0 && hour != 0.0 {
            return Err(c.err(fh, format!("the first step must start at hour 0, got '{}'", num(hour))));
        }
        if let Some(&(prev, _)) = steps.get(i.wrapping_sub(1)) {
            if hour <= prev {
                return Err(c.err(fh, format!("hours must ascend: '{}' follows '{}'", num(hour), num(prev))));
            }
        }
        if hour * 3600.0 >= duration_s && i > 0 {
            return Err(c.err(
                fh,
                format!("hour '{}' is not before the end of the run (duration_s {} s = {} h)", num(hour), num(duration_s), num(duration_s / 3600.0)),
            ));
        }
        let rate = c.nonneg(&format!("{field}[{i}][1]"), rate)?;
        out.push((crate::time::from_secs(hour * 3600.0), rate));
    }
    if out.iter().all(|s| s.1 == 0.0) {
        return Err(c.err(field, "every rate is 0: nothing would arrive"));
    }
    Ok(Arrivals::Schedule { steps: out })
}

/// A trace replay: the trace read for it, whose sizes must be the first model's, and some of
/// whose arrivals fall inside the run (arrivals from `duration_s` on are not replayed: a trace
/// that starts later would report an empty run as a success).
fn trace_load(
    u: &Unit,
    w: &RawWorkload,
    t: &str,
    size: Option<SizeDist>,
    out_tokens: Option<SizeDist>,
    src: &Sources,
    duration_s: f64,
) -> Result<(Load, (f64, String))> {
    let (c, f, first) = (u.c, u.f, u.first);
    let scale = c.pos(&format!("{f}.trace_rate_scale"), w.trace_rate_scale.unwrap_or(1.0))?;
    let trace = src
        .traces
        .get(t)
        .cloned()
        .ok_or_else(|| c.err(format!("{f}.trace"), format!("trace '{t}' was not read")))?;
    let want = match (first.kind, first.spec.size_unit.unwrap_or_default()) {
        (ServiceKind::Asr, _) | (ServiceKind::Encoder, SizeUnit::Seconds) => TraceSize::AudioS,
        (ServiceKind::Tts, _) => TraceSize::Chars,
        (ServiceKind::Llm, _) | (ServiceKind::Encoder, SizeUnit::Tokens) => TraceSize::PromptTokens,
        (ServiceKind::Encoder, SizeUnit::Pixels) => TraceSize::Pixels,
    };
    if trace.size != want {
        return Err(c.err(
            format!("{f}.trace"),
            format!(
                "trace '{t}' gives request sizes as '{}', but the first model '{}' is {} and takes '{}'",
                trace.size.column(),
                first.name,
                first.kind.label(),
                want.column()
            ),
        ));
    }
    if u.needs_out && !trace.has_out_tokens && out_tokens.is_none() {
        return Err(c.err(
            format!("{f}.out_tokens"),
            format!("trace '{t}' has no output tokens; give an out_tokens distribution"),
        ));
    }
    if size.is_some() {
        return Err(c.err(format!("{f}.size"), "a trace replay takes its sizes from the trace"));
    }
    let first_s = trace.rows.first().map_or(0.0, |r| crate::time::to_secs(r.arrival)) / scale;
    if first_s >= duration_s {
        let scaled = if scale == 1.0 {
            String::new()
        } else {
            format!(" at trace_rate_scale {}", num(scale))
        };
        return Err(c.err(
            format!("{f}.trace"),
            format!(
                "trace '{t}' has no arrival before the run ends: its first is at {} s{scaled}, duration_s is {} s, so nothing would be replayed; raise duration_s or trace_rate_scale, or shift the trace's times",
                num(first_s),
                num(duration_s)
            ),
        ));
    }
    let audio_s: f64 = trace.rows.iter().map(|r| f64::from(r.size)).sum();
    let rows = trace.rows.len() as f64;
    let expected = rows * u.stages + if u.streaming { audio_s / first.spec.chunk_s + rows } else { 0.0 };
    let work = u.within_limit(format!("{f}.trace"), expected, || {
        format!("trace '{t}' of {} rows", trace.rows.len())
    })?;
    Ok((Load::Trace { trace, scale, out_tokens }, work))
}

/// A closed loop: its users over their ramps, think times and pacing (a conversation starts with
/// speech, so at an ASR).
fn closed_load(
    u: &Unit,
    w: &RawWorkload,
    size: Option<SizeDist>,
    out_tokens: Option<SizeDist>,
    duration_s: f64,
) -> Result<(Load, (f64, String))> {
    let (c, f, first) = (u.c, u.f, u.first);
    let users = c.count(&format!("{f}.users"), w.users.unwrap_or(0), 1, MAX_USERS)?;
    let ramp_up = c.secs(&format!("{f}.ramp_up_s"), w.ramp_up_s.unwrap_or(0.0))?;
    let ramp_down = c.secs(&format!("{f}.ramp_down_s"), w.ramp_down_s.unwrap_or(0.0))?;
    let duration = crate::time::from_secs(duration_s);
    let hold = match w.hold_s {
        Some(h) => c.secs(&format!("{f}.hold_s"), h)?,
        None => duration.saturating_sub(ramp_up + ramp_down),
    };
    let think_s = c.nonneg(&format!("{f}.think_s"), w.think_s.unwrap_or(0.0))?;
    u.need_out(&out_tokens)?;
    let pacing = w.pacing.unwrap_or(Pacing::Loop);
    if pacing != Pacing::Loop && first.kind != ServiceKind::Asr {
        return Err(c.err(
            format!("{f}.pacing"),
            format!(
                "a conversation starts with speech: the first model must be ASR, '{}' is {}",
                first.name,
                first.kind.label()
            ),
        ));
    }
    let size = u.need_size(size)?;
    // The shortest cycle of one user: think time, plus the utterance itself for a
    // conversation, plus the fastest call the first model can make.
    let min_call_s = first.spec.min_call_ms() / 1e3;
    let speech_s = if pacing == Pacing::Loop { 0.0 } else { size.min_value() };
    let cycle_s = (think_s + speech_s + min_call_s).max(1e-9);
    let active_s = (duration_s).min(crate::time::to_secs(ramp_up + hold + ramp_down).max(1e-9));
    let expected = users as f64 * active_s / cycle_s * (u.stages + u.chunks(size.mean()));
    let work = u.within_limit(format!("{f}.users"), expected, || {
        format!("{users} users with cycles of at least {} s over {} s", num(cycle_s), num(active_s))
    })?;
    let load = Load::Closed {
        users,
        think: crate::time::from_secs(think_s),
        think_exponential: w.think.unwrap_or_default() == ThinkMode::Exponential,
        pacing,
        ramp_up,
        hold,
        ramp_down,
        size,
        out_tokens,
    };
    Ok((load, work))
}

/// An LLM request longer than the context is refused at admission: a workload whose smallest
/// request is already too long would only fail.
fn check_fits_context(c: &Check, f: &str, target: &Target, load: &Load, models: &[Model]) -> Result<()> {
    if let (Target::Model(m), Load::Open { size, out_tokens, .. } | Load::Closed { size, out_tokens, .. }) = (target, load) {
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
    Ok(())
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
