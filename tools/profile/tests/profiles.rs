//! sb-profile runs llm-d-benchmark's own profiles (testdata/profile, copied unchanged) against
//! sb-sim with short overrides, and the requests sent are checked against each profile: counts,
//! rates and concurrency per stage, length distributions, shared prefixes. Every llm-d report
//! written is validated against llm-d's JSON Schema.
//! Needs the workspace binaries built (`cargo build --workspace --bins`).

use sb_testkit::{bin, tempdir, testdata, Sim};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    code: i32,
    stderr: String,
    dir: PathBuf,
}

fn tok(name: &str) -> String {
    testdata(&format!("sample/tokenizers/{name}")).display().to_string()
}

/// `sb-profile ARGS` with llm-d's placeholders pointing at `sim` (served model = tokenizer path).
fn sb_profile(args: &[&str], url: &str, tokenizer: &str) -> Run {
    let dir = tempdir("profile");
    let mut cmd = Command::new(bin("sb-profile"));
    cmd.args(args);
    if args[0] == "run" {
        cmd.arg("--results-dir").arg(&dir);
    }
    let out = cmd
        .env("LLMDBENCH_DEPLOY_CURRENT_MODEL", tokenizer)
        .env("LLMDBENCH_DEPLOY_CURRENT_TOKENIZER", tokenizer)
        .env("LLMDBENCH_HARNESS_STACK_ENDPOINT_URL", url)
        .env_remove("LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR")
        .output()
        .unwrap();
    Run { code: out.status.code().unwrap_or(-1), stderr: String::from_utf8_lossy(&out.stderr).into_owned(), dir }
}

fn profile(rel: &str) -> String {
    testdata(&format!("profile/{rel}")).display().to_string()
}

fn records(path: &Path, kind: &str) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == kind)
        .collect()
}

