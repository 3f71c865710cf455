//! sb-report checks the results against the run records that claim them, and judges the load
//! generator by the pacing of its run (issue "trust at every seam"): each test failed on the
//! build before these checks.

use sb_testkit::{pipe, tempdir, Sim};
use serde_json::{json, Value};

fn requests(n: usize) -> String {
    (0..n)
        .map(|i| {
            json!({"kind": "request", "v": 1, "id": format!("r{i}"), "prompt": "a b c", "max_tokens": 2}).to_string()
                + "\n"
        })
        .collect()
}

/// sb-load's whole output (results, then its run record) for `args` against an instant sim.
fn results(sim: &Sim, n: usize, args: &[&str]) -> String {
    // (The generator's own lateness is sb-load's to judge, and a busy machine makes it late:
    // out of the way here.)
    let mut all = vec!["--url", sim.url.as_str(), "--model", "sim", "--max-lag", "60000"];
    all.extend_from_slice(args);
    let out = pipe("sb-load", &all, requests(n).as_bytes());
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
}

fn summary(out: &sb_testkit::Piped) -> Value {
    out.of_kind("summary").pop().unwrap_or_else(|| panic!("no summary: {}", out.stderr))
}

#[test]
fn the_same_results_read_twice_are_counted_once_and_said() {
    let sim = Sim::start(&["--instant"]);
    let dir = tempdir("report-dup");
    let file = dir.join("res.ndjson");
    std::fs::write(&file, results(&sim, 50, &["-c", "4"])).unwrap();
    let f = file.to_str().unwrap();
    let once = pipe("sb-report", &[f, "--format", "json"], b"");
    let twice = pipe("sb-report", &[f, f, "--format", "json"], b"");
    assert_eq!(twice.code, 0, "{}", twice.stderr);
    let (a, b) = (summary(&once), summary(&twice));
    assert_eq!(b["completed"], 50, "{b}");
    assert_eq!(a["completed"], b["completed"]);
    assert_eq!(a["request_throughput"], b["request_throughput"]);
    assert!(twice.stderr.contains("50 results were read more than once"), "{}", twice.stderr);
}

#[test]
fn results_missing_from_a_run_make_it_untrustworthy() {
    let sim = Sim::start(&["--instant"]);
    let all = results(&sim, 1000, &["-c", "16"]);
    // Drop 100 results, keep the run record (its last line).
    let kept: Vec<&str> = all.lines().enumerate().filter(|(i, _)| !(200..300).contains(i)).map(|(_, l)| l).collect();
    let out = pipe("sb-report", &[], (kept.join("\n") + "\n").as_bytes());
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.contains("RUN NOT TRUSTWORTHY") && out.stdout.contains("900 of 1000 results present"),
        "{}",
        out.stdout
    );
    // All of them: trustworthy.
    let out = pipe("sb-report", &[], all.as_bytes());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn results_without_their_run_record_say_the_generator_verdict_is_unknown() {
    let sim = Sim::start(&["--instant"]);
    let all = results(&sim, 20, &[]);
    let only_results: String =
        all.lines().filter(|l| l.contains("\"kind\":\"result\"")).map(|l| format!("{l}\n")).collect();
    let out = pipe("sb-report", &[], only_results.as_bytes());
    assert_eq!(out.code, 0, "a warning, not a verdict: {}", out.stderr);
    assert!(out.stderr.contains("without its run record") && out.stderr.contains("verdict"), "{}", out.stderr);
    let out = pipe("sb-report", &[], all.as_bytes());
    assert!(!out.stderr.contains("without its run record"), "{}", out.stderr);
}

#[test]
fn rate_inf_and_closed_loop_runs_are_not_flagged() {
    let sim = Sim::start(&["--instant"]);
    // vLLM's default: everything at once.
    let out = pipe("sb-report", &[], results(&sim, 300, &["--rate", "inf"]).as_bytes());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("NOT TRUSTWORTHY"), "{}", out.stdout);
    // No more requests than the concurrency cap: all start at once, nothing was scheduled.
    let out = pipe("sb-report", &[], results(&sim, 8, &["-c", "16"]).as_bytes());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // A closed loop.
    let out = pipe("sb-report", &[], results(&sim, 200, &["-c", "8"]).as_bytes());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn run_records_written_before_the_loop_field_are_judged_by_their_pacing() {
    let base = |extra: Value| {
        let mut r = json!({"kind": "run", "v": 1, "run": "old", "started_ns": 1, "ended_ns": 2_000_000_000,
            "scheduled_rate_rps": 90000.0, "achieved_rate_rps": 900.0, "max_lag_ms": 10.0,
            "send_lateness_ms": {"p50": 30.0, "p99": 80.0, "max": 90.0}, "requests": {"results": 0}});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        format!("{r}\n")
    };
    // The record shape of the previous sb-load: `inf` with a cap is a closed loop, `inf`
    // alone a burst; neither promised a rate.
    for load in [json!({"stages": ["inf"], "concurrency": 8}), json!({"stages": ["inf"], "concurrency": null})] {
        let out = pipe("sb-report", &[], base(json!({"load": load})).as_bytes());
        assert!(!out.stdout.contains("NOT TRUSTWORTHY"), "{load}: {}", out.stdout);
    }
    let out =
        pipe("sb-report", &[], base(json!({"load": {"stages": ["poisson:100"]}, "target_rate_rps": 100.0})).as_bytes());
    assert!(out.stdout.contains("NOT TRUSTWORTHY"), "{}", out.stdout);
}

#[test]
fn a_server_that_ignored_max_tokens_is_said() {
    // transformers serve reads only max_tokens on chat; sent max_completion_tokens alone, it
    // generates its default length (sb-sim --compat transformers does the same).
    let sim = Sim::start(&["--compat", "transformers", "--decode-ms", "0", "--default-max-tokens", "40"]);
    let chat: String = (0..3)
        .map(|i| {
            json!({"kind": "request", "v": 1, "id": format!("c{i}"), "api": "chat",
                   "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})
            .to_string()
                + "\n"
        })
        .collect();
    let args = [
        "--url",
        sim.url.as_str(),
        "--model",
        "sim",
        "--max-lag",
        "60000",
        "--chat-max-tokens",
        "max-completion-tokens",
    ];
    let load = pipe("sb-load", &args, chat.as_bytes());
    let out = pipe("sb-report", &["--format", "json"], load.stdout.as_bytes());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("more tokens than max_tokens asked for on 3 requests"), "{}", out.stderr);
    let warnings = summary(&out)["warnings"].to_string();
    assert!(warnings.contains("ignored the length field"), "{warnings}");
}
