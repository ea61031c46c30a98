//! Hostile inputs (issue 12): every fixture under tests/hostile/ is plainly wrong and must be
//! refused at once with the input-error status 2 and one line that names the file and the field
//! (or value), never a panic, a hang or gigabytes. One folder per input class:
//! * `scenario/*.toml` (`gpuslice run`), `sweep/*.toml` (`gpuslice sweep`), `plan/*.toml`
//!   (`gpuslice plan`): the first line is `# expect: NEEDLE | NEEDLE ...`;
//! * `models/*.json` (model JSON) and `traces/*` (request traces): read through the library
//!   entry points (`read_model`, `read_trace`), needles in the tables below;
//! * `calibrate/*.csv` (`gpuslice calibrate --kind <first word of the name> --profile FILE`):
//!   needles in the table below;
//! * `validate/<folder>/` (`gpuslice validate FOLDER`): `expect.txt` holds the needles;
//!   `validate/ok` is the same run without a defect, and is accepted;
//! * `endless/*.toml`: scenarios that reference /dev/zero or /dev/urandom, and command lines,
//!   in the table of `hostile_arguments_give_one_line`.
//!
//! Each table must list exactly the files of its folder, so a new fixture cannot go unchecked.
//! `fuzz/hostile-probe.sh` runs a larger set (~300 inputs) under `timeout 20` and `ulimit -v`.

use crate::common::*;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Longest a refusal may take (the acceptance allows 20 s for any input; a refusal is a check).
const QUICK: Duration = Duration::from_secs(10);

fn listing(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("read dir {dir}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .collect();
    v.sort();
    v
}

fn name_of(p: &std::path::Path) -> String {
    p.file_name().expect("name").to_string_lossy().into_owned()
}

/// Files of `dir` ending in `ext`.
fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    listing(dir)
        .into_iter()
        .filter(|p| p.is_file() && name_of(p).ends_with(ext))
        .collect()
}

/// Run the binary from the repository root; the output and how long it took.
fn gpuslice(args: &[&str]) -> (Output, Duration) {
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_gpuslice"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run gpuslice {args:?}: {e}"));
    (out, t0.elapsed())
}

/// A refused input: status 2, nothing on stdout... (validate prints its table), one stderr line
/// naming `file` and containing every needle, quickly.
#[track_caller]
fn assert_refused(what: &str, out: &Output, took: Duration, file: &str, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: status {:?}, stderr: {err}", out.status.code());
    assert!(!err.contains("panicked"), "{what}: panic: {err}");
    assert_eq!(err.lines().count(), 1, "{what}: stderr is not one line:\n{err}");
    assert!(err.contains(file), "{what}: does not name {file}: {err}");
    for n in needles {
        assert!(err.contains(n), "{what}: lacks {n:?}: {err}");
    }
    assert!(took < QUICK, "{what}: took {took:?}");
}

/// The needles of a fixture's first line `# expect: A | B` (none for a file without one).
fn expect_line(p: &std::path::Path) -> Vec<String> {
    let text = String::from_utf8_lossy(&std::fs::read(p).expect("readable")).into_owned();
    match text.lines().next().and_then(|l| l.strip_prefix("# expect:")) {
        Some(rest) => rest.split('|').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
        None => Vec::new(),
    }
}

/// Every `*.toml` of `dir` through `gpuslice <cmd> FILE <extra>`; each must carry `# expect:`
/// (but `allowed_bare`, files whose content cannot hold a comment).
fn toml_class(dir: &str, cmd: &str, extra: &[&str], allowed_bare: &[&str]) -> usize {
    let fs = files(dir, ".toml");
    for p in &fs {
        let rel = format!("{dir}/{}", name_of(p));
        let needles = expect_line(p);
        assert!(
            !needles.is_empty() || allowed_bare.contains(&name_of(p).as_str()),
            "{rel}: no '# expect:' first line"
        );
        let mut args = vec![cmd, rel.as_str()];
        args.extend_from_slice(extra);
        let (out, took) = gpuslice(&args);
        let n: Vec<&str> = needles.iter().map(String::as_str).collect();
        assert_refused(&rel, &out, took, &rel, &n);
    }
    fs.len()
}

#[test]
fn hostile_scenarios_are_refused_naming_file_and_field() {
    let n = toml_class("tests/hostile/scenario", "run", &[], &["empty.toml", "garbage.toml"]);
    assert!(n >= 25, "{n} scenario fixtures");
}

#[test]
fn hostile_sweep_specs_are_refused_before_anything_runs() {
    let d = TempDir::new("hostile-sweep");
    let out = d.join("out");
    let n = toml_class("tests/hostile/sweep", "sweep", &["--out", &out, "--threads", "1"], &[]);
    assert!(n >= 9, "{n} sweep fixtures");
    assert!(!exists(&format!("{out}/results.csv")), "a refused sweep wrote results");
}