fn assert_valid_llmd(dir: &Path) {
    let reports: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("benchmark_report"))
        .collect();
    assert!(!reports.is_empty(), "no llm-d report in {}", dir.display());
    let out = Command::new("python3")
        .arg(testdata("report/llmd/validate.py"))
        .arg(testdata("report/llmd/br_v0_2_json_schema.json"))
        .args(&reports)
        .output()
        .expect("python3 with jsonschema (.ci/setup)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The run went through (exit 1 only when sb-load says it fell behind on a busy machine).
fn assert_ran(r: &Run) {
    assert!(r.code == 0 || (r.code == 1 && r.stderr.contains("lag")), "exit {}: {}", r.code, r.stderr);
    for f in ["profile.yaml", "commands.sh", "requests.ndjson", "results.ndjson", "report.txt", "report.json"] {
        assert!(r.dir.join(f).exists(), "{f} missing");
    }
    assert_valid_llmd(&r.dir);
}

/// Results by `tags.stage`.
fn by_stage(dir: &Path) -> BTreeMap<u64, Vec<Value>> {
    let mut m: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
    for r in records(&dir.join("results.ndjson"), "result") {
        let s: u64 = r["tags"]["stage"].as_str().unwrap().parse().unwrap();
        m.entry(s).or_default().push(r);
    }
    m
}

/// Most requests in flight at once (sent to done).
fn max_in_flight(rs: &[Value]) -> usize {
    let mut ev: Vec<(u64, i32)> = Vec::new();
    for r in rs {
        ev.push((r["sent_ns"].as_u64().unwrap(), 1));
        ev.push((r["done_ns"].as_u64().unwrap(), -1));
    }
    ev.sort_by_key(|&(t, d)| (t, d));
    let (mut cur, mut max) = (0i32, 0i32);
    for (_, d) in ev {
        cur += d;
        max = max.max(cur);
    }
    max as usize
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

#[test]
fn inference_perf_constant_stages_send_rate_times_duration_at_the_rate() {
    // Outputs of up to 2,048 tokens: a fast engine step keeps the stages short.
    let sim = Sim::start(&["--decode-ms", "0.1", "--model", &tok("gpt2")]);
    for name in ["chatbot_synthetic", "code_completion_synthetic", "summarization_synthetic"] {
        // The profiles' rates (1, 2, 4, 8 req/s), half a second per stage instead of 120.
        let mut o = String::from("load.stages.0.duration=0.5,load.stages.1.duration=0.5,load.stages.2.duration=0.5,load.stages.3.duration=0.5");
        if name != "chatbot_synthetic" {
            // Shorter prompts keep the test quick; chatbot_synthetic keeps its own (up to 8192 tokens).
            o.push_str(",data.input_distribution.mean=512,data.input_distribution.std_dev=256,data.input_distribution.max=1024");
        }
        let r =
            sb_profile(&["run", &profile(&format!("inference-perf/{name}.yaml.in")), "-o", &o], &sim.url, &tok("gpt2"));
        assert_ran(&r);
        let stages = by_stage(&r.dir);
        let counts: Vec<usize> = stages.values().map(Vec::len).collect();
        assert_eq!(counts, vec![1, 1, 2, 4], "{name}");
        for (s, rs) in &stages {
            let rate = [1.0, 2.0, 4.0, 8.0][*s as usize];
            let mut sched: Vec<u64> = rs.iter().map(|r| r["scheduled_ns"].as_u64().unwrap()).collect();
            sched.sort();
            for w in sched.windows(2) {
                let gap_s = (w[1] - w[0]) as f64 / 1e9;
                assert!((gap_s - 1.0 / rate).abs() < 1e-3, "{name} stage {s}: gap {gap_s} at {rate} req/s");
            }
        }
        let requests = records(&r.dir.join("requests.ndjson"), "request");
        let doc: Value = serde_saphyr::from_str(&std::fs::read_to_string(r.dir.join("profile.yaml")).unwrap()).unwrap();
        let (lo, hi) = (
            doc["data"]["input_distribution"]["min"].as_u64().unwrap(),
            doc["data"]["input_distribution"]["max"].as_u64().unwrap(),
        );
        for q in &requests {
            let n = q["prompt_tokens"].as_u64().unwrap();
            assert!((lo..=hi + 1).contains(&n), "{name}: prompt of {n} tokens outside [{lo}, {hi}]");
            assert_eq!(q["params"]["ignore_eos"], true, "server.ignore_eos");
        }
        let sum: Value =
            serde_json::from_str(std::fs::read_to_string(r.dir.join("report.json")).unwrap().trim()).unwrap();
        assert_eq!(sum["groups"].as_array().unwrap().len(), 4, "one group per stage");
    }
}

#[test]
fn inference_perf_length_distribution_and_overrides_of_the_sanity_profile() {
    let sim = Sim::start(&["--decode-ms", "1", "--model", &tok("gpt2")]);
    let r = sb_profile(
        &[
            "run",
            &profile("inference-perf/sanity_random.yaml.in"),
            "-o",
            "load.stages.0.rate=40,load.stages.0.duration=1",
        ],
        &sim.url,
        &tok("gpt2"),
    );
    assert_ran(&r);
    let rs = &by_stage(&r.dir)[&0];
    assert_eq!(rs.len(), 40);
    let reqs = records(&r.dir.join("requests.ndjson"), "request");
    // normal(384, 10) within [256, 512]; normal(50, 10) within [10, 100]: means within 5 sigma of the mean's error.
    let input: Vec<f64> = reqs.iter().map(|q| q["prompt_tokens"].as_f64().unwrap()).collect();
    let output: Vec<f64> = reqs.iter().map(|q| q["max_tokens"].as_f64().unwrap()).collect();
    assert!((mean(&input) - 384.0).abs() < 5.0 * 10.0 / (40f64).sqrt() + 1.0, "{}", mean(&input));
    assert!((mean(&output) - 50.0).abs() < 5.0 * 10.0 / (40f64).sqrt(), "{}", mean(&output));
    assert!(output.iter().all(|&x| (10.0..=100.0).contains(&x)));
    // The server generated what was asked (ignore_eos).
    for res in rs {
        assert_eq!(res["usage"]["completion_tokens"], res["max_tokens"]);
    }
    // request_timeout became sb-load's --timeout; the resolved profile has the overrides.
    let script = std::fs::read_to_string(r.dir.join("commands.sh")).unwrap();
    assert!(script.contains("--timeout 30s") && script.contains("--rate constant:40 --duration 1s"), "{script}");
    let doc = std::fs::read_to_string(r.dir.join("profile.yaml")).unwrap();
    assert!(doc.contains("rate: 40"), "{doc}");
}

#[test]
fn inference_perf_concurrent_stages_hold_their_concurrency() {
    let sim = Sim::start(&["--decode-ms", "2", "--model", &tok("gpt2")]);
    let o = "load.stages.0.num_requests=3,load.stages.1.num_requests=6,load.stages.2.num_requests=12,load.stages.3.num_requests=24,\
             data.input_distribution.min=50,data.input_distribution.max=100,data.input_distribution.mean=80,\
             data.output_distribution.min=10,data.output_distribution.max=20,data.output_distribution.mean=15";
    let r = sb_profile(&["run", &profile("inference-perf/random_concurrent.yaml.in"), "-o", o], &sim.url, &tok("gpt2"));
    assert_ran(&r);
    let stages = by_stage(&r.dir);
    for (s, (n, c)) in [(3usize, 1usize), (6, 2), (12, 4), (24, 8)].into_iter().enumerate() {
        let rs = &stages[&(s as u64)];
        assert_eq!(rs.len(), n, "stage {s}");
        let m = max_in_flight(rs);
        assert!(m <= c && m >= c.min(2), "stage {s}: {m} in flight at concurrency {c}");
    }
    let script = std::fs::read_to_string(r.dir.join("commands.sh")).unwrap();
    assert!(script.contains("--concurrency 8 --run") && script.contains("--tag stage=3"), "{script}");
}

#[test]
fn inference_perf_shared_prefix_groups_share_their_prefix() {
    let sim = Sim::start(&["--decode-ms", "1", "--model", &tok("gpt2")]);
    let mut o = String::from(
        "data.shared_prefix.num_groups=3,data.shared_prefix.num_prompts_per_group=4,data.shared_prefix.system_prompt_len=200,\
         data.shared_prefix.question_len=20,data.shared_prefix.output_len=8",
    );
    for i in 0..7 {
        o.push_str(&format!(",load.stages.{i}.duration=0.4"));
    }
    let r = sb_profile(
        &["run", &profile("inference-perf/shared_prefix_synthetic.yaml.in"), "-o", &o],
        &sim.url,
        &tok("gpt2"),
    );
    assert_ran(&r);
    let stages = by_stage(&r.dir);
    // Rates 2, 5, 8, 10, 12, 15, 20 req/s for 0.4 s.
    let counts: Vec<usize> = stages.values().map(Vec::len).collect();
    assert_eq!(counts, vec![1, 2, 4, 4, 5, 6, 8]);
    let reqs = records(&r.dir.join("requests.ndjson"), "request");
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for q in &reqs {
        let p = q["prompt"].as_str().unwrap();
        // The prefix is 200 tokens of text: its first 300 bytes are shared within a group.
        groups.entry(q["prefix"].as_str().unwrap().to_string()).or_default().insert(p[..300.min(p.len())].to_string());
        assert_eq!(q["max_tokens"], 8);
    }
    assert!(groups.len() <= 3 && groups.len() >= 2, "{:?}", groups.keys());
    for (g, starts) in &groups {
        assert_eq!(starts.len(), 1, "group {g}: prompts do not share their prefix");
    }
}

#[test]
fn inference_perf_sharegpt_reads_the_dataset_file_with_its_length_bounds() {
    let sim = Sim::start(&["--decode-ms", "1", "--model", &tok("gpt2")]);
    let data = testdata("sample/sharegpt/dummy_conversation.json").display().to_string();
    let o = format!(
        "data.path={data},load.stages.0.duration=1,load.stages.1.duration=1,load.stages.2.duration=0.5,load.stages.3.duration=0.5,\
         data.output_distribution.max=64"
    );
    let r = sb_profile(&["run", &profile("inference-perf/chatbot_sharegpt.yaml.in"), "-o", &o], &sim.url, &tok("gpt2"));
    assert_ran(&r);
    let counts: Vec<usize> = by_stage(&r.dir).values().map(Vec::len).collect();
    assert_eq!(counts, vec![1, 2, 2, 4]);
    for q in records(&r.dir.join("requests.ndjson"), "request") {
        assert_eq!(q["dataset"], "sharegpt");
        let (i, o) = (q["prompt_tokens"].as_u64().unwrap(), q["max_tokens"].as_u64().unwrap());
        assert!((10..=1024).contains(&i) && (10..=64).contains(&o), "{i} {o}");
    }
}

#[test]
fn vllm_benchmark_profiles_as_vllm_bench_serve_runs_them() {
    let sim = Sim::start(&["--decode-ms", "1", "--model", &tok("qwen3-0.6b")]);
    let r = sb_profile(
        &[
            "run",
            &profile("vllm-benchmark/random_concurrent.yaml.in"),
            "-o",
            "num-prompts=5,random-input-len=200,random-output-len=12",
        ],
        &sim.url,
        &tok("qwen3-0.6b"),
    );
    assert_ran(&r);
    let rs = &by_stage(&r.dir)[&0];
    assert_eq!(rs.len(), 5);
    assert_eq!(max_in_flight(rs), 1, "max-concurrency 1");
    for q in records(&r.dir.join("requests.ndjson"), "request") {
        assert_eq!(q["prompt_tokens"], 200);
        assert_eq!(q["max_tokens"], 12);
        assert_eq!(q["params"]["ignore_eos"], true, "ignore-eos: none is the bare flag");
    }
    // metric-percentiles reach sb-report.
    let text = std::fs::read_to_string(r.dir.join("report.txt")).unwrap();
    assert!(text.contains("P99.9 TTFT") || text.contains("P0.1 TTFT"), "{text}");

    let r = sb_profile(
        &[
            "run",
            &profile("vllm-benchmark/sanity_random.yaml.in"),
            "-o",
            "num-prompts=3,random-input-len=64,random-range-ratio=0.5",
        ],
        &sim.url,
        &tok("qwen3-0.6b"),
    );
    assert_ran(&r);
    let reqs = records(&r.dir.join("requests.ndjson"), "request");
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|q| (32..=96).contains(&q["prompt_tokens"].as_u64().unwrap())), "vLLM's range ratio");
    assert!(
        reqs.iter().all(|q| (64..=192).contains(&q["max_tokens"].as_u64().unwrap())),
        "vLLM's default output length 128, same ratio"
    );
    assert!(
        reqs.iter().all(|q| q["params"]["ignore_eos"] == false),
        "vLLM's random sends no ignore_eos without --ignore-eos"
    );

    let custom = testdata("sample/custom/questions.jsonl").display().to_string();
    let r = sb_profile(
        &[
            "run",
            &profile("vllm-benchmark/sanity_random.yaml.in"),
            "-o",
            &format!("dataset-name=custom,dataset-path={custom},num-prompts=3"),
        ],
        &sim.url,
        &tok("qwen3-0.6b"),
    );
    assert_ran(&r);
    let reqs = records(&r.dir.join("requests.ndjson"), "request");
    assert!(reqs.iter().all(|q| q["dataset"] == "custom") && reqs.len() == 3);

    let sonnet = testdata("sample/vllm/sonnet.txt").display().to_string();
    let o = format!("dataset-path={sonnet},num-prompts=8,sonnet-input-len=300,sonnet-prefix-len=100,sonnet-output-len=4,request-rate=40");
    let r = sb_profile(
        &["run", &profile("vllm-benchmark/sonnet_concurrent.yaml.in"), "-o", &o],
        &sim.url,
        &tok("qwen3-0.6b"),
    );
    assert_ran(&r);
    let rs = &by_stage(&r.dir)[&0];
    assert_eq!(rs.len(), 8);
    assert!(rs.iter().all(|x| x["api"] == "chat"), "backend openai-chat");
    let script = std::fs::read_to_string(r.dir.join("commands.sh")).unwrap();
    assert!(script.contains("--rate poisson:40 --concurrency 32"), "request-rate is Poisson, as vLLM's: {script}");
}

