//! MMLU (`cais/mmlu`): multiple-choice questions, sent as 0-shot or k-shot prompts.
//!
//! Templates: `lm-eval` (default) is lm-evaluation-harness's `mmlu` task (description with the
//! subject's words, `question.strip()`, `A. ..` choices, `Answer:`, few-shot examples joined
//! with " {letter}\n\n", first_n from the dev split). `hendrycks` is the original evaluate.py,
//! whose header has a double space ("about  abstract algebra."). Expected output is the
//! letter and `max_tokens` is 1, as the reference evaluations score one token.
//!
//! Files: the Hub parquet layout (`<config>/<split>-*.parquet`, config `all` or a subject) or the
//! hendrycks CSV layout (`<split>/<subject>_<split>.csv`, with or without a header row, answer
//! as a letter or 0-3).

use super::{shorten_loc, Dataset, Item, LoadCtx, Task, Unit};
use crate::formats::{parse_row, read_rows, Row};
use anyhow::{anyhow, bail, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

pub struct Mmlu;

const LETTERS: [&str; 4] = ["A", "B", "C", "D"];

/// One question, from either layout.
#[derive(Debug, Clone)]
pub struct Question {
    pub subject: String,
    pub question: String,
    pub choices: Vec<String>,
    pub answer: usize,
    pub loc: String,
}

#[derive(Deserialize)]
struct ParquetRow {
    question: String,
    #[serde(default)]
    subject: String,
    choices: Vec<String>,
    answer: i64,
}

impl Dataset for Mmlu {
    fn name(&self) -> &'static str {
        "mmlu"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        Some("cais/mmlu")
    }
    fn about(&self) -> &'static str {
        "MMLU, 57 subjects of 4-way multiple choice (cais/mmlu parquet or hendrycks CSV)"
    }
    fn tasks(&self) -> &'static [Task] {
        &[Task {
            name: "qa",
            about:
                "question answering: k-shot prompt (--shots 5 default, 0 for 0-shot), expected = letter, max_tokens 1",
            chat: false,
        }]
    }
    fn flags(&self) -> &'static str {
        "--shots 0|5 --config all|<subject> --split test|validation|dev --template lm-eval|hendrycks; k-shot prompts of a subject share a prefix"
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let shots = ctx.opts.shots.unwrap_or(5) as usize;
        let hendrycks = match ctx.opts.template.as_deref() {
            None | Some("lm-eval") => false,
            Some("hendrycks") => true,
            Some(t) => bail!("mmlu: unknown --template {t:?} (lm-eval, hendrycks)"),
        };
        let split = ctx.opts.split.as_deref().unwrap_or("test");
        let questions = load_split(ctx, split)?;
        let dev = if shots > 0 {
            if ctx.files.single_file().is_some() {
                bail!("{shots}-shot prompts need the dev split: pass --source as a directory (all/dev-*.parquet or dev/*_dev.csv), or --shots 0");
            }
            let mut by_subject: BTreeMap<String, Vec<Question>> = BTreeMap::new();
            for q in load_split(ctx, "dev")? {
                by_subject.entry(q.subject.clone()).or_default().push(q);
            }
            by_subject
        } else {
            BTreeMap::new()
        };
        questions
            .into_iter()
            .map(|q| {
                let examples = dev.get(&q.subject).map(|v| &v[..shots.min(v.len())]).unwrap_or(&[]);
                if shots > 0 && examples.len() < shots {
                    bail!("{}: the dev split has {} examples of {} (need {shots})", q.loc, examples.len(), q.subject);
                }
                let header = prompt_header(&q.subject, hendrycks);
                let mut text = header;
                for ex in examples {
                    text.push_str(&format_question(ex, hendrycks));
                    text.push(' ');
                    text.push_str(LETTERS[ex.answer]);
                    text.push_str("\n\n");
                }
                text.push_str(&format_question(&q, hendrycks));
                Ok(Unit::one(Item {
                    text,
                    expected: Some(LETTERS[q.answer].to_string()),
                    max_tokens: Some(1),
                    prefix: (shots > 0).then(|| format!("mmlu-{}-{shots}shot", q.subject)),
                    source: shorten_loc(&q.loc),
                    ..Default::default()
                }))
            })
            .collect()
    }
}

