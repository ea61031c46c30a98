"""Check the shared-resource model (src/model/contention.rs, docs/src/model/sharing.md) on the
mechanism probes of probe/: each latency-bound client (ASR chunk, TTS frame step, LLM decode step),
the GEMM (`mm`) and the bandwidth hog (`bw`) beside each other on disjoint SM partitions of one H100,
predicted from their times alone on the same partition. Prints every condition and the error of a
small grid of parameters, split into the 64 + 68 SM conditions and the 32 + 100 ones.

    python3 traces/h100/spatial/fit_sharing.py > traces/h100/spatial/fit_sharing.txt

The model's form (the same as the Rust): parts on the share alone F, C, M (M streams at BW); while
the calls run together every streaming phase runs at theta of its alone bandwidth (the draws add up
to the HBM bandwidth), F and C slow by (1 - rho)^-a with rho the neighbours' draw / bandwidth
(capped at util_max), F by (1 + penalty) beside any neighbour, and F and C by the clock the
power limit allows the activity of all calls (knee, exponent). Model splits come from
models/h100/*.json; the GEMM is all compute, the hog all memory at 87.5 GB/s per SM (2,800 GB/s
measured on 32 SMs)."""
import csv, json, os
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
N, B = 132, 3350.0  # H100 SMs and HBM bandwidth [GB/s] (models/gpus.toml)

def cell(model, op, b, s):
    d = json.load(open(os.path.join(ROOT, 'models/h100', model + '.json')))
    o = d['ops'][op]
    i = o['batch'].index(b)
    j = o['size'].index(s) if o['size'] else 0
    return o['fixed_frac'][i][j], o['compute_frac'][i][j], d['scaling']['sm_bw_gbps'], d['scaling']['knee']

FR = {
    'asr': cell('asr', 'encode_chunk', 1.0, 0.16),
    'llm': cell('llm', 'decode', 1.0, 512.0),
    'mm': (0.0, 1.0, 100.0, 6.0),
    'bw': (0.0, 0.0, 87.5, 6.0),
}
# TTS: one decoder frame step has the split of a batch-1 synthesis (its frames dominate it).
_t = json.load(open(os.path.join(ROOT, 'models/h100/tts.json')))
FR['tts'] = (_t['ops']['synthesize']['fixed_frac'][0][-1], _t['ops']['synthesize']['compute_frac'][0][-1],
             _t['scaling']['sm_bw_gbps'], _t['scaling']['knee'])

def bw(n, b, k):
    return ((1 / B) ** k + (1 / (n * b)) ** k) ** (-1 / k)

def parts(m, n, t_alone):
    f, c, b, k = FR[m]
    F, C, M = f, c * N / n, (1 - f - c) * bw(N, b, k) / bw(n, b, k)
    s = t_alone / (F + C + M)
    return F * s, C * s, M * s, bw(n, b, k)

def clock(a, knee, e):
    return 1.0 if a <= knee else (knee / a) ** e

def predict(cl, P):
    a, pen, umax, knee, e = P
    ps = [parts(m, n, t) for m, n, t in cl]
    own = [C / (F + C + M) * n / N for (F, C, M, _), (_, n, _) in zip(ps, cl)]
    slow = [1.0] * len(cl)
    for _ in range(6):
        def draws(th):
            return [M * b / (F * s * (1 + pen) + C * s + M / th) if M > 0 else 0 for (F, C, M, b), s in zip(ps, slow)]
        th = 1.0
        if sum(draws(1.0)) > B:
            lo, hi = 1e-6, 1.0
            for _ in range(30):
                mid = (lo + hi) / 2
                lo, hi = (lo, mid) if sum(draws(mid)) > B else (mid, hi)
            th = lo
        d = draws(th)
        T = [F * s * (1 + pen) + C * s + M / th for (F, C, M, _), s in zip(ps, slow)]
        act = sum(C * s / t * n / N for (F, C, M, _), s, t, (_, n, _) in zip(ps, slow, T, cl))
        slow = [(1 - min((sum(d) - d[i]) / B, umax)) ** (-a) * clock(own[i], knee, e) / clock(act, knee, e) for i in range(len(cl))]
    return T

alone, pairs = {}, []
for fn in ['probe_latency.csv', 'probe_bandwidth.csv', 'probe_compute.csv']:
    for r in csv.DictReader(open(os.path.join(HERE, 'probe', fn))):
        key = (r['client'], int(r['partition_sms']))
        if r['neighbour'] == 'none':
            alone[key] = float(r['mean_ms'])
        else:
            pairs.append((key, (r['neighbour'], int(r['neighbour_sms'])), float(r['mean_ms']), r['condition']))

def errors(P, split=None, show=False):
    es = []
    for (m, n), (nb, nn), meas, cond in pairs:
        if split and n not in split:
            continue
        T = predict([(m, n, alone[(m, n)]), (nb, nn, alone[(nb, nn)])], P)
        es.append(T[0] / meas - 1)
        if show:
            print(f'| {cond} | {m} on {n} | {nb} on {nn} | {alone[(m, n)]:.3f} | {meas:.3f} | {T[0]:.3f} | {100 * (T[0] / meas - 1):+.1f}% |')
    a = sorted(abs(x) for x in es)
    return a[len(a) // 2] * 100, a[int(len(a) * 0.9)] * 100, a[-1] * 100

CHOSEN = (0.35, 0.15, 0.97, 0.55, 0.5)  # src/gpu.rs Sharing::H100
print('| condition | client | neighbour | alone ms | measured ms | predicted ms | error |')
print('|---|---|---|---|---|---|---|')
errors(CHOSEN, show=True)
print()
print('| latency_exponent, neighbour_penalty, util_max, power_knee, clock_exponent | 64+68 median / p90 / max | 32+100 median / p90 / max |')
print('|---|---|---|')
for P in [CHOSEN, (0.55, 0.1, 0.9, 0.55, 0.5), (0.35, 0.1, 0.8, 0.55, 0.5), (0.45, 0.15, 0.97, 0.55, 0.5), (0.25, 0.15, 0.97, 0.55, 0.5)]:
    f, h = errors(P, {64, 68}), errors(P, {32, 100})
    print(f'| {", ".join(str(x) for x in P)}{" (chosen)" if P == CHOSEN else ""} | {f[0]:.1f} / {f[1]:.1f} / {f[2]:.1f} % | {h[0]:.1f} / {h[1]:.1f} / {h[2]:.1f} % |')
