//! Timing truth: against a server that stamps every chunk with its own clock, sb-load's TTFT
//! and per-chunk ITL must match the server's to well under a millisecond. (The bench script
//! measures the same thing at scale with a release build; this test guards against a
//! regression that adds whole milliseconds, e.g. a buffered stream or a timer-rounded stamp.)

mod common;

use common::stamp::{self, Timing};
use common::{completions, load};
use std::time::Duration;

#[test]
fn ttft_and_itl_match_the_servers_own_clock() {
    let url = stamp::start(Timing { ttft: Duration::from_millis(20), itl: Duration::from_millis(3), spin: false });
    let run = load(&url, &["--concurrency", "4", "--save-text"], &completions(20, 3, 16));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut ttft_over = Vec::new();
    let mut itl_over = Vec::new();
    for r in &run.results {
        let (t, itl) = stamp::overheads(r).unwrap_or_else(|| panic!("result without stamps: {r}"));
        ttft_over.push(t);
        itl_over.extend(itl);
    }
    ttft_over.sort();
    itl_over.sort();
    let med = |v: &[i64]| v[v.len() / 2] as f64 / 1e6;
    // Debug build on a machine that may be busy with other work: bounds that only a real
    // regression breaks (a delayed ACK is 40 ms, Nagle 17 ms on this path); the sub-millisecond
    // truth is bench/load.sh's and bench/truth.sh's to measure, on an idle machine.
    assert!(med(&ttft_over) < 15.0, "median TTFT overhead {} ms", med(&ttft_over));
    assert!(med(&itl_over).abs() < 5.0, "median ITL overhead {} ms", med(&itl_over));
    let ttft = common::Run::ms(&run.results[0], "sent_ns", "first_chunk_ns");
    assert!((19.0..80.0).contains(&ttft), "TTFT {ttft} ms for a 20 ms server");
}

#[test]
fn https_with_a_private_ca_streams_and_times_like_http() {
    let tls = sb_testkit::testdata("load/tls");
    let timing = Timing { ttft: Duration::from_millis(10), itl: Duration::from_millis(2), spin: false };
    let url = stamp::start_tls(timing, &tls.join("server.pem"), &tls.join("server.key"));
    let ca = tls.join("ca.pem");
    let run = load(&url, &["--ca-cert", ca.to_str().unwrap(), "--save-text"], &completions(5, 3, 8));
    assert_eq!(run.code, 0, "{}", run.stderr);
    for r in &run.results {
        assert_eq!(r["status"], "ok");
        let (ttft_over, _) = stamp::overheads(r).expect("stamped chunks");
        // The first request of a connection includes the TLS handshake; still far below 50 ms.
        assert!(ttft_over < 50_000_000, "TTFT overhead {ttft_over} ns");
    }
    // Without the private CA the server's certificate is not trusted: a connect error per request.
    let run = load(&url, &[], &completions(2, 3, 8));
    assert_eq!(run.code, 1);
    assert_eq!(run.by_status("connect_error"), 2, "{:?}", run.results);
    assert!(run.results[0]["error"].as_str().unwrap().contains("certificate"), "{:?}", run.results[0]);
}
