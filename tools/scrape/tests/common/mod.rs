//! Helpers of sb-scrape's integration tests: run the binary, serve fixture files over HTTP on
//! loopback, and run a real Prometheus server (Debian's `prometheus` package).

#![allow(dead_code)]

use sb_testkit::{tempdir, testdata};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one run of sb-scrape gave.
pub struct Out {
    pub code: i32,
    pub samples: Vec<Value>,
    pub stderr: String,
}

impl Out {
    pub fn of(&self, metric: &str) -> Vec<&Value> {
        self.samples.iter().filter(|s| s["metric"] == metric).collect()
    }
}

pub fn scrape(args: &[&str]) -> Out {
    scrape_stdin(args, "")
}

/// sb-scrape against the Prometheus at `url`: `args` as given, then `flags` split at spaces
/// (for flags whose values hold none).
pub fn query(url: &str, args: &[&str], flags: &str) -> Out {
    let all: Vec<&str> =
        ["--prometheus", url].into_iter().chain(args.iter().copied()).chain(flags.split(' ')).collect();
    scrape(&all)
}

pub fn scrape_stdin(args: &[&str], stdin: &str) -> Out {
    let out = sb_testkit::pipe("sb-scrape", args, stdin.as_bytes());
    parse_output(out.code, out.stdout.as_bytes(), out.stderr.as_bytes())
}

pub fn parse_output(code: i32, stdout: &[u8], stderr: &[u8]) -> Out {
    let stdout = String::from_utf8(stdout.to_vec()).expect("stdout is UTF-8");
    let samples = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("bad NDJSON line {l:?}: {e}")))
        .collect::<Vec<_>>();
    for s in &samples {
        assert_eq!(s["kind"], "sample", "{s}");
        assert_eq!(s["v"], 1);
    }
    Out { code, samples, stderr: String::from_utf8_lossy(stderr).into_owned() }
}

/// A loopback HTTP server that answers fixed paths with fixture files (and `/broken` with a 500),
/// one connection at a time, `Connection: close`.
pub struct FixtureServer {
    pub base: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// `path -> (content type, body)` for the fixture server.
pub fn fixture_routes() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let read = |rel: &str| std::fs::read(testdata(rel)).unwrap();
    let mut dcgm = read("scrape/metrics/dcgm-exporter-datadog-fixture.txt");
    // DataDog's copy lacks the final newline that the text format requires and Prometheus'
    // parser insists on; the exporter itself writes one.
    if dcgm.last() != Some(&b'\n') {
        dcgm.push(b'\n');
    }
    let text = "text/plain; version=0.0.4; charset=utf-8";
    vec![
        ("/cadvisor", text, read("scrape/metrics/cadvisor-golden-testdata.txt")),
        ("/dcgm", text, dcgm),
        ("/vllm", text, read("scrape/metrics/vllm-metrics-0.11.0.txt")),
        (
            "/openmetrics",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            b"# TYPE om_requests counter\nom_requests_total{path=\"/a\"} 7 1520879607.789 # {trace_id=\"x\"} 1\n# EOF\n".to_vec(),
        ),
    ]
}

impl FixtureServer {
    pub fn start() -> FixtureServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let routes = fixture_routes();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let _ = answer(conn, &routes);
            }
        });
        FixtureServer { base, stop, thread: Some(thread) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn host_port(&self) -> &str {
        self.base.trim_start_matches("http://")
    }
}

fn answer(mut conn: TcpStream, routes: &[(&str, &str, Vec<u8>)]) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorized = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
        authorized |= header.trim().eq_ignore_ascii_case("authorization: Bearer t0k");
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut path = path.split('?').next().unwrap_or("/");
    // `/auth` is the vLLM dump behind a bearer token.
    if path == "/auth" {
        if !authorized {
            return conn.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
        path = "/vllm";
    }
    match routes.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, body)) => {
            write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            conn.write_all(body)?;
        }
        None => {
            conn.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops",
            )?;
        }
    }
    conn.flush()
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.host_port());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A free loopback port (bound, then released for a child process to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The Prometheus server binary, from PATH or Debian's location. Missing is a test failure, not a
/// skip: these tests are the proof that the Prometheus mode works.
pub fn prometheus_binary() -> PathBuf {
    let from_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("prometheus")).find(|p| p.is_file()))
        .unwrap_or(None);
    let path = from_path.or_else(|| Some(PathBuf::from("/usr/bin/prometheus")).filter(|p| p.is_file()));
    path.unwrap_or_else(|| {
        panic!(
            "the `prometheus` server binary is not installed, and sb-scrape's Prometheus tests need a real one: \
             install Debian's package (`apt-get install prometheus`, as .ci/setup does) or put a prometheus binary on PATH"
        )
    })
}

/// A Prometheus server on loopback with a temporary config and data directory, stopped on drop.
pub struct Prometheus {
    pub url: String,
    child: Child,
    dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus with these `scrape_configs` (YAML list items), a 1 s scrape interval,
    /// and waits until it is ready.
    pub fn start(scrape_configs: &str) -> Prometheus {
        let binary = prometheus_binary();
        let dir = tempdir("prometheus");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{scrape_configs}"
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut prom = Prometheus { url: format!("http://127.0.0.1:{port}"), child, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http_get_ok(&format!("127.0.0.1:{port}"), "/-/ready") {
            if let Ok(Some(status)) = prom.child.try_wait() {
                panic!("prometheus exited ({status}) before it was ready:\n{}", prom.log());
            }
            assert!(Instant::now() < deadline, "prometheus not ready within 30 s:\n{}", prom.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        prom
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// Waits until an instant query returns at least `n` series (bounded).
    pub fn wait_for_series(&self, query: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.count_series(query) >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{query:?} has not {n} series after 30 s; prometheus log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn count_series(&self, query: &str) -> usize {
        let host = self.url.trim_start_matches("http://");
        let encoded: String = query
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        let Some(body) = http_get(host, &format!("/api/v1/query?query={encoded}")) else { return 0 };
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        v["data"]["result"].as_array().map_or(0, |a| a.len())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // SIGTERM lets it close the TSDB cleanly; SIGKILL if it does not go within 5 s.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn http_get(host: &str, path: &str) -> Option<String> {
    let mut conn = TcpStream::connect(host).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    conn.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

fn http_get_ok(host: &str, path: &str) -> bool {
    http_get(host, path).is_some()
}

/// Request records for sb-load: `n` short completions.
pub fn requests(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!("{{\"kind\":\"request\",\"v\":1,\"id\":\"q{i}\",\"api\":\"completions\",\"prompt\":\"Tell me about the sea, part {i}.\",\"max_tokens\":8}}\n")
        })
        .collect()
}

/// The values of a metric's sample lines in a fixture file, for comparing with what came through
/// Prometheus.
pub fn fixture_values(rel: &str, metric: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(testdata(rel)).unwrap();
    let mut values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) || l.starts_with(&format!("{metric} ")))
        .map(|l| {
            let after = &l[l.rfind('}').map_or(metric.len(), |i| i + 1)..];
            after.split_whitespace().next().unwrap().parse::<f64>().unwrap()
        })
        .collect();
    values.sort_by(f64::total_cmp);
    values
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
