//! `gpuslice sweep` and `sweep-merge` through the binary: the files are byte-identical for any
//! `--threads`; shards merge into exactly the files of one run; a killed or Ctrl-C'd sweep
//! resumes into the same files; `--check` exits 0 / 1 / 2; a bad axis path is refused before
//! anything runs; the CI examples in docs/ci (and their copies in the book) parse and their
//! gpuslice command lines parse with the CLI.

use crate::common::*;
use clap::Parser;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SPEC: &str = "experiments/sweep-asr-tts.toml";
const FILES: [&str; 3] = ["results.csv", "summary.csv", "manifest.json"];

#[track_caller]
fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}\nstdout: {}",
        text(&out.stderr),
        text(&out.stdout)
    );
}

fn read(dir: &str, name: &str) -> String {
    let p = Path::new(dir).join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The three files of `a` and `b` are byte-identical.
#[track_caller]
fn same_files(a: &str, b: &str, what: &str) {
    for f in FILES {
        assert!(read(a, f) == read(b, f), "{what}: {f} differs between {a} and {b}");
    }
}

#[test]
fn files_are_byte_identical_for_any_thread_count() {
    let tmp = TempDir::new("sweep-threads");
    let dirs: Vec<String> = ["1", "2", "4"].iter().map(|t| tmp.join(&format!("t{t}"))).collect();
    for (t, d) in ["1", "2", "4"].iter().zip(&dirs) {
        ok(&gpuslice(&["sweep", SPEC, "--out", d, "--threads", t]));
    }
    same_files(&dirs[0], &dirs[1], "1 vs 2 threads");
    same_files(&dirs[0], &dirs[2], "1 vs 4 threads");
    // 3 rates x 2 slices x 3 seeds = 18 runs of 2 variants; 6 configurations of 2 variants.
    let results = read(&dirs[0], "results.csv");
    assert_eq!(results.lines().count(), 1 + 18 * 2);
    let header = results.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("run,workload[0].arrivals.rate_rps,variant[1].gpus[0].quantum_ms,seed,variant,gpus,gpu_type,"),
        "{header}"
    );
    for col in [
        "latency_ms.p95",
        "models.asr.latency_ms.p95",
        "gpu_utilization[2].busy_fraction",
        "failures.availability.tts",
    ] {
        assert!(header.split(',').any(|h| h == col), "no column {col} in {header}");
    }
    let summary = read(&dirs[0], "summary.csv");
    assert_eq!(summary.lines().count(), 1 + 6 * 2);
    assert!(summary.lines().next().unwrap_or_default().contains(",seeds,gpus.mean,gpus.ci95,"));
    let m: serde_json::Value = serde_json::from_str(&read(&dirs[0], "manifest.json")).expect("manifest is JSON");
    assert_eq!(m["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["seeds"], serde_json::json!([1, 2, 3]));
    assert_eq!(m["runs"], 18);
    assert!(m.get("shard").is_none());
}

#[test]
fn shards_merge_into_exactly_the_files_of_one_run() {
    let tmp = TempDir::new("sweep-shards");
    let single = tmp.join("single");
    ok(&gpuslice(&["sweep", SPEC, "--out", &single]));
    let shards: Vec<String> = (0..3).map(|i| tmp.join(&format!("shard{i}"))).collect();
    for (i, d) in shards.iter().enumerate() {
        ok(&gpuslice(&[
            "sweep",
            SPEC,
            "--out",
            d,
            "--shard",
            &format!("{i}/3"),
            "--threads",
            "1",
        ]));
        let ids: Vec<u64> = read(d, "results.csv")
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().and_then(|s| s.parse().ok()).expect("run id"))
            .collect();
        assert!(ids.iter().all(|id| id % 3 == i as u64), "shard {i}/3 ran {ids:?}");
        assert!(read(d, "manifest.json").contains(&format!("\"shard\": \"{i}/3\"")));
    }
    let merged = tmp.join("merged");
    let mut args = vec!["sweep-merge"];
    args.extend(shards.iter().rev().map(String::as_str)); // any order
    args.extend(["--out", &merged]);
    ok(&gpuslice(&args));
    same_files(&single, &merged, "merged shards vs one run");
    // Missing a shard: refused, naming what is missing.
    let out = gpuslice(&["sweep-merge", &shards[0], &shards[1], "--out", &tmp.join("partial")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("runs are missing"), "{}", text(&out.stderr));
}

/// Seeds of the sweep that is interrupted.
const LONG_SEEDS: u64 = 200;

/// A sweep of 4 x LONG_SEEDS runs (2 variants each) that takes a second or so on one thread, for
/// interrupting.
fn long_spec(tmp: &TempDir) -> String {
    let seeds: Vec<String> = (1..=LONG_SEEDS).map(|s| s.to_string()).collect();
    tmp.write(
        "long.toml",
        &format!(
            r#"name = "long"
duration_s = 10
warmup_s = 1
[models.asr]
from = "h100/asr"
[[workload]]
model = "asr"
arrivals = {{ process = "poisson", rate_rps = 50 }}
size = {{ dist = "lognormal", median = 5.0, sigma = 0.6, min = 1.0, max = 30.0 }}
[[variant]]
name = "one"
gpu = "h100-80gb"
gpus = [{{ regime = "dedicated", models = ["asr"] }}]
[[variant]]
name = "two"
gpu = "a100-80gb"
gpus = [{{ regime = "dedicated", models = ["asr"] }}]
[sweep]
seeds = [{}]
"workload[0].arrivals.rate_rps" = [20, 40, 60, 80]
"#,
            seeds.join(", ")
        ),
    )
}

/// Start a one-thread sweep and wait until results.csv holds a few rows.
fn start_and_wait_for_rows(spec: &str, out: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gpuslice"))
        .args(["sweep", spec, "--out", out, "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gpuslice sweep");
    let results = Path::new(out).join("results.csv");
    let t0 = Instant::now();
    loop {
        let rows = std::fs::read_to_string(&results).map(|s| s.lines().count()).unwrap_or(0);
        if rows > 6 {
            return child;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("sweep ended ({status}) before it could be interrupted");
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no rows after 2 minutes");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn data_rows(dir: &str) -> usize {
    read(dir, "results.csv").lines().count() - 1
}

#[test]
fn a_killed_sweep_resumes_into_the_same_files() {
    let tmp = TempDir::new("sweep-kill");
    let spec = long_spec(&tmp);
    let full = tmp.join("full");
    ok(&gpuslice(&["sweep", &spec, "--out", &full]));
    let out = tmp.join("killed");
    let mut child = start_and_wait_for_rows(&spec, &out);
    child.kill().expect("kill");
    let _ = child.wait();
    let rows = data_rows(&out);
    assert!(rows < (8 * LONG_SEEDS) as usize, "the sweep finished before the kill ({rows} rows)");
    // A kill in the middle of a write leaves half a run: the first of its two rows, and the
    // second cut short.
    let next_run = (rows / 2) as u64;
    let lines: Vec<String> = read(&full, "results.csv")
        .lines()
        .filter(|l| l.split(',').next() == Some(next_run.to_string().as_str()))
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 2);
    let half = format!("{}\n{}", lines[0], &lines[1][..lines[1].len() / 2]);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(Path::new(&out).join("results.csv"))
        .expect("open results.csv");
    std::io::Write::write_all(&mut f, half.as_bytes()).expect("append");
    drop(f);
    // Without --resume the existing file is not touched.
    let again = gpuslice(&["sweep", &spec, "--out", &out]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("--resume"));
    ok(&gpuslice(&["sweep", &spec, "--out", &out, "--resume", "--threads", "2"]));
    same_files(&full, &out, "killed + resumed vs uninterrupted");
}

#[test]
fn ctrl_c_stops_after_the_runs_in_flight_and_leaves_valid_files() {
    let tmp = TempDir::new("sweep-int");
    let spec = long_spec(&tmp);
    let out = tmp.join("stopped");
    let mut child = start_and_wait_for_rows(&spec, &out);
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(kill.success());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "Ctrl-C exits with 130");
    // Whole runs only (two rows each), in id order, and a summary of them.
    let results = read(&out, "results.csv");
    let ids: Vec<u64> = results
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().and_then(|s| s.parse().ok()).expect("run id"))
        .collect();
    assert!(
        ids.len().is_multiple_of(2) && ids.len() < (8 * LONG_SEEDS) as usize,
        "{} rows",
        ids.len()
    );
    assert!(ids.chunks(2).all(|p| p[0] == p[1]) && ids.windows(2).all(|w| w[0] <= w[1]));
    let configs: std::collections::BTreeSet<u64> = ids.iter().map(|id| id / LONG_SEEDS).collect();
    assert_eq!(read(&out, "summary.csv").lines().count(), 1 + 2 * configs.len());
    ok(&gpuslice(&["sweep", &spec, "--out", &out, "--resume"]));
    let full = tmp.join("full");
    ok(&gpuslice(&["sweep", &spec, "--out", &full, "--threads", "1"]));
    same_files(&full, &out, "interrupted + resumed vs uninterrupted");
}

#[test]
fn check_gate_exit_codes() {
    let tmp = TempDir::new("sweep-check");
    let pass = gpuslice(&[
        "sweep",
        SPEC,
        "--out",
        &tmp.join("pass"),
        "--check",
        "models.tts.latency_ms.p95 < 2000",
        "--check",
        "failures.availability.asr>=0.999",
    ]);
    ok(&pass);
    // A passing gate says so, on one line of stderr (a CI log shows what it checked).
    let err = text(&pass.stderr);
    assert!(
        pass.stdout.is_empty() && err.lines().count() == 1 && err.contains("18 of 18 runs") && err.contains("all 2 --check passed"),
        "{err}"
    );

    let fail = gpuslice(&["sweep", SPEC, "--out", &tmp.join("fail"), "--check", "latency_ms.p95 <= 100"]);
    assert_eq!(fail.status.code(), Some(1), "stderr: {}", text(&fail.stderr));
    let stdout = text(&fail.stdout);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("run,workload[0].arrivals.rate_rps,variant[1].gpus[0].quantum_ms,seed,variant,check,column,value")
    );
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty());
    for r in &rows {
        let f: Vec<&str> = r.split(',').collect();
        assert_eq!(f[5..7], ["latency_ms.p95 <= 100", "latency_ms.p95"], "{r}");
        assert!(f[7].parse::<f64>().expect("value") > 100.0, "{r}");
    }
    assert!(text(&fail.stderr).contains(&format!("{} rows break a --check", rows.len())));
    // The files are written all the same, and the JSON report lists the same rows.
    assert_eq!(data_rows(&tmp.join("fail")), 36);
    let json = gpuslice(&[
        "sweep",
        SPEC,
        "--out",
        &tmp.join("json"),
        "--check",
        "latency_ms.p95 <= 100",
        "--format",
        "json",
    ]);
    assert_eq!(json.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON document");
    assert_eq!(doc["failures"].as_array().map(Vec::len), Some(rows.len()));
    assert!(doc["failures"][0]["configuration"]["workload[0].arrivals.rate_rps"].is_number());

    for (check, needle) in [
        ("latency_ms.p96 < 1", "no results.csv column 'latency_ms.p96'"),
        ("latency_ms.p95 ~ 1", "COLUMN OP NUMBER"),
        ("gpu_type < 1", "holds text"),
    ] {
        let out = gpuslice(&["sweep", SPEC, "--out", &tmp.join("bad"), "--check", check]);
        assert_eq!(out.status.code(), Some(2), "{check}");
        let err = text(&out.stderr);
        assert!(err.lines().count() == 1 && err.contains(needle), "{check}: {err}");
    }
    assert!(!Path::new(&tmp.join("bad")).exists(), "a bad check ran the sweep");
}

#[test]
fn a_bad_axis_path_is_refused_before_anything_runs() {
    let tmp = TempDir::new("sweep-bad");
    let spec = std::fs::read_to_string(repo_file(SPEC)).expect("spec");
    for (axis, needle) in [
        (
            r#""workload[5].arrivals.rate_rps" = [1]"#,
            "sweep.\"workload[5].arrivals.rate_rps\": 'workload[5]' does not exist",
        ),
        (
            r#""variant[1].gpus[0].quantum_msx" = [2]"#,
            "sweep.\"variant[1].gpus[0].quantum_msx\" = 2: unknown field `quantum_msx`",
        ),
        (r#""models.llm.max_batch" = [4]"#, "'models.llm' does not exist"),
        (
            r#""variant[*].gpu" = ["h100-80gb", "h100-8gb"]"#,
            "sweep.\"variant[*].gpu\" = \"h100-8gb\": variant[0].gpu: unknown GPU 'h100-8gb'",
        ),
        (
            r#""variant[1].gpus[0].quantum_ms" = [1, -2]"#,
            "sweep.\"variant[1].gpus[0].quantum_ms\" = -2",
        ),
    ] {
        let text_in = spec.replace(r#""variant[1].gpus[0].quantum_ms" = [1.0, 2.1]"#, axis);
        let file = tmp.write("bad.toml", &text_in);
        let out_dir = tmp.join("out");
        let out = gpuslice(&["sweep", &file, "--out", &out_dir]);
        assert_eq!(out.status.code(), Some(2), "{axis}");
        let err = text(&out.stderr);
        assert!(
            err.lines().count() == 1 && err.contains("bad.toml") && err.contains(needle),
            "{axis}: {err}"
        );
        assert!(!Path::new(&out_dir).exists(), "{axis}: the sweep started");
    }
}

/// Split a shell command line into words (quotes and backslash-free words, as the examples use).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unbalanced quote in {line}");
    if in_word {
        words.push(cur);
    }
    words
}

/// Every string in a YAML tree.
fn strings(y: &yaml_rust2::Yaml, out: &mut Vec<String>) {
    use yaml_rust2::Yaml;
    match y {
        Yaml::String(s) => out.push(s.clone()),
        Yaml::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Yaml::Hash(h) => h.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out)
        }),
        _ => {}
    }
}

