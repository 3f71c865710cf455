//! sb-report at the end of the real pipeline: sb-load against sb-sim, piped in as users do.
//! Needs the workspace binaries built (`cargo build --workspace --bins`).

use sb_testkit::{bin, tempdir, Sim};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::process::{Command, Stdio};

fn requests(n: usize, max_tokens: u32) -> String {
    (0..n)
        .map(|i| {
            json!({"kind": "request", "v": 1, "id": format!("q{i}"), "api": "completions",
                   "prompt": format!("Question {i}: name three prime numbers."), "max_tokens": max_tokens})
            .to_string()
                + "\n"
        })
        .collect()
}

/// `sb-load ARGS < input | tee (returned) | sb-report REPORT_ARGS`: (sb-load's stdout, sb-report's exit, stdout, stderr).
fn pipe(url: &str, load_args: &[&str], input: &str, report_args: &[&str]) -> (String, i32, String, String) {
    let mut load = Command::new(bin("sb-load"))
        .args(["--url", url, "--model", "sim"])
        .args(load_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sb-load");
    load.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let mut report = Command::new(bin("sb-report"))
        .args(report_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sb-report");
    let mut to_report = report.stdin.take().unwrap();
    let mut from_load = load.stdout.take().unwrap();
    let mut teed = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = from_load.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        teed.extend_from_slice(&buf[..n]);
        to_report.write_all(&buf[..n]).unwrap();
    }
    drop(to_report);
    load.wait().unwrap();
    let out = report.wait_with_output().unwrap();
    (
        String::from_utf8(teed).unwrap(),
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn results(stream: &str) -> Vec<Value> {
    stream.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|v| v["kind"] == "result").collect()
}

#[test]
fn summarises_what_sb_load_measured_against_sb_sim() {
    let sim = Sim::start(&["--decode-ms", "2"]);
    let (stream, code, stdout, stderr) =
        pipe(&sim.url, &["--concurrency", "4", "--warmup", "2"], &requests(12, 8), &["--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let all = results(&stream);
    assert_eq!(all.len(), 12);
    let measured: Vec<&Value> = all.iter().filter(|r| r["warmup"] != true).collect();
    assert_eq!(measured.len(), 10);
    assert_eq!(v["warmup_excluded"], 2);
    assert_eq!(v["completed"], 10);
    assert_eq!(v["failed"], 0);
    assert_eq!(v["total_output_tokens"], 80, "the sim honours max_tokens");
    let input: u64 = measured.iter().map(|r| r["usage"]["prompt_tokens"].as_u64().unwrap()).sum();
    assert_eq!(v["total_input_tokens"], input);
    // TTFT and E2EL recomputed here from the same records, by their definitions.
    // Differences in integer ns first: epoch ns do not fit an f64 exactly.
    let ns = |r: &Value, a: &str, b: &str| (r[b].as_u64().unwrap() - r[a].as_u64().unwrap()) as f64;
    let ttft_ms: f64 = measured.iter().map(|r| ns(r, "sent_ns", "first_chunk_ns")).sum::<f64>() / 10.0 / 1e6;
    let e2el_ms: f64 = measured.iter().map(|r| ns(r, "sent_ns", "end_ns")).sum::<f64>() / 10.0 / 1e6;
    assert!((v["ttft_ms"]["mean"].as_f64().unwrap() - ttft_ms).abs() < 1e-6, "{} vs {ttft_ms}", v["ttft_ms"]);
    assert!((v["e2el_ms"]["mean"].as_f64().unwrap() - e2el_ms).abs() < 1e-6);
    let first_sent = measured.iter().map(|r| r["sent_ns"].as_u64().unwrap()).min().unwrap();
    let last_done = measured.iter().map(|r| r["done_ns"].as_u64().unwrap()).max().unwrap();
    assert!((v["duration_s"].as_f64().unwrap() - (last_done - first_sent) as f64 / 1e9).abs() < 1e-6);
    assert!(v["max_concurrent_requests"].as_u64().unwrap() <= 4, "at most 4 in flight");
    assert_eq!(v["itl_ms"]["count"], 10 * 7, "8 chunks, 7 gaps a request");
    // The run record was read: closed loop (--rate inf) has no schedule to judge.
    assert_eq!(v["load"]["run_records"], 1);
    assert_eq!(v["trustworthy"], true);

    // And the text block, straight from the pipe.
    let (_, code, text, stderr) = pipe(&sim.url, &["--concurrency", "2"], &requests(4, 5), &[]);
    assert_eq!(code, 0, "{stderr}");
    // sb-load's run record describes the run: a header says what ran, where, then vLLM's block.
    assert!(text.starts_with("====================== Run =======================\nRun:  "), "{text}");
    for want in
        ["\nCommand:                                 ", "\nsb-load version:                         ", "\nHost:  "]
    {
        assert!(text.contains(want), "{want:?} in {text}");
    }
    let command = text.lines().find(|l| l.starts_with("Command:")).unwrap();
    assert!(command.contains("--concurrency 2") && command.contains(&sim.url), "{command}");
    assert!(text.contains("\n\n============ Serving Benchmark Result ============\n"), "{text}");
    assert!(text.contains("Successful requests:                     4         \n"), "{text}");
    assert!(text.contains("Total generated tokens:                  20        \n"), "{text}");
}

#[test]
fn shards_of_one_sb_load_run_merge() {
    let sim = Sim::start(&["--decode-ms", "1"]);
    let dir = tempdir("report-shards");
    let input = requests(10, 4);
    let mut files = Vec::new();
    for shard in ["0/2", "1/2"] {
        let path = dir.join(format!("shard-{}.ndjson", &shard[..1]));
        // Closed loop: a paced run could be judged late on a busy test machine.
        let args = ["--url", &sim.url, "--model", "sim", "--run", "e2e", "--concurrency", "2", "--shard", shard];
        let out = sb_testkit::pipe("sb-load", &args, input.as_bytes());
        std::fs::write(&path, &out.stdout).unwrap();
        files.push(path.to_string_lossy().into_owned());
    }
    let out = Command::new(bin("sb-report")).args(&files).args(["--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["completed"].as_u64().unwrap() + v["failed"].as_u64().unwrap(), 10, "every request, once");
    assert_eq!(v["runs"], json!([{"run": "e2e", "results": 10, "shards": ["0/2", "1/2"]}]));
    assert_eq!(v["load"]["run_records"], 2);
    assert!(!v["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("shards present")));
}

#[test]
fn server_counters_scraped_over_the_run_agree_with_the_client() {
    let sim = Sim::start(&["--decode-ms", "2"]);
    let dir = tempdir("report-scrape");
    let metrics = dir.join("metrics.ndjson");
    // Poll the sim's /metrics before, during and after the run: start the load only once a
    // first scrape is written, stop polling (SIGINT, as a user's Ctrl-C) once a scrape after the
    // last response is surely in. --duration only bounds the test.
    let mut scrape = Command::new(bin("sb-scrape"))
        .args(["--endpoint", &format!("{}/metrics", sim.url), "--interval", "100ms", "--duration", "60s"])
        .args(["--match", "^vllm:"])
        .stdout(std::fs::File::create(&metrics).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sb-scrape");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::metadata(&metrics).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < deadline, "sb-scrape wrote nothing in 20 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let results = dir.join("results.ndjson");
    let mut load = Command::new(bin("sb-load"))
        .args(["--url", &sim.url, "--model", "sim", "--concurrency", "4"])
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&results).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    load.stdin.take().unwrap().write_all(requests(8, 8).as_bytes()).unwrap();
    assert!(load.wait().unwrap().success());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let stopped = Command::new("kill").args(["-s", "INT", &scrape.id().to_string()]).status().unwrap();
    assert!(stopped.success());
    scrape.wait().unwrap();
    let out = Command::new(bin("sb-report")).args([&results, &metrics]).args(["--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let server = v["server_metrics"].as_array().unwrap();
    let delta = |name: &str| {
        server
            .iter()
            .filter(|m| m["metric"] == name)
            .map(|m| m["delta"].as_f64().unwrap_or_else(|| m["count"].as_f64().unwrap()))
            .sum::<f64>()
    };
    assert_eq!(delta("vllm:generation_tokens_total"), v["total_output_tokens"].as_f64().unwrap());
    assert_eq!(delta("vllm:prompt_tokens_total"), v["total_input_tokens"].as_f64().unwrap());
    assert_eq!(delta("vllm:request_success_total"), 8.0);
    assert_eq!(delta("vllm:time_to_first_token_seconds"), 8.0, "histogram count delta");
}
