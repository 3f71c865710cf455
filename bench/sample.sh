#!/usr/bin/env bash
# sb-sample throughput, three tables:
# - LooGLE-length documents: 1,000 documents of about 20k tokens each, synthesized from the real
#   LooGLE test documents (each a different window of their text), one question each; every
#   prompt tokenized with a real tokenizer and written as a request record.
#   Target: 1,000 documents in under 5 s on 2 cores.
# - vLLM's random dataset: 20,000 prompts of 2,048 tokens on one core. Target: under 10 s.
# - The full Mooncake conversation trace: 12,031 requests of about 12k input tokens, built from
#   the 500-row slice's rows (lengths scaled to the full trace's mean, hash_ids renumbered per
#   copy so that each copy shares prefixes as the slice does), synthesized on one core.
#   Target: under 60 s.
# Usage: bench/sample.sh   (builds sb-sample in release mode; prints the tables; run from anywhere)
# Needs python3 (to write the synthetic documents and the full-size trace); taskset for one core.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p sb-sample
bin=target/release/sb-sample
runs=${RUNS:-3}
docs=${DOCS:-1000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# About 5 characters per GPT-2 token in these English documents: 100,000 characters ~ 20k tokens.
python3 - "$work/loogle" "$docs" <<'PY'
import json, os, sys
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
src = [json.loads(l) for l in open("testdata/sample/loogle/shortdep_qa.jsonl")]
corpus = "\n".join(d["input"] for d in src)
width = 100_000
with open(os.path.join(out, "shortdep_qa.jsonl"), "w") as f:
    for i in range(n):
        start = (i * 7919) % (len(corpus) - width)
        doc = f"Document {i}.\n" + corpus[start:start + width]
        qa = repr([{"S": "", "Q": f"What is document {i} about?", "A": "none"}])
        f.write(json.dumps({"input": doc, "title": f"doc-{i}", "qa_pairs": qa, "output": "none"}) + "\n")
PY

# Best wall-clock seconds of $runs, and the requests and prompt tokens of the last run.
measure() {
  local best=999999
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" > "$work/out.ndjson" 2>/dev/null
    t1=$(date +%s%N)
    local ms=$(( (t1 - t0) / 1000000 ))
    (( ms < best )) && best=$ms
  done
  local reqs tokens
  reqs=$(wc -l < "$work/out.ndjson")
  tokens=$(grep -o '"prompt_tokens":[0-9]*' "$work/out.ndjson" | cut -d: -f2 | awk '{ s += $1 } END { print s }')
  echo "$best $reqs $tokens"
}

row() {
  local name=$1; shift
  read -r ms reqs tokens < <(measure "$@")
  local s mtok
  s=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
  mtok=$(awk -v t="$tokens" -v ms="$ms" 'BEGIN { printf "%.2f", t / ms / 1000 }')
  printf '%-40s %9s %11s %8s %8s\n' "$name" "$reqs" "$tokens" "$s" "$mtok"
}

src=(loogle --source "$work/loogle" -n "$docs" --seed 1)
echo "sb-sample, $docs LooGLE-length documents, $(nproc) cores, best of $runs"
printf '%-40s %9s %11s %8s %8s\n' "case" "requests" "prompt tok" "s" "Mtok/s"
row "gpt2, completions"            "$bin" "${src[@]}" --tokenizer testdata/sample/tokenizers/gpt2
row "qwen3-0.6b, completions"      "$bin" "${src[@]}" --tokenizer testdata/sample/tokenizers/qwen3-0.6b
row "qwen3-0.6b, chat (template)"  "$bin" "${src[@]}" --tokenizer testdata/sample/tokenizers/qwen3-0.6b --api chat
row "gpt2, --truncate 8000 (middle)" "$bin" "${src[@]}" --tokenizer testdata/sample/tokenizers/gpt2 --truncate 8000

# One core: taskset when there is one (the targets are per core).
one_core=()
if command -v taskset >/dev/null; then one_core=(taskset -c 0); fi

echo
echo "sb-sample random, ${RANDOM_N:-20000} prompts of 2,048 tokens, ${one_core[*]:+one core (taskset -c 0), }best of $runs"
printf '%-40s %9s %11s %8s %8s\n' "case" "requests" "prompt tok" "s" "Mtok/s"
rnd=(random -n "${RANDOM_N:-20000}" --input-len 2048 --output-len 128 --seed 1)
row "gpt2, completions"            "${one_core[@]}" "$bin" "${rnd[@]}" --tokenizer testdata/sample/tokenizers/gpt2
row "qwen3-0.6b, completions"      "${one_core[@]}" "$bin" "${rnd[@]}" --tokenizer testdata/sample/tokenizers/qwen3-0.6b
row "qwen3-0.6b, chat (template)"  "${one_core[@]}" "$bin" "${rnd[@]}" --tokenizer testdata/sample/tokenizers/qwen3-0.6b --api chat

# The full conversation trace from the slice: copies of its 500 rows, one after the other in
# time; ids other than the shared first block (0, a system prompt) renumbered per copy.
python3 - "$work/mooncake.jsonl" "${TRACE_N:-12031}" <<'PY'
import json, math, sys
out, n = sys.argv[1], int(sys.argv[2])
rows = [json.loads(l) for l in open("testdata/sample/traces/mooncake/conversation_trace.first500.jsonl")]
scale = 12035 / (sum(r["input_length"] for r in rows) / len(rows))  # the full file's mean input, 12,035
span = rows[-1]["timestamp"] + 1000
with open(out, "w") as f:
    for i in range(n):
        c, r = divmod(i, len(rows))
        r = rows[r]
        length = max(1, round(r["input_length"] * scale))
        ids = [h if h == 0 else h + 1_000_000 * c for h in r["hash_ids"]][: math.ceil(length / 512)]
        f.write(json.dumps({"timestamp": r["timestamp"] + c * span, "input_length": length,
                            "output_length": r["output_length"], "hash_ids": ids}) + "\n")
PY
echo
echo "sb-sample mooncake, the full conversation trace (${TRACE_N:-12031} requests from the slice), ${one_core[*]:+one core (taskset -c 0), }best of $runs"
printf '%-40s %9s %11s %8s %8s\n' "case" "requests" "prompt tok" "s" "Mtok/s"
mc=(mooncake --source "$work/mooncake.jsonl")
row "qwen3-0.6b, completions"      "${one_core[@]}" "$bin" "${mc[@]}" --tokenizer testdata/sample/tokenizers/qwen3-0.6b
row "qwen3-0.6b, chat (template)"  "${one_core[@]}" "$bin" "${mc[@]}" --tokenizer testdata/sample/tokenizers/qwen3-0.6b --api chat
row "gpt2, completions"            "${one_core[@]}" "$bin" "${mc[@]}" --tokenizer testdata/sample/tokenizers/gpt2
