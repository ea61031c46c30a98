//! Kubernetes configuration for a planned deployment on the NVIDIA GPU Operator: the files a
//! platform engineer applies to run a plan (GPU type, and per GPU its sharing regime and tenants)
//! on a cluster. Pure: [`emit`] returns texts; writing them is the caller's business.
//!
//! # What is emitted
//! * `mig-parted-config.yaml` (MIG-capable GPU types only): a ConfigMap whose key `config.yaml`
//!   holds a mig-parted config, `all-disabled` plus one named layout per MIG pool. The MIG manager
//!   applies the config named by a node's `nvidia.com/mig.config` label.
//! * `device-plugin-config.yaml`: a ConfigMap with one key per named device-plugin config
//!   (`exclusive`, `mig-mixed`, `time-sliced-<n>`, `mps-<n>`); the device plugin, GPU feature
//!   discovery and the MPS control daemon use the one named by a node's
//!   `nvidia.com/device-plugin.config` label.
//! * `gpu-operator-values.yaml`: Helm values that point the operator at both ConfigMaps and set
//!   the cluster-wide MIG strategy (see "MIG strategy" below).
//! * `node-labels.sh`: `kubectl label node` lines, per pool, with placeholder node names.
//! * `deployment-<name>.yaml`: per model and pool, an apps/v1 Deployment requesting one
//!   `nvidia.com/gpu` (whole GPU, time-slicing or MPS replica) or one `nvidia.com/mig-<profile>`
//!   (MIG instance, mixed strategy), with a nodeSelector on the pool's two labels and a
//!   placeholder image.
//!
//! # Pools and nodes
//! The MIG manager applies one mig-parted config to a node (we use `devices: all`) and the device
//! plugin applies one sharing config to every GPU of a node, with time-slicing and MPS mutually
//! exclusive (k8s-device-plugin README, "Shared Access to GPUs"). So GPUs planned differently cannot share
//! a node: GPUs are grouped into pools of identical configuration (same MIG layout, or same regime
//! and replica count), in order of first appearance, and each pool gets its own nodes. A pool of
//! `n` GPUs needs `ceil(n / gpus_per_node)` nodes; the spare GPUs of its last node receive the same
//! configuration and are left free. Deployment replicas count the planned tenants only.
//!
//! # MIG strategy
//! MIG instances are requested by profile (`mixed` strategy) because a plan may mix profiles. The
//! strategy is a flag of each device-plugin config (`flags.migStrategy`), but the operator's
//! ClusterPolicy `mig.strategy`, when set, becomes the plugin's `MIG_STRATEGY` variable, which
//! takes precedence over the config file, and the plugin refuses MPS with `mixed`. The values file
//! therefore sets `mixed` when the plan has MIG pools and no MPS pools, `none` when it has no MIG
//! pools, and leaves it unset (so each node's config decides) when it has both.
//!
//! # Not expressible (and so not emitted)
//! The device plugin hands out replicas of any GPU of a node, so a plan's pairing of tenants on a
//! particular time-sliced or MPS GPU is not enforced, only the count per GPU; MPS clients get equal
//! shares (1/replicas of memory and SMs), not per-tenant limits. MPS is for whole GPUs only (it is
//! not supported on MIG devices), which the [`K8sGpu`] variants already guarantee.
//!
//! # Sources of the formats
//! * mig-parted config: github.com/NVIDIA/mig-parted `examples/config.yaml`, `api/spec/v1/spec.go`
//!   (fields `device-filter` string or list, `devices` `all` or index list, `mig-enabled`,
//!   `mig-devices` required when enabled), `deployments/systemd/config-default.yaml` (device-filter
//!   ids per GPU); PCI ids from go-nvlib's `pkg/pciids/default_pci.ids` vendored there.
//! * MIG manager ConfigMap, key `config.yaml`, `migManager.config.name`, `nvidia.com/mig.config`:
//!   github.com/NVIDIA/gpu-operator `deployments/gpu-operator/values.yaml` and
//!   `assets/state-mig-manager/0400_configmap.yaml`; GPU Operator docs "GPU Operator with MIG"
//!   (<https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-operator-mig.html>,
//!   source github.com/NVIDIA/cloud-native-docs `gpu-operator/gpu-operator-mig.rst`,
//!   `gpu-operator/manifests/input/custom-mig-config.yaml`).
//! * Device-plugin config (`version: v1`, `flags.migStrategy`, `sharing.timeSlicing` /
//!   `sharing.mps`, `resources[].name`/`replicas`, `failRequestsGreaterThanOne`), ConfigMap with
//!   one key per config and the `nvidia.com/device-plugin.config` label: github.com/NVIDIA/k8s-device-plugin
//!   `README.md` ("Shared Access to GPUs", "Multiple Config File Example", "Updating Per-Node
//!   Configuration With a Node Label") and `api/config/v1/{config,flags,sharing,replicas}.go`
//!   (replicas must be >= 2); `cmd/nvidia-device-plugin/main.go` (MPS refuses `mixed`);
//!   `internal/rm/rm.go` (MIG resource `nvidia.com/mig-<profile>`, `+` written as `.`).
//! * GPU Operator device-plugin wiring (`devicePlugin.config.name`/`default`, ConfigMap in the
//!   operator namespace): gpu-operator `deployments/gpu-operator/values.yaml`,
//!   `templates/clusterpolicy.yaml` (`mig.strategy` omitted when empty),
//!   `controllers/object_controls.go` (`applyMIGConfiguration`: `MIG_STRATEGY` set only when the
//!   strategy is); docs "Time-Slicing GPUs in Kubernetes"
//!   (<https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-sharing.html>,
//!   `gpu-operator/gpu-sharing.rst`, `manifests/input/time-slicing-config-fine.yaml`) and
//!   "Multi-Process Service in Kubernetes" (only `nvidia.com/gpu` can be shared with MPS).
//! * Deployment: Kubernetes `apps/v1` API; extended resources may appear in both requests and
//!   limits only with equal values (<https://kubernetes.io/docs/tasks/manage-gpus/scheduling-gpus/>).
//!
//! YAML is written by hand: block style, two-space indent, every free-text or name value in double
//! quotes (JSON string syntax, which YAML 1.1 and 1.2 read alike, so a model called `no` or `on`
//! stays a string for Go's YAML 1.1 readers), fixed tokens (`v1`, `all`, booleans, counts) plain as
//! in NVIDIA's examples.
//!
//! Why one file of ~840 lines: the five files of one deployment share one validated plan (pools, workloads,
//! names) and must agree byte for byte; splitting the writers would split that plan's invariants.

