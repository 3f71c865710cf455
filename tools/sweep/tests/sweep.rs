//! sb-sweep against sb-sim, whose capacity follows from its flags (docs/sim.md): with S sequence
//! slots, D ms steps and O-token outputs (no per-sequence or prefill time) it finishes at most
//! S / (O x D / 1000) requests per second. The sweep runs the real sb-load and sb-report found
//! next to it, as a user's shell would. Points are short (a few seconds) and the tests take a
//! lock, so that two sweeps never share the machine's cores.

use sb_testkit::{bin, tempdir, Sim};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// `n` completions requests of `words`-word prompts (all different) asking for `output` tokens.
fn requests(dir: &Path, n: usize, words: usize, output: u32) -> PathBuf {
    let path = dir.join("requests.ndjson");
    let mut text = String::new();
    for i in 0..n {
        let prompt: Vec<String> = (0..words).map(|w| format!("q{i}w{w}")).collect();
        let r = serde_json::json!({"kind": "request", "v": 1, "id": format!("r{i}"), "prompt": prompt.join(" "), "max_tokens": output});
        text.push_str(&r.to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// A sim of `seqs` slots and `step_ms` steps: capacity seqs / (output x step_ms / 1000) req/s.
fn sim(seqs: u32, step_ms: u32) -> Sim {
    let (s, d) = (seqs.to_string(), step_ms.to_string());
    Sim::start(&["--max-num-seqs", &s, "--decode-ms", &d, "--decode-ms-per-seq", "0", "--prefill-us-per-token", "0"])
}

struct Out {
    code: i32,
    records: Vec<Value>,
    stderr: String,
}

impl Out {
    fn sweep(&self) -> &Value {
        let last = self.records.last().unwrap_or_else(|| panic!("no output: {}", self.stderr));
        assert_eq!(last["kind"], "sweep", "the last record is the sweep record: {}", self.stderr);
        last
    }
    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.records.iter().filter(|r| r["kind"] == kind).collect()
    }
}

/// Short points: 2.5 s after 0.5 s of warm-up; sb-load's lag limit loosened for a busy machine.
const SHORT: &[&str] = &["--duration", "2.5s", "--warmup", "500ms", "--saturation-window", "2s"];

fn sweep(args: &[&str], url: &str) -> Out {
    let out = Command::new(bin("sb-sweep"))
        .args(args)
        .args(["--", "--url", url, "--model", "sim", "--max-lag", "50"])
        .stdin(Stdio::null())
        .output()
        .expect("run sb-sweep");
    let text = String::from_utf8(out.stdout).unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        records: text.lines().map(|l| serde_json::from_str(l).expect("every stdout line is a JSON record")).collect(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn the_search_finds_a_max_rate_between_half_the_capacity_and_the_capacity() {
    let _one = lock();
    let dir = tempdir("sweep-search");
    let req = requests(&dir, 600, 8, 20);
    let req = req.to_str().unwrap();
    // Two shapes with 20-token outputs: 8 slots x 10 ms steps = 40 req/s; 4 slots x 10 ms = 20 req/s.
    for (seqs, capacity) in [(8, 40.0), (4, 20.0)] {
        let sim = sim(seqs, 10);
        let min = format!("{}", capacity / 4.0);
        let max = format!("{}", capacity * 1.5);
        let mut args = vec!["--search", "--slo", "ttft_p99_ms=200", "--requests", req, "--min", &min, "--max", &max];
        args.extend(["--precision", "20%"]);
        args.extend(SHORT);
        let out = sweep(&args, &sim.url);
        let s = out.sweep();
        assert_eq!(out.code, 0, "a rate was found: {}", out.stderr);
        let max_rate = s["max_rate_rps"].as_f64().unwrap_or_else(|| panic!("no max_rate_rps: {s}"));
        assert!(
            max_rate > capacity / 2.0 && max_rate < capacity,
            "capacity {capacity}: max rate {max_rate}: {}",
            out.stderr
        );
        assert_eq!(s["bracket"]["low_rps"].as_f64(), Some(max_rate));
        assert!(s["bracket"]["high_rps"].as_f64().unwrap() > max_rate);
        for p in s["points"].as_array().unwrap() {
            if p["target_rate_rps"].as_f64().unwrap() > capacity {
                assert_eq!(p["pass"], false, "a point above capacity passed: {p}");
            }
            assert_eq!(p["pass"], p["status"] == "pass");
        }
        // Every point's results and run record came through, tagged.
        let points = s["points"].as_array().unwrap().len();
        assert_eq!(out.of_kind("run").len(), points);
        let results = out.of_kind("result");
        assert!(results.iter().all(|r| r["tags"]["point"].is_string() && r["tags"]["rate"].is_string()));
        assert!(results.iter().any(|r| r["tags"]["point"] == format!("p{}", points - 1)));
        // sb-report reads the whole stream and prints the capacity.
        let file = dir.join(format!("sweep-{seqs}.ndjson"));
        std::fs::write(&file, out.records.iter().map(|r| format!("{r}\n")).collect::<String>()).unwrap();
        let report = Command::new(bin("sb-report")).arg(&file).args(["--group-by", "tags.point"]).output().unwrap();
        let text = String::from_utf8_lossy(&report.stdout);
        let shown = format!("{max_rate:.3}").trim_end_matches('0').trim_end_matches('.').to_string();
        assert!(
            text.contains(&format!("{:<40} {shown} ", "Max rate within the SLO (req/s):")),
            "{text}\n{}",
            String::from_utf8_lossy(&report.stderr)
        );
    }
}

#[test]
fn no_point_above_capacity_passes_and_the_queue_stops_it_early() {
    let _one = lock();
    let dir = tempdir("sweep-rates");
    let req = requests(&dir, 600, 8, 20);
    let sim = sim(8, 10); // 40 req/s
    let mut args = vec!["--rates", "10,60,80", "--slo", "ttft_p99_ms=200", "--requests", req.to_str().unwrap()];
    args.extend(SHORT);
    let out = sweep(&args, &sim.url);
    let points = out.sweep()["points"].as_array().unwrap().clone();
    assert_eq!(points.len(), 3, "{}", out.stderr);
    assert_eq!(points[0]["status"], "pass", "{}", out.stderr);
    for p in &points[1..] {
        assert_eq!(p["pass"], false, "{p}");
        assert!(p["status"] == "saturated" || p["status"] == "fail", "{p}");
    }
    // 80 req/s against 40: the queue grows by ~40/s, and the point stops before its 3 s.
    assert_eq!(points[2]["status"], "saturated", "{}", out.stderr);
    assert!(points[2]["reasons"][0].as_str().unwrap().contains("requests in flight"));
    assert_eq!(out.code, 0, "a list of rates is done when every point ran: {}", out.stderr);
}

#[test]
fn the_prefix_cache_is_reset_before_every_point() {
    let _one = lock();
    let dir = tempdir("sweep-reset");
    // 40-word prompts: 2 full blocks each, all different, so hits can only come from a point
    // replaying what the previous one sent.
    let req = requests(&dir, 10, 40, 2);
    let hits = |reset: bool| {
        let sim = sim(8, 1);
        let mut args = vec!["--rates", "20,20", "--count", "10", "--warmup", "0", "--requests", req.to_str().unwrap()];
        if !reset {
            args.push("--no-reset");
        }
        let out = sweep(&args, &sim.url);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(out.of_kind("result").len(), 20);
        let metrics = reqwest_free_get(&sim.url, "/metrics");
        metrics
            .lines()
            .find(|l| l.starts_with("vllm:prefix_cache_hits_total"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .expect("prefix_cache_hits_total")
    };
    assert_eq!(hits(true), 0.0, "each point starts from an empty cache");
    assert!(hits(false) >= 10.0 * 32.0, "without the reset the second point hits every prompt's blocks");
}

/// GET over a plain TCP connection (the test needs no HTTP client crate for one page).
fn reqwest_free_get(url: &str, path: &str) -> String {
    use std::io::Write;
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn ctrl_c_keeps_every_record_and_ends_with_an_interrupted_sweep_record() {
    let _one = lock();
    let dir = tempdir("sweep-sigint");
    let req = requests(&dir, 600, 8, 20);
    let sim = sim(8, 10);
    let mut child = Command::new(bin("sb-sweep"))
        .args(["--rates", "5,5,5", "--duration", "20s", "--warmup", "0", "--requests", req.to_str().unwrap()])
        .args(["--", "--url", &sim.url, "--model", "sim", "--max-lag", "50"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while lines.len() < 5 {
        assert!(Instant::now() < deadline, "no results within 30 s");
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            lines.push(l);
        }
    }
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    lines.extend(rx.iter());
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let records: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let last = records.last().unwrap();
    assert_eq!(last["kind"], "sweep");
    assert_eq!(last["interrupted"], true);
    assert_eq!(last["points"].as_array().unwrap().len(), 1, "the sweep stopped in its first point");
    assert_eq!(last["points"][0]["status"], "interrupted");
    // The results written before the signal are all there, then the point's run record.
    let results = records.iter().filter(|r| r["kind"] == "result").count();
    assert!(results >= 5, "{results}");
    let runs: Vec<&Value> = records.iter().filter(|r| r["kind"] == "run").collect();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["verdict"], "interrupted");
    assert_eq!(records[records.len() - 2]["kind"], "run");
}

#[test]
fn arguments_sb_sweep_sets_itself_are_refused_with_exit_2() {
    let dir = tempdir("sweep-args");
    let req = requests(&dir, 1, 1, 1);
    let req = req.to_str().unwrap();
    let run = |args: &[&str]| Command::new(bin("sb-sweep")).args(args).output().unwrap();
    let out = run(&["--rates", "1", "--requests", req, "--", "--url", "http://127.0.0.1:9", "--rate", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"--rate\""), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["--rates", "1", "--requests", req]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--url"));
    let out = run(&["--rates", "1", "--requests", req, "--slo", "ttft_p99_ms=x", "--", "--url", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a number"));
    // sb-report's own grammar checks the per-request objectives.
    let out = run(&["--rates", "1", "--requests", req, "--slo", "latency_ms=3", "--", "--url", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown metric"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["--search", "--requests", req, "--", "--url", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2), "--search needs --slo");
    let out = run(&["--requests", req, "--", "--url", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2), "some points are needed");
    // Durations in the grammar every tool shares, the error naming the flag and the forms.
    let out = run(&["--rates", "1", "--requests", req, "--duration", "1m30x", "--", "--url", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--duration") && err.contains("\"1m30x\"") && err.contains("1m30s"), "{err}");
}
