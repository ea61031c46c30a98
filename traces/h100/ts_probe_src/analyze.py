"""Time-slice probe analysis (plain python). Run from traces/h100: python3 ts_probe_src/analyze.py"""
import csv, sys
from collections import Counter, defaultdict

SB = [5, 10, 20, 30]
def bucket(x):
    for b in SB:
        if x <= b:
            return b

def pct(v, q):  # type-7 linear interpolation (numpy default)
    v = sorted(v); h = (len(v) - 1) * q; i = int(h)
    return v[i] if i + 1 >= len(v) else v[i] + (h - i) * (v[i + 1] - v[i])

QS = [0.10, 0.25, 0.50, 0.75, 0.90, 0.99]
def row(name, v, scale=1000.0):
    return "| %s | %d | %s | %.2f | %.2f |" % (name, len(v), " | ".join("%.2f" % (pct(v, q) * scale) for q in QS),
                                              max(v) * scale, sum(v) / len(v) * scale)

def load(run, m):
    req = list(csv.DictReader(open(f"{run}/{m}.requests.csv")))
    bat = list(csv.DictReader(open(f"{run}/{m}.batches.csv")))
    return req, bat

def asr_rows(run):
    req, bat = load(run, "asr")
    bystart = {round(float(b["start_s"]), 6): b for b in bat}
    out = []
    for r in req:
        b = bystart[float(r["start_s"])]
        a, s, f = float(r["arrival_s"]), float(b["start_s"]), float(b["end_s"])
        out.append(dict(id=int(r["id"]), arrival=a, start=s, end=f, lat=float(r["finish_s"]) - a,
                        call=f - s, wait=s - a, bucket=bucket(float(b["audio_s"])), batch=int(b["batch"])))
    return out, bat

def tts_busy(run):
    req, bat = load(run, "tts")
    busy = sum(float(b["end_s"]) - float(b["start_s"]) for b in bat)
    span = max(float(r["finish_s"]) for r in req)
    gaps = [float(bat[i + 1]["start_s"]) - float(bat[i]["end_s"]) for i in range(len(bat) - 1)]
    return busy, span, len(bat), gaps, bat

solo, _ = asr_rows("ts_probe_asr_solo")
solo_med = {}
for b in SB:
    v = [r["call"] for r in solo if r["bucket"] == b and r["batch"] == 1]
    if v:
        solo_med[b] = pct(v, 0.5)
print("solo median call (ms) by padded bucket:", {b: round(x * 1000, 3) for b, x in solo_med.items()},
      "n:", dict(Counter(r["bucket"] for r in solo)), "batches:", dict(Counter(r["batch"] for r in solo)))
print()
print("| quantity (ms) | n | p10 | p25 | p50 | p75 | p90 | p99 | max | mean |")
print("|---|---|---|---|---|---|---|---|---|---|")
print(row("solo call (b)", [r["call"] for r in solo]))
print(row("solo wait (b)", [r["wait"] for r in solo]))
for run, tag in (("ts_probe_asr_tts", "a"), ("ts_probe_asr_tts_q", "c")):
    co, _ = asr_rows(run)
    busy, span, nb, gaps, tb = tts_busy(run)
    # only ASR requests that arrived while a TTS call was outstanding
    iv = [(float(b["start_s"]), float(b["end_s"])) for b in tb]
    def inside(t):
        lo, hi = 0, len(iv) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            if iv[mid][1] < t: lo = mid + 1
            elif iv[mid][0] > t: hi = mid - 1
            else: return True
        return False
    met = [r for r in co if inside(r["arrival"])]
    print(row(f"co-located call ({tag})", [r["call"] for r in co]))
    print(row(f"co-located wait ({tag})", [r["wait"] for r in co]))
    print(row(f"co-located latency ({tag})", [r["lat"] for r in co]))
    print(row(f"co-located latency - solo median call of bucket ({tag})", [r["lat"] - solo_med[r["bucket"]] for r in co]))
    print(row(f"co-located call - solo median call of bucket ({tag})", [r["call"] - solo_med[r["bucket"]] for r in co]))
    print(row(f"  same, only arrivals inside a TTS call ({tag})", [r["lat"] - solo_med[r["bucket"]] for r in met]))
    print(f"<!-- {run}: asr batches {dict(Counter(r['batch'] for r in co))}, buckets {dict(Counter(r['bucket'] for r in co))};"
          f" arrivals inside a TTS call {len(met)}/{len(co)}; TTS busy {busy:.3f}/{span:.3f} s = {busy/span:.4f},"
          f" {nb} TTS calls, gap between TTS calls p50 {pct(gaps,0.5)*1e3:.3f} ms max {max(gaps)*1e3:.3f} ms -->")
    if "-v" in sys.argv:
        ex = sorted(r["lat"] - solo_med[r["bucket"]] for r in co)
        h = Counter(int(x * 1000) for x in ex)
        print("histogram of excess latency, 1 ms bins:", sorted(h.items()))
        hb = defaultdict(list)
        for r in co: hb[r["bucket"]].append(r["call"] * 1000)
        for b in sorted(hb): print(b, "s bucket co-located calls:", " ".join("%.1f" % x for x in sorted(hb[b])))

# per padded-audio bucket: co-located batch-1 calls of requests that arrived inside a TTS call, vs solo batch-1 calls
print()
print("| run | bucket (s) | n solo | solo call p50 (ms) | n co | co call p10 | p50 | p90 (ms) | p50 co - p50 solo (ms) | p50 co / p50 solo | co calls within 1 ms of solo p50 |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for run, tag in (("ts_probe_asr_tts", "a"), ("ts_probe_asr_tts_q", "c")):
    co, _ = asr_rows(run)
    _, _, _, _, tb = tts_busy(run)
    iv = [(float(b["start_s"]), float(b["end_s"])) for b in tb]
    ins = lambda t: any(s <= t <= e for s, e in iv)
    for b in SB:
        sv = [r["call"] for r in solo if r["bucket"] == b and r["batch"] == 1]
        cv = [r["call"] for r in co if r["bucket"] == b and r["batch"] == 1 and ins(r["arrival"])]
        near = sum(1 for x in cv if abs(x - pct(sv, .5)) < 1e-3)
        print("| %s | %d | %d | %.2f | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %d |" % (
            tag, b, len(sv), pct(sv, .5) * 1e3, len(cv), pct(cv, .1) * 1e3, pct(cv, .5) * 1e3, pct(cv, .9) * 1e3,
            (pct(cv, .5) - pct(sv, .5)) * 1e3, pct(cv, .5) / pct(sv, .5), near))
