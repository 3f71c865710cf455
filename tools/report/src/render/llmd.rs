//! llm-d-benchmark's benchmark report, version 0.2 (`br_v0_2_json_schema.json` of
//! llm-d/llm-d-benchmark, `llmdbenchmark/analysis/benchmark_report/`; a copy with its commented
//! example is in testdata/report/llmd/). llm-d's analysis tools and dashboards read only this
//! format; every harness's native output is converted to it.
//!
//! What is filled, and from where:
//! - `run`: `uid` (a hash of the run ids and the time of the first send), `eid` (the experiment
//!   id: `$LLMDBENCH_RUN_EXPERIMENT_ID` as llm-d's harness pods set it, else the sb-load run id),
//!   `time` (first send to last response, ISO 8601; the duration as `PT<seconds>S`, llm-d's form).
//! - `scenario.load`: servebench as the tool, the arrival rate and concurrency cap from sb-load's
//!   run record, the mean input and output lengths measured (distribution `other`), the run
//!   record's scalar fields (tool, url, model, ...) as `native.args`.
//! - `scenario.stack`: only with `--stack FILE`: the vLLM server from sb-deploy's plan record or
//!   rendered manifest (model, accelerator, parallelism, engine arguments).
//! - `results.request_performance.aggregate`: requests, latency (units `ms`, the same numbers as
//!   the text report: TTFT, TPOT, ITL, NTPOT, E2EL) and throughput. Per-request time series are
//!   left out (the schema marks them as likely to become links to the data).

use crate::report::Report;
use crate::stats::Stats;
use anyhow::{anyhow, bail, Context, Result};
use sb_records::{Kind, PlanPoint};
use serde_json::{json, Map, Value};

pub const SCHEMA_VERSION: &str = "0.2";
/// Version of the component schemas inside (`metadata.schema_version`), as llm-d writes it.
const COMPONENT_SCHEMA: &str = "0.0.1";

/// `2026-12-01T21:00:00.123Z` of an epoch-ns time (RFC 3339, the schema's `date-time`).
pub fn iso_time(epoch_ns: u64) -> String {
    let millis = (epoch_ns % 1_000_000_000) / 1_000_000;
    let (y, m, d, hh, mm, ss) = sb_cli::civil::utc((epoch_ns / 1_000_000_000) as i64);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{millis:03}Z")
}

/// ISO 8601 duration in seconds, as llm-d's harness scripts write `LLMDBENCH_HARNESS_DELTA`.
pub fn iso_duration(seconds: f64) -> String {
    let s = format!("{:.6}", seconds.max(0.0));
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("PT{s}S")
}

/// 32 hex digits (the length of llm-d's ids) of `text`.
pub fn hex_id(text: &str) -> String {
    let fnv = sb_cli::fnv1a_seeded;
    format!("{:016x}{:016x}", fnv(0, text.as_bytes()), fnv(0x9e37_79b9_7f4a_7c15, text.as_bytes()))
}

/// The schema's key for a percentile: `p0p1` for 0.1, `p99p9` for 99.9, `p50`.
pub fn pct_key(p: f64) -> String {
    let s = if p.fract() == 0.0 { format!("{}", p as i64) } else { format!("{p}") };
    format!("p{}", s.replace('.', "p"))
}

fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// A `Statistics` object in ms; `None` when nothing was measured (the schema needs a mean).
fn stats(s: &Stats, units: &str) -> Option<Value> {
    if s.count == 0 || !s.mean.is_finite() {
        return None;
    }
    let mut m = Map::new();
    m.insert("units".into(), json!(units));
    m.insert("mean".into(), json!(s.mean));
    m.insert("stddev".into(), num(s.std));
    m.insert("min".into(), num(s.min));
    m.insert("p50".into(), num(s.median));
    for (p, v) in &s.percentiles {
        m.insert(pct_key(*p), num(*v));
    }
    m.insert("max".into(), num(s.max));
    Some(Value::Object(m))
}

