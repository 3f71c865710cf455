//! Synthetic shared-prefix groups (inference-perf `shared_prefix`, vLLM `prefix_repetition`):
//! `--groups` prefixes of `--prefix-len` random tokens, each followed by `--prompts-per-group`
//! different questions of `--input-len` tokens. Every request carries its group in `prefix`, so
//! reports can split latency by prefix-cache hits.

use super::random::{random_text, unit_rng};
use super::{Dataset, Item, LoadCtx, Task, Unit};
use crate::lengths::LenDist;
use anyhow::Result;
use rayon::prelude::*;
use serde_json::{json, Map};

pub struct SharedPrefix;

impl Dataset for SharedPrefix {
    fn name(&self) -> &'static str {
        "shared-prefix"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        None
    }
    fn about(&self) -> &'static str {
        "synthetic groups of prompts sharing a random prefix (inference-perf `shared_prefix`)"
    }
    fn tasks(&self) -> &'static [Task] {
        &[Task {
            name: "shared-prefix",
            about: "completions: prefix + question; chat: prefix as the system message, question as the user message",
            chat: false,
        }]
    }
    fn flags(&self) -> &'static str {
        "--groups (10) --prompts-per-group (10) --prefix-len (100) --input-len DIST question (50) --output-len DIST (50)"
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let groups = ctx.opts.groups.unwrap_or(10);
        let per_group = ctx.opts.prompts_per_group.unwrap_or(10);
        let prefix_len = ctx.opts.prefix_len.unwrap_or(100);
        let question = ctx.opts.input_len.unwrap_or(LenDist::Fixed(50));
        let output = ctx.opts.output_len.unwrap_or(LenDist::Fixed(50));
        let prefixes: Vec<String> = (0..groups)
            .into_par_iter()
            .map(|g| random_text(ctx.tok, prefix_len, &mut unit_rng(ctx.opts.seed, 2, g as u64)))
            .collect::<Result<_>>()?;
        let chat = ctx.api == sb_records::Api::Chat;
        (0..groups * per_group)
            .into_par_iter()
            .map(|i| {
                let g = i / per_group;
                let mut rng = unit_rng(ctx.opts.seed, 3, i as u64);
                let q_len = question.sample(&mut rng);
                let out_len = output.sample(&mut rng);
                let q = random_text(ctx.tok, q_len, &mut rng)?;
                let prefix = &prefixes[g as usize];
                let mut params = Map::new();
                params.insert("ignore_eos".into(), json!(true));
                Ok(Unit::one(Item {
                    text: if chat { q } else { format!("{prefix} {q}") },
                    system: chat.then(|| prefix.clone()),
                    max_tokens: Some(out_len),
                    prefix: Some(format!("group-{g}")),
                    params,
                    source: format!("shared-prefix:group-{g}:{}", i % per_group),
                    ..Default::default()
                }))
            })
            .collect()
    }
}
