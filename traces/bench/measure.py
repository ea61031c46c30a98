#!/usr/bin/env python3
"""The device sessions behind traces/h200 (see its README). Run from the repository root on a
machine with one NVIDIA GPU and PyTorch; nothing here changes a device setting (no MIG, no MPS,
no clocks, no compute mode): SM restriction is a CUDA green context inside the measuring process.

    python3 traces/bench/measure.py sms   OUTDIR [SMS...]  # profiles on N SMs (0 = whole GPU)
    python3 traces/bench/measure.py coloc OUTDIR RUN...    # probes and co-located serving runs

After each step OUTDIR is packed into $OUT/results.tgz (when $OUT is set), so a run stopped by a
time limit still returns what it finished."""
import json, os, subprocess, sys, tarfile, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "gpubench.py")
SOLO = os.path.join(os.path.dirname(HERE), "h100")
ENV = dict(os.environ, PYTHONUNBUFFERED="1")


def log(*a):
    print(time.strftime("[%H:%M:%S]"), *a, flush=True)


def pack(outdir):
    dest = os.environ.get("OUT")
    if not dest:
        return
    tmp = os.path.join(dest, ".results.tgz.tmp")
    with tarfile.open(tmp, "w:gz") as t:
        t.add(outdir, arcname=os.path.basename(outdir.rstrip("/")))
    os.replace(tmp, os.path.join(dest, "results.tgz"))


def gpu_csv(path):
    with open(path, "w") as fh:
        subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,mig.mode.current,compute_mode",
                        "--format=csv"], stdout=fh, check=False)


def run(cmd, timeout, log_path):
    t = time.time()
    with open(log_path, "a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n"); fh.flush()
        try:
            p = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout, env=ENV)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    log(f"rc={rc} in {time.time() - t:.0f}s:", " ".join(cmd[2:]))
    return rc


def sms_session(outdir, counts):
    os.makedirs(outdir, exist_ok=True)
    gpu_csv(os.path.join(outdir, "gpu.csv"))
    lg = os.path.join(outdir, "log.txt")
    # Does the green context restrict this process? A large GEMM should slow about 132/16 = 8x.
    for n in (0, 16):
        run([sys.executable, BENCH, "greentest", "--sms", str(n)], 120, lg)
    pack(outdir)
    for n in counts:
        d = os.path.join(outdir, f"sms{n}" if n else "full")
        os.makedirs(d, exist_ok=True)
        for kind in ("asr", "tts", "llm"):  # one process each: a second model's graph capture in one process fails
            run([sys.executable, BENCH, "profile", kind, os.path.join(d, f"profile_{kind}.csv"), "--chunks", "--sms", str(n)], 200, lg)
            pack(outdir)


PROBES = {
    # name: (spec of process A, spec of process B or None)
    "stream_stream": ("stream:200", "stream:200"),
    "stream_long": ("stream:200", "stream:20000"),
    "sync1ms_g50_stream": ("sync:1000:50", "stream:200"),
    "sync1ms_g300_stream": ("sync:1000:300", "stream:200"),
    "sync5ms_g50_stream": ("sync:5000:50", "stream:200"),
    "graph50x20_stream": ("graph:50:20", "stream:200"),
    "h2d_g100_stream": ("h2d:100", "stream:200"),
    "mm_mm": ("mm:4096", "mm:4096"),
    "sync1ms_g50_solo": ("sync:1000:50", None),
}

# Co-located serving runs: name -> (model, solo folder in traces/h100) pairs whose traces are replayed.
RUNS = {
    "ts_tts_llm_L": [("tts", "tts_L"), ("llm", "llm_L")],
    "ts_tts_llm_H": [("tts", "tts_H"), ("llm", "llm_H")],
    "ts_asr_llm_L": [("asr", "asr_L"), ("llm", "llm_L")],
    "ts_asr_llm_H": [("asr", "asr_H"), ("llm", "llm_H")],
    "ts_asr_tts_H": [("asr", "asr_H"), ("tts", "tts_H")],
    "ts_asr_tts_L": [("asr", "asr_L"), ("tts", "tts_L")],
    "ts_asr_tts_llm_H": [("asr", "asr_H"), ("tts", "tts_H"), ("llm", "llm_H")],
    "ts_asr_tts_llm_L": [("asr", "asr_L"), ("tts", "tts_L"), ("llm", "llm_L")],
    "ts_tts_llm_H_r2": [("tts", "tts_H"), ("llm", "llm_H")],
    "ts_asr_llm_H_r2": [("asr", "asr_H"), ("llm", "llm_H")],
    "ts_tts_llm_L_r2": [("tts", "tts_L"), ("llm", "llm_L")],
    "asr_H": [("asr", "asr_H")],
    "tts_H": [("tts", "tts_H")],
    "llm_H": [("llm", "llm_H")],
    # Session 5, taken after the model was final, to check it on arrivals it never saw: new
    # traces (rate req/s, seed) of 30 s at a medium load (_M) and with a heavy TTS (_X).
    "ts_asr_tts_llm_M": [("asr", (100, 51)), ("tts", (3.5, 52)), ("llm", (0.45, 53))],
    "ts_tts_llm_M": [("tts", (3.5, 54)), ("llm", (0.45, 55))],
    "ts_asr_tts_X": [("asr", (60, 60)), ("tts", (12, 61))],
    "ts_asr_tts_M": [("asr", (100, 56)), ("tts", (3.5, 57))],
    "ts_asr_llm_M": [("asr", (100, 58)), ("llm", (0.45, 59))],
}
# Their repeats: the same arrivals (the traces are a function of rate and seed).
RUNS.update({k + "_r2": v for k, v in list(RUNS.items()) if k.endswith(("_M", "_X"))})


