//! sb-sample run the way users run it: the real binary on the real test files, its stdout read
//! back with the records crate's reader, token counts re-checked with the tokenizers crate.

mod common;

use common::{parse, run_raw, tok_dir};
use sb_records::{Api, Record, RecordReader, Request};
use sb_testkit::{bin, tempdir, testdata};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn data(rel: &str) -> String {
    testdata(&format!("sample/{rel}")).display().to_string()
}

/// Runs sb-sample, expects success, returns the request records.
fn sample(args: &[&str]) -> Vec<Request> {
    let out = run_raw(args, &[]);
    assert!(out.status.success(), "sb-sample {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    parse(&out.stdout)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// An independent counter: the tokenizers crate on the uncompressed file.
fn counter(name: &str) -> tokenizers::Tokenizer {
    use std::io::Read;
    let gz = std::fs::read(testdata(&format!("sample/tokenizers/{name}/tokenizer.json.gz"))).unwrap();
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut json).unwrap();
    tokenizers::Tokenizer::from_bytes(&json).unwrap()
}

fn count(t: &tokenizers::Tokenizer, text: &str, special: bool) -> u32 {
    t.encode(text, special).unwrap().get_ids().len() as u32
}

#[test]
fn same_seed_same_records_other_seed_other_order() {
    let gpt2 = tok_dir("gpt2");
    let src = data("sharegpt/dummy_conversation.json");
    let args = ["sharegpt", "--source", &src, "-n", "50", "--seed", "42", "--tokenizer", &gpt2];
    let a = run_raw(&args, &[]);
    let b = run_raw(&args, &[]);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout, "same flags must give byte-identical output");
    let mut other = args;
    other[6] = "43";
    let c = run_raw(&other, &[]);
    assert_ne!(a.stdout, c.stdout);
    // Synthetic prompts are reproducible too, and nothing depends on the number of threads
    // (units are built in parallel batches whose size follows the thread count).
    let r = ["random", "-n", "20", "--input-len", "uniform:10:40", "--seed", "7", "--tokenizer", &gpt2];
    let one = run_raw(&r, &[("RAYON_NUM_THREADS", "1")]).stdout;
    assert_eq!(one, run_raw(&r, &[("RAYON_NUM_THREADS", "3")]).stdout);
    let alpaca = data("alpaca/alpaca_data.first200.json");
    let f =
        ["alpaca", "--source", &alpaca, "-n", "300", "--replace", "--vllm-filter", "--seed", "9", "--tokenizer", &gpt2];
    let one = run_raw(&f, &[("RAYON_NUM_THREADS", "1")]);
    assert!(one.status.success());
    assert_eq!(one.stdout, run_raw(&f, &[("RAYON_NUM_THREADS", "4")]).stdout);
}

#[test]
fn without_replacement_stops_short_with_exit_1_and_replacement_repeats_rows() {
    let gpt2 = tok_dir("gpt2");
    let src = data("sharegpt/dummy_conversation.json");
    let out = run_raw(&["sharegpt", "--source", &src, "-n", "600", "--tokenizer", &gpt2], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("only 500 of 600"), "{}", stderr(&out));
    let reqs = parse(&out.stdout);
    assert_eq!(reqs.len(), 500, "the requests made are still written");
    let sources: BTreeSet<_> = reqs.iter().map(|r| r.source.clone()).collect();
    assert_eq!(sources.len(), 500, "no row twice without --replace");

    let reqs = sample(&["sharegpt", "--source", &src, "-n", "600", "--replace", "--tokenizer", &gpt2]);
    assert_eq!(reqs.len(), 600);
    let ids: BTreeSet<_> = reqs.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 600, "ids stay unique when rows repeat");
    let sources: BTreeSet<_> = reqs.iter().map(|r| r.source.clone()).collect();
    assert!(sources.len() < 600, "600 draws from 500 rows must repeat some");
}

#[test]
fn sharegpt_single_counts_prompt_and_reference_with_the_tokenizer() {
    let t = counter("gpt2");
    let reqs = sample(&[
        "sharegpt",
        "--source",
        &data("sharegpt/dummy_conversation.json"),
        "-n",
        "30",
        "--tokenizer",
        &tok_dir("gpt2"),
    ]);
    assert_eq!(reqs.len(), 30);
    for r in &reqs {
        assert_eq!(r.api, Api::Completions);
        let prompt = r.prompt.as_deref().unwrap();
        assert_eq!(r.prompt_tokens, Some(count(&t, prompt, true)));
        assert_eq!(r.max_tokens, Some(count(&t, r.expected.as_deref().unwrap(), false).max(1)));
        assert_eq!(r.tokenizer.as_deref(), Some(tok_dir("gpt2").as_str()));
        assert_eq!((r.dataset.as_deref(), r.task.as_deref()), (Some("sharegpt"), Some("single")));
        assert!(r.source.as_deref().unwrap().contains("id=identity_"));
    }
}

