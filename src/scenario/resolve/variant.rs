//! Stage 2 for variants: each `[[variant]]`'s GPU type, price, GPUs with their regimes and
//! tenants, and faults; the whole-scenario checks on variants (time slices, faults that hit a
//! server, every workload's models served); and the planner's entry, one more variant resolved
//! against a resolved scenario.

use super::Check;
use crate::deploy::TimeSlice;
use crate::error::{num, Result};
use crate::gpu::{parse_layout, Catalog, GpuSpec};
use crate::limits::*;
use crate::model::Model;
use crate::scenario::raw::*;
use crate::scenario::*;
use crate::time::SimTime;

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

pub(super) fn resolve_variant(
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
    let price = PRICE_USD_PER_HOUR.check(
        c.file,
        format!("{f}.price_usd_per_hour"),
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

pub(super) fn resolve_gpu(
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
                    format!(
                        "limits {mem:?} add up to {} GiB, more than the GPU's {} GiB{}",
                        num(total),
                        gpu.memory_gib,
                        crate::limits::unit_hint(total, gpu.memory_gib, "GiB", crate::limits::GIB_SLIPS)
                    ),
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
pub(super) fn check_slices(c: &Check, variants: &[Variant], horizon: SimTime) -> Result<()> {
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
pub(super) fn check_faults(c: &Check, vi: usize, v: &Variant, models: &[Model]) -> Result<()> {
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
pub(super) fn check_served(c: &Check, vi: usize, v: &Variant, models: &[Model], workloads: &[Workload]) -> Result<()> {
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
