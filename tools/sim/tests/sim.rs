//! sb-sim from the outside: its timing model measured by a real HTTP client, its /metrics parsed
//! and compared with what was sent, and each fault mode.

use futures_util::StreamExt;
use sb_testkit::Sim;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One streamed response as a client sees it.
struct Streamed {
    status: u16,
    /// Arrival time of every SSE event with a non-empty `choices` array, from the send.
    chunk_times: Vec<Duration>,
    events: Vec<Value>,
    done: bool,
    cut: bool,
}

async fn stream(url: &str, path: &str, body: Value) -> Streamed {
    let client = reqwest::Client::new();
    let sent = Instant::now();
    let resp = client.post(format!("{url}{path}")).json(&body).send().await.expect("send");
    let status = resp.status().as_u16();
    let mut out = Streamed { status, chunk_times: vec![], events: vec![], done: false, cut: false };
    if status != 200 {
        out.events.push(resp.json().await.expect("error body is JSON"));
        return out;
    }
    let mut body = resp.bytes_stream();
    let mut buf = Vec::new();
    while let Some(piece) = body.next().await {
        let piece = match piece {
            Ok(p) => p,
            Err(_) => {
                out.cut = true;
                break;
            }
        };
        let at = sent.elapsed();
        buf.extend_from_slice(&piece);
        while let Some(pos) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..pos + 2).collect();
            let data =
                std::str::from_utf8(&event).unwrap().trim().strip_prefix("data: ").expect("data line").to_string();
            if data == "[DONE]" {
                out.done = true;
                continue;
            }
            let v: Value = serde_json::from_str(&data).expect("chunk is JSON");
            if v["choices"].as_array().is_some_and(|c| !c.is_empty()) {
                out.chunk_times.push(at);
            }
            out.events.push(v);
        }
    }
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `got` is the configured `want`: the sim is never early (a step cannot end before its time,
/// beyond `early` ms of measuring noise), and on a busy machine it may be late, so the upper
/// bound only catches a model that is wrong by a lot.
fn near(got: f64, want: f64, early: f64, late: f64) -> bool {
    got >= want - early && got <= want + late
}

fn words(n: usize) -> String {
    (0..n).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn ttft_and_itl_follow_the_configured_timing_model() {
    // 1 ms per prompt token, 20 ms steps: a 50-token prompt alone gets TTFT ~= 50 + 20 ms,
    // then one token every ~20 ms.
    let sim = Sim::start(&["--prefill-us-per-token", "1000", "--decode-ms", "20", "--decode-ms-per-seq", "0"]);
    let mut ttfts = vec![];
    let mut itls = vec![];
    for _ in 0..3 {
        let body = json!({"model": "sim", "prompt": words(50), "max_tokens": 10, "stream": true});
        let r = stream(&sim.url, "/v1/completions", body).await;
        assert_eq!(r.status, 200);
        assert!(r.done);
        assert_eq!(r.chunk_times.len(), 10);
        ttfts.push(ms(r.chunk_times[0]));
        itls.extend(r.chunk_times.windows(2).map(|w| ms(w[1] - w[0])));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    // Prefix caching would shorten later prefills; prompts are identical, so only the first is full.
    assert!(near(ttfts[0], 70.0, 8.0, 40.0), "TTFT {:.2} ms, configured 70 ms", ttfts[0]);
    for t in &ttfts[1..] {
        // 48 of 50 tokens cached (3 full blocks of 16), 2 recomputed: 2 ms prefill + 20 ms step.
        // Far below the 70 ms of a full prefill, whatever the machine is doing.
        assert!(near(*t, 22.0, 8.0, 25.0), "TTFT with prefix hit {t:.2} ms, configured 22 ms");
    }
    assert!(near(mean(&itls), 20.0, 2.0, 10.0), "mean ITL {:.2} ms, configured 20 ms", mean(&itls));
}

#[tokio::test]
async fn step_time_grows_with_running_sequences_and_excess_requests_queue() {
    // 10 ms + 5 ms per running sequence; at most 2 running.
    let sim = Sim::start(&[
        "--prefill-us-per-token",
        "0",
        "--decode-ms",
        "10",
        "--decode-ms-per-seq",
        "5",
        "--max-num-seqs",
        "2",
    ]);
    let body = json!({"model": "sim", "prompt": "hi", "max_tokens": 8, "stream": true});
    let (a, b, c) = tokio::join!(
        stream(&sim.url, "/v1/completions", body.clone()),
        stream(&sim.url, "/v1/completions", body.clone()),
        stream(&sim.url, "/v1/completions", body.clone()),
    );
    // Arrival order is up to the scheduler of this test: sort by first token.
    let mut all = [a, b, c];
    all.sort_by_key(|r| r.chunk_times[0]);
    // The first two run together with 20 ms steps (10 + 2 x 5); the third waits for a free
    // slot (8 steps of the first two).
    for r in &all[..2] {
        let gaps: Vec<f64> = r.chunk_times.windows(2).map(|w| ms(w[1] - w[0])).collect();
        let mid = gaps[2];
        // One running would be 15 ms: the lower bound is what shows the growth.
        assert!(near(mid, 20.0, 4.0, 20.0), "ITL with 2 running {mid:.2} ms, configured 20 ms: {gaps:?}");
    }
    let third = ms(all[2].chunk_times[0]);
    assert!(third > 8.0 * 20.0 - 10.0, "third request's TTFT {third:.1} ms should include queueing");
    let m = scrape(&sim.url).await;
    assert_eq!(m["vllm:request_queue_time_seconds_count"], 3.0);
    assert!(
        m["vllm:request_queue_time_seconds_sum"] > 0.12,
        "queue time sum {}",
        m["vllm:request_queue_time_seconds_sum"]
    );
}

/// /metrics as `name{labels}` -> value, for vllm: series, with `engine`/`model_name` left out.
async fn scrape(url: &str) -> BTreeMap<String, f64> {
    let text = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let key = match series.split_once('{') {
            None => series.to_string(),
            Some((name, labels)) => {
                let kept: Vec<&str> = labels
                    .trim_end_matches('}')
                    .split(',')
                    .filter(|l| !l.starts_with("engine=") && !l.starts_with("model_name="))
                    .collect();
                if kept.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}{{{}}}", kept.join(","))
                }
            }
        };
        out.insert(key, value);
    }
    out
}

