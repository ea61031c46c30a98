//! Set partitions (the co-tenant groups of time-sliced and MPS structures) and exact MIG packing
//! of a structure's instances onto the fewest GPUs.

use crate::gpu::{place_profiles, GpuSpec, MigProfile};
use std::collections::HashMap;

/// Every partition of `0..n` into blocks (restricted growth strings), blocks in order of their
/// first element.
pub(super) fn set_partitions(n: usize) -> Vec<Vec<Vec<usize>>> {
    let mut out = Vec::new();
    let mut a = vec![0usize; n];
    fn rec(i: usize, max: usize, a: &mut Vec<usize>, out: &mut Vec<Vec<Vec<usize>>>) {
        if i == a.len() {
            let blocks = a.iter().copied().max().map_or(0, |m| m + 1);
            let mut p = vec![Vec::new(); blocks];
            for (m, &b) in a.iter().enumerate() {
                p[b].push(m);
            }
            out.push(p);
            return;
        }
        for b in 0..=max {
            a[i] = b;
            rec(i + 1, if b == max { max + 1 } else { max }, a, out);
        }
    }
    if n > 0 {
        rec(0, 0, &mut a, &mut out);
    }
    out
}

/// One GPU's MIG instances: (profile index, model) each.
pub type MigLayout = Vec<(usize, usize)>;

/// Pack MIG instances onto the fewest GPUs: `items` are (profile index, instances, model); the
/// answer is a list of (layout as (profile, model) per instance, number of GPUs with it). Exact
/// over every valid layout of the used profiles (dynamic programming on the instances still to
/// place); None when some profile cannot be placed at all.
pub fn pack_mig(gpu: &GpuSpec, items: &[(usize, u32, usize)]) -> Option<Vec<(MigLayout, u32)>> {
    let k = items.len();
    // Every per-item instance count vector that places on one GPU.
    let mut layouts: Vec<Vec<u32>> = Vec::new();
    let mut c = vec![0u32; k];
    loop {
        let mut i = 0;
        while i < k {
            c[i] += 1;
            if c[i] <= gpu.mig_profiles[items[i].0].max_count.min(7) {
                break;
            }
            c[i] = 0;
            i += 1;
        }
        if i == k {
            break;
        }
        let profiles: Vec<&MigProfile> = items
            .iter()
            .zip(&c)
            .flat_map(|(it, &n)| std::iter::repeat_n(&gpu.mig_profiles[it.0], n as usize))
            .collect();
        if profiles.iter().map(|p| p.compute_slices).sum::<u32>() <= 7 && place_profiles(gpu, &profiles).is_ok() {
            layouts.push(c.clone());
        }
    }
    for (i, it) in items.iter().enumerate() {
        if it.1 > 0 && !layouts.iter().any(|l| l[i] > 0) {
            return None;
        }
    }
    // Keep the maximal layouts (a dominated one never packs better).
    let maximal: Vec<Vec<u32>> = layouts
        .iter()
        .filter(|l| !layouts.iter().any(|m| m != *l && m.iter().zip(l.iter()).all(|(a, b)| a >= b)))
        .cloned()
        .collect();
    let need: Vec<u32> = items.iter().map(|it| it.1).collect();
    let states: f64 = need.iter().map(|&n| f64::from(n) + 1.0).product();
    let mut plan: Vec<Vec<u32>> = Vec::new();
    if states <= 200_000.0 {
        let mut memo: HashMap<Vec<u32>, (u32, usize)> = HashMap::new();
        fn best(rem: &[u32], ls: &[Vec<u32>], memo: &mut HashMap<Vec<u32>, (u32, usize)>) -> u32 {
            if rem.iter().all(|&x| x == 0) {
                return 0;
            }
            if let Some(&(n, _)) = memo.get(rem) {
                return n;
            }
            let mut top = (u32::MAX, 0);
            for (li, l) in ls.iter().enumerate() {
                if !l.iter().zip(rem).any(|(&a, &r)| a > 0 && r > 0) {
                    continue;
                }
                let next: Vec<u32> = rem.iter().zip(l).map(|(&r, &a)| r.saturating_sub(a)).collect();
                let n = best(&next, ls, memo).saturating_add(1);
                if n < top.0 {
                    top = (n, li);
                }
            }
            memo.insert(rem.to_vec(), top);
            top.0
        }
        best(&need, &maximal, &mut memo);
        let mut rem = need.clone();
        while rem.iter().any(|&x| x > 0) {
            let (_, li) = memo[&rem];
            plan.push(maximal[li].iter().zip(&rem).map(|(&a, &r)| a.min(r)).collect());
            rem = rem.iter().zip(&maximal[li]).map(|(&r, &a)| r.saturating_sub(a)).collect();
        }
    } else {
        // Too many states: greedily take the layout that places the most compute slices.
        let mut rem = need.clone();
        while rem.iter().any(|&x| x > 0) {
            let l = maximal
                .iter()
                .max_by_key(|l| {
                    l.iter()
                        .zip(&rem)
                        .zip(items)
                        .map(|((&a, &r), it)| a.min(r) * gpu.mig_profiles[it.0].compute_slices)
                        .sum::<u32>()
                })
                .expect("a layout exists");
            plan.push(l.iter().zip(&rem).map(|(&a, &r)| a.min(r)).collect());
            rem = rem.iter().zip(l).map(|(&r, &a)| r.saturating_sub(a)).collect();
        }
    }
    // Merge identical GPUs, in order of first use.
    let mut out: Vec<(Vec<u32>, u32)> = Vec::new();
    for l in plan {
        match out.iter_mut().find(|(x, _)| *x == l) {
            Some((_, n)) => *n += 1,
            None => out.push((l, 1)),
        }
    }
    Some(
        out.into_iter()
            .map(|(l, n)| {
                let layout = items
                    .iter()
                    .zip(&l)
                    .flat_map(|(it, &c)| std::iter::repeat_n((it.0, it.2), c as usize))
                    .collect();
                (layout, n)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::Catalog;

    #[test]
    fn set_partitions_count_is_bell() {
        assert_eq!([1, 2, 3, 4].map(|n| set_partitions(n).len()), [1, 2, 5, 15]);
    }

    /// Erlang C against textbook values: c = 2, a = 1 gives 1/3; c = 1 is rho.

    /// Packing two 3g.40gb instances and one 2g.20gb: the three cannot share a GPU (3+3+2 > 7
    /// compute slices), so two GPUs; every packed layout is valid.
    #[test]
    fn mig_packing_uses_valid_layouts_only() {
        let gpu = Catalog::builtin().gpu("a100-80gb").expect("a100").clone();
        let idx = |n: &str| gpu.mig_profiles.iter().position(|p| p.name == n).expect(n);
        let items = [(idx("3g.40gb"), 2, 0), (idx("2g.20gb"), 1, 1)];
        let packed = pack_mig(&gpu, &items).expect("packs");
        assert_eq!(packed.iter().map(|(_, n)| n).sum::<u32>(), 2);
        for (layout, _) in &packed {
            let profiles: Vec<&MigProfile> = layout.iter().map(|&(p, _)| &gpu.mig_profiles[p]).collect();
            assert!(place_profiles(&gpu, &profiles).is_ok(), "{layout:?}");
        }
        // Seven 1g.10gb fit one GPU exactly.
        let packed = pack_mig(&gpu, &[(idx("1g.10gb"), 7, 0)]).expect("packs");
        assert_eq!(packed, vec![(vec![(idx("1g.10gb"), 0); 7], 1)]);
    }
}
