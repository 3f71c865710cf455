//! One scraped body has a ceiling (--max-body-mib): a server answering with a huge page must
//! not take sb-scrape's memory with it (a 50 MB body used to cost 398 MB RSS).

use sb_testkit::pipe;
use std::io::{Read, Write};
use std::net::TcpListener;

/// Answers every request with a chunked text body of `mib` MiB (no Content-Length).
fn huge_metrics_server(mib: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut conn = conn;
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n");
                let line = "x_total{a=\"b\"} 1\n".repeat(4096);
                let chunk = format!("{:x}\r\n{line}\r\n", line.len());
                let mut sent = 0;
                while sent < mib << 20 {
                    if conn.write_all(chunk.as_bytes()).is_err() {
                        return;
                    }
                    sent += line.len();
                }
                let _ = conn.write_all(b"0\r\n\r\n");
            });
        }
    });
    url
}

#[test]
fn a_body_over_the_ceiling_fails_the_scrape_without_reading_on() {
    let url = huge_metrics_server(50);
    let out =
        pipe("sb-scrape", &["--endpoint", &url, "--duration", "1s", "--interval", "500ms", "--max-body-mib", "2"], b"");
    assert!(out.stderr.contains("larger than --max-body-mib 2 MiB"), "{}", out.stderr);
    assert!(out.records().is_empty(), "nothing from a body that was not read");
    assert_ne!(out.code, 0, "the scrapes failed: {}", out.stderr);
    // Below the ceiling the same page is read.
    let url = huge_metrics_server(1);
    let out =
        pipe("sb-scrape", &["--endpoint", &url, "--duration", "1s", "--interval", "500ms", "--max-body-mib", "4"], b"");
    assert!(!out.records().is_empty(), "{}", out.stderr);
}
