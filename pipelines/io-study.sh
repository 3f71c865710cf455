#!/usr/bin/env bash
# io-study: the I/O study of the seeds. For every model of MODELS, the six tasks on their
# datasets (single prompt/single response: HumanEval, Alpaca; beam search: Natural Questions;
# shared prefix: LooGLE, LongBench; chatbot: OpenChat; question answering: MMLU;
# summarization: QMSum), N samples each, server metrics scraped per run, and one combined
# report grouped by model and task.
#   local:   one sb-sim per model (serving the model's name), datasets from the small real files
#            in testdata/pipelines/datasets, /metrics polled by sb-scrape during each run.
#   cluster: one vLLM Deployment per model (sb-deploy render), a load Job per task against it,
#            datasets from the Hub; with PROMETHEUS, the `io` presets (cAdvisor, DCGM, vLLM)
#            scraped for each run's window. Request files over a ConfigMap's 1 MiB need
#            REQUESTS_PVC=<claim>.
#
# Variables: MODELS ("Qwen/Qwen3-0.6B facebook/opt-125m" locally), TASKS (space-separated
# task:dataset pairs, default the eight above), N (1000), RATE (inf, as vLLM bench serve),
# SEED, TOKENIZER (all models; default locally the Qwen3-0.6B tokenizer, in a cluster each
# model's own), TOKENIZERS (per model, "MODEL=TOKENIZER ...": facebook/opt-125m has no
# tokenizer.json on the Hub, openai-community/gpt2 counts the same), DATASETS (local|hub; default local unless in a cluster), MAX_LAG, MAX_ERROR_RATE
# (sb-load's; 0: a run with a failed request is a failed run), SIM_ARGS,
# URL (a running server instead of sb-sim; one model), PROMETHEUS (queried per run);
# cluster: KUBECONTEXT, NAMESPACE, DEPLOY_ARGS, LOADGEN_IMAGE, PROMETHEUS, REQUESTS_PVC,
# READY_TIMEOUT, JOB_TIMEOUT, KEEP.
TARGET=io-study
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

MODELS=${MODELS:-Qwen/Qwen3-0.6B facebook/opt-125m}
TASKS=${TASKS:-single-prompt:humaneval single-prompt:alpaca beam-search:natural-questions shared-prefix:loogle shared-prefix:longbench chatbot:openchat question-answering:mmlu summarization:qmsum}
N=${N:-1000}
RATE=${RATE:-inf}
SEED=${SEED:-42}
MAX_LAG=${MAX_LAG:-10}
MAX_ERROR_RATE=${MAX_ERROR_RATE:-0}
DEPLOY_ARGS=${DEPLOY_ARGS:-}
LOADGEN_IMAGE=${LOADGEN_IMAGE:-servebench:$SB_VERSION}
if [ "$MODE" = cluster ]; then DATASETS=${DATASETS:-hub}; else DATASETS=${DATASETS:-local}; fi
TOKENIZER_ALL=${TOKENIZER:-}
TOKENIZERS=${TOKENIZERS:-}

# The local copy of each dataset (small real files; see testdata/pipelines/README.md).
local_source() {
  case $1 in
    humaneval) echo "--source $DATA/datasets/humaneval/HumanEval.jsonl.gz" ;;
    alpaca) echo "--source $DATA/datasets/alpaca/alpaca_data.first200.json" ;;
    natural-questions) echo "--source $DATA/datasets/natural_questions/NQ-open.dev.first300.jsonl" ;;
    loogle) echo "--source $DATA/datasets/loogle/longdep_qa.first1.jsonl --config longdep_qa" ;;
    longbench) echo "--source $DATA/datasets/longbench/data.zip" ;;
    openchat) echo "--source $DATA/datasets/openchat/sharegpt_gpt4.json" ;;
    mmlu) echo "--source $DATA/datasets/mmlu/derived_csv" ;;
    qmsum) echo "--source $DATA/datasets/qmsum/ES2004a.json" ;;
    sonnet) echo "--source $DATA/datasets/vllm/sonnet.txt" ;;
    *) return 1 ;;
  esac
}

