#!/usr/bin/env python3
"""Profile a random-weight model built from an architecture description ("bring your own model").

    python3 traces/bench/archbench.py show    SPEC.json            # parameters and memory, no GPU
    python3 traces/bench/archbench.py profile SPEC.json OUT.csv [--reps 3] [--sms N]

SPEC.json (one object). Common keys: "kind", "name" (the model column), "dtype" ("bf16" or "fp16").
- kind "llm" (decoder-only, Llama/Qwen-like: RMSNorm, GQA attention, gated SiLU MLP):
  layers, hidden, heads, kv_heads, head_dim (default hidden/heads), intermediate, vocab;
  optional qkv_bias (false), tie_embeddings (false), slots (32), tmax (3072),
  prompt_buckets [128,256,512,1024,2048], batch_buckets [1,2,4,8,16,32], context_buckets
  [512,1024,2048,3072], decode_contexts [256,1024,2048] (contexts profiled).
  Writes the layout of models/h100/profile_llm.csv: model, op (prefill | decode_step), batch,
  tokens, latency_ms, context; prefill at batch 1 for every prompt bucket, decode_step for every
  batch bucket at every decode context.
- kind "encoder" (BERT / Whisper-encoder-like, bidirectional attention, LayerNorm, GELU MLP with
  biases): layers, hidden, heads, intermediate; sizes (the user's size buckets, in units of input),
  tokens_per_unit (sequence positions per unit: 1 for text tokens, 50 for a Whisper encoder over
  seconds of audio), batches [1,2,4,8,16,32]; frontend "embedding" (vocab, default 30522) or
  "conv" (n_mels, default 80; two Conv1d, the second of stride 2, over 2 frames per position);
  norm_first (false: BERT post-norm; true: Whisper pre-norm).
  Writes model, op=encode, batch, size, latency_ms: one padded encoder pass per (batch, size) bucket.
- kind "tts": gpubench's TTS shape with its constructor arguments overridable (d, Le, Ld, h, f,
  books, card); writes the layout of profile_tts.csv.
- kind "asr": gpubench's ASR (FastConformer) shape, overridable (d, L, h, f, vocab); profile_asr.csv.

Every GPU call is a replayed CUDA graph over padded shapes, captured as gpubench captures them;
each latency is the median of --reps synchronized calls. Weights are random N(0, 0.02)."""
import argparse, csv, json, math, os, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))


