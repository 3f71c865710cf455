#!/usr/bin/env bash
# The sim's own ceiling: streamed tokens per second that sb-sim serves on one core.
#
# sb-sim is pinned to core 0 with one HTTP thread (its engine thread shares that core); wrk, on
# core 1, keeps C streaming requests of T output tokens in flight and reads every byte. Tokens/s
# are counted by the sim itself (vllm:generation_tokens_total before and after), so nothing the
# client does can inflate them.
#
# Usage: bench/sim.sh [seconds per case, default 10]
# Needs: wrk (Debian package `wrk`), taskset (util-linux), curl.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
command -v wrk >/dev/null || { echo "bench/sim.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }
cargo build --release -q -p sb-sim
sim=target/release/sb-sim
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

gen_tokens() { curl -s "$1/metrics" | awk '/^vllm:generation_tokens_total/ {print $2}'; }

cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"sim","prompt":"benchmark the simulator with a short prompt","max_tokens":' .. os.getenv("SB_TOKENS") .. ',"stream":true,"stream_options":{"include_usage":true}}'
LUA

printf '%-44s %6s %6s %12s %14s\n' "case" "conc" "tokens" "requests/s" "tokens/s"
run_case() { # name conc tokens sim-args...
  local name=$1 conc=$2 tokens=$3; shift 3
  rm -f "$tmp/addr"
  taskset -c 0 "$sim" --port 0 --addr-file "$tmp/addr" --threads 1 "$@" 2>/dev/null &
  local pid=$!
  for _ in $(seq 100); do [ -s "$tmp/addr" ] && break; sleep 0.05; done
  local url; url=$(cat "$tmp/addr")
  local before after
  before=$(gen_tokens "$url")
  local t0; t0=$(date +%s.%N)
  SB_TOKENS=$tokens taskset -c 1 wrk -t1 -c"$conc" -d"${secs}s" -s "$tmp/post.lua" "$url/v1/completions" > "$tmp/wrk.out"
  local t1; t1=$(date +%s.%N)
  after=$(gen_tokens "$url")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk -v n="$name" -v c="$conc" -v t="$tokens" -v b="$before" -v a="$after" -v t0="$t0" -v t1="$t1" \
    'BEGIN { el = t1 - t0; printf "%-44s %6d %6d %12.0f %14.0f\n", n, c, t, (a - b) / t / el, (a - b) / el }'
}
run_case "timing model, 0 ms steps (engine path)" 256 64 --decode-ms 0 --decode-ms-per-seq 0 --prefill-us-per-token 0
run_case "timing model, 10 ms steps, 256 seqs" 256 64 --decode-ms 10 --decode-ms-per-seq 0 --prefill-us-per-token 0
run_case "--instant (no timing model)" 128 64 --instant
