//! sb-load: request records on stdin -> result records on stdout, one per finished request,
//! written as it finishes. This file only parses arguments and maps the outcome to an exit code.

mod alarm;
mod arrival;
mod client;
mod input;
mod limits;
mod output;
mod phase;
mod pool;
mod probe;
mod progress;
mod run;
mod schedule;
mod session;
mod spool;
mod sse;
mod tokens;

use anyhow::{bail, Context, Result};
use arrival::{parse_duration, parse_positive_duration, Process, Stage};
use clap::Parser;
use client::ClientOptions;
use run::RunOptions;
use schedule::{Labels, Plan, Shard, Warmup};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  # Poisson arrivals at 12 req/s against a local vLLM, results to a file and a summary
  sb-sample sharegpt -n 1000 --seed 42 \\
    | sb-load --url http://127.0.0.1:8000 --model Qwen/Qwen3-0.6B --rate poisson:12 \\
    | tee results.ndjson | sb-report

  # Closed loop: 64 in flight, stop after 2 minutes, the first 100 requests are warm-up
  sb-load --url $URL --model m -c 64 --duration 2m --warmup 100 < req.ndjson > res.ndjson

  # Stages like inference-perf: 10 req/s for 30 s, then 20, then 40
  sb-load --url $URL --model m --stage poisson:10@30s --stage poisson:20@30s \\
    --stage poisson:40@30s < req.ndjson

  # Replay a trace's at_ms twice as fast, as pod 3 of an 8-pod Kubernetes Job
  sb-load --url $URL --model m --rate trace:2 --shard 3/8 --run r1 < trace.ndjson

Output: one `result` record per request as it finishes, then one `run` record with the achieved
rate, send lateness percentiles and the verdict. A one-line summary goes to stderr.

Exit status: 0 ok; 1 the run failed a check (p99 send lateness over --max-lag, or more failed
requests than --max-error-rate); 2 bad arguments or a bad input line (named with its line
number; requests already sent are still recorded); 130 stopped by SIGINT/SIGTERM.";

/// Fire request records at an OpenAI-compatible server (vLLM, sb-sim, ...) on an exact arrival
/// schedule and write one result record per finished request, with every chunk's arrival time.
#[derive(Parser, Debug)]
#[command(name = "sb-load", version, after_help = EXAMPLES, max_term_width = 100)]
struct Args {
    /// Base URL of the server (http or https); `/v1/completions` or `/v1/chat/completions` is
    /// appended according to each request's `api`.
    #[arg(long, env = "SB_LOAD_URL", hide_env_values = true)]
    url: String,

    /// Model name sent in every request (default: the server's first model, from GET /v1/models,
    /// as vLLM bench serve does).
    #[arg(long)]
    model: Option<String>,

    /// Arrival process: inf (all at once), R or constant:R (evenly spaced, R req/s),
    /// poisson:R, gamma:R:BURSTINESS (vLLM's burstiness: 1 = Poisson, <1 burstier),
    /// trace[:SPEED] (replay each request's at_ms). Note: a bare R is constant; vLLM's
    /// --request-rate R is Poisson (poisson:R, or --request-rate below).
    #[arg(long, conflicts_with = "stage", help_heading = "Load")]
    rate: Option<String>,

    /// A stage PROCESS@DURATION (e.g. poisson:20@30s); repeat for a staged run. Results carry
    /// the stage index.
    #[arg(long = "stage", value_name = "PROCESS@DURATION", help_heading = "Load")]
    stage: Vec<String>,

    /// Alone: closed loop with N requests in flight. With a --rate: a cap on requests in flight
    /// (queueing behind the cap counts as send lateness).
    #[arg(long, short = 'c', value_name = "N", help_heading = "Load")]
    concurrency: Option<usize>,

