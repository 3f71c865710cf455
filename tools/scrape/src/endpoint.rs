//! Endpoint mode: poll `/metrics` URLs at a fixed interval during a run, no Prometheus needed.
//!
//! Every scrape's samples are written (and flushed) as soon as the scrape is parsed, so the
//! stream is complete up to the last scrape whatever stops the run: the end time, Ctrl-C,
//! SIGTERM, or a reader that goes away. A URL that fails is reported and retried at the next tick.

use crate::expfmt::{self, Dialect};
use crate::prometheus::error_chain;
use crate::sink::{Outcome, Sink};
use regex::Regex;
use sb_records::ndjson::is_broken_pipe;
use sb_records::{Clock, Sample, SampleSource, Window};
use std::io::Write;
use std::time::Duration;

pub struct Config {
    pub urls: Vec<String>,
    pub interval: Duration,
    /// Stop at this epoch time; None polls until Ctrl-C/SIGTERM.
    pub end_ns: Option<u64>,
    /// Keep only series whose name matches.
    pub name_filter: Option<Regex>,
    pub timeout: Duration,
    /// Sent with every request (`--header`).
    pub headers: reqwest::header::HeaderMap,
    /// Largest body read from one scrape (`--max-body-mib`).
    pub max_body: usize,
}

#[derive(Default)]
struct UrlStats {
    ok: u64,
    failed: u64,
    bad_lines: u64,
    last_error: Option<String>,
}

/// Polls until the end time or a signal, then scrapes once more, so that the last samples are
/// from the moment the run ended (sb-report's counter deltas need a sample at or after the end).
/// The window written on samples is `[first scrape, end]` when an end is known; without one the
/// samples carry no window (it is not known yet when they are written).
pub async fn run<W: Write>(cfg: &Config, sink: &mut Sink<W>) -> anyhow::Result<Outcome> {
    let clock = Clock::global();
    let started_ns = clock.now_ns();
    let mut poller = Poller {
        cfg,
        client: reqwest::Client::builder().timeout(cfg.timeout).default_headers(cfg.headers.clone()).build()?,
        stats: cfg.urls.iter().map(|_| UrlStats::default()).collect(),
        window: cfg.end_ns.map(|end_ns| Window { start_ns: started_ns, end_ns }),
        scrapes: 0,
    };
    let mut outcome = Outcome::default();
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let mut ticker = tokio::time::interval(cfg.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let deadline = cfg.end_ns.map(|end| tokio::time::Instant::from_std(clock.instant_at(end)));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut stop => break,
            _ = sleep_until(deadline) => break,
        }
        if cfg.end_ns.is_some_and(|end| clock.now_ns() > end) {
            break;
        }
        if let Err(e) = poller.round(sink).await {
            return stdout_error(e, outcome);
        }
    }
    // The closing scrape, bounded so that a hung endpoint cannot hold up the exit.
    match tokio::time::timeout(cfg.timeout.min(Duration::from_secs(5)), poller.round(sink)).await {
        Ok(Err(e)) => return stdout_error(e, outcome),
        Ok(Ok(())) => {}
        Err(_) => eprintln!("sb-scrape: the closing scrape did not finish within 5 s; left out"),
    }
    eprintln!("sb-scrape: {} scrapes of {} URL(s), {} samples", poller.scrapes, cfg.urls.len(), sink.written);
    for (url, st) in cfg.urls.iter().zip(&poller.stats) {
        if st.failed > 0 {
            outcome.fail(format!(
                "{url}: {} of {} scrapes failed (last error: {})",
                st.failed,
                st.ok + st.failed,
                st.last_error.as_deref().unwrap_or("?")
            ));
        }
        if st.bad_lines > 0 {
            outcome.fail(format!("{url}: {} lines could not be parsed and were left out", st.bad_lines));
        }
    }
    Ok(outcome)
}

struct Poller<'a> {
    cfg: &'a Config,
    client: reqwest::Client,
    stats: Vec<UrlStats>,
    window: Option<Window>,
    scrapes: u64,
}

impl Poller<'_> {
    /// One scrape of every URL, concurrently; samples written and flushed. Errors are stdout's.
    async fn round<W: Write>(&mut self, sink: &mut Sink<W>) -> std::io::Result<()> {
        let scrape_ns = Clock::global().now_ns();
        let fetches = self.cfg.urls.iter().map(|url| fetch(&self.client, url, self.cfg.max_body));
        let results = futures_util::future::join_all(fetches).await;
        self.scrapes += 1;
        for ((url, result), st) in self.cfg.urls.iter().zip(results).zip(self.stats.iter_mut()) {
            let (text, dialect) = match result {
                Ok(r) => r,
                Err(e) => {
                    if st.failed == 0 {
                        eprintln!(
                            "sb-scrape: {url}: {} (retrying every {:?})",
                            sb_cli::printable(&e),
                            self.cfg.interval
                        );
                    }
                    st.failed += 1;
                    st.last_error = Some(sb_cli::printable(&e));
                    continue;
                }
            };
            st.ok += 1;
            let parsed = expfmt::parse(&text, dialect);
            if !parsed.errors.is_empty() {
                if st.bad_lines == 0 {
                    // The line is the server's text: no control character reaches the terminal.
                    eprintln!("sb-scrape: {url}: cannot read {}", sb_cli::printable(&parsed.errors[0].to_string()));
                }
                st.bad_lines += parsed.errors.len() as u64;
            }
            for s in parsed.samples {
                if self.cfg.name_filter.as_ref().is_some_and(|re| !re.is_match(&s.name)) {
                    continue;
                }
                let ts_ns = match s.timestamp_ms {
                    Some(ms) if ms >= 0 => ms as u64 * 1_000_000,
                    _ => scrape_ns,
                };
                sink.push(&Sample {
                    metric: s.name,
                    labels: s.labels,
                    ts_ns,
                    value: s.value,
                    source: SampleSource::Endpoint,
                    metric_type: s.metric_type,
                    window: self.window,
                    target: Some(url.clone()),
                })?;
            }
        }
        sink.flush()
    }
}

fn stdout_error(e: std::io::Error, mut outcome: Outcome) -> anyhow::Result<Outcome> {
    if is_broken_pipe(&e) {
        outcome.stdout_closed = true;
        return Ok(outcome);
    }
    Err(e.into())
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The body of one scrape and its dialect (from the `Content-Type`).
async fn fetch(client: &reqwest::Client, url: &str, max_body: usize) -> Result<(String, Dialect), String> {
    // Ask for the classic text format, which every exporter serves; OpenMetrics is still read if
    // a server insists on it.
    let response = client
        .get(url)
        .header("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
        .send()
        .await
        .map_err(|e| error_chain(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let content_type =
        response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(String::from);
    let text = crate::body::read_capped(response, max_body).await?;
    Ok((text, Dialect::from_content_type(content_type.as_deref())))
}

/// Resolves on Ctrl-C or SIGTERM (what `kill` and Kubernetes send).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
