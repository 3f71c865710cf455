//! One `sb-sample <dataset>` run: resolve the dataset, task, tokenizer and files, load the
//! candidate units, sample them and write request records to stdout.

use crate::datasets::{self, Dataset, DatasetOpts, LoadCtx, Task, Unit};
use crate::hub::{Files, HubOpts};
use crate::sample::{self, Draw, Outcome, SampleOpts};
use crate::tokenizer::TokenCounter;
use anyhow::{anyhow, bail, Context, Result};
use sb_records::{Api, RecordWriter};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Everything the command line says, parsed.
pub struct RunArgs {
    pub dataset: String,
    pub task: Option<String>,
    pub api: Option<Api>,
    pub tokenizer: Option<String>,
    pub source: Option<PathBuf>,
    /// `--repo`: the Hub repo instead of the dataset's own.
    pub repo: Option<String>,
    pub hub: HubOpts,
    pub opts: DatasetOpts,
    pub draw: Draw,
    pub id_prefix: Option<String>,
}

/// A dataset resolved, its units loaded: ready to sample.
pub struct Prepared {
    pub dataset: &'static dyn Dataset,
    pub tok: TokenCounter,
    pub units: Vec<Unit>,
    pub sample: SampleOpts,
}

pub fn prepare(args: RunArgs) -> Result<Prepared> {
    let dataset = datasets::find(&args.dataset).ok_or_else(|| {
        let names: Vec<&str> = datasets::ALL.iter().map(|d| d.name()).collect();
        anyhow!("unknown dataset {:?} (known: {}; see `sb-sample list`)", args.dataset, names.join(", "))
    })?;
    let task: &Task = match &args.task {
        None => &dataset.tasks()[0],
        Some(t) => dataset.tasks().iter().find(|x| x.name == t.as_str()).ok_or_else(|| {
            let names: Vec<&str> = dataset.tasks().iter().map(|x| x.name).collect();
            anyhow!("dataset {} has no task {t:?} (tasks: {})", dataset.name(), names.join(", "))
        })?,
    };
    let spec = args.tokenizer.as_deref().ok_or_else(|| {
        anyhow!("--tokenizer is required (a tokenizer.json, a directory, or a Hub model id; or set SB_TOKENIZER)")
    })?;
    let tok = TokenCounter::load(spec, &args.hub).with_context(|| format!("--tokenizer {spec}"))?;
    // A trace has no repo of its own, but a mirror of its file on the Hub can be named.
    if args.repo.is_some() && dataset.hub_repo().is_none() && !dataset.is_trace() {
        bail!("--repo: dataset {} does not come from the Hub (pass its file with --source)", dataset.name());
    }
    let files = Files::new(args.source.as_deref(), args.repo.as_deref().or(dataset.hub_repo()), &args.hub)?;
    let api = args.api.unwrap_or(if task.chat { Api::Chat } else { Api::Completions });
    let started = Instant::now();
    let units = dataset
        .load(&LoadCtx { files: &files, opts: &args.opts, tok: &tok, task: task.name, api })
        .with_context(|| format!("{} ({})", dataset.name(), files.describe()))?;
    if started.elapsed().as_secs() >= 2 {
        eprintln!(
            "sb-sample: loaded {} {} rows in {:.1} s",
            units.len(),
            dataset.name(),
            started.elapsed().as_secs_f64()
        );
    }
    let mut sample = SampleOpts {
        dataset: dataset.name().to_string(),
        task: task.name.to_string(),
        api,
        id_prefix: args.id_prefix.unwrap_or_else(|| format!("{}-", dataset.name())),
        source_prefix: match &files {
            Files::Hub { .. } => format!("{}:", files.describe()),
            _ => String::new(),
        },
        draw: args.draw.clone(),
    };
    if dataset.is_trace() {
        if args.draw.replace {
            bail!("--replace: a trace is replayed in its own order; take a window with --start/--duration and -n");
        }
        sample.draw.shuffle = false;
    }
    if args.draw.replace && !args.draw.shuffle {
        bail!("--no-shuffle keeps the dataset order, which --replace has none of; use one or the other");
    }
    Ok(Prepared { dataset, tok, units, sample })
}

impl Outcome {
    pub fn exit_code(&self) -> ExitCode {
        if self.short.is_some() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    }
}

pub fn run(args: RunArgs) -> Result<Outcome> {
    let p = prepare(args)?;
    let started = Instant::now();
    let stdout = std::io::stdout();
    let mut writer = RecordWriter::new(stdout.lock());
    let total = p.sample.draw.n.unwrap_or(p.units.len());
    let label = if p.dataset.is_trace() { "synthesizing trace prompts" } else { "tokenizing requests" };
    let bar = crate::progress::Bar::start(label, total as u64);
    let multi = p.units.first().is_some_and(|u| u.multi_turn);
    let outcome = sample::run(&p.units, &p.tok, &p.sample, |req| {
        writer.write(req)?;
        // The total counts units: a conversation advances at its first turn.
        if !multi || req.turn == Some(0) {
            bar.inc(1);
        }
        Ok(())
    })?;
    writer.flush()?;
    bar.finish();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "sb-sample: {} requests ({} {}) from {} [{}], {} filtered, {:.2} s",
        outcome.requests,
        outcome.units,
        if p.units.first().is_some_and(|u| u.multi_turn) { "conversations" } else { "units" },
        p.dataset.name(),
        p.sample.task,
        outcome.filtered,
        started.elapsed().as_secs_f64()
    );
    if let Some(short) = &outcome.short {
        let _ = writeln!(err, "sb-sample: {short}");
    }
    Ok(outcome)
}
