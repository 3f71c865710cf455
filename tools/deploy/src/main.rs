//! sb-deploy: model + engine parameters -> Kubernetes manifests, sweep plans. Not implemented yet; see the issue tracker.

use clap::Parser;
use std::process::ExitCode;

/// servebench: model + engine parameters -> Kubernetes manifests, sweep plans (not yet implemented).
#[derive(Parser)]
#[command(name = "sb-deploy", version)]
struct Args {
    /// Arguments (ignored until the tool is implemented).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

fn main() -> ExitCode {
    let _args = Args::parse();
    eprintln!("sb-deploy: not yet implemented");
    ExitCode::from(2)
}
