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
            .map(|(k, v)| (k.as_str().expect("name").to_string(), v.as_i64().expect("count")))
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
                assert_eq!(e["devices"].as_str(), Some("all"), "{name:?}");
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
    for g in &d.gpus {
        planned += match g {
            K8sGpu::Dedicated { .. } => 1,
            K8sGpu::TimeSliced { models } | K8sGpu::Mps { models } => models.len(),
            K8sGpu::Mig { instances } => instances.iter().filter(|(_, m)| m.is_some()).count(),
        };
    }
    let mut replicas = 0;
    for dep in out.deployments() {
        assert_eq!(dep["apiVersion"].as_str(), Some("apps/v1"));
        assert_eq!(dep["kind"].as_str(), Some("Deployment"));
        let sel = node_selector(&dep);
        assert!(
            labels.iter().any(|(_, kv)| sel.iter().all(|s| kv.contains(s))),
            "a labelled node matches {sel:?}"
        );
        let (req, lim) = resources(&dep);
        assert_eq!(req, lim);
        assert_eq!(req.len(), 1);
        assert_eq!(req[0].1, 1);
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
}

fn emit_checked(d: &K8sDeployment) -> Out {
    let out = Out::of(d);
    check_common(&out, d);
    out
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
            ("nvidia.com/mig.config".to_string(), "all-disabled".to_string()),
            ("nvidia.com/device-plugin.config".to_string(), "exclusive".to_string())
        ]
    );
    for m in ["asr", "llm", "tts"] {
        let dep = out.deployment(m);
        assert_eq!(dep["spec"]["replicas"].as_i64(), Some(1));
        assert_eq!(resources(&dep).0, vec![("nvidia.com/gpu".to_string(), 1)]);
    }
    assert_eq!(out.yaml("gpu-operator-values.yaml")["mig"]["strategy"].as_str(), Some("none"));
    assert!(out.text("node-labels.sh").contains("3 GPU(s) -> 1 node(s) of 8 GPUs, 5 spare"));
}

#[test]
fn asr_tts_time_sliced_and_dedicated_llm() {
    let d = K8sDeployment::new("voice", "a100-80gb", vec![ts(&["asr", "tts"]), ded("llm")]);
    let out = emit_checked(&d);
    let c = out.plugin_config("time-sliced-2");
    assert_eq!(c["sharing"]["timeSlicing"]["resources"][0]["name"].as_str(), Some("nvidia.com/gpu"));
    assert_eq!(
        c["sharing"]["timeSlicing"]["resources"][0]["replicas"].as_i64(),
        Some(2),
        "one replica per tenant"
    );
    assert_eq!(c["sharing"]["timeSlicing"]["failRequestsGreaterThanOne"].as_bool(), Some(true));
    assert_eq!(c["flags"]["migStrategy"].as_str(), Some("none"));
    assert_eq!(out.labels().len(), 2, "two pools, one node each");
    for m in ["asr", "tts"] {
        let dep = out.deployment(m);
        assert_eq!(dep["spec"]["replicas"].as_i64(), Some(1));
        assert!(node_selector(&dep).contains(&("nvidia.com/device-plugin.config".to_string(), "time-sliced-2".to_string())));
    }
    let llm = out.deployment("llm");
    assert!(node_selector(&llm).contains(&("nvidia.com/device-plugin.config".to_string(), "exclusive".to_string())));
}

fn mig_voice() -> K8sDeployment {
    K8sDeployment::new(
        "voice",
        "a100-80gb",
        vec![mig("a100-80gb", &[("3g.40gb", Some("asr")), ("3g.40gb", Some("tts"))]), ded("llm")],
    )
}

#[test]
fn two_3g_instances_and_dedicated_llm_on_a100_80gb() {
    let out = emit_checked(&mig_voice());
    let mp = out.mig_parted();
    let cfg = &mp["mig-configs"]["mig-2x3g.40gb"][0];
    assert_eq!(cfg["device-filter"][0].as_str(), Some("0x20B210DE"), "A100-SXM4-80GB");
    assert_eq!(cfg["mig-enabled"].as_bool(), Some(true));
    assert_eq!(mig_devices(cfg), vec![("3g.40gb".to_string(), 2)]);
    assert!(
        out.text("mig-parted-config.yaml").contains("        \"3g.40gb\": 2\n"),
        "quoted like NVIDIA's examples"
    );
    assert_eq!(out.plugin_config("mig-mixed")["flags"]["migStrategy"].as_str(), Some("mixed"));
    for m in ["asr", "tts"] {
        let dep = out.deployment(m);
        assert_eq!(resources(&dep).0, vec![("nvidia.com/mig-3g.40gb".to_string(), 1)]);
        assert_eq!(
            node_selector(&dep),
            vec![
                ("nvidia.com/mig.config".to_string(), "mig-2x3g.40gb".to_string()),
                ("nvidia.com/device-plugin.config".to_string(), "mig-mixed".to_string())
            ]
        );
    }
    assert_eq!(resources(&out.deployment("llm")).0, vec![("nvidia.com/gpu".to_string(), 1)]);
    let values = out.yaml("gpu-operator-values.yaml");
    assert_eq!(values["mig"]["strategy"].as_str(), Some("mixed"));
    assert_eq!(values["migManager"]["config"]["default"].as_str(), Some("all-disabled"));
    // The ConfigMap the MIG manager reads lives in the operator namespace under key config.yaml.
    let cm = out.yaml("mig-parted-config.yaml");
    assert_eq!(cm["metadata"]["namespace"].as_str(), Some("gpu-operator"));
    assert_eq!(cm["metadata"]["name"].as_str(), Some("voice-mig-parted-config"));
}

