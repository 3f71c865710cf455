//! Token counting with a real Hugging Face tokenizer (`tokenizer.json`) and, for chat requests,
//! the model's own chat template (`tokenizer_config.json`).
//!
//! Counting follows vLLM `bench serve`: a completions prompt counts `tokenizer(text).input_ids`
//! (special tokens included, e.g. a BOS), a chat prompt counts the rendered template with
//! `add_special_tokens=False` (what vLLM's chat endpoint does: the template already holds them).

use crate::chat_template::ChatTemplate;
use crate::fastcount::FastIds;
use crate::hub::{hub_file, HubOpts};
use anyhow::{anyhow, bail, Context, Result};
use hf_hub::RepoType;
use sb_records::Message;
use std::path::Path;
use tokenizers::{Model, PostProcessor, Tokenizer};

/// A loaded tokenizer with its optional chat template.
pub struct TokenCounter {
    /// The name recorded in `tokenizer` of every request (the Hub id or path the user gave).
    pub name: String,
    tok: Tokenizer,
    template: Option<ChatTemplate>,
    /// Ids a synthetic prompt may use: the base vocabulary without special/added tokens.
    plain_vocab_size: u32,
    /// The exact fast path, for the tokenizer shapes it reproduces.
    fast: Option<FastIds>,
    /// Special tokens the post-processor adds to a single sequence (a BOS, say).
    post_added_tokens: u32,
    /// [`TokenCounter::word_tokens`], found once.
    words: std::sync::OnceLock<Vec<Box<str>>>,
}

impl TokenCounter {
    /// Loads `tokenizer.json` (or a gzipped `tokenizer.json.gz`) and the chat template of
    /// `tokenizer_config.json` when one is given and present.
    pub fn from_files(name: &str, tokenizer_json: &Path, config_json: Option<&Path>) -> Result<TokenCounter> {
        let bytes =
            sb_cli::tokenizer_file::read(tokenizer_json).map_err(|e| anyhow!("{}: {e}", tokenizer_json.display()))?;
        let tok = Tokenizer::from_bytes(&bytes)
            .map_err(|e| anyhow!("{}: not a loadable tokenizer.json: {e}", tokenizer_json.display()))?;
        let fast = serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|j| FastIds::for_tokenizer(&j));
        let post_added_tokens = tok.get_post_processor().map_or(0, |p| p.added_tokens(false)) as u32;
        let template = match config_json {
            Some(p) if p.exists() => ChatTemplate::from_config_file(p)?,
            _ => None,
        };
        let added = tok.get_added_tokens_decoder();
        let min_added = added.keys().copied().min().unwrap_or(u32::MAX);
        let plain_vocab_size = (tok.get_vocab_size(false) as u32).min(min_added);
        Ok(TokenCounter {
            name: name.to_string(),
            tok,
            template,
            plain_vocab_size,
            fast,
            post_added_tokens,
            words: std::sync::OnceLock::new(),
        })
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
            let json = sb_cli::tokenizer_file::resolve(path);
            if !json.is_file() {
                bail!("--tokenizer {spec}: the directory has no tokenizer.json");
            }
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

