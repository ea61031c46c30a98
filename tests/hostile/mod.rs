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
//!   in the table of `hostile_arguments_give_one_line`;
//! * `cli/*.toml` (valid specs a wrong flag is given with) and `genai/*/` (GenAI-Perf exports):
//!   command lines in the tables of `hostile_arguments_give_one_line` and of the tests below it
//!   (special files, outputs written all or none, look-alikes of wrong inputs that are valid).
//!
//! Each table must list exactly the files of its folder, so a new fixture cannot go unchecked.
//! `fuzz/hostile-probe.sh` runs a larger set (~390 inputs) under `timeout 20` and `ulimit -v`.

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
    ("weights_in_mib.json", &["memory.weights_gib", "'13400'", "did you mean 13400 MiB"]),
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
    ("arrival_negative.csv", &["line 2 column 'arrival_s'", "'-1'"]),
    ("azure_backwards.csv", &["line 3 column 'TIMESTAMP'", "'2023-11-15 18:15:46.68'"]),
    ("azure_bad_timestamp.csv", &["line 2 column 'TIMESTAMP'", "2023-13-45"]),
    // Times are quoted as the file writes them, not as the seconds they convert to.
    ("azure_far_future.csv", &["line 3 column 'TIMESTAMP'", "'2099-03-01 10:00:00'"]),
    // No such day: refused on its own line, not read as 2 March with the next row blamed.
    ("azure_february_30.csv", &["line 2 column 'TIMESTAMP'", "'2023-02-30 10:00:00'"]),
    ("burst_backwards.csv", &["line 3 column 'Timestamp'", "'5'", "'10'"]),
    ("empty.csv", &["trace is empty"]),
    ("garbage.csv", &["header", "unknown trace format"]),
    ("header_only.csv", &["no requests"]),
    ("mooncake_garbage_line.jsonl", &["line 2", "Mooncake"]),
    ("mooncake_missing_field.jsonl", &["line 1", "Mooncake"]),
    ("mooncake_timestamp_negative.jsonl", &["line 1 column 'timestamp'", "'-5000 ms'"]),
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
    // A batch is whole: 1.5 would be padded to 2 and merged into batch 2's cell.
    ("asr_batch_fractional.csv", &["line 2 column 'batch'", "'1.5'"]),
    ("asr_batch_huge.csv", &["line 2 column 'batch'", "'100000'"]),
    ("asr_batch_zero.csv", &["line 2 column 'batch'", "'0'"]),
    ("asr_empty.csv", &[]),
    ("asr_header_only.csv", &[]),
    // Refused as written, not as the fitted table's number ('calibrate: ops.encode...').
    ("asr_latency_1e300.csv", &["line 2 column 'latency_ms'", "'1e300'"]),
    ("asr_latency_nan.csv", &["line 2 column 'latency_ms'", "'nan'"]),
    ("asr_latency_negative.csv", &["line 2 column 'latency_ms'", "'-5'"]),
    ("asr_missing_column.csv", &["missing column 'audio_s'"]),
    ("asr_size_inf.csv", &["line 2 column 'audio_s'", "'inf'"]),
    // Rows of two models are not one table.
    ("asr_two_models.csv", &["line 4 column 'model'", "'whisper'", "'asr'"]),
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
        // Endless files (tests/hostile/endless/): devices are refused before they are opened
        // (and a regular file at a byte limit, never read whole).
        (&["run", "/dev/zero"], &["/dev/zero", "not a regular file"]),
        (
            &["run", "tests/hostile/endless/trace_dev_zero.toml"],
            &["workload[0].trace", "/dev/zero", "not a regular file"],
        ),
        (
            &["run", "tests/hostile/endless/model_dev_urandom.toml"],
            &["models.asr.from", "/dev/urandom", "not a regular file"],
        ),
        (
            &["sweep", "/dev/zero", "--out", "/nonexistent/x"],
            &["/dev/zero", "not a regular file"],
        ),
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

const VALIDATE_OK: &str = "tests/hostile/validate/ok";
const GENAI_25: &str = "traces/genai-perf/llama-3.1-8b-h100-openai-chat-concurrency25/profile_export_genai_perf.csv";

