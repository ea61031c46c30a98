//! Scenario files as users write them: TOML -> `parse_raw` -> `from_raw` (built-in models only,
//! no file read) -> `place` every variant -> simulate when small (see `common::small`).
#![no_main]

mod common;

use gpuslice::scenario::files::Sources;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let raw = match gpuslice::scenario::raw::parse(text, "fuzz.toml") {
        Ok(r) => r,
        Err(e) => {
            common::check_error(&e);
            return;
        }
    };
    let sc = match gpuslice::scenario::from_raw(&raw, &Sources::none("fuzz.toml")) {
        Ok(sc) => sc,
        Err(e) => {
            common::check_error(&e);
            return;
        }
    };
    common::place_and_run(&sc);
});
