//! What-if edits. They work on the file-shaped [`RawScenario`] rather than on the validated
//! [`crate::scenario::Scenario`]: the caller re-validates the edited copy with
//! [`crate::scenario::resolve::from_raw`], so an edit is accepted only if `gpuslice run` would accept the
//! same file, and `e` (export) can write it back with `toml::to_string`.
//!
//! Every function here is pure: it takes the raw scenario and returns an edited copy (or the
//! reason the edit is refused) plus a one-line description for the status bar.

use crate::deploy::DEFAULT_QUANTUM_MS;
use crate::gpu::{place_layout, Catalog, GpuSpec, PlacedInstance};
use crate::scenario::raw::{RawArrivals, RawGpu, RawScenario};

/// Load changes by this factor per key press (10 %); down divides, so up then down restores it.
pub const LOAD_FACTOR: f64 = 1.1;

/// Replace every `count = n` GPU entry by `n` copies, so that raw GPU `i` is GPU `i` of the
/// validated variant and of the simulation's device views.
pub fn expand_counts(raw: &mut RawScenario) {
    for v in &mut raw.variant {
        let mut out = Vec::with_capacity(v.gpus.len());
        for g in v.gpus.drain(..) {
            let mut one = g;
            let n = one.count_mut().take().unwrap_or(1).max(1);
            for _ in 0..n {
                out.push(one.clone());
            }
        }
        v.gpus = out;
    }
}

/// Scale every workload's load by `factor`: open-loop rates, trace speed, closed-loop users
/// (rounded, moving by at least one user, never below one).
pub fn scale_load(raw: &RawScenario, factor: f64) -> (RawScenario, String) {
    let mut out = raw.clone();
    let mut parts = Vec::new();
    for w in &mut out.workload {
        let name = w.name.clone().or_else(|| w.model.clone()).unwrap_or_else(|| "pipeline".into());
        if let Some(a) = &mut w.arrivals {
            a.scale(factor, round_sig);
            match a {
                RawArrivals::Poisson { rate_rps: Some(r), .. } | RawArrivals::Gamma { rate_rps: r, .. } | RawArrivals::OnOff { rate_rps: r, .. } => {
                    parts.push(format!("{name} {r} req/s"))
                }
                _ => parts.push(format!("{name} {}", a.rate_label())),
            }
        } else if w.trace.is_some() {
            let s = round_sig(w.trace_rate_scale.unwrap_or(1.0) * factor);
            w.trace_rate_scale = Some(s);
            parts.push(format!("{name} trace x{s}"));
        } else if let Some(u) = w.users {
            let mut n = (f64::from(u) * factor).round().max(1.0) as u32;
            if n == u {
                n = if factor > 1.0 { u + 1 } else { u.saturating_sub(1).max(1) };
            }
            w.users = Some(n);
            parts.push(format!("{name} {n} users"));
        }
    }
    (out, format!("load: {}", parts.join(", ")))
}

/// Round to 4 significant digits so that repeated scaling keeps the exported file readable.
pub fn round_sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let d = 3 - x.abs().log10().floor() as i32;
    let p = 10f64.powi(d);
    (x * p).round() / p
}

/// Translate a MIG layout between GPU types by GPU-instance profile id (`3g.40gb` on an
/// A100-80GB is `3g.20gb` on an A100-40GB: both are GI profile 9). `None` if `to` lacks one.
pub fn translate_layout(layout: &str, from: &GpuSpec, to: &GpuSpec) -> Option<String> {
    let names: Option<Vec<String>> = layout
        .split(',')
        .map(str::trim)
        .map(|n| {
            let p = from.mig_profile(n)?;
            to.mig_profiles.iter().find(|q| q.gi_id == p.gi_id).map(|q| q.name.clone())
        })
        .collect();
    names.map(|n| n.join(","))
}

/// The variant switched to each other catalog GPU, in catalog order after the current one.
/// MIG layouts are translated by profile id; a price override is dropped (the new GPU's
/// catalog price applies). Candidates that cannot hold the layout are returned as `Err`.
pub fn gpu_candidates(raw: &RawScenario, v: usize) -> Vec<(String, Result<RawScenario, String>)> {
    let cat = Catalog::builtin();
    let cur = &raw.variant[v].gpu;
    let Some(from) = cat.gpu(cur) else { return Vec::new() };
    let i = cat.gpus.iter().position(|g| g.name == from.name).unwrap_or(0);
    let n = cat.gpus.len();
    (1..n)
        .map(|k| &cat.gpus[(i + k) % n])
        .map(|to| {
            let mut out = raw.clone();
            let var = &mut out.variant[v];
            var.gpu = to.name.clone();
            var.price_usd_per_hour = None;
            for g in &mut var.gpus {
                if let RawGpu::Mig { layout: l, .. } = g {
                    match translate_layout(l, from, to) {
                        Some(t) => *l = t,
                        None if !to.has_mig() => return (to.name.clone(), Err(format!("{} has no MIG", to.name))),
                        None => return (to.name.clone(), Err(format!("{} has no profile like those of '{l}'", to.name))),
                    }
                }
            }
            (to.name.clone(), Ok(out))
        })
        .collect()
}