/// "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
pub fn prompt_header(subject: &str, hendrycks: bool) -> String {
    let words = subject.split('_').collect::<Vec<_>>().join(" ");
    // hendrycks' format_subject prepends a space to every word, hence the double space.
    let sep = if hendrycks { "  " } else { " " };
    format!("The following are multiple choice questions (with answers) about{sep}{words}.\n\n")
}

pub fn format_question(q: &Question, hendrycks: bool) -> String {
    let mut s = if hendrycks { q.question.clone() } else { q.question.trim().to_string() };
    for (letter, choice) in LETTERS.iter().zip(&q.choices) {
        s.push_str(&format!("\n{letter}. {choice}"));
    }
    s.push_str("\nAnswer:");
    s
}

fn load_split(ctx: &LoadCtx, split: &str) -> Result<Vec<Question>> {
    let config = ctx.opts.config.as_deref().unwrap_or("all");
    let csv_split = if split == "validation" { "val" } else { split };
    let parquet = format!("{config}/{split}-*.parquet");
    // A subject's rows are also in the `all` config (filtered by `subject` below).
    let parquet_all = format!("all/{split}-*.parquet");
    // The dataset viewer's conversion (`--revision refs/convert/parquet`): <config>/<split>/0000.parquet.
    let converted = format!("{config}/{split}/*.parquet");
    let csv = if config == "all" {
        format!("{csv_split}/*_{csv_split}.csv")
    } else {
        format!("{csv_split}/{config}_{csv_split}.csv")
    };
    let mut out = Vec::new();
    for f in ctx.files.find(&[&parquet, &parquet_all, &converted, &csv])? {
        let name = f.display().to_string();
        if name.ends_with(".parquet") {
            for row in read_rows(&f, &["question", "subject", "choices", "answer"])? {
                let r: ParquetRow = parse_row(&row)?;
                let answer = usize::try_from(r.answer).ok().filter(|a| *a < 4 && r.choices.len() == 4);
                let answer = answer.ok_or_else(|| {
                    anyhow!("{}: answer {} / {} choices is not 4-way", row.loc, r.answer, r.choices.len())
                })?;
                let subject = if r.subject.is_empty() { config.to_string() } else { r.subject };
                out.push(Question { subject, question: r.question, choices: r.choices, answer, loc: row.loc });
            }
        } else {
            let subject = subject_of_csv(&f, csv_split);
            for row in read_rows(&f, &[])? {
                if let Some(q) = csv_question(&row, &subject)? {
                    out.push(q);
                }
            }
        }
    }
    if let Some(subject) = ctx.opts.config.as_deref().filter(|c| *c != "all") {
        out.retain(|q| q.subject == subject);
        if out.is_empty() {
            bail!("no {split} rows for subject {subject:?}");
        }
    }
    Ok(out)
}

fn subject_of_csv(path: &Path, split: &str) -> String {
    let stem = path.file_name().unwrap_or_default().to_string_lossy();
    let stem = stem.strip_suffix(".csv").unwrap_or(&stem);
    stem.strip_suffix(&format!("_{split}")).unwrap_or(stem).to_string()
}

/// A CSV row `question, A, B, C, D, answer` (answer a letter or 0-3); `None` for a header row.
fn csv_question(row: &Row, subject: &str) -> Result<Option<Question>> {
    let cells: Vec<&str> =
        row.value.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if cells.len() != 6 {
        bail!("{}: expected 6 columns (question, 4 choices, answer), found {}", row.loc, cells.len());
    }
    let ans = cells[5].trim();
    let answer = match ans {
        "A" | "0" => 0,
        "B" | "1" => 1,
        "C" | "2" => 2,
        "D" | "3" => 3,
        _ if cells[0] == "question" => return Ok(None),
        other => bail!("{}: answer {other:?} is not A-D or 0-3", row.loc),
    };
    Ok(Some(Question {
        subject: subject.to_string(),
        question: cells[0].to_string(),
        choices: cells[1..5].iter().map(|s| s.to_string()).collect(),
        answer,
        loc: row.loc.clone(),
    }))
}
