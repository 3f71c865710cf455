//! The run's connections to the server: at most `--max-connections` of them, opened ahead of
//! demand (`--connections`), and handed to waiting requests oldest first.
//!
//! Why not hyper's pooled client: it opens a new connection for every request that finds none
//! idle, with no bound. At a high rate against a server whose accept has slowed, that floods the
//! server with connects, drowns the client's own core in them and ends in "Too many open files";
//! the first second of a fast run was tens of ms late while connections were opened on demand.
//! Here the number of usable connections never passes the cap; a request that finds all of them
//! busy waits for one to come back, and that wait is the client's queueing, counted as send
//! lateness. Connects run on their own tasks, so a slow one delays only the request waiting on
//! it, never the sends behind it, and at most [`MAX_CONNECTING`] are in progress at once.

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper::Uri;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use sb_records::Clock;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::oneshot;
use tower_service::Service;

/// Connects in progress at once: enough to open a few thousand connections a second on a LAN,
/// few enough that a server whose accept has slowed is not flooded.
pub const MAX_CONNECTING: usize = 64;

/// The default `--max-connections` without `--concurrency`: inference-perf's
/// `worker_max_tcp_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 2500;

/// One HTTP/1.1 connection, checked out by one request at a time.
pub struct Conn {
    pub send: http1::SendRequest<Full<Bytes>>,
    /// When it finished connecting, until its first request takes it.
    pub connected_ns: Option<u64>,
    /// It has carried a request to its end: a failure to send on it may be the server closing
    /// an idle connection (worth one more try elsewhere), not the server refusing connections.
    pub reused: bool,
    /// When the last write to its socket returned: a request's send time on the wire.
    pub wrote_ns: Arc<AtomicU64>,
    slot: Slot,
}

