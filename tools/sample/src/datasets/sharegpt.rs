//! ShareGPT (`ShareGPT_V3_unfiltered_cleaned_split.json`, the file vLLM's docs download): a JSON
//! array of `{"id", "conversations": [{"from": "human"|"gpt", "value"}]}`. The `single` task is
//! vLLM's: first human turn as the prompt, first gpt turn as the reference output. The `chatbot`
//! task keeps whole conversations as multi-turn sessions.
//!
//! The conversation parsing here is shared with OpenChat, whose file keeps the turns under
//! `"items"` and whose newer format uses `role`/`content`.

use super::{shorten_loc, Dataset, Item, LoadCtx, Task, Unit};
use crate::formats::{for_each_row, Row};
use anyhow::{anyhow, Result};
use serde_json::Value;
use std::path::PathBuf;

pub struct ShareGpt;

pub const TASKS: &[Task] = &[
    Task { name: "single", about: "first user turn -> prompt, first reply -> expected (vLLM ShareGPT)", chat: false },
    Task {
        name: "chatbot",
        about: "whole conversations as sessions: one request per user turn, sent after the previous reply",
        chat: true,
    },
];

impl Dataset for ShareGpt {
    fn name(&self) -> &'static str {
        "sharegpt"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        Some("anon8231489123/ShareGPT_Vicuna_unfiltered")
    }
    fn about(&self) -> &'static str {
        "ShareGPT conversations, vLLM's ShareGPT_V3_unfiltered_cleaned_split.json"
    }
    fn tasks(&self) -> &'static [Task] {
        TASKS
    }
    fn flags(&self) -> &'static str {
        "--task single|chatbot --max-turns N --vllm-filter"
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let files = ctx.files.find(&["ShareGPT_V3_unfiltered_cleaned_split.json", "*.json", "*.jsonl"])?;
        load_conversations(&files, ctx.task == "chatbot", ctx.opts.max_turns)
    }
}

/// One turn of a conversation: role (`user`, `assistant`, `system`) and text.
pub type Turn = (String, String);

/// The turns of a ShareGPT-like row (`conversations` or `items`; `from`/`value` or
/// `role`/`content`), roles mapped to OpenAI's. `None` when the row has no conversation.
pub fn conversation(row: &Row) -> Result<Option<Vec<Turn>>> {
    let list = match row.value.get("conversations").or_else(|| row.value.get("items")) {
        Some(Value::Array(list)) => list,
        Some(_) => return Err(anyhow!("{}: \"conversations\" is not a list", row.loc)),
        None => return Ok(None),
    };
    let mut turns = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let role = t.get("from").or_else(|| t.get("role")).and_then(Value::as_str);
        let text = t.get("value").or_else(|| t.get("content")).and_then(Value::as_str);
        let (Some(role), Some(text)) = (role, text) else {
            return Err(anyhow!("{}: turn {i} needs \"from\"/\"value\" (or \"role\"/\"content\") strings", row.loc));
        };
        let role = match role {
            "human" | "user" => "user",
            "gpt" | "assistant" | "chatgpt" | "bard" | "bing" => "assistant",
            "system" => "system",
            _ => continue,
        };
        turns.push((role.to_string(), text.to_string()));
    }
    Ok(Some(turns))
}

fn row_id(row: &Row) -> String {
    let loc = shorten_loc(&row.loc);
    match row.value.get("id").and_then(Value::as_str) {
        Some(id) => format!("{loc} id={id}"),
        None => loc,
    }
}

/// The units of every conversation in `files`, streamed row by row (see `for_each_row`).
pub fn load_conversations(files: &[PathBuf], multi_turn: bool, max_turns: Option<u32>) -> Result<Vec<Unit>> {
    let mut units = Vec::new();
    for f in files {
        for_each_row(f, &[], |row| {
            if let Some(unit) = conversation_unit(&row, multi_turn, max_turns)? {
                units.push(unit);
            }
            Ok(())
        })?;
    }
    Ok(units)
}

/// One row as a unit: single (first exchange) or multi-turn (every user turn that has a reply).
pub fn conversation_unit(row: &Row, multi_turn: bool, max_turns: Option<u32>) -> Result<Option<Unit>> {
    let Some(turns) = conversation(row)? else { return Ok(None) };
    // vLLM keeps entries with at least two turns and uses the first two as they come.
    if turns.len() < 2 {
        return Ok(None);
    }
    let source = row_id(row);
    if !multi_turn {
        let (first, second) = (&turns[0], &turns[1]);
        return Ok(Some(Unit::one(Item {
            text: first.1.clone(),
            expected: Some(second.1.clone()),
            source,
            ..Default::default()
        })));
    }
    let mut system = None;
    let mut items = Vec::new();
    let mut iter = turns.iter().peekable();
    while let Some((role, text)) = iter.next() {
        match role.as_str() {
            "system" if items.is_empty() => system = Some(text.clone()),
            "user" => {
                let Some((_, reply)) = iter.next_if(|(r, _)| r == "assistant") else { continue };
                items.push(Item {
                    text: text.clone(),
                    system: if items.is_empty() { system.clone() } else { None },
                    expected: Some(reply.clone()),
                    source: format!("{source} turn={}", items.len()),
                    ..Default::default()
                });
            }
            _ => {}
        }
        if max_turns.is_some_and(|m| items.len() >= m as usize) {
            break;
        }
    }
    Ok((!items.is_empty()).then_some(Unit { items, multi_turn: true }))
}
