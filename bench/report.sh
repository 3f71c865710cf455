#!/usr/bin/env bash
# sb-report aggregation speed and memory: synthetic result streams shaped like sb-load's
# (64 chunk times per request, 1% failures), read from a file on one core (taskset -c 0).
# Every run spans the same 1000 s, so the max RSS column shows memory against record count.
# Usage: bench/report.sh [COUNTS...]   (default: 10000 100000 1000000; the 1M file is ~1.1 GB)
#        SB_REPORT=path bench/report.sh  measures another sb-report build (e.g. an older one)
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(10000 100000 1000000)
chunks=64

cargo build --release -q -p sb-report --bin sb-report --example gen_results
bin=${SB_REPORT:-target/release/sb-report}
gen=target/release/examples/gen_results
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
[ -x /usr/bin/time ] || { echo "bench/report.sh needs /usr/bin/time (Debian package: time)" >&2; exit 2; }

printf '%-10s %-7s %-9s %-8s %-8s %-11s %-12s\n' records chunks file_MB wall_s user_s max_RSS_MB records/s
for n in "${counts[@]}"; do
  "$gen" "$n" "$chunks" 1000 > "$work/results.ndjson"
  mb=$(( $(stat -c %s "$work/results.ndjson") / 1000000 ))
  # Best of three: the machine may be shared.
  best=""
  for _ in 1 2 3; do
    /usr/bin/time -f '%e %U %M' -o "$work/time" "${pin[@]}" "$bin" "$work/results.ndjson" --format json > "$work/summary.json"
    read -r wall user rss < "$work/time"
    if [ -z "$best" ] || awk "BEGIN{exit !($wall < $(cut -d' ' -f1 <<<"$best"))}"; then best="$wall $user $rss"; fi
  done
  read -r wall user rss <<<"$best"
  grep -q "\"completed\":$(( n - n / 100 ))," "$work/summary.json" || { echo "unexpected summary for $n records" >&2; exit 1; }
  printf '%-10s %-7s %-9s %-8s %-8s %-11s %-12s\n' "$n" "$chunks" "$mb" "$wall" "$user" "$(( rss / 1024 ))" \
    "$(awk "BEGIN{printf \"%.0f\", $n / $wall}")"
done
