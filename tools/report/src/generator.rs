//! The load generator's own account of a run (the `run` records of sb-load, one per shard):
//! was the schedule kept? A run whose generator fell behind measured the client, not the server,
//! so the report says so loudly instead of printing confident numbers.
//!
//! sb-load's run record carries `run`, `started_ns`, `ended_ns` and further fields documented in
//! docs/load.md. We read the ones below by name (several spellings, since the record is
//! extended over time), print every other scalar field as it is, and never fail on a missing one.

use sb_records::RunRecord;
use serde_json::{Map, Value};

/// Send lateness (p99) above which the schedule counts as not kept, when neither the command
/// line nor the run record (sb-load's own `max_lag_ms`) says otherwise. sb-load's default too.
pub const DEFAULT_MAX_LAG_MS: f64 = 10.0;
/// Achieved send rate below this fraction of the scheduled rate is a miss.
const MIN_ACHIEVED_FRACTION: f64 = 0.95;

#[derive(Clone, Debug, Default)]
pub struct LoadInfo {
    pub runs: Vec<String>,
    pub records: usize,
    pub started_ns: Option<u64>,
    pub ended_ns: Option<u64>,
    /// The configured arrival rate (vLLM's "Request rate configured"); none for `inf`.
    pub target_rate: Option<f64>,
    pub achieved_rate: Option<f64>,
    pub lateness_p50_ms: Option<f64>,
    pub lateness_p99_ms: Option<f64>,
    pub lateness_max_ms: Option<f64>,
    /// The concurrency cap, when there was one (vLLM's "Maximum request concurrency").
    pub max_concurrency: Option<u64>,
    pub tokenizer: Option<String>,
    /// vLLM's `burstiness` of a single-stage run: 1 for Poisson, the gamma shape for `gamma:R:B`.
    pub burstiness: Option<f64>,
    /// sb-load's stage specs (`poisson:20@30s`), by stage index, when the run records agree.
    pub stages: Vec<String>,
    /// Other scalar fields of a single run record, printed as they are.
    pub other: Vec<(String, Value)>,
    /// Why the run is not trustworthy; empty when it is (or when nothing says otherwise).
    pub problems: Vec<String>,
    /// What sb-load reported that does not make the numbers suspect (its verdict's other
    /// reasons, an interrupted run).
    pub notes: Vec<String>,
}

fn lookup<'a>(extra: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut v = extra.get(parts.next()?)?;
    for p in parts {
        v = v.get(p)?;
    }
    Some(v)
}

fn num(extra: &Map<String, Value>, paths: &[&str]) -> Option<f64> {
    paths.iter().find_map(|p| lookup(extra, p).and_then(Value::as_f64))
}

// sb-load's names first (docs/load.md), then spellings other writers of run records use.
const TARGET: &[&str] = &["target_rate_rps", "target_rate", "requested_rate"];
const SCHEDULED: &[&str] = &["scheduled_rate_rps", "scheduled_rate"];
const ACHIEVED: &[&str] = &["achieved_rate_rps", "achieved_rate"];
const P50: &[&str] = &["send_lateness_ms.p50", "send_lateness_p50_ms"];
const P99: &[&str] = &["send_lateness_ms.p99", "send_lateness_p99_ms"];
const MAX: &[&str] = &["send_lateness_ms.max", "send_lateness_max_ms"];
/// Shown in their own rows (or the stream header `kind`/`v`, which the flattened `extra` catches).
const SHOWN: &[&str] =
    &["kind", "v", "target_rate_rps", "target_rate", "requested_rate", "achieved_rate_rps", "achieved_rate"];

/// The `i/N` shard a run record is from (sb-load writes it under `load`), if any.
pub fn shard_of(r: &RunRecord) -> Option<&str> {
    lookup(&r.extra, "load.shard").or_else(|| r.extra.get("shard")).and_then(Value::as_str)
}

