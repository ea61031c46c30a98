//! The `gpuslice` binary: `run --format json` prints one JSON document with the keys of the
//! report spec; bad input exits with status 2 and one stderr line; `catalog` checks MIG layouts;
//! `calibrate` refuses a CSV without a needed column (writing nothing) and, on the real H100
//! data, writes a model JSON that loads and runs; every command prints one JSON document with
//! `--format json`, in a stable shape (`stages` always, `validate` always an array); `validate`
//! reports every folder and a bad one fails alone; `accuracy` works from any directory.

use crate::common::*;
use serde_json::Value;
use std::process::{Command, Output};

/// Exit status 2, nothing on stdout, exactly one line on stderr; returns that line.
#[track_caller]
fn assert_usage_error(out: &Output, what: &str) -> String {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: exit status {:?}, stderr: {err}",
        out.status.code()
    );
    assert!(out.stdout.is_empty(), "{what}: stdout not empty: {}", text(&out.stdout));
    assert_eq!(err.lines().count(), 1, "{what}: stderr is not one line:\n{err}");
    assert!(err.ends_with('\n'), "{what}: stderr line not terminated");
    err
}

#[test]
fn run_json_prints_one_document_with_the_report_keys() {
    let out = gpuslice(&["run", "tests/configs/valid/small.toml", "--seed", "5", "--format", "json"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let docs: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{stdout}"));
    assert_eq!(docs.len(), 1, "expected exactly one JSON document");
    let doc = &docs[0];
    assert_eq!(doc["scenario"], "small");
    assert_eq!(doc["seed"], 5);
    let variants = doc["variants"].as_array().expect("variants is an array");
    let names: Vec<&str> = variants.iter().map(|v| v["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["dedicated-2gpu", "time-sliced", "mig"], "variants in file order");
    for v in variants {
        let n = &v["name"];
        for k in ["gpus", "completed", "failed"] {
            assert!(v[k].is_u64(), "{n}: '{k}' missing or not an integer: {}", v[k]);
        }
        for k in ["cost_per_hour_usd", "throughput_rps", "throughput_rps_per_gpu"] {
            assert!(v[k].is_number(), "{n}: '{k}' missing or not a number");
        }
        assert!(v["gpu_type"].is_string(), "{n}: gpu_type");
        assert!(v["extrapolated"].is_boolean(), "{n}: extrapolated");
        for k in ["mean", "p50", "p95", "p99"] {
            assert!(v["latency_ms"][k].is_number(), "{n}: latency_ms.{k}");
        }
        let models = v["models"].as_object().expect("models is an object");
        assert_eq!(models.keys().map(String::as_str).collect::<Vec<_>>(), ["asr", "tts"]);
        let util = v["gpu_utilization"].as_array().expect("gpu_utilization is an array");
        assert!(!util.is_empty(), "{n}: no utilisation entries");
        for u in util {
            assert!(
                u["gpu"].is_u64() && u["partition"].is_string() && u["busy_fraction"].is_number(),
                "{n}: bad entry {u}"
            );
            let b = u["busy_fraction"].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&b), "{n}: busy fraction {b} outside [0, 1]");
        }
        assert!(v["completed"].as_u64().unwrap_or(0) > 0, "{n}: nothing completed");
    }
    assert_eq!(variants[0]["gpus"], 2);
    assert_eq!(variants[0]["gpu_type"], "h100-80gb");
    // The dedicated pair costs two GPUs at the catalog price of the H100 (2.49 $/h); the report
    // rounds to 4 decimals, so the value is exact up to float representation (1e-9).
    assert!((variants[0]["cost_per_hour_usd"].as_f64().unwrap_or(0.0) - 2.0 * 2.49).abs() < 1e-9);
}

#[test]
fn a_bad_scenario_exits_2_with_one_stderr_line() {
    let out = gpuslice(&["run", "tests/configs/invalid/unknown_gpu.toml"]);
    let err = assert_usage_error(&out, "unknown GPU");
    assert!(err.contains("unknown_gpu.toml") && err.contains("'b300'"), "{err}");
    let out = gpuslice(&["run", "tests/configs/invalid/malformed.toml", "--format", "json"]);
    assert_usage_error(&out, "malformed TOML");
    let out = gpuslice(&["run", "tests/configs/no-such-file.toml"]);
    let err = assert_usage_error(&out, "missing file");
    assert!(err.contains("no-such-file.toml"), "{err}");
}

#[test]
fn catalog_checks_mig_layouts() {
    let out = gpuslice(&["catalog", "--gpu", "a100-80gb", "--mig", "4g.40gb,2g.20gb,1g.10gb"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.starts_with("valid"), "{s}");
    let out = gpuslice(&["catalog", "--gpu", "a100-80gb", "--mig", "4g.40gb,4g.40gb"]);
    let err = assert_usage_error(&out, "impossible layout");
    assert!(err.contains("'4g.40gb'"), "{err}");
    let out = gpuslice(&["catalog", "--gpu", "b300"]);
    assert_usage_error(&out, "unknown GPU");
    let out = gpuslice(&["catalog"]);
    assert!(out.status.success() && text(&out.stdout).contains("a100-40gb"));
}

#[test]
fn calibrate_refuses_a_csv_without_a_needed_column_and_writes_nothing() {
    let d = TempDir::new("cal-bad");
    let csv = d.write("profile_asr.csv", "model,op,batch,latency_ms\nasr,encode,1,5.0\nasr,encode,2,5.5\n");
    let out_json = d.join("asr.json");
    let out = gpuslice(&["calibrate", "--kind", "asr", "--profile", &csv, "--out", &out_json]);
    let err = assert_usage_error(&out, "missing column");
    assert!(err.contains("profile_asr.csv") && err.contains("'audio_s'"), "{err}");
    let left: Vec<String> = std::fs::read_dir(&d.path)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["profile_asr.csv"], "calibrate left files behind");
}

#[test]
fn calibrate_on_the_h100_data_writes_a_model_that_loads_and_runs() {
    let d = TempDir::new("cal-real");
    let out_json = d.join("asr.json");
    let out = gpuslice(&[
        "calibrate",
        "--kind",
        "asr",
        "--profile",
        "models/h100/profile_asr.csv",
        "--batches",
        "traces/h100/asr_L/asr.batches.csv",
        "--out",
        &out_json,
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(exists(&out_json), "no output file");
    let spec = gpuslice::scenario::files::read_model(std::path::Path::new(&out_json)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.kind, gpuslice::model::ServiceKind::Asr);
    assert!(spec.ops.contains_key("encode"));
    // Host overheads come from the serving logs (sub-millisecond, measured).
    assert!(spec.dispatch_ms > 0.0 && spec.dispatch_ms < 1.0, "dispatch_ms {}", spec.dispatch_ms);
    assert!(spec.call_gap_ms > 0.0 && spec.call_gap_ms < 1.0, "call_gap_ms {}", spec.call_gap_ms);
    // A scenario can use it.
    let sc = parse(&format!(
        r#"
name = "calibrated"
duration_s = 5
warmup_s = 1
[models.asr]
from = "{out_json}"
[[workload]]
model = "asr"
arrivals = {{ process = "poisson", rate_rps = 50 }}
size = {{ dist = "lognormal", median = 5.0, sigma = 0.6, min = 1.0, max = 30.0 }}
[[variant]]
name = "one"
gpu = "h100-80gb"
gpus = [{{ regime = "dedicated", models = ["asr"] }}]
"#
    ));
    let r = run(&sc, 0, 1);
    assert!(r.completed > 100 && r.failed == 0, "completed {} failed {}", r.completed, r.failed);
}

/// Exactly one JSON document on stdout, exit 0, nothing on stderr.
#[track_caller]
fn one_json_document(args: &[&str]) -> Value {
    let out = gpuslice(args);
    assert!(out.status.success(), "{args:?}: stderr: {}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{args:?}: stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let docs: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON: {e}\n{stdout}"));
    assert_eq!(docs.len(), 1, "{args:?}: expected exactly one JSON document");
    docs.into_iter().next().unwrap_or_default()
}

#[test]
fn every_command_prints_one_json_document() {
    let doc = one_json_document(&["catalog", "--format", "json"]);
    let gpus = doc["gpus"].as_array().expect("gpus");
    assert!(gpus
        .iter()
        .any(|g| g["name"] == "a100-80gb" && g["mig_profiles"].as_array().is_some_and(|p| p.len() == 7)));
    let doc = one_json_document(&["catalog", "--gpu", "a100-80gb", "--mig", "4g.40gb,3g.40gb", "--format", "json"]);
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["memory_map"], "AAAABBBB");
    assert_eq!(doc["instances"][1]["start"], 4);
    let doc = one_json_document(&["catalog", "--model", "h100/llm", "--gpu", "h100-80gb", "--format", "json"]);
    let whole = &doc["devices"][0];
    assert_eq!(whole["device"], "whole");
    assert!(whole["kv_tokens"].as_u64().is_some_and(|t| t > 0), "{whole}");
    assert!(
        doc["devices"][1]["kv_tokens"].is_null(),
        "a 1g slice cannot hold the model: null, not 0"
    );
    let doc = one_json_document(&["bench", "--reps", "1", "--sweep-runs", "0", "--format", "json"]);
    assert!(doc["event_queue_m_events_per_s"].as_f64().is_some_and(|x| x > 0.0), "{doc}");
    assert_eq!(doc["llm"].as_array().map(Vec::len), Some(2));
    assert!(doc["sweep"].is_null());
    let doc = one_json_document(&["accuracy", "--format", "json"]);
    assert!(doc["runs"].as_array().is_some_and(|r| r.len() > 30), "every replayed run and model");
    assert!(doc["device_comparisons"].as_array().is_some_and(|r| !r.is_empty()));
    // The spatial runs: 18 pairs of two servers and 18 servers alone, by model.
    assert_eq!(doc["spatial"].as_array().map(Vec::len), Some(54), "spatial rows");
    assert_eq!(doc["spatial_summary"][0]["model_runs"].as_u64(), Some(36));
    assert_eq!(doc["spatial_summary"][1]["model_runs"].as_u64(), Some(18));
    assert!(doc["spatial"][0]["interference_measured"].as_f64().is_some_and(|x| x > 1.0));
    assert!(doc["mig_slice_errors"].as_array().is_some_and(|r| !r.is_empty()));
    let d = TempDir::new("cal-json");
    let out_json = d.join("asr.json");
    let doc = one_json_document(&[
        "calibrate",
        "--kind",
        "asr",
        "--buckets",
        "gpubench",
        "--profile",
        "models/h100/profile_asr.csv",
        "--out",
        &out_json,
        "--format",
        "json",
    ]);
    assert_eq!(doc["out"].as_str(), Some(out_json.as_str()));
    assert!(doc["ops"]["encode"]["points"].as_u64().is_some_and(|n| n > 0), "{doc}");
}

#[test]
fn run_json_has_a_stable_shape_and_the_table_says_whole() {
    // No pipeline: `stages` is still there, empty.
    let doc = one_json_document(&["run", "tests/configs/valid/small.toml", "--format", "json"]);
    for v in doc["variants"].as_array().expect("variants") {
        assert_eq!(v["stages"], serde_json::json!({}), "{}", v["name"]);
    }
    // A pipeline reports turns per second under that name.
    let doc = one_json_document(&["run", "--format", "json"]);
    let st = &doc["variants"][0]["stages"];
    let (_, p) = st.as_object().and_then(|m| m.iter().next()).expect("a pipeline");
    assert!(p["turns_per_s"].as_f64().is_some_and(|x| x > 0.0), "{p}");
    assert!(p.get("throughput_tps").is_none());
    let out = gpuslice(&["run"]);
    let table = text(&out.stdout);
    assert!(table.contains(":whole ") && !table.contains(":all "), "{table}");
}

#[test]
fn validate_reports_every_folder_and_a_bad_one_fails_alone() {
    // One folder: still an array.
    let doc = one_json_document(&["validate", "traces/h100/asr_L", "--format", "json"]);
    let arr = doc.as_array().expect("validate --format json is always an array");
    assert_eq!(arr.len(), 1);
    assert_eq!(arr[0]["dir"], "traces/h100/asr_L");
    let d = TempDir::new("validate-bad");
    let bad = d.path.join("empty-run");
    std::fs::create_dir_all(&bad).expect("dir");
    let bad = bad.display().to_string();
    for format in ["json", "table"] {
        let out = gpuslice(&["validate", &bad, "traces/h100/asr_L", "--format", format]);
        assert_eq!(out.status.code(), Some(2), "a failed folder makes the status 2");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line per failed folder:\n{err}");
        assert!(err.contains(&bad) && err.contains("gpu.csv"), "{err}");
        let stdout = text(&out.stdout);
        assert!(stdout.contains("traces/h100/asr_L"), "the good folder is still reported:\n{stdout}");
        if format == "json" {
            let v: Value = serde_json::from_str(&stdout).expect("JSON");
            let arr = v.as_array().expect("array");
            assert_eq!(arr.len(), 2);
            assert_eq!(arr[0]["dir"].as_str(), Some(bad.as_str()));
            assert!(arr[0]["error"].as_str().is_some_and(|e| e.contains("gpu.csv")), "{}", arr[0]);
            assert!(arr[1]["models"]["asr"].is_object());
        }
    }
}

#[test]
fn accuracy_works_from_any_directory() {
    let d = TempDir::new("accuracy-cwd");
    let out = Command::new(env!("CARGO_BIN_EXE_gpuslice"))
        .args(["accuracy"])
        .current_dir(&d.path)
        .output()
        .expect("runs");
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("| h100 | asr_L | asr |"));
    let out = Command::new(env!("CARGO_BIN_EXE_gpuslice"))
        .args(["accuracy", "--root", "no-such-folder"])
        .current_dir(&d.path)
        .output()
        .expect("runs");
    let err = assert_usage_error(&out, "missing root");
    assert!(err.contains("--root"), "says how: {err}");
}

#[test]
fn an_output_that_cannot_be_written_fails_with_its_path_and_leaves_nothing() {
    let d = TempDir::new("cal-unwritable");
    let out_json = d.join("no-such-folder/asr.json");
    let out = gpuslice(&[
        "calibrate",
        "--kind",
        "asr",
        "--profile",
        "models/h100/profile_asr.csv",
        "--out",
        &out_json,
    ]);
    let err = assert_usage_error(&out, "unwritable --out");
    assert!(err.contains("no-such-folder/asr.json"), "{err}");
    assert_eq!(std::fs::read_dir(&d.path).expect("dir").count(), 0, "nothing written");
}
