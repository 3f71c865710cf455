#!/usr/bin/env bash
# sb-sample throughput on LooGLE-length documents: 1,000 documents of about 20k tokens each,
# synthesized from the real LooGLE test documents (each a different window of their text), one
# question each; every prompt tokenized with a real tokenizer and written as a request record.
# Target: 1,000 documents in under 5 s on 2 cores.
# Usage: bench/sample.sh   (builds sb-sample in release mode; prints a table; run from anywhere)
# Needs python3 (to write the synthetic documents).
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
