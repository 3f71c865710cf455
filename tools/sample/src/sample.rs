//! From candidate units to request records: seeded order (with or without replacement),
//! tokenization in parallel batches, length filters, truncation, and records written in a
//! deterministic order, so `-n 1000 --seed 42` gives the same records on every machine.
//!
//! Like vLLM's ShareGPT sampler, units are visited in shuffled order and only as many are
//! tokenized as it takes to fill `-n`, so sampling 1,000 rows of a 90k-row dataset does not
//! tokenize the other 89k.

use crate::datasets::{Item, Unit};
use crate::tokenizer::TokenCounter;
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use sb_records::{Api, Message, Request};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Length filters, in tokens of the tokenizer in use. Output length is `max_tokens`.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub min_input_tokens: Option<u32>,
    pub max_input_tokens: Option<u32>,
    pub min_output_tokens: Option<u32>,
    pub max_output_tokens: Option<u32>,
    pub max_total_tokens: Option<u32>,
    /// vLLM's rule: the minimum output length is not checked when the output length is fixed
    /// (a flag or the dataset's own), only when it comes from the reference answer.
    pub min_output_only_for_reference: bool,
}

impl Filters {
    /// vLLM `is_valid_sequence`: prompt and output at least 4 tokens, prompt at most 1024, prompt
    /// plus output at most 2048.
    pub fn vllm() -> Filters {
        Filters {
            min_input_tokens: Some(4),
            max_input_tokens: Some(1024),
            min_output_tokens: Some(4),
            max_output_tokens: None,
            max_total_tokens: Some(2048),
            min_output_only_for_reference: true,
        }
    }

    fn keep(&self, input: u32, output: Option<u32>, output_from_reference: bool) -> bool {
        let out = output.unwrap_or(0);
        let check_min_output = output_from_reference || !self.min_output_only_for_reference;
        self.min_input_tokens.is_none_or(|m| input >= m)
            && self.max_input_tokens.is_none_or(|m| input <= m)
            && self.min_output_tokens.is_none_or(|m| output.is_none() || !check_min_output || out >= m)
            && self.max_output_tokens.is_none_or(|m| out <= m)
            && self.max_total_tokens.is_none_or(|m| input + out <= m)
    }
}

/// How to turn units into requests.
#[derive(Debug, Clone)]
pub struct SampleOpts {
    pub dataset: String,
    pub task: String,
    pub api: Api,
    pub draw: Draw,
    pub id_prefix: String,
    /// Put in front of every `source` (`cais/mmlu@main:` for Hub files).
    pub source_prefix: String,
}

/// Which units to draw and how to shape their requests, as the command line says.
#[derive(Debug, Clone, Default)]
pub struct Draw {
    /// Units to emit; `None` = every unit once.
    pub n: Option<usize>,
    pub seed: u64,
    pub replace: bool,
    pub shuffle: bool,
    /// Fixed output length for every request (overrides the dataset's).
    pub max_tokens: Option<u32>,
    pub filters: Filters,
    /// Middle-truncate prompt text to this many tokens (before any chat template).
    pub truncate_tokens: Option<u32>,
    /// `--param key=value`, merged over the dataset's own params.
    pub params: Map<String, Value>,
}

/// What a run produced, for the final line on stderr and the exit code.
#[derive(Debug, Default)]
pub struct Outcome {
    pub units: usize,
    pub requests: usize,
    pub filtered: usize,
    /// `-n` asked for more than the data could give.
    pub short: Option<String>,
}

/// The visiting order of unit indices.
enum Order {
    Permutation { idx: Vec<usize>, at: usize },
    Draws { rng: Box<ChaCha8Rng>, len: usize, rejected: HashSet<usize> },
}

impl Order {
    fn new(len: usize, opts: &SampleOpts) -> Order {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.draw.seed);
        if opts.draw.replace {
            Order::Draws { rng: Box::new(rng), len, rejected: HashSet::new() }
        } else {
            let mut idx: Vec<usize> = (0..len).collect();
            if opts.draw.shuffle {
                idx.shuffle(&mut rng);
            }
            Order::Permutation { idx, at: 0 }
        }
    }

    /// The next `k` indices (fewer when a permutation runs out).
    fn take(&mut self, k: usize) -> Vec<usize> {
        match self {
            Order::Permutation { idx, at } => {
                let end = (*at + k).min(idx.len());
                let out = idx[*at..end].to_vec();
                *at = end;
                out
            }
            // One stream of draws, whatever the batch sizes: the same seed gives the same units
            // on any number of threads.
            Order::Draws { rng, len, rejected } => {
                if rejected.len() >= *len || *len == 0 {
                    return Vec::new();
                }
                (0..k).map(|_| rng.random_range(0..*len)).collect()
            }
        }
    }

    fn reject(&mut self, i: usize) {
        if let Order::Draws { rejected, .. } = self {
            rejected.insert(i);
        }
    }
}