#[test]
fn multi_turn_records_hold_only_each_turns_new_message() {
    let qwen = tok_dir("qwen3-0.6b");
    let t = counter("qwen3-0.6b");
    let src = data("openchat/hub/sharegpt_gpt4.json");
    let reqs = sample(&["openchat", "--source", &src, "-n", "10", "--tokenizer", &qwen]);
    let mut sessions: BTreeMap<String, Vec<&Request>> = BTreeMap::new();
    for r in &reqs {
        assert_eq!(r.api, Api::Chat);
        let msgs = r.messages.as_ref().unwrap();
        assert_eq!(msgs.len(), 1, "one new user message per turn: {msgs:?}");
        assert_eq!(msgs[0].role, "user");
        sessions.entry(r.session.clone().unwrap()).or_default().push(r);
    }
    assert_eq!(sessions.len(), 10, "-n counts conversations");
    assert!(reqs.len() > 10, "the fixture's conversations have several turns");
    for turns in sessions.values() {
        // Turns come in order, consecutively, numbered from 0.
        let numbers: Vec<u32> = turns.iter().map(|r| r.turn.unwrap()).collect();
        assert_eq!(numbers, (0..turns.len() as u32).collect::<Vec<_>>());
        // prompt_tokens of turn k counts the whole conversation so far through the chat
        // template, with the reference replies standing in for the server's.
        let mut history = String::new();
        for r in turns {
            let user = &r.messages.as_ref().unwrap()[0].content;
            history += &format!("<|im_start|>user\n{user}<|im_end|>\n");
            let rendered = format!("{history}<|im_start|>assistant\n");
            assert_eq!(r.prompt_tokens, Some(count(&t, &rendered, false)), "{}", r.id);
            history += &format!("<|im_start|>assistant\n{}<|im_end|>\n", r.expected.as_deref().unwrap());
        }
    }
    // MT-Bench: real two-turn questions, sessions of two turns, references where they exist.
    let mt = sample(&["mt-bench", "--source", &data("mt_bench/question.jsonl"), "--no-shuffle", "--tokenizer", &qwen]);
    assert_eq!(mt.len(), 160);
    assert_eq!(
        (mt[0].turn, mt[1].turn, &mt[0].session, &mt[1].session),
        (Some(0), Some(1), &mt[1].session, &mt[0].session)
    );
    assert!(mt[0].messages.as_ref().unwrap()[0].content.starts_with("Compose an engaging travel blog post"));
    assert!(mt.iter().all(|r| r.max_tokens == Some(256) && r.messages.as_ref().unwrap().len() == 1));
    let with_reference: usize = std::fs::read_to_string(data("mt_bench/question.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["reference"].as_array().map_or(0, |a| a.len().min(2))
        })
        .sum();
    assert_eq!(mt.iter().filter(|r| r.expected.is_some()).count(), with_reference);
    let out = run_raw(&["openchat", "--source", &src, "--api", "completions", "--tokenizer", &qwen], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("multi-turn conversations need --api chat"), "{}", stderr(&out));
    // --max-turns bounds every session.
    let reqs = sample(&["openchat", "--source", &src, "--max-turns", "1", "--tokenizer", &qwen]);
    assert!(reqs.iter().all(|r| r.turn == Some(0)));
}

#[test]
fn random_prompts_have_the_drawn_token_counts() {
    let gpt2 = tok_dir("gpt2");
    let t = counter("gpt2");
    let reqs =
        sample(&["random", "-n", "40", "--input-len", "uniform:50:80", "--output-len", "16", "--tokenizer", &gpt2]);
    assert_eq!(reqs.len(), 40);
    let lens: BTreeSet<u32> = reqs.iter().map(|r| r.prompt_tokens.unwrap()).collect();
    assert!(lens.len() > 5, "uniform lengths vary: {lens:?}");
    for r in &reqs {
        let n = r.prompt_tokens.unwrap();
        assert!((50..=80).contains(&n), "{n}");
        assert_eq!(n, count(&t, r.prompt.as_deref().unwrap(), true));
        assert_eq!(r.max_tokens, Some(16));
        assert_eq!(r.params.get("ignore_eos"), Some(&serde_json::json!(true)));
    }
    // vLLM's --random-prefix-len: every prompt starts with the same random 32-token prefix.
    let reqs = sample(&["random", "-n", "10", "--input-len", "20", "--prefix-len", "32", "--tokenizer", &gpt2]);
    let first = reqs[0].prompt.clone().unwrap();
    let head: String = first.split(' ').take(3).collect::<Vec<_>>().join(" ");
    for r in &reqs {
        assert!(r.prompt.as_deref().unwrap().starts_with(&head));
        assert_eq!(r.prefix.as_deref(), Some("random-prefix"));
        assert!((50..=54).contains(&r.prompt_tokens.unwrap()), "{}", r.prompt_tokens.unwrap());
    }
}

#[test]
fn shared_prefix_groups_share_their_prefix_text() {
    let qwen = tok_dir("qwen3-0.6b");
    let args = [
        "shared-prefix",
        "--groups",
        "3",
        "--prompts-per-group",
        "4",
        "--prefix-len",
        "64",
        "--input-len",
        "8",
        "--tokenizer",
        &qwen,
    ];
    let reqs = sample(&args);
    assert_eq!(reqs.len(), 12);
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &reqs {
        groups.entry(r.prefix.clone().unwrap()).or_default().push(r.prompt.clone().unwrap());
    }
    assert_eq!(groups.len(), 3);
    let t = counter("qwen3-0.6b");
    let mut heads = BTreeSet::new();
    for prompts in groups.values() {
        assert_eq!(prompts.len(), 4);
        // The prefix is the part every prompt of the group has in common; it is 64 tokens.
        let common = prompts.iter().skip(1).fold(prompts[0].clone(), |acc, p| {
            acc.chars().zip(p.chars()).take_while(|(a, b)| a == b).map(|(a, _)| a).collect()
        });
        let n = count(&t, common.trim_end(), false);
        assert!((62..=66).contains(&n), "common prefix of {n} tokens");
        heads.insert(common);
    }
    assert_eq!(heads.len(), 3, "each group has its own prefix");
    // Chat: the prefix is the system message, identical within a group.
    let mut chat = args.to_vec();
    chat.extend(["--api", "chat"]);
    for r in sample(&chat) {
        let m = r.messages.unwrap();
        assert_eq!((m[0].role.as_str(), m[1].role.as_str()), ("system", "user"));
    }
}

