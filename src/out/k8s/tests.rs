//! Tests of the Kubernetes files: every emitted YAML parsed (yaml-rust2) and checked for the
//! structure NVIDIA's tools read.

use super::*;
use yaml_rust2::{Yaml, YamlLoader};

fn ded(m: &str) -> K8sGpu {
    K8sGpu::Dedicated { model: m.to_string() }
}
fn ts(ms: &[&str]) -> K8sGpu {
    K8sGpu::TimeSliced {
        models: ms.iter().map(|m| m.to_string()).collect(),
    }
}
fn mps(ms: &[&str]) -> K8sGpu {
    K8sGpu::Mps {
        models: ms.iter().map(|m| m.to_string()).collect(),
    }
}
/// MIG instances by profile name, the profiles of GPU type `gpu`.
fn mig(gpu: &str, inst: &[(&str, Option<&str>)]) -> K8sGpu {
    let gpu = Catalog::builtin().gpu(gpu).expect("catalog GPU");
    let profile = |name: &str| {
        gpu.mig_profile(name)
            .unwrap_or_else(|| panic!("{} has no profile {name}", gpu.name))
            .clone()
    };
    K8sGpu::Mig {
        instances: inst.iter().map(|(p, m)| (profile(p), m.map(str::to_string))).collect(),
    }
}

/// The files of a deployment, by name.
struct Out(Vec<K8sFile>);

impl Out {
    fn of(d: &K8sDeployment) -> Out {
        Out(emit(d).unwrap_or_else(|e| panic!("emit failed: {e}")))
    }
    fn text(&self, name: &str) -> &str {
        &self
            .0
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no file {name}"))
            .text
    }
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|f| f.name == name)
    }
    /// The one YAML document of a file.
    fn yaml(&self, name: &str) -> Yaml {
        one_doc(self.text(name), name)
    }
    /// The mig-parted config inside the MIG ConfigMap.
    fn mig_parted(&self) -> Yaml {
        let cm = self.yaml("mig-parted-config.yaml");
        assert_eq!(cm["kind"].as_str(), Some("ConfigMap"));
        let inner = cm["data"]["config.yaml"].as_str().expect("key config.yaml");
        one_doc(inner, "config.yaml")
    }
    /// The named device-plugin configs inside the device-plugin ConfigMap.
    fn plugin_configs(&self) -> Vec<(String, Yaml)> {
        let cm = self.yaml("device-plugin-config.yaml");
        assert_eq!(cm["kind"].as_str(), Some("ConfigMap"));
        cm["data"]
            .as_hash()
            .expect("data")
            .iter()
            .map(|(k, v)| {
                let k = k.as_str().expect("key").to_string();
                let doc = one_doc(v.as_str().expect("config text"), &k);
                (k, doc)
            })
            .collect()
    }
    fn plugin_config(&self, name: &str) -> Yaml {
        self.plugin_configs()
            .into_iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("no device-plugin config {name}"))
            .1
    }
    fn deployments(&self) -> Vec<Yaml> {
        self.0
            .iter()
            .filter(|f| f.name.starts_with("deployment-"))
            .map(|f| one_doc(&f.text, &f.name))
            .collect()
    }
    fn deployment(&self, name: &str) -> Yaml {
        self.yaml(&format!("deployment-{name}.yaml"))
    }
    /// `kubectl label node` lines as (node, [(key, value)]).
    fn labels(&self) -> Vec<(String, Vec<(String, String)>)> {
        self.text("node-labels.sh")
            .lines()
            .filter(|l| l.starts_with("kubectl label node "))
            .map(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                assert_eq!(words.last(), Some(&"--overwrite"), "{l}");
                let kv = words[4..words.len() - 1]
                    .iter()
                    .map(|w| {
                        let (k, v) = w.split_once('=').expect("key=value");
                        (k.to_string(), v.to_string())
                    })
                    .collect();
                (words[3].to_string(), kv)
            })
            .collect()
    }
}

fn one_doc(text: &str, name: &str) -> Yaml {
    let mut docs = YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}\n{text}"));
    assert_eq!(docs.len(), 1, "{name}: one document");
    docs.remove(0)
}

