//! A server that answers every request with the same canned bytes, for responses sb-sim never
//! sends (garbage chunks, a 200 that is not a stream, a status with an early close), and that
//! keeps each request's head so a test can see exactly what went over the wire.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, PartialEq)]
pub enum Body {
    /// Read the whole request body before answering.
    Read,
    /// Answer after the request head, without reading the body, then close (a server that
    /// refuses a request too large for it).
    AnswerEarlyAndClose,
    /// The same, but close at once with the body unread: the kernel answers the client's
    /// further bytes with a reset.
    AnswerEarlyAndReset,
}

pub struct Raw {
    pub url: String,
    /// Every request head received (request line and headers).
    pub heads: Arc<Mutex<Vec<String>>>,
    /// Connections accepted, and the most open at once.
    pub accepted: Arc<AtomicUsize>,
    pub peak_open: Arc<AtomicUsize>,
}

/// How the server treats its connections.
#[derive(Clone, Copy)]
pub struct Manner {
    /// Wait this long before answering each request.
    pub delay: Duration,
    /// Close a connection that has been idle this long (uvicorn: 5 s).
    pub idle_close: Duration,
}

impl Default for Manner {
    fn default() -> Manner {
        Manner { delay: Duration::ZERO, idle_close: Duration::from_secs(10) }
    }
}

/// Serves `response` (a whole HTTP/1.1 response, head and body) to every request.
pub fn start(response: Vec<u8>, body: Body) -> Raw {
    start_with(response, body, Manner::default())
}

/// [`start`], answering in the given manner.
pub fn start_with(response: Vec<u8>, body: Body, manner: Manner) -> Raw {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let (accepted, peak_open) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let open = Arc::new(AtomicUsize::new(0));
    let keep = heads.clone();
    let (count, peak) = (accepted.clone(), peak_open.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            count.fetch_add(1, Ordering::SeqCst);
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let (response, heads, open) = (response.clone(), keep.clone(), open.clone());
            std::thread::spawn(move || {
                serve(conn, &response, body, manner, &heads);
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Raw { url, heads, accepted, peak_open }
}

fn serve(mut conn: TcpStream, response: &[u8], body: Body, manner: Manner, heads: &Mutex<Vec<String>>) {
    let _ = conn.set_nodelay(true);
    let _ = conn.set_read_timeout(Some(manner.idle_close));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // One request: the head, then Content-Length bytes of body.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        heads.lock().unwrap().push(head.clone());
        if body == Body::AnswerEarlyAndReset {
            let _ = conn.write_all(response);
            let _ = conn.flush();
            std::thread::sleep(Duration::from_millis(50));
            return;
        }
        if body == Body::AnswerEarlyAndClose {
            let _ = conn.write_all(response);
            let _ = conn.flush();
            // Close our side for writing, then keep reading what the client still sends, so
            // the response is not lost to a reset (what careful servers do: a lingering close).
            let _ = conn.shutdown(Shutdown::Write);
            while matches!(conn.read(&mut chunk), Ok(n) if n > 0) {}
            return;
        }
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        std::thread::sleep(manner.delay);
        if conn.write_all(response).is_err() {
            return;
        }
    }
}

/// A 200 response whose body is `body`, sent chunked (as streaming servers do), with the
/// chunked terminator: the body ends cleanly.
pub fn chunked_200(content_type: &str, body: &str) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n\r\n");
    if !body.is_empty() {
        r += &format!("{:x}\r\n{body}\r\n", body.len());
    }
    r += "0\r\n\r\n";
    r.into_bytes()
}

/// A whole response with a status and a body of known length.
pub fn with_status(status: &str, content_type: &str, body: &str, close: bool) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{}\r\n{body}",
        body.len(),
        if close { "connection: close\r\n" } else { "" }
    )
    .into_bytes()
}
