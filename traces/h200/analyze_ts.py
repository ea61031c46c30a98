#!/usr/bin/env python3
"""Time-slicing analysis of the H200 measurements (tsprobe/ and the co-located serving runs).

Run from anywhere:  python3 traces/h200/analyze_ts.py   (reads files relative to this script).
Prints every table used for the time-slicing findings; analysis_ts.txt is its output.
`analyze_ts.py --visits RUN...` prints section 14's table for other runs (visits_session5.txt).

Clock model.  Every process writes gpu_s = ref_host + elapsed(ref, event): the reference
event is assumed to execute at the host time it was recorded.  When the GPU was held by the
other context at that instant the reference event itself waited, so the true GPU time is
gpu_s + d with an unknown per-process offset d >= 0.  d is estimated per process (section 0
and 8) from the host's synchronisations:
  * queue probes (stream/mm/graph) wait on event k-W after enqueuing event k, so
    host_s[k+1] >= true_gpu[k-W]; d = min(host_s[k+1] - gpu_s[k-W]) - c_q, with c_q the host
    wake-up + launch time (20 us, the value the undelayed mm/graph processes show);
  * sync/h2d probes: the next call's host_s comes c_s + gap after the end event completes;
    c_s = 12.7 us is taken from the solo sync probe; d = min(next_begin_host - end_gpu) - gap - c_s;
  * serving processes: every call is synchronised, end_s (batches.csv) >= true end event;
    d = min(end_s - end_gpu) (solo runs give ~0 this way).
Absolute time = t0_unix - t_go + gpu_s + d (t_go is common to all processes of a run/probe).
Spin kernels (torch.cuda._sleep) count wall-clock cycles: a spin kernel preempted mid-way
finishes at once when resumed if its time has passed, so spin probes show *when* a context
held the GPU, not how much work it did; only the mm probe and the serving models do real work.
"""
import csv, gzip, json, os, sys
from collections import defaultdict, Counter

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(HERE, "tsprobe")
US = 1e6
MS = 1e3


# ------------------------------------------------------------------ helpers
def q(a, ps=(10, 50, 90), scale=US, nd=0):
    a = np.asarray(a, dtype=float)
    if a.size == 0:
        return "/".join("-" for _ in ps)
    v = np.percentile(a, ps) * scale
    return "/".join(f"{x:.{nd}f}" for x in v)


def table(title, header, rows):
    print()
    if title:
        print(title)
    w = [len(h) for h in header]
    srows = [[str(c) for c in r] for r in rows]
    for r in srows:
        for i, c in enumerate(r):
            w[i] = max(w[i], len(c))
    print("  " + "  ".join(h.ljust(w[i]) for i, h in enumerate(header)))
    for r in srows:
        print("  " + "  ".join(c.ljust(w[i]) for i, c in enumerate(r)))


def section(t):
    print()
    print("=" * 100)
    print(t)
    print("=" * 100)


def bucket(x, sizes):
    for b in sizes:
        if x <= b:
            return b
    return sizes[-1]


def merge(iv):
    """union of intervals [(a,b)] -> sorted disjoint np array (n,2)"""
    iv = sorted((a, b) for a, b in iv if b > a)
    out = []
    for a, b in iv:
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return np.array(out) if out else np.zeros((0, 2))


def intersect(A, B):
    i = j = 0
    out = []
    while i < len(A) and j < len(B):
        a = max(A[i][0], B[j][0]); b = min(A[i][1], B[j][1])
        if b > a:
            out.append([a, b])
        if A[i][1] < B[j][1]:
            i += 1
        else:
            j += 1
    return np.array(out) if out else np.zeros((0, 2))


def measure(M):
    return float(np.sum(M[:, 1] - M[:, 0])) if len(M) else 0.0


def overlap_with(M, a, b):
    """length of [a,b] inside the merged set M"""
    if not len(M) or b <= a:
        return 0.0
    i = max(0, np.searchsorted(M[:, 1], a) )
    tot = 0.0
    while i < len(M) and M[i][0] < b:
        tot += max(0.0, min(b, M[i][1]) - max(a, M[i][0]))
        i += 1
    return tot


# ================================================================== PROBES
QW = {"stream": 256, "mm": 64, "graph": 64}   # run-ahead bound of the queue probes
C_Q = 20e-6                                   # host wake-up+launch after the bounding sync (mm/graph undelayed)


def load_probe(name, side):
    f = os.path.join(PROBE, name, f"{side}.calls.csv.gz")
    if not os.path.exists(f):
        return None
    meta = json.load(open(os.path.join(PROBE, name, f"{side}.meta.json")))
    rows = list(csv.DictReader(gzip.open(f, "rt")))
    P = dict(name=name, side=side, spec=meta["spec"], meta=meta)
    sp = meta["spec"].split(":")
    P["mode"] = sp[0]
    P["call"] = np.array([int(r["call"]) for r in rows])
    P["part"] = np.array([r["part"] for r in rows])
    P["h"] = np.array([float(r["host_s"]) for r in rows])
    P["g"] = np.array([float(r["gpu_s"]) for r in rows])
    return P


def probe_offsets(P, c_sync):
    m = P["mode"]
    if m in QW:
        w = QW[m]
        U = float(np.min(P["h"][w + 1:] - P["g"][:-w - 1]))
        P["U"] = U
        P["d"] = max(0.0, U - C_Q)
    else:
        gap = float(P["spec"].split(":")[-1]) * 1e-6
        bi = np.where(P["part"] == "begin")[0]; ei = np.where(P["part"] == "end")[0]
        U = float(np.min(P["h"][bi[1:]] - P["g"][ei[:-1]]))
        P["U"] = U
        P["d"] = max(0.0, U - gap - c_sync)
    P["abs"] = P["meta"]["t0_unix"] - P["meta"]["t_go"] + P["g"] + P["d"]


def runs_of(ends, thr):
    """split a queue process's end events into slices: big gap = diff > thr"""
    d = np.diff(ends)
    big = np.where(d > thr)[0]
    starts = np.r_[0, big + 1]; stops = np.r_[big, len(ends) - 1]
    return starts, stops, d


