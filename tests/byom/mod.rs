//! Bring your own model: `gpuslice calibrate` on a user's own measurements (fixtures in this
//! folder) keeps the user's sizes and buckets, warns about every extrapolated cell, takes memory
//! and KV geometry from flags or the architecture, refuses a memory larger than the GPU, and
//! states no leave-one-out error from fewer than 3 points.

use crate::common::*;
use serde_json::Value;

fn model(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("model written")).expect("json")
}

/// Exit 2, one line on stderr naming `needles`, nothing written.
#[track_caller]
fn refused(args: &[&str], out_json: &str, needles: &[&str]) {
    let out = gpuslice(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line:\n{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: '{n}' not in: {err}");
    }
    assert!(!std::path::Path::new(out_json).exists(), "{args:?}: wrote {out_json}");
}

#[test]
fn encoder_buckets_are_the_users_sizes_and_extrapolated_cells_are_warned() {
    let d = TempDir::new("byom-enc");
    let out = d.join("enc.json");
    let args = [
        "calibrate", "--kind", "encoder", "--profile", "tests/byom/encoder_profile.csv", "--gpu", "h100-80gb",
        "--arch-file", "tests/byom/encoder_arch.toml", "--out", &out,
    ];
    let o = gpuslice(&args);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    let m = model(&out);
    let e = &m["ops"]["encode"];
    assert_eq!(e["batch_buckets"], serde_json::json!([1, 2, 4]), "the measured batches");
    assert_eq!(e["size_buckets"], serde_json::json!([100.0, 300.0, 700.0]), "the measured token counts, not 32..512");
    // Batch 4 was measured at 100 and 300 tokens but not at 700: one cell, one warning line.
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("extrapolated")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("op encode cell (batch 4, size 700)"), "{err}");
    assert_eq!(m["calibration"]["extrapolated_cells"][0]["batch"], 4.0);
    // Memory from the architecture (BERT-large-like: 0.34 B params in bf16), provenance stated.
    let w = m["memory"]["weights_gib"].as_f64().expect("weights");
    assert!(w > 0.55 && w < 0.7, "{w}");
    let p = &m["calibration"]["provenance"];
    assert_eq!(p["source"], "measured");
    assert_eq!(p["profile"], "encoder_profile.csv");
    assert!(p["gpu"].as_str().expect("gpu").contains("H100"), "{p}");
    // Deterministic: the same bytes again.
    let first = std::fs::read(&out).expect("read");
    let o2 = gpuslice(&args);
    assert!(o2.status.success());
    assert_eq!(first, std::fs::read(&out).expect("read"), "calibrate is not deterministic");
}

#[test]
fn given_buckets_are_kept_and_bad_ones_refused() {
    let d = TempDir::new("byom-given");
    let out = d.join("enc.json");
    let o = gpuslice(&[
        "calibrate", "--kind", "encoder", "--profile", "tests/byom/encoder_profile.csv", "--gpu", "h100-80gb", "--memory-gib", "3",
        "--batch-buckets", "1,2,4,8", "--size-buckets", "encode=128,512,1024", "--out", &out,
    ]);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    let m = model(&out);
    assert_eq!(m["ops"]["encode"]["batch_buckets"], serde_json::json!([1, 2, 4, 8]));
    assert_eq!(m["ops"]["encode"]["size_buckets"], serde_json::json!([128.0, 512.0, 1024.0]));
    assert_eq!(m["memory"]["runtime_gib"].as_f64(), Some(3.0), "--memory-gib without an architecture");
    // Batch 8 was never measured: every size warns.
    assert!(err.contains("(batch 8, size 1024)"), "{err}");
    let bad = d.join("bad.json");
    for (flag, v, needle) in [
        ("--batch-buckets", "1,4,2", "'2' must be larger"),
        ("--batch-buckets", "1,2.5", "'2.5' must be a whole number"),
        ("--size-buckets", "5,x", "'x' is not a number"),
        ("--size-buckets", "prefill=5,10", "unknown op 'prefill'"),
    ] {
        refused(
            &["calibrate", "--kind", "encoder", "--profile", "tests/byom/encoder_profile.csv", flag, v, "--out", &bad],
            &bad,
            &[flag, needle],
        );
    }
    refused(
        &["calibrate", "--kind", "encoder", "--profile", "tests/byom/encoder_profile.csv", "--arch", "{ layers = 24 }", "--out", &bad],
        &bad,
        &["--arch", "missing field"],
    );
}

