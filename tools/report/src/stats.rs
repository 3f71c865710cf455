//! A latency distribution with bounded memory: exact while small, an HDR histogram beyond.
//!
//! Mean and standard deviation are always exact (integer sums of nanoseconds, so no floating
//! cancellation even for 64 million ITL gaps). Percentiles are exact, with numpy's default
//! linear interpolation (`np.percentile`, what vLLM `bench serve` uses), while a distribution
//! holds at most [`EXACT_LIMIT`] values; past that the values move into an HDR histogram with 3
//! significant digits, whose percentiles are within 0.1 % of the exact value (the histogram
//! returns the midpoint of the bucket holding the rank). See docs/metrics.md, "Precision".

use hdrhistogram::Histogram;

/// Values kept exactly per distribution (8 bytes each) before switching to the histogram.
/// The histogram counts in u32 (half the memory of u64, so it stays in cache while 64 ITL gaps
/// per request land in it); a bucket saturates at 4.29e9 values, far beyond any one run.
pub const EXACT_LIMIT: usize = 100_000;

/// Largest value the histogram resolves (1 hour in ns); larger values are clamped to it.
const HIST_MAX_NS: u64 = 3_600_000_000_000;

#[derive(Clone, Debug, Default)]
pub struct Dist {
    count: u64,
    sum: u128,
    sum_sq: u128,
    min: u64,
    max: u64,
    exact: Vec<u64>,
    hist: Option<Box<Histogram<u32>>>,
    /// Sum of squares overflowed u128 (values of hours, billions of times): fall back to f64.
    sum_sq_f64: f64,
    sq_overflow: bool,
}

/// The finished statistics of a distribution, in the unit the values were recorded in (ns).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub count: u64,
    pub mean: f64,
    pub std: f64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// (percentile in 0..=100, value)
    pub percentiles: Vec<(f64, f64)>,
    /// True when percentiles are exact (linear interpolation), false when from the histogram.
    pub exact: bool,
}

impl Dist {
    pub fn new() -> Dist {
        Dist::default()
    }

    #[inline]
    pub fn record(&mut self, value: u64) {
        if self.count == 0 || value < self.min {
            self.min = value;
        }
        if value > self.max {
            self.max = value;
        }
        self.count += 1;
        self.sum += value as u128;
        let sq = (value as u128) * (value as u128);
        match self.sum_sq.checked_add(sq) {
            Some(s) if !self.sq_overflow => self.sum_sq = s,
            _ => {
                if !self.sq_overflow {
                    self.sq_overflow = true;
                    self.sum_sq_f64 = self.sum_sq as f64;
                }
                self.sum_sq_f64 += (value as f64) * (value as f64);
            }
        }
        match &mut self.hist {
            Some(h) => h.saturating_record(value.min(HIST_MAX_NS)),
            None => {
                self.exact.push(value);
                if self.exact.len() > EXACT_LIMIT {
                    self.spill();
                }
            }
        }
    }

    /// Records the gaps between successive `points` (a request's chunk times): the same as
    /// `record` of each gap, in one pass (64 million gaps in a big run).
    pub fn record_gaps(&mut self, points: &[u64]) {
        if points.len() < 2 {
            return;
        }
        if self.hist.is_none() && self.exact.len() + points.len() > EXACT_LIMIT {
            for w in points.windows(2) {
                self.record(w[1].saturating_sub(w[0]));
            }
            return;
        }
        let (mut min, mut max) = (u64::MAX, 0u64);
        let (mut sum, mut sum_sq) = (0u128, 0u128);
        // The sums in a loop of their own, without a call in it; then the values are kept.
        let gaps = points.windows(2).map(|w| w[1].saturating_sub(w[0]));
        for v in gaps.clone() {
            (min, max) = (min.min(v), max.max(v));
            sum += v as u128;
            sum_sq += (v as u128) * (v as u128);
        }
        match &mut self.hist {
            Some(h) => gaps.for_each(|v| h.saturating_record(v.min(HIST_MAX_NS))),
            None => self.exact.extend(gaps),
        }
        if self.count == 0 || min < self.min {
            self.min = min;
        }
        self.max = self.max.max(max);
        self.count += points.len() as u64 - 1;
        self.sum += sum;
        match self.sum_sq.checked_add(sum_sq) {
            Some(s) if !self.sq_overflow => self.sum_sq = s,
            _ => {
                if !self.sq_overflow {
                    self.sq_overflow = true;
                    self.sum_sq_f64 = self.sum_sq as f64;
                }
                self.sum_sq_f64 += sum_sq as f64;
            }
        }
    }