fn mean_only(units: &str, mean: f64) -> Value {
    json!({"units": units, "mean": if mean.is_finite() { mean } else { 0.0 }})
}

/// The llm-d v0.2 report of everything in `r`; `stack` from [`stack_component`].
pub fn render(r: &Report, stack: Option<Value>) -> Value {
    let t = &r.total;
    let runs: Vec<&str> = r.runs.iter().map(|(k, _)| k.as_str()).filter(|k| *k != "-").collect();
    let start = t.first_sent_ns.unwrap_or(0);
    let uid = hex_id(&format!("{}@{start}:{}", runs.join(","), t.completed + t.failed));
    let eid = std::env::var("LLMDBENCH_RUN_EXPERIMENT_ID")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| runs.first().map(|s| s.to_string()));

    let mut run = Map::new();
    run.insert("uid".into(), json!(uid));
    if let Some(e) = eid {
        run.insert("eid".into(), json!(e));
    }
    if let Some(first) = t.first_sent_ns {
        run.insert(
            "time".into(),
            json!({
                "start": iso_time(first),
                "end": iso_time(t.last_done_ns.max(first)),
                "duration": iso_duration(t.duration_s),
            }),
        );
    }
    run.insert("description".into(), json!(format!("servebench run {}", runs.join(", "))));

    let completed = t.completed.max(1) as f64;
    let mean_in = t.total_input_tokens as f64 / completed;
    let mean_out = t.total_output_tokens as f64 / completed;
    let mut standardized = Map::new();
    standardized.insert("tool".into(), json!("servebench"));
    standardized.insert("tool_version".into(), json!(env!("CARGO_PKG_VERSION")));
    standardized.insert("source".into(), json!("unknown"));
    standardized.insert("input_seq_len".into(), json!({"distribution": "other", "value": mean_in}));
    standardized.insert("output_seq_len".into(), json!({"distribution": "other", "value": mean_out}));
    if let Some(rate) = r.load.target_rate.filter(|x| x.is_finite()) {
        standardized.insert("rate_qps".into(), json!(rate));
    }
    if let Some(c) = r.load.max_concurrency {
        standardized.insert("concurrency".into(), json!(c));
    }
    // What the run record says of the generator (tool, url, model, ...), as llm-d keeps a
    // harness's own arguments.
    let args: Map<String, Value> =
        r.load.other.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut native = Map::new();
    if !args.is_empty() {
        native.insert("args".into(), Value::Object(args));
    }
    let load = json!({
        "metadata": {"schema_version": COMPONENT_SCHEMA, "cfg_id": hex_id(&Value::Object(native.clone()).to_string())},
        "standardized": standardized,
        "native": native,
    });
    let mut scenario = Map::new();
    if let Some(s) = stack {
        scenario.insert("stack".into(), json!([s]));
    }
    scenario.insert("load".into(), load);

    let mut latency = Map::new();
    for (key, s) in [
        ("time_to_first_token", &t.ttft),
        ("time_per_output_token", &t.tpot),
        ("inter_token_latency", &t.itl),
        ("normalized_time_per_output_token", &t.ntpot),
        ("request_latency", &t.e2el),
    ] {
        let units = if key == "time_to_first_token" || key == "request_latency" { "ms" } else { "ms/token" };
        if let Some(v) = stats(s, units) {
            latency.insert(key.into(), v);
        }
    }
    let duration = if t.duration_s > 0.0 { t.duration_s } else { f64::NAN };
    let throughput = json!({
        "input_token_rate": mean_only("tokens/s", t.total_input_tokens as f64 / duration),
        "output_token_rate": mean_only("tokens/s", t.output_throughput),
        "total_token_rate": mean_only("tokens/s", t.total_token_throughput),
        "request_rate": mean_only("queries/s", t.request_throughput),
    });
    let requests = json!({
        "total": t.completed + t.failed,
        "failures": t.failed,
        "input_length": mean_only("count", mean_in),
        "output_length": mean_only("count", mean_out),
    });
    json!({
        "version": SCHEMA_VERSION,
        "run": run,
        "scenario": scenario,
        "results": {"request_performance": {"aggregate": {
            "requests": requests,
            "latency": latency,
            "throughput": throughput,
        }}},
    })
}

