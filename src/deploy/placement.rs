//! Placement: where every server of a variant runs and what it gets there. A pure function of
//! the scenario, so that scenario construction ([`crate::scenario::resolve::from_raw`]) can check a variant
//! without simulating it, and the simulation, the planner and the TUI consume the same result.
//!
//! For every GPU of the variant it places the MIG layout (MIG user guide rules, see
//! [`crate::gpu::place_profiles`]), checks that the servers fit in memory (each MIG
//! instance, each MPS client's limit, the co-tenants of a shared GPU together), sizes each LLM
//! server's KV cache from the memory it gets, and gives every server its device share: the SMs,
//! memory bandwidth and clock its calls run with.

use super::{GpuPlan, Regime};
use crate::error::{Error, Result};
use crate::gpu::{place_profiles, GpuSpec, PlacedInstance};
use crate::model::{DeviceShare, Model, ModelSpec};

/// How a device executes the calls of its servers.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceKind {
    /// A dedicated GPU or a MIG instance: one server, calls back to back.
    Exclusive,
    /// Time-slicing: one context at a time.
    TimeSliced(super::TimeSlice),
    /// MPS: the clients' calls run concurrently.
    Mps,
}

/// An execution unit: a whole GPU or a MIG instance.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedDevice {
    /// GPU index within the variant.
    pub gpu: u32,
    /// `whole`, or the MIG instance as `3g.40gb@4`.
    pub label: String,
    /// Execution discipline.
    pub kind: DeviceKind,
    /// Servers on it, in tenant order.
    pub servers: Vec<u32>,
    /// The MIG instance, if it is one.
    pub instance: Option<PlacedInstance>,
}

/// One model server.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedServer {
    /// Model index.
    pub model: usize,
    /// Device index.
    pub device: u32,
    /// Tenant (context) index on the device.
    pub ctx: u32,
    /// Name in reports: the model, prefixed by the partition when shared.
    pub label: String,
    /// What its calls run on.
    pub share: DeviceShare,
    /// Memory the server holds [GiB].
    pub memory_gib: f64,
    /// LLM: tokens the KV cache holds.
    pub kv_tokens: u64,
}

/// Every server and device of one variant.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Placement {
    /// Devices in GPU order (a MIG GPU contributes one per instance).
    pub devices: Vec<PlacedDevice>,
    /// Servers in deployment order.
    pub servers: Vec<PlacedServer>,
    /// True when any server runs on a GPU type other than its model's reference GPU.
    pub extrapolated: bool,
}

impl Placement {
    /// The servers of `model`, in deployment order (replica index = position).
    pub fn replicas(&self, model: usize) -> Vec<u32> {
        (0..self.servers.len() as u32)
            .filter(|&s| self.servers[s as usize].model == model)
            .collect()
    }
}

