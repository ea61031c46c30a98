//! Nodes: what the user buys. A candidate's GPUs are packed onto the fewest nodes of its GPU
//! type that the NVIDIA GPU Operator can configure as planned, and priced per node.
//!
//! # What may share a node
//! The device plugin applies one sharing config to every GPU of a node that advertises a given
//! resource, time-slicing and MPS are mutually exclusive on a node, and MPS refuses the `mixed`
//! MIG strategy and MIG devices (k8s-device-plugin README, "Shared Access to GPUs";
//! `cmd/nvidia-device-plugin/main.go` `validateFlags`). mig-parted configures each GPU of a node
//! on its own (`devices: [i, ...]` entries, github.com/NVIDIA/mig-parted `examples/config.yaml`
//! `custom-config`), and under the `mixed` strategy MIG instances are `nvidia.com/mig-<profile>`
//! beside the whole GPUs' `nvidia.com/gpu`. And the plugin cannot be told which physical GPU a
//! pod's replica comes from: its allocation policy (`internal/rm/allocate.go`, default
//! `distributed`: the GPU with the fewest replicas handed out) spreads the pods of a node over its
//! shared GPUs in arrival order, so two co-tenant groups on one node can come out mixed (see
//! `crate::out::k8s::cluster`). Hence:
//! * a time-sliced or MPS GPU is the only GPU of its node that advertises `nvidia.com/gpu`, so
//!   that the pods the scheduler sends to the node all land on it: one shared GPU per node;
//! * a time-sliced GPU's node may also carry MIG GPUs (other resources, `mixed` strategy);
//! * an MPS GPU's node carries nothing else (no `mixed`, no MIG beside it);
//! * dedicated GPUs and MIG GPUs share nodes freely (`mixed` serves both);
//! * the GPUs of a multi-GPU (tensor-parallel) replica stay on one node (NVLink, and one pod
//!   asks for them all).
//!
//! # Packing
//! Every shared GPU takes a node; MIG GPUs fill the free slots of the time-sliced nodes first;
//! the multi-GPU replicas are bin-packed exactly (depth-first search with a lower bound), and
//! single dedicated GPUs and the remaining MIG GPUs fill the gaps, then new nodes. That is the
//! fewest nodes (`tests`: equal to brute force over every assignment of small cases).
//!
//! # Price
//! A node costs `[plan] node_price_usd_per_hour` of its type, by default its GPUs times the
//! per-GPU price (clouds sell GPU nodes by the instance, at about that rate).

use crate::deploy::Regime;
use serde::Serialize;

/// How one GPU of a candidate constrains its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeGpu {
    /// A whole GPU of one server (alone, or one GPU of a multi-GPU replica).
    Dedicated,
    /// A time-sliced GPU: the only `nvidia.com/gpu` GPU of its node; MIG GPUs may join it.
    TimeSliced,
    /// An MPS GPU: alone on its node.
    Mps,
    /// A MIG GPU.
    Mig,
}

/// Nodes of one GPU type as `[plan]` sets them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeSpec {
    /// GPUs per node.
    pub gpus_per_node: u32,
    /// Price of one node [$ per hour].
    pub price_usd_per_hour: f64,
}

/// The nodes a candidate takes.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct NodePlan {
    /// Nodes bought.
    pub nodes: u32,
    /// GPUs per node.
    pub gpus_per_node: u32,
    /// Price of the nodes [$ per hour]: what the user pays.
    pub node_cost_per_hour_usd: f64,
    /// The candidate's GPU indices on each node (its device indices 0, 1, ... in this order).
    pub node_gpus: Vec<Vec<u32>>,
}

/// The node constraint of each GPU of a placed variant, and its multi-GPU replicas (GPU index
/// lists of more than one GPU).
pub fn of_variant(v: &crate::scenario::Variant) -> (Vec<NodeGpu>, Vec<Vec<usize>>) {
    let gpus = v
        .gpus
        .iter()
        .map(|g| match g.regime {
            Regime::Dedicated => NodeGpu::Dedicated,
            Regime::TimeSliced { .. } => NodeGpu::TimeSliced,
            Regime::Mps { .. } => NodeGpu::Mps,
            Regime::Mig { .. } => NodeGpu::Mig,
        })
        .collect();
    let groups = v
        .placement
        .devices
        .iter()
        .filter(|d| d.span > 1)
        .map(|d| (d.gpu as usize..(d.gpu + d.span) as usize).collect())
        .collect();
    (gpus, groups)
}

