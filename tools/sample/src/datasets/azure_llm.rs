//! Azure LLM inference traces 2023 (github.com/Azure/AzurePublicDataset,
//! `data/AzureLLMInferenceTrace_{code,conv}.csv`; the 2024 week-long files have the same
//! columns): CSV `TIMESTAMP,ContextTokens,GeneratedTokens`, TIMESTAMP a wall-clock time with 7
//! fractional digits (`2023-11-16 18:15:46.6805900`), parsed to integer nanoseconds exactly. No
//! prefix information: every prompt is its own text.

use super::{Dataset, LoadCtx, Task, Unit};
use crate::trace::{self, TraceRow};
use anyhow::{anyhow, Result};

pub struct AzureLlm;

/// Reads an Azure-format CSV (`.gz` too); columns are found by their header names.
pub fn read(path: &std::path::Path) -> Result<Vec<TraceRow>> {
    let bytes = crate::formats::read_maybe_gz(path)?;
    let name = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).from_reader(&bytes[..]);
    let headers = reader.headers().map_err(|e| anyhow!("{name}:1: bad CSV header: {e}"))?.clone();
    let col = |want: &str| {
        headers.iter().position(|h| h.eq_ignore_ascii_case(want)).ok_or_else(|| {
            anyhow!(
                "{name}:1: no column {want:?} (columns: {}; expected TIMESTAMP,ContextTokens,GeneratedTokens)",
                headers.iter().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let (ts, ctx_col, gen_col) = (col("TIMESTAMP")?, col("ContextTokens")?, col("GeneratedTokens")?);
    let short = super::shorten_loc(&name);
    let mut rows = Vec::new();
    let mut first_ns: Option<i64> = None;
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| anyhow!("{name}:{line}: bad CSV: {e}"))?;
        let field = |c: usize, what: &str| rec.get(c).ok_or_else(|| anyhow!("{name}:{line}: no {what} field"));
        let ns = trace::parse_wall_ns(field(ts, "TIMESTAMP")?).map_err(|e| anyhow!("{name}:{line}: {e}"))?;
        let num = |c: usize, what: &str| -> Result<u32> {
            let v = field(c, what)?;
            v.parse().map_err(|_| anyhow!("{name}:{line}: {what} {v:?} is not a token count"))
        };
        // Offsets from the first row as integer ns, then ms: exact to the trace's 100 ns ticks.
        let origin = *first_ns.get_or_insert(ns);
        rows.push(TraceRow {
            t_ms: (ns - origin) as f64 / 1e6,
            input_tokens: num(ctx_col, "ContextTokens")?,
            output_tokens: num(gen_col, "GeneratedTokens")?,
            hash_ids: Vec::new(),
            session: None,
            source: format!("{short}:{line}"),
        });
    }
    Ok(rows)
}

impl Dataset for AzureLlm {
    fn name(&self) -> &'static str {
        "azure-llm"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        None
    }
    fn about(&self) -> &'static str {
        "Azure LLM inference traces 2023 (Azure/AzurePublicDataset data/AzureLLMInferenceTrace_{code,conv}.csv): arrival times and lengths"
    }
    fn tasks(&self) -> &'static [Task] {
        &[Task {
            name: "replay",
            about: "one request per row: at_ms = TIMESTAMP offset, prompt of ContextTokens tokens, max_tokens = GeneratedTokens, ignore_eos",
            chat: false,
        }]
    }
    fn flags(&self) -> &'static str {
        "--source FILE|DIR (--config conv|code picks the file in a DIR or --repo) --start --duration --speed --target-rate -n"
    }
    fn is_trace(&self) -> bool {
        true
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let config = match ctx.opts.config.as_deref().unwrap_or("conv") {
            "conversation" | "conv" => "conv",
            "code" => "code",
            other => anyhow::bail!("--config {other:?}: the Azure LLM traces are conv (conversation) and code"),
        };
        let exact = format!("AzureLLMInferenceTrace_{config}.csv");
        let nested = format!("**/AzureLLMInferenceTrace_{config}.csv");
        let any = format!("**/AzureLLMInferenceTrace_{config}*.csv*");
        let mut rows = Vec::new();
        for f in ctx.files.find(&[&exact, &nested, &any])? {
            rows.extend(read(&f)?);
        }
        trace::units(self.name(), rows, ctx)
    }
}
