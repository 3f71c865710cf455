//! CSV and Markdown. CSV has one row for the whole input (`group` = `all`) and, with
//! `--group-by`, one row per group; its columns are the summary record's fields flattened with
//! dots (`ttft_ms.p99`), so a column means the same thing as the JSON key of that name.

use crate::aggregate::Totals;
use crate::render::text::table_cells;
use crate::report::{flatten, totals_json, Report};
use anyhow::Result;
use serde_json::Value;

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn rows(r: &Report) -> Vec<(String, &Totals)> {
    let mut rows = vec![("all".to_string(), &r.total)];
    rows.extend(r.groups.iter().map(|(k, t)| (k.clone(), t)));
    rows
}

pub fn csv(r: &Report) -> Result<String> {
    let flat: Vec<(String, Vec<(String, Value)>)> =
        rows(r).into_iter().map(|(k, t)| (k, flatten(&totals_json(t)))).collect();
    // Columns: the union over rows in first-seen order (failure classes differ between groups).
    let mut columns: Vec<String> = Vec::new();
    for (_, f) in &flat {
        for (k, _) in f {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let group_col = r.group_by.clone().unwrap_or_else(|| "group".into());
    let mut header = vec![group_col];
    header.extend(columns.iter().cloned());
    w.write_record(&header)?;
    for (k, f) in &flat {
        let mut rec = vec![k.clone()];
        for c in &columns {
            rec.push(f.iter().find(|(n, _)| n == c).map_or(String::new(), |(_, v)| cell(v)));
        }
        w.write_record(&rec)?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

pub fn md_table(header: &[String], body: &[Vec<String>]) -> String {
    let mut out = String::new();
    out.push_str(&format!("| {} |\n", header.iter().map(|h| md_escape(h)).collect::<Vec<_>>().join(" | ")));
    out.push_str(&format!(
        "|{}|\n",
        header.iter().enumerate().map(|(i, _)| if i == 0 { "---" } else { "---:" }).collect::<Vec<_>>().join("|")
    ));
    for r in body {
        out.push_str(&format!("| {} |\n", r.iter().map(|c| md_escape(c)).collect::<Vec<_>>().join(" | ")));
    }
    out
}

pub fn md(r: &Report) -> String {
    let t = &r.total;
    let mut out = String::new();
    if !r.trustworthy() {
        out.push_str("> **Run not trustworthy**: the load generator did not keep its schedule.\n");
        for p in &r.load.problems {
            out.push_str(&format!("> - {}\n", md_escape(p)));
        }
        out.push('\n');
    }
    let mut body: Vec<Vec<String>> = vec![
        vec!["Successful requests".into(), t.completed.to_string()],
        vec!["Failed requests".into(), t.failed.to_string()],
        vec!["Benchmark duration (s)".into(), format!("{:.2}", t.duration_s)],
        vec!["Total input tokens".into(), t.total_input_tokens.to_string()],
        vec!["Total generated tokens".into(), t.total_output_tokens.to_string()],
        vec!["Request throughput (req/s)".into(), format!("{:.2}", t.request_throughput)],
    ];
    if let Some(g) = t.request_goodput {
        body.push(vec![format!("Request goodput (req/s), {}", r.slo.describe()), format!("{g:.2}")]);
    }
    body.push(vec!["Output token throughput (tok/s)".into(), format!("{:.2}", t.output_throughput)]);
    body.push(vec!["Peak output token throughput (tok/s)".into(), format!("{:.2}", t.max_output_tokens_per_s)]);
    body.push(vec!["Peak concurrent requests".into(), t.max_concurrent_requests.to_string()]);
    body.push(vec!["Total token throughput (tok/s)".into(), format!("{:.2}", t.total_token_throughput)]);
    let mut lat = |name: &str, s: &crate::stats::Stats| {
        body.push(vec![format!("Mean {name} (ms)"), format!("{:.2}", s.mean)]);
        body.push(vec![format!("Median {name} (ms)"), format!("{:.2}", s.median)]);
        for (p, v) in &s.percentiles {
            body.push(vec![format!("{} {name} (ms)", crate::report::pct_name(*p).to_uppercase()), format!("{v:.2}")]);
        }
    };
    for l in &crate::aggregate::LATENCIES {
        lat(l.label, (l.of)(t));
    }
    for (class, f) in &t.failures {
        body.push(vec![format!("Failed: {class}"), f.count.to_string()]);
    }
    out.push_str(&md_table(&["Metric".into(), "Value".into()], &body));
    let goodput = !r.slo.is_empty();
    for (title, key, rows) in [("Per stage", "stage", &r.stages), ("Per turn", "turn", &r.turns)] {
        if !rows.is_empty() {
            let (h, b) = table_cells(key, rows, &r.percentiles, goodput);
            out.push_str(&format!("\n**{title}**\n\n{}", md_table(&h, &b)));
        }
    }
    if let Some(by) = &r.group_by {
        let (h, b) = table_cells(by, &r.groups, &r.percentiles, goodput);
        out.push_str(&format!("\n**By {}**\n\n{}", md_escape(by), md_table(&h, &b)));
    }
    for w in &r.warnings {
        out.push_str(&format!("\n> Warning: {}\n", md_escape(w)));
    }
    out
}
