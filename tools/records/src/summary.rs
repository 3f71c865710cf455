//! The `summary` record: what `sb-report --format json` writes, and what `sb-report --compare`,
//! `sb-sweep` and later tools read. See `docs/records.md` and `docs/report.md`, "JSON".
//!
//! One kind, two shapes: the summary of one input ([`Report`]) and, from `--compare A B`, the
//! two sides with the change of every metric ([`Comparison`]).
//!
//! Reading a report is liberal, as for the run record: a missing field of the report, its
//! totals, statistics, load and rows reads as its default, fields this build does not know are
//! kept in `extra`, and a number may be `null` where the writer had no finite value (it reads as
//! NaN). A server metric needs its `metric` and its type's figures, and a comparison all of its
//! fields. Floats are written as sb-report rounded them.

use crate::record::Kind;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;
use std::collections::BTreeMap;
use std::fmt;

/// A summary record: a report, or a comparison of two (one with a `compare` field).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Summary {
    /// `sb-report --compare A B --format json`.
    Comparison(Box<Comparison>),
    /// `sb-report --format json`.
    Report(Box<Report>),
}

impl<'de> Deserialize<'de> for Summary {
    /// The shape is chosen by the `compare` field, so that an error names the field at fault
    /// (an untagged enum would only say that no shape matched).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let fields = Map::<String, Value>::deserialize(d)?;
        let comparison = fields.contains_key("compare");
        let value = Value::Object(fields);
        if comparison {
            Comparison::deserialize(value).map(|c| Summary::Comparison(Box::new(c)))
        } else {
            Report::deserialize(value).map(|r| Summary::Report(Box::new(r)))
        }
        .map_err(serde::de::Error::custom)
    }
}

impl Default for Summary {
    fn default() -> Self {
        Summary::Report(Box::default())
    }
}

impl Kind for Summary {
    const KIND: &'static str = "summary";
    const VERSION: u32 = 1;

    fn after_read(&mut self) {
        if let Summary::Report(r) = self {
            r.extra.remove("kind");
            r.extra.remove("v");
        }
    }
}

/// The summary of every result of the input: the totals of the whole, of each stage, turn and
/// `--group-by` group, the load generator's verdict, and the server's metrics over the run.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    /// Where the metrics are defined: `docs/metrics.md`, after vLLM bench serve's.
    pub definitions: String,
    /// The input files, as named on the command line (`-` for stdin).
    pub inputs: Vec<String>,
    /// Every run id of the input, with its result count and shards.
    pub runs: Vec<Run>,
    /// False when a run record says the load generator did not keep its schedule.
    pub trustworthy: bool,
    /// What a reader must not miss, as sb-report prints it on stderr.
    pub warnings: Vec<String>,
    /// Warm-up results left out of every number.
    pub warmup_excluded: u64,
    /// `--slo` as understood (`ttft<=500ms tpot<=50ms`), with it.
    pub slo: Option<String>,
    #[serde(flatten)]
    pub totals: Totals,
    /// Distinct sessions (multi-turn input only).
    pub sessions: Option<u64>,
    pub load: Load,
    /// Server metrics over the run window (sb-scrape's samples in the input).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub server_metrics: Vec<ServerMetric>,
    /// One row per load stage, when there was more than one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageRow>,
    /// One row per turn of multi-turn sessions, when there was more than one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<TurnRow>,
    /// `--group-by` as given, and one row per value.
    pub group_by: Option<String>,
    pub groups: Option<Vec<GroupRow>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The numbers of one aggregate (the whole input, a stage, a turn, a group); latencies in ms.
