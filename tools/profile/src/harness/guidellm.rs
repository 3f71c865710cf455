//! guidellm scenario files (llm-d-benchmark `workload/profiles/guidellm`): `spec` holds the
//! backend, profile, constraints and data; `benchmarks`, when present, lists one run per entry,
//! each a set of dotted overrides of `spec` (`profile.streams: 300`), run in order.
//!
//! Profiles: `concurrent` (`streams`: N closed-loop streams), `constant` and `poisson` (`rate`),
//! `synchronous` (one stream), `throughput` (everything at once); a list of streams or rates is
//! one stage each. `sweep` is adaptive (it measures throughput first) and is not supported.

use crate::plan::{len_dist, num, poisson_budget, Input, Plan, Stage};
use crate::profile::{apply_overrides, as_f64, as_string, Harness, Keys};
use anyhow::{bail, Result};
use serde_json::Value;

/// One load setting of a benchmark: the stage arguments and how many requests bound it.
struct Setting {
    label: String,
    args: Vec<String>,
    rate: Option<f64>,
    concurrency: Option<u64>,
}

fn list(v: Option<&Value>) -> Vec<f64> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(as_f64).collect(),
        Some(v) => as_f64(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn settings(keys: &mut Keys, spec: &Value, at: &str) -> Result<Vec<Setting>> {
    let kind = keys.get(spec, "profile.kind").map(as_string).unwrap_or_else(|| "synchronous".into());
    let mut out = Vec::new();
    match kind.as_str() {
        "concurrent" => {
            let streams = list(keys.get(spec, "profile.streams"));
            if streams.is_empty() {
                bail!("{at}profile.streams: a concurrent profile needs streams");
            }
            for s in streams {
                let c = s as u64;
                out.push(Setting { label: format!("{c} streams"), args: vec!["--concurrency".into(), c.to_string()], rate: None, concurrency: Some(c) });
            }
        }
        "constant" | "poisson" => {
            let rates = list(keys.get(spec, "profile.rate"));
            if rates.is_empty() {
                bail!("{at}profile.rate: a {kind} profile needs a rate");
            }
            for r in rates {
                out.push(Setting {
                    label: format!("{kind} {} req/s", num(r)),
                    args: vec!["--rate".into(), format!("{kind}:{}", num(r))],
                    rate: Some(r),
                    concurrency: None,
                });
            }
        }
        "synchronous" => {
            out.push(Setting { label: "synchronous".into(), args: vec!["--concurrency".into(), "1".into()], rate: None, concurrency: Some(1) })
        }
        "throughput" => out.push(Setting { label: "throughput".into(), args: vec!["--rate".into(), "inf".into()], rate: None, concurrency: None }),
        other => keys.unsupported(
            &format!("{}profile.kind", at.trim_start_matches("spec.")),
            format!("{other}: servebench runs concurrent, constant, poisson, synchronous and throughput (sweep is adaptive)"),
        ),
    }
    if let Some(m) = keys.get(spec, "profile.max_concurrency").and_then(as_f64) {
        for s in out.iter_mut() {
            s.args.extend(["--concurrency".into(), (m as u64).to_string()]);
        }
    }
    Ok(out)
}

/// (max_duration seconds, max_requests) from `constraints`, a list of `{kind, ...}` or a map.
fn constraints(keys: &mut Keys, spec: &Value) -> (Option<f64>, Option<f64>) {
    let (mut dur, mut req) = (None, None);
    match spec.get("constraints") {
        Some(Value::Array(a)) => {
            for i in 0..a.len() {
                let kind = keys.get(spec, &format!("constraints.{i}.kind")).map(as_string).unwrap_or_default();
                let val = |keys: &mut Keys, names: &[&str]| {
                    names.iter().find_map(|n| keys.get(spec, &format!("constraints.{i}.{n}")).and_then(as_f64))
                };
                match kind.as_str() {
                    "max_duration" => dur = val(keys, &["seconds", "value", "max_duration"]),
                    "max_requests" | "max_number" => {
                        req = val(keys, &["count", "requests", "value", "max_requests", "max_number"])
                    }
                    other => keys.unsupported(
                        &format!("constraints.{i}.kind"),
                        format!("{other}: servebench bounds a run by max_duration and max_requests"),
                    ),
                }
            }
        }
        Some(Value::Object(_)) => {
            dur = keys.get(spec, "constraints.max_duration").and_then(as_f64);
            req = keys.get(spec, "constraints.max_requests").and_then(as_f64);
        }
        _ => {}
    }
    (dur, req)
}

pub fn plan(doc: &Value, mut keys: Keys, pool: usize) -> Result<Plan> {
    keys.note("metadata", "labels and description only");
    let Some(spec) = doc.get("spec").cloned() else { bail!("a guidellm profile has a spec") };
    let mut load: Vec<String> = Vec::new();
    let mut sample: Vec<String> = Vec::new();
    match keys.get(doc, "spec.backend.kind").map(as_string).as_deref() {
        None | Some("openai_http") => {}
        Some(other) => keys.unsupported("spec.backend.kind", format!("{other}: servebench speaks openai_http")),
    }
    let model = keys.url_and_model(doc, "spec.backend.target", "spec.backend.model", &mut load);
    let chat = match keys.get(doc, "spec.backend.request_format").map(as_string).as_deref() {
        Some(f) if f.contains("chat") => true,
        None => false,
        Some(f) if f.contains("completions") || f == "text_completions" => false,
        Some(f) => {
            keys.unsupported(
                "spec.backend.request_format",
                format!("{f}: sb-load sends /v1/completions or /v1/chat/completions"),
            );
            false
        }
    };
    // guidellm's processor (the tokenizer) defaults to the model's.
    if let Some(t) = keys.get(doc, "spec.processor").map(as_string).or(model) {
        sample.extend(["--tokenizer".into(), t]);
    }

    // Data: synthetic_text with prompt/output tokens and their min/max/stdev.
    let mut head = vec!["random".to_string()];
    let source;
    match doc.pointer("/spec/data/0/kind").or_else(|| doc.pointer("/spec/data/kind")).map(as_string).as_deref() {
        Some("synthetic_text") | None => {
            source = "random";
            let base = if doc.pointer("/spec/data/0").is_some() { "spec.data.0" } else { "spec.data" };
            keys.get(doc, &format!("{base}.kind"));
            for (flag, what) in [("--input-len", "prompt_tokens"), ("--output-len", "output_tokens")] {
                let g = |keys: &mut Keys, k: &str| keys.get(doc, &format!("{base}.{what}{k}")).and_then(as_f64);
                let (mean, std, min, max) =
                    (g(&mut keys, ""), g(&mut keys, "_stdev"), g(&mut keys, "_min"), g(&mut keys, "_max"));
                if let Some(d) = len_dist(min, max, mean, std) {
                    head.extend([flag.into(), d]);
                }
            }
        }
        Some(other) => {
            source = "unknown";
            keys.unsupported("spec.data", format!("{other}: servebench maps guidellm's synthetic_text data"));
        }
    }
    if doc.pointer("/spec/data/1").is_some() {
        keys.unsupported("spec.data.1", "one data source per run");
    }

    // Benchmarks: each entry overrides spec; without them, spec alone is one benchmark.
    let entries: Vec<Value> = doc.get("benchmarks").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut specs: Vec<(String, Value)> = Vec::new();
    if entries.is_empty() {
        specs.push(("spec.".into(), spec.clone()));
    } else {
        for (i, e) in entries.iter().enumerate() {
            let mut s = spec.clone();
            let ovr: Vec<(String, String)> =
                e.as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), as_string(v))).collect()).unwrap_or_default();
            apply_overrides(&mut s, &ovr).map_err(|err| anyhow::anyhow!("benchmarks.{i}: {err:#}"))?;
            keys.get(doc, &format!("benchmarks.{i}"));
            specs.push((format!("benchmarks.{i}: "), s));
        }
    }
    let mut stages = Vec::new();
    let mut next = 0usize;
    let mut cycled = false;
    for (at, s) in &specs {
        // Keys of a benchmark's spec are the document's spec keys: mark them on the document.
        let mut sub = Keys::new(s);
        let sets = settings(&mut sub, s, at)?;
        let (dur, req) = constraints(&mut sub, s);
        for (k, why) in sub.unsupported.drain(..) {
            keys.unsupported(&format!("spec.{k}"), why);
        }
        for k in sub.unused_under("profile").into_iter().chain(sub.unused_under("constraints")) {
            let which =
                if at.starts_with("benchmarks") { format!(" ({})", at.trim_end_matches(": ")) } else { String::new() };
            keys.unsupported(
                &format!("spec.{k}"),
                format!("not a key servebench knows for this guidellm profile kind{which}"),
            );
        }
        for path in ["profile", "constraints"] {
            keys.get(doc, &format!("spec.{path}"));
        }
        if dur.is_none() && req.is_none() {
            bail!("{at}a guidellm benchmark needs a max_duration or max_requests constraint (servebench does not run unbounded)");
        }
        for st in sets {
            let mut args = st.args.clone();
            if let Some(d) = dur {
                args.extend(["--duration".into(), format!("{}s", num(d))]);
            }
            let input = match (req, st.rate, dur) {
                (Some(n), _, _) => {
                    let n = n as usize;
                    let i = Input::Slice { from: next, count: n };
                    next += n;
                    i
                }
                (None, Some(r), Some(d)) => {
                    let n = if st.label.starts_with("constant") {
                        ((r * d).ceil() as usize).max(1)
                    } else {
                        poisson_budget(r * d)
                    };
                    let i = Input::Slice { from: next, count: n };
                    next += n;
                    i
                }
                _ => {
                    cycled = true;
                    Input::Cycle { from: usize::MAX }
                }
            };
            stages.push(Stage {
                label: format!("{}{}", st.label, dur.map_or(String::new(), |d| format!(" for {} s", num(d)))),
                load_args: args,
                input,
                expected_s: dur,
                rate_qps: st.rate,
                concurrency: st.concurrency,
            });
        }
    }
    // Time-bounded closed loops send as many requests as the server can take: they go round a
    // pool of `pool` prompts after the counted stages' requests.
    for s in stages.iter_mut() {
        if let Input::Cycle { from } = &mut s.input {
            *from = next;
        }
    }
    let total = next + if cycled { pool } else { 0 };
    if cycled {
        keys.notes.push((
            "spec.constraints".into(),
            format!("time-bounded closed-loop runs go round a pool of {pool} prompts (--pool), ids suffixed .<pass>"),
        ));
    }
    head.extend(["-n".into(), total.to_string(), "--api".into(), if chat { "chat" } else { "completions" }.into()]);
    head.extend(sample);
    Ok(Plan::new(Harness::Guidellm, head, load, stages, source, keys))
}
