# Shared by every pipeline script (sourced, never run). What it gives a script:
#   - strict mode and one cleanup trap that stops the processes the script started, deletes the
#     Kubernetes objects it applied and removes its temp dir, on success, failure and Ctrl-C;
#   - the run directory (RUN_DIR) with the inputs and versions that made the results;
#   - the tool binaries (SB_BIN, or a release build), sb-sim on a free port, an /metrics poller;
#   - kubectl with the chosen context and namespace, and the in-cluster load (an indexed Job).
# shellcheck shell=bash
# Variables set here (SIM_URL, SIM_TOK, SUMMARY_COLUMNS, ...) are read by the sourcing scripts.
# shellcheck disable=SC2034

set -euo pipefail
shopt -s nullglob

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The workspace version; the load image's default name is servebench:<version>, as sb-deploy's.
SB_VERSION=$(sed -n 's/^version = "\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n 1)
TARGET=${TARGET:-$(basename "$0" .sh)}

log() { printf '[%s] %s\n' "$TARGET" "$*" >&2; }
die() {
  printf '[%s] error: %s\n' "$TARGET" "$*" >&2
  exit 2
}

# ---------------------------------------------------------------------------------------------
# Cleanup. Background jobs of a non-interactive shell ignore SIGINT, so Ctrl-C alone would leave
# sb-sim and the pollers running: the trap stops each started process by its pid.
PIDS=()
KUBE_DELETE=() # manifest files applied to the cluster and not yet deleted
TMP=$(mktemp -d -t "servebench-${TARGET}.XXXXXX") # in $TMPDIR

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # A study stopped early still gets its table of what was done (the processes have stopped, so
  # their files are complete). ON_EARLY_EXIT is the script's own commands ("a; b"), never input.
  if [ "$status" -ne 0 ] && [ -n "${ON_EARLY_EXIT:-}" ]; then
    log "writing the tables of what was done"
    (set +e; eval "$ON_EARLY_EXIT") || true
  fi
  # A script's own clean-up (the containers of scale-out DOCKER=1), always.
  if [ -n "${ON_EXIT:-}" ]; then (set +e; "$ON_EXIT") || true; fi
  local f
  for f in "${KUBE_DELETE[@]}"; do
    log "cleanup: deleting the objects of ${f#"$RUN_DIR"/}"
    kube delete -f "$f" --ignore-not-found --wait=false >/dev/null 2>&1 || log "cleanup: could not delete the objects of $f"
  done
  rm -rf "$TMP"
  if [ "$status" -ne 0 ] && [ -n "${RUN_DIR:-}" ] && [ -d "$RUN_DIR" ]; then
    log "failed (exit $status); what was done is in $RUN_DIR"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# Starts "$@" in the background, stopped by the cleanup trap.
spawn() {
  "$@" <&0 &
  PIDS+=("$!")
  LAST_PID=$!
}

# Stops one process started with spawn (SIGTERM, then waits).
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# ---------------------------------------------------------------------------------------------
# The run directory: runs/<target>-<UTC time> unless RUN_DIR is given. A directory given with
# RUN_DIR is reused only when an earlier run made it (it holds .servebench-run), so a re-run
# never deletes a directory it did not create.
make_run_dir() {
  if [ -n "${RUN_DIR:-}" ]; then
    # Relative to the repository root, as SB_BIN: `make -C pipelines` runs from pipelines/.
    case $RUN_DIR in /*) ;; *) RUN_DIR=$ROOT/$RUN_DIR ;; esac
    if [ -e "$RUN_DIR" ] && [ -n "$(ls -A "$RUN_DIR" 2>/dev/null)" ]; then
      [ -f "$RUN_DIR/.servebench-run" ] || die "RUN_DIR=$RUN_DIR exists and was not made by a pipeline; pick another"
      rm -rf "$RUN_DIR"
    fi
    mkdir -p "$RUN_DIR"
  else
    local base stamp n=1
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    base="$ROOT/runs/$TARGET-$stamp"
    mkdir -p "$ROOT/runs"
    RUN_DIR=$base
    until mkdir "$RUN_DIR" 2>/dev/null; do
      n=$((n + 1))
      RUN_DIR="$base-$n"
    done
  fi
  RUN_DIR=$(cd "$RUN_DIR" && pwd)
  touch "$RUN_DIR/.servebench-run"
  mkdir -p "$RUN_DIR/logs"
  : >"$RUN_DIR/commands.sh"
  export RUN_DIR
  log "run directory: $RUN_DIR"
}

# Runs a command and appends it, shell-quoted, to commands.sh: the run's exact tool invocations.
# Optional leading "<FILE" and ">FILE" arguments redirect stdin and stdout (and are noted too).
run() {
  local in=/dev/stdin out=/dev/stdout note=""
  while [ $# -gt 0 ]; do
    case $1 in
      '<'*) in=${1#<} note="$note < ${in#"$RUN_DIR"/}" ;;
      '>'*) out=${1#>} note="$note > ${out#"$RUN_DIR"/}" ;;
      *) break ;;
    esac
    shift
  done
  local argv=("$@")
  argv[0]=${argv[0]#"${SB_BIN:-/nonexistent}"/}
  printf '%q ' "${argv[@]}" >>"$RUN_DIR/commands.sh"
  printf '%s\n' "$note" >>"$RUN_DIR/commands.sh"
  "$@" <"$in" >"$out"
}

# Notes a pipeline line (already quoted by the caller) in commands.sh.
note_cmd() { printf '%s\n' "$*" >>"$RUN_DIR/commands.sh"; }

# Writes run.env (the variables that shaped the run, shell-quoted, so that `set -a; . run.env` and the
# same target repeat it) and versions.txt (tool versions, commit, host). Arguments: variable names.
write_run_info() {
  local name b
  {
    printf '# %s, %s mode, started %s\n' "$TARGET" "$MODE" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    for name in "$@"; do printf '%s=%q\n' "$name" "${!name-}"; done
    if [ "$MODE" = cluster ]; then printf 'KUBECONTEXT=%q\n' "$KUBECONTEXT"; fi
  } >"$RUN_DIR/run.env"
  {
    for b in sb-sample sb-load sb-report sb-scrape sb-sim sb-deploy; do
      [ -x "$SB_BIN/$b" ] && "$SB_BIN/$b" --version 2>/dev/null
    done
    local commit
    commit=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null || true)" ]; then
      commit="$commit (with uncommitted changes)"
    fi
    echo "commit $commit"
    echo "host $(uname -srm)"
    if [ "$MODE" = cluster ]; then
      echo "kube-context $KUBECONTEXT namespace $NAMESPACE"
      kube version --client 2>/dev/null | head -n 1 || true
    fi
  } >"$RUN_DIR/versions.txt"
}

# ---------------------------------------------------------------------------------------------
# Binaries: SB_BIN names a directory holding them (e.g. target/debug); otherwise the ones the
# script needs are built in release mode first.
need_bins() {
  local b missing=()
  if [ -n "${SB_BIN:-}" ]; then
    case $SB_BIN in /*) ;; *) SB_BIN="$ROOT/$SB_BIN" ;; esac
  else
    local pkgs=()
    for b in "$@"; do pkgs+=(-p "$b"); done
    log "building ${*} (release; set SB_BIN=target/release to skip)"
    (cd "$ROOT" && cargo build --release "${pkgs[@]}") || die "cargo build failed"
    SB_BIN="$ROOT/target/release"
  fi
  for b in "$@"; do [ -x "$SB_BIN/$b" ] || missing+=("$b"); done
  [ ${#missing[@]} -eq 0 ] || die "not built in $SB_BIN: ${missing[*]} (cargo build -p ${missing[*]// / -p })"
  export SB_BIN
}

need_cmd() {
  local c
  for c in "$@"; do command -v "$c" >/dev/null || die "$c is needed (apt-get install $c)"; done
}

# What a pipeline runs: jq, the tools both modes need, then kubectl and the cluster's own tools,
# or the local ones (sb-load against sb-sim). need_tools "BOTH" "CLUSTER" "LOCAL"
need_tools() {
  need_cmd jq
  if [ "$MODE" = cluster ]; then
    # shellcheck disable=SC2086 # word lists
    need_bins $1 $2
    need_cmd "$KUBECTL"
  else
    # shellcheck disable=SC2086
    need_bins $1 $3
  fi
}

# sb-report over result files, a row per value of KEY, into PREFIX.FORMAT for each of FORMATS;
# nothing without result files. A report that fails leaves the others (and the run) as they are.
# group_reports PREFIX KEY "FORMATS" FILE...
group_reports() {
  local prefix=$1 key=$2 formats=$3 f
  shift 3
  [ $# -gt 0 ] || return 0
  for f in $formats; do
    run ">$prefix.$f" "$SB_BIN/sb-report" --max-lag-ms "$MAX_LAG" "$@" --group-by "$key" --format "$f" 2>/dev/null || true
  done
}

# Test data of the pipelines (tokenizer, small real datasets, vLLM logs).
DATA=${DATA:-$ROOT/testdata/pipelines}

# ---------------------------------------------------------------------------------------------
# Local mode: sb-sim on a free port. Sets SIM_URL and SIM_PID. Arguments go to sb-sim.
# SIM_ARGS (a string, split on spaces) is added to every sim the pipelines start.
start_sim() {
  local name=$1
  shift
  local addr="$TMP/sim-$name.addr"
  rm -f "$addr"
  # shellcheck disable=SC2086
  note_cmd "sb-sim --host 127.0.0.1 --port 0 --addr-file ADDR $(printf '%q ' "$@")${SIM_ARGS:-} &"
  # shellcheck disable=SC2086
  spawn "$SB_BIN/sb-sim" --host 127.0.0.1 --port 0 --addr-file "$addr" "$@" ${SIM_ARGS:-} 2>"$RUN_DIR/logs/sim-$name.log"
  SIM_PID=$LAST_PID
  for _ in $(seq 1 200); do
    if [ -s "$addr" ]; then
      SIM_URL=$(cat "$addr")
      return 0
    fi
    kill -0 "$SIM_PID" 2>/dev/null || die "sb-sim exited at start: $(tail -n 3 "$RUN_DIR/logs/sim-$name.log")"
    sleep 0.1
  done
  die "sb-sim did not listen within 20 s"
}

# The server of a local run: sb-sim on a free port, or with URL=... a server already running
# (a vLLM on this machine, say), which is then neither started nor stopped. Sets SIM_URL.
URL=${URL:-}
start_server() {
  if [ -n "$URL" ]; then
    SIM_URL=${URL%/}
    SIM_PID=""
    note_cmd "# server: $SIM_URL (given with URL=)"
  else
    start_sim "$@"
  fi
}

stop_server() {
  if [ -n "${SIM_PID:-}" ]; then stop_pid "$SIM_PID"; fi
}

# Server metrics of a local run: with PROMETHEUS, Prometheus is queried for each run's window
# afterwards; otherwise the server's /metrics is polled during the run (SCRAPE=0: neither).
SCRAPE=${SCRAPE:-1}
scrape_begin() {
  SCRAPE_PID=""
  if [ "$SCRAPE" = 1 ] && [ -z "$PROMETHEUS" ]; then start_scrape "$@"; fi
}

scrape_end() {
  if [ -n "${SCRAPE_PID:-}" ]; then stop_scrape; fi
}

# Polls /metrics of URL into FILE until stop_scrape. Waits for the first scrape, so the run's
# counters have a baseline sample from before the first request.
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-1s}
# Series worth keeping from a vLLM (or sb-sim) /metrics: counters, histograms and the load
# gauges; leaves out the `_created` timestamps and info gauges.
SCRAPE_MATCH=${SCRAPE_MATCH:-'^vllm:.*(_total|_bucket|_sum|_count|_perc|_running|_waiting)$'}
start_scrape() {
  local url=$1 out=$2 name=${3:-scrape}
  note_cmd "$(printf '%q ' sb-scrape --endpoint "$url/metrics" --interval "$SCRAPE_INTERVAL" --match "$SCRAPE_MATCH")> ${out#"$RUN_DIR"/} &"
  spawn "$SB_BIN/sb-scrape" --endpoint "$url/metrics" --interval "$SCRAPE_INTERVAL" --match "$SCRAPE_MATCH" \
    >"$out" 2>>"$RUN_DIR/logs/$name.log"
  SCRAPE_PID=$LAST_PID
  for _ in $(seq 1 100); do
    [ -s "$out" ] && return 0
    kill -0 "$SCRAPE_PID" 2>/dev/null || die "sb-scrape exited: $(tail -n 3 "$RUN_DIR/logs/$name.log")"
    sleep 0.1
  done
  die "sb-scrape wrote no sample of $url/metrics within 10 s (a server without /metrics? SCRAPE=0 turns the polling off)"
}

# Stops the poller after one more interval, so the last sample closes the run window.
stop_scrape() {
  sleep "$(interval_seconds "$SCRAPE_INTERVAL")"
  stop_pid "$SCRAPE_PID"
}

# "500ms", "2s", "1m" -> seconds for sleep.
interval_seconds() {
  case $1 in
    *ms) awk -v v="${1%ms}" 'BEGIN { printf "%.3f", v / 1000 }' ;;
    *s) echo "${1%s}" ;;
    *m) echo $((${1%m} * 60)) ;;
    *h) echo $((${1%h} * 3600)) ;;
    *) echo "$1" ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# Cluster mode: chosen by KUBECONTEXT (a context of your kubeconfig). KUBECTL names the client
# (default kubectl on PATH); NAMESPACE the namespace of every object.
NAMESPACE=${NAMESPACE:-servebench}
KUBECTL=${KUBECTL:-kubectl}
if [ -n "${KUBECONTEXT:-}" ]; then MODE=cluster; else MODE=local; fi

kube() {
  printf '%q ' "$KUBECTL" --context "$KUBECONTEXT" -n "$NAMESPACE" "$@" >>"$RUN_DIR/commands.sh"
  printf '\n' >>"$RUN_DIR/commands.sh"
  "$KUBECTL" --context "$KUBECONTEXT" -n "$NAMESPACE" "$@"
}

# Applies a manifest file and remembers to delete its objects on exit.
kube_apply() {
  local f=$1
  KUBE_DELETE+=("$f")
  kube apply -f "$f" >&2
}

# Creates the objects of a manifest file (and remembers to delete them on exit). For objects
# with a fresh name: unlike apply, create adds no last-applied annotation, which could not hold a
# ConfigMap of requests (annotations hold at most 256 KiB).
kube_create() {
  local f=$1
  KUBE_DELETE+=("$f")
  kube create -f "$f" >&2
}

# Deletes the objects of a manifest file now (and forgets it).
kube_delete() {
  local f=$1 keep=() g
  kube delete -f "$f" --ignore-not-found >&2 || log "could not delete the objects of $f"
  kube_forget "$f"
}

# Forgets a manifest file: the cleanup trap will not delete its objects.
kube_forget() {
  local f=$1 keep=() g
  for g in "${KUBE_DELETE[@]}"; do [ "$g" = "$f" ] || keep+=("$g"); done
  KUBE_DELETE=("${keep[@]}")
}

# The metadata.name of the first object of KIND in a multi-document YAML file (as sb-deploy
# renders it: top-level `kind:` and `metadata:` keys, `name:` two spaces in).
manifest_name() {
  local kind=$1 file=$2
  awk -v kind="$kind" '
    /^---/ { k = ""; meta = 0; next }
    /^kind: / { k = $2 }
    /^metadata:/ { meta = 1; next }
    /^[^ ]/ { meta = 0 }
    meta && /^  name: / && k == kind { print $2; exit }
  ' "$file"
}

# A ConfigMap holding a request file, as JSON for kubectl apply (ConfigMaps hold at most 1 MiB).
configmap_json() {
  local name=$1 file=$2
  local size
  size=$(wc -c <"$file")
  [ "$size" -lt 1000000 ] || die "$file is $size bytes; a ConfigMap holds at most 1 MiB (use fewer requests, or sb-deploy --requests pvc:...)"
  jq -Rs --arg name "$name" --arg ns "$NAMESPACE" \
    '{apiVersion: "v1", kind: "ConfigMap",
      metadata: {name: $name, namespace: $ns, labels: {"app.kubernetes.io/managed-by": "servebench-pipelines"}},
      data: {"requests.ndjson": .}}' "$file"
}

READY_TIMEOUT=${READY_TIMEOUT:-30m}
JOB_TIMEOUT=${JOB_TIMEOUT:-4h}

# Waits for an indexed Job to finish; 0 when all N completions succeeded, 1 when a pod failed.
kube_wait_job() {
  local job=$1 shards=$2 deadline
  deadline=$(($(date +%s) + $(interval_seconds "$JOB_TIMEOUT")))
  local state succeeded failed
  while :; do
    # Absent counts print as nothing: a separator that is not blank keeps the two apart.
    state=$(kube get job "$job" -o 'jsonpath={.status.succeeded}/{.status.failed}' 2>/dev/null || true)
    IFS=/ read -r succeeded failed <<<"$state" || true
    if [ "${failed:-0}" -gt 0 ] 2>/dev/null; then return 1; fi
    if [ "${succeeded:-0}" -ge "$shards" ] 2>/dev/null; then return 0; fi
    # A caller may look at the Job while it runs (the stress test's partial reports).
    if [ -n "${POLL_HOOK:-}" ]; then "$POLL_HOOK" "$job"; fi
    [ "$(date +%s)" -lt "$deadline" ] || {
      log "job $job did not finish within $JOB_TIMEOUT"
      return 1
    }
    sleep "${POLL_SECONDS:-5}"
  done
}

# Gathers the result records of a load Job from its pods' logs into OUTDIR/shard-<i>.ndjson.
# kubectl logs mixes stderr in (sb-load's summary line), so only record lines are kept.
kube_gather_job() {
  local job=$1 outdir=$2 pod index
  kube get pods -l "job-name=$job" \
    -o 'jsonpath={range .items[*]}{.metadata.name} {.metadata.annotations.batch\.kubernetes\.io/job-completion-index}{"\n"}{end}' \
    >"$TMP/pods"
  [ -s "$TMP/pods" ] || {
    log "no pods found for job $job"
    return 1
  }
  while read -r pod index; do
    [ -n "$pod" ] || continue
    kube logs "$pod" -c sb-load >"$TMP/pod.log" || {
      log "could not read the log of load pod $pod (shard $index)"
      : >"$TMP/pod.log"
    }
    grep '^{' "$TMP/pod.log" >"$outdir/shard-$index.ndjson" || true
    grep -v '^{' "$TMP/pod.log" >"$outdir/shard-$index.stderr" || true
  done <"$TMP/pods"
}

# Copies a request file onto the PersistentVolumeClaim REQUESTS_PVC (for request files over a
# ConfigMap's 1 MiB), through a short-lived busybox pod that mounts it.
stage_requests_pvc() {
  local outdir=$1 requests=$2 run_id=$3
  local pod="sb-stage-$run_id"
  jq -n --arg name "$pod" --arg ns "$NAMESPACE" --arg claim "$REQUESTS_PVC" \
    '{apiVersion: "v1", kind: "Pod",
      metadata: {name: $name, namespace: $ns, labels: {"app.kubernetes.io/managed-by": "servebench-pipelines"}},
      spec: {restartPolicy: "Never", terminationGracePeriodSeconds: 0,
             containers: [{name: "stage", image: "busybox:1.36", command: ["sleep", "3600"],
                           volumeMounts: [{name: "requests", mountPath: "/requests"}]}],
             volumes: [{name: "requests", persistentVolumeClaim: {claimName: $claim}}]}}' >"$outdir/stage-pod.json"
  kube_create "$outdir/stage-pod.json"
  kube wait --for=condition=Ready "pod/$pod" --timeout=5m >&2 || die "the staging pod $pod did not start"
  kube cp "$requests" "$NAMESPACE/$pod:/requests/requests-$run_id.ndjson" >&2 || die "kubectl cp to $pod failed"
  kube_delete "$outdir/stage-pod.json"
}

# One load in the cluster: the rendered manifests (server + Service + load Job, from sb-deploy
# render --loadgen) are applied with the requests in a ConfigMap, the server is waited for, the
# Job is waited for and its shards' results gathered into OUTDIR; then everything is deleted
# (unless KEEP=1). Arguments: OUTDIR REQUESTS SHARDS RUN_ID, then sb-deploy render arguments.
# Sets KUBE_DEPLOY_NAME, and KUBE_FAIL_REASON when it returns 1 (the server did not become ready,
# or the Job failed).
kube_load_run() {
  local outdir=$1 requests=$2 shards=$3 run_id=$4
  shift 4
  local where
  if [ -n "${REQUESTS_PVC:-}" ]; then
    stage_requests_pvc "$outdir" "$requests" "$run_id"
    where="pvc:$REQUESTS_PVC/requests-$run_id.ndjson"
  else
    local cm="sb-requests-$run_id"
    configmap_json "$cm" "$requests" >"$outdir/configmap.json"
    where="configmap:$cm/requests.ndjson"
  fi
  run ">$outdir/manifests.yaml" "$SB_BIN/sb-deploy" render "$@" --loadgen --shards "$shards" \
    --requests "$where" --run-id "$run_id"
  KUBE_DEPLOY_NAME=$(manifest_name Deployment "$outdir/manifests.yaml")
  local job
  job=$(manifest_name Job "$outdir/manifests.yaml")
  if [ -z "$KUBE_DEPLOY_NAME" ] || [ -z "$job" ]; then die "sb-deploy rendered no Deployment or Job"; fi
  if [ -f "$outdir/configmap.json" ]; then kube_create "$outdir/configmap.json"; fi
  kube_apply "$outdir/manifests.yaml"
  local status=0
  KUBE_FAIL_REASON=""
  if ! kube rollout status "deployment/$KUBE_DEPLOY_NAME" --timeout="$READY_TIMEOUT" >&2; then
    log "server $KUBE_DEPLOY_NAME did not become ready"
    # A server that crashed at start (vLLM exits on a KV-cache shortfall) is restarted by the
    # kubelet: the previous container's log holds the reason.
    kube logs "deployment/$KUBE_DEPLOY_NAME" --tail=200 >"$outdir/server.log" 2>&1 || true
    kube logs "deployment/$KUBE_DEPLOY_NAME" --tail=200 --previous >>"$outdir/server.log" 2>&1 || true
    KUBE_FAIL_REASON="the server did not become ready within $READY_TIMEOUT (see server.log)"
    status=1
  else
    if ! kube_wait_job "$job" "$shards"; then
      KUBE_FAIL_REASON="the load Job failed: a pod exited non-zero (see shard-*.stderr)"
      status=1
    fi
    # Whatever the pods wrote is kept, a failed pod's results too.
    kube_gather_job "$job" "$outdir" || {
      KUBE_FAIL_REASON=${KUBE_FAIL_REASON:-"no results could be read from the load pods"}
      status=1
    }
    kube logs "deployment/$KUBE_DEPLOY_NAME" >"$outdir/server.log" 2>&1 || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    :
  elif [ "${KUBE_KEEP_SERVER:-0}" = 1 ]; then
    # The next load goes to the same server: only this load's Job and requests go; the caller
    # deletes the server (still listed for the cleanup trap) when done with it.
    kube delete job "$job" --ignore-not-found >&2 || log "could not delete job $job"
    [ ! -f "$outdir/configmap.json" ] || kube_delete "$outdir/configmap.json"
  else
    kube_delete "$outdir/manifests.yaml"
    [ ! -f "$outdir/configmap.json" ] || kube_delete "$outdir/configmap.json"
  fi
  return "$status"
}

# Server metrics from Prometheus for the window of a results file, when PROMETHEUS is given.
# Arguments: RESULTS OUT, then sb-scrape arguments (presets, selectors).
PROMETHEUS=${PROMETHEUS:-}
SCRAPE_PAD=${SCRAPE_PAD:-30s}
SCRAPE_STEP=${SCRAPE_STEP:-15s}
# How long Prometheus gets to scrape past the end of the last run before it is queried: a
# counter's delta needs a sample after the window (two scrape intervals of a ServiceMonitor).
SCRAPE_SETTLE=${SCRAPE_SETTLE:-30s}
prometheus_scrape() {
  local results=$1 out=$2
  shift 2
  [ -n "$PROMETHEUS" ] || return 0
  [ -s "$results" ] || return 0
  local where=()
  if [ "$MODE" = cluster ]; then where=(--namespace "$NAMESPACE"); fi
  run ">$out" "$SB_BIN/sb-scrape" --prometheus "$PROMETHEUS" --window "$results" --pad "$SCRAPE_PAD" \
    --step "$SCRAPE_STEP" "${where[@]}" "$@" 2>>"$RUN_DIR/logs/scrape.log" ||
    log "sb-scrape reported a problem (see logs/scrape.log); what it collected is in ${out#"$RUN_DIR"/}"
}

# Queues a prometheus_scrape (same arguments) for prometheus_flush, so that one wait of
# SCRAPE_SETTLE serves every run of a study.
prometheus_later() {
  [ -n "$PROMETHEUS" ] || return 0
  printf '%q ' "$@" >>"$TMP/prometheus-queue"
  printf '\n' >>"$TMP/prometheus-queue"
}

prometheus_flush() {
  [ -s "$TMP/prometheus-queue" ] || return 0
  log "waiting $SCRAPE_SETTLE for Prometheus to scrape past the last run, then querying it"
  sleep "$(interval_seconds "$SCRAPE_SETTLE")"
  local line
  while IFS= read -r line; do
    eval "prometheus_scrape $line"
  done <"$TMP/prometheus-queue"
  rm -f "$TMP/prometheus-queue"
}

# A compact line for a summary JSON (sb-report --format json): the columns of every table.
SUMMARY_COLUMNS='["ok","failed","req/s","out tok/s","TTFT p50","TTFT p99","TPOT p50","ITL p50","E2EL p99"]'
summary_row() {
  jq -r 'def r(d): if . == null then "-" else (. * d | round / d) end;
         [.completed, .failed, (.request_throughput|r(100)), (.output_throughput|r(10)),
          (.ttft_ms.median|r(10)), (.ttft_ms.p99|r(10)), (.tpot_ms.median|r(100)),
          (.itl_ms.median|r(100)), (.e2el_ms.p99|r(10))] | map(tostring) | join(" | ")' "$1"
}

# Waits for a process started with spawn; returns its exit status.
wait_pid() {
  local pid=$1 status=0 keep=() p
  wait "$pid" || status=$?
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  return "$status"
}

# Synthetic requests (vLLM's `random` dataset) into OUT: N, INPUT_LEN, OUTPUT_LEN, SEED, TOKENIZER.
sample_random() {
  local out=$1
  log "sampling $N requests (random: input $INPUT_LEN, output $OUTPUT_LEN tokens, seed $SEED)"
  run ">$out" "$SB_BIN/sb-sample" random -n "$N" --seed "$SEED" --input-len "$INPUT_LEN" \
    --output-len "$OUTPUT_LEN" --tokenizer "$TOKENIZER" 2>>"$RUN_DIR/logs/sample.log" ||
    die "sb-sample failed: $(tail -n 2 "$RUN_DIR/logs/sample.log")"
}

# The tokenizer: locally the committed Qwen3-0.6B one; in a cluster the served model's own
# (from the Hub, or a local path given with TOKENIZER=).
default_tokenizer() {
  if [ -n "${TOKENIZER:-}" ]; then return; fi
  if [ "$MODE" = cluster ]; then TOKENIZER=$MODEL; else TOKENIZER=$DATA/tokenizers/qwen3-0.6b; fi
}

# The tokenizer for sb-sim (a directory with tokenizer.json or tokenizer.json.gz, or the file):
# the sim then counts prompt tokens as the requests were counted. Sets the array SIM_TOK (sb-sim
# flags, empty for a Hub id).
sim_tokenizer_args() {
  SIM_TOK=()
  if [ -f "$TOKENIZER/tokenizer.json.gz" ] || [ -f "$TOKENIZER/tokenizer.json" ]; then
    SIM_TOK=(--tokenizer "$TOKENIZER")
  elif [ -f "$TOKENIZER" ]; then
    SIM_TOK=(--tokenizer "$TOKENIZER")
  fi
}
