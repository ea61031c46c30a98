"""Real measurements on one GPU: batch-latency profiles and open-loop serving
runs of three voice-AI model shapes (ASR encoder, autoregressive TTS, 8B LLM),
alone and co-located as separate processes (the GPU's own time-slicing).

Version 2 of traces/h100/gpubench.py (which produced traces/h100 and is kept
unchanged). Additions, none of which changes a device setting:
  --sms N          restrict this process to N SMs with a CUDA green context
                   (created and made current before the model is built);
  profile --chunks ASR encoder calls on short streaming chunks (op encode_chunk);
  serve --events   CUDA events around every GPU call part, written to
                   <out>.calls.csv on a GPU timeline shared by all processes;
  tsprobe          synthetic two-process probes of the driver's time-slicing.
The model shapes, graphs, padding and serving policy are unchanged.

Weights are random (no weights can be fetched); the shapes follow the public
model cards: Parakeet-1.1B FastConformer encoder, Magpie-like encoder-decoder
TTS, Llama-3.1-8B decoder.  Timings depend on shapes, not on weight values.
"""
import argparse, csv, json, math, os, random, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F

DEV = "cuda"
DT = torch.bfloat16


def sync():
    torch.cuda.synchronize()


GREEN = None


def green(num_sms):
    """Restrict this process to `num_sms` SMs: a CUDA green context made current before any
    model is built. Only this process is affected; no device setting changes."""
    global GREEN
    from torch.cuda import green_contexts as gc
    GREEN = gc.GreenContext.create(num_sms, 0)
    for name in ("set_context", "make_current"):
        if hasattr(GREEN, name):
            getattr(GREEN, name)()
            return
    raise RuntimeError("this PyTorch has no way to make a green context current")


class Calls:
    """CUDA events around the parts of every GPU call. Each mark is an event at the current
    stream position plus the host time at which it was enqueued. At the end every event is
    placed on this process's GPU timeline: seconds from the common start (t0), through a
    reference event recorded on the idle stream at t0."""

    def __init__(s, on):
        s.on, s.rows, s.ref = on, [], None

    def start(s, t0):
        if s.on:
            sync()
            s.ref = torch.cuda.Event(enable_timing=True)
            s.ref.record()
            s.ref_host = time.perf_counter() - t0

    def mark(s, call, part, t0):
        if s.on:
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            s.rows.append((call, part, time.perf_counter() - t0, e))

    def write(s, path):
        if not s.on:
            return
        sync()
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["call", "part", "host_s", "gpu_s"])
            for call, part, h, e in s.rows:
                w.writerow([call, part, f"{h:.7f}", f"{s.ref_host + s.ref.elapsed_time(e) / 1e3:.7f}"])


POOL = None


class Graph:
    """A CUDA graph of fn over fixed input buffers, as serving engines replay them."""

    def __init__(self, fn, *inputs):
        global POOL
        if POOL is None:
            POOL = torch.cuda.graph_pool_handle()
        self.inputs = inputs
        st = torch.cuda.Stream()
        st.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(st):
            for _ in range(2):
                fn(*inputs)
        torch.cuda.current_stream().wait_stream(st)
        self.g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.g, pool=POOL):
            self.out = fn(*inputs)

    def __call__(self, *xs):
        for buf, x in zip(self.inputs, xs):
            buf.copy_(x)
        self.g.replay()
        return self.out


def bucket(x, sizes):
    for b in sizes:
        if x <= b:
            return b
    raise ValueError(f"{x} exceeds the largest bucket {sizes[-1]}")


class RMSNorm(nn.Module):
    def __init__(s, d):
        super().__init__()
        s.w = nn.Parameter(torch.ones(d))

    def forward(s, x):
        return F.rms_norm(x, (x.shape[-1],), s.w)


