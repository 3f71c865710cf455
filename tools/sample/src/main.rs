//! sb-sample: datasets -> request records (NDJSON on stdout).

use anyhow::{anyhow, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use sb_records::Api;
use std::path::PathBuf;
use std::process::ExitCode;

mod chat_template;
mod datasets;
mod fastcount;
mod formats;
mod hub;
mod inspect;
mod lengths;
mod list;
mod progress;
mod pyliteral;
mod run;
mod sample;
mod tokenizer;
mod trace;

use lengths::LenDist;

const EXAMPLES: &str = "\
Examples:
  # 1,000 MMLU 5-shot questions, counted with Qwen3's tokenizer, sent to a server by sb-load
  sb-sample mmlu -n 1000 --seed 42 --tokenizer Qwen/Qwen3-0.6B | sb-load --url http://127.0.0.1:8000 ...

  # vLLM's random dataset: 512 +- 10% input tokens, 128 output tokens (ignore_eos), no Hub needed
  sb-sample random -n 500 --input-len uniform:461:563 --output-len 128 --tokenizer ./tokenizer.json

  # Shared-prefix groups (inference-perf): 10 groups x 20 prompts, 2,000-token prefix, 100-token questions
  sb-sample shared-prefix --groups 10 --prompts-per-group 20 --prefix-len 2000 --input-len 100 --tokenizer gpt2

  # vLLM's sonnet with the seed study's lengths, for the chat endpoint
  sb-sample sonnet --input-len 512 --prefix-len 128 --output-len 2 --api chat --tokenizer Qwen/Qwen3-0.6B

  # Multi-turn chat sessions from OpenChat's file, at most 4 turns each, Hub cache only
  sb-sample openchat -n 200 --max-turns 4 --offline --tokenizer Qwen/Qwen3-0.6B

  # LooGLE long-document QA (one document, many questions: shared prefix), middle-truncated to 30k
  sb-sample loogle --config longdep_qa --truncate 30000 --tokenizer Qwen/Qwen3-0.6B

  sb-sample list                      # every dataset and task
  sb-sample inspect loogle --offline --tokenizer gpt2   # a few rows and the length distribution

Files come from the Hugging Face Hub (HF_TOKEN for gated datasets; cache in HF_HUB_CACHE or
~/.cache/huggingface/hub), from the cache alone with --offline (or HF_HUB_OFFLINE=1), or from a
local file or directory with --source (a directory is read like a copy of the Hub repo).

Exit status: 0 ok, 1 fewer requests than -n asked for (the ones made are written), 2 usage or input error.";

/// servebench: turn benchmark datasets into request records (one JSON object per line on stdout).
///
/// Every record carries the prompt (or chat messages), `prompt_tokens` counted with a real
/// tokenizer, `max_tokens`, the dataset/task/source row, and where the task needs them the
/// reference answer, a shared-prefix group, a multi-turn session and turn, or sampling params.
#[derive(Parser)]
#[command(name = "sb-sample", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    sample: SampleArgs,
}

