//! What sb-sample's test files share: the binary run as users run it, and its records read back.
#![allow(dead_code)] // each test file uses its own part

use sb_records::{Record, RecordReader, Request};
use sb_testkit::{bin, testdata};
use std::process::{Command, Output, Stdio};

/// A committed tokenizer's directory (`qwen3-0.6b`, `gpt2`).
pub fn tok_dir(name: &str) -> String {
    testdata(&format!("sample/tokenizers/{name}")).display().to_string()
}

/// Runs sb-sample with no stdin and none of the user's tokenizer or Hub settings, plus `envs`.
pub fn run_raw(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin("sb-sample"));
    cmd.args(args).stdin(Stdio::null()).env_remove("HF_HUB_OFFLINE").env_remove("SB_TOKENIZER");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run sb-sample")
}

/// The request records of sb-sample's stdout.
pub fn parse(stdout: &[u8]) -> Vec<Request> {
    RecordReader::new("stdout", stdout)
        .map(|r| match r.expect("valid record") {
            Record::Request(r) => r,
            other => panic!("not a request: {other:?}"),
        })
        .collect()
}
