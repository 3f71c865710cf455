//! Results on their way to stdout, held so that a slow reader of our stdout never makes the
//! process grow without bound. The writer thread serializes results and hands the bytes here;
//! an output thread writes them to stdout in order. Up to [`MEMORY_LIMIT`] bytes wait in
//! memory; past that they spill to an unlinked temporary file until the reader catches up. So
//! memory is bounded by what is in flight plus [`MEMORY_LIMIT`], and nothing is dropped.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Bytes of results held in memory before spilling to disk.
pub const MEMORY_LIMIT: usize = 64 << 20;
/// Largest piece read back from the spill file at once.
const READ_CHUNK: usize = 1 << 20;

struct Spill {
    file: File,
    written: u64,
    read: u64,
}

#[derive(Default)]
struct State {
    memory: VecDeque<Vec<u8>>,
    memory_bytes: usize,
    /// While set, every new piece goes to the file (after what is already there), and memory
    /// holds only what came before it: order is kept.
    spill: Option<Spill>,
    spilled_total: u64,
    closed: bool,
    /// The first write error on stdout; later bytes are discarded.
    error: Option<io::Error>,
}

pub struct Spool {
    state: Mutex<State>,
    ready: Condvar,
    memory_limit: usize,
}

impl Spool {
    /// Starts the output thread writing to `out`. Join it (after [`Spool::close`]) to get
    /// `out` back.
    pub fn start<W: Write + Send + 'static>(out: W) -> (Arc<Spool>, JoinHandle<(W, Option<io::Error>)>) {
        // SB_LOAD_SPOOL_MIB tunes the memory part (docs/load.md), e.g. for a small container.
        let limit = std::env::var("SB_LOAD_SPOOL_MIB")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or(MEMORY_LIMIT, |mib| mib.max(1) << 20);
        Spool::with_limit(out, limit)
    }

    fn with_limit<W: Write + Send + 'static>(
        out: W,
        memory_limit: usize,
    ) -> (Arc<Spool>, JoinHandle<(W, Option<io::Error>)>) {
        let spool = Arc::new(Spool { state: Mutex::default(), ready: Condvar::new(), memory_limit });
        let s = spool.clone();
        let handle = std::thread::Builder::new()
            .name("sb-load-stdout".into())
            .spawn(move || {
                crate::output::yield_to_event_loop();
                s.drain(out)
            })
            .expect("spawn output thread");
        (spool, handle)
    }

    /// Queues `bytes` (whole NDJSON lines). Fails once stdout has failed.
    pub fn push(&self, bytes: Vec<u8>) -> Result<(), String> {
        let mut st = self.state.lock().expect("spool");
        if let Some(e) = &st.error {
            return Err(describe(e));
        }
        if st.spill.is_none() && st.memory_bytes + bytes.len() > self.memory_limit {
            // No disk to spill to: keep them in memory rather than lose them.
            if let Ok(file) = tempfile() {
                if st.spilled_total == 0 {
                    eprintln!(
                        "sb-load: warning: stdout's reader is slower than the results; past {} MiB they wait in a temporary file (nothing is dropped)",
                        self.memory_limit >> 20
                    );
                }
                st.spill = Some(Spill { file, written: 0, read: 0 });
            }
        }
        if let Some(spill) = &mut st.spill {
            if let Err(e) = spill.file.write_all_at(&bytes, spill.written) {
                return Err(format!("spooling results to a temporary file failed: {e}"));
            }
            spill.written += bytes.len() as u64;
            st.spilled_total += bytes.len() as u64;
        } else {
            st.memory_bytes += bytes.len();
            st.memory.push_back(bytes);
        }
        self.ready.notify_one();
        Ok(())
    }

    /// No more pushes: the output thread ends once everything is written.
    pub fn close(&self) {
        self.state.lock().expect("spool").closed = true;
        self.ready.notify_one();
    }

    fn drain<W: Write>(&self, mut out: W) -> (W, Option<io::Error>) {
        loop {
            let mut st = self.state.lock().expect("spool");
            let piece = loop {
                if let Some(p) = st.memory.pop_front() {
                    st.memory_bytes -= p.len();
                    // Take everything that waits in memory at once: one write, one flush.
                    let mut p = p;
                    while let Some(more) = st.memory.pop_front() {
                        st.memory_bytes -= more.len();
                        p.extend_from_slice(&more);
                        if p.len() >= READ_CHUNK {
                            break;
                        }
                    }
                    break Some(p);
                }
                if let Some(spill) = &st.spill {
                    if spill.read < spill.written {
                        let len = (spill.written - spill.read).min(READ_CHUNK as u64) as usize;
                        let mut buf = vec![0u8; len];
                        let at = spill.read;
                        match spill.file.read_exact_at(&mut buf, at) {
                            Ok(()) => {
                                st.spill.as_mut().expect("spill").read += len as u64;
                                break Some(buf);
                            }
                            Err(e) => {
                                st.error.get_or_insert(e);
                                st.spill = None;
                                continue;
                            }
                        }
                    }
                    // The reader caught up: back to memory.
                    st.spill = None;
                    continue;
                }
                if st.closed {
                    break None;
                }
                st = self.ready.wait(st).expect("spool");
            };
            let failed = st.error.is_some();
            drop(st);
            let Some(piece) = piece else { break };
            if failed {
                continue;
            }
            if let Err(e) = out.write_all(&piece).and_then(|()| out.flush()) {
                self.state.lock().expect("spool").error = Some(e);
            }
        }
        let error = self.state.lock().expect("spool").error.take();
        (out, error)
    }

    /// True once stdout has failed.
    pub fn failed(&self) -> Option<String> {
        self.state.lock().expect("spool").error.as_ref().map(describe)
    }
}

pub fn describe(e: &io::Error) -> String {
    if sb_records::ndjson::is_broken_pipe(e) {
        "stdout was closed by its reader; later results were not written".into()
    } else {
        format!("writing results failed: {e}")
    }
}

/// A file in the temporary directory that is already unlinked: it vanishes with the process.
fn tempfile() -> io::Result<File> {
    let dir = std::env::temp_dir();
    for attempt in 0..16u32 {
        let path = dir.join(format!(".sb-load-spool-{}-{attempt}", std::process::id()));
        match std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path) {
            Ok(file) => {
                let _ = std::fs::remove_file(&path);
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free temporary file name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes bytes only when the test lets it.
    struct Gate {
        got: Arc<Mutex<Vec<u8>>>,
        open: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, cv) = &*self.open;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            self.got.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_reader_spills_to_disk_and_keeps_every_byte_in_order() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let open = Arc::new((Mutex::new(false), Condvar::new()));
        let (spool, handle) = Spool::with_limit(Gate { got: got.clone(), open: open.clone() }, 1000);
        let mut want = Vec::new();
        for i in 0..2000u32 {
            let line = format!("{{\"i\":{i}}}\n").into_bytes();
            want.extend_from_slice(&line);
            spool.push(line).unwrap();
            // Memory never holds much more than the limit (the output thread holds one piece).
            let st = spool.state.lock().unwrap();
            assert!(st.memory_bytes <= 1000, "{}", st.memory_bytes);
        }
        assert!(spool.state.lock().unwrap().spilled_total > 0, "the stalled reader made it spill");
        *open.0.lock().unwrap() = true;
        open.1.notify_all();
        spool.close();
        let (_, err) = handle.join().unwrap();
        assert!(err.is_none());
        assert_eq!(*got.lock().unwrap(), want);
    }
}
