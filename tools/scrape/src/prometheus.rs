//! Prometheus mode: one `query_range` per query over the window, raw values out as samples.
//!
//! Values are written as Prometheus returns them (counters as counters, histograms as their
//! `_bucket/_sum/_count` series), so `sb-report` computes deltas and rates itself with its own,
//! documented formulas instead of PromQL's extrapolating `rate()`.

use crate::expfmt::parse_value;
use crate::presets::Query;
use crate::sink::{Outcome, Sink};
use crate::window::ns_to_secs_string;
use sb_records::ndjson::is_broken_pipe;
use sb_records::{Sample, SampleSource, Window};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

/// Prometheus refuses a range query with more than 11,000 points per series
/// (`exceeded maximum resolution of 11,000 points per timeseries`).
pub const MAX_POINTS: u64 = 11_000;

/// The step to query with: the one asked for, made coarse enough to stay under [`MAX_POINTS`],
/// in whole milliseconds (the API's resolution).
pub fn choose_step(window: Window, wanted: Duration) -> Duration {
    let span_ms = window.end_ns.saturating_sub(window.start_ns).div_ceil(1_000_000);
    let min_ms = span_ms.div_ceil(MAX_POINTS).max(1);
    let wanted_ms = (wanted.as_millis() as u64).max(1);
    Duration::from_millis(wanted_ms.max(min_ms))
}

/// Points a series present over the whole window has: `start, start+step, ... <= end`.
pub fn expected_points(window: Window, step: Duration) -> u64 {
    let step_ns = (step.as_millis() as u64).max(1) * 1_000_000;
    // The API works in milliseconds: the window's ends as sent.
    let span_ns = (window.end_ns / 1_000_000 - window.start_ns / 1_000_000) * 1_000_000;
    span_ns / step_ns + 1
}

pub struct Config {
    /// Base URL of the server, e.g. `http://prometheus:9090` (a path prefix is kept).
    pub base_url: String,
    pub window: Window,
    pub step: Duration,
    pub timeout: Duration,
    /// Sent with every request (`--header`).
    pub headers: reqwest::header::HeaderMap,
    /// Largest body read from one query (`--max-body-mib`).
    pub max_body: usize,
}

