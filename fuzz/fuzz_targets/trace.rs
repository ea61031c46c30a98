//! Request traces: gpubench CSV, Azure CSV, BurstGPT CSV and Mooncake JSON lines, detected by
//! the first line. A trace that reads is checked for the reader's guarantees (non-empty, sorted
//! by arrival) and, when short, replayed for 2 s against the built-in model its size column
//! feeds (the path of `trace = ...` in a scenario).
#![no_main]

mod common;

use gpuslice::scenario::files::{self, Sources};
use gpuslice::scenario::workload::TraceSize;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let trace = match files::read_trace_from(std::io::Cursor::new(data), "fuzz") {
        Ok(t) => t,
        Err(e) => {
            common::check_error(&e);
            return;
        }
    };
    assert!(!trace.rows.is_empty(), "read_trace_from returned an empty trace");
    assert!(
        trace.rows.windows(2).all(|w| w[0].arrival <= w[1].arrival),
        "read_trace_from returned rows out of arrival order"
    );
    if trace.rows.len() > 200 {
        return;
    }
    let (model, from) = match trace.size {
        TraceSize::AudioS => ("asr", "h100/asr"),
        TraceSize::Chars => ("tts", "h100/tts"),
        TraceSize::PromptTokens => ("llm", "h100/llm"),
    };
    let out = if model == "llm" && !trace.has_out_tokens {
        "out_tokens = { dist = \"fixed\", value = 16 }\n"
    } else {
        ""
    };
    let text = format!(
        "name = \"trace\"\nduration_s = 2\ndrain_s = 30\n\
         [models.{model}]\nfrom = \"{from}\"\n\
         [[workload]]\nmodel = \"{model}\"\ntrace = \"fuzz\"\n{out}\
         [[variant]]\nname = \"dedicated\"\ngpu = \"h100-80gb\"\n\
         gpus = [{{ regime = \"dedicated\", models = [\"{model}\"] }}]\n"
    );
    let raw = gpuslice::scenario::raw::parse(&text, "trace.toml").expect("the harness's scenario parses");
    let mut src = Sources::none("trace.toml");
    src.traces.insert("fuzz".to_string(), Arc::new(trace));
    match gpuslice::scenario::from_raw(&raw, &src) {
        Ok(sc) => common::place_and_run(&sc),
        Err(e) => common::check_error(&e),
    }
});
