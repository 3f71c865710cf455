//! Where dataset and tokenizer files come from: the Hugging Face Hub (through `hf-hub`, which
//! keeps the same cache layout as Python's `huggingface_hub`, so files downloaded by either are
//! shared), the cache alone (`--offline`), or a local path (`--source`).
//!
//! A dataset names the files it wants as glob patterns relative to the repo root, in order of
//! preference (`all/test-*.parquet`, then `test/*_test.csv`). A local directory is treated as a
//! copy of the repo, so the same patterns find the same files there.

use anyhow::{anyhow, bail, Context, Result};
use glob::{MatchOptions, Pattern};
use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};
use std::path::{Path, PathBuf};

/// How to reach files: flags and environment, shared by datasets and the tokenizer.
#[derive(Debug, Clone, Default)]
pub struct HubOpts {
    pub offline: bool,
    pub cache_dir: Option<PathBuf>,
    pub revision: Option<String>,
}

impl HubOpts {
    fn cache(&self) -> Cache {
        match &self.cache_dir {
            Some(dir) => Cache::new(dir.clone()),
            None => match std::env::var_os("HF_HUB_CACHE") {
                Some(dir) if !dir.is_empty() => Cache::new(PathBuf::from(dir)),
                _ => Cache::from_env(),
            },
        }
    }

    fn revision(&self) -> String {
        self.revision.clone().unwrap_or_else(|| "main".to_string())
    }
}

/// The files of one dataset: a Hub repo at a revision, a local directory, or one local file.
pub enum Files {
    Hub {
        repo_id: String,
        opts: HubOpts,
    },
    Dir(PathBuf),
    File(PathBuf),
    /// Synthetic datasets read no files.
    Nothing,
}

impl Files {
    pub fn new(source: Option<&Path>, hub_repo: Option<&str>, opts: &HubOpts) -> Result<Files> {
        match source {
            Some(p) if p.is_dir() => Ok(Files::Dir(p.to_path_buf())),
            Some(p) if p.is_file() => Ok(Files::File(p.to_path_buf())),
            Some(p) => bail!("--source {}: no such file or directory", p.display()),
            None => match hub_repo {
                Some(repo) => Ok(Files::Hub { repo_id: repo.to_string(), opts: opts.clone() }),
                None => Ok(Files::Nothing),
            },
        }
    }

    /// A short description for `source` fields: `cais/mmlu@main` or the local path.
    pub fn describe(&self) -> String {
        match self {
            Files::Hub { repo_id, opts } => format!("{repo_id}@{}", opts.revision()),
            Files::Dir(p) | Files::File(p) => p.display().to_string(),
            Files::Nothing => "synthetic".to_string(),
        }
    }

    pub fn single_file(&self) -> Option<&Path> {
        match self {
            Files::File(p) => Some(p),
            _ => None,
        }
    }

    /// The files matching the first pattern that matches anything, sorted by path. A single
    /// `--source` file is returned as is, whatever the patterns.
    pub fn find(&self, patterns: &[&str]) -> Result<Vec<PathBuf>> {
        match self {
            Files::File(p) => Ok(vec![p.clone()]),
            Files::Dir(dir) => {
                let listing = list_dir(dir)?;
                match first_match(&listing, patterns) {
                    Some(found) => Ok(found.into_iter().map(|rel| dir.join(rel)).collect()),
                    None => bail!("{}: no file matches {}", dir.display(), patterns.join(" or ")),
                }
            }
            Files::Hub { repo_id, opts } => hub_find(repo_id, RepoType::Dataset, opts, patterns),
            Files::Nothing => bail!("this dataset has no Hub repo; pass its file with --source"),
        }
    }
}

fn glob_opts() -> MatchOptions {
    MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false }
}

/// The matches of the first pattern that matches anything.
fn first_match(listing: &[String], patterns: &[&str]) -> Option<Vec<String>> {
    for pat in patterns {
        let Ok(p) = Pattern::new(pat) else { continue };
        let mut found: Vec<String> = listing.iter().filter(|f| p.matches_with(f, glob_opts())).cloned().collect();
        if !found.is_empty() {
            found.sort();
            return Some(found);
        }
    }
    None
}

/// Every file under `dir`, as `/`-separated paths relative to it.
fn list_dir(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("{}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.push(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
            }
        }
    }
    Ok(out)
}

