//! The sim's `/metrics`: vLLM V1's metric names, types, labels, HELP texts and histogram buckets,
//! written the way Python's `prometheus_client` writes them (see `docs/sim.md`), so that scrapers
//! and dashboards built for vLLM work unchanged.

use std::fmt::Write;

/// vLLM's TTFT buckets (`vllm/v1/metrics/loggers.py`).
pub const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
    160.0, 640.0, 2560.0,
];
/// vLLM's inter-token latency / TPOT buckets.
pub const ITL_BUCKETS: &[f64] =
    &[0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];
/// vLLM's request latency buckets (e2e, queue, inference, prefill, decode).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0,
    1920.0, 7680.0,
];
/// vLLM's `iteration_tokens_total` buckets.
pub const ITERATION_BUCKETS: &[f64] =
    &[1.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0];
/// vLLM's `request_params_n` buckets.
pub const N_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0];

/// vLLM's `build_1_2_5_buckets(max_model_len)`: 1, 2, 5, 10, 20, 50, ... up to the limit.
pub fn buckets_1_2_5(max: u32) -> Vec<f64> {
    let mut out = Vec::new();
    let mut exponent = 1u64;
    loop {
        for m in [1u64, 2, 5] {
            let v = m * exponent;
            if v > max as u64 {
                return out;
            }
            out.push(v as f64);
        }
        exponent *= 10;
    }
}

/// A cumulative-on-render histogram.
#[derive(Clone, Debug)]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    pub fn new(bounds: &[f64]) -> Histogram {
        Histogram { bounds: bounds.to_vec(), counts: vec![0; bounds.len()], count: 0, sum: 0.0 }
    }
    pub fn observe(&mut self, v: f64) {
        // Prometheus buckets are `le` (upper bound inclusive).
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum += v;
    }
    pub fn count(&self) -> u64 {
        self.count
    }
    pub fn sum(&self) -> f64 {
        self.sum
    }
}

/// Everything `/metrics` shows, updated by the engine and the HTTP handlers.
#[derive(Debug)]
pub struct Metrics {
    pub model: String,
    pub start_epoch_s: f64,
    pub cache_info: Vec<(String, String)>,
    pub running: u64,
    pub waiting: u64,
    pub kv_usage: f64,
    pub prefix_queries: u64,
    pub prefix_hits: u64,
    pub preemptions: u64,
    pub prompt_tokens: u64,
    pub generation_tokens: u64,
    pub success_stop: u64,
    pub success_length: u64,
    pub success_abort: u64,
    pub request_prompt_tokens: Histogram,
    pub request_generation_tokens: Histogram,
    pub iteration_tokens: Histogram,
    pub request_max_num_generation_tokens: Histogram,
    pub request_params_n: Histogram,
    pub request_params_max_tokens: Histogram,
    pub ttft: Histogram,
    pub itl: Histogram,
    pub request_tpot: Histogram,
    pub e2e: Histogram,
    pub queue: Histogram,
    pub inference: Histogram,
    pub prefill: Histogram,
    pub decode: Histogram,
    /// `http_requests_total{handler,method,status}` as prometheus_fastapi_instrumentator counts it.
    pub http: std::collections::BTreeMap<(String, String), u64>,
}

impl Metrics {
    pub fn new(model: &str, max_model_len: u32, cache_info: Vec<(String, String)>) -> Metrics {
        let tok = buckets_1_2_5(max_model_len);
        Metrics {
            model: model.to_string(),
            start_epoch_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            cache_info,
            running: 0,
            waiting: 0,
            kv_usage: 0.0,
            prefix_queries: 0,
            prefix_hits: 0,
            preemptions: 0,
            prompt_tokens: 0,
            generation_tokens: 0,
            success_stop: 0,
            success_length: 0,
            success_abort: 0,
            request_prompt_tokens: Histogram::new(&tok),
            request_generation_tokens: Histogram::new(&tok),
            iteration_tokens: Histogram::new(ITERATION_BUCKETS),
            request_max_num_generation_tokens: Histogram::new(&tok),
            request_params_n: Histogram::new(N_BUCKETS),
            request_params_max_tokens: Histogram::new(&tok),
            ttft: Histogram::new(TTFT_BUCKETS),
            itl: Histogram::new(ITL_BUCKETS),
            request_tpot: Histogram::new(ITL_BUCKETS),
            e2e: Histogram::new(LATENCY_BUCKETS),
            queue: Histogram::new(LATENCY_BUCKETS),
            inference: Histogram::new(LATENCY_BUCKETS),
            prefill: Histogram::new(LATENCY_BUCKETS),
            decode: Histogram::new(LATENCY_BUCKETS),
            http: Default::default(),
        }
    }