/// One instance of a typed layout: profile and optional model (`3g.40gb=asr`).
fn split_entry(e: &str) -> (&str, Option<&str>) {
    match e.split_once('=') {
        Some((p, m)) => (p.trim(), Some(m.trim())),
        None => (e.trim(), None),
    }
}

/// Check a typed layout (`3g.40gb,3g.40gb` or `3g.40gb=asr,3g.40gb=tts`) on `gpu`: the placed
/// instances, or the placement rule it breaks.
pub fn check_layout(gpu: &GpuSpec, input: &str) -> Result<Vec<PlacedInstance>, String> {
    let profiles: Vec<&str> = input.split(',').map(|e| split_entry(e).0).collect();
    place_layout(gpu, &profiles.join(",")).map_err(|e| e.to_string())
}

/// Give GPU `g` of variant `v` the MIG layout typed by the user. Instances without `=model`
/// take the GPU's current tenants in order, then stay empty (`-`).
pub fn set_layout(raw: &RawScenario, v: usize, g: usize, input: &str) -> Result<(RawScenario, String), String> {
    let var = &raw.variant[v];
    let gpu = Catalog::builtin()
        .gpu(&var.gpu)
        .ok_or_else(|| format!("unknown GPU '{}'", var.gpu))?;
    let placed = check_layout(gpu, input)?;
    let entries: Vec<(&str, Option<&str>)> = input.split(',').map(split_entry).collect();
    let current: Vec<&String> = var.gpus[g].models().iter().filter(|m| *m != "-").collect();
    let mut models = Vec::new();
    for (i, (_, m)) in entries.iter().enumerate() {
        let m = match m {
            Some(m) if *m == "-" || raw.models.contains_key(*m) => m.to_string(),
            Some(m) => {
                let known: Vec<&String> = raw.models.keys().collect();
                return Err(format!("unknown model '{m}' (defined: {known:?})"));
            }
            None => current.get(i).map_or_else(|| "-".to_string(), |s| s.to_string()),
        };
        models.push(m);
    }
    let layout: Vec<&str> = entries.iter().map(|e| e.0).collect();
    let layout = layout.join(",");
    let mut out = raw.clone();
    out.variant[v].gpus[g] = RawGpu::Mig {
        layout,
        models: models.clone(),
        count: None,
    };
    let desc: Vec<String> = placed
        .iter()
        .zip(&models)
        .map(|(p, m)| format!("{}@{}={m}", p.profile.name, p.start))
        .collect();
    Ok((out, format!("GPU {g} of '{}' is now MIG {}", var.name, desc.join(" "))))
}

/// Double (`up`) or halve the time slice of GPU `g` of variant `v`, or of the variant's first
/// time-sliced GPU when `g` is not time-sliced.
pub fn change_quantum(raw: &RawScenario, v: usize, g: usize, up: bool) -> Result<(RawScenario, String), String> {
    let var = &raw.variant[v];
    let ts = |i: &usize| matches!(var.gpus.get(*i), Some(RawGpu::TimeSliced { .. }));
    let target = Some(g)
        .filter(ts)
        .or_else(|| (0..var.gpus.len()).find(ts))
        .ok_or_else(|| format!("variant '{}' has no time-sliced GPU", var.name))?;
    let RawGpu::TimeSliced { quantum_ms, .. } = &var.gpus[target] else {
        return Err(format!("GPU {target} of '{}' is not time-sliced", var.name));
    };
    let q = quantum_ms.unwrap_or(DEFAULT_QUANTUM_MS);
    // The range is checked where every scenario is: from_raw refuses a slice out of bounds.
    let n = if up { q * 2.0 } else { q / 2.0 };
    let mut out = raw.clone();
    if let RawGpu::TimeSliced { quantum_ms, .. } = &mut out.variant[v].gpus[target] {
        *quantum_ms = Some(n);
    }
    Ok((out, format!("GPU {target} of '{}': time slice {q} -> {n} ms", var.name)))
}

/// Add a dedicated GPU running `model` to variant `v`.
pub fn add_replica(raw: &RawScenario, v: usize, model: &str) -> (RawScenario, String) {
    let mut out = raw.clone();
    let var = &mut out.variant[v];
    var.gpus.push(RawGpu::dedicated(model));
    let msg = format!("'{}': added a dedicated GPU for {model} ({} GPUs)", var.name, var.gpus.len());
    (out, msg)
}

/// Remove the last dedicated GPU running `model` from variant `v`.
pub fn remove_replica(raw: &RawScenario, v: usize, model: &str) -> Result<(RawScenario, String), String> {
    let var = &raw.variant[v];
    let i = var
        .gpus
        .iter()
        .rposition(|g| matches!(g, RawGpu::Dedicated { models, .. } if models.len() == 1 && models[0] == model))
        .ok_or_else(|| format!("variant '{}' has no dedicated GPU of {model} to remove", var.name))?;
    if var.gpus.len() == 1 {
        return Err(format!("variant '{}' needs at least one GPU", var.name));
    }
    let mut out = raw.clone();
    out.variant[v].gpus.remove(i);
    Ok((
        out,
        format!(
            "'{}': removed dedicated GPU {i} ({model}), {} GPUs left",
            var.name,
            var.gpus.len() - 1
        ),
    ))
}

