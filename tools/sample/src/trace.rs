//! Public serving traces (Mooncake, Azure LLM 2023, BurstGPT) as timed request records: the
//! window of the trace to replay, its arrival offsets (`at_ms`), and prompts synthesized to the
//! trace's lengths with the trace's prefix sharing.
//!
//! A trace gives lengths, not text. Each prompt is made of "word tokens": vocabulary entries that
//! are a space followed by ASCII letters (` the`, ` Paris`), each of which the tokenizer encodes
//! back to itself alone. Byte-level BPE pre-tokenizers (GPT-2, Llama 3, Qwen) split text before
//! every space-letter run, so a string of such words encodes to exactly those tokens: the count is
//! exact by construction. Other tokenizers are counted and the tail corrected (see [`Synth::text`]).
//!
//! Mooncake's `hash_ids` name the trace's 512-token blocks (`--hash-block-tokens`): block `j`
//! of a prompt is the first `L` words drawn by a generator seeded with the block's id, `L` the
//! block's length (512, less for the last). Requests agreeing on their first k ids therefore
//! share byte-identical text for those k blocks and differ from the first differing id on.

use crate::datasets::{Item, LoadCtx, Unit};
use crate::tokenizer::TokenCounter;
use anyhow::{anyhow, bail, Result};
use rand::Rng;
use sb_records::{Api, Message};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

use crate::datasets::random::unit_rng;

/// Trace flags (only trace datasets read them).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TraceArgs {
    /// Traces: start of the window to replay, from the trace's first request (90, 90s, 5m, 1h).
    #[arg(long, value_name = "DURATION", value_parser = parse_secs, help_heading = "Traces")]
    pub start: Option<f64>,
    /// Traces: length of the window to replay (default: to the end).
    #[arg(long, value_name = "DURATION", value_parser = parse_secs, help_heading = "Traces")]
    pub duration: Option<f64>,
    /// Traces: replay this many times faster (at_ms divided by it; 0.5 = twice as slow).
    #[arg(long, value_name = "FACTOR", conflicts_with = "target_rate", help_heading = "Traces")]
    pub speed: Option<f64>,
    /// Traces: rescale the window's arrival times to this mean rate (requests/s), keeping the
    /// shape of its bursts (every gap multiplied by one factor).
    #[arg(long, value_name = "REQ_PER_S", help_heading = "Traces")]
    pub target_rate: Option<f64>,
    /// Traces: tokens per Mooncake hash_id block.
    #[arg(long, value_name = "TOKENS", default_value_t = DEFAULT_BLOCK_TOKENS, help_heading = "Traces")]
    pub hash_block_tokens: u32,
}

pub const DEFAULT_BLOCK_TOKENS: u32 = 512;

/// A duration in seconds, in the grammar every servebench tool shares (`sb_cli::duration`):
/// `90`, `1.5`, `90s`, `250ms`, `5m`, `1h`, `1m30s`.
fn parse_secs(s: &str) -> Result<f64, String> {
    sb_cli::parse_duration(s).map(|d| d.as_secs_f64())
}

impl TraceArgs {
    pub fn check(&self) -> Result<()> {
        if let Some(s) = self.speed {
            if !(s.is_finite() && s > 0.0) {
                bail!("--speed {s}: must be a positive number");
            }
        }
        if let Some(r) = self.target_rate {
            if !(r.is_finite() && r > 0.0) {
                bail!("--target-rate {r}: must be a positive number of requests per second");
            }
        }
        if self.hash_block_tokens == 0 {
            bail!("--hash-block-tokens must be at least 1");
        }
        Ok(())
    }
}

/// One request of a trace file, as read.
#[derive(Debug, Clone)]
pub struct TraceRow {
    /// Arrival time in ms on the trace's own clock (any origin).
    pub t_ms: f64,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// Mooncake block ids; empty for traces without prefix information.
    pub hash_ids: Vec<u64>,
    pub session: Option<String>,
    /// `file:line`.
    pub source: String,
}