/// The nodes of a placed variant under `spec`, priced.
pub fn plan_nodes(v: &crate::scenario::Variant, spec: &NodeSpec) -> std::result::Result<NodePlan, String> {
    let (gpus, groups) = of_variant(v);
    let nodes = pack(&gpus, &groups, spec.gpus_per_node)?;
    let n = nodes.len() as u32;
    Ok(NodePlan {
        nodes: n,
        gpus_per_node: spec.gpus_per_node,
        node_cost_per_hour_usd: super::round2(f64::from(n) * spec.price_usd_per_hour),
        node_gpus: nodes.into_iter().map(|g| g.into_iter().map(|i| i as u32).collect()).collect(),
    })
}

/// A lower bound of the node cost of any deployment whose GPU cost is at least `gpu_cost_usd`
/// at `gpu_price_usd` per GPU: nodes hold at most `gpus_per_node` GPUs each.
pub fn cost_bound(gpu_cost_usd: f64, gpu_price_usd: f64, spec: &NodeSpec) -> f64 {
    if gpu_price_usd <= 0.0 {
        return 0.0;
    }
    let gpus = (gpu_cost_usd / gpu_price_usd - 1e-6).ceil().max(0.0);
    (gpus / f64::from(spec.gpus_per_node.max(1))).ceil() * spec.price_usd_per_hour
}

/// Whether `nodes` (GPU indices per node) is a valid assignment of `gpus` onto nodes of
/// `per_node` GPUs: every GPU on exactly one node, the rules of the module doc.
pub fn valid(gpus: &[NodeGpu], groups: &[Vec<usize>], per_node: u32, nodes: &[Vec<usize>]) -> bool {
    let mut seen = vec![0u32; gpus.len()];
    let mut node_of = vec![usize::MAX; gpus.len()];
    for (k, n) in nodes.iter().enumerate() {
        if n.is_empty() || n.len() > per_node as usize {
            return false;
        }
        for &i in n {
            if i >= gpus.len() {
                return false;
            }
            seen[i] += 1;
            node_of[i] = k;
        }
        let count = |t: NodeGpu| n.iter().filter(|&&i| gpus[i] == t).count();
        let shared = count(NodeGpu::TimeSliced) + count(NodeGpu::Mps);
        if shared > 1
            || (shared == 1 && count(NodeGpu::Dedicated) > 0)
            || (count(NodeGpu::Mps) == 1 && n.len() > 1)
        {
            return false;
        }
    }
    seen.iter().all(|&s| s == 1) && groups.iter().all(|g| g.iter().all(|&i| node_of[i] == node_of[g[0]]))
}

/// Search steps of the exact bin packing of multi-GPU replicas before it keeps the best found
/// (first-fit decreasing at worst; reached only by dozens of replicas of sizes that do not divide
/// each other, for which first-fit decreasing is already within 11/9 of the optimum).
const PACK_STEPS: u32 = 200_000;