def probes():
    names = ["stream_stream", "mm_mm", "stream_long", "sync1ms_g50_stream", "sync1ms_g300_stream",
             "sync5ms_g50_stream", "graph50x20_stream", "h2d_g100_stream", "sync1ms_g50_solo"]
    PR = {n: (load_probe(n, "a"), load_probe(n, "b")) for n in names}
    # host turnaround of a synchronising loop, solo: end event -> next begin host, minus the gap
    solo = PR["sync1ms_g50_solo"][0]
    bi = np.where(solo["part"] == "begin")[0]; ei = np.where(solo["part"] == "end")[0]
    turn = solo["h"][bi[1:]] - solo["g"][ei[:-1]] - 50e-6
    c_sync = float(turn.min())
    for n in names:
        for P in PR[n]:
            if P is not None:
                probe_offsets(P, c_sync)

    section("0. PROBES - clock offsets (see docstring).  U = bound from the host's syncs, d = offset applied")
    print(f"  solo sync:1000:50 host turnaround (end event -> next begin host, minus 50 us gap): "
          f"min {c_sync*US:.1f} us, p10/50/90 {q(turn)} us  -> c_sync = {c_sync*US:.1f} us")
    rows = []
    for n in names:
        for P in PR[n]:
            if P is None:
                continue
            rows.append([n, P["side"], P["spec"], len(set(P["call"])), f"{P['U']*US:.1f}", f"{P['d']*US:.1f}"])
    table("", ["probe", "proc", "spec", "calls", "U_us", "d_us"], rows)
    print("  (d ~ 130-140 us = the reference event waited one context switch; d ~ 2.4 ms = it waited a whole slice)")

    # ---------------------------------------------------------- 1. run structure of queue processes
    section("1. PROBES - run structure of queue-mode processes (stream/mm/graph): end-event diffs, slices")
    print("  step = median end-to-end diff (one kernel / mm / graph when running); a 'switch-out' is a diff > step+150 us;")
    print("  per slice: events, span = last-first end; off = switch-out diff - step (time the context did not run,")
    print("  if its kernels are not split); cycle = wall / number of switch-outs")
    rows = []
    struct = {}
    for n in names:
        for P in PR[n]:
            if P is None or P["mode"] not in QW or P["spec"] == "stream:20000":
                continue
            e = P["g"]
            step = float(np.median(np.diff(e)))
            st, sp, d = runs_of(e, step + 150e-6)
            big = d[d > step + 150e-6]
            nev = (sp - st + 1)[1:-1]
            span = (e[sp] - e[st])[1:-1]
            wall = e[-1] - e[0]
            cyc = wall / max(1, len(big))
            cnt = Counter(nev.tolist())
            struct[(n, P["side"])] = dict(step=step, big=big, nev=nev, span=span, cyc=cyc, wall=wall, n=len(e))
            rows.append([n, P["side"], P["spec"], f"{step*US:.1f}", len(big), f"{cyc*US:.0f}",
                         " ".join(f"{k}:{v}" for k, v in sorted(cnt.items()) if v >= 2) or "-",
                         q(span), q(big), q(big - step)])
    table("", ["probe", "proc", "spec", "step_us", "switch_outs", "cycle_us", "events/slice (n:count)",
               "span p10/50/90 us", "switch-out diff p10/50/90", "off p10/50/90 us"], rows)

    # merged timeline: transitions between contexts
    print()
    print("  Merged two-process timeline (aligned with d): gap from the last event of one context to the first event")
    print("  of the other (contains the switch, plus any part of a kernel that was preempted / resumed)")
    rows = []
    for n in ["stream_stream", "mm_mm", "graph50x20_stream", "sync1ms_g50_stream", "sync1ms_g300_stream",
              "sync5ms_g50_stream", "h2d_g100_stream"]:
        A, B = PR[n]
        ev = sorted([(t, "A") for t in A["abs"]] + [(t, "B") for t in B["abs"]])
        t = np.array([x[0] for x in ev]); w = np.array([x[1] for x in ev])
        ch = np.where(w[1:] != w[:-1])[0]
        ab = [t[i + 1] - t[i] for i in ch if w[i] == "A"]
        ba = [t[i + 1] - t[i] for i in ch if w[i] == "B"]
        rows.append([n, len(ab), q(ab), len(ba), q(ba)])
    table("", ["probe", "n A->B", "A last -> B first p10/50/90 us", "n B->A", "B last -> A first p10/50/90 us"], rows)

    # ---------------------------------------------------------- 2. T and s
    section("2. Slice length T and switch cost s")
    ss = struct[("stream_stream", "a")]
    P2 = ss["cyc"]
    rows = []
    idle = {}
    for n in ["sync1ms_g50_stream", "sync1ms_g300_stream", "sync5ms_g50_stream"]:
        A = PR[n][0]
        bi = np.where(A["part"] == "begin")[0]; ei = np.where(A["part"] == "end")[0]
        gi = A["g"][bi[1:]] - A["g"][ei[:-1]]
        idle[n] = gi
        rows.append([n, "A end event -> next A begin event (GPU, own clock)", len(gi), q(gi, (1, 10, 50, 90, 99))])
    A = PR["h2d_g100_stream"][0]
    bi = np.where(A["part"] == "begin")[0]; ei = np.where(A["part"] == "end")[0]
    be = A["g"][ei] - A["g"][bi[:len(ei)]]
    idle["h2d"] = be
    rows.append(["h2d_g100_stream", "A begin event -> A end event (one H2D copy between)", len(be), q(be, (1, 10, 50, 90, 99))])
    table("  Time a context that went idle waits before it runs again (other context always busy):",
          ["probe", "measure", "n", "p1/10/50/90/99 us"], rows)
    I = float(np.median(np.r_[idle["sync1ms_g50_stream"], idle["sync1ms_g300_stream"]]))
    s = I - P2 / 2
    T = P2 - I
    print()
    print(f"  stream_stream cycle P = {P2*US:.0f} us (two slices + two switches): T + s = P/2 = {P2/2*US:.0f} us")
    print(f"  idle-to-run wait I (sync1ms probes, median) = s + T + s = {I*US:.0f} us")
    print(f"  => switch cost s = I - P/2 = {s*US:.0f} us,  slice T = P - I = {T*US:.0f} us")
    print("  stream:200 context, events per slice (median) / first-to-last span (median us), whatever the other context runs:")
    print("   " + "; ".join(f"{n}.{k}: {np.median(struct[(n, k)]['nev']):.0f} / {np.median(struct[(n, k)]['span'])*US:.0f}"
                            for n, k in [("stream_stream", "a"), ("stream_stream", "b"), ("graph50x20_stream", "b"),
                                         ("sync1ms_g50_stream", "b"), ("sync1ms_g300_stream", "b"),
                                         ("sync5ms_g50_stream", "b"), ("h2d_g100_stream", "b"), ("stream_long", "a")]))
    print("   = 1 kernel resumed at switch-in (a spin kernel whose time has passed ends at once) + 10 full kernels")
    print("     + a preempted part of the 12th: T = 2000 us + part; the split of T+s is fixed by the idle-to-run wait above")
    mm = struct[("mm_mm", "a")]; mmb = struct[("mm_mm", "b")]
    print(f"  mm_mm cycle {mm['cyc']*US:.0f} us -> half cycle (T + s_mm) {mm['cyc']/2*US:.0f} us vs {P2/2*US:.0f} us for spin kernels")

    # ---------------------------------------------------------- 3. stream_long
    section("3. stream_long: A = stream:200, B = stream:20000 (20 ms spin kernels)")
    A, B = PR["stream_long"]
    be = B["abs"]; ae = A["abs"]
    kd = np.diff(be)
    print(f"  A streamed for {ae[-1]-ae[0]:.2f} s, B for {be[-1]-be[0]:.2f} s (B continues alone after A stops)")
    print(f"  B kernel end-to-end: n={len(kd)}, p10/50/90 {q(kd, scale=MS, nd=2)} ms "
          f"(19.7 ms = its calibrated length; +1 ms when it ended while A held the GPU)")
    inside = []
    frac = []
    for k in range(1, len(be)):
        a0, a1 = be[k - 1], be[k]
        if a0 < ae[0] or a1 > ae[-1]:
            continue          # only B kernels that ran entirely while A was streaming
        nA = np.sum((ae > a0) & (ae < a1))
        inside.append(nA)
        frac.append(nA * 200e-6 / (a1 - a0))
    inside = np.array(inside); frac = np.array(frac)
    sA = struct[("stream_long", "a")]
    print(f"  A events completed while one B kernel was in flight: p10/50/90 {q(inside, scale=1)}"
          f"  -> A ran {q(frac, scale=100, nd=1)} % of each B kernel's wall time")
    print(f"  A's structure during the run: events/slice median {np.median(sA['nev']):.0f}, off p10/50/90 {q(sA['big']-sA['step'])} us, "
          f"cycle {sA['cyc']*US:.0f} us (stream_stream: {ss['cyc']*US:.0f} us)")
    print(f"  A total share of wall time = {A['g'].size*200e-6/(ae[-1]-ae[0])*100:.1f} %  -> the 20 ms kernel is preempted "
          f"mid-kernel at every slice end; a long kernel buys no extra GPU time")

    # ---------------------------------------------------------- 4. sync probes
    section("4. sync probes: A = sync:K:G (one K us kernel, synchronize, G us host gap), B = stream:200")
    rows = []
    rows2 = []
    W = T + 2 * s
    for n in ["sync1ms_g50_solo", "sync1ms_g50_stream", "sync1ms_g300_stream", "sync5ms_g50_stream", "h2d_g100_stream"]:
        A, B = PR[n]
        bi = np.where(A["part"] == "begin")[0]; ei = np.where(A["part"] == "end")[0]
        m = min(len(bi), len(ei))
        bi, ei = bi[:m], ei[:m]
        delay = A["g"][bi] + A["d"] - A["h"][bi]
        kern = A["g"][ei] - A["g"][bi]
        cyc = np.diff(A["g"][bi])
        turn = A["h"][bi[1:]] - (A["g"][ei[:-1]] + A["d"])
        if B is not None:
            st_ = struct[(n, "b")]
            nb = len(st_["big"]) / m                      # B slices per A call
            pred = (np.median(kern) if A["mode"] == "sync" else 0.0) + W * (1 if A["mode"] == "sync" else 2)
            hold = (np.median(cyc) - round(nb) * W) / np.median(cyc)
            Bshare = round(nb) * T / np.median(cyc)
            rows2.append([n, len(st_["big"]), f"{nb:.2f}", q(st_["nev"], (10, 50, 90), scale=1),
                          q(st_["big"] - st_["step"]), q(st_["big"])])
            hist = np.histogram(delay * US, bins=[-1e9, 0, 500, 1000, 1500, 2000, 2500, 1e9])[0]
            print(f"  {n}: begin-delay histogram (us) <0:{hist[0]} 0-500:{hist[1]} 500-1000:{hist[2]} "
                  f"1000-1500:{hist[3]} 1500-2000:{hist[4]} 2000-2500:{hist[5]} >2500:{hist[6]}")
            rows.append([n, m, q(delay, (0, 10, 50, 90, 100)), q(kern), q(cyc), f"{pred*US:.0f}", q(turn),
                         f"{hold*100:.1f}", f"{Bshare*100:.1f}", f"{100-hold*100-Bshare*100:.1f}"])
        else:
            demand = np.median(kern) / np.median(cyc)
            rows.append([n, m, q(delay, (0, 10, 50, 90, 100)), q(kern), q(cyc), "", q(turn), f"{demand*100:.1f} (demand)", "", ""])
    table("  A (synchronising process).  delay = begin event GPU time - begin host time (wait before its work starts);\n"
          "  kern = begin->end on GPU (spin: wall time, so sync5ms includes one B slice); cycle = begin-to-begin;\n"
          f"  model cycle = kern + (T+2s) per A round trip (T+2s = {W*US:.0f} us; h2d: 2 round trips);\n"
          "  turn = end event GPU -> next begin host (sync return + host gap);  A holds = (cycle - B slices x (T+2s)) / cycle,\n"
          "  B holds = B slices x T / cycle, switch = rest",
          ["probe", "calls", "delay p0/10/50/90/100 us", "kern p10/50/90 us", "cycle p10/50/90 us", "model cycle",
           "turn p10/50/90 us", "A holds %", "B holds %", "switch %"], rows)
    table("  B (stream:200) seen from its own clock",
          ["probe", "B switch-outs", "per A call", "B events per slice p10/50/90", "B off p10/50/90 us (kernel-boundary view)",
           "B switch-out diff p10/50/90 us"], rows2)
    print()
    print(f"  Uniform-wait test: if A arrived at a random point of B's slice, delays would spread over 0..T ({T*US:.0f} us).")
    print("  They do not: A's delay = T + 2s - (A's own host turnaround) because B's slice starts exactly when A goes idle.")

    # ---------------------------------------------------------- 5. graph
    section("5. graph50x20_stream: A replays a CUDA graph of 50 x 20 us kernels (1.0 ms per replay), B = stream:200")
    A, B = PR["graph50x20_stream"]
    sa = struct[("graph50x20_stream", "a")]; sb = struct[("graph50x20_stream", "b")]
    print(f"  A replay (end-to-end, running) {sa['step']*US:.0f} us; A switch-out diffs p10/50/90 {q(sa['big'])} us; "
          f"replays per A slice: {dict(Counter(sa['nev'].tolist()))}")
    print(f"  B off per switch-out: graph probe {q(sb['big']-sb['step'])} us  vs  stream_stream {q(struct[('stream_stream','b')]['big']-struct[('stream_stream','b')]['step'])} us")
    print("  If replays were atomic, A's time per slice would be a whole number of replays (2.0 or 3.0 ms) and B's off time")
    print("  would be bimodal; it is the same single value as against stream:200, so the slice ends inside a replay.")
    # aligned: where inside a replay does the switch happen?  time from A's last replay end to B's first event
    ev = sorted([(t, "A") for t in A["abs"]] + [(t, "B") for t in B["abs"]])
    t = np.array([x[0] for x in ev]); w = np.array([x[1] for x in ev])
    ch = np.where(w[1:] != w[:-1])[0]
    ab = np.array([t[i + 1] - t[i] for i in ch if w[i] == "A"])
    ba = np.array([t[i + 1] - t[i] for i in ch if w[i] == "B"])
    # replay that straddles a B slice: A diff > step+150 us
    print(f"  A last replay end -> B first event: p10/50/90 {q(ab)} us (range {ab.min()*US:.0f}..{ab.max()*US:.0f});"
          f" B last -> A first replay end: {q(ba)} us (range {ba.min()*US:.0f}..{ba.max()*US:.0f})")
    print("  (stream_stream gives ~250 us for both with a spread of a few us; the wide 0..1000 us spread here is the part of")
    print("   a replay run before / after the switch: replays are split at the slice boundary)")

    # ---------------------------------------------------------- 6. h2d
    section("6. h2d_g100_stream: A = small synchronous H2D copy (torch.tensor(list, device)), 100 us gap; B = stream:200")
    A, B = PR["h2d_g100_stream"]
    bi = np.where(A["part"] == "begin")[0]; ei = np.where(A["part"] == "end")[0]
    m = min(len(bi), len(ei))
    hostcopy = A["h"][ei[:m]] - A["h"][bi[:m]]
    d1 = A["g"][bi[:m]] + A["d"] - A["h"][bi[:m]]
    d2 = A["g"][ei[:m]] + A["d"] - A["h"][ei[:m]]
    sb = struct[("h2d_g100_stream", "b")]
    print(f"  calls {m}; begin event wait {q(d1)} us; host time inside the copy call {q(hostcopy)} us; "
          f"end event wait {q(d2)} us; begin->end GPU {q(A['g'][ei[:m]]-A['g'][bi[:m]])} us")
    print(f"  A cycle {q(np.diff(A['g'][bi]))} us; B switch-outs per A call {len(sb['big'])/m:.2f}; B off per switch-out {q(sb['big']-sb['step'])} us")
    print("  -> the copy call returns only after the begin event ran (one slice wait), and the end event enqueued after it")
    print("     waits a second slice: every host<->GPU round trip of a synchronising context costs one slice of the other")

    # ---------------------------------------------------------- 7. mm
    section("7. mm_mm: two full-GPU bf16 4096^3 matmul streams (real work)")
    rows = []
    for side in "ab":
        st_ = struct[("mm_mm", side)]
        P = PR["mm_mm"][0 if side == "a" else 1]
        rows.append([side, st_["n"], f"{st_['step']*US:.1f}", f"{np.mean(st_['nev']):.2f}", q(st_["span"]), q(st_["big"] - st_["step"]),
                     f"{st_['cyc']*US:.0f}"])
    table("", ["proc", "mm", "mm step us (in slice)", "mm per slice", "span p10/50/90", "off p10/50/90 us", "cycle us"], rows)
    A, B = PR["mm_mm"]
    wall = max(A["abs"][-1], B["abs"][-1]) - min(A["abs"][0], B["abs"][0])
    stp = (struct[("mm_mm", "a")]["step"] + struct[("mm_mm", "b")]["step"]) / 2
    useful = (A["g"].size + B["g"].size) * stp / wall
    cyc = struct[("mm_mm", "a")]["cyc"]
    per_half = cyc / 2 - np.mean(struct[("mm_mm", "a")]["nev"]) * stp
    print(f"  useful fraction (all mm x in-slice step / wall) = {useful*100:.1f} %; lost per switch = half cycle - mm per slice x step"
          f" = {per_half*US:.0f} us")
    print(f"  (spin kernels: stream_stream half cycle {P2/2*US:.0f} us, 11 x 200 us visible -> lost ~{(P2/2-11*0.0001997)*US:.0f} us"
          f" but a spin kernel hides preempted time)")
    return dict(T=T, s=s, P=P2, I=I)


