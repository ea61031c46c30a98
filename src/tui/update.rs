//! The two pure functions of the TUI: [`key_to_message`] maps a key press to a [`Message`], and
//! [`update`] applies a message to the [`App`]. Neither touches the terminal, a thread or a
//! file: background runs and the export are queued as [`super::app::Effect`]s for the run loop.
//!
//! Why one file of ~1,050 lines: half is tests that drive the Elm update by message; the update itself is
//! split per message group into small functions.

use super::app::{App, LayoutInput, Live, Mode, PlanState, RunState, Status, View, PLAN_EXPORT_PATH, PLAN_K8S_DIR, SPEEDS, STEP_MS};
use super::edit;
use super::message::Message;
use crate::gpu::GpuSpec;
use crate::scenario::from_raw;
use crate::scenario::raw::RawScenario;
use crate::scenario::Scenario;
use crate::time::MS;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::sync::Arc;

/// Map a key press to a message. `help`: the help overlay is shown (it takes `?`, `Esc` and
/// `q` only). In layout input mode keys edit the input line.
pub fn key_to_message(mode: &Mode, help: bool, key: KeyEvent) -> Option<Message> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Message::Quit);
    }
    if let Mode::EditLayout(_) = mode {
        return match key.code {
            KeyCode::Enter => Some(Message::InputSubmit),
            KeyCode::Esc => Some(Message::InputCancel),
            KeyCode::Backspace => Some(Message::InputBackspace),
            KeyCode::Char(c) => Some(Message::InputChar(c)),
            _ => None,
        };
    }
    if help {
        return match key.code {
            KeyCode::Char('?') | KeyCode::Esc => Some(Message::ToggleHelp),
            KeyCode::Char('q') => Some(Message::Quit),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Char('q') => Message::Quit,
        KeyCode::Char('?') => Message::ToggleHelp,
        KeyCode::Tab => Message::NextView,
        KeyCode::BackTab => Message::PrevView,
        KeyCode::Char(c @ '1'..='4') => Message::GotoView(c as usize - '1' as usize),
        KeyCode::Char(' ') => Message::TogglePause,
        KeyCode::Char('s') => Message::StepOnce,
        KeyCode::Char('+' | '=') => Message::SpeedUp,
        KeyCode::Char('-' | '_') => Message::SpeedDown,
        KeyCode::Char('r') => Message::Restart,
        KeyCode::Right | KeyCode::Char('v') => Message::NextVariant,
        KeyCode::Left | KeyCode::Char('V') => Message::PrevVariant,
        KeyCode::Down | KeyCode::Char('j') => Message::NextGpu,
        KeyCode::Up | KeyCode::Char('k') => Message::PrevGpu,
        KeyCode::Char('m') => Message::NextModel,
        KeyCode::Char('>' | '.') => Message::ScaleLoad(true),
        KeyCode::Char('<' | ',') => Message::ScaleLoad(false),
        KeyCode::Char('g') => Message::CycleGpuType,
        KeyCode::Char('l') => Message::EditLayout,
        KeyCode::Char('t') => Message::Quantum(true),
        KeyCode::Char('T') => Message::Quantum(false),
        KeyCode::Char('a') => Message::AddReplica,
        KeyCode::Char('x') => Message::RemoveReplica,
        KeyCode::Char(']') => Message::Slo(true),
        KeyCode::Char('[') => Message::Slo(false),
        KeyCode::Char('e') => Message::Export,
        KeyCode::Char('p') => Message::StartPlan,
        _ => return None,
    })
}

/// Validate an edited raw scenario exactly as `gpuslice run` would validate the exported file:
/// through `from_raw`, against the files read when the TUI started (no I/O here).
fn validate(app: &App, raw: &RawScenario) -> Result<Scenario, String> {
    from_raw(raw, &app.sources).map_err(|e| e.to_string())
}

/// Accept an edit that validates, or refuse it with the reason. `affected`: the variant whose
/// results change (`None`: all).
fn apply_edit(app: &mut App, edited: Result<(RawScenario, String), String>, affected: Option<usize>) -> Option<Message> {
    let checked = edited.and_then(|(raw, desc)| validate(app, &raw).map(|sc| (raw, sc, desc)));
    match checked {
        Ok((raw, sc, desc)) => {
            app.raw = raw;
            app.scenario = Arc::new(sc);
            app.gpu = app.gpu.min(app.gpu_count().saturating_sub(1));
            app.status = Some(Status::Info(desc));
            Some(Message::Rerun(affected))
        }
        Err(reason) => {
            app.status = Some(Status::Refused(reason));
            None
        }
    }
}

/// The selected variant, or `None` (with the action refused in the status bar) when the scenario
/// has no variant to act on: a planning spec.
fn need_variant(app: &mut App) -> Option<usize> {
    if app.variant < app.scenario.variants.len() {
        return Some(app.variant);
    }
    app.status = Some(Status::Refused("no [[variant]] to act on: a planning spec (p plans it)".into()));
    None
}