/// Valid specs of `tests/hostile/cli/` and exports of `tests/hostile/genai/` given with a wrong
/// flag or value (issue 23): one line naming the flag, the field and the value, status 2. The
/// folders hold exactly the files these command lines (and the tests below) use.
#[test]
fn hostile_flags_on_valid_specs_give_one_line() {
    let d = TempDir::new("hostile-cli");
    let out = d.join("out");
    let json = d.join("x.json");
    let cases: &[(&[&str], &[&str])] = &[
        // A check naming no column is refused before 9900 configurations are built (QUICK).
        (
            &[
                "sweep",
                "tests/hostile/cli/sweep_grid.toml",
                "--out",
                &out,
                "--check",
                "latency_ms.p96 < 3",
            ],
            &["--check", "'latency_ms.p96'", "numeric columns: latency_ms.mean"],
        ),
        // Text columns cannot be compared: refused, the numeric columns listed.
        (
            &[
                "sweep",
                "tests/hostile/cli/sweep_pipeline.toml",
                "--out",
                &out,
                "--check",
                "variant < 3",
            ],
            &["--check", "column 'variant'", "holds text", "numeric columns: "],
        ),
        (
            &[
                "sweep",
                "tests/hostile/cli/sweep_pipeline.toml",
                "--out",
                &out,
                "--check",
                "gpu_type<3",
            ],
            &["--check", "column 'gpu_type'", "holds text", "numeric columns: "],
        ),
        (
            &[
                "sweep",
                "tests/hostile/cli/sweep_pipeline.toml",
                "--out",
                &out,
                "--check",
                "variant=nope: mean(latency_ms.p95) < 3",
            ],
            &["--check", "no variant 'nope'", "ded, ts"],
        ),
        (
            &[
                "sweep",
                "tests/hostile/cli/sweep_pipeline.toml",
                "--out",
                &out,
                "--check",
                "latency_ms.p95 < inf",
            ],
            &["--check", "finite", "'latency_ms.p95 < inf'"],
        ),
        // Closed-loop users are whole, and the levels must split over the workloads as planned.
        (
            &["plan", "tests/hostile/cli/plan_users.toml", "--load-range", "10.5:20:+1"],
            &["--load-range", "level 10.5", "must be whole"],
        ),
        (
            &["plan", "tests/hostile/cli/plan_users.toml", "--load-range", "1:3:+1"],
            &["--load-range", "level 1", "30 + 20", "make 2 users"],
        ),
        (
            &["plan", "tests/hostile/cli/plan_k8s_name.toml", "--emit-k8s", &out],
            &["plan_k8s_name.toml", "models.ASR_1", "'ASR_1' is not a Kubernetes name"],
        ),
        (
            &["plan", "tests/hostile/cli/plan_k8s_long_name.toml", "--emit-k8s", &out],
            &["plan_k8s_long_name.toml", "models.asr-model-with-a-very-long-name-for-kubernetes", "at most 40"],
        ),
        // validate --model: a name no folder replays, a file that does not read, a name twice.
        (
            &["validate", VALIDATE_OK, "--model", "whisper=h100/asr"],
            &["--model", "'whisper=h100/asr'", "trace_whisper.csv"],
        ),
        (
            &["validate", VALIDATE_OK, "--model", "asr=nosuch.json"],
            &["--model", "nosuch.json", "No such file"],
        ),
        (
            &["validate", VALIDATE_OK, "--model", "asr=h100/asr", "--model", "asr=h100/tts"],
            &["--model", "'asr' is given twice"],
        ),
        // GenAI-Perf: a metric given twice, a figure out of range, a memory slip.
        (
            &[
                "calibrate",
                "--kind",
                "llm",
                "--genai-perf",
                "tests/hostile/genai/itl-twice-concurrency5/profile_export_genai_perf.csv",
                "--genai-perf",
                GENAI_25,
                "--out",
                &json,
            ],
            &[
                "itl-twice-concurrency5",
                "line 4",
                "'Inter Token Latency (ms)' appears twice (first on line 3)",
            ],
        ),
        (
            &[
                "calibrate",
                "--kind",
                "llm",
                "--genai-perf",
                "tests/hostile/genai/itl-huge-concurrency5/profile_export_genai_perf.csv",
                "--genai-perf",
                GENAI_25,
                "--out",
                &json,
            ],
            &["itl-huge-concurrency5", "inter token latency (avg)", "'1e300'"],
        ),
        (
            &[
                "calibrate",
                "--kind",
                "llm",
                "--genai-perf",
                GENAI_25,
                "--genai-perf",
                "tests/hostile/genai/itl-spread-concurrency5/profile_export_genai_perf.csv",
                "--memory-gib",
                "13400",
                "--out",
                &json,
            ],
            &["--memory-gib", "'13400'", "did you mean 13400 MiB"],
        ),
    ];
    for (args, needles) in cases {
        let (o, took) = gpuslice(args);
        assert_refused(&format!("{args:?}"), &o, took, "", needles);
        assert!(!exists(&out) && !exists(&json), "{args:?}: wrote output");
    }
    let used = |dir: &str| {
        for p in listing(dir) {
            let rel = format!("{dir}/{}", name_of(&p));
            let text = std::fs::read_to_string(file!()).expect("this file");
            assert!(text.contains(&rel), "{rel} is used by no test of {}", file!());
        }
    };
    used("tests/hostile/cli");
    used("tests/hostile/genai");
}

