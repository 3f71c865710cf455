//! Logs mode: a vLLM server log (or an offline `LLM()` log) into start-up samples.
//!
//! Two kinds of numbers come out (names documented in `docs/scrape.md`):
//!
//! * what vLLM reports itself (`Loading weights took 36.80 seconds`, `torch.compile took 26.57 s
//!   in total`, `GPU KV cache size: 868,080 tokens`, ...): exact, as printed;
//! * phases between milestone lines, from the line timestamps: process start, engine start,
//!   model-load start and end, engine ready, API ready. vLLM stamps lines `MM-DD HH:MM:SS`, local
//!   time of the server, no year and 1 s resolution, so these are whole seconds.
//!
//! Matching is on stable substrings with tolerant patterns, after removing ANSI colour codes and
//! the `(APIServer pid=155)` process prefix, so the wording of vLLM 0.9 to 0.25 all parse:
//! `takes`/`took`, `seconds`/`s`, `GB`/`GiB`/`GiB memory`, `dynamic shape`/`compile range`.

use crate::sink::{Outcome, Sink};
use crate::window::{days_from_civil, parse_rfc3339};
use anyhow::Context;
use regex::Regex;
use sb_records::ndjson::is_broken_pipe;
use sb_records::{Input, Sample, SampleSource, Window};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::OnceLock;

/// Prefix of every metric name this mode writes.
pub const PREFIX: &str = "vllm_startup:";

/// The start-up milestones, in the order a start-up passes them. Phases are the spans between
/// consecutive milestones.
const MILESTONES: &[(&str, &str)] = &[
    ("process_start", "first vLLM log line"),
    ("engine_start", "Initializing a V1 LLM engine"),
    ("model_load_start", "Starting to load model"),
    ("model_load_end", "Model loading took"),
    ("engine_ready", "init engine (...) took"),
    ("api_ready", "Application startup complete"),
];

/// The phase that ends at milestone `i` (`PHASES[i-1]`).
const PHASES: &[&str] = &["config", "worker_init", "model_load", "engine_init", "api_server"];

/// A reported number: which pattern, and how its captures become samples.
struct Rule {
    re: Regex,
    /// (capture index, metric name without prefix, sample type); thousands separators removed.
    values: &'static [(usize, &'static str, &'static str)],
    /// Capture index of a label value, and the label name.
    label: Option<(usize, &'static str)>,
}

fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let r = |re: &str, values: &'static [(usize, &'static str, &'static str)], label: Option<(usize, &'static str)>| Rule {
            re: Regex::new(re).expect("valid pattern"),
            values,
            label,
        };
        vec![
            r(r"Time spent downloading weights for \S+: ([\d.]+) seconds", &[(1, "weights_download_seconds", "duration")], None),
            r(r"Loading weights took ([\d.]+) seconds", &[(1, "weights_load_seconds", "duration")], None),
            r(
                r"Model loading took ([\d.]+) Gi?B(?: memory)? and ([\d.]+) seconds",
                &[(2, "model_load_seconds", "duration"), (1, "model_load_memory_gib", "gauge")],
                None,
            ),
            // V0 engine (<= 0.10): the weights' memory, no time.
            r(r"Loading model weights took ([\d.]+) GB", &[(1, "model_load_memory_gib", "gauge")], None),
            r(r"Dynamo bytecode transform time: ([\d.]+) s", &[(1, "dynamo_transform_seconds", "duration")], None),
            r(
                r"Compiling a graph for (.+?) takes ([\d.]+) s",
                &[(2, "graph_compile_seconds", "duration")],
                Some((1, "shape")),
            ),
            r(
                r"Directly load the compiled graph\(s\) for (.+?) from the cache, took ([\d.]+) s",
                &[(2, "graph_cache_load_seconds", "duration")],
                Some((1, "shape")),
            ),
            r(r"torch\.compile (?:takes|took) ([\d.]+) s in total", &[(1, "torch_compile_seconds", "duration")], None),
            r(r"Initial profiling/warmup run took ([\d.]+) s", &[(1, "profile_warmup_seconds", "duration")], None),
            r(r"Memory profiling takes ([\d.]+) seconds", &[(1, "memory_profiling_seconds", "duration")], None),
            r(r"Available KV cache memory: ([\d.]+) GiB", &[(1, "kv_cache_memory_gib", "gauge")], None),
            r(r"GPU KV cache size: ([\d,]+) tokens", &[(1, "kv_cache_tokens", "gauge")], None),
            r(
                r"Maximum concurrency for ([\d,]+) tokens per request: ([\d.]+)x",
                &[(2, "max_concurrency", "gauge")],
                Some((1, "tokens_per_request")),
            ),
            r(
                r"Graph capturing finished in ([\d.]+) secs?, took (-?[\d.]+) GiB",
                &[(1, "cuda_graph_capture_seconds", "duration"), (2, "cuda_graph_memory_gib", "gauge")],
                None,
            ),
            r(
                r"init engine \(profile, create kv cache, warmup model\) took ([\d.]+) (?:s|seconds)(?: \(compilation: ([\d.]+) s\))?",
                &[(1, "engine_init_seconds", "duration"), (2, "engine_init_compilation_seconds", "duration")],
                None,
            ),
            // vllm-profiling's patched vLLM (the I/O study's own logs) adds these two.
            r(r"Init Tokenizer took ([\d.]+) seconds", &[(1, "tokenizer_init_seconds", "duration")], None),
            r(r"Initializing Model took ([\d.]+) seconds", &[(1, "model_init_seconds", "duration")], None),
        ]
    })
}

