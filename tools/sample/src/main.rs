//! sb-sample: datasets -> request records. Not implemented yet; see the issue tracker.

use clap::Parser;
use std::process::ExitCode;

/// servebench: datasets -> request records (not yet implemented).
#[derive(Parser)]
#[command(name = "sb-sample", version)]
struct Args {
    /// Arguments (ignored until the tool is implemented).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

fn main() -> ExitCode {
    let _args = Args::parse();
    eprintln!("sb-sample: not yet implemented");
    ExitCode::from(2)
}
