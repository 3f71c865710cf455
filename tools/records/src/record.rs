//! Record types of the stream contract. See `docs/records.md`.
//!
//! Each type implements [`Kind`]: its `kind` string and the schema version this build writes and
//! understands. The writer puts `"kind"` and `"v"` first on every line; readers ignore fields they
//! do not know (a newer minor addition), and refuse a newer `v` of a kind (a breaking change).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;
use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::summary::Summary;

/// A record type of the stream: its `kind` tag and schema version.
pub trait Kind: Serialize + DeserializeOwned {
    const KIND: &'static str;
    const VERSION: u32;

    /// Called by the reader after deserializing: types with a flattened map of extra fields drop
    /// the line's `kind` and `v` from it (they are the envelope, not data).
    fn after_read(&mut self) {}
}

/// Which OpenAI-compatible endpoint a request goes to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `POST /v1/completions` with `prompt`.
    #[default]
    Completions,
    /// `POST /v1/chat/completions` with `messages`.
    Chat,
}

impl Api {
    pub fn path(self) -> &'static str {
        match self {
            Api::Completions => "/v1/completions",
            Api::Chat => "/v1/chat/completions",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Completions => "completions",
            Api::Chat => "chat",
        }
    }
}

/// One chat message. `content` is plain text (the datasets of this project have no images).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// One request to send: written by `sb-sample`, read by `sb-load`.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Unique within a stream; carried to the result record.
    pub id: String,
    #[serde(default)]
    pub api: Api,
    /// The prompt, for `api: completions`.
    pub prompt: Option<String>,
    /// The messages of this turn, for `api: chat`. For a multi-turn `session`, only the new
    /// messages of this turn: the load generator prepends the session's history (earlier turns'
    /// messages and the replies the server actually gave).
    pub messages: Option<Vec<Message>>,
    /// Output length to ask for (`max_tokens`, or `max_completion_tokens` on chat).
    pub max_tokens: Option<u32>,
    /// Prompt length counted by `tokenizer` (for a chat request: of the rendered messages).
    pub prompt_tokens: Option<u32>,
    pub tokenizer: Option<String>,
    pub dataset: Option<String>,
    pub task: Option<String>,
    /// Where the row came from in the dataset (file and row, or the dataset's own id).
    pub source: Option<String>,
    /// Multi-turn conversation this request belongs to; turns of a session are sent in order.
    pub session: Option<String>,
    /// 0-based turn number within `session`.
    pub turn: Option<u32>,
    /// Shared-prefix group: requests with the same `prefix` start with the same text.
    pub prefix: Option<String>,
    /// Sampling parameters passed through verbatim into the request body (`n`, `best_of`,
    /// `use_beam_search`, `temperature`, `ignore_eos`, ...).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub params: Map<String, Value>,
    /// Reference answer, when the dataset has one.
    pub expected: Option<String>,
    /// Arrival offset for trace replay, milliseconds from the start of the run.
    pub at_ms: Option<f64>,
    /// Labels carried into the request's result (`tags` there), beside `sb-load --tag`'s.
    /// Numbers and booleans are read as their text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "de_tags")]
    pub tags: BTreeMap<String, String>,
}

/// Tags as text: a hand-written `{"conc": 8}` means the tag `conc=8`.
fn de_tags<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<Map<String, Value>> = Option::deserialize(d)?;
    let mut tags = BTreeMap::new();
    for (k, v) in raw.unwrap_or_default() {
        let text = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            other => return Err(serde::de::Error::custom(format!("tag {k:?} is not text or a number: {other}"))),
        };
        tags.insert(k, text);
    }
    Ok(tags)
}

impl Kind for Request {
    const KIND: &'static str = "request";
    const VERSION: u32 = 1;
}

