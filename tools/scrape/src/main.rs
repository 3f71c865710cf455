//! sb-scrape: a time window -> metric samples, from a Prometheus server, from /metrics endpoints
//! polled directly, or from a vLLM server's start-up log. See `docs/scrape.md`.

mod body;
mod endpoint;
mod expfmt;
mod presets;
mod prometheus;
mod sink;
mod startup_log;
mod window;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, CommandFactory, FromArgMatches, Parser};
use sb_records::Clock;
use sink::{Outcome, Sink};
use std::io::BufWriter;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  # vLLM, container and GPU metrics of a finished run, from Prometheus
  sb-scrape --prometheus http://prometheus:9090 --preset io --window results.ndjson --pad 30s \\
      --namespace llm-servings --pod 'facebook-opt-.*' --container vllm-container \\
      --model facebook/opt-125m > metrics.ndjson

  # the last 10 minutes, every 5 s, plus a query of your own
  sb-scrape --prometheus http://127.0.0.1:9090 --start -10m --step 5s --preset vllm \\
      --query 'tps=sum(rate(vllm:generation_tokens_total[30s]))'

  # poll vLLM and the DCGM exporter directly while a load runs (stop with Ctrl-C)
  sb-scrape --endpoint http://127.0.0.1:8000/metrics --endpoint http://node:9400/metrics \\
      --interval 2s > metrics.ndjson &
  sb-load ... ; kill -INT %1

  # start-up phases of a vLLM server
  kubectl logs --timestamps deploy/vllm | sb-scrape --log -

Exit status: 0 all collected, 1 something failed (what was collected is still written),
2 usage or input error.";

/// Collect what the server, the container and the GPU did during a run, as metric samples
/// (NDJSON `sample` records on stdout; messages on stderr).
///
/// Three sources: a Prometheus server (`query_range` over the run window, with presets for vLLM,
/// cAdvisor and DCGM metrics), /metrics endpoints polled directly while a run goes on, and vLLM
/// server logs (start-up phases). Values are written raw (counters as counters, histograms as
/// `_bucket`/`_sum`/`_count` series): sb-report computes the deltas.
#[derive(Parser, Debug)]
#[command(name = "sb-scrape", version, after_help = EXAMPLES)]
#[command(group(ArgGroup::new("mode").required(true).args(["prometheus", "endpoint", "log", "list_presets"])))]
struct Args {
    /// Query this Prometheus server (base URL, e.g. http://prometheus:9090).
    #[arg(long, value_name = "URL", help_heading = "Sources (pick one)")]
    prometheus: Option<String>,

    /// Poll this /metrics URL (repeat for several: vLLM, sb-sim, node or DCGM exporter).
    #[arg(long, value_name = "URL", help_heading = "Sources (pick one)", conflicts_with_all = ["prometheus", "log"])]
    endpoint: Vec<String>,

    /// Parse this vLLM server log into start-up phase samples (`-` for stdin; repeatable).
    #[arg(long, value_name = "FILE", help_heading = "Sources (pick one)", conflicts_with_all = ["prometheus", "endpoint"])]
    log: Vec<String>,

    /// List the presets and the metrics of each, then exit.
    #[arg(long, help_heading = "Sources (pick one)")]
    list_presets: bool,

    /// Take the window from result records (`-` for stdin): first send to last completion (other
    /// kinds ignored).
    #[arg(long, value_name = "RESULTS", help_heading = "Window", conflicts_with_all = ["start", "endpoint", "log"])]
    window: Option<String>,

    /// Widen the window by this much on both sides, so that counters have a sample before the run
    /// and one after it for sb-report's deltas. Default: one --step.
    #[arg(long, value_name = "DURATION", help_heading = "Window")]
    pad: Option<String>,

    /// Window start: epoch seconds, RFC 3339 (2026-11-25T09:00:00Z), or relative (-10m).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true, help_heading = "Window", conflicts_with_all = ["endpoint", "log"])]
    start: Option<String>,

    /// Window end (same forms; default now). In endpoint mode: when to stop polling.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true, help_heading = "Window", conflicts_with = "log")]
    end: Option<String>,

    /// Window length from --start, or in endpoint mode how long to poll.
    #[arg(long, value_name = "DURATION", help_heading = "Window", conflicts_with_all = ["end", "log"])]
    duration: Option<String>,

    /// Metric presets, comma-separated or repeated: io (everything below), container, dcgm, fs,
    /// disk, memory, network, cpu, gpu, pcie, vllm. Default io unless --query is given.
    #[arg(long, value_name = "NAMES", help_heading = "Prometheus")]
    preset: Vec<String>,

    /// Extra PromQL (repeatable). `NAME=EXPR` names the samples when EXPR drops the metric name.
    #[arg(long, value_name = "PROMQL", help_heading = "Prometheus")]
    query: Vec<String>,

