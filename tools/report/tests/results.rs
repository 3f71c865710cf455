//! What sb-report shows people (issue 17): the HTML page, the run's self-description, one
//! headline block per group in numeric order, and server histogram quantiles that say which
//! bucket they come from. Run as users run it, on testdata/report's hand-made streams, edited
//! here where a case needs another field.

use sb_testkit::testdata;
use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(testdata(&format!("report/{name}"))).unwrap()
}

/// sb-report with `stdin` piped in; (exit code, stdout, stderr).
fn report(args: &[&str], stdin: &str) -> (i32, String, String) {
    let out = sb_testkit::pipe("sb-report", args, stdin.as_bytes());
    (out.code, out.stdout, out.stderr)
}

/// Each line of an NDJSON stream through `f`.
fn edit(stream: &str, f: impl Fn(&mut Value)) -> String {
    stream
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            f(&mut v);
            v.to_string() + "\n"
        })
        .collect()
}

/// basic.ndjson with the self-describing fields sb-load writes in its run record.
fn described() -> String {
    edit(&fixture("basic.ndjson"), |v| {
        if v["kind"] == "run" {
            let m = v.as_object_mut().unwrap();
            m.insert(
                "command".into(),
                json!([
                    "sb-load",
                    "--url",
                    "http://127.0.0.1:8000",
                    "--model",
                    "Qwen/Qwen3-0.6B",
                    "-H",
                    "Authorization: <redacted>"
                ]),
            );
            m.insert("version".into(), json!("0.1.0"));
            m.insert("git_commit".into(), json!("0123456789abcdef0123"));
            m.insert("host".into(), json!("bench-7"));
            m.insert("server_version".into(), json!("0.11.0"));
        }
    })
}

#[test]
fn text_header_prints_what_the_run_record_says_about_the_run() {
    let (code, out, err) = report(&[], &described());
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "====================== Run =======================");
    for want in [
        "Run:                                     basic",
        "Model:                                   Qwen/Qwen3-0.6B",
        "Server:                                  http://127.0.0.1:8000",
        "Server version:                          0.11.0",
        "Command:                                 sb-load --url http://127.0.0.1:8000 --model Qwen/Qwen3-0.6B -H 'Authorization: <redacted>'",
        "sb-load version:                         0.1.0 (git 0123456789ab)",
        "Host:                                    bench-7",
    ] {
        assert!(lines.iter().any(|l| l.trim_end() == want), "missing {want:?} in\n{out}");
    }
    // Then vLLM's block, and the load section without repeating the header's fields.
    let block = lines.iter().position(|l| *l == "============ Serving Benchmark Result ============").unwrap();
    assert!(block > 7);
    let load = lines.iter().position(|l| l.starts_with("------------------Load generator")).unwrap();
    let load_rows = &lines[load..load + 16];
    assert!(!load_rows.iter().any(|l| l.starts_with("model:") || l.starts_with("url:")), "{load_rows:?}");
    // Without those fields (older run records) the output starts with vLLM's block, as before.
    let (_, plain, _) = report(&[], &fixture("basic.ndjson"));
    assert!(plain.starts_with("============ Serving Benchmark Result ============\n"));
}

/// basic.ndjson's three successful results copied into sweep points tagged conc=16, 4, 64
/// (in that order), each point its own run.
fn sweep() -> String {
    let base = fixture("basic.ndjson");
    let mut out = String::new();
    for (i, conc) in ["16", "4", "64"].iter().enumerate() {
        out += &edit(&base, |v| {
            let shift = i as u64 * 2_000_000_000;
            for k in [
                "scheduled_ns",
                "sent_ns",
                "first_chunk_ns",
                "first_token_ns",
                "end_ns",
                "done_ns",
                "started_ns",
                "ended_ns",
            ] {
                if let Some(t) = v[k].as_u64() {
                    v[k] = json!(t + shift);
                }
            }
            v["run"] = json!(format!("conc-{conc}"));
            if v["kind"] == "result" {
                v["tags"] = json!({"conc": conc});
            }
        });
    }
    out
}