/// What the window kept, for stderr.
#[derive(Debug, Default)]
pub struct WindowInfo {
    pub rows_read: usize,
    pub kept: usize,
    /// Rows whose time is earlier than the row before them (kept, in file order).
    pub out_of_order: usize,
    /// Span of the kept requests' arrivals, ms, after scaling.
    pub span_ms: f64,
}

/// A kept row: its arrival offset (ms), its index in the file, the row.
pub type Timed = (f64, u64, TraceRow);

/// Cuts the window `[start, start + duration)` (seconds from the first row), keeps its first `n`
/// rows, and returns each kept row with its arrival offset from the window's first request,
/// divided by `--speed` or rescaled to `--target-rate`.
pub fn window(rows: Vec<TraceRow>, args: &TraceArgs, n: Option<usize>) -> Result<(Vec<Timed>, WindowInfo)> {
    let mut info = WindowInfo { rows_read: rows.len(), ..Default::default() };
    let Some(t0) = rows.first().map(|r| r.t_ms) else { bail!("the trace has no rows") };
    let lo = args.start.unwrap_or(0.0) * 1000.0;
    let hi = args.duration.map_or(f64::INFINITY, |d| lo + d * 1000.0);
    let mut prev = f64::NEG_INFINITY;
    let mut kept: Vec<(u64, TraceRow)> = Vec::new();
    for (i, r) in rows.into_iter().enumerate() {
        if r.t_ms < prev {
            info.out_of_order += 1;
        }
        prev = prev.max(r.t_ms);
        let off = r.t_ms - t0;
        if off >= lo && off < hi {
            if n.is_some_and(|n| kept.len() >= n) {
                break;
            }
            kept.push((i as u64, r));
        }
    }
    if kept.is_empty() {
        bail!(
            "the window --start {}s --duration {} holds no request of the trace",
            lo / 1000.0,
            args.duration.map_or("(to the end)".to_string(), |d| format!("{d}s"))
        );
    }
    let first = kept[0].1.t_ms;
    let raw_span = kept.iter().map(|(_, r)| r.t_ms - first).fold(0.0, f64::max);
    let factor = match (args.speed, args.target_rate) {
        (Some(s), _) => 1.0 / s,
        (None, Some(rate)) => {
            if kept.len() < 2 || raw_span <= 0.0 {
                bail!("--target-rate needs a window of at least two requests at different times");
            }
            // Mean rate of a window = (requests - 1) / span: the gaps between arrivals, so the
            // replay's achieved rate (sb-load) is the target.
            let current = (kept.len() - 1) as f64 / (raw_span / 1000.0);
            current / rate
        }
        (None, None) => 1.0,
    };
    info.kept = kept.len();
    info.span_ms = raw_span * factor;
    let out = kept
        .into_iter()
        .map(|(i, r)| {
            // A row earlier than the window's first request arrives with it, never before.
            let at = ((r.t_ms - first).max(0.0)) * factor;
            (at, i, r)
        })
        .collect();
    Ok((out, info))
}

/// The word tokens of a tokenizer (see the module comment), and whether concatenating them is
/// proven to encode to exactly the words.
pub struct WordTable {
    pub words: Vec<Box<str>>,
    pub exact: bool,
    /// Tokens the request adds around the content: a BOS for completions, the chat template's
    /// frame for chat.
    pub overhead_tokens: u32,
}

impl std::fmt::Debug for WordTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WordTable({} words, exact: {})", self.words.len(), self.exact)
    }
}

impl WordTable {
    pub fn new(tok: &TokenCounter, api: Api) -> Result<WordTable> {
        let words = tok.word_tokens().to_vec();
        if words.len() < 256 {
            bail!(
                "tokenizer {} has only {} tokens of the form ' letters' to build trace prompts from",
                tok.name,
                words.len()
            );
        }
        let probe = &words[0];
        let overhead_tokens = count_api(tok, api, probe)?.saturating_sub(1);
        Ok(WordTable { words, exact: tok.words_concatenate_exactly(), overhead_tokens })
    }
}

