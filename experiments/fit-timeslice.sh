#!/usr/bin/env bash
# Fit the time-slicing parameters (quantum, switch cost) to the measured H100 co-location runs.
# Fit on the light-load runs and their repeats (ts_*_L, ts_*_L_r2); the heavy-load runs (ts_*_H, ts_*_H_r2)
# are then a held-out check.
# Objective: mean |error| of p50 and p95 latency over every model of the fitting runs.
# Usage: experiments/fit-timeslice.sh [path/to/gpuslice]
set -euo pipefail
bin=${1:-target/release/gpuslice}
for q in 1 1.5 2 3 4 5 6 8 10; do
  for c in 0 10 25 50 100; do
    errs=$(for r in traces/h100/ts_asr_tts_L traces/h100/ts_asr_tts_llm_L traces/h100/ts_asr_tts_L_r2 traces/h100/ts_asr_tts_llm_L_r2; do
      "$bin" validate "$r" --quantum-ms "$q" --switch-us "$c" --format json
    done | python3 -c '
import json, sys
dec = json.JSONDecoder(); s = sys.stdin.read(); i = 0; e = []
while i < len(s):
    if s[i].isspace(): i += 1; continue
    d, i = dec.raw_decode(s, i)
    e += [abs(v["error_pct"][k]) for v in d["models"].values() for k in ("p50", "p95")]
print(f"{sum(e)/len(e):.2f}")')
    echo "$errs $q $c"
  done
done | sort -n | head -5