#[test]
fn group_by_prints_one_block_per_group_in_numeric_order() {
    let (code, out, err) = report(&["--group-by", "tags.conc"], &sweep());
    assert_eq!(code, 0, "{err}");
    let titles: Vec<&str> = out.lines().filter(|l| l.contains("Serving Benchmark Result")).collect();
    assert_eq!(
        titles,
        [
            "===== Serving Benchmark Result: tags.conc=4 ======",
            "===== Serving Benchmark Result: tags.conc=16 =====",
            "===== Serving Benchmark Result: tags.conc=64 =====",
        ],
        "{out}"
    );
    // Each block holds its own group's numbers (3 ok, 2 failed each), not the mix (9 and 6).
    assert_eq!(out.matches("Successful requests:                     3         \n").count(), 3, "{out}");
    assert!(!out.contains("Successful requests:                     9"));
    // The table rows in the same order.
    let table = out.split("-----By tags.conc").nth(1).unwrap();
    let keys: Vec<&str> = table.lines().skip(2).take(3).map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(keys, ["4", "16", "64"], "{table}");
    // JSON and CSV rows follow the same order.
    let (_, json, _) = report(&["--group-by", "tags.conc", "--format", "json"], &sweep());
    let v: Value = serde_json::from_str(&json).unwrap();
    let groups: Vec<&str> = v["groups"].as_array().unwrap().iter().map(|g| g["group"].as_str().unwrap()).collect();
    assert_eq!(groups, ["4", "16", "64"]);
}

/// Histogram samples at the start and the end of basic.ndjson's window (epoch ns).
fn histogram_samples(metric: &str, buckets: &[(&str, f64)], sum: f64) -> String {
    let mut out = String::new();
    for (ts, scale) in [(1_699_999_999_500_000_000u64, 0.0), (1_700_000_001_000_000_000, 1.0)] {
        let mut line = |name: String, le: Option<&str>, value: f64| {
            let mut labels = json!({"model_name": "m"});
            if let Some(le) = le {
                labels["le"] = json!(le);
            }
            out += &(json!({"kind": "sample", "v": 1, "metric": name, "labels": labels, "ts_ns": ts,
                "value": value, "source": "endpoint", "type": "histogram"})
            .to_string()
                + "\n");
        };
        for (le, n) in buckets {
            line(format!("{metric}_bucket"), Some(le), n * scale);
        }
        let count = buckets.last().unwrap().1;
        line(format!("{metric}_count"), None, count * scale);
        line(format!("{metric}_sum"), None, sum * scale);
    }
    out
}

#[test]
fn server_histogram_quantiles_name_their_bucket() {
    // vLLM's request_params_n, every request n=1: 5 observations, sum 5.
    let n = [("1", 5.0), ("2", 5.0), ("5", 5.0), ("10", 5.0), ("20", 5.0), ("+Inf", 5.0)];
    // A TTFT histogram whose observations all fall under its first bound: mean 0.0076 s.
    let ttft = [("0.3", 5.0), ("0.5", 5.0), ("+Inf", 5.0)];
    // E2EL: 1 under 0.1, 3 more under 0.5, 1 over 10 s (sum 12.6).
    let e2el = [("0.1", 1.0), ("0.5", 4.0), ("10", 4.0), ("+Inf", 5.0)];
    let input = fixture("basic.ndjson")
        + &histogram_samples("vllm:request_params_n", &n, 5.0)
        + &histogram_samples("vllm:time_to_first_token_seconds", &ttft, 0.038)
        + &histogram_samples("vllm:e2e_request_latency_seconds", &e2el, 12.6);
    let (code, out, err) = report(&[], &input);
    assert_eq!(code, 0, "{err}");
    let line =
        |m: &str| out.lines().find(|l| l.starts_with(m)).unwrap_or_else(|| panic!("no {m} in\n{out}")).to_string();
    // n=1 is 1 exactly (all in the first bucket, mean = its bound), not Prometheus' 0.5.
    assert!(line("vllm:request_params_n").ends_with("mean 1  p50 = 1  p99 = 1"), "{}", line("vllm:request_params_n"));
    // Ranks 2.5 and 4.95 of 5 in the first bucket: no more than its bound.
    assert!(
        line("vllm:time_to_first_token_seconds").ends_with("p50 ≤ 0.3 s (first bucket)  p99 ≤ 0.3 s (first bucket)"),
        "{}",
        line("vllm:time_to_first_token_seconds")
    );
    // p50 rank 2.5 in (0.1, 0.5]; p99 rank 4.95 in +Inf: above 10 s.
    assert!(
        line("vllm:e2e_request_latency_seconds").ends_with("p50 in (0.1, 0.5] s  p99 > 10 s (+Inf bucket)"),
        "{}",
        line("vllm:e2e_request_latency_seconds")
    );
    assert!(!out.contains("p50~"), "no precise-looking estimates");
    // JSON keeps PromQL's number and adds the bucket.
    let (_, json, _) = report(&["--format", "json"], &input);
    let v: Value = serde_json::from_str(&json).unwrap();
    let metric =
        |name: &str| v["server_metrics"].as_array().unwrap().iter().find(|m| m["metric"] == name).unwrap().clone();
    let n = metric("vllm:request_params_n");
    assert_eq!((n["p50"].as_f64(), &n["p50_bucket"]), (Some(1.0), &json!({"gt": null, "le": 1.0, "exact": true})));
    let ttft = metric("vllm:time_to_first_token_seconds");
    assert_eq!(ttft["p50"].as_f64(), Some(0.15), "histogram_quantile interpolates from 0");
    assert_eq!(ttft["p50_bucket"], json!({"gt": null, "le": 0.3, "exact": false}));
    let e2el = metric("vllm:e2e_request_latency_seconds");
    // 0.1 + 0.4 * (2.5 - 1) / 3 = 0.3
    assert!((e2el["p50"].as_f64().unwrap() - 0.3).abs() < 1e-9);
    assert_eq!(e2el["p99_bucket"], json!({"gt": 10.0, "le": null, "exact": false}));
}