    /// True when counting takes the exact fast path (see `fastcount`).
    pub fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    pub fn fast_split_kind(&self) -> Option<&'static str> {
        self.fast.as_ref().map(FastIds::split_kind)
    }

    pub fn has_chat_template(&self) -> bool {
        self.template.is_some()
    }

    /// Tokens of a completions prompt (special tokens added as the tokenizer's post-processor says).
    pub fn count(&self, text: &str) -> Result<u32> {
        match &self.fast {
            Some(f) => Ok(f.ids(&self.tok, text)?.len() as u32 + self.post_added_tokens),
            None => Ok(self.encode_ids(text, true)?.len() as u32),
        }
    }

    /// Tokens of text as generated output (no special tokens added).
    pub fn count_output(&self, text: &str) -> Result<u32> {
        Ok(self.encode_ids(text, false)?.len() as u32)
    }

    pub fn encode_ids(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        if let (Some(f), false) = (&self.fast, add_special_tokens) {
            return f.ids(&self.tok, text);
        }
        self.encode_ids_slow(text, add_special_tokens)
    }

    /// `Tokenizer::encode`, whatever the tokenizer (the reference for the fast path).
    pub fn encode_ids_slow(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
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

    /// The "word tokens" trace prompts are built from (see `trace.rs`): ordinary vocabulary
    /// entries that are a space (byte-level `Ġ`, SentencePiece `▁`) followed by 1 to 12 ASCII
    /// letters, as text (` the`), in id order. On the fast path each is checked to encode back to
    /// itself alone.
    pub fn word_tokens(&self) -> &[Box<str>] {
        self.words.get_or_init(|| self.find_word_tokens())
    }

    fn find_word_tokens(&self) -> Vec<Box<str>> {
        let mut out = Vec::new();
        for id in 0..self.plain_vocab_size {
            let Some(t) = self.tok.id_to_token(id) else { continue };
            // Byte-level vocabularies spell the space `Ġ`, SentencePiece ones `▁`.
            let rest = match self.fast {
                Some(_) => t.strip_prefix('Ġ'),
                None => t.strip_prefix('Ġ').or_else(|| t.strip_prefix('▁')),
            };
            let Some(rest) = rest else { continue };
            if rest.is_empty() || rest.len() > 12 || !rest.bytes().all(|b| b.is_ascii_alphabetic()) {
                continue;
            }
            // On the fast path " letters" is one pre-token whose byte-level form is the entry
            // itself: the BPE model alone must give the entry back (some entries are unreachable).
            if self.fast.is_some()
                && !self.tok.get_model().tokenize(&t).is_ok_and(|toks| toks.len() == 1 && toks[0].id == id)
            {
                continue;
            }
            let word = format!(" {rest}");
            out.push(word.into_boxed_str());
        }
        out
    }

    /// The word tokens when strings of them are known to encode exactly (see
    /// [`TokenCounter::words_concatenate_exactly`]) and there are enough of them to draw from.
    pub fn exact_words(&self) -> Option<&[Box<str>]> {
        let words = self.word_tokens();
        (words.len() >= 256 && self.words_concatenate_exactly()).then_some(words)
    }

    /// True when any string of word tokens encodes to exactly those tokens: the fast path with
    /// one of the proven byte-level splits (each ` letters` run is one pre-token) and no added
    /// token that letters and spaces alone could spell.
    pub fn words_concatenate_exactly(&self) -> bool {
        self.fast_split_kind() == Some("dfa")
            && self
                .tok
                .get_added_tokens_decoder()
                .values()
                .all(|t| !t.content.chars().all(|c| c == ' ' || c.is_ascii_alphabetic()))
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

    fn msgs(list: &[(&str, &str)]) -> Vec<Message> {
        list.iter().map(|(r, c)| Message { role: r.to_string(), content: c.to_string() }).collect()
    }

    // Golden strings and counts from Python jinja2 (trim_blocks, lstrip_blocks; what
    // transformers uses) and Python tokenizers 0.23 on the same files.
    #[test]
    fn qwen3_multi_turn_rendering_matches_jinja2() {
        let t = fixture("qwen3-0.6b");
        let sys = msgs(&[("system", "You are a helpful assistant."), ("user", "What's your name?")]);
        assert_eq!(
            t.render_chat(&sys).unwrap(),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat's your name?<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(t.count_chat(&sys).unwrap(), 24);
        // A past assistant turn loses its <think> block, as Qwen3's template strips it.
        let think = msgs(&[
            ("user", "Hi there"),
            ("assistant", "<think>\nhmm\n</think>\n\nHello! How can I help?"),
            ("user", "Tell me a joke."),
        ]);
        assert_eq!(
            t.render_chat(&think).unwrap(),
            "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello! How can I help?<|im_end|>\n<|im_start|>user\nTell me a joke.<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(t.count_chat(&think).unwrap(), 32);
        let long = msgs(&[
            ("system", "Be brief."),
            ("user", "A"),
            ("assistant", "B"),
            ("user", "C"),
            ("assistant", "D"),
            ("user", "E"),
        ]);
        assert_eq!(t.count_chat(&long).unwrap(), 41);
    }

    #[test]
    fn chat_without_template_is_a_clear_error() {
        let t = fixture("gpt2");
        let err = t.count_chat(&[Message { role: "user".into(), content: "hi".into() }]).unwrap_err().to_string();
        assert!(err.contains("no chat template"), "{err}");
    }

    /// Every fixture text, plus the edge cases of the pre-tokenizer patterns, through both paths.
    fn differential_texts() -> Vec<String> {
        let mut texts: Vec<String> = [
            "",
            " ",
            "  ",
            "\n",
            "a  b",
            "a\n\nb",
            "a \n b",
            "end   ",
            "\t\tx",
            "x\r\n\r\ny",
            "it's I'LL we'd 'S",
            "num 12345 6.78e9 ١٢٣",
            "café cafe\u{301} Å Å",
            "日本語のテキスト、中文。",
            "emoji 👍🏽 done",
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
            "a<|endoftext|>b<|endoftext|>",
            "<think>\n\n</think>\n\n",
            "  leading and trailing  \n\n\t",
            "a \t b",
            " \n x",
            "x \u{3000}y",
            "\n \n",
            "a ",
            " a",
            "\u{3000}\u{3000}z",
            "q\t?",
            "x  !!",
            "\r\n\r\n  \r\nz",
            "mixed\u{a0}nbsp\u{2003}em space",
            "tabs\tand  \t  spaces",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        texts.push(std::fs::read_to_string(testdata("vllm/sonnet.txt")).unwrap());
        for line in std::fs::read_to_string(testdata("loogle/shortdep_qa.jsonl")).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            texts.push(v["input"].as_str().unwrap().to_string());
        }
        let conv: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(testdata("sharegpt/dummy_conversation.json")).unwrap())
                .unwrap();
        for c in conv.as_array().unwrap().iter().take(100) {
            for t in c["conversations"].as_array().unwrap() {
                texts.push(t["value"].as_str().unwrap().to_string());
            }
        }
        texts
    }

    #[test]
    fn fast_path_gives_the_same_ids_as_encode() {
        let texts = differential_texts();
        for name in ["gpt2", "qwen3-0.6b"] {
            let t = fixture(name);
            assert_eq!(t.fast_split_kind(), Some("dfa"), "{name} should take the fast path with the plain regex");
            for text in &texts {
                let slow = t.encode_ids_slow(text, false).unwrap();
                assert_eq!(t.encode_ids(text, false).unwrap(), slow, "{name}: {:?}", &text[..text.len().min(80)]);
                assert_eq!(t.count(text).unwrap(), t.encode_ids_slow(text, true).unwrap().len() as u32);
            }
            // Random ids decoded: arbitrary Unicode, broken UTF-8 sequences replaced.
            let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(5);
            for _ in 0..50 {
                let ids: Vec<u32> =
                    (0..200).map(|_| rand::Rng::random_range(&mut rng, 0..t.plain_vocab_size())).collect();
                let text = t.decode(&ids).unwrap();
                assert_eq!(t.encode_ids(&text, false).unwrap(), t.encode_ids_slow(&text, false).unwrap(), "{name}");
            }
        }
    }

    /// GPT-2's files with another split pattern (an unknown head: the lookahead splitter) agree
    /// with `encode` too.
    #[test]
    fn fast_path_with_the_lookahead_splitter_gives_the_same_ids() {
        use std::io::Read;
        let mut bytes = Vec::new();
        let gz = std::fs::read(testdata("tokenizers/gpt2/tokenizer.json.gz")).unwrap();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut bytes).unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        json["pre_tokenizer"] = serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\p{L}+|\\p{N}{1,2}| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"},
             "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]});
        let dir = std::env::temp_dir().join(format!("sb-sample-tok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokenizer.json");
        std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        let t = TokenCounter::from_files("custom", &path, None).unwrap();
        assert_eq!(t.fast_split_kind(), Some("lookahead"));
        for text in differential_texts() {
            assert_eq!(
                t.encode_ids(&text, false).unwrap(),
                t.encode_ids_slow(&text, false).unwrap(),
                "{:?}",
                &text[..text.len().min(60)]
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
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