need_tools "sb-sample sb-report sb-scrape" "sb-deploy" "sb-load sb-sim"
for spec in $TASKS; do
  [[ $spec == *:* ]] || die "TASKS entries are task:dataset pairs, not '$spec'"
  if [ "$DATASETS" = local ]; then local_source "${spec#*:}" >/dev/null || die "no local copy of dataset ${spec#*:}"; fi
done
if [ -n "$URL" ] && [ "$(wc -w <<<"$MODELS")" -ne 1 ]; then die "URL= is one server: give one model in MODELS"; fi
make_run_dir
write_run_info MODELS TASKS N RATE SEED TOKENIZER TOKENIZERS DATASETS MAX_LAG MAX_ERROR_RATE SIM_ARGS DEPLOY_ARGS LOADGEN_IMAGE PROMETHEUS \
  REQUESTS_PVC NAMESPACE URL

# Each run's report, with its server metrics.
report_cells() {
  for dir in "$RUN_DIR"/cells/*/*/; do
    [ -s "$dir/results.ndjson" ] || continue
    metrics=()
    [ ! -s "$dir/metrics.ndjson" ] || metrics=("$dir/metrics.ndjson")
    run ">$dir/summary.json" "$SB_BIN/sb-report" --max-lag-ms "$MAX_LAG" "$dir/results.ndjson" "${metrics[@]}" \
      --format json 2>/dev/null || true
    run ">$dir/report.txt" "$SB_BIN/sb-report" --max-lag-ms "$MAX_LAG" "$dir/results.ndjson" "${metrics[@]}" \
      2>/dev/null || true
  done
}

