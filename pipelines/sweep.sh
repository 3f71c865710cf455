#!/usr/bin/env bash
# sweep: the engine-parameter study (the RTX 3080 seed's results table, measured). sb-deploy
# plan expands SWEEP into points and checks each against the GPU's memory; every point that
# fits is brought up, sent the same workload, scraped and taken down; points that do not fit
# are reported as such with sb-deploy's reason. One table row per point.
#   local:   each point is an sb-sim configured from the point (max-num-seqs, block-size,
#            max-model-len, prefix caching, and the KV capacity sb-deploy computed for the GPU,
#            which carries gpu-memory-utilization, dtype, quantization, kv-cache-dtype, ...).
#   cluster: each point's Deployment + Service + a one-pod load Job from sb-deploy render
#            --point, applied, waited for, gathered and deleted.
#
# Variables: MODEL (meta-llama/Llama-3.1-8B-Instruct), GPU (24gb), SWEEP ("max-model-len=131072,16384
# max-num-seqs=128,256": space-separated KEY=V1,V2 lists), DESIGN (a listed design file instead),
# SET (fixed engine parameters, "KEY=V KEY=V"), N (100), RATE (poisson:10), INPUT_LEN
# (uniform:128:512), OUTPUT_LEN (64), SEED, TOKENIZER, MAX_LAG, MAX_ERROR_RATE (sb-load's, 0: a
# point whose requests fail, e.g. longer than its max-model-len, is a failed point), SIM_ARGS; cluster: KUBECONTEXT,
# NAMESPACE, DEPLOY_ARGS, LOADGEN_IMAGE, PROMETHEUS, READY_TIMEOUT, JOB_TIMEOUT, KEEP, RUN_UNFIT=1
# (deploy the points sb-deploy predicts not to fit too, and let the server decide).
# The RTX 3080 seed's 17 experiments: DESIGN=pipelines/designs/rtx3080-seed.yaml GPU=rtx-3080-10gb.
# Capacity (local): CAPACITY_SLO (e.g. ttft_p99_ms=500; default off) also runs `sb-sweep --search`
# against each point's server, on CAPACITY_N (3000) requests of the same shape, with CAPACITY_ARGS
# (sb-sweep flags, "--duration 30s --warmup 5s"): the table then has the highest rate within the SLO
# and the output throughput there beside the single-rate numbers. In a cluster, run
# `make -C pipelines capacity` per configuration instead.
TARGET=sweep
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

MODEL=${MODEL:-meta-llama/Llama-3.1-8B-Instruct}
GPU=${GPU:-24gb}
SWEEP=${SWEEP:-max-model-len=131072,16384 max-num-seqs=128,256}
DESIGN=${DESIGN:-}
SET=${SET:-}
N=${N:-100}
RATE=${RATE:-poisson:10}
INPUT_LEN=${INPUT_LEN:-uniform:128:512}
OUTPUT_LEN=${OUTPUT_LEN:-64}
SEED=${SEED:-42}
MAX_LAG=${MAX_LAG:-10}
MAX_ERROR_RATE=${MAX_ERROR_RATE:-0}
RUN_UNFIT=${RUN_UNFIT:-0}
CAPACITY_SLO=${CAPACITY_SLO:-}
CAPACITY_ARGS=${CAPACITY_ARGS:---duration 30s --warmup 5s}
CAPACITY_N=${CAPACITY_N:-3000}
DEPLOY_ARGS=${DEPLOY_ARGS:-}
LOADGEN_IMAGE=${LOADGEN_IMAGE:-servebench:$SB_VERSION}
default_tokenizer

need_tools "sb-sample sb-report sb-scrape sb-deploy" "" "sb-load sb-sim ${CAPACITY_SLO:+sb-sweep}"
make_run_dir
write_run_info MODEL GPU SWEEP DESIGN SET N RATE INPUT_LEN OUTPUT_LEN SEED TOKENIZER MAX_LAG MAX_ERROR_RATE RUN_UNFIT SIM_ARGS DEPLOY_ARGS \
  CAPACITY_SLO CAPACITY_ARGS CAPACITY_N \
  LOADGEN_IMAGE PROMETHEUS NAMESPACE

