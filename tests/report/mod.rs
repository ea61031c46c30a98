//! `gpuslice report` and `--report FILE`: every page is well-formed (tags balanced and closed,
//! attributes quoted, entities escaped), self-contained (no URL, no script, no external
//! resource), free of `NaN` / `inf`, has each chart section its kind promises and as many charts
//! as its `gpuslice-charts` tag says; its numbers are the command's JSON output; the same inputs
//! give the same bytes on any thread count; `--report` on `run`, `plan`, `sweep` and `validate`
//! writes the page and leaves the command's stdout as it was; bad input exits 2 with one line
//! and leaves no file. The browser check of the shipped examples is `.ci/report-browser-check`
//! (optional: it needs Chromium).

use crate::common::*;
use gpuslice::out::report::{fixed, ms, signed_pct};
use serde_json::Value;

/// The plan report's test spec: every regime and MIG on H100.
fn plan_spec() -> String {
    asr_tts_open_loop(
        "name = \"report-plan\"\ndescription = \"ASR + TTS on H100, open loop: the plan report's test spec\"",
        "[plan]\ngpu_types = [\"h100-80gb\"]\nseeds = 1\n",
    )
}

/// Run `gpuslice` with `args`; panics with stderr unless it exits 0.
#[track_caller]
fn ok(args: &[&str]) -> String {
    let out = gpuslice(args);
    assert!(
        out.status.success(),
        "gpuslice {args:?}: {:?}\n{}",
        out.status.code(),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[track_caller]
fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Void elements of HTML: the pages write them `<x ... />`.
const VOID: &[&str] = &["meta", "br", "hr", "img", "input", "link"];

/// Check that `html` is well-formed as XML (after its doctype): every tag closed in order or
/// self-closed, every void element self-closed, attribute quotes paired, every `&` an entity;
/// the `<style>` element's CSS is skipped. Returns how many of each element it saw.
fn well_formed(what: &str, html: &str) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    let body = html
        .strip_prefix("<!DOCTYPE html>\n")
        .unwrap_or_else(|| panic!("{what}: no doctype"));
    let mut stack: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(lt) = rest.find('<') {
        let textual = &rest[..lt];
        for (i, _) in textual.match_indices('&') {
            let e = &textual[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].iter().any(|x| e.starts_with(x)),
                "{what}: unescaped & in {:?}",
                &e[..e.len().min(30)]
            );
        }
        rest = &rest[lt..];
        let gt = rest
            .find('>')
            .unwrap_or_else(|| panic!("{what}: unclosed tag {:?}", &rest[..rest.len().min(60)]));
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        assert!(!tag.contains('<'), "{what}: '<' inside a tag: {tag}");
        assert_eq!(tag.matches('"').count() % 2, 0, "{what}: unpaired quote in <{tag}>");
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().unwrap_or_else(|| panic!("{what}: </{name}> closes nothing"));
            assert_eq!(open, name, "{what}: </{name}> closes <{open}>");
            continue;
        }
        let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        assert!(!name.is_empty(), "{what}: odd tag <{tag}>");
        *counts.entry(name.clone()).or_insert(0) += 1;
        if tag.ends_with('/') {
            continue;
        }
        assert!(!VOID.contains(&name.as_str()), "{what}: <{name}> is not self-closed");
        if name == "style" {
            let end = rest.find("</style>").unwrap_or_else(|| panic!("{what}: <style> not closed"));
            assert!(!rest[..end].contains('<'), "{what}: markup inside <style>");
            rest = &rest[end + "</style>".len()..];
            continue;
        }
        stack.push(name);
    }
    assert!(stack.is_empty(), "{what}: not closed: {stack:?}");
    assert!(rest.trim().is_empty(), "{what}: text after </html>");
    counts
}