/// The scenario as a TOML file that `gpuslice run` reads.
pub fn export_toml(raw: &RawScenario, header: &str) -> Result<String, String> {
    let body = toml::to_string(raw).map_err(|e| format!("cannot serialise the scenario: {e}"))?;
    let head: String = header.lines().map(|l| format!("# {l}\n")).collect();
    Ok(format!("{head}{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::raw::parse as parse_raw;

    const SRC: &str = r#"
name = "t"
duration_s = 2
[models.asr]
from = "h100/asr"
[models.tts]
from = "h100/tts"
[[workload]]
model = "asr"
arrivals = { process = "poisson", rate_rps = 50 }
size = { dist = "fixed", value = 5 }
[[workload]]
model = "tts"
users = 4
size = { dist = "fixed", value = 80 }
[[variant]]
name = "ts"
gpu = "a100-80gb"
price_usd_per_hour = 9
gpus = [{ regime = "time-sliced", models = ["asr", "tts"], count = 2 }]
"#;

    fn raw() -> RawScenario {
        let mut r = parse_raw(SRC, "t.toml").expect("valid");
        expand_counts(&mut r);
        r
    }

    #[test]
    fn counts_expand_to_one_entry_per_gpu() {
        let mut r = raw();
        assert_eq!(r.variant[0].gpus.len(), 2);
        assert!(r.variant[0].gpus.iter_mut().all(|g| g.count_mut().is_none()));
    }

    #[test]
    fn load_scales_rates_and_users_and_back() {
        let (up, msg) = scale_load(&raw(), LOAD_FACTOR);
        assert!(msg.contains("55 req/s") && msg.contains("tts 5 users"), "{msg}");
        let (down, _) = scale_load(&up, 1.0 / LOAD_FACTOR);
        match down.workload[0].arrivals {
            Some(crate::scenario::raw::RawArrivals::Poisson { rate_rps: Some(rate_rps), .. }) => assert!((rate_rps - 50.0).abs() < 1e-9),
            _ => panic!("poisson expected"),
        }
        assert_eq!(down.workload[1].users, Some(4));
    }

    #[test]
    fn layouts_translate_by_profile_id() {
        let c = Catalog::builtin();
        let (a80, a40, l4) = (
            c.gpu("a100-80gb").expect("gpu"),
            c.gpu("a100-40gb").expect("gpu"),
            c.gpu("l4").expect("gpu"),
        );
        assert_eq!(translate_layout("3g.40gb,2g.20gb", a80, a40).as_deref(), Some("3g.20gb,2g.10gb"));
        assert_eq!(translate_layout("3g.40gb", a80, l4), None);
    }

    #[test]
    fn layout_edit_keeps_tenants_and_refuses_bad_placements() {
        let (r, msg) = set_layout(&raw(), 0, 1, "4g.40gb,3g.40gb").expect("valid");
        assert_eq!(r.variant[0].gpus[1].models(), ["asr", "tts"]);
        assert!(msg.contains("4g.40gb@0=asr"), "{msg}");
        let (r, _) = set_layout(&raw(), 0, 0, "3g.40gb=tts,1g.10gb").expect("valid");
        assert_eq!(r.variant[0].gpus[0].models(), ["tts", "tts"]);
        let e = set_layout(&raw(), 0, 0, "4g.40gb,4g.40gb").expect_err("one 4g at most");
        assert!(e.contains("at most 1"), "{e}");
        let e = set_layout(&raw(), 0, 0, "3g.40gb=nope").expect_err("unknown model");
        assert!(e.contains("unknown model 'nope'"), "{e}");
    }

    #[test]
    fn quantum_and_replicas() {
        let (r, _) = change_quantum(&raw(), 0, 1, true).expect("ts gpu");
        assert!(matches!(r.variant[0].gpus[1], RawGpu::TimeSliced { quantum_ms: Some(q), .. } if q == 2.0 * DEFAULT_QUANTUM_MS));
        let (r, _) = add_replica(&r, 0, "asr");
        assert_eq!(r.variant[0].gpus.len(), 3);
        let (r, _) = remove_replica(&r, 0, "asr").expect("one to remove");
        assert_eq!(r.variant[0].gpus.len(), 2);
        assert!(remove_replica(&r, 0, "asr").is_err());
    }

    #[test]
    fn gpu_candidates_translate_or_explain() {
        let (r, _) = set_layout(&raw(), 0, 0, "3g.40gb,3g.40gb").expect("valid");
        let c = gpu_candidates(&r, 0);
        assert_eq!(c.len(), Catalog::builtin().gpus.len() - 1);
        for (name, res) in &c {
            let g = Catalog::builtin().gpu(name).expect("gpu");
            assert_eq!(res.is_ok(), g.has_mig(), "{name}");
            if let Ok(x) = res {
                assert_eq!(x.variant[0].price_usd_per_hour, None);
            }
        }
    }
}