/// How a request ended. Anything but `ok` carries an `error` text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// HTTP 200 and a complete response (`[DONE]` seen when streaming).
    #[default]
    Ok,
    /// The server answered with a non-2xx status (`http_status` says which).
    HttpError,
    /// No connection could be made (refused, DNS, TLS handshake).
    ConnectError,
    /// The request timeout expired before the response was complete.
    Timeout,
    /// The response stream ended before it was complete (no `[DONE]`, connection reset).
    StreamCut,
    /// A 200 response whose body could not be understood.
    InvalidResponse,
    /// Stopped by the client (Ctrl-C grace period over, or a run bound reached).
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::HttpError => "http_error",
            Status::ConnectError => "connect_error",
            Status::Timeout => "timeout",
            Status::StreamCut => "stream_cut",
            Status::InvalidResponse => "invalid_response",
            Status::Cancelled => "cancelled",
        }
    }
}

/// The server's `usage` object, as reported (OpenAI `usage`, vLLM's final usage chunk).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    /// `prompt_tokens_details.cached_tokens`, when the server reports it.
    pub cached_tokens: Option<u32>,
    /// `completion_tokens_details.reasoning_tokens`, when the server reports it.
    pub reasoning_tokens: Option<u32>,
}

/// One finished (or failed) request: written by `sb-load` as it finishes, read by `sb-report`.
///
/// All `*_ns` are absolute Unix-epoch nanoseconds from the writer's one monotonic clock
/// ([`crate::Clock`]), except `chunks_ns`, which are offsets from `sent_ns` (they are many, and
/// short numbers keep the stream small and quick to parse).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    pub id: String,
    #[serde(default)]
    pub api: Api,
    pub status: Status,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    /// When the arrival process meant the request to be sent. Latency measured from here is free
    /// of coordinated omission: a generator that falls behind shows it in this latency.
    pub scheduled_ns: u64,
    /// When the request's last byte was written to its connection's socket (what the wire sees
    /// as its send), after every client-side wait: for a concurrency slot, for a free connection
    /// under the cap, for a new connection's set-up. A request that never went out has the
    /// moment it was handed to the connection pool.
    pub sent_ns: u64,
    /// When the new connection this request waited for finished connecting (TCP, and TLS for
    /// https); absent when it went out on an open one. The set-up is in its send lateness, not
    /// in its TTFT.
    pub connected_ns: Option<u64>,
    /// Response headers received.
    pub first_byte_ns: Option<u64>,
    /// First streamed message with a non-empty `choices` array, even if its text is empty (a chat
    /// role-only chunk counts): vLLM `bench serve`'s TTFT end point.
    pub first_chunk_ns: Option<u64>,
    /// First message carrying non-empty text, content or reasoning.
    pub first_token_ns: Option<u64>,
    /// Last message with a non-empty `choices` array: vLLM's E2EL end point (the trailing usage
    /// chunk and `[DONE]` do not extend it).
    pub end_ns: Option<u64>,
    /// The response was complete (or the failure was observed).
    pub done_ns: u64,
    /// Arrival of every message with a non-empty `choices` array, as offsets from `sent_ns`.
    /// Successive differences are vLLM's per-chunk ITL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks_ns: Vec<u64>,
    /// Usage reported by the server.
    pub usage: Option<Usage>,
    /// Prompt tokens counted on the client side (copied from the request record).
    pub prompt_tokens: Option<u32>,
    /// Output tokens counted on the client side by `tokenizer` from the generated text.
    pub output_tokens: Option<u32>,
    pub tokenizer: Option<String>,
    pub max_tokens: Option<u32>,
    pub finish_reason: Option<String>,
    /// Index of the load stage this request was scheduled in.
    pub stage: Option<u32>,
    /// `i/N` when the run was sharded with `--shard`.
    pub shard: Option<String>,
    /// Sent during warm-up: kept in the stream, left out of the summary.
    #[serde(default, skip_serializing_if = "is_false")]
    pub warmup: bool,
    pub dataset: Option<String>,
    pub task: Option<String>,
    pub session: Option<String>,
    pub turn: Option<u32>,
    pub prefix: Option<String>,
    /// Run identifier shared by every record of one `sb-load` invocation.
    pub run: Option<String>,
    /// Free-form labels set on the command line (`--tag key=value`), e.g. a sweep point.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The generated text, only with `sb-load --save-text`.
    pub text: Option<String>,
    /// The server generated more tokens than asked for (`usage.completion_tokens` over
    /// `max_tokens` × `n`): it ignored the length field.
    #[serde(default, skip_serializing_if = "is_false")]
    pub exceeded_max_tokens: bool,
}

