//! Time-resolved counts of a run: output tokens and in-flight requests over time, for vLLM's
//! "Peak output token throughput" and "Peak concurrent requests" and for the plots.
//!
//! vLLM computes both from every request's start, latency and chunk times (token times are
//! `start + ttft + cumsum(itl)`, i.e. the chunk arrival times, one token per chunk). We keep
//! those events exactly while there are few of them; beyond [`EXACT_TOKEN_EVENTS`] tokens or
//! [`EXACT_SPANS`] requests only a 1 ms grid remains, so memory grows with the run's duration
//! (4 bytes per ms per counter), never with its request count. On the grid a peak can be off by
//! the events that fall within 1 ms of a bucket edge. See docs/metrics.md.

const EXACT_TOKEN_EVENTS: usize = 1_000_000;
const EXACT_SPANS: usize = 200_000;
/// Room left before the first timestamp seen, so that out-of-order results rarely shift the grid.
const GRID_MARGIN_MS: u64 = 10_000;

/// Every event, while there are few: what small runs and most `--group-by` groups keep.
#[derive(Clone, Debug, Default)]
struct Exact {
    /// Arrival of every chunk of a successful request.
    tokens_ns: Vec<u64>,
    /// `[sent, end)` of every successful request.
    spans_ns: Vec<(u64, u64)>,
}

/// Counts per millisecond, once there are too many events to keep.
#[derive(Clone, Debug, Default)]
struct Grid {
    base_ms: u64,
    tokens_ms: Vec<u32>,
    starts_ms: Vec<u32>,
    ends_ms: Vec<u32>,
}

#[derive(Clone, Debug)]
pub struct Timeline {
    min_start_ns: Option<u64>,
    max_end_ns: u64,
    exact: Option<Exact>,
    grid: Grid,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new()
    }
}

/// One point per second from the first start: (seconds, output tokens, completed requests,
/// most requests in flight during that second).
#[derive(Clone, Debug, PartialEq)]
pub struct SecondBin {
    pub t_s: f64,
    pub tokens: u64,
    pub completed: u64,
    pub in_flight_max: u64,
}

impl Grid {
    fn cell(&mut self, t_ns: u64) -> usize {
        let ms = t_ns / 1_000_000;
        if self.tokens_ms.is_empty() {
            self.base_ms = ms.saturating_sub(GRID_MARGIN_MS);
        } else if ms < self.base_ms {
            let new_base = ms.saturating_sub(GRID_MARGIN_MS);
            let shift = (self.base_ms - new_base) as usize;
            for v in [&mut self.tokens_ms, &mut self.starts_ms, &mut self.ends_ms] {
                v.splice(0..0, std::iter::repeat_n(0, shift));
            }
            self.base_ms = new_base;
        }
        let i = (ms - self.base_ms) as usize;
        if i >= self.tokens_ms.len() {
            let len = (i + 1).max(self.tokens_ms.len() * 2).max(1024);
            for v in [&mut self.tokens_ms, &mut self.starts_ms, &mut self.ends_ms] {
                v.resize(len, 0);
            }
        }
        i
    }

    fn add_span(&mut self, start_ns: u64, end_ns: u64) {
        let s = self.cell(start_ns);
        self.starts_ms[s] += 1;
        let e = self.cell(end_ns);
        self.ends_ms[e] += 1;
    }

    fn add_tokens(&mut self, start_ns: u64, chunk_offsets_ns: &[u64]) {
        // Chunks move forward in time: make room for the first and last, then count with one
        // bounds check each (this loop sees 64 million chunks in a big run).
        let (Some(&first), Some(&last)) = (chunk_offsets_ns.first(), chunk_offsets_ns.last()) else { return };
        self.cell(start_ns + first);
        self.cell(start_ns + last);
        let base_ns = self.base_ms * 1_000_000;
        for &off in chunk_offsets_ns {
            let at = (start_ns + off).checked_sub(base_ns).map(|d| (d / 1_000_000) as usize);
            match at.and_then(|i| self.tokens_ms.get_mut(i)) {
                Some(n) => *n += 1,
                None => {
                    let c = self.cell(start_ns + off);
                    self.tokens_ms[c] += 1;
                }
            }
        }
    }

