//! A reference server with known timing for measuring sb-load's own overhead: it streams
//! completions chunks whose text is the server's clock at the moment it wrote them
//! (`" <received_ns>:<written_ns>"` for the first chunk, `" <written_ns>"` after), so the
//! client's stamps can be compared with the server's, chunk by chunk, on one time axis.
//!
//! It speaks just enough HTTP/1.1 (keep-alive, Content-Length request bodies, chunked
//! responses) and sets TCP_NODELAY, so the only delays are the ones it is told to add.

use sb_records::Clock;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Copy)]
pub struct Timing {
    pub ttft: Duration,
    pub itl: Duration,
    /// Busy-poll instead of sleeping, so the server's own wake-up latency is not part of the
    /// measured overhead (for the benchmark; it keeps a core busy).
    pub spin: bool,
}

/// Serves on `listener` until the process ends.
pub async fn serve(listener: TcpListener, timing: Timing) {
    if timing.spin {
        tokio::spawn(async {
            loop {
                tokio::task::yield_now().await;
            }
        });
    }
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, timing));
    }
}

/// Starts the server on a thread of its own; returns its base URL.
pub fn start(timing: Timing) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async { serve(TcpListener::from_std(listener).unwrap(), timing).await });
    });
    url
}

/// Starts the server with TLS (certificate chain and key in PEM files); returns its base URL.
pub fn start_tls(timing: Timing, cert_pem: &std::path::Path, key_pem: &std::path::Path) -> String {
    use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert_pem).unwrap().map(|c| c.unwrap()).collect();
    let key = PrivateKeyDer::from_pem_file(key_pem).unwrap();
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        connection(tls, timing).await;
                    }
                });
            }
        });
    });
    url
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, timing: Timing) {
    let clock = Clock::global();
    let mut buf = Vec::with_capacity(8192);
    loop {
        // Read one request: head, then Content-Length bytes of body.
        let (head_end, content_length) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
                    .unwrap_or(0);
                break (end + 4, len);
            }
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        while buf.len() < head_end + content_length {
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let received_ns = clock.now_ns();
        let body: serde_json::Value =
            serde_json::from_slice(&buf[head_end..head_end + content_length]).unwrap_or_default();
        buf.drain(..head_end + content_length);
        let max_tokens = body["max_tokens"].as_u64().unwrap_or(16);

        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let start = tokio::time::Instant::now();
        for i in 0..max_tokens {
            let due = start + timing.ttft + timing.itl * i as u32;
            tokio::time::sleep_until(due).await;
            let written_ns = clock.now_ns();
            let text = if i == 0 { format!(" {received_ns}:{written_ns}") } else { format!(" {written_ns}") };
            let finish = if i + 1 == max_tokens { "\"length\"" } else { "null" };
            let event = format!(
                "data: {{\"id\":\"cmpl-stamp\",\"object\":\"text_completion\",\"choices\":[{{\"index\":0,\"text\":\"{text}\",\"finish_reason\":{finish}}}],\"usage\":null}}\n\n"
            );
            if send_chunk(&mut stream, event.as_bytes()).await.is_err() {
                return;
            }
        }
        let usage = format!(
            "data: {{\"id\":\"cmpl-stamp\",\"object\":\"text_completion\",\"choices\":[],\"usage\":{{\"prompt_tokens\":1,\"completion_tokens\":{max_tokens},\"total_tokens\":{}}}}}\n\ndata: [DONE]\n\n",
            max_tokens + 1
        );
        if send_chunk(&mut stream, usage.as_bytes()).await.is_err() || stream.write_all(b"0\r\n\r\n").await.is_err() {
            return;
        }
    }
}

async fn send_chunk<S: AsyncWrite + Unpin>(stream: &mut S, data: &[u8]) -> std::io::Result<()> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    stream.write_all(&out).await
}

/// Per-request overheads of the client, from one result record written with `--save-text`
/// against this server: (TTFT overhead, per-chunk ITL overheads), in nanoseconds.
pub fn overheads(result: &serde_json::Value) -> Option<(i64, Vec<i64>)> {
    let text = result["text"].as_str()?;
    let sent = result["sent_ns"].as_u64()? as i64;
    let chunks: Vec<i64> = result["chunks_ns"].as_array()?.iter().map(|c| sent + c.as_u64().unwrap() as i64).collect();
    let mut stamps = text.split_whitespace();
    let (received, first_written) = stamps.next()?.split_once(':')?;
    let (received, first_written): (i64, i64) = (received.parse().ok()?, first_written.parse().ok()?);
    let mut written = vec![first_written];
    written.extend(stamps.map(|s| s.parse::<i64>().unwrap()));
    if written.len() != chunks.len() {
        return None;
    }
    // Client TTFT minus the server's own TTFT: the time the request and the first chunk spent
    // in the client and the network.
    let ttft_overhead = (chunks[0] - sent) - (first_written - received);
    let itl_overheads =
        (1..chunks.len()).map(|i| (chunks[i] - chunks[i - 1]) - (written[i] - written[i - 1])).collect();
    Some((ttft_overhead, itl_overheads))
}
