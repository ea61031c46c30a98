//! GPU catalog: hardware specs, default prices and MIG geometry, read from the data file
//! `models/gpus.toml` (compiled in, so the binary needs no data directory). Where MIG instances
//! go on a GPU is [`mig`].

pub mod mig;

pub use mig::{parse_layout, place_layout, place_profiles, slot_map, PlacedInstance};

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

const CATALOG_FILE: &str = "models/gpus.toml";
const CATALOG_TOML: &str = include_str!("../models/gpus.toml");

/// One MIG GPU-instance profile of one GPU type.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MigProfile {
    /// Profile name as `nvidia-smi` prints it, e.g. `3g.40gb`.
    pub name: String,
    /// GPU-instance profile id (`nvidia-smi mig -lgip`).
    pub gi_id: u32,
    /// Memory slices out of 8 (each carries 1/8 of capacity, bandwidth and L2).
    pub mem_slices: u32,
    /// Compute slices out of 7.
    pub compute_slices: u32,
    /// Streaming multiprocessors the instance exposes.
    pub sms: u32,
    /// Memory the instance exposes [GiB].
    pub memory_gib: f64,
    /// Most instances of this profile on one GPU.
    pub max_count: u32,
    /// Valid start slots on the 8-slot memory axis.
    pub placements: Vec<u32>,
}

/// One GPU type.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GpuSpec {
    /// Catalog key, e.g. `a100-80gb`.
    pub name: String,
    /// Marketing name.
    pub display: String,
    /// SMs of the whole GPU outside MIG mode.
    pub sm_count: u32,
    /// SMs usable in MIG mode (0: no MIG).
    pub mig_sm_count: u32,
    /// Memory visible to CUDA [GiB].
    pub memory_gib: f64,
    /// Peak memory bandwidth [GB/s].
    pub mem_bw_gbps: f64,
    /// Dense BF16 tensor throughput [TFLOP/s].
    pub bf16_tflops: f64,
    /// Boost clock [MHz]; scales launch- and latency-bound work between GPU types.
    pub boost_clock_mhz: f64,
    /// Fraction of its peak compute the GPU reaches relative to Hopper's fraction of its own
    /// (same software and precision): scales the compute part of calls across generations.
    pub compute_efficiency: f64,
    /// Board power [W].
    pub tdp_w: f64,
    /// Default on-demand price [$ per GPU-hour].
    pub price_usd_per_hour: f64,
    /// Dense FP8 tensor throughput [TFLOP/s] (0: no FP8 tensor cores).
    pub fp8_tflops: f64,
    /// GPUs in one node of this type (the largest tensor-parallel group that stays on one node).
    pub gpus_per_node: u32,
    /// How GPUs of this type talk to each other (tensor-parallel all-reduces).
    pub interconnect: Interconnect,
    /// PCI device ids of every SKU of the type (`0xDDDDVVVV`: device << 16 | vendor).
    pub pci_ids: Vec<String>,
    /// MIG profiles (empty: the GPU has no MIG).
    pub mig_profiles: Vec<MigProfile>,
    /// How tenants of one GPU slow each other (MPS clients, MIG instances).
    #[serde(default)]
    pub sharing: Sharing,
}

/// The shared resources of one physical GPU: the memory system its MPS clients share, and the
/// power budget every tenant shares, MIG instances included ([`crate::model::contention`],
/// docs/src/model/sharing.md). Defaults: fitted on concurrent partitions of an H100 SXM (the
/// probes and serving runs of traces/h100/spatial, `traces/h100/spatial/fit_sharing.py`); a GPU
/// without its own measurements takes them [unverified].
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Sharing {
    /// The latency-bound and compute parts of a call slow by `(1 - rho)^-latency_exponent`,
    /// `rho` the share of the HBM bandwidth its neighbours pull: their traffic queues at the L2
    /// and the memory controllers its own loads wait behind.
    pub latency_exponent: f64,
    /// Largest `rho` that formula takes (beyond it the queues saturate).
    pub util_max: f64,

    /// The latency-bound part of a call slows by this fraction whenever a neighbour's call runs
    /// at the same time (L2 and crossbar contention independent of bandwidth).
    pub neighbour_penalty: f64,
    /// Compute activity (the share of the GPU's SMs busy in the compute part of a call) up to
    /// which the GPU holds its boost clock; beyond it the power limit lowers the clock.
    pub power_knee: f64,
    /// Beyond the knee the clock falls as `(knee / activity)^clock_exponent`.
    pub clock_exponent: f64,
    /// A MIG instance with `l` of the L2 and memory controllers (its memory slices / 8) runs the
    /// latency-bound and compute parts of a call `1 + mig_l2_penalty (1 - l)` times slower than
    /// a green context of the same SMs (which keeps all of L2).
    pub mig_l2_penalty: f64,
}