# ================================================================== SERVING
RUNS = ["asr_H", "tts_H", "llm_H",
        "ts_asr_llm_L", "ts_asr_llm_H", "ts_asr_llm_H_r2",
        "ts_tts_llm_L", "ts_tts_llm_L_r2", "ts_tts_llm_H", "ts_tts_llm_H_r2",
        "ts_asr_tts_L", "ts_asr_tts_H", "ts_asr_tts_llm_L", "ts_asr_tts_llm_H"]
ASR_BB = [1, 2, 4, 8, 16, 32]; ASR_SB = [5, 10, 20, 30]
TTS_BB = [1, 2, 4, 8, 16]; TTS_TB = [64, 128, 256, 512]
LLM_PB = [128, 256, 512, 1024, 2048]; LLM_BB = [1, 2, 4, 8, 16, 32]; LLM_TB = [512, 1024, 2048, 3072]


def load_run(run):
    R = {}
    d = os.path.join(HERE, run)
    for m in ["asr", "tts", "llm"]:
        f = os.path.join(d, f"{m}.calls.csv.gz")
        if not os.path.exists(f):
            continue
        meta = json.load(open(os.path.join(d, f"{m}.meta.json")))
        rows = list(csv.DictReader(gzip.open(f, "rt")))
        bt = list(csv.DictReader(open(os.path.join(d, f"{m}.batches.csv"))))
        rq = list(csv.DictReader(open(os.path.join(d, f"{m}.requests.csv"))))
        M = dict(model=m, meta=meta, bt=bt, rq=rq)
        calls = defaultdict(lambda: defaultdict(list))
        for r in rows:
            calls[int(r["call"])][r["part"]].append((float(r["host_s"]), float(r["gpu_s"])))
        M["calls"] = calls
        start = np.array([float(b["start_s"]) for b in bt]); end = np.array([float(b["end_s"]) for b in bt])
        M["start"], M["end"] = start, end
        U = min(end[k] - p["end"][-1][1] for k, p in calls.items())
        M["d"] = max(0.0, U)
        M["U"] = U
        M["off"] = meta["t0_unix"] - meta["t_go"]      # local -> common (t_go) time
        L = max(h - g for p in calls.values() for evs in p.values() for h, g in evs)
        M["L"] = L - M["d"]
        # op per call
        if m == "llm":
            M["op"] = [b["op"] for b in bt]
        else:
            M["op"] = [m] * len(bt)
        # backlog: was the next call's work already there when the previous call ended?
        arr_by_start = defaultdict(list)
        for r in rq:
            arr_by_start[round(float(r["start_s"]), 6)].append(float(r["arrival_s"]))
        first_arr = []
        for k, b in enumerate(bt):
            if m == "llm" and b["op"] == "decode":
                first_arr.append(-1.0)
            else:
                a = arr_by_start.get(round(float(b["start_s"]), 6))
                first_arr.append(min(a) if a else float("nan"))
        M["first_arr"] = np.array(first_arr)
        R[m] = M
    return R


