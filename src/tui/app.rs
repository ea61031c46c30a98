//! The TUI model: everything the views draw, and nothing that touches the terminal. The App
//! owns the live [`Simulation`] of the selected variant (stepped by [`super::update::update`]
//! on each tick), the latest background run of every variant, and the raw scenario that
//! what-if edits change. Work for the run loop (background runs, the export file) is queued in
//! [`App::effects`] rather than done here, which keeps `update` free of threads and I/O.

use crate::metrics::{LatencySketch, LatencySummary};
use crate::scenario::files::Sources;
use crate::scenario::from_raw;
use crate::scenario::raw::RawScenario;
use crate::scenario::Scenario;
use crate::sim::{DeviceView, RunSummary, Simulation};
use crate::time::MS;
use std::collections::VecDeque;
use std::sync::Arc;

/// Simulated time one `s` press advances [ms].
pub const STEP_MS: u64 = 100;
/// Speeds: simulated seconds per wall second.
pub const SPEEDS: [u32; 10] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
/// Speed index the TUI starts at (x10).
pub const START_SPEED: usize = 3;
/// Latency sparkline points kept per model.
pub const HISTORY: usize = 240;
/// File `e` writes, in the current directory.
pub const EXPORT_PATH: &str = "gpuslice-export.toml";
/// Why a scenario without `[[variant]]` (a planning spec) has no live, compare or latency view.
pub const NO_VARIANTS: &str =
    "this scenario has no [[variant]] to simulate: it is a planning spec; the Plan view (4) shows its objectives and p plans it";

/// The screens `tab` cycles through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The selected variant simulated while you watch.
    Live,
    /// Every variant's full run side by side.
    Compare,
    /// Latency CDF per model with the SLO line.
    Latency,
    /// The planner on the loaded scenario: cheapest deployment per regime, ranked candidates.
    Plan,
}

impl View {
    /// All views in tab order.
    pub const ALL: [View; 4] = [View::Live, View::Compare, View::Latency, View::Plan];

    /// Tab title.
    pub fn title(self) -> &'static str {
        match self {
            View::Live => "Live",
            View::Compare => "Compare",
            View::Latency => "Latency",
            View::Plan => "Plan",
        }
    }

    /// Position in [`View::ALL`].
    pub fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }
}

/// Input state.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Keys are commands.
    Normal,
    /// Keys go to the MIG layout input line of a GPU.
    EditLayout(LayoutInput),
}

/// The MIG layout being typed.
#[derive(Debug, Clone, PartialEq)]
pub struct LayoutInput {
    /// GPU index in the selected variant.
    pub gpu: usize,
    /// Text typed so far, e.g. `3g.40gb=asr,3g.40gb=tts`.
    pub text: String,
    /// Live check of `text`: the slot map if it places, else why not.
    pub check: Result<String, String>,
}

/// Status-bar message.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Information.
    Info(String),
    /// An edit or action was refused, with the reason.
    Refused(String),
}

/// Live numbers of one model.
#[derive(Debug, Clone, Default)]
pub struct ModelLive {
    /// Requests completed so far.
    pub completed: usize,
    /// Latency of those requests [ms].
    pub latency: LatencySummary,
}

/// The live simulation of the selected variant.
pub struct Live {
    /// The simulation; `None` if the variant cannot be built (see `error`).
    pub sim: Option<Simulation>,
    /// Why the variant cannot be simulated.
    pub error: Option<String>,
    /// Not advancing on ticks.
    pub paused: bool,
    /// Index into [`SPEEDS`].
    pub speed: usize,
    /// Device views at the current simulated time.
    pub devices: Vec<DeviceView>,
    /// Per model.
    pub models: Vec<ModelLive>,
    /// Per model: mean latency of the requests completed in each tick [ms], oldest first.
    pub history: Vec<VecDeque<u64>>,
    /// Conversations: (active now, users of the conversation workloads); `None` when no
    /// workload is a conversation.
    pub conversations: Option<(u32, u32)>,
    /// Time to first audio of the measured turns so far, and how many there are.
    pub first_audio: (usize, LatencySummary),
    /// Per model: requests completed and their latency sum [ms] at the last refresh (the
    /// sketch's exact count and mean give each tick's mean without keeping samples).
    seen: Vec<(u64, f64)>,
}

