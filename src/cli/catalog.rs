//! `gpuslice catalog`: the GPU catalog and MIG geometry as tables or JSON, a MIG layout checked
//! and placed, and an LLM's KV-cache capacity on every device. Apart from the dispatch because
//! these are pure lookups over the built-in catalog with their own table formats, and the tests
//! call them directly.

use super::Format;
use crate::error::{Error, Result};
use crate::gpu::{place_layout, Catalog};
use crate::scenario::files;

/// `gpuslice catalog --format json`: the GPUs with every field and MIG profile, or a checked
/// layout's placement. The same lookups and errors as [`catalog_text`].
pub fn catalog_json(gpu: Option<&str>, mig: Option<&str>) -> Result<serde_json::Value> {
    let cat = Catalog::builtin();
    let find = |n: &str| {
        cat.gpu(n)
            .ok_or_else(|| Error::input("--gpu", "", format!("unknown GPU '{n}' (known: {})", cat.names())))
    };
    Ok(match (gpu, mig) {
        (None, Some(_)) => return Err(Error::input("--mig", "", "needs --gpu")),
        (Some(g), Some(layout)) => {
            let g = find(g)?;
            let placed = place_layout(g, layout).map_err(|e| Error::input("--mig", "", e.to_string()))?;
            let instances: Vec<serde_json::Value> = placed
                .iter()
                .map(|p| {
                    let (m0, m1) = p.mem_range();
                    let (c0, c1) = p.compute_range();
                    serde_json::json!({
                        "profile": p.profile.name,
                        "start": p.start,
                        "memory_slots": [m0, m1 - 1],
                        "compute_slices": [c0, c1 - 1],
                        "sms": p.profile.sms,
                        "memory_gib": p.profile.memory_gib,
                    })
                })
                .collect();
            serde_json::json!({
                "gpu": g.name,
                "layout": layout,
                "valid": true,
                "instances": instances,
                "memory_map": crate::gpu::slot_map(&placed, crate::gpu::mig::MEM_SLOTS, true),
                "compute_map": crate::gpu::slot_map(&placed, crate::gpu::mig::COMPUTE_SLICES, false),
            })
        }
        (g, None) => {
            let list: Vec<&crate::gpu::GpuSpec> = match g {
                Some(n) => vec![find(n)?],
                None => cat.gpus.iter().collect(),
            };
            serde_json::json!({ "gpus": list })
        }
    })
}

