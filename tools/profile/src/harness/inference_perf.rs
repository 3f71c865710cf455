//! kubernetes-sigs/inference-perf config files (llm-d-benchmark `workload/profiles/inference-perf`).
//!
//! `load.type` constant/poisson: each stage `rate` x `duration` is one sb-load run at
//! `--rate constant:R` / `poisson:R` for `--duration`; concurrent: each stage `num_requests` x
//! `concurrency_level` is one run of exactly that many requests at `--concurrency`. Stages run
//! back to back, as inference-perf runs them, each tagged `stage=<index>`.

use crate::plan::{len_dist, num, poisson_budget, Input, Plan, Stage};
use crate::profile::{as_f64, as_string, Harness, Keys};
use anyhow::{bail, Result};
use serde_json::Value;

fn f(keys: &mut Keys, doc: &Value, path: &str) -> Option<f64> {
    keys.get(doc, path).and_then(as_f64)
}

/// A number the stage needs: absent is `None`, present but not a number is an error.
fn need(keys: &mut Keys, doc: &Value, path: &str) -> Result<Option<f64>> {
    match keys.get(doc, path) {
        None => Ok(None),
        Some(v) => as_f64(v)
            .filter(|x| *x > 0.0)
            .map(Some)
            .ok_or_else(|| anyhow::anyhow!("{path}: {v} is not a positive number")),
    }
}

/// inference-perf's `Distribution` (min, max, mean, std_dev; `std` as some profiles spell it).
fn dist(keys: &mut Keys, doc: &Value, base: &str) -> Option<String> {
    let min = f(keys, doc, &format!("{base}.min"));
    let max = f(keys, doc, &format!("{base}.max"));
    let mean = f(keys, doc, &format!("{base}.mean"));
    let std = f(keys, doc, &format!("{base}.std_dev")).or_else(|| f(keys, doc, &format!("{base}.std")));
    len_dist(min, max, mean, std)
}

