//! Mooncake's FAST'25 traces (github.com/kvcache-ai/Mooncake, `FAST25-release/traces/`), as
//! vLLM, guidellm, sglang and aiperf replay them: one JSON object a line with `timestamp` (ms
//! from the trace start), `input_length`, `output_length` (tokens) and `hash_ids` (one id per
//! 512-token block; equal ids are identical blocks). Prompts are synthesized with the trace's
//! prefix sharing (see `trace.rs`).

use super::{Dataset, LoadCtx, Task, Unit};
use crate::trace::{self, TraceRow};
use anyhow::{anyhow, bail, Result};
use serde::Deserialize;

pub struct Mooncake;

#[derive(Deserialize)]
struct Line {
    timestamp: f64,
    input_length: u32,
    output_length: u32,
    #[serde(default)]
    hash_ids: Vec<u64>,
}

/// Reads a Mooncake-format JSONL file (`.gz` too).
pub fn read(path: &std::path::Path) -> Result<Vec<TraceRow>> {
    let bytes = crate::formats::read_maybe_gz(path)?;
    let name = path.display().to_string();
    let text = std::str::from_utf8(&bytes).map_err(|e| anyhow!("{name}: not UTF-8 text: {e}"))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let l: Line = serde_json::from_str(line).map_err(|e| {
            anyhow!(
                "{name}:{}: not a Mooncake trace line (timestamp, input_length, output_length, hash_ids): {e}",
                i + 1
            )
        })?;
        if !l.timestamp.is_finite() {
            bail!("{name}:{}: timestamp {} is not a number of ms", i + 1, l.timestamp);
        }
        rows.push(TraceRow {
            t_ms: l.timestamp,
            input_tokens: l.input_length,
            output_tokens: l.output_length,
            hash_ids: l.hash_ids,
            session: None,
            source: format!("{}:{}", super::shorten_loc(&name), i + 1),
        });
    }
    Ok(rows)
}

impl Dataset for Mooncake {
    fn name(&self) -> &'static str {
        "mooncake"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        None
    }
    fn about(&self) -> &'static str {
        "Mooncake FAST'25 traces (kvcache-ai/Mooncake FAST25-release/traces/*.jsonl): arrival times, lengths and hash_ids prefix sharing"
    }
    fn tasks(&self) -> &'static [Task] {
        &[Task {
            name: "replay",
            about: "one request per line: at_ms = timestamp offset, prompt of input_length tokens sharing hash_id blocks, max_tokens = output_length, ignore_eos",
            chat: false,
        }]
    }
    fn flags(&self) -> &'static str {
        "--source FILE|DIR (--config conversation|synthetic|toolagent picks the file in a DIR or --repo) --start --duration --speed --target-rate -n --hash-block-tokens (512)"
    }
    fn is_trace(&self) -> bool {
        true
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let config = ctx.opts.config.as_deref().unwrap_or("conversation");
        let exact = format!("{config}_trace.jsonl");
        let nested = format!("**/{config}_trace.jsonl");
        let any = format!("**/{config}_trace*.jsonl*");
        let files = ctx.files.find(&[&exact, &nested, &any])?;
        let mut rows = Vec::new();
        for f in &files {
            rows.extend(read(f)?);
        }
        trace::units(self.name(), rows, ctx)
    }
}
