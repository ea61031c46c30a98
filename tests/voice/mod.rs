//! `voice`: conversations, streaming ASR and in-flight TTS (docs/src/model/voice.md).
//! * a streaming stream's final transcript comes one chunk plus one call after the speech ends
//!   on an idle GPU, chunk calls batch across streams, and an upload is encoded chunk by chunk;
//! * in-flight TTS at batch 1 equals the static policy; a synthesis joining mid-way delays a
//!   running one by less than one frame step per joiner; frame steps advanced in blocks give
//!   the same results as stepping;
//! * conversations: turns/s = users / mean cycle; the default study stays under the bound that
//!   speech sets; users do not fall into step; active conversations follow the ramp exactly;
//! * every sharing regime runs the voice servers, and a crash loses the streams in flight;
//! * bad settings are refused with the field named.

use crate::common::*;
use gpuslice::model::{ModelSpec, Slowdown};
use gpuslice::sim::{RequestRecord, Simulation};
use gpuslice::time::{from_ms, from_secs, SimTime};

fn builtin(name: &str) -> ModelSpec {
    gpuslice::model::builtin(name).expect("built-in").expect("parses")
}

/// Every request of variant `v` (creation order), run with frame and decode blocks on or off.
fn records(text: &str, v: usize, blocks: bool) -> Vec<Option<RequestRecord>> {
    let sc = parse(text);
    let mut sim = Simulation::new(&sc, v, 3).expect("builds");
    sim.set_decode_blocks(blocks);
    sim.keep_records().expect("before the first event");
    while sim.step() {}
    sim.request_records().expect("kept")
}

/// Finished requests only.
fn done(text: &str) -> Vec<RequestRecord> {
    records(text, 0, true).into_iter().flatten().collect()
}

/// One ASR model on a dedicated H100 (the table's own GPU), served to `users` closed-loop users;
/// every call takes its table time (no `call_noise`), so latencies can be checked to the ns.
fn asr_scenario(model: &str, users: u32, pacing: &str, size: &str) -> String {
    format!(
        r#"
name = "asr-voice"
duration_s = 60
warmup_s = 0
drain_s = 30
[models.asr]
from = "h100/asr"
call_noise = 0
{model}
[[workload]]
model = "asr"
users = {users}
think_s = 1.0
pacing = "{pacing}"
size = {size}
[[variant]]
name = "one"
gpu = "h100-80gb"
gpus = [{{ regime = "dedicated", models = ["asr"] }}]
"#
    )
}

const STREAMING: &str = "asr_mode = \"streaming\"";

fn chunk_ns(m: &ModelSpec, batch: u32) -> SimTime {
    from_ms(m.op("encode_chunk").latency_ms(batch, m.chunk_s, &Slowdown::IDENTITY).0).max(1)
}

#[test]
fn a_streams_final_transcript_comes_one_chunk_after_the_speech_on_an_idle_gpu() {
    let m = builtin("h100/asr");
    assert_eq!(m.chunk_s, 0.32, "the default chunk (docs/sources.md S7.5)");
    // Final chunk a chunk after the end of speech, then the idle server's dispatch and one call
    // of one chunk: 320 + 0.082 + 4.792 ms on the H100.
    let want = from_secs(m.chunk_s) + from_ms(m.dispatch_ms) + chunk_ns(&m, 1);
    // 3.2 s is 10 whole chunks; 3.0 s ends inside the 10th.
    for speech in [3.2, 3.0] {
        let text = asr_scenario(STREAMING, 1, "real-time", &format!("{{ dist = \"fixed\", value = {speech} }}"));
        let recs = done(&text);
        assert!(recs.len() >= 10, "{speech} s: {} turns", recs.len());
        for r in &recs {
            // The request's clock starts at the end of the speech.
            assert_eq!(r.finish - r.arrival, want, "{speech} s utterance: {r:?}");
        }
        // The user speaks again a think time after the transcript: the next speech ends
        // think + speech later.
        for w in recs.windows(2) {
            assert_eq!(w[1].arrival - w[0].finish, from_secs(1.0) + from_secs(speech));
        }
        eprintln!(
            "streaming, {speech} s utterances: final transcript {:.4} ms after the speech ({} turns)",
            (want as f64) / 1e6,
            recs.len()
        );
    }
}

