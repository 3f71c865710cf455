//! The result writer: one thread that owns stdout, writes each result as it arrives and keeps
//! the run's tallies (status counts, send lateness, send times).
//!
//! It runs on its own thread so that a slow reader of our stdout (a pipe into `sb-report`)
//! blocks this thread, never the event loop that keeps the schedule and stamps chunk times.
//! Records that arrive together are flushed together; a lone record is flushed at once.

use crate::tokens::ClientTokenizer;
use hdrhistogram::Histogram;
use sb_records::{RecordWriter, ResultRecord, Status};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A finished request on its way to the writer.
pub struct Finished {
    pub record: Box<ResultRecord>,
    /// False for a request that was never sent (a later turn of a failed session).
    pub sent: bool,
    /// Generated text, when it has to be counted or saved.
    pub text: Option<String>,
}

/// What the writer saw, for the run record and the verdict.
pub struct Tally {
    pub results: u64,
    pub warmup: u64,
    pub by_status: BTreeMap<&'static str, u64>,
    /// `sent_ns - scheduled_ns` of measured (not warm-up) requests, in microseconds.
    pub lateness_us: Histogram<u64>,
    pub first_scheduled_ns: u64,
    pub last_scheduled_ns: u64,
    pub first_sent_ns: u64,
    pub last_sent_ns: u64,
    pub last_done_ns: u64,
    /// Measured requests that were sent.
    pub measured_sent: u64,
    /// Requests whose server and client output token counts differ.
    pub token_count_mismatches: u64,
    /// Set when stdout failed (e.g. the reader went away); later records were not written.
    pub write_error: Option<String>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            results: 0,
            warmup: 0,
            by_status: BTreeMap::new(),
            // Up to an hour late, 3 significant digits; anything later is recorded as an hour.
            lateness_us: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
            first_scheduled_ns: u64::MAX,
            last_scheduled_ns: 0,
            first_sent_ns: u64::MAX,
            last_sent_ns: 0,
            last_done_ns: 0,
            measured_sent: 0,
            token_count_mismatches: 0,
            write_error: None,
        }
    }

    pub fn failed(&self) -> u64 {
        self.by_status.iter().filter(|(s, _)| **s != Status::Ok.as_str()).map(|(_, n)| *n).sum()
    }

    fn add(&mut self, f: &Finished) {
        let r = &f.record;
        self.results += 1;
        *self.by_status.entry(r.status.as_str()).or_insert(0) += 1;
        self.last_done_ns = self.last_done_ns.max(r.done_ns);
        if r.warmup {
            self.warmup += 1;
            return;
        }
        if !f.sent {
            return;
        }
        self.measured_sent += 1;
        self.lateness_us.saturating_record(r.sent_ns.saturating_sub(r.scheduled_ns) / 1000);
        self.first_scheduled_ns = self.first_scheduled_ns.min(r.scheduled_ns);
        self.last_scheduled_ns = self.last_scheduled_ns.max(r.scheduled_ns);
        self.first_sent_ns = self.first_sent_ns.min(r.sent_ns);
        self.last_sent_ns = self.last_sent_ns.max(r.sent_ns);
    }
}

/// What the writer needs besides the results.
#[derive(Default)]
pub struct WriterOptions {
    pub tokenizer: Option<ClientTokenizer>,
    pub save_text: bool,
    /// Set when stdout fails, so that the dispatcher stops sending.
    pub broken: Arc<AtomicBool>,
    /// Warn on stderr, once, when a request is sent later than this after its slot.
    pub warn_lateness_ms: Option<f64>,
}

/// Starts the writer thread. Dropping every clone of the returned sender ends it; joining it
/// gives the tallies and the output back (for the run record, written last).
pub fn spawn_writer<W: Write + Send + 'static>(
    out: W,
    opts: WriterOptions,
) -> (Sender<Finished>, JoinHandle<(Tally, RecordWriter<W>)>) {
    let (tx, rx) = std::sync::mpsc::channel::<Finished>();
    let handle = std::thread::Builder::new()
        .name("sb-load-writer".into())
        .spawn(move || {
            yield_to_event_loop();
            write_loop(rx, RecordWriter::new(out), opts)
        })
        .expect("spawn writer thread");
    (tx, handle)
}