/// A FIFO would block the open until a writer comes, forever: every input path is refused from
/// its metadata, naming the path, before it is opened (scenario, trace, model, profile, sweep
/// and plan specs, validate folders); an output that is a folder is refused too.
#[test]
fn hostile_special_files_are_refused_before_they_are_opened() {
    let d = TempDir::new("hostile-fifo");
    let fifo = d.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().map(|s| s.success()).unwrap_or(false);
    if !made {
        eprintln!("no mkfifo here: special files not tested");
        return;
    }
    let scenario = |field: &str| {
        let base = std::fs::read_to_string(repo().join("tests/hostile/cli/plan_ok.toml")).expect("plan_ok");
        let text = match field {
            "trace" => base
                .replace(
                    "arrivals = { process = \"poisson\", rate_rps = 10 }\nsize = { dist = \"fixed\", value = 3 }",
                    &format!("trace = \"{fifo}\""),
                )
                .replace(
                    "[plan]",
                    "[[variant]]\nname = \"v\"\ngpu = \"h100-80gb\"\ngpus = [{ regime = \"dedicated\", models = [\"asr\"] }]\n[plan]",
                ),
            _ => base.replace("from = \"h100/asr\"", &format!("from = \"{fifo}\"")),
        };
        d.write(
            &format!("{field}.toml"),
            &text.replace(
                "[plan]\ngpu_types = [\"h100-80gb\"]\nregimes = [\"dedicated\"]\nmax_gpus = 4\nseeds = 1\n",
                "",
            ),
        )
    };
    let (trace, model) = (scenario("trace"), scenario("model"));
    let vdir = d.join("v");
    std::fs::create_dir_all(&vdir).expect("v");
    for f in ["gpu.csv", "asr.requests.csv", "asr.batches.csv"] {
        std::fs::copy(repo().join(VALIDATE_OK).join(f), format!("{vdir}/{f}")).expect("copy");
    }
    assert!(Command::new("mkfifo")
        .arg(format!("{vdir}/trace_asr.csv"))
        .status()
        .is_ok_and(|s| s.success()));
    let out = d.join("out");
    let cases: &[(&[&str], &[&str])] = &[
        (&["run", &fifo], &[&fifo, "FIFO"]),
        (&["run", &trace], &["workload[0].trace", &fifo, "FIFO"]),
        (&["run", &model], &["models.asr.from", &fifo, "FIFO"]),
        (&["plan", &fifo], &[&fifo, "FIFO"]),
        (&["sweep", &fifo, "--out", &out], &[&fifo, "FIFO"]),
        (&["calibrate", "--kind", "asr", "--profile", &fifo, "--out", &out], &[&fifo, "FIFO"]),
        (&["validate", &vdir], &["trace_asr.csv", "FIFO"]),
        (
            &["validate", VALIDATE_OK, "--model", &format!("asr={fifo}")],
            &["--model", &fifo, "FIFO"],
        ),
    ];
    for (args, needles) in cases {
        let (o, took) = gpuslice(args);
        assert_refused(&format!("{args:?}"), &o, took, "", needles);
    }
    // An output that is a folder.
    let (o, took) = gpuslice(&[
        "calibrate",
        "--kind",
        "asr",
        "--profile",
        "models/h100/profile_asr.csv",
        "--out",
        &d.join("v"),
    ]);
    assert_refused("calibrate --out FOLDER", &o, took, "", &["v"]);
}