impl Kind for ResultRecord {
    const KIND: &'static str = "result";
    const VERSION: u32 = 1;
}

impl ResultRecord {
    /// Output tokens as vLLM `bench serve` counts them: the server's `usage.completion_tokens`,
    /// else the client-side count.
    pub fn output_len(&self) -> Option<u32> {
        self.usage.as_ref().map(|u| u.completion_tokens).or(self.output_tokens)
    }
    /// Prompt tokens as vLLM `bench serve` counts them: `usage.prompt_tokens` when present.
    pub fn input_len(&self) -> Option<u32> {
        self.usage.as_ref().map(|u| u.prompt_tokens).or(self.prompt_tokens)
    }
}

/// The part of [`Usage`] a [`ResultView`] reads.
#[derive(Debug, Deserialize)]
pub struct UsageView {
    #[serde(default)]
    pub prompt_tokens: u32,
    #[serde(default)]
    pub completion_tokens: u32,
}

/// A borrowed view of a [`ResultRecord`], for readers of millions of them (sb-report): strings
/// that need no unescaping are not copied, and a field left out here is skipped unparsed. Each
/// field has its `ResultRecord` name and meaning (a test checks them against a full record).
#[derive(Debug, Deserialize)]
pub struct ResultView<'a> {
    #[serde(default, borrow)]
    pub id: Cow<'a, str>,
    pub status: Status,
    #[serde(default)]
    pub http_status: Option<u16>,
    #[serde(default, borrow)]
    pub error: Option<Cow<'a, str>>,
    pub scheduled_ns: u64,
    pub sent_ns: u64,
    #[serde(default)]
    pub first_chunk_ns: Option<u64>,
    #[serde(default)]
    pub first_token_ns: Option<u64>,
    #[serde(default)]
    pub end_ns: Option<u64>,
    pub done_ns: u64,
    #[serde(default)]
    pub chunks_ns: Vec<u64>,
    #[serde(default)]
    pub usage: Option<UsageView>,
    #[serde(default)]
    pub prompt_tokens: Option<u32>,
    #[serde(default)]
    pub output_tokens: Option<u32>,
    #[serde(default)]
    pub stage: Option<u32>,
    #[serde(default, borrow)]
    pub shard: Option<Cow<'a, str>>,
    #[serde(default)]
    pub warmup: bool,
    #[serde(default, borrow)]
    pub api: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub tokenizer: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub dataset: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub task: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub session: Option<Cow<'a, str>>,
    #[serde(default)]
    pub turn: Option<u32>,
    #[serde(default, borrow)]
    pub prefix: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub run: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub tags: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    /// The generated text (`sb-load --save-text`), for vLLM's `generated_texts`.
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
}

impl ResultView<'_> {
    /// vLLM's output_len: `usage.completion_tokens`, else the client-side count.
    pub fn output_len(&self) -> Option<u32> {
        self.usage.as_ref().map(|u| u.completion_tokens).or(self.output_tokens)
    }
    /// vLLM's prompt_len: `usage.prompt_tokens`, else the count from the request record.
    pub fn input_len(&self) -> Option<u32> {
        self.usage.as_ref().map(|u| u.prompt_tokens).or(self.prompt_tokens)
    }
}

/// Where a metric sample came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleSource {
    /// A Prometheus server's HTTP API (`query_range`).
    Prometheus,
    /// A `/metrics` endpoint polled directly.
    Endpoint,
    /// A server log (start-up phases).
    Log,
}

/// The time window a sample was collected for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start_ns: u64,
    pub end_ns: u64,
}