/// The slot map of a typed layout, or why it does not place.
fn check_input(gpu: &GpuSpec, text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        let names: Vec<&str> = gpu.mig_profiles.iter().map(|p| p.name.as_str()).collect();
        if names.is_empty() {
            return Err(format!("GPU '{}' does not support MIG", gpu.name));
        }
        return Err(format!("type profiles separated by ',' (optionally =model): {}", names.join(" ")));
    }
    edit::check_layout(gpu, text).map(|p| {
        format!(
            "memory {}  compute {}",
            crate::gpu::slot_map(&p, crate::gpu::mig::MEM_SLOTS, true),
            crate::gpu::slot_map(&p, crate::gpu::mig::COMPUTE_SLICES, false)
        )
    })
}

fn round3(x: f64) -> f64 {
    if x >= 100.0 {
        x.round()
    } else {
        (x * 10.0).round() / 10.0
    }
}

/// Apply one message. Returns a follow-up message, which the caller feeds back in. Each group of
/// messages has its own function below; this only routes.
pub fn update(app: &mut App, msg: Message) -> Option<Message> {
    match msg {
        Message::Tick { .. } | Message::TogglePause | Message::StepOnce | Message::SpeedUp | Message::SpeedDown | Message::Restart => {
            playback(app, msg);
            None
        }
        Message::NextView
        | Message::PrevView
        | Message::GotoView(_)
        | Message::NextVariant
        | Message::PrevVariant
        | Message::NextGpu
        | Message::PrevGpu
        | Message::NextModel
        | Message::ToggleHelp
        | Message::Quit => {
            navigate(app, msg);
            None
        }
        Message::ScaleLoad(_) | Message::CycleGpuType | Message::Quantum(_) | Message::AddReplica | Message::RemoveReplica => {
            what_if(app, msg)
        }
        Message::EditLayout | Message::InputChar(_) | Message::InputBackspace | Message::InputSubmit | Message::InputCancel => {
            layout_input(app, msg)
        }
        Message::Slo(up) => {
            change_slo(app, up);
            None
        }
        Message::StartPlan | Message::PlanProgress { .. } | Message::PlanDone { .. } => {
            planning(app, msg);
            None
        }
        Message::Export | Message::Exported(_) => {
            export(app, msg);
            None
        }
        Message::Rerun(_) | Message::RunDone { .. } => {
            background(app, msg);
            None
        }
    }
}

/// The live simulation's clock: ticks, play/pause, step, speed, restart.
fn playback(app: &mut App, msg: Message) {
    match msg {
        Message::Tick { elapsed_ms } => {
            if app.live.paused || app.live.finished() {
                return;
            }
            let dt = elapsed_ms.saturating_mul(app.ns_per_wall_ms());
            app.live.advance(dt);
            if app.live.finished() {
                app.live.paused = true;
                app.status = Some(Status::Info(format!(
                    "live run reached its horizon ({:.0} s); r restarts",
                    app.live.horizon_s()
                )));
            }
        }
        Message::TogglePause => {
            if app.live.finished() && app.live.sim.is_some() {
                app.restart_live();
                app.live.paused = false;
            } else {
                app.live.paused = !app.live.paused;
            }
        }
        Message::StepOnce => app.live.advance(STEP_MS * MS),
        Message::SpeedUp => app.live.speed = (app.live.speed + 1).min(SPEEDS.len() - 1),
        Message::SpeedDown => app.live.speed = app.live.speed.saturating_sub(1),
        Message::Restart => {
            let Some(v) = need_variant(app) else { return };
            app.restart_live();
            app.status = Some(Status::Info(format!(
                "live simulation of '{}' restarted",
                app.scenario.variants[v].name
            )));
        }
        _ => {}
    }
}

/// Views, the selected variant, GPU and model, the help overlay, quitting.
fn navigate(app: &mut App, msg: Message) {
    let n_views = View::ALL.len();
    match msg {
        Message::NextView => app.view = View::ALL[(app.view.index() + 1) % n_views],
        Message::PrevView => app.view = View::ALL[(app.view.index() + n_views - 1) % n_views],
        Message::GotoView(i) => app.view = View::ALL[i.min(n_views - 1)],
        Message::NextVariant | Message::PrevVariant if !app.scenario.variants.is_empty() => {
            let (v, n) = (app.variant, app.scenario.variants.len());
            app.variant = if matches!(msg, Message::NextVariant) {
                (v + 1) % n
            } else {
                (v + n - 1) % n
            };
            app.gpu = 0;
            app.restart_live();
        }
        Message::NextGpu => app.gpu = (app.gpu + 1) % app.gpu_count().max(1),
        Message::PrevGpu => app.gpu = (app.gpu + app.gpu_count().max(1) - 1) % app.gpu_count().max(1),
        Message::NextModel => app.model = (app.model + 1) % app.scenario.models.len().max(1),
        Message::ToggleHelp => app.show_help = !app.show_help,
        Message::Quit => app.should_quit = true,
        _ => {}
    }
}