/// `plan --emit-scenario/--emit-k8s` renders and checks everything before it writes anything,
/// then writes all or none: a target that is a folder, or a model name that cannot name a
/// Deployment, leaves no file behind (it left 4 of 5 Kubernetes files, or the scenario alone).
#[test]
fn hostile_emit_targets_leave_no_partial_output() {
    let d = TempDir::new("hostile-emit");
    let (sc, k8s) = (d.join("best.toml"), d.join("k8s"));
    std::fs::create_dir_all(format!("{k8s}/deployment-asr.yaml")).expect("dir");
    let (o, took) = gpuslice(&["plan", "tests/hostile/cli/plan_ok.toml", "--emit-scenario", &sc, "--emit-k8s", &k8s]);
    assert_refused("k8s target is a folder", &o, took, "", &["deployment-asr.yaml", "folder"]);
    assert!(!exists(&sc), "the scenario was written");
    assert_eq!(std::fs::read_dir(&k8s).expect("k8s").count(), 1, "Kubernetes files were written");
    let (o, took) = gpuslice(&[
        "plan",
        "tests/hostile/cli/plan_k8s_name.toml",
        "--emit-scenario",
        &sc,
        "--emit-k8s",
        &d.join("k2"),
    ]);
    assert_refused("k8s name", &o, took, "plan_k8s_name.toml", &["models.ASR_1", "'ASR_1'"]);
    assert!(!exists(&sc) && !exists(&d.join("k2")), "something was written");
    let (o, took) = gpuslice(&["plan", "tests/hostile/cli/plan_ok.toml", "--emit-scenario", &k8s]);
    assert_refused("scenario target is a folder", &o, took, "", &[&k8s, "folder"]);
    // The same plan with good targets writes them all.
    let (o, _) = gpuslice(&[
        "plan",
        "tests/hostile/cli/plan_ok.toml",
        "--emit-scenario",
        &sc,
        "--emit-k8s",
        &d.join("k3"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(exists(&sc) && std::fs::read_dir(d.join("k3")).expect("k3").count() >= 4);
}

/// Inputs that look like the hostile ones but are valid are accepted: a check on a pipeline's
/// column (its default name holds `->`), scoped to a variant and over seeds; a passing gate
/// says so on one stderr line; the axes keep the file's order; a GenAI-Perf CSV whose
/// "Inter Token Latency Spread" row comes first is read by the exact metric name.
#[test]
fn hostile_lookalikes_are_accepted() {
    let d = TempDir::new("hostile-ok");
    let out = d.join("sw");
    let (o, _) = gpuslice(&[
        "sweep",
        "tests/hostile/cli/sweep_pipeline.toml",
        "--out",
        &out,
        "--threads",
        "1",
        "--check",
        "stages.asr->tts.latency_ms.p95 < 1e6",
        "--check",
        "variant=ts: mean(models.asr.latency_ms.p95) < 1e6",
        "--check",
        "ci_hi(latency_ms.p95)<=1e6",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("all 3 --check passed"), "{err}");
    let results = std::fs::read_to_string(format!("{out}/results.csv")).expect("results");
    assert!(
        results.starts_with("run,workload[0].arrivals.rate_rps,seed,variant,"),
        "{}",
        &results[..80]
    );
    // The spread row is not the latency: the fit equals the one without it.
    let spread = "tests/hostile/genai/itl-spread-concurrency5/profile_export_genai_perf.csv";
    let plain_dir = d.join("plain-concurrency5");
    std::fs::create_dir_all(&plain_dir).expect("dir");
    let text = std::fs::read_to_string(repo().join(spread)).expect("spread");
    let plain = d.write(
        "plain-concurrency5/profile_export_genai_perf.csv",
        &text
            .lines()
            .filter(|l| !l.contains("Spread"))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    let fit = |f: &str, name: &str| {
        let json = d.join(name);
        let (o, _) = gpuslice(&[
            "calibrate",
            "--kind",
            "llm",
            "--genai-perf",
            f,
            "--genai-perf",
            GENAI_25,
            "--out",
            &json,
        ]);
        assert!(o.status.success(), "{f}: {}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("json");
        v["ops"].clone()
    };
    assert_eq!(fit(spread, "a.json"), fit(&plain, "b.json"));
}