/// One metric value at one time: written by `sb-scrape`, read by `sb-report`.
#[skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Metric name as exposed (`vllm:num_requests_running`, `container_fs_reads_bytes_total`,
    /// `vllm_startup:weights_load_seconds`, ...). Histogram series keep their `_bucket`, `_sum`,
    /// `_count` suffixes; `le` is a label.
    pub metric: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub ts_ns: u64,
    /// NaN and infinities, which JSON cannot hold, are written as the strings `"NaN"`, `"+Inf"`
    /// and `"-Inf"`, as in the Prometheus text format.
    #[serde(serialize_with = "ser_f64", deserialize_with = "de_f64")]
    pub value: f64,
    pub source: SampleSource,
    /// `counter`, `gauge`, `histogram`, `summary`, `untyped`, or for logs `duration`/`event`.
    #[serde(rename = "type")]
    pub metric_type: Option<String>,
    pub window: Option<Window>,
    /// What was scraped: the URL, the PromQL query, or the log file.
    pub target: Option<String>,
}

impl Kind for Sample {
    const KIND: &'static str = "sample";
    const VERSION: u32 = 1;
}

/// The final record of an `sb-load` run: what was asked, what was achieved, and whether the
/// generator kept its schedule. Fields beyond the named ones go in `extra`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run: String,
    pub started_ns: u64,
    pub ended_ns: u64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Kind for RunRecord {
    const KIND: &'static str = "run";
    const VERSION: u32 = 1;

    fn after_read(&mut self) {
        self.extra.remove("kind");
        self.extra.remove("v");
    }
}

impl RunRecord {
    /// A run record with the generator's account of the run.
    pub fn new(run: String, started_ns: u64, ended_ns: u64, fields: &RunFields) -> RunRecord {
        let extra = match serde_json::to_value(fields) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        RunRecord { run, started_ns, ended_ns, extra }
    }

    /// The fields sb-load writes, typed. Liberal: a field that is missing or of another type
    /// (another writer's record) is `None` here, and stays readable in `extra`.
    pub fn fields(&self) -> RunFields {
        RunFields::deserialize(Value::Object(self.extra.clone())).unwrap_or_default()
    }
}

/// What sb-load says of a run beyond `run`, `started_ns` and `ended_ns` (docs/load.md, "The run
/// record"). Every field is optional on reading.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFields {
    /// `sb-load 0.1.0`.
    #[serde(default, deserialize_with = "liberal")]
    pub tool: Option<String>,
    /// The server's URL, any password masked.
    #[serde(default, deserialize_with = "liberal")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "liberal")]
    pub model: Option<String>,
    /// How the run was asked to go.
    #[serde(default, deserialize_with = "liberal")]
    pub load: Option<RunLoad>,
    #[serde(default, deserialize_with = "liberal")]
    pub requests: Option<RunRequests>,
    /// The nominal rate of a single-stage run at a rate.
    #[serde(default, deserialize_with = "liberal")]
    #[serialize_always]
    pub target_rate_rps: Option<f64>,
    /// `(n-1) / (last - first scheduled_ns)` of the measured requests.
    #[serde(default, deserialize_with = "liberal")]
    #[serialize_always]
    pub scheduled_rate_rps: Option<f64>,
    /// `(n-1) / (last - first sent_ns)`.
    #[serde(default, deserialize_with = "liberal")]
    #[serialize_always]
    pub achieved_rate_rps: Option<f64>,
    #[serde(default, deserialize_with = "liberal")]
    #[serialize_always]
    pub achieved_ratio: Option<f64>,
    /// `sent_ns - scheduled_ns` of the measured requests.
    #[serde(default, deserialize_with = "liberal")]
    #[serialize_always]
    pub send_lateness_ms: Option<Lateness>,
    /// The lateness threshold in force.
    #[serde(default, deserialize_with = "liberal")]
    pub max_lag_ms: Option<f64>,
    /// Requests whose usage showed more tokens than asked for (only when non-zero).
    #[serde(default, deserialize_with = "liberal")]
    pub exceeded_max_tokens: Option<u64>,
    /// Requests whose server and client token counts differ (only when non-zero).
    #[serde(default, deserialize_with = "liberal")]
    pub token_count_mismatches: Option<u64>,
    /// `ok`, `failed`, `interrupted` or `input_error`.
    #[serde(default, deserialize_with = "liberal")]
    pub verdict: Option<String>,
    /// Why the run failed.
    #[serde(default, deserialize_with = "liberal")]
    pub reasons: Option<Vec<String>>,
    #[serde(default, deserialize_with = "liberal")]
    pub input_error: Option<String>,
    /// How the sends were paced: `open`, `closed` or `burst`.
    #[serde(rename = "loop", default, deserialize_with = "liberal")]
    pub pacing: Option<String>,
    /// How lateness was judged, for closed loops and bursts.
    #[serde(default, deserialize_with = "liberal")]
    pub lag_check: Option<String>,
    /// Closed loop: the share of slot time spent waiting for the generator.
    #[serde(default, deserialize_with = "liberal")]
    pub slot_idle_fraction: Option<f64>,
    /// Streams that ended after a finish_reason without `[DONE]` (only when non-zero).
    #[serde(default, deserialize_with = "liberal")]
    pub streams_without_done: Option<u64>,
    /// The command line, secrets masked.
    #[serde(default, deserialize_with = "liberal")]
    pub command: Option<Vec<String>>,
    #[serde(default, deserialize_with = "liberal")]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "liberal")]
    #[serialize_always]
    pub git_commit: Option<String>,
    #[serde(default, deserialize_with = "liberal")]
    #[serialize_always]
    pub host: Option<String>,
    /// The server's version (vLLM's `GET /version`).
    #[serde(default, deserialize_with = "liberal")]
    #[serialize_always]
    pub server_version: Option<String>,
    #[serde(default, deserialize_with = "liberal")]
    pub connections: Option<RunConnections>,
}

