//! Exact token ids at several times the speed of `Tokenizer::encode`, for the byte-level BPE
//! tokenizers of GPT-2, Llama 3, Qwen and most current models.
//!
//! `encode` builds a `NormalizedString` with per-byte alignments for every piece of every text;
//! on 20k-token documents that bookkeeping, not the BPE, is most of the time (measured with perf:
//! a third in malloc/free). Counting needs none of it. This path does the same steps on plain
//! `&str`: split out added tokens, NFC when the tokenizer normalizes so, split with the
//! tokenizer's own pre-tokenizer regex, map bytes to byte-level characters, and run the
//! tokenizer's own BPE model on each piece, caching the ids of each distinct piece.
//!
//! It is used only for tokenizer shapes it reproduces exactly (checked when loading: BPE model
//! without dropout, no normalizer or NFC, a ByteLevel pre-tokenizer or Split(regex) +
//! ByteLevel, plain added tokens); anything else goes through `encode`. Tests compare both
//! paths on every fixture text.

use ahash::AHashMap;
use aho_corasick::{AhoCorasick, MatchKind};
use anyhow::{anyhow, Result};
use serde_json::Value;
use std::sync::Mutex;
use tokenizers::utils::SysRegex;
use tokenizers::{Model, Tokenizer};
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// GPT-2's pre-tokenizer regex (`ByteLevel` with `use_regex: true`).
const GPT2_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Distinct pieces cached, per shard; past this the cache stops growing (memory stays bounded).
const SHARD_CAPACITY: usize = 1 << 16;
const SHARDS: usize = 32;

/// The pre-tokenizer split. Every byte-level pattern in use ends with `\s+(?!\S)|\s+`, whose
/// lookahead forces fancy-regex's backtracking VM onto every match. Without those two
/// alternatives the pattern is a plain regex (a lazy DFA, several times faster), and the
/// whitespace runs between its matches are cut the way the lookahead would cut them (see
/// `Splitter::pieces`). Other patterns keep fancy-regex.
enum Splitter {
    Lookahead(SysRegex),
    Dfa(regex::Regex),
}

const WS_TAIL: &str = r"|\s+(?!\S)|\s+";

/// Pattern heads (the pattern minus `WS_TAIL`) for which the whitespace rule is proven: every
/// alternative that can start at a whitespace character needs a non-space character right after
/// it, or is `\s*[\r\n]+`. GPT-2 (and most byte-level BPEs since), Qwen2/2.5/3 and Llama 3.
const DFA_HEADS: &[&str] = &[
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+",
];

impl Splitter {
    fn new(pattern: &str) -> Option<Splitter> {
        if let Some(head) = pattern.strip_suffix(WS_TAIL).filter(|h| DFA_HEADS.contains(h)) {
            if let Ok(re) = regex::Regex::new(head) {
                return Some(Splitter::Dfa(re));
            }
        }
        SysRegex::new(pattern).ok().map(Splitter::Lookahead)
    }

    /// Calls `f` on each piece of `text`, in order, as the tokenizer's Isolated split cuts it.
    fn pieces(&self, text: &str, mut f: impl FnMut(&str) -> Result<()>) -> Result<()> {
        match self {
            Splitter::Lookahead(re) => {
                let mut last = 0;
                for (start, end) in re.find_iter(text) {
                    if start > last {
                        f(&text[last..start])?;
                    }
                    f(&text[start..end])?;
                    last = end;
                }
                if last < text.len() {
                    f(&text[last..])?;
                }
                Ok(())
            }
            Splitter::Dfa(re) => {
                let mut pos = 0;
                for m in re.find_iter(text) {
                    if m.start() > pos {
                        whitespace_gap(
                            &text[pos..m.start()],
                            text[m.start()..].starts_with(char::is_whitespace),
                            &mut f,
                        )?;
                    }
                    f(m.as_str())?;
                    pos = m.end();
                }
                if pos < text.len() {
                    whitespace_gap(&text[pos..], true, &mut f)?;
                }
                Ok(())
            }
        }
    }
}

/// A whitespace run the plain pattern did not match, cut as `\s+(?!\S)|\s+` cuts it. The run
/// is followed by a whitespace character that starts the next match, or by the end of the text
/// (`next_is_space`): one piece. Or it is followed by a non-space character: the lookahead
/// keeps the last whitespace character out of the run, which then becomes a piece of its own.
fn whitespace_gap(gap: &str, next_is_space: bool, f: &mut impl FnMut(&str) -> Result<()>) -> Result<()> {
    let last = gap.char_indices().next_back().map_or(0, |(i, _)| i);
    if next_is_space || last == 0 {
        f(gap)
    } else {
        f(&gap[..last])?;
        f(&gap[last..])
    }
}

/// Ids of each distinct pre-token piece seen so far (one shard).
type PieceIds = AHashMap<Box<str>, Box<[u32]>>;

pub struct FastIds {
    split: Splitter,
    nfc: bool,
    /// Added tokens (contents and ids), matched leftmost-longest as the tokenizer does.
    added: Option<(AhoCorasick, Vec<u32>)>,
    byte_chars: [char; 256],
    cache: Vec<Mutex<PieceIds>>,
    hasher: ahash::RandomState,
}

