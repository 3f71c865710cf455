//! A one-line progress display on stderr, redrawn every second: how far the run is (of its
//! total, with an ETA, when the total is known), how fast it sends, and what the server does
//! right now (TTFT p50 and output tokens/s over the last 10 s). Never on stdout.
//!
//! On a terminal the line is redrawn in place and erased at the end (the verdict follows). In a
//! pipe or a file (`--progress always`) each update is a plain line, no escape codes, and a last
//! line is written when the run ends, so a log shows where a run was.
//!
//! The total is known (docs/load.md, "Progress") when `-n` is given, when the input is a regular
//! file (its lines are counted once, by this thread, while the run starts), and when every stage
//! has a duration or `--duration` is given (then the ETA is by time). With several of these, the
//! one that ends the run first gives the ETA.
//!
//! The request path pays one relaxed atomic add per finished request into [`Live`] (a
//! fixed log-bucket histogram), nothing per chunk and no lock.

use crate::schedule::{Counters, Plan};
use sb_records::ResultRecord;
use std::io::{IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Sub-buckets per power of two of the TTFT histogram: bucket width at most 1/16 = 6.25 % of
/// the value, enough for a live p50 (the report computes the exact one).
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Microseconds up to 2^36 (19 hours); later TTFTs land in the last bucket.
const OCTAVES: usize = 36;
const BUCKETS: usize = OCTAVES * SUB;
/// The live numbers cover this many one-second snapshots.
const WINDOW: usize = 10;

/// What the request path records for the live numbers: successful requests' TTFT and output
/// tokens, one atomic add each.
pub struct Live {
    ttft_us: Box<[AtomicU64]>,
    output_tokens: AtomicU64,
}

impl Default for Live {
    fn default() -> Self {
        Live { ttft_us: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(), output_tokens: AtomicU64::new(0) }
    }
}

/// Bucket of a value in µs: exact below 16, then 16 linear steps per power of two.
fn bucket(us: u64) -> usize {
    if us < SUB as u64 {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros(); // >= SUB_BITS
    let sub = (us >> (octave - SUB_BITS)) as usize & (SUB - 1);
    (((octave - SUB_BITS + 1) as usize) * SUB + sub).min(BUCKETS - 1)
}

/// The middle of a bucket, in µs (the inverse of [`bucket`]).
fn bucket_mid_us(i: usize) -> f64 {
    if i < SUB {
        return i as f64;
    }
    let octave = (i / SUB) as u32 + SUB_BITS - 1;
    let width = 1u64 << (octave - SUB_BITS);
    let low = (1u64 << octave) + (i % SUB) as u64 * width;
    low as f64 + width as f64 / 2.0
}

impl Live {
    /// A finished request (called once per request, after its last chunk).
    pub fn record(&self, r: &ResultRecord) {
        if r.status != sb_records::Status::Ok {
            return;
        }
        // TTFT as sb-report and vLLM define it: the first chunk with choices (docs/metrics.md).
        if let Some(first) = r.first_chunk_ns {
            let us = first.saturating_sub(r.sent_ns) / 1000;
            self.ttft_us[bucket(us)].fetch_add(1, Ordering::Relaxed);
        }
        let tokens = r.output_len().map_or(r.chunks_ns.len() as u64, u64::from);
        self.output_tokens.fetch_add(tokens, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            ttft: self.ttft_us.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
            output_tokens: self.output_tokens.load(Ordering::Relaxed),
            at: Instant::now(),
        }
    }
}

struct Snapshot {
    ttft: Vec<u64>,
    output_tokens: u64,
    at: Instant,
}

/// TTFT p50 (ms) and output tokens/s between two snapshots; none without a finished request.
fn window_stats(old: &Snapshot, new: &Snapshot) -> (Option<f64>, Option<f64>) {
    let counts: Vec<u64> = new.ttft.iter().zip(&old.ttft).map(|(n, o)| n.saturating_sub(*o)).collect();
    let total: u64 = counts.iter().sum();
    let p50 = (total > 0).then(|| {
        let rank = total.div_ceil(2);
        let mut seen = 0;
        let i = counts.iter().position(|c| {
            seen += c;
            seen >= rank
        });
        bucket_mid_us(i.unwrap_or(0)) / 1000.0
    });
    let secs = new.at.duration_since(old.at).as_secs_f64();
    let tokens = new.output_tokens.saturating_sub(old.output_tokens);
    let tok_s = (secs > 0.0 && (tokens > 0 || total > 0)).then(|| tokens as f64 / secs);
    (p50, tok_s)
}

/// What is known up front about the size of the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expected {
    /// `-n`: at most this many requests are read.
    pub max_requests: Option<u64>,
    /// A regular input file whose lines are counted when the progress thread starts.
    pub file: Option<std::path::PathBuf>,
    /// The run ends by time: every stage has a duration, or `--duration`.
    pub duration: Option<Duration>,
}

impl Expected {
    /// From the plan and the input path (`-` or `<stdin>`: not counted).
    pub fn of(plan: &Plan, input: &str) -> Expected {
        let staged: Option<Duration> = plan.stages.iter().map(|s| s.duration).sum();
        let duration = match (staged, plan.duration) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let file = (input != "-" && input != "<stdin>")
            .then(|| std::path::PathBuf::from(input))
            .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
            // A compressed file's lines cannot be counted cheaply: no total from it.
            .filter(|p| !p.extension().is_some_and(|e| e == "gz" || e == "zst"));
        Expected { max_requests: plan.max_requests, file, duration }
    }
}

/// Counts the lines of a file (a last line without a newline counts). Read in 1 MiB blocks; a
/// gigabyte takes well under a second, done once on the progress thread.
fn count_lines(path: &std::path::Path) -> Option<u64> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        last = buf[n - 1];
    }
    Some(lines + u64::from(last != b'\n'))
}