fn count_api(tok: &TokenCounter, api: Api, text: &str) -> Result<u32> {
    match api {
        Api::Completions => tok.count(text),
        Api::Chat => tok.count_chat(&[Message { role: "user".into(), content: text.to_string() }]),
    }
}

/// Stream of a block's words keyed by its hash id; stream of a request's own (unshared) words.
const STREAM_BLOCK: u64 = 7;
const STREAM_OWN: u64 = 8;
const STREAM_FIX: u64 = 9;

/// The recipe of one trace prompt, built when the request is written (so the prompts of a whole
/// trace are never all in memory).
#[derive(Debug, Clone)]
pub struct Synth {
    pub table: Arc<WordTable>,
    pub seed: u64,
    /// Row index in the file: seeds the words no block id covers.
    pub row: u64,
    pub hash_ids: Vec<u64>,
    pub block_tokens: u32,
    /// The trace's input length: what the server should count.
    pub input_tokens: u32,
}

impl Synth {
    fn content_tokens(&self) -> u32 {
        self.input_tokens.saturating_sub(self.table.overhead_tokens).max(1)
    }

    /// The prompt's token count when it is exact by construction (no need to count it).
    pub fn exact_tokens(&self) -> Option<u32> {
        self.table.exact.then(|| self.content_tokens() + self.table.overhead_tokens)
    }

    fn push_words(&self, out: &mut String, rng: &mut rand_chacha::ChaCha8Rng, k: u32) {
        let w = &self.table.words;
        for _ in 0..k {
            out.push_str(&w[rng.random_range(0..w.len())]);
        }
    }

