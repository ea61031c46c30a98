//! Scenario files: every bad file in tests/configs/invalid/ (one error each) is refused by
//! `parse_scenario` with a one-line message naming the file, the field and the offending value;
//! every scenario in experiments/ and tests/configs/valid/ parses.

use crate::common::*;
use gpuslice::scenario::files::parse_scenario;
use std::path::Path;

/// Parse `path` as the CLI does (text, file name for messages, directory for relative paths).
fn parse_file(path: &Path) -> Result<gpuslice::scenario::Scenario, String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let name = path.display().to_string();
    parse_scenario(&text, &name, path.parent()).map_err(|e| e.to_string())
}

fn toml_files(dir: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("read dir {dir}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

/// Each fixture with the substrings its message must contain: the field and the offending
/// value (the file name is checked for all).
const INVALID: &[(&str, &[&str])] = &[
    // The TOML layer reports the misspelt key itself (it is both the field and the value).
    ("unknown_field.toml", &["unknown field `quantum`", "line 17"]),
    ("unknown_model.toml", &["workload[0].model", "'whisper'"]),
    ("negative_rate.toml", &["workload[0].arrivals.rate_rps", "'-5'"]),
    ("nan_duration.toml", &["duration_s", "'NaN'"]),
    ("huge_duration.toml", &["duration_s", "'1e12'", "(0, 1e9]"]),
    (
        "too_many_requests.toml",
        &["workload[0].arrivals.rate_rps", "'10000000'", "more than the limit of 2e8"],
    ),
    ("unknown_gpu.toml", &["variant[0].gpu", "'b300'"]),
    (
        "impossible_mig.toml",
        &["variant[0].gpus[0].layout", "'4g.40gb,4g.40gb'", "profile '4g.40gb'"],
    ),
    // Memory is checked when the variant is built: the message names the variant, the GPU and
    // MIG instance, and each model with its footprint.
    (
        "too_big_for_slice.toml",
        &["variant 'mig-small'", "GPU 0", "1g.10gb", "asr 12.0 GiB", "do not fit"],
    ),
    ("warmup_not_before_duration.toml", &["warmup_s", "'30'", "duration_s (30)"]),
    // A syntax error: position, and the offending line quoted.
    ("malformed.toml", &["line 3", "duration_s = 30 s"]),
];

#[test]
fn every_invalid_fixture_fails_with_a_one_line_message_naming_file_field_and_value() {
    let files = toml_files("tests/configs/invalid");
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    // The table and the directory must agree, so that a new fixture cannot go unchecked.
    let mut listed: Vec<&str> = INVALID.iter().map(|(f, _)| *f).collect();
    listed.sort();
    assert_eq!(names, listed, "tests/configs/invalid/ and the INVALID table differ");
    for (file, needles) in INVALID {
        let path = repo().join("tests/configs/invalid").join(file);
        let msg = match parse_file(&path) {
            Ok(_) => panic!("{file}: parsed, but it is invalid"),
            Err(m) => m,
        };
        assert!(
            !msg.contains('\n') && !msg.contains('\r'),
            "{file}: message is not one line:\n{msg}"
        );
        assert!(msg.contains(file), "{file}: message does not name the file: {msg}");
        for n in *needles {
            assert!(msg.contains(n), "{file}: message lacks {n:?}: {msg}");
        }
    }
}

#[test]
fn every_experiment_and_valid_fixture_parses() {
    let mut files = toml_files("experiments");
    assert!(files.len() >= 2, "experiments/ has no scenarios? {files:?}");
    files.extend(toml_files("tests/configs/valid"));
    for f in &files {
        let name = f.display().to_string();
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("read {name}: {e}"));
        let raw = gpuslice::scenario::raw::parse(&text, &name).unwrap_or_else(|e| panic!("{e}"));
        if raw.variant.is_empty() {
            // A planning spec: no variants, the planner builds them.
            gpuslice::plan::spec(&raw, &name).unwrap_or_else(|e| panic!("{e}"));
            continue;
        }
        let sc = parse_file(f).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!sc.variants.is_empty() && !sc.workloads.is_empty(), "{name}");
    }
}

#[test]
fn the_embedded_default_scenario_parses() {
    let sc = gpuslice::scenario::files::default_scenario().unwrap_or_else(|e| panic!("{e}"));
    assert!(!sc.variants.is_empty());
}

#[test]
fn relative_paths_resolve_from_the_scenario_file() {
    // features.toml replays ../../../traces/h100/asr_L/trace_asr.csv: it parses only if the
    // path is taken relative to the file, not to the working directory.
    let f = repo().join("tests/configs/valid/features.toml");
    let sc = parse_file(&f).unwrap_or_else(|e| panic!("{e}"));
    let replay = sc.workloads.iter().find(|w| w.name == "asr-replay").expect("replay workload");
    match &replay.load {
        gpuslice::scenario::Load::Trace { trace, .. } => assert_eq!(trace.rows.len(), 1831, "trace_asr.csv has 1831 requests"),
        other => panic!("not a trace: {other:?}"),
    }
}

/// The inputs fuzzing found (fuzz/regressions/scenario): each is refused with a one-line error
/// or runs to its end within seconds. The livelocks were closed-loop users with no think time
/// whose refused turns retried at the same instant forever; a failed turn now backs off.
#[test]
fn fuzz_regressions_finish() {
    let dir = format!("{}/fuzz/regressions/scenario", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("regressions folder") {
        let path = entry.expect("entry").path();
        n += 1;
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let text = String::from_utf8_lossy(&std::fs::read(&p).expect("readable")).into_owned();
            let out = gpuslice::scenario::files::parse_scenario(&text, "fuzz.toml", None)
                .and_then(|sc| gpuslice::sim::run_scenario(&sc, 1))
                .map(|r| r.len())
                .map_err(|e| e.to_string());
            let _ = tx.send(out);
        });
        match rx.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => assert!(!e.contains('\n'), "{}: multi-line error {e}", path.display()),
            Err(_) => panic!("{} still runs after 20 s", path.display()),
        }
    }
    assert!(n >= 4, "{n} regression inputs");
}