    /// At most N connections to the server at once (default: the --concurrency cap, else 2500,
    /// inference-perf's per-worker limit). A request that finds all N busy waits for one to
    /// come back, and that wait counts as send lateness; the run record says how many waited.
    #[arg(long, value_name = "N", help_heading = "Load")]
    max_connections: Option<usize>,

    /// Open N connections before the first request, so that the first second is on schedule
    /// (default: the --concurrency cap for a closed loop; for a rate, rate x 100 ms of the first
    /// stage; at most --max-connections). 0 opens them on demand.
    #[arg(long, value_name = "N", help_heading = "Load")]
    connections: Option<usize>,

    /// Seed of the arrival process (same seed, same schedule).
    #[arg(long, default_value_t = 0, help_heading = "Load")]
    seed: u64,

    /// Stop after N requests of the input (all shards together).
    #[arg(long, short = 'n', value_name = "N", help_heading = "Load")]
    max_requests: Option<u64>,

    /// Stop sending after this long (e.g. 90s, 5m); requests in flight finish.
    #[arg(long, value_name = "DURATION", help_heading = "Load")]
    duration: Option<String>,

    /// Warm-up: a count of requests (100) or a time (30s) from the start. Warm-up requests are
    /// sent and recorded with `warmup: true`, and left out of rates and lateness.
    #[arg(long, value_name = "N|DURATION", help_heading = "Load")]
    warmup: Option<String>,

    /// Send only this shard's part of the stream: i/N takes every N-th request (all turns of a
    /// session go to one shard). The schedule is the whole stream's, so N shards together send
    /// exactly the unsharded run.
    #[arg(long, value_name = "i/N", help_heading = "Load")]
    shard: Option<String>,

    /// Name of the environment variable holding the API key (sent as a Bearer token, never
    /// printed or recorded).
    #[arg(long, default_value = "OPENAI_API_KEY", value_name = "VAR", help_heading = "Requests")]
    api_key_env: String,

    /// Extra request header, `Name: value`; repeatable.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", help_heading = "Requests")]
    headers: Vec<String>,

    /// PEM file of CA certificates to trust for an https --url (a server behind a private CA),
    /// instead of the public web roots.
    #[arg(long, value_name = "PEM", help_heading = "Requests")]
    ca_cert: Option<String>,

    /// Per-request timeout, from send to the end of the response.
    #[arg(long, default_value = "600s", value_name = "DURATION", help_heading = "Requests")]
    timeout: String,

    /// Ask for whole responses instead of a stream (no TTFT or ITL then).
    #[arg(long, help_heading = "Requests")]
    no_stream: bool,

    /// The output-length field(s) of a chat request: both (max_completion_tokens and
    /// max_tokens; vLLM reads either, some servers only max_tokens), max-completion-tokens
    /// (vLLM bench serve's choice) or max-tokens.
    #[arg(long, value_enum, default_value = "both", value_name = "FIELD", help_heading = "Requests")]
    chat_max_tokens: client::ChatMaxTokens,

    /// Do not ask for `stream_options.include_usage` (for servers that refuse it).
    #[arg(long, help_heading = "Requests")]
    no_usage: bool,

    /// tokenizer.json (or a directory holding one) to count output tokens on the client side,
    /// recorded beside the server's usage as `output_tokens`.
    #[arg(long, value_name = "PATH", help_heading = "Requests")]
    tokenizer: Option<String>,

    /// Keep the generated text (choice 0) in each result.
    #[arg(long, help_heading = "Requests")]
    save_text: bool,

    /// Run identifier written on every record (default: a fresh one).
    #[arg(long, value_name = "ID", help_heading = "Records")]
    run: Option<String>,

    /// Label every record, `key=value`; repeatable (e.g. a sweep point).
    #[arg(long = "tag", value_name = "KEY=VALUE", help_heading = "Records")]
    tags: Vec<String>,

    /// The run fails (exit 1) when p99 send lateness exceeds this many milliseconds.
    #[arg(long, default_value_t = 10.0, value_name = "MS", help_heading = "Checks")]
    max_lag: f64,

