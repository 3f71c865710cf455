//! The finished report: totals of the run and of each breakdown, the generator's verdict, the
//! server metrics over the run window, and warnings; and its JSON form (the summary record).

use crate::aggregate::Totals;
use crate::collect::{Collector, RunShards};
use crate::generator::{load_info, shard_of, LoadInfo};
use crate::samples::{ServerMetric, Value as SValue};
use crate::slo::Slo;
use crate::stats::Stats;
use serde_json::{json, Map, Value};

pub struct Report {
    pub total: Totals,
    pub stages: Vec<(String, Totals)>,
    /// Each stage row's index and sb-load stage spec (when a run record gave it).
    pub stage_keys: Vec<(u32, Option<String>)>,
    pub turns: Vec<(String, Totals)>,
    pub group_by: Option<String>,
    pub groups: Vec<(String, Totals)>,
    pub sessions: usize,
    pub runs: Vec<(String, RunShards)>,
    pub load: LoadInfo,
    /// What each run record says about the run (command, versions, host), in input order.
    pub meta: Vec<crate::meta::RunMeta>,
    /// One row per measured request, for vLLM's per-request arrays (`--vllm-json`).
    pub rows: Option<Vec<crate::collect::RequestRow>>,
    pub per_request: crate::collect::PerRequest,
    /// vLLM's `--percentile-metrics` (None: every metric).
    pub percentile_metrics: Option<Vec<String>>,
    pub server: Vec<ServerMetric>,
    /// Window the server metrics were summarised over (epoch ns).
    pub window_ns: Option<(u64, u64)>,
    pub warnings: Vec<String>,
    pub percentiles: Vec<f64>,
    pub slo: Slo,
    pub warmup_skipped: u64,
    /// sb-sweep's records, for the capacity block (`crate::sweep`).
    pub sweeps: Vec<sb_records::SweepRecord>,
    pub inputs: Vec<String>,
    pub api: Option<String>,
    pub tokenizer: Option<String>,
}