/// The API's response envelope (`docs/querying/api.md`).
#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    infos: Vec<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    /// Parsed straight into series: a range query's answer can be hundreds of MB.
    Matrix(Vec<Series>),
    // Other kinds are only named in the error: their content is skipped, not read.
    Vector(#[allow(dead_code)] serde::de::IgnoredAny),
    Scalar(#[allow(dead_code)] serde::de::IgnoredAny),
    String(#[allow(dead_code)] serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct Series {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
    #[serde(default)]
    histograms: Vec<serde_json::Value>,
}

/// Runs every query in turn, writing each result as it arrives. A failed query is reported and
/// the next one still runs; an unreachable server stops the run (every query would fail alike).
pub async fn run<W: Write>(cfg: &Config, queries: &[Query], sink: &mut Sink<W>) -> anyhow::Result<Outcome> {
    let client = reqwest::Client::builder().timeout(cfg.timeout).default_headers(cfg.headers.clone()).build()?;
    let url = format!("{}/api/v1/query_range", cfg.base_url.trim_end_matches('/'));
    let mut outcome = Outcome::default();
    let mut empty: Vec<String> = Vec::new();
    let mut gappy = 0usize;
    let (start, end) = (ns_to_secs_string(cfg.window.start_ns), ns_to_secs_string(cfg.window.end_ns));
    let step = format!("{:.3}", cfg.step.as_secs_f64());
    for (i, query) in queries.iter().enumerate() {
        let form = [("query", query.promql.as_str()), ("start", &start), ("end", &end), ("step", &step)];
        let response = match client.post(&url).form(&form).send().await {
            Ok(r) => r,
            Err(e) => {
                let left = queries.len() - i;
                outcome.fail(format!(
                    "cannot reach Prometheus at {}: {}; {left} of {} queries not run",
                    cfg.base_url,
                    error_chain(&e),
                    queries.len()
                ));
                break;
            }
        };
        let status = response.status();
        let body = match crate::body::read_capped(response, cfg.max_body).await {
            Ok(b) => b,
            Err(e) => {
                outcome.fail(format!("query {:?}: reading the response failed: {e}", query.promql));
                continue;
            }
        };
        let envelope: Envelope = match serde_json::from_str(&body) {
            Ok(env) => env,
            Err(e) => {
                // A proxy or an auth layer answering instead of Prometheus, or a layout this
                // version does not know.
                let snippet = sb_cli::printable(&body.trim().chars().take(200).collect::<String>());
                outcome.fail(format!(
                    "query {:?}: cannot read the answer (HTTP {status} from {url}: {e}): {snippet}",
                    query.promql
                ));
                continue;
            }
        };
        // Warnings mean the answer may be incomplete (a partial response from a federated or
        // remote-read store): a failure. Infos are hints about the query itself.
        for w in &envelope.warnings {
            outcome.fail(format!("query {:?}: Prometheus warns: {w}", query.promql));
        }
        for info in &envelope.infos {
            eprintln!("sb-scrape: query {:?}: Prometheus notes: {info}", query.promql);
        }
        if envelope.status != "success" {
            outcome.fail(format!(
                "query {:?} failed: {}: {}",
                query.promql,
                envelope.error_type.as_deref().unwrap_or("error"),
                envelope.error.as_deref().unwrap_or("(no error text)")
            ));
            continue;
        }
        let Some(data) = envelope.data else {
            outcome.fail(format!("query {:?}: success without data", query.promql));
            continue;
        };
        let series = match data {
            Data::Matrix(series) => series,
            other => {
                let kind = match other {
                    Data::Vector(_) => "vector",
                    Data::Scalar(_) => "scalar",
                    _ => "string",
                };
                outcome.fail(format!("query {:?}: expected a matrix result, got a {kind}", query.promql));
                continue;
            }
        };
        if series.is_empty() {
            empty.push(query.promql.clone());
        }
        let expected = expected_points(cfg.window, cfg.step);
        gappy += series.iter().filter(|s| s.histograms.is_empty() && (s.values.len() as u64) < expected).count();
        let written = write_series(cfg, query, series, sink, &mut outcome);
        if let Err(e) = written.and_then(|_| sink.flush()) {
            if is_broken_pipe(&e) {
                outcome.stdout_closed = true;
                return Ok(outcome);
            }
            return Err(e.into());
        }
    }
    if gappy > 0 {
        eprintln!(
            "sb-scrape: {gappy} series have no value at some steps of the window (target down or restarted, \
             or no data that far back); what exists was written"
        );
    }
    if !empty.is_empty() {
        eprintln!(
            "sb-scrape: {} of {} queries returned no series in the window (metric not scraped, or selectors match nothing):",
            empty.len(),
            queries.len()
        );
        for q in &empty {
            eprintln!("    {q}");
        }
    }
    Ok(outcome)
}

fn write_series<W: Write>(
    cfg: &Config,
    query: &Query,
    series: Vec<Series>,
    sink: &mut Sink<W>,
    outcome: &mut Outcome,
) -> std::io::Result<()> {
    for s in series {
        if !s.histograms.is_empty() {
            outcome.fail(format!(
                "query {:?}: {} native-histogram points skipped (not supported; query the classic _bucket series)",
                query.promql,
                s.histograms.len()
            ));
        }
        let mut labels = s.metric;
        let name = labels.remove("__name__").or_else(|| query.name.clone()).unwrap_or_else(|| query.promql.clone());
        let metric_type = query.type_of(&name).map(|k| k.as_str().to_string());
        for (t, v) in s.values {
            let Some(value) = parse_value(&v) else {
                outcome.fail(format!("query {:?}: bad sample value {v:?}", query.promql));
                continue;
            };
            sink.push(&Sample {
                metric: name.clone(),
                labels: labels.clone(),
                ts_ns: (t * 1000.0).round() as u64 * 1_000_000,
                value,
                source: SampleSource::Prometheus,
                metric_type: metric_type.clone(),
                window: Some(cfg.window),
                target: Some(query.promql.clone()),
            })?;
        }
    }
    Ok(())
}

/// The innermost cause of an error: reqwest wraps `Connection refused` three levels deep in
/// text that repeats the URL the message already names.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(s) = last.source() {
        last = s;
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_stays_under_the_point_limit() {
        let w = |secs: u64| Window { start_ns: 1_000_000_000_000, end_ns: 1_000_000_000_000 + secs * 1_000_000_000 };
        assert_eq!(choose_step(w(600), Duration::from_secs(15)), Duration::from_secs(15));
        assert_eq!(choose_step(w(600), Duration::from_millis(1)), Duration::from_millis(55));
        // A week at 15 s would be 40,320 points: the step grows to ceil(604800/11000) s.
        let week = choose_step(w(7 * 86400), Duration::from_secs(15));
        assert_eq!(week, Duration::from_millis(54_982));
        assert!(7 * 86400 * 1000 / week.as_millis() as u64 <= MAX_POINTS);
        assert_eq!(choose_step(w(0), Duration::ZERO), Duration::from_millis(1));
    }

    #[test]
    fn points_expected_in_a_window() {
        let w = Window { start_ns: 10_000_000_000, end_ns: 70_000_000_000 };
        assert_eq!(expected_points(w, Duration::from_secs(15)), 5);
        assert_eq!(expected_points(w, Duration::from_secs(7)), 9);
        assert_eq!(expected_points(Window { start_ns: 5, end_ns: 5 }, Duration::from_secs(1)), 1);
    }

    #[test]
    fn docs_example_matrix_parses_into_series() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/scrape/prometheus/query_range-docs-example.json");
        let env: Envelope = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(env.status, "success");
        let Some(Data::Matrix(series)) = env.data else { panic!("a matrix") };
        assert_eq!(series.len(), 2);
        assert_eq!(series[1].metric["job"], "node");
        assert_eq!(series[1].values[2], (1435781460.781, "1".to_string()));

        let cfg = Config {
            base_url: "http://x".into(),
            window: Window { start_ns: 1, end_ns: 2 },
            step: Duration::from_secs(15),
            timeout: Duration::from_secs(1),
            headers: Default::default(),
            max_body: 1 << 20,
        };
        let query = crate::presets::user_query("up");
        let mut sink = Sink::new(Vec::new());
        let mut outcome = Outcome::default();
        write_series(&cfg, &query, series, &mut sink, &mut outcome).unwrap();
        assert_eq!(sink.written, 6);
        sink.flush().unwrap();
    }

    #[test]
    fn vector_answers_are_recognised() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/scrape/prometheus/query-docs-example.json");
        let env: Envelope = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(matches!(env.data, Some(Data::Vector(_))));
    }

    #[test]
    fn error_envelope_parses() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected"}"#;
        let env: Envelope = serde_json::from_str(body).unwrap();
        assert_eq!((env.status.as_str(), env.error_type.as_deref()), ("error", Some("bad_data")));
        assert!(env.error.unwrap().contains("parse error"));
    }
}