/// The snapshot directory of a cached repo at `revision` (a branch/tag name found under `refs/`,
/// or a commit hash), as `huggingface_hub` lays it out.
fn cached_snapshot(cache: &Cache, repo: &Repo, revision: &str) -> Option<PathBuf> {
    let repo_dir = cache.path().join(repo.folder_name());
    let commit = match std::fs::read_to_string(repo_dir.join("refs").join(revision)) {
        Ok(c) => c.trim().to_string(),
        Err(_) => revision.to_string(),
    };
    let snap = repo_dir.join("snapshots").join(commit);
    snap.is_dir().then_some(snap)
}

fn kind_word(kind: RepoType) -> &'static str {
    match kind {
        RepoType::Dataset => "dataset",
        RepoType::Model => "model",
        RepoType::Space => "space",
    }
}

fn hub_find(repo_id: &str, kind: RepoType, opts: &HubOpts, patterns: &[&str]) -> Result<Vec<PathBuf>> {
    let revision = opts.revision();
    let cache = opts.cache();
    let repo = Repo::with_revision(repo_id.to_string(), kind, revision.clone());
    if opts.offline {
        let Some(snap) = cached_snapshot(&cache, &repo, &revision) else {
            bail!(
                "{} {repo_id}@{revision} is not in the Hub cache {} (offline); download it once without --offline, or pass --source",
                kind_word(kind),
                cache.path().display()
            );
        };
        let listing = list_dir(&snap)?;
        return match first_match(&listing, patterns) {
            Some(found) => Ok(found.into_iter().map(|rel| snap.join(rel)).collect()),
            None => bail!(
                "{} {repo_id}@{revision}: no cached file matches {} (in {}; offline)",
                kind_word(kind),
                patterns.join(" or "),
                snap.display()
            ),
        };
    }
    let info = {
        let (cache, repo) = (cache.clone(), repo.clone());
        watched(&format!("{} {repo_id}: listing its files", kind_word(kind)), move |_| {
            build_api(&cache)?.repo(repo.clone()).info().map_err(Failure::Api)
        })
        .map_err(|e| e.into_error(repo_id, &revision, kind))?
    };
    let listing: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).collect();
    let Some(found) = first_match(&listing, patterns) else {
        bail!("{} {repo_id}@{revision}: no file matches {}", kind_word(kind), patterns.join(" or "));
    };
    found
        .iter()
        .map(|f| {
            fetch_file(&cache, &repo, f)
                .map_err(|e| e.into_error(repo_id, &revision, kind).context(format!("downloading {f}")))
        })
        .collect()
}

/// Seconds without a byte from the Hub (or its mirror) after which a request is given up and
/// retried: `SB_HUB_TIMEOUT` (e.g. `30s`), default 30 s.
fn stall_timeout() -> std::time::Duration {
    std::env::var("SB_HUB_TIMEOUT")
        .ok()
        .and_then(|v| sb_cli::parse_positive_duration(&v).ok())
        .unwrap_or(std::time::Duration::from_secs(30))
}

/// Tries of one Hub request (a listing or a file) before giving up.
const HUB_TRIES: u32 = 3;

/// Why one Hub request failed.
enum Failure {
    Api(ApiError),
    /// Nothing arrived for the stall timeout.
    Stalled(std::time::Duration),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Other(e)
    }
}

impl Failure {
    /// Worth another try: the network or the server, not the request.
    fn transient(&self) -> bool {
        match self {
            Failure::Stalled(_) => true,
            Failure::Api(e) => match status_of(e) {
                Some(code) => code == 429 || code >= 500,
                None => {
                    matches!(e, ApiError::RequestError(inner) if matches!(inner.as_ref(), ureq::Error::Transport(_)))
                        || matches!(e, ApiError::IoError(_))
                }
            },
            Failure::Other(_) => false,
        }
    }

    fn into_error(self, repo_id: &str, revision: &str, kind: RepoType) -> anyhow::Error {
        match self {
            Failure::Api(e) => hub_error(repo_id, revision, kind, e),
            Failure::Stalled(t) => anyhow!(
                "{} {repo_id}@{revision}: the Hub sent nothing for {:.0} s, {HUB_TRIES} times (a mirror that does not answer? set HF_ENDPOINT, SB_HUB_TIMEOUT, or use --offline with a filled cache, or --source)",
                kind_word(kind),
                t.as_secs_f64()
            ),
            Failure::Other(e) => e,
        }
    }
}