    /// The run fails (exit 1) when more than this fraction of requests failed (0 = any).
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION", help_heading = "Checks")]
    max_error_rate: f64,

    /// After SIGINT/SIGTERM, how long requests in flight may finish before being cancelled
    /// (0s: cancel them at once).
    #[arg(long, default_value = "10s", value_name = "DURATION", help_heading = "Checks")]
    grace: String,

    /// Progress line on stderr: auto (when stderr is a terminal), always, never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"], help_heading = "Run")]
    progress: String,

    /// Worker threads of the event loop (1 keeps the client on one core).
    #[arg(long, default_value_t = 1, value_name = "N", help_heading = "Run")]
    threads: usize,

    /// Keep the event loop polling instead of sleeping between events: removes the CPU's
    /// wake-up latency (typically 0.05-0.3 ms on an idle core) from TTFT and ITL, at the cost
    /// of one fully busy core. Only on a core of its own (e.g. with taskset): on a shared,
    /// oversubscribed machine it makes timing worse.
    #[arg(long, help_heading = "Run")]
    spin: bool,

    /// vLLM bench serve's --request-rate: Poisson arrivals at R req/s (gamma with --burstiness),
    /// or inf (the default there and here).
    #[arg(long, value_name = "R", conflicts_with_all = ["rate", "stage"], help_heading = "vLLM-compatible")]
    request_rate: Option<String>,

    /// vLLM bench serve's --burstiness with --request-rate: the gamma shape of the gaps
    /// (1 = Poisson, below 1 burstier, above 1 more regular).
    #[arg(long, value_name = "B", requires = "request_rate", help_heading = "vLLM-compatible")]
    burstiness: Option<f64>,

    /// vLLM bench serve's --max-concurrency: at most N requests in flight (the same as
    /// --concurrency).
    #[arg(long, value_name = "N", conflicts_with = "concurrency", help_heading = "vLLM-compatible")]
    max_concurrency: Option<usize>,

    /// Request records to read (`-` or none: stdin).
    #[arg(value_name = "FILE")]
    input: Option<String>,
}

/// The arrival process of a run without stages, from --rate or vLLM's --request-rate.
fn single_process(args: &Args) -> Result<Process> {
    if let Some(r) = &args.request_rate {
        let burstiness = args.burstiness.unwrap_or(1.0);
        if !(burstiness.is_finite() && burstiness > 0.0) {
            bail!("--burstiness must be a positive number (1 = Poisson), got {burstiness}");
        }
        let r = r.trim();
        if r == "inf" {
            return Ok(Process::Burst);
        }
        let spec = if burstiness == 1.0 { format!("poisson:{r}") } else { format!("gamma:{r}:{burstiness}") };
        return Process::parse(&spec).context("--request-rate");
    }
    let rate = args.rate.as_deref().unwrap_or("inf");
    let process = Process::parse(rate).context("--rate")?;
    if let Process::Constant { rate_per_s } = process {
        eprintln!(
            "sb-load: constant arrivals at {rate_per_s} req/s (poisson:{rate_per_s} for vLLM's --request-rate {rate_per_s})"
        );
    }
    Ok(process)
}

/// The command line as the run record keeps it: header values and URL passwords masked.
fn recorded_command() -> Vec<String> {
    let mut out = Vec::new();
    let mut header_next = false;
    for arg in std::env::args() {
        // Any argument with a URL in it (`--url X`, `--url=X`) loses its password.
        let masked = if std::mem::take(&mut header_next) {
            mask_header(&arg)
        } else if let Some(h) = arg.strip_prefix("--header=") {
            format!("--header={}", mask_header(h))
        } else if let Some(h) = arg.strip_prefix("-H").filter(|h| !h.is_empty()) {
            format!("-H{}", mask_header(h))
        } else {
            header_next = arg == "-H" || arg == "--header";
            sb_cli::redact_url(&arg)
        };
        out.push(masked);
    }
    out
}

