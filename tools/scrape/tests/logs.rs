//! Logs mode on the real vLLM logs, run through the binary the way users do.

mod common;

use common::{path_str, scrape, scrape_stdin};
use sb_testkit::{tempdir, testdata};

const LOGS: &[(&str, usize)] = &[
    // (file, phases found: five with an API server, four for the offline start)
    ("vllm-startup-0.9.0.1.log", 5),
    ("vllm-startup-0.11.2.log", 5),
    ("vllm-startup-0.25.1.log", 5),
    ("vllm-startup-0.25.1-specdecode-cached-compile.log", 5),
    ("vllm-offline-0.10.1.1-debug-patched.log", 4),
];

#[test]
fn every_fixture_log_gives_its_phases_and_a_consistent_total() {
    for (file, phases) in LOGS {
        let path = testdata(&format!("scrape/logs/{file}"));
        let out = scrape(&["--log", path_str(&path), "--year", "2025"]);
        assert_eq!(out.code, 0, "{file}: {}", out.stderr);
        let phase: Vec<f64> =
            out.of("vllm_startup:phase_seconds").iter().map(|s| s["value"].as_f64().unwrap()).collect();
        assert_eq!(phase.len(), *phases, "{file}");
        let total = out.of("vllm_startup:total_seconds");
        assert_eq!(total.len(), 1, "{file}");
        // The phases partition the start-up: they add up to the total.
        assert_eq!(phase.iter().sum::<f64>(), total[0]["value"].as_f64().unwrap(), "{file}");
        for s in &out.samples {
            assert_eq!(s["source"], "log");
            assert!(s["metric"].as_str().unwrap().starts_with("vllm_startup:"), "{s}");
            let w = &s["window"];
            assert_eq!(
                w["end_ns"].as_u64().unwrap() - w["start_ns"].as_u64().unwrap(),
                (total[0]["value"].as_f64().unwrap() * 1e9) as u64,
                "{file}: the window is the start-up"
            );
        }
        assert!(!out.of("vllm_startup:weights_load_seconds").is_empty(), "{file}");
        assert!(!out.of("vllm_startup:model_load_seconds").is_empty(), "{file}");
    }
}

#[test]
fn stdin_and_ansi_codes() {
    let text = std::fs::read_to_string(testdata("scrape/logs/vllm-startup-0.11.2.log")).unwrap();
    assert!(text.contains("\x1b[1;36m"), "this fixture has ANSI colour codes");
    let out = scrape_stdin(&["--log", "-", "--year", "2025", "--utc-offset", "+01:00"], &text);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let weights = out.of("vllm_startup:weights_load_seconds");
    assert_eq!(weights[0]["labels"]["process"], "EngineCore_DP0");
    assert_eq!(weights[0]["target"], "<stdin>");
    // 2025-11-28 15:27:50 at UTC+1 is 14:27:50Z.
    assert_eq!(weights[0]["ts_ns"].as_u64().unwrap(), 1_764_340_070_000_000_000);
}

#[test]
fn a_log_that_is_not_from_vllm_fails_clearly_and_a_cut_log_keeps_what_it_has() {
    let dir = tempdir("scrape-logs");
    let other = dir.join("nginx.log");
    std::fs::write(&other, "127.0.0.1 - - [25/Nov/2026:09:00:00 +0000] \"GET / HTTP/1.1\" 200 612\n").unwrap();
    let out = scrape(&["--log", path_str(&other)]);
    assert_eq!(out.code, 1);
    assert!(out.samples.is_empty());
    assert!(out.stderr.contains("no vLLM log lines found"), "{}", out.stderr);

    // The first 40 lines of the 0.25.1 log: engine started, weights not loaded yet.
    let full = std::fs::read_to_string(testdata("scrape/logs/vllm-startup-0.25.1.log")).unwrap();
    let cut = dir.join("cut.log");
    std::fs::write(&cut, full.lines().take(40).collect::<Vec<_>>().join("\n")).unwrap();
    let out = scrape(&["--log", path_str(&cut), "--year", "2026"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("start-up not complete"), "{}", out.stderr);
    let phases = out.of("vllm_startup:phase_seconds");
    assert_eq!(phases.len(), 2, "config and worker_init were complete");
    assert!(out.of("vllm_startup:total_seconds").is_empty());

    let missing = scrape(&["--log", path_str(&dir.join("nope.log"))]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("nope.log"), "{}", missing.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}