impl Report {
    pub fn build(c: &Collector, max_lag_ms: Option<f64>) -> Report {
        let p = &c.opts.percentiles;
        let goodput = !c.opts.slo.is_empty();
        let total = c.total.finish(p, goodput);
        let fin = |m: &std::collections::BTreeMap<u32, crate::aggregate::Aggregate>| -> Vec<(String, Totals)> {
            m.iter().map(|(k, a)| (k.to_string(), a.finish(p, goodput))).collect()
        };
        let mut load = load_info(&c.run_records, max_lag_ms);
        let reconciled = crate::generator::reconcile(c);
        load.problems.extend(reconciled.problems);
        // Stage rows are named by their index and, from the run record, sb-load's stage spec
        // (for people one label; for JSON the two apart, from `stage_keys`).
        let (stages, stage_keys) = if c.stages.len() > 1 {
            c.stages
                .iter()
                .map(|(k, a)| {
                    let spec = load.stages.get(*k as usize).cloned();
                    let name = match &spec {
                        Some(spec) => format!("{k} {spec}"),
                        None => k.to_string(),
                    };
                    ((name, a.finish(p, goodput)), (*k, spec))
                })
                .unzip()
        } else {
            (Vec::new(), Vec::new())
        };
        let turns = if c.turns.len() > 1 { fin(&c.turns) } else { Vec::new() };
        let mut groups: Vec<(String, Totals)> =
            c.groups.iter().map(|(k, a)| (k.clone(), a.finish(p, goodput))).collect();
        groups.sort_by(|a, b| group_cmp(&a.0, &b.0));

        let window_ns = match (total.first_sent_ns, load.started_ns, load.ended_ns) {
            (Some(f), _, _) => Some((f, total.last_done_ns)),
            (None, Some(s), Some(e)) => Some((s, e)),
            _ => c.series.span_ns,
        };
        let server = match window_ns {
            Some((s, e)) if !c.series.is_empty() => c.series.summarise(s, e),
            _ => Vec::new(),
        };

        let mut warnings: Vec<String> = load.problems.iter().map(|p| format!("RUN NOT TRUSTWORTHY: {p}")).collect();
        warnings.extend(load.notes.iter().cloned());
        warnings.extend(reconciled.warnings);
        let runs: Vec<(String, RunShards)> = c.runs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let named_runs = runs.iter().filter(|(k, _)| k != "-").count();
        if named_runs > 1 && c.opts.group_by.as_deref() != Some("run") {
            warnings.push(format!(
                "results of {} different runs are summarised together; use --group-by run to split them",
                named_runs
            ));
        }
        for (run, shards) in &runs {
            let expected = shards.shards.iter().filter_map(|s| s.split_once('/')?.1.parse::<usize>().ok()).max();
            if let Some(n) = expected {
                if shards.shards.len() < n {
                    warnings.push(format!(
                        "run {run}: results of {} of {n} shards present ({})",
                        shards.shards.len(),
                        shards.shards.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            // sb-load writes its run record last: a shard with results but none stopped before
            // its end (killed, evicted, its log cut short). Said only when another shard of the
            // run did write one, so streams without run records stay quiet.
            let finished: Vec<&str> = c.run_records.iter().filter(|r| r.run == *run).filter_map(shard_of).collect();
            let unfinished: Vec<&str> =
                shards.shards.iter().map(String::as_str).filter(|s| !finished.contains(s)).collect();
            if !finished.is_empty() && !unfinished.is_empty() {
                warnings.push(format!(
                    "run {run}: shard {} stopped before its end (no run record): its results up to then are merged, the rest of its requests were never sent",
                    unfinished.join(", ")
                ));
            }
        }
        if total.output_len_missing > 0 {
            warnings.push(format!(
                "{} successful requests carry no output token count (no usage, no client count): left out of token totals, TPOT and NTPOT",
                total.output_len_missing
            ));
        }
        if c.results == 0 {
            warnings.push("no result records in the input".into());
        }
        Report {
            total,
            stages,
            stage_keys,
            turns,
            group_by: c.opts.group_by.clone(),
            groups,
            sessions: c.sessions.len(),
            runs,
            server,
            window_ns,
            warnings,
            percentiles: p.clone(),
            slo: c.opts.slo.clone(),
            warmup_skipped: c.warmup_skipped,
            sweeps: c.sweeps.clone(),
            inputs: c.inputs.clone(),
            api: c.api.clone(),
            tokenizer: c.tokenizer.clone().or_else(|| load.tokenizer.clone()),
            load,
            meta: crate::meta::of(&c.run_records),
            rows: (c.opts.per_request != crate::collect::PerRequest::None).then(|| c.rows.clone()),
            per_request: c.opts.per_request,
            percentile_metrics: c.opts.percentile_metrics.clone(),
        }
    }

    /// Whether metric `m` (ttft, tpot, itl, e2el) is shown, by vLLM's `--percentile-metrics`.
    pub fn shows(&self, m: &str) -> bool {
        self.percentile_metrics.as_ref().is_none_or(|l| l.iter().any(|x| x == m))
    }

    pub fn trustworthy(&self) -> bool {
        self.load.problems.is_empty()
    }

    /// The summary record's fields (docs/report.md, "JSON").
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("definitions".into(), json!("docs/metrics.md; vLLM bench serve definitions"));
        m.insert("inputs".into(), json!(self.inputs));
        m.insert(
            "runs".into(),
            Value::Array(
                self.runs
                    .iter()
                    .map(|(run, s)| json!({"run": run, "results": s.results, "shards": s.shards}))
                    .collect(),
            ),
        );
        m.insert("trustworthy".into(), json!(self.trustworthy()));
        m.insert("warnings".into(), json!(self.warnings));
        m.insert("warmup_excluded".into(), json!(self.warmup_skipped));
        if !self.slo.is_empty() {
            m.insert("slo".into(), json!(self.slo.describe()));
        }
        for (k, v) in totals_json(&self.total) {
            m.insert(k, v);
        }
        if self.sessions > 0 {
            m.insert("sessions".into(), json!(self.sessions));
        }
        m.insert("load".into(), load_json(&self.load));
        if !self.server.is_empty() {
            m.insert("server_metrics".into(), Value::Array(self.server.iter().map(server_json).collect()));
        }
        let rows = |name: &str, v: &[(String, Totals)]| -> Value {
            Value::Array(
                v.iter()
                    .map(|(k, t)| {
                        let mut row = Map::new();
                        row.insert(name.into(), json!(k));
                        row.extend(totals_json(t));
                        Value::Object(row)
                    })
                    .collect(),
            )
        };
        if !self.stages.is_empty() {
            // Stage rows are labelled "INDEX SPEC" for people; JSON has the two apart.
            let mut stages = rows("stage", &self.stages);
            for (row, (index, spec)) in stages.as_array_mut().into_iter().flatten().zip(&self.stage_keys) {
                row["stage"] = json!(index.to_string());
                if let Some(spec) = spec {
                    row.as_object_mut().expect("a row is an object").insert("spec".into(), json!(spec));
                }
            }
            m.insert("stages".into(), stages);
        }
        if !self.turns.is_empty() {
            m.insert("turns".into(), rows("turn", &self.turns));
        }
        if let Some(by) = &self.group_by {
            m.insert("group_by".into(), json!(by));
            m.insert("groups".into(), rows("group", &self.groups));
        }
        m
    }
}

/// The order of `--group-by` values: numbers by value (4, 16, 64, not "16, 4, 64"), then
/// other text in natural order (`point-2` before `point-10`).
pub fn group_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => natural(a).cmp(&natural(b)).then_with(|| a.cmp(b)),
    }
}

/// Text split into runs of digits (compared by value) and of other characters.
fn natural(s: &str) -> Vec<(String, u128)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut n: u128 = 0;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = n.saturating_mul(10).saturating_add(d as u128);
                chars.next();
            }
            out.push((std::mem::take(&mut text), n));
        } else {
            text.push(c);
            chars.next();
        }
    }
    out.push((text, 0));
    out
}