/// What-if edits of the scenario: load, GPU type, time slice, replicas. An accepted edit returns
/// the re-run it needs.
fn what_if(app: &mut App, msg: Message) -> Option<Message> {
    if let Message::ScaleLoad(up) = msg {
        let f = if up { edit::LOAD_FACTOR } else { 1.0 / edit::LOAD_FACTOR };
        let next = apply_edit(app, Ok(edit::scale_load(&app.raw, f)), None);
        if next.is_some() {
            app.load_factor *= f;
        }
        return next;
    }
    let v = need_variant(app)?;
    match msg {
        Message::CycleGpuType => cycle_gpu_type(app, v),
        Message::Quantum(up) => apply_edit(app, edit::change_quantum(&app.raw, v, app.gpu, up), Some(v)),
        Message::AddReplica => {
            let m = app.model_name().to_string();
            apply_edit(app, Ok(edit::add_replica(&app.raw, v, &m)), Some(v))
        }
        Message::RemoveReplica => {
            let m = app.model_name().to_string();
            apply_edit(app, edit::remove_replica(&app.raw, v, &m), Some(v))
        }
        _ => None,
    }
}

/// Switch the selected variant to the next catalog GPU type that validates, naming those skipped.
fn cycle_gpu_type(app: &mut App, v: usize) -> Option<Message> {
    let mut skipped = Vec::new();
    for (name, cand) in edit::gpu_candidates(&app.raw, v) {
        match cand.and_then(|raw| validate(app, &raw).map(|sc| (raw, sc))) {
            Ok((raw, sc)) => {
                let from = app.raw.variant[v].gpu.clone();
                let mut desc = format!("'{}': GPU type {from} -> {name}", app.raw.variant[v].name);
                if !skipped.is_empty() {
                    desc.push_str(&format!(" (skipped {}: cannot hold it)", skipped.join(", ")));
                }
                app.raw = raw;
                app.scenario = Arc::new(sc);
                app.status = Some(Status::Info(desc));
                return Some(Message::Rerun(Some(v)));
            }
            Err(_) => skipped.push(name),
        }
    }
    app.status = Some(Status::Refused(format!(
        "no other GPU type can run '{}' as laid out",
        app.raw.variant[v].name
    )));
    None
}

/// The MIG layout input line: open it, type, submit (refused: stays open with the reason), cancel.
fn layout_input(app: &mut App, msg: Message) -> Option<Message> {
    let v = app.variant;
    match msg {
        Message::EditLayout => {
            let v = need_variant(app)?;
            let g = app.gpu.min(app.gpu_count().saturating_sub(1));
            let text = match &app.raw.variant[v].gpus[g] {
                crate::scenario::raw::RawGpu::Mig { layout, models, .. } => layout
                    .split(',')
                    .zip(models)
                    .map(|(p, m)| format!("{}={m}", p.trim()))
                    .collect::<Vec<_>>()
                    .join(","),
                _ => String::new(),
            };
            let check = check_input(&app.scenario.variants[v].gpu, &text);
            app.mode = Mode::EditLayout(LayoutInput { gpu: g, text, check });
        }
        Message::InputChar(_) | Message::InputBackspace => {
            if let Mode::EditLayout(inp) = &mut app.mode {
                match msg {
                    Message::InputChar(c) => inp.text.push(c),
                    _ => {
                        inp.text.pop();
                    }
                }
                inp.check = check_input(&app.scenario.variants[v].gpu, &inp.text);
            }
        }
        Message::InputSubmit => {
            let Mode::EditLayout(inp) = app.mode.clone() else { return None };
            let edited = edit::set_layout(&app.raw, v, inp.gpu, &inp.text);
            let next = apply_edit(app, edited, Some(v));
            if next.is_some() {
                app.mode = Mode::Normal;
                return next;
            }
            // Refused: keep the input line open with the reason under it.
            if let (Mode::EditLayout(i), Some(Status::Refused(r))) = (&mut app.mode, &app.status) {
                i.check = Err(r.clone());
            }
        }
        Message::InputCancel => {
            app.mode = Mode::Normal;
            app.status = Some(Status::Info("layout edit cancelled".into()));
        }
        _ => {}
    }
    None
}

/// Raise or lower the selected model's latency objective by 10 %. A model without one (the
/// scenario's `[slo]` has none) gets one at its measured p95, if anything was measured yet.
fn change_slo(app: &mut App, up: bool) {
    let m = app.model;
    if let Some(s) = &mut app.slo_ms[m] {
        *s = round3(if up { *s * 1.1 } else { *s / 1.1 }).max(0.1);
        return;
    }
    let name = app.model_name().to_string();
    app.status = Some(match app.measured_p95(m) {
        Some(p95) => {
            let slo = round3(p95).max(0.1);
            app.slo_ms[m] = Some(slo);
            Status::Info(format!(
                "{name}.p95_ms <= {slo} ms: the measured p95 as a start; ] [ move it by 10%"
            ))
        }
        None => Status::Refused(format!(
            "'{name}' has no p95 objective in [slo], and no latency is measured yet to start one from"
        )),
    });
}

