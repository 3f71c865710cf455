//! What one invocation does: read the inputs, build the report, write it in the asked format,
//! draw the plots, and say on stderr what people must not miss.

use crate::collect::{Collector, Options};
use crate::report::Report;
use crate::{compare, plot, render};
use anyhow::Result;
use sb_records::{open_inputs, Input, RecordWriter, Summary};
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// vLLM's "Serving Benchmark Result" block, then what vLLM does not print.
    Text,
    /// One summary record (NDJSON, kind "summary").
    Json,
    /// vLLM's saved result JSON keys (one JSON object).
    VllmJson,
    /// One row for the whole input and one per --group-by group.
    Csv,
    /// Markdown tables.
    Md,
    /// One self-contained HTML page: the text report's contents and every chart, inline.
    Html,
    /// llm-d-benchmark's benchmark report v0.2 (one JSON object; --stack adds the server).
    Llmd,
}

pub struct Config {
    pub inputs: Vec<String>,
    pub compare: Option<(String, String)>,
    pub format: Format,
    pub options: Options,
    pub plot_dir: Option<PathBuf>,
    /// Overrides the run record's own `max_lag_ms`.
    pub max_lag_ms: Option<f64>,
    /// `--stack FILE` and `--stack-point P`: sb-deploy's plan or manifest, for `--format llmd`.
    pub stack: Option<(String, Option<String>)>,
}

/// How the run went, for the exit code.
pub enum Outcome {
    Ok,
    /// The load generator did not keep its schedule: the numbers are suspect (exit 1).
    Untrustworthy,
}

/// Errors about the input (bad lines, missing files) and about usage. Every error of `run`
/// exits 2 (main.rs), so this type only carries the one-line message; it is not matched on.
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for InputError {}

/// One side of `--compare`: a vLLM result JSON file, a summary sb-report wrote before, or result
/// records summarised here.
fn side(path: &str, cfg: &Config) -> Result<compare::Side> {
    if path != "-" {
        // Record streams say `"kind"` on their first line; only other files (a vLLM result is
        // one JSON object, kB to a few MB with --save-detailed) are read whole to check.
        let file = std::fs::File::open(path).map_err(|e| InputError(format!("{path}: {e}")))?;
        let mut first = Vec::new();
        std::io::BufReader::new(file).take(1 << 16).read_until(b'\n', &mut first)?;
        // The records writer puts the kind first: a summary with many rows is one line of more
        // than the 64 KiB read here, so the start of the line says it. A shorter line (written
        // by hand, the kind anywhere) is parsed.
        let text = String::from_utf8_lossy(&first);
        let head = text.trim_start().trim_start_matches('{').trim_start();
        let parsed = || serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v["kind"] == "summary");
        if head.starts_with("\"kind\":\"summary\"") || parsed() {
            return saved_summary(path);
        }
        if !first.windows(6).any(|w| w == b"\"kind\"") {
            let whole = std::fs::read(path).map_err(|e| InputError(format!("{path}: {e}")))?;
            if let Ok(text) = std::str::from_utf8(&whole) {
                if let Some(v) = compare::vllm_result(path, text).map_err(|e| InputError(format!("{e:#}")))? {
                    return Ok(compare::Side::of_vllm(path, &v));
                }
            }
        }
    }
    let c = collect(&[path.to_string()], &cfg.options)?;
    Ok(compare::Side::of_report(path, &Report::build(&c, cfg.max_lag_ms)))
}

/// A summary `sb-report --format json` wrote before: one record, of one input (not a comparison).
fn saved_summary(path: &str) -> Result<compare::Side> {
    let input = Input::open(path).map_err(|e| InputError(format!("{path}: {e}")))?;
    let mut reader = input.records();
    let mut found = None;
    while let Some(record) = reader.next_of::<Summary>() {
        let record = record.map_err(|e| InputError(e.to_string()))?;
        match (record, &found) {
            (Summary::Report(r), None) => found = Some(r),
            (Summary::Report(_), Some(_)) => {
                return Err(InputError(format!("{path}: holds more than one summary; compare one at a time")).into())
            }
            (Summary::Comparison(_), _) => {
                return Err(InputError(format!(
                    "{}:{}: a comparison (--compare --format json), not the summary of one run",
                    path,
                    reader.line()
                ))
                .into())
            }
        }
    }
    let r = found.ok_or_else(|| InputError(format!("{path}: no summary record")))?;
    Ok(compare::Side::of_summary(path, &r))
}