#[test]
fn a_memory_larger_than_the_gpu_is_refused() {
    let d = TempDir::new("byom-mem");
    let out = d.join("m.json");
    refused(
        &["calibrate", "--kind", "encoder", "--profile", "tests/byom/encoder_two.csv", "--gpu", "h100-80gb", "--memory-gib", "140", "--out", &out],
        &out,
        &["--memory-gib", "'140'", "H100"],
    );
    let fx = "traces/genai-perf/llama-3.1-8b-h100-openai-chat-concurrency";
    let (a, b) = (format!("{fx}1/profile_export_genai_perf.json"), format!("{fx}5/profile_export_genai_perf.json"));
    refused(
        &["calibrate", "--kind", "llm", "--genai-perf", &a, "--genai-perf", &b, "--memory-gib", "140", "--out", &out],
        &out,
        &["--memory-gib", "'140'"],
    );
}

#[test]
fn no_leave_one_out_figure_from_two_points() {
    let d = TempDir::new("byom-loo");
    let out = d.join("two.json");
    let args = ["calibrate", "--kind", "encoder", "--profile", "tests/byom/encoder_two.csv", "--gpu", "h100-80gb", "--memory-gib", "2", "--out", &out];
    let o = gpuslice(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let s = text(&o.stdout);
    assert!(s.contains("leave-one-out n/a (2 points)") && !s.contains("%"), "{s}");
    let diag = &model(&out)["calibration"]["ops"]["encode"];
    assert!(diag["loo_mean_abs_rel_err"].is_null() && diag["loo_max_abs_rel_err"].is_null(), "{diag}");
    let mut j = args.to_vec();
    j.extend(["--format", "json"]);
    let o = gpuslice(&j);
    let v: Value = serde_json::from_str(&text(&o.stdout)).expect("json");
    assert!(v["ops"]["encode"]["loo_mean_abs_rel_err"].is_null(), "{v}");
    // Two GenAI-Perf concurrencies: no leave-one-out either.
    let fx = "traces/genai-perf/llama-3.1-8b-h100-openai-chat-concurrency";
    let (a, b) = (format!("{fx}1/profile_export_genai_perf.json"), format!("{fx}5/profile_export_genai_perf.json"));
    let o = gpuslice(&["calibrate", "--kind", "llm", "--genai-perf", &a, "--genai-perf", &b, "--layers", "32", "--kv-heads", "8", "--head-dim", "128", "--out", &out]);
    let s = text(&o.stdout);
    assert!(o.status.success() && s.contains("decode") && s.contains("n/a (2 points)") && !s.contains('%'), "{s}");
}

#[test]
fn genai_perf_takes_the_given_kv_geometry() {
    let d = TempDir::new("byom-kv");
    let fx = "traces/genai-perf/llama-3.1-8b-h100-openai-chat-concurrency";
    let files: Vec<String> = [1, 5, 25].iter().map(|c| format!("{fx}{c}/profile_export_genai_perf.json")).collect();
    let mut base = vec!["calibrate", "--kind", "llm"];
    for f in &files {
        base.extend(["--genai-perf", f.as_str()]);
    }
    // Flags: a 70B-class geometry (80 layers, 8 KV heads of 128).
    let out = d.join("flags.json");
    let mut a = base.clone();
    a.extend(["--layers", "80", "--kv-heads", "8", "--head-dim", "128", "--memory-gib", "70", "--out", &out]);
    let o = gpuslice(&a);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let l = &model(&out)["llm"];
    assert_eq!((l["layers"].as_u64(), l["kv_heads"].as_u64(), l["head_dim"].as_u64()), (Some(80), Some(8), Some(128)));
    // The architecture: its geometry, fp8 KV cache, and its weights inside --memory-gib.
    let out = d.join("arch.json");
    let mut a = base.clone();
    let arch = "{ layers = 40, hidden = 5120, heads = 40, kv_heads = 10, intermediate = 13824, vocab = 32000, params_b = 13.0, kv_dtype = \"fp8\" }";
    a.extend(["--arch", arch, "--memory-gib", "60", "--out", &out]);
    let o = gpuslice(&a);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let m = model(&out);
    let l = &m["llm"];
    assert_eq!((l["layers"].as_u64(), l["kv_heads"].as_u64(), l["head_dim"].as_u64(), l["kv_bytes_per_element"].as_u64()), (Some(40), Some(10), Some(128), Some(1)));
    let w = m["memory"]["weights_gib"].as_f64().expect("weights");
    assert!((w - 26e9 / f64::from(1u32 << 30)).abs() < 0.01, "{w}");
    assert!((w + m["memory"]["runtime_gib"].as_f64().expect("runtime") - 60.0).abs() < 1e-3);
    // Without any: the assumption is said on stderr.
    let out = d.join("none.json");
    let mut a = base.clone();
    a.extend(["--out", &out]);
    let o = gpuslice(&a);
    assert!(o.status.success() && text(&o.stderr).contains("KV geometry assumed"), "{}", text(&o.stderr));
    // Half a geometry is refused.
    let bad = d.join("bad.json");
    let mut a = base.clone();
    a.extend(["--layers", "80", "--out", &bad]);
    refused(&a, &bad, &["--layers", "go together"]);
}

/// The share of GPU time a run costs beyond the measured cells: none where every call lands on a
/// measured cell, some where a few calls reach the cell the calibration filled by extrapolation
/// (batch 4 at 700 tokens), all of it on another GPU type (derived by the scaling model).
#[test]
fn runs_say_how_far_they_lean_on_extrapolated_cells() {
    let d = TempDir::new("byom-lean");
    let model_file = d.join("enc.json");
    let o = gpuslice(&[
        "calibrate", "--kind", "encoder", "--profile", "tests/byom/encoder_profile.csv", "--gpu", "h100-80gb",
        "--arch-file", "tests/byom/encoder_arch.toml", "--out", &model_file,
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let run = |gpu: &str, size: &str, rate: f64| -> Value {
        let sc = d.write(
            &format!("lean-{gpu}-{rate}.toml"),
            &format!(
                "name = \"lean\"\nduration_s = 60\n[models.enc]\nfrom = \"{model_file}\"\n[[workload]]\nmodel = \"enc\"\narrivals = {{ process = \"poisson\", rate_rps = {rate} }}\nsize = {size}\n[[variant]]\nname = \"one\"\ngpu = \"{gpu}\"\ngpus = [{{ regime = \"dedicated\", models = [\"enc\"] }}]\n"
            ),
        );
        let o = gpuslice(&["run", &sc, "--format", "json"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).expect("json");
        v["variants"][0].clone()
    };
    let within = run("h100-80gb", "{ dist = \"fixed\", value = 300 }", 50.0);
    assert_eq!(within["extrapolated"], false, "{within}");
    assert_eq!(within["extrapolated_pct"], 0.0);
    // Sizes up to 700 tokens at a load that batches 3-4 requests now and then (and, rarely,
    // more than the largest measured batch).
    let some = run("h100-80gb", "{ dist = \"uniform\", min = 100, max = 700 }", 150.0);
    let pct = some["extrapolated_pct"].as_f64().expect("pct");
    assert_eq!(some["extrapolated"], true, "{some}");
    assert!(pct > 0.0 && pct < 50.0, "a few calls on the filled cell, not most: {pct}");
    let other = run("a100-80gb", "{ dist = \"fixed\", value = 300 }", 50.0);
    assert_eq!(other["extrapolated_pct"], 100.0, "{other}");
}
