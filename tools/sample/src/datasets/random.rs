//! Synthetic random prompts (vLLM `random`, inference-perf `random`) of exactly the drawn number
//! of tokens. For byte-level BPE tokenizers (GPT-2, Llama 3, Qwen: `TokenCounter::exact_words`)
//! a prompt is random "word tokens" of the vocabulary (` the`, ` Paris`), whose strings encode
//! to exactly those tokens, so nothing is re-encoded. Other tokenizers get random ordinary token
//! ids, decoded to text, re-encoded and corrected until the text has that many tokens (vLLM's
//! `gen_prompt_decode_to_target_len`). Output lengths are drawn too and sent with `ignore_eos`,
//! as vLLM does for its random dataset, so the server generates exactly `max_tokens`.

use super::{Dataset, Item, LoadCtx, Task, Unit};
use crate::lengths::LenDist;
use crate::tokenizer::TokenCounter;
use crate::trace::{Synth, WordTable};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde_json::{json, Map};
use std::sync::Arc;

pub struct Random;

const DEFAULT_INPUT: LenDist = LenDist::Fixed(1024);
const DEFAULT_OUTPUT: LenDist = LenDist::Fixed(128);
pub const DEFAULT_N: usize = 1000;

impl Dataset for Random {
    fn name(&self) -> &'static str {
        "random"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        None
    }
    fn about(&self) -> &'static str {
        "synthetic prompts of random tokens with drawn input/output lengths (vLLM/inference-perf `random`)"
    }
    fn tasks(&self) -> &'static [Task] {
        &[Task {
            name: "random",
            about: "one prompt per request, ignore_eos, max_tokens = drawn output length",
            chat: false,
        }]
    }
    fn flags(&self) -> &'static str {
        "--input-len DIST (1024) --output-len DIST (128) --prefix-len N (shared random prefix, vLLM --random-prefix-len) -n (1000)"
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let input = match ctx.opts.vllm_random_input {
            Some((len, ratio)) => vllm_input_len(ctx.tok, len, ratio)?,
            None => ctx.opts.input_len.unwrap_or(DEFAULT_INPUT),
        };
        let output = ctx.opts.output_len.unwrap_or(DEFAULT_OUTPUT);
        let n = ctx.opts.n.unwrap_or(DEFAULT_N);
        if ctx.tok.exact_words().is_some() {
            return word_units(ctx, input, output, n);
        }
        // vLLM's --random-prefix-len: one random prefix in front of every prompt.
        let prefix = match ctx.opts.prefix_len {
            Some(p) if p > 0 => Some(random_text(ctx.tok, p, &mut unit_rng(ctx.opts.seed, 5, 0))?),
            _ => None,
        };
        let bar = crate::progress::Bar::start("synthesizing random prompts", n as u64);
        (0..n)
            .into_par_iter()
            .map(|i| {
                bar.inc(1);
                let mut rng = unit_rng(ctx.opts.seed, 1, i as u64);
                let in_len = input.sample(&mut rng);
                let out_len = output.sample(&mut rng);
                let body = random_text(ctx.tok, in_len, &mut rng)?;
                let text = match &prefix {
                    Some(p) => format!("{p} {body}"),
                    None => body,
                };
                let mut params = Map::new();
                params.insert("ignore_eos".into(), json!(true));
                Ok(Unit::one(Item {
                    text,
                    max_tokens: Some(out_len),
                    params,
                    prefix: prefix.as_ref().map(|_| "random-prefix".to_string()),
                    source: format!("random:{i}"),
                    ..Default::default()
                }))
            })
            .collect()
    }
}

/// The id of the shared prefix's block in [`Synth`] (outside the 48 bits trace ids use).
const PREFIX_BLOCK: u64 = 0xffff_ffff_ffff;

