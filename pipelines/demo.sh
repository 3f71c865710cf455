#!/usr/bin/env bash
# demo: the whole pipeline on one machine, no GPU. sb-sample writes a few hundred synthetic
# requests (vLLM's `random` dataset, counted with the real Qwen3-0.6B tokenizer), sb-load fires
# them at sb-sim on a free port while sb-scrape polls the sim's /metrics, and sb-report prints
# vLLM's result block with the server metrics of the run window.
#
# Variables: N (300 requests), RATE (poisson:20), INPUT_LEN (uniform:128:512 tokens),
# OUTPUT_LEN (64 tokens), SEED (42), MODEL (Qwen/Qwen3-0.6B, the name the sim serves),
# SIM_ARGS (extra sb-sim flags, e.g. "--decode-ms 20"), MAX_LAG (sb-load --max-lag, ms),
# SCRAPE_INTERVAL (500ms), URL (a running server instead of sb-sim), PROMETHEUS (query it
# instead of polling /metrics), SB_BIN, RUN_DIR.
TARGET=demo
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-500ms}
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

N=${N:-300}
RATE=${RATE:-poisson:20}
INPUT_LEN=${INPUT_LEN:-uniform:128:512}
OUTPUT_LEN=${OUTPUT_LEN:-64}
SEED=${SEED:-42}
MODEL=${MODEL:-Qwen/Qwen3-0.6B}
MAX_LAG=${MAX_LAG:-10}
TOKENIZER=${TOKENIZER:-$DATA/tokenizers/qwen3-0.6b}
MODE=local

need_bins sb-sample sb-load sb-report sb-scrape sb-sim
make_run_dir
write_run_info N RATE INPUT_LEN OUTPUT_LEN SEED MODEL MAX_LAG SCRAPE_INTERVAL TOKENIZER SIM_ARGS URL PROMETHEUS

log "sampling $N requests (random, input $INPUT_LEN, output $OUTPUT_LEN tokens)"
run ">$RUN_DIR/requests.ndjson" "$SB_BIN/sb-sample" random -n "$N" --seed "$SEED" --input-len "$INPUT_LEN" \
  --output-len "$OUTPUT_LEN" --tokenizer "$TOKENIZER" 2>>"$RUN_DIR/logs/sample.log"

# The sim counts prompt tokens with the same tokenizer, so its usage matches the requests'.
sim_tokenizer_args
start_server sim --model "$MODEL" "${SIM_TOK[@]}" --seed "$SEED"
log "$MODEL served at $SIM_URL"
scrape_begin "$SIM_URL" "$RUN_DIR/metrics.ndjson"

log "sending at $RATE (progress below)"
load_status=0
run "<$RUN_DIR/requests.ndjson" ">$RUN_DIR/results.ndjson" "$SB_BIN/sb-load" --url "$SIM_URL" --model "$MODEL" \
  --rate "$RATE" --seed "$SEED" --max-lag "$MAX_LAG" --run "demo-$(date -u +%Y%m%dT%H%M%SZ)" || load_status=$?
scrape_end
stop_server
prometheus_later "$RUN_DIR/results.ndjson" "$RUN_DIR/metrics.ndjson" --preset vllm --model "$MODEL"
prometheus_flush

report_status=0
metrics=()
[ ! -s "$RUN_DIR/metrics.ndjson" ] || metrics=("$RUN_DIR/metrics.ndjson")
run ">$RUN_DIR/report.txt" "$SB_BIN/sb-report" --max-lag-ms "$MAX_LAG" "$RUN_DIR/results.ndjson" "${metrics[@]}" || report_status=$?
cat "$RUN_DIR/report.txt"
log "requests, results, metrics and report: $RUN_DIR"
log "again by hand: $SB_BIN/sb-report $RUN_DIR/results.ndjson ${metrics[*]} --format md"
if [ "$load_status" -ne 0 ]; then exit "$load_status"; fi
exit "$report_status"
