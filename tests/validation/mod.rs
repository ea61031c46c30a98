//! `validation`: replaying the real H100 measurements (traces/h100) and GenAI-Perf imports.
//! Replaying the real H100 measurements (traces/h100) through the simulator.
//! Bounds are the acceptance bounds of the calibration issue; the errors are computed here by
//! the simulator, not stored.

use gpuslice::validate::{validate_dir, TsParams};
use std::collections::BTreeMap;

const TS: TsParams = TsParams {
    quantum_ms: None,
    switch_us: None,
};

fn dir(run: &str) -> String {
    format!("{}/traces/h100/{run}", env!("CARGO_MANIFEST_DIR"))
}

/// Single-model runs: p50 and p95 within 10 %, throughput within 2 %. `tts_S`, `tts_S2` (TTS alone at
/// 30 and 60 req/s) were not used to fit the TTS table.
#[test]
fn single_model_runs_are_reproduced() {
    for run in ["asr_L", "asr_H", "tts_L", "tts_H", "llm_L", "llm_H", "tts_S", "tts_S2"] {
        let v = validate_dir(&dir(run), &BTreeMap::new(), TS).expect(run);
        for (m, r) in &v.models {
            let e = &r.error_pct;
            assert!(e["p50"].abs() <= 10.0, "{run} {m} p50 error {}%", e["p50"]);
            assert!(e["p95"].abs() <= 10.0, "{run} {m} p95 error {}%", e["p95"]);
            assert!(e["throughput"].abs() <= 2.0, "{run} {m} throughput error {}%", e["throughput"]);
        }
    }
}

/// Time-sliced co-location runs on the H100 and the H200 (2 and 3 servers on one GPU) and the
/// H100 time-slice probes. No latency of these runs was fitted: the slice and switch come from
/// the probes, `shared_time_fraction`, `host_phase_ms` and `sync_copy_ms` from the calls' own
/// CUDA events, the frame clamp, `cold_call_ms` and `call_noise` from the solo serving logs.
/// The bounds are the targets of docs/src/model/time-slicing.md: p50 within 15 %,
/// p95 within 20 %, throughput within 2 %; repeating a run moved p50 by up to 7 % and p95 by up
/// to 11 %.
#[test]
fn time_sliced_runs_are_reproduced() {
    let (mut within, mut total) = (0, 0);
    for run in [
        "h100/ts_asr_tts_L",
        "h100/ts_asr_tts_H",
        "h100/ts_asr_tts_llm_L",
        "h100/ts_asr_tts_llm_H",
        "h100/ts_asr_tts_L_r2",
        "h100/ts_asr_tts_H_r2",
        "h100/ts_asr_tts_llm_L_r2",
        "h100/ts_asr_tts_llm_H_r2",
        "h100/ts_probe_asr_tts",
        "h100/ts_probe_asr_tts_q",
        "h200/ts_tts_llm_L",
        "h200/ts_tts_llm_L_r2",
        "h200/ts_tts_llm_H",
        "h200/ts_tts_llm_H_r2",
        "h200/ts_asr_llm_L",
        "h200/ts_asr_llm_H",
        "h200/ts_asr_llm_H_r2",
        "h200/ts_asr_tts_L",
        "h200/ts_asr_tts_H",
        "h200/ts_asr_tts_llm_L",
        "h200/ts_asr_tts_llm_H",
        // Session 5: new arrivals at medium load and with a heavy TTS, measured after the
        // model was final.
        "h200/ts_asr_tts_M",
        "h200/ts_asr_tts_M_r2",
        "h200/ts_asr_tts_X",
        "h200/ts_asr_tts_X_r2",
        "h200/ts_asr_llm_M",
        "h200/ts_asr_llm_M_r2",
        "h200/ts_tts_llm_M",
        "h200/ts_tts_llm_M_r2",
        "h200/ts_asr_tts_llm_M",
        "h200/ts_asr_tts_llm_M_r2",
    ] {
        let path = format!("{}/traces/{run}", env!("CARGO_MANIFEST_DIR"));
        let v = validate_dir(&path, &BTreeMap::new(), TS).expect(run);
        assert!(v.models.len() >= 2);
        for (m, r) in &v.models {
            let e = &r.error_pct;
            for (pct, bound, tight) in [("p50", 15.0, 10.0), ("p95", 20.0, 15.0)] {
                assert!(e[pct].abs() <= bound, "{run} {m} {pct} error {}%", e[pct]);
                within += usize::from(e[pct].abs() <= tight);
                total += 1;
            }
            assert!(e["throughput"].abs() <= 2.0, "{run} {m} throughput error {}%", e["throughput"]);
        }
    }
    // 140 percentiles in all; 139 are within 10 % (p50) and 15 % (p95) today (the heavy-TTS
    // repeat's TTS p50 is +10.9 %).
    assert_eq!(total, 140);
    assert!(within >= 134, "only {within} of {total} percentiles within 10 % (p50) / 15 % (p95)");
}

