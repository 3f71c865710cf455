//! Streaming aggregation of result records into the numbers of one summary (one run, one
//! group, one stage...). Nothing per request is kept beyond the bounded [`Dist`]s and
//! [`Timeline`]. Formulas: docs/metrics.md.

use crate::points::Points;
use crate::result::{failure_class, Observation};
use crate::stats::{Dist, Stats};
use crate::timeline::Timeline;
use sb_records::{summary, ResultView};
use std::collections::BTreeMap;

/// Error messages kept per failure class (vLLM prints the first 10 errors of a run).
const EXAMPLES_PER_CLASS: usize = 3;

#[derive(Clone, Debug, Default)]
pub struct FailureClass {
    pub count: u64,
    pub examples: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Aggregate {
    pub completed: u64,
    pub failed: u64,
    pub good: u64,
    pub failures: BTreeMap<String, FailureClass>,
    /// Earliest `sent_ns` and latest `done_ns` of every counted result, failed ones included.
    pub first_sent_ns: Option<u64>,
    pub last_done_ns: u64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    pub input_len_missing: u64,
    pub output_len_missing: u64,
    /// Successful requests whose server `usage` and client count of output tokens disagree.
    pub token_count_mismatches: u64,
    pub ttft: Dist,
    pub tpot: Dist,
    pub itl: Dist,
    pub e2el: Dist,
    pub ntpot: Dist,
    pub ttft_text: Dist,
    pub queue: Dist,
    pub e2el_sched: Dist,
    pub timeline: Timeline,
    /// An evenly thinned sample of per-request points, for the scatter plots.
    pub points: Points,
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate::new()
    }
}

impl Aggregate {
    pub fn new() -> Aggregate {
        Aggregate {
            completed: 0,
            failed: 0,
            good: 0,
            failures: BTreeMap::new(),
            first_sent_ns: None,
            last_done_ns: 0,
            total_input_tokens: 0,
            total_output_tokens: 0,
            input_len_missing: 0,
            output_len_missing: 0,
            token_count_mismatches: 0,
            ttft: Dist::new(),
            tpot: Dist::new(),
            itl: Dist::new(),
            e2el: Dist::new(),
            ntpot: Dist::new(),
            ttft_text: Dist::new(),
            queue: Dist::new(),
            e2el_sched: Dist::new(),
            timeline: Timeline::new(),
            points: Points::default(),
        }
    }

    pub fn add(&mut self, r: &ResultView<'_>, o: &Observation) {
        self.first_sent_ns = Some(self.first_sent_ns.map_or(r.sent_ns, |f| f.min(r.sent_ns)));
        self.last_done_ns = self.last_done_ns.max(r.done_ns).max(o.end_ns);
        if !o.ok {
            self.failed += 1;
            let class = self.failures.entry(failure_class(r)).or_default();
            class.count += 1;
            if class.examples.len() < EXAMPLES_PER_CLASS {
                if let Some(e) = r.error.as_deref() {
                    // Server text: no control character reaches the terminal.
                    let e = sb_cli::printable(e);
                    if !class.examples.contains(&e) {
                        class.examples.push(e);
                    }
                }
            }
            return;
        }
        self.completed += 1;
        if o.good {
            self.good += 1;
        }
        match o.input_len {
            Some(n) => self.total_input_tokens += n as u64,
            None => self.input_len_missing += 1,
        }
        match o.output_len {
            Some(n) => self.total_output_tokens += n as u64,
            None => self.output_len_missing += 1,
        }
        if let (Some(u), Some(c)) = (&r.usage, r.output_tokens) {
            if u.completion_tokens != c {
                self.token_count_mismatches += 1;
            }
        }
        let l = &o.latency;
        if let Some(t) = l.ttft_ns {
            self.ttft.record(t);
        }
        if let Some(t) = l.tpot_ns {
            self.tpot.record(t);
        }
        if let Some(t) = l.ntpot_ns {
            self.ntpot.record(t);
        }
        if let Some(t) = o.ttft_text_ns {
            self.ttft_text.record(t);
        }
        self.e2el.record(l.e2el_ns);
        self.queue.record(o.queue_ns);
        self.e2el_sched.record(o.e2el_sched_ns);
        self.itl.record_gaps(&r.chunks_ns);
        self.timeline.add(r.sent_ns, o.end_ns, &r.chunks_ns);
        self.points.add(r.sent_ns, l.ttft_ns, l.e2el_ns);
    }

    /// Benchmark duration in seconds: first send to last response done (docs/metrics.md).
    pub fn duration_s(&self) -> f64 {
        match self.first_sent_ns {
            Some(f) => self.last_done_ns.saturating_sub(f) as f64 / 1e9,
            None => 0.0,
        }
    }