    /// Resolution of the range query; raised as needed to stay under Prometheus' 11,000 points.
    #[arg(long, value_name = "DURATION", default_value = "15s", help_heading = "Prometheus")]
    step: String,

    /// Kubernetes namespace of the serving pods (cAdvisor `namespace`, DCGM `exported_namespace`).
    #[arg(long, help_heading = "Prometheus")]
    namespace: Option<String>,

    /// Pod name or regular expression (`vllm-0`, `facebook-opt-.*`).
    #[arg(long, value_name = "REGEX", help_heading = "Prometheus")]
    pod: Option<String>,

    /// Container name (default: every container, leaving out the pod-level and pause cgroups).
    #[arg(long, help_heading = "Prometheus")]
    container: Option<String>,

    /// vLLM `model_name` label (the served model name).
    #[arg(long, help_heading = "Prometheus")]
    model: Option<String>,

    /// Time between two polls of every endpoint.
    #[arg(long, value_name = "DURATION", default_value = "5s", help_heading = "Endpoint")]
    interval: String,

    /// Keep only series whose name matches this regular expression (e.g. '^(vllm:|DCGM_)').
    #[arg(long = "match", value_name = "REGEX", help_heading = "Endpoint")]
    name_match: Option<String>,

    /// Year of the log's first line (vLLM log timestamps have none). Default: this year.
    #[arg(long, help_heading = "Log")]
    year: Option<i64>,

    /// UTC offset of the server clock that wrote the log (vLLM logs local time).
    #[arg(long, value_name = "OFFSET", default_value = "+00:00", allow_hyphen_values = true, help_heading = "Log")]
    utc_offset: String,

    /// Extra HTTP header for every request, `Name: value` (repeatable), e.g. an
    /// `Authorization: Bearer ...` for a Prometheus behind an auth proxy.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,

    /// HTTP timeout of one request (Prometheus query or endpoint scrape).
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    timeout: String,

    /// Largest response body read from one request, in MiB (a /metrics page is kB to a few
    /// MB; a big query_range answer tens of MB). Past it the request fails without reading on.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    max_body_mib: usize,
}

fn main() -> ExitCode {
    let matches = Args::command().get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Err(e) = check_mode_flags(&matches) {
        e.exit();
    }
    match run(args) {
        Ok(outcome) if outcome.failures.is_empty() || outcome.stdout_closed => ExitCode::SUCCESS,
        Ok(outcome) => {
            eprintln!(
                "sb-scrape: {} problem(s); the {} samples collected were written",
                outcome.failures.len(),
                outcome.samples
            );
            ExitCode::from(1)
        }
        Err(err) => sb_cli::exit::on_error("sb-scrape", &err),
    }
}

/// Flags of one mode given with another are mistakes: say so instead of ignoring them.
fn check_mode_flags(matches: &clap::ArgMatches) -> Result<(), clap::Error> {
    const ONLY: &[(&str, &str)] = &[
        ("pad", "prometheus"),
        ("preset", "prometheus"),
        ("query", "prometheus"),
        ("step", "prometheus"),
        ("namespace", "prometheus"),
        ("pod", "prometheus"),
        ("container", "prometheus"),
        ("model", "prometheus"),
        ("interval", "endpoint"),
        ("name_match", "endpoint"),
        ("year", "log"),
        ("utc_offset", "log"),
    ];
    for (flag, mode) in ONLY {
        let given = matches.value_source(flag) == Some(clap::parser::ValueSource::CommandLine);
        if given && !matches.contains_id(mode) {
            let flag = if *flag == "name_match" { "match".to_string() } else { flag.replace('_', "-") };
            return Err(Args::command()
                .error(clap::error::ErrorKind::ArgumentConflict, format!("--{flag} only applies with --{mode}")));
        }
    }
    Ok(())
}

fn run(args: Args) -> Result<Outcome> {
    let mut sink = Sink::new(BufWriter::with_capacity(1 << 16, std::io::stdout()));
    let mut outcome = collect(args, &mut sink)?;
    outcome.samples = sink.written;
    if sink.dcgm_blanks > 0 {
        eprintln!(
            "sb-scrape: {} DCGM samples held the exporter's no-value sentinel (>= 9.2e18) and were left out",
            sink.dcgm_blanks
        );
    }
    Ok(outcome)
}