impl Live {
    /// Build the live simulation of variant `v`.
    /// Without variants (a planning spec) there is nothing to simulate, and `error` says so.
    pub fn new(scenario: &Scenario, v: usize, seed: u64, paused: bool, speed: usize) -> Live {
        let n = scenario.models.len();
        let (sim, error) = if v >= scenario.variants.len() {
            (None, Some(NO_VARIANTS.to_string()))
        } else {
            match Simulation::new(scenario, v, seed) {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e.to_string())),
            }
        };
        let mut live = Live {
            sim,
            error,
            paused,
            speed,
            devices: Vec::new(),
            models: vec![ModelLive::default(); n],
            history: vec![VecDeque::new(); n],
            conversations: None,
            first_audio: (0, LatencySummary::default()),
            seen: vec![(0, 0.0); n],
        };
        live.refresh();
        live
    }

    /// Current simulated time [s].
    pub fn now_s(&self) -> f64 {
        self.sim.as_ref().map_or(0.0, |s| crate::time::to_secs(s.now()))
    }

    /// Simulated horizon (load + drain) [s].
    pub fn horizon_s(&self) -> f64 {
        self.sim.as_ref().map_or(0.0, |s| crate::time::to_secs(s.horizon()))
    }

    /// True when the simulation reached its horizon.
    pub fn finished(&self) -> bool {
        self.sim.as_ref().is_none_or(|s| s.now() >= s.horizon())
    }

    /// Advance by `dt_ns` of simulated time and refresh the views.
    pub fn advance(&mut self, dt_ns: u64) {
        if let Some(s) = &mut self.sim {
            let t = s.now().saturating_add(dt_ns);
            s.step_until(t);
        }
        self.refresh();
    }

    /// Recompute device views, latency summaries and the sparkline from the simulation.
    fn refresh(&mut self) {
        let Some(s) = &self.sim else { return };
        self.devices = s.device_views();
        self.conversations = s.conversations_now();
        let fa = s.first_audio_sketch();
        if fa.count() as usize != self.first_audio.0 {
            self.first_audio = (fa.count() as usize, fa.summary());
        }
        for m in 0..self.models.len() {
            let lat = s.model_sketch(m);
            let (n, sum) = (lat.count(), lat.mean() * lat.count() as f64);
            let (n0, sum0) = self.seen[m];
            if n > n0 {
                let mean = (sum - sum0) / (n - n0) as f64;
                let h = &mut self.history[m];
                h.push_back(mean.round().max(1.0) as u64);
                while h.len() > HISTORY {
                    h.pop_front();
                }
                self.seen[m] = (n, sum);
                self.models[m] = ModelLive {
                    completed: n as usize,
                    latency: lat.summary(),
                };
            }
        }
    }
}

/// A finished background run of one variant.
#[derive(Debug, Clone)]
pub struct VariantRun {
    /// Its summary (as `gpuslice run` reports it).
    pub summary: RunSummary,
    /// Per model: the latencies of its measured requests [ms] (a sketch: the same estimates
    /// as the report's percentiles).
    pub latencies: Vec<LatencySketch>,
}

/// Where a variant's background run stands.
#[derive(Debug, Clone)]
pub enum RunState {
    /// Queued or running on a worker thread.
    Running,
    /// Done.
    Done(Box<VariantRun>),
    /// The variant could not be simulated.
    Failed(String),
}

/// Background run slot of one variant.
#[derive(Debug, Clone)]
pub struct RunSlot {
    /// Generation of the latest request; results of older ones are dropped.
    pub gen: u64,
    /// State.
    pub state: RunState,
}

/// Where the planner stands.
#[derive(Debug, Clone)]
pub enum PlanState {
    /// Not asked for yet (`p` starts it).
    Idle,
    /// Running on a worker thread: structures done of total.
    Running(usize, usize),
    /// Done.
    Done(Box<crate::plan::PlanResult>),
    /// The spec could not be planned.
    Failed(String),
}

