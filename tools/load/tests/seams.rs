//! Where sb-load meets servers that differ from vLLM and input that users write by hand: each
//! test here failed on the build before the fixes it names (issue "trust at every seam").

mod common;

use common::raw::{self, Body};
use common::{completions, load, Run};
use sb_testkit::{bin, Sim};
use serde_json::{json, Value};
use std::process::Command;

/// `sb-load <args>` (no --url/--model added) with `stdin`, extra environment and a shell
/// prefix such as `ulimit -S -n 256; exec` or `exec taskset -c 0`.
fn load_with(args: &[&str], stdin: &str, env: &[(&str, &str)], shell_prefix: Option<&str>) -> Run {
    let mut cmd = match shell_prefix {
        None => {
            let mut c = Command::new(bin("sb-load"));
            c.args(args);
            c
        }
        Some(prefix) => {
            let mut c = Command::new("sh");
            c.arg("-c").arg(format!("{prefix} \"$0\" \"$@\"")).arg(bin("sb-load")).args(args);
            c
        }
    };
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = sb_testkit::pipe_cmd(cmd, stdin.as_bytes());
    common::parse_output(out.code, out.stdout.as_bytes(), out.stderr.as_bytes())
}

fn chat(n: usize, max_tokens: u32) -> String {
    (0..n)
        .map(|i| {
            json!({"kind": "request", "v": 1, "id": format!("c{i}"), "api": "chat",
                   "messages": [{"role": "user", "content": "hello there"}], "max_tokens": max_tokens})
            .to_string()
                + "\n"
        })
        .collect()
}

#[test]
fn a_stream_that_ends_cleanly_without_done_after_a_finish_reason_is_ok() {
    // transformers serve 5.17 ends every stream this way; vLLM bench serve counts them as done.
    let sim = Sim::start(&["--no-done", "--decode-ms", "1"]);
    let run = load(&sim.url, &["-c", "4"], &completions(8, 5, 6));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.by_status("ok"), 8, "{:?}", run.results);
    assert_eq!(run.results[0]["usage"]["completion_tokens"], 6);
    assert_eq!(run.run["streams_without_done"], 8);
    assert!(run.stderr.contains("without `data: [DONE]`"), "{}", run.stderr);
}

#[test]
fn the_real_transformers_serve_stream_is_ok_and_its_quirks_are_handled() {
    // The exact body of a real `transformers serve` 5.17 stream (testdata/load/servers/README.md).
    let body =
        std::fs::read_to_string(sb_testkit::testdata("load/servers/transformers-serve-5.17/completions-stream.sse"))
            .unwrap();
    let server = raw::start(raw::chunked_200("text/event-stream", &body), Body::Read);
    let run = load(&server.url, &[], &completions(2, 3, 4));
    assert_eq!(run.code, 0, "{}", run.stderr);
    for r in &run.results {
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(r["finish_reason"], "length");
        assert_eq!(r["usage"]["completion_tokens"], 4);
        // Four tokens and the closing chunk with empty text: five chunks.
        assert_eq!(r["chunks_ns"].as_array().unwrap().len(), 5, "{r}");
    }
}

#[test]
fn chat_sends_max_tokens_too_and_a_server_ignoring_the_length_is_flagged() {
    let sim = Sim::start(&["--compat", "transformers", "--decode-ms", "0", "--default-max-tokens", "40"]);
    let run = load(&sim.url, &[], &chat(3, 5));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.results.iter().all(|r| r["status"] == "ok" && r["usage"]["completion_tokens"] == 5),
        "{:?}",
        run.results
    );
    assert!(run.run.get("exceeded_max_tokens").is_none());
    // Only max_completion_tokens (vLLM bench serve's choice): this server generates its default.
    let run = load(&sim.url, &["--chat-max-tokens", "max-completion-tokens"], &chat(3, 5));
    assert!(run.results.iter().all(|r| r["usage"]["completion_tokens"] == 40));
    assert!(run.results.iter().all(|r| r["exceeded_max_tokens"] == true));
    assert_eq!(run.run["exceeded_max_tokens"], 3);
    assert!(run.stderr.contains("more tokens than asked for"), "{}", run.stderr);
}