struct Patterns {
    ansi: Regex,
    kube_ts: Regex,
    prefix: Regex,
    header: Regex,
    engine: Regex,
    api_version: Regex,
    load_model: Regex,
    cache_dir: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        ansi: Regex::new(r"\x1b\[[0-9;]*[A-Za-z]").unwrap(),
        // `kubectl logs --timestamps` / `docker logs -t`: RFC 3339 in UTC before the line.
        kube_ts: Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}) ").unwrap(),
        // `(APIServer pid=155) `, `(EngineCore_DP0 pid=420) `, `(Worker_TP1 pid=90) `.
        prefix: Regex::new(r"^\(([A-Za-z][\w-]*) pid=(\d+)\)\s*").unwrap(),
        // `INFO 06-10 06:16:16 [api_server.py:1289] msg`; before 0.8 no `[`; with
        // llm-d-benchmark's logging config, milliseconds after the seconds.
        header: Regex::new(
            r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) (\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:[.,](\d{3}))? \[?[^\]\s]+:\d+\] ?(.*)$",
        )
        .unwrap(),
        engine: Regex::new(r"Initializing an? (?:V1 )?LLM engine \(v([^)\s]+)\)").unwrap(),
        api_version: Regex::new(r"vLLM (?:API )?server version (\S+)").unwrap(),
        load_model: Regex::new(r"Starting to load model (.+?)\.\.\.").unwrap(),
        cache_dir: Regex::new(r"Using cache directory: (\S+) for vLLM's torch\.compile").unwrap(),
    })
}

pub struct Options {
    /// Year of the first line (vLLM timestamps have none); later lines roll over at New Year.
    pub year: i64,
    /// Offset of the server's clock from UTC, seconds (vLLM writes local time).
    pub utc_offset_s: i64,
    /// Written as the samples' `target` (the file name, or `<stdin>`).
    pub target: String,
}

/// Feeds lines, collects samples. Samples are handed out when the start-up is complete (API
/// ready) or at the end of the input, with the start-up window on each.
pub struct StartupParser {
    opts: Options,
    year: i64,
    last_month: i64,
    /// Timestamp of the last vLLM-formatted line, ns.
    last_ts: Option<u64>,
    vllm_lines: u64,
    milestones: [Option<u64>; 6],
    /// "Starting vLLM API server" time, the ready fallback when uvicorn's line is missing.
    server_start: Option<u64>,
    reported: Vec<Sample>,
    graph: Option<String>,
    drafter: bool,
    version: Option<String>,
    model: Option<String>,
    done: bool,
}

/// What the parse found, for the messages on stderr.
pub struct Summary {
    pub vllm_lines: u64,
    pub missing: Vec<&'static str>,
    pub ready: bool,
}

impl StartupParser {
    pub fn new(opts: Options) -> Self {
        StartupParser {
            year: opts.year,
            opts,
            last_month: 0,
            last_ts: None,
            vllm_lines: 0,
            milestones: [None; 6],
            server_start: None,
            reported: Vec::new(),
            graph: None,
            drafter: false,
            version: None,
            model: None,
            done: false,
        }
    }

