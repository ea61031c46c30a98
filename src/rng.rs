//! Random streams: one seeded generator per stochastic source, passed explicitly (arrivals,
//! sizes, think times, faults, call spread), so that changing one source does not shift the
//! numbers another draws.

use rand::rngs::StdRng;
use rand::SeedableRng;

/// The RNG type. `StdRng`'s algorithm may change between `rand` releases; `Cargo.lock` pins it
/// and the determinism tests notice a change.
pub type SimRng = StdRng;

/// An independent stream for `(seed, source, purpose)`, mixed with SplitMix64 so that nearby
/// seeds give unrelated streams.
pub fn stream_rng(seed: u64, source: u64, purpose: u64) -> SimRng {
    let mut z = seed ^ source.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ purpose.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    SimRng::seed_from_u64(z)
}
