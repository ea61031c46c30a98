//! Placement: where every server of a variant runs and what it gets there. A pure function of
//! the scenario, so that scenario construction ([`crate::scenario::resolve::from_raw`]) can check a variant
//! without simulating it, and the simulation, the planner and the TUI consume the same result.
//!
//! For every GPU of the variant it places the MIG layout (MIG user guide rules, see
//! [`crate::gpu::place_profiles`]), checks that the servers fit in memory (each MIG
//! instance, each MPS client's limit, the co-tenants of a shared GPU together), sizes each LLM
//! server's KV cache from the memory it gets, and gives every server its device share: the SMs,
//! memory bandwidth and clock its calls run with.
//!
//! A replica of a model with tensor or pipeline parallelism spans `n` GPUs
//! ([`ModelSpec::gpus_per_replica`]): the GPUs that list it, taken in order, `n` at a time, form
//! its groups. A group's GPUs are consecutive, within one node (the GPU type's `gpus_per_node`)
//! and whole (dedicated or time-sliced: MIG instances cannot be peers, and an MPS client's share
//! of one GPU could not be matched on the others). The group is one device: its steps wait for
//! every member, so a co-tenant time-sliced on one member stalls the whole group while it holds
//! that GPU, and a reset of any member takes the group down. Co-tenants may share one member
//! only (on two members they would run concurrently, which one device cannot express).

use super::{GpuPlan, Regime};
use crate::error::{Error, Result};
use crate::gpu::{place_profiles, GpuSpec, PlacedInstance};
use crate::model::parallel::Comm;
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

/// An execution unit: a whole GPU, a MIG instance or the GPUs of a multi-GPU replica.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedDevice {
    /// GPU index within the variant (a group: its first GPU).
    pub gpu: u32,
    /// GPUs it covers (1, or a multi-GPU replica's group).
    pub span: u32,
    /// `whole`, the MIG instance as `3g.40gb@4`, or a group as `gpus 0-3`.
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
    /// GPUs its memory is spread over (its replica's span).
    pub gpus: u32,
    /// What a step of a multi-GPU replica spends on the interconnect.
    pub comm: Comm,
}