/// `max_lag_ms`: the threshold given on sb-report's command line, if any.
pub fn load_info(records: &[RunRecord], max_lag_ms: Option<f64>) -> LoadInfo {
    let mut info = LoadInfo { records: records.len(), ..Default::default() };
    let (mut stage_specs, mut stages_agree) = (None::<Vec<String>>, true);
    for r in records {
        let x = &r.extra;
        let shard = shard_of(r);
        let name = match shard {
            Some(shard) => format!("{} shard {shard}", r.run),
            None => r.run.clone(),
        };
        if !info.runs.contains(&r.run) {
            info.runs.push(r.run.clone());
        }
        info.started_ns = Some(info.started_ns.map_or(r.started_ns, |s| s.min(r.started_ns)));
        info.ended_ns = Some(info.ended_ns.map_or(r.ended_ns, |e| e.max(r.ended_ns)));
        let target = num(x, TARGET).filter(|t| t.is_finite() && *t > 0.0);
        let scheduled = num(x, SCHEDULED).filter(|t| t.is_finite() && *t > 0.0);
        let achieved = num(x, ACHIEVED);
        // Shards split one schedule: each records the whole schedule's target rate, its own
        // achieved rate (they add up) and its own lateness (the worst counts).
        worst(&mut info.target_rate, target);
        add(&mut info.achieved_rate, achieved);
        worst(&mut info.lateness_p50_ms, num(x, P50));
        let p99 = num(x, P99);
        worst(&mut info.lateness_p99_ms, p99);
        worst(&mut info.lateness_max_ms, num(x, MAX));
        if let Some(c) = lookup(x, "load.concurrency").or_else(|| x.get("max_concurrency")).and_then(Value::as_u64) {
            info.max_concurrency = Some(info.max_concurrency.unwrap_or(0) + c);
        }
        if let Some(Value::Array(stages)) = lookup(x, "load.stages") {
            let specs: Vec<String> = stages.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
            match &stage_specs {
                None => stage_specs = Some(specs),
                Some(seen) if *seen != specs => stages_agree = false,
                _ => {}
            }
            // One burstiness for the run when every stage has the same.
            let all: Vec<Option<f64>> = stages.iter().map(|s| s.as_str().and_then(burstiness)).collect();
            if let Some(first) = all.first() {
                if all.iter().all(|b| b == first) {
                    info.burstiness = *first;
                }
            }
        }
        if info.tokenizer.is_none() {
            info.tokenizer = lookup(x, "load.tokenizer").and_then(Value::as_str).map(str::to_string);
        }

        let says = |k: &str| x.get(k).and_then(Value::as_bool);
        if says("trustworthy") == Some(false) || says("lagged") == Some(true) {
            info.problems.push(format!("{name}: the load generator marked the run as not trustworthy"));
        }
        if let Some(Value::Array(warnings)) = x.get("warnings") {
            for w in warnings {
                let text = w.as_str().map(str::to_string).unwrap_or_else(|| w.to_string());
                info.problems.push(format!("{name}: {text}"));
            }
        }
        // Lateness and rate say something only when there was a schedule to keep: with
        // `--rate inf` every request is due at once and waiting behind the concurrency cap is
        // the design of the run, not the generator falling behind.
        let had_schedule = scheduled.is_some() || target.is_some();
        if had_schedule {
            let want = scheduled.or(target).unwrap_or(0.0);
            if let Some(a) = achieved {
                if want > 0.0 && a < MIN_ACHIEVED_FRACTION * want {
                    info.problems.push(format!("{name}: sent at {a:.2} req/s of the {want:.2} req/s scheduled"));
                }
            }
            let limit = max_lag_ms.or_else(|| num(x, &["max_lag_ms"])).unwrap_or(DEFAULT_MAX_LAG_MS);
            if let Some(p) = p99 {
                if p > limit {
                    info.problems.push(format!("{name}: send lateness p99 {p:.2} ms > {limit} ms"));
                }
            }
        }
        match x.get("verdict").and_then(Value::as_str) {
            None | Some("ok") => {}
            Some(v) => {
                let reasons: Vec<String> = match x.get("reasons") {
                    Some(Value::Array(a)) => a.iter().filter_map(|r| r.as_str().map(str::to_string)).collect(),
                    _ => Vec::new(),
                };
                if reasons.is_empty() {
                    info.notes.push(format!("{name}: sb-load's verdict: {v}"));
                }
                for reason in reasons {
                    info.notes.push(format!("{name}: sb-load's verdict: {v}: {reason}"));
                }
            }
        }
    }
    if stages_agree {
        info.stages = stage_specs.unwrap_or_default();
    }
    if let [r] = records {
        for (k, v) in &r.extra {
            let scalar = v.is_number() || v.is_string() || v.is_boolean();
            if scalar && !SHOWN.contains(&k.as_str()) {
                info.other.push((k.clone(), v.clone()));
            }
        }
    }
    info
}

