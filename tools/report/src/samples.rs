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
    Histogram { count: f64, sum: f64, mean: f64, p50: f64, p99: f64 },
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
                p50: histogram_quantile(0.5, &deltas),
                p99: histogram_quantile(0.99, &deltas),
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
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let Some(&(_, total)) = buckets.last() else { return f64::NAN };
    if total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let mut prev_bound = 0.0;
    let mut prev_count = 0.0;
    for &(bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                // The rank falls in the +Inf bucket: the best estimate is the highest finite bound.
                return prev_bound;
            }
            if count == prev_count {
                return bound;
            }
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count);
        }
        prev_bound = bound;
        prev_count = count;
    }
    prev_bound
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
        assert_eq!(h.value, Value::Histogram { count: 4.0, sum: 2.0, mean: 0.5, p50: 0.5, p99: 0.99 });
        let c = out.iter().find(|m| m.metric == "vllm:prompt_tokens_total").unwrap();
        assert_eq!(c.labels, "{engine=\"0\"}");
        assert_eq!(c.value, Value::Counter { delta: 300.0, rate_per_s: 150.0 });
        let g = out.iter().find(|m| m.metric == "vllm:num_requests_running").unwrap();
        assert_eq!(g.value, Value::Gauge { mean: 4.0, max: 6.0, samples: 2 });
    }
}
