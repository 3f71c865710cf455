//! Prometheus mode against a real Prometheus server (Debian's `prometheus` package) started on
//! loopback, scraping sb-sim and a server of fixture files, and a piped run
//! `sb-load | tee results` followed by `sb-scrape --window results`.

mod common;

use common::{fixture_values, free_port, path_str, query, requests, scrape, FixtureServer, Prometheus};
use sb_testkit::{bin, tempdir, Sim};
use serde_json::Value;
use std::process::Command;

fn scrape_configs(sim: &Sim, fixtures: &FixtureServer) -> String {
    let sim_target = sim.url.trim_start_matches("http://");
    let fx = fixtures.host_port();
    // cadvisor: the kubelet's labels, attached as target labels (the golden file is a standalone
    //   cAdvisor's, without them); its 2014 sample timestamps are ignored, as they would be too old.
    // dcgm: scraped twice, like a ServiceMonitor with honorLabels false (the workload's pod labels
    //   become exported_*) and like one with honorLabels true (they stay plain).
    format!(
        r#"  - job_name: sim
    static_configs: [{{targets: ["{sim_target}"]}}]
  - job_name: cadvisor
    metrics_path: /cadvisor
    honor_timestamps: false
    static_configs:
      - targets: ["{fx}"]
        labels: {{namespace: llm-servings, pod: facebook-opt-7d9f, container: vllm-container}}
  - job_name: dcgm
    metrics_path: /dcgm
    static_configs:
      - targets: ["{fx}"]
        labels: {{namespace: gpu-operator, pod: nvidia-dcgm-exporter-x2v4, container: nvidia-dcgm-exporter}}
  - job_name: dcgm-honor
    metrics_path: /dcgm
    honor_labels: true
    static_configs: [{{targets: ["{fx}"]}}]
"#
    )
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn real_prometheus_presets_window_from_results_and_errors() {
    let sim = Sim::start(&["--model", "sim", "--decode-ms", "5"]);
    let fixtures = FixtureServer::start();
    let prom = Prometheus::start(&scrape_configs(&sim, &fixtures));
    prom.wait_for_series("up == 1", 4);
    // History before the run, so that the padded window starts on scraped data.
    std::thread::sleep(std::time::Duration::from_millis(3000));

    // Queries below look back a few seconds only: Prometheus has no data from before it started,
    // and a range query point there has no value.

    // --- A piped run: sb-load against sb-sim, tee'd into results. ---
    let dir = tempdir("scrape-prom");
    let reqs = dir.join("requests.ndjson");
    std::fs::write(&reqs, requests(30)).unwrap();
    let results = dir.join("results.ndjson");
    let pipeline = format!(
        "'{load}' --url {url} --model sim --rate 15 < '{reqs}' | tee '{results}' > /dev/null",
        load = bin("sb-load").display(),
        url = sim.url,
        reqs = reqs.display(),
        results = results.display()
    );
    let status = Command::new("sh").args(["-c", &pipeline]).status().unwrap();
    assert!(status.success(), "sb-load | tee failed: {status}");
    // Two more scrapes so that Prometheus has seen the last request finish.
    std::thread::sleep(std::time::Duration::from_millis(2500));

    let lines: Vec<Value> =
        std::fs::read_to_string(&results).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ok = lines.iter().filter(|r| r["kind"] == "result" && r["status"] == "ok").count();
    assert_eq!(ok, 30, "every request answered");
    let first_send =
        lines.iter().filter(|r| r["kind"] == "result").map(|r| r["sent_ns"].as_u64().unwrap()).min().unwrap();
    let last_done =
        lines.iter().filter(|r| r["kind"] == "result").map(|r| r["done_ns"].as_u64().unwrap()).max().unwrap();

    let out = query(&prom.url, &["--window", path_str(&results)], "--pad 2s --step 1s --preset vllm --model sim");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let count = out.of("vllm:e2e_request_latency_seconds_count");
    assert!(!count.is_empty(), "{}", out.stderr);
    let window = &count[0]["window"];
    let (start, end) = (window["start_ns"].as_u64().unwrap(), window["end_ns"].as_u64().unwrap());
    assert!(start <= first_send - 2_000_000_000 && end >= last_done + 2_000_000_000, "window padded by 2 s");
    assert!(start >= first_send - 2_100_000_000 && end <= last_done + 2_100_000_000);
    // Samples cover the window, one per step.
    let ts: Vec<u64> = count.iter().map(|s| s["ts_ns"].as_u64().unwrap()).collect();
    assert!(ts[0] < start + 1_000_000_000 && *ts.last().unwrap() > end - 1_000_000_000, "{ts:?} vs {start}..{end}");
    assert!(ts.windows(2).all(|w| w[1] - w[0] == 1_000_000_000));
    assert!(out.samples.iter().all(|s| s["source"] == "prometheus" && s["window"] == *window));
    // The server counted exactly the run's requests inside the window.
    let delta = num(&count.last().unwrap()["value"]) - num(&count[0]["value"]);
    assert_eq!(delta, ok as f64, "e2e histogram count over the window");
    assert_eq!(count[0]["type"], "histogram");
    assert_eq!(count[0]["labels"]["model_name"], "sim");
    assert_eq!(count[0]["labels"]["job"], "sim");
    let buckets = out.of("vllm:time_to_first_token_seconds_bucket");
    assert!(buckets.iter().any(|s| s["labels"]["le"] == "+Inf"));
    let tokens = out.of("vllm:generation_tokens_total");
    assert_eq!(num(&tokens.last().unwrap()["value"]) - num(&tokens[0]["value"]), 30.0 * 8.0, "8 tokens each");
    assert_eq!(tokens[0]["type"], "counter");
    assert!(!out.of("vllm:kv_cache_usage_perc").is_empty());
    assert!(out.stderr.contains("returned no series"), "mm_cache is not in the sim: {}", out.stderr);
    assert!(!out.stderr.contains("no value at some steps"), "{}", out.stderr);

    // --- cAdvisor presets with the study's selectors, values as in the fixture file. ---
    let flags = "--start -6s --step 2s --preset container --namespace llm-servings --pod facebook-opt-.* --container vllm-container";
    let out = query(&prom.url, &[], flags);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for metric in [
        "container_fs_reads_bytes_total",
        "container_fs_writes_total",
        "container_memory_working_set_bytes",
        "container_memory_total_active_file_bytes",
        "container_network_receive_bytes_total",
        "container_threads",
    ] {
        let got = out.of(metric);
        assert!(!got.is_empty(), "{metric}: {}", out.stderr);
        let mut values: Vec<f64> = got.iter().map(|s| num(&s["value"])).collect();
        values.sort_by(f64::total_cmp);
        values.dedup();
        let mut want = fixture_values("scrape/metrics/cadvisor-golden-testdata.txt", metric);
        want.dedup();
        assert_eq!(values, want, "{metric}");
        assert!(got
            .iter()
            .all(|s| s["labels"]["namespace"] == "llm-servings" && s["labels"]["pod"] == "facebook-opt-7d9f"));
    }
    let blkio = out.of("container_blkio_device_usage_total");
    let ops: std::collections::BTreeSet<&str> =
        blkio.iter().map(|s| s["labels"]["operation"].as_str().unwrap()).collect();
    assert_eq!(ops.into_iter().collect::<Vec<_>>(), ["Read", "Write"]);

    // --- DCGM: the workload's labels arrive exported_* from one job and plain from the other. ---
    let out = query(&prom.url, &[], "--start -4s --step 1s --preset dcgm --namespace ray-llm --pod ray-.*");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dram = out.of("DCGM_FI_PROF_DRAM_ACTIVE");
    let jobs: std::collections::BTreeSet<&str> = dram.iter().map(|s| s["labels"]["job"].as_str().unwrap()).collect();
    assert_eq!(jobs.into_iter().collect::<Vec<_>>(), ["dcgm", "dcgm-honor"], "{}", out.stderr);
    for s in &dram {
        assert_eq!(num(&s["value"]), 0.000003);
        if s["labels"]["job"] == "dcgm" {
            assert_eq!(s["labels"]["exported_pod"], "ray-1111111");
            assert_eq!(s["labels"]["pod"], "nvidia-dcgm-exporter-x2v4");
        } else {
            assert_eq!(s["labels"]["pod"], "ray-1111111");
        }
    }
    assert!(out.of("DCGM_FI_DEV_FB_USED").is_empty(), "the T4 series belong to no pod");
    let all_gpu = query(&prom.url, &[], "--start -4s --step 2s --preset gpu,pcie");
    assert_eq!(all_gpu.code, 0, "{}", all_gpu.stderr);
    let fb = all_gpu.of("DCGM_FI_DEV_FB_FREE");
    assert!(fb.iter().any(|s| num(&s["value"]) == 15109.0), "the T4's free framebuffer");
    assert!(!all_gpu.of("DCGM_FI_PROF_PCIE_RX_BYTES").is_empty());

    // --- A bad query: the API's error text, the other queries' samples kept, exit 1. ---
    let out = scrape(&[
        "--prometheus",
        &prom.url,
        "--start",
        "-4s",
        "--pad",
        "0s",
        "--query",
        "rate(vllm:generation_tokens_total[5m",
        "--query",
        "tps=sum(rate(vllm:generation_tokens_total[5s]))",
        "--query",
        "up",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("bad_data") && out.stderr.contains("parse error"), "{}", out.stderr);
    assert!(!out.of("tps").is_empty(), "a named expression keeps its name");
    assert_eq!(out.of("up").len() % 4, 0, "four targets");
    assert!(out.of("up").iter().all(|s| s["target"] == "up"));

    // --- The window in every accepted form, and a step that would exceed 11,000 points. ---
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let out = scrape(&[
        "--prometheus",
        &prom.url,
        "--start",
        &format!("{}", now - 86400),
        "--end",
        "now",
        "--step",
        "1s",
        "--query",
        "up{job=\"sim\"}",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // At least 86,400 s / 11,000 points (a little more for the padding), not the 1 s asked for.
    let before = out.stderr.split("s step").next().unwrap();
    let step: f64 = before.rsplit(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("{}", out.stderr));
    assert!((7.854..7.9).contains(&step), "{}", out.stderr);
    assert!(
        out.stderr.contains("no value at some steps"),
        "a day back, Prometheus has seconds of data: {}",
        out.stderr
    );
    assert!(!out.samples.is_empty());

    // --- An unreachable server. ---
    let out =
        scrape(&["--prometheus", &format!("http://127.0.0.1:{}", free_port()), "--start", "-1m", "--preset", "vllm"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("cannot reach Prometheus") && out.stderr.contains("refused"), "{}", out.stderr);
    assert!(out.samples.is_empty());

    drop(prom);
    std::fs::remove_dir_all(&dir).unwrap();
}
