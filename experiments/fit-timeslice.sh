#!/usr/bin/env bash
# Fit the time-slicing parameters (quantum, switch cost) to measured H100 co-location runs.
# Fitting set: the light-load runs and their repeats (ts_asr_tts_L, ts_asr_tts_llm_L, *_r2) and the
# time-slice probe (ts_probe_asr_tts, _q: sparse ~5 ms ASR calls against a TTS context that always has
# GPU work, so ASR latency is a direct reading of the slice; only ASR counts there, since the probe's TTS
# is saturated and its latency is set by its own backlog). Held out: the heavy-load runs (ts_*_H, *_r2),
# reported by `gpuslice accuracy`.
# Objective: mean |error| of p50 and p95 latency over every (run, model) of the fitting set.
# Usage: experiments/fit-timeslice.sh [path/to/gpuslice]
set -euo pipefail
bin=${1:-target/release/gpuslice}
h=traces/h100
for q in 1 1.5 2 2.2 2.5 3 4 6 8; do
  for c in 0 10 25 50 100; do
    errs=$(for r in $h/ts_asr_tts_L $h/ts_asr_tts_llm_L $h/ts_asr_tts_L_r2 $h/ts_asr_tts_llm_L_r2 $h/ts_probe_asr_tts $h/ts_probe_asr_tts_q; do
      "$bin" validate "$r" --quantum-ms "$q" --switch-us "$c" --format json
    done | python3 -c '
import json, sys
dec = json.JSONDecoder(); s = sys.stdin.read(); i = 0; e = []
while i < len(s):
    if s[i].isspace(): i += 1; continue
    d, i = dec.raw_decode(s, i)
    probe = "ts_probe" in d["dir"]
    e += [abs(v["error_pct"][k]) for m, v in d["models"].items() if not (probe and m != "asr") for k in ("p50", "p95")]
print(f"{sum(e)/len(e):.2f}")')
    echo "$errs $q $c"
  done
done | sort -n | head -5
