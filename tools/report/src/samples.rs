//! Server metric samples over the run window: counter deltas and rates, gauge mean and max,
//! histogram deltas with a quantile estimate. Formulas: docs/metrics.md, "Server metrics".
//!
//! A counter's delta is taken between the samples that bracket the window: the last one at or
//! before its start and the first one at or after its end (scrapes are periodic, so the samples
//! inside the window miss the requests finishing between the last scrape and the end; a server
//! idle outside the run adds nothing in the brackets; `sb-scrape --pad` makes sure they exist).
//! Without a bracketing sample the first/last one is used. Resets are handled the way Prometheus
//! `increase()` does: a drop means the counter restarted from zero. A counter series that first
//! appears inside the window while earlier scrapes saw other series (vLLM creates
//! `http_requests_total{status="2xx"}` on the first request) was born at zero during the run:
//! its first value counts in full.

use sb_records::Sample;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Counter { delta: f64, rate_per_s: f64 },
    Gauge { mean: f64, max: f64, samples: u64 },
    Histogram { count: f64, sum: f64, mean: f64, p50: BucketQuantile, p99: BucketQuantile },
}

impl Value {
    /// The type's name, and its figures in words (the text and HTML reports): `sep` between
    /// figures, `wide` before each quantile.
    pub fn describe(&self, metric: &str, sep: &str, wide: &str) -> (&'static str, String) {
        let n = crate::render::text::num;
        match self {
            Value::Counter { delta, rate_per_s } => {
                ("counter", format!("delta {}{sep}rate {}/s", n(*delta), n(*rate_per_s)))
            }
            Value::Gauge { mean, max, samples } => {
                ("gauge", format!("mean {}{sep}max {} ({samples} samples)", n(*mean), n(*max)))
            }
            Value::Histogram { count, sum, mean, p50, p99 } => {
                let unit = unit_of(metric);
                let (p50, p99) = (p50.describe("p50", unit), p99.describe("p99", unit));
                let figures = format!("count {}{sep}sum {}{sep}mean {}", n(*count), n(*sum), n(*mean));
                ("histogram", format!("{figures}{wide}{p50}{wide}{p99}"))
            }
        }
    }
}

/// A quantile estimated from a Prometheus histogram, with the bucket it lies in: the bucket is
/// all the data says; the interpolated `estimate` (what PromQL `histogram_quantile` returns) is
/// a guess inside it, so people are shown the bucket (docs/metrics.md, "Server metrics").
#[derive(Clone, Debug, PartialEq)]
pub struct BucketQuantile {
    /// `histogram_quantile`'s linear interpolation; the exact value when `exact`; NaN without
    /// observations.
    pub estimate: f64,
    /// The bucket holding the rank is `(lower, upper]`; `lower` is none for the first bucket
    /// (Prometheus interpolates from 0 there, which nothing in the data supports).
    pub lower: Option<f64>,
    /// Infinite for the `+Inf` bucket.
    pub upper: f64,
    /// Every observation of the window equals `upper` (all in one bucket whose bound is the
    /// mean), so the quantile is known exactly: `request_params_n` with n=1 is 1, not 0.5.
    pub exact: bool,
}

impl BucketQuantile {
    fn none() -> BucketQuantile {
        BucketQuantile { estimate: f64::NAN, lower: None, upper: f64::NAN, exact: false }
    }

    /// `p50 ≤ 0.3 s (first bucket)`, `p50 in (0.06, 0.1] s`, `p99 > 10 s (+Inf bucket)`,
    /// `p50 = 1`, `p50 n/a`.
    pub fn describe(&self, name: &str, unit: &str) -> String {
        let b = |x: f64| format!("{x}");
        if self.upper.is_nan() {
            return format!("{name} n/a");
        }
        if self.exact {
            return format!("{name} = {}{unit}", b(self.upper));
        }
        match (self.lower, self.upper.is_infinite()) {
            (None, true) => format!("{name} unknown (only a +Inf bucket)"),
            (Some(lo), true) => format!("{name} > {}{unit} (+Inf bucket)", b(lo)),
            (None, false) => format!("{name} ≤ {}{unit} (first bucket)", b(self.upper)),
            (Some(lo), false) => format!("{name} in ({}, {}]{unit}", b(lo), b(self.upper)),
        }
    }
}

