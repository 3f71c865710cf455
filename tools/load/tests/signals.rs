//! Stopping: Ctrl-C (SIGINT) and SIGTERM stop sending, let requests in flight finish or cancel
//! them after the grace period, and lose no record; a bad input line stops the run with its
//! line number, keeping every result already produced; bad arguments are one-line errors.

mod common;

use common::{completions, load, parse_output, Run};
use sb_testkit::{bin, spawn_fed, Sim};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

/// Starts sb-load on `reqs`, waits for `wait_for` results, sends `signal`, returns the run.
fn interrupt(url: &str, args: &[&str], reqs: String, wait_for: usize, signal: &str) -> Run {
    let mut cmd = Command::new(bin("sb-load"));
    cmd.args(["--url", url, "--model", "sim"]).args(args);
    let (mut child, _feeder) = spawn_fed(cmd, reqs.into_bytes());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    for _ in 0..wait_for {
        stdout.read_line(&mut text).unwrap();
    }
    if wait_for == 0 {
        // No result to wait for: give sb-load time to start and install its signal handlers.
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let status = Command::new("kill").args(["-s", signal, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    stdout.read_to_string(&mut text).unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let code = child.wait().unwrap().code().unwrap_or(-1);
    parse_output(code, text.as_bytes(), stderr.as_bytes())
}

fn assert_nothing_lost(run: &Run) {
    let req = &run.run["requests"];
    assert_eq!(req["results"].as_u64().unwrap() as usize, run.results.len(), "{}", run.run);
    assert_eq!(
        req["read"].as_u64().unwrap(),
        req["results"].as_u64().unwrap() + req["not_sent"].as_u64().unwrap(),
        "every request read is either a result or counted as not sent: {}",
        run.run
    );
}

#[test]
fn ctrl_c_lets_requests_in_flight_finish_and_loses_nothing() {
    // 10 tokens x 20 ms: each request takes ~200 ms; 8 in flight.
    let sim = Sim::start(&["--decode-ms", "20"]);
    let run = interrupt(&sim.url, &["--concurrency", "8", "--grace", "10s"], completions(500, 3, 10), 8, "INT");
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(run.stderr.contains("stopping: no new requests"), "{}", run.stderr);
    assert_eq!(run.run["verdict"], "interrupted");
    assert!(run.results.len() >= 16 && run.results.len() < 500, "{} results", run.results.len());
    assert!(run.results.iter().all(|r| r["status"] == "ok"), "in-flight requests finished within the grace period");
    assert_nothing_lost(&run);
}

#[test]
fn sigterm_after_the_grace_period_cancels_and_records_requests_in_flight() {
    // 100 tokens x 20 ms: ~2 s per request, far longer than the 200 ms grace.
    let sim = Sim::start(&["--decode-ms", "20"]);
    let run = interrupt(
        &sim.url,
        &["--concurrency", "4", "--grace", "200ms", "--rate", "50"],
        completions(500, 3, 100),
        0,
        "TERM",
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    let cancelled = run.by_status("cancelled");
    assert!(cancelled >= 1, "{:?}", run.results);
    for r in run.results.iter().filter(|r| r["status"] == "cancelled") {
        assert!(r["error"].as_str().unwrap().contains("cancelled in flight"), "{r}");
        assert!(r["sent_ns"].as_u64() <= r["done_ns"].as_u64());
    }
    assert_nothing_lost(&run);
}

#[test]
fn a_bad_input_line_stops_with_its_line_number_and_keeps_earlier_results() {
    let sim = Sim::start(&["--instant"]);
    let mut reqs = completions(2, 2, 2);
    reqs += "{\"kind\":\"request\",\"v\":1,\"id\":\"bad\",\"prompt\":\n";
    reqs += &completions(3, 2, 2);
    let run = load(&sim.url, &[], &reqs);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.results.len(), 2);
    assert!(run.stderr.contains("<stdin>:3: "), "{}", run.stderr);
    assert_eq!(run.run["verdict"], "input_error");
    assert!(run.run["input_error"].as_str().unwrap().starts_with("<stdin>:3: "));
}

#[test]
fn bad_arguments_are_one_line_errors_with_exit_2() {
    for (args, want) in [
        (vec!["--rate", "poisson:-3"], "rate must be a positive number"),
        (vec!["--shard", "4/4"], "bad --shard"),
        (vec!["--timeout", "soon"], "bad duration"),
        (vec!["--url", "localhost:8000"], "must start with http"),
        (vec!["--header", "no-colon"], "bad --header"),
    ] {
        let url = if args[0] == "--url" { vec![] } else { vec!["--url", "http://127.0.0.1:9"] };
        let out = Command::new(bin("sb-load"))
            .args(url)
            .args(["--model", "m"])
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want) && err.trim().lines().count() == 1, "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn help_teaches_with_examples() {
    let out = Command::new(bin("sb-load")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for want in ["Examples:", "poisson:", "--concurrency", "--shard", "Exit status"] {
        assert!(help.contains(want), "--help lacks {want:?}");
    }
}

#[test]
fn a_closed_stdout_stops_sending() {
    // `sb-load ... | head -3`: once the reader of the results is gone, sending the rest of a
    // long run would be load nobody sees. sb-load stops, says why, and exits 1.
    let sim = Sim::start(&["--instant"]);
    let mut cmd = Command::new(bin("sb-load"));
    cmd.args(["--url", &sim.url, "--model", "sim", "--rate", "200"]);
    let (mut child, _feeder) = spawn_fed(cmd, completions(2000, 2, 1).into_bytes());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    for _ in 0..3 {
        stdout.read_line(&mut line).unwrap();
    }
    drop(stdout);
    let started = std::time::Instant::now();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let code = child.wait().unwrap().code();
    // 2000 requests at 200 req/s would take 10 s.
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "kept sending after stdout closed");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("stdout was closed"), "{stderr}");
}