# The same arguments make the plan and (in a cluster) each point's manifests.
plan_args=(-m "$MODEL" --gpu "$GPU" -n "$NAMESPACE")
for kv in $SET; do plan_args+=(--set "$kv"); done
for s in $SWEEP; do [ -n "$DESIGN" ] || plan_args+=(--sweep "$s"); done
if [ -n "$DESIGN" ]; then
  cp "$DESIGN" "$RUN_DIR/design.${DESIGN##*.}"
  plan_args+=(--design "$DESIGN")
fi
# shellcheck disable=SC2206
plan_args+=($DEPLOY_ARGS)

run ">$RUN_DIR/plan.ndjson" "$SB_BIN/sb-deploy" plan "${plan_args[@]}" 2>"$RUN_DIR/logs/plan.log" ||
  die "sb-deploy plan failed: $(tail -n 2 "$RUN_DIR/logs/plan.log")"
points=$(grep -c '"kind":"plan"' "$RUN_DIR/plan.ndjson" || true)
[ "$points" -gt 0 ] || die "the plan has no points"
log "$points points for $MODEL on $GPU: $(jq -r '.point' "$RUN_DIR/plan.ndjson" | tr '\n' ' ')"
sample_random "$RUN_DIR/requests.ndjson"
if [ -n "$CAPACITY_SLO" ]; then
  if [ "$MODE" = cluster ]; then
    log "CAPACITY_SLO: the search runs locally only; in a cluster run make -C pipelines capacity per configuration"
  else
    N=$CAPACITY_N sample_random "$RUN_DIR/capacity-requests.ndjson"
  fi
fi
[ "$MODE" = cluster ] || sim_tokenizer_args

# jq: a plan record's engine_args (["--max-num-seqs", "128", "--enforce-eager", ...]) as an
# object of flag name -> value (true for a switch).
# shellcheck disable=SC2016
ENGINE_ARGS_JQ='def engine_args: .engine_args as $a | reduce range(0; $a | length) as $i ({};
  if ($a[$i] | startswith("--")) | not then .
  elif $i + 1 < ($a | length) and (($a[$i + 1] | startswith("--")) | not) then . + {($a[$i][2:]): $a[$i + 1]}
  else . + {($a[$i][2:]): true} end); '