    /// The prompt text: `input_tokens` tokens once the request's frame (BOS, chat template) is
    /// added. Exact by construction for byte-level BPE tokenizers; for others the text is
    /// counted and words are added or removed at its end, up to 8 times, until it fits.
    pub fn text(&self, tok: &TokenCounter, api: Api) -> Result<String> {
        let target = self.content_tokens();
        let mut out = String::with_capacity(target as usize * 8);
        let mut left = target;
        for &id in &self.hash_ids {
            if left == 0 {
                break;
            }
            let len = left.min(self.block_tokens);
            self.push_words(&mut out, &mut unit_rng(self.seed, STREAM_BLOCK, id & 0xffff_ffff_ffff), len);
            left -= len;
        }
        // Tokens past the trace's blocks (or a trace without blocks) are this request's own.
        if left > 0 {
            self.push_words(&mut out, &mut unit_rng(self.seed, STREAM_OWN, self.row), left);
        }
        if self.table.exact {
            return Ok(out);
        }
        let mut fix = unit_rng(self.seed, STREAM_FIX, self.row);
        for _ in 0..8 {
            let n = count_api(tok, api, &out)?;
            if n == self.input_tokens {
                break;
            }
            if n < self.input_tokens {
                self.push_words(&mut out, &mut fix, self.input_tokens - n);
            } else {
                // Drop whole words from the end (each starts with its space).
                for _ in 0..(n - self.input_tokens) {
                    match out.rfind(' ') {
                        Some(i) if i > 0 => out.truncate(i),
                        _ => break,
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The prefix-cache hit rate an infinite cache of `block_tokens`-token blocks would see on the
/// trace, from its hash_ids alone: a block hits when the same chain of ids up to and including it
/// was in an earlier request (ids are compared as prefixes, as a block-hash cache does).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct IdealHits {
    pub block_tokens: u32,
    pub requests: usize,
    pub blocks: u64,
    pub block_hits: u64,
    pub tokens: u64,
    pub token_hits: u64,
}

impl IdealHits {
    pub fn block_rate(&self) -> f64 {
        if self.blocks == 0 {
            0.0
        } else {
            self.block_hits as f64 / self.blocks as f64
        }
    }
    /// Hit tokens / prompt tokens: what vLLM's `prefix_cache_hits / prefix_cache_queries` counts.
    pub fn token_rate(&self) -> f64 {
        if self.tokens == 0 {
            0.0
        } else {
            self.token_hits as f64 / self.tokens as f64
        }
    }
}

/// `requests`: each request's hash_ids and input length, in arrival order. A block's token hits
/// are capped by how much of it earlier requests held (a shorter last block of an earlier
/// request covers only its own length), and matching stops at the first block that is not
/// wholly held.
pub fn ideal_hits<'a>(requests: impl IntoIterator<Item = (&'a [u64], u32)>, block_tokens: u32) -> IdealHits {
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut h = IdealHits { block_tokens, ..Default::default() };
    let b = block_tokens as u64;
    for (ids, input) in requests {
        h.requests += 1;
        h.tokens += input as u64;
        let mut chain: u64 = 0xcbf2_9ce4_8422_2325;
        let mut matching = true;
        for (j, &id) in ids.iter().enumerate() {
            let start = j as u64 * b;
            if start >= input as u64 {
                break;
            }
            let len = (input as u64 - start).min(b) as u32;
            chain = (chain ^ id).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29) ^ (j as u64);
            h.blocks += 1;
            let held = seen.get(&chain).copied().unwrap_or(0);
            if matching && held > 0 {
                h.block_hits += 1;
                h.token_hits += held.min(len) as u64;
                matching = held >= len;
            } else {
                matching = false;
            }
            let e = seen.entry(chain).or_insert(0);
            *e = (*e).max(len);
        }
    }
    h
}

/// Parses an Azure trace TIMESTAMP (`2023-11-16 18:15:46.6805900`, up to 9 fractional digits,
/// an optional `T`, an optional `+00:00`/`Z` suffix) into integer nanoseconds since 1970 (UTC
/// taken as is): exact, no float in between.
pub fn parse_wall_ns(s: &str) -> Result<i64> {
    let bad = || anyhow!("bad timestamp {s:?} (expected YYYY-MM-DD HH:MM:SS[.fraction])");
    let t = s.trim();
    let t = t.strip_suffix('Z').unwrap_or(t);
    let t = match t.get(19..).and_then(|rest| rest.find(['+', '-'])) {
        Some(i) if t[19 + i..].contains(':') => &t[..19 + i],
        _ => t,
    };
    if t.len() < 19 {
        return Err(bad());
    }
    let b = t.as_bytes();
    if b[4] != b'-' || b[7] != b'-' || !(b[10] == b' ' || b[10] == b'T') || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| t[r].parse::<i64>().map_err(|_| bad());
    let (y, mo, d, hh, mm, ss) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    let mut frac_ns = 0i64;
    if t.len() > 19 {
        let frac = t[19..].strip_prefix('.').ok_or_else(bad)?;
        if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        frac_ns = frac.parse::<i64>().map_err(|_| bad())? * 10i64.pow(9 - frac.len() as u32);
    }
    let days = sb_cli::civil::days_from_civil(y, mo, d);
    Ok(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000_000) + frac_ns)
}

/// The units of a trace dataset: the window's rows as timed requests with synthesized prompts,
/// `max_tokens` = the trace's output length with `ignore_eos`, so the server generates it. A row
/// with a `session` becomes turn k of it (k counted in the window), in arrival order.
pub fn units(name: &str, rows: Vec<TraceRow>, ctx: &LoadCtx) -> Result<Vec<Unit>> {
    let args = &ctx.opts.trace;
    args.check()?;
    let (kept, info) = window(rows, args, ctx.opts.n)?;
    eprintln!("{}", describe_window(name, &info));
    let table = Arc::new(WordTable::new(ctx.tok, ctx.api)?);
    let mut turns: HashMap<String, u32> = HashMap::new();
    let mut out = Vec::with_capacity(kept.len());
    for (at_ms, index, r) in kept {
        let mut params = Map::new();
        params.insert("ignore_eos".into(), Value::Bool(true));
        let turn = r.session.as_ref().map(|s| {
            let t = turns.entry(s.clone()).or_insert(0);
            *t += 1;
            *t - 1
        });
        out.push(Unit::one(Item {
            max_tokens: Some(r.output_tokens.max(1)),
            params,
            source: r.source,
            at_ms: Some(at_ms),
            session: r.session,
            turn,
            synth: Some(Synth {
                table: table.clone(),
                seed: ctx.opts.seed,
                row: index,
                hash_ids: r.hash_ids,
                block_tokens: args.hash_block_tokens,
                input_tokens: r.input_tokens,
            }),
            ..Default::default()
        }));
    }
    Ok(out)
}

/// The ideal hit rate of trace units (from their recipes), for `inspect`.
pub fn ideal_of_units(units: &[Unit]) -> Option<IdealHits> {
    let synths: Vec<&Synth> = units.iter().flat_map(|u| &u.items).filter_map(|i| i.synth.as_ref()).collect();
    let block = synths.first()?.block_tokens;
    if synths.iter().all(|s| s.hash_ids.is_empty()) {
        return None;
    }
    Some(ideal_hits(synths.iter().map(|s| (s.hash_ids.as_slice(), s.input_tokens)), block))
}

/// A line for stderr about the window a run replays.
pub fn describe_window(name: &str, info: &WindowInfo) -> String {
    let rate = if info.span_ms > 0.0 { (info.kept.saturating_sub(1)) as f64 / (info.span_ms / 1000.0) } else { 0.0 };
    let mut s = format!(
        "sb-sample: {name}: {} of {} trace rows in the window, arrivals over {:.1} s (mean {:.2} req/s)",
        info.kept,
        info.rows_read,
        info.span_ms / 1000.0,
        rate
    );
    if info.out_of_order > 0 {
        s.push_str(&format!("; {} rows earlier than the row before them, kept in file order", info.out_of_order));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t_ms: f64) -> TraceRow {
        TraceRow { t_ms, input_tokens: 10, output_tokens: 2, hash_ids: vec![], session: None, source: String::new() }
    }

    #[test]
    fn window_offsets_speed_and_target_rate() {
        let rows: Vec<TraceRow> = [1000.0, 1500.0, 3000.0, 7000.0, 9000.0].into_iter().map(row).collect();
        let at = |args: &TraceArgs, n| {
            window(rows.clone(), args, n).unwrap().0.iter().map(|(a, _, _)| *a).collect::<Vec<_>>()
        };
        assert_eq!(at(&TraceArgs::default(), None), [0.0, 500.0, 2000.0, 6000.0, 8000.0]);
        let w = TraceArgs { start: Some(1.0), duration: Some(6.0), ..Default::default() };
        // Offsets 500..=6000 are in [1000, 7000): 2000 and 6000; the first of them is the origin.
        assert_eq!(at(&w, None), [0.0, 4000.0]);
        assert_eq!(at(&TraceArgs::default(), Some(2)), [0.0, 500.0]);
        assert_eq!(
            at(&TraceArgs { speed: Some(2.0), ..Default::default() }, None),
            [0.0, 250.0, 1000.0, 3000.0, 4000.0]
        );
        // 4 gaps over 8 s = 0.5 req/s; to 2 req/s every gap shrinks 4 times.
        assert_eq!(
            at(&TraceArgs { target_rate: Some(2.0), ..Default::default() }, None),
            [0.0, 125.0, 500.0, 1500.0, 2000.0]
        );
        assert!(window(rows.clone(), &TraceArgs { start: Some(100.0), ..Default::default() }, None).is_err());
    }

    #[test]
    fn synthesized_prompts_have_the_exact_count_for_both_apis() {
        let cases: Vec<(Vec<u64>, u32)> = vec![(vec![0, 1, 2], 1100), (vec![0, 3], 900), (vec![], 37), (vec![9], 3)];
        for name in ["gpt2", "qwen3-0.6b"] {
            let tok = crate::tokenizer::fixture(name);
            for api in [Api::Completions, Api::Chat] {
                if api == Api::Chat && !tok.has_chat_template() {
                    continue;
                }
                let table = Arc::new(WordTable::new(&tok, api).unwrap());
                assert!(table.exact, "{name}");
                for (row, (ids, input)) in cases.iter().cloned().enumerate() {
                    let s = Synth {
                        table: table.clone(),
                        seed: 3,
                        row: row as u64,
                        hash_ids: ids,
                        block_tokens: 512,
                        input_tokens: input,
                    };
                    let text = s.text(&tok, api).unwrap();
                    // A prompt shorter than the request's frame gets one word of content.
                    let want = input.max(table.overhead_tokens + 1);
                    assert_eq!(count_api(&tok, api, &text).unwrap(), want, "{name} {}", api.as_str());
                    if api == Api::Completions {
                        assert_eq!(tok.encode_ids_slow(&text, true).unwrap().len() as u32, want);
                    }
                    assert_eq!(s.exact_tokens(), Some(want));
                }
            }
        }
        // The counted path (tokenizers without the proof) corrects the tail until it fits: here
        // a table that does not know the chat template's frame (9 tokens for Qwen3).
        let tok = crate::tokenizer::fixture("qwen3-0.6b");
        let table = Arc::new(WordTable { words: tok.word_tokens().to_vec(), exact: false, overhead_tokens: 0 });
        let s = Synth { table, seed: 1, row: 0, hash_ids: vec![4], block_tokens: 512, input_tokens: 700 };
        assert_eq!(s.exact_tokens(), None);
        assert_eq!(count_api(&tok, Api::Chat, &s.text(&tok, Api::Chat).unwrap()).unwrap(), 700);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_secs("90").unwrap(), 90.0);
        assert_eq!(parse_secs("1m30s").unwrap(), 90.0);
        assert_eq!(parse_secs("250ms").unwrap(), 0.25);
        assert_eq!(parse_secs("2h").unwrap(), 7200.0);
        assert!(parse_secs("5x").is_err());
        assert!(parse_secs("-1").is_err());
    }

