//! `vllm bench serve` flags as YAML keys (llm-d-benchmark `workload/profiles/vllm-benchmark`;
//! its harness turns `key: value` into `--key=value`, and `key: none` into a bare `--key`).
//! Defaults are vLLM's: `dataset-name` sharegpt, `num-prompts` 1000, `request-rate` inf
//! (Poisson otherwise, gamma with `burstiness`), random 1024 in / 128 out.

use crate::plan::{num, Input, Plan, Stage};
use crate::profile::{as_f64, as_string, Harness, Keys};
use anyhow::{bail, Result};
use serde_json::Value;

/// A value, with llm-d's `none` (a switch without value) as `true`.
fn flag(keys: &mut Keys, doc: &Value, k: &str) -> Option<Value> {
    keys.get(doc, k).cloned().map(|v| if v.as_str() == Some("none") { Value::Bool(true) } else { v })
}

fn is_on(v: &Option<Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !matches!(s.to_ascii_lowercase().as_str(), "false" | "no" | "0"),
        Some(_) => true,
        None => false,
    }
}

pub fn plan(doc: &Value, mut keys: Keys) -> Result<Plan> {
    let mut load: Vec<String> = Vec::new();
    let mut sample: Vec<String> = Vec::new();
    let mut report: Vec<String> = Vec::new();
    keys.note("executable", "vLLM's benchmark entry point; servebench runs sb-sample | sb-load | sb-report");

    let model = flag(&mut keys, doc, "model").map(|v| as_string(&v));
    let served = flag(&mut keys, doc, "served-model-name").map(|v| as_string(&v));
    if let Some(m) = served.clone().or_else(|| model.clone()) {
        load.extend(["--model".into(), m]);
    }
    match (flag(&mut keys, doc, "base-url"), flag(&mut keys, doc, "host"), flag(&mut keys, doc, "port")) {
        (Some(u), _, _) => load.extend(["--url".into(), as_string(&u)]),
        (None, h, p) if h.is_some() || p.is_some() => {
            let h = h.map_or("127.0.0.1".into(), |v| as_string(&v));
            let p = p.map_or("8000".into(), |v| as_string(&v));
            load.extend(["--url".into(), format!("http://{h}:{p}")]);
        }
        _ => {}
    }
    // The tokenizer counts prompts: vLLM's --tokenizer, else the model.
    let tokenizer = flag(&mut keys, doc, "tokenizer").map(|v| as_string(&v)).or(model);
    let endpoint = flag(&mut keys, doc, "endpoint").map(|v| as_string(&v));
    let backend = flag(&mut keys, doc, "backend").map(|v| as_string(&v));
    let chat = match (endpoint.as_deref(), backend.as_deref()) {
        (Some(e), _) if e.contains("chat/completions") => true,
        (Some(e), _) if e.ends_with("/completions") => false,
        (Some(e), _) => {
            keys.unsupported("endpoint", format!("{e}: sb-load sends to /v1/completions or /v1/chat/completions"));
            false
        }
        (None, Some("openai-chat")) => true,
        (None, Some("openai" | "vllm") | None) => false,
        (None, Some(b)) => {
            keys.unsupported("backend", format!("{b}: servebench has openai, vllm and openai-chat"));
            false
        }
    };
    let n = flag(&mut keys, doc, "num-prompts").and_then(|v| as_f64(&v)).unwrap_or(1000.0) as usize;
    let seed = flag(&mut keys, doc, "seed").map(|v| as_string(&v));

    let dataset = flag(&mut keys, doc, "dataset-name").map(|v| as_string(&v)).unwrap_or_else(|| "sharegpt".into());
    let path = flag(&mut keys, doc, "dataset-path").map(|v| as_string(&v));
    let source = match dataset.as_str() {
        "random" => {
            // sb-sample takes vLLM's flags with vLLM's meaning (bounds, special tokens, prefix).
            sample.push("random".into());
            // vLLM's defaults are passed too, so that they keep vLLM's meaning.
            for (k, default) in [
                ("random-input-len", Some(1024.0)),
                ("random-output-len", Some(128.0)),
                ("random-range-ratio", None),
                ("random-prefix-len", None),
            ] {
                if let Some(v) = flag(&mut keys, doc, k).and_then(|v| as_f64(&v)).or(default) {
                    if k == "random-range-ratio" && !(0.0..1.0).contains(&v) {
                        bail!("random-range-ratio: {v} is not in [0, 1) (vLLM's bound)");
                    }
                    sample.extend([format!("--{k}"), num(v)]);
                }
            }
            "random"
        }
        "sonnet" => {
            sample.push("sonnet".into());
            for (flag_name, key) in [
                ("--input-len", "sonnet-input-len"),
                ("--output-len", "sonnet-output-len"),
                ("--prefix-len", "sonnet-prefix-len"),
            ] {
                if let Some(v) = flag(&mut keys, doc, key).and_then(|v| as_f64(&v)) {
                    sample.extend([flag_name.into(), num(v)]);
                }
            }
            "sampled"
        }
        "sharegpt" => {
            sample.push("sharegpt".into());
            if let Some(l) = flag(&mut keys, doc, "sharegpt-output-len").and_then(|v| as_f64(&v)) {
                sample.extend(["--max-tokens".into(), num(l)]);
            }
            "sampled"
        }
        "custom" => {
            sample.push("custom".into());
            if let Some(l) = flag(&mut keys, doc, "custom-output-len").and_then(|v| as_f64(&v)) {
                sample.extend(["--max-tokens".into(), num(l)]);
            }
            "sampled"
        }
        other => {
            keys.unsupported(
                "dataset-name",
                format!("{other}: servebench runs random, sonnet, sharegpt and custom of vLLM's datasets"),
            );
            sample.push("random".into());
            "unknown"
        }
    };
    if let Some(p) = path {
        sample.extend(["--source".into(), p]);
    }
    sample.extend(["-n".into(), n.to_string(), "--api".into(), if chat { "chat" } else { "completions" }.into()]);
    if let Some(s) = &seed {
        sample.extend(["--seed".into(), s.clone()]);
    }
    if let Some(t) = tokenizer {
        sample.extend(["--tokenizer".into(), t]);
    }
    // vLLM sends ignore_eos only with --ignore-eos (sb-sample's random sets it by default).
    let ignore_eos = is_on(&flag(&mut keys, doc, "ignore-eos"));
    sample.extend(["--param".into(), format!("ignore_eos={ignore_eos}")]);
    for (k, p) in [("temperature", "temperature"), ("top-p", "top_p"), ("top-k", "top_k"), ("min-p", "min_p")] {
        if let Some(v) = flag(&mut keys, doc, k) {
            sample.extend(["--param".into(), format!("{p}={}", as_string(&v))]);
        }
    }

    // Arrivals: vLLM's --request-rate is Poisson (gamma with --burstiness), inf by default.
    let rate = flag(&mut keys, doc, "request-rate").map(|v| as_string(&v));
    let burst = flag(&mut keys, doc, "burstiness").and_then(|v| as_f64(&v)).unwrap_or(1.0);
    let conc = flag(&mut keys, doc, "max-concurrency").and_then(|v| as_f64(&v)).map(|c| c as u64);
    let mut stage_args = Vec::new();
    let rate_qps = match rate.as_deref().map(str::trim) {
        None | Some("inf") => {
            stage_args.extend(["--rate".into(), "inf".into()]);
            None
        }
        Some(r) => {
            let Ok(r) = r.parse::<f64>() else { bail!("request-rate: {r:?} is not a number or inf") };
            let spec =
                if burst == 1.0 { format!("poisson:{}", num(r)) } else { format!("gamma:{}:{}", num(r), num(burst)) };
            stage_args.extend(["--rate".into(), spec]);
            Some(r)
        }
    };
    if let Some(c) = conc {
        stage_args.extend(["--concurrency".into(), c.to_string()]);
    }
    if let Some(s) = seed {
        stage_args.extend(["--seed".into(), s]);
    }
    if let Some(p) = flag(&mut keys, doc, "metric-percentiles") {
        report.extend(["--percentiles".into(), as_string(&p).replace(' ', "")]);
    }
    if let Some(g) = flag(&mut keys, doc, "goodput") {
        let g = as_string(&g).split_whitespace().collect::<Vec<_>>().join(",");
        report.extend(["--slo".into(), g]);
    }
    keys.note("percentile-metrics", "sb-report reports every metric (TTFT, TPOT, ITL, E2EL and more)");
    for k in ["save-result", "save-detailed", "result-dir", "result-filename", "disable-tqdm", "trust-remote-code"] {
        keys.note(k, "servebench keeps every result record and writes its own results set");
    }
    keys.finish();
    let label = format!(
        "{} prompts, rate {}{}",
        n,
        rate_qps.map_or("inf".into(), num),
        conc.map_or(String::new(), |c| format!(", max concurrency {c}"))
    );
    Ok(Plan {
        harness: Harness::VllmBenchmark,
        sample_args: sample,
        load_args: load,
        stages: vec![Stage {
            label,
            load_args: stage_args,
            input: Input::Slice { from: 0, count: n },
            expected_s: rate_qps.map(|r| n as f64 / r),
            rate_qps,
            concurrency: conc,
        }],
        report_args: report,
        source,
        keys,
    })
}
