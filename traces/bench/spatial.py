#!/usr/bin/env python3
"""Spatial GPU sharing inside ONE process: disjoint SM partitions made with CUDA green contexts
through the driver API (cuda-bindings), verified, probed and used for concurrent serving runs.

Nothing here changes a device setting (no MIG, no MPS daemon, no clocks, no compute mode). A green
context restricts only the work launched into its own streams, inside this process.

    python3 traces/bench/spatial.py verify OUTDIR          # are the partitions real and disjoint?
    python3 traces/bench/spatial.py probe  OUTDIR [--dur S] # mechanism probes (bandwidth, compute,
                                                            # latency-bound calls, clock/power)
    python3 traces/bench/spatial.py serve  OUTDIR --runs GROUP... [--dur S] [--deadline S]
                                           # concurrent serving runs, one thread per server

Partitions: the device's SM resource is split twice with cuDevSmResourceSplitByCount: one group of
64 SMs plus the remainder (keys p64, r64), and one group of 32 plus the remainder (p32, r32); 'full'
is an ordinary stream of the primary context (all SMs). Partitions of one split are disjoint; the
two splits are never used at the same time. Each partition has one green context and one stream
(cuGreenCtxStreamCreate), wrapped for PyTorch with torch.cuda.ExternalStream. Every kernel, and
every CUDA graph (captured on that stream), of a client or server is launched into its partition's
stream.

Serving: each server is a thread running gpubench.serve unchanged (same batching policy and files),
with gpubench.sync replaced by a synchronize of the thread's own stream (releases the GIL), the
model prebuilt (weights shared by the partition variants) and its graphs captured on the
partition's stream. sys.setswitchinterval(2e-4) bounds how long a thread waits for the GIL.

After each step OUTDIR is packed into $OUT/<basename(OUTDIR)>.tgz (when $OUT is set)."""
import argparse, csv, gzip, json, math, os, shutil, subprocess, sys, tarfile, tempfile, threading, time, traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch  # noqa: E402
import gpubench as gb  # noqa: E402

DT = torch.bfloat16
T_START = time.time()


def log(*a):
    print(time.strftime("[%H:%M:%S]"), f"+{time.time() - T_START:.0f}s", *a, flush=True)


def pack(outdir):
    dest = os.environ.get("OUT")
    if not dest:
        return
    name = os.path.basename(outdir.rstrip("/"))
    tmp = os.path.join(dest, f".{name}.tgz.tmp")
    with tarfile.open(tmp, "w:gz") as t:
        t.add(outdir, arcname=name)
    os.replace(tmp, os.path.join(dest, f"{name}.tgz"))


def gpu_csv(path):
    with open(path, "w") as fh:
        subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,mig.mode.current,compute_mode",
                        "--format=csv"], stdout=fh, check=False)