/// Samples units and hands each finished request to `emit`, in order.
pub fn run(
    units: &[Unit],
    tok: &TokenCounter,
    opts: &SampleOpts,
    mut emit: impl FnMut(&Request) -> Result<()>,
) -> Result<Outcome> {
    if units.is_empty() {
        bail!("the dataset yielded no rows for this task");
    }
    let want = opts.draw.n.unwrap_or(units.len());
    let mut order = Order::new(units.len(), opts);
    let mut outcome = Outcome::default();
    let batch = (rayon::current_num_threads() * 8).max(16);
    // Bound the work when filters reject almost everything under replacement.
    let max_draws = want.saturating_mul(100).max(10_000);
    let mut drawn = 0usize;
    while outcome.units < want {
        let need = want - outcome.units;
        let picks = order.take(need.min(batch));
        if picks.is_empty() {
            break;
        }
        drawn += picks.len();
        let built: Vec<Result<Option<Vec<Request>>>> =
            picks.par_iter().map(|&i| build_unit(&units[i], tok, opts)).collect();
        for (&i, result) in picks.iter().zip(built) {
            if outcome.units >= want {
                break;
            }
            match result? {
                None => {
                    outcome.filtered += 1;
                    order.reject(i);
                }
                Some(mut requests) => {
                    let k = outcome.units;
                    let session = format!("{}{k}", opts.id_prefix);
                    let multi = units[i].multi_turn;
                    for (turn, req) in requests.iter_mut().enumerate() {
                        if multi {
                            req.id = format!("{session}-t{turn}");
                            req.session = Some(session.clone());
                            req.turn = Some(turn as u32);
                        } else {
                            req.id = session.clone();
                        }
                        emit(req)?;
                        outcome.requests += 1;
                    }
                    outcome.units += 1;
                }
            }
        }
        if opts.draw.replace && drawn >= max_draws && outcome.units < want {
            break;
        }
    }
    // Without -n every row is used once: fewer after filtering is the answer, not a shortfall.
    if outcome.units < want && opts.draw.n.is_some() {
        outcome.short = Some(if outcome.units == 0 {
            format!("no row passed the length filters ({} rejected)", outcome.filtered)
        } else if opts.draw.replace {
            format!("only {} of {want} units passed the length filters in {drawn} draws", outcome.units)
        } else {
            format!(
                "only {} of {want} units available ({} rows, {} filtered out); pass --replace to draw with replacement",
                outcome.units,
                units.len(),
                outcome.filtered
            )
        });
    }
    Ok(outcome)
}

fn user(text: String) -> Message {
    Message { role: "user".into(), content: text }
}

/// The requests of one unit, or `None` when a length filter drops it.
pub fn build_unit(unit: &Unit, tok: &TokenCounter, opts: &SampleOpts) -> Result<Option<Vec<Request>>> {
    if unit.multi_turn && opts.api != Api::Chat {
        bail!("multi-turn conversations need --api chat (each turn extends the conversation's messages)");
    }
    let mut history: Vec<Message> = Vec::new();
    let mut out = Vec::with_capacity(unit.items.len());
    for item in &unit.items {
        let built;
        let source_text = match &item.synth {
            Some(synth) => {
                built = synth.text(tok, opts.api)?;
                &built
            }
            None => &item.text,
        };
        let text = match opts.draw.truncate_tokens {
            Some(budget) => tok.truncate_middle(source_text, budget)?,
            None => source_text.clone(),
        };
        let mut req = base_request(item, opts);
        // Synthesized word-token prompts have their length by construction (trace.rs).
        let known = item.synth.as_ref().and_then(|s| s.exact_tokens()).filter(|_| opts.draw.truncate_tokens.is_none());
        let prompt_tokens = match opts.api {
            Api::Chat => {
                let mut turn_msgs = Vec::new();
                if history.is_empty() {
                    if let Some(sys) = &item.system {
                        turn_msgs.push(Message { role: "system".into(), content: sys.clone() });
                    }
                }
                turn_msgs.push(user(text));
                history.extend(turn_msgs.iter().cloned());
                // For turn k the server sees the history with the replies it gave; the reference
                // replies stand in for them here, so the count is exact when the server answers
                // like the dataset did.
                let n = match known {
                    Some(n) if history.len() == 1 => n,
                    _ => tok.count_chat(&history)?,
                };
                req.messages = Some(turn_msgs);
                n
            }
            Api::Completions => {
                let prompt = if item.template_for_completions { tok.render_chat(&[user(text)])? } else { text };
                let n = match known {
                    Some(n) if !item.template_for_completions => n,
                    _ => tok.count(&prompt)?,
                };
                req.prompt = Some(prompt);
                n
            }
        };
        let (max_tokens, from_reference) = match (opts.draw.max_tokens, item.max_tokens, &item.expected) {
            (Some(m), _, _) => (Some(m), false),
            (None, Some(m), _) => (Some(m), false),
            (None, None, Some(reference)) => (Some(tok.count_output(reference)?.max(1)), true),
            _ => (None, false),
        };
        if !opts.draw.filters.keep(prompt_tokens, max_tokens, from_reference) {
            return Ok(None);
        }
        if unit.multi_turn {
            history.push(Message { role: "assistant".into(), content: item.expected.clone().unwrap_or_default() });
        }
        req.prompt_tokens = Some(prompt_tokens);
        req.tokenizer = Some(tok.name.clone());
        req.max_tokens = max_tokens;
        out.push(req);
    }
    Ok(Some(out))
}

fn base_request(item: &Item, opts: &SampleOpts) -> Request {
    let mut params = item.params.clone();
    for (k, v) in &opts.draw.params {
        params.insert(k.clone(), v.clone());
    }
    Request {
        api: opts.api,
        dataset: Some(opts.dataset.clone()),
        task: Some(opts.task.clone()),
        source: Some(format!("{}{}", opts.source_prefix, item.source)),
        prefix: item.prefix.clone(),
        expected: item.expected.clone(),
        params,
        at_ms: item.at_ms,
        session: item.session.clone(),
        turn: item.turn,
        ..Default::default()
    }
}