fn mask_header(h: &str) -> String {
    match h.split_once(':') {
        Some((name, _)) => format!("{}: ***", name.trim()),
        None => "***".to_string(),
    }
}

fn options(args: Args) -> Result<RunOptions> {
    let stages = if args.stage.is_empty() {
        vec![Stage { process: single_process(&args)?, duration: None }]
    } else {
        args.stage.iter().map(|s| Stage::parse(s).context("--stage")).collect::<Result<Vec<_>>>()?
    };
    let concurrency = args.concurrency.or(args.max_concurrency);
    if concurrency == Some(0) {
        bail!("--concurrency must be at least 1");
    }
    if args.max_connections == Some(0) {
        bail!("--max-connections must be at least 1");
    }
    let max_connections = args.max_connections.or(concurrency).unwrap_or(pool::DEFAULT_MAX_CONNECTIONS);
    if args.connections.is_some_and(|n| n > max_connections) {
        bail!(
            "--connections {} is more than --max-connections {max_connections} allows",
            args.connections.unwrap_or_default()
        );
    }
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.max_error_rate) {
        bail!("--max-error-rate is a fraction between 0 and 1");
    }
    let warmup = match &args.warmup {
        None => Warmup::None,
        Some(w) => match w.parse::<u64>() {
            Ok(n) => Warmup::Requests(n),
            Err(_) => Warmup::Time(parse_positive_duration(w).context("--warmup")?),
        },
    };
    let headers =
        args.headers.iter().map(|h| sb_cli::parse_header(h).map_err(anyhow::Error::msg)).collect::<Result<Vec<_>>>()?;
    let mut tags = BTreeMap::new();
    for t in &args.tags {
        let (k, v) = t.split_once('=').with_context(|| format!("bad --tag {t:?}; expected key=value"))?;
        tags.insert(k.to_string(), v.to_string());
    }
    let api_key = std::env::var(&args.api_key_env).ok().filter(|k| !k.is_empty());
    let run = args.run.unwrap_or_else(|| {
        let ns = sb_records::Clock::global().now_ns();
        format!("{:x}-{:x}", ns / 1_000_000, std::process::id())
    });
    Ok(RunOptions {
        plan: Plan {
            stages,
            concurrency,
            seed: args.seed,
            max_requests: args.max_requests,
            duration: args.duration.as_deref().map(parse_positive_duration).transpose().context("--duration")?,
            warmup,
            shard: args.shard.as_deref().map(Shard::parse).transpose()?,
            timeout: parse_positive_duration(&args.timeout).context("--timeout")?,
        },
        client: ClientOptions {
            url: args.url,
            model: args.model.unwrap_or_default(),
            api_key,
            headers,
            stream: !args.no_stream,
            include_usage: !args.no_usage,
            ca_cert: args.ca_cert,
            chat_max_tokens: args.chat_max_tokens,
            max_connections,
        },
        connections: args.connections,
        labels: Labels { run, tags },
        tokenizer: args.tokenizer,
        save_text: args.save_text,
        max_lag_ms: args.max_lag,
        max_error_rate: args.max_error_rate,
        grace: parse_duration(&args.grace).context("--grace")?,
        progress: match args.progress.as_str() {
            "always" => true,
            "never" => false,
            _ => std::io::stderr().is_terminal(),
        },
        threads: args.threads,
        spin: args.spin,
        command: recorded_command(),
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let input_path = args.input.clone().unwrap_or_else(|| "-".into());
    let result = options(args).and_then(|opts| {
        let input = sb_records::Input::open(&input_path)?;
        // Buffered: the writer flushes once per batch of results (at once for a lone result).
        run::run(opts, input, std::io::BufWriter::with_capacity(1 << 16, std::io::stdout()))
    });
    match result {
        Ok(verdict) => verdict.exit_code(),
        Err(err) => sb_cli::exit::on_error("sb-load", &err),
    }
}
