//! vLLM's `custom` dataset (`vllm bench serve --dataset-name custom --dataset-path FILE.jsonl`): one
//! JSON object per line with `prompt`, and here optionally `output_tokens`, its output length.
//! As vLLM's `CustomDataset` (vllm/benchmarks/datasets/custom.py): for the completions API the
//! prompt is sent through the model's chat template (`--template raw` is vLLM's
//! `--skip-chat-template`); the output length is 256 (vLLM's `--custom-output-len` default)
//! unless the line gives `output_tokens` or `--max-tokens` is set. Tokens are counted like every
//! other dataset (docs/sample.md, "Token counts").

use super::{load_rows, shorten_loc, Dataset, Item, LoadCtx, Task, Unit};
use crate::formats::parse_row;
use anyhow::{bail, Result};
use serde::Deserialize;

pub struct Custom;

/// vLLM's `--custom-output-len` default.
const DEFAULT_OUTPUT_TOKENS: u32 = 256;

#[derive(Deserialize)]
struct Row {
    prompt: Option<serde_json::Value>,
    #[serde(default)]
    output_tokens: Option<serde_json::Value>,
}

impl Dataset for Custom {
    fn name(&self) -> &'static str {
        "custom"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        None
    }
    fn about(&self) -> &'static str {
        "vLLM's custom dataset: JSON Lines with `prompt` and optional `output_tokens` (pass it with --source)"
    }
    fn tasks(&self) -> &'static [Task] {
        &[Task {
            name: "single",
            about: "one request per line; completions prompts through the chat template as vLLM (--template raw: not)",
            chat: false,
        }]
    }
    fn flags(&self) -> &'static str {
        "--source FILE.jsonl --template chat|raw (vLLM --skip-chat-template) --max-tokens N (256 unless output_tokens)"
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let templated = match ctx.opts.template.as_deref() {
            None | Some("chat") => true,
            Some("raw") => false,
            Some(t) => bail!("custom: unknown --template {t:?} (chat, raw)"),
        };
        if templated && ctx.api == sb_records::Api::Completions && !ctx.tok.has_chat_template() {
            bail!(
                "custom: tokenizer {} has no chat template, which vLLM applies to custom prompts; pass --template raw (vLLM's --skip-chat-template)",
                ctx.tok.name
            );
        }
        let rows = load_rows(ctx.files, &["*.jsonl", "*.jsonl.gz", "*.json"], &[])?;
        rows.iter()
            .map(|row| {
                let r: Row = parse_row(row)?;
                let text = match r.prompt {
                    Some(serde_json::Value::String(s)) => s,
                    Some(other) => bail!("{}: `prompt` is not a string ({other})", row.loc),
                    None => bail!("{}: no `prompt` (vLLM's custom format: {{\"prompt\": \"...\"}} per line)", row.loc),
                };
                let max_tokens = match r.output_tokens {
                    None | Some(serde_json::Value::Null) => DEFAULT_OUTPUT_TOKENS,
                    Some(v) => match v.as_u64().filter(|n| *n >= 1 && *n <= u32::MAX as u64) {
                        Some(n) => n as u32,
                        None => bail!("{}: `output_tokens` is not a positive whole number ({v})", row.loc),
                    },
                };
                Ok(Unit::one(Item {
                    text,
                    max_tokens: Some(max_tokens),
                    source: shorten_loc(&row.loc),
                    template_for_completions: templated,
                    ..Default::default()
                }))
            })
            .collect()
    }
}