/// `p99`, `p99.9`: vLLM's key spelling of a percentile.
pub fn pct_name(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("p{}", p as i64)
    } else {
        format!("p{p}")
    }
}

fn f(x: f64) -> Value {
    // Round away float noise in the last bits (e.g. 4.000000000000001) without losing precision
    // anyone could measure: nanosecond inputs carry at most 12 significant digits here.
    if !x.is_finite() {
        return Value::Null;
    }
    let r = format!("{x:.9}").parse::<f64>().unwrap_or(x);
    json!(r)
}

pub fn stats_json(s: &Stats) -> Value {
    let mut m = Map::new();
    m.insert("count".into(), json!(s.count));
    m.insert("mean".into(), f(s.mean));
    m.insert("median".into(), f(s.median));
    m.insert("std".into(), f(s.std));
    m.insert("min".into(), f(s.min));
    m.insert("max".into(), f(s.max));
    for (p, v) in &s.percentiles {
        m.insert(pct_name(*p), f(*v));
    }
    m.insert("exact".into(), json!(s.exact));
    Value::Object(m)
}

pub fn totals_json(t: &Totals) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("completed".into(), json!(t.completed));
    m.insert("failed".into(), json!(t.failed));
    m.insert("failure_rate".into(), f(t.failure_rate()));
    m.insert("duration_s".into(), f(t.duration_s));
    m.insert("total_input_tokens".into(), json!(t.total_input_tokens));
    m.insert("total_output_tokens".into(), json!(t.total_output_tokens));
    m.insert("request_throughput".into(), f(t.request_throughput));
    if let Some(g) = t.request_goodput {
        m.insert("request_goodput".into(), f(g));
        m.insert("good_requests".into(), json!(t.good_requests));
    }
    m.insert("output_throughput".into(), f(t.output_throughput));
    m.insert("total_token_throughput".into(), f(t.total_token_throughput));
    m.insert("max_output_tokens_per_s".into(), f(t.max_output_tokens_per_s));
    m.insert("max_concurrent_requests".into(), json!(t.max_concurrent_requests));
    m.insert("ttft_ms".into(), stats_json(&t.ttft));
    m.insert("tpot_ms".into(), stats_json(&t.tpot));
    m.insert("itl_ms".into(), stats_json(&t.itl));
    m.insert("e2el_ms".into(), stats_json(&t.e2el));
    m.insert("ntpot_ms".into(), stats_json(&t.ntpot));
    m.insert("ttft_text_ms".into(), stats_json(&t.ttft_text));
    m.insert("client_queue_ms".into(), stats_json(&t.queue));
    m.insert("e2el_from_scheduled_ms".into(), stats_json(&t.e2el_sched));
    let failures: Map<String, Value> =
        t.failures.iter().map(|(k, v)| (k.clone(), json!({"count": v.count, "examples": v.examples}))).collect();
    m.insert("failures".into(), Value::Object(failures));
    m.insert("output_len_missing".into(), json!(t.output_len_missing));
    m.insert("input_len_missing".into(), json!(t.input_len_missing));
    m.insert("token_count_mismatches".into(), json!(t.token_count_mismatches));
    m
}

