//! Where samples go: an NDJSON record writer that counts what it wrote, and the outcome of a
//! collection (what failed, to decide the exit code).

use sb_records::{RecordWriter, Sample};
use std::io::{self, Write};

pub struct Sink<W: Write> {
    writer: RecordWriter<W>,
    pub written: u64,
    /// DCGM "blank" values left out (see [`is_dcgm_blank`]).
    pub dcgm_blanks: u64,
}

/// The DCGM exporter writes a field it cannot read as a huge sentinel
/// (`9223372036854775794` for an unsupported `DCGM_FI_DEV_MEMORY_TEMP`); as a value it would wreck
/// every mean and maximum, so it is left out and counted.
pub fn is_dcgm_blank(metric: &str, value: f64) -> bool {
    metric.starts_with("DCGM_FI_") && value >= 9.2e18
}

impl<W: Write> Sink<W> {
    pub fn new(out: W) -> Self {
        Sink { writer: RecordWriter::new(out), written: 0, dcgm_blanks: 0 }
    }

    /// Writes one sample without flushing; callers flush once per scrape or query result.
    pub fn push(&mut self, sample: &Sample) -> io::Result<()> {
        if is_dcgm_blank(&sample.metric, sample.value) {
            self.dcgm_blanks += 1;
            return Ok(());
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use sb_records::SampleSource;

    #[test]
    fn dcgm_sentinels_are_left_out_and_counted() {
        let mut sink = Sink::new(Vec::new());
        let sample = |metric: &str, value: f64| Sample {
            metric: metric.into(),
            labels: Default::default(),
            ts_ns: 1,
            value,
            source: SampleSource::Endpoint,
            metric_type: None,
            window: None,
            target: None,
        };
        sink.push(&sample("DCGM_FI_DEV_MEMORY_TEMP", 9223372036854775794.0)).unwrap();
        sink.push(&sample("DCGM_FI_DEV_GPU_TEMP", 41.0)).unwrap();
        sink.push(&sample("vllm:prompt_tokens_total", 9.3e18)).unwrap();
        assert_eq!((sink.written, sink.dcgm_blanks), (2, 1));
    }
}