# Each point's report, with its server metrics.
report_points() {
  for dir in "$RUN_DIR"/points/*/; do
    [ -s "$dir/results.ndjson" ] || continue
    metrics=()
    [ ! -s "$dir/metrics.ndjson" ] || metrics=("$dir/metrics.ndjson")
    run ">$dir/report.txt" "$SB_BIN/sb-report" --max-lag-ms "$MAX_LAG" "$dir/results.ndjson" "${metrics[@]}" \
      2>/dev/null || true
    run ">$dir/summary.json" "$SB_BIN/sb-report" --max-lag-ms "$MAX_LAG" "$dir/results.ndjson" --format json \
      2>/dev/null || true
  done
}

# The table: one row per point, measured numbers where the point ran.
write_sweep_table() {
  {
    echo "# Sweep: $MODEL on $GPU ($MODE, $N requests at $RATE each)"
    echo
    cap_head="" cap_rule=""
    if [ -n "$CAPACITY_SLO" ]; then
      cap_head=" max req/s within $CAPACITY_SLO | out tok/s there |" cap_rule="---:|---:|"
    fi
    printf '| point | parameters | %s |%s status |\n' "$(jq -r 'join(" | ")' <<<"$SUMMARY_COLUMNS")" "$cap_head"
    printf '|---|---|%s%s---|\n' "$(jq -r 'map("---:|") | join("")' <<<"$SUMMARY_COLUMNS")" "$cap_rule"
    for dir in "$RUN_DIR"/points/*/; do
      point=$(basename "$dir")
      params=$(jq -r '.params | to_entries | map("\(.key)=\(.value)") | join(" ")' "$dir/plan.json")
      if [ -s "$dir/summary.json" ]; then
        row=$(summary_row "$dir/summary.json")
      else
        row=$(jq -r 'map("-") | join(" | ")' <<<"$SUMMARY_COLUMNS")
      fi
      cap=""
      if [ -n "$CAPACITY_SLO" ]; then
        # The sweep record (the last line of sb-sweep's output): the max rate and its point's throughput.
        cap=" $(grep -h '"kind":"sweep"' "$dir/capacity.ndjson" 2>/dev/null | tail -n 1 | jq -r '
          def r(d): if . == null then "-" else (. * d | round / d | tostring) end;
          .max_rate_rps as $m
          | "\($m | r(100)) | \([.points[] | select(.pass and .target_rate_rps == $m) | .output_throughput_tps][0] | r(10)) |"' \
          2>/dev/null || true)"
        [ "$cap" != " " ] || cap=" - | - |"
      fi
      printf '| %s | %s | %s |%s %s |\n' "$point" "$params" "$row" "$cap" "$(cat "$dir/status" 2>/dev/null || echo interrupted)"
    done
  } >"$RUN_DIR/sweep.md"
  group_reports "$RUN_DIR/by-point" tags.point md "$RUN_DIR"/points/*/results.ndjson
}

# Stopped early (a failure, Ctrl-C): the reports and the table of the points done so far.
ON_EARLY_EXIT="report_points; write_sweep_table"
stamp=$(date -u +%m%d%H%M%S)
failed_points=0
while IFS= read -r plan; do
  point=$(jq -r .point <<<"$plan")
  dir="$RUN_DIR/points/$point"
  mkdir -p "$dir"
  printf '%s\n' "$plan" >"$dir/plan.json"
  predicted=""
  if [ "$(jq -r .fit.fits <<<"$plan")" = false ]; then
    reason=$(grep -m1 "point $point: does not fit" "$RUN_DIR/logs/plan.log" | sed 's/.*does not fit: //; s/;.*//' || true)
    predicted="does not fit: ${reason:-no memory left for the KV cache}"
    # sb-deploy's overhead term is a heuristic: in a cluster RUN_UNFIT=1 lets the server decide.
    if [ "$MODE" = local ] || [ "$RUN_UNFIT" != 1 ]; then
      echo "$predicted" >"$dir/status"
      log "$point: does not fit, not run"
      continue
    fi
    log "$point: predicted not to fit; run anyway (RUN_UNFIT=1)"
  fi
  log "$point: $(jq -c .params <<<"$plan")"
  status=ok
  if [ "$MODE" = local ]; then
    # The point as sb-sim flags, from the engine arguments sb-deploy rendered for it (swept and
    # fixed); what the sim does not model is named in the point's status. Parameters of
    # sb-deploy's fit arithmetic reach the sim through --kv-tokens.
    mapfile -t sim_args < <(jq -r "$ENGINE_ARGS_JQ"'
      engine_args as $e | .fit as $f
      | (if $e["max-num-seqs"] then ["--max-num-seqs", $e["max-num-seqs"]] else [] end)
      + (if $e["block-size"] then ["--block-size", $e["block-size"]] else [] end)
      + (if $f.max_model_len then ["--max-model-len", ($f.max_model_len|tostring)] else [] end)
      + (if $e["no-enable-prefix-caching"] or $e["disable-prefix-caching"] or $e["enable-prefix-caching"] == "false"
         then ["--no-prefix-caching"] else [] end)
      + (if ($f.kv_capacity_tokens // 0) > 0 then ["--kv-tokens", ($f.kv_capacity_tokens|tostring)] else [] end)
      | .[]' <<<"$plan")
    unmodelled=$(jq -r "$ENGINE_ARGS_JQ"'[engine_args | keys[] | select(IN("max-num-seqs", "block-size",
      "max-model-len", "enable-prefix-caching", "no-enable-prefix-caching", "disable-prefix-caching",
      "gpu-memory-utilization", "cpu-offload-gb", "dtype", "quantization", "kv-cache-dtype",
      "kv-cache-memory-bytes", "tensor-parallel-size", "pipeline-parallel-size") | not)] | join(",")' <<<"$plan")
    start_sim "$point" --model "$MODEL" "${SIM_TOK[@]}" --seed "$SEED" "${sim_args[@]}"
    scrape_begin "$SIM_URL" "$dir/metrics.ndjson" "scrape-$point"
    run "<$RUN_DIR/requests.ndjson" ">$dir/results.ndjson" "$SB_BIN/sb-load" --url "$SIM_URL" --model "$MODEL" \
      --rate "$RATE" --seed "$SEED" --max-lag "$MAX_LAG" --max-error-rate "$MAX_ERROR_RATE" \
      --run "sweep-$stamp-$point" --tag "point=$point" \
      2>"$RUN_DIR/logs/load-$point.log" || status="load check failed: $(tail -n 1 "$RUN_DIR/logs/load-$point.log" | sed 's/.*: //')"
    scrape_end
    if [ -n "$CAPACITY_SLO" ]; then
      # The highest rate within the SLO on the same server (sb-sweep resets its prefix cache).
      # shellcheck disable=SC2086
      run ">$dir/capacity.ndjson" "$SB_BIN/sb-sweep" --search --slo "$CAPACITY_SLO" $CAPACITY_ARGS \
        --requests "$RUN_DIR/capacity-requests.ndjson" --run "capacity-$stamp-$point" -- --url "$SIM_URL" \
        --model "$MODEL" --seed "$SEED" --max-lag "$MAX_LAG" 2>"$RUN_DIR/logs/capacity-$point.log" ||
        log "$point: sb-sweep: $(tail -n 1 "$RUN_DIR/logs/capacity-$point.log")"
    fi
    stop_pid "$SIM_PID"
    [ -z "$unmodelled" ] || status="$status (sb-sim does not model $unmodelled)"
  else
    # shellcheck disable=SC2206
    if kube_load_run "$dir" "$RUN_DIR/requests.ndjson" 1 "$stamp-$point" "${plan_args[@]}" --point "$point" \
      --rate "$RATE" --loadgen-image "$LOADGEN_IMAGE" --load-arg="--max-lag=$MAX_LAG" --load-arg="--seed=$SEED" \
      --load-arg="--max-error-rate=$MAX_ERROR_RATE"; then
      :
    else
      status="failed: $KUBE_FAIL_REASON"
      if grep -qiE 'No available memory for the cache blocks|larger than the maximum number of tokens that can be stored in KV cache|CUDA out of memory' "$dir/server.log" 2>/dev/null; then
        status="does not fit (server): $(grep -m1 -oiE 'No available memory for the cache blocks|larger than the maximum number of tokens that can be stored in KV cache|CUDA out of memory' "$dir/server.log")"
      fi
    fi
    if compgen -G "$dir/shard-*.ndjson" >/dev/null; then
      cat "$dir"/shard-*.ndjson >"$dir/results.ndjson"
      prometheus_later "$dir/results.ndjson" "$dir/metrics.ndjson" --preset io --model "$MODEL" \
        --pod "$KUBE_DEPLOY_NAME-.*"
    fi
  fi
  if [ -n "$predicted" ]; then status="$status (predicted: $predicted)"; fi
  case $status in ok*) ;; does\ not\ fit*) ;; *) failed_points=$((failed_points + 1)) ;; esac
  echo "$status" >"$dir/status"
done <"$RUN_DIR/plan.ndjson"

# From Prometheus once it has scraped past the end of the last point.
prometheus_flush
report_points
write_sweep_table
ON_EARLY_EXIT=""
cat "$RUN_DIR/sweep.md"
log "table: $RUN_DIR/sweep.md; each point's report: $RUN_DIR/points/<point>/report.txt"
[ "$failed_points" -eq 0 ] || {
  log "$failed_points point(s) failed"
  exit 1
}