/// vLLM's burstiness of an sb-load arrival process (`poisson:R` = 1, `gamma:R:B` = B).
fn burstiness(stage: &str) -> Option<f64> {
    let process = stage.split('@').next()?;
    let mut parts = process.split(':');
    match parts.next()? {
        "poisson" => Some(1.0),
        "gamma" => parts.nth(1)?.parse().ok(),
        _ => None,
    }
}

fn add(acc: &mut Option<f64>, v: Option<f64>) {
    if let Some(v) = v {
        *acc = Some(acc.unwrap_or(0.0) + v);
    }
}

fn worst(acc: &mut Option<f64>, v: Option<f64>) {
    if let Some(v) = v {
        *acc = Some(acc.map_or(v, |a| a.max(v)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(extra: Value) -> RunRecord {
        RunRecord { run: "r".into(), started_ns: 1, ended_ns: 2, extra: extra.as_object().unwrap().clone() }
    }

    #[test]
    fn flags_a_lagging_generator() {
        // The shape sb-load writes (tools/load/src/run.rs, docs/load.md).
        let r = rec(json!({
            "target_rate_rps": 100.0, "scheduled_rate_rps": 100.2, "achieved_rate_rps": 80.0,
            "send_lateness_ms": {"mean": 3.0, "p50": 1.0, "p99": 25.0, "max": 40.0}, "max_lag_ms": 10.0,
            "load": {"concurrency": 64, "shard": "0/2", "tokenizer": "Qwen/Qwen3-0.6B"},
            "verdict": "failed", "reasons": ["the generator fell behind its schedule"]
        }));
        let info = load_info(std::slice::from_ref(&r), None);
        assert_eq!(info.target_rate, Some(100.0));
        assert_eq!(info.lateness_p99_ms, Some(25.0));
        assert_eq!(info.max_concurrency, Some(64));
        assert_eq!(burstiness("gamma:10:0.5"), Some(0.5));
        assert_eq!(burstiness("poisson:3@30s"), Some(1.0));
        assert_eq!(burstiness("constant:3"), None);
        assert_eq!(info.problems.len(), 2, "{:?}", info.problems);
        assert!(info.problems[0].starts_with("r shard 0/2: sent at 80.00"), "{:?}", info.problems);
        assert_eq!(info.notes.len(), 1);
        // A looser threshold on the command line wins over the record's.
        assert_eq!(load_info(&[r], Some(30.0)).problems.len(), 1);
    }

    #[test]
    fn a_kept_schedule_closed_loop_runs_and_missing_fields_are_fine() {
        let ok = rec(json!({"target_rate_rps": 10.0, "scheduled_rate_rps": 10.0, "achieved_rate_rps": 9.9,
            "send_lateness_ms": {"p99": 0.4}, "verdict": "ok"}));
        assert!(load_info(&[ok], None).problems.is_empty());
        // --rate inf with a concurrency cap: everything is "late", by design.
        let closed = rec(json!({"target_rate_rps": null, "scheduled_rate_rps": null, "achieved_rate_rps": 50.0,
            "send_lateness_ms": {"p99": 900.0}}));
        assert!(load_info(&[closed], None).problems.is_empty());
        let info = load_info(&[rec(json!({}))], None);
        assert!(info.problems.is_empty() && info.target_rate.is_none());
        let info = load_info(&[rec(json!({"trustworthy": false, "warnings": ["client CPU saturated"]}))], None);
        assert_eq!(info.problems.len(), 2);
    }
}