/// Random prompts of word tokens (see `trace.rs`), for tokenizers that encode strings of them
/// exactly: the prompt is built when written and never re-encoded, so 20,000 prompts of 2,048
/// tokens take seconds, not minutes (decoding random ids and re-encoding until the length fits
/// was 98% of the time). The prefix is one block shared by every prompt.
fn word_units(ctx: &LoadCtx, input: LenDist, output: LenDist, n: usize) -> Result<Vec<Unit>> {
    let table = Arc::new(WordTable::new(ctx.tok, ctx.api)?);
    let prefix_len = ctx.opts.prefix_len.unwrap_or(0);
    Ok((0..n)
        .map(|i| {
            let mut rng = unit_rng(ctx.opts.seed, 1, i as u64);
            let in_len = input.sample(&mut rng);
            let out_len = output.sample(&mut rng);
            let mut params = Map::new();
            params.insert("ignore_eos".into(), json!(true));
            Unit::one(Item {
                max_tokens: Some(out_len),
                params,
                prefix: (prefix_len > 0).then(|| "random-prefix".to_string()),
                source: format!("random:{i}"),
                synth: Some(Synth {
                    table: table.clone(),
                    seed: ctx.opts.seed,
                    row: i as u64,
                    hash_ids: if prefix_len > 0 { vec![PREFIX_BLOCK] } else { Vec::new() },
                    block_tokens: prefix_len.max(1),
                    input_tokens: prefix_len + in_len.max(1) + table.overhead_tokens,
                }),
                ..Default::default()
            })
        })
        .collect())
}

/// vLLM's input length for `--random-input-len L --random-range-ratio R`
/// (`RandomDataset.get_sampling_params`): L less the special tokens the tokenizer adds, then
/// integers uniform in [floor(L' (1-R)), ceil(L' (1+R))].
fn vllm_input_len(tok: &TokenCounter, len: u32, ratio: f64) -> Result<LenDist> {
    let special = tok.encode_ids("", true)?.len() as f64;
    let real = (len as f64 - special).max(0.0);
    let (lo, hi) = ((real * (1.0 - ratio)).floor() as u32, (real * (1.0 + ratio)).ceil() as u32);
    if hi == 0 {
        bail!("--random-input-len {len}: no tokens left after the tokenizer's {special} special tokens");
    }
    let lo = lo.max(1);
    Ok(if lo == hi { LenDist::Fixed(lo) } else { LenDist::Uniform { min: lo, max: hi } })
}

/// A generator of its own for unit `i`: units can be built in parallel and still come out the
/// same for a seed. `stream` keeps different uses of one seed apart.
pub fn unit_rng(seed: u64, stream: u64, i: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream << 48 | i);
    rng
}

/// Text that the tokenizer encodes (without special tokens) to exactly `len_tokens` tokens,
/// when that is possible within a few corrections; else the closest found.
pub fn random_text(tok: &TokenCounter, len_tokens: u32, rng: &mut ChaCha8Rng) -> Result<String> {
    let vocab = tok.plain_vocab_size();
    if vocab == 0 {
        bail!("tokenizer {} has no ordinary tokens to draw from", tok.name);
    }
    if let Some(words) = tok.exact_words() {
        return Ok((0..len_tokens).map(|_| &*words[rng.random_range(0..words.len())]).collect());
    }
    let target = len_tokens as usize;
    let mut ids: Vec<u32> = (0..target).map(|_| rng.random_range(0..vocab)).collect();
    let mut text = tok.decode(&ids)?;
    // Decoding then encoding merges or splits tokens at random boundaries; trim or top up and
    // try again, as vLLM's gen_prompt_decode_to_target_len does.
    for _ in 0..8 {
        let re = tok.encode_ids(&text, false)?;
        if re.len() == target {
            return Ok(text);
        }
        ids = re;
        if ids.len() > target {
            ids.truncate(target);
        } else {
            while ids.len() < target {
                ids.push(rng.random_range(0..vocab));
            }
        }
        text = tok.decode(&ids)?;
    }
    Ok(text)
}
