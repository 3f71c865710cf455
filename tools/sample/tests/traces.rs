//! The trace datasets on the real trace slices (testdata/sample/traces): arrival offsets, token
//! counts re-checked with the tokenizers crate, prefix sharing from Mooncake's hash_ids, and a
//! replay through sb-load against sb-sim whose prefix-cache hit rate is the trace's ideal.

mod common;

use common::{parse, run_raw, tok_dir};
use sb_records::{Record, RecordReader, Request};
use sb_testkit::{bin, testdata};
use std::collections::HashMap;
use std::io::Write;
use std::process::Command;

fn trace(rel: &str) -> String {
    testdata(&format!("sample/traces/{rel}")).display().to_string()
}

const MOONCAKE: &str = "mooncake/conversation_trace.first500.jsonl";
const AZURE_CONV: &str = "azure/AzureLLMInferenceTrace_conv.first2000.csv";

fn sample(args: &[&str]) -> (Vec<Request>, String) {
    let out = run_raw(args, &[]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "sb-sample {args:?} failed: {err}");
    (parse(&out.stdout), err)
}

/// The trace file's own rows, read with serde_json independently of sb-sample.
fn mooncake_rows(n: usize) -> Vec<serde_json::Value> {
    std::fs::read_to_string(trace(MOONCAKE))
        .unwrap()
        .lines()
        .take(n)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// An independent counter: the tokenizers crate's `encode` on the uncompressed file.
fn counter(name: &str) -> tokenizers::Tokenizer {
    use std::io::Read;
    let gz = std::fs::read(testdata(&format!("sample/tokenizers/{name}/tokenizer.json.gz"))).unwrap();
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut json).unwrap();
    tokenizers::Tokenizer::from_bytes(&json).unwrap()
}

#[test]
fn mooncake_gives_the_traces_offsets_lengths_and_exact_token_counts() {
    // Each prompt is re-counted with `encode` (slow in debug builds): a few long ones suffice.
    let n = 20;
    for tok in ["gpt2", "qwen3-0.6b"] {
        let (reqs, err) =
            sample(&["mooncake", "--source", &trace(MOONCAKE), "--tokenizer", &tok_dir(tok), "-n", &n.to_string()]);
        assert!(err.contains("20 of 500 trace rows"), "{err}");
        let rows = mooncake_rows(n);
        assert_eq!(reqs.len(), n);
        let t0 = rows[0]["timestamp"].as_f64().unwrap();
        let enc = counter(tok);
        for (r, row) in reqs.iter().zip(&rows) {
            assert_eq!(r.at_ms, Some(row["timestamp"].as_f64().unwrap() - t0), "{}", r.id);
            let input = row["input_length"].as_u64().unwrap() as u32;
            assert_eq!(r.prompt_tokens, Some(input), "{}", r.id);
            // Exact by construction: re-counted by `encode` itself.
            let prompt = r.prompt.as_deref().unwrap();
            assert_eq!(enc.encode(prompt, true).unwrap().get_ids().len() as u32, input, "{tok} {}", r.id);
            assert_eq!(r.max_tokens, Some(row["output_length"].as_u64().unwrap() as u32));
            assert_eq!(r.params.get("ignore_eos"), Some(&serde_json::Value::Bool(true)));
            assert_eq!(r.dataset.as_deref(), Some("mooncake"));
        }
    }
}

/// Byte offset of the end of the first `k` blocks of a prompt made of word tokens (each starts
/// with a space): the start of word `k * 512`.
fn block_end(prompt: &str, k: usize) -> usize {
    prompt.match_indices(' ').nth(k * 512).map_or(prompt.len(), |(i, _)| i)
}