/// Everything one line shows.
#[derive(Clone, Debug, Default, PartialEq)]
struct Line {
    elapsed_s: f64,
    read: u64,
    sent: u64,
    done: u64,
    failed: u64,
    /// Lines expected from the input in all (every shard's: `read` counts them all).
    total: Option<u64>,
    duration_s: Option<f64>,
    /// Sends and completions per second over the last few seconds.
    send_rate: f64,
    done_rate: f64,
    ttft_p50_ms: Option<f64>,
    output_tok_s: Option<f64>,
}

fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// How far the run is, one way of knowing its size.
#[derive(Clone, Debug, PartialEq)]
struct Estimate {
    /// `done/expected` when by count.
    count: Option<(u64, u64)>,
    fraction: f64,
    /// Seconds left; none while nothing finishes.
    eta_s: Option<f64>,
}

impl Line {
    /// Requests this process will finish: the total, scaled by the share of lines it takes
    /// (a shard sends about 1/N of what it reads).
    fn expected(&self) -> Option<u64> {
        let t = self.total.filter(|t| *t > 0)?;
        // One request read may wait for its slot, not yet sent: no shard's share in that.
        Some(if self.read > self.sent + 1 {
            ((t as f64) * self.sent as f64 / self.read as f64).round().max(self.done as f64) as u64
        } else {
            t
        })
    }

    /// By count (completions at the recent rate) and by time (the stages' or `--duration`'s
    /// end, plus the requests in flight draining), whichever ends the run first.
    fn progress(&self) -> Option<Estimate> {
        let by_count = self.expected().map(|t| {
            let left = t.saturating_sub(self.done) as f64;
            let eta_s = if left == 0.0 { Some(0.0) } else { (self.done_rate > 0.0).then(|| left / self.done_rate) };
            Estimate { count: Some((self.done.min(t), t)), fraction: (self.done as f64 / t as f64).min(1.0), eta_s }
        });
        let by_time = self.duration_s.filter(|d| *d > 0.0).map(|d| Estimate {
            count: None,
            fraction: (self.elapsed_s / d).min(1.0),
            eta_s: Some((d - self.elapsed_s).max(0.0)),
        });
        match (by_count, by_time) {
            (Some(c), Some(t)) => {
                let inf = f64::INFINITY;
                Some(if t.eta_s.unwrap_or(inf) < c.eta_s.unwrap_or(inf) { Estimate { count: c.count, ..t } } else { c })
            }
            (c, t) => c.or(t),
        }
    }

