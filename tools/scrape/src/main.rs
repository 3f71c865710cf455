//! sb-scrape: a time window -> metric samples (Prometheus, /metrics, logs). Not implemented yet; see the issue tracker.

use clap::Parser;
use std::process::ExitCode;

/// servebench: a time window -> metric samples (Prometheus, /metrics, logs) (not yet implemented).
#[derive(Parser)]
#[command(name = "sb-scrape", version)]
struct Args {
    /// Arguments (ignored until the tool is implemented).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

fn main() -> ExitCode {
    let _args = Args::parse();
    eprintln!("sb-scrape: not yet implemented");
    ExitCode::from(2)
}