    /// Counts one HTTP response the way prometheus_fastapi_instrumentator groups statuses.
    pub fn count_http(&mut self, handler: &str, status: u16) {
        *self.http.entry((handler.to_string(), format!("{}xx", status / 100))).or_default() += 1;
    }

    /// Renders the Prometheus text format 0.0.4, as vLLM's `/metrics` does.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(32 * 1024);
        let base = [("engine", "0"), ("model_name", self.model.as_str())];
        let created = self.start_epoch_s;

        // Process family first, as prometheus_client's default collectors do.
        family(
            &mut out,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            "gauge",
        );
        sample(&mut out, "process_start_time_seconds", &[], created);

        let gauges: [(&str, &str, f64); 3] = [
            ("vllm:num_requests_running", "Number of requests in model execution batches.", self.running as f64),
            ("vllm:num_requests_waiting", "Number of requests waiting to be processed.", self.waiting as f64),
            ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", self.kv_usage),
        ];
        for (name, help, v) in gauges {
            family(&mut out, name, help, "gauge");
            sample(&mut out, name, &base, v);
        }
        let counters: [(&str, &str, u64); 5] = [
            (
                "vllm:prefix_cache_queries",
                "Prefix cache queries, in terms of number of queried tokens.",
                self.prefix_queries,
            ),
            ("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.", self.prefix_hits),
            ("vllm:num_preemptions", "Cumulative number of preemption from the engine.", self.preemptions),
            ("vllm:prompt_tokens", "Number of prefill tokens processed.", self.prompt_tokens),
            ("vllm:generation_tokens", "Number of generation tokens processed.", self.generation_tokens),
        ];
        for (name, help, v) in counters {
            counter(&mut out, name, help, &[base.to_vec()], &[v as f64], created);
        }
        let reasons: Vec<Vec<(&str, &str)>> = ["stop", "length", "abort"]
            .iter()
            .map(|r| vec![("engine", "0"), ("finished_reason", *r), ("model_name", self.model.as_str())])
            .collect();
        counter(
            &mut out,
            "vllm:request_success",
            "Count of successfully processed requests.",
            &reasons,
            &[self.success_stop as f64, self.success_length as f64, self.success_abort as f64],
            created,
        );
        let histograms: [(&str, &str, &Histogram); 14] = [
            ("vllm:request_prompt_tokens", "Number of prefill tokens processed.", &self.request_prompt_tokens),
            (
                "vllm:request_generation_tokens",
                "Number of generation tokens processed.",
                &self.request_generation_tokens,
            ),
            ("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.", &self.iteration_tokens),
            (
                "vllm:request_max_num_generation_tokens",
                "Histogram of maximum number of requested generation tokens.",
                &self.request_max_num_generation_tokens,
            ),
            ("vllm:request_params_n", "Histogram of the n request parameter.", &self.request_params_n),
            (
                "vllm:request_params_max_tokens",
                "Histogram of the max_tokens request parameter.",
                &self.request_params_max_tokens,
            ),
            ("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", &self.ttft),
            ("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", &self.itl),
            (
                "vllm:request_time_per_output_token_seconds",
                "Histogram of time_per_output_token_seconds per request.",
                &self.request_tpot,
            ),
            ("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", &self.e2e),
            ("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", &self.queue),
            (
                "vllm:request_inference_time_seconds",
                "Histogram of time spent in RUNNING phase for request.",
                &self.inference,
            ),
            (
                "vllm:request_prefill_time_seconds",
                "Histogram of time spent in PREFILL phase for request.",
                &self.prefill,
            ),
            ("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.", &self.decode),
        ];
        for (name, help, h) in histograms {
            histogram(&mut out, name, help, &base, h, created);
        }
        family(&mut out, "vllm:cache_config_info", "Information of the LLMEngine CacheConfig", "gauge");
        let info: Vec<(&str, &str)> = self.cache_info.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        sample(&mut out, "vllm:cache_config_info", &info, 1.0);

