//! Helpers for the integration tests: run the real `sb-load` binary on request records and read
//! back what it wrote.

#![allow(dead_code)]

pub mod raw;
pub mod stamp;

use serde_json::{json, Value};

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
    let all: Vec<&str> = ["--url", url, "--model", "sim"].iter().chain(lag).chain(args).copied().collect();
    let out = sb_testkit::pipe("sb-load", &all, stdin.as_bytes());
    parse_output(out.code, out.stdout.as_bytes(), out.stderr.as_bytes())
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