#[test]
fn html_report_is_one_self_contained_page_with_everything() {
    // A model name that would be markup if it were not escaped.
    let input = edit(&described(), |v| {
        if v["kind"] == "run" {
            v["model"] = json!("<script>alert(1)</script>");
        }
    }) + &fixture("samples.ndjson");
    let (code, html, err) = report(&["--format", "html", "--group-by", "tags.point", "--percentiles", "50,99"], &input);
    assert_eq!(code, 0, "{err}");
    assert!(html.starts_with("<!DOCTYPE html>\n") && html.trim_end().ends_with("</html>"));
    // Nothing fetched, nothing run: a CSP that forbids both, and no reference to fetch.
    assert!(html.contains("content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\""));
    for bad in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(bad), "{bad} in the page");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "escaped model name");
    for want in [
        // The run's self-description and the verdict.
        "<td>Command</td><td><code>sb-load --url http://127.0.0.1:8000 --model Qwen/Qwen3-0.6B -H &#39;Authorization: &lt;redacted&gt;&#39;</code></td>",
        "<td>Host</td><td>bench-7</td>",
        "<td>Server version</td><td>0.11.0</td>",
        "<strong>Schedule kept</strong>",
        "sb-load&#39;s verdict: failed: 2 of 5 requests failed",
        // vLLM's block per group, then the table per group.
        "Serving Benchmark Result: tags.point=a",
        "Serving Benchmark Result: tags.point=b",
        "<h3>By tags.point</h3>",
        "<h3>Per stage</h3>",
        // The server metrics of the window, with bucket-honest quantiles.
        "<td>vllm:time_to_first_token_seconds</td>",
        "p50 in (0.06, 0.1] s",
        "<h2>Warnings</h2>",
        "<h2>Definitions</h2>",
    ] {
        assert!(html.contains(want), "missing {want:?}");
    }
    // Every chart of --plot, inline.
    for id in [
        "ttft_cdf",
        "tpot_cdf",
        "itl_cdf",
        "e2el_cdf",
        "throughput",
        "in_flight",
        "latency_over_time",
        "latency_vs_load",
        "throughput_vs_latency",
    ] {
        assert!(html.contains(&format!("<figure id=\"{id}\"><svg ")), "chart {id}");
    }
    assert_eq!(html.matches("<svg ").count(), 9);
    assert_eq!(html.matches("</svg>").count(), 9);
    // --compare has no HTML form: a clear error, exit 2.
    let basic = testdata("report/basic.ndjson").to_string_lossy().into_owned();
    let (code, _, err) = report(&["--format", "html", "--compare", &basic, &basic], "");
    assert_eq!(code, 2);
    assert!(err.contains("--format html writes one run"), "{err}");
}

#[test]
fn latency_vs_load_marks_the_capacity_a_sweep_record_found() {
    let dir = sb_testkit::tempdir("report-sweep-plot");
    let d = dir.to_string_lossy().into_owned();
    let sweep_record = json!({"kind": "sweep", "v": 1, "run": "s", "mode": "search", "points": [],
        "max_rate_rps": 2.5, "max_rate_achieved_rps": 2.4, "started_ns": 1, "ended_ns": 2});
    let input = sweep() + &sweep_record.to_string() + "\n";
    let (code, _, err) = report(&["--group-by", "tags.conc", "--plot", &d], &input);
    assert!(code == 0 || code == 1, "{err}");
    let svg = std::fs::read_to_string(dir.join("latency_vs_load.svg")).unwrap();
    assert!(svg.contains(">\nmax 2.50 req/s\n</text>"), "the legend names the capacity");
    // Without the sweep record: no such line.
    let (_, _, _) = report(&["--group-by", "tags.conc", "--plot", &d], &sweep());
    let svg = std::fs::read_to_string(dir.join("latency_vs_load.svg")).unwrap();
    assert!(!svg.contains("max 2.50 req/s"));
}