    /// True once the API-ready line was seen: the rest of the log is serving, not start-up.
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn feed(&mut self, raw: &str) {
        if self.done {
            return;
        }
        let p = patterns();
        let clean = p.ansi.replace_all(raw, "");
        let mut line = clean.trim_end_matches(['\r', '\n']).trim_start();
        // A runtime timestamp has the year, the zone and sub-second digits: better than vLLM's own.
        let mut runtime_ts = None;
        if let Some(m) = p.kube_ts.find(line) {
            runtime_ts = parse_rfc3339(m.as_str().trim_end());
            line = line[m.end()..].trim_start();
        }
        let mut process = None;
        if let Some(c) = p.prefix.captures(line) {
            process = Some(c[1].to_string());
            line = &line[c.get(0).unwrap().end()..];
        }
        // uvicorn's own lines (`INFO:     Application startup complete.`) have no timestamp.
        if line.starts_with("INFO:") && line.contains("Application startup complete") {
            if let Some(ts) = runtime_ts.or(self.last_ts) {
                self.milestones[5] = Some(ts);
                self.done = true;
            }
            return;
        }
        let Some(h) = p.header.captures(line) else {
            return;
        };
        let num = |i: usize| h.get(i).map_or(0, |m| m.as_str().parse::<i64>().unwrap_or(0));
        let month = num(2);
        if month < self.last_month {
            self.year += 1;
        }
        self.last_month = month;
        let secs = days_from_civil(self.year, month, num(3)) * 86400 + num(4) * 3600 + num(5) * 60 + num(6)
            - self.opts.utc_offset_s;
        let ts = runtime_ts.unwrap_or((secs.max(0) as u64) * 1_000_000_000 + num(7) as u64 * 1_000_000);
        self.last_ts = Some(ts);
        self.vllm_lines += 1;
        let msg = h.get(8).map_or("", |m| m.as_str());
        self.on_message(msg, ts, process);
    }

    fn on_message(&mut self, msg: &str, ts: u64, process: Option<String>) {
        let p = patterns();
        let first = |slot: &mut Option<u64>| {
            if slot.is_none() {
                *slot = Some(ts);
            }
        };
        first(&mut self.milestones[0]);
        if let Some(c) = p.engine.captures(msg) {
            first(&mut self.milestones[1]);
            self.version.get_or_insert_with(|| c[1].to_string());
        } else if let Some(c) = p.api_version.captures(msg) {
            self.version.get_or_insert_with(|| c[1].to_string());
        }
        if let Some(c) = p.load_model.captures(msg) {
            first(&mut self.milestones[2]);
            self.model.get_or_insert_with(|| c[1].to_string());
        }
        if msg.contains("Model loading took") {
            first(&mut self.milestones[3]);
        }
        if msg.contains("init engine (profile, create kv cache, warmup model) took") {
            first(&mut self.milestones[4]);
        }
        if msg.contains("Starting vLLM API server") || msg.starts_with("Starting vLLM server on") {
            self.server_start.get_or_insert(ts);
        }
        if msg.contains("Loading drafter model") {
            self.drafter = true;
        }
        if let Some(c) = p.cache_dir.captures(msg) {
            // `.../rank_0_0/backbone` or `.../eagle_head`: which compiled graph the next lines are about.
            self.graph = c[1].rsplit('/').next().map(String::from);
        }
        for rule in rules() {
            let Some(c) = rule.re.captures(msg) else { continue };
            let mut labels = BTreeMap::new();
            if let Some(proc_name) = &process {
                labels.insert("process".to_string(), proc_name.clone());
            }
            if let Some((i, name)) = rule.label {
                if let Some(m) = c.get(i) {
                    // `131,072` tokens: a number label without its thousands separators.
                    let value =
                        if name == "tokens_per_request" { m.as_str().replace(',', "") } else { m.as_str().to_string() };
                    labels.insert(name.to_string(), value);
                }
            }
            let first_metric = rule.values[0].1;
            if first_metric == "weights_load_seconds" {
                labels.insert("stage".into(), if self.drafter { "drafter" } else { "main" }.into());
            }
            let compile_related = first_metric.starts_with("dynamo")
                || first_metric.starts_with("graph_")
                || first_metric.starts_with("torch_compile")
                || first_metric.starts_with("profile_warmup");
            if compile_related {
                if let Some(g) = &self.graph {
                    labels.insert("graph".into(), g.clone());
                }
            }
            for (i, name, kind) in rule.values {
                let Some(v) = c.get(*i).and_then(|m| m.as_str().replace(',', "").parse::<f64>().ok()) else {
                    continue;
                };
                self.reported.push(self.sample(name, labels.clone(), ts, v, kind));
            }
        }
    }