/// File and folder `e` writes in the Plan view, in the current directory.
pub const PLAN_EXPORT_PATH: &str = "gpuslice-plan.toml";
/// Folder of the plan's Kubernetes files.
pub const PLAN_K8S_DIR: &str = "gpuslice-plan-k8s";

/// Work `update` asks the run loop to do.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Simulate `variant` of `scenario` to the end on a worker thread; reply with
    /// [`super::message::Message::RunDone`].
    Run {
        /// Variant index.
        variant: usize,
        /// Generation.
        gen: u64,
        /// The scenario as it was when the run was asked for.
        scenario: Arc<Scenario>,
        /// Seed.
        seed: u64,
    },
    /// Plan `raw` on a worker thread, replying with [`super::message::Message::PlanProgress`]
    /// and [`super::message::Message::PlanDone`].
    Plan {
        /// Generation.
        gen: u64,
        /// The planning spec (the scenario with the TUI's SLOs).
        raw: Box<RawScenario>,
        /// Its model files and traces.
        sources: Sources,
    },
    /// Write the plan's scenario and Kubernetes files (each atomically); reply with
    /// [`super::message::Message::Exported`].
    ExportPlan {
        /// Scenario file and its text.
        scenario: (String, String),
        /// Kubernetes folder and its files.
        k8s: (String, Vec<crate::out::k8s::K8sFile>),
    },
    /// Write `text` to `path` atomically; reply with [`super::message::Message::Exported`].
    Export {
        /// Destination.
        path: String,
        /// File contents.
        text: String,
    },
}

/// The whole TUI state.
pub struct App {
    /// Where the scenario came from (for messages and the export header).
    pub source: String,
    /// The model files and traces the scenario references, read once at start: edits are
    /// validated against them without touching the disk.
    pub sources: Sources,
    /// The scenario as a file (what-if edits change this, export writes it).
    pub raw: RawScenario,
    /// The validated scenario of `raw`.
    pub scenario: Arc<Scenario>,
    /// Seed of every run.
    pub seed: u64,
    /// Load relative to the file as loaded.
    pub load_factor: f64,
    /// Current screen.
    pub view: View,
    /// Input state.
    pub mode: Mode,
    /// Help overlay shown.
    pub show_help: bool,
    /// Set by `q`; the run loop exits.
    pub should_quit: bool,
    /// Selected variant.
    pub variant: usize,
    /// Selected GPU of the variant.
    pub gpu: usize,
    /// Selected model.
    pub model: usize,
    /// Latency objective (p95) per model [ms]: the scenario's `[slo]` `"<model>.p95_ms"`, as
    /// `]` and `[` moved it; `None` where the scenario has none (nothing is made up).
    pub slo_ms: Vec<Option<f64>>,
    /// The live simulation of the selected variant.
    pub live: Live,
    /// Background runs, one per variant.
    pub runs: Vec<RunSlot>,
    /// Last message for the status bar.
    pub status: Option<Status>,
    /// Work for the run loop.
    pub effects: Vec<Effect>,
    /// Path `e` writes.
    pub export_path: String,
    /// The planner's state, and the generation of the latest request.
    pub plan: PlanState,
    /// Generation of the latest plan request; replies of older ones are dropped.
    pub plan_gen: u64,
    next_gen: u64,
}

/// A model's latency objective [ms]: its `"<model>.p95_ms"` in the scenario's `[slo]`, if any.
pub fn slo_of(raw: &RawScenario, name: &str) -> Option<f64> {
    raw.slo.get(&format!("{name}.p95_ms")).copied()
}