#[test]
fn fastapi_error_bodies_and_a_failed_model_lookup_are_said_clearly() {
    let sim = Sim::start(&["--compat", "transformers"]);
    let run = load_with(&["--url", &sim.url, "--model", "nope"], &completions(1, 2, 2), &[], None);
    assert_eq!(run.results[0]["status"], "http_error");
    let error = run.results[0]["error"].as_str().unwrap();
    assert!(error.starts_with("HTTP 404: ") && error.contains("nope"), "{error}");
    assert!(!error.contains("detail"), "the message, not the JSON: {error}");
    // No --model: the model list answers 500 here, and sb-load says so instead of guessing.
    let run = load_with(&["--url", &sim.url], &completions(1, 2, 2), &[], None);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("GET /v1/models") && run.stderr.contains("HTTP 500"), "{}", run.stderr);
    // A vLLM-like server names its model.
    let vllm = Sim::start(&["--instant", "--model", "served-name"]);
    let run = load_with(&["--url", &vllm.url], &completions(2, 2, 2), &[], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.run["model"], "served-name");
    assert!(run.stderr.contains("served-name"));
}

#[test]
fn a_chunk_that_is_not_json_is_an_invalid_response_with_or_without_save_text() {
    let body = "data: {\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\ndata: {\"choices\":[{\"index\":0,\"text\":\"b\"}]\n\ndata: [DONE]\n\n";
    let server = raw::start(raw::chunked_200("text/event-stream", body), Body::Read);
    for extra in [&[][..], &["--save-text"][..]] {
        let run = load(&server.url, extra, &completions(1, 2, 2));
        assert_eq!(run.results[0]["status"], "invalid_response", "{extra:?}: {}", run.results[0]);
        assert!(run.results[0]["error"].as_str().unwrap().contains("unreadable chunk"));
    }
}

#[test]
fn a_200_that_is_not_an_event_stream_is_an_invalid_response_not_a_cut() {
    let server = raw::start(raw::chunked_200("text/html", "<html><body>maintenance</body></html>"), Body::Read);
    let run = load(&server.url, &[], &completions(1, 2, 2));
    let r = &run.results[0];
    assert_eq!(r["status"], "invalid_response", "{r}");
    assert!(r["error"].as_str().unwrap().contains("not an event stream: <html>"), "{r}");
}

#[test]
fn a_clean_end_with_neither_done_nor_a_finish_reason_stays_a_cut_stream() {
    let body =
        "data: {\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\ndata: {\"choices\":[{\"index\":0,\"text\":\"b\"}]}\n\n";
    let server = raw::start(raw::chunked_200("text/event-stream", body), Body::Read);
    let run = load(&server.url, &[], &completions(1, 2, 2));
    let r = &run.results[0];
    assert_eq!(r["status"], "stream_cut", "{r}");
    assert_eq!(r["chunks_ns"].as_array().unwrap().len(), 2);
}

#[test]
fn a_status_answered_before_the_body_is_read_is_an_http_error_with_its_status() {
    let response = raw::with_status(
        "413 Payload Too Large",
        "application/json",
        r#"{"error":{"message":"request too large"}}"#,
        true,
    );
    // A prompt far larger than the socket buffers, so the server answers mid-body.
    let big = json!({"kind": "request", "v": 1, "id": "big", "prompt": "x ".repeat(4_000_000), "max_tokens": 2});
    for how in [Body::AnswerEarlyAndClose, Body::AnswerEarlyAndReset] {
        let server = raw::start(response.clone(), how);
        let run = load(&server.url, &[], &format!("{big}\n"));
        let r = &run.results[0];
        assert_eq!(r["status"], "http_error", "{}", r["error"]);
        assert_eq!(r["http_status"], 413);
        assert!(r["error"].as_str().unwrap().contains("request too large"), "{r}");
    }
}

#[test]
fn control_characters_from_a_server_are_escaped_in_errors() {
    let response = raw::with_status("500 Internal Server Error", "text/plain", "\x1b[2J\x1b[31mboom\x07", false);
    let server = raw::start(response, Body::Read);
    let run = load(&server.url, &[], &completions(1, 2, 2));
    let error = run.results[0]["error"].as_str().unwrap();
    assert!(!error.chars().any(|c| c.is_control()), "{error:?}");
    assert!(error.contains("\\x1b[31mboom\\x07"), "{error:?}");
    assert!(!run.stderr.contains('\x1b'));
}