/// Every check a page passes whatever its kind; `sections` and `charts` are ids that must be there
/// (a chart id matches by prefix: `timeline-` for every variant's timeline).
fn check_page(what: &str, html: &str, kind: &str, sections: &[&str], charts: &[&str]) {
    let counts = well_formed(what, html);
    let svg = counts.get("svg").copied().unwrap_or(0);
    assert!(svg > 0, "{what}: no chart");
    assert!(
        html.contains(&format!("<meta name=\"gpuslice-charts\" content=\"{svg}\" />")),
        "{what}: the gpuslice-charts tag does not count the {svg} charts"
    );
    assert!(
        html.contains(&format!("<meta name=\"gpuslice-report\" content=\"{kind}\" />")),
        "{what}: kind"
    );
    // Self-contained: no URL of any scheme, no script, nothing loaded from elsewhere.
    for bad in [
        "://", "http:", "https:", "<script", " src=", "<link", "<iframe", "<object", "@import",
    ] {
        assert!(!html.contains(bad), "{what}: contains {bad:?}");
    }
    // The only url() references are the charts' own clip paths.
    for (i, _) in html.match_indices("url(") {
        assert!(html[i..].starts_with("url(#clip-"), "{what}: url() to {:?}", &html[i..i + 30]);
    }
    let words: Vec<&str> = html.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    for bad in ["NaN", "nan", "inf", "Infinity", "infinity"] {
        assert!(!words.contains(&bad), "{what}: contains the word {bad}");
    }
    for s in sections {
        assert!(html.contains(&format!("<section id=\"{s}\">")), "{what}: no section '{s}'");
    }
    for c in charts {
        assert!(html.contains(&format!("data-chart=\"{c}")), "{what}: no chart '{c}'");
    }
}

/// The text of the table cell showing the result `key`.
#[track_caller]
fn metric<'a>(html: &'a str, key: &str) -> &'a str {
    let tag = format!("data-metric=\"{key}\">");
    let at = html.find(&tag).unwrap_or_else(|| panic!("no cell for '{key}'")) + tag.len();
    &html[at..at + html[at..].find('<').expect("cell closes")]
}

#[test]
fn a_run_report_has_every_chart_and_the_runs_numbers() {
    let d = TempDir::new("report-run");
    let out = d.join("run.html");
    let sc = "experiments/a100-voice-consolidation-crash.toml";
    let said = ok(&["report", "run", sc, "--seed", "3", "--out", &out]);
    let html = read(&out);
    assert!(said.starts_with(&format!("wrote {out} (")), "{said}");
    check_page(
        "run",
        &html,
        "run",
        &["summary", "latency", "throughput", "utilisation", "layout", "failures"],
        &[
            "cdf-asr",
            "cdf-tts",
            "cdf-llm",
            "ttft-llm",
            "turn-voice-turn",
            "audio-voice-turn",
            "throughput",
            "busy",
            "timeline-",
            "layout",
            "faults",
            "failed",
        ],
    );
    // A MIG variant draws its slots; every variant has a timeline.
    assert!(html.contains("3g.40gb"), "MIG instances on the layout");
    let json: Value = serde_json::from_str(&ok(&["run", sc, "--seed", "3", "--format", "json"])).expect("json");
    let variants = json["variants"].as_array().expect("variants");
    assert_eq!(html.matches("data-chart=\"timeline-").count(), variants.len());
    for v in variants {
        let n = v["name"].as_str().expect("name");
        let f = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{n}.{k}"));
        assert_eq!(metric(&html, &format!("{n}/throughput_rps")), fixed(f("throughput_rps"), 2), "{n}");
        assert_eq!(
            metric(&html, &format!("{n}/cost_per_hour_usd")),
            fixed(f("cost_per_hour_usd"), 2),
            "{n}"
        );
        assert_eq!(
            metric(&html, &format!("{n}/latency_ms.p95")),
            ms(v["latency_ms"]["p95"].as_f64().expect("p95")),
            "{n}"
        );
        assert_eq!(metric(&html, &format!("{n}/completed")), v["completed"].to_string(), "{n}");
    }
    // The crash scenario injects faults: the fault chart has bars above zero.
    assert!(
        variants.iter().any(|v| v["failures"]["crashes"].as_u64().unwrap_or(0) > 0),
        "faults struck"
    );
    assert!(!html.contains("No fault struck"), "the page says faults struck");
}

