#!/usr/bin/env bash
# Hostile-input probe of the `gpuslice` binary (issue 12): runs ~150 hand-made hostile inputs of
# every class (scenario TOML, model JSON, traces, sweep specs, plan specs, calibration inputs,
# validate folders) each under `timeout 20` and `ulimit -v 4000000` (4 GB), and reports:
#   PANIC    exit 101, or "panicked" on stderr
#   TIMEOUT  ran past 20 s
#   MEMORY   killed or aborted for memory (exit 134/137, "memory allocation")
#   LONG     an error of more than 2 lines on stderr (the project standard is one line)
#   ACCEPTED an input marked plainly wrong (`err`) exited 0
#   EXIT     an `err` input exited with a status other than 2 (the input-error status)
#   NONAME   an `err` input's message does not name the file given (with `err`, NEEDLE too)
#   NOFILE   an error that names no file ('<input>: ...')
#   REFUSED  an input marked valid (`ok`) did not exit 0
#   PARTIAL  a refused command left some of its output files (see `nofiles`)
# Usage: fuzz/hostile-probe.sh [path/to/gpuslice]   (from anywhere; exit 1 when anything failed)
# GPUSLICE_PROBE_VERBOSE=1 prints every input's status and first stderr line.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/target/release/gpuslice}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
W=$(mktemp -d /tmp/gpuslice-probe.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 2
N=0
FAILED=0
VERBOSE=${GPUSLICE_PROBE_VERBOSE:-0}

# probe EXPECT NAME NEEDLE -- ARGS...
#   EXPECT: err (plainly wrong: exit 2, one line naming NEEDLE), any (no panic, hang, memory
#   blow-up or long error; any status), ok (valid: exit 0, and stderr holds NEEDLE).
probe() {
    local expect=$1 name=$2 needle=$3
    shift 4
    N=$((N + 1))
    local t0=$SECONDS
    (
        ulimit -v 4000000
        exec timeout 20 "$BIN" "$@"
    ) >"$W/.stdout" 2>"$W/.stderr"
    local rc=$?
    local secs=$((SECONDS - t0))
    local lines
    lines=$(wc -l <"$W/.stderr")
    local why=""
    if [ $rc -eq 101 ] || grep -q "panicked" "$W/.stderr"; then
        why="PANIC"
    elif [ $rc -eq 124 ]; then
        why="TIMEOUT"
    elif [ $rc -eq 134 ] || [ $rc -eq 137 ] || grep -qi "memory allocation" "$W/.stderr"; then
        why="MEMORY"
    elif [ "$lines" -gt 2 ]; then
        why="LONG($lines lines)"
    elif [ "$expect" = err ] && [ $rc -eq 0 ]; then
        why="ACCEPTED"
    elif [ "$expect" = err ] && [ $rc -ne 2 ]; then
        why="EXIT($rc)"
    elif [ "$expect" = err ] && [ -n "$needle" ] && ! grep -qF -- "$needle" "$W/.stderr"; then
        why="NONAME(no '$needle')"
    elif grep -qF -- "<input>" "$W/.stderr"; then
        why="NOFILE"
    elif [ "$expect" = ok ] && [ $rc -ne 0 ]; then
        why="REFUSED"
    elif [ "$expect" = ok ] && [ -n "$needle" ] && ! grep -qF -- "$needle" "$W/.stderr"; then
        why="NOLINE(no '$needle')"
    fi
    if [ -n "$why" ]; then
        FAILED=$((FAILED + 1))
        printf 'FAIL %-40s %s rc=%s %ss: %s\n' "$name" "$why" "$rc" "$secs" "$(head -c 300 "$W/.stderr" | head -2 | tr '\n' '|')"
    elif [ "$VERBOSE" = 1 ]; then
        printf 'ok   %-40s rc=%s %ss: %s\n' "$name" "$rc" "$secs" "$(head -1 "$W/.stderr" | cut -c1-200)"
    fi
}

# ---------------------------------------------------------------- scenario files
HDR='name = "h"
duration_s = 2
warmup_s = 0
drain_s = 5
[models.asr]
from = "h100/asr"
[models.tts]
from = "h100/tts"
[models.llm]
from = "h100/llm"
'
WASR='[[workload]]
model = "asr"
arrivals = { process = "poisson", rate_rps = 5 }
size = { dist = "fixed", value = 3 }
'
WTTS='[[workload]]
model = "tts"
arrivals = { process = "poisson", rate_rps = 2 }
size = { dist = "fixed", value = 50 }
'
VDED='[[variant]]
name = "v"
gpu = "h100-80gb"
gpus = [{ regime = "dedicated", models = ["asr"] }]
'
VTTS='[[variant]]
name = "v"
gpu = "h100-80gb"
gpus = [{ regime = "dedicated", models = ["tts"] }]
'
# scen EXPECT NAME NEEDLE TEXT: write NAME.toml and `gpuslice run` it.
scen() {
    printf '%s' "$4" >"$2.toml"
    probe "$1" "scenario/$2" "$3" -- run "$2.toml"
}
scen any base_ok "" "$HDR$WASR$VDED"
scen err empty "empty.toml" ""
printf '\x00\xff\xfe garbage \x01\x02\n\x89PNG' >garbage.toml
probe err scenario/garbage "garbage.toml" -- run garbage.toml
scen err only_comment "only_comment.toml" "# nothing"
probe err scenario/missing "nosuch.toml" -- run nosuch.toml
probe err scenario/directory "$W" -- run "$W"
scen err nan_duration "duration_s" "${HDR/duration_s = 2/duration_s = nan}$WASR$VDED"
scen err inf_duration "duration_s" "${HDR/duration_s = 2/duration_s = inf}$WASR$VDED"
scen err neg_duration "duration_s" "${HDR/duration_s = 2/duration_s = -1}$WASR$VDED"
scen err huge_duration "duration_s" "${HDR/duration_s = 2/duration_s = 1e300}$WASR$VDED"
scen err neg_warmup "warmup_s" "${HDR/warmup_s = 0/warmup_s = -1}$WASR$VDED"
scen err nan_drain "drain_s" "${HDR/drain_s = 5/drain_s = nan}$WASR$VDED"
scen err huge_drain "drain_s" "${HDR/drain_s = 5/drain_s = 1e30}$WASR$VDED"
scen err duration_string "duration_s" "${HDR/duration_s = 2/duration_s = \"2\"}$WASR$VDED"
scen err int_overflow_toml "count" "$HDR$WASR${VDED/models = \[\"asr\"\] \}/models = [\"asr\"], count = 99999999999999999999 \}}"
scen err count_4e9 "count" "$HDR$WASR${VDED/models = \[\"asr\"\] \}/models = [\"asr\"], count = 4000000000 \}}"
scen err count_neg "count" "$HDR$WASR${VDED/models = \[\"asr\"\] \}/models = [\"asr\"], count = -1 \}}"
scen err count_zero "count" "$HDR$WASR${VDED/models = \[\"asr\"\] \}/models = [\"asr\"], count = 0 \}}"
scen err count_5000 "count" "$HDR$WASR${VDED/models = \[\"asr\"\] \}/models = [\"asr\"], count = 5000 \}}"
scen err gpus_many_entries "count" "$HDR$WASR[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [$(for i in $(seq 1 5); do printf '{ regime = "dedicated", models = ["asr"], count = 1000 },'; done)]
"
scen err rate_nan "rate_rps" "$HDR${WASR/rate_rps = 5/rate_rps = nan}$VDED"
scen err rate_inf "rate_rps" "$HDR${WASR/rate_rps = 5/rate_rps = inf}$VDED"
scen err rate_zero "rate_rps" "$HDR${WASR/rate_rps = 5/rate_rps = 0}$VDED"
scen err rate_huge "rate_rps" "$HDR${WASR/rate_rps = 5/rate_rps = 1e12}$VDED"
scen err gamma_cv_huge "cv" "$HDR${WASR/process = \"poisson\", rate_rps = 5/process = \"gamma\", rate_rps = 5, cv = 1e9}$VDED"
scen err gamma_cv_zero "cv" "$HDR${WASR/process = \"poisson\", rate_rps = 5/process = \"gamma\", rate_rps = 5, cv = 0}$VDED"
scen any gamma_cv_max "" "$HDR${WASR/process = \"poisson\", rate_rps = 5/process = \"gamma\", rate_rps = 5, cv = 100}$VDED"
scen any gamma_cv_min "" "$HDR${WASR/process = \"poisson\", rate_rps = 5/process = \"gamma\", rate_rps = 5, cv = 0.001}$VDED"
scen err onoff_zero_on "on_s" "$HDR${WASR/process = \"poisson\", rate_rps = 5/process = \"on-off\", rate_rps = 5, on_s = 0, off_s = 1}$VDED"
scen any onoff_tiny_on "" "$HDR${WASR/process = \"poisson\", rate_rps = 5/process = \"on-off\", rate_rps = 5, on_s = 1e-9, off_s = 1e9}$VDED"
scen err size_neg "size.value" "$HDR${WASR/value = 3/value = -3}$VDED"
scen err size_nan "size.value" "$HDR${WASR/value = 3/value = nan}$VDED"
scen any size_huge_asr "" "$HDR${WASR/value = 3/value = 1e9}$VDED"
scen any size_tiny "" "$HDR${WASR/value = 3/value = 1e-300}$VDED"
scen err lognormal_sigma "sigma" "$HDR${WASR/dist = \"fixed\", value = 3/dist = \"lognormal\", median = 3, sigma = 1e6, min = 1, max = 2}$VDED"
scen err lognormal_minmax "min" "$HDR${WASR/dist = \"fixed\", value = 3/dist = \"lognormal\", median = 3, sigma = 1, min = 5, max = 2}$VDED"
scen err unknown_dist "dist" "$HDR${WASR/dist = \"fixed\"/dist = \"pareto\"}$VDED"
scen err unknown_process "process" "$HDR${WASR/process = \"poisson\"/process = \"hawkes\"}$VDED"
scen err unknown_regime "regime" "$HDR$WASR${VDED/dedicated/shared}"
scen err unknown_gpu "gpu" "$HDR$WASR${VDED/h100-80gb/h900}"
scen err unknown_model_from "from" "${HDR/h100\/asr/h100\/whisper}$WASR$VDED"
scen err unknown_model_ref "workload[0].model" "$HDR${WASR/model = \"asr\"/model = \"nope\"}$VDED"
scen err unknown_top_key "bogus" "${HDR}bogus = 1
$WASR$VDED"
scen err no_workload "workload" "$HDR$VDED"
scen err no_variant "variant" "$HDR$WASR"
scen err no_models "models" "name = \"h\"
duration_s = 2
models = {}
$WASR$VDED"
scen err closed_loop_1e9 "users" "${HDR/duration_s = 2/duration_s = 1e9}[[workload]]
model = \"asr\"
users = 1
think_s = 0
size = { dist = \"fixed\", value = 3 }
$VDED"
scen err closed_users_huge "users" "$HDR[[workload]]
model = \"asr\"
users = 4000000000
size = { dist = \"fixed\", value = 3 }
$VDED"
scen any closed_think0_fault "" "$HDR[[workload]]
model = \"asr\"
users = 3
size = { dist = \"fixed\", value = 3 }
[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"dedicated\", models = [\"asr\"] }]
faults = [{ model = \"asr\", at_s = 0.5, restart_s = 1 }]
"
scen err fault_mtbf_tiny "mtbf_s" "$HDR$WASR${VDED}faults = [{ model = \"asr\", mtbf_s = 1e-9, restart_s = 0 }]
"
scen err fault_mtbf_nan "mtbf_s" "$HDR$WASR${VDED}faults = [{ model = \"asr\", mtbf_s = nan, restart_s = 0 }]
"
scen err fault_restart_neg "restart_s" "$HDR$WASR${VDED}faults = [{ model = \"asr\", at_s = 1, restart_s = -5 }]
"
scen err fault_restart_huge "restart_s" "$HDR$WASR${VDED}faults = [{ model = \"asr\", at_s = 1, restart_s = 1e300 }]
"
scen err fault_both "faults[0]" "$HDR$WASR${VDED}faults = [{ model = \"asr\", at_s = 1, mtbf_s = 3, restart_s = 1 }]
"
scen err fault_replica_missing "replica" "$HDR$WASR${VDED}faults = [{ model = \"asr\", replica = 7, at_s = 1, restart_s = 1 }]
"
scen err fault_replica_huge "replica" "$HDR$WASR${VDED}faults = [{ model = \"asr\", replica = 18446744073709551615, at_s = 1, restart_s = 1 }]
"
scen err fault_model_unplaced "model" "$HDR$WASR${VDED}faults = [{ model = \"tts\", at_s = 1, restart_s = 1 }]
"
scen err fault_model_unknown "model" "$HDR$WASR${VDED}faults = [{ model = \"zzz\", at_s = 1, restart_s = 1 }]
"
scen err fault_at_nan "at_s" "$HDR$WASR${VDED}faults = [{ model = \"asr\", at_s = nan, restart_s = 1 }]
"
scen err mps_thread_tiny "thread_pct" "$HDR$WASR$WTTS[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"mps\", models = [\"asr\", \"tts\"], thread_pct = [1e-12, 50] }]
"
scen err mps_thread_nan "thread_pct" "$HDR$WASR$WTTS[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"mps\", models = [\"asr\", \"tts\"], thread_pct = [nan, 50] }]
"
scen err mps_thread_len "thread_pct" "$HDR$WASR$WTTS[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"mps\", models = [\"asr\", \"tts\"], thread_pct = [50] }]
"
scen err mps_mem_neg "mem_limit_gib" "$HDR$WASR$WTTS[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"mps\", models = [\"asr\", \"tts\"], mem_limit_gib = [-1, 10] }]
"
scen err mps_mem_over "mem_limit_gib" "$HDR$WASR$WTTS[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"mps\", models = [\"asr\", \"tts\"], mem_limit_gib = [1e300, 10] }]
"
scen err ts_quantum_tiny "quantum_ms" "$HDR$WASR$WTTS[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"time-sliced\", models = [\"asr\", \"tts\"], quantum_ms = 1e-12 }]
"
scen err ts_switch_neg "switch_us" "$HDR$WASR$WTTS[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"time-sliced\", models = [\"asr\", \"tts\"], switch_us = -3 }]
"
scen err ts_models_huge "models" "$HDR$WASR[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"time-sliced\", models = [$(for i in $(seq 1 3000); do printf '"asr",'; done)] }]
"
scen err mig_layout_garbage "layout" "$HDR$WASR[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"mig\", layout = \"$(head -c 100000 /dev/zero | tr '\0' 'x')\", models = [\"asr\"] }]
"
scen err mig_layout_newline "layout" "$HDR$WASR[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"mig\", layout = \"1g.10gb\\nINJECTED\", models = [\"asr\"] }]
"
scen err mig_on_l4 "layout" "$HDR$WASR[[variant]]
name = \"v\"
gpu = \"l4\"
gpus = [{ regime = \"mig\", layout = \"1g.10gb\", models = [\"asr\"] }]
"
scen err dup_variant "variant[1].name" "$HDR$WASR$VDED$VDED"
scen err dup_workload "name" "$HDR${WASR}name = \"a\"
${WASR}name = \"a\"
$VDED"
scen err variants_2000 "variant" "$HDR$WASR$(for i in $(seq 1 2000); do printf '[[variant]]\nname = "v%s"\ngpu = "h100-80gb"\ngpus = [{ regime = "dedicated", models = ["asr"] }]\n' "$i"; done)"
scen err workloads_2000 "workload" "$HDR$(for i in $(seq 1 2000); do printf '[[workload]]\nname = "w%s"\nmodel = "asr"\narrivals = { process = "poisson", rate_rps = 1 }\nsize = { dist = "fixed", value = 3 }\n' "$i"; done)
$VDED"
scen any variants_1000 "" "${HDR/duration_s = 2/duration_s = 1}$WASR$(for i in $(seq 1 1000); do printf '[[variant]]\nname = "v%s"\ngpu = "h100-80gb"\ngpus = [{ regime = "dedicated", models = ["asr"] }]\n' "$i"; done)"
scen any workloads_1000 "" "${HDR/duration_s = 2/duration_s = 1}$(for i in $(seq 1 1000); do printf '[[workload]]\nname = "w%s"\nmodel = "asr"\narrivals = { process = "poisson", rate_rps = 1 }\nsize = { dist = "fixed", value = 3 }\n' "$i"; done)
$VDED"
scen err models_2000 "models" "name = \"h\"
duration_s = 2
$(for i in $(seq 1 2000); do printf '[models.m%s]\nfrom = "h100/asr"\n' "$i"; done)
$WASR$VDED"
scen err deep_nesting "deep_nesting.toml" "${HDR}x = $(head -c 20000 /dev/zero | tr '\0' '[')$(head -c 20000 /dev/zero | tr '\0' ']')
$WASR$VDED"
scen err deep_tables "deep_tables.toml" "${HDR}x = $(for i in $(seq 1 5000); do printf '{a='; done)1$(for i in $(seq 1 5000); do printf '}'; done)
$WASR$VDED"
scen err long_name "workload[0].model" "$HDR${WASR/model = \"asr\"/model = \"$(head -c 1000000 /dev/zero | tr '\0' 'a')\"}$VDED"
scen err long_scenario_name "long_scenario_name.toml" "${HDR/name = \"h\"/name = \"$(head -c 5000000 /dev/zero | tr '\0' 'a')\"}$WASR$VDED x"
scen err newline_name "workload[0].model" "$HDR${WASR/model = \"asr\"/model = \"asr\\nSECOND LINE\\r\\nTHIRD\"}$VDED"
scen err pipeline_long "pipeline" "$HDR[[workload]]
pipeline = [$(for i in $(seq 1 100); do printf '"asr",'; done)]
arrivals = { process = \"poisson\", rate_rps = 1 }
size = { dist = \"fixed\", value = 3 }
$VDED"
scen err pipeline_empty "pipeline" "$HDR[[workload]]
pipeline = []
arrivals = { process = \"poisson\", rate_rps = 1 }
size = { dist = \"fixed\", value = 3 }
$VDED"
scen err links_nan "links" "$HDR[[workload]]
pipeline = [\"asr\", \"tts\"]
arrivals = { process = \"poisson\", rate_rps = 1 }
size = { dist = \"fixed\", value = 3 }
links = { words_per_audio_s = nan }
[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"time-sliced\", models = [\"asr\", \"tts\"] }]
"
scen any links_huge "" "$HDR[[workload]]
pipeline = [\"asr\", \"tts\"]
arrivals = { process = \"poisson\", rate_rps = 1 }
size = { dist = \"fixed\", value = 3 }
links = { words_per_audio_s = 1e9, chars_per_token = 1e9 }
[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"time-sliced\", models = [\"asr\", \"tts\"] }]
"
scen err max_batch_zero "max_batch" "${HDR/from = \"h100\/asr\"/from = \"h100\/asr\"
max_batch = 0}$WASR$VDED"
scen err max_batch_huge "max_batch" "${HDR/from = \"h100\/asr\"/from = \"h100\/asr\"
max_batch = 4000000000}$WASR$VDED"
scen err memory_nan "memory_gib" "${HDR/from = \"h100\/asr\"/from = \"h100\/asr\"
memory_gib = nan}$WASR$VDED"
scen err memory_too_big "do not fit" "${HDR/from = \"h100\/asr\"/from = \"h100\/asr\"
memory_gib = 1e6}$WASR$VDED"
scen err llm_ctx_zero "max_context_tokens" "${HDR/from = \"h100\/llm\"/from = \"h100\/llm\"
max_context_tokens = 0}$WASR$VDED"
scen err chunk_s_tiny "chunk_s" "${HDR/from = \"h100\/asr\"/from = \"h100\/asr\"
chunk_s = 1e-9}$WASR$VDED"
scen err price_neg "price_usd_per_hour" "$HDR$WASR${VDED}price_usd_per_hour = -1
"
scen err price_nan "price_usd_per_hour" "$HDR$WASR${VDED}price_usd_per_hour = nan
"
scen err timeout_nan "timeout_s" "$HDR${WASR}timeout_s = nan
$VDED"
scen err slo_unknown "slo" "$HDR$WASR$VDED[slo]
\"asr.p42_ms\" = 3
"
scen err slo_nan "slo" "$HDR$WASR$VDED[slo]
\"asr.p95_ms\" = nan
"
scen err slo_availability_2 "slo" "$HDR$WASR$VDED[slo]
\"asr.availability\" = 2
"
scen err served_nowhere "variant[0].gpus" "$HDR$WASR$WTTS$VDED"
scen err llm_no_out "out_tokens" "$HDR[[workload]]
model = \"llm\"
arrivals = { process = \"poisson\", rate_rps = 1 }
size = { dist = \"fixed\", value = 30 }
${VDED/asr/llm}"
scen err llm_prompt_over_context "size" "${HDR/from = \"h100\/llm\"/from = \"h100\/llm\"
max_context_tokens = 100}[[workload]]
model = \"llm\"
users = 1
size = { dist = \"fixed\", value = 100 }
out_tokens = { dist = \"fixed\", value = 1 }
${VDED/asr/llm}"
scen any llm_out_huge "" "$HDR[[workload]]
model = \"llm\"
arrivals = { process = \"poisson\", rate_rps = 1 }
size = { dist = \"fixed\", value = 30 }
out_tokens = { dist = \"fixed\", value = 1e9 }
${VDED/asr/llm}"
# At the work bound (limits::MAX_REQUESTS): each must finish in 20 s and 4 GB.
scen any limit_overloaded_1gpu "" "${HDR/duration_s = 2/duration_s = 100}${WASR/rate_rps = 5/rate_rps = 99000}$VDED"
scen any limit_served_64gpu "" "${HDR/duration_s = 2/duration_s = 100}${WASR/rate_rps = 5/rate_rps = 99000}${VDED/models = \[\"asr\"\] \}/models = [\"asr\"], count = 64 \}}"
scen any limit_timesliced "" "${HDR/duration_s = 2/duration_s = 100}${WASR/rate_rps = 5/rate_rps = 75000}${WTTS/rate_rps = 2/rate_rps = 20000}[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"time-sliced\", models = [\"asr\", \"tts\"], quantum_ms = 0.05, switch_us = 0 }]
"
scen any limit_llm "" "${HDR/duration_s = 2/duration_s = 100}[[workload]]
model = \"llm\"
arrivals = { process = \"poisson\", rate_rps = 99000 }
size = { dist = \"fixed\", value = 1000 }
out_tokens = { dist = \"fixed\", value = 1000 }
${VDED/asr/llm}"
scen any limit_streaming "" "${HDR/from = \"h100\/asr\"/from = \"h100\/asr\"
asr_mode = \"streaming\"
chunk_s = 0.04}${WASR/rate_rps = 5/rate_rps = 2500}${VDED}"
scen any limit_closed_users "" "${HDR/duration_s = 2/duration_s = 100}[[workload]]
model = \"asr\"
users = 1000000
think_s = 5
size = { dist = \"fixed\", value = 3 }
$VDED"
scen any limit_10_variants "" "${HDR/duration_s = 2/duration_s = 100}${WASR/rate_rps = 5/rate_rps = 9900}$(for i in $(seq 1 10); do printf '[[variant]]\nname = "v%s"\ngpu = "h100-80gb"\ngpus = [{ regime = "dedicated", models = ["asr"] }]\n' "$i"; done)"
scen err over_limit_variants "x 10 variants" "${HDR/duration_s = 2/duration_s = 100}${WASR/rate_rps = 5/rate_rps = 30000}$(for i in $(seq 1 10); do printf '[[variant]]\nname = "v%s"\ngpu = "h100-80gb"\ngpus = [{ regime = "dedicated", models = ["asr"] }]\n' "$i"; done)"
scen err over_limit_workloads "workload[" "${HDR/duration_s = 2/duration_s = 100}$(for i in $(seq 1 30); do printf '[[workload]]\nname = "w%s"\nmodel = "asr"\narrivals = { process = "poisson", rate_rps = 10000 }\nsize = { dist = "fixed", value = 3 }\n' "$i"; done)
$VDED"
# Time slices (limits::MAX_SLICES): a contended time-sliced GPU costs per slice.
TSW='[[workload]]
model = "asr"
arrivals = { process = "poisson", rate_rps = 0.01 }
size = { dist = "fixed", value = 1e6 }
[[workload]]
model = "tts"
arrivals = { process = "poisson", rate_rps = 0.01 }
size = { dist = "fixed", value = 1e6 }
[[variant]]
name = "v"
gpu = "h100-80gb"
gpus = [{ regime = "time-sliced", models = ["asr", "tts"], quantum_ms = 0.05 }]
'
scen err ts_slices_over_limit "variant[0].gpus" "${HDR/duration_s = 2/duration_s = 1e6}$TSW"
scen any ts_slices_at_limit "" "${HDR/duration_s = 2/duration_s = 45000}${TSW/drain_s = 5/drain_s = 0}"
scen any tts_chars_1e6_inflight "" "${HDR/from = \"h100\/tts\"/from = \"h100\/tts\"
tts_policy = \"in-flight\"}${WTTS/value = 50/value = 1e6}$VTTS"
scen any llm_out_5e6_tokens "" "${HDR/duration_s = 2/duration_s = 100}[[workload]]
model = \"llm\"
arrivals = { process = \"poisson\", rate_rps = 1000 }
size = { dist = \"fixed\", value = 100 }
out_tokens = { dist = \"fixed\", value = 3000 }
${VDED/asr/llm}"
probe err run/set_bad "duration_s" -- run base_ok.toml --set 'duration_s=nan'
probe err run/set_path "variant[9]" -- run base_ok.toml --set 'variant[9].gpu="a100-80gb"'
probe err run/set_garbage "" -- run base_ok.toml --set '=='
probe err run/seed_text "" -- run base_ok.toml --seed abc

# Endless or huge files: refused at a byte limit, never read into memory whole.
probe err endless/scenario_dev_zero "/dev/zero" -- run /dev/zero
probe err endless/scenario_urandom "/dev/urandom" -- run /dev/urandom
printf '%s[[workload]]\nmodel = "asr"\ntrace = "/dev/zero"\n%s' "$HDR" "$VDED" >endless_trace.toml
probe err endless/trace_dev_zero "/dev/zero" -- run endless_trace.toml
printf '%s' "${HDR/from = \"h100\/asr\"/from = \"\/dev\/urandom\"}$WASR$VDED" >endless_model.toml
probe err endless/model_urandom "/dev/urandom" -- run endless_model.toml
probe err endless/profile_dev_zero "/dev/zero" -- calibrate --kind asr --profile /dev/zero --out x.json
probe err endless/sweep_dev_zero "/dev/zero" -- sweep /dev/zero --out endless_out
probe err endless/plan_dev_zero "/dev/zero" -- plan /dev/zero
probe err endless/set_dev_zero "/dev/zero" -- run /dev/zero --set 'duration_s=3'

# ---------------------------------------------------------------- model JSON
# model EXPECT NAME NEEDLE SRC PYTHON: write NAME.json (models/h100/SRC.json changed by PYTHON on
# `d`) and run a scenario on it.
model() {
    local expect=$1 name=$2 needle=$3 src=$4 code=$5
    python3 - "$ROOT/models/h100/$src.json" "$name.json" "$code" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[3])
open(sys.argv[2], "w").write(json.dumps(d, allow_nan=True) if not isinstance(d, str) else d)
EOF
    local w
    case $src in
    asr) w='size = { dist = "fixed", value = 3 }' ;;
    tts) w='size = { dist = "fixed", value = 50 }' ;;
    llm) w='size = { dist = "fixed", value = 50 }
out_tokens = { dist = "fixed", value = 10 }' ;;
    esac
    printf 'name = "m"\nduration_s = 2\n[models.m]\nfrom = "%s.json"\n[[workload]]\nmodel = "m"\narrivals = { process = "poisson", rate_rps = 3 }\n%s\n[[variant]]\nname = "v"\ngpu = "h100-80gb"\ngpus = [{ regime = "dedicated", models = ["m"] }]\n' "$name" "$w" >"model_$name.toml"
    probe "$expect" "model/$name" "$needle" -- run "model_$name.toml"
}
model any asr_ok "" asr 'pass'
model err tts_frames_range "frames_range" tts 'd["frames_range"]=[500,4]'
model err tts_frames_range_zero "frames_range" tts 'd["frames_range"]=[0,0]'
model err tts_frames_range_neg "frames_range" tts 'd["frames_range"]=[-1,5]'
model err tts_fpc_neg "frames_per_char" tts 'd["frames_per_char"]=-1.4'
model err tts_fpc_nan "tts_fpc_nan.json" tts 'd["frames_per_char"]=float("nan")'
model err tts_fps_zero "frames_per_s" tts 'd["frames_per_s"]=0'
model err latency_1e15 "latency_ms" asr 'd["ops"]["encode"]["latency_ms"][0][0]=1e15'
model err latency_neg "latency_ms" asr 'd["ops"]["encode"]["latency_ms"][0][0]=-1'
model err latency_inf "latency_inf.json" asr 'd["ops"]["encode"]["latency_ms"][0][0]=12345.678; d=json.dumps(d).replace("12345.678", "1e999", 1)'
model err latency_nan_text "latency_nan_text.json" asr 'd["ops"]["encode"]["latency_ms"][0][0]=12345.678; d=json.dumps(d).replace("12345.678", "NaN", 1)'
model err batch_bucket_zero "batch_buckets" asr 'd["ops"]["encode"]["batch_buckets"]=[0,1,2]'
model err batch_bucket_neg "-1" asr 'd["ops"]["encode"]["batch_buckets"]=[-1,2]'
model err batch_bucket_desc "batch_buckets" asr 'd["ops"]["encode"]["batch_buckets"]=[8,4,2,1]'
model err batch_bucket_huge "batch_buckets" asr 'd["ops"]["encode"]["batch_buckets"]=[1,2,4000000000]'
model err size_bucket_desc "size_buckets" asr 'd["ops"]["encode"]["size_buckets"]=[30,2]'
model err size_bucket_neg "ops.encode" asr 'd["ops"]["encode"]["size_buckets"]=[-3,2]'
model err batch_axis_desc "ops.encode" asr 'd["ops"]["encode"]["batch"]=list(reversed(d["ops"]["encode"]["batch"]))'
model err batch_axis_empty "ops.encode" asr 'd["ops"]["encode"]["batch"]=[]'
model err latency_shape "ops.encode" asr 'd["ops"]["encode"]["latency_ms"]=d["ops"]["encode"]["latency_ms"][:1]'
model err frac_2 "fixed_frac" asr 'd["ops"]["encode"]["fixed_frac"][0][0]=2'
model err max_batch_zero "max_batch" asr 'd["max_batch"]=0'
model err max_batch_huge "max_batch" asr 'd["max_batch"]=4000000000'
model err max_batch_neg "max_batch" asr 'd["max_batch"]=-3'
model err dispatch_neg "dispatch_ms" asr 'd["dispatch_ms"]=-1'
model err dispatch_huge "dispatch_ms" asr 'd["dispatch_ms"]=1e300'
model err call_gap_neg "call_gap_ms" asr 'd["call_gap_ms"]=-1'
model err call_gap_huge "call_gap_ms" asr 'd["call_gap_ms"]=1e300'
model err busy_zero "shared_time_fraction" asr 'd["shared_time_fraction"]=0'
model err busy_old_name_too "shared_time_fraction" asr 'd["gpu_busy_fraction"]=0.9'
model err host_phase_neg "host_phase_ms" tts 'd["host_phase_ms"]=-1'
model err host_phase_nan "host_phase_nan.json" tts 'd["host_phase_ms"]=float("nan")'
model err host_phase_and_copy "host_phase_ms" llm 'd["host_phase_ms"]=5'
model err weights_neg "weights_gib" asr 'd["memory"]["weights_gib"]=-5'
model err weights_nan "weights_nan.json" asr 'd["memory"]["weights_gib"]=float("nan")'
model err runtime_huge "runtime_gib" asr 'd["memory"]["runtime_gib"]=1e300'
model err scaling_knee "scaling" asr 'd["scaling"]["knee"]=0'
model err scaling_bw_neg "scaling" asr 'd["scaling"]["sm_bw_gbps"]=-1'
model err unknown_kind "kind" asr 'd["kind"]="vision"'
model err missing_op "ops" asr 'd["ops"]={}'
model err unknown_ref_gpu "reference_gpu" asr 'd["reference_gpu"]="h900"'
model err llm_kv_zero "llm" llm 'd["llm"]={k:(0 if isinstance(v,(int,float)) and not isinstance(v,bool) else v) for k,v in d["llm"].items()}'
model err llm_kv_neg "llm" llm 'k=[k for k,v in d["llm"].items() if isinstance(v,float)][0]; d["llm"][k]=-1.0'
model err empty_json "empty_json.json" asr 'd=""'
model err garbage_json "garbage_json.json" asr 'd="\x00\x01garbage{"'
model err json_array "json_array.json" asr 'd="[1,2,3]"'
model err json_deep "json_deep.json" asr 'd="["*100000+"]"*100000'
model any json_long_string "" asr 'd["description"]="x"*50000000; d=json.dumps(d)'
model err json_extra_field "bogus" asr 'd["bogus"]=1'
model err json_trailing "json_trailing.json" asr 'd=json.dumps(d)+"{}"'

# ---------------------------------------------------------------- traces
# trace EXPECT NAME NEEDLE MODEL FILE-TEXT: write NAME.trace and replay it on MODEL.
trace() {
    local expect=$1 name=$2 needle=$3 m=$4
    printf '%s' "$5" >"$name.trace"
    local extra=""
    [ "$m" = llm ] && extra='out_tokens = { dist = "fixed", value = 10 }'
    printf '%s[[workload]]\nmodel = "%s"\ntrace = "%s.trace"\n%s\n[[variant]]\nname = "v"\ngpu = "h100-80gb"\ngpus = [{ regime = "dedicated", models = ["%s"] }]\n' "$HDR" "$m" "$name" "$extra" "$m" >"trace_$name.toml"
    probe "$expect" "trace/$name" "$needle" -- run "trace_$name.toml"
}
trace any asr_ok "" asr $'id,arrival_s,audio_s\n0,0.1,3\n1,0.5,4\n'
trace err empty "empty.trace" asr ""
trace err header_only "header_only.trace" asr $'id,arrival_s,audio_s\n'
trace err garbage "garbage.trace" asr $'\x00\xff\xfe\x01binary\n\x02\x03'
trace err tts_chars_to_asr "trace" asr $'id,arrival_s,chars\n0,0.1,30\n'
trace err llm_prompt_to_asr "trace" asr $'id,arrival_s,prompt_tokens,output_tokens\n0,0.1,30,5\n'
trace err asr_to_tts "trace" tts $'id,arrival_s,audio_s\n0,0.1,3\n'
trace err azure_to_asr "trace" asr $'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n'
trace err mooncake_to_tts "trace" tts $'{"timestamp": 0, "input_length": 10, "output_length": 3}\n'
trace err arrival_nan "arrival" asr $'id,arrival_s,audio_s\n0,nan,3\n'
trace err arrival_neg "arrival" asr $'id,arrival_s,audio_s\n0,-1,3\n'
trace err arrival_huge "arrival" asr $'id,arrival_s,audio_s\n0,1e300,3\n'
trace err size_zero "audio_s" asr $'id,arrival_s,audio_s\n0,0.1,0\n'
trace err size_inf "audio_s" asr $'id,arrival_s,audio_s\n0,0.1,inf\n'
trace err size_huge "audio_s" asr $'id,arrival_s,audio_s\n0,0.1,1e30\n'
trace any asr_audio_long "" asr $'id,arrival_s,audio_s\n0,0.1,16000000\n'
trace any tts_chars_huge "" tts $'id,arrival_s,chars\n0,0.1,16000000\n'
trace err ragged "line 3" asr $'id,arrival_s,audio_s\n0,0.1,3\n1,0.2\n'
trace err text_value "audio_s" asr $'id,arrival_s,audio_s\n0,0.1,three\n'
trace err out_tokens_zero "output_tokens" llm $'id,arrival_s,prompt_tokens,output_tokens\n0,0.1,30,0\n'
trace err out_tokens_neg "output_tokens" llm $'id,arrival_s,prompt_tokens,output_tokens\n0,0.1,30,-4\n'
trace any llm_prompt_huge "" llm $'id,arrival_s,prompt_tokens,output_tokens\n0,0.1,16000000,16000000\n'
trace err mooncake_bad "line 1" llm $'{"timestamp": "x"}\n'
trace err mooncake_nan "line 1" llm $'{"timestamp": 0, "input_length": NaN, "output_length": 3}\n'
trace err mooncake_garbage_line "line 2" llm $'{"timestamp": 0, "input_length": 5, "output_length": 3}\ngarbage\x01\n'
trace err azure_bad_ts "TIMESTAMP" llm $'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-13-45 99:99:99,374,44\n'
trace err azure_backwards "TIMESTAMP" llm $'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n2023-11-15 18:15:46.68,374,44\n'
trace err unknown_format "header" asr $'a,b,c\n1,2,3\n'
trace err missing_file "missing_file.trace" asr ""
rm missing_file.trace
sed -i 's/missing_file.trace/nosuch.csv/' trace_missing_file.toml
probe err trace/missing_file2 "nosuch.csv" -- run trace_missing_file.toml
python3 -c "
import sys
with open('big_rows.trace','w') as f:
    f.write('id,arrival_s,audio_s\n')
    for i in range(200000): f.write('%d,%f,3\n' % (i, i*1e-4))
"
printf '%s[[workload]]\nmodel = "asr"\ntrace = "big_rows.trace"\n[[variant]]\nname = "v"\ngpu = "h100-80gb"\ngpus = [{ regime = "dedicated", models = ["asr"] }]\n' "$HDR" >trace_big.toml
probe any trace/200k_rows_in_20s "" -- run trace_big.toml
printf 'id,arrival_s,audio_s\n0,0.1,%s\n' "$(head -c 3000000 /dev/zero | tr '\0' '9')" >longcell.trace
sed 's/big_rows.trace/longcell.trace/' trace_big.toml >trace_longcell.toml
probe err trace/long_cell "longer than" -- run trace_longcell.toml
head -c 5000000 /dev/zero | tr '\0' 'x' >longline.trace
sed 's/big_rows.trace/longline.trace/' trace_big.toml >trace_longline.toml
probe err trace/long_header "longline.trace" -- run trace_longline.toml

# ---------------------------------------------------------------- sweep specs
SWBASE="$HDR$WASR$VDED"
sweep() {
    printf '%s' "$4" >"sweep_$2.toml"
    rm -rf "out_$2"
    probe "$1" "sweep/$2" "$3" -- sweep "sweep_$2.toml" --out "out_$2" --threads 1
}
sweep any ok "" "$SWBASE[sweep]
seeds = [1, 2]
\"workload[0].arrivals.rate_rps\" = [1, 2]
"
sweep err no_sweep "sweep" "$SWBASE"
sweep err no_variant "variant" "$HDR$WASR[sweep]
\"workload[0].arrivals.rate_rps\" = [1, 2]
"
sweep err axis_empty "sweep" "$SWBASE[sweep]
\"workload[0].arrivals.rate_rps\" = []
"
sweep err axis_bad_path "workload[7]" "$SWBASE[sweep]
\"workload[7].arrivals.rate_rps\" = [1]
"
sweep err axis_garbage_path "sweep" "$SWBASE[sweep]
\"][..[[\" = [1]
"
sweep err axis_bad_value "rate_rps" "$SWBASE[sweep]
\"workload[0].arrivals.rate_rps\" = [1, nan]
"
sweep err axis_huge_value "rate_rps" "$SWBASE[sweep]
\"workload[0].arrivals.rate_rps\" = [1, 1e12]
"
sweep err axis_wrong_type "duration_s" "$SWBASE[sweep]
\"duration_s\" = [\"long\"]
"
sweep err dup_seeds "seeds" "$SWBASE[sweep]
seeds = [1, 1]
"
sweep err neg_seed "seeds" "$SWBASE[sweep]
seeds = [-1]
"
sweep err seeds_huge "sweep" "$SWBASE[sweep]
seeds = [$(seq -s, 1 100000)]
\"workload[0].arrivals.rate_rps\" = [$(seq -s, 1 200)]
"
sweep err grid_1e9 "sweep" "$SWBASE[sweep]
\"workload[0].arrivals.rate_rps\" = [$(seq -s, 1 1000)]
\"drain_s\" = [$(seq -s, 1 1000)]
\"duration_s\" = [$(seq -s, 1 1000)]
"
sweep err grid_8e6 "sweep" "$SWBASE[sweep]
\"workload[0].arrivals.rate_rps\" = [$(seq -s, 1 200)]
\"drain_s\" = [$(seq -s, 1 200)]
\"duration_s\" = [$(seq -s, 1 200)]
"
sweep err axis_1e6_values "sweep" "$SWBASE[sweep]
\"drain_s\" = [$(seq -s, 1 1000000)]
"
sweep err many_axes "sweep" "$SWBASE[sweep]
$(for i in $(seq 1 40); do printf '"variant[0].gpus[0].count" = [1, 2]\n' | sed "s/count/count$i/"; done)
"
sweep err sweep_sweep "sweep" "$SWBASE[sweep]
\"sweep.seeds\" = [[1]]
"
probe err sweep/shard_bad "shard" -- sweep sweep_ok.toml --out out_shard --shard 5/2
probe err sweep/shard_zero "shard" -- sweep sweep_ok.toml --out out_shard0 --shard 0/0
probe err sweep/check_garbage "check" -- sweep sweep_ok.toml --out out_chk --check 'nonsense'
probe err sweep/threads_huge "threads" -- sweep sweep_ok.toml --out out_thr --threads 4000000000
mkdir -p out_resume && printf 'garbage,\x00\n\x01' >out_resume/results.csv
probe err sweep/resume_garbage "out_resume" -- sweep sweep_ok.toml --out out_resume --resume
probe err sweep/merge_garbage "" -- sweep-merge --out out_merge out_resume

# ---------------------------------------------------------------- plan specs
PLBASE='name = "p"
duration_s = 10
warmup_s = 2
[models.asr]
from = "h100/asr"
[[workload]]
model = "asr"
arrivals = { process = "poisson", rate_rps = 10 }
size = { dist = "fixed", value = 3 }
'
PLAN='[plan]
gpu_types = ["h100-80gb"]
regimes = ["dedicated"]
max_gpus = 4
seeds = 1
'
plan() {
    printf '%s' "$4" >"plan_$2.toml"
    probe "$1" "plan/$2" "$3" -- plan "plan_$2.toml"
}
plan any ok "" "$PLBASE[slo]
\"asr.p95_ms\" = 500
$PLAN"
plan err no_slo "slo" "$PLBASE$PLAN"
plan any impossible_slo "" "$PLBASE[slo]
\"asr.p95_ms\" = 1e-6
$PLAN"
plan err slo_zero "slo" "$PLBASE[slo]
\"asr.p95_ms\" = 0
$PLAN"
plan err slo_nan "slo" "$PLBASE[slo]
\"asr.p95_ms\" = nan
$PLAN"
plan err slo_unknown_target "slo" "$PLBASE[slo]
\"zzz.p95_ms\" = 100
$PLAN"
plan err with_variant "variant" "$PLBASE$VDED[slo]
\"asr.p95_ms\" = 500
$PLAN"
plan err max_gpus_huge "max_gpus" "$PLBASE[slo]
\"asr.p95_ms\" = 500
${PLAN/max_gpus = 4/max_gpus = 4000000000}"
plan err max_gpus_zero "max_gpus" "$PLBASE[slo]
\"asr.p95_ms\" = 500
${PLAN/max_gpus = 4/max_gpus = 0}"
plan err seeds_huge "seeds" "$PLBASE[slo]
\"asr.p95_ms\" = 500
${PLAN/seeds = 1/seeds = 1000000}"
plan err gpu_type_unknown "gpu_types" "$PLBASE[slo]
\"asr.p95_ms\" = 500
${PLAN/h100-80gb/h900}"
plan err gpu_types_many "gpu_types" "$PLBASE[slo]
\"asr.p95_ms\" = 500
${PLAN/\"h100-80gb\"/$(for i in $(seq 1 5000); do printf '"h100-80gb",'; done)}"
plan err regime_unknown "regime" "$PLBASE[slo]
\"asr.p95_ms\" = 500
${PLAN/\"dedicated\"/\"magic\"}"
plan err price_neg "price_usd_per_hour" "$PLBASE[slo]
\"asr.p95_ms\" = 500
${PLAN}price_usd_per_hour = { \"h100-80gb\" = -1 }
"
plan err price_unknown_gpu "price_usd_per_hour" "$PLBASE[slo]
\"asr.p95_ms\" = 500
${PLAN}price_usd_per_hour = { \"h900\" = 1 }
"
plan any huge_load "" "${PLBASE/rate_rps = 10/rate_rps = 1e6}[slo]
\"asr.p95_ms\" = 500
$PLAN"
plan err huge_duration "rate_rps" "${PLBASE/duration_s = 10/duration_s = 1e9}[slo]
\"asr.p95_ms\" = 500
$PLAN"
plan any long_duration "" "${PLBASE/duration_s = 10/duration_s = 1e6}[slo]
\"asr.p95_ms\" = 500
${PLAN/max_gpus = 4/max_gpus = 1024}"
plan any many_users "" "${PLBASE/arrivals = \{ process = \"poisson\", rate_rps = 10 \}/users = 1000000
think_s = 1}[slo]
\"asr.p95_ms\" = 500
${PLAN/max_gpus = 4/max_gpus = 1024}"
# The planner's bound (cli::plan::MAX_PLAN_REQUESTS = 5e6 per candidate) stops absurd specs at
# once; a legitimate spec well under it may still plan for minutes (every GPU type, regime and
# count is simulated): this one (5.7e5) takes about 2 s, the same with seeds = 20 over 20 s.
plan any limit_plan "" "${PLBASE/arrivals = \{ process = \"poisson\", rate_rps = 10 \}/users = 2000
think_s = 0.1}[slo]
\"asr.p95_ms\" = 500
[plan]
max_gpus = 1024
seeds = 3
"
plan any limit_plan_all "" "${PLBASE/rate_rps = 10/rate_rps = 4000}[slo]
\"asr.p95_ms\" = 20
[plan]
max_gpus = 1024
seeds = 5
"
probe err plan/load_range_over_limit "load-range" -- plan plan_limit_plan_all.toml --load-range '1:1000:x2'
probe err plan/load_range_garbage "load-range" -- plan plan_ok.toml --load-range 'x:y:z'
probe err plan/load_range_huge "load-range" -- plan plan_ok.toml --load-range '1:1e12:+1'
probe err plan/load_range_nan "load-range" -- plan plan_ok.toml --load-range 'nan:2:x2'
probe err plan/load_range_x1 "load-range" -- plan plan_ok.toml --load-range '1:2:x1'
probe err plan/emit_unwritable "nosuchdir" -- plan plan_ok.toml --emit-scenario nosuchdir/x.toml

# ---------------------------------------------------------------- calibrate
cal() {
    local expect=$1 name=$2 needle=$3 kind=$4
    printf '%s' "$5" >"profile_$name.csv"
    probe "$expect" "calibrate/$name" "$needle" -- calibrate --kind "$kind" --profile "profile_$name.csv" --out "cal_$name.json"
}
cal any ok "" asr "$(cat "$ROOT/models/h100/profile_asr.csv")"
cal err empty "profile_empty.csv" asr ""
cal err header_only "profile_header_only.csv" asr $'model,op,batch,audio_s,latency_ms\n'
cal err garbage "profile_garbage.csv" asr $'\x00\xff\x01\x02\n\x03'
cal err latency_nan "latency_ms" asr $'model,op,batch,audio_s,latency_ms\nasr,encode,1,2,nan\nasr,encode,2,2,5\n'
cal err latency_neg "latency_ms" asr $'model,op,batch,audio_s,latency_ms\nasr,encode,1,2,-5\nasr,encode,2,2,5\n'
cal err latency_huge "latency_ms" asr $'model,op,batch,audio_s,latency_ms\nasr,encode,1,2,1e300\nasr,encode,2,2,5\n'
cal err batch_zero "batch" asr $'model,op,batch,audio_s,latency_ms\nasr,encode,0,2,5\nasr,encode,2,2,5\n'
cal err batch_huge "batch" asr $'model,op,batch,audio_s,latency_ms\nasr,encode,1e300,2,5\nasr,encode,2,2,5\n'
cal err batch_text "batch" asr $'model,op,batch,audio_s,latency_ms\nasr,encode,one,2,5\n'
cal err size_neg "audio_s" asr $'model,op,batch,audio_s,latency_ms\nasr,encode,1,-2,5\nasr,encode,2,2,5\n'
cal err size_inf "audio_s" asr $'model,op,batch,audio_s,latency_ms\nasr,encode,1,inf,5\nasr,encode,2,2,5\n'
cal err wrong_kind_columns "" tts "$(cat "$ROOT/models/h100/profile_asr.csv")"
cal err tts_frames_neg "frames" tts $'model,op,batch,chars,frames,latency_ms\ntts,synthesize,1,40,-57,117\ntts,synthesize,2,40,57,58\n'
cal err unknown_op "op" asr $'model,op,batch,audio_s,latency_ms\nasr,frobnicate,1,2,5\n'
probe err calibrate/kind_unknown "kind" -- calibrate --kind vision --profile profile_ok.csv --out x.json
probe err calibrate/no_input "" -- calibrate --kind asr --out x.json
probe err calibrate/profile_missing "nosuch.csv" -- calibrate --kind asr --profile nosuch.csv --out x.json
probe err calibrate/profile_dir "$W" -- calibrate --kind asr --profile "$W" --out x.json
printf 'start_s,end_s,batch,audio_s\n0.5,0.1,1,3\nnan,1,1,3\n' >bad.batches.csv
probe err calibrate/batches_bad "bad.batches.csv" -- calibrate --kind asr --profile profile_ok.csv --batches bad.batches.csv --out x.json
printf '\x00\x01garbage' >garbage.batches.csv
probe err calibrate/batches_garbage "garbage.batches.csv" -- calibrate --kind asr --profile profile_ok.csv --batches garbage.batches.csv --out x.json
mkdir -p emptyscal
probe err calibrate/scaling_empty "emptyscal" -- calibrate --kind asr --profile profile_ok.csv --scaling emptyscal --out x.json
printf '{"garbage": [' >gp.json
probe err calibrate/genai_garbage "gp.json" -- calibrate --kind llm --genai-perf gp.json --memory-gib 40 --out x.json
GP="$ROOT/traces/genai-perf/llama-3.1-8b-h100-openai-chat-concurrency5/profile_export_genai_perf.json"
GP2="$ROOT/traces/genai-perf/llama-3.1-8b-h100-openai-chat-concurrency25/profile_export_genai_perf.json"
probe any calibrate/genai_ok "" -- calibrate --kind llm --genai-perf "$GP" --genai-perf "$GP2" --memory-gib 40 --out x.json
probe err calibrate/genai_memory_nan "memory" -- calibrate --kind llm --genai-perf "$GP" --genai-perf "$GP2" --memory-gib nan --out x.json
probe err calibrate/genai_memory_huge "memory" -- calibrate --kind llm --genai-perf "$GP" --genai-perf "$GP2" --memory-gib 1e300 --out x.json
probe err calibrate/genai_ctx_zero "context" -- calibrate --kind llm --genai-perf "$GP" --genai-perf "$GP2" --memory-gib 40 --max-context-tokens 0 --out x.json
probe err calibrate/genai_kv_zero "max_seqs" -- calibrate --kind llm --genai-perf "$GP" --genai-perf "$GP2" --memory-gib 40 --kv-slots 0 --out x.json
probe err calibrate/genai_kv_huge "max_seqs" -- calibrate --kind llm --genai-perf "$GP" --genai-perf "$GP2" --memory-gib 40 --kv-slots 4000000000 --out x.json
probe err calibrate/genai_gpu_unknown "h900" -- calibrate --kind llm --genai-perf "$GP" --gpu h900 --out x.json
sed 's/"avg": [0-9.]*/"avg": -5/' "$GP" >gneg.json
probe err calibrate/genai_negative "gneg.json" -- calibrate --kind llm --genai-perf gneg.json --genai-perf "$GP2" --out x.json

# ---------------------------------------------------------------- validate folders
# vfold EXPECT NAME NEEDLE SRC SHELL: copy traces/h100/SRC to NAME/, run SHELL in it, validate.
vfold() {
    rm -rf "$2"
    cp -r "$ROOT/traces/h100/$4" "$2"
    (cd "$2" && eval "$5")
    probe "$1" "validate/$2" "$3" -- validate "$2"
}
vfold any v_ok "" asr_L 'true'
vfold err v_finish_before_arrival "finish_s" asr_L 'sed -i "2s/.*/0,5.0,9.1,5.1,1.0,1/" asr.requests.csv'
vfold err v_mig_enabled "mig" asr_L 'sed -i "2s/Disabled/Enabled/" gpu.csv'
vfold err v_gpu_garbage "gpu.csv" asr_L 'printf "\x00\x01garbage\n" >gpu.csv'
vfold err v_gpu_unknown "gpu.csv" asr_L 'sed -i "2s/NVIDIA H100 80GB HBM3/NVIDIA Voodoo 5/" gpu.csv'
vfold err v_gpu_empty "gpu.csv" asr_L ': >gpu.csv'
vfold err v_no_gpu "gpu.csv" asr_L 'rm gpu.csv'
vfold err v_empty_dir "v_empty_dir" asr_L 'rm -f *'
vfold err v_requests_nan "arrival_s" asr_L 'sed -i "2s/.*/0,nan,9.1,0.1,0.2,1/" asr.requests.csv'
vfold err v_requests_neg_size "audio_s" asr_L 'sed -i "2s/.*/0,0.1,-9.1,0.2,0.3,1/" asr.requests.csv'
vfold err v_requests_empty "requests" asr_L 'head -1 asr.requests.csv >x && mv x asr.requests.csv'
vfold err v_requests_garbage "requests.csv" asr_L 'printf "\x00\xff" >asr.requests.csv'
vfold err v_trace_garbage "trace_asr.csv" asr_L 'printf "\x00\xff" >trace_asr.csv'
vfold err v_batches_garbage "batches.csv" asr_L 'printf "\x00\xff" >asr.batches.csv'
vfold err v_batches_end_before_start "batches" asr_L 'sed -i "2s/.*/5.0,1.0,1,9.1/" asr.batches.csv'
vfold err v_batch_zero "batch" asr_L 'sed -i "2s/.*/0.1,0.2,0,9.1/" asr.batches.csv'
vfold err v_arrival_huge "arrival_s" asr_L 'sed -i "2s/.*/0,1e300,9.1,1e300,1e300,1/" asr.requests.csv'
vfold err v_llm_tokens_neg "tokens" llm_L 'sed -i "2s/.*/0,0.1,-5,3,0.2,0.3,0.4/" llm.requests.csv'
vfold err v_tts_chars_huge "chars" tts_L 'sed -i "2s/.*/0,0.1,1e30,0.2,0.3,1/" tts.requests.csv'
probe err validate/missing_dir "nosuchdir" -- validate nosuchdir
probe err validate/file_not_dir "base_ok.toml" -- validate base_ok.toml
probe err validate/model_bad "model" -- validate v_ok --model 'asr=nosuch.json'
probe err validate/model_syntax "model" -- validate v_ok --model 'garbage'
probe err validate/quantum_nan "quantum" -- validate v_ok --quantum-ms nan
probe err validate/quantum_zero "quantum" -- validate v_ok --quantum-ms 0
probe err validate/switch_neg "switch" -- validate v_ok --switch-us=-5
probe err validate/switch_huge "switch" -- validate v_ok --switch-us 1e300

# ---------------------------------------------------------------- catalog / profile
probe err catalog/layout_newline "--mig" -- catalog --gpu h100-80gb --mig $'1g.10gb,x\ny'
probe err catalog/layout_long "" -- catalog --gpu h100-80gb --mig "$(head -c 100000 /dev/zero | tr '\0' ',')"
probe err catalog/gpu_unknown "h900" -- catalog --gpu h900

# ---------------------------------------------------------------- issue 23: crash, hang or lie
# nofiles NAME PATH...: none of the paths exists (a refused command wrote nothing).
nofiles() {
    local name=$1
    shift
    for f in "$@"; do
        if [ -e "$f" ]; then
            FAILED=$((FAILED + 1))
            printf 'FAIL %-40s PARTIAL: %s was written\n' "$name" "$f"
        fi
    done
}
H="$ROOT/tests/hostile"
# Special files: refused from their metadata, never opened (a FIFO would block forever).
mkfifo fifo.toml fifo.trace fifo.csv fifo.json
probe err special/scenario_fifo "fifo.toml" -- run fifo.toml
probe err special/plan_fifo "fifo.toml" -- plan fifo.toml
probe err special/sweep_fifo "fifo.toml" -- sweep fifo.toml --out out_fifo
printf '%s[[workload]]\nmodel = "asr"\ntrace = "fifo.trace"\n%s' "$HDR" "$VDED" >fifo_trace.toml
probe err special/trace_fifo "fifo.trace" -- run fifo_trace.toml
printf '%s' "${HDR/from = \"h100\/asr\"/from = \"fifo.json\"}$WASR$VDED" >fifo_model.toml
probe err special/model_fifo "fifo.json" -- run fifo_model.toml
probe err special/profile_fifo "fifo.csv" -- calibrate --kind asr --profile fifo.csv --out x.json
probe err special/batches_fifo "fifo.csv" -- calibrate --kind asr --batches fifo.csv --out x.json
probe err special/genai_fifo "fifo.csv" -- calibrate --kind llm --genai-perf fifo.csv --genai-perf "$GP" --out x.json
probe err special/validate_model_fifo "fifo.json" -- validate v_ok --model asr=fifo.json
probe err special/profile_cmd_fifo "fifo.json" -- profile --gpu h100-80gb fifo.json
probe err special/tui_fifo "fifo.toml" -- tui fifo.toml
mkdir -p outdir.json
probe err special/calibrate_out_dir "outdir.json" -- calibrate --kind asr --profile profile_ok.csv --out outdir.json
printf 'id,arrival_s,audio_s,audio_s\n0,0.1,3,400\n' >dupcol.trace
printf '%s[[workload]]\nmodel = "asr"\ntrace = "dupcol.trace"\n%s' "$HDR" "$VDED" >dupcol.toml
probe err csv/trace_column_twice "appears twice" -- run dupcol.toml
printf 'model,op,batch,audio_s,latency_ms,latency_ms\nasr,encode,1,2,5,9\nasr,encode,2,2,6,9\n' >dupcol.csv
probe err csv/profile_column_twice "appears twice" -- calibrate --kind asr --profile dupcol.csv --out x.json
# Sweeps: checks validated first (before 9900 configurations are built), text columns refused,
# '>' in a column name, scopes and statistics accepted, one summary line, axes in file order.
probe err sweep/check_no_column_big_grid "latency_ms.p96" -- sweep "$H/cli/sweep_grid.toml" --out out_grid --check 'latency_ms.p96 < 3'
probe err sweep/check_text_variant "numeric columns" -- sweep "$H/cli/sweep_pipeline.toml" --out out_ct --check 'variant < 3'
probe err sweep/check_text_gpu_type "gpu_type" -- sweep "$H/cli/sweep_pipeline.toml" --out out_ct --check 'gpu_type >= 1'
probe err sweep/check_unknown_variant "nope" -- sweep "$H/cli/sweep_pipeline.toml" --out out_ct --check 'variant=nope: latency_ms.p95 < 3'
probe err sweep/check_inf_bound "finite" -- sweep "$H/cli/sweep_pipeline.toml" --out out_ct --check 'latency_ms.p95 < inf'
probe err sweep/check_empty "--check" -- sweep "$H/cli/sweep_pipeline.toml" --out out_ct --check ''
probe err sweep/check_unicode "--check" -- sweep "$H/cli/sweep_pipeline.toml" --out out_ct --check 'lätency ≤ 3'
probe err sweep/merge_check_bad "--check" -- sweep-merge --out out_mc out_resume --check 'nonsense'
nofiles sweep/check_refused_writes_nothing out_grid out_ct
probe ok sweep/check_pipeline_gt_scoped_stats "--check passed" -- sweep "$H/cli/sweep_pipeline.toml" --out out_okc --threads 1 \
    --check 'stages.asr->tts.latency_ms.p95 < 1e6' --check 'variant=ts: mean(models.asr.latency_ms.p95) < 1e6' --check 'ci_hi(latency_ms.p95) <= 1e6'
if ! head -1 out_okc/results.csv 2>/dev/null | grep -q '^run,workload\[0\].arrivals.rate_rps,seed,'; then
    FAILED=$((FAILED + 1))
    echo "FAIL sweep/axes_in_file_order: $(head -c 120 out_okc/results.csv 2>/dev/null)"
fi
probe err sweep/axes_overlap "also sets" -- sweep "$H/sweep/axes_overlap.toml" --out out_ov
sweep err axes_same_field "also sets" "$SWBASE[sweep]
\"variant[0].gpu\" = [\"l4\"]
\"variant[*].gpu\" = [\"a100-80gb\"]
"
# Plans: bounded candidate space, prices in range, objectives that can be measured, models that
# fit, whole users, all-or-nothing outputs.
probe err plan/models_13 "plan.regimes" -- plan "$H/plan/models_13.toml"
probe err plan/price_1e300 "'1e300'" -- plan "$H/plan/price_1e300.toml"
plan err price_zero "price_usd_per_hour" "$PLBASE[slo]
\"asr.p95_ms\" = 500
${PLAN}price_usd_per_hour = { \"h100-80gb\" = 0 }
"
probe err plan/slo_unused_model "receives no requests" -- plan "$H/plan/slo_unused_model.toml"
probe err plan/model_fits_no_gpu "models.asr.memory_gib" -- plan "$H/plan/model_fits_no_gpu.toml"
probe err plan/load_range_fractional_users "must be whole" -- plan "$H/cli/plan_users.toml" --load-range '10.5:20:+1'
probe err plan/load_range_unsplittable_users "make 2 users" -- plan "$H/cli/plan_users.toml" --load-range '1:3:+1'
probe err plan/emit_k8s_bad_name "models.ASR_1" -- plan "$H/cli/plan_k8s_name.toml" --emit-scenario emit1.toml --emit-k8s emit1_k8s
nofiles plan/emit_k8s_bad_name emit1.toml emit1_k8s
mkdir -p emit2_k8s/deployment-asr.yaml
probe err plan/emit_k8s_target_dir "deployment-asr.yaml" -- plan "$H/cli/plan_ok.toml" --emit-scenario emit2.toml --emit-k8s emit2_k8s
nofiles plan/emit_k8s_target_dir emit2.toml emit2_k8s/node-labels.sh emit2_k8s/device-plugin-config.yaml
mkdir -p emit3.toml
probe err plan/emit_scenario_dir "emit3.toml" -- plan "$H/cli/plan_ok.toml" --emit-scenario emit3.toml --emit-k8s emit3_k8s
nofiles plan/emit_scenario_dir emit3_k8s
# Scenarios: pipelines in kind order, names that cannot be confused, traces that replay, units.
probe err scenario/pipeline_tts_before_llm "pipeline[2]" -- run "$H/scenario/pipeline_tts_before_llm.toml"
scen err pipeline_llm_before_asr "pipeline[1]" "$HDR[[workload]]
pipeline = [\"llm\", \"asr\"]
arrivals = { process = \"poisson\", rate_rps = 1 }
size = { dist = \"fixed\", value = 30 }
out_tokens = { dist = \"fixed\", value = 3 }
[[variant]]
name = \"v\"
gpu = \"h100-80gb\"
gpus = [{ regime = \"time-sliced\", models = [\"asr\", \"llm\"] }]
"
probe err scenario/workload_named_like_model "workload[0].name" -- run "$H/scenario/workload_named_like_model.toml"
probe err scenario/slo_unused_model "receives no requests" -- run "$H/scenario/slo_unused_model.toml"
probe err scenario/trace_after_run_end "duration_s is 2 s" -- run "$H/scenario/trace_after_run_end.toml"
probe err scenario/memory_gib_in_mib "did you mean 13400 MiB" -- run "$H/scenario/memory_gib_in_mib.toml"
probe err scenario/mps_mem_in_mib "did you mean" -- run "$H/scenario/mps_mem_in_mib.toml"
probe err scenario/price_1e300 "price_usd_per_hour" -- run "$H/scenario/price_1e300.toml"
model err weights_in_mib "did you mean 13400 MiB" asr 'd["memory"]["weights_gib"]=13400'
model err weights_in_bytes "bytes" asr 'd["memory"]["weights_gib"]=1.34e10'
# Traces: times quoted as written, real calendar days, no blame on the next row.
trace err mooncake_ts_negative "'-5000 ms'" llm $'{"timestamp": -5000, "input_length": 5, "output_length": 3}\n'
trace err azure_feb_30 "line 2 column 'TIMESTAMP'" llm $'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-02-30 10:00:00,374,44\n2023-03-01 10:00:00,374,44\n'
trace err azure_feb_29_2023 "line 2 column 'TIMESTAMP'" llm $'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-02-29 10:00:00,374,44\n'
trace any azure_feb_29_2024 "" llm $'TIMESTAMP,ContextTokens,GeneratedTokens\n2024-02-29 10:00:00,374,44\n2024-02-29 10:00:01,374,44\n'
trace err azure_far_future "'2099-03-01 10:00:00'" llm $'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-02-01 10:00:00,374,44\n2099-03-01 10:00:00,374,44\n'
trace err burst_backwards "line 3 column 'Timestamp'" llm $'Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n10,ChatGPT,472,18,490,Conversation log\n5,ChatGPT,1087,230,1317,Conversation log\n'
trace err all_after_end "nothing would be replayed" asr $'id,arrival_s,audio_s\n0,100,3\n1,200,4\n'
# Calibration: every value checked as written, one model per profile, whole batches.
cal err latency_1e300_as_written "line 2 column 'latency_ms'" asr $'model,op,batch,audio_s,latency_ms\nasr,encode,1,2,1e300\nasr,encode,2,2,5\n'
cal err two_models "'whisper'" asr $'model,op,batch,audio_s,latency_ms\nasr,encode,1,2,5\nasr,encode,2,2,6\nwhisper,encode,1,4,7\nwhisper,encode,2,4,8\n'
cal err batch_fractional "'1.5'" asr $'model,op,batch,audio_s,latency_ms\nasr,encode,1.5,2,5\nasr,encode,2,2,6\n'
cal err batch_100000 "'100000'" asr $'model,op,batch,audio_s,latency_ms\nasr,encode,100000,2,5\nasr,encode,2,2,6\n'
cal err size_1e9 "'1e9'" asr $'model,op,batch,audio_s,latency_ms\nasr,encode,1,1e9,5\nasr,encode,2,2,6\n'
probe err calibrate/genai_metric_twice "appears twice" -- calibrate --kind llm --genai-perf "$H/genai/itl-twice-concurrency5/profile_export_genai_perf.csv" --genai-perf "$GP" --out x.json
probe err calibrate/genai_itl_huge "'1e300'" -- calibrate --kind llm --genai-perf "$H/genai/itl-huge-concurrency5/profile_export_genai_perf.csv" --genai-perf "$GP" --out x.json
probe ok calibrate/genai_spread_row "" -- calibrate --kind llm --genai-perf "$H/genai/itl-spread-concurrency5/profile_export_genai_perf.csv" --genai-perf "$GP2" --out x.json
probe err calibrate/genai_memory_in_mib "did you mean 13400 MiB" -- calibrate --kind llm --genai-perf "$GP" --genai-perf "$GP2" --memory-gib 13400 --out x.json
# validate --model: unknown names, files that do not read, names given twice.
probe err validate/model_unknown_name "whisper" -- validate v_ok --model whisper=h100/asr
probe err validate/model_missing_file "nosuch.json" -- validate v_ok --model asr=nosuch.json
probe err validate/model_twice "given twice" -- validate v_ok --model asr=h100/asr --model asr=h100/tts
probe err validate/model_empty_name "--model" -- validate v_ok --model =h100/asr

echo "hostile-probe: $N inputs, $FAILED failures"
[ "$FAILED" -eq 0 ]
