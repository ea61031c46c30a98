//! (Test-only: it reads the files with the dev-dependency yaml-rust2.) A model of what a cluster does with the emitted files: the scheduler placing each
//! Deployment's pods on labelled nodes, and the NVIDIA device plugin handing each pod a device
//! by its allocation policy, so that tests can check that the placement the files produce is the
//! plan's (`tests`: under every pod order and every tie the policy leaves open).
//!
//! What is modelled, and from where:
//! * Nodes: `node-labels.sh` (one node per `kubectl label node` line), plus the label the MIG
//!   manager sets once the layout is applied (`nvidia.com/mig.config.state=success`). Each node's
//!   GPU is one of the type's SKUs, drawn per node; a mig-parted entry whose `device-filter` does
//!   not list it leaves the GPU unconfigured (MIG off), as `apply` does
//!   (github.com/NVIDIA/mig-parted `api/spec/v1/helpers.go`, `WalkSelectedMigConfigForEachGPU`).
//! * Advertised devices (k8s-device-plugin `internal/rm/device_map.go`, `internal/rm/rm.go`): a
//!   MIG-disabled GPU is `nvidia.com/gpu`, replicated `replicas` times when the node's config
//!   time-slices or MPS-shares it; under `migStrategy: mixed` a MIG instance is
//!   `nvidia.com/mig-<profile>` and a MIG-enabled GPU without instances advertises nothing; under
//!   `none` a MIG-enabled GPU is a whole `nvidia.com/gpu`.
//! * Scheduling: a pod may go to any node whose labels match its nodeSelector, with enough free
//!   units of its resource and, with a `maxSkew: 1` hostname spread, no more than one pod above
//!   the least-loaded matching node (Kubernetes "Pod Topology Spread Constraints",
//!   <https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/>).
//!   Which such node is left to the seed (the scheduler's scores are not modelled: every choice
//!   must give the plan).
//! * Allocation (`internal/rm/allocate.go`, policy `distributed`, the default): each replica
//!   from the GPU with the fewest replicas handed out, ties left to the seed (the plugin breaks
//!   them by Go map order). Whole GPUs and MIG instances: any free ones.
//!
//! Not modelled: the `nvidia.com/gpu.product` affinity (nodes are of the planned type here).

use super::K8sFile;
use crate::gpu::Catalog;
use std::collections::BTreeMap;
use yaml_rust2::{Yaml, YamlLoader};

/// Where the pods ended up, node by node, in a form that does not depend on node names or
/// device order: per node its whole GPUs' tenants (each sorted; GPUs without tenants left out)
/// and per MIG profile the models on its instances (sorted), nodes sorted.
pub type ClusterView = Vec<(Vec<Vec<String>>, Vec<(String, Vec<String>)>)>;

/// A seeded generator for the choices the cluster leaves open.
struct Choice(u64);

impl Choice {
    fn pick(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n.max(1) as u64) as usize
    }
}

/// One advertised unit source: a GPU or a MIG instance.
struct Device {
    resource: String,
    /// Units it offers (replicas of a shared GPU; 1 otherwise).
    replicas: u32,
    /// Models of the units handed out.
    tenants: Vec<String>,
}

struct Node {
    labels: BTreeMap<String, String>,
    devices: Vec<Device>,
}

fn doc(text: &str) -> Result<Yaml, String> {
    YamlLoader::load_from_str(text)
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or_else(|| "empty document".to_string())
}

fn file<'a>(files: &'a [K8sFile], name: &str) -> Option<&'a str> {
    files.iter().find(|f| f.name == name).map(|f| f.text.as_str())
}