fn mig_devices(cfg: &Yaml) -> Vec<(String, i64)> {
    cfg["mig-devices"]
        .as_hash()
        .expect("mig-devices")
        .iter()
        .map(|(k, v)| (k.as_str().expect("profile").to_string(), v.as_i64().expect("count")))
        .collect()
}

/// (resource name, count) pairs.
type Counts = Vec<(String, i64)>;

/// The container's requests and limits.
fn resources(dep: &Yaml) -> (Counts, Counts) {
    let c = &dep["spec"]["template"]["spec"]["containers"][0]["resources"];
    let list = |y: &Yaml| {
        y.as_hash()
            .expect("resources")
            .iter()
            .map(|(k, v)| (k.as_str().expect("name").to_string(), v.as_i64().unwrap_or(-1)))
            .collect::<Vec<_>>()
    };
    (list(&c["requests"]), list(&c["limits"]))
}

fn node_selector(dep: &Yaml) -> Vec<(String, String)> {
    dep["spec"]["template"]["spec"]["nodeSelector"]
        .as_hash()
        .expect("nodeSelector")
        .iter()
        .map(|(k, v)| (k.as_str().expect("key").to_string(), v.as_str().expect("value").to_string()))
        .collect()
}

/// Checks every deployment must pass, whatever its plan.
fn check_common(out: &Out, d: &K8sDeployment) {
    // Every file but the script is one YAML document; the script's comments are shell comments.
    for f in &out.0 {
        if f.name.ends_with(".yaml") {
            one_doc(&f.text, &f.name);
        }
    }
    let gpu = Catalog::builtin().gpu(&d.gpu_type).expect("gpu");
    assert_eq!(out.has("mig-parted-config.yaml"), gpu.has_mig());
    let mig_names: Vec<String> = if gpu.has_mig() {
        let mp = out.mig_parted();
        assert_eq!(mp["version"].as_str(), Some("v1"));
        let configs = mp["mig-configs"].as_hash().expect("mig-configs");
        assert_eq!(mp["mig-configs"]["all-disabled"][0]["mig-enabled"].as_bool(), Some(false));
        assert_eq!(mp["mig-configs"]["all-disabled"][0]["devices"].as_str(), Some("all"));
        for (name, entries) in configs {
            for e in entries.as_vec().expect("a list of entries") {
                // spec.go: devices and mig-enabled are required; mig-devices iff enabled.
                assert!(
                    e["devices"].as_str() == Some("all") || e["devices"].as_vec().is_some_and(|v| v.iter().all(|i| i.as_i64().is_some_and(|i| i >= 0))),
                    "{name:?}"
                );
                if name.as_str() != Some("all-disabled") {
                    // Every SKU of the type (a missing one leaves its GPUs unconfigured).
                    let ids: Vec<&str> = e["device-filter"].as_vec().expect("device-filter").iter().filter_map(|x| x.as_str()).collect();
                    assert_eq!(ids, gpu.pci_ids.iter().map(String::as_str).collect::<Vec<_>>(), "{name:?}");
                }
                let enabled = e["mig-enabled"].as_bool().expect("mig-enabled");
                assert_eq!(enabled, !e["mig-devices"].is_badvalue(), "{name:?}");
            }
        }
        configs.keys().map(|k| k.as_str().expect("name").to_string()).collect()
    } else {
        Vec::new()
    };
    let plugin = out.plugin_configs();
    for (name, c) in &plugin {
        assert_eq!(c["version"].as_str(), Some("v1"), "{name}");
        let strategy = c["flags"]["migStrategy"].as_str().expect("migStrategy");
        assert!(["none", "mixed"].contains(&strategy), "{name}");
        let ts = &c["sharing"]["timeSlicing"];
        let mps = &c["sharing"]["mps"];
        assert!(ts.is_badvalue() || mps.is_badvalue(), "{name}: time-slicing and MPS are exclusive");
        if !mps.is_badvalue() {
            assert_eq!(strategy, "none", "{name}: the plugin refuses MPS with mixed");
        }
        for s in [ts, mps] {
            if !s.is_badvalue() {
                assert_eq!(s["resources"][0]["name"].as_str(), Some("nvidia.com/gpu"));
                assert!(s["resources"][0]["replicas"].as_i64().expect("replicas") >= 2);
            }
        }
    }
    let values = out.yaml("gpu-operator-values.yaml");
    let default = values["devicePlugin"]["config"]["default"].as_str().expect("default");
    assert!(plugin.iter().any(|(k, _)| k == default), "default device-plugin config exists");
    assert_eq!(
        values["devicePlugin"]["config"]["name"].as_str(),
        out.yaml("device-plugin-config.yaml")["metadata"]["name"].as_str()
    );
    if gpu.has_mig() {
        assert_eq!(
            values["migManager"]["config"]["name"].as_str(),
            out.yaml("mig-parted-config.yaml")["metadata"]["name"].as_str()
        );
    }
    // Node labels name configs that exist; nodes are unique.
    let labels = out.labels();
    let mut nodes: Vec<&str> = labels.iter().map(|(n, _)| n.as_str()).collect();
    nodes.sort_unstable();
    nodes.dedup();
    assert_eq!(nodes.len(), labels.len(), "node names are unique");
    for (node, kv) in &labels {
        for (k, v) in kv {
            match k.as_str() {
                "nvidia.com/mig.config" => assert!(mig_names.contains(v), "{node}: mig config {v}"),
                "nvidia.com/device-plugin.config" => assert!(plugin.iter().any(|(n, _)| n == v), "{node}: plugin config {v}"),
                "gpuslice.io/node-pool" => assert!(v.starts_with(&d.name), "{node}: pool {v}"),
                _ => panic!("unexpected label {k}"),
            }
            assert!(
                v.len() <= 63 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                "label value {v}"
            );
        }
    }
    // Each Deployment selects labelled nodes, requests what it limits, and the replicas add up
    // to the plan's tenants.
    let mut planned = 0;
    let mut dedicated: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for g in &d.gpus {
        planned += match g {
            K8sGpu::Dedicated { model } => {
                *dedicated.entry(model.as_str()).or_insert(0) += 1;
                0
            }
            K8sGpu::TimeSliced { models } | K8sGpu::Mps { models } => models.len(),
            K8sGpu::Mig { instances } => instances.iter().filter(|(_, m)| m.is_some()).count(),
        };
    }
    // A multi-GPU replica is one pod.
    planned += dedicated.iter().map(|(m, n)| n / d.replica_gpus.get(*m).copied().unwrap_or(1).max(1) as usize).sum::<usize>();
    let mut replicas = 0;
    for dep in out.deployments() {
        assert_eq!(dep["apiVersion"].as_str(), Some("apps/v1"));
        assert_eq!(dep["kind"].as_str(), Some("Deployment"));
        let sel: Vec<(String, String)> = node_selector(&dep);
        // The MIG manager's state label is set by the cluster, the others by node-labels.sh.
        assert_eq!(
            sel.iter().any(|(k, v)| k == "nvidia.com/mig.config.state" && v == "success"),
            gpu.has_mig(),
            "{sel:?}"
        );
        assert!(
            labels
                .iter()
                .any(|(_, kv)| sel.iter().filter(|(k, _)| k != "nvidia.com/mig.config.state").all(|s| kv.contains(s))),
            "a labelled node matches {sel:?}"
        );
        assert_eq!(dep["metadata"]["namespace"].as_str(), Some(d.namespace.as_str()));
        let tol = &dep["spec"]["template"]["spec"]["tolerations"][0];
        assert_eq!((tol["key"].as_str(), tol["operator"].as_str(), tol["effect"].as_str()), (Some("nvidia.com/gpu"), Some("Exists"), Some("NoSchedule")));
        let (req, lim) = resources(&dep);
        assert_eq!(req[..2].iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["cpu", "memory"]);
        assert_eq!(req[2..], lim[..]);
        assert_eq!(lim.len(), 1);
        let name = dep["metadata"]["name"].as_str().expect("name");
        assert_eq!(
            dep["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"].as_str(),
            Some(name)
        );
        assert_eq!(
            dep["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"].as_str(),
            Some(name)
        );
        replicas += dep["spec"]["replicas"].as_i64().expect("replicas");
    }
    assert_eq!(replicas, planned as i64);
    check_cluster(out, d);
}

