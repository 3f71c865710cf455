//! A one-line progress display on stderr, redrawn every second, for runs watched from a
//! terminal. Never on stdout, never when stderr is a file or a pipe (unless asked).

use crate::schedule::Counters;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Progress {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl Progress {
    pub fn start(counters: Arc<Counters>) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("sb-load-progress".into())
            .spawn(move || {
                let started = Instant::now();
                let (mut last_at, mut last_sent) = (started, 0u64);
                let mut drawn = false;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    if last_at.elapsed() < Duration::from_secs(1) {
                        continue;
                    }
                    let sent = counters.sent.load(Ordering::Relaxed);
                    let done = counters.done.load(Ordering::Relaxed);
                    let failed = counters.failed.load(Ordering::Relaxed);
                    let rate = (sent - last_sent) as f64 / last_at.elapsed().as_secs_f64();
                    (last_at, last_sent) = (Instant::now(), sent);
                    let line = format!(
                        "sb-load: {:>6.1}s  sent {sent}  done {done}  errors {failed}  in flight {}  {rate:.1} req/s",
                        started.elapsed().as_secs_f64(),
                        sent.saturating_sub(done),
                    );
                    let _ = write!(std::io::stderr(), "\r\x1b[2K{line}");
                    drawn = true;
                }
                if drawn {
                    let _ = write!(std::io::stderr(), "\r\x1b[2K");
                }
            })
            .expect("spawn progress thread");
        Progress { stop, handle }
    }

    /// Stops and erases the line (the final verdict is printed after it).
    pub fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.handle.join();
    }
}