#[test]
fn an_explicit_authorization_header_replaces_the_key_and_exactly_one_is_sent() {
    let body = "data: {\"choices\":[{\"index\":0,\"text\":\"a\",\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n";
    let server = raw::start(raw::chunked_200("text/event-stream", body), Body::Read);
    let run = load_with(
        &["--url", &server.url, "--model", "m", "-H", "Authorization: Bearer from-flag-7731", "-H", "X-Team: perf"],
        &completions(1, 2, 2),
        &[("OPENAI_API_KEY", "sk-from-env-5520")],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let heads = server.heads.lock().unwrap();
    let auth: Vec<&str> = heads[0].lines().filter(|l| l.to_ascii_lowercase().starts_with("authorization:")).collect();
    assert_eq!(auth, vec!["authorization: Bearer from-flag-7731"], "{}", heads[0]);
    assert!(run.stderr.contains("replaces the API key"), "{}", run.stderr);
    let all = format!("{}{}", run.stderr, serde_json::to_string(&run.results).unwrap() + &run.run.to_string());
    assert!(!all.contains("from-flag-7731") && !all.contains("sk-from-env-5520"), "{all}");
    assert_eq!(
        run.run["command"].as_array().unwrap().iter().filter(|a| a.as_str() == Some("Authorization: ***")).count(),
        1
    );
}

#[test]
fn a_repeated_request_id_is_an_input_error_naming_both_lines() {
    let sim = Sim::start(&["--instant"]);
    let mut reqs = completions(3, 2, 2);
    reqs += &json!({"kind": "request", "v": 1, "id": "r1", "prompt": "again", "max_tokens": 2}).to_string();
    reqs += "\n";
    let run = load(&sim.url, &[], &reqs);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("<stdin>:4: ") && run.stderr.contains("repeats the id of line 2"), "{}", run.stderr);
    // The requests before the bad line were sent and recorded.
    assert_eq!(run.results.len(), 3);
}

#[test]
fn zero_or_negative_durations_are_refused() {
    for (flag, value) in [("--timeout", "0s"), ("--timeout=-5s", ""), ("--duration", "0"), ("--stage", "poisson:2@0s")]
    {
        let mut args = vec!["--url", "http://127.0.0.1:1", "--model", "m", flag];
        if !value.is_empty() {
            args.push(value);
        }
        let run = load_with(&args, "", &[], None);
        assert_eq!(run.code, 2, "{flag} {value}: {}", run.stderr);
        let name = flag.split('=').next().unwrap();
        assert!(run.stderr.contains(name), "{}", run.stderr);
    }
    // The one grammar of every tool.
    let sim = Sim::start(&["--instant"]);
    let run = load(&sim.url, &["--timeout", "1m30s"], &completions(1, 2, 2));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.run["load"]["timeout_s"], 90.0);
}

#[test]
fn plain_jsonl_from_jq_is_read_as_requests_and_tags_reach_the_results() {
    let sim = Sim::start(&["--instant"]);
    let plain = "{\"prompt\": \"one two\", \"max_tokens\": 3, \"tags\": {\"conc\": 8}}\n{\"prompt\": \"three\", \"max_tokens\": 2}\n";
    let run = load(&sim.url, &["--tag", "point=a"], plain);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ids: Vec<&str> = run.results.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"line-1") && ids.contains(&"line-2"), "{ids:?}");
    let first = run.results.iter().find(|r| r["id"] == "line-1").unwrap();
    assert_eq!(first["tags"], json!({"conc": "8", "point": "a"}));
    assert!(run.stderr.contains("taken as a request"), "{}", run.stderr);
    // A record of another kind is still refused.
    let run = load(&sim.url, &[], "{\"kind\":\"sample\",\"v\":1}\n");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("expected a request record"), "{}", run.stderr);
}

#[test]
fn vllm_flags_mean_what_they_mean_in_vllm() {
    let sim = Sim::start(&["--instant"]);
    let run = load(
        &sim.url,
        &["--request-rate", "200", "--max-concurrency", "4", "--seed", "3", "--max-lag", "60000"],
        &completions(20, 2, 2),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.run["load"]["stages"], json!(["poisson:200"]));
    assert_eq!(run.run["load"]["concurrency"], 4);
    let run = load(&sim.url, &["--request-rate", "200", "--burstiness", "0.5"], &completions(5, 2, 2));
    assert_eq!(run.run["load"]["stages"], json!(["gamma:200:0.5"]));
    let run = load(&sim.url, &["--request-rate", "inf"], &completions(3, 2, 2));
    assert_eq!(run.run["load"]["stages"], json!(["inf"]));
    // A bare --rate is constant, and sb-load says so once.
    let run = load(&sim.url, &["--rate", "200"], &completions(5, 2, 2));
    assert_eq!(run.stderr.matches("constant arrivals at 200 req/s (poisson:200 for vLLM's --request-rate").count(), 1);
    let help = Command::new(bin("sb-load")).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let heading = help.find("vLLM-compatible:").expect("a vLLM-compatible heading");
    for flag in ["--request-rate", "--burstiness", "--max-concurrency"] {
        assert!(help[heading..].contains(flag), "{flag} under the heading");
    }
}