impl Default for Sharing {
    fn default() -> Sharing {
        Sharing::H100
    }
}

impl Sharing {
    /// Fitted on the H100's concurrent partitions (probes and serving runs) and, for
    /// `mig_l2_penalty`, on MLPerf Inference v1.1 A100 1g.10gb / whole-GPU ratios
    /// (docs/src/model/sharing.md).
    pub const H100: Sharing = Sharing {
        latency_exponent: 0.35,
        util_max: 0.97,
        neighbour_penalty: 0.15,
        power_knee: 0.55,
        clock_exponent: 0.5,
        mig_l2_penalty: 0.1,
    };

    /// The clock, as a fraction of boost, at compute activity `activity`.
    pub fn clock(&self, activity: f64) -> f64 {
        if activity <= self.power_knee {
            1.0
        } else {
            (self.power_knee / activity).powf(self.clock_exponent)
        }
    }

    /// How much slower the clock-bound parts of a call run when the GPU's total compute
    /// activity is `total` rather than the call's own `own` (what it had running alone, the
    /// conditions its table was measured or fitted in).
    pub fn clock_slowdown(&self, own: f64, total: f64) -> f64 {
        self.clock(own) / self.clock(total.max(own))
    }
}

/// GPU-to-GPU links of a GPU type, as an all-reduce sees them.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Interconnect {
    /// GPUs joined by NVLink (or Infinity Fabric) all-to-all: 8 on an NVSwitch board, 2 for
    /// bridged PCIe pairs, 1 without links.
    pub nvlink_domain: u32,
    /// All-reduce bus bandwidth inside the domain [GB/s] (NCCL's `busbw`: large messages).
    pub allreduce_bus_gbps: f64,
    /// All-reduce time of a small message inside the domain [us].
    pub allreduce_latency_us: f64,
    /// The same over PCIe (a group larger than the domain) [GB/s].
    pub pcie_bus_gbps: f64,
    /// Small-message all-reduce time over PCIe [us].
    pub pcie_latency_us: f64,
}

impl Interconnect {
    /// Time of one all-reduce of `bytes` among `n` GPUs [us]: its latency plus the ring's
    /// `2 (n-1)/n` of the message over the bus bandwidth (the NCCL `busbw` convention). One GPU
    /// needs none.
    pub fn allreduce_us(&self, bytes: f64, n: u32) -> f64 {
        if n <= 1 {
            return 0.0;
        }
        let (lat, bw) = if n <= self.nvlink_domain {
            (self.allreduce_latency_us, self.allreduce_bus_gbps)
        } else {
            (self.pcie_latency_us, self.pcie_bus_gbps)
        };
        let k = f64::from(n);
        lat + 2.0 * (k - 1.0) / k * bytes / (bw * 1e3)
    }
}

impl GpuSpec {
    /// True if the GPU supports MIG.
    pub fn has_mig(&self) -> bool {
        !self.mig_profiles.is_empty()
    }

    /// Look up a MIG profile by name.
    pub fn mig_profile(&self, name: &str) -> Option<&MigProfile> {
        self.mig_profiles.iter().find(|p| p.name == name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    gpu: Vec<GpuSpec>,
}

/// All known GPU types.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// GPU types in file order.
    pub gpus: Vec<GpuSpec>,
}

impl Catalog {
    /// The built-in catalog. Panics only if the compiled-in data file is broken, which the
    /// test suite rules out.
    pub fn builtin() -> &'static Catalog {
        use std::sync::OnceLock;
        static CAT: OnceLock<Catalog> = OnceLock::new();
        CAT.get_or_init(|| Catalog::parse(CATALOG_TOML, CATALOG_FILE).expect("built-in GPU catalog is valid"))
    }