fn write_loop<W: Write>(
    rx: Receiver<Finished>,
    mut out: RecordWriter<W>,
    opts: WriterOptions,
) -> (Tally, RecordWriter<W>) {
    let WriterOptions { tokenizer, save_text, broken, warn_lateness_ms } = opts;
    let warn_ns = warn_lateness_ms.map(|ms| (ms * 1e6) as u64);
    let mut warned = false;
    let mut tally = Tally::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        let mut batch = 0;
        while let Some(mut f) = next {
            batch += 1;
            if let (Some(tok), Some(text)) = (&tokenizer, &f.text) {
                let n = tok.count(text);
                f.record.output_tokens = Some(n);
                f.record.tokenizer = Some(tok.name().to_string());
                if f.record.usage.as_ref().is_some_and(|u| u.completion_tokens != n) {
                    tally.token_count_mismatches += 1;
                }
            }
            if save_text {
                f.record.text = f.text.take();
            }
            tally.add(&f);
            let r = &f.record;
            let late_ns = r.sent_ns.saturating_sub(r.scheduled_ns);
            if !warned && f.sent && !r.warmup && warn_ns.is_some_and(|w| late_ns > w) {
                // Say it while the run is going, not only in the verdict at the end.
                eprintln!(
                    "sb-load: warning: falling behind the schedule: request {:?} was sent {:.1} ms after its slot (--max-lag {} ms); the run record will say how far",
                    r.id,
                    late_ns as f64 / 1e6,
                    warn_lateness_ms.unwrap_or_default()
                );
                warned = true;
            }
            if tally.write_error.is_none() {
                if let Err(e) = out.write_buffered(f.record.as_ref()) {
                    tally.write_error = Some(describe_write_error(&e));
                }
            }
            next = rx.try_recv().ok();
        }
        if tally.write_error.is_none() {
            if let Err(e) = out.flush() {
                tally.write_error = Some(describe_write_error(&e));
            }
        }
        if tally.write_error.is_some() {
            broken.store(true, Ordering::Relaxed);
        }
        if batch > 1 {
            // Results are arriving faster than one at a time: let the next ones gather
            // instead of waking this thread (a context switch) for each of them.
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
    }
    (tally, out)
}

/// Lowers the calling helper thread's priority (nice +10), so that when the client is pinned to
/// one core, reading input and writing results wait for the event loop that keeps the schedule
/// and stamps chunks, instead of preempting it. Best effort: failure changes nothing else.
pub fn yield_to_event_loop() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread's own id; no memory is shared.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

fn describe_write_error(e: &io::Error) -> String {
    if sb_records::ndjson::is_broken_pipe(e) {
        "stdout was closed by its reader; later results were not written".into()
    } else {
        format!("writing results failed: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(id: &str, status: Status, scheduled_ns: u64, sent_ns: u64, warmup: bool) -> Finished {
        Finished {
            record: Box::new(ResultRecord {
                id: id.into(),
                status,
                scheduled_ns,
                sent_ns,
                done_ns: sent_ns + 10,
                warmup,
                ..Default::default()
            }),
            sent: true,
            text: None,
        }
    }

    #[test]
    fn writes_every_record_and_tallies_measured_ones() {
        let (tx, handle) = spawn_writer(Vec::new(), WriterOptions::default());
        tx.send(finished("w", Status::Ok, 0, 5_000_000, true)).unwrap();
        tx.send(finished("a", Status::Ok, 1_000_000, 1_002_000, false)).unwrap();
        tx.send(finished("b", Status::HttpError, 2_000_000, 2_500_000, false)).unwrap();
        // Seconds late: far beyond the histogram's starting range, still recorded as is.
        tx.send(finished("c", Status::Ok, 3_000_000, 7_003_000_000, false)).unwrap();
        drop(tx);
        let (tally, out) = handle.join().unwrap();
        let text = String::from_utf8(out.into_inner()).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert!(text.lines().nth(2).unwrap().contains("\"status\":\"http_error\""));
        assert_eq!((tally.results, tally.warmup, tally.measured_sent, tally.failed()), (4, 1, 3, 1));
        assert!(tally.lateness_us.equivalent(tally.lateness_us.max(), 7_000_000), "{}", tally.lateness_us.max());
        assert_eq!(tally.lateness_us.len(), 3);
        assert_eq!(tally.lateness_us.min(), 2);
        assert_eq!((tally.first_sent_ns, tally.last_sent_ns), (1_002_000, 7_003_000_000));
    }
}
