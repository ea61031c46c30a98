//! Deployments: how each GPU of a variant is shared (its [`Regime`]) and which model servers run
//! on it ([`GpuPlan`]), how requests pick a replica ([`Balancer`]), and where every server ends up
//! with what share of the GPU ([`placement`]). A pure description: the planner builds these, the
//! scenario holds them, the simulator runs them and the Kubernetes writer deploys them.

pub mod placement;

use crate::gpu::MigProfile;
use crate::time::SimTime;
use serde::{Deserialize, Serialize};

/// Default time slice [ms]: measured with two contexts that always have work on an H200 (driver
/// 580.159.04, default policy): every slice held 2107 us of work (traces/h200/analysis_ts.txt,
/// section 2).
pub const DEFAULT_QUANTUM_MS: f64 = 2.1;
/// Default context-switch cost [us]: two contexts of full-GPU matrix products alternate every
/// 2302 us, i.e. the slice plus 195 us per switch (traces/h200/analysis_ts.txt, section 7; spin
/// kernels, which lose no preempted work, show 139 us).
pub const DEFAULT_SWITCH_US: f64 = 200.0;

/// A time-sliced GPU's scheduler: the slice each context gets and the dead time of a switch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeSlice {
    /// Time slice [ns].
    pub quantum: SimTime,
    /// Context-switch cost [ns].
    pub switch_cost: SimTime,
}

impl TimeSlice {
    /// The slice from a slice [ms] and a switch cost [us] as written (the measured defaults
    /// where not), each checked against its bound ([`crate::limits::QUANTUM_MS`],
    /// [`crate::limits::SWITCH_US`]); errors name `file` and `field.quantum_ms` or
    /// `field.switch_us` (`field` empty: the bare names).
    pub fn from_input(quantum_ms: Option<f64>, switch_us: Option<f64>, file: &str, field: &str) -> crate::error::Result<TimeSlice> {
        let name = |f: &str| if field.is_empty() { f.to_string() } else { format!("{field}.{f}") };
        let q = crate::limits::QUANTUM_MS.check(file, name("quantum_ms"), quantum_ms.unwrap_or(DEFAULT_QUANTUM_MS))?;
        let s = crate::limits::SWITCH_US.check(file, name("switch_us"), switch_us.unwrap_or(DEFAULT_SWITCH_US))?;
        Ok(TimeSlice {
            quantum: crate::time::from_ms(q),
            switch_cost: crate::time::from_ms(s / 1e3),
        })
    }
}

/// One physical GPU of a variant.
#[derive(Debug, Clone)]
pub struct GpuPlan {
    /// How the GPU is shared.
    pub regime: Regime,
    /// Model index per tenant: the one model of a dedicated GPU, the time-sliced or MPS
    /// clients, or the server of each MIG instance (`None`: instance left empty).
    pub tenants: Vec<Option<usize>>,
}

/// Sharing regime of a GPU.
#[derive(Debug, Clone, PartialEq)]
pub enum Regime {
    /// One server owns the GPU.
    Dedicated,
    /// Kubernetes time-slicing: the GPU runs one context at a time.
    TimeSliced(TimeSlice),
    /// MIG instances (placed by [`crate::deploy::placement::place`]).
    Mig {
        /// Profiles in tenant order.
        profiles: Vec<MigProfile>,
    },
    /// CUDA MPS: concurrent clients, each capped at a share of the SMs.
    Mps {
        /// Active-thread percentage per tenant (0-100].
        thread_pct: Vec<f64>,
        /// Device-memory limit per tenant [GiB] (`CUDA_MPS_PINNED_DEVICE_MEM_LIMIT`).
        mem_limit_gib: Vec<f64>,
    },
}

impl Regime {
    /// Which regime it is, without its parameters.
    pub fn kind(&self) -> RegimeKind {
        match self {
            Regime::Dedicated => RegimeKind::Dedicated,
            Regime::TimeSliced(_) => RegimeKind::TimeSliced,
            Regime::Mig { .. } => RegimeKind::Mig,
            Regime::Mps { .. } => RegimeKind::Mps,
        }
    }

    /// Short name for reports.
    pub fn label(&self) -> &'static str {
        self.kind().name()
    }
}

/// A sharing regime without its parameters: what `[plan] regimes` lists and a candidate is
/// searched under.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum RegimeKind {
    /// Every model on GPUs of its own.
    Dedicated,
    /// Small models time-sliced on shared GPUs.
    TimeSliced,
    /// Small models on MIG instances.
    Mig,
    /// Small models as MPS clients of shared GPUs.
    Mps,
}

impl RegimeKind {
    /// Every regime, in the planner's order.
    pub const ALL: [RegimeKind; 4] = [RegimeKind::Dedicated, RegimeKind::TimeSliced, RegimeKind::Mig, RegimeKind::Mps];

    /// The name as scenario files write it.
    pub fn name(self) -> &'static str {
        match self {
            RegimeKind::Dedicated => "dedicated",
            RegimeKind::TimeSliced => "time-sliced",
            RegimeKind::Mig => "mig",
            RegimeKind::Mps => "mps",
        }
    }
}

/// Replica selection.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Balancer {
    /// Cycle through replicas that are up.
    #[default]
    RoundRobin,
    /// The replica with the fewest requests queued or in service (ties: lowest index).
    LeastOutstanding,
    /// One queue at the router; an idle replica pulls the next requests (M/M/c-style dispatch).
    SharedQueue,
}