/// The planner: start it in the background, follow its progress, take its result.
fn planning(app: &mut App, msg: Message) {
    match msg {
        Message::StartPlan => {
            app.plan_gen += 1;
            app.plan = PlanState::Running(0, 0);
            app.view = View::Plan;
            let raw = app.plan_spec();
            app.status = Some(Status::Info(format!(
                "planning '{}' against {} SLO(s) in the background",
                raw.name,
                raw.slo.len()
            )));
            app.effects.push(super::app::Effect::Plan {
                gen: app.plan_gen,
                raw: Box::new(raw),
                sources: app.sources.clone(),
            });
        }
        Message::PlanProgress { gen, done, total } if gen == app.plan_gen && matches!(app.plan, PlanState::Running(..)) => {
            app.plan = PlanState::Running(done, total);
        }
        Message::PlanDone { gen, outcome } if gen == app.plan_gen => {
            app.plan = match outcome {
                Ok(r) => {
                    app.status = Some(Status::Info(match &r.best {
                        Some(b) => format!("plan: {} ({} GPUs, ${:.2}/h); e exports it", b.name, b.gpus, b.cost_per_hour_usd),
                        None => format!("no plan: {}", r.reason.as_deref().unwrap_or("none meets the SLOs")),
                    }));
                    PlanState::Done(r)
                }
                Err(e) => PlanState::Failed(e),
            };
        }
        _ => {}
    }
}

/// `e` (the edited scenario; in the Plan view, the plan) and the report of what was written.
fn export(app: &mut App, msg: Message) {
    match msg {
        Message::Export if app.view == View::Plan => export_plan(app),
        Message::Export => export_scenario(app),
        Message::Exported(r) => {
            app.status = Some(match r {
                Ok(w) => Status::Info(w.to_string()),
                Err(e) => Status::Refused(format!("export failed: {e}")),
            })
        }
        _ => {}
    }
}

/// Queue the edited scenario's export, with a header saying where it came from.
fn export_scenario(app: &mut App) {
    let header = format!(
        "Exported by `gpuslice tui` from {} (seed {}, load x{:.3} of the file).\nRun it with: gpuslice run {}",
        app.source, app.seed, app.load_factor, app.export_path
    );
    match edit::export_toml(&app.raw, &header) {
        Ok(text) => {
            app.effects.push(super::app::Effect::Export {
                path: app.export_path.clone(),
                text,
            });
            app.status = Some(Status::Info(format!("exporting to {}", app.export_path)));
        }
        Err(e) => app.status = Some(Status::Refused(e)),
    }
}

/// Queue the plan's scenario and Kubernetes files, or say why there is nothing to export.
fn export_plan(app: &mut App) {
    let PlanState::Done(r) = &app.plan else {
        app.status = Some(Status::Refused("no plan to export yet: p plans".into()));
        return;
    };
    let Some(best) = &r.best else {
        app.status = Some(Status::Refused(format!(
            "no plan to export: {}",
            r.reason.as_deref().unwrap_or("none meets the SLOs")
        )));
        return;
    };
    let spec = app.plan_spec();
    let scenario = crate::out::export::emitted_scenario(&spec, &app.source, PLAN_EXPORT_PATH, best);
    let k8s = crate::out::export::k8s_files(&app.source, &spec.name, best);
    match (scenario, k8s) {
        (Ok(text), Ok(files)) => {
            app.effects.push(super::app::Effect::ExportPlan {
                scenario: (PLAN_EXPORT_PATH.to_string(), text),
                k8s: (PLAN_K8S_DIR.to_string(), files),
            });
            app.status = Some(Status::Info(format!(
                "exporting the plan to {PLAN_EXPORT_PATH} and {PLAN_K8S_DIR}/"
            )));
        }
        (Err(e), _) | (_, Err(e)) => app.status = Some(Status::Refused(e.to_string())),
    }
}

/// Background runs: re-run variants after an edit (restarting the live view of an affected
/// one), and take their results unless a newer request superseded them.
fn background(app: &mut App, msg: Message) {
    match msg {
        Message::Rerun(affected) => {
            let all: Vec<usize> = match affected {
                Some(x) => vec![x],
                None => (0..app.scenario.variants.len()).collect(),
            };
            for x in all {
                app.request_run(x);
                if x == app.variant {
                    app.live = Live::new(&app.scenario, x, app.seed, app.live.paused, app.live.speed);
                }
            }
        }
        Message::RunDone { variant, gen, outcome } => {
            if let Some(slot) = app.runs.get_mut(variant).filter(|s| s.gen == gen) {
                slot.state = match outcome {
                    Ok(r) => RunState::Done(r),
                    Err(e) => RunState::Failed(e),
                };
            }
        }
        _ => {}
    }
}

