//! sb-sim checked through the real client: request records piped into sb-load against sb-sim,
//! the result records compared with the sim's configured timing and with its own /metrics.

use sb_records::{Record, RecordReader, ResultRecord, Status};
use sb_testkit::Sim;
use std::process::Command;

/// Request records for `n` completions with distinct `words`-word prompts.
fn requests(n: usize, words: usize, max_tokens: u32) -> String {
    let mut out = String::new();
    for i in 0..n {
        let prompt: Vec<String> = (0..words).map(|w| format!("r{i}w{w}")).collect();
        let line = serde_json::json!({
            "kind": "request", "v": 1, "id": format!("q{i}"), "api": if i % 2 == 0 { "completions" } else { "chat" },
            "prompt": if i % 2 == 0 { serde_json::Value::String(prompt.join(" ")) } else { serde_json::Value::Null },
            "messages": if i % 2 == 1 { serde_json::json!([{"role": "user", "content": prompt[..words - 1].join(" ")}]) } else { serde_json::Value::Null },
            "max_tokens": max_tokens,
        });
        let mut obj = line.as_object().unwrap().clone();
        obj.retain(|_, v| !v.is_null());
        out += &serde_json::to_string(&obj).unwrap();
        out.push('\n');
    }
    out
}

/// Runs `sb-load` with `args`, feeding `input`; returns (exit code, result records, run records).
fn sb_load(args: &[&str], input: &str) -> (i32, Vec<ResultRecord>, usize) {
    let out = sb_testkit::pipe("sb-load", args, input.as_bytes());
    eprint!("{}", out.stderr);
    let mut results = vec![];
    let mut runs = 0;
    for rec in RecordReader::new("sb-load stdout", out.stdout.as_bytes()) {
        match rec.expect("sb-load writes valid records") {
            Record::Result(r) => results.push(*r),
            Record::Run(_) => runs += 1,
            other => panic!("unexpected record {other:?}"),
        }
    }
    (out.code, results, runs)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn sb_load_measures_the_sims_configured_ttft_and_itl() {
    // 0.5 ms per prompt token and 15 ms steps: a 40-token prompt alone gets
    // TTFT = 40 x 0.5 + 15 = 35 ms, then ITL = 15 ms. Requests are spaced 250 ms apart, longer
    // than one request lasts (35 + 9 x 15 = 170 ms), so none shares a step with another.
    let sim = Sim::start(&[
        "--prefill-us-per-token",
        "500",
        "--decode-ms",
        "15",
        "--decode-ms-per-seq",
        "0",
        "--no-prefix-caching",
    ]);
    let input = requests(10, 40, 10);
    let (code, results, runs) = sb_load(&["--url", &sim.url, "--model", "sim", "--rate", "4"], &input);
    assert_eq!(code, 0);
    assert_eq!(runs, 1, "one run record at the end");
    assert_eq!(results.len(), 10);
    let mut ttft_ms = vec![];
    let mut itl_ms = vec![];
    for r in &results {
        assert_eq!(r.status, Status::Ok, "{r:?}");
        assert_eq!(r.usage.as_ref().unwrap().completion_tokens, 10);
        assert_eq!(r.usage.as_ref().unwrap().prompt_tokens, 40, "the chat rendering adds `user:` to 39 words");
        // Chat streams start with a role-only chunk right before the first token.
        let chunks: Vec<u64> =
            if r.api == sb_records::Api::Chat { r.chunks_ns[1..].to_vec() } else { r.chunks_ns.clone() };
        assert_eq!(chunks.len(), 10);
        ttft_ms.push((r.first_chunk_ns.unwrap() - r.sent_ns) as f64 / 1e6);
        itl_ms.extend(chunks.windows(2).map(|w| (w[1] - w[0]) as f64 / 1e6));
    }
    let (ttft, itl) = (mean(&ttft_ms), mean(&itl_ms));
    assert!((35.0..40.0).contains(&ttft), "mean TTFT {ttft:.2} ms, configured 35 ms: {ttft_ms:?}");
    assert!((14.7..15.8).contains(&itl), "mean ITL {itl:.3} ms, configured 15 ms");
}

/// `vllm:` series of the sim's /metrics, `engine`/`model_name` labels left out.
fn scrape(url: &str) -> std::collections::BTreeMap<String, f64> {
    let out = Command::new("curl").args(["-sf", &format!("{url}/metrics")]).output().expect("curl");
    assert!(out.status.success(), "GET /metrics failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut m = std::collections::BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("vllm:")) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let name = series.split('{').next().unwrap();
        let extra: Vec<&str> = series
            .split_once('{')
            .map(|(_, l)| {
                l.trim_end_matches('}')
                    .split(',')
                    .filter(|p| !p.starts_with("engine=") && !p.starts_with("model_name="))
                    .collect()
            })
            .unwrap_or_default();
        let key = if extra.is_empty() { name.to_string() } else { format!("{name}{{{}}}", extra.join(",")) };
        m.insert(key, value.parse::<f64>().unwrap_or(f64::INFINITY));
    }
    m
}

#[test]
fn sims_metrics_agree_with_what_the_client_sent_and_saw() {
    let sim = Sim::start(&["--decode-ms", "2", "--decode-ms-per-seq", "0.1", "--prefill-us-per-token", "10"]);
    let input = requests(40, 30, 12);
    let (code, results, _) =
        sb_load(&["--url", &sim.url, "--model", "sim", "--rate", "poisson:200", "--seed", "1"], &input);
    assert_eq!(code, 0);
    assert_eq!(results.len(), 40);
    let m = scrape(&sim.url);
    let prompt: u32 = results.iter().map(|r| r.usage.as_ref().unwrap().prompt_tokens).sum();
    let generated: u32 = results.iter().map(|r| r.usage.as_ref().unwrap().completion_tokens).sum();
    assert_eq!(m["vllm:prompt_tokens_total"], prompt as f64);
    assert_eq!(m["vllm:generation_tokens_total"], generated as f64);
    assert_eq!(m["vllm:request_success_total{finished_reason=\"length\"}"], 40.0);
    assert_eq!(m["vllm:time_to_first_token_seconds_count"], 40.0);
    assert_eq!(m["vllm:e2e_request_latency_seconds_count"], 40.0);
    assert_eq!(m["vllm:num_requests_running"], 0.0);
    // The server's TTFT starts when it receives the request, the client's when it sends it:
    // the server's mean can only be smaller.
    let server_ttft = m["vllm:time_to_first_token_seconds_sum"] / 40.0;
    let client_ttft = results.iter().map(|r| (r.first_chunk_ns.unwrap() - r.sent_ns) as f64 / 1e9).sum::<f64>() / 40.0;
    assert!(server_ttft <= client_ttft, "server {server_ttft} s > client {client_ttft} s");
    // How much more the client saw is the network and both event loops: a few hundred
    // microseconds on an idle machine (bench/load.sh), more on a busy one; 50 ms only catches a
    // gross regression (a delayed ACK is 40 ms).
    assert!(client_ttft - server_ttft < 0.05, "client {client_ttft} s vs server {server_ttft} s");
}

#[test]
fn every_fault_becomes_a_result_record() {
    let sim = Sim::start(&[
        "--fail-429",
        "0.2",
        "--fail-500",
        "0.1",
        "--cut",
        "0.2",
        "--seed",
        "5",
        "--decode-ms",
        "1",
        "--decode-ms-per-seq",
        "0",
    ]);
    let input = requests(60, 5, 8);
    let (code, results, runs) = sb_load(&["--url", &sim.url, "--model", "sim", "--rate", "300"], &input);
    assert_eq!(code, 1, "failed requests make the run fail (--max-error-rate 0)");
    assert_eq!(runs, 1);
    let mut ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 60, "one result per request, none lost");
    let count = |s: Status, code: Option<u16>| {
        results.iter().filter(|r| r.status == s && (code.is_none() || r.http_status == code)).count()
    };
    assert!(count(Status::HttpError, Some(429)) > 0);
    assert!(count(Status::HttpError, Some(500)) > 0);
    assert!(count(Status::StreamCut, None) > 0);
    assert!(count(Status::Ok, None) > 0);
    for r in results.iter().filter(|r| r.status != Status::Ok) {
        assert!(r.error.as_deref().is_some_and(|e| !e.is_empty()), "{r:?}");
    }
}
