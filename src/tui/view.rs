//! The pure view: `impl Widget for &App`. Drawing reads the [`App`] and nothing else, so the
//! same state always gives the same screen, and tests render it into a `TestBackend`.
//!
//! Frame: a two-line header (tabs; variant and clock), the body of the current view, and a
//! footer (status or the layout input line, then key hints) that grows to fit a long refusal
//! reason. The help overlay is drawn on top.
//!
//! Why one file of ~820 lines: the pure view of every screen, two thirds of it TestBackend rendering tests.

pub(crate) mod compare;
mod latency;
mod live;
mod plan;

use super::app::{App, Mode, Status, View, SPEEDS};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

/// Titles and the active tab.
pub const TITLE: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
/// The selected row (GPU, model).
pub const SELECTED: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
/// Secondary text.
pub const DIM: Style = Style::new().fg(Color::DarkGray);
/// Refusals and errors.
pub const BAD: Style = Style::new().fg(Color::Red);
/// Accepted input.
pub const GOOD: Style = Style::new().fg(Color::Green);
/// Busy gauges and bars.
pub const BAR: Style = Style::new().fg(Color::Blue);
/// One colour per MIG instance (A, B, C...).
pub const INSTANCE: [Color; 7] = [
    Color::Blue,
    Color::Magenta,
    Color::Green,
    Color::Yellow,
    Color::Cyan,
    Color::Red,
    Color::LightBlue,
];

/// Columns of a help line before its description (` {key:<11}`).
const HELP_KEY_W: usize = 12;

/// Every key, as the help overlay and docs/src/tui.md list them.
pub const KEYS: &[(&str, &str)] = &[
    ("q  Ctrl-C", "quit (the terminal is restored)"),
    ("?  Esc", "show / hide this help"),
    ("Tab  S-Tab", "next / previous view; 1 2 3 4 jump to one"),
    ("space", "play / pause the live simulation"),
    ("s", "step the live simulation by 100 ms"),
    ("+  -", "speed x1 .. x1000 (simulated s per s)"),
    ("r", "restart the live simulation at t = 0"),
    ("→ ←  v V", "next / previous variant"),
    ("↓ ↑  j k", "next / previous GPU of the variant"),
    ("m", "next model (for a, x, [ and ])"),
    (">  <", "load +10% / -10% (rates, users, traces)"),
    ("g", "next GPU type the variant fits on"),
    ("l", "type a MIG layout for the GPU: 3g.40gb=asr,.."),
    ("t  T", "time slice x2 / /2 (time-sliced GPU)"),
    ("a  x", "add / remove a dedicated GPU of the model"),
    ("]  [", "latency SLO of the model +10% / -10%"),
    ("e", "export the scenario (Plan view: the plan) to a file"),
    ("p", "plan: cheapest deployment meeting the SLOs"),
    ("Enter Esc", "layout line: apply / cancel"),
];

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let footer = footer_lines(self);
        let footer_h = footer.iter().map(|l| wrapped_height(l, area.width)).sum::<u16>().min(5);
        let [header, body, foot] = Layout::vertical([Constraint::Length(2), Constraint::Min(0), Constraint::Length(footer_h)]).areas(area);
        render_header(self, header, buf);
        match self.view {
            View::Live | View::Compare | View::Latency if self.scenario.variants.is_empty() => render_no_variants(body, buf),
            View::Live => live::render(self, body, buf),
            View::Compare => compare::render(self, body, buf),
            View::Latency => latency::render(self, body, buf),
            View::Plan => plan::render(self, body, buf),
        }
        Paragraph::new(footer).wrap(Wrap { trim: false }).render(foot, buf);
        if self.show_help {
            render_help(area, buf);
        }
    }
}

/// Rows a line takes when word-wrapped to `width` columns: a word that does not fit the rest of a
/// row starts the next one (so a long status takes more rows than its width alone says, and the
/// key hints under it are not pushed off the footer); a word wider than a row is broken.
fn wrapped_height(l: &Line, width: u16) -> u16 {
    let width = usize::from(width.max(1));
    let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
    let (mut rows, mut col) = (1usize, 0usize);
    for token in text.split_inclusive(' ') {
        let word = Span::raw(token.trim_end_matches(' ')).width();
        if col > 0 && col + word > width {
            rows += 1;
            col = 0;
        }
        if word > width {
            rows += (word - 1) / width;
            col = word - (word - 1) / width * width;
        } else {
            col += word;
        }
        col = (col + token.len() - token.trim_end_matches(' ').len()).min(width);
    }
    rows.max(l.width().div_ceil(width).max(1)) as u16
}