    fn spill(&mut self) {
        let mut h = Histogram::<u32>::new_with_bounds(1, HIST_MAX_NS, 3).expect("valid histogram bounds");
        for &v in &self.exact {
            h.saturating_record(v.min(HIST_MAX_NS));
        }
        self.exact = Vec::new();
        self.hist = Some(Box::new(h));
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// Population standard deviation (`np.std`, ddof 0).
    pub fn std(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let n = self.count as u128;
        if !self.sq_overflow {
            // n * sum_sq - sum^2 is exact in integers when it fits.
            if let (Some(a), Some(b)) = (n.checked_mul(self.sum_sq), self.sum.checked_mul(self.sum)) {
                let num = a.saturating_sub(b) as f64;
                return (num / (n as f64 * n as f64)).sqrt();
            }
        }
        let sum_sq = if self.sq_overflow { self.sum_sq_f64 } else { self.sum_sq as f64 };
        let mean = self.mean();
        (sum_sq / self.count as f64 - mean * mean).max(0.0).sqrt()
    }

    /// The `p`-th percentile (0..=100); 0 for an empty distribution, as vLLM reports.
    pub fn percentile(&self, sorted: Option<&[u64]>, p: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        match (&self.hist, sorted) {
            (None, Some(v)) => linear_percentile(v, p),
            (Some(h), _) => {
                if p >= 100.0 {
                    return self.max as f64;
                }
                if p <= 0.0 {
                    return self.min as f64;
                }
                let v = h.value_at_quantile(p / 100.0);
                (h.median_equivalent(v) as f64).clamp(self.min as f64, self.max as f64)
            }
            (None, None) => {
                let mut v = self.exact.clone();
                v.sort_unstable();
                linear_percentile(&v, p)
            }
        }
    }

    pub fn stats(&self, percentiles: &[f64]) -> Stats {
        let mut sorted = None;
        if self.hist.is_none() {
            let mut v = self.exact.clone();
            v.sort_unstable();
            sorted = Some(v);
        }
        let s = sorted.as_deref();
        Stats {
            count: self.count,
            mean: self.mean(),
            std: self.std(),
            median: self.percentile(s, 50.0),
            min: if self.count == 0 { 0.0 } else { self.min as f64 },
            max: self.max as f64,
            percentiles: percentiles.iter().map(|&p| (p, self.percentile(s, p))).collect(),
            exact: self.hist.is_none(),
        }
    }

    /// Points of the empirical CDF (value, fraction <= value), at most about `max_points`.
    pub fn cdf(&self, max_points: usize) -> Vec<(f64, f64)> {
        if self.count == 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        match &self.hist {
            None => {
                let mut v = self.exact.clone();
                v.sort_unstable();
                let step = (v.len() / max_points.max(1)).max(1);
                let n = v.len() as f64;
                for (i, x) in v.iter().enumerate() {
                    if i % step == 0 || i + 1 == v.len() {
                        out.push((*x as f64, (i + 1) as f64 / n));
                    }
                }
            }
            Some(h) => {
                for i in 0..=max_points {
                    let q = i as f64 / max_points as f64;
                    out.push((h.median_equivalent(h.value_at_quantile(q)) as f64, q));
                }
            }
        }
        out
    }
}

/// numpy's default (`linear`) percentile of sorted values.
pub fn linear_percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let (a, b) = (sorted[lo] as f64, sorted[hi] as f64);
    a + (b - a) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_on_small_sets() {
        // np.percentile([1,2,3,4,10], [50, 90, 99]) = [3., 7.6, 9.76]; np.std = 3.1622776601683795
        let mut d = Dist::new();
        for v in [4, 1, 10, 3, 2] {
            d.record(v);
        }
        let s = d.stats(&[90.0, 99.0]);
        assert_eq!(s.median, 3.0);
        assert!((s.percentiles[0].1 - 7.6).abs() < 1e-9);
        assert!((s.percentiles[1].1 - 9.76).abs() < 1e-9);
        assert_eq!(s.mean, 4.0);
        assert!((s.std - 3.1622776601683795).abs() < 1e-12);
        assert!(s.exact);
    }

    #[test]
    fn record_gaps_equals_recording_each_gap() {
        for n in [3usize, EXACT_LIMIT / 50 + 7] {
            let (mut a, mut b) = (Dist::new(), Dist::new());
            for r in 0..60u64 {
                let points: Vec<u64> = (0..n as u64).map(|i| r * 1000 + i * i * 37 + (i * r) % 11).collect();
                a.record_gaps(&points);
                for w in points.windows(2) {
                    b.record(w[1] - w[0]);
                }
            }
            assert_eq!(a.stats(&[50.0, 99.0]), b.stats(&[50.0, 99.0]));
        }
    }

    #[test]
    fn empty_reports_zero() {
        let s = Dist::new().stats(&[99.0]);
        assert_eq!((s.count, s.mean, s.std, s.median, s.percentiles[0].1), (0, 0.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn histogram_past_the_limit_is_within_precision_with_exact_mean_and_std() {
        let n = EXACT_LIMIT as u64 + 5000;
        let mut d = Dist::new();
        let (mut sum, mut sum_sq) = (0f64, 0f64);
        for i in 0..n {
            let v = 1_000_000 + i * 97;
            d.record(v);
            sum += v as f64;
            sum_sq += (v as f64) * (v as f64);
        }
        let s = d.stats(&[99.0]);
        assert!(!s.exact);
        assert_eq!(s.count, n);
        let mean = sum / n as f64;
        assert!((s.mean - mean).abs() / mean < 1e-12);
        let std = (sum_sq / n as f64 - mean * mean).sqrt();
        assert!((s.std - std).abs() / std < 1e-6, "{} vs {std}", s.std);
        let exact_p99 = 1_000_000.0 + 0.99 * (n - 1) as f64 * 97.0;
        assert!((s.percentiles[0].1 - exact_p99).abs() / exact_p99 < 0.001, "{} vs {exact_p99}", s.percentiles[0].1);
        assert_eq!(s.max, (1_000_000 + (n - 1) * 97) as f64);
    }
}