class SelfAttn(nn.Module):
    def __init__(s, d, h, kvh):
        super().__init__()
        s.h, s.kvh, s.hd = h, kvh, d // h
        s.qkv = nn.Linear(d, (h + 2 * kvh) * s.hd, bias=False)
        s.o = nn.Linear(h * s.hd, d, bias=False)

    def split(s, x):
        B, T, _ = x.shape
        q, k, v = s.qkv(x).split([s.h * s.hd, s.kvh * s.hd, s.kvh * s.hd], -1)
        q = q.view(B, T, s.h, s.hd).transpose(1, 2)
        k = k.view(B, T, s.kvh, s.hd).transpose(1, 2)
        v = v.view(B, T, s.kvh, s.hd).transpose(1, 2)
        return q, k, v

    def full(s, x, causal):
        q, k, v = s.split(x)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=s.kvh != s.h)
        return s.o(y.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)), k, v

    def step(s, x, kc, vc, lens, mask):
        # x [B,1,d]; kc/vc [B,kvh,T,hd]; write this step's k,v at lens[b]
        q, k, v = s.split(x)
        B = x.shape[0]
        idx = torch.arange(B, device=x.device)
        kc[idx, :, lens] = k[:, :, 0]
        vc[idx, :, lens] = v[:, :, 0]
        T = mask.shape[-1]
        y = F.scaled_dot_product_attention(q, kc[:, :, :T], vc[:, :, :T], attn_mask=mask,
                                           enable_gqa=s.kvh != s.h)
        return s.o(y.transpose(1, 2).reshape(B, 1, -1))


class CrossAttn(nn.Module):
    def __init__(s, d, h):
        super().__init__()
        s.h, s.hd = h, d // h
        s.q = nn.Linear(d, d, bias=False)
        s.kv = nn.Linear(d, 2 * d, bias=False)
        s.o = nn.Linear(d, d, bias=False)

    def mem(s, m):
        B, T, d = m.shape
        k, v = s.kv(m).chunk(2, -1)
        return k.view(B, T, s.h, s.hd).transpose(1, 2), v.view(B, T, s.h, s.hd).transpose(1, 2)

    def forward(s, x, k, v):
        B, T, d = x.shape
        q = s.q(x).view(B, T, s.h, s.hd).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v)
        return s.o(y.transpose(1, 2).reshape(B, T, d))


class MLP(nn.Module):
    def __init__(s, d, f, gated=True):
        super().__init__()
        s.gated = gated
        s.up = nn.Linear(d, (2 if gated else 1) * f, bias=False)
        s.down = nn.Linear(f, d, bias=False)

    def forward(s, x):
        if s.gated:
            a, b = s.up(x).chunk(2, -1)
            return s.down(F.silu(a) * b)
        return s.down(F.silu(s.up(x)))


# ---------------------------------------------------------------- LLM (Llama-3.1-8B shape)
class DecoderLayer(nn.Module):
    def __init__(s, d, h, kvh, f):
        super().__init__()
        s.n1, s.att, s.n2, s.mlp = RMSNorm(d), SelfAttn(d, h, kvh), RMSNorm(d), MLP(d, f)