#[test]
fn missing_files_are_errors() {
    let e = validate_dir("/nonexistent/dir", &BTreeMap::new(), TS)
        .expect_err("no dir")
        .to_string();
    assert!(e.contains("/nonexistent/dir"), "{e}");
}

/// A model fitted from GenAI-Perf exports reproduces those measurements when the same closed-loop
/// load (c clients, no think time, fixed 200/200 tokens, started over a 5 s ramp so that they
/// do not move in lock-step as identical requests otherwise would) is simulated. Tolerance 10 %: the
/// fit is exact in expectation, the rest is the simulation's sampling of an M/D-like closed loop
/// over ~100 s and the rounding of the fixture.
#[test]
fn genai_perf_fit_reproduces_its_measurements() {
    use crate::common::{assert_close, parse, run, TempDir};
    let fx = format!("{}/traces/genai-perf", env!("CARGO_MANIFEST_DIR"));
    let files: Vec<String> = [1, 5, 25, 50]
        .iter()
        .map(|c| {
            let d = format!("{fx}/llama-3.1-8b-h100-openai-chat-concurrency{c}");
            if *c == 25 {
                format!("{d}/profile_export_genai_perf.csv")
            } else {
                format!("{d}/profile_export_genai_perf.json")
            }
        })
        .collect();
    let runs: Vec<_> = files
        .iter()
        .map(|f| gpuslice::validate::measured::read_load_run(f).expect(f))
        .collect();
    assert_eq!(runs[2].concurrency, 25.0, "CSV: concurrency from the folder name");
    let spec = gpuslice::validate::measured::calibrate_load_runs(&files, "h100-80gb", Some(70.0), None, 8192, None, None).expect("fits");
    let dir = TempDir::new("genai");
    let model = dir.write("llm.json", &serde_json::to_string(&spec).expect("json"));
    for r in &runs {
        let sc = parse(&gpuslice::validate::published::load_run_scenario(&model, "", r));
        let s = run(&sc, 0, 1);
        let m = &s.models["llm"];
        let ttft = m.ttft_ms.expect("llm has ttft");
        let itl = (m.latency_ms.mean - ttft.mean) / (r.output_tokens - 1.0);
        let what = format!("concurrency {}", r.concurrency);
        assert_close(itl, r.itl_avg_ms, 0.10, &format!("{what}: inter-token latency"));
        assert_close(m.throughput_rps, r.throughput_rps, 0.10, &format!("{what}: request throughput"));
        if r.concurrency == 1.0 {
            assert_close(ttft.p50, r.ttft_p50_ms, 0.10, &format!("{what}: TTFT p50"));
        }
    }
}