/// Under every pod order and every tie the scheduler and the device plugin's policy leave open
/// (40 seeds of [`cluster::simulate`]), the pods land as planned: the same tenants on the same
/// GPU of the same node, wherever the files pin them.
fn check_cluster(out: &Out, d: &K8sDeployment) {
    let pools = node_pools(d).expect("pools");
    let nodes: Vec<Vec<usize>> = pools.iter().flat_map(|p| p.nodes.clone()).collect();
    let want = cluster::planned(d, &nodes);
    let pinned = !out.text("node-labels.sh").contains("NOT PINNED");
    for seed in 0..40 {
        let got = cluster::simulate(&out.0, &d.gpu_type, d.gpus_per_node, seed).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        if pinned {
            assert_eq!(got, want, "seed {seed}");
        }
    }
}

fn emit_checked(d: &K8sDeployment) -> Out {
    let out = Out::of(d);
    check_common(&out, d);
    out
}

/// The entry of a mig-parted config that enables MIG with instances.
fn mig_entry(mp: &Yaml, name: &str) -> Yaml {
    mp["mig-configs"][name]
        .as_vec()
        .unwrap_or_else(|| panic!("no mig config {name}"))
        .iter()
        .find(|e| e["mig-devices"].as_hash().is_some_and(|h| !h.is_empty()))
        .expect("a MIG entry")
        .clone()
}