fn load_json(l: &LoadInfo) -> Value {
    let mut m = Map::new();
    m.insert("run_records".into(), json!(l.records));
    let opt = |v: Option<f64>| v.map_or(Value::Null, f);
    m.insert("target_rate".into(), opt(l.target_rate));
    m.insert("achieved_rate".into(), opt(l.achieved_rate));
    m.insert("send_lateness_p50_ms".into(), opt(l.lateness_p50_ms));
    m.insert("send_lateness_p99_ms".into(), opt(l.lateness_p99_ms));
    m.insert("send_lateness_max_ms".into(), opt(l.lateness_max_ms));
    m.insert("max_concurrency".into(), json!(l.max_concurrency));
    m.insert("burstiness".into(), opt(l.burstiness));
    m.insert("problems".into(), json!(l.problems));
    m.insert("notes".into(), json!(l.notes));
    Value::Object(m)
}

fn server_json(s: &ServerMetric) -> Value {
    let mut m = Map::new();
    m.insert("metric".into(), json!(s.metric));
    m.insert("labels".into(), json!(s.labels));
    match &s.value {
        SValue::Counter { delta, rate_per_s } => {
            m.insert("type".into(), json!("counter"));
            m.insert("delta".into(), f(*delta));
            m.insert("rate_per_s".into(), f(*rate_per_s));
        }
        SValue::Gauge { mean, max, samples } => {
            m.insert("type".into(), json!("gauge"));
            m.insert("mean".into(), f(*mean));
            m.insert("max".into(), f(*max));
            m.insert("samples".into(), json!(samples));
        }
        SValue::Histogram { count, sum, mean, p50, p99 } => {
            m.insert("type".into(), json!("histogram"));
            m.insert("count".into(), f(*count));
            m.insert("sum".into(), f(*sum));
            m.insert("mean".into(), f(*mean));
            // `p50`/`p99` as PromQL `histogram_quantile` (exact when the buckets prove it); the
            // bucket is what the data says: `{"gt": lower (null: first bucket), "le": upper (null: +Inf)}`.
            for (name, q) in [("p50", p50), ("p99", p99)] {
                m.insert(name.into(), f(q.estimate));
                m.insert(
                    format!("{name}_bucket"),
                    json!({"gt": q.lower.map_or(Value::Null, f), "le": f(q.upper), "exact": q.exact}),
                );
            }
        }
    }
    Value::Object(m)
}

/// Flattens nested objects into `a.b` keys (scalars only; arrays are skipped), for tables.
pub fn flatten(m: &Map<String, Value>) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            Value::Array(_) => {}
            other => out.push((prefix.to_string(), other.clone())),
        }
    }
    for (k, v) in m {
        walk(k, v, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::group_cmp;

    #[test]
    fn groups_sort_numerically_then_naturally() {
        let mut v = vec!["16", "4", "64", "1.5", "point-10", "point-2", "-", "b", "a"];
        v.sort_by(|a, b| group_cmp(a, b));
        assert_eq!(v, ["1.5", "4", "16", "64", "-", "a", "b", "point-2", "point-10"]);
    }
}
