//! Reading the input streams: result records into aggregates (the whole run, each stage, each
//! turn of multi-turn sessions, each `--group-by` value), run records and metric samples kept
//! as they are (there are few of them).

use crate::aggregate::Aggregate;
use crate::result::{group_field, Observation};
use crate::samples::SeriesStore;
use crate::slo::Slo;
use sb_records::{Input, ReadError, RecordReader, ResultView, RunRecord, Sample};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::BufRead;

/// Most `--group-by` values: each group keeps its own distributions, and a table of more rows
/// than this is no longer a summary.
const MAX_GROUPS: usize = 10_000;

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub percentiles: Vec<f64>,
    pub slo: Slo,
    pub group_by: Option<String>,
    /// Keep one row per request for vLLM's per-request arrays (`--vllm-json`); `full` with
    /// `--save-detailed`.
    pub per_request: PerRequest,
    /// vLLM's `--percentile-metrics`: the metrics that get percentile rows (None: all).
    pub percentile_metrics: Option<Vec<String>>,
}

/// How much of each request `--vllm-json` writes, as vLLM `bench serve` does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PerRequest {
    #[default]
    None,
    /// `latencies` and `queue_times`: vLLM saves these always.
    Always,
    /// Also `input_lens`, `output_lens`, `ttfts`, `itls`, `start_times`, `generated_texts`,
    /// `errors` (vLLM's `--save-detailed`).
    Detailed,
}

/// One measured request as vLLM's per-request arrays see it (seconds, as vLLM's are).
#[derive(Clone, Debug)]
pub struct RequestRow {
    pub scheduled_ns: u64,
    pub sent_ns: u64,
    pub input_len: u32,
    pub output_len: u32,
    pub ttft_s: f64,
    pub itl_s: Vec<f64>,
    pub latency_s: f64,
    pub queue_s: f64,
    pub text: String,
    pub error: String,
}

/// Shards seen of one run id.
#[derive(Clone, Debug, Default)]
pub struct RunShards {
    pub results: u64,
    pub shards: BTreeSet<String>,
    /// Distinct results present, warm-up included, by shard (`-` when unsharded): what the run
    /// records' `requests.results` are checked against.
    pub present: BTreeMap<String, u64>,
}

/// Results read more than once (the same `run` and `id`, e.g. one file given twice): each is
/// counted once; the report says how many there were.
#[derive(Clone, Debug, Default)]
pub struct Duplicates {
    pub count: u64,
    /// The first one, as (run, id), for the warning.
    pub first: Option<(String, String)>,
    /// Run records read more than once (same run, shard and start), kept once.
    pub run_records: u64,
}

pub struct Collector {
    pub opts: Options,
    pub total: Aggregate,
    pub stages: BTreeMap<u32, Aggregate>,
    pub turns: BTreeMap<u32, Aggregate>,
    pub groups: BTreeMap<String, Group>,
    pub sessions: HashSet<String>,
    pub runs: BTreeMap<String, RunShards>,
    pub run_records: Vec<RunRecord>,
    /// sb-sweep's `sweep` records (a sweep's output ends with one; docs/records.md).
    pub sweeps: Vec<sb_records::SweepRecord>,
    pub series: SeriesStore,
    pub results: u64,
    pub warmup_skipped: u64,
    /// The first `api` and `tokenizer` seen, for vLLM's `endpoint_type` and `tokenizer_id`.
    pub api: Option<String>,
    pub tokenizer: Option<String>,
    pub inputs: Vec<String>,
    pub duplicates: Duplicates,
    /// One row per measured request, with `Options::per_request` (vLLM's arrays).
    pub rows: Vec<RequestRow>,
    /// 64-bit hashes of every (run, id) seen: 8 bytes a result, so a million results cost
    /// about 16 MB. A false duplicate needs two distinct (run, id) to collide in 64 bits
    /// (about 1 in 10^7 for a million results).
    seen: HashSet<u64>,
}

/// The key of a result for duplicate detection.
fn result_key(run: &str, id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    run.hash(&mut h);
    id.hash(&mut h);
    h.finish()
}

