//! sb-deploy: model + engine parameters -> Kubernetes manifests for `kubectl apply -f -`, sweep
//! plans as NDJSON, and the fit arithmetic. See `docs/deploy.md`.

mod fit;
mod flags;
mod gpus;
mod loadgen;
mod manifests;
mod models;
mod monitors;
mod names;
mod options;
mod output;
mod plan;
mod sweep;
mod values;
mod version;

use clap::{Parser, Subcommand};
use options::DeployOptions;
use std::io::{self, Write};
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  # Qwen3-0.6B on one H100, with a PodMonitor; check, then apply
  sb-deploy render -m Qwen/Qwen3-0.6B -n llm-servings --set max-model-len=8192 --monitor podmonitor \\
    | kubectl apply -f -

  # Does Llama-3.1-8B fit a 24 GB GPU at its full 131072 context? (exit 1 when it does not)
  sb-deploy explain -m meta-llama/Llama-3.1-8B-Instruct --gpu 24gb --set gpu-memory-utilization=0.9

  # Which flags exist in vLLM 0.10.1.1 about chunked prefill, and how to write them
  sb-deploy flags chunked --vllm-version 0.10.1.1

  # A sweep: 2 x 3 points, one manifest set each, and the plan for pipelines/ and sb-report
  sb-deploy render -m Qwen/Qwen3-8B --sweep max-num-seqs=128,256 --sweep block-size=16,32,64 > sweep.yaml
  sb-deploy plan   -m Qwen/Qwen3-8B --sweep max-num-seqs=128,256 --sweep block-size=16,32,64 > plan.ndjson
  sb-deploy render -m Qwen/Qwen3-8B --sweep max-num-seqs=128,256 --sweep block-size=16,32,64 --point p04

  # The load generator: 4 pods, each `sb-load --shard i/4`, results on a PVC
  sb-deploy render -m Qwen/Qwen3-0.6B --loadgen --shards 4 --rate poisson:12 \\
    --requests pvc:workload/requests.ndjson --results pvc:workload/results --run-id run1

Engine parameters are vLLM flags without the dashes (underscores work too). Switches take true
or false (rendered --x / --no-x). Each is checked against the flag table of --vllm-version:
unknown, removed and mistyped flags and bad values are errors (exit 2) that say what to use.

Exit status: 0 ok; 1 a point does not fit (explain, or --require-fit); 2 usage or input error.";

/// servebench: model + engine parameters -> Kubernetes manifests, sweep plans, fit checks.
#[derive(Parser)]
#[command(name = "sb-deploy", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Multi-document YAML for `kubectl apply -f -` (Deployment, Service, monitor, Job) on stdout.
    #[command(after_help = EXAMPLES)]
    Render(DeployOptions),
    /// The sweep points as NDJSON `plan` records on stdout.
    #[command(after_help = EXAMPLES)]
    Plan(DeployOptions),
    /// The fit arithmetic per point, for people (exit 1 when a point does not fit).
    #[command(after_help = EXAMPLES)]
    Explain(DeployOptions),
    /// The model presets and GPU types the fit check knows.
    Presets,
    /// vLLM flags of a version: type, choices, default; and removed ones with what to use instead.
    Flags {
        /// Only flags whose name contains this (e.g. chunked, kv-cache).
        pattern: Option<String>,
        #[arg(long, default_value = "0.33.0")]
        vllm_version: String,
    },
}

enum Outcome {
    Ok,
    DoesNotFit,
}

/// What to write of a plan.
#[derive(Clone, Copy, PartialEq)]
enum Product {
    Manifests,
    PlanRecords,
    Explanation,
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let stdout = io::stdout();
    let (opts, cmd) = match cli.command {
        Command::Presets => {
            output::write_presets(&mut stdout.lock())?;
            return Ok(Outcome::Ok);
        }
        Command::Flags { pattern, vllm_version } => {
            let v = version::VllmVersion::parse(&vllm_version).map_err(anyhow::Error::msg)?;
            let table = flags::FlagTable::for_version(&v);
            let pattern = pattern.unwrap_or_default();
            if output::write_flags(&mut stdout.lock(), &table, &pattern)? == 0 {
                anyhow::bail!("no vLLM {v} flag contains {pattern:?}");
            }
            return Ok(Outcome::Ok);
        }
        Command::Render(o) => (o, Product::Manifests),
        Command::Plan(o) => (o, Product::PlanRecords),
        Command::Explain(o) => (o, Product::Explanation),
    };
    let plan = plan::build(&opts)?;
    let mut seen = std::collections::BTreeSet::new();
    for note in &plan.notes {
        if seen.insert(note) {
            eprintln!("sb-deploy: {note}");
        }
    }
    let fits = plan.all_fit();
    match cmd {
        Product::Explanation => {
            output::write_explain(&mut stdout.lock(), &plan)?;
            return Ok(if fits { Outcome::Ok } else { Outcome::DoesNotFit });
        }
        _ if !fits && opts.require_fit => {
            let bad: Vec<&str> = plan
                .points
                .iter()
                .filter(|p| p.fit.as_ref().is_some_and(|f| !f.fits))
                .map(|p| p.name.as_str())
                .collect();
            eprintln!("sb-deploy: --require-fit: {} does not fit; nothing written", bad.join(", "));
            return Ok(Outcome::DoesNotFit);
        }
        Product::PlanRecords => output::write_plan(stdout.lock(), &plan, &opts)?,
        Product::Manifests => {
            // Build every document before writing any, so an error leaves stdout empty.
            let docs = output::documents(&plan, &opts)?;
            output::write_yaml(&mut stdout.lock(), &docs)?;
        }
    }
    io::stdout().flush()?;
    Ok(Outcome::Ok)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::DoesNotFit) => ExitCode::from(1),
        Err(err) => sb_cli::exit::on_error("sb-deploy", &err),
    }
}
