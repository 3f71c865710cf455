"""A notebook-style reader of `vllm bench serve --save-result --save-detailed` files, written the
way analysis notebooks read vLLM's output (plain json + statistics), used by
tools/report/tests/vllm_arrays.rs to check that sb-report --vllm-json --save-detailed is read the
same. Written for this project; not copied from anywhere."""
import json
import statistics
import sys

r = json.load(open(sys.argv[1]))
n = r["completed"] + r["failed"]
for key in ["input_lens", "output_lens", "ttfts", "itls", "latencies", "start_times", "queue_times",
            "generated_texts", "errors"]:
    assert isinstance(r[key], list) and len(r[key]) == n, (key, len(r[key]), n)
ok = [i for i, e in enumerate(r["errors"]) if not e]
assert len(ok) == r["completed"], (len(ok), r["completed"])
assert all(isinstance(x, list) for x in r["itls"])


def close(a, b, what):
    assert abs(a - b) <= 1e-6 * max(1.0, abs(b)), (what, a, b)


close(statistics.mean(r["ttfts"][i] for i in ok) * 1000, r["mean_ttft_ms"], "mean TTFT")
close(statistics.median(r["ttfts"][i] for i in ok) * 1000, r["median_ttft_ms"], "median TTFT")
close(statistics.mean(x * 1000 for i in ok for x in r["itls"][i]), r["mean_itl_ms"], "mean ITL")
close(statistics.median(r["latencies"][i] for i in ok) * 1000, r["median_e2el_ms"], "median E2EL")
assert sum(r["output_lens"]) == r["total_output_tokens"], "output tokens"
assert sum(r["input_lens"][i] for i in ok) == r["total_input_tokens"], "input tokens"
assert all(r["ttfts"][i] == 0 and r["latencies"][i] == 0 and r["output_lens"][i] == 0
           for i in range(n) if r["errors"][i]), "failed requests have zeros"
assert r["start_times"] == sorted(r["start_times"]), "in the order they were sent"
assert all(t for i, t in enumerate(r["generated_texts"]) if i in ok), "texts of successful requests"
print("read", n, "requests")