/// The nodes of `node-labels.sh`, their GPUs configured by the mig-parted and device-plugin
/// configs their labels name.
fn nodes(files: &[K8sFile], gpu_type: &str, gpus_per_node: u32, ch: &mut Choice) -> Result<Vec<Node>, String> {
    let cat = Catalog::builtin();
    let gpu = cat.gpu(gpu_type).ok_or("unknown GPU type")?;
    let mig = match file(files, "mig-parted-config.yaml") {
        Some(t) => {
            let cm = doc(t)?;
            doc(cm["data"]["config.yaml"].as_str().ok_or("no config.yaml")?)?
        }
        None => Yaml::BadValue,
    };
    let plugin = doc(file(files, "device-plugin-config.yaml").ok_or("no device-plugin config")?)?;
    let values = doc(file(files, "gpu-operator-values.yaml").ok_or("no operator values")?)?;
    let cluster_strategy = values["mig"]["strategy"].as_str().unwrap_or("").to_string();
    let mut out = Vec::new();
    for line in file(files, "node-labels.sh").ok_or("no node-labels.sh")?.lines() {
        let Some(rest) = line.strip_prefix("kubectl label node ") else { continue };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let mut labels: BTreeMap<String, String> = words[1..]
            .iter()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sku = &gpu.pci_ids[ch.pick(gpu.pci_ids.len())];
        // Per GPU: MIG layout (None: MIG off).
        let mut layout: Vec<Option<Vec<(String, u32)>>> = vec![None; gpus_per_node as usize];
        if let Some(name) = labels.get("nvidia.com/mig.config") {
            let entries = mig["mig-configs"][name.as_str()].as_vec().ok_or(format!("no mig config {name}"))?;
            for e in entries {
                let matches = match &e["device-filter"] {
                    Yaml::BadValue => true,
                    Yaml::String(s) => s == sku,
                    Yaml::Array(a) => a.iter().any(|x| x.as_str() == Some(sku)),
                    _ => false,
                };
                if !matches {
                    continue;
                }
                let idx: Vec<usize> = match &e["devices"] {
                    Yaml::String(s) if s == "all" => (0..layout.len()).collect(),
                    Yaml::Array(a) => a.iter().filter_map(|x| x.as_i64()).map(|x| x as usize).collect(),
                    _ => return Err("bad devices".into()),
                };
                let enabled = e["mig-enabled"].as_bool().ok_or("mig-enabled")?;
                let l: Vec<(String, u32)> = e["mig-devices"]
                    .as_hash()
                    .map(|h| h.iter().map(|(k, v)| (k.as_str().unwrap_or("").to_string(), v.as_i64().unwrap_or(0) as u32)).collect())
                    .unwrap_or_default();
                for i in idx {
                    if i < layout.len() {
                        layout[i] = enabled.then(|| l.clone());
                    }
                }
            }
            labels.insert("nvidia.com/mig.config.state".into(), "success".into());
        }
        let cfg_name = labels.get("nvidia.com/device-plugin.config").cloned().unwrap_or_default();
        let cfg = doc(plugin["data"][cfg_name.as_str()].as_str().ok_or(format!("no plugin config {cfg_name}"))?)?;
        // The operator's MIG_STRATEGY, when set, overrides the config's flag.
        let strategy = if cluster_strategy.is_empty() {
            cfg["flags"]["migStrategy"].as_str().unwrap_or("none").to_string()
        } else {
            cluster_strategy.clone()
        };
        let sharing = if !cfg["sharing"]["mps"].is_badvalue() {
            &cfg["sharing"]["mps"]
        } else {
            &cfg["sharing"]["timeSlicing"]
        };
        let mut replicas: BTreeMap<String, u32> = BTreeMap::new();
        for r in sharing["resources"].as_vec().into_iter().flatten() {
            replicas.insert(r["name"].as_str().unwrap_or("").to_string(), r["replicas"].as_i64().unwrap_or(1) as u32);
        }
        let mut devices = Vec::new();
        for l in &layout {
            match l {
                Some(l) if strategy == "mixed" => {
                    for (p, n) in l {
                        let resource = format!("nvidia.com/mig-{}", p.replace('+', "."));
                        for _ in 0..*n {
                            let r = replicas.get(&resource).copied().unwrap_or(1);
                            devices.push(Device { resource: resource.clone(), replicas: r, tenants: Vec::new() });
                        }
                    }
                }
                _ => {
                    let r = replicas.get("nvidia.com/gpu").copied().unwrap_or(1);
                    devices.push(Device { resource: "nvidia.com/gpu".into(), replicas: r, tenants: Vec::new() });
                }
            }
        }
        out.push(Node { labels, devices });
    }
    Ok(out)
}

/// One Deployment's pods.
struct Pods {
    model: String,
    selector: Vec<(String, String)>,
    resource: String,
    per_pod: u32,
    replicas: u32,
    spread: bool,
}

fn deployments(files: &[K8sFile]) -> Result<Vec<Pods>, String> {
    let mut out = Vec::new();
    for f in files.iter().filter(|f| f.name.starts_with("deployment-")) {
        let d = doc(&f.text)?;
        let spec = &d["spec"]["template"]["spec"];
        let selector = spec["nodeSelector"]
            .as_hash()
            .map(|h| h.iter().map(|(k, v)| (k.as_str().unwrap_or("").to_string(), v.as_str().unwrap_or("").to_string())).collect())
            .unwrap_or_default();
        let limits = spec["containers"][0]["resources"]["limits"].as_hash().ok_or("no limits")?;
        let (resource, n) = limits.iter().next().ok_or("no resource")?;
        let spread = spec["topologySpreadConstraints"]
            .as_vec()
            .is_some_and(|v| v.iter().any(|c| c["maxSkew"].as_i64() == Some(1) && c["topologyKey"].as_str() == Some("kubernetes.io/hostname")));
        out.push(Pods {
            model: spec["containers"][0]["name"].as_str().unwrap_or("").to_string(),
            selector,
            resource: resource.as_str().unwrap_or("").to_string(),
            per_pod: n.as_i64().unwrap_or(1) as u32,
            replicas: d["spec"]["replicas"].as_i64().unwrap_or(0) as u32,
            spread,
        });
    }
    Ok(out)
}

