//! Progress on stderr while sb-sample loads, synthesizes and tokenizes: done of total, percent,
//! rate and ETA, redrawn once a second. `--progress auto` (the default) shows it when stderr is
//! a terminal, `always` also in a pipe or file (one plain line per update, no escape codes),
//! `never` not at all; sb-load's convention. Nothing is shown for work under a second.
//!
//! Workers pay one relaxed atomic add per item; a thread of its own draws the line.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const AUTO: u8 = 0;
const ALWAYS: u8 = 1;
const NEVER: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(AUTO);

/// `--progress auto|always|never` (validated by clap).
pub fn set_mode(mode: &str) {
    let m = match mode {
        "always" => ALWAYS,
        "never" => NEVER,
        _ => AUTO,
    };
    MODE.store(m, Ordering::Relaxed);
}

struct Inner {
    label: String,
    total: u64,
    done: AtomicU64,
    stop: AtomicBool,
}

/// One stage's progress. Dropping it (or [`Bar::finish`]) stops the display and, on a
/// terminal, erases the line.
pub struct Bar {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl Bar {
    /// A stage of `total` items (requests, prompts). Shown only if the mode says so.
    pub fn start(label: &str, total: u64) -> Bar {
        let inner =
            Arc::new(Inner { label: label.to_string(), total, done: AtomicU64::new(0), stop: AtomicBool::new(false) });
        let tty = std::io::stderr().is_terminal();
        let show = match MODE.load(Ordering::Relaxed) {
            ALWAYS => true,
            NEVER => false,
            _ => tty,
        };
        let thread = show.then(|| {
            let inner = inner.clone();
            std::thread::spawn(move || draw(&inner, tty))
        });
        Bar { inner, thread }
    }

    pub fn inc(&self, n: u64) {
        self.inner.done.fetch_add(n, Ordering::Relaxed);
    }

    pub fn finish(self) {}
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn draw(inner: &Inner, tty: bool) {
    let started = Instant::now();
    let mut next = Duration::from_secs(1);
    let mut drawn = false;
    while !inner.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let elapsed = started.elapsed();
        if elapsed < next {
            continue;
        }
        next = elapsed + Duration::from_secs(1);
        let line = render(&inner.label, inner.done.load(Ordering::Relaxed), inner.total, elapsed.as_secs_f64());
        let mut err = std::io::stderr().lock();
        let _ = if tty { write!(err, "\r{line}\x1b[K") } else { writeln!(err, "{line}") };
        let _ = err.flush();
        drawn = true;
    }
    if tty && drawn {
        let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
    }
}

/// `sb-sample: synthesizing prompts 1200/20000 (6%), 400/s, 3 s, ETA 47 s`.
pub fn render(label: &str, done: u64, total: u64, elapsed_s: f64) -> String {
    let rate = if elapsed_s > 0.0 { done as f64 / elapsed_s } else { 0.0 };
    let mut s = format!("sb-sample: {label} {done}/{total}");
    if total > 0 {
        s.push_str(&format!(" ({:.0}%)", 100.0 * done.min(total) as f64 / total as f64));
    }
    s.push_str(&format!(", {rate:.0}/s, {elapsed_s:.0} s"));
    if done > 0 && total > done {
        s.push_str(&format!(", ETA {:.0} s", (total - done) as f64 / rate));
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn render_shows_total_percent_and_eta() {
        assert_eq!(
            super::render("synthesizing prompts", 1000, 4000, 2.0),
            "sb-sample: synthesizing prompts 1000/4000 (25%), 500/s, 2 s, ETA 6 s"
        );
        assert_eq!(super::render("x", 0, 10, 1.0), "sb-sample: x 0/10 (0%), 0/s, 1 s");
        assert_eq!(super::render("x", 10, 10, 1.0), "sb-sample: x 10/10 (100%), 10/s, 1 s");
    }
}
