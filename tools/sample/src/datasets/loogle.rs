//! LooGLE (`bigai-nlco/LooGLE`): long documents (over 24k tokens) with many questions each. Every
//! question of a document becomes one request whose prompt starts with the same template head
//! and document, so the requests of a document form one shared-prefix group.
//!
//! Prompts and output lengths are LooGLE's own (`config/task2prompt.json`,
//! `config/task2maxlen.json`, embedded here). `qa_pairs` is a Python literal, parsed as one.

use super::{load_rows, py_format, shorten_loc, text_hash, Dataset, Item, LoadCtx, Task, Unit};
use crate::formats::parse_row;
use crate::pyliteral;
use anyhow::{anyhow, bail, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

pub struct Loogle;

pub const CONFIGS: &[&str] = &["shortdep_qa", "longdep_qa", "longdep_summarization", "shortdep_cloze"];

#[derive(Deserialize)]
struct Row {
    input: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    qa_pairs: Value,
    #[serde(default)]
    output: Value,
}

fn configs() -> Result<(BTreeMap<String, String>, BTreeMap<String, u32>)> {
    let prompts: BTreeMap<String, String> = serde_json::from_str(include_str!("../../assets/loogle/task2prompt.json"))?;
    let maxlen: BTreeMap<String, u32> = serde_json::from_str(include_str!("../../assets/loogle/task2maxlen.json"))?;
    Ok((prompts, maxlen))
}

impl Dataset for Loogle {
    fn name(&self) -> &'static str {
        "loogle"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        Some("bigai-nlco/LooGLE")
    }
    fn about(&self) -> &'static str {
        "LooGLE: long documents (>24k tokens), many questions per document (json/jsonl/parquet)"
    }
    fn tasks(&self) -> &'static [Task] {
        &[Task {
            name: "shared-prefix",
            about: "one request per question; requests of a document share prefix = template head + document",
            chat: false,
        }]
    }
    fn flags(&self) -> &'static str {
        "--config shortdep_qa|longdep_qa|longdep_summarization|shortdep_cloze (shortdep_qa) --truncate N (LooGLE's max_length)"
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let config = ctx.opts.config.as_deref().unwrap_or("shortdep_qa");
        if !CONFIGS.contains(&config) {
            bail!("loogle: unknown --config {config:?} ({})", CONFIGS.join(", "));
        }
        let (prompts, maxlen) = configs()?;
        let template = &prompts[config];
        let max_tokens = maxlen[config];
        let patterns = [
            format!("data/{config}.jsonl"),
            format!("data/{config}.json"),
            format!("data/{config}*.jsonl"),
            format!("data/{config}*.json"),
            format!("data/{config}/*.parquet"),
            format!("{config}/test-*.parquet"),
            format!("{config}/test/*.parquet"),
            format!("LooGLE-testdata/{config}.jsonl"),
            format!("{config}*.jsonl"),
            format!("{config}*.json"),
        ];
        let pats: Vec<&str> = patterns.iter().map(String::as_str).collect();
        let rows = load_rows(ctx.files, &pats, &[])?;
        let mut units = Vec::new();
        for (d, row) in rows.iter().enumerate() {
            let r: Row = parse_row(row)?;
            let group = format!("loogle-{config}-{}", text_hash(&r.input));
            let source = format!("{} {}", shorten_loc(&row.loc), r.title);
            if config == "longdep_summarization" {
                let text = py_format(template, &[("input", &r.input)])?;
                let expected = r.output.as_str().map(str::to_string);
                units.push(Unit::one(Item {
                    text,
                    expected,
                    max_tokens: Some(max_tokens),
                    source,
                    ..Default::default()
                }));
                continue;
            }
            let pairs = match &r.qa_pairs {
                Value::String(s) => pyliteral::parse(s).map_err(|e| anyhow!("{}: qa_pairs: {e}", row.loc))?,
                other => other.clone(),
            };
            let Value::Array(pairs) = pairs else {
                bail!("{}: qa_pairs is not a list", row.loc);
            };
            for (q, pair) in pairs.iter().enumerate() {
                let question = pair
                    .get("Q")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("{}: qa pair {q} has no Q", row.loc))?;
                let answer = match pair.get("A") {
                    Some(Value::String(a)) => Some(a.clone()),
                    Some(other) => Some(other.to_string()),
                    None => None,
                };
                units.push(Unit::one(Item {
                    text: py_format(template, &[("input", &r.input), ("Q", question)])?,
                    expected: answer,
                    max_tokens: Some(max_tokens),
                    prefix: Some(group.clone()),
                    source: format!("{source} doc={d} q={q}"),
                    ..Default::default()
                }));
            }
        }
        Ok(units)
    }
}
