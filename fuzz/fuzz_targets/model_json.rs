//! Model JSON files (`from = "path/to/model.json"`): `parse_model`, and for a model that
//! validates, a 2 s run of light load on it, dedicated on an H100 and alone in a MIG slice (the
//! service-time tables, interpolation and scaling on the model's own numbers).
#![no_main]

mod common;

use gpuslice::scenario::files::Sources;
use gpuslice::model::ServiceKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let spec = match gpuslice::model::ModelSpec::parse(text, "fuzz.json") {
        Ok(m) => m,
        Err(e) => {
            common::check_error(&e);
            return;
        }
    };
    let _ = spec.min_call_ms();
    let load = match spec.kind {
        ServiceKind::Asr => "size = { dist = \"lognormal\", median = 5.0, sigma = 0.6, min = 1.0, max = 30.0 }\n",
        ServiceKind::Tts => "size = { dist = \"lognormal\", median = 80, sigma = 0.6, min = 10, max = 400 }\n",
        ServiceKind::Llm => {
            "size = { dist = \"uniform\", min = 50, max = 2000 }\nout_tokens = { dist = \"uniform\", min = 1, max = 64 }\n"
        }
    };
    for gpus in [
        "gpus = [{ regime = \"dedicated\", models = [\"m\"] }]",
        "gpus = [{ regime = \"mig\", layout = \"3g.40gb\", models = [\"m\"] }]",
    ] {
        let text = format!(
            "name = \"model\"\nduration_s = 2\ndrain_s = 30\n\
             [models.m]\nfrom = \"fuzz.json\"\n\
             [[workload]]\nmodel = \"m\"\narrivals = {{ process = \"poisson\", rate_rps = 20 }}\n{load}\
             [[variant]]\nname = \"v\"\ngpu = \"h100-80gb\"\n{gpus}\n"
        );
        let raw = gpuslice::scenario::raw::parse(&text, "model.toml").expect("the harness's scenario parses");
        let mut src = Sources::none("model.toml");
        src.models.insert("fuzz.json".to_string(), spec.clone());
        match gpuslice::scenario::from_raw(&raw, &src) {
            Ok(sc) => common::place_and_run(&sc),
            Err(e) => common::check_error(&e),
        }
    }
});