#[test]
fn a_plan_report_has_the_regimes_candidates_projection_and_nodes() {
    let d = TempDir::new("report-plan");
    let spec = d.write("spec.toml", &plan_spec());
    let out = d.join("plan.html");
    ok(&["report", "plan", &spec, "--load-range", "1:2:x2", "--out", &out]);
    let html = read(&out);
    check_page(
        "plan",
        &html,
        "plan",
        &["summary", "regimes", "candidates", "projection", "layout"],
        &[
            "per-regime",
            "margins",
            "projection-gpus",
            "projection-cost",
            "nodes",
            "regime-layouts",
        ],
    );
    let json: Value = serde_json::from_str(&ok(&["plan", &spec, "--format", "json"])).expect("json");
    let best = &json["best"];
    for (k, v) in best["slo_values"].as_object().expect("slo_values") {
        assert_eq!(metric(&html, &format!("best/slo/{k}")), ms(v.as_f64().expect("value")), "{k}");
    }
    assert_eq!(
        metric(&html, "#1/cost_per_hour_usd"),
        fixed(best["cost_per_hour_usd"].as_f64().expect("cost"), 2)
    );
    for (regime, c) in json["per_regime"].as_object().expect("per_regime") {
        if !c.is_null() {
            assert_eq!(metric(&html, &format!("{regime}/gpus")), c["gpus"].to_string(), "{regime}");
        }
    }
    // The projection's levels are those of the range.
    assert!(html.contains("data-metric=\"load 1/gpus\"") && html.contains("data-metric=\"load 2/gpus\""));
}

#[test]
fn a_sweep_report_draws_each_metric_against_each_axis_and_heat_maps() {
    let d = TempDir::new("report-sweep");
    let dir = d.join("sweep-out");
    let page = d.join("sweep.html");
    ok(&["sweep", "experiments/sweep-asr-tts.toml", "--out", &dir]);
    ok(&["report", "sweep", &dir, "--out", &page]);
    let html = read(&page);
    check_page(
        "sweep",
        &html,
        "sweep",
        &["summary", "axis-1", "axis-2", "heat"],
        &[
            "sweep-throughput-rps-variant-1-gpus-0-quantum-ms",
            "sweep-latency-ms-p95-workload-0-arrivals-rate-rps",
            "heat-throughput-rps-time-sliced",
        ],
    );
    assert!(html.contains("class=\"band\""), "95 % CI bands");
    // The summary's largest mean is summary.csv's.
    let csv = read(&format!("{dir}/summary.csv"));
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().expect("header").split(',').collect();
    let (v, m) = (
        head.iter().position(|h| *h == "variant").expect("variant"),
        head.iter().position(|h| *h == "throughput_rps.mean").expect("col"),
    );
    let max = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|r| r[v] == "time-sliced")
        .map(|r| r[m].parse::<f64>().expect("number"))
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(metric(&html, "time-sliced/throughput_rps/max"), fixed(max, 0));
    // One metric asked for by name; a wrong one is refused naming it.
    let one = d.join("one.html");
    ok(&["report", "sweep", &dir, "--metric", "models.tts.latency_ms.p95", "--out", &one]);
    assert!(!read(&one).contains("data-chart=\"sweep-throughput"), "only the metric asked for");
    let bad = gpuslice(&["report", "sweep", &dir, "--metric", "nope", "--out", &d.join("bad.html")]);
    assert_eq!(bad.status.code(), Some(2));
    let err = text(&bad.stderr);
    assert!(
        err.contains("--metric") && err.contains("'nope'") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!exists(&d.join("bad.html")));
}

