//! sb-profile: run llm-d-benchmark workload profiles with servebench. See docs/profile.md.

mod harness;
mod plan;
mod profile;
mod run;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use profile::Harness;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  # An llm-d-benchmark profile against a server, with its placeholders from the environment
  export LLMDBENCH_DEPLOY_CURRENT_MODEL=Qwen/Qwen3-0.6B LLMDBENCH_HARNESS_STACK_ENDPOINT_URL=http://127.0.0.1:8000
  sb-profile run workload/profiles/inference-perf/sanity_random.yaml.in --results-dir results/sanity

  # The same with shorter stages (llm-d-benchmark's -o: dotted keys, list indices, values coerced)
  sb-profile run sanity_random.yaml.in --harness inference-perf -o load.stages.0.duration=5,load.stages.0.rate=2

  # The equivalent sb-sample | sb-load | sb-report lines, to read or keep
  sb-profile explain workload/profiles/vllm-benchmark/random_concurrent.yaml.in

Keys servebench cannot honour are an error listing every one (exit 2), unless --allow-unsupported
(then they are listed in the results, unsupported.txt). Results: requests.ndjson, results-stage-<i>.ndjson,
results.ndjson, report.txt, report.json, benchmark_report.json (llm-d v0.2; one per stage too),
profile.yaml (resolved) and commands.sh (the same run as shell lines).

Exit status: 0 ok; 1 a check failed (a stage fell behind its schedule or had failed requests);
2 bad arguments or profile (unsupported keys, missing placeholders, keys -o could not place);
130 interrupted.";

/// Run llm-d-benchmark workload profiles (inference-perf, vllm-benchmark, guidellm) with
/// servebench: the profile becomes sb-sample | sb-load | sb-report, run as child processes.
#[derive(Parser)]
#[command(name = "sb-profile", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Args)]
struct ProfileArgs {
    /// The profile: an llm-d-benchmark workload profile (.yaml.in or .yaml).
    profile: PathBuf,
    /// The harness the profile is for [default: its folder name, else its keys].
    #[arg(long, value_enum)]
    harness: Option<Harness>,
    /// Overrides as llm-d-benchmark's run.sh -o: key=value,... (dotted keys; integer parts index
    /// lists; true/yes/false/no, integers and floats are coerced). Repeatable.
    #[arg(short = 'o', long = "overrides", value_name = "KEY=VALUE,...")]
    overrides: Vec<String>,
    /// Run even with keys servebench cannot honour (they are listed in the results).
    #[arg(long)]
    allow_unsupported: bool,
    /// Prompts that time-bounded closed-loop runs (guidellm concurrent with max_duration) go round.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pool: usize,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the profile and write the results set into --results-dir.
    Run {
        #[command(flatten)]
        p: ProfileArgs,
        /// Results directory (llm-d-benchmark's harness pods set LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR)
        /// [default: sb-profile-<profile name>].
        #[arg(long, env = "LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR", value_name = "DIR")]
        results_dir: Option<PathBuf>,
    },
    /// Print the equivalent sb-sample | sb-load | sb-report command lines (commands.sh).
    Explain {
        #[command(flatten)]
        p: ProfileArgs,
    },
    /// Write lines of a request file for one stage (used by commands.sh): --count N from --from,
    /// or --cycle through the rest (later passes get ids suffixed .<pass>) until the reader stops.
    Slice {
        file: PathBuf,
        #[arg(long, default_value_t = 0)]
        from: usize,
        #[arg(long, conflicts_with = "cycle")]
        count: Option<usize>,
        #[arg(long)]
        cycle: bool,
    },
}

/// `sanity_random` of `.../sanity_random.yaml.in`.
fn stem(path: &Path) -> String {
    let name = path.file_name().and_then(|f| f.to_str()).unwrap_or("profile");
    name.trim_end_matches(".in").trim_end_matches(".yaml").trim_end_matches(".yml").to_string()
}

fn prepare(p: &ProfileArgs) -> Result<(serde_json::Value, plan::Plan)> {
    let overrides = profile::parse_overrides(&p.overrides)?;
    let doc = profile::load(&p.profile, &overrides)?;
    let harness = match p.harness {
        Some(h) => h,
        None => profile::detect_harness(&p.profile, &doc)?,
    };
    let plan = harness::plan(harness, &doc, p.pool).map_err(|e| anyhow::anyhow!("{}: {e:#}", p.profile.display()))?;
    for (k, why) in &plan.keys.notes {
        eprintln!("sb-profile: note: {k}: {why}");
    }
    if !plan.keys.unsupported.is_empty() {
        let list: String = plan.keys.unsupported.iter().map(|(k, why)| format!("\n  {k}: {why}")).collect();
        if !p.allow_unsupported {
            bail!(
                "{}: {} key(s) servebench cannot honour (--allow-unsupported runs without them):{list}",
                p.profile.display(),
                plan.keys.unsupported.len()
            );
        }
        eprintln!("sb-profile: running without {} unsupported key(s):{list}", plan.keys.unsupported.len());
    }
    Ok((doc, plan))
}

fn names(profile: &Path) -> run::Names {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    run::Names { run: format!("{}-{secs}", stem(profile)) }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<ExitCode> = match cli.command {
        Cmd::Explain { p } => prepare(&p).and_then(|(_, plan)| {
            let bin = run::bin_dir()?;
            print!("{}", run::script(&plan, &p.profile.display().to_string(), &names(&p.profile), &bin));
            Ok(ExitCode::SUCCESS)
        }),
        Cmd::Run { p, results_dir } => prepare(&p).and_then(|(doc, plan)| {
            let dir = results_dir.unwrap_or_else(|| PathBuf::from(format!("sb-profile-{}", stem(&p.profile))));
            let o = run::execute(&plan, &doc, &p.profile.display().to_string(), &names(&p.profile), &dir)?;
            Ok(if o.interrupted {
                ExitCode::from(130)
            } else if o.checks_failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }),
        Cmd::Slice { file, from, count, cycle } => run::read_lines(&file).and_then(|lines| {
            let input = if cycle {
                plan::Input::Cycle { from }
            } else {
                plan::Input::Slice { from, count: count.unwrap_or(usize::MAX / 2) }
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            run::feed(&lines, &input, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }),
    };
    match result {
        Ok(c) => c,
        Err(e) => sb_cli::exit::on_error("sb-profile", &e),
    }
}
