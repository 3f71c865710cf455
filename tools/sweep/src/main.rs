//! sb-sweep: sb-load at one point after another (given rates or concurrencies, guidellm's sweep,
//! or a search for the highest rate within an SLO), every point's records on stdout, then one
//! `sweep` record. See docs/sweep.md. This file parses arguments and maps outcomes to exit codes.

mod plan;
mod point;
mod server;
mod signal;
mod slo;
mod sweep;

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  # The highest Poisson rate with p99 TTFT <= 200 ms (bracket, then bisect to 5%)
  sb-sweep --search --slo ttft_p99_ms=200 --requests req.ndjson -- --url http://127.0.0.1:8000 --model m \\
    | tee sweep.ndjson | sb-report --group-by tags.point

  # Given rates, 20 s each after 5 s of warm-up; p99 TPOT and at most 1% errors
  sb-sweep --rates 2,4,8,16 --duration 20s --warmup 5s --slo tpot_p99_ms=50,error_rate=1% \\
    --requests req.ndjson -- --url $URL --model m

  # guidellm's sweep: synchronous, throughput, then 8 rates between them
  sb-sweep --sweep 10 --requests req.ndjson -- --url $URL --model m -H 'X-Team: perf'

Output: each point's result records (tagged point=pN and rate=R or concurrency=C) and its run
record, as sb-load writes them, then one `sweep` record: every point's target and achieved rate,
SLO metrics and status, and for a search max_rate_rps and its bracket. Progress goes to stderr.

Exit status: 0 done (a search found a rate within the SLO); 1 a search found none, or a point was
untrustworthy (sb-load fell behind its schedule); 2 bad arguments, a bad request file, or a tool
failed; 130 stopped by SIGINT/SIGTERM (the sweep record is still written, marked interrupted).";

/// Run sb-load at a series of load points against one server and find how much load it takes
/// within a service-level objective. Each point: the prefix cache reset (POST
/// /reset_prefix_cache, where offered), warm-up, the measured duration, a cool-down until
/// /metrics shows no request running. Arguments after `--` go to sb-load (--url, --model,
/// headers, --seed, --timeout, ...).
#[derive(Parser, Debug)]
#[command(name = "sb-sweep", version, after_help = EXAMPLES, max_term_width = 100)]
#[command(group(clap::ArgGroup::new("points").required(true).args(["rates", "concurrencies", "sweep", "search"])))]
pub struct Args {
    /// Poisson rates to run, req/s, comma-separated (e.g. 1,2,4,8).
    #[arg(long, value_delimiter = ',', value_name = "R,R,...", help_heading = "Points")]
    pub rates: Vec<f64>,

    /// Closed-loop concurrencies to run, comma-separated (e.g. 1,8,32).
    #[arg(long, value_delimiter = ',', value_name = "C,C,...", help_heading = "Points")]
    pub concurrencies: Vec<u32>,

    /// guidellm's sweep of N points: a synchronous run (concurrency 1), a throughput run (--rate
    /// inf: the whole request file, or --count, at once), then N-2 Poisson rates evenly spaced
    /// from the synchronous rate up to the throughput rate.
    #[arg(long, value_name = "N", help_heading = "Points")]
    pub sweep: Option<usize>,

    /// Search for the highest Poisson rate meeting --slo: double (or halve) from --min (default
    /// 1 req/s) until a pass and a failure bracket it, then bisect to --precision.
    #[arg(long, requires = "slo", help_heading = "Points")]
    pub search: bool,

    /// Lowest rate the search tries (and its start), req/s.
    #[arg(long, value_name = "R", help_heading = "Points")]
    pub min: Option<f64>,

    /// Highest rate the search tries, req/s.
    #[arg(long, value_name = "R", help_heading = "Points")]
    pub max: Option<f64>,

    /// The search stops when the bracket is narrower than this share of its low end (5% or 0.05).
    #[arg(long, default_value = "5%", value_name = "P", help_heading = "Points")]
    pub precision: String,

    /// Times a point is measured again when sb-load fell behind its schedule (its verdict
    /// failed: the point says nothing about the server).
    #[arg(long, default_value_t = 1, value_name = "N", help_heading = "Points")]
    pub retries: usize,

    /// Most points a search may run.
    #[arg(long, default_value_t = 30, value_name = "N", help_heading = "Points")]
    pub max_points: usize,