# The server side of each run, from its metrics (sb-report's server_metrics, summed over label
# sets): what the study is about. `-` where the source was not scraped (locally there are no
# cAdvisor or DCGM series; sb-sim has the vLLM ones).
# shellcheck disable=SC2016
IO_ROW_JQ='def m(name): [.server_metrics[]? | select(.metric == name)];
  def delta(name): m(name) | if length > 0 then map(.delta // 0) | add else null end;
  def gmax(name): m(name) | if length > 0 then map(.max // 0) | max else null end;
  def gmean(name): m(name) | if length > 0 then map(.mean // 0) | add / length else null end;
  def r(d): if . == null then "-" else (. * d | round / d | tostring) end;
  [ (if delta("vllm:prefix_cache_queries_total") // 0 > 0
     then delta("vllm:prefix_cache_hits_total") / delta("vllm:prefix_cache_queries_total") * 100 else null end | r(10)),
    (gmax("vllm:kv_cache_usage_perc") | if . == null then null else . * 100 end | r(10)),
    (gmax("vllm:num_requests_waiting") | r(1)),
    (delta("container_fs_reads_bytes_total") | if . == null then null else . / 1e6 end | r(10)),
    (delta("container_fs_writes_bytes_total") | if . == null then null else . / 1e6 end | r(10)),
    (delta("container_network_receive_bytes_total") | if . == null then null else . / 1e6 end | r(10)),
    (delta("container_network_transmit_bytes_total") | if . == null then null else . / 1e6 end | r(10)),
    (gmax("container_memory_working_set_bytes") | if . == null then null else . / 1073741824 end | r(100)),
    (gmax("DCGM_FI_DEV_FB_USED") | if . == null then null else . / 1024 end | r(100)),
    (gmean("DCGM_FI_DEV_POWER_USAGE") | r(1))
  ] | join(" | ")'

# The combined report: one row per model x task x dataset from each run's summary, then
# sb-report over every result stream grouped the same way.
write_study_table() {
  {
    echo "# I/O study ($MODE): $N samples per task, rate $RATE"
    echo
    printf '| model | task | dataset | sampling | %s | status |\n' "$(jq -r 'join(" | ")' <<<"$SUMMARY_COLUMNS")"
    printf '|---|---|---|---|%s---|\n' "$(jq -r 'map("---:|") | join("")' <<<"$SUMMARY_COLUMNS")"
    for dir in "$RUN_DIR"/cells/*/*/; do
      if [ -s "$dir/summary.json" ]; then
        row=$(summary_row "$dir/summary.json")
      else
        row=$(jq -r 'map("-") | join(" | ")' <<<"$SUMMARY_COLUMNS")
      fi
      printf '| %s | %s | %s | %s | %s | %s |\n' "$(jq -r .model "$dir/cell.json")" "$(jq -r .task "$dir/cell.json")" \
        "$(jq -r .dataset "$dir/cell.json")" "$(cat "$dir/sampling" 2>/dev/null || echo -)" "$row" \
        "$(cat "$dir/status" 2>/dev/null || echo "interrupted")"
    done
    echo
    echo "## Server side of each run"
    echo
    echo "| model | task | dataset | prefix cache hit % | KV cache max % | waiting max | fs read MB | fs write MB | net rx MB | net tx MB | memory max GiB | GPU memory max GiB | GPU power mean W |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for dir in "$RUN_DIR"/cells/*/*/; do
      [ -s "$dir/summary.json" ] || continue
      printf '| %s | %s | %s | %s |\n' "$(jq -r .model "$dir/cell.json")" "$(jq -r .task "$dir/cell.json")" \
        "$(jq -r .dataset "$dir/cell.json")" "$(jq -r "$IO_ROW_JQ" "$dir/summary.json")"
    done
  } >"$RUN_DIR/study.md"
  group_reports "$RUN_DIR/by-model-task" tags.cell "md csv" "$RUN_DIR"/cells/*/*/results.ndjson
}

# Stopped early (a failure, Ctrl-C): the reports and the table of the runs done so far.
ON_EARLY_EXIT="report_cells; write_study_table"
stamp=$(date -u +%m%d%H%M%S)
failed_cells=0
cell_index=0

# Samples one task into DIR/requests.ndjson; without replacement unless the dataset has fewer
# than N units (HumanEval has 164 problems), then with it, and says so in DIR/sampling.
sample_cell() {
  local dir=$1 task=$2 dataset=$3 src=()
  # shellcheck disable=SC2207
  [ "$DATASETS" = local ] && src=($(local_source "$dataset"))
  local args=("$dataset" -n "$N" --seed "$SEED" --tokenizer "$TOKENIZER" "${src[@]}")
  local status=0
  run ">$dir/requests.ndjson" "$SB_BIN/sb-sample" "${args[@]}" 2>"$dir/sample.log" || status=$?
  if [ "$status" -eq 1 ]; then
    echo "with replacement ($(grep -m1 -o 'only [0-9]* of [0-9]* units' "$dir/sample.log" || echo "fewer units than $N"))" \
      >"$dir/sampling"
    status=0
    run ">$dir/requests.ndjson" "$SB_BIN/sb-sample" "${args[@]}" --replace 2>>"$dir/sample.log" || status=$?
  else
    echo "without replacement" >"$dir/sampling"
  fi
  [ "$status" -eq 0 ] || [ "$status" -eq 1 ]
}

for model in $MODELS; do
  slug=$(tr '/A-Z' '-a-z' <<<"$model" | tr -c 'a-z0-9.\n-' '-')
  TOKENIZER=$TOKENIZER_ALL
  for pair in $TOKENIZERS; do
    if [ "${pair%%=*}" = "$model" ]; then TOKENIZER=${pair#*=}; fi
  done
  default_tokenizer
  log "model $model (tokenizer $TOKENIZER)"
  model_manifests=()
  model_down=""
  if [ "$MODE" = local ]; then
    sim_tokenizer_args
    start_server "$slug" --model "$model" "${SIM_TOK[@]}" --seed "$SEED"
  fi
  for spec in $TASKS; do
    task=${spec%%:*}
    dataset=${spec#*:}
    cell_index=$((cell_index + 1))
    dir="$RUN_DIR/cells/$slug/$task-$dataset"
    mkdir -p "$dir"
    jq -n --arg model "$model" --arg task "$task" --arg dataset "$dataset" \
      '{model: $model, task: $task, dataset: $dataset}' >"$dir/cell.json"
    status=ok
    tags=(--tag "model=$model" --tag "task=$task" --tag "dataset=$dataset" --tag "cell=$model $task $dataset")
    if [ -n "$model_down" ]; then
      status="not run: $model_down"
    elif ! sample_cell "$dir" "$task" "$dataset"; then
      status="sampling failed: $(tail -n 1 "$dir/sample.log")"
    elif [ "$MODE" = local ]; then
      log "$model / $task / $dataset: $(wc -l <"$dir/requests.ndjson") requests at $RATE"
      scrape_begin "$SIM_URL" "$dir/metrics.ndjson" "scrape-$slug"
      run "<$dir/requests.ndjson" ">$dir/results.ndjson" "$SB_BIN/sb-load" --url "$SIM_URL" --model "$model" \
        --rate "$RATE" --seed "$SEED" --max-lag "$MAX_LAG" --max-error-rate "$MAX_ERROR_RATE" \
        --run "io-$stamp-$cell_index" "${tags[@]}" \
        2>"$dir/load.log" || status="load check failed: $(tail -n 1 "$dir/load.log" | sed 's/.*: //')"
      scrape_end
      prometheus_later "$dir/results.ndjson" "$dir/metrics.ndjson" --preset vllm --model "$model"
    else
      log "$model / $task / $dataset: $(wc -l <"$dir/requests.ndjson") requests at $RATE (load Job)"
      load_args=()
      for t in "${tags[@]}"; do [ "$t" = --tag ] || load_args+=(--load-arg="--tag=$t"); done
      # shellcheck disable=SC2086
      if KUBE_KEEP_SERVER=1 kube_load_run "$dir" "$dir/requests.ndjson" 1 "$stamp-$cell_index" -m "$model" \
        -n "$NAMESPACE" --rate "$RATE" --loadgen-image "$LOADGEN_IMAGE" --load-arg="--max-lag=$MAX_LAG" \
        --load-arg="--seed=$SEED" --load-arg="--max-error-rate=$MAX_ERROR_RATE" "${load_args[@]}" $DEPLOY_ARGS; then
        :
      else
        status="failed: $KUBE_FAIL_REASON"
        # The next tasks would wait READY_TIMEOUT for the same server again.
        case $KUBE_FAIL_REASON in "the server did not become ready"*) model_down=$KUBE_FAIL_REASON ;; esac
      fi
      if compgen -G "$dir/shard-*.ndjson" >/dev/null; then
        cat "$dir"/shard-*.ndjson >"$dir/results.ndjson"
        prometheus_later "$dir/results.ndjson" "$dir/metrics.ndjson" --preset io --model "$model" \
          --pod "$KUBE_DEPLOY_NAME-.*"
      fi
      model_manifests+=("$dir/manifests.yaml")
    fi
    case $status in ok) ;; *) failed_cells=$((failed_cells + 1)) ;; esac
    echo "$status" >"$dir/status"
  done
  if [ "$MODE" = local ]; then
    stop_server
  elif [ ${#model_manifests[@]} -gt 0 ] && [ "${KEEP:-0}" != 1 ]; then
    # One file per task, all naming the same server (their Jobs are gone already): delete
    # through the last one, forget the others.
    for f in "${model_manifests[@]}"; do kube_forget "$f"; done
    kube_delete "${model_manifests[-1]}"
  fi
done

# From Prometheus once it has scraped past the end of the last run.
prometheus_flush
report_cells
write_study_table
ON_EARLY_EXIT=""
cat "$RUN_DIR/study.md"
log "table: $RUN_DIR/study.md; sb-report grouped by model and task: $RUN_DIR/by-model-task.{md,csv}"
[ "$failed_cells" -eq 0 ] || {
  log "$failed_cells run(s) failed"
  exit 1
}