/// The run's load settings (`load` of the run record).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunLoad {
    /// The stages as sb-load's flags spell them (`poisson:20@30s`), for people.
    #[serde(default, deserialize_with = "liberal")]
    pub stages: Vec<String>,
    /// The same stages as data: what each stage's arrival process is.
    #[serde(default, deserialize_with = "liberal", skip_serializing_if = "Vec::is_empty")]
    pub arrival: Vec<Arrival>,
    #[serde(default, deserialize_with = "liberal")]
    pub concurrency: Option<u64>,
    #[serde(default, deserialize_with = "liberal")]
    pub seed: Option<u64>,
    #[serde(default, deserialize_with = "liberal")]
    pub max_requests: Option<u64>,
    #[serde(default, deserialize_with = "liberal")]
    pub duration_s: Option<f64>,
    /// `{"requests": N}` or `{"seconds": S}`.
    #[serde(default, deserialize_with = "liberal")]
    pub warmup: Option<RunWarmup>,
    #[serde(default, deserialize_with = "liberal")]
    pub shard: Option<String>,
    #[serde(default, deserialize_with = "liberal")]
    pub timeout_s: Option<f64>,
    #[serde(default, deserialize_with = "liberal")]
    pub spin: Option<bool>,
    #[serde(default, deserialize_with = "liberal")]
    pub stream: Option<bool>,
    #[serde(default, deserialize_with = "liberal")]
    pub include_usage: Option<bool>,
    #[serde(default, deserialize_with = "liberal")]
    pub tokenizer: Option<String>,
    #[serde(default, deserialize_with = "liberal", skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,
}

/// One stage's arrival process, as data.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Arrival {
    /// `inf` (all at once), `constant`, `poisson`, `gamma` or `trace`.
    pub process: String,
    /// Requests per second (every process but `inf` and `trace`).
    pub rate_rps: Option<f64>,
    /// The gamma shape (1 for Poisson, as vLLM's `--burstiness`); for `poisson` 1.
    pub burstiness: Option<f64>,
    /// A trace's replay speed.
    pub speed: Option<f64>,
    /// How long the stage lasts (the last may be open-ended).
    pub duration_s: Option<f64>,
}

/// Warm-up: the first N requests, or the requests scheduled in the first S seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RunWarmup {
    Requests { requests: u64 },
    Time { seconds: f64 },
}

/// Requests of a run by what became of them (`requests` of the run record).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRequests {
    /// Taken from the input (all shards).
    pub read: u64,
    pub other_shards: u64,
    /// Read but not sent (the run stopped).
    pub not_sent: u64,
    pub results: u64,
    pub warmup: u64,
    pub failed: u64,
    pub by_status: BTreeMap<String, u64>,
}

