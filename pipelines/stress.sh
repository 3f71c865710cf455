#!/usr/bin/env bash
# stress: the seed's prefill-heavy stress load. vLLM's sonnet dataset (512 input tokens of which
# 128 are a shared prefix, 2 output tokens, chat API) at a fixed rate for DURATION, with a
# progress line and a partial report every REPORT_EVERY, and GPU/power metrics from Prometheus
# (DCGM) when PROMETHEUS is given. The final report covers the whole run.
#   local:   sb-load against sb-sim, its /metrics polled by sb-scrape.
#   cluster: the server and a load Job of SHARDS pods (sb-deploy render --loadgen); partial
#            reports from the pods' logs while the Job runs. More requests than a ConfigMap
#            holds (about 400 sonnet requests) need REQUESTS_PVC=<claim> to stage them.
#
# Variables: RATE (poisson:12, vLLM's `--request-rate 12`), DURATION (10m; the seed ran 11h),
# REPORT_EVERY (1m), INPUT_LEN (512), PREFIX_LEN (128), OUTPUT_LEN (2), API (chat), MODEL
# (Qwen/Qwen3-0.6B), TOKENIZER (needs a chat template), SEED, MAX_LAG, SIM_ARGS, PROMETHEUS,
# GPU_PRESETS (gpu,pcie), URL (a running server instead of sb-sim); cluster: KUBECONTEXT, NAMESPACE, SHARDS (1), DEPLOY_ARGS,
# LOADGEN_IMAGE, REQUESTS_PVC, READY_TIMEOUT, JOB_TIMEOUT, KEEP.
TARGET=stress
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

RATE=${RATE:-poisson:12}
DURATION=${DURATION:-10m}
REPORT_EVERY=${REPORT_EVERY:-1m}
INPUT_LEN=${INPUT_LEN:-512}
PREFIX_LEN=${PREFIX_LEN:-128}
OUTPUT_LEN=${OUTPUT_LEN:-2}
API=${API:-chat}
MODEL=${MODEL:-Qwen/Qwen3-0.6B}
SEED=${SEED:-42}
MAX_LAG=${MAX_LAG:-10}
SHARDS=${SHARDS:-1}
GPU_PRESETS=${GPU_PRESETS:-gpu,pcie}
DEPLOY_ARGS=${DEPLOY_ARGS:-}
LOADGEN_IMAGE=${LOADGEN_IMAGE:-servebench:$SB_VERSION}
SONNET=${SONNET:-$DATA/datasets/vllm/sonnet.txt}
default_tokenizer

need_tools "sb-sample sb-report sb-scrape" "sb-deploy" "sb-load sb-sim"
duration_s=$(interval_seconds "$DURATION")
every_s=$(interval_seconds "$REPORT_EVERY")
rate_rps=$(grep -oE '[0-9]+(\.[0-9]+)?' <<<"$RATE" | head -n 1)
[ -n "$rate_rps" ] || die "RATE must name a rate (poisson:12, 12, constant:12), not '$RATE'"
# Enough requests for the whole duration (Poisson arrivals run a little ahead at times).
N=${N:-$(awk -v r="$rate_rps" -v d="$duration_s" 'BEGIN { printf "%d", r * d * 1.2 + 20 }')}

make_run_dir
write_run_info RATE DURATION REPORT_EVERY N INPUT_LEN PREFIX_LEN OUTPUT_LEN API MODEL TOKENIZER SEED MAX_LAG SIM_ARGS \
  PROMETHEUS GPU_PRESETS SHARDS DEPLOY_ARGS LOADGEN_IMAGE REQUESTS_PVC NAMESPACE URL
mkdir -p "$RUN_DIR/partial"

log "sampling $N sonnet requests (input $INPUT_LEN, prefix $PREFIX_LEN, output $OUTPUT_LEN tokens, $API API)"
run ">$RUN_DIR/requests.ndjson" "$SB_BIN/sb-sample" sonnet --source "$SONNET" -n "$N" --seed "$SEED" \
  --input-len "$INPUT_LEN" --prefix-len "$PREFIX_LEN" --output-len "$OUTPUT_LEN" --api "$API" \
  --tokenizer "$TOKENIZER" 2>>"$RUN_DIR/logs/sample.log" || die "sb-sample failed: $(tail -n 2 "$RUN_DIR/logs/sample.log")"

started_s=$(date +%s)
next_report_s=$((started_s + ${every_s%.*}))
partials=0

# GPU and power samples from Prometheus since the start of the load, when one is given.
# In a cluster, only the GPUs of the server's pods; locally, every GPU the Prometheus knows.
gpu_scrape() {
  local out=$1 where=()
  [ -n "$PROMETHEUS" ] || return 0
  if [ "$MODE" = cluster ]; then where=(--namespace "$NAMESPACE" --pod "${KUBE_DEPLOY_NAME:-}-.*"); fi
  run ">$out" "$SB_BIN/sb-scrape" --prometheus "$PROMETHEUS" --preset "$GPU_PRESETS" --start "$started_s" \
    --end "$(date +%s)" --step "$SCRAPE_STEP" "${where[@]}" 2>>"$RUN_DIR/logs/scrape.log" || true
}