#[test]
fn mps_pool_counts_clients_and_replicas() {
    let d = K8sDeployment::new("voice", "h100-80gb", vec![mps(&["asr", "tts", "asr"]), mps(&["asr", "tts", "asr"])]);
    let out = emit_checked(&d);
    let c = out.plugin_config("mps-3");
    assert_eq!(c["sharing"]["mps"]["resources"][0]["replicas"].as_i64(), Some(3));
    assert!(c["sharing"]["timeSlicing"].is_badvalue());
    assert_eq!(out.deployment("asr")["spec"]["replicas"].as_i64(), Some(4));
    assert_eq!(out.deployment("tts")["spec"]["replicas"].as_i64(), Some(2));
    assert_eq!(out.labels().len(), 1);
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
    // Pools in order of first appearance: exclusive (3 GPUs -> 2 nodes), MIG (2 -> 1), TS (1), MPS (1).
    let labels = out.labels();
    assert_eq!(labels.len(), 5);
    let script = out.text("node-labels.sh");
    assert!(script.contains("kubectl label node REPLACE-pool1-node2 "), "{script}");
    assert!(script.contains("3 GPU(s) -> 2 node(s) of 2 GPUs, 1 spare"), "{script}");
    assert!(script.contains("In all: 5 node(s), 4 pool(s), 7 planned GPU(s)."), "{script}");
    // The two MIG GPUs list their instances in different orders but have one layout.
    let mp = out.mig_parted();
    let name = "mig-1x3g.40gb-1x2g.20gb-2x1g.10gb";
    assert_eq!(
        mig_devices(&mp["mig-configs"][name][0]),
        vec![("3g.40gb".to_string(), 1), ("2g.20gb".to_string(), 1), ("1g.10gb".to_string(), 2)]
    );
    assert_eq!(mp["mig-configs"][name][0]["device-filter"][0].as_str(), Some("0x233010DE"));
    // Models spread over pools get one Deployment per pool.
    assert_eq!(out.deployment("llm-pool1")["spec"]["replicas"].as_i64(), Some(3));
    let llm_mig = out.deployment("llm-pool2");
    assert_eq!(llm_mig["spec"]["replicas"].as_i64(), Some(2));
    assert_eq!(resources(&llm_mig).0, vec![("nvidia.com/mig-3g.40gb".to_string(), 1)]);
    assert_eq!(
        out.deployment("tts-pool2")["spec"]["replicas"].as_i64(),
        Some(3),
        "the empty 1g is not counted"
    );
    assert_eq!(
        resources(&out.deployment("asr-pool2")).0,
        vec![("nvidia.com/mig-2g.20gb".to_string(), 1)]
    );
    assert_eq!(out.deployment("asr-pool3")["spec"]["replicas"].as_i64(), Some(1));
    assert_eq!(out.deployment("asr-pool4")["spec"]["replicas"].as_i64(), Some(1));
    assert!(!out.plugin_config("mps-2")["sharing"]["mps"].is_badvalue());
    assert!(!out.plugin_config("time-sliced-2")["sharing"]["timeSlicing"].is_badvalue());
    // MIG and MPS pools together: the cluster-wide strategy stays unset.
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
    assert_eq!(resources(&out.deployment("llm-pool1-mig-4g-40gb")).0[0].0, "nvidia.com/mig-4g.40gb");
    assert_eq!(resources(&out.deployment("llm-pool1-mig-3g-40gb")).0[0].0, "nvidia.com/mig-3g.40gb");
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
    let cfg = &mp["mig-configs"]["mig-1x3g.40gb-1x1g.10gb.me"][0];
    assert_eq!(mig_devices(cfg), vec![("3g.40gb".to_string(), 1), ("1g.10gb+me".to_string(), 1)]);
    assert_eq!(resources(&out.deployment("asr")).0[0].0, "nvidia.com/mig-1g.10gb.me");
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