/// Every server and device of one variant.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Placement {
    /// Devices in GPU order (a MIG GPU contributes one per instance).
    pub devices: Vec<PlacedDevice>,
    /// Servers in deployment order.
    pub servers: Vec<PlacedServer>,
    /// True when any server's service times are derived rather than measured ([`derived`]).
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
    let groups = groups(models, variant, gpu, gpus)?;
    for (g, plan) in gpus.iter().enumerate() {
        if let Some(gr) = groups.iter().find(|gr| gr.first <= g && g < gr.first + gr.span) {
            if gr.first == g {
                place_group(models, variant, gpu, gpus, gr, &mut devices, &mut servers)?;
            }
            continue;
        }
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
                    ids.push(servers.len() as u32);
                    servers.push(PlacedServer {
                        model: m,
                        device: dev,
                        ctx: t as u32,
                        label: format!("{prefix}{}", spec.name),
                        share: DeviceShare::of(gpu, sm_fraction, 1.0),
                        memory_gib: held(m, cap),
                        kv_tokens: 0,
                        gpus: 1,
                        comm: Comm::NONE,
                    });
                }
                devices.push(PlacedDevice {
                    gpu: g as u32,
                    span: 1,
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
                            gpus: 1,
                            comm: Comm::NONE,
                        });
                    }
                    devices.push(PlacedDevice {
                        gpu: g as u32,
                        span: 1,
                        label,
                        kind: DeviceKind::Exclusive,
                        servers: ids,
                        instance: Some(inst),
                    });
                }
            }
        }
    }
    let extrapolated = servers.iter().any(|s| derived(&models[s.model], s.gpus, gpu));
    for s in &mut servers {
        let spec = &models[s.model];
        if let Some((_, l)) = spec.llm() {
            s.kv_tokens = kv_capacity_tokens(l, &spec.spec, s.memory_gib, s.gpus);
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

/// A server's service times are derived, not measured: its tables were measured on another GPU
/// type, it is a multi-GPU replica (its collectives are modelled), or the tables come from the
/// model's architecture (not a measured model that also states its architecture).
pub fn derived(model: &Model, gpus: u32, gpu: &GpuSpec) -> bool {
    gpus > 1 || model.reference.name != gpu.name || model.spec.from_architecture()
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

/// Tokens of KV cache an LLM server holds with `memory_gib` of memory over `gpus` GPUs: what
/// its weights (split among them) and each GPU's activation reserve leave, divided by the bytes
/// one token takes in every layer (its heads and layers split among the GPUs as well).
pub fn kv_capacity_tokens(l: &crate::model::LlmSpec, m: &ModelSpec, memory_gib: f64, gpus: u32) -> u64 {
    let reserve = l.activation_reserve_gib * f64::from(gpus.max(1));
    let free = (memory_gib - m.memory.weights_gib - reserve).max(0.0) * (1u64 << 30) as f64;
    (free / l.kv_bytes_per_token()).floor() as u64
}

/// The GPUs of one multi-GPU replica.
#[derive(Debug, Clone, PartialEq)]
struct Group {
    /// The model.
    model: usize,
    /// Its first GPU.
    first: usize,
    /// Its GPUs.
    span: usize,
}

/// The multi-GPU replicas of a variant's GPUs, checked: whole GPUs, consecutive, within a node,
/// every GPU in at most one group, co-tenants on at most one member.
fn groups(models: &[Model], variant: &str, gpu: &GpuSpec, gpus: &[GpuPlan]) -> Result<Vec<Group>> {
    let mut out: Vec<Group> = Vec::new();
    for (m, model) in models.iter().enumerate() {
        let n = model.spec.gpus_per_replica() as usize;
        if n <= 1 {
            continue;
        }
        let err = |what: String| {
            Err(Error::Infeasible(format!(
                "variant '{variant}': model '{}' (tensor_parallel {} x pipeline_parallel {} = {n} GPUs a replica) {what}",
                model.name, model.spec.tensor_parallel, model.spec.pipeline_parallel
            )))
        };
        let node = gpu.gpus_per_node.max(1) as usize;
        if n > node {
            return err(format!("needs more GPUs than a {} node has ({node})", gpu.name));
        }
        let slots: Vec<usize> = (0..gpus.len()).filter(|&g| gpus[g].tenants.contains(&Some(m))).collect();
        if let Some(&g) = slots
            .iter()
            .find(|&&g| !matches!(gpus[g].regime, Regime::Dedicated | Regime::TimeSliced(_)))
        {
            return err(format!(
                "is on GPU {g}, which is {}: a multi-GPU replica needs whole GPUs (dedicated or time-sliced)",
                gpus[g].regime.label()
            ));
        }
        if slots.len() % n != 0 {
            return err(format!(
                "is on {} GPUs ({slots:?}): a whole number of replicas needs a multiple of {n}",
                slots.len()
            ));
        }
        for c in slots.chunks(n) {
            let first = c[0];
            if c.iter().enumerate().any(|(i, &g)| g != first + i) {
                return err(format!("has a replica on GPUs {c:?}: a replica's GPUs must be consecutive"));
            }
            if first / node != (first + n - 1) / node {
                return err(format!(
                    "has a replica on GPUs {c:?}, across two {node}-GPU nodes: a group needs one node's NVLink"
                ));
            }
            if let Some(o) = out.iter().find(|o| o.first < first + n && first < o.first + o.span) {
                return err(format!(
                    "has a replica on GPUs {c:?}, which share GPUs with a replica of '{}'",
                    models[o.model].name
                ));
            }
            let shared: Vec<usize> = c.iter().copied().filter(|&g| gpus[g].tenants.len() > 1).collect();
            if shared.len() > 1 {
                return err(format!(
                    "has co-tenants on GPUs {shared:?} of one replica: time-slice other models on one of its GPUs only"
                ));
            }
            out.push(Group { model: m, first, span: n });
        }
    }
    out.sort_by_key(|g| g.first);
    Ok(out)
}

/// One multi-GPU replica as one device: the replica's server on `span` GPUs' SMs and bandwidth
/// (its tensor-parallel share: the pipeline's stages run one after another), and the co-tenants
/// of its shared member, each on that one GPU. Memory was checked per member by the caller's
/// rules: the replica holds its share of every member.
fn place_group(
    models: &[Model],
    variant: &str,
    gpu: &GpuSpec,
    gpus: &[GpuPlan],
    gr: &Group,
    devices: &mut Vec<PlacedDevice>,
    servers: &mut Vec<PlacedServer>,
) -> Result<()> {
    let members = &gpus[gr.first..gr.first + gr.span];
    let shared = members.iter().position(|p| p.tenants.len() > 1);
    let ts = members.iter().find_map(|p| match &p.regime {
        Regime::TimeSliced(ts) if shared.is_none() || p.tenants.len() > 1 => Some(*ts),
        _ => None,
    });
    let (kind, prefix) = match ts {
        Some(ts) => (DeviceKind::TimeSliced(ts), "ts:"),
        None => (DeviceKind::Exclusive, ""),
    };
    let spec = &models[gr.model].spec;
    let tp = f64::from(spec.tensor_parallel);
    let per_gpu = match &spec.llm {
        Some(l) if l.policy != crate::model::LlmPolicy::PrefillFirst && !spec.memory_override => l.gpu_memory_utilization * gpu.memory_gib,
        _ => spec.memory.total_gib() / gr.span as f64,
    };
    let co: Vec<usize> = shared
        .map(|i| members[i].tenants.iter().flatten().copied().filter(|&m| m != gr.model).collect())
        .unwrap_or_default();
    let need = per_gpu + co.iter().map(|&m| memory_held_gib(&models[m].spec, gpu.memory_gib)).sum::<f64>();
    if need > gpu.memory_gib + 1e-9 {
        let g = gr.first + shared.unwrap_or(0);
        return Err(Error::Infeasible(format!(
            "variant '{variant}': GPU {g} ({:.2} GiB): models do not fit in memory: {} {per_gpu:.1} GiB (its share of {} GPUs){} = {need:.1} GiB",
            gpu.memory_gib,
            models[gr.model].name,
            gr.span,
            co.iter()
                .map(|&m| format!(" + {} {:.1} GiB", models[m].name, memory_held_gib(&models[m].spec, gpu.memory_gib)))
                .collect::<String>()
        )));
    }
    let dev = devices.len() as u32;
    let mut ids = vec![servers.len() as u32];
    servers.push(PlacedServer {
        model: gr.model,
        device: dev,
        ctx: 0,
        label: format!("{prefix}{}", models[gr.model].name),
        share: DeviceShare::of(gpu, tp, tp),
        memory_gib: per_gpu * gr.span as f64,
        kv_tokens: 0,
        gpus: gr.span as u32,
        comm: Comm::of(spec, gpu),
    });
    for (t, &m) in co.iter().enumerate() {
        ids.push(servers.len() as u32);
        servers.push(PlacedServer {
            model: m,
            device: dev,
            ctx: t as u32 + 1,
            label: format!("{prefix}{}", models[m].name),
            share: DeviceShare::whole(gpu),
            memory_gib: memory_held_gib(&models[m].spec, gpu.memory_gib),
            kv_tokens: 0,
            gpus: 1,
            comm: Comm::NONE,
        });
    }
    devices.push(PlacedDevice {
        gpu: gr.first as u32,
        span: gr.span as u32,
        label: format!("gpus {}-{}", gr.first, gr.first + gr.span - 1),
        kind,
        servers: ids,
        instance: None,
    });
    Ok(())
}
