#!/usr/bin/env bash
# scale-out: one load split over SHARDS load generators, each `sb-load --shard i/N` (every N-th
# request, on the whole stream's schedule, so the shards together send exactly the unsharded
# run), merged by sb-report.
#   local:   SHARDS sb-load processes against one sb-sim, /metrics polled by sb-scrape.
#   cluster: the server Deployment and an indexed Job of SHARDS pods rendered by sb-deploy, the
#            requests in a ConfigMap, results gathered from the pods' logs; Prometheus scraped
#            when PROMETHEUS is given.
#   DOCKER=1: the step between the two, on one machine: sb-sim in one container and SHARDS load
#            containers of LOADGEN_IMAGE on a private Docker network (each its own address), the
#            requests bind-mounted, results gathered from `docker logs` as from pod logs. The
#            image is built from SB_BIN (pipelines/image.sh) when the engine does not have it.
#
# Variables: SHARDS (4), N (400), RATE (poisson:40), INPUT_LEN (uniform:128:512),
# OUTPUT_LEN (32), SEED (42), MODEL (Qwen/Qwen3-0.6B), TOKENIZER, MAX_LAG (ms, 10),
# SIM_ARGS; cluster: KUBECONTEXT, NAMESPACE, DEPLOY_ARGS (extra sb-deploy render flags),
# LOADGEN_IMAGE, PROMETHEUS, READY_TIMEOUT, JOB_TIMEOUT, KEEP=1 (leave the objects); locally
# also URL (a running server instead of sb-sim) and PROMETHEUS; DOCKER=1 (LOADGEN_IMAGE, KEEP=1
# leaves the containers).
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
LOADGEN_IMAGE=${LOADGEN_IMAGE:-servebench:$SB_VERSION}
DOCKER=${DOCKER:-0}
default_tokenizer
[[ $SHARDS =~ ^[1-9][0-9]*$ ]] || die "SHARDS must be a positive count, not '$SHARDS'"
if [ "$DOCKER" = 1 ]; then
  [ "$MODE" = local ] || die "DOCKER=1 runs the shards as containers on this machine: leave KUBECONTEXT unset"
  [ -z "${URL:-}" ] || die "DOCKER=1 starts its own sb-sim container: leave URL unset"
  need_cmd docker
  docker info >/dev/null 2>&1 || die "'docker info' failed: is the Docker daemon running?"
  MODE=docker
fi

if [ "$MODE" = cluster ]; then
  need_bins sb-sample sb-report sb-scrape sb-deploy
  need_cmd jq "$KUBECTL"
else
  need_bins sb-sample sb-load sb-report sb-scrape sb-sim
fi

# DOCKER=1: LOADGEN_IMAGE as it is, or built from SB_BIN's binaries when the engine lacks it.
docker_image() {
  if docker image inspect "$LOADGEN_IMAGE" >/dev/null 2>&1; then
    log "image $LOADGEN_IMAGE: $(docker run --rm "$LOADGEN_IMAGE" sb-load --version 2>&1)"
  else
    log "image $LOADGEN_IMAGE not in the engine: building it from $SB_BIN (pipelines/image.sh)"
    IMAGE=$LOADGEN_IMAGE "$ROOT/pipelines/image.sh" >/dev/null 2>>"$RUN_DIR/logs/image.log" ||
      die "pipelines/image.sh failed: $(tail -n 3 "$RUN_DIR/logs/image.log")"
  fi
}