def together(procs_spec, outdir, lg, timeout):
    """Start one process per (name, argv) with a shared barrier, release them at one instant,
    wait for all. Returns the list of return codes."""
    bar = tempfile.mkdtemp(prefix="barrier.")
    procs = []
    with open(lg, "a") as fh:
        for name, argv in procs_spec:
            fh.write("$ " + " ".join(argv) + "\n")
        fh.flush()
        for name, argv in procs_spec:
            out = open(os.path.join(outdir, f"{name}.stdout.txt"), "w")
            procs.append((name, subprocess.Popen(argv[:2] + argv[2:], stdout=out, stderr=subprocess.STDOUT, env=ENV,
                                                 cwd=bar), out))
    t = time.time()
    names = [n for n, _ in procs_spec]
    while not all(os.path.exists(os.path.join(bar, "ready." + n)) for n in names):
        if any(p.poll() is not None for _, p, _ in procs) or time.time() - t > 240:
            log("a process died or never got ready:", names)
            for _, p, _ in procs:
                p.kill()
            return ["not ready"]
        time.sleep(0.05)
    with open(os.path.join(bar, "go.tmp"), "w") as fh:
        fh.write(repr(time.time() + 0.5))
    os.replace(os.path.join(bar, "go.tmp"), os.path.join(bar, "go"))
    rcs = []
    for _, p, out in procs:
        try:
            rcs.append(p.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            p.kill(); rcs.append("timeout")
        out.close()
    return rcs


def coloc_session(outdir, names):
    os.makedirs(outdir, exist_ok=True)
    gpu_csv(os.path.join(outdir, "gpu.csv"))
    lg = os.path.join(outdir, "log.txt")
    for name in names:
        t = time.time()
        if name.startswith("probe:"):
            probe = name.split(":", 1)[1]
            a, b = PROBES[probe]
            d = os.path.join(outdir, "probe_" + probe)
            os.makedirs(d, exist_ok=True)
            specs = [("a", [sys.executable, BENCH, "tsprobe", a, ".", os.path.join(d, "a"), "a"])]
            if b:
                specs.append(("b", [sys.executable, BENCH, "tsprobe", b, ".", os.path.join(d, "b"), "b"]))
            rcs = together(specs, d, lg, 60)
        else:
            d = os.path.join(outdir, name)
            os.makedirs(d, exist_ok=True)
            specs = []
            for m, solo in RUNS[name]:
                tr = os.path.join(d, f"trace_{m}.csv")
                if isinstance(solo, tuple):  # a new trace: (rate, seed), 30 s
                    subprocess.run([sys.executable, BENCH, "trace", m, str(solo[0]), "30", str(solo[1]), tr], check=True)
                else:
                    with open(os.path.join(SOLO, solo, f"trace_{m}.csv")) as src, open(tr, "w") as dst:
                        dst.write(src.read())
                specs.append((m, [sys.executable, BENCH, "serve", m, tr, ".", os.path.join(d, m), "--events"]))
            rcs = together(specs, d, lg, 240)
            gpu_csv(os.path.join(d, "gpu.csv"))
            with open(os.path.join(d, "summary.txt"), "w") as fh:
                for m, _ in RUNS[name]:
                    for line in open(os.path.join(d, f"{m}.stdout.txt")):
                        if line.startswith("{"):
                            fh.write(line)
        log(f"{name}: rc={rcs} in {time.time() - t:.0f}s")
        pack(outdir)


def main():
    what, outdir = sys.argv[1], os.path.abspath(sys.argv[2])
    if what == "sms":
        counts = [int(x) for x in sys.argv[3:]] or [0, 16, 32, 64, 96, 48, 128]
        sms_session(outdir, counts)
    elif what == "coloc":
        coloc_session(outdir, sys.argv[3:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