    /// Request records (sb-sample's output), replayed from the start at every point.
    #[arg(long, value_name = "FILE")]
    pub requests: std::path::PathBuf,

    /// The SLO a point must meet: bounds on a point's statistics (ttft_p99_ms=200, tpot_p99_ms=50,
    /// e2el_mean_ms=2000; metrics ttft, tpot, itl, e2el, ntpot; p50..p99.9, mean, median), sb-report's
    /// per-request objectives (ttft_ms=500: then goodput=0.99 of requests must meet them), and
    /// error_rate (default 0: any failed request fails the point).
    #[arg(long, value_name = "SPEC")]
    pub slo: Option<String>,

    /// Measured duration of each point, after its warm-up.
    #[arg(long, default_value = "30s", value_name = "DURATION", help_heading = "Each point")]
    pub duration: String,

    /// Measured requests of each point instead of a duration (with --duration: whichever ends first).
    #[arg(long, value_name = "N", help_heading = "Each point")]
    pub count: Option<u64>,

    /// Warm-up of each point: a time (5s) or a count of requests, sent and recorded with
    /// `warmup: true` and left out of its metrics. 0 for none.
    #[arg(long, default_value = "5s", value_name = "DURATION|N", help_heading = "Each point")]
    pub warmup: String,

    /// Do not POST /reset_prefix_cache before each point.
    #[arg(long, help_heading = "Each point")]
    pub no_reset: bool,

    /// The server's Prometheus endpoint [default: <url>/metrics].
    #[arg(long, value_name = "URL", help_heading = "Each point")]
    pub metrics_url: Option<String>,

    /// Do not read /metrics (no cool-down; the saturation rule counts on the client side).
    #[arg(long, help_heading = "Each point")]
    pub no_metrics: bool,

    /// Longest wait after a point for the server to have no request running.
    #[arg(long, default_value = "60s", value_name = "DURATION", help_heading = "Each point")]
    pub cooldown_timeout: String,

    /// A rate point stops early as saturated when requests in flight grew over this window by
    /// more than max(1, 10% of the rate) per second (least-squares slope).
    #[arg(long, default_value = "5s", value_name = "DURATION", help_heading = "Each point")]
    pub saturation_window: String,

    /// Run id of the sweep (each point's sb-load run is <id>-pN) [default: a fresh one].
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,

    /// sb-load arguments, after `--`: --url and --model, headers, --seed, --timeout, --max-lag, ...
    #[arg(last = true, value_name = "SB-LOAD ARGS")]
    pub load_args: Vec<String>,
}

/// sb-load flags sb-sweep sets itself for every point.
const OWNED_FLAGS: &[&str] = &[
    "--rate",
    "--stage",
    "--concurrency",
    "-c",
    "--duration",
    "-n",
    "--max-requests",
    "--warmup",
    "--request-rate",
    "--burstiness",
    "--max-concurrency",
    "--run",
    "--max-error-rate",
    "--progress",
];

/// A duration in the grammar every servebench tool shares (`sb_cli::duration`): 250ms, 90s,
/// 1.5m, 1m30s, 2h; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration> {
    sb_cli::parse_duration(text).map_err(anyhow::Error::msg)
}

fn parse_fraction(text: &str) -> Result<f64> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        // A bare number over 1 is a percentage (5 = 5%).
        None => t.parse::<f64>().map(|v| if v > 1.0 { v / 100.0 } else { v }),
    }
    .with_context(|| format!("--precision: {text:?} is not a share (5% or 0.05)"))?;
    if !(v > 0.0 && v < 1.0) {
        bail!("--precision: {text} must be between 0 and 100%");
    }
    Ok(v)
}

fn main() -> ExitCode {
    let args = Args::parse();
    signal::install();
    match sweep::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => sb_cli::exit::on_error("sb-sweep", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_take_every_form_the_other_tools_take() {
        for (text, ms) in
            [("250ms", 250), ("90s", 90_000), ("1.5m", 90_000), ("1m30s", 90_000), ("2h", 7_200_000), ("0", 0)]
        {
            assert_eq!(parse_duration(text).unwrap(), Duration::from_millis(ms), "{text}");
        }
        assert!(parse_duration("-1s").is_err() && parse_duration("soon").is_err());
    }
}