    fn render(&self) -> String {
        let in_flight = self.sent.saturating_sub(self.done);
        let mut s = format!("sb-load: {:>6.1}s", self.elapsed_s);
        match self.progress() {
            Some(e) => {
                if let Some((done, of)) = e.count {
                    s += &format!("  {done}/{of}");
                }
                s += &format!(" {:.1}%", 100.0 * e.fraction);
                s += &match e.eta_s {
                    // Sending is over by time; what is left is the requests in flight.
                    Some(x) if x <= 0.0 && e.count.is_none() && in_flight > 0 => "  draining".to_string(),
                    Some(x) => format!("  ETA {}", clock(x)),
                    None => "  ETA ?".into(),
                };
            }
            None => s += &format!("  read {}", self.read),
        }
        s += &format!(
            "  sent {}  done {}  errors {}  in flight {in_flight}  {:.1} req/s",
            self.sent, self.done, self.failed, self.send_rate
        );
        match self.ttft_p50_ms {
            Some(t) => s += &format!("  TTFT p50 {t:.0} ms"),
            None => s += "  TTFT p50 -",
        }
        match self.output_tok_s {
            Some(t) => s += &format!("  {t:.0} out tok/s"),
            None => s += "  - out tok/s",
        }
        s
    }
}

pub struct Progress {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl Progress {
    pub fn start(counters: Arc<Counters>, expected: Expected) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let terminal = std::io::stderr().is_terminal();
        let handle = std::thread::Builder::new()
            .name("sb-load-progress".into())
            .spawn(move || {
                let started = Instant::now();
                let lines = expected.file.as_deref().and_then(count_lines);
                let total = match (lines, expected.max_requests) {
                    (Some(l), Some(n)) => Some(l.min(n)),
                    (l, n) => l.or(n),
                };
                let mut snaps = std::collections::VecDeque::from([counters.live.snapshot()]);
                // (when, sent, done) a second apart, for the rates.
                let mut counts = std::collections::VecDeque::from([(started, 0u64, 0u64)]);
                let mut last_at = started;
                let mut drawn = false;
                let line = |snaps: &std::collections::VecDeque<Snapshot>,
                            counts: &std::collections::VecDeque<(Instant, u64, u64)>| {
                    let (t0, sent0, done0) = counts[0];
                    let (t1, sent, done) = *counts.back().unwrap();
                    let secs = t1.duration_since(t0).as_secs_f64();
                    let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
                    let (ttft, tok_s) = window_stats(&snaps[0], snaps.back().unwrap());
                    Line {
                        elapsed_s: started.elapsed().as_secs_f64(),
                        read: counters.read.load(Ordering::Relaxed),
                        sent,
                        done,
                        failed: counters.failed.load(Ordering::Relaxed),
                        total,
                        duration_s: expected.duration.map(|d| d.as_secs_f64()),
                        send_rate: per_s(sent.saturating_sub(sent0)),
                        done_rate: per_s(done.saturating_sub(done0)),
                        ttft_p50_ms: ttft,
                        output_tok_s: tok_s,
                    }
                };
                let now_counts =
                    || (Instant::now(), counters.sent.load(Ordering::Relaxed), counters.done.load(Ordering::Relaxed));
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    if last_at.elapsed() < Duration::from_secs(1) {
                        continue;
                    }
                    last_at = Instant::now();
                    snaps.push_back(counters.live.snapshot());
                    counts.push_back(now_counts());
                    if snaps.len() > WINDOW + 1 {
                        snaps.pop_front();
                        counts.pop_front();
                    }
                    let text = line(&snaps, &counts).render();
                    let _ = if terminal {
                        write!(std::io::stderr(), "\r\x1b[2K{text}")
                    } else {
                        writeln!(std::io::stderr(), "{text}")
                    };
                    drawn = true;
                }
                if terminal && drawn {
                    let _ = write!(std::io::stderr(), "\r\x1b[2K");
                } else if !terminal {
                    // The last state, for logs: what was read, sent and done in the end.
                    snaps.push_back(counters.live.snapshot());
                    counts.push_back(now_counts());
                    let _ = writeln!(std::io::stderr(), "{}", line(&snaps, &counts).render());
                }
            })
            .expect("spawn progress thread");
        Progress { stop, handle }
    }

    /// Stops the line: erased on a terminal (the final verdict is printed after it), a last
    /// line in a pipe.
    pub fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.handle.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_within_a_sixteenth() {
        let mut prev = 0;
        for us in (0..100_000u64).chain([1 << 20, (1 << 30) + 12345, 1 << 35]) {
            let b = bucket(us);
            assert!(b >= prev || us == 1 << 20, "bucket of {us}");
            prev = b;
            let mid = bucket_mid_us(b);
            assert!((mid - us as f64).abs() <= (us as f64 / 16.0).max(0.5), "{us} -> {b} -> {mid}");
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    fn snap(ttft_ms: &[u64], tokens: u64, at: Instant) -> Snapshot {
        let mut ttft = vec![0; BUCKETS];
        for ms in ttft_ms {
            ttft[bucket(ms * 1000)] += 1;
        }
        Snapshot { ttft, output_tokens: tokens, at }
    }

    #[test]
    fn window_p50_and_tokens_per_second() {
        let t0 = Instant::now();
        let old = snap(&[500, 500], 100, t0);
        // Since `old`: three more requests at 80, 100 and 120 ms, 300 more tokens, in 2 s.
        let new = snap(&[500, 500, 80, 100, 120], 400, t0 + Duration::from_secs(2));
        let (p50, tok_s) = window_stats(&old, &new);
        let p50 = p50.unwrap();
        assert!((p50 - 100.0).abs() <= 100.0 / 16.0, "{p50}");
        assert_eq!(tok_s, Some(150.0));
        assert_eq!(window_stats(&old, &old), (None, None));
    }

    fn line() -> Line {
        Line {
            elapsed_s: 10.0,
            read: 260,
            sent: 260,
            done: 250,
            failed: 1,
            send_rate: 26.0,
            done_rate: 25.0,
            ..Default::default()
        }
    }

    #[test]
    fn total_percentage_and_eta_by_count() {
        let l = Line { total: Some(1000), ttft_p50_ms: Some(84.4), output_tok_s: Some(1234.0), ..line() };
        // 750 to finish at 25 a second: 30 s.
        assert_eq!(
            l.render(),
            "sb-load:   10.0s  250/1000 25.0%  ETA 30s  sent 260  done 250  errors 1  in flight 10  26.0 req/s  \
             TTFT p50 84 ms  1234 out tok/s"
        );
        // Nothing finished lately: no honest ETA.
        assert!(Line { total: Some(1000), done_rate: 0.0, ..line() }.render().contains("25.0%  ETA ?"));
        // Everything sent, 10 in flight: the ETA is theirs (0.4 s, or 5 s at 2 a second).
        let draining = Line { total: Some(260), ..line() };
        assert!(draining.render().contains("250/260 96.2%  ETA 0s"), "{}", draining.render());
        let slow = Line { total: Some(260), done_rate: 2.0, ..line() };
        assert!(slow.render().contains("250/260 96.2%  ETA 5s"), "{}", slow.render());
        // Shard 1/2: half of what is read is sent, so about half the lines finish here.
        let shard = Line { total: Some(1000), read: 520, sent: 260, ..line() };
        assert!(shard.render().contains("250/500 50.0%  ETA 10s"), "{}", shard.render());
    }

    #[test]
    fn eta_by_time_and_whichever_ends_first() {
        let by_time = Line { duration_s: Some(60.0), ..line() };
        assert!(by_time.render().starts_with("sb-load:   10.0s 16.7%  ETA 50s  sent 260"), "{}", by_time.render());
        // 750 left at 25/s = 30 s, before the 50 s of the duration: the count wins.
        let both = Line { total: Some(1000), duration_s: Some(60.0), ..line() };
        assert!(both.render().contains("250/1000 25.0%  ETA 30s"), "{}", both.render());
        let long = Line { total: Some(100_000), duration_s: Some(60.0), ..line() };
        assert!(long.render().contains("250/100000 16.7%  ETA 50s"), "{}", long.render());
        // The duration is over, requests still in flight.
        let over = Line { duration_s: Some(8.0), ..line() };
        assert!(over.render().contains(" 100.0%  draining  sent"), "{}", over.render());
        // Unknown total and no duration: counts only, as before.
        let none = line().render();
        assert!(none.starts_with("sb-load:   10.0s  read 260  sent 260") && !none.contains('%'), "{none}");
        assert!(none.ends_with("TTFT p50 -  - out tok/s"));
        assert_eq!(clock(3725.0), "1h02m");
        assert_eq!(clock(125.0), "2m05s");
    }

    #[test]
    fn counts_lines_of_a_file() {
        let dir = std::env::temp_dir().join(format!("sb-load-progress-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("r.ndjson");
        std::fs::write(&p, "a\nb\nc").unwrap();
        assert_eq!(count_lines(&p), Some(3));
        std::fs::write(&p, "a\nb\n").unwrap();
        assert_eq!(count_lines(&p), Some(2));
        std::fs::write(&p, "").unwrap();
        assert_eq!(count_lines(&p), Some(0));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
