//! HumanEval (`openai/openai_humaneval`; the original `HumanEval.jsonl.gz` too): the function
//! signature and docstring as a completion prompt, the canonical solution as the reference.

use super::{load_rows, shorten_loc, Dataset, Item, LoadCtx, Task, Unit};
use crate::formats::parse_row;
use anyhow::{bail, Result};
use serde::Deserialize;

pub struct HumanEval;

#[derive(Deserialize)]
struct Row {
    task_id: String,
    prompt: String,
    canonical_solution: String,
}

impl Dataset for HumanEval {
    fn name(&self) -> &'static str {
        "humaneval"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        Some("openai/openai_humaneval")
    }
    fn about(&self) -> &'static str {
        "HumanEval, 164 Python functions to complete (openai/openai_humaneval parquet or HumanEval.jsonl.gz)"
    }
    fn tasks(&self) -> &'static [Task] {
        &[Task {
            name: "single",
            about: "single prompt, single response: prompt = signature + docstring, expected = canonical solution",
            chat: false,
        }]
    }
    fn flags(&self) -> &'static str {
        "--template raw|lm-eval (lm-eval adds \"Here is the completed function\" and its stop strings)"
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let lm_eval = match ctx.opts.template.as_deref() {
            None | Some("raw") => false,
            Some("lm-eval") => true,
            Some(t) => bail!("humaneval: unknown --template {t:?} (raw, lm-eval)"),
        };
        let rows = load_rows(
            ctx.files,
            &[
                "openai_humaneval/test-*.parquet",
                "*/test/*.parquet",
                "data/HumanEval.jsonl.gz",
                "*.jsonl.gz",
                "*.jsonl",
            ],
            &["task_id", "prompt", "canonical_solution"],
        )?;
        rows.iter()
            .map(|row| {
                let r: Row = parse_row(row)?;
                let mut item = Item {
                    text: r.prompt.clone(),
                    expected: Some(r.canonical_solution),
                    source: format!("{} {}", shorten_loc(&row.loc), r.task_id),
                    ..Default::default()
                };
                if lm_eval {
                    // lm-evaluation-harness humaneval.yaml: doc_to_text and generation stops.
                    item.text = format!("{}\nHere is the completed function:\n\n```python\n", r.prompt);
                    item.params.insert(
                        "stop".into(),
                        serde_json::json!([
                            "\nclass",
                            "\n#",
                            "\nif",
                            "\nprint",
                            "\n```",
                            "\n```\n\n",
                            "<|eot_id|>",
                            "</s>"
                        ]),
                    );
                }
                Ok(Unit::one(item))
            })
            .collect()
    }
}
