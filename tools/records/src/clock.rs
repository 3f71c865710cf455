//! One clock per process: a monotonic `Instant` anchored once to the Unix epoch.
//!
//! Timestamps in records are absolute epoch nanoseconds so that client results and server samples
//! join on one time axis, but differences between two timestamps of one process must be immune to
//! NTP steps. Reading `SystemTime` for every stamp would give neither guarantee; anchoring a
//! monotonic clock once gives both.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
    origin_epoch_ns: u64,
}

impl Clock {
    /// A clock anchored now. Most code wants [`Clock::global`] instead.
    pub fn new() -> Clock {
        // Take the two readings back to back; the gap between them (tens of ns) is the only
        // error of the epoch mapping and is common to every timestamp of the process.
        let origin = Instant::now();
        let epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Clock { origin, origin_epoch_ns: epoch.as_nanos() as u64 }
    }

    /// The process-wide clock, anchored on first use.
    pub fn global() -> &'static Clock {
        static CLOCK: OnceLock<Clock> = OnceLock::new();
        CLOCK.get_or_init(Clock::new)
    }

    /// Epoch nanoseconds now.
    pub fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    /// Epoch nanoseconds of an `Instant` taken in this process.
    pub fn ns_at(&self, at: Instant) -> u64 {
        match at.checked_duration_since(self.origin) {
            Some(d) => self.origin_epoch_ns + d.as_nanos() as u64,
            None => self.origin_epoch_ns - self.origin.duration_since(at).as_nanos() as u64,
        }
    }

    /// The `Instant` at which this clock reads `epoch_ns`.
    pub fn instant_at(&self, epoch_ns: u64) -> Instant {
        if epoch_ns >= self.origin_epoch_ns {
            self.origin + Duration::from_nanos(epoch_ns - self.origin_epoch_ns)
        } else {
            self.origin - Duration::from_nanos(self.origin_epoch_ns - epoch_ns)
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_close_to_system_time() {
        let c = Clock::new();
        let a = c.now_ns();
        let b = c.now_ns();
        assert!(b >= a);
        let sys = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        assert!(sys.abs_diff(b) < 50_000_000, "clock is {} ns away from SystemTime", sys.abs_diff(b));
    }

    #[test]
    fn instant_round_trip() {
        let c = Clock::new();
        let later = Instant::now() + Duration::from_millis(5);
        let ns = c.ns_at(later);
        assert_eq!(c.instant_at(ns), later);
    }
}