#[tokio::test]
async fn metrics_count_what_was_sent() {
    let sim = Sim::start(&[
        "--decode-ms",
        "1",
        "--decode-ms-per-seq",
        "0",
        "--prefill-us-per-token",
        "0",
        "--model",
        "org/m-1",
    ]);
    let mut sent_prompt = 0.0;
    let mut sent_gen = 0.0;
    for i in 0..6usize {
        let prompt_words = 5 + i * 7;
        let max_tokens = 3 + i;
        let chat = i % 2 == 1;
        let (path, body) = if chat {
            // The sim counts "user:" as one word of the rendered conversation.
            sent_prompt += (prompt_words + 1) as f64;
            (
                "/v1/chat/completions",
                json!({"model": "org/m-1", "messages": [{"role": "user", "content": words(prompt_words)}], "max_tokens": max_tokens, "stream": i % 3 == 0}),
            )
        } else {
            sent_prompt += prompt_words as f64;
            (
                "/v1/completions",
                json!({"model": "org/m-1", "prompt": words(prompt_words), "max_tokens": max_tokens, "stream": i % 3 == 0, "stream_options": if i % 3 == 0 { json!({"include_usage": true}) } else { Value::Null }}),
            )
        };
        sent_gen += max_tokens as f64;
        let r = stream(&sim.url, path, body).await;
        assert_eq!(r.status, 200);
    }
    let text = reqwest::get(format!("{}/metrics", sim.url)).await.unwrap().text().await.unwrap();
    assert!(text.contains("vllm:num_requests_running{engine=\"0\",model_name=\"org/m-1\"} 0.0\n"), "{text}");
    assert!(text.contains("# TYPE vllm:time_to_first_token_seconds histogram\n"));
    let m = scrape(&sim.url).await;
    assert_eq!(m["vllm:prompt_tokens_total"], sent_prompt);
    assert_eq!(m["vllm:generation_tokens_total"], sent_gen);
    assert_eq!(m["vllm:request_success_total{finished_reason=\"length\"}"], 6.0);
    assert_eq!(m["vllm:request_prompt_tokens_sum"], sent_prompt);
    assert_eq!(m["vllm:request_generation_tokens_sum"], sent_gen);
    assert_eq!(m["vllm:e2e_request_latency_seconds_count"], 6.0);
    assert_eq!(m["vllm:time_to_first_token_seconds_count"], 6.0);
    assert_eq!(m["vllm:inter_token_latency_seconds_count"], sent_gen - 6.0, "one ITL per token after the first");
    assert_eq!(m["vllm:time_to_first_token_seconds_bucket{le=\"+Inf\"}"], 6.0);
    // Buckets are cumulative.
    let ttft_buckets: Vec<f64> =
        m.iter().filter(|(k, _)| k.starts_with("vllm:time_to_first_token_seconds_bucket")).map(|(_, v)| *v).collect();
    assert_eq!(ttft_buckets.len(), 23);
    assert_eq!(m["http_requests_total{handler=\"/v1/completions\",method=\"POST\",status=\"2xx\"}"], 3.0);
}

