//! The load generator's own account of a run (the `run` records of sb-load, one per shard):
//! was the schedule kept? A run whose generator fell behind measured the client, not the server,
//! so the report says so loudly instead of printing confident numbers.
//!
//! sb-load's run record carries `run`, `started_ns`, `ended_ns` and the fields of
//! [`sb_records::RunFields`] (docs/load.md), read here through that type. Run records of other
//! writers are read too: where a typed field is missing, the spellings they use are looked up by
//! name; every other scalar field is printed as it is, and a missing one never fails.

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

/// How messages name a run record: its run id, and its shard when it has one.
fn run_name(r: &RunRecord) -> String {
    match shard_of(r) {
        Some(shard) => format!("{} shard {shard}", r.run),
        None => r.run.clone(),
    }
}

/// In a closed loop, the share of slot time spent waiting for the generator above which its
/// lateness counts (sb-load's `CLOSED_LOOP_MAX_IDLE`).
const CLOSED_LOOP_MAX_IDLE: f64 = 0.01;

/// How a run's sends were paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    Open,
    Closed,
    Burst,
}

/// sb-load's `loop` field; for records written before it, read from the stages and the
/// concurrency cap (`inf` alone is a burst, `inf` with a cap a closed loop).
fn pacing_of(r: &RunRecord, f: &sb_records::RunFields) -> Pacing {
    match f.pacing.as_deref() {
        Some("open") => return Pacing::Open,
        Some("closed") => return Pacing::Closed,
        Some("burst") => return Pacing::Burst,
        _ => {}
    }
    let x = &r.extra;
    if f.lag_check.as_deref().is_some_and(|s| s.starts_with("skipped")) {
        return Pacing::Burst;
    }
    let load = f.load.clone().unwrap_or_default();
    let stages = &load.stages;
    let all_inf = if load.arrival.is_empty() {
        !stages.is_empty() && stages.iter().all(|s| s.split('@').next() == Some("inf"))
    } else {
        load.arrival.iter().all(|a| a.process == "inf")
    };
    let capped = load.concurrency.is_some();
    let has_target = num(x, TARGET).is_some_and(|t| t.is_finite() && t > 0.0);
    match (all_inf, capped) {
        (true, true) => Pacing::Closed,
        (true, false) => Pacing::Burst,
        // Another writer's record: judged on its rates when it names a target.
        (false, _) if stages.is_empty() && !has_target && num(x, SCHEDULED).is_none() => Pacing::Burst,
        _ => Pacing::Open,
    }
}

