//! What a plan exports: the scenario of the chosen candidate and its Kubernetes files, for
//! `gpuslice plan --emit-scenario/--emit-k8s` and the TUI's Plan view alike.

use crate::deploy::Regime;
use crate::error::{Error, Result};
use crate::out::k8s::{K8sDeployment, K8sGpu};
use crate::plan::Candidate;
use crate::scenario::files::write_all_atomic;
use crate::scenario::raw::RawScenario;
use std::path::Path;

/// The best candidate as a scenario `gpuslice run` accepts: the spec's models, workloads and
/// SLOs with the one variant (model and trace paths made absolute when the file is written to
/// another folder, so that they still resolve).
pub fn emitted_scenario(raw: &RawScenario, spec_path: &str, out_path: &str, best: &Candidate) -> Result<String> {
    let mut sc = raw.clone();
    sc.plan = None;
    sc.sweep = None;
    sc.variant = vec![best.raw.clone()];
    // The tensor parallelism the planner chose.
    for (name, &n) in &best.tensor_parallel {
        if let Some(m) = sc.models.get_mut(name) {
            m.tensor_parallel = Some(n);
        }
    }
    let from_dir = Path::new(spec_path).parent().unwrap_or(Path::new(""));
    let to_dir = Path::new(out_path).parent().unwrap_or(Path::new(""));
    let same = std::fs::canonicalize(if from_dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        from_dir
    })
    .ok()
        == std::fs::canonicalize(if to_dir.as_os_str().is_empty() { Path::new(".") } else { to_dir }).ok();
    if !same {
        let abs = |p: &str| -> String {
            let path = Path::new(p);
            if path.is_absolute() {
                return p.to_string();
            }
            std::fs::canonicalize(from_dir.join(path)).map_or_else(|_| p.to_string(), |a| a.display().to_string())
        };
        for m in sc.models.values_mut() {
            if let Some(f) = m.model_file() {
                m.from = Some(abs(f));
            }
        }
        for w in &mut sc.workload {
            if let Some(t) = w.trace.as_mut() {
                *t = abs(t);
            }
        }
    }
    let body = toml::to_string(&sc).map_err(|e| Error::input(out_path, "", format!("cannot write the scenario: {e}")))?;
    Ok(format!(
        "# Planned by `gpuslice plan {spec_path}`: the cheapest deployment meeting every SLO on every seed\n# ({}, {} GPUs, ${:.2}/h). `gpuslice run` on this file reproduces the plan's figures seed by seed.\n{body}",
        best.name, best.gpus, best.cost_per_hour_usd
    ))
}

/// The Kubernetes deployment of a candidate (names as DNS-1123 labels).
pub fn k8s_deployment(name: &str, best: &Candidate) -> K8sDeployment {
    let label: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .chars()
        .take(40)
        .collect();
    let names = |tenants: &[Option<usize>]| -> Vec<String> { tenants.iter().flatten().map(|&m| best.model_names[m].clone()).collect() };
    let gpus = best
        .variant
        .gpus
        .iter()
        .map(|g| match &g.regime {
            Regime::Mig { profiles } => K8sGpu::Mig {
                instances: profiles
                    .iter()
                    .zip(&g.tenants)
                    .map(|(p, m)| (p.clone(), m.map(|m| best.model_names[m].clone())))
                    .collect(),
            },
            Regime::TimeSliced { .. } => K8sGpu::TimeSliced { models: names(&g.tenants) },
            Regime::Mps { .. } => K8sGpu::Mps { models: names(&g.tenants) },
            Regime::Dedicated => K8sGpu::Dedicated {
                model: names(&g.tenants).into_iter().next().unwrap_or_default(),
            },
        })
        .collect();
    let mut d = K8sDeployment::new(
        if label.is_empty() { "gpuslice".to_string() } else { label },
        best.gpu_type.clone(),
        gpus,
    );
    d.gpus_per_node = best.nodes.gpus_per_node.max(1);
    if !best.nodes.node_gpus.is_empty() {
        d.nodes = Some(best.nodes.node_gpus.iter().map(|n| n.iter().map(|&g| g as usize).collect()).collect());
    }
    d.replica_gpus = best
        .variant
        .placement
        .servers
        .iter()
        .filter(|s| s.gpus > 1)
        .map(|s| (best.model_names[s.model].clone(), s.gpus))
        .collect();
    d
}

/// The Kubernetes files of a candidate, rendered (nothing is written): [`crate::out::k8s::emit`]
/// of [`k8s_deployment`], its errors (raised on the deployment's own fields) told as the
/// `--emit-k8s` output of `spec` that they are.
pub fn k8s_files(spec: &str, name: &str, best: &Candidate) -> Result<Vec<crate::out::k8s::K8sFile>> {
    crate::out::k8s::emit(&k8s_deployment(name, best)).map_err(|e| match e {
        Error::Input { file, field, message } if file.is_empty() => {
            Error::input(spec, format!("Kubernetes files of '{}', {field}", best.name), message)
        }
        e => e,
    })
}

/// The (path, text) of each Kubernetes file in `dir`, for [`crate::scenario::files::write_all_atomic`].
pub fn k8s_outputs(dir: &str, files: &[crate::out::k8s::K8sFile]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|f| (Path::new(dir).join(&f.name).display().to_string(), f.text.clone()))
        .collect()
}

/// Write the Kubernetes files of a candidate into `dir` (created if missing), all or none;
/// returns their paths.
pub fn write_k8s(dir: &str, name: &str, best: &Candidate) -> Result<Vec<String>> {
    let out = k8s_outputs(dir, &k8s_files(dir, name, best)?);
    write_all_atomic(&out, &[dir])?;
    Ok(out.into_iter().map(|(p, _)| p).collect())
}
