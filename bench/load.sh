#!/usr/bin/env bash
# bench/load.sh: measures sb-load against its performance targets and prints a table.
#
#   bench/load.sh                  # builds the release binaries, then runs everything (~3 min)
#   QUICK=1 bench/load.sh          # smaller runs (~1 min)
#   BIN=dir bench/load.sh          # prebuilt sb-load, sb-sim and load_bench in dir
#   ONLY="2 5" bench/load.sh       # only some sections (1 start-up, 2 throughput, 3 flat memory,
#                                  # 4 memory at 1000 streams, 5 accuracy, 6 open loop,
#                                  # 7 the first second at 10k req/s, 8 instructions per request)
#   LB=path bench/load.sh          # load_bench from elsewhere (to measure an older sb-load in BIN)
#
# sb-load is pinned to one core (CLIENT_CPU, default 0); the servers run on SERVER_CPUS
# (default: every other core) with SIM_THREADS HTTP threads. Servers: sb-sim (--instant for
# throughput, a timing model for memory) and load_bench's stamp server, which writes its own
# clock into every chunk so that the client's TTFT and ITL can be compared with the server's.
# On a shared or small machine the client and servers compete for cores: numbers are pessimistic.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh
LOAD=$BIN/sb-load
SIM=$BIN/sb-sim
CORES=$(nproc)
# CPU 0 takes most of the kernel's housekeeping (timers, writeback, IRQs): on a larger host the
# client gets the last core and the servers the ones in between.
CLIENT_CPU=${CLIENT_CPU:-$([[ $CORES -gt 2 ]] && echo $((CORES - 1)) || echo 0)}
SERVER_CPUS=${SERVER_CPUS:-$([[ $CORES -gt 2 ]] && echo "1-$((CORES - 2))" || echo 1)}
SIM_THREADS=${SIM_THREADS:-$([[ $CORES -gt 2 ]] && echo $((CORES - 3)) || echo 1)}
if [[ -n "${QUICK:-}" ]]; then N_TPUT=50000 N_FLAT_SMALL=50000 N_FLAT=300000 N_OPEN=30000 N_ACC=600
else N_TPUT=200000 N_FLAT_SMALL=100000 N_FLAT=1000000 N_OPEN=100000 N_ACC=2000; fi

# Results go to memory when possible, so disk writeback does not steal the client's core.
TMP=$(mktemp -d -p "$([[ -d /dev/shm ]] && echo /dev/shm || echo /tmp)")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

# start_server NAME CMD...: starts a server that writes its URL to $TMP/NAME.addr; sets URL.
start_server() {
    local name=$1; shift
    rm -f "$TMP/$name.addr"
    taskset -c "$SERVER_CPUS" "$@" --addr-file "$TMP/$name.addr" 2>"$TMP/$name.err" &
    PIDS+=($!)
    for _ in $(seq 200); do [[ -s $TMP/$name.addr ]] && break; sleep 0.05; done
    URL=$(cat "$TMP/$name.addr")
}
stop_servers() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; PIDS=(); sleep 0.2; }

# client OUT ARGS...: runs sb-load on one core with stdin from the caller; CPU and peak RSS
# go to OUT.time as "wall user sys maxrss_kb".
client() {
    local out=$1; shift
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f "%e %U %S %M" -o "$out.time" taskset -c "$CLIENT_CPU" "$LOAD" --progress never "$@" >"$out" 2>"$out.err" || true
    else
        local t0=$(date +%s.%N)
        taskset -c "$CLIENT_CPU" "$LOAD" --progress never "$@" >"$out" 2>"$out.err" || true
        echo "$(echo "$(date +%s.%N) - $t0" | bc) 0 0 0" >"$out.time"
    fi
}
# (GNU time puts "Command exited with non-zero status N" first when sb-load exits non-zero.)
field() { tail -1 "$1.time" | awk -v i="$2" '{print $i}'; }
ROWS=()
row() { ROWS+=("$(printf '| %-52s | %-44s | %-16s |' "$1" "$2" "$3")"); echo "  $1: $2" >&2; }

want() { [[ -z "${ONLY:-}" || " $ONLY " == *" $1 "* ]]; }
echo "sb-load bench: $CORES cores, client on CPU $CLIENT_CPU, servers on $SERVER_CPUS" >&2

