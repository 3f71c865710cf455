//! The per-request formulas of the report (docs/metrics.md), over the borrowed view of a result
//! record (`sb_records::ResultView`: big runs are millions of lines, so strings that need no
//! unescaping are not copied).

use crate::slo::{RequestLatency, Slo};
use sb_records::{ResultView, Status};
use std::borrow::Cow;

/// The value of a `--group-by` field of a result, `-` when the record has none.
pub fn group_field(r: &ResultView<'_>, name: &str) -> String {
    fn s(v: &Option<Cow<'_, str>>) -> String {
        v.as_deref().unwrap_or("-").to_string()
    }
    fn n(v: Option<u32>) -> String {
        v.map_or("-".to_string(), |x| x.to_string())
    }
    if let Some(key) = name.strip_prefix("tags.") {
        return r.tags.get(key).map_or("-".to_string(), |v| v.to_string());
    }
    match name {
        "run" => s(&r.run),
        "shard" => s(&r.shard),
        "stage" => n(r.stage),
        "turn" => n(r.turn),
        "dataset" => s(&r.dataset),
        "task" => s(&r.task),
        "prefix" => s(&r.prefix),
        "session" => s(&r.session),
        "api" => r.api.as_deref().unwrap_or("completions").to_string(),
        "finish_reason" => s(&r.finish_reason),
        "tokenizer" => s(&r.tokenizer),
        "status" => r.status.as_str().to_string(),
        _ => "-".to_string(),
    }
}

/// Fields `--group-by` accepts (besides `tags.KEY`).
pub const GROUP_FIELDS: &[&str] = &[
    "run",
    "shard",
    "stage",
    "turn",
    "dataset",
    "task",
    "prefix",
    "session",
    "api",
    "finish_reason",
    "tokenizer",
    "status",
];

/// One request's latencies by the definitions of docs/metrics.md (all ns).
#[derive(Clone, Copy, Debug, Default)]
pub struct Observation {
    pub ok: bool,
    /// E2EL: last chunk (`end_ns`) - `sent_ns`.
    pub latency: RequestLatency,
    /// `first_token_ns - sent_ns`: to the first chunk with text (AIPerf's and GuideLLM's TTFT).
    pub ttft_text_ns: Option<u64>,
    /// `sent_ns - scheduled_ns`: time the request waited inside the client.
    pub queue_ns: u64,
    /// `end_ns - scheduled_ns`: latency from the intended send time.
    pub e2el_sched_ns: u64,
    pub end_ns: u64,
    pub input_len: Option<u32>,
    pub output_len: Option<u32>,
    pub good: bool,
}

impl Observation {
    pub fn of(r: &ResultView<'_>, slo: &Slo) -> Observation {
        let ok = r.status == Status::Ok;
        let sent = r.sent_ns;
        // The last chunk's time; without chunks (a non-streamed answer) the response's end.
        let end_ns = r.end_ns.or_else(|| r.chunks_ns.last().map(|c| sent + c)).unwrap_or(r.done_ns);
        let ttft_ns = r.first_chunk_ns.map(|f| f.saturating_sub(sent)).or_else(|| r.chunks_ns.first().copied());
        let e2el_ns = end_ns.saturating_sub(sent);
        let output_len = r.output_len();
        let tpot_ns = match (ttft_ns, output_len) {
            // vLLM: (latency - ttft) / (output_len - 1), only when output_len > 1.
            (Some(t), Some(n)) if n > 1 => Some(((e2el_ns.saturating_sub(t)) as f64 / (n - 1) as f64).round() as u64),
            _ => None,
        };
        let ntpot_ns = match output_len {
            Some(n) if n > 0 => Some((e2el_ns as f64 / n as f64).round() as u64),
            _ => None,
        };
        let itl_mean_ns = if r.chunks_ns.len() > 1 {
            let span = r.chunks_ns[r.chunks_ns.len() - 1].saturating_sub(r.chunks_ns[0]);
            Some((span as f64 / (r.chunks_ns.len() - 1) as f64).round() as u64)
        } else {
            None
        };
        let latency = RequestLatency { ttft_ns, tpot_ns, itl_mean_ns, e2el_ns, ntpot_ns };
        Observation {
            ok,
            latency,
            ttft_text_ns: r.first_token_ns.map(|f| f.saturating_sub(sent)),
            queue_ns: sent.saturating_sub(r.scheduled_ns),
            e2el_sched_ns: end_ns.saturating_sub(r.scheduled_ns),
            end_ns,
            input_len: r.input_len(),
            output_len,
            good: ok && !slo.is_empty() && slo.good(&latency),
        }
    }
}

/// The failure class of a result: its status, with the HTTP status when there is one.
pub fn failure_class(r: &ResultView<'_>) -> String {
    match r.http_status {
        Some(code) if r.status == Status::HttpError => format!("http_error {code}"),
        _ => r.status.as_str().to_string(),
    }
}