/// Milliseconds with 3 significant figures.
pub fn fmt_ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// `width` cells of a horizontal bar filled to `frac`, in eighths.
pub fn bar(frac: f64, width: usize) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (frac.clamp(0.0, 1.0) * width as f64 * 8.0).round() as usize;
    let mut s: String = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) && s.chars().count() < width {
        s.push(PARTS[eighths % 8]);
    }
    let n = s.chars().count();
    s.push_str(&"·".repeat(width.saturating_sub(n)));
    s
}

/// Text cut to `w` characters (with `…` when cut).
pub fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else if w == 0 {
        String::new()
    } else {
        let mut t: String = s.chars().take(w - 1).collect();
        t.push('…');
        t
    }
}

fn render_header(app: &App, area: Rect, buf: &mut Buffer) {
    let mut tabs = vec![Span::styled(" gpuslice ", TITLE)];
    for (i, v) in View::ALL.iter().enumerate() {
        let style = if *v == app.view {
            TITLE.add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        tabs.push(Span::styled(format!(" {} {} ", i + 1, v.title()), style));
    }
    tabs.push(Span::styled(" ? help  q quit  ", DIM));
    tabs.push(Span::styled(app.scenario.name.clone(), DIM));
    let Some(var) = app.selected_variant() else {
        let info = Line::from(Span::styled(" planning spec: no [[variant]] to simulate; p plans it", DIM));
        Paragraph::new(vec![Line::from(tabs), info]).render(area, buf);
        return;
    };
    let live = &app.live;
    // The clock comes first so that it survives a narrow terminal.
    let clock = if live.sim.is_none() {
        Span::styled(" cannot simulate ", BAD)
    } else if live.finished() {
        Span::styled(format!(" ■ done x{} ", SPEEDS[live.speed]), DIM)
    } else if live.paused {
        Span::styled(format!(" ‖ paused x{} ", SPEEDS[live.speed]), SELECTED)
    } else {
        Span::styled(format!(" ▶ x{} ", SPEEDS[live.speed]), GOOD)
    };
    let info = Line::from(vec![
        clock,
        Span::raw(format!(
            "t {:.1}/{:.0} s │ {}/{} ",
            live.now_s(),
            live.horizon_s(),
            app.variant + 1,
            app.scenario.variants.len()
        )),
        Span::styled(var.name.clone(), SELECTED),
        Span::raw(format!(
            " {}x {} ${:.2}/h │ load x{:.2}",
            var.gpus.len(),
            var.gpu.name,
            var.price_usd_per_hour * var.gpus.len() as f64,
            app.load_factor,
        )),
    ]);
    Paragraph::new(vec![Line::from(tabs), info]).render(area, buf);
}

/// The body of the views that show variants (live, compare, latency) when there are none: why.
fn render_no_variants(area: Rect, buf: &mut Buffer) {
    Paragraph::new(Span::styled(super::app::NO_VARIANTS, DIM))
        .wrap(Wrap { trim: true })
        .block(Block::bordered().title(Span::styled(" no [[variant]] ", TITLE)))
        .render(area, buf);
}

fn footer_lines(app: &App) -> Vec<Line<'static>> {
    if let Mode::EditLayout(inp) = &app.mode {
        let check = match &inp.check {
            Ok(map) => Line::from(vec![
                Span::styled(format!(" ✓ {map}"), GOOD),
                Span::styled("   Enter apply  Esc cancel", DIM),
            ]),
            Err(why) => Line::from(Span::styled(format!(" ✗ {why}"), BAD)),
        };
        return vec![
            Line::from(vec![
                Span::styled(format!(" MIG layout of GPU {}> ", inp.gpu), TITLE),
                Span::raw(inp.text.clone()),
                Span::styled("█", DIM),
            ]),
            check,
        ];
    }
    let status = match &app.status {
        Some(Status::Info(s)) => Line::from(Span::raw(format!(" {s}"))),
        Some(Status::Refused(s)) => Line::from(Span::styled(format!(" ✗ refused: {s}"), BAD)),
        None => Line::from(Span::styled(" scenario loaded from ".to_string() + &app.source, DIM)),
    };
    let hints = match app.view {
        View::Live => " space play/pause  s step  +/- speed  ←→ variant  ↑↓ GPU  l layout  ? keys",
        View::Compare => " full runs of every variant  > < load  g GPU type  a x replicas  ? keys",
        View::Latency => " CDF per model, red line: SLO  m model  ] [ SLO  ←→ variant  ? keys",
        View::Plan => " p plan  m model  ] [ its p95 SLO  e export plan + Kubernetes files  ? keys",
    };
    vec![status, Line::from(Span::styled(hints, DIM))]
}

