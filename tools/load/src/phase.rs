//! Where a run is in its shutdown: shared by the dispatcher, the alarm that paces it and the
//! signal handler (its own module, so that none of them imports another for it).

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Running,
    /// Send nothing new; let requests in flight finish.
    StopSending,
    /// Cancel requests in flight (recorded as `cancelled`).
    Cancel,
}
