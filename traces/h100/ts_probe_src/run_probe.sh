#!/usr/bin/env bash
# Time-slice probe (see README.md, "Time-slice probe"): run from the repository root on the GPU machine.
# Writes traces/h100/ts_probe_asr_tts, ts_probe_asr_solo, ts_probe_asr_tts_q; needs OUT set for the tarball.
set -u
H=traces/h100
export PYTHONUNBUFFERED=1
nvidia-smi
nvidia-smi --query-gpu=name,memory.total,driver_version,mig.mode.current,compute_mode --format=csv
nvidia-smi compute-policy -l || true        # read-only listing of the configured timeslice
python3 -c 'import torch; print("torch", torch.__version__, torch.version.cuda)'
# the traces were generated without torch from gpubench.py's make_trace; re-make them with gpubench itself and compare
T=$(mktemp -d)
python3 $H/gpubench.py trace asr 10 30 21 $T/a.csv && cmp $T/a.csv $H/ts_probe_src/trace_asr.csv && echo "trace_asr identical"
python3 $H/gpubench.py trace tts 30 30 22 $T/t.csv && cmp $T/t.csv $H/ts_probe_src/trace_tts.csv && echo "trace_tts 30 identical"
python3 $H/gpubench.py trace tts 60 30 22 $T/q.csv && cmp $T/q.csv $H/ts_probe_src_q/trace_tts.csv && echo "trace_tts 60 identical"
t=$(date +%s)
bash $H/ts_driver.sh ts_probe_asr_tts asr:ts_probe_src tts:ts_probe_src; echo "rc=$? took $(( $(date +%s) - t ))s"; t=$(date +%s)
bash $H/ts_driver.sh ts_probe_asr_solo asr:ts_probe_src; echo "rc=$? took $(( $(date +%s) - t ))s"; t=$(date +%s)
bash $H/ts_driver.sh ts_probe_asr_tts_q asr:ts_probe_src_q tts:ts_probe_src_q; echo "rc=$? took $(( $(date +%s) - t ))s"
tar czf "$OUT/ts_probe.tgz" -C $H $(cd $H && ls -d ts_probe_*)
ls -la "$OUT"
