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
use std::io::Write;
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
    /// Sums over measured sent requests of send lateness and of send-to-done time, for the
    /// share of time a closed loop's slots waited for the generator.
    pub lateness_sum_ns: u128,
    pub busy_sum_ns: u128,
    /// Requests whose server and client output token counts differ.
    pub token_count_mismatches: u64,
    /// Requests on which the server generated more than max_tokens (it ignored the field).
    pub exceeded_max_tokens: u64,
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
            lateness_sum_ns: 0,
            busy_sum_ns: 0,
            token_count_mismatches: 0,
            exceeded_max_tokens: 0,
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
        if r.exceeded_max_tokens {
            if self.exceeded_max_tokens == 0 {
                eprintln!(
                    "sb-load: warning: the server generated more tokens than asked for on request {:?} ({} > max_tokens {}): it ignores the length field; the run record counts such requests",
                    sb_cli::printable(&r.id),
                    r.usage.as_ref().map_or(0, |u| u.completion_tokens),
                    r.max_tokens.unwrap_or(0)
                );
            }
            self.exceeded_max_tokens += 1;
        }
        if r.warmup {
            self.warmup += 1;
            return;
        }
        if !f.sent {
            return;
        }
        self.measured_sent += 1;
        let late_ns = r.sent_ns.saturating_sub(r.scheduled_ns);
        self.lateness_us.saturating_record(late_ns / 1000);
        self.lateness_sum_ns += late_ns as u128;
        self.busy_sum_ns += r.done_ns.saturating_sub(r.sent_ns) as u128;
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
            let (spool, output) = crate::spool::Spool::start(out);
            let mut tally = write_loop(rx, &spool, opts);
            spool.close();
            let (out, error) = output.join().expect("the output thread panicked");
            if let (None, Some(e)) = (&tally.write_error, error) {
                // Failed after the last result was handed over.
                tally.write_error = Some(crate::spool::describe(&e));
            }
            (tally, RecordWriter::new(out))
        })
        .expect("spawn writer thread");
    (tx, handle)
}

fn write_loop(rx: Receiver<Finished>, spool: &crate::spool::Spool, opts: WriterOptions) -> Tally {
    let WriterOptions { tokenizer, save_text, broken, warn_lateness_ms } = opts;
    let warn_ns = warn_lateness_ms.map(|ms| (ms * 1e6) as u64);
    let mut warned = false;
    let mut tally = Tally::new();
    let mut bytes = Vec::with_capacity(1 << 16);
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
                if let Err(e) = sb_records::ndjson::encode_into(&mut bytes, f.record.as_ref()) {
                    tally.write_error = Some(format!("writing results failed: {e}"));
                }
            }
            // Hand over at most about a MiB at once, however fast results come.
            next = if bytes.len() < 1 << 20 { rx.try_recv().ok() } else { None };
        }
        if tally.write_error.is_none() && !bytes.is_empty() {
            let full = std::mem::replace(&mut bytes, Vec::with_capacity(1 << 16));
            if let Err(e) = spool.push(full) {
                tally.write_error = Some(e);
            }
        }
        bytes.clear();
        if tally.write_error.is_some() || spool.failed().is_some() {
            tally.write_error = tally.write_error.take().or_else(|| spool.failed());
            broken.store(true, Ordering::Relaxed);
        }
        if batch > 1 {
            // Results are arriving faster than one at a time: let the next ones gather
            // instead of waking this thread (a context switch) for each of them.
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
    }
    tally
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