// Parsed once per process: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Describe every dataset and task, with their Hub repos and flags.
    List,
    /// Show a few rows as requests and the token length distribution of a sample.
    Inspect {
        #[command(flatten)]
        sample: SampleArgs,
        /// Requests to print in full.
        #[arg(long, default_value_t = 3)]
        rows: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ApiArg {
    Completions,
    Chat,
}

#[derive(Args, Clone)]
struct SampleArgs {
    /// Dataset name (see `sb-sample list`): random, shared-prefix, sonnet, sharegpt, mmlu, humaneval,
    /// alpaca, natural-questions, loogle, longbench, qmsum, openchat, mt-bench, custom; traces: mooncake,
    /// azure-llm, burstgpt.
    #[arg(required = true)]
    dataset: Option<String>,

    /// Task of the dataset (default: its first task in `sb-sample list`).
    #[arg(long, help_heading = "Sampling")]
    task: Option<String>,

    /// Units to sample: requests, or conversations for multi-turn tasks. Default: every row
    /// once (synthetic datasets: 1000).
    #[arg(short = 'n', long = "num-requests", value_name = "N", help_heading = "Sampling")]
    n: Option<usize>,

    /// Seed of the sampling order and of synthetic prompts: the same seed gives the same records.
    #[arg(long, default_value_t = 0, help_heading = "Sampling")]
    seed: u64,

    /// Draw with replacement (rows may repeat; -n may exceed the dataset).
    #[arg(long, help_heading = "Sampling")]
    replace: bool,

    /// Keep the dataset's order instead of shuffling (without replacement only).
    #[arg(long, help_heading = "Sampling")]
    no_shuffle: bool,

    /// Endpoint the requests are for (default: chat for multi-turn tasks, else completions).
    #[arg(long, value_enum, help_heading = "Sampling")]
    api: Option<ApiArg>,

    /// Tokenizer: a tokenizer.json (or .json.gz), a directory holding one with its
    /// tokenizer_config.json (for the chat template), or a Hub model id.
    #[arg(long, env = "SB_TOKENIZER", help_heading = "Files")]
    tokenizer: Option<String>,

    /// Hub dataset repo to read instead of the dataset's usual one (a mirror, a fork, THUDM/LongBench).
    #[arg(long, value_name = "OWNER/NAME", help_heading = "Files")]
    repo: Option<String>,

    /// Read the dataset from this local file or directory instead of the Hub.
    #[arg(long, value_name = "PATH", help_heading = "Files")]
    source: Option<PathBuf>,

    /// Use only the Hub cache; never touch the network (also HF_HUB_OFFLINE=1).
    #[arg(long, help_heading = "Files")]
    offline: bool,

    /// Hub cache directory (default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub).
    #[arg(long, value_name = "DIR", help_heading = "Files")]
    cache_dir: Option<PathBuf>,

    /// Dataset revision on the Hub: a branch, tag, or commit (e.g. refs/convert/parquet).
    #[arg(long, help_heading = "Files")]
    revision: Option<String>,

    /// Subset: MMLU subject, LooGLE config, LongBench task.
    #[arg(long, help_heading = "Prompts")]
    config: Option<String>,

    /// Split (default: the one the study uses, usually test).
    #[arg(long, help_heading = "Prompts")]
    split: Option<String>,

    /// MMLU few-shot examples from the dev split (0 or 5 in the study).
    #[arg(long, help_heading = "Prompts")]
    shots: Option<u32>,

    /// Prompt template variant (per dataset; see `sb-sample list`).
    #[arg(long, help_heading = "Prompts")]
    template: Option<String>,

    /// Input length in tokens: N, uniform:MIN:MAX, normal:MEAN:STD[:MIN:MAX] (synthetic; sonnet: N).
    #[arg(long, value_name = "DIST", value_parser = parse_len, help_heading = "Prompts")]
    input_len: Option<LenDist>,

    /// Output length in tokens, same forms (synthetic; sonnet: N).
    #[arg(long, value_name = "DIST", value_parser = parse_len, help_heading = "Prompts")]
    output_len: Option<LenDist>,

    /// Shared prefix length in tokens (shared-prefix, sonnet).
    #[arg(long, value_name = "TOKENS", help_heading = "Prompts")]
    prefix_len: Option<u32>,

    /// Shared-prefix groups.
    #[arg(long, help_heading = "Prompts")]
    groups: Option<u32>,

    /// Prompts per shared-prefix group.
    #[arg(long, help_heading = "Prompts")]
    prompts_per_group: Option<u32>,

    /// Beam width for the beam-search task (`n` and `best_of`).
    #[arg(long, help_heading = "Prompts")]
    beam_width: Option<u32>,

    /// Keep at most this many turns of each conversation (multi-turn tasks).
    #[arg(long, help_heading = "Prompts")]
    max_turns: Option<u32>,

    /// Fixed max_tokens for every request (default: the dataset's own, else the reference length).
    #[arg(long, value_name = "TOKENS", help_heading = "Lengths")]
    max_tokens: Option<u32>,

    // `vllm bench serve`'s flags with vLLM's meaning (vllm/benchmarks/datasets/random.py), so a
    // vLLM command line carries over flag for flag.
    /// vLLM's --num-prompts: the same as -n.
    #[arg(long, value_name = "N", conflicts_with = "n", help_heading = "vLLM-compatible")]
    num_prompts: Option<usize>,
    /// vLLM's --random-input-len (random dataset) [vLLM's default: 1024]: with --random-range-ratio R
    /// the input length is drawn uniformly from [floor(L' (1-R)), ceil(L' (1+R))], L' = L minus the
    /// special tokens the tokenizer adds (a BOS), so that prompt + specials come to about L.
    #[arg(long, value_name = "TOKENS", conflicts_with = "input_len", help_heading = "vLLM-compatible")]
    random_input_len: Option<u32>,
    /// vLLM's --random-output-len [vLLM's default: 128]: drawn from [floor(L (1-R)), ceil(L (1+R))], at least 1.
    #[arg(long, value_name = "TOKENS", conflicts_with = "output_len", help_heading = "vLLM-compatible")]
    random_output_len: Option<u32>,
    /// vLLM's --random-range-ratio R in [0, 1) [default: 0]: the spread of both lengths around their value.
    #[arg(long, value_name = "R", help_heading = "vLLM-compatible")]
    random_range_ratio: Option<f64>,
    /// vLLM's --random-prefix-len: one random prefix of this many tokens before every prompt (the same as --prefix-len).
    #[arg(long, value_name = "TOKENS", conflicts_with = "prefix_len", help_heading = "vLLM-compatible")]
    random_prefix_len: Option<u32>,

    /// Drop requests whose prompt is shorter than this.
    #[arg(long, value_name = "TOKENS", help_heading = "Lengths")]
    min_input_tokens: Option<u32>,
    /// Drop requests whose prompt is longer than this.
    #[arg(long, value_name = "TOKENS", help_heading = "Lengths")]
    max_input_tokens: Option<u32>,
    /// Drop requests whose output length is below this.
    #[arg(long, value_name = "TOKENS", help_heading = "Lengths")]
    min_output_tokens: Option<u32>,
    /// Drop requests whose output length is above this.
    #[arg(long, value_name = "TOKENS", help_heading = "Lengths")]
    max_output_tokens: Option<u32>,
    /// Drop requests whose prompt plus output is above this.
    #[arg(long, value_name = "TOKENS", help_heading = "Lengths")]
    max_total_tokens: Option<u32>,
    /// vLLM's filter (is_valid_sequence): prompt >= 4, output >= 4 (when it is the reference's
    /// length), prompt <= 1024, prompt + output <= 2048.
    #[arg(long, help_heading = "Lengths")]
    vllm_filter: bool,

    /// Middle-truncate prompt text to this many tokens (LongBench/LooGLE: first and last halves).
    #[arg(long, value_name = "TOKENS", help_heading = "Lengths")]
    truncate: Option<u32>,

    /// Extra request parameter, passed through verbatim (repeatable): temperature=0, ignore_eos=true.
    #[arg(long = "param", value_name = "KEY=JSON", help_heading = "Sampling")]
    params: Vec<String>,

    /// Prefix of request ids (default: "<dataset>-").
    #[arg(long, help_heading = "Sampling")]
    id_prefix: Option<String>,

    #[command(flatten)]
    trace: trace::TraceArgs,

    /// Progress with a total and ETA on stderr while loading and synthesizing: auto (when stderr
    /// is a terminal), always, never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"], help_heading = "Sampling")]
    progress: String,
}

fn parse_len(s: &str) -> Result<LenDist, String> {
    s.parse::<LenDist>().map_err(|e| e.to_string())
}

/// A boolean environment variable as huggingface_hub reads it (1/true/yes/on).
fn env_bool(name: &str) -> Result<bool> {
    let Ok(v) = std::env::var(name) else { return Ok(false) };
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        other => Err(anyhow!("{name}={other:?} is not a boolean (1/0, true/false)")),
    }
}

