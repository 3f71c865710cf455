#!/usr/bin/env bash
# sb-report --format html in a real headless browser (Debian's chromium): a small concurrency
# sweep against sb-sim (with /metrics polled by sb-scrape), reported as one HTML page, loaded
# with console logging on. Prints a table: the page's size, its charts, what the browser logged
# from the page (console messages, refused fetches), and where the screenshot is.
# A control page that tries to fetch an image must show up as a console error, so a silent
# browser means the check works, not that it is blind.
#
# Usage: bench/html-report.sh [OUT_DIR]   (default: a temp dir, kept; SB_BIN=target/debug to skip the build)
# Needs: chromium (apt-get install chromium), a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d -t sb-html-XXXXXX)}
mkdir -p "$out"
if [ -z "${SB_BIN:-}" ]; then
  cargo build -q -p sb-report -p sb-load -p sb-sim -p sb-scrape --bins
  SB_BIN=target/debug
fi
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "bench/html-report.sh needs chromium (Debian: apt-get install chromium)" >&2; exit 2; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# A small server that saturates: 8 sequences at a time, 4 ms per decode step.
"$SB_BIN/sb-sim" --host 127.0.0.1 --port 0 --addr-file "$out/sim.addr" --decode-ms 4 --max-num-seqs 8 \
  --model Qwen/Qwen3-0.6B 2>"$out/sim.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$out/sim.addr" ] && break; sleep 0.1; done
url=$(cat "$out/sim.addr")
"$SB_BIN/sb-scrape" --endpoint "$url/metrics" --interval 500ms >"$out/metrics.ndjson" 2>"$out/scrape.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$out/metrics.ndjson" ] && break; sleep 0.1; done

for i in $(seq 1 120); do
  printf '{"kind":"request","v":1,"id":"r%d","api":"completions","prompt":"%s","max_tokens":%d}\n' \
    "$i" "Tell me about the number $i and why it matters" $(( 16 + (i * 7) % 48 ))
done >"$out/requests.ndjson"
: >"$out/results.ndjson"
for conc in 1 4 16 32; do
  "$SB_BIN/sb-load" --url "$url" --model Qwen/Qwen3-0.6B --concurrency "$conc" -n 80 --tag conc="$conc" \
    --run "conc-$conc" --progress never "$out/requests.ndjson" >>"$out/results.ndjson" 2>>"$out/load.log" || true
done
kill "${pids[1]}" 2>/dev/null || true
wait "${pids[1]}" 2>/dev/null || true

"$SB_BIN/sb-report" "$out/results.ndjson" "$out/metrics.ndjson" --group-by tags.conc --percentiles 50,90,99 \
  --format html >"$out/report.html" 2>"$out/report.log" || true
"$SB_BIN/sb-report" "$out/results.ndjson" --format html >"$out/single.html" 2>>"$out/report.log" || true
printf '<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src %s"><title>control</title></head><body><img src="https://example.invalid/x.png"></body></html>\n' \
  "'none'" >"$out/control.html"

# Console messages and refused loads of a page, as chromium logs them with --enable-logging.
console() {
  local page=$1 log=$2
  timeout 60 "$browser" --headless --no-sandbox --disable-gpu --no-first-run --enable-logging=stderr --v=0 \
    --dump-dom "file://$(realpath "$page")" >"$log.dom" 2>"$log" || true
  grep -E 'CONSOLE|Content Security Policy|Refused|Failed to load|Uncaught' "$log" | grep -c . || true
}
shot() {
  timeout 60 "$browser" --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
    --window-size=1280,"$2" --screenshot="$3" "file://$(realpath "$1")" >/dev/null 2>&1 || true
}

printf '%-14s %-9s %-7s %-15s %-10s %s\n' page size_kB charts console_errors dom_ok screenshot
for page in report single control; do
  f="$out/$page.html"
  errors=$(console "$f" "$out/$page.console.log")
  charts=$(grep -o '<figure id=' "$f" | grep -c . || true)
  dom_ok=no
  grep -q '</html>' "$out/$page.console.log.dom" && dom_ok=yes
  png=-
  if [ "$page" != control ]; then
    png="$out/$page.png"
    shot "$f" 9000 "$png"
  fi
  printf '%-14s %-9s %-7s %-15s %-10s %s\n' "$page" "$(( $(stat -c %s "$f") / 1024 ))" "$charts" "$errors" "$dom_ok" "$png"
done
echo "(control: a page that fetches an image; it must show console errors > 0)"
echo "files in $out"
