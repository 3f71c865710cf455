//! sb-report: results [+ samples] -> summary. See docs/report.md; formulas in docs/metrics.md.

mod aggregate;
mod app;
mod collect;
mod compare;
mod generator;
mod meta;
mod plot;
mod points;
mod render;
mod report;
mod result;
mod samples;
mod slo;
mod stats;
mod sweep;
mod timeline;

use app::{Config, Format, Outcome};
use clap::Parser;
use collect::Options;
use std::process::ExitCode;

/// Summarise servebench result records (and metric samples) with vLLM bench serve's definitions.
///
/// Reads result records written by sb-load from FILES or stdin (shards of one run merge), plus
/// sb-load's run record and sb-scrape's metric samples when present in the same streams, and
/// prints vLLM's "Serving Benchmark Result" block with servebench's additions. Warm-up results
/// are left out. Every formula: docs/metrics.md.
#[derive(Parser, Debug)]
#[command(
    name = "sb-report",
    version,
    after_help = "Examples:
  sb-load ... < requests.ndjson | tee results.ndjson | sb-report
  sb-report results.ndjson metrics.ndjson --format json | jq .ttft_ms.p99
  sb-report shard-*.ndjson --percentiles 50,90,99,99.9 --slo ttft_ms=500,tpot_ms=50
  sb-report sweep.ndjson --group-by tags.point --format md --plot plots/
  sb-report results.ndjson metrics.ndjson --group-by tags.conc --format html > report.html
  sb-report --compare before.ndjson after.ndjson
  sb-report --compare results.ndjson vllm-result.json    # next to vllm bench serve --save-result
  sb-report --compare last-week.json results.ndjson      # a summary saved with --format json
  sb-report results.ndjson --vllm-json > result.json
  sb-report results.ndjson --format llmd --stack plan.ndjson > benchmark_report.json   # llm-d v0.2

Exit status: 0 ok; 1 the load generator did not keep its schedule (the numbers are suspect);
2 bad usage, bad input (the error names the file and line), or output that cannot be written."
)]
struct Args {
    /// Result files (NDJSON; may also hold run records and metric samples). `-` or none: stdin.
    files: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,

    /// Same as --format vllm-json: vLLM's saved result JSON keys.
    #[arg(long, conflicts_with = "format")]
    vllm_json: bool,

    /// Percentiles to report, comma-separated (vLLM's --metric-percentiles, same default).
    #[arg(long, value_delimiter = ',', default_value = "99")]
    percentiles: Vec<f64>,

    /// Service-level objectives for goodput, in ms: ttft_ms=500,tpot_ms=50 (also itl, e2el,
    /// ntpot; `_s` for seconds; vLLM's `ttft:500` spelling accepted). A request is good when all hold.
    #[arg(long)]
    slo: Option<String>,

    /// Also print one row per value of FIELD: run, shard, stage, turn, dataset, task, prefix,
    /// session, api, finish_reason, tokenizer, status, or tags.KEY (e.g. tags.point).
    #[arg(long, value_name = "FIELD")]
    group_by: Option<String>,

    /// Compare two runs side by side, with the change per metric. Each is a result file, a
    /// summary saved with `--format json`, or the result JSON of `vllm bench serve --save-result`.
    #[arg(long, num_args = 2, value_names = ["A", "B"], conflicts_with = "files")]
    compare: Option<Vec<String>>,

    /// Write SVG charts into DIR: TTFT, TPOT, ITL and E2EL CDFs, throughput and in-flight
    /// requests over time, each request's TTFT and E2EL over time, and across --group-by groups
    /// latency vs load and throughput vs latency (the same charts as --format html).
    #[arg(long, value_name = "DIR")]
    plot: Option<std::path::PathBuf>,

    /// Send lateness p99 (from sb-load's run record) above which the run is flagged as not
    /// trustworthy [default: the run record's max_lag_ms, else 10].
    #[arg(long, value_name = "MS")]
    max_lag_ms: Option<f64>,

    /// vLLM's --save-detailed: with --vllm-json, also the per-request arrays input_lens,
    /// output_lens, ttfts, itls, start_times, generated_texts (with sb-load --save-text) and
    /// errors (latencies and queue_times are always written, as vLLM does).
    #[arg(long, help_heading = "vLLM-compatible")]
    save_detailed: bool,

    /// vLLM's --percentile-metrics: which metrics get percentile rows, comma-separated, of ttft,
    /// tpot, itl, e2el (vLLM's default: ttft,tpot,itl; here every metric unless given).
    #[arg(long, value_delimiter = ',', value_name = "METRICS", help_heading = "vLLM-compatible")]
    percentile_metrics: Option<Vec<String>>,

