//! The dataset registry. Each dataset is one file: where its files live on the Hub, how its rows
//! look, and how each task of the study turns a row into requests. Adding a dataset means adding
//! a file and a line in [`ALL`].

use crate::hub::Files;
use crate::lengths::LenDist;
use crate::tokenizer::TokenCounter;
use anyhow::Result;
use sb_records::Api;
use serde_json::{Map, Value};

pub mod alpaca;
pub mod azure_llm;
pub mod burstgpt;
pub mod custom;
pub mod humaneval;
pub mod longbench;
pub mod loogle;
pub mod mmlu;
pub mod mooncake;
pub mod mt_bench;
pub mod natural_questions;
pub mod openchat;
pub mod qmsum;
pub mod random;
pub mod shared_prefix;
pub mod sharegpt;
pub mod sonnet;

/// One request before tokenization: the text a user message (chat) or prompt (completions)
/// carries, and what the dataset knows about it.
#[derive(Debug, Clone, Default)]
pub struct Item {
    pub text: String,
    /// A system message for chat requests (LooGLE's scripts send the whole prompt as one).
    pub system: Option<String>,
    pub expected: Option<String>,
    /// The output length the dataset's own scripts ask for (LooGLE `task2maxlen`, MMLU's 1).
    pub max_tokens: Option<u32>,
    pub prefix: Option<String>,
    pub params: Map<String, Value>,
    /// `file:line`, `file#row`, or the dataset's own id.
    pub source: String,
    /// vLLM sonnet: the completions prompt is the chat-templated text.
    pub template_for_completions: bool,
    /// Traces: arrival offset, ms; a session and turn of their own (not grouped in a `Unit`,
    /// so that turns stay in arrival order); the prompt's recipe, built when written.
    pub at_ms: Option<f64>,
    pub session: Option<String>,
    pub turn: Option<u32>,
    pub synth: Option<crate::trace::Synth>,
}

/// What sampling draws: one request, or a whole multi-turn conversation (`items` are its turns).
#[derive(Debug, Clone, Default)]
pub struct Unit {
    pub items: Vec<Item>,
    pub multi_turn: bool,
}

impl Unit {
    pub fn one(item: Item) -> Unit {
        Unit { items: vec![item], multi_turn: false }
    }
}

/// A task: how a dataset's rows become requests.
pub struct Task {
    pub name: &'static str,
    pub about: &'static str,
    /// The API this task is sent to unless `--api` says otherwise.
    pub chat: bool,
}

/// Options that shape a dataset's requests (flags of `sb-sample`).
#[derive(Debug, Clone, Default)]
pub struct DatasetOpts {
    /// Subset: MMLU subject, LooGLE config, LongBench task.
    pub config: Option<String>,
    pub split: Option<String>,
    /// MMLU few-shot examples (0 or 5 in the study).
    pub shots: Option<u32>,
    /// Prompt template variant, per dataset (`raw`, `lm-eval`, `alpaca`, `qa` ...).
    pub template: Option<String>,
    pub input_len: Option<LenDist>,
    /// vLLM's --random-input-len and --random-range-ratio, resolved once the tokenizer is known.
    pub vllm_random_input: Option<(u32, f64)>,
    pub output_len: Option<LenDist>,
    pub prefix_len: Option<u32>,
    pub groups: Option<u32>,
    pub prompts_per_group: Option<u32>,
    pub beam_width: Option<u32>,
    pub max_turns: Option<u32>,
    /// Number of units synthetic datasets generate.
    pub n: Option<usize>,
    pub seed: u64,
    /// Window, scaling and block size of trace datasets.
    pub trace: crate::trace::TraceArgs,
}

/// What a dataset's loader gets.
pub struct LoadCtx<'a> {
    pub files: &'a Files,
    pub opts: &'a DatasetOpts,
    pub tok: &'a TokenCounter,
    pub task: &'a str,
    /// The endpoint the requests go to (some prompts are shaped differently for chat).
    pub api: Api,
}

pub trait Dataset: Sync {
    /// The name on the command line.
    fn name(&self) -> &'static str;
    /// The Hub repo its files come from by default (`None`: synthetic or local only).
    fn hub_repo(&self) -> Option<&'static str>;
    fn about(&self) -> &'static str;
    /// The first task is the default.
    fn tasks(&self) -> &'static [Task];
    /// Flags this dataset reads, for `list`.
    fn flags(&self) -> &'static str;
    /// Every candidate unit, in dataset order, untokenized (synthetic datasets may tokenize).
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>>;
    /// A timed trace: kept in file order (never shuffled), `-n` is the first n of the window.
    fn is_trace(&self) -> bool {
        false
    }
}