    fn from_exact(ex: &Exact) -> Grid {
        let mut g = Grid::default();
        for &(s, e) in &ex.spans_ns {
            g.add_span(s, e);
        }
        for &t in &ex.tokens_ns {
            let c = g.cell(t);
            g.tokens_ms[c] += 1;
        }
        g
    }
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline { min_start_ns: None, max_end_ns: 0, exact: Some(Exact::default()), grid: Grid::default() }
    }

    /// A successful request: sent at `start_ns`, last chunk at `end_ns`, chunks at `start_ns + offset`.
    pub fn add(&mut self, start_ns: u64, end_ns: u64, chunk_offsets_ns: &[u64]) {
        let end_ns = end_ns.max(start_ns);
        self.min_start_ns = Some(self.min_start_ns.map_or(start_ns, |m| m.min(start_ns)));
        self.max_end_ns = self.max_end_ns.max(end_ns);
        if let Some(ex) = &mut self.exact {
            if ex.tokens_ns.len() + chunk_offsets_ns.len() <= EXACT_TOKEN_EVENTS && ex.spans_ns.len() < EXACT_SPANS {
                ex.tokens_ns.extend(chunk_offsets_ns.iter().map(|o| start_ns + o));
                ex.spans_ns.push((start_ns, end_ns));
                return;
            }
            // Too many events to keep: from now on, counts per millisecond.
            self.grid = Grid::from_exact(ex);
            self.exact = None;
        }
        self.grid.add_span(start_ns, end_ns);
        self.grid.add_tokens(start_ns, chunk_offsets_ns);
    }

    /// The first successful request's send time: second 0 of [`Timeline::seconds`].
    pub fn start_ns(&self) -> Option<u64> {
        self.min_start_ns
    }

    /// Whether the peaks below come from exact event times (else from the 1 ms grid).
    pub fn exact(&self) -> bool {
        self.exact.is_some()
    }

    /// vLLM's "Peak output token throughput (tok/s)": the most chunks in one whole second,
    /// seconds counted from the first successful request's start.
    pub fn peak_output_tokens_per_s(&self) -> f64 {
        let Some(min_start) = self.min_start_ns else { return 0.0 };
        let mut per_s: Vec<u64> = Vec::new();
        let mut bump = |sec: usize, n: u64| {
            if sec >= per_s.len() {
                per_s.resize(sec + 1, 0);
            }
            per_s[sec] += n;
        };
        match &self.exact {
            Some(ex) => {
                for &t in &ex.tokens_ns {
                    bump((t.saturating_sub(min_start) / 1_000_000_000) as usize, 1);
                }
            }
            None => {
                let g = &self.grid;
                for (i, &n) in g.tokens_ms.iter().enumerate() {
                    if n > 0 {
                        let t = (g.base_ms + i as u64) * 1_000_000;
                        bump((t.saturating_sub(min_start) / 1_000_000_000) as usize, n as u64);
                    }
                }
            }
        }
        per_s.into_iter().max().unwrap_or(0) as f64
    }

    /// vLLM's "Peak concurrent requests": the most requests whose `[start, end)` overlap.
    pub fn peak_concurrency(&self) -> u64 {
        match &self.exact {
            Some(ex) => {
                let mut events: Vec<(u64, i64)> = Vec::with_capacity(ex.spans_ns.len() * 2);
                for &(s, e) in &ex.spans_ns {
                    events.push((s, 1));
                    events.push((e, -1));
                }
                // An end at the same instant as a start frees its slot first: [start, end).
                events.sort_unstable();
                let (mut cur, mut peak) = (0i64, 0i64);
                for (_, d) in events {
                    cur += d;
                    peak = peak.max(cur);
                }
                peak as u64
            }
            None => {
                let g = &self.grid;
                let (mut cur, mut peak) = (0i64, 0i64);
                for i in 0..g.starts_ms.len() {
                    cur += g.starts_ms[i] as i64;
                    peak = peak.max(cur);
                    cur -= g.ends_ms[i] as i64;
                }
                peak as u64
            }
        }
    }

    /// Per-second bins from the first start to the last end, for plots.
    pub fn seconds(&self) -> Vec<SecondBin> {
        let Some(min_start) = self.min_start_ns else { return Vec::new() };
        let replayed;
        let g = match &self.exact {
            Some(ex) => {
                replayed = Grid::from_exact(ex);
                &replayed
            }
            None => &self.grid,
        };
        let first_ms = min_start / 1_000_000;
        let last_ms = self.max_end_ns / 1_000_000;
        let mut out: Vec<SecondBin> = Vec::new();
        let mut in_flight = 0i64;
        for ms in g.base_ms..=last_ms {
            let i = (ms - g.base_ms) as usize;
            if i >= g.starts_ms.len() {
                break;
            }
            // Within one millisecond the order is unknown: ends first, as `[start, end)` wants
            // for the common case of a closed loop's next request taking the slot just freed
            // (starts first would show concurrency 1 as 2).
            in_flight -= g.ends_ms[i] as i64;
            in_flight += g.starts_ms[i] as i64;
            if ms >= first_ms {
                let sec = ((ms - first_ms) / 1000) as usize;
                if sec >= out.len() {
                    out.resize_with(sec + 1, || SecondBin { t_s: 0.0, tokens: 0, completed: 0, in_flight_max: 0 });
                    out[sec].t_s = sec as f64;
                }
                let b = &mut out[sec];
                b.tokens += g.tokens_ms[i] as u64;
                b.completed += g.ends_ms[i] as u64;
                b.in_flight_max = b.in_flight_max.max(in_flight.max(0) as u64);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn peaks_exact() {
        let mut t = Timeline::new();
        let t0 = 1_700_000_000 * S;
        // Request A: [0, 1.5 s), chunks at 0.1, 0.2, 1.2 s. B: [0.5, 2.5 s), chunks 0.6, 0.7, 0.9, 2.4.
        t.add(t0, t0 + 3 * S / 2, &[S / 10, S / 5, 6 * S / 5]);
        t.add(t0 + S / 2, t0 + 5 * S / 2, &[S / 10, S / 5, 2 * S / 5, 19 * S / 10]);
        // Second 0 holds 0.1, 0.2, 0.6, 0.7, 0.9 = 5 tokens.
        assert_eq!(t.peak_output_tokens_per_s(), 5.0);
        assert_eq!(t.peak_concurrency(), 2);
        // C starts exactly when A ends: still 2 at most.
        t.add(t0 + 3 * S / 2, t0 + 2 * S, &[]);
        assert_eq!(t.peak_concurrency(), 2);
        let secs = t.seconds();
        assert_eq!(secs.len(), 3);
        assert_eq!(secs.iter().map(|b| b.tokens).sum::<u64>(), 7);
        assert_eq!(secs.iter().map(|b| b.completed).sum::<u64>(), 3);
    }

    #[test]
    fn a_slot_freed_and_taken_in_one_millisecond_counts_once() {
        // Concurrency 1: each request starts the instant the previous one ends.
        let mut t = Timeline::new();
        let t0 = 1_700_000_000 * S;
        for i in 0..20u64 {
            t.add(t0 + i * S / 10, t0 + (i + 1) * S / 10, &[S / 20]);
        }
        assert_eq!(t.peak_concurrency(), 1);
        let bins = t.seconds();
        // Seconds 0 and 1 hold the requests; second 2 only the last one's end.
        assert_eq!(bins.iter().map(|b| b.in_flight_max).collect::<Vec<_>>(), [1, 1, 0], "{bins:?}");
    }

    #[test]
    fn grid_agrees_with_exact_away_from_edges() {
        let mut t = Timeline::new();
        let t0 = 1_700_000_000 * S + 3_000_000;
        for i in 0..50u64 {
            t.add(t0 + i * S / 10, t0 + i * S / 10 + S / 4, &[S / 20, S / 8]);
        }
        let (p, c) = (t.peak_output_tokens_per_s(), t.peak_concurrency());
        t.grid = Grid::from_exact(t.exact.as_ref().unwrap());
        t.exact = None;
        assert_eq!(t.peak_output_tokens_per_s(), p);
        assert_eq!(t.peak_concurrency(), c);
    }
}
