//! Test helpers shared by the integration tests of every tool: where the built binaries are,
//! where the test data is, and an `sb-sim` child process that is killed when dropped.
//!
//! Tests run the real binaries the way users do. `cargo test` builds only the binaries of the
//! package under test, so the README's test command builds all of them first
//! (`cargo build --workspace --bins && cargo test --workspace`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (where `Cargo.toml` with `[workspace]` is).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// A file or directory under `testdata/`.
pub fn testdata(rel: &str) -> PathBuf {
    root().join("testdata").join(rel)
}

/// Path of a built binary of the workspace (`sb-sim`, `sb-load`, ...), next to the test's own
/// executable's profile directory.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test>-<hash>  ->  target/<profile>/<name>
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` before `cargo test` (the README's test command does)",
        path.display()
    );
    path
}

/// A running `sb-sim`, killed on drop.
pub struct Sim {
    pub url: String,
    child: Child,
}

impl Sim {
    /// Starts `sb-sim --port 0 <args>` and waits until it listens.
    pub fn start(args: &[&str]) -> Sim {
        let dir = std::env::temp_dir().join(format!("sb-sim-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir).unwrap();
        let addr_file = dir.join("addr");
        let mut child = Command::new(bin("sb-sim"))
            .args(["--host", "127.0.0.1", "--port", "0", "--addr-file"])
            .arg(&addr_file)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sb-sim");
        // Forward the sim's stderr to the test's stderr (shown when a test fails).
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[sb-sim] {line}");
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(url) = std::fs::read_to_string(&addr_file) {
                if !url.trim().is_empty() {
                    return Sim { url: url.trim().to_string(), child };
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("sb-sim exited before listening: {status}");
            }
            assert!(Instant::now() < deadline, "sb-sim did not start listening within 20 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process-unique number, for temp names.
pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A fresh empty temp directory for one test.
pub fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sb-test-{tag}-{}-{}", std::process::id(), unique()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `GET url` over plain HTTP/1.1 on loopback (for a test to read a server's /metrics while a
/// tool runs); the body, or `None` when the server cannot be reached or answers with an error.
pub fn http_get(url: &str) -> Option<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut conn = std::net::TcpStream::connect(authority).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.split_whitespace().nth(1).is_some_and(|s| s.starts_with('2')) {
        return None;
    }
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        // Undo the chunked framing.
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            if n == 0 {
                break;
            }
            out.push_str(after.get(..n)?);
            rest = after.get(n + 2..)?;
        }
        return Some(out);
    }
    Some(body.to_string())
}

/// What a tool run by [`pipe`] wrote and how it ended.
pub struct Piped {
    /// The exit status (-1 when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Piped {
    /// stdout as NDJSON records (a line that is not JSON fails the test, naming it).
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}")))
            .collect()
    }

    /// The records of one kind.
    pub fn of_kind(&self, kind: &str) -> Vec<serde_json::Value> {
        self.records().into_iter().filter(|r| r["kind"] == kind).collect()
    }
}

/// Runs a workspace binary (`sb-load`, `sb-report`, ...) with `args`, feeding `stdin` from a
/// thread of its own (so a tool that writes before it has read everything cannot deadlock),
/// and collects its output, like ripgrep's `TestCommand`.
pub fn pipe(tool: &str, args: &[&str], stdin: &[u8]) -> Piped {
    pipe_env(tool, args, stdin, &[])
}

/// [`pipe`] with extra environment variables.
pub fn pipe_env(tool: &str, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Piped {
    let mut cmd = Command::new(bin(tool));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    pipe_cmd(cmd, stdin)
}

/// [`pipe`] of a command built by the caller (a shell prefix, a working directory).
pub fn pipe_cmd(cmd: Command, stdin: &[u8]) -> Piped {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let (child, feeder) = spawn_fed(cmd, stdin.to_vec());
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("wait for {program}: {e}"));
    feeder.join().expect("stdin feeder");
    Piped {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Starts `cmd` with stdin, stdout and stderr piped, and a thread writing `stdin` to it (so a
/// child that reads slowly cannot block the test); for tests that read or signal the child
/// while it runs. The thread ends when the input is written or the child closes its stdin.
pub fn spawn_fed(mut cmd: Command, stdin: Vec<u8>) -> (std::process::Child, std::thread::JoinHandle<()>) {
    use std::io::Write;
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    let mut input = child.stdin.take().expect("stdin");
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    (child, feeder)
}
