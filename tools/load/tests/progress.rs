//! The progress line with `--progress always` into a pipe (a CI log, `2>run.log`): plain lines,
//! no terminal escapes, the total with percentage and ETA when it is known (docs/load.md,
//! "Progress"), live TTFT p50 and output tokens/s, and a last line with the final state.

mod common;

use common::{completions, load};
use sb_testkit::{tempdir, Sim};

/// The progress lines of a run's stderr (the verdict line is not one of them).
fn progress_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("sb-load: ") && l.contains(" in flight ")).collect()
}

/// The number after `key` in `line`.
fn number_after(line: &str, key: &str) -> Option<f64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn a_file_input_is_counted_and_the_last_line_shows_everything_done() {
    // 40 requests at 20/s: about 2 s, so at least one line a second on the way plus the last one.
    let sim = Sim::start(&["--decode-ms", "2"]);
    let dir = tempdir("load-progress");
    let file = dir.join("requests.ndjson");
    std::fs::write(&file, completions(40, 8, 6)).unwrap();
    let run =
        load(&sim.url, &["--rate", "poisson:20", "--seed", "1", "--progress", "always", file.to_str().unwrap()], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.results.len(), 40);
    assert!(
        !run.stderr.contains('\x1b') && !run.stderr.contains('\r'),
        "no terminal escapes in a pipe: {:?}",
        run.stderr
    );
    let lines = progress_lines(&run.stderr);
    assert!(lines.len() >= 2, "a line a second and a last one: {}", run.stderr);
    for l in &lines {
        assert!(l.contains("/40 ") && l.contains("% ") && (l.contains("  ETA ") || l.contains("draining")), "{l}");
    }
    // The last line: all done, with the live numbers of the last seconds.
    let last = lines.last().unwrap();
    assert!(last.contains("  40/40 100.0%  ETA 0s  sent 40  done 40  errors 0  in flight 0  "), "{last}");
    let ttft = number_after(last, "TTFT p50 ").unwrap_or_else(|| panic!("TTFT p50 in {last}"));
    assert!(ttft > 0.0 && ttft < 60_000.0, "{last}");
    let tok_s = number_after(last, "ms  ").unwrap_or_else(|| panic!("out tok/s in {last}"));
    assert!(tok_s > 0.0 && last.ends_with(" out tok/s"), "{last}");
    // And the verdict comes after the progress, as on a terminal.
    assert!(run.stderr.trim_end().lines().last().unwrap().contains("40 results in"), "{}", run.stderr);
}

#[test]
fn stdin_is_counted_with_n_and_not_without() {
    let sim = Sim::start(&["--decode-ms", "1"]);
    // -n bounds the count: a total even though a pipe cannot be counted up front.
    let run = load(&sim.url, &["-n", "12", "--concurrency", "4", "--progress", "always"], &completions(30, 4, 3));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let last = *progress_lines(&run.stderr).last().unwrap_or_else(|| panic!("no progress line: {}", run.stderr));
    assert!(last.contains("  12/12 100.0%  ETA 0s  sent 12  done 12  "), "{last}");
    // A pipe and no -n: counts without a total, no percentage, no ETA.
    let run = load(&sim.url, &["--concurrency", "4", "--progress", "always"], &completions(10, 4, 3));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let last = *progress_lines(&run.stderr).last().unwrap();
    assert!(last.contains("  read 10  sent 10  done 10  ") && !last.contains('%') && !last.contains("ETA"), "{last}");
    // --progress never: silent.
    let run = load(&sim.url, &["--concurrency", "4", "--progress", "never"], &completions(5, 4, 3));
    assert!(progress_lines(&run.stderr).is_empty(), "{}", run.stderr);
}
