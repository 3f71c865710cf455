#!/usr/bin/env bash
# trace-replay: a window of a public serving trace replayed with its own arrival times. sb-sample
# turns the trace into timed requests (prompts of the trace's input lengths; for Mooncake with
# its hash_ids prefix sharing), sb-load replays their at_ms against sb-sim (or URL=) while
# sb-scrape polls /metrics, and the summary puts side by side: client latencies (sb-report), the
# server's prefix-cache hit rate beside the trace's ideal one (sb-sample inspect), and the
# achieved arrival rate beside the trace's.
#
# Variables: TRACE (mooncake, azure-code or azure-conv), TRACE_FILE (the trace file; default the
# slice in testdata/sample/traces — pass the full file from the trace's repository for real
# runs), START (0s), DURATION (60s of trace time), N (all requests of the window), SPEED (1;
# e.g. 4 replays four times faster), TARGET_RATE (rescale to this mean req/s instead of SPEED),
# API (completions), MODEL (Qwen/Qwen3-0.6B), TOKENIZER, SEED (0), MAX_LAG, SIM_ARGS,
# SCRAPE_INTERVAL (1s), URL (a running server instead of sb-sim), SB_BIN, RUN_DIR.
#
# sb-sim runs with a KV cache large enough for the window (the ideal rate assumes nothing is
# evicted) and prompts up to 200k tokens, as the traces have them.
TARGET=trace-replay
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

TRACE=${TRACE:-mooncake}
START=${START:-0s}
DURATION=${DURATION:-60s}
N=${N:-}
SPEED=${SPEED:-1}
TARGET_RATE=${TARGET_RATE:-}
API=${API:-completions}
MODEL=${MODEL:-Qwen/Qwen3-0.6B}
SEED=${SEED:-0}
MAX_LAG=${MAX_LAG:-10}
TOKENIZER=${TOKENIZER:-$DATA/tokenizers/qwen3-0.6b}
MODE=local
TRACES=$ROOT/testdata/sample/traces
case $TRACE in
  mooncake) dataset=(mooncake) default_file=$TRACES/mooncake/conversation_trace.first500.jsonl ;;
  azure-code) dataset=(azure-llm --config code) default_file=$TRACES/azure/AzureLLMInferenceTrace_code.first2000.csv ;;
  azure-conv) dataset=(azure-llm --config conv) default_file=$TRACES/azure/AzureLLMInferenceTrace_conv.first2000.csv ;;
  *) die "TRACE=$TRACE: expected mooncake, azure-code or azure-conv" ;;
esac
TRACE_FILE=${TRACE_FILE:-$default_file}
[ -f "$TRACE_FILE" ] || die "TRACE_FILE=$TRACE_FILE: no such file"

need_cmd jq
need_bins sb-sample sb-load sb-report sb-scrape sb-sim
make_run_dir
write_run_info TRACE TRACE_FILE START DURATION N SPEED TARGET_RATE API MODEL TOKENIZER SEED MAX_LAG SIM_ARGS URL

window=(--start "$START" --duration "$DURATION")
[ -z "$N" ] || window+=(-n "$N")
if [ -n "$TARGET_RATE" ]; then window+=(--target-rate "$TARGET_RATE"); else window+=(--speed "$SPEED"); fi
common=("${dataset[@]}" --source "$TRACE_FILE" --tokenizer "$TOKENIZER" --api "$API" --seed "$SEED" "${window[@]}")

log "sampling the $TRACE window (${window[*]}) of ${TRACE_FILE#"$ROOT"/}"
run ">$RUN_DIR/requests.ndjson" "$SB_BIN/sb-sample" "${common[@]}" 2>>"$RUN_DIR/logs/sample.log" ||
  die "sb-sample failed: $(tail -n 2 "$RUN_DIR/logs/sample.log")"