# A partial report from the complete lines of the result files so far, and one progress line.
partial_report() {
  local now elapsed tag files=() f
  now=$(date +%s)
  [ "$now" -ge "$next_report_s" ] || return 0
  next_report_s=$((now + ${every_s%.*}))
  elapsed=$((now - started_s))
  partials=$((partials + 1))
  tag=$(printf '%04d-%ds' "$partials" "$elapsed")
  : >"$TMP/partial.ndjson"
  for f in "$@"; do
    [ -f "$f" ] && head -n "$(wc -l <"$f")" "$f" >>"$TMP/partial.ndjson"
  done
  grep -q '"kind":"result"' "$TMP/partial.ndjson" || return 0
  files=("$TMP/partial.ndjson")
  gpu_scrape "$RUN_DIR/partial/$tag-gpu.ndjson"
  [ -s "$RUN_DIR/partial/$tag-gpu.ndjson" ] && files+=("$RUN_DIR/partial/$tag-gpu.ndjson")
  "$SB_BIN/sb-report" --max-lag-ms "$MAX_LAG" "${files[@]}" >"$RUN_DIR/partial/$tag.txt" 2>/dev/null || true
  # sb-report exits 1 on a run that fell behind its schedule, and still summarises it.
  "$SB_BIN/sb-report" --max-lag-ms "$MAX_LAG" "$TMP/partial.ndjson" --format json >"$TMP/partial.json" 2>/dev/null || true
  [ -s "$TMP/partial.json" ] || return 0
  local power="" w
  if [ -s "$RUN_DIR/partial/$tag-gpu.ndjson" ]; then
    w=$(jq -s '[.[] | select(.metric == "DCGM_FI_DEV_POWER_USAGE") | .value] | if length > 0 then (add / length | round) else empty end' \
      "$RUN_DIR/partial/$tag-gpu.ndjson")
    [ -z "$w" ] || power=", GPU power mean ${w} W"
  fi
  log "$(jq -r --arg t "${elapsed}s/${duration_s}s" 'def r: if . == null then "-" else (.*10|round/10|tostring) end;
    "\($t): \(.completed) done, \(.failed) failed, \(.request_throughput|r) req/s, \(.output_throughput|r) out tok/s, TTFT p50 \(.ttft_ms.median|r) ms p99 \(.ttft_ms.p99|r) ms"' \
    "$TMP/partial.json")$power (partial/$tag.txt)"
}

load_status=0
if [ "$MODE" = local ]; then
  sim_tokenizer_args
  start_server sim --model "$MODEL" "${SIM_TOK[@]}" --seed "$SEED"
  scrape_begin "$SIM_URL" "$RUN_DIR/metrics.ndjson"
  log "sending at $RATE for $DURATION to $SIM_URL (a partial report every $REPORT_EVERY)"
  note_cmd "sb-load --url $SIM_URL --model $(printf '%q' "$MODEL") --rate $RATE --duration $DURATION --seed $SEED --max-lag $MAX_LAG < requests.ndjson > results.ndjson &"
  spawn "$SB_BIN/sb-load" --url "$SIM_URL" --model "$MODEL" --rate "$RATE" --duration "$DURATION" --seed "$SEED" \
    --max-lag "$MAX_LAG" <"$RUN_DIR/requests.ndjson" >"$RUN_DIR/results.ndjson" 2>"$RUN_DIR/logs/load.log"
  load_pid=$LAST_PID
  while kill -0 "$load_pid" 2>/dev/null; do
    sleep 0.5
    partial_report "$RUN_DIR/results.ndjson"
  done
  wait_pid "$load_pid" || load_status=$?
  log "$(tail -n 1 "$RUN_DIR/logs/load.log")"
  scrape_end
  stop_server
  prometheus_later "$RUN_DIR/results.ndjson" "$RUN_DIR/metrics.ndjson" --preset vllm --model "$MODEL"
else
  mkdir -p "$RUN_DIR/shards"
  # While the Job runs: when a partial report is due, the pods' logs so far (read whole each
  # time: for runs of many hours, make REPORT_EVERY long).
  # shellcheck disable=SC2317
  cluster_partial() {
    [ "$(date +%s)" -ge "$next_report_s" ] || return 0
    kube_gather_job "$1" "$RUN_DIR/shards" 2>/dev/null || true
    partial_report "$RUN_DIR"/shards/shard-*.ndjson
  }
  POLL_HOOK=cluster_partial
  # shellcheck disable=SC2086
  kube_load_run "$RUN_DIR/shards" "$RUN_DIR/requests.ndjson" "$SHARDS" "stress-$(date -u +%m%d%H%M%S)" \
    -m "$MODEL" -n "$NAMESPACE" --rate "$RATE" --loadgen-image "$LOADGEN_IMAGE" --load-arg="--duration=$DURATION" \
    --load-arg="--max-lag=$MAX_LAG" --load-arg="--seed=$SEED" $DEPLOY_ARGS || load_status=1
  POLL_HOOK=
  cat "$RUN_DIR"/shards/shard-*.ndjson >"$RUN_DIR/results.ndjson" 2>/dev/null || true
  prometheus_later "$RUN_DIR/results.ndjson" "$RUN_DIR/metrics.ndjson" --preset io --model "$MODEL" \
    --pod "$KUBE_DEPLOY_NAME-.*"
fi
prometheus_flush
if [ "$MODE" = local ] && [ -n "$PROMETHEUS" ]; then gpu_scrape "$RUN_DIR/gpu.ndjson"; fi

[ -s "$RUN_DIR/results.ndjson" ] || die "the load produced no results"
inputs=("$RUN_DIR/results.ndjson")
for f in "$RUN_DIR/metrics.ndjson" "$RUN_DIR/gpu.ndjson"; do [ -s "$f" ] && inputs+=("$f"); done
report_status=0
run ">$RUN_DIR/report.txt" "$SB_BIN/sb-report" --max-lag-ms "$MAX_LAG" "${inputs[@]}" || report_status=$?
cat "$RUN_DIR/report.txt"
log "report: $RUN_DIR/report.txt; $partials partial reports in $RUN_DIR/partial/"
[ "$load_status" -eq 0 ] || exit "$load_status"
exit "$report_status"
