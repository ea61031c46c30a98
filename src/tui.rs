//! `gpuslice tui`: an interactive terminal UI for what-if exploration (ratatui + crossterm).
//!
//! The Elm architecture, as in ratatui's TEA guide:
//! * [`app`]: the model ([`app::App`]); owns the live simulation and the background results.
//! * [`message`]: everything that can happen ([`message::Message`]).
//! * [`update`]: `key_to_message` (pure key mapping) and `update(&mut App, Message)`.
//! * [`view`]: `impl Widget for &App`, the pure view (live, compare, latency, plan views, help).
//! * [`edit`]: what-if edits of the raw scenario (load, GPU type, MIG layout, quantum, replicas).
//! * [`worker`]: the whole-run simulation that worker threads execute.
//!
//! Only this file touches the terminal, spawns threads and writes files: [`run`] reads keys,
//! maps them to messages, ticks the clock, executes the [`app::Effect`]s that `update` queued
//! (each background run on its own thread, replying through an mpsc channel) and draws.

pub mod app;
pub mod edit;
pub mod message;
pub mod update;
pub mod view;
pub mod worker;

use crate::error::{Error, Result};
use crate::scenario::raw::{self, RawScenario};
use app::{App, Effect};
use message::{Message, Written};
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::Terminal;
use std::path::Path;
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

/// Wall time between clock ticks (and the longest wait for a key).
const TICK: Duration = Duration::from_millis(50);

/// Load the scenario (file or embedded default) with its raw form and the files it references,
/// with relative model and trace paths made absolute so that an export written elsewhere still
/// finds them.
pub fn load(path: Option<&str>) -> Result<(RawScenario, crate::scenario::files::Sources)> {
    match path {
        None => Ok((
            raw::parse(
                crate::scenario::files::DEFAULT_SCENARIO,
                crate::scenario::files::DEFAULT_SCENARIO_NAME,
            )?,
            crate::scenario::files::Sources::none(crate::scenario::files::DEFAULT_SCENARIO_NAME),
        )),
        Some(p) => {
            let text = crate::scenario::files::read_text(Path::new(p), crate::scenario::files::MAX_TEXT_BYTES, "a scenario")?;
            let mut raw = raw::parse(&text, p)?;
            let dir = Path::new(p).parent().map(Path::to_path_buf);
            let absolute = |f: &str| -> Option<String> {
                let d = dir.as_ref()?.join(f);
                (Path::new(f).is_relative() && d.exists()).then(|| d.canonicalize().unwrap_or(d).display().to_string())
            };
            for m in raw.models.values_mut() {
                if let Some(a) = m.model_file().and_then(absolute) {
                    m.from = Some(a);
                }
            }
            for w in &mut raw.workload {
                if let Some(a) = w.trace.as_deref().and_then(absolute) {
                    w.trace = Some(a);
                }
            }
            let sources = crate::scenario::files::load_sources(&raw, p, dir.as_deref())?;
            Ok((raw, sources))
        }
    }
}

/// Write an export atomically (temporary file, then rename) and report it as a message.
pub fn export(path: &str, text: &str) -> Message {
    Message::Exported(
        crate::scenario::files::write_atomic(path, text)
            .map(|()| Written::Scenario(path.to_string()))
            .map_err(|e| e.to_string()),
    )
}

/// Write the plan's scenario file and Kubernetes folder (all files or none) and report it as a
/// message.
pub fn export_plan(scenario: &(String, String), k8s: &(String, Vec<crate::out::k8s::K8sFile>)) -> Message {
    let mut files = vec![scenario.clone()];
    files.extend(crate::out::export::k8s_outputs(&k8s.0, &k8s.1));
    Message::Exported(
        crate::scenario::files::write_all_atomic(&files, &[&k8s.0])
            .map(|()| Written::Plan {
                scenario: scenario.0.clone(),
                k8s_dir: k8s.0.clone(),
                k8s_files: k8s.1.len(),
            })
            .map_err(|e| e.to_string()),
    )
}

/// Execute one effect: runs go to a worker thread, exports are written here (small and fast).
fn perform(effect: Effect, tx: &Sender<Message>) {
    match effect {
        Effect::Run {
            variant,
            gen,
            scenario,
            seed,
        } => {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let outcome = worker::run_variant(&scenario, variant, seed).map(Box::new);
                // The UI may have quit meanwhile; then nobody needs the result.
                let _ = tx.send(Message::RunDone { variant, gen, outcome });
            });
        }
        Effect::Export { path, text } => {
            let _ = tx.send(export(&path, &text));
        }
        Effect::Plan { gen, raw, sources } => {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let progress = |done: usize, total: usize| {
                    let _ = tx.send(Message::PlanProgress { gen, done, total });
                };
                let outcome = crate::plan::plan(&raw, &sources, &progress)
                    .map(Box::new)
                    .map_err(|e| e.to_string());
                let _ = tx.send(Message::PlanDone { gen, outcome });
            });
        }
        Effect::ExportPlan { scenario, k8s } => {
            let _ = tx.send(export_plan(&scenario, &k8s));
        }
    }
}

/// Put the terminal back: leave raw mode and the alternate screen.
fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen);
}

/// Restores the terminal when dropped, so every exit path (including `?` errors) cleans up.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Run the TUI on `scenario` (default: the embedded study) until `q`.
pub fn run(scenario: Option<String>, seed: u64) -> Result<()> {
    let (raw, sources) = load(scenario.as_deref())?;
    let mut app = App::new(raw, sources, seed)?;
    let io = |e: std::io::Error| Error::io("<terminal>", e);

    // A panic must not leave the shell in raw mode on the alternate screen: restore first, then
    // let the previous hook print the message.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    enable_raw_mode().map_err(io)?;
    let _guard = TerminalGuard;
    execute!(std::io::stdout(), EnterAlternateScreen).map_err(io)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(io)?;

    let (tx, rx) = mpsc::channel::<Message>();
    let mut last_tick = Instant::now();
    while !app.should_quit {
        for e in app.take_effects() {
            perform(e, &tx);
        }
        terminal.draw(|f| f.render_widget(&app, f.area())).map_err(io)?;
        let wait = TICK.saturating_sub(last_tick.elapsed());
        if event::poll(wait).map_err(io)? {
            if let Event::Key(k) = event::read().map_err(io)? {
                if k.kind == KeyEventKind::Press {
                    if let Some(m) = update::key_to_message(&app.mode, app.show_help, k) {
                        update::dispatch(&mut app, m);
                    }
                }
            }
        }
        while let Ok(m) = rx.try_recv() {
            update::dispatch(&mut app, m);
        }
        let elapsed = last_tick.elapsed();
        if elapsed >= TICK {
            last_tick = Instant::now();
            update::dispatch(
                &mut app,
                Message::Tick {
                    elapsed_ms: elapsed.as_millis() as u64,
                },
            );
        }
    }
    terminal.show_cursor().map_err(io)?;
    Ok(())
}