/// Apply a message and every follow-up it returns.
pub fn dispatch(app: &mut App, msg: Message) {
    let mut next = Some(msg);
    while let Some(m) = next {
        next = update(app, m);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::scenario::raw::parse as parse_raw;
    use crate::tui::app::Effect;
    use ratatui::crossterm::event::KeyEvent;

    /// A small, fast scenario: two H100 variants (time-sliced, MIG) and one dedicated pair,
    /// 3 s of load.
    pub(crate) const SMALL: &str = r#"
name = "tui-test"
duration_s = 3
warmup_s = 0.5
drain_s = 2
[models.asr]
from = "h100/asr"
[models.tts]
from = "h100/tts"
[[workload]]
model = "asr"
arrivals = { process = "poisson", rate_rps = 60 }
size = { dist = "lognormal", median = 5.0, sigma = 0.6, min = 1.0, max = 30.0 }
[[workload]]
model = "tts"
arrivals = { process = "poisson", rate_rps = 4 }
size = { dist = "lognormal", median = 80, sigma = 0.6, min = 10, max = 400 }
[[variant]]
name = "dedicated-2gpu"
gpu = "h100-80gb"
gpus = [{ regime = "dedicated", models = ["asr"] }, { regime = "dedicated", models = ["tts"] }]
[[variant]]
name = "time-sliced"
gpu = "h100-80gb"
gpus = [{ regime = "time-sliced", models = ["asr", "tts"] }]
[[variant]]
name = "mig-4g+3g"
gpu = "h100-80gb"
gpus = [{ regime = "mig", layout = "4g.40gb,3g.40gb", models = ["asr", "tts"] }]
"#;

    /// A small conversation scenario: 6 users speaking to a streaming ASR -> LLM -> in-flight
    /// TTS pipeline, on dedicated H100s and with ASR and TTS time-sliced on one.
    pub(crate) const VOICE: &str = r#"
name = "tui-voice"
duration_s = 30
warmup_s = 2
drain_s = 10
[models.asr]
from = "h100/asr"
asr_mode = "streaming"
[models.llm]
from = "h100/llm"
[models.tts]
from = "h100/tts"
tts_policy = "in-flight"
[[workload]]
pipeline = ["asr", "llm", "tts"]
users = 6
think_s = 1.0
pacing = "real-time"
size = { dist = "uniform", min = 2.0, max = 4.0 }
out_tokens = { dist = "uniform", min = 10, max = 30 }
[[variant]]
name = "dedicated-3gpu"
gpu = "h100-80gb"
gpus = [{ regime = "dedicated", models = ["asr"] }, { regime = "dedicated", models = ["llm"] }, { regime = "dedicated", models = ["tts"] }]
[[variant]]
name = "time-sliced-2gpu"
gpu = "h100-80gb"
gpus = [{ regime = "time-sliced", models = ["asr", "tts"] }, { regime = "dedicated", models = ["llm"] }]
"#;

    /// The app of a scenario text.
    pub(crate) fn app_of(text: &str, file: &str) -> App {
        App::new(
            parse_raw(text, file).expect("valid toml"),
            crate::scenario::files::Sources::none(file),
            1,
        )
        .expect("valid scenario")
    }

    /// `[slo]` objectives for the models of [`SMALL`].
    pub(crate) const SMALL_SLO: &str = "[slo]\n\"asr.p95_ms\" = 200\n\"tts.p95_ms\" = 2000\n";

    /// [`SMALL`] with [`SMALL_SLO`].
    pub(crate) fn small_slo_app() -> App {
        app_of(&format!("{SMALL}\n{SMALL_SLO}"), "small-slo.toml")
    }

    /// A planning spec: [`SMALL`]'s models and load with an objective and no `[[variant]]`.
    pub(crate) fn no_variant_app() -> App {
        let head = &SMALL[..SMALL.find("[[variant]]").expect("variants")];
        app_of(&format!("{head}\n[slo]\n\"asr.p95_ms\" = 300\n"), "plan.toml")
    }

    /// Every message a key or the run loop can send (background replies with stale generations).
    pub(crate) fn every_message() -> Vec<Message> {
        vec![
            Message::Tick { elapsed_ms: 50 },
            Message::TogglePause,
            Message::StepOnce,
            Message::SpeedUp,
            Message::SpeedDown,
            Message::Restart,
            Message::NextView,
            Message::PrevView,
            Message::GotoView(2),
            Message::NextVariant,
            Message::PrevVariant,
            Message::NextGpu,
            Message::PrevGpu,
            Message::NextModel,
            Message::ScaleLoad(true),
            Message::ScaleLoad(false),
            Message::CycleGpuType,
            Message::EditLayout,
            Message::InputChar('1'),
            Message::InputBackspace,
            Message::InputSubmit,
            Message::InputCancel,
            Message::InputChar('1'),
            Message::InputBackspace,
            Message::InputSubmit,
            Message::Quantum(true),
            Message::Quantum(false),
            Message::AddReplica,
            Message::RemoveReplica,
            Message::Slo(true),
            Message::Slo(false),
            Message::Export,
            Message::Rerun(None),
            Message::Rerun(Some(0)),
            Message::RunDone {
                variant: 0,
                gen: 0,
                outcome: Err("stale".into()),
            },
            Message::Exported(Err("disk full".into())),
            Message::PlanProgress { gen: 0, done: 1, total: 2 },
            Message::PlanDone {
                gen: 0,
                outcome: Err("stale".into()),
            },
            Message::ToggleHelp,
            Message::ToggleHelp,
        ]
    }

    pub(crate) fn voice_app() -> App {
        App::new(
            parse_raw(VOICE, "voice.toml").expect("valid toml"),
            crate::scenario::files::Sources::none("voice.toml"),
            1,
        )
        .expect("valid scenario")
    }

    pub(crate) fn small_app() -> App {
        App::new(
            parse_raw(SMALL, "small.toml").expect("valid toml"),
            crate::scenario::files::Sources::none("small.toml"),
            1,
        )
        .expect("valid scenario")
    }

    /// Run queued background runs synchronously, as the run loop would on worker threads.
    pub(crate) fn finish_runs(app: &mut App) {
        for e in app.take_effects() {
            if let Effect::Run {
                variant,
                gen,
                scenario,
                seed,
            } = e
            {
                let outcome = crate::tui::worker::run_variant(&scenario, variant, seed).map(Box::new);
                dispatch(app, Message::RunDone { variant, gen, outcome });
            }
        }
    }

    fn press(app: &mut App, code: KeyCode) {
        let k = KeyEvent::new(code, KeyModifiers::NONE);
        if let Some(m) = key_to_message(&app.mode, app.show_help, k) {
            dispatch(app, m);
        }
    }

    fn type_text(app: &mut App, s: &str) {
        for c in s.chars() {
            press(app, KeyCode::Char(c));
        }
    }

    #[test]
    fn space_pauses_and_ticks_then_do_not_advance() {
        let mut app = small_app();
        assert!(!app.live.paused);
        dispatch(&mut app, Message::Tick { elapsed_ms: 50 });
        let t = app.live.now_s();
        assert!((t - 0.5).abs() < 1e-9, "x10 for 50 ms is 0.5 s simulated, got {t}");
        press(&mut app, KeyCode::Char(' '));
        assert!(app.live.paused);
        dispatch(&mut app, Message::Tick { elapsed_ms: 50 });
        assert_eq!(app.live.now_s(), t);
        press(&mut app, KeyCode::Char('s'));
        assert!((app.live.now_s() - t - 0.1).abs() < 1e-9, "s steps 100 ms");
        press(&mut app, KeyCode::Char('+'));
        press(&mut app, KeyCode::Char('+'));
        assert_eq!(SPEEDS[app.live.speed], 50);
        for _ in 0..20 {
            press(&mut app, KeyCode::Char('-'));
        }
        assert_eq!(SPEEDS[app.live.speed], 1);
    }

    #[test]
    fn live_run_stops_at_the_horizon_and_shows_latencies() {
        let mut app = small_app();
        press(&mut app, KeyCode::Char('+'));
        for _ in 0..20 {
            dispatch(&mut app, Message::Tick { elapsed_ms: 100 });
        }
        assert!(app.live.finished() && app.live.paused);
        assert!(
            app.live.models[0].completed > 50,
            "asr completions: {}",
            app.live.models[0].completed
        );
        assert!(app.live.models[0].latency.p99 >= app.live.models[0].latency.p50);
        assert!(!app.live.history[0].is_empty());
    }

    #[test]
    fn keys_switch_views_variants_gpus_and_help() {
        let mut app = small_app();
        press(&mut app, KeyCode::Tab);
        assert_eq!(app.view, View::Compare);
        press(&mut app, KeyCode::BackTab);
        press(&mut app, KeyCode::BackTab);
        assert_eq!(app.view, View::Plan);
        press(&mut app, KeyCode::BackTab);
        assert_eq!(app.view, View::Latency);
        press(&mut app, KeyCode::Char('4'));
        assert_eq!(app.view, View::Plan);
        press(&mut app, KeyCode::Char('1'));
        assert_eq!(app.view, View::Live);
        press(&mut app, KeyCode::Right);
        assert_eq!(app.variant, 1);
        press(&mut app, KeyCode::Left);
        press(&mut app, KeyCode::Left);
        assert_eq!(app.variant, 2);
        press(&mut app, KeyCode::Char('?'));
        assert!(app.show_help);
        press(&mut app, KeyCode::Char('v'));
        assert_eq!(app.variant, 2, "help swallows other keys");
        press(&mut app, KeyCode::Esc);
        assert!(!app.show_help);
        press(&mut app, KeyCode::Char('q'));
        assert!(app.should_quit);
    }

    #[test]
    fn edit_a_mig_layout_then_rerun_in_background() {
        let mut app = small_app();
        finish_runs(&mut app);
        press(&mut app, KeyCode::Char('v'));
        press(&mut app, KeyCode::Char('v'));
        assert_eq!(app.scenario.variants[app.variant].name, "mig-4g+3g");
        press(&mut app, KeyCode::Char('l'));
        match &app.mode {
            Mode::EditLayout(i) => {
                assert_eq!(i.text, "4g.40gb=asr,3g.40gb=tts");
                assert_eq!(i.check.as_deref(), Ok("memory AAAABBBB  compute AAAABBB"));
            }
            m => panic!("expected layout input, got {m:?}"),
        }
        for _ in 0.."4g.40gb=asr,3g.40gb=tts".len() {
            press(&mut app, KeyCode::Backspace);
        }
        type_text(&mut app, "3g.40gb=asr,3g.40gb=tts");
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.mode, Mode::Normal);
        assert!(matches!(&app.raw.variant[2].gpus[0], crate::scenario::raw::RawGpu::Mig { layout, .. } if layout == "3g.40gb,3g.40gb"));
        assert!(matches!(app.runs[2].state, RunState::Running));
        let effects = app.take_effects();
        assert!(matches!(effects.as_slice(), [Effect::Run { variant: 2, .. }]), "{effects:?}");
        for e in effects {
            app.effects.push(e);
        }
        finish_runs(&mut app);
        match &app.runs[2].state {
            RunState::Done(r) => assert_eq!(r.summary.name, "mig-4g+3g"),
            s => panic!("{s:?}"),
        }
        let util: Vec<&str> = app.live.devices.iter().map(|d| d.label.as_str()).collect();
        assert_eq!(util, ["3g.40gb@4", "3g.40gb@0"]);
    }

    #[test]
    fn an_invalid_layout_is_refused_with_the_reason() {
        let mut app = small_app();
        press(&mut app, KeyCode::Char('l'));
        type_text(&mut app, "4g.40gb,4g.40gb");
        let Mode::EditLayout(i) = &app.mode else { panic!("input mode") };
        assert!(
            i.check.as_ref().is_err_and(|e| e.contains("at most 1")),
            "refused while typing: {:?}",
            i.check
        );
        press(&mut app, KeyCode::Enter);
        let Mode::EditLayout(i) = &app.mode else {
            panic!("stays in input mode")
        };
        assert!(
            i.check.as_ref().is_err_and(|e| e.contains("'4g.40gb' appears 2 times")),
            "{:?}",
            i.check
        );
        assert!(matches!(&app.status, Some(Status::Refused(r)) if r.contains("at most 1")));
        assert!(
            matches!(app.raw.variant[0].gpus[0], crate::scenario::raw::RawGpu::Dedicated { .. }),
            "nothing changed"
        );
        // A layout that places but starves a model of memory is refused by validation.
        for _ in 0..20 {
            press(&mut app, KeyCode::Backspace);
        }
        type_text(&mut app, "1g.10gb=tts");
        press(&mut app, KeyCode::Enter);
        assert!(matches!(app.mode, Mode::EditLayout(_)), "{:?}", app.status);
        press(&mut app, KeyCode::Esc);
        assert_eq!(app.mode, Mode::Normal);
    }

    #[test]
    fn what_if_keys_edit_the_scenario() {
        let mut app = small_app();
        finish_runs(&mut app);
        press(&mut app, KeyCode::Char('>'));
        assert!((app.load_factor - 1.1).abs() < 1e-12);
        assert_eq!(app.take_effects().len(), 3, "load change re-runs every variant");
        press(&mut app, KeyCode::Char('t'));
        assert!(matches!(&app.status, Some(Status::Refused(r)) if r.contains("no time-sliced GPU")));
        press(&mut app, KeyCode::Char('v'));
        press(&mut app, KeyCode::Char('t'));
        assert!(
            matches!(app.raw.variant[1].gpus[0], crate::scenario::raw::RawGpu::TimeSliced { quantum_ms: Some(q), .. } if q == 2.0 * crate::deploy::DEFAULT_QUANTUM_MS)
        );
        press(&mut app, KeyCode::Char('a'));
        assert_eq!(app.scenario.variants[1].gpus.len(), 2);
        press(&mut app, KeyCode::Char('x'));
        assert_eq!(app.scenario.variants[1].gpus.len(), 1);
        press(&mut app, KeyCode::Char('x'));
        assert!(matches!(&app.status, Some(Status::Refused(_))));
        press(&mut app, KeyCode::Char('g'));
        assert_eq!(app.raw.variant[1].gpu, "h100-pcie");
        press(&mut app, KeyCode::Char(']'));
        assert_eq!(
            app.slo_ms[0], None,
            "no [slo] and nothing measured since the re-run: {:?}",
            app.status
        );
        assert!(matches!(&app.status, Some(Status::Refused(r)) if r.contains("no p95 objective in [slo]")));
        assert_eq!(app.take_effects().len(), 4);
        let mut app = small_slo_app();
        press(&mut app, KeyCode::Char(']'));
        assert_eq!(app.slo_ms[0], Some(220.0), "] raises the [slo] objective by 10%");
    }

    /// Without `[slo]`, `]` and `[` start the selected model's objective at its measured p95 (of
    /// the variant's full run) rather than at a made-up default.
    #[test]
    fn slo_keys_start_from_the_measured_p95_without_slo() {
        let mut app = small_app();
        assert_eq!(app.slo_ms, [None, None]);
        press(&mut app, KeyCode::Char(']'));
        assert_eq!(app.slo_ms[0], None, "nothing measured yet");
        finish_runs(&mut app);
        let p95 = app.measured_p95(0).expect("the full run measured asr");
        press(&mut app, KeyCode::Char(']'));
        assert_eq!(app.slo_ms[0], Some(round3(p95)));
        assert!(
            matches!(&app.status, Some(Status::Info(s)) if s.contains("measured p95")),
            "{:?}",
            app.status
        );
        press(&mut app, KeyCode::Char(']'));
        assert_eq!(app.slo_ms[0], Some(round3(round3(p95) * 1.1)));
        assert_eq!(app.slo_ms[1], None, "the other model still has none");
        let keys: Vec<String> = app.plan_spec().slo.into_keys().collect();
        assert_eq!(keys, ["asr.p95_ms"]);
    }

    #[test]
    fn stale_background_results_are_dropped() {
        let mut app = small_app();
        let old = app.take_effects();
        dispatch(&mut app, Message::Rerun(Some(0)));
        for e in old {
            if let Effect::Run { variant, gen, .. } = e {
                dispatch(
                    &mut app,
                    Message::RunDone {
                        variant,
                        gen,
                        outcome: Err("stale".into()),
                    },
                );
            }
        }
        assert!(matches!(app.runs[0].state, RunState::Running));
        assert!(matches!(app.runs[1].state, RunState::Failed(_)));
    }

    #[test]
    fn export_writes_toml_that_run_accepts() {
        let mut app = small_app();
        press(&mut app, KeyCode::Char('v'));
        press(&mut app, KeyCode::Char('l'));
        for _ in 0..40 {
            press(&mut app, KeyCode::Backspace);
        }
        type_text(&mut app, "3g.40gb,2g.20gb");
        press(&mut app, KeyCode::Enter);
        press(&mut app, KeyCode::Char('<'));
        let dir = std::env::temp_dir().join(format!("gpuslice-tui-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        app.export_path = dir.join("export.toml").display().to_string();
        let _ = app.take_effects();
        press(&mut app, KeyCode::Char('e'));
        let effects = app.take_effects();
        let [Effect::Export { path, text }] = effects.as_slice() else {
            panic!("{effects:?}")
        };
        let sc = crate::scenario::files::parse_scenario(text, "export.toml", None).expect("gpuslice run accepts the export");
        assert_eq!(sc.variants.len(), 3);
        assert!(matches!(&sc.variants[1].gpus[0].regime, crate::scenario::Regime::Mig { profiles } if profiles.len() == 2));
        match &sc.workloads[0].load {
            crate::scenario::Load::Open {
                arrivals: crate::scenario::workload::Arrivals::Poisson { rate_rps },
                ..
            } => {
                assert!((rate_rps - 60.0 / 1.1).abs() < 0.01, "{rate_rps}")
            }
            l => panic!("{l:?}"),
        }
        dispatch(&mut app, crate::tui::export(path, text));
        assert!(
            matches!(&app.status, Some(Status::Info(s)) if s.contains("exported to")),
            "{:?}",
            app.status
        );
        let back = crate::scenario::files::load_scenario(Some(path)).expect("file on disk is accepted too");
        assert_eq!(back.name, "tui-test");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A spec without `[[variant]]` (what `gpuslice plan` reads) opens on the Plan view, says
    /// why there is nothing to simulate, and takes every message without panicking.
    #[test]
    fn a_spec_without_variants_opens_on_the_plan_and_takes_every_message() {
        let mut app = no_variant_app();
        assert_eq!(app.view, View::Plan);
        assert!(app.live.sim.is_none());
        assert!(
            app.live.error.as_deref().is_some_and(|e| e.contains("no [[variant]]")),
            "{:?}",
            app.live.error
        );
        assert!(app.take_effects().is_empty(), "no variant to run in the background");
        for view in View::ALL {
            dispatch(&mut app, Message::GotoView(view.index()));
            for m in every_message() {
                dispatch(&mut app, m);
                let _ = crate::tui::view::tests::screen(&app, 80, 24);
            }
            dispatch(&mut app, Message::InputCancel);
        }
        assert!(app.runs.is_empty() && app.scenario.variants.is_empty());
        // Planning works as for any scenario.
        dispatch(&mut app, Message::StartPlan);
        assert!(app.take_effects().iter().any(|e| matches!(e, Effect::Plan { .. })));
    }

    /// The export reports say once what was written where: the scenario's path once, the plan's
    /// scenario file and Kubernetes folder once each.
    #[test]
    fn an_export_says_once_what_it_wrote_where() {
        let mut app = small_app();
        let dir = std::env::temp_dir().join(format!("gpuslice-tui-once-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("export.toml").display().to_string();
        dispatch(&mut app, crate::tui::export(&path, "name = \"x\"\n"));
        let Some(Status::Info(s)) = &app.status else {
            panic!("{:?}", app.status)
        };
        assert_eq!(s.matches(path.as_str()).count(), 1, "{s}");
        assert!(s.contains("gpuslice run"), "says how to use it: {s}");
        let scenario = (dir.join("plan.toml").display().to_string(), "name = \"x\"\n".to_string());
        let k8s_dir = dir.join("k8s").display().to_string();
        let files = ["a.yaml", "b.yaml"].map(|n| crate::out::k8s::K8sFile {
            name: n.into(),
            text: "a: 1\n".into(),
        });
        dispatch(&mut app, crate::tui::export_plan(&scenario, &(k8s_dir.clone(), files.to_vec())));
        let Some(Status::Info(s)) = &app.status else {
            panic!("{:?}", app.status)
        };
        assert_eq!(s.matches(scenario.0.as_str()).count(), 1, "{s}");
        assert_eq!(s.matches(k8s_dir.as_str()).count(), 1, "{s}");
        assert!(s.contains("2 Kubernetes files"), "{s}");
        assert!(std::path::Path::new(&k8s_dir).join("b.yaml").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_export_is_refused_and_leaves_no_file() {
        let mut app = small_app();
        let dir = std::env::temp_dir().join(format!("gpuslice-tui-fail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("missing-folder/export.toml").display().to_string();
        dispatch(&mut app, crate::tui::export(&path, "name = \"x\"\n"));
        assert!(
            matches!(&app.status, Some(Status::Refused(s)) if s.contains("export failed") && s.contains("missing-folder")),
            "{:?}",
            app.status
        );
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 0, "nothing written");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