    /// vLLM's --metric-percentiles: the same as --percentiles.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "P",
        conflicts_with = "percentiles",
        help_heading = "vLLM-compatible"
    )]
    metric_percentiles: Option<Vec<f64>>,

    /// vLLM's --goodput: SLOs as KEY:MS pairs separated by spaces (ttft:500 tpot:50; keys ttft,
    /// tpot, e2el), the same as --slo ttft_ms=500,tpot_ms=50.
    #[arg(long, num_args = 1.., value_name = "KEY:MS", conflicts_with = "slo", help_heading = "vLLM-compatible")]
    goodput: Option<Vec<String>>,

    /// With --format llmd: fill scenario.stack from sb-deploy's output, a plan NDJSON file or a
    /// rendered manifest (model, accelerator, parallelism, engine arguments).
    #[arg(long, value_name = "FILE")]
    stack: Option<String>,

    /// The point of a plan file with several (`p03`).
    #[arg(long, value_name = "POINT", requires = "stack")]
    stack_point: Option<String>,
}

fn config(mut args: Args) -> Result<Config, String> {
    if let Some(p) = args.metric_percentiles.take() {
        args.percentiles = p;
    }
    if let Some(pairs) = args.goodput.take() {
        for pair in &pairs {
            let Some((k, v)) = pair.split_once(':') else {
                return Err(format!("--goodput {pair:?}: expected KEY:MS, e.g. ttft:500 (vLLM's syntax)"));
            };
            if !["ttft", "tpot", "e2el"].contains(&k) {
                return Err(format!(
                    "--goodput {pair:?}: vLLM's keys are ttft, tpot and e2el (here also --slo itl_ms, ntpot_ms)"
                ));
            }
            if v.parse::<f64>().map_or(true, |x| !(x.is_finite() && x > 0.0)) {
                return Err(format!("--goodput {pair:?}: {v:?} is not a positive number of milliseconds"));
            }
        }
        args.slo = Some(pairs.iter().map(|p| p.replacen(':', "_ms=", 1)).collect::<Vec<_>>().join(","));
    }
    if let Some(metrics) = &args.percentile_metrics {
        for m in metrics {
            if !["ttft", "tpot", "itl", "e2el"].contains(&m.as_str()) {
                return Err(format!("--percentile-metrics: unknown metric {m:?} (known: ttft, tpot, itl, e2el)"));
            }
        }
    }
    for p in &args.percentiles {
        if !(0.0..=100.0).contains(p) {
            return Err(format!("--percentiles: {p} is not between 0 and 100"));
        }
    }
    // `99,99` (or `99,99.0`) asks for one percentile: each is shown once, in the order first asked.
    let mut asked: Vec<f64> = Vec::new();
    for p in std::mem::take(&mut args.percentiles) {
        if !asked.contains(&p) {
            asked.push(p);
        }
    }
    args.percentiles = asked;
    let slo = match &args.slo {
        Some(s) => slo::Slo::parse(s).map_err(|e| format!("{e:#}"))?,
        None => slo::Slo::default(),
    };
    if let Some(g) = &args.group_by {
        let tag = g.strip_prefix("tags.").is_some_and(|k| !k.is_empty());
        if !tag && !result::GROUP_FIELDS.contains(&g.as_str()) {
            return Err(format!(
                "--group-by: unknown field {g:?} (known: {}, tags.KEY)",
                result::GROUP_FIELDS.join(", ")
            ));
        }
    }
    let format = if args.vllm_json { Format::VllmJson } else { args.format };
    let per_request = match (format, args.save_detailed) {
        (Format::VllmJson, true) => collect::PerRequest::Detailed,
        (Format::VllmJson, false) => collect::PerRequest::Always,
        (_, true) => return Err("--save-detailed goes with --vllm-json (vLLM's per-request arrays)".into()),
        _ => collect::PerRequest::None,
    };
    Ok(Config {
        inputs: args.files,
        compare: args.compare.map(|v| (v[0].clone(), v[1].clone())),
        format,
        options: Options {
            percentiles: args.percentiles,
            slo,
            group_by: args.group_by,
            per_request,
            percentile_metrics: args.percentile_metrics,
        },
        plot_dir: args.plot,
        max_lag_ms: args.max_lag_ms,
        stack: args.stack.map(|s| (s, args.stack_point)),
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sb-report: {e}");
            return ExitCode::from(2);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match app::run(cfg, &mut out) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Untrustworthy) => ExitCode::from(1),
        // Bad input, bad usage, or an output that cannot be written: no summary to trust.
        Err(e) => sb_cli::exit::on_error("sb-report", &e),
    }
}