# 1. Start-up: exec to the first request on the wire (median of 10).
start_server sim "$SIM" --port 0 --instant --threads "$SIM_THREADS"
if want 1; then
"$LB" requests 1 >"$TMP/one.ndjson"
for i in $(seq 10); do
    t0=$(date +%s%N)
    taskset -c "$CLIENT_CPU" "$LOAD" --progress never --url "$URL" --model sim <"$TMP/one.ndjson" >"$TMP/one.out" 2>/dev/null
    "$LB" first-send "$t0" <"$TMP/one.out"
done | sort -n | sed -n 5p >"$TMP/startup"
row "start-up: exec to first request sent (median of 10)" "$(cat "$TMP/startup") ms" "< 50 ms"
fi

# 2. Throughput: streaming, 64 output tokens, 128 concurrent, client on one core.
if want 2; then
"$LB" requests "$N_TPUT" --max-tokens 64 >"$TMP/tput.ndjson"
client "$TMP/tput" --url "$URL" --model sim --concurrency 128 <"$TMP/tput.ndjson"
"$LB" summary <"$TMP/tput" >"$TMP/tput.sum"
rps=$(awk '{for(i=1;i<=NF;i++) if($i=="sent"){print $(i+1); exit}}' "$TMP/tput.sum")
cpu=$(tail -1 "$TMP/tput.time" | awk -v n="$N_TPUT" '{printf "%.4f", ($2+$3)/n*1000}')
row "throughput: stream, 64 tok, 128 concurrent, 1 core" "$(printf '%.0f' "$rps") req/s ($N_TPUT requests)" ">= 20000 req/s"
row "CPU per 1000 requests (user+sys)" "$cpu CPU-s (user $(field "$TMP/tput" 2) s, sys $(field "$TMP/tput" 3) s)" "< 0.05 CPU-s"
fi

# 3. Memory: flat over a long run (requests piped in, never on disk).
if want 3; then
"$LB" requests "$N_FLAT_SMALL" --max-tokens 64 | client "$TMP/flat1" --url "$URL" --model sim --concurrency 128
"$LB" requests "$N_FLAT" --max-tokens 64 | client "$TMP/flat2" --url "$URL" --model sim --concurrency 128
row "peak RSS, $N_FLAT_SMALL vs $N_FLAT requests (c=128)" "$(($(field "$TMP/flat1" 4) / 1024)) MB vs $(($(field "$TMP/flat2" 4) / 1024)) MB" "flat"
fi
stop_servers

# 4. Memory with 1,000 concurrent streams (a real timing model: each stream lasts ~0.7 s).
if want 4; then
start_server sim "$SIM" --port 0 --threads "$SIM_THREADS" --decode-ms 10 --decode-ms-per-seq 0 --max-num-seqs 4096
"$LB" requests 10000 --max-tokens 64 | client "$TMP/c1000" --url "$URL" --model sim --concurrency 1000
row "peak RSS, 1000 concurrent streams" "$(($(field "$TMP/c1000" 4) / 1024)) MB ($(grep -c '"status":"ok"' "$TMP/c1000") ok)" "< 50 MB"
stop_servers
fi

# 5. Accuracy: against a server with known timing (TTFT 50 ms, ITL 5 ms), Poisson 200 req/s.
# Both sides busy-poll (--spin), so idle-core wake-up latency is not counted as overhead; the
# last row is the same run without --spin on either side.
if want 5; then
"$LB" requests "$N_ACC" --max-tokens 64 >"$TMP/acc.ndjson"
for spin in --spin ""; do
    start_server stamp "$LB" stamp-server --ttft-ms 50 --itl-ms 5 $spin
    client "$TMP/acc" --url "$URL" --model m --rate poisson:200 --save-text $spin <"$TMP/acc.ndjson"
    "$LB" overhead <"$TMP/acc" >"$TMP/acc.sum"
    ttft=$(sed -E 's/.*TTFT overhead ms: mean ([-0-9.]+) p50 [-0-9.]+ p99 ([-0-9.]+).*/mean \1, p99 \2 ms/' "$TMP/acc.sum")
    itl=$(sed -E 's/.*ITL overhead ms: mean ([-0-9.]+) p1 ([-0-9.]+) p99 ([-0-9.]+).*/p99 \3 ms (mean \1, p1 \2)/' "$TMP/acc.sum")
    row "TTFT overhead vs server's clock (poisson:200) ${spin:-no spin}" "$ttft" "< 0.1 / < 0.3 ms"
    row "ITL overhead vs server's clock ${spin:-no spin}" "$itl" "p99 < 0.1 ms"
    stop_servers
done
fi