pub fn plan(doc: &Value, mut keys: Keys) -> Result<Plan> {
    let mut sample: Vec<String> = Vec::new();
    let mut load: Vec<String> = Vec::new();

    // Server and API.
    match keys.get(doc, "server.type").map(as_string).as_deref() {
        None | Some("vllm") | Some("openai") => {}
        Some(other) => keys.unsupported("server.type", format!("{other}: servebench speaks the OpenAI API (vllm)")),
    }
    let model = keys.url_and_model(doc, "server.base_url", "server.model_name", &mut load);
    let ignore_eos = keys.get(doc, "server.ignore_eos").and_then(Value::as_bool) == Some(true);
    sample.extend(["--param".into(), format!("ignore_eos={ignore_eos}")]);
    if keys.get(doc, "server.api_key").is_some() {
        keys.unsupported("server.api_key", "put the key in OPENAI_API_KEY instead (sb-load --api-key-env); a key in a profile would land in the results");
    }
    let api = match keys.get(doc, "api.type").map(as_string).as_deref() {
        None | Some("completion") => "completions",
        Some("chat") => "chat",
        Some(other) => {
            keys.unsupported("api.type", format!("{other}: only completion and chat"));
            "completions"
        }
    };
    if keys.get(doc, "api.streaming").and_then(Value::as_bool) == Some(false) {
        load.push("--no-stream".into());
    }
    if let Some(Value::Object(h)) = keys.get(doc, "api.headers") {
        for (k, v) in h {
            load.extend(["-H".into(), format!("{k}: {}", as_string(v))]);
        }
    }
    // inference-perf's tokenizer defaults to the model's.
    if let Some(t) = keys.get(doc, "tokenizer.pretrained_model_name_or_path").map(as_string).or(model) {
        sample.extend(["--tokenizer".into(), t]);
    }
    if keys.get(doc, "tokenizer.token").is_some() {
        keys.unsupported(
            "tokenizer.token",
            "put the Hub token in HF_TOKEN instead; a token in a profile would land in the results",
        );
    }
    keys.note("tokenizer.trust_remote_code", "tokenizer.json files need no remote code");
    if let Some(t) = keys.get(doc, "load.request_timeout").and_then(as_f64) {
        load.extend(["--timeout".into(), format!("{}s", num(t))]);
    }
    for k in ["load.num_workers", "load.worker_max_concurrency", "load.worker_max_tcp_connections"] {
        keys.note(k, "inference-perf's worker processes; sb-load is one client with no connection cap");
    }
    keys.note(
        "report",
        "servebench writes its own results set (--results-dir): per-request results, summaries, llm-d report",
    );
    keys.note("storage", "results go to --results-dir (the harness script passes llm-d's results directory)");

    // Stages.
    let kind = keys.get(doc, "load.type").map(as_string).unwrap_or_else(|| "constant".into());
    // Read without marking: each stage's keys are marked one by one, so a typo in a stage is caught.
    let stages_v = doc.pointer("/load/stages").and_then(Value::as_array).cloned().unwrap_or_default();
    if stages_v.is_empty() {
        bail!("load.stages: an inference-perf profile needs at least one stage");
    }
    let mut stages = Vec::new();
    let mut next = 0usize;
    for (i, _) in stages_v.iter().enumerate() {
        let p = |k: &str| format!("load.stages.{i}.{k}");
        match kind.as_str() {
            "constant" | "poisson" => {
                let (Some(rate), Some(dur)) =
                    (need(&mut keys, doc, &p("rate"))?, need(&mut keys, doc, &p("duration"))?)
                else {
                    bail!("load.stages.{i}: a {kind} stage needs rate and duration");
                };
                let mean = rate * dur;
                let count = if kind == "constant" { mean.ceil().max(1.0) as usize } else { poisson_budget(mean) };
                stages.push(Stage {
                    label: format!("{kind} {} req/s for {} s", num(rate), num(dur)),
                    load_args: vec![
                        "--rate".into(),
                        format!("{kind}:{}", num(rate)),
                        "--duration".into(),
                        format!("{}s", num(dur)),
                    ],
                    input: Input::Slice { from: next, count },
                    expected_s: Some(dur),
                    rate_qps: Some(rate),
                    concurrency: None,
                });
                next += count;
            }
            "concurrent" => {
                let (Some(n), Some(c)) =
                    (need(&mut keys, doc, &p("num_requests"))?, need(&mut keys, doc, &p("concurrency_level"))?)
                else {
                    bail!("load.stages.{i}: a concurrent stage needs num_requests and concurrency_level");
                };
                let (n, c) = (n as usize, c as u64);
                stages.push(Stage {
                    label: format!("{n} requests at concurrency {c}"),
                    load_args: vec!["--concurrency".into(), c.to_string()],
                    input: Input::Slice { from: next, count: n },
                    expected_s: None,
                    rate_qps: None,
                    concurrency: Some(c),
                });
                next += n;
            }
            other => bail!("load.type: {other:?} is not constant, poisson or concurrent"),
        }
    }
    let total = next;

    // Data.
    let dtype = keys.get(doc, "data.type").map(as_string).unwrap_or_else(|| "random".into());
    let source;
    let mut head: Vec<String> = Vec::new();
    match dtype.to_ascii_lowercase().as_str() {
        "random" => {
            source = "random";
            head.push("random".into());
            if let Some(d) = dist(&mut keys, doc, "data.input_distribution") {
                head.extend(["--input-len".into(), d]);
            }
            if let Some(d) = dist(&mut keys, doc, "data.output_distribution") {
                head.extend(["--output-len".into(), d]);
            }
            for k in ["data.input_distribution.total_count", "data.output_distribution.total_count"] {
                keys.note(k, "each request gets a fresh prompt; the lengths follow the same distribution");
            }
            head.extend(["-n".into(), total.to_string()]);
        }
        "shared_prefix" => {
            source = "random";
            head.push("shared-prefix".into());
            let b = "data.shared_prefix";
            let groups = f(&mut keys, doc, &format!("{b}.num_groups"));
            let per = f(&mut keys, doc, &format!("{b}.num_prompts_per_group"));
            for (flag, key) in [
                ("--groups", "num_groups"),
                ("--prompts-per-group", "num_prompts_per_group"),
                ("--prefix-len", "system_prompt_len"),
                ("--input-len", "question_len"),
                ("--output-len", "output_len"),
            ] {
                if let Some(v) = f(&mut keys, doc, &format!("{b}.{key}")) {
                    head.extend([flag.into(), num(v)]);
                }
            }
            // inference-perf cycles through its groups x prompts; with more requests than
            // prompts, draw with replacement.
            let prompts = (groups.unwrap_or(10.0) * per.unwrap_or(10.0)) as usize;
            if total > prompts {
                head.push("--replace".into());
            }
            head.extend(["-n".into(), total.to_string()]);
        }
        "sharegpt" => {
            source = "sampled";
            head.push("sharegpt".into());
            if let Some(p) = keys.get(doc, "data.path") {
                head.extend(["--source".into(), as_string(p)]);
            }
            for (flag, key) in [
                ("--min-input-tokens", "data.input_distribution.min"),
                ("--max-input-tokens", "data.input_distribution.max"),
                ("--min-output-tokens", "data.output_distribution.min"),
                ("--max-output-tokens", "data.output_distribution.max"),
            ] {
                if let Some(v) = f(&mut keys, doc, key) {
                    head.extend([flag.into(), num(v)]);
                }
            }
            // inference-perf goes round the dataset; rows may repeat.
            head.extend(["--replace".into(), "-n".into(), total.to_string()]);
        }
        other => {
            source = "unknown";
            keys.unsupported(
                "data.type",
                format!("{other}: sb-sample has random, shared_prefix and sharegpt of inference-perf's types (conversation_replay's synthetic lognormal sessions are not there)"),
            );
            keys.note("data", "the data section of an unsupported type");
            head.extend(["random".into(), "-n".into(), total.to_string()]);
        }
    }
    if dtype.eq_ignore_ascii_case("random") || dtype == "shared_prefix" {
        keys.note("data.path", "synthetic data reads no file");
    }
    head.extend(["--api".into(), api.into()]);
    head.extend(sample);
    Ok(Plan::new(Harness::InferencePerf, head, load, stages, source, keys))
}
