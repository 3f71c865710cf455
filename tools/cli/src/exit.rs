//! The exit status every servebench tool uses, and how `main` ends on an error.
//!
//! - 0: done (a reader that closed stdout early, as `| head` does, is a normal end);
//! - 1: the work was done but failed a check (a run off its schedule, an untrustworthy report,
//!   a plan that does not fit, failed scrapes);
//! - 2: bad arguments or bad input, named in one line on stderr;
//! - 130: stopped by SIGINT/SIGTERM.

use std::process::ExitCode;

pub const OK: u8 = 0;
pub const CHECK_FAILED: u8 = 1;
pub const BAD_INPUT: u8 = 2;
pub const INTERRUPTED: u8 = 130;

/// Whether `err`, or any error that caused it, is a write to a pipe whose reader is gone.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

/// How `main` ends on an error: silently with 0 when stdout's reader left (nothing more can be
/// shown to anyone), else `TOOL: what went wrong: why` on stderr and 2.
pub fn on_error(tool: &str, err: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::from(OK);
    }
    let text = format!("{err:#}");
    eprintln!("{tool}: {}", text.trim_end_matches(": "));
    ExitCode::from(BAD_INPUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_found_among_the_causes() {
        let pipe = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone");
        assert!(is_broken_pipe(&anyhow::Error::new(pipe).context("writing results")));
        let other = std::io::Error::new(std::io::ErrorKind::NotFound, "no file");
        assert!(!is_broken_pipe(&anyhow::Error::new(other).context("reading")));
        assert!(!is_broken_pipe(&anyhow::anyhow!("bad --rate")));
    }
}