/// Engine arguments as llm-d writes them: `--flag: value`, or `--flag: null` for a switch.
fn args_map(args: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if let Some((k, v)) = a.split_once('=').filter(|_| a.starts_with("--")) {
            m.insert(k.to_string(), json!(v));
        } else if a.starts_with('-') {
            match args.get(i + 1).filter(|n| !n.starts_with('-')) {
                Some(v) => {
                    m.insert(a.clone(), json!(v));
                    i += 1;
                }
                None => {
                    m.insert(a.clone(), Value::Null);
                }
            }
        }
        i += 1;
    }
    m
}

fn arg_int(args: &Map<String, Value>, names: &[&str]) -> i64 {
    names.iter().find_map(|n| args.get(*n)?.as_str()?.parse().ok()).unwrap_or(1)
}

struct Engine {
    label: String,
    image: String,
    model: String,
    accelerator: String,
    gpus: i64,
    replicas: i64,
    args: Vec<String>,
}

fn component(e: Engine) -> Value {
    let args = args_map(&e.args);
    let parallelism = json!({
        "tp": arg_int(&args, &["--tensor-parallel-size", "-tp"]),
        "pp": arg_int(&args, &["--pipeline-parallel-size", "-pp"]),
        "dp": arg_int(&args, &["--data-parallel-size", "-dp"]),
        "dp_local": arg_int(&args, &["--data-parallel-size-local", "-dpl"]),
        "ep": if args.contains_key("--enable-expert-parallel") { arg_int(&args, &["--tensor-parallel-size", "-tp"]) } else { 1 },
        "workers": 1,
    });
    let native = json!({"args": args});
    json!({
        "metadata": {"schema_version": COMPONENT_SCHEMA, "label": e.label, "cfg_id": hex_id(&native.to_string())},
        "standardized": {
            "kind": "inference_engine",
            "tool": "vllm",
            "tool_version": e.image,
            "role": "replica",
            "replicas": e.replicas,
            "model": {"name": e.model},
            "accelerator": {"model": e.accelerator, "count": e.gpus, "parallelism": parallelism},
        },
        "native": native,
    })
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string)).collect())
        .unwrap_or_default()
}

/// The inference engine of `scenario.stack`, from sb-deploy's output: a `plan` record (NDJSON;
/// with several, the one named `point`) or a rendered manifest (YAML; its vLLM Deployment).
pub fn stack_component(path: &str, point: Option<&str>) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("--stack {path}"))?;
    if text.lines().any(|l| l.trim_start().starts_with('{')) {
        // The plan records among the file's JSON lines; other lines and kinds are passed over.
        let mut points: Vec<PlanPoint> = Vec::new();
        for (i, line) in text.lines().enumerate().filter(|(_, l)| l.trim_start().starts_with('{')) {
            let at = |e: serde_json::Error| anyhow!("--stack {path}:{}: {e}", i + 1);
            let v: Value = serde_json::from_str(line).map_err(at)?;
            if v["kind"] == PlanPoint::KIND {
                let mut p: PlanPoint = serde_json::from_value(v).map_err(at)?;
                p.after_read();
                points.push(p);
            }
        }
        let names: Vec<&str> = points.iter().map(|p| p.point.as_str()).collect();
        let chosen = match (point, points.as_slice()) {
            (_, []) => bail!("--stack {path}: no plan record (sb-deploy plan writes them)"),
            (None, [one]) => one,
            (Some(p), _) => points
                .iter()
                .find(|x| x.point == p)
                .ok_or_else(|| anyhow!("--stack {path}: no plan point {p:?} (points: {})", names.join(", ")))?,
            (None, _) => bail!(
                "--stack {path}: {} plan points ({}); the results carry no single tags.point to choose one",
                points.len(),
                names.join(", ")
            ),
        };
        let unknown = || "unknown".to_string();
        return Ok(component(Engine {
            label: chosen.name.clone().unwrap_or_else(unknown),
            image: chosen.vllm_version.as_ref().map_or_else(unknown, |x| format!("vllm/vllm-openai:v{x}")),
            model: chosen.served_model_name.clone().or_else(|| chosen.model.clone()).unwrap_or_else(unknown),
            accelerator: chosen.gpu.clone().unwrap_or_else(unknown),
            gpus: chosen.gpus.map_or(1, i64::from),
            replicas: chosen.extra.get("replicas").and_then(Value::as_i64).unwrap_or(1),
            args: chosen.engine_args.clone(),
        }));
    }
    manifest_engine(path, &text)
}