    /// Parse and check a catalog document.
    pub fn parse(text: &str, file: &str) -> Result<Catalog> {
        let raw: RawCatalog = toml::from_str(text).map_err(|e| Error::input(file, "", one_line(&e.to_string())))?;
        for (i, g) in raw.gpu.iter().enumerate() {
            let f = |k: &str| format!("gpu[{i}].{k}");
            for (k, v) in [
                ("memory_gib", g.memory_gib),
                ("mem_bw_gbps", g.mem_bw_gbps),
                ("bf16_tflops", g.bf16_tflops),
                ("boost_clock_mhz", g.boost_clock_mhz),
                ("compute_efficiency", g.compute_efficiency),
                ("price_usd_per_hour", g.price_usd_per_hour),
                ("interconnect.allreduce_bus_gbps", g.interconnect.allreduce_bus_gbps),
                ("interconnect.allreduce_latency_us", g.interconnect.allreduce_latency_us),
                ("interconnect.pcie_bus_gbps", g.interconnect.pcie_bus_gbps),
                ("interconnect.pcie_latency_us", g.interconnect.pcie_latency_us),
            ] {
                if !(v.is_finite() && v > 0.0) {
                    return Err(Error::input(file, f(k), format!("must be a positive number, got '{v}'")));
                }
            }
            if !(g.fp8_tflops.is_finite() && g.fp8_tflops >= 0.0) {
                return Err(Error::input(file, f("fp8_tflops"), format!("must be 0 or positive, got '{}'", g.fp8_tflops)));
            }
            for (k, v) in [("gpus_per_node", g.gpus_per_node), ("interconnect.nvlink_domain", g.interconnect.nvlink_domain)] {
                if v == 0 {
                    return Err(Error::input(file, f(k), "must be at least 1, got '0'"));
                }
            }
            for (j, p) in g.mig_profiles.iter().enumerate() {
                let pf = format!("gpu[{i}].mig_profiles[{j}]");
                if p.mem_slices == 0 || p.mem_slices > mig::MEM_SLOTS || p.compute_slices == 0 || p.compute_slices > mig::COMPUTE_SLICES {
                    return Err(Error::input(file, pf, format!("profile '{}' has impossible slice counts", p.name)));
                }
                if p.placements.iter().any(|&s| s + p.mem_slices > mig::MEM_SLOTS) {
                    return Err(Error::input(
                        file,
                        pf,
                        format!("profile '{}' has a start slot past the {} memory slots", p.name, mig::MEM_SLOTS),
                    ));
                }
            }
        }
        Ok(Catalog { gpus: raw.gpu })
    }

    /// Look up a GPU type by catalog key (case-insensitive).
    pub fn gpu(&self, name: &str) -> Option<&GpuSpec> {
        self.gpus.iter().find(|g| g.name.eq_ignore_ascii_case(name))
    }

    /// The GPU type with the most memory: a model or memory figure above it fits no GPU at all.
    pub fn largest_memory(&self) -> Option<&GpuSpec> {
        self.gpus.iter().max_by(|a, b| a.memory_gib.total_cmp(&b.memory_gib))
    }

    /// The catalog keys, for error messages.
    pub fn names(&self) -> String {
        self.gpus.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// First line of a parser message (the toml crate prints multi-line snippets).
pub(crate) fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .replace("  ", " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses_and_has_every_gpu() {
        let c = Catalog::builtin();
        for n in [
            "a100-40gb", "a100-80gb", "h100-80gb", "h100-pcie", "h200-141gb", "l40s", "l4", "h100-nvl", "b200", "gb200", "a10g", "mi300x",
        ] {
            let g = c.gpu(n).unwrap_or_else(|| panic!("{n}"));
            assert!(g.gpus_per_node >= 1 && !g.pci_ids.is_empty(), "{n}");
        }
        assert!(!c.gpu("l4").expect("l4").has_mig());
        assert_eq!(c.gpu("h100-80gb").and_then(|g| g.mig_profile("3g.40gb")).map(|p| p.sms), Some(60));
    }

    #[test]
    fn an_all_reduce_costs_its_latency_plus_the_ring_share_over_the_bus() {
        let ic = Catalog::builtin().gpu("h100-80gb").expect("h100").interconnect;
        assert_eq!(ic.allreduce_us(1e6, 1), 0.0);
        // 64 MiB among 8 H100s: 26 us + 1.75 x 67.1 MB / 478 GB/s = 272 us (Azure measured 325 us).
        let t = ic.allreduce_us(67_108_864.0, 8);
        assert!((t - (26.0 + 1.75 * 67_108_864.0 / 478e3)).abs() < 1e-9 && (250.0..350.0).contains(&t), "{t}");
        // Small messages cost the latency; a group past the NVLink domain pays PCIe.
        assert!((ic.allreduce_us(1024.0, 8) - 26.0).abs() < 0.1);
        assert!(ic.allreduce_us(1e6, 16) > ic.allreduce_us(1e6, 8));
    }
}