#[test]
fn the_soft_file_limit_is_raised_and_a_too_low_hard_limit_is_said_before_sending() {
    // 300 requests in flight at once need 300 connections: over a soft limit of 256.
    let sim = Sim::start(&["--decode-ms", "20", "--max-num-seqs", "512"]);
    // (Starting 300 requests at once takes the generator a while in a debug build on a busy
    // machine; this test is about descriptors, not lateness.)
    let args = ["--url", sim.url.as_str(), "--model", "sim", "-c", "300", "--max-lag", "60000"];
    let run = load_with(&args, &completions(300, 2, 4), &[], Some("ulimit -S -n 256; exec"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.by_status("ok"), 300, "{}", run.stderr);
    // When the hard limit itself is too low, the warning comes before the first send.
    let run = load_with(&args, &completions(10, 2, 2), &[], Some("ulimit -n 200; exec"));
    assert!(run.stderr.contains("only 200 file descriptors are allowed"), "{}", run.stderr);
}

#[test]
fn the_run_record_describes_itself_without_secrets() {
    let sim = Sim::start(&["--instant"]);
    let url = sim.url.replace("http://", "http://perf:pw-9911@");
    let run = load_with(&["--url", &url, "--model", "sim"], &completions(2, 2, 2), &[], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = &run.run;
    assert_eq!(r["version"], env!("CARGO_PKG_VERSION"));
    assert!(r["host"].as_str().is_some_and(|h| !h.is_empty()));
    assert_eq!(r["server_version"], format!("sb-sim {}", env!("CARGO_PKG_VERSION")));
    assert!(r["url"].as_str().unwrap().starts_with("http://perf:***@"), "{}", r["url"]);
    assert!(r["command"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().contains("perf:***@")));
    assert!(!r.to_string().contains("pw-9911"));
}

#[test]
fn memory_stays_bounded_while_the_reader_of_stdout_stalls() {
    let sim = Sim::start(&["--instant", "--threads", "1"]);
    let n = 40_000;
    let mut cmd = Command::new(bin("sb-load"));
    cmd.args(["--url", &sim.url, "--model", "sim", "-c", "64"]).env("SB_LOAD_SPOOL_MIB", "1");
    let (child, feeder) = sb_testkit::spawn_fed(cmd, completions(n, 2, 8).into_bytes());
    // Nobody reads stdout until every request has been answered (the sim's counter says so).
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let metrics = sb_testkit::http_get(&format!("{}/metrics", sim.url)).unwrap_or_default();
        let done: f64 = metrics
            .lines()
            .filter(|l| l.starts_with("vllm:request_success_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if done as usize >= n {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the run did not finish");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let peak_kb: u64 =
        status.lines().find(|l| l.starts_with("VmHWM:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let run = common::parse_output(out.status.code().unwrap_or(-1), &out.stdout, &out.stderr);
    assert_eq!(run.results.len(), n, "nothing lost: {}", run.stderr);
    assert!(run.stderr.contains("temporary file"), "{}", run.stderr);
    // 40,000 results are ~25 MB of NDJSON and far more as records in memory; the spool keeps 1 MiB.
    assert!(peak_kb < 48_000, "peak RSS {peak_kb} kB");
    let _ = Value::Null;
}

#[test]
fn spin_without_a_core_of_its_own_falls_back_and_says_so() {
    // One CPU, kept busy by another process: spinning there would fight it for the core.
    let hog = Command::new("taskset").args(["-c", "0", "sh", "-c", "while :; do :; done"]).spawn();
    let Ok(mut hog) = hog else {
        eprintln!("taskset is not available; skipped");
        return;
    };
    let sim = Sim::start(&["--instant"]);
    let args = ["--url", sim.url.as_str(), "--model", "sim", "--spin", "--max-lag", "60000"];
    let run = load_with(&args, &completions(5, 2, 2), &[], Some("exec taskset -c 0"));
    let _ = hog.kill();
    let _ = hog.wait();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("running without --spin"), "{}", run.stderr);
    assert_eq!(run.run["load"]["spin"], false);
}
