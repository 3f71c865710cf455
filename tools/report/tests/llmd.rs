//! `sb-report --format llmd`: llm-d-benchmark's report v0.2, checked against llm-d's own JSON
//! Schema with a real validator (Python's jsonschema, installed by .ci/setup) on every render.

use sb_testkit::{bin, tempdir, testdata, Sim};
use serde_json::{json, Value};
use std::process::Command;

/// Fails the test with the validator's errors unless `report` is valid.
fn assert_valid(report: &str) {
    let dir = tempdir("llmd");
    let path = dir.join("report.json");
    std::fs::write(&path, report).unwrap();
    let out = Command::new("python3")
        .arg(testdata("report/llmd/validate.py"))
        .arg(testdata("report/llmd/br_v0_2_json_schema.json"))
        .arg(&path)
        .output()
        .expect("python3 (with jsonschema, see .ci/setup)");
    assert!(out.status.success(), "not a valid v0.2 report:\n{}\n{report}", String::from_utf8_lossy(&out.stderr));
}

fn report(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin("sb-report")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn the_basic_run_as_an_llmd_report_holds_the_summary_numbers() {
    let basic = testdata("report/basic.ndjson");
    let basic = basic.to_str().unwrap();
    let (code, out, err) = report(&[basic, "--format", "llmd", "--percentiles", "0.1,50,99.9"]);
    assert_eq!(code, 0, "{err}");
    assert_valid(&out);
    let r: Value = serde_json::from_str(&out).unwrap();
    let (_, js, _) = report(&[basic, "--format", "json", "--percentiles", "0.1,50,99.9"]);
    let s: Value = serde_json::from_str(js.trim()).unwrap();
    assert_eq!(r["version"], "0.2");
    let agg = &r["results"]["request_performance"]["aggregate"];
    assert_eq!(agg["requests"]["total"], json!(s["completed"].as_u64().unwrap() + s["failed"].as_u64().unwrap()));
    assert_eq!(agg["requests"]["failures"], s["failed"]);
    let ttft = &agg["latency"]["time_to_first_token"];
    assert_eq!(ttft["units"], "ms");
    for (ours, theirs) in [("mean", "mean"), ("p50", "median"), ("p0p1", "p0.1"), ("p99p9", "p99.9"), ("max", "max")] {
        let (a, b) = (ttft[ours].as_f64().unwrap(), s["ttft_ms"][theirs].as_f64().unwrap());
        assert!((a - b).abs() < 1e-6, "{ours}: {a} vs {b}");
    }
    let rate = agg["throughput"]["request_rate"]["mean"].as_f64().unwrap();
    assert!((rate - s["request_throughput"].as_f64().unwrap()).abs() < 1e-6);
    let duration = r["run"]["time"]["duration"].as_str().unwrap();
    let secs: f64 = duration.strip_prefix("PT").unwrap().strip_suffix('S').unwrap().parse().unwrap();
    assert!((secs - s["duration_s"].as_f64().unwrap()).abs() < 1e-5, "{duration}");
    assert!(r["run"]["time"]["start"].as_str().unwrap().starts_with("2023-11-14T22:13:20"), "t0 of the fixture");
    assert_eq!(r["scenario"]["load"]["standardized"]["rate_qps"], 5.0, "sb-load's target rate");
    assert_eq!(r["scenario"]["load"]["native"]["args"]["model"], "Qwen/Qwen3-0.6B", "the run record's fields");
    assert!(r["scenario"].get("stack").is_none(), "no stack without --stack");
}

#[test]
fn stack_from_a_plan_point_and_from_a_manifest() {
    let basic = testdata("report/basic.ndjson");
    let plan = testdata("deploy/golden/rtx3080-plan.ndjson");
    let (code, out, err) = report(&[
        basic.to_str().unwrap(),
        "--format",
        "llmd",
        "--stack",
        plan.to_str().unwrap(),
        "--stack-point",
        "p01",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_valid(&out);
    let r: Value = serde_json::from_str(&out).unwrap();
    let engine = &r["scenario"]["stack"][0];
    assert_eq!(engine["standardized"]["model"]["name"], "meta-llama/Llama-3.1-8B-Instruct");
    assert_eq!(engine["standardized"]["accelerator"]["model"], "rtx-3080-10gb");
    assert_eq!(engine["standardized"]["tool_version"], "vllm/vllm-openai:v0.33.0");
    assert_eq!(engine["native"]["args"]["--block-size"], "16");

    // Several points and none chosen: an error naming them, exit 2.
    let (code, _, err) = report(&[basic.to_str().unwrap(), "--format", "llmd", "--stack", plan.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("17 plan points") && err.contains("p01"), "{err}");

    let manifest = testdata("deploy/golden/405b-fp8-h100.yaml");
    let (code, out, err) =
        report(&[basic.to_str().unwrap(), "--format", "llmd", "--stack", manifest.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_valid(&out);
    let r: Value = serde_json::from_str(&out).unwrap();
    let s = &r["scenario"]["stack"][0]["standardized"];
    assert_eq!(s["model"]["name"], "meta-llama/Llama-3.1-405B-Instruct-FP8");
    assert_eq!(s["accelerator"]["model"], "NVIDIA-H100-80GB-HBM3");
    assert_eq!(s["accelerator"]["count"], 8);
    assert_eq!(s["accelerator"]["parallelism"]["tp"], 8);

    let (code, _, err) = report(&[basic.to_str().unwrap(), "--format", "llmd", "--stack", "/nonexistent/plan.ndjson"]);
    assert_eq!(code, 2);
    assert!(err.contains("--stack /nonexistent/plan.ndjson"), "{err}");
}

#[test]
fn a_real_run_against_sb_sim_validates() {
    let sim = Sim::start(&["--decode-ms", "1"]);
    let input: String = (0..6)
        .map(|i| {
            json!({"kind": "request", "v": 1, "id": format!("q{i}"), "api": "completions",
                   "prompt": format!("Question {i}"), "max_tokens": 6})
            .to_string()
                + "\n"
        })
        .collect();
    let load_args = ["--url", &sim.url, "--model", "sim", "--rate", "poisson:50", "--concurrency", "2"];
    let results = sb_testkit::pipe("sb-load", &load_args, input.as_bytes()).stdout;
    let dir = tempdir("llmd-sim");
    let path = dir.join("results.ndjson");
    std::fs::write(&path, results).unwrap();
    let (code, out, err) = report(&[path.to_str().unwrap(), "--format", "llmd"]);
    assert!(code == 0 || code == 1, "{err}");
    assert_valid(&out);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["results"]["request_performance"]["aggregate"]["requests"]["total"], 6);
    assert_eq!(r["scenario"]["load"]["standardized"]["concurrency"], 2);
    assert_eq!(r["scenario"]["load"]["standardized"]["output_seq_len"]["value"], 6.0);
}
