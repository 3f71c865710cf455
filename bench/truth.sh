#!/usr/bin/env bash
# bench/truth.sh: how close sb-load's timing is to the wire. It captures the loopback traffic of
# a run against sb-sim (dumpcap, from Debian's tshark package), pairs every request with its
# packets by x-request-id, and prints client minus wire, per request:
#   TTFT: the client's first_chunk - sent, minus the time from the packet carrying the request's
#         last byte to the packet that completed the first content event;
#   ITL:  each gap between the client's chunk stamps, minus the gap between those packets.
#
#   bench/truth.sh                 # builds the release binaries, then 20 and 1000 req/s (~1 min)
#   BIN=dir bench/truth.sh         # prebuilt sb-load, sb-sim and load_bench in dir
#   LB=path bench/truth.sh         # load_bench from elsewhere (e.g. an older sb-load in BIN)
#   LOAD_ARGS=--spin bench/truth.sh   # more sb-load arguments
#
# Capturing needs the right to (root, or dumpcap's capabilities: see Debian's wireshark-common).
# Goals: TTFT mean <= 0.05 ms and p99 <= 0.2 ms, ITL p99 <= 0.05 ms. The client runs on one core
# (CLIENT_CPU, default 0), sb-sim and the capture on the others; on a 2-core machine they share.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dumpcap >/dev/null || ! command -v tshark >/dev/null; then
    echo "bench/truth.sh needs dumpcap and tshark (Debian: apt-get install tshark)" >&2
    exit 2
fi
source bench/lib.sh
CORES=$(nproc)
CLIENT_CPU=${CLIENT_CPU:-0}
OTHER_CPUS=${OTHER_CPUS:-$([[ $CORES -gt 1 ]] && echo "1-$((CORES - 1))" || echo 0)}

TMP=$(mktemp -d -p "$([[ -d /dev/shm ]] && echo /dev/shm || echo /tmp)")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

ROWS=()
# One scenario: RATE (Poisson req/s), N requests of T output tokens, sb-sim with ITL 10 ms.
scenario() {
    local rate=$1 n=$2 tokens=$3
    rm -f "$TMP/sim.addr"
    taskset -c "$OTHER_CPUS" "$BIN/sb-sim" --port 0 --decode-ms 10 --decode-ms-per-seq 0 \
        --max-num-seqs 4096 --addr-file "$TMP/sim.addr" 2>"$TMP/sim.err" &
    local sim=$!
    PIDS+=("$sim")
    for _ in $(seq 200); do [[ -s $TMP/sim.addr ]] && break; sleep 0.05; done
    local url port
    url=$(cat "$TMP/sim.addr")
    port=${url##*:}
    taskset -c "$OTHER_CPUS" dumpcap -q -i lo -f "tcp port $port" -w "$TMP/cap.pcapng" 2>"$TMP/cap.err" &
    local cap=$!
    PIDS+=("$cap")
    for _ in $(seq 100); do grep -q "Capturing on" "$TMP/cap.err" 2>/dev/null && break; sleep 0.05; done
    "$LB" requests "$n" --max-tokens "$tokens" |
        taskset -c "$CLIENT_CPU" "$BIN/sb-load" --progress never --url "$url" --model sim \
            --rate "poisson:$rate" --seed 1 ${LOAD_ARGS:-} >"$TMP/res.ndjson" 2>"$TMP/load.err" || true
    sleep 0.3
    kill -INT "$cap"; wait "$cap" 2>/dev/null || true
    kill "$sim"; wait "$sim" 2>/dev/null || true
    PIDS=()
    tshark -r "$TMP/cap.pcapng" -T fields -E separator=/t -Y "tcp.len > 0" \
        -e frame.time_epoch -e tcp.stream -e tcp.srcport -e tcp.payload 2>/dev/null |
        "$LB" wire "$port" "$TMP/res.ndjson" >"$TMP/wire.txt" 2>"$TMP/sides.txt"
    cat "$TMP/sides.txt" >&2
    echo "  poisson:$rate: $(cat "$TMP/wire.txt")" >&2
    local paired ttft itl
    paired=$(sed -E 's/^paired ([0-9]+).*/\1/' "$TMP/wire.txt")
    ttft=$(sed -E 's/.*TTFT client-wire ms: ([^|]*) \|.*/\1/' "$TMP/wire.txt")
    itl=$(sed -E 's/.*ITL client-wire ms: (.*)$/\1/' "$TMP/wire.txt")
    ROWS+=("$(printf '| %-14s | %-7s | %-48s | %-48s |' "poisson:$rate" "$paired" "$ttft" "$itl")")
}

echo "bench/truth.sh: $CORES cores, sb-load on CPU $CLIENT_CPU, sb-sim and dumpcap on $OTHER_CPUS" >&2
scenario 20 600 32
scenario 1000 5000 16

echo
printf '| %-14s | %-7s | %-48s | %-48s |\n' "rate" "paired" "TTFT client - wire (ms)" "ITL client - wire (ms)"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..16})" "$(printf -- '-%.0s' {1..9})" "$(printf -- '-%.0s' {1..50})" "$(printf -- '-%.0s' {1..50})"
printf '%s\n' "${ROWS[@]}"
echo "goals: TTFT mean <= 0.05 ms, p99 <= 0.2 ms; ITL p99 <= 0.05 ms"
