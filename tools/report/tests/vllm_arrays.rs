//! `sb-report --vllm-json --save-detailed` writes vLLM's per-request arrays with vLLM's names,
//! shapes and units, so a notebook written for vLLM's file reads ours (issue "meet users where
//! they are"). The reader is testdata/report/vllm_notebook.py, run with python3.

mod common;

use sb_testkit::{pipe, tempdir, testdata, Sim};
use serde_json::{json, Value};

#[test]
fn a_notebook_written_for_vllm_files_reads_ours() {
    let sim = Sim::start(&["--decode-ms", "1", "--fail-500", "0.2", "--seed", "4"]);
    let reqs: String = (0..40)
        .map(|i| {
            json!({"kind": "request", "v": 1, "id": format!("r{i}"), "prompt": "a b c d", "max_tokens": 5}).to_string()
                + "\n"
        })
        .collect();
    let load = pipe(
        "sb-load",
        &["--url", &sim.url, "--model", "sim", "-c", "4", "--save-text", "--max-error-rate", "1", "--max-lag", "60000"],
        reqs.as_bytes(),
    );
    assert_eq!(load.code, 0, "{}", load.stderr);
    let out = pipe("sb-report", &["--vllm-json", "--save-detailed"], load.stdout.as_bytes());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(v["failed"].as_u64().unwrap() > 0, "the run has failures to show: {v}");
    // vLLM's key order: the arrays sit between total_token_throughput and max_output_tokens_per_s.
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let at = |k: &str| keys.iter().position(|x| *x == k).unwrap_or_else(|| panic!("no {k}"));
    let order: Vec<&str> = std::iter::once("total_token_throughput")
        .chain(common::VLLM_PER_REQUEST)
        .chain(["max_output_tokens_per_s"])
        .collect();
    assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{keys:?}");
    let dir = tempdir("vllm-arrays");
    let file = dir.join("result.json");
    std::fs::write(&file, &out.stdout).unwrap();
    let py = std::process::Command::new("python3")
        .arg(testdata("report/vllm_notebook.py"))
        .arg(&file)
        .output()
        .expect("python3");
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    // Without --save-detailed, only what vLLM always keeps.
    let out = pipe("sb-report", &["--vllm-json"], load.stdout.as_bytes());
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(v.get("latencies").is_some() && v.get("queue_times").is_some());
    assert!(v.get("ttfts").is_none() && v.get("itls").is_none() && v.get("errors").is_none());
}

#[test]
fn vllm_report_flags_mean_what_they_mean_in_vllm() {
    let sim = Sim::start(&["--decode-ms", "1"]);
    let reqs: String = (0..10)
        .map(|i| {
            json!({"kind": "request", "v": 1, "id": format!("r{i}"), "prompt": "a b", "max_tokens": 4}).to_string()
                + "\n"
        })
        .collect();
    let load = pipe("sb-load", &["--url", &sim.url, "--model", "sim", "--max-lag", "60000"], reqs.as_bytes());
    let res = load.stdout.as_bytes();
    let a =
        pipe("sb-report", &["--vllm-json", "--goodput", "ttft:500", "tpot:50", "--metric-percentiles", "50,90"], res);
    let b = pipe("sb-report", &["--vllm-json", "--slo", "ttft_ms=500,tpot_ms=50", "--percentiles", "50,90"], res);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let (a, b): (Value, Value) = (serde_json::from_str(&a.stdout).unwrap(), serde_json::from_str(&b.stdout).unwrap());
    assert_eq!(a["request_goodput"], b["request_goodput"]);
    assert!(a["request_goodput"].is_number());
    assert!(a.get("p90_ttft_ms").is_some() && a.get("p99_ttft_ms").is_none());
    let only = pipe("sb-report", &["--vllm-json", "--percentile-metrics", "ttft,e2el"], res);
    let only: Value = serde_json::from_str(&only.stdout).unwrap();
    assert!(only.get("mean_ttft_ms").is_some() && only.get("mean_e2el_ms").is_some());
    assert!(only.get("mean_tpot_ms").is_none() && only.get("mean_itl_ms").is_none());
    let text = pipe("sb-report", &["--percentile-metrics", "ttft"], res);
    assert!(
        text.stdout.contains("Time to First Token") && !text.stdout.contains("Inter-token Latency"),
        "{}",
        text.stdout
    );
    let bad = pipe("sb-report", &["--goodput", "ttft=500"], res);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("KEY:MS"), "{}", bad.stderr);
}