use crate::error::{Error, Result};
use crate::gpu::{place_profiles, Catalog, GpuSpec, MigProfile};

/// GPUs per node when the caller does not say: DGX/HGX A100, H100 and H200 nodes carry 8.
pub const DEFAULT_GPUS_PER_NODE: u32 = 8;

/// Namespace of the GPU Operator, where the MIG manager and device plugin look for their
/// ConfigMaps (the namespace NVIDIA's install instructions use).
pub const GPU_OPERATOR_NAMESPACE: &str = "gpu-operator";

/// Namespace of the Deployments when the caller does not say.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Node label that tells the pools of one deployment apart (pods of a time-sliced or MPS group
/// must reach the nodes of their group, see [`crate::plan::nodes`]).
const POOL_LABEL: &str = "gpuslice.io/node-pool";

/// Per-pod CPU and memory requests: placeholders the model server's own needs replace; set so
/// that the scheduler accounts for the pods at all (a pod without requests is BestEffort and the
/// first evicted under node pressure, <https://kubernetes.io/docs/concepts/workloads/pods/pod-qos/>).
const CPU_REQUEST: &str = "2";
const MEMORY_REQUEST: &str = "8Gi";

/// Device-plugin config name for whole GPUs without sharing; also the default for unlabelled nodes.
const EXCLUSIVE_CONFIG: &str = "exclusive";
/// Device-plugin config name for MIG nodes: instances advertised per profile.
const MIG_MIXED_CONFIG: &str = "mig-mixed";
/// mig-parted config that turns MIG off on every GPU of a node (the MIG manager's default label).
const MIG_DISABLED_CONFIG: &str = "all-disabled";
/// Resource name of a whole GPU or of a time-slicing / MPS replica.
const GPU_RESOURCE: &str = "nvidia.com/gpu";
/// Longest model name `--emit-k8s` takes: a Deployment is named after the model, plus
/// `-pool<k>` and a MIG resource (`-mig-1g-10gb-me`) where a model spreads over pools and
/// profiles, and must stay a 63-character DNS-1123 label; checked before planning.
pub const MAX_MODEL_NAME_LEN: usize = 40;
/// Longest Kubernetes label value and DNS-1123 label (object names used as label values too).
const MAX_LABEL_LEN: usize = 63;

/// A planned deployment: one GPU type, and per GPU how it is shared and who runs on it.
#[derive(Debug, Clone, PartialEq)]
pub struct K8sDeployment {
    /// Deployment name (a DNS-1123 label); prefixes the ConfigMap names and labels the Deployments.
    pub name: String,
    /// GPU catalog key, e.g. `a100-80gb` (see `gpuslice catalog`).
    pub gpu_type: String,
    /// The GPUs and their tenants.
    pub gpus: Vec<K8sGpu>,
    /// GPUs per node, which sets how many nodes each pool needs.
    pub gpus_per_node: u32,
    /// GPUs one pod of a model takes on dedicated GPUs (a tensor-parallel replica: its
    /// `tensor_parallel x pipeline_parallel`; absent: 1).
    pub replica_gpus: std::collections::BTreeMap<String, u32>,
    /// The GPUs (indices into `gpus`) of each node, as the planner packed them (`None`: packed
    /// here by the same rule, [`crate::plan::nodes::pack`]).
    pub nodes: Option<Vec<Vec<usize>>>,
    /// Namespace of the Deployments.
    pub namespace: String,
}

impl K8sDeployment {
    /// A deployment with [`DEFAULT_GPUS_PER_NODE`] GPUs per node.
    pub fn new(name: impl Into<String>, gpu_type: impl Into<String>, gpus: Vec<K8sGpu>) -> Self {
        K8sDeployment {
            name: name.into(),
            gpu_type: gpu_type.into(),
            gpus,
            gpus_per_node: DEFAULT_GPUS_PER_NODE,
            replica_gpus: std::collections::BTreeMap::new(),
            nodes: None,
            namespace: DEFAULT_NAMESPACE.to_string(),
        }
    }
}

/// One physical GPU of a plan. Model names become Deployment names, so they must be DNS-1123
/// labels (lowercase letters, digits and `-`).
#[derive(Debug, Clone, PartialEq)]
pub enum K8sGpu {
    /// One model server owns the whole GPU.
    Dedicated {
        /// The model.
        model: String,
    },
    /// Device-plugin time-slicing: one replica per listed tenant (a model listed twice runs two
    /// pods on the GPU). At least two tenants: the plugin refuses fewer than 2 replicas.
    TimeSliced {
        /// The tenants.
        models: Vec<String>,
    },
    /// Device-plugin MPS: one client per listed tenant, each capped at an equal share. At least two.
    Mps {
        /// The tenants.
        models: Vec<String>,
    },
    /// MIG instances: the catalog profile of the deployment's GPU type and the model it serves
    /// (`None`: instance created but left empty).
    Mig {
        /// Instances.
        instances: Vec<(MigProfile, Option<String>)>,
    },
}

/// One emitted file.
#[derive(Debug, Clone, PartialEq)]
pub struct K8sFile {
    /// File name, e.g. `mig-parted-config.yaml`.
    pub name: String,
    /// Contents.
    pub text: String,
}

/// How one GPU of the plan is configured.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum GpuKind {
    /// Whole GPU, no sharing.
    Exclusive,
    /// Time-slicing with this many replicas.
    TimeSliced { replicas: u32 },
    /// MPS with this many clients.
    Mps { replicas: u32 },
    /// MIG layout: (profile, count), largest profile first.
    Mig { layout: Vec<(String, u32)> },
}

/// How mig-parted sets one device of a node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum DevCfg {
    /// MIG off: a whole GPU (planned, or a spare one of a node that may advertise it).
    Whole,
    /// MIG on with this layout.
    Mig(Vec<(String, u32)>),
    /// MIG on with no instances: a spare GPU of a time-sliced node, which under the `mixed`
    /// strategy advertises nothing, so the node's one `nvidia.com/gpu` GPU is the planned one.
    Parked,
}