/// Apply the files to a cluster of their nodes, pods in an order and with ties drawn from
/// `seed`; the placement, or why a pod found no node.
pub fn simulate(files: &[K8sFile], gpu_type: &str, gpus_per_node: u32, seed: u64) -> Result<ClusterView, String> {
    let mut ch = Choice(seed);
    let mut nodes = nodes(files, gpu_type, gpus_per_node, &mut ch)?;
    let deps = deployments(files)?;
    let mut pods: Vec<usize> = deps.iter().enumerate().flat_map(|(k, d)| std::iter::repeat_n(k, d.replicas as usize)).collect();
    for i in (1..pods.len()).rev() {
        pods.swap(i, ch.pick(i + 1));
    }
    let mut count: BTreeMap<(usize, usize), u32> = BTreeMap::new();
    for &k in &pods {
        let d = &deps[k];
        let eligible: Vec<usize> = (0..nodes.len())
            .filter(|&n| d.selector.iter().all(|(key, v)| nodes[n].labels.get(key) == Some(v)))
            .collect();
        let least = eligible.iter().map(|&n| count.get(&(k, n)).copied().unwrap_or(0)).min().unwrap_or(0);
        let free = |node: &Node| -> u32 {
            node.devices.iter().filter(|x| x.resource == d.resource).map(|x| x.replicas - x.tenants.len() as u32).sum()
        };
        let fits: Vec<usize> = eligible
            .iter()
            .copied()
            .filter(|&n| free(&nodes[n]) >= d.per_pod)
            .filter(|&n| !d.spread || count.get(&(k, n)).copied().unwrap_or(0) < least + 1)
            .collect();
        if fits.is_empty() {
            return Err(format!("a pod of {} found no node", d.model));
        }
        let n = fits[ch.pick(fits.len())];
        *count.entry((k, n)).or_insert(0) += 1;
        let node = &mut nodes[n];
        let shared = node.devices.iter().any(|x| x.resource == d.resource && x.replicas > 1);
        for _ in 0..d.per_pod {
            let open: Vec<usize> = (0..node.devices.len())
                .filter(|&i| node.devices[i].resource == d.resource && (node.devices[i].tenants.len() as u32) < node.devices[i].replicas)
                .collect();
            // distributed: the fewest handed out; whole GPUs and MIG instances: any free one.
            let fewest = open.iter().map(|&i| node.devices[i].tenants.len()).min().unwrap_or(0);
            let best: Vec<usize> = if shared {
                open.into_iter().filter(|&i| node.devices[i].tenants.len() == fewest).collect()
            } else {
                open
            };
            let i = best[ch.pick(best.len())];
            node.devices[i].tenants.push(d.model.clone());
        }
    }
    let mut view: ClusterView = nodes
        .iter()
        .map(|node| {
            let mut whole: Vec<Vec<String>> = Vec::new();
            let mut mig: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for x in &node.devices {
                if x.resource == "nvidia.com/gpu" {
                    if !x.tenants.is_empty() {
                        let mut t = x.tenants.clone();
                        t.sort();
                        whole.push(t);
                    }
                } else {
                    mig.entry(x.resource.trim_start_matches("nvidia.com/mig-").to_string()).or_default().extend(x.tenants.iter().cloned());
                }
            }
            node_view(whole, mig)
        })
        .collect();
    view.sort();
    Ok(view)
}

/// One node of a view in its canonical form: GPUs and each profile's tenants sorted, profiles
/// with no tenant left out, so that the cluster's placement and the plan's compare equal.
fn node_view(mut whole: Vec<Vec<String>>, mig: BTreeMap<String, Vec<String>>) -> (Vec<Vec<String>>, Vec<(String, Vec<String>)>) {
    whole.sort();
    let mig = mig
        .into_iter()
        .filter(|(_, t)| !t.is_empty())
        .map(|(p, mut t)| {
            t.sort();
            (p, t)
        })
        .collect();
    (whole, mig)
}

/// The plan's placement in the same form: each node of `nodes` (GPU indices into `d.gpus`).
pub fn planned(d: &super::K8sDeployment, nodes: &[Vec<usize>]) -> ClusterView {
    let mut view: ClusterView = nodes
        .iter()
        .map(|node| {
            let mut whole: Vec<Vec<String>> = Vec::new();
            let mut mig: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for &i in node {
                match &d.gpus[i] {
                    super::K8sGpu::Dedicated { model } => whole.push(vec![model.clone()]),
                    super::K8sGpu::TimeSliced { models } | super::K8sGpu::Mps { models } => {
                        let mut t = models.clone();
                        t.sort();
                        whole.push(t);
                    }
                    super::K8sGpu::Mig { instances } => {
                        for (p, m) in instances {
                            if let Some(m) = m {
                                mig.entry(p.name.replace('+', ".")).or_default().push(m.clone());
                            }
                        }
                    }
                }
            }
            node_view(whole, mig)
        })
        .collect();
    view.sort();
    view
}
