//! QMSum: query-based meeting summarization. `pszemraj/qmsum-cleaned` (parquet: `input` is the
//! query line, then the transcript) by default; the original Yale-LILY QMSum files (one meeting
//! per jsonl line or per JSON file, with general and specific queries) too.
//!
//! Templates: `raw` sends `input` as is (query first: no shared prefix); `longbench` rebuilds
//! the prompt with LongBench's qmsum template, transcript first, so the queries of one meeting
//! share a prefix (grouped by `prefix`).

use super::{load_rows, py_format, shorten_loc, text_hash, Dataset, Item, LoadCtx, Task, Unit};
use anyhow::{anyhow, bail, Result};
use serde_json::Value;

pub struct Qmsum;

const LONGBENCH_QMSUM: &str = "You are given a meeting transcript and a query containing a question or instruction. Answer the query in one or more sentences.\n\nTranscript:\n{context}\n\nNow, answer the query based on the above meeting transcript in one or more sentences.\n\nQuery: {input}\nAnswer:";

impl Dataset for Qmsum {
    fn name(&self) -> &'static str {
        "qmsum"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        Some("pszemraj/qmsum-cleaned")
    }
    fn about(&self) -> &'static str {
        "QMSum meeting summarization (pszemraj/qmsum-cleaned parquet, or original QMSum json/jsonl)"
    }
    fn tasks(&self) -> &'static [Task] {
        &[Task {
            name: "summarization",
            about: "query + meeting transcript -> summary; expected = reference summary, max_tokens = its length",
            chat: false,
        }]
    }
    fn flags(&self) -> &'static str {
        "--template raw|longbench --split test|validation|train --config default|no-prefix --truncate N"
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let longbench = match ctx.opts.template.as_deref() {
            None | Some("raw") => false,
            Some("longbench") => true,
            Some(t) => bail!("qmsum: unknown --template {t:?} (raw, longbench)"),
        };
        let split = ctx.opts.split.as_deref().unwrap_or("test");
        let dir = match ctx.opts.config.as_deref() {
            None | Some("default") => "data",
            Some("no-prefix") => "no-prefix",
            Some(c) => bail!("qmsum: unknown --config {c:?} (default, no-prefix)"),
        };
        let orig_split = if split == "validation" { "val" } else { split };
        let patterns = [
            format!("{dir}/{split}-*.parquet"),
            format!("{split}.parquet"),
            format!("default/{split}/*.parquet"),
            format!("data/ALL/jsonl/{orig_split}.jsonl"),
            format!("{orig_split}*.jsonl"),
            "*.jsonl".to_string(),
            "*.json".to_string(),
        ];
        let pats: Vec<&str> = patterns.iter().map(String::as_str).collect();
        let rows = load_rows(ctx.files, &pats, &[])?;
        let mut units = Vec::new();
        for row in &rows {
            let loc = shorten_loc(&row.loc);
            for (query, transcript, answer, source) in
                queries(&row.value, &loc).map_err(|e| anyhow!("{}: {e}", row.loc))?
            {
                let (text, prefix) = if longbench {
                    let t = py_format(LONGBENCH_QMSUM, &[("context", &transcript), ("input", &query)])?;
                    (t, Some(format!("qmsum-{}", text_hash(&transcript))))
                } else if query.is_empty() {
                    (transcript, None)
                } else {
                    (format!("{query}\n{transcript}"), None)
                };
                units.push(Unit::one(Item { text, expected: Some(answer), prefix, source, ..Default::default() }));
            }
        }
        Ok(units)
    }
}

/// (query, transcript, answer, source) for every query of a row of either schema.
fn queries(v: &Value, loc: &str) -> Result<Vec<(String, String, String, String)>> {
    let s = |x: Option<&Value>| x.and_then(Value::as_str).map(str::to_string);
    if let Some(input) = s(v.get("input")) {
        // qmsum-cleaned: the query is the first line of `input`.
        let output = s(v.get("output")).ok_or_else(|| anyhow!("no \"output\""))?;
        let (query, transcript) = match input.split_once('\n') {
            Some((q, t)) => (q.trim().to_string(), t.trim_start_matches('\n').to_string()),
            None => (String::new(), input.clone()),
        };
        let id = s(v.get("id")).unwrap_or_default();
        return Ok(vec![(query, transcript, output, format!("{loc} {id}"))]);
    }
    let turns = v.get("meeting_transcripts").and_then(Value::as_array).ok_or_else(|| {
        anyhow!("neither qmsum-cleaned (\"input\"/\"output\") nor QMSum (\"meeting_transcripts\") schema")
    })?;
    let transcript: Vec<String> = turns
        .iter()
        .map(|t| format!("{}: {}", s(t.get("speaker")).unwrap_or_default(), s(t.get("content")).unwrap_or_default()))
        .collect();
    let transcript = transcript.join("\n");
    let mut out = Vec::new();
    for list in ["general_query_list", "specific_query_list"] {
        for (i, q) in v.get(list).and_then(Value::as_array).into_iter().flatten().enumerate() {
            let (Some(query), Some(answer)) = (s(q.get("query")), s(q.get("answer"))) else {
                bail!("{list}[{i}] needs \"query\" and \"answer\"");
            };
            out.push((query, transcript.clone(), answer, format!("{loc} {list}[{i}]")));
        }
    }
    Ok(out)
}
