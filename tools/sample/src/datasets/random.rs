//! Synthetic random prompts (vLLM `random`, inference-perf `random`): random ordinary token ids
//! of the drawn length, decoded to text, re-encoded and corrected until the text has exactly
//! that many tokens. Output lengths are drawn too and sent with `ignore_eos`, as vLLM does for
//! its random dataset, so the server generates exactly `max_tokens`.

use super::{Dataset, Item, LoadCtx, Task, Unit};
use crate::lengths::LenDist;
use crate::tokenizer::TokenCounter;
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde_json::{json, Map};

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
        let input = ctx.opts.input_len.unwrap_or(DEFAULT_INPUT);
        let output = ctx.opts.output_len.unwrap_or(DEFAULT_OUTPUT);
        let n = ctx.opts.n.unwrap_or(DEFAULT_N);
        // vLLM's --random-prefix-len: one random prefix in front of every prompt.
        let prefix = match ctx.opts.prefix_len {
            Some(p) if p > 0 => Some(random_text(ctx.tok, p, &mut unit_rng(ctx.opts.seed, 5, 0))?),
            _ => None,
        };
        (0..n)
            .into_par_iter()
            .map(|i| {
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