/// Send lateness percentiles, ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Lateness {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p99_9: f64,
    pub max: f64,
}

/// How the run used its connections (`connections` of the run record).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunConnections {
    /// `--max-connections`.
    pub max: u64,
    /// Open before the first request.
    pub preconnected: u64,
    /// All the run opened.
    pub opened: u64,
    pub peak_open: u64,
    pub connect_failures: u64,
    /// Requests that found every connection the cap allows busy and waited for one.
    pub waited_at_cap: u64,
}

/// A field of another shape than ours reads as its default (another writer's record), not as
/// an error that loses the whole record.
fn liberal<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(d: D) -> Result<T, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(T::deserialize(v).unwrap_or_default())
}

/// One point of a parameter sweep, written by `sb-deploy --sweep` as the plan.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanPoint {
    /// Short stable name of the point, used in resource names and `--group-by`.
    pub point: String,
    /// The swept parameters of this point (canonical flag names, typed values): open by nature.
    pub params: Map<String, Value>,
    /// The model (Hugging Face id) and the name it is served under.
    #[serde(default, deserialize_with = "liberal")]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "liberal")]
    pub served_model_name: Option<String>,
    /// vLLM's version (the image tag without its `v`).
    #[serde(default, deserialize_with = "liberal")]
    pub vllm_version: Option<String>,
    /// Where the point's server runs: its namespace, object name and in-cluster URL.
    #[serde(default, deserialize_with = "liberal")]
    pub namespace: Option<String>,
    #[serde(default, deserialize_with = "liberal")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "liberal")]
    pub url: Option<String>,
    /// The GPU kind (`h100-80gb`) and how many the server takes.
    #[serde(default, deserialize_with = "liberal")]
    pub gpu: Option<String>,
    #[serde(default, deserialize_with = "liberal")]
    pub gpus: Option<u32>,
    /// vLLM's arguments after the model.
    #[serde(default, deserialize_with = "liberal", skip_serializing_if = "Vec::is_empty")]
    pub engine_args: Vec<String>,
    /// The fit check's figures (`docs/deploy.md`, "The fit check"); null when it was not made.
    #[serde(default)]
    #[serialize_always]
    pub fit: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Kind for PlanPoint {
    const KIND: &'static str = "plan";
    const VERSION: u32 = 1;

    fn after_read(&mut self) {
        self.extra.remove("kind");
        self.extra.remove("v");
    }
}

/// The result of an `sb-sweep` run, its last record: every point's target and achieved load, SLO
/// metrics and verdict, and for a search the highest rate that met the SLO and the bracket it was
/// found in. Field names are stable: `sb-report` marks `max_rate_rps` on its latency-vs-load plot.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepRecord {
    /// The run id shared by the sweep's points (each point's `sb-load` run is `<run>-<point>`).
    pub run: String,
    /// `rates`, `concurrencies`, `sweep` (guidellm's) or `search`.
    pub mode: String,
    /// The SLO as given (`--slo`), when there was one.
    pub slo: Option<String>,
    pub points: Vec<SweepPoint>,
    /// Search: the highest target rate (req/s) whose point passed; absent when none did.
    pub max_rate_rps: Option<f64>,
    /// Search: the achieved rate of that point.
    pub max_rate_achieved_rps: Option<f64>,
    /// Search: the highest passing and the lowest failing target rate.
    pub bracket: Option<SweepBracket>,
    /// Search: the relative width of the bracket the search stops at (0.05 = 5%).
    pub precision: Option<f64>,
    /// Stopped by SIGINT/SIGTERM: the points are those done so far.
    #[serde(default, skip_serializing_if = "is_false")]
    pub interrupted: bool,
    /// Why the sweep ended where it did, and anything a reader must not miss.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub started_ns: u64,
    pub ended_ns: u64,
}