#[test]
fn guidellm_concurrent_profiles_one_stage_per_benchmark() {
    let sim = Sim::start(&["--decode-ms", "2", "--model", &tok("qwen3-0.6b")]);
    let r = sb_profile(
        &[
            "run",
            &profile("guidellm/sanity_concurrent.yaml.in"),
            "--pool",
            "16",
            "-o",
            "spec.constraints.0.seconds=1,spec.data.0.output_tokens=8",
        ],
        &sim.url,
        &tok("qwen3-0.6b"),
    );
    assert_ran(&r);
    let rs = &by_stage(&r.dir)[&0];
    assert!(rs.len() > 4, "a 1 s closed loop of 2 streams sends more than a few requests ({})", rs.len());
    assert_eq!(max_in_flight(rs), 2, "streams: 2");
    let ids: BTreeSet<&str> = rs.iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), rs.len(), "ids stay unique when the pool goes round");
    let reqs = records(&r.dir.join("requests.ndjson"), "request");
    assert!(reqs.iter().all(|q| q["prompt_tokens"] == 256 && q["max_tokens"] == 8));

    let r = sb_profile(
        &[
            "run",
            &profile("guidellm/concurrent-1k-1k.yaml.in"),
            "--pool",
            "40",
            "-o",
            "spec.constraints.0.seconds=0.3,spec.data.0.prompt_tokens=30,spec.data.0.output_tokens=3",
        ],
        &sim.url,
        &tok("qwen3-0.6b"),
    );
    assert_ran(&r);
    let stages = by_stage(&r.dir);
    assert_eq!(stages.len(), 5, "five benchmarks");
    for (s, streams) in [300usize, 200, 100, 50, 1].into_iter().enumerate() {
        let m = max_in_flight(&stages[&(s as u64)]);
        assert!(m <= streams && m >= streams.min(2), "stage {s}: {m} in flight, {streams} streams");
    }
    assert!(stages.values().flatten().all(|x| x["api"] == "chat"), "request_format /v1/chat/completions");
}