requests=$(wc -l <"$RUN_DIR/requests.ndjson")
run ">$RUN_DIR/ideal.txt" "$SB_BIN/sb-sample" inspect "${common[@]}" -n "$requests" --rows 0 2>>"$RUN_DIR/logs/sample.log" ||
  die "sb-sample inspect failed: $(tail -n 2 "$RUN_DIR/logs/sample.log")"
# "... 0.1234 of prompt tokens (...)" when the trace has hash_ids; otherwise no prefix sharing.
ideal=$(grep -oE '[0-9.]+ of prompt tokens' "$RUN_DIR/ideal.txt" | cut -d' ' -f1 || true)
ideal=${ideal:-0}

sim_tokenizer_args
start_server sim --model "$MODEL" "${SIM_TOK[@]}" --seed "$SEED" --kv-tokens 200000000 --max-model-len 200000
log "$MODEL served at $SIM_URL; replaying $requests requests at their at_ms"
scrape_begin "$SIM_URL" "$RUN_DIR/metrics.ndjson"
load_status=0
run "<$RUN_DIR/requests.ndjson" ">$RUN_DIR/results.ndjson" "$SB_BIN/sb-load" --url "$SIM_URL" --model "$MODEL" \
  --rate trace --max-lag "$MAX_LAG" --run "trace-replay-$(date -u +%Y%m%dT%H%M%SZ)" 2>"$RUN_DIR/logs/load.log" || load_status=$?
scrape_end
stop_server

report_status=0
metrics=()
[ ! -s "$RUN_DIR/metrics.ndjson" ] || metrics=("$RUN_DIR/metrics.ndjson")
run ">$RUN_DIR/report.txt" "$SB_BIN/sb-report" --max-lag-ms "$MAX_LAG" "$RUN_DIR/results.ndjson" "${metrics[@]}" || report_status=$?

# The server's hit rate over the run: the counters' growth between the first and last samples.
server_rate=-
if [ ${#metrics[@]} -gt 0 ]; then
  server_rate=$(jq -rs '
    def growth(m): [.[] | select(.metric == m) | .value] | if length > 1 then (last - first) else null end;
    (growth("vllm:prefix_cache_hits_total")) as $h | (growth("vllm:prefix_cache_queries_total")) as $q
    | if $h == null or $q == null or $q == 0 then "-" else ($h / $q | tostring) end' \
    "$RUN_DIR/metrics.ndjson")
fi
trace_rate=$(jq -rs '[.[] | .at_ms] | if length > 1 and (max > min) then ((length - 1) / ((max - min) / 1000) | tostring) else "-" end' \
  "$RUN_DIR/requests.ndjson")
achieved_rate=$(jq -r 'select(.kind == "run") | .achieved_rate_rps // "-"' \
  "$RUN_DIR/results.ndjson" | tail -n 1)
# Four decimals for numbers, the text as is otherwise ("-").
fmt() { if [[ $1 =~ ^[0-9.eE+-]+$ ]]; then printf "%.${2:-4}f" "$1"; else printf '%s' "$1"; fi; }
{
  cat "$RUN_DIR/report.txt"
  echo
  echo "trace replay: $TRACE, ${TRACE_FILE#"$ROOT"/}, window ${window[*]}, $requests requests, api $API"
  printf '  %-34s %10s %10s\n' "" "trace" "run"
  printf '  %-34s %10s %10s\n' "prefix-cache hit rate (tokens)" "$(fmt "$ideal")" "$(fmt "$server_rate")"
  printf '  %-34s %10s %10s\n' "arrival rate (req/s)" "$(fmt "$trace_rate" 2)" "$(fmt "${achieved_rate:--}" 2)"
  echo "  trace hit rate: the ideal of the hash_ids (sb-sample inspect, ideal.txt); run: vllm:prefix_cache_hits / queries"
} >"$RUN_DIR/summary.txt"
cat "$RUN_DIR/summary.txt"
log "requests, results, metrics, report and summary: $RUN_DIR"
if [ "$load_status" -ne 0 ]; then exit "$load_status"; fi
exit "$report_status"
