//! Token counting with a real Hugging Face tokenizer (`tokenizer.json`) and, for chat requests,
//! the model's own chat template (`tokenizer_config.json`).
//!
//! Counting follows vLLM `bench serve`: a completions prompt counts `tokenizer(text).input_ids`
//! (special tokens included, e.g. a BOS), a chat prompt counts the rendered template with
//! `add_special_tokens=False` (what vLLM's chat endpoint does: the template already holds them).

use crate::chat_template::ChatTemplate;
use crate::hub::{hub_file, HubOpts};
use anyhow::{anyhow, bail, Context, Result};
use hf_hub::RepoType;
use sb_records::Message;
use std::path::Path;
use tokenizers::Tokenizer;

/// A loaded tokenizer with its optional chat template.
pub struct TokenCounter {
    /// The name recorded in `tokenizer` of every request (the Hub id or path the user gave).
    pub name: String,
    tok: Tokenizer,
    template: Option<ChatTemplate>,
    /// Ids a synthetic prompt may use: the base vocabulary without special/added tokens.
    plain_vocab_size: u32,
}

impl TokenCounter {
    /// Loads `tokenizer.json` (or a gzipped `tokenizer.json.gz`) and the chat template of
    /// `tokenizer_config.json` when one is given and present.
    pub fn from_files(name: &str, tokenizer_json: &Path, config_json: Option<&Path>) -> Result<TokenCounter> {
        let bytes = crate::formats::read_maybe_gz(tokenizer_json)?;
        let tok = Tokenizer::from_bytes(&bytes)
            .map_err(|e| anyhow!("{}: not a loadable tokenizer.json: {e}", tokenizer_json.display()))?;
        let template = match config_json {
            Some(p) if p.exists() => ChatTemplate::from_config_file(p)?,
            _ => None,
        };
        let added = tok.get_added_tokens_decoder();
        let min_added = added.keys().copied().min().unwrap_or(u32::MAX);
        let plain_vocab_size = (tok.get_vocab_size(false) as u32).min(min_added);
        Ok(TokenCounter { name: name.to_string(), tok, template, plain_vocab_size })
    }

    /// `--tokenizer`: a `tokenizer.json` (or `.json.gz`) file, a directory holding one, or a
    /// Hub model id whose `tokenizer.json` and `tokenizer_config.json` are fetched (or read from
    /// the cache with `--offline`).
    pub fn load(spec: &str, hub: &HubOpts) -> Result<TokenCounter> {
        let path = Path::new(spec);
        if path.is_file() {
            let config = path.with_file_name("tokenizer_config.json");
            return TokenCounter::from_files(spec, path, Some(&config));
        }
        if path.is_dir() {
            let json = ["tokenizer.json", "tokenizer.json.gz"]
                .iter()
                .map(|f| path.join(f))
                .find(|p| p.is_file())
                .ok_or_else(|| anyhow!("--tokenizer {spec}: the directory has no tokenizer.json"))?;
            return TokenCounter::from_files(spec, &json, Some(&path.join("tokenizer_config.json")));
        }
        if spec.contains(std::path::MAIN_SEPARATOR) && spec.starts_with(['.', '/']) {
            bail!("--tokenizer {spec}: no such file or directory");
        }
        // Tokenizers come from the model's main branch; --revision is the dataset's.
        let opts = HubOpts { revision: None, ..hub.clone() };
        let json = hub_file(spec, RepoType::Model, &opts, "tokenizer.json")?
            .ok_or_else(|| anyhow!("model {spec} has no tokenizer.json on the Hub (only slow tokenizers?)"))?;
        // The config only adds the chat template; offline without it, count without one.
        let config = match hub_file(spec, RepoType::Model, &opts, "tokenizer_config.json") {
            Ok(c) => c,
            Err(e) if opts.offline => {
                eprintln!("sb-sample: warning: {e:#}; no chat template");
                None
            }
            Err(e) => return Err(e),
        };
        TokenCounter::from_files(spec, &json, config.as_deref())
    }

    pub fn has_chat_template(&self) -> bool {
        self.template.is_some()
    }

    /// Tokens of a completions prompt (special tokens added as the tokenizer's post-processor says).
    pub fn count(&self, text: &str) -> Result<u32> {
        Ok(self.encode_ids(text, true)?.len() as u32)
    }

    /// Tokens of text as generated output (no special tokens added).
    pub fn count_output(&self, text: &str) -> Result<u32> {
        Ok(self.encode_ids(text, false)?.len() as u32)
    }

