"""Writes vllm_result.json: what vLLM `bench serve --save-result --save-detailed` computes for the
requests of basic.ndjson. A transcription of vLLM's `calculate_metrics` and result dict
(vllm/benchmarks/serve.py): numpy mean/std/median/percentile over per-request values in seconds,
times 1000. Run: python3 make_vllm_result.py > vllm_result.json (needs numpy)."""
import json
import sys

import numpy as np

NS = 1e9
rows = [json.loads(l) for l in open("basic.ndjson") if l.strip()]
results = [r for r in rows if r["kind"] == "result" and not r.get("warmup")]
t0 = min(r["sent_ns"] for r in results)

# RequestFuncOutput fields, as vLLM's request function would have recorded them.
outputs = []
for r in results:
    ok = r["status"] == "ok"
    start = (r["sent_ns"] - t0) / NS
    chunks = [c / NS for c in r.get("chunks_ns", [])]
    outputs.append({
        "success": ok,
        "start_time": start,
        "ttft": chunks[0] if ok else 0.0,
        "itl": [b - a for a, b in zip(chunks, chunks[1:])] if ok else [],
        "latency": (r["end_ns"] - r["sent_ns"]) / NS if ok else 0.0,
        "output_tokens": r["usage"]["completion_tokens"] if ok else 0,
        "prompt_len": r["usage"]["prompt_tokens"] if ok else r.get("prompt_tokens", 0),
        "error": r.get("error", ""),
        "client_queue_time": (r["sent_ns"] - r["scheduled_ns"]) / NS,
    })
# benchmark_start_time .. after gather: first dispatch to the last response done.
duration = (max(r["done_ns"] for r in results) - t0) / NS

completed = 0
total_input = 0
actual_output_lens, ttfts, tpots, itls, e2els = [], [], [], [], []
for o in outputs:
    if o["success"]:
        output_len = o["output_tokens"]
        actual_output_lens.append(output_len)
        total_input += o["prompt_len"]
        if output_len > 1:
            tpots.append((o["latency"] - o["ttft"]) / (output_len - 1))
        itls += o["itl"]
        ttfts.append(o["ttft"])
        e2els.append(o["latency"])
        completed += 1
    else:
        actual_output_lens.append(0)
failed = len(outputs) - completed

ok = [o for o in outputs if o["success"]]
min_start = min(o["start_time"] for o in ok)
max_end = max(o["start_time"] + o["latency"] for o in ok)
tokens_per_second = np.zeros(int(np.ceil(max_end - min_start)) + 1)
for o in ok:
    t = o["start_time"] + o["ttft"]
    times = [t]
    for gap in o["itl"]:
        t += gap
        times.append(t)
    for tt in times:
        b = int(tt - min_start)
        if 0 <= b < len(tokens_per_second):
            tokens_per_second[b] += 1
events = sorted([(o["start_time"], 1) for o in ok] + [(o["start_time"] + o["latency"], -1) for o in ok],
                key=lambda e: (e[0], e[1]))
cur = peak = 0
for _, d in events:
    cur += d
    peak = max(peak, cur)

result = {
    "date": "20231114-221320",
    "endpoint_type": "openai-chat",
    "backend": "openai-chat",
    "label": None,
    "model_id": "Qwen/Qwen3-0.6B",
    "tokenizer_id": "Qwen/Qwen3-0.6B",
    "num_prompts": len(outputs),
    "request_rate": 5.0,
    "burstiness": 1.0,
    "max_concurrency": None,
    "duration": duration,
    "completed": completed,
    "failed": failed,
    "total_input_tokens": total_input,
    "total_output_tokens": int(sum(actual_output_lens)),
    "request_throughput": completed / duration,
    "request_goodput": None,
    "output_throughput": sum(actual_output_lens) / duration,
    "total_token_throughput": (total_input + sum(actual_output_lens)) / duration,
    "input_lens": [o["prompt_len"] for o in outputs],
    "output_lens": actual_output_lens,
    "ttfts": [o["ttft"] for o in outputs],
    "itls": [o["itl"] for o in outputs],
    "latencies": [o["latency"] for o in outputs],
    "start_times": [o["start_time"] for o in outputs],
    "queue_times": [o["client_queue_time"] for o in outputs],
    "generated_texts": ["" for _ in outputs],
    "errors": [o["error"] for o in outputs],
    "max_output_tokens_per_s": float(np.max(tokens_per_second)),
    "max_concurrent_requests": peak,
    "rtfx": 0.0,
}
for name, values in [("ttft", ttfts), ("tpot", tpots), ("itl", itls), ("e2el", e2els)]:
    result[f"mean_{name}_ms"] = float(np.mean(values or 0) * 1000)
    result[f"median_{name}_ms"] = float(np.median(values or 0) * 1000)
    result[f"std_{name}_ms"] = float(np.std(values or 0) * 1000)
    for p in [99]:
        result[f"p{p}_{name}_ms"] = float(np.percentile(values or 0, p) * 1000)
json.dump(result, sys.stdout)
sys.stdout.write("\n")
