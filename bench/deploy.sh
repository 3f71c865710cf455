#!/usr/bin/env bash
# sb-deploy timings: start-up, a single render, the 17-point RTX 3080 design, a 1000-point sweep.
# Usage: bench/deploy.sh   (builds sb-deploy in release mode; prints a table; run from anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p sb-deploy
bin=target/release/sb-deploy
runs=${RUNS:-5}

# Best of $runs wall-clock times in ms, and the output size of the last run.
measure() {
  local best=999999 bytes=0
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s%N)
    bytes=$("$@" 2>/dev/null | wc -c || true)
    t1=$(date +%s%N)
    local ms=$(( (t1 - t0) / 1000000 ))
    (( ms < best )) && best=$ms
  done
  echo "$best $bytes"
}

row() {
  local name=$1; shift
  read -r ms bytes < <(measure "$@")
  printf '%-44s %8s %12s\n' "$name" "$ms" "$bytes"
}

sweep=(--sweep max-num-seqs=64,128,192,256,320,384,448,512,576,640
       --sweep block-size=16,32,48,64,80,96,112,128,144,160
       --sweep gpu-memory-utilization=0.80,0.82,0.84,0.86,0.88,0.90,0.92,0.94,0.96,0.98)
printf '%-44s %8s %12s\n' "case (best of $runs)" "ms" "stdout bytes"
row "presets (start-up)"                 "$bin" presets
row "render 1 point (Qwen3-0.6B)"        "$bin" render -m Qwen/Qwen3-0.6B --monitor podmonitor
row "render 405B stress chart + Job"     "$bin" render -m meta-llama/Llama-3.1-405B-Instruct-FP8 --set tp=8 \
    --set allow-deprecated-quantization=true --set max-model-len=16384 --loadgen --shards 8 \
    --requests pvc:workload/r.ndjson --run-id b1
row "render RTX 3080 design (17 points)" "$bin" render -m meta-llama/Llama-3.1-8B-Instruct --gpu rtx-3080-10gb \
    --design testdata/deploy/rtx3080-design.yaml
row "explain RTX 3080 design (17 points)" "$bin" explain -m meta-llama/Llama-3.1-8B-Instruct --gpu rtx-3080-10gb \
    --design testdata/deploy/rtx3080-design.yaml
row "render 1000-point sweep"            "$bin" render -m Qwen/Qwen3-8B "${sweep[@]}"
row "plan 1000-point sweep"              "$bin" plan -m Qwen/Qwen3-8B "${sweep[@]}"