#[test]
fn a_validate_report_has_measured_against_simulated_cdfs_per_run() {
    let d = TempDir::new("report-validate");
    let out = d.join("val.html");
    let runs = ["traces/h100/asr_L", "traces/h100/ts_asr_tts_llm_L"];
    ok(&["report", "validate", runs[0], runs[1], "--out", &out]);
    let html = read(&out);
    check_page(
        "validate",
        &html,
        "validate",
        &["summary", "run-1", "run-2"],
        &["errors", "cdf-run1-asr", "cdf-run2-llm", "ttft-run2-llm"],
    );
    let json: Value = serde_json::from_str(&ok(&["validate", runs[0], runs[1], "--format", "json"])).expect("json");
    for v in json.as_array().expect("array") {
        let dir = v["dir"].as_str().expect("dir");
        for (m, r) in v["models"].as_object().expect("models") {
            let e = r["error_pct"]["p95"].as_f64().expect("p95 error");
            assert_eq!(metric(&html, &format!("{dir}/{m}/error.p95")), signed_pct(e), "{dir} {m}");
        }
    }
    // A folder that cannot be replayed is named on the page and fails the command, alone.
    let mixed = d.join("mixed.html");
    let out2 = gpuslice(&["report", "validate", runs[0], "traces/no-such-run", "--out", &mixed]);
    assert_eq!(out2.status.code(), Some(2));
    assert!(read(&mixed).contains("traces/no-such-run could not be replayed"));
}

#[test]
fn reports_are_byte_identical_across_runs_and_thread_counts() {
    let d = TempDir::new("report-determinism");
    let with_threads = |n: &str, out: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_gpuslice"))
            .args(["report", "run", "tests/configs/valid/small.toml", "--seed", "7", "--out", out])
            .env("RAYON_NUM_THREADS", n)
            .current_dir(repo())
            .output()
            .expect("runs");
        assert!(o.status.success(), "{}", text(&o.stderr));
        read(out)
    };
    let one = with_threads("1", &d.join("a.html"));
    assert_eq!(one, with_threads("4", &d.join("b.html")), "1 vs 4 threads");
    assert_eq!(one, with_threads("4", &d.join("c.html")), "run to run");
    let spec = d.write("spec.toml", &plan_spec());
    ok(&["report", "plan", &spec, "--out", &d.join("p1.html")]);
    ok(&["report", "plan", &spec, "--out", &d.join("p2.html")]);
    assert_eq!(read(&d.join("p1.html")), read(&d.join("p2.html")), "plan");
}

