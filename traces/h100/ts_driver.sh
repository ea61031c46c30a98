#!/usr/bin/env bash
# Time-sliced co-location run: several `gpubench.py serve` processes on ONE GPU,
# started at the same instant through a barrier folder (see README.md, last sections).
#
# usage: bash traces/h100/ts_driver.sh RUN_NAME MODEL:SOLO_FOLDER [MODEL:SOLO_FOLDER ...]
#   e.g. bash traces/h100/ts_driver.sh ts_asr_tts_L asr:asr_L tts:tts_L
# Each model's arrivals are the solo run's trace, reused unchanged: SOLO_FOLDER/trace_MODEL.csv.
# Output: traces/h100/RUN_NAME/{gpu.csv, summary.txt, trace_M.csv, M.requests.csv, M.batches.csv}.
# env: READY_TIMEOUT (s, default 240): longest wait for every server's ready file;
#      SERVE_TIMEOUT (s, default 360): hard limit on each server process.
# No GPU setting is changed: no MIG, no compute-mode change, no MPS; the servers are
# plain separate CUDA processes, so the driver's default time-slicing shares the GPU.
set -u
H="$(cd "$(dirname "$0")" && pwd)"
RUN="$1"; shift
READY_TIMEOUT="${READY_TIMEOUT:-240}"
SERVE_TIMEOUT="${SERVE_TIMEOUT:-360}"
DIR="$H/$RUN"
rm -rf "$DIR"; mkdir -p "$DIR"
BAR="$(mktemp -d "/tmp/barrier.$RUN.XXXXXX")"
export PYTHONUNBUFFERED=1
log() { echo "[$(date -u +%H:%M:%S)] [$RUN] $*"; }

MODELS=(); PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
}
trap 'log "interrupted"; cleanup; exit 130' INT TERM

for pair in "$@"; do
  m="${pair%%:*}"; solo="${pair#*:}"
  src="$H/$solo/trace_$m.csv"
  [ -f "$src" ] || { log "missing $src"; cleanup; exit 2; }
  cp "$src" "$DIR/trace_$m.csv"
  timeout "$SERVE_TIMEOUT" python3 "$H/gpubench.py" serve "$m" "$DIR/trace_$m.csv" "$BAR" "$DIR/$m" \
      >"$BAR/out.$m" 2>"$BAR/err.$m" &
  PIDS+=("$!"); MODELS+=("$m")
  log "started serve $m (pid $!) on $src"
done

# barrier: wait for every ready.<model>, bail out if a server dies first
t0=$(date +%s)
while :; do
  n=0
  for m in "${MODELS[@]}"; do [ -f "$BAR/ready.$m" ] && n=$((n+1)); done
  [ "$n" -eq "${#MODELS[@]}" ] && break
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      log "server ${MODELS[$i]} exited before ready; stderr:"; tail -n 30 "$BAR/err.${MODELS[$i]}"
      cleanup; exit 3
    fi
  done
  if [ $(( $(date +%s) - t0 )) -ge "$READY_TIMEOUT" ]; then
    log "ready timeout after ${READY_TIMEOUT}s ($n of ${#MODELS[@]} ready)"; cleanup; exit 4
  fi
  sleep 0.2
done
log "all ${#MODELS[@]} servers ready after $(( $(date +%s) - t0 ))s"
nvidia-smi --query-gpu=memory.used,memory.total,utilization.gpu --format=csv,noheader | sed "s/^/[$RUN] gpu before go: /"
python3 -c 'import time; print(repr(time.time() + 0.5))' >"$BAR/go.tmp"
mv "$BAR/go.tmp" "$BAR/go"
log "go at $(cat "$BAR/go")"

rc=0
for i in "${!PIDS[@]}"; do
  wait "${PIDS[$i]}"; r=$?
  log "serve ${MODELS[$i]} exited rc=$r"
  if [ "$r" -ne 0 ]; then rc=5; tail -n 30 "$BAR/err.${MODELS[$i]}"; fi
done
PIDS=()

nvidia-smi --query-gpu=name,memory.total,driver_version,mig.mode.current,compute_mode --format=csv >"$DIR/gpu.csv"
for m in "${MODELS[@]}"; do grep -h '^{' "$BAR/out.$m"; done >"$DIR/summary.txt"
cat "$DIR/summary.txt" | sed "s/^/[$RUN] /"
for m in "${MODELS[@]}"; do
  if grep -qiE 'error|warn|out of memory' "$BAR/err.$m"; then
    log "stderr of $m:"; tail -n 20 "$BAR/err.$m"
  fi
done

for f in gpu.csv summary.txt; do [ -s "$DIR/$f" ] || { log "MISSING $f"; rc=6; }; done
for m in "${MODELS[@]}"; do
  for f in "trace_$m.csv" "$m.requests.csv" "$m.batches.csv"; do
    [ -s "$DIR/$f" ] || { log "MISSING $f"; rc=6; }
  done
done
rm -rf "$BAR"
log "done rc=$rc"
exit "$rc"
