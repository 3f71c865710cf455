//! The text summary: vLLM `bench serve`'s "Serving Benchmark Result" block, line for line
//! (`{:<40} {:<10}` rows, titles centred in 50 columns), so that people and scripts used to it
//! read ours the same way; then what vLLM does not print (NTPOT, failures by class, the
//! breakdowns, the generator's verdict, server metrics) in the same style.

use crate::aggregate::Totals;
use crate::generator::LoadInfo;
use crate::report::Report;
use crate::stats::Stats;
use std::fmt::Write;

/// Python's `"{s:{c}^{n}}".format(s=title, n=50, c=fill)`: the odd fill char goes right.
pub fn centre(title: &str, fill: char) -> String {
    let len = title.chars().count();
    if len >= 50 {
        return title.to_string();
    }
    let left = (50 - len) / 2;
    let right = 50 - len - left;
    format!("{}{}{}", fill.to_string().repeat(left), title, fill.to_string().repeat(right))
}

pub fn row(out: &mut String, label: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{:<40} {:<10}", label, value.to_string());
}

fn rowf(out: &mut String, label: &str, value: f64) {
    row(out, label, format!("{value:.2}"));
}

/// vLLM prints `P99`, `P99.9`.
fn pct_word(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{}", p as i64)
    } else {
        format!("{p}")
    }
}

fn latency_section(out: &mut String, title: &str, short: &str, s: &Stats) {
    out.push_str(&centre(title, '-'));
    out.push('\n');
    rowf(out, &format!("Mean {short} (ms):"), s.mean);
    rowf(out, &format!("Median {short} (ms):"), s.median);
    for (p, v) in &s.percentiles {
        rowf(out, &format!("P{} {short} (ms):", pct_word(*p)), *v);
    }
}

/// With `--group-by` and at most this many groups, the headline block is printed per group
/// (a sweep point each); more groups (sessions, say) get only the table.
pub const MAX_GROUP_BLOCKS: usize = 16;

/// Whether the headline is one block per `--group-by` group instead of all groups mixed.
pub fn per_group_blocks(r: &Report) -> bool {
    r.group_by.is_some() && (1..=MAX_GROUP_BLOCKS).contains(&r.groups.len())
}

/// The title of a group's headline block.
pub fn group_title(by: &str, key: &str) -> String {
    format!(" Serving Benchmark Result: {by}={key} ")
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let header = has_header(r);
    if header {
        out.push_str(&run_header(r));
        out.push('\n');
    }
    if !r.trustworthy() {
        out.push_str(&banner(&r.load.problems));
    }
    match &r.group_by {
        Some(by) if per_group_blocks(r) => {
            for (i, (k, t)) in r.groups.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                block_titled(&mut out, &group_title(by, k), t, r, false);
            }
        }
        _ => block(&mut out, &r.total, r),
    }
    if !r.stages.is_empty() {
        out.push('\n');
        out.push_str(&table("Per stage", "stage", &r.stages, &r.percentiles, !r.slo.is_empty()));
    }
    if !r.turns.is_empty() {
        out.push('\n');
        let title = format!("Per turn ({} sessions)", r.sessions);
        out.push_str(&table(&title, "turn", &r.turns, &r.percentiles, !r.slo.is_empty()));
    }
    if let Some(by) = &r.group_by {
        out.push('\n');
        out.push_str(&table(&format!("By {by}"), by, &r.groups, &r.percentiles, !r.slo.is_empty()));
    }
    load_section(&mut out, &r.load, header);
    server_section(&mut out, r);
    out.push_str(&crate::sweep::text(&r.sweeps));
    out.push('\n');
    out.push_str(&definitions(r));
    if !r.warnings.is_empty() {
        out.push('\n');
        for w in &r.warnings {
            let _ = writeln!(out, "WARNING: {w}");
        }
    }
    out
}

/// Whether the run records describe themselves (command, versions, host): then a header says
/// so before the numbers. Older run records print as before.
pub fn has_header(r: &Report) -> bool {
    r.meta.iter().any(|m| {
        m.command.is_some()
            || m.version.is_some()
            || m.git_commit.is_some()
            || m.host.is_some()
            || m.server_version.is_some()
    })
}