impl FastIds {
    /// The fast path for this tokenizer, or `None` when its shape is not one this reproduces.
    pub fn for_tokenizer(json: &Value) -> Option<FastIds> {
        let nfc = match json.get("normalizer") {
            None | Some(Value::Null) => false,
            Some(n) if n.get("type").and_then(Value::as_str) == Some("NFC") => true,
            _ => return None,
        };
        let model = json.get("model")?;
        let is_bpe =
            model.get("type").and_then(Value::as_str).is_none_or(|t| t == "BPE") && model.get("merges").is_some();
        if !is_bpe || !model.get("dropout").is_none_or(Value::is_null) {
            return None;
        }
        let byte_level_plain = |p: &Value, use_regex: bool| {
            p.get("type").and_then(Value::as_str) == Some("ByteLevel")
                && p.get("add_prefix_space").and_then(Value::as_bool) == Some(false)
                && p.get("use_regex").and_then(Value::as_bool).unwrap_or(true) == use_regex
        };
        let pre = json.get("pre_tokenizer")?;
        let pattern = if byte_level_plain(pre, true) {
            GPT2_PATTERN.to_string()
        } else if pre.get("type").and_then(Value::as_str) == Some("Sequence") {
            let list = pre.get("pretokenizers")?.as_array()?;
            let [split, bl] = list.as_slice() else { return None };
            let ok = split.get("type").and_then(Value::as_str) == Some("Split")
                && split.get("behavior").and_then(Value::as_str) == Some("Isolated")
                && split.get("invert").and_then(Value::as_bool) == Some(false)
                && byte_level_plain(bl, false);
            if !ok {
                return None;
            }
            split.get("pattern")?.get("Regex")?.as_str()?.to_string()
        } else {
            return None;
        };
        let mut contents = Vec::new();
        let mut ids = Vec::new();
        for t in json.get("added_tokens").and_then(Value::as_array).into_iter().flatten() {
            let flag = |k: &str| t.get(k).and_then(Value::as_bool).unwrap_or(false);
            if flag("single_word") || flag("lstrip") || flag("rstrip") || (nfc && flag("normalized")) {
                return None;
            }
            contents.push(t.get("content")?.as_str()?.to_string());
            ids.push(t.get("id")?.as_u64()? as u32);
        }
        let added = if contents.is_empty() {
            None
        } else {
            Some((AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(&contents).ok()?, ids))
        };
        Some(FastIds {
            split: Splitter::new(&pattern)?,
            nfc,
            added,
            byte_chars: byte_level_chars(),
            cache: (0..SHARDS).map(|_| Mutex::new(AHashMap::new())).collect(),
            hasher: ahash::RandomState::with_seeds(1, 2, 3, 4),
        })
    }

    /// Which split is in use: `dfa` (plain regex + whitespace rule) or `lookahead` (fancy-regex).
    pub fn split_kind(&self) -> &'static str {
        match self.split {
            Splitter::Dfa(_) => "dfa",
            Splitter::Lookahead(_) => "lookahead",
        }
    }

    /// The ids `tok.encode(text, false)` gives.
    pub fn ids(&self, tok: &Tokenizer, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3);
        let mut at = 0;
        if let Some((ac, ids)) = &self.added {
            for m in ac.find_iter(text) {
                self.segment(tok, &text[at..m.start()], &mut out)?;
                out.push(ids[m.pattern().as_usize()]);
                at = m.end();
            }
        }
        self.segment(tok, &text[at..], &mut out)?;
        Ok(out)
    }

    fn segment(&self, tok: &Tokenizer, text: &str, out: &mut Vec<u32>) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        // NFC changes nothing in ASCII, nor in text its quick check passes (most text): only
        // the rest pays for decomposing and recomposing.
        if self.nfc && !text.is_ascii() && is_nfc_quick(text.chars()) != IsNormalized::Yes {
            let normalized: String = text.nfc().collect();
            return self.split_and_bpe(tok, &normalized, out);
        }
        self.split_and_bpe(tok, text, out)
    }

    fn split_and_bpe(&self, tok: &Tokenizer, text: &str, out: &mut Vec<u32>) -> Result<()> {
        self.split.pieces(text, |piece| self.piece(tok, piece, out))
    }

    fn piece(&self, tok: &Tokenizer, piece: &str, out: &mut Vec<u32>) -> Result<()> {
        let shard = &self.cache[(self.hasher.hash_one(piece) as usize) % SHARDS];
        if let Some(ids) = shard.lock().expect("cache lock").get(piece) {
            out.extend_from_slice(ids);
            return Ok(());
        }
        let mapped: String = piece.bytes().map(|b| self.byte_chars[b as usize]).collect();
        let tokens = tok.get_model().tokenize(&mapped).map_err(|e| anyhow!("tokenizer: {e}"))?;
        let ids: Box<[u32]> = tokens.iter().map(|t| t.id).collect();
        out.extend_from_slice(&ids);
        let mut map = shard.lock().expect("cache lock");
        if map.len() < SHARD_CAPACITY {
            map.insert(piece.into(), ids);
        }
        Ok(())
    }
}

/// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes stand for themselves, the others are
/// shifted to U+0100 and up, so that every byte is a visible character for the BPE vocabulary.
fn byte_level_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..256u32 {
        let printable = (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
        table[b as usize] = if printable {
            char::from_u32(b).expect("latin-1")
        } else {
            let c = char::from_u32(next).expect("below surrogates");
            next += 1;
            c
        };
    }
    table
}
