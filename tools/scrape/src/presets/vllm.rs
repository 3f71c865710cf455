//! vLLM's own metrics (`/metrics` of the API server), with the renames across versions.
//!
//! Renamed metrics are queried as `new or old`: PromQL's `or` matches on labels without the
//! name, so where a server exposes both (the deprecation release) the new series wins, and an
//! older server still answers with the old name. Samples keep the name the server exposed.
//! `vllm:time_per_output_token_seconds` is the old name of the per-token ITL histogram, not of
//! the per-request `vllm:request_time_per_output_token_seconds` (added 2025-09, no older name).

use super::{eq, MetricDef, MetricKind, Selector};

const fn m(name: &'static str, kind: MetricKind, aliases: &'static [&'static str], seed: bool) -> MetricDef {
    MetricDef { name, kind, aliases, extra: "", seed }
}

use MetricKind::{Counter, Gauge, Histogram};

pub const VLLM: &[MetricDef] = &[
    // The study's six (it reads `_sum` of the histograms; `_count` and `_bucket` come along so
    // that means and quantiles over the window can be computed).
    m("vllm:time_to_first_token_seconds", Histogram, &[], true),
    m("vllm:request_time_per_output_token_seconds", Histogram, &[], true),
    m("vllm:prefix_cache_hits_total", Counter, &["vllm:gpu_prefix_cache_hits_total"], true),
    m("vllm:e2e_request_latency_seconds", Histogram, &[], true),
    m("vllm:mm_cache_hits_total", Counter, &[], true),
    m("vllm:request_queue_time_seconds", Histogram, &[], true),
    // What a report needs besides.
    m("vllm:prefix_cache_queries_total", Counter, &["vllm:gpu_prefix_cache_queries_total"], false),
    m("vllm:inter_token_latency_seconds", Histogram, &["vllm:time_per_output_token_seconds"], false),
    m("vllm:num_requests_running", Gauge, &[], false),
    m("vllm:num_requests_waiting", Gauge, &[], false),
    m("vllm:kv_cache_usage_perc", Gauge, &["vllm:gpu_cache_usage_perc"], false),
    m("vllm:num_preemptions_total", Counter, &[], false),
    m("vllm:prompt_tokens_total", Counter, &[], false),
    m("vllm:generation_tokens_total", Counter, &[], false),
    m("vllm:request_success_total", Counter, &[], false),
];

pub fn matchers(sel: &Selector) -> Vec<String> {
    sel.model.iter().map(|model| eq("model_name", model)).collect()
}