/// Place the GPUs `gpus` (all of type `gpu`) of the variant called `variant`, whose tenants index
/// `models`.
pub fn place(models: &[Model], variant: &str, gpu: &GpuSpec, gpus: &[GpuPlan]) -> Result<Placement> {
    let mut devices = Vec::new();
    let mut servers: Vec<PlacedServer> = Vec::new();
    let mut extrapolated = false;
    for (g, plan) in gpus.iter().enumerate() {
        let held = |m: usize, cap: f64| -> f64 { memory_held_gib(&models[m].spec, cap) };
        let fit = |tenants: &[usize], cap: f64, what: &str| -> Result<()> {
            let need: f64 = tenants.iter().map(|&m| held(m, cap)).sum();
            if need > cap + 1e-9 {
                let names: Vec<String> = tenants
                    .iter()
                    .map(|&m| format!("{} {:.1} GiB", models[m].name, held(m, cap)))
                    .collect();
                return Err(Error::Infeasible(format!(
                    "variant '{}': GPU {g} ({what}, {cap:.2} GiB): models do not fit in memory: {} = {need:.1} GiB",
                    variant,
                    names.join(" + ")
                )));
            }
            Ok(())
        };
        let present: Vec<usize> = plan.tenants.iter().flatten().copied().collect();
        match &plan.regime {
            Regime::Dedicated | Regime::TimeSliced(_) | Regime::Mps { .. } => {
                fit(&present, gpu.memory_gib, plan.regime.label())?;
                let (kind, prefix) = match &plan.regime {
                    Regime::Dedicated => (DeviceKind::Exclusive, ""),
                    Regime::TimeSliced(ts) => (DeviceKind::TimeSliced(*ts), "ts:"),
                    _ => (DeviceKind::Mps, "mps:"),
                };
                let dev = devices.len() as u32;
                let mut ids = Vec::new();
                for (t, &m) in present.iter().enumerate() {
                    let spec = &models[m];
                    let (sm_fraction, cap) = match &plan.regime {
                        Regime::Mps {
                            thread_pct, mem_limit_gib, ..
                        } => {
                            fit(&[m], mem_limit_gib[t], "MPS client memory limit")?;
                            (thread_pct[t] / 100.0, mem_limit_gib[t])
                        }
                        _ => (1.0, gpu.memory_gib),
                    };
                    extrapolated |= spec.reference.name != gpu.name;
                    ids.push(servers.len() as u32);
                    servers.push(PlacedServer {
                        model: m,
                        device: dev,
                        ctx: t as u32,
                        label: format!("{prefix}{}", spec.name),
                        share: DeviceShare::of(gpu, sm_fraction, 1.0),
                        memory_gib: held(m, cap),
                        kv_tokens: 0,
                    });
                }
                devices.push(PlacedDevice {
                    gpu: g as u32,
                    label: "whole".into(),
                    kind,
                    servers: ids,
                    instance: None,
                });
            }
            Regime::Mig { profiles } => {
                let refs: Vec<&crate::gpu::MigProfile> = profiles.iter().collect();
                let placed = place_profiles(gpu, &refs)?;
                for (inst, tenant) in placed.into_iter().zip(&plan.tenants) {
                    let label = format!("{}@{}", inst.profile.name, inst.start);
                    let dev = devices.len() as u32;
                    let mut ids = Vec::new();
                    if let Some(m) = *tenant {
                        fit(&[m], inst.profile.memory_gib, &format!("MIG {label}"))?;
                        let spec = &models[m];
                        extrapolated |= spec.reference.name != gpu.name;
                        ids.push(servers.len() as u32);
                        servers.push(PlacedServer {
                            model: m,
                            device: dev,
                            ctx: 0,
                            label: format!("{label}:{}", spec.name),
                            share: DeviceShare::of(
                                gpu,
                                inst.profile.sms as f64 / gpu.sm_count as f64,
                                inst.profile.mem_slices as f64 / 8.0,
                            ),
                            memory_gib: held(m, inst.profile.memory_gib),
                            kv_tokens: 0,
                        });
                    }
                    devices.push(PlacedDevice {
                        gpu: g as u32,
                        label,
                        kind: DeviceKind::Exclusive,
                        servers: ids,
                        instance: Some(inst),
                    });
                }
            }
        }
    }
    for s in &mut servers {
        let spec = &models[s.model];
        if let Some((_, l)) = spec.llm() {
            s.kv_tokens = kv_capacity_tokens(l, &spec.spec, s.memory_gib);
            if s.kv_tokens < u64::from(l.max_context_tokens) {
                return Err(Error::Infeasible(format!(
                    "variant '{}': server '{}' on GPU {}: its KV cache holds {} tokens ({:.2} GiB memory - {:.2} GiB weights - {:.2} GiB reserve, {} bytes per token) but one sequence may reach max_context_tokens = {}: give it more memory (memory_gib, a larger GPU or slice) or lower max_context_tokens",
                    variant,
                    s.label,
                    devices[s.device as usize].gpu,
                    s.kv_tokens,
                    s.memory_gib,
                    spec.spec.memory.weights_gib,
                    l.activation_reserve_gib,
                    l.kv_bytes_per_token(),
                    l.max_context_tokens
                )));
            }
        }
    }
    Ok(Placement {
        devices,
        servers,
        extrapolated,
    })
}

/// Memory a server holds on a device (or slice, or MPS limit) of `cap_gib`: its footprint, or
/// for an LLM engine that sizes its KV cache from free memory (chunked, static) the share
/// `gpu_memory_utilization` of `cap_gib`, as vLLM does, unless the scenario gives its memory.
pub fn memory_held_gib(spec: &ModelSpec, cap_gib: f64) -> f64 {
    match &spec.llm {
        Some(l) if l.policy != crate::model::LlmPolicy::PrefillFirst && !spec.memory_override => l.gpu_memory_utilization * cap_gib,
        _ => spec.memory.total_gib(),
    }
}

/// Tokens of KV cache an LLM server holds with `memory_gib` of memory: what its weights and
/// activation reserve leave, divided by the bytes one token takes in every layer.
pub fn kv_capacity_tokens(l: &crate::model::LlmSpec, m: &ModelSpec, memory_gib: f64) -> u64 {
    let free = (memory_gib - m.memory.weights_gib - l.activation_reserve_gib).max(0.0) * (1u64 << 30) as f64;
    (free / l.kv_bytes_per_token()).floor() as u64
}