# 6. Open loop at 10,000 req/s (constant and Poisson), 64 tokens.
if want 6; then
start_server sim "$SIM" --port 0 --instant --threads "$SIM_THREADS"
"$LB" requests "$N_OPEN" --max-tokens 64 >"$TMP/open.ndjson"
for rate in 400 10000 poisson:10000; do
    # 400 req/s for 10 s: the waits between sends are long enough to show what waiting costs.
    n=$([[ $rate == 400 ]] && echo 4000 || echo "$N_OPEN")
    client "$TMP/open" --url "$URL" --model sim --rate "$rate" --max-lag 1 -n "$n" <"$TMP/open.ndjson"
    "$LB" summary <"$TMP/open" >"$TMP/open.sum"
    echo "    lateness over time: $("$LB" timeline <"$TMP/open")" >&2
    ratio=$(sed -E 's/.*ratio ([0-9.]+).*/\1/' "$TMP/open.sum")
    got=$(sed -E 's/.*sent ([0-9.]+) req\/s.*/\1/' "$TMP/open.sum")
    p99=$(sed -E 's/.*p99 ([0-9.]+) max.*/\1/' "$TMP/open.sum")
    busy=$(tail -1 "$TMP/open.time" | awk '{printf "%.0f", ($2+$3)/$1*100}')
    row "open loop --rate $rate ($n requests)" "sent $(printf '%.0f' "$got") req/s, ratio $ratio, p99 lateness $p99 ms, CPU $busy%" ">= 99%, < 1 ms"
done
stop_servers
fi

# 7. The first second at high rate: 10,000 req/s open loop, 2 output tokens, a server with TTFT
# 1 ms, 50,000 requests; with the connections opened ahead (the default) and on demand.
if want 7; then
start_server stamp "$LB" stamp-server --ttft-ms 1 --itl-ms 0
"$LB" requests 50000 --max-tokens 2 >"$TMP/edge.ndjson"
modes=("default")
"$LOAD" --help | grep -q -- --max-connections && modes+=("--connections 0")
for mode in "${modes[@]}"; do
    extra=(); [[ $mode == default ]] || read -ra extra <<<"$mode"
    client "$TMP/edge" --url "$URL" --model m --rate 10000 --max-lag 1 "${extra[@]}" <"$TMP/edge.ndjson"
    "$LB" summary <"$TMP/edge" >"$TMP/edge.sum"
    timeline=$("$LB" timeline <"$TMP/edge")
    echo "    lateness over time: $timeline" >&2
    first=$(sed -E 's/^0\.0s:p99 ([0-9.]+) max ([0-9.]+).*/p99 \1 max \2/' <<<"$timeline")
    failed=$(sed -E 's/.*failed ([0-9]+) .*/\1/' "$TMP/edge.sum")
    got=$(sed -E 's/.*sent ([0-9.]+) req\/s.*/\1/' "$TMP/edge.sum")
    p99=$(sed -E 's/.*p99 ([0-9.]+) max.*/\1/' "$TMP/edge.sum")
    row "10k req/s, TTFT 1 ms, 50,000 requests ($mode)" "$failed failed, sent $(printf '%.0f' "$got") req/s, p99 $p99 ms, first 0.5 s $first ms" "0, < 1 ms"
done
stop_servers
fi

# 8. Instructions per request (callgrind counts instructions, stable on a noisy machine): the
# difference between 3,000 and 1,000 streamed requests of 64 tokens, 16 concurrent, over 2,000.
if want 8 && command -v valgrind >/dev/null; then
start_server sim "$SIM" --port 0 --instant --threads "$SIM_THREADS"
"$LB" requests 3000 --max-tokens 64 >"$TMP/ir3.ndjson"
head -1000 "$TMP/ir3.ndjson" >"$TMP/ir1.ndjson"
for n in 1 3; do
    valgrind --tool=callgrind --callgrind-out-file="$TMP/ir$n.cg" "$LOAD" --progress never --url "$URL" --model sim \
        -c 16 <"$TMP/ir$n.ndjson" >"$TMP/ir$n.out" 2>"$TMP/ir$n.err" || true
done
ir=$(( ($("$LB" instructions "$TMP/ir3.cg") - $("$LB" instructions "$TMP/ir1.cg")) / 2000 ))
row "instructions per request (stream, 64 tokens, callgrind)" "$ir ($(grep -c '"status":"ok"' "$TMP/ir3.out") of 3000 ok)" "half of 408,000"
stop_servers
fi

echo
printf '| %-52s | %-44s | %-16s |\n' "measure" "result" "target"
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..18})"
printf '%s\n' "${ROWS[@]}"
