//! Everything that can happen to the TUI: key presses (already mapped by
//! [`super::update::key_to_message`]), clock ticks and results sent back by worker threads.

use super::app::VariantRun;

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// The edited scenario, to this file.
    Scenario(String),
    /// The plan: its scenario file, and its Kubernetes folder with how many files.
    Plan {
        /// Scenario file.
        scenario: String,
        /// Kubernetes folder.
        k8s_dir: String,
        /// Files written into it.
        k8s_files: usize,
    },
}

impl std::fmt::Display for Written {
    /// What was written where, each path once.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Written::Scenario(p) => write!(f, "exported to {p} (a scenario file `gpuslice run` accepts)"),
            Written::Plan {
                scenario,
                k8s_dir,
                k8s_files,
            } => write!(
                f,
                "exported the plan to {scenario} and its {k8s_files} Kubernetes file{} to {k8s_dir}/",
                if *k8s_files == 1 { "" } else { "s" }
            ),
        }
    }
}

/// One event for [`super::update::update`].
#[derive(Debug)]
pub enum Message {
    /// Wall-clock time passed since the last tick [ms]; advances a playing live simulation by
    /// that much times the speed.
    Tick {
        /// Elapsed wall time [ms].
        elapsed_ms: u64,
    },
    /// Play or pause the live simulation.
    TogglePause,
    /// Advance the live simulation by [`super::app::STEP_MS`] of simulated time.
    StepOnce,
    /// Next faster speed.
    SpeedUp,
    /// Next slower speed.
    SpeedDown,
    /// Rebuild the live simulation of the selected variant from time 0.
    Restart,
    /// Next view (live, compare, latency).
    NextView,
    /// Previous view.
    PrevView,
    /// Go to view `0..3`.
    GotoView(usize),
    /// Select the next variant.
    NextVariant,
    /// Select the previous variant.
    PrevVariant,
    /// Select the next GPU of the variant.
    NextGpu,
    /// Select the previous GPU.
    PrevGpu,
    /// Select the next model (replica and SLO keys act on it).
    NextModel,
    /// Scale the load of every workload up (`true`) or down by 10 %.
    ScaleLoad(bool),
    /// Switch the selected variant to the next catalog GPU type it can run on.
    CycleGpuType,
    /// Open the MIG layout input line for the selected GPU.
    EditLayout,
    /// A character typed into the input line.
    InputChar(char),
    /// Delete the last character of the input line.
    InputBackspace,
    /// Apply the typed layout (refused with the reason if invalid).
    InputSubmit,
    /// Close the input line without changes.
    InputCancel,
    /// Double (`true`) or halve the time slice of the selected (or first) time-sliced GPU.
    Quantum(bool),
    /// Add a dedicated GPU running the selected model to the selected variant.
    AddReplica,
    /// Remove a dedicated GPU of the selected model from the selected variant.
    RemoveReplica,
    /// Raise (`true`) or lower the selected model's latency SLO by 10 %.
    Slo(bool),
    /// Export the current (edited) scenario to a TOML file.
    Export,
    /// Re-run a variant (`None`: every variant) in the background after an edit, and restart
    /// the live simulation if it shows an affected variant.
    Rerun(Option<usize>),
    /// A background run finished.
    RunDone {
        /// Variant index.
        variant: usize,
        /// Generation of the request; older generations are ignored.
        gen: u64,
        /// The run, or why it could not be built.
        outcome: Result<Box<VariantRun>, String>,
    },
    /// The export finished: what was written where, or the error.
    Exported(Result<Written, String>),
    /// Plan the scenario with the current SLOs in the background.
    StartPlan,
    /// The planner reports progress: structures done of total.
    PlanProgress {
        /// Generation of the request.
        gen: u64,
        /// Structures done.
        done: usize,
        /// Structures in all.
        total: usize,
    },
    /// The planner finished.
    PlanDone {
        /// Generation of the request.
        gen: u64,
        /// The plan, or why there is none.
        outcome: Result<Box<crate::plan::PlanResult>, String>,
    },
    /// Show or hide the help overlay.
    ToggleHelp,
    /// Leave the TUI.
    Quit,
}
