//! Where samples go: an NDJSON record writer that counts what it wrote, and the outcome of a
//! collection (what failed, to decide the exit code).

use sb_records::{RecordWriter, Sample};
use std::io::{self, Write};

pub struct Sink<W: Write> {
    writer: RecordWriter<W>,
    pub written: u64,
}

impl<W: Write> Sink<W> {
    pub fn new(out: W) -> Self {
        Sink { writer: RecordWriter::new(out), written: 0 }
    }

    /// Writes one sample without flushing; callers flush once per scrape or query result.
    pub fn push(&mut self, sample: &Sample) -> io::Result<()> {
        self.writer.write_buffered(sample)?;
        self.written += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// What a collection achieved. Failures are reported on stderr as they happen; any failure makes
/// the exit status 1, while the samples already written stay written.
#[derive(Debug, Default)]
pub struct Outcome {
    pub failures: Vec<String>,
    /// Samples written.
    pub samples: u64,
    /// The reader of stdout went away (`| head`): stop quietly, not an error.
    pub stdout_closed: bool,
}

impl Outcome {
    pub fn fail(&mut self, message: String) {
        eprintln!("sb-scrape: {message}");
        self.failures.push(message);
    }
}