    fn sample(&self, name: &str, labels: BTreeMap<String, String>, ts_ns: u64, value: f64, kind: &str) -> Sample {
        Sample {
            metric: format!("{PREFIX}{name}"),
            labels,
            ts_ns,
            value,
            source: SampleSource::Log,
            metric_type: Some(kind.to_string()),
            window: None,
            target: Some(self.opts.target.clone()),
        }
    }

    /// Every sample, with the start-up window set: reported values first (in log order), then
    /// the phases, the total, the start and ready events and an info sample.
    pub fn finish(mut self) -> (Vec<Sample>, Summary) {
        if self.milestones[5].is_none() {
            // No uvicorn line (cut log, or a logging setup that drops it): the server-start line
            // is the best API-ready time there is.
            self.milestones[5] = self.server_start;
        }
        let m = self.milestones;
        let ready_idx = if m[5].is_some() {
            Some(5)
        } else if m[4].is_some() {
            Some(4)
        } else {
            None
        };
        let start = m[0];
        let end = ready_idx.and_then(|i| m[i]).or(self.last_ts);
        let window = match (start, end) {
            (Some(s), Some(e)) => Some(Window { start_ns: s, end_ns: e.max(s) }),
            _ => None,
        };
        let mut out = std::mem::take(&mut self.reported);
        for i in 1..m.len() {
            if let (Some(a), Some(b)) = (m[i - 1], m[i]) {
                let labels = BTreeMap::from([("phase".to_string(), PHASES[i - 1].to_string())]);
                out.push(self.sample("phase_seconds", labels, b, secs_between(a, b), "duration"));
            }
        }
        if let (Some(s), Some(i)) = (start, ready_idx) {
            let ready = m[i].unwrap();
            let ready_at = MILESTONES[i].0.to_string();
            let labels = BTreeMap::from([("ready".to_string(), ready_at.clone())]);
            out.push(self.sample("total_seconds", labels.clone(), ready, secs_between(s, ready), "duration"));
            out.push(self.sample("ready_time_seconds", labels, ready, epoch_secs(ready), "event"));
        }
        if let Some(s) = start {
            out.push(self.sample("process_start_time_seconds", BTreeMap::new(), s, epoch_secs(s), "event"));
            let mut labels = BTreeMap::new();
            if let Some(v) = &self.version {
                labels.insert("version".to_string(), v.clone());
            }
            if let Some(model) = &self.model {
                labels.insert("model".to_string(), model.clone());
            }
            out.push(self.sample("info", labels, s, 1.0, "event"));
        }
        for s in &mut out {
            s.window = window;
        }
        let missing = MILESTONES.iter().zip(m).filter(|(_, t)| t.is_none()).map(|((_, marker), _)| *marker).collect();
        (out, Summary { vllm_lines: self.vllm_lines, missing, ready: ready_idx.is_some() })
    }
}