/// Runs one Hub request on a thread of its own, watched: it is given up when nothing has
/// arrived for the stall timeout (hf-hub's client sets no timeouts of its own), and retried
/// with backoff (1 s, 2 s) on a stall, a connection failure, 429 or a 5xx. The request gets a
/// clock to touch whenever bytes arrive (download progress).
fn watched<T: Send + 'static>(
    what: &str,
    request: impl Fn(Activity) -> Result<T, Failure> + Send + Sync + 'static,
) -> Result<T, Failure> {
    use std::sync::atomic::Ordering;
    let request = std::sync::Arc::new(request);
    let timeout = stall_timeout();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let activity = Activity::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let (req, act) = (request.clone(), activity.clone());
        // A request that stalls keeps its thread blocked on the socket; the process goes on.
        std::thread::spawn(move || {
            let _ = tx.send(req(act));
        });
        let outcome = loop {
            match rx.recv_timeout(std::time::Duration::from_millis(200)) {
                Ok(r) => break r,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    break Err(Failure::Other(anyhow!("{what}: the request thread failed")))
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let idle_ms = activity.now_ms().saturating_sub(activity.last_ms.load(Ordering::Relaxed));
                    if idle_ms > timeout.as_millis() as u64 {
                        break Err(Failure::Stalled(timeout));
                    }
                }
            }
        };
        match outcome {
            Err(f) if f.transient() && attempt < HUB_TRIES => {
                let wait = std::time::Duration::from_secs(1 << (attempt - 1));
                eprintln!(
                    "sb-sample: {what}: {}; retrying in {} s ({attempt} of {HUB_TRIES})",
                    f.short(),
                    wait.as_secs()
                );
                std::thread::sleep(wait);
            }
            other => return other,
        }
    }
}

impl Failure {
    fn short(&self) -> String {
        match self {
            Failure::Api(e) => sb_cli::printable(&e.to_string()),
            Failure::Stalled(t) => format!("nothing arrived for {:.0} s", t.as_secs_f64()),
            Failure::Other(e) => format!("{e:#}"),
        }
    }
}