impl SampleArgs {
    /// Turns the vLLM-compatible flags into sb-sample's own; the input length stays vLLM's
    /// (length, ratio) until the tokenizer's special tokens are known (datasets/random.rs).
    fn vllm_flags(&mut self) -> Result<Option<(u32, f64)>> {
        if let Some(n) = self.num_prompts {
            self.n = Some(n);
        }
        let random = self.random_input_len.is_some()
            || self.random_output_len.is_some()
            || self.random_range_ratio.is_some()
            || self.random_prefix_len.is_some();
        if !random {
            return Ok(None);
        }
        if self.dataset.as_deref() != Some("random") {
            let d = self.dataset.as_deref().unwrap_or("");
            return Err(anyhow!("--random-input-len/-output-len/-range-ratio/-prefix-len are for the random dataset (vLLM's --dataset-name random), not {d:?}"));
        }
        let ratio = self.random_range_ratio.unwrap_or(0.0);
        if !(0.0..1.0).contains(&ratio) {
            return Err(anyhow!("--random-range-ratio {ratio}: must be in [0, 1), as in vLLM"));
        }
        let output = self.random_output_len.unwrap_or(128) as f64;
        let (lo, hi) =
            (((output * (1.0 - ratio)).floor() as u32).max(1), ((output * (1.0 + ratio)).ceil() as u32).max(1));
        self.output_len = Some(if lo == hi { LenDist::Fixed(lo) } else { LenDist::Uniform { min: lo, max: hi } });
        if self.random_prefix_len.is_some() {
            self.prefix_len = self.random_prefix_len;
        }
        Ok(Some((self.random_input_len.unwrap_or(1024), ratio)))
    }

