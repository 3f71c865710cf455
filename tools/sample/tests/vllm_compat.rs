//! vLLM-compatible flags (`--num-prompts`, `--random-*`) with vLLM's meaning, and vLLM's `custom`
//! dataset, run as users run sb-sample.

mod common;

use sb_testkit::testdata;
use serde_json::Value;
use std::process::Output;

use common::tok_dir as tok;

fn run(args: &[&str]) -> Output {
    common::run_raw(args, &[])
}

fn records(args: &[&str]) -> Vec<Value> {
    let out = run(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn random_flags_draw_within_vllms_bounds() {
    let t = tok("qwen3-0.6b");
    // Qwen3's tokenizer adds no special tokens: inputs in [floor(100 x 0.5), ceil(100 x 1.5)].
    let rs = records(&[
        "random",
        "--num-prompts",
        "300",
        "--random-input-len",
        "100",
        "--random-output-len",
        "20",
        "--random-range-ratio",
        "0.5",
        "--tokenizer",
        &t,
    ]);
    assert_eq!(rs.len(), 300);
    let input: Vec<u64> = rs.iter().map(|r| r["prompt_tokens"].as_u64().unwrap()).collect();
    let output: Vec<u64> = rs.iter().map(|r| r["max_tokens"].as_u64().unwrap()).collect();
    assert!(input.iter().all(|n| (50..=150).contains(n)), "{input:?}");
    assert!(*input.iter().min().unwrap() <= 55 && *input.iter().max().unwrap() >= 145, "uniform over the whole range");
    assert!(output.iter().all(|n| (10..=30).contains(n)));
    assert!(output.contains(&10) && output.contains(&30));
    // Ratio 0: exactly the lengths; the prefix is shared by every prompt.
    let rs = records(&[
        "random",
        "--num-prompts",
        "5",
        "--random-input-len",
        "40",
        "--random-output-len",
        "7",
        "--random-prefix-len",
        "16",
        "--tokenizer",
        &t,
    ]);
    let prefix: Vec<&str> = rs.iter().map(|r| &r["prompt"].as_str().unwrap()[..30]).collect();
    assert!(prefix.iter().all(|p| *p == prefix[0]), "{prefix:?}");
    assert!(rs.iter().all(|r| r["max_tokens"] == 7 && r["prefix"] == "random-prefix"));
    assert!(rs.iter().all(|r| (55..=57).contains(&r["prompt_tokens"].as_u64().unwrap())), "16 + space + 40 tokens");
}

#[test]
fn num_prompts_is_n_and_the_flags_are_checked() {
    let t = tok("gpt2");
    let a = run(&["random", "--num-prompts", "4", "--input-len", "10", "--tokenizer", &t]);
    let b = run(&["random", "-n", "4", "--input-len", "10", "--tokenizer", &t]);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout, "--num-prompts 4 is -n 4");
    // A near miss points at the vLLM flag.
    let out = run(&["random", "--random-input-length", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("similar argument exists: '--random-input-len'"));
    let out = run(&["sharegpt", "--random-input-len", "10", "--tokenizer", &t]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("for the random dataset"));
    let out = run(&["random", "--random-range-ratio", "1", "--tokenizer", &t]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[0, 1)"));
    let out = run(&["random", "--random-input-len", "10", "--input-len", "10", "--tokenizer", &t]);
    assert_eq!(out.status.code(), Some(2), "one length flag at a time");
}

#[test]
fn custom_jsonl_as_vllm_reads_it() {
    let file = testdata("sample/custom/questions.jsonl").display().to_string();
    let t = tok("qwen3-0.6b");
    let rs = records(&["custom", "--source", &file, "--no-shuffle", "--tokenizer", &t]);
    assert_eq!(rs.len(), 3);
    let max: Vec<u64> = rs.iter().map(|r| r["max_tokens"].as_u64().unwrap()).collect();
    assert_eq!(max, vec![256, 12, 40], "output_tokens, else vLLM's --custom-output-len 256");
    // Completions: through the chat template, as vLLM's CustomDataset (unless --skip-chat-template).
    let p = rs[0]["prompt"].as_str().unwrap();
    assert!(p.starts_with("<|im_start|>user\nWhat is the capital of India?"), "{p}");
    let raw = records(&["custom", "--source", &file, "--no-shuffle", "--template", "raw", "--tokenizer", &t]);
    assert_eq!(raw[0]["prompt"], "What is the capital of India?");
    // Qwen3: "What is the capital of India?" is 7 tokens; the template adds its turn markers.
    assert_eq!(raw[0]["prompt_tokens"], 7);
    assert!(rs[0]["prompt_tokens"].as_u64().unwrap() > 7);
    let chat = records(&["custom", "--source", &file, "--no-shuffle", "--api", "chat", "--tokenizer", &t]);
    assert_eq!(chat[1]["messages"][0]["content"], "What is the capital of Iran?");

    // A tokenizer without a chat template: say how to skip it.
    let out = run(&["custom", "--source", &file, "--tokenizer", &tok("gpt2")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--template raw"));
    // A line without a prompt is named.
    let dir = sb_testkit::tempdir("custom");
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, "{\"prompt\": \"ok\"}\n{\"text\": \"no prompt\"}\n").unwrap();
    let out = run(&["custom", "--source", bad.to_str().unwrap(), "--template", "raw", "--tokenizer", &t]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:2") && err.contains("no `prompt`"), "{err}");
}