#[test]
fn shared_hash_ids_give_identical_prefixes_and_different_ids_different_text() {
    let n = 150;
    let (reqs, _) = sample(&["mooncake", "--source", &trace(MOONCAKE), "--tokenizer", &tok_dir("gpt2"), "-n", "150"]);
    let rows = mooncake_rows(n);
    let ids: Vec<Vec<u64>> =
        rows.iter().map(|r| r["hash_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect()).collect();
    let (mut shared_pairs, mut diverging_pairs) = (0, 0);
    for a in 0..n {
        for b in a + 1..n {
            let common = ids[a].iter().zip(&ids[b]).take_while(|(x, y)| x == y).count();
            let (pa, pb) = (reqs[a].prompt.as_deref().unwrap(), reqs[b].prompt.as_deref().unwrap());
            // Full blocks only: a request's last block may be shorter.
            let full = common.min(ids[a].len() - 1).min(ids[b].len() - 1);
            if full > 0 {
                let (ea, eb) = (block_end(pa, full), block_end(pb, full));
                assert_eq!(&pa[..ea], &pb[..eb], "requests {a} and {b} share {full} blocks");
                shared_pairs += 1;
            }
            if common < ids[a].len().min(ids[b].len()) {
                // Block `common` differs: so does its text.
                let (sa, sb) = (block_end(pa, common), block_end(pb, common));
                let (wa, wb) = (&pa[sa..block_end(pa, common + 1)], &pb[sb..block_end(pb, common + 1)]);
                let cut = wa.len().min(wb.len());
                assert_ne!(&wa[..cut.min(200)], &wb[..cut.min(200)], "requests {a} and {b} differ at block {common}");
                diverging_pairs += 1;
            }
        }
    }
    assert!(shared_pairs > 1000 && diverging_pairs > 1000, "{shared_pairs} {diverging_pairs}");
}

#[test]
fn inspect_prints_the_ideal_block_hit_rate() {
    let out = run_raw(
        &[
            "inspect",
            "mooncake",
            "--source",
            &trace(MOONCAKE),
            "--tokenizer",
            &tok_dir("gpt2"),
            "-n",
            "500",
            "--rows",
            "0",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    // Independently: a block hits when its chain of ids (the prefix up to it) was seen before.
    let rows = mooncake_rows(500);
    let mut seen = std::collections::HashSet::new();
    let (mut hits, mut blocks) = (0, 0);
    for r in &rows {
        let ids: Vec<u64> = r["hash_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        let mut matching = true;
        for k in 1..=ids.len() {
            blocks += 1;
            let chain = ids[..k].to_vec();
            matching = matching && seen.contains(&chain);
            if matching {
                hits += 1;
            }
            seen.insert(chain);
        }
    }
    let want = format!("{:.4} of blocks ({hits} of {blocks})", hits as f64 / blocks as f64);
    assert!(text.contains(&want), "want {want:?} in:\n{text}");
}

#[test]
fn azure_seven_digit_timestamps_are_parsed_exactly() {
    let (reqs, _) =
        sample(&["azure-llm", "--source", &trace(AZURE_CONV), "--tokenizer", &tok_dir("gpt2"), "-n", "300"]);
    // The file's TIMESTAMPs, as integer 100 ns ticks of the day (all rows are on 2023-11-16).
    let ticks: Vec<i64> = std::fs::read_to_string(trace(AZURE_CONV))
        .unwrap()
        .lines()
        .skip(1)
        .take(300)
        .map(|l| {
            let ts = l.split(',').next().unwrap();
            assert!(ts.starts_with("2023-11-16 "), "{ts}");
            let (hms, frac) = ts[11..].split_once('.').unwrap();
            assert_eq!(frac.len(), 7);
            let p: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
            ((p[0] * 60 + p[1]) * 60 + p[2]) * 10_000_000 + frac.parse::<i64>().unwrap()
        })
        .collect();
    for (r, t) in reqs.iter().zip(&ticks) {
        let want = format!("{}", (t - ticks[0]) as f64 / 1e4);
        assert_eq!(format!("{}", r.at_ms.unwrap()), want, "{}", r.id);
    }
    // 18:15:50.9951690 - 18:15:46.6805900 (rows 2 and 1).
    assert_eq!(reqs[1].at_ms, Some(4314.579));
    let lens: Vec<u32> = std::fs::read_to_string(trace(AZURE_CONV))
        .unwrap()
        .lines()
        .skip(1)
        .take(300)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    for (r, want) in reqs.iter().zip(&lens) {
        assert_eq!(r.prompt_tokens, Some(*want), "{}", r.id);
    }
}

#[test]
fn windows_speed_and_target_rate() {
    let base = ["azure-llm", "--source", &trace(AZURE_CONV), "--tokenizer", &tok_dir("gpt2")];
    let at = |extra: &[&str]| -> Vec<f64> {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        sample(&args).0.iter().map(|r| r.at_ms.unwrap()).collect()
    };
    let all = at(&["--duration", "120s"]);
    assert!(all.iter().all(|&t| t < 120_000.0) && all.len() > 50);
    // A later window starts at its own first request.
    let later = at(&["--start", "60s", "--duration", "60s"]);
    let first_in = all.iter().position(|&t| t >= 60_000.0).unwrap();
    assert_eq!(later.len(), all.len() - first_in);
    assert_eq!(later[0], 0.0);
    for (a, b) in later.iter().zip(&all[first_in..]) {
        assert!((a - (b - all[first_in])).abs() < 1e-6, "{a} {b}");
    }
    let fast = at(&["--duration", "120s", "--speed", "4"]);
    for (a, b) in fast.iter().zip(&all) {
        assert!((a - b / 4.0).abs() < 1e-6);
    }
    let rated = at(&["--duration", "120s", "--target-rate", "10"]);
    let rate = (rated.len() - 1) as f64 / (rated.last().unwrap() / 1000.0);
    assert!((rate - 10.0).abs() < 1e-6, "{rate}");
    // Burst shape kept: every gap scaled by one factor.
    let f = rated[10] / all[10];
    for (a, b) in rated.iter().zip(&all).skip(1) {
        assert!((a / b - f).abs() < 1e-9);
    }
    assert_eq!(at(&["--start", "60s", "-n", "5"]).len(), 5);
}

#[test]
fn burstgpt_sessions_keep_turn_order_and_leave_out_failures() {
    let src = trace("burstgpt/BurstGPT_sessions.csv");
    let (reqs, err) = sample(&["burstgpt", "--source", &src, "--tokenizer", &tok_dir("qwen3-0.6b")]);
    assert!(err.contains("left out 1 failed"), "{err}");
    assert_eq!(reqs.len(), 9);
    assert!(reqs.iter().all(|r| r.session.is_none()));
    assert_eq!(reqs[1].at_ms, Some(51_000.0));
    let (conv, _) =
        sample(&["burstgpt", "--task", "conversation", "--source", &src, "--tokenizer", &tok_dir("qwen3-0.6b")]);
    assert_eq!(conv.len(), 7);
    let mut turns: HashMap<String, Vec<u32>> = HashMap::new();
    for r in &conv {
        turns.entry(r.session.clone().unwrap()).or_default().push(r.turn.unwrap());
    }
    assert_eq!(turns["d5983bf9-4b48-497b-892b-a58995247443"], [0, 1, 2]);
    assert_eq!(turns["1722ac82-0a46-4bf0-aa08-89794e7a2b3f"], [0, 1]);
    // Arrival order kept across sessions.
    assert!(conv.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    // Turn 1 of session 1722ac82: 1452 context tokens, of which 906 + 446 are turn 0 and its reply.
    let t1 =
        conv.iter().find(|r| r.session.as_deref() == Some("1722ac82-0a46-4bf0-aa08-89794e7a2b3f") && r.turn == Some(1));
    assert_eq!(t1.unwrap().prompt_tokens, Some(1452 - 906 - 446));
}

/// `vllm:prefix_cache_hits_total / vllm:prefix_cache_queries_total` from sb-sim's /metrics.
fn sim_hit_rate(url: &str) -> f64 {
    let text = ureq_get(&format!("{url}/metrics"));
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    };
    value("vllm:prefix_cache_hits_total") / value("vllm:prefix_cache_queries_total")
}

fn ureq_get(url: &str) -> String {
    // A plain HTTP/1.0 GET: the test needs no client library for one request.
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut body = String::new();
    std::io::Read::read_to_string(&mut s, &mut body).unwrap();
    body.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

#[test]
fn replay_against_sb_sim_reproduces_the_ideal_prefix_hit_rate() {
    // A cache large enough for the whole window (the ideal assumes no eviction), prompts up to
    // the trace's longest, and a fast model: the hit rate does not depend on timing in the sim.
    let sim = sb_testkit::Sim::start(&[
        "--model",
        "m",
        "--kv-tokens",
        "100000000",
        "--max-model-len",
        "200000",
        "--decode-ms",
        "0.2",
        "--prefill-us-per-token",
        "0",
    ]);
    let n = "500";
    let common = ["--source", &trace(MOONCAKE), "--tokenizer", &tok_dir("gpt2"), "-n", n];
    let inspect = run_raw(&[&["inspect", "mooncake", "--rows", "0"][..], &common].concat(), &[]);
    let text = String::from_utf8_lossy(&inspect.stdout).to_string();
    let ideal: f64 = text
        .split(" of prompt tokens")
        .next()
        .and_then(|s| s.rsplit(", ").next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no token hit rate in:\n{text}"));
    assert!(ideal > 0.1, "the slice shares prefixes: {ideal}");
    let records = Command::new(bin("sb-sample"))
        .args([&["mooncake", "--max-tokens", "2"][..], &common].concat())
        .output()
        .unwrap();
    assert!(records.status.success());
    let load_args = ["--url", &sim.url, "--model", "m", "--concurrency", "1", "--progress", "never"];
    let out = sb_testkit::pipe("sb-load", &load_args, &records.stdout);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ok = RecordReader::new("sb-load", out.stdout.as_bytes())
        .filter_map(|r| match r.unwrap() {
            Record::Result(r) => Some(r),
            _ => None,
        })
        .filter(|r| r.status == sb_records::Status::Ok)
        .count();
    assert_eq!(ok, 500);
    let got = sim_hit_rate(&sim.url);
    eprintln!("prefix-cache hit rate: sb-sim {got:.4}, ideal of the hash_ids {ideal:.4}");
    // The stated margin (docs/sample.md): one percentage point.
    assert!((got - ideal).abs() <= 0.01, "sim {got:.4} vs ideal {ideal:.4}");
}

#[test]
fn a_bad_trace_line_is_named_and_exits_2() {
    let dir = sb_testkit::tempdir("bad-trace");
    let file = dir.join("trace.jsonl");
    std::fs::write(
        &file,
        "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 2, \"hash_ids\": [0]}\n{\"timestamp\": 5}\n",
    )
    .unwrap();
    let out = run_raw(&["mooncake", "--source", file.to_str().unwrap(), "--tokenizer", &tok_dir("gpt2")], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("trace.jsonl:2: not a Mooncake trace line"), "{err}");
    assert!(out.stdout.is_empty(), "nothing written for a bad trace");
    let out =
        run_raw(&["azure-llm", "--source", &trace(AZURE_CONV), "--tokenizer", &tok_dir("gpt2"), "--replace"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("replayed in its own order"));
}