class LLM(nn.Module):
    def __init__(s, d=4096, L=32, h=32, kvh=8, f=14336, vocab=128256, slots=32, tmax=3072):
        super().__init__()
        s.emb = nn.Embedding(vocab, d)
        s.layers = nn.ModuleList([DecoderLayer(d, h, kvh, f) for _ in range(L)])
        s.norm = RMSNorm(d)
        s.head = nn.Linear(d, vocab, bias=False)
        s.vocab = vocab
        hd = d // h
        s.kc = [torch.zeros(slots, kvh, tmax, hd, device=DEV, dtype=DT) for _ in range(L)]
        s.vc = [torch.zeros(slots, kvh, tmax, hd, device=DEV, dtype=DT) for _ in range(L)]

    PB = [128, 256, 512, 1024, 2048]     # prompt buckets (padded)
    BB = [1, 2, 4, 8, 16, 32]            # decode batch buckets
    TB = [512, 1024, 2048, 3072]         # decode context buckets

    @torch.no_grad()
    def _prefill(s, ids, slot):
        P = ids.shape[1]
        x = s.emb(ids)
        for i, l in enumerate(s.layers):
            y, k, v = l.att.full(l.n1(x), causal=True)
            s.kc[i][:, :, :P].index_copy_(0, slot, k)
            s.vc[i][:, :, :P].index_copy_(0, slot, v)
            x = x + y
            x = x + l.mlp(l.n2(x))
        return s.head(s.norm(x[:, -1:])).argmax(-1)

    @torch.no_grad()
    def _decode(s, ids, ln):
        B = ids.shape[0]
        T = s.T_of[id(ln)]
        mask = (torch.arange(T, device=DEV)[None, :] <= ln[:, None]).view(B, 1, 1, T)
        x = s.emb(ids)
        for i, l in enumerate(s.layers):
            x = x + l.att.step(l.n1(x), s.kc[i][:B], s.vc[i][:B], ln, mask)
            x = x + l.mlp(l.n2(x))
        return s.head(s.norm(x)).argmax(-1)

    def capture(s):
        s.T_of, s.gp, s.gd = {}, {}, {}
        for P in s.PB:
            s.gp[P] = Graph(s._prefill, torch.zeros(1, P, dtype=torch.long, device=DEV),
                            torch.zeros(1, dtype=torch.long, device=DEV))
        for B in s.BB:
            for T in s.TB:
                ln = torch.zeros(B, dtype=torch.long, device=DEV)
                s.T_of[id(ln)] = T
                s.gd[B, T] = Graph(s._decode, torch.zeros(B, 1, dtype=torch.long, device=DEV), ln)

    def prefill(s, slot, P):
        Pb = bucket(P, s.PB)
        ids = torch.randint(0, s.vocab, (1, Pb), device=DEV)
        return s.gp[Pb](ids, torch.tensor([slot], device=DEV))

    def decode(s, lens, mark=None):
        n = len(lens)
        B, T = bucket(n, s.BB), bucket(max(lens) + 1, s.TB)
        ln = torch.tensor(lens + [0] * (B - n), device=DEV)
        if mark:
            mark("h2d")
        ids = torch.randint(0, s.vocab, (B, 1), device=DEV)
        return s.gd[B, T](ids, ln)

    def move(s, src, dst, n):
        for kc, vc in zip(s.kc, s.vc):
            kc[dst, :, :n] = kc[src, :, :n]
            vc[dst, :, :n] = vc[src, :, :n]