/// Distinct run descriptions (shards of one run describe it the same way), with their shards.
pub fn distinct_meta(r: &Report) -> Vec<(crate::meta::RunMeta, Vec<String>)> {
    let mut out: Vec<(crate::meta::RunMeta, Vec<String>)> = Vec::new();
    for m in &r.meta {
        let key = crate::meta::RunMeta { shard: None, ..m.clone() };
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, shards)) => shards.extend(m.shard.clone()),
            None => out.push((key, m.shard.clone().into_iter().collect())),
        }
    }
    out
}

/// What the run records say about themselves: the rows every run agrees on, then per run
/// (`conc-4 (shards 0/2, 1/2)`) the rows that differ. Shards of one run describe it once.
#[allow(clippy::type_complexity)]
pub fn run_rows(r: &Report) -> (Vec<(&'static str, String)>, Vec<(String, Vec<(&'static str, String)>)>) {
    let runs = distinct_meta(r);
    let all: Vec<Vec<(&'static str, String)>> = runs.iter().map(|(m, _)| m.rows()).collect();
    let shared = |row: &(&'static str, String)| all.iter().all(|rows| rows.contains(row));
    let common: Vec<(&'static str, String)> =
        all.first().map(|rows| rows.iter().filter(|x| shared(x)).cloned().collect()).unwrap_or_default();
    let per_run = runs
        .iter()
        .zip(&all)
        .map(|((m, shards), rows)| {
            let shards = if shards.is_empty() { String::new() } else { format!(" (shards {})", shards.join(", ")) };
            (format!("{}{shards}", m.run), rows.iter().filter(|x| !common.contains(x)).cloned().collect())
        })
        .collect();
    (common, per_run)
}

/// Runs described one by one in the text header; more are counted.
const MAX_HEADER_RUNS: usize = 8;

fn run_header(r: &Report) -> String {
    let mut out = String::new();
    out.push_str(&centre(" Run ", '='));
    out.push('\n');
    let (common, runs) = run_rows(r);
    if let [(run, _)] = runs.as_slice() {
        row(&mut out, "Run:", run);
    }
    for (k, v) in &common {
        row(&mut out, &format!("{k}:"), v);
    }
    for (run, own) in runs.iter().take(MAX_HEADER_RUNS) {
        if runs.len() > 1 {
            row(&mut out, "Run:", run);
        }
        for (k, v) in own {
            row(&mut out, &format!("  {k}:"), v);
        }
    }
    if runs.len() > MAX_HEADER_RUNS {
        let _ = writeln!(out, "... and {} more runs", runs.len() - MAX_HEADER_RUNS);
    }
    out
}

fn block(out: &mut String, t: &Totals, r: &Report) {
    block_titled(out, " Serving Benchmark Result ", t, r, true);
}

/// vLLM's block for `t`. `whole_run`: the run-wide settings (concurrency cap, configured rate)
/// apply to these numbers; a group's block shows them only when one run with one stage made
/// every group.
pub fn block_titled(out: &mut String, title: &str, t: &Totals, r: &Report, whole_run: bool) {
    out.push_str(&centre(title, '='));
    out.push('\n');
    row(out, "Successful requests:", t.completed);
    row(out, "Failed requests:", t.failed);
    let settings_apply = whole_run || (r.load.records == 1 && r.load.stages.len() <= 1);
    if let Some(c) = r.load.max_concurrency.filter(|_| settings_apply) {
        row(out, "Maximum request concurrency:", c);
    }
    if let Some(rate) = r.load.target_rate.filter(|x| x.is_finite() && settings_apply) {
        rowf(out, "Request rate configured (RPS):", rate);
    }
    rowf(out, "Benchmark duration (s):", t.duration_s);
    row(out, "Total input tokens:", t.total_input_tokens);
    row(out, "Total generated tokens:", t.total_output_tokens);
    rowf(out, "Request throughput (req/s):", t.request_throughput);
    if let Some(g) = t.request_goodput {
        rowf(out, "Request goodput (req/s):", g);
    }
    rowf(out, "Output token throughput (tok/s):", t.output_throughput);
    rowf(out, "Peak output token throughput (tok/s):", t.max_output_tokens_per_s);
    rowf(out, "Peak concurrent requests:", t.max_concurrent_requests as f64);
    rowf(out, "Total token throughput (tok/s):", t.total_token_throughput);
    // vLLM's --percentile-metrics chooses among these four.
    if r.shows("ttft") {
        latency_section(out, "Time to First Token", "TTFT", &t.ttft);
    }
    if r.shows("tpot") {
        latency_section(out, "Time per Output Token (excl. 1st token)", "TPOT", &t.tpot);
    }
    if r.shows("itl") {
        latency_section(out, "Inter-token Latency", "ITL", &t.itl);
    }
    if r.shows("e2el") {
        latency_section(out, "End-to-end Latency", "E2EL", &t.e2el);
    }
    latency_section(out, "Client-side Queueing", "Client Queue Time", &t.queue);
    latency_section(out, "Queue-inclusive End-to-end Latency", "E2EL incl. Client Queue", &t.e2el_sched);
    latency_section(out, "Normalized Time per Output Token", "NTPOT", &t.ntpot);
    if t.ttft_text.count > 0 {
        latency_section(out, "Time to First Text Token", "TTFT to text", &t.ttft_text);
    }
    if t.failed > 0 {
        out.push_str(&centre("Failures", '-'));
        out.push('\n');
        rowf(out, "Failure rate (%):", 100.0 * t.failure_rate());
        for (class, f) in &t.failures {
            row(out, &format!("{class}:"), f.count);
        }
        for (class, f) in &t.failures {
            for e in &f.examples {
                let _ = writeln!(out, "  {class}: {}", one_line(e, 100));
            }
        }
    }
    if !r.slo.is_empty() {
        out.push_str(&centre("Goodput", '-'));
        out.push('\n');
        row(out, "SLO:", r.slo.describe());
        row(out, "Good requests:", t.good_requests.unwrap_or(0));
        let n = t.completed + t.failed;
        let pct = if n > 0 { 100.0 * t.good_requests.unwrap_or(0) as f64 / n as f64 } else { 0.0 };
        rowf(out, "Goodput (% of requests):", pct);
    }
    out.push_str(&"=".repeat(50));
    out.push('\n');
}

fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.chars().count() > max {
        format!("{}...", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

pub fn banner(problems: &[String]) -> String {
    let mut out = String::new();
    let bar = "!".repeat(50);
    let _ = writeln!(out, "{bar}");
    let _ = writeln!(out, "!! RUN NOT TRUSTWORTHY: the load generator did not keep its schedule,");
    let _ = writeln!(out, "!! so the numbers below measure the client as much as the server.");
    for p in problems {
        let _ = writeln!(out, "!! - {p}");
    }
    let _ = writeln!(out, "{bar}");
    out
}

/// `header`: the run header printed the run's self-description, so it is not repeated here.
fn load_section(out: &mut String, l: &LoadInfo, header: bool) {
    if l.records == 0 {
        return;
    }
    out.push('\n');
    out.push_str(&centre("Load generator", '-'));
    out.push('\n');
    if let Some(v) = l.target_rate {
        rowf(out, "Target rate (req/s):", v);
    }
    if let Some(v) = l.achieved_rate {
        rowf(out, "Achieved rate (req/s):", v);
    }
    if let Some(v) = l.lateness_p50_ms {
        rowf(out, "Send lateness P50 (ms):", v);
    }
    if let Some(v) = l.lateness_p99_ms {
        rowf(out, "Send lateness P99 (ms):", v);
    }
    if let Some(v) = l.lateness_max_ms {
        rowf(out, "Send lateness max (ms):", v);
    }
    if let (Some(s), Some(e)) = (l.started_ns, l.ended_ns) {
        rowf(out, "Run wall time (s):", e.saturating_sub(s) as f64 / 1e9);
    }
    for (k, v) in &l.other {
        if header && crate::meta::KEYS.contains(&k.as_str()) {
            continue;
        }
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(x) if !n.is_i64() && !n.is_u64() => format!("{x:.2}"),
                _ => n.to_string(),
            },
            other => other.to_string(),
        };
        row(out, &format!("{k}:"), text);
    }
    row(out, "Schedule:", if l.problems.is_empty() { "kept" } else { "NOT KEPT (run not trustworthy)" });
}

fn server_section(out: &mut String, r: &Report) {
    if r.server.is_empty() {
        return;
    }
    out.push('\n');
    out.push_str(&centre("Server metrics (run window)", '-'));
    out.push('\n');
    if let Some((s, e)) = r.window_ns {
        rowf(out, "Window (s):", e.saturating_sub(s) as f64 / 1e9);
    }
    for m in &r.server {
        let name = format!("{}{}", m.metric, m.labels);
        let (ty, value) = m.value.describe(&m.metric, " ", "  ");
        let _ = writeln!(out, "{name}  {ty}  {value}");
    }
}

/// Compact number: integers as such, others with up to 4 decimals.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

pub fn definitions(r: &Report) -> String {
    let mut out = String::from(
        "Definitions (docs/metrics.md), as vLLM bench serve: TTFT = first chunk with choices - send; \
         TPOT = (E2EL - TTFT)/(output tokens - 1); ITL = gaps between chunks (per chunk, pooled); \
         E2EL = last chunk - send; NTPOT = E2EL/output tokens; output tokens = usage.completion_tokens \
         (else client count); duration = first send -> last response done; client queue = send - scheduled.\n",
    );
    let t = &r.total;
    let approx: Vec<&str> = [("TTFT", &t.ttft), ("TPOT", &t.tpot), ("ITL", &t.itl), ("E2EL", &t.e2el)]
        .iter()
        .filter(|(_, s)| !s.exact)
        .map(|(n, _)| *n)
        .collect();
    if !approx.is_empty() {
        let _ = writeln!(
            out,
            "Percentiles of {} from an HDR histogram (3 significant digits, within 0.1%); means and std exact.",
            approx.join(", ")
        );
    }
    if !t.peaks_exact {
        out.push_str("Peaks from a 1 ms grid (run too large to keep every event).\n");
    }
    if r.warmup_skipped > 0 {
        let _ = writeln!(out, "Warm-up requests excluded: {}", r.warmup_skipped);
    }
    if t.token_count_mismatches > 0 {
        let _ = writeln!(
            out,
            "Server usage and client token counts disagree on {} requests (server counts used).",
            t.token_count_mismatches
        );
    }
    out
}

/// One row per group/stage/turn: the columns people compare across sweep points.
pub fn table(title: &str, key: &str, rows: &[(String, Totals)], percentiles: &[f64], goodput: bool) -> String {
    let (header, body) = table_cells(key, rows, percentiles, goodput);
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &body {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let mut out = String::new();
    out.push_str(&centre(title, '-'));
    out.push('\n');
    let fmt_row = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == 0 { format!("{c:<w$}", w = widths[i]) } else { format!("{c:>w$}", w = widths[i]) })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let _ = writeln!(out, "{}", fmt_row(&header));
    for r in &body {
        let _ = writeln!(out, "{}", fmt_row(r));
    }
    out
}

/// Header and rows of the breakdown table (shared with the Markdown output).
pub fn table_cells(
    key: &str,
    rows: &[(String, Totals)],
    percentiles: &[f64],
    goodput: bool,
) -> (Vec<String>, Vec<Vec<String>>) {
    let top = percentiles.iter().cloned().fold(f64::NAN, f64::max);
    let p = if top.is_nan() { 99.0 } else { top };
    let pw = pct_word(p);
    let mut header: Vec<String> = vec![key.into(), "ok".into(), "failed".into(), "req/s".into(), "out tok/s".into()];
    if goodput {
        header.push("goodput req/s".into());
    }
    for m in ["TTFT", "TPOT", "ITL", "E2EL"] {
        header.push(format!("{m} mean ms"));
        header.push(format!("{m} P{pw} ms"));
    }
    let pick = |s: &Stats| s.percentiles.iter().find(|(q, _)| *q == p).map_or(0.0, |x| x.1);
    let body = rows
        .iter()
        .map(|(k, t)| {
            let mut r = vec![
                k.clone(),
                t.completed.to_string(),
                t.failed.to_string(),
                format!("{:.2}", t.request_throughput),
                format!("{:.2}", t.output_throughput),
            ];
            if goodput {
                r.push(format!("{:.2}", t.request_goodput.unwrap_or(0.0)));
            }
            for s in [&t.ttft, &t.tpot, &t.itl, &t.e2el] {
                r.push(format!("{:.2}", s.mean));
                r.push(format!("{:.2}", pick(s)));
            }
            r
        })
        .collect();
    (header, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centres_like_python() {
        assert_eq!(centre(" Serving Benchmark Result ", '='), "============ Serving Benchmark Result ============");
        assert_eq!(centre("Time to First Token", '-'), "---------------Time to First Token----------------");
        assert_eq!(
            centre("Time per Output Token (excl. 1st token)", '-'),
            "-----Time per Output Token (excl. 1st token)------"
        );
        assert_eq!(centre("End-to-end Latency", '-'), "----------------End-to-end Latency----------------");
    }

    #[test]
    fn rows_pad_like_python() {
        let mut s = String::new();
        rowf(&mut s, "Benchmark duration (s):", 1.5);
        assert_eq!(s, "Benchmark duration (s):                  1.50      \n");
    }
}