/// The device-plugin config of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PoolKind {
    /// Whole GPUs, no sharing, no MIG.
    Exclusive,
    /// Whole GPUs beside MIG instances (strategy `mixed`).
    MigMixed,
    /// Time-slicing of `nvidia.com/gpu` (`mixed`: beside MIG GPUs or parked spares).
    TimeSliced { replicas: u32, mixed: bool },
    /// MPS with this many clients per GPU.
    Mps { replicas: u32 },
}

impl PoolKind {
    /// Value of the `nvidia.com/device-plugin.config` label (a key of the device-plugin ConfigMap).
    fn plugin_config(&self) -> String {
        match self {
            PoolKind::Exclusive => EXCLUSIVE_CONFIG.to_string(),
            PoolKind::MigMixed => MIG_MIXED_CONFIG.to_string(),
            PoolKind::TimeSliced { replicas, mixed: false } => format!("time-sliced-{replicas}"),
            PoolKind::TimeSliced { replicas, mixed: true } => format!("time-sliced-{replicas}-mig-mixed"),
            PoolKind::Mps { replicas } => format!("mps-{replicas}"),
        }
    }

    fn mixed(&self) -> bool {
        matches!(self, PoolKind::MigMixed | PoolKind::TimeSliced { mixed: true, .. })
    }
}

/// "3g.40gb x2 + 1g.10gb x1".
fn layout_text(layout: &[(String, u32)]) -> String {
    layout.iter().map(|(p, n)| format!("{n} x {p}")).collect::<Vec<_>>().join(" + ")
}

/// Identical nodes: the same device configs, plugin config and (for a shared GPU) co-tenants.
#[derive(Debug)]
struct Pool {
    kind: PoolKind,
    /// mig-parted config of each device index of a node (all `gpus_per_node` of them).
    devices: Vec<DevCfg>,
    /// Planned GPU indices of each node, in device order.
    nodes: Vec<Vec<usize>>,
    /// Tenants of each GPU of a node (model and resource, sorted), sorted.
    group: Vec<Vec<String>>,
    /// Valid `nvidia.com/mig.config` value.
    mig_config: String,
}

impl Pool {
    /// One phrase for comments.
    fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let planned = self.nodes.first().map_or(0, Vec::len);
        for (k, d) in self.devices.iter().enumerate() {
            let what = match (d, &self.kind) {
                (DevCfg::Whole, _) if k >= planned => "spare whole GPU".to_string(),
                (DevCfg::Whole, PoolKind::TimeSliced { replicas, .. }) => format!("time-sliced GPU ({replicas} replicas)"),
                (DevCfg::Whole, PoolKind::Mps { replicas }) => format!("MPS GPU ({replicas} clients)"),
                (DevCfg::Whole, _) => "whole GPU".to_string(),
                (DevCfg::Mig(l), _) => format!("MIG {}", layout_text(l)),
                (DevCfg::Parked, _) => "spare GPU, MIG on, no instances".to_string(),
            };
            match parts.last_mut() {
                Some(last) if last.ends_with(&format!("] {what}")) => {
                    // Extend the index range of the previous phrase.
                    let open = last.find('[').expect("phrase");
                    let first = last[open + 1..].split(['-', ']']).next().unwrap_or("0").to_string();
                    *last = format!("[{first}-{k}] {what}");
                }
                _ => parts.push(format!("[{k}] {what}")),
            }
        }
        parts.join(", ")
    }
}

/// Pods of one model on one pool requesting one resource: one Deployment.
#[derive(Debug)]
struct Workload {
    name: String,
    model: String,
    pool: usize,
    resource: String,
    replicas: u32,
    /// Units of `resource` each pod requests.
    per_pod: u32,
}

/// The validated plan the files are written from.
struct Plan<'a> {
    d: &'a K8sDeployment,
    gpu: &'a GpuSpec,
    pools: Vec<Pool>,
    workloads: Vec<Workload>,
}

/// One node pool as [`emit`] lays it out: identical nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePool {
    /// Each device of a node, in words (as the emitted files' comments say it).
    pub describe: String,
    /// The deployment's GPU indices on each node of the pool, in device order.
    pub nodes: Vec<Vec<usize>>,
}

/// The node pools [`emit`] would write for `d`, so that a report draws the same nodes the files
/// deploy (one grouping rule, here).
pub fn node_pools(d: &K8sDeployment) -> Result<Vec<NodePool>> {
    let plan = Plan::build(d)?;
    Ok(plan
        .pools
        .iter()
        .map(|p| NodePool {
            describe: p.describe(),
            nodes: p.nodes.clone(),
        })
        .collect())
}

/// Emit the Kubernetes files for a deployment, in apply order: ConfigMaps, operator values, node
/// labels, Deployments. Errors name the offending field (`gpus[2].models`, ...) on one line.
pub fn emit(d: &K8sDeployment) -> Result<Vec<K8sFile>> {
    let plan = Plan::build(d)?;
    let mut files = Vec::new();
    if plan.gpu.has_mig() {
        files.push(K8sFile {
            name: "mig-parted-config.yaml".to_string(),
            text: plan.mig_parted_configmap(),
        });
    }
    files.push(K8sFile {
        name: "device-plugin-config.yaml".to_string(),
        text: plan.device_plugin_configmap(),
    });
    files.push(K8sFile {
        name: "gpu-operator-values.yaml".to_string(),
        text: plan.operator_values(),
    });
    files.push(K8sFile {
        name: "node-labels.sh".to_string(),
        text: plan.node_labels(),
    });
    for w in &plan.workloads {
        files.push(K8sFile {
            name: format!("deployment-{}.yaml", w.name),
            text: plan.deployment(w),
        });
    }
    files.push(K8sFile {
        name: "apply.sh".to_string(),
        text: plan.apply_script(),
    });
    Ok(files)
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::input("", field, message)
}

/// Check a DNS-1123 label (Deployment names, label values derived from names).
pub(crate) fn check_dns_label(s: &str, field: &str, what: &str) -> Result<()> {
    let ok_chars = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_ends =
        s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric()) && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    if s.is_empty() {
        return Err(bad(field, format!("{what} is empty")));
    }
    if !ok_chars || !ok_ends || s.len() > MAX_LABEL_LEN {
        return Err(bad(
            field,
            format!(
                "{what} '{s}' is not a Kubernetes name: use at most {MAX_LABEL_LEN} lowercase letters, digits and '-', \
                 starting and ending with a letter or digit"
            ),
        ));
    }
    Ok(())
}