        if !self.http.is_empty() {
            family(
                &mut out,
                "http_requests_total",
                "Total number of requests by method, status and handler.",
                "counter",
            );
            for ((handler, status), n) in &self.http {
                let labels = [("handler", handler.as_str()), ("method", "POST"), ("status", status.as_str())];
                sample(&mut out, "http_requests_total", &labels, *n as f64);
            }
        }
        out
    }
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample line; labels are sorted by name, as prometheus_client writes them.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        let mut sorted: Vec<&(&str, &str)> = labels.iter().collect();
        sorted.sort_by_key(|(k, _)| *k);
        out.push('{');
        for (i, (k, v)) in sorted.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&go_float(value));
    out.push('\n');
}

fn counter(out: &mut String, name: &str, help: &str, series: &[Vec<(&str, &str)>], values: &[f64], created: f64) {
    let total = format!("{name}_total");
    family(out, &total, help, "counter");
    for (labels, v) in series.iter().zip(values) {
        sample(out, &total, labels, *v);
    }
    let c = format!("{name}_created");
    family(out, &c, help, "gauge");
    for labels in series {
        sample(out, &c, labels, created);
    }
}

fn histogram(out: &mut String, name: &str, help: &str, base: &[(&str, &str)], h: &Histogram, created: f64) {
    family(out, name, help, "histogram");
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0u64;
    for (b, c) in h.bounds.iter().zip(&h.counts) {
        cumulative += c;
        let le = go_float(*b);
        let mut labels = base.to_vec();
        labels.push(("le", &le));
        sample(out, &bucket, &labels, cumulative as f64);
    }
    let mut labels = base.to_vec();
    labels.push(("le", "+Inf"));
    sample(out, &bucket, &labels, h.count as f64);
    sample(out, &format!("{name}_count"), base, h.count as f64);
    sample(out, &format!("{name}_sum"), base, h.sum);
    let c = format!("{name}_created");
    family(out, &c, help, "gauge");
    sample(out, &c, base, created);
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16.
pub fn py_repr(d: f64) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    let sci = format!("{d:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent");
    if !(-4..16).contains(&exp) {
        format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    } else {
        let s = format!("{d}");
        if s.contains('.') {
            s
        } else {
            s + ".0"
        }
    }
}

/// prometheus_client's `floatToGoString`: Python repr, but exponent form once the integer part
/// has 7 digits, as Go would print it (`1.048576e+06`, `1.7624384230435252e+09`).
pub fn go_float(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = py_repr(d);
    if d > 0.0 {
        if let Some(dot) = s.find('.') {
            if dot > 6 {
                let digits = format!("{}{}", &s[1..dot], &s[dot + 1..]);
                let mantissa = format!("{}.{}", &s[..1], digits);
                let mantissa = mantissa.trim_end_matches(['0', '.']);
                return format!("{mantissa}e+0{}", dot - 1);
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_prometheus_client() {
        assert_eq!(go_float(0.0), "0.0");
        assert_eq!(go_float(1.0), "1.0");
        assert_eq!(go_float(0.001), "0.001");
        assert_eq!(go_float(2560.0), "2560.0");
        assert_eq!(go_float(1048576.0), "1.048576e+06");
        assert_eq!(go_float(1762438423.0435252), "1.7624384230435252e+09");
        assert_eq!(go_float(6.4929219e7), "6.4929219e+07");
        assert_eq!(go_float(f64::INFINITY), "+Inf");
        assert_eq!(py_repr(1e-7), "1e-07");
        assert_eq!(py_repr(0.25), "0.25");
    }

    #[test]
    fn one_two_five_buckets() {
        assert_eq!(buckets_1_2_5(100), vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]);
        assert_eq!(*buckets_1_2_5(32768).last().unwrap(), 20000.0);
    }

    #[test]
    fn histogram_is_cumulative_with_le_inclusive() {
        let mut h = Histogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 3.0] {
            h.observe(v);
        }
        let m = Metrics::new("m", 100, vec![]);
        let mut out = String::new();
        histogram(&mut out, "x", "help", &[("engine", "0"), ("model_name", &m.model)], &h, 1.0);
        assert!(out.contains("x_bucket{engine=\"0\",le=\"1.0\",model_name=\"m\"} 2.0\n"), "{out}");
        assert!(out.contains("x_bucket{engine=\"0\",le=\"2.0\",model_name=\"m\"} 3.0\n"));
        assert!(out.contains("x_bucket{engine=\"0\",le=\"+Inf\",model_name=\"m\"} 4.0\n"));
        assert!(out.contains("x_count{engine=\"0\",model_name=\"m\"} 4.0\n"));
        assert!(out.contains("x_sum{engine=\"0\",model_name=\"m\"} 6.0\n"));
    }
}