# ---------------------------------------------------------------- ASR (Parakeet-1.1B FastConformer shape)
class ConformerLayer(nn.Module):
    def __init__(s, d, h, f, k=9):
        super().__init__()
        s.n1, s.ff1 = RMSNorm(d), MLP(d, f, gated=False)
        s.n2, s.att = RMSNorm(d), SelfAttn(d, h, h)
        s.n3 = RMSNorm(d)
        s.pw1 = nn.Linear(d, 2 * d, bias=False)
        s.dw = nn.Conv1d(d, d, k, padding=k // 2, groups=d)
        s.pw2 = nn.Linear(d, d, bias=False)
        s.n4, s.ff2 = RMSNorm(d), MLP(d, f, gated=False)

    def forward(s, x):
        x = x + 0.5 * s.ff1(s.n1(x))
        x = x + s.att.full(s.n2(x), causal=False)[0]
        c = F.glu(s.pw1(s.n3(x)), -1)
        c = s.dw(c.transpose(1, 2)).transpose(1, 2)
        x = x + s.pw2(F.silu(c))
        return x + 0.5 * s.ff2(s.n4(x))


class ASR(nn.Module):
    FPS = 12.5  # encoder frames per audio second after 8x subsampling of 10 ms frames

    def __init__(s, d=1024, L=42, h=8, f=4096, vocab=1025):
        super().__init__()
        s.sub = nn.Conv1d(80, d, 8, stride=8)
        s.layers = nn.ModuleList([ConformerLayer(d, h, f) for _ in range(L)])
        s.ctc = nn.Linear(d, vocab)

    BB = [1, 2, 4, 8, 16, 32]
    SB = [5, 10, 20, 30]  # padded audio-length buckets (s)
    CB = [0.16, 0.32, 0.64, 1.28]  # streaming chunk lengths (s), unpadded graphs (profile --chunks)
    CBB = [1, 2, 4, 8, 16, 32, 64]

    @torch.no_grad()
    def _run(s, mel):
        x = s.sub(mel).transpose(1, 2)
        for l in s.layers:
            x = l(x)
        return s.ctc(x).argmax(-1)

    def capture(s, chunks=False):
        s.g = {(B, sec): Graph(s._run, torch.zeros(B, 80, sec * 100, device=DEV, dtype=DT))
               for B in s.BB for sec in s.SB}
        if chunks:
            for B in s.CBB:
                for sec in s.CB:
                    s.g[B, sec] = Graph(s._run, torch.zeros(B, 80, int(round(sec * 100)), device=DEV, dtype=DT))

    def run_chunk(s, B, sec):
        return s.g[B, sec](torch.randn(B, 80, int(round(sec * 100)), device=DEV, dtype=DT))

    def run(s, B, seconds):
        Bb, Sb = bucket(B, s.BB), bucket(seconds, s.SB)
        return s.g[Bb, Sb](torch.randn(Bb, 80, Sb * 100, device=DEV, dtype=DT))


# ---------------------------------------------------------------- TTS (Magpie-like encoder-decoder over codec frames)
class TTSDecLayer(nn.Module):
    def __init__(s, d, h, f):
        super().__init__()
        s.n1, s.att = RMSNorm(d), SelfAttn(d, h, h)
        s.n2, s.x = RMSNorm(d), CrossAttn(d, h)
        s.n3, s.mlp = RMSNorm(d), MLP(d, f)


class TTS(nn.Module):
    FPS = 21.5          # codec frames per audio second
    CHARS_PER_S = 15.0  # speaking rate

    def __init__(s, d=768, Le=6, Ld=12, h=12, f=3072, books=8, card=2048, fmax=1024):
        super().__init__()
        s.d, s.books, s.card = d, books, card
        s.temb = nn.Embedding(256, d)
        s.enc = nn.ModuleList([ConformerLayer(d, h, f) for _ in range(Le)])
        s.femb = nn.Embedding(books * card, d)
        s.dec = nn.ModuleList([TTSDecLayer(d, h, f) for _ in range(Ld)])
        s.norm = RMSNorm(d)
        s.out = nn.Linear(d, books * card, bias=False)
        s.voc = nn.ModuleList([nn.Conv1d(d if i == 0 else 512, 512, 7, padding=3) for i in range(6)])
        s.fmax = fmax
        s.hd = d // h
        s.h = h

    @staticmethod
    def frames(chars):
        return min(TTS.TB[-1] - 1, max(4, int(round(chars / TTS.CHARS_PER_S * TTS.FPS))))

    BB = [1, 2, 4, 8, 16]
    TB = [64, 128, 256, 512]   # decoder context buckets (frames)
    CMAX = 400                 # text padded to this many characters

    @torch.no_grad()
    def _step(s, tok, ln, mk, mv, kc, vc, T):
        B = tok.shape[0]
        mask = (torch.arange(T, device=DEV)[None, :] <= ln[:, None]).view(B, 1, 1, T)
        x = s.femb(tok).sum(1, keepdim=True)
        for i, l in enumerate(s.dec):
            x = x + l.att.step(l.n1(x), kc[i], vc[i], ln, mask)
            x = x + l.x(l.n2(x), mk[i], mv[i])
            x = x + l.mlp(l.n3(x))
        x = s.norm(x)
        logits = s.out(x).view(B, s.books, s.card)
        return logits.argmax(-1) + torch.arange(s.books, device=DEV) * s.card, x

    def capture(s):
        s.st, s.g = {}, {}
        for B in s.BB:
            mk = [torch.zeros(B, s.h, s.CMAX, s.hd, device=DEV, dtype=DT) for _ in s.dec]
            mv = [torch.zeros(B, s.h, s.CMAX, s.hd, device=DEV, dtype=DT) for _ in s.dec]
            kc = [torch.zeros(B, s.h, s.TB[-1], s.hd, device=DEV, dtype=DT) for _ in s.dec]
            vc = [torch.zeros(B, s.h, s.TB[-1], s.hd, device=DEV, dtype=DT) for _ in s.dec]
            tok = torch.zeros(B, s.books, dtype=torch.long, device=DEV)
            ln = torch.zeros(B, dtype=torch.long, device=DEV)
            s.st[B] = (tok, ln, mk, mv, kc, vc)
            for T in s.TB:
                s.g[B, T] = Graph(lambda t, n, T=T, mk=mk, mv=mv, kc=kc, vc=vc: s._step(t, n, mk, mv, kc, vc, T), tok, ln)

    @torch.no_grad()
    def run(s, B, chars, frames, mark=None):
        Bb = bucket(B, s.BB)
        tok, ln, mk, mv, kc, vc = s.st[Bb]
        t = torch.randint(0, 256, (Bb, s.CMAX), device=DEV)
        m = s.temb(t)
        for l in s.enc:
            m = l(m)
        for i, l in enumerate(s.dec):
            k, v = l.x.mem(m)
            mk[i].copy_(k); mv[i].copy_(v)
        nxt = torch.randint(0, s.books * s.card, (Bb, s.books), device=DEV)
        if mark:
            mark("enc")
        hs = []
        for p in range(frames):
            nxt, x = s.g[Bb, bucket(p + 1, s.TB)](nxt, torch.full((Bb,), p, device=DEV))
            hs.append(x.clone())
            if mark:
                mark("f")
        a = torch.cat(hs, 1).transpose(1, 2)
        for c in s.voc:
            a = F.silu(c(a))
        return a


def build(kind, chunks=False):
    torch.manual_seed(0)
    with torch.device(DEV):
        m = {"llm": LLM, "asr": ASR, "tts": TTS}[kind]()
    m = m.to(DT).eval()
    for p in m.parameters():
        p.requires_grad_(False)
        p.normal_(0, 0.02)
    if chunks:
        m.capture(chunks=True)
    else:
        m.capture()
    sync()
    return m


def params(m):
    return sum(p.numel() for p in m.parameters())


def timed(fn, reps=3):
    ts = []
    for _ in range(reps):
        sync(); t = time.perf_counter(); fn(); sync(); ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2]


