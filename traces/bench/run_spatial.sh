#!/bin/bash
# Device-call driver of the spatial-sharing session (traces/bench/NOTES-spatial.md).
#   bash traces/bench/run_spatial.sh BUDGET_S STAGE...
# Stages: env verify smoke probe arch serveH serveL serveR2 (see the case below). Each stage's
# folder is packed into $OUT/<stage>.tgz as it goes; the whole log is $OUT/log.txt. No stage
# changes a device setting (nvidia-smi is used only for queries).
BUDGET=${1:?budget seconds}; shift
W=/tmp/sp; mkdir -p $W; export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/sp/out}; mkdir -p $OUT; export OUT
B=traces/bench
T0=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
exec > >(tee -a $OUT/log.txt) 2>&1
for st in "$@"; do
  L=$(left); echo "=== stage $st, ${L}s left ($(date -u +%FT%TZ))"
  case $st in
    env)
      nvidia-smi; nvidia-smi --query-gpu=name,memory.total,driver_version,mig.mode.current,compute_mode,clocks.sm,clocks.max.sm,power.draw,power.limit --format=csv
      python3 -c "import torch, importlib.metadata as m; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name()); print({p: m.version(p) for p in ['cuda-bindings','cupy-cuda13x','nvidia-ml-py']})" ;;
    verify) [ $L -gt 60 ] && timeout $(( L < 150 ? L : 150 )) python3 $B/spatial.py verify $W/verify ;;
    smoke)  [ $L -gt 60 ] && timeout $(( L < 180 ? L : 180 )) python3 $B/spatial.py serve $W/smoke --runs S ;;
    probe)  [ $L -gt 60 ] && timeout $(( L < 240 ? L : 240 )) python3 $B/spatial.py probe $W/probe --dur ${PDUR:-1.0} --deadline ${PDL:-$(( L < 240 ? L - 30 : 210 ))} ;;
    arch)
      mkdir -p $W/arch
      for s in ${ARCH:-bert-large llama3.2-3b qwen2.5-14b}; do
        L=$(left); [ $L -gt ${ARCHMIN:-45} ] || { echo "skip arch $s: ${L}s left"; continue; }
        timeout $(( L - 10 < 150 ? L - 10 : 150 )) python3 $B/archbench.py profile $B/arch/$s.json $W/arch/profile_$s.csv 2>&1 | tee $W/arch/log_$s.txt | grep -v "^{'model'"
        (cd $W && tar czf $OUT/.arch.tmp arch && mv $OUT/.arch.tmp $OUT/arch.tgz)
      done ;;
    serve1|serve2) [ $L -gt 40 ] && timeout $(( L - 5 )) python3 $B/spatial.py serve $W/$st --runs H r2 gil L --dur ${DUR:-10} --deadline $(( L - ${RESERVE:-0} - 15 )) --skip "${SKIP:-}" ;;
    *) echo "unknown stage $st" ;;
  esac
  echo "=== stage $st rc=$? after $(( $(date +%s) - T0 ))s"
done