/// The connection's socket, with the time of every write kept: hyper writes a request (head
/// and body) from the connection's own task, after the request's task has handed it over, so
/// the request's real send time is the last write before its answer begins.
struct Stamped<T> {
    io: T,
    wrote_ns: Arc<AtomicU64>,
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for Stamped<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write + Unpin> Stamped<T> {
    fn stamp(&self, r: &Poll<std::io::Result<usize>>) {
        if matches!(r, Poll::Ready(Ok(n)) if *n > 0) {
            self.wrote_ns.store(Clock::global().now_ns(), Ordering::Relaxed);
        }
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for Stamped<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.stamp(&r);
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.stamp(&r);
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A connection's place under the cap, given back exactly once: when the request holding it
/// drops it, when the server closes it, or when it is found closed in the idle list.
#[derive(Clone)]
struct Slot(Arc<AtomicBool>);

impl Slot {
    fn new() -> Slot {
        Slot(Arc::new(AtomicBool::new(false)))
    }
    /// True for the first caller only.
    fn take_back(&self) -> bool {
        !self.0.swap(true, Ordering::AcqRel)
    }
}

/// What a request gets from [`Pool::checkout`].
pub enum Checkout {
    /// An idle open connection.
    Ready(Conn),
    /// None idle: wait. `at_cap` when every connection the cap allows is open or opening, so
    /// the wait is for one to come back (client-side queueing), not for a connect.
    Wait { rx: oneshot::Receiver<Result<Conn, String>>, at_cap: bool },
}

/// How the run used its connections, for the run record.
#[derive(Debug, Default)]
pub struct PoolStats {
    pub opened: AtomicU64,
    pub connect_failures: AtomicU64,
    /// Requests that found every connection the cap allows busy and waited for one.
    pub waited_at_cap: AtomicU64,
    pub peak_open: AtomicU64,
}

pub struct Pool {
    connector: HttpsConnector<HttpConnector>,
    /// `scheme://authority` of the server.
    target: Uri,
    max: usize,
    state: Mutex<State>,
    pub stats: PoolStats,
}

#[derive(Default)]
struct State {
    /// Open and idle, the most recently used last (taken first: warm in the server's caches,
    /// and the least used ones may time out unused).
    idle: Vec<Conn>,
    waiters: VecDeque<oneshot::Sender<Result<Conn, String>>>,
    /// Connections counted against the cap: open (idle or in use) or being opened.
    open: usize,
    connecting: usize,
}

impl Pool {
    pub fn new(connector: HttpsConnector<HttpConnector>, target: Uri, max: usize) -> Arc<Pool> {
        Arc::new(Pool {
            connector,
            target,
            max: max.max(1),
            state: Mutex::new(State::default()),
            stats: Default::default(),
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An idle connection, or a place in the queue for the next one free (opening a new one
    /// for it when the cap allows).
    pub fn checkout(self: &Arc<Self>) -> Checkout {
        let mut st = self.lock();
        while let Some(conn) = st.idle.pop() {
            if !conn.send.is_closed() {
                return Checkout::Ready(conn);
            }
            self.forget(&mut st, &conn.slot);
        }
        let (tx, rx) = oneshot::channel();
        st.waiters.push_back(tx);
        let at_cap = st.open >= self.max;
        if at_cap {
            self.stats.waited_at_cap.fetch_add(1, Ordering::Relaxed);
        }
        self.balance(&mut st);
        Checkout::Wait { rx, at_cap }
    }

    /// A connection whose exchange ended cleanly, for the next request.
    pub fn release(self: &Arc<Self>, mut conn: Conn) {
        conn.connected_ns = None;
        conn.reused = true;
        let mut st = self.lock();
        if conn.send.is_closed() {
            self.forget(&mut st, &conn.slot);
        } else {
            self.give(&mut st, conn);
        }
    }

    /// A connection that will not be used again (its exchange broke off): its place under the
    /// cap is free now, not when the socket is finally closed.
    pub fn discard(self: &Arc<Self>, conn: Conn) {
        self.forget(&mut self.lock(), &conn.slot);
    }

    /// Opens connections before the run until `n` (at most the cap) are open, [`MAX_CONNECTING`]
    /// at a time; returns how many are open and the first error.
    pub async fn preconnect(self: &Arc<Self>, n: usize) -> (usize, Option<String>) {
        // Those already open (the server's version was asked on one) count.
        let already = self.lock().open;
        let n = n.min(self.max).saturating_sub(already);
        let mut first_error = None;
        let mut opened = already;
        let mut started = 0;
        let mut tasks = tokio::task::JoinSet::new();
        while started < n || !tasks.is_empty() {
            while started < n && tasks.len() < MAX_CONNECTING {
                started += 1;
                self.lock().open += 1;
                let pool = self.clone();
                tasks.spawn(async move { pool.open().await });
            }
            match tasks.join_next().await {
                Some(Ok(Ok(conn))) => {
                    opened += 1;
                    let mut st = self.lock();
                    self.give(&mut st, conn);
                }
                Some(Ok(Err(e))) => {
                    self.connect_failed(&mut self.lock());
                    first_error.get_or_insert(e);
                    // A server that refuses one connect refuses the rest: do not hammer it.
                    started = n;
                }
                // A connect task that panicked gives its place back too.
                Some(Err(_)) => self.lock().open -= 1,
                None => {}
            }
        }
        (opened, first_error)
    }

    /// Starts connects while requests wait without one on the way and the cap allows.
    fn balance(self: &Arc<Self>, st: &mut State) {
        // None can start at the cap or at MAX_CONNECTING, or with no waiter lacking a connect:
        // then the queue is not swept for waiters gone (a timeout), a pass over all of them.
        if st.open >= self.max || st.connecting >= MAX_CONNECTING || st.waiters.len() <= st.connecting {
            return;
        }
        st.waiters.retain(|w| !w.is_closed());
        while st.waiters.len() > st.connecting && st.open < self.max && st.connecting < MAX_CONNECTING {
            st.open += 1;
            st.connecting += 1;
            let pool = self.clone();
            tokio::spawn(async move {
                let result = pool.open().await;
                let mut st = pool.lock();
                st.connecting -= 1;
                match result {
                    Ok(conn) => {
                        pool.give(&mut st, conn);
                        // Waiters may still outnumber the connects in progress (more than
                        // MAX_CONNECTING of them arrived at once): start the next.
                        pool.balance(&mut st);
                    }
                    Err(e) => {
                        pool.connect_failed(&mut st);
                        // The oldest waiter learns why; the others keep the connects started for them.
                        while let Some(w) = st.waiters.pop_front() {
                            if w.send(Err(e.clone())).is_ok() {
                                break;
                            }
                        }
                        pool.balance(&mut st);
                    }
                }
            });
        }
    }

    /// A connect failed: its place under the cap is free again.
    fn connect_failed(&self, st: &mut State) {
        st.open -= 1;
        self.stats.connect_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Hands `conn` to the oldest request still waiting, or keeps it idle.
    fn give(self: &Arc<Self>, st: &mut State, mut conn: Conn) {
        while let Some(w) = st.waiters.pop_front() {
            match w.send(Ok(conn)) {
                Ok(()) => return,
                Err(Ok(back)) => conn = back,
                Err(Err(_)) => return,
            }
        }
        st.idle.push(conn);
    }

    /// A connection's place under the cap is free: a waiter may get a new one.
    fn forget(self: &Arc<Self>, st: &mut State, slot: &Slot) {
        if slot.take_back() {
            st.open -= 1;
            self.balance(st);
        }
    }

    /// One new connection: TCP (and TLS for https), then the HTTP/1.1 handshake. Its I/O runs
    /// on a task of its own, which gives the place under the cap back when the server closes it.
    async fn open(self: &Arc<Self>) -> Result<Conn, String> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx)).await.map_err(|e| crate::client::error_chain(&*e))?;
        let io = connector.call(self.target.clone()).await.map_err(|e| crate::client::error_chain(&*e))?;
        let wrote_ns = Arc::new(AtomicU64::new(0));
        let io = Stamped { io, wrote_ns: wrote_ns.clone() };
        let (send, connection) =
            http1::Builder::new().handshake::<_, Full<Bytes>>(io).await.map_err(|e| crate::client::error_chain(&e))?;
        let connected_ns = Clock::global().now_ns();
        let slot = Slot::new();
        let mine = slot.clone();
        let pool = self.clone();
        tokio::spawn(async move {
            let _ = connection.await;
            let mut st = pool.lock();
            pool.forget(&mut st, &mine);
        });
        self.stats.opened.fetch_add(1, Ordering::Relaxed);
        let open = self.lock().open as u64;
        self.stats.peak_open.fetch_max(open, Ordering::Relaxed);
        Ok(Conn { send, connected_ns: Some(connected_ns), reused: false, wrote_ns, slot })
    }
}