/// `--report FILE` writes the page (the same page `gpuslice report` writes) and nothing else:
/// stdout is what the command prints without it, and no temporary file is left beside it.
#[test]
fn report_option_on_run_plan_sweep_and_validate_writes_the_page() {
    let d = TempDir::new("report-option");
    let page = |name: &str| d.join(name);
    let run_args = ["run", "tests/configs/valid/small.toml", "--seed", "2"];
    let plain = ok(&run_args);
    let with = ok(&[&run_args[..], &["--report", &page("run.html")]].concat());
    assert_eq!(plain, with, "run's stdout");
    ok(&[
        "report",
        "run",
        "tests/configs/valid/small.toml",
        "--seed",
        "2",
        "--out",
        &page("run2.html"),
    ]);
    assert_eq!(read(&page("run.html")), read(&page("run2.html")), "run --report = report run");

    let spec = d.write("spec.toml", &plan_spec());
    assert_eq!(
        ok(&["plan", &spec]),
        ok(&["plan", &spec, "--report", &page("plan.html")]),
        "plan's stdout"
    );
    ok(&["report", "plan", &spec, "--out", &page("plan2.html")]);
    assert_eq!(read(&page("plan.html")), read(&page("plan2.html")), "plan --report = report plan");

    let sweep = d.join("sweep-out");
    let sweep_out = ok(&[
        "sweep",
        "experiments/sweep-asr-tts.toml",
        "--out",
        &sweep,
        "--report",
        &page("sweep.html"),
    ]);
    assert_eq!(
        sweep_out,
        ok(&["sweep", "experiments/sweep-asr-tts.toml", "--out", &d.join("again")]),
        "sweep's stdout"
    );
    ok(&["report", "sweep", &sweep, "--out", &page("sweep2.html")]);
    assert_eq!(
        read(&page("sweep.html")),
        read(&page("sweep2.html")),
        "sweep --report = report sweep"
    );

    let v = ["validate", "traces/h100/tts_L"];
    assert_eq!(
        ok(&v),
        ok(&[&v[..], &["--report", &page("val.html")]].concat()),
        "validate's stdout"
    );
    check_page(
        "validate --report",
        &read(&page("val.html")),
        "validate",
        &["summary", "run-1"],
        &["cdf-run1-tts"],
    );

    let mut left: Vec<String> = std::fs::read_dir(&d.path)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    left.sort();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn bad_report_input_exits_2_with_one_line_and_writes_nothing() {
    let d = TempDir::new("report-bad");
    let out = d.join("r.html");
    let mut cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["report".into(), "sweep".into(), d.join("missing"), "--out".into(), out.clone()],
            "manifest.json",
        ),
        (
            vec![
                "report".into(),
                "run".into(),
                "experiments/plan-voice.toml".into(),
                "--out".into(),
                out.clone(),
            ],
            "variant",
        ),
        (
            vec![
                "run".into(),
                "tests/configs/valid/small.toml".into(),
                "--report".into(),
                d.join("no-dir/r.html"),
            ],
            "no-dir/r.html",
        ),
        (
            vec![
                "report".into(),
                "validate".into(),
                "traces/h100/asr_L".into(),
                "--quantum-ms".into(),
                "1e9".into(),
                "--out".into(),
                out.clone(),
            ],
            "--quantum-ms",
        ),
    ];
    let bad_manifest = d.join("bad");
    std::fs::create_dir_all(&bad_manifest).expect("dir");
    d.write("bad/manifest.json", "{ not json");
    cases.push((
        vec!["report".into(), "sweep".into(), bad_manifest, "--out".into(), out.clone()],
        "not a sweep manifest",
    ));
    for (args, says) in &cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = gpuslice(&a);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{a:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{a:?}: {err}");
        assert!(err.contains(says), "{a:?}: {err}");
        assert!(o.stdout.is_empty(), "{a:?}: stdout {}", text(&o.stdout));
        assert!(!exists(&out), "{a:?}: wrote {out}");
    }
}

/// The checks above catch what they are for: an unclosed or misnested tag, a void element not
/// self-closed, a raw `&`, and a URL.
#[test]
fn the_page_checks_catch_broken_pages() {
    let fails = |html: &str| std::panic::catch_unwind(|| check_page("t", html, "run", &[], &[])).is_err();
    let good = "<!DOCTYPE html>\n<html><head><meta name=\"gpuslice-report\" content=\"run\" /><meta name=\"gpuslice-charts\" content=\"1\" /><style>a { b: c }</style></head><body><svg class=\"chart\"><title>x &amp; y</title></svg></body></html>\n";
    assert!(!fails(good), "a good page passes");
    for (broken, why) in [
        (good.replace("</title>", ""), "unclosed"),
        (
            good.replace("<title>x", "<title><b>x").replace("</title>", "</title></b>"),
            "misnested",
        ),
        (good.replace(" />", ">"), "void not self-closed"),
        (good.replace("&amp;", "&"), "raw &"),
        (good.replace("x &amp; y", "see https://example.com"), "URL"),
        (good.replace("x &amp; y", "NaN ms"), "NaN"),
        (good.replace("content=\"1\"", "content=\"2\""), "chart count"),
    ] {
        assert!(fails(&broken), "{why} passes");
    }
}