#[test]
fn unsupported_keys_unknown_overrides_and_missing_placeholders_are_errors() {
    let p = profile("inference-perf/sanity_random.yaml.in");
    // A key the mapping does not know: exit 2 listing it, unless --allow-unsupported.
    let r = sb_profile(&["explain", &p, "-o", "load.sweep=true,data.bogus=1"], "http://127.0.0.1:9", &tok("gpt2"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("2 key(s)") && r.stderr.contains("load.sweep") && r.stderr.contains("data.bogus"),
        "{}",
        r.stderr
    );
    let r =
        sb_profile(&["explain", &p, "--allow-unsupported", "-o", "data.bogus=1"], "http://127.0.0.1:9", &tok("gpt2"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // An override whose parent is not in the profile: llm-d drops it with a warning; here, an error.
    let r = sb_profile(&["explain", &p, "-o", "nothere.x=1,load.stages.3.rate=2"], "http://127.0.0.1:9", &tok("gpt2"));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("nothere.x, load.stages.3.rate"), "{}", r.stderr);
    let r = sb_profile(&["explain", &p, "-o", "load.stages.0.rate=fast"], "http://127.0.0.1:9", &tok("gpt2"));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("load.stages.0.rate: \"fast\" is not a positive number"), "{}", r.stderr);
    // Poisson stages: the duration ends them, with requests for mean + 5 sigma (30 + 5 sqrt 30 + 5).
    let out = Command::new(bin("sb-profile"))
        .args(["explain", &p, "-o", "load.type=poisson"])
        .env("LLMDBENCH_DEPLOY_CURRENT_MODEL", tok("gpt2"))
        .env("LLMDBENCH_HARNESS_STACK_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.contains("--from 0 --count 63 |") && script.contains("--rate poisson:1 --duration 30s"), "{script}");
    // guidellm: a list of rates is one stage each; sweep is adaptive and not supported.
    let g = profile("guidellm/sanity_concurrent.yaml.in");
    let explain = |o: &str| {
        Command::new(bin("sb-profile"))
            .args(["explain", &g, "--allow-unsupported", "-o", o])
            .env("LLMDBENCH_DEPLOY_CURRENT_MODEL", tok("gpt2"))
            .env("LLMDBENCH_HARNESS_STACK_ENDPOINT_URL", "http://127.0.0.1:9")
            .output()
            .unwrap()
    };
    let out = explain("spec.profile.kind=poisson,spec.profile.rate=4");
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.contains("--rate poisson:4 --duration 30s"), "{script}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("spec.profile.streams"),
        "streams has no meaning for poisson"
    );
    let out = Command::new(bin("sb-profile"))
        .args(["explain", &g, "-o", "spec.profile.kind=sweep"])
        .env("LLMDBENCH_DEPLOY_CURRENT_MODEL", tok("gpt2"))
        .env("LLMDBENCH_HARNESS_STACK_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("spec.profile.kind: sweep"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A placeholder with no value names the variable.
    let out = Command::new(bin("sb-profile"))
        .args(["explain", &p])
        .env_remove("LLMDBENCH_HARNESS_STACK_ENDPOINT_URL")
        .env("LLMDBENCH_DEPLOY_CURRENT_MODEL", "m")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("LLMDBENCH_HARNESS_STACK_ENDPOINT_URL") && !err.contains("LLMDBENCH_DEPLOY_CURRENT_MODEL,"),
        "{err}"
    );
}

#[test]
fn explain_prints_a_pipeline_that_runs_by_hand() {
    let sim = Sim::start(&["--decode-ms", "1", "--model", &tok("qwen3-0.6b")]);
    let r = sb_profile(
        &["explain", &profile("vllm-benchmark/sanity_random.yaml.in"), "-o", "num-prompts=3"],
        &sim.url,
        &tok("qwen3-0.6b"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = Command::new(bin("sb-profile"))
        .args(["explain", &profile("vllm-benchmark/sanity_random.yaml.in"), "-o", "num-prompts=3"])
        .env("LLMDBENCH_DEPLOY_CURRENT_MODEL", tok("qwen3-0.6b"))
        .env("LLMDBENCH_HARNESS_STACK_ENDPOINT_URL", &sim.url)
        .output()
        .unwrap();
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains("sb-sample\" random") && script.contains("| \"$SB_BIN/sb-load\""), "{script}");
    let dir = tempdir("explain");
    std::fs::write(dir.join("commands.sh"), &script).unwrap();
    let st = Command::new("sh").arg("commands.sh").current_dir(&dir).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    assert_eq!(records(&dir.join("results.ndjson"), "result").len(), 3);
    assert_valid_llmd(&dir);
}