/// A MIG profile name as label values and resource names spell it (`+` is not allowed there; the
/// device plugin and mig-parted's own config names write it as `.`).
fn label_safe(profile: &str) -> String {
    profile.replace('+', ".")
}

/// Extended resource of a MIG instance under the mixed strategy.
fn mig_resource(profile: &str) -> String {
    format!("nvidia.com/mig-{}", label_safe(profile))
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Tenants of a shared (time-sliced or MPS) GPU: at least two, each a valid name.
fn check_shared(models: &[String], field: &str, regime: &str) -> Result<u32> {
    match models.len() {
        0 => Err(bad(field, format!("{regime} GPU has no tenants"))),
        1 => Err(bad(
            field,
            format!(
                "{regime} GPU has one tenant '{}': the device plugin needs at least 2 replicas; make it Dedicated",
                models[0]
            ),
        )),
        n => {
            for (j, m) in models.iter().enumerate() {
                check_dns_label(m, &format!("{field}[{j}]"), "model name")?;
            }
            Ok(count_u32(n))
        }
    }
}

impl<'a> Plan<'a> {
    fn build(d: &'a K8sDeployment) -> Result<Plan<'a>> {
        use crate::plan::nodes::{pack, valid, NodeGpu};
        let cat = Catalog::builtin();
        let gpu = cat
            .gpu(&d.gpu_type)
            .ok_or_else(|| bad("gpu_type", format!("unknown GPU type '{}' (known: {})", d.gpu_type, cat.names())))?;
        check_dns_label(&d.name, "name", "deployment name")?;
        check_dns_label(&d.namespace, "namespace", "namespace")?;
        if d.gpus.is_empty() {
            return Err(bad("gpus", "the deployment has no GPUs"));
        }
        if d.gpus_per_node == 0 {
            return Err(bad("gpus_per_node", "must be at least 1, got '0'"));
        }
        let per = d.gpus_per_node as usize;
        let mut kinds = Vec::with_capacity(d.gpus.len());
        for (i, g) in d.gpus.iter().enumerate() {
            kinds.push(Self::gpu_kind(gpu, g, &format!("gpus[{i}]"))?);
        }
        // Multi-GPU replicas: runs of a model's dedicated GPUs, `replica_gpus` at a time (one pod
        // asks for them all, so they must share a node).
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut i = 0;
        while i < kinds.len() {
            let n = match &d.gpus[i] {
                K8sGpu::Dedicated { model } => d.replica_gpus.get(model).copied().unwrap_or(1).max(1) as usize,
                _ => 1,
            };
            if n > 1 {
                let run = (i..i + n).all(|j| d.gpus.get(j) == Some(&d.gpus[i]));
                if !run {
                    let K8sGpu::Dedicated { model } = &d.gpus[i] else { unreachable!() };
                    let have = (i..kinds.len()).take_while(|&j| d.gpus[j] == d.gpus[i]).count();
                    return Err(bad(
                        format!("replica_gpus.{model}"),
                        format!("GPUs {i}.. of '{model}' run {have} in a row, not a whole number of {n}-GPU replicas"),
                    ));
                }
                groups.push((i..i + n).collect());
            }
            i += n;
        }
        let node_gpus: Vec<NodeGpu> = kinds
            .iter()
            .map(|(k, _)| match k {
                GpuKind::Exclusive => NodeGpu::Dedicated,
                GpuKind::TimeSliced { .. } => NodeGpu::TimeSliced,
                GpuKind::Mps { .. } => NodeGpu::Mps,
                GpuKind::Mig { .. } => NodeGpu::Mig,
            })
            .collect();
        let nodes = match &d.nodes {
            Some(n) if valid(&node_gpus, &groups, d.gpus_per_node, n) => n.clone(),
            Some(n) => {
                return Err(bad(
                    "nodes",
                    format!(
                        "{n:?} is no valid assignment of the {} GPUs to nodes of {per}: one time-sliced or MPS GPU per node, MPS alone, a multi-GPU replica on one node",
                        kinds.len()
                    ),
                ))
            }
            None => pack(&node_gpus, &groups, d.gpus_per_node).map_err(|e| bad("gpus_per_node", e))?,
        };
        let dev = |i: usize| match &kinds[i].0 {
            GpuKind::Mig { layout } => DevCfg::Mig(layout.clone()),
            _ => DevCfg::Whole,
        };
        let mut pools: Vec<Pool> = Vec::new();
        for node in &nodes {
            let mut order = node.clone();
            // Shared GPU first, then whole GPUs, then MIG layouts: equal nodes read alike.
            order.sort_by_key(|&i| (!matches!(kinds[i].0, GpuKind::TimeSliced { .. } | GpuKind::Mps { .. }), dev(i), i));
            let shared = order.iter().find_map(|&i| match &kinds[i].0 {
                GpuKind::TimeSliced { replicas } => Some((i, PoolKind::TimeSliced { replicas: *replicas, mixed: false })),
                GpuKind::Mps { replicas } => Some((i, PoolKind::Mps { replicas: *replicas })),
                _ => None,
            });
            let has_mig = order.iter().any(|&i| matches!(kinds[i].0, GpuKind::Mig { .. }));
            let spare = per - order.len();
            let kind = match shared {
                Some((_, PoolKind::TimeSliced { replicas, .. })) => PoolKind::TimeSliced {
                    replicas,
                    mixed: gpu.has_mig() && (has_mig || spare > 0),
                },
                Some((_, k)) => k,
                None if has_mig => PoolKind::MigMixed,
                None => PoolKind::Exclusive,
            };
            // Nodes of a pool carry the same tenants, so that a spread of each Deployment over
            // the pool's nodes gives every node its planned pods (no multi-GPU replica is left
            // without a node by single-GPU pods taking its GPUs).
            let mut group: Vec<Vec<String>> = order
                .iter()
                .map(|&i| {
                    let mut t: Vec<String> = kinds[i].1.iter().map(|(m, r)| format!("{m} {r}")).collect();
                    t.sort();
                    t
                })
                .collect();
            group.sort();
            let fill = if matches!(kind, PoolKind::TimeSliced { mixed: true, .. }) { DevCfg::Parked } else { DevCfg::Whole };
            let devices: Vec<DevCfg> = order.iter().map(|&i| dev(i)).chain(std::iter::repeat_n(fill, spare)).collect();
            match pools.iter_mut().find(|p| p.kind == kind && p.devices == devices && p.group == group) {
                Some(p) => p.nodes.push(order),
                None => pools.push(Pool {
                    kind,
                    devices,
                    nodes: vec![order],
                    group,
                    mig_config: String::new(),
                }),
            }
        }
        for (k, p) in pools.iter_mut().enumerate() {
            p.mig_config = match &p.devices[..] {
                all if all.iter().all(|x| *x == DevCfg::Whole) => MIG_DISABLED_CONFIG.to_string(),
                [DevCfg::Mig(l), rest @ ..] if rest.iter().all(|x| *x == DevCfg::Mig(l.clone())) => {
                    let parts: Vec<String> = l.iter().map(|(p, n)| format!("{n}x{}", label_safe(p))).collect();
                    let name = format!("mig-{}", parts.join("-"));
                    if name.len() <= MAX_LABEL_LEN {
                        name
                    } else {
                        format!("mig-pool-{}", k + 1)
                    }
                }
                _ => format!("mig-pool-{}", k + 1),
            };
        }
        let mut workloads: Vec<Workload> = Vec::new();
        for (k, p) in pools.iter().enumerate() {
            for &i in p.nodes.iter().flatten() {
                for (model, resource) in &kinds[i].1 {
                    match workloads.iter_mut().find(|w| &w.model == model && w.pool == k && &w.resource == resource) {
                        Some(w) => w.replicas += 1,
                        None => workloads.push(Workload {
                            name: String::new(),
                            model: model.clone(),
                            pool: k,
                            resource: resource.clone(),
                            replicas: 1,
                            per_pod: 1,
                        }),
                    }
                }
            }
        }
        // A multi-GPU replica is one pod asking for all its GPUs (its group is on one node).
        for w in &mut workloads {
            let n = d.replica_gpus.get(&w.model).copied().unwrap_or(1).max(1);
            let whole = matches!(pools[w.pool].kind, PoolKind::Exclusive | PoolKind::MigMixed) && w.resource == GPU_RESOURCE;
            if n > 1 && whole {
                w.replicas /= n;
                w.per_pod = n;
            }
        }
        Self::name_workloads(&mut workloads)?;
        Ok(Plan { d, gpu, pools, workloads })
    }

    /// The pool configuration of one GPU and its tenants as (model, resource).
    fn gpu_kind(gpu: &GpuSpec, g: &K8sGpu, field: &str) -> Result<(GpuKind, Vec<(String, String)>)> {
        let whole = |models: &[String]| models.iter().map(|m| (m.clone(), GPU_RESOURCE.to_string())).collect::<Vec<_>>();
        match g {
            K8sGpu::Dedicated { model } => {
                check_dns_label(model, &format!("{field}.model"), "model name")?;
                Ok((GpuKind::Exclusive, whole(std::slice::from_ref(model))))
            }
            K8sGpu::TimeSliced { models } => {
                let replicas = check_shared(models, &format!("{field}.models"), "time-sliced")?;
                Ok((GpuKind::TimeSliced { replicas }, whole(models)))
            }
            K8sGpu::Mps { models } => {
                let replicas = check_shared(models, &format!("{field}.models"), "MPS")?;
                Ok((GpuKind::Mps { replicas }, whole(models)))
            }
            K8sGpu::Mig { instances } => {
                let f = format!("{field}.instances");
                if !gpu.has_mig() {
                    return Err(bad(f, format!("GPU type '{}' ({}) does not support MIG", gpu.name, gpu.display)));
                }
                if instances.is_empty() {
                    return Err(bad(f, "MIG GPU has no instances"));
                }
                if let Some((p, _)) = instances.iter().find(|(p, _)| gpu.mig_profile(&p.name) != Some(p)) {
                    let known: Vec<&str> = gpu.mig_profiles.iter().map(|p| p.name.as_str()).collect();
                    return Err(bad(
                        f,
                        format!("unknown MIG profile '{}' for {} (known: {})", p.name, gpu.name, known.join(", ")),
                    ));
                }
                let layout: Vec<&MigProfile> = instances.iter().map(|(p, _)| p).collect();
                // Count limits and placement, with the catalog's messages.
                place_profiles(gpu, &layout).map_err(|e| bad(f.clone(), e.to_string()))?;
                let mut tenants = Vec::new();
                for (j, (p, m)) in instances.iter().enumerate() {
                    if let Some(m) = m {
                        check_dns_label(m, &format!("{f}[{j}]"), "model name")?;
                        tenants.push((m.clone(), mig_resource(&p.name)));
                    }
                }
                let mut profiles: Vec<&MigProfile> = Vec::new();
                for p in &layout {
                    if !profiles.iter().any(|q| q.name == p.name) {
                        profiles.push(p);
                    }
                }
                // Canonical order, so equal layouts written in any order form one pool.
                profiles.sort_by(|a, b| (b.mem_slices, b.compute_slices, &a.name).cmp(&(a.mem_slices, a.compute_slices, &b.name)));
                let layout = profiles
                    .iter()
                    .map(|p| (p.name.clone(), count_u32(layout.iter().filter(|q| q.name == p.name).count())))
                    .collect();
                Ok((GpuKind::Mig { layout }, tenants))
            }
        }
    }

    /// A model on one pool and resource is named after the model; one spread over several gets
    /// `-pool<k>` (and the MIG profile where one pool gives it several).
    fn name_workloads(workloads: &mut [Workload]) -> Result<()> {
        for i in 0..workloads.len() {
            let w = &workloads[i];
            let same_model = workloads.iter().filter(|v| v.model == w.model).count();
            let same_pool = workloads.iter().filter(|v| v.model == w.model && v.pool == w.pool).count();
            let mut name = w.model.clone();
            if same_model > 1 {
                name.push_str(&format!("-pool{}", w.pool + 1));
            }
            if same_pool > 1 {
                let suffix = w.resource.trim_start_matches("nvidia.com/").replace('.', "-");
                name.push_str(&format!("-{suffix}"));
            }
            check_dns_label(&name, "gpus", "Deployment name")?;
            workloads[i].name = name;
        }
        for (i, w) in workloads.iter().enumerate() {
            if workloads[..i].iter().any(|v| v.name == w.name) {
                return Err(bad(
                    "gpus",
                    format!("two Deployments would both be named '{}'; rename a model", w.name),
                ));
            }
        }
        Ok(())
    }

    /// Some node serves MIG instances by profile (the `mixed` strategy).
    fn needs_mixed(&self) -> bool {
        self.pools.iter().any(|p| p.kind.mixed())
    }

    fn has_mps_pools(&self) -> bool {
        self.pools.iter().any(|p| matches!(p.kind, PoolKind::Mps { .. }))
    }

    /// Whether the plugin must hand a shared pool's pods the planned GPU: only one device of the
    /// node advertises `nvidia.com/gpu` (the rest are MIG GPUs or parked).
    fn pinned(pool: &Pool) -> bool {
        match pool.kind {
            PoolKind::TimeSliced { .. } | PoolKind::Mps { .. } => pool.devices.iter().filter(|x| **x == DevCfg::Whole).count() == 1,
            _ => true,
        }
    }

    fn mig_configmap_name(&self) -> String {
        format!("{}-mig-parted-config", self.d.name)
    }

    fn plugin_configmap_name(&self) -> String {
        format!("{}-device-plugin-config", self.d.name)
    }

    fn pool_name(&self, k: usize) -> String {
        format!("{}-pool{}", self.d.name, k + 1)
    }

    /// The labels that select a pool's nodes: `(key, value)`, the MIG one only on MIG-capable GPUs
    /// (the operator deploys the MIG manager nowhere else).
    fn pool_labels(&self, k: usize) -> Vec<(&'static str, String)> {
        let pool = &self.pools[k];
        let mut l = Vec::new();
        if self.gpu.has_mig() {
            l.push(("nvidia.com/mig.config", pool.mig_config.clone()));
        }
        l.push(("nvidia.com/device-plugin.config", pool.kind.plugin_config()));
        l.push((POOL_LABEL, self.pool_name(k)));
        l
    }

    /// "asr x2, tts x1" for a pool.
    fn tenants_of(&self, pool_idx: usize) -> String {
        let parts: Vec<String> = self
            .workloads
            .iter()
            .filter(|w| w.pool == pool_idx)
            .map(|w| format!("{} x{} ({})", w.model, w.replicas, w.resource))
            .collect();
        if parts.is_empty() {
            "no tenants".to_string()
        } else {
            parts.join(", ")
        }
    }

    fn node_count(&self) -> usize {
        self.pools.iter().map(|p| p.nodes.len()).sum()
    }

    fn header(&self, what: &str) -> String {
        format!(
            "# {what}\n# gpuslice deployment '{}': {} x {} ({}) on {} node(s) of {} GPUs.\n",
            self.d.name,
            self.d.gpus.len(),
            self.gpu.name,
            self.gpu.display,
            self.node_count(),
            self.d.gpus_per_node
        )
    }

    fn mig_parted_configmap(&self) -> String {
        let mut o = self.header("mig-parted configs for the GPU Operator's MIG manager.");
        o.push_str("# The MIG manager reads the key config.yaml (gpu-operator-values.yaml points migManager.config.name\n");
        o.push_str("# here) and applies the config named by each node's nvidia.com/mig.config label (node-labels.sh).\n");
        o.push_str("# Each config sets every device index of a node (an index no entry matches fails mig-parted's assert),\n");
        o.push_str(&format!(
            "# on every SKU of {} (device-filter: its PCI ids; another GPU would be left unconfigured).\n",
            self.gpu.name
        ));
        o.push_str("apiVersion: v1\nkind: ConfigMap\nmetadata:\n");
        o.push_str(&format!(
            "  name: {}\n  namespace: {}\n",
            q(&self.mig_configmap_name()),
            q(GPU_OPERATOR_NAMESPACE)
        ));
        o.push_str("data:\n  config.yaml: |\n");
        let mut c = String::new();
        c.push_str("version: v1\nmig-configs:\n");
        c.push_str(&format!("  {MIG_DISABLED_CONFIG}:\n    - devices: all\n      mig-enabled: false\n"));
        let filter = self.gpu.pci_ids.iter().map(|id| q(id)).collect::<Vec<_>>().join(", ");
        for (k, pool) in self.pools.iter().enumerate() {
            if pool.mig_config == MIG_DISABLED_CONFIG {
                continue;
            }
            c.push_str(&format!("\n  # pool {}: {}\n", k + 1, pool.describe()));
            c.push_str(&format!("  {}:\n", pool.mig_config));
            // One entry per distinct device config, on its device indices.
            let mut cfgs: Vec<&DevCfg> = Vec::new();
            for d in &pool.devices {
                if !cfgs.contains(&d) {
                    cfgs.push(d);
                }
            }
            for cfg in cfgs {
                let idx: Vec<String> = (0..pool.devices.len()).filter(|&i| &pool.devices[i] == cfg).map(|i| i.to_string()).collect();
                c.push_str(&format!("    - device-filter: [{filter}]\n      devices: [{}]\n", idx.join(", ")));
                match cfg {
                    DevCfg::Whole => c.push_str("      mig-enabled: false\n"),
                    DevCfg::Parked => c.push_str("      mig-enabled: true\n      mig-devices: {}\n"),
                    DevCfg::Mig(layout) => {
                        c.push_str("      mig-enabled: true\n      mig-devices:\n");
                        for (p, n) in layout {
                            c.push_str(&format!("        {}: {n}\n", q(p)));
                        }
                    }
                }
            }
        }
        for l in c.lines() {
            if l.is_empty() {
                o.push('\n');
            } else {
                o.push_str(&format!("    {l}\n"));
            }
        }
        o
    }

    /// One device-plugin config file (the value of one ConfigMap key).
    fn plugin_config_text(kind: &PoolKind) -> String {
        let strategy = if kind.mixed() { "mixed" } else { "none" };
        let mut c = format!("version: v1\nflags:\n  migStrategy: {strategy}\n");
        let (section, replicas) = match kind {
            PoolKind::TimeSliced { replicas, .. } => ("timeSlicing", *replicas),
            PoolKind::Mps { replicas } => ("mps", *replicas),
            _ => return c,
        };
        c.push_str(&format!(
            "sharing:\n  {section}:\n    failRequestsGreaterThanOne: true\n    resources:\n"
        ));
        c.push_str(&format!("    - name: {GPU_RESOURCE}\n      replicas: {replicas}\n"));
        c
    }

    fn device_plugin_configmap(&self) -> String {
        let mut o = self.header("Device-plugin configs (also read by GPU feature discovery and the MPS control daemon).");
        o.push_str("# One key per named config; gpu-operator-values.yaml points devicePlugin.config.name here with\n");
        o.push_str(&format!(
            "# default '{EXCLUSIVE_CONFIG}', and each node's nvidia.com/device-plugin.config label picks one.\n"
        ));
        o.push_str("# A config applies to every GPU of a node; time-slicing and MPS are exclusive on a node.\n");
        o.push_str("# failRequestsGreaterThanOne: a pod asks for one replica; more would not buy a bigger share.\n");
        o.push_str("apiVersion: v1\nkind: ConfigMap\nmetadata:\n");
        o.push_str(&format!(
            "  name: {}\n  namespace: {}\n",
            q(&self.plugin_configmap_name()),
            q(GPU_OPERATOR_NAMESPACE)
        ));
        o.push_str("data:\n");
        let mut kinds: Vec<&PoolKind> = vec![&PoolKind::Exclusive];
        for p in &self.pools {
            if !kinds.iter().any(|k| k.plugin_config() == p.kind.plugin_config()) {
                kinds.push(&p.kind);
            }
        }
        for kind in kinds {
            o.push_str(&format!("  {}: |-\n", kind.plugin_config()));
            for l in Self::plugin_config_text(kind).lines() {
                o.push_str(&format!("    {l}\n"));
            }
        }
        o
    }

    fn operator_values(&self) -> String {
        let mut o = self.header("Helm values for the NVIDIA GPU Operator (chart nvidia/gpu-operator).");
        o.push_str(&format!(
            "# Apply the ConfigMaps in namespace {GPU_OPERATOR_NAMESPACE} first, then:\n"
        ));
        o.push_str(&format!(
            "#   helm upgrade --install gpu-operator nvidia/gpu-operator -n {GPU_OPERATOR_NAMESPACE} -f gpu-operator-values.yaml\n"
        ));
        o.push_str("# (merge into your own values file if you have one).\n");
        let strategy = match (self.needs_mixed(), self.has_mps_pools()) {
            (true, true) => {
                o.push_str("# mig.strategy is left unset: when set, the operator passes it to the device plugin as MIG_STRATEGY,\n");
                o.push_str("# which overrides each config's flags.migStrategy, and MIG nodes need 'mixed' while the plugin\n");
                o.push_str("# refuses MPS with 'mixed'. Unset, every node uses the migStrategy of its own config.\n");
                ""
            }
            (true, false) => {
                o.push_str("# mig.strategy mixed: MIG instances are requested per profile (nvidia.com/mig-<profile>).\n");
                "mixed"
            }
            (false, _) => {
                o.push_str("# mig.strategy none: no node of this plan uses MIG (other MIG nodes of the cluster would need 'mixed').\n");
                "none"
            }
        };
        o.push_str(&format!("mig:\n  strategy: {}\n", q(strategy)));
        if self.gpu.has_mig() {
            o.push_str("migManager:\n  config:\n");
            o.push_str(&format!(
                "    name: {}\n    default: {}\n",
                q(&self.mig_configmap_name()),
                q(MIG_DISABLED_CONFIG)
            ));
        }
        o.push_str("devicePlugin:\n  config:\n");
        o.push_str(&format!(
            "    name: {}\n    default: {}\n",
            q(&self.plugin_configmap_name()),
            q(EXCLUSIVE_CONFIG)
        ));
        o
    }

    fn node_labels(&self) -> String {
        let per = self.d.gpus_per_node;
        let mut o = String::from("#!/bin/sh\n");
        o.push_str(&format!(
            "# Node labels for gpuslice deployment '{}': {} x {} ({}), {per} GPUs per node.\n",
            self.d.name,
            self.d.gpus.len(),
            self.gpu.name,
            self.gpu.display
        ));
        o.push_str("#\n# Nodes of one configuration form a pool. A time-sliced or MPS GPU is the only GPU of its node that\n");
        o.push_str("# advertises nvidia.com/gpu (the device plugin picks a replica's GPU by its own policy, so two shared\n");
        o.push_str("# GPUs on one node could mix their tenants); MIG GPUs and whole GPUs share nodes (strategy mixed).\n");
        o.push_str(&format!("# The Deployments select a pool by its {POOL_LABEL} label.\n"));
        if !self.gpu.has_mig() {
            o.push_str(&format!(
                "# {} has no MIG, so no nvidia.com/mig.config label is set.\n",
                self.gpu.name
            ));
        }
        o.push_str("#\n# Replace the placeholder node names (REPLACE-pool<k>-node<j>) with nodes of that GPU type, e.g. from\n");
        o.push_str("#   kubectl get nodes -l nvidia.com/gpu.present=true\n");
        o.push_str(&format!(
            "# In all: {} node(s), {} pool(s), {} planned GPU(s).\nset -eu\n",
            self.node_count(),
            self.pools.len(),
            self.d.gpus.len()
        ));
        for (k, pool) in self.pools.iter().enumerate() {
            let n = pool.nodes.len();
            let planned: usize = pool.nodes.iter().map(Vec::len).sum();
            let spare = n * per as usize - planned;
            o.push_str(&format!(
                "\n# Pool {}: {} node(s), {planned} planned GPU(s), {spare} spare. Devices: {}.\n",
                k + 1,
                n,
                pool.describe()
            ));
            o.push_str(&format!("#   plan GPU indices per node: {:?}; tenants: {}\n", pool.nodes, self.tenants_of(k)));
            if !Self::pinned(pool) {
                o.push_str(&format!(
                    "#   NOT PINNED: the node's {} other whole GPU(s) also advertise nvidia.com/gpu replicas, and the device\n",
                    pool.devices.iter().filter(|x| **x == DevCfg::Whole).count() - 1
                ));
                o.push_str("#   plugin's distributed policy spreads the group's pods over them (each tenant on a GPU of its own\n");
                o.push_str("#   while free GPUs remain): at least as fast as planned, on the same nodes. Nodes of 1 GPU pin it.\n");
            }
            let labels: Vec<String> = self.pool_labels(k).iter().map(|(key, v)| format!("{key}={v}")).collect();
            for j in 1..=n {
                o.push_str(&format!(
                    "kubectl label node REPLACE-pool{}-node{j} {} --overwrite\n",
                    k + 1,
                    labels.join(" ")
                ));
            }
        }
        o
    }

    /// The apply order, with the wait for the MIG layout between labelling and the Deployments.
    fn apply_script(&self) -> String {
        let mut o = String::from("#!/bin/sh\n");
        o.push_str(&format!("# Apply gpuslice deployment '{}' in order. Run from this folder.\nset -eu\n", self.d.name));
        let cms: Vec<&str> = if self.gpu.has_mig() {
            vec!["mig-parted-config.yaml", "device-plugin-config.yaml"]
        } else {
            vec!["device-plugin-config.yaml"]
        };
        o.push_str(&format!("kubectl create namespace {GPU_OPERATOR_NAMESPACE} --dry-run=client -o yaml | kubectl apply -f -\n"));
        for f in cms {
            o.push_str(&format!("kubectl apply -f {f}\n"));
        }
        o.push_str(&format!(
            "helm upgrade --install gpu-operator nvidia/gpu-operator -n {GPU_OPERATOR_NAMESPACE} -f gpu-operator-values.yaml\n"
        ));
        o.push_str("sh node-labels.sh\n");
        if self.gpu.has_mig() {
            o.push_str("# The MIG manager sets nvidia.com/mig.config.state=success once a node's layout is applied (the\n");
            o.push_str("# Deployments also select it, so no pod lands on a node mid-change).\n");
            for k in 0..self.pools.len() {
                o.push_str(&format!(
                    "kubectl wait node -l {POOL_LABEL}={} --for=jsonpath='{{.metadata.labels.nvidia\\.com/mig\\.config\\.state}}'=success --timeout=15m\n",
                    self.pool_name(k)
                ));
            }
        }
        o.push_str(&format!(
            "kubectl create namespace {} --dry-run=client -o yaml | kubectl apply -f -\n",
            self.d.namespace
        ));
        for w in &self.workloads {
            o.push_str(&format!("kubectl apply -f deployment-{}.yaml\n", w.name));
        }
        o
    }

    fn deployment(&self, w: &Workload) -> String {
        let pool = &self.pools[w.pool];
        let mut o = format!(
            "# Deployment of model '{}' for gpuslice deployment '{}': {} replica(s) on pool {} ({}).\n",
            w.model,
            self.d.name,
            w.replicas,
            w.pool + 1,
            pool.describe()
        );
        o.push_str("# Replace the placeholder image with your model server, and add its ports, probes and env; the CPU\n");
        let units = if w.per_pod == 1 { "one unit".to_string() } else { format!("{} units", w.per_pod) };
        o.push_str(&format!(
            "# and memory requests are placeholders. Each pod asks for {units} of the resource below; the nodeSelector\n"
        ));
        o.push_str("# keeps it on the pool's nodes (labelled by node-labels.sh).\n");
        let spread = pool.nodes.len() > 1 || matches!(pool.kind, PoolKind::TimeSliced { .. } | PoolKind::Mps { .. });
        if spread {
            o.push_str("# The spread constraint puts the same number of these pods on every node of the pool, as planned.\n");
        }
        o.push_str("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n");
        o.push_str(&format!("  name: {}\n  namespace: {}\n", q(&w.name), q(&self.d.namespace)));
        let labels = format!(
            "    app.kubernetes.io/name: {}\n    app.kubernetes.io/part-of: {}\n",
            q(&w.name),
            q(&self.d.name)
        );
        o.push_str(&format!("  labels:\n{labels}"));
        o.push_str(&format!("spec:\n  replicas: {}\n", w.replicas));
        o.push_str(&format!(
            "  selector:\n    matchLabels:\n      app.kubernetes.io/name: {}\n",
            q(&w.name)
        ));
        o.push_str("  template:\n    metadata:\n      labels:\n");
        for l in labels.lines() {
            o.push_str(&format!("    {l}\n"));
        }
        o.push_str("    spec:\n      nodeSelector:\n");
        for (key, v) in self.pool_labels(w.pool) {
            o.push_str(&format!("        {key}: {}\n", q(&v)));
        }
        if self.gpu.has_mig() {
            o.push_str(&format!("        nvidia.com/mig.config.state: {}\n", q("success")));
        }
        if let Some(products) = gpu_products(&self.gpu.name) {
            // GPU feature discovery's product label; time-sliced and MPS nodes append -SHARED.
            let values: Vec<String> = products.iter().flat_map(|p| [q(p), q(&format!("{p}-SHARED"))]).collect();
            o.push_str("      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n");
            o.push_str("            nodeSelectorTerms:\n              - matchExpressions:\n");
            o.push_str(&format!(
                "                  - key: \"nvidia.com/gpu.product\"\n                    operator: In\n                    values: [{}]\n",
                values.join(", ")
            ));
        }
        o.push_str("      tolerations:\n        - key: \"nvidia.com/gpu\"\n          operator: Exists\n          effect: NoSchedule\n");
        if spread {
            o.push_str("      topologySpreadConstraints:\n        - maxSkew: 1\n          topologyKey: \"kubernetes.io/hostname\"\n");
            o.push_str("          whenUnsatisfiable: DoNotSchedule\n          labelSelector:\n            matchLabels:\n");
            o.push_str(&format!("              app.kubernetes.io/name: {}\n", q(&w.name)));
        }
        o.push_str("      containers:\n");
        o.push_str(&format!("        - name: {}\n", q(&w.model)));
        o.push_str(&format!(
            "          image: {}\n",
            q(&format!("registry.invalid/replace-me/{}:latest", w.model))
        ));
        o.push_str("          resources:\n");
        o.push_str(&format!(
            "            requests:\n              cpu: {}\n              memory: {}\n              {}: {}\n",
            q(CPU_REQUEST),
            q(MEMORY_REQUEST),
            w.resource,
            w.per_pod
        ));
        o.push_str(&format!("            limits:\n              {}: {}\n", w.resource, w.per_pod));
        o
    }
}

/// GPU feature discovery's `nvidia.com/gpu.product` values (the NVML device name, spaces as `-`)
/// of a catalog type, where NVIDIA's documentation shows them: "NVIDIA-H100-80GB-HBM3" in the GPU
/// Operator's MIG page's label dumps
/// (<https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-operator-mig.html>).
/// Other types get no product selector (the pool label still keeps pods on the planned nodes).
fn gpu_products(gpu: &str) -> Option<&'static [&'static str]> {
    match gpu {
        "h100-80gb" => Some(&["NVIDIA-H100-80GB-HBM3"]),
        _ => None,
    }
}

/// A YAML double-quoted scalar, in JSON string syntax (valid YAML 1.1 and 1.2).
fn q(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => o.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod cluster;
#[cfg(test)]
mod tests;