DOCKER_CONTAINERS=()
DOCKER_NET=""
docker_cleanup() {
  [ "${KEEP:-0}" != 1 ] || return 0
  local c out
  for c in "${DOCKER_CONTAINERS[@]}"; do
    # Stopped early (Ctrl-C, a failure): what a load container wrote so far is kept.
    out=$RUN_DIR/shards/shard-${c##*-load-}
    if [[ $c == *-load-* ]] && [ ! -e "$out.ndjson" ]; then docker_gather "$c" "$out"; fi
    docker rm -f "$c" >/dev/null 2>&1 || log "could not remove container $c"
  done
  DOCKER_CONTAINERS=()
  if [ -n "$DOCKER_NET" ]; then docker network rm "$DOCKER_NET" >/dev/null 2>&1 || log "could not remove network $DOCKER_NET"; fi
  DOCKER_NET=""
}
ON_EXIT=docker_cleanup

# A container's log split as the cluster path splits a pod's: record lines, and the rest.
docker_gather() {
  local c=$1 out=$2
  docker logs "$c" >"$TMP/container.log" 2>&1 || log "could not read the log of container $c"
  grep '^{' "$TMP/container.log" >"$out.ndjson" || true
  grep -v '^{' "$TMP/container.log" >"$out.stderr" || true
}

docker_scale_out() {
  local name
  # The pid too: two runs started in the same second must not share names.
  name=$(printf 'sb-%s-%s' "$run_id" "$$" | tr 'A-Z_' 'a-z-')
  DOCKER_NET=$name
  run ">/dev/null" docker network create "$DOCKER_NET"
  # sb-sim on the network as `sim`, its port published on loopback for the /metrics poller.
  local sim=$name-sim tok=() mounts=()
  sim_tokenizer_args
  if [ ${#SIM_TOK[@]} -gt 0 ]; then
    mounts=(-v "$(realpath "${SIM_TOK[1]}"):/tokenizer/tokenizer.json:ro")
    tok=(--tokenizer /tokenizer/tokenizer.json)
  fi
  DOCKER_CONTAINERS+=("$sim")
  # shellcheck disable=SC2086
  run ">/dev/null" docker run -d --name "$sim" --network "$DOCKER_NET" --network-alias sim -p 127.0.0.1::8000 \
    "${mounts[@]}" "$LOADGEN_IMAGE" sb-sim --host 0.0.0.0 --port 8000 --model "$MODEL" "${tok[@]}" --seed "$SEED" ${SIM_ARGS:-}
  local waited=0
  until docker logs "$sim" 2>&1 | grep -q 'listening on'; do
    [ "$(docker inspect -f '{{.State.Running}}' "$sim")" = true ] ||
      die "the sb-sim container exited: $(docker logs "$sim" 2>&1 | tail -n 3)"
    waited=$((waited + 1))
    [ "$waited" -le 600 ] || die "the sb-sim container did not listen within 60 s"
    sleep 0.1
  done
  SIM_URL="http://$(docker port "$sim" 8000/tcp | head -n 1)"
  scrape_begin "$SIM_URL" "$RUN_DIR/metrics.ndjson"
  log "$SHARDS sb-load containers of $LOADGEN_IMAGE at $RATE in all against sb-sim (network $DOCKER_NET)"
  local i c
  for i in $(seq 0 $((SHARDS - 1))); do
    c=$name-load-$i
    DOCKER_CONTAINERS+=("$c")
    # The pod's command: a shell for the redirection, sb-load's arguments as "$@".
    run ">/dev/null" docker run -d --name "$c" --network "$DOCKER_NET" \
      -v "$RUN_DIR/requests.ndjson:/requests/requests.ndjson:ro" -e SB_REQUESTS=/requests/requests.ndjson \
      "$LOADGEN_IMAGE" /bin/sh -c 'exec sb-load "$@" < "$SB_REQUESTS"' sb-load \
      --url http://sim:8000 --model "$MODEL" --rate "$RATE" --seed "$SEED" --max-lag "$MAX_LAG" \
      --shard "$i/$SHARDS" --run "$run_id" --tag "shard=$i"
  done
  local code
  for i in $(seq 0 $((SHARDS - 1))); do
    c=$name-load-$i
    code=$(docker wait "$c")
    docker_gather "$c" "$RUN_DIR/shards/shard-$i"
    if [ "$code" != 0 ]; then
      log "shard $i exited $code: $(tail -n 1 "$RUN_DIR/shards/shard-$i.stderr")"
      [ "$load_status" -ne 0 ] || load_status=$code
    fi
  done
  scrape_end
  docker logs "$sim" >"$RUN_DIR/logs/sim.log" 2>&1 || true
  docker_cleanup
}
load_status=0
make_run_dir
write_run_info SHARDS N RATE INPUT_LEN OUTPUT_LEN SEED MODEL TOKENIZER MAX_LAG SIM_ARGS DEPLOY_ARGS LOADGEN_IMAGE \
  PROMETHEUS NAMESPACE URL DOCKER
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
elif [ "$MODE" = docker ]; then
  docker_image
  docker_scale_out
  cat "$RUN_DIR"/shards/shard-*.ndjson >"$TMP/all.ndjson" || true
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