/// The fewest nodes of `per_node` GPUs that hold `gpus` (see the module doc), as GPU index
/// lists, each sorted, nodes in order of their first GPU. Err when a multi-GPU replica is larger
/// than a node.
pub fn pack(gpus: &[NodeGpu], groups: &[Vec<usize>], per_node: u32) -> std::result::Result<Vec<Vec<usize>>, String> {
    let g = per_node.max(1) as usize;
    if let Some(big) = groups.iter().find(|x| x.len() > g) {
        return Err(format!("a replica of {} GPUs does not fit a node of {g} GPUs", big.len()));
    }
    let in_group: std::collections::BTreeSet<usize> = groups.iter().flatten().copied().collect();
    let mut shared: Vec<Vec<usize>> = Vec::new();
    let mut singles = Vec::new();
    let mut mig = Vec::new();
    for (i, &t) in gpus.iter().enumerate() {
        match t {
            NodeGpu::TimeSliced | NodeGpu::Mps => shared.push(vec![i]),
            NodeGpu::Dedicated if !in_group.contains(&i) => singles.push(i),
            NodeGpu::Dedicated => {}
            NodeGpu::Mig => mig.push(i),
        }
    }
    let mut mig = mig.into_iter();
    // MIG GPUs into the time-sliced nodes' free slots (those nodes are bought anyway).
    for n in shared.iter_mut().filter(|n| gpus[n[0]] == NodeGpu::TimeSliced) {
        while n.len() < g {
            match mig.next() {
                Some(i) => n.push(i),
                None => break,
            }
        }
    }
    let mut exclusive: Vec<Vec<usize>> = bin_pack(groups, g);
    let units: Vec<usize> = singles.into_iter().chain(mig).collect();
    let mut units = units.into_iter().peekable();
    for n in exclusive.iter_mut() {
        while n.len() < g && units.peek().is_some() {
            n.extend(units.next());
        }
    }
    while units.peek().is_some() {
        exclusive.push(units.by_ref().take(g).collect());
    }
    let mut nodes: Vec<Vec<usize>> = exclusive.into_iter().chain(shared).collect();
    for n in &mut nodes {
        n.sort_unstable();
    }
    nodes.sort();
    Ok(nodes)
}