#[test]
fn sonnet_matches_vllm_line_arithmetic_and_templates() {
    let qwen = tok_dir("qwen3-0.6b");
    let src = data("vllm/sonnet.txt");
    let lines: Vec<String> = std::fs::read_to_string(&src).unwrap().split_inclusive('\n').map(str::to_string).collect();
    let base = "Pick as many lines as you can from these poem lines:\n";
    let prefix: String = lines[..10].concat();
    let args = [
        "sonnet",
        "--source",
        &src,
        "-n",
        "20",
        "--input-len",
        "512",
        "--prefix-len",
        "128",
        "--output-len",
        "2",
        "--tokenizer",
        &qwen,
    ];
    let reqs = sample(&args);
    assert_eq!(reqs.len(), 20);
    for r in &reqs {
        let p = r.prompt.as_deref().unwrap();
        // Completions get the chat-templated prompt, as vLLM's completions backend sends it.
        let inner =
            p.strip_prefix("<|im_start|>user\n").unwrap().strip_suffix("<|im_end|>\n<|im_start|>assistant\n").unwrap();
        let body = inner.strip_prefix(base).unwrap();
        assert!(body.starts_with(&prefix), "the first 10 lines are the shared prefix");
        // 46 lines for 512/128 (vLLM); the file's last line has no newline, so count it apart.
        let last = lines[517].as_str();
        assert_eq!(body.matches('\n').count() + body.matches(last).count(), 46, "46 input lines for 512/128");
        assert!(r.prompt_tokens.unwrap() <= 512);
        assert_eq!(r.max_tokens, Some(2));
        assert_eq!(r.prefix.as_deref(), Some("sonnet-10-lines"));
    }
    let mut chat = args.to_vec();
    chat.extend(["--api", "chat"]);
    let chat_reqs = sample(&chat);
    for (c, r) in chat_reqs.iter().zip(&reqs) {
        // The chat endpoint gets the raw prompt; the server's template makes the same text.
        let m = &c.messages.as_ref().unwrap()[0];
        assert!(m.content.starts_with(base));
        assert_eq!(c.prompt_tokens, r.prompt_tokens);
    }
    let out = run_raw(&["sonnet", "--source", &src, "--tokenizer", &tok_dir("gpt2")], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("chat template"));
}

#[test]
fn mmlu_parquet_and_csv_layouts_give_the_same_prompts() {
    let gpt2 = tok_dir("gpt2");
    let pq = sample(&[
        "mmlu",
        "--source",
        &data("mmlu/hub"),
        "--config",
        "abstract_algebra",
        "--no-shuffle",
        "--tokenizer",
        &gpt2,
    ]);
    let csv = sample(&[
        "mmlu",
        "--source",
        &data("mmlu/derived_csv"),
        "--config",
        "abstract_algebra",
        "--no-shuffle",
        "--tokenizer",
        &gpt2,
    ]);
    assert_eq!(pq.len(), 20);
    assert_eq!(csv.len(), 100);
    for (a, b) in pq.iter().zip(&csv) {
        assert_eq!(a.prompt, b.prompt);
        assert_eq!(a.expected, b.expected);
    }
    let first = &pq[0];
    let p = first.prompt.as_deref().unwrap();
    // lm-eval's 5-shot layout: description, 5 solved dev examples, the question.
    assert!(p.starts_with(
        "The following are multiple choice questions (with answers) about abstract algebra.\n\nFind all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer: B\n\n"
    ));
    assert_eq!(p.matches("\nAnswer:").count(), 6);
    assert!(p.ends_with("\nAnswer:"));
    assert_eq!(first.max_tokens, Some(1));
    assert!(["A", "B", "C", "D"].contains(&first.expected.as_deref().unwrap()));
    assert_eq!(first.prefix.as_deref(), Some("mmlu-abstract_algebra-5shot"));
    // 0-shot, and hendrycks' original header with its double space.
    let zero = sample(&[
        "mmlu",
        "--source",
        &data("mmlu/hub"),
        "--shots",
        "0",
        "--template",
        "hendrycks",
        "-n",
        "5",
        "--tokenizer",
        &gpt2,
    ]);
    for r in &zero {
        let p = r.prompt.as_deref().unwrap();
        assert!(p.contains("(with answers) about  "), "{p}");
        assert_eq!(p.matches("\nAnswer:").count(), 1);
        assert_eq!(r.prefix, None);
    }
    // 5-shot needs the dev split.
    let one_file = data("mmlu/hub/all/test-00000-of-00001.parquet");
    let out = run_raw(&["mmlu", "--source", &one_file, "--tokenizer", &gpt2], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("need the dev split"), "{}", stderr(&out));
}

