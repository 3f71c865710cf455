//! Token counting for prompts and the words the sim "generates".

use std::hash::{Hash, Hasher};
use std::path::Path;

/// Counts prompt tokens and derives prefix-cache block hashes from them.
pub enum TokenCounter {
    /// One token per whitespace-separated word: no files needed, roughly right for English.
    Words,
    /// A real Hugging Face tokenizer.
    Tokenizer(Box<tokenizers::Tokenizer>),
}

/// A prompt's length and the chained hashes of its full KV blocks (vLLM's prefix-cache keys).
pub struct PromptInfo {
    pub tokens: u32,
    pub block_hashes: Vec<u64>,
}

impl TokenCounter {
    pub fn load(path: Option<&Path>) -> anyhow::Result<TokenCounter> {
        match path {
            None => Ok(TokenCounter::Words),
            Some(p) => {
                let load = || -> anyhow::Result<tokenizers::Tokenizer> {
                    let bytes = sb_cli::tokenizer_file::read(&sb_cli::tokenizer_file::resolve(p))?;
                    tokenizers::Tokenizer::from_bytes(&bytes).map_err(anyhow::Error::msg)
                };
                let tok = load().map_err(|e| anyhow::anyhow!("cannot load tokenizer {}: {e}", p.display()))?;
                Ok(TokenCounter::Tokenizer(Box::new(tok)))
            }
        }
    }

    /// Counts `text` and hashes its tokens block by block (each hash covers the whole prefix up
    /// to the end of its block, so equal hashes mean equal prefixes).
    pub fn analyze(&self, text: &str, block_size: u32) -> PromptInfo {
        let block = block_size.max(1) as usize;
        let mut hashes = Vec::new();
        let mut chain = std::collections::hash_map::DefaultHasher::new();
        let mut n = 0usize;
        let mut feed = |token: u64| {
            chain.write_u64(token);
            n += 1;
            if n.is_multiple_of(block) {
                hashes.push(chain.finish());
            }
        };
        let word_hash = |w: &str| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            w.hash(&mut h);
            h.finish()
        };
        match self {
            TokenCounter::Tokenizer(t) => match t.encode(text, false) {
                Ok(enc) => enc.get_ids().iter().for_each(|id| feed(*id as u64)),
                Err(_) => text.split_whitespace().for_each(|w| feed(word_hash(w))),
            },
            TokenCounter::Words => text.split_whitespace().for_each(|w| feed(word_hash(w))),
        }
        PromptInfo { tokens: n as u32, block_hashes: hashes }
    }
}

/// Words the sim generates, one per token, each with a leading space like a BPE token.
const VOCAB: [&str; 32] = [
    " the", " of", " and", " to", " in", " is", " was", " for", " on", " that", " with", " as", " by", " at", " from",
    " his", " it", " an", " were", " are", " which", " this", " be", " or", " has", " had", " not", " but", " one",
    " their", " new", " after",
];

/// The text of output token `i` (0-based) of choice `choice`.
pub fn output_token(i: u32, choice: u32) -> &'static str {
    VOCAB[((i as usize) * 7 + (choice as usize) * 3) % VOCAB.len()]
}