/// Parse YAML text; check every `gpuslice sweep` / `sweep-merge` / `report` command line in it with the CLI
/// (CI variables set to shard 0, the spec variable to the example spec) and every `--check`
/// against the example sweep's columns; returns the documents and the command lines.
fn check_ci_yaml(name: &str, yaml: &str) -> (Vec<yaml_rust2::Yaml>, Vec<Vec<String>>) {
    let docs = yaml_rust2::YamlLoader::load_from_str(yaml).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"));
    let mut all = Vec::new();
    docs.iter().for_each(|d| strings(d, &mut all));
    let (raw, _) = gpuslice::scenario::files::read_scenario(&repo_file(SPEC)).expect("example spec");
    let plan = gpuslice::sweep::plan(&raw, SPEC).expect("plan");
    let scs = gpuslice::sweep::resolve(&plan, &gpuslice::scenario::files::Sources::none(SPEC)).expect("valid");
    let layout =
        gpuslice::sweep::layout::Layout::new(&plan, gpuslice::sweep::layout::metric_columns(&scs).expect("columns")).expect("layout");
    let mut commands = Vec::new();
    for s in all {
        let Some(at) = s.find("gpuslice sweep").or_else(|| s.find("gpuslice report")) else { continue };
        let line = s[at..]
            .replace("${{ matrix.shard }}", "0")
            .replace("${JOB_COMPLETION_INDEX}", "0")
            .replace("$JOB_COMPLETION_INDEX", "0")
            .replace("\"$SPEC\"", SPEC);
        let words = shell_words(&line);
        if let Err(e) = gpuslice::cli::Cli::try_parse_from(&words) {
            panic!("{name}: '{line}' does not parse with the CLI: {e}");
        }
        for w in words.windows(2).filter(|w| w[0] == "--check") {
            gpuslice::sweep::check::parse_check(&w[1], &layout).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        if words[1] == "sweep" {
            let spec = &words[2];
            assert!(spec.ends_with("sweep-asr-tts.toml"), "{name}: sweeps {spec}, not the example spec");
        }
        commands.push(words);
    }
    (docs, commands)
}

/// The `--shard I/N` count of the sweep command and the number of shards the file starts.
fn assert_shards(name: &str, commands: &[Vec<String>], started: i64) {
    let sweep = commands
        .iter()
        .find(|w| w[1] == "sweep")
        .unwrap_or_else(|| panic!("{name}: no sweep command"));
    let shard = sweep.windows(2).find(|w| w[0] == "--shard").map(|w| w[1].clone()).expect("--shard");
    assert_eq!(
        shard,
        format!("0/{started}"),
        "{name}: --shard does not match the {started} shards started"
    );
    assert!(commands.iter().any(|w| w[1] == "sweep-merge"), "{name}: no sweep-merge command");
}

#[test]
fn ci_examples_parse_and_their_commands_match_the_cli() {
    let gh = std::fs::read_to_string(repo_file("docs/ci/github-actions-sweep.yml")).expect("GitHub example");
    let (docs, commands) = check_ci_yaml("github-actions-sweep.yml", &gh);
    let matrix = docs[0]["jobs"]["shard"]["strategy"]["matrix"]["shard"]
        .as_vec()
        .expect("shard matrix");
    assert_shards("github-actions-sweep.yml", &commands, matrix.len() as i64);
    assert_eq!(docs[0]["jobs"]["merge"]["needs"].as_str(), Some("shard"));

    let k8s = std::fs::read_to_string(repo_file("docs/ci/k8s-indexed-job.yaml")).expect("Kubernetes example");
    let (docs, commands) = check_ci_yaml("k8s-indexed-job.yaml", &k8s);
    let job = docs
        .iter()
        .find(|d| d["spec"]["completionMode"].as_str() == Some("Indexed"))
        .expect("an Indexed Job");
    assert_eq!(job["kind"].as_str(), Some("Job"));
    assert_shards(
        "k8s-indexed-job.yaml",
        &commands,
        job["spec"]["completions"].as_i64().expect("completions"),
    );

    // The copies in the book (docs/src/sweeps-ci.md) and any in the README: every YAML block
    // parses and its commands match the CLI.
    let pages = gpuslice::cli::docs::pages(&repo()).expect("pages");
    let mut blocks = 0;
    for file in &pages {
        let md = std::fs::read_to_string(repo_file(file)).expect(file);
        for block in md.split("```yaml\n").skip(1) {
            let yaml = block.split("```").next().unwrap_or_default();
            check_ci_yaml(file, yaml);
            blocks += 1;
        }
    }
    assert!(
        blocks >= 2,
        "the book's copies of the CI examples are missing ({blocks} YAML blocks)"
    );
}