/// Multi-GPU replicas onto the fewest bins of `g` GPUs, exactly (within [`PACK_STEPS`]).
fn bin_pack(groups: &[Vec<usize>], g: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| groups[b].len().cmp(&groups[a].len()).then(a.cmp(&b)));
    let sizes: Vec<usize> = order.iter().map(|&k| groups[k].len()).collect();
    let total: usize = sizes.iter().sum();
    let floor = total.div_ceil(g);
    let mut best: Option<Vec<usize>> = None;
    let mut bins: Vec<usize> = Vec::new();
    let mut assign = vec![0usize; sizes.len()];
    let mut steps = 0u32;
    fn dfs(
        k: usize,
        sizes: &[usize],
        g: usize,
        floor: usize,
        bins: &mut Vec<usize>,
        assign: &mut Vec<usize>,
        best: &mut Option<Vec<usize>>,
        steps: &mut u32,
    ) {
        let best_n = best.as_ref().map_or(usize::MAX, |b| b.iter().max().map_or(0, |m| m + 1));
        if bins.len() >= best_n || best_n == floor || *steps >= PACK_STEPS {
            return;
        }
        *steps += 1;
        if k == sizes.len() {
            *best = Some(assign.clone());
            return;
        }
        let mut tried: Vec<usize> = Vec::new();
        for b in 0..bins.len() {
            // Bins of equal load are interchangeable.
            if bins[b] + sizes[k] <= g && !tried.contains(&bins[b]) {
                tried.push(bins[b]);
                bins[b] += sizes[k];
                assign[k] = b;
                dfs(k + 1, sizes, g, floor, bins, assign, best, steps);
                bins[b] -= sizes[k];
            }
        }
        if bins.len() + 1 < best_n {
            bins.push(sizes[k]);
            assign[k] = bins.len() - 1;
            dfs(k + 1, sizes, g, floor, bins, assign, best, steps);
            bins.pop();
        }
    }
    dfs(0, &sizes, g, floor, &mut bins, &mut assign, &mut best, &mut steps);
    let assign = best.unwrap_or_default();
    let n = assign.iter().max().map_or(0, |m| m + 1);
    let mut out = vec![Vec::new(); n];
    for (j, &b) in assign.iter().enumerate() {
        out[b].extend(groups[order[j]].iter().copied());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use NodeGpu::*;

    /// Fewest nodes over every assignment of GPUs to nodes (set partitions, as restricted growth
    /// strings), checked by [`valid`] alone.
    fn brute(gpus: &[NodeGpu], groups: &[Vec<usize>], g: u32) -> usize {
        let n = gpus.len();
        let mut best = usize::MAX;
        let mut a = vec![0usize; n];
        fn rec(i: usize, m: usize, a: &mut Vec<usize>, f: &mut dyn FnMut(&[usize], usize)) {
            if i == a.len() {
                f(a, m);
                return;
            }
            for b in 0..=m {
                a[i] = b;
                rec(i + 1, m.max(b + 1), a, f);
            }
        }
        rec(0, 0, &mut a, &mut |a, m| {
            if m >= best {
                return;
            }
            let mut nodes = vec![Vec::new(); m];
            for (i, &b) in a.iter().enumerate() {
                nodes[b].push(i);
            }
            if valid(gpus, groups, g, &nodes) {
                best = m;
            }
        });
        best
    }

    /// A small seeded generator (the tests' cases are fixed).
    fn lcg(s: &mut u64) -> u64 {
        *s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *s >> 33
    }

    #[test]
    fn packing_equals_brute_force_on_small_cases() {
        let kinds = [Dedicated, TimeSliced, Mps, Mig];
        let mut s = 7u64;
        let mut checked = 0;
        for case in 0..400 {
            let n = 1 + (lcg(&mut s) % 8) as usize;
            let g = 1 + (lcg(&mut s) % 4) as u32;
            let mut gpus: Vec<NodeGpu> = (0..n).map(|_| kinds[(lcg(&mut s) % 4) as usize]).collect();
            // Multi-GPU replicas: runs of dedicated GPUs.
            let mut groups = Vec::new();
            let mut i = 0;
            while i < n {
                let span = 1 + (lcg(&mut s) % 3) as usize;
                if span > 1 && i + span <= n && span as u32 <= g && lcg(&mut s) % 2 == 0 {
                    for gpu in gpus.iter_mut().skip(i).take(span) {
                        *gpu = Dedicated;
                    }
                    groups.push((i..i + span).collect::<Vec<_>>());
                    i += span;
                } else {
                    i += 1;
                }
            }
            let nodes = pack(&gpus, &groups, g).expect("groups fit");
            assert!(valid(&gpus, &groups, g, &nodes), "case {case}: {gpus:?} {groups:?} g={g}: {nodes:?}");
            assert_eq!(nodes.len(), brute(&gpus, &groups, g), "case {case}: {gpus:?} {groups:?} g={g}: {nodes:?}");
            checked += 1;
        }
        assert_eq!(checked, 400);
    }

    #[test]
    fn mig_and_whole_gpus_share_a_node_and_shared_gpus_do_not() {
        // 2 dedicated + 2 MIG: one node of 8.
        assert_eq!(pack(&[Dedicated, Dedicated, Mig, Mig], &[], 8).expect("packs"), vec![vec![0, 1, 2, 3]]);
        // A time-sliced GPU takes MIG GPUs beside it, not the dedicated one.
        assert_eq!(pack(&[TimeSliced, Mig, Dedicated], &[], 8).expect("packs"), vec![vec![0, 1], vec![2]]);
        // Two time-sliced GPUs: two nodes; MPS alone.
        assert_eq!(pack(&[TimeSliced, TimeSliced, Mps, Mig], &[], 8).expect("packs").len(), 3);
        // Replicas of 4, 4, 2, 2, 2, 2 on nodes of 8: two nodes, no replica split.
        let groups: Vec<Vec<usize>> = vec![(0..4).collect(), (4..8).collect(), vec![8, 9], vec![10, 11], vec![12, 13], vec![14, 15]];
        let nodes = pack(&[Dedicated; 16], &groups, 8).expect("packs");
        assert_eq!(nodes.len(), 2);
        assert!(valid(&[Dedicated; 16], &groups, 8, &nodes));
        assert!(pack(&[Dedicated; 4], &[vec![0, 1, 2, 3]], 2).is_err());
    }

    #[test]
    fn the_cost_bound_never_exceeds_the_nodes_of_that_many_gpus() {
        let spec = NodeSpec { gpus_per_node: 8, price_usd_per_hour: 20.0 };
        assert_eq!(cost_bound(2.5 * 3.0, 2.5, &spec), 20.0);
        assert_eq!(cost_bound(2.5 * 9.0, 2.5, &spec), 40.0);
        assert_eq!(cost_bound(0.0, 2.5, &spec), 0.0);
    }
}