    #[test]
    fn azure_timestamps_are_exact() {
        let a = parse_wall_ns("2023-11-16 18:15:46.6805900").unwrap();
        let b = parse_wall_ns("2023-11-16 18:15:50.9951690").unwrap();
        assert_eq!(b - a, 4_314_579_000);
        assert_eq!(parse_wall_ns("1970-01-01 00:00:01").unwrap(), 1_000_000_000);
        assert_eq!(parse_wall_ns("2024-05-12 00:00:00+00:00").unwrap(), parse_wall_ns("2024-05-12T00:00:00Z").unwrap());
        // 2023-11-16 is day 19677 since 1970-01-01.
        assert_eq!(parse_wall_ns("2023-11-16 00:00:00").unwrap(), 19_677 * 86_400 * 1_000_000_000);
        for bad in ["2023-11-16", "2023/11/16 18:15:46", "2023-11-16 18:15:46.", "2023-13-01 00:00:00"] {
            assert!(parse_wall_ns(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ideal_hits_follow_prefix_chains() {
        // Request 2 repeats block 0 of request 1, then differs; request 3 repeats all of 1.
        let reqs: Vec<(Vec<u64>, u32)> = vec![(vec![0, 1, 2], 1100), (vec![0, 3], 900), (vec![0, 1, 2], 1100)];
        let h = ideal_hits(reqs.iter().map(|(i, n)| (i.as_slice(), *n)), 512);
        assert_eq!(h.blocks, 8);
        assert_eq!(h.block_hits, 4);
        assert_eq!(h.tokens, 3100);
        assert_eq!(h.token_hits, 512 + 1100);
        // The same id after a different prefix is a different block.
        let h = ideal_hits([(&[5u64, 7][..], 1024), (&[6u64, 7][..], 1024)], 512);
        assert_eq!(h.block_hits, 0);
        // A request longer than an earlier one's short last block hits only that block's length.
        let h = ideal_hits([(&[0u64, 1][..], 600), (&[0u64, 1, 2][..], 1500)], 512);
        assert_eq!(h.token_hits, 600);
    }
}
