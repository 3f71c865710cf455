//! sb-load: request records -> result records: the load generator. Not implemented yet; see the issue tracker.

use clap::Parser;
use std::process::ExitCode;

/// servebench: request records -> result records: the load generator (not yet implemented).
#[derive(Parser)]
#[command(name = "sb-load", version)]
struct Args {
    /// Arguments (ignored until the tool is implemented).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

fn main() -> ExitCode {
    let _args = Args::parse();
    eprintln!("sb-load: not yet implemented");
    ExitCode::from(2)
}
