//! vLLM's saved result JSON (`vllm bench serve --save-result`), key for key where we have the
//! number, so notebooks written against vLLM's files read ours.
//!
//! The per-request arrays follow vLLM 0.33's `vllm/benchmarks/serve.py`: `latencies` and
//! `queue_times` always, and with `--save-detailed` also `input_lens`, `output_lens`, `ttfts`,
//! `itls` (a list per request), `start_times`, `generated_texts` and `errors`, in seconds, one
//! entry per request in the order they were sent, failed requests included with zeros and
//! their error (vLLM's `RequestFuncOutput` defaults). `start_times` are epoch seconds (vLLM's
//! are `perf_counter` seconds: only differences mean anything in either). Left out: the
//! ASR/probe/spec-decode/diffusion keys, which have no source in our records.

use crate::report::{pct_name, Report};
use crate::stats::Stats;
use serde_json::{json, Map, Value};

fn other(r: &Report, key: &str) -> Value {
    r.load.other.iter().find(|(k, _)| k == key).map_or(Value::Null, |(_, v)| v.clone())
}

/// `%Y%m%d-%H%M%S` (UTC) of an epoch-ns time, vLLM's `date` field.
pub fn date(epoch_ns: u64) -> String {
    let (y, m, d, hh, mm, ss) = sb_cli::civil::utc((epoch_ns / 1_000_000_000) as i64);
    format!("{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}")
}

pub fn render(r: &Report) -> Map<String, Value> {
    let t = &r.total;
    let mut m = Map::new();
    m.insert("date".into(), json!(t.first_sent_ns.map(date)));
    // vLLM's names for the two OpenAI endpoints (`--backend`/`--endpoint-type`).
    let endpoint = match r.api.as_deref() {
        Some("chat") => json!("openai-chat"),
        Some(_) => json!("openai"),
        None => Value::Null,
    };
    m.insert("endpoint_type".into(), endpoint.clone());
    m.insert("backend".into(), endpoint);
    m.insert("label".into(), other(r, "label"));
    m.insert("model_id".into(), other(r, "model"));
    let tokenizer = r.tokenizer.clone().map_or_else(|| other(r, "tokenizer"), Value::String);
    m.insert("tokenizer_id".into(), tokenizer);
    m.insert("num_prompts".into(), json!(t.completed + t.failed));
    m.insert(
        "request_rate".into(),
        match r.load.target_rate.filter(|x| x.is_finite()) {
            Some(x) => json!(x),
            None => json!("inf"),
        },
    );
    m.insert("burstiness".into(), r.load.burstiness.map_or_else(|| other(r, "burstiness"), |b| json!(b)));
    m.insert("max_concurrency".into(), r.load.max_concurrency.map_or(Value::Null, |c| json!(c)));
    m.insert("duration".into(), json!(t.duration_s));
    m.insert("completed".into(), json!(t.completed));
    m.insert("failed".into(), json!(t.failed));
    m.insert("total_input_tokens".into(), json!(t.total_input_tokens));
    m.insert("total_output_tokens".into(), json!(t.total_output_tokens));
    m.insert("request_throughput".into(), json!(t.request_throughput));
    m.insert("request_goodput".into(), t.request_goodput.map_or(Value::Null, |g| json!(g)));
    m.insert("output_throughput".into(), json!(t.output_throughput));
    m.insert("total_token_throughput".into(), json!(t.total_token_throughput));
    if let Some(rows) = &r.rows {
        arrays(&mut m, rows, r.per_request == crate::collect::PerRequest::Detailed);
    }
    m.insert("max_output_tokens_per_s".into(), json!(t.max_output_tokens_per_s));
    m.insert("max_concurrent_requests".into(), json!(t.max_concurrent_requests));
    m.insert("rtfx".into(), json!(0.0));
    let mut stats = |name: &str, s: &Stats| {
        if ["ttft", "tpot", "itl", "e2el"].contains(&name) && !r.shows(name) {
            return;
        }
        m.insert(format!("mean_{name}_ms"), json!(s.mean));
        m.insert(format!("median_{name}_ms"), json!(s.median));
        m.insert(format!("std_{name}_ms"), json!(s.std));
        for (p, v) in &s.percentiles {
            m.insert(format!("{}_{name}_ms", pct_name(*p)), json!(v));
        }
    };
    for l in &crate::aggregate::LATENCIES {
        if let Some(name) = l.vllm {
            stats(name, (l.of)(t));
        }
    }
    m
}

/// vLLM's per-request arrays, in vLLM's key order (serve.py's `result` dict).
fn arrays(m: &mut Map<String, Value>, rows: &[crate::collect::RequestRow], detailed: bool) {
    // In the order they went out, as vLLM lists them (its start times are taken as each request
    // starts, so they ascend). Not by schedule: two requests due together can reach the wire
    // in either order, and `start_times` is `sent_ns`, the time on the wire.
    let mut order: Vec<&crate::collect::RequestRow> = rows.iter().collect();
    order.sort_by_key(|r| (r.sent_ns, r.scheduled_ns));
    let col = |f: &dyn Fn(&crate::collect::RequestRow) -> Value| Value::Array(order.iter().map(|r| f(r)).collect());
    if detailed {
        m.insert("input_lens".into(), col(&|r| json!(r.input_len)));
        m.insert("output_lens".into(), col(&|r| json!(r.output_len)));
        m.insert("ttfts".into(), col(&|r| json!(r.ttft_s)));
        m.insert("itls".into(), col(&|r| json!(r.itl_s)));
    }
    m.insert("latencies".into(), col(&|r| json!(r.latency_s)));
    if detailed {
        m.insert("start_times".into(), col(&|r| json!(r.sent_ns as f64 / 1e9)));
    }
    m.insert("queue_times".into(), col(&|r| json!(r.queue_s)));
    if detailed {
        m.insert("generated_texts".into(), col(&|r| json!(r.text)));
        m.insert("errors".into(), col(&|r| json!(r.error)));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn date_like_strftime() {
        // 2026-11-25 09:07:57 UTC
        assert_eq!(super::date(1_795_597_677_000_000_000), "20261125-090757");
        assert_eq!(super::date(0), "19700101-000000");
    }
}