/// Text of `gpuslice catalog`.
pub fn catalog_text(gpu: Option<&str>, mig: Option<&str>) -> Result<String> {
    let cat = Catalog::builtin();
    let mut out = String::new();
    let find = |n: &str| {
        cat.gpu(n)
            .ok_or_else(|| Error::input("--gpu", "", format!("unknown GPU '{n}' (known: {})", cat.names())))
    };
    match (gpu, mig) {
        (None, Some(_)) => return Err(Error::input("--mig", "", "needs --gpu")),
        (Some(g), Some(layout)) => {
            let g = find(g)?;
            match place_layout(g, layout) {
                Ok(placed) => {
                    out.push_str(&format!("valid: {layout} on {}\n", g.name));
                    out.push_str("instance     start  memory slots  compute slices  SMs   GiB\n");
                    for p in &placed {
                        let (m0, m1) = p.mem_range();
                        let (c0, c1) = p.compute_range();
                        out.push_str(&format!(
                            "{:<12} {:>5}  {:>12}  {:>14}  {:>3}  {:>5.2}\n",
                            p.profile.name,
                            p.start,
                            format!("{m0}-{}", m1 - 1),
                            format!("{c0}-{}", c1 - 1),
                            p.profile.sms,
                            p.profile.memory_gib
                        ));
                    }
                    out.push_str(&format!(
                        "memory  [{}]\ncompute [{}]\n",
                        crate::gpu::slot_map(&placed, crate::gpu::mig::MEM_SLOTS, true),
                        crate::gpu::slot_map(&placed, crate::gpu::mig::COMPUTE_SLICES, false)
                    ));
                }
                Err(e) => return Err(Error::input("--mig", "", e.to_string())),
            }
        }
        (g, None) => {
            let list: Vec<&crate::gpu::GpuSpec> = match g {
                Some(n) => vec![find(n)?],
                None => cat.gpus.iter().collect(),
            };
            out.push_str("gpu         SMs  memory GiB  GB/s  BF16 TFLOPS  TDP W   $/h   MIG\n");
            for g in &list {
                out.push_str(&format!(
                    "{:<10} {:>4}  {:>10.1}  {:>4}  {:>11}  {:>5}  {:>5.2}  {}\n",
                    g.name,
                    g.sm_count,
                    g.memory_gib,
                    g.mem_bw_gbps,
                    g.bf16_tflops,
                    g.tdp_w,
                    g.price_usd_per_hour,
                    if g.has_mig() { "yes" } else { "no" }
                ));
            }
            for g in list.iter().filter(|g| g.has_mig()) {
                out.push_str(&format!("\nMIG profiles of {} ({} SMs in MIG mode)\n", g.name, g.mig_sm_count));
                out.push_str("profile      GI id  mem/8  compute/7  SMs    GiB  max  start slots\n");
                for p in &g.mig_profiles {
                    let slots: Vec<String> = p.placements.iter().map(|s| s.to_string()).collect();
                    out.push_str(&format!(
                        "{:<12} {:>5}  {:>5}  {:>9}  {:>3}  {:>5.2}  {:>3}  {{{}}}\n",
                        p.name,
                        p.gi_id,
                        p.mem_slices,
                        p.compute_slices,
                        p.sms,
                        p.memory_gib,
                        p.max_count,
                        slots.join(",")
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Text of `gpuslice catalog --model`: the paged KV cache an LLM engine that sizes it from free
/// memory (chunked or static policy, `gpu_memory_utilization` of the device) gets on every GPU and
/// MIG profile, by the formula of `kv_capacity_tokens`.
pub fn kv_out(model: &str, gpu: Option<&str>, format: Format) -> Result<String> {
    let mut m = load_model_arg(model)?;
    let Some(l) = m.llm.as_mut() else {
        return Err(Error::input(
            model,
            "kind",
            format!("'{}' is not an LLM: it has no KV cache", m.name),
        ));
    };
    if l.policy == crate::scenario::raw::LlmPolicy::PrefillFirst {
        l.policy = crate::scenario::raw::LlmPolicy::Chunked;
    }
    let l = l.clone();
    let cat = Catalog::builtin();
    let list: Vec<&crate::gpu::GpuSpec> = match gpu {
        Some(n) => vec![cat
            .gpu(n)
            .ok_or_else(|| Error::input("--gpu", "", format!("unknown GPU '{n}' (known: {})", cat.names())))?],
        None => cat.gpus.iter().collect(),
    };
    let mut rows = Vec::new();
    for g in list {
        let devices =
            std::iter::once(("whole".to_string(), g.memory_gib)).chain(g.mig_profiles.iter().map(|p| (p.name.clone(), p.memory_gib)));
        for (name, cap) in devices {
            let held = crate::deploy::placement::memory_held_gib(&m, cap);
            let tokens = crate::deploy::placement::kv_capacity_tokens(&l, &m, held, 1);
            rows.push(serde_json::json!({
                "gpu": g.name,
                "device": name,
                "memory_gib": cap,
                "engine_gib": held,
                // No fit: null, as the table's "no fit" and dashes.
                "kv_tokens": (tokens > 0).then_some(tokens),
                "kv_blocks": (tokens > 0).then(|| tokens / u64::from(l.kv_block_tokens.max(1))),
                "max_context_sequences": (tokens > 0).then(|| tokens / u64::from(l.max_context_tokens.max(1))),
            }));
        }
    }
    if format == Format::Json {
        return Ok(crate::out::to_json(&serde_json::json!({
            "model": m.name,
            "weights_gib": m.memory.weights_gib,
            "activation_reserve_gib": l.activation_reserve_gib,
            "kv_bytes_per_token": l.kv_bytes_per_token(),
            "kv_block_tokens": l.kv_block_tokens,
            "gpu_memory_utilization": l.gpu_memory_utilization,
            "max_context_tokens": l.max_context_tokens,
            "devices": rows,
        })));
    }
    let mut out = format!(
        "{}: weights {:.2} GiB, activation reserve {:.2} GiB, {} bytes of KV per token, blocks of {} tokens, memory share {}\n",
        m.name,
        m.memory.weights_gib,
        l.activation_reserve_gib,
        l.kv_bytes_per_token(),
        l.kv_block_tokens,
        l.gpu_memory_utilization
    );
    out.push_str(&format!(
        "{:<10} {:<10} {:>10} {:>10} {:>10} {:>9} {:>8}\n",
        "gpu",
        "device",
        "memory GiB",
        "engine GiB",
        "KV tokens",
        "KV blocks",
        format!("seqs@{}", l.max_context_tokens)
    ));
    for r in &rows {
        let n = |k: &str| r[k].as_u64();
        let row = match (n("kv_tokens"), n("kv_blocks"), n("max_context_sequences")) {
            (Some(t), Some(b), Some(q)) => format!("{t:>10} {b:>9} {q:>8}"),
            _ => format!("{:>10} {:>9} {:>8}", "no fit", "-", "-"),
        };
        out.push_str(&format!(
            "{:<10} {:<10} {:>10.2} {:>10.2} {row}\n",
            r["gpu"].as_str().unwrap_or(""),
            r["device"].as_str().unwrap_or(""),
            r["memory_gib"].as_f64().unwrap_or(0.0),
            r["engine_gib"].as_f64().unwrap_or(0.0),
        ));
    }
    Ok(out)
}

/// [`kv_out`] as the table.
pub fn kv_text(model: &str, gpu: Option<&str>) -> Result<String> {
    kv_out(model, gpu, Format::Table)
}

/// A model named on the command line: a built-in name or a model file.
pub(super) fn load_model_arg(model: &str) -> Result<crate::model::ModelSpec> {
    match crate::model::builtin(model) {
        Some(m) => m,
        None => files::read_model(std::path::Path::new(model)),
    }
}
