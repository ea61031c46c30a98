//! MIG layouts (`layout = "3g.40gb,2g.20gb"`, `gpuslice catalog --mig`): the first byte picks a
//! GPU of the built-in catalog, the rest is the layout string. A placement that succeeds is
//! checked against the geometry rules of catalog.rs: every instance at one of its profile's
//! valid start slots, inside the 8 memory slots and 7 compute slices, no two sharing either.
#![no_main]

mod common;

use gpuslice::gpu::{place_layout, slot_map, Catalog};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let gpus = &Catalog::builtin().gpus;
    let gpu = &gpus[pick as usize % gpus.len()];
    let layout = String::from_utf8_lossy(rest);
    let placed = match place_layout(gpu, &layout) {
        Ok(p) => p,
        Err(e) => {
            common::check_error(&e);
            return;
        }
    };
    for (i, p) in placed.iter().enumerate() {
        assert!(p.profile.placements.contains(&p.start), "instance {i} at an invalid start slot");
        let (m0, m1) = p.mem_range();
        let (c0, c1) = p.compute_range();
        assert!(m1 <= 8 && c1 <= 7 && m0 < m1 && c0 < c1, "instance {i} outside the GPU: {p:?}");
        for (j, q) in placed.iter().enumerate().skip(i + 1) {
            let (n0, n1) = q.mem_range();
            let (d0, d1) = q.compute_range();
            assert!(m1 <= n0 || n1 <= m0, "instances {i} and {j} share memory slots");
            assert!(c1 <= d0 || d1 <= c0, "instances {i} and {j} share compute slices");
        }
    }
    let _ = slot_map(&placed, 8, true);
    let _ = slot_map(&placed, 7, false);
});