    pub fn finish(&self, percentiles: &[f64], with_goodput: bool) -> Totals {
        let d = self.duration_s();
        let per_s = |x: f64| if d > 0.0 { x / d } else { 0.0 };
        let ms = |dist: &Dist| to_ms(dist.stats(percentiles));
        Totals {
            completed: self.completed,
            failed: self.failed,
            duration_s: d,
            total_input_tokens: self.total_input_tokens,
            total_output_tokens: self.total_output_tokens,
            request_throughput: per_s(self.completed as f64),
            request_goodput: with_goodput.then(|| per_s(self.good as f64)),
            good_requests: with_goodput.then_some(self.good),
            output_throughput: per_s(self.total_output_tokens as f64),
            total_token_throughput: per_s((self.total_input_tokens + self.total_output_tokens) as f64),
            max_output_tokens_per_s: self.timeline.peak_output_tokens_per_s(),
            max_concurrent_requests: self.timeline.peak_concurrency(),
            peaks_exact: self.timeline.exact(),
            ttft: ms(&self.ttft),
            tpot: ms(&self.tpot),
            itl: ms(&self.itl),
            e2el: ms(&self.e2el),
            ntpot: ms(&self.ntpot),
            ttft_text: ms(&self.ttft_text),
            queue: ms(&self.queue),
            e2el_sched: ms(&self.e2el_sched),
            failures: self.failures.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            input_len_missing: self.input_len_missing,
            output_len_missing: self.output_len_missing,
            token_count_mismatches: self.token_count_mismatches,
            first_sent_ns: self.first_sent_ns,
            last_done_ns: self.last_done_ns,
        }
    }
}

fn to_ms(s: Stats) -> Stats {
    let f = |v: f64| v / 1e6;
    Stats {
        count: s.count,
        mean: f(s.mean),
        std: f(s.std),
        median: f(s.median),
        min: f(s.min),
        max: f(s.max),
        percentiles: s.percentiles.into_iter().map(|(p, v)| (p, f(v))).collect(),
        exact: s.exact,
    }
}

/// The finished numbers of one aggregate; latencies in ms.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub completed: u64,
    pub failed: u64,
    pub duration_s: f64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    pub request_throughput: f64,
    pub request_goodput: Option<f64>,
    pub good_requests: Option<u64>,
    pub output_throughput: f64,
    pub total_token_throughput: f64,
    pub max_output_tokens_per_s: f64,
    pub max_concurrent_requests: u64,
    pub peaks_exact: bool,
    pub ttft: Stats,
    pub tpot: Stats,
    pub itl: Stats,
    pub e2el: Stats,
    pub ntpot: Stats,
    pub ttft_text: Stats,
    pub queue: Stats,
    pub e2el_sched: Stats,
    pub failures: Vec<(String, FailureClass)>,
    pub input_len_missing: u64,
    pub output_len_missing: u64,
    pub token_count_mismatches: u64,
    pub first_sent_ns: Option<u64>,
    pub last_done_ns: u64,
}

/// One latency metric of [`Totals`]: its key in the summary, its label in tables, its name in
/// vLLM's result keys (`mean_<name>_ms`) where vLLM has it, and where it is in the totals and in
/// the summary record. [`LATENCIES`] lists them in the order every output shows them.
pub struct Latency {
    pub key: &'static str,
    pub label: &'static str,
    pub vllm: Option<&'static str>,
    pub of: fn(&Totals) -> &Stats,
    pub in_summary: fn(&mut summary::Totals) -> &mut summary::Stats,
}

const fn latency(
    key: &'static str,
    label: &'static str,
    vllm: Option<&'static str>,
    of: fn(&Totals) -> &Stats,
    in_summary: fn(&mut summary::Totals) -> &mut summary::Stats,
) -> Latency {
    Latency { key, label, vllm, of, in_summary }
}

pub const LATENCIES: [Latency; 8] = [
    latency("ttft_ms", "TTFT", Some("ttft"), |t| &t.ttft, |s| &mut s.ttft_ms),
    latency("tpot_ms", "TPOT", Some("tpot"), |t| &t.tpot, |s| &mut s.tpot_ms),
    latency("itl_ms", "ITL", Some("itl"), |t| &t.itl, |s| &mut s.itl_ms),
    latency("e2el_ms", "E2EL", Some("e2el"), |t| &t.e2el, |s| &mut s.e2el_ms),
    latency("ntpot_ms", "NTPOT", None, |t| &t.ntpot, |s| &mut s.ntpot_ms),
    latency("ttft_text_ms", "TTFT to first text", None, |t| &t.ttft_text, |s| &mut s.ttft_text_ms),
    latency("client_queue_ms", "client queue", Some("client_queue_time"), |t| &t.queue, |s| &mut s.client_queue_ms),
    latency(
        "e2el_from_scheduled_ms",
        "E2EL from scheduled send",
        Some("e2el_including_client_queue"),
        |t| &t.e2el_sched,
        |s| &mut s.e2el_from_scheduled_ms,
    ),
];

impl Totals {
    pub fn failure_rate(&self) -> f64 {
        let n = self.completed + self.failed;
        if n == 0 {
            0.0
        } else {
            self.failed as f64 / n as f64
        }
    }
}