/// A Hugging Face Hub cache (the layout huggingface_hub and hf-hub share) holding `files`.
fn fake_cache(repo_folder: &str, files: &[(&str, &Path)]) -> std::path::PathBuf {
    let cache = tempdir("hub-cache");
    let sha = "c30699e8356da336a370243923dbaf21066bb9fe";
    let repo = cache.join(repo_folder);
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), sha).unwrap();
    for (rel, src) in files {
        let dst = repo.join("snapshots").join(sha).join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(src, dst).unwrap();
    }
    cache
}

#[test]
fn offline_mode_reads_dataset_and_tokenizer_from_the_hub_cache() {
    let test = testdata("sample/mmlu/hub/all/test-00000-of-00001.parquet");
    let dev = testdata("sample/mmlu/hub/all/dev-00000-of-00001.parquet");
    let cache = fake_cache(
        "datasets--cais--mmlu",
        &[("all/test-00000-of-00001.parquet", &test), ("all/dev-00000-of-00001.parquet", &dev)],
    );
    // The tokenizer by Hub id, from the same cache (uncompressed, as the Hub serves it).
    let tok_json = tempdir("tok").join("tokenizer.json");
    let mut t = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(&std::fs::read(testdata("sample/tokenizers/gpt2/tokenizer.json.gz")).unwrap()[..])
        .read_to_end(&mut t)
        .unwrap();
    std::fs::write(&tok_json, t).unwrap();
    let config = testdata("sample/tokenizers/gpt2/tokenizer_config.json");
    let model = fake_cache(
        "models--openai-community--gpt2",
        &[("tokenizer.json", &tok_json), ("tokenizer_config.json", &config)],
    );
    for entry in std::fs::read_dir(&model).unwrap() {
        let e = entry.unwrap();
        let _ = std::fs::rename(e.path(), cache.join(e.file_name()));
    }
    let c = cache.display().to_string();
    let out =
        run_raw(&["mmlu", "--offline", "--cache-dir", &c, "-n", "5", "--tokenizer", "openai-community/gpt2"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reqs = parse(&out.stdout);
    assert_eq!(reqs.len(), 5);
    assert!(
        reqs[0].source.as_deref().unwrap().starts_with("cais/mmlu@main:all/test-00000-of-00001.parquet#"),
        "{:?}",
        reqs[0].source
    );
    assert_eq!(reqs[0].tokenizer.as_deref(), Some("openai-community/gpt2"));
    // The environment's names for the same settings work too.
    let out = run_raw(
        &["mmlu", "-n", "5", "--tokenizer", "openai-community/gpt2"],
        &[("HF_HUB_OFFLINE", "1"), ("HF_HUB_CACHE", &c)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(parse(&out.stdout), reqs);
    // A dataset or revision that is not cached is a clear error, never a network call.
    let out = run_raw(&["humaneval", "--offline", "--cache-dir", &c, "--tokenizer", "openai-community/gpt2"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("openai/openai_humaneval@main is not in the Hub cache"), "{}", stderr(&out));
    let out = run_raw(
        &["mmlu", "--offline", "--cache-dir", &c, "--revision", "v9", "--tokenizer", "openai-community/gpt2"],
        &[],
    );
    assert!(stderr(&out).contains("cais/mmlu@v9 is not in the Hub cache"), "{}", stderr(&out));
    let out = run_raw(&["mmlu", "--offline", "--cache-dir", &c, "--tokenizer", "Qwen/Qwen3-0.6B"], &[]);
    assert!(stderr(&out).contains("Qwen/Qwen3-0.6B@main: tokenizer.json is not in the Hub cache"), "{}", stderr(&out));
}

#[test]
fn length_filters_and_vllm_filter_drop_requests() {
    let gpt2 = tok_dir("gpt2");
    let src = data("alpaca/alpaca_data.first200.json");
    let all = sample(&["alpaca", "--source", &src, "--tokenizer", &gpt2]);
    assert_eq!(all.len(), 200);
    let kept = sample(&[
        "alpaca",
        "--source",
        &src,
        "--max-input-tokens",
        "60",
        "--min-output-tokens",
        "20",
        "--tokenizer",
        &gpt2,
    ]);
    let expect = all.iter().filter(|r| r.prompt_tokens.unwrap() <= 60 && r.max_tokens.unwrap() >= 20).count();
    assert_eq!(kept.len(), expect);
    assert!(expect > 0 && expect < 200);
    let v = sample(&["alpaca", "--source", &src, "--vllm-filter", "--tokenizer", &gpt2]);
    let rule = |r: &Request| {
        let (i, o) = (r.prompt_tokens.unwrap(), r.max_tokens.unwrap());
        (4..=1024).contains(&i) && o >= 4 && i + o <= 2048
    };
    assert_eq!(v.len(), all.iter().filter(|r| rule(r)).count());
    assert!(v.len() < 200, "some Alpaca outputs are under 4 tokens");
    assert!(v.iter().all(rule));
    // With a fixed output length vLLM does not check the output minimum.
    let fixed = sample(&["alpaca", "--source", &src, "--vllm-filter", "--max-tokens", "2", "--tokenizer", &gpt2]);
    assert_eq!(fixed.len(), all.iter().filter(|r| (4..=1024).contains(&r.prompt_tokens.unwrap())).count());
    // Asked for explicitly, the minimum applies to fixed lengths too.
    let out = run_raw(
        &["alpaca", "--source", &src, "--max-tokens", "2", "--min-output-tokens", "4", "--tokenizer", &gpt2],
        &[],
    );
    assert!(out.status.success());
    assert!(parse(&out.stdout).is_empty());
}

#[test]
fn loogle_questions_of_a_document_share_a_prefix_and_truncation_keeps_both_ends() {
    let gpt2 = tok_dir("gpt2");
    let reqs = sample(&["loogle", "--source", &data("loogle"), "--tokenizer", &gpt2]);
    assert_eq!(reqs.len(), 11 + 12 + 16 + 25 + 16, "one request per QA pair of the 5 documents");
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    for r in &reqs {
        *groups.entry(r.prefix.clone().unwrap()).or_default() += 1;
        let p = r.prompt.as_deref().unwrap();
        assert!(p.starts_with("Please answer the question based on the long texts below. \n"));
        assert!(p.ends_with("\nAnswer: "));
        assert_eq!(r.max_tokens, Some(300));
        assert!(r.prompt_tokens.unwrap() > 10_000, "LooGLE documents are long");
    }
    let sizes: BTreeSet<usize> = groups.values().copied().collect();
    assert_eq!(sizes, [11, 12, 16, 25].into_iter().collect());
    let cut = sample(&["loogle", "--source", &data("loogle"), "--truncate", "2000", "-n", "5", "--tokenizer", &gpt2]);
    for r in &cut {
        let p = r.prompt.as_deref().unwrap();
        assert!(r.prompt_tokens.unwrap() <= 2002, "{}", r.prompt_tokens.unwrap());
        assert!(p.starts_with("Please answer the question") && p.ends_with("\nAnswer: "));
    }
    // Other configs: summarization (reference summary) and cloze (50 tokens).
    let s = sample(&["loogle", "--source", &data("loogle"), "--config", "longdep_summarization", "--tokenizer", &gpt2]);
    assert_eq!(s.len(), 1);
    assert!(s[0].expected.as_deref().unwrap().len() > 100);
    let c = sample(&["loogle", "--source", &data("loogle"), "--config", "shortdep_cloze", "--tokenizer", &gpt2]);
    assert!(c.iter().all(|r| r.max_tokens == Some(50) && r.prompt.as_deref().unwrap().contains("{'<mask-0>': 'Bob'")));
}

#[test]
fn natural_questions_carry_beam_search_params_from_parquet_and_jsonl() {
    let gpt2 = tok_dir("gpt2");
    let pq = sample(&[
        "nq",
        "--source",
        &data("natural_questions/hub"),
        "--no-shuffle",
        "--beam-width",
        "3",
        "--tokenizer",
        &gpt2,
    ]);
    let jl = sample(&[
        "natural-questions",
        "--source",
        &data("natural_questions/NQ-open.dev.first300.jsonl"),
        "--no-shuffle",
        "-n",
        "30",
        "--beam-width",
        "3",
        "--tokenizer",
        &gpt2,
    ]);
    assert_eq!(pq.len(), 30);
    for (a, b) in pq.iter().zip(&jl) {
        assert_eq!(a.prompt, b.prompt);
        assert_eq!(a.expected, b.expected);
        assert_eq!(a.params, b.params);
    }
    assert_eq!(pq[0].prompt.as_deref(), Some("Q: when was the last time anyone was on the moon?\nA:"));
    assert_eq!(
        serde_json::Value::Object(pq[0].params.clone()),
        serde_json::json!({"use_beam_search": true, "n": 3, "best_of": 3, "temperature": 0})
    );
    // --param adds or overrides verbatim.
    let p = sample(&[
        "nq",
        "--source",
        &data("natural_questions/hub"),
        "-n",
        "1",
        "--param",
        "length_penalty=0.8",
        "--param",
        "n=2",
        "--tokenizer",
        &gpt2,
    ]);
    assert_eq!(p[0].params["length_penalty"], serde_json::json!(0.8));
    assert_eq!(p[0].params["n"], serde_json::json!(2));
}

#[test]
fn longbench_reads_data_zip_with_its_own_templates() {
    let gpt2 = tok_dir("gpt2");
    let reqs =
        sample(&["longbench", "--source", &data("longbench/hub/data.zip"), "--no-shuffle", "--tokenizer", &gpt2]);
    assert_eq!(reqs.len(), 10);
    let mut by_prefix: BTreeMap<String, usize> = BTreeMap::new();
    for r in &reqs {
        *by_prefix.entry(r.prefix.clone().unwrap()).or_default() += 1;
        let p = r.prompt.as_deref().unwrap();
        if r.source.as_deref().unwrap().contains(" qmsum ") {
            assert!(p.starts_with("You are given a meeting transcript"));
            assert_eq!(r.max_tokens, Some(512));
        } else {
            assert!(p.starts_with("Read the following text and answer briefly."));
            assert_eq!(r.max_tokens, Some(64));
        }
    }
    assert_eq!(by_prefix.len(), 5, "two questions per context");
    let one = sample(&["longbench", "--source", &data("longbench/hub"), "--config", "qmsum", "--tokenizer", &gpt2]);
    assert_eq!(one.len(), 6);
    let out =
        run_raw(&["longbench", "--source", &data("longbench/hub"), "--config", "nope", "--tokenizer", &gpt2], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown task \"nope\""));
}

#[test]
fn qmsum_cleaned_and_original_schemas() {
    let gpt2 = tok_dir("gpt2");
    let t = counter("gpt2");
    let pq = sample(&["qmsum", "--source", &data("qmsum/hub"), "--no-shuffle", "--tokenizer", &gpt2]);
    assert_eq!(pq.len(), 6);
    for r in &pq {
        assert_eq!(r.max_tokens, Some(count(&t, r.expected.as_deref().unwrap(), false)));
        assert_eq!(r.prefix, None);
    }
    let orig = sample(&[
        "qmsum",
        "--source",
        &data("qmsum/test.first3.jsonl"),
        "--template",
        "longbench",
        "--tokenizer",
        &gpt2,
    ]);
    let groups: BTreeSet<_> = orig.iter().map(|r| r.prefix.clone().unwrap()).collect();
    assert_eq!(groups.len(), 3, "queries of a meeting share its transcript");
    assert!(orig.len() > 20);
    let one = sample(&["qmsum", "--source", &data("qmsum/ES2004a.json"), "--tokenizer", &gpt2]);
    assert!(one.iter().all(|r| r.prompt.as_deref().unwrap().contains("\nProject Manager: ")));
}

#[test]
fn humaneval_and_alpaca_from_hub_parquet_and_original_files() {
    let gpt2 = tok_dir("gpt2");
    let pq = sample(&["humaneval", "--source", &data("humaneval/hub"), "--no-shuffle", "--tokenizer", &gpt2]);
    let gz =
        sample(&["humaneval", "--source", &data("humaneval/HumanEval.jsonl.gz"), "--no-shuffle", "--tokenizer", &gpt2]);
    assert_eq!((pq.len(), gz.len()), (40, 164));
    for (a, b) in pq.iter().zip(&gz) {
        assert_eq!((&a.prompt, &a.expected, a.max_tokens), (&b.prompt, &b.expected, b.max_tokens));
    }
    assert!(pq[0].prompt.as_deref().unwrap().contains("def has_close_elements("));
    let lm = sample(&[
        "humaneval",
        "--source",
        &data("humaneval/hub"),
        "-n",
        "1",
        "--template",
        "lm-eval",
        "--max-tokens",
        "512",
        "--tokenizer",
        &gpt2,
    ]);
    assert!(lm[0].prompt.as_deref().unwrap().ends_with("\nHere is the completed function:\n\n```python\n"));
    assert_eq!(lm[0].max_tokens, Some(512));
    assert!(lm[0].params["stop"].as_array().unwrap().len() == 8);

    let apq = sample(&["alpaca", "--source", &data("alpaca/hub"), "--no-shuffle", "--tokenizer", &gpt2]);
    let ajs = sample(&[
        "alpaca",
        "--source",
        &data("alpaca/alpaca_data.first200.json"),
        "--no-shuffle",
        "-n",
        "100",
        "--tokenizer",
        &gpt2,
    ]);
    assert_eq!(apq.iter().map(|r| &r.prompt).collect::<Vec<_>>(), ajs.iter().map(|r| &r.prompt).collect::<Vec<_>>());
    assert!(apq[0]
        .prompt
        .as_deref()
        .unwrap()
        .contains("### Instruction:\nGive three tips for staying healthy.\n\n### Response:"));
    let chat = sample(&[
        "alpaca",
        "--source",
        &data("alpaca/hub"),
        "--no-shuffle",
        "-n",
        "1",
        "--api",
        "chat",
        "--tokenizer",
        &tok_dir("qwen3-0.6b"),
    ]);
    assert_eq!(chat[0].messages.as_ref().unwrap()[0].content, "Give three tips for staying healthy.");
}

#[test]
fn bad_input_is_a_clear_error_with_exit_2() {
    let gpt2 = tok_dir("gpt2");
    let dir = tempdir("bad");
    let bad = dir.join("conv.jsonl");
    std::fs::write(&bad, "{\"conversations\": []}\n{not json\n").unwrap();
    let b = bad.display().to_string();
    let no_output = dir.join("alpaca.json");
    std::fs::write(
        &no_output,
        r#"[{"instruction": "a", "input": "", "output": "b"}, {"instruction": "c", "input": ""}]"#,
    )
    .unwrap();
    let n = no_output.display().to_string();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["sharegpt", "--source", &b, "--tokenizer", &gpt2], format!("{b}:2: not valid JSON")),
        (vec!["nosuch", "--tokenizer", &gpt2], "unknown dataset \"nosuch\"".into()),
        (vec!["alpaca", "--source", &n, "--tokenizer", &gpt2], format!("{n}#1: missing field `output`")),
        (vec!["mmlu", "--task", "x", "--tokenizer", &gpt2], "dataset mmlu has no task \"x\"".into()),
        (vec!["random"], "--tokenizer is required".into()),
        (vec!["random", "--tokenizer", "./nope/tokenizer.json"], "no such file or directory".into()),
        (vec!["random", "--input-len", "uniform:9:3", "--tokenizer", &gpt2], "min 9 is above max 3".into()),
        (
            vec!["mmlu", "--source", "/nonexistent/x.parquet", "--tokenizer", &gpt2],
            "--source /nonexistent/x.parquet: no such file".into(),
        ),
        (vec!["random", "--param", "oops", "--tokenizer", &gpt2], "expected KEY=VALUE".into()),
    ];
    for (args, want) in cases {
        let out = run_raw(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(&want), "{args:?}: want {want:?} in {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout when the input is bad");
    }
    // A parquet file without the columns a dataset needs names the column and the ones it has.
    let out = run_raw(
        &[
            "mmlu",
            "--source",
            &data("humaneval/hub/openai_humaneval/test-00000-of-00001.parquet"),
            "--shots",
            "0",
            "--tokenizer",
            &gpt2,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no column \"question\" (columns: task_id, prompt"), "{}", stderr(&out));
}

#[test]
fn list_and_inspect_describe_the_data() {
    let out = run_raw(&["list"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for name in [
        "random",
        "shared-prefix",
        "sonnet",
        "sharegpt",
        "mmlu",
        "humaneval",
        "alpaca",
        "natural-questions",
        "loogle",
        "longbench",
        "qmsum",
        "openchat",
    ] {
        assert!(text.lines().any(|l| l == name), "{name} missing from list");
    }
    assert!(text.contains("hub:   cais/mmlu"));
    let out = run_raw(
        &["inspect", "mmlu", "--source", &data("mmlu/hub"), "--rows", "2", "--tokenizer", &tok_dir("gpt2")],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("mmlu: 40 rows, task qa, api completions"));
    assert_eq!(text.matches("\n--- mmlu-").count(), 2);
    assert!(text.contains("lengths over 40 requests"));
    let row = text.lines().find(|l| l.trim_start().starts_with("max_tokens")).unwrap();
    assert_eq!(row.split_whitespace().skip(1).take(5).collect::<Vec<_>>(), ["1", "1", "1", "1", "1"]);
}

#[test]
fn requests_run_through_sb_load_against_sb_sim() {
    // The way users run it: sb-sample | sb-load, multi-turn sessions included.
    let sim = sb_testkit::Sim::start(&["--instant"]);
    let qwen = tok_dir("qwen3-0.6b");
    let src = data("openchat/hub/sharegpt_gpt4.json");
    let mut sampled = Command::new(bin("sb-sample"))
        .args(["openchat", "--source", &src, "-n", "4", "--max-turns", "3", "--tokenizer", &qwen])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = Command::new(bin("sb-load"))
        .args(["--url", &sim.url, "--model", "sim", "--rate", "inf"])
        .stdin(sampled.stdout.take().unwrap())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(sampled.wait().unwrap().success());
    assert!(out.status.success());
    let mut results = Vec::new();
    for rec in RecordReader::new("sb-load", &out.stdout[..]) {
        if let Record::Result(r) = rec.unwrap() {
            results.push(r);
        }
    }
    let requests = sample(&["openchat", "--source", &src, "-n", "4", "--max-turns", "3", "--tokenizer", &qwen]);
    assert_eq!(results.len(), requests.len());
    assert!(results.iter().all(|r| r.status == sb_records::Status::Ok), "{results:?}");
    let sent: BTreeSet<_> = requests.iter().map(|r| (r.id.clone(), r.session.clone(), r.turn)).collect();
    let got: BTreeSet<_> = results.iter().map(|r| (r.id.clone(), r.session.clone(), r.turn)).collect();
    assert_eq!(sent, got);
}

/// A stand-in for the Hugging Face Hub on 127.0.0.1, speaking the part of its HTTP API that
/// `hf-hub` uses: the repo listing (`/api/datasets/<repo>/revision/<rev>`) and file downloads
/// (`/<repo path>/resolve/<rev>/<file>` with byte ranges, `etag`, `x-repo-commit`,
/// `content-range`). Repos under `gated/` answer 401 unless the request carries
/// `Authorization: Bearer <token>`. Serves for at most 60 s.
struct FakeHub {
    url: String,
    /// Authorization headers seen, for checking that the token is sent.
    auth_seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

const FAKE_SHA: &str = "0123456789abcdef0123456789abcdef01234567";

impl FakeHub {
    /// `files`: (repo path as in URLs: `datasets/cais/mmlu`, `openai-community/gpt2`; file name;
    /// local file to serve).
    fn start(files: Vec<(&'static str, &'static str, std::path::PathBuf)>, token: &'static str) -> FakeHub {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let auth_seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = auth_seen.clone();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (mut range, mut auth): (Option<(usize, Option<usize>)>, String) = (None, String::new());
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                    match k.to_ascii_lowercase().as_str() {
                        "range" => {
                            let r = v.trim().trim_start_matches("bytes=");
                            let (a, b) = r.split_once('-').unwrap_or((r, ""));
                            range = Some((a.parse().unwrap_or(0), b.parse().ok()));
                        }
                        "authorization" => auth = v.trim().to_string(),
                        _ => {}
                    }
                }
                seen.lock().unwrap().push(auth.clone());
                let mut out = stream;
                let mut reply = |status: &str, headers: &[(&str, String)], body: &[u8]| {
                    let mut head =
                        format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
                    for (k, v) in headers {
                        head += &format!("{k}: {v}\r\n");
                    }
                    head += "\r\n";
                    let _ = out.write_all(head.as_bytes());
                    let _ = out.write_all(body);
                };
                if path.contains("gated/") && auth != format!("Bearer {token}") {
                    reply("401 Unauthorized", &[], b"{\"error\":\"Access to this repo is restricted\"}");
                    continue;
                }
                if let Some(rest) = path.strip_prefix("/api/datasets/") {
                    let repo = format!("datasets/{}", rest.split("/revision/").next().unwrap());
                    let names: Vec<_> = files
                        .iter()
                        .filter(|(r, _, _)| *r == repo)
                        .map(|(_, f, _)| serde_json::json!({ "rfilename": f }))
                        .collect();
                    if names.is_empty() {
                        reply("404 Not Found", &[], b"{}");
                    } else {
                        let body = serde_json::json!({ "sha": FAKE_SHA, "siblings": names }).to_string();
                        reply("200 OK", &[("Content-Type", "application/json".into())], body.as_bytes());
                    }
                    continue;
                }
                let found = files
                    .iter()
                    .find(|(r, f, _)| path.starts_with(&format!("/{r}/resolve/")) && path.ends_with(&format!("/{f}")));
                let Some((_, name, local)) = found else {
                    reply("404 Not Found", &[], b"");
                    continue;
                };
                let bytes = std::fs::read(local).unwrap();
                let (from, to) = match range {
                    Some((a, Some(b))) => (a.min(bytes.len()), (b + 1).min(bytes.len())),
                    Some((a, None)) => (a.min(bytes.len()), bytes.len()),
                    None => (0, bytes.len()),
                };
                reply(
                    "206 Partial Content",
                    &[
                        ("etag", format!("\"etag-{}\"", name.replace('/', "-"))),
                        ("x-repo-commit", FAKE_SHA.to_string()),
                        ("content-range", format!("bytes {from}-{}/{}", to.saturating_sub(1), bytes.len())),
                    ],
                    &bytes[from..to],
                );
            }
        });
        FakeHub { url, auth_seen }
    }
}

#[test]
fn downloads_from_the_hub_api_into_the_cache_then_works_offline() {
    let test = testdata("sample/mmlu/hub/all/test-00000-of-00001.parquet");
    let dev = testdata("sample/mmlu/hub/all/dev-00000-of-00001.parquet");
    let tok_json = tempdir("hub-tok").join("tokenizer.json");
    {
        use std::io::Read;
        let mut t = Vec::new();
        flate2::read::GzDecoder::new(&std::fs::read(testdata("sample/tokenizers/gpt2/tokenizer.json.gz")).unwrap()[..])
            .read_to_end(&mut t)
            .unwrap();
        std::fs::write(&tok_json, t).unwrap();
    }
    let token = "hf_fake_token_for_tests_123";
    let hub = FakeHub::start(
        vec![
            ("datasets/cais/mmlu", "all/test-00000-of-00001.parquet", test.clone()),
            ("datasets/cais/mmlu", "all/dev-00000-of-00001.parquet", dev),
            ("datasets/cais/mmlu", "README.md", test.clone()),
            ("openai-community/gpt2", "tokenizer.json", tok_json),
            ("datasets/gated/mmlu", "all/test-00000-of-00001.parquet", test.clone()),
        ],
        token,
    );
    let cache = tempdir("hub-online-cache");
    let c = cache.display().to_string();
    let env = [("HF_ENDPOINT", hub.url.as_str()), ("HF_HUB_CACHE", c.as_str())];
    let gpt2 = ["--tokenizer", "openai-community/gpt2"];

    let out = run_raw(&[&["mmlu", "-n", "5", "--seed", "3"][..], &gpt2].concat(), &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let online = parse(&out.stdout);
    assert_eq!(online.len(), 5);
    assert!(online[0].source.as_deref().unwrap().starts_with("cais/mmlu@main:all/test-00000-of-00001.parquet#"));
    // The files are in the huggingface_hub cache layout now, and only the ones the dataset needs.
    let snap = cache.join("datasets--cais--mmlu/snapshots").join(FAKE_SHA);
    assert_eq!(std::fs::read(snap.join("all/test-00000-of-00001.parquet")).unwrap(), std::fs::read(&test).unwrap());
    assert!(!snap.join("README.md").exists());
    assert_eq!(std::fs::read_to_string(cache.join("datasets--cais--mmlu/refs/main")).unwrap(), FAKE_SHA);
    // So the same run works offline, with the same records (the Hub is not asked again).
    let asked = hub.auth_seen.lock().unwrap().len();
    let offline = run_raw(&[&["mmlu", "-n", "5", "--seed", "3", "--offline"][..], &gpt2].concat(), &env);
    assert!(offline.status.success(), "{}", stderr(&offline));
    assert_eq!(parse(&offline.stdout), online);
    assert_eq!(hub.auth_seen.lock().unwrap().len(), asked, "offline made no request");

    // A gated repo without a token: one clear line, exit 2.
    let gated = ["mmlu", "--repo", "gated/mmlu", "--shots", "0"];
    let out = run_raw(&[&gated[..], &gpt2].concat(), &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("dataset gated/mmlu is gated or private") && stderr(&out).contains("HF_TOKEN"),
        "{}",
        stderr(&out)
    );
    // With HF_TOKEN it downloads; the token is sent as a Bearer header and never printed.
    let with_token = [env[0], env[1], ("HF_TOKEN", token)];
    let out = run_raw(&[&gated[..], &["--max-input-tokens", "5"], &gpt2].concat(), &with_token);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(hub.auth_seen.lock().unwrap().iter().any(|a| a == &format!("Bearer {token}")));
    assert!(!stderr(&out).contains(token) && !String::from_utf8_lossy(&out.stdout).contains(token));
    // A repo that does not exist.
    let out = run_raw(&[&["mmlu", "--repo", "nobody/nothing"][..], &gpt2].concat(), &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("dataset nobody/nothing@main not found on the Hub"), "{}", stderr(&out));
}
