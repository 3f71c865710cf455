#!/usr/bin/env bash
# servebench as an llm-d-benchmark harness (`run.sh -l servebench -w <profile>`).
#
# The launcher pod runs this script the way it runs workload/harnesses/<harness>-llm-d-benchmark.sh:
# the workload profile, already rendered by llm-d-benchmark (REPLACE_ENV_* filled, -o overrides
# applied), is at $LLMDBENCH_RUN_WORKSPACE_DIR/profiles/servebench/$LLMDBENCH_RUN_EXPERIMENT_HARNESS_WORKLOAD_NAME;
# results go to $LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR, which llm-d-benchmark copies back from the PVC.
# A servebench profile is an inference-perf, vllm-benchmark or guidellm profile unchanged:
# sb-profile tells which from its keys (SB_PROFILE_HARNESS=inference-perf|vllm-benchmark|guidellm
# says it outright). SB_PROFILE_ARGS adds sb-profile flags (e.g. --allow-unsupported).
# Contract followed: llm-d-benchmark's workload/harnesses/inference-perf-llm-d-benchmark.sh.
set -uo pipefail

: "${LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR:?set by llm-d-benchmark: where results go}"
: "${LLMDBENCH_RUN_WORKSPACE_DIR:?set by llm-d-benchmark: the workspace holding profiles/}"
: "${LLMDBENCH_RUN_EXPERIMENT_HARNESS_WORKLOAD_NAME:?set by llm-d-benchmark: the profile file name}"

echo Using experiment result dir: "$LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR"
mkdir -p "$LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR"

profile=""
for harness_dir in servebench inference-perf vllm-benchmark guidellm; do
  candidate="${LLMDBENCH_RUN_WORKSPACE_DIR}/profiles/${harness_dir}/${LLMDBENCH_RUN_EXPERIMENT_HARNESS_WORKLOAD_NAME}"
  if [[ -f "$candidate" ]]; then profile="$candidate"; break; fi
done
if [[ -z "$profile" ]]; then
  echo "ERROR: no profile ${LLMDBENCH_RUN_EXPERIMENT_HARNESS_WORKLOAD_NAME} under ${LLMDBENCH_RUN_WORKSPACE_DIR}/profiles/servebench/" >&2
  exit 2
fi
cp -f "$profile" "$LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR/"

args=(run "$profile" --results-dir "$LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR")
if [[ -n "${SB_PROFILE_HARNESS:-}" ]]; then args+=(--harness "$SB_PROFILE_HARNESS"); fi
# shellcheck disable=SC2206 # word splitting of extra flags is intended
extra=(${SB_PROFILE_ARGS:-})
args+=("${extra[@]}")
export LLMDBENCH_HARNESS_ARGS="${args[*]}"

# Start metrics collection in background if enabled (llm-d-benchmark's collector in the image).
if [[ "${LLMDBENCH_VLLM_COMMON_METRICS_SCRAPE_ENABLED:-false}" == "true" ]]; then
  echo "Starting metrics collection..."
  /usr/local/bin/collect_metrics.sh start >> "$LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR/metrics_collection.log" 2>&1 &
  METRICS_COLLECTOR_PID=$!
  echo "Metrics collector started with PID: $METRICS_COLLECTOR_PID"
fi

start=$(date +%s.%N)
sb-profile "${args[@]}" \
  > >(tee -a "$LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR/stdout.log") \
  2> >(tee -a "$LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR/stderr.log" >&2)
export LLMDBENCH_RUN_EXPERIMENT_HARNESS_RC=$?
stop=$(date +%s.%N)

if [[ "${LLMDBENCH_VLLM_COMMON_METRICS_SCRAPE_ENABLED:-false}" == "true" ]] && [[ -n "${METRICS_COLLECTOR_PID:-}" ]]; then
  echo "Stopping metrics collection..."
  /usr/local/bin/collect_metrics.sh stop >> "$LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR/metrics_collection.log" 2>&1
  wait "$METRICS_COLLECTOR_PID" 2>/dev/null || true
  echo "Processing collected metrics..."
  /usr/local/bin/collect_metrics.sh process >> "$LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR/metrics_collection.log" 2>&1
fi

LLMDBENCH_HARNESS_START=$(date -d "@${start}" --iso-8601=seconds)
LLMDBENCH_HARNESS_STOP=$(date -d "@${stop}" --iso-8601=seconds)
LLMDBENCH_HARNESS_DELTA="PT$(awk -v a="$start" -v b="$stop" 'BEGIN { printf "%.3f", b - a }')S"
LLMDBENCH_HARNESS_VERSION=$(sb-profile --version 2>/dev/null | awk '{print $2}')
export LLMDBENCH_HARNESS_START LLMDBENCH_HARNESS_STOP LLMDBENCH_HARNESS_DELTA LLMDBENCH_HARNESS_VERSION

# Run metadata for llm-d-benchmark's analysis phase (same keys as its own harnesses write).
_yaml_escape() {
  local text="${1:-}"
  text="${text//\\/\\\\}"
  text="${text//\"/\\\"}"
  text="${text//$'\t'/\\t}"
  text="${text//$'\n'/\\n}"
  printf '%s' "$text"
}
cat > "$LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR/run_metadata.yaml" <<METADATA
harness_start: "${LLMDBENCH_HARNESS_START}"
harness_stop: "${LLMDBENCH_HARNESS_STOP}"
harness_delta: "${LLMDBENCH_HARNESS_DELTA}"
harness_args: "$(_yaml_escape "${LLMDBENCH_HARNESS_ARGS}")"
harness_version: "${LLMDBENCH_HARNESS_VERSION}"
harness_name: "${LLMDBENCH_HARNESS_NAME:-servebench}"
harness_workload: "${LLMDBENCH_RUN_EXPERIMENT_HARNESS_WORKLOAD_NAME:-}"
harness_rc: "${LLMDBENCH_RUN_EXPERIMENT_HARNESS_RC}"
experiment_id: "${LLMDBENCH_RUN_EXPERIMENT_ID:-}"
model: "${LLMDBENCH_DEPLOY_CURRENT_MODEL:-}"
endpoint_url: "${LLMDBENCH_HARNESS_STACK_ENDPOINT_URL:-}"
namespace: "${LLMDBENCH_VLLM_COMMON_NAMESPACE:-}"
description_text: "$(_yaml_escape "${LLMDBENCH_DESCRIPTION_TEXT:-}")"
description_keywords: "$(_yaml_escape "${LLMDBENCH_DESCRIPTION_KEYWORDS:-}")"
METADATA
echo "Run metadata written to $LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR/run_metadata.yaml"

if [[ $LLMDBENCH_RUN_EXPERIMENT_HARNESS_RC -ne 0 ]]; then
  echo "Harness returned with error $LLMDBENCH_RUN_EXPERIMENT_HARNESS_RC"
  exit "$LLMDBENCH_RUN_EXPERIMENT_HARNESS_RC"
fi
echo "Harness completed successfully."
exit 0