    pub fn encode_ids(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let enc = self.tok.encode_fast(text, add_special_tokens).map_err(|e| anyhow!("tokenizer: {e}"))?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tok.decode(ids, false).map_err(|e| anyhow!("tokenizer: decode: {e}"))
    }

    /// The chat prompt the server builds from `messages` (with the generation prompt).
    pub fn render_chat(&self, messages: &[Message]) -> Result<String> {
        match &self.template {
            Some(t) => t.render(messages, true),
            None => bail!(
                "tokenizer {} has no chat template (tokenizer_config.json \"chat_template\"); use --api completions or a chat model's tokenizer",
                self.name
            ),
        }
    }

    /// Tokens of a chat request as the server counts them: the rendered template, no extra
    /// special tokens.
    pub fn count_chat(&self, messages: &[Message]) -> Result<u32> {
        let text = self.render_chat(messages)?;
        Ok(self.encode_ids(&text, false)?.len() as u32)
    }

    /// Number of ordinary (non-special) token ids, `0..n`, for synthetic prompts.
    pub fn plain_vocab_size(&self) -> u32 {
        self.plain_vocab_size
    }

    /// Middle truncation as LongBench `pred.py` and LooGLE do it: a text over `budget` tokens
    /// keeps its first `budget/2` and last `budget - budget/2` tokens, decoded back to text.
    /// Returns the text unchanged when it fits.
    pub fn truncate_middle(&self, text: &str, budget_tokens: u32) -> Result<String> {
        let ids = self.encode_ids(text, false).context("truncation")?;
        let budget = budget_tokens as usize;
        if ids.len() <= budget {
            return Ok(text.to_string());
        }
        let head = budget / 2;
        let tail = budget - head;
        let mut s = self.decode(&ids[..head])?;
        s.push_str(&self.decode(&ids[ids.len() - tail..])?);
        Ok(s)
    }
}

/// The repo's test data directory (`testdata/sample`), for unit tests.
#[cfg(test)]
pub fn testdata(rel: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sample").join(rel)
}

/// One of the real tokenizers under `testdata/sample/tokenizers` (`gpt2`, `qwen3-0.6b`).
#[cfg(test)]
pub fn fixture(name: &str) -> TokenCounter {
    let dir = testdata("tokenizers").join(name);
    TokenCounter::from_files(name, &dir.join("tokenizer.json.gz"), Some(&dir.join("tokenizer_config.json"))).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Golden ids from the fixtures README (Python `tokenizers` 0.23.3).
    #[test]
    fn gpt2_ids_match_reference() {
        let t = fixture("gpt2");
        assert_eq!(
            t.encode_ids("Hello world! This is a test.", true).unwrap(),
            [15496, 995, 0, 770, 318, 257, 1332, 13]
        );
        assert!(!t.has_chat_template());
        assert_eq!(t.plain_vocab_size(), 50256);
    }

    #[test]
    fn qwen3_ids_match_reference() {
        let t = fixture("qwen3-0.6b");
        assert_eq!(
            t.encode_ids("Hello world! This is a test.", true).unwrap(),
            [9707, 1879, 0, 1096, 374, 264, 1273, 13]
        );
        assert!(t.has_chat_template());
        assert_eq!(t.plain_vocab_size(), 151643);
    }

    #[test]
    fn qwen3_chat_template_renders_like_transformers() {
        let t = fixture("qwen3-0.6b");
        let msgs =
            [Message { role: "user".into(), content: "Pick as many lines as you can from these poem lines:\n".into() }];
        let text = t.render_chat(&msgs).unwrap();
        assert_eq!(
            text,
            "<|im_start|>user\nPick as many lines as you can from these poem lines:\n<|im_end|>\n<|im_start|>assistant\n"
        );
        // vLLM sonnet `base_prompt_offset` for Qwen3-0.6B (fixtures README).
        assert_eq!(t.count_chat(&msgs).unwrap(), 20);
    }

    #[test]
    fn chat_without_template_is_a_clear_error() {
        let t = fixture("gpt2");
        let err = t.count_chat(&[Message { role: "user".into(), content: "hi".into() }]).unwrap_err().to_string();
        assert!(err.contains("no chat template"), "{err}");
    }

    #[test]
    fn middle_truncation_keeps_head_and_tail() {
        let t = fixture("gpt2");
        let text = "one two three four five six seven eight nine ten";
        assert_eq!(t.truncate_middle(text, 100).unwrap(), text);
        let cut = t.truncate_middle(text, 4).unwrap();
        assert_eq!(cut, "one two nine ten");
        assert_eq!(t.count(&cut).unwrap(), 4);
    }
}
