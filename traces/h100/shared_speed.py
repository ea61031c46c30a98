"""Speed of the calls of co-located servers on the H100 against the solo runs, split by whether
another server had a call from 20 ms before the call to its end ('alone') or not ('beside').

The H100 runs log host times per call (batches.csv start_s/end_s, one common clock), not CUDA events,
so a call's duration includes its launch and synchronisation. Solo time: the median of the solo runs
(asr_*, tts_*, llm_*) for the same padded shape (at least 3 calls); calls of other shapes are left out,
as are interrupted calls (observed/solo >= 1.15). Prints shared_speed.txt.
"""
import csv, os, statistics as st, bisect
R = os.path.dirname(os.path.abspath(__file__))
def bucket(x, b):
    for v in b:
        if x <= v: return v
    return b[-1]
BB=[1,2,4,8,16,32]
def load(run, m):
    f = f"{R}/{run}/{m}.batches.csv"
    return list(csv.DictReader(open(f))) if os.path.exists(f) else []
def key(m, b):
    if m == "asr": return (bucket(int(b["batch"]), BB), float(b["audio_s"]))
    if m == "tts": return (bucket(int(b["batch"]), [1,2,4,8,16]), int(b["frames"]))
    if m == "llm": return (b["op"], bucket(int(b["batch"]), BB), b["context"] or b["tokens"])
solo = {}
for run in ["asr_H", "asr_L", "tts_H", "tts_L", "llm_H", "llm_L"]:
    m = run.split("_")[0]
    for b in load(run, m):
        solo.setdefault((m, key(m, b)), []).append(float(b["end_s"]) - float(b["start_s"]))
solo = {k: st.median(v) for k, v in solo.items() if len(v) >= 3}
print("run model n_alone speed_alone n_beside speed_beside (calls of a solo-measured shape, observed/solo < 1.15)")
for run in sorted(os.listdir(R)):
    if not run.startswith("ts_") or "probe" in run: continue
    ms = [m for m in ("asr", "tts", "llm") if load(run, m)]
    iv = {m: sorted((float(b["start_s"]), float(b["end_s"])) for b in load(run, m)) for m in ms}
    for m in ms:
        others = sorted(x for o in ms if o != m for x in iv[o])
        ends = [e for s, e in others]; starts=[s for s,e in others]
        alone, beside = [], []
        for b in load(run, m):
            k = (m, key(m, b))
            if k not in solo: continue
            s, e = float(b["start_s"]), float(b["end_s"])
            r = (e - s) / solo[k]
            if r >= 1.15: continue
            # any other call overlapping [s-0.02, e]?
            i = bisect.bisect_left(starts, e)
            ov = any(ee > s - 0.02 for ss, ee in others[max(0, i-50):i])
            (beside if ov else alone).append(r)
        f = lambda v: f"{st.median(v):.3f}" if v else "-"
        print(f"{run:24s} {m} {len(alone):5d} {f(alone)} {len(beside):5d} {f(beside)}")

# By batch: ASR calls with no other server's call from 20 ms before to their end, observed over the
# calibrated table (models/h100/asr.json, encode; the solo runs' rows show the table's own fit).
import json
op = json.load(open(os.path.join(R, "..", "..", "models", "h100", "asr.json")))["ops"]["encode"]
def cell(b, s):
    i = next((k for k, v in enumerate(op["batch_buckets"]) if b <= v), len(op["batch_buckets"]) - 1)
    j = next((k for k, v in enumerate(op["size_buckets"]) if s <= v + 1e-9), len(op["size_buckets"]) - 1)
    return op["latency_ms"][i][j] / 1e3, op["batch_buckets"][i]
print()
print("ASR by batch: run, batch bucket, calls alone, median observed / table")
for run in sorted(os.listdir(R)):
    if not (run.startswith("ts_asr") or run in ("asr_H", "asr_L")):
        continue
    ms = [m for m in ("asr", "tts", "llm") if load(run, m)]
    others = sorted((float(b["start_s"]), float(b["end_s"])) for o in ms if o != "asr" for b in load(run, o))
    starts = [s for s, e in others]
    by = {}
    for b in load(run, "asr"):
        s, e = float(b["start_s"]), float(b["end_s"])
        i = bisect.bisect_left(starts, e)
        if any(ee > s - 0.02 for ss, ee in others[max(0, i - 50):i]):
            continue
        t, bb = cell(int(b["batch"]), float(b["audio_s"]))
        by.setdefault(bb, []).append((e - s) / t)
    for bb in sorted(by):
        if len(by[bb]) >= 5:
            print(f"{run:24s} {bb:3d} {len(by[bb]):5d} {st.median(by[bb]):.3f}")