#[test]
fn chunk_calls_batch_the_streams_that_have_a_chunk() {
    let m = builtin("h100/asr");
    assert_eq!(m.max_batch, 16);
    // 20 users in step (same start, lengths and think time): every chunk arrives for all 20
    // streams at once. With room for 64 streams a call, each call encodes the 20 chunks
    // (batch bucket 32).
    let fixed = "{ dist = \"fixed\", value = 3.2 }";
    let recs = done(&asr_scenario(&format!("{STREAMING}\nmax_batch = 64"), 20, "real-time", fixed));
    let tail = from_secs(m.chunk_s) + from_ms(m.dispatch_ms);
    assert!(chunk_ns(&m, 20) > chunk_ns(&m, 1), "a batch of 20 costs more than one chunk");
    assert!(recs.len() >= 200, "{} turns", recs.len());
    for r in &recs {
        assert_eq!(r.finish - r.arrival, tail + chunk_ns(&m, 20), "{r:?}");
    }
    // At the model's 16, the first utterances' last chunks go 16 in a call and 4 in the next.
    let recs = done(&asr_scenario(STREAMING, 20, "real-time", fixed));
    let first = tail + chunk_ns(&m, 16);
    let second = first + from_ms(m.call_gap_ms) + chunk_ns(&m, 4);
    let lat: Vec<SimTime> = recs[..20].iter().map(|r| r.finish - r.arrival).collect();
    assert_eq!(lat.iter().filter(|&&l| l == first).count(), 16, "{lat:?}");
    assert_eq!(lat.iter().filter(|&&l| l == second).count(), 4, "{lat:?}");
}

#[test]
fn an_upload_reaches_the_server_whole_when_the_speech_ends() {
    let m = builtin("h100/asr");
    let fixed = "{ dist = \"fixed\", value = 3.2 }";
    // Offline: one call over the whole utterance (padded to the 5 s bucket).
    let offline = from_ms(m.dispatch_ms) + from_ms(m.op("encode").latency_ms(1, 3.2, &Slowdown::IDENTITY).0).max(1);
    // Streaming: the 10 chunks of speech and the final one, encoded one after the other.
    let calls = 11;
    let streaming = from_ms(m.dispatch_ms) + calls * chunk_ns(&m, 1) + (calls - 1) * from_ms(m.call_gap_ms);
    for (model, want) in [("", offline), (STREAMING, streaming)] {
        let recs = done(&asr_scenario(model, 1, "upload", fixed));
        assert!(recs.len() >= 10);
        for r in &recs {
            assert_eq!(r.finish - r.arrival, want, "'{model}': {r:?}");
        }
        for w in recs.windows(2) {
            assert_eq!(w[1].arrival - w[0].finish, from_secs(1.0) + from_secs(3.2));
        }
    }
    // Real-time pacing with an offline server is an upload: the server can start only when
    // the utterance is complete.
    let a = done(&asr_scenario("", 1, "real-time", fixed));
    assert_eq!(a, done(&asr_scenario("", 1, "upload", fixed)));
}

/// A TTS-only scenario replaying `trace` (`id,arrival_s,chars`), every call at its table time
/// (no `call_noise`, no first-call set-up).
fn tts_trace_scenario(model: &str, trace: &str, policy: &str, max_batch: u32) -> String {
    format!(
        r#"
name = "tts"
duration_s = 100
warmup_s = 0
drain_s = 100
[models.tts]
from = "{model}"
tts_policy = "{policy}"
max_batch = {max_batch}
call_noise = 0
cold_call_ms = 0
[[workload]]
model = "tts"
trace = "{trace}"
[[variant]]
name = "one"
gpu = "h100-80gb"
gpus = [{{ regime = "dedicated", models = ["tts"] }}]
"#
    )
}