def pctl(xs, q):
    """Type-7 (linear interpolation) percentile of a list."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    h = (len(s) - 1) * q
    lo = int(math.floor(h))
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (h - lo)


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def r(x, n=4):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, n)


# ---------------------------------------------------------------- clocks and power
class Sampler(threading.Thread):
    """SM clock (MHz) and board power (W) every `period` s via NVML (read-only queries)."""

    def __init__(self, period=0.05):
        super().__init__(daemon=True)
        import pynvml
        self.nv = pynvml
        pynvml.nvmlInit()
        self.h = pynvml.nvmlDeviceGetHandleByIndex(0)
        self.period = period
        self.samples = []  # (unix, perf, clock_mhz, power_w, power_inst_w or None)
        self.halt = threading.Event()
        self.fid = getattr(pynvml, "NVML_FI_DEV_POWER_INSTANT", 186)
        self.inst_ok = self._inst() is not None

    def _inst(self):
        try:
            v = self.nv.nvmlDeviceGetFieldValues(self.h, [self.fid])[0]
            if v.nvmlReturn != 0:
                return None
            return v.value.uiVal / 1e3
        except Exception:
            return None

    def run(self):
        nv = self.nv
        while not self.halt.is_set():
            try:
                clk = nv.nvmlDeviceGetClockInfo(self.h, nv.NVML_CLOCK_SM)
                pw = nv.nvmlDeviceGetPowerUsage(self.h) / 1e3
                pi = self._inst() if self.inst_ok else None
                self.samples.append((time.time(), time.perf_counter(), clk, pw, pi))
            except Exception:
                pass
            time.sleep(self.period)

    def window(self, p0, p1):
        s = [x for x in self.samples if p0 <= x[1] <= p1]
        pis = [x[4] for x in s if x[4] is not None]
        return dict(n=len(s), clock=mean([x[2] for x in s]), clock_min=min([x[2] for x in s], default=float("nan")),
                    power=mean([x[3] for x in s]), power_inst=mean(pis) if pis else float("nan"))


# ---------------------------------------------------------------- partitions (green contexts)
class Part:
    def __init__(s, key, sms, stream, green, gctx=None, raw=None, resource_sms=None):
        s.key, s.sms, s.stream, s.green, s.gctx, s.raw, s.resource_sms = key, sms, stream, green, gctx, raw, resource_sms

    def info(s):
        return dict(key=s.key, sms=s.sms, green=s.green, stream=hex(s.stream.cuda_stream), resource_sms=s.resource_sms)


def ck(res, what):
    from cuda.bindings import driver as drv
    if not isinstance(res, tuple):
        res = (res,)
    err = res[0]
    if err != drv.CUresult.CUDA_SUCCESS:
        try:
            name = drv.cuGetErrorName(err)[1]
        except Exception:
            name = "?"
        raise RuntimeError(f"{what} failed: {err} {name}")
    if len(res) == 1:
        return None
    return res[1] if len(res) == 2 else res[1:]


def handle(x):
    """The address behind a cuda-bindings handle object."""
    try:
        return int(x)
    except TypeError:
        return int(x.getPtr())


def make_parts(splits=(64, 32)):
    """{'full', 'p<n>', 'r<n>' for n in splits}: one green context + stream per SM group."""
    from cuda.bindings import driver as drv
    torch.zeros(1, device=gb.DEV)
    torch.cuda.synchronize()
    ck(drv.cuInit(0), "cuInit")
    dev = ck(drv.cuDeviceGet(torch.cuda.current_device()), "cuDeviceGet")
    SM = drv.CUdevResourceType.CU_DEV_RESOURCE_TYPE_SM
    whole = ck(drv.cuDeviceGetDevResource(dev, SM), "cuDeviceGetDevResource")
    total = whole.sm.smCount
    parts = {"full": Part("full", torch.cuda.get_device_properties(0).multi_processor_count, torch.cuda.Stream(), False,
                          resource_sms=total)}
    for n in splits:
        out = ck(drv.cuDevSmResourceSplitByCount(1, whole, 0, n), f"cuDevSmResourceSplitByCount(1, {n})")
        groups, ngroups, rem = out[0], out[1], out[2]
        if ngroups != 1:
            raise RuntimeError(f"split by {n}: {ngroups} groups")
        for key, res in ((f"p{n}", groups[0]), (f"r{n}", rem)):
            desc = ck(drv.cuDevResourceGenerateDesc([res], 1), "cuDevResourceGenerateDesc")
            g = ck(drv.cuGreenCtxCreate(desc, dev, drv.CUgreenCtxCreate_flags.CU_GREEN_CTX_DEFAULT_STREAM), "cuGreenCtxCreate")
            raw = ck(drv.cuGreenCtxStreamCreate(g, drv.CUstream_flags.CU_STREAM_NON_BLOCKING, 0), "cuGreenCtxStreamCreate")
            try:
                back = ck(drv.cuGreenCtxGetDevResource(g, SM), "cuGreenCtxGetDevResource").sm.smCount
            except Exception:
                back = None
            st = torch.cuda.ExternalStream(handle(raw))
            parts[key] = Part(key, res.sm.smCount, st, True, g, raw, back)
    return parts


# ---------------------------------------------------------------- graphs captured on the current stream
POOL = [None]


class SGraph:
    """gpubench.Graph, but warmed up and captured on the CURRENT stream (the partition's), into
    POOL[0] (None: a private pool for this graph)."""

    def __init__(self, fn, *inputs):
        self.inputs = inputs
        st = torch.cuda.current_stream()
        for _ in range(2):
            fn(*inputs)
        st.synchronize()
        self.g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.g, pool=POOL[0], stream=st):
            self.out = fn(*inputs)
        st.synchronize()

    def __call__(self, *xs):
        for buf, x in zip(self.inputs, xs):
            buf.copy_(x)
        self.g.replay()
        return self.out


def init_model(cls, **kw):
    """gpubench.build without the graph capture: random bf16 weights N(0, 0.02)."""
    torch.manual_seed(0)
    with torch.device(gb.DEV):
        m = cls(**kw)
    m = m.to(DT).eval()
    for p in m.parameters():
        p.requires_grad_(False)
        p.normal_(0, 0.02)
    torch.cuda.synchronize()
    return m


EVENTS_OK = [True]


def time_on(stream, fn, n, warm=2):
    """ms per call of fn() enqueued n times back to back on `stream` (CUDA events; host clock
    around a synchronize if events fail on this stream)."""
    with torch.cuda.stream(stream):
        for _ in range(warm):
            fn()
        stream.synchronize()
        if EVENTS_OK[0]:
            try:
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                e0.record(stream)
                for _ in range(n):
                    fn()
                e1.record(stream)
                e1.synchronize()
                return e0.elapsed_time(e1) / n
            except Exception as e:
                log("events failed on", stream, e)
                EVENTS_OK[0] = False
        t = time.perf_counter()
        for _ in range(n):
            fn()
        stream.synchronize()
        return (time.perf_counter() - t) * 1e3 / n


# ---------------------------------------------------------------- verification
SPIN_SRC = r'''
extern "C" __global__ void spin(long long* out, long long cycles) {
  unsigned int s; asm volatile("mov.u32 %0, %%smid;" : "=r"(s));
  unsigned long long g0; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g0));
  long long t0 = clock64();
  while (clock64() - t0 < cycles) { }
  unsigned long long g1; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g1));
  if (threadIdx.x == 0) { out[3*blockIdx.x] = s; out[3*blockIdx.x+1] = (long long)g0; out[3*blockIdx.x+2] = (long long)g1; }
}
'''


def cmd_verify(a):
    outdir = os.path.abspath(a.outdir)
    os.makedirs(outdir, exist_ok=True)
    gpu_csv(os.path.join(outdir, "gpu.csv"))
    res = dict(torch=torch.__version__, gpu=torch.cuda.get_device_name(), sections={})
    rows = []

    def save():
        with open(os.path.join(outdir, "verify.json"), "w") as fh:
            json.dump(res, fh, indent=1, default=str)
        if rows:
            keys = list(dict.fromkeys(k for x in rows for k in x))
            with open(os.path.join(outdir, "verify.csv"), "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=keys)
                w.writeheader(); w.writerows(rows)
        pack(outdir)

    try:
        from cuda.bindings import driver as drv
        res["driver_version"] = ck(drv.cuDriverGetVersion(), "cuDriverGetVersion")
        try:
            import importlib.metadata as im
            res["cuda_bindings"] = im.version("cuda-bindings")
        except Exception:
            pass
        parts = make_parts()
        res["parts"] = {k: p.info() for k, p in parts.items()}
        log("partitions:", {k: p.sms for k, p in parts.items()})
    except Exception:
        res["sections"]["parts"] = traceback.format_exc()
        log("PARTITIONS FAILED\n" + res["sections"]["parts"])
        save()
        return 1
    save()
    # events on a green stream
    try:
        p = parts["p32"]
        with torch.cuda.stream(p.stream):
            x = torch.ones(1 << 20, device=gb.DEV)
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record(p.stream); x.mul_(1.0001); e1.record(p.stream); e1.synchronize()
            res["events_on_green_stream_ms"] = e0.elapsed_time(e1)
        res["sections"]["events"] = "ok"
    except Exception:
        EVENTS_OK[0] = False
        res["sections"]["events"] = traceback.format_exc()
    log("events on green stream:", res["sections"]["events"][:200])
    # GEMM on each partition: eager and as a graph captured on that partition's stream
    N = 8192
    graphs = {}
    try:
        A = torch.randn(N, N, device=gb.DEV, dtype=DT)
        B = torch.randn(N, N, device=gb.DEV, dtype=DT)
        Cs = {k: torch.empty(N, N, device=gb.DEV, dtype=DT) for k in parts}
        torch.cuda.synchronize()
        full_ms = None
        for k in ["full", "p32", "r32", "p64", "r64"]:
            p = parts[k]
            c = Cs[k]
            fn = lambda c=c: torch.matmul(A, B, out=c)
            eager = time_on(p.stream, fn, 10)
            with torch.cuda.stream(p.stream):
                POOL[0] = None
                g = SGraph(lambda x, y, c=c: torch.matmul(x, y, out=c), A, B)
            graphs[k] = g
            graph = time_on(p.stream, g.g.replay, 10)
            if k == "full":
                full_ms = graph
            rows.append(dict(test="gemm8192_alone", part=k, sms=p.sms, eager_ms=r(eager), graph_ms=r(graph),
                             tflops=r(2 * N ** 3 / (graph / 1e3) / 1e12, 1),
                             slowdown_vs_full=r(graph / full_ms, 3), expected_132_over_sms=r(parts["full"].sms / p.sms, 3)))
            log(rows[-1])
        # cross replays: which SMs does a graph use, those of its capture stream or of its launch stream?
        for cap, launch in (("full", "p32"), ("p32", "full"), ("p64", "p32")):
            t = time_on(parts[launch].stream, graphs[cap].g.replay, 10)
            rows.append(dict(test=f"gemm8192_graph_captured_on_{cap}_replayed_on_{launch}", part=launch,
                             sms=parts[launch].sms, graph_ms=r(t), slowdown_vs_full=r(t / full_ms, 3)))
            log(rows[-1])
        res["sections"]["gemm"] = "ok"
    except Exception:
        res["sections"]["gemm"] = traceback.format_exc()
        log("GEMM FAILED\n" + res["sections"]["gemm"])
    save()
    # both partitions of a split at once, GEMM graphs enqueued on both streams before any sync
    try:
        alone = {x["part"]: x["graph_ms"] for x in rows if x["test"] == "gemm8192_alone"}
        for pa, pb in (("p64", "r64"), ("p32", "r32")):
            n = {k: max(5, int(round(150 / alone[k]))) for k in (pa, pb)}
            torch.cuda.synchronize()
            ev = {}
            for k in (pa, pb):
                st = parts[k].stream
                e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                e0.record(st)
                for _ in range(n[k]):
                    graphs[k].g.replay()
                e1.record(st)
                ev[k] = (e0, e1)
            torch.cuda.synchronize()
            t = {k: ev[k][0].elapsed_time(ev[k][1]) for k in (pa, pb)}
            try:  # overlap of the two spans on the GPU timeline (events of two contexts)
                ov = min(ev[pa][0].elapsed_time(ev[pa][1]), ev[pa][0].elapsed_time(ev[pb][1])) - max(0.0, ev[pa][0].elapsed_time(ev[pb][0]))
            except Exception as e:
                ov = float("nan")
                res["cross_context_event_error"] = str(e)
            for k, o in ((pa, pb), (pb, pa)):
                per = t[k] / n[k]
                rows.append(dict(test="gemm8192_concurrent", part=k, sms=parts[k].sms, neighbour=o,
                                 neighbour_sms=parts[o].sms, calls=n[k], graph_ms=r(per), alone_ms=alone[k],
                                 slowdown_vs_alone=r(per / alone[k], 3), tflops=r(2 * N ** 3 / (per / 1e3) / 1e12, 1),
                                 span_overlap_ms=r(ov, 2)))
                log(rows[-1])
        res["sections"]["concurrent_gemm"] = "ok"
    except Exception:
        res["sections"]["concurrent_gemm"] = traceback.format_exc()
        log("CONCURRENT GEMM FAILED\n" + res["sections"]["concurrent_gemm"])
    save()
    del graphs
    # spin kernel that records its SM id and globaltimer window: which SMs, and do partitions overlap?
    try:
        import cupy as cp
        import numpy as np
        k = cp.RawKernel(SPIN_SRC, "spin")
        nb, cycles = 264, 200000
        bufs = {key: torch.zeros(nb * 3, dtype=torch.int64, device=gb.DEV) for key in parts}
        torch.cuda.synchronize()

        def launch(key):
            with cp.cuda.ExternalStream(parts[key].stream.cuda_stream):
                k((nb,), (1024,), (np.uint64(bufs[key].data_ptr()), np.int64(cycles)))

        launch("full"); torch.cuda.synchronize()
        smsets, spans = {}, {}
        for key in ["full", "p32", "r32", "p64", "r64"]:
            ms = time_on(parts[key].stream, lambda key=key: launch(key), 3, warm=1)
            v = bufs[key].view(nb, 3).cpu().tolist()
            smsets[key] = sorted(set(x[0] for x in v))
            waves = math.ceil(nb / (2 * parts[key].sms))
            rows.append(dict(test="spin264x1024_alone", part=key, sms=parts[key].sms, graph_ms=r(ms),
                             distinct_smids=len(smsets[key]), smid_min=smsets[key][0], smid_max=smsets[key][-1],
                             expected_waves=waves))
            log(rows[-1])
        res["smids"] = smsets
        for pa, pb in (("p64", "r64"), ("p32", "r32")):
            torch.cuda.synchronize()
            launch(pa); launch(pb)
            torch.cuda.synchronize()
            va, vb = bufs[pa].view(nb, 3).cpu().tolist(), bufs[pb].view(nb, 3).cpu().tolist()
            sa, sb = set(x[0] for x in va), set(x[0] for x in vb)
            a0, a1 = min(x[1] for x in va), max(x[2] for x in va)
            b0, b1 = min(x[1] for x in vb), max(x[2] for x in vb)
            ov = (min(a1, b1) - max(a0, b0)) / 1e6
            rows.append(dict(test="spin_concurrent", part=pa, sms=parts[pa].sms, neighbour=pb, neighbour_sms=parts[pb].sms,
                             distinct_smids=len(sa), neighbour_distinct_smids=len(sb), shared_smids=len(sa & sb),
                             span_ms=r((a1 - a0) / 1e6, 3), neighbour_span_ms=r((b1 - b0) / 1e6, 3), span_overlap_ms=r(ov, 3)))
            log(rows[-1])
        res["sections"]["spin"] = "ok"
    except Exception:
        res["sections"]["spin"] = traceback.format_exc()
        log("SPIN FAILED\n" + res["sections"]["spin"])
    save()
    # PyTorch's own green context (first N SMs) for comparison, in a separate process (SP_TORCHGREEN=1)
    try:
        if os.environ.get("SP_TORCHGREEN") != "1":
            raise RuntimeError("skipped (SP_TORCHGREEN unset)")
        pr = subprocess.run([sys.executable, os.path.join(HERE, "gpubench.py"), "greentest", "--sms", "32"],
                            capture_output=True, text=True, timeout=120)
        res["torch_green_context_32"] = (pr.stdout + pr.stderr)[-2000:]
        log("torch green context 32:", pr.stdout.strip())
    except Exception:
        res["torch_green_context_32"] = traceback.format_exc()
    save()
    print_table(rows)
    return 0


def print_table(rows):
    keys = list(dict.fromkeys(k for x in rows for k in x))
    print("\t".join(keys))
    for x in rows:
        print("\t".join(str(x.get(k, "")) for k in keys))


# ---------------------------------------------------------------- probes
GB_BW = 2 * 1024 ** 3  # bytes of the bandwidth hog's source (and destination) buffer


class Probe:
    """The workloads of the mechanism probes, built lazily per partition."""

    def __init__(s, parts):
        s.parts = parts
        s.cache = {}
        s.models = {}

    def model(s, kind):
        if kind not in s.models:
            t = time.time()
            if kind == "asr":
                s.models[kind] = init_model(gb.ASR)
            elif kind == "tts":
                s.models[kind] = init_model(gb.TTS)
            else:
                s.models[kind] = init_model(gb.LLM, slots=1, tmax=512)
            log(f"built {kind} in {time.time() - t:.1f}s")
        return s.models[kind]

    def work(s, kind, pk):
        """(hog, fn, unit): fn enqueues one call on the current stream; unit = bytes or flops."""
        key = (kind, pk)
        if key in s.cache:
            return s.cache[key]
        p = s.parts[pk]
        with torch.cuda.stream(p.stream):
            if kind == "bw":
                src = torch.empty(GB_BW // 4, device=gb.DEV, dtype=torch.float32).fill_(1.0)
                dst = torch.empty_like(src)
                w = (True, lambda: torch.mul(src, 1.0001, out=dst), 2 * GB_BW)
            elif kind == "mm":
                N = 8192
                A = torch.randn(N, N, device=gb.DEV, dtype=DT)
                B = torch.randn(N, N, device=gb.DEV, dtype=DT)
                C = torch.empty(N, N, device=gb.DEV, dtype=DT)
                w = (True, lambda: torch.matmul(A, B, out=C), 2 * N ** 3)
            else:
                m = s.model(kind)
                POOL[0] = None
                if kind == "asr":   # one streaming chunk of 0.16 s at batch 1 (42 conformer layers)
                    g = SGraph(m._run, torch.zeros(1, 80, 16, device=gb.DEV, dtype=DT))
                elif kind == "tts":  # one decoder frame step at batch 1, context bucket 128
                    h, hd, L = m.h, m.hd, len(m.dec)
                    mk = [torch.zeros(1, h, m.CMAX, hd, device=gb.DEV, dtype=DT) for _ in range(L)]
                    mv = [torch.zeros(1, h, m.CMAX, hd, device=gb.DEV, dtype=DT) for _ in range(L)]
                    kc = [torch.zeros(1, h, m.TB[-1], hd, device=gb.DEV, dtype=DT) for _ in range(L)]
                    vc = [torch.zeros(1, h, m.TB[-1], hd, device=gb.DEV, dtype=DT) for _ in range(L)]
                    tok = torch.zeros(1, m.books, dtype=torch.long, device=gb.DEV)
                    ln = torch.full((1,), 60, dtype=torch.long, device=gb.DEV)
                    g = SGraph(lambda t, n: m._step(t, n, mk, mv, kc, vc, 128), tok, ln)
                    # The caches are not graph inputs: keep them alive as long as the graph
                    # (freed, their memory was reused by the next allocation and the replay read
                    # it: an illegal address beside the bandwidth hog, 2026-12-07 session).
                    g.keep = (mk, mv, kc, vc)
                else:                # one LLM decode step at batch 1, context bucket 512
                    ln = torch.full((1,), 300, dtype=torch.long, device=gb.DEV)
                    m.T_of = {id(ln): 512}
                    g = SGraph(m._decode, torch.zeros(1, 1, dtype=torch.long, device=gb.DEV), ln)
                w = (False, g.g.replay, None)
                s.cache[key + ("graph",)] = g
            p.stream.synchronize()
        s.cache[key] = w
        return w


def client_thread(w, st, bar, stop, rec, err):
    hog, fn, _ = w
    q = []
    try:
        with torch.cuda.stream(st):
            for _ in range(2):
                fn()
            st.synchronize()
            bar.wait()
            if hog:
                while not stop.is_set():
                    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    h = time.perf_counter()
                    e0.record(st); fn(); e1.record(st)
                    q.append((h, None, e0, e1))
                    if len(q) >= 4:
                        q[-4][3].synchronize()
            else:
                while not stop.is_set():
                    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    h0 = time.perf_counter()
                    e0.record(st); fn(); e1.record(st)
                    st.synchronize()
                    q.append((h0, time.perf_counter(), e0, e1))
            st.synchronize()
    except Exception:
        err.append(traceback.format_exc())
        try:
            bar.abort()
        except Exception:
            pass
    rec.extend(q)


def conditions():
    """(id, [(client, partition key), ...]) in priority order (a deadline cuts the tail)."""
    one = lambda k, p: (f"{k}@{p}", [(k, p)])
    two = lambda a, pa, b, pb: (f"{a}@{pa}+{b}@{pb}", [(a, pa), (b, pb)])
    out = [("idle", [])]
    out += [one(k, p) for k in ("mm", "bw") for p in ("full", "p32", "r32", "p64", "r64")]
    out += [two(*x) for x in [("mm", "p32", "mm", "r32"), ("mm", "p64", "mm", "r64"), ("bw", "p32", "bw", "r32"),
                              ("bw", "p64", "bw", "r64"), ("mm", "p32", "bw", "r32"), ("bw", "p32", "mm", "r32"),
                              ("bw", "p64", "mm", "r64"), ("mm", "p64", "bw", "r64")]]
    out += [one(k, p) for k, p in [("asr", "p64"), ("tts", "p64"), ("llm", "r64"), ("asr", "p32"), ("tts", "p32"),
                                   ("llm", "r32"), ("asr", "full"), ("tts", "full"), ("llm", "full")]]
    out += [two(*x) for x in [
        ("asr", "p64", "bw", "r64"), ("asr", "p64", "mm", "r64"), ("tts", "p64", "bw", "r64"), ("tts", "p64", "mm", "r64"),
        ("llm", "r64", "bw", "p64"), ("llm", "r64", "mm", "p64"), ("asr", "p32", "bw", "r32"), ("asr", "p32", "mm", "r32"),
        ("tts", "p32", "bw", "r32"), ("tts", "p32", "mm", "r32"), ("llm", "r32", "bw", "p32"), ("llm", "r32", "mm", "p32"),
        ("asr", "p64", "tts", "r64"), ("asr", "p64", "llm", "r64"), ("tts", "p64", "llm", "r64"), ("asr", "p32", "llm", "r32"),
        ("tts", "p32", "llm", "r32"), ("tts", "p32", "asr", "r32")]]
    out += [one(k, p) for k, p in [("asr", "r64"), ("tts", "r64"), ("llm", "p64"), ("asr", "r32"), ("tts", "r32"),
                                   ("llm", "p32")]]
    out += [two(*x) for x in [("asr", "p64", "asr", "r64"), ("asr", "r32", "bw", "p32"), ("asr", "r32", "mm", "p32")]]
    return out


def cmd_probe(a):
    sys.setswitchinterval(2e-4)
    outdir = os.path.abspath(a.outdir)
    os.makedirs(outdir, exist_ok=True)
    gpu_csv(os.path.join(outdir, "gpu.csv"))
    parts = make_parts()
    with open(os.path.join(outdir, "partitions.json"), "w") as fh:
        json.dump({k: p.info() for k, p in parts.items()}, fh, indent=1)
    sm = Sampler(0.05)
    sm.start()
    pr = Probe(parts)
    conds = conditions()
    if a.only:
        conds = [c for c in conds if c[0] in a.only.split(",")]
    rows, raw, cond_rows, errors = [], [], [], []
    D = a.dur
    t_begin = time.time()
    for cid, clients in conds:
        if a.deadline and time.time() - T_START > a.deadline:
            log("deadline: skipping", cid)
            continue
        try:
            works = [pr.work(k, p) for k, p in clients]
        except Exception:
            errors.append((cid, traceback.format_exc()))
            log("BUILD FAILED", cid, errors[-1][1][-800:])
            continue
        torch.cuda.synchronize()
        bar = threading.Barrier(len(clients) + 1)
        stop = threading.Event()
        recs = [[] for _ in clients]
        errs = []
        ths = [threading.Thread(target=client_thread, args=(w, parts[p].stream, bar, stop, recs[i], errs), daemon=True)
               for i, (w, (k, p)) in enumerate(zip(works, clients))]
        for t in ths:
            t.start()
        try:
            bar.wait(timeout=60)
        except threading.BrokenBarrierError:
            pass
        t_go = time.perf_counter()
        time.sleep(D)
        stop.set()
        t_stop = time.perf_counter()
        for t in ths:
            t.join(timeout=60)
        if errs:
            errors.append((cid, "\n".join(errs)))
            log("CLIENT FAILED", cid, errs[0][-800:])
            continue
        cw = sm.window(t_go + 0.15, t_stop)
        pw = sm.window(t_go + D / 2, t_stop)
        busy = sum(parts[p].sms for _, p in clients)
        crow = dict(condition=cid, clients="+".join(f"{k}@{parts[p].sms}" for k, p in clients), busy_sms=busy,
                    sm_clock_mhz_mean=r(cw["clock"], 1), sm_clock_mhz_min=cw["clock_min"],
                    power_w_mean=r(pw["power"], 1), power_inst_w_mean=r(pw["power_inst"], 1), samples=cw["n"])
        for i, ((k, p), rec) in enumerate(zip(clients, recs)):
            sel = [x for x in rec if t_go + 0.1 <= x[0] <= t_stop - 0.02]
            g = [x[2].elapsed_time(x[3]) for x in sel]
            hst = [(x[1] - x[0]) * 1e3 for x in sel if x[1] is not None]
            nb = [c for j, c in enumerate(clients) if j != i]
            unit = works[i][2]
            mm_ = mean(g)
            row = dict(condition=cid, client=k, partition=p, partition_sms=parts[p].sms,
                       neighbour=nb[0][0] if nb else "none", neighbour_sms=parts[nb[0][1]].sms if nb else 0,
                       calls=len(g), mean_ms=r(mm_), p50_ms=r(pctl(g, 0.5)), p95_ms=r(pctl(g, 0.95)),
                       host_mean_ms=r(mean(hst)) if hst else None,
                       achieved_gbps=r(unit / (mm_ / 1e3) / 1e9, 1) if k == "bw" and g else None,
                       tflops=r(unit / (mm_ / 1e3) / 1e12, 1) if k == "mm" and g else None,
                       sm_clock_mhz_mean=crow["sm_clock_mhz_mean"], power_w_mean=crow["power_w_mean"],
                       power_inst_w_mean=crow["power_inst_w_mean"])
            if k == "mm" and g:
                row["tflops_per_sm"] = r(row["tflops"] / parts[p].sms, 3)
            rows.append(row)
            for j, x in enumerate(sel):
                raw.append((cid, k, p, j, round(x[0] - t_go, 6), round(g[j], 5),
                            round((x[1] - x[0]) * 1e3, 5) if x[1] is not None else ""))
        cond_rows.append(crow)
        log(cid, [(x["client"], x["partition_sms"], x["calls"], x["p50_ms"], x.get("achieved_gbps") or x.get("tflops"))
                  for x in rows[-len(clients):]], "clk", crow["sm_clock_mhz_mean"], "W", crow["power_w_mean"], crow["power_inst_w_mean"])
        if len(cond_rows) % 8 == 0:
            write_probe(outdir, rows, raw, cond_rows, errors, sm, t_begin)
    sm.halt.set()
    write_probe(outdir, rows, raw, cond_rows, errors, sm, t_begin)
    fams = [("bw", "bandwidth"), ("mm", "compute"), ("asr", "latency"), ("tts", "latency"), ("llm", "latency")]
    print("condition\tclient\tsms\tneighbour\tnsms\tcalls\tp50_ms\tgbps|tflops\tclk\tW")
    for x in rows:
        print(f"{x['condition']}\t{x['client']}\t{x['partition_sms']}\t{x['neighbour']}\t{x['neighbour_sms']}\t{x['calls']}\t"
              f"{x['p50_ms']}\t{x.get('achieved_gbps') or x.get('tflops') or ''}\t{x['sm_clock_mhz_mean']}\t{x['power_w_mean']}")
    return 0 if not errors else 2


def write_probe(outdir, rows, raw, cond_rows, errors, sm, t_begin):
    fam = {"bw": "probe_bandwidth.csv", "mm": "probe_compute.csv", "asr": "probe_latency.csv",
           "tts": "probe_latency.csv", "llm": "probe_latency.csv"}
    cols = ["condition", "client", "partition", "partition_sms", "neighbour", "neighbour_sms", "calls", "mean_ms", "p50_ms",
            "p95_ms", "host_mean_ms", "achieved_gbps", "tflops", "tflops_per_sm", "sm_clock_mhz_mean", "power_w_mean",
            "power_inst_w_mean"]
    for f in set(fam.values()):
        sel = [x for x in rows if fam[x["client"]] == f]
        c = [k for k in cols if any(x.get(k) is not None for x in sel)]
        with open(os.path.join(outdir, f), "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=c, extrasaction="ignore")
            w.writeheader(); w.writerows(sel)
    if cond_rows:
        with open(os.path.join(outdir, "probe_power.csv"), "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(cond_rows[0].keys()))
            w.writeheader(); w.writerows(cond_rows)
    with gzip.open(os.path.join(outdir, "probe_calls.csv.gz"), "wt", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["condition", "client", "partition", "call", "host_start_s", "gpu_ms", "host_ms"])
        w.writerows(raw)
    with gzip.open(os.path.join(outdir, "probe_clocks.csv.gz"), "wt", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time_s", "sm_clock_mhz", "power_w", "power_inst_w"])
        for x in list(sm.samples):
            w.writerow([round(x[0] - t_begin, 4), x[2], round(x[3], 2), "" if x[4] is None else round(x[4], 2)])
    with open(os.path.join(outdir, "errors.txt"), "w") as fh:
        for cid, e in errors:
            fh.write(f"== {cid}\n{e}\n")
    pack(outdir)


# ---------------------------------------------------------------- concurrent serving
RATES = {"asr": {"L": 60.0, "H": 140.0, "S": 140.0}, "tts": {"L": 2.5, "H": 5.5, "S": 5.5},
         "llm": {"L": 0.4, "H": 1.2, "S": 1.5}}
SEEDS = {("asr", "L"): 71, ("asr", "H"): 72, ("tts", "L"): 73, ("tts", "H"): 74, ("llm", "L"): 75, ("llm", "H"): 81,
         ("asr", "S"): 91, ("tts", "S"): 92, ("llm", "S"): 93}
# (model, partition key) pairs of the concurrent runs: split 64 (p64 | r64) and split 32 (p32 | r32)
PAIRS = [
    [("asr", "p64"), ("tts", "r64")],
    [("asr", "p64"), ("llm", "r64")],
    [("tts", "p64"), ("llm", "r64")],
    [("asr", "r32"), ("tts", "p32")],
    [("asr", "p32"), ("llm", "r32")],
    [("tts", "p32"), ("llm", "r32")],
]
ATTRS = {"asr": ["g"], "tts": ["st", "g"], "llm": ["T_of", "gp", "gd"]}


def run_list(groups, parts):
    """[(folder, [(model, part key)], load, mode)]; mode 'thread' or 'proc' (gpubench serve subprocess)."""
    out = []
    sms = lambda pk: parts[pk].sms
    for grp in groups:
        if grp in ("H", "L", "r2", "S"):
            load = "H" if grp == "r2" else grp
            pairs = [PAIRS[i] for i in (4, 0, 2, 5, 1, 3)] if grp != "S" else [PAIRS[0], PAIRS[1]]
            seen = []
            for pr in pairs:  # each pair, then the alone runs of its servers not run yet
                name = f"sp_{pr[0][0]}_{pr[1][0]}_{sms(pr[0][1])}+{sms(pr[1][1])}_{load}" + ("_r2" if grp == "r2" else "")
                out.append((name, pr, load, "thread"))
                if grp in ("H", "L"):
                    for m, pk in pr:
                        if (m, pk) not in seen:
                            seen.append((m, pk))
                            out.append((f"alone_{m}_{sms(pk)}_{load}", [(m, pk)], load, "thread"))
            if grp == "S":
                out.append((f"alone_asr_{sms('p64')}_S", [("asr", "p64")], "S", "thread"))
        elif grp == "gil":
            out.append((f"alone_asr_{sms('full')}_H", [("asr", "full")], "H", "thread"))
            out.append((f"proc_asr_{sms('full')}_H", [("asr", "full")], "H", "proc"))
        else:
            raise SystemExit(f"unknown run group {grp}")
    return out


def write_trace(path, kind, load, dur):
    rows = gb.make_trace(kind, RATES[kind][load], dur, SEEDS[kind, load])
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        w.writeheader(); w.writerows(rows)


def read_trace(path):
    with open(path) as fh:
        return [{k: (float(v) if k in ("arrival_s", "audio_s") else int(v)) for k, v in x.items()} for x in csv.DictReader(fh)]


def summarize(d, m, sms):
    with open(os.path.join(d, f"{m}.requests.csv")) as fh:
        done = list(csv.DictReader(fh))
    with open(os.path.join(d, f"{m}.batches.csv")) as fh:
        bt = list(csv.DictReader(fh))
    lat = sorted(float(x["finish_s"]) - float(x["arrival_s"]) for x in done)
    busy = sum(float(b["end_s"]) - float(b["start_s"]) for b in bt)
    span = max(float(x["finish_s"]) for x in done)
    s = dict(kind=m, n=len(done), span_s=round(span, 2), thr=round(len(done) / span, 3),
             p50=round(lat[len(lat) // 2], 3), p95=round(lat[int(len(lat) * 0.95)], 3), busy_frac=round(busy / span, 3), sms=sms)
    # host-measured call time minus its GPU time (CUDA events): launch overhead, GIL waits
    cpath = os.path.join(d, f"{m}.calls.csv")
    if os.path.exists(cpath):
        beg, end = {}, {}
        with open(cpath) as fh:
            for x in csv.DictReader(fh):
                if x["part"] == "begin":
                    beg[int(x["call"])] = float(x["gpu_s"])
                elif x["part"] == "end":
                    end[int(x["call"])] = float(x["gpu_s"])
        over = []
        for k, b in enumerate(bt):
            if k in beg and k in end:
                over.append((float(b["end_s"]) - float(b["start_s"]) - (end[k] - beg[k])) * 1e3)
        if over:
            s["host_minus_gpu_ms_p50"] = round(pctl(over, 0.5), 3)
            s["host_minus_gpu_ms_p95"] = round(pctl(over, 0.95), 3)
    return s


def serve_thread(kind, part, rows, bar, prefix, events, errs):
    try:
        with torch.cuda.stream(part.stream):
            gb.serve(kind, rows, bar, prefix, 16, events, part.sms)
    except BaseException:
        errs.append(f"{kind}: " + traceback.format_exc())
        open(os.path.join(bar, "ready." + kind), "w").close()


def cmd_serve(a):
    sys.setswitchinterval(2e-4)
    outdir = os.path.abspath(a.outdir)
    os.makedirs(outdir, exist_ok=True)
    gpu_csv(os.path.join(outdir, "gpu.csv"))
    parts = make_parts()
    with open(os.path.join(outdir, "partitions.json"), "w") as fh:
        json.dump({k: p.info() for k, p in parts.items()}, fh, indent=1)
    runs = [x for x in run_list(a.runs, parts) if x[0] not in set(a.skip.split(","))]
    log("runs:", [x[0] for x in runs])
    tdir = os.path.join(outdir, "traces")
    os.makedirs(tdir, exist_ok=True)
    for _, servers, load, _ in runs:
        for m, _ in servers:
            p = os.path.join(tdir, f"trace_{m}_{load}.csv")
            if not os.path.exists(p):
                write_trace(p, m, load, a.dur if load != "S" else 2.0)
    # models (weights once) and graph sets per (model, partition), captured on that partition
    gb.Graph = SGraph
    gb.sync = lambda: torch.cuda.current_stream().synchronize()
    models, sets = {}, {}
    gb.build = lambda kind, chunks=False: models[kind]

    def ensure(m, pk):
        """Build model m (once) and capture its graph set on partition pk (once)."""
        if (m, pk) in sets:
            return
        t = time.time()
        if m not in models:
            models[m] = init_model({"asr": gb.ASR, "tts": gb.TTS, "llm": gb.LLM}[m])
        p = parts[pk]
        with torch.cuda.stream(p.stream):
            POOL[0] = torch.cuda.graph_pool_handle()
            models[m].capture()
            p.stream.synchronize()
        sets[m, pk] = {x: getattr(models[m], x) for x in ATTRS[m]}
        log(f"captured {m} on {pk} ({p.sms} SMs) in {time.time() - t:.1f}s; GPU memory {torch.cuda.memory_allocated() / 1e9:.1f} GB")

    torch.cuda.synchronize()
    sm = Sampler(0.05)
    sm.start()
    table = []
    for name, servers, load, mode in runs:
        est = (a.dur if load != "S" else 2.0) + (12 if any(m == "llm" for m, _ in servers) else 4)
        if mode == "thread":
            est += sum((25 if m == "llm" and m not in models else 12 if m == "llm" else 6)
                       for m, pk in servers if (m, pk) not in sets)
        if a.deadline and time.time() - T_START + est > a.deadline:
            log("deadline: skipping", name)
            continue
        d = os.path.join(outdir, name)
        os.makedirs(d, exist_ok=True)
        for m, _ in servers:
            shutil.copyfile(os.path.join(tdir, f"trace_{m}_{load}.csv"), os.path.join(d, f"trace_{m}.csv"))
        with open(os.path.join(d, "partitions.csv"), "w") as fh:
            fh.write("model,sms\n")
            for m, pk in servers:
                fh.write(f"{m},{parts[pk].sms}\n")
        bar = tempfile.mkdtemp(prefix="barrier.")
        errs, ths, procs = [], [], []
        t_run = time.time()
        if mode == "thread":
            try:
                for m, pk in servers:
                    ensure(m, pk)
            except Exception:
                log("CAPTURE FAILED", name, traceback.format_exc()[-1500:])
                with open(os.path.join(d, "errors.txt"), "w") as fh:
                    fh.write(traceback.format_exc())
                pack(outdir)
                continue
            for m, pk in servers:
                for x, v in sets[m, pk].items():
                    setattr(models[m], x, v)
            torch.cuda.synchronize()
            for m, pk in servers:
                rows = read_trace(os.path.join(d, f"trace_{m}.csv"))
                th = threading.Thread(target=serve_thread, args=(m, parts[pk], rows, bar, os.path.join(d, m), not a.no_events, errs),
                                      daemon=True)
                th.start()
                ths.append(th)
        else:
            for m, pk in servers:
                fh = open(os.path.join(d, f"{m}.stdout.txt"), "w")
                argv = [sys.executable, os.path.join(HERE, "gpubench.py"), "serve", m, os.path.join(d, f"trace_{m}.csv"), bar,
                        os.path.join(d, m)] + ([] if a.no_events else ["--events"])
                procs.append((subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT,
                                               env=dict(os.environ, PYTHONUNBUFFERED="1")), fh))
        t0 = time.time()
        ok = True
        while not all(os.path.exists(os.path.join(bar, "ready." + m)) for m, _ in servers):
            if time.time() - t0 > 180 or any(p.poll() is not None for p, _ in procs):
                ok = False
                break
            time.sleep(0.01)
        if errs or not ok:
            log("RUN FAILED before go:", name, errs, [p.poll() for p, _ in procs])
            for p, _ in procs:
                p.kill()
            with open(os.path.join(d, "errors.txt"), "w") as fh:
                fh.write("\n".join(errs))
            for th in ths:
                th.join(timeout=5)
            pack(outdir)
            continue
        t_go = time.time() + 0.5
        with open(os.path.join(bar, "go.tmp"), "w") as fh:
            fh.write(repr(t_go))
        os.replace(os.path.join(bar, "go.tmp"), os.path.join(bar, "go"))
        for th in ths:
            th.join(timeout=a.dur + 240)
        for p, fh in procs:
            try:
                p.wait(timeout=a.dur + 240)
            except subprocess.TimeoutExpired:
                p.kill()
            fh.close()
        t_end = time.time()
        gpu_csv(os.path.join(d, "gpu.csv"))
        with open(os.path.join(d, "clocks.csv"), "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["time_s", "sm_clock_mhz", "power_w"])
            for x in list(sm.samples):
                if t_go - 0.5 <= x[0] <= t_end:
                    w.writerow([round(x[0] - t_go, 4), x[2], round(x[3], 2)])
        if errs:
            with open(os.path.join(d, "errors.txt"), "w") as fh:
                fh.write("\n".join(errs))
            log("RUN ERRORS:", name, errs)
        lines = []
        for m, pk in servers:
            try:
                s = summarize(d, m, parts[pk].sms)
                lines.append(json.dumps(s))
                table.append(dict(run=name, **s))
            except Exception:
                log("summary failed", name, m, traceback.format_exc()[-500:])
            for ext in (".calls.csv",):
                f = os.path.join(d, m + ext)
                if os.path.exists(f):
                    with open(f, "rb") as src, gzip.open(f + ".gz", "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    os.remove(f)
        with open(os.path.join(d, "summary.txt"), "w") as fh:
            fh.write("\n".join(lines) + "\n")
        shutil.rmtree(bar, ignore_errors=True)
        log(f"{name}: {time.time() - t_run:.0f}s", " | ".join(lines))
        pack(outdir)
    sm.halt.set()
    with open(os.path.join(outdir, "runs_summary.csv"), "w", newline="") as fh:
        keys = list(dict.fromkeys(k for x in table for k in x))
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader(); w.writerows(table)
    pack(outdir)
    print("run\tmodel\tsms\tn\tp50\tp95\tbusy\thost-gpu p50/p95 ms")
    for x in table:
        print(f"{x['run']}\t{x['kind']}\t{x['sms']}\t{x['n']}\t{x['p50']}\t{x['p95']}\t{x['busy_frac']}\t"
              f"{x.get('host_minus_gpu_ms_p50')}/{x.get('host_minus_gpu_ms_p95')}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify"); v.add_argument("outdir")
    p = sub.add_parser("probe"); p.add_argument("outdir"); p.add_argument("--dur", type=float, default=1.2)
    p.add_argument("--only", default="", help="comma-separated condition ids")
    p.add_argument("--deadline", type=float, default=0, help="start no condition after this many seconds")
    s = sub.add_parser("serve"); s.add_argument("outdir"); s.add_argument("--runs", nargs="+", required=True,
                                                                          help="groups: H L r2 gil S")
    s.add_argument("--dur", type=float, default=10.0, help="trace duration (s)")
    s.add_argument("--deadline", type=float, default=0, help="start no run that would end after this many seconds")
    s.add_argument("--no-events", action="store_true")
    s.add_argument("--skip", default="", help="comma-separated run folders not to run")
    a = ap.parse_args()
    return {"verify": cmd_verify, "probe": cmd_probe, "serve": cmd_serve}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
