#!/usr/bin/env bash
# scale-out: one load split over SHARDS load generators, each `sb-load --shard i/N` (every N-th
# request, on the whole stream's schedule, so the shards together send exactly the unsharded
# run), merged by sb-report.
#   local:   SHARDS sb-load processes against one sb-sim, /metrics polled by sb-scrape.
#   cluster: the server Deployment and an indexed Job of SHARDS pods rendered by sb-deploy, the
#            requests in a ConfigMap, results gathered from the pods' logs; Prometheus scraped
#            when PROMETHEUS is given.
#
# Variables: SHARDS (4), N (400), RATE (poisson:40), INPUT_LEN (uniform:128:512),
# OUTPUT_LEN (32), SEED (42), MODEL (Qwen/Qwen3-0.6B), TOKENIZER, MAX_LAG (ms, 10),
# SIM_ARGS; cluster: KUBECONTEXT, NAMESPACE, DEPLOY_ARGS (extra sb-deploy render flags),
# LOADGEN_IMAGE, PROMETHEUS, READY_TIMEOUT, JOB_TIMEOUT, KEEP=1 (leave the objects); locally
# also URL (a running server instead of sb-sim) and PROMETHEUS.
TARGET=scale-out
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

SHARDS=${SHARDS:-4}
N=${N:-400}
RATE=${RATE:-poisson:40}
INPUT_LEN=${INPUT_LEN:-uniform:128:512}
OUTPUT_LEN=${OUTPUT_LEN:-32}
SEED=${SEED:-42}
MODEL=${MODEL:-Qwen/Qwen3-0.6B}
MAX_LAG=${MAX_LAG:-10}
DEPLOY_ARGS=${DEPLOY_ARGS:-}
LOADGEN_IMAGE=${LOADGEN_IMAGE:-servebench:latest}
default_tokenizer
[[ $SHARDS =~ ^[1-9][0-9]*$ ]] || die "SHARDS must be a positive count, not '$SHARDS'"

if [ "$MODE" = cluster ]; then
  need_bins sb-sample sb-report sb-scrape sb-deploy
  need_cmd jq "$KUBECTL"
else
  need_bins sb-sample sb-load sb-report sb-scrape sb-sim
fi
make_run_dir
write_run_info SHARDS N RATE INPUT_LEN OUTPUT_LEN SEED MODEL TOKENIZER MAX_LAG SIM_ARGS DEPLOY_ARGS LOADGEN_IMAGE \
  PROMETHEUS NAMESPACE URL
mkdir -p "$RUN_DIR/shards"
sample_random "$RUN_DIR/requests.ndjson"
run_id="scale-$(date -u +%Y%m%d-%H%M%S)"

if [ "$MODE" = local ]; then
  sim_tokenizer_args
  start_server sim --model "$MODEL" "${SIM_TOK[@]}" --seed "$SEED"
  scrape_begin "$SIM_URL" "$RUN_DIR/metrics.ndjson"
  log "$SHARDS sb-load processes at $RATE in all against $SIM_URL"
  shard_pids=()
  for i in $(seq 0 $((SHARDS - 1))); do
    note_cmd "sb-load --url $SIM_URL --model $(printf '%q' "$MODEL") --rate $RATE --seed $SEED --max-lag $MAX_LAG --shard $i/$SHARDS --run $run_id --tag shard=$i < requests.ndjson > shards/shard-$i.ndjson &"
    spawn "$SB_BIN/sb-load" --url "$SIM_URL" --model "$MODEL" --rate "$RATE" --seed "$SEED" --max-lag "$MAX_LAG" \
      --shard "$i/$SHARDS" --run "$run_id" --tag "shard=$i" \
      <"$RUN_DIR/requests.ndjson" >"$RUN_DIR/shards/shard-$i.ndjson" 2>"$RUN_DIR/logs/load-$i.log"
    shard_pids+=("$LAST_PID")
  done
  load_status=0
  for i in "${!shard_pids[@]}"; do
    wait_pid "${shard_pids[$i]}" || {
      s=$?
      log "shard $i exited $s: $(tail -n 1 "$RUN_DIR/logs/load-$i.log")"
      [ "$load_status" -ne 0 ] || load_status=$s
    }
  done
  scrape_end
  stop_server
  cat "$RUN_DIR"/shards/shard-*.ndjson >"$TMP/all.ndjson"
  prometheus_later "$TMP/all.ndjson" "$RUN_DIR/metrics.ndjson" --preset vllm --model "$MODEL"
else
  log "cluster $KUBECONTEXT, namespace $NAMESPACE: $SHARDS load pods against $MODEL"
  load_status=0
  # shellcheck disable=SC2086
  kube_load_run "$RUN_DIR/shards" "$RUN_DIR/requests.ndjson" "$SHARDS" "$run_id" -m "$MODEL" -n "$NAMESPACE" --rate "$RATE" \
    --loadgen-image "$LOADGEN_IMAGE" --load-arg="--max-lag=$MAX_LAG" --load-arg="--seed=$SEED" $DEPLOY_ARGS ||
    load_status=1
  cat "$RUN_DIR"/shards/shard-*.ndjson >"$TMP/all.ndjson" || true
  prometheus_later "$TMP/all.ndjson" "$RUN_DIR/metrics.ndjson" --preset io --model "$MODEL" --pod "$KUBE_DEPLOY_NAME-.*"
fi
prometheus_flush

shard_files=("$RUN_DIR"/shards/shard-*.ndjson)
[ ${#shard_files[@]} -gt 0 ] || die "no shard produced results"
metrics=()
[ -s "$RUN_DIR/metrics.ndjson" ] && metrics=("$RUN_DIR/metrics.ndjson")
report_status=0
run ">$RUN_DIR/report.txt" "$SB_BIN/sb-report" --max-lag-ms "$MAX_LAG" "${shard_files[@]}" "${metrics[@]}" || report_status=$?
run ">$RUN_DIR/shards.md" "$SB_BIN/sb-report" --max-lag-ms "$MAX_LAG" "${shard_files[@]}" --group-by shard --format md || true
cat "$RUN_DIR/report.txt"
log "merged report of ${#shard_files[@]} shards: $RUN_DIR/report.txt; per shard: $RUN_DIR/shards.md"
[ "$load_status" -eq 0 ] || exit "$load_status"
exit "$report_status"
