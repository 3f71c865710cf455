//! The load generator's own account of a run (the `run` records of sb-load, one per shard):
//! was the schedule kept? A run whose generator fell behind measured the client, not the server,
//! so the report says so loudly instead of printing confident numbers.
//!
//! sb-load's run record carries `run`, `started_ns`, `ended_ns` and further fields documented in
//! docs/load.md. We read the ones below by name (several spellings, since the record is
//! extended over time), print every other scalar field as it is, and never fail on a missing one.

use sb_records::RunRecord;
use serde_json::{Map, Value};

/// Send lateness (p99) above which the schedule counts as not kept, unless sb-load says otherwise.
pub const DEFAULT_MAX_LAG_MS: f64 = 10.0;
/// Achieved rate below this fraction of the target is a miss.
const MIN_ACHIEVED_FRACTION: f64 = 0.95;

#[derive(Clone, Debug, Default)]
pub struct LoadInfo {
    pub runs: Vec<String>,
    pub records: usize,
    pub started_ns: Option<u64>,
    pub ended_ns: Option<u64>,
    pub target_rate: Option<f64>,
    pub achieved_rate: Option<f64>,
    pub lateness_p50_ms: Option<f64>,
    pub lateness_p99_ms: Option<f64>,
    pub lateness_max_ms: Option<f64>,
    /// Other scalar fields of a single run record, printed as they are.
    pub other: Vec<(String, Value)>,
    /// Why the run is not trustworthy; empty when it is (or when nothing says otherwise).
    pub problems: Vec<String>,
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

const TARGET: &[&str] = &["target_rate", "target_rps", "rate_target", "requested_rate", "rate.target"];
const ACHIEVED: &[&str] = &["achieved_rate", "achieved_rps", "rate_achieved", "rate.achieved"];
const P50: &[&str] = &["send_lateness_ms.p50", "lateness_ms.p50", "send_lateness_p50_ms", "lateness_p50_ms"];
const P99: &[&str] = &["send_lateness_ms.p99", "lateness_ms.p99", "send_lateness_p99_ms", "lateness_p99_ms"];
const MAX: &[&str] = &["send_lateness_ms.max", "lateness_ms.max", "send_lateness_max_ms", "lateness_max_ms"];
/// Shown in their own rows (or the stream header `kind`/`v`, which the flattened `extra` catches).
const KNOWN: &[&str] =
    &["kind", "v", "target_rate", "target_rps", "rate_target", "requested_rate", "achieved_rate", "achieved_rps"];

pub fn load_info(records: &[RunRecord], max_lag_ms: f64) -> LoadInfo {
    let mut info = LoadInfo { records: records.len(), ..Default::default() };
    for r in records {
        let name = match r.extra.get("shard").and_then(Value::as_str) {
            Some(shard) => format!("{} shard {shard}", r.run),
            None => r.run.clone(),
        };
        if !info.runs.contains(&r.run) {
            info.runs.push(r.run.clone());
        }
        info.started_ns = Some(info.started_ns.map_or(r.started_ns, |s| s.min(r.started_ns)));
        info.ended_ns = Some(info.ended_ns.map_or(r.ended_ns, |e| e.max(r.ended_ns)));
        let target = num(&r.extra, TARGET);
        let achieved = num(&r.extra, ACHIEVED);
        // Shards split one schedule: their rates add up, their lateness is the worst of them.
        add(&mut info.target_rate, target);
        add(&mut info.achieved_rate, achieved);
        worst(&mut info.lateness_p50_ms, num(&r.extra, P50));
        let p99 = num(&r.extra, P99);
        worst(&mut info.lateness_p99_ms, p99);
        worst(&mut info.lateness_max_ms, num(&r.extra, MAX));

        let says = |k: &str| r.extra.get(k).and_then(Value::as_bool);
        if says("trustworthy") == Some(false) || says("lagged") == Some(true) || says("schedule_kept") == Some(false) {
            info.problems.push(format!("{name}: sb-load marked the run as not trustworthy"));
        }
        if let Some(Value::Array(warnings)) = r.extra.get("warnings") {
            for w in warnings {
                let text = w.as_str().map(str::to_string).unwrap_or_else(|| w.to_string());
                info.problems.push(format!("{name}: {text}"));
            }
        }
        if let (Some(t), Some(a)) = (target, achieved) {
            if t.is_finite() && t > 0.0 && a < MIN_ACHIEVED_FRACTION * t {
                info.problems.push(format!("{name}: achieved {a:.2} req/s of the {t:.2} req/s target"));
            }
        }
        if let Some(p) = p99 {
            if p > max_lag_ms {
                info.problems.push(format!("{name}: send lateness p99 {p:.2} ms > {max_lag_ms} ms"));
            }
        }
    }
    if let [r] = records {
        for (k, v) in &r.extra {
            let scalar = v.is_number() || v.is_string() || v.is_boolean();
            if scalar && !KNOWN.contains(&k.as_str()) {
                info.other.push((k.clone(), v.clone()));
            }
        }
    }
    info
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
        let info = load_info(
            &[rec(json!({"target_rate": 100.0, "achieved_rate": 80.0, "send_lateness_ms": {"p50": 1.0, "p99": 25.0}}))],
            DEFAULT_MAX_LAG_MS,
        );
        assert_eq!(info.target_rate, Some(100.0));
        assert_eq!(info.lateness_p99_ms, Some(25.0));
        assert_eq!(info.problems.len(), 2, "{:?}", info.problems);
    }

    #[test]
    fn a_kept_schedule_and_missing_fields_are_fine() {
        assert!(load_info(&[rec(json!({"target_rate": 10.0, "achieved_rate": 9.9}))], 10.0).problems.is_empty());
        let info = load_info(&[rec(json!({}))], 10.0);
        assert!(info.problems.is_empty() && info.target_rate.is_none());
        let info = load_info(&[rec(json!({"trustworthy": false, "warnings": ["client CPU saturated"]}))], 10.0);
        assert_eq!(info.problems.len(), 2);
    }
}
