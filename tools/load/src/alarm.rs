//! Waiting for a send slot with sub-millisecond precision, without burning a core.
//!
//! tokio's timers tick in whole milliseconds and can fire ~2 ms late, which would be most of
//! the lateness budget at thousands of requests per second. So a wait is done in three steps:
//! a tokio sleep until 2.5 ms before the slot; then a dedicated thread's `nanosleep` (an
//! hrtimer, with the thread's timer slack set to 1 us) until just before it, which wakes the
//! event loop through a oneshot; then yielding the last few tens of microseconds (the event
//! loop keeps reading responses while it yields).

use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

use crate::phase::Phase;

/// Below this the tokio timer is too coarse.
const TOKIO_MARGIN: Duration = Duration::from_micros(2500);
/// Below this, yield instead of handing the wait to the alarm thread (its wake-up path through
/// the event loop takes ~10-30 us).
const YIELD_MARGIN: Duration = Duration::from_micros(60);

pub struct Alarm {
    requests: mpsc::Sender<(Instant, oneshot::Sender<()>)>,
}

impl Alarm {
    pub fn start() -> Alarm {
        let (tx, rx) = mpsc::channel::<(Instant, oneshot::Sender<()>)>();
        std::thread::Builder::new()
            .name("sb-load-alarm".into())
            .spawn(move || {
                #[cfg(target_os = "linux")]
                // SAFETY: sets the calling thread's timer slack; no memory is passed.
                unsafe {
                    libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0);
                }
                while let Ok((at, wake)) = rx.recv() {
                    let now = Instant::now();
                    if at > now {
                        std::thread::sleep(at - now);
                    }
                    let _ = wake.send(());
                }
            })
            .expect("spawn alarm thread");
        Alarm { requests: tx }
    }

    /// Waits until `due`. False when the run was stopped meanwhile.
    pub async fn wait_until(&self, due: Instant, phase: &mut watch::Receiver<Phase>) -> bool {
        loop {
            let now = Instant::now();
            if now >= due {
                return true;
            }
            let left = due - now;
            if left > TOKIO_MARGIN {
                tokio::select! {
                    biased;
                    _ = phase.changed() => {}
                    _ = tokio::time::sleep_until((due - TOKIO_MARGIN).into()) => {}
                }
            } else if left > YIELD_MARGIN {
                let (wake, woken) = oneshot::channel();
                if self.requests.send((due - YIELD_MARGIN / 2, wake)).is_err() {
                    tokio::task::yield_now().await;
                } else {
                    tokio::select! {
                        biased;
                        _ = phase.changed() => {}
                        _ = woken => {}
                    }
                    // The wake-up came from another thread, so the event loop has not yet
                    // looked at its sockets: yield once so that finished responses hand their
                    // connections back to the pool first. (Sending straight away found the pool
                    // empty and opened a new connection for every request at 10k req/s.)
                    tokio::task::yield_now().await;
                }
            } else {
                tokio::task::yield_now().await;
            }
            if *phase.borrow() != Phase::Running {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn wakes_close_to_the_slot_and_never_early() {
        let alarm = Alarm::start();
        let (_tx, mut phase) = watch::channel(Phase::Running);
        let mut late_us = Vec::new();
        for gap_us in [100u64, 300, 800, 1500, 3000, 6000] {
            let due = Instant::now() + Duration::from_micros(gap_us);
            assert!(alarm.wait_until(due, &mut phase).await);
            let now = Instant::now();
            assert!(now >= due);
            late_us.push((now - due).as_micros());
        }
        // Loose bound for a busy test machine; the tokio timer alone would be ~1-2 ms late.
        late_us.sort();
        assert!(late_us[late_us.len() / 2] < 500, "{late_us:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_stop_ends_the_wait() {
        let alarm = Alarm::start();
        let (tx, mut phase) = watch::channel(Phase::Running);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send(Phase::StopSending).unwrap();
            std::future::pending::<()>().await;
        });
        let started = Instant::now();
        assert!(!alarm.wait_until(Instant::now() + Duration::from_secs(5), &mut phase).await);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
