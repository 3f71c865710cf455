//! The finished report: totals of the run and of each breakdown, the generator's verdict, the
//! server metrics over the run window, and warnings; and its JSON form (the summary record).

use crate::aggregate::Totals;
use crate::collect::{Collector, RunShards};
use crate::generator::{load_info, shard_of, LoadInfo};
use crate::samples::{BucketQuantile, ServerMetric, Value as SValue};
use crate::slo::Slo;
use crate::stats::Stats;
use sb_records::summary;
use serde_json::{Map, Value};

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
            c.groups.iter().map(|(k, g)| (k.clone(), g.agg.finish(p, goodput))).collect();
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
        // Several runs in one summary: said unless the rows asked for keep them apart (every
        // `--group-by` value holds one run's results).
        if named_runs > 1 {
            match c.opts.group_by.as_deref() {
                None => warnings.push(format!(
                    "results of {named_runs} different runs are summarised together; use --group-by run to split them"
                )),
                Some("run") => {}
                Some(by) if c.groups.values().any(|g| g.mixes_runs) => {
                    let mut mixed: Vec<&String> =
                        c.groups.iter().filter(|(_, g)| g.mixes_runs).map(|(k, _)| k).collect();
                    mixed.sort_by(|a, b| group_cmp(a, b));
                    let shown: Vec<&str> = mixed.iter().take(5).map(|s| s.as_str()).collect();
                    warnings.push(format!(
                        "results of {named_runs} different runs are summarised together, and the --group-by {by} rows {}{} each hold more than one run; use --group-by run to split them",
                        shown.join(", "),
                        if mixed.len() > shown.len() { format!(" (and {} more)", mixed.len() - shown.len()) } else { String::new() }
                    ));
                }
                Some(_) => {}
            }
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

    /// The summary record (docs/report.md, "JSON"): what `--format json` writes.
    pub fn to_summary(&self) -> summary::Report {
        summary::Report {
            definitions: "docs/metrics.md; vLLM bench serve definitions".into(),
            inputs: self.inputs.clone(),
            runs: self
                .runs
                .iter()
                .map(|(run, s)| summary::Run {
                    run: run.clone(),
                    results: s.results,
                    shards: s.shards.iter().cloned().collect(),
                })
                .collect(),
            trustworthy: self.trustworthy(),
            warnings: self.warnings.clone(),
            warmup_excluded: self.warmup_skipped,
            slo: (!self.slo.is_empty()).then(|| self.slo.describe()),
            totals: summary_totals(&self.total),
            sessions: (self.sessions > 0).then_some(self.sessions as u64),
            load: summary_load(&self.load),
            server_metrics: self.server.iter().map(summary_server).collect(),
            // Stage rows are labelled "INDEX SPEC" for people; JSON has the two apart.
            stages: rows(&self.stages)
                .zip(&self.stage_keys)
                .map(|((_, totals), (index, spec))| summary::StageRow {
                    stage: index.to_string(),
                    totals,
                    spec: spec.clone(),
                })
                .collect(),
            turns: rows(&self.turns).map(|(turn, totals)| summary::TurnRow { turn, totals }).collect(),
            group_by: self.group_by.clone(),
            groups: self
                .group_by
                .as_ref()
                .map(|_| rows(&self.groups).map(|(group, totals)| summary::GroupRow { group, totals }).collect()),
            extra: Map::new(),
        }
    }
}

/// Rows of totals under their keys, as the summary writes them.
fn rows(v: &[(String, Totals)]) -> impl Iterator<Item = (String, summary::Totals)> + '_ {
    v.iter().map(|(k, t)| (k.clone(), summary_totals(t)))
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
pub use sb_records::summary::percentile_key as pct_name;

/// Float noise in the last bits rounded away (4.000000000000001 is written 4.0), keeping all the
/// precision anyone could measure: nanosecond inputs carry at most 12 significant digits here.
/// Non-finite values stay as they are (JSON writes them `null`).
fn round(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.9}").parse::<f64>().unwrap_or(x)
}

