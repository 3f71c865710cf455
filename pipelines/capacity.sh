#!/usr/bin/env bash
# capacity: the highest request rate a server takes within an SLO (sb-sweep --search), or a given
# list of load points, with every point's report and a table of the points.
#   local:   against sb-sim shaped so that its capacity is known (docs/sim.md: SIM_SHAPE's 8 slots
#            x 10 ms steps and OUTPUT_LEN=20 tokens give 40 req/s), or with URL=... a server
#            already running.
#   cluster: the server Deployment + Service from sb-deploy render, and one load pod (a Job of
#            LOADGEN_IMAGE) running sb-sweep against the Service with the requests from a
#            ConfigMap; its output is read from the pod's log.
#
# Variables: SLO (ttft_p99_ms=200), POINTS (--search; or e.g. "--rates 10,20,40", "--sweep 10"),
# PRECISION (5%), MIN, MAX (req/s bounds of the search), DURATION (30s per point), WARMUP (5s),
# SATURATION_WINDOW (5s), N (3000 requests: enough for the highest rate x (DURATION + WARMUP)),
# INPUT_LEN (uniform:16:64), OUTPUT_LEN (20), SEED (42), MODEL (Qwen/Qwen3-0.6B), TOKENIZER,
# MAX_LAG (sb-load's, 10 ms), SIM_SHAPE (sb-sim flags of the local server), SIM_ARGS; cluster:
# KUBECONTEXT, NAMESPACE, DEPLOY_ARGS (sb-deploy render flags), LOADGEN_IMAGE
# (servebench:<version>), READY_TIMEOUT, JOB_TIMEOUT, KEEP=1.
TARGET=capacity
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