/// A static TTS server replaying `trace` with the built-in model's own `cold_call_ms` and the
/// given `call_noise`, on a dedicated GPU.
fn tts_static_scenario(trace: &str, call_noise: f64, seed: u64) -> Vec<RequestRecord> {
    tts_static_on(trace, call_noise, seed, r#"{ regime = "dedicated", models = ["tts"] }"#, "")
}

/// The same on the GPU entry `gpu`, with the variant lines `extra` (faults).
fn tts_static_on(trace: &str, call_noise: f64, seed: u64, gpu: &str, extra: &str) -> Vec<RequestRecord> {
    let text = tts_trace_scenario("h100/tts", trace, "static", 16)
        .replace("call_noise = 0\ncold_call_ms = 0\n", &format!("call_noise = {call_noise}\n"))
        .replace(
            r#"gpus = [{ regime = "dedicated", models = ["tts"] }]"#,
            &format!("{extra}\ngpus = [{gpu}]"),
        );
    let mut sim = Simulation::new(&parse(&text), 0, seed).expect("builds");
    sim.keep_records().expect("before the first event");
    while sim.step() {}
    sim.request_records().expect("kept").into_iter().flatten().collect()
}

#[test]
fn the_first_call_at_each_batch_shape_pays_the_set_up_once() {
    let d = TempDir::new("tts-cold");
    let m = builtin("h100/tts");
    assert!(
        m.cold_call_ms > 40.0 && m.warm_batches == [2],
        "{} {:?}",
        m.cold_call_ms,
        m.warm_batches
    );
    // Sparse requests of 100 characters (one call each), then two arriving together (batch 2,
    // warmed at start-up), then three together (batch 3, padded to 4: cold once).
    let mut t = String::from("id,arrival_s,chars\n");
    let arrivals = [0.0, 2.0, 4.0, 6.0, 6.0, 8.0, 8.0, 8.0, 10.0, 10.0, 10.0];
    for (i, a) in arrivals.iter().enumerate() {
        t.push_str(&format!("{i},{a},100\n"));
    }
    let recs = tts_static_scenario(&d.write("t.csv", &t), 0.0, 1);
    let lat: Vec<SimTime> = recs.iter().map(|r| r.finish - r.arrival).collect();
    let cold = from_ms(m.cold_call_ms);
    assert_eq!(lat[0] - lat[1], cold, "first batch-1 call: {lat:?}");
    assert_eq!(lat[1], lat[2], "later batch-1 calls are warm: {lat:?}");
    assert!(lat[3] < lat[0], "batch 2 was warmed at start-up: {lat:?}");
    assert_eq!(
        lat[5] - lat[8],
        cold,
        "the first call padded to 4 is cold, the next is not: {lat:?}"
    );
    // The set-up is host time: alone under MPS it adds exactly the same.
    let t = d.write("t.csv", &t);
    let mps = tts_static_on(&t, 0.0, 1, r#"{ regime = "mps", models = ["tts"] }"#, "");
    let lat: Vec<SimTime> = mps.iter().map(|r| r.finish - r.arrival).collect();
    assert_eq!(lat[0] - lat[1], cold, "MPS: {lat:?}");
    // A restarted server is cold again: a crash at 3 s (between the 2nd and 3rd requests),
    // back at 3.5 s.
    let crash = r#"faults = [{ model = "tts", kind = "process", at_s = 3, restart_s = 0.5 }]"#;
    let dedicated = r#"{ regime = "dedicated", models = ["tts"] }"#;
    let lat: Vec<SimTime> = tts_static_on(&t, 0.0, 1, dedicated, crash)
        .iter()
        .map(|r| r.finish - r.arrival)
        .collect();
    assert_eq!(lat[2] - lat[1], cold, "the first call after the restart: {lat:?}");
}

#[test]
fn calls_spread_by_call_noise_and_follow_the_seed() {
    let d = TempDir::new("tts-noise");
    // 400 sparse requests of one length: each latency is dispatch + table x exp(sigma z).
    let mut t = String::from("id,arrival_s,chars\n");
    for i in 0..400u32 {
        t.push_str(&format!("{i},{},100\n", 1.0 * f64::from(i)));
    }
    let t = d.write("t.csv", &t);
    let exact = tts_static_scenario(&t, 0.0, 1);
    let a = tts_static_scenario(&t, 0.05, 1);
    assert_eq!(a, tts_static_scenario(&t, 0.05, 1), "same seed, same replay");
    assert_ne!(a, tts_static_scenario(&t, 0.05, 2), "another seed, other draws");
    let mps = r#"{ regime = "mps", models = ["tts"] }"#;
    assert_ne!(
        tts_static_on(&t, 0.05, 1, mps, ""),
        tts_static_on(&t, 0.0, 1, mps, ""),
        "MPS calls spread too"
    );
    // ln(noisy / exact) of the warm calls: mean 0 and sd 0.05 (400 draws: 3 standard errors).
    let logs: Vec<f64> = a[1..]
        .iter()
        .zip(&exact[1..])
        .map(|(x, y)| ((x.finish - x.arrival) as f64 / (y.finish - y.arrival) as f64).ln())
        .collect();
    let n = logs.len() as f64;
    let mean = logs.iter().sum::<f64>() / n;
    let sd = (logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    assert!(mean.abs() < 3.0 * 0.05 / n.sqrt(), "mean {mean}");
    assert!((sd - 0.05).abs() < 3.0 * 0.05 / (2.0 * n).sqrt(), "sd {sd}");
}

#[test]
fn in_flight_tts_at_batch_1_equals_the_static_policy() {
    let d = TempDir::new("tts-b1");
    let m = builtin("h100/tts");
    // Alone: one request every 1.5 s (the longest, 700 chars, is cut at 511 frames: 0.47 s).
    let mut sparse = String::from("id,arrival_s,chars\n");
    let mut frames = Vec::new();
    for i in 0..60u32 {
        let chars = 3 + (i * 97) % 700;
        sparse.push_str(&format!("{i},{},{chars}\n", 1.5 * f64::from(i)));
        frames.push(m.tts_frames(f64::from(chars)));
    }
    let t = d.write("sparse.csv", &sparse);
    let st = done(&tts_trace_scenario("h100/tts", &t, "static", 16));
    let fl = done(&tts_trace_scenario("h100/tts", &t, "in-flight", 16));
    assert_eq!(st.len(), 60);
    assert_eq!(fl.len(), 60);
    for ((a, b), f) in st.iter().zip(&fl).zip(&frames) {
        // Static rounds one call to the ns, in-flight each frame step: f/2 + 1 ns apart at most.
        let tol = (f / 2.0).ceil() as i64 + 1;
        let diff = (a.finish - a.arrival) as i64 - (b.finish - b.arrival) as i64;
        assert!(
            diff.abs() <= tol,
            "{f} frames: static {} ns, in-flight {} ns",
            a.finish - a.arrival,
            b.finish - b.arrival
        );
    }
    // Queued at max_batch 1 (arrivals 0.2 s apart, 0.35 s of work on average): the same FIFO
    // server, each request one call (static) or its frame steps (in-flight). Rounding
    // differences add up along a busy period, so the bound is their running sum.
    let mut dense = String::from("id,arrival_s,chars\n");
    for i in 0..300u32 {
        dense.push_str(&format!("{i},{},{}\n", 0.2 * f64::from(i), 3 + (i * 61) % 500));
    }
    let t = d.write("dense.csv", &dense);
    let st = done(&tts_trace_scenario("h100/tts", &t, "static", 1));
    let fl = done(&tts_trace_scenario("h100/tts", &t, "in-flight", 1));
    assert_eq!((st.len(), fl.len()), (300, 300));
    let (mut bound, mut queued) = (0i64, 0);
    for (i, (a, b)) in st.iter().zip(&fl).enumerate() {
        bound += (m.tts_frames(f64::from(3 + (i as u32 * 61) % 500)) / 2.0).ceil() as i64 + 2;
        let diff = (a.finish - a.arrival) as i64 - (b.finish - b.arrival) as i64;
        assert!(diff.abs() <= bound, "request {i}: {diff} ns apart, bound {bound}");
        queued += usize::from(a.finish - a.arrival > from_ms(1000.0));
    }
    assert!(queued > 10, "the dense trace should queue ({queued} waited over 1 s)");
}

/// A synthetic TTS model file `name`.json over batch buckets 1, 2, 4, 8 with frame axis
/// `frames` and latency row `row(b)` per batch [ms]; no host-free time (fixed parts only).
fn tts_model(dir: &TempDir, name: &str, frames: &[f64], row: impl Fn(f64) -> Vec<f64>) -> String {
    let json = |v: Vec<Vec<f64>>| serde_json::to_string(&v).expect("json");
    let batches = [1.0, 2.0, 4.0, 8.0];
    let lat: Vec<Vec<f64>> = batches.iter().map(|&b| row(b)).collect();
    let ones = vec![vec![1.0; frames.len()]; 4];
    let zeros = vec![vec![0.0; frames.len()]; 4];
    dir.write(
        &format!("{name}.json"),
        &format!(
            r#"{{
  "name": "{name}", "kind": "tts", "reference_gpu": "h100-80gb", "description": "synthetic",
  "memory": {{ "weights_gib": 1.0, "runtime_gib": 0.0 }},
  "max_batch": 8, "dispatch_ms": 0.05, "call_gap_ms": 0.05,
  "frames_per_char": 1.0, "frames_range": [1, 100000],
  "ops": {{ "synthesize": {{
    "batch_buckets": [1, 2, 4, 8], "size_buckets": [], "batch": [1.0, 2.0, 4.0, 8.0],
    "size": {}, "latency_ms": {}, "fixed_frac": {}, "compute_frac": {}
  }} }},
  "scaling": {{ "sm_bw_gbps": 60.0, "knee": 6.0 }}
}}"#,
            serde_json::to_string(frames).expect("json"),
            json(lat),
            json(ones),
            json(zeros)
        ),
    )
}

/// A TTS model whose frame step costs 1 ms at every batch, with a setup of 3 + 0.1 x batch ms
/// (one char = one frame): any delay a running synthesis sees comes from the joins, not from
/// the larger batch's steps.
fn flat_tts(dir: &TempDir) -> String {
    tts_model(dir, "flat_tts", &[10.0, 1010.0], |b| {
        vec![3.0 + 0.1 * b + 10.0, 3.0 + 0.1 * b + 1010.0]
    })
}

#[test]
fn joining_mid_synthesis_delays_a_running_request_by_less_than_a_step_per_joiner() {
    let d = TempDir::new("tts-join");
    let model = flat_tts(&d);
    let step_ms = 1.0;
    // R: 1000 frames from t = 0. Joiners of 50 frames arrive while R runs, some close
    // together so that batches of up to 5 form (3 -> 5 pads from 4 to 8).
    let joiners = [0.1, 0.2, 0.2005, 0.2012, 0.2013, 0.4, 0.6, 0.6001, 0.8];
    let mut with = String::from("id,arrival_s,chars\n0,0,1000\n");
    for (i, t) in joiners.iter().enumerate() {
        with.push_str(&format!("{},{t},50\n", i + 1));
    }
    let alone = d.write("alone.csv", "id,arrival_s,chars\n0,0,1000\n");
    let with = d.write("with.csv", &with);
    let a = done(&tts_trace_scenario(&model, &alone, "in-flight", 8));
    let w = done(&tts_trace_scenario(&model, &with, "in-flight", 8));
    let lat = |r: &RequestRecord| (r.finish - r.arrival) as f64 / 1e6;
    // Alone: dispatch + setup(1) + 1000 steps, the static call.
    assert!((lat(&a[0]) - (0.05 + 3.1 + 1000.0)).abs() < 1e-3, "alone {}", lat(&a[0]));
    let delay = lat(&w[0]) - lat(&a[0]);
    let k = joiners.len() as f64;
    eprintln!(
        "{k} joiners delayed a 1000-frame synthesis by {delay:.4} ms (bound {} ms)",
        k * step_ms
    );
    assert!(delay > 0.0, "joins are not free (host time and setup)");
    assert!(delay <= k * step_ms, "delay {delay} ms > {k} frame steps");
    // The joiners did not wait for R: each finished while R ran, in about its own 50 steps.
    for j in &w[1..] {
        assert!(j.finish < w[0].finish, "{j:?} waited for R");
        assert!(lat(j) < 50.0 * step_ms + 3.0 * step_ms, "joiner took {} ms", lat(j));
    }
    // At max_batch 2, the second of two close joiners waits for a slot: its first chunk comes
    // after the first joiner has left.
    let two = d.write("two.csv", "id,arrival_s,chars\n0,0,1000\n1,0.1,50\n2,0.11,50\n");
    let r = done(&tts_trace_scenario(&model, &two, "in-flight", 2));
    assert!(r[2].first_token > r[1].finish, "{:?} started before {:?} left", r[2], r[1]);
    assert!(lat(&r[0]) - lat(&a[0]) <= 2.0 * step_ms);
}

/// A conversation pipeline on dedicated H100s (and the same servers on a MIG H100 and a
/// time-sliced one), with the ASR and TTS policies given.
fn pipeline_scenario(asr: &str, tts: &str, pacing: &str, users: u32, duration_s: f64, warmup_s: f64, extra: &str) -> String {
    format!(
        r#"
name = "conversation"
duration_s = {duration_s}
warmup_s = {warmup_s}
drain_s = 60
[models.asr]
from = "h100/asr"
{asr}
[models.llm]
from = "h100/llm"
[models.tts]
from = "h100/tts"
{tts}
[[workload]]
name = "voice"
pipeline = ["asr", "llm", "tts"]
users = {users}
think_s = 1.0
pacing = "{pacing}"
size = {{ dist = "uniform", min = 4.0, max = 6.0 }}
out_tokens = {{ dist = "fixed", value = 25 }}
{extra}
[[variant]]
name = "dedicated"
gpu = "h100-80gb"
gpus = [
  {{ regime = "dedicated", models = ["asr"] }},
  {{ regime = "dedicated", models = ["llm"] }},
  {{ regime = "dedicated", models = ["tts"] }},
]
[[variant]]
name = "mig"
gpu = "h100-80gb"
gpus = [
  {{ regime = "mig", layout = "3g.40gb,3g.40gb", models = ["asr", "tts"] }},
  {{ regime = "dedicated", models = ["llm"] }},
]
[[variant]]
name = "time-sliced"
gpu = "h100-80gb"
gpus = [
  {{ regime = "time-sliced", models = ["asr", "tts"] }},
  {{ regime = "dedicated", models = ["llm"] }},
]
"#
    )
}

const STREAM_ASR: &str = "asr_mode = \"streaming\"";
const INFLIGHT_TTS: &str = "tts_policy = \"in-flight\"";

#[test]
fn frame_blocks_are_exact() {
    let d = TempDir::new("tts-blocks");
    let mut trace = String::from("id,arrival_s,chars\n");
    for i in 0..400u32 {
        // About 6 syntheses overlap: joins and leaves at many step boundaries.
        trace.push_str(&format!(
            "{i},{:.6},{}\n",
            0.05 * f64::from(i) + 0.0137 * f64::from(i % 7),
            3 + (i * 89) % 600
        ));
    }
    let t = d.write("trace.csv", &trace);
    for max_batch in [1, 4, 16] {
        let text = tts_trace_scenario("h100/tts", &t, "in-flight", max_batch);
        let (a, b) = (records(&text, 0, true), records(&text, 0, false));
        assert_eq!(a.iter().flatten().count(), 400);
        assert_eq!(a, b, "max_batch {max_batch}: blocks differ from stepping");
    }
    // Conversations through the whole pipeline, on a dedicated GPU and a MIG instance.
    let text = pipeline_scenario(STREAM_ASR, INFLIGHT_TTS, "real-time", 40, 120.0, 10.0, "");
    for v in [0, 1] {
        let (a, b) = (records(&text, v, true), records(&text, v, false));
        assert!(a.iter().flatten().count() > 1000);
        assert_eq!(a, b, "variant {v}: blocks differ from stepping");
    }
}

#[test]
fn turns_per_second_is_users_over_the_mean_cycle() {
    let tts = builtin("h100/tts");
    // 25 tokens x 4 chars = 100 chars = 143 frames = 6.651 s of audio at 21.5 frames/s.
    let heard_s = tts.tts_audio_s(tts.tts_frames(100.0));
    assert!((heard_s - 143.0 / 21.5).abs() < 1e-12);
    let (users, think_s, speech_s, window_s) = (50.0, 1.0, 5.0, 1200.0);
    for (asr, t, pacing) in [(STREAM_ASR, INFLIGHT_TTS, "real-time"), ("", "", "upload")] {
        let sc = parse(&pipeline_scenario(asr, t, pacing, 50, 60.0 + window_s, 60.0, ""));
        let r = run(&sc, 0, 11);
        let p = &r.stages["voice"];
        // A cycle: speak (uniform 4-6 s), wait for the first audio, hear the reply, think.
        let cycle_s = speech_s + p.time_to_first_audio_ms.mean / 1e3 + heard_s + think_s;
        let want = users / cycle_s;
        eprintln!(
            "{pacing}: {} turns/s, users / cycle = 50 / {cycle_s:.4} s = {want:.4}; first audio {:.1} ms",
            p.turns_per_s, p.time_to_first_audio_ms.mean
        );
        // Tolerance: a user has at most one cycle cut by each end of the window, cycle / window
        // = 1.1 %; the mean of ~4,500 uniform utterances is within 0.03 % (3 s.e.).
        assert_close(p.turns_per_s, want, 0.012, &format!("{pacing}: turns/s vs users / mean cycle"));
        assert_eq!(p.failed, 0);
        let c = r.conversations.as_ref().expect("conversations");
        assert_eq!(
            (c.users, c.active_mean, c.active_max),
            (50, 50.0, 50),
            "every user is in a conversation all window"
        );
    }
}

#[test]
fn the_default_study_completes_fewer_turns_than_speech_allows() {
    let sc = gpuslice::scenario::files::default_scenario().expect("default");
    let runs = gpuslice::sim::run_scenario(&sc, 1).expect("runs");
    // 50 users who each speak ~5 s and think 1 s per turn cannot exceed 50 / 6 turns/s.
    for r in &runs {
        let c = r.conversations.as_ref().expect("the default study is a conversation");
        eprintln!(
            "{}: {:.3} turns/s, conversations {} / {}",
            r.name, r.throughput_rps, c.active_mean, c.active_max
        );
        assert!(r.throughput_rps <= 50.0 / 6.0, "{}: {} turns/s", r.name, r.throughput_rps);
        assert!(c.users == 50 && c.active_max <= 50);
    }
}

/// How many turns of variant 0 began (their ASR request arrived) at the very ns of another
/// turn, and how many turns there were.
fn arrival_ties(text: &str) -> (usize, usize) {
    let sc = parse(text);
    let asr = sc.models.iter().position(|m| m.name == "asr").expect("asr");
    let mut sim = Simulation::new(&sc, 0, 5).expect("builds");
    sim.keep_records().expect("before the first event");
    while sim.step() {}
    let recs: Vec<SimTime> = sim
        .request_records()
        .expect("kept")
        .into_iter()
        .flatten()
        .filter(|r| r.model == asr)
        .map(|r| r.arrival)
        .collect();
    assert!(recs.len() > 100);
    let mut seen = std::collections::BTreeMap::new();
    for t in &recs {
        *seen.entry(*t).or_insert(0usize) += 1;
    }
    (seen.values().filter(|&&n| n > 1).sum(), recs.len())
}

#[test]
fn conversations_do_not_fall_into_step() {
    // Static TTS batches end together; with a fixed think time the request loop's users
    // then send their next turns at the same instant (issue 13's batching artefact). Users
    // who listen to replies of their own lengths, drawn from their own streams, do not.
    let size = "size = { dist = \"lognormal\", median = 5.8, sigma = 0.6, min = 1.0, max = 30.0 }";
    let out = "out_tokens = { dist = \"lognormal\", median = 25, sigma = 0.5, min = 4, max = 256 }";
    let text = |pacing: &str| {
        pipeline_scenario("", "max_batch = 8", pacing, 50, 300.0, 0.0, "ramp_up_s = 60\nhold_s = 240")
            .replace("size = { dist = \"uniform\", min = 4.0, max = 6.0 }", size)
            .replace("out_tokens = { dist = \"fixed\", value = 25 }", out)
    };
    let (loop_ties, n_loop) = arrival_ties(&text("loop"));
    let (conv_ties, n_conv) = arrival_ties(&text("real-time"));
    eprintln!("same-instant arrivals: loop {loop_ties} of {n_loop}, conversation {conv_ties} of {n_conv}");
    assert!(loop_ties * 5 > n_loop, "the loop artefact should show: {loop_ties} of {n_loop}");
    assert_eq!(conv_ties, 0, "conversations in step");
}

#[test]
fn active_conversations_follow_the_ramp() {
    // 40 users start evenly over 100 s (user u at 2.5 u s) and stay to the end (200 s): the
    // mean over [0, 200) is (1/200) x sum(200 - 2.5 u) = 40 - 39/4 = 30.25 exactly.
    let text = pipeline_scenario(
        STREAM_ASR,
        INFLIGHT_TTS,
        "real-time",
        40,
        200.0,
        0.0,
        "ramp_up_s = 100\nhold_s = 100",
    );
    let r = run(&parse(&text), 0, 2);
    let c = r.conversations.expect("conversations");
    assert_eq!((c.users, c.active_max), (40, 40));
    assert!((c.active_mean - 30.25).abs() < 1e-4, "{}", c.active_mean);
    // A request loop is no conversation.
    let text = pipeline_scenario("", "", "loop", 40, 60.0, 0.0, "");
    assert!(run(&parse(&text), 0, 2).conversations.is_none());
}

#[test]
fn every_regime_runs_streaming_asr_and_in_flight_tts() {
    let mps = r#"
[[variant]]
name = "mps"
gpu = "h100-80gb"
gpus = [
  { regime = "mps", models = ["asr", "tts"] },
  { regime = "dedicated", models = ["llm"] },
]
"#;
    let text = pipeline_scenario(STREAM_ASR, INFLIGHT_TTS, "real-time", 30, 120.0, 10.0, "") + mps;
    let sc = parse(&text);
    let chunk_ms = 320.0;
    let mut tts_ms = Vec::new();
    for v in 0..sc.variants.len() {
        let r = run(&sc, v, 4);
        let p = &r.stages["voice"];
        assert_eq!(p.failed, 0, "{}", r.name);
        assert!(p.completed > 200, "{}: {} turns", r.name, p.completed);
        // The transcript comes at least a chunk after the speech, and first audio after it.
        assert!(
            p.stages[0].latency_ms.p50 > chunk_ms,
            "{}: asr {:?}",
            r.name,
            p.stages[0].latency_ms
        );
        assert!(p.time_to_first_audio_ms.p50 > p.stages[0].latency_ms.p50);
        tts_ms.push((r.name.clone(), r.models["tts"].latency_ms.mean));
    }
    eprintln!("tts mean ms by regime: {tts_ms:?}");
    // Sharing the GPU (time slices, a MIG slice, MPS SM shares) slows the frame steps.
    for (name, ms) in &tts_ms[1..] {
        assert!(*ms > tts_ms[0].1, "{name}: {ms} ms not slower than dedicated {}", tts_ms[0].1);
    }
}

#[test]
fn a_crash_loses_the_streams_in_flight_and_conversations_go_on() {
    let text = pipeline_scenario(STREAM_ASR, INFLIGHT_TTS, "real-time", 30, 120.0, 10.0, "").replace(
        "gpus = [\n  { regime = \"time-sliced\"",
        "faults = [{ model = \"asr\", at_s = 50, restart_s = 10 }]\ngpus = [\n  { regime = \"time-sliced\"",
    );
    let sc = parse(&text);
    let r = run(&sc, 2, 4);
    assert_eq!(r.failures.crashes, 1);
    // Streams still being spoken are lost with the server, as well as those being encoded.
    assert!(r.failures.lost_requests > 0, "{:?}", r.failures);
    let p = &r.stages["voice"];
    assert!(p.failed > 0 && p.availability < 1.0);
    // Users go on talking after the restart: at most the 10 s outage and the cycles it cut
    // (one per user, at most 6 + 0.5 + 6.7 + 1 s = 14.2 s) are lost from the 110 s window.
    let healthy = run(
        &parse(&pipeline_scenario(STREAM_ASR, INFLIGHT_TTS, "real-time", 30, 120.0, 10.0, "")),
        2,
        4,
    );
    let floor = healthy.stages["voice"].completed as f64 * (110.0 - 10.0 - 14.2) / 110.0;
    eprintln!(
        "crash: {} turns completed, {} failed; without it {}",
        p.completed, p.failed, healthy.stages["voice"].completed
    );
    assert!(p.completed as f64 >= floor, "{} completed, floor {floor}", p.completed);
}

#[test]
fn bad_voice_settings_name_the_field() {
    let base = asr_scenario("", 1, "real-time", "{ dist = \"fixed\", value = 3.0 }");
    let e = parse_err(&base.replace("pacing = \"real-time\"", "pacing = \"realtime\""));
    assert!(e.contains("realtime") && e.contains("real-time"), "{e}");
    let e = parse_err(&base.replace("from = \"h100/asr\"", "from = \"h100/asr\"\ntts_policy = \"in-flight\""));
    assert!(e.contains("models.asr.tts_policy") && e.contains("applies only to tts"), "{e}");
    // Streaming needs the chunk op; in-flight TTS needs a table that grows with frames.
    let d = TempDir::new("voice-bad");
    let lin = LinearModel::default().write(&d, "lin");
    let e = parse_err(&base.replace("from = \"h100/asr\"", &format!("from = \"{lin}\"\nasr_mode = \"streaming\"")));
    assert!(e.contains("models.asr.asr_mode") && e.contains("encode_chunk"), "{e}");
    let p = tts_model(&d, "one_point", &[10.0], |b| vec![13.0 + 0.1 * b]);
    let tts = tts_trace_scenario(&p, "unused.csv", "in-flight", 8).replace(
        "trace = \"unused.csv\"",
        "arrivals = { process = \"poisson\", rate_rps = 1 }\nsize = { dist = \"fixed\", value = 50 }",
    );
    let e = parse_err(&tts);
    assert!(e.contains("models.tts.tts_policy") && e.contains("in-flight"), "{e}");
    // A conversation starts with speech.
    let tts = tts.replace(&p, &flat_tts(&d));
    let e = parse_err(
        &tts.replace("size = {", "users = 2\npacing = \"upload\"\nsize = {")
            .replace("arrivals = { process = \"poisson\", rate_rps = 1 }\n", ""),
    );
    assert!(e.contains("workload[0].pacing") && e.contains("first model must be ASR"), "{e}");
}