pub fn summary_stats(s: &Stats) -> summary::Stats {
    summary::Stats {
        count: s.count,
        mean: round(s.mean),
        median: round(s.median),
        std: round(s.std),
        min: round(s.min),
        max: round(s.max),
        percentiles: summary::Percentiles(s.percentiles.iter().map(|(p, v)| (*p, round(*v))).collect()),
        exact: s.exact,
    }
}

pub fn summary_totals(t: &Totals) -> summary::Totals {
    let mut s = summary::Totals {
        completed: t.completed,
        failed: t.failed,
        failure_rate: round(t.failure_rate()),
        duration_s: round(t.duration_s),
        total_input_tokens: t.total_input_tokens,
        total_output_tokens: t.total_output_tokens,
        request_throughput: round(t.request_throughput),
        request_goodput: t.request_goodput.map(round),
        good_requests: t.good_requests,
        output_throughput: round(t.output_throughput),
        total_token_throughput: round(t.total_token_throughput),
        max_output_tokens_per_s: round(t.max_output_tokens_per_s),
        max_concurrent_requests: t.max_concurrent_requests,
        failures: t
            .failures
            .iter()
            .map(|(k, v)| (k.clone(), summary::FailureClass { count: v.count, examples: v.examples.clone() }))
            .collect(),
        output_len_missing: t.output_len_missing,
        input_len_missing: t.input_len_missing,
        token_count_mismatches: t.token_count_mismatches,
        ..Default::default()
    };
    for l in &crate::aggregate::LATENCIES {
        *(l.in_summary)(&mut s) = summary_stats((l.of)(t));
    }
    s
}

/// A summary's totals as one JSON object, for the flattened tables and `--compare`.
pub fn totals_json(t: &Totals) -> Map<String, Value> {
    object(&summary_totals(t))
}

/// A summary type (a struct: an object) as a JSON object.
pub fn object<T: serde::Serialize>(x: &T) -> Map<String, Value> {
    match serde_json::to_value(x) {
        Ok(Value::Object(m)) => m,
        _ => unreachable!("a summary struct serializes as an object"),
    }
}

fn summary_load(l: &LoadInfo) -> summary::Load {
    summary::Load {
        run_records: l.records as u64,
        target_rate: l.target_rate.map(round),
        achieved_rate: l.achieved_rate.map(round),
        send_lateness_p50_ms: l.lateness_p50_ms.map(round),
        send_lateness_p99_ms: l.lateness_p99_ms.map(round),
        send_lateness_max_ms: l.lateness_max_ms.map(round),
        max_concurrency: l.max_concurrency,
        burstiness: l.burstiness.map(round),
        problems: l.problems.clone(),
        notes: l.notes.clone(),
    }
}

fn summary_server(s: &ServerMetric) -> summary::ServerMetric {
    // `p50`/`p99` as PromQL `histogram_quantile` (exact when the buckets prove it); the bucket is
    // what the data says (docs/metrics.md, "Server metrics").
    let bucket = |q: &BucketQuantile| summary::Bucket { gt: q.lower.map(round), le: round(q.upper), exact: q.exact };
    let value = match &s.value {
        SValue::Counter { delta, rate_per_s } => {
            summary::ServerValue::Counter { delta: round(*delta), rate_per_s: round(*rate_per_s) }
        }
        SValue::Gauge { mean, max, samples } => {
            summary::ServerValue::Gauge { mean: round(*mean), max: round(*max), samples: *samples }
        }
        SValue::Histogram { count, sum, mean, p50, p99 } => summary::ServerValue::Histogram {
            count: round(*count),
            sum: round(*sum),
            mean: round(*mean),
            p50: round(p50.estimate),
            p50_bucket: bucket(p50),
            p99: round(p99.estimate),
            p99_bucket: bucket(p99),
        },
    };
    summary::ServerMetric { metric: s.metric.clone(), labels: s.labels.clone(), value }
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