def load(path):
    with open(path) as fh:
        spec = json.load(fh)
    kind = spec.get("kind")
    if kind not in ("llm", "encoder", "tts", "asr"):
        raise SystemExit(f"{path}: kind must be llm, encoder, tts or asr, got {kind!r}")
    need = {"llm": ["layers", "hidden", "heads", "kv_heads", "intermediate", "vocab"],
            "encoder": ["layers", "hidden", "heads", "intermediate", "sizes"], "tts": [], "asr": []}[kind]
    miss = [k for k in need if k not in spec]
    if miss:
        raise SystemExit(f"{path}: missing {', '.join(miss)}")
    if kind == "llm":
        hd = spec.get("head_dim", spec["hidden"] // spec["heads"])
        if spec["heads"] % spec["kv_heads"]:
            raise SystemExit(f"{path}: heads must be a multiple of kv_heads")
        spec.setdefault("head_dim", hd)
    if kind == "encoder" and spec["hidden"] % spec["heads"]:
        raise SystemExit(f"{path}: hidden must be a multiple of heads")
    spec.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    spec.setdefault("dtype", "bf16")
    return spec


def estimate(spec):
    """Parameters and resident bytes (weights + preallocated KV cache), without a GPU."""
    k = spec["kind"]
    b = 2
    if k == "llm":
        d, L, h, kvh, hd, f, V = (spec[x] for x in ("hidden", "layers", "heads", "kv_heads", "head_dim", "intermediate", "vocab"))
        per = d * (h + 2 * kvh) * hd + h * hd * d + 3 * d * f + 2 * d
        if spec.get("qkv_bias"):
            per += (h + 2 * kvh) * hd
        p = L * per + V * d * (1 if spec.get("tie_embeddings") else 2) + d
        kv = 2 * L * spec.get("slots", 32) * kvh * spec.get("tmax", 3072) * hd * b
        return dict(params=p, weights_gb=p * b / 1e9, kv_gb=kv / 1e9)
    if k == "encoder":
        d, L, f = spec["hidden"], spec["layers"], spec["intermediate"]
        per = 4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d
        T = max(1, math.ceil(max(spec["sizes"]) * spec.get("tokens_per_unit", 1)))
        if spec.get("frontend", "embedding") == "embedding":
            front = spec.get("vocab", 30522) * d
        else:
            front = spec.get("n_mels", 80) * d * 3 + d * d * 3
        p = L * per + front + T * d + 2 * d
        return dict(params=p, weights_gb=p * b / 1e9, kv_gb=0.0)
    return dict(params=None, weights_gb=None, kv_gb=None)


def build(spec):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    sys.path.insert(0, HERE)
    import gpubench as gb
    dt = {"bf16": torch.bfloat16, "fp16": torch.float16}[spec["dtype"]]
    gb.DT = dt
    DEV = gb.DEV

    class Attn(gb.SelfAttn):
        """gpubench's attention with an explicit head_dim and optional biases."""

        def __init__(s, d, h, kvh, hd, qkv_bias=False, o_bias=False):
            nn.Module.__init__(s)
            s.h, s.kvh, s.hd = h, kvh, hd
            s.qkv = nn.Linear(d, (h + 2 * kvh) * hd, bias=qkv_bias)
            s.o = nn.Linear(h * hd, d, bias=o_bias)

    class Layer(nn.Module):
        def __init__(s, d, h, kvh, hd, f, qkv_bias):
            super().__init__()
            s.n1, s.att, s.n2, s.mlp = gb.RMSNorm(d), Attn(d, h, kvh, hd, qkv_bias), gb.RMSNorm(d), gb.MLP(d, f)

    class ArchLLM(gb.LLM):
        def __init__(s, sp):
            nn.Module.__init__(s)
            d, L, h, kvh, hd, f, V = (sp[x] for x in ("hidden", "layers", "heads", "kv_heads", "head_dim", "intermediate", "vocab"))
            s.emb = nn.Embedding(V, d)
            s.layers = nn.ModuleList([Layer(d, h, kvh, hd, f, sp.get("qkv_bias", False)) for _ in range(L)])
            s.norm = gb.RMSNorm(d)
            s.head = nn.Linear(d, V, bias=False)
            if sp.get("tie_embeddings"):
                s.head.weight = s.emb.weight
            s.vocab = V
            slots, tmax = sp.get("slots", 32), sp.get("tmax", 3072)
            s.kc = [torch.zeros(slots, kvh, tmax, hd, device=DEV, dtype=dt) for _ in range(L)]
            s.vc = [torch.zeros(slots, kvh, tmax, hd, device=DEV, dtype=dt) for _ in range(L)]
            s.PB = sp.get("prompt_buckets", gb.LLM.PB)
            s.BB = sp.get("batch_buckets", gb.LLM.BB)
            s.TB = sp.get("context_buckets", gb.LLM.TB)
            if s.TB[-1] > tmax or s.BB[-1] > slots:
                raise SystemExit("context_buckets must fit tmax and batch_buckets must fit slots")

    class EncLayer(nn.Module):
        def __init__(s, d, h, f, norm_first):
            super().__init__()
            s.norm_first = norm_first
            s.n1, s.att = nn.LayerNorm(d), Attn(d, h, h, d // h, True, True)
            s.n2, s.up, s.down = nn.LayerNorm(d), nn.Linear(d, f), nn.Linear(f, d)

        def forward(s, x):
            if s.norm_first:
                x = x + s.att.full(s.n1(x), causal=False)[0]
                return x + s.down(F.gelu(s.up(s.n2(x))))
            x = s.n1(x + s.att.full(x, causal=False)[0])
            return s.n2(x + s.down(F.gelu(s.up(x))))

    class Encoder(nn.Module):
        def __init__(s, sp):
            super().__init__()
            d = sp["hidden"]
            s.sizes = sorted(sp["sizes"])
            s.BB = sp.get("batches", [1, 2, 4, 8, 16, 32])
            s.tpu = sp.get("tokens_per_unit", 1)
            s.front = sp.get("frontend", "embedding")
            s.vocab = sp.get("vocab", 30522)
            s.mels = sp.get("n_mels", 80)
            T = s.seq(s.sizes[-1])
            if s.front == "embedding":
                s.emb = nn.Embedding(s.vocab, d)
            else:
                s.c1 = nn.Conv1d(s.mels, d, 3, padding=1)
                s.c2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
            s.pos = nn.Parameter(torch.zeros(T, d))
            s.layers = nn.ModuleList([EncLayer(d, sp["heads"], sp["intermediate"], sp.get("norm_first", False))
                                      for _ in range(sp["layers"])])
            s.norm = nn.LayerNorm(d)

        def seq(s, size):
            return max(1, int(math.ceil(size * s.tpu)))

        @torch.no_grad()
        def _run(s, inp):
            if s.front == "embedding":
                x = s.emb(inp)
            else:
                x = F.gelu(s.c2(F.gelu(s.c1(inp)))).transpose(1, 2)
            x = x + s.pos[: x.shape[1]]
            for l in s.layers:
                x = l(x)
            return s.norm(x)[:, 0]

        def inp(s, B, size, zero=False):
            T = s.seq(size)
            if s.front == "embedding":
                if zero:
                    return torch.zeros(B, T, dtype=torch.long, device=DEV)
                return torch.randint(0, s.vocab, (B, T), device=DEV)
            if zero:
                return torch.zeros(B, s.mels, 2 * T, device=DEV, dtype=dt)
            return torch.randn(B, s.mels, 2 * T, device=DEV, dtype=dt)

        def capture(s):
            s.g = {(B, z): gb.Graph(s._run, s.inp(B, z, zero=True)) for B in s.BB for z in s.sizes}

        def run(s, B, size):
            Bb, Sb = gb.bucket(B, s.BB), gb.bucket(size, s.sizes)
            return s.g[Bb, Sb](s.inp(Bb, Sb))

    torch.manual_seed(0)
    k = spec["kind"]
    args = {x: spec[x] for x in ("d", "L", "h", "f", "vocab", "Le", "Ld", "books", "card") if x in spec}
    with torch.device(DEV):
        m = {"llm": lambda: ArchLLM(spec), "encoder": lambda: Encoder(spec),
             "tts": lambda: gb.TTS(**{x: v for x, v in args.items() if x in ("d", "Le", "Ld", "h", "f", "books", "card")}),
             "asr": lambda: gb.ASR(**{x: v for x, v in args.items() if x in ("d", "L", "h", "f", "vocab")})}[k]()
    m = m.to(dt).eval()
    for p in m.parameters():
        p.requires_grad_(False)
        p.normal_(0, 0.02)
    m.capture()
    torch.cuda.synchronize()
    return m, gb


def profile(spec, out, reps, sms):
    import torch
    t0 = time.perf_counter()
    if sms:
        sys.path.insert(0, HERE)
        import gpubench as gb0
        gb0.green(sms)
    m, gb = build(spec)
    timed = lambda fn, n=reps: gb.timed(fn, reps=n)
    name, k = spec["name"], spec["kind"]
    info = dict(name=name, kind=k, params=sum(p.numel() for p in m.parameters()), gpu=torch.cuda.get_device_name(),
                mem_gb=round(torch.cuda.memory_allocated() / 1e9, 2), sms=sms or None,
                build_s=round(time.perf_counter() - t0, 1), reps=reps, spec=spec)
    print(json.dumps(info), flush=True)
    rows = []
    if k == "llm":
        m.prefill(0, m.PB[0]); m.decode([min(64, m.TB[0] - 1)] * min(2, m.BB[-1]))
        for P in m.PB:
            rows.append(dict(model=name, op="prefill", batch=1, tokens=P, latency_ms=timed(lambda: m.prefill(0, P)) * 1e3))
        for ctx in spec.get("decode_contexts", [256, 1024, 2048]):
            for B in m.BB:
                rows.append(dict(model=name, op="decode_step", batch=B, context=ctx,
                                 latency_ms=timed(lambda: m.decode([ctx] * B)) * 1e3))
    elif k == "encoder":
        m.run(1, m.sizes[0])
        for z in m.sizes:
            for B in m.BB:
                rows.append(dict(model=name, op="encode", batch=B, size=z, latency_ms=timed(lambda: m.run(B, z)) * 1e3))
    elif k == "tts":
        m.run(2, 40, 20)
        for chars in [40, 120, 300]:
            fr = gb.TTS.frames(chars)
            for B in m.BB:
                rows.append(dict(model=name, op="synthesize", batch=B, chars=chars, frames=fr,
                                 latency_ms=timed(lambda: m.run(B, chars, fr)) * 1e3))
    else:
        m.run(2, 5)
        for sec in [2, 5, 10, 20, 30]:
            for B in m.BB:
                rows.append(dict(model=name, op="encode", batch=B, audio_s=sec, latency_ms=timed(lambda: m.run(B, sec)) * 1e3))
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(x for r in rows for x in r)))
        w.writeheader(); w.writerows(rows)
    info["total_s"] = round(time.perf_counter() - t0, 1)
    with open(os.path.splitext(out)[0] + ".json", "w") as fh:
        json.dump(info, fh, indent=1)
    for r in rows:
        print(r, flush=True)
    print(json.dumps(dict(name=name, total_s=info["total_s"], mem_gb=info["mem_gb"])), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("show"); s.add_argument("spec")
    p = sub.add_parser("profile"); p.add_argument("spec"); p.add_argument("out")
    p.add_argument("--reps", type=int, default=3); p.add_argument("--sms", type=int, default=0)
    a = ap.parse_args()
    spec = load(a.spec)
    if a.cmd == "show":
        print(json.dumps(dict(spec=spec, **estimate(spec)), indent=1))
    else:
        profile(spec, a.out, a.reps, a.sms)


if __name__ == "__main__":
    main()
