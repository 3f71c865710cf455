#!/usr/bin/env bash
# sb-scrape's throughput in its three modes, on real data:
#   endpoint    polls the vLLM 0.11.0 /metrics dump and cAdvisor's golden file (served by a
#               Python http.server) every 1 ms (as fast as it can): scrapes/s and samples/s;
#   log         a large log (the 0.25.1 spec-decode log's start-up lines repeated, no ready line,
#               so every line is read): MB/s;
#   prometheus  a real Prometheus (Debian package) scraping sb-sim every 1 s for 20 s, then one
#               query_range of the vllm preset at the finest step the 11,000-point limit allows:
#               samples/s from the API into NDJSON.
# Numbers are wall-clock on a shared machine: read them as lower bounds.
#
# Usage: bench/scrape.sh
# Needs: python3, prometheus (Debian package `prometheus`), curl.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v prometheus >/dev/null || { echo "bench/scrape.sh: needs prometheus (apt-get install prometheus)" >&2; exit 2; }
cargo build --release -q -p sb-scrape -p sb-sim
scrape=target/release/sb-scrape
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

printf '%-12s %-44s %10s %14s %12s\n' "mode" "case" "seconds" "samples" "rate"

# --- endpoint ---
mkdir -p "$tmp/www"
cp testdata/scrape/metrics/vllm-metrics-0.11.0.txt "$tmp/www/vllm"
cp testdata/scrape/metrics/cadvisor-golden-testdata.txt "$tmp/www/cadvisor"
port=$(free_port)
(cd "$tmp/www" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/vllm" >/dev/null && break; sleep 0.1; done
for path in vllm cadvisor; do
  t0=$(now)
  $scrape --endpoint "http://127.0.0.1:$port/$path" --interval 1ms --duration 5s > "$tmp/out.ndjson" 2> "$tmp/err"
  t1=$(now)
  n=$(wc -l < "$tmp/out.ndjson")
  scrapes=$(grep -o '^sb-scrape: [0-9]* scrapes' "$tmp/err" | grep -o '[0-9]*')
  awk -v n="$n" -v s="$scrapes" -v t0="$t0" -v t1="$t1" -v p="$path" \
    'BEGIN { printf "%-12s %-44s %10.2f %14d %9.0f /s  (%d scrapes, %.1f/s)\n", "endpoint", p " every 1 ms, 5 s", t1-t0, n, n/(t1-t0), s, s/(t1-t0) }'
done

# --- log ---
log="$tmp/big.log"
grep -v 'Application startup complete\|Starting vLLM' testdata/scrape/logs/vllm-startup-0.25.1-specdecode-cached-compile.log > "$tmp/one.log"
for _ in $(seq 100); do cat "$tmp/one.log"; done > "$log"
mb=$(awk -v b="$(wc -c < "$log")" 'BEGIN { printf "%.1f", b/1e6 }')
t0=$(now)
$scrape --log "$log" --year 2026 > "$tmp/out.ndjson" 2>/dev/null || true
t1=$(now)
n=$(wc -l < "$tmp/out.ndjson")
awk -v n="$n" -v mb="$mb" -v t0="$t0" -v t1="$t1" \
  'BEGIN { printf "%-12s %-44s %10.2f %14d %9.1f MB/s\n", "log", mb " MB, 100 start-ups, no ready line", t1-t0, n, mb/(t1-t0) }'

# --- prometheus ---
target/release/sb-sim --port 0 --addr-file "$tmp/sim.addr" >/dev/null 2>&1 &
for _ in $(seq 100); do [ -s "$tmp/sim.addr" ] && break; sleep 0.05; done
sim=$(sed 's#http://##' "$tmp/sim.addr")
pport=$(free_port)
cat > "$tmp/prom.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: sim
    static_configs: [{targets: ["$sim"]}]
EOF
prometheus --config.file="$tmp/prom.yml" --storage.tsdb.path="$tmp/tsdb" --web.listen-address="127.0.0.1:$pport" > "$tmp/prom.log" 2>&1 &
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$pport/-/ready" >/dev/null && break; sleep 0.1; done
sleep 20
t0=$(now)
$scrape --prometheus "http://127.0.0.1:$pport" --start -20s --step 1ms --pad 0s --preset vllm > "$tmp/out.ndjson" 2> "$tmp/err" || true
t1=$(now)
n=$(wc -l < "$tmp/out.ndjson")
step=$(grep -o '[0-9.]*m\?s step' "$tmp/err" | head -1)
awk -v n="$n" -v t0="$t0" -v t1="$t1" -v st="$step" \
  'BEGIN { printf "%-12s %-44s %10.2f %14d %9.0f /s\n", "prometheus", "vllm preset, 20 s at " st, t1-t0, n, n/(t1-t0) }'
