#!/usr/bin/env python3
"""CPU dry run of spatial.py (probe, serve) and archbench.py on tiny shapes, to catch logic and
shape errors before spending device time. Needs only a CPU build of PyTorch (any 2.x); CUDA
streams, events, graphs and green contexts are replaced by host stand-ins, so it checks the
control flow, the model code paths and the output files, not the GPU behaviour (the green-context
driver calls, the spin kernel and capture on external streams are only exercised on a GPU).

    python3 traces/bench/dryrun_cpu.py arch|probe|serve|all [OUTDIR]   (default OUTDIR /tmp/dryrun)"""
import argparse, contextlib, json, os, sys, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch  # noqa: E402
import gpubench as gb  # noqa: E402

gb.DEV = "cpu"


class _Stream:
    cuda_stream = 0

    def synchronize(self):
        pass


class _Event:
    def __init__(self, **k):
        self.t = None

    def record(self, stream=None):
        self.t = time.perf_counter()

    def synchronize(self):
        pass

    def elapsed_time(self, o):
        return (o.t - self.t) * 1e3


class _Graph:
    """Eager stand-in for a captured graph: .g.replay() runs fn on the static inputs."""

    def __init__(self, fn, *inputs):
        self.inputs = inputs
        fn(*inputs)
        self.out = fn(*inputs)
        self.g = type("G", (), {})()
        self.g.replay = lambda: fn(*inputs)

    def __call__(self, *xs):
        for b, x in zip(self.inputs, xs):
            b.copy_(x)
        return self.g.replay()


_S = _Stream()
torch.cuda.stream = lambda s=None: contextlib.nullcontext()
torch.cuda.current_stream = lambda *a: _S
torch.cuda.Event = _Event
torch.cuda.graph_pool_handle = lambda: None
torch.cuda.synchronize = lambda *a: None
torch.cuda.get_device_name = lambda *a: "cpu"
torch.cuda.memory_allocated = lambda *a: 0
gb.Graph = _Graph
gb.sync = lambda: None

TINY = {gb.ASR: dict(d=64, L=2, h=4, f=128), gb.TTS: dict(d=64, Le=1, Ld=2, h=4, f=128, books=2, card=64),
        gb.LLM: dict(d=64, L=2, h=4, kvh=2, f=128, vocab=100)}


def patch_spatial():
    import spatial as sp
    sp.GB_BW = 64 * 1024 * 1024
    sp.make_parts = lambda splits=(64, 32): {k: sp.Part(k, n, _S, k != "full") for k, n in
                                             (("full", 132), ("p64", 64), ("r64", 68), ("p32", 32), ("r32", 100))}
    sp.SGraph = _Graph

    def init_model(cls, **kw):
        torch.manual_seed(0)
        with torch.device("cpu"):
            m = cls(**dict(TINY[cls], **kw))
        m = m.to(sp.DT).eval()
        for p in m.parameters():
            p.requires_grad_(False)
            p.normal_(0, 0.02)
        return m

    class Sampler:
        def __init__(self, *a):
            self.samples, self.halt = [], threading.Event()

        def start(self):
            pass

        def window(self, a, b):
            return dict(n=0, clock=float("nan"), clock_min=float("nan"), power=float("nan"), power_inst=float("nan"))

    sp.init_model = init_model
    sp.Sampler = Sampler
    sp.gpu_csv = lambda p: open(p, "w").write("name, memory.total [MiB], driver_version, mig.mode.current, compute_mode\n"
                                              "cpu dry run, 0, 0, Disabled, Default\n")
    return sp


def arch(out):
    import archbench as ab
    specs = {
        "llm": dict(kind="llm", name="tiny-llm", layers=2, hidden=256, heads=4, kv_heads=2, head_dim=96, intermediate=512,
                    vocab=1000, slots=4, tmax=256, prompt_buckets=[16, 32], batch_buckets=[1, 2, 4], context_buckets=[64, 256],
                    decode_contexts=[20, 100], qkv_bias=True, tie_embeddings=True),
        "encoder": dict(kind="encoder", name="tiny-bert", layers=2, hidden=128, heads=4, intermediate=256, vocab=500,
                        sizes=[8, 16], batches=[1, 2]),
        "encoder_conv": dict(kind="encoder", name="tiny-whisper", layers=2, hidden=128, heads=4, intermediate=256,
                             frontend="conv", n_mels=16, tokens_per_unit=5, sizes=[1, 2.5], batches=[1, 2], norm_first=True),
        "asr": dict(kind="asr", name="tiny-asr", d=64, L=2, h=4, f=128, vocab=33),
    }
    for k, spec in specs.items():
        p = os.path.join(out, f"{k}.json")
        with open(p, "w") as fh:
            json.dump(spec, fh)
        ab.profile(ab.load(p), os.path.join(out, f"profile_{k}.csv"), 1, 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["arch", "probe", "serve", "all"])
    ap.add_argument("outdir", nargs="?", default="/tmp/dryrun")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    rc = 0
    if a.what in ("arch", "all"):
        os.makedirs(os.path.join(a.outdir, "arch"), exist_ok=True)
        arch(os.path.join(a.outdir, "arch"))
    if a.what in ("probe", "all"):
        sp = patch_spatial()
        rc |= sp.cmd_probe(argparse.Namespace(
            outdir=os.path.join(a.outdir, "probe"), dur=0.4, deadline=0,
            only="idle,bw@p32,asr@p64,tts@p64,llm@r64,asr@p64+bw@r64,asr@p64+tts@r64,tts@p32+llm@r32,asr@p64+asr@r64"))
    if a.what in ("serve", "all"):
        sp = patch_spatial()
        rc |= sp.cmd_serve(argparse.Namespace(outdir=os.path.join(a.outdir, "serve"), runs=["S"], dur=2.0, deadline=0,
                                              no_events=False, skip=""))
    print("dry run rc", rc)
    return rc


if __name__ == "__main__":
    sys.exit(main())