#[test]
fn hostile_plan_specs_are_refused() {
    let n = toml_class("tests/hostile/plan", "plan", &[], &[]);
    assert!(n >= 8, "{n} plan fixtures");
}

/// Model JSON fixtures and the substrings of their messages.
const MODELS: &[(&str, &[&str])] = &[
    ("batch_bucket_descending.json", &["ops.encode.batch_buckets", "[8, 4, 2, 1]"]),
    ("batch_bucket_huge.json", &["ops.encode.batch_buckets", "4000000", "at most 65536"]),
    ("batch_bucket_negative.json", &["`-1`", "u32"]),
    ("batch_bucket_zero.json", &["ops.encode.batch_buckets", "[0, 1, 2]"]),
    ("dispatch_huge.json", &["dispatch_ms", "'1e300'"]),
    ("empty.json", &["not valid JSON"]),
    ("garbage.json", &["not valid JSON"]),
    ("latency_1e15.json", &["ops.encode.latency_ms", "'1e15'"]),
    ("llm_max_seqs_zero.json", &["llm.max_seqs", "'0'"]),
    ("max_batch_zero.json", &["max_batch", "'0'"]),
    ("nan_literal.json", &["not valid JSON"]),
    ("tts_call_noise_huge.json", &["call_noise", "'3'"]),
    ("tts_cold_call_negative.json", &["cold_call_ms", "'-60.4'"]),
    ("tts_frames_per_char_negative.json", &["frames_per_char", "'-1.4'"]),
    ("tts_frames_range_reversed.json", &["frames_range", "[500, 4]"]),
    ("tts_host_phase_negative.json", &["host_phase_ms", "'-7.41'"]),
    ("tts_warm_batch_zero.json", &["warm_batches", "'0'"]),
    ("unknown_field.json", &["unknown field `bogus`"]),
    ("weights_negative.json", &["memory.weights_gib", "'-5'"]),
];

#[test]
fn hostile_model_files_are_refused_naming_file_and_field() {
    let fs = files("tests/hostile/models", ".json");
    let names: Vec<String> = fs.iter().map(|p| name_of(p)).collect();
    let listed: Vec<&str> = MODELS.iter().map(|x| x.0).collect();
    assert_eq!(names, listed, "tests/hostile/models/ and the MODELS table differ");
    for (p, (file, needles)) in fs.iter().zip(MODELS) {
        let e = gpuslice::scenario::files::read_model(p).expect_err(file).to_string();
        assert!(!e.contains('\n'), "{file}: not one line: {e}");
        assert!(e.contains(file), "{file}: does not name the file: {e}");
        for n in *needles {
            assert!(e.contains(n), "{file}: lacks {n:?}: {e}");
        }
    }
}

/// Trace fixtures and the substrings of their messages.
const TRACES: &[(&str, &[&str])] = &[
    ("arrival_nan.csv", &["line 2 column 'arrival_s'", "'nan'"]),
    ("arrival_negative.csv", &["line 2 column 'arrival'", "'-1'"]),
    ("azure_backwards.csv", &["line 3 column 'TIMESTAMP'"]),
    ("azure_bad_timestamp.csv", &["line 2 column 'TIMESTAMP'", "2023-13-45"]),
    ("empty.csv", &["trace is empty"]),
    ("garbage.csv", &["header", "unknown trace format"]),
    ("header_only.csv", &["no requests"]),
    ("mooncake_garbage_line.jsonl", &["line 2", "Mooncake"]),
    ("mooncake_missing_field.jsonl", &["line 1", "Mooncake"]),
    ("output_tokens_zero.csv", &["line 2 column 'output_tokens'", "'0'"]),
    ("ragged.csv", &["line 3"]),
    ("size_huge.csv", &["line 2 column 'audio_s'", "'1e30'"]),
    ("size_zero.csv", &["line 2 column 'audio_s'", "'0'"]),
    ("unknown_format.csv", &["header", "unknown trace format"]),
];

#[test]
fn hostile_traces_are_refused_naming_file_line_and_column() {
    let fs: Vec<PathBuf> = listing("tests/hostile/traces");
    let names: Vec<String> = fs.iter().map(|p| name_of(p)).collect();
    let listed: Vec<&str> = TRACES.iter().map(|x| x.0).collect();
    assert_eq!(names, listed, "tests/hostile/traces/ and the TRACES table differ");
    for (p, (file, needles)) in fs.iter().zip(TRACES) {
        let e = gpuslice::scenario::files::read_trace(p).expect_err(file).to_string();
        assert!(!e.contains('\n'), "{file}: not one line: {e}");
        assert!(e.contains(file), "{file}: does not name the file: {e}");
        for n in *needles {
            assert!(e.contains(n), "{file}: lacks {n:?}: {e}");
        }
    }
}