def ev(M, k, part, i=0):
    """(host, true gpu) of an event in the process's local time"""
    h, g = M["calls"][k][part][i]
    return h, g + M["d"]


def solo_tables(S):
    """expected (solo) GPU durations keyed by shape, from the solo runs (+ the H200 profile as fallback)"""
    E = {}
    # ASR: begin->end GPU by (Bb, Sb)
    A = S["asr_H"]["asr"]
    D = defaultdict(list)
    for k, b in enumerate(A["bt"]):
        D[(bucket(int(b["batch"]), ASR_BB), bucket(float(b["audio_s"]), ASR_SB))].append(ev(A, k, "end")[1] - ev(A, k, "begin")[1])
    prof = {}
    pf = os.path.join(HERE, "sms", "full", "profile_asr.csv")
    for r in csv.DictReader(open(pf)):
        if r["op"] == "encode" and float(r["audio_s"]) in ASR_SB:
            prof[(int(r["batch"]), int(float(r["audio_s"])))] = float(r["latency_ms"]) / 1e3
    E["asr"] = {key: (float(np.median(v)) if len(v) >= 5 else prof[key]) for key, v in D.items()}
    for key, v in prof.items():
        E["asr"].setdefault(key, v)
    # TTS: frame step by (Bb, Tb); vocoder; encoder (host bound)
    T = S["tts_H"]["tts"]
    D = defaultdict(list); voc = []
    for k, b in enumerate(T["bt"]):
        Bb = bucket(int(b["batch"]), TTS_BB)
        f = [g for h, g in T["calls"][k]["f"]]
        for i in range(1, len(f)):
            D[(Bb, bucket(i + 1, TTS_TB))].append(f[i] - f[i - 1])
        voc.append(T["calls"][k]["end"][0][1] - f[-1])
    E["tts_step"] = {key: float(np.median(v)) for key, v in D.items() if len(v) >= 20}
    E["tts_voc"] = float(np.median(voc))
    # LLM
    L = S["llm_H"]["llm"]
    D = defaultdict(list); DG = defaultdict(list); PF = defaultdict(list)
    for k, b in enumerate(L["bt"]):
        if b["op"] == "decode":
            key = (bucket(int(b["batch"]), LLM_BB), bucket(int(b["context"]) + 1, LLM_TB))
            D[key].append(ev(L, k, "end")[1] - ev(L, k, "begin")[1])
            DG[key].append(ev(L, k, "end")[1] - ev(L, k, "h2d")[1])
        else:
            PF[bucket(int(b["tokens"]), LLM_PB)].append(ev(L, k, "end")[1] - ev(L, k, "begin")[1])
    profd = {}; profp = {}
    for r in csv.DictReader(open(os.path.join(HERE, "sms", "full", "profile_llm.csv"))):
        if r["op"] == "decode_step":
            profd[(int(r["batch"]), bucket(int(r["context"]) + 1, LLM_TB))] = float(r["latency_ms"]) / 1e3
        else:
            profp[int(r["tokens"])] = float(r["latency_ms"]) / 1e3
    E["llm_dec"] = {k: float(np.median(v)) for k, v in D.items() if len(v) >= 5}
    E["llm_graph"] = {k: float(np.median(v)) for k, v in DG.items() if len(v) >= 5}
    E["llm_dec_prof"] = profd
    E["llm_pre"] = {k: float(np.median(v)) for k, v in PF.items()}
    for k, v in profp.items():
        E["llm_pre"].setdefault(k, v)
    return E


