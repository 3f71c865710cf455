//! `--compare A B`: two runs side by side with the change, metric by metric. Either side may be
//! a result stream or the result JSON of `vllm bench serve --save-result`, so a servebench run
//! can be put next to the vLLM run it reproduces.

use crate::render::table::md_table;
use crate::report::{flatten, object, pct_name, Report};
use anyhow::{bail, Result};
use sb_records::summary::{self, Compared, Comparison, Sides};
use serde_json::{json, Map, Value};
use std::fmt::Write;

/// One side of a comparison: its name, its metrics as flattened summary keys, and the whole
/// summary for `--format json`.
pub struct Side {
    pub name: String,
    pub flat: Vec<(String, Value)>,
    pub summary: Value,
    pub warnings: Vec<String>,
    pub trustworthy: bool,
}

impl Side {
    /// Result records summarised here: the same as the summary `--format json` writes of them.
    pub fn of_report(name: &str, r: &Report) -> Side {
        Side::of_summary(name, &r.to_summary())
    }

    /// A summary `sb-report --format json` wrote before.
    pub fn of_summary(name: &str, r: &summary::Report) -> Side {
        Side {
            name: name.to_string(),
            flat: flatten(&object(&r.totals)),
            summary: serde_json::to_value(r).expect("a summary serializes"),
            warnings: r.warnings.clone(),
            trustworthy: r.trustworthy,
        }
    }

    /// A vLLM result JSON, its keys renamed to ours (docs/metrics.md has both names).
    pub fn of_vllm(name: &str, v: &Map<String, Value>) -> Side {
        let mut flat: Vec<(String, Value)> = Vec::new();
        let plain = [
            ("completed", "completed"),
            ("failed", "failed"),
            ("duration", "duration_s"),
            ("total_input_tokens", "total_input_tokens"),
            ("total_output_tokens", "total_output_tokens"),
            ("request_throughput", "request_throughput"),
            ("request_goodput", "request_goodput"),
            ("output_throughput", "output_throughput"),
            ("total_token_throughput", "total_token_throughput"),
            ("max_output_tokens_per_s", "max_output_tokens_per_s"),
            ("max_concurrent_requests", "max_concurrent_requests"),
        ];
        for (theirs, ours) in plain {
            if let Some(x) = v.get(theirs).filter(|x| x.is_number()) {
                flat.push((ours.to_string(), x.clone()));
            }
        }
        let num = |k: &str| v.get(k).and_then(Value::as_f64);
        if let (Some(ok), Some(failed)) = (num("completed"), num("failed")) {
            if ok + failed > 0.0 {
                flat.push(("failure_rate".into(), json!(failed / (ok + failed))));
            }
        }
        let metrics = [
            ("ttft", "ttft_ms"),
            ("tpot", "tpot_ms"),
            ("itl", "itl_ms"),
            ("e2el", "e2el_ms"),
            ("client_queue_time", "client_queue_ms"),
            ("e2el_including_client_queue", "e2el_from_scheduled_ms"),
        ];
        for (key, x) in v {
            let Some(rest) = key.strip_suffix("_ms") else { continue };
            let Some((stat, metric)) = rest.split_once('_') else { continue };
            let Some((_, ours)) = metrics.iter().find(|(theirs, _)| *theirs == metric) else { continue };
            let stat_ok = ["mean", "median", "std"].contains(&stat)
                || stat.strip_prefix('p').is_some_and(|p| p.parse::<f64>().is_ok());
            if stat_ok && x.is_number() {
                flat.push((format!("{ours}.{stat}"), x.clone()));
            }
        }
        Side {
            name: name.to_string(),
            flat,
            summary: Value::Object(v.clone()),
            warnings: Vec::new(),
            trustworthy: true,
        }
    }

    fn get(&self, key: &str) -> Option<f64> {
        self.flat.iter().find(|(n, _)| n == key).and_then(|(_, v)| v.as_f64())
    }
}

/// The JSON object of a vLLM result file, if `text` is one (not a stream of records).
/// `--append-result` files hold one object a line: those must be split first.
pub fn vllm_result(name: &str, text: &str) -> Result<Option<Map<String, Value>>> {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if first.contains("\"kind\"") {
        return Ok(None);
    }
    let values: Vec<Value> = match serde_json::Deserializer::from_str(text).into_iter::<Value>().collect() {
        Ok(v) => v,
        Err(_) => return Ok(None),
    };
    let objects: Vec<&Map<String, Value>> = values.iter().filter_map(Value::as_object).collect();
    if objects.is_empty() || !objects.iter().all(|o| o.contains_key("duration") && o.contains_key("completed")) {
        return Ok(None);
    }
    if objects.len() > 1 {
        bail!("{name}: holds {} vLLM results (--append-result); compare one at a time", objects.len());
    }
    Ok(Some(objects[0].clone()))
}

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
    for m in crate::aggregate::LATENCIES.iter().map(|l| l.key) {
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

/// Rows for every metric either side has.
pub fn rows(a: &Side, b: &Side, percentiles: &[f64], goodput: bool) -> Vec<Row> {
    keys(percentiles, goodput)
        .into_iter()
        .map(|k| Row { a: a.get(&k), b: b.get(&k), metric: k })
        .filter(|r| r.a.is_some() || r.b.is_some())
        .collect()
}

/// Two decimals; float noise around zero (`-0.00`) prints as `0.00`.
fn n(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{:.2}", if x.abs() < 0.005 { 0.0 } else { x }))
}

/// Counts print as integers, everything else with two decimals (as vLLM's block).
fn cell(metric: &str, v: Option<f64>) -> String {
    let count = ["completed", "failed", "total_input_tokens", "total_output_tokens", "max_concurrent_requests"]
        .contains(&metric);
    match v {
        Some(x) if count => format!("{:.0}", if x.abs() < 0.5 { 0.0 } else { x }),
        other => n(other),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{:+.1}%", if x.abs() < 0.05 { 0.0 } else { x }))
}

pub fn text(a: &Side, b: &Side, rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "A: {}\nB: {}", a.name, b.name);
    let w = rows.iter().map(|r| r.metric.len()).max().unwrap_or(6).max(6);
    let _ = writeln!(out, "{:<w$}  {:>12}  {:>12}  {:>12}  {:>9}", "metric", "A", "B", "B-A", "change");
    for r in rows {
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
    for (name, side) in [("A", a), ("B", b)] {
        for w in &side.warnings {
            let _ = writeln!(out, "WARNING ({name}): {w}");
        }
    }
    out
}

pub fn md(a: &Side, b: &Side, rows: &[Row]) -> String {
    let header =
        vec!["Metric".to_string(), format!("A ({})", a.name), format!("B ({})", b.name), "B-A".into(), "Change".into()];
    let body: Vec<Vec<String>> = rows
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

pub fn csv(rows: &[Row]) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["metric", "a", "b", "change", "change_pct"])?;
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    for r in rows {
        w.write_record([r.metric.clone(), opt(r.a), opt(r.b), opt(r.change()), opt(r.change_pct())])?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

pub fn json(a: &Side, b: &Side, rows: &[Row]) -> Comparison {
    Comparison {
        compare: Sides { a: a.name.clone(), b: b.name.clone() },
        metrics: rows
            .iter()
            .map(|r| Compared {
                metric: r.metric.clone(),
                a: r.a,
                b: r.b,
                change: r.change(),
                change_pct: r.change_pct(),
            })
            .collect(),
        a: a.summary.clone(),
        b: b.summary.clone(),
    }
}