    fn into_request(mut self) -> Result<run::RunArgs> {
        let vllm_random_input = self.vllm_flags()?;
        let mut params = serde_json::Map::new();
        for p in &self.params {
            let (k, v) = p.split_once('=').ok_or_else(|| anyhow!("--param {p:?}: expected KEY=VALUE"))?;
            // A JSON value when it parses as one (0.7, true, [1,2]), else the text.
            let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
            params.insert(k.trim().to_string(), value);
        }
        progress::set_mode(&self.progress);
        let mut filters = if self.vllm_filter { sample::Filters::vllm() } else { sample::Filters::default() };
        filters.min_input_tokens = self.min_input_tokens.or(filters.min_input_tokens);
        filters.max_input_tokens = self.max_input_tokens.or(filters.max_input_tokens);
        if self.min_output_tokens.is_some() {
            // Asked for explicitly: checked whatever the output length comes from.
            filters.min_output_tokens = self.min_output_tokens;
            filters.min_output_only_for_reference = false;
        }
        filters.max_output_tokens = self.max_output_tokens.or(filters.max_output_tokens);
        filters.max_total_tokens = self.max_total_tokens.or(filters.max_total_tokens);
        Ok(run::RunArgs {
            dataset: self.dataset.unwrap_or_default(),
            task: self.task,
            api: self.api.map(|a| match a {
                ApiArg::Completions => Api::Completions,
                ApiArg::Chat => Api::Chat,
            }),
            tokenizer: self.tokenizer,
            source: self.source,
            repo: self.repo,
            hub: hub::HubOpts {
                offline: self.offline || env_bool("HF_HUB_OFFLINE")?,
                cache_dir: self.cache_dir,
                revision: self.revision,
            },
            opts: datasets::DatasetOpts {
                config: self.config,
                split: self.split,
                shots: self.shots,
                template: self.template,
                input_len: self.input_len,
                vllm_random_input,
                output_len: self.output_len,
                prefix_len: self.prefix_len,
                groups: self.groups,
                prompts_per_group: self.prompts_per_group,
                beam_width: self.beam_width,
                max_turns: self.max_turns,
                n: self.n,
                seed: self.seed,
                trace: self.trace,
            },
            draw: sample::Draw {
                n: self.n,
                seed: self.seed,
                replace: self.replace,
                shuffle: !self.no_shuffle,
                max_tokens: self.max_tokens,
                filters,
                truncate_tokens: self.truncate,
                params,
            },
            id_prefix: self.id_prefix,
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::List) => list::print().map(|_| ExitCode::SUCCESS),
        Some(Command::Inspect { sample, rows }) => {
            sample.into_request().and_then(|args| inspect::run(args, rows)).map(|_| ExitCode::SUCCESS)
        }
        None => cli.sample.into_request().and_then(run::run).map(|o| o.exit_code()),
    };
    match result {
        Ok(code) => code,
        Err(err) => sb_cli::exit::on_error("sb-sample", &err),
    }
}