#[test]
fn genai_perf_inputs_it_cannot_use_are_refused() {
    let fx = format!("{}/traces/genai-perf", env!("CARGO_MANIFEST_DIR"));
    let one = vec![format!(
        "{fx}/llama-3.1-8b-h100-openai-chat-concurrency1/profile_export_genai_perf.json"
    )];
    let e = gpuslice::validate::measured::calibrate_load_runs(&one, "h100-80gb", None, None, 8192, None, None)
        .expect_err("one run")
        .to_string();
    assert!(e.contains("two or more concurrencies"), "{e}");
    let dir = crate::common::TempDir::new("genai-bad");
    let bad = dir.write(
        "profile_export_genai_perf.json",
        r#"{"request_throughput": {"avg": 1.0}, "input_config": {"concurrency": 2}}"#,
    );
    let e = gpuslice::validate::measured::read_load_run(&bad)
        .expect_err("missing metrics")
        .to_string();
    assert!(e.contains("input_sequence_length.avg"), "{e}");
    let neg = dir.write(
        "neg-concurrency3.json",
        r#"{"request_throughput":{"avg":1},"time_to_first_token":{"p50":-5},"inter_token_latency":{"avg":4},"input_sequence_length":{"avg":10},"output_sequence_length":{"avg":10}}"#,
    );
    let e = gpuslice::validate::measured::read_load_run(&neg)
        .expect_err("negative ttft")
        .to_string();
    assert!(e.contains("time_to_first_token.p50"), "{e}");
}

/// The LLM engines against the published NIM sweep (fitted on concurrency 1 and 5, predicting 25
/// and 50): the fitted points are reproduced (ITL and throughput within 2 %); the predictions
/// stay within the errors docs/src/accuracy.md reports (ITL 30 %, throughput 20 %), so a change that
/// makes them worse fails here. TTFT is not bounded: the sweep's TTFT includes request overhead
/// the fit reads as prefill time (docs/src/accuracy.md).
#[test]
fn llm_engines_against_the_published_sweep() {
    let fx = format!("{}/traces/genai-perf", env!("CARGO_MANIFEST_DIR"));
    let checks = gpuslice::validate::published::engine_check(&fx).expect("runs");
    assert_eq!(checks.len(), 2 * 4 * 3);
    for c in &checks {
        let bound = match (c.fitted, c.metric) {
            (_, "ttft_p50_ms") => continue,
            (true, _) => 2.0,
            (false, "itl_ms") => 30.0,
            (false, _) => 20.0,
        };
        assert!(c.error_pct.abs() <= bound, "{c:?}");
    }
}

fn spatial(run: &str) -> String {
    format!("{}/traces/h100/spatial/serve/{run}", env!("CARGO_MANIFEST_DIR"))
}

/// A run of two servers on disjoint SM partitions (`partitions.csv`) replays as MPS clients with
/// `thread_pct` = SMs / 132; one server alone on 32 SMs as one MPS client; one on all 132 SMs as
/// a dedicated GPU. No accuracy bound here: the spatial physics is being rebuilt (issue 21), and
/// docs/src/accuracy.md reports the current errors. What must hold whatever the physics: every
/// request replayed, finite positive figures, p50 <= p95, and a partition slower than the whole
/// GPU (so `thread_pct` reached the simulation).
#[test]
fn spatial_runs_replay_as_mps_clients() {
    let pair = validate_dir(&spatial("sp_asr_llm_32+100_H"), &BTreeMap::new(), TS).expect("pair");
    assert_eq!(pair.regime, "mps (thread_pct 24.2/75.8)");
    let alone = validate_dir(&spatial("alone_asr_32_H"), &BTreeMap::new(), TS).expect("alone");
    assert_eq!(alone.regime, "mps (thread_pct 24.2)");
    let whole = validate_dir(&spatial("alone_asr_132_H"), &BTreeMap::new(), TS).expect("whole");
    assert_eq!(whole.regime, "dedicated");
    for (v, models, requests) in [(&pair, vec!["asr", "llm"], vec![1416, 13]), (&alone, vec!["asr"], vec![1416])] {
        assert_eq!(v.models.keys().map(String::as_str).collect::<Vec<_>>(), models, "{}", v.dir);
        for (m, want) in models.iter().zip(requests) {
            let r = &v.models[*m];
            assert_eq!(r.requests, want, "{} {m}", v.dir);
            for side in [&r.measured, &r.simulated] {
                let l = side.latency_ms;
                assert!(l.p50.is_finite() && l.p50 > 0.0 && l.p50 <= l.p95, "{} {m} {l:?}", v.dir);
                assert!(side.throughput_rps.is_finite() && side.throughput_rps > 0.0, "{} {m}", v.dir);
            }
            assert!(r.error_pct.values().all(|e| e.is_finite()), "{} {m} {:?}", v.dir, r.error_pct);
        }
    }
    let p50 = |v: &gpuslice::validate::Validation| v.models["asr"].simulated.latency_ms.p50;
    assert!(
        p50(&alone) > 2.0 * p50(&whole),
        "ASR on 32 SMs ({} ms) should be much slower than on 132 ({} ms)",
        p50(&alone),
        p50(&whole)
    );
}