def exp_asr(E, b):
    return E["asr"][(bucket(int(b["batch"]), ASR_BB), bucket(float(b["audio_s"]), ASR_SB))]


def exp_tts_step(E, Bb, Tb):
    while (Bb, Tb) not in E["tts_step"] and Bb > 1:
        Bb //= 2
    while (Bb, Tb) not in E["tts_step"] and Tb > 64:
        Tb //= 2
    return E["tts_step"].get((Bb, Tb), E["tts_step"][(1, 64)])


def exp_llm(E, b, part="dec"):
    if b["op"] == "prefill":
        return E["llm_pre"][bucket(int(b["tokens"]), LLM_PB)]
    key = (bucket(int(b["batch"]), LLM_BB), bucket(int(b["context"]) + 1, LLM_TB))
    tab = E["llm_dec"] if part == "dec" else E["llm_graph"]
    if key in tab:
        return tab[key]
    # fallback: profile, scaled by the solo/profile ratio of the same context bucket at batch 1..4
    pk = key if key in E["llm_dec_prof"] else min(E["llm_dec_prof"], key=lambda k: (abs(k[1] - key[1]), abs(k[0] - key[0])))
    ratios = [tab[k] / E["llm_dec_prof"][k] for k in tab if k in E["llm_dec_prof"]]
    return E["llm_dec_prof"][pk] * (float(np.median(ratios)) if ratios else 1.0)


def demand_and_exec(S, E, r):
    """per model of run r: merged demand intervals (common time) and per-call (interval, solo-expected GPU time)"""
    D = {}; calls = {}
    for m, M in S[r].items():
        iv = []; ex = []
        for k, b in enumerate(M["bt"]):
            off = M["off"]
            he, ge = ev(M, k, "end")
            if m == "tts":
                h0 = M["calls"][k]["enc"][0][0]
                nfr = len(M["calls"][k]["f"])
                Bb = bucket(int(b["batch"]), TTS_BB)
                e = sum(exp_tts_step(E, Bb, bucket(i + 1, TTS_TB)) for i in range(1, nfr)) + E["tts_voc"]
            else:
                h0 = M["calls"][k]["begin"][0][0]
                e = exp_asr(E, b) if m == "asr" else exp_llm(E, b, "dec")
            a, z = h0 + off, ge + off
            if z > a:
                iv.append((a, z)); ex.append(e)
        D[m] = merge(iv); calls[m] = (iv, ex)
    return D, calls


def speed_factor(S, E, r, m):
    """median observed/solo GPU time of the work units that were not interrupted (ratio < 1.15)"""
    rat = np.array([x for _, _, x, _, _ in units(S, E, r, m)])
    return float(np.median(rat[rat < 1.15]))


def units(S, E, r, m):
    """work units of model m in run r: (common-time GPU start, end, observed/solo, solo, batch bucket):
    ASR calls, LLM decode graphs (h2d to end), TTS decoder frame steps"""
    M = S[r][m]; off = M["off"]; out = []
    for k, b in enumerate(M["bt"]):
        if m == "asr":
            g0, g1, e = ev(M, k, "begin")[1], ev(M, k, "end")[1], exp_asr(E, b)
            out.append((g0 + off, g1 + off, (g1 - g0) / e, e, bucket(int(b["batch"]), ASR_BB)))
        elif m == "llm" and b["op"] == "decode":
            g0, g1, e = ev(M, k, "h2d")[1], ev(M, k, "end")[1], exp_llm(E, b, "graph")
            out.append((g0 + off, g1 + off, (g1 - g0) / e, e, bucket(int(b["batch"]), LLM_BB)))
        elif m == "tts" and k > 0:
            Bb = bucket(int(b["batch"]), TTS_BB)
            f = [g + M["d"] for h, g in M["calls"][k]["f"]]
            for i in range(1, len(f)):
                e = exp_tts_step(E, Bb, bucket(i + 1, TTS_TB))
                out.append((f[i - 1] + off, f[i] + off, (f[i] - f[i - 1]) / e, e, Bb))
    return out


def tts_visits(S, runs):
    """The table of section 14 for `runs` (each loaded in S): TTS visits and time away."""
    rows = []
    for r in runs:
        if "tts" not in S[r] or len(S[r]) < 2:
            continue
        M = S[r]["tts"]
        on = []; off = []; nfr = []
        for k, b in enumerate(M["bt"]):
            if k == 0:
                continue
            f = np.array([g for h, g in M["calls"][k]["f"]])
            st = np.diff(f)
            clean = float(np.median(st))
            inter = np.where(st > clean + 0.5e-3)[0]
            for i, j in zip(inter[:-1], inter[1:]):
                on.append(f[j] - f[i + 1] + clean); nfr.append(j - i)
            off += list(st[inter] - clean)
        on = np.array(on); nfr = np.array(nfr)
        rows.append([r, len(on), q(nfr, (10, 50, 90), scale=1), q(on, (10, 25, 50, 75, 90)), f"{np.mean(on[nfr <= 3])*US:.0f}",
                     q(off, (10, 25, 50, 75, 90)), f"{np.median(off)*US:.0f}"])
    table("", ["run", "visits", "frames/visit p10/50/90", "TTS visit p10/25/50/75/90 us", "mean (<=3 frames)", "off p10/25/50/75/90 us",
               "median off"], rows)