# ---------------------------------------------------------------- profiles
def profile(kind, out, chunks=False, sms=None):
    t_start = time.perf_counter()
    m = build(kind, chunks=chunks and kind == "asr")
    rows = []
    info = dict(kind=kind, params=params(m), gpu=torch.cuda.get_device_name(), mem_gb=torch.cuda.memory_allocated() / 1e9,
                sms=sms, build_s=round(time.perf_counter() - t_start, 2))
    print(json.dumps(info), flush=True)
    if kind == "asr":
        m.run(2, 5); m.run(8, 10)
        for sec in [2, 5, 10, 20, 30]:
            for B in [1, 2, 4, 8, 16, 32]:
                t = timed(lambda: m.run(B, sec))
                rows.append(dict(model="asr", op="encode", batch=B, audio_s=sec, latency_ms=t * 1e3))
        if chunks:
            for sec in ASR.CB:
                for B in ASR.CBB:
                    t = timed(lambda: m.run_chunk(B, sec))
                    rows.append(dict(model="asr", op="encode_chunk", batch=B, audio_s=sec, latency_ms=t * 1e3))
    elif kind == "tts":
        m.run(2, 40, 20)
        for chars in [40, 120, 300]:
            fr = TTS.frames(chars)
            for B in [1, 2, 4, 8, 16]:
                t = timed(lambda: m.run(B, chars, fr), reps=2)
                rows.append(dict(model="tts", op="synthesize", batch=B, chars=chars, frames=fr, latency_ms=t * 1e3))
    else:
        m.prefill(0, 64); m.decode([64, 64])
        for P in [128, 256, 512, 1024, 2048]:
            t = timed(lambda: m.prefill(0, P))
            rows.append(dict(model="llm", op="prefill", batch=1, tokens=P, latency_ms=t * 1e3))
        for ctx in [256, 1024, 2048]:
            for B in [1, 2, 4, 8, 16, 32]:
                t = timed(lambda: m.decode([ctx] * B), reps=5)
                rows.append(dict(model="llm", op="decode_step", batch=B, context=ctx, latency_ms=t * 1e3))
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        w.writeheader(); w.writerows(rows)
    for r in rows:
        print(r, flush=True)
    print(json.dumps(dict(kind=kind, sms=sms, total_s=round(time.perf_counter() - t_start, 1))), flush=True)


