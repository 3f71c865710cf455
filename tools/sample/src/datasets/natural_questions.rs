//! Natural Questions (`google-research-datasets/natural_questions`, or NQ-open's jsonl): the
//! question as the prompt, sent with beam search. Only the question and the short answers are
//! read; parquet column projection skips the Wikipedia HTML that makes up most of each row.
//!
//! Beam search is a request parameter: `use_beam_search: true` with `n` and `best_of` set to the
//! beam width, `temperature: 0` (vLLM's OpenAI server's extra parameters; newer vLLM reads `n`
//! as the width). Override any of them with `--param`.

use super::{load_rows, shorten_loc, Dataset, Item, LoadCtx, Task, Unit};
use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};

pub struct NaturalQuestions;

impl Dataset for NaturalQuestions {
    fn name(&self) -> &'static str {
        "natural-questions"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        Some("google-research-datasets/natural_questions")
    }
    fn about(&self) -> &'static str {
        "Natural Questions: real search queries with short answers (HF parquet, or NQ-open jsonl)"
    }
    fn tasks(&self) -> &'static [Task] {
        &[Task {
            name: "beam-search",
            about: "question as prompt, params use_beam_search/n/best_of = --beam-width, max_tokens 32",
            chat: false,
        }]
    }
    fn flags(&self) -> &'static str {
        "--beam-width N (4) --template qa|raw (\"Q: ...?\\nA:\" or the bare question) --config dev|default --split validation|train"
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let width = ctx.opts.beam_width.unwrap_or(4);
        if width == 0 {
            bail!("--beam-width must be at least 1");
        }
        let qa = match ctx.opts.template.as_deref() {
            None | Some("qa") => true,
            Some("raw") => false,
            Some(t) => bail!("natural-questions: unknown --template {t:?} (qa, raw)"),
        };
        let config = ctx.opts.config.as_deref().unwrap_or("dev");
        let split = ctx.opts.split.as_deref().unwrap_or("validation");
        let p1 = format!("{config}/{split}-*.parquet");
        let p2 = format!("{config}/partial-{split}/*.parquet");
        let p3 = format!("{config}/{split}/*.parquet");
        let rows = load_rows(ctx.files, &[&p1, &p2, &p3, "*.jsonl", "nq_open/*.jsonl"], &["question", "annotations"])?;
        rows.iter()
            .map(|row| {
                let (question, answers) = question_and_answers(&row.value).map_err(|e| anyhow!("{}: {e}", row.loc))?;
                let q = question.trim().trim_end_matches('?');
                let mut params = serde_json::Map::new();
                params.insert("use_beam_search".into(), json!(true));
                params.insert("n".into(), json!(width));
                params.insert("best_of".into(), json!(width));
                params.insert("temperature".into(), json!(0));
                Ok(Unit::one(Item {
                    text: if qa { format!("Q: {q}?\nA:") } else { q.to_string() },
                    expected: answers.first().cloned(),
                    max_tokens: Some(32),
                    params,
                    source: shorten_loc(&row.loc),
                    ..Default::default()
                }))
            })
            .collect()
    }
}

/// `{"question": {"text"}, "annotations": {"short_answers": [{"text": [..]}]}}` (HF parquet) or
/// `{"question": "...", "answer": [..]}` (NQ-open).
fn question_and_answers(v: &Value) -> Result<(String, Vec<String>)> {
    let strings = |x: Option<&Value>| -> Vec<String> {
        x.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    match v.get("question") {
        Some(Value::String(q)) => Ok((q.clone(), strings(v.get("answer")))),
        Some(Value::Object(q)) => {
            let text = q.get("text").and_then(Value::as_str).ok_or_else(|| anyhow!("question has no \"text\""))?;
            let mut answers = Vec::new();
            if let Some(Value::Array(shorts)) = v.pointer("/annotations/short_answers") {
                for s in shorts {
                    for a in strings(s.get("text")) {
                        if !answers.contains(&a) {
                            answers.push(a);
                        }
                    }
                }
            }
            Ok((text.to_string(), answers))
        }
        _ => Err(anyhow!("no \"question\" (expected NQ's question.text or NQ-open's question)")),
    }
}