/// Formulas: `docs/metrics.md`.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    pub completed: u64,
    pub failed: u64,
    /// failed / (completed + failed); 0 without requests.
    #[serde(deserialize_with = "nan_if_null")]
    pub failure_rate: f64,
    /// First send to last response done, in seconds.
    #[serde(deserialize_with = "nan_if_null")]
    pub duration_s: f64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    #[serde(deserialize_with = "nan_if_null")]
    pub request_throughput: f64,
    /// With per-request objectives (`--slo`): good requests per second, and how many.
    pub request_goodput: Option<f64>,
    pub good_requests: Option<u64>,
    #[serde(deserialize_with = "nan_if_null")]
    pub output_throughput: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub total_token_throughput: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub max_output_tokens_per_s: f64,
    pub max_concurrent_requests: u64,
    pub ttft_ms: Stats,
    pub tpot_ms: Stats,
    pub itl_ms: Stats,
    pub e2el_ms: Stats,
    pub ntpot_ms: Stats,
    pub ttft_text_ms: Stats,
    pub client_queue_ms: Stats,
    pub e2el_from_scheduled_ms: Stats,
    /// Failed requests by class (`http_503`, `timeout`, ...).
    pub failures: BTreeMap<String, FailureClass>,
    /// Successful requests without an output (input) token count, left out of token totals.
    pub output_len_missing: u64,
    pub input_len_missing: u64,
    /// Successful requests whose server usage and client count of output tokens disagree.
    pub token_count_mismatches: u64,
}

impl Totals {
    /// A latency metric by its name in the summary (`ttft_ms`, `client_queue_ms`, ...).
    pub fn metric(&self, name: &str) -> Option<&Stats> {
        Some(match name {
            "ttft_ms" => &self.ttft_ms,
            "tpot_ms" => &self.tpot_ms,
            "itl_ms" => &self.itl_ms,
            "e2el_ms" => &self.e2el_ms,
            "ntpot_ms" => &self.ntpot_ms,
            "ttft_text_ms" => &self.ttft_text_ms,
            "client_queue_ms" => &self.client_queue_ms,
            "e2el_from_scheduled_ms" => &self.e2el_from_scheduled_ms,
            _ => return None,
        })
    }
}

/// The statistics of one latency metric, in ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub count: u64,
    #[serde(deserialize_with = "nan_if_null")]
    pub mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub median: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub std: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub min: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub max: f64,
    /// `p50`, `p99`, `p99.9`...: the asked percentiles, in the order asked.
    #[serde(flatten)]
    pub percentiles: Percentiles,
    /// The percentiles are exact (numpy's linear interpolation), not from the histogram.
    pub exact: bool,
}

impl Stats {
    /// A statistic by its key: `mean`, `median`, `std`, `min`, `max`, `count` or `p<P>`.
    pub fn get(&self, stat: &str) -> Option<f64> {
        match stat {
            "count" => Some(self.count as f64),
            "mean" => Some(self.mean),
            "median" => Some(self.median),
            "std" => Some(self.std),
            "min" => Some(self.min),
            "max" => Some(self.max),
            _ => {
                let p: f64 = stat.strip_prefix('p')?.parse().ok()?;
                self.percentiles.0.iter().find(|(q, _)| *q == p).map(|(_, v)| *v)
            }
        }
    }
}

/// Percentiles as `(P in 0..=100, value)`, written as `"p<P>": value` keys (`p99`, `p99.9`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Percentiles(pub Vec<(f64, f64)>);

/// `p99`, `p99.9`: vLLM's key spelling of a percentile.
pub fn percentile_key(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("p{}", p as i64)
    } else {
        format!("p{p}")
    }
}

impl Serialize for Percentiles {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (p, v) in &self.0 {
            m.serialize_entry(&percentile_key(*p), v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Percentiles {
    /// Every `p<number>` key of the object; other keys are not percentiles and are passed over.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = Percentiles;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("percentile keys such as p99")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Percentiles, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value: Value = map.next_value()?;
                    let p = key.strip_prefix('p').and_then(|p| p.parse::<f64>().ok());
                    if let Some(p) = p.filter(|p| (0.0..=100.0).contains(p)) {
                        out.push((p, value.as_f64().unwrap_or(f64::NAN)));
                    }
                }
                Ok(Percentiles(out))
            }
        }
        d.deserialize_map(Keys)
    }
}