/// The unit suffix of a metric by Prometheus naming convention (`_seconds`).
pub fn unit_of(metric: &str) -> &'static str {
    if metric.ends_with("_seconds") {
        " s"
    } else if metric.ends_with("_bytes") {
        " B"
    } else {
        ""
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServerMetric {
    pub metric: String,
    /// `{k="v",...}` without `le`, empty when there are no labels.
    pub labels: String,
    pub value: Value,
}

type Series = Vec<(u64, f64)>;

#[derive(Default)]
struct Hist {
    buckets: BTreeMap<String, Series>,
    sum: Series,
    count: Series,
}

fn label_text(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels.iter().filter(|(k, _)| *k != "le").map(|(k, v)| format!("{k}={v:?}")).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// The samples of a stream as time series, 16 bytes a point (a long scrape has millions of
/// samples; each is filed as it is read and not kept as a record).
#[derive(Default)]
pub struct SeriesStore {
    counters: BTreeMap<(String, String), Series>,
    gauges: BTreeMap<(String, String), Series>,
    hists: BTreeMap<(String, String), Hist>,
    /// Earliest and latest sample time, for a window when there is nothing else.
    pub span_ns: Option<(u64, u64)>,
}

impl SeriesStore {
    pub fn is_empty(&self) -> bool {
        self.span_ns.is_none()
    }

    pub fn add(&mut self, s: &Sample) {
        // OpenMetrics' `X_created` series hold the creation time of counter/histogram X, not a
        // measurement (prometheus_client exposes them on vLLM's /metrics).
        if s.metric.ends_with("_created") {
            return;
        }
        self.span_ns = Some(match self.span_ns {
            None => (s.ts_ns, s.ts_ns),
            Some((lo, hi)) => (lo.min(s.ts_ns), hi.max(s.ts_ns)),
        });
        let ty = s.metric_type.as_deref().unwrap_or("");
        let labels = label_text(&s.labels);
        let point = (s.ts_ns, s.value);
        let hist_part = |suffix: &str| -> Option<String> { s.metric.strip_suffix(suffix).map(str::to_string) };
        if let (Some(base), Some(le)) = (hist_part("_bucket"), s.labels.get("le")) {
            if ty.is_empty() || ty == "histogram" {
                self.hists.entry((base, labels)).or_default().buckets.entry(le.clone()).or_default().push(point);
                return;
            }
        }
        if ty == "histogram" {
            if let Some(base) = hist_part("_sum") {
                self.hists.entry((base, labels)).or_default().sum.push(point);
                return;
            }
            if let Some(base) = hist_part("_count") {
                self.hists.entry((base, labels)).or_default().count.push(point);
                return;
            }
        }
        let is_counter = ty == "counter" || (ty.is_empty() && s.metric.ends_with("_total"));
        let map = if is_counter { &mut self.counters } else { &mut self.gauges };
        map.entry((s.metric.clone(), labels)).or_default().push(point);
    }

    /// Every series summarised over `[start_ns, end_ns]`.
    pub fn summarise(&self, start_ns: u64, end_ns: u64) -> Vec<ServerMetric> {
        let window_s = end_ns.saturating_sub(start_ns) as f64 / 1e9;
        let watched_before_start = self.span_ns.is_some_and(|(lo, _)| lo <= start_ns);
        let sorted = |series: &Series| -> Series {
            let mut v = series.clone();
            v.sort_by_key(|p| p.0);
            if watched_before_start && v.first().is_some_and(|p| p.0 > start_ns) {
                v.insert(0, (start_ns, 0.0));
            }
            v
        };
        let mut out = Vec::new();
        for ((metric, labels), series) in &self.counters {
            let delta = counter_delta(&sorted(series), start_ns, end_ns);
            let rate_per_s = if window_s > 0.0 { delta / window_s } else { 0.0 };
            out.push(ServerMetric {
                metric: metric.clone(),
                labels: labels.clone(),
                value: Value::Counter { delta, rate_per_s },
            });
        }
        for ((metric, labels), series) in &self.gauges {
            let inside: Vec<f64> =
                series.iter().filter(|(t, v)| *t >= start_ns && *t <= end_ns && v.is_finite()).map(|p| p.1).collect();
            if inside.is_empty() {
                continue;
            }
            let mean = inside.iter().sum::<f64>() / inside.len() as f64;
            let max = inside.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let value = Value::Gauge { mean, max, samples: inside.len() as u64 };
            out.push(ServerMetric { metric: metric.clone(), labels: labels.clone(), value });
        }
        for ((metric, labels), h) in &self.hists {
            let mut deltas: Vec<(f64, f64)> = h
                .buckets
                .iter()
                .map(|(le, series)| (parse_le(le), counter_delta(&sorted(series), start_ns, end_ns)))
                .collect();
            deltas.sort_by(|a, b| a.0.total_cmp(&b.0));
            let count = if h.count.is_empty() {
                deltas.last().map_or(0.0, |d| d.1)
            } else {
                counter_delta(&sorted(&h.count), start_ns, end_ns)
            };
            let sum = counter_delta(&sorted(&h.sum), start_ns, end_ns);
            let mean = if count > 0.0 && !h.sum.is_empty() { sum / count } else { f64::NAN };
            let value = Value::Histogram {
                count,
                sum,
                mean,
                p50: bucket_quantile(0.5, &deltas, mean),
                p99: bucket_quantile(0.99, &deltas, mean),
            };
            out.push(ServerMetric { metric: metric.clone(), labels: labels.clone(), value });
        }
        out.sort_by(|a, b| (&a.metric, &a.labels).cmp(&(&b.metric, &b.labels)));
        out
    }
}

/// Summarises `samples` over `[start_ns, end_ns]`.
#[cfg(test)]
pub fn summarise(samples: &[Sample], start_ns: u64, end_ns: u64) -> Vec<ServerMetric> {
    let mut store = SeriesStore::default();
    for s in samples {
        store.add(s);
    }
    store.summarise(start_ns, end_ns)
}

fn parse_le(le: &str) -> f64 {
    match le {
        "+Inf" | "Inf" | "inf" => f64::INFINITY,
        other => other.parse().unwrap_or(f64::INFINITY),
    }
}

/// Increase of a counter over the window (bracketing samples), Prometheus-style reset handling.
pub fn counter_delta(series: &[(u64, f64)], start_ns: u64, end_ns: u64) -> f64 {
    if series.is_empty() {
        return 0.0;
    }
    let from = series.iter().rposition(|p| p.0 <= start_ns).unwrap_or(0);
    let to = series.iter().position(|p| p.0 >= end_ns).unwrap_or(series.len() - 1);
    if to <= from {
        return 0.0;
    }
    let mut delta = 0.0;
    for w in series[from..=to].windows(2) {
        let (a, b) = (w[0].1, w[1].1);
        delta += if b >= a { b - a } else { b };
    }
    delta
}

/// Prometheus `histogram_quantile`: linear interpolation inside the bucket holding the rank,
/// from cumulative bucket counts sorted by upper bound. NaN without observations.
#[cfg(test)]
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    bucket_quantile(q, buckets, f64::NAN).estimate
}

/// The bucket holding quantile `q` of cumulative bucket counts sorted by upper bound, with
/// Prometheus' interpolated estimate. `mean` (sum/count, NaN when unknown) proves the value
/// exact when every observation is in one bucket and the mean is that bucket's bound.
pub fn bucket_quantile(q: f64, buckets: &[(f64, f64)], mean: f64) -> BucketQuantile {
    let Some(&(_, total)) = buckets.last() else { return BucketQuantile::none() };
    if total <= 0.0 {
        return BucketQuantile::none();
    }
    let rank = q * total;
    let mut prev: Option<(f64, f64)> = None;
    for &(bound, count) in buckets {
        if count >= rank && count > 0.0 {
            let (prev_bound, prev_count) = prev.unwrap_or((0.0, 0.0));
            let estimate = if bound.is_infinite() {
                // The rank falls in the +Inf bucket: the best estimate is the highest finite bound.
                prev_bound
            } else if count == prev_count {
                bound
            } else {
                prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
            };
            // All observations in this bucket, each <= bound, averaging bound: all equal it.
            let alone = prev_count == 0.0 && count == total;
            let exact = alone && bound.is_finite() && (mean - bound).abs() <= 1e-9 * bound.abs().max(1.0);
            let value = if exact { bound } else { estimate };
            return BucketQuantile { estimate: value, lower: prev.map(|p| p.0), upper: bound, exact };
        }
        prev = Some((bound, count));
    }
    let last = prev.map_or(f64::NAN, |p| p.0);
    BucketQuantile { estimate: last, lower: Some(last), upper: f64::INFINITY, exact: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sb_records::SampleSource;

    fn s(metric: &str, labels: &[(&str, &str)], ts_ns: u64, value: f64, ty: &str) -> Sample {
        Sample {
            metric: metric.into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ts_ns,
            value,
            source: SampleSource::Endpoint,
            metric_type: Some(ty.into()),
            window: None,
            target: None,
        }
    }

    #[test]
    fn counter_born_inside_the_window_counts_from_zero() {
        let samples = vec![
            s("vllm:prompt_tokens_total", &[], 100, 0.0, "counter"),
            s("http_requests_total", &[("status", "2xx")], 300, 6.0, "counter"),
            s("http_requests_total", &[("status", "2xx")], 500, 40.0, "counter"),
        ];
        let out = summarise(&samples, 200, 450);
        let http = out.iter().find(|m| m.metric == "http_requests_total").unwrap();
        assert!(matches!(http.value, Value::Counter { delta, .. } if delta == 40.0), "{http:?}");
    }

    #[test]
    fn counter_delta_with_baseline_and_reset() {
        // Baseline 10 before the window, 15 at 2 s, reset to 3 at 4 s, 7 at 6 s, 100 after the window.
        let series =
            [(0, 10.0), (2_000_000_000, 15.0), (4_000_000_000, 3.0), (6_000_000_000, 7.0), (9_000_000_000, 100.0)];
        assert_eq!(counter_delta(&series, 1_000_000_000, 6_000_000_000), 5.0 + 3.0 + 4.0);
        // The window ends between scrapes: the next scrape closes it.
        assert_eq!(counter_delta(&series, 1_000_000_000, 5_000_000_000), 5.0 + 3.0 + 4.0);
        assert_eq!(counter_delta(&series, 1_000_000_000, 8_000_000_000), 5.0 + 3.0 + 4.0 + 93.0);
        // No sample before the start: from the first one.
        assert_eq!(counter_delta(&series[1..], 1_000_000_000, 6_000_000_000), 3.0 + 4.0);
    }

    #[test]
    fn quantile_like_prometheus() {
        // 10 observations: 2 <= 0.1, 8 <= 0.5, 10 <= 1.
        let b = [(0.1, 2.0), (0.5, 8.0), (1.0, 10.0), (f64::INFINITY, 10.0)];
        assert!((histogram_quantile(0.5, &b) - (0.1 + 0.4 * 3.0 / 6.0)).abs() < 1e-12);
        assert!((histogram_quantile(0.99, &b) - (0.5 + 0.5 * 1.9 / 2.0)).abs() < 1e-12);
    }

    #[test]
    fn summarises_each_type() {
        let g = "gauge";
        let samples = vec![
            s("vllm:prompt_tokens_total", &[("engine", "0")], 1_000_000_000, 100.0, "counter"),
            s("vllm:prompt_tokens_total", &[("engine", "0")], 3_000_000_000, 400.0, "counter"),
            s("vllm:num_requests_running", &[], 1_000_000_000, 2.0, g),
            s("vllm:num_requests_running", &[], 2_000_000_000, 6.0, g),
            s("vllm:e2e_request_latency_seconds_bucket", &[("le", "1.0")], 1_000_000_000, 0.0, "histogram"),
            s("vllm:e2e_request_latency_seconds_bucket", &[("le", "+Inf")], 1_000_000_000, 0.0, "histogram"),
            s("vllm:e2e_request_latency_seconds_bucket", &[("le", "1.0")], 3_000_000_000, 4.0, "histogram"),
            s("vllm:e2e_request_latency_seconds_bucket", &[("le", "+Inf")], 3_000_000_000, 4.0, "histogram"),
            s("vllm:e2e_request_latency_seconds_sum", &[], 1_000_000_000, 0.0, "histogram"),
            s("vllm:e2e_request_latency_seconds_sum", &[], 3_000_000_000, 2.0, "histogram"),
            s("vllm:e2e_request_latency_seconds_count", &[], 3_000_000_000, 4.0, "histogram"),
            s("vllm:e2e_request_latency_seconds_count", &[], 1_000_000_000, 0.0, "histogram"),
        ];
        let out = summarise(&samples, 1_000_000_000, 3_000_000_000);
        assert_eq!(out.len(), 3);
        let h = out.iter().find(|m| m.metric == "vllm:e2e_request_latency_seconds").unwrap();
        let Value::Histogram { count, sum, mean, p50, p99 } = &h.value else { panic!("{h:?}") };
        assert_eq!((*count, *sum, *mean), (4.0, 2.0, 0.5));
        // All four in the first bucket (le 1): Prometheus says 0.5 and 0.99; the data says <= 1.
        assert_eq!((p50.estimate, p50.lower, p50.upper, p50.exact), (0.5, None, 1.0, false));
        assert!((p99.estimate - 0.99).abs() < 1e-12);
        assert_eq!(p50.describe("p50", unit_of("vllm:e2e_request_latency_seconds")), "p50 ≤ 1 s (first bucket)");
        let c = out.iter().find(|m| m.metric == "vllm:prompt_tokens_total").unwrap();
        assert_eq!(c.labels, "{engine=\"0\"}");
        assert_eq!(c.value, Value::Counter { delta: 300.0, rate_per_s: 150.0 });
        let g = out.iter().find(|m| m.metric == "vllm:num_requests_running").unwrap();
        assert_eq!(g.value, Value::Gauge { mean: 4.0, max: 6.0, samples: 2 });
    }

    #[test]
    fn quantiles_say_which_bucket_they_are_in() {
        // vLLM's request_params_n buckets [1, 2, 5, 10, 20]; 8 requests, all with n=1:
        // cumulative 8 in every bucket, sum 8. Prometheus interpolates p50 = 0 + 1 * 4/8 = 0.5.
        let n1 = [(1.0, 8.0), (2.0, 8.0), (5.0, 8.0), (10.0, 8.0), (20.0, 8.0), (f64::INFINITY, 8.0)];
        assert_eq!(histogram_quantile(0.5, &n1), 0.5);
        let p50 = bucket_quantile(0.5, &n1, 8.0 / 8.0);
        assert_eq!((p50.estimate, p50.exact), (1.0, true));
        assert_eq!(p50.describe("p50", ""), "p50 = 1");
        assert_eq!(bucket_quantile(0.99, &n1, 1.0).describe("p99", ""), "p99 = 1");
        // Mixed n: 6 with n=1, 2 with n=4 -> mean 14/8 = 1.75; p50 (rank 4) in the first bucket,
        // p99 (rank 7.92) in (2, 5].
        let mixed = [(1.0, 6.0), (2.0, 6.0), (5.0, 8.0), (10.0, 8.0), (f64::INFINITY, 8.0)];
        let p50 = bucket_quantile(0.5, &mixed, 1.75);
        assert_eq!((p50.lower, p50.upper, p50.exact), (None, 1.0, false));
        assert_eq!(p50.describe("p50", ""), "p50 ≤ 1 (first bucket)");
        let p99 = bucket_quantile(0.99, &mixed, 1.75);
        assert_eq!((p99.lower, p99.upper), (Some(2.0), 5.0));
        // Interpolated: 2 + 3 * (7.92 - 6) / 2 = 4.88, kept for JSON, not printed as if measured.
        assert!((p99.estimate - 4.88).abs() < 1e-12);
        assert_eq!(p99.describe("p99", ""), "p99 in (2, 5]");
        // A TTFT histogram whose 10 observations all fall under the first bound 0.3 s, mean
        // 0.0076 s: the old output read "p50~0.15"; the data only says <= 0.3 s.
        let ttft = [(0.3, 10.0), (0.5, 10.0), (f64::INFINITY, 10.0)];
        let p50 = bucket_quantile(0.5, &ttft, 0.0076);
        assert_eq!(p50.estimate, 0.15);
        assert_eq!(p50.describe("p50", " s"), "p50 ≤ 0.3 s (first bucket)");
        // The rank in +Inf: above the highest finite bound.
        let slow = [(0.1, 1.0), (10.0, 2.0), (f64::INFINITY, 10.0)];
        let p99 = bucket_quantile(0.99, &slow, 50.0);
        assert_eq!((p99.estimate, p99.lower, p99.upper), (10.0, Some(10.0), f64::INFINITY));
        assert_eq!(p99.describe("p99", " s"), "p99 > 10 s (+Inf bucket)");
        // No observations.
        let empty = [(0.1, 0.0), (f64::INFINITY, 0.0)];
        assert_eq!(bucket_quantile(0.5, &empty, f64::NAN).describe("p50", " s"), "p50 n/a");
        // A rank in an inner bucket after empty buckets: the lower bound is the previous bound.
        let gap = [(0.1, 0.0), (0.2, 0.0), (0.4, 4.0), (f64::INFINITY, 4.0)];
        let p50 = bucket_quantile(0.5, &gap, 0.3);
        assert_eq!((p50.lower, p50.upper, p50.estimate), (Some(0.2), 0.4, 0.2 + 0.2 * 2.0 / 4.0));
        assert_eq!(p50.describe("p50", " s"), "p50 in (0.2, 0.4] s");
    }
}