/// `max_lag_ms`: the threshold given on sb-report's command line, if any.
pub fn load_info(records: &[RunRecord], max_lag_ms: Option<f64>) -> LoadInfo {
    let mut info = LoadInfo { records: records.len(), ..Default::default() };
    let (mut stage_specs, mut stages_agree) = (None::<Vec<String>>, true);
    for r in records {
        let x = &r.extra;
        let f = r.fields();
        let load = f.load.clone().unwrap_or_default();
        let lateness = |pick: fn(&sb_records::Lateness) -> f64, paths: &[&str]| {
            f.send_lateness_ms.as_ref().map(pick).or_else(|| num(x, paths))
        };
        let name = run_name(r);
        if !info.runs.contains(&r.run) {
            info.runs.push(r.run.clone());
        }
        info.started_ns = Some(info.started_ns.map_or(r.started_ns, |s| s.min(r.started_ns)));
        info.ended_ns = Some(info.ended_ns.map_or(r.ended_ns, |e| e.max(r.ended_ns)));
        let target = f.target_rate_rps.or_else(|| num(x, TARGET)).filter(|t| t.is_finite() && *t > 0.0);
        let scheduled = f.scheduled_rate_rps.or_else(|| num(x, SCHEDULED)).filter(|t| t.is_finite() && *t > 0.0);
        let achieved = f.achieved_rate_rps.or_else(|| num(x, ACHIEVED));
        // Shards split one schedule: each records the whole schedule's target rate, its own
        // achieved rate (they add up) and its own lateness (the worst counts).
        worst(&mut info.target_rate, target);
        add(&mut info.achieved_rate, achieved);
        worst(&mut info.lateness_p50_ms, lateness(|l| l.p50, P50));
        let p99 = lateness(|l| l.p99, P99);
        worst(&mut info.lateness_p99_ms, p99);
        worst(&mut info.lateness_max_ms, lateness(|l| l.max, MAX));
        if let Some(c) = load.concurrency.or_else(|| x.get("max_concurrency").and_then(Value::as_u64)) {
            info.max_concurrency = Some(info.max_concurrency.unwrap_or(0) + c);
        }
        if !load.stages.is_empty() {
            match &stage_specs {
                None => stage_specs = Some(load.stages.clone()),
                Some(seen) if *seen != load.stages => stages_agree = false,
                _ => {}
            }
            // One burstiness for the run when every stage has the same: from the arrival
            // processes as data, or for records written before them, from the stage specs.
            let all: Vec<Option<f64>> = if load.arrival.is_empty() {
                load.stages.iter().map(|s| burstiness(s)).collect()
            } else {
                load.arrival.iter().map(|a| a.burstiness).collect()
            };
            if let Some(first) = all.first() {
                if all.iter().all(|b| b == first) {
                    info.burstiness = *first;
                }
            }
        }
        if info.tokenizer.is_none() {
            info.tokenizer = load.tokenizer.clone();
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
        let limit = max_lag_ms.or(f.max_lag_ms).unwrap_or(DEFAULT_MAX_LAG_MS);
        match pacing_of(r, &f) {
            // An open loop (a rate, a trace, stages) promised each request its instant.
            Pacing::Open => {
                let want = scheduled.or(target).unwrap_or(0.0);
                if let Some(a) = achieved {
                    if want > 0.0 && a < MIN_ACHIEVED_FRACTION * want {
                        info.problems.push(format!("{name}: sent at {a:.2} req/s of the {want:.2} req/s scheduled"));
                    }
                }
                if let Some(p) = p99 {
                    if p > limit {
                        info.problems.push(format!("{name}: send lateness p99 {p:.2} ms > {limit} ms"));
                    }
                }
            }
            // A closed loop has no rate to keep; its lateness (slot freed -> send) matters only
            // when it kept the slots idle a material share of the time (docs/load.md).
            Pacing::Closed => {
                let idle = f.slot_idle_fraction;
                if let (Some(p), Some(idle)) = (p99, idle) {
                    if p > limit && idle > CLOSED_LOOP_MAX_IDLE {
                        info.problems.push(format!(
                            "{name}: the generator kept its slots waiting: send lateness p99 {p:.2} ms > {limit} ms, slots idle {:.1}% of the time",
                            idle * 100.0
                        ));
                    }
                }
            }
            // `--rate inf` alone: everything is due at once; there is no schedule to keep.
            Pacing::Burst => {}
        }
        match f.verdict.as_deref() {
            None | Some("ok") => {}
            Some(v) => {
                let reasons = f.reasons.clone().unwrap_or_default();
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

/// What checking the results against their run records found.
#[derive(Debug, Default)]
pub struct Reconciled {
    /// Make the run untrustworthy (results missing).
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

/// Checks the results against the run records that claim them: each sb-load run record says
/// how many results it wrote (`requests.results`, warm-up included); fewer present means some
/// were lost on the way (a filter, a cut file, a dropped shard log). Results of a run with no
/// run record at all are reported as such: the generator's own verdict is unknown. Results
/// read twice were counted once (docs/report.md).
pub fn reconcile(c: &crate::collect::Collector) -> Reconciled {
    let mut out = Reconciled::default();
    for r in &c.run_records {
        let shard = shard_of(r);
        let name = run_name(r);
        if let Some(n) = r.fields().exceeded_max_tokens.filter(|&n| n > 0) {
            out.warnings.push(format!(
                "{name}: the server generated more tokens than max_tokens asked for on {n} requests (it ignored the length field): output lengths, and the throughput and latency that depend on them, are not the workload's"
            ));
        }
        let Some(claimed) = lookup(&r.extra, "requests.results").and_then(Value::as_u64) else { continue };
        let present = c.runs.get(&r.run).map_or(0, |s| s.present.get(shard.unwrap_or("-")).copied().unwrap_or(0));
        if present < claimed {
            out.problems.push(format!(
                "{name}: {present} of {claimed} results present (its run record counts {claimed}; the others were lost on the way)"
            ));
        } else if present > claimed {
            out.warnings.push(format!(
                "{name}: {present} results present, but its run record counts {claimed}: results of another stream share its run id"
            ));
        }
    }
    let recorded: Vec<&str> = c.run_records.iter().map(|r| r.run.as_str()).collect();
    let orphans: Vec<&str> = c.runs.keys().map(String::as_str).filter(|run| !recorded.contains(run)).collect();
    if !orphans.is_empty() {
        let shown: Vec<String> =
            orphans.iter().take(5).map(|r| if *r == "-" { "(no run id)".to_string() } else { r.to_string() }).collect();
        out.warnings.push(format!(
            "results of {} without its run record ({}{}): the load generator's own verdict (schedule kept? results complete?) is unknown; keep sb-load's last line (kind \"run\") with its results",
            if orphans.len() == 1 { "a run".to_string() } else { format!("{} runs", orphans.len()) },
            shown.join(", "),
            if orphans.len() > 5 { ", ..." } else { "" }
        ));
    }
    let d = &c.duplicates;
    if d.count > 0 {
        let (run, id) = d.first.clone().unwrap_or_default();
        out.warnings.push(format!(
            "{} results were read more than once (the same run and id, first: run {run} id {id:?}) and counted once: is one file given twice?",
            d.count
        ));
    }
    if d.run_records > 0 {
        out.warnings.push(format!("{} run records were read more than once and kept once", d.run_records));
    }
    out
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
