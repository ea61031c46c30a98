//! MIG placement, following NVIDIA's MIG user guide: a GPU has 8 memory slots and 7 compute
//! slices; a profile may start only at the slots that `nvidia-smi mig -lgipp` lists for it; it
//! occupies memory slots `[start, start + mem_slices)` and compute slices
//! `[start, start + compute_slices)` (slot 7 has no compute slice). Two instances may share
//! neither.

use super::{GpuSpec, MigProfile};
use crate::error::{Error, Result};

/// Memory slots of a MIG-capable GPU (each 1/8 of its capacity, bandwidth and L2).
pub const MEM_SLOTS: u32 = 8;

/// Compute slices of a MIG-capable GPU (slot 7 has none).
pub const COMPUTE_SLICES: u32 = 7;

/// One placed MIG instance.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedInstance {
    /// The profile.
    pub profile: MigProfile,
    /// Start slot on the memory axis.
    pub start: u32,
}

impl PlacedInstance {
    /// Memory slots `[start, end)`.
    pub fn mem_range(&self) -> (u32, u32) {
        (self.start, self.start + self.profile.mem_slices)
    }
    /// Compute slices `[start, end)`.
    pub fn compute_range(&self) -> (u32, u32) {
        (self.start, self.start + self.profile.compute_slices)
    }
}

/// Which instance holds each of the `n` memory slots (`memory`) or compute slices, as letters
/// `A`, `B`... in instance order; `.` for a free one.
pub fn slot_map(placed: &[PlacedInstance], n: u32, memory: bool) -> String {
    (0..n)
        .map(|s| {
            placed
                .iter()
                .position(|p| {
                    let (a, b) = if memory { p.mem_range() } else { p.compute_range() };
                    s >= a && s < b
                })
                .map_or('.', |i| char::from(b'A' + (i % 26) as u8))
        })
        .collect()
}

/// Parse a layout string such as `3g.40gb,3g.40gb` into profiles of `gpu`.
pub fn parse_layout<'a>(gpu: &'a GpuSpec, layout: &str) -> Result<Vec<&'a MigProfile>> {
    if !gpu.has_mig() {
        return Err(Error::Infeasible(format!("GPU '{}' does not support MIG", gpu.name)));
    }
    let mut out = Vec::new();
    for name in layout.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(Error::Infeasible(format!("MIG layout '{layout}' has an empty profile name")));
        }
        let p = gpu.mig_profile(name).ok_or_else(|| {
            let known: Vec<&str> = gpu.mig_profiles.iter().map(|p| p.name.as_str()).collect();
            Error::Infeasible(format!(
                "unknown MIG profile '{name}' for {} (known: {})",
                gpu.name,
                known.join(", ")
            ))
        })?;
        out.push(p);
    }
    Ok(out)
}

/// Place a MIG layout on one GPU, or explain why it cannot be placed.
///
/// Instances are placed largest first (the order NVIDIA recommends: create 3g before smaller
/// profiles), each at the highest free valid start slot, with backtracking so that any layout the
/// hardware accepts is found. The result keeps the caller's order of instances.
pub fn place_layout(gpu: &GpuSpec, layout: &str) -> Result<Vec<PlacedInstance>> {
    let profiles = parse_layout(gpu, layout)?;
    place_profiles(gpu, &profiles)
}

/// Place MIG instances of these profiles on one GPU (see [`place_layout`]).
pub fn place_profiles(gpu: &GpuSpec, profiles: &[&MigProfile]) -> Result<Vec<PlacedInstance>> {
    let layout = profiles.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(",");
    let layout = layout.as_str();
    let profiles = profiles.to_vec();
    // Count limits first: they give the clearest message.
    for p in &profiles {
        let n = profiles.iter().filter(|q| q.name == p.name).count() as u32;
        if n > p.max_count {
            return Err(Error::Infeasible(format!(
                "MIG layout '{layout}' on {}: profile '{}' appears {n} times but at most {} fit on one GPU",
                gpu.name, p.name, p.max_count
            )));
        }
    }
    let mem: u32 = profiles.iter().map(|p| p.mem_slices).sum();
    let comp: u32 = profiles.iter().map(|p| p.compute_slices).sum();
    if mem > 8 || comp > 7 {
        let last = profiles.last().map(|p| p.name.as_str()).unwrap_or("");
        return Err(Error::Infeasible(format!(
            "MIG layout '{layout}' on {}: profile '{last}' cannot be placed: the layout needs {mem}/8 memory slices and {comp}/7 compute slices",
            gpu.name
        )));
    }
    let mut order: Vec<usize> = (0..profiles.len()).collect();
    // Largest memory first, then largest compute; stable, so ties keep the caller's order.
    order.sort_by(|&a, &b| (profiles[b].mem_slices, profiles[b].compute_slices).cmp(&(profiles[a].mem_slices, profiles[a].compute_slices)));
    let mut starts = vec![u32::MAX; profiles.len()];
    let mut deepest = 0usize;
    if place(&profiles, &order, 0, 0u8, 0u8, &mut starts, &mut deepest) {
        return Ok(profiles
            .iter()
            .zip(&starts)
            .map(|(p, &s)| PlacedInstance {
                profile: (*p).clone(),
                start: s,
            })
            .collect());
    }
    // Explain with the first profile (in placement order) that never found a slot.
    let p = profiles[order[deepest.min(order.len() - 1)]];
    let slots: Vec<String> = p.placements.iter().map(|s| s.to_string()).collect();
    Err(Error::Infeasible(format!(
        "MIG layout '{layout}' on {}: profile '{}' cannot be placed: every valid start slot {{{}}} overlaps the memory or compute slices of the instances placed before it",
        gpu.name,
        p.name,
        slots.join(",")
    )))
}

