//! Helpers for the integration tests: run the real `sb-load` binary on request records and read
//! back what it wrote.

#![allow(dead_code)]

pub mod raw;
pub mod stamp;

use sb_testkit::bin;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

pub struct Run {
    pub code: i32,
    pub results: Vec<Value>,
    pub run: Value,
    pub stderr: String,
}

impl Run {
    pub fn by_status(&self, status: &str) -> usize {
        self.results.iter().filter(|r| r["status"] == status).count()
    }
    /// Nanoseconds as f64 milliseconds between two fields of a result.
    pub fn ms(r: &Value, from: &str, to: &str) -> f64 {
        (r[to].as_u64().unwrap() as f64 - r[from].as_u64().unwrap() as f64) / 1e6
    }
}

/// Runs `sb-load --url <url> --model sim <args>` with `stdin` as input. Unless the test sets
/// `--max-lag` itself, the lateness check is out of the way (60 s): a test of schedules,
/// sessions or failures must pass on a busy machine, where sends run late.
pub fn load(url: &str, args: &[&str], stdin: &str) -> Run {
    let lag: &[&str] = if args.iter().any(|a| a.starts_with("--max-lag")) { &[] } else { &["--max-lag", "60000"] };
    let mut child = Command::new(bin("sb-load"))
        .args(["--url", url, "--model", "sim"])
        .args(lag)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sb-load");
    let mut input = child.stdin.take().unwrap();
    let text = stdin.to_string();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
    });
    let out = child.wait_with_output().expect("wait for sb-load");
    feeder.join().unwrap();
    parse_output(out.status.code().unwrap_or(-1), &out.stdout, &out.stderr)
}

pub fn parse_output(code: i32, stdout: &[u8], stderr: &[u8]) -> Run {
    let stdout = String::from_utf8_lossy(stdout);
    let stderr = String::from_utf8_lossy(stderr).into_owned();
    let mut results = Vec::new();
    let mut run = Value::Null;
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        match v["kind"].as_str() {
            Some("result") => results.push(v),
            Some("run") => {
                assert!(run.is_null(), "two run records");
                run = v;
            }
            other => panic!("unexpected record kind {other:?} on stdout"),
        }
    }
    Run { code, results, run, stderr }
}

/// `n` completions requests of `words` prompt words asking for `max_tokens`.
pub fn completions(n: usize, words: usize, max_tokens: u32) -> String {
    let prompt = vec!["word"; words].join(" ");
    (0..n)
        .map(|i| {
            json!({"kind": "request", "v": 1, "id": format!("r{i}"), "prompt": prompt, "max_tokens": max_tokens})
                .to_string()
                + "\n"
        })
        .collect()
}
