//! Alpaca (`tatsu-lab/alpaca`; the original `alpaca_data.json` too): instruction (+ input) as
//! the prompt, the demonstration output as the reference.

use super::{load_rows, shorten_loc, Dataset, Item, LoadCtx, Task, Unit};
use crate::formats::parse_row;
use anyhow::{bail, Result};
use serde::Deserialize;

pub struct Alpaca;

#[derive(Deserialize)]
struct Row {
    instruction: String,
    #[serde(default)]
    input: String,
    output: String,
}

/// stanford_alpaca `train.py` PROMPT_DICT.
const WITH_INPUT: &str = "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:";
const NO_INPUT: &str = "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:";

impl Dataset for Alpaca {
    fn name(&self) -> &'static str {
        "alpaca"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        Some("tatsu-lab/alpaca")
    }
    fn about(&self) -> &'static str {
        "Alpaca, 52k instructions with text-davinci-003 demonstrations (tatsu-lab/alpaca parquet or alpaca_data.json)"
    }
    fn tasks(&self) -> &'static [Task] {
        &[Task {
            name: "single",
            about: "single prompt, single response: Alpaca template (completions) or the bare instruction (chat)",
            chat: false,
        }]
    }
    fn flags(&self) -> &'static str {
        "--template alpaca|raw (default: alpaca for completions, raw for chat)"
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let alpaca = match ctx.opts.template.as_deref() {
            None => ctx.api == sb_records::Api::Completions,
            Some("alpaca") => true,
            Some("raw") => false,
            Some(t) => bail!("alpaca: unknown --template {t:?} (alpaca, raw)"),
        };
        let rows = load_rows(
            ctx.files,
            &[
                "data/train-*.parquet",
                "*/train/*.parquet",
                // The 2023 conversion layout: tatsu-lab--alpaca/parquet-train.parquet.
                "*/parquet-train.parquet",
                "alpaca_data.json",
                "*.json",
                "*.jsonl",
            ],
            &["instruction", "input", "output"],
        )?;
        rows.iter()
            .map(|row| {
                let r: Row = parse_row(row)?;
                let text = match (alpaca, r.input.is_empty()) {
                    (true, true) => super::py_format(NO_INPUT, &[("instruction", &r.instruction)])?,
                    (true, false) => {
                        super::py_format(WITH_INPUT, &[("instruction", &r.instruction), ("input", &r.input)])?
                    }
                    (false, true) => r.instruction.clone(),
                    (false, false) => format!("{}\n\n{}", r.instruction, r.input),
                };
                Ok(Unit::one(Item {
                    text,
                    expected: Some(r.output),
                    source: shorten_loc(&row.loc),
                    ..Default::default()
                }))
            })
            .collect()
    }
}
