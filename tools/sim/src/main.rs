use clap::Parser;
use sb_sim::SimArgs;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = SimArgs::parse();
    if let Err(e) = args.validate() {
        eprintln!("sb-sim: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sb-sim: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(sb_sim::serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sb-sim: {e:#}");
            ExitCode::from(1)
        }
    }
}
