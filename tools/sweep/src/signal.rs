//! SIGINT and SIGTERM, counted. The points' `sb-load` children run in process groups of their own
//! (a Ctrl-C at the terminal reaches only sb-sweep), and sb-sweep forwards each signal it gets to
//! the running child: the first lets requests in flight finish within sb-load's `--grace`, a
//! second cancels them, exactly as when sb-load runs alone.

use std::sync::atomic::{AtomicUsize, Ordering};

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

pub fn install() {
    // SAFETY: the handler only touches an atomic, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut());
    }
}

/// Signals received so far.
pub fn count() -> usize {
    SIGNALS.load(Ordering::SeqCst)
}

/// Sends SIGINT to a child process by its pid.
pub fn interrupt(pid: u32) {
    // SAFETY: kill(2) with a pid of a child we started and have not reaped yet.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGINT);
    }
}
