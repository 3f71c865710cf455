//! The run's connections: never more than --max-connections, opened ahead of the run, a wait at
//! the cap counted as lateness, connection set-up recorded, and servers that close connections
//! lose no request (issue "sb-load at the edge").

mod common;

use common::raw::{self, Body, Manner};
use common::{completions, load};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A whole streamed completion of two tokens, as vLLM sends it.
fn stream() -> Vec<u8> {
    let events = concat!(
        "data: {\"id\":\"c\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\" a\",\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\" b\",\"finish_reason\":\"length\"}],\"usage\":null}\n\n",
        "data: [DONE]\n\n"
    );
    raw::chunked_200("text/event-stream", events)
}

/// [`stream`] with `connection: close`.
fn closing_stream() -> Vec<u8> {
    String::from_utf8(stream()).unwrap().replacen("\r\n\r\n", "\r\nconnection: close\r\n\r\n", 1).into_bytes()
}

#[test]
fn never_more_connections_than_the_cap_and_the_wait_for_one_is_lateness() {
    let server =
        raw::start_with(stream(), Body::Read, Manner { delay: Duration::from_millis(60), ..Manner::default() });
    // 200 req/s against 60 ms answers wants ~12 connections; 3 are allowed.
    let run = load(
        &server.url,
        &["--rate", "200", "--max-connections", "3", "--connections", "0", "--max-lag", "20"],
        &completions(12, 2, 2),
    );
    assert_eq!(run.by_status("ok"), 12, "{:?}", run.results);
    assert!(
        server.peak_open.load(Ordering::SeqCst) <= 3,
        "the server saw {} connections at once",
        server.peak_open.load(Ordering::SeqCst)
    );
    let c = &run.run["connections"];
    assert_eq!(c["max"], 3);
    assert!(c["peak_open"].as_u64().unwrap() <= 3, "{c}");
    assert!(c["waited_at_cap"].as_u64().unwrap() >= 6, "{c}");
    // Queued behind the cap: the last requests went out far behind their slots, and the run says why.
    let late: Vec<f64> = run.results.iter().map(|r| common::Run::ms(r, "scheduled_ns", "sent_ns")).collect();
    assert!(late.iter().cloned().fold(0.0, f64::max) > 100.0, "{late:?}");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("waited for a free connection under --max-connections 3"), "{}", run.stderr);
}

#[test]
fn connections_are_opened_ahead_and_a_new_one_is_recorded_as_connected_ns() {
    // A server that closes every connection after its answer: each request opens its own.
    let server = raw::start(closing_stream(), Body::Read);
    let run = load(&server.url, &["-c", "1", "--connections", "0"], &completions(5, 2, 2));
    assert_eq!(run.code, 0, "{}", run.stderr);
    for r in &run.results {
        let at = |f: &str| r[f].as_u64().unwrap_or_else(|| panic!("no {f}: {r}"));
        // Set-up, then the request's write, then the answer: the connect is not in its TTFT.
        assert!(at("scheduled_ns") <= at("connected_ns") && at("connected_ns") <= at("sent_ns"), "{r}");
        assert!(at("sent_ns") <= at("first_byte_ns"), "{r}");
    }

    // Ahead (the default): 10 open before the first request at 100 req/s (rate x 100 ms), and
    // no request waits for a connect.
    let server = raw::start(stream(), Body::Read);
    let run = load(&server.url, &["--rate", "100"], &completions(5, 2, 2));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.run["connections"]["preconnected"], 10, "{}", run.run);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 10);
    assert!(run.results.iter().all(|r| r.get("connected_ns").is_none()), "{:?}", run.results);
}

#[test]
fn servers_that_close_idle_connections_or_every_connection_lose_no_request() {
    // Idle connections closed after 20 ms (uvicorn does it after 5 s); requests 60 ms apart find
    // the ones they were given closed.
    let server =
        raw::start_with(stream(), Body::Read, Manner { idle_close: Duration::from_millis(20), ..Manner::default() });
    let run = load(&server.url, &["--rate", "16", "--connections", "3"], &completions(6, 2, 2));
    assert_eq!(run.by_status("ok"), 6, "{:?} {}", run.results, run.stderr);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // `connection: close` on every answer.
    let server = raw::start(closing_stream(), Body::Read);
    let run = load(&server.url, &["-c", "2"], &completions(8, 2, 2));
    assert_eq!(run.by_status("ok"), 8, "{:?} {}", run.results, run.stderr);
    assert!(server.accepted.load(Ordering::SeqCst) >= 8);
}

#[test]
fn connection_flags_are_checked() {
    let server = raw::start(stream(), Body::Read);
    let run = load(&server.url, &["--max-connections", "0"], &completions(1, 2, 2));
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--max-connections must be at least 1"), "{}", run.stderr);
    let run = load(&server.url, &["--connections", "5", "-c", "2"], &completions(1, 2, 2));
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--connections 5 is more than --max-connections 2"), "{}", run.stderr);
}

#[test]
fn a_password_in_the_url_goes_nowhere_on_the_wire() {
    let server = raw::start(stream(), Body::Read);
    let url = server.url.replace("http://", "http://user:s3cret@");
    let run = load(&url, &["-c", "1"], &completions(2, 2, 2));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let heads = server.heads.lock().unwrap().join("\n");
    assert!(heads.contains("host: 127.0.0.1:") || heads.contains("Host: 127.0.0.1:"), "{heads}");
    assert!(!heads.contains("s3cret") && !heads.contains("user:"), "{heads}");
    assert!(!run.stderr.contains("s3cret") && !run.run.to_string().contains("s3cret"), "{}", run.run);
}

#[test]
fn more_requests_at_once_than_connects_in_progress_all_get_their_connection() {
    // 100 in flight at once, opened on demand: more than the 64 connects allowed in progress, so
    // each connect that ends must start the next one for the requests still waiting.
    let server =
        raw::start_with(stream(), Body::Read, Manner { delay: Duration::from_millis(500), ..Manner::default() });
    let run = load(&server.url, &["-c", "100", "--connections", "0"], &completions(100, 2, 2));
    assert_eq!(run.by_status("ok"), 100, "{}", run.stderr);
    assert_eq!(server.peak_open.load(Ordering::SeqCst), 100, "{}", run.run["connections"]);
}

#[test]
fn a_server_that_closes_every_connection_at_once_fails_requests_without_a_connect_storm() {
    // Accepts, then closes before reading anything (a server at its own connection limit).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            count.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    let run = load(&url, &["-c", "2", "--timeout", "20s"], &completions(4, 2, 2));
    assert_eq!(run.results.len(), 4);
    assert!(run.results.iter().all(|r| r["status"] != "timeout" && r["status"] != "ok"), "{:?}", run.results);
    // One connection per attempt, a few attempts per request at most: no storm.
    assert!(accepted.load(Ordering::SeqCst) <= 4 * 3 + 4, "{} connections accepted", accepted.load(Ordering::SeqCst));
}