impl App {
    /// Build the app from a raw scenario (validated here) and queue a background run of every
    /// variant. GPU entries with `count = n` are expanded so that GPU `i` is the same GPU in
    /// the raw file, the validated scenario and the live view. A scenario without variants (a
    /// planning spec) opens on the Plan view.
    pub fn new(mut raw: RawScenario, sources: Sources, seed: u64) -> crate::error::Result<App> {
        from_raw(&raw, &sources)?;
        super::edit::expand_counts(&mut raw);
        let scenario = Arc::new(from_raw(&raw, &sources)?);
        let live = Live::new(&scenario, 0, seed, false, START_SPEED);
        let no_variants = scenario.variants.is_empty();
        let mut app = App {
            source: sources.file.clone(),
            sources,
            slo_ms: scenario.models.iter().map(|m| slo_of(&raw, &m.name)).collect(),
            runs: Vec::new(),
            raw,
            scenario,
            seed,
            load_factor: 1.0,
            view: if no_variants { View::Plan } else { View::Live },
            mode: Mode::Normal,
            show_help: false,
            should_quit: false,
            variant: 0,
            gpu: 0,
            model: 0,
            live,
            status: None,
            effects: Vec::new(),
            export_path: EXPORT_PATH.to_string(),
            plan: PlanState::Idle,
            plan_gen: 0,
            next_gen: 0,
        };
        for v in 0..app.scenario.variants.len() {
            app.runs.push(RunSlot {
                gen: 0,
                state: RunState::Running,
            });
            app.request_run(v);
        }
        Ok(app)
    }

    /// Queue a background run of variant `v` with a new generation.
    pub fn request_run(&mut self, v: usize) {
        self.next_gen += 1;
        let gen = self.next_gen;
        let Some(slot) = self.runs.get_mut(v) else { return };
        *slot = RunSlot {
            gen,
            state: RunState::Running,
        };
        self.effects.push(Effect::Run {
            variant: v,
            gen,
            scenario: Arc::clone(&self.scenario),
            seed: self.seed,
        });
    }

    /// The planning spec: the scenario with the p95 objective of each model that has one as the
    /// TUI shows it (other `[slo]` keys kept, none added), and `[plan]` as written or, without
    /// one, the GPU types the variants use, every regime and one seed.
    pub fn plan_spec(&self) -> RawScenario {
        let mut raw = self.raw.clone();
        for (m, slo) in self.scenario.models.iter().zip(&self.slo_ms) {
            if let Some(slo) = slo {
                raw.slo.insert(format!("{}.p95_ms", m.name), *slo);
            }
        }
        if raw.plan.is_none() {
            let mut types: Vec<String> = raw.variant.iter().map(|v| v.gpu.clone()).collect();
            types.sort();
            types.dedup();
            raw.plan = Some(crate::scenario::raw::RawPlan {
                gpu_types: types,
                seeds: Some(1),
                ..Default::default()
            });
        }
        raw
    }

    /// Take the queued effects (the run loop executes them).
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Rebuild the live simulation of the selected variant, keeping play state and speed.
    pub fn restart_live(&mut self) {
        self.live = Live::new(&self.scenario, self.variant, self.seed, self.live.paused, self.live.speed);
    }

    /// The selected variant; `None` when the scenario has none (a planning spec).
    pub fn selected_variant(&self) -> Option<&crate::scenario::Variant> {
        self.scenario.variants.get(self.variant)
    }

    /// Number of GPUs of the selected variant (0 without variants).
    pub fn gpu_count(&self) -> usize {
        self.selected_variant().map_or(0, |v| v.gpus.len())
    }

    /// Name of the selected model.
    pub fn model_name(&self) -> &str {
        &self.scenario.models[self.model].name
    }

    /// Latencies of model `m` to plot [ms], and where they come from: the selected variant's
    /// finished background run, else the live simulation so far (`None` if it cannot run).
    pub fn latency_samples(&self, m: usize) -> (Option<&LatencySketch>, &'static str) {
        if let Some(RunSlot {
            state: RunState::Done(r), ..
        }) = self.runs.get(self.variant)
        {
            if let Some(l) = r.latencies.get(m) {
                return (Some(l), "full run");
            }
        }
        (self.live.sim.as_ref().map(|s| s.model_sketch(m)), "live")
    }

    /// The p95 latency of model `m` measured so far [ms] (see [`App::latency_samples`]); `None`
    /// before any request completed.
    pub fn measured_p95(&self, m: usize) -> Option<f64> {
        self.latency_samples(m).0.filter(|s| s.count() > 0).map(|s| s.quantile(0.95))
    }

    /// Simulated time the live simulation advances per wall millisecond at the current speed [ns].
    pub fn ns_per_wall_ms(&self) -> u64 {
        u64::from(SPEEDS[self.live.speed]) * MS
    }
}