/// When a watched request last received anything, in ms since it started.
#[derive(Clone)]
struct Activity {
    start: std::time::Instant,
    last_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Default for Activity {
    fn default() -> Activity {
        Activity { start: std::time::Instant::now(), last_ms: Default::default() }
    }
}

impl Activity {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

impl hf_hub::api::Progress for Activity {
    fn init(&mut self, _size: usize, _filename: &str) {
        self.update(0);
    }
    fn update(&mut self, _size: usize) {
        self.last_ms.store(self.now_ms(), std::sync::atomic::Ordering::Relaxed);
    }
    fn finish(&mut self) {
        self.update(0);
    }
}

/// One file of a repo: from the cache, else downloaded (watched, with retries).
fn fetch_file(cache: &Cache, repo: &Repo, filename: &str) -> Result<PathBuf, Failure> {
    if let Some(path) = cache.repo(repo.clone()).get(filename) {
        return Ok(path);
    }
    let (cache, repo, name) = (cache.clone(), repo.clone(), filename.to_string());
    watched(&format!("downloading {filename}"), move |activity| {
        build_api(&cache)?.repo(repo.clone()).download_with_progress(&name, activity).map_err(Failure::Api)
    })
}

/// One named file of a repo (a tokenizer's `tokenizer.json`): from the cache, downloading it
/// unless offline. `Ok(None)` when the repo has no such file.
pub fn hub_file(repo_id: &str, kind: RepoType, opts: &HubOpts, filename: &str) -> Result<Option<PathBuf>> {
    let revision = opts.revision();
    let cache = opts.cache();
    let repo = Repo::with_revision(repo_id.to_string(), kind, revision.clone());
    if let Some(snap) = cached_snapshot(&cache, &repo, &revision) {
        let p = snap.join(filename);
        if p.is_file() {
            return Ok(Some(p));
        }
    }
    if opts.offline {
        bail!(
            "{} {repo_id}@{revision}: {filename} is not in the Hub cache {} (offline); download it once without --offline, or pass a local path",
            kind_word(kind),
            cache.path().display()
        );
    }
    match fetch_file(&cache, &repo, filename) {
        Ok(p) => Ok(Some(p)),
        Err(Failure::Api(e)) if status_of(&e) == Some(404) => Ok(None),
        Err(e) => Err(e.into_error(repo_id, &revision, kind)),
    }
}

fn build_api(cache: &Cache) -> Result<hf_hub::api::sync::Api> {
    // The token comes from the environment only and is never printed.
    let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()).or_else(|| cache.token());
    let mut builder = ApiBuilder::from_cache(cache.clone()).with_token(token).with_progress(false);
    if let Ok(endpoint) = std::env::var("HF_ENDPOINT") {
        if !endpoint.is_empty() {
            builder = builder.with_endpoint(endpoint);
        }
    }
    builder.build().map_err(|e| anyhow!("Hugging Face Hub client: {e}"))
}

fn status_of(e: &ApiError) -> Option<u16> {
    match e {
        ApiError::RequestError(inner) => match inner.as_ref() {
            ureq::Error::Status(code, _) => Some(*code),
            _ => None,
        },
        _ => None,
    }
}

/// One clear line for the failures users actually hit.
fn hub_error(repo_id: &str, revision: &str, kind: RepoType, e: ApiError) -> anyhow::Error {
    let what = kind_word(kind);
    match status_of(&e) {
        Some(401) | Some(403) => anyhow!(
            "{what} {repo_id} is gated or private: accept its terms on the Hub and set HF_TOKEN to a token with access (HTTP {})",
            status_of(&e).unwrap_or_default()
        ),
        Some(404) => anyhow!("{what} {repo_id}@{revision} not found on the Hub (check the name and --revision)"),
        _ => anyhow!("{what} {repo_id}@{revision}: Hub request failed: {e} (use --offline with a filled cache, or --source)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_in_order_and_keep_separators() {
        let listing: Vec<String> =
            ["all/test-00000-of-00001.parquet", "all/dev-00000-of-00001.parquet", "test/a_test.csv", "test/b_test.csv"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        assert_eq!(first_match(&listing, &["all/test-*.parquet"]).unwrap(), ["all/test-00000-of-00001.parquet"]);
        assert_eq!(
            first_match(&listing, &["x/*.parquet", "test/*_test.csv"]).unwrap(),
            ["test/a_test.csv", "test/b_test.csv"]
        );
        // `*` does not cross directories.
        assert!(first_match(&listing, &["*.csv"]).is_none());
    }

    #[test]
    fn hub_failures_become_one_clear_line() {
        let status = |code: u16| {
            let resp = ureq::Response::new(code, "x", "").unwrap();
            ApiError::RequestError(Box::new(ureq::Error::Status(code, resp)))
        };
        let gated = hub_error("meta-llama/Llama-3.1-8B", "main", RepoType::Model, status(401)).to_string();
        assert!(
            gated.contains("model meta-llama/Llama-3.1-8B is gated or private") && gated.contains("set HF_TOKEN"),
            "{gated}"
        );
        let missing = hub_error("cais/mmlu", "v9", RepoType::Dataset, status(404)).to_string();
        assert_eq!(missing, "dataset cais/mmlu@v9 not found on the Hub (check the name and --revision)");
        let other = hub_error("cais/mmlu", "main", RepoType::Dataset, status(500)).to_string();
        assert!(other.contains("Hub request failed") && other.contains("--offline"), "{other}");
    }

    #[test]
    fn offline_reads_the_huggingface_hub_cache_layout() {
        let dir = std::env::temp_dir().join(format!("sb-sample-hub-{}", std::process::id()));
        let repo_dir = dir.join("datasets--cais--mmlu");
        let snap = repo_dir.join("snapshots/c30699e8356da336a370243923dbaf21066bb9fe/all");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
        std::fs::write(repo_dir.join("refs/main"), "c30699e8356da336a370243923dbaf21066bb9fe").unwrap();
        std::fs::write(snap.join("test-00000-of-00001.parquet"), b"x").unwrap();
        let opts = HubOpts { offline: true, cache_dir: Some(dir.clone()), revision: None };
        let files = Files::new(None, Some("cais/mmlu"), &opts).unwrap();
        let found = files.find(&["all/test-*.parquet"]).unwrap();
        assert_eq!(found, [snap.join("test-00000-of-00001.parquet")]);
        // By commit hash too, as huggingface_hub resolves it.
        let by_sha = HubOpts { revision: Some("c30699e8356da336a370243923dbaf21066bb9fe".into()), ..opts.clone() };
        assert_eq!(Files::new(None, Some("cais/mmlu"), &by_sha).unwrap().find(&["all/test-*.parquet"]).unwrap(), found);
        let err = files.find(&["all/dev-*.parquet"]).unwrap_err().to_string();
        assert!(err.contains("no cached file matches all/dev-*.parquet"), "{err}");
        let other = HubOpts { revision: Some("v2".into()), ..opts };
        let err = Files::new(None, Some("cais/mmlu"), &other).unwrap().find(&["*"]).unwrap_err().to_string();
        assert!(err.contains("cais/mmlu@v2 is not in the Hub cache"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