impl Collector {
    pub fn new(opts: Options) -> Collector {
        Collector {
            opts,
            total: Aggregate::new(),
            stages: BTreeMap::new(),
            turns: BTreeMap::new(),
            groups: BTreeMap::new(),
            sessions: HashSet::new(),
            runs: BTreeMap::new(),
            run_records: Vec::new(),
            sweeps: Vec::new(),
            series: SeriesStore::default(),
            results: 0,
            warmup_skipped: 0,
            api: None,
            tokenizer: None,
            inputs: Vec::new(),
            duplicates: Duplicates::default(),
            rows: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Reads one whole input. A bad line stops with an error naming the file and line.
    pub fn read(&mut self, input: Input) -> Result<(), ReadError> {
        self.inputs.push(input.name.clone());
        self.read_records(RecordReader::new(input.name, input.reader))
    }

    pub fn read_records<R: BufRead>(&mut self, mut reader: RecordReader<R>) -> Result<(), ReadError> {
        // Reused for every result: the chunk times, and the line without them.
        let mut chunks: Vec<u64> = Vec::new();
        let mut rest = String::new();
        while let Some(next) = reader.next_line() {
            let (kind, line) = next?;
            let outcome: Result<(), String> = match kind {
                "result" => {
                    let fast = split_chunks(line, &mut chunks, &mut rest);
                    let parsed = serde_json::from_str::<ResultView>(if fast { &rest } else { line });
                    match parsed {
                        Ok(mut r) => {
                            if fast {
                                r.chunks_ns = std::mem::take(&mut chunks);
                            }
                            let added = self.add_result(&r);
                            if fast {
                                chunks = std::mem::take(&mut r.chunks_ns);
                            }
                            added
                        }
                        Err(e) => Err(format!("bad result record: {}", serde_message(&e))),
                    }
                }
                "run" => match serde_json::from_str::<RunRecord>(line) {
                    Ok(r) => {
                        let same = |o: &RunRecord| {
                            o.run == r.run
                                && o.started_ns == r.started_ns
                                && crate::generator::shard_of(o) == crate::generator::shard_of(&r)
                        };
                        if self.run_records.iter().any(same) {
                            self.duplicates.run_records += 1;
                        } else {
                            self.run_records.push(r);
                        }
                        Ok(())
                    }
                    Err(e) => Err(format!("bad run record: {}", serde_message(&e))),
                },
                "sample" => match serde_json::from_str::<Sample>(line) {
                    Ok(s) => {
                        self.series.add(&s);
                        Ok(())
                    }
                    Err(e) => Err(format!("bad sample record: {}", serde_message(&e))),
                },
                "request" => {
                    Err("a request record: sb-report reads what sb-load writes (results), not its input".into())
                }
                "summary" => Err("a summary record: sb-report summarises result records, not summaries".into()),
                // A sweep plan may travel with the results of its points; it holds no measurement.
                "plan" => Ok(()),
                // sb-sweep's result, after the records of its points: printed as the capacity.
                "sweep" => match serde_json::from_str::<sb_records::SweepRecord>(line) {
                    Ok(s) => {
                        self.sweeps.push(s);
                        Ok(())
                    }
                    Err(e) => Err(format!("bad sweep record: {}", serde_message(&e))),
                },
                other => Err(format!("sb-report cannot use {other} records")),
            };
            if let Err(message) = outcome {
                return Err(reader.error_here(message));
            }
        }
        Ok(())
    }

    /// Adds one result; the error is about a `--group-by` with too many values.
    pub fn add_result(&mut self, r: &ResultView<'_>) -> Result<(), String> {
        let run = r.run.as_deref().unwrap_or("-");
        if !r.id.is_empty() && !self.seen.insert(result_key(run, &r.id)) {
            self.duplicates.count += 1;
            if self.duplicates.first.is_none() {
                self.duplicates.first = Some((run.to_string(), r.id.to_string()));
            }
            return Ok(());
        }
        let entry = match self.runs.get_mut(run) {
            Some(e) => e,
            None => self.runs.entry(run.to_string()).or_default(),
        };
        let shard = r.shard.as_deref().unwrap_or("-");
        match entry.present.get_mut(shard) {
            Some(n) => *n += 1,
            None => {
                entry.present.insert(shard.to_string(), 1);
            }
        }
        if !r.warmup {
            entry.results += 1;
            if let Some(shard) = r.shard.as_deref() {
                if !entry.shards.contains(shard) {
                    entry.shards.insert(shard.to_string());
                }
            }
        }
        if r.warmup {
            self.warmup_skipped += 1;
            return Ok(());
        }
        self.results += 1;
        if self.api.is_none() {
            self.api = Some(r.api.as_deref().unwrap_or("completions").to_string());
        }
        if self.tokenizer.is_none() {
            self.tokenizer = r.tokenizer.as_deref().map(str::to_string);
        }
        let o = Observation::of(r, &self.opts.slo);
        if self.opts.per_request != PerRequest::None {
            self.rows.push(row(r, &o, self.opts.per_request == PerRequest::Detailed));
        }
        self.total.add(r, &o);
        if let Some(stage) = r.stage {
            self.stages.entry(stage).or_default().add(r, &o);
        }
        if let Some(turn) = r.turn {
            self.turns.entry(turn).or_default().add(r, &o);
        }
        if let Some(session) = r.session.as_deref() {
            if !self.sessions.contains(session) {
                self.sessions.insert(session.to_string());
            }
        }
        if let Some(field) = &self.opts.group_by {
            let key = group_field(r, field);
            match self.groups.get_mut(&key) {
                Some(g) => {
                    g.agg.add(r, &o);
                    g.mixes_runs = g.mixes_runs || g.first_run != run;
                }
                None => {
                    if self.groups.len() >= MAX_GROUPS {
                        return Err(format!(
                            "--group-by {field}: more than {MAX_GROUPS} distinct values; group by a coarser field"
                        ));
                    }
                    let mut agg = Aggregate::new();
                    agg.add(r, &o);
                    self.groups.insert(key, Group { agg, first_run: run.to_string(), mixes_runs: false });
                }
            }
        }
        Ok(())
    }
}

/// One `--group-by` value's results, and whether they came from more than one run (its row
/// then mixes runs).
pub struct Group {
    pub agg: Aggregate,
    first_run: String,
    pub mixes_runs: bool,
}

/// vLLM's view of one request (`RequestFuncOutput`): a failed request has zeros and its error.
fn row(r: &ResultView<'_>, o: &Observation, detailed: bool) -> RequestRow {
    let s = |ns: u64| ns as f64 / 1e9;
    let itl_s = if detailed && o.ok {
        r.chunks_ns.windows(2).map(|w| s(w[1].saturating_sub(w[0]))).collect()
    } else {
        Vec::new()
    };
    RequestRow {
        scheduled_ns: r.scheduled_ns,
        sent_ns: r.sent_ns,
        input_len: o.input_len.unwrap_or(0),
        output_len: if o.ok { o.output_len.unwrap_or(0) } else { 0 },
        ttft_s: if o.ok { o.latency.ttft_ns.map_or(0.0, s) } else { 0.0 },
        itl_s,
        latency_s: if o.ok { s(o.latency.e2el_ns) } else { 0.0 },
        queue_s: s(o.queue_ns),
        text: if detailed { r.text.as_deref().unwrap_or("").to_string() } else { String::new() },
        error: if o.ok { String::new() } else { r.error.as_deref().map(sb_cli::printable).unwrap_or_default() },
    }
}

/// serde's message without its own "at line 1 column N" (the reader names the real line).
fn serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let head = text.rfind(" at line ").map_or(text.as_str(), |i| &text[..i]);
    format!("{head} (column {})", e.column())
}

/// The fast path for the biggest field of a result line: `,"chunks_ns":[1,2,...]` as our
/// writer prints it (compact, integers). Parses the numbers into `chunks` and leaves the line
/// without that field in `rest`, for serde to read the other fields. Returns false (and the
/// caller lets serde read the whole line, reporting any error) when the field is absent or
/// written any other way. The pattern cannot occur inside a JSON string, where `"` is escaped.
fn split_chunks(line: &str, chunks: &mut Vec<u64>, rest: &mut String) -> bool {
    const KEY: &str = ",\"chunks_ns\":[";
    // A SIMD search for the whole key (str::find stops at every comma of the line).
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(KEY));
    let Some(at) = FINDER.find(line.as_bytes()) else { return false };
    let open = at + KEY.len();
    let Some(len) = memchr::memchr(b']', &line.as_bytes()[open..]) else { return false };
    let close = open + len;
    chunks.clear();
    let bytes = &line.as_bytes()[open..close];
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let mut value = 0u64;
        // Eight digits at a time while there are eight (chunk offsets are ~8-9 digit numbers).
        while let Some(eight) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(eight.try_into().unwrap());
            if !all_digits(word) {
                break;
            }
            value = value.wrapping_mul(100_000_000).wrapping_add(eight_digits(word));
            i += 8;
        }
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            value = value.wrapping_mul(10).wrapping_add((bytes[i] - b'0') as u64);
            i += 1;
        }
        let digits = i - start;
        // Up to 19 digits always fit a u64; longer numbers are checked (and past u64 go to serde).
        if digits == 0 || (digits > 19 && line[open + start..open + i].parse::<u64>().is_err()) {
            return false;
        }
        chunks.push(value);
        if i < bytes.len() {
            if bytes[i] != b',' || i + 1 == bytes.len() {
                return false;
            }
            i += 1;
        }
    }
    rest.clear();
    rest.push_str(&line[..at]);
    rest.push_str(&line[close + 1..]);
    true
}