SLO=${SLO:-ttft_p99_ms=200}
POINTS=${POINTS:---search}
PRECISION=${PRECISION:-5%}
MIN=${MIN:-}
MAX=${MAX:-}
DURATION=${DURATION:-30s}
WARMUP=${WARMUP:-5s}
SATURATION_WINDOW=${SATURATION_WINDOW:-5s}
N=${N:-3000}
INPUT_LEN=${INPUT_LEN:-uniform:16:64}
OUTPUT_LEN=${OUTPUT_LEN:-20}
SEED=${SEED:-42}
MODEL=${MODEL:-Qwen/Qwen3-0.6B}
MAX_LAG=${MAX_LAG:-10}
SIM_SHAPE=${SIM_SHAPE:---max-num-seqs 8 --decode-ms 10 --decode-ms-per-seq 0 --prefill-us-per-token 0}
DEPLOY_ARGS=${DEPLOY_ARGS:-}
VERSION=$(sed -n 's/^version = "\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n 1)
LOADGEN_IMAGE=${LOADGEN_IMAGE:-servebench:$VERSION}
default_tokenizer

need_tools "sb-sample sb-report sb-sweep" "sb-deploy" "sb-load sb-sim"
make_run_dir
write_run_info SLO POINTS PRECISION MIN MAX DURATION WARMUP SATURATION_WINDOW N INPUT_LEN OUTPUT_LEN SEED MODEL \
  TOKENIZER MAX_LAG SIM_SHAPE SIM_ARGS URL DEPLOY_ARGS LOADGEN_IMAGE NAMESPACE
sample_random "$RUN_DIR/requests.ndjson"

# sb-sweep's arguments (the requests' path is added where it runs).
# shellcheck disable=SC2206
sweep_args=($POINTS --slo "$SLO" --precision "$PRECISION" --duration "$DURATION" --warmup "$WARMUP"
  --saturation-window "$SATURATION_WINDOW" --run "capacity-$(date -u +%m%d%H%M%S)")
[ -z "$MIN" ] || sweep_args+=(--min "$MIN")
[ -z "$MAX" ] || sweep_args+=(--max "$MAX")

# The table of the points and the result, from the sweep record (the last line of the output).
write_capacity_table() {
  local sweep
  sweep=$(grep '"kind":"sweep"' "$RUN_DIR/sweep.ndjson" | tail -n 1 || true)
  [ -n "$sweep" ] || return 1
  jq -r --arg model "$MODEL" --arg mode "$MODE" '
    def r: if . == null then "-" else (. * 100 | round / 100 | tostring) end;
    "# Capacity: \($model) (\($mode)), SLO \(.slo // "none")\(if .interrupted then " (INTERRUPTED)" else "" end)",
    "",
    (if .mode == "search" then
       "max rate within the SLO: \(.max_rate_rps | r) req/s (bracket \(.bracket.low_rps | r) .. \(.bracket.high_rps | r) req/s, precision \(.precision * 100)%)"
     else "points: \(.mode)" end),
    "",
    "| point | load | achieved req/s | completed req/s | out tok/s | failed | TTFT p99 ms | E2EL p99 ms | status |",
    "|---|---|---:|---:|---:|---:|---:|---:|---|",
    (.points[] | "| \(.point) | \(.load) | \(.achieved_rate_rps | r) | \(.request_throughput_rps | r) | \(.output_throughput_tps | r) | \(.failed) | \(.metrics.ttft_p99_ms | r) | \(.metrics.e2el_p99_ms | r) | \(.status)\(if (.reasons // []) | length > 0 then ": " + (.reasons | join("; ")) else "" end) |"),
    (.notes // [] | .[] | "", "note: \(.)")' <<<"$sweep" >"$RUN_DIR/capacity.md"
}

report_capacity() {
  [ -s "$RUN_DIR/sweep.ndjson" ] || return 0
  run ">$RUN_DIR/report.txt" "$SB_BIN/sb-report" --max-lag-ms "$MAX_LAG" "$RUN_DIR/sweep.ndjson" --group-by tags.point \
    2>/dev/null || true
  write_capacity_table || log "no sweep record in the output (see logs/)"
}
ON_EARLY_EXIT=report_capacity

status=0
if [ "$MODE" = local ]; then
  if [ -n "$URL" ]; then
    start_server
  else
    sim_tokenizer_args
    # shellcheck disable=SC2086
    start_server capacity --model "$MODEL" "${SIM_TOK[@]}" --seed "$SEED" $SIM_SHAPE
  fi
  run ">$RUN_DIR/sweep.ndjson" "$SB_BIN/sb-sweep" "${sweep_args[@]}" --requests "$RUN_DIR/requests.ndjson" -- \
    --url "$SIM_URL" --model "$MODEL" --seed "$SEED" --max-lag "$MAX_LAG" 2>"$RUN_DIR/logs/sweep.log" || status=$?
  stop_server
else
  # The server, as sb-deploy renders it, and one sb-sweep pod against its Service.
  run ">$RUN_DIR/server.yaml" "$SB_BIN/sb-deploy" render -m "$MODEL" -n "$NAMESPACE" $DEPLOY_ARGS ||
    die "sb-deploy render failed"
  deploy=$(manifest_name Deployment "$RUN_DIR/server.yaml")
  svc=$(manifest_name Service "$RUN_DIR/server.yaml")
  port=$(awk '/^kind: Service/ { s = 1 } s && /^    port: / { print $2; exit }' "$RUN_DIR/server.yaml")
  [ -n "$deploy" ] && [ -n "$svc" ] && [ -n "$port" ] || die "sb-deploy rendered no Deployment or Service"
  id=$(date -u +%m%d%H%M%S)
  job="sb-sweep-$id"
  configmap_json "sb-requests-$id" "$RUN_DIR/requests.ndjson" >"$RUN_DIR/configmap.json"
  url="http://$svc.$NAMESPACE.svc:$port"
  # One pod. The container is named sb-load, as in sb-deploy's load Jobs (kube_gather_job reads
  # its log); its command is a JSON list, which YAML reads as a flow sequence.
  command=$(printf '%s\n' sb-sweep "${sweep_args[@]}" --requests /requests/requests.ndjson -- \
    --url "$url" --model "$MODEL" --seed "$SEED" --max-lag "$MAX_LAG" | jq -R . | jq -sc .)
  wait_cmd=$(jq -cn --arg u "$url" '["/bin/sh", "-c", "until wget -q -O /dev/null \($u)/health; do echo waiting for \($u); sleep 5; done"]')
  cat >"$RUN_DIR/job.yaml" <<YAML
apiVersion: batch/v1
kind: Job
metadata:
  name: $job
  namespace: $NAMESPACE
  labels:
    app.kubernetes.io/managed-by: servebench-pipelines
    app.kubernetes.io/name: sb-sweep
spec:
  completions: 1
  completionMode: Indexed
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      initContainers:
        - name: wait-for-server
          image: busybox:1.36
          command: $wait_cmd
      containers:
        - name: sb-load
          image: $LOADGEN_IMAGE
          imagePullPolicy: IfNotPresent
          command: $command
          resources:
            requests: {cpu: "1", memory: 256Mi}
            limits: {memory: 1Gi}
          volumeMounts:
            - {name: requests, mountPath: /requests, readOnly: true}
      volumes:
        - name: requests
          configMap: {name: sb-requests-$id}
YAML
  kube_create "$RUN_DIR/configmap.json"
  kube_apply "$RUN_DIR/server.yaml"
  if ! kube rollout status "deployment/$deploy" --timeout="$READY_TIMEOUT" >&2; then
    kube logs "deployment/$deploy" --tail=200 >"$RUN_DIR/server.log" 2>&1 || true
    die "server $deploy did not become ready within $READY_TIMEOUT (see server.log)"
  fi
  kube_create "$RUN_DIR/job.yaml"
  kube_wait_job "$job" 1 || status=1
  kube_gather_job "$job" "$RUN_DIR" || status=1
  [ ! -f "$RUN_DIR/shard-0.ndjson" ] || mv "$RUN_DIR/shard-0.ndjson" "$RUN_DIR/sweep.ndjson"
  [ ! -f "$RUN_DIR/shard-0.stderr" ] || mv "$RUN_DIR/shard-0.stderr" "$RUN_DIR/logs/sweep.log"
  if [ "${KEEP:-0}" != 1 ]; then
    kube_delete "$RUN_DIR/job.yaml"
    kube_delete "$RUN_DIR/server.yaml"
    kube_delete "$RUN_DIR/configmap.json"
  fi
fi

report_capacity
ON_EARLY_EXIT=""
[ -s "$RUN_DIR/capacity.md" ] && cat "$RUN_DIR/capacity.md"
log "table: $RUN_DIR/capacity.md; records: sweep.ndjson; report by point: report.txt"
case $status in
  0) ;;
  1) log "sb-sweep found no rate within the SLO, or a point was untrustworthy (see logs/sweep.log)" && exit 1 ;;
  *) log "sb-sweep failed (exit $status): $(tail -n 1 "$RUN_DIR/logs/sweep.log" 2>/dev/null)" && exit "$status" ;;
esac
[ -s "$RUN_DIR/capacity.md" ] || exit 1
