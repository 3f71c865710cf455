//! `--format html`: one self-contained HTML file to keep beside the results and open anywhere:
//! inline CSS and inline SVG charts, no script, nothing fetched (a Content-Security-Policy of
//! `default-src 'none'` says so to the browser, which then refuses any fetch and logs it).
//!
//! It holds what the text report holds, in the same words: the run's self-description and the
//! verdict, vLLM's "Serving Benchmark Result" block (one per group with `--group-by`), the
//! breakdown tables, every chart of `--plot`, the load generator's numbers, the server metrics of
//! the window, the warnings and the definitions. docs/report.md, "HTML".

use crate::aggregate::Totals;
use crate::plot::Chart;
use crate::render::text;
use crate::report::Report;
use std::fmt::Write;

const STYLE: &str = "
:root { --fg: #1b1f24; --muted: #5b6570; --line: #d8dde3; --bg: #ffffff; --panel: #f6f8fa;
        --ok: #00734d; --bad: #b3261e; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1240px; padding: 24px 28px 48px; color: var(--fg); background: var(--bg);
       font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 16px 0 6px; }
.about { color: var(--muted); margin: 0 0 16px; }
.verdict { padding: 12px 16px; border-radius: 6px; margin: 12px 0; border: 1px solid; }
.verdict.ok { color: var(--ok); border-color: var(--ok); background: #eef8f3; }
.verdict.bad { color: var(--bad); border-color: var(--bad); background: #fdf0ef; }
.verdict.warn { color: var(--warn); border-color: var(--warn); background: #fdf6e8; }
.verdict ul { margin: 6px 0 0; padding-left: 20px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 14px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
table.kv td:first-child { color: var(--muted); white-space: nowrap; }
table.kv td, table.kv th { text-align: left; }
code, pre { font-family: ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 13px; }
td code { overflow-wrap: anywhere; }
pre.block { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
            margin: 0; overflow-x: auto; }
.blocks { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.scroll { overflow-x: auto; }
figure { margin: 0 0 20px; }
figure svg { display: block; width: 100%; height: auto; max-width: 1100px; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 13px; }
.charts { display: flex; flex-direction: column; gap: 8px; }
ul.warnings li { color: var(--warn); margin: 2px 0; }
p.definitions { color: var(--muted); font-size: 13px; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
";

/// `&`, `<`, `>`, `"` and `'` as entities: every text from the input goes through here.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn kv_table(out: &mut String, rows: &[(String, String)]) {
    out.push_str("<table class=\"kv\">\n");
    for (k, v) in rows {
        let _ = writeln!(out, "<tr><td>{}</td><td>{}</td></tr>", esc(k), v);
    }
    out.push_str("</table>\n");
}

fn table(out: &mut String, header: &[String], body: &[Vec<String>]) {
    out.push_str("<div class=\"scroll\"><table>\n<tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>\n");
    for r in body {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{}</td>", esc(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
}

fn breakdown(out: &mut String, title: &str, key: &str, rows: &[(String, Totals)], r: &Report) {
    let (h, b) = text::table_cells(key, rows, &r.percentiles, !r.slo.is_empty());
    let _ = writeln!(out, "<h3>{}</h3>", esc(title));
    table(out, &h, &b);
}

/// The whole page. `charts`: every chart of the report, as `--plot` draws them.
pub fn render(r: &Report, charts: &[Chart]) -> String {
    let mut out = String::with_capacity(64 << 10);
    let about = charts_about(r);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // No script, no fetch: everything is in this file. The browser enforces it.
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n",
    );
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>{}</title>", esc(&format!("servebench report: {about}")));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(out, "<h1>servebench report</h1>\n<p class=\"about\">{}</p>", esc(&about));

    verdict(&mut out, r);
    run_section(&mut out, r);

    out.push_str("<h2>Serving benchmark result</h2>\n<div class=\"blocks\">\n");
    match &r.group_by {
        Some(by) if text::per_group_blocks(r) => {
            for (k, t) in &r.groups {
                let mut b = String::new();
                text::block_titled(&mut b, &text::group_title(by, k), t, r, false);
                let _ = writeln!(out, "<pre class=\"block\">{}</pre>", esc(&b));
            }
        }
        _ => {
            let mut b = String::new();
            text::block_titled(&mut b, " Serving Benchmark Result ", &r.total, r, true);
            let _ = writeln!(out, "<pre class=\"block\">{}</pre>", esc(&b));
        }
    }
    out.push_str("</div>\n");
    if let Some(by) = &r.group_by {
        if !text::per_group_blocks(r) && !r.groups.is_empty() {
            let _ = writeln!(
                out,
                "<p class=\"about\">{} groups: the block above is all of them together; the table below has one row each.</p>",
                r.groups.len()
            );
        }
        breakdown(&mut out, &format!("By {by}"), by, &r.groups, r);
    }
    if !r.stages.is_empty() {
        breakdown(&mut out, "Per stage", "stage", &r.stages, r);
    }
    if !r.turns.is_empty() {
        breakdown(&mut out, &format!("Per turn ({} sessions)", r.sessions), "turn", &r.turns, r);
    }

    if !charts.is_empty() {
        out.push_str("<h2>Charts</h2>\n<div class=\"charts\">\n");
        for c in charts {
            let _ = writeln!(
                out,
                "<figure id=\"{}\">{}<figcaption>{} ({})</figcaption></figure>",
                esc(c.file.trim_end_matches(".svg")),
                svg_body(&c.svg),
                esc(&c.title),
                esc(c.file)
            );
        }
        out.push_str("</div>\n");
    }

    load_section(&mut out, r);
    server_section(&mut out, r);

    if !r.warnings.is_empty() {
        out.push_str("<h2>Warnings</h2>\n<ul class=\"warnings\">\n");
        for w in &r.warnings {
            let _ = writeln!(out, "<li>{}</li>", esc(w));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<h2>Definitions</h2>\n");
    for line in text::definitions(r).lines() {
        let _ = writeln!(out, "<p class=\"definitions\">{}</p>", esc(line));
    }
    let inputs = r.inputs.join(", ");
    let _ = writeln!(
        out,
        "<footer>sb-report {} · inputs: {}</footer>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION"),
        esc(&inputs)
    );
    out
}

/// The model, rate and run, as in the chart titles.
fn charts_about(r: &Report) -> String {
    let about = crate::plot::about(r);
    if about.is_empty() {
        format!("{} results", r.total.completed + r.total.failed)
    } else {
        about
    }
}

fn verdict(out: &mut String, r: &Report) {
    if r.trustworthy() {
        // sb-load's own verdict (errors over its limit, an interrupted run) does not make the
        // numbers suspect, but it is not "all well" either.
        let class = if r.load.notes.is_empty() { "ok" } else { "warn" };
        let _ = write!(
            out,
            "<div class=\"verdict {class}\"><strong>Schedule kept</strong>: the load generator sent on time"
        );
        if r.load.records == 0 {
            out.push_str(" (no run record in the input: nothing says otherwise)");
        }
        out.push('.');
    } else {
        out.push_str(
            "<div class=\"verdict bad\"><strong>RUN NOT TRUSTWORTHY</strong>: the load generator did not keep its \
             schedule, so these numbers measure the client as much as the server.<ul>",
        );
        for p in &r.load.problems {
            let _ = write!(out, "<li>{}</li>", esc(p));
        }
        out.push_str("</ul>");
    }
    if !r.load.notes.is_empty() {
        out.push_str("<ul>");
        for n in &r.load.notes {
            let _ = write!(out, "<li>{}</li>", esc(n));
        }
        out.push_str("</ul>");
    }
    out.push_str("</div>\n");
}

fn run_section(out: &mut String, r: &Report) {
    let (common, runs) = text::run_rows(r);
    if runs.is_empty() {
        return;
    }
    out.push_str("<h2>Run</h2>\n");
    let cell = |k: &str, v: &str| if k == "Command" { format!("<code>{}</code>", esc(v)) } else { esc(v) };
    let mut rows: Vec<(String, String)> = Vec::new();
    if let [(run, _)] = runs.as_slice() {
        rows.push(("Run".into(), esc(run)));
    }
    rows.extend(common.iter().map(|(k, v)| (k.to_string(), cell(k, v))));
    if let [(_, own)] = runs.as_slice() {
        rows.extend(own.iter().map(|(k, v)| (k.to_string(), cell(k, v))));
    }
    kv_table(out, &rows);
    if runs.len() > 1 {
        // What differs between the runs (the command line of each sweep point, say), a row each.
        let mut columns: Vec<&str> = Vec::new();
        for (_, own) in &runs {
            for (k, _) in own {
                if !columns.contains(k) {
                    columns.push(k);
                }
            }
        }
        out.push_str("<div class=\"scroll\"><table class=\"kv\">\n<tr><th>Run</th>");
        for c in &columns {
            let _ = write!(out, "<th>{}</th>", esc(c));
        }
        out.push_str("</tr>\n");
        for (run, own) in runs.iter().take(MAX_RUN_ROWS) {
            let _ = write!(out, "<tr><td>{}</td>", esc(run));
            for c in &columns {
                let v = own.iter().find(|(k, _)| k == c).map_or(String::new(), |(k, v)| cell(k, v));
                let _ = write!(out, "<td>{v}</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table></div>\n");
        if runs.len() > MAX_RUN_ROWS {
            let _ = writeln!(out, "<p class=\"about\">… and {} more runs</p>", runs.len() - MAX_RUN_ROWS);
        }
    }
}

/// Runs listed one a row in the Run section.
const MAX_RUN_ROWS: usize = 50;

fn load_section(out: &mut String, r: &Report) {
    let l = &r.load;
    if l.records == 0 {
        return;
    }
    out.push_str("<h2>Load generator</h2>\n");
    let mut rows: Vec<(String, String)> = Vec::new();
    let f2 = |v: f64| format!("{v:.2}");
    let mut push = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            rows.push((k.to_string(), esc(&v)));
        }
    };
    push("Stages", (!l.stages.is_empty()).then(|| l.stages.join(", ")));
    push("Target rate (req/s)", l.target_rate.map(f2));
    push("Achieved rate (req/s)", l.achieved_rate.map(f2));
    push("Maximum concurrency", l.max_concurrency.map(|c| c.to_string()));
    push("Send lateness P50 (ms)", l.lateness_p50_ms.map(f2));
    push("Send lateness P99 (ms)", l.lateness_p99_ms.map(f2));
    push("Send lateness max (ms)", l.lateness_max_ms.map(f2));
    if let (Some(s), Some(e)) = (l.started_ns, l.ended_ns) {
        push("Run wall time (s)", Some(f2(e.saturating_sub(s) as f64 / 1e9)));
    }
    for (k, v) in &l.other {
        if crate::meta::KEYS.contains(&k.as_str()) {
            continue;
        }
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        push(k, Some(text));
    }
    push("Schedule", Some(if l.problems.is_empty() { "kept".into() } else { "NOT KEPT (run not trustworthy)".into() }));
    kv_table(out, &rows);
}

fn server_section(out: &mut String, r: &Report) {
    if r.server.is_empty() {
        return;
    }
    out.push_str("<h2>Server metrics (run window)</h2>\n");
    if let Some((s, e)) = r.window_ns {
        let _ = writeln!(
            out,
            "<p class=\"about\">Window {:.2} s, first send to last response.</p>",
            e.saturating_sub(s) as f64 / 1e9
        );
    }
    let header: Vec<String> = ["metric", "labels", "type", "value"].iter().map(|s| s.to_string()).collect();
    let body: Vec<Vec<String>> = r
        .server
        .iter()
        .map(|m| {
            let (ty, value) = m.value.describe(&m.metric, " · ", " · ");
            vec![m.metric.clone(), m.labels.clone(), ty.to_string(), value]
        })
        .collect();
    table(out, &header, &body);
}

/// The `<svg>` element of a plotters document (no XML declaration inside HTML).
fn svg_body(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_break_out() {
        assert_eq!(esc("<script>\"a\" & 'b'</script>"), "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;");
        assert_eq!(svg_body("<?xml version=\"1.0\"?>\n<svg a=1></svg>"), "<svg a=1></svg>");
    }
}
