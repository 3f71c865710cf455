#!/usr/bin/env bash
# startup: where a vLLM server's start-up time goes, per model and load format. Each server is
# deployed, waited for, its log collected and parsed by `sb-scrape --log` into phases (config,
# worker init, model load, engine init with torch.compile and CUDA graphs, API server), then
# deleted; one table row per model x load format.
#   cluster: sb-deploy render -m MODEL --set load-format=FORMAT, applied, `kubectl rollout
#            status` timed, `kubectl logs` of the server pod parsed.
#   local:   sb-sim has no vLLM log: each model's sim start is timed (process start to listening,
#            and to the first token of one request), and the vLLM logs in LOGS (by default the
#            real start-up logs in testdata/pipelines/logs) are parsed into the same table.
#
# Variables: MODELS (Qwen/Qwen3-0.6B), LOAD_FORMATS (auto; e.g. "auto safetensors runai_streamer"),
# LOGS (local: vLLM log files to parse), YEAR (the logs' year; vLLM log lines carry none),
# SIM_ARGS; cluster: KUBECONTEXT, NAMESPACE, DEPLOY_ARGS, READY_TIMEOUT, KEEP.
TARGET=startup
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

MODELS=${MODELS:-Qwen/Qwen3-0.6B}
LOAD_FORMATS=${LOAD_FORMATS:-auto}
YEAR=${YEAR:-$(date -u +%Y)}
DEPLOY_ARGS=${DEPLOY_ARGS:-}
if [ "$MODE" = local ]; then
  LOGS=${LOGS:-$(printf '%s ' "$DATA"/logs/*.log)}
else
  LOGS=${LOGS:-}
fi

need_tools "sb-scrape" "sb-deploy" "sb-sim sb-sample sb-load"
make_run_dir
write_run_info MODELS LOAD_FORMATS LOGS YEAR SIM_ARGS DEPLOY_ARGS NAMESPACE READY_TIMEOUT

now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# Parses a vLLM log into DIR/samples.ndjson (start-up phase samples).
parse_log() {
  local log=$1 dir=$2
  run ">$dir/samples.ndjson" "$SB_BIN/sb-scrape" --log "$log" --year "$YEAR" 2>>"$dir/scrape.log" ||
    log "sb-scrape --log found problems in $log (see ${dir#"$RUN_DIR"/}/scrape.log)"
}

failed=0
if [ "$MODE" = cluster ]; then
  for model in $MODELS; do
    for fmt in $LOAD_FORMATS; do
      slug=$(tr '/A-Z' '-a-z' <<<"$model" | tr -c 'a-z0-9.\n-' '-')
      dir="$RUN_DIR/servers/$slug-$fmt"
      mkdir -p "$dir"
      jq -n --arg model "$model" --arg fmt "$fmt" '{model: $model, load_format: $fmt, source: "cluster"}' >"$dir/server.json"
      # shellcheck disable=SC2086
      run ">$dir/manifests.yaml" "$SB_BIN/sb-deploy" render -m "$model" -n "$NAMESPACE" --set "load-format=$fmt" \
        --label "servebench.io/load-format=$fmt" $DEPLOY_ARGS 2>"$dir/render.log" || {
        echo "render failed: $(tail -n 1 "$dir/render.log")" >"$dir/status"
        failed=$((failed + 1))
        continue
      }
      name=$(manifest_name Deployment "$dir/manifests.yaml")
      log "$model, load format $fmt: deploying $name"
      # A server left by an interrupted run would make this one a no-op: start from nothing.
      kube delete -f "$dir/manifests.yaml" --ignore-not-found >&2 || true
      t0=$(now_s)
      kube_apply "$dir/manifests.yaml"
      if kube rollout status "deployment/$name" --timeout="$READY_TIMEOUT" >&2; then
        elapsed "$t0" "$(now_s)" >"$dir/ready_wall_s"
        echo ok >"$dir/status"
      else
        echo "not ready within $READY_TIMEOUT" >"$dir/status"
        failed=$((failed + 1))
      fi
      pod=$(kube get pods -l "app.kubernetes.io/instance=$name" -o 'jsonpath={.items[0].metadata.name}' 2>/dev/null || true)
      # --timestamps: an RFC 3339 time with the year on every line, which sb-scrape prefers to
      # vLLM's own (no year, local time, whole seconds).
      kube logs "${pod:-deployment/$name}" -c vllm --timestamps >"$dir/server.log" 2>&1 || true
      parse_log "$dir/server.log" "$dir"
      [ "${KEEP:-0}" = 1 ] || kube_delete "$dir/manifests.yaml"
    done
  done
else
  sim_model() {
    local model=$1 dir=$2
    TOKENIZER=$DATA/tokenizers/qwen3-0.6b
    N=1 INPUT_LEN=64 OUTPUT_LEN=4 SEED=0 sample_random "$dir/request.ndjson" 2>/dev/null
    local t0 t1
    t0=$(now_s)
    start_sim "$(basename "$dir")" --model "$model"
    t1=$(now_s)
    elapsed "$t0" "$t1" >"$dir/listen_wall_s"
    run "<$dir/request.ndjson" ">$dir/results.ndjson" "$SB_BIN/sb-load" --url "$SIM_URL" --model "$model" \
      --max-lag 1000 2>/dev/null || true
    # Time to the first token of the first request, from the process start.
    jq -r --arg t0 "$t0" 'select(.kind == "result") | (.first_token_ns / 1e9 - ($t0 | tonumber)) * 100 | round / 100' \
      "$dir/results.ndjson" >"$dir/first_token_wall_s" || true
    stop_pid "$SIM_PID"
  }
  for model in $MODELS; do
    slug=$(tr '/A-Z' '-a-z' <<<"$model" | tr -c 'a-z0-9.\n-' '-')
    dir="$RUN_DIR/servers/sim-$slug"
    mkdir -p "$dir"
    jq -n --arg model "$model" '{model: $model, load_format: "-", source: "sb-sim"}' >"$dir/server.json"
    sim_model "$model" "$dir"
    cp "$dir/listen_wall_s" "$dir/ready_wall_s"
    echo ok >"$dir/status"
    log "sb-sim for $model listening after $(cat "$dir/listen_wall_s") s, first token after $(cat "$dir/first_token_wall_s") s"
  done
  for f in $LOGS; do
    [ -f "$f" ] || die "LOGS: no file $f"
    dir="$RUN_DIR/servers/log-$(basename "$f" .log)"
    mkdir -p "$dir"
    cp "$f" "$dir/server.log"
    parse_log "$dir/server.log" "$dir"
    model=$(jq -r 'select(.metric == "vllm_startup:info") | .labels.model' "$dir/samples.ndjson" | head -n 1)
    jq -n --arg model "${model:-?}" --arg f "$(basename "$f")" '{model: $model, load_format: "-", source: $f}' \
      >"$dir/server.json"
    echo ok >"$dir/status"
  done
fi

# The table of phases, seconds (from the log's timestamps; `-` where the log has no such line).
{
  echo "# Start-up phases ($MODE), seconds"
  echo
  echo "| model | load format | source | vLLM | ready (wall) | total (log) | config | worker init | model load | weights load | engine init | torch.compile | CUDA graphs | API server | status |"
  echo "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for dir in "$RUN_DIR"/servers/*/; do
    samples="$dir/samples.ndjson"
    [ -s "$samples" ] || samples=/dev/null
    phases=$(jq -rs 'def r: if . == null then "-" else (. * 100 | round / 100 | tostring) end;
      def v(m): [.[] | select(.metric == m) | .value] | if length > 0 then add else null end;
      def ph(p): [.[] | select(.metric == "vllm_startup:phase_seconds" and .labels.phase == p) | .value]
                 | if length > 0 then add else null end;
      [([.[] | select(.metric == "vllm_startup:info") | .labels.version][0] // "-"),
       "READY", (v("vllm_startup:total_seconds") | r), (ph("config") | r), (ph("worker_init") | r),
       (ph("model_load") | r), (v("vllm_startup:weights_load_seconds") | r), (ph("engine_init") | r),
       (v("vllm_startup:torch_compile_seconds") | r), (v("vllm_startup:cuda_graph_capture_seconds") | r),
       (ph("api_server") | r)] | join(" | ")' "$samples")
    ready=$(cat "$dir/ready_wall_s" 2>/dev/null || echo -)
    printf '| %s | %s | %s | %s | %s |\n' "$(jq -r .model "$dir/server.json")" "$(jq -r .load_format "$dir/server.json")" \
      "$(jq -r .source "$dir/server.json")" "${phases/READY/$ready}" "$(cat "$dir/status")"
  done
} >"$RUN_DIR/startup.md"
cat "$RUN_DIR/startup.md"
log "table: $RUN_DIR/startup.md; logs and phase samples: $RUN_DIR/servers/"
[ "$failed" -eq 0 ] || exit 1