/// Calibration profiles (`--kind` is the name's first word) and their messages' substrings.
const PROFILES: &[(&str, &[&str])] = &[
    ("asr_batch_zero.csv", &["line 2 column 'batch'", "'0'"]),
    ("asr_empty.csv", &[]),
    ("asr_header_only.csv", &[]),
    ("asr_latency_nan.csv", &["line 2 column 'latency_ms'", "'nan'"]),
    ("asr_latency_negative.csv", &["line 2 column 'latency_ms'", "'-5'"]),
    ("asr_missing_column.csv", &["missing column 'audio_s'"]),
    ("asr_size_inf.csv", &["line 2 column 'audio_s'", "'inf'"]),
    ("tts_frames_negative.csv", &["line 2 column 'frames'", "'-57'"]),
];

#[test]
fn hostile_calibration_profiles_are_refused_and_write_nothing() {
    let fs = files("tests/hostile/calibrate", ".csv");
    let names: Vec<String> = fs.iter().map(|p| name_of(p)).collect();
    let listed: Vec<&str> = PROFILES.iter().map(|x| x.0).collect();
    assert_eq!(names, listed, "tests/hostile/calibrate/ and the PROFILES table differ");
    let d = TempDir::new("hostile-cal");
    let out_json = d.join("out.json");
    for (file, needles) in PROFILES {
        let rel = format!("tests/hostile/calibrate/{file}");
        let kind = file.split('_').next().expect("kind");
        let (out, took) = gpuslice(&["calibrate", "--kind", kind, "--profile", &rel, "--out", &out_json]);
        assert_refused(&rel, &out, took, &rel, needles);
        assert!(!exists(&out_json), "{rel}: wrote {out_json}");
    }
}

#[test]
fn hostile_validate_folders_are_refused_and_the_clean_one_replays() {
    let dirs: Vec<PathBuf> = listing("tests/hostile/validate");
    assert!(dirs.len() >= 10, "{} validate fixtures", dirs.len());
    for p in &dirs {
        let rel = format!("tests/hostile/validate/{}", name_of(p));
        let (out, took) = gpuslice(&["validate", &rel]);
        if name_of(p) == "ok" {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{rel}: the clean run fails: {err}");
            continue;
        }
        let expect = std::fs::read_to_string(p.join("expect.txt")).unwrap_or_else(|e| panic!("{rel}/expect.txt: {e}"));
        let needles: Vec<&str> = expect.split('|').map(str::trim).filter(|s| !s.is_empty()).collect();
        assert_refused(&rel, &out, took, &rel, &needles);
    }
}

/// Command lines that are plainly wrong: one line (clap's own errors are three), status 2.
#[test]
fn hostile_arguments_give_one_line() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["run", "tests/configs/valid/small.toml", "--seed", "abc"], &["--seed", "'abc'"]),
        (
            &["validate", "tests/hostile/validate/ok", "--switch-us=-5"],
            &["--switch-us", "'-5'"],
        ),
        (
            &["validate", "tests/hostile/validate/ok", "--quantum-ms", "0"],
            &["--quantum-ms", "'0'"],
        ),
        (
            &["validate", "tests/hostile/validate/ok", "--quantum-ms", "NaN"],
            &["--quantum-ms", "'NaN'"],
        ),
        (
            &[
                "sweep",
                "experiments/sweep-asr-tts.toml",
                "--out",
                "/nonexistent/x",
                "--threads",
                "4000000000",
            ],
            &["--threads", "'4000000000'"],
        ),
        (&["catalog", "--gpu", "h100-80gb", "--mig", "1g.10gb,x\ny"], &["--mig", "x\\ny"]),
        (
            &["plan", "experiments/plan-voice.toml", "--load-range", "1:1e12:+1"],
            &["--load-range", "64 levels"],
        ),
        (&["bogus-command"], &["bogus-command"]),
        // Endless files (tests/hostile/endless/): refused at a byte limit, never read whole.
        (&["run", "/dev/zero"], &["/dev/zero", "too large for a scenario"]),
        (
            &["run", "tests/hostile/endless/trace_dev_zero.toml"],
            &["/dev/zero", "a line longer than"],
        ),
        (
            &["run", "tests/hostile/endless/model_dev_urandom.toml"],
            &["/dev/urandom", "too large for a model file"],
        ),
        (&["sweep", "/dev/zero", "--out", "/nonexistent/x"], &["/dev/zero", "too large"]),
        (
            &["run", "tests/configs/valid/small.toml", "--format", "xml"],
            &["--format", "'xml'"],
        ),
    ];
    for (args, needles) in cases {
        let (out, took) = gpuslice(args);
        assert_refused(&format!("{args:?}"), &out, took, "", needles);
    }
}