fn place(
    profiles: &[&MigProfile],
    order: &[usize],
    k: usize,
    mem_used: u8,
    comp_used: u8,
    starts: &mut [u32],
    deepest: &mut usize,
) -> bool {
    if k == order.len() {
        return true;
    }
    *deepest = (*deepest).max(k);
    let p = profiles[order[k]];
    // Highest valid slot first: this reproduces where the driver puts instances in the guide's
    // examples (3g at 4 before 0, 2g at 4 in 2-1-1-1-1-1) and keeps low slots free for small ones.
    for &s in p.placements.iter().rev() {
        let m = (((1u16 << p.mem_slices) - 1) << s) as u8;
        let cs = s.min(7);
        let cend = (s + p.compute_slices).min(7);
        if s + p.compute_slices > 7 && p.compute_slices > 0 && cend - cs < p.compute_slices {
            continue;
        }
        let c = ((((1u16 << (cend - cs)) - 1) << cs) & 0x7f) as u8;
        if mem_used & m == 0 && comp_used & c == 0 {
            starts[order[k]] = s;
            if place(profiles, order, k + 1, mem_used | m, comp_used | c, starts, deepest) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::Catalog;

    fn a100_40() -> &'static GpuSpec {
        Catalog::builtin().gpu("a100-40gb").expect("in catalog")
    }

    /// A100-40GB names for "Ng" (1g.10gb is the 2-slot 1g; we use 1g.5gb for "1").
    fn names(spec: &str) -> String {
        spec.split('+')
            .map(|g| match g {
                "7" => "7g.40gb",
                "4" => "4g.20gb",
                "3" => "3g.20gb",
                "2" => "2g.10gb",
                "1" => "1g.5gb",
                "1w" => "1g.10gb",
                _ => panic!("bad test spec {g}"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every valid full layout listed in docs/sources.md S2.6, in A100-40GB names.
    #[test]
    fn valid_layouts_of_the_mig_guide_are_accepted() {
        for spec in [
            "7",
            "4+3",
            "4+2+1",
            "4+1+1+1",
            "3+3",
            "3+2+1+1",
            "3+1+1+1+1",
            "2+2+3",
            "2+1+1+3",
            "2+2+2+1",
            "2+2+1+1+1",
            "2+1+1+1+1+1",
            "1+1+1+1+1+1+1",
            "1w+1w+1w+1w",
            "3+1w+1w",
            "4+1w+1",
            "2+2+1w+1",
        ] {
            let layout = names(spec);
            let placed = place_layout(a100_40(), &layout).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(placed.len(), layout.split(',').count());
        }
    }

    #[test]
    fn guide_examples_place_where_nvidia_places_them() {
        // -cgi 9,3g.20gb gives placements 4:4 and 0:4 (either order is the same set).
        let p = place_layout(a100_40(), "3g.20gb,3g.20gb").expect("valid");
        let mut s: Vec<u32> = p.iter().map(|i| i.start).collect();
        s.sort();
        assert_eq!(s, vec![0, 4]);
        // 3-2-1-1 = 1g@0, 1g@1, 2g@2, 3g@4
        let p = place_layout(a100_40(), "3g.20gb,2g.10gb,1g.5gb,1g.5gb").expect("valid");
        let s: Vec<u32> = p.iter().map(|i| i.start).collect();
        assert_eq!(&s[..2], &[4, 2]);
        assert_eq!(s[2] + s[3], 1, "the two 1g take slots 0 and 1: {s:?}");
        // 2-1-1-1-1-1 = 2g@4, 1g@{0,1,2,3,6}
        let p = place_layout(a100_40(), "2g.10gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb").expect("valid");
        let mut ones: Vec<u32> = p[1..].iter().map(|i| i.start).collect();
        ones.sort();
        assert_eq!((p[0].start, ones), (4, vec![0, 1, 2, 3, 6]));
    }

    #[test]
    fn invalid_layouts_are_refused_with_the_profile_named() {
        for (spec, culprit) in [
            ("4+4", "4g.20gb"),  // max one 4g
            ("3+3+1", "1g.5gb"), // memory exhausted
            ("4+3+1", "1g.5gb"), // 8 memory slots used
            ("7+1", "1g.5gb"),
            ("1+1+1+1+1+1+1+1", "1g.5gb"), // max 7
            ("2+2+2+2", "2g.10gb"),        // max 3
            ("3+3+3", "3g.20gb"),          // max 2
            ("1w+1w+1w+1w+1", "1g.5gb"),   // memory exhausted
        ] {
            let err = place_layout(a100_40(), &names(spec)).expect_err(spec).to_string();
            assert!(err.contains(&format!("'{culprit}'")), "{spec}: {err}");
        }
    }

    #[test]
    fn fragmentation_is_detected() {
        // Two 2g at 0 and 2 leave 4..8: a 4g can only start at 0.
        let err = place_layout(a100_40(), "2g.10gb,2g.10gb,4g.20gb")
            .expect_err("4g needs slot 0")
            .to_string();
        assert!(err.contains("cannot be placed"), "{err}");
    }

    #[test]
    fn unknown_profile_and_non_mig_gpu_are_errors() {
        let e = place_layout(a100_40(), "3g.40gb").expect_err("wrong gpu name").to_string();
        assert!(e.contains("unknown MIG profile '3g.40gb'"), "{e}");
        let l4 = Catalog::builtin().gpu("l4").expect("l4");
        assert!(place_layout(l4, "1g.5gb").is_err());
    }
}
