//! A Hub (or a mirror of it) that accepts connections and never answers must not hang
//! sb-sample: each request is given up after SB_HUB_TIMEOUT without a byte, retried with
//! backoff, then reported in one line (exit 2). Before, sb-sample blocked until killed.

use sb_testkit::{bin, tempdir};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn a_hub_that_never_answers_is_given_up_after_retries() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accept and hold every connection open, silent.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let cache = tempdir("hub-silent");
    let started = Instant::now();
    let out = Command::new(bin("sb-sample"))
        .args(["mmlu", "-n", "1", "--tokenizer"])
        .arg(sb_testkit::testdata("sample/tokenizers/gpt2/tokenizer.json.gz"))
        .env("HF_ENDPOINT", &url)
        .env("HF_HUB_CACHE", &cache)
        .env("SB_HUB_TIMEOUT", "1s")
        .env_remove("HF_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sent nothing for 1 s, 3 times"), "{stderr}");
    assert_eq!(stderr.matches("retrying in").count(), 2, "{stderr}");
    assert!(out.stdout.is_empty());
    // Three 1 s stalls and 1 + 2 s of backoff; far less than "until killed" on any machine.
    assert!(started.elapsed() < Duration::from_secs(120), "{:?}", started.elapsed());
}