/// Parses each log (`-` is stdin) and writes its samples. Reading stops at the API-ready line,
/// so `kubectl logs -f pod | sb-scrape --log -` ends once the server is up.
pub fn run<W: Write>(paths: &[String], year: i64, utc_offset_s: i64, sink: &mut Sink<W>) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::default();
    for path in paths {
        let input = Input::open(path).with_context(|| format!("cannot open log {path}"))?;
        let mut parser = StartupParser::new(Options { year, utc_offset_s, target: input.name.clone() });
        let mut reader = input.reader;
        let mut buf = Vec::with_capacity(4096);
        loop {
            buf.clear();
            // Logs carry tqdm bars and foreign bytes: read bytes, not UTF-8 lines.
            if reader.read_until(b'\n', &mut buf).with_context(|| format!("reading {path}"))? == 0 {
                break;
            }
            parser.feed(&String::from_utf8_lossy(&buf));
            if parser.is_done() {
                break;
            }
        }
        let (samples, summary) = parser.finish();
        if summary.vllm_lines == 0 {
            outcome.fail(format!(
                "{}: no vLLM log lines found (expected lines like \"INFO 06-10 06:16:16 [api_server.py:1289] ...\"); is this a vLLM server log?",
                input.name
            ));
            continue;
        }
        for s in &samples {
            if let Err(e) = sink.push(s) {
                if is_broken_pipe(&e) {
                    outcome.stdout_closed = true;
                    return Ok(outcome);
                }
                return Err(e.into());
            }
        }
        if let Err(e) = sink.flush() {
            if is_broken_pipe(&e) {
                outcome.stdout_closed = true;
                return Ok(outcome);
            }
            return Err(e.into());
        }
        if !summary.ready {
            outcome.fail(format!(
                "{}: start-up not complete (no \"init engine ... took\" or \"Application startup complete\" line: log cut short, or the server failed to start); wrote what was found",
                input.name
            ));
        } else if !summary.missing.is_empty() {
            eprintln!(
                "sb-scrape: {}: no line for {}: the phases next to it are left out",
                input.name,
                summary.missing.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(outcome)
}

/// Epoch seconds of epoch nanoseconds, without the rounding of one big division.
fn epoch_secs(ns: u64) -> f64 {
    (ns / 1_000_000_000) as f64 + (ns % 1_000_000_000) as f64 / 1e9
}

fn secs_between(a: u64, b: u64) -> f64 {
    b.saturating_sub(a) as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_fixture(name: &str) -> (Vec<Sample>, Summary) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/scrape/logs").join(name);
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let mut p = StartupParser::new(Options { year: 2025, utc_offset_s: 0, target: name.into() });
        for line in text.split('\n') {
            p.feed(line);
        }
        p.finish()
    }

    /// The value of the one sample with this name and these labels (a subset of its labels).
    fn get(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.metric == format!("{PREFIX}{name}"))
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .collect();
        assert_eq!(found.len(), 1, "{name}{labels:?}: {found:?}");
        found[0].value
    }

    fn has(samples: &[Sample], name: &str) -> bool {
        samples.iter().any(|s| s.metric == format!("{PREFIX}{name}"))
    }

    fn phases(samples: &[Sample]) -> Vec<(String, f64)> {
        samples
            .iter()
            .filter(|s| s.metric.ends_with("phase_seconds"))
            .map(|s| (s.labels["phase"].clone(), s.value))
            .collect()
    }

    fn p(list: &[(&str, f64)]) -> Vec<(String, f64)> {
        list.iter().map(|(n, v)| (n.to_string(), *v)).collect()
    }

    // Expected phases are the differences of the milestone lines' timestamps, read off each
    // log by hand (the comments give the lines).

    #[test]
    fn vllm_0_9_0_1_enforce_eager() {
        let (s, sum) = parse_fixture("vllm-startup-0.9.0.1.log");
        assert!(sum.ready && sum.missing.is_empty(), "{:?}", sum.missing);
        // 06:16:16 first line, 06:16:42 engine, 06:16:43 load start, 06:16:44 load end,
        // 06:16:44 init engine, 06:16:45 last stamped line before uvicorn's startup complete.
        assert_eq!(
            phases(&s),
            p(&[
                ("config", 26.0),
                ("worker_init", 1.0),
                ("model_load", 1.0),
                ("engine_init", 0.0),
                ("api_server", 1.0)
            ])
        );
        assert_eq!(get(&s, "total_seconds", &[("ready", "api_ready")]), 29.0);
        assert_eq!(get(&s, "weights_load_seconds", &[("stage", "main")]), 0.47);
        assert_eq!(get(&s, "model_load_seconds", &[]), 0.812440);
        assert_eq!(get(&s, "model_load_memory_gib", &[]), 2.3185);
        assert_eq!(get(&s, "kv_cache_tokens", &[]), 1_028_832.0);
        assert_eq!(get(&s, "max_concurrency", &[("tokens_per_request", "131072")]), 7.85);
        assert_eq!(get(&s, "engine_init_seconds", &[]), 0.61);
        assert!(!has(&s, "torch_compile_seconds") && !has(&s, "cuda_graph_capture_seconds"), "enforce-eager");
        let info = s.iter().find(|x| x.metric == "vllm_startup:info").unwrap();
        assert_eq!(info.labels["version"], "0.9.0.1");
        assert_eq!(info.labels["model"], "meta-llama/Llama-3.2-1B-Instruct");
        // 2025-06-10T06:16:16Z
        let start = get(&s, "process_start_time_seconds", &[]);
        assert_eq!(start, (days_from_civil(2025, 6, 10) * 86400 + 6 * 3600 + 16 * 60 + 16) as f64);
        let w = s[0].window.unwrap();
        assert_eq!((w.end_ns - w.start_ns) / 1_000_000_000, 29);
        assert!(s.iter().all(|x| x.window == Some(w) && x.source == SampleSource::Log));
    }

    #[test]
    fn vllm_0_11_2_ansi_prefixes_and_old_compile_wording() {
        let (s, sum) = parse_fixture("vllm-startup-0.11.2.log");
        assert!(sum.ready && sum.missing.is_empty(), "{:?}", sum.missing);
        // 15:27:15 first stamped line (after `nohup: ignoring input`), 15:27:27 engine,
        // 15:27:29 load start, 15:27:50 load end, 15:28:13 init engine, 15:28:15 routes.
        assert_eq!(
            phases(&s),
            p(&[
                ("config", 12.0),
                ("worker_init", 2.0),
                ("model_load", 21.0),
                ("engine_init", 23.0),
                ("api_server", 2.0)
            ])
        );
        assert_eq!(get(&s, "total_seconds", &[]), 60.0);
        assert_eq!(get(&s, "weights_load_seconds", &[("process", "EngineCore_DP0")]), 2.48);
        assert_eq!(get(&s, "model_load_seconds", &[]), 20.670949);
        assert_eq!(get(&s, "model_load_memory_gib", &[]), 14.9596);
        assert_eq!(get(&s, "dynamo_transform_seconds", &[("graph", "backbone")]), 3.50);
        assert_eq!(get(&s, "graph_compile_seconds", &[("shape", "dynamic shape")]), 13.11);
        assert_eq!(get(&s, "torch_compile_seconds", &[("graph", "backbone")]), 16.61);
        assert_eq!(get(&s, "kv_cache_memory_gib", &[]), 105.97);
        assert_eq!(get(&s, "kv_cache_tokens", &[]), 868_080.0);
        assert_eq!(get(&s, "max_concurrency", &[("tokens_per_request", "1024")]), 847.73);
        assert_eq!(get(&s, "cuda_graph_capture_seconds", &[]), 4.0);
        assert_eq!(get(&s, "cuda_graph_memory_gib", &[]), -0.41, "negative as printed");
        assert_eq!(get(&s, "engine_init_seconds", &[]), 23.02);
        assert!(!has(&s, "engine_init_compilation_seconds"));
        let info = s.iter().find(|x| x.metric == "vllm_startup:info").unwrap();
        assert_eq!(info.labels["version"], "0.11.2");
    }

    #[test]
    fn vllm_0_25_1_new_wording() {
        let (s, sum) = parse_fixture("vllm-startup-0.25.1.log");
        assert!(sum.ready && sum.missing.is_empty(), "{:?}", sum.missing);
        // 11:06:17 logo, 11:06:28 engine, 11:06:32 load start, 11:07:12 load end,
        // 11:08:21 init engine, 11:09:13 routes (46 s of multi-modal warm-up in the API server).
        assert_eq!(
            phases(&s),
            p(&[
                ("config", 11.0),
                ("worker_init", 4.0),
                ("model_load", 40.0),
                ("engine_init", 69.0),
                ("api_server", 52.0)
            ])
        );
        assert_eq!(get(&s, "total_seconds", &[]), 176.0);
        assert_eq!(get(&s, "weights_load_seconds", &[]), 36.80);
        assert_eq!(get(&s, "model_load_seconds", &[]), 39.191047);
        assert_eq!(get(&s, "model_load_memory_gib", &[]), 16.63);
        assert_eq!(get(&s, "graph_compile_seconds", &[("shape", "compile range (1, 2496)")]), 18.21);
        assert_eq!(get(&s, "torch_compile_seconds", &[]), 26.57);
        assert_eq!(get(&s, "profile_warmup_seconds", &[("graph", "backbone")]), 1.97);
        assert_eq!(get(&s, "kv_cache_memory_gib", &[]), 83.89);
        assert_eq!(get(&s, "kv_cache_tokens", &[]), 3_875_400.0);
        assert_eq!(get(&s, "max_concurrency", &[]), 14.78);
        assert_eq!(get(&s, "cuda_graph_capture_seconds", &[]), 4.0);
        assert_eq!(get(&s, "cuda_graph_memory_gib", &[]), 0.38);
        assert_eq!(get(&s, "engine_init_seconds", &[]), 69.05);
        assert_eq!(get(&s, "engine_init_compilation_seconds", &[]), 26.57);
        let info = s.iter().find(|x| x.metric == "vllm_startup:info").unwrap();
        assert_eq!(info.labels["version"], "0.25.1");
        assert_eq!(info.labels["model"], "cyankiwi/gemma-4-26B-A4B-it-qat-AWQ-INT4");
    }

    #[test]
    fn vllm_0_25_1_speculative_decoding_with_cached_compile() {
        let (s, sum) = parse_fixture("vllm-startup-0.25.1-specdecode-cached-compile.log");
        assert!(sum.ready && sum.missing.is_empty(), "{:?}", sum.missing);
        // 20:59:09 logo, 20:59:16 engine, 20:59:17 load start, 21:09:14 load end,
        // 21:23:42 init engine, 21:23:47 routes.
        assert_eq!(
            phases(&s),
            p(&[
                ("config", 7.0),
                ("worker_init", 1.0),
                ("model_load", 597.0),
                ("engine_init", 868.0),
                ("api_server", 5.0)
            ])
        );
        assert_eq!(get(&s, "total_seconds", &[]), 1478.0);
        assert_eq!(get(&s, "weights_load_seconds", &[("stage", "main")]), 570.62);
        assert_eq!(get(&s, "weights_load_seconds", &[("stage", "drafter")]), 11.07);
        assert_eq!(get(&s, "model_load_seconds", &[]), 595.559227);
        assert_eq!(get(&s, "dynamo_transform_seconds", &[("graph", "backbone")]), 2.07);
        assert_eq!(get(&s, "dynamo_transform_seconds", &[("graph", "eagle_head")]), 0.80);
        assert_eq!(get(&s, "graph_cache_load_seconds", &[("graph", "backbone")]), 0.987);
        assert_eq!(get(&s, "graph_compile_seconds", &[("graph", "eagle_head")]), 5.22);
        assert_eq!(get(&s, "torch_compile_seconds", &[("graph", "backbone")]), 3.48);
        assert_eq!(get(&s, "torch_compile_seconds", &[("graph", "eagle_head")]), 6.50);
        assert_eq!(get(&s, "profile_warmup_seconds", &[("graph", "backbone")]), 629.28);
        assert_eq!(get(&s, "profile_warmup_seconds", &[("graph", "eagle_head")]), 0.95);
        assert_eq!(get(&s, "kv_cache_tokens", &[]), 94_135.0);
        assert_eq!(get(&s, "cuda_graph_capture_seconds", &[]), 11.0);
        assert_eq!(get(&s, "engine_init_seconds", &[]), 867.33);
        assert_eq!(get(&s, "engine_init_compilation_seconds", &[]), 9.98);
    }

    #[test]
    fn vllm_0_10_1_1_offline_debug_log_without_api_server() {
        let (s, sum) = parse_fixture("vllm-offline-0.10.1.1-debug-patched.log");
        assert!(sum.ready, "engine ready counts as ready without an API server");
        assert_eq!(sum.missing, ["Application startup complete"]);
        // 10:56:50 first DEBUG line, 10:57:00 engine, 10:57:02 load start, 10:57:20 load end,
        // 10:57:32 init engine.
        assert_eq!(
            phases(&s),
            p(&[("config", 10.0), ("worker_init", 2.0), ("model_load", 18.0), ("engine_init", 12.0)])
        );
        assert_eq!(get(&s, "total_seconds", &[("ready", "engine_ready")]), 42.0);
        assert_eq!(get(&s, "tokenizer_init_seconds", &[]), 0.10);
        assert_eq!(get(&s, "model_init_seconds", &[("process", "EngineCore_0")]), 0.16);
        assert_eq!(get(&s, "weights_load_seconds", &[]), 17.84);
        assert_eq!(get(&s, "model_load_seconds", &[]), 17.994467);
        assert_eq!(get(&s, "model_load_memory_gib", &[]), 12.5524);
        assert_eq!(get(&s, "graph_cache_load_seconds", &[("shape", "dynamic shape")]), 3.528);
        assert_eq!(get(&s, "torch_compile_seconds", &[]), 5.54);
        assert_eq!(get(&s, "memory_profiling_seconds", &[]), 10.53);
        assert_eq!(get(&s, "kv_cache_memory_gib", &[]), 70.94);
        assert_eq!(get(&s, "kv_cache_tokens", &[]), 145_264.0);
        assert_eq!(get(&s, "cuda_graph_capture_seconds", &[]), 0.30);
        assert_eq!(get(&s, "cuda_graph_memory_gib", &[]), 0.15);
        assert_eq!(get(&s, "engine_init_seconds", &[]), 11.26);
    }

    #[test]
    fn year_rollover_offset_and_pre_0_8_header() {
        let mut p = StartupParser::new(Options { year: 2025, utc_offset_s: 3600, target: "t".into() });
        p.feed("INFO 12-31 23:59:58 api_server.py:1] vLLM API server version 0.6.3");
        p.feed("INFO 01-01 00:00:03 llm_engine.py:2] Initializing an LLM engine (v0.6.3) with config: x");
        let (s, sum) = p.finish();
        assert_eq!(sum.vllm_lines, 2);
        assert_eq!(phases(&s), p_(&[("config", 5.0)]));
        let start = get(&s, "process_start_time_seconds", &[]);
        assert_eq!(start, (days_from_civil(2025, 12, 31) * 86400 + 22 * 3600 + 59 * 60 + 58) as f64);
    }

    fn p_(list: &[(&str, f64)]) -> Vec<(String, f64)> {
        p(list)
    }

    #[test]
    fn runtime_timestamps_from_kubectl_are_used() {
        // The 0.9.0.1 log as `kubectl logs --timestamps` shows it: each stamped line at .250 s of
        // its second, uvicorn's lines at 06:16:45.900.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/scrape/logs/vllm-startup-0.9.0.1.log");
        let text = std::fs::read_to_string(path).unwrap();
        let header = patterns().header.clone();
        let mut p = StartupParser::new(Options { year: 1999, utc_offset_s: 7200, target: "k".into() });
        for line in text.lines() {
            let stamp = match header.captures(line) {
                Some(c) => format!("2025-{}-{}T{}:{}:{}.250000000Z", &c[2], &c[3], &c[4], &c[5], &c[6]),
                None => "2025-06-10T06:16:45.900Z".to_string(),
            };
            p.feed(&format!("{stamp} {line}"));
        }
        let (s, _) = p.finish();
        assert_eq!(get(&s, "total_seconds", &[]), 29.65, "06:16:16.25 to uvicorn's 06:16:45.9");
        let start = get(&s, "process_start_time_seconds", &[]);
        assert_eq!(start, (days_from_civil(2025, 6, 10) * 86400 + 6 * 3600 + 16 * 60 + 16) as f64 + 0.25);
        assert_eq!(get(&s, "weights_load_seconds", &[]), 0.47);
    }

    #[test]
    fn v0_weights_memory_line() {
        let mut p = StartupParser::new(Options { year: 2025, utc_offset_s: 0, target: "t".into() });
        p.feed("INFO 02-11 10:00:00 model_runner.py:1115] Loading model weights took 14.9888 GB");
        let (s, _) = p.finish();
        assert_eq!(get(&s, "model_load_memory_gib", &[]), 14.9888);
    }

    #[test]
    fn not_a_vllm_log() {
        let mut p = StartupParser::new(Options { year: 2025, utc_offset_s: 0, target: "t".into() });
        for line in [
            "2025-11-28 15:28:09,929 - INFO - autotuner.py:256 - x",
            "hello",
            "INFO:     Application startup complete.",
        ] {
            p.feed(line);
        }
        let (s, sum) = p.finish();
        assert_eq!(sum.vllm_lines, 0);
        assert!(s.is_empty() && !sum.ready);
    }
}