/// One measured point of a sweep.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The point's name, as in its records' `tags.point` (`p0`, `p1`, ...).
    pub point: String,
    /// Target Poisson rate, req/s (absent for closed-loop and `--rate inf` points).
    pub target_rate_rps: Option<f64>,
    /// Closed-loop concurrency.
    pub concurrency: Option<u32>,
    /// `poisson:R`, `concurrency:C`, `inf`: the load as given to `sb-load`.
    pub load: String,
    /// The run record's `achieved_rate_rps` (send rate of the measured requests).
    pub achieved_rate_rps: Option<f64>,
    /// Completed requests per second (sb-report's `request_throughput`).
    pub request_throughput_rps: Option<f64>,
    /// Output tokens per second (sb-report's `output_throughput`).
    pub output_throughput_tps: Option<f64>,
    pub completed: u64,
    pub failed: u64,
    /// failed / (completed + failed).
    pub error_rate: Option<f64>,
    /// Requests meeting every per-request objective / all requests (with such objectives).
    pub goodput_fraction: Option<f64>,
    /// The SLO metrics of the point, named as in `--slo` (`ttft_p99_ms`, ...), in ms.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// True only for `status: "pass"`.
    pub pass: bool,
    /// `pass`, `fail` (an objective missed), `saturated` (stopped early: the queue kept
    /// growing), `untrustworthy` (the load generator fell behind its schedule: evidence of
    /// nothing), `interrupted`.
    pub status: String,
    /// Why it did not pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// The point's `sb-load` run id.
    pub run: String,
    /// `sb-load`'s verdict (`ok`, `failed`, `interrupted`, ...).
    pub load_verdict: Option<String>,
    /// Measured window: the point's first send to its last response (epoch ns).
    pub started_ns: Option<u64>,
    pub ended_ns: Option<u64>,
}

/// The bracket a search ended with, req/s.
#[skip_serializing_none]
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepBracket {
    /// Highest target rate that passed (absent: none did).
    pub low_rps: Option<f64>,
    /// Lowest target rate that did not pass (absent: none failed up to `--max`).
    pub high_rps: Option<f64>,
}

impl Kind for SweepRecord {
    const KIND: &'static str = "sweep";
    const VERSION: u32 = 1;
}

/// Any record of the stream, for readers that take a mix (e.g. `sb-report` reads results, the
/// run record and samples from one file).
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // a Record is read one at a time; boxing Request would change the API
pub enum Record {
    Request(Request),
    Result(Box<ResultRecord>),
    Sample(Sample),
    Run(RunRecord),
    Summary(Summary),
    Plan(PlanPoint),
    Sweep(Box<SweepRecord>),
}

impl Record {
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Request(_) => Request::KIND,
            Record::Result(_) => ResultRecord::KIND,
            Record::Sample(_) => Sample::KIND,
            Record::Run(_) => RunRecord::KIND,
            Record::Summary(_) => Summary::KIND,
            Record::Plan(_) => PlanPoint::KIND,
            Record::Sweep(_) => SweepRecord::KIND,
        }
    }
}

/// Every kind this build knows, with the newest version it understands.
pub const KNOWN_KINDS: &[(&str, u32)] = &[
    (Request::KIND, Request::VERSION),
    (ResultRecord::KIND, ResultRecord::VERSION),
    (Sample::KIND, Sample::VERSION),
    (RunRecord::KIND, RunRecord::VERSION),
    (Summary::KIND, Summary::VERSION),
    (PlanPoint::KIND, PlanPoint::VERSION),
    (SweepRecord::KIND, SweepRecord::VERSION),
];

fn is_false(b: &bool) -> bool {
    !*b
}

fn ser_f64<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_nan() {
        s.serialize_str("NaN")
    } else if v.is_infinite() {
        s.serialize_str(if *v > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        s.serialize_f64(*v)
    }
}

fn de_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num<'a> {
        F(f64),
        S(&'a str),
        O(String),
    }
    let parse = |s: &str| -> Result<f64, D::Error> {
        match s {
            "NaN" | "nan" => Ok(f64::NAN),
            "+Inf" | "Inf" | "inf" | "+inf" => Ok(f64::INFINITY),
            "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
            other => other.parse().map_err(|_| serde::de::Error::custom(format!("bad number {other:?}"))),
        }
    };
    match Num::deserialize(d)? {
        Num::F(f) => Ok(f),
        Num::S(s) => parse(s),
        Num::O(s) => parse(&s),
    }
}
