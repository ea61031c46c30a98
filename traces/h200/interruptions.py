#!/usr/bin/env python3
"""How long a TTS frame step takes when another context runs in the middle of it, from the
per-call CUDA events of the session 5 ASR+TTS runs (traces/h200/README.md). A frame step is the
time between two consecutive `f` events of one call; one that took over 2 ms was interrupted
(solo steps take 0.87-0.98 ms). Its extra time over the run's median step is what the
interruption cost TTS: one slice of the other context and two switches.

    python3 traces/h200/interruptions.py > traces/h200/interruptions.txt
"""
import csv, gzip, os, statistics as st
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = ["ts_asr_tts_M", "ts_asr_tts_M_r2", "ts_asr_tts_X", "ts_asr_tts_X_r2"]

print("run                 median step ms  interrupted steps  extra ms: p10    p50    p90")
for run in RUNS:
    frames = defaultdict(list)
    with gzip.open(os.path.join(HERE, run, "tts.calls.csv.gz"), "rt") as fh:
        for r in csv.DictReader(fh):
            if r["part"] == "f":
                frames[int(r["call"])].append(float(r["gpu_s"]))
    steps = []
    for v in frames.values():
        v.sort()
        steps += [b - a for a, b in zip(v, v[1:])]
    base = st.median(steps)
    extra = sorted((s - base) * 1e3 for s in steps if s > 0.002)
    q = lambda p: extra[int(p * len(extra))]
    print(f"{run:<20}{base * 1e3:>14.3f}{len(extra):>19}{q(0.1):>16.3f}{st.median(extra):>7.3f}{q(0.9):>7.3f}")
