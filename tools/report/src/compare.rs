//! `--compare A B`: two runs side by side with the change, metric by metric.

use crate::render::table::md_table;
use crate::report::{flatten, pct_name, totals_json, Report};
use serde_json::{json, Map, Value};
use std::fmt::Write;

/// The metrics compared: flattened summary keys, in reading order.
fn keys(percentiles: &[f64], goodput: bool) -> Vec<String> {
    let mut k: Vec<String> =
        ["completed", "failed", "failure_rate", "duration_s", "total_input_tokens", "total_output_tokens"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    k.push("request_throughput".into());
    if goodput {
        k.push("request_goodput".into());
    }
    for s in ["output_throughput", "total_token_throughput", "max_output_tokens_per_s", "max_concurrent_requests"] {
        k.push(s.into());
    }
    for m in [
        "ttft_ms",
        "tpot_ms",
        "itl_ms",
        "e2el_ms",
        "ntpot_ms",
        "ttft_text_ms",
        "client_queue_ms",
        "e2el_from_scheduled_ms",
    ] {
        k.push(format!("{m}.mean"));
        k.push(format!("{m}.median"));
        for p in percentiles {
            k.push(format!("{m}.{}", pct_name(*p)));
        }
    }
    k
}

pub struct Row {
    pub metric: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
}

impl Row {
    pub fn change(&self) -> Option<f64> {
        Some(self.b? - self.a?)
    }
    pub fn change_pct(&self) -> Option<f64> {
        let a = self.a?;
        if a == 0.0 {
            return None;
        }
        Some(100.0 * (self.b? - a) / a)
    }
}

pub fn rows(a: &Report, b: &Report) -> Vec<Row> {
    let fa = flatten(&totals_json(&a.total));
    let fb = flatten(&totals_json(&b.total));
    let get = |f: &[(String, Value)], k: &str| f.iter().find(|(n, _)| n == k).and_then(|(_, v)| v.as_f64());
    keys(&a.percentiles, !a.slo.is_empty())
        .into_iter()
        .map(|k| Row { a: get(&fa, &k), b: get(&fb, &k), metric: k })
        .collect()
}

fn n(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.2}"))
}

/// Counts print as integers, everything else with two decimals (as vLLM's block).
fn cell(metric: &str, v: Option<f64>) -> String {
    let count = ["completed", "failed", "total_input_tokens", "total_output_tokens", "max_concurrent_requests"]
        .contains(&metric);
    match v {
        Some(x) if count => format!("{x:.0}"),
        other => n(other),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:+.1}%"))
}

pub fn text(a: &Report, b: &Report, names: (&str, &str)) -> String {
    let rows = rows(a, b);
    let mut out = String::new();
    let _ = writeln!(out, "A: {}\nB: {}", names.0, names.1);
    let w = rows.iter().map(|r| r.metric.len()).max().unwrap_or(6).max(6);
    let _ = writeln!(out, "{:<w$}  {:>12}  {:>12}  {:>12}  {:>9}", "metric", "A", "B", "B-A", "change");
    for r in &rows {
        let _ = writeln!(
            out,
            "{:<w$}  {:>12}  {:>12}  {:>12}  {:>9}",
            r.metric,
            cell(&r.metric, r.a),
            cell(&r.metric, r.b),
            cell(&r.metric, r.change()),
            pct(r.change_pct())
        );
    }
    for (name, rep) in [("A", a), ("B", b)] {
        for w in &rep.warnings {
            let _ = writeln!(out, "WARNING ({name}): {w}");
        }
    }
    out
}

pub fn md(a: &Report, b: &Report, names: (&str, &str)) -> String {
    let header = vec![
        "Metric".to_string(),
        format!("A ({})", names.0),
        format!("B ({})", names.1),
        "B-A".into(),
        "Change".into(),
    ];
    let body: Vec<Vec<String>> = rows(a, b)
        .iter()
        .map(|r| {
            vec![
                r.metric.clone(),
                cell(&r.metric, r.a),
                cell(&r.metric, r.b),
                cell(&r.metric, r.change()),
                pct(r.change_pct()),
            ]
        })
        .collect();
    md_table(&header, &body)
}

pub fn csv(a: &Report, b: &Report) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["metric", "a", "b", "change", "change_pct"])?;
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    for r in rows(a, b) {
        w.write_record([r.metric.clone(), opt(r.a), opt(r.b), opt(r.change()), opt(r.change_pct())])?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

pub fn json(a: &Report, b: &Report, names: (&str, &str)) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("compare".into(), json!({"a": names.0, "b": names.1}));
    let rows: Vec<Value> = rows(a, b)
        .iter()
        .map(|r| json!({"metric": r.metric, "a": r.a, "b": r.b, "change": r.change(), "change_pct": r.change_pct()}))
        .collect();
    m.insert("metrics".into(), Value::Array(rows));
    m.insert("a".into(), Value::Object(a.to_json()));
    m.insert("b".into(), Value::Object(b.to_json()));
    m
}
