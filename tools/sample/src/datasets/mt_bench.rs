//! MT-Bench (FastChat `llm_judge/data/mt_bench/question.jsonl`): 80 two-turn questions in eight
//! categories, the usual real multi-turn chat workload. Each question is a session of its turns;
//! the reference answers (math, reasoning, coding questions) go in `expected`. The output length
//! is 256 tokens unless `--max-tokens` says otherwise (vLLM's default for MT-Bench).

use super::{load_rows, shorten_loc, Dataset, Item, LoadCtx, Task, Unit};
use crate::formats::parse_row;
use anyhow::{bail, Result};
use serde::Deserialize;

pub struct MtBench;

#[derive(Deserialize)]
struct Row {
    question_id: serde_json::Value,
    #[serde(default)]
    category: String,
    turns: Vec<String>,
    #[serde(default)]
    reference: Vec<String>,
}

const TASKS: &[Task] = &[
    Task {
        name: "chatbot",
        about: "each question's turns as one session (turn 2 follows the server's reply to turn 1)",
        chat: true,
    },
    Task { name: "single", about: "first turn only", chat: false },
];

impl Dataset for MtBench {
    fn name(&self) -> &'static str {
        "mt-bench"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        None
    }
    fn about(&self) -> &'static str {
        "MT-Bench: 80 two-turn questions (FastChat question.jsonl; pass it with --source)"
    }
    fn tasks(&self) -> &'static [Task] {
        TASKS
    }
    fn flags(&self) -> &'static str {
        "--source question.jsonl --task chatbot|single --max-turns N --max-tokens N (256)"
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let rows = load_rows(ctx.files, &["question.jsonl", "*.jsonl"], &[])?;
        let multi = ctx.task == "chatbot";
        rows.iter()
            .map(|row| {
                let r: Row = parse_row(row)?;
                if r.turns.is_empty() {
                    bail!("{}: no turns", row.loc);
                }
                let keep = if multi { ctx.opts.max_turns.map_or(r.turns.len(), |m| m as usize) } else { 1 };
                let items = r
                    .turns
                    .iter()
                    .take(keep)
                    .enumerate()
                    .map(|(i, t)| Item {
                        text: t.clone(),
                        expected: r.reference.get(i).cloned(),
                        max_tokens: Some(256),
                        source: format!("{} q={} {} turn={i}", shorten_loc(&row.loc), r.question_id, r.category),
                        ..Default::default()
                    })
                    .collect();
                Ok(Unit { items, multi_turn: multi })
            })
            .collect()
    }
}
