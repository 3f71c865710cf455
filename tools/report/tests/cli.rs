//! sb-report run as users run it, on the hand-made fixtures of testdata/report (their README
//! shows how every expected number below was computed).

mod common;

use sb_testkit::{tempdir, testdata};
use serde_json::Value;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Out {
    let out = sb_testkit::pipe("sb-report", args, stdin);
    Out { code: out.code, stdout: out.stdout, stderr: out.stderr }
}

fn run(args: &[&str]) -> Out {
    run_with_stdin(args, b"")
}

fn fixture(name: &str) -> String {
    testdata(&format!("report/{name}")).to_string_lossy().into_owned()
}

fn json_summary(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let out = run(&a);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 1, "one summary record");
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["kind"], "summary");
    assert_eq!(v["v"], 1);
    typed_round_trip(&out.stdout);
    v
}

/// The summary read through its type (sb_records::summary) and written again is the same line:
/// the type has every field sb-report writes, under the same names, in the same order, with
/// nothing left over in `extra`.
fn typed_round_trip(line: &str) {
    let mut reader = sb_records::RecordReader::new("summary", line.as_bytes());
    let s: sb_records::Summary = reader.next_of().unwrap().unwrap();
    if let sb_records::Summary::Report(r) = &s {
        assert!(r.extra.is_empty(), "fields the type does not have: {:?}", r.extra.keys().collect::<Vec<_>>());
    }
    let again = sb_records::ndjson::to_line(&s);
    if again != line {
        let at = again.bytes().zip(line.bytes()).take_while(|(a, b)| a == b).count();
        let from = at.saturating_sub(80);
        panic!(
            "the typed summary writes another line; from byte {from}:\n  typed: {}\n  wrote: {}",
            &again[from..(at + 80).min(again.len())],
            &line[from..(at + 80).min(line.len())]
        );
    }
}

fn close(got: &Value, want: f64) {
    let g = got.as_f64().unwrap_or_else(|| panic!("not a number: {got}"));
    assert!((g - want).abs() <= 1e-6 * want.abs().max(1.0), "got {g}, want {want}");
}