# ---------------------------------------------------------------- open-loop serving
def make_trace(kind, rate, duration, seed):
    rng = random.Random(seed)
    t, rows, i = 0.0, [], 0
    while True:
        t += rng.expovariate(rate)
        if t > duration:
            break
        if kind == "asr":
            size = dict(audio_s=round(min(30.0, max(1.0, rng.lognormvariate(math.log(5.0), 0.6))), 2))
        elif kind == "tts":
            size = dict(chars=int(min(400, max(10, rng.lognormvariate(math.log(80), 0.6)))))
        else:
            size = dict(prompt_tokens=int(min(2048, max(32, rng.lognormvariate(math.log(600), 0.7)))),
                        output_tokens=int(min(512, max(8, rng.lognormvariate(math.log(150), 0.6)))))
        rows.append(dict(id=i, arrival_s=round(t, 6), **size))
        i += 1
    return rows


def serve(kind, trace, start_at, out, max_batch, events=False, sms=None):
    m = build(kind)
    calls = Calls(events)
    # warm-up
    if kind == "asr":
        m.run(4, 8)
    elif kind == "tts":
        m.run(2, 40, 10)
    else:
        m.prefill(0, 128); m.decode([128, 128])
    sync()
    # barrier: announce readiness, then wait for the driver's common start time
    open(os.path.join(start_at, "ready." + kind), "w").close()
    go = os.path.join(start_at, "go")
    while not os.path.exists(go):
        time.sleep(0.01)
    t_go = float(open(go).read())
    while time.time() < t_go:
        time.sleep(0.0005)
    t0 = time.perf_counter()
    t0_unix = time.time()
    clock = lambda: time.perf_counter() - t0
    calls.start(t0)
    mk = lambda k: (lambda part: calls.mark(k, part, t0))
    pending = list(trace)
    waiting, done, batches = [], [], []
    active = []  # llm: [req, length, remaining_tokens, start, first_token], compacted in cache slots
    while pending or waiting or active:
        now = clock()
        while pending and pending[0]["arrival_s"] <= now:
            waiting.append(pending.pop(0))
        if not waiting and not active:
            time.sleep(max(0.0, min(0.002, pending[0]["arrival_s"] - now)))
            continue
        if kind in ("asr", "tts"):
            batch = waiting[:max_batch]
            del waiting[:len(batch)]
            s = clock()
            k = len(batches)
            mk(k)("begin")
            if kind == "asr":
                sec = max(r["audio_s"] for r in batch)
                m.run(len(batch), sec)
                meta = dict(audio_s=sec)
            else:
                ch = max(r["chars"] for r in batch)
                fr = TTS.frames(ch)
                m.run(len(batch), ch, fr, mark=mk(k) if events else None)
                meta = dict(chars=ch, frames=fr)
            mk(k)("end")
            sync()
            e = clock()
            batches.append(dict(start_s=s, end_s=e, batch=len(batch), **meta))
            for r in batch:
                done.append(dict(r, start_s=round(s, 6), finish_s=round(e, 6), batch=len(batch)))
        else:
            # admit: prefill new requests one by one (prefill-first), then one decode step for all
            while waiting and len(active) < 32:
                r = waiting.pop(0)
                s = clock()
                k = len(batches)
                mk(k)("begin")
                m.prefill(len(active), r["prompt_tokens"])
                mk(k)("end")
                sync()
                e = clock()
                batches.append(dict(start_s=s, end_s=e, op="prefill", batch=1, tokens=r["prompt_tokens"]))
                active.append([r, r["prompt_tokens"], r["output_tokens"] - 1, s, e])
            if active:
                lens = [a[1] for a in active]
                s = clock()
                k = len(batches)
                mk(k)("begin")
                m.decode(lens, mark=mk(k) if events else None)
                mk(k)("end")
                sync()
                e = clock()
                batches.append(dict(start_s=s, end_s=e, op="decode", batch=len(lens), context=max(lens)))
                for a in active:
                    a[1] += 1
                    a[2] -= 1
                j = 0
                while j < len(active):
                    a = active[j]
                    if a[2] <= 0:
                        r = a[0]
                        done.append(dict(r, start_s=round(a[3], 6), first_token_s=round(a[4], 6), finish_s=round(e, 6)))
                        last = len(active) - 1
                        if j != last:
                            m.move(last, j, active[last][1])
                            active[j] = active[last]
                        active.pop()
                    else:
                        j += 1
    calls.write(out + ".calls.csv")
    if events:
        with open(out + ".meta.json", "w") as fh:
            json.dump(dict(kind=kind, t_go=t_go, t0_unix=t0_unix, sms=sms, gpu=torch.cuda.get_device_name()), fh)
    with open(out + ".requests.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(done[0].keys()))
        w.writeheader(); w.writerows(sorted(done, key=lambda r: r["id"]))
    with open(out + ".batches.csv", "w", newline="") as fh:
        keys = list(dict.fromkeys(k for b in batches for k in b))
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader(); w.writerows(batches)
    lat = sorted(r["finish_s"] - r["arrival_s"] for r in done)
    busy = sum(b["end_s"] - b["start_s"] for b in batches)
    span = max(r["finish_s"] for r in done)
    print(json.dumps(dict(kind=kind, n=len(done), span_s=round(span, 2), thr=round(len(done) / span, 3),
                          p50=round(lat[len(lat) // 2], 3), p95=round(lat[int(len(lat) * 0.95)], 3),
                          busy_frac=round(busy / span, 3))), flush=True)


# ---------------------------------------------------------------- green-context check and time-slicing probes
def greentest(sms):
    """Time one large bf16 matrix product, eager and as a replayed graph: with N SMs it should
    take about full/N times longer if the green context restricts this process."""
    a = torch.randn(8192, 8192, device=DEV, dtype=DT)
    b = torch.randn(8192, 8192, device=DEV, dtype=DT)
    g = Graph(lambda x, y: x @ y, a, b)
    eager = timed(lambda: a @ b, reps=5)
    graph = timed(lambda: g(a, b), reps=5)
    print(json.dumps(dict(sms=sms, eager_ms=round(eager * 1e3, 3), graph_ms=round(graph * 1e3, 3),
                          tflops_eager=round(2 * 8192 ** 3 / eager / 1e12, 1))), flush=True)


def barrier(start_at, name):
    open(os.path.join(start_at, "ready." + name), "w").close()
    go = os.path.join(start_at, "go")
    while not os.path.exists(go):
        time.sleep(0.01)
    t_go = float(open(go).read())
    while time.time() < t_go:
        pass
    return t_go


def tsprobe(spec, start_at, out, name, duration):
    """One side of a two-process time-slicing probe. SPEC:
      stream:K      back-to-back spin kernels of K us, an event after each, never waiting;
      sync:K:G      one K us kernel, synchronize, then G us of host time (a server's host gap);
      graph:N:K     back-to-back replays of a CUDA graph of N spin kernels of K us;
      h2d:G         a small synchronous host-to-device copy, then G us of host time;
      mm:N          back-to-back N x N bf16 matrix products (every SM busy).
    Writes <out>.calls.csv (call, part, host_s, gpu_s; parts begin/end) and <out>.meta.json."""
    f = spec.split(":")
    mode = f[0]
    torch.cuda._sleep(1000); sync()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ts = []
    for _ in range(5):
        e0.record(); torch.cuda._sleep(1_000_000); e1.record(); sync(); ts.append(e0.elapsed_time(e1))
    cyc_per_us = 1_000_000 / (sorted(ts)[2] * 1e3)
    cyc = lambda us: max(1, int(us * cyc_per_us))
    g = None
    if mode == "graph":
        n, k = int(f[1]), float(f[2])
        g = torch.cuda.CUDAGraph()
        st = torch.cuda.Stream()
        with torch.cuda.stream(st):
            torch.cuda._sleep(cyc(k))
        sync()
        with torch.cuda.graph(g):
            for _ in range(n):
                torch.cuda._sleep(cyc(k))
        sync()
    if mode == "mm":
        N = int(f[1])
        a = torch.randn(N, N, device=DEV, dtype=DT); b = torch.randn(N, N, device=DEV, dtype=DT)
        for _ in range(3):
            a @ b
        sync()
    calls = Calls(True)
    t_go = barrier(start_at, name)
    t0 = time.perf_counter()
    t0_unix = time.time()
    calls.start(t0)
    clock = lambda: time.perf_counter() - t0
    k = 0
    def hold(us):
        t = time.perf_counter() + us / 1e6
        while time.perf_counter() < t:
            pass
    while clock() < duration:
        if mode == "stream":
            torch.cuda._sleep(cyc(float(f[1])))
            calls.mark(k, "end", t0)
            if k >= 256:
                calls.rows[k - 256][3].synchronize()  # bound the host's run-ahead, never drain the queue
        elif mode == "mm":
            a @ b
            calls.mark(k, "end", t0)
            if k >= 64:
                calls.rows[k - 64][3].synchronize()
        elif mode == "graph":
            g.replay()
            calls.mark(k, "end", t0)
            if k >= 64:
                calls.rows[k - 64][3].synchronize()
        elif mode == "sync":
            calls.mark(k, "begin", t0)
            torch.cuda._sleep(cyc(float(f[1])))
            calls.mark(k, "end", t0)
            sync()
            hold(float(f[2]))
        elif mode == "h2d":
            calls.mark(k, "begin", t0)
            torch.tensor(list(range(64)), device=DEV)
            calls.mark(k, "end", t0)
            sync()
            hold(float(f[1]))
        else:
            raise SystemExit(f"unknown probe mode {mode}")
        k += 1
    sync()
    calls.write(out + ".calls.csv")
    with open(out + ".meta.json", "w") as fh:
        json.dump(dict(spec=spec, t_go=t_go, t0_unix=t0_unix, cyc_per_us=cyc_per_us, calls=k,
                       gpu=torch.cuda.get_device_name()), fh)
    print(json.dumps(dict(probe=name, spec=spec, calls=k, cyc_per_us=round(cyc_per_us, 1))), flush=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("profile", help="KIND OUT, or KIND,KIND,... OUTDIR (writes OUTDIR/profile_KIND.csv)")
    p.add_argument("kind"); p.add_argument("out")
    p.add_argument("--chunks", action="store_true", help="ASR: also streaming chunk calls (op encode_chunk)")
    t = sub.add_parser("trace"); t.add_argument("kind"); t.add_argument("rate", type=float)
    t.add_argument("duration", type=float); t.add_argument("seed", type=int); t.add_argument("out")
    s = sub.add_parser("serve"); s.add_argument("kind"); s.add_argument("trace"); s.add_argument("start_at", help="barrier folder")
    s.add_argument("out"); s.add_argument("--max-batch", type=int, default=16)
    s.add_argument("--events", action="store_true", help="write <out>.calls.csv: CUDA events around every call part")
    gt = sub.add_parser("greentest")
    pr = sub.add_parser("tsprobe"); pr.add_argument("spec"); pr.add_argument("start_at"); pr.add_argument("out")
    pr.add_argument("name"); pr.add_argument("--duration", type=float, default=3.0)
    for q in (p, s, gt, pr):
        q.add_argument("--sms", type=int, default=0, help="restrict this process to N SMs (CUDA green context)")
    a = ap.parse_args()
    if getattr(a, "sms", 0):
        green(a.sms)
    sms = getattr(a, "sms", 0) or None
    if a.cmd == "greentest":
        greentest(sms)
    elif a.cmd == "tsprobe":
        tsprobe(a.spec, a.start_at, a.out, a.name, a.duration)
    elif a.cmd == "profile" and "," in a.kind:
        os.makedirs(a.out, exist_ok=True)
        for kind in a.kind.split(","):
            profile(kind, os.path.join(a.out, f"profile_{kind}.csv"), a.chunks, sms)
            torch.cuda.empty_cache()
    elif a.cmd == "profile":
        profile(a.kind, a.out, a.chunks, sms)
    elif a.cmd == "trace":
        rows = make_trace(a.kind, a.rate, a.duration, a.seed)
        with open(a.out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
            w.writeheader(); w.writerows(rows)
        print(a.out, len(rows))
    else:
        with open(a.trace) as fh:
            rows = [{k: (float(v) if k in ("arrival_s", "audio_s") else int(v)) for k, v in r.items()} for r in csv.DictReader(fh)]
        serve(a.kind, rows, a.start_at, a.out, a.max_batch, a.events, sms)


if __name__ == "__main__":
    main()