#[tokio::test]
async fn prefix_cache_hits_are_counted_in_tokens() {
    let sim = Sim::start(&["--decode-ms", "1", "--prefill-us-per-token", "0", "--block-size", "16"]);
    let shared = words(64);
    for q in 0..3 {
        let body = json!({"model": "sim", "prompt": format!("{shared} question{q} more words here"), "max_tokens": 2});
        assert_eq!(
            reqwest::Client::new()
                .post(format!("{}/v1/completions", sim.url))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let m = scrape(&sim.url).await;
    assert_eq!(m["vllm:prefix_cache_queries_total"], 3.0 * 68.0);
    // The first request misses; the next two hit the 4 full blocks of the shared 64 words.
    assert_eq!(m["vllm:prefix_cache_hits_total"], 2.0 * 64.0);
}

#[tokio::test]
async fn reset_prefix_cache_empties_the_cache_like_vllm() {
    let sim = Sim::start(&["--decode-ms", "1", "--prefill-us-per-token", "0", "--block-size", "16"]);
    let client = reqwest::Client::new();
    let prompt = format!("{} and four more words", words(64));
    let send = || async {
        let body = json!({"model": "sim", "prompt": prompt, "max_tokens": 2});
        let r = client.post(format!("{}/v1/completions", sim.url)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
    };
    send().await;
    send().await;
    // The second request hit the 4 full blocks of its 68 tokens.
    assert_eq!(scrape(&sim.url).await["vllm:prefix_cache_hits_total"], 64.0);
    let r = client.post(format!("{}/reset_prefix_cache", sim.url)).send().await.unwrap();
    assert_eq!(r.status(), 200, "vLLM answers an empty 200");
    send().await;
    assert_eq!(scrape(&sim.url).await["vllm:prefix_cache_hits_total"], 64.0, "after the reset the prompt misses");
    send().await;
    assert_eq!(scrape(&sim.url).await["vllm:prefix_cache_hits_total"], 128.0, "and is cached again");
}

#[tokio::test]
async fn fault_injection_429_and_500() {
    for (flag, code, kind) in [("--fail-429", 429, "RateLimitError"), ("--fail-500", 500, "InternalServerError")] {
        let sim = Sim::start(&[flag, "1", "--decode-ms", "1"]);
        let r = stream(
            &sim.url,
            "/v1/completions",
            json!({"model": "sim", "prompt": "x", "max_tokens": 2, "stream": true}),
        )
        .await;
        assert_eq!(r.status, code);
        assert_eq!(r.events[0]["error"]["type"], kind);
        assert_eq!(r.events[0]["error"]["code"], code);
    }
    // A share: about that many fail, reproducibly with a seed.
    let sim = Sim::start(&["--fail-429", "0.3", "--seed", "11", "--decode-ms", "0", "--prefill-us-per-token", "0"]);
    let mut failed = 0;
    for _ in 0..200 {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/completions", sim.url))
            .json(&json!({"prompt": "x", "max_tokens": 1}))
            .send()
            .await
            .unwrap();
        failed += (r.status() == 429) as u32;
    }
    assert!((40..=80).contains(&failed), "{failed} of 200 got 429 at a 30% share");
}

#[tokio::test]
async fn fault_injection_cut_stream() {
    let sim = Sim::start(&["--cut", "1", "--decode-ms", "2"]);
    let r = stream(&sim.url, "/v1/chat/completions", json!({"model": "sim", "messages": [{"role": "user", "content": "x"}], "max_tokens": 10, "stream": true, "stream_options": {"include_usage": true}})).await;
    assert_eq!(r.status, 200);
    assert!(r.cut, "the client must see the body end abnormally");
    assert!(!r.done, "no [DONE] after a cut");
    // Role chunk + 5 of 10 tokens arrived.
    assert_eq!(r.chunk_times.len(), 6);
    assert!(r.events.iter().all(|e| e.get("usage").is_none()));
    let m = scrape(&sim.url).await;
    assert_eq!(m["vllm:request_success_total{finished_reason=\"abort\"}"], 1.0);
}

#[tokio::test]
async fn fault_injection_stall() {
    let sim = Sim::start(&["--stall", "1", "--stall-ms", "300", "--decode-ms", "5", "--decode-ms-per-seq", "0"]);
    let r =
        stream(&sim.url, "/v1/completions", json!({"model": "sim", "prompt": "x", "max_tokens": 10, "stream": true}))
            .await;
    assert!(r.done);
    assert_eq!(r.chunk_times.len(), 10);
    let gaps: Vec<f64> = r.chunk_times.windows(2).map(|w| ms(w[1] - w[0])).collect();
    let longest = gaps.iter().cloned().fold(0.0, f64::max);
    assert!(near(longest, 300.0, 0.0, 300.0), "longest gap {longest:.1} ms, stall 300 ms: {gaps:?}");
    assert_eq!(gaps.iter().filter(|g| **g > 100.0).count(), 1, "exactly one stall: {gaps:?}");
}

#[tokio::test]
async fn bad_requests_get_vllm_errors() {
    let sim = Sim::start(&["--max-model-len", "100"]);
    let client = reqwest::Client::new();
    let cases = [
        (json!({"model": "other", "prompt": "x"}), 404, "does not exist"),
        (json!({"model": "sim", "prompt": words(90), "max_tokens": 20}), 400, "maximum context length is 100 tokens"),
        (json!({"model": "sim", "prompt": "x", "max_tokens": 0}), 400, "max_tokens must be at least 1"),
        (json!({"model": "sim"}), 400, "prompt is required"),
    ];
    for (body, code, text) in cases {
        let r = client.post(format!("{}/v1/completions", sim.url)).json(&body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), code, "{body}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"]["message"].as_str().unwrap().contains(text), "{v}");
    }
    let r = client.post(format!("{}/v1/completions", sim.url)).body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let models: Value = reqwest::get(format!("{}/v1/models", sim.url)).await.unwrap().json().await.unwrap();
    assert_eq!(models["data"][0]["id"], "sim");
    assert_eq!(reqwest::get(format!("{}/health", sim.url)).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_real_tokenizer_counts_prompt_tokens() {
    // The fixture README's golden value: Qwen3-0.6B encodes this sentence as 8 ids.
    let path = sb_testkit::testdata("sample/tokenizers/qwen3-0.6b/tokenizer.json.gz");
    let sim = Sim::start(&["--tokenizer", path.to_str().unwrap(), "--decode-ms", "0"]);
    let body = json!({"model": "sim", "prompt": "Hello world! This is a test.", "max_tokens": 1});
    let v: Value = reqwest::Client::new()
        .post(format!("{}/v1/completions", sim.url))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["usage"]["prompt_tokens"], 8);
}
