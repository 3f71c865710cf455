//! Command-line settings of `sb-sim`: the timing model, capacity, and fault injection.

use clap::Parser;
use std::path::PathBuf;

/// An OpenAI-compatible server that behaves like vLLM from the outside, with a timing model you
/// set from flags, so every servebench pipeline runs with no GPU.
///
/// Timing model: an engine loop runs steps like vLLM's continuous batching. A request is admitted
/// when a sequence slot (--max-num-seqs) and KV budget (--kv-tokens, prompt + max_tokens reserved
/// per sequence) are free, otherwise it waits in FIFO order. The step that admits it prefills its
/// uncached prompt tokens (--prefill-us-per-token each) and yields its first token; every later
/// step yields one token per running sequence. A step lasts
///   decode-ms + decode-ms-per-seq x running sequences + prefill time of newly admitted prompts,
/// times (1 + jitter x N(0,1)). Alone, a request sees
///   TTFT ~= prompt_tokens x prefill-us-per-token + decode-ms + decode-ms-per-seq
///   ITL  ~= decode-ms + decode-ms-per-seq.
///
/// Examples:
///   sb-sim --port 8000                                  # defaults: 8 ms steps, 20 us/prompt token
///   sb-sim --decode-ms 20 --max-num-seqs 8              # a small, slow server that queues
///   sb-sim --instant --threads 1                        # no timing: measure the client's ceiling
///   sb-sim --fail-429 0.1 --cut 0.05 --seed 7           # 10% 429s, 5% streams cut mid-way
#[derive(Parser, Clone, Debug)]
#[command(name = "sb-sim", version, verbatim_doc_comment)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free one (see --addr-file).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Write the base URL (http://host:port) to this file once listening.
    #[arg(long, value_name = "PATH")]
    pub addr_file: Option<PathBuf>,
    /// Served model name, as in `vllm serve --served-model-name` (requests must name it).
    #[arg(long, default_value = "sim")]
    pub model: String,
    /// Tokio worker threads for HTTP (the engine has its own thread).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,

    /// Prefill time per uncached prompt token, microseconds.
    #[arg(long, default_value_t = 20.0, value_name = "US")]
    pub prefill_us_per_token: f64,
    /// Base duration of one engine step, milliseconds.
    #[arg(long, default_value_t = 8.0, value_name = "MS")]
    pub decode_ms: f64,
    /// Added to a step's duration per running sequence, milliseconds.
    #[arg(long, default_value_t = 0.02, value_name = "MS")]
    pub decode_ms_per_seq: f64,
    /// Cap on running sequences (vLLM --max-num-seqs); more requests wait.
    #[arg(long, default_value_t = 256)]
    pub max_num_seqs: u32,
    /// KV-cache budget in tokens; a sequence reserves prompt + max_tokens on admission.
    #[arg(long, default_value_t = 262_144)]
    pub kv_tokens: u64,
    /// Longest prompt + output accepted (vLLM --max-model-len); longer requests get HTTP 400.
    #[arg(long, default_value_t = 32_768)]
    pub max_model_len: u32,
    /// Tokens per KV block; the prefix cache matches whole blocks.
    #[arg(long, default_value_t = 16)]
    pub block_size: u32,
    /// Turn the prefix cache off (vLLM V1 has it on by default).
    #[arg(long)]
    pub no_prefix_caching: bool,
    /// Relative standard deviation of each step's duration (0.1 = 10%).
    #[arg(long, default_value_t = 0.0)]
    pub jitter: f64,
    /// Seed for jitter and fault injection.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output length when a request sets no max_tokens (vLLM's completions default is 16).
    #[arg(long, default_value_t = 256)]
    pub default_max_tokens: u32,
    /// No timing model: answer every request at once with all its chunks. For measuring a
    /// client's ceiling; /metrics still counts requests and tokens.
    #[arg(long)]
    pub instant: bool,
    /// Count prompt tokens with this tokenizer.json (plain or .gz, or a directory holding one;
    /// default: one token per whitespace-separated word).
    #[arg(long, value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,

    /// Share of requests answered with HTTP 429.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub fail_429: f64,
    /// Share of requests answered with HTTP 500.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub fail_500: f64,
    /// Share of streams cut mid-way (connection closed after half the tokens, no [DONE]).
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub cut: f64,
    /// Share of streams that stall mid-way for --stall-ms before going on.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub stall: f64,
    /// Length of a stall, milliseconds.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    pub stall_ms: u64,

    /// End streams without `data: [DONE]`: the body just ends after the last event (the usage
    /// chunk, or the chunk with finish_reason), as `transformers serve` 5.17 does.
    #[arg(long)]
    pub no_done: bool,
    /// Behave like another server where it differs from vLLM. `transformers` (serve 5.17): no
    /// `[DONE]`, chat ignores `max_completion_tokens` (only `max_tokens` counts), errors are
    /// FastAPI's `{"detail": "..."}`, and GET /v1/models answers HTTP 500.
    #[arg(long, value_enum, default_value = "vllm")]
    pub compat: Compat,
}

/// Which server's quirks `sb-sim` reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Compat {
    Vllm,
    Transformers,
}

impl SimArgs {
    /// Streams end without `[DONE]`.
    pub fn ends_without_done(&self) -> bool {
        self.no_done || self.compat == Compat::Transformers
    }
}

impl SimArgs {
    /// Checks values that clap's types cannot.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in
            [("--fail-429", self.fail_429), ("--fail-500", self.fail_500), ("--cut", self.cut), ("--stall", self.stall)]
        {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} {p}: a share must be between 0 and 1"));
            }
        }
        if self.fail_429 + self.fail_500 > 1.0 {
            return Err("--fail-429 + --fail-500 must not exceed 1".into());
        }
        for (name, v) in [
            ("--prefill-us-per-token", self.prefill_us_per_token),
            ("--decode-ms", self.decode_ms),
            ("--decode-ms-per-seq", self.decode_ms_per_seq),
            ("--jitter", self.jitter),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{name} {v}: must be a non-negative number"));
            }
        }
        if self.max_num_seqs == 0 || self.block_size == 0 || self.kv_tokens == 0 || self.threads == 0 {
            return Err("--max-num-seqs, --block-size, --kv-tokens and --threads must be positive".into());
        }
        Ok(())
    }
}