/// One class of failures: how many, and the first few distinct messages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailureClass {
    pub count: u64,
    pub examples: Vec<String>,
}

/// A run id of the input: its results (warm-up excluded) and the shards they came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Run {
    pub run: String,
    pub results: u64,
    pub shards: Vec<String>,
}

/// What the run records say of the load: target and achieved rate, send lateness, and why the
/// run is not trustworthy. Absent values are written as `null`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Load {
    pub run_records: u64,
    pub target_rate: Option<f64>,
    pub achieved_rate: Option<f64>,
    pub send_lateness_p50_ms: Option<f64>,
    pub send_lateness_p99_ms: Option<f64>,
    pub send_lateness_max_ms: Option<f64>,
    pub max_concurrency: Option<u64>,
    pub burstiness: Option<f64>,
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

/// One server metric over the run window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerMetric {
    pub metric: String,
    /// `{k="v",...}` without `le`; empty when there are none.
    #[serde(default)]
    pub labels: String,
    #[serde(flatten)]
    pub value: ServerValue,
}

/// A server metric's summary by its Prometheus type (the `type` field).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerValue {
    /// The increase over the window, and per second.
    Counter {
        #[serde(deserialize_with = "nan_if_null")]
        delta: f64,
        #[serde(deserialize_with = "nan_if_null")]
        rate_per_s: f64,
    },
    /// Mean and max of the samples in the window.
    Gauge {
        #[serde(deserialize_with = "nan_if_null")]
        mean: f64,
        #[serde(deserialize_with = "nan_if_null")]
        max: f64,
        samples: u64,
    },
    /// The window's observations: PromQL `histogram_quantile` estimates and the buckets they
    /// lie in.
    Histogram {
        #[serde(deserialize_with = "nan_if_null")]
        count: f64,
        #[serde(deserialize_with = "nan_if_null")]
        sum: f64,
        #[serde(deserialize_with = "nan_if_null")]
        mean: f64,
        #[serde(deserialize_with = "nan_if_null")]
        p50: f64,
        p50_bucket: Bucket,
        #[serde(deserialize_with = "nan_if_null")]
        p99: f64,
        p99_bucket: Bucket,
    },
}

/// The histogram bucket `(gt, le]` a quantile lies in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// The lower bound; none for the first bucket.
    #[serde(default)]
    pub gt: Option<f64>,
    /// The upper bound; written `null` for `+Inf`, and read so.
    #[serde(default = "infinity", deserialize_with = "inf_if_null")]
    pub le: f64,
    /// Every observation equals `le`: the quantile is known exactly.
    #[serde(default)]
    pub exact: bool,
}

/// A stage's row: its index (a string, as the other rows' keys) and sb-load's stage spec.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageRow {
    #[serde(default)]
    pub stage: String,
    #[serde(flatten)]
    pub totals: Totals,
    pub spec: Option<String>,
}

/// A turn's row (multi-turn sessions).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnRow {
    #[serde(default)]
    pub turn: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// A `--group-by` value's row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupRow {
    #[serde(default)]
    pub group: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// `--compare A B`: both sides' names, every metric either has with the change, and each
/// side's whole summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub compare: Sides,
    pub metrics: Vec<Compared>,
    /// A's summary: a [`Report`]'s fields, or a vLLM result JSON as it was.
    pub a: Value,
    pub b: Value,
}

/// The names of the two sides of a comparison, as given.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sides {
    pub a: String,
    pub b: String,
}

/// One metric of a comparison: its summary key (`ttft_ms.p99`), both values, B − A, and the
/// change in percent of A (none when A is 0).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Compared {
    pub metric: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub change: Option<f64>,
    pub change_pct: Option<f64>,
}

fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn inf_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

fn infinity() -> f64 {
    f64::INFINITY
}
