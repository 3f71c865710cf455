//! What more than one of sb-report's test files checks against.

/// vLLM 0.33's per-request arrays in a `--save-result` file, in its key order (they sit between
/// `total_token_throughput` and `max_output_tokens_per_s`).
pub const VLLM_PER_REQUEST: [&str; 9] = [
    "input_lens",
    "output_lens",
    "ttfts",
    "itls",
    "latencies",
    "start_times",
    "queue_times",
    "generated_texts",
    "errors",
];
