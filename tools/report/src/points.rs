//! Per-request points for the scatter plots (TTFT and E2EL of each request over time): a
//! bounded sample, thinned evenly, so that memory stays fixed however long the run is.
//!
//! Every `stride`-th successful request (in the order results are read) is kept; when
//! [`MAX_POINTS`] are held, every other one is dropped and the stride doubles. What remains is
//! spread evenly over the run, so warm-up and saturation still show.

/// Points kept per aggregate (the whole run, each group): 24 bytes each.
pub const MAX_POINTS: usize = 2000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub sent_ns: u64,
    /// NaN when the request has no TTFT (no chunk).
    pub ttft_ms: f32,
    pub e2el_ms: f32,
}

#[derive(Clone, Debug)]
pub struct Points {
    kept: Vec<Point>,
    /// A power of two.
    stride: u64,
    seen: u64,
}

impl Default for Points {
    fn default() -> Self {
        Points { kept: Vec::new(), stride: 1, seen: 0 }
    }
}

impl Points {
    pub fn add(&mut self, sent_ns: u64, ttft_ns: Option<u64>, e2el_ns: u64) {
        let i = self.seen;
        self.seen += 1;
        if i & (self.stride - 1) != 0 {
            return;
        }
        if self.kept.len() >= MAX_POINTS {
            let mut n = 0;
            self.kept.retain(|_| {
                n += 1;
                n % 2 == 1
            });
            self.stride *= 2;
            if i & (self.stride - 1) != 0 {
                return;
            }
        }
        let ms = |ns: u64| (ns as f64 / 1e6) as f32;
        self.kept.push(Point { sent_ns, ttft_ms: ttft_ns.map_or(f32::NAN, ms), e2el_ms: ms(e2el_ns) });
    }

    pub fn points(&self) -> &[Point] {
        &self.kept
    }

    /// Every how many requests one is kept (1: all of them).
    pub fn stride(&self) -> u64 {
        self.stride
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_all_then_thins_evenly() {
        let mut p = Points::default();
        for i in 0..MAX_POINTS as u64 {
            p.add(i, Some(1_000_000), 2_000_000);
        }
        assert_eq!((p.points().len(), p.stride()), (MAX_POINTS, 1));
        assert_eq!(p.points()[0], Point { sent_ns: 0, ttft_ms: 1.0, e2el_ms: 2.0 });
        for i in MAX_POINTS as u64..10 * MAX_POINTS as u64 {
            p.add(i, None, 0);
        }
        // The stride doubles at 2000, 4000, 8000 and 16000 seen: 20000 seen keep every 16th,
        // evenly from the first to the last.
        assert_eq!(p.stride(), 16);
        let sent: Vec<u64> = p.points().iter().map(|x| x.sent_ns).collect();
        assert!(sent.windows(2).all(|w| w[1] - w[0] == 16), "evenly spaced");
        assert_eq!(sent[0], 0);
        assert_eq!(sent.len(), 10 * MAX_POINTS / 16);
        assert!(*sent.last().unwrap() >= 10 * MAX_POINTS as u64 - 16);
        assert!(p.points().len() <= MAX_POINTS);
    }
}