fn pool_label(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

#[test]
fn all_dedicated_is_one_exclusive_pool() {
    let d = K8sDeployment::new("voice", "a100-80gb", vec![ded("asr"), ded("llm"), ded("tts")]);
    let out = emit_checked(&d);
    let mp = out.mig_parted();
    assert_eq!(mp["mig-configs"].as_hash().map(|h| h.len()), Some(1), "only all-disabled");
    assert_eq!(out.plugin_configs().len(), 1, "only exclusive");
    assert_eq!(out.plugin_config("exclusive")["flags"]["migStrategy"].as_str(), Some("none"));
    let labels = out.labels();
    assert_eq!(labels.len(), 1, "3 GPUs fit one node of 8");
    assert_eq!(
        labels[0].1,
        vec![
            pool_label("nvidia.com/mig.config", "all-disabled"),
            pool_label("nvidia.com/device-plugin.config", "exclusive"),
            pool_label("gpuslice.io/node-pool", "voice-pool1"),
        ]
    );
    for m in ["asr", "llm", "tts"] {
        let dep = out.deployment(m);
        assert_eq!(dep["spec"]["replicas"].as_i64(), Some(1));
        assert_eq!(resources(&dep).1, vec![("nvidia.com/gpu".to_string(), 1)]);
    }
    assert_eq!(out.yaml("gpu-operator-values.yaml")["mig"]["strategy"].as_str(), Some("none"));
    assert!(out.text("node-labels.sh").contains("1 node(s), 3 planned GPU(s), 5 spare"));
}

#[test]
fn asr_tts_time_sliced_and_dedicated_llm() {
    let d = K8sDeployment::new("voice", "a100-80gb", vec![ts(&["asr", "tts"]), ded("llm")]);
    let out = emit_checked(&d);
    // The time-sliced GPU's spare neighbours are parked (MIG on, no instances): mixed strategy.
    let c = out.plugin_config("time-sliced-2-mig-mixed");
    assert_eq!(c["sharing"]["timeSlicing"]["resources"][0]["name"].as_str(), Some("nvidia.com/gpu"));
    assert_eq!(
        c["sharing"]["timeSlicing"]["resources"][0]["replicas"].as_i64(),
        Some(2),
        "one replica per tenant"
    );
    assert_eq!(c["sharing"]["timeSlicing"]["failRequestsGreaterThanOne"].as_bool(), Some(true));
    assert_eq!(c["flags"]["migStrategy"].as_str(), Some("mixed"));
    assert_eq!(out.labels().len(), 2, "a shared GPU takes a node of its own; the dedicated one another");
    let mp = out.mig_parted();
    let parked = mp["mig-configs"]["mig-pool-1"].as_vec().expect("pool 1").iter().find(|e| e["mig-devices"].as_hash().is_some_and(|h| h.is_empty())).cloned();
    assert_eq!(parked.expect("parked entry")["devices"].as_vec().map(Vec::len), Some(7));
    for m in ["asr", "tts"] {
        let dep = out.deployment(m);
        assert_eq!(dep["spec"]["replicas"].as_i64(), Some(1));
        assert!(node_selector(&dep).contains(&pool_label("nvidia.com/device-plugin.config", "time-sliced-2-mig-mixed")));
        assert_eq!(dep["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["maxSkew"].as_i64(), Some(1));
    }
    let llm = out.deployment("llm");
    assert!(node_selector(&llm).contains(&pool_label("nvidia.com/device-plugin.config", "exclusive")));
}

fn mig_voice() -> K8sDeployment {
    K8sDeployment::new(
        "voice",
        "a100-80gb",
        vec![mig("a100-80gb", &[("3g.40gb", Some("asr")), ("3g.40gb", Some("tts"))]), ded("llm")],
    )
}

#[test]
fn two_3g_instances_and_dedicated_llm_on_a100_80gb_share_a_node() {
    let out = emit_checked(&mig_voice());
    let mp = out.mig_parted();
    // One node: the dedicated GPU and the spares MIG-off, the MIG GPU on device 1.
    let entries = mp["mig-configs"]["mig-pool-1"].as_vec().expect("pool 1").clone();
    assert_eq!(entries[0]["mig-enabled"].as_bool(), Some(false));
    assert_eq!(entries[0]["devices"].as_vec().map(Vec::len), Some(7));
    let cfg = mig_entry(&mp, "mig-pool-1");
    assert_eq!(cfg["devices"][0].as_i64(), Some(1));
    let ids: Vec<&str> = cfg["device-filter"].as_vec().expect("ids").iter().filter_map(|x| x.as_str()).collect();
    assert_eq!(ids, ["0x20B210DE", "0x20B510DE", "0x20F310DE", "0x20F510DE"], "A100/A800 80GB SXM and PCIe");
    assert_eq!(mig_devices(&cfg), vec![("3g.40gb".to_string(), 2)]);
    assert!(
        out.text("mig-parted-config.yaml").contains("            \"3g.40gb\": 2\n"),
        "quoted like NVIDIA's examples"
    );
    assert_eq!(out.plugin_config("mig-mixed")["flags"]["migStrategy"].as_str(), Some("mixed"));
    assert_eq!(out.labels().len(), 1);
    for m in ["asr", "tts"] {
        let dep = out.deployment(m);
        assert_eq!(resources(&dep).1, vec![("nvidia.com/mig-3g.40gb".to_string(), 1)]);
        assert_eq!(
            node_selector(&dep),
            vec![
                pool_label("nvidia.com/mig.config", "mig-pool-1"),
                pool_label("nvidia.com/device-plugin.config", "mig-mixed"),
                pool_label("gpuslice.io/node-pool", "voice-pool1"),
                pool_label("nvidia.com/mig.config.state", "success"),
            ]
        );
    }
    assert_eq!(resources(&out.deployment("llm")).1, vec![("nvidia.com/gpu".to_string(), 1)]);
    let values = out.yaml("gpu-operator-values.yaml");
    assert_eq!(values["mig"]["strategy"].as_str(), Some("mixed"));
    assert_eq!(values["migManager"]["config"]["default"].as_str(), Some("all-disabled"));
    // The ConfigMap the MIG manager reads lives in the operator namespace under key config.yaml.
    let cm = out.yaml("mig-parted-config.yaml");
    assert_eq!(cm["metadata"]["namespace"].as_str(), Some("gpu-operator"));
    assert_eq!(cm["metadata"]["name"].as_str(), Some("voice-mig-parted-config"));
    assert!(out.text("apply.sh").contains("kubectl wait node -l gpuslice.io/node-pool=voice-pool1 --for=jsonpath="));
}

#[test]
fn mps_gpus_take_a_node_each_and_nodes_of_one_gpu_pin_them() {
    let mut d = K8sDeployment::new("voice", "h100-80gb", vec![mps(&["asr", "tts", "asr"]), mps(&["asr", "tts", "asr"])]);
    d.gpus_per_node = 1;
    let out = emit_checked(&d);
    let c = out.plugin_config("mps-3");
    assert_eq!(c["sharing"]["mps"]["resources"][0]["replicas"].as_i64(), Some(3));
    assert!(c["sharing"]["timeSlicing"].is_badvalue());
    assert_eq!(out.deployment("asr")["spec"]["replicas"].as_i64(), Some(4));
    assert_eq!(out.deployment("tts")["spec"]["replicas"].as_i64(), Some(2));
    assert_eq!(out.labels().len(), 2);
    assert!(!out.text("node-labels.sh").contains("NOT PINNED"));
    // On nodes of 8, the node's spare whole GPUs share the resource: flagged, and the cluster
    // spreads the tenants (each alone while GPUs are free).
    d.gpus_per_node = 8;
    let out = emit_checked(&d);
    assert!(out.text("node-labels.sh").contains("NOT PINNED"));
    let got = cluster::simulate(&out.0, "h100-80gb", 8, 3).expect("placed");
    assert!(got.iter().all(|(whole, _)| whole.iter().all(|t| t.len() == 1)), "{got:?}");
}

#[test]
fn two_shared_gpus_on_one_node_would_mix_their_tenants() {
    // What the one-shared-GPU-per-node rule prevents: files for 2 time-sliced {asr, tts} GPUs on
    // one 2-GPU L4 node (no MIG to park spares), written as a single pool. Some pod order makes
    // the distributed policy put both asr pods on one GPU.
    let d = K8sDeployment::new("v", "l4", vec![ts(&["asr", "tts"]), ts(&["asr", "tts"])]);
    let mut d2 = d.clone();
    d2.gpus_per_node = 2;
    let out = Out::of(&{
        let mut x = d.clone();
        x.gpus_per_node = 1;
        x
    });
    // Rewrite the 1-GPU-node files as one 2-GPU node.
    let mut files = out.0.clone();
    for f in &mut files {
        if f.name == "node-labels.sh" {
            let first = f.text.lines().find(|l| l.starts_with("kubectl label node ")).expect("a node").to_string();
            f.text = f.text.lines().filter(|l| !l.starts_with("kubectl label node ")).chain([first.as_str()]).collect::<Vec<_>>().join("\n");
        }
    }
    let want = cluster::planned(&d2, &[vec![0, 1]]);
    let mixed = (0..40).any(|seed| cluster::simulate(&files, "l4", 2, seed).is_ok_and(|got| got != want));
    assert!(mixed, "some order mixes the pairs");
}

#[test]
fn mixed_pools_split_nodes_and_name_deployments_per_pool() {
    let mut d = K8sDeployment::new(
        "mixed",
        "h100-80gb",
        vec![
            ded("llm"),
            mig(
                "h100-80gb",
                &[
                    ("1g.10gb", Some("tts")),
                    ("3g.40gb", Some("llm")),
                    ("2g.20gb", Some("asr")),
                    ("1g.10gb", None),
                ],
            ),
            ts(&["asr", "tts"]),
            ded("llm"),
            mps(&["asr", "tts"]),
            mig(
                "h100-80gb",
                &[
                    ("3g.40gb", Some("llm")),
                    ("1g.10gb", Some("tts")),
                    ("1g.10gb", Some("tts")),
                    ("2g.20gb", Some("asr")),
                ],
            ),
            ded("llm"),
        ],
    );
    d.gpus_per_node = 2;
    let out = emit_checked(&d);
    // The time-sliced GPU takes a MIG GPU beside it; MPS alone; 3 dedicated + 1 MIG on 2 nodes.
    let labels = out.labels();
    assert_eq!(labels.len(), 4);
    let script = out.text("node-labels.sh");
    assert!(script.contains("In all: 4 node(s), 4 pool(s), 7 planned GPU(s)."), "{script}");
    let mp = out.mig_parted();
    let name = "mig-1x3g.40gb-1x2g.20gb-2x1g.10gb";
    assert!(
        mp["mig-configs"].as_hash().expect("configs").keys().all(|k| k.as_str() != Some(name)),
        "no node is all MIG"
    );
    let layouts: Vec<Vec<(String, i64)>> = mp["mig-configs"]
        .as_hash()
        .expect("configs")
        .values()
        .flat_map(|v| v.as_vec().cloned().unwrap_or_default())
        .filter(|e| e["mig-devices"].as_hash().is_some_and(|h| !h.is_empty()))
        .map(|e| mig_devices(&e))
        .collect();
    // The two MIG GPUs list their instances in different orders but have one layout.
    assert!(layouts.iter().all(|l| l == &vec![("3g.40gb".to_string(), 1), ("2g.20gb".to_string(), 1), ("1g.10gb".to_string(), 2)]));
    assert_eq!(layouts.len(), 2);
    assert!(!out.plugin_config("mps-2")["sharing"]["mps"].is_badvalue());
    assert_eq!(out.plugin_config("mps-2")["flags"]["migStrategy"].as_str(), Some("none"));
    assert!(!out.plugin_config("time-sliced-2-mig-mixed")["sharing"]["timeSlicing"].is_badvalue());
    // MIG and MPS nodes together: the cluster-wide strategy stays unset.
    let values = out.yaml("gpu-operator-values.yaml");
    assert_eq!(values["mig"]["strategy"].as_str(), Some(""));
}

#[test]
fn one_model_on_two_profiles_of_one_pool_gets_two_deployments() {
    let d = K8sDeployment::new(
        "p",
        "a100-80gb",
        vec![mig("a100-80gb", &[("4g.40gb", Some("llm")), ("3g.40gb", Some("llm"))])],
    );
    let out = emit_checked(&d);
    assert_eq!(resources(&out.deployment("llm-pool1-mig-4g-40gb")).1[0].0, "nvidia.com/mig-4g.40gb");
    assert_eq!(resources(&out.deployment("llm-pool1-mig-3g-40gb")).1[0].0, "nvidia.com/mig-3g.40gb");
}

#[test]
fn tensor_parallel_replicas_stay_on_one_node() {
    let mut d = K8sDeployment::new("p", "h100-80gb", vec![ded("llm"), ded("llm"), ded("llm"), ded("llm"), ded("asr"), ded("asr")]);
    d.replica_gpus.insert("llm".into(), 2);
    d.gpus_per_node = 3;
    let out = emit_checked(&d);
    let pools = node_pools(&d).expect("pools");
    let nodes: Vec<Vec<usize>> = pools.iter().flat_map(|p| p.nodes.clone()).collect();
    assert_eq!(nodes.len(), 2);
    assert!(nodes.iter().all(|n| n.contains(&0) == n.contains(&1) && n.contains(&2) == n.contains(&3)), "{nodes:?}");
    let llm = out.yaml("deployment-llm.yaml");
    assert_eq!(resources(&llm).1, vec![("nvidia.com/gpu".to_string(), 2)]);
    assert_eq!(llm["spec"]["replicas"].as_i64(), Some(2));
}

#[test]
fn media_extension_profile_is_spelled_as_nvidia_does() {
    let d = K8sDeployment::new(
        "p",
        "a100-80gb",
        vec![mig("a100-80gb", &[("1g.10gb+me", Some("asr")), ("3g.40gb", Some("tts"))])],
    );
    let out = emit_checked(&d);
    let mp = out.mig_parted();
    let cfg = mig_entry(&mp, "mig-pool-1");
    assert_eq!(mig_devices(&cfg), vec![("3g.40gb".to_string(), 1), ("1g.10gb+me".to_string(), 1)]);
    assert_eq!(resources(&out.deployment("asr")).1[0].0, "nvidia.com/mig-1g.10gb.me");
}

#[test]
fn gpu_without_mig_gets_no_mig_files_or_labels() {
    let d = K8sDeployment::new("edge", "l4", vec![ts(&["asr", "tts", "tts"]), ded("llm")]);
    let out = emit_checked(&d);
    assert!(!out.has("mig-parted-config.yaml"));
    assert!(out
        .labels()
        .iter()
        .all(|(_, kv)| kv.iter().all(|(k, _)| k != "nvidia.com/mig.config")));
    assert!(out.yaml("gpu-operator-values.yaml")["migManager"].is_badvalue());
    assert_eq!(out.deployment("tts")["spec"]["replicas"].as_i64(), Some(2));
}

#[test]
fn names_that_yaml_1_1_reads_as_booleans_stay_strings() {
    let d = K8sDeployment::new("on", "a100-80gb", vec![ded("no"), ts(&["yes", "off"])]);
    let out = emit_checked(&d);
    let t = out.text("deployment-no.yaml");
    assert!(t.contains("  name: \"no\"\n"), "{t}");
    assert!(t.contains("app.kubernetes.io/part-of: \"on\"\n"), "{t}");
}

#[test]
fn output_is_deterministic() {
    assert_eq!(emit(&mig_voice()), emit(&mig_voice()));
}

fn err(d: &K8sDeployment) -> String {
    let e = emit(d).expect_err("must be refused").to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

#[test]
fn bad_deployments_are_refused_with_the_field_named() {
    let e = err(&K8sDeployment::new("v", "a100-99gb", vec![ded("llm")]));
    assert!(
        e.contains("gpu_type") && e.contains("unknown GPU type 'a100-99gb'") && e.contains("a100-80gb"),
        "{e}"
    );
    let e = err(&K8sDeployment::new("v", "l4", vec![mig("a100-80gb", &[("1g.10gb", Some("asr"))])]));
    assert!(e.contains("gpus[0].instances") && e.contains("does not support MIG"), "{e}");
    let e = err(&K8sDeployment::new("v", "a100-80gb", vec![ded("llm"), ts(&[])]));
    assert!(e.contains("gpus[1].models") && e.contains("no tenants"), "{e}");
    let e = err(&K8sDeployment::new("v", "a100-80gb", vec![mps(&[])]));
    assert!(e.contains("gpus[0].models") && e.contains("MPS GPU has no tenants"), "{e}");
    let e = err(&K8sDeployment::new("v", "a100-80gb", vec![mig("a100-80gb", &[])]));
    assert!(e.contains("gpus[0].instances") && e.contains("no instances"), "{e}");
    let e = err(&K8sDeployment::new("v", "a100-80gb", vec![ded("")]));
    assert!(e.contains("gpus[0].model") && e.contains("empty"), "{e}");
    let e = err(&K8sDeployment::new("v", "a100-80gb", vec![ts(&["asr"])]));
    assert!(e.contains("at least 2 replicas"), "{e}");
    let e = err(&K8sDeployment::new(
        "v",
        "a100-80gb",
        vec![mig("a100-80gb", &[("3g.40gb", None), ("3g.40gb", None), ("3g.40gb", None)])],
    ));
    assert!(e.contains("gpus[0].instances") && e.contains("'3g.40gb'"), "{e}");
    let e = err(&K8sDeployment::new(
        "v",
        "a100-80gb",
        vec![mig("a100-40gb", &[("3g.20gb", Some("asr"))])],
    ));
    assert!(e.contains("unknown MIG profile '3g.20gb'"), "{e}");
    let e = err(&K8sDeployment::new("v", "a100-80gb", vec![ded("LLM_8B")]));
    assert!(e.contains("gpus[0].model") && e.contains("'LLM_8B'"), "{e}");
    let e = err(&K8sDeployment::new("v", "a100-80gb", vec![]));
    assert!(e.contains("no GPUs"), "{e}");
    let mut d = mig_voice();
    d.gpus_per_node = 0;
    assert!(err(&d).contains("gpus_per_node"));
    let e = err(&K8sDeployment::new("Voice Agent", "a100-80gb", vec![ded("llm")]));
    assert!(e.contains("deployment name 'Voice Agent'"), "{e}");
}

#[test]
#[ignore = "prints an example; run with --ignored --nocapture"]
fn print_example() {
    for f in Out::of(&mig_voice()).0 {
        println!("===== {}\n{}", f.name, f.text);
    }
}