/// True when all eight bytes of `word` are ASCII digits.
fn all_digits(word: u64) -> bool {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    // Digits are 0x30..=0x39: high nibble 3, and adding 6 does not carry into the high nibble.
    (word & HIGH) | (((word.wrapping_add(0x0606_0606_0606_0606)) & HIGH) >> 4) == 0x3333_3333_3333_3333
}

/// The value of eight ASCII digits read little-endian (first digit in the lowest byte).
fn eight_digits(word: u64) -> u64 {
    let w = word - 0x3030_3030_3030_3030;
    let w = (w.wrapping_mul(10) + (w >> 8)) & 0x00FF_00FF_00FF_00FF;
    let w = (w.wrapping_mul(100) + (w >> 16)) & 0x0000_FFFF_0000_FFFF;
    (w.wrapping_mul(10_000) + (w >> 32)) & 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_fast_path_agrees_with_serde() {
        let (mut chunks, mut rest) = (Vec::new(), String::new());
        let line = r#"{"kind":"result","v":1,"chunks_ns":[5,17,18446744073709551615],"done_ns":3}"#;
        assert!(split_chunks(line, &mut chunks, &mut rest));
        assert_eq!(chunks, [5, 17, u64::MAX]);
        assert_eq!(rest, r#"{"kind":"result","v":1,"done_ns":3}"#);
        assert!(split_chunks(r#"{"a":1,"chunks_ns":[]}"#, &mut chunks, &mut rest));
        assert!(chunks.is_empty());
        assert_eq!(rest, r#"{"a":1}"#);
        // Every length around the eight-digit step, against str::parse.
        let numbers: Vec<u64> =
            (0..20).map(|d| 10u64.pow(d) + 987_654_321 % 10u64.pow(d)).chain([0, 7, 12345678]).collect();
        let line = format!(",\"chunks_ns\":[{}]", numbers.iter().map(u64::to_string).collect::<Vec<_>>().join(","));
        assert!(split_chunks(&line, &mut chunks, &mut rest));
        assert_eq!(chunks, numbers);
        assert!(!all_digits(u64::from_le_bytes(*b"1234567:")) && !all_digits(u64::from_le_bytes(*b"/2345678")));
        for other in [
            r#"{"a":1,"chunks_ns": [1]}"#,
            r#"{"a":1,"chunks_ns":[1, 2]}"#,
            r#"{"a":1,"chunks_ns":[1.5]}"#,
            r#"{"a":1,"chunks_ns":[-1]}"#,
            r#"{"a":1,"chunks_ns":[1,]}"#,
            r#"{"a":1,"chunks_ns":[,1]}"#,
            r#"{"a":1,"chunks_ns":[184467440737095516150]}"#,
            r#"{"chunks_ns":[1]}"#,
        ] {
            assert!(!split_chunks(other, &mut chunks, &mut rest), "{other}");
        }
    }
}