#[test]
fn text_block_has_vllm_layout_and_hand_computed_values() {
    let out = run(&[&fixture("basic.ndjson"), "--slo", "ttft_ms=90,tpot_ms=30"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "============ Serving Benchmark Result ============");
    for want in [
        "Successful requests:                     3         ",
        "Failed requests:                         2         ",
        "Request rate configured (RPS):           5.00      ",
        "Benchmark duration (s):                  1.00      ",
        "Total input tokens:                      60        ",
        "Total generated tokens:                  10        ",
        "Request throughput (req/s):              3.00      ",
        "Request goodput (req/s):                 2.00      ",
        "Output token throughput (tok/s):         10.00     ",
        "Peak output token throughput (tok/s):    8.00      ",
        "Peak concurrent requests:                2.00      ",
        "Total token throughput (tok/s):          70.00     ",
        "---------------Time to First Token----------------",
        "Mean TTFT (ms):                          76.67     ",
        "Median TTFT (ms):                        80.00     ",
        "P99 TTFT (ms):                           99.60     ",
        "-----Time per Output Token (excl. 1st token)------",
        "Mean TPOT (ms):                          26.67     ",
        "P99 TPOT (ms):                           33.20     ",
        "---------------Inter-token Latency----------------",
        "Mean ITL (ms):                           36.00     ",
        "Median ITL (ms):                         40.00     ",
        "P99 ITL (ms):                            49.60     ",
        "----------------End-to-end Latency----------------",
        "Mean E2EL (ms):                          136.67    ",
        "Median E2EL (ms):                        130.00    ",
        "P99 E2EL (ms):                           198.60    ",
        "Mean Client Queue Time (ms):             3.33      ",
        "P99 Client Queue Time (ms):              9.80      ",
        "Mean E2EL incl. Client Queue (ms):       140.00    ",
        "P99 E2EL incl. Client Queue (ms):        198.80    ",
        "Mean NTPOT (ms):                         52.00     ",
        "-------------Time to First Text Token-------------",
        "Mean TTFT to text (ms):                  83.33     ",
        "Median NTPOT (ms):                       50.00     ",
        "http_error 429:                          1         ",
        "timeout:                                 1         ",
        "Good requests:                           2         ",
        "==================================================",
    ] {
        assert!(lines.contains(&want), "missing line {want:?} in\n{}", out.stdout);
    }
    // The order of vLLM's block.
    let pos = |s: &str| lines.iter().position(|l| l.starts_with(s)).unwrap();
    assert!(pos("Successful") < pos("Benchmark duration") && pos("Benchmark duration") < pos("Mean TTFT"));
    assert!(
        pos("Mean TTFT") < pos("Mean TPOT") && pos("Mean TPOT") < pos("Mean ITL") && pos("Mean ITL") < pos("Mean E2EL")
    );
    assert!(out.stdout.contains("Warm-up requests excluded: 1"));
    assert!(out.stdout.contains("Schedule:                                kept"));
    // sb-load's own verdict (any failure fails its default --max-error-rate 0) is passed on, not
    // turned into distrust.
    assert!(out.stdout.contains("WARNING: basic: sb-load's verdict: failed: 2 of 5 requests failed"), "{}", out.stdout);
}

/// Golden files: the whole rendered output, byte for byte. After an intended change, rewrite
/// them with the commands in testdata/report/README.md and review the diff.
#[test]
fn text_and_markdown_match_their_golden_files() {
    let out = run(&[
        &fixture("basic.ndjson"),
        &fixture("samples.ndjson"),
        "--slo",
        "ttft_ms=90,tpot_ms=30",
        "--percentiles",
        "50,99",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let golden = std::fs::read_to_string(fixture("golden/basic.txt")).unwrap();
    assert!(out.stdout == golden, "text output differs from testdata/report/golden/basic.txt:\n{}", out.stdout);
    let out = run(&[&fixture("basic.ndjson"), "--group-by", "tags.point", "--format", "md"]);
    let golden = std::fs::read_to_string(fixture("golden/basic-by-point.md")).unwrap();
    assert!(out.stdout == golden, "markdown differs from testdata/report/golden/basic-by-point.md:\n{}", out.stdout);
}

#[test]
fn json_summary_has_every_metric() {
    let v = json_summary(&[&fixture("basic.ndjson"), "--percentiles", "50,90,99.9"]);
    assert_eq!(v["completed"], 3);
    assert_eq!(v["failed"], 2);
    assert_eq!(v["warmup_excluded"], 1);
    close(&v["failure_rate"], 0.4);
    close(&v["duration_s"], 1.0);
    assert_eq!(v["total_input_tokens"], 60);
    assert_eq!(v["total_output_tokens"], 10);
    close(&v["request_throughput"], 3.0);
    close(&v["output_throughput"], 10.0);
    close(&v["total_token_throughput"], 70.0);
    close(&v["max_output_tokens_per_s"], 8.0);
    assert_eq!(v["max_concurrent_requests"], 2);
    // TTFT [100, 50, 80]: numpy linear p90 = 80 + 0.8 * 20, p99.9 = 80 + 0.998 * 20.
    let t = &v["ttft_ms"];
    close(&t["mean"], 230.0 / 3.0);
    close(&t["median"], 80.0);
    close(&t["p50"], 80.0);
    close(&t["p90"], 96.0);
    close(&t["p99.9"], 99.96);
    close(&t["std"], (1266.6666666666667f64 / 3.0).sqrt());
    assert_eq!(t["exact"], true);
    close(&v["tpot_ms"]["mean"], (100.0 / 3.0 + 20.0) / 2.0);
    close(&v["itl_ms"]["std"], (104.0f64).sqrt());
    close(&v["itl_ms"]["p90"], 40.0 + 0.6 * 10.0);
    close(&v["e2el_ms"]["median"], 130.0);
    close(&v["ntpot_ms"]["mean"], 52.0);
    // First text: r1 at 120 ms (its first chunk, at 100, is role-only), r2 50, r3 80.
    close(&v["ttft_text_ms"]["mean"], 250.0 / 3.0);
    close(&v["ttft_text_ms"]["median"], 80.0);
    close(&v["client_queue_ms"]["mean"], 10.0 / 3.0);
    close(&v["e2el_from_scheduled_ms"]["mean"], 140.0);
    assert_eq!(v["failures"]["http_error 429"]["count"], 1);
    assert_eq!(v["failures"]["timeout"]["examples"][0], "request timed out after 0.6 s");
    assert_eq!(v["token_count_mismatches"], 1);
    assert_eq!(v["trustworthy"], true);
    close(&v["load"]["send_lateness_p99_ms"], 0.5);
    // Per stage: stage 0 = r1, r2; stage 1 = r3 + the two failures. Per turn: 2 sessions.
    assert_eq!(v["stages"][0]["completed"], 2);
    assert_eq!(
        (v["stages"][0]["stage"].as_str(), v["stages"][0]["spec"].as_str()),
        (Some("0"), Some("poisson:5.0@250ms"))
    );
    assert_eq!(v["stages"][1]["failed"], 2);
    assert_eq!(v["turns"][1]["completed"], 1);
    close(&v["turns"][1]["ttft_ms"]["mean"], 50.0);
    assert_eq!(v["sessions"], 2);
}

#[test]
fn goodput_counts_requests_meeting_every_slo() {
    let v = json_summary(&[&fixture("basic.ndjson"), "--slo", "ttft:90 tpot:30"]);
    assert_eq!(v["good_requests"], 2);
    close(&v["request_goodput"], 2.0);
    let v = json_summary(&[&fixture("basic.ndjson"), "--slo", "e2el_ms=150"]);
    assert_eq!(v["good_requests"], 2, "r2 (130) and r3 (80) finish within 150 ms");
}

#[test]
fn vllm_json_matches_what_vllm_computes() {
    let out = run(&[&fixture("basic.ndjson"), "--vllm-json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ours: Value = serde_json::from_str(&out.stdout).unwrap();
    let text = std::fs::read_to_string(fixture("vllm_result.json")).unwrap();
    let vllm: Value = serde_json::from_str(&text).unwrap();
    let per_request = common::VLLM_PER_REQUEST;
    let mut compared = 0;
    let detailed = run(&[&fixture("basic.ndjson"), "--vllm-json", "--save-detailed"]);
    let detailed: Value = serde_json::from_str(&detailed.stdout).unwrap();
    for (k, want) in vllm.as_object().unwrap() {
        if per_request.contains(&k.as_str()) {
            // vLLM keeps latencies and queue_times always, the others with --save-detailed.
            let always = k == "latencies" || k == "queue_times";
            assert_eq!(ours.get(k).is_some(), always, "{k}");
            let got = detailed.get(k).unwrap_or_else(|| panic!("{k} missing with --save-detailed"));
            let (got, want) = (got.as_array().unwrap(), want.as_array().unwrap());
            assert_eq!(got.len(), want.len(), "{k}");
            if k == "start_times" {
                // vLLM's are perf_counter seconds, ours epoch seconds: only the gaps agree.
                let gaps = |v: &[Value]| {
                    v.windows(2).map(|w| w[1].as_f64().unwrap() - w[0].as_f64().unwrap()).collect::<Vec<_>>()
                };
                for (g, w) in gaps(got).iter().zip(gaps(want)) {
                    assert!((g - w).abs() < 1e-6, "{k}: gap {g} vs {w}");
                }
                continue;
            }
            for (g, w) in got.iter().zip(want) {
                match (g, w) {
                    (Value::Number(_), Value::Number(n)) => close(g, n.as_f64().unwrap()),
                    (Value::Array(ga), Value::Array(wa)) => {
                        assert_eq!(ga.len(), wa.len(), "{k}");
                        for (x, y) in ga.iter().zip(wa) {
                            close(x, y.as_f64().unwrap());
                        }
                    }
                    _ => assert_eq!(g, w, "{k}"),
                }
            }
            compared += 1;
            continue;
        }
        let got = ours.get(k).unwrap_or_else(|| panic!("vLLM key {k} missing"));
        match want {
            Value::Number(n) => close(got, n.as_f64().unwrap()),
            other => assert_eq!(got, other, "{k}"),
        }
        compared += 1;
    }
    assert!(compared >= 30, "compared {compared} keys");
    assert_eq!(ours["endpoint_type"], "openai-chat");
    // Key order follows vLLM's file.
    let keys: Vec<&String> = ours.as_object().unwrap().keys().collect();
    assert_eq!(&keys[..3], &["date", "endpoint_type", "backend"]);
}

#[test]
fn shards_merge_into_the_same_summary_as_one_file() {
    let whole = json_summary(&[&fixture("basic.ndjson")]);
    let merged = json_summary(&[&fixture("shard-0.ndjson"), &fixture("shard-1.ndjson")]);
    for key in whole.as_object().unwrap().keys() {
        if ["inputs", "runs", "warnings"].contains(&key.as_str()) {
            continue;
        }
        let (mut w, mut m) = (whole[key].clone(), merged[key].clone());
        if key == "load" {
            // One run record per shard; their rates add up to the whole run's.
            assert_eq!((w["run_records"].take(), m["run_records"].take()), (1.into(), 2.into()));
            // Each shard's verdict is its own.
            assert_eq!(
                (w["notes"].take().as_array().unwrap().len(), m["notes"].take().as_array().unwrap().len()),
                (1, 2)
            );
        }
        assert_eq!(w, m, "{key}");
    }
    assert_eq!(merged["runs"][0]["shards"], serde_json::json!(["0/2", "1/2"]));
    // Shards read from stdin and a file together, in any order.
    let shard1 = std::fs::read(fixture("shard-1.ndjson")).unwrap();
    let out = run_with_stdin(&[&fixture("shard-0.ndjson"), "-", "--format", "json"], &shard1);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ttft_ms"], whole["ttft_ms"]);
    // One shard alone is flagged.
    let out = run(&[&fixture("shard-0.ndjson")]);
    assert!(out.stderr.contains("results of 1 of 2 shards present"), "{}", out.stderr);
}

#[test]
fn a_shard_without_its_run_record_is_reported_as_stopped_early() {
    // Shard 1 killed after its results: they are read, its run record (written last) is not.
    let shard1 = std::fs::read_to_string(fixture("shard-1.ndjson")).unwrap();
    let cut: String = shard1.lines().filter(|l| !l.contains(r#""kind":"run""#)).map(|l| format!("{l}\n")).collect();
    let out = run_with_stdin(&[&fixture("shard-0.ndjson"), "-", "--format", "json"], cut.as_bytes());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let warnings: Vec<&str> = v["warnings"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(warnings.iter().any(|w| w.contains("shard 1/2 stopped before its end (no run record)")), "{warnings:?}");
    assert!(!warnings.iter().any(|w| w.contains("shard 0/2 stopped")), "{warnings:?}");
    // Both shards whole: nothing said.
    let v = json_summary(&[&fixture("shard-0.ndjson"), &fixture("shard-1.ndjson")]);
    assert!(!v["warnings"].to_string().contains("stopped before its end"), "{}", v["warnings"]);
}

#[test]
fn stdin_is_read_when_no_file_is_given() {
    let text = std::fs::read(fixture("basic.ndjson")).unwrap();
    let out = run_with_stdin(&["--format", "json"], &text);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["completed"], 3);
    assert_eq!(v["inputs"][0], "<stdin>");
}

#[test]
fn server_samples_are_summarised_over_the_run_window() {
    let v = json_summary(&[&fixture("basic.ndjson"), &fixture("samples.ndjson")]);
    let m = v["server_metrics"].as_array().unwrap();
    assert_eq!(m.len(), 3, "the `_created` timestamp series is not a measurement: {m:?}");
    let find = |name: &str| m.iter().find(|x| x["metric"] == name).unwrap_or_else(|| panic!("{name}"));
    let c = find("vllm:prompt_tokens_total");
    close(&c["delta"], 60.0);
    close(&c["rate_per_s"], 60.0);
    let g = find("vllm:num_requests_running");
    close(&g["mean"], 1.0);
    close(&g["max"], 2.0);
    let h = find("vllm:time_to_first_token_seconds");
    close(&h["count"], 3.0);
    close(&h["mean"], 0.23 / 3.0);
    close(&h["p50"], 0.07);
    close(&h["p99"], 0.0994);
    let text = run(&[&fixture("basic.ndjson"), &fixture("samples.ndjson")]).stdout;
    let server = text.find("Server metrics (run window)").expect("server section");
    assert!(server > text.find("End-to-end Latency").unwrap(), "server metrics come after the client metrics");
}

#[test]
fn a_lagging_generator_is_loud_and_exits_1() {
    let out = run(&[&fixture("lagging.ndjson")]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.starts_with("!!!!"), "{}", out.stdout);
    assert!(out.stdout.contains("RUN NOT TRUSTWORTHY"));
    assert!(out.stdout.contains("send lateness p99 42.00 ms > 10 ms"));
    assert!(out.stderr.contains("RUN NOT TRUSTWORTHY"), "{}", out.stderr);
    let out = run(&[&fixture("lagging.ndjson"), "--format", "json"]);
    assert_eq!(out.code, 1);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["trustworthy"], false);
    // A looser threshold accepts the lateness; the missed rate still counts.
    let v: Value =
        serde_json::from_str(&run(&[&fixture("lagging.ndjson"), "--format", "json", "--max-lag-ms", "50"]).stdout)
            .unwrap();
    assert_eq!(v["load"]["problems"].as_array().unwrap().len(), 1);
}

#[test]
fn csv_has_one_row_per_group_with_summary_keys_as_columns() {
    let out = run(&[&fixture("basic.ndjson"), "--format", "csv", "--group-by", "tags.point"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut rdr = csv_rows(&out.stdout);
    let header = rdr.remove(0);
    assert_eq!(header[0], "tags.point");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name}"));
    assert_eq!(rdr.len(), 3);
    assert_eq!(rdr[0][0], "all");
    assert_eq!(rdr[0][col("ttft_ms.p99")], "99.6");
    assert_eq!(rdr[1][0], "a");
    assert_eq!(rdr[1][col("completed")], "2");
    assert_eq!(rdr[2][0], "b");
    assert_eq!(rdr[2][col("failed")], "2");
    assert_eq!(rdr[2][col("failures.timeout.count")], "1");
    assert_eq!(rdr[1][col("failures.timeout.count")], "", "no timeouts in group a");
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    // The fixtures hold no commas or quotes inside fields.
    text.lines().map(|l| l.split(',').map(str::to_string).collect()).collect()
}

#[test]
fn markdown_tables() {
    let out = run(&[&fixture("basic.ndjson"), "--format", "md", "--group-by", "dataset"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("| Metric | Value |\n|---|---:|\n"));
    assert!(out.stdout.contains("| P99 TTFT (ms) | 99.60 |"), "{}", out.stdout);
    assert!(out.stdout.contains("| Failed: http_error 429 | 1 |"));
    assert!(out.stdout.contains("**By dataset**"));
    assert!(out.stdout.contains("| mt_bench | 2 | 0 |"), "{}", out.stdout);
}

#[test]
fn group_by_prints_one_row_per_value() {
    let out = run(&[&fixture("basic.ndjson"), "--group-by", "dataset"]);
    assert_eq!(out.code, 0);
    let table = &out.stdout[out.stdout.find("By dataset").unwrap()..];
    let rows: Vec<&str> = table.lines().skip(2).take(2).collect();
    assert!(rows[0].starts_with("mt_bench") && rows[1].starts_with("sharegpt"), "{table}");
    let cells: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(&cells[..3], &["mt_bench", "2", "0"]);
}

#[test]
fn compare_two_runs() {
    let (a, b) = (fixture("basic.ndjson"), fixture("lagging.ndjson"));
    let out = run(&["--compare", &a, &b]);
    assert_eq!(out.code, 1, "B is not trustworthy");
    let line = out.stdout.lines().find(|l| l.starts_with("ttft_ms.mean")).unwrap();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells, ["ttft_ms.mean", "76.67", "100.00", "23.33", "+30.4%"]);
    let out = run(&["--compare", &a, &b, "--format", "json"]);
    typed_round_trip(&out.stdout);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let row = v["metrics"].as_array().unwrap().iter().find(|r| r["metric"] == "completed").unwrap().clone();
    assert_eq!((row["a"].as_f64(), row["b"].as_f64(), row["change"].as_f64()), (Some(3.0), Some(1.0), Some(-2.0)));
    let out = run(&["--compare", &a, &b, "--format", "csv"]);
    assert!(out.stdout.starts_with("metric,a,b,change,change_pct\n"));
    let out = run(&["--compare", &a, &b, "--format", "md"]);
    assert!(out.stdout.contains("| completed | 3 | 1 | -2 | -66.7% |"), "{}", out.stdout);
}

#[test]
fn a_percentile_asked_twice_is_shown_once() {
    let v = json_summary(&[&fixture("basic.ndjson"), "--percentiles", "99,50,99.0"]);
    let keys: Vec<&String> = v["ttft_ms"].as_object().unwrap().keys().filter(|k| k.starts_with('p')).collect();
    assert_eq!(keys, ["p99", "p50"]);
    let text = run(&[&fixture("basic.ndjson"), "--percentiles", "99,99"]).stdout;
    assert_eq!(text.lines().filter(|l| l.starts_with("P99 TTFT (ms)")).count(), 1, "{text}");
}

#[test]
fn several_runs_are_flagged_unless_the_rows_keep_them_apart() {
    let dir = tempdir("report-runs");
    let basic = fixture("basic.ndjson");
    let text = std::fs::read_to_string(&basic).unwrap();
    // The same run again under another id, its datasets renamed: --group-by dataset then gives
    // every run rows of its own, while tags.point puts both runs in the rows a and b.
    let again = dir.join("again.ndjson");
    std::fs::write(
        &again,
        text.replace("\"run\":\"basic\"", "\"run\":\"again\"").replace("\"dataset\":\"", "\"dataset\":\"x-"),
    )
    .unwrap();
    let again = again.to_string_lossy().into_owned();
    let warned = |extra: &[&str]| -> Option<String> {
        let out = run(&[&[basic.as_str(), again.as_str(), "--format", "json"][..], extra].concat());
        let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stderr));
        let w =
            v["warnings"].as_array().unwrap().iter().filter_map(Value::as_str).find(|w| w.contains("different runs"));
        w.map(str::to_string)
    };
    let w = warned(&[]).expect("two runs in one summary are flagged");
    assert!(w.contains("results of 2 different runs are summarised together"), "{w}");
    assert_eq!(warned(&["--group-by", "run"]), None);
    assert_eq!(warned(&["--group-by", "dataset"]), None, "every row holds one run");
    let w = warned(&["--group-by", "tags.point"]).expect("rows a and b mix the runs");
    assert!(w.contains("--group-by tags.point rows a, b each hold more than one run"), "{w}");
}

#[test]
fn compare_with_a_saved_summary() {
    let dir = tempdir("report-saved");
    let saved = dir.join("basic.json");
    let (basic, lagging) = (fixture("basic.ndjson"), fixture("lagging.ndjson"));
    std::fs::write(&saved, run(&[&basic, "--format", "json"]).stdout).unwrap();
    let saved = saved.to_string_lossy().into_owned();
    // The saved summary beside the stream it was made from: every metric the same.
    let v: Value = serde_json::from_str(&run(&["--compare", &basic, &saved, "--format", "json"]).stdout).unwrap();
    let rows = v["metrics"].as_array().unwrap();
    assert!(rows.len() >= 30, "{} metrics", rows.len());
    for r in rows {
        assert!(r["a"].is_number() && r["a"] == r["b"], "{r}");
    }
    // Beside another run, as that run's stream compares.
    let from_saved = run(&["--compare", &saved, &lagging]);
    let from_stream = run(&["--compare", &basic, &lagging]);
    assert_eq!(from_saved.code, 1, "B is not trustworthy");
    assert_eq!(from_saved.stdout.replace(&saved, &basic), from_stream.stdout);
    // A summary longer than the first 64 KiB sb-report peeks at (many rows) is still one.
    let mut big: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    big["warnings"].as_array_mut().unwrap().push(Value::String("w".repeat(70_000)));
    let big_path = dir.join("big.json");
    std::fs::write(&big_path, format!("{big}\n")).unwrap();
    let out = run(&["--compare", &big_path.to_string_lossy(), &basic, "--format", "csv"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("\ncompleted,3,3,0,0\n"), "{}", out.stdout);
    // A comparison is not a run's summary.
    let cmp = dir.join("cmp.json");
    std::fs::write(&cmp, run(&["--compare", &basic, &lagging, "--format", "json"]).stdout).unwrap();
    let out = run(&["--compare", &cmp.to_string_lossy(), &basic]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("cmp.json:1: a comparison (--compare --format json), not the summary of one run"),
        "{}",
        out.stderr
    );
}

#[test]
fn compare_with_the_result_json_of_vllm_bench_serve() {
    let out = run(&["--compare", &fixture("basic.ndjson"), &fixture("vllm_result.json"), "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let rows = v["metrics"].as_array().unwrap();
    let both: Vec<&Value> = rows.iter().filter(|r| r["a"].is_number() && r["b"].is_number()).collect();
    assert!(both.len() >= 22, "{} metrics on both sides", both.len());
    for r in both {
        let (a, b) = (r["a"].as_f64().unwrap(), r["b"].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0), "{}: ours {a}, vLLM {b}", r["metric"]);
    }
    assert_eq!(v["b"]["model_id"], "Qwen/Qwen3-0.6B", "B is the vLLM file as it is");
    let text = run(&["--compare", &fixture("basic.ndjson"), &fixture("vllm_result.json")]).stdout;
    let line = text.lines().find(|l| l.starts_with("ttft_ms.p99")).unwrap();
    assert_eq!(line.split_whitespace().collect::<Vec<_>>(), ["ttft_ms.p99", "99.60", "99.60", "0.00", "+0.0%"]);
    // vLLM's --append-result files hold one result a line: one at a time.
    let dir = tempdir("report-vllm");
    let one = std::fs::read_to_string(fixture("vllm_result.json")).unwrap();
    let two = dir.join("two.json");
    std::fs::write(&two, format!("{}\n{}", one.trim(), one.trim())).unwrap();
    let out = run(&["--compare", &fixture("basic.ndjson"), &two.to_string_lossy()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("holds 2 vLLM results"), "{}", out.stderr);
}

#[test]
fn plots_are_svg_files() {
    let dir = tempdir("report-plot");
    let d = dir.to_string_lossy().into_owned();
    let out = run(&[&fixture("basic.ndjson"), "--group-by", "tags.point", "--plot", &d]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Every title names the model, the rate and the run (basic.ndjson's run record).
    let about = "Qwen/Qwen3-0.6B · rate poisson:5.0@250ms → poisson:5.0@750ms · run basic";
    for (f, title) in [
        ("ttft_cdf.svg", "TTFT CDF"),
        ("tpot_cdf.svg", "TPOT CDF"),
        ("itl_cdf.svg", "ITL CDF"),
        ("e2el_cdf.svg", "E2EL CDF"),
        ("throughput.svg", "Output token throughput over time"),
        ("in_flight.svg", "Requests in flight over time (max per second)"),
        ("latency_over_time.svg", "TTFT and E2EL of each request over time"),
        ("latency_vs_load.svg", "Latency vs load across tags.point"),
        ("throughput_vs_latency.svg", "Throughput vs latency across tags.point"),
    ] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(text.contains(&format!("\n{title}\n")) && text.contains(&format!("\n{about}\n")), "{f}: title");
        assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"), "{f}");
        assert!(text.contains("<polyline") || text.contains("<path") || text.contains("<circle"), "{f} has no data");
        // Okabe-Ito colours; never the palette's yellow, nor plotters' default yellow-ish ones.
        assert!(text.contains("#0072B2") && !text.to_uppercase().contains("#F0E442"), "{f}: palette");
    }
    // The legend is titled with the group key; CDFs mark p50, p90 and p99.
    let cdf = std::fs::read_to_string(dir.join("ttft_cdf.svg")).unwrap();
    let text_of = |t: &str| format!(">\n{t}\n</text>");
    assert!(cdf.contains(&text_of("tags.point")), "legend title");
    for p in ["p50", "p90", "p99"] {
        assert!(cdf.contains(&text_of(p)), "CDF mark {p}");
    }
}

#[test]
fn bad_input_names_file_and_line_and_exits_2() {
    let dir = tempdir("report-bad");
    let good = std::fs::read_to_string(fixture("basic.ndjson")).unwrap();
    let first = good.lines().nth(1).unwrap();
    let cases = [
        (format!("{first}\n\n{{\"kind\":\"result\",\"v\":1,\"id\":\n"), ":3: ", "bad result record: EOF while parsing"),
        (format!("{first}\n{{\"kind\":\"result\",\"v\":2,\"id\":\"x\"}}\n"), ":2: ", "schema version 2"),
        (format!("{}\n", first.replace("\"ok\"", "\"weird\"")), ":1: ", "unknown variant `weird`"),
        ("{\"kind\":\"request\",\"v\":1,\"id\":\"a\"}\n".to_string(), ":1: ", "sb-report reads what sb-load writes"),
        ("{\"kind\":\"bogus\",\"v\":1}\n".to_string(), ":1: ", "unknown record kind"),
        (format!("{}\n", first.replace("\"sent_ns\"", "\"sent\"")), ":1: ", "missing field `sent_ns`"),
    ];
    for (i, (text, at, msg)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{i}.ndjson"));
        std::fs::write(&path, text).unwrap();
        let out = run(&[&path.to_string_lossy()]);
        assert_eq!(out.code, 2, "case {i}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "case {i}: nothing on stdout");
        let want = format!("bad{i}.ndjson{at}");
        assert!(out.stderr.contains(&want) && out.stderr.contains(msg), "case {i}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    }
    let out = run_with_stdin(&[], b"\n\n");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no records in the input"), "{}", out.stderr);
    // An output that cannot be written is an error too: a --plot directory under a file.
    let under_a_file = format!("{}/plots", fixture("basic.ndjson"));
    let out = run(&[&fixture("basic.ndjson"), "--plot", &under_a_file]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--plot: cannot create"), "{}", out.stderr);
    let out = run(&["no-such-file.ndjson"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no-such-file.ndjson"), "{}", out.stderr);
}

#[test]
fn group_by_refuses_a_field_with_too_many_values() {
    let mut text = String::new();
    for i in 0..10_001 {
        text += &format!(
            "{{\"kind\":\"result\",\"v\":1,\"id\":\"r{i}\",\"status\":\"ok\",\"scheduled_ns\":1,\"sent_ns\":1,\"done_ns\":2,\"session\":\"s{i}\"}}\n"
        );
    }
    let out = run_with_stdin(&["--group-by", "session"], text.as_bytes());
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("<stdin>:10001: --group-by session: more than 10000 distinct values"),
        "{}",
        out.stderr
    );
    let out = run_with_stdin(&["--format", "json"], text.as_bytes());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["sessions"], 10_001);
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        vec!["--slo", "latency=3"],
        vec!["--group-by", "colour"],
        vec!["--percentiles", "101"],
        vec!["--format", "yaml"],
    ] {
        let out = run(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn help_teaches_with_examples() {
    let out = run(&["--help"]);
    assert_eq!(out.code, 0);
    for want in ["--compare", "--group-by", "--slo", "Examples:", "Exit status"] {
        assert!(out.stdout.contains(want), "{want}");
    }
}