fn manifest_engine(path: &str, text: &str) -> Result<Value> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    for line in text.lines().chain(std::iter::once("---")) {
        if line.trim_end() == "---" {
            if !cur.trim().is_empty() {
                let v: Value = serde_saphyr::from_str(&cur)
                    .map_err(|e| anyhow!("--stack {path}: neither plan records nor a YAML manifest: {e}"))?;
                docs.push(v);
            }
            cur.clear();
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    for d in &docs {
        if d["kind"] != "Deployment" {
            continue;
        }
        let pod = &d["spec"]["template"]["spec"];
        let Some(c) = pod["containers"].as_array().and_then(|cs| {
            cs.iter().find(|c| c["image"].as_str().is_some_and(|i| i.contains("vllm")) || c["name"] == "vllm")
        }) else {
            continue;
        };
        let args = strings(c.get("args"));
        let am = args_map(&args);
        let model = am
            .get("--served-model-name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| args.iter().find(|a| !a.starts_with('-')).cloned())
            .unwrap_or_else(|| "unknown".into());
        let gpus = c["resources"]["limits"]["nvidia.com/gpu"]
            .as_str()
            .and_then(|g| g.parse().ok())
            .or_else(|| c["resources"]["limits"]["nvidia.com/gpu"].as_i64())
            .unwrap_or(0);
        let accelerator = pod["nodeSelector"]
            .as_object()
            .and_then(|ns| ns.iter().find(|(k, _)| k.contains("gpu.product")).and_then(|(_, v)| v.as_str()))
            .unwrap_or("unknown")
            .to_string();
        return Ok(component(Engine {
            label: d["metadata"]["name"].as_str().unwrap_or("vllm").to_string(),
            image: c["image"].as_str().unwrap_or("unknown").to_string(),
            model,
            accelerator,
            gpus,
            replicas: d["spec"]["replicas"].as_i64().unwrap_or(1),
            args,
        }));
    }
    bail!("--stack {path}: no vLLM Deployment in the manifest (and no plan records)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_forms() {
        // 2026-11-25 09:07:57.250 UTC
        assert_eq!(iso_time(1_795_597_677_250_000_000), "2026-11-25T09:07:57.250Z");
        assert_eq!(iso_duration(49.972), "PT49.972S");
        assert_eq!(iso_duration(3.0), "PT3S");
    }

    #[test]
    fn percentile_keys_as_the_schema_spells_them() {
        assert_eq!(pct_key(0.1), "p0p1");
        assert_eq!(pct_key(99.9), "p99p9");
        assert_eq!(pct_key(50.0), "p50");
    }

    #[test]
    fn engine_args_as_llmd_writes_them() {
        let a: Vec<String> = ["--max-model-len", "1024", "--enforce-eager", "--tensor-parallel-size=8"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let m = args_map(&a);
        assert_eq!(m["--max-model-len"], "1024");
        assert_eq!(m["--enforce-eager"], Value::Null);
        assert_eq!(arg_int(&m, &["--tensor-parallel-size"]), 8);
    }
}
