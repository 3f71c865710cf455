//! Which point comes next: the given lists, guidellm's sweep, and the max-rate search.

/// The load of one point, as sb-load arguments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Load {
    /// Poisson arrivals at this many requests per second.
    Rate(f64),
    /// Closed loop: this many requests in flight.
    Concurrency(u32),
    /// `--rate inf`: everything at once (guidellm's throughput run).
    Burst,
}

impl Load {
    pub fn spec(&self) -> String {
        match self {
            Load::Rate(r) => format!("poisson:{}", fmt_rate(*r)),
            Load::Concurrency(c) => format!("concurrency:{c}"),
            Load::Burst => "inf".into(),
        }
    }
}

/// A rate for people and tags: at most 4 significant digits, no trailing zeros.
pub fn fmt_rate(r: f64) -> String {
    let r = round_sig(r);
    let s = format!("{r:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Rounds to 4 significant digits: search rates are chosen at that resolution, so tags and the
/// sweep record show the rate that was sent.
pub fn round_sig(r: f64) -> f64 {
    if r <= 0.0 || !r.is_finite() {
        return r;
    }
    let scale = 10f64.powi(3 - r.log10().floor() as i32);
    (r * scale).round() / scale
}

/// guidellm's sweep: after the synchronous and the throughput run, `n - 2` rates from
/// `linspace(sync, throughput, n - 1)` without its first value (so the last is the throughput rate).
pub fn sweep_rates(n: usize, sync_rps: f64, throughput_rps: f64) -> Vec<f64> {
    if n < 3 {
        return Vec::new();
    }
    let steps = (n - 2) as f64;
    (1..=n - 2).map(|i| round_sig(sync_rps + (throughput_rps - sync_rps) * i as f64 / steps)).collect()
}

/// Where the search starts without `--min` or `--max`, req/s.
pub const DEFAULT_START_RPS: f64 = 1.0;
/// Below this rate a search that never passed gives up.
pub const FLOOR_RPS: f64 = 0.01;

/// The highest Poisson rate that meets the SLO: doubling (or halving) from the start until a
/// pass and a failure bracket it, then bisection until the bracket is narrower than `precision`
/// of its low end. Geometric midpoints while the bracket spans more than a factor of 2 (a
/// `--min`/`--max` range of orders of magnitude), arithmetic ones after.
#[derive(Clone, Debug)]
pub struct Search {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub precision: f64,
    /// Highest rate that passed.
    pub low: Option<f64>,
    /// Lowest rate that did not pass.
    pub high: Option<f64>,
}

impl Search {
    pub fn new(min: Option<f64>, max: Option<f64>, precision: f64) -> Search {
        Search { min, max, precision, low: None, high: None }
    }

    /// The next rate to try, or None when the search is done.
    pub fn next(&self) -> Option<f64> {
        let start = self.min.or(self.max.map(|m| m / 8.0)).unwrap_or(DEFAULT_START_RPS);
        let r = match (self.low, self.high) {
            (None, None) => start,
            (Some(lo), None) => match self.max {
                Some(max) if lo >= max => return None,
                Some(max) => (lo * 2.0).min(max),
                None => lo * 2.0,
            },
            (None, Some(hi)) => {
                let floor = self.min.unwrap_or(FLOOR_RPS);
                if hi <= floor {
                    return None;
                }
                (hi / 2.0).max(floor)
            }
            (Some(lo), Some(hi)) => {
                if hi - lo <= self.precision * lo {
                    return None;
                }
                if hi / lo > 2.0 {
                    (lo * hi).sqrt()
                } else {
                    (lo + hi) / 2.0
                }
            }
        };
        let r = round_sig(r);
        // Rounding can land on a rate already measured when the bracket is as narrow as the
        // rounding: then the bracket is as good as it gets.
        if Some(r) == self.low || Some(r) == self.high {
            return None;
        }
        Some(r)
    }

    pub fn record(&mut self, rate: f64, passed: bool) {
        if passed {
            self.low = Some(self.low.map_or(rate, |l| l.max(rate)));
        } else {
            self.high = Some(self.high.map_or(rate, |h| h.min(rate)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a server that passes exactly the rates up to `capacity`.
    fn run(mut s: Search, capacity: f64) -> (Vec<f64>, Search) {
        let mut tried = Vec::new();
        while let Some(r) = s.next() {
            assert!(tried.len() < 60, "search does not end: {tried:?}");
            tried.push(r);
            s.record(r, r <= capacity);
        }
        (tried, s)
    }

    #[test]
    fn search_brackets_then_bisects_to_the_precision() {
        let (tried, s) = run(Search::new(None, None, 0.05), 30.0);
        assert_eq!(&tried[..6], &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0]);
        let (lo, hi) = (s.low.unwrap(), s.high.unwrap());
        assert!(lo <= 30.0 && hi > 30.0 && hi - lo <= 0.05 * lo, "{lo} {hi}");
        // A passing max ends it at max; a failing min ends it with nothing.
        let (tried, s) = run(Search::new(Some(5.0), Some(20.0), 0.05), 100.0);
        assert_eq!(tried, [5.0, 10.0, 20.0]);
        assert_eq!((s.low, s.high), (Some(20.0), None));
        let (tried, s) = run(Search::new(Some(5.0), None, 0.05), 1.0);
        assert_eq!(tried, [5.0]);
        assert_eq!((s.low, s.high), (None, Some(5.0)));
        // Halving from the start when it fails, down to the floor.
        let (_, s) = run(Search::new(None, None, 0.1), 0.3);
        assert!(s.low.unwrap() <= 0.3 && s.high.unwrap() > 0.3);
        let (_, s) = run(Search::new(None, None, 0.1), 0.0);
        assert_eq!(s.low, None);
        // Wide --min/--max ranges bisect geometrically.
        let (tried, _) = run(Search::new(Some(1.0), Some(10_000.0), 0.05), 50.0);
        assert!(tried.len() < 20, "{tried:?}");
    }

    #[test]
    fn guidellm_sweep_rates_end_at_the_throughput_rate() {
        assert_eq!(sweep_rates(6, 2.0, 10.0), [4.0, 6.0, 8.0, 10.0]);
        assert!(sweep_rates(2, 2.0, 10.0).is_empty());
        assert_eq!(fmt_rate(33.333333), "33.33");
        assert_eq!(fmt_rate(40.0), "40");
        assert_eq!(Load::Rate(2.5).spec(), "poisson:2.5");
    }
}