fn collect(paths: &[String], opts: &Options) -> Result<Collector> {
    let inputs: Vec<Input> = open_inputs(paths).map_err(|e| InputError(e.to_string()))?;
    let mut c = Collector::new(opts.clone());
    for input in inputs {
        c.read(input).map_err(|e| InputError(e.to_string()))?;
    }
    Ok(c)
}

pub fn run(cfg: Config, out: &mut dyn Write) -> Result<Outcome> {
    if let Some((a, b)) = &cfg.compare {
        let (sa, sb) = (side(a, &cfg)?, side(b, &cfg)?);
        let rows = compare::rows(&sa, &sb, &cfg.options.percentiles, !cfg.options.slo.is_empty());
        match cfg.format {
            Format::Text => out.write_all(compare::text(&sa, &sb, &rows).as_bytes())?,
            Format::Md => out.write_all(compare::md(&sa, &sb, &rows).as_bytes())?,
            Format::Html => {
                return Err(InputError("--format html writes one run; with --compare use text or md".into()).into())
            }
            Format::Csv => out.write_all(compare::csv(&rows)?.as_bytes())?,
            Format::Json => {
                RecordWriter::new(&mut *out).write(&Summary::Comparison(Box::new(compare::json(&sa, &sb, &rows))))?;
            }
            Format::VllmJson | Format::Llmd => {
                return Err(InputError(
                    "--vllm-json and --format llmd write one run; they do not combine with --compare".into(),
                )
                .into())
            }
        }
        out.flush()?;
        for s in [&sa, &sb] {
            for w in &s.warnings {
                eprintln!("sb-report: {}: {w}", s.name);
            }
        }
        return Ok(if sa.trustworthy && sb.trustworthy { Outcome::Ok } else { Outcome::Untrustworthy });
    }

    // Read before the results, so a bad --stack file costs no time.
    let stack = match &cfg.stack {
        Some((path, point)) => {
            Some(render::llmd::stack_component(path, point.as_deref()).map_err(|e| InputError(format!("{e:#}")))?)
        }
        None => None,
    };
    let c = collect(&cfg.inputs, &cfg.options)?;
    if c.results == 0 && c.warmup_skipped == 0 && c.series.is_empty() && c.run_records.is_empty() {
        return Err(InputError("no records in the input (expected result records written by sb-load)".into()).into());
    }
    let report = Report::build(&c, cfg.max_lag_ms);
    match cfg.format {
        Format::Text => out.write_all(render::text::render(&report).as_bytes())?,
        Format::Json => RecordWriter::new(&mut *out).write(&Summary::Report(Box::new(report.to_summary())))?,
        Format::VllmJson => {
            serde_json::to_writer(&mut *out, &render::vllm_json::render(&report))?;
            out.write_all(b"\n")?;
        }
        Format::Csv => out.write_all(render::table::csv(&report)?.as_bytes())?,
        Format::Md => out.write_all(render::table::md(&report).as_bytes())?,
        Format::Html => out.write_all(render::html::render(&report, &plot::charts(&c, &report)?).as_bytes())?,
        Format::Llmd => {
            serde_json::to_writer_pretty(&mut *out, &render::llmd::render(&report, stack))?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    if let Some(dir) = &cfg.plot_dir {
        let files = plot::plot_all(&c, &report, dir)?;
        eprintln!("sb-report: wrote {} plots to {}", files.len(), dir.display());
    }
    // Warnings go to stderr too: with --format json the text on stdout is read by a program.
    for w in &report.warnings {
        eprintln!("sb-report: {w}");
    }
    Ok(if report.trustworthy() { Outcome::Ok } else { Outcome::Untrustworthy })
}