/// The help overlay: as wide as its longest line (descriptions wrap where the terminal is
/// narrower), centred.
fn render_help(area: Rect, buf: &mut Buffer) {
    let widest = KEYS.iter().map(|(_, d)| Span::raw(*d).width()).max().unwrap_or(0) + HELP_KEY_W;
    let w = area.width.min(widest as u16 + 2);
    let h = area.height.min(KEYS.len() as u16 + 2);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    Clear.render(r, buf);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, d)| Line::from(vec![Span::styled(format!(" {k:<11}"), SELECTED), Span::raw(d.to_string())]))
        .collect();
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::bordered().title(Span::styled(" Keys (? or Esc closes) ", TITLE)))
        .render(r, buf);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tui::message::Message;
    use crate::tui::update::tests::{finish_runs, small_app};
    use crate::tui::update::update;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    /// Render into a `TestBackend` of `w` x `h` and return the screen as text, one line per row.
    pub(crate) fn screen(app: &App, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).expect("test backend");
        t.draw(|f| f.render_widget(app, f.area())).expect("draw");
        let buf = t.backend().buffer();
        (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>().trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn app_in(view: View, variant: usize) -> App {
        let mut app = small_app();
        finish_runs(&mut app);
        for _ in 0..variant {
            update(&mut app, Message::NextVariant);
        }
        update(&mut app, Message::GotoView(view.index()));
        for _ in 0..15 {
            update(&mut app, Message::StepOnce);
        }
        app
    }

    const SIZES: [(u16, u16); 2] = [(80, 24), (200, 60)];

    #[test]
    fn live_view_shows_gpus_regimes_and_models() {
        for (w, h) in SIZES {
            let s = screen(&app_in(View::Live, 0), w, h);
            for want in ["Live", "dedicated-2gpu", "GPU 0", "GPU 1", "dedicated", "busy", "asr", "tts", "p95"] {
                assert!(s.contains(want), "{w}x{h} lacks '{want}':\n{s}");
            }
            let s = screen(&app_in(View::Live, 1), w, h);
            let quantum = format!("quantum {} ms", crate::deploy::DEFAULT_QUANTUM_MS);
            for want in ["time-sliced", quantum.as_str(), "ts:asr", "ts:tts", "running"] {
                assert!(s.contains(want), "{w}x{h} lacks '{want}':\n{s}");
            }
            let s = screen(&app_in(View::Live, 2), w, h);
            for want in ["MIG", "memory", "compute", "A A A A B B B B", "4g.40gb@0", "3g.40gb@4"] {
                assert!(s.contains(want), "{w}x{h} lacks '{want}':\n{s}");
            }
        }
    }

    #[test]
    fn compare_view_shows_every_variant() {
        for (w, h) in SIZES {
            let s = screen(&app_in(View::Compare, 0), w, h);
            for want in [
                "Compare",
                "throughput per GPU",
                "p95",
                "cost",
                "failures",
                "dedicated-2gpu",
                "time-sliced",
                "mig-4g+3g",
                "$4.98",
            ] {
                assert!(s.contains(want), "{w}x{h} lacks '{want}':\n{s}");
            }
        }
        let s = screen(&app_in(View::Compare, 0), 200, 60);
        assert!(s.contains("req/s/GPU"), "the summary table appears when there is room:\n{s}");
        let fresh = small_app();
        let s = screen(&fresh, 80, 24);
        assert!(s.contains("dedicated-2gpu"), "{s}");
        let mut fresh = small_app();
        update(&mut fresh, Message::NextView);
        assert!(screen(&fresh, 80, 24).contains("running"), "runs in flight are shown as such");
    }

    /// The small scenario's models and load with twelve dedicated variants, runs finished.
    fn twelve_variant_app() -> App {
        let head = &crate::tui::update::tests::SMALL[..crate::tui::update::tests::SMALL.find("[[variant]]").expect("variants")];
        let mut text = head.to_string();
        for v in 0..12 {
            text.push_str(&format!(
                "[[variant]]\nname = \"v{v:02}-dedicated\"\ngpu = \"h100-80gb\"\ngpus = [{{ regime = \"dedicated\", models = [\"asr\"] }}, {{ regime = \"dedicated\", models = [\"tts\"] }}]\n"
            ));
        }
        let raw = crate::scenario::raw::parse(&text, "twelve.toml").expect("valid toml");
        let mut app = App::new(raw, crate::scenario::files::Sources::none("twelve.toml"), 1).expect("valid scenario");
        finish_runs(&mut app);
        update(&mut app, Message::GotoView(View::Compare.index()));
        app
    }

    #[test]
    fn compare_view_scrolls_with_the_selected_variant() {
        // A bar's label starts its row: "│v05-dedicat…".
        let bar = |v: usize| format!("│v{v:02}-");
        let mut app = twelve_variant_app();
        let s = screen(&app, 80, 24);
        assert!(
            s.contains(" 1-") && s.contains("/12 ←→"),
            "the titles say which variants are shown:\n{s}"
        );
        assert!(s.contains(&bar(0)) && !s.contains(&bar(11)), "{s}");
        for _ in 0..11 {
            update(&mut app, Message::NextVariant);
        }
        let s = screen(&app, 80, 24);
        assert!(
            s.contains(&bar(11)) && s.contains("-12/12 ←→"),
            "the window followed the selection:\n{s}"
        );
        assert!(!s.contains(&bar(0)), "{s}");
        // In the middle, the selected variant is shown with its neighbours.
        for _ in 0..5 {
            update(&mut app, Message::PrevVariant);
        }
        let s = screen(&app, 80, 24);
        for v in [5, 6, 7] {
            assert!(s.contains(&bar(v)), "lacks variant {v}:\n{s}");
        }
        // A tall terminal shows all twelve, without the note.
        let s = screen(&app, 200, 60);
        assert!(
            s.contains("v00-dedicated") && s.contains("v11-dedicated") && !s.contains("/12 ←→"),
            "{s}"
        );
    }

    #[test]
    fn the_compare_window_contains_the_selection_and_fits() {
        use super::compare::window;
        for n in 0..15 {
            for sel in 0..n.max(1) {
                for rows in 0..20 {
                    let w = window(n, sel, rows);
                    assert!(w.end <= n, "{n} {sel} {rows}: {w:?}");
                    if n > 0 {
                        assert!(w.contains(&sel), "{n} {sel} {rows}: {w:?}");
                        assert_eq!(w.len(), rows.clamp(1, n), "{n} {sel} {rows}: {w:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn live_view_shows_active_conversations_and_first_audio() {
        let mut app = crate::tui::update::tests::voice_app();
        finish_runs(&mut app);
        let s = screen(&app, 80, 24);
        assert!(s.contains("Conversations 0 active of 6 users"), "before the first utterance:\n{s}");
        // x10: 6 s simulated, past the warm-up and the first replies.
        for _ in 0..12 {
            update(&mut app, Message::Tick { elapsed_ms: 50 });
        }
        let (n, fa) = app.live.first_audio;
        assert!(n > 0, "no turn measured after 6 s");
        for (w, h) in SIZES {
            let s = screen(&app, w, h);
            let want = format!("p50 {} p95 {} ms ({n} turns)", fmt_ms(fa.p50), fmt_ms(fa.p95));
            for want in ["Conversations 6 active of 6 users", "first audio", want.as_str(), "GPU 0", "p95"] {
                assert!(s.contains(want), "{w}x{h} lacks '{want}':\n{s}");
            }
        }
        // A scenario without conversations has no such line.
        let s = screen(&app_in(View::Live, 0), 80, 24);
        assert!(!s.contains("Conversations"), "{s}");
    }

    #[test]
    fn compare_view_shows_first_audio_latency() {
        let mut app = crate::tui::update::tests::voice_app();
        finish_runs(&mut app);
        update(&mut app, Message::GotoView(View::Compare.index()));
        let p95: Vec<String> = app
            .runs
            .iter()
            .map(|r| match &r.state {
                crate::tui::app::RunState::Done(r) => fmt_ms(r.summary.stages["asr->llm->tts"].time_to_first_audio_ms.p95),
                other => panic!("run not done: {other:?}"),
            })
            .collect();
        for (w, h) in SIZES {
            let s = screen(&app, w, h);
            for want in ["first audio", p95[0].as_str(), p95[1].as_str()] {
                assert!(s.contains(want), "{w}x{h} lacks '{want}':\n{s}");
            }
        }
        let s = screen(&app, 200, 60);
        assert!(s.contains("audio p95"), "the summary table has the column:\n{s}");
        let s = screen(&app_in(View::Compare, 0), 200, 60);
        assert!(!s.contains("first audio"), "no chart without speech:\n{s}");
    }

    #[test]
    fn latency_view_shows_cdfs_and_slo() {
        let mut app = crate::tui::update::tests::small_slo_app();
        finish_runs(&mut app);
        update(&mut app, Message::NextVariant);
        update(&mut app, Message::GotoView(View::Latency.index()));
        for (w, h) in SIZES {
            let s = screen(&app, w, h);
            for want in ["Latency", "asr", "tts", "≤200 ms", "≤2000 ms", "full run"] {
                assert!(s.contains(want), "{w}x{h} lacks '{want}':\n{s}");
            }
        }
    }

    #[test]
    fn help_lists_every_key() {
        let mut app = small_app();
        update(&mut app, Message::ToggleHelp);
        let s = screen(&app, 80, 24);
        for (k, _) in KEYS {
            assert!(s.contains(k), "help lacks '{k}':\n{s}");
        }
        assert!(s.contains("export the scenario"), "{s}");
    }

    /// `p` queues a plan of the loaded scenario with the TUI's SLOs and opens the Plan view; its
    /// progress and result are drawn; `e` then queues the plan's scenario and Kubernetes files.
    /// The objectives come from `[slo]`.
    #[test]
    fn plan_view_plans_shows_and_exports() {
        use crate::tui::app::{Effect, PlanState};
        let mut app = crate::tui::update::tests::small_slo_app();
        assert_eq!(app.slo_ms, vec![Some(200.0), Some(2000.0)], "as in [slo]");
        update(&mut app, Message::GotoView(3));
        assert!(screen(&app, 100, 30).contains("p plans the cheapest deployment"));
        let key = ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::Char('p'));
        let msg = crate::tui::update::key_to_message(&app.mode, false, key).expect("p maps");
        crate::tui::update::dispatch(&mut app, msg);
        let Some(Effect::Plan { gen, raw, sources }) = app.take_effects().into_iter().find(|e| matches!(e, Effect::Plan { .. })) else {
            panic!("no plan effect")
        };
        assert_eq!(raw.slo.get("asr.p95_ms"), Some(&200.0));
        update(&mut app, Message::PlanProgress { gen, done: 3, total: 6 });
        assert!(screen(&app, 100, 30).contains("3/6 structures"));
        let result = crate::plan::plan(&raw, &sources, &|_, _| {}).expect("plans");
        update(
            &mut app,
            Message::PlanDone {
                gen,
                outcome: Ok(Box::new(result)),
            },
        );
        assert!(matches!(app.plan, PlanState::Done(_)));
        let s = screen(&app, 120, 40);
        for want in ["Best", "Best per regime", "time-sliced", "mig", "dedicated", "GPUs"] {
            assert!(s.contains(want), "plan view lacks '{want}':\n{s}");
        }
        update(&mut app, Message::Export);
        assert!(
            app.take_effects()
                .iter()
                .any(|e| matches!(e, Effect::ExportPlan { k8s, .. } if !k8s.1.is_empty())),
            "e in the Plan view exports the plan"
        );
        // A stale reply (older generation) is ignored.
        update(
            &mut app,
            Message::PlanProgress {
                gen: gen - 1,
                done: 0,
                total: 1,
            },
        );
        assert!(matches!(app.plan, PlanState::Done(_)));
        // [slo] sets the starting objectives.
        let raw = crate::scenario::raw::parse(
            &format!("{}\n[slo]\n\"asr.p95_ms\" = 150\n", crate::tui::update::tests::SMALL),
            "t.toml",
        )
        .expect("parses");
        let app = App::new(raw, crate::scenario::files::Sources::none("t.toml"), 1).expect("valid");
        assert_eq!(app.slo_ms, [Some(150.0), None]);
    }

    #[test]
    fn layout_input_and_refusal_are_drawn() {
        let mut app = app_in(View::Live, 2);
        update(&mut app, Message::EditLayout);
        let s = screen(&app, 80, 24);
        assert!(s.contains("MIG layout of GPU 0> 4g.40gb=asr,3g.40gb=tts"), "{s}");
        assert!(s.contains("✓ memory AAAABBBB"), "{s}");
        update(&mut app, Message::InputChar(','));
        update(&mut app, Message::InputChar('4'));
        update(&mut app, Message::InputChar('g'));
        let s = screen(&app, 80, 24);
        assert!(s.contains("✗ unknown MIG profile '4g'"), "{s}");
        update(&mut app, Message::InputBackspace);
        update(&mut app, Message::InputBackspace);
        update(&mut app, Message::InputBackspace);
        for c in ",1g.10gb".chars() {
            update(&mut app, Message::InputChar(c));
        }
        update(&mut app, Message::InputSubmit);
        let s = screen(&app, 80, 24);
        assert!(
            s.contains("profile '1g.10gb' cannot") && s.contains("8/7 compute slices"),
            "the whole reason wraps into the footer:\n{s}"
        );
    }

    #[test]
    fn zero_and_tiny_areas_do_not_panic() {
        for view in View::ALL {
            for v in 0..3 {
                let mut app = app_in(view, v);
                for help in [false, true] {
                    app.show_help = help;
                    let mut buf = Buffer::empty(Rect::ZERO);
                    (&app).render(Rect::ZERO, &mut buf);
                    for (w, h) in [(1, 1), (2, 5), (10, 3), (20, 5), (20, 8), (39, 12), (80, 5), (80, 24)] {
                        let _ = screen(&app, w, h);
                    }
                }
            }
        }
    }

    /// `gpuslice tui experiments/plan-voice.toml`: the shipped planning spec (no `[[variant]]`)
    /// opens on the Plan view with its own objectives, and every view renders, at 80x24 and in
    /// tiny terminals, with and without the help.
    #[test]
    fn a_planning_spec_opens_on_the_plan_view_and_every_view_renders() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/plan-voice.toml");
        let (raw, sources) = crate::tui::load(Some(path)).expect("loads");
        let mut app = App::new(raw, sources, 1).expect("a planning spec opens");
        assert_eq!(app.view, View::Plan);
        let s = screen(&app, 80, 24);
        assert!(s.contains("4 Plan") && s.contains("asr.p95_ms <= 500 ms"), "{s}");
        for view in View::ALL {
            update(&mut app, Message::GotoView(view.index()));
            let s = screen(&app, 80, 24);
            if view != View::Plan {
                assert!(s.contains("it is a planning spec"), "{view:?} says why it is empty:\n{s}");
            }
            for help in [false, true] {
                app.show_help = help;
                let mut buf = Buffer::empty(Rect::ZERO);
                (&app).render(Rect::ZERO, &mut buf);
                for (w, h) in [(80, 24), (20, 5), (1, 1), (0, 0), (200, 60)] {
                    let _ = screen(&app, w, h);
                }
            }
            app.show_help = false;
        }
    }

    /// True when some cell of the screen is drawn in red (the colour of SLO bounds and lines).
    fn has_red(app: &App, w: u16, h: u16) -> bool {
        let mut t = Terminal::new(TestBackend::new(w, h)).expect("test backend");
        t.draw(|f| f.render_widget(app, f.area())).expect("draw");
        let buf = t.backend().buffer();
        buf.content().iter().any(|c| c.fg == Color::Red)
    }

    /// Without `[slo]` no objective is made up: no bound in the latency titles, no red line, no
    /// objective in the Plan view or the planning spec. With one, only that one is shown.
    #[test]
    fn without_slo_no_objective_is_invented() {
        let app = app_in(View::Latency, 1);
        let s = screen(&app, 80, 24);
        assert!(!s.contains('≤') && !has_red(&app, 80, 24), "an invented SLO is drawn:\n{s}");
        assert!(app.plan_spec().slo.is_empty(), "{:?}", app.plan_spec().slo);
        let mut app = app;
        update(&mut app, Message::GotoView(View::Plan.index()));
        let s = screen(&app, 100, 30);
        assert!(!s.contains("p95_ms"), "{s}");
        // One objective in [slo]: the model without one has no line.
        let text = format!("{}\n[slo]\n\"asr.p95_ms\" = 150\n", crate::tui::update::tests::SMALL);
        let mut app = crate::tui::update::tests::app_of(&text, "one-slo.toml");
        finish_runs(&mut app);
        update(&mut app, Message::GotoView(View::Latency.index()));
        let s = screen(&app, 80, 24);
        assert!(s.contains("≤150 ms") && s.matches('≤').count() == 1, "{s}");
        let keys: Vec<String> = app.plan_spec().slo.into_keys().collect();
        assert_eq!(keys, ["asr.p95_ms"]);
        // The voice planning spec plans against its own four objectives, no others.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/experiments/plan-voice.toml");
        let (raw, sources) = crate::tui::load(Some(path)).expect("loads");
        let app = App::new(raw, sources, 1).expect("opens");
        let keys: Vec<String> = app.plan_spec().slo.into_keys().collect();
        assert_eq!(
            keys,
            [
                "asr.p95_ms",
                "llm.ttft_p95_ms",
                "voice-turn.first_audio_p95_ms",
                "voice-turn.p95_ms"
            ]
        );
    }

    /// The Plan table's objective columns say whose metric they are, cut to the column but
    /// still told apart.
    #[test]
    fn plan_columns_name_the_model_or_workload() {
        use crate::tui::app::PlanState;
        let mut app = crate::tui::update::tests::small_slo_app();
        let raw = app.plan_spec();
        let mut result = crate::plan::plan(&raw, &app.sources, &|_, _| {}).expect("plans");
        app.plan = PlanState::Done(Box::new(result.clone()));
        update(&mut app, Message::GotoView(View::Plan.index()));
        let s = screen(&app, 120, 40);
        let head = s
            .lines()
            .find(|l| l.contains("GPUs") && l.contains("deployment"))
            .expect("table header");
        assert!(head.contains("asr.p95_ms") && head.contains("tts.p95_ms"), "{head}");
        // Long keys (the voice planning spec's) are cut, yet every column stays distinct.
        let long = ["voice-turn.p95_ms", "voice-turn.first_audio_p95_ms"];
        for (s, k) in result.slo.iter_mut().zip(long) {
            s.key = k.to_string();
        }
        for c in &mut result.candidates {
            let values: Vec<Option<f64>> = c.slo_values.values().copied().collect();
            c.slo_values = long.iter().map(|k| k.to_string()).zip(values).collect();
        }
        app.plan = PlanState::Done(Box::new(result));
        for w in [80, 120] {
            let s = screen(&app, w, 40);
            let head = s.lines().find(|l| l.contains("GPUs") && l.contains("$/h")).expect("table header");
            let cols: Vec<&str> = head.split_whitespace().skip(3).take(2).collect();
            assert!(cols.iter().all(|c| c.starts_with("voice")), "{w}: {head}");
            assert_ne!(cols[0], cols[1], "{w}: {head}");
            assert!(cols.iter().all(|c| c.contains("p95")), "{w}: {head}");
        }
    }

    /// Objective column headers: the key when it fits, else cut to the column yet telling the
    /// model or workload, the metric and every column apart.
    #[test]
    fn plan_column_labels_fit_and_stay_distinct() {
        use super::plan::{column_labels, COLUMN_MAX};
        let voice = [
            "asr.p95_ms",
            "llm.ttft_p95_ms",
            "voice-turn.p95_ms",
            "voice-turn.first_audio_p95_ms",
        ];
        assert_eq!(
            column_labels(&voice, COLUMN_MAX),
            ["asr.p95_ms", "llm.ttft_p95_ms", "voice-turn.p95", "voice….audio_p95"]
        );
        let alike = [
            "conversation-alpha.p95_ms",
            "conversation-omega.p95_ms",
            "conversation-omega.p99_ms",
        ];
        let l = column_labels(&alike, 12);
        assert_eq!(l, ["conv…pha.p95", "conv…ega.p95", "conv…ega.p99"]);
        let same_ends = ["long-name-a-x.p95_ms", "long-name-b-x.p95_ms"];
        for keys in [&voice[..], &alike[..], &same_ends[..]] {
            for max in [8, 10, 12, COLUMN_MAX, 30] {
                let l = column_labels(keys, max);
                for (i, a) in l.iter().enumerate() {
                    assert!(a.chars().count() <= max.max(8), "{max}: {a}");
                    assert!(l.iter().filter(|b| *b == a).count() == 1, "{max}: {l:?}");
                    assert!(a.contains(keys[i].split('.').next().unwrap_or("")) || a.contains('…'), "{a}");
                }
            }
        }
    }

    /// At 80x24 the help shows every key and its whole description, and each view's key hints
    /// fit their footer row.
    #[test]
    fn help_and_footer_fit_80x24() {
        let mut app = small_app();
        update(&mut app, Message::ToggleHelp);
        let s = screen(&app, 80, 24);
        for (k, d) in KEYS {
            assert!(s.lines().any(|l| l.contains(k) && l.contains(d)), "help cuts '{k}  {d}':\n{s}");
        }
        update(&mut app, Message::ToggleHelp);
        for view in View::ALL {
            update(&mut app, Message::GotoView(view.index()));
            let hint = footer_lines(&app).last().expect("hints").to_string();
            let s = screen(&app, 80, 24);
            assert!(s.lines().any(|l| l == hint.trim_end()), "{view:?} cuts its hints '{hint}':\n{s}");
        }
        // A long refusal whose words wrap into more rows than its width alone needs still leaves
        // the hints their row.
        let word = "x".repeat(45);
        app.status = Some(Status::Refused([word.as_str(); 3].join(" ")));
        let hint = footer_lines(&app).last().expect("hints").to_string();
        let s = screen(&app, 80, 24);
        assert!(s.lines().any(|l| l == hint.trim_end()), "the refusal pushes out the hints:\n{s}");
        assert_eq!(s.matches(word.as_str()).count(), 3, "the whole refusal is shown:\n{s}");
    }

    /// Prints every view of the embedded scenario at both sizes (`-- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn print_all_screens() {
        let raw = crate::scenario::raw::parse(crate::scenario::files::DEFAULT_SCENARIO, "default").expect("embedded scenario");
        let mut app = App::new(
            raw,
            crate::scenario::files::Sources::none(crate::scenario::files::DEFAULT_SCENARIO_NAME),
            1,
        )
        .expect("valid");
        finish_runs(&mut app);
        for _ in 0..30 {
            update(&mut app, Message::Tick { elapsed_ms: 100 });
        }
        update(&mut app, Message::ToggleHelp);
        println!("--- help 80x24\n{}", screen(&app, 80, 24));
        update(&mut app, Message::ToggleHelp);
        for view in View::ALL {
            update(&mut app, Message::GotoView(view.index()));
            for v in 0..app.scenario.variants.len() {
                for (w, h) in SIZES {
                    println!("--- {view:?} variant {v} {w}x{h}\n{}", screen(&app, w, h));
                }
                update(&mut app, Message::NextVariant);
                for _ in 0..30 {
                    update(&mut app, Message::Tick { elapsed_ms: 100 });
                }
            }
        }
    }

    /// Writes docs/tui-capture.txt, the capture docs/src/tui.md shows (`cargo test --release tui_capture
    /// -- --ignored`, then `cargo run --release -- docs` to update the book's copy).
    #[test]
    #[ignore]
    fn tui_capture() {
        let raw = crate::scenario::raw::parse(crate::scenario::files::DEFAULT_SCENARIO, "default").expect("embedded scenario");
        let mut app = App::new(
            raw,
            crate::scenario::files::Sources::none(crate::scenario::files::DEFAULT_SCENARIO_NAME),
            1,
        )
        .expect("valid");
        finish_runs(&mut app);
        update(&mut app, Message::NextVariant);
        update(&mut app, Message::NextVariant);
        update(&mut app, Message::SpeedDown);
        for _ in 0..240 {
            update(&mut app, Message::Tick { elapsed_ms: 100 });
        }
        update(&mut app, Message::TogglePause);
        let s = screen(&app, 100, 30);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tui-capture.txt");
        std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/docs")).expect("docs dir");
        crate::scenario::files::write_atomic(path, &format!("{s}\n")).expect("write capture");
        println!("{s}");
    }
}