/// A bad `partitions.csv` is refused with one line naming the file, the line, the column and
/// the value.
#[test]
fn bad_partitions_are_refused() {
    let src = spatial("sp_asr_llm_32+100_H");
    let cases: &[(&str, &[&str])] = &[
        ("model,sms\nasr,32\nvad,100\n", &["line 3 column 'model'", "'vad'"]),
        ("model,sms\nasr,0\nllm,100\n", &["line 2 column 'sms'", "'0'"]),
        ("model,sms\nasr,32\nllm,133\n", &["line 3 column 'sms'", "'133'", "132"]),
        ("model,sms\nasr,-4\nllm,100\n", &["line 2 column 'sms'", "'-4'"]),
        ("model,sms\nasr,NaN\nllm,100\n", &["line 2 column 'sms'", "'NaN'"]),
        ("model,sms\nasr,32\nasr,32\nllm,100\n", &["line 3 column 'model'", "'asr'", "twice"]),
        ("model,sms\nasr,32\n", &["'llm'"]),
        ("model,sms\nasr,64\nllm,100\n", &["164", "132"]),
        ("model,count\nasr,32\nllm,100\n", &["sms"]),
    ];
    for (text, wants) in cases {
        let d = crate::common::TempDir::new("bad-partitions");
        for e in std::fs::read_dir(&src).expect("spatial run") {
            let p = e.expect("entry").path();
            let name = p.file_name().expect("name").to_string_lossy().to_string();
            if name != "partitions.csv" {
                std::fs::copy(&p, d.join(&name)).expect("copy");
            }
        }
        let file = d.write("partitions.csv", text);
        let err = validate_dir(&d.path.display().to_string(), &BTreeMap::new(), TS)
            .expect_err(text)
            .to_string();
        assert!(!err.contains('\n'), "one line: {err}");
        assert!(err.contains(&file), "names the file: {err}");
        for w in *wants {
            assert!(err.contains(w), "{text:?}: '{w}' missing from: {err}");
        }
    }
}

/// The shared-resource model against the concurrent serving runs on one H100 (replayed as MPS,
/// docs/src/model/sharing.md). Targets: at least three quarters of the concurrent model-runs
/// within p50 15 % / p95 20 % (28 of 36 at the time of writing; the old equal-bandwidth model had
/// 7 of 30), and the interference a latency-bound server feels beside the LLM (measured 1.5-3.8x on
/// its p50 at heavy load) simulated within a factor 1.5 of the measurement wherever it exceeds 1.4x.
#[test]
fn concurrent_partitions_are_replayed_within_the_targets() {
    let a = gpuslice::validate::accuracy::accuracy(&crate::common::repo_file("traces")).expect("accuracy");
    let conc = a.spatial_summary.iter().find(|s| s.runs == "concurrent").expect("concurrent runs");
    eprintln!("{} of {} concurrent model-runs within 15/20", conc.within_15_20, conc.model_runs);
    assert!(4 * conc.within_15_20 >= 3 * conc.model_runs, "{conc:?}");
    for r in &a.spatial {
        let (Some(m), Some(s)) = (r.interference_measured, r.interference_simulated) else { continue };
        if m > 1.4 && m < 4.0 {
            assert!(s > m / 1.5 && s < m * 1.5, "{} {}: interference measured {m}, simulated {s}", r.run, r.model);
        }
    }
}