def serving(pr):
    S = {r: load_run(r) for r in RUNS}
    E = solo_tables(S)
    T = pr["T"]

    section("8. SERVING - clock offsets per process (d = min(end_s - end event gpu_s); L = max(host_s - corrected gpu_s))")
    rows = []
    for r in RUNS:
        for m, M in S[r].items():
            rows.append([r, m, len(M["bt"]), f"{M['U']*US:.1f}", f"{M['d']*US:.1f}", f"{M['L']*US:.1f}"])
    table("", ["run", "model", "calls", "U_us", "d_us", "L_us (<=~30 ok)"], rows)
    print("  expected (solo) GPU times used below: ASR by (batch bucket, audio bucket) from asr_H (profile if <5 calls);")
    print(f"  TTS frame step by (batch bucket, context bucket) from tts_H, e.g. B1: "
          + ", ".join(f"T{t}={E['tts_step'][(1, t)]*US:.0f}us" for t in TTS_TB if (1, t) in E["tts_step"])
          + f"; vocoder {E['tts_voc']*US:.0f} us;")
    print("  LLM decode step (begin->end) and graph (h2d->end) by (batch bucket, context bucket) from llm_H: "
          + ", ".join(f"{k}={v*MS:.2f}ms" for k, v in sorted(E["llm_graph"].items())))

    # ---------------------------------------------------------- (a) host gaps
    section("9. (a) Host gaps between consecutive calls of one server (us).  Only gaps where the next call's work was\n"
            "   already waiting when the previous call ended ('backlogged'); idle gaps (waiting for arrivals) are counted apart.\n"
            "   gapA = next call's first event host_s - previous end_s;  gapB = batches start_s[k+1] - end_s[k]")
    rows = []
    for r in RUNS:
        for m, M in S[r].items():
            st, en, op, fa = M["start"], M["end"], M["op"], M["first_arr"]
            groups = defaultdict(lambda: ([], []))
            nidle = Counter()
            for k in range(len(st) - 1):
                key = f"{m}" if m != "llm" else f"{op[k][:3]}->{op[k+1][:3]}"
                back = (fa[k + 1] < 0) or (fa[k + 1] <= en[k])
                if not back:
                    nidle[key] += 1
                    continue
                h0 = M["calls"][k + 1]["begin"][0][0]
                groups[key][0].append(h0 - en[k]); groups[key][1].append(st[k + 1] - en[k])
            for key in sorted(set(groups) | set(nidle)):
                a, b = groups[key]
                rows.append([r, key, len(a), nidle[key], q(a, (10, 50, 90), nd=0), q(b, (10, 50, 90), nd=0)])
    table("", ["run", "transition", "n backlogged", "n idle", "gapA p10/50/90", "gapB p10/50/90"], rows)

    # ---------------------------------------------------------- (b) launch-to-start
    section("10. (b) Launch-to-start delay per call: first event (begin) true GPU time - its host_s  (us)\n"
            "   LLM decode also has a second round trip: the h2d event after the synchronous lens copy (wait2)")
    rows = []
    for r in RUNS:
        for m, M in S[r].items():
            byop = defaultdict(list); w2 = []
            for k in range(len(M["bt"])):
                h, g = ev(M, k, "begin")
                byop[M["op"][k]].append(g - h)
                if m == "llm" and M["op"][k] == "decode":
                    h2, g2 = ev(M, k, "h2d")
                    w2.append(g2 - h2)
            for o, v in byop.items():
                v = np.array(v)
                rows.append([r, o, len(v), q(v, (10, 50, 90, 99)), f"{np.mean(v)*US:.0f}", f"{np.mean(v>0.5e-3)*100:.0f}",
                             f"{np.mean(v>1.5e-3)*100:.0f}",
                             q(w2, (10, 50, 90)) if o == "decode" else ""])
    table("", ["run", "op", "n", "delay p10/50/90/99", "mean", "% >0.5ms", "% >1.5ms", "decode wait2 p10/50/90"], rows)
    # relation to the slice: delay distribution shape for the LLM in TTS runs
    for r in ["ts_tts_llm_H", "ts_asr_llm_H", "ts_asr_tts_H"]:
        for m, M in S[r].items():
            v = np.array([ev(M, k, "begin")[1] - ev(M, k, "begin")[0] for k in range(len(M["bt"]))]) * US
            hst = np.histogram(v, bins=[-1e9, 100, 500, 1000, 1500, 2000, 2500, 3000, 1e9])[0]
            print(f"  {r:18s} {m}: delay histogram (us) <100:{hst[0]} 100-500:{hst[1]} 500-1000:{hst[2]} 1000-1500:{hst[3]} "
                  f"1500-2000:{hst[4]} 2000-2500:{hst[5]} 2500-3000:{hst[6]} >3000:{hst[7]}")

    # sync return: host end_s - true end event
    rows = []
    for r in RUNS:
        for m, M in S[r].items():
            v = np.array([M["end"][k] - ev(M, k, "end")[1] for k in range(len(M["bt"]))])
            rows.append([r, m, q(v, (10, 50, 90, 99))])
    table("  Sync return: end_s (host, after synchronize) - true end event GPU time (us); by construction min = 0 for d > 0",
          ["run", "model", "p10/50/90/99"], rows)

    # delay vs own idle time, other context busy at launch
    section("10b. Launch-to-start delay vs how long the launching context itself had been idle on the GPU\n"
            "   own idle = launch host time - own previous end event (true GPU); only launches while another context had\n"
            "   demand (section 13 definition).  Model (probes): a context that went idle lets the other run a full slice,\n"
            f"   so delay ~ T + 2s - own idle = {(pr['T'] + 2 * pr['s'])*US:.0f} us - own idle for own idle < T; later arrivals land at a random\n"
            "   point of the other's slice.  LLM 'h2d' = the h2d event after the synchronous copy (own idle from the begin event)")
    bins = [0, 0.25e-3, 0.5e-3, 1e-3, 1.5e-3, 2e-3, 2.5e-3, 5e-3, 20e-3, 1e9]
    for label, runs_sel in [("two-model runs", [r for r in RUNS if r.startswith("ts_") and len(S[r]) == 2]),
                            ("three-model runs", [r for r in RUNS if len(S[r]) == 3])]:
        acc = defaultdict(list)
        for r in runs_sel:
            D, _ = demand_and_exec(S, E, r)
            for m, M in S[r].items():
                others = merge([tuple(x) for o in S[r] if o != m for x in D[o]])
                prev_end = None
                for k in range(len(M["bt"])):
                    hb, gb = ev(M, k, "begin")
                    if prev_end is not None and overlap_with(others, hb + M["off"] - 1e-9, hb + M["off"] + 1e-9) > 0:
                        idle = hb - prev_end
                        acc[(m, np.digitize(idle, bins) - 1)].append(gb - hb)
                    if m == "llm" and M["op"][k] == "decode":
                        hh, gh = ev(M, k, "h2d")
                        if overlap_with(others, hh + M["off"] - 1e-9, hh + M["off"] + 1e-9) > 0:
                            acc[("llm h2d", np.digitize(hh - gb, bins) - 1)].append(gh - hh)
                    prev_end = ev(M, k, "end")[1]
        rows = []
        for m in ["asr", "tts", "llm", "llm h2d"]:
            for i in range(len(bins) - 1):
                v = acc.get((m, i))
                if not v:
                    continue
                lo, hi = bins[i] * MS, bins[i + 1] * MS
                pred = max(0.0, pr["T"] + 2 * pr["s"] - (bins[i] + min(bins[i + 1], 5e-3)) / 2)
                rows.append([m, f"{lo:g}-{hi:g}" if hi < 1e5 else f">{lo:g}", len(v), q(v, (10, 25, 50, 75, 90)),
                             f"{np.mean(np.array(v) > 1.5e-3)*100:.0f}", f"{pred*US:.0f}" if bins[i] < 2.5e-3 else "uniform"])
        table(f"  {label}", ["model", "own idle ms", "n", "delay p10/25/50/75/90 us", "% >1.5 ms", "model (bin middle)"], rows)

    # ---------------------------------------------------------- (c) TTS frames
    section("11. (c) TTS decoder frame steps (consecutive 'f' events on the GPU).  interruption = step > solo step + 0.5 ms;\n"
            "   extra = step - solo step; frames/visit = frames between interruptions (one uninterrupted stretch)")
    rows = []
    rows2 = []
    for r in RUNS:
        if "tts" not in S[r]:
            continue
        M = S[r]["tts"]
        steps = []; clean = []; extra = []; nint = []; runs_ = []; ratio = []; encd = []; encw = []
        for k, b in enumerate(M["bt"]):
            if k == 0:
                continue   # first call: warm-up effects in every run
            Bb = bucket(int(b["batch"]), TTS_BB)
            f = [g for h, g in M["calls"][k]["f"]]
            ni = 0; run = 1
            for i in range(1, len(f)):
                st_ = f[i] - f[i - 1]
                e = exp_tts_step(E, Bb, bucket(i + 1, TTS_TB))
                steps.append(st_)
                ratio.append(st_ / e)
                if st_ > e + 0.5e-3:
                    ni += 1; extra.append(st_ - e); runs_.append(run); run = 1
                else:
                    clean.append(st_ / e); run += 1
            runs_.append(run)
            nint.append(ni)
            hb, gb = ev(M, k, "begin"); he, ge = ev(M, k, "enc")
            encd.append(ge - gb); encw.append(ge - he)
        nint = np.array(nint)
        rows.append([r, len(nint), len(steps), q(steps, nd=0), f"{np.median(clean):.3f}", int(nint.sum()),
                     f"{np.mean(nint>0)*100:.0f}", f"{np.mean(nint):.1f}", q(extra, nd=0), q(runs_, scale=1)])
        rows2.append([r, q(encd, scale=MS, nd=2), q(encw, scale=MS, nd=2)])
    table("", ["run", "synth", "steps", "step p10/50/90 us", "clean step / solo", "interruptions", "% synth interrupted",
               "interr./synth", "extra p10/50/90 us", "frames/visit p10/50/90"], rows)
    table("  TTS encoder phase (eager, host-bound): begin->enc on GPU (ms) and how far the GPU lagged the host at 'enc' (ms)",
          ["run", "begin->enc p10/50/90 ms", "enc gpu - enc host p10/50/90 ms"], rows2)

    # ---------------------------------------------------------- (d) LLM decode
    section("12. (d) LLM decode steps: GPU begin->end split into wait1 (begin event waits), copy (begin->h2d on GPU, holds the\n"
            "   synchronous lens copy and the second wait), wait2 (h2d event GPU - host), graph (h2d->end: graph replay incl.\n"
            "   preemption), host step = end_s - start_s; solo-expected step and graph from llm_H by shape.  ms")
    rows = []
    for r in RUNS:
        if "llm" not in S[r]:
            continue
        M = S[r]["llm"]
        tot = []; w1 = []; cp = []; w2 = []; gr = []; hs = []; exd = []; exg = []; pre = []; pre_x = []; pre_w = []
        for k, b in enumerate(M["bt"]):
            hb, gb = ev(M, k, "begin"); he, ge = ev(M, k, "end")
            if b["op"] == "prefill":
                pre.append(ge - gb); pre_x.append(exp_llm(E, b)); pre_w.append(gb - hb)
                continue
            hh, gh = ev(M, k, "h2d")
            tot.append(ge - gb); w1.append(gb - hb); cp.append(gh - gb); w2.append(gh - hh); gr.append(ge - gh)
            hs.append(M["end"][k] - M["start"][k])
            exd.append(exp_llm(E, b, "dec")); exg.append(exp_llm(E, b, "graph"))
        tot, gr, exd, exg, hs = map(np.array, (tot, gr, exd, exg, hs))
        rows.append([r, len(tot), q(hs, scale=MS, nd=2), f"{np.median(hs/exd):.2f}", q(w1, scale=MS, nd=2), q(cp, scale=MS, nd=2),
                     q(w2, scale=MS, nd=2), q(gr, scale=MS, nd=2), f"{np.median(gr/exg):.2f}", q(gr - exg, scale=MS, nd=2),
                     f"{np.sum(exg)/np.sum(hs)*100:.0f}"])
    table("", ["run", "steps", "host step p10/50/90", "step/solo", "wait1 p10/50/90", "begin->h2d p10/50/90",
               "wait2 p10/50/90", "graph p10/50/90", "graph/solo", "graph-solo p10/50/90", "graph work/step %"], rows)
    rows = []
    for r in RUNS:
        if "llm" not in S[r]:
            continue
        M = S[r]["llm"]
        pre = []; px = []; pw = []
        for k, b in enumerate(M["bt"]):
            if b["op"] == "prefill":
                hb, gb = ev(M, k, "begin"); he, ge = ev(M, k, "end")
                pre.append(ge - gb); px.append(exp_llm(E, b)); pw.append(gb - hb)
        pre, px = np.array(pre), np.array(px)
        rows.append([r, len(pre), q(pw, scale=MS, nd=2), q(pre, scale=MS, nd=1), f"{np.median(pre/px):.2f}"])
    table("  LLM prefill: wait before begin, begin->end on GPU, ratio to solo (same prompt bucket)",
          ["run", "n", "wait p10/50/90 ms", "begin->end p10/50/90 ms", "ratio to solo"], rows)

    # ASR stretch
    rows = []
    for r in RUNS:
        if "asr" not in S[r]:
            continue
        M = S[r]["asr"]
        d = []; x = []; w = []
        for k, b in enumerate(M["bt"]):
            hb, gb = ev(M, k, "begin"); he, ge = ev(M, k, "end")
            d.append(ge - gb); x.append(exp_asr(E, b)); w.append(gb - hb)
        d, x = np.array(d), np.array(x)
        rows.append([r, len(d), q(d, scale=MS, nd=2), q(d / x, scale=1, nd=2), q(d - x, scale=MS, nd=2)])
    table("  ASR calls: begin->end on GPU (ms), ratio to solo of the same shape, and excess (ms)",
          ["run", "calls", "begin->end p10/50/90", "ratio p10/50/90", "excess p10/50/90 ms"], rows)

    # ---------------------------------------------------------- (e) GPU shares
    section("13. (e) GPU time shares while contexts compete.  demand(X) = union over calls of [host launch of the call's\n"
            "   GPU phase, true GPU end]; TTS demand starts at its 'enc' mark (the host-bound eager encoder is left out);\n"
            "   exec(X) = solo-expected GPU time of each call x speed (median observed/solo of this run's uninterrupted\n"
            "   calls/steps: co-located work runs faster than in the solo runs), spread uniformly over the call's demand.\n"
            "   'both' = wall time when X and at least one other context have demand; shares = exec inside it / its length")
    rows = []
    for r in RUNS:
        if len(S[r]) < 2:
            continue
        D, calls = demand_and_exec(S, E, r)
        sf = {m: speed_factor(S, E, r, m) for m in S[r]}
        for m in calls:
            calls[m] = (calls[m][0], [e * sf[m] for e in calls[m][1]])
        ms = list(S[r])
        allbusy = D[ms[0]]
        for m in ms[1:]:
            allbusy = intersect(allbusy, D[m])
        for m in ms:
            others = merge([tuple(x) for o in ms if o != m for x in D[o]])
            both = intersect(D[m], others)
            Wb = measure(both)
            iv, ex = calls[m]
            exec_both = sum(e * overlap_with(both, a, z) / (z - a) for (a, z), e in zip(iv, ex))
            exec_all = sum(e * overlap_with(allbusy, a, z) / (z - a) for (a, z), e in zip(iv, ex))
            exec_tot = sum(ex)
            dem = measure(D[m])
            rows.append([r, m, f"{sf[m]:.3f}", f"{dem:.2f}", f"{exec_tot:.2f}", f"{exec_tot/dem*100:.0f}", f"{Wb:.2f}",
                         f"{exec_both/Wb*100:.0f}" if Wb > 0 else "-",
                         f"{measure(allbusy):.2f}" if len(ms) > 2 else "",
                         f"{exec_all/measure(allbusy)*100:.0f}" if len(ms) > 2 and measure(allbusy) > 0 else ""])
    table("", ["run", "model", "speed", "demand s", "exec s", "exec/demand %", "both s", "share of 'both' %", "all-3 busy s",
               "share of all-3 %"], rows)
    print("  (shares of one run's 'both' windows need not add to 100: each model's window is its own; in two-model runs the")
    print("   windows are the same and 100 - sum = switch overhead + host round trips + idle-while-yielded)")

    # TTS visits: interior uninterrupted stretches of the frame stream
    section("14. TTS decoder phase in the merged picture: TTS time per visit and time away (other contexts' visits + switches).\n"
            "   Interior visits only (between two interruptions of one synthesis).  visit = f[j] - f[i+1] + clean step\n"
            "   (the preempted step is split before/after; its two parts are counted as one clean step);\n"
            "   off = interrupted step - clean step.  clean step = this run's median step.")
    tts_visits(S, RUNS)
    print(f"  Visits are quantised by the ~0.8 ms step (2 or 3 frames: ~1.6 or ~2.4 ms); the mean of the <=3-frame visits")
    print(f"  estimates the slice of a real-work context (longer visits: the partner had no work).  Probe values: T = {T*US:.0f} us, s = {pr['s']*US:.0f} us, T + 2s = {(T+2*pr['s'])*US:.0f} us;")
    print("  off ~ 2.43-2.47 ms = one visit of a real-work partner + 2 switches (~0.05-0.08 ms more than spin probes);")
    print("  off ~ 3.9-4.7 ms in the 3-model runs = two other contexts' visits (round robin).")


    # ---------------------------------------------------------- (f) speed alone vs beside demand
    section("15. (f) Is co-located work faster than solo because it waited?  Uninterrupted work units (observed/solo < 1.15,\n"
            "   as section 13's speed) split by the other contexts' demand: 'alone' = no other context had demand from 20 ms\n"
            "   before the unit to its end (it cannot have waited, nor had a backlog launched while waiting); 'beside' = some did")
    rows = []
    for r in RUNS:
        if len(S[r]) < 2:
            continue
        D, _ = demand_and_exec(S, E, r)
        for m in S[r]:
            others = merge([tuple(x) for o in S[r] if o != m for x in D[o]])
            alone, beside = [], []
            for a, z, x, _, _ in units(S, E, r, m):
                if x >= 1.15:
                    continue
                (beside if overlap_with(others, a - 0.020, z) > 0 else alone).append(x)
            rows.append([r, m, len(alone), f"{np.median(alone):.3f}" if alone else "-", len(beside),
                         f"{np.median(beside):.3f}" if beside else "-"])
    table("", ["run", "model", "n alone", "speed alone (median)", "n beside", "speed beside (median)"], rows)
    print("  Equal speeds alone and beside: the co-located speed-up does not come from waiting; every call of a server")
    print("  that shares the GPU gets it (gpuslice applies it to every call on a shared GPU, as section 16 sizes it).")

    # ---------------------------------------------------------- (g) saved time by call size
    section("16. (g) The co-located speed-up by call size: uninterrupted calls of co-located runs (observed/solo < 1.15) by\n"
            "   batch bucket: median speed (observed/solo) and median time saved per call, (1 - speed) x solo")
    rows = []
    for m in ["asr", "tts", "llm"]:
        res = defaultdict(list)
        for r in RUNS:
            if len(S[r]) < 2 or m not in S[r]:
                continue
            for _, _, x, e, bb in units(S, E, r, m):
                res[bb].append((x, e))
        for bb in sorted(res):
            v = [(x, e) for x, e in res[bb] if x < 1.15]
            if len(v) < 10:
                continue
            rows.append([m if m != "tts" else "tts step", bb, len(v), f"{np.median([e for _, e in v])*MS:.2f}",
                         f"{np.median([x for x, _ in v]):.3f}", f"{np.median([(1 - x) * e for x, e in v])*MS:.3f}"])
    table("", ["model", "batch", "n", "solo ms (median)", "speed (median)", "saved ms (median)"], rows)
    rows = []
    res = defaultdict(list)
    for r in RUNS:
        if len(S[r]) < 2 or "asr" not in S[r]:
            continue
        M = S[r]["asr"]
        for k, b in enumerate(M["bt"]):
            e = exp_asr(E, b)
            x = (ev(M, k, "end")[1] - ev(M, k, "begin")[1]) / e
            if x < 1.15:
                res[(bucket(int(b["batch"]), ASR_BB), bucket(float(b["audio_s"]), ASR_SB))].append((x, e))
    for key in sorted(res):
        v = res[key]
        if len(v) >= 10:
            rows.append([key[0], key[1], len(v), f"{np.median([e for _, e in v])*MS:.2f}", f"{np.median([(1 - x) * e for x, e in v])*MS:.3f}"])
    table("  ASR by batch and padded audio", ["batch", "audio s", "n", "solo ms (median)", "saved ms (median)"], rows)
    print("  The time saved is about constant per call (per frame step for TTS) while the call grows with its batch: a")
    print("  per-call saving. gpuslice: each call on a shared GPU saves (1 - shared_time_fraction) x its batch-1 time.")


def main():
    if sys.argv[1:2] == ["--visits"]:
        # Section 14 alone for other runs (e.g. the session 5 runs taken after the model was final).
        runs = sys.argv[2:]
        section("14 (for " + ", ".join(runs) + "). TTS time per visit and time away; see section 14 of analysis_ts.txt")
        tts_visits({r: load_run(r) for r in runs}, runs)
        return
    print("Time-slicing analysis, NVIDIA H200, driver 580.159.04, default time-slice policy (no MPS/MIG).")
    print("All times in microseconds unless marked; pNN = percentiles.")
    pr = probes()
    serving(pr)


if __name__ == "__main__":
    main()
