//! LongBench v1 (`zai-org/LongBench`, formerly `THUDM/LongBench`): 21 long-context tasks in
//! `data.zip` → `data/<task>.jsonl`. Prompts and output lengths are LongBench's own
//! (`config/dataset2prompt.json`, `config/dataset2maxlen.json`, embedded here). The context comes
//! before the question, so rows sharing a context share a prefix: `prefix` is the task and a
//! hash of the context. `--truncate N` applies LongBench's middle truncation (`model2maxlen`).

use super::{py_format, shorten_loc, text_hash, Dataset, Item, LoadCtx, Task, Unit};
use crate::formats::{parse_row, read_rows, read_zip_rows, zip_members, Row as FileRow};
use anyhow::{bail, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

pub struct LongBench;

#[derive(Deserialize)]
struct Row {
    #[serde(default)]
    input: String,
    context: String,
    #[serde(default)]
    answers: Vec<String>,
    #[serde(default)]
    _id: String,
}

fn configs() -> Result<(BTreeMap<String, String>, BTreeMap<String, u32>)> {
    let prompts: BTreeMap<String, String> =
        serde_json::from_str(include_str!("../../assets/longbench/dataset2prompt.json"))?;
    let maxlen: BTreeMap<String, u32> =
        serde_json::from_str(include_str!("../../assets/longbench/dataset2maxlen.json"))?;
    Ok((prompts, maxlen))
}

impl Dataset for LongBench {
    fn name(&self) -> &'static str {
        "longbench"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        Some("zai-org/LongBench")
    }
    fn about(&self) -> &'static str {
        "LongBench v1: 21 long-context tasks (data.zip of jsonl, or a directory of data/<task>.jsonl)"
    }
    fn tasks(&self) -> &'static [Task] {
        &[Task {
            name: "shared-prefix",
            about: "dataset2prompt per row, max_tokens = dataset2maxlen; prefix = task + hash(context)",
            chat: false,
        }]
    }
    fn flags(&self) -> &'static str {
        "--config <task>[,<task>...] (default: every task present) --truncate N (model2maxlen, e.g. 7500)"
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let (prompts, maxlen) = configs()?;
        let wanted: Option<Vec<String>> =
            ctx.opts.config.as_ref().map(|c| c.split(',').map(|s| s.trim().to_string()).collect());
        if let Some(w) = &wanted {
            for t in w {
                if !prompts.contains_key(t) {
                    let known: Vec<&str> = prompts.keys().map(String::as_str).collect();
                    bail!("longbench: unknown task {t:?} (tasks: {})", known.join(", "));
                }
            }
        }
        let pick = |task: &str| wanted.as_ref().is_none_or(|w| w.iter().any(|t| t == task));
        // (task, rows) from data.zip members, or from loose jsonl files.
        let mut per_task: Vec<(String, Vec<FileRow>)> = Vec::new();
        for f in ctx.files.find(&["data.zip", "*.zip", "data/*.jsonl", "*.jsonl"])? {
            if f.extension().is_some_and(|e| e == "zip") {
                for member in zip_members(&f)? {
                    if let Some(task) = member.strip_prefix("data/").and_then(|m| m.strip_suffix(".jsonl")) {
                        if prompts.contains_key(task) && pick(task) {
                            per_task.push((task.to_string(), read_zip_rows(&f, &member)?));
                        }
                    }
                }
            } else {
                // LongBench-E files (`<task>_e.jsonl`) have no template of their own: skipped.
                let task = f.file_stem().unwrap_or_default().to_string_lossy().to_string();
                if prompts.contains_key(&task) && pick(&task) {
                    per_task.push((task, read_rows(&f, &[])?));
                }
            }
        }
        if per_task.is_empty() {
            bail!(
                "no LongBench task file found{}",
                wanted.map(|w| format!(" for {}", w.join(","))).unwrap_or_default()
            );
        }
        per_task.sort_by(|a, b| a.0.cmp(&b.0));
        let mut units = Vec::new();
        for (task, rows) in &per_task {
            for row in rows {
                let r: Row = parse_row(row)?;
                units.push(Unit::one(Item {
                    text: py_format(&prompts[task], &[("context", &r.context), ("input", &r.input)])?,
                    expected: r.answers.first().cloned(),
                    max_tokens: maxlen.get(task).copied(),
                    prefix: Some(format!("longbench-{task}-{}", text_hash(&r.context))),
                    source: format!("{} {task} {}", shorten_loc(&row.loc), r._id),
                    ..Default::default()
                }));
            }
        }
        Ok(units)
    }
}