fn collect(args: Args, sink: &mut Sink<BufWriter<std::io::Stdout>>) -> Result<Outcome> {
    if args.list_presets {
        print!("{}", presets::describe());
        return Ok(Outcome::default());
    }
    let now_ns = Clock::global().now_ns();
    let timeout = window::parse_positive_duration(&args.timeout).context("--timeout")?;
    let headers = parse_headers(&args.headers)?;
    if !args.log.is_empty() {
        let year = match args.year {
            Some(y) => y,
            None => window::civil_from_days((now_ns / 1_000_000_000 / 86400) as i64).0,
        };
        let offset = window::parse_utc_offset(&args.utc_offset).context("--utc-offset")?;
        return startup_log::run(&args.log, year, offset, sink);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if !args.endpoint.is_empty() {
        let interval = window::parse_positive_duration(&args.interval).context("--interval")?;
        if interval.is_zero() {
            bail!("--interval must be more than 0");
        }
        let end_ns = match (&args.end, &args.duration) {
            (Some(end), _) => Some(window::parse_time(end, now_ns).context("--end")?),
            (None, Some(d)) => {
                Some(now_ns + window::parse_positive_duration(d).context("--duration")?.as_nanos() as u64)
            }
            (None, None) => None,
        };
        let name_filter = args
            .name_match
            .as_deref()
            .map(regex::Regex::new)
            .transpose()
            .context("--match is not a valid regular expression")?;
        let until = match end_ns {
            Some(e) => format!("for {:.1} s", e.saturating_sub(now_ns) as f64 / 1e9),
            None => "until Ctrl-C".to_string(),
        };
        eprintln!("sb-scrape: polling {} URL(s) every {:?} {until}", args.endpoint.len(), interval);
        let max_body = args.max_body_mib.max(1) << 20;
        let cfg = endpoint::Config { urls: args.endpoint, interval, end_ns, name_filter, timeout, headers, max_body };
        return runtime.block_on(endpoint::run(&cfg, sink));
    }
    let base_url = args.prometheus.clone().expect("clap requires a mode");
    let run_window = prometheus_window(&args, now_ns)?;
    let step = prometheus::choose_step(run_window, window::parse_positive_duration(&args.step).context("--step")?);
    let pad = match &args.pad {
        Some(p) => window::parse_duration(p).context("--pad")?,
        None => step,
    };
    let window = window::pad(run_window, pad);
    let selector = presets::Selector {
        namespace: args.namespace.clone(),
        pod: args.pod.clone(),
        container: args.container.clone(),
        model: args.model.clone(),
    };
    let preset_names =
        if args.preset.is_empty() && args.query.is_empty() { vec!["io".to_string()] } else { args.preset };
    let mut queries = presets::expand(&preset_names, &selector)?;
    queries.extend(args.query.iter().map(|q| presets::user_query(q)));
    // Padding lengthens the window: keep under the point limit.
    let step = prometheus::choose_step(window, step);
    eprintln!(
        "sb-scrape: {} queries over a {:.1} s window padded by {:?} on each side, {:?} step, from {base_url}",
        queries.len(),
        (run_window.end_ns - run_window.start_ns) as f64 / 1e9,
        pad,
        step
    );
    let max_body = args.max_body_mib.max(1) << 20;
    let cfg = prometheus::Config { base_url, window, step, timeout, headers, max_body };
    let outcome = runtime.block_on(prometheus::run(&cfg, &queries, sink))?;
    eprintln!("sb-scrape: {} samples written", sink.written);
    Ok(outcome)
}

fn parse_headers(raw: &[String]) -> Result<reqwest::header::HeaderMap> {
    let mut map = reqwest::header::HeaderMap::new();
    for h in raw {
        // Never echo the text: a header is often a credential.
        let (name, value) = sb_cli::parse_header(h).map_err(anyhow::Error::msg)?;
        let name = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
            .context("--header: bad header name before the ':'")?;
        let mut value = reqwest::header::HeaderValue::from_str(value.trim())
            .with_context(|| format!("--header {:?}: bad header value", name.as_str()))?;
        value.set_sensitive(true);
        map.append(name, value);
    }
    Ok(map)
}

/// The window asked for, before padding.
fn prometheus_window(args: &Args, now_ns: u64) -> Result<sb_records::Window> {
    let w = if let Some(path) = &args.window {
        window::from_results(path)?
    } else if let Some(start) = &args.start {
        let start_ns = window::parse_time(start, now_ns).context("--start")?;
        let end_ns = match (&args.end, &args.duration) {
            (Some(end), _) => window::parse_time(end, now_ns).context("--end")?,
            (None, Some(d)) => start_ns + window::parse_positive_duration(d).context("--duration")?.as_nanos() as u64,
            (None, None) => now_ns,
        };
        if end_ns < start_ns {
            bail!("the window ends before it starts (--start {start}, end {})", window::ns_to_secs_string(end_ns));
        }
        sb_records::Window { start_ns, end_ns }
    } else {
        bail!("Prometheus mode needs a window: --window results.ndjson, or --start (with --end or --duration; the end defaults to now)");
    };
    Ok(w)
}