pub static ALL: &[&dyn Dataset] = &[
    &random::Random,
    &shared_prefix::SharedPrefix,
    &sonnet::Sonnet,
    &sharegpt::ShareGpt,
    &mmlu::Mmlu,
    &humaneval::HumanEval,
    &alpaca::Alpaca,
    &natural_questions::NaturalQuestions,
    &loogle::Loogle,
    &longbench::LongBench,
    &qmsum::Qmsum,
    &openchat::OpenChat,
    &mt_bench::MtBench,
    &custom::Custom,
    &mooncake::Mooncake,
    &azure_llm::AzureLlm,
    &burstgpt::BurstGpt,
];

/// Finds a dataset by name or alias.
pub fn find(name: &str) -> Option<&'static dyn Dataset> {
    let name = name.to_ascii_lowercase().replace('_', "-");
    let canonical = match name.as_str() {
        "nq" => "natural-questions",
        "openchat-sharegpt4" => "openchat",
        "mtbench" => "mt-bench",
        "synthetic" => "random",
        "azure" | "azure-llm-2023" => "azure-llm",
        other => other,
    };
    ALL.iter().copied().find(|d| d.name() == canonical)
}

/// The `source` text of a row: `repo@rev:path#row` for Hub files, the path otherwise.
pub fn shorten_loc(loc: &str) -> String {
    // Hub cache paths are long (`.../snapshots/<sha>/all/test-...`); keep the repo-relative part.
    match loc.find("/snapshots/") {
        Some(i) => {
            let rest = &loc[i + "/snapshots/".len()..];
            match rest.find('/') {
                Some(j) => rest[j + 1..].to_string(),
                None => rest.to_string(),
            }
        }
        None => loc.to_string(),
    }
}

/// Every row of every file matching the first pattern that matches (see [`Files::find`]).
pub fn load_rows(files: &Files, patterns: &[&str], columns: &[&str]) -> Result<Vec<crate::formats::Row>> {
    let mut rows = Vec::new();
    for f in files.find(patterns)? {
        rows.extend(crate::formats::read_rows(&f, columns)?);
    }
    Ok(rows)
}

/// Python `str.format` with named fields, as the reference scripts fill their templates
/// (`{context}`, `{input}`, `{Q}`; `{{`/`}}` are literal braces). An unknown field is an error.
pub fn py_format(template: &str, fields: &[(&str, &str)]) -> Result<String> {
    let mut out = String::with_capacity(template.len() + fields.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if let Some(stripped) = tail.strip_prefix('{') {
            let end = stripped.find('}').ok_or_else(|| anyhow::anyhow!("template: unclosed '{{'"))?;
            let name = &stripped[..end];
            let value = fields
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| anyhow::anyhow!("template field {{{name}}} has no value"))?;
            out.push_str(value);
            rest = &stripped[end + 1..];
        } else {
            anyhow::bail!("template: single '}}'");
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A short stable hash (FNV-1a, 64 bit) for shared-prefix group names: the same text gives the
/// same group on every machine and in every run.
pub fn text_hash(text: &str) -> String {
    format!("{:08x}", sb_cli::fnv1a(text.as_bytes()) >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_format_fills_fields_and_unescapes_braces() {
        let t = "Output json, e.g. {{'<mask-0>': 'Bob'}}\n{input}\n Question: {Q}";
        assert_eq!(
            py_format(t, &[("input", "DOC"), ("Q", "who?")]).unwrap(),
            "Output json, e.g. {'<mask-0>': 'Bob'}\nDOC\n Question: who?"
        );
        assert!(py_format("{missing}", &[]).is_err());
        // Values are not re-scanned for braces.
        assert_eq!(py_format("{a}", &[("a", "{b}")]).unwrap(), "{b}");
    }

    #[test]
    fn text_hash_is_stable() {
        assert_eq!(text_hash("abc"), text_hash("abc"));
        assert_ne!(text_hash("abc"), text_hash("abd"));
        assert_eq!(text_hash(""), "cbf29ce4");
    }
}
