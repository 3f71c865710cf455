//! Client-side output token counts, kept beside the server's `usage` (never instead of it):
//! re-tokenizing generated text is wrong for reasoning and tool-call tokens and for chat
//! templates, so it is a cross-check, not the truth.

use anyhow::{Context, Result};
use std::path::Path;
use tokenizers::Tokenizer;

pub struct ClientTokenizer {
    name: String,
    inner: Tokenizer,
}

impl ClientTokenizer {
    /// Loads a Hugging Face `tokenizer.json` (a file, or a directory holding one).
    pub fn load(path: &str) -> Result<ClientTokenizer> {
        let mut file = sb_cli::tokenizer_file::resolve(Path::new(path));
        let inner =
            read_tokenizer(&file).with_context(|| format!("--tokenizer {path}: cannot load {}", file.display()))?;
        if file.extension().is_some_and(|e| e == "gz") {
            file.set_extension("");
        }
        // Name the tokenizer by its directory (`qwen3-0.6b/tokenizer.json` -> `qwen3-0.6b`),
        // the way a Hub id names a model.
        let name = if file.file_name().is_some_and(|f| f == "tokenizer.json") {
            file.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned())
        } else {
            None
        }
        .unwrap_or_else(|| path.to_string());
        Ok(ClientTokenizer { name, inner })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Tokens in `text`, without special tokens (as vLLM `bench serve` re-counts output).
    pub fn count(&self, text: &str) -> u32 {
        self.inner.encode(text, false).map(|e| e.len() as u32).unwrap_or(0)
    }
}

/// Reads a `tokenizer.json`, gunzipping it first when the name ends in `.gz`.
fn read_tokenizer(file: &Path) -> Result<Tokenizer> {
    let bytes = sb_cli::tokenizer_file::read(file)?;
    Tokenizer::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{e}"))
}
