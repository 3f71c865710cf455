//! Endpoint mode: polling sb-sim and fixture-serving endpoints on loopback.

mod common;

use common::{parse_output, scrape, FixtureServer};
use sb_testkit::{bin, Sim};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// sb-scrape polling every URL every `interval` for `duration`.
fn poll(urls: &[&str], interval: &str, duration: &str) -> common::Out {
    let mut args: Vec<&str> = urls.iter().flat_map(|u| ["--endpoint", u]).collect();
    args.extend(["--interval", interval, "--duration", duration]);
    scrape(&args)
}

#[test]
fn polls_every_url_and_keeps_names_types_and_timestamps() {
    let sim = Sim::start(&[]);
    let fixtures = FixtureServer::start();
    let sim_metrics = format!("{}/metrics", sim.url);
    let started = Instant::now();
    let out = poll(&[&sim_metrics, &fixtures.url("/cadvisor"), &fixtures.url("/openmetrics")], "300ms", "1s");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));
    let from = |url: &str| out.samples.iter().filter(|s| s["target"] == url).count();
    assert!(from(&sim_metrics) > 0 && from(&fixtures.url("/cadvisor")) > 0);

    // Several scrapes of the sim, each stamped with its own time, inside the window.
    let running = out.of("vllm:num_requests_running");
    assert!(running.len() >= 3, "{} scrapes in 1 s at 300 ms", running.len());
    let times: Vec<u64> = running.iter().map(|s| s["ts_ns"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]));
    let w = &running[0]["window"];
    let (start, end) = (w["start_ns"].as_u64().unwrap(), w["end_ns"].as_u64().unwrap());
    assert!(times.iter().all(|t| *t >= start));
    // Scrapes inside the window, then a closing one at its end.
    let (last, inside) = times.split_last().unwrap();
    assert!(inside.iter().all(|t| *t < end));
    assert!(*last >= end && *last < end + 1_000_000_000, "closing scrape at {last}, window end {end}");
    assert_eq!(running[0]["type"], "gauge");
    assert_eq!(running[0]["source"], "endpoint");

    // Histograms keep their series, `le` as a label.
    let buckets = out.of("vllm:e2e_request_latency_seconds_bucket");
    assert!(buckets.iter().any(|s| s["labels"]["le"] == "+Inf"));
    assert!(buckets.iter().all(|s| s["type"] == "histogram"));

    // cAdvisor's explicit millisecond timestamps are kept.
    let blkio = out.of("container_blkio_device_usage_total");
    assert!(!blkio.is_empty());
    assert!(blkio.iter().all(|s| s["ts_ns"] == 1_395_066_363_000_000_000u64));
    // OpenMetrics: seconds timestamps, exemplar ignored, counter type from the family.
    let om = out.of("om_requests_total");
    assert_eq!(om[0]["ts_ns"], 1_520_879_607_789_000_000u64);
    assert_eq!(om[0]["type"], "counter");
    assert_eq!(om[0]["value"], 7.0);
}

#[test]
fn the_vllm_dump_comes_through_whole_and_match_filters() {
    let fixtures = FixtureServer::start();
    let out = scrape(&["--endpoint", &fixtures.url("/vllm"), "--interval", "1s", "--duration", "500ms"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(sb_testkit::testdata("scrape/metrics/vllm-metrics-0.11.0.txt")).unwrap();
    let lines = text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count();
    assert_eq!(out.samples.len(), 2 * lines, "a scrape at the start and the closing one, every sample line");
    let filtered = scrape(&["--endpoint", &fixtures.url("/vllm"), "--duration", "500ms", "--match", "^vllm:"]);
    let vllm_lines = text.lines().filter(|l| l.starts_with("vllm:")).count();
    assert_eq!(filtered.samples.len(), 2 * vllm_lines);
}

#[test]
fn headers_are_sent() {
    let fixtures = FixtureServer::start();
    let url = fixtures.url("/auth");
    let denied = scrape(&["--endpoint", &url, "--duration", "300ms"]);
    assert_eq!(denied.code, 1);
    assert!(denied.stderr.contains("HTTP 401"), "{}", denied.stderr);
    let out = scrape(&["--endpoint", &url, "--duration", "300ms", "-H", "Authorization: Bearer t0k"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.of("vllm:num_requests_running").is_empty());
    let bad = scrape(&["--endpoint", &url, "-H", "no colon"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("Name: value"), "{}", bad.stderr);
}

#[test]
fn a_failing_url_is_reported_and_the_others_kept() {
    let sim = Sim::start(&[]);
    let fixtures = FixtureServer::start();
    let dead = format!("http://127.0.0.1:{}/metrics", common::free_port());
    let sim_metrics = format!("{}/metrics", sim.url);
    let out = poll(&[&sim_metrics, &dead, &fixtures.url("/broken")], "200ms", "700ms");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(!out.of("vllm:num_requests_running").is_empty());
    assert!(out.stderr.contains(&dead) && out.stderr.contains("refused"), "{}", out.stderr);
    assert!(out.stderr.contains("HTTP 500"), "{}", out.stderr);
    assert!(out.stderr.contains("scrapes failed"), "{}", out.stderr);
}

#[test]
fn ctrl_c_stops_polling_and_keeps_every_scrape() {
    let sim = Sim::start(&[]);
    let mut child = Command::new(bin("sb-scrape"))
        .args(["--endpoint", &format!("{}/metrics", sim.url), "--interval", "10s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read stdout while it runs (a full pipe would block the writer), and send the signal only
    // once the first scrape is out: by then the signal handler is installed.
    let mut child_out = child.stdout.take().unwrap();
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = child_out.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            if buf.is_empty() {
                let _ = first_tx.send(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf
    });
    first_rx.recv_timeout(Duration::from_secs(30)).expect("no output from sb-scrape within 30 s");
    std::thread::sleep(Duration::from_millis(300));
    let stop_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "sb-scrape did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = reader.join().unwrap();
    let mut stderr = Vec::new();
    child.stderr.take().unwrap().read_to_end(&mut stderr).unwrap();
    let out = parse_output(status.code().unwrap_or(-1), &stdout, &stderr);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The first scrape at the start, none other within the 10 s interval, and the closing scrape
    // on Ctrl-C: the state at the moment the run ended is in the stream.
    let running = out.of("vllm:num_requests_running");
    assert_eq!(running.len(), 2, "{}", out.stderr);
    let closing = running[1]["ts_ns"].as_u64().unwrap();
    assert!(closing >= stop_ns && closing < stop_ns + 2_000_000_000, "{closing} vs {stop_ns}");
    assert!(running.iter().all(|s| s.get("window").is_none()), "no end was known: no window");
}
