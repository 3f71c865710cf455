//! vLLM's sonnet dataset (`vllm/benchmarks/datasets/sonnet.py`): a fixed block of poem lines as
//! a shared prefix plus randomly drawn lines, sized in lines from the tokenizer's mean tokens per
//! line. The line arithmetic is vLLM's, Python's half-to-even `round` included, so the same
//! lengths give the same number of lines as `vllm bench serve --dataset-name sonnet`.

use super::random::unit_rng;
use super::{Dataset, Item, LoadCtx, Task, Unit};
use crate::formats::read_lines_keepends;
use crate::tokenizer::TokenCounter;
use anyhow::{bail, Result};
use rand::Rng;
use rayon::prelude::*;
use sb_records::Message;

pub struct Sonnet;

pub const BASE_PROMPT: &str = "Pick as many lines as you can from these poem lines:\n";

/// vLLM's line counts for the requested lengths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SonnetPlan {
    pub avg_line_tokens: f64,
    pub base_offset_tokens: u32,
    pub input_lines: usize,
    pub prefix_lines: usize,
}

pub fn plan(tok: &TokenCounter, lines: &[String], input_len: u32, prefix_len: u32) -> Result<SonnetPlan> {
    if !tok.has_chat_template() {
        bail!("sonnet needs a tokenizer with a chat template (vLLM sizes it with the template applied)");
    }
    let total: u64 = lines.iter().map(|l| tok.count(l).map(u64::from)).sum::<Result<u64>>()?;
    let avg = total as f64 / lines.len() as f64;
    let base = tok.count_chat(&[Message { role: "user".into(), content: BASE_PROMPT.into() }])?;
    if input_len <= base {
        bail!("--input-len {input_len} must exceed the base prompt's {base} tokens");
    }
    let input_lines = ((input_len - base) as f64 / avg).round_ties_even() as usize;
    let prefix_lines = ((prefix_len as f64 - base as f64) / avg).round_ties_even().max(0.0) as usize;
    if prefix_lines > input_lines {
        bail!("--prefix-len {prefix_len} is longer than --input-len {input_len}");
    }
    Ok(SonnetPlan { avg_line_tokens: avg, base_offset_tokens: base, input_lines, prefix_lines })
}

impl Dataset for Sonnet {
    fn name(&self) -> &'static str {
        "sonnet"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        None
    }
    fn about(&self) -> &'static str {
        "vLLM benchmarks/sonnet.txt: shared block of poem lines + random lines (needs --source sonnet.txt)"
    }
    fn tasks(&self) -> &'static [Task] {
        &[Task {
            name: "sonnet",
            about: "completions get the chat-templated prompt, chat the raw prompt (as vLLM sends them)",
            chat: false,
        }]
    }
    fn flags(&self) -> &'static str {
        "--source sonnet.txt --input-len N (550) --prefix-len N (200) --output-len N (150) -n (1000)"
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let Some(path) = ctx.files.single_file() else {
            bail!("sonnet reads vLLM's benchmarks/sonnet.txt: pass it with --source");
        };
        let fixed = |d: Option<crate::lengths::LenDist>, default: u32, flag: &str| -> Result<u32> {
            match d {
                None => Ok(default),
                Some(d) => d.fixed().ok_or_else(|| anyhow::anyhow!("sonnet takes a fixed {flag}, not {d}")),
            }
        };
        let input_len = fixed(ctx.opts.input_len, 550, "--input-len")?;
        let output_len = fixed(ctx.opts.output_len, 150, "--output-len")?;
        let prefix_len = ctx.opts.prefix_len.unwrap_or(200);
        let lines = read_lines_keepends(path)?;
        if lines.is_empty() {
            bail!("{}: empty", path.display());
        }
        let p = plan(ctx.tok, &lines, input_len, prefix_len)?;
        let prefix: String = lines[..p.prefix_lines.min(lines.len())].concat();
        let n = ctx.opts.n.unwrap_or(super::random::DEFAULT_N);
        (0..n)
            .into_par_iter()
            .map(|i| {
                let mut rng = unit_rng(ctx.opts.seed, 4, i as u64);
                // vLLM (since 2025) redraws a prompt whose templated length exceeds input_len.
                let mut text = String::new();
                for _ in 0..100 {
                    text = format!("{BASE_PROMPT}{prefix}");
                    for _ in 0..p.input_lines - p.prefix_lines {
                        text.push_str(&lines[rng.random_range(0..lines.len())]);
                    }
                    let n_tok = ctx.tok.count_chat(&[Message { role: "user".into(), content: text.clone() }])?;
                    if n_tok <= input_len {
                        break;
                    }
                }
                Ok(Unit::one(Item {
                    text,
                    max_tokens: Some(output_len),
                    prefix: Some(format!("sonnet-{}-lines", p.prefix_lines)),
                    source: format!("{}:{i}", path.file_name().unwrap_or_default().to_string_lossy()),
                    template_for_completions: true,
                    ..Default::default()
                }))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::{fixture, testdata};

    fn lines() -> Vec<String> {
        read_lines_keepends(&testdata("vllm/sonnet.txt")).unwrap()
    }

    #[test]
    fn reads_lines_like_python_readlines() {
        let l = lines();
        assert_eq!(l.len(), 518);
        assert!(l[0].ends_with('\n') && !l[517].ends_with('\n'));
    }

    // Golden values of the fixtures README (Python tokenizers + jinja2, vLLM's arithmetic).
    #[test]
    fn whole_file_token_counts_match_reference() {
        let text = std::fs::read_to_string(testdata("vllm/sonnet.txt")).unwrap();
        assert_eq!(fixture("gpt2").count(&text).unwrap(), 6015);
        assert_eq!(fixture("qwen3-0.6b").count(&text).unwrap(), 5569);
    }

    #[test]
    fn line_arithmetic_matches_vllm_for_qwen3() {
        let tok = fixture("qwen3-0.6b");
        let l = lines();
        let p = plan(&tok, &l, 550, 200).unwrap();
        assert!((p.avg_line_tokens - 10.7510).abs() < 5e-5, "{}", p.avg_line_tokens);
        assert_eq!(p.base_offset_tokens, 20);
        assert_eq!((p.input_lines, p.prefix_lines), (49, 17));
        let p = plan(&tok, &l, 512, 128).unwrap();
        assert_eq!((p.input_lines, p.prefix_lines), (46, 10));
    }

    #[test]
    fn gpt2_mean_line_length_matches_but_sonnet_needs_a_template() {
        let tok = fixture("gpt2");
        let l = lines();
        let total: u32 = l.iter().map(|x| tok.count(x).unwrap()).sum();
        assert!((total as f64 / l.len() as f64 - 11.6120).abs() < 5e-5);
        let err = plan(&tok, &l, 550, 200).unwrap_err().to_string();
        assert!(err.contains("chat template"), "{err}");
    }
}
